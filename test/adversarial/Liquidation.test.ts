import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { simOf } from "../helpers/fixtures";
import {
  WAD,
  USDC_SCALE,
  TICK,
  CROSS,
  ISOLATED,
  ETH,
  BTC,
  usdc,
  wad,
  feed,
  divDown,
  mulWadUp,
} from "../helpers/marginModel";
import {
  LIQ,
  setupLiquidationMarkets,
  fund,
  openAccount,
  accountInputs,
  grossValue,
  termsAt,
  readAuction,
  currentVersion,
  checkBid,
  discountAt,
  latest,
} from "../helpers/liquidationBot";
import type { BidContext, LiquidationMarkets } from "../helpers/liquidationBot";

// Attacks on the liquidation engine, each shown failing: self-liquidation (through a second
// account of the same owner, through an operator), bids that land on an account changed under
// them, griefing with many dust accounts, bids that try to cross isolation, and auctions kept
// alive (or starved) by dust-sized bids. Expected figures come from the bigint margin model
// (test/helpers/marginModel.ts, via simOf) and the auction formulas of test/helpers/liquidationBot.ts;
// checkBid re-derives every figure of an accepted bid (fee, curve, discount, price, fund, end).
// Funding is off (pricedMarkets), so nothing but the auction clock depends on time.
//
// "insolvent dust as a payout farm" once succeeded: the insolvent payout's incentive was a flat cap
// per auction, whatever the account's size. It is now min(cap, AUCTION_DISCOUNT_CAP x gross value).

const MINED = { gasLimit: 5_000_000n };
const ETH_2800 = feed("2800");

async function liquidationFixture() {
  const f = await setupLiquidationMarkets({ liquidity: usdc("10000000"), insurance: usdc("100000") });
  const [, , alice, aliceBot, bob, mallory, carol, dave] = f.signers;
  for (const s of [alice, aliceBot, bob, mallory, carol, dave]) await fund(f, s, usdc("1000000"), wad("100"));
  return { ...f, alice, aliceBot, bob, mallory, carol, dave };
}

type F = Awaited<ReturnType<typeof liquidationFixture>>;

/** The deployment and a margin model that follows every account and trade the test makes. */
async function world() {
  const f = await loadFixture(liquidationFixture);
  const sim = simOf(f);
  const w = {
    ...f,
    sim,
    async open(owner: HardhatEthersSigner, mode: number, marketId: number, usdcAmount: bigint, wethAmount = 0n) {
      const id = await openAccount(f, owner, mode, marketId, usdcAmount, wethAmount);
      sim.addAccount(id, mode);
      if (usdcAmount > 0n) sim.credit(id, f.addr.usdc, usdcAmount);
      if (wethAmount > 0n) sim.credit(id, f.addr.weth, wethAmount);
      return id;
    },
    async trade(owner: HardhatEthersSigner, id: bigint, marketId: number, delta: bigint) {
      await f.perps.connect(owner).modifyPosition(id, marketId, delta, delta > 0n ? ethers.MaxUint256 : 0n);
      sim.trade(id, marketId, delta, await latest());
    },
    async setPrice(marketId: number, answer: bigint) {
      await (marketId === ETH ? f.ethFeed : f.btcFeed).push(answer);
      sim.market(marketId).price = answer * TICK;
    },
    /** Equity and MM by the model, as NotLiquidatable reports them. */
    margin(id: bigint) {
      const m = sim.margin(id, 0n);
      return { equity: m.equity, mm: m.mm };
    },
  };
  return w;
}

type World = Awaited<ReturnType<typeof world>>;

/** alice's isolated ETH account (3,000 USDC, long 10 ETH from 3,000) and bob's cross bidder (100,000 USDC). */
async function victim(w: World) {
  const target = await w.open(w.alice, ISOLATED, ETH, usdc("3000"));
  await w.trade(w.alice, target, ETH, wad("10"));
  const bidder = await w.open(w.bob, CROSS, 0, usdc("100000"));
  return { target, bidder };
}

/** What a bidder reads before bidding: the quote's figures, the running auction, the model inputs. */
async function readContext(
  f: LiquidationMarkets,
  accountId: bigint,
  bidderAccountId: bigint,
  bidder: HardhatEthersSigner,
): Promise<Omit<BidContext, "fraction">> {
  const q = await f.liquidation.quote(accountId, 0n);
  return {
    accountId,
    bidderAccountId,
    bidder: bidder.address,
    figures: { equity: q.equity, maintenanceMargin: q.maintenanceMargin, markToMarket: q.markToMarket, fee: q.fee },
    auction: await readAuction(f, accountId),
    version: await currentVersion(f),
    inputs: await accountInputs(f, accountId),
    fundHeld: await f.fund.balance(),
  };
}

/** The model's terms for a bid at `t` from a context read before. */
const termsFor = (ctx: Omit<BidContext, "fraction">, t: bigint) =>
  termsAt(ctx.auction, ctx.figures, grossValue(ctx.inputs, ctx.figures.markToMarket), t);

/** Sends a bid at `t` (mined there) from `signer` with the account's current nonce; checks it by the formulas. */
async function bidAt(
  f: F,
  signer: HardhatEthersSigner,
  ctx: Omit<BidContext, "fraction">,
  fraction: bigint,
  t: bigint,
  where: string,
) {
  const nonce = await f.accounts.nonce(ctx.accountId);
  await time.setNextBlockTimestamp(t);
  const tx = await f.liquidation
    .connect(signer)
    .liquidate(ctx.accountId, fraction, ethers.MaxInt256, ctx.bidderAccountId, nonce);
  return checkBid(f, tx, { ...ctx, fraction }, where);
}

/** Balances, positions, nonce and auction of an account: what an attack must leave exactly as it was. */
async function snapshot(f: F, id: bigint) {
  return {
    usdc: await f.accounts.balanceOf(id, f.addr.usdc),
    weth: await f.accounts.balanceOf(id, f.addr.weth),
    wbtc: await f.accounts.balanceOf(id, f.addr.wbtc),
    markets: [...(await f.perps.accountMarkets(id))],
    positions: await Promise.all([ETH, BTC].map(async (m) => [...(await f.perps.position(id, m))])),
    nonce: await f.accounts.nonce(id),
    auction: [...(await f.liquidation.auctionOf(id))[0]],
  };
}

describe("Adversarial: liquidation", () => {
  describe("self-liquidation", () => {
    it("the owner, its second account and its operator are all refused SelfLiquidation; nothing moves", async () => {
      const w = await world();
      const { target } = await victim(w);
      // alice's second account, well funded, operated by the same bot that operates the target.
      const second = await w.open(w.alice, CROSS, 0, usdc("100000"));
      await w.accounts.connect(w.alice).setOperator(target, w.aliceBot.address, true);
      await w.accounts.connect(w.alice).setOperator(second, w.aliceBot.address, true);
      await w.setPrice(ETH, ETH_2800);
      const m = w.margin(target);
      expect(m.mm > m.equity, "the target is below MM").to.equal(true);
      expect(await w.liquidation.isLiquidatable(target)).to.equal(true);

      const before = [await snapshot(w, target), await snapshot(w, second), await w.fund.balance()];
      const nonce = await w.accounts.nonce(target);
      for (const [signer, bidderAccount] of [
        [w.alice, second],
        [w.aliceBot, second],
        [w.alice, target],
        [w.aliceBot, target],
      ] as const) {
        await expect(
          w.liquidation.connect(signer).liquidate(target, wad("0.1"), ethers.MaxInt256, bidderAccount, nonce),
        )
          .to.be.revertedWithCustomError(w.liquidation, "SelfLiquidation")
          .withArgs(target, bidderAccount);
      }
      expect([await snapshot(w, target), await snapshot(w, second), await w.fund.balance()]).to.deep.equal(before);
      // Still there for anyone else: bob's bid at the buffer fraction ends the auction.
      const bidder = await w.open(w.bob, CROSS, 0, usdc("100000"));
      const ctx = await readContext(w, target, bidder, w.bob);
      const t = (await latest()) + 5n;
      const r = await bidAt(w, w.bob, ctx, termsFor(ctx, t).bufferFraction, t, "bob");
      expect(r.ended).to.equal(true);
    });
  });

  describe("front-running the bidder", () => {
    it("a bid priced off a quote cannot land after the owner cut the position: NonceMismatch(id, seen, seen + 1)", async () => {
      const w = await world();
      const { target, bidder } = await victim(w);
      await w.setPrice(ETH, ETH_2800);
      const seen = await w.accounts.nonce(target);
      const quoted = await w.liquidation.quote(target, wad("0.1"));
      expect(quoted.auctionRunning).to.equal(false);

      // The owner closes 2 ETH first: a risk-reducing trade, allowed at E >= MM.
      await w.trade(w.alice, target, ETH, -wad("2"));
      expect(await w.accounts.nonce(target)).to.equal(seen + 1n);
      await expect(w.liquidation.connect(w.bob).liquidate(target, wad("0.1"), quoted.price, bidder, seen))
        .to.be.revertedWithCustomError(w.liquidation, "NonceMismatch")
        .withArgs(target, seen, seen + 1n);
      // Re-read, the account is no longer liquidatable (the model's E and MM after the trade).
      const m = w.margin(target);
      expect(m.equity >= m.mm).to.equal(true);
      await expect(w.liquidation.connect(w.bob).liquidate(target, wad("0.1"), ethers.MaxInt256, bidder, seen + 1n))
        .to.be.revertedWithCustomError(w.liquidation, "NotLiquidatable")
        .withArgs(target, m.equity, m.mm);
      expect((await snapshot(w, target)).auction).to.deep.equal([0n, 0n, 0n, 0n]);
    });

    it("added collateral keeps the nonce but the bid re-values the account: NotLiquidatable(id, E + deposit, MM)", async () => {
      const w = await world();
      const { target, bidder } = await victim(w);
      await w.setPrice(ETH, ETH_2800);
      const seen = await w.accounts.nonce(target);
      const before = w.margin(target);
      // The owner adds 200 USDC: E 981.85 -> 1,181.85 above MM 1,076.98 (README's worked example).
      await w.accounts.connect(w.alice).deposit(target, w.addr.usdc, usdc("200"));
      w.sim.credit(target, w.addr.usdc, usdc("200"));
      expect(await w.accounts.nonce(target)).to.equal(seen);
      const after = w.margin(target);
      expect([after.equity - before.equity, after.mm]).to.deep.equal([200n * WAD, before.mm]);
      const funds = await w.usdc.balanceOf(w.addr.accounts);
      await expect(w.liquidation.connect(w.bob).liquidate(target, wad("0.1"), ethers.MaxInt256, bidder, seen))
        .to.be.revertedWithCustomError(w.liquidation, "NotLiquidatable")
        .withArgs(target, after.equity, after.mm);
      expect(await w.usdc.balanceOf(w.addr.accounts)).to.equal(funds);
      expect(await w.accounts.nonce(target)).to.equal(seen);
    });

    it("a competing bid moves the nonce: the second bid on the same quote reverts NonceMismatch, the first stands", async () => {
      const w = await world();
      const { target, bidder } = await victim(w);
      const rival = await w.open(w.carol, CROSS, 0, usdc("100000"));
      await w.setPrice(ETH, ETH_2800);
      const seen = await w.accounts.nonce(target);
      const ctx = await readContext(w, target, rival, w.carol);
      const t = (await latest()) + 5n;
      const fraction = termsFor(ctx, t).minFraction;
      await bidAt(w, w.carol, ctx, fraction, t, "carol first");
      expect(await w.accounts.nonce(target)).to.equal(seen + 1n);
      const rivalAfter = await snapshot(w, rival);
      await expect(w.liquidation.connect(w.bob).liquidate(target, fraction, ethers.MaxInt256, bidder, seen, MINED))
        .to.be.revertedWithCustomError(w.liquidation, "NonceMismatch")
        .withArgs(target, seen, seen + 1n);
      expect(await snapshot(w, rival)).to.deep.equal(rivalAfter);
      expect((await snapshot(w, bidder)).positions).to.deep.equal([
        [0n, 0n, 0n],
        [0n, 0n, 0n],
      ]);
    });
  });

  describe("griefing with many dust accounts", () => {
    it("each dust account goes whole in one bid (maxFraction 1e18) and none of them holds up another account's liquidation", async () => {
      const w = await world();
      const { target, bidder } = await victim(w);
      // mallory's six isolated accounts: 150 USDC and 0.5 ETH long each (IM about $86.5).
      const dust: bigint[] = [];
      for (let i = 0; i < 6; i++) {
        const id = await w.open(w.mallory, ISOLATED, ETH, usdc("150"));
        await w.trade(w.mallory, id, ETH, wad("0.5"));
        dust.push(id);
      }
      await w.setPrice(ETH, ETH_2800);
      for (const id of dust) {
        const m = w.sim.margin(id, 0n);
        const mtm = m.equity; // USDC and a position only: MtM = equity
        expect(
          m.mm > m.equity && mtm > 0n && mtm <= LIQ.dust,
          `dust account ${id}: below MM, 0 < MtM <= dust`,
        ).to.equal(true);
        expect(await w.liquidation.maxFraction(id)).to.equal(WAD);
      }
      const targetQuote = async () => {
        const q = await w.liquidation.quote(target, 0n);
        return [q.auctionRunning, q.insolvent, q.equity, q.maintenanceMargin, q.markToMarket, q.fee];
      };
      const targetBefore = await targetQuote();

      // Emptied: the trader keeps only the price the bidder paid for everything.
      const emptied = async (id: bigint, price: bigint) => {
        expect(await snapshot(w, id)).to.deep.equal({
          usdc: price,
          weth: 0n,
          wbtc: 0n,
          markets: [],
          positions: [
            [0n, 0n, 0n],
            [0n, 0n, 0n],
          ],
          nonce: 2n, // its trade, then the one bid
          auction: [0n, 0n, 0n, 0n],
        });
        expect([...(await w.engine.accountMargin(id))]).to.deep.equal([price * USDC_SCALE, 0n, 0n]);
      };
      let t = (await latest()) + 5n;
      for (const id of dust.slice(0, 3)) {
        const ctx = await readContext(w, id, bidder, w.bob);
        const r = await bidAt(w, w.bob, ctx, WAD, t, `dust ${id}`);
        expect([r.bufferFraction, r.ended]).to.deep.equal([WAD, true]);
        await emptied(id, r.price);
        t += 2n;
      }
      // The real account in the middle of the cascade: its figures are untouched by the dust bids,
      // and carol's bid at its buffer fraction ends its auction.
      expect(await targetQuote()).to.deep.equal(targetBefore);
      const carolAccount = await w.open(w.carol, CROSS, 0, usdc("100000"));
      const ctx = await readContext(w, target, carolAccount, w.carol);
      t = (await latest()) + 5n;
      const r = await bidAt(w, w.carol, ctx, termsFor(ctx, t).bufferFraction, t, "target");
      expect(r.ended).to.equal(true);
      t += 5n;
      for (const id of dust.slice(3)) {
        const c = await readContext(w, id, bidder, w.bob);
        const rest = await bidAt(w, w.bob, c, WAD, t, `dust ${id}`);
        await emptied(id, rest.price);
        t += 2n;
      }
    });
  });

  describe("insolvent dust as a payout farm", () => {
    // The insolvent payout was (deficit + INSOLVENT_PAYOUT_CAP x remaining) x elapsed / INSOLVENT_RAMP:
    // its cap term did not scale with the account, so from the first second the fund paid
    // cap / ramp ($10,000 / 1,800 s = $5.56 per second) for any insolvent account, however small.
    // Now the incentive is min(cap x remaining, AUCTION_DISCOUNT_CAP x gross value), like the solvent
    // discount on MtM. What the protocol guarantees, asserted here: an attacker who makes its own
    // tiny account insolvent (a hedged long / short pair, so the price move costs it nothing) and
    // has an accomplice bid one second into the auction is paid by the fund no more than
    // (deficit + AUCTION_DISCOUNT_CAP x gross) x elapsed / INSOLVENT_RAMP, rounded down: for this
    // $28 account, 2,344 units (0.002344 USDC) where it was 5,555,565. Its accounts gain that, less
    // the rounding of the moved value (0.00234315 USD); "nothing" is not the guarantee (the fund
    // does pay its ramp share), though here the fees the pair paid to open exceed it: the attack
    // ends 0.02165885 USD down.
    it("an attacker's hedged pair of dust accounts, one liquidated by its accomplice a second after the start, is paid no more than (deficit + discount cap x gross) / ramp", async () => {
      const w = await world();
      const long = await w.open(w.mallory, ISOLATED, ETH, usdc("2"));
      await w.trade(w.mallory, long, ETH, wad("0.01"));
      const short = await w.open(w.mallory, ISOLATED, ETH, usdc("2"));
      await w.trade(w.mallory, short, ETH, -wad("0.01"));
      const accomplice = await w.open(w.carol, CROSS, 0, usdc("100"));
      const putIn = usdc("104") * USDC_SCALE;
      const worth = async () => {
        let total = 0n;
        for (const id of [long, short, accomplice]) total += (await w.engine.valuation(id)).markToMarket;
        return total;
      };
      const fees = putIn - (await worth()); // the taker fees of the two opening trades

      await w.setPrice(ETH, ETH_2800); // -6.7%: the long's loss exceeds its margin
      const deficit = -(await w.engine.valuation(long)).markToMarket;
      expect(deficit).to.equal(wad("0.01800115")); // insolvent by less than a dollar
      const fundBefore = await w.fund.balance();
      await w.liquidation.connect(w.carol).startAuction(long);
      const [a] = await w.liquidation.auctionOf(long);
      const ctx = await readContext(w, long, accomplice, w.carol);
      const gross = grossValue(ctx.inputs, ctx.figures.markToMarket);
      expect(gross).to.equal(wad("28.01800115")); // 0.01 ETH at 2,800 + the deficit
      const before = await worth();
      const r = await bidAt(w, w.carol, ctx, WAD, a.startTime + 1n, "accomplice"); // checked by the formulas
      const paid = fundBefore - (await w.fund.balance());
      // (0.01800115 + floor(0.15 x 28.01800115)) x 1 / 1800 = 0.00234410... USD, floored to units.
      const incentive = (gross * LIQ.discountCap) / WAD;
      expect(incentive < LIQ.payoutCap).to.equal(true);
      expect([r.price, r.fundPaid, r.poolPaid, paid]).to.deep.equal([-2_344n, 2_344n, 0n, 2_344n]);
      expect(paid * USDC_SCALE * LIQ.ramp <= (deficit + incentive) * 1n).to.equal(true);
      // The attacker's accounts gain what the fund paid, less the long's value rounded to units as
      // it moves (0.00000085 USD): 0.00234315 USD.
      const fromBid = (await worth()) - before;
      expect(fromBid).to.equal(wad("0.00234315"));
      expect(fromBid <= paid * USDC_SCALE).to.equal(true);
      const gained = (await worth()) - putIn;
      // Overall the pair is still down by the opening trades' fees, less the fund's payment.
      expect([fees, gained]).to.deep.equal([wad("0.024002"), -wad("0.02165885")]);
      expect(gained).to.equal(fromBid - fees);
    });
  });

  describe("isolation", () => {
    it("an isolated bidder account cannot take positions of another market: WrongMarket(bidder, 2, 1); nothing moves", async () => {
      const w = await world();
      const { target } = await victim(w);
      const btcOnly = await w.open(w.mallory, ISOLATED, BTC, usdc("100000"));
      await w.setPrice(ETH, ETH_2800);
      const before = [await snapshot(w, target), await snapshot(w, btcOnly), await w.fund.balance()];
      const nonce = await w.accounts.nonce(target);
      // 5% is inside [min, max] (about 0.35% and 19%): the refusal is the market binding alone.
      await expect(
        w.liquidation.connect(w.mallory).liquidate(target, wad("0.05"), ethers.MaxInt256, btcOnly, nonce, MINED),
      )
        .to.be.revertedWithCustomError(w.perps, "WrongMarket")
        .withArgs(btcOnly, BTC, ETH);
      expect([await snapshot(w, target), await snapshot(w, btcOnly), await w.fund.balance()]).to.deep.equal(before);
    });

    it("a cross account holding ETH and BTC cannot be bid into an isolated ETH account: WrongMarket on the BTC leg", async () => {
      const w = await world();
      const cross = await w.open(w.dave, CROSS, 0, usdc("2500"));
      await w.trade(w.dave, cross, ETH, wad("10"));
      await w.trade(w.dave, cross, BTC, wad("0.2"));
      const ethOnly = await w.open(w.mallory, ISOLATED, ETH, usdc("100000"));
      const crossBidder = await w.open(w.bob, CROSS, 0, usdc("100000"));
      await w.setPrice(ETH, ETH_2800);
      await w.setPrice(BTC, feed("60000"));
      const m = w.margin(cross);
      expect(m.mm > m.equity).to.equal(true);
      expect([...(await w.perps.accountMarkets(cross))]).to.deep.equal([BigInt(ETH), BigInt(BTC)]);
      const before = [await snapshot(w, cross), await snapshot(w, ethOnly), await w.fund.balance()];
      const nonce = await w.accounts.nonce(cross);
      await expect(
        w.liquidation.connect(w.mallory).liquidate(cross, wad("0.05"), ethers.MaxInt256, ethOnly, nonce, MINED),
      )
        .to.be.revertedWithCustomError(w.perps, "WrongMarket")
        .withArgs(ethOnly, ETH, BTC);
      expect([await snapshot(w, cross), await snapshot(w, ethOnly), await w.fund.balance()]).to.deep.equal(before);
      // A cross bidder takes both legs.
      const ctx = await readContext(w, cross, crossBidder, w.bob);
      const t = (await latest()) + 5n;
      await bidAt(w, w.bob, ctx, wad("0.05"), t, "cross bidder");
      expect([...(await w.perps.accountMarkets(crossBidder))]).to.deep.equal([BigInt(ETH), BigInt(BTC)]);
    });

    it("an insolvent isolated account's deficit never reaches its owner's cross account (exact balances)", async () => {
      const w = await world();
      const { target, bidder } = await victim(w);
      // alice's cross account: 5,000 USDC, 1 WETH and a BTC long, none of it at stake for the target.
      const cross = await w.open(w.alice, CROSS, 0, usdc("5000"), wad("1"));
      await w.trade(w.alice, cross, BTC, wad("0.05"));
      await w.setPrice(ETH, feed("2600"));
      await w.setPrice(BTC, feed("60000"));
      const [pnl] = w.sim.risks(target, 0n).map((r) => r.pnl);
      const balance = w.sim.balance(target, w.addr.usdc);
      const deficit = balance * USDC_SCALE + pnl;
      expect(deficit < 0n, "the target is insolvent (MtM < 0)").to.equal(true);
      const crossBefore = await snapshot(w, cross);
      const crossMargin = await w.engine.accountMargin(cross);
      const crossModel = w.sim.margin(cross, 0n);
      expect([...crossMargin]).to.deep.equal([crossModel.equity, crossModel.im, crossModel.mm]);
      const bidderUsdc = await w.accounts.balanceOf(bidder, w.addr.usdc);

      // The first bid starts the auction and takes everything: at the start the fund pays nothing,
      // the bidder takes the position at its mark with the negative balance.
      const ctx = await readContext(w, target, bidder, w.bob);
      const t = (await latest()) + 5n;
      const r = await bidAt(w, w.bob, ctx, WAD, t, "insolvent");
      expect([r.price, r.fundPaid, r.poolPaid, r.ended]).to.deep.equal([0n, 0n, 0n, true]);
      expect(await w.accounts.balanceOf(bidder, w.addr.usdc)).to.equal(bidderUsdc + balance + divDown(pnl, USDC_SCALE));
      expect([...(await w.perps.position(bidder, ETH))].slice(0, 2)).to.deep.equal([
        wad("10"),
        mulWadUp(wad("10"), 2600n * WAD),
      ]);
      expect((await snapshot(w, target)).usdc).to.equal(0n);
      expect(await snapshot(w, cross)).to.deep.equal(crossBefore);
      expect([...(await w.engine.accountMargin(cross))]).to.deep.equal([...crossMargin]);
    });
  });

  describe("dust bids", () => {
    it("BidTooSmall(fraction, min) for bids under DUST_THRESHOLD of gross value; minimum bids cannot stall the curve, and the auction ends", async () => {
      const w = await world();
      const { target, bidder } = await victim(w);
      const griefer = await w.open(w.mallory, CROSS, 0, usdc("100000"));
      await w.setPrice(ETH, ETH_2800);

      // Before the auction: the minimum is ceil(DUST x 1e18 / gross), gross = notional + |MtM after fee|.
      let ctx = await readContext(w, target, griefer, w.mallory);
      const gross0 = grossValue(ctx.inputs, ctx.figures.markToMarket);
      const min0 = (LIQ.dust * WAD + gross0 - 1n) / gross0;
      expect(termsFor(ctx, (await latest()) + 5n).minFraction).to.equal(min0);
      const seen = await w.accounts.nonce(target);
      for (const fraction of [1n, min0 - 1n]) {
        await expect(
          w.liquidation.connect(w.mallory).liquidate(target, fraction, ethers.MaxInt256, griefer, seen, MINED),
        )
          .to.be.revertedWithCustomError(w.liquidation, "BidTooSmall")
          .withArgs(fraction, min0);
      }
      expect((await snapshot(w, target)).auction).to.deep.equal([0n, 0n, 0n, 0n]);
      expect(await w.accounts.nonce(target)).to.equal(seen);

      // The griefer's smallest bid is a real bid (>= $100 of the account) and starts the auction.
      ctx = await readContext(w, target, griefer, w.mallory);
      let t = (await latest()) + 5n;
      const started = await bidAt(w, w.mallory, ctx, min0, t, "griefer 1");
      const curveStart = started.curveStart;
      // Every further minimum bid: a wei less is refused, the minimum is taken, the curve goes on.
      for (let i = 2; i <= 4; i++) {
        t += 10n;
        ctx = await readContext(w, target, griefer, w.mallory);
        const terms = termsFor(ctx, t);
        const gross = grossValue(ctx.inputs, ctx.figures.markToMarket);
        expect(terms.minFraction).to.equal((LIQ.dust * WAD + gross - 1n) / gross);
        const nonce = await w.accounts.nonce(target);
        await expect(
          w.liquidation
            .connect(w.mallory)
            .liquidate(target, terms.minFraction - 1n, ethers.MaxInt256, griefer, nonce, MINED),
        )
          .to.be.revertedWithCustomError(w.liquidation, "BidTooSmall")
          .withArgs(terms.minFraction - 1n, terms.minFraction);
        t += 1n;
        const r = await bidAt(w, w.mallory, ctx, terms.minFraction, t, `griefer ${i}`);
        expect([r.ended, r.curveStart, r.discount]).to.deep.equal([false, curveStart, discountAt(curveStart, t)]);
      }
      // An honest bid at the buffer fraction, priced on the original curve, ends it.
      t += 30n;
      ctx = await readContext(w, target, bidder, w.bob);
      const end = await bidAt(w, w.bob, ctx, termsFor(ctx, t).bufferFraction, t, "honest");
      expect([end.ended, end.discount]).to.deep.equal([true, discountAt(curveStart, t)]);
      expect((await snapshot(w, target)).auction).to.deep.equal([0n, 0n, 0n, 0n]);
      expect(await w.liquidation.isLiquidatable(target)).to.equal(false);
    });

    it("a dust account cannot be nibbled either: BidTooSmall below DUST / gross, and one bid still takes it all", async () => {
      const w = await world();
      const id = await w.open(w.mallory, ISOLATED, ETH, usdc("150"));
      await w.trade(w.mallory, id, ETH, wad("0.5"));
      const bidder = await w.open(w.bob, CROSS, 0, usdc("100000"));
      await w.setPrice(ETH, ETH_2800);
      const ctx = await readContext(w, id, bidder, w.bob);
      const gross = grossValue(ctx.inputs, ctx.figures.markToMarket);
      const min = (LIQ.dust * WAD + gross - 1n) / gross;
      const t = (await latest()) + 5n;
      expect([termsFor(ctx, t).minFraction, termsFor(ctx, t).bufferFraction]).to.deep.equal([min, WAD]);
      await expect(w.liquidation.connect(w.bob).liquidate(id, min - 1n, ethers.MaxInt256, bidder, 1n, MINED))
        .to.be.revertedWithCustomError(w.liquidation, "BidTooSmall")
        .withArgs(min - 1n, min);
      const r = await bidAt(w, w.bob, ctx, WAD, t, "whole");
      expect(r.ended).to.equal(true);
    });
  });
});
