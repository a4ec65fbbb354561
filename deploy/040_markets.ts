import type { DeployFunction } from "hardhat-deploy/types";
import { networkConfig } from "../config/networks";
import { tokenAddress } from "../scripts/lib/tokens";

/**
 * Perp markets and the margin engine, and the wiring that makes them one system: RiskConfig
 * pushes market parameters to PerpMarket, PerpMarket settles through MarginAccounts against the
 * pool (fees' insurance share to the fund), MarginAccounts checks withdrawals with the engine, and
 * the pool's share price counts traders' unrealized PnL. Every step is idempotent.
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
  const engineDeployment = await deployments.deploy("MarginEngine", {
    from: deployer,
    args: [accountsAddress, perpsDeployment.address, oracleAddress],
    log: false,
  });
  await deployments.deploy("MarginLens", {
    from: deployer,
    args: [engineDeployment.address, perpsDeployment.address],
    log: false,
  });

  const perps = await ethers.getContractAt("PerpMarket", perpsDeployment.address, signer);
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
  if ((await risk.hasRole(admin, deployer)) && (await risk.listener()) !== perpsDeployment.address) {
    await send(risk.setListener(perpsDeployment.address));
  }
  if (await accounts.hasRole(admin, deployer)) {
    const market = await accounts.MARKET_ROLE();
    if (!(await accounts.hasRole(market, perpsDeployment.address))) {
      await send(accounts.grantRole(market, perpsDeployment.address));
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
  }
};
func.tags = ["markets"];
func.dependencies = ["collateral", "oracles", "governance"];
export default func;
