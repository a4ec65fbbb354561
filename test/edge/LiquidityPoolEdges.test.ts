import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import type { LiquidityPool, ReentrantToken } from "../../typechain-types";

const COOLDOWN = 3600n;
const CLAIM_WINDOW = 3600n;
const UNITS = 10n ** 18n;

/** A pool whose asset calls back into the pool on every transfer; alice holds 1,000 of it. */
async function poolOfReentrantToken() {
  const [admin, alice] = await ethers.getSigners();
  const token = (await (await ethers.getContractFactory("ReentrantToken")).deploy()) as unknown as ReentrantToken;
  const tokenAddress = await token.getAddress();
  const pool = (await (
    await ethers.getContractFactory("LiquidityPool")
  ).deploy(tokenAddress, admin.address, COOLDOWN, CLAIM_WINDOW)) as unknown as LiquidityPool;
  const poolAddress = await pool.getAddress();
  await token.mint(alice.address, 1000n * UNITS);
  await token.connect(alice).approve(poolAddress, ethers.MaxUint256);
  return { pool, poolAddress, token, tokenAddress, admin, alice };
}

describe("LiquidityPool edge cases", () => {
  it("refuses a deposit re-entered from the asset's transfer (ReentrancyGuardReentrantCall), nothing minted", async () => {
    const { pool, poolAddress, token, tokenAddress, alice } = await loadFixture(poolOfReentrantToken);
    await token.setCallback(poolAddress, pool.interface.encodeFunctionData("deposit", [1n, tokenAddress]));
    await expect(pool.connect(alice).deposit(10n * UNITS, alice.address)).to.be.revertedWithCustomError(
      pool,
      "ReentrancyGuardReentrantCall",
    );
    expect(await pool.totalSupply()).to.equal(0n);
    expect(await token.balanceOf(poolAddress)).to.equal(0n);
    expect(await token.balanceOf(alice.address)).to.equal(1000n * UNITS);
  });

  it("refuses a redemption re-entered from the asset's transfer during a deposit (ReentrancyGuardReentrantCall)", async () => {
    const { pool, poolAddress, token, tokenAddress, alice } = await loadFixture(poolOfReentrantToken);
    // Control: with the hook off, a zero redemption by a holder of no request goes through.
    await pool.connect(alice).redeem(0n, alice.address, alice.address);
    // A zero redemption passes ERC-4626's maxRedeem check, so only the guard stops it.
    await token.setCallback(poolAddress, pool.interface.encodeFunctionData("redeem", [0n, tokenAddress, tokenAddress]));
    await expect(pool.connect(alice).deposit(10n * UNITS, alice.address)).to.be.revertedWithCustomError(
      pool,
      "ReentrancyGuardReentrantCall",
    );
    expect(await pool.balanceOf(alice.address)).to.equal(0n);
    expect(await token.balanceOf(poolAddress)).to.equal(0n);
  });
});
