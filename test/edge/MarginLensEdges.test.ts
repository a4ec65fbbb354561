import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { paramIndex } from "../../scripts/lib/params";
import { pricedMarkets } from "../helpers/fixtures";
import { WAD, TICK, CROSS, ETH, ETH_PRICE, usdc, wad } from "../helpers/marginModel";

const S0 = ETH_PRICE * TICK; // 3000e18

/** pricedMarkets with alice long and bob short 1 ETH, each in a cross account with 5,000 USDC. */
async function positions() {
  const signers = await ethers.getSigners();
  const [alice, bob] = signers.slice(2, 4);
  const f = await pricedMarkets({ liquidity: usdc("10000000"), traders: [alice, bob] });
  const ids: bigint[] = [];
  for (const [owner, delta] of [
    [alice, wad("1")],
    [bob, -wad("1")],
  ] as const) {
    const id = await f.accounts.nextAccountId();
    await f.accounts.connect(owner).createAccount(CROSS, 0);
    await f.accounts.connect(owner).deposit(id, f.addr.usdc, usdc("5000"));
    await f.perps.connect(owner).modifyPosition(id, ETH, delta, delta > 0n ? ethers.MaxUint256 : 0n);
    ids.push(id);
  }
  return { ...f, longId: ids[0], shortId: ids[1] };
}

describe("MarginLens edge cases", () => {
  it("gives no liquidation price where MM grows with the price exactly as fast as the position's value", async () => {
    const f = await loadFixture(positions);
    // Size term 50% x 1 / 0.5 = 100%: the shock ratio is exactly 1, so MM per unit of price equals
    // a long's size and equity - MM no longer moves with the price (slope 0).
    await f.riskConfig.setParameter(paramIndex("MM_SIZE_FACTOR"), ETH, wad("0.5"));
    await f.riskConfig.setParameter(paramIndex("MAX_POSITION_SIZE"), ETH, wad("0.5"));
    const [r] = await f.perps.accountRisk(f.longId);
    expect([r.shockRatio, r.notional]).to.deep.equal([WAD, S0]);
    const out = await f.lens.liquidationPrices(f.longId);
    expect(out.map((o) => [o.marketId, o.size, o.price, o.liquidationPrice])).to.deep.equal([
      [BigInt(ETH), wad("1"), S0, 0n],
    ]);

    // The short's MM per unit is rounded up to 1: slope -2, so its liquidation price is defined.
    const m = await f.engine.accountMargin(f.shortId);
    const gap = m.maintenanceMargin - m.equity;
    const [short] = await f.lens.liquidationPrices(f.shortId);
    expect(short.liquidationPrice).to.equal(S0 + (gap * WAD) / (-2n * WAD));
  });
});
