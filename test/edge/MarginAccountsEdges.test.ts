import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { deployKeel } from "../../scripts/lib/deployment";
import type { ReentrantToken } from "../../typechain-types";

const CROSS = 0;
const WAD = 10n ** 18n;
const usdcUnits = (v: string) => ethers.parseUnits(v, 6);
const wethUnits = (v: string) => ethers.parseUnits(v, 18);

/**
 * deployKeel (the deployer still admin) with settlement connected to the real pool and fund,
 * alice (account 1) and bob (account 2) cross accounts, alice holding USDC and WBTC in account 1.
 */
async function keelWithSettlement() {
  const keel = await deployKeel();
  const [admin, alice, bob, stranger] = await ethers.getSigners();
  const addr = {
    accounts: await keel.accounts.getAddress(),
    usdc: await keel.usdc.getAddress(),
    wbtc: await keel.wbtc.getAddress(),
    pool: await keel.pool.getAddress(),
    fund: await keel.fund.getAddress(),
  };
  await keel.accounts.setSettlement(addr.pool, addr.fund);
  await keel.accounts.connect(alice).createAccount(CROSS, 0);
  await keel.accounts.connect(bob).createAccount(CROSS, 0);
  for (const token of [keel.usdc, keel.wbtc]) {
    await token.mint(alice.address, 10n ** 12n);
    await token.connect(alice).approve(addr.accounts, ethers.MaxUint256);
  }
  await keel.accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("1000"));
  return { ...keel, addr, admin, alice, bob, stranger };
}

/** keelWithSettlement plus a listed ReentrantToken alice holds 100 of (10 deposited in account 1). */
async function keelWithReentrantToken() {
  const f = await loadFixture(keelWithSettlement);
  const ree = (await (await ethers.getContractFactory("ReentrantToken")).deploy()) as unknown as ReentrantToken;
  const reeAddress = await ree.getAddress();
  await f.accounts.listCollateral(reeAddress, WAD / 2n, wethUnits("1000000"));
  await ree.mint(f.alice.address, wethUnits("100"));
  await ree.connect(f.alice).approve(f.addr.accounts, ethers.MaxUint256);
  await f.accounts.connect(f.alice).deposit(1, reeAddress, wethUnits("10"));
  return { ...f, ree, reeAddress };
}

describe("MarginAccounts edge cases", () => {
  describe("re-entry through a role holder", () => {
    it("refuses settle from a market re-entering mid-deposit (ReentrancyGuardReentrantCall), nothing booked", async () => {
      const { accounts, ree, reeAddress, alice, addr } = await keelWithReentrantToken();
      // The token itself holds MARKET_ROLE: the only way a settle can run inside a deposit.
      await accounts.grantRole(await accounts.MARKET_ROLE(), reeAddress);
      await ree.setCallback(addr.accounts, accounts.interface.encodeFunctionData("settle", [1n, -1n, 0n]));

      await expect(accounts.connect(alice).deposit(1, reeAddress, wethUnits("5"))).to.be.revertedWithCustomError(
        accounts,
        "ReentrancyGuardReentrantCall",
      );
      expect(await accounts.balanceOf(1, reeAddress)).to.equal(wethUnits("10"));
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("1000"));
      expect(await accounts.settlementDebt()).to.equal(0n);
    });

    it("refuses settleLiquidation from a liquidator re-entering mid-withdrawal (ReentrancyGuardReentrantCall)", async () => {
      const { accounts, ree, reeAddress, alice, addr } = await keelWithReentrantToken();
      await accounts.grantRole(await accounts.LIQUIDATOR_ROLE(), reeAddress);
      await ree.setCallback(
        addr.accounts,
        accounts.interface.encodeFunctionData("settleLiquidation", [1n, 2n, WAD, 0n, 0n, 0n, 0n]),
      );

      await expect(accounts.connect(alice).withdraw(1, reeAddress, wethUnits("5"))).to.be.revertedWithCustomError(
        accounts,
        "ReentrancyGuardReentrantCall",
      );
      expect(await accounts.balanceOf(1, reeAddress)).to.equal(wethUnits("10"));
      expect(await accounts.balanceOf(2, reeAddress)).to.equal(0n);
      expect(await accounts.nonce(1)).to.equal(0n);
      expect(await accounts.nonce(2)).to.equal(0n);
    });
  });

  describe("setSettlement", () => {
    it("is admin-only (AccessControlUnauthorizedAccount)", async () => {
      const { accounts, stranger, addr } = await loadFixture(keelWithSettlement);
      await expect(accounts.connect(stranger).setSettlement(addr.pool, addr.fund))
        .to.be.revertedWithCustomError(accounts, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, ethers.ZeroHash);
    });

    it("rejects a code-less pool, then a code-less fund (NotAContract), keeping the old pair", async () => {
      const { accounts, stranger, addr } = await loadFixture(keelWithSettlement);
      await expect(accounts.setSettlement(stranger.address, addr.fund))
        .to.be.revertedWithCustomError(accounts, "NotAContract")
        .withArgs(stranger.address);
      await expect(accounts.setSettlement(addr.pool, stranger.address))
        .to.be.revertedWithCustomError(accounts, "NotAContract")
        .withArgs(stranger.address);
      expect(await accounts.pool()).to.equal(addr.pool);
      expect(await accounts.insuranceFund()).to.equal(addr.fund);
    });
  });

  describe("debits of a negative stablecoin balance", () => {
    it("refuses a withdrawal and a transfer out of an account in debt (InsufficientBalance with the negative balance)", async () => {
      const { accounts, admin, alice, addr } = await loadFixture(keelWithSettlement);
      await accounts.grantRole(await accounts.MARKET_ROLE(), admin.address);
      // A loss of 1,500 USDC on 1,000 held: the balance goes to -500 (owed to the pool).
      await expect(accounts.settle(1, -usdcUnits("1500"), 0))
        .to.emit(accounts, "Settled")
        .withArgs(1n, -usdcUnits("1500"), 0n, usdcUnits("500"));
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(-usdcUnits("500"));

      await expect(accounts.connect(alice).withdraw(1, addr.usdc, 1n))
        .to.be.revertedWithCustomError(accounts, "InsufficientBalance")
        .withArgs(1n, addr.usdc, -usdcUnits("500"), 1n);
      await accounts.connect(alice).createAccount(CROSS, 0); // account 3, same owner
      await expect(accounts.connect(alice).transfer(1, 3, addr.usdc, 1n))
        .to.be.revertedWithCustomError(accounts, "InsufficientBalance")
        .withArgs(1n, addr.usdc, -usdcUnits("500"), 1n);
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(-usdcUnits("500"));
      expect(await accounts.settlementDebt()).to.equal(usdcUnits("500"));
    });
  });

  describe("seizure rounding", () => {
    it("moves nothing of a collateral whose share rounds to zero (no CollateralSeized), the rest as usual", async () => {
      const { accounts, admin, alice, addr, weth } = await loadFixture(keelWithSettlement);
      await accounts.grantRole(await accounts.LIQUIDATOR_ROLE(), admin.address);
      const wethAddress = await weth.getAddress();
      await weth.mint(alice.address, wethUnits("1"));
      await weth.connect(alice).approve(addr.accounts, ethers.MaxUint256);
      await accounts.connect(alice).deposit(1, addr.wbtc, 1n); // one satoshi: half of it is 0
      await accounts.connect(alice).deposit(1, wethAddress, 3n);

      const tx = accounts.settleLiquidation(1, 2, WAD / 2n, 0, 0, 0, 0);
      await expect(tx).to.emit(accounts, "CollateralSeized").withArgs(1n, 2n, wethAddress, 1n);
      const receipt = await (await tx).wait();
      const seized = receipt!.logs.filter(
        (l) => l.topics[0] === accounts.interface.getEvent("CollateralSeized").topicHash,
      );
      expect(seized.length).to.equal(1);
      expect(await accounts.balanceOf(1, addr.wbtc)).to.equal(1n);
      expect(await accounts.balanceOf(2, addr.wbtc)).to.equal(0n);
      expect(await accounts.balanceOf(1, wethAddress)).to.equal(2n);
      expect(await accounts.balanceOf(2, wethAddress)).to.equal(1n);
      expect(await accounts.nonce(1)).to.equal(1n);
      expect(await accounts.nonce(2)).to.equal(1n);
    });
  });
});
