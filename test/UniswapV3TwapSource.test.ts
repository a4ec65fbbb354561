import { expect } from "chai";
import { ethers } from "hardhat";
import type { Contract } from "ethers";
import { getStorageAt, loadFixture, setCode, setStorageAt, time } from "@nomicfoundation/hardhat-network-helpers";
import type { MockAggregator, MockERC20, PriceOracle, UniswapV3Callee } from "../typechain-types";
import { deployKeel } from "../scripts/lib/deployment";
import { deployUniswapFactory, FEE_TIER, FULL_RANGE, isqrt, poolAt, sqrtPriceX96For } from "../scripts/lib/uniswap";
import { networkConfig } from "../config/networks";
import { type RawCase, responder, selector, words } from "./helpers/rawContracts";

// Every expected price is computed here from ticks, never read back from the oracle under test:
//   sqrtPriceX96 = TickMath.getSqrtPriceAtTick(tick)       (bigint port below, checked against the
//                                                            real pool and Uniswap's published bounds)
//   price (WAD)  = sqrtPriceX96^2 * 10^(18 + baseDecimals - quoteDecimals) / 2^192   (floor)
// where tick is the arithmetic-mean tick over the window, rounded toward negative infinity, and
// negated when the priced asset is the pool's token1.

const MIN_TICK = -887272;
const MAX_TICK = 887272;
/** TickMath.MIN_SQRT_PRICE / MAX_SQRT_PRICE as published by Uniswap (v3 MIN/MAX_SQRT_RATIO). */
const MIN_SQRT_PRICE = 4295128739n;
const MAX_SQRT_PRICE = 1461446703485210103287273052203988822378723970342n;
const MAX_UINT128 = 2n ** 128n - 1n;
const MAX_UINT256 = 2n ** 256n - 1n;
const WAD = 10n ** 18n;

const WETH = networkConfig("hardhat").oracles.assets.find((a) => a.symbol === "WETH")!;
const WINDOW = WETH.twap.window; // 1800 s
const MIN_CARDINALITY = WETH.twap.minCardinality; // 100

/** TickMath.getSqrtPriceAtTick (Uniswap v4-core), ported constant for constant. */
const TICK_FACTORS = [
  0xfff97272373d413259a46990580e213an,
  0xfff2e50f5f656932ef12357cf3c7fdccn,
  0xffe5caca7e10e4e61c3624eaa0941cd0n,
  0xffcb9843d60f6159c9db58835c926644n,
  0xff973b41fa98c081472e6896dfb254c0n,
  0xff2ea16466c96a3843ec78b326b52861n,
  0xfe5dee046a99a2a811c461f1969c3053n,
  0xfcbe86c7900a88aedcffc83b479aa3a4n,
  0xf987a7253ac413176f2b074cf7815e54n,
  0xf3392b0822b70005940c7a398e4b70f3n,
  0xe7159475a2c29b7443b29c7fa6e889d9n,
  0xd097f3bdfd2022b8845ad8f792aa5825n,
  0xa9f746462d870fdf8a65dc1f90e061e5n,
  0x70d869a156d2a1b890bb3df62baf32f7n,
  0x31be135f97d08fd981231505542fcfa6n,
  0x9aa508b5b7a84e1c677de54f3e99bc9n,
  0x5d6af8dedb81196699c329225ee604n,
  0x2216e584f5fa1ea926041bedfe98n,
  0x48a170391f7dc42444e8fa2n,
];

function getSqrtPriceAtTick(tick: number): bigint {
  const absTick = BigInt(Math.abs(tick));
  if (absTick > BigInt(MAX_TICK)) throw new Error(`tick ${tick} out of range`);
  let price = (absTick & 1n) !== 0n ? 0xfffcb933bd6fad37aa2d162d1a594001n : 1n << 128n;
  TICK_FACTORS.forEach((factor, i) => {
    if ((absTick & (2n << BigInt(i))) !== 0n) price = (price * factor) >> 128n;
  });
  if (tick > 0) price = MAX_UINT256 / price;
  // Q128.128 to Q64.96, rounding up.
  return (price + (1n << 32n) - 1n) >> 32n;
}

/** UniswapV3TwapSource.tickToWad: floor(ratio * 10^(18 + baseDecimals - quoteDecimals)). */
function tickToWad(tick: number, baseDecimals: number, quoteDecimals: number): bigint {
  const sqrtPriceX96 = getSqrtPriceAtTick(tick);
  const scale = 10n ** BigInt(18 + baseDecimals - quoteDecimals);
  if (sqrtPriceX96 <= MAX_UINT128) return (sqrtPriceX96 * sqrtPriceX96 * scale) >> 192n;
  return (((sqrtPriceX96 * sqrtPriceX96) >> 64n) * scale) >> 128n;
}

/** Division rounded toward negative infinity (Uniswap OracleLibrary's mean tick). */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

interface Slot0 {
  sqrtPriceX96: bigint;
  tick: bigint;
  observationIndex: bigint;
  observationCardinality: bigint;
}

/** The pool's slot0 (the pool is an untyped ethers Contract over Uniswap's ABI). */
async function slot0(pool: Contract): Promise<Slot0> {
  return await pool.slot0();
}

/** The mean tick over [now - window, now] from the pool's own accumulator, read in the latest block. */
async function meanTick(pool: Contract, window: number): Promise<number> {
  const [cumulatives]: [bigint[]] = await pool.observe([window, 0]);
  return Number(floorDiv(cumulatives[1] - cumulatives[0], BigInt(window)));
}

/** (b / a - 1) as a double, from two WAD prices. */
function relativeMove(a: bigint, b: bigint): number {
  return Number(((b - a) * 10n ** 18n) / a) / 1e18;
}

async function blockTimestamp(tx: { wait(): Promise<{ blockNumber: number } | null> }): Promise<number> {
  const receipt = await tx.wait();
  if (receipt === null) throw new Error("no receipt");
  const block = await ethers.provider.getBlock(receipt.blockNumber);
  if (block === null) throw new Error("no block");
  return block.timestamp;
}

const isToken0 = (token: string, other: string) => BigInt(token) < BigInt(other);

/**
 * The real deployment, plus a fresh Uniswap v3 factory, fresh tokens in a known address order
 * (18- and 8-decimal bases both below and above a 6-decimal quote; a 0-decimal quote for the
 * extreme-scale cases) and a fresh PriceOracle with four seeded full-range pools, one per base.
 */
async function twapFixture() {
  const keel = await deployKeel();
  const [admin, stranger] = await ethers.getSigners();
  const callee: UniswapV3Callee = keel.uniswapCallee;
  const factory = await deployUniswapFactory(admin);
  const token = async (symbol: string, decimals: number): Promise<MockERC20> => {
    const t = await ethers.deployContract("MockERC20", [symbol, symbol, decimals]);
    await t.mint(admin.address, 2n ** 200n);
    await t.approve(await callee.getAddress(), ethers.MaxUint256);
    return t;
  };
  /** Deploys `decimals` tokens until one sorts below `low` and one above `high` (addresses are nonce-derived). */
  async function around(decimals: number, low: string, high: string): Promise<[MockERC20, MockERC20]> {
    let below: MockERC20 | undefined;
    let above: MockERC20 | undefined;
    for (let i = 0; i < 200 && (below === undefined || above === undefined); i++) {
      const t = await token(`B${decimals}-${i}`, decimals);
      const a = BigInt(await t.getAddress());
      if (a < BigInt(low)) below ??= t;
      if (a > BigInt(high)) above ??= t;
    }
    if (below === undefined || above === undefined) throw new Error(`no ${decimals}-decimal token around ${low}`);
    return [below, above];
  }
  const quote = await token("USDQ", 6);
  const quoteAddress = await quote.getAddress();
  const [base18Token0, base18Token1] = await around(18, quoteAddress, quoteAddress);
  const [base8Token0, base8Token1] = await around(8, quoteAddress, quoteAddress);
  /** A 0-decimal quote that sorts between the two 18-decimal bases, for the extreme-scale cases. */
  let quote0: MockERC20 | undefined;
  for (let i = 0; i < 200 && quote0 === undefined; i++) {
    const t = await token(`Q0-${i}`, 0);
    const a = BigInt(await t.getAddress());
    if (a > BigInt(await base18Token0.getAddress()) && a < BigInt(await base18Token1.getAddress())) quote0 = t;
  }
  if (quote0 === undefined) throw new Error("no 0-decimal quote between the bases");

  const feed: MockAggregator = await ethers.deployContract("MockAggregator", [8, "base / USD (mock)"]);
  const oracle: PriceOracle = await ethers.deployContract("PriceOracle", [admin.address, ethers.ZeroAddress, 0]);
  const seeded: Record<string, { pool: Contract; seedSqrtPriceX96: bigint }> = {};
  const seeds: [MockERC20, string, string][] = [
    [base18Token0, "3000", "100"],
    [base18Token1, "3000", "100"],
    [base8Token0, "60000", "5"],
    [base8Token1, "60000", "5"],
  ];
  for (const [base, price, baseAmount] of seeds) {
    const b = { address: await base.getAddress(), decimals: Number(await base.decimals()) };
    const q = { address: await quote.getAddress(), decimals: 6 };
    const sqrtPriceX96 = sqrtPriceX96For(price, b, q);
    const pool = await createPool(factory, b.address, q.address, FEE_TIER, sqrtPriceX96, 10);
    const liquidity = isqrt(
      ethers.parseUnits(baseAmount, b.decimals) * ethers.parseUnits((Number(baseAmount) * Number(price)).toString(), 6),
    );
    await callee.mint(await pool.getAddress(), FULL_RANGE.lower, FULL_RANGE.upper, liquidity);
    await oracle.setChainlink(b.address, feed, 3600, 300, 8, 1, 10n ** 28n);
    await oracle.setTwap(b.address, pool, q.address, WINDOW, 10);
    seeded[b.address] = { pool, seedSqrtPriceX96: sqrtPriceX96 };
  }
  return {
    ...keel,
    admin,
    stranger,
    callee,
    factory,
    quote,
    quote0,
    base18Token0,
    base18Token1,
    base8Token0,
    base8Token1,
    feed,
    freshOracle: oracle,
    seeded,
  };
}

/** Creates and initializes a pool, and raises its observation capacity to `cardinalityNext`. */
async function createPool(
  factory: Contract,
  tokenA: string,
  tokenB: string,
  fee: number,
  sqrtPriceX96: bigint,
  cardinalityNext: number,
): Promise<Contract> {
  await (await factory.createPool(tokenA, tokenB, fee)).wait();
  const [signer] = await ethers.getSigners();
  const pool = poolAt(await factory.getPool(tokenA, tokenB, fee), signer);
  await (await pool.initialize(sqrtPriceX96)).wait();
  if (cardinalityNext > 1) await (await pool.increaseObservationCardinalityNext(cardinalityNext)).wait();
  return pool;
}

// ---------------------------------------------------------------- raw pools (malformed answers)
const SLOT0 = selector("slot0()");
const OBSERVE = selector("observe(uint32[])");
const OBSERVATIONS = selector("observations(uint256)");
const INT56_MIN = -(2n ** 55n);
const INT56_MAX = 2n ** 55n - 1n;

/** slot0's seven words: price at tick 0, the given observation index and cardinality, unlocked. */
const slot0Answer = (index: bigint, cardinality: bigint) =>
  words(2n ** 96n, 0n, index, cardinality, cardinality, 0n, 1n);

/**
 * observe's answer in the standard encoding of (int56[] tickCumulatives, uint160[] secondsPerLiquidity)
 * with two elements each: offsets 64 and 160, then length and elements of each array. The words are
 * written as given, so they may be out of range for their type.
 */
const observeAnswer = (c0: bigint, c1: bigint, { offset = 64n, length = 2n } = {}) =>
  words(offset, 160n, length, c0, c1, 2n, 0n, 0n);

/** observations(i)'s four words: (blockTimestamp, tickCumulative, secondsPerLiquidityCumulativeX128, initialized). */
const observationAnswer = (timestamp: bigint, initialized: boolean) => words(timestamp, 0n, 0n, initialized ? 1n : 0n);

/** A raw pool answering slot0 with index 4 of cardinality 10 (the fixture's minimum) and observe with `observe`. */
const rawPool = (observe: RawCase["response"], extra: RawCase[] = []) =>
  responder([
    { selector: SLOT0, response: { returns: slot0Answer(4n, 10n) } },
    { selector: OBSERVE, response: observe },
    ...extra,
  ]);

/**
 * The fixture's 18-decimal token0 base (pool configured with window 1800 and minimum cardinality
 * 10 while it still had its real code): the raw pool code goes to the configured pool's address.
 */
async function rawPoolFixture() {
  const f = await loadFixture(twapFixture);
  const base = await f.base18Token0.getAddress();
  const poolAddress = await f.seeded[base].pool.getAddress();
  const t = await f.freshOracle.twapConfig(base);
  expect([t.pool, t.window, t.minCardinality, t.baseIsToken0]).to.deep.equal([poolAddress, 1800n, 10n, true]);
  return { oracle: f.freshOracle, base, poolAddress };
}

describe("UniswapV3TwapSource (through PriceOracle.twapPrice, against real Uniswap v3 pools)", () => {
  describe("TickMath port used for the expected values", () => {
    it("reproduces Uniswap's published sqrt-price bounds and the real pool's tick for its price", async () => {
      const { ethPool, btcPool } = await loadFixture(twapFixture);
      expect(getSqrtPriceAtTick(MIN_TICK)).to.equal(MIN_SQRT_PRICE);
      expect(getSqrtPriceAtTick(MAX_TICK)).to.equal(MAX_SQRT_PRICE);
      expect(getSqrtPriceAtTick(0)).to.equal(2n ** 96n);
      for (const pool of [ethPool, btcPool]) {
        // The pool's tick is the greatest with getSqrtPriceAtTick(tick) <= sqrtPriceX96.
        const { sqrtPriceX96, tick } = await slot0(pool);
        expect(getSqrtPriceAtTick(Number(tick)) <= sqrtPriceX96).to.equal(true);
        expect(getSqrtPriceAtTick(Number(tick) + 1) > sqrtPriceX96).to.equal(true);
      }
    });
  });

  describe("the deployed pools", () => {
    it("prices WETH at the exact 30-minute mean tick of the deployed WETH/USDC pool once 30 minutes have passed", async () => {
      const { oracle, ethPool, weth, usdc } = await loadFixture(twapFixture);
      await time.increase(WINDOW);
      const wethAddress = await weth.getAddress();
      const usdcAddress = await usdc.getAddress();
      const baseIsToken0 = isToken0(wethAddress, usdcAddress);
      const seed = sqrtPriceX96For(
        WETH.twap.seedPrice!,
        { address: wethAddress, decimals: 18 },
        {
          address: usdcAddress,
          decimals: 6,
        },
      );
      const { sqrtPriceX96, tick } = await slot0(ethPool);
      // No swap since the seeding: the price is still the seed, so the mean tick is its tick.
      expect(sqrtPriceX96).to.equal(seed);
      expect(await meanTick(ethPool, WINDOW)).to.equal(Number(tick));
      const expected = tickToWad(baseIsToken0 ? Number(tick) : -Number(tick), 18, 6);
      expect([...(await oracle.twapConfig(weth))]).to.deep.equal([
        await ethPool.getAddress(),
        BigInt(WINDOW),
        BigInt(MIN_CARDINALITY),
        baseIsToken0,
        18n,
        6n,
      ]);
      expect(await oracle.twapPrice(weth)).to.equal(expected);
      // Within one tick (1.0001) of the seeded 3000 USDC.
      const seedWad = ethers.parseUnits(WETH.twap.seedPrice!, 18);
      expect(expected > (seedWad * 9999n) / 10000n && expected < (seedWad * 10001n) / 10000n).to.equal(true);
      console.log(`      deployed WETH/USDC 30-min TWAP: tick ${tick}, ${ethers.formatUnits(expected, 18)} USDC`);
    });

    it("prices the 8-decimal WBTC at the exact mean tick of the deployed WBTC/USDC pool", async () => {
      const { oracle, btcPool, wbtc, usdc } = await loadFixture(twapFixture);
      await time.increase(WINDOW);
      const baseIsToken0 = isToken0(await wbtc.getAddress(), await usdc.getAddress());
      const { tick } = await slot0(btcPool);
      expect(await meanTick(btcPool, WINDOW)).to.equal(Number(tick));
      const expected = tickToWad(baseIsToken0 ? Number(tick) : -Number(tick), 8, 6);
      expect(await oracle.twapPrice(wbtc)).to.equal(expected);
      const seedWad = ethers.parseUnits("60000", 18);
      expect(expected > (seedWad * 9999n) / 10000n && expected < (seedWad * 10001n) / 10000n).to.equal(true);
      console.log(`      deployed WBTC/USDC 30-min TWAP: tick ${tick}, ${ethers.formatUnits(expected, 18)} USDC`);
    });
  });

  describe("token order and decimals", () => {
    for (const decimals of [18, 8]) {
      it(`gives the same price within one tick whether the ${decimals}-decimal base is token0 or token1`, async () => {
        const f = await loadFixture(twapFixture);
        await time.increase(WINDOW);
        const [asToken0, asToken1] =
          decimals === 18 ? [f.base18Token0, f.base18Token1] : [f.base8Token0, f.base8Token1];
        const quoteAddress = await f.quote.getAddress();
        const prices: bigint[] = [];
        const ticks: number[] = [];
        for (const [base, expectToken0] of [
          [asToken0, true],
          [asToken1, false],
        ] as const) {
          const address = await base.getAddress();
          expect(isToken0(address, quoteAddress)).to.equal(expectToken0);
          const { pool, seedSqrtPriceX96 } = f.seeded[address];
          const { sqrtPriceX96, tick } = await slot0(pool);
          expect(sqrtPriceX96).to.equal(seedSqrtPriceX96);
          expect(await meanTick(pool, WINDOW)).to.equal(Number(tick));
          expect((await f.freshOracle.twapConfig(base)).baseIsToken0).to.equal(expectToken0);
          const baseTick = expectToken0 ? Number(tick) : -Number(tick);
          const expected = tickToWad(baseTick, decimals, 6);
          expect(await f.freshOracle.twapPrice(base)).to.equal(expected);
          prices.push(expected);
          ticks.push(baseTick);
        }
        // The pool ticks are floor(log) of reciprocal prices: base-token1 reads one tick higher.
        expect(ticks[1]).to.equal(ticks[0] + 1);
        expect(prices[1]).to.equal(tickToWad(ticks[0] + 1, decimals, 6));
        const seedWad = ethers.parseUnits(decimals === 18 ? "3000" : "60000", 18);
        expect(prices[0] <= seedWad && seedWad <= prices[1]).to.equal(true);
        console.log(
          `      ${decimals}-dec base: token0 ${ethers.formatUnits(prices[0], 18)} (tick ${ticks[0]}), ` +
            `token1 ${ethers.formatUnits(prices[1], 18)} (tick ${ticks[1]}), move ${(relativeMove(prices[0], prices[1]) * 100).toFixed(4)}%`,
        );
      });
    }
  });

  describe("the mean tick", () => {
    it("rounds a negative mean tick toward negative infinity, as Uniswap's OracleLibrary does", async () => {
      const f = await loadFixture(twapFixture);
      await time.increase(WINDOW);
      const base = await f.base18Token0.getAddress(); // token0, pool tick about -196257
      const { pool } = f.seeded[base];
      const tickBefore = Number((await slot0(pool)).tick);
      const swappedAt = await blockTimestamp(
        await f.callee.swapExactIn(await pool.getAddress(), true, ethers.parseUnits("10", 18), MIN_SQRT_PRICE + 1n),
      );
      const tickAfter = Number((await slot0(pool)).tick);
      await time.increase(7);
      const delta = BigInt(tickBefore) * BigInt(WINDOW - 7) + BigInt(tickAfter) * 7n;
      expect(delta < 0n && delta % BigInt(WINDOW) !== 0n).to.equal(true);
      expect(await time.latest()).to.equal(swappedAt + 7);
      const floor = Number(floorDiv(delta, BigInt(WINDOW)));
      expect(floor).to.equal(Number(delta / BigInt(WINDOW)) - 1);
      expect(await meanTick(pool, WINDOW)).to.equal(floor);
      expect(await f.freshOracle.twapPrice(base)).to.equal(tickToWad(floor, 18, 6));
    });
  });

  describe("refusals", () => {
    it("reverts with TwapCardinalityTooLow when the pool holds fewer observations than the minimum", async () => {
      const { oracle, ethPool, weth, usdc } = await loadFixture(twapFixture);
      await time.increase(WINDOW);
      expect((await slot0(ethPool)).observationCardinality).to.equal(BigInt(MIN_CARDINALITY));
      await oracle.setTwap(weth, ethPool, usdc, WINDOW, MIN_CARDINALITY + 1);
      await expect(oracle.twapPrice(weth))
        .to.be.revertedWithCustomError(oracle, "TwapCardinalityTooLow")
        .withArgs(await ethPool.getAddress(), MIN_CARDINALITY, MIN_CARDINALITY + 1);
      // At exactly the pool's cardinality it prices.
      await oracle.setTwap(weth, ethPool, usdc, WINDOW, MIN_CARDINALITY);
      const { tick } = await slot0(ethPool);
      const baseIsToken0 = isToken0(await weth.getAddress(), await usdc.getAddress());
      expect(await oracle.twapPrice(weth)).to.equal(tickToWad(baseIsToken0 ? Number(tick) : -Number(tick), 18, 6));
    });

    it("reverts with TwapCardinalityTooLow(pool, 1, 2) for a pool that has only its initialization observation", async () => {
      const f = await loadFixture(twapFixture);
      const base = await f.base18Token0.getAddress();
      const pool = await createPool(f.factory, base, await f.quote.getAddress(), 500, 2n ** 96n, 1);
      await f.freshOracle.setTwap(base, pool, f.quote, WINDOW, 2);
      await time.increase(WINDOW);
      await expect(f.freshOracle.twapPrice(base))
        .to.be.revertedWithCustomError(f.freshOracle, "TwapCardinalityTooLow")
        .withArgs(await pool.getAddress(), 1, 2);
    });

    it("reverts with TwapHistoryTooShort, counting from the pool's initialization, until the window has passed", async () => {
      // A pool initialized now (the deployed pools' age depends on how long the suite has run).
      const f = await loadFixture(twapFixture);
      const base = await f.base18Token0.getAddress();
      const pool = await createPool(f.factory, base, await f.quote.getAddress(), 500, 2n ** 96n, 2);
      // Liquidity writes the second observation, so the pool reaches the minimum cardinality; the
      // oldest observation is still the initialization's.
      await f.callee.mint(await pool.getAddress(), -887270, 887270, 10n ** 12n);
      await f.freshOracle.setTwap(base, pool, f.quote, WINDOW, 2);
      const [initialized] = await pool.queryFilter(pool.filters.Initialize());
      const initializedAt = (await initialized.getBlock()).timestamp;
      const poolAddress = await pool.getAddress();
      const now = await time.latest();
      await expect(f.freshOracle.twapPrice(base))
        .to.be.revertedWithCustomError(f.freshOracle, "TwapHistoryTooShort")
        .withArgs(poolAddress, WINDOW, now - initializedAt);
      await time.increaseTo(initializedAt + WINDOW - 1);
      await expect(f.freshOracle.twapPrice(base))
        .to.be.revertedWithCustomError(f.freshOracle, "TwapHistoryTooShort")
        .withArgs(poolAddress, WINDOW, WINDOW - 1);
      // One second later the oldest observation is exactly one window old.
      await time.increaseTo(initializedAt + WINDOW);
      expect(await f.freshOracle.twapPrice(base)).to.be.greaterThan(0n);
    });

    it("counts the history from the oldest slot once the observation ring has wrapped", async () => {
      const f = await loadFixture(twapFixture);
      const base = await f.base18Token0.getAddress();
      const quote = await f.quote.getAddress();
      const pool = await createPool(f.factory, base, quote, 500, 2n ** 96n, 2);
      const poolAddress = await pool.getAddress();
      // Observation 1 at the mint; the swap moves the tick and overwrites observation 0 (ring of 2).
      const mintedAt = await blockTimestamp(await f.callee.mint(poolAddress, -887270, 887270, 10n ** 12n));
      const tickBefore = Number((await slot0(pool)).tick);
      const swappedAt = await blockTimestamp(
        await f.callee.swapExactIn(poolAddress, false, 10n ** 11n, MAX_SQRT_PRICE - 1n),
      );
      const { tick, observationIndex, observationCardinality } = await slot0(pool);
      expect([observationIndex, observationCardinality]).to.deep.equal([0n, 2n]);
      expect((await pool.observations(0)).blockTimestamp).to.equal(BigInt(swappedAt));
      expect((await pool.observations(1)).blockTimestamp).to.equal(BigInt(mintedAt));
      expect(Number(tick)).to.not.equal(tickBefore);

      const window = 300;
      await f.freshOracle.setTwap(base, pool, quote, window, 2);
      await time.increaseTo(mintedAt + window - 1);
      await expect(f.freshOracle.twapPrice(base))
        .to.be.revertedWithCustomError(f.freshOracle, "TwapHistoryTooShort")
        .withArgs(poolAddress, window, window - 1);
      await time.increaseTo(mintedAt + window);
      // Window [mintedAt, mintedAt + 300]: the old tick until the swap, the new tick after it.
      const delta = BigInt(tickBefore) * BigInt(swappedAt - mintedAt) + tick * BigInt(mintedAt + window - swappedAt);
      const mean = Number(floorDiv(delta, BigInt(window)));
      expect(await meanTick(pool, window)).to.equal(mean);
      expect(await f.freshOracle.twapPrice(base)).to.equal(tickToWad(mean, 18, 6));
    });

    it("reverts with TwapNotConfigured after the TWAP is configured away with a zero pool", async () => {
      const { oracle, ethPool, weth, usdc } = await loadFixture(twapFixture);
      await time.increase(WINDOW);
      const baseIsToken0 = isToken0(await weth.getAddress(), await usdc.getAddress());
      await expect(oracle.setTwap(weth, ethers.ZeroAddress, ethers.ZeroAddress, 0, 0))
        .to.emit(oracle, "TwapConfigured")
        .withArgs(
          await weth.getAddress(),
          [await ethPool.getAddress(), WINDOW, MIN_CARDINALITY, baseIsToken0, 18, 6],
          [ethers.ZeroAddress, 0, 0, false, 0, 0],
        );
      await expect(oracle.twapPrice(weth))
        .to.be.revertedWithCustomError(oracle, "TwapNotConfigured")
        .withArgs(await weth.getAddress());
    });

    it("reverts with UnknownAsset for an asset without any oracle configuration", async () => {
      const { oracle, usdc } = await loadFixture(twapFixture);
      await expect(oracle.twapPrice(usdc))
        .to.be.revertedWithCustomError(oracle, "UnknownAsset")
        .withArgs(await usdc.getAddress());
    });

    it("reverts with TwapCallFailed when the configured pool's slot0 call reverts or returns nothing", async () => {
      const f = await loadFixture(twapFixture);
      await time.increase(WINDOW);
      const base = await f.base18Token0.getAddress();
      const poolAddress = await f.seeded[base].pool.getAddress();
      // No code (the call "succeeds" with empty return data), then code that always reverts.
      for (const code of ["0x", "0x60006000fd"]) {
        await setCode(poolAddress, code);
        await expect(f.freshOracle.twapPrice(base))
          .to.be.revertedWithCustomError(f.freshOracle, "TwapCallFailed")
          .withArgs(poolAddress);
      }
    });

    it("reverts with TwapCallFailed when observe reverts although the history covers the window", async () => {
      // A byte-for-byte copy of the deployed pool at another address: slot0 and observations read
      // the copied storage, but observe is guarded by Uniswap's NoDelegateCall (the original address
      // is an immutable), so it reverts for a reason other than a short history.
      const { oracle, ethPool, weth, usdc } = await loadFixture(twapFixture);
      await time.increase(WINDOW);
      const copyAddress = ethers.getAddress("0x00000000000000000000000000000000c0ffee00");
      await setCode(copyAddress, await ethers.provider.getCode(await ethPool.getAddress()));
      // Layout of UniswapV3Pool: slots 0-7 (slot0 .. positions), then observations[65535] from slot 8.
      for (let slot = 0; slot < 8 + MIN_CARDINALITY; slot++) {
        await setStorageAt(copyAddress, slot, await getStorageAt(await ethPool.getAddress(), slot));
      }
      const [signer] = await ethers.getSigners();
      const copy = poolAt(copyAddress, signer);
      expect(await copy.slot0()).to.deep.equal(await slot0(ethPool));
      expect(await copy.observations(1)).to.deep.equal(await ethPool.observations(1));
      await expect(copy.observe([WINDOW, 0])).to.be.revertedWithoutReason();

      await oracle.setTwap(weth, copyAddress, usdc, WINDOW, MIN_CARDINALITY);
      await expect(oracle.twapPrice(weth))
        .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
        .withArgs(copyAddress);
    });

    it("reverts with TwapCallFailed when observe succeeds with data that is not exactly 256 bytes", async () => {
      const { oracle, base, poolAddress } = await rawPoolFixture();
      // Control: the same raw pool with a well-formed answer (a flat tick 0) prices at tick 0.
      await setCode(poolAddress, rawPool({ returns: observeAnswer(0n, 0n) }));
      expect(await oracle.twapPrice(base)).to.equal(tickToWad(0, 18, 6));
      const wellFormed = observeAnswer(0n, 0n);
      for (const answer of [
        "0x",
        words(64n, 160n),
        wellFormed.slice(0, -64),
        wellFormed + "00",
        words(0n) + wellFormed.slice(2),
      ]) {
        await setCode(poolAddress, rawPool({ returns: answer }));
        await expect(oracle.twapPrice(base))
          .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
          .withArgs(poolAddress);
      }
    });

    it("reverts with TwapCallFailed when observe's 256 bytes do not start with the offset 64", async () => {
      const { oracle, base, poolAddress } = await rawPoolFixture();
      for (const offset of [0n, 32n, 96n, 2n ** 256n - 1n]) {
        await setCode(poolAddress, rawPool({ returns: observeAnswer(0n, 0n, { offset }) }));
        await expect(oracle.twapPrice(base))
          .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
          .withArgs(poolAddress);
      }
    });

    it("reverts with TwapCallFailed when observe's first array does not have two elements", async () => {
      const { oracle, base, poolAddress } = await rawPoolFixture();
      for (const length of [0n, 1n, 3n]) {
        await setCode(poolAddress, rawPool({ returns: observeAnswer(0n, 0n, { length }) }));
        await expect(oracle.twapPrice(base))
          .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
          .withArgs(poolAddress);
      }
    });

    it("reverts with TwapCallFailed when a tick cumulative from observe is outside int56, and prices at the int56 bounds", async () => {
      const { oracle, base, poolAddress } = await rawPoolFixture();
      // At the bounds: equal cumulatives are tick 0; from the minimum up 100 ticks a second, tick 100.
      for (const [c0, c1, tick] of [
        [INT56_MAX, INT56_MAX, 0],
        [INT56_MIN, INT56_MIN, 0],
        [INT56_MIN, INT56_MIN + 100n * BigInt(WINDOW), 100],
      ] as const) {
        await setCode(poolAddress, rawPool({ returns: observeAnswer(c0, c1) }));
        expect(await oracle.twapPrice(base)).to.equal(tickToWad(tick, 18, 6));
      }
      for (const [c0, c1] of [
        [INT56_MAX + 1n, INT56_MAX],
        [INT56_MAX, INT56_MAX + 1n],
        [INT56_MIN - 1n, INT56_MIN],
        [INT56_MIN, INT56_MIN - 1n],
        [2n ** 200n, 2n ** 200n],
      ]) {
        await setCode(poolAddress, rawPool({ returns: observeAnswer(c0, c1) }));
        await expect(oracle.twapPrice(base))
          .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
          .withArgs(poolAddress);
      }
    });

    it("reverts with TwapCallFailed when observe's cumulatives give a mean tick beyond TickMath's range, and accepts the range's ends", async () => {
      const { oracle, base, poolAddress } = await rawPoolFixture();
      const w = BigInt(WINDOW);
      // MAX_TICK * w + (w - 1) floors to MAX_TICK: priced. One window more is MAX_TICK + 1.
      await setCode(poolAddress, rawPool({ returns: observeAnswer(0n, BigInt(MAX_TICK) * w + w - 1n) }));
      expect(await oracle.twapPrice(base)).to.equal(tickToWad(MAX_TICK, 18, 6));
      // MIN_TICK * w is MIN_TICK: in range, and refused only because its WAD price reads zero.
      await setCode(poolAddress, rawPool({ returns: observeAnswer(0n, BigInt(MIN_TICK) * w) }));
      expect(tickToWad(MIN_TICK, 18, 6)).to.equal(0n);
      await expect(oracle.twapPrice(base))
        .to.be.revertedWithCustomError(oracle, "TwapPriceZero")
        .withArgs(poolAddress, MIN_TICK);
      // One wei of cumulative below MIN_TICK * w rounds toward negative infinity, to MIN_TICK - 1.
      for (const delta of [BigInt(MAX_TICK + 1) * w, BigInt(MIN_TICK) * w - 1n, INT56_MAX, INT56_MIN]) {
        await setCode(poolAddress, rawPool({ returns: observeAnswer(0n, delta) }));
        await expect(oracle.twapPrice(base))
          .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
          .withArgs(poolAddress);
      }
    });

    it("reverts with TwapCallFailed when slot0 answers fewer than 224 bytes", async () => {
      const { oracle, base, poolAddress } = await rawPoolFixture();
      const full = slot0Answer(4n, 10n);
      const observe = { selector: OBSERVE, response: { returns: observeAnswer(0n, 0n) } };
      // Control: all seven words, then six words and one byte short of seven.
      await setCode(poolAddress, responder([{ selector: SLOT0, response: { returns: full } }, observe]));
      expect(await oracle.twapPrice(base)).to.equal(tickToWad(0, 18, 6));
      for (const answer of [full.slice(0, -64), full.slice(0, -2)]) {
        await setCode(poolAddress, responder([{ selector: SLOT0, response: { returns: answer } }, observe]));
        await expect(oracle.twapPrice(base))
          .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
          .withArgs(poolAddress);
      }
    });

    it("reads only slot0's index and cardinality: other words that do not fit their types are ignored, an index or cardinality beyond uint16 is refused", async () => {
      const { oracle, base, poolAddress } = await rawPoolFixture();
      const observe = { selector: OBSERVE, response: { returns: observeAnswer(0n, 0n) } };
      // A tick word that is no sign-extended int24 and a bool word of 2: not read, still priced.
      const odd = words(2n ** 96n, 2n ** 23n, 4n, 10n, 10n, 0n, 2n);
      await setCode(poolAddress, responder([{ selector: SLOT0, response: { returns: odd } }, observe]));
      expect(await oracle.twapPrice(base)).to.equal(tickToWad(0, 18, 6));
      for (const answer of [
        words(2n ** 96n, 0n, 2n ** 16n, 10n, 10n, 0n, 1n),
        words(2n ** 96n, 0n, 4n, 2n ** 16n, 10n, 0n, 1n),
      ]) {
        await setCode(poolAddress, responder([{ selector: SLOT0, response: { returns: answer } }, observe]));
        await expect(oracle.twapPrice(base))
          .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
          .withArgs(poolAddress);
      }
    });

    it("reverts with TwapCallFailed when observe reverts and the observation history cannot be read either", async () => {
      const { oracle, base, poolAddress } = await rawPoolFixture();
      // observe reverts with Uniswap's Error("OLD"); observations reverts (the responder's fallback).
      const old = ethers.AbiCoder.defaultAbiCoder().encode(["string"], ["OLD"]);
      await setCode(poolAddress, rawPool({ reverts: "0x08c379a0" + old.slice(2) }));
      await expect(oracle.twapPrice(base))
        .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
        .withArgs(poolAddress);
    });

    it("reverts with TwapHistoryTooShort counting from observations(0) when observe reverts and the slot after the index is not initialized", async () => {
      const { oracle, base, poolAddress } = await rawPoolFixture();
      const now = BigInt(await time.latest());
      const w = BigInt(WINDOW);
      // Index 4 of cardinality 10: the oldest slot is 5; uninitialized, so the ring has not wrapped
      // and slot 0 holds the oldest observation. Any other slot reverts (the responder's fallback).
      const code = (firstAt: bigint) =>
        rawPool({ reverts: "0x" }, [
          { selector: OBSERVATIONS, arg: 5n, response: { returns: observationAnswer(0n, false) } },
          { selector: OBSERVATIONS, arg: 0n, response: { returns: observationAnswer(firstAt, true) } },
        ]);
      for (const available of [0n, 1n, w - 1n]) {
        await setCode(poolAddress, code(now - available));
        await expect(oracle.twapPrice(base))
          .to.be.revertedWithCustomError(oracle, "TwapHistoryTooShort")
          .withArgs(poolAddress, WINDOW, available);
      }
      // A history of a whole window: observe's revert is not explained by it, so the call failed.
      await setCode(poolAddress, code(now - w));
      await expect(oracle.twapPrice(base))
        .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
        .withArgs(poolAddress);
    });

    it("reverts with TwapCallFailed when observe reverts and observations answers fewer than 128 bytes", async () => {
      const { oracle, base, poolAddress } = await rawPoolFixture();
      const now = BigInt(await time.latest());
      const recent = observationAnswer(now - 1n, true); // a 1-second history if it were read
      const unset = observationAnswer(0n, false);
      const cases: [string, string][] = [
        // The oldest slot (5) short: three words, or one byte short of four.
        [recent.slice(0, -64), recent],
        [recent.slice(0, -2), recent],
        // Slot 5 uninitialized, then slot 0 short.
        [unset, recent.slice(0, -64)],
        [unset, "0x"],
      ];
      for (const [slot5, slot0] of cases) {
        await setCode(
          poolAddress,
          rawPool({ reverts: "0x" }, [
            { selector: OBSERVATIONS, arg: 5n, response: { returns: slot5 } },
            { selector: OBSERVATIONS, arg: 0n, response: { returns: slot0 } },
          ]),
        );
        await expect(oracle.twapPrice(base))
          .to.be.revertedWithCustomError(oracle, "TwapCallFailed")
          .withArgs(poolAddress);
      }
      // Control: both slots in full give the short history.
      await setCode(
        poolAddress,
        rawPool({ reverts: "0x" }, [
          { selector: OBSERVATIONS, arg: 5n, response: { returns: unset } },
          { selector: OBSERVATIONS, arg: 0n, response: { returns: recent } },
        ]),
      );
      await expect(oracle.twapPrice(base))
        .to.be.revertedWithCustomError(oracle, "TwapHistoryTooShort")
        .withArgs(poolAddress, WINDOW, 1n);
    });

    it("reverts with TwapCardinalityTooLow, before reading any history, for a pool reporting cardinality 0", async () => {
      // setTwap bounds minCardinality to >= 2, so a cardinality of 0 is refused here and
      // _history's `cardinality == 0` branch cannot be reached.
      const { oracle, base, poolAddress } = await rawPoolFixture();
      await setCode(
        poolAddress,
        responder([
          { selector: SLOT0, response: { returns: slot0Answer(0n, 0n) } },
          { selector: OBSERVE, response: { reverts: "0x" } },
          { selector: OBSERVATIONS, response: { returns: observationAnswer(0n, false) } },
        ]),
      );
      await expect(oracle.twapPrice(base))
        .to.be.revertedWithCustomError(oracle, "TwapCardinalityTooLow")
        .withArgs(poolAddress, 0, 10);
      await expect(oracle.setTwap(base, poolAddress, ethers.ZeroAddress, WINDOW, 1))
        .to.be.revertedWithCustomError(oracle, "ParameterOutOfBounds")
        .withArgs(ethers.encodeBytes32String("MIN_CARDINALITY"), 1, 2, 2 ** 16 - 1);
    });
  });

  describe("manipulation resistance", () => {
    it("moves the 30-minute TWAP by less than 2% in the block after a single-block swap that moves the spot price by 35%", async () => {
      const { oracle, ethPool, weth, usdc, uniswapCallee, admin } = await loadFixture(twapFixture);
      await time.increase(WINDOW);
      const poolAddress = await ethPool.getAddress();
      const baseIsToken0 = isToken0(await weth.getAddress(), await usdc.getAddress());
      await usdc.mint(admin.address, ethers.parseUnits("100000000", 6));
      await usdc.approve(uniswapCallee, ethers.MaxUint256);

      const before = await slot0(ethPool);
      const tickBefore = Number(before.tick);
      const twapBefore = await oracle.twapPrice(weth);
      expect(twapBefore).to.equal(tickToWad(baseIsToken0 ? tickBefore : -tickBefore, 18, 6));

      // Buy WETH with USDC until its price is 1.35x: sqrtPrice scales by sqrt(1.35) toward WETH.
      const root = isqrt(135n * 10n ** 34n); // sqrt(1.35) * 1e18
      const limit = baseIsToken0 ? (before.sqrtPriceX96 * root) / WAD : (before.sqrtPriceX96 * WAD) / root;
      const swappedAt = await blockTimestamp(
        await uniswapCallee.swapExactIn(poolAddress, !baseIsToken0, ethers.parseUnits("100000000", 6), limit),
      );
      const after = await slot0(ethPool);
      expect(after.sqrtPriceX96).to.equal(limit);
      const tickAfter = Number(after.tick);
      // WETH spot price, WAD-scaled ratio after / before.
      const [num, den] = baseIsToken0
        ? [after.sqrtPriceX96, before.sqrtPriceX96]
        : [before.sqrtPriceX96, after.sqrtPriceX96];
      const spotMove = Number((num * num * WAD) / (den * den) - WAD) / 1e18;
      expect(spotMove).to.be.at.least(0.3);

      await time.increase(12); // the next block, 12 s later
      expect(await time.latest()).to.equal(swappedAt + 12);
      // Window [t - 1800, t]: the old tick for 1788 s, the manipulated tick for the last 12 s.
      const delta = BigInt(tickBefore) * BigInt(WINDOW - 12) + BigInt(tickAfter) * 12n;
      const [cumulatives]: [bigint[]] = await ethPool.observe([WINDOW, 0]);
      expect(cumulatives[1] - cumulatives[0]).to.equal(delta);
      const mean = Number(floorDiv(delta, BigInt(WINDOW)));
      const twapAfter = await oracle.twapPrice(weth);
      expect(twapAfter).to.equal(tickToWad(baseIsToken0 ? mean : -mean, 18, 6));
      const twapMove = relativeMove(twapBefore, twapAfter);
      console.log(
        `      spot WETH price move ${(spotMove * 100).toFixed(4)}% (tick ${tickBefore} -> ${tickAfter}); ` +
          `30-min TWAP ${ethers.formatUnits(twapBefore, 18)} -> ${ethers.formatUnits(twapAfter, 18)}, ` +
          `move ${(twapMove * 100).toFixed(4)}%`,
      );
      expect(twapMove).to.be.greaterThan(0);
      expect(twapMove).to.be.lessThan(0.02);
    });
  });

  describe("extreme ticks", () => {
    it("prices pools pushed to the minimum and maximum sqrt price exactly and without overflow at the widest decimal scale, and refuses the lowest, which read zero", async () => {
      // 18-decimal base against a 0-decimal quote: the scale 10^36 is the largest setTwap accepts.
      const f = await loadFixture(twapFixture);
      const quote0 = await f.quote0.getAddress();
      const cases: { base: string; pool: Contract; tick: number }[] = [];
      for (const baseToken of [f.base18Token0, f.base18Token1]) {
        const base = await baseToken.getAddress();
        // No liquidity: a swap moves the price to its limit for nothing and writes an observation.
        for (const [fee, zeroForOne, limit] of [
          [500, true, MIN_SQRT_PRICE + 1n],
          [FEE_TIER, false, MAX_SQRT_PRICE - 1n],
        ] as const) {
          const pool = await createPool(f.factory, base, quote0, fee, 2n ** 96n, 2);
          await f.callee.swapExactIn(await pool.getAddress(), zeroForOne, 1n, limit);
          const { sqrtPriceX96, tick } = await slot0(pool);
          expect(sqrtPriceX96).to.equal(limit);
          expect(Number(tick)).to.equal(zeroForOne ? MIN_TICK : MAX_TICK - 1);
          cases.push({ base, pool, tick: Number(tick) });
        }
      }
      await time.increase(WINDOW);
      const read: { baseTick: number; price: bigint }[] = [];
      for (const { base, pool, tick } of cases) {
        await f.freshOracle.setTwap(base, pool, quote0, WINDOW, 2);
        expect(await meanTick(pool, WINDOW)).to.equal(tick);
        const baseTick = isToken0(base, quote0) ? tick : -tick;
        const expected = tickToWad(baseTick, 18, 0);
        if (expected === 0n) {
          // Below 1e-18 quote per base the WAD price floors to zero: no price, a refusal.
          await expect(f.freshOracle.twapPrice(base))
            .to.be.revertedWithCustomError(f.freshOracle, "TwapPriceZero")
            .withArgs(await pool.getAddress(), baseTick);
          read.push({ baseTick, price: 0n });
          continue;
        }
        const price = await f.freshOracle.twapPrice(base);
        expect(price).to.equal(expected);
        read.push({ baseTick, price });
      }
      read.sort((a, b) => a.baseTick - b.baseTick);
      // The four base ticks are +-887271 and +-887272: both branches of tickToWad and the largest result.
      expect(read.map((r) => r.baseTick)).to.deep.equal([MIN_TICK, -(MAX_TICK - 1), MAX_TICK - 1, MAX_TICK]);
      expect(read[3].price).to.equal((((MAX_SQRT_PRICE * MAX_SQRT_PRICE) >> 64n) * 10n ** 36n) >> 128n);
      // The two lowest ticks are the refused ones.
      expect(read.slice(0, 2).map((r) => r.price)).to.deep.equal([0n, 0n]);
      console.log(
        `      extreme-tick prices (18-dec base, 0-dec quote): ${read.map((r) => `tick ${r.baseTick}: ${r.price}`).join("; ")}`,
      );
    });
  });
});
