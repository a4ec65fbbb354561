// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PerpMath} from "../libraries/PerpMath.sol";

/// @notice Exposes PerpMath to tests.
contract PerpMathHarness {
    function fillPrice(uint256 oracle, int256 skew, int256 size, uint256 scale) external pure returns (uint256) {
        return PerpMath.fillPrice(oracle, skew, size, scale);
    }

    function fundingVelocity(int256 skew, uint256 scale, uint256 maxVelocity) external pure returns (int256) {
        return PerpMath.fundingVelocity(skew, scale, maxVelocity);
    }

    function accrueFunding(
        int256 rate,
        int256 velocity,
        uint256 elapsed,
        uint256 maxRate
    ) external pure returns (int256, int256) {
        return PerpMath.accrueFunding(rate, velocity, elapsed, maxRate);
    }

    function pnl(int256 size, uint256 entryPrice, uint256 price) external pure returns (int256) {
        return PerpMath.pnl(size, entryPrice, price);
    }
}
