// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A Chainlink-style feed for tests: rounds are set explicitly, so a test can make an
///         answer stale, future-dated, negative, zero, out of band, stuck or carried over. Each
///         round is one storage slot, as in Chainlink's OCR aggregators, so gas figures are
///         representative of a direct aggregator read (a real proxy adds one more hop).
contract MockAggregator {
    struct Round {
        int128 answer;
        uint40 startedAt;
        uint40 updatedAt;
        uint48 answeredInRound; // 0: answered in this round
    }

    // One slot, read together on every latestRoundData + decimals pair.
    uint80 public latestRound;
    uint8 public decimals;
    bool public reverts;
    /// @dev OCR aggregators answer zeros for a round they have no data for, rather than reverting.
    bool public zerosForMissing;
    string public description;
    mapping(uint80 => Round) internal _rounds;

    constructor(uint8 decimals_, string memory description_) {
        decimals = decimals_;
        description = description_;
    }

    /// @notice A new round answered now.
    function push(int256 answer) external {
        setRound(latestRound + 1, answer, block.timestamp, block.timestamp, 0);
    }

    /// @notice A new round with an explicit update time (past or future).
    function pushAt(int256 answer, uint256 updatedAt) external {
        setRound(latestRound + 1, answer, updatedAt, updatedAt, 0);
    }

    /// @notice Sets any round; it becomes the latest when its id is the highest so far.
    function setRound(
        uint80 roundId,
        int256 answer,
        uint256 startedAt,
        uint256 updatedAt,
        uint80 answeredInRound
    ) public {
        _rounds[roundId] = Round(int128(answer), uint40(startedAt), uint40(updatedAt), uint48(answeredInRound));
        if (roundId > latestRound) latestRound = roundId;
    }

    function setDecimals(uint8 decimals_) external {
        decimals = decimals_;
    }

    function setZerosForMissing(bool value) external {
        zerosForMissing = value;
    }

    function setReverts(bool value) external {
        reverts = value;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return getRoundData(latestRound);
    }

    function getRoundData(uint80 roundId) public view returns (uint80, int256, uint256, uint256, uint80) {
        // String reverts on purpose: Chainlink's aggregators revert this way.
        // solhint-disable-next-line gas-custom-errors
        require(!reverts, "MockAggregator: reverts");
        Round memory r = _rounds[roundId];
        // solhint-disable-next-line gas-custom-errors
        require(zerosForMissing || r.updatedAt != 0 || r.startedAt != 0 || r.answer != 0, "No data present");
        return (roundId, r.answer, r.startedAt, r.updatedAt, r.answeredInRound == 0 ? roundId : r.answeredInRound);
    }
}
