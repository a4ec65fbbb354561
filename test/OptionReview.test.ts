import { expect } from "chai";
import { ethers } from "hardhat";
import { takeSnapshot, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { paramIndex } from "../scripts/lib/params";
import { WAD, TICK, CROSS, ISOLATED, ETH, usdc, wad, feed } from "./helpers/marginModel";
import { simOf } from "./helpers/fixtures";
import {
  CALL,
  PUT,
  SCALE,
  DAY_S,
  loadOptionMarkets,
  gridExpiry,
  mulWad,
  mulWadUp,
  sMulWad,
  divWadUp,
  spreadOf,
  premiumOf,
  tradeQuote,
  payoffOf,
  settledUnits,
  optionValue,
  equityValueOf,
  shortMaintenance,
  tenorFactor,
  volatilityUp,
  volatilityDown,
  settledLiability,
  liabilityUnits,
} from "./helpers/optionFixtures";
import type { OptionFixture, OptionParams, Greeks } from "./helpers/optionFixtures";

// Regression tests for the fixes of the options security review, one per fix. Every expected
// figure is computed here in bigint from the formulas of OptionMarket / MarginEngine / OptionMath
// with Black-Scholes values from the on-chain BlackScholesHarness (f.bs), never read back from the
// contract under test; the chain supplies inputs only (round ids, the timestamps the test sets).
// The fixture removes the TWAPs, so every price is Ok with low = high = the Chainlink answer.

const HOUR = 3600n;
/** OptionMarket.TRADING_CUTOFF, SETTLEMENT_GRACE, MAX_SCENARIO_VOL. */
const TRADING_CUTOFF = HOUR;
const SETTLEMENT_GRACE = DAY_S;
const MAX_SCENARIO_VOL = 100n * WAD;
/** OptionMath.MIN_PRICE_SHARE. */
const MIN_PRICE_SHARE = 10n ** 14n;
/** MarginEngine.GRID_POINTS. */
const GRID_POINTS = 7n;

const report = process.env.OPTION_REPORT !== undefined && process.env.OPTION_REPORT !== "";
const usd = (x: bigint, decimals = 18) => ethers.formatUnits(x, decimals);

// ---------------------------------------------------------------- a ledger of the WETH option book

interface SeriesState {
  id: number;
  strike: bigint;
  expiry: bigint;
  isCall: boolean;
  long: bigint;
  short: bigint;
  traderDelta: bigint;
  traderVega: bigint;
}

/**
 * The WETH option book as the formulas say it is: series, positions, the pool's exposure and every
 * account's stablecoin. `trade` sends a trade at a set timestamp and asserts its event and the
 * account's balance against the ledger.
 */
async function deskOf(f: OptionFixture) {
  const series = new Map<number, SeriesState>();
  const positions = new Map<string, bigint>();
  const cash = new Map<bigint, bigint>();
  const key = (acct: bigint, id: number) => `${acct}/${id}`;
  const d = {
    /** The Chainlink answer (WAD): low = high = price. */
    price: wad("3000"),
    iv: f.iv.eth,
    params: f.params as OptionParams,
    exposure: { netDelta: 0n, netVega: 0n },
    series,
    cash,
    async now(): Promise<bigint> {
      return BigInt(await time.latest());
    },
    pos(acct: bigint, id: number): bigint {
      return positions.get(key(acct, id)) ?? 0n;
    },
    s(id: number): SeriesState {
      const s = series.get(id);
      if (s === undefined) throw new Error(`series ${id}`);
      return s;
    },
    cashOf(acct: bigint): bigint {
      return cash.get(acct) ?? 0n;
    },
    /** A Chainlink round (8-decimal answer) at T, or in the next block. */
    async push(answer: bigint, T?: bigint) {
      if (T !== undefined) await time.setNextBlockTimestamp(T);
      await f.ethFeed.push(answer);
      d.price = answer * TICK;
    },
    /** Hourly rounds at `answer` from now on, the last one exactly at `to`. */
    async walk(to: bigint, answer: bigint) {
      let t = await d.now();
      while (t + HOUR < to) {
        t += HOUR;
        await d.push(answer, t);
      }
      await d.push(answer, to);
    },
    async list(strike: bigint, expiry: bigint, isCall: boolean): Promise<number> {
      const id = await f.listWethSeries(strike, expiry, isCall);
      series.set(id, { id, strike, expiry, isCall, long: 0n, short: 0n, traderDelta: 0n, traderVega: 0n });
      return id;
    },
    async open(owner: HardhatEthersSigner, mode: number, deposit: bigint): Promise<bigint> {
      const id = await f.openAccount(owner, mode, mode === ISOLATED ? ETH : 0, deposit);
      cash.set(id, deposit);
      return id;
    },
    /** Sets a WETH parameter (governance) and refreshes the ledger's copy. */
    async setParam(name: string, value: bigint) {
      await f.riskConfig.setParameter(paramIndex(name), BigInt(f.addr.weth), value);
      d.params = await f.readParams(f.addr.weth);
      d.iv = await f.riskConfig.impliedVolatility(f.addr.weth);
    },
    /** Greeks (harness) of a series at `spot` with the ledger's implied volatility. */
    greeks(s: SeriesState, spot: bigint, seconds: bigint): Promise<Greeks> {
      return f.greeksAt(spot, s.strike, d.iv, seconds, s.isCall);
    },
    /** The trade's model at time T: greeks, exposure after it, spread and premium (minimum price included). */
    async quote(id: number, amount: bigint, T: bigint) {
      const s = d.s(id);
      const g = await d.greeks(s, d.price, s.expiry - T);
      const q = tradeQuote(
        d.params,
        {
          netDelta: d.exposure.netDelta,
          netVega: d.exposure.netVega,
          seriesTraderDelta: s.traderDelta,
          seriesTraderVega: s.traderVega,
          seriesNet: s.long - s.short,
        },
        g,
        amount,
        d.price,
      );
      return { g, q };
    },
    /** Trades at T (default: the next second); asserts OptionTraded, the position and the balance. */
    async trade(signer: HardhatEthersSigner, acct: bigint, id: number, amount: bigint, T?: bigint) {
      const s = d.s(id);
      const at = T ?? (await d.now()) + 1n;
      const { g, q } = await d.quote(id, amount, at);
      const oldSize = d.pos(acct, id);
      const newSize = oldSize + amount;
      await time.setNextBlockTimestamp(at);
      await expect(f.options.connect(signer).tradeOption(acct, id, amount, amount > 0n ? ethers.MaxUint256 : 0n))
        .to.emit(f.options, "OptionTraded")
        .withArgs(acct, id, amount, g.price, q.spread, q.premium, newSize)
        .and.to.emit(f.options, "ExposureUpdated")
        .withArgs(f.addr.weth, q.netDelta, q.netVega);
      if (oldSize > 0n) s.long -= oldSize;
      else s.short += oldSize;
      if (newSize > 0n) s.long += newSize;
      else s.short -= newSize;
      s.traderDelta = q.traderDelta;
      s.traderVega = q.traderVega;
      d.exposure = { netDelta: q.netDelta, netVega: q.netVega };
      positions.set(key(acct, id), newSize);
      cash.set(acct, d.cashOf(acct) + (amount > 0n ? -q.premium : q.premium));
      expect(await f.options.positionOf(acct, id)).to.equal(newSize);
      expect(await f.accounts.balanceOf(acct, f.addr.usdc)).to.equal(d.cashOf(acct));
      return { g, q, T: at };
    },
    /** A chain snapshot with a copy of the ledger: `restore` puts both back. */
    async checkpoint() {
      const snapshot = await takeSnapshot();
      const saved = structuredClone({ series, positions, cash, exposure: d.exposure, price: d.price });
      return async () => {
        await snapshot.restore();
        const copy = structuredClone(saved);
        for (const [target, source] of [
          [series, copy.series],
          [positions, copy.positions],
          [cash, copy.cash],
        ] as [Map<unknown, unknown>, Map<unknown, unknown>][]) {
          target.clear();
          for (const [k, v] of source) target.set(k, v);
        }
        d.exposure = copy.exposure;
        d.price = copy.price;
      };
    },
    /** settlePosition: asserts PositionSettled and the balance; returns the units booked. */
    async settlePosition(acct: bigint, id: number, settlementPrice: bigint): Promise<bigint> {
      const s = d.s(id);
      const size = d.pos(acct, id);
      const units = settledUnits(size, payoffOf(s.isCall, s.strike, settlementPrice));
      await expect(f.options.settlePosition(acct, id))
        .to.emit(f.options, "PositionSettled")
        .withArgs(acct, id, size, units);
      if (size > 0n) s.long -= size;
      else s.short += size;
      positions.set(key(acct, id), 0n);
      cash.set(acct, d.cashOf(acct) + units);
      expect(await f.accounts.balanceOf(acct, f.addr.usdc)).to.equal(d.cashOf(acct));
      return units;
    },
  };
  return d;
}

type Desk = Awaited<ReturnType<typeof deskOf>>;

// ---------------------------------------------------------------- the portfolio grid (MarginEngine._gridLoss)

interface Held {
  s: SeriesState;
  size: bigint;
}

interface Scenario {
  kind: "grid" | "strike";
  spot: bigint;
  vol: number; // 0 as is, 1 up, 2 down
  loss: bigint;
}

/**
 * OptionMarket.accountRisk and MarginEngine._gridLoss of a cross account holding only WETH options
 * (no perps: the shock half-width is SHORT_OPTION_MM_SPOT), at price S (low = high) and time T.
 * Returns each position's figures, every scenario's loss, the grid-only and strike-only worst
 * losses, MM (the worst, at least 0) and IM.
 */
async function portfolio(f: OptionFixture, d: Desk, held: Held[], S: bigint, T: bigint) {
  const p = d.params;
  const vol = d.iv;
  const rows: { h: Held; seconds: bigint; value: bigint; equityValue: bigint; vols: bigint[] }[] = [];
  for (const h of held) {
    const seconds = h.s.expiry > T ? h.s.expiry - T : 0n;
    const unit = await f.bs.price(S, h.s.strike, vol, seconds, h.s.isCall);
    const factor = tenorFactor(seconds);
    const up = volatilityUp(vol, factor, p);
    const value = h.size > 0n ? (seconds === 0n ? 0n : mulWad(h.size, unit)) : optionValue(h.size, unit);
    const equityValue = h.size > 0n ? (seconds === 0n ? 0n : equityValueOf(h.size, unit, p.haircut)) : value;
    rows.push({
      h,
      seconds,
      value,
      equityValue,
      vols: [vol, up > MAX_SCENARIO_VOL ? MAX_SCENARIO_VOL : up, volatilityDown(vol, factor, p)],
    });
  }
  const lossAt = async (spot: bigint, v: number): Promise<bigint> => {
    let loss = 0n;
    for (const r of rows) {
      const unit = await f.bs.price(spot, r.h.s.strike, r.vols[v], r.seconds, r.h.s.isCall);
      let scenario = 0n;
      if (r.h.size > 0n) {
        // a long at its haircut share, rounded down
        if (r.value > 0n) scenario = (mulWad(r.h.size, unit) * r.equityValue) / r.value;
      } else {
        scenario = -mulWadUp(-r.h.size, unit);
      }
      loss += r.equityValue - scenario;
    }
    return loss;
  };
  const s = p.mmSpot; // no perps in the book
  const half = (GRID_POINTS - 1n) / 2n;
  const scenarios: Scenario[] = [];
  for (let k = 0n; k < GRID_POINTS; k++) {
    const down = k < half;
    const steps = down ? half - k : k - half;
    const move = (s * steps + half - 1n) / half; // fullMulDivUp
    const spot = down ? (move >= wad("0.99") ? S / 100n : mulWad(S, WAD - move)) : mulWad(S, WAD + move);
    for (let v = 0; v < 3; v++) scenarios.push({ kind: "grid", spot, vol: v, loss: await lossAt(spot, v) });
  }
  const lowest = s >= wad("0.99") ? 0n : mulWad(S, WAD - s);
  const highest = mulWad(S, WAD + s);
  const strikes = [...new Set(held.map((h) => h.s.strike))].filter((k) => k > lowest && k < highest);
  for (const k of strikes) {
    for (const v of [0, 2]) scenarios.push({ kind: "strike", spot: k, vol: v, loss: await lossAt(k, v) });
  }
  const worst = (kind?: "grid" | "strike") =>
    scenarios.filter((x) => kind === undefined || x.kind === kind).reduce((a, x) => (x.loss > a ? x.loss : a), 0n);
  const mm = worst();
  return {
    rows,
    scenarios,
    mm,
    im: mulWadUp(mm, p.imMultiplier),
    gridMm: worst("grid"),
    strikeMm: worst("strike"),
    equity: rows.reduce((a, r) => a + r.equityValue, 0n),
    shortValue: rows.reduce((a, r) => a + (r.equityValue < 0n ? r.equityValue : 0n), 0n),
  };
}

/**
 * A 3000 call expiring on the next day boundary, an account of `owner` (`mode`, `deposit`) holding
 * `size` of it, hourly rounds at 3000 until 10 minutes before expiry, then one round at `price`,
 * `after` seconds after expiry. Returns the series, the account, the expiry and that round's id.
 */
async function expiredCall(
  f: OptionFixture,
  d: Desk,
  owner: HardhatEthersSigner,
  account: { mode: number; deposit: bigint; size: bigint },
  round: { price: string; after: bigint },
) {
  const expiry = gridExpiry(await d.now(), 1n);
  const call = await d.list(wad("3000"), expiry, CALL);
  const acct = await d.open(owner, account.mode, account.deposit);
  await d.trade(owner, acct, call, account.size);
  await d.walk(expiry - 600n, feed("3000"));
  await d.push(feed(round.price), expiry + round.after);
  return { expiry, call, acct, round: await f.ethFeed.latestRound() };
}

// ---------------------------------------------------------------- tests

describe("OptionReview: regressions for the security review's fixes", function () {
  it("1. a short butterfly 2 h before expiry: MM is the grid with its strike points (> 0; the body's strike binds without the haircut), and a withdrawal below IM reverts", async function () {
    const f = await loadOptionMarkets();
    const d = await deskOf(f);
    const [alice] = f.traders;
    const expiry = gridExpiry(await d.now(), 1n);
    const c3000 = await d.list(wad("3000"), expiry, CALL);
    const c3050 = await d.list(wad("3050"), expiry, CALL);
    const c3100 = await d.list(wad("3100"), expiry, CALL);
    const acct = await d.open(alice, CROSS, usdc("100000"));
    // Two hours before expiry, hourly rounds at 3000 all along.
    await d.walk(expiry - 2n * HOUR, feed("3000"));

    // The reviewer's book, +800 @3050, -400 @3000, -400 @3100 (long the body, short the wings),
    // is the one that loses at 3050 at expiry; its mirror (the long butterfly) gains there.
    const book: [number, bigint][] = [
      [c3050, wad("800")],
      [c3000, -wad("400")],
      [c3100, -wad("400")],
    ];
    const atExpiry = (sign: bigint, S: bigint) =>
      book.reduce((a, [id, size]) => a + mulWad(sign * size, payoffOf(CALL, d.s(id).strike, S)), 0n);
    expect(atExpiry(1n, wad("3050"))).to.equal(-wad("20000"));
    expect(atExpiry(-1n, wad("3050"))).to.equal(wad("20000"));
    for (const S of [wad("2900"), wad("3000"), wad("3100"), wad("3200")]) expect(atExpiry(1n, S)).to.equal(0n);
    // The caps leave room for it: OI 800 <= MAX_SERIES_OI; delta and vega far inside theirs.
    expect(d.params.maxSeriesOi >= wad("800")).to.equal(true);

    for (const [id, size] of book) await d.trade(alice, acct, id, size);
    const T = await d.now();
    // At most two hours to expiry, and more than the one-hour trading cutoff.
    expect(expiry - T <= 2n * HOUR && expiry - T > HOUR).to.equal(true);
    const held = book.map(([id, size]) => ({ s: d.s(id), size }));

    /** The engine's margin and accountRisk (views at the latest block) against the model now. */
    const checkMargin = async () => {
      const m = await portfolio(f, d, held, d.price, await d.now());
      const equity = d.cashOf(acct) * SCALE + m.equity;
      const margin = await f.engine.accountMargin(acct);
      expect([margin.equity, margin.initialMargin, margin.maintenanceMargin]).to.deep.equal([equity, m.im, m.mm]);
      const risks = await f.options.accountRisk(acct);
      expect(
        risks.map((r) => [r.size, r.value, r.equityValue, r.volatility, r.volatilityUp, r.volatilityDown]),
      ).to.deep.equal(m.rows.map((r) => [r.h.size, r.value, r.equityValue, r.vols[0], r.vols[1], r.vols[2]]));
      return { m, equity };
    };
    /**
     * A withdrawal at Tw leaving withdrawable equity (cash + the shorts' value: longs never back a
     * withdrawal) one unit below IM reverts with the exact figures; one unit less passes.
     */
    const checkWithdrawal = async (Tw: bigint) => {
      const w = await portfolio(f, d, held, d.price, Tw);
      const free = d.cashOf(acct) * SCALE + w.shortValue - w.im; // WAD that may leave
      expect(free > 0n).to.equal(true);
      const amount = free / SCALE + 1n;
      const equityAfter = (d.cashOf(acct) - amount) * SCALE + w.shortValue;
      expect(equityAfter < BigInt(w.im)).to.equal(true);
      const snapshot = await takeSnapshot();
      await time.setNextBlockTimestamp(Tw);
      await expect(f.accounts.connect(alice).withdraw(acct, f.addr.usdc, amount))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(acct, equityAfter, w.im);
      await snapshot.restore();
      await time.setNextBlockTimestamp(Tw);
      await f.accounts.connect(alice).withdraw(acct, f.addr.usdc, amount - 1n);
      expect(await f.accounts.balanceOf(acct, f.addr.usdc)).to.equal(d.cashOf(acct) - amount + 1n);
      await snapshot.restore();
      // With IM = 0 (the review's finding) all of cash + the shorts' value could have left.
      return { largest: amount - 1n, withoutIm: (d.cashOf(acct) * SCALE + w.shortValue) / SCALE, im: w.im };
    };

    // (a) As configured (LONG_OPTION_HAIRCUT 0.2). Tenor factor 3: vols 0.7, up 1.75, down 0.07.
    const a = await checkMargin();
    expect(a.m.rows[0].vols).to.deep.equal([wad("0.7"), wad("1.75"), wad("0.07")]);
    expect(a.m.mm > 0n).to.equal(true);
    // The grid's top point binds here: each long counts at 80% in every scenario, so far above the
    // body the book loses 20% of the longs' intrinsic value (0.2 x 800 x 250 = 40,000 at 3300, less
    // the equity value's own -4,547); the strike points are in the model all the same.
    const topA = a.m.scenarios.find((x) => x.loss === a.m.mm) as Scenario;
    expect([topA.kind, topA.spot]).to.deep.equal(["grid", wad("3300")]);
    const wa = await checkWithdrawal((await d.now()) + 10n);

    // (b) Without the haircut, the butterfly's loss sits between the grid points: at its body
    //     (the strike 3050) with the volatility down, which only a strike scenario sees.
    await d.setParam("LONG_OPTION_HAIRCUT", 0n);
    const b = await checkMargin();
    expect(b.m.mm > 0n).to.equal(true);
    expect(b.m.gridMm < b.m.mm).to.equal(true);
    expect(b.m.strikeMm).to.equal(b.m.mm);
    const topB = b.m.scenarios.find((x) => x.loss === b.m.mm) as Scenario;
    expect([topB.kind, topB.spot, topB.vol]).to.deep.equal(["strike", wad("3050"), 2]);
    const wb = await checkWithdrawal((await d.now()) + 10n);

    if (report) {
      const names = ["as is", "up", "down"];
      console.log(
        "\n  1. short butterfly +800 C3050 / -400 C3000 / -400 C3100, %s s to expiry, spot %s",
        expiry - T,
        usd(d.price),
      );
      console.table(
        a.m.scenarios.map((x, i) => ({
          kind: x.kind,
          spot: usd(x.spot),
          vol: names[x.vol],
          "loss (haircut 0.2)": usd(x.loss),
          "loss (haircut 0)": usd(b.m.scenarios[i].loss),
        })),
      );
      console.table({
        "haircut 0.2": {
          "grid-only MM": usd(a.m.gridMm),
          "strike-only MM": usd(a.m.strikeMm),
          MM: usd(a.m.mm),
          IM: usd(a.m.im),
          equity: usd(a.equity),
          "largest withdrawal": usd(wa.largest, 6),
          "withdrawable if IM were 0": usd(wa.withoutIm, 6),
        },
        "haircut 0": {
          "grid-only MM": usd(b.m.gridMm),
          "strike-only MM": usd(b.m.strikeMm),
          MM: usd(b.m.mm),
          IM: usd(b.m.im),
          equity: usd(b.equity),
          "largest withdrawal": usd(wb.largest, 6),
          "withdrawable if IM were 0": usd(wb.withoutIm, 6),
        },
      });
    }
  });

  it("2. an expired, unsettled long counts toward MM but backs no new risk: a perp it alone would back reverts", async function () {
    const f = await loadOptionMarkets();
    const d = await deskOf(f);
    const [, bob] = f.traders;
    const size = wad("10");
    // Hourly rounds at 3000 to just before expiry, then the first round after it at 3300.
    const { call, acct, round } = await expiredCall(
      f,
      d,
      bob,
      { mode: ISOLATED, deposit: usdc("1000"), size },
      { price: "3300", after: 60n },
    );

    // The long is worth 10 x 300 at the first round after expiry, which nobody has proved yet:
    // it counts (at 80%) toward the account's equity, so its holder is not liquidated for the
    // minutes before settlement, but backs no new risk.
    const unit = await f.bs.price(wad("3300"), wad("3000"), d.iv, 0n, CALL);
    expect(unit).to.equal(wad("300"));
    const phantom = equityValueOf(size, unit, d.params.haircut); // what it counts at 80%
    expect(phantom).to.equal(wad("2400"));
    const [r] = await f.options.accountRisk(acct);
    expect([r.seriesId, r.size, r.settled, r.secondsToExpiry, r.value, r.equityValue]).to.deep.equal([
      BigInt(call),
      size,
      false,
      0n,
      optionValue(size, unit),
      phantom,
    ]);
    const cash = d.cashOf(acct);
    const m0 = await f.engine.accountMargin(acct);
    expect([m0.equity, m0.initialMargin, m0.maintenanceMargin]).to.deep.equal([cash * SCALE + phantom, 0n, 0n]);

    // A long ETH perp whose IM the cash alone does not cover but cash + the phantom 2,400 would:
    // the smallest such size in steps of 0.1 ETH (the perp model of test/helpers/marginModel.ts).
    const sim = simOf(f);
    sim.addAccount(acct, ISOLATED);
    sim.credit(acct, f.addr.usdc, cash);
    sim.market(ETH).price = d.price;
    const T = (await d.now()) + 5n;
    let delta = 0n;
    let after = sim.margin(acct, T);
    while (after.equity >= BigInt(after.im)) {
      delta += wad("0.1");
      const copy = sim.clone();
      copy.trade(acct, ETH, delta, T);
      after = copy.margin(acct, T);
    }
    expect(after.equity < BigInt(after.im)).to.equal(true);
    expect(after.equity + phantom >= BigInt(after.im)).to.equal(true);
    await time.setNextBlockTimestamp(T);
    // The IM check's equity leaves the unproved long out.
    await expect(f.perps.connect(bob).modifyPosition(acct, ETH, delta, ethers.MaxUint256))
      .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
      .withArgs(acct, after.equity, after.im);

    // Once the series is settled the long is worth its payoff in full (no haircut: it is cash owed)
    // and the same perp opens.
    await expect(f.options.settleSeries(call, round))
      .to.emit(f.options, "SeriesSettled")
      .withArgs(call, wad("3300"), round);
    const owed = settledUnits(size, wad("300"));
    expect(owed).to.equal(usdc("3000"));
    const [settled] = await f.options.accountRisk(acct);
    expect([settled.settled, settled.value, settled.equityValue]).to.deep.equal([true, owed * SCALE, owed * SCALE]);
    const T2 = (await d.now()) + 5n;
    const r2 = sim.trade(acct, ETH, delta, T2);
    await time.setNextBlockTimestamp(T2);
    await expect(f.perps.connect(bob).modifyPosition(acct, ETH, delta, ethers.MaxUint256))
      .to.emit(f.perps, "PositionModified")
      .withArgs(acct, ETH, delta, r2.fill, r2.newSize, r2.realized, r2.funding, r2.fee, r2.units);
    const m2 = sim.margin(acct, T2);
    const engine2 = await f.engine.accountMargin(acct);
    expect([engine2.equity, engine2.initialMargin, engine2.maintenanceMargin]).to.deep.equal([
      m2.equity + owed * SCALE,
      m2.im,
      m2.mm,
    ]);
    if (report) {
      console.table({
        "perp size (ETH)": usd(delta),
        "equity after (expired, unsettled)": usd(after.equity),
        "IM after": usd(after.im),
        "phantom (10 x 300 x 0.8)": usd(phantom),
        "equity after (settled)": usd(m2.equity + owed * SCALE),
      });
    }
  });

  it("3. no auction starts while a held series awaits its settlement round (SETTLEMENT_WINDOW); once settled it is no longer liquidatable", async function () {
    const f = await loadOptionMarkets();
    const d = await deskOf(f);
    const [, , carol, dave] = f.traders;
    const bidder = await d.open(dave, CROSS, usdc("100000"));
    const size = -wad("5");
    // The first round after expiry: +16.7% (inside the breaker's 20%).
    const {
      call,
      acct: target,
      round,
    } = await expiredCall(f, d, carol, { mode: ISOLATED, deposit: usdc("3000"), size }, { price: "3500", after: 60n });

    // Expired, unsettled: the short at its intrinsic value, MM the static formula at 3500.
    const unit = await f.bs.price(wad("3500"), wad("3000"), d.iv, 0n, CALL);
    expect(unit).to.equal(wad("500"));
    const cash = d.cashOf(target);
    const equity = cash * SCALE + optionValue(size, unit);
    const mm = shortMaintenance(size, CALL, wad("3000"), wad("3500"), unit, d.params);
    expect(mm).to.equal(wad("1750")); // 5 x 0.1 x 3500
    const v = await f.engine.valuation(target);
    expect([v.equity, v.maintenanceMargin, v.optionPositions]).to.deep.equal([equity, mm, 1n]);
    expect(equity > 0n && equity < BigInt(mm)).to.equal(true);
    // Below MM on the current price, but the payoff is about to be proved: the engine says it is
    // not liquidatable and refuses to start an auction, by bid or by startAuction.
    expect(await f.options.settlementPending(target)).to.equal(BigInt(call));
    expect(await f.liquidation.isLiquidatable(target)).to.equal(false);
    const fraction = WAD / 2n;
    const nonce = await f.accounts.nonce(target);
    await expect(f.liquidation.connect(dave).liquidate(target, fraction, ethers.MaxInt256, bidder, nonce))
      .to.be.revertedWithCustomError(f.liquidation, "SettlementPending")
      .withArgs(target, call);
    await expect(f.liquidation.connect(dave).startAuction(target))
      .to.be.revertedWithCustomError(f.liquidation, "SettlementPending")
      .withArgs(target, call);

    // Anyone settles the series: the short is then worth exactly what settlement will charge, it
    // joins no margin book (MM 0), and with equity still positive the account is not liquidatable.
    await expect(f.options.connect(dave).settleSeries(call, round))
      .to.emit(f.options, "SeriesSettled")
      .withArgs(call, wad("3500"), round);
    const owed = settledUnits(size, wad("500"));
    expect(owed).to.equal(-usdc("2500"));
    const settledEquity = (cash + owed) * SCALE;
    expect(settledEquity > 0n).to.equal(true);
    expect(await f.liquidation.isLiquidatable(target)).to.equal(false);
    await expect(f.liquidation.connect(dave).liquidate(target, fraction, ethers.MaxInt256, bidder, nonce))
      .to.be.revertedWithCustomError(f.liquidation, "NotLiquidatable")
      .withArgs(target, settledEquity, 0n);
    // Settling the position books the same figure: nothing changes for the margin.
    expect(await d.settlePosition(target, call, wad("3500"))).to.equal(owed);
    const after = await f.engine.valuation(target);
    expect([after.equity, after.maintenanceMargin, after.optionPositions]).to.deep.equal([settledEquity, 0n, 0n]);
    expect(await f.liquidation.isLiquidatable(target)).to.equal(false);
  });

  it("3b. a feed that stalls past SETTLEMENT_WINDOW does not shelter the account: the auction starts and the expired short moves at its mark", async function () {
    const f = await loadOptionMarkets();
    const d = await deskOf(f);
    const [, , carol, dave] = f.traders;
    const bidder = await d.open(dave, CROSS, usdc("100000"));
    // No round proves the settlement (none inside heartbeat + tolerance of expiry): the next one
    // comes two hours after expiry, too late to settle with.
    const { call, acct: target } = await expiredCall(
      f,
      d,
      carol,
      { mode: ISOLATED, deposit: usdc("3000"), size: -wad("5") },
      { price: "3500", after: 2n * HOUR },
    );
    expect(await f.options.settlementPending(target)).to.equal(0n);
    expect(await f.liquidation.isLiquidatable(target)).to.equal(true);
    const nonce = await f.accounts.nonce(target);
    const fraction = await f.liquidation.maxFraction(target);
    expect(fraction > 0n && fraction < WAD).to.equal(true);
    const moved = (-wad("5") * fraction) / WAD; // toward zero
    const tx = f.liquidation.connect(dave).liquidate(target, fraction, ethers.MaxInt256, bidder, nonce);
    // That fraction of the short moves at its mark: intrinsic value at 3500.
    await expect(tx).to.emit(f.options, "OptionLiquidated").withArgs(target, bidder, call, moved, wad("500"));
    expect(await f.options.positionOf(target, call)).to.equal(-wad("5") - moved);
    expect(await f.options.positionOf(bidder, call)).to.equal(moved);
  });

  it("4. settleSeriesByGovernance: admin only, after expiry + SETTLEMENT_GRACE, a non-zero price; positions settle at it", async function () {
    const f = await loadOptionMarkets();
    const d = await deskOf(f);
    const [alice, bob, carol] = f.traders;
    const expiry = gridExpiry(await d.now(), 1n);
    const call = await d.list(wad("3000"), expiry, CALL);
    const put = await d.list(wad("3100"), expiry, PUT);
    const n = {
      alice: await d.open(alice, ISOLATED, usdc("50000")),
      bob: await d.open(bob, ISOLATED, usdc("50000")),
      carol: await d.open(carol, CROSS, usdc("50000")),
    };
    await d.trade(alice, n.alice, call, wad("2.5"));
    await d.trade(bob, n.bob, call, -wad("1.5"));
    await d.trade(carol, n.carol, put, wad("1.2"));
    await d.trade(bob, n.bob, put, -wad("0.7"));
    const price = wad("3049.123456789012345678"); // not a whole number of anything
    const ADMIN = ethers.ZeroHash; // DEFAULT_ADMIN_ROLE

    await expect(f.options.connect(alice).settleSeriesByGovernance(call, price))
      .to.be.revertedWithCustomError(f.options, "AccessControlUnauthorizedAccount")
      .withArgs(alice.address, ADMIN);
    await expect(f.options.settleSeriesByGovernance(call, price))
      .to.be.revertedWithCustomError(f.options, "SeriesNotExpired")
      .withArgs(call, expiry);
    // The feed stalls at expiry: nothing can settle through the oracle, governance waits a day.
    const opensAt = expiry + SETTLEMENT_GRACE;
    await time.setNextBlockTimestamp(opensAt - 1n);
    await expect(f.options.settleSeriesByGovernance(call, price))
      .to.be.revertedWithCustomError(f.options, "SettlementGraceRunning")
      .withArgs(call, opensAt);
    // (A reverted transaction still mines a block: each gets its own timestamp.)
    await time.setNextBlockTimestamp(opensAt);
    await expect(f.options.settleSeriesByGovernance(call, 0n)).to.be.revertedWithCustomError(f.options, "ZeroAmount");
    await time.setNextBlockTimestamp(opensAt + 1n);
    await expect(f.options.connect(bob).settleSeriesByGovernance(call, price))
      .to.be.revertedWithCustomError(f.options, "AccessControlUnauthorizedAccount")
      .withArgs(bob.address, ADMIN);

    for (const id of [call, put]) {
      const s = d.s(id);
      const released = {
        netDelta: d.exposure.netDelta + s.traderDelta,
        netVega: d.exposure.netVega + s.traderVega,
      };
      await time.setNextBlockTimestamp((await d.now()) + 1n);
      await expect(f.options.settleSeriesByGovernance(id, price))
        .to.emit(f.options, "SeriesSettled")
        .withArgs(id, price, 0n)
        .and.to.emit(f.options, "ExposureUpdated")
        .withArgs(f.addr.weth, released.netDelta, released.netVega);
      d.exposure = released;
      const c = await f.options.series(id);
      expect([c.settled, c.settlementPrice, c.traderDelta, c.traderVega]).to.deep.equal([true, price, 0n, 0n]);
    }
    expect(await f.options.settledOpenSeries()).to.deep.equal([BigInt(call), BigInt(put)]);
    const e = await f.options.exposureOf(f.addr.weth);
    expect([e.netDelta, e.netVega]).to.deep.equal([0n, 0n]);

    // Positions settle at that price to the unit: longs rounded down, shorts toward -infinity.
    const callPayoff = price - wad("3000");
    const putPayoff = wad("3100") - price;
    expect(await d.settlePosition(n.alice, call, price)).to.equal(mulWad(wad("2.5"), callPayoff) / SCALE);
    expect(await d.settlePosition(n.bob, call, price)).to.equal(
      -((mulWadUp(wad("1.5"), callPayoff) + SCALE - 1n) / SCALE),
    );
    expect(await d.settlePosition(n.carol, put, price)).to.equal(mulWad(wad("1.2"), putPayoff) / SCALE);
    expect(await d.settlePosition(n.bob, put, price)).to.equal(
      -((mulWadUp(wad("0.7"), putPayoff) + SCALE - 1n) / SCALE),
    );
    expect(await f.options.settledOpenSeries()).to.deep.equal([]);

    // Settled once and for all, by governance or through the oracle.
    await expect(f.options.settleSeriesByGovernance(call, price))
      .to.be.revertedWithCustomError(f.options, "SeriesAlreadySettled")
      .withArgs(call);
    await expect(f.options.settleSeries(put, await f.ethFeed.latestRound()))
      .to.be.revertedWithCustomError(f.options, "SeriesAlreadySettled")
      .withArgs(put);
  });

  it("5. trading cutoff: nothing opens or grows in the last hour (TradingCutoff); reducing and closing still work", async function () {
    const f = await loadOptionMarkets();
    const d = await deskOf(f);
    const [alice, bob, carol, dave] = f.traders;
    const expiry = gridExpiry(await d.now(), 1n);
    const call = await d.list(wad("3000"), expiry, CALL);
    const n = {
      alice: await d.open(alice, CROSS, usdc("100000")),
      bob: await d.open(bob, ISOLATED, usdc("100000")),
      carol: await d.open(carol, CROSS, usdc("100000")),
      dave: await d.open(dave, ISOLATED, usdc("100000")),
    };
    await d.trade(alice, n.alice, call, wad("2"));
    await d.trade(bob, n.bob, call, -wad("1"));
    const cutoff = expiry - TRADING_CUTOFF;
    await d.walk(cutoff - 30n, feed("3000"));

    // At the cutoff itself a position still opens...
    await d.trade(carol, n.carol, call, wad("1"), cutoff);
    // ... one second later nothing opens, grows or flips, on either side.
    const refused: [HardhatEthersSigner, bigint, bigint][] = [
      [alice, n.alice, wad("1")], // a long grows
      [dave, n.dave, -wad("1")], // a new short
      [bob, n.bob, -wad("0.5")], // a short grows
      [alice, n.alice, -wad("3")], // a long flips to short
      [carol, n.carol, wad("0.000000000000000001")],
    ];
    let t = cutoff + 1n;
    for (const [signer, acct, amount] of refused) {
      await time.setNextBlockTimestamp(t);
      await expect(f.options.connect(signer).tradeOption(acct, call, amount, amount > 0n ? ethers.MaxUint256 : 0n))
        .to.be.revertedWithCustomError(f.options, "TradingCutoff")
        .withArgs(call, cutoff);
      t += 1n;
    }
    // Reducing and closing inside the last hour, at the Black-Scholes price of that moment.
    await d.trade(alice, n.alice, call, -wad("1.5"), expiry - 1800n);
    await d.trade(bob, n.bob, call, wad("1"), expiry - 1200n);
    await d.trade(alice, n.alice, call, -wad("0.5"), expiry - 600n);
    await d.trade(carol, n.carol, call, -wad("1"), expiry - 1n);
    for (const acct of Object.values(n)) expect(await f.options.accountSeries(acct)).to.deep.equal([]);
    const c = await f.options.series(call);
    expect([c.longOpenInterest, c.shortOpenInterest]).to.deep.equal([0n, 0n]);
  });

  it("6. minimum price: a buyer pays at least 0.01% of spot per unit, a seller receives the plain Black-Scholes amount", async function () {
    const f = await loadOptionMarkets();
    const d = await deskOf(f);
    const [alice, bob] = f.traders;
    const expiry = gridExpiry(await d.now(), 1n);
    const strikes = [wad("3500"), wad("4500")]; // far out of the money; 4500 = 1.5 x spot, the band's top
    const ids = [];
    for (const k of strikes) ids.push(await d.list(k, expiry, CALL));
    const buyer = await d.open(alice, ISOLATED, usdc("100000"));
    const seller = await d.open(bob, ISOLATED, usdc("100000"));
    const amount = wad("100");
    // ceil(spot x 1e14 / 1e18): 0.3 USD per unit at 3000
    const least = mulWadUp(d.price, MIN_PRICE_SHARE);
    expect(least).to.equal(wad("0.3"));
    const rows = [];
    for (const id of ids) {
      const restore = await d.checkpoint();
      const T = (await d.now()) + 10n;
      const g = await d.greeks(d.s(id), d.price, expiry - T);
      expect(g.price < least).to.equal(true);
      // A first trade: the spread at the exposure after it (the pool's, opposite to the trader's).
      const buySpread = spreadOf(d.params, -sMulWad(amount, g.delta), -sMulWad(amount, g.vega));
      const premium = (mulWadUp(mulWadUp(amount, least), WAD + buySpread) + SCALE - 1n) / SCALE;
      const plain = premiumOf(amount, g.price, buySpread);
      expect(premium > plain).to.equal(true);
      await time.setNextBlockTimestamp(T);
      expect(await f.optionLens.quotePremium(id, amount, { blockTag: "pending" })).to.equal(premium);
      // The event reports the Black-Scholes price; the premium is at the minimum.
      const bought = await d.trade(alice, buyer, id, amount, T);
      expect([bought.g.price, bought.q.premium, bought.q.spread]).to.deep.equal([g.price, premium, buySpread]);
      await restore();

      // The same amount sold from the same state at the same time: no minimum.
      const sellSpread = spreadOf(d.params, sMulWad(amount, g.delta), sMulWad(amount, g.vega));
      const received = mulWad(mulWad(amount, g.price), WAD - sellSpread) / SCALE;
      await time.setNextBlockTimestamp(T);
      expect(await f.optionLens.quotePremium(id, -amount, { blockTag: "pending" })).to.equal(received);
      const sold = await d.trade(bob, seller, id, -amount, T);
      expect([sold.q.premium, sold.q.spread]).to.deep.equal([received, sellSpread]);
      await restore();
      rows.push({
        strike: usd(d.s(id).strike),
        "BS price": usd(g.price),
        minimum: usd(least),
        "buy spread": usd(buySpread),
        "buy premium": usd(premium, 6),
        "at BS price": usd(plain, 6),
        "sell spread": usd(sellSpread),
        "sell premium": usd(received, 6),
      });
    }
    if (report) {
      console.log("\n  6. minimum price, %s units, %s s to expiry", usd(amount), expiry - (await d.now()) - 10n);
      console.table(rows);
    }
  });

  it("7. the spread is charged at the larger of the exposure before and after: reducing trades, split trades", async function () {
    const f = await loadOptionMarkets();
    const d = await deskOf(f);
    const [alice, bob] = f.traders;
    // A deep in-the-money call: delta exactly 1 and vega 0, so that exposures are exact sizes.
    await d.setParam("MAX_NET_DELTA", wad("500"));
    const expiry = gridExpiry(await d.now(), 1n);
    const itm = await d.list(wad("1500"), expiry, CALL);
    const writer = await d.open(alice, ISOLATED, usdc("200000"));
    const buyer = await d.open(bob, ISOLATED, usdc("600000"));
    const N = wad("123.456789");
    const w = await d.trade(alice, writer, itm, -N);
    expect([w.g.delta, w.g.vega, w.g.price]).to.deep.equal([WAD, 0n, wad("1500")]);
    expect(d.exposure).to.deep.equal({ netDelta: N, netVega: 0n }); // the pool is long N
    const p = d.params;
    const spreadAt = (x: bigint) => p.spreadBase + mulWadUp(p.spreadSlope, divWadUp(x < 0n ? -x : x, p.maxNetDelta));
    const buyPremium = (amount: bigint, spread: bigint) =>
      (mulWadUp(mulWadUp(amount, wad("1500")), WAD + spread) + SCALE - 1n) / SCALE;
    const T1 = (await d.now()) + 10n;
    const restore = await d.checkpoint();

    // A buy that reduces the pool's exposure (N -> N - 50) pays the spread at N, not at N - 50.
    const R = wad("50");
    const reduce = await d.trade(bob, buyer, itm, R, T1);
    expect(d.exposure.netDelta).to.equal(N - R);
    expect(reduce.q.spread).to.equal(spreadAt(N));
    expect(reduce.q.spread > spreadAt(N - R)).to.equal(true);
    expect(reduce.q.premium).to.equal(buyPremium(R, spreadAt(N)));
    await restore();

    // One buy of 2N (exposure N -> -N, the same size either side: the before wins the tie) ...
    const whole = await d.trade(bob, buyer, itm, 2n * N, T1);
    expect(d.exposure.netDelta).to.equal(-N);
    expect(whole.q.spread).to.equal(spreadAt(N));
    expect(whole.q.premium).to.equal(buyPremium(2n * N, spreadAt(N)));
    await restore();

    // ... against two buys of N: N -> 0 (charged at N, before) and 0 -> -N (charged at N, after).
    const first = await d.trade(bob, buyer, itm, N, T1);
    expect(d.exposure.netDelta).to.equal(0n);
    const second = await d.trade(bob, buyer, itm, N, T1 + 1n);
    expect(d.exposure.netDelta).to.equal(-N);
    expect([first.q.spread, second.q.spread]).to.deep.equal([spreadAt(N), spreadAt(N)]);
    expect([first.q.premium, second.q.premium]).to.deep.equal([buyPremium(N, spreadAt(N)), buyPremium(N, spreadAt(N))]);
    const halves = first.q.premium + second.q.premium;
    expect(halves >= whole.q.premium).to.equal(true);
    // At the exposure after the trade alone, the first half would have paid the base spread only.
    const atAfter = buyPremium(N, spreadAt(0n)) + second.q.premium;
    expect(spreadAt(0n)).to.equal(p.spreadBase);
    expect(atAfter < whole.q.premium).to.equal(true);
    if (report) {
      console.log("\n  7. deep ITM call K 1500 (delta 1, vega 0), pool long N = %s, MAX_NET_DELTA 500", usd(N));
      console.table({
        "reduce 50": {
          spread: usd(reduce.q.spread),
          premium: usd(reduce.q.premium, 6),
          "spread at after": usd(spreadAt(N - R)),
        },
        "whole 2N": { spread: usd(whole.q.spread), premium: usd(whole.q.premium, 6) },
        "half 1 (N -> 0)": {
          spread: usd(first.q.spread),
          premium: usd(first.q.premium, 6),
          "spread at after": usd(spreadAt(0n)),
        },
        "half 2 (0 -> -N)": { spread: usd(second.q.spread), premium: usd(second.q.premium, 6) },
        "halves total": { premium: usd(halves, 6) },
        "halves at the after-exposure": { premium: usd(atAfter, 6) },
      });
    }
  });

  it("8. scenario volatilities stop at MAX_SCENARIO_VOL: accountMargin prices the grid even at an implied vol of 20", async function () {
    const f = await loadOptionMarkets();
    const d = await deskOf(f);
    const [alice] = f.traders;
    await d.setParam("IMPLIED_VOL", wad("10")); // its bound
    await d.setParam("VOL_SHOCK_UP", wad("3")); // its bound
    expect(d.iv).to.equal(wad("10"));
    const expiry = gridExpiry(await d.now(), 1n);
    const call = await d.list(wad("3000"), expiry, CALL);
    const put = await d.list(wad("3000"), expiry, PUT);
    const acct = await d.open(alice, CROSS, usdc("100000"));
    await d.trade(alice, acct, call, wad("0.1"));
    await d.trade(alice, acct, put, -wad("0.1"));
    const held = () => [
      { s: d.s(call), size: d.pos(acct, call) },
      { s: d.s(put), size: d.pos(acct, put) },
    ];
    /** accountRisk's volatilities and accountMargin (no revert) against the model now. */
    const check = async (up: bigint, down: bigint) => {
      const T = await d.now();
      expect(tenorFactor(expiry - T)).to.equal(3n * WAD); // under 30 days / 9
      const m = await portfolio(f, d, held(), d.price, T);
      const risks = await f.options.accountRisk(acct);
      expect(risks.map((r) => [r.volatility, r.volatilityUp, r.volatilityDown])).to.deep.equal([
        [d.iv, up, down],
        [d.iv, up, down],
      ]);
      expect(m.rows.map((r) => [r.vols[1], r.vols[2]])).to.deep.equal([
        [up, down],
        [up, down],
      ]);
      const margin = await f.engine.accountMargin(acct);
      expect([margin.equity, margin.initialMargin, margin.maintenanceMargin]).to.deep.equal([
        d.cashOf(acct) * SCALE + m.equity,
        m.im,
        m.mm,
      ]);
      return m;
    };
    // Implied vol 10, shock 3 x factor 3: 10 x (1 + 9) = 100 exactly, the library's bound.
    expect(volatilityUp(wad("10"), 3n * WAD, d.params)).to.equal(MAX_SCENARIO_VOL);
    const at10 = await check(MAX_SCENARIO_VOL, wad("1"));

    // The realized-volatility floor lifts the implied vol past its own bound: factor 2 x realized
    // 10 (the volatility oracle clamped at its ceiling) = 20. Uncapped, up would be 200.
    await d.setParam("IV_FLOOR_FACTOR", wad("2"));
    const cfg = await f.volatility.config(f.addr.weth);
    await f.volatility.configure(f.addr.weth, cfg.lambda, wad("10"), wad("10"), wad("10"));
    d.iv = await f.riskConfig.impliedVolatility(f.addr.weth);
    expect(d.iv).to.equal(wad("20"));
    const uncapped = volatilityUp(d.iv, 3n * WAD, d.params);
    expect(uncapped).to.equal(200n * WAD);
    const seconds = expiry - (await d.now());
    await expect(f.bs.price(wad("3000"), wad("3000"), uncapped, seconds, CALL)).to.be.revertedWithCustomError(
      f.bs,
      "InvalidPricingInput",
    );
    const at20 = await check(MAX_SCENARIO_VOL, wad("2"));
    // Trading goes on (the trade's margin check runs the same grid).
    await d.trade(alice, acct, call, wad("0.05"));
    await check(MAX_SCENARIO_VOL, wad("2"));
    if (report) {
      console.table({
        "iv 10": { up: usd(MAX_SCENARIO_VOL), down: "1.0", MM: usd(at10.mm), IM: usd(at10.im) },
        "iv 20": {
          up: usd(MAX_SCENARIO_VOL),
          "uncapped up": usd(uncapped),
          down: "2.0",
          MM: usd(at20.mm),
          IM: usd(at20.im),
        },
      });
    }
  });

  it("9. settledOpenSeries empties as the last positions settle; the pool's option liability is then 0", async function () {
    const f = await loadOptionMarkets();
    const d = await deskOf(f);
    const [alice, bob, carol, dave, erin] = f.traders;
    const expiry = gridExpiry(await d.now(), 1n);
    const call = await d.list(wad("3000"), expiry, CALL);
    const put = await d.list(wad("3100"), expiry, PUT);
    const closed = await d.list(wad("3200"), expiry, CALL);
    const n = {
      alice: await d.open(alice, CROSS, usdc("50000")),
      bob: await d.open(bob, ISOLATED, usdc("50000")),
      carol: await d.open(carol, ISOLATED, usdc("50000")),
      dave: await d.open(dave, CROSS, usdc("50000")),
      erin: await d.open(erin, ISOLATED, usdc("50000")),
    };
    await d.trade(alice, n.alice, call, wad("1.5"));
    await d.trade(bob, n.bob, call, -wad("0.75"));
    await d.trade(carol, n.carol, put, wad("2"));
    await d.trade(dave, n.dave, put, -wad("1"));
    await d.trade(erin, n.erin, closed, wad("1"));
    await d.trade(erin, n.erin, closed, -wad("1")); // nobody holds it at expiry
    await d.walk(expiry - 600n, feed("3000"));
    const S = 305_012_345_678n; // 3050.12345678
    await d.push(S, expiry + 30n);
    const round = await f.ethFeed.latestRound();
    const price = S * TICK;
    for (const id of [call, put, closed]) {
      await expect(f.options.settleSeries(id, round)).to.emit(f.options, "SeriesSettled").withArgs(id, price, round);
    }
    expect(await f.options.liveSeries(f.addr.weth)).to.deep.equal([]);

    /** The settled, still-held series' payoffs the pool owes (traders' side), in units. */
    const liability = () => {
      let total = 0n;
      for (const id of [call, put, closed]) {
        const s = d.s(id);
        total += settledLiability(s.long, s.short, payoffOf(s.isCall, s.strike, price));
      }
      return liabilityUnits(total);
    };
    const check = async (open: number[]) => {
      expect(await f.options.settledOpenSeries()).to.deep.equal(open.map(BigInt));
      const units = liability();
      expect(await f.optionLiability.tradersUnrealizedPnl()).to.equal(units);
      expect(await f.pool.tradersUnrealizedPnl()).to.equal(units);
      return units;
    };
    const start = await check([call, put]); // the series nobody held never joined the list
    expect(start).to.equal(
      (mulWadUp(wad("1.5"), price - wad("3000")) -
        mulWad(wad("0.75"), price - wad("3000")) +
        mulWadUp(wad("2"), wad("3100") - price) -
        mulWad(wad("1"), wad("3100") - price) +
        SCALE -
        1n) /
        SCALE,
    );
    await d.settlePosition(n.bob, call, price);
    await check([call, put]);
    await d.settlePosition(n.alice, call, price); // the call's last position: swap-and-pop
    await check([put]);
    await d.settlePosition(n.dave, put, price);
    await check([put]);
    await d.settlePosition(n.carol, put, price);
    expect(await check([])).to.equal(0n);
    expect(await f.pool.totalAssets()).to.equal(await f.usdc.balanceOf(f.addr.pool));
    for (const acct of Object.values(n)) expect(await f.options.accountSeries(acct)).to.deep.equal([]);
  });
});
