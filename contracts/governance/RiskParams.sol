// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title RiskParams
/// @notice The catalogue of risk parameters RiskConfig owns: for each, its unit, what it is keyed
///         by (scope) and its hard bounds. Append only: the numbering is what scripts and events use.
///         Units: WAD ratios and USD values (1e18 = 1 or $1), WAD base-asset sizes, seconds, counts.
library RiskParams {
    enum Param {
        // ---- perp markets (scope: market id)
        MM_FLOOR, // WAD ratio of notional: the least maintenance margin a position ever needs
        MM_SIZE_FACTOR, // WAD: extra MM ratio of a position as large as MAX_POSITION_SIZE (linear in size)
        MM_VOL_MULTIPLIER, // WAD k in MM ratio >= k * sigma * sqrt(LIQUIDATION_HORIZON)
        LIQUIDATION_HORIZON, // seconds the pool may need to unwind a position
        IM_MULTIPLIER, // WAD: IM = MM * multiplier; > 1 keeps maintenance below initial margin
        MAKER_FEE, // WAD of notional, for trades that reduce skew
        TAKER_FEE, // WAD of notional, for trades that add skew
        FEE_INSURANCE_SHARE, // WAD share of fees sent to the insurance fund (rest to the pool)
        SKEW_SCALE, // WAD base units: premium = skew / SKEW_SCALE
        MAX_FUNDING_VELOCITY, // WAD per day: funding rate drift per day at skew = SKEW_SCALE
        MAX_FUNDING_RATE, // WAD per day: bound on the funding rate
        MAX_OI_LONG, // WAD base units (risk keeper)
        MAX_OI_SHORT, // WAD base units (risk keeper)
        MAX_POSITION_SIZE, // WAD base units per account
        // ---- options (scope: underlying asset address)
        IMPLIED_VOL, // WAD annualized; never below realized vol * IV_FLOOR_FACTOR (risk keeper)
        IV_FLOOR_FACTOR, // WAD
        OPTION_SPREAD_BASE, // WAD of the premium, always charged
        OPTION_SPREAD_SLOPE, // WAD of the premium per unit of the pool's net exposure / its cap
        STRIKE_BAND, // WAD: listed strikes within spot * (1 +- band)
        EXPIRY_GRID, // seconds: expiries are multiples of it
        MAX_EXPIRY, // seconds from listing to expiry
        MAX_LIVE_SERIES, // count per underlying
        MAX_SERIES_OI, // WAD base units per series (risk keeper)
        MAX_NET_DELTA, // WAD base units, the pool's net delta
        MAX_NET_VEGA, // WAD USD per 1.0 of volatility, the pool's net vega
        LONG_OPTION_HAIRCUT, // WAD: long options count in equity at mark * (1 - haircut)
        SHORT_OPTION_MM_SPOT, // WAD of spot in a short option's maintenance margin
        SHORT_OPTION_MM_FLOOR, // WAD of spot: the floor for far out-of-the-money shorts
        MAX_OPTIONS_PER_ACCOUNT, // count
        // ---- liquidation (scope: 0)
        LIQUIDATION_FEE, // WAD of the account's MM, charged to it for the insurance fund at auction start
        AUCTION_START_DISCOUNT, // WAD: discount of a healthy-ish account's auction at start
        AUCTION_FAST_DISCOUNT, // WAD: discount reached at the end of the fast phase
        AUCTION_DISCOUNT_CAP, // WAD: discount reached at the end of the slow phase
        AUCTION_FAST_DURATION, // seconds
        AUCTION_SLOW_DURATION, // seconds
        AUCTION_STALL_TIMEOUT, // seconds at the cap before an auction may restart from fresh prices
        BUFFER_MARGIN, // WAD: a bid may restore equity up to MM * (1 + buffer)
        DUST_THRESHOLD, // WAD USD: below this mark-to-market one bid may take everything
        INSOLVENT_PAYOUT_CAP, // WAD USD: the most paid beyond an insolvent deficit (also <= discount cap x gross)
        INSOLVENT_RAMP, // seconds for that payment to rise from zero to its full amount
        THROUGHPUT_CAP, // WAD USD of notional liquidated per market per window
        THROUGHPUT_WINDOW, // seconds
        // ---- insurance fund (scope: 0)
        INSURANCE_FLOOR, // WAD USD the fund never pays below
        // ---- options, appended (scope: underlying asset address)
        OPTION_IM_MULTIPLIER, // WAD: a short option's IM = its MM x multiplier (> 1)
        VOL_SHOCK_UP, // WAD: portfolio grid volatility up = vol x (1 + shock x tenor factor)
        VOL_SHOCK_DOWN // WAD: portfolio grid volatility down = vol x (1 - shock x tenor factor), at least 10% of vol
    }

    enum Scope {
        Market,
        Underlying,
        Global
    }

    uint256 internal constant WAD = 1e18;
    uint256 internal constant MAX_SIZE = 1e30; // 1e12 units of any base asset
    uint256 internal constant MAX_USD = 1e30; // $1e12

    function scopeOf(Param p) internal pure returns (Scope) {
        if (p <= Param.MAX_POSITION_SIZE) return Scope.Market;
        if (p <= Param.MAX_OPTIONS_PER_ACCOUNT || p > Param.INSURANCE_FLOOR) return Scope.Underlying;
        return Scope.Global;
    }

    /// @notice Hard bounds: no one, governance included, can set a value outside them.
    function bounds(Param p) internal pure returns (uint256 min, uint256 max) {
        // perp markets
        if (p == Param.MM_FLOOR) return (0.005e18, 0.25e18);
        if (p == Param.MM_SIZE_FACTOR) return (0, 0.5e18);
        if (p == Param.MM_VOL_MULTIPLIER) return (1e18, 10e18);
        if (p == Param.LIQUIDATION_HORIZON) return (1 hours, 7 days);
        if (p == Param.IM_MULTIPLIER) return (1.1e18, 5e18);
        if (p == Param.MAKER_FEE) return (0, 0.005e18);
        if (p == Param.TAKER_FEE) return (0, 0.01e18);
        if (p == Param.FEE_INSURANCE_SHARE) return (0, WAD);
        if (p == Param.SKEW_SCALE) return (1e18, MAX_SIZE);
        if (p == Param.MAX_FUNDING_VELOCITY) return (0, 10e18);
        if (p == Param.MAX_FUNDING_RATE) return (0.001e18, 1e18);
        if (p == Param.MAX_OI_LONG || p == Param.MAX_OI_SHORT || p == Param.MAX_POSITION_SIZE) return (0, MAX_SIZE);
        // options
        if (p == Param.IMPLIED_VOL) return (0.05e18, 10e18);
        if (p == Param.IV_FLOOR_FACTOR) return (0.5e18, 2e18);
        if (p == Param.OPTION_SPREAD_BASE) return (0, 0.1e18);
        if (p == Param.OPTION_SPREAD_SLOPE) return (0, WAD);
        if (p == Param.STRIKE_BAND) return (0.05e18, WAD);
        if (p == Param.EXPIRY_GRID) return (1 hours, 7 days);
        if (p == Param.MAX_EXPIRY) return (1 days, 730 days);
        if (p == Param.MAX_LIVE_SERIES) return (1, 200);
        if (p == Param.MAX_SERIES_OI || p == Param.MAX_NET_DELTA) return (0, MAX_SIZE);
        if (p == Param.MAX_NET_VEGA) return (0, MAX_USD);
        if (p == Param.LONG_OPTION_HAIRCUT) return (0, WAD);
        if (p == Param.SHORT_OPTION_MM_SPOT) return (0.01e18, 0.5e18);
        if (p == Param.SHORT_OPTION_MM_FLOOR) return (0.001e18, 0.25e18);
        if (p == Param.MAX_OPTIONS_PER_ACCOUNT) return (1, 16);
        // liquidation
        if (p == Param.LIQUIDATION_FEE) return (0, 0.2e18);
        if (p == Param.AUCTION_START_DISCOUNT) return (0, 0.1e18);
        if (p == Param.AUCTION_FAST_DISCOUNT) return (0, 0.3e18);
        if (p == Param.AUCTION_DISCOUNT_CAP) return (0.01e18, 0.5e18);
        if (p == Param.AUCTION_FAST_DURATION) return (10, 1 hours);
        if (p == Param.AUCTION_SLOW_DURATION) return (1 minutes, 1 days);
        if (p == Param.AUCTION_STALL_TIMEOUT) return (1 minutes, 1 days);
        if (p == Param.BUFFER_MARGIN) return (0, WAD);
        if (p == Param.DUST_THRESHOLD) return (0, 10_000e18);
        if (p == Param.INSOLVENT_PAYOUT_CAP) return (0, MAX_USD);
        if (p == Param.INSOLVENT_RAMP) return (1 minutes, 1 days);
        if (p == Param.THROUGHPUT_CAP) return (1e18, MAX_USD);
        if (p == Param.THROUGHPUT_WINDOW) return (1 minutes, 1 days);
        // options, appended
        if (p == Param.OPTION_IM_MULTIPLIER) return (1.1e18, 5e18);
        if (p == Param.VOL_SHOCK_UP) return (0.05e18, 3e18);
        if (p == Param.VOL_SHOCK_DOWN) return (0.05e18, 0.9e18);
        // insurance fund: the only one left (Param.INSURANCE_FLOOR)
        return (0, MAX_USD);
    }

    /// @notice Whether the risk keeper may move `p`, and which way is safer: true when a higher
    ///         value is the conservative one (implied volatility), false when lower is (caps).
    function keeperDirection(Param p) internal pure returns (bool movable, bool tightenUp) {
        if (p == Param.IMPLIED_VOL) return (true, true);
        if (p == Param.MAX_OI_LONG || p == Param.MAX_OI_SHORT || p == Param.MAX_SERIES_OI) return (true, false);
        return (false, false);
    }
}
