// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";

/// @title ChainlinkSource
/// @notice Reads a Chainlink feed with every guard. Failures come back as the ABI-encoded custom
///         error rather than a revert, so the router can degrade with the exact reason; callers
///         that want a revert bubble it.
library ChainlinkSource {
    struct Round {
        uint80 roundId;
        int256 answer;
        uint256 updatedAt;
        uint80 answeredInRound;
    }

    /// @dev latestRoundData / getRoundData return five words.
    uint256 private constant ROUND_DATA_LENGTH = 160;

    /// @notice The latest answer as a WAD price, or the refusal.
    function latest(
        IPriceOracle.ChainlinkConfig memory c
    ) internal view returns (uint256 price, Round memory r, bytes memory err) {
        bool ok;
        (r, ok) = _call(c.feed, uint32(AggregatorV3Interface.latestRoundData.selector), 0);
        err = ok ? _validate(c, r) : _callFailed(c.feed);
        if (err.length == 0) err = _checkDecimals(c);
        if (err.length == 0) price = toWad(r.answer, c.decimals);
    }

    /// @notice A historical round with the answer guards (no staleness: it is judged by the caller).
    function round(
        IPriceOracle.ChainlinkConfig memory c,
        uint80 roundId
    ) internal view returns (uint256 price, Round memory r, bytes memory err) {
        bool ok;
        (r, ok) = _call(c.feed, uint32(AggregatorV3Interface.getRoundData.selector), roundId);
        err = ok ? _validateAnswer(c, r) : _callFailed(c.feed);
        if (err.length == 0) err = _checkDecimals(c);
        if (err.length == 0) price = toWad(r.answer, c.decimals);
    }

    /// @notice An answer with `decimals` decimals as WAD (decimals <= 18, enforced at configuration).
    function toWad(int256 answer, uint8 decimals) internal pure returns (uint256) {
        return uint256(answer) * 10 ** (18 - decimals);
    }

    /// @dev A low-level call so that a feed that reverts, has no code or returns short data is a
    ///      refusal, not a revert of the whole read (try/catch cannot catch a decoding failure).
    ///      Written in assembly to read the five return words without allocating: this is the
    ///      hot path of every price read. `roundId` is only sent for getRoundData.
    function _call(address feed, uint32 selector, uint80 roundId) private view returns (Round memory r, bool ok) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            mstore(m, shl(224, selector))
            mstore(add(m, 4), roundId)
            let size := 4
            if roundId {
                size := 36
            }
            // Two statements: EVM evaluates arguments right to left, so a returndatasize() inside
            // the same expression would be read before the call.
            ok := staticcall(gas(), feed, m, size, m, 160)
            ok := and(ok, gt(returndatasize(), 159))
            if ok {
                // (roundId, answer, startedAt, updatedAt, answeredInRound): uint80 words are masked.
                let mask := 0xffffffffffffffffffff
                mstore(r, and(mload(m), mask))
                mstore(add(r, 32), mload(add(m, 32)))
                mstore(add(r, 64), mload(add(m, 96)))
                mstore(add(r, 96), and(mload(add(m, 128)), mask))
            }
        }
    }

    function _callFailed(address feed) private pure returns (bytes memory) {
        return abi.encodeWithSelector(IPriceOracle.ChainlinkCallFailed.selector, feed);
    }

    function _validate(IPriceOracle.ChainlinkConfig memory c, Round memory r) private view returns (bytes memory) {
        bytes memory err = _validateAnswer(c, r);
        if (err.length != 0) return err;
        uint256 maxAge = uint256(c.heartbeat) + c.tolerance;
        uint256 oldestAccepted = block.timestamp > maxAge ? block.timestamp - maxAge : 0;
        if (r.updatedAt < oldestAccepted) {
            return
                abi.encodeWithSelector(IPriceOracle.ChainlinkStaleAnswer.selector, c.feed, r.updatedAt, oldestAccepted);
        }
        return "";
    }

    /// @dev The guards that hold for any round, latest or historical.
    function _validateAnswer(
        IPriceOracle.ChainlinkConfig memory c,
        Round memory r
    ) private view returns (bytes memory) {
        if (r.answer <= 0) {
            return abi.encodeWithSelector(IPriceOracle.ChainlinkNonPositiveAnswer.selector, c.feed, r.answer);
        }
        if (r.updatedAt > block.timestamp) {
            return
                abi.encodeWithSelector(
                    IPriceOracle.ChainlinkFutureAnswer.selector,
                    c.feed,
                    r.updatedAt,
                    block.timestamp
                );
        }
        // answeredInRound is deprecated; feeds that no longer report it return 0.
        if (r.answeredInRound != 0 && r.answeredInRound < r.roundId) {
            return
                abi.encodeWithSelector(IPriceOracle.ChainlinkStaleRound.selector, c.feed, r.roundId, r.answeredInRound);
        }
        // Strictly inside the band: an aggregator clamps at its floor (Venus / LUNA 2022), so an
        // answer sitting on the bound is the clamp speaking, not the market.
        if (r.answer <= c.minAnswer || r.answer >= c.maxAnswer) {
            return
                abi.encodeWithSelector(
                    IPriceOracle.ChainlinkAnswerOutOfBand.selector,
                    c.feed,
                    r.answer,
                    c.minAnswer,
                    c.maxAnswer
                );
        }
        return "";
    }

    function _checkDecimals(IPriceOracle.ChainlinkConfig memory c) private view returns (bytes memory) {
        address feed = c.feed;
        bool ok;
        uint256 decimals;
        assembly ("memory-safe") {
            mstore(0, 0x313ce56700000000000000000000000000000000000000000000000000000000) // decimals()
            ok := staticcall(gas(), feed, 0, 4, 0, 32)
            ok := and(ok, gt(returndatasize(), 31))
            decimals := mload(0)
        }
        if (!ok) return _callFailed(feed);
        if (decimals != c.decimals) {
            // A value above 255 is reported as 255: it is a mismatch either way.
            uint8 reported = decimals > type(uint8).max ? type(uint8).max : uint8(decimals);
            return
                abi.encodeWithSelector(IPriceOracle.ChainlinkDecimalsMismatch.selector, c.feed, reported, c.decimals);
        }
        return "";
    }
}
