import type { DeployFunction } from "hardhat-deploy/types";
import { networkConfig, type OracleAssetConfig } from "../config/networks";
import { tokenAddress } from "../scripts/lib/tokens";
import {
  FEE_TIER,
  FULL_RANGE,
  factoryAbi,
  factoryBytecode,
  isqrt,
  poolAbi,
  sqrtPriceX96For,
} from "../scripts/lib/uniswap";

/**
 * Oracles: Chainlink feeds (mocks locally), Uniswap v3 pools (real bytecode, created and seeded
 * locally), the PriceOracle router and the VolatilityOracle.
 */
const func: DeployFunction = async (hre) => {
  const { deployments, getNamedAccounts, network, ethers } = hre;
  const config = networkConfig(network.name);
  const { deployer } = await getNamedAccounts();
  const signer = await ethers.getSigner(deployer);
  const usdcConfig = config.settlement;
  const usdc = await tokenAddress(hre, usdcConfig);

  const feeds: Record<string, string> = {};
  const pools: Record<string, string> = {};
  if (config.mocks) {
    const factory = await deployments.deploy("UniswapV3Factory", {
      from: deployer,
      contract: { abi: factoryAbi, bytecode: factoryBytecode },
      log: false,
    });
    const callee = await deployments.deploy("UniswapV3Callee", { from: deployer, log: false });
    for (const asset of config.oracles.assets) {
      const feed = await deployments.deploy(`${asset.symbol}-USD-Feed`, {
        contract: "MockAggregator",
        from: deployer,
        args: [asset.chainlink.decimals, `${asset.symbol} / USD (mock)`],
        log: false,
      });
      feeds[asset.symbol] = feed.address;
      if (feed.newlyDeployed) {
        await (await ethers.getContractAt("MockAggregator", feed.address, signer)).push(asset.chainlink.mockAnswer!);
      }
      pools[asset.symbol] = await seedPool(asset, factory.address, callee.address);
    }
  }
  const sequencerFeed = await sequencerUptimeFeed();

  const oracle = await deployments.deploy("PriceOracle", {
    from: deployer,
    args: [deployer, sequencerFeed, config.oracles.sequencer?.gracePeriod ?? 0],
    log: false,
  });
  const router = await ethers.getContractAt("PriceOracle", oracle.address, signer);
  const vol = await deployments.deploy("VolatilityOracle", {
    from: deployer,
    args: [deployer, oracle.address],
    log: false,
  });
  const volOracle = await ethers.getContractAt("VolatilityOracle", vol.address, signer);

  for (const asset of config.oracles.assets) {
    const token = await tokenAddress(
      hre,
      config.collaterals.find((c) => c.symbol === asset.symbol)!,
    );
    const cl = asset.chainlink;
    const feed = cl.feed ?? feeds[asset.symbol];
    if ((await router.chainlinkConfig(token)).feed !== feed) {
      await (
        await router.setChainlink(token, feed, cl.heartbeat, cl.tolerance, cl.decimals, cl.minAnswer, cl.maxAnswer)
      ).wait();
      const pool = asset.twap.pool ?? pools[asset.symbol];
      await (await router.setTwap(token, pool, usdc, asset.twap.window, asset.twap.minCardinality)).wait();
      const g = asset.guard;
      await (
        await router.setGuard(token, g.maxDeviation, g.breakerMaxMove, g.breakerWindow, g.degradedCooldown)
      ).wait();
      const v = asset.volatility;
      await (await volOracle.configure(token, v.lambda, v.minVol, v.maxVol, v.initialVol)).wait();
      // Seed the estimate with the feed's current round so the next round yields a return.
      await (await volOracle.update(token)).wait();
    }
  }

  /**
   * The sequencer uptime feed: none on L1, the configured one on a real L2, and locally a mock
   * answering "up" (0) since genesis (startedAt 1), so its grace period is long past.
   */
  async function sequencerUptimeFeed(): Promise<string> {
    const sequencer = config.oracles.sequencer;
    if (sequencer === undefined) return ethers.ZeroAddress;
    if (sequencer.feed !== undefined) return sequencer.feed;
    const feed = await deployments.deploy("Sequencer-Uptime-Feed", {
      contract: "MockAggregator",
      from: deployer,
      args: [0, "L2 Sequencer Uptime Status Feed (mock)"],
      log: false,
    });
    if (feed.newlyDeployed) {
      await (await ethers.getContractAt("MockAggregator", feed.address, signer)).setRound(1, 0, 1, 1, 1);
    }
    return feed.address;
  }

  /** Creates (once) and seeds a full-range position in the asset/USDC pool; returns its address. */
  async function seedPool(asset: OracleAssetConfig, factoryAddress: string, calleeAddress: string): Promise<string> {
    const collateral = config.collaterals.find((c) => c.symbol === asset.symbol)!;
    const base = { address: await tokenAddress(hre, collateral), decimals: collateral.decimals };
    const quote = { address: usdc, decimals: usdcConfig.decimals };
    const factory = new ethers.Contract(factoryAddress, factoryAbi, signer);
    let poolAddress: string = await factory.getPool(base.address, quote.address, FEE_TIER);
    if (poolAddress !== ethers.ZeroAddress) return poolAddress;
    await (await factory.createPool(base.address, quote.address, FEE_TIER)).wait();
    poolAddress = await factory.getPool(base.address, quote.address, FEE_TIER);
    await deployments.save(`${asset.symbol}-USDC-Pool`, { address: poolAddress, abi: poolAbi });
    const pool = new ethers.Contract(poolAddress, poolAbi, signer);
    await (await pool.initialize(sqrtPriceX96For(asset.twap.seedPrice!, base, quote))).wait();
    await (await pool.increaseObservationCardinalityNext(asset.twap.minCardinality)).wait();

    const baseAmount = ethers.parseUnits(asset.twap.seedBase!, base.decimals);
    const quoteAmount = ethers.parseUnits(
      (Number(asset.twap.seedBase) * Number(asset.twap.seedPrice)).toString(),
      quote.decimals,
    );
    for (const [address, amount] of [
      [base.address, baseAmount],
      [quote.address, quoteAmount],
    ] as const) {
      const token = await ethers.getContractAt("MockERC20", address, signer);
      await (await token.mint(deployer, amount * 2n)).wait();
      await (await token.approve(calleeAddress, amount * 2n)).wait();
    }
    // Full-range liquidity L = sqrt(x * y) holds about `seedBase` base and its value in quote.
    const callee = await ethers.getContractAt("UniswapV3Callee", calleeAddress, signer);
    await (await callee.mint(poolAddress, FULL_RANGE.lower, FULL_RANGE.upper, isqrt(baseAmount * quoteAmount))).wait();
    return poolAddress;
  }
};
func.tags = ["oracles"];
func.dependencies = ["collateral"];
export default func;
