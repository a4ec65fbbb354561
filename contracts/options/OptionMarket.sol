// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";
import {IOptionMarket} from "../interfaces/IOptionMarket.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {IMarginEngine} from "../interfaces/IMarginEngine.sol";
import {IPerpMarket} from "../interfaces/IPerpMarket.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IRiskConfig} from "../interfaces/IRiskConfig.sol";
import {RiskParams} from "../governance/RiskParams.sol";
import {PerpMath} from "../libraries/PerpMath.sol";
import {BlackScholes} from "../libraries/BlackScholes.sol";
import {OraclePolicy} from "../libraries/OraclePolicy.sol";
import {OptionMath} from "../libraries/OptionMath.sol";

/// @title OptionMarket
/// @notice See IOptionMarket. Trades and settlements change positions here; the margin engine then
///         checks the account's final state (every trade ends with `checkTrade`).
contract OptionMarket is IOptionMarket, AccessControl, ReentrancyGuardTransient {
    using FixedPointMathLib for uint256;
    using SafeCast for uint256;
    using SafeCast for int256;

    /// @notice Series per account, all underlyings together (MAX_OPTIONS_PER_ACCOUNT, per
    ///      underlying, is at most this). Bounds the margin check, and so a liquidation: a cross
    ///      book of 16 options on 16 strikes is revalued at 56 scenarios, about 900 Black-Scholes
    ///      prices (see the README's gas section).
    uint256 public constant MAX_POSITIONS = 16;
    /// @notice Portfolio volatility shocks grow for expiries shorter than this: x sqrt(tenor / T).
    uint256 public constant SHOCK_TENOR = 30 days;
    /// @notice ... up to this many times the configured shock (WAD).
    uint256 public constant MAX_TENOR_FACTOR = 3e18;
    /// @notice A volatility-down scenario keeps at least this share of the volatility (WAD).
    uint256 public constant MIN_VOL_SHARE = 0.1e18;
    /// @notice Scenario volatilities stop at the pricing library's bound.
    uint256 public constant MAX_SCENARIO_VOL = 100e18;
    /// @notice No position opens or grows in the last hour before expiry: the last oracle round
    ///         before settlement cannot be traded against.
    uint256 public constant TRADING_CUTOFF = 1 hours;
    /// @notice How long after expiry a series counts as awaiting its settlement round: no
    ///         liquidation starts on its holders meanwhile (see `settlementPending`).
    uint256 public constant SETTLEMENT_WINDOW = 2 hours;
    /// @notice Governance may fix a settlement price itself once this long has passed after
    ///         expiry without a provable oracle round (a stalled feed, a new aggregator phase).
    uint256 public constant SETTLEMENT_GRACE = 1 days;
    bytes32 public constant LISTER_ROLE = keccak256("LISTER_ROLE");
    bytes32 public constant LIQUIDATOR_ROLE = keccak256("LIQUIDATOR_ROLE");
    uint256 internal constant WAD = 1e18;

    IMarginAccounts public immutable accounts;
    IPriceOracle public immutable oracle;
    IRiskConfig public immutable riskConfig;
    IPerpMarket public immutable perps;
    /// @dev 10^(18 - settlement token decimals): WAD USD per settlement-token unit.
    uint256 internal immutable _scale;

    IMarginEngine public marginEngine;
    uint32 public seriesCount;

    mapping(uint32 seriesId => Series) internal _series;
    mapping(bytes32 key => uint32 seriesId) public seriesIdOf;
    mapping(address underlying => uint32[]) internal _live;
    /// @dev Position + 1 in `_live` (live series) or in `_settledOpen` (settled, still held).
    mapping(uint32 seriesId => uint256) internal _listIndex;
    /// @dev Settled series some account still holds: the pool owes (or is owed) their payoff.
    uint32[] internal _settledOpen;
    mapping(address underlying => Exposure) internal _exposure;
    address[] internal _underlyings;
    mapping(uint256 accountId => uint32[]) internal _accountSeries;
    mapping(uint256 accountId => mapping(uint32 seriesId => int256)) internal _positions;

    /// @dev The price and underlying-scoped parameters a valuation reads, once per underlying.
    struct Params {
        address underlying;
        IPriceOracle.Price price;
        uint256 volatility;
        uint256 haircut;
        uint256 mmSpot;
        uint256 mmFloor;
        uint256 imMultiplier;
        uint256 volShockUp;
        uint256 volShockDown;
    }

    /// @dev One trade in progress.
    struct Trade {
        uint256 accountId;
        uint32 seriesId;
        int256 amount;
        int256 oldSize;
        int256 newSize;
        bool increasing;
        uint256 spread;
        uint256 premium;
        uint256 spot;
        BlackScholes.Greeks g;
    }

    constructor(
        address admin,
        IMarginAccounts accounts_,
        IPriceOracle oracle_,
        IRiskConfig riskConfig_,
        IPerpMarket perps_,
        uint8 settlementDecimals
    ) {
        if (
            admin == address(0) ||
            address(accounts_) == address(0) ||
            address(oracle_) == address(0) ||
            address(riskConfig_) == address(0) ||
            address(perps_) == address(0)
        ) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        accounts = accounts_;
        oracle = oracle_;
        riskConfig = riskConfig_;
        perps = perps_;
        _scale = 10 ** (18 - settlementDecimals);
    }

    // ---------------------------------------------------------------- governance

    function setMarginEngine(IMarginEngine engine) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(engine).code.length == 0) revert NotAContract(address(engine));
        emit MarginEngineSet(address(marginEngine), address(engine));
        marginEngine = engine;
    }

    /// @inheritdoc IOptionMarket
    function listSeries(
        address underlying,
        uint256 strike,
        uint256 expiry,
        bool isCall
    ) external onlyRole(LISTER_ROLE) returns (uint32 seriesId) {
        if (underlying == address(0)) revert ZeroAddress();
        if (riskConfig.isPaused(IRiskConfig.Feature.ListSeries, uint256(uint160(underlying)))) {
            revert ListingPaused(underlying);
        }
        uint32 marketId = perps.marketOf(underlying);
        if (marketId == 0) revert NoMarket(underlying);
        IPriceOracle.Price memory p = oracle.getPriceChecked(underlying);
        OraclePolicy.check(p.status, OraclePolicy.Action.IncreaseRisk);
        _checkListing(underlying, strike, expiry, p.price);
        bytes32 key = keccak256(abi.encode(underlying, strike, expiry, isCall));
        if (seriesIdOf[key] != 0) revert SeriesAlreadyListed(seriesIdOf[key]);

        seriesId = ++seriesCount;
        seriesIdOf[key] = seriesId;
        Series storage s = _series[seriesId];
        s.underlying = underlying;
        s.expiry = uint40(expiry);
        s.isCall = isCall;
        s.marketId = marketId;
        s.strike = strike.toUint128();
        uint32[] storage live = _live[underlying];
        if (live.length == 0 && !_known(underlying)) _underlyings.push(underlying);
        live.push(seriesId);
        _listIndex[seriesId] = live.length;
        emit SeriesListed(seriesId, underlying, strike, expiry, isCall);
    }

    function _checkListing(address underlying, uint256 strike, uint256 expiry, uint256 spot) internal view {
        uint256 band = _param(RiskParams.Param.STRIKE_BAND, underlying);
        uint256 minStrike = spot.mulWadUp(WAD - (band < WAD ? band : WAD));
        uint256 maxStrike = spot.mulWad(WAD + band);
        if (strike < minStrike || strike > maxStrike || strike == 0) {
            revert StrikeOutOfBand(strike, minStrike, maxStrike);
        }
        uint256 grid = _param(RiskParams.Param.EXPIRY_GRID, underlying);
        if (expiry % grid != 0) revert ExpiryOffGrid(expiry, grid);
        uint256 latest = block.timestamp + _param(RiskParams.Param.MAX_EXPIRY, underlying);
        if (expiry <= block.timestamp || expiry > latest) revert ExpiryOutOfRange(expiry, block.timestamp + 1, latest);
        uint256 maxLive = _param(RiskParams.Param.MAX_LIVE_SERIES, underlying);
        if (_live[underlying].length >= maxLive) revert TooManyLiveSeries(underlying, maxLive);
    }

    function _known(address underlying) internal view returns (bool) {
        for (uint256 i; i < _underlyings.length; ++i) if (_underlyings[i] == underlying) return true;
        return false;
    }

    // ---------------------------------------------------------------- trading

    /// @inheritdoc IOptionMarket
    function tradeOption(
        uint256 accountId,
        uint32 seriesId,
        int256 amount,
        uint256 premiumLimit
    ) external nonReentrant returns (uint256 premium) {
        if (amount == 0) revert ZeroAmount();
        IMarginAccounts.Account memory acct = accounts.touch(accountId, msg.sender);
        Series memory s = _liveSeries(seriesId);
        _checkAccountMarket(accountId, acct, s);

        Trade memory t;
        t.accountId = accountId;
        t.seriesId = seriesId;
        t.amount = amount;
        t.oldSize = _positions[accountId][seriesId];
        t.newSize = t.oldSize + amount;
        t.increasing =
            _abs(t.newSize) > _abs(t.oldSize) ||
            (t.oldSize > 0 && t.newSize < 0) ||
            (t.oldSize < 0 && t.newSize > 0);

        // Adding risk is cross-checked against the TWAP and refused in Degraded or Down; reducing
        // works in Degraded.
        IPriceOracle.Price memory p;
        if (t.increasing) {
            if (block.timestamp + TRADING_CUTOFF > s.expiry) revert TradingCutoff(seriesId, s.expiry - TRADING_CUTOFF);
            if (riskConfig.isPaused(IRiskConfig.Feature.OpenPosition, s.marketId)) revert OpeningPaused(s.underlying);
            p = oracle.getPriceChecked(s.underlying);
            OraclePolicy.check(p.status, OraclePolicy.Action.IncreaseRisk);
        } else {
            p = oracle.getPrice(s.underlying);
            OraclePolicy.check(p.status, OraclePolicy.Action.ReduceRisk);
        }
        // Priced at the end of the bracket worse for the trader: a buyer pays the higher value.
        t.spot = (s.isCall == (amount > 0)) ? p.high : p.low;
        t.g = BlackScholes.greeks(
            t.spot,
            s.strike,
            riskConfig.impliedVolatility(s.underlying),
            s.expiry - block.timestamp,
            s.isCall
        );
        _book(s, t);
        premium = t.premium;
        if (amount > 0 ? premium > premiumLimit : premium < premiumLimit) {
            revert PremiumLimitExceeded(premium, premiumLimit);
        }
        if (premium != 0) accounts.settle(accountId, amount > 0 ? -int256(premium) : int256(premium), 0);
        emit OptionTraded(accountId, seriesId, amount, t.g.price, t.spread, premium, t.newSize);
        marginEngine.checkTrade(accountId, t.increasing);
    }

    /// @dev Positions, open interest and caps, the pool's exposure and the spread it prices.
    function _book(Series memory s, Trade memory t) internal {
        (uint256 longOi, uint256 shortOi) = _openInterest(s, t.oldSize, t.newSize);
        if (t.increasing) {
            uint256 cap = _param(RiskParams.Param.MAX_SERIES_OI, s.underlying);
            if (t.newSize > 0 && longOi > cap) revert SeriesOpenInterestCapExceeded(t.seriesId, true, longOi, cap);
            if (t.newSize < 0 && shortOi > cap) revert SeriesOpenInterestCapExceeded(t.seriesId, false, shortOi, cap);
        }
        Series storage stored = _series[t.seriesId];
        stored.longOpenInterest = uint128(longOi);
        stored.shortOpenInterest = uint128(shortOi);
        _setPosition(t.accountId, t.seriesId, s.underlying, t.oldSize, t.newSize, t.increasing);
        t.spread = _bookExposure(s, stored, int256(longOi) - int256(shortOi), t.g);
        t.premium = OptionMath.premium(t.amount, OptionMath.tradePrice(t.amount, t.g.price, t.spot), t.spread, _scale);
    }

    /// @dev The series' traders' Greeks at this trade's price replace what it contributed before;
    ///      the pool's exposure may pass its cap only toward zero. Returns the spread.
    function _bookExposure(
        Series memory s,
        Series storage stored,
        int256 net,
        BlackScholes.Greeks memory g
    ) internal returns (uint256 spread) {
        int256 traderDelta = _mulWadSigned(net, g.delta);
        int256 traderVega = _mulWadSigned(net, int256(g.vega));
        Exposure memory e = _exposure[s.underlying];
        int256 newDelta = int256(e.netDelta) + s.traderDelta - traderDelta;
        int256 newVega = int256(e.netVega) + s.traderVega - traderVega;
        uint256 maxDelta = _param(RiskParams.Param.MAX_NET_DELTA, s.underlying);
        uint256 maxVega = _param(RiskParams.Param.MAX_NET_VEGA, s.underlying);
        if (_abs(newDelta) > maxDelta && _abs(newDelta) > _abs(e.netDelta)) {
            revert NetDeltaCapExceeded(s.underlying, newDelta, maxDelta);
        }
        if (_abs(newVega) > maxVega && _abs(newVega) > _abs(e.netVega)) {
            revert NetVegaCapExceeded(s.underlying, newVega, maxVega);
        }
        stored.traderDelta = traderDelta.toInt128();
        stored.traderVega = traderVega.toInt128();
        _exposure[s.underlying] = Exposure(newDelta.toInt128(), newVega.toInt128());
        emit ExposureUpdated(s.underlying, newDelta, newVega);
        // Charged at the larger of the exposure before and after: a trade that brings the pool's
        // exposure down pays the spread of the exposure it found, not the one it leaves.
        spread = _spread(
            s.underlying,
            _abs(newDelta) > _abs(e.netDelta) ? newDelta : e.netDelta,
            _abs(newVega) > _abs(e.netVega) ? newVega : e.netVega,
            maxDelta,
            maxVega
        );
    }

    /// @dev OptionMath.spread with the underlying's OPTION_SPREAD_BASE and OPTION_SPREAD_SLOPE.
    function _spread(
        address underlying,
        int256 netDelta,
        int256 netVega,
        uint256 maxDelta,
        uint256 maxVega
    ) internal view returns (uint256) {
        return
            OptionMath.spread(
                _param(RiskParams.Param.OPTION_SPREAD_BASE, underlying),
                _param(RiskParams.Param.OPTION_SPREAD_SLOPE, underlying),
                netDelta,
                netVega,
                maxDelta,
                maxVega
            );
    }

    /// @dev Traders' open interest after one account's size moves from `oldSize` to `newSize`.
    function _openInterest(
        Series memory s,
        int256 oldSize,
        int256 newSize
    ) internal pure returns (uint256 longOi, uint256 shortOi) {
        longOi = s.longOpenInterest;
        shortOi = s.shortOpenInterest;
        if (oldSize > 0) longOi -= uint256(oldSize);
        else shortOi -= uint256(-oldSize);
        if (newSize > 0) longOi += uint256(newSize);
        else shortOi += uint256(-newSize);
        if (longOi > type(uint128).max || shortOi > type(uint128).max) revert ValueOverflow();
    }

    /// @dev Stores the size and keeps the account's list of series (adding one counts against
    ///      MAX_OPTIONS_PER_ACCOUNT on its underlying when `capped`, and always MAX_POSITIONS).
    function _setPosition(
        uint256 accountId,
        uint32 seriesId,
        address underlying,
        int256 oldSize,
        int256 newSize,
        bool capped
    ) internal {
        _positions[accountId][seriesId] = newSize;
        uint32[] storage list = _accountSeries[accountId];
        if (oldSize == 0 && newSize != 0) {
            uint256 n = list.length;
            if (n >= MAX_POSITIONS) revert TooManyOptions(accountId, MAX_POSITIONS);
            if (capped) {
                uint256 max = _param(RiskParams.Param.MAX_OPTIONS_PER_ACCOUNT, underlying);
                uint256 same = 1;
                for (uint256 i; i < n; ++i) if (_series[list[i]].underlying == underlying) ++same;
                if (same > max) revert TooManyOptions(accountId, max);
            }
            list.push(seriesId);
        } else if (oldSize != 0 && newSize == 0) {
            uint256 n = list.length;
            for (uint256 i; i < n; ++i) {
                if (list[i] == seriesId) {
                    list[i] = list[n - 1];
                    list.pop();
                    break;
                }
            }
        }
    }

    function _checkAccountMarket(
        uint256 accountId,
        IMarginAccounts.Account memory acct,
        Series memory s
    ) internal pure {
        if (acct.mode == IMarginAccounts.Mode.Isolated && acct.marketId != s.marketId) {
            revert WrongUnderlying(accountId, acct.marketId, s.underlying);
        }
    }

    function _liveSeries(uint32 seriesId) internal view returns (Series memory s) {
        s = _series[seriesId];
        if (s.underlying == address(0)) revert UnknownSeries(seriesId);
        if (block.timestamp >= s.expiry) revert SeriesExpired(seriesId, s.expiry);
    }

    // ---------------------------------------------------------------- settlement

    /// @inheritdoc IOptionMarket
    function settleSeries(uint32 seriesId, uint80 roundId) external nonReentrant {
        Series storage s = _expiredUnsettled(seriesId);
        _settle(seriesId, s, oracle.priceAtOrAfter(s.underlying, s.expiry, roundId), roundId);
    }

    /// @inheritdoc IOptionMarket
    function settleSeriesByGovernance(uint32 seriesId, uint256 price) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Series storage s = _expiredUnsettled(seriesId);
        uint256 opensAt = uint256(s.expiry) + SETTLEMENT_GRACE;
        if (block.timestamp < opensAt) revert SettlementGraceRunning(seriesId, opensAt);
        if (price == 0) revert ZeroAmount();
        _settle(seriesId, s, price, 0);
    }

    function _expiredUnsettled(uint32 seriesId) internal view returns (Series storage s) {
        s = _series[seriesId];
        if (s.underlying == address(0)) revert UnknownSeries(seriesId);
        if (s.settled) revert SeriesAlreadySettled(seriesId);
        if (block.timestamp < s.expiry) revert SeriesNotExpired(seriesId, s.expiry);
    }

    /// @dev Fixes the price, takes the series off the live list and out of the pool's exposure.
    function _settle(uint32 seriesId, Series storage s, uint256 price, uint80 roundId) internal {
        address underlying = s.underlying;
        s.settled = true;
        s.settlementPrice = price.toUint128();
        _removeFrom(_live[underlying], seriesId);
        Exposure memory e = _exposure[underlying];
        int256 netDelta = int256(e.netDelta) + s.traderDelta;
        int256 netVega = int256(e.netVega) + s.traderVega;
        _exposure[underlying] = Exposure(netDelta.toInt128(), netVega.toInt128());
        s.traderDelta = 0;
        s.traderVega = 0;
        if (s.longOpenInterest != 0 || s.shortOpenInterest != 0) {
            _settledOpen.push(seriesId);
            _listIndex[seriesId] = _settledOpen.length;
        }
        emit SeriesSettled(seriesId, price, roundId);
        emit ExposureUpdated(underlying, netDelta, netVega);
    }

    /// @inheritdoc IOptionMarket
    /// @dev No margin check: the margin engine already values a settled position at exactly these
    ///      units, so settling it leaves equity unchanged; an underwater account must settle too.
    function settlePosition(uint256 accountId, uint32 seriesId) external nonReentrant returns (int256 settled) {
        Series memory s = _settlementView(seriesId);
        if (!s.settled) {
            if (s.underlying == address(0)) revert UnknownSeries(seriesId);
            revert SeriesNotSettled(seriesId);
        }
        int256 size = _positions[accountId][seriesId];
        if (size == 0) revert NoPosition(accountId, seriesId);
        settled = _settledUnits(size, _settledPayoff(s));
        (uint256 longOi, uint256 shortOi) = _openInterest(s, size, 0);
        Series storage stored = _series[seriesId];
        stored.longOpenInterest = uint128(longOi);
        stored.shortOpenInterest = uint128(shortOi);
        if (longOi == 0 && shortOi == 0) _removeFrom(_settledOpen, seriesId);
        _setPosition(accountId, seriesId, s.underlying, size, 0, false);
        if (settled != 0) accounts.settle(accountId, settled, 0);
        emit PositionSettled(accountId, seriesId, size, settled);
    }

    /// @dev The series without its Greeks slot (settlement never reads them).
    function _settlementView(uint32 seriesId) internal view returns (Series memory s) {
        Series storage stored = _series[seriesId];
        s.underlying = stored.underlying;
        s.expiry = stored.expiry;
        s.isCall = stored.isCall;
        s.settled = stored.settled;
        s.strike = stored.strike;
        s.settlementPrice = stored.settlementPrice;
        s.longOpenInterest = stored.longOpenInterest;
        s.shortOpenInterest = stored.shortOpenInterest;
    }

    /// @dev Swap-and-pop with the index map.
    function _removeFrom(uint32[] storage list, uint32 seriesId) internal {
        uint256 index = _listIndex[seriesId] - 1;
        uint32 last = list[list.length - 1];
        list[index] = last;
        _listIndex[last] = index + 1;
        list.pop();
        delete _listIndex[seriesId];
    }

    /// @dev A long's payoff rounded down to units, a short's toward -infinity.
    function _settledUnits(int256 size, uint256 payoff) internal view returns (int256) {
        if (size > 0) return int256(uint256(size).mulWad(payoff) / _scale);
        uint256 owed = uint256(-size).mulWadUp(payoff);
        return -int256((owed + _scale - 1) / _scale);
    }

    /// @dev What one unit of a settled series pays.
    function _settledPayoff(Series memory s) internal pure returns (uint256) {
        return OptionMath.payoff(s.isCall, s.strike, s.settlementPrice);
    }

    // ---------------------------------------------------------------- liquidation

    /// @inheritdoc IOptionMarket
    function transferPositions(
        uint256 fromAccountId,
        uint256 toAccountId,
        uint256 fraction
    ) external onlyRole(LIQUIDATOR_ROLE) nonReentrant returns (int256 fromSettled, int256 toSettled) {
        if (fraction == 0 || fraction > WAD) revert InvalidFraction(fraction);
        IMarginAccounts.Account memory bidder = accounts.account(toAccountId);
        uint32[] memory list = _accountSeries[fromAccountId]; // a copy: the loop removes entries
        Params memory c;
        for (uint256 i; i < list.length; ++i) {
            Series memory s = _series[list[i]];
            _checkAccountMarket(toAccountId, bidder, s);
            (int256 fromAmount, int256 toAmount) = _transferOne(s, list[i], fromAccountId, toAccountId, fraction, c);
            fromSettled += fromAmount;
            toSettled += toAmount;
        }
        fromSettled = PerpMath.toUnitsDown(fromSettled, _scale);
        toSettled = PerpMath.toUnitsDown(toSettled, _scale);
    }

    /// @dev One series: the liquidated side sells (or buys back) `fraction` of its position at
    ///      the mark, the bidder buys (or sells) it; WAD amounts each side books.
    function _transferOne(
        Series memory s,
        uint32 seriesId,
        uint256 fromAccountId,
        uint256 toAccountId,
        uint256 fraction,
        Params memory c
    ) internal returns (int256 fromAmount, int256 toAmount) {
        int256 size = _positions[fromAccountId][seriesId];
        int256 moved = fraction == WAD ? size : (size * int256(fraction)) / int256(WAD);
        if (moved == 0) return (0, 0);
        uint256 unit = _markUnit(s, size > 0, c);
        uint256 amount = _abs(moved);
        int256 up = int256(amount.mulWadUp(unit));
        int256 down = int256(amount.mulWad(unit));
        (fromAmount, toAmount) = moved > 0 ? (down, -up) : (-up, down);
        _move(s, seriesId, fromAccountId, toAccountId, moved);
        emit OptionLiquidated(fromAccountId, toAccountId, seriesId, moved, unit);
    }

    function _move(
        Series memory s,
        uint32 seriesId,
        uint256 fromAccountId,
        uint256 toAccountId,
        int256 moved
    ) internal {
        int256 fromOld = _positions[fromAccountId][seriesId];
        int256 toOld = _positions[toAccountId][seriesId];
        (uint256 longOi, uint256 shortOi) = _openInterest(s, fromOld, fromOld - moved);
        s.longOpenInterest = uint128(longOi);
        s.shortOpenInterest = uint128(shortOi);
        (longOi, shortOi) = _openInterest(s, toOld, toOld + moved);
        Series storage stored = _series[seriesId];
        stored.longOpenInterest = uint128(longOi);
        stored.shortOpenInterest = uint128(shortOi);
        if (s.settled && longOi == 0 && shortOi == 0) _removeFrom(_settledOpen, seriesId);
        _setPosition(fromAccountId, seriesId, s.underlying, fromOld, fromOld - moved, false);
        _setPosition(toAccountId, seriesId, s.underlying, toOld, toOld + moved, false);
    }

    // ---------------------------------------------------------------- exposure

    /// @inheritdoc IOptionMarket
    function refreshExposure(address underlying) external nonReentrant {
        uint32[] memory live = _live[underlying];
        IPriceOracle.Price memory p = oracle.getPrice(underlying);
        if (p.status == IPriceOracle.Status.Down) revert PriceDown(underlying);
        uint256 volatility = riskConfig.impliedVolatility(underlying);
        int256 netDelta;
        int256 netVega;
        for (uint256 i; i < live.length; ++i) {
            Series storage s = _series[live[i]];
            int256 net = int256(uint256(s.longOpenInterest)) - int256(uint256(s.shortOpenInterest));
            uint256 expiry = s.expiry;
            uint256 remaining = expiry > block.timestamp ? expiry - block.timestamp : 0;
            BlackScholes.Greeks memory g = BlackScholes.greeks(p.price, s.strike, volatility, remaining, s.isCall);
            int256 traderDelta = _mulWadSigned(net, g.delta);
            int256 traderVega = _mulWadSigned(net, int256(g.vega));
            s.traderDelta = traderDelta.toInt128();
            s.traderVega = traderVega.toInt128();
            netDelta -= traderDelta;
            netVega -= traderVega;
        }
        _exposure[underlying] = Exposure(netDelta.toInt128(), netVega.toInt128());
        emit ExposureUpdated(underlying, netDelta, netVega);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IOptionMarket
    function accountRisk(uint256 accountId) external view returns (OptionRisk[] memory risks) {
        uint32[] memory list = _accountSeries[accountId];
        risks = new OptionRisk[](list.length);
        Params memory c;
        for (uint256 i; i < list.length; ++i) risks[i] = _risk(accountId, list[i], c);
    }

    /// @inheritdoc IOptionMarket
    function settlementPending(uint256 accountId) external view returns (uint32) {
        uint32[] memory list = _accountSeries[accountId];
        for (uint256 i; i < list.length; ++i) {
            Series storage s = _series[list[i]];
            uint256 expiry = s.expiry;
            if (!s.settled && block.timestamp >= expiry && block.timestamp < expiry + SETTLEMENT_WINDOW) return list[i];
        }
        return 0;
    }

    /// @inheritdoc IOptionMarket
    function accountSeries(uint256 accountId) external view returns (uint32[] memory) {
        return _accountSeries[accountId];
    }

    /// @inheritdoc IOptionMarket
    function positionOf(uint256 accountId, uint32 seriesId) external view returns (int256) {
        return _positions[accountId][seriesId];
    }

    /// @inheritdoc IOptionMarket
    function series(uint32 seriesId) external view returns (Series memory) {
        return _series[seriesId];
    }

    /// @inheritdoc IOptionMarket
    function exposureOf(address underlying) external view returns (Exposure memory) {
        return _exposure[underlying];
    }

    /// @inheritdoc IOptionMarket
    function liveSeries(address underlying) external view returns (uint32[] memory) {
        return _live[underlying];
    }

    /// @inheritdoc IOptionMarket
    function settledOpenSeries() external view returns (uint32[] memory) {
        return _settledOpen;
    }

    /// @inheritdoc IOptionMarket
    function underlyings() external view returns (address[] memory) {
        return _underlyings;
    }

    // ---------------------------------------------------------------- internals: valuation

    function _risk(uint256 accountId, uint32 seriesId, Params memory c) internal view returns (OptionRisk memory r) {
        Series memory s = _series[seriesId];
        r.seriesId = seriesId;
        r.underlying = s.underlying;
        r.isCall = s.isCall;
        r.strike = s.strike;
        int256 size = _positions[accountId][seriesId];
        r.size = size;
        if (s.settled) {
            r.settled = true;
            r.price = IPriceOracle.Price(
                s.settlementPrice,
                s.settlementPrice,
                s.settlementPrice,
                IPriceOracle.Status.Ok
            );
            r.value = _settledUnits(size, _settledPayoff(s)) * int256(_scale);
            r.equityValue = r.value;
            return r;
        }
        _load(c, s.underlying);
        r.price = c.price;
        r.secondsToExpiry = s.expiry > block.timestamp ? s.expiry - block.timestamp : 0;
        r.volatility = c.volatility;
        bool long = size > 0;
        // The end of the bracket worse for the holder: a long call at low, a short call at high.
        uint256 spot = (s.isCall == long) ? r.price.low : r.price.high;
        uint256 unit = BlackScholes.price(spot, s.strike, c.volatility, r.secondsToExpiry, s.isCall);
        uint256 amount = _abs(size);
        if (long) {
            // Expired and not settled yet, it is valued at intrinsic value like a short (the margin
            // engine keeps it out of every IM check: its payoff is not proved yet).
            r.value = int256(amount.mulWad(unit));
            r.equityValue = int256(amount.mulWad(unit).mulWad(WAD - c.haircut));
        } else {
            r.value = -int256(amount.mulWadUp(unit));
            r.equityValue = r.value;
            r.maintenanceMargin = amount.mulWadUp(_shortTerm(s, spot, unit, c));
            r.initialMargin = r.maintenanceMargin.mulWadUp(c.imMultiplier);
        }
        r.spotShock = c.mmSpot;
        r.imMultiplier = c.imMultiplier;
        uint256 factor = _tenorFactor(r.secondsToExpiry);
        r.volatilityUp = c.volatility.mulWadUp(WAD + c.volShockUp.mulWadUp(factor));
        if (r.volatilityUp > MAX_SCENARIO_VOL) r.volatilityUp = MAX_SCENARIO_VOL;
        uint256 downShock = c.volShockDown.mulWadUp(factor);
        r.volatilityDown = c.volatility.mulWad(downShock >= WAD - MIN_VOL_SHARE ? MIN_VOL_SHARE : WAD - downShock);
    }

    /// @dev What a short needs per unit beyond its mark (the exchange-standard static formula):
    ///      call: max(a x S - OTM, floor x S), OTM = max(K - S, 0);
    ///      put: min(max(a x S - OTM, floor x K), K - mark), OTM = max(S - K, 0), so that mark plus
    ///      requirement never exceeds the strike, the most a put can lose. Rounded up.
    function _shortTerm(Series memory s, uint256 spot, uint256 mark, Params memory c) internal pure returns (uint256) {
        uint256 shock = spot.mulWadUp(c.mmSpot);
        if (s.isCall) {
            uint256 otm = s.strike > spot ? s.strike - spot : 0;
            uint256 minimum = spot.mulWadUp(c.mmFloor);
            return shock > otm + minimum ? shock - otm : minimum;
        }
        uint256 putOtm = spot > s.strike ? spot - s.strike : 0;
        uint256 putMinimum = uint256(s.strike).mulWadUp(c.mmFloor);
        uint256 term = shock > putOtm + putMinimum ? shock - putOtm : putMinimum;
        uint256 most = s.strike > mark ? s.strike - mark : 0;
        return term < most ? term : most;
    }

    /// @dev sqrt(SHOCK_TENOR / T) within [1, MAX_TENOR_FACTOR], WAD, rounded up.
    function _tenorFactor(uint256 secondsToExpiry) internal pure returns (uint256) {
        if (secondsToExpiry >= SHOCK_TENOR) return WAD;
        // T below SHOCK_TENOR / 9 gives a factor of 3 or more.
        if (secondsToExpiry * 9 <= SHOCK_TENOR) return MAX_TENOR_FACTOR;
        uint256 ratio = (SHOCK_TENOR * WAD * WAD + secondsToExpiry - 1) / secondsToExpiry;
        uint256 root = FixedPointMathLib.sqrt(ratio);
        if (root * root < ratio) ++root;
        return root;
    }

    /// @dev The holder-side mark of one unit (the settlement payoff once settled).
    function _markUnit(Series memory s, bool long, Params memory c) internal view returns (uint256) {
        if (s.settled) return _settledPayoff(s);
        _load(c, s.underlying);
        IPriceOracle.Price memory p = c.price;
        OraclePolicy.check(p.status, OraclePolicy.Action.Liquidate);
        uint256 remaining = s.expiry > block.timestamp ? s.expiry - block.timestamp : 0;
        return BlackScholes.price((s.isCall == long) ? p.low : p.high, s.strike, c.volatility, remaining, s.isCall);
    }

    function _load(Params memory c, address underlying) internal view {
        if (c.underlying == underlying) return;
        c.underlying = underlying;
        c.price = oracle.getPrice(underlying);
        if (c.price.status == IPriceOracle.Status.Down) revert PriceDown(underlying);
        c.volatility = riskConfig.impliedVolatility(underlying);
        c.haircut = _param(RiskParams.Param.LONG_OPTION_HAIRCUT, underlying);
        c.mmSpot = _param(RiskParams.Param.SHORT_OPTION_MM_SPOT, underlying);
        c.mmFloor = _param(RiskParams.Param.SHORT_OPTION_MM_FLOOR, underlying);
        c.imMultiplier = _param(RiskParams.Param.OPTION_IM_MULTIPLIER, underlying);
        c.volShockUp = _param(RiskParams.Param.VOL_SHOCK_UP, underlying);
        c.volShockDown = _param(RiskParams.Param.VOL_SHOCK_DOWN, underlying);
    }

    function _param(RiskParams.Param p, address underlying) internal view returns (uint256) {
        return riskConfig.get(p, uint256(uint160(underlying)));
    }

    function _abs(int256 x) internal pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }

    /// @dev x * y / WAD for signed values, toward zero (Greeks: no money moves on them).
    function _mulWadSigned(int256 x, int256 y) internal pure returns (int256) {
        return FixedPointMathLib.sMulWad(x, y);
    }
}
