import type { DeployFunction } from "hardhat-deploy/types";
import { networkConfig } from "../config/networks";
import { GOVERNED_CONTRACTS, resolveAccount, resolveScope, tokenAddress } from "../scripts/lib/tokens";
import { paramIndex } from "../scripts/lib/params";

/**
 * Last step: reads the deployment back and fails loudly, listing every mismatch, when a role,
 * an address or a parameter is not what the configuration says.
 */
const func: DeployFunction = async (hre) => {
  const { deployments, getNamedAccounts, network, ethers } = hre;
  const config = networkConfig(network.name);
  const { deployer } = await getNamedAccounts();
  const usdc = await tokenAddress(hre, config.settlement);
  const problems: string[] = [];
  const expect = (what: string, actual: unknown, wanted: unknown) => {
    if (String(actual).toLowerCase() !== String(wanted).toLowerCase()) {
      problems.push(`${what}: is ${String(actual)}, expected ${String(wanted)}`);
    }
  };

  const accounts = await ethers.getContractAt("MarginAccounts", (await deployments.get("MarginAccounts")).address);
  const pool = await ethers.getContractAt("LiquidityPool", (await deployments.get("LiquidityPool")).address);
  const fund = await ethers.getContractAt("InsuranceFund", (await deployments.get("InsuranceFund")).address);
  const admin = await accounts.DEFAULT_ADMIN_ROLE();
  const timelock = await ethers.getContractAt(
    "TimelockController",
    (await deployments.get("TimelockController")).address,
  );
  const risk = await ethers.getContractAt("RiskConfig", (await deployments.get("RiskConfig")).address);
  for (const name of GOVERNED_CONTRACTS) {
    const contract = await ethers.getContractAt("AccessControl", (await deployments.get(name)).address);
    expect(`${name}: timelock is admin`, await contract.hasRole(admin, await timelock.getAddress()), true);
    expect(`${name}: deployer is not admin`, await contract.hasRole(admin, deployer), false);
  }
  expect("timelock delay", await timelock.getMinDelay(), config.governance.timelockDelay);
  const who = (name: string) => resolveAccount(hre, name);
  expect(
    "timelock proposer",
    await timelock.hasRole(await timelock.PROPOSER_ROLE(), await who(config.governance.proposer)),
    true,
  );
  expect("timelock has no admin", await timelock.hasRole(admin, await timelock.getAddress()), true);
  expect("guardian", await risk.hasRole(await risk.GUARDIAN_ROLE(), await who(config.governance.guardian)), true);
  expect("risk keeper", await risk.hasRole(await risk.RISK_KEEPER_ROLE(), await who(config.governance.keeper)), true);
  expect("revoker", await risk.hasRole(await risk.REVOKER_ROLE(), await who(config.governance.revoker)), true);
  expect(
    "RiskConfig pauses deposits",
    await accounts.hasRole(await accounts.PAUSER_ROLE(), await risk.getAddress()),
    true,
  );
  for (const s of config.governance.params) {
    const scope = await resolveScope(hre, config, s.scope);
    const [set, value] = await risk.tryGet(paramIndex(s.param), scope);
    expect(`${s.param}(${s.scope ?? "global"})`, set ? value : "unset", s.value);
  }

  expect("MarginAccounts settlement token", await accounts.settlementToken(), usdc);
  expect("MarginAccounts settlement cap", (await accounts.collateral(usdc)).cap, config.settlement.cap);
  for (const c of config.collaterals) {
    const listed = await accounts.collateral(await tokenAddress(hre, c));
    expect(`${c.symbol} listed`, listed.listed, true);
    expect(`${c.symbol} weight`, listed.weight, c.weight);
    expect(`${c.symbol} cap`, listed.cap, c.cap);
    expect(`${c.symbol} decimals`, listed.decimals, c.decimals);
  }
  expect("collateral count", (await accounts.collateralTokens()).length, config.collaterals.length + 1);
  expect("LiquidityPool asset", await pool.asset(), usdc);
  expect("LiquidityPool cooldown", await pool.cooldown(), config.pool.cooldown);
  expect("LiquidityPool claim window", await pool.claimWindow(), config.pool.claimWindow);
  expect("InsuranceFund asset", await fund.asset(), usdc);

  const oracle = await ethers.getContractAt("PriceOracle", (await deployments.get("PriceOracle")).address);
  const vol = await ethers.getContractAt("VolatilityOracle", (await deployments.get("VolatilityOracle")).address);
  expect(
    "PriceOracle sequencer feed",
    await oracle.sequencerUptimeFeed(),
    config.oracles.sequencer === undefined
      ? ethers.ZeroAddress
      : (config.oracles.sequencer.feed ?? (await deployments.get("Sequencer-Uptime-Feed")).address),
  );
  expect(
    "PriceOracle sequencer grace period",
    await oracle.sequencerGracePeriod(),
    config.oracles.sequencer?.gracePeriod ?? 0,
  );
  expect("VolatilityOracle price oracle", await vol.priceOracle(), await oracle.getAddress());
  for (const asset of config.oracles.assets) {
    const token = await tokenAddress(
      hre,
      config.collaterals.find((c) => c.symbol === asset.symbol)!,
    );
    const cl = await oracle.chainlinkConfig(token);
    expect(`${asset.symbol} heartbeat`, cl.heartbeat, asset.chainlink.heartbeat);
    expect(`${asset.symbol} feed decimals`, cl.decimals, asset.chainlink.decimals);
    expect(
      `${asset.symbol} answer band`,
      `${cl.minAnswer}..${cl.maxAnswer}`,
      `${asset.chainlink.minAnswer}..${asset.chainlink.maxAnswer}`,
    );
    const twap = await oracle.twapConfig(token);
    expect(`${asset.symbol} TWAP window`, twap.window, asset.twap.window);
    expect(`${asset.symbol} TWAP min cardinality`, twap.minCardinality, asset.twap.minCardinality);
    const guard = await oracle.guardConfig(token);
    expect(`${asset.symbol} max deviation`, guard.maxDeviation, asset.guard.maxDeviation);
    expect(`${asset.symbol} breaker move`, guard.breakerMaxMove, asset.guard.breakerMaxMove);
    expect(`${asset.symbol} volatility lambda`, (await vol.config(token)).lambda, asset.volatility.lambda);
    expect(`${asset.symbol} oracle status`, (await oracle.getPrice(token)).status, 0n);
  }

  const perps = await ethers.getContractAt("PerpMarket", (await deployments.get("PerpMarket")).address);
  const engine = (await deployments.get("MarginEngine")).address;
  const perpsAddress = await perps.getAddress();
  expect("PerpMarket margin engine", await perps.marginEngine(), engine);
  expect("RiskConfig pushes market parameters to PerpMarket", await risk.listener(), perpsAddress);
  expect("PerpMarket settles", await accounts.hasRole(await accounts.MARKET_ROLE(), perpsAddress), true);
  expect("MarginAccounts settles against the pool", await accounts.pool(), await pool.getAddress());
  expect("MarginAccounts pays fees to the fund", await accounts.insuranceFund(), await fund.getAddress());
  expect("MarginAccounts health check", await accounts.healthCheck(), engine);
  expect("fund books fees", await fund.hasRole(await fund.RECORDER_ROLE(), await accounts.getAddress()), true);
  expect("pool settlement spender", await pool.settlementSpender(), await accounts.getAddress());
  expect("pool PnL source", await pool.pnlSource(), perpsAddress);
  const options = await ethers.getContractAt("OptionMarket", (await deployments.get("OptionMarket")).address);
  const optionsAddress = await options.getAddress();
  expect("OptionMarket margin engine", await options.marginEngine(), engine);
  expect(
    "MarginEngine values the OptionMarket",
    await (await ethers.getContractAt("MarginEngine", engine)).options(),
    optionsAddress,
  );
  expect("OptionMarket settles", await accounts.hasRole(await accounts.MARKET_ROLE(), optionsAddress), true);
  expect("pool option source", await pool.optionSource(), (await deployments.get("OptionLiability")).address);
  for (const m of config.markets) {
    const token = await tokenAddress(
      hre,
      config.collaterals.find((c) => c.symbol === m.symbol)!,
    );
    expect(`market ${m.id} underlying`, await perps.underlyingOf(m.id), token);
    const c = await perps.marketConfig(m.id);
    const fromRisk = async (param: string) => risk.get(paramIndex(param), m.id);
    expect(`market ${m.id} skew scale`, c.skewScale, await fromRisk("SKEW_SCALE"));
    expect(`market ${m.id} MM floor`, c.mmFloor, await fromRisk("MM_FLOOR"));
    expect(`market ${m.id} max position`, c.maxPositionSize, await fromRisk("MAX_POSITION_SIZE"));
  }

  const liquidation = await ethers.getContractAt(
    "LiquidationEngine",
    (await deployments.get("LiquidationEngine")).address,
  );
  const liquidator = await liquidation.getAddress();
  expect("RiskConfig pushes global parameters to LiquidationEngine", await risk.globalListener(), liquidator);
  expect("LiquidationEngine moves positions", await perps.hasRole(await perps.LIQUIDATOR_ROLE(), liquidator), true);
  expect("LiquidationEngine moves options", await options.hasRole(await options.LIQUIDATOR_ROLE(), liquidator), true);
  expect(
    "LiquidationEngine moves collateral",
    await accounts.hasRole(await accounts.LIQUIDATOR_ROLE(), liquidator),
    true,
  );
  expect("LiquidationEngine draws the fund", await fund.hasRole(await fund.DRAWER_ROLE(), liquidator), true);
  const [, liquidationParams] = await liquidation.parameters();
  const liquidationFields: [string, keyof typeof liquidationParams][] = [
    ["LIQUIDATION_FEE", "fee"],
    ["AUCTION_START_DISCOUNT", "startDiscount"],
    ["AUCTION_FAST_DISCOUNT", "fastDiscount"],
    ["AUCTION_DISCOUNT_CAP", "discountCap"],
    ["AUCTION_FAST_DURATION", "fastDuration"],
    ["AUCTION_SLOW_DURATION", "slowDuration"],
    ["AUCTION_STALL_TIMEOUT", "stallTimeout"],
    ["BUFFER_MARGIN", "buffer"],
    ["DUST_THRESHOLD", "dustThreshold"],
    ["INSOLVENT_PAYOUT_CAP", "insolventPayoutCap"],
    ["INSOLVENT_RAMP", "insolventRamp"],
    ["THROUGHPUT_CAP", "throughputCap"],
    ["THROUGHPUT_WINDOW", "throughputWindow"],
    ["INSURANCE_FLOOR", "insuranceFloor"],
  ];
  for (const [param, field] of liquidationFields) {
    expect(`LiquidationEngine ${param}`, liquidationParams[field], await risk.get(paramIndex(param), 0));
  }

  if (problems.length > 0) {
    throw new Error(`Deployment verification failed on ${network.name}:\n  - ${problems.join("\n  - ")}`);
  }
};
func.tags = ["verify", "keel"];
func.dependencies = ["collateral", "oracles", "governance", "markets", "liquidation", "handover"];
export default func;
