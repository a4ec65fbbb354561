import hre from "hardhat";
import type { Contract } from "ethers";
import type {
  InsuranceFund,
  LiquidityPool,
  MarginAccounts,
  MockAggregator,
  MockERC20,
  PriceOracle,
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

async function at<T>(name: string, contract: string = name): Promise<T> {
  const { address } = await hre.deployments.get(name);
  return (await hre.ethers.getContractAt(contract, address)) as T;
}

/** Runs the real deploy scripts (as a cached fixture) and returns typed handles to the contracts. */
export async function deployKeel(): Promise<Keel> {
  await hre.deployments.fixture(["keel"]);
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
