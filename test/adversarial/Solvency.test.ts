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
  mulWadDown,
  mulWadUp,
} from "../helpers/marginModel";
import type { Sim } from "../helpers/marginModel";
import {
  optionMarkets,
  gridExpiry,
  tradeQuote,
  tradeSpot,
  optionValue,
  equityValueOf,
  shortMaintenance,
  shortInitial,
  settledUnits,
  payoffOf,
  CALL,
} from "../helpers/optionFixtures";
import { accountInputs, grossValue, termsAt, bidPrice, readAuction, latest } from "../helpers/liquidationBot";
import type { LiquidationMarkets } from "../helpers/liquidationBot";

// The Euler 2023 pattern: an attacker pushes its own account below initial margin through some
// entry point that moves value out of it (or adds risk to it) without a solvency check, then
// liquidates it at a discount from a second identity. Every such entry point must end with the
// margin check of the account it weakened: here each one is driven past the limit and must revert
// with the margin engine's InsufficientMargin(accountId, equity, requirement), the figures to the
// wei from the bigint margin model (test/helpers/marginModel.ts, via simOf) or the option formulas
// (test/helpers/optionFixtures.ts with the Black-Scholes harness), and leave every balance as it
// was; where the account holds positions, the attacker's second identity then finds it healthy
// (NotLiquidatable(id, E, MM)). Funding is off and prices are exact (pricedMarkets).

const MINED = { gasLimit: 5_000_000n };
const LIQUIDATOR_ROLE = ethers.id("LIQUIDATOR_ROLE");
const MARKET_ROLE = ethers.id("MARKET_ROLE");

async function solvencyFixture() {
  const f = await optionMarkets();
  const signers = await ethers.getSigners();
  // traders = signers 2..9, each with 1,000,000 USDC, 100 WETH and 10 WBTC approved.
  const [attacker, accomplice, victim] = f.traders;
  return { ...f, signers, attacker, accomplice, victim };
}

type F = Awaited<ReturnType<typeof solvencyFixture>>;

async function world() {
  const f = await loadFixture(solvencyFixture);
  const sim = simOf(f);
  return {
    ...f,
    sim,
    async open(owner: HardhatEthersSigner, mode: number, marketId: number, usdcAmount: bigint, wethAmount = 0n) {
      const id = await f.accounts.nextAccountId();
      await f.accounts.connect(owner).createAccount(mode, marketId);
      sim.addAccount(id, mode);
      if (usdcAmount > 0n) {
        await f.accounts.connect(owner).deposit(id, f.addr.usdc, usdcAmount);
        sim.credit(id, f.addr.usdc, usdcAmount);
      }
      if (wethAmount > 0n) {
        await f.accounts.connect(owner).deposit(id, f.addr.weth, wethAmount);
        sim.credit(id, f.addr.weth, wethAmount);
      }
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
  };
}

type World = Awaited<ReturnType<typeof world>>;

/** The model after `change`, without touching the test's model. */
function after(sim: Sim, change: (s: Sim) => void): Sim {
  const s = sim.clone();
  change(s);
  return s;
}

/** What a withdrawal or transfer is checked against: equity without unrealized profit, and IM. */
function withdrawalCheck(s: Sim, id: bigint): [bigint, bigint] {
  const m = s.margin(id, 0n);
  return [m.equity - m.profit, m.im];
}

/** Everything of an account an attack could move: balances, positions, options, nonce. */
async function holdings(f: F, id: bigint) {
  return {
    usdc: await f.accounts.balanceOf(id, f.addr.usdc),
    weth: await f.accounts.balanceOf(id, f.addr.weth),
    wbtc: await f.accounts.balanceOf(id, f.addr.wbtc),
    positions: await Promise.all([ETH, BTC].map(async (m) => [...(await f.perps.position(id, m))])),
    series: [...(await f.options.accountSeries(id))],
    nonce: await f.accounts.nonce(id),
  };
}

/** Token balances outside the accounts: the signers', MarginAccounts', the pool's and the fund's. */
async function wallets(f: F, who: HardhatEthersSigner[]) {
  const out: bigint[] = [];
  for (const token of [f.usdc, f.weth]) {
    for (const a of [...who.map((s) => s.address), f.addr.accounts, f.addr.pool, f.addr.fund]) {
      out.push(await token.balanceOf(a));
    }
  }
  return out;
}

/** The second identity's liquidation of `id` finds it healthy: NotLiquidatable(id, E, MM) by the model. */
async function cannotLiquidate(w: World, id: bigint) {
  const liquidator = await w.open(w.accomplice, CROSS, 0, usdc("100000"));
  const m = w.sim.margin(id, 0n);
  await expect(
    w.liquidation
      .connect(w.accomplice)
      .liquidate(id, wad("0.1"), ethers.MaxInt256, liquidator, await w.accounts.nonce(id)),
  )
    .to.be.revertedWithCustomError(w.liquidation, "NotLiquidatable")
    .withArgs(id, m.equity, m.mm);
}

/** The attacker's isolated ETH account: 3,000 USDC, long 10 ETH from 3,000 (IM $1,730.86). */
async function leveraged(w: World) {
  const id = await w.open(w.attacker, ISOLATED, ETH, usdc("3000"));
  await w.trade(w.attacker, id, ETH, wad("10"));
  return id;
}

describe("Adversarial: Euler 2023 pattern", () => {
  describe("MarginAccounts.withdraw", () => {
    it("the first stablecoin unit past the IM limit reverts InsufficientMargin(id, E - profit, IM); at the limit the account stays above MM", async () => {
      const w = await world();
      const id = await leveraged(w);
      const [equity, im] = withdrawalCheck(w.sim, id);
      // The most the account may withdraw, in whole units.
      const limit = (equity - im) / USDC_SCALE;
      const over = limit + 1n;
      const [e1, im1] = withdrawalCheck(
        after(w.sim, (s) => s.credit(id, w.addr.usdc, -over)),
        id,
      );
      expect(e1 < im1).to.equal(true);
      const before = [await holdings(w, id), await wallets(w, [w.attacker])];
      await expect(w.accounts.connect(w.attacker).withdraw(id, w.addr.usdc, over))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, e1, im1);
      expect([await holdings(w, id), await wallets(w, [w.attacker])]).to.deep.equal(before);

      // Withdrawing exactly the limit passes and leaves E >= IM > MM: nothing to liquidate.
      await w.accounts.connect(w.attacker).withdraw(id, w.addr.usdc, limit);
      w.sim.credit(id, w.addr.usdc, -limit);
      const m = w.sim.margin(id, 0n);
      expect(m.equity >= m.im && m.im > m.mm).to.equal(true);
      await cannotLiquidate(w, id);
    });

    it("WETH collateral counts at weight x low price: withdrawing it below IM reverts with the weighted equity", async () => {
      const w = await world();
      // A cross account backed by 2 WETH only (worth $5,100 at weight 0.85), long 5 ETH.
      const id = await w.open(w.attacker, CROSS, 0, 0n, wad("2"));
      await w.trade(w.attacker, id, ETH, wad("5"));
      const amount = wad("1.8");
      const [e1, im1] = withdrawalCheck(
        after(w.sim, (s) => s.credit(id, w.addr.weth, -amount)),
        id,
      );
      expect(e1 < im1).to.equal(true);
      const before = [await holdings(w, id), await wallets(w, [w.attacker])];
      await expect(w.accounts.connect(w.attacker).withdraw(id, w.addr.weth, amount))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, e1, im1);
      expect([await holdings(w, id), await wallets(w, [w.attacker])]).to.deep.equal(before);
      await cannotLiquidate(w, id);
    });

    it("unrealized profit never backs a withdrawal: taking out a paper gain reverts with equity net of the gain", async () => {
      const w = await world();
      const id = await leveraged(w);
      await w.setPrice(ETH, feed("3300")); // about $3,000 of unrealized profit
      const m = w.sim.margin(id, 0n);
      expect(m.profit > usdc("2900") * USDC_SCALE).to.equal(true);
      const amount = usdc("2500"); // less than equity - IM, more than (equity - profit) - IM
      expect(m.equity - amount * USDC_SCALE >= m.im).to.equal(true);
      const [e1, im1] = withdrawalCheck(
        after(w.sim, (s) => s.credit(id, w.addr.usdc, -amount)),
        id,
      );
      const before = [await holdings(w, id), await wallets(w, [w.attacker])];
      await expect(w.accounts.connect(w.attacker).withdraw(id, w.addr.usdc, amount))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, e1, im1);
      expect([await holdings(w, id), await wallets(w, [w.attacker])]).to.deep.equal(before);
    });
  });

  describe("MarginAccounts.transfer", () => {
    it("moving margin out of an isolated account into the owner's cross account below IM reverts; both accounts unchanged", async () => {
      const w = await world();
      const id = await leveraged(w);
      const cross = await w.open(w.attacker, CROSS, 0, usdc("10"));
      const amount = usdc("1500");
      const [e1, im1] = withdrawalCheck(
        after(w.sim, (s) => {
          s.credit(id, w.addr.usdc, -amount);
          s.credit(cross, w.addr.usdc, amount);
        }),
        id,
      );
      expect(e1 < im1).to.equal(true);
      const before = [await holdings(w, id), await holdings(w, cross), await wallets(w, [w.attacker])];
      await expect(w.accounts.connect(w.attacker).transfer(id, cross, w.addr.usdc, amount))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, e1, im1);
      expect([await holdings(w, id), await holdings(w, cross), await wallets(w, [w.attacker])]).to.deep.equal(before);
      await cannotLiquidate(w, id);
    });
  });

  describe("PerpMarket.modifyPosition", () => {
    it("opening a position the collateral cannot margin reverts InsufficientMargin(id, E', IM')", async () => {
      const w = await world();
      const id = await w.open(w.attacker, ISOLATED, ETH, usdc("1000"));
      const model = after(w.sim, (s) => s.trade(id, ETH, wad("10"), 0n)).margin(id, 0n);
      expect(model.equity < model.im).to.equal(true);
      const state = [...(await w.perps.marketState(ETH))];
      const before = [await holdings(w, id), await wallets(w, [w.attacker])];
      await expect(w.perps.connect(w.attacker).modifyPosition(id, ETH, wad("10"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, model.equity, model.im);
      expect([await holdings(w, id), await wallets(w, [w.attacker])]).to.deep.equal(before);
      expect([...(await w.perps.marketState(ETH))]).to.deep.equal(state);
      await cannotLiquidate(w, id);
    });

    it("increasing a position past IM reverts with the margin of the whole new position", async () => {
      const w = await world();
      const id = await leveraged(w);
      const model = after(w.sim, (s) => s.trade(id, ETH, wad("8"), 0n)).margin(id, 0n);
      expect(model.equity < model.im).to.equal(true);
      const before = [await holdings(w, id), await wallets(w, [w.attacker])];
      await expect(w.perps.connect(w.attacker).modifyPosition(id, ETH, wad("8"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, model.equity, model.im);
      // Flipping to a larger short is an increase too.
      const flip = after(w.sim, (s) => s.trade(id, ETH, -wad("30"), 0n)).margin(id, 0n);
      await expect(w.perps.connect(w.attacker).modifyPosition(id, ETH, -wad("30"), 0n))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, flip.equity, flip.im);
      expect([await holdings(w, id), await wallets(w, [w.attacker])]).to.deep.equal(before);
      await cannotLiquidate(w, id);
    });

    it("a cross account adding a second market it cannot margin reverts with both books' IM", async () => {
      const w = await world();
      const id = await w.open(w.attacker, CROSS, 0, usdc("2000"));
      await w.trade(w.attacker, id, ETH, wad("10"));
      const model = after(w.sim, (s) => s.trade(id, BTC, wad("0.5"), 0n)).margin(id, 0n);
      expect(model.equity < model.im).to.equal(true);
      const before = [await holdings(w, id), await wallets(w, [w.attacker])];
      await expect(w.perps.connect(w.attacker).modifyPosition(id, BTC, wad("0.5"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, model.equity, model.im);
      expect([await holdings(w, id), await wallets(w, [w.attacker])]).to.deep.equal(before);
      await cannotLiquidate(w, id);
    });

    it("below MM, a small risk-reducing trade that leaves E' < MM' reverts against MM (a reduction is checked too)", async () => {
      const w = await world();
      const id = await leveraged(w);
      await w.setPrice(ETH, feed("2800"));
      const m0 = w.sim.margin(id, 0n);
      expect(m0.equity < m0.mm).to.equal(true);
      const model = after(w.sim, (s) => s.trade(id, ETH, -wad("0.1"), 0n)).margin(id, 0n);
      expect(model.equity < model.mm).to.equal(true);
      const before = [await holdings(w, id), await wallets(w, [w.attacker])];
      await expect(w.perps.connect(w.attacker).modifyPosition(id, ETH, -wad("0.1"), 0n))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, model.equity, model.mm);
      expect([await holdings(w, id), await wallets(w, [w.attacker])]).to.deep.equal(before);
    });
  });

  describe("OptionMarket.tradeOption", () => {
    /** A WETH call series 7 days out at `strike`, and the exposure a first trade in it starts from. */
    async function series(w: World, strike: bigint) {
      const expiry = gridExpiry(await latest(), 7n);
      const seriesId = await w.listWethSeries(strike, expiry, CALL);
      const e = await w.options.exposureOf(w.addr.weth);
      const state = {
        netDelta: e.netDelta,
        netVega: e.netVega,
        seriesTraderDelta: 0n,
        seriesTraderVega: 0n,
        seriesNet: 0n,
      };
      return { seriesId, expiry, state };
    }

    it("buying options worth more than the account can pay reverts InsufficientMargin(id, E', 0) (a long needs no margin, it counts at a haircut)", async () => {
      const w = await world();
      const strike = wad("3000");
      const { seriesId, expiry, state } = await series(w, strike);
      const id = await w.open(w.attacker, ISOLATED, ETH, usdc("200"));
      const amount = wad("10");
      const t = (await latest()) + 10n;
      const price = (await w.oracle.getPrice(w.addr.weth)) as unknown as { low: bigint; high: bigint };
      const spot = tradeSpot(CALL, true, price);
      const g = await w.greeksAt(spot, strike, w.iv.eth, expiry - t, CALL);
      const { premium } = tradeQuote(w.params, state, g, amount, spot);
      // Valued after the trade: a long call at the low end, counted at (1 - haircut).
      const unit = await w.bs.price(price.low, strike, w.iv.eth, expiry - t, CALL);
      const equity = (usdc("200") - premium) * USDC_SCALE + equityValueOf(amount, unit, w.params.haircut);
      expect(equity < 0n).to.equal(true);
      const before = [await holdings(w, id), await wallets(w, [w.attacker]), [...(await w.options.series(seriesId))]];
      await time.setNextBlockTimestamp(t);
      await expect(w.options.connect(w.attacker).tradeOption(id, seriesId, amount, ethers.MaxUint256, MINED))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, equity, 0n);
      expect([
        await holdings(w, id),
        await wallets(w, [w.attacker]),
        [...(await w.options.series(seriesId))],
      ]).to.deep.equal(before);
    });

    it("writing options the account cannot margin reverts InsufficientMargin(id, E', IM') (premium received included)", async () => {
      const w = await world();
      const strike = wad("3000");
      const { seriesId, expiry, state } = await series(w, strike);
      const id = await w.open(w.attacker, ISOLATED, ETH, usdc("300"));
      const amount = -wad("10");
      const t = (await latest()) + 10n;
      const price = (await w.oracle.getPrice(w.addr.weth)) as unknown as { low: bigint; high: bigint };
      const spot = tradeSpot(CALL, false, price);
      const g = await w.greeksAt(spot, strike, w.iv.eth, expiry - t, CALL);
      const { premium } = tradeQuote(w.params, state, g, amount, spot);
      // Valued after the trade: a short call at the high end, in full; MM by the static formula.
      const unit = await w.bs.price(price.high, strike, w.iv.eth, expiry - t, CALL);
      const equity = (usdc("300") + premium) * USDC_SCALE + optionValue(amount, unit);
      const mm = shortMaintenance(amount, CALL, strike, price.high, unit, w.params);
      const im = shortInitial(mm, w.params);
      expect(equity < im).to.equal(true);
      const before = [await holdings(w, id), await wallets(w, [w.attacker]), [...(await w.options.series(seriesId))]];
      await time.setNextBlockTimestamp(t);
      await expect(w.options.connect(w.attacker).tradeOption(id, seriesId, amount, 0n, MINED))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, equity, im);
      expect([
        await holdings(w, id),
        await wallets(w, [w.attacker]),
        [...(await w.options.series(seriesId))],
      ]).to.deep.equal(before);
    });
  });

  describe("LiquidationEngine.liquidate (the bidder's account receives positions)", () => {
    it("a bidder account that cannot margin what it takes reverts InsufficientMargin(bidder, E', IM'); the target is untouched", async () => {
      const w = await world();
      // The victim: an isolated 10 ETH long below MM at 2,800 (README's worked example).
      const target = await w.open(w.victim, ISOLATED, ETH, usdc("3000"));
      await w.trade(w.victim, target, ETH, wad("10"));
      // The attacker's bidder account with $50 of margin.
      const bidder = await w.open(w.attacker, CROSS, 0, usdc("50"));
      await w.setPrice(ETH, feed("2800"));

      const q = await w.liquidation.quote(target, 0n);
      const figures = {
        equity: q.equity,
        maintenanceMargin: q.maintenanceMargin,
        markToMarket: q.markToMarket,
        fee: q.fee,
      };
      const inputs = await accountInputs(w as unknown as LiquidationMarkets, target);
      expect(await readAuction(w as unknown as LiquidationMarkets, target)).to.equal(null);
      const t = (await latest()) + 10n;
      const terms = termsAt(null, figures, grossValue(inputs, figures.markToMarket), t);
      const fraction = terms.bufferFraction;
      // What the bidder would hold: fraction of the position at its mark (the low price, a long),
      // plus its share of the stablecoin-and-PnL value, minus the price.
      const size = (await w.perps.position(target, ETH)).size;
      const movedSize = (size * fraction) / WAD;
      const mark = 2800n * WAD;
      const moved = divDown(mulWadDown(figures.markToMarket - inputs.otherCollateral, fraction), USDC_SCALE);
      const price = bidPrice(figures.markToMarket, fraction, terms.discount, 0n);
      const model = after(w.sim, (s) => {
        s.account(bidder).positions.set(ETH, { size: movedSize, cost: mulWadUp(movedSize, mark), snapshot: 0n });
        s.credit(bidder, w.addr.usdc, moved - price);
      }).margin(bidder, 0n);
      expect(model.equity < model.im).to.equal(true);

      const before = [
        await holdings(w, target),
        await holdings(w, bidder),
        await wallets(w, [w.attacker, w.victim]),
        [...(await w.liquidation.auctionOf(target))[0]],
      ];
      const nonce = await w.accounts.nonce(target);
      await time.setNextBlockTimestamp(t);
      await expect(
        w.liquidation.connect(w.attacker).liquidate(target, fraction, ethers.MaxInt256, bidder, nonce, MINED),
      )
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(bidder, model.equity, model.im);
      expect([
        await holdings(w, target),
        await holdings(w, bidder),
        await wallets(w, [w.attacker, w.victim]),
        [...(await w.liquidation.auctionOf(target))[0]],
      ]).to.deep.equal(before);
    });
  });

  describe("OptionMarket.settlePosition (no margin check: it cannot change equity)", () => {
    it("settling a losing short leaves E, IM and MM exactly as they were, and the debt it books still blocks withdrawing the collateral", async () => {
      const w = await world();
      const strike = wad("3000");
      const expiry = gridExpiry(await latest(), 1n);
      const seriesId = await w.listWethSeries(strike, expiry, CALL);
      // 400 USDC and 1 WETH; writes 2 calls.
      const id = await w.open(w.attacker, ISOLATED, ETH, usdc("400"), wad("1"));
      await w.options.connect(w.attacker).tradeOption(id, seriesId, -wad("2"), 0n);
      // Settled at 3,450 (the first round after expiry): the short owes 2 x 450.
      await time.setNextBlockTimestamp(expiry + 600n);
      await w.ethFeed.push(feed("3450"));
      await w.options.connect(w.accomplice).settleSeries(seriesId, await w.ethFeed.latestRound());
      const units = settledUnits(-wad("2"), payoffOf(CALL, strike, wad("3450")));
      expect(units).to.equal(-usdc("900"));

      const balance = await w.accounts.balanceOf(id, w.addr.usdc);
      const margin = [...(await w.engine.accountMargin(id))];
      const weth = mulWadDown(mulWadDown(wad("1"), wad("3450")), wad("0.85"));
      expect(margin).to.deep.equal([(balance + units) * USDC_SCALE + weth, 0n, 0n]);
      // Withdrawing the WETH before settling: the settled short counts at its payoff.
      await expect(w.accounts.connect(w.attacker).withdraw(id, w.addr.weth, wad("1")))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, (balance + units) * USDC_SCALE, 0n);

      // Anyone may settle the position: the balance takes the payoff, equity does not move.
      await w.options.connect(w.accomplice).settlePosition(id, seriesId);
      expect(await w.accounts.balanceOf(id, w.addr.usdc)).to.equal(balance + units);
      expect(balance + units < 0n, "the account now owes the pool").to.equal(true);
      expect([...(await w.engine.accountMargin(id))]).to.deep.equal(margin);
      // ... and walking away with the collateral is refused with the same figures.
      const before = [await holdings(w, id), await wallets(w, [w.attacker])];
      await expect(w.accounts.connect(w.attacker).withdraw(id, w.addr.weth, wad("1")))
        .to.be.revertedWithCustomError(w.engine, "InsufficientMargin")
        .withArgs(id, (balance + units) * USDC_SCALE, 0n);
      expect([await holdings(w, id), await wallets(w, [w.attacker])]).to.deep.equal(before);
    });
  });

  describe("entry points an attacker cannot call", () => {
    it("moving positions, collateral or PnL directly (transferPositions, settleLiquidation, settle) is refused by role; nothing moves", async () => {
      const w = await world();
      const target = await w.open(w.victim, ISOLATED, ETH, usdc("3000"));
      await w.trade(w.victim, target, ETH, wad("10"));
      const mine = await w.open(w.attacker, CROSS, 0, usdc("10"));
      const before = [await holdings(w, target), await holdings(w, mine), await wallets(w, [w.attacker])];
      const a = w.attacker;
      await expect(w.perps.connect(a).transferPositions(target, mine, WAD))
        .to.be.revertedWithCustomError(w.perps, "AccessControlUnauthorizedAccount")
        .withArgs(a.address, LIQUIDATOR_ROLE);
      await expect(w.options.connect(a).transferPositions(target, mine, WAD))
        .to.be.revertedWithCustomError(w.options, "AccessControlUnauthorizedAccount")
        .withArgs(a.address, LIQUIDATOR_ROLE);
      await expect(w.accounts.connect(a).settleLiquidation(target, mine, WAD, 0n, usdc("3000"), 0n, 0n))
        .to.be.revertedWithCustomError(w.accounts, "AccessControlUnauthorizedAccount")
        .withArgs(a.address, LIQUIDATOR_ROLE);
      await expect(w.accounts.connect(a).settle(mine, usdc("1000"), 0n))
        .to.be.revertedWithCustomError(w.accounts, "AccessControlUnauthorizedAccount")
        .withArgs(a.address, MARKET_ROLE);
      await expect(w.accounts.connect(a).touch(target, a.address))
        .to.be.revertedWithCustomError(w.accounts, "AccessControlUnauthorizedAccount")
        .withArgs(a.address, MARKET_ROLE);
      expect([await holdings(w, target), await holdings(w, mine), await wallets(w, [w.attacker])]).to.deep.equal(
        before,
      );
    });
  });

  describe("LP actions", () => {
    it("depositing, requesting and redeeming pool shares never touch an account: margins and balances unchanged to the wei", async () => {
      const w = await world();
      const id = await leveraged(w);
      const other = await w.open(w.victim, CROSS, 0, usdc("5000"), wad("1"));
      await w.trade(w.victim, other, BTC, -wad("0.2"));
      const read = async () => [
        await holdings(w, id),
        await holdings(w, other),
        [...(await w.engine.accountMargin(id))],
        [...(await w.engine.accountMargin(other))],
        await w.accounts.settlementDebt(),
      ];
      const base = await read();
      await w.usdc.mint(w.lp.address, usdc("500000"));
      await w.usdc.connect(w.lp).approve(w.addr.pool, usdc("500000"));
      await w.pool.connect(w.lp).deposit(usdc("500000"), w.lp.address);
      expect(await read()).to.deep.equal(base);
      const shares = await w.pool.balanceOf(w.lp.address);
      await w.pool.connect(w.lp).requestRedeem(shares / 2n);
      expect(await read()).to.deep.equal(base);
      await time.increase(await w.pool.cooldown());
      // Fresh rounds at the same prices (the feeds went stale over the cooldown).
      await w.ethFeed.push(feed("3000"));
      await w.btcFeed.push(feed("60000"));
      const matured = await read();
      expect(matured).to.deep.equal(base);
      await w.pool.connect(w.lp).redeem(await w.pool.maxRedeem(w.lp.address), w.lp.address, w.lp.address);
      expect(await read()).to.deep.equal(base);
    });
  });
});
