import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import { networkConfig } from "../../config/networks";
import { TICK, CROSS, ETH_PRICE, usdc, wad } from "../helpers/marginModel";
import { CALL, loadOptionMarkets, gridExpiry } from "../helpers/optionFixtures";

const S0 = ETH_PRICE * TICK;
const ETH_FEED = networkConfig("hardhat").oracles.assets.find((a) => a.symbol === "WETH")!.chainlink;
const MAX_AGE = BigInt(ETH_FEED.heartbeat + ETH_FEED.tolerance);

describe("OptionLiability edge cases", () => {
  it("refuses to value the pool's option liability while a held series' price is Down (PriceDown)", async () => {
    const f = await loadOptionMarkets();
    const [alice] = f.traders;
    const id = await f.listWethSeries(S0, gridExpiry(BigInt(await time.latest()), 7n), CALL);
    const account = await f.openAccount(alice, CROSS, 0, usdc("10000"));
    await f.options.connect(alice).tradeOption(account, id, wad("1"), ethers.MaxUint256);
    await time.increase(MAX_AGE + 1n);
    await expect(f.optionLiability.tradersUnrealizedPnl())
      .to.be.revertedWithCustomError(f.optionLiability, "PriceDown")
      .withArgs(f.addr.weth);
    // The pool's share price reads it: totalAssets refuses too.
    await expect(f.pool.totalAssets())
      .to.be.revertedWithCustomError(f.optionLiability, "PriceDown")
      .withArgs(f.addr.weth);
  });
});
