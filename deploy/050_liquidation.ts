import type { DeployFunction } from "hardhat-deploy/types";

/**
 * The liquidation engine and its powers: it moves positions (PerpMarket) and collateral
 * (MarginAccounts) from liquidated accounts to bidders, pays insolvent bidders from the insurance
 * fund, and receives every change of the liquidation parameters from RiskConfig. It has no admin
 * of its own. Every step is idempotent.
 */
const func: DeployFunction = async (hre) => {
  const { deployments, getNamedAccounts, ethers } = hre;
  const { deployer } = await getNamedAccounts();
  const signer = await ethers.getSigner(deployer);
  const at = async (name: string) => (await deployments.get(name)).address;

  const previous = await deployments.getOrNull("LiquidationEngine");
  const engine = await deployments.deploy("LiquidationEngine", {
    from: deployer,
    args: [
      await at("MarginAccounts"),
      await at("PerpMarket"),
      await at("MarginEngine"),
      await at("RiskConfig"),
      await at("InsuranceFund"),
    ],
    log: false,
  });

  const send = async (tx: Promise<{ wait: () => Promise<unknown> }>) => {
    await (await tx).wait();
  };
  const admin = ethers.ZeroHash;
  const accounts = await ethers.getContractAt("MarginAccounts", await at("MarginAccounts"), signer);
  const perps = await ethers.getContractAt("PerpMarket", await at("PerpMarket"), signer);
  const options = await ethers.getContractAt("OptionMarket", await at("OptionMarket"), signer);
  const fund = await ethers.getContractAt("InsuranceFund", await at("InsuranceFund"), signer);
  const risk = await ethers.getContractAt("RiskConfig", await at("RiskConfig"), signer);
  for (const contract of [accounts, perps, options]) {
    const role = await contract.LIQUIDATOR_ROLE();
    if ((await contract.hasRole(admin, deployer)) && !(await contract.hasRole(role, engine.address))) {
      await send(contract.grantRole(role, engine.address));
    }
  }
  const drawer = await fund.DRAWER_ROLE();
  // A redeployed engine (new bytecode) replaces the old one: the old address keeps no power.
  if (previous && previous.address !== engine.address) {
    for (const contract of [accounts, perps, options]) {
      const role = await contract.LIQUIDATOR_ROLE();
      if ((await contract.hasRole(admin, deployer)) && (await contract.hasRole(role, previous.address))) {
        await send(contract.revokeRole(role, previous.address));
      }
    }
    if ((await fund.hasRole(admin, deployer)) && (await fund.hasRole(drawer, previous.address))) {
      await send(fund.revokeRole(drawer, previous.address));
    }
  }
  if ((await fund.hasRole(admin, deployer)) && !(await fund.hasRole(drawer, engine.address))) {
    await send(fund.grantRole(drawer, engine.address));
  }
  if ((await risk.hasRole(admin, deployer)) && (await risk.globalListener()) !== engine.address) {
    await send(risk.setGlobalListener(engine.address));
  }
};
func.tags = ["liquidation"];
func.dependencies = ["markets"];
export default func;
