import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionResponse } from "ethers";
import { paramIndex } from "../scripts/lib/params";
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
  ETH_PRICE,
  BTC_PRICE,
  min,
  divUp,
  divDown,
  mulWadUp,
  mulWadDown,
  reprice,
  shockRatio,
  TradeResult,
  RiskModel,
} from "./helpers/marginModel";
import {
  pricedMarkets,
  simOf,
  configuredLiquidation,
  liquidationTuple,
  LIQUIDATION_FIELDS,
  LIQUIDATION_STRUCT_ORDER,
} from "./helpers/fixtures";
import type { LiquidationParams } from "./helpers/fixtures";

// Exact-value tests of the LiquidationEngine. Every expected figure is computed here, in bigint,
// from the formulas the engine is specified with (the model below, on top of the shared margin
// model), never read back from the contract under test. Inputs read from the chain: the volatility
// oracle's sigma, the TWAP price in the Degraded test, and the accounts' nonces a bidder passes.
//
// Time: every transaction whose figures depend on time (discounts, payouts, throughput windows)
// is sent at a timestamp fixed with setNextBlockTimestamp; reverts of such transactions are sent
// with an explicit gas limit, so that they are mined at that timestamp (no gas estimation at
// another one). Funding is off (MAX_FUNDING_VELOCITY 0), so nothing else depends on time.

const LIQUIDATION_FEE = ethers.encodeBytes32String("LIQUIDATION_FEE");
const INSOLVENT_ACCOUNT = ethers.encodeBytes32String("INSOLVENT_ACCOUNT");
const DRAWER_ROLE = ethers.id("DRAWER_ROLE");
/** A gas limit for transactions expected to revert: they are mined (at the set timestamp). */
const MINED = { gasLimit: 5_000_000n };
const OK = 0n;
const DEGRADED = 1n;
const DOWN = 2n;

// ---------------------------------------------------------------- the liquidation model

type LiqParams = LiquidationParams;
const LIQ_FIELDS = LIQUIDATION_FIELDS;
const asTuple = (p: LiqParams) => liquidationTuple(p);

interface AuctionModel {
  startTime: bigint;
  curveStart: bigint;
  version: bigint;
  /** The part of the account no bid has taken yet (WAD): the insolvent cap is paid on it only. */
  remaining: bigint;
  params: LiqParams;
}

/** MarginEngine.valuation of the model. */
interface Valuation {
  equity: bigint;
  mm: bigint;
  im: bigint;
  mtm: bigint;
  other: bigint;
  risks: RiskModel[];
}

/** One bid's view (LiquidationEngine._open), with the fee already taken when it starts. */
interface BidView extends Valuation {
  starting: boolean;
  /** A running auction whose account is back at or above MM: its curve restarts at the bid. */
  refreshed: boolean;
  auction: AuctionModel;
  fee: bigint;
  /** Equity and MtM before the fee. */
  equity0: bigint;
  mtm0: bigint;
  buffer: bigint;
  discount: bigint;
  payout: bigint;
}

interface FillResult {
  price: bigint;
  fromRealized: bigint;
  toRealized: bigint;
  moved: bigint;
  fundPaid: bigint;
  poolPaid: bigint;
  seized: Map<string, bigint>;
  ended: boolean;
  /** Per market: the size moved to the bidder and both sides' settlements (WAD). */
  sizes: Map<number, { moved: bigint; from: bigint; to: bigint }>;
}

/** The health offset: FAST_DURATION x (MM - E) / MM, E before the fee. */
function healthOffset(p: LiqParams, equity: bigint, mm: bigint): bigint {
  if (equity <= 0n || mm === 0n) return p.fastDuration;
  if (equity >= mm) return 0n;
  return (p.fastDuration * (mm - equity)) / mm;
}

/** The solvent discount at `t` of an auction whose curve starts at `curveStart`. */
function discountAt(p: LiqParams, curveStart: bigint, t: bigint): bigint {
  let tau = t - curveStart;
  if (tau < p.fastDuration) return p.startDiscount + ((p.fastDiscount - p.startDiscount) * tau) / p.fastDuration;
  tau -= p.fastDuration;
  if (tau < p.slowDuration) return p.fastDiscount + ((p.discountCap - p.fastDiscount) * tau) / p.slowDuration;
  return p.discountCap;
}

/**
 * The insolvent payment for the whole account at `t`: (deficit + incentive) x ramp, the incentive
 * min(cap x remaining, discountCap x gross), each rounded down.
 */
function payoutAt(p: LiqParams, a: AuctionModel, t: bigint, deficit: bigint, gross: bigint): bigint {
  const startTime = a.startTime;
  const full = deficit + min(mulWadDown(p.insolventPayoutCap, a.remaining), mulWadDown(gross, p.discountCap));
  const elapsed = t - startTime;
  return elapsed >= p.insolventRamp ? full : (full * elapsed) / p.insolventRamp;
}

/** MM x fee rate in units (up), only out of positive MtM (down). */
function feeOf(p: LiqParams, mm: bigint, mtm: bigint): bigint {
  if (mtm <= 0n) return 0n;
  return min(divUp(mulWadUp(mm, p.fee), USDC_SCALE), mtm / USDC_SCALE);
}

/**
 * LiquidationEngine._bufferFraction: zero at or above BM (dust accounts included); everything at
 * or below the dust threshold; else (BM - E + 2 units) / (BM - E + MtM (1 - d)) rounded up, at
 * most 1 (only the numerator is widened by the two units).
 */
function bufferFractionOf(p: LiqParams, b: BidView): bigint {
  if (b.equity >= b.buffer) return 0n;
  if (b.mtm <= p.dustThreshold) return WAD;
  const gap = b.buffer - b.equity;
  const paid = mulWadDown(b.mtm, WAD - b.discount);
  return min(divUp((gap + 2n * USDC_SCALE) * WAD, gap + paid), WAD);
}

/** The account's gross value: other collateral + |MtM| + the positions' notional. */
function grossOf(b: Pick<BidView, "other" | "mtm" | "risks">): bigint {
  return b.other + (b.mtm < 0n ? -b.mtm : b.mtm) + b.risks.reduce((sum, r) => sum + r.notional, 0n);
}

/** LiquidationEngine._minFraction: DUST_THRESHOLD of the gross value (up), at most `max`. */
function minFractionOf(p: LiqParams, b: BidView, max: bigint): bigint {
  const gross = grossOf(b);
  if (gross === 0n) return max;
  return min(divUp(p.dustThreshold * WAD, gross), max);
}

function priceOf(b: BidView, fraction: bigint): bigint {
  if (b.mtm > 0n) return divUp(mulWadUp(mulWadUp(b.mtm, fraction), WAD - b.discount), USDC_SCALE);
  return -(mulWadDown(b.payout, fraction) / USDC_SCALE);
}

// ---------------------------------------------------------------- fixture

/**
 * deployMarkets() with fresh feed rounds (ETH 3000, BTC 60000), no TWAPs, funding off, 10M USDC
 * in the pool, 100,000 USDC in the insurance fund, traders funded and approving MarginAccounts.
 */
async function keelFixture() {
  const [, , alice, bob, carol, dave] = await ethers.getSigners();
  const liquidity = usdc("10000000");
  const topUp = usdc("100000");
  const keel = await pricedMarkets({ liquidity, insurance: topUp, traders: [alice, bob, carol, dave] });
  return { ...keel, alice, bob, carol, dave, topUp, liquidity };
}

/** The fixture with its model, and helpers that act on both and check the chain against them. */
async function ready() {
  const f = await loadFixture(keelFixture);
  const sim = simOf(f);
  const feeds: Record<number, typeof f.ethFeed> = { [ETH]: f.ethFeed, [BTC]: f.btcFeed };
  const owners = new Map<bigint, HardhatEthersSigner>();

  /** The engine's state as the model sees it. */
  const liq = {
    version: 1n,
    params: configuredLiquidation(),
    versions: new Map<bigint, LiqParams>(),
    auctions: new Map<bigint, AuctionModel>(),
    /** Notional that entered auctions per market, in the window it was counted in. */
    throughput: new Map<number, { window: bigint; used: bigint }>(),
    /** The insurance fund's balance (units). */
    fund: f.topUp,
  };
  liq.versions.set(1n, { ...liq.params });

  const tokens = [f.addr.usdc, f.addr.weth, f.addr.wbtc];
  const now = async () => BigInt(await time.latest());

  /** MarginEngine.valuation in the model: margin plus MtM (collateral in full at the low price). */
  const valuation = (id: bigint, t: bigint): Valuation => {
    const m = sim.margin(id, t);
    let other = 0n;
    let pnl = 0n;
    for (const [token, balance] of sim.account(id).balances) {
      if (token === f.addr.usdc || balance === 0n) continue;
      const c = sim.collaterals.get(token)!;
      other += mulWadDown(balance * 10n ** (18n - c.decimals), sim.market(c.marketId).price);
    }
    for (const r of m.risks) pnl += r.pnl;
    const mtm = sim.balance(id, f.addr.usdc) * USDC_SCALE + other + pnl;
    return { equity: m.equity, mm: m.mm, im: m.im, mtm, other, risks: m.risks };
  };

  /**
   * LiquidationEngine._open at `t`; undefined when no auction runs and the account is healthy
   * (NotLiquidatable). A running auction whose account is back at or above MM prices from a fresh
   * curve (startTime = curveStart = t, same version and remaining).
   */
  const open = (id: bigint, t: bigint): BidView | undefined => {
    const v = valuation(id, t);
    let auction = liq.auctions.get(id);
    const starting = auction === undefined;
    let refreshed = false;
    let fee = 0n;
    if (auction === undefined) {
      if (v.mm <= v.equity) return undefined;
      const params = { ...liq.params };
      auction = {
        startTime: t,
        curveStart: t - healthOffset(params, v.equity, v.mm),
        version: liq.version,
        remaining: WAD,
        params,
      };
      fee = feeOf(params, v.mm, v.mtm);
    } else if (v.equity >= v.mm) {
      auction = { ...auction, startTime: t, curveStart: t };
      refreshed = true;
    }
    const p = auction.params;
    const equity = v.equity - fee * USDC_SCALE;
    const mtm = v.mtm - fee * USDC_SCALE;
    return {
      ...v,
      equity,
      mtm,
      equity0: v.equity,
      mtm0: v.mtm,
      starting,
      refreshed,
      auction,
      fee,
      buffer: mulWadUp(v.mm, WAD + p.buffer),
      discount: mtm > 0n ? discountAt(p, auction.curveStart, t) : 0n,
      payout: mtm > 0n ? 0n : payoutAt(p, auction, t, -mtm, grossOf({ other: v.other, mtm, risks: v.risks })),
    };
  };

  /** The used notional of a market in the window of `t` (current parameters). */
  const used = (marketId: number, t: bigint): bigint => {
    const window = t / liq.params.throughputWindow;
    const u = liq.throughput.get(marketId);
    return u !== undefined && u.window === window ? u.used : 0n;
  };

  /** The throughput room of a market at `t` (current parameters). */
  const room = (marketId: number, t: bigint): bigint => {
    const u = used(marketId, t);
    return liq.params.throughputCap > u ? liq.params.throughputCap - u : 0n;
  };

  const windowEnd = (t: bigint) => (t / liq.params.throughputWindow + 1n) * liq.params.throughputWindow;

  /**
   * LiquidationEngine._fits: the first position (accountRisk order) whose market's window already
   * has notional and cannot take the account's full notional; undefined when the start fits (an
   * empty window admits any account).
   */
  const refusal = (
    b: BidView,
    t: bigint,
  ): { marketId: number; notional: bigint; room: bigint; windowEnd: bigint } | undefined => {
    for (const r of b.risks) {
      const u = used(r.marketId, t);
      if (u !== 0n && u + r.notional > liq.params.throughputCap) {
        return { marketId: r.marketId, notional: r.notional, room: room(r.marketId, t), windowEnd: windowEnd(t) };
      }
    }
    return undefined;
  };

  /** LiquidationEngine._admit after the check: every market's window counts the full notional. */
  const admit = (b: BidView, t: bigint) => {
    if (refusal(b, t) !== undefined) throw new Error("the model expects ThroughputCapExceeded");
    const window = t / liq.params.throughputWindow;
    for (const r of b.risks) liq.throughput.set(r.marketId, { window, used: used(r.marketId, t) + r.notional });
  };

  /** LiquidationEngine._maxFraction: zero while the start a bid would make does not fit. */
  const maxFractionOf = (b: BidView, t: bigint): bigint =>
    b.starting && refusal(b, t) !== undefined ? 0n : bufferFractionOf(b.auction.params, b);

  /** One side of a position transfer at the mark: realized PnL minus funding, WAD. */
  const moveAtMark = (id: bigint, marketId: number, delta: bigint, mark: bigint, index: bigint): bigint => {
    const a = sim.account(id);
    const pos = a.positions.get(marketId) ?? { size: 0n, cost: 0n, snapshot: 0n };
    const [realized, newCost] = reprice(pos.size, pos.cost, delta, mark);
    const settled = realized - mulWadUp(pos.size, index - pos.snapshot);
    const newSize = pos.size + delta;
    if (newSize === 0n) a.positions.delete(marketId);
    else a.positions.set(marketId, { size: newSize, cost: newCost, snapshot: index });
    return settled;
  };

  /**
   * Applies a bid to the model (LiquidationEngine.liquidate after its checks and, when it starts
   * the auction, after `admit`). The auction kept is `b.auction` (a refreshed one when the account
   * was back at or above MM), less what the bid took of `remaining`.
   */
  const fill = (id: bigint, bidder: bigint, fraction: bigint, b: BidView, t: bigint): FillResult => {
    const p = b.auction.params;
    const bufferFraction = bufferFractionOf(p, b);
    const price = priceOf(b, fraction);
    // Positions at the mark.
    let fromSum = 0n;
    let toSum = 0n;
    const sizes = new Map<number, { moved: bigint; from: bigint; to: bigint }>();
    for (const [marketId, pos] of [...sim.account(id).positions.entries()]) {
      sim.accrue(marketId, t);
      const m = sim.market(marketId);
      const moved = fraction === WAD ? pos.size : (pos.size * fraction) / WAD; // toward zero
      if (moved === 0n) continue;
      const from = moveAtMark(id, marketId, -moved, m.price, m.index);
      const to = moveAtMark(bidder, marketId, moved, m.price, m.index);
      sizes.set(marketId, { moved, from, to });
      fromSum += from;
      toSum += to;
    }
    const fromRealized = b.risks.length === 0 ? 0n : divDown(fromSum, USDC_SCALE);
    const toRealized = b.risks.length === 0 ? 0n : divDown(toSum, USDC_SCALE);
    const moved =
      fraction === WAD
        ? sim.balance(id, f.addr.usdc) - b.fee + fromRealized
        : divDown(mulWadDown(b.mtm - b.other, fraction), USDC_SCALE);
    let fundPaid = 0n;
    let poolPaid = 0n;
    if (price < 0n) {
      const floor = divUp(liq.params.insuranceFloor, USDC_SCALE);
      const available = liq.fund > floor ? liq.fund - floor : 0n;
      fundPaid = min(-price, available);
      poolPaid = -price - fundPaid;
    }
    sim.credit(id, f.addr.usdc, fromRealized - moved + (price > 0n ? price : 0n) - b.fee);
    sim.credit(bidder, f.addr.usdc, toRealized + moved - price);
    liq.fund += b.fee - fundPaid;
    const seized = new Map<string, bigint>();
    for (const token of [f.addr.weth, f.addr.wbtc]) {
      const balance = sim.balance(id, token);
      const amount = (balance * fraction) / WAD;
      if (amount === 0n) continue;
      seized.set(token, amount);
      sim.credit(id, token, -amount);
      sim.credit(bidder, token, amount);
    }
    const after = valuation(id, t); // the engine's re-check: MarginEngine.valuation
    const restores = fraction === bufferFraction && b.mtm > p.dustThreshold;
    const ended = restores || fraction === WAD || after.equity >= mulWadUp(after.mm, WAD + p.buffer);
    if (ended) liq.auctions.delete(id);
    else
      liq.auctions.set(id, { ...b.auction, remaining: b.auction.remaining - mulWadUp(b.auction.remaining, fraction) });
    return { price, fromRealized, toRealized, moved, fundPaid, poolPaid, seized, ended, sizes };
  };

  /** Runs `fn` against the model and puts the model back as it was (a what-if). */
  const whatIf = <T>(fn: () => T): T => {
    const accounts = structuredClone(sim.accounts);
    const markets = structuredClone(sim.markets);
    const saved = {
      fund: liq.fund,
      throughput: structuredClone(liq.throughput),
      auctions: structuredClone(liq.auctions),
    };
    try {
      return fn();
    } finally {
      sim.accounts.clear();
      for (const [k, v] of accounts) sim.accounts.set(k, v);
      sim.markets.clear();
      for (const [k, v] of markets) sim.markets.set(k, v);
      liq.fund = saved.fund;
      liq.throughput = saved.throughput;
      liq.auctions = saved.auctions;
    }
  };

  const h = {
    now,
    valuation,
    whatIf,
    fill,
    admit,
    open,
    used,
    room,
    windowEnd,
    refusal,
    maxFraction: maxFractionOf,
    bufferFraction: (b: BidView) => bufferFractionOf(b.auction.params, b),
    minFraction: (b: BidView) => minFractionOf(b.auction.params, b, bufferFractionOf(b.auction.params, b)),
    /** Creates an account (Cross: market 0; Isolated: its market) and returns its id. */
    async account(owner: HardhatEthersSigner, mode: number, marketId = 0): Promise<bigint> {
      const id = await f.accounts.nextAccountId();
      await f.accounts.connect(owner).createAccount(mode, marketId);
      sim.addAccount(id, mode);
      owners.set(id, owner);
      return id;
    },
    async deposit(id: bigint, token: string, amount: bigint) {
      await f.accounts.connect(owners.get(id)!).deposit(id, token, amount);
      sim.credit(id, token, amount);
    },
    /** Trades at the widest price limit; checks the PositionModified event against the model. */
    async trade(id: bigint, marketId: number, delta: bigint): Promise<TradeResult> {
      const tx = await f.perps
        .connect(owners.get(id)!)
        .modifyPosition(id, marketId, delta, delta > 0n ? ethers.MaxUint256 : 0n);
      const block = await (await tx.wait())?.getBlock();
      if (block === undefined || block === null) throw new Error("trade block not found");
      const r = sim.trade(id, marketId, delta, BigInt(block.timestamp));
      await expect(tx)
        .to.emit(f.perps, "PositionModified")
        .withArgs(id, marketId, delta, r.fill, r.newSize, r.realized, r.funding, r.fee, r.units);
      liq.fund += r.insurance;
      return r;
    },
    /** Pushes a fresh Chainlink round (8 decimals), at `t` if given. */
    async setPrice(marketId: number, answer: bigint, t?: bigint) {
      if (t !== undefined) await time.setNextBlockTimestamp(t);
      await feeds[marketId].push(answer);
      sim.market(marketId).price = answer * TICK;
    },
    /** Fresh rounds of both feeds at their current prices, the second at `t`. */
    async refresh(t: bigint) {
      for (const [i, marketId] of [ETH, BTC].entries()) {
        await time.setNextBlockTimestamp(t - 1n + BigInt(i));
        await feeds[marketId].push(sim.market(marketId).price / TICK);
      }
    },
    /** A global liquidation parameter change through RiskConfig: a new parameter version. */
    async setLiquidationParam(name: string, value: bigint) {
      const tx = await f.riskConfig.setParameter(paramIndex(name), 0n, value);
      liq.params = { ...liq.params, [LIQ_FIELDS[name]]: value };
      liq.version += 1n;
      liq.versions.set(liq.version, { ...liq.params });
      await expect(tx).to.emit(f.liquidation, "ParametersUpdated").withArgs(liq.version, asTuple(liq.params));
    },
    /** USDC, WETH, WBTC balances and ETH, BTC positions equal the model's. */
    async expectAccount(id: bigint) {
      const balances = await Promise.all(tokens.map((t) => f.accounts.balanceOf(id, t)));
      expect(balances).to.deep.equal(tokens.map((t) => sim.balance(id, t)));
      for (const marketId of [ETH, BTC]) {
        const p = await f.perps.position(id, marketId);
        const e = sim.account(id).positions.get(marketId) ?? { size: 0n, cost: 0n, snapshot: 0n };
        expect([p.size, p.cost, p.fundingSnapshot]).to.deep.equal([e.size, e.cost, e.snapshot]);
      }
    },
    /** auctionOf(id) equals the model's auction (zeros when none runs). */
    async expectAuction(id: bigint) {
      const [a, p, stallsAt] = await f.liquidation.auctionOf(id);
      const m = liq.auctions.get(id);
      if (m === undefined) {
        expect([a.startTime, a.curveStart, a.version, a.remaining, stallsAt]).to.deep.equal([0n, 0n, 0n, 0n, 0n]);
        expect([...p]).to.deep.equal(LIQUIDATION_STRUCT_ORDER.map(() => 0n));
        return;
      }
      const q = m.params;
      const curveEnd = m.curveStart + q.fastDuration + q.slowDuration;
      const rampEnd = m.startTime + q.insolventRamp;
      const expectedStall = (curveEnd > rampEnd ? curveEnd : rampEnd) + q.stallTimeout;
      expect([a.startTime, a.curveStart, a.version, a.remaining, stallsAt]).to.deep.equal([
        m.startTime,
        m.curveStart,
        m.version,
        m.remaining,
        expectedStall,
      ]);
      expect([...p]).to.deep.equal(asTuple(q));
    },
    /**
     * Starts the auction of `id` at `t` (startAuction) and checks the start, the fee and the
     * throughput windows' bookkeeping (the account's full notional counted in each market).
     */
    async start(id: bigint, t: bigint, caller: HardhatEthersSigner = f.carol): Promise<BidView> {
      const b = open(id, t);
      if (b === undefined || !b.starting) throw new Error("the model expects no start");
      const nonce = await f.accounts.nonce(id);
      await time.setNextBlockTimestamp(t);
      const tx = await f.liquidation.connect(caller).startAuction(id);
      admit(b, t);
      await expect(tx).not.to.emit(f.liquidation, "Liquidated");
      await expect(tx)
        .to.emit(f.liquidation, "AuctionStarted")
        .withArgs(id, caller.address, b.equity, b.mm, b.mtm, b.fee, b.auction.curveStart, b.auction.version);
      sim.credit(id, f.addr.usdc, -b.fee);
      liq.fund += b.fee;
      liq.auctions.set(id, b.auction);
      if (b.fee > 0n) {
        await expect(tx).to.emit(f.fund, "Inflow").withArgs(f.addr.accounts, LIQUIDATION_FEE, b.fee, liq.fund);
      } else {
        await expect(tx).not.to.emit(f.fund, "Inflow");
      }
      // The fee is a settlement of the account: its nonce moves with it.
      expect(await f.accounts.nonce(id)).to.equal(nonce + (b.fee > 0n ? 1n : 0n));
      expect(await f.fund.balance()).to.equal(liq.fund);
      await h.expectAccount(id);
      await h.expectAuction(id);
      return b;
    },
    /**
     * A bid of `fraction` at `t` by `signer` for `bidder`, at the price limit `limit` (default:
     * the exact price). Checks every event, both accounts, their nonces, the fund and the auction.
     */
    async bid(
      id: bigint,
      bidder: bigint,
      fraction: bigint,
      t: bigint,
      opts: { signer?: HardhatEthersSigner; limit?: bigint } = {},
    ): Promise<{ b: BidView; r: FillResult; tx: ContractTransactionResponse }> {
      const signer = opts.signer ?? owners.get(bidder)!;
      const b = open(id, t);
      if (b === undefined) throw new Error("the model expects NotLiquidatable");
      if (b.starting && refusal(b, t) !== undefined) throw new Error("the model expects ThroughputCapExceeded");
      const max = bufferFractionOf(b.auction.params, b);
      if (fraction > max) throw new Error("the model expects FractionTooLarge");
      if (fraction < minFractionOf(b.auction.params, b, max)) throw new Error("the model expects BidTooSmall");
      const nonces = [await f.accounts.nonce(id), await f.accounts.nonce(bidder)];
      const fundBefore = liq.fund;
      const price = priceOf(b, fraction);
      await time.setNextBlockTimestamp(t);
      const tx = await f.liquidation.connect(signer).liquidate(id, fraction, opts.limit ?? price, bidder, nonces[0]);
      if (b.starting) admit(b, t);
      const r = fill(id, bidder, fraction, b, t);
      await expect(tx)
        .to.emit(f.liquidation, "Liquidated")
        .withArgs(id, bidder, signer.address, fraction, b.mtm, b.discount, b.payout, r.price, r.fundPaid, r.poolPaid);
      if (b.starting) {
        await expect(tx)
          .to.emit(f.liquidation, "AuctionStarted")
          .withArgs(id, signer.address, b.equity, b.mm, b.mtm, b.fee, b.auction.curveStart, b.auction.version);
      } else {
        await expect(tx).not.to.emit(f.liquidation, "AuctionStarted");
      }
      if (b.refreshed) {
        await expect(tx).to.emit(f.liquidation, "AuctionRestarted").withArgs(id, t, b.auction.version);
      } else {
        await expect(tx).not.to.emit(f.liquidation, "AuctionRestarted");
      }
      if (r.ended) await expect(tx).to.emit(f.liquidation, "AuctionEnded").withArgs(id);
      else await expect(tx).not.to.emit(f.liquidation, "AuctionEnded");
      if (r.fundPaid > 0n) {
        await expect(tx)
          .to.emit(f.fund, "Outflow")
          .withArgs(f.addr.accounts, INSOLVENT_ACCOUNT, r.fundPaid, fundBefore + b.fee - r.fundPaid);
      } else {
        await expect(tx).not.to.emit(f.fund, "Outflow");
      }
      if (r.poolPaid > 0n) await expect(tx).to.emit(f.liquidation, "LossSocialized").withArgs(id, r.poolPaid);
      else await expect(tx).not.to.emit(f.liquidation, "LossSocialized");
      if (b.fee > 0n) {
        await expect(tx)
          .to.emit(f.fund, "Inflow")
          .withArgs(f.addr.accounts, LIQUIDATION_FEE, b.fee, fundBefore + b.fee);
      } else {
        await expect(tx).not.to.emit(f.fund, "Inflow");
      }
      for (const [marketId, x] of r.sizes) {
        await expect(tx)
          .to.emit(f.perps, "PositionLiquidated")
          .withArgs(id, bidder, marketId, x.moved, sim.market(marketId).price, x.from, x.to);
      }
      for (const [token, amount] of r.seized) {
        await expect(tx).to.emit(f.accounts, "CollateralSeized").withArgs(id, bidder, token, amount);
      }
      expect([await f.accounts.nonce(id), await f.accounts.nonce(bidder)]).to.deep.equal([
        nonces[0] + 1n,
        nonces[1] + 1n,
      ]);
      expect(await f.fund.balance()).to.equal(liq.fund);
      await h.expectAccount(id);
      await h.expectAccount(bidder);
      await h.expectAuction(id);
      return { b, r, tx };
    },
    /** The model's margin of `id` now equals the engine's. */
    async expectMargin(id: bigint) {
      const e = valuation(id, await now());
      const m = await f.engine.accountMargin(id);
      expect([m.equity, m.initialMargin, m.maintenanceMargin]).to.deep.equal([e.equity, e.im, e.mm]);
      return e;
    },
  };
  return { ...f, sim, liq, owners, ...h };
}

type Ready = Awaited<ReturnType<typeof ready>>;

/**
 * alice's isolated ETH account (3,000 USDC, long 10 ETH at 3,000) and bob's cross account with
 * 100,000 USDC; then ETH at `answer` (default 2,800: E < MM, solvent).
 */
async function scenario(answer = feed("2800")) {
  const f = await ready();
  const target = await f.account(f.alice, ISOLATED, ETH);
  await f.deposit(target, f.addr.usdc, usdc("3000"));
  await f.trade(target, ETH, wad("10"));
  const bidder = await f.account(f.bob, CROSS);
  await f.deposit(bidder, f.addr.usdc, usdc("100000"));
  await time.increase(60);
  await f.setPrice(ETH, answer);
  return { ...f, target, bidder };
}

/** A timestamp a little after the latest block. */
async function soon(f: Ready, seconds = 10n) {
  return (await f.now()) + seconds;
}

// ---------------------------------------------------------------- tests

describe("LiquidationEngine", () => {
  describe("auction price over time", () => {
    it("prices bids along the curve: fast phase, fast/slow boundary, slow phase, cap", async () => {
      const f = await scenario();
      const { target, bidder } = f;

      // The account by hand: 2981.99991 USDC after the 18.00009 fee, cost 30,000.15 (fill 3000.015).
      const v = await f.expectMargin(target);
      const s = shockRatio(f.sim.market(ETH).params, wad("10"), f.sigma.eth);
      const mm = mulWadUp(wad("28000"), s);
      const equity = wad("2981.99991") + wad("28000") - wad("30000.15");
      expect(equity).to.equal(wad("981.84991"));
      expect([v.equity, v.mm, v.mtm]).to.deep.equal([equity, mm, equity]);
      expect(equity < mm).to.be.true;
      const offset = (60n * (mm - equity)) / mm;
      const fee = divUp(mulWadUp(mm, wad("0.02")), USDC_SCALE);
      if (f.sigma.eth === wad("0.6")) {
        expect(mm).to.equal(wad("1076.982084790134376"));
        expect(offset).to.equal(5n);
        expect(fee).to.equal(21_539_642n);
      }

      const t0 = await soon(f);
      const started = await f.start(target, t0);
      expect(started.auction.curveStart).to.equal(t0 - offset);
      expect(started.fee).to.equal(fee);
      const curveStart = t0 - offset;

      // 1% bids: at tau = 30 (fast), 60 (boundary), 60 + 1800 (slow), 3660 + 100 (cap).
      const fraction = wad("0.01");
      let size = wad("10");
      const points: [bigint, bigint][] = [
        [30n, wad("0.03")],
        [60n, wad("0.05")],
        [1860n, wad("0.1")],
        [3760n, wad("0.15")],
      ];
      for (const [tau, discount] of points) {
        const t = curveStart + tau;
        if (tau > 1000n) await f.refresh(t - 5n);
        const before = [f.sim.balance(target, f.addr.usdc), f.sim.balance(bidder, f.addr.usdc)];
        const { b, r } = await f.bid(target, bidder, fraction, t);
        expect(b.discount).to.equal(discount);
        expect(b.starting).to.be.false;
        // The bidder pays ceil(MtM x 1% x (1 - d)) and takes 1% of the position and the USDC.
        const price = divUp(mulWadUp(mulWadUp(b.mtm, fraction), WAD - discount), USDC_SCALE);
        expect(r.price).to.equal(price);
        expect(r.sizes.get(ETH)?.moved).to.equal(size / 100n);
        size -= size / 100n;
        expect(r.ended).to.be.false;
        const moved = divDown(mulWadDown(b.mtm, fraction), USDC_SCALE);
        expect(f.sim.balance(bidder, f.addr.usdc) - before[1]).to.equal(moved - price); // realized 0
        expect(f.sim.balance(target, f.addr.usdc) - before[0]).to.equal(r.fromRealized - moved + price);
      }
    });
  });

  describe("health offset", () => {
    it("starts a deeper account further along the fast phase; E <= 0 starts at the fast discount", async () => {
      const offsets: bigint[] = [];
      for (const answer of [feed("2800"), feed("2750")]) {
        const f = await scenario(answer);
        const t = await soon(f);
        const b = f.open(f.target, t)!;
        const offset = (60n * (b.mm - b.equity0)) / b.mm;
        expect(b.auction.curveStart).to.equal(t - offset);
        // liquidate() starts the auction and fills in one transaction, at tau = offset.
        const { b: bid } = await f.bid(f.target, f.bidder, wad("0.02"), t);
        expect(bid.starting).to.be.true;
        expect(bid.discount).to.equal(wad("0.01") + (wad("0.04") * offset) / 60n);
        offsets.push(offset);
      }
      expect(offsets[1] > offsets[0]).to.be.true;
      if (offsets[0] === 5n) expect(offsets[1]).to.equal(32n); // sigma 0.6: 60 x 575.9 / 1057.8

      // A cross account whose weighted equity is negative while its MtM is positive: 1 WETH
      // (weight 0.85) backs a 0.5 BTC long that lost 2,750.
      const f = await ready();
      const id = await f.account(f.dave, CROSS);
      await f.deposit(id, f.addr.weth, wad("1"));
      await f.trade(id, BTC, wad("0.5"));
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      await time.increase(60);
      await f.setPrice(BTC, feed("54500"));
      await f.setPrice(ETH, ETH_PRICE);
      const t = await soon(f);
      const b = f.open(id, t)!;
      expect(b.equity0 <= 0n && b.mtm > wad("100")).to.be.true;
      expect(b.auction.curveStart).to.equal(t - 60n);
      const { b: bid, r } = await f.bid(id, bidder, wad("0.1"), t);
      expect(bid.discount).to.equal(wad("0.05")); // tau = 60: the end of the fast phase
      expect(r.seized.get(f.addr.weth)).to.equal(wad("0.1"));
    });
  });

  describe("max fraction per bid", () => {
    it("FractionTooLarge(max + 1, max); exactly max restores the buffer margin and ends the auction", async () => {
      const f = await scenario();
      const { target, bidder } = f;
      const t0 = await soon(f);
      // A smaller bid keeps the auction running.
      const first = await f.bid(target, bidder, wad("0.05"), t0);
      expect(first.r.ended).to.be.false;
      expect(f.bufferFraction(first.b) > wad("0.05")).to.be.true;

      const t1 = t0 + 20n;
      const b1 = f.open(target, t1)!;
      const max1 = f.bufferFraction(b1);
      expect(max1 > 0n && max1 < WAD).to.be.true;
      await time.setNextBlockTimestamp(t1);
      await expect(
        f.liquidation
          .connect(f.bob)
          .liquidate(target, max1 + 1n, ethers.MaxInt256, bidder, await f.accounts.nonce(target), MINED),
      )
        .to.be.revertedWithCustomError(f.liquidation, "FractionTooLarge")
        .withArgs(max1 + 1n, max1);

      const t2 = t1 + 1n;
      const max2 = f.bufferFraction(f.open(target, t2)!);
      const { r } = await f.bid(target, bidder, max2, t2);
      expect(r.ended).to.be.true; // AuctionEnded emitted, auctionOf zeros (checked by bid)
      const after = await f.expectMargin(target);
      expect(after.equity >= mulWadUp(after.mm, wad("1.1"))).to.be.true;
      expect(await f.liquidation.isLiquidatable(target)).to.be.false;
      // Nothing left to start: the account is healthy.
      await expect(f.liquidation.startAuction(target))
        .to.be.revertedWithCustomError(f.liquidation, "NotLiquidatable")
        .withArgs(target, after.equity, after.mm);
    });

    it("a smaller bid that still leaves E >= BM (re-checked after the fill) ends the auction too", async () => {
      const f = await scenario();
      const t = await soon(f);
      const max = f.bufferFraction(f.open(f.target, t)!);
      // The buffer fraction is an upper bound (two units of slack for rounding): a bid a little
      // smaller restores the buffer margin as well, and the engine sees it in its re-check.
      const fraction = max - 1_000_000n;
      const after = f.whatIf(() => {
        f.fill(f.target, f.bidder, fraction, f.open(f.target, t)!, t);
        return f.valuation(f.target, t);
      });
      expect(after.equity >= mulWadUp(after.mm, wad("1.1"))).to.be.true;
      const { r } = await f.bid(f.target, f.bidder, fraction, t);
      expect(r.ended).to.be.true;
      const m = await f.expectMargin(f.target);
      expect(m.equity >= mulWadUp(m.mm, wad("1.1"))).to.be.true;
      // A bid far below the buffer fraction keeps an auction running (another account).
      const g = await scenario();
      const { r: small } = await g.bid(g.target, g.bidder, wad("0.1"), await soon(g));
      expect(small.ended).to.be.false;
      const running = await g.expectMargin(g.target);
      expect(running.equity < mulWadUp(running.mm, wad("1.1"))).to.be.true;
    });

    it("dust: with MtM <= DUST_THRESHOLD one bid may take everything; InvalidFraction for 0 and 1e18 + 1", async () => {
      const f = await ready();
      const id = await f.account(f.dave, ISOLATED, ETH);
      await f.deposit(id, f.addr.usdc, usdc("300"));
      await f.trade(id, ETH, wad("1"));
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      await time.increase(60);
      await f.setPrice(ETH, feed("2750"));
      const v = await f.expectMargin(id);
      // 298.199999 USDC + 2,750 - 3,000.0015 = 48.198499 of MtM: below the 100 USD threshold.
      expect(v.mtm).to.equal(wad("48.198499"));
      expect(v.equity < v.mm).to.be.true;
      expect(await f.liquidation.maxFraction(id)).to.equal(WAD);
      const nonce = await f.accounts.nonce(id);
      for (const fraction of [0n, WAD + 1n]) {
        await expect(f.liquidation.connect(f.bob).liquidate(id, fraction, ethers.MaxInt256, bidder, nonce))
          .to.be.revertedWithCustomError(f.liquidation, "InvalidFraction")
          .withArgs(fraction);
      }
      const t = await soon(f);
      const { b, r } = await f.bid(id, bidder, WAD, t);
      expect(b.mtm <= wad("100")).to.be.true;
      expect(r.ended).to.be.true;
      // Everything moved; the trader keeps the price paid for it.
      expect(f.sim.account(id).positions.size).to.equal(0);
      expect(await f.accounts.balanceOf(id, f.addr.usdc)).to.equal(r.price);
      expect(r.price).to.equal(divUp(mulWadUp(b.mtm, WAD - b.discount), USDC_SCALE));
    });
  });

  describe("max fraction per bid: regression", () => {
    it("a max bid of a large fraction (> 0.8) leaves E' >= BM' and ends the auction (the buffer fraction widens only its numerator)", async () => {
      // Two isolated ETH longs with 1,000 USDC each at high leverage; ETH falls 5.41%; the max bid
      // on the more leveraged one. The previous formula, which widened the denominator by the same
      // two units, ended that auction with E' below BM'.
      const f = await ready();
      const x = await f.account(f.alice, ISOLATED, ETH);
      const y = await f.account(f.carol, ISOLATED, ETH);
      for (const [id, size] of [
        [x, wad("5.25")],
        [y, wad("5.343")],
      ] as const) {
        await f.deposit(id, f.addr.usdc, usdc("1000"));
        await f.trade(id, ETH, size);
      }
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      const vx = await f.expectMargin(x);
      const vy = await f.expectMargin(y);
      expect(vy.im * vx.equity > vx.im * vy.equity).to.be.true; // y is the more leveraged
      expect((vy.im * 100n) / vy.equity).to.equal(93n); // IM about 0.93 of equity
      await time.increase(60);
      await f.setPrice(ETH, feed("2837.7")); // -5.41%

      const t = await soon(f);
      const b = f.open(y, t)!;
      expect(b.starting && b.equity < b.mm && b.mtm > wad("100")).to.be.true;
      const gap = b.buffer - b.equity;
      const paid = mulWadDown(b.mtm, WAD - b.discount);
      const max = divUp((gap + 2n * USDC_SCALE) * WAD, gap + paid);
      expect(f.bufferFraction(b)).to.equal(max);
      expect(max > wad("0.8") && max < wad("0.85")).to.be.true;
      // What the previous formula's max would have left (the model's what-if): E' < BM'.
      const old = divUp((gap + 2n * USDC_SCALE) * WAD, gap + 2n * USDC_SCALE + paid);
      expect(old < max).to.be.true;
      const shortfall = f.whatIf(() => {
        f.admit(b, t);
        f.fill(y, bidder, old, b, t);
        const v = f.valuation(y, t);
        return v.equity - mulWadUp(v.mm, wad("1.1"));
      });
      expect(shortfall < 0n).to.be.true;
      if (f.sigma.eth === wad("0.6")) expect(shortfall).to.equal(-85_658_535_169n); // 8.6e10 wei short

      const { r } = await f.bid(y, bidder, max, t);
      expect(r.ended).to.be.true; // AuctionEnded, auctionOf zeros (checked by bid)
      const m = await f.engine.accountMargin(y);
      expect(m.equity >= mulWadUp(m.maintenanceMargin, wad("1.1"))).to.be.true;
      await f.expectMargin(y);
      expect(await f.liquidation.isLiquidatable(y)).to.be.false;
    });
  });

  describe("min fraction per bid", () => {
    it("BidTooSmall(fraction, min): min = DUST_THRESHOLD / gross value, rounded up; exactly the minimum is a bid", async () => {
      const f = await scenario();
      const { target, bidder } = f;
      const t0 = await soon(f);
      const b0 = f.open(target, t0)!;
      // By hand: gross = 28,000 of notional + the MtM after the fee (no other collateral).
      const mtm = wad("981.84991") - b0.fee * USDC_SCALE;
      expect(b0.mtm).to.equal(mtm);
      const minimum = divUp(wad("100") * WAD, wad("28000") + mtm);
      expect(f.minFraction(b0)).to.equal(minimum);
      expect(f.bufferFraction(b0) > minimum).to.be.true;
      if (f.sigma.eth === wad("0.6")) expect(minimum).to.equal(3_453_001_679_698_717n); // 100 / 28,960.310268

      // A bid of a few wei in the call that would start the auction: refused, nothing happens.
      await time.setNextBlockTimestamp(t0);
      await expect(f.liquidation.connect(f.bob).liquidate(target, 5n, ethers.MaxInt256, bidder, 1n, MINED))
        .to.be.revertedWithCustomError(f.liquidation, "BidTooSmall")
        .withArgs(5n, minimum);
      expect(await f.accounts.nonce(target)).to.equal(1n);
      await f.expectAuction(target);

      // Started (the fee is out of the balance now: the same MtM), one wei below the minimum.
      await f.start(target, t0 + 1n);
      const nonce = await f.accounts.nonce(target);
      await time.setNextBlockTimestamp(t0 + 2n);
      await expect(f.liquidation.connect(f.bob).liquidate(target, minimum - 1n, ethers.MaxInt256, bidder, nonce, MINED))
        .to.be.revertedWithCustomError(f.liquidation, "BidTooSmall")
        .withArgs(minimum - 1n, minimum);
      const { b, r } = await f.bid(target, bidder, minimum, t0 + 3n);
      expect([b.mtm, f.minFraction(b)]).to.deep.equal([mtm, minimum]);
      expect(r.sizes.get(ETH)?.moved).to.equal((wad("10") * minimum) / WAD);
    });

    it("a bid of the max is allowed when the max is below the dust-based minimum (min = max)", async () => {
      const f = await scenario();
      const { target, bidder } = f;
      const t0 = await soon(f);
      await f.start(target, t0);
      // ETH back at 2,823.3: MM <= E < BM, about 1.23 USD short of BM, so the buffer fraction is
      // about 0.1%, below DUST_THRESHOLD / gross (about 0.34%).
      const t1 = t0 + 100n;
      await f.setPrice(ETH, feed("2823.3"), t1 - 5n);
      const b = f.open(target, t1)!;
      expect(b.refreshed && b.equity >= b.mm && b.equity < b.buffer).to.be.true;
      expect(b.discount).to.equal(wad("0.01"));
      const max = divUp(
        (b.buffer - b.equity + 2n * USDC_SCALE) * WAD,
        b.buffer - b.equity + mulWadDown(b.mtm, wad("0.99")),
      );
      expect(f.bufferFraction(b)).to.equal(max);
      const dustMinimum = divUp(wad("100") * WAD, wad("28233") + b.mtm); // notional 10 x 2,823.3
      expect(max < dustMinimum).to.be.true;
      expect(f.minFraction(b)).to.equal(max);

      const nonce = await f.accounts.nonce(target);
      for (const [i, [fraction, error, expected]] of (
        [
          [max - 1n, "BidTooSmall", max],
          [max + 1n, "FractionTooLarge", max],
        ] as const
      ).entries()) {
        await time.setNextBlockTimestamp(t1 + BigInt(i));
        await expect(f.liquidation.connect(f.bob).liquidate(target, fraction, ethers.MaxInt256, bidder, nonce, MINED))
          .to.be.revertedWithCustomError(f.liquidation, error)
          .withArgs(fraction, expected);
      }
      // Exactly the max: a refreshed bid (AuctionRestarted) that restores BM and ends the auction.
      const { b: bid, r } = await f.bid(target, bidder, max, t1 + 2n);
      expect(bid.refreshed).to.be.true;
      expect(r.ended).to.be.true;
      const m = await f.engine.accountMargin(target);
      expect(m.equity >= mulWadUp(m.maintenanceMargin, wad("1.1"))).to.be.true;
    });
  });

  describe("recovered accounts", () => {
    it("a bid on an account back at or above MM prices from a fresh curve (AuctionRestarted); a later fall continues from it", async () => {
      const f = await scenario();
      const { target, bidder } = f;
      const t0 = await soon(f);
      const first = await f.bid(target, bidder, wad("0.1"), t0); // starts at the dip
      expect(first.b.starting && !first.r.ended).to.be.true;
      const old = f.liq.auctions.get(target)!;
      expect(old.remaining).to.equal(wad("0.9"));

      // 30 minutes on, ETH at 2,806: MM <= E < BM. The old curve has grown to about 10%.
      const t1 = t0 + 1800n;
      await f.setPrice(ETH, feed("2806"), t1 - 5n);
      const v = f.valuation(target, t1);
      expect(v.equity >= v.mm && v.equity < mulWadUp(v.mm, wad("1.1"))).to.be.true;
      const grown = wad("0.05") + (wad("0.1") * (t1 - old.curveStart - 60n)) / 3600n;
      expect(grown > wad("0.09")).to.be.true;
      // A view prices from the fresh curve too (time-independent here: tau is always 0).
      const q = await f.liquidation.quote(target, wad("0.01"));
      expect([q.auctionRunning, q.discount, q.fee]).to.deep.equal([true, wad("0.01"), 0n]);
      const [before] = await f.liquidation.auctionOf(target); // views store nothing
      expect([before.startTime, before.curveStart]).to.deep.equal([old.startTime, old.curveStart]);

      const { b, tx } = await f.bid(target, bidder, wad("0.01"), t1);
      expect(b.refreshed).to.be.true;
      expect(b.discount).to.equal(wad("0.01")); // the start discount, not the grown one
      await expect(tx).to.emit(f.liquidation, "AuctionRestarted").withArgs(target, t1, 1n);
      // Stored: startTime = curveStart = t1, the same version, remaining 0.9 less 1% of it.
      const [a] = await f.liquidation.auctionOf(target);
      expect([a.startTime, a.curveStart, a.version, a.remaining]).to.deep.equal([t1, t1, 1n, wad("0.891")]);

      // Ten minutes later ETH falls below MM again: the discount runs from the new curveStart.
      const t2 = t1 + 600n;
      await f.setPrice(ETH, feed("2790"), t2 - 5n);
      const { b: later } = await f.bid(target, bidder, wad("0.01"), t2);
      expect(later.refreshed || later.equity >= later.mm).to.be.false;
      expect(later.discount).to.equal(wad("0.065")); // 0.05 + 0.10 x (600 - 60) / 3600
      const [c] = await f.liquidation.auctionOf(target);
      expect([c.startTime, c.curveStart, c.remaining]).to.deep.equal([t1, t1, wad("0.891") - wad("0.00891")]);
    });

    it("dust back at or above BM: maxFraction 0 and FractionTooLarge(f, 0) although MtM <= DUST_THRESHOLD", async () => {
      const f = await ready();
      const id = await f.account(f.dave, ISOLATED, ETH);
      await f.deposit(id, f.addr.usdc, usdc("150"));
      await f.trade(id, ETH, wad("0.5"));
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      await time.increase(60);
      await f.setPrice(ETH, feed("2800"));
      const dip = await f.expectMargin(id);
      expect(dip.mtm < wad("100") && dip.equity < dip.mm).to.be.true;
      expect(await f.liquidation.maxFraction(id)).to.equal(WAD); // dust below BM: everything
      const t0 = await soon(f);
      await f.start(id, t0);

      // ETH at 2,900: E = MtM = 98.02 (after the fee) <= 100, above BM = 61.35.
      await f.setPrice(ETH, feed("2900"), t0 + 100n);
      const v = await f.expectMargin(id);
      expect(v.mtm <= wad("100") && v.equity >= mulWadUp(v.mm, wad("1.1"))).to.be.true;
      if (f.sigma.eth === wad("0.6")) {
        expect([v.equity, mulWadUp(v.mm, wad("1.1"))]).to.deep.equal([wad("98.022641"), wad("61.34951518715229749")]);
      }
      expect(await f.liquidation.maxFraction(id)).to.equal(0n);
      const q = await f.liquidation.quote(id, WAD);
      expect([q.auctionRunning, q.maxFraction]).to.deep.equal([true, 0n]);
      const nonce = await f.accounts.nonce(id);
      for (const [i, fraction] of [WAD, wad("0.5")].entries()) {
        await time.setNextBlockTimestamp(t0 + 110n + BigInt(i));
        await expect(f.liquidation.connect(f.bob).liquidate(id, fraction, ethers.MaxInt256, bidder, nonce, MINED))
          .to.be.revertedWithCustomError(f.liquidation, "FractionTooLarge")
          .withArgs(fraction, 0n);
      }
      await f.expectAuction(id); // nothing stored by the refused bids
      await expect(f.liquidation.terminateAuction(id)).to.emit(f.liquidation, "AuctionEnded").withArgs(id);
    });
  });

  describe("insolvent accounts", () => {
    // 10 ETH long from 3000.015 with 2981.99991 USDC, at 2600: MtM = -1018.15009, gross value
    // 26,000 + 1018.15009, incentive min(10,000 cap, 15% x 27,018.15009) = 4,052.7225135, deficit +
    // incentive = 5,070.8726035 USD.
    const full = wad("5070.8726035");

    it("pays nothing at the start: price 0, the bidder takes the loss (a 10% bid in the starting call)", async () => {
      const f = await scenario(feed("2600"));
      const t = await soon(f);
      const { b, r } = await f.bid(f.target, f.bidder, wad("0.1"), t);
      expect(b.mtm).to.equal(-wad("1018.15009"));
      expect([b.fee, b.payout, r.price, r.fundPaid, r.poolPaid]).to.deep.equal([0n, 0n, 0n, 0n, 0n]);
      expect(r.moved).to.equal(-101_815_009n);
      expect(await f.accounts.balanceOf(f.bidder, f.addr.usdc)).to.equal(usdc("99898.184991"));
    });

    it("ramps the payout to half at INSOLVENT_RAMP / 2 (fund Outflow INSOLVENT_ACCOUNT)", async () => {
      const f = await scenario(feed("2600"));
      const t0 = await soon(f);
      const started = await f.start(f.target, t0);
      expect(started.fee).to.equal(0n); // never charged to an insolvent account
      const fundBefore = await f.fund.balance();
      const { b, r } = await f.bid(f.target, f.bidder, wad("0.25"), t0 + 900n);
      expect(b.payout).to.equal(full / 2n);
      expect(r.price).to.equal(-633_859_075n); // floor(2535.43630175 x 0.25) in units
      expect(r.fundPaid).to.equal(633_859_075n);
      expect(await f.fund.balance()).to.equal(fundBefore - 633_859_075n);
      expect(r.moved).to.equal(-254_537_523n); // -254.5375225, toward -infinity
      expect(await f.accounts.balanceOf(f.bidder, f.addr.usdc)).to.equal(usdc("100000") - 254_537_523n + 633_859_075n);
    });

    it("pays deficit + incentive from INSOLVENT_RAMP on, and a bid of everything empties the account", async () => {
      const f = await scenario(feed("2600"));
      const t0 = await soon(f);
      await f.start(f.target, t0);
      const fundBefore = await f.fund.balance();
      const { b, r } = await f.bid(f.target, f.bidder, WAD, t0 + 1800n);
      expect(b.payout).to.equal(full);
      expect([r.price, r.fundPaid, r.poolPaid]).to.deep.equal([-5_070_872_603n, 5_070_872_603n, 0n]);
      expect(await f.fund.balance()).to.equal(fundBefore - 5_070_872_603n);
      expect(r.ended).to.be.true;
      // The bidder: the account's -1018.15009 of value and 5070.872603 paid: the incentive, to the unit.
      expect(await f.accounts.balanceOf(f.bidder, f.addr.usdc)).to.equal(usdc("104052.722513"));
      expect(await f.perps.accountMarkets(f.target)).to.deep.equal([]);
      expect(await f.accounts.balanceOf(f.target, f.addr.usdc)).to.equal(0n);
      const m = await f.engine.accountMargin(f.target);
      expect([m.equity, m.initialMargin, m.maintenanceMargin]).to.deep.equal([0n, 0n, 0n]);
    });

    it("split bids never earn the incentive twice: it is paid on the part no bid has taken yet (regression)", async () => {
      const f = await scenario(feed("2600"));
      const t0 = await soon(f);
      await f.start(f.target, t0);
      const fundBefore = await f.fund.balance();
      const bidderBefore = await f.accounts.balanceOf(f.bidder, f.addr.usdc);
      // Six bids of half of what is left, after the ramp, then everything: the fund pays the
      // deficit once and the incentive once, less the rounding of each bid, never 6 x half of it.
      let paid = 0n;
      for (let i = 0n; i < 6n; i++) {
        const { r } = await f.bid(f.target, f.bidder, wad("0.5"), t0 + 1800n + i * 10n);
        expect(r.ended).to.be.false;
        paid += r.fundPaid;
      }
      expect(f.liq.auctions.get(f.target)!.remaining).to.equal(WAD / 64n);
      const { r } = await f.bid(f.target, f.bidder, WAD, t0 + 1900n);
      paid += r.fundPaid;
      expect(fundBefore - (await f.fund.balance())).to.equal(paid);
      expect(paid <= 5_070_872_603n).to.be.true;
      expect(5_070_872_603n - paid < 10n).to.be.true; // at most a unit of rounding per bid
      // The bidder gains at most the incentive: the account's -1018.15009 taken, the payments received.
      const gained = (await f.accounts.balanceOf(f.bidder, f.addr.usdc)) - bidderBefore;
      expect(gained <= 4_052_722_513n).to.be.true;
      expect(4_052_722_513n - gained < 10n).to.be.true;
    });

    it("beyond the fund: the fund pays down to its floor, the pool the rest (LossSocialized, totalAssets)", async () => {
      const f = await scenario(feed("2600"));
      // The fund just above its 1,000 USD floor: 3,500 USDC.
      await f.fund.grantRole(DRAWER_ROLE, f.admin.address);
      await f.fund.draw(f.admin.address, f.liq.fund - usdc("3500"), ethers.encodeBytes32String("TEST"));
      f.liq.fund = usdc("3500");
      const t0 = await soon(f);
      await f.start(f.target, t0); // fee 0: the fee comes after equity, never before the fund
      const assetsBefore = await f.pool.totalAssets();
      const { r } = await f.bid(f.target, f.bidder, WAD, t0 + 1800n);
      expect(r.price).to.equal(-5_070_872_603n);
      expect(r.fundPaid).to.equal(usdc("2500"));
      expect(r.poolPaid).to.equal(2_570_872_603n);
      expect(await f.fund.balance()).to.equal(usdc("1000"));
      const assetsAfter = await f.pool.totalAssets();
      expect(assetsBefore - assetsAfter).to.equal(2_570_872_603n);
      // The LP share price (ERC-4626 with 10^6 virtual shares and one virtual asset unit): one
      // whole kLP share (1e12 units) is worth exactly what the smaller total assets give it.
      const supply = await f.pool.totalSupply();
      const share = 10n ** 12n;
      const priceOf = (assets: bigint) => (share * (assets + 1n)) / (supply + 10n ** 6n);
      expect(await f.pool.convertToAssets(share)).to.equal(priceOf(assetsAfter));
      // 2,570.872603 USDC over about 10 million shares: 0.000257 USDC per share.
      expect(priceOf(assetsBefore) - priceOf(assetsAfter)).to.equal(257n);
      // Equity first: the account is empty.
      expect(await f.accounts.balanceOf(f.target, f.addr.usdc)).to.equal(0n);
      expect(await f.perps.accountMarkets(f.target)).to.deep.equal([]);
      expect(await f.accounts.balanceOf(f.bidder, f.addr.usdc)).to.equal(usdc("104052.722513"));
    });
  });

  describe("liquidation fee", () => {
    it("charges ceil(MM x 2%) to the fund, caps it at positive MtM, never charges an insolvent account", async () => {
      const f = await ready();
      const capped = await f.account(f.alice, ISOLATED, ETH);
      const insolvent = await f.account(f.carol, ISOLATED, ETH);
      const normal = await f.account(f.dave, ISOLATED, ETH);
      for (const [id, amount] of [
        [capped, usdc("3000")],
        [insolvent, usdc("2900")],
        [normal, usdc("4000")],
      ] as const) {
        await f.deposit(id, f.addr.usdc, amount);
        await f.trade(id, ETH, wad("10"));
      }
      await time.increase(60);
      // capped: 2981.99991 + 27,023.1500905 - 30,000.15 = 5.0000005 USD of MtM.
      await f.setPrice(ETH, feed("2702.31500905"));
      const accountsUsdc = await f.usdc.balanceOf(f.addr.accounts);

      const t = await soon(f);
      const c = await f.start(capped, t);
      expect(c.mtm0).to.equal(wad("5.0000005"));
      expect(divUp(mulWadUp(c.mm, wad("0.02")), USDC_SCALE) > 5_000_000n).to.be.true;
      expect(c.fee).to.equal(5_000_000n); // floor(MtM) in units
      expect([c.equity, c.mtm]).to.deep.equal([500_000_000_000n, 500_000_000_000n]);
      expect(await f.accounts.balanceOf(capped, f.addr.usdc)).to.equal(usdc("2976.99991"));

      const i = await f.start(insolvent, t + 1n);
      expect(i.mtm < 0n && i.fee === 0n).to.be.true;

      const n = await f.start(normal, t + 2n);
      expect(n.mtm > 0n).to.be.true;
      expect(n.fee).to.equal(divUp(mulWadUp(n.mm, wad("0.02")), USDC_SCALE));
      // The fees left MarginAccounts for the fund.
      expect(await f.usdc.balanceOf(f.addr.accounts)).to.equal(accountsUsdc - c.fee - n.fee);
    });
  });

  describe("throughput cap", () => {
    it("counts an account's full notional when its auction starts; ThroughputCapExceeded(market, notional, room, windowEnd) refuses starts only", async () => {
      const f = await ready();
      const a = await f.account(f.alice, ISOLATED, ETH);
      const b = await f.account(f.carol, ISOLATED, ETH);
      const c = await f.account(f.dave, ISOLATED, ETH);
      for (const [id, amount, size] of [
        [a, usdc("3000"), wad("10")],
        [b, usdc("3000"), wad("10")],
        [c, usdc("2700"), wad("9")],
      ] as const) {
        await f.deposit(id, f.addr.usdc, amount);
        await f.trade(id, ETH, size);
      }
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      // A cap below one account's notional (28,000 at 2,800).
      await f.setLiquidationParam("THROUGHPUT_CAP", wad("20000"));
      const window = f.liq.params.throughputWindow;
      const t1 = ((await f.now()) / window + 1n) * window + 100n;
      await f.setPrice(ETH, feed("2800"), t1 - 10n);
      const end1 = t1 - 100n + window;
      expect(f.windowEnd(t1)).to.equal(end1);
      for (const id of [a, b, c]) expect(f.open(id, t1)!.starting).to.be.true; // all three below MM

      // An empty window admits an account larger than the cap: a's 28,000 is counted in full at
      // the start (not the 5% bid's 1,400).
      const first = await f.bid(a, bidder, wad("0.05"), t1);
      expect(first.b.starting).to.be.true;
      expect(f.used(ETH, t1)).to.equal(wad("28000"));

      // The window is now over the cap: b's start is refused, whether by a bid or startAuction,
      // with its full notional and no room; nothing happens to b.
      const refused = f.refusal(f.open(b, t1 + 1n)!, t1 + 1n);
      expect(refused).to.deep.equal({ marketId: ETH, notional: wad("28000"), room: 0n, windowEnd: end1 });
      await time.setNextBlockTimestamp(t1 + 1n);
      await expect(f.liquidation.connect(f.bob).liquidate(b, wad("0.05"), ethers.MaxInt256, bidder, 1n, MINED))
        .to.be.revertedWithCustomError(f.liquidation, "ThroughputCapExceeded")
        .withArgs(ETH, wad("28000"), 0n, end1);
      await time.setNextBlockTimestamp(t1 + 2n);
      await expect(f.liquidation.startAuction(b, MINED))
        .to.be.revertedWithCustomError(f.liquidation, "ThroughputCapExceeded")
        .withArgs(ETH, wad("28000"), 0n, end1);
      expect(await f.accounts.nonce(b)).to.equal(1n);
      await f.expectAuction(b);
      // maxFraction is zero for an account whose start would be refused.
      expect(f.maxFraction(f.open(b, t1 + 3n)!, t1 + 3n)).to.equal(0n);
      expect(await f.liquidation.maxFraction(b)).to.equal(0n);
      expect((await f.liquidation.quote(b, wad("0.01"))).maxFraction).to.equal(0n);

      // Once started, a's bids are never limited by the cap: the largest one allowed (its buffer
      // fraction, about 15% here: some 4,000 of notional in a window with no room left) goes through.
      const t = t1 + 10n;
      const max = f.bufferFraction(f.open(a, t)!);
      expect(max > wad("0.1") && max < wad("0.2")).to.be.true;
      const last = await f.bid(a, bidder, max, t);
      expect(last.r.ended).to.be.true;
      expect(f.used(ETH, t)).to.equal(wad("28000")); // bids count nothing

      // The next window admits again (b's 28,000 alone, above the cap).
      const t2 = end1 + 10n;
      await f.refresh(t2 - 5n);
      expect(f.used(ETH, t2)).to.equal(0n);
      await f.start(b, t2);
      expect(f.used(ETH, t2)).to.equal(wad("28000"));
      // A running auction is never refused: its max is the buffer fraction even in a full window.
      expect((await f.liquidation.maxFraction(b)) > 0n).to.be.true;

      // The current cap applies: at 50,000, c's 25,200 (9 ETH at 2,800) does not fit beside
      // b's 28,000 (room 22,000); at exactly 53,200 it does.
      await f.setLiquidationParam("THROUGHPUT_CAP", wad("50000"));
      const end2 = end1 + window;
      await time.setNextBlockTimestamp(t2 + 10n);
      await expect(f.liquidation.startAuction(c, MINED))
        .to.be.revertedWithCustomError(f.liquidation, "ThroughputCapExceeded")
        .withArgs(ETH, wad("25200"), wad("22000"), end2);
      expect(await f.liquidation.maxFraction(c)).to.equal(0n);
      await f.setLiquidationParam("THROUGHPUT_CAP", wad("53200"));
      await f.start(c, t2 + 20n);
      expect(f.used(ETH, t2 + 20n)).to.equal(wad("53200"));
    });
  });

  describe("front-running guard", () => {
    it("NonceMismatch(id, expected, actual): nonces move with every trade and every bid, on both sides", async () => {
      const f = await scenario();
      const { target, bidder } = f;
      expect([await f.accounts.nonce(target), await f.accounts.nonce(bidder)]).to.deep.equal([1n, 0n]);
      const seen = await f.accounts.nonce(target);

      // The trader adds collateral (no nonce change) and closes 1 ETH (a trade: +1).
      await f.deposit(target, f.addr.usdc, usdc("600"));
      expect(await f.accounts.nonce(target)).to.equal(1n);
      await f.trade(target, ETH, -wad("1"));
      expect(await f.accounts.nonce(target)).to.equal(2n);
      await expect(f.liquidation.connect(f.bob).liquidate(target, wad("0.01"), ethers.MaxInt256, bidder, seen))
        .to.be.revertedWithCustomError(f.liquidation, "NonceMismatch")
        .withArgs(target, 1n, 2n);

      await f.setPrice(ETH, feed("2700"));
      await f.bid(target, bidder, wad("0.02"), await soon(f));
      expect([await f.accounts.nonce(target), await f.accounts.nonce(bidder)]).to.deep.equal([3n, 1n]);
      await expect(f.liquidation.connect(f.bob).liquidate(target, wad("0.01"), ethers.MaxInt256, bidder, 2n))
        .to.be.revertedWithCustomError(f.liquidation, "NonceMismatch")
        .withArgs(target, 2n, 3n);

      // The bidder's own trade moves its nonce; the bid moves both again.
      await f.trade(bidder, ETH, wad("0.1"));
      expect(await f.accounts.nonce(bidder)).to.equal(2n);
      await f.bid(target, bidder, wad("0.02"), await soon(f));
      expect([await f.accounts.nonce(target), await f.accounts.nonce(bidder)]).to.deep.equal([4n, 3n]);
    });
  });

  describe("who may bid", () => {
    it("refuses self-liquidation and strangers; an approved operator of the bidder account may bid", async () => {
      const f = await scenario();
      const { target, bidder } = f;
      const own = await f.account(f.alice, CROSS);
      await f.deposit(own, f.addr.usdc, usdc("100000"));
      const nonce = await f.accounts.nonce(target);
      await expect(f.liquidation.connect(f.bob).liquidate(999n, wad("0.01"), 0n, bidder, 0n))
        .to.be.revertedWithCustomError(f.liquidation, "UnknownAccount")
        .withArgs(999n);
      await expect(f.liquidation.connect(f.bob).liquidate(target, wad("0.01"), 0n, 999n, nonce))
        .to.be.revertedWithCustomError(f.accounts, "UnknownAccount")
        .withArgs(999n);
      await expect(f.liquidation.connect(f.alice).liquidate(target, wad("0.01"), ethers.MaxInt256, own, nonce))
        .to.be.revertedWithCustomError(f.liquidation, "SelfLiquidation")
        .withArgs(target, own);
      await expect(f.liquidation.connect(f.carol).liquidate(target, wad("0.01"), ethers.MaxInt256, bidder, nonce))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(bidder, f.carol.address);
      // alice may not bid with bob's account either, even as operator of her own.
      await expect(f.liquidation.connect(f.alice).liquidate(target, wad("0.01"), ethers.MaxInt256, bidder, nonce))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(bidder, f.alice.address);

      await f.accounts.connect(f.bob).setOperator(bidder, f.carol.address, true);
      // The bid helper checks Liquidated(..., bidder = carol) and AuctionStarted(..., by = carol).
      await f.bid(target, bidder, wad("0.02"), await soon(f), { signer: f.carol });
      expect(await f.accounts.nonce(bidder)).to.equal(1n);
    });
  });

  describe("isolation", () => {
    it("liquidating an isolated account leaves the owner's cross account exactly as it was", async () => {
      const f = await ready();
      const target = await f.account(f.alice, ISOLATED, ETH);
      await f.deposit(target, f.addr.usdc, usdc("3000"));
      await f.trade(target, ETH, wad("10"));
      const cross = await f.account(f.alice, CROSS);
      await f.deposit(cross, f.addr.usdc, usdc("5000"));
      await f.deposit(cross, f.addr.wbtc, ethers.parseUnits("0.1", 8));
      await f.trade(cross, BTC, wad("0.5"));
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      await time.increase(60);
      await f.setPrice(ETH, feed("2800"));
      await f.setPrice(BTC, BTC_PRICE);

      const read = async () => ({
        balances: await Promise.all([f.addr.usdc, f.addr.weth, f.addr.wbtc].map((t) => f.accounts.balanceOf(cross, t))),
        position: [...(await f.perps.position(cross, BTC))],
        markets: await f.perps.accountMarkets(cross),
        margin: [...(await f.engine.accountMargin(cross))],
        nonce: await f.accounts.nonce(cross),
      });
      const before = await read();
      await f.expectAccount(cross);
      await f.expectMargin(cross);

      const t = await soon(f);
      const max = f.bufferFraction(f.open(target, t)!);
      const { r } = await f.bid(target, bidder, max, t);
      expect(r.ended).to.be.true;
      expect(await read()).to.deep.equal(before);
      await f.expectAccount(cross);
      await f.expectMargin(cross);
    });
  });

  describe("bidder margin", () => {
    it("reverts a bid that leaves the bidder below IM with InsufficientMargin(bidder, equity, IM)", async () => {
      const f = await scenario();
      const poor = await f.account(f.carol, CROSS);
      await f.deposit(poor, f.addr.usdc, usdc("10"));
      const t = await soon(f);
      const fraction = wad("0.1");
      const b = f.open(f.target, t)!;
      const after = f.whatIf(() => {
        f.fill(f.target, poor, fraction, b, t);
        return f.valuation(poor, t);
      });
      // By hand: 10 USDC + moved - price, and 1 ETH long at 2,800 (PnL 0, MM = 2,800 x s).
      const price = priceOf(b, fraction);
      const moved = divDown(mulWadDown(b.mtm, fraction), USDC_SCALE);
      const mm = mulWadUp(wad("2800"), shockRatio(f.sim.market(ETH).params, WAD, f.sigma.eth));
      expect(after.equity).to.equal((usdc("10") + moved - price) * USDC_SCALE);
      expect([after.mm, after.im]).to.deep.equal([mm, mulWadUp(mm, wad("1.5"))]);
      expect(after.equity < after.im).to.be.true;
      await time.setNextBlockTimestamp(t);
      await expect(f.liquidation.connect(f.carol).liquidate(f.target, fraction, price, poor, 1n, MINED))
        .to.be.revertedWithCustomError(f.engine, "InsufficientMargin")
        .withArgs(poor, after.equity, after.im);
      // With more collateral the same bid goes through.
      await f.deposit(poor, f.addr.usdc, usdc("200"));
      await f.bid(f.target, poor, fraction, t + 10n);
    });
  });

  describe("price limit", () => {
    it("PriceLimitExceeded(price, limit): the most a solvent bidder pays, the least an insolvent one is paid", async () => {
      for (const [answer, fraction, delay] of [
        [feed("2800"), wad("0.05"), 0n],
        [feed("2600"), wad("0.3"), 900n],
      ] as const) {
        const f = await scenario(answer);
        const t0 = await soon(f);
        if (delay > 0n) await f.start(f.target, t0);
        const t = t0 + delay;
        const price = priceOf(f.open(f.target, t)!, fraction);
        expect(answer === feed("2800") ? price > 0n : price < 0n).to.be.true;
        await time.setNextBlockTimestamp(t);
        const nonce = await f.accounts.nonce(f.target);
        await expect(f.liquidation.connect(f.bob).liquidate(f.target, fraction, price - 1n, f.bidder, nonce, MINED))
          .to.be.revertedWithCustomError(f.liquidation, "PriceLimitExceeded")
          .withArgs(price, price - 1n);
        const r = await f.bid(f.target, f.bidder, fraction, t + 1n); // limit = the exact price
        expect(r.r.price).to.equal(priceOf(r.b, fraction));
      }
    });
  });

  describe("auction lifecycle", () => {
    it("NotLiquidatable(id, E, MM) for a healthy account; AuctionRunning when started twice", async () => {
      const f = await ready();
      const id = await f.account(f.alice, ISOLATED, ETH);
      await f.deposit(id, f.addr.usdc, usdc("3000"));
      await f.trade(id, ETH, wad("10"));
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      const v = await f.expectMargin(id);
      expect(v.equity).to.equal(wad("2981.84991"));
      await expect(f.liquidation.connect(f.bob).liquidate(id, wad("0.01"), ethers.MaxInt256, bidder, 1n))
        .to.be.revertedWithCustomError(f.liquidation, "NotLiquidatable")
        .withArgs(id, v.equity, v.mm);
      await expect(f.liquidation.startAuction(id))
        .to.be.revertedWithCustomError(f.liquidation, "NotLiquidatable")
        .withArgs(id, v.equity, v.mm);
      await f.setPrice(ETH, feed("2800"));
      await f.start(id, await soon(f));
      await expect(f.liquidation.startAuction(id))
        .to.be.revertedWithCustomError(f.liquidation, "AuctionRunning")
        .withArgs(id);
    });

    it("terminateAuction: NoAuction, BelowBufferMargin(id, E, BM), then AuctionEnded once the price recovers", async () => {
      const f = await scenario();
      const { target } = f;
      await expect(f.liquidation.terminateAuction(target))
        .to.be.revertedWithCustomError(f.liquidation, "NoAuction")
        .withArgs(target);
      await f.start(target, await soon(f));
      const under = await f.expectMargin(target);
      await expect(f.liquidation.terminateAuction(target))
        .to.be.revertedWithCustomError(f.liquidation, "BelowBufferMargin")
        .withArgs(target, under.equity, mulWadUp(under.mm, wad("1.1")));
      await f.setPrice(ETH, feed("2950"));
      const back = await f.expectMargin(target);
      expect(back.equity >= mulWadUp(back.mm, wad("1.1"))).to.be.true;
      await expect(f.liquidation.terminateAuction(target)).to.emit(f.liquidation, "AuctionEnded").withArgs(target);
      f.liq.auctions.delete(target);
      await f.expectAuction(target);
    });

    it("restartAuction: NoAuction, AuctionNotStalled(id, stallsAt), then a fresh curve and the current version", async () => {
      const f = await scenario();
      const { target, bidder } = f;
      await expect(f.liquidation.restartAuction(target))
        .to.be.revertedWithCustomError(f.liquidation, "NoAuction")
        .withArgs(target);
      const t0 = await soon(f);
      const b = await f.start(target, t0);
      // stallsAt = max(curveStart + 60 + 3600, start + 1800) + 1800.
      const stallsAt = b.auction.curveStart + 3660n + 1800n;
      await expect(f.liquidation.restartAuction(target))
        .to.be.revertedWithCustomError(f.liquidation, "AuctionNotStalled")
        .withArgs(target, stallsAt);
      await f.setLiquidationParam("AUCTION_START_DISCOUNT", wad("0.02"));
      await f.refresh(stallsAt - 5n);
      await time.setNextBlockTimestamp(stallsAt - 1n);
      await expect(f.liquidation.restartAuction(target, MINED))
        .to.be.revertedWithCustomError(f.liquidation, "AuctionNotStalled")
        .withArgs(target, stallsAt);

      // From the health now (after the fee, no new fee), under version 2.
      const v = f.valuation(target, stallsAt);
      const curveStart = stallsAt - (60n * (v.mm - v.equity)) / v.mm;
      await time.setNextBlockTimestamp(stallsAt);
      await expect(f.liquidation.connect(f.dave).restartAuction(target))
        .to.emit(f.liquidation, "AuctionRestarted")
        .withArgs(target, curveStart, 2n);
      const remaining = f.liq.auctions.get(target)!.remaining; // a restart keeps what bids took
      f.liq.auctions.set(target, {
        startTime: stallsAt,
        curveStart,
        version: 2n,
        remaining,
        params: { ...f.liq.params },
      });
      await f.expectAuction(target);
      const { b: bid } = await f.bid(target, bidder, wad("0.01"), curveStart + 30n);
      expect(bid.discount).to.equal(wad("0.035")); // 0.02 + 0.03 x 30 / 60
    });

    it("restartAuction before stallsAt when E >= MM: a fresh curve from now (offset 0); AuctionNotStalled while E < MM", async () => {
      const f = await scenario();
      const { target, bidder } = f;
      const t0 = await soon(f);
      const started = await f.start(target, t0);
      const stallsAt = started.auction.curveStart + 3660n + 1800n;
      // ETH at 2,815: MM <= E < BM, long before stallsAt.
      const t1 = t0 + 100n;
      await f.setPrice(ETH, feed("2815"), t1 - 5n);
      const v = f.valuation(target, t1);
      expect(v.equity >= v.mm && v.equity < mulWadUp(v.mm, wad("1.1")) && t1 < stallsAt).to.be.true;
      await time.setNextBlockTimestamp(t1);
      await expect(f.liquidation.connect(f.dave).restartAuction(target))
        .to.emit(f.liquidation, "AuctionRestarted")
        .withArgs(target, t1, 1n);
      f.liq.auctions.set(target, { ...started.auction, startTime: t1, curveStart: t1 });
      await f.expectAuction(target); // stallsAt = t1 + 3660 + 1800

      // Below MM again and not stalled: refused, with the restarted auction's stallsAt.
      await f.setPrice(ETH, feed("2800"), t1 + 10n);
      await time.setNextBlockTimestamp(t1 + 20n);
      await expect(f.liquidation.restartAuction(target, MINED))
        .to.be.revertedWithCustomError(f.liquidation, "AuctionNotStalled")
        .withArgs(target, t1 + 3660n + 1800n);
      // Bids continue on the restarted curve: tau = 30.
      const { b } = await f.bid(target, bidder, wad("0.01"), t1 + 30n);
      expect(b.refreshed).to.be.false;
      expect(b.discount).to.equal(wad("0.03")); // 0.01 + 0.04 x 30 / 60
    });
  });

  describe("oracle status", () => {
    it("Degraded (circuit breaker): the liquidation runs at the conservative low / high prices", async () => {
      const f = await ready();
      const target = await f.account(f.alice, ISOLATED, ETH);
      await f.deposit(target, f.addr.usdc, usdc("3500"));
      await f.trade(target, ETH, wad("5"));
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      await f.oracle.poke(f.addr.weth); // the breaker's reference: 3000
      await time.increase(60);
      await f.setPrice(ETH, feed("2350")); // -21.7% within the hour
      await expect(f.oracle.poke(f.addr.weth)).to.emit(f.oracle, "CircuitBreakerTripped");
      await f.oracle.setTwap(f.addr.weth, f.addr.ethPool, f.addr.usdc, 1800, 100);
      const twap = await f.oracle.twapPrice(f.addr.weth);
      expect(twap > wad("2970") && twap < wad("3030")).to.be.true;
      const p = await f.oracle.getPrice(f.addr.weth);
      const [low, high] = [wad("2350"), twap];
      expect([p.price, p.low, p.high, p.status]).to.deep.equal([wad("2350"), low, high, DEGRADED]);

      // By hand: the long at the low price, its notional (and MM) at the high one.
      const balance = f.sim.balance(target, f.addr.usdc);
      expect(balance).to.equal(3_490_999_977n); // 3500 - 9.0000225 (toward -infinity)
      const pos = f.sim.account(target).positions.get(ETH)!;
      const s = shockRatio(f.sim.market(ETH).params, wad("5"), f.sigma.eth);
      const mm = mulWadUp(mulWadUp(wad("5"), high), s);
      const mtm = balance * USDC_SCALE + mulWadDown(wad("5"), low) - pos.cost;
      expect(mtm).to.equal(wad("240.962477"));
      const m = await f.engine.accountMargin(target);
      expect([m.equity, m.maintenanceMargin]).to.deep.equal([mtm, mm]);
      expect(mtm < mm).to.be.true;

      const t = await soon(f);
      const offset = (60n * (mm - mtm)) / mm;
      const fee = min(divUp(mulWadUp(mm, wad("0.02")), USDC_SCALE), mtm / USDC_SCALE);
      const mtm1 = mtm - fee * USDC_SCALE;
      const discount = wad("0.01") + (wad("0.04") * offset) / 60n;
      const fraction = wad("0.1");
      const gap = mulWadUp(mm, wad("1.1")) - mtm1;
      expect(divUp((gap + 2n * USDC_SCALE) * WAD, gap + mulWadDown(mtm1, WAD - discount)) > fraction).to.be.true;
      const price = divUp(mulWadUp(mulWadUp(mtm1, fraction), WAD - discount), USDC_SCALE);
      const [realized] = reprice(wad("5"), pos.cost, -wad("0.5"), low);
      const fromRealized = divDown(realized, USDC_SCALE);
      const moved = divDown(mulWadDown(mtm1, fraction), USDC_SCALE);

      await time.setNextBlockTimestamp(t);
      const tx = await f.liquidation.connect(f.bob).liquidate(target, fraction, price, bidder, 1n);
      await expect(tx)
        .to.emit(f.liquidation, "AuctionStarted")
        .withArgs(target, f.bob.address, mtm1, mm, mtm1, fee, t - offset, 1n);
      await expect(tx)
        .to.emit(f.liquidation, "Liquidated")
        .withArgs(target, bidder, f.bob.address, fraction, mtm1, discount, 0n, price, 0n, 0n);
      await expect(tx)
        .to.emit(f.perps, "PositionLiquidated")
        .withArgs(target, bidder, ETH, wad("0.5"), low, realized, 0n);
      await expect(tx).not.to.emit(f.liquidation, "AuctionEnded");
      expect(await f.accounts.balanceOf(target, f.addr.usdc)).to.equal(balance - fee + fromRealized - moved + price);
      expect(await f.accounts.balanceOf(bidder, f.addr.usdc)).to.equal(usdc("100000") + moved - price);
      const taken = await f.perps.position(bidder, ETH);
      expect([taken.size, taken.cost]).to.deep.equal([wad("0.5"), mulWadUp(wad("0.5"), low)]);
    });

    it("Down (stale feed, no TWAP): liquidate and startAuction revert with PerpMarket PriceDown(asset)", async () => {
      const f = await scenario();
      await time.increase(3901);
      expect((await f.oracle.getPrice(f.addr.weth)).status).to.equal(2n);
      const nonce = await f.accounts.nonce(f.target);
      await expect(f.liquidation.connect(f.bob).liquidate(f.target, wad("0.01"), ethers.MaxInt256, f.bidder, nonce))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      await expect(f.liquidation.startAuction(f.target))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
      await expect(f.liquidation.isLiquidatable(f.target))
        .to.be.revertedWithCustomError(f.perps, "PriceDown")
        .withArgs(f.addr.weth);
    });

    it("a Down collateral blocks liquidation (its value is unknown): WBTC (BTC Down) beside an ETH long", async () => {
      const f = await ready();
      const target = await f.account(f.dave, CROSS);
      await f.deposit(target, f.addr.usdc, usdc("1000"));
      await f.deposit(target, f.addr.wbtc, ethers.parseUnits("0.05", 8));
      await f.trade(target, ETH, wad("10"));
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      const backed = await f.expectMargin(target); // 0.05 WBTC x 60,000 x 0.8 = 2,400 of equity
      expect(backed.equity > backed.im).to.be.true;

      // BTC's feed goes stale (no TWAP: Down); ETH's stays fresh at 3,000. Without the WBTC the
      // account would be below MM; with it, it is healthy: the engine cannot tell, so it waits.
      await time.increase(4000);
      await f.setPrice(ETH, ETH_PRICE);
      expect((await f.oracle.getPrice(f.addr.wbtc)).status).to.equal(DOWN);
      expect((await f.oracle.getPrice(f.addr.weth)).status).to.equal(OK);
      const pos = f.sim.account(target).positions.get(ETH)!;
      const withoutWbtc = f.sim.balance(target, f.addr.usdc) * USDC_SCALE + wad("30000") - pos.cost;
      expect(withoutWbtc < backed.mm).to.be.true;
      // One at a time: a rejected call must have its handler attached before it settles.
      for (const call of [
        () => f.engine.accountMargin(target),
        () => f.engine.valuation(target),
        () => f.liquidation.isLiquidatable(target),
        () => f.liquidation.quote(target, wad("0.1")),
        () => f.liquidation.startAuction(target),
        () => f.liquidation.connect(f.bob).liquidate(target, wad("0.1"), ethers.MaxInt256, bidder, 1n),
      ]) {
        await expect(call()).to.be.revertedWithCustomError(f.engine, "PriceDown").withArgs(f.addr.wbtc);
      }
      expect(await f.accounts.nonce(target)).to.equal(1n);
      await f.expectAuction(target);
    });
  });

  describe("parameter versions", () => {
    it("an auction keeps the parameters it started with; a new auction uses the new version", async () => {
      const f = await ready();
      const first = await f.account(f.alice, ISOLATED, ETH);
      const second = await f.account(f.carol, ISOLATED, ETH);
      for (const id of [first, second]) {
        await f.deposit(id, f.addr.usdc, usdc("3000"));
        await f.trade(id, ETH, wad("10"));
      }
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      await time.increase(60);
      await f.setPrice(ETH, feed("2800"));
      const [v0, p0] = await f.liquidation.parameters();
      expect([v0, [...p0]]).to.deep.equal([1n, asTuple(configuredLiquidation())]);

      const t0 = await soon(f);
      const a = await f.start(first, t0);
      expect(a.auction.version).to.equal(1n);
      await f.setLiquidationParam("AUCTION_DISCOUNT_CAP", wad("0.3"));
      const [v1, p1] = await f.liquidation.parameters();
      expect([v1, p1.discountCap]).to.deep.equal([2n, wad("0.3")]);
      const [, kept] = await f.liquidation.auctionOf(first);
      expect(kept.discountCap).to.equal(wad("0.15"));
      await f.expectAuction(first);

      const t1 = a.auction.curveStart + 3700n;
      await f.refresh(t1 - 5n);
      const { b: old } = await f.bid(first, bidder, wad("0.01"), t1);
      expect(old.discount).to.equal(wad("0.15"));

      const b = await f.start(second, t1 + 10n);
      expect(b.auction.version).to.equal(2n);
      const t2 = b.auction.curveStart + 3700n;
      await f.refresh(t2 - 5n);
      const { b: fresh } = await f.bid(second, bidder, wad("0.01"), t2);
      expect(fresh.discount).to.equal(wad("0.3"));
    });
  });

  describe("cross account", () => {
    it("moves floor(balance x fraction) WETH and each position's fraction toward zero; USDC is conserved", async () => {
      const f = await ready();
      const target = await f.account(f.dave, CROSS);
      await f.deposit(target, f.addr.weth, wad("3") + 1n);
      await f.trade(target, ETH, wad("20.5"));
      await f.trade(target, BTC, -wad("0.777"));
      const bidder = await f.account(f.bob, CROSS);
      await f.deposit(bidder, f.addr.usdc, usdc("100000"));
      await time.increase(60);
      await f.setPrice(ETH, feed("2800"));
      await f.setPrice(BTC, feed("61000"));
      const v = await f.expectMargin(target);
      expect(v.equity < v.mm && v.mtm > wad("100")).to.be.true;
      expect(f.sim.balance(target, f.addr.usdc) < 0n).to.be.true; // the fees: a debt to the pool

      const holders = [f.addr.pool, f.addr.accounts, f.addr.fund];
      const total = async () => (await Promise.all(holders.map((a) => f.usdc.balanceOf(a)))).reduce((x, y) => x + y);
      const positiveBalances = () =>
        [...f.sim.accounts.keys()].reduce((sum, id) => {
          const b = f.sim.balance(id, f.addr.usdc);
          return sum + (b > 0n ? b : 0n);
        }, 0n);
      const before = await total();
      // Only external flows so far: the LP's deposit, the fund's top-up, bob's deposit.
      expect(before).to.equal(f.liquidity + f.topUp + usdc("100000"));
      expect(await f.usdc.balanceOf(f.addr.accounts)).to.equal(positiveBalances());

      const fraction = 333_333_333_333_333_333n; // 1/3, rounded down
      const t = await soon(f);
      const { r } = await f.bid(target, bidder, fraction, t);
      expect(r.seized.get(f.addr.weth)).to.equal(1_000_000_000_000_000_000n - 1n); // 0.999...9993 down
      expect(r.sizes.get(ETH)?.moved).to.equal(6_833_333_333_333_333_326n); // 6.8333...3326.5 down
      expect(r.sizes.get(BTC)?.moved).to.equal(-258_999_999_999_999_999n); // -0.2589...99741 up
      expect(f.sim.account(target).positions.get(ETH)?.size).to.equal(wad("20.5") - 6_833_333_333_333_333_326n);
      expect(f.sim.account(target).positions.get(BTC)?.size).to.equal(-wad("0.777") + 258_999_999_999_999_999n);
      expect(await total()).to.equal(before);
      expect(await f.usdc.balanceOf(f.addr.accounts)).to.equal(positiveBalances());
      expect(await f.accounts.settlementDebt()).to.equal(
        [...f.sim.accounts.keys()].reduce((sum, id) => {
          const b = f.sim.balance(id, f.addr.usdc);
          return sum + (b < 0n ? -b : 0n);
        }, 0n),
      );
    });
  });
});
