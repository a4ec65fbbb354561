import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { RiskConfig } from "../typechain-types";
import { deployGovernedKeel } from "../scripts/lib/deployment";
import { PARAMS, paramIndex } from "../scripts/lib/params";
import { networkConfig } from "../config/networks";
import { timelockSigner } from "./helpers/governance";

// Every expected value below is written from RiskParams.sol, RiskConfig.sol and config/networks.ts
// (the local deployment), never read back from the contract under test: a changed bound, step or
// rule must fail here.

const wad = (value: string): bigint => ethers.parseUnits(value, 18);
const WAD = 10n ** 18n;
const MINUTE = 60n;
const HOUR = 3600n;
const DAY = 24n * HOUR;
const MAX_SIZE = 10n ** 30n;
const MAX_USD = 10n ** 30n;
const MAX_MARKET_ID = 2n ** 32n - 1n;
const MAX_ADDRESS = 2n ** 160n - 1n;

/** A market id of the local deployment that has no parameter set, so no cross rule has a partner. */
const FREE_MARKET = 7n;
/** Market 1 of the local deployment (config/networks.ts): OI caps 20,000, position 2,000, fees 2 / 6 bp. */
const MARKET = 1n;

const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;
const RISK_KEEPER_ROLE = ethers.id("RISK_KEEPER_ROLE");
const GUARDIAN_ROLE = ethers.id("GUARDIAN_ROLE");
const REVOKER_ROLE = ethers.id("REVOKER_ROLE");
const PAUSER_ROLE = ethers.id("PAUSER_ROLE");
const DRAWER_ROLE = ethers.id("DRAWER_ROLE");

/** IRiskConfig.Feature */
const OPEN_POSITION = 0;
const LIST_SERIES = 1;
const DEPOSIT = 2;

/** RiskParams.Param in enum order, with its hard bounds as written in RiskParams.bounds. */
const EXPECTED_BOUNDS: readonly (readonly [string, bigint, bigint])[] = [
  ["MM_FLOOR", wad("0.005"), wad("0.25")],
  ["MM_SIZE_FACTOR", 0n, wad("0.5")],
  ["MM_VOL_MULTIPLIER", wad("1"), wad("10")],
  ["LIQUIDATION_HORIZON", HOUR, 7n * DAY],
  ["IM_MULTIPLIER", wad("1.1"), wad("5")],
  ["MAKER_FEE", 0n, wad("0.005")],
  ["TAKER_FEE", 0n, wad("0.01")],
  ["FEE_INSURANCE_SHARE", 0n, WAD],
  ["SKEW_SCALE", WAD, MAX_SIZE],
  ["MAX_FUNDING_VELOCITY", 0n, wad("10")],
  ["MAX_FUNDING_RATE", wad("0.001"), WAD],
  ["MAX_OI_LONG", 0n, MAX_SIZE],
  ["MAX_OI_SHORT", 0n, MAX_SIZE],
  ["MAX_POSITION_SIZE", 0n, MAX_SIZE],
  ["IMPLIED_VOL", wad("0.05"), wad("10")],
  ["IV_FLOOR_FACTOR", wad("0.5"), wad("2")],
  ["OPTION_SPREAD_BASE", 0n, wad("0.1")],
  ["OPTION_SPREAD_SLOPE", 0n, WAD],
  ["STRIKE_BAND", wad("0.05"), WAD],
  ["EXPIRY_GRID", HOUR, 7n * DAY],
  ["MAX_EXPIRY", DAY, 730n * DAY],
  ["MAX_LIVE_SERIES", 1n, 200n],
  ["MAX_SERIES_OI", 0n, MAX_SIZE],
  ["MAX_NET_DELTA", 0n, MAX_SIZE],
  ["MAX_NET_VEGA", 0n, MAX_USD],
  ["LONG_OPTION_HAIRCUT", 0n, WAD],
  ["SHORT_OPTION_MM_SPOT", wad("0.01"), wad("0.5")],
  ["SHORT_OPTION_MM_FLOOR", wad("0.001"), wad("0.25")],
  ["MAX_OPTIONS_PER_ACCOUNT", 1n, 16n],
  ["LIQUIDATION_FEE", 0n, wad("0.2")],
  ["AUCTION_START_DISCOUNT", 0n, wad("0.1")],
  ["AUCTION_FAST_DISCOUNT", 0n, wad("0.3")],
  ["AUCTION_DISCOUNT_CAP", wad("0.01"), wad("0.5")],
  ["AUCTION_FAST_DURATION", 10n, HOUR],
  ["AUCTION_SLOW_DURATION", MINUTE, DAY],
  ["AUCTION_STALL_TIMEOUT", MINUTE, DAY],
  ["BUFFER_MARGIN", 0n, WAD],
  ["DUST_THRESHOLD", 0n, wad("10000")],
  ["INSOLVENT_PAYOUT_CAP", 0n, MAX_USD],
  ["INSOLVENT_RAMP", MINUTE, DAY],
  ["THROUGHPUT_CAP", WAD, MAX_USD],
  ["THROUGHPUT_WINDOW", MINUTE, DAY],
  ["INSURANCE_FLOOR", 0n, MAX_USD],
  ["OPTION_IM_MULTIPLIER", wad("1.1"), wad("5")],
  ["VOL_SHOCK_UP", wad("0.05"), wad("3")],
  ["VOL_SHOCK_DOWN", wad("0.05"), wad("0.9")],
];

/**
 * RiskParams.scopeOf: market params up to MAX_POSITION_SIZE (13), underlying up to
 * MAX_OPTIONS_PER_ACCOUNT (28) and the options ones appended after INSURANCE_FLOOR (42), global between.
 */
const expectedScope = (index: number) => (index <= 13 ? "market" : index <= 28 || index > 42 ? "underlying" : "global");

const MM_FLOOR = paramIndex("MM_FLOOR");
const MAKER_FEE = paramIndex("MAKER_FEE");
const TAKER_FEE = paramIndex("TAKER_FEE");
const MAX_OI_LONG = paramIndex("MAX_OI_LONG");
const MAX_OI_SHORT = paramIndex("MAX_OI_SHORT");
const MAX_POSITION_SIZE = paramIndex("MAX_POSITION_SIZE");
const IMPLIED_VOL = paramIndex("IMPLIED_VOL");
const IV_FLOOR_FACTOR = paramIndex("IV_FLOOR_FACTOR");
const OPTION_SPREAD_BASE = paramIndex("OPTION_SPREAD_BASE");
const MAX_SERIES_OI = paramIndex("MAX_SERIES_OI");
const LIQUIDATION_FEE = paramIndex("LIQUIDATION_FEE");
const AUCTION_START_DISCOUNT = paramIndex("AUCTION_START_DISCOUNT");
const AUCTION_FAST_DISCOUNT = paramIndex("AUCTION_FAST_DISCOUNT");
const AUCTION_DISCOUNT_CAP = paramIndex("AUCTION_DISCOUNT_CAP");

const GOVERNANCE = networkConfig("hardhat").governance;

/** The value the local deployment sets for `name` (scope: market id, collateral symbol, or none). */
function configured(name: string, scope?: number | string): bigint {
  const setting = GOVERNANCE.params.find((s) => s.param === name && s.scope === scope);
  if (setting === undefined) throw new Error(`no configured ${name} for ${String(scope)}`);
  return setting.value;
}

// Values of the local deployment the tests below start from.
const OI_MARKET_1 = wad("20000");
const POSITION_MARKET_1 = wad("2000");
const MAKER_FEE_MARKET_1 = wad("0.0002");
const TAKER_FEE_MARKET_1 = wad("0.0006");
const IV_WETH = wad("0.7");
const IV_FLOOR_FACTOR_WETH = wad("0.8");
const WETH_VOLATILITY = wad("0.6"); // VolatilityOracle seed (initialVol), inside its [0.2, 5] clamp
const AUCTION_START = wad("0.01");
const AUCTION_FAST = wad("0.05");
const AUCTION_CAP = wad("0.15");
// Keeper limits of MAX_OI_LONG / MAX_OI_SHORT on market 1 and of IMPLIED_VOL on WETH.
const OI_LIMITS = [0n, wad("40000"), wad("0.1"), wad("0.5"), DAY] as const;
const IV_LIMITS = [wad("0.2"), wad("3"), wad("0.05"), wad("0.25"), HOUR] as const;

/** solady mulWad (down) and mulWadUp. */
const mulWad = (x: bigint, y: bigint) => (x * y) / WAD;
const mulWadUp = (x: bigint, y: bigint) => (x * y + WAD - 1n) / WAD;

interface Limits {
  bandMin: bigint;
  bandMax: bigint;
  loosenStep: bigint;
  tightenStep: bigint;
  window: bigint;
}

const limits = (bandMin: bigint, bandMax: bigint, loosenStep: bigint, tightenStep: bigint, window: bigint): Limits => ({
  bandMin,
  bandMax,
  loosenStep,
  tightenStep,
  window,
});

const asArray = (l: Limits) => [l.bandMin, l.bandMax, l.loosenStep, l.tightenStep, l.window];

async function storedLimits(riskConfig: RiskConfig, param: number, scope: bigint): Promise<bigint[]> {
  const l = await riskConfig.keeperLimits(param, scope);
  return [l.bandMin, l.bandMax, l.loosenStep, l.tightenStep, l.window];
}

async function anchorOf(riskConfig: RiskConfig, param: number, scope: bigint): Promise<[bigint, bigint]> {
  const [value, since] = await riskConfig.keeperAnchor(param, scope);
  return [value, since];
}

// States are built on top of the one cached deployment in each test rather than cached
// themselves: hardhat-deploy reverts to its own snapshot whenever a fixture deploys, which would
// invalidate the snapshots of any other loadFixture in the file.

/**
 * deployGovernedKeel under this file's own loadFixture entry. loadFixture caches one snapshot per
 * function for the whole mocha run, and the hardhat-deploy fixtures of the files that run after
 * this one revert past it: a snapshot cached here under deployGovernedKeel itself would be handed,
 * invalid, to the next file that loads deployGovernedKeel (FixtureSnapshotError).
 */
async function shippedDeployment() {
  return deployGovernedKeel();
}

/** The deployment as it ships, with the timelock impersonated for calls that passed governance. */
async function governed() {
  const f = await loadFixture(shippedDeployment);
  const signers = await ethers.getSigners();
  const governance = await timelockSigner(f.timelock);
  return {
    ...f,
    governance,
    deployer: signers[0], // the revoker
    alice: signers[1],
    stranger: signers[5],
    guardian: signers[8],
    keeper: signers[9],
    WETH: BigInt(await f.weth.getAddress()),
    USDC: BigInt(await f.usdc.getAddress()),
  };
}

type Governed = Awaited<ReturnType<typeof governed>>;

/** Governance sets MAX_OI_LONG of market 1, which opens a fresh keeper window; returns its start. */
async function freshOiWindow(f: Governed, value: bigint): Promise<bigint> {
  await f.riskConfig.connect(f.governance).setParameter(MAX_OI_LONG, MARKET, value);
  return BigInt(await time.latest());
}

/** A valid scope of each kind: an unused market id, WETH (every option parameter set), 0. */
function scopeOf(f: Governed, kind: string): bigint {
  if (kind === "market") return FREE_MARKET;
  if (kind === "underlying") return f.WETH;
  return 0n;
}

/** What that scope held before the test: nothing on the free market, the configured value elsewhere. */
function valueBefore(name: string, kind: string): bigint {
  if (kind === "market") return 0n;
  return configured(name, kind === "underlying" ? "WETH" : undefined);
}

/**
 * Moves the partners of a cross rule out of the way so that both hard bounds of `name` are legal.
 * The market parameters use a market with nothing set and need nothing.
 */
async function makeRoomForBounds(f: Governed, name: string): Promise<void> {
  const risk = f.riskConfig.connect(f.governance);
  if (name === "IMPLIED_VOL") {
    // The floor is volatility(WETH) * IV_FLOOR_FACTOR: clamp WETH's realized vol to 0.1 and the
    // factor to its minimum 0.5, so the floor is exactly the hard minimum 0.05.
    await f.volatility.connect(f.governance).configure(f.weth, wad("0.94"), wad("0.05"), wad("0.1"), wad("0.1"));
    expect(await f.volatility.volatility(f.weth)).to.equal(wad("0.1"));
    await risk.setParameter(IV_FLOOR_FACTOR, f.WETH, wad("0.5"));
  } else if (name === "IV_FLOOR_FACTOR") {
    // The maximum factor 2 puts WETH's floor at 0.6 * 2 = 1.2: implied vol must be there first.
    await risk.setParameter(IMPLIED_VOL, f.WETH, wad("1.2"));
  } else if (name === "AUCTION_START_DISCOUNT") {
    // start <= fast and start < cap: the maximum 0.1 needs fast >= 0.1 (cap is 0.15).
    await risk.setParameter(AUCTION_FAST_DISCOUNT, 0, wad("0.1"));
  } else if (name === "AUCTION_FAST_DISCOUNT") {
    // start <= fast <= cap: the minimum 0 needs start 0, the maximum 0.3 needs cap >= 0.3.
    await risk.setParameter(AUCTION_START_DISCOUNT, 0, 0);
    await risk.setParameter(AUCTION_DISCOUNT_CAP, 0, wad("0.3"));
  } else if (name === "AUCTION_DISCOUNT_CAP") {
    // fast <= cap and start < cap: the minimum 0.01 needs fast <= 0.01 and start < 0.01.
    await risk.setParameter(AUCTION_START_DISCOUNT, 0, 0);
    await risk.setParameter(AUCTION_FAST_DISCOUNT, 0, wad("0.01"));
  }
}

describe("RiskConfig", () => {
  describe("construction", () => {
    it("reverts when any constructor address is zero", async () => {
      const { deployer, volatility, accounts, timelock } = await governed();
      const factory = await ethers.getContractFactory("RiskConfig");
      const zero = ethers.ZeroAddress;
      const args = [await timelock.getAddress(), deployer.address, volatility, accounts] as const;
      await expect(factory.deploy(zero, args[1], args[2], args[3])).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
      await expect(factory.deploy(args[0], zero, args[2], args[3])).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
      await expect(factory.deploy(args[0], args[1], zero, args[3])).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
      await expect(factory.deploy(args[0], args[1], args[2], zero)).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
    });

    it("makes governance the admin and the revoker the revoker, and nobody else anything", async () => {
      const { deployer, stranger, volatility, accounts, timelock } = await governed();
      const factory = await ethers.getContractFactory("RiskConfig");
      const fresh = await factory.deploy(timelock, stranger.address, volatility, accounts);
      expect(await fresh.hasRole(DEFAULT_ADMIN_ROLE, await timelock.getAddress())).to.equal(true);
      expect(await fresh.hasRole(REVOKER_ROLE, stranger.address)).to.equal(true);
      expect(await fresh.hasRole(DEFAULT_ADMIN_ROLE, deployer.address)).to.equal(false);
      expect(await fresh.hasRole(REVOKER_ROLE, deployer.address)).to.equal(false);
      expect(await fresh.volatilityOracle()).to.equal(await volatility.getAddress());
      expect(await fresh.marginAccounts()).to.equal(await accounts.getAddress());
    });
  });

  describe("hard bounds", () => {
    it("lists every parameter of RiskParams in enum order with its scope, and no more", async () => {
      const { riskConfig } = await governed();
      expect(PARAMS.map((p) => p.name)).to.deep.equal(EXPECTED_BOUNDS.map(([name]) => name));
      expect(PARAMS.map((p) => p.scope)).to.deep.equal(PARAMS.map((_, i) => expectedScope(i)));
      // One past the last enum value is not a parameter: the ABI decoder refuses it.
      await expect(riskConfig.bounds(PARAMS.length)).to.be.revertedWithoutReason();
    });

    it("reports the hard bounds written in RiskParams for every parameter", async () => {
      const { riskConfig } = await governed();
      for (let i = 0; i < PARAMS.length; i++) {
        const [name, min, max] = EXPECTED_BOUNDS[i];
        const [actualMin, actualMax] = await riskConfig.bounds(i);
        expect([PARAMS[i].name, actualMin, actualMax]).to.deep.equal([name, min, max]);
      }
    });

    PARAMS.forEach(({ name, scope: kind }, param) => {
      const [, min, max] = EXPECTED_BOUNDS[param];

      it(`refuses ${name} just outside [min, max] with ParameterOutOfBounds`, async () => {
        const f = await governed();
        const risk = f.riskConfig.connect(f.governance);
        const scope = scopeOf(f, kind);
        if (min > 0n) {
          await expect(risk.setParameter(param, scope, min - 1n))
            .to.be.revertedWithCustomError(risk, "ParameterOutOfBounds")
            .withArgs(param, min - 1n, min, max);
        }
        await expect(risk.setParameter(param, scope, max + 1n))
          .to.be.revertedWithCustomError(risk, "ParameterOutOfBounds")
          .withArgs(param, max + 1n, min, max);
        expect(await risk.tryGet(param, scope)).to.deep.equal([kind !== "market", valueBefore(name, kind)]);
      });

      it(`accepts ${name} at its min and its max, emitting ParameterSet`, async () => {
        const f = await governed();
        const risk = f.riskConfig.connect(f.governance);
        const scope = scopeOf(f, kind);
        await makeRoomForBounds(f, name);
        await expect(risk.setParameter(param, scope, min))
          .to.emit(risk, "ParameterSet")
          .withArgs(param, scope, valueBefore(name, kind), min, f.governance.address);
        expect(await risk.get(param, scope)).to.equal(min);
        await expect(risk.setParameter(param, scope, max))
          .to.emit(risk, "ParameterSet")
          .withArgs(param, scope, min, max, f.governance.address);
        expect(await risk.get(param, scope)).to.equal(max);
      });
    });
  });

  describe("scopes", () => {
    it("refuses a market parameter for scope 0 and for a scope above uint32", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(MM_FLOOR, 0, wad("0.01")))
        .to.be.revertedWithCustomError(risk, "InvalidScope")
        .withArgs(MM_FLOOR, 0);
      await expect(risk.setParameter(MM_FLOOR, MAX_MARKET_ID + 1n, wad("0.01")))
        .to.be.revertedWithCustomError(risk, "InvalidScope")
        .withArgs(MM_FLOOR, MAX_MARKET_ID + 1n);
    });

    it("accepts the largest market id", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(MM_FLOOR, MAX_MARKET_ID, wad("0.01")))
        .to.emit(risk, "ParameterSet")
        .withArgs(MM_FLOOR, MAX_MARKET_ID, 0n, wad("0.01"), f.governance.address);
      expect(await risk.get(MM_FLOOR, MAX_MARKET_ID)).to.equal(wad("0.01"));
    });

    it("refuses an underlying parameter for scope 0 and for a scope above uint160", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(OPTION_SPREAD_BASE, 0, wad("0.01")))
        .to.be.revertedWithCustomError(risk, "InvalidScope")
        .withArgs(OPTION_SPREAD_BASE, 0);
      await expect(risk.setParameter(OPTION_SPREAD_BASE, MAX_ADDRESS + 1n, wad("0.01")))
        .to.be.revertedWithCustomError(risk, "InvalidScope")
        .withArgs(OPTION_SPREAD_BASE, MAX_ADDRESS + 1n);
    });

    it("accepts the largest address as an underlying", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(OPTION_SPREAD_BASE, MAX_ADDRESS, wad("0.01")))
        .to.emit(risk, "ParameterSet")
        .withArgs(OPTION_SPREAD_BASE, MAX_ADDRESS, 0n, wad("0.01"), f.governance.address);
    });

    it("refuses a global parameter for any scope but 0", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(LIQUIDATION_FEE, 1, wad("0.02")))
        .to.be.revertedWithCustomError(risk, "InvalidScope")
        .withArgs(LIQUIDATION_FEE, 1);
    });

    it("refuses for every parameter a scope of the wrong kind", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      for (let param = 0; param < PARAMS.length; param++) {
        const [, min] = EXPECTED_BOUNDS[param];
        const kind = expectedScope(param);
        const wrong =
          kind === "market" ? [0n, MAX_MARKET_ID + 1n] : kind === "underlying" ? [0n, MAX_ADDRESS + 1n] : [1n];
        for (const scope of wrong) {
          await expect(risk.setParameter(param, scope, min))
            .to.be.revertedWithCustomError(risk, "InvalidScope")
            .withArgs(param, scope);
        }
      }
    });
  });

  describe("cross-parameter rules", () => {
    it("refuses a maker fee above the taker fee and accepts it equal", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(MAKER_FEE, MARKET, TAKER_FEE_MARKET_1 + 1n))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(MAKER_FEE, TAKER_FEE_MARKET_1 + 1n, TAKER_FEE, TAKER_FEE_MARKET_1);
      await expect(risk.setParameter(MAKER_FEE, MARKET, TAKER_FEE_MARKET_1))
        .to.emit(risk, "ParameterSet")
        .withArgs(MAKER_FEE, MARKET, MAKER_FEE_MARKET_1, TAKER_FEE_MARKET_1, f.governance.address);
    });

    it("refuses a taker fee below the maker fee and accepts it equal", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(TAKER_FEE, MARKET, MAKER_FEE_MARKET_1 - 1n))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(TAKER_FEE, MAKER_FEE_MARKET_1 - 1n, MAKER_FEE, MAKER_FEE_MARKET_1);
      await expect(risk.setParameter(TAKER_FEE, MARKET, MAKER_FEE_MARKET_1))
        .to.emit(risk, "ParameterSet")
        .withArgs(TAKER_FEE, MARKET, TAKER_FEE_MARKET_1, MAKER_FEE_MARKET_1, f.governance.address);
    });

    it("applies the fee rule only within one market", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      // Market 7 has no taker fee: nothing to compare with.
      await expect(risk.setParameter(MAKER_FEE, FREE_MARKET, wad("0.005"))).to.emit(risk, "ParameterSet");
      await expect(risk.setParameter(TAKER_FEE, FREE_MARKET, wad("0.005") - 1n))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(TAKER_FEE, wad("0.005") - 1n, MAKER_FEE, wad("0.005"));
    });

    it("refuses a position size above the long OI cap, and accepts it equal", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await risk.setParameter(MAX_OI_LONG, MARKET, wad("15000"));
      await expect(risk.setParameter(MAX_POSITION_SIZE, MARKET, wad("15000") + 1n))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(MAX_POSITION_SIZE, wad("15000") + 1n, MAX_OI_LONG, wad("15000"));
      await expect(risk.setParameter(MAX_POSITION_SIZE, MARKET, wad("15000")))
        .to.emit(risk, "ParameterSet")
        .withArgs(MAX_POSITION_SIZE, MARKET, POSITION_MARKET_1, wad("15000"), f.governance.address);
    });

    it("refuses a position size above the short OI cap, and accepts it equal", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await risk.setParameter(MAX_OI_SHORT, MARKET, wad("15000"));
      // The long cap (20,000) allows it; the short cap does not.
      await expect(risk.setParameter(MAX_POSITION_SIZE, MARKET, wad("15000") + 1n))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(MAX_POSITION_SIZE, wad("15000") + 1n, MAX_OI_SHORT, wad("15000"));
      await expect(risk.setParameter(MAX_POSITION_SIZE, MARKET, wad("15000")))
        .to.emit(risk, "ParameterSet")
        .withArgs(MAX_POSITION_SIZE, MARKET, POSITION_MARKET_1, wad("15000"), f.governance.address);
    });

    it("lets a long OI cap be tightened below the position size (the market applies the smaller), so an emergency cut is never blocked", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(MAX_OI_LONG, MARKET, POSITION_MARKET_1 - 1n))
        .to.emit(risk, "ParameterSet")
        .withArgs(MAX_OI_LONG, MARKET, OI_MARKET_1, POSITION_MARKET_1 - 1n, f.governance.address);
      expect(await risk.get(MAX_OI_LONG, MARKET)).to.equal(POSITION_MARKET_1 - 1n);
      // The rule binds the position size instead: it cannot be raised above the cap now.
      await expect(risk.setParameter(MAX_POSITION_SIZE, MARKET, POSITION_MARKET_1))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(MAX_POSITION_SIZE, POSITION_MARKET_1, MAX_OI_LONG, POSITION_MARKET_1 - 1n);
    });

    it("lets a short OI cap be tightened below the position size (the market applies the smaller), so an emergency cut is never blocked", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(MAX_OI_SHORT, MARKET, POSITION_MARKET_1 - 1n))
        .to.emit(risk, "ParameterSet")
        .withArgs(MAX_OI_SHORT, MARKET, OI_MARKET_1, POSITION_MARKET_1 - 1n, f.governance.address);
      expect(await risk.get(MAX_OI_SHORT, MARKET)).to.equal(POSITION_MARKET_1 - 1n);
      // The rule binds the position size instead: it cannot be raised above the cap now.
      await expect(risk.setParameter(MAX_POSITION_SIZE, MARKET, POSITION_MARKET_1))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(MAX_POSITION_SIZE, POSITION_MARKET_1, MAX_OI_SHORT, POSITION_MARKET_1 - 1n);
    });

    it("prices options at the configured implied vol, or at realized vol times the floor factor once that is higher", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      // Deployed: WETH realized vol 0.6, factor 0.8 (floor 0.48), implied vol 0.7.
      expect(await f.volatility.volatility(f.weth)).to.equal(wad("0.6"));
      expect(await risk.impliedVolatility(f.weth)).to.equal(wad("0.7"));
      // Realized vol rises to 1.0 (here through its clamp): the floor 0.8 is above 0.7 and wins.
      await f.volatility.connect(f.governance).configure(f.weth, wad("0.94"), wad("1"), wad("5"), wad("1"));
      expect(await f.volatility.volatility(f.weth)).to.equal(wad("1"));
      expect(await risk.get(IMPLIED_VOL, f.WETH)).to.equal(wad("0.7"));
      expect(await risk.impliedVolatility(f.weth)).to.equal(wad("0.8"));
    });

    it("refuses a floor factor that would leave the configured implied vol below its new floor", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      // 0.6 * 2 = 1.2 > 0.7.
      await expect(risk.setParameter(IV_FLOOR_FACTOR, f.WETH, wad("2")))
        .to.be.revertedWithCustomError(risk, "ImpliedVolBelowFloor")
        .withArgs(f.WETH, wad("0.7"), wad("1.2"));
      // 0.7 / 0.6 = 1.1666...: 1.16 gives a floor of 0.696, accepted.
      await expect(risk.setParameter(IV_FLOOR_FACTOR, f.WETH, wad("1.16")))
        .to.emit(risk, "ParameterSet")
        .withArgs(IV_FLOOR_FACTOR, f.WETH, wad("0.8"), wad("1.16"), f.governance.address);
    });

    it("refuses an auction start discount above the fast discount, and accepts it equal", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(AUCTION_START_DISCOUNT, 0, AUCTION_FAST + 1n))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(AUCTION_START_DISCOUNT, AUCTION_FAST + 1n, AUCTION_FAST_DISCOUNT, AUCTION_FAST);
      await expect(risk.setParameter(AUCTION_START_DISCOUNT, 0, AUCTION_FAST))
        .to.emit(risk, "ParameterSet")
        .withArgs(AUCTION_START_DISCOUNT, 0, AUCTION_START, AUCTION_FAST, f.governance.address);
    });

    it("refuses an auction fast discount below the start discount, and accepts it equal", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(AUCTION_FAST_DISCOUNT, 0, AUCTION_START - 1n))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(AUCTION_FAST_DISCOUNT, AUCTION_START - 1n, AUCTION_START_DISCOUNT, AUCTION_START);
      await expect(risk.setParameter(AUCTION_FAST_DISCOUNT, 0, AUCTION_START))
        .to.emit(risk, "ParameterSet")
        .withArgs(AUCTION_FAST_DISCOUNT, 0, AUCTION_FAST, AUCTION_START, f.governance.address);
    });

    it("refuses an auction fast discount above the cap, and accepts it equal", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(AUCTION_FAST_DISCOUNT, 0, AUCTION_CAP + 1n))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(AUCTION_FAST_DISCOUNT, AUCTION_CAP + 1n, AUCTION_DISCOUNT_CAP, AUCTION_CAP);
      await expect(risk.setParameter(AUCTION_FAST_DISCOUNT, 0, AUCTION_CAP))
        .to.emit(risk, "ParameterSet")
        .withArgs(AUCTION_FAST_DISCOUNT, 0, AUCTION_FAST, AUCTION_CAP, f.governance.address);
    });

    it("refuses an auction cap below the fast discount, and accepts it equal", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(AUCTION_DISCOUNT_CAP, 0, AUCTION_FAST - 1n))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(AUCTION_DISCOUNT_CAP, AUCTION_FAST - 1n, AUCTION_FAST_DISCOUNT, AUCTION_FAST);
      await expect(risk.setParameter(AUCTION_DISCOUNT_CAP, 0, AUCTION_FAST))
        .to.emit(risk, "ParameterSet")
        .withArgs(AUCTION_DISCOUNT_CAP, 0, AUCTION_CAP, AUCTION_FAST, f.governance.address);
    });

    it("refuses an auction start discount equal to the cap even when the fast discount allows it", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      const top = wad("0.1"); // the start discount's hard maximum
      await risk.setParameter(AUCTION_FAST_DISCOUNT, 0, top);
      await risk.setParameter(AUCTION_DISCOUNT_CAP, 0, top); // fast = cap = 0.1
      await expect(risk.setParameter(AUCTION_START_DISCOUNT, 0, top - 1n))
        .to.emit(risk, "ParameterSet")
        .withArgs(AUCTION_START_DISCOUNT, 0, AUCTION_START, top - 1n, f.governance.address);
      await expect(risk.setParameter(AUCTION_START_DISCOUNT, 0, top))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(AUCTION_START_DISCOUNT, top, AUCTION_DISCOUNT_CAP, top);
    });

    it("refuses an auction cap equal to the start discount even when the fast discount allows it", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await risk.setParameter(AUCTION_FAST_DISCOUNT, 0, AUCTION_START); // fast = start = 0.01
      await expect(risk.setParameter(AUCTION_DISCOUNT_CAP, 0, AUCTION_START))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(AUCTION_DISCOUNT_CAP, AUCTION_START, AUCTION_START_DISCOUNT, AUCTION_START);
      await expect(risk.setParameter(AUCTION_DISCOUNT_CAP, 0, AUCTION_START + 1n))
        .to.emit(risk, "ParameterSet")
        .withArgs(AUCTION_DISCOUNT_CAP, 0, AUCTION_CAP, AUCTION_START + 1n, f.governance.address);
    });

    it("refuses an implied vol below realized vol times the deployed floor factor", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      expect(await f.volatility.volatility(f.weth)).to.equal(WETH_VOLATILITY);
      const floor = wad("0.48"); // 0.6 * 0.8
      expect(mulWadUp(WETH_VOLATILITY, IV_FLOOR_FACTOR_WETH)).to.equal(floor);
      await expect(risk.setParameter(IMPLIED_VOL, f.WETH, floor - 1n))
        .to.be.revertedWithCustomError(risk, "ImpliedVolBelowFloor")
        .withArgs(f.WETH, floor - 1n, floor);
      await expect(risk.setParameter(IMPLIED_VOL, f.WETH, floor))
        .to.emit(risk, "ParameterSet")
        .withArgs(IMPLIED_VOL, f.WETH, IV_WETH, floor, f.governance.address);
    });

    it("rounds the implied vol floor up", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      const factor = wad("0.5") + 1n;
      await risk.setParameter(IV_FLOOR_FACTOR, f.WETH, factor);
      // 0.6e18 * (0.5e18 + 1) / 1e18 = 0.3e18 + 0.6, rounded up.
      const floor = wad("0.3") + 1n;
      expect(mulWadUp(WETH_VOLATILITY, factor)).to.equal(floor);
      await expect(risk.setParameter(IMPLIED_VOL, f.WETH, floor - 1n))
        .to.be.revertedWithCustomError(risk, "ImpliedVolBelowFloor")
        .withArgs(f.WETH, floor - 1n, floor);
      await expect(risk.setParameter(IMPLIED_VOL, f.WETH, floor))
        .to.emit(risk, "ParameterSet")
        .withArgs(IMPLIED_VOL, f.WETH, IV_WETH, floor, f.governance.address);
    });

    it("refuses an implied vol on an underlying whose IV_FLOOR_FACTOR is unset", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameter(IMPLIED_VOL, f.USDC, wad("0.5")))
        .to.be.revertedWithCustomError(risk, "ParameterNotSet")
        .withArgs(IV_FLOOR_FACTOR, f.USDC);
    });

    it("refuses an implied vol on an underlying the volatility oracle does not know", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await risk.setParameter(IV_FLOOR_FACTOR, f.USDC, wad("1"));
      await expect(risk.setParameter(IMPLIED_VOL, f.USDC, wad("0.5")))
        .to.be.revertedWithCustomError(f.volatility, "VolatilityNotConfigured")
        .withArgs(await f.usdc.getAddress());
    });
  });

  describe("reads", () => {
    it("reverts get() of a parameter never set for the scope with ParameterNotSet", async () => {
      const { riskConfig } = await governed();
      await expect(riskConfig.get(MM_FLOOR, FREE_MARKET))
        .to.be.revertedWithCustomError(riskConfig, "ParameterNotSet")
        .withArgs(MM_FLOOR, FREE_MARKET);
    });

    it("returns (false, 0) from tryGet() of a parameter never set, and (true, value) once set", async () => {
      const f = await governed();
      expect(await f.riskConfig.tryGet(MM_FLOOR, FREE_MARKET)).to.deep.equal([false, 0n]);
      expect(await f.riskConfig.tryGet(MM_FLOOR, MARKET)).to.deep.equal([true, wad("0.01")]);
      expect(await f.riskConfig.get(MM_FLOOR, MARKET)).to.equal(wad("0.01"));
    });

    it("stores an explicit zero as set", async () => {
      const f = await governed();
      await f.riskConfig.connect(f.governance).setParameter(MAKER_FEE, FREE_MARKET, 0);
      expect(await f.riskConfig.tryGet(MAKER_FEE, FREE_MARKET)).to.deep.equal([true, 0n]);
      expect(await f.riskConfig.get(MAKER_FEE, FREE_MARKET)).to.equal(0n);
    });
  });

  describe("checkParameter", () => {
    it("reverts exactly like setParameter and changes nothing", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      const cases: { param: number; scope: bigint; value: bigint; error: string; args: unknown[] }[] = [
        {
          param: MM_FLOOR,
          scope: MARKET,
          value: wad("0.25") + 1n,
          error: "ParameterOutOfBounds",
          args: [MM_FLOOR, wad("0.25") + 1n, wad("0.005"), wad("0.25")],
        },
        { param: MM_FLOOR, scope: 0n, value: wad("0.01"), error: "InvalidScope", args: [MM_FLOOR, 0n] },
        {
          param: MAKER_FEE,
          scope: MARKET,
          value: TAKER_FEE_MARKET_1 + 1n,
          error: "CrossParameterRule",
          args: [MAKER_FEE, TAKER_FEE_MARKET_1 + 1n, TAKER_FEE, TAKER_FEE_MARKET_1],
        },
        {
          param: IMPLIED_VOL,
          scope: f.WETH,
          value: wad("0.48") - 1n,
          error: "ImpliedVolBelowFloor",
          args: [f.WETH, wad("0.48") - 1n, wad("0.48")],
        },
        {
          param: IMPLIED_VOL,
          scope: f.USDC,
          value: wad("0.5"),
          error: "ParameterNotSet",
          args: [IV_FLOOR_FACTOR, f.USDC],
        },
      ];
      for (const c of cases) {
        const before = await risk.tryGet(c.param, c.scope);
        await expect(f.riskConfig.connect(f.stranger).checkParameter(c.param, c.scope, c.value))
          .to.be.revertedWithCustomError(risk, c.error)
          .withArgs(...c.args);
        await expect(risk.setParameter(c.param, c.scope, c.value))
          .to.be.revertedWithCustomError(risk, c.error)
          .withArgs(...c.args);
        expect(await risk.tryGet(c.param, c.scope)).to.deep.equal(before);
      }
    });

    it("passes a valid value without storing it", async () => {
      const f = await governed();
      await f.riskConfig.connect(f.stranger).checkParameter(MM_FLOOR, MARKET, wad("0.02"));
      await f.riskConfig.connect(f.stranger).checkParameter(MM_FLOOR, FREE_MARKET, wad("0.02"));
      expect(await f.riskConfig.get(MM_FLOOR, MARKET)).to.equal(wad("0.01"));
      expect(await f.riskConfig.tryGet(MM_FLOOR, FREE_MARKET)).to.deep.equal([false, 0n]);
    });
  });

  describe("governance setParameter", () => {
    it("is refused to anyone but governance", async () => {
      const f = await governed();
      for (const caller of [f.deployer, f.stranger, f.guardian, f.keeper]) {
        await expect(f.riskConfig.connect(caller).setParameter(MM_FLOOR, MARKET, wad("0.02")))
          .to.be.revertedWithCustomError(f.riskConfig, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, DEFAULT_ADMIN_ROLE);
      }
    });
  });

  describe("governance setParameters (a batch, in order)", () => {
    it("applies each change against the state the previous ones left, with one event each", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      const taker = wad("0.008");
      const maker = wad("0.004");
      const tx = risk.setParameters([TAKER_FEE, MAKER_FEE], [MARKET, MARKET], [taker, maker]);
      await expect(tx)
        .to.emit(risk, "ParameterSet")
        .withArgs(TAKER_FEE, MARKET, wad("0.0006"), taker, f.governance.address);
      await expect(tx)
        .to.emit(risk, "ParameterSet")
        .withArgs(MAKER_FEE, MARKET, wad("0.0002"), maker, f.governance.address);
      expect([await risk.get(TAKER_FEE, MARKET), await risk.get(MAKER_FEE, MARKET)]).to.deep.equal([taker, maker]);
    });

    it("reverts the whole batch on the first change that fails, the order mattering", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setParameters([MAKER_FEE, TAKER_FEE], [MARKET, MARKET], [wad("0.004"), wad("0.008")]))
        .to.be.revertedWithCustomError(risk, "CrossParameterRule")
        .withArgs(MAKER_FEE, wad("0.004"), TAKER_FEE, wad("0.0006"));
      expect(await risk.get(MAKER_FEE, MARKET)).to.equal(wad("0.0002"));
    });

    it("resets the keeper's anchor of a keeper parameter it sets", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await risk.setParameters([MAX_OI_LONG], [MARKET], [wad("15000")]);
      const now = BigInt(await time.latest());
      expect(await risk.keeperAnchor(MAX_OI_LONG, MARKET)).to.deep.equal([wad("15000"), now]);
    });

    it("reverts LengthMismatch for arrays of different lengths, and is refused to anyone but governance", async () => {
      const f = await governed();
      await expect(
        f.riskConfig.connect(f.governance).setParameters([MM_FLOOR], [MARKET, MARKET], [wad("0.02")]),
      ).to.be.revertedWithCustomError(f.riskConfig, "LengthMismatch");
      await expect(
        f.riskConfig.connect(f.governance).setParameters([MM_FLOOR], [MARKET], [wad("0.02"), wad("0.03")]),
      ).to.be.revertedWithCustomError(f.riskConfig, "LengthMismatch");
      await expect(f.riskConfig.connect(f.stranger).setParameters([MM_FLOOR], [MARKET], [wad("0.02")]))
        .to.be.revertedWithCustomError(f.riskConfig, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, DEFAULT_ADMIN_ROLE);
    });
  });

  describe("risk keeper", () => {
    it("starts from the deployed keeper limits and the deployed value as anchor", async () => {
      const f = await governed();
      for (const param of [MAX_OI_LONG, MAX_OI_SHORT]) {
        for (const market of [1n, 2n]) {
          const l = [...OI_LIMITS];
          if (market === 2n) l[1] = wad("2000");
          expect(await storedLimits(f.riskConfig, param, market)).to.deep.equal(l);
        }
      }
      expect(await storedLimits(f.riskConfig, IMPLIED_VOL, f.WETH)).to.deep.equal([...IV_LIMITS]);
      expect(await storedLimits(f.riskConfig, IMPLIED_VOL, BigInt(await f.wbtc.getAddress()))).to.deep.equal([
        ...IV_LIMITS,
      ]);
      const [anchor, since] = await anchorOf(f.riskConfig, MAX_OI_LONG, MARKET);
      expect(anchor).to.equal(OI_MARKET_1);
      expect(since)
        .to.be.greaterThan(0n)
        .and.at.most(BigInt(await time.latest()));
    });

    it("moves MAX_OI_LONG of market 1 up by the loosen step, emitting ParameterSet by the keeper", async () => {
      const f = await governed();
      const target = OI_MARKET_1 + mulWad(OI_MARKET_1, wad("0.1")); // 22,000
      await expect(f.riskConfig.connect(f.keeper).keeperSetParameter(MAX_OI_LONG, MARKET, target))
        .to.emit(f.riskConfig, "ParameterSet")
        .withArgs(MAX_OI_LONG, MARKET, OI_MARKET_1, target, f.keeper.address);
      expect(await f.riskConfig.get(MAX_OI_LONG, MARKET)).to.equal(wad("22000"));
    });

    it("refuses loosening beyond the loosen step of the anchor, with the step rounded down", async () => {
      const f = await governed();
      const anchor = OI_MARKET_1 + 7n;
      await freshOiWindow(f, anchor);
      const maxMove = wad("2000"); // (20,000e18 + 7) * 0.1 = 2,000e18 + 0.7, floored
      expect(mulWad(anchor, wad("0.1"))).to.equal(maxMove);
      const keeper = f.riskConfig.connect(f.keeper);
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, anchor + maxMove + 1n))
        .to.be.revertedWithCustomError(keeper, "KeeperStepExceeded")
        .withArgs(MAX_OI_LONG, anchor + maxMove + 1n, anchor, maxMove);
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, anchor + maxMove))
        .to.emit(keeper, "ParameterSet")
        .withArgs(MAX_OI_LONG, MARKET, anchor, anchor + maxMove, f.keeper.address);
    });

    it("allows tightening an OI cap (lowering it) by the larger tighten step, rounded down", async () => {
      const f = await governed();
      const anchor = OI_MARKET_1 + 7n;
      await freshOiWindow(f, anchor);
      const maxMove = wad("10000") + 3n; // (20,000e18 + 7) * 0.5 = 10,000e18 + 3.5, floored
      expect(mulWad(anchor, wad("0.5"))).to.equal(maxMove);
      const keeper = f.riskConfig.connect(f.keeper);
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, anchor - maxMove - 1n))
        .to.be.revertedWithCustomError(keeper, "KeeperStepExceeded")
        .withArgs(MAX_OI_LONG, anchor - maxMove - 1n, anchor, maxMove);
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, anchor - maxMove))
        .to.emit(keeper, "ParameterSet")
        .withArgs(MAX_OI_LONG, MARKET, anchor, wad("10000") + 4n, f.keeper.address);
      expect(await keeper.get(MAX_OI_LONG, MARKET)).to.equal(wad("10000") + 4n);
    });

    it("treats raising IMPLIED_VOL as tightening and lowering it as loosening", async () => {
      const f = await governed();
      const keeper = f.riskConfig.connect(f.keeper);
      await f.riskConfig.connect(f.governance).setParameter(IMPLIED_VOL, f.WETH, IV_WETH); // fresh window at 0.7
      const up = wad("0.175"); // 0.7 * 0.25
      const down = wad("0.035"); // 0.7 * 0.05
      await expect(keeper.keeperSetParameter(IMPLIED_VOL, f.WETH, IV_WETH - down - 1n))
        .to.be.revertedWithCustomError(keeper, "KeeperStepExceeded")
        .withArgs(IMPLIED_VOL, IV_WETH - down - 1n, IV_WETH, down);
      await expect(keeper.keeperSetParameter(IMPLIED_VOL, f.WETH, IV_WETH - down))
        .to.emit(keeper, "ParameterSet")
        .withArgs(IMPLIED_VOL, f.WETH, IV_WETH, wad("0.665"), f.keeper.address);
      await expect(keeper.keeperSetParameter(IMPLIED_VOL, f.WETH, IV_WETH + up + 1n))
        .to.be.revertedWithCustomError(keeper, "KeeperStepExceeded")
        .withArgs(IMPLIED_VOL, IV_WETH + up + 1n, IV_WETH, up);
      await expect(keeper.keeperSetParameter(IMPLIED_VOL, f.WETH, IV_WETH + up))
        .to.emit(keeper, "ParameterSet")
        .withArgs(IMPLIED_VOL, f.WETH, wad("0.665"), wad("0.875"), f.keeper.address);
    });

    it("measures a second move in the same window from the window's anchor, not the current value", async () => {
      const f = await governed();
      const since = await freshOiWindow(f, OI_MARKET_1);
      const keeper = f.riskConfig.connect(f.keeper);
      await keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("22000"));
      // 22,000 + 10% would be 24,200: 4,200 from the anchor, where 2,000 is allowed.
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("24200")))
        .to.be.revertedWithCustomError(keeper, "KeeperStepExceeded")
        .withArgs(MAX_OI_LONG, wad("24200"), OI_MARKET_1, wad("2000"));
      // Down to 10,000 is a tightening of 10,000 from the anchor (12,000 from the current value).
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("10000")))
        .to.emit(keeper, "ParameterSet")
        .withArgs(MAX_OI_LONG, MARKET, wad("22000"), wad("10000"), f.keeper.address);
      expect(await anchorOf(keeper, MAX_OI_LONG, MARKET)).to.deep.equal([OI_MARKET_1, since]);
    });

    it("re-anchors at the current value a full window after the window opened and after its last loosening", async () => {
      const f = await governed();
      const since = await freshOiWindow(f, OI_MARKET_1);
      const keeper = f.riskConfig.connect(f.keeper);
      await time.setNextBlockTimestamp(since + DAY - 1n);
      await keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("21000"));
      expect(await anchorOf(keeper, MAX_OI_LONG, MARKET)).to.deep.equal([OI_MARKET_1, since]);

      // One second later the window has passed, but the loosening was one second ago: a second
      // 10% step must wait a full window after it. 23,100 is 3,100 from the standing anchor.
      await time.setNextBlockTimestamp(since + DAY);
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("23100")))
        .to.be.revertedWithCustomError(keeper, "KeeperStepExceeded")
        .withArgs(MAX_OI_LONG, wad("23100"), OI_MARKET_1, wad("2000"));

      await time.setNextBlockTimestamp(since + 2n * DAY - 1n);
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("23100")))
        .to.emit(keeper, "ParameterSet")
        .withArgs(MAX_OI_LONG, MARKET, wad("21000"), wad("23100"), f.keeper.address);
      expect(await anchorOf(keeper, MAX_OI_LONG, MARKET)).to.deep.equal([wad("21000"), since + 2n * DAY - 1n]);
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("23100") + 1n))
        .to.be.revertedWithCustomError(keeper, "KeeperStepExceeded")
        .withArgs(MAX_OI_LONG, wad("23100") + 1n, wad("21000"), wad("2100"));
    });

    it("re-anchors a full window after it opened when the keeper only tightened", async () => {
      const f = await governed();
      const since = await freshOiWindow(f, OI_MARKET_1);
      const keeper = f.riskConfig.connect(f.keeper);
      await time.setNextBlockTimestamp(since + DAY - 1n);
      await keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("15000"));
      await time.setNextBlockTimestamp(since + DAY);
      // The new window opens at 15,000: +10% is 16,500.
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("16500")))
        .to.emit(keeper, "ParameterSet")
        .withArgs(MAX_OI_LONG, MARKET, wad("15000"), wad("16500"), f.keeper.address);
      expect(await anchorOf(keeper, MAX_OI_LONG, MARKET)).to.deep.equal([wad("15000"), since + DAY]);
    });

    it("refuses a value outside the keeper's band with KeeperOutOfBand", async () => {
      const f = await governed();
      const keeper = f.riskConfig.connect(f.keeper);
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("40000") + 1n))
        .to.be.revertedWithCustomError(keeper, "KeeperOutOfBand")
        .withArgs(MAX_OI_LONG, wad("40000") + 1n, 0n, wad("40000"));
      await expect(keeper.keeperSetParameter(IMPLIED_VOL, f.WETH, wad("0.2") - 1n))
        .to.be.revertedWithCustomError(keeper, "KeeperOutOfBand")
        .withArgs(IMPLIED_VOL, wad("0.2") - 1n, wad("0.2"), wad("3"));
      await expect(keeper.keeperSetParameter(IMPLIED_VOL, f.WETH, wad("3") + 1n))
        .to.be.revertedWithCustomError(keeper, "KeeperOutOfBand")
        .withArgs(IMPLIED_VOL, wad("3") + 1n, wad("0.2"), wad("3"));
    });

    it("refuses a parameter the keeper may never move with NotKeeperParameter", async () => {
      const f = await governed();
      await expect(f.riskConfig.connect(f.keeper).keeperSetParameter(MM_FLOOR, MARKET, wad("0.011")))
        .to.be.revertedWithCustomError(f.riskConfig, "NotKeeperParameter")
        .withArgs(MM_FLOOR, MARKET);
    });

    it("refuses a keeper parameter on a scope without keeper limits with NotKeeperParameter", async () => {
      const f = await governed();
      const keeper = f.riskConfig.connect(f.keeper);
      await f.riskConfig.connect(f.governance).setParameter(MAX_OI_LONG, FREE_MARKET, wad("100"));
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, FREE_MARKET, wad("101")))
        .to.be.revertedWithCustomError(keeper, "NotKeeperParameter")
        .withArgs(MAX_OI_LONG, FREE_MARKET);
      await expect(keeper.keeperSetParameter(MAX_SERIES_OI, f.WETH, wad("2000")))
        .to.be.revertedWithCustomError(keeper, "NotKeeperParameter")
        .withArgs(MAX_SERIES_OI, f.WETH);
    });

    it("refuses a keeper move of a parameter that governance never set", async () => {
      const f = await governed();
      await f.riskConfig
        .connect(f.governance)
        .setKeeperLimits(MAX_OI_LONG, FREE_MARKET, limits(0n, wad("100"), wad("0.1"), wad("0.5"), HOUR));
      await expect(f.riskConfig.connect(f.keeper).keeperSetParameter(MAX_OI_LONG, FREE_MARKET, wad("50")))
        .to.be.revertedWithCustomError(f.riskConfig, "ParameterNotSet")
        .withArgs(MAX_OI_LONG, FREE_MARKET);
    });

    it("re-anchors at the new value and the current time when governance sets the parameter", async () => {
      const f = await governed();
      const keeper = f.riskConfig.connect(f.keeper);
      await keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("22000"));
      await f.riskConfig.connect(f.governance).setParameter(MAX_OI_LONG, MARKET, wad("30000"));
      const now = BigInt(await time.latest());
      expect(await anchorOf(keeper, MAX_OI_LONG, MARKET)).to.deep.equal([wad("30000"), now]);
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("33000") + 1n))
        .to.be.revertedWithCustomError(keeper, "KeeperStepExceeded")
        .withArgs(MAX_OI_LONG, wad("33000") + 1n, wad("30000"), wad("3000"));
      await expect(keeper.keeperSetParameter(MAX_OI_LONG, MARKET, wad("33000")))
        .to.emit(keeper, "ParameterSet")
        .withArgs(MAX_OI_LONG, MARKET, wad("30000"), wad("33000"), f.keeper.address);
    });

    it("cannot lower IMPLIED_VOL below the realized-volatility floor", async () => {
      const f = await governed();
      const keeper = f.riskConfig.connect(f.keeper);
      const floor = wad("0.48"); // 0.6 * 0.8
      await f.riskConfig.connect(f.governance).setParameter(IMPLIED_VOL, f.WETH, wad("0.5"));
      // 0.5 - (0.48 - 1 wei) is within the loosen step of 0.025 and within the band [0.2, 3].
      await expect(keeper.keeperSetParameter(IMPLIED_VOL, f.WETH, floor - 1n))
        .to.be.revertedWithCustomError(keeper, "ImpliedVolBelowFloor")
        .withArgs(f.WETH, floor - 1n, floor);
      await expect(keeper.keeperSetParameter(IMPLIED_VOL, f.WETH, floor))
        .to.emit(keeper, "ParameterSet")
        .withArgs(IMPLIED_VOL, f.WETH, wad("0.5"), floor, f.keeper.address);
    });

    it("is refused to anyone without RISK_KEEPER_ROLE, governance included", async () => {
      const f = await governed();
      for (const caller of [f.stranger, f.guardian, f.deployer, f.governance]) {
        await expect(f.riskConfig.connect(caller).keeperSetParameter(MAX_OI_LONG, MARKET, wad("21000")))
          .to.be.revertedWithCustomError(f.riskConfig, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, RISK_KEEPER_ROLE);
      }
    });

    it("cannot set parameters, keeper limits or pauses through governance's entry points", async () => {
      const f = await governed();
      const keeper = f.riskConfig.connect(f.keeper);
      await expect(keeper.setParameter(MAX_OI_LONG, MARKET, wad("21000")))
        .to.be.revertedWithCustomError(keeper, "AccessControlUnauthorizedAccount")
        .withArgs(f.keeper.address, DEFAULT_ADMIN_ROLE);
      await expect(keeper.setKeeperLimits(MAX_OI_LONG, MARKET, limits(0n, wad("1"), 0n, wad("1"), HOUR)))
        .to.be.revertedWithCustomError(keeper, "AccessControlUnauthorizedAccount")
        .withArgs(f.keeper.address, DEFAULT_ADMIN_ROLE);
      await expect(keeper.setPaused(OPEN_POSITION, MARKET, true))
        .to.be.revertedWithCustomError(keeper, "NotGuardian")
        .withArgs(f.keeper.address);
    });
  });

  describe("setKeeperLimits", () => {
    it("replaces the limits and emits KeeperLimitsSet with the old and the new ones", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      const next = limits(wad("1000"), wad("30000"), wad("0.05"), wad("0.2"), 2n * HOUR);
      await expect(risk.setKeeperLimits(MAX_OI_LONG, MARKET, next))
        .to.emit(risk, "KeeperLimitsSet")
        .withArgs(MAX_OI_LONG, MARKET, [...OI_LIMITS], asArray(next));
      expect(await storedLimits(risk, MAX_OI_LONG, MARKET)).to.deep.equal(asArray(next));
      // The new band applies at once.
      await expect(f.riskConfig.connect(f.keeper).keeperSetParameter(MAX_OI_LONG, MARKET, wad("1000") - 1n))
        .to.be.revertedWithCustomError(risk, "KeeperOutOfBand")
        .withArgs(MAX_OI_LONG, wad("1000") - 1n, wad("1000"), wad("30000"));
    });

    it("accepts limits at every edge: the full hard bounds, a one-point band, steps of 100% and windows of 1 hour and 7 days", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      const full = limits(wad("0.05"), wad("10"), wad("1"), wad("1"), HOUR);
      await expect(risk.setKeeperLimits(IMPLIED_VOL, f.WETH, full))
        .to.emit(risk, "KeeperLimitsSet")
        .withArgs(IMPLIED_VOL, f.WETH, [...IV_LIMITS], asArray(full));
      const point = limits(wad("5"), wad("5"), 0n, 1n, 7n * DAY);
      await expect(risk.setKeeperLimits(IMPLIED_VOL, f.WETH, point))
        .to.emit(risk, "KeeperLimitsSet")
        .withArgs(IMPLIED_VOL, f.WETH, asArray(full), asArray(point));
      expect(await storedLimits(risk, IMPLIED_VOL, f.WETH)).to.deep.equal(asArray(point));
      const oi = limits(0n, MAX_SIZE, wad("0.1"), wad("0.5"), DAY);
      await expect(risk.setKeeperLimits(MAX_SERIES_OI, f.WETH, oi))
        .to.emit(risk, "KeeperLimitsSet")
        .withArgs(MAX_SERIES_OI, f.WETH, [0n, 0n, 0n, 0n, 0n], asArray(oi));
    });

    it("refuses limits that break their rules with InvalidKeeperLimits", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      const ok = {
        bandMin: wad("0.2"),
        bandMax: wad("3"),
        loosenStep: wad("0.05"),
        tightenStep: wad("0.25"),
        window: HOUR,
      };
      const cases: [string, number, Limits][] = [
        ["band below the hard minimum", IMPLIED_VOL, { ...ok, bandMin: wad("0.05") - 1n }],
        ["band above the hard maximum", IMPLIED_VOL, { ...ok, bandMax: wad("10") + 1n }],
        ["OI band above the hard maximum", MAX_OI_LONG, { ...ok, bandMin: 0n, bandMax: MAX_SIZE + 1n }],
        ["bandMin above bandMax", IMPLIED_VOL, { ...ok, bandMin: wad("3") + 1n }],
        ["zero tighten step", IMPLIED_VOL, { ...ok, loosenStep: 0n, tightenStep: 0n }],
        ["tighten step above 100%", IMPLIED_VOL, { ...ok, tightenStep: WAD + 1n }],
        ["loosen step above tighten step", IMPLIED_VOL, { ...ok, loosenStep: wad("0.25") + 1n }],
        ["window below 1 hour", IMPLIED_VOL, { ...ok, window: HOUR - 1n }],
        ["window above 7 days", IMPLIED_VOL, { ...ok, window: 7n * DAY + 1n }],
        ["zero window with a bandMin", IMPLIED_VOL, limits(1n, 0n, 0n, 0n, 0n)],
        ["zero window with a bandMax", IMPLIED_VOL, limits(0n, 1n, 0n, 0n, 0n)],
        ["zero window with a loosen step", IMPLIED_VOL, limits(0n, 0n, 1n, 0n, 0n)],
        ["zero window with a tighten step", IMPLIED_VOL, limits(0n, 0n, 0n, 1n, 0n)],
      ];
      for (const [, param, l] of cases) {
        const scope = param === IMPLIED_VOL ? f.WETH : MARKET;
        await expect(risk.setKeeperLimits(param, scope, l))
          .to.be.revertedWithCustomError(risk, "InvalidKeeperLimits")
          .withArgs(param);
      }
      expect(await storedLimits(risk, IMPLIED_VOL, f.WETH)).to.deep.equal([...IV_LIMITS]);
      expect(await storedLimits(risk, MAX_OI_LONG, MARKET)).to.deep.equal([...OI_LIMITS]);
    });

    it("disables the keeper on a scope when set to all zero", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      const off = limits(0n, 0n, 0n, 0n, 0n);
      await expect(risk.setKeeperLimits(MAX_OI_LONG, MARKET, off))
        .to.emit(risk, "KeeperLimitsSet")
        .withArgs(MAX_OI_LONG, MARKET, [...OI_LIMITS], asArray(off));
      expect(await storedLimits(risk, MAX_OI_LONG, MARKET)).to.deep.equal(asArray(off));
      await expect(f.riskConfig.connect(f.keeper).keeperSetParameter(MAX_OI_LONG, MARKET, wad("21000")))
        .to.be.revertedWithCustomError(risk, "NotKeeperParameter")
        .withArgs(MAX_OI_LONG, MARKET);
      // Market 1's short cap keeps its limits.
      await expect(f.riskConfig.connect(f.keeper).keeperSetParameter(MAX_OI_SHORT, MARKET, wad("21000")))
        .to.emit(risk, "ParameterSet")
        .withArgs(MAX_OI_SHORT, MARKET, OI_MARKET_1, wad("21000"), f.keeper.address);
    });

    it("refuses limits for a parameter the keeper may never move with NotKeeperParameter", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setKeeperLimits(MM_FLOOR, MARKET, limits(wad("0.01"), wad("0.02"), 0n, wad("0.1"), HOUR)))
        .to.be.revertedWithCustomError(risk, "NotKeeperParameter")
        .withArgs(MM_FLOOR, MARKET);
      await expect(risk.setKeeperLimits(IV_FLOOR_FACTOR, f.WETH, limits(0n, 0n, 0n, 0n, 0n)))
        .to.be.revertedWithCustomError(risk, "NotKeeperParameter")
        .withArgs(IV_FLOOR_FACTOR, f.WETH);
    });

    it("refuses a scope that does not fit the parameter with InvalidScope", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      const l = limits(0n, wad("100"), wad("0.1"), wad("0.5"), HOUR);
      for (const [param, scope] of [
        [MAX_OI_LONG, 0n],
        [MAX_OI_LONG, MAX_MARKET_ID + 1n],
        [MAX_SERIES_OI, 0n],
        [MAX_SERIES_OI, MAX_ADDRESS + 1n],
      ] as const) {
        await expect(risk.setKeeperLimits(param, scope, l))
          .to.be.revertedWithCustomError(risk, "InvalidScope")
          .withArgs(param, scope);
      }
    });

    it("is refused to anyone but governance", async () => {
      const f = await governed();
      for (const caller of [f.deployer, f.stranger, f.guardian, f.keeper]) {
        await expect(f.riskConfig.connect(caller).setKeeperLimits(MAX_OI_LONG, MARKET, limits(0n, 0n, 0n, 0n, 0n)))
          .to.be.revertedWithCustomError(f.riskConfig, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, DEFAULT_ADMIN_ROLE);
      }
    });
  });

  describe("guardian", () => {
    it("pauses and unpauses opening positions on one market", async () => {
      const f = await governed();
      const guardian = f.riskConfig.connect(f.guardian);
      await expect(guardian.setPaused(OPEN_POSITION, MARKET, true))
        .to.emit(guardian, "PauseSet")
        .withArgs(OPEN_POSITION, MARKET, true, f.guardian.address);
      expect(await guardian.isPaused(OPEN_POSITION, MARKET)).to.equal(true);
      expect(await guardian.isPaused(OPEN_POSITION, 2n)).to.equal(false);
      expect(await guardian.isPaused(LIST_SERIES, MARKET)).to.equal(false);
      await expect(guardian.setPaused(OPEN_POSITION, MARKET, false))
        .to.emit(guardian, "PauseSet")
        .withArgs(OPEN_POSITION, MARKET, false, f.guardian.address);
      expect(await guardian.isPaused(OPEN_POSITION, MARKET)).to.equal(false);
    });

    it("pauses and unpauses listing series on one underlying", async () => {
      const f = await governed();
      const guardian = f.riskConfig.connect(f.guardian);
      await expect(guardian.setPaused(LIST_SERIES, f.WETH, true))
        .to.emit(guardian, "PauseSet")
        .withArgs(LIST_SERIES, f.WETH, true, f.guardian.address);
      expect(await guardian.isPaused(LIST_SERIES, f.WETH)).to.equal(true);
      expect(await guardian.isPaused(LIST_SERIES, BigInt(await f.wbtc.getAddress()))).to.equal(false);
      expect(await guardian.isPaused(DEPOSIT, f.WETH)).to.equal(false);
      await expect(guardian.setPaused(LIST_SERIES, f.WETH, false))
        .to.emit(guardian, "PauseSet")
        .withArgs(LIST_SERIES, f.WETH, false, f.guardian.address);
      expect(await guardian.isPaused(LIST_SERIES, f.WETH)).to.equal(false);
    });

    it("pauses deposits of one collateral in MarginAccounts; withdrawals and transfers keep working", async () => {
      const f = await governed();
      const { accounts, weth, usdc, alice } = f;
      const guardian = f.riskConfig.connect(f.guardian);
      const one = wad("1");
      await accounts.connect(alice).createAccount(0, 0); // Cross: account 1
      await accounts.connect(alice).createAccount(0, 0); // Cross: account 2
      await weth.mint(alice.address, 10n * one);
      await weth.connect(alice).approve(accounts, ethers.MaxUint256);
      await usdc.mint(alice.address, 1_000_000n);
      await usdc.connect(alice).approve(accounts, ethers.MaxUint256);
      await accounts.connect(alice).deposit(1, weth, 5n * one);

      await expect(guardian.setPaused(DEPOSIT, f.WETH, true))
        .to.emit(guardian, "PauseSet")
        .withArgs(DEPOSIT, f.WETH, true, f.guardian.address)
        .and.to.emit(accounts, "DepositPausedSet")
        .withArgs(await weth.getAddress(), true);
      expect(await guardian.isPaused(DEPOSIT, f.WETH)).to.equal(true);
      expect(await accounts.depositPaused(weth)).to.equal(true);
      expect((await accounts.collateral(weth)).depositsPaused).to.equal(true);

      await expect(accounts.connect(alice).deposit(1, weth, one))
        .to.be.revertedWithCustomError(accounts, "DepositsPaused")
        .withArgs(await weth.getAddress());
      // Another collateral is not affected.
      await expect(accounts.connect(alice).deposit(1, usdc, 1_000_000n))
        .to.emit(accounts, "Deposited")
        .withArgs(1, await usdc.getAddress(), alice.address, 1_000_000n);
      await expect(accounts.connect(alice).withdraw(1, weth, one))
        .to.emit(accounts, "Withdrawn")
        .withArgs(1, await weth.getAddress(), alice.address, one);
      await expect(accounts.connect(alice).transfer(1, 2, weth, one))
        .to.emit(accounts, "Transferred")
        .withArgs(1, 2, await weth.getAddress(), one);
      expect(await accounts.balanceOf(1, weth)).to.equal(3n * one);
      expect(await accounts.balanceOf(2, weth)).to.equal(one);
      expect(await weth.balanceOf(alice.address)).to.equal(6n * one);
      expect((await accounts.collateral(weth)).totalDeposits).to.equal(4n * one);

      await expect(guardian.setPaused(DEPOSIT, f.WETH, false))
        .to.emit(guardian, "PauseSet")
        .withArgs(DEPOSIT, f.WETH, false, f.guardian.address)
        .and.to.emit(accounts, "DepositPausedSet")
        .withArgs(await weth.getAddress(), false);
      expect(await guardian.isPaused(DEPOSIT, f.WETH)).to.equal(false);
      await expect(accounts.connect(alice).deposit(1, weth, one))
        .to.emit(accounts, "Deposited")
        .withArgs(1, await weth.getAddress(), alice.address, one);
      expect(await accounts.balanceOf(1, weth)).to.equal(4n * one);
    });

    it("lets governance pause too", async () => {
      const f = await governed();
      const risk = f.riskConfig.connect(f.governance);
      await expect(risk.setPaused(OPEN_POSITION, MARKET, true))
        .to.emit(risk, "PauseSet")
        .withArgs(OPEN_POSITION, MARKET, true, f.governance.address);
      await expect(risk.setPaused(DEPOSIT, f.WETH, true))
        .to.emit(f.accounts, "DepositPausedSet")
        .withArgs(await f.weth.getAddress(), true);
      expect(await risk.isPaused(OPEN_POSITION, MARKET)).to.equal(true);
      expect(await risk.isPaused(DEPOSIT, f.WETH)).to.equal(true);
    });

    it("never pauses deposits of the settlement stablecoin: adding margin always works", async () => {
      const f = await governed();
      for (const caller of [f.guardian, f.governance]) {
        await expect(f.riskConfig.connect(caller).setPaused(DEPOSIT, f.USDC, true))
          .to.be.revertedWithCustomError(f.riskConfig, "InvalidFeatureScope")
          .withArgs(DEPOSIT, f.USDC);
      }
      expect(await f.riskConfig.settlementToken()).to.equal(await f.usdc.getAddress());
    });

    it("lets the guardian lift its own pause but not one governance imposed, which governance lifts", async () => {
      const f = await governed();
      const guardian = f.riskConfig.connect(f.guardian);
      const risk = f.riskConfig.connect(f.governance);
      await guardian.setPaused(OPEN_POSITION, MARKET, true);
      await expect(guardian.setPaused(OPEN_POSITION, MARKET, false))
        .to.emit(guardian, "PauseSet")
        .withArgs(OPEN_POSITION, MARKET, false, f.guardian.address);
      await risk.setPaused(OPEN_POSITION, MARKET, true);
      await expect(guardian.setPaused(OPEN_POSITION, MARKET, false))
        .to.be.revertedWithCustomError(guardian, "PausedByGovernance")
        .withArgs(OPEN_POSITION, MARKET);
      // Re-pausing by the guardian does not launder governance's pause: still governance's to lift.
      await guardian.setPaused(OPEN_POSITION, MARKET, true);
      await expect(guardian.setPaused(OPEN_POSITION, MARKET, false))
        .to.be.revertedWithCustomError(guardian, "PausedByGovernance")
        .withArgs(OPEN_POSITION, MARKET);
      expect(await risk.isPaused(OPEN_POSITION, MARKET)).to.equal(true);
      await risk.setPaused(OPEN_POSITION, MARKET, false);
      expect(await risk.isPaused(OPEN_POSITION, MARKET)).to.equal(false);
      await risk.setPaused(DEPOSIT, f.WETH, true);
      await expect(guardian.setPaused(DEPOSIT, f.WETH, false))
        .to.be.revertedWithCustomError(guardian, "PausedByGovernance")
        .withArgs(DEPOSIT, f.WETH);
    });

    it("refuses anyone else with NotGuardian", async () => {
      const f = await governed();
      for (const caller of [f.stranger, f.keeper, f.deployer]) {
        await expect(f.riskConfig.connect(caller).setPaused(OPEN_POSITION, MARKET, true))
          .to.be.revertedWithCustomError(f.riskConfig, "NotGuardian")
          .withArgs(caller.address);
      }
    });

    it("refuses a scope that does not fit the feature with InvalidFeatureScope", async () => {
      const f = await governed();
      const guardian = f.riskConfig.connect(f.guardian);
      for (const [feature, scope] of [
        [OPEN_POSITION, 0n],
        [LIST_SERIES, 0n],
        [DEPOSIT, 0n],
        [OPEN_POSITION, MAX_MARKET_ID + 1n],
        [OPEN_POSITION, MAX_ADDRESS + 1n],
        [LIST_SERIES, MAX_ADDRESS + 1n],
        [DEPOSIT, MAX_ADDRESS + 1n],
      ] as const) {
        await expect(guardian.setPaused(feature, scope, true))
          .to.be.revertedWithCustomError(guardian, "InvalidFeatureScope")
          .withArgs(feature, scope);
      }
      await expect(guardian.setPaused(OPEN_POSITION, MAX_MARKET_ID, true))
        .to.emit(guardian, "PauseSet")
        .withArgs(OPEN_POSITION, MAX_MARKET_ID, true, f.guardian.address);
      await expect(guardian.setPaused(LIST_SERIES, MAX_ADDRESS, true))
        .to.emit(guardian, "PauseSet")
        .withArgs(LIST_SERIES, MAX_ADDRESS, true, f.guardian.address);
    });

    it("refuses pausing deposits of a token MarginAccounts does not list, with its UnknownToken", async () => {
      const f = await governed();
      const unlisted = f.stranger.address;
      await expect(f.riskConfig.connect(f.guardian).setPaused(DEPOSIT, BigInt(unlisted), true))
        .to.be.revertedWithCustomError(f.accounts, "UnknownToken")
        .withArgs(unlisted);
      expect(await f.riskConfig.isPaused(DEPOSIT, BigInt(unlisted))).to.equal(false);
    });

    it("cannot set parameters, keeper limits, roles or keeper moves", async () => {
      const f = await governed();
      const guardian = f.riskConfig.connect(f.guardian);
      const who = f.guardian.address;
      await expect(guardian.setParameter(MM_FLOOR, MARKET, wad("0.02")))
        .to.be.revertedWithCustomError(guardian, "AccessControlUnauthorizedAccount")
        .withArgs(who, DEFAULT_ADMIN_ROLE);
      await expect(guardian.setKeeperLimits(MAX_OI_LONG, MARKET, limits(0n, 0n, 0n, 0n, 0n)))
        .to.be.revertedWithCustomError(guardian, "AccessControlUnauthorizedAccount")
        .withArgs(who, DEFAULT_ADMIN_ROLE);
      await expect(guardian.grantRole(GUARDIAN_ROLE, f.stranger.address))
        .to.be.revertedWithCustomError(guardian, "AccessControlUnauthorizedAccount")
        .withArgs(who, DEFAULT_ADMIN_ROLE);
      await expect(guardian.grantRole(RISK_KEEPER_ROLE, who))
        .to.be.revertedWithCustomError(guardian, "AccessControlUnauthorizedAccount")
        .withArgs(who, DEFAULT_ADMIN_ROLE);
      await expect(guardian.keeperSetParameter(MAX_OI_LONG, MARKET, wad("21000")))
        .to.be.revertedWithCustomError(guardian, "AccessControlUnauthorizedAccount")
        .withArgs(who, RISK_KEEPER_ROLE);
      await expect(guardian.revokeImmediately(RISK_KEEPER_ROLE, f.keeper.address))
        .to.be.revertedWithCustomError(guardian, "AccessControlUnauthorizedAccount")
        .withArgs(who, REVOKER_ROLE);
    });

    it("cannot reach MarginAccounts, LiquidityPool, InsuranceFund or PriceOracle directly", async () => {
      const f = await governed();
      const g = f.guardian;
      const unauthorized = "AccessControlUnauthorizedAccount";
      await expect(f.accounts.connect(g).setDepositPaused(f.weth, true))
        .to.be.revertedWithCustomError(f.accounts, unauthorized)
        .withArgs(g.address, PAUSER_ROLE);
      await expect(f.accounts.connect(g).setDepositCap(f.weth, 0))
        .to.be.revertedWithCustomError(f.accounts, unauthorized)
        .withArgs(g.address, DEFAULT_ADMIN_ROLE);
      await expect(f.accounts.connect(g).setCollateralWeight(f.weth, wad("0.5")))
        .to.be.revertedWithCustomError(f.accounts, unauthorized)
        .withArgs(g.address, DEFAULT_ADMIN_ROLE);
      await expect(f.accounts.connect(g).sweepExcess(f.weth, g.address))
        .to.be.revertedWithCustomError(f.accounts, unauthorized)
        .withArgs(g.address, DEFAULT_ADMIN_ROLE);
      await expect(f.pool.connect(g).setCooldown(HOUR))
        .to.be.revertedWithCustomError(f.pool, unauthorized)
        .withArgs(g.address, DEFAULT_ADMIN_ROLE);
      await expect(f.pool.connect(g).setPnlSource(ethers.ZeroAddress))
        .to.be.revertedWithCustomError(f.pool, unauthorized)
        .withArgs(g.address, DEFAULT_ADMIN_ROLE);
      await expect(f.fund.connect(g).draw(g.address, 1, ethers.encodeBytes32String("GUARDIAN")))
        .to.be.revertedWithCustomError(f.fund, unauthorized)
        .withArgs(g.address, DRAWER_ROLE);
      await expect(f.fund.connect(g).grantRole(DRAWER_ROLE, g.address))
        .to.be.revertedWithCustomError(f.fund, unauthorized)
        .withArgs(g.address, DEFAULT_ADMIN_ROLE);
      await expect(f.oracle.connect(g).setGuard(f.weth, wad("0.03"), wad("0.2"), HOUR, 1800))
        .to.be.revertedWithCustomError(f.oracle, unauthorized)
        .withArgs(g.address, DEFAULT_ADMIN_ROLE);
      await expect(f.volatility.connect(g).configure(f.weth, wad("0.94"), wad("0.2"), wad("5"), wad("0.6")))
        .to.be.revertedWithCustomError(f.volatility, unauthorized)
        .withArgs(g.address, DEFAULT_ADMIN_ROLE);
    });
  });

  describe("roles", () => {
    it("lets the revoker remove the guardian at once", async () => {
      const f = await governed();
      await expect(f.riskConfig.connect(f.deployer).revokeImmediately(GUARDIAN_ROLE, f.guardian.address))
        .to.emit(f.riskConfig, "RoleRevokedImmediately")
        .withArgs(GUARDIAN_ROLE, f.guardian.address, f.deployer.address)
        .and.to.emit(f.riskConfig, "RoleRevoked")
        .withArgs(GUARDIAN_ROLE, f.guardian.address, f.deployer.address);
      expect(await f.riskConfig.hasRole(GUARDIAN_ROLE, f.guardian.address)).to.equal(false);
      await expect(f.riskConfig.connect(f.guardian).setPaused(OPEN_POSITION, MARKET, true))
        .to.be.revertedWithCustomError(f.riskConfig, "NotGuardian")
        .withArgs(f.guardian.address);
    });

    it("lets the revoker remove the risk keeper at once", async () => {
      const f = await governed();
      await expect(f.riskConfig.connect(f.deployer).revokeImmediately(RISK_KEEPER_ROLE, f.keeper.address))
        .to.emit(f.riskConfig, "RoleRevokedImmediately")
        .withArgs(RISK_KEEPER_ROLE, f.keeper.address, f.deployer.address);
      expect(await f.riskConfig.hasRole(RISK_KEEPER_ROLE, f.keeper.address)).to.equal(false);
      await expect(f.riskConfig.connect(f.keeper).keeperSetParameter(MAX_OI_LONG, MARKET, wad("21000")))
        .to.be.revertedWithCustomError(f.riskConfig, "AccessControlUnauthorizedAccount")
        .withArgs(f.keeper.address, RISK_KEEPER_ROLE);
    });

    it("lets governance revoke at once too", async () => {
      const f = await governed();
      await expect(f.riskConfig.connect(f.governance).revokeImmediately(GUARDIAN_ROLE, f.guardian.address))
        .to.emit(f.riskConfig, "RoleRevokedImmediately")
        .withArgs(GUARDIAN_ROLE, f.guardian.address, f.governance.address);
      expect(await f.riskConfig.hasRole(GUARDIAN_ROLE, f.guardian.address)).to.equal(false);
    });

    it("refuses to revoke a role from an account that does not hold it, emitting nothing", async () => {
      const f = await governed();
      const revoker = f.riskConfig.connect(f.deployer);
      await expect(revoker.revokeImmediately(GUARDIAN_ROLE, f.stranger.address))
        .to.be.revertedWithCustomError(revoker, "NotRoleHolder")
        .withArgs(GUARDIAN_ROLE, f.stranger.address);
    });

    it("refuses to revoke the admin or the revoker role with NotRevocable", async () => {
      const f = await governed();
      const revoker = f.riskConfig.connect(f.deployer);
      await expect(revoker.revokeImmediately(DEFAULT_ADMIN_ROLE, f.governance.address))
        .to.be.revertedWithCustomError(revoker, "NotRevocable")
        .withArgs(DEFAULT_ADMIN_ROLE);
      await expect(revoker.revokeImmediately(REVOKER_ROLE, f.deployer.address))
        .to.be.revertedWithCustomError(revoker, "NotRevocable")
        .withArgs(REVOKER_ROLE);
      expect(await revoker.hasRole(DEFAULT_ADMIN_ROLE, f.governance.address)).to.equal(true);
      expect(await revoker.hasRole(REVOKER_ROLE, f.deployer.address)).to.equal(true);
    });

    it("refuses revokeImmediately to anyone but the revoker and governance", async () => {
      const f = await governed();
      for (const caller of [f.stranger, f.guardian, f.keeper]) {
        await expect(f.riskConfig.connect(caller).revokeImmediately(GUARDIAN_ROLE, f.guardian.address))
          .to.be.revertedWithCustomError(f.riskConfig, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, REVOKER_ROLE);
      }
    });

    it("never lets the revoker grant a role", async () => {
      const f = await governed();
      const revoker = f.riskConfig.connect(f.deployer);
      for (const role of [GUARDIAN_ROLE, RISK_KEEPER_ROLE, REVOKER_ROLE, DEFAULT_ADMIN_ROLE]) {
        await expect(revoker.grantRole(role, f.stranger.address))
          .to.be.revertedWithCustomError(revoker, "AccessControlUnauthorizedAccount")
          .withArgs(f.deployer.address, DEFAULT_ADMIN_ROLE);
      }
    });

    it("leaves the timelock the only admin of every contract after the deployment", async () => {
      const f = await governed();
      const timelock = await f.timelock.getAddress();
      for (const contract of [f.riskConfig, f.accounts, f.pool, f.fund, f.oracle, f.volatility]) {
        expect(await contract.hasRole(DEFAULT_ADMIN_ROLE, f.deployer.address)).to.equal(false);
        expect(await contract.hasRole(DEFAULT_ADMIN_ROLE, timelock)).to.equal(true);
      }
    });

    it("hands out the deployed roles as configured: guardian 8, keeper 9, revoker the deployer", async () => {
      const f = await governed();
      expect(await f.riskConfig.hasRole(GUARDIAN_ROLE, f.guardian.address)).to.equal(true);
      expect(await f.riskConfig.hasRole(RISK_KEEPER_ROLE, f.keeper.address)).to.equal(true);
      expect(await f.riskConfig.hasRole(REVOKER_ROLE, f.deployer.address)).to.equal(true);
      expect(await f.riskConfig.hasRole(GUARDIAN_ROLE, f.deployer.address)).to.equal(false);
      expect(await f.riskConfig.hasRole(RISK_KEEPER_ROLE, f.deployer.address)).to.equal(false);
      expect(await f.accounts.hasRole(PAUSER_ROLE, await f.riskConfig.getAddress())).to.equal(true);
      expect(await f.accounts.hasRole(PAUSER_ROLE, f.deployer.address)).to.equal(false);
      expect(await f.accounts.hasRole(PAUSER_ROLE, f.guardian.address)).to.equal(false);
      expect(await f.riskConfig.volatilityOracle()).to.equal(await f.volatility.getAddress());
      expect(await f.riskConfig.marginAccounts()).to.equal(await f.accounts.getAddress());
    });
  });
});
