// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {AggregatorV3Interface} from "@chainlink/contracts/src/v0.8/shared/interfaces/AggregatorV3Interface.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IUniswapV3PoolOracle} from "../interfaces/IUniswapV3PoolOracle.sol";
import {ChainlinkSource} from "./ChainlinkSource.sol";
import {UniswapV3TwapSource} from "./UniswapV3TwapSource.sol";

/// @title PriceOracle
/// @notice The price router: Chainlink primary, Uniswap v3 TWAP secondary, a deviation bound,
///         a circuit breaker and the L2 sequencer check. See IPriceOracle for each status.
contract PriceOracle is IPriceOracle, AccessControl {
    /// @notice The move between the two sources, when it broke the bound (a `Degraded` reason).
    error PriceDeviation(uint256 chainlinkPrice, uint256 twapPrice, uint256 deviation, uint256 maxDeviation);

    bytes32 internal constant HEARTBEAT = "HEARTBEAT";
    bytes32 internal constant TOLERANCE = "TOLERANCE";
    bytes32 internal constant DECIMALS = "DECIMALS";
    bytes32 internal constant TWAP_WINDOW = "TWAP_WINDOW";
    bytes32 internal constant MIN_CARDINALITY = "MIN_CARDINALITY";
    bytes32 internal constant MAX_DEVIATION = "MAX_DEVIATION";
    bytes32 internal constant BREAKER_MAX_MOVE = "BREAKER_MAX_MOVE";
    bytes32 internal constant BREAKER_WINDOW = "BREAKER_WINDOW";
    bytes32 internal constant DEGRADED_COOLDOWN = "DEGRADED_COOLDOWN";
    bytes32 internal constant GRACE_PERIOD = "GRACE_PERIOD";

    // Hard bounds. Chainlink's slowest crypto heartbeats are 24 h; a TWAP under 5 minutes is
    // cheap to push for a block builder; one over a day no longer says what the price is.
    uint256 public constant MIN_HEARTBEAT = 1 minutes;
    uint256 public constant MAX_HEARTBEAT = 1 days;
    uint256 public constant MAX_TOLERANCE = 1 hours;
    uint256 public constant MIN_TWAP_WINDOW = 5 minutes;
    uint256 public constant MAX_TWAP_WINDOW = 1 days;
    uint256 public constant MIN_MIN_CARDINALITY = 2;
    uint256 public constant MIN_MAX_DEVIATION = 0.005e18;
    uint256 public constant MAX_MAX_DEVIATION = 0.5e18;
    uint256 public constant MIN_BREAKER_MOVE = 0.05e18;
    uint256 public constant MAX_BREAKER_MOVE = 0.9e18;
    uint256 public constant MIN_BREAKER_WINDOW = 1 minutes;
    uint256 public constant MAX_BREAKER_WINDOW = 1 days;
    uint256 public constant MIN_DEGRADED_COOLDOWN = 1 minutes;
    uint256 public constant MAX_DEGRADED_COOLDOWN = 1 days;
    uint256 public constant MIN_GRACE_PERIOD = 10 minutes;
    uint256 public constant MAX_GRACE_PERIOD = 1 days;

    /// @inheritdoc IPriceOracle
    address public immutable sequencerUptimeFeed;
    /// @inheritdoc IPriceOracle
    uint256 public immutable sequencerGracePeriod;

    /// @dev The last price `poke` accepted, the reference of the circuit breaker.
    struct Reference {
        uint128 price;
        uint32 updatedAt;
        uint80 roundId;
    }

    mapping(address asset => ChainlinkConfig) internal _chainlink;
    mapping(address asset => TwapConfig) internal _twap;
    mapping(address asset => GuardConfig) internal _guard;
    mapping(address asset => Reference) internal _reference;
    /// @dev The first accepted round of the circuit breaker's current window.
    mapping(address asset => Reference) internal _windowAnchor;

    /// @param sequencerFeed The L2 sequencer uptime feed, or zero on L1 (no grace period then).
    constructor(address admin, address sequencerFeed, uint256 gracePeriod) {
        if (admin == address(0)) revert ZeroAddress();
        if (sequencerFeed != address(0)) _bound(GRACE_PERIOD, gracePeriod, MIN_GRACE_PERIOD, MAX_GRACE_PERIOD);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        sequencerUptimeFeed = sequencerFeed;
        sequencerGracePeriod = sequencerFeed == address(0) ? 0 : gracePeriod;
    }

    // ---------------------------------------------------------------- reads

    /// @inheritdoc IPriceOracle
    function getPrice(address asset) external view returns (Price memory) {
        ChainlinkConfig memory c = _chainlinkOf(asset);
        if (_sequencerError().length != 0) return Price(0, 0, 0, Status.Down);
        (uint256 cl, , bytes memory clErr) = ChainlinkSource.latest(c);
        bool flagged = block.timestamp < c.degradedUntil;
        // Ok and not flagged: Chainlink alone, the TWAP is not consulted (cheap path).
        if (clErr.length == 0 && !flagged) return Price(cl, cl, cl, Status.Ok);
        return _combine(asset, cl, clErr, flagged);
    }

    /// @inheritdoc IPriceOracle
    function getPriceChecked(address asset) external view returns (Price memory) {
        ChainlinkConfig memory c = _chainlinkOf(asset);
        if (_sequencerError().length != 0) return Price(0, 0, 0, Status.Down);
        (uint256 cl, , bytes memory clErr) = ChainlinkSource.latest(c);
        // Without a TWAP, _combine reads Chainlink alone under the same rules as getPrice.
        return _combine(asset, cl, clErr, block.timestamp < c.degradedUntil);
    }

    /// @inheritdoc IPriceOracle
    function chainlinkPrice(address asset) external view returns (uint256 price, uint80 roundId, uint256 updatedAt) {
        ChainlinkConfig memory c = _chainlinkOf(asset);
        _revertWith(_sequencerError());
        ChainlinkSource.Round memory r;
        bytes memory err;
        (price, r, err) = ChainlinkSource.latest(c);
        _revertWith(err);
        return (price, r.roundId, r.updatedAt);
    }

    /// @inheritdoc IPriceOracle
    function priceAtOrAfter(address asset, uint256 timestamp, uint80 roundId) external view returns (uint256 price) {
        ChainlinkConfig memory c = _chainlinkOf(asset);
        // Proxy round ids are (phaseId << 64 | aggregatorRoundId); the first round of a phase has no
        // provable predecessor through the proxy, so it cannot be proven the first after anything.
        if (uint64(roundId) <= 1) revert RoundAtPhaseStart(roundId);
        ChainlinkSource.Round memory r;
        bytes memory err;
        (price, r, err) = ChainlinkSource.round(c, roundId);
        _revertWith(err);
        if (r.updatedAt < timestamp) revert RoundBeforeTimestamp(roundId, r.updatedAt, timestamp);
        uint256 deadline = timestamp + c.heartbeat + c.tolerance;
        if (r.updatedAt > deadline) revert RoundTooLate(roundId, r.updatedAt, deadline);
        (, ChainlinkSource.Round memory previous, bytes memory prevErr) = ChainlinkSource.round(c, roundId - 1);
        // Only the timestamp of the previous round matters: a bad answer there does not make
        // `roundId` any less the first at or after `timestamp`, but a failed call does.
        if (prevErr.length != 0 && bytes4(prevErr) == ChainlinkCallFailed.selector) _revertWith(prevErr);
        // A round the feed has no data for reads as zeros on OCR aggregators: that proves nothing.
        if (previous.updatedAt == 0) revert PreviousRoundMissing(roundId - 1);
        if (previous.updatedAt >= timestamp) {
            revert PreviousRoundNotBefore(roundId - 1, previous.updatedAt, timestamp);
        }
    }

    /// @inheritdoc IPriceOracle
    function twapPrice(address asset) external view returns (uint256 price) {
        _chainlinkOf(asset);
        // A pool on a halted L2 holds the last traded price, not the market's.
        _revertWith(_sequencerError());
        TwapConfig memory t = _twap[asset];
        if (t.pool == address(0)) revert TwapNotConfigured(asset);
        bytes memory err;
        (price, err) = UniswapV3TwapSource.read(t);
        _revertWith(err);
    }

    /// @inheritdoc IPriceOracle
    function sourceErrors(address asset) external view returns (bytes memory chainlinkError, bytes memory twapError) {
        ChainlinkConfig memory c = _chainlinkOf(asset);
        chainlinkError = _sequencerError();
        if (chainlinkError.length == 0) (, , chainlinkError) = ChainlinkSource.latest(c);
        (, twapError) = _readTwap(asset);
    }

    // ---------------------------------------------------------------- permissionless check

    /// @inheritdoc IPriceOracle
    function poke(address asset) external returns (Status) {
        ChainlinkConfig storage c = _chainlink[asset];
        if (c.feed == address(0)) revert UnknownAsset(asset);
        if (_sequencerError().length != 0) return Status.Down;
        GuardConfig memory g = _guard[asset];
        (uint256 cl, ChainlinkSource.Round memory r, bytes memory clErr) = ChainlinkSource.latest(c);
        (uint256 tw, bytes memory twErr) = _readTwap(asset);

        if (clErr.length != 0) {
            _degrade(c, asset, g, clErr);
        } else {
            if (twErr.length != 0) {
                // A configured TWAP that cannot be read is a failed source too.
                if (bytes4(twErr) != TwapNotConfigured.selector) _degrade(c, asset, g, twErr);
            } else {
                uint256 deviation = _deviation(cl, tw);
                if (deviation > g.maxDeviation) {
                    _degrade(
                        c,
                        asset,
                        g,
                        abi.encodeWithSelector(PriceDeviation.selector, cl, tw, deviation, g.maxDeviation)
                    );
                }
            }
            _runBreaker(c, asset, g, cl, r);
        }
        if (clErr.length == 0 && block.timestamp >= c.degradedUntil) return Status.Ok;
        // Degraded if any source is usable.
        return clErr.length == 0 || twErr.length == 0 ? Status.Degraded : Status.Down;
    }

    // ---------------------------------------------------------------- governance

    /// @notice Configures the Chainlink feed of `asset`; its decimals are checked against the feed.
    function setChainlink(
        address asset,
        address feed,
        uint256 heartbeat,
        uint256 tolerance,
        uint8 decimals,
        int256 minAnswer,
        int256 maxAnswer
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (asset == address(0) || feed == address(0)) revert ZeroAddress();
        _bound(HEARTBEAT, heartbeat, MIN_HEARTBEAT, MAX_HEARTBEAT);
        _bound(TOLERANCE, tolerance, 0, MAX_TOLERANCE);
        _bound(DECIMALS, decimals, 0, 18);
        uint8 reported = AggregatorV3Interface(feed).decimals();
        if (reported != decimals) revert ChainlinkDecimalsMismatch(feed, reported, decimals);
        // 0 < minAnswer and minAnswer + 2 <= maxAnswer, and the band's top as a WAD price fits the
        // 128 bits prices are stored in (the circuit breaker's and the volatility oracle's).
        if (
            minAnswer <= 0 ||
            maxAnswer <= minAnswer ||
            maxAnswer - minAnswer < 2 ||
            maxAnswer > type(int128).max ||
            ChainlinkSource.toWad(maxAnswer, decimals) > type(uint128).max
        ) revert InvalidAnswerBand(minAnswer, maxAnswer);
        ChainlinkConfig memory old = _chainlink[asset];
        ChainlinkConfig memory next = ChainlinkConfig({
            feed: feed,
            heartbeat: uint32(heartbeat),
            tolerance: uint24(tolerance),
            decimals: decimals,
            degradedUntil: old.degradedUntil,
            minAnswer: int128(minAnswer),
            maxAnswer: int128(maxAnswer)
        });
        _chainlink[asset] = next;
        emit ChainlinkConfigured(asset, old, next);
    }

    /// @notice Configures the Uniswap v3 TWAP of `asset` against `quote` (zero pool: none).
    function setTwap(
        address asset,
        address pool,
        address quote,
        uint256 window,
        uint256 minCardinality
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _chainlinkOf(asset);
        TwapConfig memory next;
        if (pool != address(0)) {
            _bound(TWAP_WINDOW, window, MIN_TWAP_WINDOW, MAX_TWAP_WINDOW);
            _bound(MIN_CARDINALITY, minCardinality, MIN_MIN_CARDINALITY, type(uint16).max);
            address token0 = IUniswapV3PoolOracle(pool).token0();
            address token1 = IUniswapV3PoolOracle(pool).token1();
            bool baseIsToken0 = token0 == asset && token1 == quote;
            if (!baseIsToken0 && !(token1 == asset && token0 == quote)) revert TwapPoolMismatch(pool, asset);
            next = TwapConfig({
                pool: pool,
                window: uint32(window),
                minCardinality: uint16(minCardinality),
                baseIsToken0: baseIsToken0,
                baseDecimals: IERC20Metadata(asset).decimals(),
                quoteDecimals: IERC20Metadata(quote).decimals()
            });
            _bound(DECIMALS, next.baseDecimals, 0, 18);
            _bound(DECIMALS, next.quoteDecimals, 0, 18);
        }
        emit TwapConfigured(asset, _twap[asset], next);
        _twap[asset] = next;
    }

    /// @notice Configures the deviation bound and the circuit breaker of `asset`.
    function setGuard(
        address asset,
        uint256 maxDeviation,
        uint256 breakerMaxMove,
        uint256 breakerWindow,
        uint256 degradedCooldown
    ) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _chainlinkOf(asset);
        _bound(MAX_DEVIATION, maxDeviation, MIN_MAX_DEVIATION, MAX_MAX_DEVIATION);
        _bound(BREAKER_MAX_MOVE, breakerMaxMove, MIN_BREAKER_MOVE, MAX_BREAKER_MOVE);
        _bound(BREAKER_WINDOW, breakerWindow, MIN_BREAKER_WINDOW, MAX_BREAKER_WINDOW);
        _bound(DEGRADED_COOLDOWN, degradedCooldown, MIN_DEGRADED_COOLDOWN, MAX_DEGRADED_COOLDOWN);
        GuardConfig memory next = GuardConfig({
            maxDeviation: uint64(maxDeviation),
            breakerMaxMove: uint64(breakerMaxMove),
            breakerWindow: uint32(breakerWindow),
            degradedCooldown: uint32(degradedCooldown)
        });
        emit GuardConfigured(asset, _guard[asset], next);
        _guard[asset] = next;
    }

    // ---------------------------------------------------------------- config views

    function chainlinkConfig(address asset) external view returns (ChainlinkConfig memory) {
        return _chainlink[asset];
    }

    function twapConfig(address asset) external view returns (TwapConfig memory) {
        return _twap[asset];
    }

    function guardConfig(address asset) external view returns (GuardConfig memory) {
        return _guard[asset];
    }

    /// @notice The circuit breaker's reference: the last price `poke` accepted.
    function lastAccepted(address asset) external view returns (uint256 price, uint256 updatedAt, uint80 roundId) {
        Reference memory ref = _reference[asset];
        return (ref.price, ref.updatedAt, ref.roundId);
    }

    /// @notice The circuit breaker's window anchor: the first accepted round of its window.
    function breakerAnchor(address asset) external view returns (uint256 price, uint256 updatedAt, uint80 roundId) {
        Reference memory a = _windowAnchor[asset];
        return (a.price, a.updatedAt, a.roundId);
    }

    // ---------------------------------------------------------------- internals

    function _chainlinkOf(address asset) internal view returns (ChainlinkConfig memory c) {
        c = _chainlink[asset];
        if (c.feed == address(0)) revert UnknownAsset(asset);
    }

    /// @dev Combines the sources when the cheap path does not apply. `flagged`: Degraded anyway.
    function _combine(
        address asset,
        uint256 cl,
        bytes memory clErr,
        bool flagged
    ) internal view returns (Price memory) {
        (uint256 tw, bytes memory twErr) = _readTwap(asset);
        bool clOk = clErr.length == 0;
        bool twOk = twErr.length == 0;
        if (clOk && twOk) {
            (uint256 low, uint256 high) = cl < tw ? (cl, tw) : (tw, cl);
            bool agree = _deviation(cl, tw) <= _guard[asset].maxDeviation;
            return Price(cl, low, high, agree && !flagged ? Status.Ok : Status.Degraded);
        }
        if (clOk) {
            // No TWAP configured is not a failure: Chainlink alone decides, subject to the flag.
            Status s = !flagged && bytes4(twErr) == TwapNotConfigured.selector ? Status.Ok : Status.Degraded;
            return Price(cl, cl, cl, s);
        }
        if (twOk) return Price(tw, tw, tw, Status.Degraded);
        return Price(0, 0, 0, Status.Down);
    }

    function _readTwap(address asset) internal view returns (uint256 price, bytes memory err) {
        TwapConfig memory t = _twap[asset];
        if (t.pool == address(0)) return (0, abi.encodeWithSelector(TwapNotConfigured.selector, asset));
        return UniswapV3TwapSource.read(t);
    }

    /// @dev |a - b| / a, WAD, rounded up (a wider deviation is the conservative reading).
    function _deviation(uint256 a, uint256 b) internal pure returns (uint256) {
        uint256 diff = a > b ? a - b : b - a;
        return (diff * 1e18 + a - 1) / a;
    }

    function _runBreaker(
        ChainlinkConfig storage c,
        address asset,
        GuardConfig memory g,
        uint256 price,
        ChainlinkSource.Round memory r
    ) internal {
        Reference memory last = _reference[asset];
        if (last.roundId == r.roundId) return; // not a new round: nothing to compare or accept
        // Two comparisons: with the previous accepted round (a single bad print), and with the
        // price the current window opened at (a crash in steps each below the bound).
        Reference memory anchor = _windowAnchor[asset];
        uint256 from = _breakerFrom(last, r, g.breakerWindow, price, g.breakerMaxMove);
        if (from == 0) from = _breakerFrom(anchor, r, g.breakerWindow, price, g.breakerMaxMove);
        if (from != 0) {
            uint256 until = _setDegraded(c, g);
            emit CircuitBreakerTripped(asset, from, price, until);
        }
        Reference memory accepted = Reference(SafeCast.toUint128(price), uint32(r.updatedAt), r.roundId);
        _reference[asset] = accepted;
        // The window rolls forward to this round once its opening price is older than the window.
        if (anchor.roundId == 0 || r.updatedAt < anchor.updatedAt || r.updatedAt - anchor.updatedAt > g.breakerWindow) {
            _windowAnchor[asset] = accepted;
        }
        emit PriceAccepted(asset, price, r.updatedAt);
    }

    /// @dev `ref.price` when `price` moved from it by more than `maxMove` within `window`, else 0.
    function _breakerFrom(
        Reference memory ref,
        ChainlinkSource.Round memory r,
        uint256 window,
        uint256 price,
        uint256 maxMove
    ) internal pure returns (uint256) {
        if (ref.roundId == 0 || r.updatedAt < ref.updatedAt || r.updatedAt - ref.updatedAt > window) return 0;
        return _deviation(ref.price, price) > maxMove ? ref.price : 0;
    }

    function _degrade(ChainlinkConfig storage c, address asset, GuardConfig memory g, bytes memory reason) internal {
        emit Degraded(asset, _setDegraded(c, g), reason);
    }

    function _setDegraded(ChainlinkConfig storage c, GuardConfig memory g) internal returns (uint256 until) {
        until = block.timestamp + g.degradedCooldown;
        if (until > c.degradedUntil) c.degradedUntil = uint32(until);
        else until = c.degradedUntil;
    }

    /// @dev Empty when there is no sequencer feed or it is up past its grace period.
    function _sequencerError() internal view returns (bytes memory) {
        address feed = sequencerUptimeFeed;
        if (feed == address(0)) return "";
        (bool ok, bytes memory ret) = feed.staticcall(abi.encodeCall(AggregatorV3Interface.latestRoundData, ()));
        if (!ok || ret.length < 160) return abi.encodeWithSelector(SequencerDown.selector, feed);
        (, int256 answer, uint256 startedAt, , ) = abi.decode(ret, (uint80, int256, uint256, uint256, uint80));
        // answer 0: up, 1: down. startedAt 0: the feed is not initialised (Arbitrum) — not "up".
        if (answer != 0 || startedAt == 0) return abi.encodeWithSelector(SequencerDown.selector, feed);
        uint256 graceEndsAt = startedAt + sequencerGracePeriod;
        if (block.timestamp < graceEndsAt) {
            return abi.encodeWithSelector(SequencerGracePeriod.selector, feed, startedAt, graceEndsAt);
        }
        return "";
    }

    function _bound(bytes32 parameter, uint256 value, uint256 min, uint256 max) internal pure {
        if (value < min || value > max) revert ParameterOutOfBounds(parameter, value, min, max);
    }

    /// @dev Re-raises an ABI-encoded custom error; does nothing for empty bytes.
    function _revertWith(bytes memory err) internal pure {
        if (err.length != 0) {
            assembly {
                revert(add(err, 32), mload(err))
            }
        }
    }
}
