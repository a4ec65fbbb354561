import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { deployGovernedKeel } from "../scripts/lib/deployment";
import { connect } from "../scripts/lib/governance";
import { PARAMS } from "../scripts/lib/params";
import { run } from "../scripts/governance";
import { networkConfig } from "../config/networks";

/**
 * This file's own fixture (not deployGovernedKeel itself): loadFixture keys snapshots by function,
 * and another file's snapshot of deployGovernedKeel may have been reverted away by the tests run
 * between the two files.
 */
const governedKeel = () => deployGovernedKeel();

// The script is driven in-process (`run(argv, gov)`) against the real deployment: the timelock
// (minimum delay 2 s locally, the deployer as its only proposer, anyone executes) is the only
// admin of RiskConfig. Operation ids are computed here with the salt passed to `propose`.

const ROOT = path.resolve(__dirname, "..");
const MIN_DELAY = BigInt(networkConfig("hardhat").governance.timelockDelay);
const SALT = ethers.zeroPadValue("0x01", 32);
const OTHER_SALT = ethers.zeroPadValue("0x02", 32);

const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;
const PROPOSER_ROLE = ethers.id("PROPOSER_ROLE");
const CANCELLER_ROLE = ethers.id("CANCELLER_ROLE");
const GUARDIAN_ROLE = ethers.id("GUARDIAN_ROLE");
const REVOKER_ROLE = ethers.id("REVOKER_ROLE");
/** OpenZeppelin's `_encodeStateBitmap(OperationState.Unset)`. */
const UNSET_BITMAP = ethers.zeroPadValue("0x01", 32);

// RiskParams.Param indices (the enum's numbering) of the parameters used below.
const MM_FLOOR = 0;
const MAKER_FEE = 5;
const TAKER_FEE = 6;
const LIQUIDATION_FEE = 29;
const AUCTION_START_DISCOUNT = 30;
const AUCTION_FAST_DISCOUNT = 31;
const OPEN_POSITION = 0; // IRiskConfig.Feature.OpenPosition

const wad = (value: string) => ethers.parseUnits(value, 18);
const iso = (seconds: bigint) => new Date(Number(seconds) * 1000).toISOString();
const MAX_SIZE_TEXT = "1000000000000.0"; // 1e30 WAD, RiskParams.MAX_SIZE and MAX_USD

/** The message of the error `promise` rejects with; fails the test when it resolves. */
async function failure(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.an.instanceOf(Error);
    return (error as Error).message;
  }
  expect.fail("expected the command to fail");
}

/** The deployment with the script connected as the deployer (proposer and revoker). */
async function governed() {
  const keel = await loadFixture(governedKeel);
  const signers = await ethers.getSigners();
  const [deployer] = signers;
  const addresses = { timelock: await keel.timelock.getAddress(), riskConfig: await keel.riskConfig.getAddress() };
  const as = (signer: HardhatEthersSigner) => connect(signer, addresses);
  return {
    ...keel,
    deployer,
    stranger: signers[3],
    newGuardian: signers[5],
    guardian: signers[8],
    gov: as(deployer),
    as,
  };
}

type Governed = Awaited<ReturnType<typeof governed>>;

/** The id of a batch of RiskConfig calls scheduled with `salt` and no predecessor. */
async function batchId(f: Governed, payloads: string[], salt = SALT): Promise<string> {
  return f.timelock.hashOperationBatch(
    payloads.map(() => f.riskConfig),
    payloads.map(() => 0n),
    payloads,
    ethers.ZeroHash,
    salt,
  );
}

const setParameter = (f: Governed, param: number, scope: bigint, value: bigint) =>
  f.riskConfig.interface.encodeFunctionData("setParameter", [param, scope, value]);

const PROPOSAL = ["propose", "--set", "MM_FLOOR:1=0.02", "--set", "LIQUIDATION_FEE=0.03", "--salt", SALT];
const PROPOSAL_ACTIONS = [
  "  setParameter(MM_FLOOR, scope 1, 0.02)",
  "  setParameter(LIQUIDATION_FEE, scope global, 0.03)",
];

/** The deployer has proposed MM_FLOOR of market 1 = 0.02 and LIQUIDATION_FEE = 0.03 in one batch. */
async function proposed() {
  const f = await governed();
  const lines = await run(PROPOSAL, f.gov);
  const block = await ethers.provider.getBlock("latest");
  const eta = BigInt(block!.timestamp) + MIN_DELAY;
  const id = await batchId(f, [
    setParameter(f, MM_FLOOR, 1n, wad("0.02")),
    setParameter(f, LIQUIDATION_FEE, 0n, wad("0.03")),
  ]);
  return { ...f, lines, id, eta, proposedIn: block!.number };
}

/** The proposal above, past its delay and executed. */
async function executed() {
  const f = await proposed();
  await time.increase(MIN_DELAY);
  const lines = await run(["execute", "--id", f.id], f.gov);
  return { ...f, executeLines: lines, executedIn: await ethers.provider.getBlockNumber() };
}

async function parameters(f: Governed): Promise<[bigint, bigint]> {
  return [await f.riskConfig.get(MM_FLOOR, 1n), await f.riskConfig.get(LIQUIDATION_FEE, 0n)];
}

/** Runs the CLI as a user would, with npm's own notices silenced so stderr is the script's alone. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("npx", ["ts-node", "scripts/governance.ts", ...args], {
      cwd: ROOT,
      timeout: 60_000,
      env: { ...process.env, npm_config_loglevel: "error" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("governance", () => {
  describe("batches are validated in the order the timelock applies them", () => {
    it("accepts a batch that raises the taker fee before the maker fee, and executes it", async () => {
      const f = await governed();
      // Market 1 is deployed with maker 0.0002 and taker 0.0006: 0.004 maker only fits after the taker rises.
      const lines = await run(
        ["propose", "--set", "TAKER_FEE:1=0.008", "--set", "MAKER_FEE:1=0.004", "--salt", SALT],
        f.gov,
      );
      const id = await batchId(f, [
        setParameter(f, TAKER_FEE, 1n, wad("0.008")),
        setParameter(f, MAKER_FEE, 1n, wad("0.004")),
      ]);
      expect(lines[0]).to.equal(`proposed ${id}`);
      await time.increase(MIN_DELAY);
      expect(await run(["execute", "--id", id], f.gov)).to.deep.equal([`executed ${id}`]);
      expect([await f.riskConfig.get(TAKER_FEE, 1n), await f.riskConfig.get(MAKER_FEE, 1n)]).to.deep.equal([
        wad("0.008"),
        wad("0.004"),
      ]);
    });

    it("refuses a batch whose second change breaks a rule only after the first, naming it, and sends nothing", async () => {
      const f = await governed();
      const nonce = await ethers.provider.getTransactionCount(f.deployer.address);
      let message = "";
      try {
        await run(["propose", "--set", "TAKER_FEE:1=0.0003", "--set", "MAKER_FEE:1=0.0004"], f.gov);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).to.equal(
        `MAKER_FEE = 0.0004 refused: CrossParameterRule(${MAKER_FEE}, ${wad("0.0004")}, ${TAKER_FEE}, ${wad("0.0003")})`,
      );
      expect(await ethers.provider.getTransactionCount(f.deployer.address)).to.equal(nonce);
    });

    it("prints an underlying's scope as its address", async () => {
      const f = await governed();
      const weth = await f.weth.getAddress();
      expect(await run(["get", "--param", "IMPLIED_VOL", "--scope", weth], f.gov)).to.deep.equal([
        `IMPLIED_VOL (scope ${weth}): 0.7`,
      ]);
    });
  });

  describe("proposing and executing through the script", () => {
    it("schedules a validated batch and prints its id, its actions and the exact time it becomes ready", async () => {
      const f = await proposed();
      expect(f.lines).to.deep.equal([
        `proposed ${f.id}`,
        "  RiskConfig.setParameter(MM_FLOOR, scope 1, 0.02)",
        "  RiskConfig.setParameter(LIQUIDATION_FEE, scope global, 0.03)",
        `ready at ${iso(f.eta)} (unix ${f.eta}); then: npm run gov -- execute --id ${f.id}`,
      ]);
      expect(await f.timelock.getTimestamp(f.id)).to.equal(f.eta);
      const riskConfig = await f.riskConfig.getAddress();
      const scheduled = await f.timelock.queryFilter(f.timelock.filters.CallScheduled(), f.proposedIn);
      expect(scheduled.map((e) => [...e.args])).to.deep.equal([
        [f.id, 0n, riskConfig, 0n, setParameter(f, MM_FLOOR, 1n, wad("0.02")), ethers.ZeroHash, MIN_DELAY],
        [f.id, 1n, riskConfig, 0n, setParameter(f, LIQUIDATION_FEE, 0n, wad("0.03")), ethers.ZeroHash, MIN_DELAY],
      ]);
    });

    it("lists the proposal as Waiting with its eta and both actions", async () => {
      const f = await proposed();
      expect(await run(["queue"], f.gov)).to.deep.equal([`${f.id} Waiting eta ${iso(f.eta)}`, ...PROPOSAL_ACTIONS]);
    });

    it("refuses to execute before the delay, naming the time it becomes ready, and changes nothing", async () => {
      const f = await proposed();
      expect(await failure(run(["execute", "--id", f.id], f.gov))).to.equal(
        `operation ${f.id} is not ready until ${iso(f.eta)}`,
      );
      expect(await parameters(f)).to.deep.equal([wad("0.01"), wad("0.02")]);
      expect(await run(["queue"], f.gov)).to.deep.equal([`${f.id} Waiting eta ${iso(f.eta)}`, ...PROPOSAL_ACTIONS]);
    });

    it("lists the proposal as Ready once the delay has passed", async () => {
      const f = await proposed();
      await time.increase(MIN_DELAY);
      expect(await run(["queue"], f.gov)).to.deep.equal([`${f.id} Ready eta ${iso(f.eta)}`, ...PROPOSAL_ACTIONS]);
    });

    it("executes after the delay: both parameters change and the timelock is recorded as the setter", async () => {
      const f = await executed();
      expect(f.executeLines).to.deep.equal([`executed ${f.id}`]);
      expect(await parameters(f)).to.deep.equal([wad("0.02"), wad("0.03")]);
      const timelock = await f.timelock.getAddress();
      const set = await f.riskConfig.queryFilter(f.riskConfig.filters.ParameterSet(), f.executedIn, f.executedIn);
      expect(set.map((e) => [...e.args])).to.deep.equal([
        [BigInt(MM_FLOOR), 1n, wad("0.01"), wad("0.02"), timelock],
        [BigInt(LIQUIDATION_FEE), 0n, wad("0.02"), wad("0.03"), timelock],
      ]);
      const calls = await f.timelock.queryFilter(f.timelock.filters.CallExecuted(), f.executedIn, f.executedIn);
      expect(calls.map((e) => [e.args.id, e.args.index])).to.deep.equal([
        [f.id, 0n],
        [f.id, 1n],
      ]);
    });

    it("lists the executed operation as Done and refuses to execute it again", async () => {
      const f = await executed();
      expect(await run(["queue"], f.gov)).to.deep.equal([`${f.id} Done`, ...PROPOSAL_ACTIONS]);
      expect(await failure(run(["execute", "--id", f.id], f.gov))).to.equal(`operation ${f.id} is Done, not Ready`);
      expect(await parameters(f)).to.deep.equal([wad("0.02"), wad("0.03")]);
    });

    it("lets any account execute a ready operation", async () => {
      const f = await proposed();
      await time.increase(MIN_DELAY);
      expect(await run(["execute", "--id", f.id], f.as(f.stranger))).to.deep.equal([`executed ${f.id}`]);
      expect(await parameters(f)).to.deep.equal([wad("0.02"), wad("0.03")]);
    });

    it("refuses to schedule the same batch with the same salt twice, naming the timelock's error", async () => {
      const f = await proposed();
      expect(await failure(run(PROPOSAL, f.gov))).to.equal(
        `the timelock refused the proposal: TimelockUnexpectedOperationState(${f.id}, ${UNSET_BITMAP})`,
      );
    });

    it("refuses to execute an operation the timelock has never seen", async () => {
      const f = await proposed();
      expect(await failure(run(["execute", "--id", OTHER_SALT], f.gov))).to.equal(
        `no operation ${OTHER_SALT} in the timelock's history`,
      );
    });

    it("lists no operations on a fresh deployment", async () => {
      const f = await governed();
      expect(await run(["queue"], f.gov)).to.deep.equal(["no operations"]);
    });
  });

  describe("validation before anything is sent", () => {
    const OUT_OF_BOUNDS =
      "MM_FLOOR = 0.9 refused: ParameterOutOfBounds(0, 900000000000000000, 5000000000000000, 250000000000000000)";
    const ADDRESS = "0x00000000000000000000000000000000000000aa";
    const cases: { what: string; argv: string[]; message: string }[] = [
      { what: "a value outside the hard bounds", argv: ["propose", "--set", "MM_FLOOR:1=0.9"], message: OUT_OF_BOUNDS },
      {
        what: "a whole batch when one of its values is outside the bounds",
        argv: ["propose", "--set", "MM_FLOOR:1=0.02", "--set", "MM_FLOOR:2=0.9", "--salt", SALT],
        message: OUT_OF_BOUNDS,
      },
      {
        what: "a maker fee above market 1's taker fee (0.0006)",
        argv: ["propose", "--set", "MAKER_FEE:1=0.001"],
        message: `MAKER_FEE = 0.001 refused: CrossParameterRule(${MAKER_FEE}, 1000000000000000, ${TAKER_FEE}, 600000000000000)`,
      },
      {
        what: "a taker fee below market 1's maker fee (0.0002)",
        argv: ["propose", "--set", "TAKER_FEE:1=0.0001"],
        message: `TAKER_FEE = 0.0001 refused: CrossParameterRule(${TAKER_FEE}, 100000000000000, ${MAKER_FEE}, 200000000000000)`,
      },
      {
        what: "an auction start discount above the fast discount (0.05)",
        argv: ["propose", "--set", "AUCTION_START_DISCOUNT=0.06"],
        message:
          `AUCTION_START_DISCOUNT = 0.06 refused: CrossParameterRule(${AUCTION_START_DISCOUNT}, 60000000000000000, ` +
          `${AUCTION_FAST_DISCOUNT}, 50000000000000000)`,
      },
      {
        what: "market id 0, which the contract's scope rule rejects",
        argv: ["propose", "--set", "MM_FLOOR:0=0.02"],
        message: `MM_FLOOR = 0.02 refused: InvalidScope(${MM_FLOOR}, 0)`,
      },
      {
        what: "an unknown parameter",
        argv: ["propose", "--set", "MM_CEILING:1=0.02"],
        message: 'unknown parameter "MM_CEILING" (see npm run gov -- params)',
      },
      {
        what: "a market parameter without a scope",
        argv: ["propose", "--set", "MM_FLOOR=0.02"],
        message: "MM_FLOOR needs a scope (market id)",
      },
      {
        what: "an option parameter without a scope",
        argv: ["propose", "--set", "IMPLIED_VOL=0.7"],
        message: "IMPLIED_VOL needs a scope (underlying address)",
      },
      {
        what: "a scope on a global parameter",
        argv: ["propose", "--set", "LIQUIDATION_FEE:1=0.03"],
        message: "LIQUIDATION_FEE is global and takes no scope",
      },
      {
        what: "a market scope that is not a number",
        argv: ["propose", "--set", "MM_FLOOR:eth=0.02"],
        message: 'MM_FLOOR takes a market id as scope, got "eth"',
      },
      {
        what: "an underlying scope that is not an address",
        argv: ["propose", "--set", "IMPLIED_VOL:0x1234=0.7"],
        message: 'IMPLIED_VOL takes an underlying token address as scope, got "0x1234"',
      },
      {
        what: "a --set without a value",
        argv: ["propose", "--set", "MM_FLOOR:1"],
        message: '--set takes NAME[:SCOPE]=VALUE, got "MM_FLOOR:1"',
      },
      {
        what: "a WAD value that is not a decimal",
        argv: ["propose", "--set", "MM_FLOOR:1=abc"],
        message: 'MM_FLOOR takes a decimal number (WAD), got "abc"',
      },
      {
        what: "a duration with an unknown unit",
        argv: ["propose", "--set", "LIQUIDATION_HORIZON:1=4x"],
        message: 'LIQUIDATION_HORIZON takes a duration like 3600, 30m, 4h or 2d, got "4x"',
      },
      {
        what: "a count that is not a whole number",
        argv: ["propose", "--set", `MAX_LIVE_SERIES:${ADDRESS}=1.5`],
        message: 'MAX_LIVE_SERIES takes a whole number, got "1.5"',
      },
      {
        what: "a salt that is not 32 bytes",
        argv: ["propose", "--set", "MM_FLOOR:1=0.02", "--salt", "0x01"],
        message: '--salt takes 32 bytes of hex, got "0x01"',
      },
      {
        what: "a grant of a role other than GUARDIAN or RISK_KEEPER",
        argv: ["propose", "--grant", `ADMIN:${ADDRESS}`],
        message: `--grant takes GUARDIAN:ADDRESS or RISK_KEEPER:ADDRESS, got "ADMIN:${ADDRESS}"`,
      },
      {
        what: "a grant to something that is not an address",
        argv: ["propose", "--grant", "GUARDIAN:0x12"],
        message: 'not an address: "0x12"',
      },
      { what: "a proposal with no action", argv: ["propose"], message: "propose needs at least one --set or --grant" },
      {
        what: "a stray argument",
        argv: ["propose", "MM_FLOOR:1=0.02"],
        message: 'unexpected argument "MM_FLOOR:1=0.02" (see --help)',
      },
      { what: "a flag without its value", argv: ["execute", "--id"], message: "--id needs a value" },
      { what: "an unknown command", argv: ["bogus"], message: 'unknown command "bogus" (see --help)' },
      { what: "execute without --id", argv: ["execute"], message: "execute needs --id" },
      { what: "cancel without --id", argv: ["cancel"], message: "cancel needs --id" },
      { what: "get without --param", argv: ["get"], message: "get needs --param" },
    ];

    for (const { what, argv, message } of cases) {
      it(`refuses ${what} with one line and sends nothing`, async () => {
        const f = await governed();
        const nonce = await ethers.provider.getTransactionCount(f.deployer);
        const block = await ethers.provider.getBlockNumber();
        expect(await failure(run(argv, f.gov))).to.equal(message);
        expect(await ethers.provider.getTransactionCount(f.deployer)).to.equal(nonce);
        expect(await ethers.provider.getBlockNumber()).to.equal(block);
        expect(await f.timelock.queryFilter(f.timelock.filters.CallScheduled())).to.have.length(0);
        expect(await run(["queue"], f.gov)).to.deep.equal(["no operations"]);
      });
    }

    it("refuses an implied volatility below realized volatility (0.6) times its floor factor (0.8)", async () => {
      const f = await governed();
      const weth = await f.weth.getAddress();
      const nonce = await ethers.provider.getTransactionCount(f.deployer);
      expect(await failure(run(["propose", "--set", `IMPLIED_VOL:${weth}=0.1`], f.gov))).to.equal(
        `IMPLIED_VOL = 0.1 refused: ImpliedVolBelowFloor(${BigInt(weth)}, 100000000000000000, 480000000000000000)`,
      );
      expect(await ethers.provider.getTransactionCount(f.deployer)).to.equal(nonce);
      expect(await f.timelock.queryFilter(f.timelock.filters.CallScheduled())).to.have.length(0);
    });
  });

  describe("cancelling", () => {
    it("cancels a waiting operation for the proposer; it is listed as Cancelled and can never execute", async () => {
      const f = await proposed();
      expect(await run(["cancel", "--id", f.id], f.gov)).to.deep.equal([`cancelled ${f.id}`]);
      const block = await ethers.provider.getBlockNumber();
      const cancelled = await f.timelock.queryFilter(f.timelock.filters.Cancelled(), block, block);
      expect(cancelled.map((e) => e.args.id)).to.deep.equal([f.id]);
      expect(await run(["queue"], f.gov)).to.deep.equal([`${f.id} Cancelled`, ...PROPOSAL_ACTIONS]);
      await time.increase(MIN_DELAY);
      expect(await failure(run(["execute", "--id", f.id], f.gov))).to.equal(
        `operation ${f.id} is Cancelled, not Ready`,
      );
      expect(await parameters(f)).to.deep.equal([wad("0.01"), wad("0.02")]);
      expect(await failure(run(["cancel", "--id", f.id], f.gov))).to.equal(
        `operation ${f.id} is Cancelled: nothing to cancel`,
      );
    });

    it("refuses a cancel from an account without the canceller role; the operation stays Waiting", async () => {
      const f = await proposed();
      expect(await failure(run(["cancel", "--id", f.id], f.as(f.stranger)))).to.equal(
        `cancel of ${f.id} failed: AccessControlUnauthorizedAccount(${f.stranger.address}, ${CANCELLER_ROLE})`,
      );
      expect(await run(["queue"], f.gov)).to.deep.equal([`${f.id} Waiting eta ${iso(f.eta)}`, ...PROPOSAL_ACTIONS]);
    });

    it("refuses to cancel an executed operation", async () => {
      const f = await executed();
      expect(await failure(run(["cancel", "--id", f.id], f.gov))).to.equal(
        `operation ${f.id} is Done: nothing to cancel`,
      );
    });
  });

  describe("the timelock as RiskConfig's only admin", () => {
    it("reverts a schedule from an account without the proposer role", async () => {
      const f = await governed();
      const data = setParameter(f, MM_FLOOR, 1n, wad("0.02"));
      await expect(f.timelock.connect(f.stranger).schedule(f.riskConfig, 0n, data, ethers.ZeroHash, SALT, MIN_DELAY))
        .to.be.revertedWithCustomError(f.timelock, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, PROPOSER_ROLE);
    });

    it("refuses, through the script, a proposal from an account without the proposer role", async () => {
      const f = await governed();
      expect(await failure(run(PROPOSAL, f.as(f.stranger)))).to.equal(
        `the timelock refused the proposal: AccessControlUnauthorizedAccount(${f.stranger.address}, ${PROPOSER_ROLE})`,
      );
      expect(await run(["queue"], f.gov)).to.deep.equal(["no operations"]);
    });

    it("reverts a schedule whose delay is below the minimum delay", async () => {
      const f = await governed();
      const data = setParameter(f, MM_FLOOR, 1n, wad("0.02"));
      await expect(f.timelock.schedule(f.riskConfig, 0n, data, ethers.ZeroHash, SALT, MIN_DELAY - 1n))
        .to.be.revertedWithCustomError(f.timelock, "TimelockInsufficientDelay")
        .withArgs(MIN_DELAY - 1n, MIN_DELAY);
    });

    it("reverts the deployer's direct setParameter: only the timelock holds the admin role", async () => {
      const f = await governed();
      await expect(f.riskConfig.setParameter(MM_FLOOR, 1n, wad("0.02")))
        .to.be.revertedWithCustomError(f.riskConfig, "AccessControlUnauthorizedAccount")
        .withArgs(f.deployer.address, DEFAULT_ADMIN_ROLE);
      expect(await f.riskConfig.get(MM_FLOOR, 1n)).to.equal(wad("0.01"));
    });

    it("grants the guardian role only after the delay; from then on the new guardian can pause", async () => {
      const f = await governed();
      const account = f.newGuardian.address;
      const grant = f.riskConfig.interface.encodeFunctionData("grantRole", [GUARDIAN_ROLE, account]);
      const id = await batchId(f, [grant]);

      const lines = await run(["propose", "--grant", `GUARDIAN:${account}`, "--salt", SALT], f.gov);
      const eta = BigInt((await ethers.provider.getBlock("latest"))!.timestamp) + MIN_DELAY;
      expect(lines).to.deep.equal([
        `proposed ${id}`,
        `  RiskConfig.grantRole(GUARDIAN, ${account})`,
        `ready at ${iso(eta)} (unix ${eta}); then: npm run gov -- execute --id ${id}`,
      ]);
      // Right after the proposal: Hardhat mines every reverted transaction, one second apart, so a
      // second early attempt placed after the NotGuardian revert below would already land at the eta.
      expect(await failure(run(["execute", "--id", id], f.gov))).to.equal(
        `operation ${id} is not ready until ${iso(eta)}`,
      );
      expect(await f.riskConfig.hasRole(GUARDIAN_ROLE, account)).to.equal(false);
      await expect(f.riskConfig.connect(f.newGuardian).setPaused(OPEN_POSITION, 1n, true))
        .to.be.revertedWithCustomError(f.riskConfig, "NotGuardian")
        .withArgs(account);

      await time.increase(MIN_DELAY);
      expect(await run(["execute", "--id", id], f.gov)).to.deep.equal([`executed ${id}`]);
      expect(await f.riskConfig.hasRole(GUARDIAN_ROLE, account)).to.equal(true);
      expect(await run(["queue"], f.gov)).to.deep.equal([`${id} Done`, `  grantRole(${GUARDIAN_ROLE}, ${account})`]);
      await expect(f.riskConfig.connect(f.newGuardian).setPaused(OPEN_POSITION, 1n, true))
        .to.emit(f.riskConfig, "PauseSet")
        .withArgs(OPEN_POSITION, 1n, true, account);
      expect(await f.riskConfig.isPaused(OPEN_POSITION, 1n)).to.equal(true);
    });
  });

  describe("reading parameters", () => {
    it("prints every parameter in the enum's order with its scope, unit and the contract's hard bounds", async () => {
      const f = await governed();
      const lines = await run(["params"], f.gov);
      expect(lines).to.have.length(PARAMS.length);
      expect(lines).to.deep.equal([
        "MM_FLOOR (market, wad): [0.005, 0.25]",
        "MM_SIZE_FACTOR (market, wad): [0.0, 0.5]",
        "MM_VOL_MULTIPLIER (market, wad): [1.0, 10.0]",
        "LIQUIDATION_HORIZON (market, seconds): [3600s, 604800s]",
        "IM_MULTIPLIER (market, wad): [1.1, 5.0]",
        "MAKER_FEE (market, wad): [0.0, 0.005]",
        "TAKER_FEE (market, wad): [0.0, 0.01]",
        "FEE_INSURANCE_SHARE (market, wad): [0.0, 1.0]",
        `SKEW_SCALE (market, wad): [1.0, ${MAX_SIZE_TEXT}]`,
        "MAX_FUNDING_VELOCITY (market, wad): [0.0, 10.0]",
        "MAX_FUNDING_RATE (market, wad): [0.001, 1.0]",
        `MAX_OI_LONG (market, wad): [0.0, ${MAX_SIZE_TEXT}]`,
        `MAX_OI_SHORT (market, wad): [0.0, ${MAX_SIZE_TEXT}]`,
        `MAX_POSITION_SIZE (market, wad): [0.0, ${MAX_SIZE_TEXT}]`,
        "IMPLIED_VOL (underlying, wad): [0.05, 10.0]",
        "IV_FLOOR_FACTOR (underlying, wad): [0.5, 2.0]",
        "OPTION_SPREAD_BASE (underlying, wad): [0.0, 0.1]",
        "OPTION_SPREAD_SLOPE (underlying, wad): [0.0, 1.0]",
        "STRIKE_BAND (underlying, wad): [0.05, 1.0]",
        "EXPIRY_GRID (underlying, seconds): [3600s, 604800s]",
        "MAX_EXPIRY (underlying, seconds): [86400s, 63072000s]",
        "MAX_LIVE_SERIES (underlying, count): [1, 200]",
        `MAX_SERIES_OI (underlying, wad): [0.0, ${MAX_SIZE_TEXT}]`,
        `MAX_NET_DELTA (underlying, wad): [0.0, ${MAX_SIZE_TEXT}]`,
        `MAX_NET_VEGA (underlying, wad): [0.0, ${MAX_SIZE_TEXT}]`,
        "LONG_OPTION_HAIRCUT (underlying, wad): [0.0, 1.0]",
        "SHORT_OPTION_MM_SPOT (underlying, wad): [0.01, 0.5]",
        "SHORT_OPTION_MM_FLOOR (underlying, wad): [0.001, 0.25]",
        "MAX_OPTIONS_PER_ACCOUNT (underlying, count): [1, 16]",
        "LIQUIDATION_FEE (global, wad): [0.0, 0.2]",
        "AUCTION_START_DISCOUNT (global, wad): [0.0, 0.1]",
        "AUCTION_FAST_DISCOUNT (global, wad): [0.0, 0.3]",
        "AUCTION_DISCOUNT_CAP (global, wad): [0.01, 0.5]",
        "AUCTION_FAST_DURATION (global, seconds): [10s, 3600s]",
        "AUCTION_SLOW_DURATION (global, seconds): [60s, 86400s]",
        "AUCTION_STALL_TIMEOUT (global, seconds): [60s, 86400s]",
        "BUFFER_MARGIN (global, wad): [0.0, 1.0]",
        "DUST_THRESHOLD (global, wad): [0.0, 10000.0]",
        `INSOLVENT_PAYOUT_CAP (global, wad): [0.0, ${MAX_SIZE_TEXT}]`,
        "INSOLVENT_RAMP (global, seconds): [60s, 86400s]",
        `THROUGHPUT_CAP (global, wad): [1.0, ${MAX_SIZE_TEXT}]`,
        "THROUGHPUT_WINDOW (global, seconds): [60s, 86400s]",
        `INSURANCE_FLOOR (global, wad): [0.0, ${MAX_SIZE_TEXT}]`,
        "OPTION_IM_MULTIPLIER (underlying, wad): [1.1, 5.0]",
        "VOL_SHOCK_UP (underlying, wad): [0.05, 3.0]",
        "VOL_SHOCK_DOWN (underlying, wad): [0.05, 0.9]",
      ]);
    });

    it("names every RiskParams.Param in the enum's order, with the unit its comment gives", () => {
      const source = fs.readFileSync(path.join(ROOT, "contracts/governance/RiskParams.sol"), "utf8");
      const body = /enum Param \{([\s\S]*?)\n\s*\}/.exec(source)?.[1] ?? "";
      const units: Record<string, string> = { WAD: "wad", seconds: "seconds", count: "count" };
      const entries = [...body.matchAll(/^\s*([A-Z_]+),? \/\/ ([A-Za-z]+)/gm)].map((m) => ({
        name: m[1],
        unit: units[m[2]] ?? m[2],
      }));
      expect(PARAMS.map((p) => ({ name: p.name, unit: p.unit }))).to.deep.equal(entries);
    });

    it("gives every parameter the scope kind the contract enforces", async () => {
      const { riskConfig } = await governed();
      const tooLarge = { market: 2n ** 32n, underlying: 2n ** 160n, global: 1n };
      const largest = { market: 2n ** 32n - 1n, underlying: 2n ** 160n - 1n, global: 0n };
      for (const [i, param] of PARAMS.entries()) {
        const [min] = await riskConfig.bounds(i);
        await expect(riskConfig.checkParameter(i, tooLarge[param.scope], min), param.name)
          .to.be.revertedWithCustomError(riskConfig, "InvalidScope")
          .withArgs(i, tooLarge[param.scope]);
        await expect(
          riskConfig.checkParameter(i, largest[param.scope], min),
          param.name,
        ).not.to.be.revertedWithCustomError(riskConfig, "InvalidScope");
      }
    });

    it("has no parameter beyond the table: the enum ends at its last entry", async () => {
      const { riskConfig } = await governed();
      expect(await riskConfig.bounds(PARAMS.length - 1)).to.deep.equal([wad("0.05"), wad("0.9")]);
      // An out-of-range enum argument fails the ABI decoder's validation: a revert without data.
      await expect(riskConfig.bounds(PARAMS.length)).to.be.revertedWithoutReason();
    });

    it("prints a parameter's current value, or that it was never set for that scope", async () => {
      const f = await governed();
      expect(await run(["get", "--param", "MM_FLOOR", "--scope", "1"], f.gov)).to.deep.equal([
        "MM_FLOOR (scope 1): 0.01",
      ]);
      expect(await run(["get", "--param", "MM_FLOOR", "--scope", "3"], f.gov)).to.deep.equal([
        "MM_FLOOR (scope 3): not set",
      ]);
      expect(await run(["get", "--param", "LIQUIDATION_HORIZON", "--scope", "2"], f.gov)).to.deep.equal([
        "LIQUIDATION_HORIZON (scope 2): 14400s",
      ]);
      expect(await run(["get", "--param", "LIQUIDATION_FEE"], f.gov)).to.deep.equal([
        "LIQUIDATION_FEE (scope global): 0.02",
      ]);
    });

    it("prints the new value once an executed proposal has changed it", async () => {
      const f = await executed();
      expect(await run(["get", "--param", "MM_FLOOR", "--scope", "1"], f.gov)).to.deep.equal([
        "MM_FLOOR (scope 1): 0.02",
      ]);
    });
  });

  describe("revoking a guardian at once", () => {
    it("lets the revoker remove the guardian without waiting for the timelock", async () => {
      const f = await governed();
      const guardian = f.guardian.address;
      expect(await f.riskConfig.hasRole(GUARDIAN_ROLE, guardian)).to.equal(true);
      expect(await run(["revoke", "--role", "GUARDIAN", "--account", guardian], f.gov)).to.deep.equal([
        `revoked GUARDIAN from ${guardian}`,
      ]);
      expect(await f.riskConfig.hasRole(GUARDIAN_ROLE, guardian)).to.equal(false);
      const block = await ethers.provider.getBlockNumber();
      const revoked = await f.riskConfig.queryFilter(f.riskConfig.filters.RoleRevokedImmediately(), block, block);
      expect(revoked.map((e) => [...e.args])).to.deep.equal([[GUARDIAN_ROLE, guardian, f.deployer.address]]);
      await expect(f.riskConfig.connect(f.guardian).setPaused(OPEN_POSITION, 1n, true))
        .to.be.revertedWithCustomError(f.riskConfig, "NotGuardian")
        .withArgs(guardian);
    });

    it("refuses a revoke from an account without the revoker role; the guardian keeps the role", async () => {
      const f = await governed();
      const guardian = f.guardian.address;
      expect(await failure(run(["revoke", "--role", "GUARDIAN", "--account", guardian], f.as(f.stranger)))).to.equal(
        `revoke refused: AccessControlUnauthorizedAccount(${f.stranger.address}, ${REVOKER_ROLE})`,
      );
      expect(await f.riskConfig.hasRole(GUARDIAN_ROLE, guardian)).to.equal(true);
    });

    it("refuses a role other than GUARDIAN or RISK_KEEPER, and an account that is not an address", async () => {
      const f = await governed();
      expect(await failure(run(["revoke", "--role", "ADMIN", "--account", f.guardian.address], f.gov))).to.equal(
        '--role takes GUARDIAN or RISK_KEEPER, got "ADMIN"',
      );
      expect(await failure(run(["revoke", "--role", "GUARDIAN", "--account", "guardian"], f.gov))).to.equal(
        'not an address: "guardian"',
      );
      expect(await failure(run(["revoke", "--role", "GUARDIAN"], f.gov))).to.equal("revoke needs --account");
    });
  });

  describe("help", () => {
    it("prints the help text without connecting to any chain", async () => {
      const unreachable = () => Promise.reject(new Error("connected"));
      const [help] = await run(["--help"], unreachable);
      expect(help.split("\n")[0]).to.equal("Keel governance: every change goes through the TimelockController.");
      expect(await run([], unreachable)).to.deep.equal([help]);
      expect(await run(["help"], unreachable)).to.deep.equal([help]);
      expect(await run(["propose", "--help"], unreachable)).to.deep.equal([help]);
    });
  });

  describe("the command-line process", () => {
    it("exits 1 with one line on stderr, and no stack trace, for an unknown command", async () => {
      const { code, stdout, stderr } = await cli(["bogus"]);
      expect(code).to.equal(1);
      expect(stderr).to.equal('gov: unknown command "bogus" (see --help)\n');
      expect(stderr).not.to.include("at ");
      expect(stdout).to.equal("");
    });

    it("exits 1 with one line on stderr when the node cannot be reached", async () => {
      // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
      const { code, stdout, stderr } = await cli(["queue", "--rpc", "http://127.0.0.1:9"]);
      expect(code).to.equal(1);
      expect(stderr).to.equal("gov: cannot reach http://127.0.0.1:9\n");
      expect(stderr).not.to.include("at ");
      expect(stdout).to.equal("");
    });
  });
});
