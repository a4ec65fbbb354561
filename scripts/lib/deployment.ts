import hre from "hardhat";
import type { Contract } from "ethers";
import type {
  InsuranceFund,
  LiquidationEngine,
  LiquidityPool,
  MarginAccounts,
  MarginEngine,
  MarginLens,
  OptionLens,
  OptionLiability,
  OptionMarket,
  PerpMarket,
  MockAggregator,
  MockERC20,
  PriceOracle,
  RiskConfig,
  TimelockController,
  UniswapV3Callee,
  VolatilityOracle,
} from "../../typechain-types";
import { poolAt } from "./uniswap";

export interface Keel {
  accounts: MarginAccounts;
  pool: LiquidityPool;
  fund: InsuranceFund;
  usdc: MockERC20;
  weth: MockERC20;
  wbtc: MockERC20;
  oracle: PriceOracle;
  volatility: VolatilityOracle;
  ethFeed: MockAggregator;
  btcFeed: MockAggregator;
  ethPool: Contract;
  btcPool: Contract;
  uniswapCallee: UniswapV3Callee;
}

export interface GovernedKeel extends Keel {
  riskConfig: RiskConfig;
  timelock: TimelockController;
}

async function at<T>(name: string, contract: string = name): Promise<T> {
  const { address } = await hre.deployments.get(name);
  return (await hre.ethers.getContractAt(contract, address)) as T;
}

/**
 * The deployment before governance takes over (deploy scripts 000-020): the deployer is still
 * admin, so unit tests can drive every admin setter directly. Cached as a fixture.
 */
export async function deployKeel(): Promise<Keel> {
  await hre.deployments.fixture(["collateral", "oracles"]);
  return handles();
}

export interface MarketsKeel extends Keel {
  riskConfig: RiskConfig;
  perps: PerpMarket;
  engine: MarginEngine;
  lens: MarginLens;
  liquidation: LiquidationEngine;
  options: OptionMarket;
  optionLens: OptionLens;
  optionLiability: OptionLiability;
}

/**
 * Everything wired (000-050) but before the hand-over: markets listed, settlement connected, the
 * liquidation engine in place, and the deployer still admin of every contract, so tests can set
 * parameters directly.
 */
export async function deployMarkets(): Promise<MarketsKeel> {
  await hre.deployments.fixture(["markets", "liquidation"]);
  return {
    ...(await handles()),
    riskConfig: await at<RiskConfig>("RiskConfig"),
    perps: await at<PerpMarket>("PerpMarket"),
    engine: await at<MarginEngine>("MarginEngine"),
    lens: await at<MarginLens>("MarginLens"),
    liquidation: await at<LiquidationEngine>("LiquidationEngine"),
    options: await at<OptionMarket>("OptionMarket"),
    optionLens: await at<OptionLens>("OptionLens"),
    optionLiability: await at<OptionLiability>("OptionLiability"),
  };
}

/** The whole deployment as it ships (000-099): the timelock is the only admin. Cached as a fixture. */
export async function deployGovernedKeel(): Promise<GovernedKeel> {
  await hre.deployments.fixture(["keel"]);
  return {
    ...(await handles()),
    riskConfig: await at<RiskConfig>("RiskConfig"),
    timelock: await at<TimelockController>("TimelockController"),
  };
}

async function handles(): Promise<Keel> {
  const [deployer] = await hre.ethers.getSigners();
  return {
    accounts: await at<MarginAccounts>("MarginAccounts"),
    pool: await at<LiquidityPool>("LiquidityPool"),
    fund: await at<InsuranceFund>("InsuranceFund"),
    usdc: await at<MockERC20>("USDC", "MockERC20"),
    weth: await at<MockERC20>("WETH", "MockERC20"),
    wbtc: await at<MockERC20>("WBTC", "MockERC20"),
    oracle: await at<PriceOracle>("PriceOracle"),
    volatility: await at<VolatilityOracle>("VolatilityOracle"),
    ethFeed: await at<MockAggregator>("WETH-USD-Feed", "MockAggregator"),
    btcFeed: await at<MockAggregator>("WBTC-USD-Feed", "MockAggregator"),
    ethPool: poolAt((await hre.deployments.get("WETH-USDC-Pool")).address, deployer),
    btcPool: poolAt((await hre.deployments.get("WBTC-USDC-Pool")).address, deployer),
    uniswapCallee: await at<UniswapV3Callee>("UniswapV3Callee"),
  };
}
