// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IPriceOracle} from "./IPriceOracle.sol";

/// @title Keel perpetual futures markets
/// @notice Every perp market lives in this one contract (one per underlying asset), so the margin
///         engine reads all of an account's positions in a single call. The pool is the
///         counterparty of every trade; realized PnL, funding and fees settle into the account's
///         stablecoin balance at every touch of a position.
///         Units: sizes signed WAD base units (positive: long), prices WAD USD per base unit,
///         funding rates WAD per day (positive: longs pay shorts), USD values WAD.
interface IPerpMarket {
    /// @notice Parameters copied from RiskConfig (pushed on every change), packed for one-slot reads.
    struct MarketConfig {
        // slot 1: what every margin check reads
        uint64 mmFloor;
        uint64 mmSizeFactor;
        uint64 volMultiplier;
        uint64 imMultiplier;
        // slot 2
        uint128 maxPositionSize;
        uint32 liquidationHorizon;
        uint64 makerFee;
        // slot 3: funding (read by a margin check only when funding has accrued since the last trade)
        uint128 skewScale;
        uint64 maxFundingVelocity;
        uint64 maxFundingRate;
        // slots 4-5: trades only
        uint128 maxOiLong;
        uint128 maxOiShort;
        uint64 takerFee;
        uint64 feeInsuranceShare;
    }

    struct MarketState {
        uint128 oiLong;
        uint128 oiShort;
        /// @dev Cumulative funding per unit of size, WAD USD (what one long unit has paid since listing).
        int128 fundingIndex;
        int64 fundingRate;
        uint40 lastFundingTime;
        /// @dev Sum of every position's cost (size x fill, WAD USD) and of size x funding snapshot:
        ///      the pool's aggregate view of traders' PnL without iterating positions.
        int128 openCost;
        int128 fundingSnapshotSum;
    }

    struct Position {
        int128 size;
        /// @dev What the open size cost: sum of size x fill price of the trades that opened it, WAD USD.
        int128 cost;
        int128 fundingSnapshot;
    }

    /// @notice One position as the margin engine sees it, valued now.
    struct PositionRisk {
        uint32 marketId;
        address underlying;
        int256 size;
        /// @dev The underlying's price with its status (low / high bracket the sources).
        IPriceOracle.Price price;
        /// @dev Unrealized PnL including unsettled funding, at the conservative price for the side
        ///      (low for a long, high for a short), WAD, rounded down.
        int256 pnl;
        /// @dev |size| x high price, WAD, rounded up: what the requirement is a fraction of.
        uint256 notional;
        /// @dev max(MM floor, size term, volatility term): the maintenance ratio and the half-width
        ///      of the portfolio grid, WAD, rounded up.
        uint256 shockRatio;
        uint256 imMultiplier;
    }

    error UnknownMarket(uint32 marketId);
    error MarketAlreadyListed(uint32 marketId);
    error UnderlyingAlreadyListed(address underlying, uint32 marketId);
    error ZeroSizeDelta();
    /// @notice The fill price is worse for the trader than `priceLimit` (above it for a buy, below for a sell).
    error PriceLimitExceeded(uint256 fillPrice, uint256 priceLimit);
    error MarketPaused(uint32 marketId);
    /// @notice The skew premium would take the fill price to zero (a sell against an extreme skew).
    error ZeroFillPrice(uint32 marketId);
    error OpenInterestCapExceeded(uint32 marketId, bool long, uint256 openInterest, uint256 cap);
    error PositionSizeCapExceeded(uint32 marketId, uint256 size, uint256 cap);
    error TooManyPositions(uint256 accountId, uint256 max);
    /// @notice An isolated account trades only the market it was created for.
    error WrongMarket(uint256 accountId, uint32 boundMarketId, uint32 marketId);
    error NotRiskConfig(address caller);
    error PriceDown(address asset);
    error ZeroAddress();
    error NotAContract(address target);
    /// @notice A trade, or a funding / fee settlement, outgrew the packed storage (values near 1.7e20 USD).
    error ValueOverflow();
    /// @notice A liquidation named a fraction of zero or above 1 (WAD).
    error InvalidFraction(uint256 fraction);

    event MarketListed(uint32 indexed marketId, address indexed underlying);
    event MarketConfigUpdated(uint32 indexed marketId, MarketConfig config);
    event MarginEngineSet(address oldEngine, address newEngine);
    /// @notice `realizedPnl`, `funding` (positive: paid by the account) and `fee` in WAD USD;
    ///         `settled` is what reached the stablecoin balance, in token units.
    event PositionModified(
        uint256 indexed accountId,
        uint32 indexed marketId,
        int256 sizeDelta,
        uint256 fillPrice,
        int256 newSize,
        int256 realizedPnl,
        int256 funding,
        uint256 fee,
        int256 settled
    );
    /// @notice A liquidation moved `size` of a position from `fromAccountId` to `toAccountId` at
    ///         the mark `price`; both sides' settlements (realized PnL and funding, WAD, before
    ///         rounding to token units) follow.
    event PositionLiquidated(
        uint256 indexed fromAccountId,
        uint256 indexed toAccountId,
        uint32 indexed marketId,
        int256 size,
        uint256 price,
        int256 fromSettled,
        int256 toSettled
    );
    event FundingAccrued(uint32 indexed marketId, int256 fundingIndex, int256 fundingRate, int256 skew);

    /// @notice Opens, increases, reduces, closes or flips the account's position in `marketId` by
    ///         `sizeDelta`, at oracle x (1 + average skew premium), reverting past `priceLimit`.
    ///         Owner or approved operator only. Increasing needs the price Ok (cross-checked) and
    ///         the market not paused, and leaves IM covered; reducing works while Degraded and
    ///         must leave MM covered. Returns the fill price.
    function modifyPosition(
        uint256 accountId,
        uint32 marketId,
        int256 sizeDelta,
        uint256 priceLimit
    ) external returns (uint256 fillPrice);

    /// @notice The liquidation engine (LIQUIDATOR_ROLE): moves `fraction` (WAD, toward zero) of
    ///         every position of `fromAccountId` to `toAccountId` at the mark price the margin
    ///         engine values it at. The liquidated side realizes what moved; both sides settle
    ///         their funding. Returns what each side must book, in settlement-token units rounded
    ///         toward -infinity: the caller books both (no settlement happens here).
    function transferPositions(
        uint256 fromAccountId,
        uint256 toAccountId,
        uint256 fraction
    ) external returns (int256 fromSettled, int256 toSettled);

    /// @notice Every position of the account, valued at current prices (reverts if one is Down).
    function accountRisk(uint256 accountId) external view returns (PositionRisk[] memory);

    /// @notice The market ids the account holds positions in (at most MAX_POSITIONS).
    function accountMarkets(uint256 accountId) external view returns (uint32[] memory);

    function position(uint256 accountId, uint32 marketId) external view returns (Position memory);

    function marketConfig(uint32 marketId) external view returns (MarketConfig memory);

    function marketState(uint32 marketId) external view returns (MarketState memory);

    function underlyingOf(uint32 marketId) external view returns (address);

    /// @notice The market listed on `underlying` (zero: none).
    function marketOf(address underlying) external view returns (uint32);

    /// @notice The funding rate (WAD per day) and index (WAD USD per unit) accrued to now at `price`.
    function currentFunding(uint32 marketId, uint256 price) external view returns (int256 rate, int256 index);

    /// @notice The price an opening trade of `sizeDelta` would fill at now (cross-checked price, as
    ///         opening uses); a trade that only reduces fills at this price or better.
    function quoteFillPrice(uint32 marketId, int256 sizeDelta) external view returns (uint256);
}
