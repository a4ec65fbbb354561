// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";
import {IVolatilityOracle} from "../interfaces/IVolatilityOracle.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";

/// @title VolatilityOracle
/// @notice EWMA of squared log returns between consecutive Chainlink rounds, each divided by the
///         seconds between the rounds (so irregular heartbeat / deviation rounds weigh correctly)
///         and annualized: var' = lambda * var + (1 - lambda) * r^2 * YEAR / dt; vol = sqrt(var).
///         RiskMetrics (J.P. Morgan, 1996) uses the same recursion with lambda = 0.94 on daily data.
contract VolatilityOracle is IVolatilityOracle, AccessControl {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant YEAR = 365 days;

    bytes32 internal constant LAMBDA = "LAMBDA";
    bytes32 internal constant MIN_VOL = "MIN_VOL";
    bytes32 internal constant MAX_VOL = "MAX_VOL";
    bytes32 internal constant INITIAL_VOL = "INITIAL_VOL";
    uint256 public constant MIN_LAMBDA = 0.5e18;
    uint256 public constant MAX_LAMBDA = 0.999e18;
    /// @dev 5% to 1,000% annualized: outside that, an estimate is a bug, not a market.
    uint256 public constant VOL_FLOOR = 0.05e18;
    uint256 public constant VOL_CEILING = 10e18;

    /// @dev Everything `update` writes, in one slot. A new round is recognised by a later
    ///      update time (round ids jump at Chainlink proxy phase changes; time does not go back).
    struct State {
        uint128 lastPrice;
        uint32 lastUpdatedAt;
        uint96 variance; // annualized variance, WAD (up to 7.9e10: far past any clamp)
    }

    IPriceOracle public immutable priceOracle;

    mapping(address asset => State) internal _state;
    mapping(address asset => Config) internal _config;

    constructor(address admin, IPriceOracle priceOracle_) {
        if (admin == address(0) || address(priceOracle_) == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        priceOracle = priceOracle_;
    }

    /// @inheritdoc IVolatilityOracle
    function update(address asset) external {
        uint256 lambda = _config[asset].lambda;
        if (lambda == 0) revert VolatilityNotConfigured(asset);
        (uint256 price, uint80 roundId, uint256 updatedAt) = priceOracle.chainlinkPrice(asset);
        State memory s = _state[asset];
        if (updatedAt <= s.lastUpdatedAt) revert NoNewRound(asset, roundId);

        uint256 variance = s.variance;
        if (s.lastPrice != 0) {
            uint256 elapsed = updatedAt - s.lastUpdatedAt;
            // A fall beyond 1e-18x rounds the ratio to zero, where ln is undefined: floor it at one
            // wei (ln = -41.4) so the estimate saturates instead of the update reverting forever.
            uint256 ratio = FixedPointMathLib.divWad(price, s.lastPrice);
            int256 logReturn = FixedPointMathLib.lnWad(int256(ratio == 0 ? 1 : ratio));
            uint256 absReturn = FixedPointMathLib.abs(logReturn);
            uint256 sample = FixedPointMathLib.fullMulDiv(absReturn * absReturn, YEAR, elapsed * WAD);
            variance = (lambda * variance + (WAD - lambda) * sample) / WAD;
            if (variance > type(uint96).max) variance = type(uint96).max;
            emit VolatilityUpdated(asset, roundId, price, logReturn, elapsed, _sqrtWad(variance));
        }
        // The first round only records its price: there is nothing to compare it with yet.
        _state[asset] = State(SafeCast.toUint128(price), uint32(updatedAt), uint96(variance));
    }

    /// @inheritdoc IVolatilityOracle
    function volatility(address asset) external view returns (uint256) {
        Config memory c = _config[asset];
        if (c.lambda == 0) revert VolatilityNotConfigured(asset);
        uint256 vol = _sqrtWad(_state[asset].variance);
        return
            vol < c.minVol
                ? c.minVol
                : vol > c.maxVol
                    ? c.maxVol
                    : vol;
    }

    /// @inheritdoc IVolatilityOracle
    function rawVolatility(address asset) external view returns (uint256 vol, uint256 lastPrice, uint256 updatedAt) {
        State memory s = _state[asset];
        return (_sqrtWad(s.variance), s.lastPrice, s.lastUpdatedAt);
    }

    function config(address asset) external view returns (Config memory) {
        return _config[asset];
    }

    /// @notice Sets the decay and the clamp of `asset`. `initialVol` seeds the estimate the first
    ///         time only; reconfiguring keeps the running estimate.
    function configure(
        address asset,
        uint256 lambda,
        uint256 minVol,
        uint256 maxVol,
        uint256 initialVol
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (asset == address(0)) revert ZeroAddress();
        _bound(LAMBDA, lambda, MIN_LAMBDA, MAX_LAMBDA);
        _bound(MIN_VOL, minVol, VOL_FLOOR, VOL_CEILING);
        _bound(MAX_VOL, maxVol, minVol, VOL_CEILING);
        _bound(INITIAL_VOL, initialVol, minVol, maxVol);
        Config memory next = Config(uint64(lambda), uint64(minVol), uint64(maxVol));
        emit VolatilityConfigured(asset, _config[asset], next, initialVol);
        if (_config[asset].lambda == 0) _state[asset].variance = uint96((initialVol * initialVol) / WAD);
        _config[asset] = next;
    }

    /// @dev sqrt of a WAD variance, as a WAD volatility.
    function _sqrtWad(uint256 variance) internal pure returns (uint256) {
        return FixedPointMathLib.sqrt(variance * WAD);
    }

    function _bound(bytes32 parameter, uint256 value, uint256 min, uint256 max) internal pure {
        if (value < min || value > max) revert ParameterOutOfBounds(parameter, value, min, max);
    }
}
