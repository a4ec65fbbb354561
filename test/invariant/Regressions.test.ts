import { expect } from "chai";
import { runSequence } from "./run";
import type { Action } from "./actions";
import { buildWorld } from "./world";
import type { World } from "./world";

// Every sequence the invariant suite has failed on, shrunk, replayed as a named test. Each one
// below first failed a check that was stated too strictly; the protocol was right, and the check
// (test/invariant/checks.ts) now says precisely what the protocol guarantees. The sequences stay
// here so that the behaviour they pin down keeps holding.
describe("Invariants: regressions (shrunk sequences the suite once failed on)", function () {
  this.timeout(0);
  let world: World;
  before(async function () {
    world = await buildWorld();
  });

  const replay = (actions: Action[]) => async () => {
    expect(await runSequence(world, actions)).to.equal(actions.length);
  };

  it(
    "a deposit of WETH while the sequencer is down leaves the account unvalued, never liquidatable (seed 1)",
    replay([
      { kind: "sequencer", up: false },
      { kind: "deposit", trader: 0, acct: 0, token: 1, bps: 1 },
      { kind: "liquidate", target: 0, mode: 0, bps: 1 },
    ]),
  );

  it(
    "a small short against a long skew earns the skew rebate: the pool's assets fall by the trader's gain only (seed 3)",
    replay([
      { kind: "perp", trader: 0, acct: 0, market: 0, levBps: 96027 },
      { kind: "perp", trader: 0, acct: 1, market: 0, levBps: -30 },
      { kind: "price", market: 0, moveBps: 0 },
    ]),
  );

  it(
    "an auction whose account a deposit lifts back above MM prices from a fresh curve (seed 4)",
    replay([
      { kind: "price", market: 0, moveBps: -431 },
      { kind: "perp", trader: 2, acct: 1, market: 0, levBps: 153731 },
      { kind: "withdraw", trader: 1, acct: 0, token: 1, bps: 2959 },
      { kind: "startAuction", target: 5 },
      { kind: "price", market: 0, moveBps: -777 },
      { kind: "option", trader: 0, acct: 0, series: 3, tenths: 11 },
      { kind: "perp", trader: 2, acct: 0, market: 0, levBps: -126279 },
      { kind: "lpRequest", lp: 1, bps: 2490 },
      { kind: "perp", trader: 0, acct: 1, market: 1, levBps: 117264 },
      { kind: "price", market: 1, moveBps: -412 },
      { kind: "liquidate", target: 3, mode: 2, bps: 8159 },
      { kind: "time", seconds: 256439 },
      { kind: "lpDeposit", lp: 0, bps: 11276 },
      { kind: "price", market: 0, moveBps: 115 },
      { kind: "price", market: 0, moveBps: 293 },
      { kind: "withdraw", trader: 3, acct: 0, token: 0, bps: 2334 },
      { kind: "volatility", market: 0 },
      { kind: "close", trader: 1, acct: 0, market: 1, bps: 4451 },
      { kind: "deposit", trader: 0, acct: 1, token: 2, bps: 101 },
      { kind: "deposit", trader: 2, acct: 1, token: 1, bps: 1458 },
    ]),
  );
});
