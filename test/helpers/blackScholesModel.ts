// A double-precision reference for contracts/libraries/BlackScholes.sol: Black-Scholes with a zero
// interest rate and no dividends. Written independently of the contract: the normal CDF here uses
// Marsaglia's Taylor series (2004) near the centre and Laplace's continued fraction for the Mills
// ratio in the tails (no fitted coefficients), where the contract uses Hart's rational
// approximation. Checked against 50-digit mpmath values: within 3e-16 absolute on [-38, 38], and
// within 4e-15 relative in the lower tail on [-10, 0].
//
// Units here are plain numbers: USD, volatility as a fraction (0.8 = 80%), time in years.

export const SECONDS_PER_YEAR = 365 * 86_400;
const SQRT_2PI = Math.sqrt(2 * Math.PI);
/** |x| below which the series is used; above it 500 terms of the continued fraction reach double precision. */
const SERIES_LIMIT = 1;
const CF_TERMS = 500;

/** The standard normal density. */
export function normPdf(x: number): number {
  return Math.exp(-0.5 * x * x) / SQRT_2PI;
}

/** N(-z) for z >= 0, with relative accuracy in the tail. */
function lowerTail(z: number): number {
  if (z > 38.5) return 0; // below the smallest double
  if (z < SERIES_LIMIT) {
    // N(z) = 1/2 + pdf(z) * (z + z^3/3 + z^5/(3*5) + ...): all terms positive.
    let term = z;
    let sum = z;
    for (let n = 1; term > sum * 1e-17; n++) {
      term *= (z * z) / (2 * n + 1);
      sum += term;
    }
    return 0.5 - normPdf(z) * sum;
  }
  // N(-z) = pdf(z) / (z + 1/(z + 2/(z + 3/(z + ...)))), evaluated from the back.
  let cf = z;
  for (let k = CF_TERMS; k >= 1; k--) cf = z + k / cf;
  return normPdf(z) / cf;
}

/** The standard normal cumulative distribution function. */
export function normCdf(x: number): number {
  return x < 0 ? lowerTail(-x) : 1 - lowerTail(x);
}

export interface BsGreeks {
  price: number;
  delta: number;
  gamma: number;
  vega: number;
}

/** Intrinsic value and delta (+-1 strictly in the money, else 0): expiry or zero volatility. */
function intrinsic(spot: number, strike: number, isCall: boolean): BsGreeks {
  if (isCall) return { price: Math.max(spot - strike, 0), delta: spot > strike ? 1 : 0, gamma: 0, vega: 0 };
  return { price: Math.max(strike - spot, 0), delta: strike > spot ? -1 : 0, gamma: 0, vega: 0 };
}

/**
 * Price, delta, gamma (per USD) and vega (USD per 1.0 of volatility) of a European option, zero
 * rate. The out-of-the-money option comes from the tails and the in-the-money one from parity
 * (C - P = S - K), which keeps deep out-of-the-money prices accurate.
 */
export function bsGreeks(spot: number, strike: number, vol: number, years: number, isCall: boolean): BsGreeks {
  if (years <= 0 || vol <= 0) return intrinsic(spot, strike, isCall);
  const sqrtT = Math.sqrt(years);
  const v = vol * sqrtT;
  const d1 = bsD1(spot, strike, vol, years);
  const d2 = d1 - v;
  const callOtm = spot <= strike;
  const otm = callOtm
    ? spot * normCdf(d1) - strike * normCdf(d2) // call
    : strike * normCdf(-d2) - spot * normCdf(-d1); // put
  const call = Math.max(otm, 0) + (callOtm ? 0 : spot - strike);
  const put = Math.max(otm, 0) + (callOtm ? strike - spot : 0);
  const pdf = normPdf(d1);
  return {
    price: isCall ? call : put,
    delta: isCall ? normCdf(d1) : -normCdf(-d1),
    gamma: pdf / (spot * v),
    vega: spot * pdf * sqrtT,
  };
}

/** d1 = ln(S/K) / v + v/2, v = vol * sqrt(years). */
export function bsD1(spot: number, strike: number, vol: number, years: number): number {
  const v = vol * Math.sqrt(years);
  return Math.log(spot / strike) / v + v / 2;
}

export function bsPrice(spot: number, strike: number, vol: number, years: number, isCall: boolean): number {
  return bsGreeks(spot, strike, vol, years, isCall).price;
}

export function bsDelta(spot: number, strike: number, vol: number, years: number, isCall: boolean): number {
  return bsGreeks(spot, strike, vol, years, isCall).delta;
}

export function bsGamma(spot: number, strike: number, vol: number, years: number): number {
  return bsGreeks(spot, strike, vol, years, true).gamma;
}

export function bsVega(spot: number, strike: number, vol: number, years: number): number {
  return bsGreeks(spot, strike, vol, years, true).vega;
}

/** A WAD bigint as a number (relative error ~1e-16). */
export function fromWad(x: bigint): number {
  const negative = x < 0n;
  const a = negative ? -x : x;
  const value = Number(a / 10n ** 18n) + Number(a % 10n ** 18n) / 1e18;
  return negative ? -value : value;
}

/** Seconds to years of 365 days, the contract's convention. */
export function yearsOf(seconds: number | bigint): number {
  return Number(seconds) / SECONDS_PER_YEAR;
}
