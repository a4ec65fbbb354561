import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { paramIndex } from "../../scripts/lib/params";
import { networkConfig } from "../../config/networks";
import { WAD, TICK, CROSS, ETH, ETH_PRICE, usdc, wad } from "../helpers/marginModel";
import { CALL, PUT, DAY_S, loadOptionMarkets, gridExpiry, mulWad, mulWadUp } from "../helpers/optionFixtures";
import type { OptionFixture } from "../helpers/optionFixtures";

// MarginEngine's portfolio grid where the unit tests do not reach it: option books with a perp on
// either side and strikes on either side of spot, settled and worthless expired options in the
// book, a price bracket (low != high) and a shock of 99% or more. The expected requirement is
// computed here from MarginEngine's documented grid (below, in bigint), from the positions'
// inputs as the markets report them (PerpMarket / OptionMarket accountRisk) and from
// Black-Scholes unit values of BlackScholesHarness: never read back from the engine.

const S0 = ETH_PRICE * TICK; // 3000e18
const MAX = ethers.MaxUint256;
const WETH_TWAP = networkConfig("hardhat").oracles.assets.find((a) => a.symbol === "WETH")!.twap;

const abs = (x: bigint) => (x < 0n ? -x : x);
const mulDivUp = (x: bigint, y: bigint, d: bigint) => (x * y + d - 1n) / d;
const mulDiv = (x: bigint, y: bigint, d: bigint) => (x * y) / d;

type PerpRisk = Awaited<ReturnType<OptionFixture["perps"]["accountRisk"]>>[number];
type OptRisk = Awaited<ReturnType<OptionFixture["options"]["accountRisk"]>>[number];

/** MarginEngine._portfolioMargin, independently: [MM, IM] of a cross account's positions. */
async function portfolioMargin(f: OptionFixture, perps: PerpRisk[], opts: OptRisk[]): Promise<[bigint, bigint]> {
  interface Book {
    underlying: string;
    signedNotional: bigint;
    shock: bigint;
    im: bigint;
    spot: bigint;
    low: bigint;
    high: bigint;
    hasOptions: boolean;
  }
  const books = new Map<string, Book>();
  const bookOf = (u: string): Book => {
    let b = books.get(u);
    if (b === undefined) {
      b = { underlying: u, signedNotional: 0n, shock: 0n, im: 0n, spot: 0n, low: 0n, high: 0n, hasOptions: false };
      books.set(u, b);
    }
    return b;
  };
  for (const r of perps) {
    const b = bookOf(r.underlying);
    b.spot = r.price.price;
    b.signedNotional += r.size >= 0n ? r.notional : -r.notional;
    if (r.shockRatio > b.shock) b.shock = r.shockRatio;
    if (r.imMultiplier > b.im) b.im = r.imMultiplier;
  }
  for (const o of opts) {
    if (o.settled) continue;
    const b = bookOf(o.underlying);
    b.spot = o.price.price;
    b.low = o.price.low;
    b.high = o.price.high;
    b.hasOptions = true;
    if (o.spotShock > b.shock) b.shock = o.spotShock;
    if (o.imMultiplier > b.im) b.im = o.imMultiplier;
  }

  const optionsLoss = async (b: Book, spot: bigint, v: number): Promise<bigint> => {
    let loss = 0n;
    for (const o of opts) {
      if (o.settled || o.underlying !== b.underlying) continue;
      const vol = v === 0 ? o.volatility : v === 1 ? o.volatilityUp : o.volatilityDown;
      const unit = await f.bs.price(spot, o.strike, vol, o.secondsToExpiry, o.isCall);
      let value = 0n;
      if (o.size > 0n) {
        if (o.value > 0n) value = mulDiv(mulWad(o.size, unit), o.equityValue, o.value);
      } else value = -mulWadUp(-o.size, unit);
      loss += o.equityValue - value;
    }
    return loss;
  };
  const perpLoss = (b: Book, down: boolean, steps: bigint): bigint => {
    if (steps === 0n || b.signedNotional === 0n) return 0n;
    const n = abs(b.signedNotional);
    if (down === b.signedNotional > 0n) return mulWadUp(n, mulDivUp(b.shock, steps, 3n));
    return -mulWad(n, mulDiv(b.shock, steps, 3n));
  };
  const perpLossAt = (b: Book, spot: bigint): bigint => {
    if (b.signedNotional === 0n || spot === b.spot) return 0n;
    const n = abs(b.signedNotional);
    const fell = spot < b.spot;
    const change = fell ? b.spot - spot : spot - b.spot;
    return fell === b.signedNotional > 0n ? mulDivUp(n, change, b.spot) : -mulDiv(n, change, b.spot);
  };

  let mm = 0n;
  let im = 0n;
  for (const b of books.values()) {
    let worst = 0n;
    const at = async (spot: bigint, pl: bigint, vols: number[]) => {
      for (const v of vols) {
        const loss = pl + (await optionsLoss(b, spot, v));
        if (loss > worst) worst = loss;
      }
    };
    if (b.hasOptions) {
      for (let k = 0n; k < 7n; k++) {
        const down = k < 3n;
        const steps = down ? 3n - k : k - 3n;
        const move = mulDivUp(b.shock, steps, 3n);
        const spot = down
          ? move >= wad("0.99")
            ? b.low / 100n
            : mulWad(b.low, WAD - move)
          : mulWad(b.high, WAD + move);
        await at(spot, perpLoss(b, down, steps), [0, 1, 2]);
        if (steps === 0n && b.low !== b.high) await at(b.low, 0n, [0, 1, 2]);
      }
      const lowest = b.shock >= wad("0.99") ? 0n : mulWad(b.low, WAD - b.shock);
      const highest = mulWad(b.high, WAD + b.shock);
      const seen = new Set<bigint>();
      for (const o of opts) {
        if (o.settled || o.underlying !== b.underlying || o.strike <= lowest || o.strike >= highest) continue;
        if (seen.has(o.strike)) continue;
        seen.add(o.strike);
        const pl = perpLossAt(b, o.strike);
        await at(o.strike, pl, [0, 2]);
      }
    } else {
      for (let steps = 1n; steps <= 3n; steps++) {
        const loss = mulWadUp(abs(b.signedNotional), mulDivUp(b.shock, steps, 3n));
        if (loss > worst) worst = loss;
      }
    }
    mm += worst;
    im += mulWadUp(worst, b.im);
  }
  return [mm, im];
}

async function ready() {
  const f = await loadOptionMarkets();
  const [alice, bob] = f.traders;
  const now = async () => BigInt(await time.latest());
  const open = (owner: HardhatEthersSigner) => f.openAccount(owner, CROSS, 0, usdc("200000"));
  const option = (owner: HardhatEthersSigner, id: bigint, seriesId: number, amount: bigint) =>
    f.options.connect(owner).tradeOption(id, seriesId, amount, amount > 0n ? MAX : 0n);
  const perp = (owner: HardhatEthersSigner, id: bigint, delta: bigint) =>
    f.perps.connect(owner).modifyPosition(id, ETH, delta, delta > 0n ? MAX : 0n);
  /** The engine's [MM, IM] of `id` against the model's, from the markets' reports at the same block. */
  async function expectGrid(id: bigint): Promise<[bigint, bigint]> {
    const [perps, opts, m] = await Promise.all([
      f.perps.accountRisk(id),
      f.options.accountRisk(id),
      f.engine.accountMargin(id),
    ]);
    const expected = await portfolioMargin(f, perps, opts);
    expect([m.maintenanceMargin, m.initialMargin]).to.deep.equal(expected);
    return expected;
  }
  return { ...f, alice, bob, now, open, option, perp, expectGrid };
}

describe("MarginEngine edge cases", () => {
  it("rejects a zero accounts, perp market, option market or oracle (ZeroAddress)", async () => {
    const f = await ready();
    const factory = await ethers.getContractFactory("MarginEngine");
    const args = [f.addr.accounts, f.addr.perps, f.addr.options, await f.oracle.getAddress()];
    for (let i = 0; i < args.length; i++) {
      const a = args.map((x, j) => (j === i ? ethers.ZeroAddress : x));
      await expect(factory.deploy(a[0], a[1], a[2], a[3])).to.be.revertedWithCustomError(factory, "ZeroAddress");
    }
    const ok = await factory.deploy(args[0], args[1], args[2], args[3]);
    expect(await ok.settlementToken()).to.equal(f.addr.usdc);
  });

  it("revalues a perp book at the strikes on either side of spot: long perp and short perp, each with a call and a put", async () => {
    const f = await ready();
    const expiry = gridExpiry(await f.now(), 7n);
    const below = await f.listWethSeries(wad("2800"), expiry, CALL);
    const above = await f.listWethSeries(wad("3200"), expiry, PUT);
    const long = await f.open(f.alice);
    const short = await f.open(f.bob);
    for (const [owner, id, side] of [
      [f.alice, long, 1n],
      [f.bob, short, -1n],
    ] as const) {
      await f.perp(owner, id, side * wad("2"));
      await f.option(owner, id, below, -wad("1"));
      await f.option(owner, id, above, wad("1"));
    }
    // Strikes 2,800 and 3,200 are inside the grid's span (spot x (1 +- 10%)): each is a scenario.
    const [mmLong] = await f.expectGrid(long);
    const [mmShort] = await f.expectGrid(short);
    expect(mmLong).to.be.greaterThan(0n);
    expect(mmShort).to.be.greaterThan(0n);
  });

  it("leaves a settled series out of the grid while a live one of the same underlying is revalued", async () => {
    const f = await ready();
    const soon = gridExpiry(await f.now(), 1n);
    const settledId = await f.listWethSeries(S0, soon, CALL);
    const liveId = await f.listWethSeries(S0, gridExpiry(await f.now(), 14n), PUT);
    const id = await f.open(f.alice);
    await f.option(f.alice, id, settledId, -wad("1"));
    await f.option(f.alice, id, liveId, -wad("1"));
    await time.increaseTo(soon + DAY_S); // the settlement grace
    await f.options.settleSeriesByGovernance(settledId, wad("3050"));
    await f.ethFeed.push(ETH_PRICE);
    const opts = await f.options.accountRisk(id);
    expect(opts.map((o) => o.settled)).to.deep.equal([true, false]);
    // The settled short owes its payoff (50) in equity and nothing in the grid.
    expect(opts[0].value).to.equal(-wad("50"));
    const [mm] = await f.expectGrid(id);
    const alone = await portfolioMargin(f, [], [opts[1]]);
    expect(mm).to.equal(alone[0]);
  });

  it("counts an expired, worthless long (value 0) for nothing in any scenario", async () => {
    const f = await ready();
    const soon = gridExpiry(await f.now(), 1n);
    const worthless = await f.listWethSeries(wad("3300"), soon, CALL);
    const liveId = await f.listWethSeries(S0, gridExpiry(await f.now(), 14n), PUT);
    const id = await f.open(f.alice);
    await f.option(f.alice, id, worthless, wad("1"));
    await f.option(f.alice, id, liveId, -wad("1"));
    await time.increaseTo(soon + 60n); // expired, not settled
    await f.ethFeed.push(ETH_PRICE);
    const opts = await f.options.accountRisk(id);
    expect([opts[0].secondsToExpiry, opts[0].value, opts[0].equityValue]).to.deep.equal([0n, 0n, 0n]);
    const [mm] = await f.expectGrid(id);
    expect(mm).to.equal((await portfolioMargin(f, [], [opts[1]]))[0]);
  });

  it("adds the low end of a price bracket (low != high, Degraded) as a scenario of its own", async () => {
    const f = await ready();
    const id = await f.open(f.alice);
    const series = await f.listWethSeries(S0, gridExpiry(await f.now(), 7n), CALL);
    await f.option(f.alice, id, series, -wad("1"));
    // The TWAP back on, Chainlink 5% above it: poke flags the deviation (3%); both sources read.
    await f.oracle.setTwap(
      f.addr.weth,
      await f.ethPool.getAddress(),
      f.addr.usdc,
      WETH_TWAP.window,
      WETH_TWAP.minCardinality,
    );
    await time.increase(WETH_TWAP.window);
    await f.ethFeed.push(ETH_PRICE + ETH_PRICE / 20n);
    await f.oracle.poke(f.addr.weth);
    const p = await f.oracle.getPrice(f.addr.weth);
    expect(p.status).to.equal(1n); // Degraded
    expect(p.low).to.be.lessThan(p.high);
    const [r] = await f.options.accountRisk(id);
    expect([r.price.low, r.price.high]).to.deep.equal([p.low, p.high]);
    await f.expectGrid(id);
  });

  it("takes the whole book down to 1% of the low price when the shock is 99% or more", async () => {
    const f = await ready();
    const id = await f.open(f.alice);
    const series = await f.listWethSeries(wad("2500"), gridExpiry(await f.now(), 7n), PUT);
    await f.perp(f.alice, id, wad("1"));
    await f.option(f.alice, id, series, wad("1"));
    // The perp's size term: 50% x 1 / 0.5 = 100% once governance cuts MAX_POSITION_SIZE below it.
    await f.riskConfig.setParameter(paramIndex("MM_SIZE_FACTOR"), ETH, wad("0.5"));
    await f.riskConfig.setParameter(paramIndex("MAX_POSITION_SIZE"), ETH, wad("0.5"));
    const [perpRisk] = await f.perps.accountRisk(id);
    expect(perpRisk.shockRatio).to.equal(WAD);
    const [optionRisk] = await f.options.accountRisk(id);
    const [mm, im] = await f.expectGrid(id);
    // The perp alone loses its whole notional at -100%; the put pays part of it back.
    expect(mm).to.be.lessThanOrEqual(perpRisk.notional);
    const bookIm = perpRisk.imMultiplier > optionRisk.imMultiplier ? perpRisk.imMultiplier : optionRisk.imMultiplier;
    expect(im).to.equal(mulWadUp(mm, bookIm));
  });
});
