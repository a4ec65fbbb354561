import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { Interface } from "ethers";
import type { EdgeReentrantHook, LiquidationEngine } from "../../typechain-types";
import { paramIndex } from "../../scripts/lib/params";
import { pricedMarkets } from "../helpers/fixtures";
import { WAD, TICK, CROSS, ETH, ETH_PRICE, usdc, wad, feed } from "../helpers/marginModel";

const UNIT = 10n ** 12n; // WAD USD per USDC unit
const MAX = ethers.MaxUint256;
const INT_MAX = 2n ** 255n - 1n;
const divUp = (x: bigint, d: bigint) => (x + d - 1n) / d;
const mulWadUp = (x: bigint, y: bigint) => divUp(x * y, WAD);

/**
 * pricedMarkets (ETH 3000, no TWAP, funding off, empty insurance fund) with alice long 1 ETH in a
 * cross account holding 300 USDC, and bob (the bidder) with 100,000 USDC in his.
 */
async function book() {
  const signers = await ethers.getSigners();
  const [alice, bob] = signers.slice(2, 4);
  const f = await pricedMarkets({ liquidity: usdc("10000000"), traders: [alice, bob] });
  const aliceId = await f.accounts.nextAccountId();
  await f.accounts.connect(alice).createAccount(CROSS, 0);
  await f.accounts.connect(alice).deposit(aliceId, f.addr.usdc, usdc("300"));
  await f.perps.connect(alice).modifyPosition(aliceId, ETH, wad("1"), MAX);
  const bobId = aliceId + 1n;
  await f.accounts.connect(bob).createAccount(CROSS, 0);
  await f.accounts.connect(bob).deposit(bobId, f.addr.usdc, usdc("100000"));
  const setGlobal = (name: string, value: bigint) => f.riskConfig.setParameter(paramIndex(name), 0n, value);
  return { ...f, alice, bob, aliceId, bobId, setGlobal };
}

describe("LiquidationEngine edge cases", () => {
  it("refuses every entry point re-entered while one runs (ReentrancyGuardReentrantCall)", async () => {
    const f = await loadFixture(book);
    // A second engine on the same contracts whose margin engine is a hook calling back into it.
    const hook = (await (
      await ethers.getContractFactory("EdgeReentrantHook")
    ).deploy(await f.options.getAddress())) as unknown as EdgeReentrantHook;
    const engine = (await (
      await ethers.getContractFactory("LiquidationEngine")
    ).deploy(
      f.addr.accounts,
      f.addr.perps,
      await hook.getAddress(),
      f.addr.riskConfig,
      f.addr.fund,
    )) as unknown as LiquidationEngine;
    const iface: Interface = engine.interface;
    const calls: [string, unknown[]][] = [
      ["liquidate", [f.aliceId, WAD, INT_MAX, f.bobId, 1n]],
      ["startAuction", [f.aliceId]],
      ["terminateAuction", [f.aliceId]],
      ["restartAuction", [f.aliceId]],
    ];
    for (const [name, args] of calls) {
      await hook.setCall(await engine.getAddress(), iface.encodeFunctionData(name, args));
      // startAuction values the account through the hook, which calls `name` back.
      await expect(engine.startAuction(f.aliceId), name).to.be.revertedWithCustomError(
        engine,
        "ReentrancyGuardReentrantCall",
      );
    }
  });

  it("refuses to start an auction of an account that does not exist (UnknownAccount)", async () => {
    const f = await loadFixture(book);
    await expect(f.liquidation.startAuction(999n))
      .to.be.revertedWithCustomError(f.liquidation, "UnknownAccount")
      .withArgs(999n);
  });

  it("quotes: refuses a fraction above 1 (InvalidFraction); a zero fraction prices nothing", async () => {
    const f = await loadFixture(book);
    await expect(f.liquidation.quote(f.aliceId, WAD + 1n))
      .to.be.revertedWithCustomError(f.liquidation, "InvalidFraction")
      .withArgs(WAD + 1n);
    await f.ethFeed.push(feed("2800"));
    const v = await f.engine.valuation(f.aliceId);
    expect(v.maintenanceMargin).to.be.greaterThan(v.equity); // liquidatable, solvent
    const q = await f.liquidation.quote(f.aliceId, 0n);
    // The fee a bid would charge at the start: MM x 2%, in units rounded up, within MtM.
    const fee = divUp(mulWadUp(v.maintenanceMargin, wad("0.02")), UNIT);
    expect(fee).to.be.lessThan(BigInt(v.markToMarket) / UNIT);
    expect([q.auctionRunning, q.insolvent, q.fee, q.price]).to.deep.equal([false, false, fee, 0n]);
    expect([q.equity, q.markToMarket, q.maintenanceMargin]).to.deep.equal([
      v.equity - fee * UNIT,
      v.markToMarket - fee * UNIT,
      v.maintenanceMargin,
    ]);
  });

  it("reports an account below MM as liquidatable with no option, then with its auction running", async () => {
    const f = await loadFixture(book);
    await f.ethFeed.push(feed("2800"));
    expect(await f.liquidation.isLiquidatable(f.aliceId)).to.equal(true);
    await f.liquidation.startAuction(f.aliceId);
    expect(await f.liquidation.isLiquidatable(f.aliceId)).to.equal(true);
    // Back above MM (a deposit): no longer, auction or not.
    await f.accounts.connect(f.alice).deposit(f.aliceId, f.addr.usdc, usdc("1000"));
    expect(await f.liquidation.isLiquidatable(f.aliceId)).to.equal(false);
  });

  it("restarts the auction of an account that closed its positions from the end of the fast phase", async () => {
    const f = await loadFixture(book);
    await f.ethFeed.push(feed("2800"));
    await f.liquidation.startAuction(f.aliceId);
    // The owner sells the long: no position, no MM, positive equity left.
    await f.perps.connect(f.alice).modifyPosition(f.aliceId, ETH, -wad("1"), 0n);
    const v = await f.engine.valuation(f.aliceId);
    expect(v.maintenanceMargin).to.equal(0n);
    expect(v.equity).to.be.greaterThan(0n);
    const [version] = await f.liquidation.parameters();
    const t = BigInt(await time.latest()) + 5n;
    await time.setNextBlockTimestamp(t);
    // Health offset: the whole fast phase (60 s) when MM is zero.
    await expect(f.liquidation.restartAuction(f.aliceId))
      .to.emit(f.liquidation, "AuctionRestarted")
      .withArgs(f.aliceId, t - 60n, version);
    const [a] = await f.liquidation.auctionOf(f.aliceId);
    expect([a.startTime, a.curveStart]).to.deep.equal([t, t - 60n]);
  });

  it("stalls an auction at the end of a ramp longer than its discount curve, plus the stall timeout", async () => {
    const f = await loadFixture(book);
    await f.setGlobal("INSOLVENT_RAMP", 86_400n); // 1 day, beyond 60 s + 3,600 s of curve
    await f.ethFeed.push(feed("2800"));
    await f.liquidation.startAuction(f.aliceId);
    const [a, p, stallsAt] = await f.liquidation.auctionOf(f.aliceId);
    expect(BigInt(a.curveStart) + p.fastDuration + p.slowDuration).to.be.lessThan(BigInt(a.startTime) + 86_400n);
    expect(stallsAt).to.equal(BigInt(a.startTime) + 86_400n + 1_800n);
  });

  it("caps the buffer fraction at 1 when what a bidder pays is within the two-unit margin", async () => {
    const f = await loadFixture(book);
    await f.setGlobal("DUST_THRESHOLD", 0n);
    // MtM = stable + price - cost: the answer that leaves it at 1.5 USDC units (1.5e-6 USD; the
    // answer moves it in steps of 1e-8 USD).
    const stable = (await f.accounts.balanceOf(f.aliceId, f.addr.usdc)) * UNIT;
    const cost = (await f.perps.position(f.aliceId, ETH)).cost;
    const answer = divUp(cost - stable + (3n * UNIT) / 2n, TICK);
    await f.ethFeed.push(answer);
    const v = await f.engine.valuation(f.aliceId);
    expect(v.markToMarket).to.equal(stable + answer * TICK - cost);
    expect(v.maintenanceMargin).to.be.greaterThan(v.equity);
    // The start fee takes 1 unit (all of MtM's whole units): half a unit is left for the bidder to
    // pay, within the two units the buffer fraction's numerator is widened by.
    const q = await f.liquidation.quote(f.aliceId, 0n);
    expect(q.fee).to.equal(1n);
    expect(q.markToMarket).to.equal(v.markToMarket - UNIT);
    expect(await f.liquidation.maxFraction(f.aliceId)).to.equal(WAD);
    expect(q.maxFraction).to.equal(WAD);
  });

  it("takes a whole account of zero gross value in one bid only (the smallest bid is the largest)", async () => {
    const f = await loadFixture(book);
    await f.options.grantRole(await f.options.LISTER_ROLE(), f.admin.address);
    // Carol sells one call expiring tomorrow; no perp, no other collateral.
    const carol = (await ethers.getSigners())[4];
    await f.usdc.mint(carol.address, usdc("600"));
    await f.usdc.connect(carol).approve(f.addr.accounts, MAX);
    const carolId = await f.accounts.nextAccountId();
    await f.accounts.connect(carol).createAccount(CROSS, 0);
    await f.accounts.connect(carol).deposit(carolId, f.addr.usdc, usdc("600"));
    const now = BigInt(await time.latest());
    const expiry = ((now + 86_400n + 86_399n) / 86_400n) * 86_400n;
    await f.options.listSeries(f.addr.weth, ETH_PRICE * TICK, expiry, true);
    const seriesId = Number(await f.options.seriesCount());
    await f.options.connect(carol).tradeOption(carolId, seriesId, -WAD, 0n);
    const stable = await f.accounts.balanceOf(carolId, f.addr.usdc); // 600 USDC + the premium
    // Past expiry and the 2-hour settlement window; the price at strike + stable makes the short
    // owe exactly what the account holds: mark-to-market 0, gross value 0.
    await time.increaseTo(expiry + 2n * 3600n + 60n);
    await f.ethFeed.push(ETH_PRICE + (stable * UNIT) / TICK);
    const v = await f.engine.valuation(carolId);
    expect([v.markToMarket, v.equity, v.otherCollateral, v.positions.length]).to.deep.equal([0n, 0n, 0n, 0n]);
    expect(v.maintenanceMargin).to.be.greaterThan(0n);

    const nonce = await f.accounts.nonce(carolId);
    await expect(f.liquidation.connect(f.bob).liquidate(carolId, WAD / 2n, INT_MAX, f.bobId, nonce))
      .to.be.revertedWithCustomError(f.liquidation, "BidTooSmall")
      .withArgs(WAD / 2n, WAD);
    const bobBefore = await f.accounts.balanceOf(f.bobId, f.addr.usdc);
    const tx = f.liquidation.connect(f.bob).liquidate(carolId, WAD, INT_MAX, f.bobId, nonce);
    await expect(tx).to.emit(f.liquidation, "AuctionEnded").withArgs(carolId);
    // Nothing to pay either way: MtM 0, and no time has passed on the insolvent ramp.
    await expect(tx)
      .to.emit(f.liquidation, "Liquidated")
      .withArgs(carolId, f.bobId, f.bob.address, WAD, 0n, 0n, 0n, 0n, 0n, 0n);
    // Carol's cash paid for buying the call back; Bob holds the short and the cash that covers it.
    expect(await f.accounts.balanceOf(carolId, f.addr.usdc)).to.equal(0n);
    expect(await f.options.positionOf(carolId, seriesId)).to.equal(0n);
    expect(await f.options.positionOf(f.bobId, seriesId)).to.equal(-WAD);
    expect(await f.accounts.balanceOf(f.bobId, f.addr.usdc)).to.equal(bobBefore + stable);
  });

  it("has the pool pay an insolvent bid in full while the fund is at or below its floor", async () => {
    const f = await loadFixture(book);
    await f.ethFeed.push(feed("2600")); // MtM about -100 USDC
    expect((await f.engine.valuation(f.aliceId)).markToMarket).to.be.lessThan(0n);
    await f.liquidation.startAuction(f.aliceId);
    await time.increase(900); // half the insolvent ramp: a payout is due
    const fundBefore = await f.usdc.balanceOf(f.addr.fund);
    expect(fundBefore).to.be.lessThan(1000n * 10n ** 6n); // below INSURANCE_FLOOR (1,000 USD)
    const nonce = await f.accounts.nonce(f.aliceId);
    const tx = await f.liquidation.connect(f.bob).liquidate(f.aliceId, WAD, INT_MAX, f.bobId, nonce);
    const receipt = (await tx.wait())!;
    const log = receipt.logs.find((l) => l.topics[0] === f.liquidation.interface.getEvent("Liquidated").topicHash)!;
    const ev = f.liquidation.interface.parseLog(log)!;
    const price = ev.args.price as bigint;
    expect(price).to.be.lessThan(0n);
    expect([ev.args.fundPaid, ev.args.poolPaid]).to.deep.equal([0n, -price]);
    await expect(tx).to.emit(f.liquidation, "LossSocialized").withArgs(f.aliceId, -price);
    await expect(tx).not.to.emit(f.fund, "Outflow");
    expect(await f.usdc.balanceOf(f.addr.fund)).to.equal(fundBefore);
    expect(ETH_PRICE).to.equal(feed("3000"));
  });
});
