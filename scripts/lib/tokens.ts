import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { NetworkConfig, TokenConfig } from "../../config/networks";

/** The token's address: the configured one on real networks, the deployed mock locally. */
export async function tokenAddress(hre: HardhatRuntimeEnvironment, token: TokenConfig): Promise<string> {
  if (token.address !== undefined) return token.address;
  return (await hre.deployments.get(token.symbol)).address;
}

/** A parameter's scope: a market id, or the token address of an underlying's collateral symbol. */
export async function resolveScope(
  hre: HardhatRuntimeEnvironment,
  config: NetworkConfig,
  scope: number | string | undefined,
): Promise<bigint> {
  if (scope === undefined) return 0n;
  if (typeof scope === "number") return BigInt(scope);
  const collateral = config.collaterals.find((c) => c.symbol === scope);
  if (collateral === undefined) throw new Error(`unknown underlying "${scope}"`);
  return BigInt(await tokenAddress(hre, collateral));
}

/** Every contract whose only admin is the timelock once the deploy hands over. */
export const GOVERNED_CONTRACTS = [
  "MarginAccounts",
  "LiquidityPool",
  "InsuranceFund",
  "PriceOracle",
  "VolatilityOracle",
  "RiskConfig",
  "PerpMarket",
  "OptionMarket",
] as const;

/** A named account (hardhat-deploy) or a literal address, as the governance config names them. */
export async function resolveAccount(hre: HardhatRuntimeEnvironment, who: string): Promise<string> {
  if (hre.ethers.isAddress(who)) return who;
  const named = (await hre.getNamedAccounts())[who];
  if (named === undefined) throw new Error(`governance config names unknown account "${who}"`);
  return named;
}
