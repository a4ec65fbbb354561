// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {RiskParams} from "../governance/RiskParams.sol";

/// @title Listener of market-scoped parameter changes
/// @notice The perp market keeps a packed copy of its markets' parameters (one cold slot instead of
///         one per parameter on every margin check); RiskConfig pushes every change of a
///         market-scoped parameter to it in the same transaction, so the copy is never stale.
interface IRiskConfigListener {
    function onMarketParameterChanged(RiskParams.Param param, uint32 marketId, uint256 value) external;
}

/// @title Listener of global parameter changes
/// @notice The liquidation engine keeps versioned snapshots of the liquidation and insurance-fund
///         parameters (an auction names the version it started with); RiskConfig pushes every
///         change of a global parameter to it in the same transaction.
interface IRiskConfigGlobalListener {
    function onGlobalParameterChanged(RiskParams.Param param, uint256 value) external;
}

/// @title Keel risk configuration
/// @notice The one place risk parameters of markets, options, liquidation and the insurance fund
///         are set, each inside hard bounds (RiskParams) and cross-parameter rules, and where the
///         guardian pauses risk-increasing features. Roles:
///         - governance (DEFAULT_ADMIN_ROLE): the TimelockController only; sets any parameter,
///           the keeper's limits, grants roles (so every grant waits out the timelock delay);
///         - risk keeper: moves the keeper-movable parameters inside a narrower band at a
///           bounded step per window, tightening faster than loosening;
///         - guardian: pauses (and unpauses) opening positions, listing option series and
///           deposits of a collateral. Nothing else: no funds, no parameters;
///         - revoker (the governance multisig): revokes a guardian or keeper at once, never grants.
interface IRiskConfig {
    /// @notice What the guardian can pause. Closing, reducing, withdrawing healthy collateral,
    ///         settlement and liquidation are not in this list and can never be paused.
    enum Feature {
        OpenPosition, // scope: market id; opening or increasing perp positions and buying/writing options
        ListSeries, // scope: underlying asset; listing new option series
        Deposit // scope: a non-settlement collateral token; deposits of it into margin accounts
    }

    struct KeeperLimits {
        uint128 bandMin;
        uint128 bandMax;
        /// @dev Largest move per window, WAD fraction of the value at the window's start.
        uint64 loosenStep;
        uint64 tightenStep;
        uint32 window;
    }

    /// @notice A value outside the parameter's hard bounds.
    error ParameterOutOfBounds(RiskParams.Param param, uint256 value, uint256 min, uint256 max);
    /// @notice The scope does not fit the parameter (market id, underlying address, or 0 for global).
    error InvalidScope(RiskParams.Param param, uint256 scope);
    /// @notice A cross-parameter rule failed: `param` = `value` must be at most `other` = `limit`
    ///         (or at least, as the rule's name says).
    error CrossParameterRule(RiskParams.Param param, uint256 value, RiskParams.Param other, uint256 limit);
    /// @notice The implied volatility would be below realized volatility times the floor factor.
    error ImpliedVolBelowFloor(uint256 scope, uint256 value, uint256 floor);
    /// @notice The parameter was never set for this scope.
    error ParameterNotSet(RiskParams.Param param, uint256 scope);
    /// @notice The risk keeper may not move this parameter (or no limits are configured for it).
    error NotKeeperParameter(RiskParams.Param param, uint256 scope);
    /// @notice The keeper's value is outside its band.
    error KeeperOutOfBand(RiskParams.Param param, uint256 value, uint256 bandMin, uint256 bandMax);
    /// @notice The keeper's move from the window's anchor exceeds the step allowed in that direction.
    error KeeperStepExceeded(RiskParams.Param param, uint256 value, uint256 anchor, uint256 maxMove);
    /// @notice Keeper limits that break their own rules (band inside bounds, tighten >= loosen...).
    error InvalidKeeperLimits(RiskParams.Param param);
    /// @notice Only the guardian and keeper roles can be revoked through the fast path.
    error NotRevocable(bytes32 role);
    /// @notice The scope does not fit the feature (market id, underlying or token address).
    error InvalidFeatureScope(Feature feature, uint256 scope);
    /// @notice Governance imposed this pause: only governance lifts it.
    error PausedByGovernance(Feature feature, uint256 scope);
    /// @notice The account does not hold the role it would be revoked from.
    error NotRoleHolder(bytes32 role, address account);
    /// @notice The caller may not pause or unpause.
    error NotGuardian(address caller);
    /// @notice The arrays of a batch differ in length.
    error LengthMismatch();
    /// @notice An address argument is zero.
    error ZeroAddress();
    /// @notice The listener set is an address without code.
    error NotAContract(address target);

    event ParameterSet(
        RiskParams.Param indexed param,
        uint256 indexed scope,
        uint256 oldValue,
        uint256 newValue,
        address indexed by
    );
    event ListenerSet(address oldListener, address newListener);
    event GlobalListenerSet(address oldListener, address newListener);
    event KeeperLimitsSet(
        RiskParams.Param indexed param,
        uint256 indexed scope,
        KeeperLimits oldLimits,
        KeeperLimits newLimits
    );
    event PauseSet(Feature indexed feature, uint256 indexed scope, bool paused, address indexed by);
    event RoleRevokedImmediately(bytes32 indexed role, address indexed account, address indexed by);

    /// @notice Governance (timelock): sets `param` for `scope` inside its bounds and rules.
    function setParameter(RiskParams.Param param, uint256 scope, uint256 value) external;

    /// @notice Risk keeper: moves a keeper-movable parameter inside its band and step.
    function keeperSetParameter(RiskParams.Param param, uint256 scope, uint256 value) external;

    /// @notice Reverts with the reason `setParameter` would (bounds, scope, rules); for scripts.
    function checkParameter(RiskParams.Param param, uint256 scope, uint256 value) external view;

    /// @notice The value of `param` for `scope`; reverts ParameterNotSet when never set.
    function get(RiskParams.Param param, uint256 scope) external view returns (uint256);

    /// @notice Guardian or governance: pauses or unpauses a risk-increasing feature.
    function setPaused(Feature feature, uint256 scope, bool paused) external;

    function isPaused(Feature feature, uint256 scope) external view returns (bool);

    /// @notice The implied volatility options on `underlying` are priced at: IMPLIED_VOL, never
    ///         below the realized-volatility estimate x IV_FLOOR_FACTOR (WAD, annualized).
    function impliedVolatility(address underlying) external view returns (uint256);
}
