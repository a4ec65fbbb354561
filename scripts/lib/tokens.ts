import type { HardhatRuntimeEnvironment } from "hardhat/types";
import type { TokenConfig } from "../../config/networks";

/** The token's address: the configured one on real networks, the deployed mock locally. */
export async function tokenAddress(hre: HardhatRuntimeEnvironment, token: TokenConfig): Promise<string> {
  if (token.address !== undefined) return token.address;
  return (await hre.deployments.get(token.symbol)).address;
}
