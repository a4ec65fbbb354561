// Writes the synthetic built-in scenarios into scenarios/ (their construction is documented in
// scenarios/README.md). Deterministic: re-running rewrites the same bytes, and the tests compare
// the committed files with syntheticScenarioFiles().
//   npx ts-node scripts/make-scenarios.ts
import fs from "fs";
import path from "path";
import { runMain } from "./lib/cli";
import { SCENARIOS_DIR } from "./lib/stress/scenario";
import { PricePoint } from "./lib/stress/types";

/** 2023-11-14 22:13:20 UTC: every synthetic path starts here. */
const START = 1_700_000_000;
const MINUTES_5 = 300;
const HOUR = 3600;

/** File name inside scenarios/ -> exact file content, for every generated scenario. */
export function syntheticScenarioFiles(): Record<string, string> {
  return {
    "gap-down-30.csv": toCsv(gapDown(), true),
    "slow-bleed-60.csv": toCsv(slowBleed(), false),
    "stale-feed-crash.json": toJson(staleFeedCrash()),
    "sequencer-outage.json": toJson(sequencerOutage()),
    "pump-and-dump.csv": toCsv(pumpAndDump(), false),
    "black-thursday.json": toJson({
      assets: { ETH: { csv: "eth-usd-2020-03-12.csv" }, BTC: { csv: "btc-usd-2020-03-12.csv" } },
    }),
  };
}

/** 3000 flat for 2 h, one 5-min step (one oracle round) to 2100, flat for 6 h. */
function gapDown(): PricePoint[] {
  const rows: PricePoint[] = [{ timestamp: START, price: 3000 }];
  extend(rows, 2 * HOUR, MINUTES_5, () => 3000);
  extend(rows, MINUTES_5, MINUTES_5, () => 2100);
  extend(rows, 6 * HOUR, MINUTES_5, () => 2100);
  // Flat rows and a gap trade nothing in between, so each candle's low is its close.
  return rows.map((row) => ({ ...row, low: row.price }));
}

/** price_i = 3000 * 0.4^(i / 168), hourly for 7 days: 169 rows from 3000 to 1200. */
function slowBleed(): PricePoint[] {
  const rows: PricePoint[] = [{ timestamp: START, price: 3000 }];
  extend(rows, 7 * 24 * HOUR, HOUR, (f) => 3000 * 0.4 ** f);
  return rows;
}

/** 3000 flat 2 h, linearly to 2250 (-25%) over 2 h, flat 4 h; no ETH oracle round in the middle
 *  hour of the fall. */
function staleFeedCrash(): object {
  return crashWithEvent(2250, (from, to) => ({ kind: "oracleOutage", asset: "ETH", from, to }));
}

/** 3000 flat 2 h, linearly to 2400 (-20%) over 2 h, flat 4 h; the L2 sequencer is down for the
 *  middle hour of the fall (no blocks, no rounds), then the oracle's grace period holds prices
 *  back for an hour more. */
function sequencerOutage(): object {
  return crashWithEvent(2400, (from, to) => ({ kind: "sequencerDown", from, to }));
}

/** 3000 flat 2 h, linearly to `low` over 2 h, flat 4 h, with one event over the fall's middle hour. */
function crashWithEvent(low: number, event: (from: number, to: number) => object): object {
  const rows: PricePoint[] = [{ timestamp: START, price: 3000 }];
  extend(rows, 2 * HOUR, MINUTES_5, () => 3000);
  extend(rows, 2 * HOUR, MINUTES_5, (f) => 3000 - (3000 - low) * f);
  extend(rows, 4 * HOUR, MINUTES_5, () => low);
  const fallStart = START + 2 * HOUR;
  return {
    assets: { ETH: { points: rows.map((row) => [row.timestamp, row.price]) } },
    events: [event(fallStart + HOUR / 2, fallStart + (3 * HOUR) / 2)],
  };
}

/** 3000 linearly to 4500 (+50%) over 6 h, linearly back to 3000 over 6 h, flat 2 h. */
function pumpAndDump(): PricePoint[] {
  const rows: PricePoint[] = [{ timestamp: START, price: 3000 }];
  extend(rows, 6 * HOUR, MINUTES_5, (f) => 3000 + 1500 * f);
  extend(rows, 6 * HOUR, MINUTES_5, (f) => 4500 - 1500 * f);
  extend(rows, 2 * HOUR, MINUTES_5, () => 3000);
  return rows;
}

/** Appends a row every `step` seconds for `duration` seconds after the last row; `priceAt(f)` is
 *  the price at fraction f in (0, 1] of the segment, rounded to cents. */
function extend(rows: PricePoint[], duration: number, step: number, priceAt: (f: number) => number): void {
  const start = rows[rows.length - 1].timestamp;
  const steps = duration / step;
  for (let i = 1; i <= steps; i++) {
    rows.push({ timestamp: start + i * step, price: toCents(priceAt(i / steps)) });
  }
}

// Cents like an exchange quote; rounding also hides any last-bit difference of Math.pow between
// platforms, so the output is the same everywhere.
function toCents(price: number): number {
  return Math.round(price * 100) / 100;
}

function toCsv(rows: PricePoint[], withLow: boolean): string {
  const header = withLow ? "timestamp,price,low" : "timestamp,price";
  const lines = rows.map((r) => (withLow ? `${r.timestamp},${r.price},${r.low}` : `${r.timestamp},${r.price}`));
  return [header, ...lines].join("\n") + "\n";
}

/** JSON laid out the way Prettier prints it (objects one key per line, number arrays on one line),
 *  so `prettier --check` accepts the generated files as they are. */
function toJson(value: unknown): string {
  return layout(value, "") + "\n";
}

function layout(value: unknown, indent: string): string {
  const inner = indent + "  ";
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v === "number")) return `[${value.join(", ")}]`;
    return `[\n${value.map((v) => inner + layout(v, inner)).join(",\n")}\n${indent}]`;
  }
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value).map(([k, v]) => `${inner}${JSON.stringify(k)}: ${layout(v, inner)}`);
    return `{\n${entries.join(",\n")}\n${indent}}`;
  }
  return JSON.stringify(value);
}

async function main(): Promise<void> {
  for (const [file, content] of Object.entries(syntheticScenarioFiles())) {
    fs.writeFileSync(path.join(SCENARIOS_DIR, file), content);
    console.log(`wrote scenarios/${file}`);
  }
}

if (require.main === module) runMain("make-scenarios", main);
