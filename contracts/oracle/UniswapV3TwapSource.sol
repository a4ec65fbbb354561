// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {TickMath} from "@uniswap/v4-core/src/libraries/TickMath.sol";
import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IUniswapV3PoolOracle} from "../interfaces/IUniswapV3PoolOracle.sol";

/// @title UniswapV3TwapSource
/// @notice Arithmetic-mean tick of a Uniswap v3 pool over a window, as a WAD price of the base
///         token in the quote token. Failures come back as the ABI-encoded custom error.
library UniswapV3TwapSource {
    /// @notice The TWAP price, or the refusal.
    function read(IPriceOracle.TwapConfig memory t) internal view returns (uint256 price, bytes memory err) {
        (bool ok, uint16 index, uint16 cardinality) = _observationState(t.pool);
        if (!ok) return (0, _callFailed(t.pool));
        if (cardinality < t.minCardinality) {
            return (
                0,
                abi.encodeWithSelector(
                    IPriceOracle.TwapCardinalityTooLow.selector,
                    t.pool,
                    cardinality,
                    t.minCardinality
                )
            );
        }
        int24 meanTick;
        (meanTick, err) = _meanTick(t, index, cardinality);
        if (err.length != 0) return (0, err);
        // The pool prices token0 in token1; the inverse price is the negated tick.
        price = tickToWad(t.baseIsToken0 ? meanTick : -meanTick, t.baseDecimals, t.quoteDecimals);
    }

    /// @notice 1.0001^tick of raw units as a WAD price per whole base token:
    ///         ratio * 10^(18 + baseDecimals - quoteDecimals), with ratio = (sqrtPriceX96 / 2^96)^2.
    function tickToWad(int24 tick, uint8 baseDecimals, uint8 quoteDecimals) internal pure returns (uint256) {
        uint256 sqrtPriceX96 = TickMath.getSqrtPriceAtTick(tick);
        uint256 scale = 10 ** (18 + uint256(baseDecimals) - quoteDecimals);
        // Square in 256 bits while it fits, else drop 64 bits first (as Uniswap's OracleLibrary).
        if (sqrtPriceX96 <= type(uint128).max) {
            return FixedPointMathLib.fullMulDiv(sqrtPriceX96 * sqrtPriceX96, scale, 1 << 192);
        }
        return FixedPointMathLib.fullMulDiv(FixedPointMathLib.fullMulDiv(sqrtPriceX96, sqrtPriceX96, 1 << 64), scale, 1 << 128);
    }

    function _observationState(address pool) private view returns (bool ok, uint16 index, uint16 cardinality) {
        bytes memory ret;
        (ok, ret) = pool.staticcall(abi.encodeCall(IUniswapV3PoolOracle.slot0, ()));
        if (!ok || ret.length < 224) return (false, 0, 0);
        (, , index, cardinality, , , ) = abi.decode(ret, (uint160, int24, uint16, uint16, uint16, uint8, bool));
    }

    /// @dev Arithmetic-mean tick over the window, rounded toward negative infinity like Uniswap's
    ///      OracleLibrary; a history shorter than the window is its own refusal.
    function _meanTick(
        IPriceOracle.TwapConfig memory t,
        uint16 index,
        uint16 cardinality
    ) private view returns (int24 meanTick, bytes memory err) {
        IUniswapV3PoolOracle pool = IUniswapV3PoolOracle(t.pool);
        uint32[] memory secondsAgos = new uint32[](2);
        secondsAgos[0] = t.window;
        try pool.observe(secondsAgos) returns (int56[] memory cumulatives, uint160[] memory) {
            if (cumulatives.length != 2) return (0, _callFailed(t.pool));
            int56 delta = cumulatives[1] - cumulatives[0];
            int56 window = int56(uint56(t.window));
            meanTick = int24(delta / window);
            if (delta < 0 && delta % window != 0) meanTick--;
        } catch {
            uint256 available = _history(pool, index, cardinality);
            if (available < t.window) {
                err = abi.encodeWithSelector(IPriceOracle.TwapHistoryTooShort.selector, t.pool, t.window, available);
            } else {
                err = _callFailed(t.pool);
            }
        }
    }

    /// @dev Seconds of observation history the pool holds: age of its oldest observation.
    function _history(IUniswapV3PoolOracle pool, uint16 index, uint16 cardinality) private view returns (uint256) {
        if (cardinality == 0) return 0;
        (uint32 oldest, , , bool initialized) = pool.observations((uint256(index) + 1) % cardinality);
        // The ring buffer has not wrapped yet: the oldest observation is the first slot.
        if (!initialized) (oldest, , , ) = pool.observations(0);
        // Uniswap stores timestamps mod 2^32; so does this subtraction.
        unchecked {
            return uint32(uint32(block.timestamp) - oldest);
        }
    }

    function _callFailed(address pool) private pure returns (bytes memory) {
        return abi.encodeWithSelector(IPriceOracle.TwapCallFailed.selector, pool);
    }
}
