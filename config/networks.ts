// Typed per-network deployment configuration. Token amounts are in each token's own decimals;
// weights are WAD (1e18 = 1). Every value here must also sit inside the contracts' hard bounds,
// which the last deploy step verifies.
import { parseUnits } from "ethers";

export interface TokenConfig {
  symbol: string;
  decimals: number;
  /** Deployed address on real networks; local networks deploy a mock instead. */
  address?: string;
}

export interface CollateralConfig extends TokenConfig {
  /** Haircut weight, WAD, strictly below 1 for non-settlement collateral. */
  weight: bigint;
  /** Global deposit cap across all accounts, in token units. */
  cap: bigint;
}

export interface OracleAssetConfig {
  /** Collateral symbol of the priced asset (its token is the TWAP base). */
  symbol: string;
  chainlink: {
    /** Feed address on real networks; local networks deploy a mock answering `mockAnswer`. */
    feed?: string;
    mockAnswer?: bigint;
    heartbeat: number;
    tolerance: number;
    decimals: number;
    /** Band (feed decimals): answers at or beyond either end are refused. */
    minAnswer: bigint;
    maxAnswer: bigint;
  };
  twap: {
    /** Pool address on real networks; local networks create and seed a real Uniswap v3 pool. */
    pool?: string;
    /** Local seeding: the initial price in quote units and the base amount of liquidity. */
    seedPrice?: string;
    seedBase?: string;
    window: number;
    minCardinality: number;
  };
  guard: { maxDeviation: bigint; breakerMaxMove: bigint; breakerWindow: number; degradedCooldown: number };
  volatility: { lambda: bigint; minVol: bigint; maxVol: bigint; initialVol: bigint };
}

/** A RiskConfig parameter by name (RiskParams.Param), its scope and value in contract units. */
export interface ParamSetting {
  param: string;
  /** Market id, or an asset symbol for per-underlying parameters; omitted for global ones. */
  scope?: number | string;
  value: bigint;
}

export interface KeeperLimitSetting {
  param: string;
  scope: number | string;
  bandMin: bigint;
  bandMax: bigint;
  loosenStep: bigint;
  tightenStep: bigint;
  window: number;
}

export interface GovernanceConfig {
  /** TimelockController delay in seconds: a few seconds locally, 48 hours on mainnet. */
  timelockDelay: number;
  /** Named accounts (hardhat-deploy) or addresses; local networks use the named test accounts. */
  proposer: string;
  revoker: string;
  guardian: string;
  keeper: string;
  params: ParamSetting[];
  keeperLimits: KeeperLimitSetting[];
}

export interface NetworkConfig {
  /** Deploy mock tokens (and later mock feeds and a real Uniswap v3 pool) instead of using addresses. */
  mocks: boolean;
  settlement: TokenConfig & { cap: bigint };
  collaterals: CollateralConfig[];
  oracles: {
    /** L2 sequencer uptime feed and grace period (seconds); absent on L1 and local networks. */
    sequencer?: { feed: string; gracePeriod: number };
    assets: OracleAssetConfig[];
  };
  governance: GovernanceConfig;
  /** Perp markets: id (the RiskConfig scope of their parameters) and the collateral symbol of the underlying. */
  markets: { id: number; symbol: string }[];
  pool: {
    /** Seconds from an LP's redeem request to the start of its claim window. */
    cooldown: number;
    /** Seconds a matured redeem request stays claimable. */
    claimWindow: number;
  };
}

function wad(value: string): bigint {
  return parseUnits(value, 18);
}

/** The local perp market parameters of market `id` (sizes in base units). */
function perpMarket(
  id: number,
  m: { oi: string; position: string; skewScale: string; mmFloor: string },
): ParamSetting[] {
  return [
    { param: "MM_FLOOR", scope: id, value: wad(m.mmFloor) },
    { param: "MM_SIZE_FACTOR", scope: id, value: wad("0.02") },
    { param: "MM_VOL_MULTIPLIER", scope: id, value: wad("3") },
    { param: "LIQUIDATION_HORIZON", scope: id, value: 4n * 3600n },
    { param: "IM_MULTIPLIER", scope: id, value: wad("1.5") },
    { param: "MAKER_FEE", scope: id, value: wad("0.0002") },
    { param: "TAKER_FEE", scope: id, value: wad("0.0006") },
    { param: "FEE_INSURANCE_SHARE", scope: id, value: wad("0.2") },
    { param: "SKEW_SCALE", scope: id, value: wad(m.skewScale) },
    { param: "MAX_FUNDING_VELOCITY", scope: id, value: wad("3") },
    { param: "MAX_FUNDING_RATE", scope: id, value: wad("0.1") },
    { param: "MAX_OI_LONG", scope: id, value: wad(m.oi) },
    { param: "MAX_OI_SHORT", scope: id, value: wad(m.oi) },
    { param: "MAX_POSITION_SIZE", scope: id, value: wad(m.position) },
  ];
}

/** The local option parameters of an underlying (by collateral symbol). */
function optionsOn(symbol: string, o: { iv: string; delta: string; seriesOi: string }): ParamSetting[] {
  return [
    { param: "IV_FLOOR_FACTOR", scope: symbol, value: wad("0.8") },
    { param: "IMPLIED_VOL", scope: symbol, value: wad(o.iv) },
    { param: "OPTION_SPREAD_BASE", scope: symbol, value: wad("0.01") },
    { param: "OPTION_SPREAD_SLOPE", scope: symbol, value: wad("0.05") },
    { param: "STRIKE_BAND", scope: symbol, value: wad("0.5") },
    { param: "EXPIRY_GRID", scope: symbol, value: 86_400n },
    { param: "MAX_EXPIRY", scope: symbol, value: 90n * 86_400n },
    { param: "MAX_LIVE_SERIES", scope: symbol, value: 40n },
    { param: "MAX_SERIES_OI", scope: symbol, value: wad(o.seriesOi) },
    { param: "MAX_NET_DELTA", scope: symbol, value: wad(o.delta) },
    { param: "MAX_NET_VEGA", scope: symbol, value: wad("5000000") },
    { param: "LONG_OPTION_HAIRCUT", scope: symbol, value: wad("0.2") },
    { param: "SHORT_OPTION_MM_SPOT", scope: symbol, value: wad("0.1") },
    { param: "SHORT_OPTION_MM_FLOOR", scope: symbol, value: wad("0.02") },
    { param: "MAX_OPTIONS_PER_ACCOUNT", scope: symbol, value: 16n },
    { param: "OPTION_IM_MULTIPLIER", scope: symbol, value: wad("1.5") },
    { param: "VOL_SHOCK_UP", scope: symbol, value: wad("0.5") },
    { param: "VOL_SHOCK_DOWN", scope: symbol, value: wad("0.3") },
  ];
}

/** Deviation bound and circuit breaker for a major crypto asset against USD. */
const CRYPTO_GUARD: OracleAssetConfig["guard"] = {
  maxDeviation: parseUnits("0.03", 18),
  breakerMaxMove: parseUnits("0.2", 18),
  breakerWindow: 3600,
  degradedCooldown: 1800,
};

const local: NetworkConfig = {
  mocks: true,
  settlement: { symbol: "USDC", decimals: 6, cap: parseUnits("100000000", 6) },
  collaterals: [
    { symbol: "WETH", decimals: 18, weight: parseUnits("0.85", 18), cap: parseUnits("50000", 18) },
    { symbol: "WBTC", decimals: 8, weight: parseUnits("0.8", 18), cap: parseUnits("2000", 8) },
  ],
  oracles: {
    assets: [
      {
        symbol: "WETH",
        chainlink: {
          mockAnswer: parseUnits("3000", 8),
          heartbeat: 3600,
          tolerance: 300,
          decimals: 8,
          minAnswer: parseUnits("1", 8),
          maxAnswer: parseUnits("1000000", 8),
        },
        twap: { seedPrice: "3000", seedBase: "1000", window: 1800, minCardinality: 100 },
        guard: CRYPTO_GUARD,
        volatility: {
          lambda: parseUnits("0.94", 18),
          minVol: parseUnits("0.2", 18),
          maxVol: parseUnits("5", 18),
          initialVol: parseUnits("0.6", 18),
        },
      },
      {
        symbol: "WBTC",
        chainlink: {
          mockAnswer: parseUnits("60000", 8),
          heartbeat: 3600,
          tolerance: 300,
          decimals: 8,
          minAnswer: parseUnits("10", 8),
          maxAnswer: parseUnits("10000000", 8),
        },
        twap: { seedPrice: "60000", seedBase: "50", window: 1800, minCardinality: 100 },
        guard: CRYPTO_GUARD,
        volatility: {
          lambda: parseUnits("0.94", 18),
          minVol: parseUnits("0.15", 18),
          maxVol: parseUnits("4", 18),
          initialVol: parseUnits("0.5", 18),
        },
      },
    ],
  },
  governance: {
    timelockDelay: 2,
    proposer: "deployer",
    revoker: "deployer",
    guardian: "guardian",
    keeper: "keeper",
    params: [
      ...perpMarket(1, { oi: "20000", position: "2000", skewScale: "1000000", mmFloor: "0.01" }),
      ...perpMarket(2, { oi: "1000", position: "100", skewScale: "50000", mmFloor: "0.01" }),
      ...optionsOn("WETH", { iv: "0.7", delta: "5000", seriesOi: "2000" }),
      ...optionsOn("WBTC", { iv: "0.6", delta: "250", seriesOi: "100" }),
      { param: "LIQUIDATION_FEE", value: wad("0.02") },
      { param: "AUCTION_START_DISCOUNT", value: wad("0.01") },
      { param: "AUCTION_FAST_DISCOUNT", value: wad("0.05") },
      { param: "AUCTION_DISCOUNT_CAP", value: wad("0.15") },
      { param: "AUCTION_FAST_DURATION", value: 60n },
      { param: "AUCTION_SLOW_DURATION", value: 3600n },
      { param: "AUCTION_STALL_TIMEOUT", value: 1800n },
      { param: "BUFFER_MARGIN", value: wad("0.1") },
      { param: "DUST_THRESHOLD", value: wad("100") },
      { param: "INSOLVENT_PAYOUT_CAP", value: wad("10000") },
      { param: "INSOLVENT_RAMP", value: 1800n },
      { param: "THROUGHPUT_CAP", value: wad("10000000") },
      { param: "THROUGHPUT_WINDOW", value: 3600n },
      { param: "INSURANCE_FLOOR", value: wad("1000") },
    ],
    keeperLimits: [
      ...[1, 2].flatMap((market) =>
        ["MAX_OI_LONG", "MAX_OI_SHORT"].map((param) => ({
          param,
          scope: market,
          bandMin: 0n,
          bandMax: wad(market === 1 ? "40000" : "2000"),
          loosenStep: wad("0.1"),
          tightenStep: wad("0.5"),
          window: 24 * 3600,
        })),
      ),
      ...["WETH", "WBTC"].map((symbol) => ({
        param: "IMPLIED_VOL",
        scope: symbol,
        bandMin: wad("0.2"),
        bandMax: wad("3"),
        loosenStep: wad("0.05"),
        tightenStep: wad("0.25"),
        window: 3600,
      })),
    ],
  },
  markets: [
    { id: 1, symbol: "WETH" },
    { id: 2, symbol: "WBTC" },
  ],
  pool: { cooldown: 24 * 3600, claimWindow: 48 * 3600 },
};

/** Ethereum mainnet: real tokens, feeds and pools by address; governance keys from the environment. */
const mainnet: NetworkConfig = {
  mocks: false,
  settlement: {
    symbol: "USDC",
    decimals: 6,
    address: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
    cap: parseUnits("10000000", 6),
  },
  collaterals: [
    {
      symbol: "WETH",
      decimals: 18,
      address: "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
      weight: parseUnits("0.85", 18),
      cap: parseUnits("2000", 18),
    },
    {
      symbol: "WBTC",
      decimals: 8,
      address: "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599",
      weight: parseUnits("0.8", 18),
      cap: parseUnits("100", 8),
    },
  ],
  oracles: {
    assets: local.oracles.assets.map((asset) => ({
      ...asset,
      chainlink: {
        ...asset.chainlink,
        mockAnswer: undefined,
        // Chainlink ETH / USD and BTC / USD (8 decimals, 1 h heartbeat, 0.5% deviation).
        feed:
          asset.symbol === "WETH"
            ? "0x5f4eC3Df9cbd43714FE2740f5E3616155c5b8419"
            : "0xF4030086522a5bEEa4988F8cA5B36dbC97BeE88c",
      },
      twap: {
        // Uniswap v3 USDC / WETH 0.05% and WBTC / USDC 0.3%.
        pool:
          asset.symbol === "WETH"
            ? "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640"
            : "0x99ac8cA7087fA4A2A1FB6357269965A2014ABc35",
        window: 1800,
        minCardinality: 150,
      },
    })),
  },
  governance: {
    ...local.governance,
    // Every change is visible for two days before it takes effect.
    timelockDelay: 48 * 3600,
    proposer: process.env.KEEL_GOVERNANCE_MULTISIG ?? "unset: KEEL_GOVERNANCE_MULTISIG",
    revoker: process.env.KEEL_GOVERNANCE_MULTISIG ?? "unset: KEEL_GOVERNANCE_MULTISIG",
    guardian: process.env.KEEL_GUARDIAN ?? "unset: KEEL_GUARDIAN",
    keeper: process.env.KEEL_RISK_KEEPER ?? "unset: KEEL_RISK_KEEPER",
  },
  markets: local.markets,
  pool: { cooldown: 72 * 3600, claimWindow: 48 * 3600 },
};

export const networks: Record<string, NetworkConfig> = {
  hardhat: local,
  localhost: local,
  mainnet,
};

export function networkConfig(name: string): NetworkConfig {
  const config = networks[name];
  if (config === undefined) {
    throw new Error(`No Keel configuration for network "${name}" (known: ${Object.keys(networks).join(", ")})`);
  }
  return config;
}
