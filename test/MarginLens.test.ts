import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { paramIndex } from "../scripts/lib/params";
import {
  WAD,
  TICK,
  CROSS,
  ISOLATED,
  ETH,
  BTC,
  usdc,
  wad,
  feed,
  BTC_PRICE,
  abs,
  divUp,
  TradeResult,
  RiskModel,
  MarginModel,
} from "./helpers/marginModel";
import { pricedMarkets, simOf } from "./helpers/fixtures";

// MarginLens reads the margin engine for many accounts at once and derives liquidation prices.
// Expected figures are computed here in bigint with the model of the perp markets and the margin
// engine in test/helpers/marginModel.ts (shared with test/MarginEngine.test.ts), never read back
// from the contracts under test; the inputs read from the chain are the volatility oracle's sigma
// and block timestamps.
//
// Oracle: fresh Chainlink rounds and no Uniswap TWAPs, so low = high = price = Chainlink.
// Funding is on (the configured velocity): trades record their block's timestamp in the model and
// views run at the latest block's, so funding is accounted for to the wei. The liquidation-price
// formula holds funding still, and every block is at least a second later than the last: at these
// skews a second of funding moves the real threshold by about a tick, so the checks that a price
// one tick on either side of the formula's flips isLiquidatable switch funding off (velocity 0
// before any trade) and move no time on between the formula and the pushes.

// ---------------------------------------------------------------- fixture

/**
 * deployMarkets() with fresh feed rounds (ETH 3000, BTC 60000), no TWAPs, 10M USDC in the pool,
 * and alice, bob and carol funded and approving MarginAccounts. No accounts yet.
 */
async function keelFixture() {
  const [, , alice, bob, carol] = await ethers.getSigners();
  const keel = await pricedMarkets({ funding: true, liquidity: usdc("10000000"), traders: [alice, bob, carol] });
  return { ...keel, alice, bob, carol };
}

/** The fixture with its model, and helpers that act on both and check the chain against the model. */
async function ready() {
  const f = await loadFixture(keelFixture);
  const sim = simOf(f, { funding: true });
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
    /** Pushes a fresh Chainlink round (8 decimals). */
    async setPrice(marketId: number, answer: bigint) {
      await feeds[marketId].push(answer);
      sim.market(marketId).price = answer * TICK;
    },
    /** The model's margin now (the latest block: what a view call sees). */
    async expected(id: bigint): Promise<MarginModel> {
      return sim.margin(id, await now());
    },
    /** MAX_FUNDING_VELOCITY 0 in both markets, before any trade: no funding ever accrues. */
    async fundingOff() {
      for (const id of [ETH, BTC]) {
        await f.riskConfig.setParameter(paramIndex("MAX_FUNDING_VELOCITY"), id, 0n);
        sim.market(id).params.maxFundingVelocity = 0n;
      }
    },
  };
  return { ...f, sim, ...h };
}

// ---------------------------------------------------------------- expected lens output

/** A margins() entry as an array: [accountId, ok, equity, IM, MM, liquidatable, reason]. */
function entry(r: {
  accountId: bigint;
  ok: boolean;
  equity: bigint;
  initialMargin: bigint;
  maintenanceMargin: bigint;
  liquidatable: boolean;
  reason: string;
}) {
  return [r.accountId, r.ok, r.equity, r.initialMargin, r.maintenanceMargin, r.liquidatable, r.reason];
}

/** What margins() should say of an account the engine values: the model's figures. */
function valued(id: bigint, e: MarginModel) {
  return [id, true, e.equity, e.im, e.mm, e.mm > e.equity, "0x"];
}

/** What margins() should say of an account the engine reverts for: zeros and the revert data. */
function failed(id: bigint, reason: string) {
  return [id, false, 0n, 0n, 0n, false, reason];
}

/**
 * P_liq = P + trunc((MM - E) x 1e18 / slope), slope = size - floor(notional x s / P): the price of
 * the position's underlying at which equity meets MM, all else equal; 0 if not positive or if the
 * slope is 0.
 */
function liquidationPrice(e: MarginModel, r: RiskModel): bigint {
  const slope = r.size - (r.notional * r.shockRatio) / r.price;
  if (slope === 0n) return 0n;
  const liq = r.price + ((e.mm - e.equity) * WAD) / slope;
  return liq > 0n ? liq : 0n;
}

type Ready = Awaited<ReturnType<typeof ready>>;

/** liquidationPrices(id) as arrays [marketId, size, price, liquidationPrice]. */
async function lensPrices(f: Ready, id: bigint) {
  return (await f.lens.liquidationPrices(id)).map((p) => [p.marketId, p.size, p.price, p.liquidationPrice]);
}

/** The model's liquidationPrices(id) now. */
async function expectedPrices(f: Ready, id: bigint) {
  const e = await f.expected(id);
  return e.risks.map((r) => [BigInt(r.marketId), r.size, r.price, liquidationPrice(e, r)]);
}

/**
 * Sets the feed one tick (1e-8 USD) on the safe side of `liq` (the nearest tick strictly above it
 * for a long, below it for a short), then one tick past it: not liquidatable, then liquidatable.
 * The model says the same at both prices (funding accrued to each push's block included).
 */
async function checkAroundLiquidationPrice(f: Ready, id: bigint, marketId: number, liq: bigint, long: boolean) {
  const above = liq / TICK + 1n; // the nearest tick strictly above
  const below = divUp(liq, TICK) - 1n; // the nearest tick strictly below
  const [safe, past] = long ? [above, below] : [below, above];
  expect(abs(safe * TICK - liq) <= TICK && abs(past * TICK - liq) <= TICK).to.be.true;

  await f.setPrice(marketId, safe);
  const atSafe = await f.expected(id);
  expect(atSafe.mm > atSafe.equity, "model: liquidatable on the safe side").to.be.false;
  expect(await f.engine.isLiquidatable(id)).to.be.false;
  expect((await f.lens.margins([id]))[0].liquidatable).to.be.false;

  await f.setPrice(marketId, past);
  const atPast = await f.expected(id);
  expect(atPast.mm > atPast.equity, "model: liquidatable past the price").to.be.true;
  expect(await f.engine.isLiquidatable(id)).to.be.true;
  expect((await f.lens.margins([id]))[0].liquidatable).to.be.true;
}

/**
 * alice: isolated ETH long 5 on 1,500 USDC. bob: cross BTC short 2 on 10,000 USDC, and cross
 * ETH long 3 + BTC short 1 on 8,000 USDC. carol: cross with 700 USDC only, cross with WETH only,
 * and an empty cross account.
 */
async function book({ funding = true } = {}) {
  const f = await ready();
  if (!funding) await f.fundingOff();
  const ethLong = await f.open(f.alice, ISOLATED, ETH);
  await f.deposit(f.alice, ethLong, f.addr.usdc, usdc("1500"));
  await f.trade(f.alice, ethLong, ETH, wad("5"));
  const btcShort = await f.open(f.bob, CROSS);
  await f.deposit(f.bob, btcShort, f.addr.usdc, usdc("10000"));
  await f.trade(f.bob, btcShort, BTC, wad("-2"));
  const mixed = await f.open(f.bob, CROSS);
  await f.deposit(f.bob, mixed, f.addr.usdc, usdc("8000"));
  await f.trade(f.bob, mixed, ETH, wad("3"));
  await f.trade(f.bob, mixed, BTC, wad("-1"));
  const cashOnly = await f.open(f.carol, CROSS);
  await f.deposit(f.carol, cashOnly, f.addr.usdc, usdc("700"));
  const wethOnly = await f.open(f.carol, CROSS);
  await f.deposit(f.carol, wethOnly, f.addr.weth, wad("2"));
  const empty = await f.open(f.carol, CROSS);
  const unknown = 999n;
  return { ...f, ethLong, btcShort, mixed, cashOnly, wethOnly, empty, unknown };
}

// ---------------------------------------------------------------- tests

describe("MarginLens", () => {
  describe("margins", () => {
    it("answers every account in one call, each exactly as the engine values it", async () => {
      const f = await book();
      const ids = [f.ethLong, f.btcShort, f.mixed, f.cashOnly, f.wethOnly, f.empty, f.unknown];
      const out = await f.lens.margins(ids);
      const expected = await Promise.all(ids.map(async (id) => valued(id, await f.expected(id))));
      expect(out.map(entry)).to.deep.equal(expected);
      // Spot checks of the model: cash at face value, WETH at weight x price, nothing at all.
      expect(entry(out[3])).to.deep.equal([f.cashOnly, true, wad("700"), 0n, 0n, false, "0x"]);
      expect(entry(out[4])).to.deep.equal([f.wethOnly, true, wad("5100"), 0n, 0n, false, "0x"]); // 2 x 3000 x 0.85
      expect(entry(out[5])).to.deep.equal([f.empty, true, 0n, 0n, 0n, false, "0x"]);
      expect(entry(out[6])).to.deep.equal([f.unknown, true, 0n, 0n, 0n, false, "0x"]);
      // Each entry is what the engine says.
      for (const [i, id] of ids.entries()) {
        const m = await f.engine.accountMargin(id);
        expect([out[i].equity, out[i].initialMargin, out[i].maintenanceMargin]).to.deep.equal([
          m.equity,
          m.initialMargin,
          m.maintenanceMargin,
        ]);
      }
      expect(await f.lens.margins([])).to.deep.equal([]);
    });

    it("flags the accounts whose MM exceeds their equity", async () => {
      const f = await book();
      await f.setPrice(ETH, feed("2700"));
      const ids = [f.ethLong, f.btcShort, f.mixed];
      const out = await f.lens.margins(ids);
      const expected = await Promise.all(ids.map(async (id) => valued(id, await f.expected(id))));
      expect(out.map(entry)).to.deep.equal(expected);
      expect(out.map((r) => r.liquidatable)).to.deep.equal([true, false, false]);
      for (const id of ids) {
        expect(await f.engine.isLiquidatable(id)).to.equal(out[ids.indexOf(id)].liquidatable);
      }
    });

    it("reports an account whose price is Down as not ok, with zeros and the revert data", async () => {
      const f = await book();
      // The ETH feed goes stale (heartbeat 3600 + tolerance 300); BTC gets a fresh round.
      await time.increase(3901);
      await f.setPrice(BTC, BTC_PRICE);
      expect((await f.oracle.getPrice(f.addr.weth)).status).to.equal(2n); // Down

      const ids = [f.ethLong, f.btcShort, f.mixed, f.cashOnly, f.wethOnly, f.empty, f.unknown];
      const out = await f.lens.margins(ids);
      // A position needs the price (PerpMarket.PriceDown), so does WETH collateral (MarginEngine.PriceDown).
      const positionDown = f.perps.interface.encodeErrorResult("PriceDown", [f.addr.weth]);
      const collateralDown = f.engine.interface.encodeErrorResult("PriceDown", [f.addr.weth]);
      expect(out.map(entry)).to.deep.equal([
        failed(f.ethLong, positionDown),
        valued(f.btcShort, await f.expected(f.btcShort)),
        failed(f.mixed, positionDown),
        valued(f.cashOnly, await f.expected(f.cashOnly)),
        failed(f.wethOnly, collateralDown),
        [f.empty, true, 0n, 0n, 0n, false, "0x"],
        [f.unknown, true, 0n, 0n, 0n, false, "0x"],
      ]);
      // The revert data is the engine's own.
      await expect(f.engine.accountMargin(f.ethLong))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      // liquidationPrices has no per-account shelter: it reverts.
      await expect(f.lens.liquidationPrices(f.mixed))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
    });
  });

  describe("valuations", () => {
    it("returns each account's nonce and the engine's valuation, as the engine gives it", async () => {
      const f = await book();
      const ids = [f.ethLong, f.btcShort, f.mixed, f.cashOnly, f.wethOnly, f.empty, f.unknown];
      const out = await f.lens.valuations(ids);
      expect(out.map((a) => a.accountId)).to.deep.equal(ids);
      for (const [i, id] of ids.entries()) {
        const v = await f.engine.valuation(id);
        expect(out[i].ok, `account ${id} ok`).to.equal(true);
        expect(out[i].reason).to.equal("0x");
        expect(out[i].nonce, `account ${id} nonce`).to.equal(await f.accounts.nonce(id));
        expect(out[i].valuation, `account ${id} valuation`).to.deep.equal(v);
      }
      // One trade each (nonce 1), the mixed account two; the figures match the model.
      expect(out.map((a) => a.nonce)).to.deep.equal([1n, 1n, 2n, 0n, 0n, 0n, 0n]);
      const mixed = await f.expected(f.mixed);
      expect([out[2].valuation.equity, out[2].valuation.maintenanceMargin]).to.deep.equal([mixed.equity, mixed.mm]);
      expect(out[2].valuation.positions.map((p) => [p.marketId, p.size])).to.deep.equal([
        [BigInt(ETH), wad("3")],
        [BigInt(BTC), -wad("1")],
      ]);
      expect(out[4].valuation.otherCollateral).to.equal(wad("6000")); // 2 WETH x 3000, unweighted
      expect(await f.lens.valuations([])).to.deep.equal([]);
    });

    it("reports an account whose price is Down as not ok, with its nonce and the revert data", async () => {
      const f = await book();
      await time.increase(3901);
      await f.setPrice(BTC, BTC_PRICE);
      const out = await f.lens.valuations([f.ethLong, f.btcShort]);
      expect([out[0].ok, out[0].nonce, out[0].reason]).to.deep.equal([
        false,
        1n,
        f.perps.interface.encodeErrorResult("PriceDown", [f.addr.weth]),
      ]);
      expect(out[0].valuation.equity).to.equal(0n);
      expect(out[1].ok).to.equal(true);
      expect(out[1].valuation.equity).to.equal((await f.expected(f.btcShort)).equity);
    });
  });

  describe("liquidationPrices", () => {
    it("long (isolated ETH): the formula's price, and liquidatable one tick past it only", async () => {
      const f = await book({ funding: false });
      const [p] = await expectedPrices(f, f.ethLong);
      expect(await lensPrices(f, f.ethLong)).to.deep.equal([p]);
      expect(p.slice(0, 3)).to.deep.equal([1n, wad("5"), wad("3000")]);
      const liq = p[3];
      // Below the price, by roughly (equity - MM) / (5 x (1 - s)).
      expect(liq > wad("2700") && liq < wad("3000")).to.be.true;
      await checkAroundLiquidationPrice(f, f.ethLong, ETH, liq, true);
    });

    it("short (cross BTC): the formula's price, and liquidatable one tick past it only", async () => {
      const f = await book({ funding: false });
      const [p] = await expectedPrices(f, f.btcShort);
      expect(await lensPrices(f, f.btcShort)).to.deep.equal([p]);
      expect(p.slice(0, 3)).to.deep.equal([2n, wad("-2"), wad("60000")]);
      const liq = p[3];
      expect(liq > wad("60000") && liq < wad("66000")).to.be.true;
      await checkAroundLiquidationPrice(f, f.btcShort, BTC, liq, false);
    });

    it("one price per position of a cross account, each holding the other prices still", async () => {
      const f = await book({ funding: false });
      const expected = await expectedPrices(f, f.mixed);
      expect(await lensPrices(f, f.mixed)).to.deep.equal(expected);
      expect(expected.map((p) => p.slice(0, 3))).to.deep.equal([
        [1n, wad("3"), wad("3000")],
        [2n, wad("-1"), wad("60000")],
      ]);
      await checkAroundLiquidationPrice(f, f.mixed, ETH, expected[0][3], true);
    });

    it("the BTC short of the cross account, ETH held still", async () => {
      const f = await book({ funding: false });
      const expected = await expectedPrices(f, f.mixed);
      expect(await lensPrices(f, f.mixed)).to.deep.equal(expected);
      await checkAroundLiquidationPrice(f, f.mixed, BTC, expected[1][3], false);
    });

    it("with funding on, is the formula at the equity of the moment, funding owed to now included", async () => {
      const f = await book();
      await time.increase(3600);
      await f.setPrice(ETH, feed("2950"));
      await f.setPrice(BTC, feed("61000"));
      const now = await f.now();
      for (const market of [ETH, BTC]) expect(f.sim.accrued(f.sim.market(market), now).index).to.not.equal(0n);
      for (const id of [f.ethLong, f.btcShort, f.mixed]) {
        expect(await lensPrices(f, id)).to.deep.equal(await expectedPrices(f, id));
      }
      // The formula holds funding still: the next block's accrual moves the real threshold, by more
      // than a tick within seconds at these skews, which is why the tick checks run without funding.
    });

    it("is zero for a long no positive price can liquidate, and empty without positions", async () => {
      const f = await ready();
      const id = await f.open(f.carol, ISOLATED, ETH);
      await f.deposit(f.carol, id, f.addr.usdc, usdc("100000"));
      await f.trade(f.carol, id, ETH, wad("1"));
      const expected = await expectedPrices(f, id);
      expect(expected).to.deep.equal([[1n, wad("1"), wad("3000"), 0n]]);
      expect(await lensPrices(f, id)).to.deep.equal(expected);
      const cash = await f.open(f.carol, CROSS);
      await f.deposit(f.carol, cash, f.addr.usdc, usdc("10"));
      expect(await f.lens.liquidationPrices(cash)).to.deep.equal([]);
    });
  });
});
