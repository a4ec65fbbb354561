import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { PerpMathHarness } from "../../typechain-types";

const DAY = 86_400n;
const wad = (v: string) => ethers.parseUnits(v, 18);

async function harness() {
  return (await (await ethers.getContractFactory("PerpMathHarness")).deploy()) as unknown as PerpMathHarness;
}

describe("PerpMath edge cases", () => {
  it("clamps a starting rate below a lowered negative bound before integrating", async () => {
    const math = await loadFixture(harness);
    // Rate -20%/day, bound now 10%: it starts at -10% and drifts up 5% in the day to -5%;
    // the integral is the trapezoid (-10% - 5%) / 2 = -7.5% rate-days.
    const [rate, rateDays] = await math.accrueFunding(wad("-0.2"), wad("0.05"), DAY, wad("0.1"));
    expect(rate).to.equal(wad("-0.05"));
    expect(rateDays).to.equal(wad("-0.075"));
  });

  it("clamps it and stays at the bound when the drift pushes further down", async () => {
    const math = await loadFixture(harness);
    // Starts at -10% (clamped), velocity -5%/day: unclamped -15% is past the bound at once, so
    // the rate sits at -10% for the whole half day: -5% rate-days.
    const [rate, rateDays] = await math.accrueFunding(wad("-0.2"), wad("-0.05"), DAY / 2n, wad("0.1"));
    expect(rate).to.equal(wad("-0.1"));
    expect(rateDays).to.equal(wad("-0.05"));
  });
});
