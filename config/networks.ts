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
  pool: {
    /** Seconds from an LP's redeem request to the start of its claim window. */
    cooldown: number;
    /** Seconds a matured redeem request stays claimable. */
    claimWindow: number;
  };
}

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
        guard: {
          maxDeviation: parseUnits("0.03", 18),
          breakerMaxMove: parseUnits("0.2", 18),
          breakerWindow: 3600,
          degradedCooldown: 1800,
        },
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
        guard: {
          maxDeviation: parseUnits("0.03", 18),
          breakerMaxMove: parseUnits("0.2", 18),
          breakerWindow: 3600,
          degradedCooldown: 1800,
        },
        volatility: {
          lambda: parseUnits("0.94", 18),
          minVol: parseUnits("0.15", 18),
          maxVol: parseUnits("4", 18),
          initialVol: parseUnits("0.5", 18),
        },
      },
    ],
  },
  pool: { cooldown: 24 * 3600, claimWindow: 48 * 3600 },
};

export const networks: Record<string, NetworkConfig> = {
  hardhat: local,
  localhost: local,
};

export function networkConfig(name: string): NetworkConfig {
  const config = networks[name];
  if (config === undefined) {
    throw new Error(`No Keel configuration for network "${name}" (known: ${Object.keys(networks).join(", ")})`);
  }
  return config;
}
