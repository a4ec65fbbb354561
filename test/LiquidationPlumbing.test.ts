import { expect } from "chai";
import { ethers } from "hardhat";
import type { Result } from "ethers";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { paramIndex } from "../scripts/lib/params";
import {
  WAD,
  USDC_SCALE,
  TICK,
  CROSS,
  ISOLATED,
  ETH,
  BTC,
  usdc,
  wad,
  feed,
  ETH_PRICE,
  BTC_PRICE,
  abs,
  divUp,
  divDown,
  mulWadUp,
  mulWadDown,
  reprice,
  Position,
  TradeResult,
  Sim,
} from "./helpers/marginModel";
import { pricedMarkets, simOf, configuredLiquidation, liquidationTuple, LIQUIDATION_FIELDS } from "./helpers/fixtures";

// The privileged plumbing the LiquidationEngine drives: MarginAccounts.touch (account nonces),
// MarginAccounts.settleLiquidation (stablecoin booking, collateral seizure, fee and pool flows),
// PerpMarket.transferPositions (positions moved at the mark), RiskConfig's push of global
// parameters to the engine, and the engine's constructor. The privileged functions are called
// here directly by plain signers the admin (the deployer, before the hand-over) granted the roles.
//
// Every expected figure is computed here in bigint from the formulas (README / the brief), never
// read back from the contract under test and compared with itself. Perp positions are tracked by the
// shared bigint model (test/helpers/marginModel.ts), which every trade checks against its event.
//
// Time: views and static calls that depend on funding run with `blockTag: "pending"` after
// `time.setNextBlockTimestamp(T)`: Hardhat evaluates the pending block at exactly T, the timestamp
// the transaction sent next is mined at, so the static call's return values and the view before
// the transaction are those of the transaction's own block.

const ADMIN_ROLE = ethers.ZeroHash;
const MARKET_ROLE = ethers.id("MARKET_ROLE");
const LIQUIDATOR_ROLE = ethers.id("LIQUIDATOR_ROLE");
const DRAWER_ROLE = ethers.id("DRAWER_ROLE");
const SOURCE_LIQUIDATION_FEE = ethers.encodeBytes32String("LIQUIDATION_FEE");
const REASON_INSOLVENT = ethers.encodeBytes32String("INSOLVENT_ACCOUNT");
const FUND_SEED = usdc("100000");
const HOUR = 3600n;

const GLOBAL_FIELDS: Record<string, string> = LIQUIDATION_FIELDS;
const GLOBAL_PARAMS = Object.keys(GLOBAL_FIELDS);

/** The global parameters as config/networks.ts sets them, keyed by struct field. */
function configuredGlobals(): Record<string, bigint> {
  return { ...configuredLiquidation() };
}

const asStruct = (fields: Record<string, bigint>) => liquidationTuple(fields);
const named = (r: object): Record<string, unknown> => (r as Result).toObject();

// ---------------------------------------------------------------- fixture

/**
 * deployMarkets() (the deployer still admin) with fresh feed rounds (ETH 3000, BTC 60000), no TWAPs
 * (low = high = price = Chainlink), funding off, 10M USDC in the pool, 100k USDC in the insurance
 * fund, alice..dave funded and approving MarginAccounts, and three plain signers granted roles by
 * the admin: `market` (MARKET_ROLE on MarginAccounts), `liquidator` (LIQUIDATOR_ROLE on
 * MarginAccounts and PerpMarket, DRAWER_ROLE on the fund). No accounts yet.
 */
async function plumbingFixture() {
  const signers = await ethers.getSigners();
  const [admin, , alice, bob, carol, dave, liquidator, market] = signers;
  const stranger = signers[10];
  const operator = signers[11];
  const keel = await pricedMarkets({
    liquidity: usdc("10000000"),
    insurance: FUND_SEED,
    traders: [alice, bob, carol, dave],
  });
  await keel.accounts.connect(admin).grantRole(MARKET_ROLE, market.address);
  await keel.accounts.connect(admin).grantRole(LIQUIDATOR_ROLE, liquidator.address);
  await keel.perps.connect(admin).grantRole(LIQUIDATOR_ROLE, liquidator.address);
  await keel.fund.connect(admin).grantRole(DRAWER_ROLE, liquidator.address);
  return { ...keel, alice, bob, carol, dave, liquidator, market, stranger, operator };
}

type Fixture = Awaited<ReturnType<typeof plumbingFixture>>;

async function openAccount(f: Fixture, owner: HardhatEthersSigner, mode: number, marketId = 0): Promise<bigint> {
  const id = await f.accounts.nextAccountId();
  await f.accounts.connect(owner).createAccount(mode, marketId);
  return id;
}

/**
 * The cash rule: MarginAccounts holds exactly Σ positive USDC balances, which is its recorded USDC
 * totalDeposits; the negative parts sum to settlementDebt; WETH and WBTC held = totalDeposits =
 * Σ balances; the fund holds exactly what it booked.
 */
async function expectCashRule(f: Fixture) {
  const n = await f.accounts.nextAccountId();
  let positive = 0n;
  let negative = 0n;
  const sums: Record<string, bigint> = { [f.addr.weth]: 0n, [f.addr.wbtc]: 0n };
  for (let id = 1n; id < n; id++) {
    const b = await f.accounts.balanceOf(id, f.addr.usdc);
    if (b > 0n) positive += b;
    else negative -= b;
    for (const token of [f.addr.weth, f.addr.wbtc]) sums[token] += await f.accounts.balanceOf(id, token);
  }
  const held = await f.usdc.balanceOf(f.addr.accounts);
  expect(held, "USDC held by MarginAccounts vs Σ positive balances").to.equal(positive);
  expect(await f.accounts.settlementDebt(), "settlementDebt vs Σ negative balances").to.equal(negative);
  expect((await f.accounts.collateral(f.addr.usdc)).totalDeposits, "USDC totalDeposits vs held").to.equal(held);
  for (const [token, erc20] of [
    [f.addr.weth, f.weth],
    [f.addr.wbtc, f.wbtc],
  ] as const) {
    const tokenHeld = await erc20.balanceOf(f.addr.accounts);
    expect(tokenHeld, "collateral held vs Σ balances").to.equal(sums[token]);
    expect((await f.accounts.collateral(token)).totalDeposits, "collateral totalDeposits").to.equal(tokenHeld);
  }
  expect(await f.fund.balance(), "fund booked vs held").to.equal(await f.usdc.balanceOf(f.addr.fund));
}

/** USDC held by MarginAccounts, the pool and the fund (and the fund's books), and the debt. */
async function cash(f: Fixture) {
  return {
    accounts: await f.usdc.balanceOf(f.addr.accounts),
    pool: await f.usdc.balanceOf(f.addr.pool),
    fund: await f.usdc.balanceOf(f.addr.fund),
    fundBooked: await f.fund.balance(),
    debt: await f.accounts.settlementDebt(),
  };
}

async function cashDelta(f: Fixture, before: Awaited<ReturnType<typeof cash>>) {
  const after = await cash(f);
  return {
    accounts: after.accounts - before.accounts,
    pool: after.pool - before.pool,
    fund: after.fund - before.fund,
    fundBooked: after.fundBooked - before.fundBooked,
    debt: after.debt - before.debt,
  };
}

async function balances(f: Fixture, id: bigint): Promise<bigint[]> {
  return Promise.all([f.addr.usdc, f.addr.weth, f.addr.wbtc].map((t) => f.accounts.balanceOf(id, t)));
}

// ---------------------------------------------------------------- perp model

/** The fixture with the bigint model of the markets and helpers that act on both. */
async function withModel(f: Fixture) {
  const sim = simOf(f);
  const feeds: Record<number, typeof f.ethFeed> = { [ETH]: f.ethFeed, [BTC]: f.btcFeed };
  const blockTime = async (tx: { wait(): Promise<unknown> }) => {
    const receipt = (await tx.wait()) as { getBlock(): Promise<{ timestamp: number }> };
    return BigInt((await receipt.getBlock()).timestamp);
  };

  const m = {
    sim,
    async open(owner: HardhatEthersSigner, mode: number, marketId = 0): Promise<bigint> {
      const id = await openAccount(f, owner, mode, marketId);
      sim.addAccount(id, mode);
      return id;
    },
    async deposit(owner: HardhatEthersSigner, id: bigint, amount: bigint) {
      await f.accounts.connect(owner).deposit(id, f.addr.usdc, amount);
      sim.credit(id, f.addr.usdc, amount);
    },
    /** Trades at the widest limit; the PositionModified event must match the model. */
    async trade(owner: HardhatEthersSigner, id: bigint, marketId: number, delta: bigint): Promise<TradeResult> {
      const tx = await f.perps.connect(owner).modifyPosition(id, marketId, delta, delta > 0n ? ethers.MaxUint256 : 0n);
      const r = sim.trade(id, marketId, delta, await blockTime(tx));
      await expect(tx)
        .to.emit(f.perps, "PositionModified")
        .withArgs(id, marketId, delta, r.fill, r.newSize, r.realized, r.funding, r.fee, r.units);
      return r;
    },
    async setPrice(marketId: number, answer: bigint) {
      await feeds[marketId].push(answer);
      sim.market(marketId).price = answer * TICK;
    },
    /** MAX_FUNDING_VELOCITY: accrues funding to the change (as the market does), then applies it. */
    async setVelocity(marketId: number, value: bigint) {
      const tx = await f.riskConfig.setParameter(paramIndex("MAX_FUNDING_VELOCITY"), marketId, value);
      sim.accrue(marketId, await blockTime(tx));
      sim.market(marketId).params.maxFundingVelocity = value;
    },
    position(id: bigint, marketId: number): Position {
      return sim.account(id).positions.get(marketId) ?? { size: 0n, cost: 0n, snapshot: 0n };
    },
  };
  return m;
}

type Model = Awaited<ReturnType<typeof withModel>>;

interface Leg {
  marketId: number;
  moved: bigint;
  mark: bigint;
  fromAmount: bigint;
  toAmount: bigint;
  /** The part of the liquidated account's cost that came off (toward +infinity). */
  removed: bigint;
  /** The liquidated and bidder positions before. */
  from: Position;
  to: Position;
}

function setPosition(sim: Sim, id: bigint, marketId: number, size: bigint, cost: bigint, snapshot: bigint) {
  const positions = sim.account(id).positions;
  if (size === 0n) positions.delete(marketId);
  else positions.set(marketId, { size, cost, snapshot });
}

/**
 * PerpMarket.transferPositions by the formulas, at time `t`, market by market in `markets` order:
 * funding accrued to t; moved = size x fraction / 1e18 toward zero (all of it for 1e18); at the mark
 * (long: low, short: high, here both the Chainlink price) the liquidated side realizes the moved
 * part with its cost removed pro rata toward +infinity and settles all its funding; the bidder opens
 * or nets the moved size at the mark and settles its own funding; both snapshots at the new index.
 * Mutates the model; returns the legs and the two settlements in units (toward -infinity).
 */
function modelTransfer(sim: Sim, from: bigint, to: bigint, fraction: bigint, markets: number[], t: bigint) {
  const legs: Leg[] = [];
  let fromTotal = 0n;
  let toTotal = 0n;
  for (const marketId of markets) {
    sim.accrue(marketId, t);
    const mk = sim.market(marketId);
    const src = sim.account(from).positions.get(marketId) ?? { size: 0n, cost: 0n, snapshot: 0n };
    const moved = fraction === WAD ? src.size : (src.size * fraction) / WAD; // BigInt: toward zero
    if (moved === 0n) continue;
    const mark = mk.price;
    const removed = moved === src.size ? src.cost : divUp(src.cost * abs(moved), abs(src.size));
    const fromAmount = -mulWadUp(-moved, mark) - removed - mulWadUp(src.size, mk.index - src.snapshot);
    setPosition(sim, from, marketId, src.size - moved, src.cost - removed, mk.index);
    const dst = sim.account(to).positions.get(marketId) ?? { size: 0n, cost: 0n, snapshot: 0n };
    const [toRealized, toCost] = reprice(dst.size, dst.cost, moved, mark);
    const toAmount = toRealized - mulWadUp(dst.size, mk.index - dst.snapshot);
    setPosition(sim, to, marketId, dst.size + moved, toCost, mk.index);
    fromTotal += fromAmount;
    toTotal += toAmount;
    legs.push({ marketId, moved, mark, fromAmount, toAmount, removed, from: src, to: dst });
  }
  return { legs, fromSettled: divDown(fromTotal, USDC_SCALE), toSettled: divDown(toTotal, USDC_SCALE) };
}

/** A market's aggregates recomputed from every position of the model. */
function aggregates(sim: Sim, marketId: number) {
  let oiLong = 0n;
  let oiShort = 0n;
  let openCost = 0n;
  let fundingSnapshotSum = 0n;
  for (const a of sim.accounts.values()) {
    const p = a.positions.get(marketId);
    if (p === undefined) continue;
    if (p.size > 0n) oiLong += p.size;
    else oiShort -= p.size;
    openCost += p.cost;
    fundingSnapshotSum += mulWadDown(p.size, p.snapshot);
  }
  return { oiLong, oiShort, openCost, fundingSnapshotSum };
}

/**
 * PerpMarket.tradersUnrealizedPnl by the formula at time t: per market ceil(skew x price) - openCost -
 * (floor(skew x index) - fundingSnapshotSum), index accrued to t; the total rounded up to units
 * (toward zero when negative), minus settlementDebt (zero in these scenarios). WAD and units.
 */
function modelTradersPnl(sim: Sim, t: bigint): { total: bigint; units: bigint } {
  let total = 0n;
  for (const [marketId, mk] of sim.markets) {
    const agg = aggregates(sim, marketId);
    const skew = agg.oiLong - agg.oiShort;
    const { index } = sim.accrued(mk, t);
    total += mulWadUp(skew, mk.price) - agg.openCost - (mulWadDown(skew, index) - agg.fundingSnapshotSum);
  }
  return { total, units: divUp(total, USDC_SCALE) };
}

async function expectPosition(f: Fixture, id: bigint, marketId: number, p: Position) {
  const chain = await f.perps.position(id, marketId);
  expect([chain.size, chain.cost, chain.fundingSnapshot], `position ${id}/${marketId}`).to.deep.equal([
    p.size,
    p.cost,
    p.snapshot,
  ]);
}

/** The market's stored state against the model: funding to its last accrual, aggregates recomputed. */
async function expectMarketState(f: Fixture, model: Model, marketId: number) {
  const mk = model.sim.market(marketId);
  const agg = aggregates(model.sim, marketId);
  expect(named(await f.perps.marketState(marketId)), `market ${marketId} state`).to.deep.equal({
    oiLong: agg.oiLong,
    oiShort: agg.oiShort,
    fundingIndex: mk.index,
    fundingRate: mk.rate,
    lastFundingTime: mk.last,
    openCost: agg.openCost,
    fundingSnapshotSum: agg.fundingSnapshotSum,
  });
}

/**
 * Funding on (MAX_FUNDING_VELOCITY 10 per day in both markets) and skewed markets, 8 hours of
 * funding accrued, then ETH at 3090.12345678 and BTC at 59000.87654321:
 * - `liquidated`: alice Cross, ETH +40.123456789012345678, BTC -1.234567890123456789;
 * - `bidder`: bob Cross, no position;
 * - `isolatedLong`: dave Isolated on ETH, +25.000000000000000011;
 * - `isolatedShort`: carol Isolated on ETH, -25.000000000000000011.
 * ETH skew +40.12..., BTC skew -1.23...
 */
async function skewedMarkets(f: Fixture) {
  const model = await withModel(f);
  for (const id of [ETH, BTC]) await model.setVelocity(id, wad("10"));
  const liquidated = await model.open(f.alice, CROSS);
  await model.deposit(f.alice, liquidated, usdc("60000"));
  await model.trade(f.alice, liquidated, ETH, 40_123_456_789_012_345_678n);
  await model.trade(f.alice, liquidated, BTC, -1_234_567_890_123_456_789n);
  const bidder = await model.open(f.bob, CROSS);
  await model.deposit(f.bob, bidder, usdc("50000"));
  const isolatedLong = await model.open(f.dave, ISOLATED, ETH);
  await model.deposit(f.dave, isolatedLong, usdc("30000"));
  await model.trade(f.dave, isolatedLong, ETH, 25_000_000_000_000_000_011n);
  const isolatedShort = await model.open(f.carol, ISOLATED, ETH);
  await model.deposit(f.carol, isolatedShort, usdc("30000"));
  await model.trade(f.carol, isolatedShort, ETH, -25_000_000_000_000_000_011n);
  await time.increase(8n * HOUR);
  await model.setPrice(ETH, feed("3090.12345678"));
  await model.setPrice(BTC, feed("59000.87654321"));
  for (const id of [ETH, BTC]) await expectMarketState(f, model, id);
  return { model, liquidated, bidder, isolatedLong, isolatedShort };
}

/**
 * Sends transferPositions at `t` and checks everything against the model: the pool's
 * tradersUnrealizedPnl before and after, the static call's return values, the PositionLiquidated
 * events, both accounts' positions and USDC balances (untouched: settlement is the engine's job),
 * every market's state, and the conservation of tradersUnrealizedPnl + realized settlements.
 */
async function transferAndCheck(f: Fixture, model: Model, from: bigint, to: bigint, fraction: bigint, t: bigint) {
  const markets = (await f.perps.accountMarkets(from)).map(Number);
  const before = model.sim.clone();
  const expected = modelTransfer(model.sim, from, to, fraction, markets, t);
  const pnlBefore = modelTradersPnl(before, t);
  const pnlAfter = modelTradersPnl(model.sim, t);
  const usdcBefore = [await f.accounts.balanceOf(from, f.addr.usdc), await f.accounts.balanceOf(to, f.addr.usdc)];

  await time.setNextBlockTimestamp(t);
  const pending = { blockTag: "pending" } as const;
  const u0 = await f.pool.tradersUnrealizedPnl(pending);
  expect(u0, "tradersUnrealizedPnl before").to.equal(pnlBefore.units);
  const [fromSettled, toSettled] = await f.perps
    .connect(f.liquidator)
    .transferPositions.staticCall(from, to, fraction, pending);
  expect([fromSettled, toSettled], "returned settlements").to.deep.equal([expected.fromSettled, expected.toSettled]);

  const tx = await f.perps.connect(f.liquidator).transferPositions(from, to, fraction);
  expect(BigInt((await tx.getBlock())!.timestamp)).to.equal(t);
  for (const leg of expected.legs) {
    await expect(tx)
      .to.emit(f.perps, "PositionLiquidated")
      .withArgs(from, to, leg.marketId, leg.moved, leg.mark, leg.fromAmount, leg.toAmount);
  }
  for (const marketId of markets) {
    await expectPosition(f, from, marketId, model.position(from, marketId));
    await expectPosition(f, to, marketId, model.position(to, marketId));
  }
  for (const marketId of [ETH, BTC]) await expectMarketState(f, model, marketId);
  expect([await f.accounts.balanceOf(from, f.addr.usdc), await f.accounts.balanceOf(to, f.addr.usdc)]).to.deep.equal(
    usdcBefore,
  );

  const u1 = await f.pool.tradersUnrealizedPnl();
  expect(u1, "tradersUnrealizedPnl after").to.equal(pnlAfter.units);
  // Conservation: before = after + what both sides realized. In WAD, up to the wei roundings of the
  // moved cost, realized PnL and snapshots (a few wei per market); in units, up to the rounding of
  // the pool's figure (up) and of each settlement (down): at most one unit per moved market.
  const realizedWad = expected.legs.reduce((s, l) => s + l.fromAmount + l.toAmount, 0n);
  expect(abs(pnlBefore.total - pnlAfter.total - realizedWad) <= 4n * BigInt(expected.legs.length)).to.equal(true);
  const drift = u0 - u1 - fromSettled - toSettled;
  expect(abs(drift) <= BigInt(expected.legs.length), `conservation drift ${drift}`).to.equal(true);
  return { expected, tx, fromSettled, toSettled };
}

// ---------------------------------------------------------------- tests

describe("Liquidation plumbing", () => {
  describe("MarginAccounts.touch", () => {
    it("is MARKET_ROLE only: the admin, the liquidator, the owner and strangers revert AccessControlUnauthorizedAccount", async () => {
      const f = await loadFixture(plumbingFixture);
      const id = await openAccount(f, f.alice, CROSS);
      expect(await f.accounts.hasRole(MARKET_ROLE, f.addr.perps)).to.equal(true);
      for (const caller of [f.admin, f.liquidator, f.alice, f.stranger]) {
        await expect(f.accounts.connect(caller).touch(id, f.alice.address))
          .to.be.revertedWithCustomError(f.accounts, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, MARKET_ROLE);
      }
      expect(await f.accounts.nonce(id)).to.equal(0n);
    });

    it("reverts UnknownAccount for ids never created and NotAuthorized for anyone but the owner or an operator", async () => {
      const f = await loadFixture(plumbingFixture);
      const id = await openAccount(f, f.alice, CROSS);
      const m = f.accounts.connect(f.market);
      await expect(m.touch(0, f.alice.address))
        .to.be.revertedWithCustomError(f.accounts, "UnknownAccount")
        .withArgs(0n);
      await expect(m.touch(id + 1n, f.alice.address))
        .to.be.revertedWithCustomError(f.accounts, "UnknownAccount")
        .withArgs(id + 1n);
      await expect(m.touch(id, f.bob.address))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(id, f.bob.address);
      await f.accounts.connect(f.alice).setOperator(id, f.operator.address, true);
      await f.accounts.connect(f.alice).setOperator(id, f.operator.address, false);
      await expect(m.touch(id, f.operator.address))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(id, f.operator.address);
      expect(await f.accounts.nonce(id)).to.equal(0n);
    });

    it("increments the nonce and returns the record with the new nonce, for the owner and for an operator", async () => {
      const f = await loadFixture(plumbingFixture);
      const other = await openAccount(f, f.bob, CROSS);
      const id = await openAccount(f, f.alice, ISOLATED, ETH);
      const m = f.accounts.connect(f.market);

      const first = await m.touch.staticCall(id, f.alice.address);
      expect([first.owner, first.mode, first.marketId, first.nonce]).to.deep.equal([f.alice.address, 1n, 1n, 1n]);
      await m.touch(id, f.alice.address);
      expect(await f.accounts.nonce(id)).to.equal(1n);
      expect((await f.accounts.account(id)).nonce).to.equal(1n);
      expect((await f.accounts.marginData(id))[0].nonce).to.equal(1n);

      await f.accounts.connect(f.alice).setOperator(id, f.operator.address, true);
      const second = await m.touch.staticCall(id, f.operator.address);
      expect([second.owner, second.mode, second.marketId, second.nonce]).to.deep.equal([f.alice.address, 1n, 1n, 2n]);
      await m.touch(id, f.operator.address);
      const stored = await f.accounts.account(id);
      expect([stored.owner, stored.mode, stored.marketId, stored.nonce]).to.deep.equal([f.alice.address, 1n, 1n, 2n]);
      expect(await f.accounts.nonce(other)).to.equal(0n);
    });

    it("moves by exactly 1 per trade through PerpMarket.modifyPosition; deposits, withdrawals and transfers leave it", async () => {
      const f = await loadFixture(plumbingFixture);
      const id = await openAccount(f, f.alice, CROSS);
      const second = await openAccount(f, f.alice, CROSS);
      const nonces = async () => [await f.accounts.nonce(id), await f.accounts.nonce(second)];

      await f.accounts.connect(f.alice).deposit(id, f.addr.usdc, usdc("10000"));
      await f.accounts.connect(f.alice).deposit(id, f.addr.weth, wad("1"));
      await f.accounts.connect(f.alice).transfer(id, second, f.addr.usdc, usdc("1000"));
      await f.accounts.connect(f.alice).transfer(id, second, f.addr.weth, wad("0.25"));
      await f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, usdc("500"));
      await f.accounts.connect(f.alice).withdraw(second, f.addr.weth, wad("0.25"));
      await f.accounts.connect(f.alice).setOperator(id, f.operator.address, true);
      expect(await nonces()).to.deep.equal([0n, 0n]);

      await f.perps.connect(f.alice).modifyPosition(id, ETH, wad("1"), ethers.MaxUint256);
      expect(await nonces()).to.deep.equal([1n, 0n]);
      await f.perps.connect(f.alice).modifyPosition(id, ETH, -wad("0.4"), 0n);
      expect(await nonces()).to.deep.equal([2n, 0n]);
      // A reverted trade changes nothing.
      await expect(f.perps.connect(f.alice).modifyPosition(id, ETH, wad("1"), 1n)).to.be.revertedWithCustomError(
        f.perps,
        "PriceLimitExceeded",
      );
      expect(await nonces()).to.deep.equal([2n, 0n]);
      await f.perps.connect(f.operator).modifyPosition(id, BTC, -wad("0.01"), 0n);
      expect(await nonces()).to.deep.equal([3n, 0n]);

      // With positions open: collateral movements still leave the nonce alone.
      await f.accounts.connect(f.alice).deposit(id, f.addr.usdc, usdc("100"));
      await f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, usdc("100"));
      await f.accounts.connect(f.alice).transfer(id, second, f.addr.usdc, usdc("100"));
      await f.accounts.connect(f.alice).transfer(second, id, f.addr.usdc, usdc("50"));
      expect(await nonces()).to.deep.equal([3n, 0n]);
      expect((await f.accounts.account(id)).nonce).to.equal(3n);
    });
  });

  describe("MarginAccounts.settleLiquidation", () => {
    const WETH_A = 3_000_000_000_000_000_007n; // 3 WETH + 7 wei
    const WBTC_A = 12_345_677n; // 0.12345677 WBTC

    /** A = alice (10,000 USDC, WETH_A, WBTC_A), B = bob (1,000 USDC, 0.5 WETH), C = carol (777 USDC, 1 WETH). */
    async function setup() {
      const f = await loadFixture(plumbingFixture);
      const a = await openAccount(f, f.alice, CROSS);
      const b = await openAccount(f, f.bob, CROSS);
      const c = await openAccount(f, f.carol, CROSS);
      await f.accounts.connect(f.alice).deposit(a, f.addr.usdc, usdc("10000"));
      await f.accounts.connect(f.alice).deposit(a, f.addr.weth, WETH_A);
      await f.accounts.connect(f.alice).deposit(a, f.addr.wbtc, WBTC_A);
      await f.accounts.connect(f.bob).deposit(b, f.addr.usdc, usdc("1000"));
      await f.accounts.connect(f.bob).deposit(b, f.addr.weth, wad("0.5"));
      await f.accounts.connect(f.carol).deposit(c, f.addr.usdc, usdc("777"));
      await f.accounts.connect(f.carol).deposit(c, f.addr.weth, wad("1"));
      await expectCashRule(f);
      const settle = f.accounts.connect(f.liquidator);
      return { f, a, b, c, settle };
    }

    it("is LIQUIDATOR_ROLE only (held by the engine): the admin, a market and strangers revert", async () => {
      const { f, a, b } = await setup();
      expect(await f.accounts.hasRole(LIQUIDATOR_ROLE, f.addr.liquidation)).to.equal(true);
      for (const caller of [f.admin, f.market, f.alice, f.stranger]) {
        await expect(f.accounts.connect(caller).settleLiquidation(a, b, WAD, 0n, 0n, 0n, 0n))
          .to.be.revertedWithCustomError(f.accounts, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, LIQUIDATOR_ROLE);
      }
    });

    it("reverts InvalidFraction above 1e18", async () => {
      const { f, a, b, settle } = await setup();
      for (const fraction of [WAD + 1n, ethers.MaxUint256]) {
        await expect(settle.settleLiquidation(a, b, fraction, 0n, 0n, 0n, 0n))
          .to.be.revertedWithCustomError(f.accounts, "InvalidFraction")
          .withArgs(fraction);
      }
      expect([await f.accounts.nonce(a), await f.accounts.nonce(b)]).to.deep.equal([0n, 0n]);
    });

    it("books both balances, seizes the fraction of WETH and WBTC rounded down, sends the fee to the fund and the surplus to the pool", async () => {
      const { f, a, b, c, settle } = await setup();
      const fraction = 333_333_333_333_333_334n;
      const fromAmount = -usdc("2000.123456");
      const toAmount = usdc("1500");
      const fee = usdc("25");
      // floor(balance x fraction / 1e18): the rounding is real for both.
      const wethMoved = (WETH_A * fraction) / WAD;
      const wbtcMoved = (WBTC_A * fraction) / WAD;
      expect(wethMoved).to.equal(1_000_000_000_000_000_004n); // 1.000000000000000004333...
      expect(wbtcMoved).to.equal(4_115_225n); // 4115225.67...
      // Cash: A's positive part falls by 2025.123456, B's rises by 1500; the fee leaves for the fund
      // out of MarginAccounts, so the pool receives 525.123456 - 25.
      const poolFlow = -usdc("525.123456") + fee;
      const fundBefore = await f.fund.balance();
      const c0 = await cash(f);
      const cBalances = await balances(f, c);

      const tx = settle.settleLiquidation(a, b, fraction, fromAmount, toAmount, fee, 0n);
      await expect(tx)
        .to.emit(f.accounts, "LiquidationSettled")
        .withArgs(a, b, fromAmount, toAmount, fee, 0n, poolFlow)
        .and.to.emit(f.accounts, "CollateralSeized")
        .withArgs(a, b, f.addr.weth, wethMoved)
        .and.to.emit(f.accounts, "CollateralSeized")
        .withArgs(a, b, f.addr.wbtc, wbtcMoved)
        .and.to.emit(f.fund, "Inflow")
        .withArgs(f.addr.accounts, SOURCE_LIQUIDATION_FEE, fee, fundBefore + fee);
      await expect(tx).to.not.emit(f.accounts, "Settled");

      expect(await balances(f, a)).to.deep.equal([usdc("7974.876544"), WETH_A - wethMoved, WBTC_A - wbtcMoved]);
      expect(await balances(f, b)).to.deep.equal([usdc("2500"), wad("0.5") + wethMoved, wbtcMoved]);
      expect(await balances(f, c)).to.deep.equal(cBalances);
      expect(await cashDelta(f, c0)).to.deep.equal({
        accounts: -usdc("525.123456"),
        pool: usdc("500.123456"),
        fund: fee,
        fundBooked: fee,
        debt: 0n,
      });
      expect([await f.accounts.nonce(a), await f.accounts.nonce(b), await f.accounts.nonce(c)]).to.deep.equal([
        1n,
        1n,
        0n,
      ]);
      await expectCashRule(f);
    });

    it("pulls a positive pool flow from the pool: the fee straight to the fund, the rest to MarginAccounts", async () => {
      const { f, a, b, settle } = await setup();
      // Fraction 1e18: every WETH and WBTC unit moves.
      let c0 = await cash(f);
      await expect(settle.settleLiquidation(a, b, WAD, usdc("300"), usdc("200"), usdc("10"), 0n))
        .to.emit(f.accounts, "LiquidationSettled")
        .withArgs(a, b, usdc("300"), usdc("200"), usdc("10"), 0n, usdc("500"))
        .and.to.emit(f.accounts, "CollateralSeized")
        .withArgs(a, b, f.addr.weth, WETH_A)
        .and.to.emit(f.accounts, "CollateralSeized")
        .withArgs(a, b, f.addr.wbtc, WBTC_A)
        .and.to.emit(f.usdc, "Transfer")
        .withArgs(f.addr.pool, f.addr.fund, usdc("10"))
        .and.to.emit(f.usdc, "Transfer")
        .withArgs(f.addr.pool, f.addr.accounts, usdc("490"));
      expect(await balances(f, a)).to.deep.equal([usdc("10290"), 0n, 0n]);
      expect(await balances(f, b)).to.deep.equal([usdc("1200"), wad("0.5") + WETH_A, WBTC_A]);
      expect(await cashDelta(f, c0)).to.deep.equal({
        accounts: usdc("490"),
        pool: -usdc("500"),
        fund: usdc("10"),
        fundBooked: usdc("10"),
        debt: 0n,
      });
      await expectCashRule(f);

      // A pool flow below the fee: the pool sends its 5 to the fund, MarginAccounts the other 5.
      c0 = await cash(f);
      await expect(settle.settleLiquidation(a, b, WAD, -usdc("5"), usdc("10"), usdc("10"), 0n))
        .to.emit(f.accounts, "LiquidationSettled")
        .withArgs(a, b, -usdc("5"), usdc("10"), usdc("10"), 0n, usdc("5"))
        .and.to.emit(f.usdc, "Transfer")
        .withArgs(f.addr.pool, f.addr.fund, usdc("5"))
        .and.to.emit(f.usdc, "Transfer")
        .withArgs(f.addr.accounts, f.addr.fund, usdc("5"));
      expect(await balances(f, a)).to.deep.equal([usdc("10275"), 0n, 0n]);
      expect(await balances(f, b)).to.deep.equal([usdc("1210"), wad("0.5") + WETH_A, WBTC_A]);
      expect(await cashDelta(f, c0)).to.deep.equal({
        accounts: -usdc("5"),
        pool: -usdc("5"),
        fund: usdc("10"),
        fundBooked: usdc("10"),
        debt: 0n,
      });
      expect([await f.accounts.nonce(a), await f.accounts.nonce(b)]).to.deep.equal([2n, 2n]);
      await expectCashRule(f);
    });

    it("creates debt when a balance crosses below zero and repays it to the pool when it crosses back", async () => {
      const { f, b, settle } = await setup();
      const a = await openAccount(f, f.dave, CROSS);
      await f.accounts.connect(f.dave).deposit(a, f.addr.usdc, usdc("100"));
      await f.accounts.connect(f.dave).deposit(a, f.addr.weth, wad("2"));

      // 1. A: 100 -> -200 (its 100 of cash goes, 200 of debt appears), B: 1000 -> 1300. Fraction 0:
      //    nothing seized. The pool pays the 200 B gained beyond what A had.
      let c0 = await cash(f);
      const first = settle.settleLiquidation(a, b, 0n, -usdc("300"), usdc("300"), 0n, 0n);
      await expect(first)
        .to.emit(f.accounts, "LiquidationSettled")
        .withArgs(a, b, -usdc("300"), usdc("300"), 0n, 0n, usdc("200"));
      await expect(first).to.not.emit(f.accounts, "CollateralSeized");
      await expect(first).to.not.emit(f.fund, "Inflow");
      expect(await balances(f, a)).to.deep.equal([-usdc("200"), wad("2"), 0n]);
      expect((await balances(f, b))[0]).to.equal(usdc("1300"));
      expect(await cashDelta(f, c0)).to.deep.equal({
        accounts: usdc("200"),
        pool: -usdc("200"),
        fund: 0n,
        fundBooked: 0n,
        debt: usdc("200"),
      });
      await expectCashRule(f);

      // 2. A: -200 + 500 - 5 fee = 295 (its 200 of debt repaid), B: 1300 -> 800. Cash -205; the fee
      //    leaves for the fund and the pool gets its 200 back.
      c0 = await cash(f);
      await expect(settle.settleLiquidation(a, b, 0n, usdc("500"), -usdc("500"), usdc("5"), 0n))
        .to.emit(f.accounts, "LiquidationSettled")
        .withArgs(a, b, usdc("500"), -usdc("500"), usdc("5"), 0n, -usdc("200"));
      expect((await balances(f, a))[0]).to.equal(usdc("295"));
      expect((await balances(f, b))[0]).to.equal(usdc("800"));
      expect(await cashDelta(f, c0)).to.deep.equal({
        accounts: -usdc("205"),
        pool: usdc("200"),
        fund: usdc("5"),
        fundBooked: usdc("5"),
        debt: -usdc("200"),
      });
      await expectCashRule(f);

      // 3. The bidder crosses below zero: B 800 -> -200, A 295 -> 1295.
      c0 = await cash(f);
      await expect(settle.settleLiquidation(a, b, 0n, usdc("1000"), -usdc("1000"), 0n, 0n))
        .to.emit(f.accounts, "LiquidationSettled")
        .withArgs(a, b, usdc("1000"), -usdc("1000"), 0n, 0n, usdc("200"));
      expect((await balances(f, a))[0]).to.equal(usdc("1295"));
      expect((await balances(f, b))[0]).to.equal(-usdc("200"));
      expect(await cashDelta(f, c0)).to.deep.equal({
        accounts: usdc("200"),
        pool: -usdc("200"),
        fund: 0n,
        fundBooked: 0n,
        debt: usdc("200"),
      });
      expect([await f.accounts.nonce(a), await f.accounts.nonce(b)]).to.deep.equal([3n, 3n]);
      await expectCashRule(f);
    });

    it("counts what the insurance fund already sent (fundPaid) and takes only the rest from the pool", async () => {
      const { f, a, b, settle } = await setup();
      const drain = await openAccount(f, f.dave, CROSS);
      await f.accounts.connect(f.dave).deposit(drain, f.addr.usdc, usdc("100"));
      // As the engine does for an insolvent account: the fund sends 400 to MarginAccounts first.
      const fundBefore = await f.fund.balance();
      await expect(f.fund.connect(f.liquidator).draw(f.addr.accounts, usdc("400"), REASON_INSOLVENT))
        .to.emit(f.fund, "Outflow")
        .withArgs(f.addr.accounts, REASON_INSOLVENT, usdc("400"), fundBefore - usdc("400"));
      expect(await f.usdc.balanceOf(f.addr.accounts)).to.equal(
        (await f.accounts.collateral(f.addr.usdc)).totalDeposits + usdc("400"),
      );

      // drain 100 -> 0, bidder B 1000 -> 1800: cash +700, of which the fund paid 400 and the pool 300.
      const c0 = await cash(f);
      await expect(settle.settleLiquidation(drain, b, WAD, -usdc("100"), usdc("800"), 0n, usdc("400")))
        .to.emit(f.accounts, "LiquidationSettled")
        .withArgs(drain, b, -usdc("100"), usdc("800"), 0n, usdc("400"), usdc("300"))
        .and.to.emit(f.usdc, "Transfer")
        .withArgs(f.addr.pool, f.addr.accounts, usdc("300"));
      expect((await balances(f, drain))[0]).to.equal(0n);
      expect((await balances(f, b))[0]).to.equal(usdc("1800"));
      expect(await cashDelta(f, c0)).to.deep.equal({
        accounts: usdc("300"),
        pool: -usdc("300"),
        fund: 0n,
        fundBooked: 0n,
        debt: 0n,
      });
      expect(await f.accounts.nonce(a)).to.equal(0n);
      await expectCashRule(f);
    });

    it("fee only (toAccountId 0): charges the fee to the fund, seizes nothing and leaves every other account alone", async () => {
      const { f, a, b, c, settle } = await setup();
      const others = [await balances(f, b), await balances(f, c), await balances(f, 0n)];
      const fundBefore = await f.fund.balance();
      const c0 = await cash(f);
      const tx = settle.settleLiquidation(a, 0n, WAD / 2n, 0n, 0n, usdc("20"), 0n);
      await expect(tx)
        .to.emit(f.accounts, "LiquidationSettled")
        .withArgs(a, 0n, 0n, 0n, usdc("20"), 0n, 0n)
        .and.to.emit(f.fund, "Inflow")
        .withArgs(f.addr.accounts, SOURCE_LIQUIDATION_FEE, usdc("20"), fundBefore + usdc("20"));
      await expect(tx).to.not.emit(f.accounts, "CollateralSeized");
      expect(await balances(f, a)).to.deep.equal([usdc("9980"), WETH_A, WBTC_A]);
      expect([await balances(f, b), await balances(f, c), await balances(f, 0n)]).to.deep.equal(others);
      expect(await cashDelta(f, c0)).to.deep.equal({
        accounts: -usdc("20"),
        pool: 0n,
        fund: usdc("20"),
        fundBooked: usdc("20"),
        debt: 0n,
      });
      expect(
        await Promise.all([a, b, c, 0n].map((id) => f.accounts.nonce(id))),
        "nonces of A, B, C and account 0",
      ).to.deep.equal([1n, 0n, 0n, 0n]);
      await expectCashRule(f);
    });
  });

  describe("PerpMarket.transferPositions", () => {
    it("is LIQUIDATOR_ROLE only (held by the engine) and reverts InvalidFraction for 0 and above 1e18", async () => {
      const f = await loadFixture(plumbingFixture);
      const from = await openAccount(f, f.alice, CROSS);
      const to = await openAccount(f, f.bob, CROSS);
      await f.accounts.connect(f.alice).deposit(from, f.addr.usdc, usdc("10000"));
      await f.perps.connect(f.alice).modifyPosition(from, ETH, wad("1"), ethers.MaxUint256);
      expect(await f.perps.hasRole(LIQUIDATOR_ROLE, f.addr.liquidation)).to.equal(true);
      for (const caller of [f.admin, f.market, f.alice, f.stranger]) {
        await expect(f.perps.connect(caller).transferPositions(from, to, WAD))
          .to.be.revertedWithCustomError(f.perps, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, LIQUIDATOR_ROLE);
      }
      for (const fraction of [0n, WAD + 1n, ethers.MaxUint256]) {
        await expect(f.perps.connect(f.liquidator).transferPositions(from, to, fraction))
          .to.be.revertedWithCustomError(f.perps, "InvalidFraction")
          .withArgs(fraction);
      }
      expect((await f.perps.position(from, ETH)).size).to.equal(wad("1"));
    });

    it("reverts WrongMarket for an isolated bidder bound to another market than a moved position's", async () => {
      const f = await loadFixture(plumbingFixture);
      const { liquidated, isolatedShort } = await skewedMarkets(f);
      const btcBidder = await openAccount(f, f.dave, ISOLATED, BTC);
      // The liquidated account holds ETH then BTC: an ETH-bound bidder fails at BTC, a BTC-bound one at ETH.
      expect(await f.perps.accountMarkets(liquidated)).to.deep.equal([BigInt(ETH), BigInt(BTC)]);
      await expect(f.perps.connect(f.liquidator).transferPositions(liquidated, isolatedShort, WAD / 2n))
        .to.be.revertedWithCustomError(f.perps, "WrongMarket")
        .withArgs(isolatedShort, ETH, BTC);
      await expect(f.perps.connect(f.liquidator).transferPositions(liquidated, btcBidder, WAD / 2n))
        .to.be.revertedWithCustomError(f.perps, "WrongMarket")
        .withArgs(btcBidder, BTC, ETH);
    });

    it("moves a fraction of every position at the mark to an empty bidder: pro-rata cost up, bidder cost = moved x mark up, funding settled, snapshots at the index", async () => {
      const f = await loadFixture(plumbingFixture);
      const { model, liquidated, bidder } = await skewedMarkets(f);
      const stateBefore = [await f.perps.marketState(ETH), await f.perps.marketState(BTC)];
      const fraction = 370_000_000_000_000_001n;
      const t = BigInt(await time.latest()) + 10n;
      const { expected, tx } = await transferAndCheck(f, model, liquidated, bidder, fraction, t);
      expect(expected.legs.map((l) => l.marketId)).to.deep.equal([ETH, BTC]);

      for (const leg of expected.legs) {
        const mk = model.sim.market(leg.marketId);
        const size = leg.from.size;
        // The moved size, toward zero (the fraction does not divide the size exactly).
        expect(leg.moved).to.equal((size * fraction) / WAD);
        expect((size * fraction) % WAD).to.not.equal(0n);
        expect(leg.mark).to.equal(mk.price);
        // The liquidated side keeps its cost minus the pro-rata part, rounded toward +infinity.
        const exact = leg.from.cost * abs(leg.moved);
        expect(exact % abs(size)).to.not.equal(0n);
        const removed = exact > 0n ? exact / abs(size) + 1n : exact / abs(size);
        expect(leg.removed).to.equal(removed);
        await expectPosition(f, liquidated, leg.marketId, {
          size: size - leg.moved,
          cost: leg.from.cost - removed,
          snapshot: mk.index,
        });
        // The bidder opens at the mark: cost = moved x mark, rounded toward +infinity.
        const opened = leg.moved * leg.mark;
        expect(opened % WAD).to.not.equal(0n);
        await expectPosition(f, bidder, leg.marketId, {
          size: leg.moved,
          cost: opened > 0n ? opened / WAD + 1n : opened / WAD,
          snapshot: mk.index,
        });
        expect(mk.index).to.not.equal(0n);
        expect(leg.from.snapshot).to.not.equal(mk.index);
        // Realized: the moved part's proceeds at the mark minus its cost, then all of its funding.
        expect(leg.fromAmount).to.equal(
          -mulWadUp(-leg.moved, leg.mark) - removed - mulWadUp(size, mk.index - leg.from.snapshot),
        );
        expect(leg.toAmount).to.equal(0n);
        await expect(tx).to.emit(f.perps, "FundingAccrued").withArgs(leg.marketId, mk.index, mk.rate, mk.skew);
      }
      // Open interest unchanged on both sides: it only changed hands.
      const stateAfter = [await f.perps.marketState(ETH), await f.perps.marketState(BTC)];
      for (let i = 0; i < 2; i++) {
        expect([stateAfter[i].oiLong, stateAfter[i].oiShort]).to.deep.equal([
          stateBefore[i].oiLong,
          stateBefore[i].oiShort,
        ]);
      }
      expect(await f.perps.accountMarkets(liquidated)).to.deep.equal([BigInt(ETH), BigInt(BTC)]);
      expect(await f.perps.accountMarkets(bidder)).to.deep.equal([BigInt(ETH), BigInt(BTC)]);
    });

    it("fraction 1e18 moves everything: the liquidated account's market set empties, the bidder's gains the markets; a same-side position adds moved x mark to its cost", async () => {
      const f = await loadFixture(plumbingFixture);
      const { model, liquidated, bidder } = await skewedMarkets(f);
      // The bidder already holds ETH on the same side, with funding owed since its own trade.
      await model.trade(f.bob, bidder, ETH, 5_000_000_000_000_000_003n);
      await time.increase(HOUR);
      await model.setPrice(ETH, feed("3101.5"));
      await model.setPrice(BTC, feed("59500"));
      const own = model.position(bidder, ETH);
      const t = BigInt(await time.latest()) + 7n;
      const { expected } = await transferAndCheck(f, model, liquidated, bidder, WAD, t);

      const [eth, btc] = expected.legs;
      expect([eth.moved, btc.moved]).to.deep.equal([40_123_456_789_012_345_678n, -1_234_567_890_123_456_789n]);
      const index = model.sim.market(ETH).index;
      await expectPosition(f, bidder, ETH, {
        size: own.size + eth.moved,
        cost: own.cost + mulWadUp(eth.moved, eth.mark),
        snapshot: index,
      });
      // The bidder's own ETH funding is settled with the transfer.
      expect(eth.toAmount).to.equal(-mulWadUp(own.size, index - own.snapshot));
      expect(eth.toAmount).to.not.equal(0n);
      for (const marketId of [ETH, BTC]) {
        await expectPosition(f, liquidated, marketId, { size: 0n, cost: 0n, snapshot: 0n });
      }
      expect(await f.perps.accountMarkets(liquidated)).to.deep.equal([]);
      expect(await f.perps.accountMarkets(bidder)).to.deep.equal([BigInt(ETH), BigInt(BTC)]);
      expect(await f.perps.accountRisk(liquidated)).to.deep.equal([]);
    });

    it("nets against the bidder's opposite position: open interest falls on both sides by the moved size; an exact offset empties both market sets", async () => {
      const f = await loadFixture(plumbingFixture);
      const { model, isolatedLong, isolatedShort } = await skewedMarkets(f);
      let before = await f.perps.marketState(ETH);
      const short = model.position(isolatedShort, ETH);
      let t = BigInt(await time.latest()) + 5n;
      const first = await transferAndCheck(f, model, isolatedLong, isolatedShort, wad("0.4"), t);
      const leg = first.expected.legs[0];
      expect(leg.moved).to.equal(10_000_000_000_000_000_004n);
      // The bidder closes part of its short at the mark: its cost comes off pro rata toward
      // +infinity (toward zero for a short's negative cost), and it realizes that part and its funding.
      const index = model.sim.market(ETH).index;
      const exact = short.cost * leg.moved;
      expect(exact % abs(short.size)).to.not.equal(0n);
      const removed = exact / abs(short.size); // negative: toward zero is toward +infinity
      await expectPosition(f, isolatedShort, ETH, {
        size: short.size + leg.moved,
        cost: short.cost - removed,
        snapshot: index,
      });
      expect(leg.toAmount).to.equal(
        -mulWadUp(leg.moved, leg.mark) - removed - mulWadUp(short.size, index - short.snapshot),
      );
      let after = await f.perps.marketState(ETH);
      expect([after.oiLong, after.oiShort]).to.deep.equal([before.oiLong - leg.moved, before.oiShort - leg.moved]);
      expect(await f.perps.accountMarkets(isolatedShort)).to.deep.equal([BigInt(ETH)]);

      // The rest, exactly the bidder's remaining short: both positions close.
      before = after;
      t += 60n;
      const second = await transferAndCheck(f, model, isolatedLong, isolatedShort, WAD, t);
      expect(second.expected.legs[0].moved).to.equal(15_000_000_000_000_000_007n);
      for (const id of [isolatedLong, isolatedShort]) {
        await expectPosition(f, id, ETH, { size: 0n, cost: 0n, snapshot: 0n });
        expect(await f.perps.accountMarkets(id)).to.deep.equal([]);
      }
      after = await f.perps.marketState(ETH);
      expect([after.oiLong, after.oiShort]).to.deep.equal([
        before.oiLong - 15_000_000_000_000_000_007n,
        before.oiShort - 15_000_000_000_000_000_007n,
      ]);
    });

    it("reverts TooManyPositions when the bidder already holds eight other markets, and fits once it holds seven", async () => {
      const f = await loadFixture(plumbingFixture);
      // Markets 3..9 on mock feeds (no TWAP), each with market 1's parameters (as scripts/bench-gas.ts).
      const feeds = [f.ethFeed, f.btcFeed];
      const answers = [ETH_PRICE, BTC_PRICE];
      for (let id = 3; id <= 9; id++) {
        const token = await (await ethers.getContractFactory("MockERC20")).deploy(`Asset ${id}`, `A${id}`, 18);
        const agg = await (await ethers.getContractFactory("MockAggregator")).deploy(8, `A${id} / USD (mock)`);
        await agg.push(feed("100"));
        feeds.push(agg as unknown as typeof f.ethFeed);
        answers.push(feed("100"));
        await f.oracle.setChainlink(token, agg, 3600, 300, 8, 1n, 10n ** 14n);
        await f.volatility.configure(token, wad("0.94"), wad("0.2"), wad("5"), wad("0.8"));
        for (let param = 0; param <= 13; param++) {
          await f.riskConfig.setParameter(param, id, await f.riskConfig.get(param, 1));
        }
        await f.perps.listMarket(id, token);
      }
      for (let i = 0; i < feeds.length; i++) await feeds[i].push(answers[i]);

      const liquidated = await openAccount(f, f.alice, CROSS);
      await f.accounts.connect(f.alice).deposit(liquidated, f.addr.usdc, usdc("10000"));
      await f.perps.connect(f.alice).modifyPosition(liquidated, ETH, wad("2"), ethers.MaxUint256);
      const bidder = await openAccount(f, f.bob, CROSS);
      await f.accounts.connect(f.bob).deposit(bidder, f.addr.usdc, usdc("20000"));
      for (let id = 2; id <= 9; id++) {
        await f.perps.connect(f.bob).modifyPosition(bidder, id, id === BTC ? wad("0.01") : wad("1"), ethers.MaxUint256);
      }
      expect(await f.perps.accountMarkets(bidder)).to.deep.equal([2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
      await expect(f.perps.connect(f.liquidator).transferPositions(liquidated, bidder, WAD / 2n))
        .to.be.revertedWithCustomError(f.perps, "TooManyPositions")
        .withArgs(bidder, 8n);

      await f.perps.connect(f.bob).modifyPosition(bidder, 9, -wad("1"), 0n);
      await f.perps.connect(f.liquidator).transferPositions(liquidated, bidder, WAD / 2n);
      expect(await f.perps.accountMarkets(bidder)).to.deep.equal([2n, 3n, 4n, 5n, 6n, 7n, 8n, 1n]);
      expect((await f.perps.position(bidder, ETH)).size).to.equal(wad("1"));
      expect(await f.perps.accountMarkets(liquidated)).to.deep.equal([1n]);
    });
  });

  describe("RiskConfig.setGlobalListener and the parameter push", () => {
    it("is admin only, refuses an EOA (NotAContract), and emits GlobalListenerSet", async () => {
      const f = await loadFixture(plumbingFixture);
      expect(await f.riskConfig.globalListener()).to.equal(f.addr.liquidation);
      for (const caller of [f.stranger, f.liquidator]) {
        await expect(f.riskConfig.connect(caller).setGlobalListener(f.addr.liquidation))
          .to.be.revertedWithCustomError(f.riskConfig, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, ADMIN_ROLE);
      }
      await expect(f.riskConfig.setGlobalListener(f.stranger.address))
        .to.be.revertedWithCustomError(f.riskConfig, "NotAContract")
        .withArgs(f.stranger.address);
      await expect(f.riskConfig.setGlobalListener(ethers.ZeroAddress))
        .to.emit(f.riskConfig, "GlobalListenerSet")
        .withArgs(f.addr.liquidation, ethers.ZeroAddress);
      expect(await f.riskConfig.globalListener()).to.equal(ethers.ZeroAddress);
      await expect(f.riskConfig.setGlobalListener(f.addr.liquidation))
        .to.emit(f.riskConfig, "GlobalListenerSet")
        .withArgs(ethers.ZeroAddress, f.addr.liquidation);
      expect(await f.riskConfig.globalListener()).to.equal(f.addr.liquidation);
    });

    it("pushes every global parameter change to the engine as a new version carrying the changed field", async () => {
      const f = await loadFixture(plumbingFixture);
      const current = configuredGlobals();
      const [v1, p1] = await f.liquidation.parameters();
      expect(v1).to.equal(1n);
      expect(named(p1)).to.deep.equal(current);
      // New values inside the bounds and the discount ladder (start <= fast <= cap, start < cap).
      const changes: [string, bigint][] = [
        ["LIQUIDATION_FEE", wad("0.03")],
        ["AUCTION_START_DISCOUNT", wad("0.02")],
        ["AUCTION_FAST_DISCOUNT", wad("0.06")],
        ["AUCTION_DISCOUNT_CAP", wad("0.2")],
        ["AUCTION_FAST_DURATION", 120n],
        ["AUCTION_SLOW_DURATION", 7200n],
        ["AUCTION_STALL_TIMEOUT", 3600n],
        ["BUFFER_MARGIN", wad("0.2")],
        ["DUST_THRESHOLD", wad("250")],
        ["INSOLVENT_PAYOUT_CAP", wad("20000")],
        ["INSOLVENT_RAMP", 900n],
        ["THROUGHPUT_CAP", wad("5000000")],
        ["THROUGHPUT_WINDOW", 1800n],
        ["INSURANCE_FLOOR", wad("2500")],
      ];
      expect(changes.map(([name]) => name)).to.deep.equal(GLOBAL_PARAMS);
      let version = 1n;
      for (const [name, value] of changes) {
        expect(current[GLOBAL_FIELDS[name]]).to.not.equal(value);
        current[GLOBAL_FIELDS[name]] = value;
        version += 1n;
        await expect(f.riskConfig.setParameter(paramIndex(name), 0, value))
          .to.emit(f.liquidation, "ParametersUpdated")
          .withArgs(version, asStruct(current));
        const [v, p] = await f.liquidation.parameters();
        expect([v, named(p)], name).to.deep.equal([version, { ...current }]);
        expect(await f.liquidation.version()).to.equal(version);
      }
      expect(version).to.equal(15n);
    });

    it("creates no version for market or underlying parameters; a zero listener stops the push", async () => {
      const f = await loadFixture(plumbingFixture);
      const configured = configuredGlobals();
      await expect(f.riskConfig.setParameter(paramIndex("TAKER_FEE"), ETH, wad("0.0007"))).to.not.emit(
        f.liquidation,
        "ParametersUpdated",
      );
      await expect(f.riskConfig.setParameter(paramIndex("MM_FLOOR"), BTC, wad("0.02"))).to.not.emit(
        f.liquidation,
        "ParametersUpdated",
      );
      await expect(
        f.riskConfig.setParameter(paramIndex("OPTION_SPREAD_BASE"), BigInt(f.addr.weth), wad("0.02")),
      ).to.not.emit(f.liquidation, "ParametersUpdated");
      expect(await f.liquidation.version()).to.equal(1n);

      // Another engine as the listener: it receives the change, the first one does not.
      const other = await (
        await ethers.getContractFactory("LiquidationEngine")
      ).deploy(f.addr.accounts, f.addr.perps, f.addr.engine, f.addr.riskConfig, f.addr.fund);
      await f.riskConfig.setGlobalListener(other);
      await expect(f.riskConfig.setParameter(paramIndex("BUFFER_MARGIN"), 0, wad("0.3")))
        .to.emit(other, "ParametersUpdated")
        .withArgs(2n, asStruct({ ...configured, buffer: wad("0.3") }));
      expect(await f.liquidation.version()).to.equal(1n);

      // Zero: RiskConfig stores the value and pushes it nowhere.
      await f.riskConfig.setGlobalListener(ethers.ZeroAddress);
      const tx = f.riskConfig.setParameter(paramIndex("LIQUIDATION_FEE"), 0, wad("0.05"));
      await expect(tx).to.emit(f.riskConfig, "ParameterSet");
      await expect(tx).to.not.emit(f.liquidation, "ParametersUpdated");
      await expect(tx).to.not.emit(other, "ParametersUpdated");
      expect(await f.riskConfig.get(paramIndex("LIQUIDATION_FEE"), 0)).to.equal(wad("0.05"));
      expect(await f.liquidation.version()).to.equal(1n);
      expect(await other.version()).to.equal(2n);
      expect((await f.liquidation.parameters())[1].fee).to.equal(configured.fee);

      // Back on: the next change arrives.
      await f.riskConfig.setGlobalListener(f.addr.liquidation);
      await f.riskConfig.setParameter(paramIndex("DUST_THRESHOLD"), 0, wad("500"));
      const [v, p] = await f.liquidation.parameters();
      expect([v, p.dustThreshold]).to.deep.equal([2n, wad("500")]);
    });

    it("syncParameters catches the engine up with changes made while RiskConfig pushed nowhere, and is a no-op otherwise", async () => {
      const f = await loadFixture(plumbingFixture);
      const configured = (await f.liquidation.parameters())[1];
      expect(await f.liquidation.connect(f.stranger).syncParameters.staticCall()).to.equal(false);
      await expect(f.liquidation.connect(f.stranger).syncParameters()).to.not.emit(f.liquidation, "ParametersUpdated");
      expect(await f.liquidation.version()).to.equal(1n);

      await f.riskConfig.setGlobalListener(ethers.ZeroAddress);
      await f.riskConfig.setParameter(paramIndex("LIQUIDATION_FEE"), 0, wad("0.05"));
      await f.riskConfig.setParameter(paramIndex("INSURANCE_FLOOR"), 0, wad("2500"));
      expect((await f.liquidation.parameters())[1].fee).to.equal(configured.fee);

      expect(await f.liquidation.connect(f.stranger).syncParameters.staticCall()).to.equal(true);
      await expect(f.liquidation.connect(f.stranger).syncParameters())
        .to.emit(f.liquidation, "ParametersUpdated")
        .withArgs(
          2n,
          asStruct({ ...(named(configured) as Record<string, bigint>), fee: wad("0.05"), insuranceFloor: wad("2500") }),
        );
      const [v, p] = await f.liquidation.parameters();
      expect([v, p.fee, p.insuranceFloor, p.discountCap]).to.deep.equal([
        2n,
        wad("0.05"),
        wad("2500"),
        configured.discountCap,
      ]);
      await expect(f.liquidation.syncParameters()).to.not.emit(f.liquidation, "ParametersUpdated");
      expect(await f.liquidation.version()).to.equal(2n);
    });

    it("LiquidationEngine.onGlobalParameterChanged reverts NotRiskConfig for any caller but RiskConfig", async () => {
      const f = await loadFixture(plumbingFixture);
      for (const caller of [f.admin, f.stranger, f.liquidator]) {
        await expect(f.liquidation.connect(caller).onGlobalParameterChanged(paramIndex("LIQUIDATION_FEE"), wad("0.03")))
          .to.be.revertedWithCustomError(f.liquidation, "NotRiskConfig")
          .withArgs(caller.address);
      }
      expect(await f.liquidation.version()).to.equal(1n);
    });
  });

  describe("LiquidationEngine constructor", () => {
    it("reverts ZeroAddress for each zero argument", async () => {
      const f = await loadFixture(plumbingFixture);
      const factory = await ethers.getContractFactory("LiquidationEngine");
      const args = [f.addr.accounts, f.addr.perps, f.addr.engine, f.addr.riskConfig, f.addr.fund];
      for (let i = 0; i < args.length; i++) {
        const withZero = args.map((a, j) => (j === i ? ethers.ZeroAddress : a)) as [
          string,
          string,
          string,
          string,
          string,
        ];
        await expect(factory.deploy(...withZero), `argument ${i}`).to.be.revertedWithCustomError(
          factory,
          "ZeroAddress",
        );
      }
    });

    it("starts at version 1 with the 14 global parameters RiskConfig holds", async () => {
      const f = await loadFixture(plumbingFixture);
      // The deployed engine: the configured values.
      const configured = configuredGlobals();
      const [version, params] = await f.liquidation.parameters();
      expect([version, named(params)]).to.deep.equal([1n, configured]);
      for (const name of GLOBAL_PARAMS) {
        expect(params[GLOBAL_FIELDS[name] as keyof typeof params], name).to.equal(
          await f.riskConfig.get(paramIndex(name), 0),
        );
      }

      // A new engine reads RiskConfig as it is now, not the configuration file.
      await f.riskConfig.setParameter(paramIndex("INSURANCE_FLOOR"), 0, wad("1234.5"));
      await f.riskConfig.setParameter(paramIndex("AUCTION_STALL_TIMEOUT"), 0, 999n);
      const fresh = { ...configured, insuranceFloor: wad("1234.5"), stallTimeout: 999n };
      const engine = await (
        await ethers.getContractFactory("LiquidationEngine")
      ).deploy(f.addr.accounts, f.addr.perps, f.addr.engine, f.addr.riskConfig, f.addr.fund);
      await expect(engine.deploymentTransaction()).to.emit(engine, "ParametersUpdated").withArgs(1n, asStruct(fresh));
      const [v, p] = await engine.parameters();
      expect([v, named(p)]).to.deep.equal([1n, fresh]);
      expect([
        await engine.accounts(),
        await engine.perps(),
        await engine.marginEngine(),
        await engine.riskConfig(),
        await engine.insuranceFund(),
        await engine.settlementToken(),
      ]).to.deep.equal([f.addr.accounts, f.addr.perps, f.addr.engine, f.addr.riskConfig, f.addr.fund, f.addr.usdc]);
    });
  });
});
