import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { AccountFactory, EdgeReentrantHook } from "../../typechain-types";
import { paramIndex } from "../../scripts/lib/params";
import { networkConfig } from "../../config/networks";
import { pricedMarkets } from "../helpers/fixtures";
import { WAD, TICK, CROSS, ETH, ETH_PRICE, usdc, wad, feed, configuredParams, fillPrice } from "../helpers/marginModel";

const UNIT = 10n ** 12n; // WAD USD per USDC unit
const S0 = ETH_PRICE * TICK; // 3000e18
const ETH_FEED = networkConfig("hardhat").oracles.assets.find((a) => a.symbol === "WETH")!.chainlink;
const MAX_AGE = BigInt(ETH_FEED.heartbeat + ETH_FEED.tolerance);

const divUp = (x: bigint, d: bigint) => (x + d - 1n) / d;
const mulWadUp = (x: bigint, y: bigint) => divUp(x * y, WAD);

/** pricedMarkets (ETH 3000, no TWAP, funding off) with alice and bob funded, each with a cross account. */
async function markets() {
  const signers = await ethers.getSigners();
  const [alice, bob, stranger] = signers.slice(2, 5);
  const f = await pricedMarkets({ liquidity: usdc("10000000"), traders: [alice, bob] });
  const aliceId = await f.accounts.nextAccountId();
  await f.accounts.connect(alice).createAccount(CROSS, 0);
  await f.accounts.connect(alice).deposit(aliceId, f.addr.usdc, usdc("100000"));
  const bobId = aliceId + 1n;
  await f.accounts.connect(bob).createAccount(CROSS, 0);
  await f.accounts.connect(bob).deposit(bobId, f.addr.usdc, usdc("100000"));
  const setParam = (name: string, value: bigint) => f.riskConfig.setParameter(paramIndex(name), ETH, value);
  return { ...f, alice, bob, stranger, aliceId, bobId, setParam };
}

describe("PerpMarket edge cases", () => {
  describe("deployment and governance", () => {
    it("rejects a zero admin, accounts, oracle, volatility oracle or risk config (ZeroAddress)", async () => {
      const f = await loadFixture(markets);
      const factory = await ethers.getContractFactory("PerpMarket");
      const args = [
        f.admin.address,
        f.addr.accounts,
        await f.oracle.getAddress(),
        await f.volatility.getAddress(),
        f.addr.riskConfig,
      ];
      for (let i = 0; i < args.length; i++) {
        const withZero = args.map((a, j) => (j === i ? ethers.ZeroAddress : a));
        await expect(
          factory.deploy(withZero[0], withZero[1], withZero[2], withZero[3], withZero[4], 6),
        ).to.be.revertedWithCustomError(factory, "ZeroAddress");
      }
      // Control: the same arguments without a zero deploy.
      const ok = await factory.deploy(args[0], args[1], args[2], args[3], args[4], 6);
      expect(await ok.riskConfig()).to.equal(f.addr.riskConfig);
    });

    it("lets only the admin set the margin engine (AccessControlUnauthorizedAccount)", async () => {
      const f = await loadFixture(markets);
      await expect(f.perps.connect(f.stranger).setMarginEngine(f.addr.engine))
        .to.be.revertedWithCustomError(f.perps, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, ethers.ZeroHash);
      expect(await f.perps.marginEngine()).to.equal(f.addr.engine);
    });

    it("takes a funding parameter while the price is Down without accruing funding", async () => {
      const f = await loadFixture(markets);
      const before = await f.perps.marketState(ETH);
      await time.increase(MAX_AGE + 1n); // the feed goes stale: Down (no TWAP)
      expect((await f.oracle.getPrice(f.addr.weth)).status).to.equal(2n);
      const tx = f.setParam("SKEW_SCALE", wad("5000"));
      await expect(tx).not.to.emit(f.perps, "FundingAccrued");
      await expect(tx).to.emit(f.perps, "MarketConfigUpdated");
      expect((await f.perps.marketConfig(ETH)).skewScale).to.equal(wad("5000"));
      const after = await f.perps.marketState(ETH);
      expect(after.lastFundingTime).to.equal(before.lastFundingTime);
      expect(after.fundingIndex).to.equal(before.fundingIndex);
    });
  });

  describe("re-entry", () => {
    /** The perp market's margin engine replaced by a hook that calls back into the market. */
    async function hooked() {
      const f = await loadFixture(markets);
      const hook = (await (
        await ethers.getContractFactory("EdgeReentrantHook")
      ).deploy(ethers.ZeroAddress)) as unknown as EdgeReentrantHook;
      await f.perps.setMarginEngine(await hook.getAddress());
      await f.perps.grantRole(await f.perps.LIQUIDATOR_ROLE(), await hook.getAddress());
      return { ...f, hook };
    }

    it("refuses modifyPosition re-entered from the margin check (ReentrancyGuardReentrantCall)", async () => {
      const f = await hooked();
      await f.accounts.connect(f.alice).setOperator(f.aliceId, await f.hook.getAddress(), true);
      await f.hook.setCall(
        f.addr.perps,
        f.perps.interface.encodeFunctionData("modifyPosition", [f.aliceId, ETH, wad("1"), ethers.MaxUint256]),
      );
      await expect(
        f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, wad("1"), ethers.MaxUint256),
      ).to.be.revertedWithCustomError(f.perps, "ReentrancyGuardReentrantCall");
      expect((await f.perps.position(f.aliceId, ETH)).size).to.equal(0n);
    });

    it("refuses transferPositions re-entered from the margin check (ReentrancyGuardReentrantCall)", async () => {
      const f = await hooked();
      await f.hook.setCall(
        f.addr.perps,
        f.perps.interface.encodeFunctionData("transferPositions", [f.aliceId, f.bobId, WAD]),
      );
      await expect(
        f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, wad("1"), ethers.MaxUint256),
      ).to.be.revertedWithCustomError(f.perps, "ReentrancyGuardReentrantCall");
      expect((await f.perps.position(f.bobId, ETH)).size).to.equal(0n);
    });
  });

  describe("fills", () => {
    it("refuses a sell whose average premium reaches -100% (ZeroFillPrice), before any cap", async () => {
      const f = await loadFixture(markets);
      await f.setParam("SKEW_SCALE", wad("1"));
      // Numerator 2 x 1 + 2 x 0 - 2 = 0: the fill price would be zero.
      expect(fillPrice(S0, 0n, -wad("2"), wad("1"))).to.equal(0n);
      await expect(f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, -wad("2"), 0n))
        .to.be.revertedWithCustomError(f.perps, "ZeroFillPrice")
        .withArgs(ETH);
    });

    it("books nothing in the accounts for a trade without fee, PnL or funding", async () => {
      const f = await loadFixture(markets);
      await f.setParam("MAKER_FEE", 0n);
      await f.setParam("TAKER_FEE", 0n);
      const p = configuredParams(ETH);
      const fill = fillPrice(S0, 0n, wad("1"), p.skewScale);
      const tx = f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, wad("1"), ethers.MaxUint256);
      await expect(tx)
        .to.emit(f.perps, "PositionModified")
        .withArgs(f.aliceId, ETH, wad("1"), fill, wad("1"), 0n, 0n, 0n, 0n);
      await expect(tx).not.to.emit(f.accounts, "Settled");
      expect(await f.accounts.balanceOf(f.aliceId, f.addr.usdc)).to.equal(usdc("100000"));
      expect((await f.perps.position(f.aliceId, ETH)).cost).to.equal(mulWadUp(wad("1"), fill));
    });

    it("sends the fee's insurance share when the realized profit covers the fee to less than a unit", async () => {
      const f = await loadFixture(markets);
      const p = configuredParams(ETH);
      await f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, wad("1"), ethers.MaxUint256);
      const cost = (await f.perps.position(f.aliceId, ETH)).cost;
      // Closing sells into a skew of +1: all maker fee. Find the answer whose close realizes the
      // fee plus less than one USDC unit: realized - fee in [0, 1e12).
      const close = (answer: bigint) => {
        const fill = fillPrice(answer * TICK, wad("1"), -wad("1"), p.skewScale);
        const realized = fill - cost;
        const fee = divUp(wad("1") * p.makerFee * fill, WAD * WAD);
        return { fill, realized, fee };
      };
      // realized - fee grows with the answer: the smallest answer where it is >= 0 (bisection).
      let lo = ETH_PRICE;
      let hi = 2n * ETH_PRICE;
      while (lo < hi) {
        const mid = (lo + hi) / 2n;
        const m = close(mid);
        if (m.realized - m.fee >= 0n) hi = mid;
        else lo = mid + 1n;
      }
      const answer = lo;
      const c = close(answer);
      expect(c.realized - c.fee).to.be.lessThan(UNIT);
      const toInsurance = (c.fee * p.feeInsuranceShare) / WAD / UNIT;
      expect(toInsurance).to.be.greaterThan(0n);
      await f.ethFeed.push(answer);

      const fundBefore = await f.usdc.balanceOf(f.addr.fund);
      const balanceBefore = await f.accounts.balanceOf(f.aliceId, f.addr.usdc);
      const tx = f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, -wad("1"), 0n);
      await expect(tx)
        .to.emit(f.perps, "PositionModified")
        .withArgs(f.aliceId, ETH, -wad("1"), c.fill, 0n, c.realized, 0n, c.fee, 0n);
      await expect(tx).to.emit(f.accounts, "Settled").withArgs(f.aliceId, 0n, toInsurance, 0n);
      // Zero units: the account's stablecoin balance does not move.
      expect(await f.accounts.balanceOf(f.aliceId, f.addr.usdc)).to.equal(balanceBefore);
      expect(await f.usdc.balanceOf(f.addr.fund)).to.equal(fundBefore + toInsurance);
    });

    it("accrues funding once per block: a second trade in the same transaction emits no FundingAccrued", async () => {
      const f = await loadFixture(markets);
      const factory = (await (
        await ethers.getContractFactory("AccountFactory")
      ).deploy(f.addr.accounts, f.addr.perps)) as unknown as AccountFactory;
      const factoryAddress = await factory.getAddress();
      await f.usdc.mint(factoryAddress, usdc("20000"));
      await time.increase(60);
      const tx = await factory.open(2, true, ETH, f.addr.usdc, usdc("10000"), wad("1"));
      const receipt = (await tx.wait())!;
      const block = await receipt.getBlock();
      const accrued = receipt.logs.filter(
        (l) => l.topics[0] === f.perps.interface.getEvent("FundingAccrued").topicHash,
      );
      const modified = receipt.logs.filter(
        (l) => l.topics[0] === f.perps.interface.getEvent("PositionModified").topicHash,
      );
      expect(accrued.length).to.equal(1);
      expect(modified.length).to.equal(2);
      expect((await f.perps.marketState(ETH)).lastFundingTime).to.equal(BigInt(block.timestamp));
      // A long and a short of one ETH each: the skew is flat again.
      const s = await f.perps.marketState(ETH);
      expect([s.oiLong, s.oiShort]).to.deep.equal([wad("1"), wad("1")]);
    });
  });

  describe("liquidation transfers", () => {
    it("moves nothing of a position whose share of the fraction rounds to zero", async () => {
      const f = await loadFixture(markets);
      await f.perps.grantRole(await f.perps.LIQUIDATOR_ROLE(), f.admin.address);
      await f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, 1n, ethers.MaxUint256); // one wei of ETH
      // 1 x 0.5 rounds to 0: nothing moves, nothing is realized.
      expect(await f.perps.transferPositions.staticCall(f.aliceId, f.bobId, WAD / 2n)).to.deep.equal([0n, 0n]);
      const tx = f.perps.transferPositions(f.aliceId, f.bobId, WAD / 2n);
      await expect(tx).not.to.emit(f.perps, "PositionLiquidated");
      expect((await f.perps.position(f.aliceId, ETH)).size).to.equal(1n);
      expect((await f.perps.position(f.bobId, ETH)).size).to.equal(0n);
      expect(await f.perps.accountMarkets(f.bobId)).to.deep.equal([]);
    });
  });

  describe("views", () => {
    it("reverts tradersUnrealizedPnl with PriceDown(underlying) while a market with open interest has no price", async () => {
      const f = await loadFixture(markets);
      await f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, wad("1"), ethers.MaxUint256);
      await time.increase(MAX_AGE + 1n);
      await expect(f.perps.tradersUnrealizedPnl())
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
    });

    it("takes the whole size factor as the size term when MAX_POSITION_SIZE is zero", async () => {
      const f = await loadFixture(markets);
      await f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, wad("1"), ethers.MaxUint256);
      await f.setParam("MM_SIZE_FACTOR", wad("0.5"));
      await f.setParam("MAX_POSITION_SIZE", 0n);
      // Floor and volatility term are far below 50%: the ratio is the size factor itself.
      const [r] = await f.perps.accountRisk(f.aliceId);
      expect(r.shockRatio).to.equal(wad("0.5"));
      expect(r.notional).to.equal(S0);
    });

    it("uses the exact square root of a horizon of 1/400 year (no rounding up)", async () => {
      const f = await loadFixture(markets);
      await f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, wad("1"), ethers.MaxUint256);
      const year = 365n * 86_400n;
      await f.setParam("MM_VOL_MULTIPLIER", wad("10"));
      await f.setParam("LIQUIDATION_HORIZON", year / 400n); // 78,840 s: sqrt(1/400) = 0.05 exactly
      const sigma = await f.volatility.volatility(f.addr.weth);
      const volTerm = mulWadUp(mulWadUp(wad("10"), sigma), wad("0.05"));
      const p = configuredParams(ETH);
      const sizeTerm = divUp(p.mmSizeFactor * wad("1"), p.maxPositionSize);
      const expected = [p.mmFloor, sizeTerm, volTerm].reduce((a, b) => (a > b ? a : b));
      expect(expected).to.equal(volTerm);
      const [r] = await f.perps.accountRisk(f.aliceId);
      expect(r.shockRatio).to.equal(expected);
      // feed() keeps the import used for readers: ETH's answer at fixture time.
      expect(feed("3000")).to.equal(ETH_PRICE);
    });
  });
});
