import { expect } from "chai";
import hre, { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { Signer } from "ethers";
import type { IPriceOracle, MockERC20, PriceOracle } from "../typechain-types";
import { deployKeel } from "../scripts/lib/deployment";
import { FEE_TIER, factoryAbi } from "../scripts/lib/uniswap";
import { networkConfig } from "../config/networks";
import { deviation, sqrtPriceAtTick } from "./helpers/tickMath";

// Expected prices are computed here, never read back from the contract under test:
//   Chainlink: answer * 10^(18 - 8) (WAD per whole token).
//   TWAP: the arithmetic-mean tick of the pool over the window (from the pool's own `observe`,
//   rounded toward negative infinity), priced with Uniswap's TickMath ported below:
//   sqrtPriceX96^2 * 10^(18 + baseDecimals - quoteDecimals) / 2^192, rounded down.
//   Deviation between two prices: ceil(|a - b| * 1e18 / a), a being Chainlink (or the breaker's reference).

const WETH = networkConfig("hardhat").oracles.assets.find((a) => a.symbol === "WETH")!;
const HEARTBEAT = BigInt(WETH.chainlink.heartbeat);
const TOLERANCE = BigInt(WETH.chainlink.tolerance);
const MAX_AGE = HEARTBEAT + TOLERANCE;
const FEED_DECIMALS = BigInt(WETH.chainlink.decimals);
const MIN_ANSWER = WETH.chainlink.minAnswer;
const MAX_ANSWER = WETH.chainlink.maxAnswer;
const SEED_ANSWER = WETH.chainlink.mockAnswer!;
const WINDOW = BigInt(WETH.twap.window);
const MIN_CARDINALITY = BigInt(WETH.twap.minCardinality);
const MAX_DEVIATION = WETH.guard.maxDeviation;
const BREAKER_MAX_MOVE = WETH.guard.breakerMaxMove;
const BREAKER_WINDOW = BigInt(WETH.guard.breakerWindow);
const COOLDOWN = BigInt(WETH.guard.degradedCooldown);

const OK = 0n;
const DEGRADED = 1n;
const DOWN = 2n;
const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;
const INT128_MAX = (1n << 127n) - 1n;
/** The widest 8-decimal answer whose WAD price (x 1e10) still fits the 128 bits prices are stored in. */
const WIDEST_ANSWER = ((1n << 128n) - 1n) / 10n ** 10n;
const GRACE_PERIOD = 3600n;
const param = (name: string) => ethers.encodeBytes32String(name);
/** A Chainlink answer with 8 decimals as a WAD price. */
const wad = (answer: bigint) => answer * 10n ** 10n;
/** An 8-decimal answer from a decimal string, e.g. answer("3123.45678901"). */
const answer = (value: string) => ethers.parseUnits(value, 8);

// TickMath limits for swaps that stop nowhere in particular.
const MIN_SQRT_PRICE_LIMIT = 4295128740n;
const MAX_SQRT_PRICE_LIMIT = 1461446703485210103287273052203988822378723970341n;

/** 1.0001^tick in raw units as a WAD price per whole base token. */
function tickToWad(tick: bigint, baseDecimals: bigint, quoteDecimals: bigint): bigint {
  const sqrtPriceX96 = sqrtPriceAtTick(tick);
  const scale = 10n ** (18n + baseDecimals - quoteDecimals);
  if (sqrtPriceX96 < 1n << 128n) return (sqrtPriceX96 * sqrtPriceX96 * scale) >> 192n;
  return (((sqrtPriceX96 * sqrtPriceX96) >> 64n) * scale) >> 128n;
}

/** The real deployment, with handles on WETH's feed and pool and a few signers. */
async function oracleFixture() {
  const keel = await deployKeel();
  const [admin, stranger, trader] = await ethers.getSigners();
  const asset = await keel.weth.getAddress();
  const quote = await keel.usdc.getAddress();
  const seeded = await keel.ethFeed.latestRoundData();
  return {
    ...keel,
    admin,
    stranger,
    trader,
    asset,
    quote,
    feed: await keel.ethFeed.getAddress(),
    pool: await keel.ethPool.getAddress(),
    btcPoolAddress: await keel.btcPool.getAddress(),
    /** Whether WETH is the pool's token0 (the lower address); when not, its price is the inverse of the pool's. */
    baseIsToken0: BigInt(asset) < BigInt(quote),
    /** The deploy scripts' round: id 1, answer SEED_ANSWER. */
    seededAt: seeded[3],
  };
}
type Fixture = Awaited<ReturnType<typeof oracleFixture>>;

// The states below are built on top of the cached deployment in each test rather than cached
// themselves: hardhat-deploy reverts to its own snapshot whenever a fixture calls deployKeel(),
// which would invalidate the snapshots of every other loadFixture in the file.

/** The deployment as it is: a fresh Chainlink round, a pool with almost no observation history. */
async function deployed() {
  return loadFixture(oracleFixture);
}

/** PriceOracle.MAX_TWAP_WINDOW: longer than any pool in the suite has existed. */
const LONG_WINDOW = 86_400n;

/**
 * deployed(), with WETH's TWAP window at its longest: the pool's history is shorter than the
 * window however long the suite has run since the deployment (its snapshot is reused across files,
 * and block time follows the wall clock), so the TWAP refuses with TwapHistoryTooShort.
 */
async function young() {
  const f = await deployed();
  await f.oracle.setTwap(f.asset, f.pool, f.quote, LONG_WINDOW, MIN_CARDINALITY);
  return f;
}

/** Pushes `value` as a new round on WETH's feed at `at` (default: the next second). */
async function pushAnswer(f: Fixture, value: bigint, at?: bigint): Promise<bigint> {
  const updatedAt = at ?? BigInt(await time.latest()) + 1n;
  await time.setNextBlockTimestamp(updatedAt);
  await f.ethFeed.push(value);
  return updatedAt;
}

/**
 * deployed(), then the TWAP window passes (the pool's history covers it) and the feed answers
 * `value` again, as round 2.
 */
async function twapReady(value: bigint = SEED_ANSWER) {
  const f = await deployed();
  await time.increase(WINDOW);
  const updatedAt = await pushAnswer(f, value);
  return { ...f, updatedAt };
}

/** twapReady() without a TWAP, and round 2 (SEED_ANSWER) accepted by a poke: the breaker's reference. */
async function acceptedWithoutTwap() {
  const f = await twapReady();
  await f.oracle.setTwap(f.asset, ethers.ZeroAddress, ethers.ZeroAddress, 0n, 0n);
  await f.oracle.poke(f.asset);
  return f;
}

/** The WAD price the router's TWAP should report now: the pool's mean tick over the window. */
async function expectedTwap(f: Fixture): Promise<bigint> {
  const [cumulatives] = (await f.ethPool.observe([WINDOW, 0n])) as [bigint[]];
  const delta = cumulatives[1] - cumulatives[0];
  let tick = delta / WINDOW;
  if (delta < 0n && delta % WINDOW !== 0n) tick -= 1n;
  return tickToWad(f.baseIsToken0 ? tick : -tick, 18n, 6n);
}

/** Seconds of history the pool holds now: its first observation has not been overwritten yet. */
async function poolHistory(f: Fixture): Promise<bigint> {
  const [firstObservedAt] = (await f.ethPool.observations(0n)) as [bigint];
  return BigInt(await time.latest()) - firstObservedAt;
}

/** Swaps `amountIn` of `tokenIn` through the WETH/USDC pool from the trader's account. */
async function swap(f: Fixture, tokenIn: MockERC20, amountIn: bigint) {
  const zeroForOne = ((await f.ethPool.token0()) as string) === (await tokenIn.getAddress());
  await tokenIn.mint(f.trader.address, amountIn);
  await tokenIn.connect(f.trader).approve(f.uniswapCallee, amountIn);
  await f.uniswapCallee
    .connect(f.trader)
    .swapExactIn(f.pool, zeroForOne, amountIn, zeroForOne ? MIN_SQRT_PRICE_LIMIT : MAX_SQRT_PRICE_LIMIT);
}

function asPrice(p: IPriceOracle.PriceStructOutput): bigint[] {
  return [p.price, p.low, p.high, p.status];
}

async function priceOf(oracle: PriceOracle, asset: string): Promise<bigint[]> {
  return asPrice(await oracle.getPrice(asset));
}

async function checkedPriceOf(oracle: PriceOracle, asset: string): Promise<bigint[]> {
  return asPrice(await oracle.getPriceChecked(asset));
}

async function chainlinkOf(oracle: PriceOracle, asset: string): Promise<bigint[]> {
  const [price, roundId, updatedAt] = await oracle.chainlinkPrice(asset);
  return [price, roundId, updatedAt];
}

/**
 * Deploys raw bytecode that answers every call with the same 32-byte words, for feed shapes a
 * MockAggregator cannot take (answeredInRound 0, short return data). Its decimals() is the first word.
 */
async function deployConstantFeed(signer: Signer, words: bigint[]): Promise<string> {
  const hex = (value: bigint, bytes: number) => value.toString(16).padStart(bytes * 2, "0");
  let runtime = "";
  words.forEach((word, i) => {
    runtime += `7f${hex(BigInt.asUintN(256, word), 32)}60${hex(BigInt(32 * i), 1)}52`; // PUSH32 w PUSH1 i*32 MSTORE
  });
  runtime += `60${hex(BigInt(32 * words.length), 1)}6000f3`; // RETURN(0, 32 * words)
  // CODECOPY the runtime (after this 12-byte prefix) to memory 0 and return it.
  const init = `0x61${hex(BigInt(runtime.length / 2), 2)}80600c6000396000f3${runtime}`;
  const receipt = await (await signer.sendTransaction({ data: init })).wait();
  return receipt!.contractAddress!;
}

describe("PriceOracle", () => {
  describe("deployment", () => {
    it("configures WETH with the network's Chainlink feed, TWAP pool, guard and the sequencer uptime feed", async () => {
      const f = await deployed();
      const c = await f.oracle.chainlinkConfig(f.asset);
      expect([c.feed, c.heartbeat, c.tolerance, c.decimals, c.degradedUntil, c.minAnswer, c.maxAnswer]).to.deep.equal([
        f.feed,
        3600n,
        300n,
        8n,
        0n,
        100_000_000n,
        100_000_000_000_000n,
      ]);
      const t = await f.oracle.twapConfig(f.asset);
      expect([t.pool, t.window, t.minCardinality, t.baseIsToken0, t.baseDecimals, t.quoteDecimals]).to.deep.equal([
        f.pool,
        1800n,
        100n,
        f.baseIsToken0,
        18n,
        6n,
      ]);
      const g = await f.oracle.guardConfig(f.asset);
      expect([g.maxDeviation, g.breakerMaxMove, g.breakerWindow, g.degradedCooldown]).to.deep.equal([
        30_000_000_000_000_000n,
        200_000_000_000_000_000n,
        3600n,
        1800n,
      ]);
      // The local stand-in is an L2: a mock uptime feed reporting the sequencer up since genesis.
      const sequencer = await hre.deployments.get("Sequencer-Uptime-Feed");
      expect(await f.oracle.sequencerUptimeFeed()).to.equal(sequencer.address);
      expect(await f.oracle.sequencerGracePeriod()).to.equal(3600n);
      const uptime = await ethers.getContractAt("MockAggregator", sequencer.address);
      expect(await uptime.latestRoundData()).to.deep.equal([1n, 0n, 1n, 1n, 1n]);
      expect(await f.oracle.hasRole(DEFAULT_ADMIN_ROLE, f.admin.address)).to.equal(true);
    });
  });

  describe("chainlinkPrice", () => {
    it("returns a fresh answer as WAD with its round id and update time", async () => {
      const f = await deployed();
      const at = await pushAnswer(f, answer("3123.45678901"));
      expect(await chainlinkOf(f.oracle, f.asset)).to.deep.equal([3_123_456_789_010_000_000_000n, 2n, at]);
    });

    it("refuses a zero answer", async () => {
      const f = await deployed();
      await pushAnswer(f, 0n);
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkNonPositiveAnswer")
        .withArgs(f.feed, 0n);
    });

    it("refuses a negative answer", async () => {
      const f = await deployed();
      await pushAnswer(f, -answer("3000"));
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkNonPositiveAnswer")
        .withArgs(f.feed, -300_000_000_000n);
    });

    it("refuses an answer one second older than heartbeat plus tolerance", async () => {
      const f = await deployed();
      const at = await pushAnswer(f, SEED_ANSWER);
      await time.increaseTo(at + MAX_AGE + 1n);
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkStaleAnswer")
        .withArgs(f.feed, at, at + 1n);
    });

    it("accepts an answer exactly heartbeat plus tolerance old", async () => {
      const f = await deployed();
      const at = await pushAnswer(f, SEED_ANSWER);
      await time.increaseTo(at + 3900n);
      expect(await chainlinkOf(f.oracle, f.asset)).to.deep.equal([wad(SEED_ANSWER), 2n, at]);
    });

    it("refuses an answer dated after the current block", async () => {
      const f = await deployed();
      // A day ahead: a call's block time may run ahead of the last block's when the suite is slow
      // (coverage), so the bound on the reported time is a range rather than one value.
      const future = BigInt(await time.latest()) + 86_400n;
      await f.ethFeed.pushAt(SEED_ANSWER, future);
      const now = BigInt(await time.latest());
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkFutureAnswer")
        .withArgs(f.feed, future, (t: bigint) => t >= now && t < future);
    });

    it("refuses an answer carried over from an earlier round", async () => {
      const f = await deployed();
      const now = BigInt(await time.latest());
      await f.ethFeed.setRound(5n, SEED_ANSWER, now, now, 4n);
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkStaleRound")
        .withArgs(f.feed, 5n, 4n);
    });

    it("accepts an answer from a feed that no longer reports answeredInRound (returns 0)", async () => {
      const f = await deployed();
      const now = BigInt(await time.latest());
      const value = answer("2999.5");
      // roundId 8 doubles as decimals(): this feed answers every call with these five words.
      const feed = await deployConstantFeed(f.admin, [8n, value, now, now, 0n]);
      await f.oracle.setChainlink(f.asset, feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, MIN_ANSWER, MAX_ANSWER);
      expect(await chainlinkOf(f.oracle, f.asset)).to.deep.equal([wad(value), 8n, now]);
    });

    it("refuses an answer equal to the band's minimum (a feed stuck at its floor)", async () => {
      const f = await deployed();
      await pushAnswer(f, MIN_ANSWER);
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkAnswerOutOfBand")
        .withArgs(f.feed, 100_000_000n, 100_000_000n, 100_000_000_000_000n);
    });

    it("refuses an answer equal to the band's maximum", async () => {
      const f = await deployed();
      await pushAnswer(f, MAX_ANSWER);
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkAnswerOutOfBand")
        .withArgs(f.feed, 100_000_000_000_000n, 100_000_000n, 100_000_000_000_000n);
    });

    it("refuses an answer below the band", async () => {
      const f = await deployed();
      await pushAnswer(f, MIN_ANSWER - 1n);
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkAnswerOutOfBand")
        .withArgs(f.feed, 99_999_999n, 100_000_000n, 100_000_000_000_000n);
    });

    it("refuses an answer above the band", async () => {
      const f = await deployed();
      await pushAnswer(f, MAX_ANSWER + 1n);
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkAnswerOutOfBand")
        .withArgs(f.feed, 100_000_000_000_001n, 100_000_000n, 100_000_000_000_000n);
    });

    it("accepts answers one unit inside either end of the band", async () => {
      const f = await deployed();
      const low = await pushAnswer(f, MIN_ANSWER + 1n);
      expect(await chainlinkOf(f.oracle, f.asset)).to.deep.equal([1_000_000_010_000_000_000n, 2n, low]);
      const high = await pushAnswer(f, MAX_ANSWER - 1n);
      expect(await chainlinkOf(f.oracle, f.asset)).to.deep.equal([999_999_999_999_990_000_000_000n, 3n, high]);
    });

    it("refuses a feed that now reports other decimals than configured", async () => {
      const f = await deployed();
      await f.ethFeed.setDecimals(18);
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkDecimalsMismatch")
        .withArgs(f.feed, 18n, 8n);
    });

    it("refuses a feed that reverts", async () => {
      const f = await deployed();
      await f.ethFeed.setReverts(true);
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkCallFailed")
        .withArgs(f.feed);
    });

    it("refuses a feed whose latestRoundData returns fewer than five words", async () => {
      const f = await deployed();
      const now = BigInt(await time.latest());
      const feed = await deployConstantFeed(f.admin, [8n, SEED_ANSWER, now, now]);
      await f.oracle.setChainlink(f.asset, feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, MIN_ANSWER, MAX_ANSWER);
      await expect(f.oracle.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkCallFailed")
        .withArgs(feed);
    });

    it("reverts UnknownAsset for an asset without configuration", async () => {
      const f = await deployed();
      await expect(f.oracle.chainlinkPrice(f.quote))
        .to.be.revertedWithCustomError(f.oracle, "UnknownAsset")
        .withArgs(f.quote);
    });
  });

  describe("L2 sequencer", () => {
    /** A PriceOracle behind a sequencer uptime feed (answer 0: up, 1: down), with WETH's feed. */
    async function onL2() {
      const f = await deployed();
      const sequencer = await ethers.deployContract("MockAggregator", [0, "L2 sequencer uptime (mock)"]);
      const factory = await ethers.getContractFactory("PriceOracle");
      const l2 = await factory.deploy(f.admin.address, sequencer, GRACE_PERIOD);
      await l2.setChainlink(f.asset, f.feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, MIN_ANSWER, MAX_ANSWER);
      return { ...f, sequencer, sequencerAddress: await sequencer.getAddress(), l2 };
    }

    it("reports its uptime feed and grace period", async () => {
      const f = await onL2();
      expect(await f.l2.sequencerUptimeFeed()).to.equal(f.sequencerAddress);
      expect(await f.l2.sequencerGracePeriod()).to.equal(GRACE_PERIOD);
    });

    it("refuses prices while the sequencer reports that it is down", async () => {
      const f = await onL2();
      const since = BigInt(await time.latest()) - 2n * GRACE_PERIOD;
      await f.sequencer.setRound(1n, 1n, since, since, 0n);
      await expect(f.l2.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.l2, "SequencerDown")
        .withArgs(f.sequencerAddress);
    });

    it("treats a sequencer status that was never initialised (startedAt 0) as down", async () => {
      const f = await onL2();
      const now = BigInt(await time.latest());
      await f.sequencer.setRound(1n, 0n, 0n, now, 0n);
      await expect(f.l2.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.l2, "SequencerDown")
        .withArgs(f.sequencerAddress);
    });

    it("treats a sequencer feed that cannot be read as down", async () => {
      const f = await onL2();
      await expect(f.l2.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.l2, "SequencerDown")
        .withArgs(f.sequencerAddress);
    });

    it("refuses prices until the grace period after the sequencer came back up has passed", async () => {
      const f = await onL2();
      const upSince = BigInt(await time.latest());
      await f.sequencer.setRound(1n, 0n, upSince, upSince, 0n);
      await expect(f.l2.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.l2, "SequencerGracePeriod")
        .withArgs(f.sequencerAddress, upSince, upSince + GRACE_PERIOD);
      await pushAnswer(f, SEED_ANSWER, upSince + GRACE_PERIOD - 1n);
      await expect(f.l2.chainlinkPrice(f.asset))
        .to.be.revertedWithCustomError(f.l2, "SequencerGracePeriod")
        .withArgs(f.sequencerAddress, upSince, upSince + GRACE_PERIOD);
    });

    it("prices again from the second the grace period ends", async () => {
      const f = await onL2();
      const upSince = BigInt(await time.latest());
      await f.sequencer.setRound(1n, 0n, upSince, upSince, 0n);
      const at = await pushAnswer(f, answer("3050"), upSince + GRACE_PERIOD);
      expect(await chainlinkOf(f.l2, f.asset)).to.deep.equal([wad(answer("3050")), 2n, at]);
      expect(await priceOf(f.l2, f.asset)).to.deep.equal([
        3_050_000_000_000_000_000_000n,
        3_050_000_000_000_000_000_000n,
        3_050_000_000_000_000_000_000n,
        OK,
      ]);
    });

    it("getPrice and getPriceChecked report Down with a zero price while the sequencer is down", async () => {
      const f = await onL2();
      const since = BigInt(await time.latest());
      await f.sequencer.setRound(1n, 1n, since, since, 0n);
      expect(await priceOf(f.l2, f.asset)).to.deep.equal([0n, 0n, 0n, DOWN]);
      expect(await checkedPriceOf(f.l2, f.asset)).to.deep.equal([0n, 0n, 0n, DOWN]);
    });

    it("getPrice and getPriceChecked report Down with a zero price inside the grace period", async () => {
      const f = await onL2();
      const upSince = BigInt(await time.latest());
      await f.sequencer.setRound(1n, 0n, upSince, upSince, 0n);
      expect(await priceOf(f.l2, f.asset)).to.deep.equal([0n, 0n, 0n, DOWN]);
      expect(await checkedPriceOf(f.l2, f.asset)).to.deep.equal([0n, 0n, 0n, DOWN]);
    });

    it("poke returns Down and records nothing while the sequencer is down", async () => {
      const f = await onL2();
      const since = BigInt(await time.latest());
      await f.sequencer.setRound(1n, 1n, since, since, 0n);
      expect(await f.l2.poke.staticCall(f.asset)).to.equal(DOWN);
      const receipt = await (await f.l2.poke(f.asset)).wait();
      expect(receipt!.logs).to.have.length(0);
      expect(await f.l2.lastAccepted(f.asset)).to.deep.equal([0n, 0n, 0n]);
      expect((await f.l2.chainlinkConfig(f.asset)).degradedUntil).to.equal(0n);
    });

    it("poke returns Down inside the grace period", async () => {
      const f = await onL2();
      const upSince = BigInt(await time.latest());
      await f.sequencer.setRound(1n, 0n, upSince, upSince, 0n);
      expect(await f.l2.poke.staticCall(f.asset)).to.equal(DOWN);
    });

    it("refuses the TWAP source too while the sequencer is down", async () => {
      const f = await onL2();
      const since = BigInt(await time.latest()) - 2n * GRACE_PERIOD;
      await f.sequencer.setRound(1n, 1n, since, since, 0n);
      await expect(f.l2.twapPrice(f.asset))
        .to.be.revertedWithCustomError(f.l2, "SequencerDown")
        .withArgs(f.sequencerAddress);
    });

    it("sourceErrors reports the sequencer's refusal in place of Chainlink's", async () => {
      const f = await onL2();
      const upSince = BigInt(await time.latest());
      await f.sequencer.setRound(1n, 0n, upSince, upSince, 0n);
      expect(await f.l2.sourceErrors(f.asset)).to.deep.equal([
        f.l2.interface.encodeErrorResult("SequencerGracePeriod", [f.sequencerAddress, upSince, upSince + GRACE_PERIOD]),
        f.l2.interface.encodeErrorResult("TwapNotConfigured", [f.asset]),
      ]);
      await f.sequencer.setRound(2n, 1n, upSince, upSince, 0n);
      expect(await f.l2.sourceErrors(f.asset)).to.deep.equal([
        f.l2.interface.encodeErrorResult("SequencerDown", [f.sequencerAddress]),
        f.l2.interface.encodeErrorResult("TwapNotConfigured", [f.asset]),
      ]);
    });

    it("reverts construction with a grace period below ten minutes when a sequencer feed is set", async () => {
      const f = await onL2();
      const factory = await ethers.getContractFactory("PriceOracle");
      await expect(factory.deploy(f.admin.address, f.sequencerAddress, 599n))
        .to.be.revertedWithCustomError(factory, "ParameterOutOfBounds")
        .withArgs(param("GRACE_PERIOD"), 599n, 600n, 86_400n);
    });

    it("reverts construction with a grace period above one day when a sequencer feed is set", async () => {
      const f = await onL2();
      const factory = await ethers.getContractFactory("PriceOracle");
      await expect(factory.deploy(f.admin.address, f.sequencerAddress, 86_401n))
        .to.be.revertedWithCustomError(factory, "ParameterOutOfBounds")
        .withArgs(param("GRACE_PERIOD"), 86_401n, 600n, 86_400n);
    });

    it("accepts grace periods of exactly ten minutes and one day", async () => {
      const f = await onL2();
      const factory = await ethers.getContractFactory("PriceOracle");
      const shortest = await factory.deploy(f.admin.address, f.sequencerAddress, 600n);
      const longest = await factory.deploy(f.admin.address, f.sequencerAddress, 86_400n);
      expect(await shortest.sequencerGracePeriod()).to.equal(600n);
      expect(await longest.sequencerGracePeriod()).to.equal(86_400n);
    });

    it("ignores the grace period without a sequencer feed and reports zero", async () => {
      const f = await deployed();
      const factory = await ethers.getContractFactory("PriceOracle");
      const l1 = await factory.deploy(f.admin.address, ethers.ZeroAddress, 5n);
      expect(await l1.sequencerUptimeFeed()).to.equal(ethers.ZeroAddress);
      expect(await l1.sequencerGracePeriod()).to.equal(0n);
    });

    it("reverts construction with a zero admin", async () => {
      const f = await onL2();
      const factory = await ethers.getContractFactory("PriceOracle");
      await expect(factory.deploy(ethers.ZeroAddress, f.sequencerAddress, GRACE_PERIOD)).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
    });
  });

  describe("priceAtOrAfter", () => {
    const A2 = answer("2950.5");
    const A3 = answer("3010.12345678");
    const A4 = answer("3120");

    /** Rounds 2, 3 and 4 of WETH's feed at now - 9000, now - 8000 and now - 100. */
    async function history() {
      const f = await deployed();
      await time.increase(10_000);
      const now = BigInt(await time.latest());
      const r2 = now - 9000n;
      const r3 = now - 8000n;
      const r4 = now - 100n;
      await f.ethFeed.setRound(2n, A2, r2, r2, 0n);
      await f.ethFeed.setRound(3n, A3, r3, r3, 0n);
      await f.ethFeed.setRound(4n, A4, r4, r4, 0n);
      return { ...f, r2, r3, r4 };
    }

    it("returns the price of the first round after the timestamp", async () => {
      const f = await history();
      expect(await f.oracle.priceAtOrAfter(f.asset, f.r3 - 500n, 3n)).to.equal(3_010_123_456_780_000_000_000n);
    });

    it("returns the price of a round updated exactly at the timestamp", async () => {
      const f = await history();
      expect(await f.oracle.priceAtOrAfter(f.asset, f.r3, 3n)).to.equal(wad(A3));
    });

    it("reverts RoundBeforeTimestamp for a round updated before the timestamp", async () => {
      const f = await history();
      await expect(f.oracle.priceAtOrAfter(f.asset, f.r2 + 500n, 2n))
        .to.be.revertedWithCustomError(f.oracle, "RoundBeforeTimestamp")
        .withArgs(2n, f.r2, f.r2 + 500n);
    });

    it("reverts PreviousRoundNotBefore when the previous round is already at the timestamp", async () => {
      const f = await history();
      await expect(f.oracle.priceAtOrAfter(f.asset, f.r2, 3n))
        .to.be.revertedWithCustomError(f.oracle, "PreviousRoundNotBefore")
        .withArgs(2n, f.r2, f.r2);
    });

    it("reverts PreviousRoundNotBefore when the previous round is after the timestamp", async () => {
      const f = await history();
      await expect(f.oracle.priceAtOrAfter(f.asset, f.r2 - 1n, 3n))
        .to.be.revertedWithCustomError(f.oracle, "PreviousRoundNotBefore")
        .withArgs(2n, f.r2, f.r2 - 1n);
    });

    it("reverts RoundTooLate when the round came more than heartbeat plus tolerance after the timestamp", async () => {
      const f = await history();
      const timestamp = f.r4 - MAX_AGE - 1n;
      await expect(f.oracle.priceAtOrAfter(f.asset, timestamp, 4n))
        .to.be.revertedWithCustomError(f.oracle, "RoundTooLate")
        .withArgs(4n, f.r4, f.r4 - 1n);
    });

    it("accepts a round that came exactly heartbeat plus tolerance after the timestamp", async () => {
      const f = await history();
      expect(await f.oracle.priceAtOrAfter(f.asset, f.r4 - 3900n, 4n)).to.equal(3_120_000_000_000_000_000_000n);
    });

    it("reverts RoundAtPhaseStart for round 1", async () => {
      const f = await history();
      await expect(f.oracle.priceAtOrAfter(f.asset, f.seededAt, 1n))
        .to.be.revertedWithCustomError(f.oracle, "RoundAtPhaseStart")
        .withArgs(1n);
    });

    it("reverts RoundAtPhaseStart for the first round of a later proxy phase", async () => {
      const f = await history();
      const phaseStart = (2n << 64n) | 1n;
      await f.ethFeed.setRound(phaseStart, A4, f.r4, f.r4, 0n);
      await expect(f.oracle.priceAtOrAfter(f.asset, f.r4, phaseStart))
        .to.be.revertedWithCustomError(f.oracle, "RoundAtPhaseStart")
        .withArgs(phaseStart);
    });

    it("proves the second round of a proxy phase by the phase's first round", async () => {
      const f = await history();
      const phase = 2n << 64n;
      const now = BigInt(await time.latest());
      await f.ethFeed.setRound(phase | 1n, A2, now - 50n, now - 50n, 0n);
      await f.ethFeed.setRound(phase | 2n, A3, now - 10n, now - 10n, 0n);
      expect(await f.oracle.priceAtOrAfter(f.asset, now - 30n, phase | 2n)).to.equal(wad(A3));
    });

    it("reverts with the guard's error when the round's answer is out of band", async () => {
      const f = await history();
      await f.ethFeed.setRound(3n, MIN_ANSWER, f.r3, f.r3, 0n);
      await expect(f.oracle.priceAtOrAfter(f.asset, f.r3 - 500n, 3n))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkAnswerOutOfBand")
        .withArgs(f.feed, MIN_ANSWER, MIN_ANSWER, MAX_ANSWER);
    });

    it("reverts with the guard's error when the round's answer was carried over", async () => {
      const f = await history();
      await f.ethFeed.setRound(3n, A3, f.r3, f.r3, 2n);
      await expect(f.oracle.priceAtOrAfter(f.asset, f.r3 - 500n, 3n))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkStaleRound")
        .withArgs(f.feed, 3n, 2n);
    });

    it("still proves the round by a previous round whose answer is refused", async () => {
      const f = await history();
      await f.ethFeed.setRound(2n, 0n, f.r2, f.r2, 0n);
      expect(await f.oracle.priceAtOrAfter(f.asset, f.r3 - 500n, 3n)).to.equal(wad(A3));
    });

    it("reverts PreviousRoundMissing when the feed answers zeros for the previous round", async () => {
      const f = await history();
      const now = BigInt(await time.latest());
      await f.ethFeed.setZerosForMissing(true);
      await f.ethFeed.setRound(10n, A4, now, now, 0n); // round 9 reads as all zeros
      await expect(f.oracle.priceAtOrAfter(f.asset, now - 10n, 10n))
        .to.be.revertedWithCustomError(f.oracle, "PreviousRoundMissing")
        .withArgs(9n);
    });

    it("reverts ChainlinkCallFailed when the previous round cannot be read", async () => {
      const f = await history();
      const now = BigInt(await time.latest());
      await f.ethFeed.setRound(10n, A4, now, now, 0n); // rounds 5 to 9 do not exist
      await expect(f.oracle.priceAtOrAfter(f.asset, now - 10n, 10n))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkCallFailed")
        .withArgs(f.feed);
    });

    it("reverts UnknownAsset for an asset without configuration", async () => {
      const f = await history();
      await expect(f.oracle.priceAtOrAfter(f.quote, f.r3, 3n))
        .to.be.revertedWithCustomError(f.oracle, "UnknownAsset")
        .withArgs(f.quote);
    });
  });

  describe("getPrice and getPriceChecked", () => {
    it("report Ok with Chainlink alone (price = low = high) right after deployment", async () => {
      const f = await deployed();
      const cl = 3_000_000_000_000_000_000_000n;
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, cl, OK]);
    });

    it("getPriceChecked reports Ok with the two prices as low and high when the TWAP agrees", async () => {
      const f = await twapReady();
      const cl = wad(SEED_ANSWER);
      const tw = await expectedTwap(f);
      expect(tw).to.equal(3_000_104_290_406_328_548_377n); // the seeded tick 196256: 1e30 / 1.0001^196256
      expect(await f.oracle.twapPrice(f.asset)).to.equal(tw);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, tw, OK]);
    });

    it("getPriceChecked reports Ok for the largest answer within 3% of the TWAP and Degraded one unit above", async () => {
      const f = await twapReady();
      const tw = await expectedTwap(f);
      // Above the TWAP, ceil((cl - tw) * 1e18 / cl) <= 3e16 exactly when 97 * cl <= 100 * tw.
      const atBound = (tw * 100n) / (97n * 10n ** 10n);
      expect(atBound).to.equal(309_289_102_103n);
      expect(deviation(wad(atBound), tw)).to.equal(29_999_999_997_662_851n);
      expect(deviation(wad(atBound + 1n), tw)).to.equal(30_000_000_000_799_075n);
      await pushAnswer(f, atBound);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([wad(atBound), tw, wad(atBound), OK]);
      await pushAnswer(f, atBound + 1n);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([
        wad(atBound + 1n),
        tw,
        wad(atBound + 1n),
        DEGRADED,
      ]);
    });

    it("getPriceChecked reports Ok at a deviation equal to maxDeviation and Degraded when the bound is one wei lower", async () => {
      const f = await twapReady(answer("3100"));
      const cl = wad(answer("3100"));
      const tw = await expectedTwap(f);
      const dev = deviation(cl, tw);
      expect(dev).to.equal(32_224_422_449_571_437n);
      await f.oracle.setGuard(f.asset, dev, BREAKER_MAX_MOVE, BREAKER_WINDOW, COOLDOWN);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([cl, tw, cl, OK]);
      await f.oracle.setGuard(f.asset, dev - 1n, BREAKER_MAX_MOVE, BREAKER_WINDOW, COOLDOWN);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([cl, tw, cl, DEGRADED]);
    });

    it("getPriceChecked reports Degraded with low = TWAP, high = Chainlink when Chainlink is above by more than 3%", async () => {
      const f = await twapReady(answer("3200"));
      const cl = 3_200_000_000_000_000_000_000n;
      const tw = await expectedTwap(f);
      expect(deviation(cl, tw)).to.equal(62_467_409_248_022_329n); // 6.25%
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([cl, tw, cl, DEGRADED]);
      // The cheap read does not consult the TWAP: Ok until someone pokes.
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, cl, OK]);
      await f.oracle.poke(f.asset);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, tw, cl, DEGRADED]);
    });

    it("getPriceChecked reports Degraded with low = Chainlink, high = TWAP after a swap lifts the pool", async () => {
      const f = await deployed();
      await swap(f, f.usdc, ethers.parseUnits("200000", 6)); // buys WETH: its pool price rises
      await time.increase(WINDOW);
      await pushAnswer(f, SEED_ANSWER);
      const cl = wad(SEED_ANSWER);
      const tw = await expectedTwap(f);
      const [, tick] = (await f.ethPool.slot0()) as [bigint, bigint];
      expect(tw).to.equal(tickToWad(f.baseIsToken0 ? tick : -tick, 18n, 6n)); // the whole window at the new tick
      expect(tw > (cl * 113n) / 100n).to.equal(true);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, tw, DEGRADED]);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, cl, OK]);
    });

    it("report Degraded with the TWAP price when Chainlink is stale and the TWAP works", async () => {
      const f = await deployed();
      await time.increaseTo(f.seededAt + MAX_AGE + 1n);
      const tw = await expectedTwap(f);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([tw, tw, tw, DEGRADED]);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([tw, tw, tw, DEGRADED]);
    });

    it("getPriceChecked reports Degraded with the Chainlink price when the TWAP's history is too short", async () => {
      const f = await deployed();
      const cl = wad(SEED_ANSWER);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, cl, DEGRADED]);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, cl, OK]);
    });

    it("report Down with a zero price when neither source works", async () => {
      const f = await young();
      await f.ethFeed.setReverts(true);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([0n, 0n, 0n, DOWN]);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([0n, 0n, 0n, DOWN]);
    });

    it("revert UnknownAsset for an asset without configuration", async () => {
      const f = await deployed();
      await expect(f.oracle.getPrice(f.quote))
        .to.be.revertedWithCustomError(f.oracle, "UnknownAsset")
        .withArgs(f.quote);
      await expect(f.oracle.getPriceChecked(f.quote))
        .to.be.revertedWithCustomError(f.oracle, "UnknownAsset")
        .withArgs(f.quote);
      await expect(f.oracle.twapPrice(f.quote))
        .to.be.revertedWithCustomError(f.oracle, "UnknownAsset")
        .withArgs(f.quote);
      await expect(f.oracle.sourceErrors(f.quote))
        .to.be.revertedWithCustomError(f.oracle, "UnknownAsset")
        .withArgs(f.quote);
    });
  });

  describe("sourceErrors", () => {
    it("returns empty bytes for both sources when both are fine", async () => {
      const f = await twapReady();
      expect(await f.oracle.sourceErrors(f.asset)).to.deep.equal(["0x", "0x"]);
    });

    it("returns the encoded stale-answer refusal of Chainlink", async () => {
      const f = await deployed();
      await time.increaseTo(f.seededAt + MAX_AGE + 10n);
      expect(await f.oracle.sourceErrors(f.asset)).to.deep.equal([
        f.oracle.interface.encodeErrorResult("ChainlinkStaleAnswer", [f.feed, f.seededAt, f.seededAt + 10n]),
        "0x",
      ]);
    });

    it("returns the encoded history-too-short refusal of the TWAP while the pool is younger than the window", async () => {
      const f = await young();
      const available = await poolHistory(f);
      expect(available < LONG_WINDOW).to.equal(true);
      expect(await f.oracle.sourceErrors(f.asset)).to.deep.equal([
        "0x",
        f.oracle.interface.encodeErrorResult("TwapHistoryTooShort", [f.pool, LONG_WINDOW, available]),
      ]);
    });

    it("returns the refusals of both sources when both fail", async () => {
      const f = await young();
      await f.ethFeed.setDecimals(18);
      const available = await poolHistory(f);
      expect(await f.oracle.sourceErrors(f.asset)).to.deep.equal([
        f.oracle.interface.encodeErrorResult("ChainlinkDecimalsMismatch", [f.feed, 18n, 8n]),
        f.oracle.interface.encodeErrorResult("TwapHistoryTooShort", [f.pool, LONG_WINDOW, available]),
      ]);
    });

    it("returns the cardinality refusal when the pool holds fewer observations than required", async () => {
      const f = await twapReady();
      await f.oracle.setTwap(f.asset, f.pool, f.quote, WINDOW, MIN_CARDINALITY + 1n);
      expect(await f.oracle.sourceErrors(f.asset)).to.deep.equal([
        "0x",
        f.oracle.interface.encodeErrorResult("TwapCardinalityTooLow", [f.pool, 100n, 101n]),
      ]);
    });

    it("returns TwapNotConfigured when the asset has no TWAP", async () => {
      const f = await twapReady();
      await f.oracle.setTwap(f.asset, ethers.ZeroAddress, ethers.ZeroAddress, 0n, 0n);
      expect(await f.oracle.sourceErrors(f.asset)).to.deep.equal([
        "0x",
        f.oracle.interface.encodeErrorResult("TwapNotConfigured", [f.asset]),
      ]);
    });
  });

  describe("poke", () => {
    it("returns Ok, accepts the round and records it as the breaker's reference", async () => {
      const f = await twapReady(answer("3010.5"));
      expect(await f.oracle.lastAccepted(f.asset)).to.deep.equal([0n, 0n, 0n]);
      expect(await f.oracle.poke.staticCall(f.asset)).to.equal(OK);
      const tx = await f.oracle.poke(f.asset);
      await expect(tx)
        .to.emit(f.oracle, "PriceAccepted")
        .withArgs(f.asset, 3_010_500_000_000_000_000_000n, f.updatedAt);
      await expect(tx).not.to.emit(f.oracle, "Degraded");
      expect(await f.oracle.lastAccepted(f.asset)).to.deep.equal([3_010_500_000_000_000_000_000n, f.updatedAt, 2n]);
    });

    it("changes nothing when poked twice on the same round", async () => {
      const f = await twapReady();
      await f.oracle.poke(f.asset);
      await time.increase(60);
      expect(await f.oracle.poke.staticCall(f.asset)).to.equal(OK);
      const receipt = await (await f.oracle.poke(f.asset)).wait();
      expect(receipt!.logs).to.have.length(0);
      expect(await f.oracle.lastAccepted(f.asset)).to.deep.equal([wad(SEED_ANSWER), f.updatedAt, 2n]);
      expect((await f.oracle.chainlinkConfig(f.asset)).degradedUntil).to.equal(0n);
    });

    it("degrades for the cooldown with PriceDeviation as the reason when the sources disagree, then recovers", async () => {
      const f = await twapReady(answer("3200"));
      const cl = wad(answer("3200"));
      const tw = await expectedTwap(f);
      const dev = deviation(cl, tw);
      expect(await f.oracle.poke.staticCall(f.asset)).to.equal(DEGRADED);
      const pokedAt = f.updatedAt + 10n;
      await time.setNextBlockTimestamp(pokedAt);
      const until = pokedAt + COOLDOWN;
      const reason = f.oracle.interface.encodeErrorResult("PriceDeviation", [cl, tw, dev, MAX_DEVIATION]);
      await expect(f.oracle.poke(f.asset))
        .to.emit(f.oracle, "Degraded")
        .withArgs(f.asset, until, reason)
        .and.to.emit(f.oracle, "PriceAccepted")
        .withArgs(f.asset, cl, f.updatedAt);
      expect((await f.oracle.chainlinkConfig(f.asset)).degradedUntil).to.equal(until);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, tw, cl, DEGRADED]);
      await time.increaseTo(until - 1n);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, tw, cl, DEGRADED]);
      await time.increaseTo(until);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, cl, OK]);
    });

    it("degrades with Chainlink's refusal as the reason and returns Degraded while the TWAP works", async () => {
      const f = await deployed();
      const staleAt = f.seededAt + MAX_AGE + 1n;
      await time.increaseTo(staleAt);
      expect(await f.oracle.poke.staticCall(f.asset)).to.equal(DEGRADED);
      const pokedAt = staleAt + 1n;
      await time.setNextBlockTimestamp(pokedAt);
      const reason = f.oracle.interface.encodeErrorResult("ChainlinkStaleAnswer", [
        f.feed,
        f.seededAt,
        f.seededAt + 2n,
      ]);
      const tx = await f.oracle.poke(f.asset);
      await expect(tx)
        .to.emit(f.oracle, "Degraded")
        .withArgs(f.asset, pokedAt + COOLDOWN, reason);
      await expect(tx).not.to.emit(f.oracle, "PriceAccepted");
      expect(await f.oracle.lastAccepted(f.asset)).to.deep.equal([0n, 0n, 0n]);
    });

    it("keeps the asset Degraded for the cooldown after Chainlink recovers", async () => {
      const f = await deployed();
      const pokedAt = f.seededAt + MAX_AGE + 1n;
      await time.setNextBlockTimestamp(pokedAt);
      await f.oracle.poke(f.asset);
      const recoveredAt = await pushAnswer(f, SEED_ANSWER);
      const cl = wad(SEED_ANSWER);
      const tw = await expectedTwap(f);
      expect(recoveredAt < pokedAt + COOLDOWN).to.equal(true);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, tw, DEGRADED]);
      await time.increaseTo(pokedAt + COOLDOWN);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, cl, OK]);
    });

    it("degrades with ChainlinkCallFailed and returns Down when the TWAP cannot help either", async () => {
      const f = await young();
      await f.ethFeed.setReverts(true);
      expect(await f.oracle.poke.staticCall(f.asset)).to.equal(DOWN);
      const pokedAt = BigInt(await time.latest()) + 5n;
      await time.setNextBlockTimestamp(pokedAt);
      await expect(f.oracle.poke(f.asset))
        .to.emit(f.oracle, "Degraded")
        .withArgs(f.asset, pokedAt + COOLDOWN, f.oracle.interface.encodeErrorResult("ChainlinkCallFailed", [f.feed]));
    });

    it("degrades with the TWAP's refusal when the configured TWAP cannot be read, still accepting Chainlink", async () => {
      const f = await young();
      const pokedAt = BigInt(await time.latest()) + 5n;
      await time.setNextBlockTimestamp(pokedAt);
      const tx = await f.oracle.poke(f.asset);
      const available = await poolHistory(f); // read in the poke's block
      const reason = f.oracle.interface.encodeErrorResult("TwapHistoryTooShort", [f.pool, LONG_WINDOW, available]);
      await expect(tx)
        .to.emit(f.oracle, "Degraded")
        .withArgs(f.asset, pokedAt + COOLDOWN, reason)
        .and.to.emit(f.oracle, "PriceAccepted")
        .withArgs(f.asset, wad(SEED_ANSWER), f.seededAt);
      expect(await f.oracle.poke.staticCall(f.asset)).to.equal(DEGRADED);
    });

    it("never shortens a running Degraded period", async () => {
      const f = await twapReady(answer("3200"));
      const pokedAt = f.updatedAt + 1n;
      await time.setNextBlockTimestamp(pokedAt);
      await f.oracle.poke(f.asset);
      await f.oracle.setGuard(f.asset, MAX_DEVIATION, BREAKER_MAX_MOVE, BREAKER_WINDOW, 60n);
      const cl = wad(answer("3200"));
      const tw = await expectedTwap(f);
      const reason = f.oracle.interface.encodeErrorResult("PriceDeviation", [cl, tw, deviation(cl, tw), MAX_DEVIATION]);
      await expect(f.oracle.poke(f.asset))
        .to.emit(f.oracle, "Degraded")
        .withArgs(f.asset, pokedAt + COOLDOWN, reason);
      expect((await f.oracle.chainlinkConfig(f.asset)).degradedUntil).to.equal(pokedAt + COOLDOWN);
    });

    it("trips the circuit breaker on a rise of more than 20% within the breaker window", async () => {
      const f = await acceptedWithoutTwap();
      const moved = answer("3600.00000001");
      const movedAt = await pushAnswer(f, moved, f.updatedAt + BREAKER_WINDOW);
      const pokedAt = movedAt + 1n;
      await time.setNextBlockTimestamp(pokedAt);
      const until = pokedAt + COOLDOWN;
      const tx = await f.oracle.poke(f.asset);
      await expect(tx)
        .to.emit(f.oracle, "CircuitBreakerTripped")
        .withArgs(f.asset, 3_000_000_000_000_000_000_000n, 3_600_000_000_010_000_000_000n, until);
      // The moved price becomes the reference all the same.
      await expect(tx).to.emit(f.oracle, "PriceAccepted").withArgs(f.asset, wad(moved), movedAt);
      await expect(tx).not.to.emit(f.oracle, "Degraded");
      expect(await f.oracle.lastAccepted(f.asset)).to.deep.equal([wad(moved), movedAt, 3n]);
      expect(await f.oracle.poke.staticCall(f.asset)).to.equal(DEGRADED);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([wad(moved), wad(moved), wad(moved), DEGRADED]);
      await time.increaseTo(until - 1n);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([wad(moved), wad(moved), wad(moved), DEGRADED]);
      await time.increaseTo(until);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([wad(moved), wad(moved), wad(moved), OK]);
    });

    it("trips the circuit breaker on a fall of more than 20%", async () => {
      const f = await acceptedWithoutTwap();
      const moved = answer("2399.99999999");
      const movedAt = await pushAnswer(f, moved);
      const pokedAt = movedAt + 1n;
      await time.setNextBlockTimestamp(pokedAt);
      await expect(f.oracle.poke(f.asset))
        .to.emit(f.oracle, "CircuitBreakerTripped")
        .withArgs(f.asset, wad(SEED_ANSWER), 2_399_999_999_990_000_000_000n, pokedAt + COOLDOWN);
    });

    it("does not trip on a move of exactly 20%", async () => {
      const f = await acceptedWithoutTwap();
      const moved = answer("3600");
      expect(deviation(wad(SEED_ANSWER), wad(moved))).to.equal(BREAKER_MAX_MOVE);
      const movedAt = await pushAnswer(f, moved);
      const tx = await f.oracle.poke(f.asset);
      await expect(tx).not.to.emit(f.oracle, "CircuitBreakerTripped");
      await expect(tx).to.emit(f.oracle, "PriceAccepted").withArgs(f.asset, 3_600_000_000_000_000_000_000n, movedAt);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([wad(moved), wad(moved), wad(moved), OK]);
    });

    it("does not trip on a move of more than 20% that comes more than the breaker window after the reference", async () => {
      const f = await acceptedWithoutTwap();
      const moved = answer("4000");
      const movedAt = await pushAnswer(f, moved, f.updatedAt + BREAKER_WINDOW + 1n);
      const tx = await f.oracle.poke(f.asset);
      await expect(tx).not.to.emit(f.oracle, "CircuitBreakerTripped");
      await expect(tx).to.emit(f.oracle, "PriceAccepted").withArgs(f.asset, wad(moved), movedAt);
      expect(await f.oracle.poke.staticCall(f.asset)).to.equal(OK);
    });

    it("trips on a crash in steps each below the bound, measured from the price its window opened at", async () => {
      const f = await acceptedWithoutTwap();
      // Opened at 3000: -10% a round, every 5 minutes, each poked. -10%, -19%: no trip; -27.1%: trip.
      expect(await f.oracle.breakerAnchor(f.asset)).to.deep.equal([wad(SEED_ANSWER), f.updatedAt, 2n]);
      let at = f.updatedAt;
      for (const price of ["2700", "2430"]) {
        at = await pushAnswer(f, answer(price), at + 300n);
        await expect(f.oracle.poke(f.asset)).not.to.emit(f.oracle, "CircuitBreakerTripped");
      }
      at = await pushAnswer(f, answer("2187"), at + 300n);
      const pokedAt = at + 1n;
      await time.setNextBlockTimestamp(pokedAt);
      await expect(f.oracle.poke(f.asset))
        .to.emit(f.oracle, "CircuitBreakerTripped")
        .withArgs(f.asset, wad(SEED_ANSWER), wad(answer("2187")), pokedAt + COOLDOWN);
      // The window still opens at 3000; the last accepted round is the latest.
      expect(await f.oracle.breakerAnchor(f.asset)).to.deep.equal([wad(SEED_ANSWER), f.updatedAt, 2n]);
      expect(await f.oracle.lastAccepted(f.asset)).to.deep.equal([wad(answer("2187")), at, 5n]);
    });

    it("rolls the window to the first round accepted after it has passed, comparing that round with the previous one only", async () => {
      const f = await acceptedWithoutTwap();
      const first = await pushAnswer(f, answer("2700"), f.updatedAt + 600n);
      await f.oracle.poke(f.asset);
      // 3001 s later the window (opened at 3000) has passed: 2300 is compared with 2700 only (-14.8%).
      const rolled = await pushAnswer(f, answer("2300"), f.updatedAt + BREAKER_WINDOW + 1n);
      expect(rolled - first).to.be.lessThanOrEqual(BREAKER_WINDOW);
      await expect(f.oracle.poke(f.asset)).not.to.emit(f.oracle, "CircuitBreakerTripped");
      expect(await f.oracle.breakerAnchor(f.asset)).to.deep.equal([wad(answer("2300")), rolled, 4n]);
    });

    it("never trips on the first accepted round, having no reference to compare it with", async () => {
      const f = await twapReady();
      await f.oracle.setTwap(f.asset, ethers.ZeroAddress, ethers.ZeroAddress, 0n, 0n);
      const movedAt = await pushAnswer(f, answer("9000"));
      const tx = await f.oracle.poke(f.asset);
      await expect(tx).not.to.emit(f.oracle, "CircuitBreakerTripped");
      await expect(tx)
        .to.emit(f.oracle, "PriceAccepted")
        .withArgs(f.asset, wad(answer("9000")), movedAt);
    });

    it("reverts UnknownAsset for an asset without configuration", async () => {
      const f = await deployed();
      await expect(f.oracle.poke(f.quote)).to.be.revertedWithCustomError(f.oracle, "UnknownAsset").withArgs(f.quote);
    });
  });

  describe("governance", () => {
    it("lets only the admin configure Chainlink", async () => {
      const f = await deployed();
      await expect(
        f.oracle
          .connect(f.stranger)
          .setChainlink(f.asset, f.feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, MIN_ANSWER, MAX_ANSWER),
      )
        .to.be.revertedWithCustomError(f.oracle, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, DEFAULT_ADMIN_ROLE);
    });

    it("lets only the admin configure the TWAP", async () => {
      const f = await deployed();
      await expect(f.oracle.connect(f.stranger).setTwap(f.asset, f.pool, f.quote, WINDOW, MIN_CARDINALITY))
        .to.be.revertedWithCustomError(f.oracle, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, DEFAULT_ADMIN_ROLE);
    });

    it("lets only the admin configure the guard", async () => {
      const f = await deployed();
      await expect(
        f.oracle.connect(f.stranger).setGuard(f.asset, MAX_DEVIATION, BREAKER_MAX_MOVE, BREAKER_WINDOW, COOLDOWN),
      )
        .to.be.revertedWithCustomError(f.oracle, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, DEFAULT_ADMIN_ROLE);
    });

    it("emits ChainlinkConfigured with the old and new configuration and stores the new one", async () => {
      const f = await deployed();
      const next = await ethers.deployContract("MockAggregator", [8, "WETH / USD (replacement)"]);
      const nextAddress = await next.getAddress();
      await expect(f.oracle.setChainlink(f.asset, next, 7200n, 600n, 8, 50_000_000n, 50_000_000_000_000n))
        .to.emit(f.oracle, "ChainlinkConfigured")
        .withArgs(
          f.asset,
          [f.feed, 3600n, 300n, 8n, 0n, 100_000_000n, 100_000_000_000_000n],
          [nextAddress, 7200n, 600n, 8n, 0n, 50_000_000n, 50_000_000_000_000n],
        );
      const c = await f.oracle.chainlinkConfig(f.asset);
      expect([c.feed, c.heartbeat, c.tolerance, c.decimals, c.degradedUntil, c.minAnswer, c.maxAnswer]).to.deep.equal([
        nextAddress,
        7200n,
        600n,
        8n,
        0n,
        50_000_000n,
        50_000_000_000_000n,
      ]);
    });

    it("emits ChainlinkConfigured from an empty configuration for a new asset", async () => {
      const f = await deployed();
      await expect(f.oracle.setChainlink(f.quote, f.feed, 86_400n, 3600n, 8, 1n, 3n))
        .to.emit(f.oracle, "ChainlinkConfigured")
        .withArgs(f.quote, [ethers.ZeroAddress, 0n, 0n, 0n, 0n, 0n, 0n], [f.feed, 86_400n, 3600n, 8n, 0n, 1n, 3n]);
    });

    it("keeps a running Degraded period when Chainlink is reconfigured", async () => {
      const f = await twapReady(answer("3200"));
      const pokedAt = f.updatedAt + 1n;
      await time.setNextBlockTimestamp(pokedAt);
      await f.oracle.poke(f.asset);
      const until = pokedAt + COOLDOWN;
      await expect(f.oracle.setChainlink(f.asset, f.feed, 7200n, 300n, 8, MIN_ANSWER, MAX_ANSWER))
        .to.emit(f.oracle, "ChainlinkConfigured")
        .withArgs(
          f.asset,
          [f.feed, 3600n, 300n, 8n, until, MIN_ANSWER, MAX_ANSWER],
          [f.feed, 7200n, 300n, 8n, until, MIN_ANSWER, MAX_ANSWER],
        );
    });

    it("emits TwapConfigured with the old and new configuration and stores the new one", async () => {
      const f = await deployed();
      await expect(f.oracle.setTwap(f.asset, f.pool, f.quote, 3600n, 50n))
        .to.emit(f.oracle, "TwapConfigured")
        .withArgs(
          f.asset,
          [f.pool, 1800n, 100n, f.baseIsToken0, 18n, 6n],
          [f.pool, 3600n, 50n, f.baseIsToken0, 18n, 6n],
        );
      const t = await f.oracle.twapConfig(f.asset);
      expect([t.pool, t.window, t.minCardinality, t.baseIsToken0, t.baseDecimals, t.quoteDecimals]).to.deep.equal([
        f.pool,
        3600n,
        50n,
        f.baseIsToken0,
        18n,
        6n,
      ]);
    });

    it("emits GuardConfigured with the old and new configuration and stores the new one", async () => {
      const f = await deployed();
      const next = [ethers.parseUnits("0.05", 18), ethers.parseUnits("0.25", 18), 600n, 900n];
      await expect(f.oracle.setGuard(f.asset, next[0], next[1], next[2], next[3]))
        .to.emit(f.oracle, "GuardConfigured")
        .withArgs(
          f.asset,
          [30_000_000_000_000_000n, 200_000_000_000_000_000n, 3600n, 1800n],
          [50_000_000_000_000_000n, 250_000_000_000_000_000n, 600n, 900n],
        );
      const g = await f.oracle.guardConfig(f.asset);
      expect([g.maxDeviation, g.breakerMaxMove, g.breakerWindow, g.degradedCooldown]).to.deep.equal(next);
    });

    describe("hard bounds", () => {
      interface Bound {
        name: string;
        min: bigint;
        max: bigint;
        set(f: Fixture, value: bigint): Promise<unknown>;
        stored(f: Fixture): Promise<bigint>;
      }

      const BOUNDS: Bound[] = [
        {
          name: "HEARTBEAT",
          min: 60n,
          max: 86_400n,
          set: (f, v) => f.oracle.setChainlink(f.asset, f.feed, v, TOLERANCE, 8, MIN_ANSWER, MAX_ANSWER),
          stored: async (f) => (await f.oracle.chainlinkConfig(f.asset)).heartbeat,
        },
        {
          name: "TOLERANCE",
          min: 0n,
          max: 3600n,
          set: (f, v) => f.oracle.setChainlink(f.asset, f.feed, HEARTBEAT, v, 8, MIN_ANSWER, MAX_ANSWER),
          stored: async (f) => (await f.oracle.chainlinkConfig(f.asset)).tolerance,
        },
        {
          name: "DECIMALS",
          min: 0n,
          max: 18n,
          set: async (f, v) => {
            // A feed reporting the decimals under test, so that only the bound can refuse them.
            const feed = await ethers.deployContract("MockAggregator", [v, "any"]);
            return f.oracle.setChainlink(f.asset, feed, HEARTBEAT, TOLERANCE, v, MIN_ANSWER, MAX_ANSWER);
          },
          stored: async (f) => (await f.oracle.chainlinkConfig(f.asset)).decimals,
        },
        {
          name: "TWAP_WINDOW",
          min: 300n,
          max: 86_400n,
          set: (f, v) => f.oracle.setTwap(f.asset, f.pool, f.quote, v, MIN_CARDINALITY),
          stored: async (f) => (await f.oracle.twapConfig(f.asset)).window,
        },
        {
          name: "MIN_CARDINALITY",
          min: 2n,
          max: 65_535n,
          set: (f, v) => f.oracle.setTwap(f.asset, f.pool, f.quote, WINDOW, v),
          stored: async (f) => (await f.oracle.twapConfig(f.asset)).minCardinality,
        },
        {
          name: "MAX_DEVIATION",
          min: 5_000_000_000_000_000n,
          max: 500_000_000_000_000_000n,
          set: (f, v) => f.oracle.setGuard(f.asset, v, BREAKER_MAX_MOVE, BREAKER_WINDOW, COOLDOWN),
          stored: async (f) => (await f.oracle.guardConfig(f.asset)).maxDeviation,
        },
        {
          name: "BREAKER_MAX_MOVE",
          min: 50_000_000_000_000_000n,
          max: 900_000_000_000_000_000n,
          set: (f, v) => f.oracle.setGuard(f.asset, MAX_DEVIATION, v, BREAKER_WINDOW, COOLDOWN),
          stored: async (f) => (await f.oracle.guardConfig(f.asset)).breakerMaxMove,
        },
        {
          name: "BREAKER_WINDOW",
          min: 60n,
          max: 86_400n,
          set: (f, v) => f.oracle.setGuard(f.asset, MAX_DEVIATION, BREAKER_MAX_MOVE, v, COOLDOWN),
          stored: async (f) => (await f.oracle.guardConfig(f.asset)).breakerWindow,
        },
        {
          name: "DEGRADED_COOLDOWN",
          min: 60n,
          max: 86_400n,
          set: (f, v) => f.oracle.setGuard(f.asset, MAX_DEVIATION, BREAKER_MAX_MOVE, BREAKER_WINDOW, v),
          stored: async (f) => (await f.oracle.guardConfig(f.asset)).degradedCooldown,
        },
      ];

      for (const bound of BOUNDS) {
        if (bound.min > 0n) {
          it(`reverts ParameterOutOfBounds for ${bound.name} one below its minimum of ${bound.min}`, async () => {
            const f = await deployed();
            await expect(bound.set(f, bound.min - 1n))
              .to.be.revertedWithCustomError(f.oracle, "ParameterOutOfBounds")
              .withArgs(param(bound.name), bound.min - 1n, bound.min, bound.max);
          });
        }

        it(`reverts ParameterOutOfBounds for ${bound.name} one above its maximum of ${bound.max}`, async () => {
          const f = await deployed();
          await expect(bound.set(f, bound.max + 1n))
            .to.be.revertedWithCustomError(f.oracle, "ParameterOutOfBounds")
            .withArgs(param(bound.name), bound.max + 1n, bound.min, bound.max);
        });

        it(`accepts ${bound.name} at ${bound.min} and at ${bound.max}`, async () => {
          const f = await deployed();
          await bound.set(f, bound.min);
          expect(await bound.stored(f)).to.equal(bound.min);
          await bound.set(f, bound.max);
          expect(await bound.stored(f)).to.equal(bound.max);
        });
      }

      /** A Uniswap v3 pool (uninitialised: setTwap only reads its tokens) between two tokens. */
      async function createPool(f: Fixture, a: string, b: string): Promise<string> {
        const { address } = await hre.deployments.get("UniswapV3Factory");
        const factory = new ethers.Contract(address, factoryAbi, f.admin);
        await (await factory.createPool(a, b, FEE_TIER)).wait();
        return (await factory.getPool(a, b, FEE_TIER)) as string;
      }

      it("reverts ParameterOutOfBounds for a TWAP base token with more than 18 decimals", async () => {
        const f = await deployed();
        const token = await ethers.deployContract("MockERC20", ["Wide", "WIDE", 24]);
        const wide = await token.getAddress();
        await f.oracle.setChainlink(wide, f.feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, MIN_ANSWER, MAX_ANSWER);
        const pool = await createPool(f, wide, f.quote);
        await expect(f.oracle.setTwap(wide, pool, f.quote, WINDOW, MIN_CARDINALITY))
          .to.be.revertedWithCustomError(f.oracle, "ParameterOutOfBounds")
          .withArgs(param("DECIMALS"), 24n, 0n, 18n);
      });

      it("reverts ParameterOutOfBounds for a TWAP quote token with more than 18 decimals", async () => {
        const f = await deployed();
        const token = await ethers.deployContract("MockERC20", ["Wide", "WIDE", 24]);
        const wide = await token.getAddress();
        const pool = await createPool(f, f.asset, wide);
        await expect(f.oracle.setTwap(f.asset, pool, wide, WINDOW, MIN_CARDINALITY))
          .to.be.revertedWithCustomError(f.oracle, "ParameterOutOfBounds")
          .withArgs(param("DECIMALS"), 24n, 0n, 18n);
      });
    });

    describe("answer band", () => {
      const invalid: [string, bigint, bigint][] = [
        ["a zero minimum", 0n, MAX_ANSWER],
        ["a negative minimum", -1n, MAX_ANSWER],
        ["a maximum one above the minimum (no answer strictly inside)", MIN_ANSWER, MIN_ANSWER + 1n],
        ["a maximum equal to the minimum", MIN_ANSWER, MIN_ANSWER],
        ["a maximum below the minimum", MAX_ANSWER, MIN_ANSWER],
        ["a maximum above int128's", MIN_ANSWER, INT128_MAX + 1n],
        ["a maximum whose WAD price does not fit 128 bits", MIN_ANSWER, WIDEST_ANSWER + 1n],
        ["a maximum so far below the minimum that their difference overflows", 1n, -(1n << 255n)],
      ];
      for (const [label, min, max] of invalid) {
        it(`reverts InvalidAnswerBand for ${label}`, async () => {
          const f = await deployed();
          await expect(f.oracle.setChainlink(f.asset, f.feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, min, max))
            .to.be.revertedWithCustomError(f.oracle, "InvalidAnswerBand")
            .withArgs(min, max);
        });
      }

      it("accepts the narrowest band (one answer strictly inside) and the widest", async () => {
        const f = await deployed();
        await f.oracle.setChainlink(f.asset, f.feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, 1n, 3n);
        let c = await f.oracle.chainlinkConfig(f.asset);
        expect([c.minAnswer, c.maxAnswer]).to.deep.equal([1n, 3n]);
        await f.oracle.setChainlink(f.asset, f.feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, 1n, WIDEST_ANSWER);
        c = await f.oracle.chainlinkConfig(f.asset);
        expect([c.minAnswer, c.maxAnswer]).to.deep.equal([1n, WIDEST_ANSWER]);
      });
    });

    it("reverts ChainlinkDecimalsMismatch when the feed reports other decimals than configured", async () => {
      const f = await deployed();
      const feed = await ethers.deployContract("MockAggregator", [18, "WETH / USD (18 decimals)"]);
      await expect(f.oracle.setChainlink(f.asset, feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, MIN_ANSWER, MAX_ANSWER))
        .to.be.revertedWithCustomError(f.oracle, "ChainlinkDecimalsMismatch")
        .withArgs(await feed.getAddress(), 18n, 8n);
    });

    it("reverts TwapPoolMismatch for a pool that does not hold the asset", async () => {
      const f = await deployed();
      await expect(f.oracle.setTwap(f.asset, f.btcPoolAddress, f.quote, WINDOW, MIN_CARDINALITY))
        .to.be.revertedWithCustomError(f.oracle, "TwapPoolMismatch")
        .withArgs(f.btcPoolAddress, f.asset);
    });

    it("reverts TwapPoolMismatch for a pool that pairs the asset with another quote", async () => {
      const f = await deployed();
      await expect(f.oracle.setTwap(f.asset, f.pool, await f.wbtc.getAddress(), WINDOW, MIN_CARDINALITY))
        .to.be.revertedWithCustomError(f.oracle, "TwapPoolMismatch")
        .withArgs(f.pool, f.asset);
    });

    it("removes the TWAP with a zero pool, after which getPriceChecked behaves like getPrice", async () => {
      const f = await deployed();
      const cl = wad(SEED_ANSWER);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, cl, DEGRADED]); // history too short
      await expect(f.oracle.setTwap(f.asset, ethers.ZeroAddress, ethers.ZeroAddress, 0n, 0n))
        .to.emit(f.oracle, "TwapConfigured")
        .withArgs(f.asset, [f.pool, 1800n, 100n, f.baseIsToken0, 18n, 6n], [ethers.ZeroAddress, 0n, 0n, false, 0n, 0n]);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, cl, OK]);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([cl, cl, cl, OK]);
      await expect(f.oracle.twapPrice(f.asset))
        .to.be.revertedWithCustomError(f.oracle, "TwapNotConfigured")
        .withArgs(f.asset);
      // Without a TWAP nothing stands in for a failing Chainlink.
      await f.ethFeed.setReverts(true);
      expect(await checkedPriceOf(f.oracle, f.asset)).to.deep.equal([0n, 0n, 0n, DOWN]);
      expect(await priceOf(f.oracle, f.asset)).to.deep.equal([0n, 0n, 0n, DOWN]);
    });

    it("reverts ZeroAddress for a zero asset", async () => {
      const f = await deployed();
      await expect(
        f.oracle.setChainlink(ethers.ZeroAddress, f.feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, MIN_ANSWER, MAX_ANSWER),
      ).to.be.revertedWithCustomError(f.oracle, "ZeroAddress");
    });

    it("reverts ZeroAddress for a zero feed", async () => {
      const f = await deployed();
      await expect(
        f.oracle.setChainlink(f.asset, ethers.ZeroAddress, HEARTBEAT, TOLERANCE, FEED_DECIMALS, MIN_ANSWER, MAX_ANSWER),
      ).to.be.revertedWithCustomError(f.oracle, "ZeroAddress");
    });

    it("reverts UnknownAsset when setting the TWAP of an asset without Chainlink configuration", async () => {
      const f = await deployed();
      const btc = await f.wbtc.getAddress();
      await expect(f.oracle.setTwap(f.quote, f.btcPoolAddress, btc, WINDOW, MIN_CARDINALITY))
        .to.be.revertedWithCustomError(f.oracle, "UnknownAsset")
        .withArgs(f.quote);
    });

    it("reverts UnknownAsset when setting the guard of an asset without Chainlink configuration", async () => {
      const f = await deployed();
      await expect(f.oracle.setGuard(f.quote, MAX_DEVIATION, BREAKER_MAX_MOVE, BREAKER_WINDOW, COOLDOWN))
        .to.be.revertedWithCustomError(f.oracle, "UnknownAsset")
        .withArgs(f.quote);
    });
  });
});
