import { ethers } from "hardhat";
import { time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { deployMarkets } from "../../scripts/lib/deployment";
import { paramIndex } from "../../scripts/lib/params";
import { networkConfig } from "../../config/networks";
import { ETH, BTC, ETH_PRICE, BTC_PRICE, TICK, usdc, wad, configuredParams, Sim } from "./marginModel";
import type { MarketModel } from "./marginModel";

export interface PricedMarketsOptions {
  /** Leave MAX_FUNDING_VELOCITY as configured (default: 0 in both markets, so no funding accrues). */
  funding?: boolean;
  /** USDC the LP (signer 1) deposits into the pool. */
  liquidity: bigint;
  /** USDC the admin (signer 0) tops the insurance fund up with (default none). */
  insurance?: bigint;
  /** Signers given 1,000,000 USDC, 100 WETH and 10 WBTC, each approving MarginAccounts. */
  traders?: HardhatEthersSigner[];
}

/**
 * deployMarkets() (the deployer still admin) with prices the tests can compute exactly: fresh
 * Chainlink rounds (ETH 3000, BTC 60000) and both Uniswap TWAPs removed, so that every read is Ok
 * with low = high = price = Chainlink; funding off unless asked for; the pool and the insurance
 * fund seeded. Returns the deployment, every address a test compares with, the admin and the LP,
 * and each underlying's volatility (sigma) as the margin engine will read it.
 */
export async function pricedMarkets(opts: PricedMarketsOptions) {
  const keel = await deployMarkets();
  const [admin, lp] = await ethers.getSigners();
  const addr = {
    usdc: await keel.usdc.getAddress(),
    weth: await keel.weth.getAddress(),
    wbtc: await keel.wbtc.getAddress(),
    accounts: await keel.accounts.getAddress(),
    pool: await keel.pool.getAddress(),
    fund: await keel.fund.getAddress(),
    perps: await keel.perps.getAddress(),
    engine: await keel.engine.getAddress(),
    riskConfig: await keel.riskConfig.getAddress(),
    liquidation: await keel.liquidation.getAddress(),
    ethPool: await keel.ethPool.getAddress(),
  };
  await time.increase(1800);
  await keel.ethFeed.push(ETH_PRICE);
  await keel.btcFeed.push(BTC_PRICE);
  await keel.oracle.setTwap(addr.weth, ethers.ZeroAddress, ethers.ZeroAddress, 0, 0);
  await keel.oracle.setTwap(addr.wbtc, ethers.ZeroAddress, ethers.ZeroAddress, 0, 0);
  if (opts.funding !== true) {
    for (const market of [ETH, BTC]) {
      await keel.riskConfig.setParameter(paramIndex("MAX_FUNDING_VELOCITY"), market, 0n);
    }
  }
  await keel.usdc.mint(lp.address, opts.liquidity);
  await keel.usdc.connect(lp).approve(addr.pool, opts.liquidity);
  await keel.pool.connect(lp).deposit(opts.liquidity, lp.address);
  const insurance = opts.insurance ?? 0n;
  if (insurance > 0n) {
    await keel.usdc.mint(admin.address, insurance);
    await keel.usdc.connect(admin).approve(addr.fund, insurance);
    await keel.fund.connect(admin).topUp(insurance);
  }
  for (const trader of opts.traders ?? []) {
    await keel.usdc.mint(trader.address, usdc("1000000"));
    await keel.weth.mint(trader.address, wad("100"));
    await keel.wbtc.mint(trader.address, ethers.parseUnits("10", 8));
    for (const token of [keel.usdc, keel.weth, keel.wbtc]) {
      await token.connect(trader).approve(addr.accounts, ethers.MaxUint256);
    }
  }
  const sigma = {
    eth: await keel.volatility.volatility(addr.weth),
    btc: await keel.volatility.volatility(addr.wbtc),
  };
  return { ...keel, addr, admin, lp, sigma };
}

// ---------------------------------------------------------------- the bigint margin model

/** A `Sim` (the bigint model of the markets and margin) of a `pricedMarkets` deployment. */
export function simOf(f: Awaited<ReturnType<typeof pricedMarkets>>, opts: { funding?: boolean } = {}): Sim {
  const weight = (symbol: string) => {
    const c = networkConfig("hardhat").collaterals.find((x) => x.symbol === symbol);
    if (c === undefined) throw new Error(symbol);
    return c.weight;
  };
  const market = (id: number, underlying: string, sigma: bigint, price: bigint): MarketModel => ({
    params: opts.funding === true ? configuredParams(id) : { ...configuredParams(id), maxFundingVelocity: 0n },
    underlying,
    sigma,
    price: price * TICK,
    skew: 0n,
    rate: 0n,
    index: 0n,
    last: 0n,
  });
  return new Sim(
    f.addr.usdc,
    new Map([
      [f.addr.weth, { decimals: 18n, weight: weight("WETH"), marketId: ETH }],
      [f.addr.wbtc, { decimals: 8n, weight: weight("WBTC"), marketId: BTC }],
    ]),
    new Map([
      [ETH, market(ETH, f.addr.weth, f.sigma.eth, ETH_PRICE)],
      [BTC, market(BTC, f.addr.wbtc, f.sigma.btc, BTC_PRICE)],
    ]),
  );
}

// ---------------------------------------------------------------- liquidation parameters

/** ILiquidationEngine.Parameters. */
export interface LiquidationParams {
  fee: bigint;
  startDiscount: bigint;
  fastDiscount: bigint;
  discountCap: bigint;
  buffer: bigint;
  fastDuration: bigint;
  slowDuration: bigint;
  stallTimeout: bigint;
  insolventRamp: bigint;
  throughputWindow: bigint;
  dustThreshold: bigint;
  insolventPayoutCap: bigint;
  throughputCap: bigint;
  insuranceFloor: bigint;
}

/** The 14 global parameters (RiskParams.Param LIQUIDATION_FEE .. INSURANCE_FLOOR, in enum order) and their field. */
export const LIQUIDATION_FIELDS: Record<string, keyof LiquidationParams> = {
  LIQUIDATION_FEE: "fee",
  AUCTION_START_DISCOUNT: "startDiscount",
  AUCTION_FAST_DISCOUNT: "fastDiscount",
  AUCTION_DISCOUNT_CAP: "discountCap",
  AUCTION_FAST_DURATION: "fastDuration",
  AUCTION_SLOW_DURATION: "slowDuration",
  AUCTION_STALL_TIMEOUT: "stallTimeout",
  BUFFER_MARGIN: "buffer",
  DUST_THRESHOLD: "dustThreshold",
  INSOLVENT_PAYOUT_CAP: "insolventPayoutCap",
  INSOLVENT_RAMP: "insolventRamp",
  THROUGHPUT_CAP: "throughputCap",
  THROUGHPUT_WINDOW: "throughputWindow",
  INSURANCE_FLOOR: "insuranceFloor",
};

/** ILiquidationEngine.Parameters in declaration order (how events and views encode the struct). */
export const LIQUIDATION_STRUCT_ORDER: (keyof LiquidationParams)[] = [
  "fee",
  "startDiscount",
  "fastDiscount",
  "discountCap",
  "buffer",
  "fastDuration",
  "slowDuration",
  "stallTimeout",
  "insolventRamp",
  "throughputWindow",
  "dustThreshold",
  "insolventPayoutCap",
  "throughputCap",
  "insuranceFloor",
];

/** The liquidation parameters as config/networks.ts sets them (global scope). */
export function configuredLiquidation(): LiquidationParams {
  const p: Partial<LiquidationParams> = {};
  for (const s of networkConfig("hardhat").governance.params) {
    const field = LIQUIDATION_FIELDS[s.param];
    if (s.scope === undefined && field !== undefined) p[field] = s.value;
  }
  if (Object.keys(p).length !== LIQUIDATION_STRUCT_ORDER.length) throw new Error("a liquidation parameter is unset");
  return p as LiquidationParams;
}

/** The struct as a tuple, for event arguments and view results. */
export const liquidationTuple = (p: Partial<Record<keyof LiquidationParams, bigint>>) =>
  LIQUIDATION_STRUCT_ORDER.map((k) => p[k]);
