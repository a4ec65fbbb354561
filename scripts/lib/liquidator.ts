// The liquidator bot: one implementation, run standalone against any RPC (scripts/liquidator.ts)
// and in-process by the stress runner (scripts/stress.ts).
//
// Each pass (`step`):
//   1. catches up on events: new accounts (AccountCreated) and accounts touched since the last
//      pass (any event of MarginAccounts, PerpMarket, OptionMarket or LiquidationEngine whose first
//      indexed topic is an account id);
//   2. re-reads, in batches through MarginLens.valuations, every account whose health could have
//      crossed maintenance margin since it was last read (see `couldHaveCrossed`);
//   3. for each account below MM, picks the fraction that maximizes expected profit after gas and
//      the cost of closing what it receives, simulates the bid and sends it (the account's nonce
//      is the front-running guard; a throughput-capped account waits for its window to end);
//   4. closes the perp positions it received.
// Every decision is one JSON line through `log`.
import type { Log, Provider, Signer } from "ethers";
import { isError } from "ethers";
import {
  LiquidationEngine__factory,
  MarginAccounts__factory,
  MarginLens__factory,
  PerpMarket__factory,
  PriceOracle__factory,
  VolatilityOracle__factory,
} from "../../typechain-types";
import type { LiquidationEngine, MarginAccounts, MarginLens, PerpMarket, PriceOracle } from "../../typechain-types";
import type { VolatilityOracle } from "../../typechain-types";

const WAD = 10n ** 18n;
const DAY = 86_400n;

/** The deployment addresses the bot needs (hardhat-deploy names). */
export interface BotAddresses {
  MarginAccounts: string;
  PerpMarket: string;
  OptionMarket: string;
  MarginLens: string;
  LiquidationEngine: string;
  PriceOracle: string;
  VolatilityOracle: string;
}

/** The contracts the bot reads, by hardhat-deploy name. */
export const BOT_CONTRACTS: readonly (keyof BotAddresses)[] = [
  "MarginAccounts",
  "PerpMarket",
  "OptionMarket",
  "MarginLens",
  "LiquidationEngine",
  "PriceOracle",
  "VolatilityOracle",
];

export interface BotOptions {
  signer: Signer;
  addresses: BotAddresses;
  /** The account the bot bids from (it must own or operate it and keep capital in it). */
  bidderAccountId: bigint;
  /** Skip bids whose expected profit is below this (USD). */
  minProfitUsd?: number;
  /** Simulate and log, never send. */
  dryRun?: boolean;
  /** Accounts per MarginLens.valuations call. */
  batchSize?: number;
  /** Re-read every account at least this often (seconds of chain time). */
  maxAgeSeconds?: number;
  /** Close the perp positions a bid brings in (default true). */
  closePositions?: boolean;
  /** First block to read events from (the deployment block). */
  fromBlock?: number;
  /** The settlement token's decimals (bid prices are in its units). */
  settlementDecimals?: number;
  /** Price of the chain's gas token in USD for the gas cost; default: the oracle's WETH mid. */
  gasTokenUsd?: () => Promise<number>;
  /** One JSON object per decision. */
  log?: (line: Record<string, unknown>) => void;
  /** Attempts per RPC call (transient errors only) and the first backoff in ms. */
  retries?: number;
  backoffMs?: number;
}

/** What the bot last read of an account, and at which prices. */
interface Reading {
  nonce: bigint;
  equity: bigint;
  maintenanceMargin: bigint;
  markToMarket: bigint;
  otherCollateral: bigint;
  options: number;
  /** `mark`: what the position moves at in a bid (the engine's side of the bracket: low for a long, high for a short). */
  positions: { marketId: bigint; underlying: string; size: bigint; notional: bigint; mark: bigint }[];
  /** Underlying -> the low/high/vol the reading was made at. */
  prices: Map<string, PricePoint>;
  readAt: bigint;
  ok: boolean;
}

interface PricePoint {
  low: bigint;
  high: bigint;
  vol: bigint;
  status: bigint;
}

export interface StepResult {
  block: number;
  accounts: number;
  read: number;
  belowMaintenance: number;
  /** Account ids the pass found below MM (before its bids). */
  below: bigint[];
  bids: number;
  /** Account ids still waiting below MM after this pass: those it neither bid on nor started. */
  liquidatable: bigint[];
  gasUsed: bigint;
}

export interface BidRecord {
  accountId: bigint;
  fraction: bigint;
  price: bigint;
  gasUsed: bigint;
  txHash: string;
  timestamp: bigint;
  /** The bid's receipt logs (Liquidated, LossSocialized, AuctionStarted... for reports). */
  logs: readonly Log[];
  /** The liquidated book's net direction in its largest position's market. */
  side: "long" | "short" | "flat";
}

/** Errors worth retrying: the node, not the call. */
export function isTransient(error: unknown): boolean {
  if (isError(error, "CALL_EXCEPTION") || isError(error, "INSUFFICIENT_FUNDS")) return false;
  if (isError(error, "NETWORK_ERROR") || isError(error, "SERVER_ERROR") || isError(error, "TIMEOUT")) return true;
  const text = String((error as { message?: unknown })?.message ?? error);
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|socket hang up|fetch failed|EPIPE/.test(text);
}

/** Runs `fn`, retrying transient RPC failures with exponential backoff. */
export async function withRetry<T>(fn: () => Promise<T>, retries = 5, backoffMs = 250): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= retries || !isTransient(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, backoffMs * 2 ** (attempt - 1)));
    }
  }
}

/** The custom error name and arguments of a revert, when the engine's ABI knows it. */
function revertOf(engine: LiquidationEngine, error: unknown): { name: string; args: string[] } | null {
  const data = (error as { data?: unknown })?.data;
  if (typeof data !== "string" || data.length < 10) return null;
  try {
    const parsed = engine.interface.parseError(data);
    if (parsed === null) return null;
    return { name: parsed.name, args: parsed.args.map((a: unknown) => String(a)) };
  } catch {
    return null;
  }
}

const usd = (wad: bigint) => Number(wad) / 1e18;

export class LiquidatorBot {
  readonly signer: Signer;
  readonly provider: Provider;
  readonly accounts: MarginAccounts;
  readonly perps: PerpMarket;
  readonly lens: MarginLens;
  readonly engine: LiquidationEngine;
  readonly oracle: PriceOracle;
  readonly volatility: VolatilityOracle;
  readonly bidderAccountId: bigint;
  private readonly opts: Required<Omit<BotOptions, "gasTokenUsd" | "signer" | "addresses" | "bidderAccountId">> & {
    gasTokenUsd?: () => Promise<number>;
  };
  private readonly optionMarketAddress: string;
  private readonly known = new Set<bigint>();
  private readonly readings = new Map<bigint, Reading>();
  private readonly touched = new Set<bigint>();
  /** Accounts refused by the throughput cap, with the end of the window they wait for. */
  private readonly waitUntil = new Map<bigint, bigint>();
  private nextBlock: number;
  private marketFees = new Map<bigint, { takerFee: bigint; maxFundingRate: bigint }>();
  private underlyings: string[] = [];
  private weth = "";
  /** What one pass reads at most once. */
  private pass: { gasPrice?: bigint; gasTokenUsd?: number } = {};
  /** Every bid this bot made (the stress runner's report reads it). */
  readonly bids: BidRecord[] = [];

  constructor(options: BotOptions) {
    this.signer = options.signer;
    if (options.signer.provider === null) throw new Error("the bot's signer has no provider");
    this.provider = options.signer.provider;
    const a = options.addresses;
    this.accounts = MarginAccounts__factory.connect(a.MarginAccounts, options.signer);
    this.perps = PerpMarket__factory.connect(a.PerpMarket, options.signer);
    this.lens = MarginLens__factory.connect(a.MarginLens, options.signer);
    this.engine = LiquidationEngine__factory.connect(a.LiquidationEngine, options.signer);
    this.oracle = PriceOracle__factory.connect(a.PriceOracle, options.signer);
    this.volatility = VolatilityOracle__factory.connect(a.VolatilityOracle, options.signer);
    this.optionMarketAddress = a.OptionMarket;
    this.bidderAccountId = options.bidderAccountId;
    this.nextBlock = options.fromBlock ?? 0;
    this.opts = {
      minProfitUsd: options.minProfitUsd ?? 0,
      dryRun: options.dryRun ?? false,
      batchSize: options.batchSize ?? 200,
      maxAgeSeconds: options.maxAgeSeconds ?? 6 * 3600,
      closePositions: options.closePositions ?? true,
      fromBlock: options.fromBlock ?? 0,
      settlementDecimals: options.settlementDecimals ?? 6,
      gasTokenUsd: options.gasTokenUsd,
      log: options.log ?? ((line) => console.log(JSON.stringify(line))),
      retries: options.retries ?? 5,
      backoffMs: options.backoffMs ?? 250,
    };
  }

  private rpc<T>(fn: () => Promise<T>): Promise<T> {
    return withRetry(fn, this.opts.retries, this.opts.backoffMs);
  }

  /** Reads what does not change between passes: markets, their fees and funding caps. */
  async init(): Promise<void> {
    const ids = await this.rpc(() => this.perps.marketIds());
    for (const id of ids) {
      const c = await this.rpc(() => this.perps.marketConfig(id));
      this.marketFees.set(BigInt(id), { takerFee: c.takerFee, maxFundingRate: c.maxFundingRate });
      const u = await this.rpc(() => this.perps.underlyingOf(id));
      if (!this.underlyings.includes(u)) this.underlyings.push(u);
    }
    this.weth = this.underlyings[0] ?? "";
    const owner = (await this.rpc(() => this.accounts.account(this.bidderAccountId))).owner;
    const me = await this.signer.getAddress();
    if (owner.toLowerCase() !== me.toLowerCase()) {
      throw new Error(`bidder account ${this.bidderAccountId} is owned by ${owner}, not by the bot's key ${me}`);
    }
  }

  /** Accounts the bot knows of. */
  get accountCount(): number {
    return this.known.size;
  }

  /** New accounts and touched accounts from the events since the last pass, up to `toBlock`. */
  private async catchUp(toBlock: number): Promise<void> {
    if (toBlock < this.nextBlock) return;
    const watched = [
      await this.accounts.getAddress(),
      await this.perps.getAddress(),
      this.optionMarketAddress,
      await this.engine.getAddress(),
    ].map((x) => x.toLowerCase());
    const created = this.accounts.interface.getEvent("AccountCreated").topicHash;
    const CHUNK = 5_000;
    for (let from = this.nextBlock; from <= toBlock; from += CHUNK) {
      const to = Math.min(toBlock, from + CHUNK - 1);
      const logs = await this.rpc(() => this.provider.getLogs({ address: watched, fromBlock: from, toBlock: to }));
      for (const log of logs) {
        if (log.topics.length < 2) continue;
        const id = BigInt(log.topics[1]);
        if (log.topics[0] === created && log.address.toLowerCase() === watched[0]) {
          this.known.add(id);
          this.touched.add(id);
        } else if (this.known.has(id)) {
          this.touched.add(id);
        }
      }
    }
    this.nextBlock = toBlock + 1;
  }

  /** The oracle's prices and the realized volatility of every underlying now. */
  private async pricesNow(): Promise<Map<string, PricePoint>> {
    const out = new Map<string, PricePoint>();
    for (const u of this.underlyings) {
      const p = await this.rpc(() => this.oracle.getPrice(u));
      const vol = await this.rpc(() => this.volatility.volatility(u));
      out.set(u, { low: p.low, high: p.high, vol, status: p.status });
    }
    return out;
  }

  /**
   * Whether the account's equity minus MM could have gone from its last reading to below zero.
   * Perps-only accounts move boundedly: a position's PnL by at most notional x r (r the relative
   * move of the price bracket's ends), other collateral by its value x r, funding by notional x
   * the market's maximum rate x elapsed time, MM by at most MM x ((1 + r)(1 + v) - 1) (MM is
   * notional x a ratio linear in volatility; v the relative rise of volatility). Re-read when
   * twice that bound reaches the headroom; accounts with options (non-linear, time decay),
   * touched by an event, near or below MM, priced at a changed status, or older than
   * maxAgeSeconds are always re-read.
   */
  private couldHaveCrossed(r: Reading, prices: Map<string, PricePoint>, now: bigint): boolean {
    if (!r.ok || r.options > 0 || r.equity <= BigInt(r.maintenanceMargin)) return true;
    if (now - r.readAt >= BigInt(this.opts.maxAgeSeconds)) return true;
    let worstMove = 0n; // WAD
    let worstVol = 0n; // WAD
    for (const [u, then] of r.prices) {
      const p = prices.get(u);
      if (p === undefined || p.status !== then.status) return true;
      const lowMove = (abs(p.low - then.low) * WAD) / then.low;
      const highMove = (abs(p.high - then.high) * WAD) / then.high;
      const move = lowMove > highMove ? lowMove : highMove;
      if (move > worstMove) worstMove = move;
      if (then.vol > 0n && p.vol > then.vol) {
        const rise = ((p.vol - then.vol) * WAD) / then.vol;
        if (rise > worstVol) worstVol = rise;
      }
    }
    const elapsed = now - r.readAt;
    let drop = (r.otherCollateral * worstMove) / WAD;
    for (const pos of r.positions) {
      const funding = this.marketFees.get(pos.marketId)?.maxFundingRate ?? WAD;
      drop += (pos.notional * worstMove) / WAD + (pos.notional * funding * elapsed) / (WAD * DAY);
    }
    const mmGrowth = ((WAD + worstMove) * (WAD + worstVol)) / WAD - WAD;
    drop += (r.maintenanceMargin * mmGrowth) / WAD;
    return 2n * drop >= r.equity - r.maintenanceMargin;
  }

  /** Reads the given accounts through the lens, in batches, and records the readings. */
  async read(ids: bigint[], prices: Map<string, PricePoint>, now: bigint): Promise<void> {
    for (let i = 0; i < ids.length; i += this.opts.batchSize) {
      const batch = ids.slice(i, i + this.opts.batchSize);
      const out = await this.rpc(() => this.lens.valuations(batch));
      for (const a of out) {
        const v = a.valuation;
        const positions = v.positions.map((p) => ({
          marketId: p.marketId,
          underlying: p.underlying,
          size: p.size,
          notional: p.notional,
          mark: p.size >= 0n ? p.price.low : p.price.high,
        }));
        this.readings.set(a.accountId, {
          nonce: a.nonce,
          equity: v.equity,
          maintenanceMargin: v.maintenanceMargin,
          markToMarket: v.markToMarket,
          otherCollateral: v.otherCollateral,
          options: Number(v.optionPositions),
          positions,
          prices,
          readAt: now,
          ok: a.ok,
        });
      }
    }
  }

  /** Re-reads the given accounts now, whatever the bound says (reports, health snapshots). */
  async refresh(ids: bigint[]): Promise<void> {
    const block = await this.rpc(() => this.provider.getBlock("latest"));
    if (block === null) throw new Error("the node returned no latest block");
    await this.read(ids, await this.pricesNow(), BigInt(block.timestamp));
  }

  /** The latest reading of an account (for reports), if any. */
  reading(id: bigint): { equity: bigint; maintenanceMargin: bigint; ok: boolean } | undefined {
    return this.readings.get(id);
  }

  /** One pass at the current head: catch up, re-read what could have crossed, bid, close. */
  async step(): Promise<StepResult> {
    const block = await this.rpc(() => this.provider.getBlock("latest"));
    if (block === null) throw new Error("the node returned no latest block");
    await this.catchUp(block.number);
    this.pass = {};
    const now = BigInt(block.timestamp);
    const prices = await this.pricesNow();
    const stale: bigint[] = [];
    for (const id of this.known) {
      if (id === this.bidderAccountId) continue;
      const r = this.readings.get(id);
      if (r === undefined || this.touched.has(id) || this.couldHaveCrossed(r, prices, now)) stale.push(id);
    }
    this.touched.clear();
    await this.read(stale, prices, now);

    const liquidatable: bigint[] = [];
    for (const id of this.known) {
      const r = this.readings.get(id);
      if (r !== undefined && r.ok && r.equity < BigInt(r.maintenanceMargin)) liquidatable.push(id);
    }
    let bids = 0;
    let gasUsed = 0n;
    for (const id of liquidatable) {
      const wait = this.waitUntil.get(id);
      if (wait !== undefined && now < wait) continue;
      const bid = await this.tryLiquidate(id, now);
      if (bid !== null) {
        bids++;
        gasUsed += bid.gasUsed;
        this.touched.add(id);
      }
    }
    if (bids > 0 && this.opts.closePositions && !this.opts.dryRun) await this.closeReceived();
    const stillBelow = liquidatable.filter((id) => !this.touched.has(id));
    return {
      block: block.number,
      accounts: this.known.size,
      read: stale.length,
      belowMaintenance: liquidatable.length,
      below: liquidatable,
      bids,
      liquidatable: stillBelow,
      gasUsed,
    };
  }

  /**
   * Bids for the account if it pays: the largest fraction allowed (profit is linear in the
   * fraction while gas is fixed), halved while the bidder's own margin check refuses it.
   */
  private async tryLiquidate(id: bigint, now: bigint): Promise<BidRecord | null> {
    const r = this.readings.get(id)!;
    const base = {
      account: id.toString(),
      health: r.maintenanceMargin === 0n ? null : Number((r.equity * 10_000n) / r.maintenanceMargin) / 10_000,
      equity: usd(r.equity),
      maintenanceMargin: usd(r.maintenanceMargin),
      prices: Object.fromEntries([...r.prices].map(([u, p]) => [u, usd((p.low + p.high) / 2n)])),
    };
    const full = await this.quoteOrSkip(id, WAD, base);
    if (full === null) return null;
    // A solvent account's allowance (the buffer fraction) moves with the clock and the prices:
    // bid a hair under it so the bid still fits when it lands a block later. The whole of what is
    // left (insolvent or dust) is bid exactly: a shaved remainder would be too small to take.
    let fraction = full.maxFraction < WAD ? (full.maxFraction * 995n) / 1000n : full.maxFraction;
    if (full.maxFraction === 0n) {
      // Nothing may be taken: either the start is refused (the throughput cap: wait for the
      // window to end) or the account is back at its buffer margin.
      if (!full.auctionRunning) {
        try {
          await this.rpc(() => this.engine.startAuction.staticCall(id));
        } catch (error) {
          return this.skipOnRevert(id, base, 0n, error);
        }
      }
      this.opts.log({ ...base, decision: "skip", reason: "no fraction may be taken now (at or above buffer margin)" });
      return null;
    }
    const scale = 10n ** BigInt(this.opts.settlementDecimals);
    const unit = 10n ** BigInt(18 - this.opts.settlementDecimals); // WAD USD per settlement unit
    const gas = liquidationGas(r);
    const gasUsd = (Number(gas * (await this.passGasPrice())) / 1e18) * (await this.gasTokenUsdCached());
    for (;;) {
      const price = bidPrice(full, fraction, unit);
      const closing = await this.closingCost(r, fraction);
      const received = (full.markToMarket * fraction) / WAD; // WAD USD
      const profit = usd(received) - Number(price) / Number(scale) - closing - gasUsd;
      const figures = {
        fraction: Number(fraction) / 1e18,
        insolvent: full.insolvent,
        discount: Number(full.discount) / 1e18,
        priceUnits: price.toString(),
        expectedProfitUsd: round2(profit),
        closingCostUsd: round2(closing),
        gasUsd: round2(gasUsd),
      };
      if (profit < this.opts.minProfitUsd) {
        // Start the clock: the discount (solvent) or the payout (insolvent) only grows once the
        // auction runs, and starting costs the bot nothing but gas.
        const started = !full.auctionRunning && !this.opts.dryRun && (await this.startAuction(id));
        this.opts.log({
          ...base,
          ...figures,
          decision: started ? "start-auction" : "skip",
          reason: "unprofitable",
          ...(started ? { tx: started } : {}),
        });
        return null;
      }
      // The price moves a little with the oracle bracket and funding until the bid lands: accept
      // 0.5% of it (the profit test above leaves room for that).
      const limit = price + abs(price) / 200n + 1n;
      const args = [id, fraction, limit, this.bidderAccountId, r.nonce] as const;
      // Simulate with eth_call (eth_estimateGas would also do, but costs Hardhat's network about
      // 50 MB of memory a call); the gas is priced from the book's size.
      try {
        await this.rpc(() => this.engine.liquidate.staticCall(...args));
      } catch (error) {
        const revert = revertOf(this.engine, error);
        if (revert?.name === "BidTooSmall" && fraction < full.maxFraction) {
          // The shaved bid fell under the smallest bid allowed: that minimum is the whole allowance.
          fraction = full.maxFraction;
          continue;
        }
        // The bidder's own IM check fails in the margin engine, whose errors this ABI lacks.
        if (this.isBidderMarginError(error)) {
          const smaller = fraction / 2n;
          if (smaller > 0n && smaller * 1000n >= full.maxFraction) {
            fraction = smaller;
            continue;
          }
          this.opts.log({ ...base, decision: "skip", reason: "the bidder account lacks margin for any fraction" });
          return null;
        }
        return this.skipOnRevert(id, base, fraction, error);
      }
      if (this.opts.dryRun) {
        this.opts.log({ ...base, ...figures, decision: "dry-run" });
        return null;
      }
      try {
        const tx = await this.engine.liquidate(...args, { gasLimit: (gas * 3n) / 2n });
        const receipt = await tx.wait();
        const block = receipt === null ? null : await this.provider.getBlock(receipt.blockNumber);
        const record: BidRecord = {
          accountId: id,
          fraction,
          price,
          gasUsed: receipt?.gasUsed ?? 0n,
          txHash: tx.hash,
          timestamp: BigInt(block?.timestamp ?? now),
          side: sideOf(r),
          logs: receipt?.logs ?? [],
        };
        this.bids.push(record);
        this.opts.log({ ...base, ...figures, decision: "bid", tx: tx.hash, gasUsed: Number(record.gasUsed) });
        return record;
      } catch (error) {
        return this.skipOnRevert(id, base, fraction, error);
      }
    }
  }

  /** The gas price, read once per pass. */
  private async passGasPrice(): Promise<bigint> {
    this.pass.gasPrice ??= (await this.rpc(() => this.provider.getFeeData())).gasPrice ?? 0n;
    return this.pass.gasPrice;
  }

  /** The gas token's USD price, read once per pass. */
  private async gasTokenUsdCached(): Promise<number> {
    this.pass.gasTokenUsd ??= await this.gasTokenUsd();
    return this.pass.gasTokenUsd;
  }

  /** Starts the account's auction; the transaction hash, or null when the start is refused. */
  private async startAuction(id: bigint): Promise<string | null> {
    try {
      await this.rpc(() => this.engine.startAuction.staticCall(id));
      const tx = await this.engine.startAuction(id, { gasLimit: liquidationGas(this.readings.get(id)!) });
      await tx.wait();
      this.touched.add(id);
      return tx.hash;
    } catch (error) {
      const revert = revertOf(this.engine, error);
      if (revert?.name === "ThroughputCapExceeded") this.waitUntil.set(id, BigInt(revert.args[3]));
      return null;
    }
  }

  private isBidderMarginError(error: unknown): boolean {
    return /InsufficientMargin/.test(String((error as { message?: unknown })?.message ?? ""));
  }

  private async quoteOrSkip(id: bigint, fraction: bigint, base: Record<string, unknown>) {
    try {
      return await this.rpc(() => this.engine.quote(id, fraction));
    } catch (error) {
      this.skipOnRevert(id, base, fraction, error);
      return null;
    }
  }

  /** Logs why a simulated or sent bid failed; a throughput refusal waits for its window's end. */
  private skipOnRevert(id: bigint, base: Record<string, unknown>, fraction: bigint, error: unknown): null {
    const revert = revertOf(this.engine, error);
    if (revert?.name === "ThroughputCapExceeded") this.waitUntil.set(id, BigInt(revert.args[3]));
    if (revert?.name === "NonceMismatch") this.touched.add(id);
    const reason = revert === null ? String((error as Error).message ?? error).split("\n")[0] : revert.name;
    this.opts.log({
      ...base,
      fraction: Number(fraction) / 1e18,
      decision: "skip",
      reason,
      ...(revert === null ? {} : { args: revert.args }),
    });
    return null;
  }

  /** USD cost of closing the perp positions a bid of `fraction` brings in: fee and price impact. */
  private async closingCost(r: Reading, fraction: bigint): Promise<number> {
    let cost = 0;
    for (const p of r.positions) {
      const size = (p.size * fraction) / WAD;
      if (size === 0n) continue;
      const fee = this.marketFees.get(p.marketId)?.takerFee ?? 0n;
      let impact = 0n;
      try {
        const fill = await this.rpc(() => this.perps.quoteFillPrice(Number(p.marketId), -size));
        // Closing a long sells at `fill`, a short buys at it: the loss against the mark it came in at.
        const loss = size > 0n ? p.mark - fill : fill - p.mark;
        impact = loss > 0n ? (abs(size) * loss) / WAD : 0n;
      } catch {
        impact = 0n; // Degraded or Down: the fee alone; the close waits for a usable price
      }
      cost += usd((((abs(size) * p.mark) / WAD) * fee) / WAD + impact);
    }
    // Options received are held to expiry or sold back at the pool's spread; count 2% of their
    // share of the account's value as that cost.
    if (r.options > 0) cost += Math.abs(usd((r.markToMarket * fraction) / WAD)) * 0.02;
    return cost;
  }

  private async gasTokenUsd(): Promise<number> {
    if (this.opts.gasTokenUsd !== undefined) return this.opts.gasTokenUsd();
    if (this.weth === "") return 0;
    const p = await this.rpc(() => this.oracle.getPrice(this.weth));
    return usd(p.price);
  }

  /** Closes every perp position of the bidder account at the market (1% slippage allowed). */
  async closeReceived(): Promise<void> {
    for (const marketId of await this.rpc(() => this.perps.accountMarkets(this.bidderAccountId))) {
      const size = (await this.rpc(() => this.perps.position(this.bidderAccountId, marketId))).size;
      if (size === 0n) continue;
      try {
        const fill = await this.rpc(() => this.perps.quoteFillPrice(marketId, -size));
        const limit = size > 0n ? (fill * 99n) / 100n : (fill * 101n) / 100n;
        const tx = await this.perps.modifyPosition(this.bidderAccountId, marketId, -size, limit, {
          gasLimit: 3_000_000,
        });
        await tx.wait();
        this.opts.log({ decision: "close", market: Number(marketId), size: Number(size) / 1e18, tx: tx.hash });
      } catch (error) {
        const message = String((error as Error).message ?? error).split("\n")[0];
        this.opts.log({ decision: "close-failed", market: Number(marketId), reason: message });
      }
    }
  }
}

/**
 * Gas of one bid on a book of this size, from the gas benchmarks (gas/snapshot.json: about 470,000
 * for one position into a fresh bidder, 1.6M for eight positions; an option adds the cost of its
 * pricing grid), with headroom; a send's gas limit is 1.5 times this.
 */
export function liquidationGas(r: { positions: unknown[]; options: number }): bigint {
  const gas = 500_000n + 150_000n * BigInt(r.positions.length) + 400_000n * BigInt(r.options);
  return gas > 7_000_000n ? 7_000_000n : gas;
}

/**
 * The engine's price of a bid of `fraction` from a quote of the whole account (the same formulas:
 * solvent, the bidder pays ceil(MtM x f x (1 - d)); insolvent, it is paid floor(payout x f)), in
 * settlement units.
 */
function bidPrice(
  q: { markToMarket: bigint; discount: bigint; payout: bigint },
  fraction: bigint,
  scale: bigint,
): bigint {
  if (q.markToMarket > 0n) {
    const share = divUp(q.markToMarket * fraction, WAD);
    return divUp(divUp(share * (WAD - q.discount), WAD), scale);
  }
  return -((q.payout * fraction) / WAD / scale);
}

function divUp(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

function sideOf(r: Reading): "long" | "short" | "flat" {
  let largest = r.positions[0];
  for (const p of r.positions) if (p.notional > largest.notional) largest = p;
  if (largest === undefined || largest.size === 0n) return "flat";
  return largest.size > 0n ? "long" : "short";
}

function abs(x: bigint): bigint {
  return x < 0n ? -x : x;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
