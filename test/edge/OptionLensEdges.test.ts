import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { networkConfig } from "../../config/networks";
import { TICK, ETH_PRICE, wad } from "../helpers/marginModel";
import { CALL, loadOptionMarkets, gridExpiry } from "../helpers/optionFixtures";

const S0 = ETH_PRICE * TICK;
const ETH_FEED = networkConfig("hardhat").oracles.assets.find((a) => a.symbol === "WETH")!.chainlink;
const MAX_AGE = BigInt(ETH_FEED.heartbeat + ETH_FEED.tolerance);

describe("OptionLens edge cases", () => {
  it("rejects a zero option market, oracle, risk config or accounts (ZeroAddress, from OptionReader)", async () => {
    const f = await loadOptionMarkets();
    const factory = await ethers.getContractFactory("OptionLens");
    const args = [f.addr.options, await f.oracle.getAddress(), f.addr.riskConfig, f.addr.accounts];
    for (let i = 0; i < args.length; i++) {
      const a = args.map((x, j) => (j === i ? ethers.ZeroAddress : x));
      await expect(factory.deploy(a[0], a[1], a[2], a[3])).to.be.revertedWithCustomError(factory, "ZeroAddress");
    }
    const ok = await factory.deploy(args[0], args[1], args[2], args[3]);
    expect(await ok.options()).to.equal(f.addr.options);
  });

  it("refuses to quote a series at or past its expiry (SeriesExpired)", async () => {
    const f = await loadOptionMarkets();
    const expiry = gridExpiry(BigInt(await time.latest()), 1n);
    const id = await f.listWethSeries(S0, expiry, CALL);
    await time.increaseTo(expiry);
    await expect(f.optionLens.quotePremium(id, wad("1")))
      .to.be.revertedWithCustomError(f.optionLens, "SeriesExpired")
      .withArgs(id, expiry);
  });

  it("refuses to quote while the underlying's price is Down (PriceDown)", async () => {
    const f = await loadOptionMarkets();
    const id = await f.listWethSeries(S0, gridExpiry(BigInt(await time.latest()), 7n), CALL);
    await time.increase(MAX_AGE + 1n);
    await expect(f.optionLens.quotePremium(id, wad("1")))
      .to.be.revertedWithCustomError(f.optionLens, "PriceDown")
      .withArgs(f.addr.weth);
  });
});
