import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { Interface } from "ethers";
import type { EdgeReentrantHook } from "../../typechain-types";
import { paramIndex } from "../../scripts/lib/params";
import { networkConfig } from "../../config/networks";
import { WAD, TICK, CROSS, ISOLATED, ETH, ETH_PRICE, usdc, wad } from "../helpers/marginModel";
import {
  CALL,
  PUT,
  DAY_S,
  loadOptionMarkets,
  gridExpiry,
  mulWad,
  mulWadUp,
  tenorFactor,
  volatilityUp,
  volatilityDown,
} from "../helpers/optionFixtures";

const S0 = ETH_PRICE * TICK; // 3000e18
const MAX = ethers.MaxUint256;
const SETTLEMENT_GRACE = DAY_S;
const ETH_FEED = networkConfig("hardhat").oracles.assets.find((a) => a.symbol === "WETH")!.chainlink;
const MAX_AGE = BigInt(ETH_FEED.heartbeat + ETH_FEED.tolerance);

/** The option fixture with alice and bob (cross accounts, 100,000 USDC each) and a few helpers. */
async function ready() {
  const f = await loadOptionMarkets();
  const [alice, bob, stranger] = f.traders;
  const aliceId = await f.openAccount(alice, CROSS, 0, usdc("100000"));
  const bobId = await f.openAccount(bob, CROSS, 0, usdc("100000"));
  const now = async () => BigInt(await time.latest());
  const setParam = (name: string, underlying: string, value: bigint) =>
    f.riskConfig.setParameter(paramIndex(name), BigInt(underlying), value);
  const trade = (signer: HardhatEthersSigner, id: bigint, seriesId: number, amount: bigint) =>
    f.options.connect(signer).tradeOption(id, seriesId, amount, amount > 0n ? MAX : 0n);
  /** Past expiry and the settlement grace; settled by governance at `price`; then a fresh ETH round. */
  async function settleByGovernance(seriesId: number, expiry: bigint, price: bigint) {
    await time.increaseTo(expiry + SETTLEMENT_GRACE);
    await f.options.settleSeriesByGovernance(seriesId, price);
    await f.ethFeed.push(ETH_PRICE);
  }
  return { ...f, alice, bob, stranger, aliceId, bobId, now, setParam, trade, settleByGovernance };
}

describe("OptionMarket edge cases", () => {
  describe("deployment and governance", () => {
    it("rejects a zero admin, accounts, oracle, risk config or perp market (ZeroAddress)", async () => {
      const f = await ready();
      const factory = await ethers.getContractFactory("OptionMarket");
      const args = [f.admin.address, f.addr.accounts, await f.oracle.getAddress(), f.addr.riskConfig, f.addr.perps];
      for (let i = 0; i < args.length; i++) {
        const a = args.map((x, j) => (j === i ? ethers.ZeroAddress : x));
        await expect(factory.deploy(a[0], a[1], a[2], a[3], a[4], 6)).to.be.revertedWithCustomError(
          factory,
          "ZeroAddress",
        );
      }
      const ok = await factory.deploy(args[0], args[1], args[2], args[3], args[4], 6);
      expect(await ok.perps()).to.equal(f.addr.perps);
    });

    it("lets only the admin set the margin engine, and only to a contract", async () => {
      const f = await ready();
      await expect(f.options.connect(f.stranger).setMarginEngine(f.addr.engine))
        .to.be.revertedWithCustomError(f.options, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, ethers.ZeroHash);
      await expect(f.options.setMarginEngine(f.stranger.address))
        .to.be.revertedWithCustomError(f.options, "NotAContract")
        .withArgs(f.stranger.address);
      expect(await f.options.marginEngine()).to.equal(f.addr.engine);
    });

    it("refuses a zero strike when the strike band is 100% (its lower end is zero)", async () => {
      const f = await ready();
      await f.setParam("STRIKE_BAND", f.addr.weth, WAD);
      const expiry = gridExpiry(await f.now(), 7n);
      await expect(f.options.listSeries(f.addr.weth, 0n, expiry, CALL))
        .to.be.revertedWithCustomError(f.options, "StrikeOutOfBand")
        .withArgs(0n, 0n, 2n * S0);
    });

    it("lists a new series of an underlying whose live series all settled without listing it twice", async () => {
      const f = await ready();
      const expiry = gridExpiry(await f.now(), 1n);
      const first = await f.listWethSeries(S0, expiry, CALL);
      await f.settleByGovernance(first, expiry, S0);
      expect(await f.options.liveSeries(f.addr.weth)).to.deep.equal([]);
      const second = await f.listWethSeries(S0, gridExpiry(await f.now(), 7n), CALL);
      expect(await f.options.liveSeries(f.addr.weth)).to.deep.equal([BigInt(second)]);
      expect(await f.options.underlyings()).to.deep.equal([f.addr.weth]);
    });
  });

  describe("re-entry", () => {
    /** The market's margin engine replaced by a hook (holding LIQUIDATOR_ROLE) that calls back in. */
    async function hooked() {
      const f = await ready();
      const seriesId = await f.listWethSeries(S0, gridExpiry(await f.now(), 7n), CALL);
      const hook = (await (
        await ethers.getContractFactory("EdgeReentrantHook")
      ).deploy(ethers.ZeroAddress)) as unknown as EdgeReentrantHook;
      await f.options.setMarginEngine(await hook.getAddress());
      await f.options.grantRole(await f.options.LIQUIDATOR_ROLE(), await hook.getAddress());
      return { ...f, hook, seriesId };
    }

    it("refuses every guarded entry point called back from a trade's margin check", async () => {
      const f = await hooked();
      const calls: [string, unknown[]][] = [
        ["tradeOption", [f.aliceId, f.seriesId, wad("1"), MAX]],
        ["settleSeries", [f.seriesId, 2n]],
        ["settlePosition", [f.aliceId, f.seriesId]],
        ["transferPositions", [f.aliceId, f.bobId, WAD]],
        ["refreshExposure", [f.addr.weth]],
      ];
      for (const [name, args] of calls) {
        const iface: Interface = f.options.interface;
        await f.hook.setCall(f.addr.options, iface.encodeFunctionData(name, args));
        await expect(f.trade(f.alice, f.aliceId, f.seriesId, wad("1")), name).to.be.revertedWithCustomError(
          f.options,
          "ReentrancyGuardReentrantCall",
        );
      }
      expect(await f.options.positionOf(f.aliceId, f.seriesId)).to.equal(0n);
    });
  });

  describe("liquidation transfers", () => {
    async function withLiquidator() {
      const f = await ready();
      await f.options.grantRole(await f.options.LIQUIDATOR_ROLE(), f.admin.address);
      return f;
    }

    it("is LIQUIDATOR_ROLE only and takes a fraction in (0, 1]", async () => {
      const f = await withLiquidator();
      const role = await f.options.LIQUIDATOR_ROLE();
      await expect(f.options.connect(f.stranger).transferPositions(f.aliceId, f.bobId, WAD))
        .to.be.revertedWithCustomError(f.options, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, role);
      for (const fraction of [0n, WAD + 1n]) {
        await expect(f.options.transferPositions(f.aliceId, f.bobId, fraction))
          .to.be.revertedWithCustomError(f.options, "InvalidFraction")
          .withArgs(fraction);
      }
    });

    it("moves a whole long at its mark (the low end for a long call)", async () => {
      const f = await withLiquidator();
      const expiry = gridExpiry(await f.now(), 7n);
      const id = await f.listWethSeries(wad("3100"), expiry, CALL);
      await f.trade(f.alice, f.aliceId, id, wad("2"));
      const t = (await f.now()) + 10n;
      await time.setNextBlockTimestamp(t);
      const unit = await f.bs.price(S0, wad("3100"), f.iv.eth, expiry - t, CALL);
      await expect(f.options.transferPositions(f.aliceId, f.bobId, WAD))
        .to.emit(f.options, "OptionLiquidated")
        .withArgs(f.aliceId, f.bobId, id, wad("2"), unit);
      expect(await f.options.positionOf(f.aliceId, id)).to.equal(0n);
      expect(await f.options.positionOf(f.bobId, id)).to.equal(wad("2"));
      expect(await f.options.accountSeries(f.aliceId)).to.deep.equal([]);
      expect(await f.options.accountSeries(f.bobId)).to.deep.equal([BigInt(id)]);
      const s = await f.options.series(id);
      expect([s.longOpenInterest, s.shortOpenInterest]).to.deep.equal([wad("2"), 0n]);
    });

    it("moves nothing of a position whose share of the fraction rounds to zero", async () => {
      const f = await withLiquidator();
      const id = await f.listWethSeries(S0, gridExpiry(await f.now(), 7n), CALL);
      await f.trade(f.alice, f.aliceId, id, 1n); // one wei of an option
      expect(await f.options.transferPositions.staticCall(f.aliceId, f.bobId, WAD / 2n)).to.deep.equal([0n, 0n]);
      await expect(f.options.transferPositions(f.aliceId, f.bobId, WAD / 2n)).not.to.emit(
        f.options,
        "OptionLiquidated",
      );
      expect(await f.options.positionOf(f.aliceId, id)).to.equal(1n);
      expect(await f.options.positionOf(f.bobId, id)).to.equal(0n);
    });

    it("moves a settled series at its payoff and drops it from the settled list once nobody holds it", async () => {
      const f = await withLiquidator();
      const expiry = gridExpiry(await f.now(), 1n);
      const id = await f.listWethSeries(S0, expiry, CALL);
      await f.trade(f.alice, f.aliceId, id, wad("1"));
      await f.trade(f.bob, f.bobId, id, -wad("1"));
      await f.settleByGovernance(id, expiry, wad("3100"));
      expect(await f.options.settledOpenSeries()).to.deep.equal([BigInt(id)]);

      // Payoff 100 per unit: the long's side books +100 USDC, the (short) bidder's -100.
      expect(await f.options.transferPositions.staticCall(f.aliceId, f.bobId, WAD)).to.deep.equal([
        usdc("100"),
        -usdc("100"),
      ]);
      await expect(f.options.transferPositions(f.aliceId, f.bobId, WAD))
        .to.emit(f.options, "OptionLiquidated")
        .withArgs(f.aliceId, f.bobId, id, wad("1"), wad("100"));
      expect(await f.options.settledOpenSeries()).to.deep.equal([]);
      expect(await f.options.positionOf(f.aliceId, id)).to.equal(0n);
      expect(await f.options.positionOf(f.bobId, id)).to.equal(0n);
      const s = await f.options.series(id);
      expect([s.longOpenInterest, s.shortOpenInterest]).to.deep.equal([0n, 0n]);
    });
  });

  describe("exposure and valuation", () => {
    it("refreshes the exposure of a series past expiry, not settled yet, at its intrinsic Greeks", async () => {
      const f = await ready();
      const expiry = gridExpiry(await f.now(), 1n);
      const id = await f.listWethSeries(wad("2900"), expiry, CALL);
      await f.trade(f.alice, f.aliceId, id, wad("1"));
      await time.increaseTo(expiry + 60n);
      await f.ethFeed.push(ETH_PRICE);
      // In the money at expiry: delta 1, vega 0; the traders are long 1, so the pool is short 1.
      await expect(f.options.refreshExposure(f.addr.weth))
        .to.emit(f.options, "ExposureUpdated")
        .withArgs(f.addr.weth, -WAD, 0n);
      const e = await f.options.exposureOf(f.addr.weth);
      expect([e.netDelta, e.netVega]).to.deep.equal([-WAD, 0n]);
      const s = await f.options.series(id);
      expect([s.traderDelta, s.traderVega]).to.deep.equal([WAD, 0n]);
    });

    it("refuses to refresh the exposure while the underlying's price is Down (PriceDown)", async () => {
      const f = await ready();
      const id = await f.listWethSeries(S0, gridExpiry(await f.now(), 7n), CALL);
      await f.trade(f.alice, f.aliceId, id, wad("1"));
      const before = await f.options.exposureOf(f.addr.weth);
      await time.increase(MAX_AGE + 1n);
      await expect(f.options.refreshExposure(f.addr.weth))
        .to.be.revertedWithCustomError(f.options, "PriceDown")
        .withArgs(f.addr.weth);
      const after = await f.options.exposureOf(f.addr.weth);
      expect([after.netDelta, after.netVega]).to.deep.equal([before.netDelta, before.netVega]);
    });

    it("takes the tenor factor's exact square root at 7.5 days to expiry (factor 2, not rounded up)", async () => {
      const f = await ready();
      const expiry = gridExpiry(await f.now(), 14n);
      const id = await f.listWethSeries(S0, expiry, PUT);
      await f.trade(f.alice, f.aliceId, id, -wad("1"));
      const seconds = (30n * DAY_S) / 4n; // 648,000 s: 30 days / T = 4, sqrt = 2 exactly
      await time.setNextBlockTimestamp(expiry - seconds);
      await f.ethFeed.push(ETH_PRICE); // a fresh round, in a block at expiry - 648,000 s
      const [r] = await f.options.accountRisk(f.aliceId);
      expect(r.secondsToExpiry).to.equal(seconds);
      expect(tenorFactor(seconds)).to.equal(2n * WAD);
      const p = await f.readParams(f.addr.weth);
      // Shocks x 2: up 50% -> 100%, down 30% -> 60% (both below their limits).
      const up = mulWadUp(p.impliedVol, WAD + mulWadUp(p.volShockUp, 2n * WAD));
      const down = mulWad(p.impliedVol, WAD - mulWadUp(p.volShockDown, 2n * WAD));
      expect([r.volatilityUp, r.volatilityDown]).to.deep.equal([up, down]);
      expect([up, down]).to.deep.equal([
        volatilityUp(p.impliedVol, 2n * WAD, p),
        volatilityDown(p.impliedVol, 2n * WAD, p),
      ]);
    });
  });

  describe("position limits and spread", () => {
    it("refuses a liquidation transfer that would give the bidder a 17th series (TooManyOptions(bidder, 16))", async () => {
      const f = await ready();
      await f.options.grantRole(await f.options.LIQUIDATOR_ROLE(), f.admin.address);
      // Isolated accounts (standard margin: cheap checks). The transfer's path has no per-underlying
      // cap, so only the account-wide MAX_POSITIONS can refuse it.
      const bidder = await f.openAccount(f.alice, ISOLATED, ETH, usdc("100000"));
      const liquidated = await f.openAccount(f.bob, ISOLATED, ETH, usdc("100000"));
      const expiry = gridExpiry(await f.now(), 7n);
      const small = wad("0.01");
      for (let i = 0n; i < 16n; i++) {
        const id = await f.listWethSeries(wad("2200") + i * wad("100"), expiry, CALL);
        await f.trade(f.alice, bidder, id, small);
      }
      const seventeenth = await f.listWethSeries(wad("3800"), expiry, CALL);
      await f.trade(f.bob, liquidated, seventeenth, small);
      expect((await f.options.accountSeries(bidder)).length).to.equal(16);
      await expect(f.options.transferPositions(liquidated, bidder, WAD))
        .to.be.revertedWithCustomError(f.options, "TooManyOptions")
        .withArgs(bidder, 16n);
      expect(await f.options.positionOf(liquidated, seventeenth)).to.equal(small);
    });

    it("pays a seller nothing once the spread reaches 100% (base 10% + slope 100% at full utilization)", async () => {
      const f = await ready();
      const id = await f.listWethSeries(S0, gridExpiry(await f.now(), 7n), CALL);
      await f.trade(f.alice, f.aliceId, id, wad("2"));
      await f.setParam("OPTION_SPREAD_BASE", f.addr.weth, wad("0.1"));
      await f.setParam("OPTION_SPREAD_SLOPE", f.addr.weth, WAD);
      await f.setParam("MAX_NET_DELTA", f.addr.weth, 0n); // any exposure is full utilization
      expect(await f.optionLens.quotePremium(id, -wad("1"))).to.equal(0n);
      const balance = await f.accounts.balanceOf(f.aliceId, f.addr.usdc);
      const tx = f.trade(f.alice, f.aliceId, id, -wad("1"));
      await expect(tx).to.emit(f.options, "OptionTraded");
      const receipt = (await (await tx).wait())!;
      const traded = f.options.interface.parseLog(
        receipt.logs.find((l) => l.topics[0] === f.options.interface.getEvent("OptionTraded").topicHash)!,
      )!;
      expect(traded.args.spread).to.equal(wad("1.1"));
      expect(traded.args.premium).to.equal(0n);
      expect(traded.args.newSize).to.equal(wad("1"));
      await expect(tx).not.to.emit(f.accounts, "Settled");
      expect(await f.accounts.balanceOf(f.aliceId, f.addr.usdc)).to.equal(balance);
    });
  });
});
