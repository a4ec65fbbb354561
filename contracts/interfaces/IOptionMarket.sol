// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IPriceOracle} from "./IPriceOracle.sol";

/// @title Keel options market
/// @notice European, cash-settled calls and puts on the underlyings the perp markets trade, with
///         the liquidity pool as the counterparty of every trade. A series is (underlying, strike,
///         expiry, call/put). Premiums are Black-Scholes prices (zero interest rate, no dividends)
///         at the underlying's implied volatility (RiskConfig, never below realized volatility x
///         its floor factor), plus a spread that widens with the pool's net exposure. Premiums,
///         and at expiry the intrinsic value, settle into the account's stablecoin balance.
///         Units: sizes signed WAD units of the underlying (positive: long), prices and values
///         WAD USD, volatility WAD annualized, times unix seconds.
interface IOptionMarket {
    struct Series {
        // slot 1
        address underlying;
        uint40 expiry;
        bool isCall;
        bool settled;
        /// @dev The underlying's perp market: isolated accounts and the opening pause are keyed by it.
        uint32 marketId;
        // slot 2
        uint128 strike;
        /// @dev The first oracle price at or after expiry, once the series is settled.
        uint128 settlementPrice;
        // slot 3: traders' open interest (the pool holds the other side)
        uint128 longOpenInterest;
        uint128 shortOpenInterest;
        // slot 4: the traders' net delta and vega in this series, as of its last trade or refresh
        int128 traderDelta;
        int128 traderVega;
    }

    /// @notice The pool's exposure on one underlying, summed over its live series: what the
    ///         traders hold, with the opposite sign. Refreshed per series at each trade in it;
    ///         `refreshExposure` re-evaluates every live series at the current price.
    struct Exposure {
        int128 netDelta;
        int128 netVega;
    }

    /// @notice One option position as the margin engine sees it, valued now.
    struct OptionRisk {
        uint32 seriesId;
        address underlying;
        bool isCall;
        /// @dev The series is settled: `value` is final and no price is read.
        bool settled;
        uint256 strike;
        /// @dev Zero once expired (valued at intrinsic value).
        uint256 secondsToExpiry;
        int256 size;
        /// @dev The underlying's price (the settlement price as low = high = price once settled).
        IPriceOracle.Price price;
        uint256 volatility;
        /// @dev size x Black-Scholes value at the spot in [low, high] that is worse for the holder
        ///      (a long call at low, a short call at high...), WAD: a long rounded down, a short's
        ///      (negative) value rounded toward -infinity. Once settled: exactly what settlement pays.
        int256 value;
        /// @dev What equity counts: a long's value x (1 - haircut), a short's value in full.
        int256 equityValue;
        /// @dev Isolated requirement (zero for a long): the static formula of the README.
        uint256 maintenanceMargin;
        uint256 initialMargin;
        /// @dev Portfolio grid inputs: the spot shock half-width, the volatility scenarios and the
        ///      IM multiplier of the underlying.
        uint256 spotShock;
        uint256 volatilityUp;
        uint256 volatilityDown;
        uint256 imMultiplier;
    }

    error UnknownSeries(uint32 seriesId);
    error ZeroAmount();
    error ZeroAddress();
    error NotAContract(address target);
    /// @notice Listing rules: the strike within spot x (1 +- STRIKE_BAND), the expiry a multiple
    ///         of EXPIRY_GRID within MAX_EXPIRY from now, at most MAX_LIVE_SERIES live series.
    error StrikeOutOfBand(uint256 strike, uint256 minStrike, uint256 maxStrike);
    error ExpiryOffGrid(uint256 expiry, uint256 grid);
    error ExpiryOutOfRange(uint256 expiry, uint256 earliest, uint256 latest);
    error TooManyLiveSeries(address underlying, uint256 max);
    error SeriesAlreadyListed(uint32 seriesId);
    error ListingPaused(address underlying);
    /// @notice Opening options on the underlying's market is paused by the guardian.
    error OpeningPaused(address underlying);
    /// @notice The underlying has no perp market (isolated accounts and pauses are keyed by it).
    error NoMarket(address underlying);
    error SeriesExpired(uint32 seriesId, uint256 expiry);
    error SeriesNotExpired(uint32 seriesId, uint256 expiry);
    error SeriesAlreadySettled(uint32 seriesId);
    error SeriesNotSettled(uint32 seriesId);
    /// @notice No position opens or grows in the series after `cutoff` (TRADING_CUTOFF before expiry).
    error TradingCutoff(uint32 seriesId, uint256 cutoff);
    /// @notice Governance may settle a series itself only from `opensAt` (SETTLEMENT_GRACE after expiry).
    error SettlementGraceRunning(uint32 seriesId, uint256 opensAt);
    error NoPosition(uint256 accountId, uint32 seriesId);
    /// @notice The premium is worse for the trader than `premiumLimit`: above it for a buy (the
    ///         most the trader pays), below it for a sell (the least it receives), settlement units.
    error PremiumLimitExceeded(uint256 premium, uint256 premiumLimit);
    /// @notice Traders' open interest on one side of a series would exceed MAX_SERIES_OI.
    error SeriesOpenInterestCapExceeded(uint32 seriesId, bool long, uint256 openInterest, uint256 cap);
    /// @notice The pool's net delta or vega on the underlying would grow past its cap.
    error NetDeltaCapExceeded(address underlying, int256 netDelta, uint256 cap);
    error NetVegaCapExceeded(address underlying, int256 netVega, uint256 cap);
    /// @notice The account would hold more series on the underlying than MAX_OPTIONS_PER_ACCOUNT,
    ///         or more than MAX_POSITIONS in all.
    error TooManyOptions(uint256 accountId, uint256 max);
    /// @notice An isolated account trades the options of its market's underlying only.
    error WrongUnderlying(uint256 accountId, uint32 boundMarketId, address underlying);
    error PriceDown(address asset);
    error InvalidFraction(uint256 fraction);
    error ValueOverflow();

    event SeriesListed(
        uint32 indexed seriesId,
        address indexed underlying,
        uint256 strike,
        uint256 expiry,
        bool isCall
    );
    event MarginEngineSet(address oldEngine, address newEngine);
    /// @notice `amount` signed (positive: bought); `price` the Black-Scholes price per unit before
    ///         the spread; `spread` WAD; `premium` settlement units paid (buy) or received (sell).
    event OptionTraded(
        uint256 indexed accountId,
        uint32 indexed seriesId,
        int256 amount,
        uint256 price,
        uint256 spread,
        uint256 premium,
        int256 newSize
    );
    event SeriesSettled(uint32 indexed seriesId, uint256 settlementPrice, uint80 roundId);
    /// @notice `settled` settlement units booked to the account (negative: paid by a short).
    event PositionSettled(uint256 indexed accountId, uint32 indexed seriesId, int256 size, int256 settled);
    event ExposureUpdated(address indexed underlying, int256 netDelta, int256 netVega);
    /// @notice A liquidation moved `size` of a series from one account to another at `price`
    ///         (per unit, the mark the margin engine valued it at).
    event OptionLiquidated(
        uint256 indexed fromAccountId,
        uint256 indexed toAccountId,
        uint32 indexed seriesId,
        int256 size,
        uint256 price
    );

    /// @notice Lists a series (LISTER_ROLE) within the governance rules; returns its id.
    function listSeries(address underlying, uint256 strike, uint256 expiry, bool isCall) external returns (uint32);

    /// @notice Buys (`amount` > 0) or sells (< 0) options of a series against the pool. Owner or
    ///         approved operator only. Increasing the position needs the price Ok (cross-checked)
    ///         and opening not paused, and leaves IM covered; reducing works while Degraded and
    ///         leaves MM covered. Returns the premium in settlement units (paid for a buy,
    ///         received for a sell).
    function tradeOption(
        uint256 accountId,
        uint32 seriesId,
        int256 amount,
        uint256 premiumLimit
    ) external returns (uint256 premium);

    /// @notice After expiry, anyone: fixes the settlement price from the first oracle round at or
    ///         after expiry (`roundId`, proved by the previous round being before it).
    function settleSeries(uint32 seriesId, uint80 roundId) external;

    /// @notice Governance (the timelock), when no oracle round can settle the series (its feed
    ///         stalled past expiry + heartbeat, or a new aggregator phase began at expiry): fixes the
    ///         settlement price itself, no earlier than SETTLEMENT_GRACE after expiry. `roundId` 0
    ///         in the event marks it.
    function settleSeriesByGovernance(uint32 seriesId, uint256 price) external;

    /// @notice Anyone, once the series is settled: pays the position's intrinsic value into (or
    ///         out of) the account's stablecoin balance and closes it. Returns the units booked.
    function settlePosition(uint256 accountId, uint32 seriesId) external returns (int256 settled);

    /// @notice The liquidation engine: moves `fraction` (WAD, toward zero) of every option
    ///         position at its mark value. Returns what each side books, in settlement units
    ///         rounded toward -infinity (the liquidated side sells at the mark, the bidder buys).
    function transferPositions(
        uint256 fromAccountId,
        uint256 toAccountId,
        uint256 fraction
    ) external returns (int256 fromSettled, int256 toSettled);

    /// @notice Re-evaluates the pool's exposure on `underlying` over every live series, now.
    function refreshExposure(address underlying) external;

    /// @notice Every option position of the account, valued now.
    function accountRisk(uint256 accountId) external view returns (OptionRisk[] memory);

    /// @notice A series the account holds that has expired less than SETTLEMENT_WINDOW ago and is
    ///         not settled yet (zero: none). Its payoff is about to be proved by the first round
    ///         after expiry; until then the account's valuation rests on the current price, so no
    ///         liquidation starts on it (a feed that stalls past the window lets it start again).
    function settlementPending(uint256 accountId) external view returns (uint32 seriesId);

    /// @notice The series the account holds.
    function accountSeries(uint256 accountId) external view returns (uint32[] memory);

    function positionOf(uint256 accountId, uint32 seriesId) external view returns (int256);

    function series(uint32 seriesId) external view returns (Series memory);

    function exposureOf(address underlying) external view returns (Exposure memory);

    function liveSeries(address underlying) external view returns (uint32[] memory);

    /// @notice Settled series some account still holds (their payoffs are owed).
    function settledOpenSeries() external view returns (uint32[] memory);

    /// @notice Every underlying a series was ever listed on.
    function underlyings() external view returns (address[] memory);
}
