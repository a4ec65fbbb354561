import hre from "hardhat";
import type { InsuranceFund, LiquidityPool, MarginAccounts, MockERC20 } from "../../typechain-types";

export interface Keel {
  accounts: MarginAccounts;
  pool: LiquidityPool;
  fund: InsuranceFund;
  usdc: MockERC20;
  weth: MockERC20;
  wbtc: MockERC20;
}

async function at<T>(name: string, contract: string = name): Promise<T> {
  const { address } = await hre.deployments.get(name);
  return (await hre.ethers.getContractAt(contract, address)) as T;
}

/** Runs the real deploy scripts (as a cached fixture) and returns typed handles to the contracts. */
export async function deployKeel(): Promise<Keel> {
  await hre.deployments.fixture(["keel"]);
  return {
    accounts: await at<MarginAccounts>("MarginAccounts"),
    pool: await at<LiquidityPool>("LiquidityPool"),
    fund: await at<InsuranceFund>("InsuranceFund"),
    usdc: await at<MockERC20>("USDC", "MockERC20"),
    weth: await at<MockERC20>("WETH", "MockERC20"),
    wbtc: await at<MockERC20>("WBTC", "MockERC20"),
  };
}
