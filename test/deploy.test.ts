import { expect } from "chai";
import { ethers } from "hardhat";
import { deployKeel } from "../scripts/lib/deployment";

describe("deployment", () => {
  it("lists USDC at weight 1 and WETH / WBTC at their configured haircuts and caps", async () => {
    const { accounts, usdc, weth, wbtc } = await deployKeel();
    expect(await accounts.collateralTokens()).to.deep.equal([
      await usdc.getAddress(),
      await weth.getAddress(),
      await wbtc.getAddress(),
    ]);
    const u = await accounts.collateral(usdc);
    expect([u.weight, u.cap, u.decimals, u.listed, u.totalDeposits]).to.deep.equal([
      ethers.parseUnits("1", 18),
      ethers.parseUnits("100000000", 6),
      6n,
      true,
      0n,
    ]);
    const e = await accounts.collateral(weth);
    expect([e.weight, e.cap, e.decimals]).to.deep.equal([
      ethers.parseUnits("0.85", 18),
      ethers.parseUnits("50000", 18),
      18n,
    ]);
    const b = await accounts.collateral(wbtc);
    expect([b.weight, b.cap, b.decimals]).to.deep.equal([
      ethers.parseUnits("0.8", 18),
      ethers.parseUnits("2000", 8),
      8n,
    ]);
  });
});
