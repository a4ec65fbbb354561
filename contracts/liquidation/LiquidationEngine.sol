// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";
import {ILiquidationEngine} from "../interfaces/ILiquidationEngine.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {IMarginEngine} from "../interfaces/IMarginEngine.sol";
import {IPerpMarket} from "../interfaces/IPerpMarket.sol";
import {IOptionMarket} from "../interfaces/IOptionMarket.sol";
import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";
import {IRiskConfig, IRiskConfigGlobalListener} from "../interfaces/IRiskConfig.sol";
import {RiskParams} from "../governance/RiskParams.sol";
import {PerpMath} from "../libraries/PerpMath.sol";

/// @title LiquidationEngine
/// @notice See ILiquidationEngine. Holds no funds and has no admin: its parameters arrive from
///         RiskConfig (governance, through the timelock, inside hard bounds), and it moves value
///         only through MarginAccounts, PerpMarket and the InsuranceFund, whose roles it holds.
///         Design after MakerDAO Liquidations 2.0 (Dutch auctions that never clear at zero, the
///         `Hole` throughput limit) and Lyra/Derive v2 (portfolio auctions to a buffer margin).
contract LiquidationEngine is ILiquidationEngine, IRiskConfigGlobalListener, ReentrancyGuardTransient {
    using FixedPointMathLib for uint256;

    uint256 internal constant WAD = 1e18;
    /// @notice Insurance-fund outflow tag of payments to bidders for insolvent accounts.
    bytes32 public constant REASON_INSOLVENT = "INSOLVENT_ACCOUNT";

    IMarginAccounts public immutable accounts;
    IPerpMarket public immutable perps;
    /// @notice The option market the margin engine values (read from it, so the two never differ).
    IOptionMarket public immutable options;
    IMarginEngine public immutable marginEngine;
    IRiskConfig public immutable riskConfig;
    IInsuranceFund public immutable insuranceFund;
    address public immutable settlementToken;
    /// @dev 10^(18 - settlement decimals): WAD USD per settlement-token unit.
    uint256 internal immutable _scale;

    /// @notice The current parameter version (every pushed change makes a new one).
    uint32 public version;
    mapping(uint32 version => Parameters) internal _params;
    mapping(uint256 accountId => Auction) internal _auctions;
    mapping(uint32 marketId => Throughput) internal _throughput;

    /// @dev One bid's view of the liquidated account and its auction.
    struct Bid {
        IMarginEngine.Valuation v;
        Auction a;
        Parameters p;
        bool starting;
        /// @dev A running auction whose account is back at or above MM: its curve restarts now.
        bool refreshed;
        uint256 fee;
        uint256 buffer;
        uint256 discount;
        uint256 payout;
        /// @dev The account's gross value (`_grossValue`, after the fee when starting).
        uint256 gross;
    }

    constructor(
        IMarginAccounts accounts_,
        IPerpMarket perps_,
        IMarginEngine marginEngine_,
        IRiskConfig riskConfig_,
        IInsuranceFund insuranceFund_
    ) {
        if (
            address(accounts_) == address(0) ||
            address(perps_) == address(0) ||
            address(marginEngine_) == address(0) ||
            address(riskConfig_) == address(0) ||
            address(insuranceFund_) == address(0)
        ) revert ZeroAddress();
        accounts = accounts_;
        perps = perps_;
        marginEngine = marginEngine_;
        options = marginEngine_.options();
        riskConfig = riskConfig_;
        insuranceFund = insuranceFund_;
        address token = accounts_.settlementToken();
        settlementToken = token;
        _scale = 10 ** (18 - IERC20Metadata(token).decimals());
        Parameters memory p;
        for (
            uint256 i = uint256(RiskParams.Param.LIQUIDATION_FEE);
            i <= uint256(RiskParams.Param.INSURANCE_FLOOR);
            ++i
        ) {
            RiskParams.Param param = RiskParams.Param(i);
            _apply(p, param, riskConfig_.get(param, 0));
        }
        _storeParameters(p);
    }

    // ---------------------------------------------------------------- bids

    /// @inheritdoc ILiquidationEngine
    function liquidate(
        uint256 accountId,
        uint256 fraction,
        int256 priceLimit,
        uint256 bidderAccountId,
        uint256 expectedNonce
    ) external nonReentrant returns (int256 price) {
        IMarginAccounts.Account memory target = accounts.account(accountId);
        if (target.owner == address(0)) revert UnknownAccount(accountId);
        if (target.nonce != expectedNonce) revert NonceMismatch(accountId, expectedNonce, target.nonce);
        if (fraction == 0 || fraction > WAD) revert InvalidFraction(fraction);
        IMarginAccounts.Account memory bidder = accounts.authorize(bidderAccountId, msg.sender);
        if (bidder.owner == target.owner) revert SelfLiquidation(accountId, bidderAccountId);

        Bid memory b = _open(accountId);
        if (b.starting) _admit(b);
        bool restores = _checkFraction(b, fraction);
        price = _price(b, fraction);
        if (price > priceLimit) revert PriceLimitExceeded(price, priceLimit);
        if (b.starting) _emitStarted(accountId, b);
        else if (b.refreshed) emit AuctionRestarted(accountId, b.a.curveStart, b.a.version);
        _fill(accountId, bidderAccountId, fraction, price, b);
        marginEngine.checkInitialMargin(bidderAccountId);

        // A bid of the buffer fraction restores the buffer margin by construction, and one of
        // everything empties the account; only a smaller bid on a solvent account needs a second
        // valuation (an insolvent account keeps (1 - f) of its negative equity).
        bool ended = restores || fraction == WAD || (b.v.markToMarket > 0 && _restored(accountId, b.p));
        if (ended) {
            emit AuctionEnded(accountId);
            if (!b.starting) delete _auctions[accountId];
        } else {
            // What is left of the account, rounded down (a smaller cap for later insolvent bids).
            b.a.remaining -= uint64(uint256(b.a.remaining).mulWadUp(fraction));
            _auctions[accountId] = b.a;
        }
    }

    /// @inheritdoc ILiquidationEngine
    function startAuction(uint256 accountId) external nonReentrant {
        if (accounts.account(accountId).owner == address(0)) revert UnknownAccount(accountId);
        Bid memory b = _open(accountId);
        if (!b.starting) revert AuctionRunning(accountId);
        _admit(b);
        _emitStarted(accountId, b);
        _auctions[accountId] = b.a;
        if (b.fee != 0) accounts.settleLiquidation(accountId, 0, 0, 0, 0, b.fee, 0);
    }

    /// @inheritdoc ILiquidationEngine
    function terminateAuction(uint256 accountId) external nonReentrant {
        Auction memory a = _auctions[accountId];
        if (a.startTime == 0) revert NoAuction(accountId);
        IMarginEngine.Valuation memory v = marginEngine.valuation(accountId);
        uint256 bufferMargin = v.maintenanceMargin.mulWadUp(WAD + _params[a.version].buffer);
        if (v.equity < int256(bufferMargin)) revert BelowBufferMargin(accountId, v.equity, bufferMargin);
        delete _auctions[accountId];
        emit AuctionEnded(accountId);
    }

    /// @inheritdoc ILiquidationEngine
    function restartAuction(uint256 accountId) external nonReentrant {
        Auction memory a = _auctions[accountId];
        if (a.startTime == 0) revert NoAuction(accountId);
        uint256 stallsAt = _stallsAt(a, _params[a.version]);
        IMarginEngine.Valuation memory v = marginEngine.valuation(accountId);
        // A stalled auction, or one whose account is back at or above MM (its discount clock
        // must not carry time spent above MM into a later fall).
        if (block.timestamp < stallsAt && int256(v.maintenanceMargin) > v.equity) {
            revert AuctionNotStalled(accountId, stallsAt);
        }
        uint32 current = version;
        // What bids took stays taken: a restart does not renew the insolvent payout's cap.
        a = Auction(
            uint40(block.timestamp),
            uint40(block.timestamp - _healthOffset(_params[current], v)),
            current,
            a.remaining
        );
        _auctions[accountId] = a;
        emit AuctionRestarted(accountId, a.curveStart, current);
    }

    /// @inheritdoc IRiskConfigGlobalListener
    function onGlobalParameterChanged(RiskParams.Param param, uint256 value) external {
        if (msg.sender != address(riskConfig)) revert NotRiskConfig(msg.sender);
        Parameters memory p = _params[version];
        _apply(p, param, value);
        _storeParameters(p);
    }

    /// @inheritdoc ILiquidationEngine
    function syncParameters() external returns (bool changed) {
        Parameters memory p = _readParameters();
        changed = keccak256(abi.encode(p)) != keccak256(abi.encode(_params[version]));
        if (changed) _storeParameters(p);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc ILiquidationEngine
    function isLiquidatable(uint256 accountId) external view returns (bool) {
        IMarginEngine.Valuation memory v = marginEngine.valuation(accountId);
        if (int256(v.maintenanceMargin) <= v.equity) return false;
        return
            _auctions[accountId].startTime != 0 || v.optionPositions == 0 || options.settlementPending(accountId) == 0;
    }

    /// @dev No auction starts while the account holds a series just past expiry whose settlement
    ///      round is not proved yet: its valuation rests on the current price, not the payoff.
    function _checkNotPendingSettlement(uint256 accountId, IMarginEngine.Valuation memory v) internal view {
        if (v.optionPositions == 0) return;
        uint32 seriesId = options.settlementPending(accountId);
        if (seriesId != 0) revert SettlementPending(accountId, seriesId);
    }

    /// @inheritdoc ILiquidationEngine
    function quote(uint256 accountId, uint256 fraction) external view returns (Quote memory q) {
        if (fraction > WAD) revert InvalidFraction(fraction);
        Bid memory b = _open(accountId);
        q.auctionRunning = !b.starting;
        q.insolvent = b.v.markToMarket <= 0;
        q.equity = b.v.equity;
        q.maintenanceMargin = b.v.maintenanceMargin;
        q.bufferMargin = b.buffer;
        q.markToMarket = b.v.markToMarket;
        q.fee = b.fee;
        q.discount = b.discount;
        q.payout = b.payout;
        q.maxFraction = _maxFraction(b);
        if (fraction != 0) q.price = _price(b, fraction);
    }

    /// @inheritdoc ILiquidationEngine
    function maxFraction(uint256 accountId) external view returns (uint256) {
        return _maxFraction(_open(accountId));
    }

    /// @inheritdoc ILiquidationEngine
    function auctionOf(
        uint256 accountId
    ) external view returns (Auction memory auction, Parameters memory parameters_, uint256 stallsAt) {
        auction = _auctions[accountId];
        if (auction.startTime == 0) return (auction, parameters_, 0);
        parameters_ = _params[auction.version];
        stallsAt = _stallsAt(auction, parameters_);
    }

    /// @inheritdoc ILiquidationEngine
    function parameters() external view returns (uint32, Parameters memory) {
        return (version, _params[version]);
    }

    // ---------------------------------------------------------------- internals: pricing

    /// @dev Values the account and reads its auction, or the auction a bid would start now (with
    ///      the fee already taken from equity and MtM).
    function _open(uint256 accountId) internal view returns (Bid memory b) {
        b.v = marginEngine.valuation(accountId);
        b.a = _auctions[accountId];
        if (b.a.startTime == 0) {
            if (int256(b.v.maintenanceMargin) <= b.v.equity) {
                revert NotLiquidatable(accountId, b.v.equity, b.v.maintenanceMargin);
            }
            _checkNotPendingSettlement(accountId, b.v);
            uint32 current = version;
            b.p = _params[current];
            b.a = Auction(
                uint40(block.timestamp),
                uint40(block.timestamp - _healthOffset(b.p, b.v)),
                current,
                uint64(WAD)
            );
            b.starting = true;
            b.fee = _fee(b.p, b.v);
            int256 feeValue = int256(b.fee * _scale);
            b.v.equity -= feeValue;
            b.v.markToMarket -= feeValue;
        } else {
            b.p = _params[b.a.version];
            if (b.v.equity >= int256(b.v.maintenanceMargin)) {
                // Back at or above MM: a bid prices from a fresh curve (and stores it), never with
                // the discount the auction built up while the account was below.
                b.a.startTime = uint40(block.timestamp);
                b.a.curveStart = uint40(block.timestamp);
                b.refreshed = true;
            }
        }
        b.buffer = b.v.maintenanceMargin.mulWadUp(WAD + b.p.buffer);
        b.gross = _grossValue(b.v);
        if (b.v.markToMarket > 0) b.discount = _discount(b.p, b.a);
        else b.payout = _payout(b.p, b.a, uint256(-b.v.markToMarket), b.gross);
    }

    /// @dev MM x fee rate in units, rounded up, but only out of positive MtM (rounded down): the
    ///      fee comes after the account's equity in the order of loss, never before the fund.
    function _fee(Parameters memory p, IMarginEngine.Valuation memory v) internal view returns (uint256 fee) {
        if (v.markToMarket <= 0) return 0;
        fee = v.maintenanceMargin.mulWadUp(p.fee).divUp(_scale);
        uint256 available = uint256(v.markToMarket) / _scale;
        if (fee > available) fee = available;
    }

    /// @dev How far into the fast phase the curve starts: FAST_DURATION x (MM - equity) / MM.
    function _healthOffset(Parameters memory p, IMarginEngine.Valuation memory v) internal pure returns (uint256) {
        uint256 mm = v.maintenanceMargin;
        if (v.equity <= 0 || mm == 0) return p.fastDuration;
        if (uint256(v.equity) >= mm) return 0; // a restart of an account that recovered
        return (uint256(p.fastDuration) * (mm - uint256(v.equity))) / mm;
    }

    /// @dev The solvent discount now: linear from start to fast over the fast phase, from fast to
    ///      the cap over the slow phase, then the cap; rounded down (the trader's side).
    function _discount(Parameters memory p, Auction memory a) internal view returns (uint256) {
        uint256 t = block.timestamp - a.curveStart;
        if (t < p.fastDuration) return p.startDiscount + ((p.fastDiscount - p.startDiscount) * t) / p.fastDuration;
        t -= p.fastDuration;
        if (t < p.slowDuration) return p.fastDiscount + ((p.discountCap - p.fastDiscount) * t) / p.slowDuration;
        return p.discountCap;
    }

    /// @dev The insolvent payment for the whole account now: (deficit + incentive) x
    ///      min(1, elapsed / ramp), with incentive = min(cap x remaining, discountCap x gross), each
    ///      term rounded down (the fund's side). The incentive scales with the account, like the
    ///      solvent discount: a flat cap per auction let dust accounts farm the fund.
    function _payout(
        Parameters memory p,
        Auction memory a,
        uint256 deficit,
        uint256 gross
    ) internal view returns (uint256) {
        uint256 incentive = uint256(p.insolventPayoutCap).mulWad(a.remaining);
        uint256 proportional = gross.mulWad(p.discountCap);
        if (proportional < incentive) incentive = proportional;
        uint256 full = deficit + incentive;
        uint256 elapsed = block.timestamp - a.startTime;
        return elapsed >= p.insolventRamp ? full : full.mulDiv(elapsed, p.insolventRamp);
    }

    /// @dev Units for `fraction`: the bidder pays fraction x MtM x (1 - d) rounded up, or is paid
    ///      fraction x payout rounded down.
    function _price(Bid memory b, uint256 fraction) internal view returns (int256) {
        if (b.v.markToMarket > 0) {
            uint256 value = uint256(b.v.markToMarket).mulWadUp(fraction).mulWadUp(WAD - b.discount);
            return int256(value.divUp(_scale));
        }
        return -int256(b.payout.mulWad(fraction) / _scale);
    }

    function _stallsAt(Auction memory a, Parameters memory p) internal pure returns (uint256) {
        uint256 curveEnd = uint256(a.curveStart) + p.fastDuration + p.slowDuration;
        uint256 rampEnd = uint256(a.startTime) + p.insolventRamp;
        return (curveEnd > rampEnd ? curveEnd : rampEnd) + p.stallTimeout;
    }

    // ---------------------------------------------------------------- internals: limits

    /// @dev The largest fraction one bid may take now: the buffer fraction, or zero while the
    ///      auction a bid would start does not fit the throughput cap.
    function _maxFraction(Bid memory b) internal view returns (uint256) {
        if (b.starting) {
            (bool fits, , , , ) = _fits(b);
            if (!fits) return 0;
        }
        return _bufferFraction(b);
    }

    /// @dev The fraction that restores the buffer margin BM = MM x (1 + buffer). After a bid of
    ///      f, equity is (1 - f) E + f MtM (1 - d) and MM at most (1 - f) MM (a position's MM
    ///      ratio never grows as it shrinks), so f = (BM - E) / (BM - E + MtM (1 - d)) is enough.
    ///      The numerator is widened by two token units, which leaves equity at least that much
    ///      above BM (covering the realized PnL's rounding to whole units and values' to the wei);
    ///      rounded up, at most 1. Zero at or above BM; everything at or below the dust threshold
    ///      (insolvent accounts included). The bound relies on MM scaling at most linearly with the
    ///      book, true of perps; an instrument whose margin is not (options in a cross account)
    ///      must have the auction re-check BM after such a bid instead of assuming it.
    function _bufferFraction(Bid memory b) internal view returns (uint256) {
        if (b.v.equity >= int256(b.buffer)) return 0;
        if (b.v.markToMarket <= int256(uint256(b.p.dustThreshold))) return WAD;
        uint256 gap = uint256(int256(b.buffer) - b.v.equity);
        uint256 paid = uint256(b.v.markToMarket).mulWad(WAD - b.discount);
        uint256 f = (gap + 2 * _scale).fullMulDivUp(WAD, gap + paid);
        return f < WAD ? f : WAD;
    }

    /// @dev The account's gross value: other collateral + |MtM| + positions' notional (WAD USD).
    ///      The base of the minimum bid and of the insolvent payout's incentive.
    function _grossValue(IMarginEngine.Valuation memory v) internal pure returns (uint256 gross) {
        gross = v.otherCollateral;
        gross += v.markToMarket >= 0 ? uint256(v.markToMarket) : uint256(-v.markToMarket);
        for (uint256 i; i < v.positions.length; ++i) gross += v.positions[i].notional;
    }

    /// @dev The smallest bid: one that takes at least DUST_THRESHOLD of the account's gross value,
    ///      or the largest allowed if smaller. A bid of a few wei would otherwise move the nonce
    ///      for a unit and grief every other bid.
    function _minFraction(Bid memory b, uint256 maxFraction_) internal pure returns (uint256) {
        if (b.gross == 0) return maxFraction_;
        uint256 f = uint256(b.p.dustThreshold).fullMulDivUp(WAD, b.gross);
        return f < maxFraction_ ? f : maxFraction_;
    }

    /// @dev Reverts outside [min, max]; returns whether the bid takes the buffer fraction of a
    ///      solvent account above the dust threshold without options (which restores BM by
    ///      construction).
    function _checkFraction(Bid memory b, uint256 fraction) internal view returns (bool restores) {
        uint256 maxFraction_ = _bufferFraction(b);
        if (fraction > maxFraction_) revert FractionTooLarge(fraction, maxFraction_);
        uint256 minFraction = _minFraction(b, maxFraction_);
        if (fraction < minFraction) revert BidTooSmall(fraction, minFraction);
        // Options: equity counts longs at a haircut while the bidder takes them at full value, so
        // the construction's proof does not hold; such an account is valued again after the bid.
        restores =
            fraction == maxFraction_ &&
            b.v.markToMarket > int256(uint256(b.p.dustThreshold)) &&
            b.v.optionPositions == 0;
    }

    /// @dev Whether the account's notional fits each of its markets' throughput windows: the
    ///      window's used notional plus the account's stays within the cap, or the window is
    ///      still empty (an account larger than the cap takes a window alone). On the first
    ///      market that does not fit: its id, the notional, the room and the window's end.
    function _fits(
        Bid memory b
    ) internal view returns (bool fits, uint32 marketId, uint256 notional, uint256 room, uint256 windowEnd) {
        Parameters storage p = _params[version];
        uint256 window = block.timestamp / p.throughputWindow;
        uint256 cap = p.throughputCap;
        for (uint256 i; i < b.v.positions.length; ++i) {
            Throughput memory t = _throughput[b.v.positions[i].marketId];
            uint256 used = t.window == window ? t.used : 0;
            notional = b.v.positions[i].notional;
            if (used != 0 && used + notional > cap) {
                return (
                    false,
                    b.v.positions[i].marketId,
                    notional,
                    cap > used ? cap - used : 0,
                    (window + 1) * p.throughputWindow
                );
            }
        }
        return (true, 0, 0, 0, 0);
    }

    /// @dev Counts the notional entering the auction in its markets' windows (MakerDAO's Hole:
    ///      the amount entering auctions per window is bounded); reverts when it does not fit.
    ///      Auctions that started are never blocked afterwards, so no discount grows while no bid
    ///      may take the account.
    function _admit(Bid memory b) internal {
        (bool fits, uint32 marketId, uint256 notional, uint256 room, uint256 windowEnd) = _fits(b);
        if (!fits) revert ThroughputCapExceeded(marketId, notional, room, windowEnd);
        uint256 window = block.timestamp / _params[version].throughputWindow;
        for (uint256 i; i < b.v.positions.length; ++i) {
            Throughput storage t = _throughput[b.v.positions[i].marketId];
            uint256 used = t.window == window ? t.used : 0;
            // Notional is at most MAX_POSITION_SIZE x a price below 2^128: far inside 216 bits.
            t.used = uint216(used + b.v.positions[i].notional);
            t.window = uint40(window);
        }
    }

    // ---------------------------------------------------------------- internals: settlement

    /// @dev Moves the positions and collateral and settles the stablecoin: the liquidated account
    ///      realizes what moved, hands over `fraction` of its stablecoin-and-PnL value (all of it
    ///      for a full bid) and receives a solvent price; an insolvent bidder is paid by the fund
    ///      down to its floor, then by the pool.
    function _fill(uint256 accountId, uint256 bidderAccountId, uint256 fraction, int256 price, Bid memory b) internal {
        (int256 fromRealized, int256 toRealized) = b.v.positions.length == 0
            ? (int256(0), int256(0))
            : perps.transferPositions(accountId, bidderAccountId, fraction);
        if (b.v.optionPositions != 0) {
            // Options move at their mark: the liquidated side sells them to the bidder at the value
            // mark-to-market counted, so the stablecoin share below is the rest of its worth.
            (int256 fromPaid, int256 toPaid) = options.transferPositions(accountId, bidderAccountId, fraction);
            fromRealized += fromPaid;
            toRealized += toPaid;
        }
        int256 moved;
        if (fraction == WAD) {
            moved = accounts.balanceOf(accountId, settlementToken) - int256(b.fee) + fromRealized;
        } else {
            moved = PerpMath.toUnitsDown(
                _mulWadDown(b.v.markToMarket - int256(b.v.otherCollateral), int256(fraction)),
                _scale
            );
        }
        uint256 fundPaid;
        uint256 poolPaid;
        if (price < 0) (fundPaid, poolPaid) = _payInsolvent(accountId, uint256(-price));
        accounts.settleLiquidation(
            accountId,
            bidderAccountId,
            fraction,
            fromRealized - moved + (price > 0 ? price : int256(0)),
            toRealized + moved - price,
            b.fee,
            fundPaid
        );
        emit Liquidated(
            accountId,
            bidderAccountId,
            msg.sender,
            fraction,
            b.v.markToMarket,
            b.discount,
            b.payout,
            price,
            fundPaid,
            poolPaid
        );
    }

    /// @dev The fund pays what it holds above its floor (rounded up to units); the pool the rest.
    function _payInsolvent(uint256 accountId, uint256 due) internal returns (uint256 fundPaid, uint256 poolPaid) {
        uint256 floor = uint256(_params[version].insuranceFloor).divUp(_scale);
        uint256 held = insuranceFund.balance();
        uint256 available = held > floor ? held - floor : 0;
        fundPaid = due < available ? due : available;
        poolPaid = due - fundPaid;
        if (fundPaid != 0) insuranceFund.draw(address(accounts), fundPaid, REASON_INSOLVENT);
        if (poolPaid != 0) emit LossSocialized(accountId, poolPaid);
    }

    /// @dev Whether the account is at or above its buffer margin now.
    function _restored(uint256 accountId, Parameters memory p) internal view returns (bool) {
        IMarginEngine.Valuation memory v = marginEngine.valuation(accountId);
        return v.equity >= int256(v.maintenanceMargin.mulWadUp(WAD + p.buffer));
    }

    function _emitStarted(uint256 accountId, Bid memory b) internal {
        emit AuctionStarted(
            accountId,
            msg.sender,
            b.v.equity,
            b.v.maintenanceMargin,
            b.v.markToMarket,
            b.fee,
            b.a.curveStart,
            b.a.version
        );
    }

    // ---------------------------------------------------------------- internals: parameters

    /// @dev Every global parameter (LIQUIDATION_FEE .. INSURANCE_FLOOR) as RiskConfig holds it.
    function _readParameters() internal view returns (Parameters memory p) {
        for (
            uint256 i = uint256(RiskParams.Param.LIQUIDATION_FEE);
            i <= uint256(RiskParams.Param.INSURANCE_FLOOR);
            ++i
        ) {
            RiskParams.Param param = RiskParams.Param(i);
            _apply(p, param, riskConfig.get(param, 0));
        }
    }

    function _storeParameters(Parameters memory p) internal {
        uint32 next = version + 1;
        version = next;
        _params[next] = p;
        emit ParametersUpdated(next, p);
    }

    function _apply(Parameters memory p, RiskParams.Param param, uint256 v) internal pure {
        // Every value is bounded by RiskParams far inside its field.
        if (param == RiskParams.Param.LIQUIDATION_FEE) p.fee = uint64(v);
        else if (param == RiskParams.Param.AUCTION_START_DISCOUNT) p.startDiscount = uint64(v);
        else if (param == RiskParams.Param.AUCTION_FAST_DISCOUNT) p.fastDiscount = uint64(v);
        else if (param == RiskParams.Param.AUCTION_DISCOUNT_CAP) p.discountCap = uint64(v);
        else if (param == RiskParams.Param.AUCTION_FAST_DURATION) p.fastDuration = uint32(v);
        else if (param == RiskParams.Param.AUCTION_SLOW_DURATION) p.slowDuration = uint32(v);
        else if (param == RiskParams.Param.AUCTION_STALL_TIMEOUT) p.stallTimeout = uint32(v);
        else if (param == RiskParams.Param.BUFFER_MARGIN) p.buffer = uint64(v);
        else if (param == RiskParams.Param.DUST_THRESHOLD) p.dustThreshold = uint128(v);
        else if (param == RiskParams.Param.INSOLVENT_PAYOUT_CAP) p.insolventPayoutCap = uint128(v);
        else if (param == RiskParams.Param.INSOLVENT_RAMP) p.insolventRamp = uint32(v);
        else if (param == RiskParams.Param.THROUGHPUT_CAP) p.throughputCap = uint128(v);
        else if (param == RiskParams.Param.THROUGHPUT_WINDOW) p.throughputWindow = uint32(v);
        else if (param == RiskParams.Param.INSURANCE_FLOOR) p.insuranceFloor = uint128(v);
        // Any other (future) global parameter is not the engine's: ignored.
    }

    // ---------------------------------------------------------------- internals: signed math

    /// @dev x * y / WAD toward -infinity.
    function _mulWadDown(int256 x, int256 y) internal pure returns (int256 z) {
        int256 product = x * y;
        z = product / int256(WAD);
        if (product < 0 && product % int256(WAD) != 0) --z;
    }
}
