import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { deployMarkets } from "../scripts/lib/deployment";
import { paramIndex } from "../scripts/lib/params";
import { networkConfig } from "../config/networks";

// MarginLens reads the margin engine for many accounts at once and derives liquidation prices.
// Expected figures are computed here in bigint with the same model of the perp markets and the
// margin engine as test/MarginEngine.test.ts (the formulas as specified; duplicated because the
// two test files may not share a helper), never read back from the contracts under test; the
// inputs read from the chain are the volatility oracle's sigma and block timestamps.
//
// Oracle: fresh Chainlink rounds and no Uniswap TWAPs, so low = high = price = Chainlink.
// Funding is on (the configured velocity): trades record their block's timestamp in the model and
// views run at the latest block's, so funding is accounted for to the wei. The liquidation-price
// formula holds funding still, and every block is at least a second later than the last: at these
// skews a second of funding moves the real threshold by about a tick, so the checks that a price
// one tick on either side of the formula's flips isLiquidatable switch funding off (velocity 0
// before any trade) and move no time on between the formula and the pushes.

const WAD = 10n ** 18n;
const DAY = 86_400n;
const YEAR = 365n * DAY;
/** WAD per USDC unit (6 decimals). */
const USDC_SCALE = 10n ** 12n;
/** One feed unit (feeds have 8 decimals, 1e-8 USD) in WAD. */
const TICK = 10n ** 10n;

const CROSS = 0;
const ISOLATED = 1;
const ETH = 1; // market ids (config/networks.ts, local)
const BTC = 2;

const usdc = (v: string) => ethers.parseUnits(v, 6);
const wad = (v: string) => ethers.parseUnits(v, 18);
/** A USD price as the feeds answer it (8 decimals). */
const feed = (v: string) => ethers.parseUnits(v, 8);

const ETH_PRICE = feed("3000");
const BTC_PRICE = feed("60000");

// ---------------------------------------------------------------- fixed-point arithmetic

const abs = (x: bigint) => (x < 0n ? -x : x);
const max = (...xs: bigint[]) => xs.reduce((a, b) => (a > b ? a : b));
const min = (a: bigint, b: bigint) => (a < b ? a : b);
/** x / d toward +infinity (d > 0). */
const divUp = (x: bigint, d: bigint) => (x > 0n ? (x + d - 1n) / d : x / d);
/** x / d toward -infinity (d > 0). */
const divDown = (x: bigint, d: bigint) => (x < 0n ? -((-x + d - 1n) / d) : x / d);
const mulWadUp = (x: bigint, y: bigint) => divUp(x * y, WAD);
const mulWadDown = (x: bigint, y: bigint) => divDown(x * y, WAD);

/** Integer square root, rounded up when x is not a perfect square. */
function sqrtUp(x: bigint): bigint {
  let r = BigInt(Math.floor(Math.sqrt(Number(x))));
  while (r * r > x) r -= 1n;
  while ((r + 1n) * (r + 1n) <= x) r += 1n;
  return r * r < x ? r + 1n : r;
}

// ---------------------------------------------------------------- the formulas

interface MarketParams {
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

const PARAM_FIELDS: Record<string, keyof MarketParams> = {
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
function configuredParams(marketId: number): MarketParams {
  const p: Partial<MarketParams> = {};
  for (const s of networkConfig("hardhat").governance.params) {
    const field = PARAM_FIELDS[s.param];
    if (s.scope === marketId && field !== undefined) p[field] = s.value;
  }
  return p as MarketParams;
}

/** max(floor, size term, volatility term), each rounded up (PerpMarket._shockRatio). */
function shockRatio(p: MarketParams, absSize: bigint, sigma: bigint): bigint {
  const sizeTerm = p.maxPositionSize === 0n ? p.mmSizeFactor : divUp(p.mmSizeFactor * absSize, p.maxPositionSize);
  const root = sqrtUp(divUp(p.horizon * WAD * WAD, YEAR));
  const volTerm = mulWadUp(mulWadUp(p.volMultiplier, sigma), root);
  return max(p.mmFloor, sizeTerm, volTerm);
}

/** oracle x (2 skewScale + 2 skew + delta) / (2 skewScale): up for a buy, down for a sell. */
function fillPrice(oracle: bigint, skew: bigint, delta: bigint, skewScale: bigint): bigint {
  const numerator = 2n * skewScale + 2n * skew + delta;
  if (numerator <= 0n) return 0n;
  return delta > 0n ? divUp(oracle * numerator, 2n * skewScale) : (oracle * numerator) / (2n * skewScale);
}

/** Maker fee on the part of the trade that reduces |skew|, taker fee on the rest; rounded up. */
function tradeFee(p: MarketParams, skew: bigint, delta: bigint, price: bigint): bigint {
  const size = abs(delta);
  const maker = (skew > 0n && delta < 0n) || (skew < 0n && delta > 0n) ? min(size, abs(skew)) : 0n;
  return divUp((maker * p.makerFee + (size - maker) * p.takerFee) * price, WAD * WAD);
}

/** Realized PnL of the closing part and the cost of what stays open plus what opens. */
function reprice(size: bigint, cost: bigint, delta: bigint, price: bigint): [bigint, bigint] {
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
function fundingVelocity(skew: bigint, skewScale: bigint, maxVelocity: bigint): bigint {
  let proportional = (skew * WAD) / skewScale;
  if (proportional > WAD) proportional = WAD;
  if (proportional < -WAD) proportional = -WAD;
  return (proportional * maxVelocity) / WAD;
}

/** PerpMath.accrueFunding: the new rate and the rate's integral (rate-days), linear then clamped. */
function accrueFunding(rate: bigint, velocity: bigint, elapsed: bigint, cap: bigint): [bigint, bigint] {
  if (rate > cap) rate = cap;
  if (rate < -cap) rate = -cap;
  const unclamped = rate + (velocity * elapsed) / DAY;
  if (unclamped <= cap && unclamped >= -cap) return [unclamped, ((rate + unclamped) * elapsed) / (2n * DAY)];
  const bound = unclamped > cap ? cap : -cap;
  const toBound = ((bound - rate) * DAY) / velocity;
  return [bound, ((rate + bound) * toBound) / (2n * DAY) + (bound * (elapsed - toBound)) / DAY];
}

// ---------------------------------------------------------------- the model

interface Position {
  size: bigint;
  cost: bigint;
  snapshot: bigint;
}

interface MarketModel {
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

interface AccountModel {
  mode: number;
  balances: Map<string, bigint>;
  positions: Map<number, Position>;
}

interface CollateralModel {
  decimals: bigint;
  weight: bigint;
  /** The market whose price values it. */
  marketId: number;
}

interface TradeResult {
  fill: bigint;
  fee: bigint;
  funding: bigint;
  realized: bigint;
  newSize: bigint;
  units: bigint;
  insurance: bigint;
}

interface RiskModel {
  marketId: number;
  underlying: string;
  size: bigint;
  price: bigint;
  pnl: bigint;
  notional: bigint;
  shockRatio: bigint;
  imMultiplier: bigint;
}

interface MarginModel {
  equity: bigint;
  im: bigint;
  mm: bigint;
  /** Sum of positive per-position PnL. */
  profit: bigint;
  risks: RiskModel[];
}

/** The perp markets and accounts as the formulas say they are. */
class Sim {
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

// ---------------------------------------------------------------- fixture

/**
 * deployMarkets() with fresh feed rounds (ETH 3000, BTC 60000), no TWAPs, 10M USDC in the pool,
 * and alice, bob and carol funded and approving MarginAccounts. No accounts yet.
 */
async function keelFixture() {
  const keel = await deployMarkets();
  const [admin, lp, alice, bob, carol] = await ethers.getSigners();
  const addr = {
    usdc: await keel.usdc.getAddress(),
    weth: await keel.weth.getAddress(),
    wbtc: await keel.wbtc.getAddress(),
    accounts: await keel.accounts.getAddress(),
    pool: await keel.pool.getAddress(),
  };
  await time.increase(1800);
  await keel.ethFeed.push(ETH_PRICE);
  await keel.btcFeed.push(BTC_PRICE);
  await keel.oracle.setTwap(addr.weth, ethers.ZeroAddress, ethers.ZeroAddress, 0, 0);
  await keel.oracle.setTwap(addr.wbtc, ethers.ZeroAddress, ethers.ZeroAddress, 0, 0);
  const liquidity = usdc("10000000");
  await keel.usdc.mint(lp.address, liquidity);
  await keel.usdc.connect(lp).approve(addr.pool, liquidity);
  await keel.pool.connect(lp).deposit(liquidity, lp.address);
  for (const trader of [alice, bob, carol]) {
    await keel.usdc.mint(trader.address, usdc("1000000"));
    await keel.weth.mint(trader.address, wad("100"));
    await keel.wbtc.mint(trader.address, ethers.parseUnits("10", 8));
    for (const token of [keel.usdc, keel.weth, keel.wbtc]) {
      await token.connect(trader).approve(addr.accounts, ethers.MaxUint256);
    }
  }
  const sigma = {
    eth: await keel.volatility.volatility(addr.weth),
    btc: await keel.volatility.volatility(addr.wbtc),
  };
  return { ...keel, addr, admin, lp, alice, bob, carol, sigma };
}

/** The fixture with its model, and helpers that act on both and check the chain against the model. */
async function ready() {
  const f = await loadFixture(keelFixture);
  const collateralConfig = (symbol: string) => {
    const c = networkConfig("hardhat").collaterals.find((x) => x.symbol === symbol);
    if (c === undefined) throw new Error(symbol);
    return c;
  };
  const market = (id: number, underlying: string, sigma: bigint, price: bigint): MarketModel => ({
    params: configuredParams(id),
    underlying,
    sigma,
    price: price * TICK,
    skew: 0n,
    rate: 0n,
    index: 0n,
    last: 0n,
  });
  const sim = new Sim(
    f.addr.usdc,
    new Map([
      [f.addr.weth, { decimals: 18n, weight: collateralConfig("WETH").weight, marketId: ETH }],
      [f.addr.wbtc, { decimals: 8n, weight: collateralConfig("WBTC").weight, marketId: BTC }],
    ]),
    new Map([
      [ETH, market(ETH, f.addr.weth, f.sigma.eth, ETH_PRICE)],
      [BTC, market(BTC, f.addr.wbtc, f.sigma.btc, BTC_PRICE)],
    ]),
  );
  const feeds: Record<number, typeof f.ethFeed> = { [ETH]: f.ethFeed, [BTC]: f.btcFeed };
  const now = async () => BigInt(await time.latest());

  const h = {
    now,
    /** Creates an account (Cross: market 0; Isolated: its market) and returns its id. */
    async open(owner: HardhatEthersSigner, mode: number, marketId = 0): Promise<bigint> {
      const id = await f.accounts.nextAccountId();
      await f.accounts.connect(owner).createAccount(mode, marketId);
      sim.addAccount(id, mode);
      return id;
    },
    async deposit(owner: HardhatEthersSigner, id: bigint, token: string, amount: bigint) {
      await f.accounts.connect(owner).deposit(id, token, amount);
      sim.credit(id, token, amount);
    },
    /** Trades at the widest price limit; checks the PositionModified event against the model. */
    async trade(owner: HardhatEthersSigner, id: bigint, marketId: number, delta: bigint): Promise<TradeResult> {
      const tx = await f.perps.connect(owner).modifyPosition(id, marketId, delta, delta > 0n ? ethers.MaxUint256 : 0n);
      const receipt = await tx.wait();
      const block = await receipt?.getBlock();
      if (block === undefined) throw new Error("trade block not found");
      const r = sim.trade(id, marketId, delta, BigInt(block.timestamp));
      await expect(tx)
        .to.emit(f.perps, "PositionModified")
        .withArgs(id, marketId, delta, r.fill, r.newSize, r.realized, r.funding, r.fee, r.units);
      return r;
    },
    /** Pushes a fresh Chainlink round (8 decimals). */
    async setPrice(marketId: number, answer: bigint) {
      await feeds[marketId].push(answer);
      sim.market(marketId).price = answer * TICK;
    },
    /** The model's margin now (the latest block: what a view call sees). */
    async expected(id: bigint): Promise<MarginModel> {
      return sim.margin(id, await now());
    },
    /** MAX_FUNDING_VELOCITY 0 in both markets, before any trade: no funding ever accrues. */
    async fundingOff() {
      for (const id of [ETH, BTC]) {
        await f.riskConfig.setParameter(paramIndex("MAX_FUNDING_VELOCITY"), id, 0n);
        sim.market(id).params.maxFundingVelocity = 0n;
      }
    },
  };
  return { ...f, sim, ...h };
}

// ---------------------------------------------------------------- expected lens output

/** A margins() entry as an array: [accountId, ok, equity, IM, MM, liquidatable, reason]. */
function entry(r: {
  accountId: bigint;
  ok: boolean;
  equity: bigint;
  initialMargin: bigint;
  maintenanceMargin: bigint;
  liquidatable: boolean;
  reason: string;
}) {
  return [r.accountId, r.ok, r.equity, r.initialMargin, r.maintenanceMargin, r.liquidatable, r.reason];
}

/** What margins() should say of an account the engine values: the model's figures. */
function valued(id: bigint, e: MarginModel) {
  return [id, true, e.equity, e.im, e.mm, e.mm > e.equity, "0x"];
}

/** What margins() should say of an account the engine reverts for: zeros and the revert data. */
function failed(id: bigint, reason: string) {
  return [id, false, 0n, 0n, 0n, false, reason];
}

/**
 * P_liq = P + trunc((MM - E) x 1e18 / slope), slope = size - floor(notional x s / P): the price of
 * the position's underlying at which equity meets MM, all else equal; 0 if not positive or if the
 * slope is 0.
 */
function liquidationPrice(e: MarginModel, r: RiskModel): bigint {
  const slope = r.size - (r.notional * r.shockRatio) / r.price;
  if (slope === 0n) return 0n;
  const liq = r.price + ((e.mm - e.equity) * WAD) / slope;
  return liq > 0n ? liq : 0n;
}

type Ready = Awaited<ReturnType<typeof ready>>;

/** liquidationPrices(id) as arrays [marketId, size, price, liquidationPrice]. */
async function lensPrices(f: Ready, id: bigint) {
  return (await f.lens.liquidationPrices(id)).map((p) => [p.marketId, p.size, p.price, p.liquidationPrice]);
}

/** The model's liquidationPrices(id) now. */
async function expectedPrices(f: Ready, id: bigint) {
  const e = await f.expected(id);
  return e.risks.map((r) => [BigInt(r.marketId), r.size, r.price, liquidationPrice(e, r)]);
}

/**
 * Sets the feed one tick (1e-8 USD) on the safe side of `liq` (the nearest tick strictly above it
 * for a long, below it for a short), then one tick past it: not liquidatable, then liquidatable.
 * The model says the same at both prices (funding accrued to each push's block included).
 */
async function checkAroundLiquidationPrice(f: Ready, id: bigint, marketId: number, liq: bigint, long: boolean) {
  const above = liq / TICK + 1n; // the nearest tick strictly above
  const below = divUp(liq, TICK) - 1n; // the nearest tick strictly below
  const [safe, past] = long ? [above, below] : [below, above];
  expect(abs(safe * TICK - liq) <= TICK && abs(past * TICK - liq) <= TICK).to.be.true;

  await f.setPrice(marketId, safe);
  const atSafe = await f.expected(id);
  expect(atSafe.mm > atSafe.equity, "model: liquidatable on the safe side").to.be.false;
  expect(await f.engine.isLiquidatable(id)).to.be.false;
  expect((await f.lens.margins([id]))[0].liquidatable).to.be.false;

  await f.setPrice(marketId, past);
  const atPast = await f.expected(id);
  expect(atPast.mm > atPast.equity, "model: liquidatable past the price").to.be.true;
  expect(await f.engine.isLiquidatable(id)).to.be.true;
  expect((await f.lens.margins([id]))[0].liquidatable).to.be.true;
}

/**
 * alice: isolated ETH long 5 on 1,500 USDC. bob: cross BTC short 2 on 10,000 USDC, and cross
 * ETH long 3 + BTC short 1 on 8,000 USDC. carol: cross with 700 USDC only, cross with WETH only,
 * and an empty cross account.
 */
async function book({ funding = true } = {}) {
  const f = await ready();
  if (!funding) await f.fundingOff();
  const ethLong = await f.open(f.alice, ISOLATED, ETH);
  await f.deposit(f.alice, ethLong, f.addr.usdc, usdc("1500"));
  await f.trade(f.alice, ethLong, ETH, wad("5"));
  const btcShort = await f.open(f.bob, CROSS);
  await f.deposit(f.bob, btcShort, f.addr.usdc, usdc("10000"));
  await f.trade(f.bob, btcShort, BTC, wad("-2"));
  const mixed = await f.open(f.bob, CROSS);
  await f.deposit(f.bob, mixed, f.addr.usdc, usdc("8000"));
  await f.trade(f.bob, mixed, ETH, wad("3"));
  await f.trade(f.bob, mixed, BTC, wad("-1"));
  const cashOnly = await f.open(f.carol, CROSS);
  await f.deposit(f.carol, cashOnly, f.addr.usdc, usdc("700"));
  const wethOnly = await f.open(f.carol, CROSS);
  await f.deposit(f.carol, wethOnly, f.addr.weth, wad("2"));
  const empty = await f.open(f.carol, CROSS);
  const unknown = 999n;
  return { ...f, ethLong, btcShort, mixed, cashOnly, wethOnly, empty, unknown };
}

// ---------------------------------------------------------------- tests

describe("MarginLens", () => {
  describe("margins", () => {
    it("answers every account in one call, each exactly as the engine values it", async () => {
      const f = await book();
      const ids = [f.ethLong, f.btcShort, f.mixed, f.cashOnly, f.wethOnly, f.empty, f.unknown];
      const out = await f.lens.margins(ids);
      const expected = await Promise.all(ids.map(async (id) => valued(id, await f.expected(id))));
      expect(out.map(entry)).to.deep.equal(expected);
      // Spot checks of the model: cash at face value, WETH at weight x price, nothing at all.
      expect(entry(out[3])).to.deep.equal([f.cashOnly, true, wad("700"), 0n, 0n, false, "0x"]);
      expect(entry(out[4])).to.deep.equal([f.wethOnly, true, wad("5100"), 0n, 0n, false, "0x"]); // 2 x 3000 x 0.85
      expect(entry(out[5])).to.deep.equal([f.empty, true, 0n, 0n, 0n, false, "0x"]);
      expect(entry(out[6])).to.deep.equal([f.unknown, true, 0n, 0n, 0n, false, "0x"]);
      // Each entry is what the engine says.
      for (const [i, id] of ids.entries()) {
        const m = await f.engine.accountMargin(id);
        expect([out[i].equity, out[i].initialMargin, out[i].maintenanceMargin]).to.deep.equal([
          m.equity,
          m.initialMargin,
          m.maintenanceMargin,
        ]);
      }
      expect(await f.lens.margins([])).to.deep.equal([]);
    });

    it("flags the accounts whose MM exceeds their equity", async () => {
      const f = await book();
      await f.setPrice(ETH, feed("2700"));
      const ids = [f.ethLong, f.btcShort, f.mixed];
      const out = await f.lens.margins(ids);
      const expected = await Promise.all(ids.map(async (id) => valued(id, await f.expected(id))));
      expect(out.map(entry)).to.deep.equal(expected);
      expect(out.map((r) => r.liquidatable)).to.deep.equal([true, false, false]);
      for (const id of ids) {
        expect(await f.engine.isLiquidatable(id)).to.equal(out[ids.indexOf(id)].liquidatable);
      }
    });

    it("reports an account whose price is Down as not ok, with zeros and the revert data", async () => {
      const f = await book();
      // The ETH feed goes stale (heartbeat 3600 + tolerance 300); BTC gets a fresh round.
      await time.increase(3901);
      await f.setPrice(BTC, BTC_PRICE);
      expect((await f.oracle.getPrice(f.addr.weth)).status).to.equal(2n); // Down

      const ids = [f.ethLong, f.btcShort, f.mixed, f.cashOnly, f.wethOnly, f.empty, f.unknown];
      const out = await f.lens.margins(ids);
      // A position needs the price (PerpMarket.PriceDown), so does WETH collateral (MarginEngine.PriceDown).
      const positionDown = f.perps.interface.encodeErrorResult("PriceDown", [f.addr.weth]);
      const collateralDown = f.engine.interface.encodeErrorResult("PriceDown", [f.addr.weth]);
      expect(out.map(entry)).to.deep.equal([
        failed(f.ethLong, positionDown),
        valued(f.btcShort, await f.expected(f.btcShort)),
        failed(f.mixed, positionDown),
        valued(f.cashOnly, await f.expected(f.cashOnly)),
        failed(f.wethOnly, collateralDown),
        [f.empty, true, 0n, 0n, 0n, false, "0x"],
        [f.unknown, true, 0n, 0n, 0n, false, "0x"],
      ]);
      // The revert data is the engine's own.
      await expect(f.engine.accountMargin(f.ethLong))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      // liquidationPrices has no per-account shelter: it reverts.
      await expect(f.lens.liquidationPrices(f.mixed))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
    });
  });

  describe("liquidationPrices", () => {
    it("long (isolated ETH): the formula's price, and liquidatable one tick past it only", async () => {
      const f = await book({ funding: false });
      const [p] = await expectedPrices(f, f.ethLong);
      expect(await lensPrices(f, f.ethLong)).to.deep.equal([p]);
      expect(p.slice(0, 3)).to.deep.equal([1n, wad("5"), wad("3000")]);
      const liq = p[3];
      // Below the price, by roughly (equity - MM) / (5 x (1 - s)).
      expect(liq > wad("2700") && liq < wad("3000")).to.be.true;
      await checkAroundLiquidationPrice(f, f.ethLong, ETH, liq, true);
    });

    it("short (cross BTC): the formula's price, and liquidatable one tick past it only", async () => {
      const f = await book({ funding: false });
      const [p] = await expectedPrices(f, f.btcShort);
      expect(await lensPrices(f, f.btcShort)).to.deep.equal([p]);
      expect(p.slice(0, 3)).to.deep.equal([2n, wad("-2"), wad("60000")]);
      const liq = p[3];
      expect(liq > wad("60000") && liq < wad("66000")).to.be.true;
      await checkAroundLiquidationPrice(f, f.btcShort, BTC, liq, false);
    });

    it("one price per position of a cross account, each holding the other prices still", async () => {
      const f = await book({ funding: false });
      const expected = await expectedPrices(f, f.mixed);
      expect(await lensPrices(f, f.mixed)).to.deep.equal(expected);
      expect(expected.map((p) => p.slice(0, 3))).to.deep.equal([
        [1n, wad("3"), wad("3000")],
        [2n, wad("-1"), wad("60000")],
      ]);
      await checkAroundLiquidationPrice(f, f.mixed, ETH, expected[0][3], true);
    });

    it("the BTC short of the cross account, ETH held still", async () => {
      const f = await book({ funding: false });
      const expected = await expectedPrices(f, f.mixed);
      expect(await lensPrices(f, f.mixed)).to.deep.equal(expected);
      await checkAroundLiquidationPrice(f, f.mixed, BTC, expected[1][3], false);
    });

    it("with funding on, is the formula at the equity of the moment, funding owed to now included", async () => {
      const f = await book();
      await time.increase(3600);
      await f.setPrice(ETH, feed("2950"));
      await f.setPrice(BTC, feed("61000"));
      const now = await f.now();
      for (const market of [ETH, BTC]) expect(f.sim.accrued(f.sim.market(market), now).index).to.not.equal(0n);
      for (const id of [f.ethLong, f.btcShort, f.mixed]) {
        expect(await lensPrices(f, id)).to.deep.equal(await expectedPrices(f, id));
      }
      // The formula holds funding still: the next block's accrual moves the real threshold, by more
      // than a tick within seconds at these skews, which is why the tick checks run without funding.
    });

    it("is zero for a long no positive price can liquidate, and empty without positions", async () => {
      const f = await ready();
      const id = await f.open(f.carol, ISOLATED, ETH);
      await f.deposit(f.carol, id, f.addr.usdc, usdc("100000"));
      await f.trade(f.carol, id, ETH, wad("1"));
      const expected = await expectedPrices(f, id);
      expect(expected).to.deep.equal([[1n, wad("1"), wad("3000"), 0n]]);
      expect(await lensPrices(f, id)).to.deep.equal(expected);
      const cash = await f.open(f.carol, CROSS);
      await f.deposit(f.carol, cash, f.addr.usdc, usdc("10"));
      expect(await f.lens.liquidationPrices(cash)).to.deep.equal([]);
    });
  });
});
