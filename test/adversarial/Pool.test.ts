import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { pricedMarkets } from "../helpers/fixtures";
import {
  CROSS,
  ETH,
  ETH_PRICE,
  TICK,
  USDC_SCALE,
  WAD,
  configuredParams,
  divUp,
  feed,
  fillPrice,
  mulWadUp,
  reprice,
  tradeFee,
  usdc,
  wad,
} from "../helpers/marginModel";
import { networkConfig } from "../../config/networks";

// Adversarial LPs and donors against the LiquidityPool (ERC-4626, 10^6 virtual shares per virtual
// asset unit, request -> cooldown -> claim window) and the InsuranceFund. Expected figures come
// from OpenZeppelin's ERC4626 formulas and the perp model below, never from the contracts:
//   shares = assets x (supply + 10^6) / (totalAssets + 1)    assets = shares x (totalAssets + 1) / (supply + 10^6)
//   totalAssets = USDC held - traders' unrealized PnL (rounded up to whole units).

const { cooldown } = networkConfig("hardhat").pool;
const COOLDOWN = BigInt(cooldown);
const VIRTUAL_SHARES = 10n ** 6n;
const P = configuredParams(ETH);
const UNTRACKED = ethers.encodeBytes32String("UNTRACKED");
const TRADING_FEE = ethers.encodeBytes32String("TRADING_FEE");
const DRAWER_ROLE = ethers.id("DRAWER_ROLE");
const INSOLVENT = ethers.encodeBytes32String("INSOLVENT_ACCOUNT");

const mulDiv = (x: bigint, y: bigint, d: bigint, up = false) => (up ? (x * y + d - 1n) / d : (x * y) / d);
const toShares = (assets: bigint, supply: bigint, total: bigint, up = false) =>
  mulDiv(assets, supply + VIRTUAL_SHARES, total + 1n, up);
const toAssets = (shares: bigint, supply: bigint, total: bigint, up = false) =>
  mulDiv(shares, total + 1n, supply + VIRTUAL_SHARES, up);

/** The real deployment with markets, prices set (ETH 3000, no TWAP, no funding) and an empty pool. */
async function base() {
  const [, , attacker, victim, donor, trader] = await ethers.getSigners();
  const f = await pricedMarkets({ liquidity: 0n, traders: [trader] });
  for (const who of [f.lp, attacker, victim, donor]) {
    await f.usdc.connect(who).approve(f.addr.pool, ethers.MaxUint256);
    await f.usdc.connect(who).approve(f.addr.fund, ethers.MaxUint256);
  }
  return { ...f, attacker, victim, donor, trader };
}

type Base = Awaited<ReturnType<typeof base>>;

async function mintTo(f: Base, who: { address: string }, amount: bigint) {
  await f.usdc.mint(who.address, amount);
}

/** Requests `shares` for `who` and returns the second its claim window opens. */
async function request(f: Base, who: Base["lp"], shares: bigint): Promise<bigint> {
  const tx = await f.pool.connect(who).requestRedeem(shares);
  const block = await tx.getBlock();
  return BigInt(block!.timestamp) + COOLDOWN;
}

describe("Adversarial: pool", () => {
  describe("first-depositor inflation attack", () => {
    const VICTIM_DEPOSIT = usdc("1000");
    // [donation, the victim's shares, the attacker's loss, the victim's loss (USDC units)]. The test
    // computes the same figures from the ERC4626 formulas and checks the chain against both.
    const CASES: [string, bigint, bigint, bigint, bigint][] = [
      ["1", usdc("1"), 1_999_996_000n, 500_000n, 1n],
      ["1,000", usdc("1000"), 1_999_999n, 499_999_876n, 249n],
      ["100,000", usdc("100000"), 19_999n, 49_999_975_248n, 49_505n],
      ["10,000,000", usdc("10000000"), 199n, 4_999_997_500_249n, 4_999_503n],
    ];
    for (const [label, donation, expectedShares, expectedAttackerLoss, expectedVictimLoss] of CASES) {
      it(`a ${label} USDC donation after a 1-unit deposit: the victim loses at most one share's worth, the attacker about half the donation`, async () => {
        const f = await loadFixture(base);
        const { pool, usdc: token, attacker, victim } = f;
        await mintTo(f, attacker, donation + 1n);
        await mintTo(f, victim, VICTIM_DEPOSIT);

        // 1. One unit first: 10^6 shares. 2. The donation by plain transfer.
        await pool.connect(attacker).deposit(1n, attacker.address);
        const attackerShares = VIRTUAL_SHARES;
        await token.connect(attacker).transfer(f.addr.pool, donation);
        let total = 1n + donation;
        let supply = attackerShares;
        expect(await pool.totalAssets()).to.equal(total);

        // 3. The victim deposits 1,000 USDC at the inflated price.
        const victimShares = toShares(VICTIM_DEPOSIT, supply, total);
        await expect(pool.connect(victim).deposit(VICTIM_DEPOSIT, victim.address))
          .to.emit(pool, "Deposit")
          .withArgs(victim.address, victim.address, VICTIM_DEPOSIT, victimShares);
        total += VICTIM_DEPOSIT;
        supply += victimShares;

        // 4. Both leave after the cooldown, the attacker first.
        await request(f, attacker, attackerShares);
        const claimable = await request(f, victim, victimShares);
        await time.increaseTo(claimable);
        const attackerOut = toAssets(attackerShares, supply, total);
        await expect(pool.connect(attacker).redeem(attackerShares, attacker.address, attacker.address))
          .to.emit(pool, "Withdraw")
          .withArgs(attacker.address, attacker.address, attacker.address, attackerOut, attackerShares);
        total -= attackerOut;
        supply -= attackerShares;
        const victimOut = toAssets(victimShares, supply, total);
        await expect(pool.connect(victim).redeem(victimShares, victim.address, victim.address))
          .to.emit(pool, "Withdraw")
          .withArgs(victim.address, victim.address, victim.address, victimOut, victimShares);

        const attackerLoss = donation + 1n - attackerOut;
        const victimLoss = VICTIM_DEPOSIT - victimOut;
        expect(await token.balanceOf(attacker.address)).to.equal(attackerOut);
        expect(await token.balanceOf(victim.address)).to.equal(victimOut);
        expect(await token.balanceOf(f.addr.pool)).to.equal(attackerLoss + victimLoss);
        expect(await pool.totalSupply()).to.equal(0n);
        // The victim's loss is below one share's worth at the inflated price (plus a unit of rounding);
        // the attacker leaves at least (about) half the donation to the virtual shares.
        const oneShare = divUp(1n + donation + VICTIM_DEPOSIT, VIRTUAL_SHARES + victimShares) + 1n;
        expect(victimLoss <= oneShare).to.equal(true);
        expect(attackerLoss * 2n >= donation - 2n * VICTIM_DEPOSIT).to.equal(true);
        expect(attackerLoss > victimLoss * 1000n).to.equal(true);
        expect([victimShares, attackerLoss, victimLoss]).to.deep.equal([
          expectedShares,
          expectedAttackerLoss,
          expectedVictimLoss,
        ]);
      });
    }

    it("a deposit worth less than one share after a 10,000,000 USDC donation mints none: the victim loses < 5 USDC, the attacker ~5,000,000", async () => {
      const f = await loadFixture(base);
      const { pool, usdc: token, attacker, victim } = f;
      const donation = usdc("10000000");
      await mintTo(f, attacker, donation + 1n);
      await mintTo(f, victim, usdc("4.99"));
      await pool.connect(attacker).deposit(1n, attacker.address);
      await token.connect(attacker).transfer(f.addr.pool, donation);
      // One share is worth (10,000,000.000001 + 1 unit) / (2 x 10^6) = 5.000000000001 USDC.
      expect(toShares(usdc("4.99"), VIRTUAL_SHARES, donation + 1n)).to.equal(0n);
      expect(await pool.previewDeposit(usdc("4.99"))).to.equal(0n);
      await expect(pool.connect(victim).deposit(usdc("4.99"), victim.address))
        .to.emit(pool, "Deposit")
        .withArgs(victim.address, victim.address, usdc("4.99"), 0n);
      // The attacker's share of the pool is half (the other half is virtual): it gets back half.
      const claimable = await request(f, attacker, VIRTUAL_SHARES);
      await time.increaseTo(claimable);
      const out = toAssets(VIRTUAL_SHARES, VIRTUAL_SHARES, donation + 1n + usdc("4.99"));
      expect(out).to.equal(usdc("5000002.495001"));
      await pool.connect(attacker).redeem(VIRTUAL_SHARES, attacker.address, attacker.address);
      expect(await token.balanceOf(attacker.address)).to.equal(out);
      expect(donation + 1n - out).to.equal(usdc("4999997.505")); // the attacker's loss
      expect(await token.balanceOf(victim.address)).to.equal(0n); // the victim's 4.99 USDC
    });
  });

  describe("LP exit ahead of a known loss", () => {
    it("an LP who requests before a known price update still bears its share of the loss: no exit before the cooldown", async () => {
      const f = await loadFixture(base);
      const { pool, accounts, perps, usdc: token, lp, victim: leaver, trader } = f;
      const liquidity = usdc("1000000");
      await mintTo(f, lp, liquidity);
      await mintTo(f, leaver, liquidity);
      await pool.connect(lp).deposit(liquidity, lp.address);
      await pool.connect(leaver).deposit(liquidity, leaver.address);
      const shares = liquidity * VIRTUAL_SHARES; // both at 10^6 shares per unit
      const supply = 2n * shares;

      // A trader holds 100 ETH long, opened at 3,000.
      await accounts.connect(trader).createAccount(CROSS, 0);
      await accounts.connect(trader).deposit(1, f.addr.usdc, usdc("100000"));
      const size = wad("100");
      const price0 = ETH_PRICE * TICK;
      const fill = fillPrice(price0, 0n, size, P.skewScale);
      const fee = tradeFee(P, 0n, size, fill);
      const [, cost] = reprice(0n, 0n, size, fill);
      await perps.connect(trader).modifyPosition(1, ETH, size, ethers.MaxUint256);
      expect((await perps.position(1, ETH)).cost).to.equal(cost);
      const feeUnits = divUp(fee, USDC_SCALE);
      const toInsurance = (fee * P.feeInsuranceShare) / WAD / USDC_SCALE;
      const held = 2n * liquidity + feeUnits - toInsurance;
      expect(await token.balanceOf(f.addr.pool)).to.equal(held);
      /** Traders' unrealized PnL at `price` in whole units, rounded up (PerpMarket.tradersUnrealizedPnl). */
      const pnlUnits = (price: bigint) => {
        const pnl = mulWadUp(size, price) - cost;
        return pnl >= 0n ? divUp(pnl, USDC_SCALE) : pnl / USDC_SCALE;
      };

      // Everyone can see the next round will print 3,300: the leaver requests its whole position first.
      const valueAtRequest = toAssets(shares, supply, held - pnlUnits(price0));
      expect(await pool.convertToAssets(shares)).to.equal(valueAtRequest);
      const claimableAt = await request(f, leaver, shares);
      await time.setNextBlockTimestamp(claimableAt - COOLDOWN + 1n);
      await f.ethFeed.push(feed("3300"));
      const price1 = feed("3300") * TICK;
      const totalAfter = held - pnlUnits(price1);
      expect(await pool.totalAssets()).to.equal(totalAfter);

      // Every way out before the cooldown ends is shut.
      await expect(pool.connect(leaver).redeem(shares, leaver.address, leaver.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxRedeem")
        .withArgs(leaver.address, shares, 0n);
      await expect(pool.connect(leaver).withdraw(usdc("1"), leaver.address, leaver.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxWithdraw")
        .withArgs(leaver.address, usdc("1"), 0n);
      // Nor can anyone else redeem them on the leaver's behalf.
      await expect(pool.connect(lp).redeem(shares, lp.address, leaver.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxRedeem")
        .withArgs(leaver.address, shares, 0n);
      await time.setNextBlockTimestamp(claimableAt - 2n);
      await f.ethFeed.push(feed("3300")); // the feed stays fresh; the price stays 3,300
      await time.setNextBlockTimestamp(claimableAt - 1n); // the cooldown's last second
      await expect(pool.connect(leaver).redeem(1n, leaver.address, leaver.address))
        .to.be.revertedWithCustomError(pool, "ERC4626ExceededMaxRedeem")
        .withArgs(leaver.address, 1n, 0n);

      // From the first claimable second it redeems, at the price after the loss.
      const assets = toAssets(shares, supply, totalAfter);
      await time.setNextBlockTimestamp(claimableAt);
      await expect(pool.connect(leaver).redeem(shares, leaver.address, leaver.address))
        .to.emit(pool, "Withdraw")
        .withArgs(leaver.address, leaver.address, leaver.address, assets, shares);
      expect(await token.balanceOf(leaver.address)).to.equal(assets);
      const borne = valueAtRequest - assets;
      // Half the pool's shares bear half of the trader's 30,000-USD gain, less a unit of rounding
      // (both conversions round down).
      expect(pnlUnits(price1) - pnlUnits(price0)).to.equal(usdc("30000"));
      expect(borne).to.equal(usdc("14999.999999"));
      // The LP who stayed holds the same per-share value.
      expect(await pool.convertToAssets(shares)).to.equal(toAssets(shares, shares, totalAfter - assets));
      expect(await pool.convertToAssets(shares)).to.equal(assets);
      expect(await pool.redeemRequest(leaver.address)).to.deep.equal([0n, 0n, 0n]);
    });
  });

  describe("donations", () => {
    it("a donation to the pool raises every share by its part: the donor gets back only its own share of it", async () => {
      const f = await loadFixture(base);
      const { pool, usdc: token, lp, donor } = f;
      await mintTo(f, lp, usdc("900000"));
      await mintTo(f, donor, usdc("200000"));
      await pool.connect(lp).deposit(usdc("900000"), lp.address);
      await pool.connect(donor).deposit(usdc("100000"), donor.address);
      const lpShares = usdc("900000") * VIRTUAL_SHARES;
      const donorShares = usdc("100000") * VIRTUAL_SHARES;
      const supply = lpShares + donorShares;
      const donation = usdc("100000");

      const priceBefore = toAssets(10n ** 12n, supply, usdc("1000000")); // one whole share (12 decimals)
      await token.connect(donor).transfer(f.addr.pool, donation);
      const total = usdc("1100000");
      expect(await pool.totalAssets()).to.equal(total);
      const priceAfter = toAssets(10n ** 12n, supply, total);
      expect([priceBefore, priceAfter]).to.deep.equal([1_000_000n, 1_099_999n]);
      // The rise per share is the donation spread over all shares, virtual ones included.
      expect(priceAfter - priceBefore <= divUp(donation * 10n ** 12n, supply)).to.equal(true);

      const claimable = await request(f, donor, donorShares);
      await time.increaseTo(claimable);
      const out = toAssets(donorShares, supply, total);
      await expect(pool.connect(donor).redeem(donorShares, donor.address, donor.address))
        .to.emit(pool, "Withdraw")
        .withArgs(donor.address, donor.address, donor.address, out, donorShares);
      expect(out).to.equal(usdc("109999.999999"));
      // 200,000 in (deposit + donation), 109,999.999999 out: the donor lost 90% of the donation.
      expect(await token.balanceOf(donor.address)).to.equal(out);
      expect(usdc("200000") - out).to.equal(usdc("90000.000001"));
      expect(await pool.convertToAssets(lpShares)).to.equal(toAssets(lpShares, lpShares, total - out));
      expect(await pool.convertToAssets(lpShares)).to.equal(usdc("990000"));
    });

    it("a donation to the insurance fund is nobody's claim: reconcile books it as UNTRACKED, never as a fee, and LP shares do not move", async () => {
      const f = await loadFixture(base);
      const { pool, fund, accounts, perps, usdc: token, lp, donor, trader } = f;
      await mintTo(f, lp, usdc("1000000"));
      await mintTo(f, donor, usdc("50000"));
      await pool.connect(lp).deposit(usdc("1000000"), lp.address);
      const lpValue = await pool.convertToAssets(usdc("1000000") * VIRTUAL_SHARES);
      expect(lpValue).to.equal(usdc("1000000"));

      const donation = usdc("50000");
      await token.connect(donor).transfer(f.addr.fund, donation);
      expect(await fund.balance()).to.equal(0n);
      expect(await pool.totalAssets()).to.equal(usdc("1000000"));
      expect(await pool.convertToAssets(usdc("1000000") * VIRTUAL_SHARES)).to.equal(lpValue);
      // The donor has no way back: the fund pays only its drawer (the liquidation engine).
      await expect(fund.connect(donor).draw(donor.address, 1n, INSOLVENT))
        .to.be.revertedWithCustomError(fund, "AccessControlUnauthorizedAccount")
        .withArgs(donor.address, DRAWER_ROLE);

      // A trade's fee share arrives meanwhile: it is booked as TRADING_FEE for its own amount only.
      await accounts.connect(trader).createAccount(CROSS, 0);
      await accounts.connect(trader).deposit(1, f.addr.usdc, usdc("100000"));
      const size = wad("10");
      const fill = fillPrice(ETH_PRICE * TICK, 0n, size, P.skewScale);
      const toInsurance = (tradeFee(P, 0n, size, fill) * P.feeInsuranceShare) / WAD / USDC_SCALE;
      await expect(perps.connect(trader).modifyPosition(1, ETH, size, ethers.MaxUint256))
        .to.emit(fund, "Inflow")
        .withArgs(f.addr.accounts, TRADING_FEE, toInsurance, toInsurance);
      expect(await fund.balance()).to.equal(toInsurance);

      // Anyone books the stray tokens, tagged UNTRACKED, from address zero; then nothing is left.
      await expect(fund.connect(lp).reconcile())
        .to.emit(fund, "Inflow")
        .withArgs(ethers.ZeroAddress, UNTRACKED, donation, toInsurance + donation);
      await expect(fund.connect(donor).reconcile()).to.be.revertedWithCustomError(fund, "NothingToReconcile");
      expect(await fund.balance()).to.equal(await token.balanceOf(f.addr.fund));
      expect(await token.balanceOf(donor.address)).to.equal(0n);
    });
  });
});
