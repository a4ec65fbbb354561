import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { paramIndex } from "../scripts/lib/params";
import {
  WAD,
  YEAR,
  USDC_SCALE,
  TICK,
  CROSS,
  ISOLATED,
  ETH,
  BTC,
  usdc,
  wad,
  feed,
  ETH_PRICE,
  BTC_PRICE,
  abs,
  divUp,
  divDown,
  mulWadUp,
  mulWadDown,
  sqrtUp,
  PARAM_FIELDS,
  configuredParams,
  shockRatio,
  fundingVelocity,
  accrueFunding,
  TradeResult,
  MarginModel,
} from "./helpers/marginModel";
import { pricedMarkets, simOf } from "./helpers/fixtures";

// Every expected figure below is computed here, in bigint, from the formulas the contracts are
// specified with (see the sketch of each in `Sim`), never read back from the contracts under test.
// The only values read from the chain are inputs: the volatility oracle's sigma, and the block
// timestamps trades and views run at.
//
// Oracle: the fixture pushes fresh Chainlink rounds and removes both Uniswap TWAPs, so that
// getPrice and getPriceChecked answer Ok with low = high = price = Chainlink, exactly.
//
// Funding: the fixture sets MAX_FUNDING_VELOCITY to 0 in both markets, so that the funding rate
// stays 0 and no funding ever accrues: block timestamps follow the wall clock, and a reverted
// trade is evaluated at a timestamp the test cannot read back, so exact revert arguments would
// otherwise be at the mercy of the clock. The "funding" tests switch it back on and account for
// it to the wei from the timestamps of the blocks the trades and views ran in.

/** Oracle status (IPriceOracle.Status) and oracle-policy action (OraclePolicy.Action). */
const DEGRADED = 1n;
const INCREASE_RISK = 0n;

// ---------------------------------------------------------------- fixture

/**
 * deployMarkets() with fresh feed rounds (ETH 3000, BTC 60000), no TWAPs, funding off, 10M USDC
 * in the pool, and alice, bob and carol funded and approving MarginAccounts. No accounts yet.
 */
async function keelFixture() {
  const [, , alice, bob, carol] = await ethers.getSigners();
  const keel = await pricedMarkets({ liquidity: usdc("10000000"), traders: [alice, bob, carol] });
  return { ...keel, alice, bob, carol };
}

/** The fixture with its model, and helpers that act on both and check the chain against the model. */
async function ready() {
  const f = await loadFixture(keelFixture);
  const sim = simOf(f);
  const feeds: Record<number, typeof f.ethFeed> = { [ETH]: f.ethFeed, [BTC]: f.btcFeed };

  const now = async () => BigInt(await time.latest());

  const h = {
    now,
    /** Creates an account (Cross: market 0; Isolated: its market) and returns its id. */
    async open(owner: HardhatEthersSigner, mode: number, marketId = 0): Promise<bigint> {
      const id = await f.accounts.nextAccountId();
      await f.accounts.connect(owner).createAccount(mode, marketId);
      sim.addAccount(id, mode);
      return id;
    },
    async deposit(owner: HardhatEthersSigner, id: bigint, token: string, amount: bigint) {
      await f.accounts.connect(owner).deposit(id, token, amount);
      sim.credit(id, token, amount);
    },
    /** Trades at the widest price limit; checks the PositionModified event against the model. */
    async trade(owner: HardhatEthersSigner, id: bigint, marketId: number, delta: bigint): Promise<TradeResult> {
      const tx = await f.perps.connect(owner).modifyPosition(id, marketId, delta, delta > 0n ? ethers.MaxUint256 : 0n);
      const receipt = await tx.wait();
      const block = await receipt?.getBlock();
      if (block === undefined) throw new Error("trade block not found");
      const r = sim.trade(id, marketId, delta, BigInt(block.timestamp));
      await expect(tx)
        .to.emit(f.perps, "PositionModified")
        .withArgs(id, marketId, delta, r.fill, r.newSize, r.realized, r.funding, r.fee, r.units);
      return r;
    },
    /** What a trade sent now would do (on a copy of the model; nothing is sent). */
    async whatIf(id: bigint, marketId: number, delta: bigint): Promise<MarginModel> {
      const t = (await now()) + 1n;
      const copy = sim.clone();
      copy.trade(id, marketId, delta, t);
      return copy.margin(id, t);
    },
    /** Pushes a fresh Chainlink round (8 decimals). */
    async setPrice(marketId: number, answer: bigint) {
      await feeds[marketId].push(answer);
      sim.market(marketId).price = answer * TICK;
    },
    async setParam(name: string, marketId: number, value: bigint) {
      const tx = await f.riskConfig.setParameter(paramIndex(name), marketId, value);
      const field = PARAM_FIELDS[name];
      const fundingParam = ["SKEW_SCALE", "MAX_FUNDING_VELOCITY", "MAX_FUNDING_RATE"].includes(name);
      if (fundingParam) {
        const block = await (await tx.wait())?.getBlock();
        if (block === undefined) throw new Error("block not found");
        sim.accrue(marketId, BigInt(block.timestamp));
      }
      sim.market(marketId).params[field] = value;
    },
    /** The model's margin now (the latest block: what a view call sees). */
    async expected(id: bigint): Promise<MarginModel> {
      return sim.margin(id, await now());
    },
    /** Asserts accountMargin(id) equals the model's, to the wei; returns the model's. */
    async expectMargin(id: bigint): Promise<MarginModel> {
      const e = sim.margin(id, await now());
      const m = await f.engine.accountMargin(id);
      expect([m.equity, m.initialMargin, m.maintenanceMargin]).to.deep.equal([e.equity, e.im, e.mm]);
      return e;
    },
    async balances(id: bigint): Promise<bigint[]> {
      return Promise.all([f.addr.usdc, f.addr.weth, f.addr.wbtc].map((t) => f.accounts.balanceOf(id, t)));
    },
  };
  return { ...f, sim, ...h };
}

// ---------------------------------------------------------------- tests

describe("MarginEngine", () => {
  describe("isolated account", () => {
    it("values one ETH long: equity at the low price, MM = notional x the volatility term, IM = 1.5 MM", async () => {
      const f = await ready();
      const id = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("1000"));
      const r = await f.trade(f.alice, id, ETH, wad("1"));

      // The trade, by hand: skew 0 before, skew scale 1e6 ETH, taker fee 0.06%.
      const p = configuredParams(ETH);
      const price = ETH_PRICE * TICK;
      const fill = divUp(price * (2n * p.skewScale + WAD), 2n * p.skewScale);
      expect(fill).to.equal(wad("3000.0015"));
      const fee = divUp(WAD * p.takerFee * fill, WAD * WAD);
      expect(fee).to.equal(wad("1.8000009"));
      const units = divDown(-fee, USDC_SCALE); // toward -infinity: 1.800001 USDC
      expect(units).to.equal(-1_800_001n);
      expect(r).to.include({ fill, fee, units, realized: 0n, funding: 0n });
      expect(r.insurance).to.equal(360_000n); // floor(floor(fee x 0.2) / 1e12)
      const balance = usdc("1000") + units;
      expect(await f.accounts.balanceOf(id, f.addr.usdc)).to.equal(balance);

      // Equity: balance at face value + size x low - cost (cost = 1 x fill, rounded up).
      const equity = balance * USDC_SCALE + price - fill;
      expect(equity).to.equal(wad("998.198499"));

      // s = max(floor 1%, size term 0.02 x 1 / 2000, 3 x sigma x sqrt(4h / 1y)) = the vol term.
      const root = sqrtUp(divUp(4n * 3600n * WAD * WAD, YEAR));
      expect(root).to.equal(21_368_692_158_534_412n); // sqrt(4h / 365d) = 0.02136869215853441...
      const volTerm = mulWadUp(mulWadUp(3n * WAD, f.sigma.eth), root);
      const sizeTerm = divUp(p.mmSizeFactor * WAD, p.maxPositionSize);
      expect(volTerm > sizeTerm && volTerm > p.mmFloor).to.be.true;
      const notional = price; // |1| x high, exact
      const mm = mulWadUp(notional, volTerm);
      const im = mulWadUp(mm, wad("1.5"));
      if (f.sigma.eth === wad("0.6")) {
        // The configured initial volatility (config/networks.ts): the figures in full.
        expect(volTerm).to.equal(38_463_645_885_361_942n);
        expect(mm).to.equal(wad("115.390937656085826")); // exact: 3000 x 0.038463645885361942
        expect(im).to.equal(wad("173.086406484128739"));
      }
      const m = await f.engine.accountMargin(id);
      expect([m.equity, m.initialMargin, m.maintenanceMargin]).to.deep.equal([equity, im, mm]);
      await f.expectMargin(id); // the model agrees
      expect(await f.engine.isLiquidatable(id)).to.be.false;
    });

    it("switches to the size term when MM_SIZE_FACTOR makes it the largest, then to the floor", async () => {
      const f = await ready();
      const id = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("1000"));
      await f.trade(f.alice, id, ETH, wad("1"));
      const price = ETH_PRICE * TICK;
      const root = sqrtUp(divUp(4n * 3600n * WAD * WAD, YEAR));
      const volTerm = mulWadUp(mulWadUp(3n * WAD, f.sigma.eth), root);

      // A 1-ETH position can only reach the size term with a small MAX_POSITION_SIZE: 0.2 x 1 / 3.
      await f.setParam("MAX_POSITION_SIZE", ETH, wad("3"));
      await f.setParam("MM_SIZE_FACTOR", ETH, wad("0.2"));
      const sizeTerm = divUp(wad("0.2") * WAD, wad("3"));
      expect(sizeTerm).to.equal(66_666_666_666_666_667n); // rounded up
      expect(sizeTerm > volTerm).to.be.true;
      let mm = mulWadUp(price, sizeTerm);
      expect(mm).to.equal(wad("200.000000000000001")); // 3000 x 0.066666666666666667
      let m = await f.engine.accountMargin(id);
      expect([m.initialMargin, m.maintenanceMargin]).to.deep.equal([mulWadUp(mm, wad("1.5")), mm]);

      // MM_FLOOR above both.
      await f.setParam("MM_FLOOR", ETH, wad("0.25"));
      mm = mulWadUp(price, wad("0.25"));
      expect(mm).to.equal(wad("750"));
      m = await f.engine.accountMargin(id);
      expect([m.initialMargin, m.maintenanceMargin]).to.deep.equal([wad("1125"), wad("750")]);
      await f.expectMargin(id);
      expect(await f.engine.isLiquidatable(id)).to.be.false; // equity 998.198499
    });
  });

  describe("cross account (portfolio margin)", () => {
    it("needs exactly the isolated IM and MM for a lone perp, long or short", async () => {
      const f = await ready();
      for (const [marketId, delta] of [
        [ETH, wad("2.5")],
        [BTC, wad("-0.3")],
      ] as const) {
        const cross = await f.open(f.alice, CROSS);
        const isolated = await f.open(f.bob, ISOLATED, marketId);
        for (const [owner, id] of [
          [f.alice, cross],
          [f.bob, isolated],
        ] as const) {
          await f.deposit(owner, id, f.addr.usdc, usdc("5000"));
          await f.trade(owner, id, marketId, delta);
        }
        const c = await f.engine.accountMargin(cross);
        const i = await f.engine.accountMargin(isolated);
        expect([c.initialMargin, c.maintenanceMargin]).to.deep.equal([i.initialMargin, i.maintenanceMargin]);
        // And both are the standard formula: MM = ceil(ceil(|size| x high) x s), IM = ceil(MM x 1.5).
        const m = f.sim.market(marketId);
        const s = shockRatio(m.params, abs(delta), m.sigma);
        const mm = mulWadUp(mulWadUp(abs(delta), m.price), s);
        expect([c.initialMargin, c.maintenanceMargin]).to.deep.equal([mulWadUp(mm, wad("1.5")), mm]);
        await f.expectMargin(cross);
        await f.expectMargin(isolated);
      }
    });

    it("sums the worst grid loss of each underlying: ETH long and BTC short", async () => {
      const f = await ready();
      const id = await f.open(f.alice, CROSS);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("20000"));
      await f.trade(f.alice, id, ETH, wad("4"));
      await f.trade(f.alice, id, BTC, wad("-0.25"));

      const eth = f.sim.market(ETH);
      const btc = f.sim.market(BTC);
      // Each book's worst point is its full shock s against it (j = -3 for the long, +3 for the short).
      const ethLoss = mulWadUp(mulWadUp(wad("4"), eth.price), shockRatio(eth.params, wad("4"), eth.sigma));
      const btcLoss = mulWadUp(mulWadUp(wad("0.25"), btc.price), shockRatio(btc.params, wad("0.25"), btc.sigma));
      const mm = ethLoss + btcLoss;
      const im = mulWadUp(ethLoss, wad("1.5")) + mulWadUp(btcLoss, wad("1.5"));
      const m = await f.engine.accountMargin(id);
      expect([m.initialMargin, m.maintenanceMargin]).to.deep.equal([im, mm]);
      await f.expectMargin(id);

      // Moving one underlying changes only its own book's requirement.
      await f.setPrice(BTC, feed("61234.56789012"));
      const btcLoss2 = mulWadUp(mulWadUp(wad("0.25"), btc.price), shockRatio(btc.params, wad("0.25"), btc.sigma));
      const after = await f.expectMargin(id);
      expect([after.im, after.mm]).to.deep.equal([
        mulWadUp(ethLoss, wad("1.5")) + mulWadUp(btcLoss2, wad("1.5")),
        ethLoss + btcLoss2,
      ]);
    });
  });

  describe("isolation", () => {
    it("a move that wipes an isolated account leaves the owner's cross account exactly unchanged", async () => {
      const f = await ready();
      const isolated = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, isolated, f.addr.usdc, usdc("2000"));
      await f.trade(f.alice, isolated, ETH, wad("10"));
      const cross = await f.open(f.alice, CROSS);
      await f.deposit(f.alice, cross, f.addr.usdc, usdc("5000"));
      await f.deposit(f.alice, cross, f.addr.wbtc, ethers.parseUnits("0.1", 8));
      await f.trade(f.alice, cross, BTC, wad("0.5"));

      const crossBalances = await f.balances(cross);
      const crossMargin = await f.engine.accountMargin(cross);
      const isolatedBefore = await f.expectMargin(isolated);
      expect(isolatedBefore.equity >= isolatedBefore.im).to.be.true;

      await f.setPrice(ETH, feed("2700")); // -10%: 10 ETH lose 3,000 USD against 2,000 deposited
      const wiped = await f.expectMargin(isolated);
      expect(wiped.equity < 0n).to.be.true;
      expect(wiped.equity).to.equal(
        f.sim.balance(isolated, f.addr.usdc) * USDC_SCALE +
          10n * wad("2700") -
          f.sim.account(isolated).positions.get(ETH)!.cost,
      );
      expect(await f.engine.isLiquidatable(isolated)).to.be.true;
      expect(await f.engine.withdrawableEquity(isolated)).to.equal(wiped.equity);

      expect(await f.balances(cross)).to.deep.equal(crossBalances);
      const after = await f.engine.accountMargin(cross);
      expect([after.equity, after.initialMargin, after.maintenanceMargin]).to.deep.equal([
        crossMargin.equity,
        crossMargin.initialMargin,
        crossMargin.maintenanceMargin,
      ]);
      await f.expectMargin(cross);
      expect(await f.engine.isLiquidatable(cross)).to.be.false;
    });
  });

  describe("collateral", () => {
    it("values WETH and WBTC at weight x price, WBTC's 8 decimals scaled to WAD", async () => {
      const f = await ready();
      const id = await f.open(f.bob, CROSS);
      const wethAmount = wad("1.234567890123456789");
      const wbtcAmount = ethers.parseUnits("0.12345678", 8);
      await f.setPrice(ETH, feed("3000.12345678"));
      await f.setPrice(BTC, feed("60000.87654321"));
      await f.deposit(f.bob, id, f.addr.weth, wethAmount);
      await f.deposit(f.bob, id, f.addr.wbtc, wbtcAmount);

      const wethValue = divDown(divDown(wethAmount * feed("3000.12345678") * TICK, WAD) * wad("0.85"), WAD);
      const wbtcValue = divDown(
        divDown(wbtcAmount * 10n ** 10n * feed("60000.87654321") * TICK, WAD) * wad("0.8"),
        WAD,
      );
      expect(wbtcValue).to.equal(wad("5926.01201216178997104")); // 0.12345678 x 60000.87654321 x 0.8, exact
      const m = await f.engine.accountMargin(id);
      expect([m.equity, m.initialMargin, m.maintenanceMargin]).to.deep.equal([wethValue + wbtcValue, 0n, 0n]);
      await f.expectMargin(id);
      expect(await f.engine.withdrawableEquity(id)).to.equal(wethValue + wbtcValue);
    });

    it("counts a negative USDC balance at face value, covered by WETH, and flips isLiquidatable at the boundary", async () => {
      const f = await ready();
      const id = await f.open(f.bob, CROSS);
      await f.deposit(f.bob, id, f.addr.weth, wad("10"));
      await f.deposit(f.bob, id, f.addr.wbtc, ethers.parseUnits("0.5", 8));
      await f.trade(f.bob, id, BTC, wad("5"));
      // The fee alone already took the USDC balance below zero: the pool's receivable.
      expect(await f.accounts.balanceOf(id, f.addr.usdc)).to.equal(f.sim.balance(id, f.addr.usdc));
      expect(f.sim.balance(id, f.addr.usdc) < 0n).to.be.true;

      // BTC falls 10%; closing 2 BTC realizes the loss on them.
      await f.setPrice(BTC, feed("54000"));
      const r = await f.trade(f.bob, id, BTC, wad("-2"));
      expect(r.realized < 0n).to.be.true;
      const balance = f.sim.balance(id, f.addr.usdc);
      expect(await f.accounts.balanceOf(id, f.addr.usdc)).to.equal(balance);
      expect(await f.accounts.settlementDebt()).to.equal(-balance);

      // Equity = balance (negative, face value) + WETH + WBTC at weight x low + the 3 BTC's PnL.
      const pos = f.sim.account(id).positions.get(BTC)!;
      const wethValue = divDown(divDown(wad("10") * wad("3000"), WAD) * wad("0.85"), WAD);
      const wbtcValue = divDown(divDown(wad("0.5") * wad("54000"), WAD) * wad("0.8"), WAD);
      const pnl = divDown(wad("3") * wad("54000"), WAD) - pos.cost;
      const equity = balance * USDC_SCALE + wethValue + wbtcValue + pnl;
      expect(wethValue).to.equal(wad("25500"));
      expect(wbtcValue).to.equal(wad("21600"));
      const e = await f.expectMargin(id);
      expect(e.equity).to.equal(equity);
      expect(await f.engine.isLiquidatable(id)).to.be.false;

      // The lowest ETH price (feed ticks) at which the account is still not liquidatable.
      const now = await f.now();
      const liquidatableAt = (answer: bigint) => {
        const copy = f.sim.clone();
        copy.market(ETH).price = answer * TICK;
        const x = copy.margin(id, now);
        return x.mm > x.equity;
      };
      let safe = ETH_PRICE;
      let unsafe = 1n;
      expect(liquidatableAt(unsafe)).to.be.true;
      while (safe - unsafe > 1n) {
        const mid = (safe + unsafe) / 2n;
        if (liquidatableAt(mid)) unsafe = mid;
        else safe = mid;
      }
      // WETH covers the debt down to about 1,600 USD.
      expect(safe > feed("1000") && safe < feed("2000")).to.be.true;

      await f.setPrice(ETH, safe);
      const atSafe = await f.expectMargin(id);
      expect(atSafe.equity >= atSafe.mm).to.be.true;
      expect(await f.engine.isLiquidatable(id)).to.be.false;
      await f.setPrice(ETH, safe - 1n);
      const atUnsafe = await f.expectMargin(id);
      expect(atUnsafe.equity < atUnsafe.mm).to.be.true;
      expect(await f.engine.isLiquidatable(id)).to.be.true;
      await f.setPrice(ETH, safe);
      expect(await f.engine.isLiquidatable(id)).to.be.false;
    });
  });

  describe("trade checks", () => {
    it("reverts an increase that leaves IM uncovered with InsufficientMargin(id, equity after, IM after)", async () => {
      const f = await ready();
      const id = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("1000"));

      // 6 ETH: IM after ~1,038 USD against ~989 of equity after the fee.
      const delta = wad("6");
      const after = await f.whatIf(id, ETH, delta);
      // By hand: fill, fee and settled units of the trade, then equity and IM after it.
      const p = configuredParams(ETH);
      const price = ETH_PRICE * TICK;
      const fill = divUp(price * (2n * p.skewScale + delta), 2n * p.skewScale);
      const fee = divUp(delta * p.takerFee * fill, WAD * WAD);
      const balance = usdc("1000") + divDown(-fee, USDC_SCALE);
      const equityAfter = balance * USDC_SCALE + mulWadDown(delta, price) - mulWadUp(delta, fill);
      const mmAfter = mulWadUp(mulWadUp(delta, price), shockRatio(p, delta, f.sigma.eth));
      const imAfter = mulWadUp(mmAfter, p.imMultiplier);
      expect([after.equity, after.im]).to.deep.equal([equityAfter, imAfter]);
      expect(equityAfter < BigInt(imAfter)).to.be.true;
      await expect(f.perps.connect(f.alice).modifyPosition(id, ETH, delta, ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, equityAfter, imAfter);

      // 5 ETH is covered.
      const ok = await f.whatIf(id, ETH, wad("5"));
      expect(ok.equity >= ok.im).to.be.true;
      await f.trade(f.alice, id, ETH, wad("5"));
      await f.expectMargin(id);
    });

    it("lets a risk-reducing trade through on MM alone, and reverts one that leaves MM uncovered", async () => {
      const f = await ready();
      const id = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("1000"));
      await f.trade(f.alice, id, ETH, wad("5"));

      // At 2950: MM <= equity < IM.
      await f.setPrice(ETH, feed("2950"));
      const now = await f.expectMargin(id);
      expect(now.mm <= now.equity && now.equity < now.im).to.be.true;

      // Adding 0.1 ETH needs IM.
      const up = await f.whatIf(id, ETH, wad("0.1"));
      await expect(f.perps.connect(f.alice).modifyPosition(id, ETH, wad("0.1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, up.equity, up.im);

      // Closing 0.2 ETH only needs MM, which it leaves covered (IM still is not).
      const down = await f.whatIf(id, ETH, wad("-0.2"));
      expect(down.mm <= down.equity && down.equity < down.im).to.be.true;
      await f.trade(f.alice, id, ETH, wad("-0.2"));
      await f.expectMargin(id);

      // At 2880 the 4.8 ETH are below MM: a small reduction that does not restore MM reverts with MM.
      await f.setPrice(ETH, feed("2880"));
      const under = await f.expectMargin(id);
      expect(under.equity < under.mm).to.be.true;
      const small = await f.whatIf(id, ETH, wad("-0.01"));
      expect(small.equity < small.mm).to.be.true;
      await expect(f.perps.connect(f.alice).modifyPosition(id, ETH, wad("-0.01"), 0n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, small.equity, small.mm);
      // A reduction that restores MM goes through.
      const big = await f.whatIf(id, ETH, wad("-2"));
      expect(big.equity >= big.mm).to.be.true;
      await f.trade(f.alice, id, ETH, wad("-2"));
      await f.expectMargin(id);
    });

    it("checkTrade from any caller but the perp market reverts NotPerpMarket(caller)", async () => {
      const f = await ready();
      const id = await f.open(f.alice, CROSS);
      await expect(f.engine.connect(f.alice).checkTrade(id, true))
        .to.be.revertedWithCustomError(f.engine, "NotPerpMarket")
        .withArgs(f.alice.address);
      await expect(f.engine.connect(f.admin).checkTrade(id, false))
        .to.be.revertedWithCustomError(f.engine, "NotPerpMarket")
        .withArgs(f.admin.address);
    });
  });

  describe("withdrawals and transfers", () => {
    /** alice's cross account with ETH in profit and BTC at a loss: unrealized profit backs nothing. */
    async function inProfit() {
      const f = await ready();
      const id = await f.open(f.alice, CROSS);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("8000"));
      await f.trade(f.alice, id, ETH, wad("10"));
      await f.trade(f.alice, id, BTC, wad("1"));
      await f.setPrice(ETH, feed("3300"));
      await f.setPrice(BTC, feed("59000"));
      const e = await f.expectMargin(id);
      const [ethRisk, btcRisk] = [ETH, BTC].map((m) => e.risks.find((r) => r.marketId === m)!);
      expect(ethRisk.pnl > 0n && btcRisk.pnl < 0n).to.be.true;
      expect(e.profit).to.equal(ethRisk.pnl);
      // What backs a withdrawal: the equity without the ETH profit (the BTC loss still counts).
      const backing = f.sim.balance(id, f.addr.usdc) * USDC_SCALE + btcRisk.pnl;
      expect(backing).to.equal(e.equity - e.profit);
      // The most that leaves IM covered, in whole USDC units.
      const maxUnits = divDown(backing - e.im, USDC_SCALE);
      expect(maxUnits > 0n && maxUnits < f.sim.balance(id, f.addr.usdc)).to.be.true;
      // The full equity would allow more: the excess is the profit.
      expect(divDown(e.equity - e.im, USDC_SCALE) > maxUnits + 1n).to.be.true;
      return { ...f, id, e, backing, maxUnits };
    }

    it("backs a withdrawal with equity minus unrealized profit, to the unit", async () => {
      const f = await inProfit();
      const { id, e, backing, maxUnits } = f;
      expect(await f.engine.withdrawableEquity(id)).to.equal(backing);

      // What the equity with the profit would allow reverts.
      const withProfit = divDown(e.equity - e.im, USDC_SCALE);
      await expect(f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, withProfit))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, backing - withProfit * USDC_SCALE, e.im);
      // One unit over the limit reverts.
      await expect(f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, maxUnits + 1n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, backing - (maxUnits + 1n) * USDC_SCALE, e.im);

      // The limit passes and leaves IM covered, within one unit.
      const before = await f.usdc.balanceOf(f.alice.address);
      await f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, maxUnits);
      f.sim.credit(id, f.addr.usdc, -maxUnits);
      expect(await f.usdc.balanceOf(f.alice.address)).to.equal(before + maxUnits);
      const left = await f.engine.withdrawableEquity(id);
      expect(left).to.equal(backing - maxUnits * USDC_SCALE);
      expect(left >= e.im && left - e.im < USDC_SCALE).to.be.true;
      await f.expectMargin(id);
      // Nothing more, not even one unit.
      await expect(f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, 1n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, left - USDC_SCALE, e.im);
    });

    it("checks a transfer to the owner's other account the same way", async () => {
      const f = await inProfit();
      const { id, e, backing, maxUnits } = f;
      const other = await f.open(f.alice, ISOLATED, BTC);
      await expect(f.accounts.connect(f.alice).transfer(id, other, f.addr.usdc, maxUnits + 1n))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(id, backing - (maxUnits + 1n) * USDC_SCALE, e.im);
      await f.accounts.connect(f.alice).transfer(id, other, f.addr.usdc, maxUnits);
      f.sim.credit(id, f.addr.usdc, -maxUnits);
      f.sim.credit(other, f.addr.usdc, maxUnits);
      expect(await f.accounts.balanceOf(other, f.addr.usdc)).to.equal(maxUnits);
      expect(await f.engine.withdrawableEquity(id)).to.equal(backing - maxUnits * USDC_SCALE);
      await f.expectMargin(id);
      await f.expectMargin(other);
    });
  });

  describe("oracle status", () => {
    it("Degraded (circuit breaker): margin still answers; new risk is refused, reducing and withdrawing work", async () => {
      const f = await ready();
      const id = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, id, f.addr.usdc, usdc("2000"));
      await f.trade(f.alice, id, ETH, wad("2"));

      await f.oracle.poke(f.addr.weth); // the breaker's reference: 3000
      await f.setPrice(ETH, feed("2300")); // -23.3%: beyond the 20% breaker
      await expect(f.oracle.poke(f.addr.weth)).to.emit(f.oracle, "CircuitBreakerTripped");
      const price = await f.oracle.getPrice(f.addr.weth);
      expect([price.price, price.low, price.high, price.status]).to.deep.equal([
        wad("2300"),
        wad("2300"),
        wad("2300"),
        DEGRADED,
      ]);

      await f.expectMargin(id);
      expect(await f.engine.isLiquidatable(id)).to.be.false;
      await expect(f.perps.connect(f.alice).modifyPosition(id, ETH, wad("0.1"), ethers.MaxUint256))
        .to.be.revertedWithCustomError(f.perps, "ActionNotAllowed")
        .withArgs(DEGRADED, INCREASE_RISK);
      await f.trade(f.alice, id, ETH, wad("-1"));
      await f.expectMargin(id);
      await f.accounts.connect(f.alice).withdraw(id, f.addr.usdc, usdc("100"));
      f.sim.credit(id, f.addr.usdc, -usdc("100"));
      await f.expectMargin(id);
    });

    it("Down (stale feed): margin reverts PriceDown(asset); an account with no positions and no debt still withdraws", async () => {
      const f = await ready();
      const ethAccount = await f.open(f.alice, ISOLATED, ETH);
      await f.deposit(f.alice, ethAccount, f.addr.usdc, usdc("2000"));
      await f.trade(f.alice, ethAccount, ETH, wad("1"));
      const btcAccount = await f.open(f.bob, CROSS);
      await f.deposit(f.bob, btcAccount, f.addr.usdc, usdc("5000"));
      await f.trade(f.bob, btcAccount, BTC, wad("-0.5"));
      const cashOnly = await f.open(f.carol, CROSS);
      await f.deposit(f.carol, cashOnly, f.addr.usdc, usdc("700"));
      const wethHolder = await f.open(f.carol, CROSS);
      await f.deposit(f.carol, wethHolder, f.addr.weth, wad("1"));
      await f.deposit(f.carol, wethHolder, f.addr.usdc, usdc("50"));
      // No position left, but the fees of a round trip left a negative USDC balance (a debt).
      const inDebt = await f.open(f.carol, CROSS);
      await f.deposit(f.carol, inDebt, f.addr.weth, wad("1"));
      await f.trade(f.carol, inDebt, ETH, wad("0.1"));
      await f.trade(f.carol, inDebt, ETH, wad("-0.1"));
      expect(f.sim.account(inDebt).positions.size).to.equal(0);
      expect(f.sim.balance(inDebt, f.addr.usdc) < 0n).to.be.true;
      await f.expectMargin(inDebt);

      // The ETH feed goes stale (heartbeat 3600 + tolerance 300); BTC gets a fresh round.
      await time.increase(3901);
      await f.setPrice(BTC, BTC_PRICE);
      expect((await f.oracle.getPrice(f.addr.weth)).status).to.equal(2n); // Down

      await expect(f.engine.accountMargin(ethAccount))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      await expect(f.engine.isLiquidatable(ethAccount))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      await expect(f.accounts.connect(f.alice).withdraw(ethAccount, f.addr.usdc, 1n))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      // WETH held as collateral needs the price to be valued (the engine's own error)...
      for (const id of [wethHolder, inDebt]) {
        await expect(f.engine.accountMargin(id))
          .to.be.revertedWithCustomError(f.engine, "PriceDown")
          .withArgs(f.addr.weth);
      }
      // ...and to back a withdrawal when there is a debt to cover,
      await expect(f.accounts.connect(f.carol).withdraw(inDebt, f.addr.weth, wad("0.1")))
        .to.be.revertedWithCustomError(f.engine, "PriceDown")
        .withArgs(f.addr.weth);
      // but not without positions or debt: nothing to cover, no price read.
      await f.accounts.connect(f.carol).withdraw(wethHolder, f.addr.usdc, usdc("50"));
      await f.accounts.connect(f.carol).withdraw(wethHolder, f.addr.weth, wad("0.5"));
      expect(await f.balances(wethHolder)).to.deep.equal([0n, wad("0.5"), 0n]);

      // Accounts that need no ETH price are unaffected.
      await f.expectMargin(btcAccount);
      await f.expectMargin(cashOnly);
      const before = await f.usdc.balanceOf(f.carol.address);
      await f.accounts.connect(f.carol).withdraw(cashOnly, f.addr.usdc, usdc("700"));
      expect(await f.usdc.balanceOf(f.carol.address)).to.equal(before + usdc("700"));
      expect(await f.accounts.balanceOf(cashOnly, f.addr.usdc)).to.equal(0n);
    });
  });

  describe("funding", () => {
    it("counts the funding a position owes to now, accrued in the view at the current price", async () => {
      const f = await ready();
      for (const market of [ETH, BTC]) await f.setParam("MAX_FUNDING_VELOCITY", market, wad("3"));
      const long = await f.open(f.alice, CROSS);
      await f.deposit(f.alice, long, f.addr.usdc, usdc("20000"));
      const short = await f.open(f.bob, ISOLATED, ETH);
      await f.deposit(f.bob, short, f.addr.usdc, usdc("20000"));
      await f.trade(f.alice, long, ETH, wad("100"));
      await f.trade(f.bob, short, ETH, wad("-40"));

      await time.increase(8n * 3600n);
      await f.setPrice(ETH, feed("3100"));
      const longMargin = await f.expectMargin(long);
      await f.expectMargin(short);

      // By hand, from the market's rate, index and time at the short's trade (the model's): since
      // then the skew is 60 ETH, so the rate has drifted by 60 / 1e6 x 3 per day.
      const m = f.sim.market(ETH);
      const now = await f.now();
      const velocity = fundingVelocity(wad("60"), m.params.skewScale, wad("3"));
      expect(velocity).to.equal(wad("0.00018"));
      const [, rateDays] = accrueFunding(m.rate, velocity, now - m.last, m.params.maxFundingRate);
      const index = m.index + mulWadDown(rateDays, wad("3100"));
      const pos = f.sim.account(long).positions.get(ETH)!;
      const owed = mulWadUp(wad("100"), index - pos.snapshot);
      expect(owed > wad("1")).to.be.true; // longs pay shorts
      expect(longMargin.equity).to.equal(
        f.sim.balance(long, f.addr.usdc) * USDC_SCALE + mulWadDown(wad("100"), wad("3100")) - pos.cost - owed,
      );

      // A trade settles the funding owed into the USDC balance (checked against the event).
      const r = await f.trade(f.alice, long, ETH, wad("-30"));
      expect(r.funding > owed).to.be.true; // one more second accrued
      await f.expectMargin(long);
      await f.expectMargin(short);
    });
  });
});
