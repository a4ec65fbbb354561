// Scenarios for the stress runner: price paths per asset plus events (oracle outage, sequencer
// down, TWAP manipulation), loaded from the built-in files in scenarios/ or from a user's CSV or
// JSON file. Formats and sources: scenarios/README.md.
import fs from "fs";
import path from "path";
import { ASSETS, Asset, PricePoint, Scenario, ScenarioEvent } from "./types";

/** Thrown for any scenario that cannot be loaded; the message is one line naming the file. */
export class ScenarioError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScenarioError";
  }
}

/** The repository's scenarios/ folder, which holds the built-in files. */
export const SCENARIOS_DIR = path.resolve(__dirname, "../../../scenarios");

// The one table of built-ins. Percentages are the drop from the highest close to the lowest candle
// low after it (peakToTrough's lowDrawdown); the tests recompute them from the files.
const BUILT_INS: readonly { file: string; description: string }[] = [
  {
    file: "eth-usd-2020-03-12.csv",
    description: "ETH Black Thursday 2020-03-12, Binance ETH/USDT 5-min candles, -57.6% peak to low",
  },
  {
    file: "eth-usd-2021-05-19.csv",
    description: "ETH China-ban leverage flush 2021-05-19, Binance ETH/USDT 5-min candles, -46.9% peak to low",
  },
  {
    file: "eth-usd-2022-05-09.csv",
    description: "ETH LUNA/UST collapse 2022-05-09..12, Binance ETH/USDT 5-min candles, -31.8% peak to low",
  },
  {
    file: "eth-usd-2022-06-13.csv",
    description: "ETH Celsius/3AC sell-off 2022-06-13..18, Binance ETH/USDT 5-min candles, -42.9% peak to low",
  },
  {
    file: "eth-usd-2022-11-08.csv",
    description: "ETH FTX collapse 2022-11-08..10, Binance ETH/USDT 5-min candles, -33.2% peak to low",
  },
  {
    file: "eth-usd-2023-07-01.csv",
    description: "ETH calm week 2023-07-01..07 (control), Binance ETH/USDT 5-min candles, -7.5% peak to low",
  },
  {
    file: "eth-usd-2024-08-05.csv",
    description: "ETH yen-carry unwind 2024-08-05, Binance ETH/USDT 5-min candles, -28.0% peak to low",
  },
  {
    file: "eth-usd-2020-03-12-bitfinex-1h.csv",
    description: "ETH Black Thursday 2020-03-12, Bitfinex ETH/USD 1-h candles, -55.9% peak to low",
  },
  {
    file: "eth-usd-2022-11-08-bitfinex-1h.csv",
    description: "ETH FTX collapse 2022-11-08..10, Bitfinex ETH/USD 1-h candles, -33.0% peak to low",
  },
  {
    file: "btc-usd-2020-03-12.csv",
    description: "BTC Black Thursday 2020-03-12, Binance BTC/USDT 1-h candles, -52.4% peak to low",
  },
  {
    file: "btc-usd-2021-05-19.csv",
    description: "BTC China-ban leverage flush 2021-05-19, Binance BTC/USDT 5-min candles, -34.4% peak to low",
  },
  {
    file: "btc-usd-2022-05-09.csv",
    description: "BTC LUNA/UST collapse 2022-05-09..12, Binance BTC/USDT 5-min candles, -24.8% peak to low",
  },
  {
    file: "btc-usd-2022-06-13.csv",
    description: "BTC Celsius/3AC sell-off 2022-06-13..18, Binance BTC/USDT 5-min candles, -38.2% peak to low",
  },
  {
    file: "btc-usd-2022-11-08.csv",
    description: "BTC FTX collapse 2022-11-08..10, Binance BTC/USDT 5-min candles, -26.0% peak to low",
  },
  {
    file: "btc-usd-2023-07-01.csv",
    description: "BTC calm week 2023-07-01..07 (control), Binance BTC/USDT 5-min candles, -5.4% peak to low",
  },
  {
    file: "btc-usd-2024-08-05.csv",
    description: "BTC yen-carry unwind 2024-08-05, Binance BTC/USDT 5-min candles, -19.8% peak to low",
  },
  {
    file: "gap-down-30.csv",
    description: "Synthetic ETH gap: 3000 flat 2 h, one oracle round to 2100 (-30%), flat 6 h; 5-min steps",
  },
  {
    file: "slow-bleed-60.csv",
    description: "Synthetic ETH slow bleed: 3000 to 1200 (-60%) geometrically over 7 days; 1-h steps",
  },
  {
    file: "stale-feed-crash.json",
    description:
      "Synthetic ETH crash on a stale feed: 3000 flat 2 h, -25% linearly over 2 h with a 1-h oracle outage mid-fall, flat 4 h; 5-min steps",
  },
  {
    file: "sequencer-outage.json",
    description:
      "Synthetic ETH crash on an L2 whose sequencer stops: 3000 flat 2 h, -20% linearly over 2 h with the sequencer down 1 h mid-fall (then 1 h of grace), flat 4 h; 5-min steps",
  },
  {
    file: "pump-and-dump.csv",
    description:
      "Synthetic ETH pump and dump: 3000 to 4500 (+50%) linearly over 6 h, back to 3000 over 6 h, flat 2 h; 5-min steps",
  },
  {
    file: "black-thursday.json",
    description:
      "ETH + BTC Black Thursday 2020-03-12, Binance ETH/USDT 5-min and BTC/USDT 1-h candles, -57.6% / -52.4% peak to low",
  },
];

/** The built-in scenarios; `file` is the file's name inside SCENARIOS_DIR. */
export function builtInScenarios(): { name: string; file: string; description: string }[] {
  return BUILT_INS.map(({ file, description }) => ({ name: baseName(file), file, description }));
}

/**
 * Loads a built-in scenario by name, or a `.csv` / `.json` scenario file (path relative to the
 * working directory, or absolute). A CSV drives `opts.asset`, else the asset its file name starts
 * with (`eth-` / `btc-`), else ETH. A JSON file names its assets itself, so `opts.asset` is ignored.
 */
export function loadScenario(spec: string, opts: { asset?: Asset } = {}): Scenario {
  if (opts.asset !== undefined && !ASSETS.includes(opts.asset)) {
    throw new ScenarioError(`unknown asset "${opts.asset}" (known: ${ASSETS.join(", ")})`);
  }
  const builtIn = builtInScenarios().find((b) => b.name === spec);
  if (builtIn) {
    const loaded = loadFile(path.join(SCENARIOS_DIR, builtIn.file), builtIn.file, opts.asset);
    return { ...loaded, name: builtIn.name, source: `built-in: ${builtIn.file}`, description: builtIn.description };
  }
  const file = path.resolve(spec);
  if (!isFile(file)) {
    if (/\.(csv|json)$/i.test(spec) || spec.includes("/") || spec.includes(path.sep)) {
      throw new ScenarioError(`scenario file not found: ${spec}`);
    }
    const known = builtInScenarios()
      .map((b) => b.name)
      .join(", ");
    throw new ScenarioError(`unknown scenario "${spec}": not a built-in name (known: ${known}) and no such file`);
  }
  return loadFile(file, spec, opts.asset);
}

/** Start and end (unix seconds) over all of the scenario's paths. */
export function scenarioSpan(s: Scenario): { start: number; end: number } {
  const paths = drivenPaths(s);
  return {
    start: Math.min(...paths.map((p) => p[0].timestamp)),
    end: Math.max(...paths.map((p) => p[p.length - 1].timestamp)),
  };
}

/** The sorted, duplicate-free union of every path's timestamps: the replay's steps. */
export function mergedTimeline(s: Scenario): number[] {
  const all = new Set(drivenPaths(s).flatMap((p) => p.map((point) => point.timestamp)));
  return [...all].sort((a, b) => a - b);
}

/**
 * Maximum drawdown of `price` (closes): the highest earlier close `peak`, the close `trough` that
 * falls furthest below it, and `drawdown` = 1 - trough / peak (0.3 = 30% down; 0 if the path never
 * falls). `lowTrough` is the lowest candle `low` (the price where a row has none) after that peak,
 * and `lowDrawdown` = 1 - lowTrough / peak: the wick a liquidation may actually meet.
 */
export function peakToTrough(points: PricePoint[]): {
  peak: number;
  trough: number;
  drawdown: number;
  lowTrough: number;
  lowDrawdown: number;
} {
  if (points.length === 0) throw new Error("peakToTrough: no points");
  let peakIndex = 0;
  let troughIndex = 0;
  let runningPeak = 0;
  let drawdown = 0;
  points.forEach((point, i) => {
    if (point.price > points[runningPeak].price) runningPeak = i;
    const fall = 1 - point.price / points[runningPeak].price;
    if (fall > drawdown) [drawdown, peakIndex, troughIndex] = [fall, runningPeak, i];
  });
  const peak = points[peakIndex].price;
  const trough = points[troughIndex].price;
  // A low inside the peak's own candle traded before the peak close, so the search starts after it.
  // (A loop, not Math.min(...spread): a year of 1-minute rows is more arguments than a call takes.)
  let lowTrough = trough;
  for (const point of points.slice(peakIndex + 1)) lowTrough = Math.min(lowTrough, point.low ?? point.price);
  return { peak, trough, drawdown, lowTrough, lowDrawdown: 1 - lowTrough / peak };
}

/**
 * Parses a price path CSV: header `timestamp,price` or `timestamp,price,low`, then at least two
 * rows of unix seconds (strictly increasing), a price > 0 and optionally the candle low (0 < low <=
 * price). LF or CRLF line ends; blank lines only at the end.
 */
export function parseCsv(text: string, fileLabel: string): PricePoint[] {
  const lines = text.split("\n").map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line));
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) throw new ScenarioError(`${fileLabel}: file is empty`);
  const header = lines[0];
  const columns = CSV_HEADERS.get(header);
  if (columns === undefined) {
    throw new ScenarioError(
      `${fileLabel} line 1: header must be "timestamp,price" or "timestamp,price,low", found ${JSON.stringify(header.slice(0, 80))}`,
    );
  }
  const points: PricePoint[] = [];
  for (let i = 1; i < lines.length; i++) {
    const where = `${fileLabel} line ${i + 1}`;
    if (lines[i] === "") throw new ScenarioError(`${where}: blank line`);
    const cells = lines[i].split(",");
    if (cells.length !== columns) {
      throw new ScenarioError(`${where}: expected ${columns} values (${header}), found ${cells.length}`);
    }
    const [timestamp, price, low] = cells.map((cell, c) => parseNumber(cell, CSV_COLUMNS[c], where));
    points.push(checkPoint({ timestamp, price, ...(low === undefined ? {} : { low }) }, points.at(-1), where));
  }
  return checkLength(points, fileLabel);
}

/** The accepted headers and their column counts. */
const CSV_HEADERS = new Map([
  ["timestamp,price", 2],
  ["timestamp,price,low", 3],
]);
const CSV_COLUMNS = ["timestamp", "price", "low"];
// Plain decimals only: Number() would also take "", " 1", "0x10" and "Infinity".
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
// Unix seconds stay below 1e11 until the year 5138; a larger value is almost surely milliseconds.
const MAX_UNIX_SECONDS = 1e11;
const EVENT_FIELDS: Record<ScenarioEvent["kind"], string[]> = {
  oracleOutage: ["kind", "asset", "from", "to"],
  sequencerDown: ["kind", "from", "to"],
  twapManipulation: ["kind", "asset", "at", "move"],
};

function parseNumber(cell: string, column: string, where: string): number {
  if (!DECIMAL.test(cell)) throw new ScenarioError(`${where}: ${column} "${cell}" is not a number`);
  const value = Number(cell);
  if (!Number.isFinite(value)) throw new ScenarioError(`${where}: ${column} "${cell}" is not finite`);
  return value;
}

/** The row rules shared by CSV rows and JSON points. */
function checkPoint(point: PricePoint, previous: PricePoint | undefined, where: string): PricePoint {
  const { timestamp, price, low } = point;
  if (!Number.isInteger(timestamp)) throw new ScenarioError(`${where}: timestamp ${timestamp} is not whole seconds`);
  if (timestamp <= 0) throw new ScenarioError(`${where}: timestamp ${timestamp} must be > 0`);
  if (timestamp >= MAX_UNIX_SECONDS) {
    throw new ScenarioError(`${where}: timestamp ${timestamp} is too large for unix seconds (milliseconds?)`);
  }
  if (previous && timestamp <= previous.timestamp) {
    throw new ScenarioError(`${where}: timestamp ${timestamp} is not after the previous row's ${previous.timestamp}`);
  }
  if (price <= 0) throw new ScenarioError(`${where}: price ${price} must be > 0`);
  if (low !== undefined && low <= 0) throw new ScenarioError(`${where}: low ${low} must be > 0`);
  if (low !== undefined && low > price) throw new ScenarioError(`${where}: low ${low} is above the price ${price}`);
  return point;
}

function checkLength(points: PricePoint[], where: string): PricePoint[] {
  if (points.length < 2) throw new ScenarioError(`${where}: needs at least 2 rows, found ${points.length}`);
  return points;
}

/** Loads one scenario file; `label` is how errors name it (the path as the user gave it). */
function loadFile(file: string, label: string, asset: Asset | undefined): Scenario {
  const isCsv = /\.csv$/i.test(file);
  if (!isCsv && !/\.json$/i.test(file)) throw new ScenarioError(`${label}: a scenario file must end in .csv or .json`);
  const text = fs.readFileSync(file, "utf8");
  if (text.trim() === "") throw new ScenarioError(`${label}: file is empty`);
  if (!isCsv) return parseJsonScenario(text, file, label);
  const points = parseCsv(text, label);
  const driven = asset ?? assetFromFileName(file);
  return {
    name: baseName(file),
    source: label,
    description: `${driven} price path from ${label}, ${points.length} rows`,
    paths: { [driven]: points },
    events: [],
  };
}

function assetFromFileName(file: string): Asset {
  return /^btc-/i.test(path.basename(file)) ? "BTC" : "ETH";
}

function parseJsonScenario(text: string, file: string, label: string): Scenario {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ScenarioError(`${label}: invalid JSON: ${(error as Error).message.split("\n")[0]}`);
  }
  const top = expectObject(json, label);
  checkKeys(top, ["name", "description", "assets", "events"], label);
  const name = top.name === undefined ? baseName(file) : expectName(top.name, `${label}: "name"`);
  const description =
    top.description === undefined ? `scenario from ${label}` : expectString(top.description, `${label}: "description"`);
  const paths = parseAssets(top.assets, file, label);
  const scenario: Scenario = { name, source: label, description, paths, events: [] };
  const events = top.events === undefined ? [] : expectArray(top.events, `${label}: "events"`);
  scenario.events = events.map((event, i) => parseEvent(event, scenario, `${label}: events[${i}]`));
  return scenario;
}

function parseAssets(value: unknown, file: string, label: string): Partial<Record<Asset, PricePoint[]>> {
  const assets = expectObject(value, `${label}: "assets"`);
  const keys = Object.keys(assets);
  if (keys.length === 0) throw new ScenarioError(`${label}: "assets" must name at least one asset`);
  const paths: Partial<Record<Asset, PricePoint[]>> = {};
  for (const key of keys) {
    const asset = expectAsset(key, `${label}: assets`);
    const where = `${label}: assets.${asset}`;
    const entry = expectObject(assets[key], where);
    checkKeys(entry, ["csv", "points"], where);
    if ((entry.csv === undefined) === (entry.points === undefined)) {
      throw new ScenarioError(`${where}: needs exactly one of "csv" or "points"`);
    }
    paths[asset] =
      entry.csv === undefined
        ? parsePoints(entry.points, `${where}.points`)
        : readLinkedCsv(expectString(entry.csv, `${where}.csv`), file, label, where);
  }
  return paths;
}

/** A CSV named by a JSON scenario, relative to the JSON file's folder. */
function readLinkedCsv(csv: string, jsonFile: string, jsonLabel: string, where: string): PricePoint[] {
  const file = path.resolve(path.dirname(jsonFile), csv);
  const label = path.isAbsolute(csv) ? csv : path.join(path.dirname(jsonLabel), csv);
  if (!isFile(file)) throw new ScenarioError(`${where}.csv: file not found: ${label}`);
  return parseCsv(fs.readFileSync(file, "utf8"), label);
}

function parsePoints(value: unknown, where: string): PricePoint[] {
  const points: PricePoint[] = [];
  expectArray(value, where).forEach((row, i) => {
    const at = `${where}[${i}]`;
    const isRow = Array.isArray(row) && (row.length === 2 || row.length === 3);
    if (!isRow || !row.every((v) => typeof v === "number" && Number.isFinite(v))) {
      throw new ScenarioError(`${at}: must be [timestamp, price] or [timestamp, price, low] (finite numbers)`);
    }
    const [timestamp, price, low] = row as number[];
    points.push(checkPoint({ timestamp, price, ...(low === undefined ? {} : { low }) }, points.at(-1), at));
  });
  return checkLength(points, where);
}

function parseEvent(value: unknown, scenario: Scenario, where: string): ScenarioEvent {
  const raw = expectObject(value, where);
  const kind = raw.kind as ScenarioEvent["kind"];
  if (typeof raw.kind !== "string" || !Object.hasOwn(EVENT_FIELDS, kind)) {
    const kinds = Object.keys(EVENT_FIELDS).join(", ");
    throw new ScenarioError(`${where}: unknown event kind ${JSON.stringify(raw.kind)} (known: ${kinds})`);
  }
  checkKeys(raw, EVENT_FIELDS[kind], where);
  for (const field of EVENT_FIELDS[kind]) {
    if (raw[field] === undefined) throw new ScenarioError(`${where}: ${kind} needs "${field}"`);
  }
  if (kind === "twapManipulation") {
    const asset = eventAsset(raw.asset, scenario, where);
    const at = expectTime(raw.at, `${where}: "at"`);
    checkInside(at, at, pathSpan(scenario.paths[asset]!), `${asset} path`, where);
    const move = raw.move;
    if (typeof move !== "number" || !(move > -0.99 && move < 10) || move === 0) {
      throw new ScenarioError(
        `${where}: "move" must be a non-zero number in (-0.99, 10), found ${JSON.stringify(move)}`,
      );
    }
    return { kind, asset, at, move };
  }
  const from = expectTime(raw.from, `${where}: "from"`);
  const to = expectTime(raw.to, `${where}: "to"`);
  if (from >= to) throw new ScenarioError(`${where}: "from" ${from} must be before "to" ${to}`);
  if (kind === "sequencerDown") {
    checkInside(from, to, scenarioSpan(scenario), "scenario", where);
    return { kind, from, to };
  }
  const asset = eventAsset(raw.asset, scenario, where);
  checkInside(from, to, pathSpan(scenario.paths[asset]!), `${asset} path`, where);
  return { kind, asset, from, to };
}

function eventAsset(value: unknown, scenario: Scenario, where: string): Asset {
  const asset = expectAsset(value, where);
  if (!scenario.paths[asset]) throw new ScenarioError(`${where}: asset ${asset} has no price path in this scenario`);
  return asset;
}

function checkInside(from: number, to: number, span: { start: number; end: number }, of: string, where: string) {
  if (from < span.start || to > span.end) {
    const when = from === to ? `${from}` : `${from}..${to}`;
    throw new ScenarioError(`${where}: ${when} is outside the ${of}'s span ${span.start}..${span.end}`);
  }
}

function pathSpan(points: PricePoint[]): { start: number; end: number } {
  return { start: points[0].timestamp, end: points[points.length - 1].timestamp };
}

function drivenPaths(s: Scenario): PricePoint[][] {
  return Object.values(s.paths).filter((p): p is PricePoint[] => p !== undefined && p.length > 0);
}

function expectObject(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ScenarioError(`${where}: must be a JSON object`);
  }
  return value as Record<string, unknown>;
}

function expectArray(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new ScenarioError(`${where}: must be a JSON array`);
  return value;
}

function expectString(value: unknown, where: string): string {
  if (typeof value !== "string" || value === "") throw new ScenarioError(`${where}: must be a non-empty string`);
  return value;
}

// The name ends up in report file paths, so it is kept to characters that are safe there.
function expectName(value: unknown, where: string): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9._-]+$/.test(value)) {
    throw new ScenarioError(`${where}: must be letters, digits, ".", "_" or "-", found ${JSON.stringify(value)}`);
  }
  return value;
}

function expectAsset(value: unknown, where: string): Asset {
  if (!ASSETS.includes(value as Asset)) {
    throw new ScenarioError(`${where}: unknown asset ${JSON.stringify(value)} (known: ${ASSETS.join(", ")})`);
  }
  return value as Asset;
}

function expectTime(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new ScenarioError(`${where}: must be unix seconds (a positive integer), found ${JSON.stringify(value)}`);
  }
  return value;
}

function checkKeys(object: Record<string, unknown>, allowed: string[], where: string) {
  const unknown = Object.keys(object).find((key) => !allowed.includes(key));
  if (unknown !== undefined) {
    throw new ScenarioError(`${where}: unknown key "${unknown}" (allowed: ${allowed.join(", ")})`);
  }
}

function baseName(file: string): string {
  return path.basename(file).replace(/\.[^.]*$/, "");
}

function isFile(file: string): boolean {
  return fs.statSync(file, { throwIfNoEntry: false })?.isFile() ?? false;
}
