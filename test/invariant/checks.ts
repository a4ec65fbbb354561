/**
 * The eight invariants of the issue, checked after every step against the probe's snapshots taken
 * just before the step (at its timestamp) and just after it, and the snapshot after the previous
 * step. Each failure names the invariant, the step and the figures.
 */
import { WAD, mulWadDown, mulWadUp } from "../helpers/marginModel";
import type { StepRecord } from "./actions";
import type { Snapshot, World } from "./world";

/** What the run has put into contracts outside their accounting (donations), per holder and token. */
export interface Ledger {
  /** USDC sent to the insurance fund's address and not reconciled yet. */
  unbookedFund: bigint;
  /** Tokens sent straight to MarginAccounts (sweepable excess), per token. */
  accountsExcess: bigint[];
}

export const newLedger = (): Ledger => ({ unbookedFund: 0n, accountsExcess: [0n, 0n, 0n] });

/** Reverts a step may end with without being a failure: anything but a panic, Error(string) or no data. */
const BROKEN = /^(Panic|Error|empty revert|no revert data|unknown revert)/;
/** Casts that only overflow when an amount is absurd (the suite's amounts never are). */
const CAST = /^SafeCast/;

export class InvariantError extends Error {}

function fail(n: string, rec: StepRecord, msg: string): never {
  throw new InvariantError(`invariant ${n} broken by ${JSON.stringify(rec.action)} at t=${rec.time}: ${msg}`);
}

const digest = (s: Snapshot, i: number) =>
  JSON.stringify(
    [
      s[0][i].nonce,
      [...s[0][i].balances],
      s[0][i].perps.map((p) => [p.size, p.cost, p.fundingSnapshot]),
      [...s[0][i].options],
    ],
    (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v),
  );

export function checkStep(
  w: World,
  ledger: Ledger,
  rec: StepRecord,
  prev: Snapshot,
  before: Snapshot,
  after: Snapshot,
) {
  checkRevert(rec);
  applyLedger(ledger, rec);
  checkConservation(w, ledger, rec, after);
  checkZeroSum(w, rec, after);
  checkIsolation(w, rec, before, after);
  checkHealth(w, rec, before, after);
  checkAuctions(w, rec, prev, after);
  checkPool(w, rec, before, after);
}

function checkRevert(rec: StepRecord) {
  if (rec.expect !== undefined) {
    if (rec.reverted === undefined) fail("4 (access)", rec, `the attack succeeded; expected ${rec.expect.name}`);
    const got = JSON.stringify([rec.reverted, rec.revertArgs], big);
    const want = JSON.stringify([rec.expect.name, rec.expect.args], big);
    if (got !== want) fail("4 (access)", rec, `reverted ${got}, expected ${want}`);
    return;
  }
  if (rec.reverted !== undefined && (BROKEN.test(rec.reverted) || CAST.test(rec.reverted))) {
    fail("0 (no unexplained revert)", rec, `reverted with ${rec.reverted} ${JSON.stringify(rec.revertArgs, big)}`);
  }
}

const big = (_: string, v: unknown) => (typeof v === "bigint" ? v.toString() : v);

function applyLedger(ledger: Ledger, rec: StepRecord) {
  if (rec.reverted !== undefined) return;
  if (rec.donation !== undefined) {
    if (rec.donation.holder === 2) ledger.unbookedFund += rec.donation.amount;
    if (rec.donation.holder === 0) ledger.accountsExcess[rec.donation.token] += rec.donation.amount;
  }
  if (rec.action.kind === "reconcile") ledger.unbookedFund = 0n;
}

/** 1. Every token is where the books say: nothing created, nothing lost, nothing left in a contract that books none. */
function checkConservation(w: World, ledger: Ledger, rec: StepRecord, s: Snapshot) {
  const [views, g] = s;
  for (let t = 0; t < w.tokens.length; t++) {
    const held = g.tokenBalances[t].reduce((x, y) => x + y, 0n);
    if (held !== w.supply[t]) fail("1 (conservation)", rec, `token ${t}: holders hold ${held}, supply ${w.supply[t]}`);
    let positive = 0n;
    let negative = 0n;
    for (const v of views) {
      if (v.balances[t] > 0n) positive += v.balances[t];
      else negative -= v.balances[t];
    }
    if (g.totalDeposits[t] !== positive) {
      fail("1 (conservation)", rec, `token ${t}: totalDeposits ${g.totalDeposits[t]} != sum of balances ${positive}`);
    }
    const inAccounts = g.tokenBalances[t][0];
    if (inAccounts !== positive + ledger.accountsExcess[t]) {
      fail(
        "1 (conservation)",
        rec,
        `token ${t}: MarginAccounts holds ${inAccounts}, books ${positive} + excess ${ledger.accountsExcess[t]}`,
      );
    }
    if (t === 0 && g.settlementDebt !== negative) {
      fail("1 (conservation)", rec, `settlementDebt ${g.settlementDebt} != sum of negative balances ${negative}`);
    }
    if (t !== 0 && negative !== 0n) fail("1 (conservation)", rec, `token ${t}: a negative balance`);
    for (let h = 3; h <= 6; h++) {
      if (g.tokenBalances[t][h] !== 0n)
        fail("1 (conservation)", rec, `${w.holderNames[h]} holds ${g.tokenBalances[t][h]} of token ${t}`);
    }
  }
  if (g.tokenBalances[0][2] !== g.fundBalance + ledger.unbookedFund) {
    fail(
      "1 (conservation)",
      rec,
      `fund holds ${g.tokenBalances[0][2]}, books ${g.fundBalance} + unreconciled ${ledger.unbookedFund}`,
    );
  }
}

/** 2. The pool's aggregate book is the sum of the positions: OI per side, cost, funding snapshots; option OI per series. */
function checkZeroSum(w: World, rec: StepRecord, s: Snapshot) {
  const [views, g] = s;
  g.markets.forEach((m, k) => {
    let long = 0n;
    let short = 0n;
    let cost = 0n;
    let funding = 0n;
    for (const v of views) {
      const p = v.perps[k];
      if (p.size > 0n) long += p.size;
      else short -= p.size;
      cost += p.cost;
      funding += mulWadDown(p.size, p.fundingSnapshot);
    }
    if (m.oiLong !== long || m.oiShort !== short) {
      fail("2 (zero-sum)", rec, `market ${k}: OI ${m.oiLong}/${m.oiShort}, positions ${long}/${short}`);
    }
    if (m.openCost !== cost) fail("2 (zero-sum)", rec, `market ${k}: openCost ${m.openCost}, positions ${cost}`);
    if (m.fundingSnapshotSum !== funding) {
      fail("2 (zero-sum)", rec, `market ${k}: fundingSnapshotSum ${m.fundingSnapshotSum}, positions ${funding}`);
    }
  });
  g.series.forEach((se, k) => {
    let long = 0n;
    let short = 0n;
    for (const v of views) {
      if (v.options[k] > 0n) long += v.options[k];
      else short -= v.options[k];
    }
    if (se.longOpenInterest !== long || se.shortOpenInterest !== short) {
      fail(
        "2 (zero-sum)",
        rec,
        `series ${k}: OI ${se.longOpenInterest}/${se.shortOpenInterest}, positions ${long}/${short}`,
      );
    }
  });
}

/** 4 and 7. An account the step had no right to touch is exactly as it was, and so is its valuation. */
function checkIsolation(w: World, rec: StepRecord, before: Snapshot, after: Snapshot) {
  for (let i = 0; i < w.ids.length; i++) {
    if (rec.reverted === undefined && rec.touched.includes(i)) continue;
    if (digest(before, i) !== digest(after, i)) {
      fail("4/7 (isolation)", rec, `account ${w.ids[i]} changed: ${digest(before, i)} -> ${digest(after, i)}`);
    }
    const b = before[0][i];
    const a = after[0][i];
    if (
      !rec.exogenous &&
      b.valued &&
      a.valued &&
      (a.equity !== b.equity || a.maintenanceMargin !== b.maintenanceMargin)
    ) {
      fail(
        "3/7 (isolation)",
        rec,
        `account ${w.ids[i]} untouched but revalued: equity ${b.equity} -> ${a.equity}, MM ${b.maintenanceMargin} -> ${a.maintenanceMargin}`,
      );
    }
  }
}

/** 3. Only prices, time, volatility or governance take an account from healthy to liquidatable. */
function checkHealth(w: World, rec: StepRecord, before: Snapshot, after: Snapshot) {
  if (rec.exogenous || rec.reverted !== undefined) return;
  for (const i of rec.voluntary) {
    const b = before[0][i];
    const a = after[0][i];
    if (!b.valued || b.equity < BigInt(b.maintenanceMargin)) continue;
    // An account that cannot be valued (a price it now needs is Down) cannot be liquidated either.
    if (a.valued && a.equity < BigInt(a.maintenanceMargin)) {
      fail(
        "3 (health)",
        rec,
        `account ${w.ids[i]} healthy before (E ${b.equity}, MM ${b.maintenanceMargin}), liquidatable after (E ${a.equity}, MM ${a.maintenanceMargin})`,
      );
    }
  }
  if (rec.bid !== undefined) {
    const bidder = rec.touched[1];
    const a = after[0][bidder];
    if (!a.valued || a.equity < BigInt(a.initialMargin)) {
      fail("3 (health)", rec, `the bidder ends below IM: E ${a.equity}, IM ${a.initialMargin}`);
    }
  }
}

/** 5. Auction prices only improve for the bidder with time; a bid never lowers E - BM of the account it takes from. */
function checkAuctions(w: World, rec: StepRecord, prev: Snapshot, after: Snapshot) {
  for (let i = 0; i < w.ids.length; i++) {
    const p = prev[0][i];
    const a = after[0][i];
    const same =
      p.auction.startTime !== 0n &&
      p.auction.startTime === a.auction.startTime &&
      p.auction.curveStart === a.auction.curveStart &&
      p.auction.version === a.auction.version;
    // An account back at or above MM is bid from a fresh curve (by design): the clock that only
    // runs one way is that of an account below MM.
    const below = (v: typeof a) => v.valued && v.equity < BigInt(v.maintenanceMargin);
    if (!same || !below(p) || !below(a)) continue;
    if (!p.insolvent && !a.insolvent && a.discount < p.discount) {
      fail("5 (auction)", rec, `account ${w.ids[i]}: discount fell ${p.discount} -> ${a.discount}`);
    }
    if (p.insolvent && a.insolvent && p.auction.remaining === a.auction.remaining) {
      // The whole payout's base: deficit + min(cap x remaining, discount cap x gross), each rounded down.
      const full = (v: typeof a) => {
        const cap = mulWadDown(w.insolventPayoutCap, v.auction.remaining);
        const proportional = mulWadDown(v.gross, w.discountCap);
        return -v.markToMarket + (proportional < cap ? proportional : cap);
      };
      // payout / full is the ramp's share of the way, rounded down: it never falls.
      if ((a.payout + 1n) * full(p) < p.payout * full(a)) {
        fail(
          "5 (auction)",
          rec,
          `account ${w.ids[i]}: insolvent payout share fell ${p.payout}/${full(p)} -> ${a.payout}/${full(a)}`,
        );
      }
    }
  }
  if (rec.bid !== undefined && rec.reverted === undefined) {
    const a = after[0][rec.bid.target];
    const bm = mulWadUp(a.maintenanceMargin, WAD + w.bufferRate);
    if (a.valued && a.equity - bm < rec.bid.equity - rec.bid.bufferMargin) {
      fail(
        "5 (auction)",
        rec,
        `the bid lowered E - BM: ${rec.bid.equity} - ${rec.bid.bufferMargin} -> ${a.equity} - ${bm}`,
      );
    }
  }
}

/** 6 and 8. Losses reach the pool only as evented socialized losses after the fund; shares are all owned; LP flows never move the share price against the pool. */
function checkPool(w: World, rec: StepRecord, before: Snapshot, after: Snapshot) {
  const b = before[1];
  const a = after[1];
  const held = a.poolShares.reduce((x, y) => x + y, 0n);
  if (held !== a.poolSupply) fail("8 (shares)", rec, `totalSupply ${a.poolSupply}, holders hold ${held}`);
  const socialized = socializedIn(w, rec);
  if (socialized > 0n && a.fundBalance > w.insuranceFloorUnits) {
    fail(
      "6 (loss order)",
      rec,
      `the pool paid ${socialized} while the fund held ${a.fundBalance} above its floor ${w.insuranceFloorUnits}`,
    );
  }
  if (!b.poolValued || !a.poolValued || rec.reverted !== undefined) return;
  const offset = 10n ** 6n;
  if (rec.lpFlow === true) {
    // (A' + 1) / (S' + 10^6) >= (A + 1) / (S + 10^6)
    if ((a.poolAssets + 1n) * (b.poolSupply + offset) < (b.poolAssets + 1n) * (a.poolSupply + offset)) {
      fail(
        "8 (shares)",
        rec,
        `share price fell on an LP flow: ${b.poolAssets}/${b.poolSupply} -> ${a.poolAssets}/${a.poolSupply}`,
      );
    }
    return;
  }
  if (rec.exogenous) return;
  if (a.poolSupply !== b.poolSupply)
    fail("8 (shares)", rec, `supply moved ${b.poolSupply} -> ${a.poolSupply} without an LP flow`);
  // Trader profit: what the accounts the step touched gained at mark (a skew rebate the pool paid
  // net of the fee, option payoffs), in whole units rounded up, plus the insurance fund's share of
  // that fee; the pool's claim on each market and on the options is rounded up to a unit on its
  // own, so its NAV moves by up to a unit per book (three) on a step that moves no value at all.
  let gained = 0n;
  for (const i of rec.touched) {
    const x = before[0][i];
    const y = after[0][i];
    if (x.valued && y.valued) gained += y.markToMarket - x.markToMarket;
  }
  let gainedUnits = gained > 0n ? (gained + 10n ** 12n - 1n) / 10n ** 12n : 0n;
  if (a.fundBalance > b.fundBalance) gainedUnits += a.fundBalance - b.fundBalance;
  if (a.poolAssets + socialized + gainedUnits + ROUNDING_UNITS < b.poolAssets) {
    fail(
      "6 (loss order)",
      rec,
      `pool assets fell ${b.poolAssets} -> ${a.poolAssets} with ${socialized} socialized and traders gaining ${gainedUnits}`,
    );
  }
}

/** The pool's claim on traders is rounded up to a unit per perp market and once for the options. */
const ROUNDING_UNITS = 3n;

function socializedIn(w: World, rec: StepRecord): bigint {
  if (rec.receipt == null) return 0n;
  const address = w.holders[3].toLowerCase();
  let total = 0n;
  for (const log of rec.receipt.logs) {
    if (log.address.toLowerCase() !== address) continue;
    const parsed = w.f.liquidation.interface.parseLog(log);
    if (parsed?.name === "LossSocialized") total += parsed.args.amount as bigint;
  }
  return total;
}
