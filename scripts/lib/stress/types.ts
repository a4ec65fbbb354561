// Shared types of the stress runner: scenarios (input) and the report (output). USD figures in the
// report are plain numbers of US dollars (the settlement stablecoin at face value), rounded to
// cents where they come from token units; prices are USD per unit of the asset.

/** The assets a scenario can drive; each maps to one perp market and one collateral token. */
export type Asset = "ETH" | "BTC";
export const ASSETS: readonly Asset[] = ["ETH", "BTC"];

/** One row of a price path: the last price as of `timestamp` (unix seconds), and optionally the
 *  lowest trade of the interval that ends at `timestamp`. */
export interface PricePoint {
  timestamp: number;
  price: number;
  low?: number;
}

export type ScenarioEvent =
  /** No Chainlink round for `asset` is published from `from` to `to` (unix seconds, path clock). */
  | { kind: "oracleOutage"; asset: Asset; from: number; to: number }
  /** The L2 sequencer uptime feed reports "down" from `from` to `to`. */
  | { kind: "sequencerDown"; from: number; to: number }
  /** At `at`, an attacker moves the asset's Uniswap v3 pool by `move` (e.g. -0.25 = 25% down) for
   *  one block and back in the next. */
  | { kind: "twapManipulation"; asset: Asset; at: number; move: number };

export interface Scenario {
  /** Short name, used in report paths: a built-in name or the file's base name without extension. */
  name: string;
  /** Where it came from: "built-in: <file>" or the path given. */
  source: string;
  description: string;
  /** One path per asset it drives (at least one); timestamps strictly increasing. */
  paths: Partial<Record<Asset, PricePoint[]>>;
  events: ScenarioEvent[];
}

/** One replay step, sampled for the report's charts. */
export interface StepSample {
  /** Path clock (unix seconds of the scenario). */
  timestamp: number;
  /** Oracle mid price per driven asset, USD. */
  prices: Partial<Record<Asset, number>>;
  /** Oracle status per driven asset: "Ok" | "Degraded" | "Down". */
  status: Partial<Record<Asset, string>>;
  insuranceFund: number;
  /** Cumulative bids so far. */
  liquidations: number;
  /** Cumulative bad debt so far (USD): insolvent deficits paid by the fund and the pool. */
  badDebt: number;
  /** Cumulative socialized loss so far (USD). */
  socializedLoss: number;
  /** Accounts below maintenance margin after the bot's pass of this step. */
  belowMaintenance: number;
}

/** Histogram of account health: equity / maintenance margin, per bucket. */
export interface HealthHistogram {
  /** Label of the moment: "before", "worst" or "after". */
  label: string;
  timestamp: number;
  /** Bucket upper bounds (ratio E / MM), ascending; the last bucket is open ("> last bound"). */
  bounds: number[];
  /** counts.length = bounds.length + 1. Accounts with no margin requirement are left out. */
  counts: number[];
}

export interface Report {
  scenario: string;
  scenarioSource: string;
  description: string;
  /** "in-process" | "local-fork" | "fork". */
  mode: string;
  seed: number;
  accounts: number;
  steps: number;
  /** Bids (Liquidated events). */
  liquidations: number;
  accountsLiquidated: number;
  /** Over every account: from the first step it was seen below MM to its first bid (seconds of
   *  chain time). */
  maxLiquidationDelaySeconds: number;
  accountsBelowMaintenanceAtEnd: number;
  insuranceFundStart: number;
  insuranceFundEnd: number;
  socializedLoss: number;
  badDebt: number;
  /** Relative change of the LP share price over the run (e.g. -0.0012 = -0.12%). */
  lpSharePriceChange: number;
  /** Solvent bids: the discount the traders gave up (mark-to-market minus price paid), USD. */
  traderLossToLiquidationDiscounts: number;
  liquidationFees: number;
  gasUsedByLiquidations: number;
  wallSeconds: number;
  /** Free-form figures the runner adds (per-asset peak-to-trough, bot decisions...). */
  details: Record<string, number | string>;
  samples: StepSample[];
  health: HealthHistogram[];
}
