import { expect } from "chai";
import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { BaseContract, ContractTransactionResponse, LogDescription, TransactionReceipt } from "ethers";
import { networkConfig } from "../../config/networks";
import { WAD, USDC_SCALE, abs, divUp, mulWadUp, min } from "./marginModel";
import { pricedMarkets } from "./fixtures";

// Shared by the liquidation crash and property tests: the liquidation parameters and auction
// formulas as specified (independent bigint re-computations, never read back from the engine),
// the common deployment setup, the stablecoin conservation check, a checker of one bid's events,
// and the crash test's liquidation bot.

// ---------------------------------------------------------------- parameters (config/networks.ts)

const globalParam = (name: string): bigint => {
  const s = networkConfig("hardhat").governance.params.find((x) => x.param === name && x.scope === undefined);
  if (s === undefined) throw new Error(`no global parameter ${name}`);
  return s.value;
};

export const LIQ = {
  fee: globalParam("LIQUIDATION_FEE"),
  startDiscount: globalParam("AUCTION_START_DISCOUNT"),
  fastDiscount: globalParam("AUCTION_FAST_DISCOUNT"),
  discountCap: globalParam("AUCTION_DISCOUNT_CAP"),
  fastDuration: globalParam("AUCTION_FAST_DURATION"),
  slowDuration: globalParam("AUCTION_SLOW_DURATION"),
  buffer: globalParam("BUFFER_MARGIN"),
  dust: globalParam("DUST_THRESHOLD"),
  payoutCap: globalParam("INSOLVENT_PAYOUT_CAP"),
  ramp: globalParam("INSOLVENT_RAMP"),
  throughputCap: globalParam("THROUGHPUT_CAP"),
  window: globalParam("THROUGHPUT_WINDOW"),
  floor: globalParam("INSURANCE_FLOOR"),
};

/** The fund's floor in settlement-token units, rounded up (what it never pays below). */
export const FLOOR_UNITS = divUp(LIQ.floor, USDC_SCALE);
const INSOLVENT_REASON = ethers.encodeBytes32String("INSOLVENT_ACCOUNT");
const FEE_SOURCE = ethers.encodeBytes32String("LIQUIDATION_FEE");

// ---------------------------------------------------------------- the auction formulas

/** Buffer margin: MM x (1 + buffer), rounded up. */
export const bufferMargin = (mm: bigint) => mulWadUp(mm, WAD + LIQ.buffer);

/** Fee in units: ceil(ceil(MM x fee) / scale), at most floor(MtM / scale) (MtM before the fee); 0 if MtM <= 0. */
export function liquidationFee(mm: bigint, mtmBeforeFee: bigint): bigint {
  if (mtmBeforeFee <= 0n) return 0n;
  return min(divUp(mulWadUp(mm, LIQ.fee), USDC_SCALE), mtmBeforeFee / USDC_SCALE);
}

/** Seconds the curve starts in: floor(FAST x (MM - E) / MM) with E before the fee (FAST if E <= 0 or MM = 0). */
export function healthOffset(equityBeforeFee: bigint, mm: bigint): bigint {
  if (equityBeforeFee <= 0n || mm === 0n) return LIQ.fastDuration;
  if (equityBeforeFee >= mm) return 0n;
  return (LIQ.fastDuration * (mm - equityBeforeFee)) / mm;
}

/** The solvent discount at time t of an auction whose curve started at curveStart. */
export function discountAt(curveStart: bigint, t: bigint): bigint {
  let tau = t - curveStart;
  if (tau < LIQ.fastDuration) {
    return LIQ.startDiscount + ((LIQ.fastDiscount - LIQ.startDiscount) * tau) / LIQ.fastDuration;
  }
  tau -= LIQ.fastDuration;
  if (tau < LIQ.slowDuration) return LIQ.fastDiscount + ((LIQ.discountCap - LIQ.fastDiscount) * tau) / LIQ.slowDuration;
  return LIQ.discountCap;
}

/**
 * The insolvent payout's incentive (whole account, WAD): min(floor(cap x remaining),
 * floor(discountCap x gross)). `remaining` (WAD) is the part of the account no bid has taken since
 * the auction started, so that split bids share one cap; `gross` is `grossValue` now.
 */
export function insolventIncentive(gross: bigint, remaining: bigint = WAD): bigint {
  return min((LIQ.payoutCap * remaining) / WAD, (gross * LIQ.discountCap) / WAD);
}

/**
 * The insolvent payout (whole account, WAD) at time t: (deficit + incentive) x min(1, elapsed /
 * ramp), floored.
 */
export function payoutAt(
  deficit: bigint,
  gross: bigint,
  startTime: bigint,
  t: bigint,
  remaining: bigint = WAD,
): bigint {
  const full = deficit + insolventIncentive(gross, remaining);
  const elapsed = t - startTime;
  return elapsed >= LIQ.ramp ? full : (full * elapsed) / LIQ.ramp;
}

/** Units for `fraction`: solvent, the bidder pays ceil(MtM x f x (1 - d)); insolvent, it is paid floor(payout x f). */
export function bidPrice(mtm: bigint, fraction: bigint, discount: bigint, payout: bigint): bigint {
  if (mtm > 0n) return divUp(mulWadUp(mulWadUp(mtm, fraction), WAD - discount), USDC_SCALE);
  return -((payout * fraction) / WAD / USDC_SCALE);
}

/**
 * The buffer fraction: the largest fraction one bid may take. None at or above BM (checked first,
 * so even a dust account has none there); everything at or below DUST_THRESHOLD (insolvent accounts
 * included); else ceil((BM - E + 2 units) x 1e18 / (BM - E + floor(MtM x (1 - d)))), at most 1e18.
 * Only the numerator is widened: a bid of f leaves E' - (1 - f) BM = f (BM - E + MtM (1 - d)) -
 * (BM - E) >= 2 units (before rounding).
 */
export function bufferFraction(equity: bigint, bm: bigint, mtm: bigint, discount: bigint): bigint {
  if (equity >= bm) return 0n;
  if (mtm <= LIQ.dust) return WAD;
  const gap = bm - equity;
  const paid = (mtm * (WAD - discount)) / WAD;
  return min(WAD, divUp((gap + 2n * USDC_SCALE) * WAD, gap + paid));
}

/**
 * The smallest bid: ceil(DUST_THRESHOLD x 1e18 / gross), at most the buffer fraction (which it is
 * when gross is zero); gross = other collateral + |MtM| + the positions' notional.
 */
export function minFraction(gross: bigint, bufferFraction_: bigint): bigint {
  if (gross === 0n) return bufferFraction_;
  return min(bufferFraction_, divUp(LIQ.dust * WAD, gross));
}

/** What the fund pays of `due` units when it holds `held` (never below its floor); the pool pays the rest. */
export function fundShare(due: bigint, held: bigint): bigint {
  const available = held > FLOOR_UNITS ? held - FLOOR_UNITS : 0n;
  return min(due, available);
}

/** An auction as stored (auctionOf). */
export interface AuctionState {
  startTime: bigint;
  curveStart: bigint;
  version: bigint;
  remaining: bigint;
}

/** An account's figures as the engine reports them (quote): E and MtM after the fee when a bid would start the auction. */
export interface AccountFigures {
  equity: bigint;
  maintenanceMargin: bigint;
  markToMarket: bigint;
  fee: bigint;
}

/** What a bid (or a view) at time t prices from, by the formulas. */
export interface Terms {
  /** No auction runs: the bid starts one (the figures are after its fee). */
  starting: boolean;
  /** A running auction whose account is back at or above MM: its curve and ramp restart at t. */
  refreshed: boolean;
  startTime: bigint;
  curveStart: bigint;
  remaining: bigint;
  bufferMargin: bigint;
  discount: bigint;
  payout: bigint;
  /** The largest fraction a bid may take (the view's maxFraction unless the start is refused). */
  bufferFraction: bigint;
  /** The smallest (BidTooSmall below it). */
  minFraction: bigint;
}

/**
 * The auction a bid at time t prices from: the running one; a fresh one from t when the running
 * account is back at or above MM (E >= MM, no fee: discount at the start, payout ramp from t,
 * remaining kept); or the one it would start (curve `healthOffset` seconds in, E before the fee).
 */
export function termsAt(auction: AuctionState | null, q: AccountFigures, gross: bigint, t: bigint): Terms {
  const starting = auction === null;
  const refreshed = auction !== null && q.equity >= q.maintenanceMargin;
  let startTime = t;
  let curveStart = t;
  let remaining = WAD;
  if (auction === null) {
    curveStart = t - healthOffset(q.equity + q.fee * USDC_SCALE, q.maintenanceMargin);
  } else {
    remaining = auction.remaining;
    if (!refreshed) {
      startTime = auction.startTime;
      curveStart = auction.curveStart;
    }
  }
  const bm = bufferMargin(q.maintenanceMargin);
  const discount = q.markToMarket > 0n ? discountAt(curveStart, t) : 0n;
  const payout = q.markToMarket > 0n ? 0n : payoutAt(-q.markToMarket, gross, startTime, t, remaining);
  const max = bufferFraction(q.equity, bm, q.markToMarket, discount);
  return {
    starting,
    refreshed,
    startTime,
    curveStart,
    remaining,
    bufferMargin: bm,
    discount,
    payout,
    bufferFraction: max,
    minFraction: minFraction(gross, max),
  };
}

// ---------------------------------------------------------------- throughput (counted at auction starts)

export interface PositionInput {
  marketId: bigint;
  /** |size| x high price, rounded up (WAD USD). */
  notional: bigint;
}

/** ThroughputCapExceeded's arguments. */
export interface Refusal {
  marketId: bigint;
  notional: bigint;
  room: bigint;
  windowEnd: bigint;
}

/**
 * The notional that entered auctions per market and window (floor(t / WINDOW)), from the starts
 * the test made: a start is refused on the first position (in accountRisk order) whose market's
 * window is not empty and would go above the cap; otherwise each market counts the position's full
 * notional (an empty window admits any account).
 */
export class ThroughputModel {
  private readonly windows = new Map<bigint, { window: bigint; used: bigint }>();

  constructor(
    public cap: bigint = LIQ.throughputCap,
    readonly window: bigint = LIQ.window,
  ) {}

  used(marketId: bigint, t: bigint): bigint {
    const w = this.windows.get(marketId);
    return w !== undefined && w.window === t / this.window ? w.used : 0n;
  }

  refusal(positions: readonly PositionInput[], t: bigint): Refusal | null {
    const window = t / this.window;
    for (const p of positions) {
      const used = this.used(p.marketId, t);
      if (used !== 0n && used + p.notional > this.cap) {
        return {
          marketId: p.marketId,
          notional: p.notional,
          room: this.cap > used ? this.cap - used : 0n,
          windowEnd: (window + 1n) * this.window,
        };
      }
    }
    return null;
  }

  admit(positions: readonly PositionInput[], t: bigint) {
    expect(this.refusal(positions, t), "admitted by the throughput model").to.equal(null);
    for (const p of positions) {
      this.windows.set(p.marketId, { window: t / this.window, used: this.used(p.marketId, t) + p.notional });
    }
  }
}

// ---------------------------------------------------------------- setup

export interface SetupOptions {
  liquidity: bigint;
  insurance: bigint;
}

/**
 * deployMarkets() with fresh rounds (ETH 3000, BTC 60000), both TWAPs removed (low = high =
 * Chainlink), funding off in both markets, `liquidity` USDC from the LP in the pool and
 * `insurance` USDC topped up into the fund by the admin. Signers: admin, lp, then everyone else.
 */
export async function setupLiquidationMarkets(opts: SetupOptions) {
  const signers = await ethers.getSigners();
  const keel = await pricedMarkets({ liquidity: opts.liquidity, insurance: opts.insurance });
  return { ...keel, signers };
}

export type LiquidationMarkets = Awaited<ReturnType<typeof setupLiquidationMarkets>>;

/** Mints USDC and WETH to `who` and approves MarginAccounts for both. */
export async function fund(f: LiquidationMarkets, who: HardhatEthersSigner, usdcAmount: bigint, wethAmount: bigint) {
  if (usdcAmount > 0n) await f.usdc.mint(who.address, usdcAmount);
  if (wethAmount > 0n) await f.weth.mint(who.address, wethAmount);
  await f.usdc.connect(who).approve(f.addr.accounts, ethers.MaxUint256);
  await f.weth.connect(who).approve(f.addr.accounts, ethers.MaxUint256);
}

/** Creates an account, deposits into it and returns its id. */
export async function openAccount(
  f: LiquidationMarkets,
  owner: HardhatEthersSigner,
  mode: number,
  marketId: number,
  usdcAmount: bigint,
  wethAmount: bigint,
): Promise<bigint> {
  const id = await f.accounts.nextAccountId();
  await f.accounts.connect(owner).createAccount(mode, marketId);
  if (usdcAmount > 0n) await f.accounts.connect(owner).deposit(id, f.addr.usdc, usdcAmount);
  if (wethAmount > 0n) await f.accounts.connect(owner).deposit(id, f.addr.weth, wethAmount);
  return id;
}

/** USDC held by the pool, MarginAccounts, the fund and every signer: constant without external flows. */
export async function usdcInSystem(f: LiquidationMarkets): Promise<bigint> {
  let total = 0n;
  for (const a of [f.addr.pool, f.addr.accounts, f.addr.fund, f.addr.liquidation]) total += await f.usdc.balanceOf(a);
  for (const s of f.signers) total += await f.usdc.balanceOf(s.address);
  return total;
}

/**
 * The cash rule and conservation, for every account ever created: MarginAccounts holds exactly the
 * sum of positive USDC balances (also its booked totalDeposits), settlementDebt is the sum of the
 * negative parts, the fund books what it holds, the engine holds nothing, and the USDC in the
 * system is `total`.
 */
export async function checkConservation(f: LiquidationMarkets, total: bigint, where: string) {
  const n = await f.accounts.nextAccountId();
  let positive = 0n;
  let negative = 0n;
  for (let id = 1n; id < n; id++) {
    const b = await f.accounts.balanceOf(id, f.addr.usdc);
    if (b > 0n) positive += b;
    else negative -= b;
  }
  expect(await f.usdc.balanceOf(f.addr.accounts), `${where}: MarginAccounts holds the positive balances`).to.equal(
    positive,
  );
  expect((await f.accounts.collateral(f.addr.usdc)).totalDeposits, `${where}: totalDeposits`).to.equal(positive);
  expect(await f.accounts.settlementDebt(), `${where}: settlementDebt = sum of negative parts`).to.equal(negative);
  expect(await f.fund.balance(), `${where}: the fund books what it holds`).to.equal(
    await f.usdc.balanceOf(f.addr.fund),
  );
  expect(await f.usdc.balanceOf(f.addr.liquidation), `${where}: the engine holds no USDC`).to.equal(0n);
  expect(await usdcInSystem(f), `${where}: USDC in pool + accounts + fund + signers`).to.equal(total);
}

// ---------------------------------------------------------------- model inputs

export const latest = async () => BigInt(await time.latest());

/** The model's inputs besides the quote: other collateral at its full low price, each position's notional. */
export interface AccountInputs {
  otherCollateral: bigint;
  /** In accountRisk order (the order the throughput check walks). */
  positions: PositionInput[];
}

/**
 * Reads the account's WETH balance, positions and the oracle's prices and values them by the
 * formulas: WETH at floor(balance x low), each position's notional ceil(|size| x high) (the
 * margin engine's valuation, which the liquidation engine works from, must agree).
 */
export async function accountInputs(f: LiquidationMarkets, id: bigint): Promise<AccountInputs> {
  const positions: PositionInput[] = [];
  for (const marketId of await f.perps.accountMarkets(id)) {
    const size = (await f.perps.position(id, marketId)).size;
    const high = (await f.oracle.getPrice(await f.perps.underlyingOf(marketId))).high;
    positions.push({ marketId: BigInt(marketId), notional: mulWadUp(abs(size), high) });
  }
  const weth = await f.accounts.balanceOf(id, f.addr.weth);
  const otherCollateral = weth > 0n ? (weth * (await f.oracle.getPrice(f.addr.weth)).low) / WAD : 0n;
  const v = await f.engine.valuation(id);
  expect(
    [v.otherCollateral, v.positions.map((p) => [p.marketId, p.notional])],
    `account ${id}: valuation's other collateral and notional`,
  ).to.deep.equal([otherCollateral, positions.map((p) => [p.marketId, p.notional])]);
  return { otherCollateral, positions };
}

/**
 * The gross value, base of the minimum bid and of the insolvent incentive: other collateral + |MtM|
 * (after the fee when starting) + notional.
 */
export function grossValue(inputs: AccountInputs, markToMarket: bigint): bigint {
  return inputs.otherCollateral + abs(markToMarket) + inputs.positions.reduce((a, p) => a + p.notional, 0n);
}

/** The running auction (null when none). */
export async function readAuction(f: LiquidationMarkets, id: bigint): Promise<AuctionState | null> {
  const [a] = await f.liquidation.auctionOf(id);
  if (a.startTime === 0n) return null;
  return { startTime: a.startTime, curveStart: a.curveStart, version: a.version, remaining: a.remaining };
}

/** The engine's current parameter version (what a start uses). */
export async function currentVersion(f: LiquidationMarkets): Promise<bigint> {
  return (await f.liquidation.parameters())[0];
}

// ---------------------------------------------------------------- one bid's events

/** What the bidder knew before sending: the quote's figures, the auction and the model inputs. */
export interface BidContext {
  accountId: bigint;
  bidderAccountId: bigint;
  bidder: string;
  fraction: bigint;
  /** Quote figures (the account state is the same at the bid; E, MtM after the fee when starting). */
  figures: AccountFigures;
  /** The running auction, or null when the bid starts one. */
  auction: AuctionState | null;
  /** The current parameter version (the version of an auction the bid starts). */
  version: bigint;
  inputs: AccountInputs;
  /** The fund's booked balance before the bid. */
  fundHeld: bigint;
}

export interface BidResult extends Terms {
  t: bigint;
  fee: bigint;
  price: bigint;
  fundPaid: bigint;
  poolPaid: bigint;
  ended: boolean;
  /** E - BM before (after the fee when starting) and after the bid. */
  before: bigint;
  after: bigint;
  /** The auction's untaken part after the bid (0 once ended). */
  remainingAfter: bigint;
  /** Insolvent bids: what the bidder was paid beyond its fraction of the deficit (WAD, >= 0). */
  beyondDeficit: bigint;
  /** The bid took exactly the buffer fraction of a solvent account above dust (ends it by construction). */
  restoresByConstruction: boolean;
}

export function logsOf(receipt: TransactionReceipt, contract: BaseContract, address: string): LogDescription[] {
  const out: LogDescription[] = [];
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== address.toLowerCase()) continue;
    const parsed = contract.interface.parseLog(log);
    if (parsed !== null) out.push(parsed);
  }
  return out;
}

/**
 * Checks a liquidate() transaction against the formulas, from what the bidder read before (ctx)
 * and the block's timestamp: the fraction was within [min, max]; AuctionStarted (fee, curve start,
 * version) or AuctionRestarted (a recovered account: curve from now) or neither; Liquidated
 * (discount, payout, price, the fund / pool split); the fund's Outflow and fee Inflow;
 * LossSocialized; AuctionEnded exactly when the bid took the buffer fraction, everything, or left
 * E' >= BM'; the stored auction. And the buffer status: E - BM never falls across a bid, and a bid
 * never ends an auction with E' < BM' (nor leaves one running at or above BM).
 */
export async function checkBid(
  f: LiquidationMarkets,
  tx: ContractTransactionResponse,
  ctx: BidContext,
  where: string,
): Promise<BidResult> {
  const receipt = await tx.wait();
  if (receipt === null) throw new Error("no receipt");
  const t = BigInt((await receipt.getBlock()).timestamp);
  const engineLogs = logsOf(receipt, f.liquidation, f.addr.liquidation);
  const fundLogs = logsOf(receipt, f.fund, f.addr.fund);
  const q = ctx.figures;
  const mm = q.maintenanceMargin;
  const mtm = q.markToMarket;
  const terms = termsAt(ctx.auction, q, grossValue(ctx.inputs, mtm), t);
  const version = ctx.auction?.version ?? ctx.version;
  expect(
    ctx.fraction >= terms.minFraction && ctx.fraction <= terms.bufferFraction,
    `${where}: accepted fraction ${ctx.fraction} within [${terms.minFraction}, ${terms.bufferFraction}]`,
  ).to.equal(true);

  // Start: fee and curve start from E and MtM before the fee.
  const started = engineLogs.filter((l) => l.name === "AuctionStarted");
  if (terms.starting) {
    expect(q.fee, `${where}: quoted fee`).to.equal(liquidationFee(mm, mtm + q.fee * USDC_SCALE));
    expect(started.length, `${where}: one AuctionStarted`).to.equal(1);
    const a = started[0].args;
    expect(
      [a.accountId, a.by, a.equity, a.maintenanceMargin, a.markToMarket, a.fee, a.curveStart, a.version],
      `${where}: AuctionStarted`,
    ).to.deep.equal([ctx.accountId, ctx.bidder, q.equity, mm, mtm, q.fee, terms.curveStart, version]);
  } else {
    expect(started.length, `${where}: no AuctionStarted`).to.equal(0);
  }
  const restarted = engineLogs.filter((l) => l.name === "AuctionRestarted");
  expect(
    restarted.map((r) => [r.args.accountId, r.args.curveStart, r.args.version]),
    `${where}: AuctionRestarted (recovered account)`,
  ).to.deep.equal(terms.refreshed ? [[ctx.accountId, t, version]] : []);
  const fee = terms.starting ? q.fee : 0n;

  const price = bidPrice(mtm, ctx.fraction, terms.discount, terms.payout);
  const fundPaid = price < 0n ? fundShare(-price, ctx.fundHeld) : 0n;
  const poolPaid = price < 0n ? -price - fundPaid : 0n;
  const liquidated = engineLogs.filter((l) => l.name === "Liquidated");
  expect(liquidated.length, `${where}: one Liquidated`).to.equal(1);
  const l = liquidated[0].args;
  expect(
    [
      l.accountId,
      l.bidderAccountId,
      l.bidder,
      l.fraction,
      l.markToMarket,
      l.discount,
      l.payout,
      l.price,
      l.fundPaid,
      l.poolPaid,
    ],
    `${where}: Liquidated`,
  ).to.deep.equal([
    ctx.accountId,
    ctx.bidderAccountId,
    ctx.bidder,
    ctx.fraction,
    mtm,
    terms.discount,
    terms.payout,
    price,
    fundPaid,
    poolPaid,
  ]);

  const socialized = engineLogs.filter((x) => x.name === "LossSocialized");
  expect(
    socialized.map((s) => [s.args.accountId, s.args.amount]),
    `${where}: LossSocialized`,
  ).to.deep.equal(poolPaid > 0n ? [[ctx.accountId, poolPaid]] : []);
  const outflows = fundLogs.filter((x) => x.name === "Outflow");
  expect(
    outflows.map((o) => [o.args.to, o.args.reason, o.args.amount, o.args.balanceAfter]),
    `${where}: fund Outflow`,
  ).to.deep.equal(fundPaid > 0n ? [[f.addr.accounts, INSOLVENT_REASON, fundPaid, ctx.fundHeld - fundPaid]] : []);
  const inflows = fundLogs.filter((x) => x.name === "Inflow");
  expect(
    inflows.map((i) => [i.args.source, i.args.amount, i.args.balanceAfter]),
    `${where}: fund Inflow`,
  ).to.deep.equal(fee > 0n ? [[FEE_SOURCE, fee, ctx.fundHeld - fundPaid + fee]] : []);

  // The buffer status E - BM: never lower after the bid; an ended auction is at or above BM, a
  // running one below; it ends exactly when the bid took the buffer fraction (solvent, above
  // dust), everything, or left the account at or above BM (the re-check).
  const before = q.equity - terms.bufferMargin;
  const m = await f.engine.accountMargin(ctx.accountId);
  const after = m.equity - bufferMargin(m.maintenanceMargin);
  const state =
    `E ${q.equity} MM ${mm} MtM ${mtm} fee ${fee} d ${terms.discount} fraction ${ctx.fraction} ` +
    `(buffer fraction ${terms.bufferFraction}) -> E' ${m.equity} MM' ${m.maintenanceMargin}`;
  expect(after >= before, `${where}: E - BM never falls: ${before} -> ${after} (${state})`).to.equal(true);
  const restoresByConstruction = mtm > LIQ.dust && ctx.fraction === terms.bufferFraction;
  const ended = engineLogs.some((x) => x.name === "AuctionEnded");
  if (ended) expect(after >= 0n, `${where}: the bid ended the auction with E' < BM' (${state})`).to.equal(true);
  else expect(after < 0n, `${where}: the auction runs on at or above BM (${state})`).to.equal(true);
  expect(ended, `${where}: AuctionEnded (${state})`).to.equal(
    restoresByConstruction || ctx.fraction === WAD || after >= 0n,
  );

  // The auction left behind: none once ended, else the untaken part shrinks by the fraction
  // taken, rounded up (a refreshed one keeps its new curve).
  const remainingAfter = ended ? 0n : terms.remaining - mulWadUp(terms.remaining, ctx.fraction);
  const [stored] = await f.liquidation.auctionOf(ctx.accountId);
  expect(
    [stored.startTime, stored.curveStart, stored.version, stored.remaining],
    `${where}: stored auction`,
  ).to.deep.equal(ended ? [0n, 0n, 0n, 0n] : [terms.startTime, terms.curveStart, version, remainingAfter]);
  const beyondDeficit = price < 0n ? -price * USDC_SCALE - (ctx.fraction * -mtm) / WAD : 0n;
  return {
    ...terms,
    t,
    fee,
    price,
    fundPaid,
    poolPaid,
    ended,
    before,
    after,
    remainingAfter,
    beyondDeficit,
    restoresByConstruction,
  };
}

// ---------------------------------------------------------------- the crash test's bot

export interface BotOptions {
  /** THROUGHPUT_CAP in force (WAD USD per market and window); the configured one by default. */
  throughputCap?: bigint;
  /**
   * The most gross value (WAD USD: notional + other collateral + |MtM|) the bot takes in one bid;
   * none: every bid takes the largest fraction allowed. Never less than the minimum bid.
   */
  bidCapacity?: bigint;
}

export interface BotStats {
  bids: number;
  insolventBids: number;
  starts: number;
  /** Auctions started without a bid (insolvent accounts, left to ramp). */
  startsWithoutBid: number;
  ended: number;
  /** Running auctions ended with terminateAuction (account back at or above BM). */
  terminated: number;
  /** Bids on running auctions whose account was back at or above MM (AuctionRestarted). */
  refreshedBids: number;
  /** Starts the throughput cap refused (each account once per window it waited in). */
  refusedStarts: number;
  /** Bids that took less than the largest fraction (the bot's capacity). */
  capacityBids: number;
  fees: bigint;
  fundPaid: bigint;
  poolPaid: bigint;
  liquidated: Set<bigint>;
  /** Sum over bids of |change of pool totalAssets + poolPaid| (units). */
  poolDrift: bigint;
  maxPoolDrift: bigint;
  /** Per running auction: what insolvent bids were paid beyond their share of the deficit (WAD). */
  beyondDeficit: Map<bigint, { paid: bigint; bids: number }>;
  /** Insolvent auctions taken in more than one bid, and the most one auction paid beyond its deficits. */
  splitInsolventAuctions: number;
  maxBeyondDeficit: bigint;
}

/**
 * A keeper over a list of accounts. On each account below MM or in an auction it checks the quote
 * against the formulas (fee, discount, payout, max fraction, including 0 when the throughput cap
 * would refuse the start) and then:
 * - ends a running auction whose account is back at or above BM (terminateAuction);
 * - leaves an account whose start the throughput cap refuses for the next window (after checking
 *   the refusal's ThroughputCapExceeded figures);
 * - starts an insolvent account's auction without bidding, and bids once its payout has ramped;
 * - otherwise bids the largest fraction allowed (or what its capacity takes, never below the
 *   minimum bid: one unit below it reverts BidTooSmall with the exact minimum), at the price it
 *   was just quoted, one second after the quote.
 * Every bid is checked by checkBid, every start fed to the throughput model.
 */
export class LiquidationBot {
  readonly stats: BotStats = {
    bids: 0,
    insolventBids: 0,
    starts: 0,
    startsWithoutBid: 0,
    ended: 0,
    terminated: 0,
    refreshedBids: 0,
    refusedStarts: 0,
    capacityBids: 0,
    fees: 0n,
    fundPaid: 0n,
    poolPaid: 0n,
    liquidated: new Set(),
    poolDrift: 0n,
    maxPoolDrift: 0n,
    beyondDeficit: new Map(),
    splitInsolventAuctions: 0,
    maxBeyondDeficit: 0n,
  };
  readonly throughput: ThroughputModel;

  constructor(
    readonly f: LiquidationMarkets,
    readonly signer: HardhatEthersSigner,
    readonly botId: bigint,
    readonly targets: readonly bigint[],
    readonly options: BotOptions = {},
  ) {
    this.throughput = new ThroughputModel(options.throughputCap ?? LIQ.throughputCap);
  }

  /** One pass over every target; returns what it did and what is left waiting. */
  async scan(where: string): Promise<{ acted: number; waiting: number; throttled: number; running: number }> {
    const { f, stats } = this;
    const engine = f.liquidation.connect(this.signer);
    let acted = 0;
    let waiting = 0;
    let throttled = 0;
    let running = 0;
    for (const id of this.targets) {
      const at = `${where} account ${id}`;
      const auction = await readAuction(f, id);
      if (auction === null && !(await f.liquidation.isLiquidatable(id))) continue;
      // Views run at the latest block's timestamp.
      const t = await latest();
      const q0 = await f.liquidation.quote(id, 0n);
      const inputs = await accountInputs(f, id);
      const terms = termsAt(auction, q0, grossValue(inputs, q0.markToMarket), t);
      const refusal = auction === null ? this.throughput.refusal(inputs.positions, t) : null;
      expect(
        [q0.auctionRunning, q0.bufferMargin, q0.fee, q0.discount, q0.payout, q0.maxFraction],
        `${at}: quote`,
      ).to.deep.equal([
        auction !== null,
        terms.bufferMargin,
        auction === null ? liquidationFee(q0.maintenanceMargin, q0.markToMarket + q0.fee * USDC_SCALE) : 0n,
        terms.discount,
        terms.payout,
        refusal === null ? terms.bufferFraction : 0n,
      ]);
      expect(await f.liquidation.maxFraction(id), `${at}: maxFraction()`).to.equal(q0.maxFraction);

      if (auction !== null && q0.equity >= q0.bufferMargin) {
        // Housekeeping: back at or above BM, nothing may be taken; the auction is over.
        await expect(engine.liquidate.staticCall(id, 1n, 0n, this.botId, await f.accounts.nonce(id)))
          .to.be.revertedWithCustomError(f.liquidation, "FractionTooLarge")
          .withArgs(1n, 0n);
        await time.setNextBlockTimestamp(t + 1n);
        await expect(engine.terminateAuction(id)).to.emit(f.liquidation, "AuctionEnded").withArgs(id);
        expect(await readAuction(f, id), `${at}: terminated`).to.equal(null);
        stats.terminated++;
        acted++;
        continue;
      }
      if (auction !== null) {
        // Below BM: terminating is refused with the account's figures.
        await expect(engine.terminateAuction.staticCall(id))
          .to.be.revertedWithCustomError(f.liquidation, "BelowBufferMargin")
          .withArgs(id, q0.equity, q0.bufferMargin);
      }
      if (refusal !== null) {
        // The window's throughput is used up: both ways to start are refused; next window.
        const nonce = await f.accounts.nonce(id);
        for (const call of [
          () => engine.startAuction.staticCall(id),
          () => engine.liquidate.staticCall(id, WAD, ethers.MaxInt256, this.botId, nonce),
        ]) {
          await expect(call())
            .to.be.revertedWithCustomError(f.liquidation, "ThroughputCapExceeded")
            .withArgs(refusal.marketId, refusal.notional, refusal.room, refusal.windowEnd);
        }
        stats.refusedStarts++;
        throttled++;
        continue;
      }
      if (q0.insolvent) {
        if (auction === null) {
          await this.start(id, q0, inputs, t + 1n, at);
          waiting++;
          running++;
          continue;
        }
        if (t - terms.startTime < LIQ.ramp) {
          waiting++;
          running++;
          continue;
        }
      }
      if (!(await this.bid(id, auction, q0, inputs, t, at))) running++;
      acted++;
    }
    return { acted, waiting, throttled, running };
  }

  /** startAuction at T (an insolvent account: no fee), checked and counted in the throughput model. */
  async start(id: bigint, q0: AccountFigures, inputs: AccountInputs, T: bigint, where: string) {
    const { f, stats } = this;
    expect(q0.fee, `${where}: no fee out of a negative MtM`).to.equal(0n);
    const version = await currentVersion(f);
    await time.setNextBlockTimestamp(T);
    await expect(f.liquidation.connect(this.signer).startAuction(id))
      .to.emit(f.liquidation, "AuctionStarted")
      .withArgs(
        id,
        this.signer.address,
        q0.equity,
        q0.maintenanceMargin,
        q0.markToMarket,
        0n,
        T - healthOffset(q0.equity, q0.maintenanceMargin),
        version,
      );
    this.throughput.admit(inputs.positions, T);
    expect(await readAuction(f, id), `${where}: started`).to.deep.equal({
      startTime: T,
      curveStart: T - healthOffset(q0.equity, q0.maintenanceMargin),
      version,
      remaining: WAD,
    });
    stats.starts++;
    stats.startsWithoutBid++;
    stats.beyondDeficit.delete(id);
  }

  /**
   * One bid, one second after the quote at t: the largest fraction allowed then (or the bot's
   * capacity, at least the minimum). Returns whether it ended the auction.
   */
  async bid(
    id: bigint,
    auction: AuctionState | null,
    q0: AccountFigures & { bufferMargin: bigint },
    inputs: AccountInputs,
    t: bigint,
    where: string,
  ): Promise<boolean> {
    const { f, stats } = this;
    const engine = f.liquidation.connect(this.signer);
    const gross = grossValue(inputs, q0.markToMarket);
    const now = termsAt(auction, q0, gross, t);
    const T = t + 1n;
    const terms = termsAt(auction, q0, gross, T);
    let fraction = terms.bufferFraction;
    if (this.options.bidCapacity !== undefined) {
      const byCapacity = (this.options.bidCapacity * WAD) / gross;
      fraction = min(fraction, byCapacity > terms.minFraction ? byCapacity : terms.minFraction);
    }
    const nonce = await f.accounts.nonce(id);
    // The minimum bid, at the latest block: one below it is refused with the exact minimum.
    if (now.minFraction > 1n) {
      await expect(engine.liquidate.staticCall(id, now.minFraction - 1n, ethers.MaxInt256, this.botId, nonce))
        .to.be.revertedWithCustomError(f.liquidation, "BidTooSmall")
        .withArgs(now.minFraction - 1n, now.minFraction);
    }
    const q = await f.liquidation.quote(id, fraction);
    expect(q.price, `${where}: quoted price`).to.equal(bidPrice(q0.markToMarket, fraction, now.discount, now.payout));
    const price = bidPrice(q0.markToMarket, fraction, terms.discount, terms.payout);
    expect(price <= q.price, `${where}: the price never rises (${q.price} -> ${price})`).to.equal(true);
    if (auction !== null) {
      const m = await f.engine.accountMargin(id);
      expect(m.equity - bufferMargin(m.maintenanceMargin), `${where}: quote E - BM of a running auction`).to.equal(
        q0.equity - q0.bufferMargin,
      );
    }
    const fundHeld = await f.fund.balance();
    const assetsBefore = await f.pool.totalAssets();
    const version = await currentVersion(f);
    await time.setNextBlockTimestamp(T);
    const tx = await engine.liquidate(id, fraction, q.price, this.botId, nonce);
    const r = await checkBid(
      f,
      tx,
      {
        accountId: id,
        bidderAccountId: this.botId,
        bidder: this.signer.address,
        fraction,
        figures: q0,
        auction,
        version,
        inputs,
        fundHeld,
      },
      where,
    );
    expect([r.t, r.price], `${where}: bid time and price`).to.deep.equal([T, price]);
    if (r.starting) this.throughput.admit(inputs.positions, T);
    // Split insolvent bids share one cap: beyond their fractions of the deficit, all the bids of
    // one auction are paid at most INSOLVENT_PAYOUT_CAP (plus a wei of rounding per bid).
    if (r.starting) stats.beyondDeficit.delete(id);
    if (q0.markToMarket <= 0n) {
      const b = stats.beyondDeficit.get(id) ?? { paid: 0n, bids: 0 };
      b.paid += r.beyondDeficit;
      b.bids++;
      stats.beyondDeficit.set(id, b);
      if (b.bids === 2) stats.splitInsolventAuctions++;
      if (b.paid > stats.maxBeyondDeficit) stats.maxBeyondDeficit = b.paid;
      expect(b.paid <= LIQ.payoutCap + BigInt(b.bids), `${where}: one cap per auction (${b.paid})`).to.equal(true);
      // And the bid itself: beyond its share of the deficit, at most its share of AUCTION_DISCOUNT_CAP x
      // gross (a dust account earns dust, however many of them an attacker makes).
      const share = (fraction * ((gross * LIQ.discountCap) / WAD)) / WAD + 1n;
      expect(r.beyondDeficit <= share, `${where}: incentive within discountCap x gross (${r.beyondDeficit})`).to.equal(
        true,
      );
    }
    expect(await f.accounts.nonce(id), `${where}: nonce`).to.equal(nonce + 1n);
    const drift = (await f.pool.totalAssets()) - assetsBefore + r.poolPaid;
    const absDrift = abs(drift);
    stats.poolDrift += absDrift;
    if (absDrift > stats.maxPoolDrift) stats.maxPoolDrift = absDrift;
    stats.bids++;
    if (r.starting) stats.starts++;
    if (r.refreshed) stats.refreshedBids++;
    if (fraction < terms.bufferFraction) stats.capacityBids++;
    if (q0.markToMarket <= 0n) stats.insolventBids++;
    if (r.ended) stats.ended++;
    stats.fees += r.fee;
    stats.fundPaid += r.fundPaid;
    stats.poolPaid += r.poolPaid;
    stats.liquidated.add(id);
    return r.ended;
  }

  /**
   * Scans until nothing is left to do (or `maxPasses` passes), waiting out the insolvent ramp when
   * something waits on it. Returns how many accounts wait for the next window and how many
   * auctions still run.
   */
  async work(where: string, maxPasses?: number): Promise<{ throttled: number; running: number }> {
    const limit = maxPasses ?? 40;
    let r = { acted: 0, waiting: 0, throttled: 0, running: 0 };
    for (let pass = 0; pass < limit; pass++) {
      r = await this.scan(`${where} pass ${pass}`);
      if (r.waiting > 0) {
        await time.increase(Number(LIQ.ramp));
        continue;
      }
      if (r.acted === 0) return { throttled: r.throttled, running: r.running };
    }
    if (maxPasses === undefined) throw new Error(`${where}: the bot did not settle in ${limit} passes`);
    return { throttled: r.throttled, running: r.running };
  }

  /** Closes every position the bot received, at any price (one second apart: every bot transaction is timed). */
  async closePositions() {
    const { f } = this;
    for (const marketId of await f.perps.accountMarkets(this.botId)) {
      const size = (await f.perps.position(this.botId, marketId)).size;
      if (size === 0n) continue;
      await time.setNextBlockTimestamp((await latest()) + 1n);
      await f.perps
        .connect(this.signer)
        .modifyPosition(this.botId, marketId, -size, size > 0n ? 0n : ethers.MaxUint256);
    }
    expect((await f.perps.accountMarkets(this.botId)).length, "the bot is flat").to.equal(0);
  }
}
