// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";

/// @title BlackScholes
/// @notice Black-Scholes prices and greeks of European options with a ZERO interest rate and NO
///         dividends: C = S N(d1) - K N(d2), P = K N(-d2) - S N(-d1), d1,2 = ln(S/K) / v +- v / 2,
///         v = volatility * sqrt(T). Put-call parity is then C - P = S - K.
///         Units: spot and strike WAD USD; volatility WAD annualized (0.8e18 = 80%); time in
///         seconds, a year being 365 days; prices WAD USD per unit of the underlying; delta WAD
///         (call in [0, 1e18], put in [-1e18, 0]); gamma WAD per USD (d2V/dS2); vega WAD USD per
///         1.0 (100 vol points) of volatility.
/// @dev Accuracy (test/BlackScholes.test.ts against a double-precision reference): normCdf within
///      2e-16 absolute; prices within 1e-11 relative wherever they exceed 1e-6 x spot. Results are
///      approximations, neither rounded up nor down: a caller that needs a bound against a trader
///      adds its own margin. The out-of-the-money option is computed from the normal tails and the
///      in-the-money one by parity, so deep out-of-the-money prices keep their relative accuracy
///      and C - P = S - K holds to the wei.
library BlackScholes {
    uint256 internal constant YEAR = 365 days;

    /// @notice Input bounds. With spot, strike in [1, 1e36] wei, ln(max / min) < 125 and the
    ///         standard deviation v = volatility * sqrt(T) <= 100 * sqrt(10) < 317: every product
    ///         in the unchecked blocks below stays under 1e75 (each is bounded where it is
    ///         computed), short of 2^256 ~ 1.2e77; the two larger ones go through fullMulDiv.
    uint256 internal constant MAX_PRICE = 1e36;
    uint256 internal constant MAX_VOLATILITY = 100e18;
    uint256 internal constant MAX_SECONDS_TO_EXPIRY = 10 * YEAR;

    struct Greeks {
        uint256 price; // WAD USD per unit of the underlying
        int256 delta; // WAD: call in [0, 1e18], put in [-1e18, 0]
        uint256 gamma; // WAD per USD
        uint256 vega; // WAD USD per 1.0 of volatility
    }

    /// @notice Thrown when spot or strike is zero or above MAX_PRICE, volatility above
    ///         MAX_VOLATILITY or the time to expiry above MAX_SECONDS_TO_EXPIRY.
    error InvalidPricingInput(uint256 spot, uint256 strike, uint256 volatility, uint256 secondsToExpiry);

    uint256 private constant WAD = 1e18;
    /// @dev sqrt(2 pi), WAD.
    uint256 private constant SQRT_2PI = 2_506628274631000502;
    /// @dev Beyond |x| >= 9 the normal tail is below 1.2e-19, under half a wei: N is 0 or 1e18.
    uint256 private constant TAIL_CUTOFF = 9e18;

    // Hart (1968) algorithm 5666 for the normal tail, in the form G. West published it ("Better
    // approximations to cumulative normal functions", Wilmott Magazine, 2005, figure 2):
    // N(-z) = exp(-z^2/2) * P(z) / Q(z) for 0 <= z < 5 sqrt(2). Against 50-digit values its relative
    // error is below 2e-16 for z < 1, 3e-13 for z < 4, 5e-11 for z < 5 and 3e-9 at the edge (where
    // the tail is 7.7e-13), 4.3e-17 absolute at most. All coefficients positive: unsigned arithmetic.
    uint256 private constant HART_LIMIT = 7.07106781186547e18;
    uint256 private constant P0 = 220.206867912376e18;
    uint256 private constant P1 = 221.213596169931e18;
    uint256 private constant P2 = 112.079291497871e18;
    uint256 private constant P3 = 33.912866078383e18;
    uint256 private constant P4 = 6.37396220353165e18;
    uint256 private constant P5 = 0.700383064443688e18;
    uint256 private constant P6 = 0.0352624965998911e18;
    uint256 private constant Q0 = 440.413735824752e18;
    uint256 private constant Q1 = 793.826512519948e18;
    uint256 private constant Q2 = 637.333633378831e18;
    uint256 private constant Q3 = 296.564248779674e18;
    uint256 private constant Q4 = 86.7807322029461e18;
    uint256 private constant Q5 = 16.064177579207e18;
    uint256 private constant Q6 = 1.75566716318264e18;
    uint256 private constant Q7 = 0.0883883476483184e18;
    /// @dev Seed of West's continued fraction for the tail beyond HART_LIMIT.
    uint256 private constant CF_SEED = 0.65e18;

    /// @notice The option's price (see priceDelta).
    function price(
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 secondsToExpiry,
        bool isCall
    ) internal pure returns (uint256) {
        (uint256 value, ) = priceDelta(spot, strike, volatility, secondsToExpiry, isCall);
        return value;
    }

    /// @notice The option's price and delta. At expiry (secondsToExpiry == 0) or with zero
    ///         volatility (or v = volatility * sqrt(T) below 1 wei) the price is the intrinsic value
    ///         and delta is +-1e18 strictly in the money, 0 otherwise.
    function priceDelta(
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 secondsToExpiry,
        bool isCall
    ) internal pure returns (uint256, int256) {
        _checkInputs(spot, strike, volatility, secondsToExpiry);
        (uint256 v, ) = _stdDev(volatility, secondsToExpiry);
        if (v == 0) return _intrinsic(spot, strike, isCall);
        (uint256 lo, uint256 hi) = spot < strike ? (spot, strike) : (strike, spot);
        (uint256 n1, uint256 n2, ) = _legs(lo, hi, v);
        return _assemble(spot, strike, n1, n2, isCall);
    }

    /// @notice Price, delta, gamma and vega; gamma and vega are 0 where priceDelta gives the
    ///         intrinsic value. Gamma and vega come from the same d1 and exp() as the price.
    function greeks(
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 secondsToExpiry,
        bool isCall
    ) internal pure returns (Greeks memory g) {
        _checkInputs(spot, strike, volatility, secondsToExpiry);
        (uint256 v, uint256 sqrtYears27) = _stdDev(volatility, secondsToExpiry);
        if (v == 0) {
            (g.price, g.delta) = _intrinsic(spot, strike, isCall);
            return g;
        }
        uint256 spotPdf;
        (g.price, g.delta, spotPdf) = _priceDeltaPdf(spot, strike, v, isCall);
        // spotPdf = S pdf(d1) sqrt(2 pi), scaled 1e36 (exact product, no rounding yet).
        // vega = S pdf(d1) sqrt(T).
        g.vega = FixedPointMathLib.fullMulDiv(spotPdf, sqrtYears27, SQRT_2PI * 1e27);
        // gamma = pdf(d1) / (S v) = (S pdf(d1) / (S v)) / S; the denominator is at most 8e74.
        unchecked {
            g.gamma = (FixedPointMathLib.fullMulDiv(spotPdf, 1e36, SQRT_2PI * spot * v) * WAD) / spot;
        }
    }

    /// @notice The standard normal cumulative distribution function, WAD in, WAD out; 0 and 1e18
    ///         for |x| >= 9 (the tail is below half a wei there). N(x) + N(-x) = 1e18 exactly.
    function normCdf(int256 x) internal pure returns (uint256) {
        if (x >= int256(TAIL_CUTOFF)) return WAD;
        if (x <= -int256(TAIL_CUTOFF)) return 0;
        unchecked {
            uint256 z = x < 0 ? uint256(-x) : uint256(x);
            uint256 tail = _lowerTail(z, uint256(FixedPointMathLib.expWad(-int256((z * z) / (2 * WAD)))));
            return x < 0 ? tail : WAD - tail;
        }
    }

    function _checkInputs(uint256 spot, uint256 strike, uint256 volatility, uint256 secondsToExpiry) private pure {
        if (
            spot == 0 ||
            strike == 0 ||
            spot > MAX_PRICE ||
            strike > MAX_PRICE ||
            volatility > MAX_VOLATILITY ||
            secondsToExpiry > MAX_SECONDS_TO_EXPIRY
        ) revert InvalidPricingInput(spot, strike, volatility, secondsToExpiry);
    }

    /// @dev v = volatility * sqrt(T in years), WAD, and sqrt(T in years) scaled 1e27 (the extra
    ///      digits keep v's relative error near 1e-18 for expiries of seconds).
    function _stdDev(
        uint256 volatility,
        uint256 secondsToExpiry
    ) private pure returns (uint256 v, uint256 sqrtYears27) {
        unchecked {
            // secondsToExpiry * 1e54 <= 3.2e62; sqrtYears27 <= 3.2e27; volatility * it <= 3.2e47.
            sqrtYears27 = FixedPointMathLib.sqrt((secondsToExpiry * 1e54) / YEAR);
            v = (volatility * sqrtYears27) / 1e27;
        }
    }

    /// @dev Price and delta where the distribution has collapsed: the intrinsic value.
    function _intrinsic(uint256 spot, uint256 strike, bool isCall) private pure returns (uint256, int256) {
        unchecked {
            if (isCall) return spot > strike ? (spot - strike, int256(WAD)) : (uint256(0), int256(0));
            return strike > spot ? (strike - spot, -int256(WAD)) : (uint256(0), int256(0));
        }
    }

    /// @dev The legs of the out-of-the-money option. With lo = min(S, K), hi = max(S, K) it is
    ///      lo N(d1') - hi N(d2'), d1',2' = ln(lo / hi) / v +- v / 2: the call when S <= K (d' = d),
    ///      the put when S > K (d1' = -d2, d2' = -d1). Returns n1 = N(d1'), n2 = N(d2') and
    ///      e1 = exp(-d1'^2 / 2), WAD. d2' <= -v/2 < 0 always, so n2 is a tail, and
    ///      d1'^2 - d2'^2 = 2 ln(lo / hi) gives exp(-d2'^2 / 2) = e1 lo / hi: one exp for both.
    function _legs(uint256 lo, uint256 hi, uint256 v) private pure returns (uint256 n1, uint256 n2, uint256 e1) {
        unchecked {
            // hi * WAD / lo in [1e18, 1e54]: its ln is >= 0 but for lnWad's last-wei rounding.
            int256 lnRatio = FixedPointMathLib.lnWad(int256((hi * WAD) / lo));
            // drift = ln(hi / lo) / v <= 1.3e38; d1' = half - drift, d2' = -(half + drift).
            uint256 drift = lnRatio > 0 ? (uint256(lnRatio) * WAD) / v : 0;
            uint256 half = v / 2;
            bool d1Positive = half >= drift;
            uint256 z1 = d1Positive ? half - drift : drift - half;
            // |d2'| >= |d1'|: past the cutoff both tails are below half a wei.
            if (z1 >= TAIL_CUTOFF) return (d1Positive ? WAD : 0, 0, 0);
            e1 = uint256(FixedPointMathLib.expWad(-int256((z1 * z1) / (2 * WAD))));
            uint256 tail1 = _lowerTail(z1, e1);
            n1 = d1Positive ? WAD - tail1 : tail1;
            uint256 z2 = drift + half;
            if (z2 < TAIL_CUTOFF) n2 = _lowerTail(z2, (e1 * lo) / hi);
        }
    }

    /// @dev Price, delta and S pdf(d1) sqrt(2 pi) scaled 1e36 (at most 1e54), for v > 0.
    ///      S pdf(d1) = K pdf(d2) = lo pdf(d1') (see _legs): it comes from e1 whichever option is
    ///      out of the money, and is left unrounded for gamma and vega.
    function _priceDeltaPdf(
        uint256 spot,
        uint256 strike,
        uint256 v,
        bool isCall
    ) private pure returns (uint256 value, int256 delta, uint256 spotPdf) {
        (uint256 lo, uint256 hi) = spot < strike ? (spot, strike) : (strike, spot);
        (uint256 n1, uint256 n2, uint256 e1) = _legs(lo, hi, v);
        (value, delta) = _assemble(spot, strike, n1, n2, isCall);
        unchecked {
            spotPdf = lo * e1;
        }
    }

    /// @dev Price and delta from the legs: the out-of-the-money option lo N(d1') - hi N(d2')
    ///      (clamped at 0 against cancellation), the in-the-money one by parity. Call delta is
    ///      N(d1) = n1 when S <= K, 1 - N(-d1) = 1 - n2 when S > K; put delta = call delta - 1.
    function _assemble(
        uint256 spot,
        uint256 strike,
        uint256 n1,
        uint256 n2,
        bool isCall
    ) private pure returns (uint256 value, int256 delta) {
        unchecked {
            bool callOtm = spot <= strike;
            (uint256 lo, uint256 hi) = callOtm ? (spot, strike) : (strike, spot);
            uint256 a = lo * n1;
            uint256 b = hi * n2;
            value = a > b ? (a - b) / WAD : 0;
            delta = int256(callOtm ? n1 : WAD - n2);
            if (isCall) {
                if (!callOtm) value += spot - strike;
            } else {
                if (spot < strike) value += strike - spot;
                delta -= int256(WAD);
            }
        }
    }

    /// @dev N(-z) for 0 <= z < TAIL_CUTOFF given e = exp(-z^2 / 2), both WAD: Hart's rational
    ///      function below HART_LIMIT, West's continued fraction beyond (where the tail is below
    ///      7.7e-13 and the fraction's 1e-8 relative error is under a thousandth of a wei).
    function _lowerTail(uint256 z, uint256 e) private pure returns (uint256) {
        unchecked {
            if (z < HART_LIMIT) {
                // Horner in WAD; P(z) < 2e23, Q(z) < 1e24: products stay below 1e43.
                uint256 num = (P6 * z) / WAD + P5;
                num = (num * z) / WAD + P4;
                num = (num * z) / WAD + P3;
                num = (num * z) / WAD + P2;
                num = (num * z) / WAD + P1;
                num = (num * z) / WAD + P0;
                uint256 den = (Q7 * z) / WAD + Q6;
                den = (den * z) / WAD + Q5;
                den = (den * z) / WAD + Q4;
                den = (den * z) / WAD + Q3;
                den = (den * z) / WAD + Q2;
                den = (den * z) / WAD + Q1;
                den = (den * z) / WAD + Q0;
                return (e * num + den / 2) / den; // to nearest
            }
            // N(-z) = pdf(z) / (z + 1/(z + 2/(z + 3/(z + 4/(z + 0.65))))).
            uint256 cf = z + CF_SEED;
            cf = z + 4e36 / cf;
            cf = z + 3e36 / cf;
            cf = z + 2e36 / cf;
            cf = z + 1e36 / cf;
            uint256 scale = cf * SQRT_2PI; // < 3e37
            return (e * 1e36 + scale / 2) / scale; // to nearest
        }
    }
}
