// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {BlackScholes} from "../libraries/BlackScholes.sol";

/// @notice Exposes BlackScholes to tests, and measures priceDelta's execution gas.
contract BlackScholesHarness {
    function price(
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 secondsToExpiry,
        bool isCall
    ) external pure returns (uint256) {
        return BlackScholes.price(spot, strike, volatility, secondsToExpiry, isCall);
    }

    function priceDelta(
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 secondsToExpiry,
        bool isCall
    ) external pure returns (uint256 value, int256 delta) {
        return BlackScholes.priceDelta(spot, strike, volatility, secondsToExpiry, isCall);
    }

    function greeks(
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 secondsToExpiry,
        bool isCall
    ) external pure returns (BlackScholes.Greeks memory) {
        return BlackScholes.greeks(spot, strike, volatility, secondsToExpiry, isCall);
    }

    function normCdf(int256 x) external pure returns (uint256) {
        return BlackScholes.normCdf(x);
    }

    /// @notice priceDelta and the gas of the library call alone (gasleft() around it: no call,
    ///         calldata or ABI overhead).
    function priceDeltaGas(
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 secondsToExpiry,
        bool isCall
    ) external view returns (uint256 value, int256 delta, uint256 gasUsed) {
        uint256 before = gasleft();
        (value, delta) = BlackScholes.priceDelta(spot, strike, volatility, secondsToExpiry, isCall);
        gasUsed = before - gasleft();
    }
}
