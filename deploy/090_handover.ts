import type { DeployFunction } from "hardhat-deploy/types";
import { GOVERNED_CONTRACTS } from "../scripts/lib/tokens";

/**
 * The hand-over: the timelock becomes the only admin of every contract and the deployer renounces
 * its admin roles (it keeps only what the config names it for: locally, timelock proposer and
 * revoker). Runs last, after every contract is wired.
 */
const func: DeployFunction = async (hre) => {
  const { deployments, getNamedAccounts, ethers } = hre;
  const { deployer } = await getNamedAccounts();
  const signer = await ethers.getSigner(deployer);
  const timelock = (await deployments.get("TimelockController")).address;
  const admin = ethers.ZeroHash; // DEFAULT_ADMIN_ROLE
  for (const name of GOVERNED_CONTRACTS) {
    const contract = await ethers.getContractAt("AccessControl", (await deployments.get(name)).address, signer);
    if (!(await contract.hasRole(admin, deployer))) continue;
    if (!(await contract.hasRole(admin, timelock))) await (await contract.grantRole(admin, timelock)).wait();
    await (await contract.renounceRole(admin, deployer)).wait();
  }
};
func.tags = ["handover"];
func.dependencies = ["collateral", "oracles", "governance", "markets", "liquidation"];
export default func;
