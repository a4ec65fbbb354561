import type { DeployFunction } from "hardhat-deploy/types";
import { networkConfig } from "../config/networks";
import { tokenAddress } from "../scripts/lib/tokens";

/**
 * Perp and option markets and the margin engine, and the wiring that makes them one system:
 * RiskConfig pushes market parameters to PerpMarket, both markets settle through MarginAccounts
 * against the pool (fees' insurance share to the fund), MarginAccounts checks withdrawals with the
 * engine, and the pool's share price counts traders' unrealized PnL and options. Option series are
 * listed by LISTER_ROLE holders, which governance grants (none at deployment). Idempotent.
 */
const func: DeployFunction = async (hre) => {
  const { deployments, getNamedAccounts, network, ethers } = hre;
  const config = networkConfig(network.name);
  const { deployer } = await getNamedAccounts();
  const signer = await ethers.getSigner(deployer);
  const at = async <T extends string>(name: T) => (await deployments.get(name)).address;
  const accountsAddress = await at("MarginAccounts");
  const oracleAddress = await at("PriceOracle");

  const perpsDeployment = await deployments.deploy("PerpMarket", {
    from: deployer,
    args: [
      deployer,
      accountsAddress,
      oracleAddress,
      await at("VolatilityOracle"),
      await at("RiskConfig"),
      config.settlement.decimals,
    ],
    log: false,
  });
  const optionsDeployment = await deployments.deploy("OptionMarket", {
    from: deployer,
    args: [
      deployer,
      accountsAddress,
      oracleAddress,
      await at("RiskConfig"),
      perpsDeployment.address,
      config.settlement.decimals,
    ],
    log: false,
  });
  const engineDeployment = await deployments.deploy("MarginEngine", {
    from: deployer,
    args: [accountsAddress, perpsDeployment.address, optionsDeployment.address, oracleAddress],
    log: false,
  });
  const liabilityDeployment = await deployments.deploy("OptionLiability", {
    from: deployer,
    args: [optionsDeployment.address, oracleAddress, await at("RiskConfig"), accountsAddress],
    log: false,
  });
  await deployments.deploy("OptionLens", {
    from: deployer,
    args: [optionsDeployment.address, oracleAddress, await at("RiskConfig"), accountsAddress],
    log: false,
  });
  await deployments.deploy("MarginLens", {
    from: deployer,
    args: [engineDeployment.address, perpsDeployment.address, accountsAddress],
    log: false,
  });

  const perps = await ethers.getContractAt("PerpMarket", perpsDeployment.address, signer);
  const options = await ethers.getContractAt("OptionMarket", optionsDeployment.address, signer);
  const risk = await ethers.getContractAt("RiskConfig", await at("RiskConfig"), signer);
  const accounts = await ethers.getContractAt("MarginAccounts", accountsAddress, signer);
  const pool = await ethers.getContractAt("LiquidityPool", await at("LiquidityPool"), signer);
  const fund = await ethers.getContractAt("InsuranceFund", await at("InsuranceFund"), signer);
  const admin = ethers.ZeroHash;
  const send = async (tx: Promise<{ wait: () => Promise<unknown> }>) => {
    await (await tx).wait();
  };

  if (await perps.hasRole(admin, deployer)) {
    if ((await perps.marginEngine()) !== engineDeployment.address) {
      await send(perps.setMarginEngine(engineDeployment.address));
    }
    for (const m of config.markets) {
      const collateral = config.collaterals.find((c) => c.symbol === m.symbol);
      if (collateral === undefined) throw new Error(`market ${m.id}: unknown underlying "${m.symbol}"`);
      const underlying = await tokenAddress(hre, collateral);
      if ((await perps.underlyingOf(m.id)) === ethers.ZeroAddress) await send(perps.listMarket(m.id, underlying));
    }
  }
  if ((await options.hasRole(admin, deployer)) && (await options.marginEngine()) !== engineDeployment.address) {
    await send(options.setMarginEngine(engineDeployment.address));
  }
  if ((await risk.hasRole(admin, deployer)) && (await risk.listener()) !== perpsDeployment.address) {
    await send(risk.setListener(perpsDeployment.address));
  }
  if (await accounts.hasRole(admin, deployer)) {
    const market = await accounts.MARKET_ROLE();
    for (const settler of [perpsDeployment.address, optionsDeployment.address]) {
      if (!(await accounts.hasRole(market, settler))) await send(accounts.grantRole(market, settler));
    }
    if ((await accounts.pool()) !== (await pool.getAddress())) {
      await send(accounts.setSettlement(await pool.getAddress(), await fund.getAddress()));
    }
    if ((await accounts.healthCheck()) !== engineDeployment.address) {
      await send(accounts.setHealthCheck(engineDeployment.address));
    }
  }
  if (await fund.hasRole(admin, deployer)) {
    const recorder = await fund.RECORDER_ROLE();
    if (!(await fund.hasRole(recorder, accountsAddress))) await send(fund.grantRole(recorder, accountsAddress));
  }
  if (await pool.hasRole(admin, deployer)) {
    if ((await pool.settlementSpender()) !== accountsAddress) await send(pool.setSettlement(accountsAddress));
    if ((await pool.pnlSource()) !== perpsDeployment.address) await send(pool.setPnlSource(perpsDeployment.address));
    if ((await pool.optionSource()) !== liabilityDeployment.address) {
      await send(pool.setOptionSource(liabilityDeployment.address));
    }
  }
};
func.tags = ["markets"];
func.dependencies = ["collateral", "oracles", "governance"];
export default func;
