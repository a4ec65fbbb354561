import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { LiquidityPool } from "../typechain-types";
import { deployKeel } from "../scripts/lib/deployment";
import { networkConfig } from "../config/networks";

// Expected values are computed here with the formulas of OpenZeppelin's ERC4626 (v5) and the
// pool's decimals offset of 6, never read back from the contract under test:
//   shares = assets * (totalSupply + 10^6) / (totalAssets + 1)   (down: deposit, redeem checks; up: withdraw)
//   assets = shares * (totalAssets + 1) / (totalSupply + 10^6)   (down: redeem; up: mint)

const { cooldown, claimWindow } = networkConfig("hardhat").pool;
const COOLDOWN = BigInt(cooldown);
const CLAIM_WINDOW = BigInt(claimWindow);

const HOUR = 3600n;
const DAY = 24n * HOUR;
const MIN_COOLDOWN = HOUR;
const MAX_COOLDOWN = 14n * DAY;
const MIN_CLAIM_WINDOW = HOUR;
const MAX_CLAIM_WINDOW = 7n * DAY;
const COOLDOWN_PARAM = ethers.encodeBytes32String("COOLDOWN");
const CLAIM_WINDOW_PARAM = ethers.encodeBytes32String("CLAIM_WINDOW");
const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;

const VIRTUAL_SHARES = 10n ** 6n; // 10 ** _decimalsOffset()
const VIRTUAL_ASSETS = 1n;

const usdc = (amount: string) => ethers.parseUnits(amount, 6);
const MINTED = usdc("1000000");
const ALICE_DEPOSIT = usdc("1000");
const BOB_DEPOSIT = usdc("3000");
/** Profit given to the pool by plain transfer, so that the share price is not a round number. */
const DONATION = 123_456_789n;

/** OpenZeppelin Math.mulDiv with Floor / Ceil rounding. */
function mulDiv(x: bigint, y: bigint, denominator: bigint, roundUp = false): bigint {
  const q = (x * y) / denominator;
  return roundUp && (x * y) % denominator !== 0n ? q + 1n : q;
}

/** ERC4626._convertToShares for a pool holding `totalAssets` against `supply` shares. */
function toShares(assets: bigint, supply: bigint, totalAssets: bigint, roundUp = false): bigint {
  return mulDiv(assets, supply + VIRTUAL_SHARES, totalAssets + VIRTUAL_ASSETS, roundUp);
}

/** ERC4626._convertToAssets for a pool holding `totalAssets` against `supply` shares. */
function toAssets(shares: bigint, supply: bigint, totalAssets: bigint, roundUp = false): bigint {
  return mulDiv(shares, totalAssets + VIRTUAL_ASSETS, supply + VIRTUAL_SHARES, roundUp);
}

async function requestOf(pool: LiquidityPool, owner: string): Promise<[bigint, bigint, bigint]> {
  const r = await pool.redeemRequest(owner);
  return [r.shares, r.claimableAt, r.expiresAt];
}

/** The real deployment, with USDC minted to four LPs who approved the pool, and a PnL source. */
async function poolFixture() {
  const { pool, usdc: token } = await deployKeel();
  const [admin, alice, bob, attacker, victim] = await ethers.getSigners();
  for (const signer of [alice, bob, attacker, victim]) {
    await token.mint(signer.address, MINTED);
    await token.connect(signer).approve(await pool.getAddress(), ethers.MaxUint256);
  }
  const pnlSource = await ethers.deployContract("MockHealthCheck");
  return { pool, token, pnlSource, admin, alice, bob, attacker, victim };
}

// The states below are built on top of the cached deployment in each test rather than cached
// themselves: hardhat-deploy reverts to its own snapshot whenever a fixture calls deployKeel(),
// which would invalidate the snapshots of every other loadFixture in the file.

/**
 * Alice deposits 1,000 USDC and Bob 3,000 USDC (both at 10^6 shares per unit), then the pool
 * receives DONATION by plain transfer: 4,000 * 10^12 shares against 4,123.456789 USDC.
 */
async function deposited() {
  const f = await loadFixture(poolFixture);
  await f.pool.connect(f.alice).deposit(ALICE_DEPOSIT, f.alice.address);
  await f.pool.connect(f.bob).deposit(BOB_DEPOSIT, f.bob.address);
  await f.token.connect(f.bob).transfer(await f.pool.getAddress(), DONATION);
  const aliceShares = ALICE_DEPOSIT * VIRTUAL_SHARES;
  const bobShares = BOB_DEPOSIT * VIRTUAL_SHARES;
  return {
    ...f,
    aliceShares,
    bobShares,
    supply: aliceShares + bobShares,
    held: ALICE_DEPOSIT + BOB_DEPOSIT + DONATION,
  };
}

/** deposited(), then Alice requests to redeem all her shares. */
async function requested() {
  const f = await deposited();
  const tx = await f.pool.connect(f.alice).requestRedeem(f.aliceShares);
  const block = await tx.getBlock();
  if (block === null) throw new Error("request block not found");
  const claimableAt = BigInt(block.timestamp) + COOLDOWN;
  return { ...f, claimableAt, expiresAt: claimableAt + CLAIM_WINDOW };
}

describe("LiquidityPool", () => {
  describe("construction", () => {
    it("reverts when the admin is the zero address", async () => {
      const { token } = await loadFixture(poolFixture);
      const factory = await ethers.getContractFactory("LiquidityPool");
      await expect(factory.deploy(token, ethers.ZeroAddress, COOLDOWN, CLAIM_WINDOW)).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
    });

    it("reverts when the cooldown is below one hour", async () => {
      const { token, admin } = await loadFixture(poolFixture);
      const factory = await ethers.getContractFactory("LiquidityPool");
      await expect(factory.deploy(token, admin.address, MIN_COOLDOWN - 1n, CLAIM_WINDOW))
        .to.be.revertedWithCustomError(factory, "DurationOutOfBounds")
        .withArgs(COOLDOWN_PARAM, MIN_COOLDOWN - 1n, MIN_COOLDOWN, MAX_COOLDOWN);
    });

    it("reverts when the cooldown is above fourteen days", async () => {
      const { token, admin } = await loadFixture(poolFixture);
      const factory = await ethers.getContractFactory("LiquidityPool");
      await expect(factory.deploy(token, admin.address, MAX_COOLDOWN + 1n, CLAIM_WINDOW))
        .to.be.revertedWithCustomError(factory, "DurationOutOfBounds")
        .withArgs(COOLDOWN_PARAM, MAX_COOLDOWN + 1n, MIN_COOLDOWN, MAX_COOLDOWN);
    });

    it("reverts when the claim window is below one hour", async () => {
      const { token, admin } = await loadFixture(poolFixture);
      const factory = await ethers.getContractFactory("LiquidityPool");
      await expect(factory.deploy(token, admin.address, COOLDOWN, MIN_CLAIM_WINDOW - 1n))
        .to.be.revertedWithCustomError(factory, "DurationOutOfBounds")
        .withArgs(CLAIM_WINDOW_PARAM, MIN_CLAIM_WINDOW - 1n, MIN_CLAIM_WINDOW, MAX_CLAIM_WINDOW);
    });

    it("reverts when the claim window is above seven days", async () => {
      const { token, admin } = await loadFixture(poolFixture);
      const factory = await ethers.getContractFactory("LiquidityPool");
      await expect(factory.deploy(token, admin.address, COOLDOWN, MAX_CLAIM_WINDOW + 1n))
        .to.be.revertedWithCustomError(factory, "DurationOutOfBounds")
        .withArgs(CLAIM_WINDOW_PARAM, MAX_CLAIM_WINDOW + 1n, MIN_CLAIM_WINDOW, MAX_CLAIM_WINDOW);
    });

    it("accepts durations at the bounds and emits their setting from zero", async () => {
      const { token, admin } = await loadFixture(poolFixture);
      const factory = await ethers.getContractFactory("LiquidityPool");
      const pool = await factory.deploy(token, admin.address, MAX_COOLDOWN, MIN_CLAIM_WINDOW);
      const deployment = pool.deploymentTransaction();
      await expect(deployment).to.emit(pool, "CooldownSet").withArgs(0n, MAX_COOLDOWN);
      await expect(deployment).to.emit(pool, "ClaimWindowSet").withArgs(0n, MIN_CLAIM_WINDOW);
      expect([await pool.cooldown(), await pool.claimWindow()]).to.deep.equal([MAX_COOLDOWN, MIN_CLAIM_WINDOW]);
      expect(await pool.hasRole(DEFAULT_ADMIN_ROLE, admin.address)).to.equal(true);
    });

    it("has 12 decimals: the stablecoin's 6 plus the virtual-share offset of 6", async () => {
      const { pool, token } = await loadFixture(poolFixture);
      expect(await token.decimals()).to.equal(6n);
      expect(await pool.decimals()).to.equal(12n);
      expect([await pool.name(), await pool.symbol(), await pool.asset()]).to.deep.equal([
        "Keel LP",
        "kLP",
        await token.getAddress(),
      ]);
      expect([await pool.cooldown(), await pool.claimWindow()]).to.deep.equal([COOLDOWN, CLAIM_WINDOW]);
      expect(await pool.pnlSource()).to.equal(ethers.ZeroAddress);
    });
  });

  describe("deposit and mint", () => {
    it("mints 10^6 shares per stablecoin unit to the first depositor", async () => {
      const { pool, token, alice } = await loadFixture(poolFixture);
      const expected = toShares(ALICE_DEPOSIT, 0n, 0n);
      expect(expected).to.equal(ALICE_DEPOSIT * 10n ** 6n);
      await expect(pool.connect(alice).deposit(ALICE_DEPOSIT, alice.address))
        .to.emit(pool, "Deposit")
        .withArgs(alice.address, alice.address, ALICE_DEPOSIT, expected);
      expect(await pool.balanceOf(alice.address)).to.equal(expected);
      expect(await pool.totalSupply()).to.equal(expected);
      expect(await pool.totalAssets()).to.equal(ALICE_DEPOSIT);
      expect(await token.balanceOf(alice.address)).to.equal(MINTED - ALICE_DEPOSIT);
      expect(await token.balanceOf(await pool.getAddress())).to.equal(ALICE_DEPOSIT);
    });

    it("prices a deposit after a profit at the new share price, rounding shares down", async () => {
      const { pool, token, alice, bob, supply, held } = await deposited();
      expect(await pool.totalAssets()).to.equal(held);
      const assets = usdc("777.777777");
      const expected = toShares(assets, supply, held);
      expect(await pool.previewDeposit(assets)).to.equal(expected);
      await expect(pool.connect(alice).deposit(assets, bob.address))
        .to.emit(pool, "Deposit")
        .withArgs(alice.address, bob.address, assets, expected);
      expect(await pool.balanceOf(bob.address)).to.equal(BOB_DEPOSIT * VIRTUAL_SHARES + expected);
      expect(await pool.totalSupply()).to.equal(supply + expected);
      expect(await token.balanceOf(alice.address)).to.equal(MINTED - ALICE_DEPOSIT - assets);
    });

    it("mints an exact share amount for its assets rounded up", async () => {
      const { pool, token, alice, supply, held, aliceShares } = await deposited();
      const shares = 123_456_789_012_345n;
      const cost = toAssets(shares, supply, held, true);
      expect(cost).to.equal(toAssets(shares, supply, held) + 1n); // the division is inexact
      expect(await pool.previewMint(shares)).to.equal(cost);
      await expect(pool.connect(alice).mint(shares, alice.address))
        .to.emit(pool, "Deposit")
        .withArgs(alice.address, alice.address, cost, shares);
      expect(await pool.balanceOf(alice.address)).to.equal(aliceShares + shares);
      expect(await token.balanceOf(alice.address)).to.equal(MINTED - ALICE_DEPOSIT - cost);
      expect(await token.balanceOf(await pool.getAddress())).to.equal(held + cost);
    });
  });

  describe("requestRedeem", () => {
    it("escrows the shares in the pool and opens the claim window after the cooldown", async () => {
      const { pool, alice, aliceShares, supply } = await deposited();
      const shares = aliceShares / 4n;
      const at = BigInt(await time.latest()) + 100n;
      await time.setNextBlockTimestamp(at);
      await expect(pool.connect(alice).requestRedeem(shares))
        .to.emit(pool, "RedeemRequested")
        .withArgs(alice.address, shares, at + COOLDOWN, at + COOLDOWN + CLAIM_WINDOW)
        .and.to.emit(pool, "Transfer")
        .withArgs(alice.address, await pool.getAddress(), shares);
      expect(await pool.balanceOf(alice.address)).to.equal(aliceShares - shares);
      expect(await pool.balanceOf(await pool.getAddress())).to.equal(shares);
      expect(await pool.totalSupply()).to.equal(supply);
      expect(await requestOf(pool, alice.address)).to.deep.equal([shares, at + COOLDOWN, at + COOLDOWN + CLAIM_WINDOW]);
    });

    it("reverts a second request while one is pending", async () => {
      const { pool, alice, aliceShares } = await deposited();
      await pool.connect(alice).requestRedeem(aliceShares / 2n);
      await expect(pool.connect(alice).requestRedeem(1n))
        .to.be.revertedWithCustomError(pool, "RequestPending")
        .withArgs(alice.address, aliceShares / 2n);
    });

    it("reverts a request for zero shares", async () => {
      const { pool, alice } = await deposited();
      await expect(pool.connect(alice).requestRedeem(0n)).to.be.revertedWithCustomError(pool, "ZeroShares");
    });

    it("reverts a request for more shares than the caller holds", async () => {
      const { pool, alice, aliceShares } = await deposited();
      await expect(pool.connect(alice).requestRedeem(aliceShares + 1n))
        .to.be.revertedWithCustomError(pool, "ERC20InsufficientBalance")
        .withArgs(alice.address, aliceShares, aliceShares + 1n);
    });

    it("applies a changed cooldown to later requests only", async () => {
      const { pool, admin, alice, bob, claimableAt, expiresAt } = await requested();
      await pool.connect(admin).setCooldown(2n * HOUR);
      const at = BigInt(await time.latest()) + 10n;
      await time.setNextBlockTimestamp(at);
      await pool.connect(bob).requestRedeem(1n);
      expect(await requestOf(pool, alice.address)).to.deep.equal([
        ALICE_DEPOSIT * VIRTUAL_SHARES,
        claimableAt,
        expiresAt,
      ]);
      expect(await requestOf(pool, bob.address)).to.deep.equal([1n, at + 2n * HOUR, at + 2n * HOUR + CLAIM_WINDOW]);
    });
  });

  describe("claim window", () => {
    it("reports zero maxRedeem and maxWithdraw before the cooldown ends", async () => {
      const { pool, alice, claimableAt } = await requested();
      await time.increaseTo(claimableAt - 1n);
      expect(await pool.maxRedeem(alice.address)).to.equal(0n);
      expect(await pool.maxWithdraw(alice.address)).to.equal(0n);
    });

    it("reports the escrowed shares and their value inside the claim window", async () => {
      const { pool, alice, bob, aliceShares, supply, held, claimableAt, expiresAt } = await requested();
      await time.increaseTo(claimableAt);
      expect(await pool.maxRedeem(alice.address)).to.equal(aliceShares);
      expect(await pool.maxWithdraw(alice.address)).to.equal(toAssets(aliceShares, supply, held));
      expect(await pool.maxRedeem(bob.address)).to.equal(0n); // no request, however many shares
      await time.increaseTo(expiresAt - 1n);
      expect(await pool.maxRedeem(alice.address)).to.equal(aliceShares);
    });

    it("reports zero maxRedeem and maxWithdraw once the claim window has expired", async () => {
      const { pool, alice, expiresAt } = await requested();
      await time.increaseTo(expiresAt);
      expect(await pool.maxRedeem(alice.address)).to.equal(0n);
      expect(await pool.maxWithdraw(alice.address)).to.equal(0n);
    });

    it("reverts redeem before the cooldown ends", async () => {
      const { pool, alice, aliceShares, claimableAt } = await requested();
      await time.setNextBlockTimestamp(claimableAt - 1n);
      await expect(pool.connect(alice).redeem(aliceShares, alice.address, alice.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxRedeem")
        .withArgs(alice.address, aliceShares, 0n);
    });

    it("reverts withdraw before the cooldown ends", async () => {
      const { pool, alice, claimableAt } = await requested();
      await time.setNextBlockTimestamp(claimableAt - 1n);
      await expect(pool.connect(alice).withdraw(1n, alice.address, alice.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxWithdraw")
        .withArgs(alice.address, 1n, 0n);
    });

    it("reverts redeem once the claim window has expired", async () => {
      const { pool, alice, aliceShares, expiresAt } = await requested();
      await time.setNextBlockTimestamp(expiresAt);
      await expect(pool.connect(alice).redeem(aliceShares, alice.address, alice.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxRedeem")
        .withArgs(alice.address, aliceShares, 0n);
    });

    it("reverts withdraw once the claim window has expired", async () => {
      const { pool, alice, expiresAt } = await requested();
      await time.setNextBlockTimestamp(expiresAt);
      await expect(pool.connect(alice).withdraw(usdc("1"), alice.address, alice.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxWithdraw")
        .withArgs(alice.address, usdc("1"), 0n);
    });

    it("reverts redeem of more shares than the request inside the window", async () => {
      const { pool, alice, aliceShares, claimableAt } = await requested();
      await time.setNextBlockTimestamp(claimableAt);
      await expect(pool.connect(alice).redeem(aliceShares + 1n, alice.address, alice.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxRedeem")
        .withArgs(alice.address, aliceShares + 1n, aliceShares);
    });

    it("reverts withdraw of more assets than the request is worth inside the window", async () => {
      const { pool, alice, aliceShares, supply, held, claimableAt } = await requested();
      const max = toAssets(aliceShares, supply, held);
      await time.setNextBlockTimestamp(claimableAt);
      await expect(pool.connect(alice).withdraw(max + 1n, alice.address, alice.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxWithdraw")
        .withArgs(alice.address, max + 1n, max);
    });
  });

  describe("redeem and withdraw", () => {
    it("redeems the whole request at the current share price on the first claimable second", async () => {
      const { pool, token, alice, aliceShares, supply, held, claimableAt } = await requested();
      const assets = toAssets(aliceShares, supply, held);
      // 1,000 of 4,000 shares of 4,123.456789 USDC, less the virtual share's cut and rounding.
      expect(assets).to.equal(1_030_864_197n);
      await time.setNextBlockTimestamp(claimableAt);
      await expect(pool.connect(alice).redeem(aliceShares, alice.address, alice.address))
        .to.emit(pool, "Withdraw")
        .withArgs(alice.address, alice.address, alice.address, assets, aliceShares)
        .and.to.emit(token, "Transfer")
        .withArgs(await pool.getAddress(), alice.address, assets);
      expect(await token.balanceOf(alice.address)).to.equal(MINTED - ALICE_DEPOSIT + assets);
      expect(await token.balanceOf(await pool.getAddress())).to.equal(held - assets);
      expect(await pool.balanceOf(await pool.getAddress())).to.equal(0n);
      expect(await pool.totalSupply()).to.equal(supply - aliceShares);
      expect((await pool.redeemRequest(alice.address)).shares).to.equal(0n);
    });

    it("redeems part of a request to another receiver and leaves the rest claimable", async () => {
      const { pool, token, alice, bob, aliceShares, supply, held, claimableAt } = await requested();
      const first = aliceShares / 4n;
      const firstAssets = toAssets(first, supply, held);
      await time.setNextBlockTimestamp(claimableAt + 10n);
      await expect(pool.connect(alice).redeem(first, bob.address, alice.address))
        .to.emit(pool, "Withdraw")
        .withArgs(alice.address, bob.address, alice.address, firstAssets, first);
      expect(await token.balanceOf(bob.address)).to.equal(MINTED - BOB_DEPOSIT - DONATION + firstAssets);
      expect(await pool.maxRedeem(alice.address)).to.equal(aliceShares - first);
      expect(await pool.balanceOf(await pool.getAddress())).to.equal(aliceShares - first);

      const rest = aliceShares - first;
      const restAssets = toAssets(rest, supply - first, held - firstAssets);
      await expect(pool.connect(alice).redeem(rest, alice.address, alice.address))
        .to.emit(pool, "Withdraw")
        .withArgs(alice.address, alice.address, alice.address, restAssets, rest);
      expect(await token.balanceOf(alice.address)).to.equal(MINTED - ALICE_DEPOSIT + restAssets);
      expect(await token.balanceOf(await pool.getAddress())).to.equal(held - firstAssets - restAssets);
      expect(await pool.totalSupply()).to.equal(supply - aliceShares);
      expect(await pool.maxRedeem(alice.address)).to.equal(0n);
    });

    it("withdraws an exact asset amount, burning its shares rounded up", async () => {
      const { pool, token, alice, aliceShares, supply, held, claimableAt } = await requested();
      const assets = usdc("500");
      const burned = toShares(assets, supply, held, true);
      expect(burned).to.equal(toShares(assets, supply, held) + 1n); // the division is inexact
      expect(await pool.previewWithdraw(assets)).to.equal(burned);
      await time.setNextBlockTimestamp(claimableAt);
      await expect(pool.connect(alice).withdraw(assets, alice.address, alice.address))
        .to.emit(pool, "Withdraw")
        .withArgs(alice.address, alice.address, alice.address, assets, burned);
      expect(await token.balanceOf(alice.address)).to.equal(MINTED - ALICE_DEPOSIT + assets);
      expect((await pool.redeemRequest(alice.address)).shares).to.equal(aliceShares - burned);
      expect(await pool.maxWithdraw(alice.address)).to.equal(
        toAssets(aliceShares - burned, supply - burned, held - assets),
      );
    });

    it("reverts redeem by anyone but the request owner, even with an allowance", async () => {
      const { pool, alice, bob, aliceShares, claimableAt } = await requested();
      await pool.connect(alice).approve(bob.address, ethers.MaxUint256);
      await time.setNextBlockTimestamp(claimableAt);
      await expect(pool.connect(bob).redeem(aliceShares, bob.address, alice.address))
        .to.be.revertedWithCustomError(pool, "NotRequestOwner")
        .withArgs(bob.address, alice.address);
    });

    it("reverts withdraw by anyone but the request owner", async () => {
      const { pool, alice, bob, claimableAt } = await requested();
      await time.setNextBlockTimestamp(claimableAt);
      await expect(pool.connect(bob).withdraw(usdc("1"), bob.address, alice.address))
        .to.be.revertedWithCustomError(pool, "NotRequestOwner")
        .withArgs(bob.address, alice.address);
    });

    it("lets an owner request again after claiming the whole request", async () => {
      const { pool, bob, bobShares } = await requested();
      await pool.connect(bob).requestRedeem(bobShares);
      await time.increaseTo((await pool.redeemRequest(bob.address)).claimableAt);
      await pool.connect(bob).redeem(bobShares, bob.address, bob.address);
      await pool.connect(bob).deposit(usdc("1"), bob.address);
      await expect(pool.connect(bob).requestRedeem(1n)).to.emit(pool, "RedeemRequested");
      expect((await pool.redeemRequest(bob.address)).shares).to.equal(1n);
    });
  });

  describe("cancelRedeem", () => {
    it("returns the escrowed shares and clears the request", async () => {
      const { pool, alice, aliceShares, supply } = await requested();
      await expect(pool.connect(alice).cancelRedeem())
        .to.emit(pool, "RedeemCancelled")
        .withArgs(alice.address, aliceShares)
        .and.to.emit(pool, "Transfer")
        .withArgs(await pool.getAddress(), alice.address, aliceShares);
      expect(await pool.balanceOf(alice.address)).to.equal(aliceShares);
      expect(await pool.balanceOf(await pool.getAddress())).to.equal(0n);
      expect(await pool.totalSupply()).to.equal(supply);
      expect(await requestOf(pool, alice.address)).to.deep.equal([0n, 0n, 0n]);
    });

    it("returns the shares of an expired request, which can then be requested again", async () => {
      const { pool, alice, aliceShares, expiresAt } = await requested();
      await time.increaseTo(expiresAt + DAY);
      await expect(pool.connect(alice).cancelRedeem())
        .to.emit(pool, "RedeemCancelled")
        .withArgs(alice.address, aliceShares);
      expect(await pool.balanceOf(alice.address)).to.equal(aliceShares);
      await expect(pool.connect(alice).requestRedeem(aliceShares)).to.emit(pool, "RedeemRequested");
    });

    it("reverts when the caller has no request", async () => {
      const { pool, bob } = await requested();
      await expect(pool.connect(bob).cancelRedeem())
        .to.be.revertedWithCustomError(pool, "NoRequest")
        .withArgs(bob.address);
    });

    it("reverts after the request has been fully claimed", async () => {
      const { pool, alice, aliceShares, claimableAt } = await requested();
      await time.setNextBlockTimestamp(claimableAt);
      await pool.connect(alice).redeem(aliceShares, alice.address, alice.address);
      await expect(pool.connect(alice).cancelRedeem())
        .to.be.revertedWithCustomError(pool, "NoRequest")
        .withArgs(alice.address);
    });
  });

  describe("share transfers", () => {
    it("reverts a transfer of shares to the pool", async () => {
      const { pool, alice } = await deposited();
      await expect(pool.connect(alice).transfer(await pool.getAddress(), 1n)).to.be.revertedWithCustomError(
        pool,
        "SharesToPool",
      );
    });

    it("reverts a transferFrom of shares to the pool", async () => {
      const { pool, alice, bob } = await deposited();
      await pool.connect(alice).approve(bob.address, ethers.MaxUint256);
      await expect(
        pool.connect(bob).transferFrom(alice.address, await pool.getAddress(), 1n),
      ).to.be.revertedWithCustomError(pool, "SharesToPool");
    });

    it("transfers shares between holders", async () => {
      const { pool, alice, bob, aliceShares, bobShares } = await deposited();
      await pool.connect(alice).transfer(bob.address, 7n);
      await pool.connect(alice).approve(bob.address, 5n);
      await pool.connect(bob).transferFrom(alice.address, bob.address, 5n);
      expect(await pool.balanceOf(alice.address)).to.equal(aliceShares - 12n);
      expect(await pool.balanceOf(bob.address)).to.equal(bobShares + 12n);
      expect(await pool.allowance(alice.address, bob.address)).to.equal(0n);
    });
  });

  describe("governance", () => {
    it("sets the cooldown and emits the old and new values", async () => {
      const { pool, admin } = await loadFixture(poolFixture);
      await expect(pool.connect(admin).setCooldown(MIN_COOLDOWN))
        .to.emit(pool, "CooldownSet")
        .withArgs(COOLDOWN, MIN_COOLDOWN);
      expect(await pool.cooldown()).to.equal(MIN_COOLDOWN);
    });

    it("reverts a cooldown outside its bounds", async () => {
      const { pool, admin } = await loadFixture(poolFixture);
      await expect(pool.connect(admin).setCooldown(MAX_COOLDOWN + 1n))
        .to.be.revertedWithCustomError(pool, "DurationOutOfBounds")
        .withArgs(COOLDOWN_PARAM, MAX_COOLDOWN + 1n, MIN_COOLDOWN, MAX_COOLDOWN);
      await expect(pool.connect(admin).setCooldown(0n))
        .to.be.revertedWithCustomError(pool, "DurationOutOfBounds")
        .withArgs(COOLDOWN_PARAM, 0n, MIN_COOLDOWN, MAX_COOLDOWN);
    });

    it("reverts setCooldown by an account without the admin role", async () => {
      const { pool, alice } = await loadFixture(poolFixture);
      await expect(pool.connect(alice).setCooldown(MIN_COOLDOWN))
        .to.be.revertedWithCustomError(pool, "AccessControlUnauthorizedAccount")
        .withArgs(alice.address, DEFAULT_ADMIN_ROLE);
    });

    it("sets the claim window and emits the old and new values", async () => {
      const { pool, admin } = await loadFixture(poolFixture);
      await expect(pool.connect(admin).setClaimWindow(MAX_CLAIM_WINDOW))
        .to.emit(pool, "ClaimWindowSet")
        .withArgs(CLAIM_WINDOW, MAX_CLAIM_WINDOW);
      expect(await pool.claimWindow()).to.equal(MAX_CLAIM_WINDOW);
    });

    it("reverts a claim window outside its bounds", async () => {
      const { pool, admin } = await loadFixture(poolFixture);
      await expect(pool.connect(admin).setClaimWindow(MIN_CLAIM_WINDOW - 1n))
        .to.be.revertedWithCustomError(pool, "DurationOutOfBounds")
        .withArgs(CLAIM_WINDOW_PARAM, MIN_CLAIM_WINDOW - 1n, MIN_CLAIM_WINDOW, MAX_CLAIM_WINDOW);
      await expect(pool.connect(admin).setClaimWindow(MAX_CLAIM_WINDOW + 1n))
        .to.be.revertedWithCustomError(pool, "DurationOutOfBounds")
        .withArgs(CLAIM_WINDOW_PARAM, MAX_CLAIM_WINDOW + 1n, MIN_CLAIM_WINDOW, MAX_CLAIM_WINDOW);
    });

    it("reverts setClaimWindow by an account without the admin role", async () => {
      const { pool, alice } = await loadFixture(poolFixture);
      await expect(pool.connect(alice).setClaimWindow(MIN_CLAIM_WINDOW))
        .to.be.revertedWithCustomError(pool, "AccessControlUnauthorizedAccount")
        .withArgs(alice.address, DEFAULT_ADMIN_ROLE);
    });

    it("sets and removes the PnL source, emitting the old and new addresses", async () => {
      const { pool, admin, pnlSource } = await loadFixture(poolFixture);
      const source = await pnlSource.getAddress();
      await expect(pool.connect(admin).setPnlSource(source))
        .to.emit(pool, "PnlSourceSet")
        .withArgs(ethers.ZeroAddress, source);
      expect(await pool.pnlSource()).to.equal(source);
      await expect(pool.connect(admin).setPnlSource(ethers.ZeroAddress))
        .to.emit(pool, "PnlSourceSet")
        .withArgs(source, ethers.ZeroAddress);
      expect(await pool.pnlSource()).to.equal(ethers.ZeroAddress);
    });

    it("reverts NotAContract when the PnL source is an address without code", async () => {
      const { pool, admin, alice } = await loadFixture(poolFixture);
      await expect(pool.connect(admin).setPnlSource(alice.address))
        .to.be.revertedWithCustomError(pool, "NotAContract")
        .withArgs(alice.address);
      expect(await pool.pnlSource()).to.equal(ethers.ZeroAddress);
    });

    it("reverts setPnlSource by an account without the admin role", async () => {
      const { pool, alice, pnlSource } = await loadFixture(poolFixture);
      await expect(pool.connect(alice).setPnlSource(await pnlSource.getAddress()))
        .to.be.revertedWithCustomError(pool, "AccessControlUnauthorizedAccount")
        .withArgs(alice.address, DEFAULT_ADMIN_ROLE);
    });

    it("sets and removes the option source, refusing an address without code and a non-admin", async () => {
      const { pool, admin, alice, pnlSource } = await loadFixture(poolFixture);
      const source = await pnlSource.getAddress();
      await expect(pool.connect(alice).setOptionSource(source))
        .to.be.revertedWithCustomError(pool, "AccessControlUnauthorizedAccount")
        .withArgs(alice.address, DEFAULT_ADMIN_ROLE);
      await expect(pool.connect(admin).setOptionSource(alice.address))
        .to.be.revertedWithCustomError(pool, "NotAContract")
        .withArgs(alice.address);
      await expect(pool.connect(admin).setOptionSource(source))
        .to.emit(pool, "OptionSourceSet")
        .withArgs(ethers.ZeroAddress, source);
      expect(await pool.optionSource()).to.equal(source);
      await expect(pool.connect(admin).setOptionSource(ethers.ZeroAddress))
        .to.emit(pool, "OptionSourceSet")
        .withArgs(source, ethers.ZeroAddress);
      expect(await pool.optionSource()).to.equal(ethers.ZeroAddress);
    });

    it("adds the option source's figure to the perps' in totalAssets", async () => {
      const { pool, admin, pnlSource, held } = await deposited();
      const options = await ethers.deployContract("MockHealthCheck");
      await pool.connect(admin).setPnlSource(await pnlSource.getAddress());
      await pool.connect(admin).setOptionSource(await options.getAddress());
      await pnlSource.setPnl(usdc("300"));
      await options.setPnl(usdc("200"));
      expect(await pool.tradersUnrealizedPnl()).to.equal(usdc("500"));
      expect(await pool.totalAssets()).to.equal(held - usdc("500"));
      await options.setPnl(-usdc("700"));
      expect(await pool.tradersUnrealizedPnl()).to.equal(-usdc("400"));
      expect(await pool.totalAssets()).to.equal(held + usdc("400"));
    });
  });

  describe("traders' unrealized PnL", () => {
    it("lowers totalAssets and the share price by traders' unrealized profit", async () => {
      const { pool, admin, alice, pnlSource, aliceShares, supply, held } = await deposited();
      await pool.connect(admin).setPnlSource(await pnlSource.getAddress());
      const profit = usdc("300.5");
      await pnlSource.setPnl(profit);
      expect(await pool.tradersUnrealizedPnl()).to.equal(profit);
      expect(await pool.totalAssets()).to.equal(held - profit);
      expect(await pool.convertToAssets(aliceShares)).to.equal(toAssets(aliceShares, supply, held - profit));
      // A deposit now buys more shares per unit.
      const expected = toShares(ALICE_DEPOSIT, supply, held - profit);
      await expect(pool.connect(alice).deposit(ALICE_DEPOSIT, alice.address))
        .to.emit(pool, "Deposit")
        .withArgs(alice.address, alice.address, ALICE_DEPOSIT, expected);
      expect(expected).to.be.greaterThan(aliceShares);
    });

    it("raises totalAssets and the share price by traders' unrealized loss", async () => {
      const { pool, admin, pnlSource, aliceShares, supply, held } = await deposited();
      await pool.connect(admin).setPnlSource(await pnlSource.getAddress());
      const loss = usdc("250.000001");
      await pnlSource.setPnl(-loss);
      expect(await pool.tradersUnrealizedPnl()).to.equal(-loss);
      expect(await pool.totalAssets()).to.equal(held + loss);
      expect(await pool.convertToAssets(aliceShares)).to.equal(toAssets(aliceShares, supply, held + loss));
    });

    it("floors totalAssets at zero when traders' profit reaches the assets held", async () => {
      const { pool, admin, pnlSource, aliceShares, held } = await deposited();
      await pool.connect(admin).setPnlSource(await pnlSource.getAddress());
      await pnlSource.setPnl(held - 1n);
      expect(await pool.totalAssets()).to.equal(1n);
      await pnlSource.setPnl(held);
      expect(await pool.totalAssets()).to.equal(0n);
      await pnlSource.setPnl(held + usdc("1000000"));
      expect(await pool.totalAssets()).to.equal(0n);
      expect(await pool.convertToAssets(aliceShares)).to.equal(0n);
    });

    it("counts no PnL once the source is removed", async () => {
      const { pool, admin, pnlSource, held } = await deposited();
      await pool.connect(admin).setPnlSource(await pnlSource.getAddress());
      await pnlSource.setPnl(usdc("100"));
      await pool.connect(admin).setPnlSource(ethers.ZeroAddress);
      expect(await pool.tradersUnrealizedPnl()).to.equal(0n);
      expect(await pool.totalAssets()).to.equal(held);
    });

    it("makes the requester bear a loss booked during the cooldown", async () => {
      const { pool, token, admin, alice, pnlSource, aliceShares, supply, held, claimableAt } = await requested();
      await pool.connect(admin).setPnlSource(await pnlSource.getAddress());
      const valueAtRequest = toAssets(aliceShares, supply, held);
      const traderProfit = usdc("412.345678");
      await pnlSource.setPnl(traderProfit);
      const assets = toAssets(aliceShares, supply, held - traderProfit);
      expect(await pool.previewRedeem(aliceShares)).to.equal(assets);
      await time.setNextBlockTimestamp(claimableAt);
      await expect(pool.connect(alice).redeem(aliceShares, alice.address, alice.address))
        .to.emit(pool, "Withdraw")
        .withArgs(alice.address, alice.address, alice.address, assets, aliceShares);
      expect(await token.balanceOf(alice.address)).to.equal(MINTED - ALICE_DEPOSIT + assets);
      // Her quarter of the shares carries her quarter of the loss (to rounding).
      expect(valueAtRequest - assets).to.equal(103_086_420n);
      expect(await pool.totalAssets()).to.equal(held - assets - traderProfit);
    });
  });

  describe("solvency guards", () => {
    it("caps maxRedeem and maxWithdraw at the stablecoin the pool holds", async () => {
      const { pool, token, admin, alice, pnlSource, aliceShares, supply, held, claimableAt } = await requested();
      await pool.connect(admin).setPnlSource(await pnlSource.getAddress());
      // Traders owe the pool 20,000 USDC they have not paid: the share price counts it, cash does not.
      const traderLoss = usdc("20000");
      await pnlSource.setPnl(-traderLoss);
      await time.increaseTo(claimableAt);
      const totalAssets = held + traderLoss;
      expect(toAssets(aliceShares, supply, totalAssets)).to.be.greaterThan(held);
      const cappedShares = toShares(held, supply, totalAssets);
      expect(await pool.maxRedeem(alice.address)).to.equal(cappedShares);
      const cappedAssets = toAssets(cappedShares, supply, totalAssets);
      expect(await pool.maxWithdraw(alice.address)).to.equal(cappedAssets);
      await expect(pool.connect(alice).redeem(cappedShares, alice.address, alice.address))
        .to.emit(pool, "Withdraw")
        .withArgs(alice.address, alice.address, alice.address, cappedAssets, cappedShares);
      expect(await token.balanceOf(await pool.getAddress())).to.equal(held - cappedAssets);
      expect(await requestOf(pool, alice.address)).to.deep.equal([
        aliceShares - cappedShares,
        claimableAt,
        claimableAt + CLAIM_WINDOW,
      ]);
    });

    it("reverts a deposit or mint while traders' profit exceeds the assets held", async () => {
      const { pool, admin, victim, pnlSource, held } = await deposited();
      await pool.connect(admin).setPnlSource(await pnlSource.getAddress());
      await pnlSource.setPnl(held + usdc("877"));
      expect(await pool.maxDeposit(victim.address)).to.equal(0n);
      expect(await pool.maxMint(victim.address)).to.equal(0n);
      await expect(pool.connect(victim).deposit(ALICE_DEPOSIT, victim.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxDeposit")
        .withArgs(victim.address, ALICE_DEPOSIT, 0n);
      await expect(pool.connect(victim).mint(1n, victim.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxMint")
        .withArgs(victim.address, 1n, 0n);
      // Solvent again: deposits reopen.
      await pnlSource.setPnl(held - 1n);
      expect(await pool.maxDeposit(victim.address)).to.equal(ethers.MaxUint256);
    });

    it("reverts a deposit or mint whose receiver is the pool", async () => {
      const { pool, alice } = await loadFixture(poolFixture);
      const poolAddress = await pool.getAddress();
      await expect(pool.connect(alice).deposit(usdc("10"), poolAddress)).to.be.revertedWithCustomError(
        pool,
        "SharesToPool",
      );
      await expect(pool.connect(alice).mint(10n ** 6n, poolAddress)).to.be.revertedWithCustomError(
        pool,
        "SharesToPool",
      );
    });

    it("clears the request once it is fully claimed", async () => {
      const { pool, alice, aliceShares, claimableAt } = await requested();
      await time.increaseTo(claimableAt);
      await pool.connect(alice).redeem(aliceShares, alice.address, alice.address);
      expect(await requestOf(pool, alice.address)).to.deep.equal([0n, 0n, 0n]);
    });
  });

  describe("first-depositor inflation attack", () => {
    it("leaves the victim whole and costs the attacker about half of the donation", async () => {
      const { pool, token, attacker, victim } = await loadFixture(poolFixture);
      const poolAddress = await pool.getAddress();
      const seed = 1n;
      const donation = usdc("10000");
      const deposit = usdc("1000");

      // 1. The attacker is first, with one unit (1e-6 USDC).
      const attackerShares = toShares(seed, 0n, 0n);
      expect(attackerShares).to.equal(10n ** 6n);
      await expect(pool.connect(attacker).deposit(seed, attacker.address))
        .to.emit(pool, "Deposit")
        .withArgs(attacker.address, attacker.address, seed, attackerShares);

      // 2. The attacker donates 10,000 USDC by plain transfer to inflate the share price.
      await token.connect(attacker).transfer(poolAddress, donation);
      expect(await pool.totalAssets()).to.equal(seed + donation);

      // 3. The victim deposits 1,000 USDC: the 10^6 virtual shares keep it from rounding to zero.
      const victimShares = toShares(deposit, attackerShares, seed + donation);
      expect(victimShares).to.equal(199_999n);
      await expect(pool.connect(victim).deposit(deposit, victim.address))
        .to.emit(pool, "Deposit")
        .withArgs(victim.address, victim.address, deposit, victimShares);

      // 4. Both leave through request -> cooldown -> redeem, the attacker first.
      await pool.connect(attacker).requestRedeem(attackerShares);
      await pool.connect(victim).requestRedeem(victimShares);
      await time.increase(COOLDOWN);

      let supply = attackerShares + victimShares;
      let held = seed + donation + deposit;
      const attackerOut = toAssets(attackerShares, supply, held);
      await expect(pool.connect(attacker).redeem(attackerShares, attacker.address, attacker.address))
        .to.emit(pool, "Withdraw")
        .withArgs(attacker.address, attacker.address, attacker.address, attackerOut, attackerShares);
      supply -= attackerShares;
      held -= attackerOut;

      const victimOut = toAssets(victimShares, supply, held);
      await expect(pool.connect(victim).redeem(victimShares, victim.address, victim.address))
        .to.emit(pool, "Withdraw")
        .withArgs(victim.address, victim.address, victim.address, victimOut, victimShares);
      held -= victimOut;

      const attackerLoss = seed + donation - attackerOut;
      const victimLoss = deposit - victimOut;
      console.log(
        `      attacker put in ${ethers.formatUnits(seed + donation, 6)} USDC, got back ` +
          `${ethers.formatUnits(attackerOut, 6)}: loss ${ethers.formatUnits(attackerLoss, 6)} USDC`,
      );
      console.log(
        `      victim put in ${ethers.formatUnits(deposit, 6)} USDC, got back ` +
          `${ethers.formatUnits(victimOut, 6)}: rounding loss ${ethers.formatUnits(victimLoss, 6)} USDC`,
      );

      expect(await token.balanceOf(attacker.address)).to.equal(MINTED - seed - donation + attackerOut);
      expect(await token.balanceOf(victim.address)).to.equal(MINTED - deposit + victimOut);
      expect(await token.balanceOf(poolAddress)).to.equal(held);
      expect(await pool.totalSupply()).to.equal(0n);
      // The victim loses less than a hundredth of a cent on 1,000 USDC.
      expect(victimLoss).to.equal(4_546n);
      // The attacker loses about half of the donation, left to the virtual shares in the pool.
      expect(attackerLoss).to.equal(4_999_997_728n);
      expect(attackerLoss).to.be.greaterThan(donation / 2n - usdc("1"));
      expect(held).to.equal(attackerLoss + victimLoss);
    });
  });
});
