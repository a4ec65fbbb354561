/**
 * The actions of the invariant suite: what each actor may try, as small abstract records (indices,
 * basis points) that fast-check generates and shrinks, and how one is carried out against the
 * world at an exact timestamp.
 */
import fc from "fast-check";
import { ethers } from "hardhat";
import type { ContractTransactionResponse, TransactionReceipt } from "ethers";
import { paramIndex } from "../../scripts/lib/params";
import { WAD } from "../helpers/marginModel";
import { BANDS, MARKETS, mineAt, read, setNextTime } from "./world";
import type { Snapshot, World } from "./world";

export type Action =
  | { kind: "deposit"; trader: number; acct: number; token: number; bps: number }
  | { kind: "withdraw"; trader: number; acct: number; token: number; bps: number }
  | { kind: "transfer"; trader: number; from: number; token: number; bps: number }
  | { kind: "perp"; trader: number; acct: number; market: number; levBps: number }
  | { kind: "close"; trader: number; acct: number; market: number; bps: number }
  | { kind: "option"; trader: number; acct: number; series: number; tenths: number }
  | { kind: "price"; market: number; moveBps: number }
  | { kind: "time"; seconds: number }
  | { kind: "band"; market: number; top: boolean }
  | { kind: "sequencer"; up: boolean }
  | { kind: "liquidate"; target: number; mode: number; bps: number }
  | { kind: "startAuction"; target: number }
  | { kind: "terminate"; target: number }
  | { kind: "restart"; target: number }
  | { kind: "settleSeries"; series: number }
  | { kind: "settlePosition"; target: number; series: number }
  | { kind: "lpDeposit"; lp: number; bps: number }
  | { kind: "lpRequest"; lp: number; bps: number }
  | { kind: "lpRedeem"; lp: number; bps: number }
  | { kind: "lpCancel"; lp: number }
  | { kind: "keeper"; which: number; bps: number }
  | { kind: "guardian"; feature: number; scope: number; pause: boolean }
  | { kind: "governance"; which: number; bps: number }
  | { kind: "volatility"; market: number }
  | { kind: "reconcile" }
  | { kind: "attack"; variant: number; victim: number; bps: number };

/** Parameters governance moves (through its admin role, inside the hard bounds): [name, scope]. */
export const GOVERNED: [string, "eth" | "btc" | "weth" | "global"][] = [
  ["MM_FLOOR", "eth"],
  ["IM_MULTIPLIER", "btc"],
  ["TAKER_FEE", "eth"],
  ["MAX_FUNDING_VELOCITY", "eth"],
  ["SKEW_SCALE", "btc"],
  ["LIQUIDATION_FEE", "global"],
  ["AUCTION_START_DISCOUNT", "global"],
  ["DUST_THRESHOLD", "global"],
  ["INSURANCE_FLOOR", "global"],
  ["IMPLIED_VOL", "weth"],
  ["SHORT_OPTION_MM_SPOT", "weth"],
];
/** What the risk keeper moves inside its band: [name, scope]. */
const KEPT: [string, "eth" | "btc" | "weth" | "wbtc"][] = [
  ["MAX_OI_LONG", "eth"],
  ["MAX_OI_SHORT", "eth"],
  ["MAX_OI_LONG", "btc"],
  ["MAX_OI_SHORT", "btc"],
  ["IMPLIED_VOL", "weth"],
  ["IMPLIED_VOL", "wbtc"],
];
const ATTACKS = 10;

const trader = fc.integer({ min: 0, max: 3 });
const acct = fc.integer({ min: 0, max: 1 });
const token = fc.integer({ min: 0, max: 2 });
const bps = fc.integer({ min: 1, max: 12_000 });
const market = fc.integer({ min: 0, max: 1 });
const lp = fc.integer({ min: 0, max: 1 });
/** Indices into world.ids (traders' accounts, then the liquidator's, then the attacker's). */
const target = fc.integer({ min: 0, max: 9 });
const series = fc.integer({ min: 0, max: 3 });

/** Price moves: mostly small, sometimes large, now and then a gap. */
const move = fc.oneof(
  { weight: 6, arbitrary: fc.integer({ min: -500, max: 500 }) },
  { weight: 3, arbitrary: fc.integer({ min: -1_500, max: 1_500 }) },
  { weight: 1, arbitrary: fc.integer({ min: -4_000, max: 4_000 }) },
);
/** Time: mostly seconds to an hour, sometimes hours, and often enough days to reach expiries. */
const seconds = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 3_600 }) },
  { weight: 2, arbitrary: fc.integer({ min: 3_600, max: 8 * 3_600 }) },
  { weight: 3, arbitrary: fc.integer({ min: 86_400, max: 3 * 86_400 }) },
);

export const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("deposit" as const), trader, acct, token, bps }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("withdraw" as const), trader, acct, token, bps }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("transfer" as const), trader, from: acct, token, bps }) },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant("perp" as const),
      trader,
      acct,
      market,
      // Notional as a multiple of equity (basis points): mostly 2x-16x either way, the top of it
      // beyond IM (refused).
      levBps: fc.oneof(fc.integer({ min: 20_000, max: 160_000 }), fc.integer({ min: -160_000, max: -20_000 })),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant("close" as const), trader, acct, market, bps }) },
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("option" as const),
      trader,
      acct,
      series,
      tenths: fc.integer({ min: -30, max: 30 }).filter((x) => x !== 0),
    }),
  },
  { weight: 10, arbitrary: fc.record({ kind: fc.constant("price" as const), market, moveBps: move }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant("time" as const), seconds }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("band" as const), market, top: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("sequencer" as const),
      up: fc.oneof({ weight: 2, arbitrary: fc.constant(true) }, fc.constant(false)),
    }),
  },
  {
    weight: 10,
    arbitrary: fc.record({
      kind: fc.constant("liquidate" as const),
      target,
      mode: fc.integer({ min: 0, max: 2 }),
      bps: fc.integer({ min: 1, max: 10_000 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("startAuction" as const), target }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("terminate" as const), target }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("restart" as const), target }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("settleSeries" as const), series }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("settlePosition" as const), target, series }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("lpDeposit" as const), lp, bps }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("lpRequest" as const), lp, bps }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("lpRedeem" as const), lp, bps }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("lpCancel" as const), lp }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("keeper" as const),
      which: fc.integer({ min: 0, max: 5 }),
      bps: fc.integer({ min: -6_000, max: 6_000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("guardian" as const),
      feature: fc.integer({ min: 0, max: 2 }),
      scope: market,
      pause: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("governance" as const),
      which: fc.integer({ min: 0, max: GOVERNED.length - 1 }),
      bps: fc.integer({ min: -5_000, max: 5_000 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("volatility" as const), market }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("reconcile" as const) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant("attack" as const),
      variant: fc.integer({ min: 0, max: ATTACKS - 1 }),
      victim: fc.integer({ min: 0, max: 8 }),
      bps,
    }),
  },
);

/** What a step did, for the invariants. */
export interface StepRecord {
  action: Action;
  /** Prices, time, volatility or governance moved: health may change without any account acting. */
  exogenous: boolean;
  /** Indices into world.ids of the accounts the step may legitimately change. */
  touched: number[];
  /** The accounts acted upon by (or for) their owner: a success leaves them at least as healthy as MM. */
  voluntary: number[];
  /** The revert's error name, when the transaction reverted. */
  reverted?: string;
  /** The revert's decoded arguments. */
  revertArgs?: unknown[];
  /** An error the step must revert with (name, then its exact arguments). */
  expect?: { name: string; args: unknown[] };
  receipt?: TransactionReceipt | null;
  /** For a bid: the target and the quote before it (at the same timestamp). */
  bid?: { target: number; equity: bigint; bufferMargin: bigint };
  /** Donations that bypass accounting: holder index -> token index -> amount. */
  donation?: { holder: number; token: number; amount: bigint };
  lpFlow?: boolean;
  time: bigint;
}

const GAS = { gasLimit: 15_000_000 };
const TOKEN_BASE = [10_000n * 10n ** 6n, 5n * 10n ** 18n, 2n * 10n ** 7n];
const I256_MAX = 2n ** 255n - 1n;

/** Runs one action at its own timestamp; the caller reads `before` with blockTag pending first. */
export async function execute(w: World, action: Action, before: Snapshot, t: bigint): Promise<StepRecord> {
  const rec: StepRecord = { action, exogenous: false, touched: [], voluntary: [], time: t };
  const f = w.f;
  const traderIdx = (trader: number, acct: number) => trader * 2 + acct;
  // Plain arrays: ethers' Result species do not survive flatMap.
  const accountsOf = Array.from(before[0]);
  const send = async (tx: () => Promise<ContractTransactionResponse>) => {
    await setNextTime(t);
    try {
      const sent = await tx();
      rec.receipt = await sent.wait();
    } catch (e) {
      const decoded = decodeRevert(w, e);
      rec.reverted = decoded.name;
      rec.revertArgs = decoded.args;
    }
  };

  switch (action.kind) {
    case "deposit":
    case "withdraw": {
      const i = traderIdx(action.trader, action.acct);
      const s = w.traders[action.trader].signer;
      const base = action.kind === "deposit" ? TOKEN_BASE[action.token] : balanceOrBase(before, i, action.token);
      const amount = (base * BigInt(action.bps)) / 10_000n;
      rec.touched = [i];
      rec.voluntary = [i];
      await send(() =>
        action.kind === "deposit"
          ? f.accounts.connect(s).deposit(w.ids[i], w.tokens[action.token], amount, GAS)
          : f.accounts.connect(s).withdraw(w.ids[i], w.tokens[action.token], amount, GAS),
      );
      break;
    }
    case "transfer": {
      const from = traderIdx(action.trader, action.from);
      const to = traderIdx(action.trader, 1 - action.from);
      const amount = (balanceOrBase(before, from, action.token) * BigInt(action.bps)) / 10_000n;
      rec.touched = [from, to];
      rec.voluntary = [from, to];
      await send(() =>
        f.accounts
          .connect(w.traders[action.trader].signer)
          .transfer(w.ids[from], w.ids[to], w.tokens[action.token], amount, GAS),
      );
      break;
    }
    case "perp":
    case "close": {
      const i = traderIdx(action.trader, action.acct);
      // An isolated account trades the market it is bound to (WrongMarket is tested elsewhere).
      const market = action.acct === 1 ? boundMarket(action.trader) : action.market;
      const marketId = MARKETS[market];
      const view = accountsOf[i];
      let size: bigint;
      if (action.kind === "perp") {
        const equity = view.valued && view.equity > 0n ? view.equity : 10_000n * WAD;
        const price = (await w.feeds[market].latestRoundData())[1] * 10n ** 10n;
        size = (((equity * BigInt(action.levBps)) / 10_000n) * WAD) / (price > 0n ? price : 1n);
        size = (size / 10n ** 12n) * 10n ** 12n;
      } else {
        size = (-view.perps[market].size * BigInt(Math.min(action.bps, 10_000))) / 10_000n;
      }
      rec.touched = [i];
      rec.voluntary = [i];
      await send(() =>
        f.perps
          .connect(w.traders[action.trader].signer)
          .modifyPosition(w.ids[i], marketId, size, size > 0n ? ethers.MaxUint256 : 0n, GAS),
      );
      break;
    }
    case "option": {
      const i = traderIdx(action.trader, action.acct);
      // An isolated account trades only series on its market's underlying.
      const choices = w.series.filter(
        (x) => action.acct === 0 || x.underlying === w.underlyings[boundMarket(action.trader)],
      );
      const series = choices[action.series % choices.length];
      const amount = (BigInt(action.tenths) * WAD) / 10n;
      rec.touched = [i];
      rec.voluntary = [i];
      await send(() =>
        f.options
          .connect(w.traders[action.trader].signer)
          .tradeOption(w.ids[i], series.id, amount, amount > 0n ? ethers.MaxUint256 : 0n, GAS),
      );
      break;
    }
    case "price": {
      rec.exogenous = true;
      const feed = w.feeds[action.market];
      const [, answer] = await feed.latestRoundData();
      const [lo, hi] = BANDS[action.market];
      const inBand = answer > lo && answer < hi ? answer : action.market === 0 ? 300_000_000_000n : 6_000_000_000_000n;
      let next = (inBand * BigInt(10_000 + action.moveBps)) / 10_000n;
      if (next <= lo) next = lo + 1n;
      if (next >= hi) next = hi - 1n;
      await send(() => feed.push(next, GAS));
      break;
    }
    case "time":
      rec.exogenous = true;
      await mineAt(t);
      break;
    case "band": {
      rec.exogenous = true;
      const [lo, hi] = BANDS[action.market];
      await send(() => w.feeds[action.market].push(action.top ? hi : lo, GAS));
      break;
    }
    case "sequencer": {
      rec.exogenous = true;
      const round = (await w.sequencer.latestRoundData())[0] + 1n;
      await send(() => w.sequencer.setRound(round, action.up ? 0n : 1n, t, t, round, GAS));
      break;
    }
    case "liquidate": {
      // Mostly an account below MM (the bot's pick), sometimes any account.
      const below = accountsOf.flatMap((v, k) => (v.valued && v.equity < BigInt(v.maintenanceMargin) ? [k] : []));
      const target = below.length > 0 && action.bps % 5 !== 0 ? below[action.target % below.length] : action.target;
      const bidder = w.liquidator;
      rec.touched = [target, w.ids.indexOf(bidder.accounts[0])];
      const pre = await quoteBefore(w, target);
      let fraction = (WAD * BigInt(action.bps)) / 10_000n;
      if (pre !== null && action.mode === 0) fraction = pre.maxFraction;
      else if (pre !== null && action.mode === 1) fraction = (pre.maxFraction * BigInt(action.bps)) / 10_000n;
      if (pre !== null) {
        rec.bid = {
          target,
          equity: pre.equity,
          bufferMargin: pre.bufferMargin,
        };
      }
      if (fraction === 0n) fraction = 1n;
      await send(() =>
        f.liquidation
          .connect(bidder.signer)
          .liquidate(w.ids[target], fraction, I256_MAX, bidder.accounts[0], accountsOf[target].nonce, GAS),
      );
      break;
    }
    case "startAuction":
      rec.touched = [action.target];
      await send(() => f.liquidation.connect(w.liquidator.signer).startAuction(w.ids[action.target], GAS));
      break;
    case "terminate":
      await send(() => f.liquidation.connect(w.attacker.signer).terminateAuction(w.ids[action.target], GAS));
      break;
    case "restart":
      await send(() => f.liquidation.connect(w.attacker.signer).restartAuction(w.ids[action.target], GAS));
      break;
    case "settleSeries": {
      // Fixing the settlement price moves the pool's liability from the live value to the payoff.
      rec.exogenous = true;
      // Mostly a series past expiry and not settled yet (the keeper's pick), sometimes any.
      const due = w.series.flatMap((x, k) => (x.expiry <= t && !before[1].series[k].settled ? [k] : []));
      const s = w.series[due.length > 0 && action.series % 4 !== 3 ? due[action.series % due.length] : action.series];
      const round = await settlementRound(s.feed, s.expiry);
      if (round === 0n || action.series % 2 === 1) {
        // No provable round (or governance stepping in after the grace): the timelock's price.
        const [, answer] = await s.feed.latestRoundData();
        await send(() => f.options.connect(w.admin).settleSeriesByGovernance(s.id, answer * 10n ** 10n, GAS));
      } else {
        await send(() => f.options.connect(w.liquidator.signer).settleSeries(s.id, round, GAS));
      }
      break;
    }
    case "settlePosition": {
      // Permissionless by design: once a series is settled, anyone books its payoff. Mostly a
      // position in a settled series, sometimes any pair.
      const open = w.series.flatMap((_, k) =>
        before[1].series[k].settled ? accountsOf.flatMap((v, i) => (v.options[k] !== 0n ? [[i, k]] : [])) : [],
      );
      const [i, k] =
        open.length > 0 ? open[(action.target + action.series) % open.length] : [action.target, action.series];
      rec.touched = [i];
      await send(() => f.options.connect(w.attacker.signer).settlePosition(w.ids[i], w.series[k].id, GAS));
      break;
    }
    case "lpDeposit": {
      rec.lpFlow = true;
      const amount = (100_000n * 10n ** 6n * BigInt(action.bps)) / 10_000n;
      const who = w.lps[action.lp];
      await send(() => f.pool.connect(who).deposit(amount, who.address, GAS));
      break;
    }
    case "lpRequest": {
      const who = w.lps[action.lp];
      const shares = ((await f.pool.balanceOf(who.address)) * BigInt(Math.min(action.bps, 10_000))) / 10_000n;
      await send(() => f.pool.connect(who).requestRedeem(shares, GAS));
      break;
    }
    case "lpRedeem": {
      rec.lpFlow = true;
      const who = w.lps[action.lp];
      const shares = ((await f.pool.redeemRequest(who.address)).shares * BigInt(action.bps)) / 10_000n;
      await send(() => f.pool.connect(who).redeem(shares, who.address, who.address, GAS));
      break;
    }
    case "lpCancel":
      await send(() => f.pool.connect(w.lps[action.lp]).cancelRedeem(GAS));
      break;
    case "keeper": {
      rec.exogenous = true;
      const [name, scopeName] = KEPT[action.which];
      const scope = scopeOf(w, scopeName);
      const current = await f.riskConfig.get(paramIndex(name), scope);
      const value = (current * BigInt(10_000 + action.bps)) / 10_000n;
      await send(() => f.riskConfig.connect(w.keeper).keeperSetParameter(paramIndex(name), scope, value, GAS));
      break;
    }
    case "guardian": {
      // Feature.OpenPosition is scoped by market id, ListSeries by underlying, Deposit by a non-settlement collateral.
      const scope =
        action.feature === 0
          ? BigInt(MARKETS[action.scope])
          : BigInt(action.feature === 1 ? w.underlyings[action.scope] : w.tokens[1 + action.scope]);
      await send(() => f.riskConfig.connect(w.guardian).setPaused(action.feature, scope, action.pause, GAS));
      break;
    }
    case "governance": {
      rec.exogenous = true;
      const [name, scopeName] = GOVERNED[action.which];
      const scope = scopeOf(w, scopeName);
      const index = paramIndex(name);
      const current = await f.riskConfig.get(index, scope);
      const [lo, hi] = await f.riskConfig.bounds(index);
      let value = (current * BigInt(10_000 + action.bps)) / 10_000n;
      if (value < lo) value = lo;
      if (value > hi) value = hi;
      await send(() => f.riskConfig.connect(w.admin).setParameter(index, scope, value, GAS));
      break;
    }
    case "volatility":
      rec.exogenous = true;
      await send(() => f.volatility.connect(w.attacker.signer).update(w.underlyings[action.market], GAS));
      break;
    case "reconcile":
      await send(() => f.fund.connect(w.attacker.signer).reconcile(GAS));
      break;
    case "attack":
      await attack(w, action, rec, send);
      break;
  }
  return rec;
}

type Send = (tx: () => Promise<ContractTransactionResponse>) => Promise<void>;

/** The attacker's moves: each must revert with exactly the error named, or (donations) change no account. */
async function attack(w: World, a: Extract<Action, { kind: "attack" }>, rec: StepRecord, send: Send) {
  const f = w.f;
  const me = w.attacker.signer;
  const mine = w.attacker.accounts[0];
  const victim = w.ids[a.victim];
  const unauthorized = (role: string) => {
    rec.expect = { name: "AccessControlUnauthorizedAccount", args: [me.address, role] };
  };
  switch (a.variant) {
    case 0:
      rec.expect = { name: "NotAuthorized", args: [victim, me.address] };
      await send(() => f.accounts.connect(me).withdraw(victim, w.tokens[0], 1n, GAS));
      break;
    case 1:
      rec.expect = { name: "NotAuthorized", args: [victim, me.address] };
      await send(() => f.perps.connect(me).modifyPosition(victim, MARKETS[a.bps % 2], -(10n ** 16n), 0n, GAS));
      break;
    case 2:
      rec.expect = { name: "NotAuthorized", args: [victim, me.address] };
      await send(() => f.accounts.connect(me).transfer(victim, mine, w.tokens[0], 1n, GAS));
      break;
    case 3:
      rec.expect = { name: "NotAuthorized", args: [victim, me.address] };
      await send(() => f.options.connect(me).tradeOption(victim, w.series[a.bps % 4].id, -(10n ** 17n), 0n, GAS));
      break;
    case 4: {
      const n = await f.accounts.nonce(mine);
      rec.expect = { name: "SelfLiquidation", args: [mine, mine] };
      await send(() => f.liquidation.connect(me).liquidate(mine, WAD, I256_MAX, mine, n, GAS));
      break;
    }
    case 5: {
      // Bidding for someone else's bidder account.
      const n = (await read(w, "pending"))[0][a.victim].nonce;
      rec.expect = { name: "NotAuthorized", args: [w.liquidator.accounts[0], me.address] };
      await send(() => f.liquidation.connect(me).liquidate(victim, WAD, I256_MAX, w.liquidator.accounts[0], n, GAS));
      break;
    }
    case 6: {
      // A donation straight to the pool, the fund or MarginAccounts: no account's balance changes.
      const holder = [1, 2, 0][a.bps % 3];
      const amount = BigInt(a.bps) * 10n ** 6n;
      rec.donation = { holder, token: 0, amount };
      await send(() => f.usdc.connect(me).transfer(w.holders[holder], amount, GAS));
      break;
    }
    case 7:
      unauthorized(await f.riskConfig.DEFAULT_ADMIN_ROLE());
      await send(() => f.riskConfig.connect(me).setParameter(paramIndex("MM_FLOOR"), 1n, 10n ** 16n, GAS));
      break;
    case 8:
      unauthorized(await f.accounts.MARKET_ROLE());
      await send(() => f.accounts.connect(me).settle(victim, 10n ** 6n, 0n, GAS));
      break;
    default:
      unauthorized(await f.fund.DRAWER_ROLE());
      await send(() => f.fund.connect(me).draw(me.address, 1n, ethers.ZeroHash, GAS));
      break;
  }
}

/** Trader i's isolated account is bound to ETH (even i) or BTC (odd i): index into MARKETS. */
const boundMarket = (trader: number) => trader % 2;

function scopeOf(w: World, s: "eth" | "btc" | "weth" | "wbtc" | "global"): bigint {
  if (s === "eth") return BigInt(MARKETS[0]);
  if (s === "btc") return BigInt(MARKETS[1]);
  if (s === "weth") return BigInt(w.underlyings[0]);
  if (s === "wbtc") return BigInt(w.underlyings[1]);
  return 0n;
}

function balanceOrBase(s: Snapshot, i: number, token: number): bigint {
  const b = s[0][i].balances[token];
  return b > 0n ? b : TOKEN_BASE[token];
}

async function quoteBefore(w: World, target: number) {
  try {
    return await w.f.liquidation.quote(w.ids[target], 0n, { blockTag: "pending" });
  } catch {
    return null;
  }
}

/** The first round at or after expiry whose predecessor is before it (0 if none yet). */
async function settlementRound(feed: World["feeds"][number], expiry: bigint): Promise<bigint> {
  let id = (await feed.latestRoundData())[0];
  let found = 0n;
  while (id > 0n) {
    const [, , , updatedAt] = await feed.getRoundData(id);
    if (updatedAt < expiry) break;
    found = id;
    id -= 1n;
  }
  return found;
}

/** Names a revert from any contract's ABI; Panic, Error(string) and empty reverts keep their kind. */
export function decodeRevert(w: World, e: unknown): { name: string; args: unknown[] } {
  const data = findData(e);
  if (data === undefined)
    return { name: `no revert data: ${String((e as Error).message ?? e).slice(0, 200)}`, args: [] };
  if (data === "0x") return { name: "empty revert", args: [] };
  for (const iface of w.errors) {
    try {
      const parsed = iface.parseError(data);
      if (parsed !== null) return { name: parsed.name, args: [...parsed.args] };
    } catch {
      // not this ABI's
    }
  }
  return { name: `unknown revert ${data.slice(0, 10)}`, args: [] };
}

function findData(e: unknown, depth = 0): string | undefined {
  if (e === null || typeof e !== "object" || depth > 6) return undefined;
  const o = e as Record<string, unknown>;
  if (typeof o.data === "string" && o.data.startsWith("0x")) return o.data;
  for (const key of ["error", "info", "cause", "data"]) {
    const found = findData(o[key], depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}
