// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";
import {ILiquidationEngine} from "../interfaces/ILiquidationEngine.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {IMarginEngine} from "../interfaces/IMarginEngine.sol";
import {IPerpMarket} from "../interfaces/IPerpMarket.sol";
import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";
import {IRiskConfig, IRiskConfigGlobalListener} from "../interfaces/IRiskConfig.sol";
import {RiskParams} from "../governance/RiskParams.sol";

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
        uint256 fee;
        uint256 buffer;
        uint256 discount;
        uint256 payout;
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
        bool restores = _checkFraction(b, fraction);
        price = _price(b, fraction);
        if (price > priceLimit) revert PriceLimitExceeded(price, priceLimit);
        if (b.starting) _emitStarted(accountId, b);
        _recordThroughput(b, fraction);
        _fill(accountId, bidderAccountId, fraction, price, b);
        marginEngine.checkInitialMargin(bidderAccountId);

        // A bid of the buffer fraction (or more) restores the buffer margin by construction, and
        // one of everything empties the account; only a smaller bid needs a second valuation.
        bool ended = restores || fraction == WAD || _restored(accountId, b.p);
        if (ended) emit AuctionEnded(accountId);
        if (b.starting && !ended) _auctions[accountId] = b.a;
        else if (!b.starting && ended) delete _auctions[accountId];
    }

    /// @inheritdoc ILiquidationEngine
    function startAuction(uint256 accountId) external nonReentrant {
        if (accounts.account(accountId).owner == address(0)) revert UnknownAccount(accountId);
        Bid memory b = _open(accountId);
        if (!b.starting) revert AuctionRunning(accountId);
        // Over the throughput cap, an account waits without an auction: its discount must not
        // grow while no bid may take it.
        (uint256 capFraction, uint32 marketId) = _capFraction(b.v.positions);
        if (capFraction == 0) _revertThroughput(b, marketId, WAD);
        _emitStarted(accountId, b);
        _auctions[accountId] = b.a;
        if (b.fee != 0) accounts.settleLiquidation(accountId, 0, 0, 0, 0, b.fee, 0);
    }

    /// @inheritdoc ILiquidationEngine
    function terminateAuction(uint256 accountId) external nonReentrant {
        Auction memory a = _auctions[accountId];
        if (a.startTime == 0) revert NoAuction(accountId);
        IMarginEngine.Margin memory m = marginEngine.accountMargin(accountId);
        uint256 bufferMargin = m.maintenanceMargin.mulWadUp(WAD + _params[a.version].buffer);
        if (m.equity < int256(bufferMargin)) revert BelowBufferMargin(accountId, m.equity, bufferMargin);
        delete _auctions[accountId];
        emit AuctionEnded(accountId);
    }

    /// @inheritdoc ILiquidationEngine
    function restartAuction(uint256 accountId) external nonReentrant {
        Auction memory a = _auctions[accountId];
        if (a.startTime == 0) revert NoAuction(accountId);
        uint256 stallsAt = _stallsAt(a, _params[a.version]);
        if (block.timestamp < stallsAt) revert AuctionNotStalled(accountId, stallsAt);
        IMarginEngine.Valuation memory v = marginEngine.valuation(accountId);
        uint32 current = version;
        a = Auction(uint40(block.timestamp), uint40(block.timestamp - _healthOffset(_params[current], v)), current);
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

    // ---------------------------------------------------------------- views

    /// @inheritdoc ILiquidationEngine
    function isLiquidatable(uint256 accountId) external view returns (bool) {
        return marginEngine.isLiquidatable(accountId);
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
            uint32 current = version;
            b.p = _params[current];
            b.a = Auction(uint40(block.timestamp), uint40(block.timestamp - _healthOffset(b.p, b.v)), current);
            b.starting = true;
            b.fee = _fee(b.p, b.v);
            int256 feeValue = int256(b.fee * _scale);
            b.v.equity -= feeValue;
            b.v.markToMarket -= feeValue;
        } else {
            b.p = _params[b.a.version];
        }
        b.buffer = b.v.maintenanceMargin.mulWadUp(WAD + b.p.buffer);
        if (b.v.markToMarket > 0) b.discount = _discount(b.p, b.a);
        else b.payout = _payout(b.p, b.a, uint256(-b.v.markToMarket));
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

    /// @dev The insolvent payment for the whole account now: (deficit + cap) x min(1, elapsed /
    ///      ramp), rounded down.
    function _payout(Parameters memory p, Auction memory a, uint256 deficit) internal view returns (uint256) {
        uint256 full = deficit + p.insolventPayoutCap;
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

    function _maxFraction(Bid memory b) internal view returns (uint256) {
        uint256 bufferFraction = _bufferFraction(b);
        (uint256 capFraction, ) = _capFraction(b.v.positions);
        return capFraction < bufferFraction ? capFraction : bufferFraction;
    }

    /// @dev The fraction that restores the buffer margin BM = MM x (1 + buffer). After a bid of
    ///      f, equity is (1 - f) E + f MtM (1 - d) and MM at most (1 - f) MM (a position's MM
    ///      ratio never grows as it shrinks), so f = (BM - E) / (BM - E + MtM (1 - d)) is enough;
    ///      rounded up, with the gap widened by two token units for the rounding of the realized
    ///      PnL to whole units (at most one) and of values to the wei. Everything at or below the
    ///      dust threshold (insolvent accounts included).
    function _bufferFraction(Bid memory b) internal view returns (uint256) {
        if (b.v.markToMarket <= int256(uint256(b.p.dustThreshold))) return WAD;
        if (b.v.equity >= int256(b.buffer)) return 0;
        uint256 gap = uint256(int256(b.buffer) - b.v.equity) + 2 * _scale;
        uint256 paid = uint256(b.v.markToMarket).mulWad(WAD - b.discount);
        return gap.fullMulDivUp(WAD, gap + paid);
    }

    /// @dev The largest fraction the throughput windows leave room for, and the market that binds.
    function _capFraction(
        IPerpMarket.PositionRisk[] memory positions
    ) internal view returns (uint256 fraction, uint32 binding) {
        fraction = WAD;
        Parameters storage p = _params[version];
        uint256 window = block.timestamp / p.throughputWindow;
        uint256 cap = p.throughputCap;
        for (uint256 i; i < positions.length; ++i) {
            uint256 notional = positions[i].notional;
            if (notional == 0) continue;
            uint256 room = _room(positions[i].marketId, window, cap);
            uint256 f = room >= notional ? WAD : room.mulDiv(WAD, notional);
            if (f < fraction) (fraction, binding) = (f, positions[i].marketId);
        }
    }

    function _room(uint32 marketId, uint256 window, uint256 cap) internal view returns (uint256) {
        Throughput memory t = _throughput[marketId];
        uint256 used = t.window == window ? t.used : 0;
        return cap > used ? cap - used : 0;
    }

    /// @dev Reverts past the buffer fraction or the throughput room; returns whether the bid takes
    ///      at least the buffer fraction of a solvent account above the dust threshold.
    function _checkFraction(Bid memory b, uint256 fraction) internal view returns (bool restores) {
        uint256 bufferFraction = _bufferFraction(b);
        (uint256 capFraction, uint32 marketId) = _capFraction(b.v.positions);
        if (fraction > bufferFraction) {
            revert FractionTooLarge(fraction, capFraction < bufferFraction ? capFraction : bufferFraction);
        }
        if (fraction > capFraction) _revertThroughput(b, marketId, fraction);
        restores = fraction == bufferFraction && b.v.markToMarket > int256(uint256(b.p.dustThreshold));
    }

    function _revertThroughput(Bid memory b, uint32 marketId, uint256 fraction) internal view {
        Parameters storage p = _params[version];
        uint256 window = block.timestamp / p.throughputWindow;
        uint256 notional;
        for (uint256 i; i < b.v.positions.length; ++i) {
            if (b.v.positions[i].marketId == marketId) notional = b.v.positions[i].notional.mulWadUp(fraction);
        }
        revert ThroughputCapExceeded(
            marketId,
            notional,
            _room(marketId, window, p.throughputCap),
            (window + 1) * p.throughputWindow
        );
    }

    function _recordThroughput(Bid memory b, uint256 fraction) internal {
        IPerpMarket.PositionRisk[] memory positions = b.v.positions;
        if (positions.length == 0) return;
        uint256 window = block.timestamp / _params[version].throughputWindow;
        for (uint256 i; i < positions.length; ++i) {
            Throughput storage t = _throughput[positions[i].marketId];
            uint256 used = t.window == window ? t.used : 0;
            // Bounded by the cap (<= 1e30) that _checkFraction enforced.
            t.used = uint216(used + positions[i].notional.mulWadUp(fraction));
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
        int256 moved;
        if (fraction == WAD) {
            moved = accounts.balanceOf(accountId, settlementToken) - int256(b.fee) + fromRealized;
        } else {
            moved = _toUnitsDown(_mulWadDown(b.v.markToMarket - int256(b.v.otherCollateral), int256(fraction)));
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
        IMarginEngine.Margin memory m = marginEngine.accountMargin(accountId);
        return m.equity >= int256(m.maintenanceMargin.mulWadUp(WAD + p.buffer));
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
        else p.insuranceFloor = uint128(v); // INSURANCE_FLOOR: the last global parameter
    }

    // ---------------------------------------------------------------- internals: signed math

    /// @dev WAD USD to settlement-token units, toward -infinity.
    function _toUnitsDown(int256 amount) internal view returns (int256 units) {
        int256 scale = int256(_scale);
        units = amount / scale;
        if (amount < 0 && amount % scale != 0) --units;
    }

    /// @dev x * y / WAD toward -infinity.
    function _mulWadDown(int256 x, int256 y) internal pure returns (int256 z) {
        int256 product = x * y;
        z = product / int256(WAD);
        if (product < 0 && product % int256(WAD) != 0) --z;
    }
}
