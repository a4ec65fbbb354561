import { expect } from "chai";
import { ethers } from "hardhat";
import fc from "fast-check";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { PerpMathHarness } from "../typechain-types";

// Expected values are worked out by hand in the comments, or (property tests) from an exact
// bigint model of the same formula written independently below.

const wad = (value: string) => ethers.parseUnits(value, 18);
const DAY = 86_400n;

async function harness(): Promise<PerpMathHarness> {
  return ethers.deployContract("PerpMathHarness");
}

/** Exact model of the funding integral: the rate-days under a line clamped at +-cap, in WAD. */
function modelRateDays(rate: bigint, velocity: bigint, dt: bigint, cap: bigint): [bigint, bigint] {
  const r0 = rate > cap ? cap : rate < -cap ? -cap : rate;
  const end = r0 + (velocity * dt) / DAY;
  if (end <= cap && end >= -cap) return [end, ((r0 + end) * dt) / (2n * DAY)];
  const bound = end > cap ? cap : -cap;
  const toBound = ((bound - r0) * DAY) / velocity;
  return [bound, ((r0 + bound) * toBound) / (2n * DAY) + (bound * (dt - toBound)) / DAY];
}

describe("PerpMath", () => {
  describe("fillPrice", () => {
    it("fills a buy into a flat market at the oracle price plus half its own premium", async () => {
      const h = await loadFixture(harness);
      // premium 0 -> 10 / 1e6: average 5e-6; 2000 * 1.000005 = 2000.01
      expect(await h.fillPrice(wad("2000"), 0n, wad("10"), wad("1000000"))).to.equal(wad("2000.01"));
    });

    it("fills a trade that reduces the skew better than one that adds to it", async () => {
      const h = await loadFixture(harness);
      // skew +100: a sell of 50 averages (100 + 50) / 2 / 1e6 = 7.5e-5 -> 2000.15
      expect(await h.fillPrice(wad("2000"), wad("100"), wad("-50"), wad("1000000"))).to.equal(wad("2000.15"));
      // a buy of 50 averages (100 + 150) / 2 / 1e6 = 1.25e-4 -> 2000.25
      expect(await h.fillPrice(wad("2000"), wad("100"), wad("50"), wad("1000000"))).to.equal(wad("2000.25"));
      // against a short skew the seller pays the premium: (-100 - 150) / 2 / 1e6 -> 1999.75
      expect(await h.fillPrice(wad("2000"), wad("-100"), wad("-50"), wad("1000000"))).to.equal(wad("1999.75"));
    });

    it("rounds against the trader: up for a buy, down for a sell", async () => {
      const h = await loadFixture(harness);
      // 7 * (6 + 0 + 1) / 6 = 8.17 -> 9 for a buy; 7 * (6 + 0 - 1) / 6 = 5.83 -> 5 for a sell
      expect(await h.fillPrice(7n, 0n, 1n, 3n)).to.equal(9n);
      expect(await h.fillPrice(7n, 0n, -1n, 3n)).to.equal(5n);
    });

    it("prices at zero a trade whose average premium reaches -100%", async () => {
      const h = await loadFixture(harness);
      expect(await h.fillPrice(wad("2000"), wad("-2"), -1n, wad("1"))).to.equal(0n);
    });

    it("reverts ZeroSkewScale", async () => {
      const h = await loadFixture(harness);
      await expect(h.fillPrice(wad("2000"), 0n, 1n, 0n)).to.be.revertedWithCustomError(h, "ZeroSkewScale");
      await expect(h.fundingVelocity(0n, 0n, 1n)).to.be.revertedWithCustomError(h, "ZeroSkewScale");
    });
  });

  describe("fundingVelocity", () => {
    it("drifts in proportion to skew / skewScale, clamped at one skew scale either way", async () => {
      const h = await loadFixture(harness);
      expect(await h.fundingVelocity(wad("500000"), wad("1000000"), wad("3"))).to.equal(wad("1.5"));
      expect(await h.fundingVelocity(wad("3000000"), wad("1000000"), wad("3"))).to.equal(wad("3"));
      expect(await h.fundingVelocity(wad("-3000000"), wad("1000000"), wad("3"))).to.equal(wad("-3"));
      // -1 / 3e18 of a scale rounds toward zero
      expect(await h.fundingVelocity(-1n, wad("3"), wad("3"))).to.equal(0n);
    });
  });

  describe("accrueFunding", () => {
    it("integrates a rate that stays inside its bounds as a trapezoid", async () => {
      const h = await loadFixture(harness);
      // 0 -> 1.5 per day over one day: new rate 1.5, area 0.75 rate-days
      expect(await h.accrueFunding(0n, wad("1.5"), DAY, wad("2"))).to.deep.equal([wad("1.5"), wad("0.75")]);
    });

    it("integrates a rate that meets its upper bound as a trapezoid then a rectangle", async () => {
      const h = await loadFixture(harness);
      // cap 1 reached after 1 / 1.5 day = 57,600 s: 0.5 * 57,600 / 86,400 + 1 * 28,800 / 86,400
      // = 333333333333333333 + 333333333333333333 (each rounded toward zero)
      expect(await h.accrueFunding(0n, wad("1.5"), DAY, wad("1"))).to.deep.equal([wad("1"), 666_666_666_666_666_666n]);
    });

    it("integrates a falling rate that meets its lower bound", async () => {
      const h = await loadFixture(harness);
      // 0.5 falling 3 per day, floor -0.6: reached after 1.1 / 3 day = 31,680 s of a 43,200 s step.
      // (0.5 - 0.6) / 2 * 31,680 / 86,400 = -0.018333.. -> -18333333333333333; -0.6 * 11,520 / 86,400 = -0.08
      expect(await h.accrueFunding(wad("0.5"), wad("-3"), 43_200n, wad("0.6"))).to.deep.equal([
        wad("-0.6"),
        -98_333_333_333_333_333n,
      ]);
    });

    it("clamps a starting rate above a lowered bound before integrating", async () => {
      const h = await loadFixture(harness);
      // starts at 0.9, cap now 0.5, no drift: flat 0.5 for half a day
      expect(await h.accrueFunding(wad("0.9"), 0n, 43_200n, wad("0.5"))).to.deep.equal([wad("0.5"), wad("0.25")]);
    });

    it("matches an exact model of the clamped integral for any rate, velocity and interval (fast-check)", async () => {
      const h = await loadFixture(harness);
      const cap = wad("1");
      await fc.assert(
        fc.asyncProperty(
          fc.bigInt({ min: -cap, max: cap }),
          fc.bigInt({ min: wad("-10"), max: wad("10") }),
          fc.bigInt({ min: 0n, max: 30n * DAY }),
          async (rate, velocity, dt) => {
            const [newRate, rateDays] = await h.accrueFunding(rate, velocity, dt, cap);
            expect([newRate, rateDays]).to.deep.equal(modelRateDays(rate, velocity, dt, cap));
            expect(newRate <= cap && newRate >= -cap).to.equal(true);
          },
        ),
        { numRuns: 200, seed: 7 },
      );
    });
  });

  describe("pnl", () => {
    it("is size times the price move, for longs and shorts", async () => {
      const h = await loadFixture(harness);
      expect(await h.pnl(wad("2"), wad("2000"), wad("2100"))).to.equal(wad("200"));
      expect(await h.pnl(wad("-3"), wad("2000"), wad("2100"))).to.equal(wad("-300"));
      expect(await h.pnl(wad("-3"), wad("2000"), wad("1900"))).to.equal(wad("300"));
    });

    it("rounds toward negative infinity: a loss never understated, a profit never overstated", async () => {
      const h = await loadFixture(harness);
      expect(await h.pnl(1n, 0n, 1n)).to.equal(0n);
      expect(await h.pnl(-1n, 0n, 1n)).to.equal(-1n);
      expect(await h.pnl(3n, wad("1"), wad("1") + 333_333_333_333_333_334n)).to.equal(1n);
    });
  });
});
