import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { paramIndex } from "../scripts/lib/params";
import { WAD, TICK, CROSS, ISOLATED, ETH, ETH_PRICE, usdc, wad, feed, abs, sqrtUp, divUp } from "./helpers/marginModel";
import type { RiskModel } from "./helpers/marginModel";
import { simOf } from "./helpers/fixtures";
import {
  CALL,
  PUT,
  DAY_S,
  SCALE,
  STATUS_OK,
  STATUS_DOWN,
  loadOptionMarkets,
  gridExpiry,
  mulWad,
  mulWadUp,
  optionValue,
  equityValueOf,
  shortTerm,
  tenorFactor,
  volatilityUp,
  volatilityDown,
  payoffOf,
  settledUnits,
} from "./helpers/optionFixtures";
import type { OptionFixture, OptionParams } from "./helpers/optionFixtures";

// Margin of option positions (OptionMarket.accountRisk and MarginEngine): the isolated accounts'
// static formulas, the tenor factor of the portfolio grid's volatility shocks, the portfolio grid
// itself side by side with the standard requirement, withdrawals, the liquidation trigger and
// expired / settled positions.
//
// Every expected figure is computed here in bigint from the formulas (README, IOptionMarket NatSpec)
// and from Black-Scholes unit values read from BlackScholesHarness (the same library, at the spot,
// strike, volatility and time the formula prescribes): never read back from the contract under test.
// Inputs read from the chain: the implied volatility, the perp volatility (sigma), the accounts'
// stablecoin balances (after premiums and fees, which the OptionMarket / PerpMarket tests check)
// and block timestamps. The fixture removes the TWAPs, so low = high = price = Chainlink.

const S0 = ETH_PRICE * TICK; // 3000e18
const MAX = ethers.MaxUint256;

/** IOptionMarket.OptionRisk as plain values (deep-equal friendly). */
interface Risk {
  seriesId: bigint;
  underlying: string;
  isCall: boolean;
  settled: boolean;
  strike: bigint;
  secondsToExpiry: bigint;
  size: bigint;
  price: bigint[];
  volatility: bigint;
  value: bigint;
  equityValue: bigint;
  maintenanceMargin: bigint;
  initialMargin: bigint;
  spotShock: bigint;
  volatilityUp: bigint;
  volatilityDown: bigint;
  imMultiplier: bigint;
}

/** One position as the test knows it. */
interface Pos {
  seriesId: number;
  strike: bigint;
  expiry: bigint;
  isCall: boolean;
  size: bigint;
}

type ChainRisk = Awaited<ReturnType<OptionFixture["options"]["accountRisk"]>>[number];

function plain(r: ChainRisk): Risk {
  return {
    seriesId: r.seriesId,
    underlying: r.underlying,
    isCall: r.isCall,
    settled: r.settled,
    strike: r.strike,
    secondsToExpiry: r.secondsToExpiry,
    size: r.size,
    price: [r.price.price, r.price.low, r.price.high, r.price.status],
    volatility: r.volatility,
    value: r.value,
    equityValue: r.equityValue,
    maintenanceMargin: r.maintenanceMargin,
    initialMargin: r.initialMargin,
    spotShock: r.spotShock,
    volatilityUp: r.volatilityUp,
    volatilityDown: r.volatilityDown,
    imMultiplier: r.imMultiplier,
  };
}

const bigMax = (a: bigint, b: bigint) => (a > b ? a : b);

/** ceil / floor of x * y / d (FixedPointMathLib.fullMulDivUp / fullMulDiv), non-negative. */
const mulDivUp = (x: bigint, y: bigint, d: bigint) => (x * y + d - 1n) / d;
const mulDiv = (x: bigint, y: bigint, d: bigint) => (x * y) / d;

/** A WAD figure as a number of USD, for the printed tables. */
const usd = (x: bigint) => Number(x) / 1e18;

// ---------------------------------------------------------------- fixture and helpers

async function ready() {
  const f = await loadOptionMarkets();
  const [alice, bob] = f.traders;
  const sim = simOf(f);
  const now = async () => BigInt(await time.latest());

  const h = {
    alice,
    bob,
    sim,
    now,
    async setParam(name: string, value: bigint) {
      await f.riskConfig.setParameter(paramIndex(name), BigInt(f.addr.weth), value);
    },
    /** The option parameters and effective implied volatility now. */
    params: () => f.readParams(f.addr.weth),
    /** An account with `deposit` USDC (model included). */
    async open(owner: HardhatEthersSigner, mode: number, marketId: number, deposit: bigint): Promise<bigint> {
      const id = await f.openAccount(owner, mode, marketId, deposit);
      sim.addAccount(id, mode);
      sim.credit(id, f.addr.usdc, deposit);
      return id;
    },
    async list(strike: bigint, expiry: bigint, isCall: boolean): Promise<number> {
      return f.listWethSeries(strike, expiry, isCall);
    },
    /** Buys (amount > 0) or sells at the widest premium limit. */
    async trade(owner: HardhatEthersSigner, id: bigint, seriesId: number, amount: bigint) {
      await f.options.connect(owner).tradeOption(id, seriesId, amount, amount > 0n ? MAX : 0n);
    },
    /** A perp trade, mirrored in the model (the PositionModified event checked against it). */
    async perpTrade(owner: HardhatEthersSigner, id: bigint, delta: bigint) {
      const tx = await f.perps.connect(owner).modifyPosition(id, ETH, delta, delta > 0n ? MAX : 0n);
      const block = await (await tx.wait())?.getBlock();
      if (block === undefined || block === null) throw new Error("block not found");
      const r = sim.trade(id, ETH, delta, BigInt(block.timestamp));
      await expect(tx)
        .to.emit(f.perps, "PositionModified")
        .withArgs(id, ETH, delta, r.fill, r.newSize, r.realized, r.funding, r.fee, r.units);
    },
    /** A fresh ETH round (8 decimals) in a block at `at` (if given); the model follows. */
    async setPrice(answer: bigint, at?: bigint) {
      if (at !== undefined) await time.setNextBlockTimestamp(at);
      await f.ethFeed.push(answer);
      sim.market(ETH).price = answer * TICK;
    },
    async stable(id: bigint): Promise<bigint> {
      return (await f.accounts.balanceOf(id, f.addr.usdc)) * SCALE;
    },
    /** Black-Scholes unit value from the harness. */
    unit(spot: bigint, strike: bigint, vol: bigint, seconds: bigint, isCall: boolean): Promise<bigint> {
      return f.bs.price(spot, strike, vol, seconds, isCall);
    },
    /**
     * accountRisk of a live (or expired, unsettled) position at time `t` with low = high =
     * `price`, from the formulas: unit at that spot (both ends equal), value, equity value, the
     * static short requirement, the grid inputs.
     */
    async expectedRisk(pos: Pos, t: bigint, price: bigint, p: OptionParams): Promise<Risk> {
      const seconds = pos.expiry > t ? pos.expiry - t : 0n;
      const iv = p.impliedVol;
      const unit = await f.bs.price(price, pos.strike, iv, seconds, pos.isCall);
      const short = pos.size < 0n;
      const mm = short ? mulWadUp(-pos.size, shortTerm(pos.isCall, pos.strike, price, unit, p)) : 0n;
      const factor = tenorFactor(seconds);
      return {
        seriesId: BigInt(pos.seriesId),
        underlying: f.addr.weth,
        isCall: pos.isCall,
        settled: false,
        strike: pos.strike,
        secondsToExpiry: seconds,
        size: pos.size,
        price: [price, price, price, STATUS_OK],
        volatility: iv,
        value: optionValue(pos.size, unit),
        equityValue: equityValueOf(pos.size, unit, p.haircut),
        maintenanceMargin: mm,
        initialMargin: short ? mulWadUp(mm, p.imMultiplier) : 0n,
        spotShock: p.mmSpot,
        volatilityUp: volatilityUp(iv, factor, p),
        volatilityDown: volatilityDown(iv, factor, p),
        imMultiplier: p.imMultiplier,
      };
    },
    /**
     * MarginEngine._gridLoss, independently (low = high here): spot x (1 + j s / 3), j = -3..3,
     * each at the volatility as is, up and down, then every distinct strike inside the grid's span
     * at the volatility as is and down; loss = perps' linear loss (rounded up, gains down) + Σ
     * (equity value - scenario value), a long's scenario value scaled by its equity / value share;
     * the worst, at least 0.
     */
    async gridLoss(spot: bigint, s: bigint, signedNotional: bigint, opts: Risk[]): Promise<bigint> {
      let worst = 0n;
      const absNotional = abs(signedNotional);
      const at = async (scenario: bigint, perpLoss: bigint, vols: number[]) => {
        for (const v of vols) {
          let loss = perpLoss;
          for (const o of opts) {
            const vol = v === 0 ? o.volatility : v === 1 ? o.volatilityUp : o.volatilityDown;
            const unit = await f.bs.price(scenario, o.strike, vol, o.secondsToExpiry, o.isCall);
            let value = 0n;
            if (o.size < 0n) value = optionValue(o.size, unit);
            else if (o.value > 0n) value = (mulWad(o.size, unit) * o.equityValue) / o.value;
            loss += o.equityValue - value;
          }
          worst = bigMax(worst, loss);
        }
      };
      for (let k = 0n; k < 7n; k++) {
        const down = k < 3n;
        const steps = down ? 3n - k : k - 3n;
        const move = mulDivUp(s, steps, 3n);
        let perpLoss = 0n;
        if (steps !== 0n && signedNotional !== 0n) {
          const adverse = down === signedNotional > 0n;
          perpLoss = adverse ? mulWadUp(absNotional, move) : -mulWad(absNotional, mulDiv(s, steps, 3n));
        }
        const scenario = down
          ? move >= wad("0.99")
            ? spot / 100n
            : mulWad(spot, WAD - move)
          : mulWad(spot, WAD + move);
        await at(scenario, perpLoss, [0, 1, 2]);
      }
      const lowest = s >= wad("0.99") ? 0n : mulWad(spot, WAD - s);
      const highest = mulWad(spot, WAD + s);
      const strikes = [...new Set(opts.map((o) => o.strike))].filter((k) => k > lowest && k < highest);
      for (const strike of strikes) {
        let perpLoss = 0n;
        if (signedNotional !== 0n && strike !== spot) {
          const fell = strike < spot;
          const change = fell ? spot - strike : strike - spot;
          perpLoss =
            fell === signedNotional > 0n ? mulDivUp(absNotional, change, spot) : -mulDiv(absNotional, change, spot);
        }
        await at(strike, perpLoss, [0, 2]);
      }
      return worst;
    },
    async risks(id: bigint): Promise<Risk[]> {
      return (await f.options.accountRisk(id)).map(plain);
    },
    async margin(id: bigint): Promise<[bigint, bigint, bigint]> {
      const m = await f.engine.accountMargin(id);
      return [m.equity, m.initialMargin, m.maintenanceMargin];
    },
  };
  return { ...f, ...h };
}

type Ready = Awaited<ReturnType<typeof ready>>;

/** The perp positions of an account per the model, at the latest block. */
async function perpRisks(f: Ready, id: bigint): Promise<RiskModel[]> {
  return f.sim.risks(id, await f.now());
}

// ---------------------------------------------------------------- tests

describe("Option margin", () => {
  describe("static (isolated) formulas", () => {
    interface Case {
      name: string;
      strike: bigint;
      isCall: boolean;
      size: bigint;
      /** Parameters changed before listing. */
      set?: [string, bigint][];
      /** The per-unit requirement by hand (shorts; `cap` = K - mark, from the harness). */
      term: (spot: bigint, unit: bigint) => bigint;
      /** What the case must exercise. */
      check?: (spot: bigint, unit: bigint, p: OptionParams) => void;
    }
    const cases: Case[] = [
      {
        name: "short call OTM: a S - OTM (above the floor)",
        strike: wad("3150"),
        isCall: CALL,
        size: wad("-2.5"),
        term: () => wad("150"), // 0.1 x 3000 - (3150 - 3000) = 150 > 0.02 x 3000 = 60
      },
      {
        name: "short call ITM: a S",
        strike: wad("2850"),
        isCall: CALL,
        size: wad("-1.5"),
        term: () => wad("300"), // OTM = 0
      },
      {
        name: "short call far OTM: the floor f S",
        strike: wad("3600"),
        isCall: CALL,
        size: wad("-3"),
        term: () => wad("60"), // 300 - 600 < 60
      },
      {
        name: "short put OTM: a S - OTM",
        strike: wad("2850"),
        isCall: PUT,
        size: wad("-2"),
        term: () => wad("150"), // 300 - (3000 - 2850) = 150 > 0.02 x 2850 = 57; K - mark is far larger
        check: (spot, unit) => expect(wad("2850") - unit > wad("150")).to.be.true,
      },
      {
        name: "short put ITM: a S",
        strike: wad("3150"),
        isCall: PUT,
        size: wad("-1"),
        term: () => wad("300"),
        check: (spot, unit) => expect(wad("3150") - unit > wad("300")).to.be.true,
      },
      {
        // a = 0.5 makes a S = 1500; at 800% implied volatility a deep ITM put is worth more than
        // K - 1500, so the cap (strike - mark: the most a put can still lose) binds.
        name: "short put where the cap K - mark binds (a 0.5, IV 8, deep ITM)",
        strike: wad("4500"),
        isCall: PUT,
        size: wad("-1.25"),
        set: [
          ["SHORT_OPTION_MM_SPOT", wad("0.5")],
          ["IMPLIED_VOL", wad("8")],
        ],
        term: (spot, unit) => wad("4500") - unit,
        check: (spot, unit) => expect(wad("4500") - unit < wad("1500")).to.be.true,
      },
      {
        name: "long call: MM = IM = 0, equity counts value x 0.8",
        strike: wad("3000"),
        isCall: CALL,
        size: wad("2.345678901234567891"),
        term: () => 0n,
      },
      {
        name: "long put: MM = IM = 0, equity counts value x 0.8",
        strike: wad("2900"),
        isCall: PUT,
        size: wad("1.7"),
        term: () => 0n,
      },
    ];

    for (const c of cases) {
      it(c.name, async () => {
        const f = await ready();
        for (const [name, value] of c.set ?? []) await f.setParam(name, value);
        const p = await f.params();
        if (c.set?.some(([n]) => n === "IMPLIED_VOL")) expect(p.impliedVol).to.equal(wad("8"));
        const expiry = gridExpiry(await f.now(), 32n);
        const seriesId = await f.list(c.strike, expiry, c.isCall);
        const id = await f.open(f.alice, ISOLATED, ETH, usdc("50000"));
        await f.trade(f.alice, id, seriesId, c.size);

        const t = await f.now();
        const seconds = expiry - t;
        expect(seconds >= 30n * DAY_S).to.be.true; // tenor factor 1
        // low = high = 3000: the end worse for the holder is 3000 whichever it is.
        const unit = await f.unit(S0, c.strike, p.impliedVol, seconds, c.isCall);
        c.check?.(S0, unit, p);
        const absSize = abs(c.size);
        const long = c.size > 0n;
        const value = long ? mulWad(absSize, unit) : -mulWadUp(absSize, unit);
        const equityValue = long ? mulWad(mulWad(absSize, unit), wad("0.8")) : value;
        const term = c.term(S0, unit);
        if (!long) expect(term).to.equal(shortTerm(c.isCall, c.strike, S0, unit, p)); // the shared model agrees
        const mm = long ? 0n : mulWadUp(absSize, term);
        const im = mulWadUp(mm, wad("1.5"));
        const expected: Risk = {
          seriesId: BigInt(seriesId),
          underlying: f.addr.weth,
          isCall: c.isCall,
          settled: false,
          strike: c.strike,
          secondsToExpiry: seconds,
          size: c.size,
          price: [S0, S0, S0, STATUS_OK],
          volatility: p.impliedVol,
          value,
          equityValue,
          maintenanceMargin: mm,
          initialMargin: im,
          spotShock: p.mmSpot,
          // F = 1 (T >= 30 days): iv x 1.5 up, iv x 0.7 down.
          volatilityUp: mulWadUp(p.impliedVol, wad("1.5")),
          volatilityDown: mulWad(p.impliedVol, wad("0.7")),
          imMultiplier: wad("1.5"),
        };
        expect(await f.risks(id)).to.deep.equal([expected]);
        // And the engine: standard margin is the option's own figures, equity = stable + equity value.
        const stable = await f.stable(id);
        expect(await f.margin(id)).to.deep.equal([stable + equityValue, im, mm]);
      });
    }
  });

  describe("tenor factor of the portfolio volatility shocks", () => {
    it("is 1 from 30 days up (90 and 30 days), ceil sqrt(30/7) at 7 days, 3 at 1 day and after expiry", async () => {
      const f = await ready();
      const p = await f.params();
      const t0 = await f.now();
      const far = ((t0 + 90n * DAY_S) / DAY_S) * DAY_S; // the last grid expiry within MAX_EXPIRY
      const seriesId = await f.list(S0, far, CALL);
      const id = await f.open(f.alice, ISOLATED, ETH, usdc("10000"));
      await f.trade(f.alice, id, seriesId, wad("1"));
      const iv = p.impliedVol;

      const shocks = async () => {
        const [r] = await f.risks(id);
        return [r.secondsToExpiry, r.volatilityUp, r.volatilityDown];
      };
      const seconds90 = far - (await f.now());
      expect(seconds90 > 88n * DAY_S).to.be.true; // the last grid day within 90 days
      expect(await shocks()).to.deep.equal([seconds90, mulWadUp(iv, wad("1.5")), mulWad(iv, wad("0.7"))]);

      // T = 30 days exactly: still 1.
      await f.setPrice(ETH_PRICE, far - 30n * DAY_S);
      expect(await shocks()).to.deep.equal([30n * DAY_S, mulWadUp(iv, wad("1.5")), mulWad(iv, wad("0.7"))]);

      // T = 7 days: F = sqrt(30/7) rounded up = 2.070196678027062654.
      const f7 = sqrtUp(divUp(30n * WAD * WAD, 7n));
      expect(f7).to.equal(2_070196678027062654n);
      expect(tenorFactor(7n * DAY_S)).to.equal(f7);
      await f.setPrice(ETH_PRICE, far - 7n * DAY_S);
      const up7 = mulWadUp(iv, WAD + mulWadUp(wad("0.5"), f7));
      const down7 = mulWad(iv, WAD - mulWadUp(wad("0.3"), f7));
      if (iv === wad("0.7")) {
        expect([up7, down7]).to.deep.equal([1_424568837309471929n, 265258697614316842n]);
      }
      expect(await shocks()).to.deep.equal([7n * DAY_S, up7, down7]);

      // T = 1 day (9 T <= 30 days): F = 3, up = iv x 2.5, down: 1 - 0.9 hits the 10% floor.
      await f.setPrice(ETH_PRICE, far - DAY_S);
      expect(await shocks()).to.deep.equal([DAY_S, mulWadUp(iv, wad("2.5")), mulWad(iv, wad("0.1"))]);

      // After expiry, not settled: T = 0, F = 3.
      await f.setPrice(ETH_PRICE, far + 600n);
      expect(await shocks()).to.deep.equal([0n, mulWadUp(iv, wad("2.5")), mulWad(iv, wad("0.1"))]);
    });
  });

  describe("portfolio (cross) vs standard (isolated) margin", () => {
    it("naked call, covered call, call spread, straddle: cross MM from the grid, side by side", async () => {
      const f = await ready();
      const p = await f.params();
      expect(p.mmSpot).to.equal(wad("0.1"));
      const expiry = gridExpiry(await f.now(), 32n);
      const K = S0;
      const K2 = wad("3300");
      const callK = await f.list(K, expiry, CALL);
      const callK2 = await f.list(K2, expiry, CALL);
      const putK = await f.list(K, expiry, PUT);
      const leg = (seriesId: number, strike: bigint, isCall: boolean, size: bigint): Pos => ({
        seriesId,
        strike,
        expiry,
        isCall,
        size,
      });
      const books: { name: string; perp: bigint; legs: Pos[] }[] = [
        { name: "naked short call", perp: 0n, legs: [leg(callK, K, CALL, -WAD)] },
        { name: "covered call", perp: WAD, legs: [leg(callK, K, CALL, -WAD)] },
        { name: "call spread 3000/3300", perp: 0n, legs: [leg(callK, K, CALL, WAD), leg(callK2, K2, CALL, -WAD)] },
        { name: "short straddle", perp: 0n, legs: [leg(callK, K, CALL, -WAD), leg(putK, K, PUT, -WAD)] },
      ];

      const accounts: { isolated: bigint; cross: bigint }[] = [];
      for (const b of books) {
        const pair = {
          isolated: await f.open(f.alice, ISOLATED, ETH, usdc("100000")),
          cross: await f.open(f.alice, CROSS, 0, usdc("100000")),
        };
        for (const id of [pair.isolated, pair.cross]) {
          if (b.perp !== 0n) await f.perpTrade(f.alice, id, b.perp);
          for (const l of b.legs) await f.trade(f.alice, id, l.seriesId, l.size);
        }
        accounts.push(pair);
      }

      const t = await f.now();
      expect(expiry - t >= 30n * DAY_S).to.be.true;
      const table: Record<string, { isolatedMM: number; crossMM: number; ratio: number }> = {};
      const ratios: bigint[] = [];
      for (let i = 0; i < books.length; i++) {
        const b = books[i];
        const expected = await Promise.all(b.legs.map((l) => f.expectedRisk(l, t, S0, p)));
        const optionsEquity = expected.reduce((a, r) => a + r.equityValue, 0n);

        // Standard: per position, the perp's notional x its shock ratio, each short its static formula.
        const iso = accounts[i].isolated;
        expect(await f.risks(iso)).to.deep.equal(expected);
        const isoPerps = await perpRisks(f, iso);
        let isoMm = expected.reduce((a, r) => a + r.maintenanceMargin, 0n);
        let isoIm = expected.reduce((a, r) => a + r.initialMargin, 0n);
        let isoPnl = 0n;
        for (const r of isoPerps) {
          const positionMm = mulWadUp(r.notional, r.shockRatio);
          isoMm += positionMm;
          isoIm += mulWadUp(positionMm, r.imMultiplier);
          isoPnl += r.pnl;
        }
        expect(await f.margin(iso)).to.deep.equal([(await f.stable(iso)) + isoPnl + optionsEquity, isoIm, isoMm]);

        // Portfolio: the grid, s = max(perp shock ratio, SHORT_OPTION_MM_SPOT), IM = MM x 1.5.
        const cross = accounts[i].cross;
        expect(await f.risks(cross)).to.deep.equal(expected);
        const crossPerps = await perpRisks(f, cross);
        let s = p.mmSpot;
        let signed = 0n;
        let crossPnl = 0n;
        for (const r of crossPerps) {
          s = bigMax(s, r.shockRatio);
          signed += r.size >= 0n ? r.notional : -r.notional;
          crossPnl += r.pnl;
        }
        if (crossPerps.length > 0) expect(s).to.equal(p.mmSpot); // the perp's ratio (~3.8%) is below 10%
        const crossMm = await f.gridLoss(S0, s, signed, expected);
        const crossIm = mulWadUp(crossMm, wad("1.5"));
        expect(await f.margin(cross)).to.deep.equal([
          (await f.stable(cross)) + crossPnl + optionsEquity,
          crossIm,
          crossMm,
        ]);
        const ratio = (crossMm * WAD) / isoMm;
        ratios.push(ratio);
        table[b.name] = { isolatedMM: usd(isoMm), crossMM: usd(crossMm), ratio: usd(ratio) };
      }
      console.table(table);

      // Hedges pay off in the portfolio: the covered call's perp offsets the short call (its
      // worst scenario is a fall with volatility up, where it is a synthetic short put), the
      // spread's long leg caps the short's loss.
      const [naked, covered, spread, straddle] = ratios;
      expect(covered < wad("0.7")).to.be.true;
      expect(spread < wad("0.6")).to.be.true;
      // Two shorts on one strike never lose on both sides at once.
      expect(straddle < wad("0.6")).to.be.true;
      expect(naked > 0n).to.be.true;
    });
  });

  describe("withdrawals", () => {
    it("a long option's value never backs a withdrawal", async () => {
      const f = await ready();
      const p = await f.params();
      const expiry = gridExpiry(await f.now(), 32n);
      const call = await f.list(S0, expiry, CALL);
      const put = await f.list(wad("2850"), expiry, PUT);
      const id = await f.open(f.alice, ISOLATED, ETH, usdc("4000"));
      await f.trade(f.alice, id, call, wad("10"));
      await f.trade(f.alice, id, put, wad("-1"));
      const legs: Pos[] = [
        { seriesId: call, strike: S0, expiry, isCall: CALL, size: wad("10") },
        { seriesId: put, strike: wad("2850"), expiry, isCall: PUT, size: wad("-1") },
      ];

      // Now (latest block): withdrawable equity = equity - the long's equity value.
      let t = await f.now();
      let [longRisk, shortRisk] = await Promise.all(legs.map((l) => f.expectedRisk(l, t, S0, p)));
      const stable = await f.stable(id);
      const balance = stable / SCALE;
      expect(await f.margin(id)).to.deep.equal([
        stable + longRisk.equityValue + shortRisk.equityValue,
        shortRisk.initialMargin,
        shortRisk.maintenanceMargin,
      ]);
      expect(await f.engine.withdrawableEquity(id)).to.equal(stable + shortRisk.equityValue);

      // A withdrawal at t: what must stay so that stable + the short's value covers IM.
      t += 10n;
      [longRisk, shortRisk] = await Promise.all(legs.map((l) => f.expectedRisk(l, t, S0, p)));
      const im = shortRisk.initialMargin;
      const keep = divUp(im - shortRisk.equityValue, SCALE); // units
      // One unit less: the long's haircut value would cover it many times over, but does not count.
      const short = (keep - 1n) * SCALE + shortRisk.equityValue;
      expect(short < im).to.be.true;
      expect(short + longRisk.equityValue >= im).to.be.true;
      await time.setNextBlockTimestamp(t);
      await expect(f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, balance - keep + 1n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, short, im);
      // Exactly enough left (the reverted transaction took the block at t): it passes.
      t += 1n;
      [longRisk, shortRisk] = await Promise.all(legs.map((l) => f.expectedRisk(l, t, S0, p)));
      const enough = divUp(shortRisk.initialMargin - shortRisk.equityValue, SCALE);
      await time.setNextBlockTimestamp(t);
      await f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, balance - enough);
      expect(await f.accounts.balanceOf(id, f.addr.usdc)).to.equal(enough);
      expect(await f.engine.withdrawableEquity(id)).to.equal(enough * SCALE + shortRisk.equityValue);
      expect(await f.margin(id)).to.deep.equal([
        enough * SCALE + shortRisk.equityValue + longRisk.equityValue,
        shortRisk.initialMargin,
        shortRisk.maintenanceMargin,
      ]);
    });
  });

  describe("liquidation trigger", () => {
    it("a cross short call becomes liquidatable after a price rise", async () => {
      const f = await ready();
      const p = await f.params();
      const expiry = gridExpiry(await f.now(), 32n);
      const call = await f.list(S0, expiry, CALL);
      const id = await f.open(f.bob, CROSS, 0, usdc("500"));
      await f.trade(f.bob, id, call, wad("-1"));
      const pos: Pos = { seriesId: call, strike: S0, expiry, isCall: CALL, size: wad("-1") };
      const stable = await f.stable(id);

      const at = async (price: bigint) => {
        const r = await f.expectedRisk(pos, await f.now(), price, p);
        expect(await f.risks(id)).to.deep.equal([r]);
        const mm = await f.gridLoss(price, p.mmSpot, 0n, [r]);
        return { equity: stable + r.equityValue, mm, im: mulWadUp(mm, wad("1.5")) };
      };
      const before = await at(S0);
      expect(await f.margin(id)).to.deep.equal([before.equity, before.im, before.mm]);
      expect(before.equity > before.mm).to.be.true;
      expect(await f.engine.isLiquidatable(id)).to.be.false;

      await f.setPrice(feed("3450")); // +15%, below the breaker's 20%
      const after = await at(wad("3450"));
      expect(await f.margin(id)).to.deep.equal([after.equity, after.im, after.mm]);
      expect(after.equity < after.mm).to.be.true;
      expect(await f.engine.isLiquidatable(id)).to.be.true;
      console.table({
        "ETH 3000": { equity: usd(before.equity), MM: usd(before.mm) },
        "ETH 3450": { equity: usd(after.equity), MM: usd(after.mm) },
      });
    });
  });

  describe("expired and settled positions", () => {
    it("expired, unsettled: intrinsic value (T = 0) at the current price; settled: the settlement units, no price read", async () => {
      const f = await ready();
      const p = await f.params();
      const expiry = gridExpiry(await f.now(), 2n);
      const call = await f.list(wad("2950"), expiry, CALL);
      const put = await f.list(wad("3200"), expiry, PUT);
      const other = await f.list(wad("3100"), expiry, CALL);
      const iso = await f.open(f.alice, ISOLATED, ETH, usdc("20000"));
      const cross = await f.open(f.bob, CROSS, 0, usdc("20000"));
      const third = await f.open(f.bob, CROSS, 0, usdc("20000"));
      const longCall = wad("2.3");
      const shortPut = wad("-1.5");
      await f.trade(f.alice, iso, call, longCall);
      await f.trade(f.alice, iso, put, shortPut);
      await f.trade(f.bob, cross, call, wad("-1.3"));
      await f.trade(f.bob, third, other, wad("1"));
      const legs: Pos[] = [
        { seriesId: call, strike: wad("2950"), expiry, isCall: CALL, size: longCall },
        { seriesId: put, strike: wad("3200"), expiry, isCall: PUT, size: shortPut },
      ];

      // Past expiry, unsettled, at a new price: T = 0, valued at intrinsic value (a long counts
      // toward MM; the engine keeps it out of IM checks until settlement).
      const price = wad("3050.12345678");
      await f.setPrice(feed("3050.12345678"), expiry + 600n);
      const roundId = await f.ethFeed.latestRound();
      const t = await f.now();
      const expected = await Promise.all(legs.map((l) => f.expectedRisk(l, t, price, p)));
      // The harness at T = 0 is the intrinsic value exactly.
      const callIntrinsic = price - wad("2950"); // 100.12345678
      const putIntrinsic = wad("3200") - price; // 149.87654322
      expect(await f.unit(price, wad("2950"), p.impliedVol, 0n, CALL)).to.equal(callIntrinsic);
      expect(await f.unit(price, wad("3200"), p.impliedVol, 0n, PUT)).to.equal(putIntrinsic);
      expect(expected[0].value).to.equal(mulWad(longCall, callIntrinsic));
      expect(expected[0].equityValue).to.equal(mulWad(mulWad(longCall, callIntrinsic), wad("0.8")));
      expect(expected[1].value).to.equal(-mulWadUp(-shortPut, putIntrinsic));
      // The put's term: OTM = 0, a S = 305.01...; K - mark = 3050.12... is larger.
      expect(expected[1].maintenanceMargin).to.equal(mulWadUp(-shortPut, mulWadUp(price, wad("0.1"))));
      expect(expected.map((r) => r.secondsToExpiry)).to.deep.equal([0n, 0n]);
      expect(await f.risks(iso)).to.deep.equal(expected);
      const isoStable = await f.stable(iso);
      expect(await f.margin(iso)).to.deep.equal([
        isoStable + expected[0].equityValue + expected[1].equityValue,
        expected[1].initialMargin,
        expected[1].maintenanceMargin,
      ]);

      // Settle the two series of the isolated account (the first round at or after expiry).
      await f.options.settleSeries(call, roundId);
      await f.options.settleSeries(put, roundId);
      const callPayoff = payoffOf(CALL, wad("2950"), price);
      const putPayoff = payoffOf(PUT, wad("3200"), price);
      expect([callPayoff, putPayoff]).to.deep.equal([callIntrinsic, putIntrinsic]);
      // By hand: long 2.3 x 100.12345678 = 230.283950594 -> 230.283950 USDC (down);
      // short 1.5 x 149.87654322 = 224.81481483 -> -224.814815 USDC (toward -infinity);
      // short 1.3 x 100.12345678 = 130.160493814 -> -130.160494 USDC.
      const units = {
        longCall: 230_283950n,
        shortPut: -224_814815n,
        crossCall: -130_160494n,
      };
      expect(settledUnits(longCall, callPayoff)).to.equal(units.longCall);
      expect(settledUnits(shortPut, putPayoff)).to.equal(units.shortPut);
      expect(settledUnits(wad("-1.3"), callPayoff)).to.equal(units.crossCall);
      const settledRisk = (seriesId: number, strike: bigint, isCall: boolean, size: bigint, value: bigint): Risk => ({
        seriesId: BigInt(seriesId),
        underlying: f.addr.weth,
        isCall,
        settled: true,
        strike,
        secondsToExpiry: 0n,
        size,
        price: [price, price, price, STATUS_OK],
        volatility: 0n,
        value,
        equityValue: value, // no haircut once settled: it is what settlement pays
        maintenanceMargin: 0n,
        initialMargin: 0n,
        spotShock: 0n,
        volatilityUp: 0n,
        volatilityDown: 0n,
        imMultiplier: 0n,
      });
      const isoSettled = [
        settledRisk(call, wad("2950"), CALL, longCall, units.longCall * SCALE),
        settledRisk(put, wad("3200"), PUT, shortPut, units.shortPut * SCALE),
      ];
      const crossSettled = [settledRisk(call, wad("2950"), CALL, wad("-1.3"), units.crossCall * SCALE)];

      // A long time without a round: the feed is stale and the price Down.
      await time.increase(10n * DAY_S);
      expect((await f.oracle.getPrice(f.addr.weth)).status).to.equal(STATUS_DOWN);
      // Settled positions need no price: valued, and the engine answers, with MM = IM = 0.
      expect(await f.risks(iso)).to.deep.equal(isoSettled);
      expect(await f.risks(cross)).to.deep.equal(crossSettled);
      const crossStable = await f.stable(cross);
      expect(await f.margin(iso)).to.deep.equal([isoStable + (units.longCall + units.shortPut) * SCALE, 0n, 0n]);
      expect(await f.margin(cross)).to.deep.equal([crossStable + units.crossCall * SCALE, 0n, 0n]);
      expect(await f.engine.isLiquidatable(iso)).to.be.false;
      // An expired position of a series not settled yet still needs the price: Down, no valuation.
      await expect(f.engine.accountMargin(third))
        .to.be.revertedWithCustomError(f.options, "PriceDown")
        .withArgs(f.addr.weth);

      // Settling books exactly those units (the feed still Down): equity unchanged.
      await f.options.settlePosition(iso, call);
      await f.options.settlePosition(iso, put);
      await f.options.settlePosition(cross, call);
      expect(await f.stable(iso)).to.equal(isoStable + (units.longCall + units.shortPut) * SCALE);
      expect(await f.stable(cross)).to.equal(crossStable + units.crossCall * SCALE);
      expect(await f.margin(iso)).to.deep.equal([isoStable + (units.longCall + units.shortPut) * SCALE, 0n, 0n]);
      expect(await f.margin(cross)).to.deep.equal([crossStable + units.crossCall * SCALE, 0n, 0n]);
    });
  });
});
