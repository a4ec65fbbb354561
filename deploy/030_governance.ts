import type { DeployFunction } from "hardhat-deploy/types";
import { networkConfig } from "../config/networks";
import { resolveAccount, resolveScope } from "../scripts/lib/tokens";
import { paramIndex } from "../scripts/lib/params";

/**
 * Governance: the TimelockController, RiskConfig with its initial parameters and keeper limits,
 * and the guardian / keeper / revoker roles. The deployer stays admin until 090_handover.
 */
const func: DeployFunction = async (hre) => {
  const { deployments, getNamedAccounts, network, ethers } = hre;
  const config = networkConfig(network.name);
  const gov = config.governance;
  const { deployer } = await getNamedAccounts();
  const signer = await ethers.getSigner(deployer);
  const proposer = await resolveAccount(hre, gov.proposer);

  // Proposers also cancel (OpenZeppelin 5); anyone may execute a ready operation.
  await deployments.deploy("TimelockController", {
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
    // The deployer is admin only until 090_handover, to write the initial parameters.
    args: [
      deployer,
      await resolveAccount(hre, gov.revoker),
      (await deployments.get("VolatilityOracle")).address,
      await accounts.getAddress(),
    ],
    log: false,
  });
  const risk = await ethers.getContractAt("RiskConfig", deployed.address, signer);
  const admin = ethers.ZeroHash; // DEFAULT_ADMIN_ROLE
  // Every step below is idempotent: a deploy that failed half-way is finished by running it again.
  if (await risk.hasRole(admin, deployer)) {
    for (const s of gov.params) {
      const index = paramIndex(s.param);
      const scope = await resolveScope(hre, config, s.scope);
      const [set, value] = await risk.tryGet(index, scope);
      if (!set || value !== s.value) await (await risk.setParameter(index, scope, s.value)).wait();
    }
    for (const k of gov.keeperLimits) {
      const index = paramIndex(k.param);
      const scope = await resolveScope(hre, config, k.scope);
      const limits = [k.bandMin, k.bandMax, k.loosenStep, k.tightenStep, BigInt(k.window)];
      const current = await risk.keeperLimits(index, scope);
      if (current.some((v, i) => v !== limits[i])) {
        const [bandMin, bandMax, loosenStep, tightenStep, window] = limits;
        await (await risk.setKeeperLimits(index, scope, { bandMin, bandMax, loosenStep, tightenStep, window })).wait();
      }
    }
    for (const [role, who] of [
      [await risk.GUARDIAN_ROLE(), gov.guardian],
      [await risk.RISK_KEEPER_ROLE(), gov.keeper],
    ] as const) {
      const account = await resolveAccount(hre, who);
      if (!(await risk.hasRole(role, account))) await (await risk.grantRole(role, account)).wait();
    }
  }
  const pauser = await accounts.PAUSER_ROLE();
  if ((await accounts.hasRole(admin, deployer)) && !(await accounts.hasRole(pauser, deployed.address))) {
    await (await accounts.grantRole(pauser, deployed.address)).wait();
  }
};
func.tags = ["governance"];
func.dependencies = ["collateral", "oracles"];
export default func;
