import type { DeployFunction } from "hardhat-deploy/types";
import { networkConfig } from "../config/networks";
import { tokenAddress } from "../scripts/lib/tokens";

/** The contracts that hold the money: margin accounts, liquidity pool, insurance fund. */
const func: DeployFunction = async (hre) => {
  const { deployments, getNamedAccounts, network } = hre;
  const config = networkConfig(network.name);
  const { deployer } = await getNamedAccounts();
  const usdc = await tokenAddress(hre, config.settlement);

  await deployments.deploy("MarginAccounts", {
    from: deployer,
    args: [deployer, usdc, config.settlement.cap],
    log: false,
  });
  for (const c of config.collaterals) {
    const address = await tokenAddress(hre, c);
    const listed = await deployments.read("MarginAccounts", "collateral", address);
    if (!listed.listed) {
      await deployments.execute("MarginAccounts", { from: deployer }, "listCollateral", address, c.weight, c.cap);
    }
  }

  await deployments.deploy("LiquidityPool", {
    from: deployer,
    args: [usdc, deployer, config.pool.cooldown, config.pool.claimWindow],
    log: false,
  });
  await deployments.deploy("InsuranceFund", { from: deployer, args: [usdc, deployer], log: false });
};
func.tags = ["collateral"];
func.dependencies = ["mocks"];
export default func;
