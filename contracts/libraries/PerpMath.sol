// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";

/// @title PerpMath
/// @notice Pure arithmetic of perpetual futures: skew-premium fill prices, velocity funding and
///         PnL. Sizes and skew are signed WAD base units (positive: long), prices WAD USD per
///         base unit, funding rates WAD per day (positive: longs pay shorts). The model is the
///         one Synthetix Perps v2 published (SIP-279 fill price, SIP-2.x funding velocity): the
///         premium is skew / skewScale averaged over the trade, and the funding rate drifts by
///         skew / skewScale * maxVelocity per day, clamped to +- maxRate.
library PerpMath {
    using FixedPointMathLib for uint256;

    int256 internal constant WAD = 1e18;
    uint256 internal constant DAY = 1 days;

    /// @notice Thrown when the skew scale is zero (governance bounds keep it >= 1e18).
    error ZeroSkewScale();

    /// @notice The price a trade of `sizeDelta` fills at: oracle * (1 + average premium), where the
    ///         premium moves from skew / skewScale to (skew + sizeDelta) / skewScale. Rounded
    ///         against the trader: up for a buy, down for a sell. A trade that reduces the skew
    ///         thus fills better than one that adds to it.
    function fillPrice(
        uint256 oraclePrice,
        int256 skew,
        int256 sizeDelta,
        uint256 skewScale
    ) internal pure returns (uint256) {
        if (skewScale == 0) revert ZeroSkewScale();
        // avg premium = (2 * skew + sizeDelta) / (2 * skewScale); price = oracle * (1 + premium)
        //             = oracle * (2 * skewScale + 2 * skew + sizeDelta) / (2 * skewScale).
        int256 numerator = 2 * int256(skewScale) + 2 * skew + sizeDelta;
        // A premium of -100% or worse would price the asset at zero: no trade fills there.
        if (numerator <= 0) return 0;
        uint256 denominator = 2 * skewScale;
        return
            sizeDelta > 0
                ? oraclePrice.fullMulDivUp(uint256(numerator), denominator)
                : oraclePrice.fullMulDiv(uint256(numerator), denominator);
    }

    /// @notice The funding rate's drift per day: skew / skewScale (clamped to +-1) * maxVelocity.
    function fundingVelocity(int256 skew, uint256 skewScale, uint256 maxVelocity) internal pure returns (int256) {
        if (skewScale == 0) revert ZeroSkewScale();
        int256 proportional = (skew * WAD) / int256(skewScale); // rounds toward zero
        if (proportional > WAD) proportional = WAD;
        if (proportional < -WAD) proportional = -WAD;
        return (proportional * int256(maxVelocity)) / WAD;
    }

    /// @notice Advances the funding rate by `elapsed` seconds at `velocity` (per day), clamped to
    ///         +-maxRate, and returns the new rate and the integral of the rate over the interval
    ///         in rate-days (WAD): the funding per unit of notional that accrued.
    /// @dev The rate is linear until it meets the clamp, then flat: the integral is a trapezoid,
    ///      plus a rectangle when the clamp is met inside the interval.
    function accrueFunding(
        int256 rate,
        int256 velocity,
        uint256 elapsed,
        uint256 maxRate
    ) internal pure returns (int256 newRate, int256 rateDays) {
        int256 cap = int256(maxRate);
        if (rate > cap) rate = cap;
        if (rate < -cap) rate = -cap;
        int256 dt = int256(elapsed);
        int256 day = int256(DAY);
        int256 unclamped = rate + (velocity * dt) / day;
        if (unclamped <= cap && unclamped >= -cap) {
            return (unclamped, ((rate + unclamped) * dt) / (2 * day));
        }
        int256 bound = unclamped > cap ? cap : -cap;
        // Seconds until the clamp is reached: (bound - rate) / velocity days (velocity != 0 here).
        int256 toBound = ((bound - rate) * day) / velocity;
        rateDays = ((rate + bound) * toBound) / (2 * day) + (bound * (dt - toBound)) / day;
        newRate = bound;
    }

    /// @notice Unrealized PnL of `size` opened at `entryPrice`, marked at `price`, rounded toward
    ///         negative infinity: a loss is never understated, a profit never overstated.
    function pnl(int256 size, uint256 entryPrice, uint256 price) internal pure returns (int256) {
        int256 move = int256(price) - int256(entryPrice);
        int256 product = size * move;
        int256 result = product / WAD;
        if (product < 0 && product % WAD != 0) result -= 1;
        return result;
    }

    /// @notice A WAD USD amount in settlement-token units (`scale` WAD per unit), toward -infinity:
    ///         what an account is credited never exceeds, and what it pays never falls short of,
    ///         the exact amount.
    function toUnitsDown(int256 amount, uint256 scale) internal pure returns (int256 units) {
        int256 s = int256(scale);
        units = amount / s;
        if (amount < 0 && amount % s != 0) --units;
    }
}
