import { expect } from "chai";
import { ethers } from "hardhat";
import { takeSnapshot, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { paramIndex } from "../scripts/lib/params";
import { WAD, TICK, CROSS, ISOLATED, ETH, BTC, usdc, wad, feed } from "./helpers/marginModel";
import { configuredLiquidation } from "./helpers/fixtures";
import {
  CALL,
  PUT,
  OPEN_POSITION,
  LIST_SERIES,
  STATUS_DEGRADED,
  SCALE,
  DAY_S,
  LP_LIQUIDITY,
  loadOptionMarkets,
  gridExpiry,
  mulWad,
  mulWadUp,
  sMulWad,
  toUnitsDown,
  spreadOf,
  tradeQuote,
  tradeSpot,
  payoffOf,
  settledUnits,
  optionValue,
  equityValueOf,
  shortTerm,
  shortMaintenance,
  shortInitial,
  tenorFactor,
  volatilityUp,
  volatilityDown,
  liveLiability,
  settledLiability,
  liabilityUnits,
} from "./helpers/optionFixtures";
import type { OptionFixture, OptionParams, Greeks } from "./helpers/optionFixtures";

// Every expected figure below is computed here in bigint from the formulas the option market is
// specified with (test/helpers/optionFixtures.ts), with Black-Scholes values from the on-chain
// BlackScholesHarness: never read back from the contract under test. The chain supplies inputs
// only (round ids, block timestamps set by the test). The fixture removes the TWAPs, so every
// price is Ok with low = high = the Chainlink answer, and the implied volatility is the configured
// one (0.7 for WETH, above realized x 0.8), read once as `f.iv`.

/** OraclePolicy.Action. */
const INCREASE_RISK = 0n;
const HOUR = 3600n;

// ---------------------------------------------------------------- model and helpers

interface SeriesModel {
  id: number;
  underlying: string;
  strike: bigint;
  expiry: bigint;
  isCall: boolean;
  long: bigint;
  short: bigint;
  traderDelta: bigint;
  traderVega: bigint;
  settled: boolean;
  settlementPrice: bigint;
}

interface Exposure {
  netDelta: bigint;
  netVega: bigint;
}

/**
 * The market as a bigint ledger: series, positions, the pool's exposure, every account's stablecoin
 * and the pool's cash. Helpers act on the chain and assert it against the ledger.
 */
async function ledgerOf(f: OptionFixture) {
  const { weth, wbtc } = f.addr;
  const series = new Map<number, SeriesModel>();
  const exposure = new Map<string, Exposure>([
    [weth, { netDelta: 0n, netVega: 0n }],
    [wbtc, { netDelta: 0n, netVega: 0n }],
  ]);
  const price = new Map<string, bigint>([
    [weth, feed("3000") * TICK],
    [wbtc, feed("60000") * TICK],
  ]);
  const iv = new Map<string, bigint>([
    [weth, f.iv.eth],
    [wbtc, f.iv.btc],
  ]);
  const params = new Map<string, OptionParams>([
    [weth, f.params],
    [wbtc, await f.readParams(wbtc)],
  ]);
  const feeds = new Map([
    [weth, f.ethFeed],
    [wbtc, f.btcFeed],
  ]);
  const positions = new Map<string, bigint>();
  const cash = new Map<bigint, bigint>();
  const book = { pool: await f.usdc.balanceOf(f.addr.pool), deposits: 0n };
  const key = (acct: bigint, id: number) => `${acct}/${id}`;
  const pos = (acct: bigint, id: number) => positions.get(key(acct, id)) ?? 0n;
  const now = async () => BigInt(await time.latest());
  const paramsOf = (underlying: string) => params.get(underlying) as OptionParams;

  const l = {
    series,
    exposure,
    price,
    iv,
    params,
    positions,
    cash,
    book,
    pos,
    now,
    /** Lists a series (admin) and asserts the event; returns its id. */
    async list(underlying: string, strike: bigint, expiry: bigint, isCall: boolean): Promise<number> {
      const id = Number(await f.options.seriesCount()) + 1;
      await expect(f.options.listSeries(underlying, strike, expiry, isCall))
        .to.emit(f.options, "SeriesListed")
        .withArgs(id, underlying, strike, expiry, isCall);
      series.set(id, {
        id,
        underlying,
        strike,
        expiry,
        isCall,
        long: 0n,
        short: 0n,
        traderDelta: 0n,
        traderVega: 0n,
        settled: false,
        settlementPrice: 0n,
      });
      return id;
    },
    s(id: number): SeriesModel {
      const s = series.get(id);
      if (s === undefined) throw new Error(`series ${id}`);
      return s;
    },
    /** Creates an account with `deposit` USDC; returns its id. */
    async open(owner: HardhatEthersSigner, mode: number, marketId: number, deposit: bigint): Promise<bigint> {
      const id = await f.openAccount(owner, mode, marketId, deposit);
      cash.set(id, deposit);
      book.deposits += deposit;
      return id;
    },
    /** A Chainlink round answered at T (or the next block), 8 decimals. */
    async push(underlying: string, answer: bigint, T?: bigint): Promise<void> {
      if (T !== undefined) await time.setNextBlockTimestamp(T);
      await (feeds.get(underlying) as typeof f.ethFeed).push(answer);
      price.set(underlying, answer * TICK);
    },
    /** Black-Scholes (harness) of a series at `spot` with `seconds` to expiry. */
    greeks(s: SeriesModel, spot: bigint, seconds: bigint): Promise<Greeks> {
      return f.greeksAt(spot, s.strike, iv.get(s.underlying) as bigint, seconds, s.isCall);
    },
    /** The trade's model at time T (exposure, spread, premium). */
    async quote(id: number, amount: bigint, T: bigint) {
      const s = l.s(id);
      const p = price.get(s.underlying) as bigint;
      const g = await l.greeks(s, tradeSpot(s.isCall, amount > 0n, { low: p, high: p }), s.expiry - T);
      const e = exposure.get(s.underlying) as Exposure;
      const q = tradeQuote(
        paramsOf(s.underlying),
        {
          netDelta: e.netDelta,
          netVega: e.netVega,
          seriesTraderDelta: s.traderDelta,
          seriesTraderVega: s.traderVega,
          seriesNet: s.long - s.short,
        },
        g,
        amount,
      );
      return { g, q };
    },
    /**
     * Trades at T (default: the next second) and asserts the OptionTraded and ExposureUpdated
     * events, the account's and the pool's stablecoin to the unit, the position, the series'
     * open interest and Greeks and the pool's exposure against the ledger.
     */
    async trade(
      signer: HardhatEthersSigner,
      acct: bigint,
      id: number,
      amount: bigint,
      o: { limit?: bigint; T?: bigint } = {},
    ) {
      const s = l.s(id);
      const T = o.T ?? (await now()) + 1n;
      const { g, q } = await l.quote(id, amount, T);
      const oldSize = pos(acct, id);
      const newSize = oldSize + amount;
      const buy = amount > 0n;
      await time.setNextBlockTimestamp(T);
      await expect(f.options.connect(signer).tradeOption(acct, id, amount, o.limit ?? (buy ? ethers.MaxUint256 : 0n)))
        .to.emit(f.options, "OptionTraded")
        .withArgs(acct, id, amount, g.price, q.spread, q.premium, newSize)
        .and.to.emit(f.options, "ExposureUpdated")
        .withArgs(s.underlying, q.netDelta, q.netVega);
      // the ledger
      if (oldSize > 0n) s.long -= oldSize;
      else s.short += oldSize;
      if (newSize > 0n) s.long += newSize;
      else s.short -= newSize;
      s.traderDelta = q.traderDelta;
      s.traderVega = q.traderVega;
      exposure.set(s.underlying, { netDelta: q.netDelta, netVega: q.netVega });
      positions.set(key(acct, id), newSize);
      const flow = buy ? -q.premium : q.premium;
      cash.set(acct, (cash.get(acct) ?? 0n) + flow);
      book.pool -= flow;
      await l.checkAccount(acct);
      await l.checkSeries(id);
      expect(await f.options.positionOf(acct, id)).to.equal(newSize);
      expect(await f.usdc.balanceOf(f.addr.pool)).to.equal(book.pool);
      return { g, q, T, premium: q.premium };
    },
    async checkAccount(acct: bigint) {
      expect(await f.accounts.balanceOf(acct, f.addr.usdc)).to.equal(cash.get(acct));
    },
    async checkSeries(id: number) {
      const s = l.s(id);
      const c = await f.options.series(id);
      expect([c.longOpenInterest, c.shortOpenInterest, c.traderDelta, c.traderVega, c.settled]).to.deep.equal([
        s.long,
        s.short,
        s.traderDelta,
        s.traderVega,
        s.settled,
      ]);
      const e = exposure.get(s.underlying) as Exposure;
      const ce = await f.options.exposureOf(s.underlying);
      expect([ce.netDelta, ce.netVega]).to.deep.equal([e.netDelta, e.netVega]);
    },
    /** The pool's option liability (WAD) at time L: live series at BS, settled ones at payoff. */
    async liabilityWad(L: bigint): Promise<bigint> {
      let total = 0n;
      for (const s of series.values()) {
        const net = s.long - s.short;
        if (s.settled) {
          total += settledLiability(s.long, s.short, payoffOf(s.isCall, s.strike, s.settlementPrice));
          continue;
        }
        if (net === 0n) continue;
        const p = price.get(s.underlying) as bigint;
        const g = await l.greeks(s, p, s.expiry > L ? s.expiry - L : 0n);
        total += liveLiability(net, g.price);
      }
      return total;
    },
    /** tradersUnrealizedPnl (OptionLiability and pool) and totalAssets at the latest block, exactly. */
    async checkPool() {
      const units = liabilityUnits(await l.liabilityWad(await now()));
      expect(await f.usdc.balanceOf(f.addr.pool)).to.equal(book.pool);
      expect(await f.accounts.settlementDebt()).to.equal(0n);
      expect(await f.optionLiability.tradersUnrealizedPnl()).to.equal(units);
      expect(await f.pool.tradersUnrealizedPnl()).to.equal(units);
      expect(await f.pool.totalAssets()).to.equal(book.pool - units);
      return units;
    },
    /** settleSeries(id, round) and its events; the series leaves the exposure. */
    async settleSeries(id: number, roundId: bigint, answer: bigint, signer?: HardhatEthersSigner) {
      const s = l.s(id);
      const e = exposure.get(s.underlying) as Exposure;
      const released = { netDelta: e.netDelta + s.traderDelta, netVega: e.netVega + s.traderVega };
      await expect(f.options.connect(signer ?? f.admin).settleSeries(id, roundId))
        .to.emit(f.options, "SeriesSettled")
        .withArgs(id, answer * TICK, roundId)
        .and.to.emit(f.options, "ExposureUpdated")
        .withArgs(s.underlying, released.netDelta, released.netVega);
      s.settled = true;
      s.settlementPrice = answer * TICK;
      s.traderDelta = 0n;
      s.traderVega = 0n;
      exposure.set(s.underlying, released);
      const c = await f.options.series(id);
      expect([c.settled, c.settlementPrice]).to.deep.equal([true, answer * TICK]);
      await l.checkSeries(id);
    },
    /** settlePosition and its event; returns the units booked. */
    async settlePosition(acct: bigint, id: number, signer?: HardhatEthersSigner): Promise<bigint> {
      const s = l.s(id);
      const size = pos(acct, id);
      const units = settledUnits(size, payoffOf(s.isCall, s.strike, s.settlementPrice));
      await expect(f.options.connect(signer ?? f.admin).settlePosition(acct, id))
        .to.emit(f.options, "PositionSettled")
        .withArgs(acct, id, size, units);
      if (size > 0n) s.long -= size;
      else s.short += size;
      positions.set(key(acct, id), 0n);
      cash.set(acct, (cash.get(acct) ?? 0n) + units);
      book.pool -= units;
      await l.checkAccount(acct);
      await l.checkSeries(id);
      expect(await f.options.positionOf(acct, id)).to.equal(0n);
      expect(await f.usdc.balanceOf(f.addr.pool)).to.equal(book.pool);
      return units;
    },
  };
  return l;
}

type Ledger = Awaited<ReturnType<typeof ledgerOf>>;

/**
 * The fixture with a 7-day WETH call (K 3000, series 1) and put (K 2800, series 2) listed, and
 * four accounts with 100,000 USDC each (alice and carol cross, bob and dave isolated on ETH); the
 * ledger knows all of it.
 */
async function trading() {
  const base = await loadOptionMarkets();
  const l = await ledgerOf(base);
  const [alice, bob, carol, dave, erin, frank, grace, heidi] = base.traders;
  const expiry = gridExpiry(await l.now(), 7n);
  const call = await l.list(base.addr.weth, wad("3000"), expiry, CALL);
  const put = await l.list(base.addr.weth, wad("2800"), expiry, PUT);
  const ids = {
    alice: await l.open(alice, CROSS, 0, usdc("100000")),
    bob: await l.open(bob, ISOLATED, ETH, usdc("100000")),
    carol: await l.open(carol, CROSS, 0, usdc("100000")),
    dave: await l.open(dave, ISOLATED, ETH, usdc("100000")),
  };
  const f = { ...base, alice, bob, carol, dave, erin, frank, grace, heidi, expiry, ids };
  return { f, l, call, put };
}

/** Sets an underlying's parameter and refreshes the ledger's copy of its parameters. */
async function setParam(f: OptionFixture, name: string, underlying: string, value: bigint, l: Ledger) {
  await f.riskConfig.setParameter(paramIndex(name), BigInt(underlying), value);
  l.params.set(underlying, await f.readParams(underlying));
}

// ---------------------------------------------------------------- the portfolio (cross) margin model

interface HeldOption {
  s: SeriesModel;
  size: bigint;
}

/**
 * MarginEngine._gridLoss for one underlying's options (no perps) at time T and price S:
 * MM (the worst loss, at least 0), IM, Σ value and Σ equityValue (WAD).
 */
async function crossMargin(f: OptionFixture, l: Ledger, held: HeldOption[], S: bigint, T: bigint) {
  const p = l.params.get(held[0].s.underlying) as OptionParams;
  const vol = l.iv.get(held[0].s.underlying) as bigint;
  const rows = [];
  let value = 0n;
  let equity = 0n;
  for (const h of held) {
    const seconds = h.s.expiry - T;
    const unit = await f.bs.price(S, h.s.strike, vol, seconds, h.s.isCall);
    const factor = tenorFactor(seconds);
    rows.push({
      h,
      seconds,
      equityValue: equityValueOf(h.size, unit, p.haircut),
      vols: [vol, volatilityUp(vol, factor, p), volatilityDown(vol, factor, p)],
    });
    value += optionValue(h.size, unit);
    equity += equityValueOf(h.size, unit, p.haircut);
  }
  let worst = 0n;
  for (let k = 0n; k < 7n; k++) {
    const down = k < 3n;
    const steps = down ? 3n - k : k - 3n;
    const move = (p.mmSpot * steps + 2n) / 3n; // fullMulDivUp(s, steps, 3)
    const spot = down ? (move >= wad("0.99") ? S / 100n : mulWad(S, WAD - move)) : mulWad(S, WAD + move);
    for (let v = 0; v < 3; v++) {
      let loss = 0n;
      for (const r of rows) {
        const unit = await f.bs.price(spot, r.h.s.strike, r.vols[v], r.seconds, r.h.s.isCall);
        loss += r.equityValue - optionValue(r.h.size, unit);
      }
      if (loss > worst) worst = loss;
    }
  }
  return { mm: worst, im: mulWadUp(worst, p.imMultiplier), value, equity };
}

// ---------------------------------------------------------------- tests

describe("OptionMarket", function () {
  describe("listing", function () {
    it("lists series with ids from 1, stores them and keeps each underlying's live list", async function () {
      const f = await loadOptionMarkets();
      const l = await ledgerOf(f);
      const expiry = gridExpiry(await l.now(), 7n);
      expect(await l.list(f.addr.weth, wad("3000"), expiry, CALL)).to.equal(1);
      expect(await l.list(f.addr.weth, wad("3000"), expiry, PUT)).to.equal(2);
      expect(await l.list(f.addr.wbtc, wad("55000"), expiry + DAY_S, CALL)).to.equal(3);
      expect(await f.options.seriesCount()).to.equal(3n);
      const s = await f.options.series(3);
      expect([s.underlying, s.expiry, s.isCall, s.settled, s.strike, s.settlementPrice]).to.deep.equal([
        f.addr.wbtc,
        expiry + DAY_S,
        true,
        false,
        wad("55000"),
        0n,
      ]);
      expect([s.longOpenInterest, s.shortOpenInterest, s.traderDelta, s.traderVega]).to.deep.equal([0n, 0n, 0n, 0n]);
      expect(s.marketId).to.equal(BigInt(BTC)); // the underlying's perp market
      expect((await f.options.series(1)).marketId).to.equal(BigInt(ETH));
      expect(await f.options.liveSeries(f.addr.weth)).to.deep.equal([1n, 2n]);
      expect(await f.options.liveSeries(f.addr.wbtc)).to.deep.equal([3n]);
      expect(await f.options.underlyings()).to.deep.equal([f.addr.weth, f.addr.wbtc]);
      const key = ethers.keccak256(
        ethers.AbiCoder.defaultAbiCoder().encode(
          ["address", "uint256", "uint256", "bool"],
          [f.addr.weth, wad("3000"), expiry, PUT],
        ),
      );
      expect(await f.options.seriesIdOf(key)).to.equal(2n);
    });

    it("StrikeOutOfBand reports the band's exact bounds (min rounded up, max down)", async function () {
      const f = await loadOptionMarkets();
      const l = await ledgerOf(f);
      // A band and a price whose products are not whole wei, so that the rounding shows.
      const band = 333_333_333_333_333_333n;
      await setParam(f, "STRIKE_BAND", f.addr.weth, band, l);
      await l.push(f.addr.weth, 300_000_000_001n); // 3000.00000001
      const S = 300_000_000_001n * TICK;
      const min = (S * (WAD - band) + WAD - 1n) / WAD;
      const max = (S * (WAD + band)) / WAD;
      expect(min * WAD).to.not.equal(S * (WAD - band)); // rounded
      const expiry = gridExpiry(await l.now(), 3n);
      for (const strike of [min - 1n, max + 1n, 0n]) {
        await expect(f.options.listSeries(f.addr.weth, strike, expiry, CALL))
          .to.be.revertedWithCustomError(f.options, "StrikeOutOfBand")
          .withArgs(strike, min, max);
      }
      expect(await l.list(f.addr.weth, min, expiry, PUT)).to.equal(1);
      expect(await l.list(f.addr.weth, max, expiry, CALL)).to.equal(2);
    });

    it("ExpiryOffGrid and ExpiryOutOfRange(expiry, now + 1, now + MAX_EXPIRY)", async function () {
      const f = await loadOptionMarkets();
      const l = await ledgerOf(f);
      const grid = f.params.expiryGrid;
      const maxExpiry = f.params.maxExpiry;
      // T on the grid, with a fresh round just before it.
      const T = ((await l.now()) / grid + 1n) * grid;
      await l.push(f.addr.weth, feed("3000"), T - 10n);
      await time.setNextBlockTimestamp(T - 5n);
      await expect(f.options.listSeries(f.addr.weth, wad("3000"), T + DAY_S + 1n, CALL))
        .to.be.revertedWithCustomError(f.options, "ExpiryOffGrid")
        .withArgs(T + DAY_S + 1n, grid);
      // The latest expiry allowed is now + MAX_EXPIRY, inclusive.
      await time.setNextBlockTimestamp(T);
      await expect(f.options.listSeries(f.addr.weth, wad("3000"), T + maxExpiry, CALL))
        .to.emit(f.options, "SeriesListed")
        .withArgs(1, f.addr.weth, wad("3000"), T + maxExpiry, CALL);
      await time.setNextBlockTimestamp(T + 1n);
      await expect(f.options.listSeries(f.addr.weth, wad("3000"), T, CALL))
        .to.be.revertedWithCustomError(f.options, "ExpiryOutOfRange")
        .withArgs(T, T + 2n, T + 1n + maxExpiry);
      await time.setNextBlockTimestamp(T + 2n);
      await expect(f.options.listSeries(f.addr.weth, wad("3000"), T + maxExpiry + DAY_S, PUT))
        .to.be.revertedWithCustomError(f.options, "ExpiryOutOfRange")
        .withArgs(T + maxExpiry + DAY_S, T + 3n, T + 2n + maxExpiry);
    });

    it("TooManyLiveSeries per underlying at MAX_LIVE_SERIES", async function () {
      const f = await loadOptionMarkets();
      const l = await ledgerOf(f);
      await setParam(f, "MAX_LIVE_SERIES", f.addr.weth, 2n, l);
      const expiry = gridExpiry(await l.now(), 5n);
      await l.list(f.addr.weth, wad("3000"), expiry, CALL);
      await l.list(f.addr.weth, wad("3000"), expiry, PUT);
      await expect(f.options.listSeries(f.addr.weth, wad("3100"), expiry, CALL))
        .to.be.revertedWithCustomError(f.options, "TooManyLiveSeries")
        .withArgs(f.addr.weth, 2n);
      // Another underlying has its own count.
      expect(await l.list(f.addr.wbtc, wad("60000"), expiry, CALL)).to.equal(3);
    });

    it("SeriesAlreadyListed, ListingPaused, NoMarket, ZeroAddress, LISTER_ROLE; Degraded blocks listing", async function () {
      const f = await loadOptionMarkets();
      const l = await ledgerOf(f);
      const expiry = gridExpiry(await l.now(), 5n);
      await l.list(f.addr.weth, wad("3000"), expiry, CALL);
      await expect(f.options.listSeries(f.addr.weth, wad("3000"), expiry, CALL))
        .to.be.revertedWithCustomError(f.options, "SeriesAlreadyListed")
        .withArgs(1);
      await f.riskConfig.setPaused(LIST_SERIES, BigInt(f.addr.weth), true);
      await expect(f.options.listSeries(f.addr.weth, wad("3000"), expiry, PUT))
        .to.be.revertedWithCustomError(f.options, "ListingPaused")
        .withArgs(f.addr.weth);
      // Paused per underlying.
      expect(await l.list(f.addr.wbtc, wad("60000"), expiry, PUT)).to.equal(2);
      await f.riskConfig.setPaused(LIST_SERIES, BigInt(f.addr.weth), false);
      expect(await l.list(f.addr.weth, wad("3000"), expiry, PUT)).to.equal(3);
      await expect(f.options.listSeries(f.addr.usdc, wad("1"), expiry, PUT))
        .to.be.revertedWithCustomError(f.options, "NoMarket")
        .withArgs(f.addr.usdc);
      await expect(f.options.listSeries(ethers.ZeroAddress, wad("1"), expiry, PUT)).to.be.revertedWithCustomError(
        f.options,
        "ZeroAddress",
      );
      const [alice] = f.traders;
      await expect(f.options.connect(alice).listSeries(f.addr.weth, wad("3100"), expiry, PUT))
        .to.be.revertedWithCustomError(f.options, "AccessControlUnauthorizedAccount")
        .withArgs(alice.address, await f.options.LISTER_ROLE());
      // A Degraded price blocks listing (new risk).
      await f.oracle.poke(f.addr.weth);
      await l.push(f.addr.weth, feed("3700"));
      await f.oracle.poke(f.addr.weth);
      await expect(f.options.listSeries(f.addr.weth, wad("3100"), expiry, PUT))
        .to.be.revertedWithCustomError(f.options, "ActionNotAllowed")
        .withArgs(STATUS_DEGRADED, INCREASE_RISK);
    });
  });

  describe("trading", function () {
    it("buys and sells calls and puts at Black-Scholes +- the spread, to the unit", async function () {
      const { f, l, call, put } = await trading();
      const { alice, bob, carol, dave } = f;
      const n = f.ids;
      // Sizes with odd wei so that every rounding shows.
      const r1 = await l.trade(alice, n.alice, call, wad("2.345678901234567891"));
      const r2 = await l.trade(bob, n.bob, call, -wad("1.75"));
      const r3 = await l.trade(carol, n.carol, put, wad("3.1"));
      const r4 = await l.trade(dave, n.dave, put, -wad("0.999999999999999999"));
      // The first buy, written out: no exposure before it.
      const g = await f.greeksAt(wad("3000"), wad("3000"), f.iv.eth, f.expiry - r1.T, CALL);
      const size = wad("2.345678901234567891");
      const netDelta = -sMulWad(size, g.delta);
      const netVega = -sMulWad(size, g.vega);
      const u = (x: bigint, cap: bigint) => ((x < 0n ? -x : x) * WAD + cap - 1n) / cap;
      const ud = u(netDelta, f.params.maxNetDelta);
      const uv = u(netVega, f.params.maxNetVega);
      const spread = wad("0.01") + (wad("0.05") * (ud > uv ? ud : uv) + WAD - 1n) / WAD;
      expect(r1.q.spread).to.equal(spread);
      const up = (size * g.price + WAD - 1n) / WAD;
      expect(r1.premium).to.equal(((up * (WAD + spread) + WAD - 1n) / WAD + SCALE - 1n) / SCALE);
      // a sell is rounded down
      expect(r2.premium).to.equal((((wad("1.75") * r2.g.price) / WAD) * (WAD - r2.q.spread)) / WAD / SCALE);
      // the pool: + buys - sells
      expect(await f.usdc.balanceOf(f.addr.pool)).to.equal(
        LP_LIQUIDITY + r1.premium - r2.premium + r3.premium - r4.premium,
      );
    });

    it("PremiumLimitExceeded on both sides; the limit itself passes", async function () {
      const { f, l, call, put } = await trading();
      const { alice, bob } = f;
      const n = f.ids;
      let T = (await l.now()) + 1n;
      const buy = await l.quote(call, wad("2"), T);
      await time.setNextBlockTimestamp(T);
      await expect(f.options.connect(alice).tradeOption(n.alice, call, wad("2"), buy.q.premium - 1n))
        .to.be.revertedWithCustomError(f.options, "PremiumLimitExceeded")
        .withArgs(buy.q.premium, buy.q.premium - 1n);
      T += 1n;
      const again = await l.quote(call, wad("2"), T);
      await l.trade(alice, n.alice, call, wad("2"), { limit: again.q.premium, T });
      T += 1n;
      const sell = await l.quote(put, -wad("1.5"), T);
      await time.setNextBlockTimestamp(T);
      await expect(f.options.connect(bob).tradeOption(n.bob, put, -wad("1.5"), sell.q.premium + 1n))
        .to.be.revertedWithCustomError(f.options, "PremiumLimitExceeded")
        .withArgs(sell.q.premium, sell.q.premium + 1n);
      T += 1n;
      const sell2 = await l.quote(put, -wad("1.5"), T);
      await l.trade(bob, n.bob, put, -wad("1.5"), { limit: sell2.q.premium, T });
    });

    it("ZeroAmount, UnknownSeries, SeriesExpired, NotAuthorized; an operator trades", async function () {
      const { f, l, call } = await trading();
      const { alice, erin } = f;
      const n = f.ids;
      await expect(f.options.connect(alice).tradeOption(n.alice, call, 0n, 0n)).to.be.revertedWithCustomError(
        f.options,
        "ZeroAmount",
      );
      await expect(f.options.connect(alice).tradeOption(n.alice, 99, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.options, "UnknownSeries")
        .withArgs(99);
      await expect(f.options.connect(erin).tradeOption(n.alice, call, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(n.alice, erin.address);
      await f.accounts.connect(alice).setOperator(n.alice, erin.address, true);
      await l.trade(erin, n.alice, call, wad("1"));
      // The owner's other account is not the operator's.
      await expect(f.options.connect(erin).tradeOption(n.bob, call, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(n.bob, erin.address);
      // At expiry the series no longer trades (closing included).
      await time.setNextBlockTimestamp(f.expiry);
      await expect(f.options.connect(alice).tradeOption(n.alice, call, -wad("1"), 0n))
        .to.be.revertedWithCustomError(f.options, "SeriesExpired")
        .withArgs(call, f.expiry);
    });

    it("WrongUnderlying: an isolated account bound to BTC cannot trade WETH options", async function () {
      const { f, l, call } = await trading();
      const { erin } = f;
      const btcAccount = await l.open(erin, ISOLATED, BTC, usdc("10000"));
      await expect(f.options.connect(erin).tradeOption(btcAccount, call, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.options, "WrongUnderlying")
        .withArgs(btcAccount, BTC, f.addr.weth);
      // ... and trades the BTC series.
      const btc = await l.list(f.addr.wbtc, wad("60000"), f.expiry, CALL);
      await l.trade(erin, btcAccount, btc, wad("0.1"));
    });

    it("OpeningPaused blocks buying and writing; closing still works", async function () {
      const { f, l, call, put } = await trading();
      const { alice, bob } = f;
      const n = f.ids;
      await l.trade(alice, n.alice, call, wad("2"));
      await l.trade(bob, n.bob, put, -wad("2"));
      await f.riskConfig.setPaused(OPEN_POSITION, ETH, true);
      await expect(f.options.connect(alice).tradeOption(n.alice, call, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.options, "OpeningPaused")
        .withArgs(f.addr.weth);
      await expect(f.options.connect(bob).tradeOption(n.bob, call, -wad("1"), 0n))
        .to.be.revertedWithCustomError(f.options, "OpeningPaused")
        .withArgs(f.addr.weth);
      // Flipping a position through zero is opening too.
      await expect(f.options.connect(alice).tradeOption(n.alice, call, -wad("3"), 0n))
        .to.be.revertedWithCustomError(f.options, "OpeningPaused")
        .withArgs(f.addr.weth);
      await l.trade(alice, n.alice, call, -wad("1.5"));
      await l.trade(bob, n.bob, put, wad("2"));
      expect(await f.options.accountSeries(n.bob)).to.deep.equal([]);
    });

    it("a Degraded price blocks opening (ActionNotAllowed) and allows reducing at the new price", async function () {
      const { f, l, call } = await trading();
      const { alice, bob } = f;
      const n = f.ids;
      await l.trade(alice, n.alice, call, wad("2"));
      await f.oracle.poke(f.addr.weth); // accepts 3000 as the breaker's reference
      await l.push(f.addr.weth, feed("3700")); // +23% within the hour
      await f.oracle.poke(f.addr.weth);
      expect((await f.oracle.getPrice(f.addr.weth)).status).to.equal(STATUS_DEGRADED);
      await expect(f.options.connect(alice).tradeOption(n.alice, call, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.options, "ActionNotAllowed")
        .withArgs(STATUS_DEGRADED, INCREASE_RISK);
      await expect(f.options.connect(bob).tradeOption(n.bob, call, -wad("1"), 0n))
        .to.be.revertedWithCustomError(f.options, "ActionNotAllowed")
        .withArgs(STATUS_DEGRADED, INCREASE_RISK);
      const r = await l.trade(alice, n.alice, call, -wad("1.25"));
      expect(r.g.price).to.be.greaterThan(wad("700")); // priced at 3700
    });

    it("SeriesOpenInterestCapExceeded on each side; reducing passes above the cap", async function () {
      const { f, l, call } = await trading();
      const { alice, bob, carol } = f;
      const n = f.ids;
      await setParam(f, "MAX_SERIES_OI", f.addr.weth, wad("3"), l);
      await l.trade(alice, n.alice, call, wad("2"));
      await expect(f.options.connect(carol).tradeOption(n.carol, call, wad("1.5"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.options, "SeriesOpenInterestCapExceeded")
        .withArgs(call, true, wad("3.5"), wad("3"));
      await expect(f.options.connect(bob).tradeOption(n.bob, call, -wad("3.25"), 0n))
        .to.be.revertedWithCustomError(f.options, "SeriesOpenInterestCapExceeded")
        .withArgs(call, false, wad("3.25"), wad("3"));
      await l.trade(carol, n.carol, call, wad("1"));
      await l.trade(bob, n.bob, call, -wad("3"));
      await setParam(f, "MAX_SERIES_OI", f.addr.weth, wad("1"), l);
      await l.trade(alice, n.alice, call, -wad("0.5")); // long OI 2.5 > 1, reducing
      await l.trade(bob, n.bob, call, wad("1")); // short OI 2 > 1, reducing
    });

    it("NetDeltaCapExceeded; trades that shrink |net delta| pass above the cap at the full spread", async function () {
      const { f, l, call, put } = await trading();
      const { alice, carol } = f;
      const n = f.ids;
      await l.trade(alice, n.alice, call, wad("2"));
      const delta = (l.exposure.get(f.addr.weth) as Exposure).netDelta; // about -1.04
      const cap = wad("0.5");
      await setParam(f, "MAX_NET_DELTA", f.addr.weth, cap, l);
      const T = (await l.now()) + 1n;
      const { q } = await l.quote(call, wad("0.1"), T);
      expect(q.netDelta < delta).to.equal(true);
      await time.setNextBlockTimestamp(T);
      await expect(f.options.connect(carol).tradeOption(n.carol, call, wad("0.1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.options, "NetDeltaCapExceeded")
        .withArgs(f.addr.weth, q.netDelta, cap);
      // Closing part of the calls, and buying puts, both shrink the pool's short delta.
      const r1 = await l.trade(alice, n.alice, call, -wad("0.5"));
      const r2 = await l.trade(carol, n.carol, put, wad("0.3"));
      for (const r of [r1, r2]) {
        expect(-r.q.netDelta).to.be.greaterThan(cap);
        expect(r.q.spread).to.equal(f.params.spreadBase + f.params.spreadSlope); // utilization 1
      }
    });

    it("NetVegaCapExceeded; a trade that shrinks |net vega| passes above the cap", async function () {
      const { f, l, call, put } = await trading();
      const { alice, carol, bob } = f;
      const n = f.ids;
      await l.trade(alice, n.alice, call, wad("2"));
      const vega = (l.exposure.get(f.addr.weth) as Exposure).netVega; // about -335e18
      const cap = -vega - wad("30");
      await setParam(f, "MAX_NET_VEGA", f.addr.weth, cap, l);
      const T = (await l.now()) + 1n;
      const { q } = await l.quote(put, wad("0.2"), T);
      await time.setNextBlockTimestamp(T);
      await expect(f.options.connect(carol).tradeOption(n.carol, put, wad("0.2"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.options, "NetVegaCapExceeded")
        .withArgs(f.addr.weth, q.netVega, cap);
      const r = await l.trade(bob, n.bob, put, -wad("0.1")); // writing puts: the pool buys vega back
      expect(-r.q.netVega).to.be.greaterThan(cap);
      expect(r.q.spread).to.equal(f.params.spreadBase + f.params.spreadSlope);
    });

    it("TooManyOptions at MAX_OPTIONS_PER_ACCOUNT per underlying", async function () {
      const { f, l, call, put } = await trading();
      const { alice } = f;
      const n = f.ids;
      await setParam(f, "MAX_OPTIONS_PER_ACCOUNT", f.addr.weth, 2n, l);
      const third = await l.list(f.addr.weth, wad("3200"), f.expiry, CALL);
      await l.trade(alice, n.alice, call, wad("1"));
      await l.trade(alice, n.alice, put, wad("1"));
      await expect(f.options.connect(alice).tradeOption(n.alice, third, wad("1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.options, "TooManyOptions")
        .withArgs(n.alice, 2n);
      // Adding to a held series is not a new one; other underlyings count apart.
      await l.trade(alice, n.alice, call, wad("1"));
      const btc = await l.list(f.addr.wbtc, wad("60000"), f.expiry, PUT);
      await l.trade(alice, n.alice, btc, wad("0.05"));
      // Closing one frees a slot.
      await l.trade(alice, n.alice, put, -wad("1"));
      await l.trade(alice, n.alice, third, wad("1"));
      expect(await f.options.accountSeries(n.alice)).to.have.length(3);
    });

    it("the spread widens with exposure: a second buy pays more, exactly", async function () {
      const { f, l, call } = await trading();
      const { alice, carol } = f;
      const n = f.ids;
      const r1 = await l.trade(alice, n.alice, call, wad("40"));
      const r2 = await l.trade(carol, n.carol, call, wad("40"));
      expect(r2.q.spread).to.be.greaterThan(r1.q.spread);
      // utilization = |net delta| / 5000 (vega's share is smaller)
      const util = (x: bigint) => ((x < 0n ? -x : x) * WAD + f.params.maxNetDelta - 1n) / f.params.maxNetDelta;
      expect(r1.q.spread).to.equal(wad("0.01") + mulWadUp(wad("0.05"), util(r1.q.netDelta)));
      expect(r2.q.spread).to.equal(wad("0.01") + mulWadUp(wad("0.05"), util(r2.q.netDelta)));
      expect(r2.q.spread).to.equal(spreadOf(f.params, r2.q.netDelta, r2.q.netVega));
    });

    it("exposureOf after trades and refreshExposure after a price move", async function () {
      const { f, l, call, put } = await trading();
      const { alice, bob, carol, dave } = f;
      const n = f.ids;
      await l.trade(alice, n.alice, call, wad("3"));
      await l.trade(bob, n.bob, call, -wad("1.2"));
      await l.trade(carol, n.carol, put, wad("2.2"));
      await l.trade(dave, n.dave, put, -wad("4.4"));
      // exposure = - Σ traders' Greeks, each series at its last trade's price
      let d = 0n;
      let v = 0n;
      for (const s of l.series.values()) {
        d -= s.traderDelta;
        v -= s.traderVega;
      }
      const e = await f.options.exposureOf(f.addr.weth);
      expect([e.netDelta, e.netVega]).to.deep.equal([d, v]);
      await l.push(f.addr.weth, feed("3312.5"));
      const T = (await l.now()) + 60n;
      let netDelta = 0n;
      let netVega = 0n;
      for (const s of l.series.values()) {
        const g = await l.greeks(s, wad("3312.5"), s.expiry - T);
        s.traderDelta = sMulWad(s.long - s.short, g.delta);
        s.traderVega = sMulWad(s.long - s.short, g.vega);
        netDelta -= s.traderDelta;
        netVega -= s.traderVega;
      }
      l.exposure.set(f.addr.weth, { netDelta, netVega });
      await time.setNextBlockTimestamp(T);
      await expect(f.options.refreshExposure(f.addr.weth))
        .to.emit(f.options, "ExposureUpdated")
        .withArgs(f.addr.weth, netDelta, netVega);
      await l.checkSeries(call);
      await l.checkSeries(put);
    });

    it("InsufficientMargin (MarginEngine) when writing without collateral", async function () {
      const { f, l, call } = await trading();
      const { erin } = f;
      const empty = await l.open(erin, ISOLATED, ETH, 0n);
      const T = (await l.now()) + 1n;
      const { g, q } = await l.quote(call, -wad("1"), T);
      // isolated: equity = premium received + the short's value; IM = 1.5 x |size| x the call term
      const equity = q.premium * SCALE + optionValue(-wad("1"), g.price);
      const mm = shortMaintenance(-wad("1"), CALL, wad("3000"), wad("3000"), g.price, f.params);
      const im = shortInitial(mm, f.params);
      expect(mm).to.equal(mulWadUp(wad("1"), shortTerm(CALL, wad("3000"), wad("3000"), g.price, f.params)));
      expect(mm).to.equal(wad("300")); // 0.1 S at the money
      await time.setNextBlockTimestamp(T);
      await expect(f.options.connect(erin).tradeOption(empty, call, -wad("1"), 0n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(empty, equity, im);
      // Exactly IM deposited lets the trade through; one unit less does not (same timestamp).
      const Tx = T + 10n;
      const x = await l.quote(call, -wad("1"), Tx);
      const value = optionValue(-wad("1"), x.g.price);
      const need = (im - value + SCALE - 1n) / SCALE - x.q.premium;
      await f.usdc.connect(erin).approve(f.addr.accounts, ethers.MaxUint256);
      const snapshot = await takeSnapshot();
      await f.accounts.connect(erin).deposit(empty, f.addr.usdc, need - 1n);
      await time.setNextBlockTimestamp(Tx);
      await expect(f.options.connect(erin).tradeOption(empty, call, -wad("1"), 0n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(empty, (need - 1n + x.q.premium) * SCALE + value, im);
      await snapshot.restore();
      await f.accounts.connect(erin).deposit(empty, f.addr.usdc, need);
      l.cash.set(empty, need);
      await l.trade(erin, empty, call, -wad("1"), { T: Tx });
    });
  });

  describe("settlement", function () {
    /** Series 1: call 3000, 2: put 3100, 3: call 3200, expiring in one to two days; six accounts. */
    async function settling() {
      const f = await loadOptionMarkets();
      const l = await ledgerOf(f);
      const [alice, bob, carol, dave, erin] = f.traders;
      const expiry = gridExpiry(await l.now(), 1n);
      const ids = {
        call: await l.list(f.addr.weth, wad("3000"), expiry, CALL),
        put: await l.list(f.addr.weth, wad("3100"), expiry, PUT),
        otm: await l.list(f.addr.weth, wad("3200"), expiry, CALL),
      };
      const n = {
        alice: await l.open(alice, CROSS, 0, usdc("50000")),
        bob: await l.open(bob, ISOLATED, ETH, usdc("50000")),
        carol: await l.open(carol, CROSS, 0, usdc("50000")),
        dave: await l.open(dave, ISOLATED, ETH, usdc("50000")),
        erin: await l.open(erin, CROSS, 0, usdc("1000")),
      };
      await l.trade(alice, n.alice, ids.call, wad("1.234567890123456789"));
      await l.trade(bob, n.bob, ids.call, -wad("0.987654321987654321"));
      await l.trade(carol, n.carol, ids.put, wad("2.5"));
      await l.trade(dave, n.dave, ids.put, -wad("1.333333333333333333"));
      await l.trade(alice, n.alice, ids.otm, wad("3"));
      await l.trade(bob, n.bob, ids.otm, -wad("1"));
      return { f, l, expiry, ids, n, alice, bob, carol, dave, erin };
    }

    /** Rounds at expiry - 30 min, at expiry (the settlement round) and 30 min after. */
    async function roundsAround(f: OptionFixture, l: Ledger, expiry: bigint, atExpiry: bigint) {
      await l.push(f.addr.weth, feed("3040"), expiry - 1800n);
      const before = await f.ethFeed.latestRound();
      await l.push(f.addr.weth, atExpiry, expiry);
      const right = await f.ethFeed.latestRound();
      await l.push(f.addr.weth, feed("3060"), expiry + 1800n);
      const after = await f.ethFeed.latestRound();
      return { before, right, after };
    }

    it("settles series at the first round at or after expiry and positions to the unit", async function () {
      const { f, l, expiry, ids, n, erin } = await settling();
      await l.checkPool();
      await expect(f.options.settleSeries(ids.call, 2n))
        .to.be.revertedWithCustomError(f.options, "SeriesNotExpired")
        .withArgs(ids.call, expiry);
      await expect(f.options.settlePosition(n.alice, ids.call))
        .to.be.revertedWithCustomError(f.options, "SeriesNotSettled")
        .withArgs(ids.call);
      await expect(f.options.settleSeries(77, 2n))
        .to.be.revertedWithCustomError(f.options, "UnknownSeries")
        .withArgs(77);
      await expect(f.options.settlePosition(n.alice, 77))
        .to.be.revertedWithCustomError(f.options, "UnknownSeries")
        .withArgs(77);

      const settlement = 305_012_345_678n; // 3050.12345678
      const r = await roundsAround(f, l, expiry, settlement);
      await expect(f.options.settleSeries(ids.call, r.before))
        .to.be.revertedWithCustomError(f.oracle, "RoundBeforeTimestamp")
        .withArgs(r.before, expiry - 1800n, expiry);
      await expect(f.options.settleSeries(ids.call, r.after))
        .to.be.revertedWithCustomError(f.oracle, "PreviousRoundNotBefore")
        .withArgs(r.right, expiry, expiry);
      // Expired but not settled: the pool values them at intrinsic value at the current price.
      await l.checkPool();

      await l.settleSeries(ids.call, r.right, settlement);
      expect(await f.options.liveSeries(f.addr.weth)).to.deep.equal([BigInt(ids.otm), BigInt(ids.put)]);
      expect(await f.options.settledOpenSeries()).to.deep.equal([BigInt(ids.call)]);
      await expect(f.options.settleSeries(ids.call, r.right))
        .to.be.revertedWithCustomError(f.options, "SeriesAlreadySettled")
        .withArgs(ids.call);
      await l.checkPool(); // the call at its payoff, the others at intrinsic value
      await l.settleSeries(ids.put, r.right, settlement);
      await l.settleSeries(ids.otm, r.right, settlement);
      expect(await f.options.liveSeries(f.addr.weth)).to.deep.equal([]);
      expect(await f.options.settledOpenSeries()).to.deep.equal([BigInt(ids.call), BigInt(ids.put), BigInt(ids.otm)]);
      // Every series left the exposure: back to zero.
      const e = await f.options.exposureOf(f.addr.weth);
      expect([e.netDelta, e.netVega]).to.deep.equal([0n, 0n]);
      const liability = await l.checkPool();

      await expect(f.options.settlePosition(n.erin, ids.call))
        .to.be.revertedWithCustomError(f.options, "NoPosition")
        .withArgs(n.erin, ids.call);
      const S = settlement * TICK;
      // long ITM call: floor(1.234567890123456789 x 50.12345678) in units
      const longCall = await l.settlePosition(n.alice, ids.call, erin);
      expect(longCall).to.equal(mulWad(wad("1.234567890123456789"), S - wad("3000")) / SCALE);
      // short ITM call: rounded toward -infinity
      const shortCall = await l.settlePosition(n.bob, ids.call);
      expect(shortCall).to.equal(-((mulWadUp(wad("0.987654321987654321"), S - wad("3000")) + SCALE - 1n) / SCALE));
      expect(await f.options.settledOpenSeries()).to.deep.equal([BigInt(ids.otm), BigInt(ids.put)]);
      // long and short ITM puts
      expect(await l.settlePosition(n.carol, ids.put)).to.equal(mulWad(wad("2.5"), wad("3100") - S) / SCALE);
      const shortPut = await l.settlePosition(n.dave, ids.put);
      expect(shortPut).to.equal(-((mulWadUp(wad("1.333333333333333333"), wad("3100") - S) + SCALE - 1n) / SCALE));
      // OTM: zero both ways, the positions close
      expect(await l.settlePosition(n.alice, ids.otm)).to.equal(0n);
      expect(await l.settlePosition(n.bob, ids.otm)).to.equal(0n);
      expect(await f.options.settledOpenSeries()).to.deep.equal([]);
      for (const acct of Object.values(n)) expect(await f.options.accountSeries(acct)).to.deep.equal([]);
      // The pool: no liability left, totalAssets is its cash.
      expect(await l.checkPool()).to.equal(0n);
      expect(await f.pool.totalAssets()).to.equal(await f.usdc.balanceOf(f.addr.pool));
      expect(liability).to.be.greaterThan(0n);
    });

    it("settles while opening is paused and the current price is Degraded", async function () {
      const { f, l, expiry, ids, n } = await settling();
      await f.riskConfig.setPaused(OPEN_POSITION, ETH, true);
      await l.push(f.addr.weth, feed("3040"), expiry - 1800n);
      await l.push(f.addr.weth, feed("3100"), expiry);
      const right = await f.ethFeed.latestRound();
      await f.oracle.poke(f.addr.weth);
      await l.push(f.addr.weth, feed("3900"), expiry + 60n); // +25.8%: the breaker trips
      await f.oracle.poke(f.addr.weth);
      expect((await f.oracle.getPrice(f.addr.weth)).status).to.equal(STATUS_DEGRADED);
      for (const id of [ids.call, ids.put, ids.otm]) await l.settleSeries(id, right, feed("3100"));
      expect(await l.settlePosition(n.alice, ids.call)).to.equal(
        mulWad(wad("1.234567890123456789"), wad("100")) / SCALE,
      );
      expect(await l.settlePosition(n.dave, ids.put)).to.equal(0n);
      expect(await l.settlePosition(n.bob, ids.otm)).to.equal(0n);
      await l.checkPool();
    });
  });

  describe("pool", function () {
    it("totalAssets carries the option liability exactly, live, settled and after settlement", async function () {
      const { f, l, call, put } = await trading();
      const { alice, bob, carol, dave } = f;
      const n = f.ids;
      await l.trade(alice, n.alice, call, wad("5.5"));
      const afterOne = await l.checkPool();
      // traders net long calls: the liability is at the higher value, rounded up
      const g = await l.greeks(l.s(call), wad("3000"), f.expiry - (await l.now()));
      expect(afterOne).to.equal((mulWadUp(wad("5.5"), g.price) + SCALE - 1n) / SCALE);
      await l.trade(bob, n.bob, call, -wad("7.25")); // traders now net short calls
      await l.trade(carol, n.carol, put, wad("1.1"));
      await l.trade(dave, n.dave, put, -wad("0.4"));
      await time.increase(1000);
      await l.checkPool();
      await l.push(f.addr.weth, feed("2890.5"));
      await l.checkPool();
      // settle at expiry
      await l.push(f.addr.weth, feed("2880"), f.expiry - 600n);
      await l.push(f.addr.weth, feed("2750.25"), f.expiry + 5n);
      const round = await f.ethFeed.latestRound();
      await l.settleSeries(call, round, feed("2750.25"));
      await l.checkPool();
      await l.settleSeries(put, round, feed("2750.25"));
      const settled = await l.checkPool();
      // long OI x payoff rounded up - short OI x payoff rounded down, then up to units
      expect(settled).to.equal(
        (mulWadUp(wad("1.1"), wad("49.75")) - mulWad(wad("0.4"), wad("49.75")) + SCALE - 1n) / SCALE,
      );
      for (const [acct, id] of [
        [n.alice, call],
        [n.bob, call],
        [n.carol, put],
      ] as const) {
        await l.settlePosition(acct, id);
        await l.checkPool();
      }
      await l.settlePosition(n.dave, put);
      expect(await l.checkPool()).to.equal(0n);
      expect(await f.pool.totalAssets()).to.equal(l.book.pool);
    });
  });

  describe("end to end", function () {
    it("several traders, cross and isolated, through hourly prices to expiry and settlement, to the unit", async function () {
      const f = await loadOptionMarkets();
      const l = await ledgerOf(f);
      const [alice, bob, carol, dave, erin, frank] = f.traders;
      const cashOf = async () =>
        (await f.usdc.balanceOf(f.addr.accounts)) +
        (await f.usdc.balanceOf(f.addr.pool)) +
        (await f.usdc.balanceOf(f.addr.fund));
      const start = await cashOf();
      const t0 = await l.now();
      const expiry = gridExpiry(t0, 2n);
      const ids = {
        c3000: await l.list(f.addr.weth, wad("3000"), expiry, CALL),
        c3200: await l.list(f.addr.weth, wad("3200"), expiry, CALL),
        p3100: await l.list(f.addr.weth, wad("3100"), expiry, PUT),
        p2800: await l.list(f.addr.weth, wad("2800"), expiry, PUT),
      };
      const n = {
        alice: await l.open(alice, CROSS, 0, usdc("200000")),
        bob: await l.open(bob, ISOLATED, ETH, usdc("200000")),
        carol: await l.open(carol, CROSS, 0, usdc("150000")),
        dave: await l.open(dave, ISOLATED, ETH, usdc("100000")),
        erin: await l.open(erin, CROSS, 0, usdc("50000")),
        frank: await l.open(frank, ISOLATED, ETH, usdc("80000")),
      };
      const who = new Map<bigint, HardhatEthersSigner>([
        [n.alice, alice],
        [n.bob, bob],
        [n.carol, carol],
        [n.dave, dave],
        [n.erin, erin],
        [n.frank, frank],
      ]);
      // The hourly path ends at the settlement price 3057.31234567 (call 3000 and put 3100 in the money).
      const settlement = 305_731_234_567n;
      const hours = (expiry - t0) / HOUR; // pushes at t0 + h hours while before expiry (48 or more)
      const path = (h: bigint) => {
        const x = Number(h) / Number(hours + 1n);
        const wobble = 90 * Math.sin(Number(h) / 5) * (1 - x);
        return BigInt(Math.round((3057.31234567 + (3000 - 3057.31234567) * (1 - x) + wobble) * 1e8));
      };
      const plan = new Map<number, [bigint, number, string][]>([
        [
          1,
          [
            [n.alice, ids.c3000, "3.3"],
            [n.bob, ids.c3000, "-2.2"],
            [n.carol, ids.p3100, "1.7"],
            [n.dave, ids.p3100, "-4.05"],
          ],
        ],
        [
          3,
          [
            [n.erin, ids.c3200, "2.5"],
            [n.alice, ids.p2800, "-1.1"],
            [n.frank, ids.c3200, "-1.5"],
          ],
        ],
        [
          8,
          [
            [n.alice, ids.c3000, "-1"],
            [n.bob, ids.c3000, "0.5"],
          ],
        ],
        [
          15,
          [
            [n.carol, ids.p3100, "-3"],
            [n.dave, ids.p3100, "1.05"],
            [n.frank, ids.p2800, "-2.123456789012345678"],
          ],
        ],
        [
          24,
          [
            [n.erin, ids.c3200, "-2.5"],
            [n.frank, ids.p2800, "0.7"],
            [n.alice, ids.c3200, "0.9"],
          ],
        ],
        [
          36,
          [
            [n.bob, ids.p2800, "-1"],
            [n.carol, ids.c3000, "0.8"],
            [n.erin, ids.p3100, "0.333"],
          ],
        ],
      ]);
      const checkpoints = new Set([2, 10, 30, 40]);
      const premiums: bigint[] = [];
      for (let h = 1n; t0 + h * HOUR < expiry; h++) {
        const T = t0 + h * HOUR;
        await l.push(f.addr.weth, path(h), T);
        let k = 0n;
        for (const [acct, id, amount] of plan.get(Number(h)) ?? []) {
          const signer = who.get(acct) as HardhatEthersSigner;
          const size = amount.startsWith("-") ? -wad(amount.slice(1)) : wad(amount);
          premiums.push((await l.trade(signer, acct, id, size, { T: T + 10n + k })).premium);
          k += 1n;
        }
        if (checkpoints.has(Number(h))) await l.checkPool();
      }
      // The settlement round exactly at expiry, then one more.
      await l.push(f.addr.weth, settlement, expiry);
      const right = await f.ethFeed.latestRound();
      await l.push(f.addr.weth, settlement + 1_000_000n, expiry + HOUR);
      await l.checkPool(); // expired, unsettled: intrinsic value at the current price
      for (const id of Object.values(ids)) await l.settleSeries(id, right, settlement, frank);
      const e = await f.options.exposureOf(f.addr.weth);
      expect([e.netDelta, e.netVega]).to.deep.equal([0n, 0n]);
      await l.checkPool(); // settled, unpaid: payoffs
      const payoffs = new Map<bigint, bigint>();
      for (const [k, size] of l.positions) {
        if (size === 0n) continue;
        const [acct, id] = k.split("/");
        const units = await l.settlePosition(BigInt(acct), Number(id), carol);
        payoffs.set(BigInt(acct), (payoffs.get(BigInt(acct)) ?? 0n) + units);
      }
      // Every account and the pool against the ledger; nothing left open.
      for (const acct of Object.values(n)) {
        expect(await f.accounts.balanceOf(acct, f.addr.usdc)).to.equal(l.cash.get(acct));
        expect(await f.options.accountSeries(acct)).to.deep.equal([]);
      }
      expect(await f.options.settledOpenSeries()).to.deep.equal([]);
      expect(await f.options.liveSeries(f.addr.weth)).to.deep.equal([]);
      expect(await l.checkPool()).to.equal(0n);
      expect(await f.usdc.balanceOf(f.addr.pool)).to.equal(l.book.pool);
      expect(await f.pool.totalAssets()).to.equal(l.book.pool);
      // Conservation: what the accounts gained the pool lost, to the unit; cash only moved.
      let gained = 0n;
      for (const acct of Object.values(n)) gained += l.cash.get(acct) as bigint;
      const deposits = l.book.deposits;
      expect(gained - deposits + (l.book.pool - LP_LIQUIDITY)).to.equal(0n);
      expect(await cashOf()).to.equal(start + deposits);
      expect(await f.usdc.balanceOf(f.addr.accounts)).to.equal(deposits + LP_LIQUIDITY - l.book.pool);
      if (process.env.OPTION_REPORT) {
        console.table(
          Object.entries(n).map(([name, acct]) => ({
            name,
            beforeSettlement: ethers.formatUnits((l.cash.get(acct) as bigint) - (payoffs.get(acct) ?? 0n), 6),
            payoffs: ethers.formatUnits(payoffs.get(acct) ?? 0n, 6),
            final: ethers.formatUnits(l.cash.get(acct) as bigint, 6),
          })),
        );
        console.log("pool", ethers.formatUnits(l.book.pool, 6), "premiums", premiums.length);
      }
    });
  });

  describe("liquidation", function () {
    it("a cross account short calls under MM after a rise: the bidder takes the calls at the mark", async function () {
      const { f, l, call } = await trading();
      const { carol, grace } = f;
      const n = f.ids;
      const target = await l.open(grace, CROSS, 0, usdc("5000"));
      await l.trade(grace, target, call, -wad("10"));
      const lp = configuredLiquidation();
      await l.push(f.addr.weth, feed("3300"));
      expect(await f.liquidation.isLiquidatable(target)).to.equal(true);

      // The model at the liquidation's timestamp.
      const T = (await l.now()) + 5n;
      const S = wad("3300");
      const size = -wad("10");
      const unit = (await l.greeks(l.s(call), S, f.expiry - T)).price; // a short call's mark: at high
      const m = await crossMargin(f, l, [{ s: l.s(call), size }], S, T);
      const stable = (l.cash.get(target) as bigint) * SCALE;
      const equity = stable + m.equity;
      const mtm = stable + m.value;
      expect(m.value).to.equal(-mulWadUp(wad("10"), unit));
      expect(equity < BigInt(m.mm)).to.equal(true);
      const feeUnits = (() => {
        const fee = (mulWadUp(m.mm, lp.fee) + SCALE - 1n) / SCALE;
        return fee < mtm / SCALE ? fee : mtm / SCALE;
      })();
      const offset = equity <= 0n ? lp.fastDuration : (lp.fastDuration * (m.mm - equity)) / m.mm;
      const discount =
        offset < lp.fastDuration
          ? lp.startDiscount + ((lp.fastDiscount - lp.startDiscount) * offset) / lp.fastDuration
          : lp.fastDiscount;
      const equityAfterFee = equity - feeUnits * SCALE;
      const mtmAfterFee = mtm - feeUnits * SCALE;
      const buffer = mulWadUp(m.mm, WAD + lp.buffer);
      const gap = buffer - equityAfterFee;
      const paid = mulWad(mtmAfterFee, WAD - discount);
      const maxFraction = ((gap + 2n * SCALE) * WAD + gap + paid - 1n) / (gap + paid);
      expect(maxFraction < WAD && mtmAfterFee > lp.dustThreshold).to.equal(true);
      const fraction = maxFraction;
      const price = (mulWadUp(mulWadUp(mtmAfterFee, fraction), WAD - discount) + SCALE - 1n) / SCALE;
      const moved = (size * fraction) / WAD; // toward zero
      const fromOptions = toUnitsDown(-mulWadUp(-moved, unit));
      const toOptions = toUnitsDown(mulWad(-moved, unit));
      // the stablecoin-and-PnL share handed over: fraction x (MtM - other collateral (none)), floored
      const cashMoved = toUnitsDown((mtmAfterFee * fraction) / WAD);
      expect(mtmAfterFee > 0n).to.equal(true);
      const fromDelta = fromOptions - cashMoved + price - feeUnits;
      const toDelta = toOptions + cashMoved - price;

      const before = {
        target: await f.accounts.balanceOf(target, f.addr.usdc),
        bidder: await f.accounts.balanceOf(n.carol, f.addr.usdc),
        fund: await f.usdc.balanceOf(f.addr.fund),
        pool: await f.usdc.balanceOf(f.addr.pool),
        accounts: await f.usdc.balanceOf(f.addr.accounts),
      };
      const nonce = await f.accounts.nonce(target);
      await time.setNextBlockTimestamp(T);
      await expect(f.liquidation.connect(carol).liquidate(target, fraction, ethers.MaxInt256, n.carol, nonce))
        .to.emit(f.options, "OptionLiquidated")
        .withArgs(target, n.carol, call, moved, unit);
      expect(await f.options.positionOf(target, call)).to.equal(size - moved);
      expect(await f.options.positionOf(n.carol, call)).to.equal(moved);
      expect(await f.accounts.balanceOf(target, f.addr.usdc)).to.equal(before.target + fromDelta);
      expect(await f.accounts.balanceOf(n.carol, f.addr.usdc)).to.equal(before.bidder + toDelta);
      expect(await f.usdc.balanceOf(f.addr.fund)).to.equal(before.fund + feeUnits);
      // cash only moved: accounts + pool + fund unchanged
      expect(
        (await f.usdc.balanceOf(f.addr.fund)) +
          (await f.usdc.balanceOf(f.addr.pool)) +
          (await f.usdc.balanceOf(f.addr.accounts)),
      ).to.equal(before.fund + before.pool + before.accounts);
      // The series' open interest is unchanged (short to short).
      const c = await f.options.series(call);
      expect([c.longOpenInterest, c.shortOpenInterest]).to.deep.equal([0n, wad("10")]);
      if (process.env.OPTION_REPORT) {
        console.table({ unit, mm: m.mm, equity, mtm, feeUnits, discount, fraction, moved, price, fromDelta, toDelta });
      }
    });
  });

  describe("OptionLens", function () {
    it("quote equals BlackScholesHarness.greeks", async function () {
      const f = await loadOptionMarkets();
      const cases: [bigint, bigint, bigint, bigint, boolean][] = [
        [wad("3000"), wad("3000"), wad("0.7"), 7n * DAY_S, CALL],
        [wad("3000"), wad("2500"), wad("0.7"), 7n * DAY_S, PUT],
        [wad("3123.45"), wad("4000"), wad("1.3"), 90n * DAY_S, CALL],
        [wad("61000"), wad("55000"), wad("0.6"), HOUR, PUT],
        [wad("2000"), wad("1500"), wad("0.35"), 1n, CALL],
      ];
      for (const c of cases) {
        const q = await f.optionLens.quote(...c);
        const g = await f.bs.greeks(...c);
        expect([q.price, q.delta, q.gamma, q.vega]).to.deep.equal([g.price, g.delta, g.gamma, g.vega]);
      }
    });

    it("quotePremium equals the trade's premium (buy and sell, call and put, with exposure)", async function () {
      const { f, l, call, put } = await trading();
      const { alice, bob, carol, dave } = f;
      const n = f.ids;
      const steps: [HardhatEthersSigner, bigint, number, bigint][] = [
        [alice, n.alice, call, wad("3.5")],
        [bob, n.bob, call, -wad("1.25")],
        [carol, n.carol, put, wad("2.75")],
        [dave, n.dave, put, -wad("4")],
        [alice, n.alice, call, -wad("3.5")],
      ];
      for (const [signer, acct, id, amount] of steps) {
        const T = (await l.now()) + 7n;
        await time.setNextBlockTimestamp(T);
        // eth_call on the pending block: the timestamp the trade will run at
        const quoted = await f.optionLens.quotePremium(id, amount, { blockTag: "pending" });
        const r = await l.trade(signer, acct, id, amount, { T });
        expect(quoted).to.equal(r.premium);
      }
      await expect(f.optionLens.quotePremium(call, 0n)).to.be.revertedWithCustomError(f.options, "ZeroAmount");
      await expect(f.optionLens.quotePremium(9, wad("1")))
        .to.be.revertedWithCustomError(f.options, "UnknownSeries")
        .withArgs(9);
    });
  });
});
