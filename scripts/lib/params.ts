// RiskParams.Param in TypeScript: the same names in the same order (the enum's numbering), with
// each parameter's unit, so scripts can take "0.02" or "4h" and send contract units.
// test/governance tests check this table against the contract's bounds for every entry.
import { getAddress, parseUnits, formatUnits, toBeHex } from "ethers";

export type Unit = "wad" | "seconds" | "count";

export const PARAMS: readonly { name: string; unit: Unit; scope: "market" | "underlying" | "global" }[] = [
  { name: "MM_FLOOR", unit: "wad", scope: "market" },
  { name: "MM_SIZE_FACTOR", unit: "wad", scope: "market" },
  { name: "MM_VOL_MULTIPLIER", unit: "wad", scope: "market" },
  { name: "LIQUIDATION_HORIZON", unit: "seconds", scope: "market" },
  { name: "IM_MULTIPLIER", unit: "wad", scope: "market" },
  { name: "MAKER_FEE", unit: "wad", scope: "market" },
  { name: "TAKER_FEE", unit: "wad", scope: "market" },
  { name: "FEE_INSURANCE_SHARE", unit: "wad", scope: "market" },
  { name: "SKEW_SCALE", unit: "wad", scope: "market" },
  { name: "MAX_FUNDING_VELOCITY", unit: "wad", scope: "market" },
  { name: "MAX_FUNDING_RATE", unit: "wad", scope: "market" },
  { name: "MAX_OI_LONG", unit: "wad", scope: "market" },
  { name: "MAX_OI_SHORT", unit: "wad", scope: "market" },
  { name: "MAX_POSITION_SIZE", unit: "wad", scope: "market" },
  { name: "IMPLIED_VOL", unit: "wad", scope: "underlying" },
  { name: "IV_FLOOR_FACTOR", unit: "wad", scope: "underlying" },
  { name: "OPTION_SPREAD_BASE", unit: "wad", scope: "underlying" },
  { name: "OPTION_SPREAD_SLOPE", unit: "wad", scope: "underlying" },
  { name: "STRIKE_BAND", unit: "wad", scope: "underlying" },
  { name: "EXPIRY_GRID", unit: "seconds", scope: "underlying" },
  { name: "MAX_EXPIRY", unit: "seconds", scope: "underlying" },
  { name: "MAX_LIVE_SERIES", unit: "count", scope: "underlying" },
  { name: "MAX_SERIES_OI", unit: "wad", scope: "underlying" },
  { name: "MAX_NET_DELTA", unit: "wad", scope: "underlying" },
  { name: "MAX_NET_VEGA", unit: "wad", scope: "underlying" },
  { name: "LONG_OPTION_HAIRCUT", unit: "wad", scope: "underlying" },
  { name: "SHORT_OPTION_MM_SPOT", unit: "wad", scope: "underlying" },
  { name: "SHORT_OPTION_MM_FLOOR", unit: "wad", scope: "underlying" },
  { name: "MAX_OPTIONS_PER_ACCOUNT", unit: "count", scope: "underlying" },
  { name: "LIQUIDATION_FEE", unit: "wad", scope: "global" },
  { name: "AUCTION_START_DISCOUNT", unit: "wad", scope: "global" },
  { name: "AUCTION_FAST_DISCOUNT", unit: "wad", scope: "global" },
  { name: "AUCTION_DISCOUNT_CAP", unit: "wad", scope: "global" },
  { name: "AUCTION_FAST_DURATION", unit: "seconds", scope: "global" },
  { name: "AUCTION_SLOW_DURATION", unit: "seconds", scope: "global" },
  { name: "AUCTION_STALL_TIMEOUT", unit: "seconds", scope: "global" },
  { name: "BUFFER_MARGIN", unit: "wad", scope: "global" },
  { name: "DUST_THRESHOLD", unit: "wad", scope: "global" },
  { name: "INSOLVENT_PAYOUT_CAP", unit: "wad", scope: "global" },
  { name: "INSOLVENT_RAMP", unit: "seconds", scope: "global" },
  { name: "THROUGHPUT_CAP", unit: "wad", scope: "global" },
  { name: "THROUGHPUT_WINDOW", unit: "seconds", scope: "global" },
  { name: "INSURANCE_FLOOR", unit: "wad", scope: "global" },
  { name: "OPTION_IM_MULTIPLIER", unit: "wad", scope: "underlying" },
  { name: "VOL_SHOCK_UP", unit: "wad", scope: "underlying" },
  { name: "VOL_SHOCK_DOWN", unit: "wad", scope: "underlying" },
];

/** The enum index of a parameter name; throws a one-line error listing nothing but the problem. */
export function paramIndex(name: string): number {
  const i = PARAMS.findIndex((p) => p.name === name.toUpperCase());
  if (i < 0) throw new Error(`unknown parameter "${name}" (see npm run gov -- params)`);
  return i;
}

const DURATION = /^(\d+)(s|m|h|d)?$/;
const SECONDS: Record<string, bigint> = { s: 1n, m: 60n, h: 3600n, d: 86_400n };

/** Parses a human value ("0.02", "4h", "16") into the parameter's contract units. */
export function parseParamValue(name: string, text: string): bigint {
  const { unit } = PARAMS[paramIndex(name)];
  if (unit === "wad") {
    if (!/^\d+(\.\d{1,18})?$/.test(text)) throw new Error(`${name} takes a decimal number (WAD), got "${text}"`);
    return parseUnits(text, 18);
  }
  if (unit === "seconds") {
    const m = DURATION.exec(text);
    if (m === null) throw new Error(`${name} takes a duration like 3600, 30m, 4h or 2d, got "${text}"`);
    return BigInt(m[1]) * SECONDS[m[2] ?? "s"];
  }
  if (!/^\d+$/.test(text)) throw new Error(`${name} takes a whole number, got "${text}"`);
  return BigInt(text);
}

/** A contract value in the parameter's human unit. */
export function formatParamValue(index: number, value: bigint): string {
  const { unit } = PARAMS[index];
  if (unit === "wad") return formatUnits(value, 18);
  if (unit === "seconds") return `${value}s`;
  return value.toString();
}

/** A scope as people read it: the market id, the underlying's address, or "global". */
export function formatScope(index: number, scope: bigint): string {
  const kind = PARAMS[index]?.scope;
  if (kind === "underlying" && scope > 0n && scope < 1n << 160n) return getAddress(toBeHex(scope, 20));
  if (kind === "global" && scope === 0n) return "global";
  return scope.toString();
}
