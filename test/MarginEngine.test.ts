import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { deployMarkets } from "../scripts/lib/deployment";
import { paramIndex } from "../scripts/lib/params";
import { networkConfig } from "../config/networks";

// Every expected figure below is computed here, in bigint, from the formulas the contracts are
// specified with (see the sketch of each in `Sim`), never read back from the contracts under test.
// The only values read from the chain are inputs: the volatility oracle's sigma, and the block
// timestamps trades and views run at.
//
// Oracle: the fixture pushes fresh Chainlink rounds and removes both Uniswap TWAPs, so that
// getPrice and getPriceChecked answer Ok with low = high = price = Chainlink, exactly.
//
// Funding: the fixture sets MAX_FUNDING_VELOCITY to 0 in both markets, so that the funding rate
// stays 0 and no funding ever accrues: block timestamps follow the wall clock, and a reverted
// trade is evaluated at a timestamp the test cannot read back, so exact revert arguments would
// otherwise be at the mercy of the clock. The "funding" tests switch it back on and account for
// it to the wei from the timestamps of the blocks the trades and views ran in.

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

/** Oracle status (IPriceOracle.Status) and oracle-policy action (OraclePolicy.Action). */
const DEGRADED = 1n;
const INCREASE_RISK = 0n;

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
 * deployMarkets() with fresh feed rounds (ETH 3000, BTC 60000), no TWAPs, funding off, 10M USDC
 * in the pool, and alice, bob and carol funded and approving MarginAccounts. No accounts yet.
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
    perps: await keel.perps.getAddress(),
  };
  await time.increase(1800);
  await keel.ethFeed.push(ETH_PRICE);
  await keel.btcFeed.push(BTC_PRICE);
  await keel.oracle.setTwap(addr.weth, ethers.ZeroAddress, ethers.ZeroAddress, 0, 0);
  await keel.oracle.setTwap(addr.wbtc, ethers.ZeroAddress, ethers.ZeroAddress, 0, 0);
  for (const market of [ETH, BTC]) {
    await keel.riskConfig.setParameter(paramIndex("MAX_FUNDING_VELOCITY"), market, 0n);
  }
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
    params: { ...configuredParams(id), maxFundingVelocity: 0n },
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
    /** What a trade sent now would do (on a copy of the model; nothing is sent). */
    async whatIf(id: bigint, marketId: number, delta: bigint): Promise<MarginModel> {
      const t = (await now()) + 1n;
      const copy = sim.clone();
      copy.trade(id, marketId, delta, t);
      return copy.margin(id, t);
    },
    /** Pushes a fresh Chainlink round (8 decimals). */
    async setPrice(marketId: number, answer: bigint) {
      await feeds[marketId].push(answer);
      sim.market(marketId).price = answer * TICK;
    },
    async setParam(name: string, marketId: number, value: bigint) {
      const tx = await f.riskConfig.setParameter(paramIndex(name), marketId, value);
      const field = PARAM_FIELDS[name];
      const fundingParam = ["SKEW_SCALE", "MAX_FUNDING_VELOCITY", "MAX_FUNDING_RATE"].includes(name);
      if (fundingParam) {
        const block = await (await tx.wait())?.getBlock();
        if (block === undefined) throw new Error("block not found");
        sim.accrue(marketId, BigInt(block.timestamp));
      }
      sim.market(marketId).params[field] = value;
    },
    /** The model's margin now (the latest block: what a view call sees). */
    async expected(id: bigint): Promise<MarginModel> {
      return sim.margin(id, await now());
    },
    /** Asserts accountMargin(id) equals the model's, to the wei; returns the model's. */
    async expectMargin(id: bigint): Promise<MarginModel> {
      const e = sim.margin(id, await now());
      const m = await f.engine.accountMargin(id);
      expect([m.equity, m.initialMargin, m.maintenanceMargin]).to.deep.equal([e.equity, e.im, e.mm]);
      return e;
    },
    async balances(id: bigint): Promise<bigint[]> {
      return Promise.all([f.addr.usdc, f.addr.weth, f.addr.wbtc].map((t) => f.accounts.balanceOf(id, t)));
    },
  };
  return { ...f, sim, ...h };
}

// ---------------------------------------------------------------- tests

describe("MarginEngine", () => {
  describe("isolated account", () => {
    it("values one ETH long: equity at the low price, MM = notional x the volatility term, IM = 1.5 MM", async () => {
      const f = await ready();
      const id = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("1000"));
      const r = await f.trade(f.alice, id, ETH, wad("1"));

      // The trade, by hand: skew 0 before, skew scale 1e6 ETH, taker fee 0.06%.
      const p = configuredParams(ETH);
      const price = ETH_PRICE * TICK;
      const fill = divUp(price * (2n * p.skewScale + WAD), 2n * p.skewScale);
      expect(fill).to.equal(wad("3000.0015"));
      const fee = divUp(WAD * p.takerFee * fill, WAD * WAD);
      expect(fee).to.equal(wad("1.8000009"));
      const units = divDown(-fee, USDC_SCALE); // toward -infinity: 1.800001 USDC
      expect(units).to.equal(-1_800_001n);
      expect(r).to.include({ fill, fee, units, realized: 0n, funding: 0n });
      expect(r.insurance).to.equal(360_000n); // floor(floor(fee x 0.2) / 1e12)
      const balance = usdc("1000") + units;
      expect(await f.accounts.balanceOf(id, f.addr.usdc)).to.equal(balance);

      // Equity: balance at face value + size x low - cost (cost = 1 x fill, rounded up).
      const equity = balance * USDC_SCALE + price - fill;
      expect(equity).to.equal(wad("998.198499"));

      // s = max(floor 1%, size term 0.02 x 1 / 2000, 3 x sigma x sqrt(4h / 1y)) = the vol term.
      const root = sqrtUp(divUp(4n * 3600n * WAD * WAD, YEAR));
      expect(root).to.equal(21_368_692_158_534_412n); // sqrt(4h / 365d) = 0.02136869215853441...
      const volTerm = mulWadUp(mulWadUp(3n * WAD, f.sigma.eth), root);
      const sizeTerm = divUp(p.mmSizeFactor * WAD, p.maxPositionSize);
      expect(volTerm > sizeTerm && volTerm > p.mmFloor).to.be.true;
      const notional = price; // |1| x high, exact
      const mm = mulWadUp(notional, volTerm);
      const im = mulWadUp(mm, wad("1.5"));
      if (f.sigma.eth === wad("0.6")) {
        // The configured initial volatility (config/networks.ts): the figures in full.
        expect(volTerm).to.equal(38_463_645_885_361_942n);
        expect(mm).to.equal(wad("115.390937656085826")); // exact: 3000 x 0.038463645885361942
        expect(im).to.equal(wad("173.086406484128739"));
      }
      const m = await f.engine.accountMargin(id);
      expect([m.equity, m.initialMargin, m.maintenanceMargin]).to.deep.equal([equity, im, mm]);
      await f.expectMargin(id); // the model agrees
      expect(await f.engine.isLiquidatable(id)).to.be.false;
    });

    it("switches to the size term when MM_SIZE_FACTOR makes it the largest, then to the floor", async () => {
      const f = await ready();
      const id = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("1000"));
      await f.trade(f.alice, id, ETH, wad("1"));
      const price = ETH_PRICE * TICK;
      const root = sqrtUp(divUp(4n * 3600n * WAD * WAD, YEAR));
      const volTerm = mulWadUp(mulWadUp(3n * WAD, f.sigma.eth), root);

      // A 1-ETH position can only reach the size term with a small MAX_POSITION_SIZE: 0.2 x 1 / 3.
      await f.setParam("MAX_POSITION_SIZE", ETH, wad("3"));
      await f.setParam("MM_SIZE_FACTOR", ETH, wad("0.2"));
      const sizeTerm = divUp(wad("0.2") * WAD, wad("3"));
      expect(sizeTerm).to.equal(66_666_666_666_666_667n); // rounded up
      expect(sizeTerm > volTerm).to.be.true;
      let mm = mulWadUp(price, sizeTerm);
      expect(mm).to.equal(wad("200.000000000000001")); // 3000 x 0.066666666666666667
      let m = await f.engine.accountMargin(id);
      expect([m.initialMargin, m.maintenanceMargin]).to.deep.equal([mulWadUp(mm, wad("1.5")), mm]);

      // MM_FLOOR above both.
      await f.setParam("MM_FLOOR", ETH, wad("0.25"));
      mm = mulWadUp(price, wad("0.25"));
      expect(mm).to.equal(wad("750"));
      m = await f.engine.accountMargin(id);
      expect([m.initialMargin, m.maintenanceMargin]).to.deep.equal([wad("1125"), wad("750")]);
      await f.expectMargin(id);
      expect(await f.engine.isLiquidatable(id)).to.be.false; // equity 998.198499
    });
  });

  describe("cross account (portfolio margin)", () => {
    it("needs exactly the isolated IM and MM for a lone perp, long or short", async () => {
      const f = await ready();
      for (const [marketId, delta] of [
        [ETH, wad("2.5")],
        [BTC, wad("-0.3")],
      ] as const) {
        const cross = await f.open(f.alice, CROSS);
        const isolated = await f.open(f.bob, ISOLATED, marketId);
        for (const [owner, id] of [
          [f.alice, cross],
          [f.bob, isolated],
        ] as const) {
          await f.deposit(owner, id, f.addr.usdc, usdc("5000"));
          await f.trade(owner, id, marketId, delta);
        }
        const c = await f.engine.accountMargin(cross);
        const i = await f.engine.accountMargin(isolated);
        expect([c.initialMargin, c.maintenanceMargin]).to.deep.equal([i.initialMargin, i.maintenanceMargin]);
        // And both are the standard formula: MM = ceil(ceil(|size| x high) x s), IM = ceil(MM x 1.5).
        const m = f.sim.market(marketId);
        const s = shockRatio(m.params, abs(delta), m.sigma);
        const mm = mulWadUp(mulWadUp(abs(delta), m.price), s);
        expect([c.initialMargin, c.maintenanceMargin]).to.deep.equal([mulWadUp(mm, wad("1.5")), mm]);
        await f.expectMargin(cross);
        await f.expectMargin(isolated);
      }
    });

    it("sums the worst grid loss of each underlying: ETH long and BTC short", async () => {
      const f = await ready();
      const id = await f.open(f.alice, CROSS);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("20000"));
      await f.trade(f.alice, id, ETH, wad("4"));
      await f.trade(f.alice, id, BTC, wad("-0.25"));

      const eth = f.sim.market(ETH);
      const btc = f.sim.market(BTC);
      // Each book's worst point is its full shock s against it (j = -3 for the long, +3 for the short).
      const ethLoss = mulWadUp(mulWadUp(wad("4"), eth.price), shockRatio(eth.params, wad("4"), eth.sigma));
      const btcLoss = mulWadUp(mulWadUp(wad("0.25"), btc.price), shockRatio(btc.params, wad("0.25"), btc.sigma));
      const mm = ethLoss + btcLoss;
      const im = mulWadUp(ethLoss, wad("1.5")) + mulWadUp(btcLoss, wad("1.5"));
      const m = await f.engine.accountMargin(id);
      expect([m.initialMargin, m.maintenanceMargin]).to.deep.equal([im, mm]);
      await f.expectMargin(id);

      // Moving one underlying changes only its own book's requirement.
      await f.setPrice(BTC, feed("61234.56789012"));
      const btcLoss2 = mulWadUp(mulWadUp(wad("0.25"), btc.price), shockRatio(btc.params, wad("0.25"), btc.sigma));
      const after = await f.expectMargin(id);
      expect([after.im, after.mm]).to.deep.equal([
        mulWadUp(ethLoss, wad("1.5")) + mulWadUp(btcLoss2, wad("1.5")),
        ethLoss + btcLoss2,
      ]);
    });
  });

  describe("isolation", () => {
    it("a move that wipes an isolated account leaves the owner's cross account exactly unchanged", async () => {
      const f = await ready();
      const isolated = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, isolated, f.addr.usdc, usdc("2000"));
      await f.trade(f.alice, isolated, ETH, wad("10"));
      const cross = await f.open(f.alice, CROSS);
      await f.deposit(f.alice, cross, f.addr.usdc, usdc("5000"));
      await f.deposit(f.alice, cross, f.addr.wbtc, ethers.parseUnits("0.1", 8));
      await f.trade(f.alice, cross, BTC, wad("0.5"));

      const crossBalances = await f.balances(cross);
      const crossMargin = await f.engine.accountMargin(cross);
      const isolatedBefore = await f.expectMargin(isolated);
      expect(isolatedBefore.equity >= isolatedBefore.im).to.be.true;

      await f.setPrice(ETH, feed("2700")); // -10%: 10 ETH lose 3,000 USD against 2,000 deposited
      const wiped = await f.expectMargin(isolated);
      expect(wiped.equity < 0n).to.be.true;
      expect(wiped.equity).to.equal(
        f.sim.balance(isolated, f.addr.usdc) * USDC_SCALE +
          10n * wad("2700") -
          f.sim.account(isolated).positions.get(ETH)!.cost,
      );
      expect(await f.engine.isLiquidatable(isolated)).to.be.true;
      expect(await f.engine.withdrawableEquity(isolated)).to.equal(wiped.equity);

      expect(await f.balances(cross)).to.deep.equal(crossBalances);
      const after = await f.engine.accountMargin(cross);
      expect([after.equity, after.initialMargin, after.maintenanceMargin]).to.deep.equal([
        crossMargin.equity,
        crossMargin.initialMargin,
        crossMargin.maintenanceMargin,
      ]);
      await f.expectMargin(cross);
      expect(await f.engine.isLiquidatable(cross)).to.be.false;
    });
  });

  describe("collateral", () => {
    it("values WETH and WBTC at weight x price, WBTC's 8 decimals scaled to WAD", async () => {
      const f = await ready();
      const id = await f.open(f.bob, CROSS);
      const wethAmount = wad("1.234567890123456789");
      const wbtcAmount = ethers.parseUnits("0.12345678", 8);
      await f.setPrice(ETH, feed("3000.12345678"));
      await f.setPrice(BTC, feed("60000.87654321"));
      await f.deposit(f.bob, id, f.addr.weth, wethAmount);
      await f.deposit(f.bob, id, f.addr.wbtc, wbtcAmount);

      const wethValue = divDown(divDown(wethAmount * feed("3000.12345678") * TICK, WAD) * wad("0.85"), WAD);
      const wbtcValue = divDown(
        divDown(wbtcAmount * 10n ** 10n * feed("60000.87654321") * TICK, WAD) * wad("0.8"),
        WAD,
      );
      expect(wbtcValue).to.equal(wad("5926.01201216178997104")); // 0.12345678 x 60000.87654321 x 0.8, exact
      const m = await f.engine.accountMargin(id);
      expect([m.equity, m.initialMargin, m.maintenanceMargin]).to.deep.equal([wethValue + wbtcValue, 0n, 0n]);
      await f.expectMargin(id);
      expect(await f.engine.withdrawableEquity(id)).to.equal(wethValue + wbtcValue);
    });

    it("counts a negative USDC balance at face value, covered by WETH, and flips isLiquidatable at the boundary", async () => {
      const f = await ready();
      const id = await f.open(f.bob, CROSS);
      await f.deposit(f.bob, id, f.addr.weth, wad("10"));
      await f.deposit(f.bob, id, f.addr.wbtc, ethers.parseUnits("0.5", 8));
      await f.trade(f.bob, id, BTC, wad("5"));
      // The fee alone already took the USDC balance below zero: the pool's receivable.
      expect(await f.accounts.balanceOf(id, f.addr.usdc)).to.equal(f.sim.balance(id, f.addr.usdc));
      expect(f.sim.balance(id, f.addr.usdc) < 0n).to.be.true;

      // BTC falls 10%; closing 2 BTC realizes the loss on them.
      await f.setPrice(BTC, feed("54000"));
      const r = await f.trade(f.bob, id, BTC, wad("-2"));
      expect(r.realized < 0n).to.be.true;
      const balance = f.sim.balance(id, f.addr.usdc);
      expect(await f.accounts.balanceOf(id, f.addr.usdc)).to.equal(balance);
      expect(await f.accounts.settlementDebt()).to.equal(-balance);

      // Equity = balance (negative, face value) + WETH + WBTC at weight x low + the 3 BTC's PnL.
      const pos = f.sim.account(id).positions.get(BTC)!;
      const wethValue = divDown(divDown(wad("10") * wad("3000"), WAD) * wad("0.85"), WAD);
      const wbtcValue = divDown(divDown(wad("0.5") * wad("54000"), WAD) * wad("0.8"), WAD);
      const pnl = divDown(wad("3") * wad("54000"), WAD) - pos.cost;
      const equity = balance * USDC_SCALE + wethValue + wbtcValue + pnl;
      expect(wethValue).to.equal(wad("25500"));
      expect(wbtcValue).to.equal(wad("21600"));
      const e = await f.expectMargin(id);
      expect(e.equity).to.equal(equity);
      expect(await f.engine.isLiquidatable(id)).to.be.false;

      // The lowest ETH price (feed ticks) at which the account is still not liquidatable.
      const now = await f.now();
      const liquidatableAt = (answer: bigint) => {
        const copy = f.sim.clone();
        copy.market(ETH).price = answer * TICK;
        const x = copy.margin(id, now);
        return x.mm > x.equity;
      };
      let safe = ETH_PRICE;
      let unsafe = 1n;
      expect(liquidatableAt(unsafe)).to.be.true;
      while (safe - unsafe > 1n) {
        const mid = (safe + unsafe) / 2n;
        if (liquidatableAt(mid)) unsafe = mid;
        else safe = mid;
      }
      // WETH covers the debt down to about 1,600 USD.
      expect(safe > feed("1000") && safe < feed("2000")).to.be.true;

      await f.setPrice(ETH, safe);
      const atSafe = await f.expectMargin(id);
      expect(atSafe.equity >= atSafe.mm).to.be.true;
      expect(await f.engine.isLiquidatable(id)).to.be.false;
      await f.setPrice(ETH, safe - 1n);
      const atUnsafe = await f.expectMargin(id);
      expect(atUnsafe.equity < atUnsafe.mm).to.be.true;
      expect(await f.engine.isLiquidatable(id)).to.be.true;
      await f.setPrice(ETH, safe);
      expect(await f.engine.isLiquidatable(id)).to.be.false;
    });
  });

  describe("trade checks", () => {
    it("reverts an increase that leaves IM uncovered with InsufficientMargin(id, equity after, IM after)", async () => {
      const f = await ready();
      const id = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("1000"));

      // 6 ETH: IM after ~1,038 USD against ~989 of equity after the fee.
      const delta = wad("6");
      const after = await f.whatIf(id, ETH, delta);
      // By hand: fill, fee and settled units of the trade, then equity and IM after it.
      const p = configuredParams(ETH);
      const price = ETH_PRICE * TICK;
      const fill = divUp(price * (2n * p.skewScale + delta), 2n * p.skewScale);
      const fee = divUp(delta * p.takerFee * fill, WAD * WAD);
      const balance = usdc("1000") + divDown(-fee, USDC_SCALE);
      const equityAfter = balance * USDC_SCALE + mulWadDown(delta, price) - mulWadUp(delta, fill);
      const mmAfter = mulWadUp(mulWadUp(delta, price), shockRatio(p, delta, f.sigma.eth));
      const imAfter = mulWadUp(mmAfter, p.imMultiplier);
      expect([after.equity, after.im]).to.deep.equal([equityAfter, imAfter]);
      expect(equityAfter < BigInt(imAfter)).to.be.true;
      await expect(f.perps.connect(f.alice).modifyPosition(id, ETH, delta, ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, equityAfter, imAfter);

      // 5 ETH is covered.
      const ok = await f.whatIf(id, ETH, wad("5"));
      expect(ok.equity >= ok.im).to.be.true;
      await f.trade(f.alice, id, ETH, wad("5"));
      await f.expectMargin(id);
    });

    it("lets a risk-reducing trade through on MM alone, and reverts one that leaves MM uncovered", async () => {
      const f = await ready();
      const id = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("1000"));
      await f.trade(f.alice, id, ETH, wad("5"));

      // At 2950: MM <= equity < IM.
      await f.setPrice(ETH, feed("2950"));
      const now = await f.expectMargin(id);
      expect(now.mm <= now.equity && now.equity < now.im).to.be.true;

      // Adding 0.1 ETH needs IM.
      const up = await f.whatIf(id, ETH, wad("0.1"));
      await expect(f.perps.connect(f.alice).modifyPosition(id, ETH, wad("0.1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, up.equity, up.im);

      // Closing 0.2 ETH only needs MM, which it leaves covered (IM still is not).
      const down = await f.whatIf(id, ETH, wad("-0.2"));
      expect(down.mm <= down.equity && down.equity < down.im).to.be.true;
      await f.trade(f.alice, id, ETH, wad("-0.2"));
      await f.expectMargin(id);

      // At 2880 the 4.8 ETH are below MM: a small reduction that does not restore MM reverts with MM.
      await f.setPrice(ETH, feed("2880"));
      const under = await f.expectMargin(id);
      expect(under.equity < under.mm).to.be.true;
      const small = await f.whatIf(id, ETH, wad("-0.01"));
      expect(small.equity < small.mm).to.be.true;
      await expect(f.perps.connect(f.alice).modifyPosition(id, ETH, wad("-0.01"), 0n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, small.equity, small.mm);
      // A reduction that restores MM goes through.
      const big = await f.whatIf(id, ETH, wad("-2"));
      expect(big.equity >= big.mm).to.be.true;
      await f.trade(f.alice, id, ETH, wad("-2"));
      await f.expectMargin(id);
    });

    it("checkTrade from any caller but the perp market reverts NotPerpMarket(caller)", async () => {
      const f = await ready();
      const id = await f.open(f.alice, CROSS);
      await expect(f.engine.connect(f.alice).checkTrade(id, true))
        .to.be.revertedWithCustomError(f.engine, "NotPerpMarket")
        .withArgs(f.alice.address);
      await expect(f.engine.connect(f.admin).checkTrade(id, false))
        .to.be.revertedWithCustomError(f.engine, "NotPerpMarket")
        .withArgs(f.admin.address);
    });
  });

  describe("withdrawals and transfers", () => {
    /** alice's cross account with ETH in profit and BTC at a loss: unrealized profit backs nothing. */
    async function inProfit() {
      const f = await ready();
      const id = await f.open(f.alice, CROSS);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("8000"));
      await f.trade(f.alice, id, ETH, wad("10"));
      await f.trade(f.alice, id, BTC, wad("1"));
      await f.setPrice(ETH, feed("3300"));
      await f.setPrice(BTC, feed("59000"));
      const e = await f.expectMargin(id);
      const [ethRisk, btcRisk] = [ETH, BTC].map((m) => e.risks.find((r) => r.marketId === m)!);
      expect(ethRisk.pnl > 0n && btcRisk.pnl < 0n).to.be.true;
      expect(e.profit).to.equal(ethRisk.pnl);
      // What backs a withdrawal: the equity without the ETH profit (the BTC loss still counts).
      const backing = f.sim.balance(id, f.addr.usdc) * USDC_SCALE + btcRisk.pnl;
      expect(backing).to.equal(e.equity - e.profit);
      // The most that leaves IM covered, in whole USDC units.
      const maxUnits = divDown(backing - e.im, USDC_SCALE);
      expect(maxUnits > 0n && maxUnits < f.sim.balance(id, f.addr.usdc)).to.be.true;
      // The full equity would allow more: the excess is the profit.
      expect(divDown(e.equity - e.im, USDC_SCALE) > maxUnits + 1n).to.be.true;
      return { ...f, id, e, backing, maxUnits };
    }

    it("backs a withdrawal with equity minus unrealized profit, to the unit", async () => {
      const f = await inProfit();
      const { id, e, backing, maxUnits } = f;
      expect(await f.engine.withdrawableEquity(id)).to.equal(backing);

      // What the equity with the profit would allow reverts.
      const withProfit = divDown(e.equity - e.im, USDC_SCALE);
      await expect(f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, withProfit))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, backing - withProfit * USDC_SCALE, e.im);
      // One unit over the limit reverts.
      await expect(f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, maxUnits + 1n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, backing - (maxUnits + 1n) * USDC_SCALE, e.im);

      // The limit passes and leaves IM covered, within one unit.
      const before = await f.usdc.balanceOf(f.alice.address);
      await f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, maxUnits);
      f.sim.credit(id, f.addr.usdc, -maxUnits);
      expect(await f.usdc.balanceOf(f.alice.address)).to.equal(before + maxUnits);
      const left = await f.engine.withdrawableEquity(id);
      expect(left).to.equal(backing - maxUnits * USDC_SCALE);
      expect(left >= e.im && left - e.im < USDC_SCALE).to.be.true;
      await f.expectMargin(id);
      // Nothing more, not even one unit.
      await expect(f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, 1n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, left - USDC_SCALE, e.im);
    });

    it("checks a transfer to the owner's other account the same way", async () => {
      const f = await inProfit();
      const { id, e, backing, maxUnits } = f;
      const other = await f.open(f.alice, ISOLATED, BTC);
      await expect(f.accounts.connect(f.alice).transfer(id, other, f.addr.usdc, maxUnits + 1n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, backing - (maxUnits + 1n) * USDC_SCALE, e.im);
      await f.accounts.connect(f.alice).transfer(id, other, f.addr.usdc, maxUnits);
      f.sim.credit(id, f.addr.usdc, -maxUnits);
      f.sim.credit(other, f.addr.usdc, maxUnits);
      expect(await f.accounts.balanceOf(other, f.addr.usdc)).to.equal(maxUnits);
      expect(await f.engine.withdrawableEquity(id)).to.equal(backing - maxUnits * USDC_SCALE);
      await f.expectMargin(id);
      await f.expectMargin(other);
    });
  });

  describe("oracle status", () => {
    it("Degraded (circuit breaker): margin still answers; new risk is refused, reducing and withdrawing work", async () => {
      const f = await ready();
      const id = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("2000"));
      await f.trade(f.alice, id, ETH, wad("2"));

      await f.oracle.poke(f.addr.weth); // the breaker's reference: 3000
      await f.setPrice(ETH, feed("2300")); // -23.3%: beyond the 20% breaker
      await expect(f.oracle.poke(f.addr.weth)).to.emit(f.oracle, "CircuitBreakerTripped");
      const price = await f.oracle.getPrice(f.addr.weth);
      expect([price.price, price.low, price.high, price.status]).to.deep.equal([
        wad("2300"),
        wad("2300"),
        wad("2300"),
        DEGRADED,
      ]);

      await f.expectMargin(id);
      expect(await f.engine.isLiquidatable(id)).to.be.false;
      await expect(f.perps.connect(f.alice).modifyPosition(id, ETH, wad("0.1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "ActionNotAllowed")
        .withArgs(DEGRADED, INCREASE_RISK);
      await f.trade(f.alice, id, ETH, wad("-1"));
      await f.expectMargin(id);
      await f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, usdc("100"));
      f.sim.credit(id, f.addr.usdc, -usdc("100"));
      await f.expectMargin(id);
    });

    it("Down (stale feed): margin reverts PriceDown(asset); an account with no positions and no debt still withdraws", async () => {
      const f = await ready();
      const ethAccount = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, ethAccount, f.addr.usdc, usdc("2000"));
      await f.trade(f.alice, ethAccount, ETH, wad("1"));
      const btcAccount = await f.open(f.bob, CROSS);
      await f.deposit(f.bob, btcAccount, f.addr.usdc, usdc("5000"));
      await f.trade(f.bob, btcAccount, BTC, wad("-0.5"));
      const cashOnly = await f.open(f.carol, CROSS);
      await f.deposit(f.carol, cashOnly, f.addr.usdc, usdc("700"));
      const wethHolder = await f.open(f.carol, CROSS);
      await f.deposit(f.carol, wethHolder, f.addr.weth, wad("1"));
      await f.deposit(f.carol, wethHolder, f.addr.usdc, usdc("50"));
      // No position left, but the fees of a round trip left a negative USDC balance (a debt).
      const inDebt = await f.open(f.carol, CROSS);
      await f.deposit(f.carol, inDebt, f.addr.weth, wad("1"));
      await f.trade(f.carol, inDebt, ETH, wad("0.1"));
      await f.trade(f.carol, inDebt, ETH, wad("-0.1"));
      expect(f.sim.account(inDebt).positions.size).to.equal(0);
      expect(f.sim.balance(inDebt, f.addr.usdc) < 0n).to.be.true;
      await f.expectMargin(inDebt);

      // The ETH feed goes stale (heartbeat 3600 + tolerance 300); BTC gets a fresh round.
      await time.increase(3901);
      await f.setPrice(BTC, BTC_PRICE);
      expect((await f.oracle.getPrice(f.addr.weth)).status).to.equal(2n); // Down

      await expect(f.engine.accountMargin(ethAccount))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      await expect(f.engine.isLiquidatable(ethAccount))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      await expect(f.accounts.connect(f.alice).withdraw(ethAccount, f.addr.usdc, 1n))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      // WETH held as collateral needs the price to be valued (the engine's own error)...
      for (const id of [wethHolder, inDebt]) {
        await expect(f.engine.accountMargin(id))
          .to.be.revertedWithCustomError(f.engine, "PriceDown")
          .withArgs(f.addr.weth);
      }
      // ...and to back a withdrawal when there is a debt to cover,
      await expect(f.accounts.connect(f.carol).withdraw(inDebt, f.addr.weth, wad("0.1")))
        .to.be.revertedWithCustomError(f.engine, "PriceDown")
        .withArgs(f.addr.weth);
      // but not without positions or debt: nothing to cover, no price read.
      await f.accounts.connect(f.carol).withdraw(wethHolder, f.addr.usdc, usdc("50"));
      await f.accounts.connect(f.carol).withdraw(wethHolder, f.addr.weth, wad("0.5"));
      expect(await f.balances(wethHolder)).to.deep.equal([0n, wad("0.5"), 0n]);

      // Accounts that need no ETH price are unaffected.
      await f.expectMargin(btcAccount);
      await f.expectMargin(cashOnly);
      const before = await f.usdc.balanceOf(f.carol.address);
      await f.accounts.connect(f.carol).withdraw(cashOnly, f.addr.usdc, usdc("700"));
      expect(await f.usdc.balanceOf(f.carol.address)).to.equal(before + usdc("700"));
      expect(await f.accounts.balanceOf(cashOnly, f.addr.usdc)).to.equal(0n);
    });
  });

  describe("funding", () => {
    it("counts the funding a position owes to now, accrued in the view at the current price", async () => {
      const f = await ready();
      for (const market of [ETH, BTC]) await f.setParam("MAX_FUNDING_VELOCITY", market, wad("3"));
      const long = await f.open(f.alice, CROSS);
      await f.deposit(f.alice, long, f.addr.usdc, usdc("20000"));
      const short = await f.open(f.bob, ISOLATED, ETH);
      await f.deposit(f.bob, short, f.addr.usdc, usdc("20000"));
      await f.trade(f.alice, long, ETH, wad("100"));
      await f.trade(f.bob, short, ETH, wad("-40"));

      await time.increase(8n * 3600n);
      await f.setPrice(ETH, feed("3100"));
      const longMargin = await f.expectMargin(long);
      await f.expectMargin(short);

      // By hand, from the market's rate, index and time at the short's trade (the model's): since
      // then the skew is 60 ETH, so the rate has drifted by 60 / 1e6 x 3 per day.
      const m = f.sim.market(ETH);
      const now = await f.now();
      const velocity = fundingVelocity(wad("60"), m.params.skewScale, wad("3"));
      expect(velocity).to.equal(wad("0.00018"));
      const [, rateDays] = accrueFunding(m.rate, velocity, now - m.last, m.params.maxFundingRate);
      const index = m.index + mulWadDown(rateDays, wad("3100"));
      const pos = f.sim.account(long).positions.get(ETH)!;
      const owed = mulWadUp(wad("100"), index - pos.snapshot);
      expect(owed > wad("1")).to.be.true; // longs pay shorts
      expect(longMargin.equity).to.equal(
        f.sim.balance(long, f.addr.usdc) * USDC_SCALE + mulWadDown(wad("100"), wad("3100")) - pos.cost - owed,
      );

      // A trade settles the funding owed into the USDC balance (checked against the event).
      const r = await f.trade(f.alice, long, ETH, wad("-30"));
      expect(r.funding > owed).to.be.true; // one more second accrued
      await f.expectMargin(long);
      await f.expectMargin(short);
    });
  });
});
