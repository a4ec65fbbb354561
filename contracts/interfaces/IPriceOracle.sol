// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Keel price oracle (router)
/// @notice Per asset: Chainlink primary, Uniswap v3 TWAP secondary, a bound on how far they may
///         disagree, and a circuit breaker. Every price comes with a status; nothing falls back
///         silently. Prices are WAD (1e18 = 1 unit of quote, USD) per whole base token.
///
///         Status and what works in it (consumers enforce this through `OraclePolicy`):
///         - Ok: everything.
///         - Degraded (sources disagree beyond the bound, one source fails, or the circuit breaker
///           tripped): no new risk (no opening or increasing positions, no new option series);
///           closing, reducing, depositing, settling and liquidating continue, and withdrawals are
///           checked on the most conservative usable price for the side concerned (`low` for
///           what the account holds long, `high` for what it is short).
///         - Down (no usable source, or the L2 sequencer is down or inside its grace period): only
///           actions that cannot lower any account's health (deposits, adding margin).
interface IPriceOracle {
    enum Status {
        Ok,
        Degraded,
        Down
    }

    /// @notice A price with its status. `low` and `high` bracket what the usable sources say
    ///         (equal to `price` when only one source was read); all zero when Down.
    struct Price {
        uint256 price;
        uint256 low;
        uint256 high;
        Status status;
    }

    struct ChainlinkConfig {
        address feed;
        /// @dev Seconds between the feed's guaranteed updates.
        uint32 heartbeat;
        /// @dev Extra seconds accepted on top of the heartbeat before an answer counts as stale.
        uint24 tolerance;
        /// @dev Decimals the feed must report.
        uint8 decimals;
        /// @dev Timestamp until which the asset is Degraded (circuit breaker / failed cross-check).
        uint32 degradedUntil;
        /// @dev An answer at or beyond either bound is refused (a feed stuck at its floor is a failure).
        int128 minAnswer;
        int128 maxAnswer;
    }

    struct TwapConfig {
        address pool;
        /// @dev Averaging window in seconds.
        uint32 window;
        /// @dev Minimum observation cardinality of the pool.
        uint16 minCardinality;
        /// @dev True when the priced asset is the pool's token0.
        bool baseIsToken0;
        uint8 baseDecimals;
        uint8 quoteDecimals;
    }

    struct GuardConfig {
        /// @dev Maximum relative disagreement between Chainlink and the TWAP, WAD.
        uint64 maxDeviation;
        /// @dev A move between consecutive accepted prices beyond this fraction (WAD) within
        ///      `breakerWindow` seconds trips the circuit breaker.
        uint64 breakerMaxMove;
        uint32 breakerWindow;
        /// @dev Seconds the asset stays Degraded after a trip or a failed cross-check.
        uint32 degradedCooldown;
    }

    // ------------------------------------------------------------------ Chainlink refusals
    /// @notice The feed reverted or returned malformed data.
    error ChainlinkCallFailed(address feed);
    /// @notice The answer is zero or negative.
    error ChainlinkNonPositiveAnswer(address feed, int256 answer);
    /// @notice The answer was last updated before `oldestAccepted` (heartbeat + tolerance ago).
    error ChainlinkStaleAnswer(address feed, uint256 updatedAt, uint256 oldestAccepted);
    /// @notice The answer claims to be updated after the current block.
    error ChainlinkFutureAnswer(address feed, uint256 updatedAt, uint256 blockTimestamp);
    /// @notice The answer was carried over from an earlier round.
    error ChainlinkStaleRound(address feed, uint80 roundId, uint80 answeredInRound);
    /// @notice The answer is at or outside the configured band (min, max) exclusive.
    error ChainlinkAnswerOutOfBand(address feed, int256 answer, int256 minAnswer, int256 maxAnswer);
    /// @notice The feed reports other decimals than configured (it was upgraded underneath us).
    error ChainlinkDecimalsMismatch(address feed, uint8 decimals, uint8 expected);
    /// @notice The L2 sequencer reports that it is down (or its status is not initialised).
    error SequencerDown(address sequencerFeed);
    /// @notice The L2 sequencer came back up at `upSince`; prices are refused until `graceEndsAt`.
    error SequencerGracePeriod(address sequencerFeed, uint256 upSince, uint256 graceEndsAt);
    /// @notice The round was updated before the timestamp it should be at or after.
    error RoundBeforeTimestamp(uint80 roundId, uint256 updatedAt, uint256 timestamp);
    /// @notice The previous round is not before the timestamp, so `roundId` is not the first after it.
    error PreviousRoundNotBefore(uint80 previousRoundId, uint256 updatedAt, uint256 timestamp);
    /// @notice The first round after the timestamp came later than heartbeat + tolerance after it.
    error RoundTooLate(uint80 roundId, uint256 updatedAt, uint256 deadline);
    /// @notice The previous round has no data (zero update time), so it proves nothing.
    error PreviousRoundMissing(uint80 previousRoundId);
    /// @notice The round is the first of a Chainlink proxy phase: its predecessor cannot be proven.
    error RoundAtPhaseStart(uint80 roundId);

    // ------------------------------------------------------------------ TWAP refusals
    /// @notice No TWAP pool is configured for the asset.
    error TwapNotConfigured(address asset);
    /// @notice The pool's observation cardinality is below the configured minimum.
    error TwapCardinalityTooLow(address pool, uint16 cardinality, uint16 minCardinality);
    /// @notice The pool's observation history (`available` seconds) is shorter than the window.
    error TwapHistoryTooShort(address pool, uint32 window, uint256 available);
    /// @notice The mean tick prices the base below 1e-18 quote: the WAD price would read zero.
    error TwapPriceZero(address pool, int24 tick);
    /// @notice The pool reverted on `slot0` or `observe` for another reason, or answered malformed data.
    error TwapCallFailed(address pool);

    // ------------------------------------------------------------------ router
    /// @notice The asset has no configuration.
    error UnknownAsset(address asset);
    /// @notice The asset is Down: no usable price.
    error PriceDown(address asset);
    /// @notice A parameter is outside its hard bounds.
    error ParameterOutOfBounds(bytes32 parameter, uint256 value, uint256 min, uint256 max);
    /// @notice The Chainlink answer band must satisfy 0 < minAnswer, minAnswer + 2 <= maxAnswer, and
    ///         maxAnswer as a WAD price below 2^128.
    error InvalidAnswerBand(int256 minAnswer, int256 maxAnswer);
    /// @notice The pool does not pair the asset with the quote token as configured.
    error TwapPoolMismatch(address pool, address asset);
    /// @notice An address argument is zero.
    error ZeroAddress();

    event ChainlinkConfigured(address indexed asset, ChainlinkConfig oldConfig, ChainlinkConfig newConfig);
    event TwapConfigured(address indexed asset, TwapConfig oldConfig, TwapConfig newConfig);
    event GuardConfigured(address indexed asset, GuardConfig oldConfig, GuardConfig newConfig);
    /// @notice The asset is Degraded until `until`; `reason` is the refusal or the check that failed.
    event Degraded(address indexed asset, uint256 until, bytes reason);
    /// @notice A move from `previousPrice` (the previous accepted round, or the first accepted round
    ///         of the breaker window) to `price` within the window tripped the breaker.
    event CircuitBreakerTripped(address indexed asset, uint256 previousPrice, uint256 price, uint256 until);
    /// @notice A new Chainlink round passed the Chainlink guards in `poke` and became the circuit
    ///         breaker's reference, also when the same poke degraded the asset (cross-check or trip).
    event PriceAccepted(address indexed asset, uint256 price, uint256 timestamp);

    /// @notice The price for reading: Chainlink alone while Ok (cheap), both sources while
    ///         Degraded. Never reverts for a source failure: the status says it.
    function getPrice(address asset) external view returns (Price memory);

    /// @notice The price cross-checked against the TWAP on every call (for actions that add risk).
    function getPriceChecked(address asset) external view returns (Price memory);

    /// @notice Permissionless check: cross-checks the sources, runs the circuit breaker against
    ///         the last accepted price and records Degraded states. Returns the status after it.
    function poke(address asset) external returns (Status);

    /// @notice The Chainlink source alone, with every guard: WAD price, its round and update time.
    function chainlinkPrice(address asset) external view returns (uint256 price, uint80 roundId, uint256 updatedAt);

    /// @notice The price of the first Chainlink round at or after `timestamp`, proven by the
    ///         previous round being before it (option settlement).
    function priceAtOrAfter(address asset, uint256 timestamp, uint80 roundId) external view returns (uint256 price);

    /// @notice The TWAP source alone, with every guard: WAD price over the configured window.
    ///         Refused while the L2 sequencer is down or in its grace period, like Chainlink.
    function twapPrice(address asset) external view returns (uint256 price);

    /// @notice Why each source is refusing now (empty bytes when it is fine): the custom error.
    function sourceErrors(address asset) external view returns (bytes memory chainlinkError, bytes memory twapError);

    /// @notice The L2 sequencer uptime feed (zero on L1) and its grace period in seconds.
    function sequencerUptimeFeed() external view returns (address);
    function sequencerGracePeriod() external view returns (uint256);
}
