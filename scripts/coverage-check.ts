// Fails unless `npm run coverage` reported at least 98% lines and 95% branches for contracts/.
import fs from "node:fs";
import path from "node:path";
import { runMain } from "./lib/cli";

const MIN_LINES = 98;
const MIN_BRANCHES = 95;

interface Totals {
  lines: { pct: number };
  branches: { pct: number };
}

runMain("coverage:check", async () => {
  const file = path.join(__dirname, "..", "coverage", "coverage-summary.json");
  if (!fs.existsSync(file)) throw new Error(`${file} not found: run npm run coverage first`);
  const { total } = JSON.parse(fs.readFileSync(file, "utf8")) as { total: Totals };
  console.log(`contracts/ coverage: ${total.lines.pct}% lines, ${total.branches.pct}% branches`);
  if (total.lines.pct < MIN_LINES || total.branches.pct < MIN_BRANCHES) {
    throw new Error(`coverage below ${MIN_LINES}% lines / ${MIN_BRANCHES}% branches`);
  }
});
