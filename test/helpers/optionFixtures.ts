/**
 * Shared fixture and bigint model for the option market tests (OptionMarket, OptionMargin).
 *
 * EXPORTS (kept stable; other test files import them):
 *
 *   Fixture
 *   - optionMarkets(): Promise<OptionFixture>        the raw fixture (deploys; usable with loadFixture);
 *   - loadOptionMarkets(): Promise<OptionFixture>    optionMarkets() once, then a snapshot revert per
 *     call, like loadFixture(optionMarkets) but rebuilt if another fixture invalidated the snapshot.
 *     Note: two loadFixture fixtures that both call deployMarkets() invalidate each other's
 *     snapshots (hardhat-deploy reverts the chain); build per-test state on top of ONE of them.
 *     OptionFixture = pricedMarkets({ liquidity: LP_LIQUIDITY, traders }) (test/helpers/fixtures.ts:
 *     deployMarkets, exact prices ETH 3000 / BTC 60000, no TWAPs, funding off, 10M USDC in the pool)
 *     plus:
 *       traders: HardhatEthersSigner[]   signers 2..9 (8), each with 1,000,000 USDC, 100 WETH, 10 WBTC,
 *                                        approving MarginAccounts;
 *       bs: BlackScholesHarness          deployed from the LAST signer (the deployer's nonce unchanged);
 *       iv: { eth, btc }                 riskConfig.impliedVolatility(weth / wbtc) at fixture time;
 *       params: OptionParams             the WETH option parameters as RiskConfig holds them;
 *       addr.options, addr.optionLens    (added to pricedMarkets' addr);
 *       LISTER_ROLE granted to the admin (signer 0) on the option market;
 *       listWethSeries(strike, expiry, isCall): Promise<number>   lists (admin) and returns the id;
 *       listSeries(underlying, strike, expiry, isCall): Promise<number>;
 *       openAccount(owner, mode, marketId = 0, depositUsdc = 0n): Promise<bigint>  creates an account
 *                                        (and deposits USDC into it when asked) and returns its id;
 *       pushPrice(feed, price8): Promise<void>   a fresh Chainlink round now (8-decimal answer);
 *       greeksAt(spot, strike, vol, secondsToExpiry, isCall): Promise<Greeks>   the on-chain harness;
 *       readParams(underlying): Promise<OptionParams>.
 *
 *   Constants: CALL, PUT, OPEN_POSITION (Feature 0), LIST_SERIES (Feature 1), LP_LIQUIDITY, DAY_S,
 *   STATUS_OK / STATUS_DEGRADED / STATUS_DOWN, SCALE (1e12: WAD per USDC unit).
 *
 *   Time: gridExpiry(now, days, grid = DAY): the first multiple of `grid` at or after now + days.
 *
 *   Fixed point (solady semantics): mulWad (down), mulWadUp, sMulWad (signed, toward zero),
 *   divWadUp, toUnitsUp / toUnitsDown (WAD -> USDC units, signed, toward +inf / -inf).
 *
 *   Option formulas (contracts/libraries/OptionMath.sol, contracts/options/OptionMarket.sol):
 *   - utilization(used, cap), spreadOf(p, netDelta, netVega): OptionMath.spread;
 *   - premiumOf(amount, unitPrice, spread): OptionMath.premium in USDC units;
 *   - tradeQuote(p, state, g, amount): the exposure a trade leaves, its spread and premium;
 *   - tradeSpot(isCall, buy, price): which end of [low, high] a trade prices at;
 *   - payoffOf(isCall, strike, spot), settledUnits(size, payoff): settlement;
 *   - optionValue(size, unit), equityValueOf(size, unit, haircut): accountRisk value/equityValue;
 *   - shortTerm(isCall, strike, spot, mark, p), shortMaintenance(size, ...), shortInitial(mm, p);
 *   - tenorFactor(seconds), volatilityUp(vol, factor, p), volatilityDown(vol, factor, p);
 *   - liveLiability(net, unitAtHolderSide), settledLiability(longOi, shortOi, payoff),
 *     liabilityUnits(totalWad): LiquidityPool's option liability (tradersUnrealizedPnl).
 */
import { ethers } from "hardhat";
import { takeSnapshot } from "@nomicfoundation/hardhat-network-helpers";
import type { SnapshotRestorer } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { paramIndex } from "../../scripts/lib/params";
import type { BlackScholesHarness } from "../../typechain-types";
import { pricedMarkets } from "./fixtures";
import { WAD, usdc } from "./marginModel";

// ---------------------------------------------------------------- constants

export const CALL = true;
export const PUT = false;
/** IRiskConfig.Feature. */
export const OPEN_POSITION = 0;
export const LIST_SERIES = 1;
/** IPriceOracle.Status. */
export const STATUS_OK = 0n;
export const STATUS_DEGRADED = 1n;
export const STATUS_DOWN = 2n;
/** WAD USD per USDC unit. */
export const SCALE = 10n ** 12n;
export const DAY_S = 86_400n;
/** USDC the LP (signer 1) deposits into the pool. */
export const LP_LIQUIDITY = usdc("10000000");

// ---------------------------------------------------------------- types

export interface Greeks {
  price: bigint;
  delta: bigint;
  gamma: bigint;
  vega: bigint;
}

/** The option parameters of one underlying (RiskConfig), plus its effective implied volatility. */
export interface OptionParams {
  impliedVol: bigint; // riskConfig.impliedVolatility: max(IMPLIED_VOL, realized x IV_FLOOR_FACTOR)
  ivFloorFactor: bigint;
  spreadBase: bigint;
  spreadSlope: bigint;
  strikeBand: bigint;
  expiryGrid: bigint;
  maxExpiry: bigint;
  maxLiveSeries: bigint;
  maxSeriesOi: bigint;
  maxNetDelta: bigint;
  maxNetVega: bigint;
  haircut: bigint;
  mmSpot: bigint;
  mmFloor: bigint;
  maxOptionsPerAccount: bigint;
  imMultiplier: bigint;
  volShockUp: bigint;
  volShockDown: bigint;
}

const PARAM_NAMES: Record<Exclude<keyof OptionParams, "impliedVol">, string> = {
  ivFloorFactor: "IV_FLOOR_FACTOR",
  spreadBase: "OPTION_SPREAD_BASE",
  spreadSlope: "OPTION_SPREAD_SLOPE",
  strikeBand: "STRIKE_BAND",
  expiryGrid: "EXPIRY_GRID",
  maxExpiry: "MAX_EXPIRY",
  maxLiveSeries: "MAX_LIVE_SERIES",
  maxSeriesOi: "MAX_SERIES_OI",
  maxNetDelta: "MAX_NET_DELTA",
  maxNetVega: "MAX_NET_VEGA",
  haircut: "LONG_OPTION_HAIRCUT",
  mmSpot: "SHORT_OPTION_MM_SPOT",
  mmFloor: "SHORT_OPTION_MM_FLOOR",
  maxOptionsPerAccount: "MAX_OPTIONS_PER_ACCOUNT",
  imMultiplier: "OPTION_IM_MULTIPLIER",
  volShockUp: "VOL_SHOCK_UP",
  volShockDown: "VOL_SHOCK_DOWN",
};

// ---------------------------------------------------------------- fixture

/**
 * pricedMarkets with 10M USDC in the pool and 8 funded traders (signers 2..9), LISTER_ROLE for the
 * admin, a BlackScholesHarness from the last signer, and helpers bound to the deployment.
 */
export async function optionMarkets() {
  const signers = await ethers.getSigners();
  const traders = signers.slice(2, 10);
  const keel = await pricedMarkets({ liquidity: LP_LIQUIDITY, traders });
  await keel.options.grantRole(await keel.options.LISTER_ROLE(), keel.admin.address);
  const bs = (await (
    await ethers.getContractFactory("BlackScholesHarness", signers[signers.length - 1])
  ).deploy()) as unknown as BlackScholesHarness;
  await bs.waitForDeployment();
  const addr = {
    ...keel.addr,
    options: await keel.options.getAddress(),
    optionLens: await keel.optionLens.getAddress(),
  };

  const readParams = async (underlying: string): Promise<OptionParams> => {
    const scope = BigInt(underlying);
    const p: Partial<OptionParams> = { impliedVol: await keel.riskConfig.impliedVolatility(underlying) };
    for (const [field, name] of Object.entries(PARAM_NAMES)) {
      p[field as keyof OptionParams] = await keel.riskConfig.get(paramIndex(name), scope);
    }
    return p as OptionParams;
  };

  const listSeries = async (underlying: string, strike: bigint, expiry: bigint, isCall: boolean): Promise<number> => {
    const id = Number(await keel.options.seriesCount()) + 1;
    await keel.options.connect(keel.admin).listSeries(underlying, strike, expiry, isCall);
    return id;
  };

  const greeksAt = async (
    spot: bigint,
    strike: bigint,
    vol: bigint,
    secondsToExpiry: bigint,
    isCall: boolean,
  ): Promise<Greeks> => {
    const g = await bs.greeks(spot, strike, vol, secondsToExpiry, isCall);
    return { price: g.price, delta: g.delta, gamma: g.gamma, vega: g.vega };
  };

  return {
    ...keel,
    addr,
    traders,
    bs,
    iv: {
      eth: await keel.riskConfig.impliedVolatility(addr.weth),
      btc: await keel.riskConfig.impliedVolatility(addr.wbtc),
    },
    params: await readParams(addr.weth),
    readParams,
    listSeries,
    listWethSeries: (strike: bigint, expiry: bigint, isCall: boolean) => listSeries(addr.weth, strike, expiry, isCall),
    greeksAt,
    /** Creates an account and deposits `depositUsdc` (if any) into it; returns its id. */
    async openAccount(owner: HardhatEthersSigner, mode: number, marketId = 0, depositUsdc = 0n): Promise<bigint> {
      const id = await keel.accounts.nextAccountId();
      await keel.accounts.connect(owner).createAccount(mode, marketId);
      if (depositUsdc > 0n) await keel.accounts.connect(owner).deposit(id, addr.usdc, depositUsdc);
      return id;
    },
    /** A fresh Chainlink round answered now (answer with 8 decimals, e.g. feed("3100")). */
    async pushPrice(priceFeed: { push(answer: bigint): Promise<unknown> }, answer: bigint): Promise<void> {
      await priceFeed.push(answer);
    },
  };
}

export type OptionFixture = Awaited<ReturnType<typeof optionMarkets>>;

let cached: { snapshot: SnapshotRestorer; value: OptionFixture } | undefined;

/**
 * optionMarkets() once, then the chain reverted to that state on every call (loadFixture's
 * contract). Unlike loadFixture it survives its snapshot being invalidated by a revert to an
 * earlier one (another fixture built on deployMarkets, whose hardhat-deploy fixture reverts the
 * chain): it then builds the fixture again.
 */
export async function loadOptionMarkets(): Promise<OptionFixture> {
  if (cached !== undefined) {
    try {
      await cached.snapshot.restore();
      return cached.value;
    } catch {
      cached = undefined;
    }
  }
  const value = await optionMarkets();
  cached = { snapshot: await takeSnapshot(), value };
  return value;
}

// ---------------------------------------------------------------- time

/** The first multiple of `grid` at or after now + days x 1 day (a valid listing expiry). */
export function gridExpiry(now: bigint, days: bigint, grid: bigint = DAY_S): bigint {
  const t = now + days * DAY_S;
  return ((t + grid - 1n) / grid) * grid;
}

// ---------------------------------------------------------------- fixed point (solady semantics)

const abs = (x: bigint) => (x < 0n ? -x : x);

/** x * y / WAD rounded down (non-negative operands). */
export const mulWad = (x: bigint, y: bigint) => (x * y) / WAD;
/** x * y / WAD rounded up (non-negative operands). */
export const mulWadUp = (x: bigint, y: bigint) => (x * y + WAD - 1n) / WAD;
/** Signed x * y / WAD rounded toward zero (FixedPointMathLib.sMulWad). */
export const sMulWad = (x: bigint, y: bigint) => (x * y) / WAD;
/** x * WAD / y rounded up. */
export const divWadUp = (x: bigint, y: bigint) => (x * WAD + y - 1n) / y;
/** Signed WAD -> USDC units toward +infinity. */
export const toUnitsUp = (x: bigint) => (x >= 0n ? (x + SCALE - 1n) / SCALE : x / SCALE);
/** Signed WAD -> USDC units toward -infinity. */
export const toUnitsDown = (x: bigint) => (x >= 0n ? x / SCALE : -((-x + SCALE - 1n) / SCALE));

// ---------------------------------------------------------------- trading

/** OptionMath._utilization: |used| / cap rounded up, 1 at or above the cap. */
export function utilization(used: bigint, cap: bigint): bigint {
  const u = abs(used);
  if (u >= cap) return WAD;
  return divWadUp(u, cap);
}

/** OptionMath.spread with the underlying's base, slope and caps. */
export function spreadOf(p: OptionParams, netDelta: bigint, netVega: bigint): bigint {
  const ud = utilization(netDelta, p.maxNetDelta);
  const uv = utilization(netVega, p.maxNetVega);
  return p.spreadBase + mulWadUp(p.spreadSlope, ud > uv ? ud : uv);
}

/** OptionMath.premium in USDC units: a buy rounded up, a sell rounded down (never negative). */
export function premiumOf(amount: bigint, unitPrice: bigint, spread: bigint): bigint {
  const size = abs(amount);
  if (amount > 0n) return (mulWadUp(mulWadUp(size, unitPrice), WAD + spread) + SCALE - 1n) / SCALE;
  if (spread >= WAD) return 0n;
  return mulWad(mulWad(size, unitPrice), WAD - spread) / SCALE;
}

/** The end of the [low, high] bracket a trade prices at: a buyer of a call / seller of a put at high. */
export const tradeSpot = (isCall: boolean, buy: boolean, price: { low: bigint; high: bigint }) =>
  isCall === buy ? price.high : price.low;

/** The state a trade in one series starts from. */
export interface ExposureState {
  /** The pool's exposure on the underlying (exposureOf). */
  netDelta: bigint;
  netVega: bigint;
  /** The series' stored traders' Greeks (series(id).traderDelta / traderVega). */
  seriesTraderDelta: bigint;
  seriesTraderVega: bigint;
  /** Traders' net (long OI - short OI) in the series BEFORE the trade. */
  seriesNet: bigint;
}

export interface TradeQuote {
  traderDelta: bigint;
  traderVega: bigint;
  netDelta: bigint;
  netVega: bigint;
  spread: bigint;
  premium: bigint;
}

/** The larger of two exposures in absolute value (the spread is charged at the larger). */
const larger = (a: bigint, b: bigint): bigint => ((a < 0n ? -a : a) > (b < 0n ? -b : b) ? a : b);

/** OptionMath.tradePrice: a buy pays at least 0.01% of the spot it was priced at (rounded up). */
export function tradePriceOf(amount: bigint, unitPrice: bigint, spot: bigint): bigint {
  if (amount < 0n) return unitPrice;
  const least = mulWadUp(spot, 10n ** 14n);
  return unitPrice > least ? unitPrice : least;
}

/**
 * OptionMarket._bookExposure + OptionMath.premium for `amount` at greeks `g`: the spread at the
 * larger of the exposure before and after the trade; `spot` (the price the trade was priced at)
 * applies the buyer's minimum price when given.
 */
export function tradeQuote(p: OptionParams, s: ExposureState, g: Greeks, amount: bigint, spot?: bigint): TradeQuote {
  const net = s.seriesNet + amount;
  const traderDelta = sMulWad(net, g.delta);
  const traderVega = sMulWad(net, g.vega);
  const netDelta = s.netDelta + s.seriesTraderDelta - traderDelta;
  const netVega = s.netVega + s.seriesTraderVega - traderVega;
  const spread = spreadOf(p, larger(netDelta, s.netDelta), larger(netVega, s.netVega));
  const unit = spot === undefined ? g.price : tradePriceOf(amount, g.price, spot);
  return { traderDelta, traderVega, netDelta, netVega, spread, premium: premiumOf(amount, unit, spread) };
}

// ---------------------------------------------------------------- settlement

export function payoffOf(isCall: boolean, strike: bigint, spot: bigint): bigint {
  if (isCall) return spot > strike ? spot - strike : 0n;
  return strike > spot ? strike - spot : 0n;
}

/** OptionMarket._settledUnits: a long's payoff rounded down to units, a short's toward -infinity. */
export function settledUnits(size: bigint, payoff: bigint): bigint {
  if (size > 0n) return mulWad(size, payoff) / SCALE;
  const owed = mulWadUp(-size, payoff);
  return -((owed + SCALE - 1n) / SCALE);
}

// ---------------------------------------------------------------- valuation (accountRisk)

/** size x unit: a long rounded down, a short toward -infinity (WAD). */
export function optionValue(size: bigint, unit: bigint): bigint {
  return size > 0n ? mulWad(size, unit) : -mulWadUp(-size, unit);
}

/** What equity counts: a long's value x (1 - haircut) (both rounded down), a short's value. */
export function equityValueOf(size: bigint, unit: bigint, haircut: bigint): bigint {
  return size > 0n ? mulWad(mulWad(size, unit), WAD - haircut) : optionValue(size, unit);
}

/** OptionMarket._shortTerm: a short's requirement per unit beyond its mark. */
export function shortTerm(isCall: boolean, strike: bigint, spot: bigint, mark: bigint, p: OptionParams): bigint {
  const shock = mulWadUp(spot, p.mmSpot);
  if (isCall) {
    const otm = strike > spot ? strike - spot : 0n;
    const minimum = mulWadUp(spot, p.mmFloor);
    return shock > otm + minimum ? shock - otm : minimum;
  }
  const putOtm = spot > strike ? spot - strike : 0n;
  const putMinimum = mulWadUp(strike, p.mmFloor);
  const term = shock > putOtm + putMinimum ? shock - putOtm : putMinimum;
  const most = strike > mark ? strike - mark : 0n;
  return term < most ? term : most;
}

/** Isolated MM of a short of `size` (< 0): |size| x shortTerm, rounded up; 0 for a long. */
export function shortMaintenance(
  size: bigint,
  isCall: boolean,
  strike: bigint,
  spot: bigint,
  mark: bigint,
  p: OptionParams,
): bigint {
  if (size >= 0n) return 0n;
  return mulWadUp(-size, shortTerm(isCall, strike, spot, mark, p));
}

export const shortInitial = (mm: bigint, p: OptionParams) => mulWadUp(mm, p.imMultiplier);

const SHOCK_TENOR = 30n * DAY_S;
const MAX_TENOR_FACTOR = 3n * WAD;
const MIN_VOL_SHARE = WAD / 10n;

/** OptionMarket._tenorFactor: sqrt(30 days / T) within [1, 3], WAD, rounded up. */
export function tenorFactor(seconds: bigint): bigint {
  if (seconds >= SHOCK_TENOR) return WAD;
  if (seconds * 9n <= SHOCK_TENOR) return MAX_TENOR_FACTOR;
  const ratio = (SHOCK_TENOR * WAD * WAD + seconds - 1n) / seconds;
  let root = isqrt(ratio);
  if (root * root < ratio) root += 1n;
  return root;
}

function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = BigInt(Math.floor(Math.sqrt(Number(n))));
  while (x * x > n) x -= 1n;
  while ((x + 1n) * (x + 1n) <= n) x += 1n;
  return x;
}

export const volatilityUp = (vol: bigint, factor: bigint, p: OptionParams) =>
  mulWadUp(vol, WAD + mulWadUp(p.volShockUp, factor));

export function volatilityDown(vol: bigint, factor: bigint, p: OptionParams): bigint {
  const down = mulWadUp(p.volShockDown, factor);
  return mulWad(vol, down >= WAD - MIN_VOL_SHARE ? MIN_VOL_SHARE : WAD - down);
}

// ---------------------------------------------------------------- pool liability

/**
 * One live series' contribution to tradersUnrealizedPnl (WAD): traders net long at the higher
 * value rounded up, net short at the lower value rounded down. `unit` is BS at high (net long
 * call / net short put) or low (net long put / net short call).
 */
export function liveLiability(net: bigint, unit: bigint): bigint {
  if (net === 0n) return 0n;
  return net > 0n ? mulWadUp(net, unit) : -mulWad(-net, unit);
}

/** One settled, still-held series' contribution (WAD). */
export const settledLiability = (longOi: bigint, shortOi: bigint, payoff: bigint) =>
  mulWadUp(longOi, payoff) - mulWad(shortOi, payoff);

/** tradersUnrealizedPnl's rounding: toward +infinity for a liability, toward zero for a claim. */
export const liabilityUnits = (total: bigint) => (total >= 0n ? (total + SCALE - 1n) / SCALE : total / SCALE);
