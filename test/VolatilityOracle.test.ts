import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { ethers } from "hardhat";
import { anyValue } from "@nomicfoundation/hardhat-chai-matchers/withArgs";
import { getStorageAt, loadFixture, setCode, time } from "@nomicfoundation/hardhat-network-helpers";
import type { ContractTransactionResponse } from "ethers";
import type { MockAggregator, PriceOracle, VolatilityOracle } from "../typechain-types";
import { deployKeel } from "../scripts/lib/deployment";
import { isqrt } from "../scripts/lib/uniswap";
import { networkConfig } from "../config/networks";
import { type RawResponse, responder, selector, words } from "./helpers/rawContracts";

// The recursion under test (VolatilityOracle's NatSpec, RiskMetrics with per-second normalization):
//   r = ln(p / p_prev),  var' = lambda * var + (1 - lambda) * r^2 * YEAR / dt,  vol = sqrt(var)
// Expected values come from a double-precision TypeScript reference of the same recursion fed with
// the prices as pushed (relative error bound 1e-9), or, where every input is known exactly, from the
// contract's integer arithmetic mirrored in bigint (exact equality).

const WAD = 10n ** 18n;
const YEAR = 365n * 24n * 3600n;
const HOUR = 3600;
const DAY = 24 * HOUR;
const ETH = networkConfig("hardhat").oracles.assets.find((a) => a.symbol === "WETH")!;
const { lambda: LAMBDA, minVol: MIN_VOL, maxVol: MAX_VOL, initialVol: INITIAL_VOL } = ETH.volatility;
const HEARTBEAT = ETH.chainlink.heartbeat; // 3600
const TOLERANCE = ETH.chainlink.tolerance; // 300
const FEED_DECIMALS = 8;
const MIN_ANSWER = 1n;
const MAX_ANSWER = 10n ** 28n;
const ADMIN_ROLE = ethers.ZeroHash;
const MIN_LAMBDA = ethers.parseUnits("0.5", 18);
const MAX_LAMBDA = ethers.parseUnits("0.999", 18);
const VOL_FLOOR = ethers.parseUnits("0.05", 18);
const VOL_CEILING = ethers.parseUnits("10", 18);
const name = (s: string) => ethers.encodeBytes32String(s);
const usd = (price: string) => ethers.parseUnits(price, FEED_DECIMALS);
const wad = (x: string) => ethers.parseUnits(x, 18);
const toNumber = (x: bigint) => Number(x) / 1e18;
const relativeError = (actual: number, expected: number) => Math.abs(actual - expected) / Math.abs(expected);
/** Relative error bound against the double-precision reference. */
const TOLERANCE_DOUBLE = 1e-9;

/** ln(num / den) to 40 decimals (atanh series), for the exact log returns of the unit tests. */
function ln40(num: bigint, den: bigint): bigint {
  const one = 10n ** 40n;
  const z = ((num - den) * one) / (num + den);
  const z2 = (z * z) / one;
  let term = z;
  let sum = 0n;
  for (let k = 1n; term !== 0n; k += 2n) {
    sum += term / k;
    term = (term * z2) / one;
  }
  return 2n * sum;
}

/** ln(num / den) as WAD, rounded to nearest. */
function lnWadRef(num: bigint, den: bigint): bigint {
  const x = ln40(num, den);
  const unit = 10n ** 22n;
  return x >= 0n ? (x + unit / 2n) / unit : -((-x + unit / 2n) / unit);
}

/** The contract's integer step for a known WAD log return. */
function varianceStep(variance: bigint, lambda: bigint, logReturn: bigint, elapsed: bigint): bigint {
  const sample = (logReturn * logReturn * YEAR) / (elapsed * WAD);
  return (lambda * variance + (WAD - lambda) * sample) / WAD;
}
const sqrtWad = (variance: bigint) => isqrt(variance * WAD);

interface Row {
  timestamp: number;
  answer: bigint;
}

/** A recorded path from test/data (see test/data/SOURCES.md): `timestamp,price[,...]` per line. */
function readRows(file: string): Row[] {
  const lines = fs
    .readFileSync(path.join(__dirname, "data", file), "utf8")
    .trim()
    .split("\n");
  expect(lines[0].startsWith("timestamp,price")).to.equal(true);
  return lines.slice(1).map((line) => {
    const [timestamp, price] = line.split(",");
    return { timestamp: Number(timestamp), answer: usd(price) };
  });
}

interface Reference {
  logReturn: number;
  volatility: number;
}

/** The recursion in doubles, from the answers as pushed; one entry per row after the first. */
function referencePath(rows: Row[], initialVol: number, lambda = 0.94): Reference[] {
  let variance = initialVol * initialVol;
  const out: Reference[] = [];
  for (let i = 1; i < rows.length; i++) {
    const prev = rows[i - 1].answer;
    // log1p of the exact integer difference: no cancellation in p / p_prev - 1.
    const logReturn = Math.log1p(Number(rows[i].answer - prev) / Number(prev));
    const elapsed = rows[i].timestamp - rows[i - 1].timestamp;
    variance = lambda * variance + (1 - lambda) * ((logReturn * logReturn * 31536000) / elapsed);
    out.push({ logReturn, volatility: Math.sqrt(variance) });
  }
  return out;
}

interface Step {
  roundId: bigint;
  price: bigint;
  logReturn: bigint;
  elapsed: bigint;
  volatility: bigint;
  blockNumber: number;
}

async function updatedEvents(volatility: VolatilityOracle, tx: ContractTransactionResponse) {
  const receipt = await tx.wait();
  if (receipt === null) throw new Error("no receipt");
  const events = receipt.logs
    .map((log) => volatility.interface.parseLog(log))
    .filter((e) => e !== null && e.name === "VolatilityUpdated");
  return { events, blockNumber: receipt.blockNumber };
}

/** The estimate's storage slot (lastPrice | lastUpdatedAt << 128 | variance << 160), checked against rawVolatility. */
async function storedVariance(volatility: VolatilityOracle, asset: string): Promise<bigint> {
  // AccessControl's _roles is slot 0; _state is slot 1.
  const slot = ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(["address", "uint256"], [asset, 1]));
  const word = BigInt(await getStorageAt(await volatility.getAddress(), slot));
  const variance = word >> 160n;
  const [vol, lastPrice, updatedAt] = await volatility.rawVolatility(asset);
  expect([word & (2n ** 128n - 1n), (word >> 128n) & (2n ** 32n - 1n), sqrtWad(variance)]).to.deep.equal([
    lastPrice,
    updatedAt,
    vol,
  ]);
  return variance;
}

/**
 * The real deployment, plus a fresh PriceOracle whose WETH feed is a fresh mock (8 decimals, the
 * deployed heartbeat and tolerance) and a fresh, not yet configured, VolatilityOracle on it.
 */
async function volatilityFixture() {
  const keel = await deployKeel();
  const [admin, stranger] = await ethers.getSigners();
  const feed: MockAggregator = await ethers.deployContract("MockAggregator", [FEED_DECIMALS, "ETH / USD (replay)"]);
  const priceOracle: PriceOracle = await ethers.deployContract("PriceOracle", [admin.address, ethers.ZeroAddress, 0]);
  const volatility: VolatilityOracle = await ethers.deployContract("VolatilityOracle", [admin.address, priceOracle]);
  const asset = await keel.weth.getAddress();
  await priceOracle.setChainlink(asset, feed, HEARTBEAT, TOLERANCE, FEED_DECIMALS, MIN_ANSWER, MAX_ANSWER);
  return { keel, admin, stranger, feed, priceOracle, volatility, asset };
}

type Fixture = Awaited<ReturnType<typeof volatilityFixture>>;

/** The fixture with the asset configured as deployed: lambda 0.94, clamp [20%, 500%], initial 60%. */
async function configured(): Promise<Fixture> {
  const f = await loadFixture(volatilityFixture);
  await f.volatility.configure(f.asset, LAMBDA, MIN_VOL, MAX_VOL, INITIAL_VOL);
  return f;
}

/** Pushes a round answered at `at` (or now) and folds it in; returns the update's events. */
async function pushAndUpdate(f: Fixture, answer: bigint, at?: number) {
  if (at !== undefined) await time.setNextBlockTimestamp(at);
  await f.feed.push(answer);
  const pushedAt = await time.latest();
  return { ...(await updatedEvents(f.volatility, await f.volatility.update(f.asset))), pushedAt };
}

/**
 * Replays `rows` as hourly rounds of the fresh feed, each pushed at the row's timestamp shifted by
 * whole days past the chain's clock and folded in one block (one second) later.
 */
async function replay(f: Fixture, rows: Row[]): Promise<Step[]> {
  const offset = Math.ceil(((await time.latest()) + HOUR - rows[0].timestamp) / DAY) * DAY;
  const steps: Step[] = [];
  for (const [i, row] of rows.entries()) {
    const { events, blockNumber } = await pushAndUpdate(f, row.answer, row.timestamp + offset);
    if (i === 0) {
      expect(events).to.have.length(0);
      continue;
    }
    expect(events).to.have.length(1);
    const [, roundId, price, logReturn, elapsed, volatility] = events[0]!.args;
    steps.push({ roundId, price, logReturn, elapsed, volatility, blockNumber });
  }
  return steps;
}

/** Checks every step against the rows and the double reference; returns the worst relative errors. */
function checkAgainstReference(rows: Row[], steps: Step[], reference: Reference[]) {
  let worstVol = 0;
  let worstReturn = 0;
  steps.forEach((s, i) => {
    expect(s.roundId).to.equal(BigInt(i + 2));
    expect(s.price).to.equal(rows[i + 1].answer * 10n ** BigInt(18 - FEED_DECIMALS));
    expect(s.elapsed).to.equal(BigInt(rows[i + 1].timestamp - rows[i].timestamp));
    const ref = reference[i];
    if (ref.logReturn === 0) {
      expect(s.logReturn).to.equal(0n);
    } else {
      worstReturn = Math.max(worstReturn, relativeError(toNumber(s.logReturn), ref.logReturn));
    }
    worstVol = Math.max(worstVol, relativeError(toNumber(s.volatility), ref.volatility));
  });
  expect(worstVol).to.be.at.most(TOLERANCE_DOUBLE);
  expect(worstReturn).to.be.at.most(TOLERANCE_DOUBLE);
  return { worstVol, worstReturn };
}

const iso = (timestamp: number) => new Date(timestamp * 1000).toISOString().slice(0, 16).replace("T", " ");
const pct = (x: number) => `${(x * 100).toFixed(2)}%`;

/**
 * Raw feed code for the fixture's feed address: latestRoundData answers round 1 at `answer`,
 * updated `updatedAt`, and decimals() answers `decimals`; any other call reverts.
 */
function rawFeed(answer: bigint, updatedAt: bigint, decimals: RawResponse): string {
  return responder([
    { selector: selector("latestRoundData()"), response: { returns: words(1n, answer, updatedAt, updatedAt, 1n) } },
    { selector: selector("decimals()"), response: decimals },
  ]);
}

/** ln(10) to 40 decimals, for -18 ln 10 = ln(1e-18), the log return of a ratio floored at one wei. */
const LN10_40 = 23025850929940456840179914546843642076011n;

describe("VolatilityOracle", () => {
  describe("construction", () => {
    it("reverts with ZeroAddress for a zero admin or a zero price oracle", async () => {
      const { priceOracle, admin } = await loadFixture(volatilityFixture);
      const factory = await ethers.getContractFactory("VolatilityOracle");
      await expect(factory.deploy(ethers.ZeroAddress, priceOracle)).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
      await expect(factory.deploy(admin.address, ethers.ZeroAddress)).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
    });

    it("reads the given price oracle and grants the admin role to the given admin, not to a stranger", async () => {
      const { volatility, priceOracle, admin, stranger } = await loadFixture(volatilityFixture);
      expect(await volatility.priceOracle()).to.equal(await priceOracle.getAddress());
      expect(await volatility.hasRole(ADMIN_ROLE, admin.address)).to.equal(true);
      expect(await volatility.hasRole(ADMIN_ROLE, stranger.address)).to.equal(false);
    });
  });

  describe("the deployed estimate", () => {
    it("is configured from the network config and seeded with the WETH feed's deployment round", async () => {
      const { keel } = await loadFixture(volatilityFixture);
      const { volatility, oracle, ethFeed, weth } = keel;
      expect(await volatility.priceOracle()).to.equal(await oracle.getAddress());
      expect([...(await volatility.config(weth))]).to.deep.equal([LAMBDA, MIN_VOL, MAX_VOL]);
      const [, answer, , updatedAt] = await ethFeed.latestRoundData();
      expect([...(await volatility.rawVolatility(weth))]).to.deep.equal([INITIAL_VOL, answer * 10n ** 10n, updatedAt]);
      expect(await volatility.volatility(weth)).to.equal(INITIAL_VOL);
    });

    it("refuses to update with the price oracle's ChainlinkStaleAnswer once the feed is older than heartbeat + tolerance", async () => {
      const { keel } = await loadFixture(volatilityFixture);
      const { volatility, oracle, ethFeed, weth } = keel;
      const [roundId, , , updatedAt] = await ethFeed.latestRoundData();
      const maxAge = BigInt(HEARTBEAT + TOLERANCE);
      // At exactly heartbeat + tolerance the round is still accepted, and it is already folded in.
      await time.setNextBlockTimestamp(updatedAt + maxAge);
      await expect(volatility.update(weth))
        .to.be.revertedWithCustomError(volatility, "NoNewRound")
        .withArgs(await weth.getAddress(), roundId);
      await time.setNextBlockTimestamp(updatedAt + maxAge + 1n);
      await expect(volatility.update(weth))
        .to.be.revertedWithCustomError(oracle, "ChainlinkStaleAnswer")
        .withArgs(await ethFeed.getAddress(), updatedAt, updatedAt + 1n);
    });
  });

  describe("configure", () => {
    it("emits VolatilityConfigured from the empty config and seeds the estimate with the initial volatility", async () => {
      const { volatility, asset } = await loadFixture(volatilityFixture);
      await expect(volatility.configure(asset, LAMBDA, MIN_VOL, MAX_VOL, INITIAL_VOL))
        .to.emit(volatility, "VolatilityConfigured")
        .withArgs(asset, [0n, 0n, 0n], [LAMBDA, MIN_VOL, MAX_VOL], INITIAL_VOL);
      expect([...(await volatility.config(asset))]).to.deep.equal([LAMBDA, MIN_VOL, MAX_VOL]);
      expect([...(await volatility.rawVolatility(asset))]).to.deep.equal([INITIAL_VOL, 0n, 0n]);
      expect(await volatility.volatility(asset)).to.equal(INITIAL_VOL);
    });

    const outOfBounds: [string, bigint[], string, bigint, bigint, bigint][] = [
      [
        "lambda below 0.5",
        [MIN_LAMBDA - 1n, MIN_VOL, MAX_VOL, INITIAL_VOL],
        "LAMBDA",
        MIN_LAMBDA - 1n,
        MIN_LAMBDA,
        MAX_LAMBDA,
      ],
      [
        "lambda above 0.999",
        [MAX_LAMBDA + 1n, MIN_VOL, MAX_VOL, INITIAL_VOL],
        "LAMBDA",
        MAX_LAMBDA + 1n,
        MIN_LAMBDA,
        MAX_LAMBDA,
      ],
      [
        "minVol below 5%",
        [LAMBDA, VOL_FLOOR - 1n, MAX_VOL, INITIAL_VOL],
        "MIN_VOL",
        VOL_FLOOR - 1n,
        VOL_FLOOR,
        VOL_CEILING,
      ],
      [
        "minVol above 1000%",
        [LAMBDA, VOL_CEILING + 1n, VOL_CEILING + 1n, VOL_CEILING + 1n],
        "MIN_VOL",
        VOL_CEILING + 1n,
        VOL_FLOOR,
        VOL_CEILING,
      ],
      ["maxVol below minVol", [LAMBDA, MIN_VOL, MIN_VOL - 1n, MIN_VOL], "MAX_VOL", MIN_VOL - 1n, MIN_VOL, VOL_CEILING],
      [
        "maxVol above 1000%",
        [LAMBDA, MIN_VOL, VOL_CEILING + 1n, INITIAL_VOL],
        "MAX_VOL",
        VOL_CEILING + 1n,
        MIN_VOL,
        VOL_CEILING,
      ],
      [
        "initialVol below minVol",
        [LAMBDA, MIN_VOL, MAX_VOL, MIN_VOL - 1n],
        "INITIAL_VOL",
        MIN_VOL - 1n,
        MIN_VOL,
        MAX_VOL,
      ],
      [
        "initialVol above maxVol",
        [LAMBDA, MIN_VOL, MAX_VOL, MAX_VOL + 1n],
        "INITIAL_VOL",
        MAX_VOL + 1n,
        MIN_VOL,
        MAX_VOL,
      ],
    ];
    for (const [label, args, parameter, value, min, max] of outOfBounds) {
      it(`reverts with ParameterOutOfBounds(${parameter}) for ${label}`, async () => {
        const { volatility, asset } = await loadFixture(volatilityFixture);
        const [lambda, minVol, maxVol, initialVol] = args;
        await expect(volatility.configure(asset, lambda, minVol, maxVol, initialVol))
          .to.be.revertedWithCustomError(volatility, "ParameterOutOfBounds")
          .withArgs(name(parameter), value, min, max);
      });
    }

    it("accepts every parameter at its bounds", async () => {
      const { volatility, asset } = await loadFixture(volatilityFixture);
      await expect(volatility.configure(asset, MIN_LAMBDA, VOL_FLOOR, VOL_FLOOR, VOL_FLOOR))
        .to.emit(volatility, "VolatilityConfigured")
        .withArgs(asset, [0n, 0n, 0n], [MIN_LAMBDA, VOL_FLOOR, VOL_FLOOR], VOL_FLOOR);
      await expect(volatility.configure(asset, MAX_LAMBDA, VOL_CEILING, VOL_CEILING, VOL_CEILING))
        .to.emit(volatility, "VolatilityConfigured")
        .withArgs(asset, [MIN_LAMBDA, VOL_FLOOR, VOL_FLOOR], [MAX_LAMBDA, VOL_CEILING, VOL_CEILING], VOL_CEILING);
    });

    it("reverts with ZeroAddress for the zero asset", async () => {
      const { volatility } = await loadFixture(volatilityFixture);
      await expect(
        volatility.configure(ethers.ZeroAddress, LAMBDA, MIN_VOL, MAX_VOL, INITIAL_VOL),
      ).to.be.revertedWithCustomError(volatility, "ZeroAddress");
    });

    it("reverts with AccessControlUnauthorizedAccount for a caller without the admin role", async () => {
      const { volatility, asset, stranger } = await loadFixture(volatilityFixture);
      await expect(volatility.connect(stranger).configure(asset, LAMBDA, MIN_VOL, MAX_VOL, INITIAL_VOL))
        .to.be.revertedWithCustomError(volatility, "AccessControlUnauthorizedAccount")
        .withArgs(stranger.address, ADMIN_ROLE);
    });

    it("keeps the running estimate when reconfigured, and folds the next round with the new lambda", async () => {
      const f = await configured();
      const t0 = (await time.latest()) + HOUR;
      await pushAndUpdate(f, usd("3000"), t0);
      await pushAndUpdate(f, usd("3150"), t0 + HOUR);
      const before = [...(await f.volatility.rawVolatility(f.asset))];
      const variance = await storedVariance(f.volatility, f.asset);
      const lambda = wad("0.9");
      const [minVol, maxVol, initialVol] = [wad("0.1"), wad("3"), wad("2.5")];
      await expect(f.volatility.configure(f.asset, lambda, minVol, maxVol, initialVol))
        .to.emit(f.volatility, "VolatilityConfigured")
        .withArgs(f.asset, [LAMBDA, MIN_VOL, MAX_VOL], [lambda, minVol, maxVol], initialVol);
      // initialVol only seeds a first configuration: the estimate is untouched.
      expect([...(await f.volatility.rawVolatility(f.asset))]).to.deep.equal(before);
      expect(await storedVariance(f.volatility, f.asset)).to.equal(variance);

      const { events } = await pushAndUpdate(f, usd("3000"), t0 + 2 * HOUR);
      const logReturn: bigint = events[0]!.args.logReturn;
      expect([...(await f.volatility.rawVolatility(f.asset))]).to.deep.equal([
        sqrtWad(varianceStep(variance, lambda, logReturn, BigInt(HOUR))),
        wad("3000"),
        BigInt(t0 + 2 * HOUR),
      ]);
    });
  });

  describe("update", () => {
    it("reverts with VolatilityNotConfigured for update and volatility on an unconfigured asset", async () => {
      const f = await loadFixture(volatilityFixture);
      await f.feed.push(usd("3000"));
      await expect(f.volatility.update(f.asset))
        .to.be.revertedWithCustomError(f.volatility, "VolatilityNotConfigured")
        .withArgs(f.asset);
      await expect(f.volatility.volatility(f.asset))
        .to.be.revertedWithCustomError(f.volatility, "VolatilityNotConfigured")
        .withArgs(f.asset);
    });

    it("records the price of the first round without emitting VolatilityUpdated, keeping the initial volatility", async () => {
      const f = await configured();
      await f.feed.push(usd("3000"));
      const pushedAt = await time.latest();
      await expect(f.volatility.update(f.asset)).to.not.emit(f.volatility, "VolatilityUpdated");
      expect([...(await f.volatility.rawVolatility(f.asset))]).to.deep.equal([
        INITIAL_VOL,
        wad("3000"),
        BigInt(pushedAt),
      ]);
      expect(await f.volatility.volatility(f.asset)).to.equal(INITIAL_VOL);
      expect(await storedVariance(f.volatility, f.asset)).to.equal((INITIAL_VOL * INITIAL_VOL) / WAD);
    });

    it("reverts with NoNewRound when the feed has no round after the last one folded in", async () => {
      const f = await configured();
      await pushAndUpdate(f, usd("3000"));
      await expect(f.volatility.update(f.asset))
        .to.be.revertedWithCustomError(f.volatility, "NoNewRound")
        .withArgs(f.asset, 1n);
    });

    it("reverts with NoNewRound for a new round id carrying the same update time (rounds are recognised by time)", async () => {
      const f = await configured();
      const { pushedAt } = await pushAndUpdate(f, usd("3000"));
      await f.feed.pushAt(usd("3100"), pushedAt);
      await expect(f.volatility.update(f.asset))
        .to.be.revertedWithCustomError(f.volatility, "NoNewRound")
        .withArgs(f.asset, 2n);
    });

    for (const [move, price] of [
      ["rise", "3300"],
      ["fall", "2700"],
    ] as const) {
      it(`emits VolatilityUpdated with the exact round, price and elapsed time, and ln(p/p0), for a 10% ${move} over one hour`, async () => {
        const f = await configured();
        const t0 = (await time.latest()) + HOUR;
        await pushAndUpdate(f, usd("3000"), t0);
        await time.setNextBlockTimestamp(t0 + HOUR);
        await f.feed.push(usd(price));
        const tx = await f.volatility.update(f.asset);
        await expect(tx)
          .to.emit(f.volatility, "VolatilityUpdated")
          .withArgs(f.asset, 2n, wad(price), anyValue, BigInt(HOUR), anyValue);
        const { events } = await updatedEvents(f.volatility, tx);
        const { logReturn, volatility } = events[0]!.args;
        // ln(1.1) / ln(0.9) to the wei (40-digit series, rounded): solady's lnWad is within 1 wei.
        const exact = lnWadRef(usd(price), usd("3000"));
        expect(logReturn - exact).to.be.within(-1n, 1n);
        const ratio = price === "3300" ? 1.1 : 0.9;
        expect(relativeError(toNumber(logReturn), Math.log(ratio))).to.be.at.most(1e-12);
        // Given the emitted log return, the volatility is the contract's integer step, exactly.
        const seeded = (INITIAL_VOL * INITIAL_VOL) / WAD;
        expect(volatility).to.equal(sqrtWad(varianceStep(seeded, LAMBDA, logReturn, BigInt(HOUR))));
        const reference = Math.sqrt(0.94 * 0.36 + 0.06 * Math.log(ratio) ** 2 * 8760);
        expect(relativeError(toNumber(volatility), reference)).to.be.at.most(1e-12);
        expect(await f.volatility.volatility(f.asset)).to.equal(volatility);
        console.log(
          `      10% ${move}: logReturn ${logReturn} (40-digit ln ${exact}), volatility ${ethers.formatUnits(volatility, 18)} (reference ${reference})`,
        );
      });
    }

    it("publishes minVol while the raw estimate is below it", async () => {
      const f = await loadFixture(volatilityFixture);
      await f.volatility.configure(f.asset, LAMBDA, MIN_VOL, MAX_VOL, MIN_VOL);
      const t0 = (await time.latest()) + HOUR;
      await pushAndUpdate(f, usd("3000"), t0);
      const { events } = await pushAndUpdate(f, usd("3000"), t0 + HOUR);
      // A zero return: var = 0.94 * 0.2^2, vol = sqrt(0.0376) = 19.39%.
      const raw = sqrtWad((LAMBDA * ((MIN_VOL * MIN_VOL) / WAD)) / WAD);
      expect(events[0]!.args.logReturn).to.equal(0n);
      expect(events[0]!.args.volatility).to.equal(raw);
      expect((await f.volatility.rawVolatility(f.asset))[0]).to.equal(raw);
      expect(raw).to.be.lessThan(MIN_VOL);
      expect(await f.volatility.volatility(f.asset)).to.equal(MIN_VOL);
    });

    it("publishes maxVol while the raw estimate is above it", async () => {
      const f = await configured();
      const t0 = (await time.latest()) + HOUR;
      await pushAndUpdate(f, usd("3000"), t0);
      const { events } = await pushAndUpdate(f, usd("4500"), t0 + 60); // +50% in one minute
      const { logReturn, volatility } = events[0]!.args;
      const raw = sqrtWad(varianceStep((INITIAL_VOL * INITIAL_VOL) / WAD, LAMBDA, logReturn, 60n));
      expect(volatility).to.equal(raw);
      expect((await f.volatility.rawVolatility(f.asset))[0]).to.equal(raw);
      expect(raw).to.be.greaterThan(MAX_VOL);
      expect(await f.volatility.volatility(f.asset)).to.equal(MAX_VOL);
    });

    it("caps the variance at the uint96 maximum instead of overflowing", async () => {
      // The largest move the router accepts: an 18-decimal feed from 1 wei to int128 max in one second.
      const f = await loadFixture(volatilityFixture);
      const feed18 = await ethers.deployContract("MockAggregator", [18, "extreme (mock)"]);
      const top = 2n ** 127n - 1n;
      await f.priceOracle.setChainlink(f.asset, feed18, HEARTBEAT, TOLERANCE, 18, 1n, top);
      await f.volatility.configure(f.asset, MIN_LAMBDA, MIN_VOL, MAX_VOL, MAX_VOL);
      const t0 = (await time.latest()) + HOUR;
      await time.setNextBlockTimestamp(t0);
      await feed18.push(2n);
      await f.volatility.update(f.asset);
      // Answered one second after the first round (the update of which took that second's block).
      await feed18.pushAt(top - 1n, t0 + 1);
      const tx = await f.volatility.update(f.asset);
      const { events } = await updatedEvents(f.volatility, tx);
      const { logReturn, volatility } = events[0]!.args;
      const uncapped = varianceStep((MAX_VOL * MAX_VOL) / WAD, MIN_LAMBDA, logReturn, 1n);
      const cap = 2n ** 96n - 1n;
      expect(uncapped).to.be.greaterThan(cap);
      expect(volatility).to.equal(sqrtWad(cap));
      expect(await storedVariance(f.volatility, f.asset)).to.equal(cap);
      expect(await f.volatility.volatility(f.asset)).to.equal(MAX_VOL);
    });

    it("refuses to update with the price oracle's ChainlinkCallFailed when the feed's decimals() reverts or answers fewer than 32 bytes", async () => {
      const f = await configured();
      const feed = await f.feed.getAddress();
      const now = BigInt(await time.latest());
      // Control: the same raw feed with a 32-byte decimals() of 8 is read.
      await setCode(feed, rawFeed(usd("3000"), now, { returns: words(8n) }));
      expect([...(await f.priceOracle.chainlinkPrice(f.asset))]).to.deep.equal([wad("3000"), 1n, now]);
      const failed = f.priceOracle.interface.encodeErrorResult("ChainlinkCallFailed", [feed]);
      for (const decimals of [
        { reverts: "0x" },
        { reverts: words(8n) },
        { returns: "0x" },
        { returns: words(8n).slice(0, -2) }, // 31 bytes
      ]) {
        await setCode(feed, rawFeed(usd("3000"), now, decimals));
        await expect(f.priceOracle.chainlinkPrice(f.asset))
          .to.be.revertedWithCustomError(f.priceOracle, "ChainlinkCallFailed")
          .withArgs(feed);
        await expect(f.volatility.update(f.asset))
          .to.be.revertedWithCustomError(f.priceOracle, "ChainlinkCallFailed")
          .withArgs(feed);
        expect((await f.priceOracle.sourceErrors(f.asset)).chainlinkError).to.equal(failed);
        // No TWAP configured: with Chainlink refused there is no usable source.
        expect([...(await f.priceOracle.getPrice(f.asset))]).to.deep.equal([0n, 0n, 0n, 2n]);
      }
    });

    it("refuses to update with ChainlinkDecimalsMismatch(feed, 255, 8) when the feed's decimals() answers a value above 255", async () => {
      const f = await configured();
      const feed = await f.feed.getAddress();
      const now = BigInt(await time.latest());
      for (const [answered, reported] of [
        [9n, 9n],
        [255n, 255n],
        [256n, 255n],
        [2n ** 256n - 1n, 255n],
      ]) {
        await setCode(feed, rawFeed(usd("3000"), now, { returns: words(answered) }));
        await expect(f.priceOracle.chainlinkPrice(f.asset))
          .to.be.revertedWithCustomError(f.priceOracle, "ChainlinkDecimalsMismatch")
          .withArgs(feed, reported, FEED_DECIMALS);
        await expect(f.volatility.update(f.asset))
          .to.be.revertedWithCustomError(f.priceOracle, "ChainlinkDecimalsMismatch")
          .withArgs(feed, reported, FEED_DECIMALS);
      }
    });

    it("folds a fall of more than 1e18x with the ratio floored at one wei: logReturn lnWad(1), a finite estimate, and later rounds still update", async () => {
      // The fixture's band (1, 1e28) with 8 decimals admits $1e19 and $2e-8 alike.
      const f = await configured();
      const [high, low] = [10n ** 27n, 2n];
      expect(MIN_ANSWER < low && high < MAX_ANSWER).to.equal(true);
      const [highWad, lowWad] = [high * 10n ** 10n, low * 10n ** 10n];
      // divWad(low, high) = floor(2e10 * 1e18 / 1e37) = 0: ln would be undefined.
      expect((lowWad * WAD) / highWad).to.equal(0n);
      const t0 = (await time.latest()) + HOUR;
      await pushAndUpdate(f, high, t0);
      const { events } = await pushAndUpdate(f, low, t0 + HOUR);
      expect(events).to.have.length(1);
      const { roundId, price, logReturn, elapsed, volatility } = events[0]!.args;
      expect([roundId, price, elapsed]).to.deep.equal([2n, lowWad, BigInt(HOUR)]);
      // ln(1e-18) = -18 ln 10 = -41.446531673892822312.3...; solady's lnWad floors it (the value of
      // lnWad(1), checked against a bigint port of solady 0.1.26's lnWad).
      const exact = -18n * LN10_40; // 40 decimals
      expect(logReturn).to.equal(-41446531673892822313n);
      expect(logReturn * 10n ** 22n <= exact && exact < (logReturn + 1n) * 10n ** 22n).to.equal(true);
      // The contract's integer step from the seed, under the uint96 cap (which it would saturate at).
      const step = varianceStep((INITIAL_VOL * INITIAL_VOL) / WAD, LAMBDA, logReturn, BigInt(HOUR));
      const cap = 2n ** 96n - 1n;
      expect(step).to.be.at.most(cap);
      expect(volatility).to.equal(sqrtWad(step));
      expect(await storedVariance(f.volatility, f.asset)).to.equal(step);
      expect([...(await f.volatility.rawVolatility(f.asset))]).to.deep.equal([
        sqrtWad(step),
        lowWad,
        BigInt(t0 + HOUR),
      ]);
      expect(await f.volatility.volatility(f.asset)).to.equal(MAX_VOL);
      // The estimate is not stuck: the next round (unchanged price) folds in.
      const next = await pushAndUpdate(f, low, t0 + 2 * HOUR);
      expect(next.events[0]!.args.logReturn).to.equal(0n);
      expect(await storedVariance(f.volatility, f.asset)).to.equal((LAMBDA * step) / WAD);
    });
  });

  describe("recorded price paths (hourly Chainlink-style rounds, lambda 0.94, clamp [20%, 500%], initial 60%)", () => {
    it("estimates the calm week of 2023-07-01 low, matching the double-precision recursion at every round", async () => {
      const f = await configured();
      const rows = readRows("eth-usd-2023-07-01-1h.csv");
      expect(rows).to.have.length(169);
      const steps = await replay(f, rows);
      const reference = referencePath(rows, toNumber(INITIAL_VOL));
      const { worstVol, worstReturn } = checkAgainstReference(rows, steps, reference);

      const final = toNumber(steps[steps.length - 1].volatility);
      // Once the 60% seed has decayed (48 rounds: 0.94^48 = 5%), the estimate stays under 60%.
      const settled = steps.slice(48).map((s) => toNumber(s.volatility));
      const returns = reference.map((r) => r.logReturn);
      const realized = Math.sqrt((returns.reduce((a, r) => a + r * r, 0) / returns.length) * 8760);
      console.log(
        `      calm week: final estimate ${pct(final)} at ${iso(rows[rows.length - 1].timestamp)}, ` +
          `range after 48 h ${pct(Math.min(...settled))}..${pct(Math.max(...settled))}, ` +
          `realized (RMS hourly return, annualized) ${pct(realized)}; ` +
          `worst relative error: volatility ${worstVol.toExponential(2)}, log return ${worstReturn.toExponential(2)}`,
      );
      expect(final).to.be.within(0.2, 0.4);
      expect(Math.max(...settled)).to.be.lessThan(0.6);
      expect(await f.volatility.volatility(f.asset)).to.equal(steps[steps.length - 1].volatility);
    });

    it("raises the estimate in the round of Black Thursday's first 10% hourly move, clamps it at maxVol and lets it decay as the market calms", async () => {
      const f = await configured();
      const rows = readRows("eth-usd-2020-03-12-bitfinex-1h.csv");
      expect(rows).to.have.length(121);
      const steps = await replay(f, rows);
      const reference = referencePath(rows, toNumber(INITIAL_VOL));
      const { worstVol, worstReturn } = checkAgainstReference(rows, steps, reference);
      const vols = steps.map((s) => toNumber(s.volatility));
      // steps[i] is the round of rows[i + 1].
      const at = (i: number) => `${iso(rows[i + 1].timestamp)} (round ${i + 1})`;

      const first = reference.findIndex((r) => Math.abs(r.logReturn) >= 0.1);
      expect(iso(rows[first + 1].timestamp)).to.equal("2020-03-12 11:00");
      const before = Math.max(...vols.slice(0, first));
      expect(before).to.be.lessThan(2);
      expect(vols[first]).to.be.at.least(3 * vols[first - 1]);

      const peak = vols.indexOf(Math.max(...vols));
      expect(vols[peak]).to.be.greaterThan(toNumber(MAX_VOL));
      // What consumers read at the peak is the clamp, to the wei.
      expect(await f.volatility.volatility(f.asset, { blockTag: steps[peak].blockNumber })).to.equal(MAX_VOL);

      const half = vols.findIndex((v, i) => i > peak && v < vols[peak] / 2);
      const calmEnd = rows.findIndex((r) => iso(r.timestamp) === "2020-03-15 18:00") - 1;
      expect(half).to.be.greaterThan(peak);
      expect(half).to.be.lessThan(calmEnd);
      expect(vols[calmEnd]).to.be.lessThan(vols[peak] / 4);
      console.log(
        `      Black Thursday: first |hourly return| >= 10% at ${at(first)}: ${pct(reference[first].logReturn)}; ` +
          `estimate ${pct(vols[first - 1])} -> ${pct(vols[first])} (max before: ${pct(before)})\n` +
          `      peak ${pct(vols[peak])} at ${at(peak)} (published: ${pct(toNumber(MAX_VOL))}); ` +
          `below half the peak at ${at(half)}: ${pct(vols[half])}; at ${at(calmEnd)}: ${pct(vols[calmEnd])}; ` +
          `final ${pct(vols[vols.length - 1])}\n` +
          `      worst relative error: volatility ${worstVol.toExponential(2)}, log return ${worstReturn.toExponential(2)}`,
      );
    });

    it("halves the variance after the crash in ln 2 / -ln 0.94 = 11.2 hourly rounds of an unchanged price", async () => {
      const f = await configured();
      const rows = readRows("eth-usd-2020-03-12-bitfinex-1h.csv");
      await replay(f, rows);
      const [, , lastAt] = await f.volatility.rawVolatility(f.asset);
      const last = rows[rows.length - 1].answer;
      const variance0 = await storedVariance(f.volatility, f.asset);
      const halfLife = Math.log(2) / -Math.log(0.94);
      expect(halfLife).to.be.closeTo(11.2, 0.01);

      let variance = variance0;
      const variances = [variance0];
      for (let k = 1; k <= 12; k++) {
        const { events } = await pushAndUpdate(f, last, Number(lastAt) + k * HOUR);
        const { logReturn, elapsed, volatility } = events[0]!.args;
        expect([logReturn, elapsed]).to.deep.equal([0n, BigInt(HOUR)]);
        // A zero sample: var_k = floor(lambda * var_{k-1}), exactly.
        variance = (LAMBDA * variance) / WAD;
        expect(volatility).to.equal(sqrtWad(variance));
        expect(await storedVariance(f.volatility, f.asset)).to.equal(variance);
        expect(relativeError(Number(variance), Number(variance0) * 0.94 ** k)).to.be.at.most(1e-12);
        variances.push(variance);
      }
      // The half point lies between rounds 11 and 12, as 11.2 says.
      expect(2n * variances[11]).to.be.greaterThan(variance0);
      expect(2n * variances[12]).to.be.lessThan(variance0);
      console.log(
        `      half-life ${halfLife.toFixed(3)} rounds; variance ${ethers.formatUnits(variance0, 18)} -> ` +
          `${ethers.formatUnits(variances[11], 18)} (x${(Number(variances[11]) / Number(variance0)).toFixed(4)}) after 11, ` +
          `${ethers.formatUnits(variances[12], 18)} (x${(Number(variances[12]) / Number(variance0)).toFixed(4)}) after 12; ` +
          `volatility ${pct(toNumber(sqrtWad(variance0)))} -> ${pct(toNumber(sqrtWad(variances[12])))}`,
      );
    });
  });
});
