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
        (r, err) = _call(c.feed, abi.encodeCall(AggregatorV3Interface.latestRoundData, ()));
        if (err.length == 0) err = _validate(c, r);
        if (err.length == 0) err = _checkDecimals(c);
        if (err.length == 0) price = toWad(r.answer, c.decimals);
    }

    /// @notice A historical round with the answer guards (no staleness: it is judged by the caller).
    function round(
        IPriceOracle.ChainlinkConfig memory c,
        uint80 roundId
    ) internal view returns (uint256 price, Round memory r, bytes memory err) {
        (r, err) = _call(c.feed, abi.encodeCall(AggregatorV3Interface.getRoundData, (roundId)));
        if (err.length == 0) err = _validateAnswer(c, r);
        if (err.length == 0) err = _checkDecimals(c);
        if (err.length == 0) price = toWad(r.answer, c.decimals);
    }

    /// @notice An answer with `decimals` decimals as WAD (decimals <= 18, enforced at configuration).
    function toWad(int256 answer, uint8 decimals) internal pure returns (uint256) {
        return uint256(answer) * 10 ** (18 - decimals);
    }

    function _call(address feed, bytes memory data) private view returns (Round memory r, bytes memory err) {
        // A low-level call so that a feed that reverts, has no code or returns short data is a
        // refusal, not a revert of the whole read (try/catch cannot catch a decoding failure).
        (bool ok, bytes memory ret) = feed.staticcall(data);
        if (!ok || ret.length < ROUND_DATA_LENGTH) {
            return (r, abi.encodeWithSelector(IPriceOracle.ChainlinkCallFailed.selector, feed));
        }
        (r.roundId, r.answer, , r.updatedAt, r.answeredInRound) = abi.decode(
            ret,
            (uint80, int256, uint256, uint256, uint80)
        );
    }

    function _validate(IPriceOracle.ChainlinkConfig memory c, Round memory r) private view returns (bytes memory) {
        bytes memory err = _validateAnswer(c, r);
        if (err.length != 0) return err;
        uint256 maxAge = uint256(c.heartbeat) + c.tolerance;
        uint256 oldestAccepted = block.timestamp > maxAge ? block.timestamp - maxAge : 0;
        if (r.updatedAt < oldestAccepted) {
            return abi.encodeWithSelector(
                IPriceOracle.ChainlinkStaleAnswer.selector,
                c.feed,
                r.updatedAt,
                oldestAccepted
            );
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
                abi.encodeWithSelector(
                    IPriceOracle.ChainlinkStaleRound.selector,
                    c.feed,
                    r.roundId,
                    r.answeredInRound
                );
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
        (bool ok, bytes memory ret) = c.feed.staticcall(abi.encodeCall(AggregatorV3Interface.decimals, ()));
        if (!ok || ret.length < 32) return abi.encodeWithSelector(IPriceOracle.ChainlinkCallFailed.selector, c.feed);
        uint256 decimals = abi.decode(ret, (uint256));
        if (decimals != c.decimals) {
            // A value above 255 is reported as 255: it is a mismatch either way.
            uint8 reported = decimals > type(uint8).max ? type(uint8).max : uint8(decimals);
            return
                abi.encodeWithSelector(
                    IPriceOracle.ChainlinkDecimalsMismatch.selector,
                    c.feed,
                    reported,
                    c.decimals
                );
        }
        return "";
    }
}
