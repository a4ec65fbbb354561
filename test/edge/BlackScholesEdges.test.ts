import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { BlackScholesHarness } from "../../typechain-types";
import { bsPrice, fromWad, yearsOf } from "../helpers/blackScholesModel";

const WAD = 10n ** 18n;
const YEAR = 365n * 86_400n;

async function harness() {
  return (await (await ethers.getContractFactory("BlackScholesHarness")).deploy()) as unknown as BlackScholesHarness;
}

describe("BlackScholes edge cases", () => {
  // S = 1, K = 1e10, volatility 500% for 10 years: v = 5 sqrt(10) = 15.81, ln(K / S) / v = 1.456,
  // so d1 = 6.45 (a tail inside the cutoff) but -d2 = 9.36: N(d2) is past the cutoff, exactly 0.
  const spot = WAD;
  const strike = 10n ** 10n * WAD;
  const volatility = 5n * WAD;
  const seconds = 10n * YEAR;

  it("prices a far out-of-the-money call whose second leg is past the tail cutoff as S N(d1) exactly", async () => {
    const bs = await loadFixture(harness);
    const [value, delta] = await bs.priceDelta(spot, strike, volatility, seconds, true);
    // K N(d2) counts for nothing: the price is S x N(d1) = N(d1) here (S = 1), and delta is N(d1).
    expect(value).to.equal(delta);
    expect(value).to.be.lessThan(WAD);
    const model = bsPrice(1, 1e10, 5, yearsOf(seconds), true);
    expect(Math.abs(fromWad(value) - model) / model).to.be.lessThan(1e-9);
    // greeks() takes the same legs: same price and delta.
    const g = await bs.greeks(spot, strike, volatility, seconds, true);
    expect(g.price).to.equal(value);
    expect(g.delta).to.equal(delta);
  });

  it("keeps put-call parity to the wei there (the put is K - S plus the call)", async () => {
    const bs = await loadFixture(harness);
    const call = await bs.price(spot, strike, volatility, seconds, true);
    const [put, putDelta] = await bs.priceDelta(spot, strike, volatility, seconds, false);
    expect(put).to.equal(call + strike - spot);
    const [, callDelta] = await bs.priceDelta(spot, strike, volatility, seconds, true);
    expect(putDelta).to.equal(callDelta - WAD);
  });
});
