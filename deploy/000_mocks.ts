import type { DeployFunction } from "hardhat-deploy/types";
import { networkConfig } from "../config/networks";

/** Local networks only: mock settlement stablecoin and collateral tokens. */
const func: DeployFunction = async ({ deployments, getNamedAccounts, network }) => {
  const config = networkConfig(network.name);
  const { deployer } = await getNamedAccounts();
  for (const token of [config.settlement, ...config.collaterals]) {
    await deployments.deploy(token.symbol, {
      contract: "MockERC20",
      from: deployer,
      args: [`Mock ${token.symbol}`, token.symbol, token.decimals],
      log: false,
    });
  }
};
func.tags = ["mocks"];
func.skip = async ({ network }) => !networkConfig(network.name).mocks;
export default func;
