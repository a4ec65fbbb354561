import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionResponse } from "ethers";
import type { MockAggregator } from "../typechain-types";
import { deployMarkets } from "../scripts/lib/deployment";
import { networkConfig } from "../config/networks";
import { PARAMS, paramIndex } from "../scripts/lib/params";

// Expected values are computed here in bigint from the formulas of the brief (fill with skew
// premium, maker / taker fee, velocity funding with a clamped trapezoid, pro-rata cost basis,
// settlement floored to USDC units), never read back from the contract under test. A small
// model of each market (open interest, funding index / rate / time, aggregates) and of each
// position follows every trade, so that the funding of the few seconds between two blocks is
// exact too. Every trade's block timestamp is set explicitly.
//
// The TWAP is removed in `ready()` (oracle.setTwap(asset, 0, 0, 0, 0)): Chainlink alone prices
// the market, so low = high = price = the feed's answer and hand-computed values are exact.

type Signer = HardhatEthersSigner;

const WAD = 10n ** 18n;
const UNIT = 10n ** 12n; // WAD USD per USDC unit (6 decimals)
const DAY = 86_400n;
const ETH = 1;
const BTC = 2;
const CROSS = 0;
const ISOLATED = 1;
const OPEN_POSITION = 0; // IRiskConfig.Feature.OpenPosition
// IPriceOracle.Status and OraclePolicy.Action
const DEGRADED = 1;
const DOWN = 2;
const INCREASE_RISK = 0;
const REDUCE_RISK = 1;
const TRADING_FEE = ethers.encodeBytes32String("TRADING_FEE");
const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;

const wad = (value: string) => ethers.parseUnits(value, 18);
const usdc = (value: string) => ethers.parseUnits(value, 6);
/** A Chainlink answer (8 decimals). */
const answer = (value: string) => ethers.parseUnits(value, 8);
const toWadPrice = (feedAnswer: bigint) => feedAnswer * 10n ** 10n;

const LOCAL = networkConfig("hardhat");
const ETH_ASSET = LOCAL.oracles.assets.find((a) => a.symbol === "WETH")!;
const BTC_ASSET = LOCAL.oracles.assets.find((a) => a.symbol === "WBTC")!;
const ETH_ANSWER = ETH_ASSET.chainlink.mockAnswer!; // 3000
const BTC_ANSWER = BTC_ASSET.chainlink.mockAnswer!; // 60000

const LP_DEPOSIT = usdc("50000000");
const TRADER_DEPOSIT = usdc("2000000");

/** A market-scoped parameter of the local configuration. */
function localParam(name: string, marketId: number): bigint {
  const setting = LOCAL.governance.params.find((p) => p.param === name && p.scope === marketId);
  if (setting === undefined) throw new Error(`no local ${name} for market ${marketId}`);
  return setting.value;
}

// ---------------------------------------------------------------- exact arithmetic

const abs = (x: bigint) => (x < 0n ? -x : x);
const min = (a: bigint, b: bigint) => (a < b ? a : b);

/** a / b toward +infinity (b > 0); BigInt division truncates toward zero. */
function ceilDiv(a: bigint, b: bigint): bigint {
  return a > 0n ? (a + b - 1n) / b : a / b;
}

/** a / b toward -infinity (b > 0). */
function floorDiv(a: bigint, b: bigint): bigint {
  return a >= 0n ? a / b : -((-a + b - 1n) / b);
}

/** oracle x (2 skewScale + 2 skew + delta) / (2 skewScale): up for a buy, down for a sell. */
function fillPrice(oracle: bigint, skew: bigint, delta: bigint, skewScale: bigint): bigint {
  const numerator = 2n * skewScale + 2n * skew + delta;
  if (numerator <= 0n) return 0n;
  return delta > 0n ? ceilDiv(oracle * numerator, 2n * skewScale) : (oracle * numerator) / (2n * skewScale);
}

/** Maker fee on the part that brings |skew| toward zero, taker fee on the rest, rounded up. */
function tradeFee(skew: bigint, delta: bigint, fill: bigint, makerFee: bigint, takerFee: bigint): bigint {
  const size = abs(delta);
  const makerSize = (skew > 0n && delta < 0n) || (skew < 0n && delta > 0n) ? min(size, abs(skew)) : 0n;
  return ceilDiv((makerSize * makerFee + (size - makerSize) * takerFee) * fill, WAD * WAD);
}

/** PerpMath.fundingVelocity: trunc(skew / skewScale), clamped to +-1, times maxVelocity (truncated). */
function fundingVelocity(skew: bigint, skewScale: bigint, maxVelocity: bigint): bigint {
  let proportional = (skew * WAD) / skewScale;
  if (proportional > WAD) proportional = WAD;
  if (proportional < -WAD) proportional = -WAD;
  return (proportional * maxVelocity) / WAD;
}

/** PerpMath.accrueFunding: the rate moves linearly then sticks at +-cap; the integral in rate-days. */
function accrueFunding(rate: bigint, velocity: bigint, dt: bigint, cap: bigint): [bigint, bigint] {
  const r0 = rate > cap ? cap : rate < -cap ? -cap : rate;
  const end = r0 + (velocity * dt) / DAY;
  if (end <= cap && end >= -cap) return [end, ((r0 + end) * dt) / (2n * DAY)];
  const bound = end > cap ? cap : -cap;
  const toBound = ((bound - r0) * DAY) / velocity;
  return [bound, ((r0 + bound) * toBound) / (2n * DAY) + (bound * (dt - toBound)) / DAY];
}

/** Realized PnL of the closing part and the cost of what stays open (plus what opens). */
function reprice(size: bigint, cost: bigint, delta: bigint, fill: bigint): { realized: bigint; newCost: bigint } {
  let closing = 0n;
  if ((size > 0n && delta < 0n) || (size < 0n && delta > 0n)) closing = abs(delta) >= abs(size) ? -size : delta;
  const opening = delta - closing;
  let remaining = cost;
  let realized = 0n;
  if (closing !== 0n) {
    const removed = closing === -size ? cost : ceilDiv(cost * abs(closing), abs(size));
    remaining = cost - removed;
    realized = -ceilDiv(closing * fill, WAD) - removed;
  }
  return { realized, newCost: remaining + (opening === 0n ? 0n : ceilDiv(opening * fill, WAD)) };
}

/** Integer square root, rounded down. */
function isqrt(n: bigint): bigint {
  if (n < 2n) return n;
  let x = n;
  let y = (x + 1n) / 2n;
  while (y < x) {
    x = y;
    y = (x + n / x) / 2n;
  }
  return x;
}

// ---------------------------------------------------------------- model of the markets

interface Cfg {
  makerFee: bigint;
  takerFee: bigint;
  feeShare: bigint;
  skewScale: bigint;
  maxVelocity: bigint;
  maxRate: bigint;
}

const CFG_FIELD: Record<string, keyof Cfg> = {
  MAKER_FEE: "makerFee",
  TAKER_FEE: "takerFee",
  FEE_INSURANCE_SHARE: "feeShare",
  SKEW_SCALE: "skewScale",
  MAX_FUNDING_VELOCITY: "maxVelocity",
  MAX_FUNDING_RATE: "maxRate",
};
const FUNDING_PARAMS = ["SKEW_SCALE", "MAX_FUNDING_VELOCITY", "MAX_FUNDING_RATE"];

function localConfig(marketId: number): Cfg {
  const cfg = {} as Cfg;
  for (const [name, field] of Object.entries(CFG_FIELD)) cfg[field] = localParam(name, marketId);
  return cfg;
}

interface MarketModel {
  price: bigint; // the oracle's price (= low = high without a TWAP)
  oiLong: bigint;
  oiShort: bigint;
  index: bigint;
  rate: bigint;
  last: bigint;
  openCost: bigint;
  snapshotSum: bigint;
  cfg: Cfg;
}

interface PositionModel {
  size: bigint;
  cost: bigint;
  snapshot: bigint;
}

interface Expected {
  skew: bigint; // before the trade
  fill: bigint;
  fee: bigint;
  funding: bigint;
  realized: bigint;
  settled: bigint; // USDC units
  toInsurance: bigint; // USDC units
  newSize: bigint;
  newCost: bigint;
  snapshot: bigint;
}

class Model {
  readonly markets = new Map<number, MarketModel>();
  readonly positions = new Map<string, PositionModel>();

  addMarket(id: number, price: bigint, cfg: Cfg): void {
    this.markets.set(id, {
      price,
      oiLong: 0n,
      oiShort: 0n,
      index: 0n,
      rate: 0n,
      last: 0n, // no skew and no rate until the first trade: the listing time does not matter
      openCost: 0n,
      snapshotSum: 0n,
      cfg,
    });
  }

  market(id: number): MarketModel {
    const m = this.markets.get(id);
    if (m === undefined) throw new Error(`market ${id} not modelled`);
    return m;
  }

  position(accountId: bigint, marketId: number): PositionModel {
    return this.positions.get(`${accountId}/${marketId}`) ?? { size: 0n, cost: 0n, snapshot: 0n };
  }

  /** The market's funding state accrued to `now` (not stored). */
  accrued(id: number, now: bigint, price?: bigint): { index: bigint; rate: bigint } {
    const m = this.market(id);
    const dt = now - m.last;
    if (dt === 0n) return { index: m.index, rate: m.rate };
    const velocity = fundingVelocity(m.oiLong - m.oiShort, m.cfg.skewScale, m.cfg.maxVelocity);
    const [rate, rateDays] = accrueFunding(m.rate, velocity, dt, m.cfg.maxRate);
    return { index: m.index + floorDiv(rateDays * (price ?? m.price), WAD), rate };
  }

  accrue(id: number, now: bigint): void {
    const m = this.market(id);
    Object.assign(m, this.accrued(id, now), { last: now });
  }

  quote(id: number, delta: bigint): bigint {
    const m = this.market(id);
    return fillPrice(m.price, m.oiLong - m.oiShort, delta, m.cfg.skewScale);
  }

  trade(accountId: bigint, marketId: number, delta: bigint, now: bigint): Expected {
    this.accrue(marketId, now);
    const m = this.market(marketId);
    const pos = this.position(accountId, marketId);
    const skew = m.oiLong - m.oiShort;
    const fill = fillPrice(m.price, skew, delta, m.cfg.skewScale);
    const fee = tradeFee(skew, delta, fill, m.cfg.makerFee, m.cfg.takerFee);
    const funding = ceilDiv(pos.size * (m.index - pos.snapshot), WAD);
    const { realized, newCost } = reprice(pos.size, pos.cost, delta, fill);
    const newSize = pos.size + delta;
    if (pos.size > 0n) m.oiLong -= pos.size;
    else m.oiShort -= -pos.size;
    if (newSize > 0n) m.oiLong += newSize;
    else m.oiShort += -newSize;
    m.openCost += newCost - pos.cost;
    m.snapshotSum += floorDiv(newSize * m.index, WAD) - floorDiv(pos.size * pos.snapshot, WAD);
    const snapshot = newSize === 0n ? 0n : m.index;
    this.positions.set(`${accountId}/${marketId}`, { size: newSize, cost: newCost, snapshot });
    return {
      skew,
      fill,
      fee,
      funding,
      realized,
      settled: floorDiv(realized - funding - fee, UNIT),
      toInsurance: (fee * m.cfg.feeShare) / WAD / UNIT,
      newSize,
      newCost,
      snapshot,
    };
  }
}

// ---------------------------------------------------------------- fixture and helpers

/**
 * The wired deployment (deployMarkets), with the TWAPs removed, fresh feed rounds, 50M USDC in
 * the pool and four cross accounts (alice, bob, carol, dave) holding 2M USDC each.
 */
async function ready() {
  const f = await loadFixture(deployMarkets);
  const [deployer, alice, bob, carol, dave, operator, stranger, lp] = await ethers.getSigners();
  const addr = {
    weth: await f.weth.getAddress(),
    wbtc: await f.wbtc.getAddress(),
    usdc: await f.usdc.getAddress(),
    accounts: await f.accounts.getAddress(),
    pool: await f.pool.getAddress(),
    fund: await f.fund.getAddress(),
    riskConfig: await f.riskConfig.getAddress(),
  };
  for (const token of [addr.weth, addr.wbtc]) {
    await f.oracle.setTwap(token, ethers.ZeroAddress, ethers.ZeroAddress, 0, 0);
  }
  await f.ethFeed.push(ETH_ANSWER);
  await f.btcFeed.push(BTC_ANSWER);

  await f.usdc.mint(lp.address, LP_DEPOSIT);
  await f.usdc.connect(lp).approve(addr.pool, ethers.MaxUint256);
  await f.pool.connect(lp).deposit(LP_DEPOSIT, lp.address);

  const traders = { alice, bob, carol, dave };
  const ids = {} as Record<keyof typeof traders, bigint>;
  for (const [name, signer] of Object.entries(traders) as [keyof typeof traders, Signer][]) {
    ids[name] = await openAccount(f, signer, CROSS, 0);
  }

  const model = new Model();
  model.addMarket(ETH, toWadPrice(ETH_ANSWER), localConfig(ETH));
  model.addMarket(BTC, toWadPrice(BTC_ANSWER), localConfig(BTC));
  const feeds = new Map<number, MockAggregator>([
    [ETH, f.ethFeed],
    [BTC, f.btcFeed],
  ]);
  return { ...f, deployer, ...traders, operator, stranger, lp, addr, ids, model, feeds };
}

type Ctx = Awaited<ReturnType<typeof ready>>;

/** Creates an account for `signer` and deposits TRADER_DEPOSIT USDC into it. */
async function openAccount(
  f: Awaited<ReturnType<typeof deployMarkets>>,
  signer: Signer,
  mode: number,
  marketId: number,
): Promise<bigint> {
  await f.usdc.mint(signer.address, TRADER_DEPOSIT);
  await f.usdc.connect(signer).approve(await f.accounts.getAddress(), ethers.MaxUint256);
  const id = await f.accounts.nextAccountId();
  await f.accounts.connect(signer).createAccount(mode, marketId);
  await f.accounts.connect(signer).deposit(id, await f.usdc.getAddress(), TRADER_DEPOSIT);
  return id;
}

async function nextTimestamp(at?: number): Promise<number> {
  const t = at ?? (await time.latest()) + 1;
  await time.setNextBlockTimestamp(t);
  return t;
}

/** Pushes a fresh feed round (at `at` if given) and moves the model's price. */
async function setPrice(f: Ctx, marketId: number, feedAnswer: bigint, at?: number): Promise<void> {
  await nextTimestamp(at);
  await f.feeds.get(marketId)!.push(feedAnswer);
  f.model.market(marketId).price = toWadPrice(feedAnswer);
}

/** Governance sets a parameter; the model accrues funding first when the contract does. */
async function setParam(f: Ctx, name: string, marketId: number, value: bigint): Promise<ContractTransactionResponse> {
  const at = BigInt(await nextTimestamp());
  const tx = await f.riskConfig.setParameter(paramIndex(name), marketId, value);
  const m = f.model.markets.get(marketId);
  if (m !== undefined) {
    if (FUNDING_PARAMS.includes(name)) f.model.accrue(marketId, at);
    if (name in CFG_FIELD) m.cfg[CFG_FIELD[name]] = value;
  }
  return tx;
}

async function expectMarketState(f: Ctx, marketId: number): Promise<void> {
  const s = await f.perps.marketState(marketId);
  const m = f.model.market(marketId);
  expect({
    oiLong: s.oiLong,
    oiShort: s.oiShort,
    fundingIndex: s.fundingIndex,
    fundingRate: s.fundingRate,
    lastFundingTime: s.lastFundingTime,
    openCost: s.openCost,
    fundingSnapshotSum: s.fundingSnapshotSum,
  }).to.deep.equal({
    oiLong: m.oiLong,
    oiShort: m.oiShort,
    fundingIndex: m.index,
    fundingRate: m.rate,
    lastFundingTime: m.last,
    openCost: m.openCost,
    fundingSnapshotSum: m.snapshotSum,
  });
}

/**
 * Trades through perps.modifyPosition at an explicit timestamp and checks, against the model:
 * the PositionModified event to the wei, the stored position, the market state, and the USDC
 * balance = previous + floor((realized - funding - fee) / 1e12).
 */
async function trade(
  f: Ctx,
  who: Signer,
  accountId: bigint,
  marketId: number,
  delta: bigint,
  opts: { at?: number; limit?: bigint } = {},
): Promise<Expected & { tx: ContractTransactionResponse }> {
  const before = await f.accounts.balanceOf(accountId, f.addr.usdc);
  const at = await nextTimestamp(opts.at);
  const e = f.model.trade(accountId, marketId, delta, BigInt(at));
  const limit = opts.limit ?? (delta > 0n ? ethers.MaxUint256 : 0n);
  const tx = await f.perps.connect(who).modifyPosition(accountId, marketId, delta, limit);
  await expect(tx)
    .to.emit(f.perps, "PositionModified")
    .withArgs(accountId, marketId, delta, e.fill, e.newSize, e.realized, e.funding, e.fee, e.settled);
  const p = await f.perps.position(accountId, marketId);
  expect([p.size, p.cost, p.fundingSnapshot]).to.deep.equal([e.newSize, e.newCost, e.snapshot]);
  expect(await f.accounts.balanceOf(accountId, f.addr.usdc)).to.equal(before + e.settled);
  await expectMarketState(f, marketId);
  return { ...e, tx };
}

/** Lists market `id` on a fresh 18-decimal token priced by a fresh mock feed, as the deploy does. */
async function listExtraMarket(f: Ctx, id: number, feedAnswer: bigint): Promise<string> {
  const token = await ethers.deployContract("MockERC20", [`Token ${id}`, `TK${id}`, 18]);
  const feed = await ethers.deployContract("MockAggregator", [8, `TK${id} / USD (mock)`]);
  await feed.push(feedAnswer);
  const tokenAddress = await token.getAddress();
  const { chainlink: cl, guard: g, volatility: v } = ETH_ASSET;
  await f.oracle.setChainlink(tokenAddress, feed, cl.heartbeat, cl.tolerance, cl.decimals, cl.minAnswer, cl.maxAnswer);
  await f.oracle.setGuard(tokenAddress, g.maxDeviation, g.breakerMaxMove, g.breakerWindow, g.degradedCooldown);
  await f.volatility.configure(tokenAddress, v.lambda, v.minVol, v.maxVol, v.initialVol);
  const settings = LOCAL.governance.params.filter((p) => p.scope === ETH);
  await f.riskConfig.setParameters(
    settings.map((s) => paramIndex(s.param)),
    settings.map(() => id),
    settings.map((s) => s.value),
  );
  await f.perps.listMarket(id, tokenAddress);
  f.model.addMarket(id, toWadPrice(feedAnswer), localConfig(ETH));
  f.feeds.set(id, feed);
  return tokenAddress;
}

// ---------------------------------------------------------------- tests

describe("PerpMarket", () => {
  const S_ETH = localParam("SKEW_SCALE", ETH); // 1e6 ETH
  const P_ETH = toWadPrice(ETH_ANSWER); // 3000
  const MAKER = localParam("MAKER_FEE", ETH); // 0.0002
  const TAKER = localParam("TAKER_FEE", ETH); // 0.0006
  const SHARE = localParam("FEE_INSURANCE_SHARE", ETH); // 0.2

  describe("fill price", () => {
    it("fills the first long on an empty market at oracle x (1 + half its own premium)", async () => {
      const f = await ready();
      const e = await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      // 3000 x (2e6 + 10) / 2e6 = 3000.015
      expect(e.fill).to.equal(ceilDiv(P_ETH * (2n * S_ETH + wad("10")), 2n * S_ETH));
      expect(e.fill).to.equal(wad("3000.015"));
    });

    it("fills a second long that adds skew at a worse (higher) price", async () => {
      const f = await ready();
      const first = await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      const second = await trade(f, f.bob, f.ids.bob, ETH, wad("5"));
      // skew 10: 3000 x (2e6 + 20 + 5) / 2e6 = 3000.0375
      expect(second.fill).to.equal(ceilDiv(P_ETH * (2n * S_ETH + 2n * wad("10") + wad("5")), 2n * S_ETH));
      expect(second.fill).to.equal(wad("3000.0375"));
      expect(second.fill).to.be.greaterThan(first.fill);
    });

    it("fills a short adding skew to an empty market below the oracle price", async () => {
      const f = await ready();
      const e = await trade(f, f.carol, f.ids.carol, ETH, -wad("5"));
      // 3000 x (2e6 - 5) / 2e6 = 2999.9925
      expect(e.fill).to.equal((P_ETH * (2n * S_ETH - wad("5"))) / (2n * S_ETH));
      expect(e.fill).to.equal(wad("2999.9925"));
    });

    it("fills a short that reduces a long skew better than a short that adds skew", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      await trade(f, f.bob, f.ids.bob, ETH, wad("5"));
      const e = await trade(f, f.carol, f.ids.carol, ETH, -wad("5"));
      // skew 15: 3000 x (2e6 + 30 - 5) / 2e6 = 3000.0375, above the oracle price
      expect(e.fill).to.equal((P_ETH * (2n * S_ETH + 2n * wad("15") - wad("5"))) / (2n * S_ETH));
      expect(e.fill).to.equal(wad("3000.0375"));
      const addingSkew = (P_ETH * (2n * S_ETH - wad("5"))) / (2n * S_ETH); // 2999.9925 on an empty market
      expect(e.fill).to.be.greaterThan(P_ETH);
      expect(e.fill).to.be.greaterThan(addingSkew);
    });

    it("rounds against the trader: up for a buy, down for a sell", async () => {
      const f = await ready();
      const size = wad("3") + 1n; // 3000 x (3e18 + 1) / 2e24 leaves a remainder
      const buyNumerator = P_ETH * (2n * S_ETH + size);
      expect(buyNumerator % (2n * S_ETH)).to.not.equal(0n);
      const buy = await trade(f, f.alice, f.ids.alice, ETH, size);
      expect(buy.fill).to.equal(buyNumerator / (2n * S_ETH) + 1n);
      // skew now 3e18 + 1; a sell of the same size: (2e24 + 2 (3e18 + 1) - (3e18 + 1)) = 2e24 + 3e18 + 1
      const sell = await trade(f, f.bob, f.ids.bob, ETH, -size);
      expect(sell.fill).to.equal((P_ETH * (2n * S_ETH + size)) / (2n * S_ETH));
      expect(sell.fill).to.equal(buy.fill - 1n);
    });

    it("reverts a buy one wei past its limit with PriceLimitExceeded and fills at exactly the limit", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      const fill = fillPrice(P_ETH, wad("10"), wad("7"), S_ETH);
      await expect(f.perps.connect(f.bob).modifyPosition(f.ids.bob, ETH, wad("7"), fill - 1n))
        .to.be.revertedWithCustomError(f.perps, "PriceLimitExceeded")
        .withArgs(fill, fill - 1n);
      const e = await trade(f, f.bob, f.ids.bob, ETH, wad("7"), { limit: fill });
      expect(e.fill).to.equal(fill);
    });

    it("reverts a sell one wei past its limit with PriceLimitExceeded and fills at exactly the limit", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      const fill = fillPrice(P_ETH, wad("10"), -wad("7"), S_ETH);
      await expect(f.perps.connect(f.bob).modifyPosition(f.ids.bob, ETH, -wad("7"), fill + 1n))
        .to.be.revertedWithCustomError(f.perps, "PriceLimitExceeded")
        .withArgs(fill, fill + 1n);
      const e = await trade(f, f.bob, f.ids.bob, ETH, -wad("7"), { limit: fill });
      expect(e.fill).to.equal(fill);
    });

    // The quote is the opening price: cross-checked, so with the TWAP on and above Chainlink a buy
    // is quoted, and fills, from the higher of the two. The seeded pool sits within 0.01% of 3000
    // (above or below, by the tokens' address order), so Chainlink answers 2999.5 to be below it.
    it("quoteFillPrice matches the fill of an opening buy when the TWAP is on", async () => {
      const f = await loadFixture(deployMarkets);
      const [, trader, , , , , , lp] = await ethers.getSigners();
      await time.increase(1800);
      await f.ethFeed.push(ETH_ANSWER - 50_000_000n);
      await f.btcFeed.push(BTC_ANSWER);
      await f.usdc.mint(lp.address, LP_DEPOSIT);
      await f.usdc.connect(lp).approve(await f.pool.getAddress(), ethers.MaxUint256);
      await f.pool.connect(lp).deposit(LP_DEPOSIT, lp.address);
      const id = await openAccount(f, trader, CROSS, 0);
      const p = await f.oracle.getPriceChecked(await f.weth.getAddress());
      expect(p.high).to.not.equal(p.price); // the TWAP is above Chainlink
      const fill = fillPrice(p.high, 0n, wad("10"), S_ETH);
      expect(await f.perps.quoteFillPrice(ETH, wad("10"))).to.equal(fill);
      await expect(f.perps.connect(trader).modifyPosition(id, ETH, wad("10"), ethers.MaxUint256))
        .to.emit(f.perps, "PositionModified")
        .withArgs(id, ETH, wad("10"), fill, wad("10"), 0n, 0n, anyValue, anyValue);
    });

    it("quoteFillPrice matches the fill of the next buy and the next sell", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("12.5"));
      const buyQuote = await f.perps.quoteFillPrice(ETH, wad("4"));
      expect(buyQuote).to.equal(fillPrice(P_ETH, wad("12.5"), wad("4"), S_ETH));
      const buy = await trade(f, f.bob, f.ids.bob, ETH, wad("4"));
      expect(buy.fill).to.equal(buyQuote);
      const sellQuote = await f.perps.quoteFillPrice(ETH, -wad("30"));
      expect(sellQuote).to.equal(fillPrice(P_ETH, wad("16.5"), -wad("30"), S_ETH));
      const sell = await trade(f, f.carol, f.ids.carol, ETH, -wad("30"));
      expect(sell.fill).to.equal(sellQuote);
    });
  });

  describe("fees", () => {
    it("charges a trade that adds skew the taker fee on its whole size", async () => {
      const f = await ready();
      const e = await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      // 10 x 0.0006 x 3000.015 = 18.00009
      expect(e.fee).to.equal(ceilDiv(wad("10") * TAKER * e.fill, WAD * WAD));
      expect(e.fee).to.equal(wad("18.00009"));
      expect(e.settled).to.equal(-usdc("18.00009"));
    });

    it("charges a trade that only reduces skew the maker fee", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      const e = await trade(f, f.bob, f.ids.bob, ETH, -wad("4"));
      // fill 3000 x (2e6 + 20 - 4) / 2e6 = 3000.024; fee 4 x 0.0002 x 3000.024 = 2.4000192
      expect(e.fill).to.equal(wad("3000.024"));
      expect(e.fee).to.equal(ceilDiv(wad("4") * MAKER * e.fill, WAD * WAD));
      expect(e.fee).to.equal(wad("2.4000192"));
    });

    it("charges a trade crossing zero skew the maker fee up to zero and the taker fee beyond", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      const e = await trade(f, f.bob, f.ids.bob, ETH, -wad("15"));
      // fill 3000 x (2e6 + 20 - 15) / 2e6 = 3000.0075; fee (10 x 0.0002 + 5 x 0.0006) x 3000.0075 = 15.0000375
      expect(e.fill).to.equal(wad("3000.0075"));
      expect(e.fee).to.equal(ceilDiv((wad("10") * MAKER + wad("5") * TAKER) * e.fill, WAD * WAD));
      expect(e.fee).to.equal(wad("15.0000375"));
    });

    it("rounds the fee up to the wei", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      const size = wad("3") + 7n;
      const fill = fillPrice(P_ETH, wad("10"), -size, S_ETH);
      const weighted = size * MAKER * fill;
      expect(weighted % (WAD * WAD)).to.not.equal(0n);
      const e = await trade(f, f.bob, f.ids.bob, ETH, -size);
      expect(e.fee).to.equal(weighted / (WAD * WAD) + 1n);
    });

    it("sends the insurance share to the fund (Inflow TRADING_FEE) and the rest to the pool", async () => {
      const f = await ready();
      const fundBefore = await f.fund.balance();
      const poolBefore = await f.usdc.balanceOf(f.addr.pool);
      const fundTokensBefore = await f.usdc.balanceOf(f.addr.fund);
      const size = wad("7.77");
      const fill = fillPrice(P_ETH, 0n, size, S_ETH); // 3000.011655
      const fee = ceilDiv(size * TAKER * fill, WAD * WAD); // 13.98605433... USD
      const paid = -floorDiv(-fee, UNIT); // units leaving the trader, rounded against it
      const toInsurance = (fee * SHARE) / WAD / UNIT; // floor(floor(fee x 0.2) / 1e12)
      expect(paid).to.equal(13_986_055n);
      expect(toInsurance).to.equal(2_797_210n);

      const e = await trade(f, f.alice, f.ids.alice, ETH, size);
      expect(e.fee).to.equal(fee);
      expect(e.settled).to.equal(-paid);
      await expect(e.tx)
        .to.emit(f.fund, "Inflow")
        .withArgs(f.addr.accounts, TRADING_FEE, toInsurance, fundBefore + toInsurance);
      expect(await f.fund.balance()).to.equal(fundBefore + toInsurance);
      expect(await f.usdc.balanceOf(f.addr.fund)).to.equal(fundTokensBefore + toInsurance);
      expect(await f.usdc.balanceOf(f.addr.pool)).to.equal(poolBefore + paid - toInsurance);
      expect(await f.accounts.balanceOf(f.ids.alice, f.addr.usdc)).to.equal(TRADER_DEPOSIT - paid);
    });
  });

  describe("fee split with profits and debts", () => {
    it("pays a profitable close from the pool, which also pays the fee's insurance share", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      await setPrice(f, ETH, answer("3300"));
      const fundBefore = await f.fund.balance();
      const poolBefore = await f.usdc.balanceOf(f.addr.pool);
      const close = await trade(f, f.alice, f.ids.alice, ETH, -wad("10"));
      const units = floorDiv(close.realized - close.funding - close.fee, UNIT);
      const toInsurance = (close.fee * SHARE) / WAD / UNIT;
      expect(units > 0n && toInsurance > 0n).to.equal(true);
      await expect(close.tx)
        .to.emit(f.fund, "Inflow")
        .withArgs(f.addr.accounts, TRADING_FEE, toInsurance, fundBefore + toInsurance);
      expect(await f.fund.balance()).to.equal(fundBefore + toInsurance);
      expect(await f.usdc.balanceOf(f.addr.pool)).to.equal(poolBefore - units - toInsurance);
    });

    it("books the fee of a trader without USDC as settlement debt; the pool advances the insurance share", async () => {
      const f = await ready();
      const collateral = wad("100");
      await f.weth.mint(f.dave.address, collateral);
      await f.weth.connect(f.dave).approve(f.addr.accounts, collateral);
      const id = await f.accounts.nextAccountId();
      await f.accounts.connect(f.dave).createAccount(CROSS, 0);
      await f.accounts.connect(f.dave).deposit(id, f.addr.weth, collateral);
      const debtBefore = await f.accounts.settlementDebt();
      const poolBefore = await f.usdc.balanceOf(f.addr.pool);
      const fundBefore = await f.fund.balance();

      const e = await trade(f, f.dave, id, ETH, wad("10"));
      const fee = ceilDiv(wad("10") * TAKER * e.fill, WAD * WAD);
      const owed = -floorDiv(-fee, UNIT);
      const toInsurance = (fee * SHARE) / WAD / UNIT;
      expect(await f.accounts.balanceOf(id, f.addr.usdc)).to.equal(-owed);
      expect(await f.accounts.settlementDebt()).to.equal(debtBefore + owed);
      expect(await f.fund.balance()).to.equal(fundBefore + toInsurance);
      expect(await f.usdc.balanceOf(f.addr.pool)).to.equal(poolBefore - toInsurance);

      // a USDC deposit repays the pool first
      await f.usdc.mint(f.dave.address, usdc("20"));
      await f.usdc.connect(f.dave).approve(f.addr.accounts, usdc("20"));
      await f.accounts.connect(f.dave).deposit(id, f.addr.usdc, usdc("20"));
      expect(await f.accounts.settlementDebt()).to.equal(debtBefore);
      expect(await f.usdc.balanceOf(f.addr.pool)).to.equal(poolBefore - toInsurance + owed);
      expect(await f.accounts.balanceOf(id, f.addr.usdc)).to.equal(usdc("20") - owed);
    });
  });

  describe("funding", () => {
    const VELOCITY = localParam("MAX_FUNDING_VELOCITY", ETH); // 3 per day
    const MAX_RATE = localParam("MAX_FUNDING_RATE", ETH); // 0.1 per day

    it("accrues a long skew's funding over exactly one day and charges it at the next touch", async () => {
      const f = await ready();
      const t0 = (await time.latest()) + 10;
      await trade(f, f.alice, f.ids.alice, ETH, wad("100"), { at: t0 });
      await setPrice(f, ETH, answer("3050"), t0 + Number(DAY) - 1);
      const touch = await trade(f, f.alice, f.ids.alice, ETH, wad("1"), { at: t0 + Number(DAY) });

      // velocity = 100 / 1e6 x 3 = 3e-4 per day; after one day rate 3e-4, area 1.5e-4 rate-days;
      // index = 1.5e-4 x 3050 = 0.4575; 100 long pay 45.75
      const velocity = (((wad("100") * WAD) / S_ETH) * VELOCITY) / WAD;
      expect(velocity).to.equal(wad("0.0003"));
      const rate = velocity;
      const index = floorDiv(((rate * DAY) / (2n * DAY)) * wad("3050"), WAD);
      expect(index).to.equal(wad("0.4575"));
      expect(touch.funding).to.equal(ceilDiv(wad("100") * index, WAD));
      expect(touch.funding).to.equal(wad("45.75"));
      await expect(touch.tx).to.emit(f.perps, "FundingAccrued").withArgs(ETH, index, rate, wad("100"));
      const s = await f.perps.marketState(ETH);
      expect([s.fundingIndex, s.fundingRate, s.lastFundingTime]).to.deep.equal([index, rate, BigInt(t0) + DAY]);
      expect((await f.perps.position(f.ids.alice, ETH)).fundingSnapshot).to.equal(index);
    });

    it("integrates from a non-zero rate over the next interval (trapezoid) and pays the longs' funding to shorts", async () => {
      const f = await ready();
      const t0 = (await time.latest()) + 10;
      await trade(f, f.alice, f.ids.alice, ETH, wad("100"), { at: t0 });
      await trade(f, f.bob, f.ids.bob, ETH, -wad("40"), { at: t0 + 1 });
      const t1 = t0 + 1;
      const dt = 12_345n;
      await setPrice(f, ETH, answer("3012.5"), t1 + Number(dt) - 1);
      // between t0 and t1 (1 s) the skew was 100, then 60
      const v1 = fundingVelocity(wad("100"), S_ETH, VELOCITY);
      const [rate1, area1] = accrueFunding(0n, v1, 1n, MAX_RATE);
      const index1 = floorDiv(area1 * P_ETH, WAD);
      const v2 = fundingVelocity(wad("60"), S_ETH, VELOCITY);
      const [rate2, area2] = accrueFunding(rate1, v2, dt, MAX_RATE);
      expect(area2).to.equal(((rate1 + rate1 + (v2 * dt) / DAY) * dt) / (2n * DAY));
      const index2 = index1 + floorDiv(area2 * wad("3012.5"), WAD);

      const touchShort = await trade(f, f.bob, f.ids.bob, ETH, -wad("1"), { at: t1 + Number(dt) });
      // the short receives: funding = ceil(-40 x (index2 - index1)) < 0
      expect(touchShort.funding).to.equal(ceilDiv(-wad("40") * (index2 - index1), WAD));
      expect(touchShort.funding < 0n).to.equal(true);
      const s = await f.perps.marketState(ETH);
      expect([s.fundingIndex, s.fundingRate, s.lastFundingTime]).to.deep.equal([index2, rate2, BigInt(t1) + dt]);

      const touchLong = await trade(f, f.alice, f.ids.alice, ETH, -wad("1"), { at: t1 + Number(dt) + 1 });
      const v3 = fundingVelocity(wad("59"), S_ETH, VELOCITY);
      const [, area3] = accrueFunding(rate2, v3, 1n, MAX_RATE);
      const index3 = index2 + floorDiv(area3 * wad("3012.5"), WAD);
      expect(touchLong.funding).to.equal(ceilDiv(wad("100") * index3, WAD));
    });

    it("runs the rate negative under a short skew: shorts pay, longs receive (index rounded down)", async () => {
      const f = await ready();
      const t0 = (await time.latest()) + 10;
      const short = -wad("70.123456789");
      await trade(f, f.alice, f.ids.alice, ETH, wad("20"), { at: t0 });
      await trade(f, f.bob, f.ids.bob, ETH, short, { at: t0 + 1 });
      const dt = 36_001n;
      await setPrice(f, ETH, answer("2987.65432101"), t0 + 1 + Number(dt) - 1);
      const [rate1, area1] = accrueFunding(0n, fundingVelocity(wad("20"), S_ETH, VELOCITY), 1n, MAX_RATE);
      const index1 = floorDiv(area1 * P_ETH, WAD);
      const [rate2, area2] = accrueFunding(rate1, fundingVelocity(wad("20") + short, S_ETH, VELOCITY), dt, MAX_RATE);
      expect(rate2 < 0n && area2 < 0n).to.equal(true);
      const product = area2 * toWadPrice(answer("2987.65432101"));
      expect(product % WAD).to.not.equal(0n);
      const index2 = index1 + floorDiv(product, WAD);

      const touchShort = await trade(f, f.bob, f.ids.bob, ETH, wad("1"), { at: t0 + 1 + Number(dt) });
      const owed = short * (index2 - index1);
      expect(owed % WAD).to.not.equal(0n);
      expect(touchShort.funding).to.equal(owed / WAD + 1n); // rounded up: the short pays the extra wei
      expect(touchShort.funding > 0n).to.equal(true);
      const s = await f.perps.marketState(ETH);
      expect([s.fundingIndex, s.fundingRate]).to.deep.equal([index2, rate2]);
      const touchLong = await trade(f, f.alice, f.ids.alice, ETH, wad("1"));
      expect(touchLong.funding < 0n).to.equal(true);
    });

    it("clamps the rate at MAX_FUNDING_RATE: trapezoid to the bound, then flat", async () => {
      const f = await ready();
      const cap = wad("0.001");
      await setParam(f, "MAX_FUNDING_VELOCITY", ETH, wad("10"));
      await setParam(f, "MAX_FUNDING_RATE", ETH, cap);
      const t0 = (await time.latest()) + 10;
      await trade(f, f.alice, f.ids.alice, ETH, wad("137"), { at: t0 });
      const dt = 150_000n;
      await setPrice(f, ETH, ETH_ANSWER, t0 + Number(dt) - 1);
      const touch = await trade(f, f.alice, f.ids.alice, ETH, -wad("1"), { at: t0 + Number(dt) });

      // velocity 137 / 1e6 x 10 = 1.37e-3 per day; unclamped 1.37e-3 x 150000 / 86400 > 1e-3
      const velocity = (((wad("137") * WAD) / S_ETH) * wad("10")) / WAD;
      expect(velocity).to.equal(wad("0.00137"));
      expect((velocity * dt) / DAY > cap).to.equal(true);
      const toBound = (cap * DAY) / velocity; // 63065 s
      expect(toBound).to.equal(63_065n);
      const area = (cap * toBound) / (2n * DAY) + (cap * (dt - toBound)) / DAY;
      const index = floorDiv(area * P_ETH, WAD);
      expect(touch.funding).to.equal(ceilDiv(wad("137") * index, WAD));
      let s = await f.perps.marketState(ETH);
      expect([s.fundingIndex, s.fundingRate, s.lastFundingTime]).to.deep.equal([index, cap, BigInt(t0) + dt]);

      // the next day the rate stays at the bound: a flat rectangle of cap x 1 day
      const t1 = t0 + Number(dt);
      await setPrice(f, ETH, ETH_ANSWER, t1 + Number(DAY) - 1);
      const touch2 = await trade(f, f.alice, f.ids.alice, ETH, -wad("1"), { at: t1 + Number(DAY) });
      const index2 = index + floorDiv(cap * P_ETH, WAD);
      expect(touch2.funding).to.equal(ceilDiv(wad("136") * (index2 - index), WAD));
      s = await f.perps.marketState(ETH);
      expect([s.fundingIndex, s.fundingRate]).to.deep.equal([index2, cap]);
    });

    it("clamps a falling rate at -MAX_FUNDING_RATE with a lowered skew scale", async () => {
      const f = await ready();
      await setParam(f, "SKEW_SCALE", ETH, wad("1000"));
      const t0 = (await time.latest()) + 10;
      await trade(f, f.bob, f.ids.bob, ETH, -wad("50"), { at: t0 });
      const dt = 7_200n;
      await setPrice(f, ETH, ETH_ANSWER, t0 + Number(dt) - 1);
      const touch = await trade(f, f.bob, f.ids.bob, ETH, wad("2"), { at: t0 + Number(dt) });
      // velocity -50 / 1000 x 3 = -0.15 per day: after 7,200 s the rate is -0.0125, inside the bound
      const velocity = fundingVelocity(-wad("50"), wad("1000"), VELOCITY);
      expect(velocity).to.equal(-wad("0.15"));
      const [rate, area] = accrueFunding(0n, velocity, dt, MAX_RATE);
      expect(rate).to.equal(-wad("0.0125"));
      const index = floorDiv(area * P_ETH, WAD);
      expect(touch.funding).to.equal(ceilDiv(-wad("50") * index, WAD));

      // two more days at -48 / 1000 x 3 = -0.144 per day: -0.1 is reached after
      // (0.1 - 0.0125) / 0.144 day = 52,500 s, then the rate stays at -MAX_FUNDING_RATE
      const t1 = t0 + Number(dt);
      await setPrice(f, ETH, ETH_ANSWER, t1 + 2 * Number(DAY) - 1);
      await trade(f, f.bob, f.ids.bob, ETH, wad("1"), { at: t1 + 2 * Number(DAY) });
      const velocity2 = fundingVelocity(-wad("48"), wad("1000"), VELOCITY); // -0.144
      const toBound = ((-MAX_RATE - rate) * DAY) / velocity2;
      expect(toBound).to.equal(52_500n);
      const area2 = ((rate - MAX_RATE) * toBound) / (2n * DAY) + (-MAX_RATE * (2n * DAY - toBound)) / DAY;
      const s = await f.perps.marketState(ETH);
      expect([s.fundingIndex, s.fundingRate]).to.deep.equal([index + floorDiv(area2 * P_ETH, WAD), -MAX_RATE]);
    });

    it("currentFunding in a view accrues to the latest block at the given price", async () => {
      const f = await ready();
      const t0 = (await time.latest()) + 10;
      await trade(f, f.alice, f.ids.alice, ETH, wad("250"), { at: t0 });
      const dt = 54_321n;
      await time.increaseTo(t0 + Number(dt));
      const price = wad("3111.11");
      const velocity = fundingVelocity(wad("250"), S_ETH, VELOCITY);
      const [rate, area] = accrueFunding(0n, velocity, dt, MAX_RATE);
      const expected = [rate, floorDiv(area * price, WAD)];
      expect(await f.perps.currentFunding(ETH, price)).to.deep.equal(expected);
      // the stored state is untouched by the view
      const s = await f.perps.marketState(ETH);
      expect([s.fundingIndex, s.fundingRate, s.lastFundingTime]).to.deep.equal([0n, 0n, BigInt(t0)]);
      await expect(f.perps.currentFunding(99, price))
        .to.be.revertedWithCustomError(f.perps, "UnknownMarket")
        .withArgs(99);
    });

    it("accrues funding under the old parameters before a SKEW_SCALE change takes effect", async () => {
      const f = await ready();
      const t0 = (await time.latest()) + 10;
      await trade(f, f.alice, f.ids.alice, ETH, wad("300"), { at: t0 });
      const dt = 40_000n;
      await setPrice(f, ETH, ETH_ANSWER, t0 + Number(dt) - 1);
      await time.setNextBlockTimestamp(t0 + Number(dt));
      const newScale = wad("250000");
      const tx = await f.riskConfig.setParameter(paramIndex("SKEW_SCALE"), ETH, newScale);
      const [rate1, area1] = accrueFunding(0n, fundingVelocity(wad("300"), S_ETH, VELOCITY), dt, MAX_RATE);
      const index1 = floorDiv(area1 * P_ETH, WAD);
      await expect(tx).to.emit(f.perps, "FundingAccrued").withArgs(ETH, index1, rate1, wad("300"));
      let s = await f.perps.marketState(ETH);
      expect([s.fundingIndex, s.fundingRate, s.lastFundingTime]).to.deep.equal([index1, rate1, BigInt(t0) + dt]);
      expect((await f.perps.marketConfig(ETH)).skewScale).to.equal(newScale);
      f.model.accrue(ETH, BigInt(t0) + dt);
      f.model.market(ETH).cfg.skewScale = newScale;

      // from now on the velocity is 300 / 250000 x 3
      const touch = await trade(f, f.alice, f.ids.alice, ETH, wad("1"), { at: t0 + Number(dt) + 600 });
      const [rate2, area2] = accrueFunding(rate1, fundingVelocity(wad("300"), newScale, VELOCITY), 600n, MAX_RATE);
      const index2 = index1 + floorDiv(area2 * P_ETH, WAD);
      expect(touch.funding).to.equal(ceilDiv(wad("300") * index2, WAD));
      expect(touch.fill).to.equal(fillPrice(P_ETH, wad("300"), wad("1"), newScale));
      s = await f.perps.marketState(ETH);
      expect([s.fundingIndex, s.fundingRate]).to.deep.equal([index2, rate2]);
    });
  });

  describe("PnL and cost basis", () => {
    it("adds an increase to the cost, realizes a partial reduce pro rata and closes the rest", async () => {
      const f = await ready();
      const A = f.ids.alice;
      const open = await trade(f, f.alice, A, ETH, wad("3"));
      let cost = ceilDiv(wad("3") * open.fill, WAD);
      expect([open.realized, open.newCost]).to.deep.equal([0n, cost]);

      await setPrice(f, ETH, answer("3100"));
      const increase = await trade(f, f.alice, A, ETH, wad("4"));
      expect(increase.fill).to.equal(fillPrice(wad("3100"), wad("3"), wad("4"), S_ETH));
      cost += ceilDiv(wad("4") * increase.fill, WAD);
      expect([increase.realized, increase.newCost]).to.deep.equal([0n, cost]);

      await setPrice(f, ETH, answer("3250.5"));
      const reduce = await trade(f, f.alice, A, ETH, -wad("2"));
      expect(reduce.fill).to.equal(fillPrice(wad("3250.5"), wad("7"), -wad("2"), S_ETH));
      expect((cost * 2n) % 7n).to.not.equal(0n); // the pro-rata cost is rounded up
      const removed = ceilDiv(cost * 2n, 7n);
      const realized = floorDiv(wad("2") * reduce.fill, WAD) - removed;
      expect(reduce.realized).to.equal(realized);
      expect(realized > 0n).to.equal(true);
      cost -= removed;
      expect(reduce.newCost).to.equal(cost);

      await setPrice(f, ETH, answer("2950"));
      const close = await trade(f, f.alice, A, ETH, -wad("5"));
      expect(close.realized).to.equal(floorDiv(wad("5") * close.fill, WAD) - cost);
      expect(close.realized < 0n).to.equal(true);
      expect(close.newCost).to.equal(0n);
      expect(await f.perps.accountMarkets(A)).to.deep.equal([]);
    });

    it("realizes a short's partial cover with the negative cost removed toward +infinity", async () => {
      const f = await ready();
      const B = f.ids.bob;
      const open = await trade(f, f.bob, B, ETH, -wad("3"));
      await setPrice(f, ETH, answer("3100"));
      const add = await trade(f, f.bob, B, ETH, -wad("4"));
      // a short's cost is negative: size x fill toward +infinity
      const cost = ceilDiv(-wad("3") * open.fill, WAD) + ceilDiv(-wad("4") * add.fill, WAD);
      expect(add.newCost).to.equal(cost);
      expect(cost < 0n).to.equal(true);

      await setPrice(f, ETH, answer("2900.33"));
      const cover = await trade(f, f.bob, B, ETH, wad("2"));
      expect((cost * 2n) % 7n).to.not.equal(0n);
      const removed = ceilDiv(cost * 2n, 7n); // negative: toward +infinity is toward zero
      expect(removed).to.equal((cost * 2n) / 7n);
      expect(cover.realized).to.equal(-ceilDiv(wad("2") * cover.fill, WAD) - removed);
      expect(cover.realized > 0n).to.equal(true);
      expect(cover.newCost).to.equal(cost - removed);
    });

    it("flips long to short in one trade: realizes the closed part, costs the opened part", async () => {
      const f = await ready();
      const A = f.ids.alice;
      const open = await trade(f, f.alice, A, ETH, wad("4"));
      const cost = ceilDiv(wad("4") * open.fill, WAD);

      await setPrice(f, ETH, answer("3150"));
      const flip = await trade(f, f.alice, A, ETH, -wad("10"));
      // skew +4: 4 maker, 6 taker
      expect(flip.fill).to.equal(fillPrice(wad("3150"), wad("4"), -wad("10"), S_ETH));
      expect(flip.fee).to.equal(ceilDiv((wad("4") * MAKER + wad("6") * TAKER) * flip.fill, WAD * WAD));
      expect(flip.realized).to.equal(floorDiv(wad("4") * flip.fill, WAD) - cost);
      expect(flip.newSize).to.equal(-wad("6"));
      expect(flip.newCost).to.equal(ceilDiv(-wad("6") * flip.fill, WAD));
      const s = await f.perps.marketState(ETH);
      expect([s.oiLong, s.oiShort]).to.deep.equal([0n, wad("6")]);

      // and back: short 6 -> long 3 at 3050
      await setPrice(f, ETH, answer("3050"));
      const back = await trade(f, f.alice, A, ETH, wad("9"));
      expect(back.realized).to.equal(-ceilDiv(wad("6") * back.fill, WAD) - flip.newCost);
      expect(back.newCost).to.equal(ceilDiv(wad("3") * back.fill, WAD));
    });

    it("settles realized - funding - fee into the USDC balance rounded down to whole units", async () => {
      const f = await ready();
      const A = f.ids.alice;
      let balance = TRADER_DEPOSIT;
      const steps: [string, bigint][] = [
        ["3000", wad("5.5")],
        ["3033.3", -wad("2.25")],
        ["2999.99999999", wad("1.125")],
        ["3100.1", -wad("4.375")],
      ];
      for (const [price, delta] of steps) {
        await setPrice(f, ETH, answer(price));
        const e = await trade(f, f.alice, A, ETH, delta);
        balance += floorDiv(e.realized - e.funding - e.fee, UNIT);
        expect(await f.accounts.balanceOf(A, f.addr.usdc)).to.equal(balance);
      }
      expect((await f.perps.position(A, ETH)).size).to.equal(0n);
    });
  });

  describe("valuation", () => {
    it("accountRisk values each position at the conservative price with funding accrued to now", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("12.3"));
      await trade(f, f.bob, f.ids.bob, ETH, -wad("4.56"));
      const t = (await time.latest()) + 7_777;
      await setPrice(f, ETH, answer("3080.08"), t - 1);
      await time.increaseTo(t);
      const price = wad("3080.08");
      const { index } = f.model.accrued(ETH, BigInt(t));
      const sigma = await f.volatility.volatility(f.addr.weth);
      const year = 31_536_000n;
      const horizon = localParam("LIQUIDATION_HORIZON", ETH);
      const horizonYears = ceilDiv(horizon * WAD * WAD, year);
      let root = isqrt(horizonYears);
      if (root * root < horizonYears) root += 1n;
      const volTerm = ceilDiv(ceilDiv(localParam("MM_VOL_MULTIPLIER", ETH) * sigma, WAD) * root, WAD);
      const maxPosition = localParam("MAX_POSITION_SIZE", ETH);
      for (const [id, size] of [
        [f.ids.alice, wad("12.3")],
        [f.ids.bob, -wad("4.56")],
      ] as const) {
        const pos = f.model.position(id, ETH);
        const sizeTerm = ceilDiv(localParam("MM_SIZE_FACTOR", ETH) * abs(size), maxPosition);
        let ratio = localParam("MM_FLOOR", ETH);
        if (sizeTerm > ratio) ratio = sizeTerm;
        if (volTerm > ratio) ratio = volTerm;
        const [r] = await f.perps.accountRisk(id);
        expect(r.marketId).to.equal(BigInt(ETH));
        expect(r.underlying).to.equal(f.addr.weth);
        expect(r.size).to.equal(size);
        expect(r.pnl).to.equal(floorDiv(size * price, WAD) - pos.cost - ceilDiv(size * (index - pos.snapshot), WAD));
        expect(r.notional).to.equal(ceilDiv(abs(size) * price, WAD));
        expect(r.shockRatio).to.equal(ratio);
        expect(r.imMultiplier).to.equal(localParam("IM_MULTIPLIER", ETH));
      }
    });
  });

  describe("caps", () => {
    it("reverts past MAX_POSITION_SIZE with PositionSizeCapExceeded", async () => {
      const f = await ready();
      const cap = localParam("MAX_POSITION_SIZE", ETH); // 2000
      await expect(f.perps.connect(f.alice).modifyPosition(f.ids.alice, ETH, cap + 1n, ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "PositionSizeCapExceeded")
        .withArgs(ETH, cap + 1n, cap);
    });

    it("applies the position cap to the size after an increase and after a flip, and fills at the cap", async () => {
      const f = await ready();
      const cap = wad("50");
      await setParam(f, "MAX_POSITION_SIZE", ETH, cap);
      await trade(f, f.alice, f.ids.alice, ETH, wad("40"));
      await expect(f.perps.connect(f.alice).modifyPosition(f.ids.alice, ETH, wad("11"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "PositionSizeCapExceeded")
        .withArgs(ETH, wad("51"), cap);
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      await expect(f.perps.connect(f.alice).modifyPosition(f.ids.alice, ETH, -wad("101"), 0n))
        .to.be.revertedWithCustomError(f.perps, "PositionSizeCapExceeded")
        .withArgs(ETH, wad("51"), cap);
      await trade(f, f.alice, f.ids.alice, ETH, -wad("100"));
    });

    it("reverts past MAX_OI_LONG with OpenInterestCapExceeded and fills up to it", async () => {
      const f = await ready();
      await setParam(f, "MAX_OI_LONG", ETH, wad("15"));
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      await expect(f.perps.connect(f.bob).modifyPosition(f.ids.bob, ETH, wad("6"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "OpenInterestCapExceeded")
        .withArgs(ETH, true, wad("16"), wad("15"));
      await trade(f, f.carol, f.ids.carol, ETH, -wad("3"));
      // short 3 -> long 6: long open interest 10 + 6
      await expect(f.perps.connect(f.carol).modifyPosition(f.ids.carol, ETH, wad("9"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "OpenInterestCapExceeded")
        .withArgs(ETH, true, wad("16"), wad("15"));
      await trade(f, f.carol, f.ids.carol, ETH, wad("8"));
      const s = await f.perps.marketState(ETH);
      expect([s.oiLong, s.oiShort]).to.deep.equal([wad("15"), 0n]);
    });

    it("reverts past MAX_OI_SHORT, counting a flip's new short against it", async () => {
      const f = await ready();
      await setParam(f, "MAX_OI_SHORT", ETH, wad("15"));
      await trade(f, f.alice, f.ids.alice, ETH, -wad("10"));
      await expect(f.perps.connect(f.bob).modifyPosition(f.ids.bob, ETH, -wad("6"), 0n))
        .to.be.revertedWithCustomError(f.perps, "OpenInterestCapExceeded")
        .withArgs(ETH, false, wad("16"), wad("15"));
      await trade(f, f.carol, f.ids.carol, ETH, wad("3"));
      // long 3 -> short 6: short open interest 10 + 6
      await expect(f.perps.connect(f.carol).modifyPosition(f.ids.carol, ETH, -wad("9"), 0n))
        .to.be.revertedWithCustomError(f.perps, "OpenInterestCapExceeded")
        .withArgs(ETH, false, wad("16"), wad("15"));
      await trade(f, f.carol, f.ids.carol, ETH, -wad("8"));
      const s = await f.perps.marketState(ETH);
      expect([s.oiLong, s.oiShort]).to.deep.equal([0n, wad("15")]);
    });

    it("never blocks a reducing trade, even after governance cuts the caps below current open interest", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      await trade(f, f.bob, f.ids.bob, ETH, wad("5"));
      await trade(f, f.carol, f.ids.carol, ETH, -wad("3"));
      await setParam(f, "MAX_POSITION_SIZE", ETH, wad("1"));
      await setParam(f, "MAX_OI_LONG", ETH, wad("2"));
      await setParam(f, "MAX_OI_SHORT", ETH, wad("1"));
      await trade(f, f.alice, f.ids.alice, ETH, -wad("4"));
      await trade(f, f.carol, f.ids.carol, ETH, wad("1"));
      await trade(f, f.bob, f.ids.bob, ETH, -wad("5"));
      // increasing is capped: the position first, then the side's open interest
      await expect(f.perps.connect(f.alice).modifyPosition(f.ids.alice, ETH, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "PositionSizeCapExceeded")
        .withArgs(ETH, wad("7"), wad("1"));
      await expect(f.perps.connect(f.dave).modifyPosition(f.ids.dave, ETH, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "OpenInterestCapExceeded")
        .withArgs(ETH, true, wad("7"), wad("2"));
      await trade(f, f.alice, f.ids.alice, ETH, -wad("6"));
      await trade(f, f.carol, f.ids.carol, ETH, wad("2"));
    });

    it("reverts TooManyPositions at a ninth market, and frees the slot when a position closes", async () => {
      const f = await ready();
      for (let id = 3; id <= 9; ++id) await listExtraMarket(f, id, answer((100 + id).toString()));
      const A = f.ids.alice;
      for (let id = 1; id <= 8; ++id) await trade(f, f.alice, A, id, wad("1"));
      expect(await f.perps.accountMarkets(A)).to.deep.equal([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n]);
      await expect(f.perps.connect(f.alice).modifyPosition(A, 9, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "TooManyPositions")
        .withArgs(A, 8);
      // adding to a held market is not a new position
      await trade(f, f.alice, A, 5, wad("1"));
      // closing market 3 moves the last id into its slot
      await trade(f, f.alice, A, 3, -wad("1"));
      expect(await f.perps.accountMarkets(A)).to.deep.equal([1n, 2n, 8n, 4n, 5n, 6n, 7n]);
      await trade(f, f.alice, A, 9, -wad("1"));
      expect(await f.perps.accountMarkets(A)).to.deep.equal([1n, 2n, 8n, 4n, 5n, 6n, 7n, 9n]);
      expect((await f.perps.accountRisk(A)).map((r) => r.marketId)).to.deep.equal([1n, 2n, 8n, 4n, 5n, 6n, 7n, 9n]);
    });
  });

  describe("access and market checks", () => {
    it("rejects a stranger with MarginAccounts.NotAuthorized", async () => {
      const f = await ready();
      await expect(f.perps.connect(f.stranger).modifyPosition(f.ids.alice, ETH, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(f.ids.alice, f.stranger.address);
    });

    it("rejects an unknown account with MarginAccounts.UnknownAccount", async () => {
      const f = await ready();
      await expect(f.perps.connect(f.alice).modifyPosition(999n, ETH, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.accounts, "UnknownAccount")
        .withArgs(999n);
    });

    it("lets an approved operator trade the account, until the approval is revoked", async () => {
      const f = await ready();
      await f.accounts.connect(f.alice).setOperator(f.ids.alice, f.operator.address, true);
      await trade(f, f.operator, f.ids.alice, ETH, wad("2"));
      await trade(f, f.operator, f.ids.alice, ETH, -wad("1"));
      await f.accounts.connect(f.alice).setOperator(f.ids.alice, f.operator.address, false);
      await expect(f.perps.connect(f.operator).modifyPosition(f.ids.alice, ETH, -wad("1"), 0n))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(f.ids.alice, f.operator.address);
    });

    it("keeps an isolated account to its market (WrongMarket)", async () => {
      const f = await ready();
      const id = await openAccount(f, f.dave, ISOLATED, ETH);
      await expect(f.perps.connect(f.dave).modifyPosition(id, BTC, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "WrongMarket")
        .withArgs(id, ETH, BTC);
      await trade(f, f.dave, id, ETH, wad("1"));
    });

    it("reverts UnknownMarket for a market never listed", async () => {
      const f = await ready();
      await expect(f.perps.connect(f.alice).modifyPosition(f.ids.alice, 99, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "UnknownMarket")
        .withArgs(99);
      await expect(f.perps.quoteFillPrice(99, wad("1")))
        .to.be.revertedWithCustomError(f.perps, "UnknownMarket")
        .withArgs(99);
    });

    it("reverts ZeroSizeDelta", async () => {
      const f = await ready();
      await expect(
        f.perps.connect(f.alice).modifyPosition(f.ids.alice, ETH, 0n, ethers.MaxUint256),
      ).to.be.revertedWithCustomError(f.perps, "ZeroSizeDelta");
    });

    it("blocks increasing (and flipping) a paused market with MarketPaused but allows reducing", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      await f.riskConfig.setPaused(OPEN_POSITION, ETH, true);
      await expect(f.perps.connect(f.alice).modifyPosition(f.ids.alice, ETH, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "MarketPaused")
        .withArgs(ETH);
      await expect(f.perps.connect(f.bob).modifyPosition(f.ids.bob, ETH, -wad("1"), 0n))
        .to.be.revertedWithCustomError(f.perps, "MarketPaused")
        .withArgs(ETH);
      await expect(f.perps.connect(f.alice).modifyPosition(f.ids.alice, ETH, -wad("12"), 0n))
        .to.be.revertedWithCustomError(f.perps, "MarketPaused")
        .withArgs(ETH);
      await trade(f, f.alice, f.ids.alice, ETH, -wad("4"));
      await trade(f, f.bob, f.ids.bob, BTC, wad("1")); // another market is not paused
      await trade(f, f.alice, f.ids.alice, ETH, -wad("6"));
      await f.riskConfig.setPaused(OPEN_POSITION, ETH, false);
      await trade(f, f.alice, f.ids.alice, ETH, wad("1"));
    });
  });

  describe("oracle status", () => {
    it("in Degraded (circuit breaker) refuses opening with ActionNotAllowed(1, 0) but closes at the price", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      await f.oracle.poke(f.addr.weth); // accepts 3000 as the breaker's reference
      await setPrice(f, ETH, answer("3700")); // +23% > 20%
      await f.oracle.poke(f.addr.weth);
      expect((await f.oracle.getPriceChecked(f.addr.weth)).status).to.equal(DEGRADED);

      await expect(f.perps.connect(f.bob).modifyPosition(f.ids.bob, ETH, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "ActionNotAllowed")
        .withArgs(DEGRADED, INCREASE_RISK);
      await expect(f.perps.connect(f.alice).modifyPosition(f.ids.alice, ETH, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "ActionNotAllowed")
        .withArgs(DEGRADED, INCREASE_RISK);
      // a flip adds risk too
      await expect(f.perps.connect(f.alice).modifyPosition(f.ids.alice, ETH, -wad("11"), 0n))
        .to.be.revertedWithCustomError(f.perps, "ActionNotAllowed")
        .withArgs(DEGRADED, INCREASE_RISK);

      const reduce = await trade(f, f.alice, f.ids.alice, ETH, -wad("4"));
      expect(reduce.fill).to.equal(fillPrice(wad("3700"), wad("10"), -wad("4"), S_ETH));
      const close = await trade(f, f.alice, f.ids.alice, ETH, -wad("6"));
      expect(close.newSize).to.equal(0n);
      expect(close.realized > 0n).to.equal(true);
    });

    it("when Down (stale feed) refuses closing with ActionNotAllowed(2, 1) until a fresh round", async () => {
      const f = await ready();
      await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      await time.increase(4000);
      await expect(f.perps.connect(f.alice).modifyPosition(f.ids.alice, ETH, -wad("10"), 0n))
        .to.be.revertedWithCustomError(f.perps, "ActionNotAllowed")
        .withArgs(DOWN, REDUCE_RISK);
      await expect(f.perps.connect(f.bob).modifyPosition(f.ids.bob, ETH, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "ActionNotAllowed")
        .withArgs(DOWN, INCREASE_RISK);
      await expect(f.perps.quoteFillPrice(ETH, wad("1")))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      await setPrice(f, ETH, ETH_ANSWER);
      await trade(f, f.alice, f.ids.alice, ETH, -wad("10"));
    });
  });

  describe("listing and configuration", () => {
    it("reverts listing a listed market id with MarketAlreadyListed", async () => {
      const f = await ready();
      const token = await ethers.deployContract("MockERC20", ["Token", "TK", 18]);
      await expect(f.perps.listMarket(ETH, await token.getAddress()))
        .to.be.revertedWithCustomError(f.perps, "MarketAlreadyListed")
        .withArgs(ETH);
    });

    it("reverts listing a second market on the same underlying with UnderlyingAlreadyListed", async () => {
      const f = await ready();
      await expect(f.perps.listMarket(3, f.addr.weth))
        .to.be.revertedWithCustomError(f.perps, "UnderlyingAlreadyListed")
        .withArgs(f.addr.weth, ETH);
    });

    it("reverts listing by a non-admin and listing the zero address", async () => {
      const f = await ready();
      await expect(f.perps.connect(f.stranger).listMarket(3, f.addr.usdc))
        .to.be.revertedWithCustomError(f.perps, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, DEFAULT_ADMIN_ROLE);
      await expect(f.perps.listMarket(3, ethers.ZeroAddress)).to.be.revertedWithCustomError(f.perps, "ZeroAddress");
    });

    it("lists a market with the fourteen RiskConfig parameters and its funding clock started", async () => {
      const f = await ready();
      const token = await ethers.deployContract("MockERC20", ["Token", "TK", 18]);
      const feed = await ethers.deployContract("MockAggregator", [8, "TK / USD (mock)"]);
      await feed.push(answer("42"));
      const tokenAddress = await token.getAddress();
      const { chainlink: cl, guard: g, volatility: v } = ETH_ASSET;
      await f.oracle.setChainlink(tokenAddress, feed, cl.heartbeat, cl.tolerance, 8, cl.minAnswer, cl.maxAnswer);
      await f.oracle.setGuard(tokenAddress, g.maxDeviation, g.breakerMaxMove, g.breakerWindow, g.degradedCooldown);
      await f.volatility.configure(tokenAddress, v.lambda, v.minVol, v.maxVol, v.initialVol);
      // the market-scoped parameters, in RiskParams.Param order (the BTC market's values)
      const names = PARAMS.filter((p) => p.scope === "market").map((p) => p.name);
      expect(names.length).to.equal(14);
      const values = names.map((name) => localParam(name, BTC));
      for (const name of names) await f.riskConfig.setParameter(paramIndex(name), 3, localParam(name, BTC));
      // an unlisted market's parameter pushes are ignored: listing reads them all
      expect((await f.perps.marketConfig(3)).skewScale).to.equal(0n);

      const at = await nextTimestamp();
      await expect(f.perps.listMarket(3, tokenAddress))
        .to.emit(f.perps, "MarketListed")
        .withArgs(3, tokenAddress)
        .and.to.emit(f.perps, "MarketConfigUpdated");
      const c = await f.perps.marketConfig(3);
      expect([
        c.mmFloor,
        c.mmSizeFactor,
        c.volMultiplier,
        c.liquidationHorizon,
        c.imMultiplier,
        c.makerFee,
        c.takerFee,
        c.feeInsuranceShare,
        c.skewScale,
        c.maxFundingVelocity,
        c.maxFundingRate,
        c.maxOiLong,
        c.maxOiShort,
        c.maxPositionSize,
      ]).to.deep.equal(values);
      expect((await f.perps.marketState(3)).lastFundingTime).to.equal(BigInt(at));
      expect(await f.perps.underlyingOf(3)).to.equal(tokenAddress);
      expect(await f.perps.marketOf(tokenAddress)).to.equal(3n);
      expect(await f.perps.marketIds()).to.deep.equal([1n, 2n, 3n]);
    });

    it("refuses a margin engine without code (NotAContract)", async () => {
      const f = await ready();
      await expect(f.perps.setMarginEngine(f.stranger.address))
        .to.be.revertedWithCustomError(f.perps, "NotAContract")
        .withArgs(f.stranger.address);
    });

    it("rejects onMarketParameterChanged from anyone but RiskConfig with NotRiskConfig", async () => {
      const f = await ready();
      await expect(f.perps.connect(f.deployer).onMarketParameterChanged(paramIndex("TAKER_FEE"), ETH, wad("0.001")))
        .to.be.revertedWithCustomError(f.perps, "NotRiskConfig")
        .withArgs(f.deployer.address);
    });

    it("takes a TAKER_FEE change from RiskConfig in the same transaction and charges it on the next trade", async () => {
      const f = await ready();
      const newFee = wad("0.001");
      const tx = await setParam(f, "TAKER_FEE", ETH, newFee);
      await expect(tx).to.emit(f.perps, "MarketConfigUpdated").withArgs(ETH, anyValue);
      const receipt = await tx.wait();
      const perpsAddress = await f.perps.getAddress();
      const pushed = receipt!.logs
        .filter((log) => log.address === perpsAddress)
        .map((log) => f.perps.interface.parseLog(log))
        .find((log) => log?.name === "MarketConfigUpdated");
      expect(pushed!.args.config.takerFee).to.equal(newFee);
      expect((await f.perps.marketConfig(ETH)).takerFee).to.equal(newFee);
      const e = await trade(f, f.alice, f.ids.alice, ETH, wad("10"));
      expect(e.fee).to.equal(ceilDiv(wad("10") * newFee * e.fill, WAD * WAD));
    });
  });
});
