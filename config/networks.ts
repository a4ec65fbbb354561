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

export interface NetworkConfig {
  /** Deploy mock tokens (and later mock feeds and a real Uniswap v3 pool) instead of using addresses. */
  mocks: boolean;
  settlement: TokenConfig & { cap: bigint };
  collaterals: CollateralConfig[];
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
