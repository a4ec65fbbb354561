import type { DeployFunction } from "hardhat-deploy/types";
import type { HardhatRuntimeEnvironment } from "hardhat/types";
import { networkConfig } from "../config/networks";
import { GOVERNED_CONTRACTS, resolveScope } from "../scripts/lib/tokens";
import { paramIndex } from "../scripts/lib/params";

/** A named account (hardhat-deploy) or a literal address. */
async function resolve(hre: HardhatRuntimeEnvironment, who: string): Promise<string> {
  if (hre.ethers.isAddress(who)) return who;
  const named = (await hre.getNamedAccounts())[who];
  if (named === undefined) throw new Error(`governance config names unknown account "${who}"`);
  return named;
}

/**
 * Governance: the TimelockController, RiskConfig with its initial parameters and keeper limits,
 * the guardian / keeper / revoker roles, and the hand-over: the timelock becomes the only admin of
 * every contract and the deployer renounces its admin roles (it keeps only what the config names
 * it for: locally, timelock proposer and revoker).
 */
const func: DeployFunction = async (hre) => {
  const { deployments, getNamedAccounts, network, ethers } = hre;
  const config = networkConfig(network.name);
  const gov = config.governance;
  const { deployer } = await getNamedAccounts();
  const signer = await ethers.getSigner(deployer);
  const proposer = await resolve(hre, gov.proposer);

  // Proposers also cancel (OpenZeppelin 5); anyone may execute a ready operation.
  const timelock = await deployments.deploy("TimelockController", {
    from: deployer,
    args: [gov.timelockDelay, [proposer], [ethers.ZeroAddress], ethers.ZeroAddress],
    log: false,
  });
  const accounts = await ethers.getContractAt(
    "MarginAccounts",
    (await deployments.get("MarginAccounts")).address,
    signer,
  );
  const deployed = await deployments.deploy("RiskConfig", {
    from: deployer,
    // The deployer is admin only until the hand-over below, to write the initial parameters.
    args: [
      deployer,
      await resolve(hre, gov.revoker),
      (await deployments.get("VolatilityOracle")).address,
      await accounts.getAddress(),
    ],
    log: false,
  });
  if (!deployed.newlyDeployed) return;
  const risk = await ethers.getContractAt("RiskConfig", deployed.address, signer);

  for (const s of gov.params) {
    await (await risk.setParameter(paramIndex(s.param), await resolveScope(hre, config, s.scope), s.value)).wait();
  }
  for (const k of gov.keeperLimits) {
    const limits = {
      bandMin: k.bandMin,
      bandMax: k.bandMax,
      loosenStep: k.loosenStep,
      tightenStep: k.tightenStep,
      window: k.window,
    };
    await (await risk.setKeeperLimits(paramIndex(k.param), await resolveScope(hre, config, k.scope), limits)).wait();
  }
  await (await risk.grantRole(await risk.GUARDIAN_ROLE(), await resolve(hre, gov.guardian))).wait();
  await (await risk.grantRole(await risk.RISK_KEEPER_ROLE(), await resolve(hre, gov.keeper))).wait();
  await (await accounts.grantRole(await accounts.PAUSER_ROLE(), deployed.address)).wait();

  // Hand-over: every admin role to the timelock, then the deployer renounces its own.
  const admin = ethers.ZeroHash; // DEFAULT_ADMIN_ROLE
  for (const name of GOVERNED_CONTRACTS) {
    const contract = await ethers.getContractAt("AccessControl", (await deployments.get(name)).address, signer);
    await (await contract.grantRole(admin, timelock.address)).wait();
    await (await contract.renounceRole(admin, deployer)).wait();
  }
};
func.tags = ["governance"];
func.dependencies = ["collateral", "oracles"];
export default func;
