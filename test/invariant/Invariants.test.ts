import fc from "fast-check";
import { actionArb } from "./actions";
import { runSequence } from "./run";
import type { Tally } from "./run";
import { buildWorld } from "./world";
import type { World } from "./world";

// Stateful fuzzing of the whole system; the invariants are listed in plain words in the README ("Invariants").
// The budget comes from the environment (npm run test:invariant -- --runs N --steps K --seed S sets
// it); the default is the CI budget.
const RUNS = Number(process.env.INVARIANT_RUNS ?? "80");
const STEPS = Number(process.env.INVARIANT_STEPS ?? "40");
// A fixed seed in `npm test` (CI replays the same sequences); npm run test:invariant picks a new one.
const SEED = Number(process.env.INVARIANT_SEED ?? "20261122");
const PATH = process.env.INVARIANT_PATH;

describe("Invariants: stateful fuzzing of the whole system", function () {
  this.timeout(0);
  let world: World;

  before(async function () {
    world = await buildWorld();
  });

  it(`holds every invariant after every step of ${RUNS} random sequences of ${STEPS} actions on average @stress`, async function () {
    let steps = 0;
    let sequences = 0;
    const started = Date.now();
    const tally: Tally = new Map();
    await fc.assert(
      fc.asyncProperty(
        fc.array(actionArb, { minLength: 1, maxLength: 2 * STEPS - 1, size: "max" }),
        async (actions) => {
          steps += await runSequence(world, actions, tally);
          sequences += 1;
        },
      ),
      { numRuns: RUNS, seed: SEED, path: PATH, endOnFailure: process.env.INVARIANT_NO_SHRINK === "1" },
    );
    console.log(`      ${sequences} sequences, ${steps} steps in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (process.env.INVARIANT_TALLY === "1") {
      for (const [kind, row] of [...tally].sort()) {
        const reverts = [...row.reverts].sort((a, b) => b[1] - a[1]).map(([n, c]) => `${n} ${c}`);
        console.log(`      ${kind.padEnd(15)} ok ${String(row.ok).padStart(5)}  ${reverts.join(", ")}`);
      }
    }
  });
});
