// `npm run bench:stress [-- --accounts N --steps S]`: the stress runner's scale target, 1,000
// accounts through a 500-step path in at most 10 minutes. Runs the real CLI (local-fork mode: its
// own hardhat node, forked) on the first S rows of the May 2021 ETH crash (Binance 5-minute
// candles, the fall included) and prints the report's wall time and figures.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { runMain } from "./lib/cli";
import { SCENARIOS_DIR } from "./lib/stress/scenario";
import type { Report } from "./lib/stress/types";

const TARGET_SECONDS = 600;
const SOURCE = "eth-usd-2021-05-19.csv";
/** Row 240 is 2021-05-18 20:00 UTC; the 500 rows that follow hold the fall to 1,888 on 05-19. */
const FIRST_ROW = 240;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { accounts: { type: "string" }, steps: { type: "string" } } });
  const accounts = Number(values.accounts ?? "1000");
  const steps = Number(values.steps ?? "500");
  if (!Number.isInteger(accounts) || accounts < 1) throw new Error(`--accounts must be a positive integer`);
  if (!Number.isInteger(steps) || steps < 2 || steps > 900) throw new Error(`--steps must be 2..900`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-bench-stress-"));
  try {
    const rows = fs.readFileSync(path.join(SCENARIOS_DIR, SOURCE), "utf8").trim().split("\n");
    const csv = path.join(dir, `eth-bench-${steps}.csv`);
    fs.writeFileSync(csv, [rows[0], ...rows.slice(1 + FIRST_ROW, 1 + FIRST_ROW + steps)].join("\n") + "\n");
    const out = path.join(dir, "report");
    const r = spawnSync(
      path.join("node_modules", ".bin", "ts-node"),
      ["--transpile-only", "scripts/stress.ts", "--scenario", csv, "--accounts", String(accounts), "--out", out],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
    if (r.status !== 0) throw new Error(`the stress runner failed (exit ${r.status})`);
    const report = JSON.parse(fs.readFileSync(path.join(out, "report.json"), "utf8")) as Report;
    console.log(
      `\n${report.accounts} accounts x ${report.steps} steps (${SOURCE} rows ${FIRST_ROW + 1}-${FIRST_ROW + steps}): ` +
        `${report.wallSeconds} s wall, target ${TARGET_SECONDS} s ${report.wallSeconds <= TARGET_SECONDS ? "met" : "missed"}; ` +
        `${report.liquidations} bids, set-up ${report.details.setupSeconds} s, ${report.details.botPasses} bot passes`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runMain("bench:stress", main);
