// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";
import {IRiskConfig, IRiskConfigListener, IRiskConfigGlobalListener} from "../interfaces/IRiskConfig.sol";
import {IVolatilityOracle} from "../interfaces/IVolatilityOracle.sol";
import {RiskParams} from "./RiskParams.sol";
import {IDepositPausable} from "../interfaces/IDepositPausable.sol";

/// @title RiskConfig
/// @notice See IRiskConfig. Parameters of markets, options, liquidation and the insurance fund
///         live here; collateral, oracle and pool parameters live next to the code that reads
///         them (MarginAccounts, PriceOracle, VolatilityOracle, LiquidityPool), bounded the same
///         way and administered by the same timelock.
contract RiskConfig is IRiskConfig, AccessControl {
    using FixedPointMathLib for uint256;

    bytes32 public constant RISK_KEEPER_ROLE = keccak256("RISK_KEEPER_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 public constant REVOKER_ROLE = keccak256("REVOKER_ROLE");

    uint256 public constant MIN_KEEPER_WINDOW = 1 hours;
    uint256 public constant MAX_KEEPER_WINDOW = 7 days;

    struct Value {
        uint248 value;
        bool set;
    }

    /// @dev The keeper's reference: the value when its current window opened, and when it last
    ///      loosened (a new window opens only a full window after both, so two loosening steps
    ///      are never closer than one window, even across a window's edge).
    struct Anchor {
        uint128 value;
        uint64 windowStart;
        uint64 lastLoosenAt;
    }

    IVolatilityOracle public immutable volatilityOracle;
    IDepositPausable public immutable marginAccounts;
    /// @notice MarginAccounts' settlement stablecoin, whose deposits are never paused.
    address public immutable settlementToken;

    /// @notice Told of every market-scoped change (the perp market's parameter copy); zero: none.
    IRiskConfigListener public listener;
    /// @notice Told of every global (liquidation, insurance fund) change; zero: none.
    IRiskConfigGlobalListener public globalListener;

    mapping(RiskParams.Param => mapping(uint256 scope => Value)) internal _values;
    mapping(RiskParams.Param => mapping(uint256 scope => KeeperLimits)) internal _limits;
    mapping(RiskParams.Param => mapping(uint256 scope => Anchor)) internal _anchors;
    mapping(Feature => mapping(uint256 scope => bool)) internal _paused;
    /// @dev Pauses governance imposed: the guardian cannot lift them.
    mapping(Feature => mapping(uint256 scope => bool)) internal _pausedByGovernance;

    /// @param governance The TimelockController: the only admin.
    /// @param revoker The governance multisig: may revoke the guardian or the keeper at once.
    constructor(
        address governance,
        address revoker,
        IVolatilityOracle volatilityOracle_,
        IDepositPausable marginAccounts_
    ) {
        if (
            governance == address(0) ||
            revoker == address(0) ||
            address(volatilityOracle_) == address(0) ||
            address(marginAccounts_) == address(0)
        ) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, governance);
        _grantRole(REVOKER_ROLE, revoker);
        volatilityOracle = volatilityOracle_;
        marginAccounts = marginAccounts_;
        settlementToken = marginAccounts_.settlementToken();
    }

    // ---------------------------------------------------------------- parameters

    /// @inheritdoc IRiskConfig
    function setParameter(RiskParams.Param param, uint256 scope, uint256 value) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _governanceSet(param, scope, value);
    }

    /// @notice Governance: several parameters in order, each checked against the state the
    ///         previous ones left (so a batch that raises a taker fee before the maker fee passes).
    ///         Scripts simulate a whole proposal with it before scheduling anything.
    function setParameters(
        RiskParams.Param[] calldata params,
        uint256[] calldata scopes,
        uint256[] calldata values
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (params.length != scopes.length || params.length != values.length) revert LengthMismatch();
        for (uint256 i; i < params.length; ++i) {
            _governanceSet(params[i], scopes[i], values[i]);
        }
    }

    /// @inheritdoc IRiskConfig
    function keeperSetParameter(
        RiskParams.Param param,
        uint256 scope,
        uint256 value
    ) external onlyRole(RISK_KEEPER_ROLE) {
        (bool movable, bool tightenUp) = RiskParams.keeperDirection(param);
        KeeperLimits memory limits = _limits[param][scope];
        if (!movable || limits.window == 0) revert NotKeeperParameter(param, scope);
        if (value < limits.bandMin || value > limits.bandMax) {
            revert KeeperOutOfBand(param, value, limits.bandMin, limits.bandMax);
        }
        Value memory current = _values[param][scope];
        if (!current.set) revert ParameterNotSet(param, scope);

        Anchor memory a = _anchors[param][scope];
        uint256 since = a.windowStart > a.lastLoosenAt ? a.windowStart : a.lastLoosenAt;
        if (block.timestamp >= since + limits.window) {
            a = Anchor(uint128(current.value), uint64(block.timestamp), a.lastLoosenAt);
        }
        bool tightening = tightenUp ? value >= a.value : value <= a.value;
        // Steps are fractions of the anchor, rounded down: the keeper's reach is never larger.
        uint256 maxMove = uint256(a.value).mulWad(tightening ? limits.tightenStep : limits.loosenStep);
        uint256 move = value > a.value ? value - a.value : a.value - value;
        if (move > maxMove) revert KeeperStepExceeded(param, value, a.value, maxMove);
        if (!tightening) a.lastLoosenAt = uint64(block.timestamp);
        _anchors[param][scope] = a;

        _validate(param, scope, value);
        _store(param, scope, value);
    }

    /// @notice Governance: the contract told of every market-scoped parameter change (zero: none).
    function setListener(IRiskConfigListener newListener) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(newListener) != address(0) && address(newListener).code.length == 0) {
            revert NotAContract(address(newListener));
        }
        emit ListenerSet(address(listener), address(newListener));
        listener = newListener;
    }

    /// @notice Governance: the contract told of every global parameter change (zero: none).
    function setGlobalListener(IRiskConfigGlobalListener newListener) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(newListener) != address(0) && address(newListener).code.length == 0) {
            revert NotAContract(address(newListener));
        }
        emit GlobalListenerSet(address(globalListener), address(newListener));
        globalListener = newListener;
    }

    /// @notice Governance: the risk keeper's band, steps and window for one parameter and scope.
    ///         All zero disables the keeper there.
    function setKeeperLimits(
        RiskParams.Param param,
        uint256 scope,
        KeeperLimits calldata limits
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        (bool movable, ) = RiskParams.keeperDirection(param);
        if (!movable) revert NotKeeperParameter(param, scope);
        _checkScope(param, scope);
        if (limits.window != 0) {
            (uint256 min, uint256 max) = RiskParams.bounds(param);
            if (
                limits.bandMin < min ||
                limits.bandMax > max ||
                limits.bandMin > limits.bandMax ||
                limits.tightenStep == 0 ||
                limits.tightenStep > 1e18 ||
                // The keeper can always tighten faster than it can loosen.
                limits.loosenStep > limits.tightenStep ||
                limits.window < MIN_KEEPER_WINDOW ||
                limits.window > MAX_KEEPER_WINDOW
            ) revert InvalidKeeperLimits(param);
        } else if (limits.bandMin != 0 || limits.bandMax != 0 || limits.loosenStep != 0 || limits.tightenStep != 0) {
            revert InvalidKeeperLimits(param);
        }
        emit KeeperLimitsSet(param, scope, _limits[param][scope], limits);
        _limits[param][scope] = limits;
    }

    /// @inheritdoc IRiskConfig
    function checkParameter(RiskParams.Param param, uint256 scope, uint256 value) external view {
        _validate(param, scope, value);
    }

    /// @inheritdoc IRiskConfig
    function get(RiskParams.Param param, uint256 scope) public view returns (uint256) {
        Value memory v = _values[param][scope];
        if (!v.set) revert ParameterNotSet(param, scope);
        return v.value;
    }

    /// @notice The value, or `(false, 0)` when never set.
    function tryGet(RiskParams.Param param, uint256 scope) public view returns (bool set, uint256 value) {
        Value memory v = _values[param][scope];
        return (v.set, v.value);
    }

    /// @notice The implied volatility options must price with: the configured value, raised to
    ///         realized volatility times the floor factor when the market has since moved past it.
    function impliedVolatility(address underlying) external view returns (uint256) {
        uint256 scope = uint256(uint160(underlying));
        uint256 floor = _ivFloor(scope, get(RiskParams.Param.IV_FLOOR_FACTOR, scope));
        uint256 configured = get(RiskParams.Param.IMPLIED_VOL, scope);
        return configured > floor ? configured : floor;
    }

    /// @notice Hard bounds of `param` (for scripts and front ends).
    function bounds(RiskParams.Param param) external pure returns (uint256 min, uint256 max) {
        return RiskParams.bounds(param);
    }

    function keeperLimits(RiskParams.Param param, uint256 scope) external view returns (KeeperLimits memory) {
        return _limits[param][scope];
    }

    /// @notice The keeper's window: the value it opened with and when.
    function keeperAnchor(RiskParams.Param param, uint256 scope) external view returns (uint256 value, uint256 since) {
        Anchor memory a = _anchors[param][scope];
        return (a.value, a.windowStart);
    }

    // ---------------------------------------------------------------- guardian

    /// @inheritdoc IRiskConfig
    /// @dev Only these three features exist. Closing or reducing positions, withdrawing healthy
    ///      collateral, settlement and liquidation have no pause anywhere in the protocol.
    function setPaused(Feature feature, uint256 scope, bool paused) external {
        bool governance = hasRole(DEFAULT_ADMIN_ROLE, msg.sender);
        if (!governance && !hasRole(GUARDIAN_ROLE, msg.sender)) revert NotGuardian(msg.sender);
        if (scope == 0 || (feature == Feature.OpenPosition && scope > type(uint32).max) || scope > type(uint160).max) {
            revert InvalidFeatureScope(feature, scope);
        }
        // Lifting a pause raises risk: the guardian may lift its own pauses, never governance's.
        if (!governance && !paused && _pausedByGovernance[feature][scope]) revert PausedByGovernance(feature, scope);
        if (governance) _pausedByGovernance[feature][scope] = paused;
        if (feature == Feature.Deposit) {
            // Depositing the settlement stablecoin is how a trader adds margin, the one thing that
            // works even when prices are Down: it is never paused.
            if (address(uint160(scope)) == settlementToken) revert InvalidFeatureScope(feature, scope);
            marginAccounts.setDepositPaused(address(uint160(scope)), paused);
        } else {
            _paused[feature][scope] = paused;
        }
        emit PauseSet(feature, scope, paused, msg.sender);
    }

    /// @inheritdoc IRiskConfig
    function isPaused(Feature feature, uint256 scope) external view returns (bool) {
        if (feature == Feature.Deposit) return marginAccounts.depositPaused(address(uint160(scope)));
        return _paused[feature][scope];
    }

    // ---------------------------------------------------------------- roles

    /// @notice The revoker (or governance) removes a guardian or a risk keeper at once, without
    ///         waiting out the timelock: taking power away must be fast, granting it must not.
    function revokeImmediately(bytes32 role, address account) external {
        if (!hasRole(REVOKER_ROLE, msg.sender) && !hasRole(DEFAULT_ADMIN_ROLE, msg.sender)) {
            revert AccessControlUnauthorizedAccount(msg.sender, REVOKER_ROLE);
        }
        if (role != GUARDIAN_ROLE && role != RISK_KEEPER_ROLE) revert NotRevocable(role);
        if (!_revokeRole(role, account)) revert NotRoleHolder(role, account);
        emit RoleRevokedImmediately(role, account, msg.sender);
    }

    // ---------------------------------------------------------------- internals

    function _governanceSet(RiskParams.Param param, uint256 scope, uint256 value) internal {
        _validate(param, scope, value);
        _store(param, scope, value);
        // A governance change restarts the keeper's window from the new value.
        (bool movable, ) = RiskParams.keeperDirection(param);
        if (movable) _anchors[param][scope] = Anchor(uint128(value), uint64(block.timestamp), 0);
    }

    function _store(RiskParams.Param param, uint256 scope, uint256 value) internal {
        Value storage v = _values[param][scope];
        emit ParameterSet(param, scope, v.value, value, msg.sender);
        v.value = uint248(value); // bounded far below 2^248 by RiskParams
        v.set = true;
        RiskParams.Scope kind = RiskParams.scopeOf(param);
        if (kind == RiskParams.Scope.Market) {
            IRiskConfigListener hook = listener;
            // scope <= uint32 max: checked by _checkScope
            if (address(hook) != address(0)) hook.onMarketParameterChanged(param, uint32(scope), value);
        } else if (kind == RiskParams.Scope.Global) {
            IRiskConfigGlobalListener hook = globalListener;
            if (address(hook) != address(0)) hook.onGlobalParameterChanged(param, value);
        }
    }

    function _checkScope(RiskParams.Param param, uint256 scope) internal pure {
        RiskParams.Scope kind = RiskParams.scopeOf(param);
        bool ok =
            kind == RiskParams.Scope.Global
                ? scope == 0
                : scope != 0 && scope <= (kind == RiskParams.Scope.Market ? type(uint32).max : type(uint160).max);
        if (!ok) revert InvalidScope(param, scope);
    }

    function _validate(RiskParams.Param param, uint256 scope, uint256 value) internal view {
        _checkScope(param, scope);
        (uint256 min, uint256 max) = RiskParams.bounds(param);
        if (value < min || value > max) revert ParameterOutOfBounds(param, value, min, max);
        _checkCross(param, scope, value);
    }

    /// @dev Rules between parameters: fees (maker <= taker), the auction's discount ladder
    ///      (start <= fast <= cap, start < cap), position size within the open-interest caps,
    ///      and implied volatility at or above realized volatility times its floor factor.
    ///      The position-size rule binds when the size is set, not when a cap is cut below it: an
    ///      emergency cut of open interest (by the keeper or governance) is never blocked, and
    ///      markets apply the smaller of the two.
    function _checkCross(RiskParams.Param p, uint256 scope, uint256 value) internal view {
        if (p == RiskParams.Param.MAKER_FEE) _atMost(p, value, RiskParams.Param.TAKER_FEE, scope);
        else if (p == RiskParams.Param.TAKER_FEE) _atLeast(p, value, RiskParams.Param.MAKER_FEE, scope);
        else if (p == RiskParams.Param.MAX_POSITION_SIZE) {
            _atMost(p, value, RiskParams.Param.MAX_OI_LONG, scope);
            _atMost(p, value, RiskParams.Param.MAX_OI_SHORT, scope);
        } else if (p == RiskParams.Param.AUCTION_START_DISCOUNT) {
            _atMost(p, value, RiskParams.Param.AUCTION_FAST_DISCOUNT, 0);
            _below(p, value, RiskParams.Param.AUCTION_DISCOUNT_CAP);
        } else if (p == RiskParams.Param.AUCTION_FAST_DISCOUNT) {
            _atLeast(p, value, RiskParams.Param.AUCTION_START_DISCOUNT, 0);
            _atMost(p, value, RiskParams.Param.AUCTION_DISCOUNT_CAP, 0);
        } else if (p == RiskParams.Param.AUCTION_DISCOUNT_CAP) {
            _atLeast(p, value, RiskParams.Param.AUCTION_FAST_DISCOUNT, 0);
            (bool set, uint256 start) = tryGet(RiskParams.Param.AUCTION_START_DISCOUNT, 0);
            if (set && value <= start)
                revert CrossParameterRule(p, value, RiskParams.Param.AUCTION_START_DISCOUNT, start);
        } else if (p == RiskParams.Param.IMPLIED_VOL) {
            uint256 floor = _ivFloor(scope, get(RiskParams.Param.IV_FLOOR_FACTOR, scope));
            if (value < floor) revert ImpliedVolBelowFloor(scope, value, floor);
        } else if (p == RiskParams.Param.IV_FLOOR_FACTOR) {
            // A higher factor must not leave the configured implied vol below its new floor.
            (bool set, uint256 iv) = tryGet(RiskParams.Param.IMPLIED_VOL, scope);
            if (set) {
                uint256 floor = _ivFloor(scope, value);
                if (iv < floor) revert ImpliedVolBelowFloor(scope, iv, floor);
            }
        }
    }

    /// @dev Realized volatility of the underlying times `factor`, rounded up.
    function _ivFloor(uint256 scope, uint256 factor) internal view returns (uint256) {
        return volatilityOracle.volatility(address(uint160(scope))).mulWadUp(factor);
    }

    function _atMost(RiskParams.Param p, uint256 value, RiskParams.Param other, uint256 scope) internal view {
        (bool set, uint256 limit) = tryGet(other, scope);
        if (set && value > limit) revert CrossParameterRule(p, value, other, limit);
    }

    function _atLeast(RiskParams.Param p, uint256 value, RiskParams.Param other, uint256 scope) internal view {
        (bool set, uint256 limit) = tryGet(other, scope);
        if (set && value < limit) revert CrossParameterRule(p, value, other, limit);
    }

    function _below(RiskParams.Param p, uint256 value, RiskParams.Param other) internal view {
        (bool set, uint256 limit) = tryGet(other, 0);
        if (set && value >= limit) revert CrossParameterRule(p, value, other, limit);
    }
}
