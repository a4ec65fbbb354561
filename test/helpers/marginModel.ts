import { ethers } from "hardhat";
import { networkConfig } from "../../config/networks";

// A bigint model of the perp markets and the margin engine, built from the formulas as specified
// (README "Perps and margin"), shared by the MarginEngine and MarginLens tests: expected figures are
// computed here, never read back from the contracts under test.

export const WAD = 10n ** 18n;
export const DAY = 86_400n;
export const YEAR = 365n * DAY;
/** WAD per USDC unit (6 decimals). */
export const USDC_SCALE = 10n ** 12n;
/** One feed unit (feeds have 8 decimals, 1e-8 USD) in WAD. */
export const TICK = 10n ** 10n;

export const CROSS = 0;
export const ISOLATED = 1;
export const ETH = 1; // market ids (config/networks.ts, local)
export const BTC = 2;

export const usdc = (v: string) => ethers.parseUnits(v, 6);
export const wad = (v: string) => ethers.parseUnits(v, 18);
/** A USD price as the feeds answer it (8 decimals). */
export const feed = (v: string) => ethers.parseUnits(v, 8);

export const ETH_PRICE = feed("3000");
export const BTC_PRICE = feed("60000");

// ---------------------------------------------------------------- fixed-point arithmetic

export const abs = (x: bigint) => (x < 0n ? -x : x);
export const max = (...xs: bigint[]) => xs.reduce((a, b) => (a > b ? a : b));
export const min = (a: bigint, b: bigint) => (a < b ? a : b);
/** x / d toward +infinity (d > 0). */
export const divUp = (x: bigint, d: bigint) => (x > 0n ? (x + d - 1n) / d : x / d);
/** x / d toward -infinity (d > 0). */
export const divDown = (x: bigint, d: bigint) => (x < 0n ? -((-x + d - 1n) / d) : x / d);
export const mulWadUp = (x: bigint, y: bigint) => divUp(x * y, WAD);
export const mulWadDown = (x: bigint, y: bigint) => divDown(x * y, WAD);

/** Integer square root, rounded up when x is not a perfect square. */
export function sqrtUp(x: bigint): bigint {
  let r = BigInt(Math.floor(Math.sqrt(Number(x))));
  while (r * r > x) r -= 1n;
  while ((r + 1n) * (r + 1n) <= x) r += 1n;
  return r * r < x ? r + 1n : r;
}

// ---------------------------------------------------------------- the formulas

export interface MarketParams {
  mmFloor: bigint;
  mmSizeFactor: bigint;
  volMultiplier: bigint;
  horizon: bigint;
  imMultiplier: bigint;
  makerFee: bigint;
  takerFee: bigint;
  feeInsuranceShare: bigint;
  skewScale: bigint;
  maxFundingVelocity: bigint;
  maxFundingRate: bigint;
  maxPositionSize: bigint;
}

export const PARAM_FIELDS: Record<string, keyof MarketParams> = {
  MM_FLOOR: "mmFloor",
  MM_SIZE_FACTOR: "mmSizeFactor",
  MM_VOL_MULTIPLIER: "volMultiplier",
  LIQUIDATION_HORIZON: "horizon",
  IM_MULTIPLIER: "imMultiplier",
  MAKER_FEE: "makerFee",
  TAKER_FEE: "takerFee",
  FEE_INSURANCE_SHARE: "feeInsuranceShare",
  SKEW_SCALE: "skewScale",
  MAX_FUNDING_VELOCITY: "maxFundingVelocity",
  MAX_FUNDING_RATE: "maxFundingRate",
  MAX_POSITION_SIZE: "maxPositionSize",
};

/** A market's parameters as config/networks.ts sets them. */
export function configuredParams(marketId: number): MarketParams {
  const p: Partial<MarketParams> = {};
  for (const s of networkConfig("hardhat").governance.params) {
    const field = PARAM_FIELDS[s.param];
    if (s.scope === marketId && field !== undefined) p[field] = s.value;
  }
  return p as MarketParams;
}

/** max(floor, size term, volatility term), each rounded up (PerpMarket._shockRatio). */
export function shockRatio(p: MarketParams, absSize: bigint, sigma: bigint): bigint {
  const sizeTerm = p.maxPositionSize === 0n ? p.mmSizeFactor : divUp(p.mmSizeFactor * absSize, p.maxPositionSize);
  const root = sqrtUp(divUp(p.horizon * WAD * WAD, YEAR));
  const volTerm = mulWadUp(mulWadUp(p.volMultiplier, sigma), root);
  return max(p.mmFloor, sizeTerm, volTerm);
}

/** oracle x (2 skewScale + 2 skew + delta) / (2 skewScale): up for a buy, down for a sell. */
export function fillPrice(oracle: bigint, skew: bigint, delta: bigint, skewScale: bigint): bigint {
  const numerator = 2n * skewScale + 2n * skew + delta;
  if (numerator <= 0n) return 0n;
  return delta > 0n ? divUp(oracle * numerator, 2n * skewScale) : (oracle * numerator) / (2n * skewScale);
}

/** Maker fee on the part of the trade that reduces |skew|, taker fee on the rest; rounded up. */
export function tradeFee(p: MarketParams, skew: bigint, delta: bigint, price: bigint): bigint {
  const size = abs(delta);
  const maker = (skew > 0n && delta < 0n) || (skew < 0n && delta > 0n) ? min(size, abs(skew)) : 0n;
  return divUp((maker * p.makerFee + (size - maker) * p.takerFee) * price, WAD * WAD);
}

/** Realized PnL of the closing part and the cost of what stays open plus what opens. */
export function reprice(size: bigint, cost: bigint, delta: bigint, price: bigint): [bigint, bigint] {
  let closing = 0n;
  if ((size > 0n && delta < 0n) || (size < 0n && delta > 0n)) closing = abs(delta) >= abs(size) ? -size : delta;
  const opening = delta - closing;
  let remaining = cost;
  let realized = 0n;
  if (closing !== 0n) {
    const removed = closing === -size ? cost : divUp(cost * abs(closing), abs(size));
    remaining = cost - removed;
    realized = -mulWadUp(closing, price) - removed;
  }
  return [realized, remaining + (opening === 0n ? 0n : mulWadUp(opening, price))];
}

/** skew / skewScale, clamped to +-1, x maxVelocity; each division toward zero. */
export function fundingVelocity(skew: bigint, skewScale: bigint, maxVelocity: bigint): bigint {
  let proportional = (skew * WAD) / skewScale;
  if (proportional > WAD) proportional = WAD;
  if (proportional < -WAD) proportional = -WAD;
  return (proportional * maxVelocity) / WAD;
}

/** PerpMath.accrueFunding: the new rate and the rate's integral (rate-days), linear then clamped. */
export function accrueFunding(rate: bigint, velocity: bigint, elapsed: bigint, cap: bigint): [bigint, bigint] {
  if (rate > cap) rate = cap;
  if (rate < -cap) rate = -cap;
  const unclamped = rate + (velocity * elapsed) / DAY;
  if (unclamped <= cap && unclamped >= -cap) return [unclamped, ((rate + unclamped) * elapsed) / (2n * DAY)];
  const bound = unclamped > cap ? cap : -cap;
  const toBound = ((bound - rate) * DAY) / velocity;
  return [bound, ((rate + bound) * toBound) / (2n * DAY) + (bound * (elapsed - toBound)) / DAY];
}

// ---------------------------------------------------------------- the model

export interface Position {
  size: bigint;
  cost: bigint;
  snapshot: bigint;
}

export interface MarketModel {
  params: MarketParams;
  underlying: string;
  sigma: bigint;
  /** Chainlink price, WAD: low = high = price (no TWAP). */
  price: bigint;
  skew: bigint;
  rate: bigint;
  index: bigint;
  last: bigint;
}

export interface AccountModel {
  mode: number;
  balances: Map<string, bigint>;
  positions: Map<number, Position>;
}

export interface CollateralModel {
  decimals: bigint;
  weight: bigint;
  /** The market whose price values it. */
  marketId: number;
}

export interface TradeResult {
  fill: bigint;
  fee: bigint;
  funding: bigint;
  realized: bigint;
  newSize: bigint;
  units: bigint;
  insurance: bigint;
}

export interface RiskModel {
  marketId: number;
  underlying: string;
  size: bigint;
  price: bigint;
  pnl: bigint;
  notional: bigint;
  shockRatio: bigint;
  imMultiplier: bigint;
}

export interface MarginModel {
  equity: bigint;
  im: bigint;
  mm: bigint;
  /** Sum of positive per-position PnL. */
  profit: bigint;
  risks: RiskModel[];
}

/** The perp markets and accounts as the formulas say they are. */
export class Sim {
  constructor(
    readonly settlementToken: string,
    readonly collaterals: Map<string, CollateralModel>,
    readonly markets: Map<number, MarketModel>,
    readonly accounts: Map<bigint, AccountModel> = new Map(),
  ) {}

  clone(): Sim {
    return new Sim(
      this.settlementToken,
      this.collaterals,
      structuredClone(this.markets),
      structuredClone(this.accounts),
    );
  }

  market(id: number): MarketModel {
    const m = this.markets.get(id);
    if (m === undefined) throw new Error(`no market ${id}`);
    return m;
  }

  account(id: bigint): AccountModel {
    const a = this.accounts.get(id);
    if (a === undefined) throw new Error(`no account ${id}`);
    return a;
  }

  addAccount(id: bigint, mode: number) {
    this.accounts.set(id, { mode, balances: new Map(), positions: new Map() });
  }

  credit(id: bigint, token: string, amount: bigint) {
    const a = this.account(id);
    a.balances.set(token, (a.balances.get(token) ?? 0n) + amount);
  }

  balance(id: bigint, token: string): bigint {
    return this.account(id).balances.get(token) ?? 0n;
  }

  /** The market's funding rate and index accrued to `now` at its current price. */
  accrued(m: MarketModel, now: bigint): { rate: bigint; index: bigint } {
    const elapsed = now - m.last;
    if (elapsed === 0n) return { rate: m.rate, index: m.index };
    const velocity = fundingVelocity(m.skew, m.params.skewScale, m.params.maxFundingVelocity);
    const [rate, rateDays] = accrueFunding(m.rate, velocity, elapsed, m.params.maxFundingRate);
    return { rate, index: m.index + mulWadDown(rateDays, m.price) };
  }

  /** Accrues and stores funding (at trades and at funding-parameter changes). */
  accrue(marketId: number, now: bigint) {
    const m = this.market(marketId);
    const { rate, index } = this.accrued(m, now);
    Object.assign(m, { rate, index, last: now });
  }

  trade(id: bigint, marketId: number, delta: bigint, now: bigint): TradeResult {
    const m = this.market(marketId);
    const a = this.account(id);
    this.accrue(marketId, now);
    const fill = fillPrice(m.price, m.skew, delta, m.params.skewScale);
    const fee = tradeFee(m.params, m.skew, delta, fill);
    const pos = a.positions.get(marketId) ?? { size: 0n, cost: 0n, snapshot: 0n };
    const funding = mulWadUp(pos.size, m.index - pos.snapshot);
    const [realized, newCost] = reprice(pos.size, pos.cost, delta, fill);
    const newSize = pos.size + delta;
    m.skew += delta;
    if (newSize === 0n) a.positions.delete(marketId);
    else a.positions.set(marketId, { size: newSize, cost: newCost, snapshot: m.index });
    const units = divDown(realized - funding - fee, USDC_SCALE);
    this.credit(id, this.settlementToken, units);
    const insurance = mulWadDown(fee, m.params.feeInsuranceShare) / USDC_SCALE;
    return { fill, fee, funding, realized, newSize, units, insurance };
  }

  /** PerpMarket._risk of every position of the account, at `now`. */
  risks(id: bigint, now: bigint): RiskModel[] {
    const a = this.accounts.get(id);
    if (a === undefined) return [];
    return [...a.positions.entries()].map(([marketId, pos]) => {
      const m = this.market(marketId);
      const { index } = this.accrued(m, now);
      const absSize = abs(pos.size);
      return {
        marketId,
        underlying: m.underlying,
        size: pos.size,
        price: m.price,
        pnl: mulWadDown(pos.size, m.price) - pos.cost - mulWadUp(pos.size, index - pos.snapshot),
        notional: mulWadUp(absSize, m.price),
        shockRatio: shockRatio(m.params, absSize, m.sigma),
        imMultiplier: m.params.imMultiplier,
      };
    });
  }

  /** Equity, IM and MM of the account at `now`. */
  margin(id: bigint, now: bigint): MarginModel {
    const a = this.accounts.get(id);
    const out: MarginModel = { equity: 0n, im: 0n, mm: 0n, profit: 0n, risks: [] };
    if (a === undefined) return out;
    for (const [token, balance] of a.balances) {
      if (token === this.settlementToken) {
        out.equity += balance * USDC_SCALE;
        continue;
      }
      const c = this.collaterals.get(token);
      if (c === undefined) throw new Error(`unknown collateral ${token}`);
      const price = this.market(c.marketId).price;
      out.equity += mulWadDown(mulWadDown(balance * 10n ** (18n - c.decimals), price), c.weight);
    }
    out.risks = this.risks(id, now);
    for (const r of out.risks) {
      out.equity += r.pnl;
      if (r.pnl > 0n) out.profit += r.pnl;
    }
    if (a.mode === ISOLATED) {
      // Standard margin: per position MM = notional x s, IM = MM x multiplier.
      for (const r of out.risks) {
        const positionMm = mulWadUp(r.notional, r.shockRatio);
        out.mm += positionMm;
        out.im += mulWadUp(positionMm, r.imMultiplier);
      }
      return out;
    }
    // Portfolio margin: per underlying, the worst loss over spot x (1 + j s / 3), j = -3..3.
    const books = new Map<string, { signed: bigint; s: bigint; imMultiplier: bigint }>();
    for (const r of out.risks) {
      const b = books.get(r.underlying) ?? { signed: 0n, s: 0n, imMultiplier: 0n };
      b.signed += r.size >= 0n ? r.notional : -r.notional;
      b.s = max(b.s, r.shockRatio);
      b.imMultiplier = max(b.imMultiplier, r.imMultiplier);
      books.set(r.underlying, b);
    }
    for (const b of books.values()) {
      let worst = 0n;
      for (let j = -3n; j <= 3n; j++) {
        const against = b.signed > 0n ? j < 0n : j > 0n;
        if (j === 0n || !against) continue;
        worst = max(worst, mulWadUp(abs(b.signed), divUp(b.s * abs(j), 3n)));
      }
      out.mm += worst;
      out.im += mulWadUp(worst, b.imMultiplier);
    }
    return out;
  }
}
