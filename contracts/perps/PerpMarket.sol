// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";
import {IPerpMarket} from "../interfaces/IPerpMarket.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {IMarginEngine} from "../interfaces/IMarginEngine.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IVolatilityOracle} from "../interfaces/IVolatilityOracle.sol";
import {IRiskConfig, IRiskConfigListener} from "../interfaces/IRiskConfig.sol";
import {ITraderPnlSource} from "../interfaces/ILiquidityPool.sol";
import {RiskParams} from "../governance/RiskParams.sol";
import {PerpMath} from "../libraries/PerpMath.sol";
import {OraclePolicy} from "../libraries/OraclePolicy.sol";

/// @title PerpMarket
/// @notice See IPerpMarket. Trades change positions here; the margin engine then checks the
///         account's final state (every trade ends with `checkTrade`).
contract PerpMarket is IPerpMarket, IRiskConfigListener, ITraderPnlSource, AccessControl, ReentrancyGuardTransient {
    using FixedPointMathLib for uint256;
    using SafeCast for uint256;
    using SafeCast for int256;

    /// @notice Positions per account. Eight market ids pack into one storage slot, and the worst
    ///         margin check (eight positions, each with its own price, volatility and funding
    ///         reads) stays a few hundred thousand gas: a liquidation that moves every position of
    ///         the largest account still fits many times over in a block.
    uint256 public constant MAX_POSITIONS = 8;
    uint256 internal constant WAD = 1e18;
    uint256 internal constant YEAR = 365 days;
    /// @notice Held by the liquidation engine: moves positions from a liquidated account to a bidder.
    bytes32 public constant LIQUIDATOR_ROLE = keccak256("LIQUIDATOR_ROLE");

    IMarginAccounts public immutable accounts;
    IPriceOracle public immutable oracle;
    IVolatilityOracle public immutable volatilityOracle;
    IRiskConfig public immutable riskConfig;
    /// @dev 10^(18 - settlement token decimals): WAD USD per settlement-token unit.
    uint256 internal immutable _settlementScale;

    IMarginEngine public marginEngine;

    mapping(uint32 marketId => address) internal _underlying;
    mapping(address underlying => uint32) public marketOf;
    mapping(uint32 marketId => MarketConfig) internal _configs;
    mapping(uint32 marketId => MarketState) internal _states;
    mapping(uint256 accountId => mapping(uint32 marketId => Position)) internal _positions;
    /// @dev Up to eight non-zero market ids, 32 bits each.
    mapping(uint256 accountId => uint256) internal _accountMarkets;
    uint32[] internal _marketIds;

    /// @dev What a trade does to a position, WAD.
    struct Fill {
        uint256 price;
        int256 realized;
        int256 funding;
        uint256 fee;
        int128 newCost;
    }

    constructor(
        address admin,
        IMarginAccounts accounts_,
        IPriceOracle oracle_,
        IVolatilityOracle volatilityOracle_,
        IRiskConfig riskConfig_,
        uint8 settlementDecimals
    ) {
        if (
            admin == address(0) ||
            address(accounts_) == address(0) ||
            address(oracle_) == address(0) ||
            address(volatilityOracle_) == address(0) ||
            address(riskConfig_) == address(0)
        ) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        accounts = accounts_;
        oracle = oracle_;
        volatilityOracle = volatilityOracle_;
        riskConfig = riskConfig_;
        _settlementScale = 10 ** (18 - settlementDecimals);
    }

    // ---------------------------------------------------------------- governance

    /// @notice Lists a market on `underlying` (an asset the oracle prices). Every market-scoped
    ///         parameter must already be set in RiskConfig; later changes arrive by push.
    function listMarket(uint32 marketId, address underlying) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (underlying == address(0)) revert ZeroAddress();
        if (_underlying[marketId] != address(0)) revert MarketAlreadyListed(marketId);
        uint32 existing = marketOf[underlying];
        if (existing != 0) revert UnderlyingAlreadyListed(underlying, existing);
        _underlying[marketId] = underlying;
        marketOf[underlying] = marketId;
        _marketIds.push(marketId);
        for (uint256 p; p <= uint256(RiskParams.Param.MAX_POSITION_SIZE); ++p) {
            RiskParams.Param param = RiskParams.Param(p);
            _apply(_configs[marketId], param, riskConfig.get(param, marketId));
        }
        _states[marketId].lastFundingTime = uint40(block.timestamp);
        emit MarketListed(marketId, underlying);
        emit MarketConfigUpdated(marketId, _configs[marketId]);
    }

    function setMarginEngine(IMarginEngine engine) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (address(engine).code.length == 0) revert NotAContract(address(engine));
        emit MarginEngineSet(address(marginEngine), address(engine));
        marginEngine = engine;
    }

    /// @inheritdoc IRiskConfigListener
    function onMarketParameterChanged(RiskParams.Param param, uint32 marketId, uint256 value) external {
        if (msg.sender != address(riskConfig)) revert NotRiskConfig(msg.sender);
        if (_underlying[marketId] == address(0)) return; // picked up when the market is listed
        // Funding accrued so far belongs to the old skew scale and velocity.
        if (param >= RiskParams.Param.SKEW_SCALE && param <= RiskParams.Param.MAX_FUNDING_RATE) {
            IPriceOracle.Price memory p = oracle.getPrice(_underlying[marketId]);
            if (p.status != IPriceOracle.Status.Down) _accrue(marketId, p.price);
        }
        MarketConfig storage c = _configs[marketId];
        _apply(c, param, value);
        emit MarketConfigUpdated(marketId, c);
    }

    // ---------------------------------------------------------------- trading

    /// @inheritdoc IPerpMarket
    function modifyPosition(
        uint256 accountId,
        uint32 marketId,
        int256 sizeDelta,
        uint256 priceLimit
    ) external nonReentrant returns (uint256 fillPrice) {
        if (sizeDelta == 0) revert ZeroSizeDelta();
        IMarginAccounts.Account memory acct = accounts.touch(accountId, msg.sender);
        if (acct.mode == IMarginAccounts.Mode.Isolated && acct.marketId != marketId) {
            revert WrongMarket(accountId, acct.marketId, marketId);
        }
        address underlying = _underlying[marketId];
        if (underlying == address(0)) revert UnknownMarket(marketId);

        int256 oldSize = _positions[accountId][marketId].size;
        int256 newSize = oldSize + sizeDelta;
        bool increasing = _abs(newSize) > _abs(oldSize) || (oldSize > 0 && newSize < 0) || (oldSize < 0 && newSize > 0);

        // Adding risk is cross-checked against the TWAP and refused in Degraded or Down; reducing
        // works in Degraded, at the conservative price for the side being closed.
        IPriceOracle.Price memory p;
        if (increasing) {
            if (riskConfig.isPaused(IRiskConfig.Feature.OpenPosition, marketId)) revert MarketPaused(marketId);
            p = oracle.getPriceChecked(underlying);
            OraclePolicy.check(p.status, OraclePolicy.Action.IncreaseRisk);
        } else {
            p = oracle.getPrice(underlying);
            OraclePolicy.check(p.status, OraclePolicy.Action.ReduceRisk);
        }
        fillPrice = _execute(accountId, marketId, sizeDelta, priceLimit, increasing, p);
        marginEngine.checkTrade(accountId, increasing);
    }

    /// @dev The trade itself: funding to now, fill, fee, realized PnL, caps, storage, settlement.
    function _execute(
        uint256 accountId,
        uint32 marketId,
        int256 sizeDelta,
        uint256 priceLimit,
        bool increasing,
        IPriceOracle.Price memory p
    ) internal returns (uint256) {
        MarketConfig memory c = _configs[marketId];
        MarketState memory s = _accrue(marketId, p.price);
        Position memory pos = _positions[accountId][marketId];
        int256 newSize = pos.size + sizeDelta;

        Fill memory f;
        {
            int256 skew = int256(uint256(s.oiLong)) - int256(uint256(s.oiShort));
            f.price = PerpMath.fillPrice(sizeDelta > 0 ? p.high : p.low, skew, sizeDelta, c.skewScale);
            // A premium of -100% or worse: nothing fills at a price of zero.
            if (f.price == 0) revert ZeroFillPrice(marketId);
            if (sizeDelta > 0 ? f.price > priceLimit : f.price < priceLimit) {
                revert PriceLimitExceeded(f.price, priceLimit);
            }
            f.fee = _fee(c, skew, sizeDelta, f.price);
        }
        f.funding = _fundingOwed(pos.size, s.fundingIndex, pos.fundingSnapshot);
        (f.realized, f.newCost) = _reprice(pos.size, pos.cost, sizeDelta, f.price);

        if (increasing) _checkCaps(marketId, c, s, pos.size, newSize);
        _rebook(s, accountId, marketId, pos, newSize, f.newCost);
        _states[marketId] = s;

        int256 settled = _settle(accountId, c, f);
        emit PositionModified(accountId, marketId, sizeDelta, f.price, newSize, f.realized, f.funding, f.fee, settled);
        return f.price;
    }

    // ---------------------------------------------------------------- liquidation

    /// @inheritdoc IPerpMarket
    function transferPositions(
        uint256 fromAccountId,
        uint256 toAccountId,
        uint256 fraction
    ) external onlyRole(LIQUIDATOR_ROLE) nonReentrant returns (int256 fromSettled, int256 toSettled) {
        if (fraction == 0 || fraction > WAD) revert InvalidFraction(fraction);
        IMarginAccounts.Account memory bidder = accounts.account(toAccountId);
        uint256 set = _accountMarkets[fromAccountId]; // a copy: the loop may remove ids from storage
        uint256 n = _count(set);
        for (uint256 i; i < n; ++i) {
            uint32 marketId = uint32(set >> (32 * i));
            if (bidder.mode == IMarginAccounts.Mode.Isolated && bidder.marketId != marketId) {
                revert WrongMarket(toAccountId, bidder.marketId, marketId);
            }
            (int256 fromAmount, int256 toAmount) = _transferPosition(fromAccountId, toAccountId, marketId, fraction);
            fromSettled += fromAmount;
            toSettled += toAmount;
        }
        fromSettled = PerpMath.toUnitsDown(fromSettled, _settlementScale);
        toSettled = PerpMath.toUnitsDown(toSettled, _settlementScale);
    }

    /// @dev Moves `fraction` of one position (toward zero) at its mark price: the liquidated side
    ///      realizes that part and settles all its funding, the bidder's side opens or nets it at
    ///      the mark (and settles its own funding). Open interest can only stay or fall, so no cap
    ///      is checked: a liquidation is never blocked by a cap. Returns both settlements, WAD.
    function _transferPosition(
        uint256 fromAccountId,
        uint256 toAccountId,
        uint32 marketId,
        uint256 fraction
    ) internal returns (int256 fromAmount, int256 toAmount) {
        IPriceOracle.Price memory p = oracle.getPrice(_underlying[marketId]);
        OraclePolicy.check(p.status, OraclePolicy.Action.Liquidate);
        MarketState memory s = _accrue(marketId, p.price);
        int256 size = _positions[fromAccountId][marketId].size;
        int256 moved = fraction == WAD ? size : (size * int256(fraction)) / int256(WAD);
        if (moved == 0) return (0, 0);
        uint256 mark = size > 0 ? p.low : p.high; // the price the margin engine valued it at
        fromAmount = _moveAtMark(s, fromAccountId, marketId, -moved, mark);
        toAmount = _moveAtMark(s, toAccountId, marketId, moved, mark);
        _states[marketId] = s;
        emit PositionLiquidated(fromAccountId, toAccountId, marketId, moved, mark, fromAmount, toAmount);
    }

    /// @dev One side of a liquidation transfer: no fee, no cap; returns realized PnL - funding.
    function _moveAtMark(
        MarketState memory s,
        uint256 accountId,
        uint32 marketId,
        int256 sizeDelta,
        uint256 mark
    ) internal returns (int256 settled) {
        Position memory pos = _positions[accountId][marketId];
        (int256 realized, int128 newCost) = _reprice(pos.size, pos.cost, sizeDelta, mark);
        settled = realized - _fundingOwed(pos.size, s.fundingIndex, pos.fundingSnapshot);
        _rebook(s, accountId, marketId, pos, pos.size + sizeDelta, newCost);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IPerpMarket
    function accountRisk(uint256 accountId) external view returns (PositionRisk[] memory risks) {
        uint256 set = _accountMarkets[accountId];
        uint256 n = _count(set);
        risks = new PositionRisk[](n);
        for (uint256 i; i < n; ++i) {
            uint32 marketId = uint32(set >> (32 * i));
            risks[i] = _risk(accountId, marketId);
        }
    }

    /// @inheritdoc IPerpMarket
    function accountMarkets(uint256 accountId) external view returns (uint32[] memory ids) {
        uint256 set = _accountMarkets[accountId];
        ids = new uint32[](_count(set));
        for (uint256 i; i < ids.length; ++i) ids[i] = uint32(set >> (32 * i));
    }

    /// @inheritdoc IPerpMarket
    function position(uint256 accountId, uint32 marketId) external view returns (Position memory) {
        return _positions[accountId][marketId];
    }

    /// @inheritdoc IPerpMarket
    function marketConfig(uint32 marketId) external view returns (MarketConfig memory) {
        return _configs[marketId];
    }

    /// @inheritdoc IPerpMarket
    function marketState(uint32 marketId) external view returns (MarketState memory) {
        return _states[marketId];
    }

    /// @inheritdoc IPerpMarket
    function underlyingOf(uint32 marketId) external view returns (address) {
        return _underlying[marketId];
    }

    function marketIds() external view returns (uint32[] memory) {
        return _marketIds;
    }

    /// @inheritdoc IPerpMarket
    function currentFunding(uint32 marketId, uint256 price) external view returns (int256 rate, int256 index) {
        if (_underlying[marketId] == address(0)) revert UnknownMarket(marketId);
        MarketState memory s = _accrued(marketId, price);
        return (s.fundingRate, s.fundingIndex);
    }

    /// @inheritdoc IPerpMarket
    function quoteFillPrice(uint32 marketId, int256 sizeDelta) external view returns (uint256) {
        address underlying = _underlying[marketId];
        if (underlying == address(0)) revert UnknownMarket(marketId);
        // An opening trade's price (cross-checked); a reducing trade fills at this or better.
        IPriceOracle.Price memory p = oracle.getPriceChecked(underlying);
        if (p.status == IPriceOracle.Status.Down) revert PriceDown(underlying);
        MarketState storage s = _states[marketId];
        int256 skew = int256(uint256(s.oiLong)) - int256(uint256(s.oiShort));
        return PerpMath.fillPrice(sizeDelta > 0 ? p.high : p.low, skew, sizeDelta, _configs[marketId].skewScale);
    }

    /// @inheritdoc ITraderPnlSource
    /// @dev Per market: skew x price - sum of costs, minus unsettled funding (skew x index - sum of
    ///      snapshots), at the price that is worse for the pool in Degraded; rounded up (a liability
    ///      of the pool is never understated). Then minus what accounts owe the pool.
    function tradersUnrealizedPnl() external view returns (int256) {
        int256 total;
        uint256 n = _marketIds.length;
        for (uint256 i; i < n; ++i) {
            uint32 id = _marketIds[i];
            MarketState memory s = _states[id];
            if (s.oiLong == 0 && s.oiShort == 0 && s.openCost == 0 && s.fundingSnapshotSum == 0) continue;
            address underlying = _underlying[id];
            IPriceOracle.Price memory p = oracle.getPrice(underlying);
            if (p.status == IPriceOracle.Status.Down) revert PriceDown(underlying);
            int256 skew = int256(uint256(s.oiLong)) - int256(uint256(s.oiShort));
            uint256 price = skew >= 0 ? p.high : p.low;
            (int256 index, ) = _fundingNow(id, p.price);
            total += _mulWadUp(skew, int256(price)) - s.openCost - (_mulWadDown(skew, index) - s.fundingSnapshotSum);
        }
        int256 scale = int256(_settlementScale);
        // Round the traders' claim up to whole settlement-token units.
        int256 units = total >= 0 ? (total + scale - 1) / scale : total / scale;
        return units - int256(accounts.settlementDebt());
    }

    // ---------------------------------------------------------------- internals: valuation

    function _risk(uint256 accountId, uint32 marketId) internal view returns (PositionRisk memory r) {
        address underlying = _underlying[marketId];
        IPriceOracle.Price memory p = oracle.getPrice(underlying);
        if (p.status == IPriceOracle.Status.Down) revert PriceDown(underlying);
        Position memory pos = _positions[accountId][marketId];
        MarketConfig storage c = _configs[marketId];
        (int256 index, ) = _fundingNow(marketId, p.price);
        int256 size = pos.size;
        uint256 mark = size > 0 ? p.low : p.high;
        r.marketId = marketId;
        r.underlying = underlying;
        r.size = size;
        r.price = p;
        r.pnl = PerpMath.pnl(size, 0, mark) - pos.cost - _fundingOwed(size, index, pos.fundingSnapshot);
        uint256 absSize = _abs(size);
        r.notional = absSize.mulWadUp(p.high);
        r.shockRatio = _shockRatio(c, absSize, volatilityOracle.volatility(underlying));
        r.imMultiplier = c.imMultiplier;
    }

    /// @dev max(MM floor, size factor x |size| / max position size, k x sigma x sqrt(horizon / year)),
    ///      each rounded up.
    function _shockRatio(MarketConfig storage c, uint256 absSize, uint256 sigma) internal view returns (uint256 ratio) {
        ratio = c.mmFloor;
        uint256 sizeFactor = c.mmSizeFactor;
        uint256 maxSize = c.maxPositionSize;
        uint256 sizeTerm = maxSize == 0 ? sizeFactor : sizeFactor.fullMulDivUp(absSize, maxSize);
        if (sizeTerm > ratio) ratio = sizeTerm;
        uint256 horizonYears = (uint256(c.liquidationHorizon) * WAD * WAD + YEAR - 1) / YEAR;
        uint256 root = FixedPointMathLib.sqrt(horizonYears);
        if (root * root < horizonYears) ++root;
        uint256 volTerm = uint256(c.volMultiplier).mulWadUp(sigma).mulWadUp(root);
        if (volTerm > ratio) ratio = volTerm;
    }

    // ---------------------------------------------------------------- internals: trading

    /// @dev Maker fee on the part of the trade that brings the skew toward zero, taker fee on the
    ///      rest; WAD USD, rounded up.
    function _fee(MarketConfig memory c, int256 skew, int256 sizeDelta, uint256 price) internal pure returns (uint256) {
        uint256 size = _abs(sizeDelta);
        uint256 makerSize;
        if ((skew > 0 && sizeDelta < 0) || (skew < 0 && sizeDelta > 0)) {
            uint256 absSkew = _abs(skew);
            makerSize = size < absSkew ? size : absSkew;
        }
        uint256 weighted = makerSize * c.makerFee + (size - makerSize) * c.takerFee; // WAD^2 base units
        return weighted.fullMulDivUp(price, WAD * WAD);
    }

    /// @dev Realized PnL of the part of `sizeDelta` that closes the position, and the cost of what
    ///      stays open (plus what opens). The closed part's cost comes off pro rata, rounded toward
    ///      +infinity, and the realized PnL toward -infinity: a trader never realizes a wei more.
    function _reprice(
        int256 size,
        int256 cost,
        int256 sizeDelta,
        uint256 price
    ) internal pure returns (int256 realized, int128 newCost) {
        int256 closing;
        if ((size > 0 && sizeDelta < 0) || (size < 0 && sizeDelta > 0)) {
            closing = _abs(sizeDelta) >= _abs(size) ? -size : sizeDelta;
        }
        int256 opening = sizeDelta - closing;
        int256 remaining = cost;
        if (closing != 0) {
            // cost x |closing| / |size|, toward +infinity (same sign as cost).
            int256 removed = closing == -size ? cost : _mulDivUp(cost, int256(_abs(closing)), int256(_abs(size)));
            remaining = cost - removed;
            // Proceeds of closing: -closing x price, toward -infinity.
            realized = -_mulWadUp(closing, int256(price)) - removed;
        }
        // Opening adds size x price to the cost, toward +infinity.
        newCost = (remaining + (opening == 0 ? int256(0) : _mulWadUp(opening, int256(price)))).toInt128();
    }

    function _checkCaps(
        uint32 marketId,
        MarketConfig memory c,
        MarketState memory s,
        int256 oldSize,
        int256 newSize
    ) internal pure {
        uint256 absNew = _abs(newSize);
        if (absNew > c.maxPositionSize) revert PositionSizeCapExceeded(marketId, absNew, c.maxPositionSize);
        // Open interest after the trade, on the side that grew.
        uint256 oiLong = s.oiLong;
        uint256 oiShort = s.oiShort;
        if (oldSize > 0) oiLong -= uint256(oldSize);
        else oiShort -= _abs(oldSize);
        if (newSize > 0) {
            oiLong += absNew;
            if (oiLong > c.maxOiLong) revert OpenInterestCapExceeded(marketId, true, oiLong, c.maxOiLong);
        } else {
            oiShort += absNew;
            if (oiShort > c.maxOiShort) revert OpenInterestCapExceeded(marketId, false, oiShort, c.maxOiShort);
        }
    }

    function _moveOpenInterest(MarketState memory s, int256 oldSize, int256 newSize) internal pure {
        if (oldSize > 0) s.oiLong -= uint128(uint256(oldSize));
        else if (oldSize < 0) s.oiShort -= uint128(_abs(oldSize));
        if (newSize > 0) s.oiLong += uint256(newSize).toUint128();
        else if (newSize < 0) s.oiShort += _abs(newSize).toUint128();
    }

    /// @dev Books realized PnL - funding - fee into the stablecoin balance, rounded toward
    ///      -infinity to whole token units; the fee's insurance share is paid by the pool.
    function _settle(uint256 accountId, MarketConfig memory c, Fill memory f) internal returns (int256 units) {
        units = PerpMath.toUnitsDown(f.realized - f.funding - int256(f.fee), _settlementScale);
        uint256 toInsurance = f.fee.mulWad(c.feeInsuranceShare) / _settlementScale;
        if (units != 0 || toInsurance != 0) accounts.settle(accountId, units, toInsurance);
    }

    /// @dev Stores a position's new size and cost (funding snapshot at the index) and moves the
    ///      market's open interest, cost and snapshot sums and the account's market set with it.
    function _rebook(
        MarketState memory s,
        uint256 accountId,
        uint32 marketId,
        Position memory pos,
        int256 newSize,
        int128 newCost
    ) internal {
        _updateMarketSet(accountId, marketId, pos.size, newSize);
        _moveOpenInterest(s, pos.size, newSize);
        s.openCost = (int256(s.openCost) - pos.cost + newCost).toInt128();
        s.fundingSnapshotSum = (int256(s.fundingSnapshotSum) -
            _mulWadDown(pos.size, pos.fundingSnapshot) +
            _mulWadDown(newSize, s.fundingIndex)).toInt128();
        _positions[accountId][marketId] = Position({
            size: newSize.toInt128(),
            cost: newCost,
            fundingSnapshot: newSize == 0 ? int128(0) : s.fundingIndex
        });
    }

    function _updateMarketSet(uint256 accountId, uint32 marketId, int256 oldSize, int256 newSize) internal {
        if ((oldSize == 0) == (newSize == 0)) return;
        uint256 set = _accountMarkets[accountId];
        uint256 n = _count(set);
        if (oldSize == 0) {
            if (n == MAX_POSITIONS) revert TooManyPositions(accountId, MAX_POSITIONS);
            _accountMarkets[accountId] = set | (uint256(marketId) << (32 * n));
            return;
        }
        // Remove: move the last id into the removed slot.
        uint256 last = (set >> (32 * (n - 1))) & 0xffffffff;
        for (uint256 i; i < n; ++i) {
            if (uint32(set >> (32 * i)) == marketId) {
                set &= ~(uint256(0xffffffff) << (32 * i));
                set |= last << (32 * i);
                set &= ~(uint256(0xffffffff) << (32 * (n - 1)));
                break;
            }
        }
        _accountMarkets[accountId] = set;
    }

    function _count(uint256 set) internal pure returns (uint256 n) {
        while (n < MAX_POSITIONS && uint32(set >> (32 * n)) != 0) ++n;
    }

    // ---------------------------------------------------------------- internals: funding

    /// @dev Accrues funding to now at `price` and stores it; returns the state.
    function _accrue(uint32 marketId, uint256 price) internal returns (MarketState memory s) {
        s = _accrued(marketId, price);
        MarketState storage stored = _states[marketId];
        if (stored.lastFundingTime != s.lastFundingTime) {
            stored.fundingIndex = s.fundingIndex;
            stored.fundingRate = s.fundingRate;
            stored.lastFundingTime = s.lastFundingTime;
            emit FundingAccrued(
                marketId,
                s.fundingIndex,
                s.fundingRate,
                int256(uint256(s.oiLong)) - int256(uint256(s.oiShort))
            );
        }
    }

    /// @dev The state with funding accrued from the last update to now.
    function _accrued(uint32 marketId, uint256 price) internal view returns (MarketState memory s) {
        s = _states[marketId];
        (int256 index, int256 rate) = _fundingNow(marketId, price);
        s.fundingIndex = index.toInt128();
        s.fundingRate = int64(rate); // |rate| <= MAX_FUNDING_RATE <= 1e18
        s.lastFundingTime = uint40(block.timestamp);
    }

    /// @dev Funding index and rate accrued to now: the rate drifts with the skew (PerpMath velocity
    ///      model) and the index grows by the rate's integral x price. Reads only the slots it needs.
    function _fundingNow(uint32 marketId, uint256 price) internal view returns (int256 index, int256 rate) {
        MarketState storage st = _states[marketId];
        index = st.fundingIndex;
        rate = st.fundingRate;
        uint256 elapsed = block.timestamp - st.lastFundingTime;
        if (elapsed == 0) return (index, rate);
        MarketConfig storage c = _configs[marketId];
        int256 skew = int256(uint256(st.oiLong)) - int256(uint256(st.oiShort));
        int256 velocity = PerpMath.fundingVelocity(skew, c.skewScale, c.maxFundingVelocity);
        int256 rateDays;
        (rate, rateDays) = PerpMath.accrueFunding(rate, velocity, elapsed, c.maxFundingRate);
        index += _mulWadDown(rateDays, int256(price));
    }

    /// @dev What `size` owes in funding since `snapshot`, toward +infinity (positive: pays).
    function _fundingOwed(int256 size, int256 index, int256 snapshot) internal pure returns (int256) {
        return _mulWadUp(size, index - snapshot);
    }

    // ---------------------------------------------------------------- internals: config

    function _apply(MarketConfig storage c, RiskParams.Param p, uint256 v) internal {
        // Every value is bounded by RiskParams far inside its field.
        if (p == RiskParams.Param.MM_FLOOR) c.mmFloor = uint64(v);
        else if (p == RiskParams.Param.MM_SIZE_FACTOR) c.mmSizeFactor = uint64(v);
        else if (p == RiskParams.Param.MM_VOL_MULTIPLIER) c.volMultiplier = uint64(v);
        else if (p == RiskParams.Param.LIQUIDATION_HORIZON) c.liquidationHorizon = uint32(v);
        else if (p == RiskParams.Param.IM_MULTIPLIER) c.imMultiplier = uint64(v);
        else if (p == RiskParams.Param.MAKER_FEE) c.makerFee = uint64(v);
        else if (p == RiskParams.Param.TAKER_FEE) c.takerFee = uint64(v);
        else if (p == RiskParams.Param.FEE_INSURANCE_SHARE) c.feeInsuranceShare = uint64(v);
        else if (p == RiskParams.Param.SKEW_SCALE) c.skewScale = uint128(v);
        else if (p == RiskParams.Param.MAX_FUNDING_VELOCITY) c.maxFundingVelocity = uint64(v);
        else if (p == RiskParams.Param.MAX_FUNDING_RATE) c.maxFundingRate = uint64(v);
        else if (p == RiskParams.Param.MAX_OI_LONG) c.maxOiLong = uint128(v);
        else if (p == RiskParams.Param.MAX_OI_SHORT) c.maxOiShort = uint128(v);
        else c.maxPositionSize = uint128(v); // MAX_POSITION_SIZE: the last market-scoped parameter
    }

    // ---------------------------------------------------------------- internals: signed math

    function _abs(int256 x) internal pure returns (uint256) {
        return x >= 0 ? uint256(x) : uint256(-x);
    }

    /// @dev x * y / WAD toward -infinity.
    function _mulWadDown(int256 x, int256 y) internal pure returns (int256 z) {
        int256 product = x * y;
        z = product / int256(WAD);
        if (product < 0 && product % int256(WAD) != 0) --z;
    }

    /// @dev x * y / WAD toward +infinity.
    function _mulWadUp(int256 x, int256 y) internal pure returns (int256 z) {
        int256 product = x * y;
        z = product / int256(WAD);
        if (product > 0 && product % int256(WAD) != 0) ++z;
    }

    /// @dev x * y / d toward +infinity (d > 0).
    function _mulDivUp(int256 x, int256 y, int256 d) internal pure returns (int256 z) {
        int256 product = x * y;
        z = product / d;
        if (product > 0 && product % d != 0) ++z;
    }
}
