// npm run test:invariant -- --runs N --steps K --seed S [--path P] [--tally] [--no-shrink]
// Runs the whole-system invariant suite (test/invariant) with a budget of its own: N random
// sequences of K actions on average from seed S. A failure prints fast-check's shrunk sequence
// with the seed and path that replay it (--seed S --path P).
import { spawnSync } from "node:child_process";
import { runMain } from "./lib/cli";
import { parseFlags } from "./lib/args";

const USAGE = "usage: npm run test:invariant -- [--runs N] [--steps K] [--seed S] [--path P] [--tally] [--no-shrink]";

function positive(name: string, value: string | boolean | undefined, fallback: string, min: number): string {
  if (value === undefined) return fallback;
  if (
    typeof value !== "string" ||
    !/^\d+$/.test(value) ||
    Number(value) < min ||
    !Number.isSafeInteger(Number(value))
  ) {
    throw new Error(`--${name} must be an integer of at least ${min}, got ${String(value)}`);
  }
  return value;
}

runMain("test:invariant", async () => {
  let flags;
  try {
    flags = parseFlags(process.argv.slice(2), {
      runs: { type: "string" },
      steps: { type: "string" },
      seed: { type: "string" },
      path: { type: "string" },
      tally: { type: "boolean" },
      "no-shrink": { type: "boolean" },
    });
  } catch (e) {
    throw new Error(`${(e as Error).message.split("\n")[0]} (${USAGE})`);
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    INVARIANT_RUNS: positive("runs", flags.runs, "80", 1),
    INVARIANT_STEPS: positive("steps", flags.steps, "40", 1),
    INVARIANT_SEED: positive("seed", flags.seed, String(Date.now() % 2 ** 31), 0),
    INVARIANT_TALLY: flags.tally === true ? "1" : "0",
    INVARIANT_NO_SHRINK: flags["no-shrink"] === true ? "1" : "0",
  };
  if (flags.path !== undefined) {
    if (typeof flags.path !== "string" || !/^\d+(:\d+)*$/.test(flags.path)) {
      throw new Error(`--path must be fast-check's replay path (numbers joined by ':'), got ${String(flags.path)}`);
    }
    env.INVARIANT_PATH = flags.path;
  }
  console.log(
    `invariants: ${env.INVARIANT_RUNS} sequences, ${env.INVARIANT_STEPS} steps on average, seed ${env.INVARIANT_SEED}`,
  );
  const run = spawnSync("npx", ["hardhat", "test", "test/invariant/Invariants.test.ts"], { env, stdio: "inherit" });
  if (run.status !== 0) throw new Error(`the invariant suite failed (seed ${env.INVARIANT_SEED}); see above`);
});
