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
        int24 baseTick = t.baseIsToken0 ? meanTick : -meanTick;
        price = tickToWad(baseTick, t.baseDecimals, t.quoteDecimals);
        // Below 1e-18 quote per base the WAD price rounds to zero: that is no price at all.
        if (price == 0) return (0, abi.encodeWithSelector(IPriceOracle.TwapPriceZero.selector, t.pool, baseTick));
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
        return
            FixedPointMathLib.fullMulDiv(
                FixedPointMathLib.fullMulDiv(sqrtPriceX96, sqrtPriceX96, 1 << 64),
                scale,
                1 << 128
            );
    }

    /// @dev The observation index and cardinality from slot0 (words 2 and 3), read without
    ///      abi.decode: a word that does not fit its type is a refusal, not a revert.
    function _observationState(address pool) private view returns (bool ok, uint16 index, uint16 cardinality) {
        bytes memory ret;
        (ok, ret) = pool.staticcall(abi.encodeCall(IUniswapV3PoolOracle.slot0, ()));
        if (!ok || ret.length < 224) return (false, 0, 0);
        uint256 i;
        uint256 c;
        assembly ("memory-safe") {
            i := mload(add(ret, 96))
            c := mload(add(ret, 128))
        }
        if (i > type(uint16).max || c > type(uint16).max) return (false, 0, 0);
        return (true, uint16(i), uint16(c));
    }

    /// @dev Arithmetic-mean tick over the window, rounded toward negative infinity like Uniswap's
    ///      OracleLibrary; a history shorter than the window is its own refusal. Low-level calls
    ///      with explicit length checks: a pool answering malformed data is a refusal, not a revert
    ///      (try/catch cannot catch a decoding failure).
    function _meanTick(
        IPriceOracle.TwapConfig memory t,
        uint16 index,
        uint16 cardinality
    ) private view returns (int24 meanTick, bytes memory err) {
        uint32[] memory secondsAgos = new uint32[](2);
        secondsAgos[0] = t.window;
        (bool ok, bytes memory ret) = t.pool.staticcall(abi.encodeCall(IUniswapV3PoolOracle.observe, (secondsAgos)));
        if (!ok) {
            (bool historyRead, uint256 available) = _history(t.pool, index, cardinality);
            if (historyRead && available < t.window) {
                return (
                    0,
                    abi.encodeWithSelector(IPriceOracle.TwapHistoryTooShort.selector, t.pool, t.window, available)
                );
            }
            return (0, _callFailed(t.pool));
        }
        (bool wellFormed, int256 c0, int256 c1) = _cumulatives(ret);
        if (!wellFormed) return (0, _callFailed(t.pool));
        int256 delta = c1 - c0;
        int256 window = int256(uint256(t.window));
        int256 mean = delta / window;
        if (delta < 0 && delta % window != 0) mean--;
        if (mean < TickMath.MIN_TICK || mean > TickMath.MAX_TICK) return (0, _callFailed(t.pool));
        meanTick = int24(mean);
    }

    /// @dev The two tick cumulatives of observe's answer, if it is the standard encoding of
    ///      (int56[2], uint160[2]): two offsets, then each array's length and two words.
    function _cumulatives(bytes memory ret) private pure returns (bool ok, int256 c0, int256 c1) {
        if (ret.length != 256) return (false, 0, 0);
        uint256 offset;
        uint256 length;
        // Word 0: offset of the first array; word 2: its length; words 3 and 4: its elements.
        assembly ("memory-safe") {
            offset := mload(add(ret, 32))
            length := mload(add(ret, 96))
            c0 := mload(add(ret, 128))
            c1 := mload(add(ret, 160))
        }
        ok = offset == 64 && length == 2 && c0 == int56(c0) && c1 == int56(c1);
    }

    /// @dev Seconds of observation history the pool holds: age of its oldest observation.
    function _history(
        address pool,
        uint16 index,
        uint16 cardinality
    ) private view returns (bool ok, uint256 available) {
        if (cardinality == 0) return (true, 0);
        uint32 oldest;
        bool initialized;
        (ok, oldest, initialized) = _observation(pool, (uint256(index) + 1) % cardinality);
        // The ring buffer has not wrapped yet: the oldest observation is the first slot.
        if (ok && !initialized) (ok, oldest, ) = _observation(pool, 0);
        // Uniswap stores timestamps mod 2^32; so does this subtraction.
        unchecked {
            available = uint32(uint32(block.timestamp) - oldest);
        }
    }

    function _observation(address pool, uint256 i) private view returns (bool ok, uint32 timestamp, bool initialized) {
        bytes memory ret;
        (ok, ret) = pool.staticcall(abi.encodeCall(IUniswapV3PoolOracle.observations, (i)));
        if (!ok || ret.length < 128) return (false, 0, false);
        uint256 ts;
        uint256 init;
        assembly ("memory-safe") {
            ts := mload(add(ret, 32))
            init := mload(add(ret, 128))
        }
        return (true, uint32(ts), init != 0);
    }

    function _callFailed(address pool) private pure returns (bytes memory) {
        return abi.encodeWithSelector(IPriceOracle.TwapCallFailed.selector, pool);
    }
}
