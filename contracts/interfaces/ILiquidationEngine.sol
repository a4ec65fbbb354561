// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Keel liquidation engine
/// @notice Dutch auctions of accounts below maintenance margin (MM). One call for bots:
///         `liquidate(accountId, fraction, priceLimit, bidderAccountId, expectedNonce)` starts the
///         auction if none runs (charging the liquidation fee for the insurance fund) and fills
///         the bid: the bidder's account receives `fraction` of every position (at its mark) and
///         of every collateral balance, and pays, or is paid, in the stablecoin. All amounts of
///         money are WAD USD unless named in settlement-token units.
///
///         Mark-to-market (MtM) = stablecoin + every collateral at its full low price + positions'
///         unrealized PnL. Equity and MM are the margin engine's (collateral at its weight).
///         - Solvent (MtM > 0): the bidder pays fraction x MtM x (1 - d). The discount d follows
///           a curve from AUCTION_START_DISCOUNT to AUCTION_FAST_DISCOUNT over the fast phase,
///           then to AUCTION_DISCOUNT_CAP over the slow phase. The curve starts
///           `FAST_DURATION x (MM - equity) / MM` seconds in: the worse the health at the start,
///           the further along. One bid may take only the fraction that restores the buffer
///           margin MM x (1 + BUFFER_MARGIN), unless MtM is at most DUST_THRESHOLD; and at least
///           DUST_THRESHOLD of the account's gross value, unless that is more than the maximum.
///           A running auction whose account is back at or above MM prices from a fresh curve.
///         - Insolvent (MtM <= 0): the insurance fund pays the bidder fraction x (deficit +
///           incentive) x min(1, elapsed / INSOLVENT_RAMP), incentive = min(INSOLVENT_PAYOUT_CAP x
///           remaining, AUCTION_DISCOUNT_CAP x gross value), never drawing below INSURANCE_FLOOR
///           (`remaining`: the part of the account no bid has taken yet, so the cap is paid at most
///           once per auction; the gross term scales with the account, so dust earns dust); what
///           the fund cannot pay, the pool pays, as an evented loss (`LossSocialized`). Any fraction.
///         Losses fall in a fixed order: the account's equity, then the liquidation fee (charged
///         only out of positive MtM), then the insurance fund, then the pool.
interface ILiquidationEngine {
    /// @notice The liquidation and insurance-fund parameters, packed; auctions keep the version
    ///         they started with.
    struct Parameters {
        uint64 fee;
        uint64 startDiscount;
        uint64 fastDiscount;
        uint64 discountCap;
        uint64 buffer;
        uint32 fastDuration;
        uint32 slowDuration;
        uint32 stallTimeout;
        uint32 insolventRamp;
        uint32 throughputWindow;
        uint128 dustThreshold;
        uint128 insolventPayoutCap;
        uint128 throughputCap;
        uint128 insuranceFloor;
    }

    /// @dev One slot; running while `startTime` is non-zero.
    struct Auction {
        uint40 startTime;
        /// @dev The discount curve's time origin: `startTime` minus the health offset.
        uint40 curveStart;
        uint32 version;
        /// @dev The part (WAD) of the account as it was at the start that bids have not taken yet:
        ///      the insolvent payout's cap is paid on this part only, so split bids never earn the
        ///      cap more than once.
        uint64 remaining;
    }

    /// @dev Notional (WAD USD) of the accounts whose auctions started in a market in the window.
    struct Throughput {
        uint40 window;
        uint216 used;
    }

    /// @notice What a bid of a given fraction would do now.
    struct Quote {
        /// @dev False: the bid would start the auction first (and charge `fee`).
        bool auctionRunning;
        bool insolvent;
        int256 equity;
        uint256 maintenanceMargin;
        uint256 bufferMargin;
        /// @dev After the fee when the bid would start the auction.
        int256 markToMarket;
        /// @dev Settlement-token units charged at the start (zero when running).
        uint256 fee;
        /// @dev The solvent discount now, WAD.
        uint256 discount;
        /// @dev The insolvent payment now for the whole account, WAD USD.
        uint256 payout;
        /// @dev The largest fraction one bid may take now (WAD; zero: none).
        uint256 maxFraction;
        /// @dev Settlement-token units for the quoted fraction: positive, the bidder pays; negative,
        ///      the bidder is paid.
        int256 price;
    }

    error UnknownAccount(uint256 accountId);
    /// @notice The liquidated account changed since the bidder read `expected`.
    error NonceMismatch(uint256 accountId, uint256 expected, uint256 actual);
    /// @notice The bidder's account has the same owner as the liquidated account.
    error SelfLiquidation(uint256 accountId, uint256 bidderAccountId);
    /// @notice A fraction of zero or above 1 (WAD).
    error InvalidFraction(uint256 fraction);
    /// @notice Starting needs equity below MM.
    /// @notice The account holds `seriesId`, expired less than the option market's
    ///         SETTLEMENT_WINDOW ago and not settled yet: no auction starts until it is settled
    ///         (anyone can, with the first round after expiry) or the window has passed.
    error SettlementPending(uint256 accountId, uint32 seriesId);
    error NotLiquidatable(uint256 accountId, int256 equity, uint256 maintenanceMargin);
    error AuctionRunning(uint256 accountId);
    error NoAuction(uint256 accountId);
    /// @notice A restart is allowed from `stallsAt` on.
    error AuctionNotStalled(uint256 accountId, uint256 stallsAt);
    /// @notice Terminating needs equity at or above the buffer margin.
    error BelowBufferMargin(uint256 accountId, int256 equity, uint256 bufferMargin);
    /// @notice The bid takes more than one bid may now (the buffer-margin rule).
    error FractionTooLarge(uint256 fraction, uint256 maxFraction);
    /// @notice The bid takes less than DUST_THRESHOLD of the account's gross value (and less than
    ///         the largest bid allowed).
    error BidTooSmall(uint256 fraction, uint256 minFraction);
    /// @notice Starting the auction would move `notional` of `marketId` into liquidation, beyond
    ///         the `room` left in the throughput window that ends at `windowEnd`.
    error ThroughputCapExceeded(uint32 marketId, uint256 notional, uint256 room, uint256 windowEnd);
    /// @notice The bid's price (units; positive the bidder pays) is above the bidder's limit.
    error PriceLimitExceeded(int256 price, int256 priceLimit);
    error NotRiskConfig(address caller);
    error ZeroAddress();

    event AuctionStarted(
        uint256 indexed accountId,
        address indexed by,
        int256 equity,
        uint256 maintenanceMargin,
        int256 markToMarket,
        uint256 fee,
        uint256 curveStart,
        uint32 version
    );
    /// @notice A bid: `discount` (solvent) or the whole-account `payout` (insolvent) it was priced
    ///         at, the `price` paid (units, negative: paid to the bidder), and who paid an
    ///         insolvent bidder.
    event Liquidated(
        uint256 indexed accountId,
        uint256 indexed bidderAccountId,
        address indexed bidder,
        uint256 fraction,
        int256 markToMarket,
        uint256 discount,
        uint256 payout,
        int256 price,
        uint256 fundPaid,
        uint256 poolPaid
    );
    /// @notice The account is back at or above its buffer margin (or empty): the auction is over.
    event AuctionEnded(uint256 indexed accountId);
    event AuctionRestarted(uint256 indexed accountId, uint256 curveStart, uint32 version);
    /// @notice The pool paid `amount` (settlement-token units) that the insurance fund could not:
    ///         LPs' share price fell by exactly that.
    event LossSocialized(uint256 indexed accountId, uint256 amount);
    event ParametersUpdated(uint32 indexed version, Parameters parameters);

    /// @notice Starts the auction if none runs, then fills a bid of `fraction` (WAD) for
    ///         `bidderAccountId` (the caller must be its owner or operator). `priceLimit`: the most
    ///         the bidder pays, in settlement-token units (negative: the least it must be paid).
    ///         Returns the price (units; negative: paid to the bidder).
    function liquidate(
        uint256 accountId,
        uint256 fraction,
        int256 priceLimit,
        uint256 bidderAccountId,
        uint256 expectedNonce
    ) external returns (int256 price);

    /// @notice Starts the auction of an account below MM without bidding (charges the fee).
    function startAuction(uint256 accountId) external;

    /// @notice Ends the auction of an account back at or above its buffer margin. Anyone.
    function terminateAuction(uint256 accountId) external;

    /// @notice Restarts a stalled auction (its price at the limit for AUCTION_STALL_TIMEOUT), or
    ///         one whose account is back at or above MM, from the current health and parameters.
    ///         Anyone; no fee. (A bid on an account at or above MM restarts the curve by itself.)
    function restartAuction(uint256 accountId) external;

    /// @notice Re-reads every liquidation parameter from RiskConfig and stores a new version if any
    ///         differs from the current one (a change made while RiskConfig pushed nowhere).
    ///         Anyone; returns whether a version was added.
    function syncParameters() external returns (bool changed);

    /// @notice MM > equity.
    function isLiquidatable(uint256 accountId) external view returns (bool);

    /// @notice What a bid of `fraction` would do now (as if it started the auction, if none runs).
    function quote(uint256 accountId, uint256 fraction) external view returns (Quote memory);

    /// @notice The largest fraction one bid may take now.
    function maxFraction(uint256 accountId) external view returns (uint256);

    /// @notice The running auction (zero when none), the parameters it uses, and when it stalls.
    function auctionOf(
        uint256 accountId
    ) external view returns (Auction memory auction, Parameters memory parameters, uint256 stallsAt);

    /// @notice The current parameters and their version.
    function parameters() external view returns (uint32 version, Parameters memory);
}
