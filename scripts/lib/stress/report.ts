// Output side of the stress runner (scripts/stress.ts): report.json, a self-contained report.html
// (inline CSS and SVG only: no scripts, fonts, images or network), a short terminal summary and a
// progress bar.
import * as fs from "fs";
import * as path from "path";
import { ASSETS, type HealthHistogram, type Report, type StepSample } from "./types";

// ---------------------------------------------------------------------------------------------
// report.json

/** Object keys in their declared order. `satisfies` makes the compiler check that each list names
 *  every field of its type and nothing else, so a field added to types.ts cannot go missing here. */
const keysOf = <T extends object>(template: T) => Object.keys(template) as (keyof T)[];

const REPORT_KEYS = keysOf({
  scenario: 0,
  scenarioSource: 0,
  description: 0,
  mode: 0,
  seed: 0,
  accounts: 0,
  steps: 0,
  liquidations: 0,
  accountsLiquidated: 0,
  maxLiquidationDelaySeconds: 0,
  accountsBelowMaintenanceAtEnd: 0,
  insuranceFundStart: 0,
  insuranceFundEnd: 0,
  socializedLoss: 0,
  badDebt: 0,
  lpSharePriceChange: 0,
  traderLossToLiquidationDiscounts: 0,
  liquidationFees: 0,
  gasUsedByLiquidations: 0,
  wallSeconds: 0,
  details: 0,
  samples: 0,
  health: 0,
} satisfies Record<keyof Report, 0>);

const SAMPLE_KEYS = keysOf({
  timestamp: 0,
  prices: 0,
  status: 0,
  insuranceFund: 0,
  liquidations: 0,
  badDebt: 0,
  socializedLoss: 0,
  belowMaintenance: 0,
} satisfies Record<keyof StepSample, 0>);

const HEALTH_KEYS = keysOf({ label: 0, timestamp: 0, bounds: 0, counts: 0 } satisfies Record<keyof HealthHistogram, 0>);

function ordered<T extends object>(value: T, keys: readonly (keyof T)[]): T {
  return Object.fromEntries(keys.map((key) => [key, value[key]])) as T;
}

/** The report with its keys (and those of its samples and histograms) in the declared order, so
 *  report.json reads the same whatever order the runner built the objects in. */
function inDeclaredOrder(report: Report): Report {
  return {
    ...ordered(report, REPORT_KEYS),
    samples: report.samples.map((sample) => ordered(sample, SAMPLE_KEYS)),
    health: report.health.map((histogram) => ordered(histogram, HEALTH_KEYS)),
  };
}

/** Writes `dir`/report.json and `dir`/report.html (creating `dir`) and returns both paths. The JSON
 *  is written first, so a rendering failure still leaves the run's data on disk. */
export function writeReport(dir: string, report: Report): { json: string; html: string } {
  fs.mkdirSync(dir, { recursive: true });
  const json = path.join(dir, "report.json");
  const html = path.join(dir, "report.html");
  fs.writeFileSync(json, JSON.stringify(inDeclaredOrder(report), null, 2) + "\n");
  fs.writeFileSync(html, renderHtml(report));
  return { json, html };
}

// ---------------------------------------------------------------------------------------------
// Number formatting (shared by the page and the terminal)

/** `x` to `digits` decimals; "n/a" for NaN or infinities (e.g. a ratio over an empty pool). */
function fixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return "n/a";
  const text = x.toFixed(digits);
  // A value that rounds to zero must not read as "-0.00".
  return /^-[0.]+$/.test(text) ? text.slice(1) : text;
}

/** `x` to `digits` decimals with thousands separators: 1234567.891 -> "1,234,567.89". */
function grouped(x: number, digits = 0): string {
  return fixed(x, digits).replace(/^-?\d+/, (whole) => whole.replace(/\B(?=(\d{3})+$)/g, ","));
}

function usd(x: number, digits = 2): string {
  const text = grouped(x, digits);
  if (text === "n/a") return text;
  return text.startsWith("-") ? `-$${text.slice(1)}` : `$${text}`;
}

/** A relative change as a signed percentage: -0.0012 -> "-0.1200%". */
function percent(x: number, digits = 4): string {
  const text = fixed(x * 100, digits);
  if (text === "n/a") return text;
  return Number(text) > 0 ? `+${text}%` : `${text}%`;
}

function seconds(x: number, digits: number): string {
  return `${grouped(x, digits)} s`;
}

/** Free-form numbers: integers grouped, others to at most 4 decimals. */
function plainNumber(x: number): string {
  if (Number.isInteger(x)) return grouped(x);
  const text = grouped(x, 4);
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

function plural(count: number, word: string): string {
  return `${grouped(count)} ${word}${count === 1 ? "" : "s"}`;
}

/** Unix seconds as "YYYY-MM-DD HH:MM" in UTC, with seconds when asked. */
function utc(timestamp: number, withSeconds = false): string {
  return new Date(timestamp * 1000)
    .toISOString()
    .slice(0, withSeconds ? 19 : 16)
    .replace("T", " ");
}

/** The largest fall of the insurance fund from a running peak, over start, samples and end. */
function fundDrawdown(report: Report): { amount: number; fraction: number } {
  const values = [report.insuranceFundStart, ...report.samples.map((s) => s.insuranceFund), report.insuranceFundEnd];
  let peak = -Infinity;
  let worst = { amount: 0, fraction: 0 };
  for (const value of values.filter(Number.isFinite)) {
    peak = Math.max(peak, value);
    const amount = peak - value;
    if (amount > worst.amount) worst = { amount, fraction: peak > 0 ? amount / peak : 0 };
  }
  return worst;
}

// ---------------------------------------------------------------------------------------------
// report.html: page

/** Escapes text for HTML content and attribute values; scenario names and descriptions come from
 *  user files. */
function esc(text: string | number): string {
  return String(text)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const CSS = `
body { margin: 0; background: #f8fafc; color: #1e293b;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 760px; margin: 0 auto; padding: 24px 16px 48px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
h2 { font-size: 1.15rem; margin: 32px 0 8px; border-bottom: 1px solid #e2e8f0; padding-bottom: 4px; }
p { margin: 4px 0; }
.meta { color: #475569; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
th { font-weight: 500; color: #475569; width: 45%; }
td { font-variant-numeric: tabular-nums; }
figure { margin: 16px 0; background: #fff; border: 1px solid #e2e8f0; border-radius: 6px; padding: 8px; }
figcaption { font-size: 0.9rem; font-weight: 600; margin: 0 0 4px; }
svg { display: block; width: 100%; height: auto; font-family: inherit; }
svg text { font-size: 10px; fill: #475569; }
svg .grid { stroke: #e2e8f0; }
svg .axis { stroke: #94a3b8; }
svg .band.degraded { fill: #f59e0b; fill-opacity: 0.22; }
svg .band.down { fill: #dc2626; fill-opacity: 0.2; }
svg .bar { fill: #60a5fa; }
`;

/** Renders the whole report as one self-contained HTML page. */
export function renderHtml(report: Report): string {
  return [
    "<!doctype html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // The page needs nothing from the network; the policy makes a browser refuse it if it tried.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>Stress report: ${esc(report.scenario)}</title>`,
    `<style>${CSS}</style>`,
    "</head>",
    "<body>",
    "<main>",
    header(report),
    keyFigures(report),
    details(report),
    timeCharts(report.samples),
    healthCharts(report.health),
    "</main>",
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

function header(report: Report): string {
  const { samples } = report;
  // Sample timestamps are increasing (they follow the scenario's paths).
  const span =
    samples.length > 0
      ? ` · path clock ${utc(samples[0].timestamp)} to ${utc(samples[samples.length - 1].timestamp)} UTC`
      : "";
  return [
    `<h1>Stress report: ${esc(report.scenario)}</h1>`,
    `<p>${esc(report.description)}</p>`,
    `<p class="meta">mode ${esc(report.mode)} · seed ${esc(report.seed)} · ${esc(plural(report.accounts, "account"))}` +
      ` · ${esc(plural(report.steps, "step"))} · wall time ${esc(seconds(report.wallSeconds, 1))}${esc(span)}</p>`,
  ].join("\n");
}

function table(rows: [string, string][]): string {
  const body = rows.map(([name, value]) => `<tr><th>${esc(name)}</th><td>${esc(value)}</td></tr>`);
  return ["<table>", ...body, "</table>"].join("\n");
}

function keyFigures(report: Report): string {
  const drawdown = fundDrawdown(report);
  return [
    "<h2>Key figures</h2>",
    table([
      ["Scenario", report.scenario],
      ["Source", report.scenarioSource],
      ["Description", report.description],
      ["Mode", report.mode],
      ["Seed", String(report.seed)],
      ["Accounts", grouped(report.accounts)],
      ["Steps", grouped(report.steps)],
      ["Liquidations (bids)", grouped(report.liquidations)],
      ["Accounts liquidated", grouped(report.accountsLiquidated)],
      ["Max liquidation delay", seconds(report.maxLiquidationDelaySeconds, 0)],
      ["Accounts below maintenance margin at end", grouped(report.accountsBelowMaintenanceAtEnd)],
      ["Insurance fund at start", usd(report.insuranceFundStart)],
      ["Insurance fund at end", usd(report.insuranceFundEnd)],
      ["Insurance fund max drawdown", `${usd(drawdown.amount)} (${fixed(drawdown.fraction * 100, 2)}%)`],
      ["Socialized loss", usd(report.socializedLoss)],
      ["Bad debt", usd(report.badDebt)],
      ["LP share price change", percent(report.lpSharePriceChange)],
      ["Trader loss to liquidation discounts", usd(report.traderLossToLiquidationDiscounts)],
      ["Liquidation fees", usd(report.liquidationFees)],
      ["Gas used by liquidations", `${grouped(report.gasUsedByLiquidations)} gas`],
      ["Wall time", seconds(report.wallSeconds, 1)],
    ]),
  ].join("\n");
}

function details(report: Report): string {
  const entries = Object.entries(report.details);
  if (entries.length === 0) return "<h2>Details</h2>\n<p>No details recorded.</p>";
  const rows = entries.map(([name, value]): [string, string] => [
    name,
    typeof value === "number" ? plainNumber(value) : value,
  ]);
  return ["<h2>Details</h2>", table(rows)].join("\n");
}

function figure(caption: string, svg: string): string {
  return `<figure>\n<figcaption>${esc(caption)}</figcaption>\n${svg}\n</figure>`;
}

// ---------------------------------------------------------------------------------------------
// report.html: charts over the path clock

const WIDTH = 720;
const HEIGHT = 220;
// The left margin holds labels like "$100,000,000"; the right one half of a date-time label.
const MARGIN = { top: 26, right: 64, bottom: 28, left: 80 };
const PLOT = { left: MARGIN.left, right: WIDTH - MARGIN.right, top: MARGIN.top, bottom: HEIGHT - MARGIN.bottom };
const COLORS = ["#2563eb", "#ea580c", "#059669", "#7c3aed"];

type Unit = "usd" | "count" | "index";
type Point = [timestamp: number, value: number];

interface Series {
  name: string;
  color: string;
  points: Point[];
}

interface Band {
  from: number;
  to: number;
  level: "degraded" | "down";
}

interface Axis {
  ticks: number[];
  scale: (value: number) => number;
  label: (value: number) => string;
}

/** One decimal of a pixel is plenty and keeps the SVG small. */
const px = (value: number) => Math.round(value * 10) / 10;

function linear(d0: number, d1: number, r0: number, r1: number): (value: number) => number {
  return (value) => r0 + ((value - d0) * (r1 - r0)) / (d1 - d0);
}

function minMax(values: number[]): [number, number] {
  // A loop rather than Math.min(...values): long runs would overflow the call stack.
  let lo = Infinity;
  let hi = -Infinity;
  for (const value of values) {
    lo = Math.min(lo, value);
    hi = Math.max(hi, value);
  }
  return [lo, hi];
}

/** 1, 2 or 5 times a power of ten, at least `raw`: tick steps people read at a glance. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/** A vertical axis covering `values` with about five round ticks. */
function valueAxis(values: number[], unit: Unit, zeroBased: boolean): Axis {
  let [lo, hi] = values.length > 0 ? minMax(values) : [0, 1];
  if (zeroBased) lo = Math.min(lo, 0);
  // A flat series, or one flat but for float noise, gets a 5% range either side of its value: it
  // draws as a level line, and the ticks below never collapse into a zero-width domain.
  const magnitude = Math.max(Math.abs(lo), Math.abs(hi));
  if (hi - lo <= magnitude * 1e-9) [lo, hi] = magnitude === 0 ? [0, 1] : [lo - magnitude * 0.05, hi + magnitude * 0.05];
  let step = niceStep((hi - lo) / 4);
  if (unit === "count") step = Math.max(1, step);
  const first = Math.floor(lo / step) * step;
  const count = Math.round((Math.ceil(hi / step) * step - first) / step);
  const ticks = Array.from({ length: count + 1 }, (_, k) => first + k * step);
  const digits = step >= 1 ? 0 : Math.ceil(-Math.log10(step) - 1e-9);
  const label = (value: number) => (unit === "usd" ? usd(value, digits) : grouped(value, digits));
  return { ticks, scale: linear(first, ticks[ticks.length - 1], PLOT.bottom, PLOT.top), label };
}

/** Tick steps of the time axis, in seconds: round minutes and hours, so ticks land on times people
 *  read at a glance (multiples of a day are UTC midnights). */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];

/** A horizontal axis over the path clock with at most six round UTC date-time ticks. */
function timeAxis(times: number[]): Axis {
  const [t0, t1] = minMax(times);
  if (t0 === t1) return { ticks: [t0], scale: linear(t0 - 1, t0 + 1, PLOT.left, PLOT.right), label: (t) => utc(t) };
  const span = t1 - t0;
  const step = TIME_STEPS.find((s) => span / s <= 5) ?? niceStep(span / 5 / 86_400) * 86_400;
  const first = Math.ceil(t0 / step) * step;
  const ticks = Array.from({ length: Math.floor((t1 - first) / step) + 1 }, (_, k) => first + k * step);
  return { ticks, scale: linear(t0, t1, PLOT.left, PLOT.right), label: (t) => utc(t, step < 60) };
}

function svg(body: string[]): string {
  return [
    `<svg viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" role="img">`,
    ...body,
    "</svg>",
  ].join("\n");
}

function noData(message: string): string {
  return svg([`<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle">${esc(message)}</text>`]);
}

function yAxisMarks(y: Axis): string[] {
  return y.ticks.flatMap((tick) => [
    `<line class="grid" x1="${PLOT.left}" x2="${PLOT.right}" y1="${px(y.scale(tick))}" y2="${px(y.scale(tick))}"/>`,
    `<text x="${PLOT.left - 6}" y="${px(y.scale(tick) + 3)}" text-anchor="end">${esc(y.label(tick))}</text>`,
  ]);
}

function xAxisMarks(x: Axis): string[] {
  return [
    `<line class="axis" x1="${PLOT.left}" x2="${PLOT.right}" y1="${PLOT.bottom}" y2="${PLOT.bottom}"/>`,
    ...x.ticks.flatMap((tick) => [
      `<line class="axis" x1="${px(x.scale(tick))}" x2="${px(x.scale(tick))}" y1="${PLOT.bottom}" y2="${PLOT.bottom + 4}"/>`,
      `<text x="${px(x.scale(tick))}" y="${PLOT.bottom + 16}" text-anchor="middle">${esc(x.label(tick))}</text>`,
    ]),
  ];
}

interface LegendEntry {
  name: string;
  /** Draws the entry's mark (a line or a swatch) starting at `left`. */
  mark: (left: number) => string;
}

/** Legend entries left to right above the plot: a 16 px mark and a name. */
function legend(entries: LegendEntry[]): string[] {
  let left = PLOT.left;
  return entries.flatMap(({ name, mark }) => {
    const at = left;
    // About 6 px per character at 10 px: close enough to keep entries apart.
    left += 28 + name.length * 6;
    return [mark(at), `<text x="${at + 20}" y="16">${esc(name)}</text>`];
  });
}

function bandMarks(bands: Band[], x: Axis): string[] {
  return bands.map((band) => {
    const left = x.scale(band.from);
    // The last sample's band has no next sample to end at; keep it visible.
    const width = Math.max(2, x.scale(band.to) - left);
    return `<rect class="band ${band.level}" x="${px(left)}" y="${PLOT.top}" width="${px(width)}" height="${PLOT.bottom - PLOT.top}"/>`;
  });
}

function seriesMarks(series: Series, x: Axis, y: Axis): string {
  const [first] = series.points;
  // A polyline through one point draws nothing, so a lone sample gets a dot.
  if (series.points.length === 1) {
    return `<circle cx="${px(x.scale(first[0]))}" cy="${px(y.scale(first[1]))}" r="3" fill="${series.color}"/>`;
  }
  const points = series.points.map(([t, v]) => `${px(x.scale(t))},${px(y.scale(v))}`).join(" ");
  return `<polyline fill="none" stroke="${series.color}" stroke-width="1.5" stroke-linejoin="round" points="${points}"/>`;
}

function lineChart(series: Series[], unit: Unit, zeroBased: boolean, bands: Band[] = []): string {
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) return noData("No samples");
  const x = timeAxis(points.map(([t]) => t));
  const y = valueAxis(
    points.map(([, v]) => v),
    unit,
    zeroBased,
  );
  const legendEntries: LegendEntry[] = [
    ...(series.length > 1 ? series : []).map((s) => ({
      name: s.name,
      mark: (at: number) => `<line x1="${at}" x2="${at + 16}" y1="12" y2="12" stroke="${s.color}" stroke-width="2"/>`,
    })),
    ...(["degraded", "down"] as const)
      .filter((level) => bands.some((band) => band.level === level))
      .map((level) => ({
        name: `oracle ${level}`,
        mark: (at: number) => `<rect class="band ${level}" x="${at}" y="7" width="16" height="10"/>`,
      })),
  ];
  return svg([
    ...bandMarks(bands, x),
    ...yAxisMarks(y),
    ...xAxisMarks(x),
    ...series.filter((s) => s.points.length > 0).map((s) => seriesMarks(s, x, y)),
    ...legend(legendEntries),
  ]);
}

/** The finite values `pick` reads from each sample, as points on the path clock. */
function pointsOf(samples: StepSample[], pick: (sample: StepSample) => number | undefined): Point[] {
  return samples.flatMap((sample): Point[] => {
    const value = pick(sample);
    return value !== undefined && Number.isFinite(value) && Number.isFinite(sample.timestamp)
      ? [[sample.timestamp, value]]
      : [];
  });
}

/** Samples where any asset's oracle was not "Ok", merged into runs; each run lasts until the next
 *  sample, as the status holds until it is measured again. */
function statusBands(samples: StepSample[]): Band[] {
  const bands: Band[] = [];
  samples.forEach((sample, i) => {
    const statuses = Object.values(sample.status);
    const level = statuses.includes("Down")
      ? "down"
      : statuses.some((s) => s !== undefined && s !== "Ok")
        ? "degraded"
        : undefined;
    if (level === undefined) return;
    const to = samples[i + 1]?.timestamp ?? sample.timestamp;
    const last = bands[bands.length - 1];
    if (last !== undefined && last.level === level && last.to === sample.timestamp) last.to = to;
    else bands.push({ from: sample.timestamp, to, level });
  });
  return bands;
}

/** The price path: raw USD for one asset; with more, each normalised to 100 at its first price so
 *  assets of very different prices share one axis. */
function priceChart(samples: StepSample[]): string {
  const assets = ASSETS.filter((asset) => samples.some((s) => Number.isFinite(s.prices[asset])));
  const normalise = assets.length > 1;
  const series = assets.map((asset, i): Series => {
    const points = pointsOf(samples, (s) => s.prices[asset]);
    const base = points.find(([, price]) => price > 0)?.[1];
    const scaled = normalise && base !== undefined ? points.map(([t, v]): Point => [t, (v / base) * 100]) : points;
    return { name: asset, color: COLORS[i % COLORS.length], points: scaled };
  });
  const caption = normalise
    ? `Prices (${assets.join(", ")}), each normalised to 100 at start`
    : assets.length === 1
      ? `${assets[0]} price (USD)`
      : "Price path";
  const bands = statusBands(samples);
  const note = bands.length > 0 ? "; shaded where an oracle was degraded (amber) or down (red)" : "";
  return figure(caption + note, lineChart(series, normalise ? "index" : "usd", false, bands));
}

function timeCharts(samples: StepSample[]): string {
  const one = (name: string, pick: (s: StepSample) => number): Series[] => [
    { name, color: COLORS[0], points: pointsOf(samples, pick) },
  ];
  return [
    "<h2>Over the path (UTC, path clock)</h2>",
    priceChart(samples),
    figure(
      "Insurance fund (USD)",
      lineChart(
        one("insurance fund", (s) => s.insuranceFund),
        "usd",
        false,
      ),
    ),
    figure(
      "Cumulative liquidations (bids)",
      lineChart(
        one("liquidations", (s) => s.liquidations),
        "count",
        true,
      ),
    ),
    figure(
      "Cumulative bad debt and socialized loss (USD)",
      lineChart(
        [
          { name: "bad debt", color: COLORS[1], points: pointsOf(samples, (s) => s.badDebt) },
          { name: "socialized loss", color: COLORS[3], points: pointsOf(samples, (s) => s.socializedLoss) },
        ],
        "usd",
        true,
      ),
    ),
    figure(
      "Accounts below maintenance margin",
      lineChart(
        one("below maintenance", (s) => s.belowMaintenance),
        "count",
        true,
      ),
    ),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// report.html: health histograms

/** Labels of the buckets whose upper bounds are `bounds`: "< 1", "1-1.5", ..., "> 10". */
function bucketLabels(bounds: number[]): string[] {
  if (bounds.length === 0) return ["all"];
  const b = bounds.map(plainNumber);
  return [`< ${b[0]}`, ...b.slice(1).map((bound, i) => `${b[i]}-${bound}`), `> ${b[b.length - 1]}`];
}

function checkHistogram(histogram: HealthHistogram): void {
  if (histogram.counts.length !== histogram.bounds.length + 1) {
    throw new Error(
      `health histogram "${histogram.label}": ${histogram.counts.length} counts for ${histogram.bounds.length} bounds (expected ${histogram.bounds.length + 1})`,
    );
  }
}

function healthChart(histogram: HealthHistogram, y: Axis): string {
  const labels = bucketLabels(histogram.bounds);
  const slot = (PLOT.right - PLOT.left) / labels.length;
  const bars = histogram.counts.flatMap((count, i) => {
    const left = PLOT.left + slot * i + slot * 0.15;
    const top = y.scale(Number.isFinite(count) ? count : 0);
    const centre = px(PLOT.left + slot * (i + 0.5));
    return [
      `<rect class="bar" x="${px(left)}" y="${px(top)}" width="${px(slot * 0.7)}" height="${px(PLOT.bottom - top)}"/>`,
      `<text x="${centre}" y="${px(top - 4)}" text-anchor="middle">${esc(grouped(count))}</text>`,
      `<text x="${centre}" y="${PLOT.bottom + 16}" text-anchor="middle">${esc(labels[i])}</text>`,
    ];
  });
  const axis = `<line class="axis" x1="${PLOT.left}" x2="${PLOT.right}" y1="${PLOT.bottom}" y2="${PLOT.bottom}"/>`;
  const caption = `Health ${histogram.label} (${utc(histogram.timestamp)} UTC): accounts by equity / maintenance margin`;
  return figure(caption, svg([...yAxisMarks(y), axis, ...bars]));
}

/** One bar chart per histogram, all on the same count scale so they compare at a glance. */
function healthCharts(health: HealthHistogram[]): string {
  if (health.length === 0) return "<h2>Health distribution</h2>\n<p>No health histograms recorded.</p>";
  health.forEach(checkHistogram);
  const counts = health.flatMap((h) => h.counts).filter(Number.isFinite);
  const y = valueAxis(counts, "count", true);
  return ["<h2>Health distribution</h2>", ...health.map((h) => healthChart(h, y))].join("\n");
}

// ---------------------------------------------------------------------------------------------
// Terminal

/** A short plain-text summary of the run for the terminal, ending with the two report paths. */
export function formatSummary(report: Report, paths: { json: string; html: string }): string {
  const drawdown = fundDrawdown(report);
  const rows: [string, string][] = [
    ["Scenario", `${report.scenario} (${report.mode}, seed ${report.seed})`],
    ["Run", `${plural(report.accounts, "account")}, ${plural(report.steps, "step")}`],
    [
      "Liquidations",
      `${plural(report.liquidations, "bid")} on ${plural(report.accountsLiquidated, "account")}, ` +
        `max delay ${seconds(report.maxLiquidationDelaySeconds, 0)}`,
    ],
    ["Below MM at end", plural(report.accountsBelowMaintenanceAtEnd, "account")],
    [
      "Insurance fund",
      `${usd(report.insuranceFundStart)} -> ${usd(report.insuranceFundEnd)} ` +
        `(max drawdown ${usd(drawdown.amount)}, ${fixed(drawdown.fraction * 100, 2)}%)`,
    ],
    ["Socialized loss", usd(report.socializedLoss)],
    ["Bad debt", usd(report.badDebt)],
    ["LP share price", percent(report.lpSharePriceChange)],
    ["Trader loss", `${usd(report.traderLossToLiquidationDiscounts)} to liquidation discounts`],
    ["Liquidation gas", grouped(report.gasUsedByLiquidations)],
    ["Wall time", seconds(report.wallSeconds, 1)],
    ["Report", paths.json],
    ["", paths.html],
  ];
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  return rows.map(([name, value]) => name.padEnd(width) + value).join("\n");
}

/** What a progress bar writes to: process.stderr, or a fake in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  write(chunk: string): boolean;
}

const BAR_WIDTH = 30;

/** A terminal progress bar. On a TTY it redraws one line in place; elsewhere (CI logs, pipes) it
 *  prints a plain line only when the run crosses a 10% boundary, so logs stay short. */
export class ProgressBar {
  private count = 0;
  private note = "";
  private readonly started: number;
  private lastDecile = 0;
  private lastPrinted = -1;
  private drawnLength = 0;
  private finished = false;

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly stream: ProgressStream = process.stderr,
    /** Milliseconds clock; tests pass a fake one so elapsed times are exact. */
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  /** Advances by `n` steps; `note` (e.g. "12 liquidations") is shown until replaced. */
  tick(n = 1, note?: string): void {
    this.count += n;
    if (note !== undefined) this.note = note;
    if (this.stream.isTTY) {
      this.redraw();
      return;
    }
    const decile = Math.floor(10 * this.fraction());
    if (decile > this.lastDecile) {
      this.lastDecile = decile;
      this.printLine();
    }
  }

  /** Ends the bar: a TTY gets its final state and a newline; elsewhere the final state is printed
   *  unless the last line already showed it. */
  done(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream.isTTY) {
      this.redraw();
      this.stream.write("\n");
    } else if (this.lastPrinted !== this.count) {
      this.printLine();
    }
  }

  /** Done fraction in [0, 1]; an empty run counts as complete rather than dividing by zero. */
  private fraction(): number {
    return this.total > 0 ? Math.min(1, Math.max(0, this.count / this.total)) : 1;
  }

  private line(): string {
    const fraction = this.fraction();
    const filled = Math.floor(BAR_WIDTH * fraction);
    const bar = "#".repeat(filled) + "-".repeat(BAR_WIDTH - filled);
    const percentDone = String(Math.floor(100 * fraction)).padStart(3);
    const elapsed = ((this.now() - this.started) / 1000).toFixed(1);
    const note = this.note === "" ? "" : ` ${this.note}`;
    return `${this.label} [${bar}] ${percentDone}% step ${this.count}/${this.total} ${elapsed}s${note}`;
  }

  private printLine(): void {
    this.lastPrinted = this.count;
    this.stream.write(this.line() + "\n");
  }

  private redraw(): void {
    const line = this.line();
    // Spaces over the tail of a longer previous line, which "\r" alone would leave on screen.
    this.stream.write("\r" + line + " ".repeat(Math.max(0, this.drawnLength - line.length)));
    this.drawnLength = line.length;
  }
}
