// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";

/// @title OptionMath
/// @notice What an option trade costs: the pool's spread from its exposure, and the premium in
///         settlement-token units, rounded for the pool. Shared by the market and its lens so
///         that a quote is exactly what the trade charges.
library OptionMath {
    using FixedPointMathLib for uint256;

    uint256 internal constant WAD = 1e18;

    /// @notice base + slope x utilization, utilization = max(|net delta| / its cap, |net vega| /
    ///         its cap), at most 1 (a zero cap counts as full). WAD, rounded up.
    function spread(
        uint256 base,
        uint256 slope,
        int256 netDelta,
        int256 netVega,
        uint256 maxDelta,
        uint256 maxVega
    ) internal pure returns (uint256) {
        uint256 u = _utilization(_abs(netDelta), maxDelta);
        uint256 vegaUse = _utilization(_abs(netVega), maxVega);
        if (vegaUse > u) u = vegaUse;
        return base + slope.mulWadUp(u);
    }

    /// @notice The least a buyer pays per unit: this share of spot (WAD). A far out-of-the-money
    ///         option that Black-Scholes values at (almost) nothing is never free: its tail risk is
    ///         what the pool sells.
    uint256 internal constant MIN_PRICE_SHARE = 0.0001e18;

    /// @notice The unit price a trade pays or receives: a buy at least MIN_PRICE_SHARE of `spot`.
    function tradePrice(int256 amount, uint256 unitPrice, uint256 spot) internal pure returns (uint256) {
        if (amount < 0) return unitPrice;
        uint256 least = spot.mulWadUp(MIN_PRICE_SHARE);
        return unitPrice > least ? unitPrice : least;
    }

    /// @notice |amount| x price x (1 + spread), rounded up, for a buy (`amount` > 0); x (1 -
    ///         spread), rounded down and at least zero, for a sell. `scale` = WAD per token unit.
    function premium(int256 amount, uint256 unitPrice, uint256 spread_, uint256 scale) internal pure returns (uint256) {
        uint256 size = _abs(amount);
        if (amount > 0) return (size.mulWadUp(unitPrice).mulWadUp(WAD + spread_) + scale - 1) / scale;
        return spread_ >= WAD ? 0 : size.mulWad(unitPrice).mulWad(WAD - spread_) / scale;
    }

    /// @notice What one unit pays at expiry: max(spot - strike, 0) for a call, max(strike - spot,
    ///         0) for a put.
    function payoff(bool isCall, uint256 strike, uint256 spot) internal pure returns (uint256) {
        if (isCall) return spot > strike ? spot - strike : 0;
        return strike > spot ? strike - spot : 0;
    }

    function _utilization(uint256 used, uint256 cap) private pure returns (uint256) {
        if (used >= cap) return WAD;
        return used.divWadUp(cap);
    }

    function _abs(int256 x) private pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }
}
