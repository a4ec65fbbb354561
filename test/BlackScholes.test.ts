import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { BlackScholesHarness } from "../typechain-types";
import { bsD1, bsGreeks, fromWad, normCdf, normPdf, yearsOf } from "./helpers/blackScholesModel";
import { mulberry32 as prng } from "./helpers/random";

// Expected values come from the double-precision model in helpers/blackScholesModel.ts (written
// independently of the contract: series and continued fraction, where the contract uses Hart's
// rational function) and, for the textbook cases, from 50-digit mpmath.

const WAD = 10n ** 18n;
const HOUR = 3_600n;
const DAY = 86_400n;
const YEAR = 365n * DAY;
const wad = (v: string) => ethers.parseUnits(v, 18);

async function harness(): Promise<BlackScholesHarness> {
  // Deployed by the last signer: the deployer's nonce, and so the addresses the deploy scripts
  // give the mock tokens (whose order fixes the Uniswap pools' token0), stay as other files expect.
  const signers = await ethers.getSigners();
  return ethers.deployContract("BlackScholesHarness", signers[signers.length - 1]);
}

/** Runs `f` over `items` with at most `size` view calls in flight. */
async function inChunks<T, R>(items: T[], size: number, f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(f))));
  return out;
}

interface Case {
  spot: bigint;
  strike: bigint;
  vol: bigint;
  secs: bigint;
  isCall: boolean;
}

const describeCase = (c: Case) =>
  `${c.isCall ? "call" : "put"} S=${fromWad(c.spot)} K=${fromWad(c.strike)} vol=${fromWad(c.vol)} ` +
  `T=${Number(c.secs) / 3600}h`;
const args = (c: Case) => [c.spot, c.strike, c.vol, c.secs, c.isCall] as const;
const model = (c: Case) => bsGreeks(fromWad(c.spot), fromWad(c.strike), fromWad(c.vol), yearsOf(c.secs), c.isCall);
/** A ratio r of `spot`, to 1e-6. */
const times = (spot: bigint, r: number) => (spot * BigInt(Math.round(r * 1e6))) / 1_000_000n;

// The cartesian grid: spot 3000, every strike ratio x expiry x volatility, call and put (924 cases),
// calls and puts adjacent so parity can pair them.
const RATIOS = [0.5, 0.6, 0.75, 0.9, 0.97, 1, 1.03, 1.1, 1.3, 1.6, 2];
const EXPIRIES = [HOUR, 6n * HOUR, DAY, 7n * DAY, 30n * DAY, 90n * DAY, YEAR];
const VOLS = ["0.1", "0.25", "0.5", "0.8", "1.5", "3"];
const GRID: Case[] = RATIOS.flatMap((r) =>
  EXPIRIES.flatMap((secs) =>
    VOLS.flatMap((vol) =>
      [true, false].map((isCall) => ({
        spot: wad("3000"),
        strike: times(wad("3000"), r),
        vol: wad(vol),
        secs,
        isCall,
      })),
    ),
  ),
);
// Seeded random cases over the same ranges (log-uniform), across spot magnitudes.
const random = prng(20240611);
const logUniform = (lo: number, hi: number) => Math.exp(Math.log(lo) + random() * (Math.log(hi) - Math.log(lo)));
const SPOTS = ["0.05", "1.5", "3000", "60000", "1000000"];
const RANDOM: Case[] = Array.from({ length: 300 }, () => {
  const spot = wad(SPOTS[Math.floor(random() * SPOTS.length)]);
  return {
    spot,
    strike: times(spot, logUniform(0.5, 2)),
    secs: BigInt(Math.round(logUniform(3600, Number(YEAR)))),
    vol: BigInt(Math.round(logUniform(0.1, 3) * 1e6)) * 10n ** 12n,
    isCall: random() < 0.5,
  };
});

describe("BlackScholes", () => {
  describe("normCdf", () => {
    // x = -10, -9.99, ..., 10 (2001 points)
    const xs = Array.from({ length: 2001 }, (_, i) => BigInt(i) * 10n ** 16n - 10n * WAD);
    let values: bigint[];

    before(async () => {
      const h = await loadFixture(harness);
      values = await inChunks(xs, 100, (x) => h.normCdf(x));
    });

    it("is within 1e-9 of the reference on [-10, 10]", () => {
      let worst = 0;
      let at = 0;
      xs.forEach((x, i) => {
        // Compare the tails (exact in bigint: N(x) = 1 - N(-x) for x > 0), so doubles near 1 do
        // not hide the error.
        const tail = x < 0n ? values[i] : WAD - values[i];
        const error = Math.abs(fromWad(tail) - normCdf(-Math.abs(fromWad(x))));
        if (error > worst) [worst, at] = [error, fromWad(x)];
      });
      console.log(`      worst normCdf error: ${worst.toExponential(2)} absolute at x = ${at}`);
      expect(worst).to.be.lte(1e-9);
    });

    it("keeps 1e-9 relative accuracy in the lower tail down to x = -5 (N = 2.9e-7)", () => {
      let worst = 0;
      let at = 0;
      xs.forEach((x, i) => {
        if (x > 0n || x < -5n * WAD) return;
        const error = Math.abs(fromWad(values[i]) / normCdf(fromWad(x)) - 1);
        if (error > worst) [worst, at] = [error, fromWad(x)];
      });
      console.log(`      worst relative tail error: ${worst.toExponential(2)} at x = ${at}`);
      expect(worst).to.be.lte(1e-9);
    });

    it("is within 1 wei of the reference in the far lower tail (x <= -7: the continued fraction)", () => {
      let worst = 0;
      xs.forEach((x, i) => {
        if (x > -7n * WAD) return;
        worst = Math.max(worst, Math.abs(Number(values[i]) - normCdf(fromWad(x)) * 1e18));
      });
      console.log(`      worst far-tail error: ${worst.toFixed(3)} wei`);
      expect(worst).to.be.lte(1);
    });

    it("is symmetric to the wei, N(x) + N(-x) = 1e18, and non-decreasing on the grid", () => {
      for (let i = 0; i < xs.length; i++) {
        expect(values[i] + values[xs.length - 1 - i], `x = ${fromWad(xs[i])}`).to.equal(WAD);
        if (i > 0) expect(values[i], `x = ${fromWad(xs[i])}`).to.be.gte(values[i - 1]);
      }
    });

    it("gives 0.5 at 0, and 0 / 1e18 where the tail is below half a wei (|x| >= 9)", async () => {
      const h = await loadFixture(harness);
      expect(await h.normCdf(0n)).to.equal(WAD / 2n);
      expect(await h.normCdf(9n * WAD)).to.equal(WAD);
      expect(await h.normCdf(-9n * WAD)).to.equal(0n);
      expect(await h.normCdf(ethers.MaxInt256)).to.equal(WAD);
      expect(await h.normCdf(ethers.MinInt256)).to.equal(0n);
      // Just inside the cutoff the tail (1.1e-19) still rounds to 0.
      expect(await h.normCdf(-9n * WAD + 1n)).to.equal(0n);
      expect(await h.normCdf(9n * WAD - 1n)).to.equal(WAD);
      // N(-8) = 6.22e-16: 622 wei.
      expect(await h.normCdf(-8n * WAD)).to.equal(622n);
    });
  });

  describe("prices and greeks against the reference", () => {
    const cases = [...GRID, ...RANDOM];
    let results: Awaited<ReturnType<BlackScholesHarness["greeks"]>>[];

    before(async () => {
      const h = await loadFixture(harness);
      results = await inChunks(cases, 100, (c) => h.greeks(...args(c)));
    });

    it("prices within 1e-6 relative wherever the price exceeds 1e-6 x spot (below: within 1e-12 x spot)", () => {
      let worst = 0;
      let where = "";
      let worstSmall = 0;
      let checked = 0;
      cases.forEach((c, i) => {
        const expected = model(c).price;
        const got = fromWad(results[i].price);
        const spot = fromWad(c.spot);
        if (expected > 1e-6 * spot) {
          checked++;
          const error = Math.abs(got / expected - 1);
          if (error > worst) [worst, where] = [error, describeCase(c)];
        } else {
          worstSmall = Math.max(worstSmall, Math.abs(got - expected) / spot);
        }
      });
      console.log(`      ${checked} of ${cases.length} prices above 1e-6 x spot`);
      console.log(`      worst relative price error: ${worst.toExponential(2)} (${where})`);
      console.log(`      worst error of smaller prices: ${worstSmall.toExponential(2)} x spot`);
      expect(checked).to.be.gte(900);
      expect(worst).to.be.lte(1e-6);
      expect(worstSmall).to.be.lte(1e-12);
    });

    it("gives delta within 1e-8, with call delta in [0, 1] and put delta in [-1, 0]", () => {
      let worst = 0;
      let where = "";
      cases.forEach((c, i) => {
        const delta = results[i].delta;
        if (c.isCall) expect(delta >= 0n && delta <= WAD, describeCase(c)).to.equal(true);
        else expect(delta >= -WAD && delta <= 0n, describeCase(c)).to.equal(true);
        const error = Math.abs(fromWad(delta) - model(c).delta);
        if (error > worst) [worst, where] = [error, describeCase(c)];
      });
      console.log(`      worst delta error: ${worst.toExponential(2)} (${where})`);
      expect(worst).to.be.lte(1e-8);
    });

    it("gives gamma and vega within 1e-6 relative where not tiny (pdf(d1) and the value >= 1e-9)", () => {
      let worstGamma = 0;
      let worstVega = 0;
      let where = "";
      let checked = 0;
      cases.forEach((c, i) => {
        const expected = model(c);
        const [spot, vol, years] = [fromWad(c.spot), fromWad(c.vol), yearsOf(c.secs)];
        const pdf = normPdf(bsD1(spot, fromWad(c.strike), vol, years));
        const gamma = fromWad(results[i].gamma);
        const vega = fromWad(results[i].vega);
        // Everywhere: within 1e-12 in units of pdf(d1) (gamma = pdf / (S v), vega = S pdf sqrt(T)),
        // or within 2 wei, the resolution of a WAD output.
        const gammaUnit = 1 / (spot * vol * Math.sqrt(years));
        const vegaUnit = spot * Math.sqrt(years);
        expect(Math.abs(gamma - expected.gamma), describeCase(c)).to.be.lte(
          1e-6 * expected.gamma + 1e-12 * gammaUnit + 2e-18,
        );
        expect(Math.abs(vega - expected.vega), describeCase(c)).to.be.lte(
          1e-6 * expected.vega + 1e-12 * vegaUnit + 2e-18,
        );
        if (pdf < 1e-9) return;
        if (expected.gamma >= 1e-9) {
          checked++;
          const g = Math.abs(gamma / expected.gamma - 1);
          if (g > worstGamma) [worstGamma, where] = [g, describeCase(c)];
        }
        if (expected.vega >= 1e-9) worstVega = Math.max(worstVega, Math.abs(vega / expected.vega - 1));
      });
      console.log(`      worst gamma error: ${worstGamma.toExponential(2)} relative (${where}), ${checked} cases`);
      console.log(`      worst vega error: ${worstVega.toExponential(2)} relative`);
      expect(checked).to.be.gte(700);
      expect(worstGamma).to.be.lte(1e-6);
      expect(worstVega).to.be.lte(1e-6);
    });

    it("satisfies put-call parity C - P = S - K within 1e-9 x spot", () => {
      let worst = 0;
      for (let i = 0; i < GRID.length; i += 2) {
        const [call, put] = [GRID[i], GRID[i + 1]];
        expect(call.isCall && !put.isCall && call.strike === put.strike && call.secs === put.secs).to.equal(true);
        const gap = results[i].price - results[i + 1].price - (call.spot - call.strike);
        worst = Math.max(worst, Math.abs(Number(gap)) / Number(call.spot));
      }
      console.log(`      worst parity gap: ${worst.toExponential(2)} x spot`);
      expect(worst).to.be.lte(1e-9);
    });

    it("gives the same price and delta from price, priceDelta and greeks", async () => {
      const h = await loadFixture(harness);
      const sample = cases.filter((_, i) => i % 5 === 0);
      const pairs = await inChunks(sample, 100, async (c) => [
        await h.price(...args(c)),
        await h.priceDelta(...args(c)),
      ]);
      sample.forEach((c, j) => {
        const i = cases.indexOf(c);
        const [value, pd] = pairs[j] as [bigint, [bigint, bigint]];
        expect(value, describeCase(c)).to.equal(results[i].price);
        expect(pd[0], describeCase(c)).to.equal(results[i].price);
        expect(pd[1], describeCase(c)).to.equal(results[i].delta);
      });
    });
  });

  describe("textbook values (50-digit mpmath, zero rate)", () => {
    // kind, spot, strike, volatility, seconds, then price, delta, gamma, vega to 17 digits.
    const BOOK = `
    call   100   100 0.2 31536000 7.9655674554057963  0.53982783727702898    0.019847627373850588   39.695254747701177
    put    100   100 0.2 31536000 7.9655674554057963  -0.46017216272297102   0.019847627373850588   39.695254747701177
    call   100   110 0.3 15768000 4.7456838134580888  0.36571253838833081    0.01773055413118248    26.595831196773721
    put    100   110 0.3 15768000 14.745683813458089  -0.63428746161166919   0.01773055413118248    26.595831196773721
    put   2000  1500 0.8  2592000 19.825731977312402  -0.085500072871204876  0.00034072865124448394 89.616302793069748
    call  2000  1500 0.8  2592000 519.8257319773124   0.91449992712879512    0.00034072865124448394 89.616302793069748
    call     1     2   3 31536000 0.81432770414956013 0.89777071879236749    0.059447062656745346   0.17834118797023604
    call  3000  3000 0.6     3600 7.6723741634004961  0.50127872902723342    0.020743755401382329   12.787246480304176
    put   3000  2000 0.5  2592000 0.24216276956710942 -0.0018642773858577404 1.3831561301701254e-5  5.1157829472045733
    call 60000 66000 0.4   604800 60.601647768433057  0.045238175326722565   2.8640383702018237e-5  790.94539100368171`
      .trim()
      .split("\n")
      .map((line) => line.trim().split(/\s+/));

    // The first is the Hull-style at-the-money case: ~0.4 x sigma x sqrt(T) x S = 8.
    for (const [kind, spot, strike, vol, seconds, ...expected] of BOOK) {
      const isCall = kind === "call";
      const secs = BigInt(seconds);
      const [price, delta, gamma, vega] = expected.map(Number);
      const days = Number(secs) / 86_400;
      const name = `${kind} S=${spot} K=${strike} vol=${vol} T=${days >= 1 ? `${days}d` : `${days * 24}h`}`;
      it(`${name}: ${price}`, async () => {
        const h = await loadFixture(harness);
        const g = await h.greeks(wad(spot), wad(strike), wad(vol), secs, isCall);
        const rel = (x: number, y: number) => Math.abs(x / y - 1);
        expect(rel(fromWad(g.price), price)).to.be.lte(1e-9);
        expect(Math.abs(fromWad(g.delta) - delta)).to.be.lte(1e-9);
        expect(rel(fromWad(g.gamma), gamma)).to.be.lte(1e-9);
        expect(rel(fromWad(g.vega), vega)).to.be.lte(1e-9);
        // The reference model agrees with mpmath too.
        const m = bsGreeks(Number(spot), Number(strike), Number(vol), yearsOf(secs), isCall);
        expect(rel(m.price, price)).to.be.lte(1e-12);
        expect(Math.abs(m.delta - delta)).to.be.lte(1e-12);
      });
    }
  });

  describe("edge cases", () => {
    const S = wad("2000.123456789012345678");
    const K = wad("1500");

    for (const [label, vol, secs] of [
      ["at expiry", wad("0.8"), 0n],
      ["at zero volatility", 0n, 30n * DAY],
      ["when vol x sqrt(T) is below 1 wei", 1n, 1n],
    ] as const) {
      it(`prices ${label} at the intrinsic value to the wei, delta +-1 strictly in the money`, async () => {
        const h = await loadFixture(harness);
        const expectGreeks = async (spot: bigint, strike: bigint, isCall: boolean, price: bigint, delta: bigint) => {
          const g = await h.greeks(spot, strike, vol, secs, isCall);
          expect([g.price, g.delta, g.gamma, g.vega]).to.deep.equal([price, delta, 0n, 0n]);
          expect(await h.priceDelta(spot, strike, vol, secs, isCall)).to.deep.equal([price, delta]);
          expect(await h.price(spot, strike, vol, secs, isCall)).to.equal(price);
        };
        await expectGreeks(S, K, true, S - K, WAD); // call in the money
        await expectGreeks(S, K, false, 0n, 0n); // put out of the money
        await expectGreeks(K, S, false, S - K, -WAD); // put in the money
        await expectGreeks(K, S, true, 0n, 0n); // call out of the money
        await expectGreeks(S, S, true, 0n, 0n); // at the money: neither
        await expectGreeks(S, S, false, 0n, 0n);
      });
    }

    const MAX = 10n ** 36n;
    const OK: [bigint, bigint, bigint, bigint] = [wad("3000"), wad("3000"), wad("0.8"), 30n * DAY];
    const INVALID: [string, [bigint, bigint, bigint, bigint]][] = [
      ["spot is zero", [0n, OK[1], OK[2], OK[3]]],
      ["strike is zero", [OK[0], 0n, OK[2], OK[3]]],
      ["spot is above 1e36", [MAX + 1n, OK[1], OK[2], OK[3]]],
      ["strike is above 1e36", [OK[0], MAX + 1n, OK[2], OK[3]]],
      ["volatility is above 10,000%", [OK[0], OK[1], 100n * WAD + 1n, OK[3]]],
      ["the expiry is more than 10 years away", [OK[0], OK[1], OK[2], 10n * YEAR + 1n]],
      ["spot is zero, even at expiry", [0n, OK[1], OK[2], 0n]],
    ];
    for (const [label, input] of INVALID) {
      it(`reverts InvalidPricingInput when ${label}`, async () => {
        const h = await loadFixture(harness);
        for (const isCall of [true, false]) {
          await expect(h.price(...input, isCall))
            .to.be.revertedWithCustomError(h, "InvalidPricingInput")
            .withArgs(...input);
          await expect(h.priceDelta(...input, isCall))
            .to.be.revertedWithCustomError(h, "InvalidPricingInput")
            .withArgs(...input);
          await expect(h.greeks(...input, isCall))
            .to.be.revertedWithCustomError(h, "InvalidPricingInput")
            .withArgs(...input);
        }
      });
    }

    it("prices every corner of the input box without overflow, within no-arbitrage bounds", async () => {
      const h = await loadFixture(harness);
      const corners: Case[] = [];
      for (const spot of [1n, WAD, MAX])
        for (const strike of [1n, WAD, MAX])
          for (const vol of [1n, wad("0.01"), 100n * WAD])
            for (const secs of [1n, HOUR, 10n * YEAR])
              for (const isCall of [true, false]) corners.push({ spot, strike, vol, secs, isCall });
      const out = await inChunks(corners, 100, (c) => h.greeks(...args(c)));
      corners.forEach((c, i) => {
        const { price, delta } = out[i];
        // call in [max(S - K, 0), S], put in [max(K - S, 0), K]
        const [intrinsic, cap] = c.isCall
          ? [c.spot > c.strike ? c.spot - c.strike : 0n, c.spot]
          : [c.strike > c.spot ? c.strike - c.spot : 0n, c.strike];
        expect(price >= intrinsic && price <= cap, describeCase(c)).to.equal(true);
        expect(c.isCall ? delta >= 0n && delta <= WAD : delta >= -WAD && delta <= 0n, describeCase(c)).to.equal(true);
      });
    });

    it("never returns a negative price: deep out of the money is 0, not an underflow", async () => {
      const h = await loadFixture(harness);
      // 1h, 10%: the call at 2x spot is worth exp(-1e5)-ish, the put at 0.5x likewise.
      expect(await h.priceDelta(wad("3000"), wad("6000"), wad("0.1"), HOUR, true)).to.deep.equal([0n, 0n]);
      expect(await h.priceDelta(wad("3000"), wad("1500"), wad("0.1"), HOUR, false)).to.deep.equal([0n, 0n]);
      // ... and the in-the-money sides are exactly intrinsic, delta exactly +-1.
      expect(await h.priceDelta(wad("3000"), wad("1500"), wad("0.1"), HOUR, true)).to.deep.equal([wad("1500"), WAD]);
      expect(await h.priceDelta(wad("3000"), wad("6000"), wad("0.1"), HOUR, false)).to.deep.equal([wad("3000"), -WAD]);
    });
  });

  describe("gas", () => {
    // The 5,000-gas target is enforced by the gas benchmark (npm run bench:gas:check), not here:
    // coverage instrumentation changes gas. This test checks the measuring harness returns the
    // library's own results and prints the figures.
    it("priceDeltaGas returns priceDelta's results and a gas figure for each case", async () => {
      const h = await loadFixture(harness);
      const cases: [string, Case][] = [
        [
          "ATM call, 30d, 80%",
          { spot: wad("3000"), strike: wad("3000"), vol: wad("0.8"), secs: 30n * DAY, isCall: true },
        ],
        [
          "OTM put 0.75x, 7d, 60%",
          { spot: wad("3000"), strike: wad("2250"), vol: wad("0.6"), secs: 7n * DAY, isCall: false },
        ],
        [
          "ITM call 0.5x, 1y, 100%",
          { spot: wad("3000"), strike: wad("1500"), vol: wad("1"), secs: YEAR, isCall: true },
        ],
        [
          "OTM call 2x, 1h, 10% (tails cut)",
          { spot: wad("3000"), strike: wad("6000"), vol: wad("0.1"), secs: HOUR, isCall: true },
        ],
        ["at expiry", { spot: wad("3000"), strike: wad("2000"), vol: wad("0.8"), secs: 0n, isCall: true }],
      ];
      let worst = 0n;
      for (const [label, c] of cases) {
        const [price, delta, gasUsed] = await h.priceDeltaGas(...args(c));
        expect([price, delta]).to.deep.equal(await h.priceDelta(...args(c)));
        console.log(`      priceDelta ${label}: ${gasUsed} gas`);
        if (gasUsed > worst) worst = gasUsed;
      }
      // greeks' extra cost, from the difference of two whole calls (same calldata size).
      const c = cases[0][1];
      const extra = (await h.greeks.estimateGas(...args(c))) - (await h.priceDelta.estimateGas(...args(c)));
      console.log(`      greeks costs ${extra} gas more than priceDelta (estimateGas difference, ATM)`);
      expect(worst > 0n).to.equal(true);
    });
  });
});
