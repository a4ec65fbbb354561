import hre, { ethers } from "hardhat";
import { expect } from "chai";
import { loadFixture, impersonateAccount, setBalance, time } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { BaseContract } from "ethers";
import { deployGovernedKeel } from "../../scripts/lib/deployment";
import { networkConfig } from "../../config/networks";
import { paramIndex } from "../../scripts/lib/params";

// Every state-changing external function of every contract the governed deployment ships (the
// timelock the only admin, the deployer handed over), called by every role that must not call it.
//
// The table is built against the ABIs: `covers every non-view function` fails as soon as a
// contract gains a non-view function that has neither a row nor a stated reason to be open to
// anyone. Each row is one call; every actor not allowed to make it gets the exact custom error
// (static calls: nothing is mined). Each row with an allowed caller also has a positive control:
// the same call from that party (impersonated for contracts: the markets, the liquidation engine,
// RiskConfig, the timelock) does not revert with that error, so a row whose arguments fail for
// another reason first cannot pass by accident. Rows nobody may call (LISTER_ROLE, held by no one
// at deployment; executing an operation never scheduled; moving value between two owners) are
// refused to every actor. The deployer is also the timelock's proposer and canceller and
// RiskConfig's revoker locally (config/networks.ts), so "deployer after hand-over" and "revoker"
// are one actor here.

const ADMIN = ethers.ZeroHash;
const role = (name: string) => ethers.id(name);
const MARKET_ROLE = role("MARKET_ROLE");
const LIQUIDATOR_ROLE = role("LIQUIDATOR_ROLE");
const PAUSER_ROLE = role("PAUSER_ROLE");
const DRAWER_ROLE = role("DRAWER_ROLE");
const RECORDER_ROLE = role("RECORDER_ROLE");
const LISTER_ROLE = role("LISTER_ROLE");
const GUARDIAN_ROLE = role("GUARDIAN_ROLE");
const RISK_KEEPER_ROLE = role("RISK_KEEPER_ROLE");
const REVOKER_ROLE = role("REVOKER_ROLE");
const PROPOSER_ROLE = role("PROPOSER_ROLE");
const CANCELLER_ROLE = role("CANCELLER_ROLE");
/** TimelockController._encodeStateBitmap(OperationState.Ready). */
const READY_BITMAP = ethers.zeroPadValue("0x04", 32);
const MIN_DELAY = BigInt(networkConfig("hardhat").governance.timelockDelay);
const SALT = ethers.zeroPadValue("0xad", 32);
const usdc = (v: string) => ethers.parseUnits(v, 6);
const wad = (v: string) => ethers.parseUnits(v, 18);

/** The people who might attack (everyone but the contracts holding roles). */
const ACTORS = [
  "owner", // alice: owner of the victim account A (and of A2)
  "operator", // aliceBot: operator of A only
  "otherOwner", // bob: owner of account B
  "otherOperator", // carol: operator of bob's B and of alice's other account A2, not of A
  "lp", // an LP with shares and a matured redeem request
  "stranger",
  "keeper", // RISK_KEEPER_ROLE
  "guardian", // GUARDIAN_ROLE
  "deployer", // after the hand-over: timelock proposer / canceller and RiskConfig revoker
] as const;
type Actor = (typeof ACTORS)[number];
/** Contracts that hold roles: they are the allowed callers of the role-gated rows. */
type Holder = Actor | "timelock" | "perps" | "options" | "liquidation" | "riskConfig" | "accounts";

async function governedFixture() {
  const keel = await deployGovernedKeel();
  const signers = await ethers.getSigners();
  const people: Record<Actor, HardhatEthersSigner> = {
    deployer: signers[0],
    lp: signers[1],
    owner: signers[2],
    operator: signers[3],
    otherOwner: signers[4],
    otherOperator: signers[5],
    stranger: signers[6],
    guardian: signers[8],
    keeper: signers[9],
  };
  const c = {
    accounts: keel.accounts,
    pool: keel.pool,
    fund: keel.fund,
    oracle: keel.oracle,
    volatility: keel.volatility,
    riskConfig: keel.riskConfig,
    timelock: keel.timelock,
    perps: await ethers.getContractAt("PerpMarket", (await hre.deployments.get("PerpMarket")).address),
    options: await ethers.getContractAt("OptionMarket", (await hre.deployments.get("OptionMarket")).address),
    liquidation: await ethers.getContractAt(
      "LiquidationEngine",
      (await hre.deployments.get("LiquidationEngine")).address,
    ),
    engine: await ethers.getContractAt("MarginEngine", (await hre.deployments.get("MarginEngine")).address),
  };
  const addr = {
    usdc: await keel.usdc.getAddress(),
    weth: await keel.weth.getAddress(),
    ethFeed: await keel.ethFeed.getAddress(),
    accounts: await c.accounts.getAddress(),
    pool: await c.pool.getAddress(),
    fund: await c.fund.getAddress(),
    perps: await c.perps.getAddress(),
    options: await c.options.getAddress(),
    liquidation: await c.liquidation.getAddress(),
    riskConfig: await c.riskConfig.getAddress(),
    timelock: await c.timelock.getAddress(),
    engine: await c.engine.getAddress(),
  };
  const signer: Record<Holder, HardhatEthersSigner> = { ...people } as Record<Holder, HardhatEthersSigner>;
  for (const name of ["timelock", "perps", "options", "liquidation", "riskConfig", "accounts"] as const) {
    await impersonateAccount(addr[name]);
    await setBalance(addr[name], wad("10"));
    signer[name] = await ethers.getSigner(addr[name]);
  }

  // Accounts: alice's A (the victim: cross, 1,000 USDC, operated by aliceBot) and A2 (operated by
  // carol), bob's B (operated by carol), and one account of every other actor's own.
  const open = async (who: HardhatEthersSigner, deposit: bigint) => {
    const id = await c.accounts.nextAccountId();
    await c.accounts.connect(who).createAccount(0, 0);
    if (deposit > 0n) {
      await keel.usdc.mint(who.address, deposit);
      await keel.usdc.connect(who).approve(addr.accounts, deposit);
      await c.accounts.connect(who).deposit(id, addr.usdc, deposit);
    }
    return id;
  };
  const A = await open(people.owner, usdc("1000"));
  const A2 = await open(people.owner, usdc("1000"));
  const B = await open(people.otherOwner, usdc("1000"));
  await c.accounts.connect(people.owner).setOperator(A, people.operator.address, true);
  await c.accounts.connect(people.owner).setOperator(A2, people.otherOperator.address, true);
  await c.accounts.connect(people.otherOwner).setOperator(B, people.otherOperator.address, true);
  const own: Record<Actor, bigint> = { owner: A2, otherOwner: B } as Record<Actor, bigint>;
  for (const a of ["operator", "otherOperator", "lp", "stranger", "keeper", "guardian", "deployer"] as const) {
    own[a] = await open(people[a], usdc("10"));
  }

  // The LP: 100,000 USDC in the pool, half of its shares in a redeem request past its cooldown.
  await keel.usdc.mint(people.lp.address, usdc("100000"));
  await keel.usdc.connect(people.lp).approve(addr.pool, usdc("100000"));
  await c.pool.connect(people.lp).deposit(usdc("100000"), people.lp.address);
  await c.pool.connect(people.lp).requestRedeem((await c.pool.balanceOf(people.lp.address)) / 2n);
  await time.increase(await c.pool.cooldown());
  const redeemable = await c.pool.maxRedeem(people.lp.address);

  return { ...keel, c, addr, people, signer, A, A2, B, own, redeemable };
}

type F = Awaited<ReturnType<typeof governedFixture>>;

interface Refusal {
  by: BaseContract;
  error: string;
  args: unknown[];
}

interface Row {
  fn: string;
  /** Who may make this call: skipped as attackers, and the positive control's callers. */
  allowed: Holder[];
  args: (f: F, caller: string, who: Holder) => unknown[];
  refusal: (f: F, caller: string, who: Holder) => Refusal;
}

interface Table {
  /** The hardhat-deploy deployment name. */
  deployment: string;
  /** Absent for contracts without rows (views only). */
  contract?: (f: F) => BaseContract;
  rows: Row[];
  /** Non-view functions anyone may call, and why that is safe. */
  permissionless: Record<string, string>;
}

const unauthorized = (by: (f: F) => BaseContract, roleId: string) => (f: F, caller: string) => ({
  by: by(f),
  error: "AccessControlUnauthorizedAccount",
  args: [caller, roleId],
});

/** A function behind `onlyRole(roleId)`. */
const gated = (by: (f: F) => BaseContract, fn: string, roleId: string, allowed: Holder[], args: Row["args"]): Row => ({
  fn,
  allowed,
  args,
  refusal: unauthorized(by, roleId),
});

/** A function behind `onlyRole(DEFAULT_ADMIN_ROLE)`: the timelock only. */
const admin = (by: (f: F) => BaseContract, fn: string, args: Row["args"]): Row =>
  gated(by, fn, ADMIN, ["timelock"], args);

/** grantRole / revokeRole / renounceRole of an AccessControl contract whose `roleId` `holder` holds. */
const roleRows = (by: (f: F) => BaseContract, roleId: string, holder: Holder, holderAddress: (f: F) => string) => [
  admin(by, "grantRole", (_f, caller) => [ADMIN, caller]),
  admin(by, "revokeRole", (f) => [roleId, holderAddress(f)]),
  {
    fn: "renounceRole",
    allowed: [holder],
    args: (f: F) => [roleId, holderAddress(f)],
    refusal: (f: F) => ({ by: by(f), error: "AccessControlBadConfirmation", args: [] }),
  },
];

/** The victim account's owner or operator: NotAuthorized(A, caller) from MarginAccounts for anyone else. */
const accountGated = (fn: string, args: Row["args"]): Row => ({
  fn,
  allowed: ["owner", "operator"],
  args,
  refusal: (f, caller) => ({ by: f.c.accounts, error: "NotAuthorized", args: [f.A, caller] }),
});

const setParameterPayload = (f: F) =>
  f.c.riskConfig.interface.encodeFunctionData("setParameter", [paramIndex("MM_FLOOR"), 1n, wad("0.02")]);

const TABLES: Table[] = [
  {
    deployment: "MarginAccounts",
    contract: (f) => f.c.accounts,
    rows: [
      {
        fn: "setOperator",
        allowed: ["owner"],
        args: (f, caller) => [f.A, caller, true],
        refusal: (f, caller) => ({ by: f.c.accounts, error: "NotAccountOwner", args: [f.A, caller] }),
      },
      accountGated("deposit", (f) => [f.A, f.addr.usdc, 1n]),
      accountGated("withdraw", (f) => [f.A, f.addr.usdc, 1n]),
      // Out of A into the owner's other account: aliceBot operates A but not A2.
      {
        fn: "transfer",
        allowed: ["owner"],
        args: (f) => [f.A, f.A2, f.addr.usdc, 1n],
        refusal: (f, caller, who) => ({
          by: f.c.accounts,
          error: "NotAuthorized",
          args: [who === "operator" ? f.A2 : f.A, caller],
        }),
      },
      // Into A from the caller's own account: A's operator passes both checks but owns neither side.
      {
        fn: "transfer",
        allowed: ["owner"],
        args: (f, _caller, who) => [f.own[who as Actor], f.A, f.addr.usdc, 1n],
        refusal: (f, caller, who) =>
          who === "operator"
            ? { by: f.c.accounts, error: "DifferentOwners", args: [f.own.operator, f.A] }
            : { by: f.c.accounts, error: "NotAuthorized", args: [f.A, caller] },
      },
      // carol operates both A2 (alice's) and B (bob's): she still cannot move value between owners.
      {
        fn: "transfer",
        allowed: [],
        args: (f) => [f.A2, f.B, f.addr.usdc, 1n],
        refusal: (f, caller, who) =>
          who === "otherOperator"
            ? { by: f.c.accounts, error: "DifferentOwners", args: [f.A2, f.B] }
            : { by: f.c.accounts, error: "NotAuthorized", args: who === "owner" ? [f.B, caller] : [f.A2, caller] },
      },
      gated(
        (f) => f.c.accounts,
        "settle",
        MARKET_ROLE,
        ["perps", "options"],
        (f) => [f.A, 1n, 0n],
      ),
      gated(
        (f) => f.c.accounts,
        "touch",
        MARKET_ROLE,
        ["perps", "options"],
        (f, caller) => [f.A, caller],
      ),
      gated(
        (f) => f.c.accounts,
        "settleLiquidation",
        LIQUIDATOR_ROLE,
        ["liquidation"],
        (f) => [f.A, f.B, 0n, 0n, 0n, 0n, 0n],
      ),
      admin(
        (f) => f.c.accounts,
        "setSettlement",
        (f) => [f.addr.pool, f.addr.fund],
      ),
      admin(
        (f) => f.c.accounts,
        "listCollateral",
        (f) => [f.addr.weth, wad("0.5"), 1n],
      ),
      admin(
        (f) => f.c.accounts,
        "setCollateralWeight",
        (f) => [f.addr.weth, wad("0.5")],
      ),
      admin(
        (f) => f.c.accounts,
        "setDepositCap",
        (f) => [f.addr.weth, 1n],
      ),
      // The guardian pauses deposits only through RiskConfig (which refuses the stablecoin).
      gated(
        (f) => f.c.accounts,
        "setDepositPaused",
        PAUSER_ROLE,
        ["riskConfig"],
        (f) => [f.addr.weth, true],
      ),
      admin(
        (f) => f.c.accounts,
        "setHealthCheck",
        () => [ethers.ZeroAddress],
      ),
      admin(
        (f) => f.c.accounts,
        "sweepExcess",
        (f, caller) => [f.addr.usdc, caller],
      ),
      ...roleRows(
        (f) => f.c.accounts,
        LIQUIDATOR_ROLE,
        "liquidation",
        (f) => f.addr.liquidation,
      ),
    ],
    permissionless: {
      createAccount: "creates an account owned by the caller; no other account is touched",
      setWithdrawalRecipient: "sets where the caller's own accounts pay (keyed by msg.sender)",
    },
  },
  {
    deployment: "LiquidityPool",
    contract: (f) => f.c.pool,
    rows: [
      {
        fn: "redeem",
        allowed: ["lp"],
        args: (f, caller) => [f.redeemable, caller, f.people.lp.address],
        refusal: (f, caller) => ({ by: f.c.pool, error: "NotRequestOwner", args: [caller, f.people.lp.address] }),
      },
      {
        fn: "withdraw",
        allowed: ["lp"],
        args: (f, caller) => [1n, caller, f.people.lp.address],
        refusal: (f, caller) => ({ by: f.c.pool, error: "NotRequestOwner", args: [caller, f.people.lp.address] }),
      },
      // Nobody holds an allowance over the LP's shares (the LP included).
      {
        fn: "transferFrom",
        allowed: [],
        args: (f, caller) => [f.people.lp.address, caller, 1n],
        refusal: (f, caller) => ({ by: f.c.pool, error: "ERC20InsufficientAllowance", args: [caller, 0n, 1n] }),
      },
      admin(
        (f) => f.c.pool,
        "setCooldown",
        () => [3600n],
      ),
      admin(
        (f) => f.c.pool,
        "setClaimWindow",
        () => [3600n],
      ),
      admin(
        (f) => f.c.pool,
        "setSettlement",
        () => [ethers.ZeroAddress],
      ),
      admin(
        (f) => f.c.pool,
        "setPnlSource",
        () => [ethers.ZeroAddress],
      ),
      admin(
        (f) => f.c.pool,
        "setOptionSource",
        () => [ethers.ZeroAddress],
      ),
      ...roleRows(
        (f) => f.c.pool,
        ADMIN,
        "timelock",
        (f) => f.addr.timelock,
      ),
    ],
    permissionless: {
      deposit: "the caller's own stablecoin buys shares at the pool's price (virtual-share offset)",
      mint: "as deposit, by share count",
      requestRedeem: "escrows the caller's own shares (keyed by msg.sender)",
      cancelRedeem: "returns the caller's own escrowed shares (keyed by msg.sender)",
      approve: "ERC-20: the caller's own allowance",
      transfer: "ERC-20: the caller's own shares",
    },
  },
  {
    deployment: "InsuranceFund",
    contract: (f) => f.c.fund,
    rows: [
      gated(
        (f) => f.c.fund,
        "draw",
        DRAWER_ROLE,
        ["liquidation"],
        (_f, caller) => [caller, 1n, ethers.encodeBytes32String("X")],
      ),
      gated(
        (f) => f.c.fund,
        "recordInflow",
        RECORDER_ROLE,
        ["accounts"],
        () => [1n, ethers.encodeBytes32String("X")],
      ),
      ...roleRows(
        (f) => f.c.fund,
        DRAWER_ROLE,
        "liquidation",
        (f) => f.addr.liquidation,
      ),
    ],
    permissionless: {
      topUp: "a donation from the caller's own tokens, booked as TOP_UP",
      reconcile: "books tokens the fund already holds (UNTRACKED); pays no one",
    },
  },
  {
    deployment: "PriceOracle",
    contract: (f) => f.c.oracle,
    rows: [
      admin(
        (f) => f.c.oracle,
        "setChainlink",
        (f) => [
          f.addr.weth,
          f.addr.ethFeed,
          3600n,
          300n,
          8n,
          ethers.parseUnits("1", 8),
          ethers.parseUnits("1000000", 8),
        ],
      ),
      admin(
        (f) => f.c.oracle,
        "setTwap",
        (f) => [f.addr.weth, ethers.ZeroAddress, ethers.ZeroAddress, 0n, 0n],
      ),
      admin(
        (f) => f.c.oracle,
        "setGuard",
        (f) => [f.addr.weth, wad("0.03"), wad("0.2"), 3600n, 1800n],
      ),
      ...roleRows(
        (f) => f.c.oracle,
        ADMIN,
        "timelock",
        (f) => f.addr.timelock,
      ),
    ],
    permissionless: {
      poke: "cross-checks the configured sources and can only degrade an asset by the configured rules",
    },
  },
  {
    deployment: "VolatilityOracle",
    contract: (f) => f.c.volatility,
    rows: [
      admin(
        (f) => f.c.volatility,
        "configure",
        (f) => [f.addr.weth, wad("0.94"), wad("0.2"), wad("5"), wad("0.6")],
      ),
      ...roleRows(
        (f) => f.c.volatility,
        ADMIN,
        "timelock",
        (f) => f.addr.timelock,
      ),
    ],
    permissionless: {
      update: "folds the next Chainlink round into the estimate (each round once), clamped to governance bounds",
    },
  },
  {
    deployment: "RiskConfig",
    contract: (f) => f.c.riskConfig,
    rows: [
      admin(
        (f) => f.c.riskConfig,
        "setParameter",
        () => [paramIndex("MM_FLOOR"), 1n, wad("0.02")],
      ),
      admin(
        (f) => f.c.riskConfig,
        "setParameters",
        () => [[paramIndex("MM_FLOOR")], [1n], [wad("0.02")]],
      ),
      admin(
        (f) => f.c.riskConfig,
        "setListener",
        () => [ethers.ZeroAddress],
      ),
      admin(
        (f) => f.c.riskConfig,
        "setGlobalListener",
        () => [ethers.ZeroAddress],
      ),
      admin(
        (f) => f.c.riskConfig,
        "setKeeperLimits",
        () => [
          paramIndex("MAX_OI_LONG"),
          1n,
          { bandMin: 0n, bandMax: 0n, loosenStep: 0n, tightenStep: 0n, window: 0n },
        ],
      ),
      gated(
        (f) => f.c.riskConfig,
        "keeperSetParameter",
        RISK_KEEPER_ROLE,
        ["keeper"],
        () => [paramIndex("MAX_OI_LONG"), 1n, wad("20000")],
      ),
      {
        fn: "setPaused",
        allowed: ["guardian", "timelock"],
        args: () => [0n, 1n, true],
        refusal: (f, caller) => ({ by: f.c.riskConfig, error: "NotGuardian", args: [caller] }),
      },
      // The revoker is the deployer locally (config: revoker = deployer).
      {
        fn: "revokeImmediately",
        allowed: ["deployer", "timelock"],
        args: (f) => [GUARDIAN_ROLE, f.people.guardian.address],
        refusal: unauthorized((f) => f.c.riskConfig, REVOKER_ROLE),
      },
      ...roleRows(
        (f) => f.c.riskConfig,
        GUARDIAN_ROLE,
        "guardian",
        (f) => f.people.guardian.address,
      ),
    ],
    permissionless: {},
  },
  {
    deployment: "PerpMarket",
    contract: (f) => f.c.perps,
    rows: [
      admin(
        (f) => f.c.perps,
        "listMarket",
        (f) => [3n, f.addr.weth],
      ),
      admin(
        (f) => f.c.perps,
        "setMarginEngine",
        (f) => [f.addr.engine],
      ),
      {
        fn: "onMarketParameterChanged",
        allowed: ["riskConfig"],
        args: () => [paramIndex("MM_FLOOR"), 1n, wad("0.02")],
        refusal: (f, caller) => ({ by: f.c.perps, error: "NotRiskConfig", args: [caller] }),
      },
      accountGated("modifyPosition", (f) => [f.A, 1n, wad("1"), ethers.MaxUint256]),
      gated(
        (f) => f.c.perps,
        "transferPositions",
        LIQUIDATOR_ROLE,
        ["liquidation"],
        (f) => [f.A, f.B, wad("1")],
      ),
      ...roleRows(
        (f) => f.c.perps,
        LIQUIDATOR_ROLE,
        "liquidation",
        (f) => f.addr.liquidation,
      ),
    ],
    permissionless: {},
  },
  {
    deployment: "OptionMarket",
    contract: (f) => f.c.options,
    rows: [
      admin(
        (f) => f.c.options,
        "setMarginEngine",
        (f) => [f.addr.engine],
      ),
      // Nobody holds LISTER_ROLE at deployment (governance grants it).
      gated(
        (f) => f.c.options,
        "listSeries",
        LISTER_ROLE,
        [],
        (f) => [f.addr.weth, wad("3000"), 86_400n * 30000n, true],
      ),
      accountGated("tradeOption", (f) => [f.A, 1n, wad("1"), ethers.MaxUint256]),
      admin(
        (f) => f.c.options,
        "settleSeriesByGovernance",
        () => [1n, wad("3000")],
      ),
      gated(
        (f) => f.c.options,
        "transferPositions",
        LIQUIDATOR_ROLE,
        ["liquidation"],
        (f) => [f.A, f.B, wad("1")],
      ),
      ...roleRows(
        (f) => f.c.options,
        LIQUIDATOR_ROLE,
        "liquidation",
        (f) => f.addr.liquidation,
      ),
    ],
    permissionless: {
      settleSeries: "fixes an expired series' price from the oracle round proved to be the first at or after expiry",
      settlePosition: "books a settled position's proved payoff into its own account: equity unchanged",
      refreshExposure: "recomputes the pool's option exposure from public state and the oracle",
    },
  },
  {
    deployment: "LiquidationEngine",
    contract: (f) => f.c.liquidation,
    rows: [
      // Bidding with A (bob's B is the target): only A's owner or operator may bid with A.
      accountGated("liquidate", (f) => [f.B, wad("0.01"), ethers.MaxInt256, f.A, 0n]),
      {
        fn: "onGlobalParameterChanged",
        allowed: ["riskConfig"],
        args: () => [paramIndex("LIQUIDATION_FEE"), wad("0.02")],
        refusal: (f, caller) => ({ by: f.c.liquidation, error: "NotRiskConfig", args: [caller] }),
      },
    ],
    permissionless: {
      startAuction: "only for an account below MM (its fee goes to the insurance fund, nothing to the caller)",
      terminateAuction: "only once the account is back at or above its buffer margin",
      restartAuction: "only once stalled or recovered; no fee, nothing to the caller",
      syncParameters: "copies RiskConfig's current values (governance's) into a new version",
    },
  },
  {
    deployment: "TimelockController",
    contract: (f) => f.c.timelock,
    rows: [
      gated(
        (f) => f.c.timelock,
        "schedule",
        PROPOSER_ROLE,
        ["deployer"],
        (f) => [f.addr.riskConfig, 0n, setParameterPayload(f), ethers.ZeroHash, SALT, MIN_DELAY],
      ),
      gated(
        (f) => f.c.timelock,
        "scheduleBatch",
        PROPOSER_ROLE,
        ["deployer"],
        (f) => [[f.addr.riskConfig], [0n], [setParameterPayload(f)], ethers.ZeroHash, SALT, MIN_DELAY],
      ),
      gated(
        (f) => f.c.timelock,
        "cancel",
        CANCELLER_ROLE,
        ["deployer"],
        () => [SALT],
      ),
      // Anyone executes a READY operation; nobody (the proposer included) one never scheduled.
      {
        fn: "execute",
        allowed: [],
        args: (f) => [f.addr.riskConfig, 0n, setParameterPayload(f), ethers.ZeroHash, SALT],
        refusal: (f) => ({
          by: f.c.timelock,
          error: "TimelockUnexpectedOperationState",
          args: [
            ethers.keccak256(
              ethers.AbiCoder.defaultAbiCoder().encode(
                ["address", "uint256", "bytes", "bytes32", "bytes32"],
                [f.addr.riskConfig, 0n, setParameterPayload(f), ethers.ZeroHash, SALT],
              ),
            ),
            READY_BITMAP,
          ],
        }),
      },
      {
        fn: "executeBatch",
        allowed: [],
        args: (f) => [[f.addr.riskConfig], [0n], [setParameterPayload(f)], ethers.ZeroHash, SALT],
        refusal: (f) => ({
          by: f.c.timelock,
          error: "TimelockUnexpectedOperationState",
          args: [
            ethers.keccak256(
              ethers.AbiCoder.defaultAbiCoder().encode(
                ["address[]", "uint256[]", "bytes[]", "bytes32", "bytes32"],
                [[f.addr.riskConfig], [0n], [setParameterPayload(f)], ethers.ZeroHash, SALT],
              ),
            ),
            READY_BITMAP,
          ],
        }),
      },
      {
        fn: "updateDelay",
        allowed: ["timelock"],
        args: () => [0n],
        refusal: (f, caller) => ({ by: f.c.timelock, error: "TimelockUnauthorizedCaller", args: [caller] }),
      },
      admin(
        (f) => f.c.timelock,
        "grantRole",
        (_f, caller) => [PROPOSER_ROLE, caller],
      ),
      admin(
        (f) => f.c.timelock,
        "revokeRole",
        (f) => [PROPOSER_ROLE, f.people.deployer.address],
      ),
      {
        fn: "renounceRole",
        allowed: ["deployer"],
        args: (f) => [PROPOSER_ROLE, f.people.deployer.address],
        refusal: (f) => ({ by: f.c.timelock, error: "AccessControlBadConfirmation", args: [] }),
      },
    ],
    permissionless: {
      onERC721Received: "token-receiver hook: returns its selector, changes nothing",
      onERC1155Received: "token-receiver hook: returns its selector, changes nothing",
      onERC1155BatchReceived: "token-receiver hook: returns its selector, changes nothing",
    },
  },
  // Views only: a state-changing function added to one of these fails the coverage test.
  { deployment: "MarginEngine", rows: [], permissionless: {} },
  { deployment: "MarginLens", rows: [], permissionless: {} },
  { deployment: "OptionLens", rows: [], permissionless: {} },
  { deployment: "OptionLiability", rows: [], permissionless: {} },
];

/** Deployments that are not Keel's: local mocks and Uniswap v3's own contracts. */
const NOT_KEEL: Record<string, string> = {
  USDC: "MockERC20: the local stand-in for the stablecoin (public mint)",
  WETH: "MockERC20: local stand-in",
  WBTC: "MockERC20: local stand-in",
  "WETH-USD-Feed": "MockAggregator: the local Chainlink feed",
  "WBTC-USD-Feed": "MockAggregator: the local Chainlink feed",
  "Sequencer-Uptime-Feed": "MockAggregator: the local L2 sequencer uptime feed",
  UniswapV3Factory: "Uniswap v3's own factory, deployed from its artifacts",
  "WETH-USDC-Pool": "Uniswap v3's own pool (the TWAP source)",
  "WBTC-USDC-Pool": "Uniswap v3's own pool (the TWAP source)",
  UniswapV3Callee: "local helper that mints and swaps in the Uniswap pools to move TWAPs",
};

/** Names of the non-view, non-pure functions of an ABI. */
async function nonViewFunctions(deployment: string): Promise<string[]> {
  const { abi } = await hre.deployments.get(deployment);
  const names: string[] = [];
  new ethers.Interface(abi).forEachFunction((fragment) => {
    if (fragment.stateMutability !== "view" && fragment.stateMutability !== "pure") names.push(fragment.name);
  });
  return names.sort();
}

/** Runs an assertion and names the call in its failure. */
async function named(what: string, assertion: () => Promise<void>) {
  try {
    await assertion();
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}`);
  }
}

async function attack(f: F, table: Table) {
  if (table.contract === undefined) throw new Error(`${table.deployment}: no contract`);
  const contract = table.contract(f);
  let checked = 0;
  for (const row of table.rows) {
    for (const who of ACTORS) {
      if (row.allowed.includes(who)) continue;
      const caller = f.signer[who];
      const r = row.refusal(f, caller.address, who);
      const call = (contract.connect(caller) as BaseContract)
        .getFunction(row.fn)
        .staticCall(...row.args(f, caller.address, who));
      await named(`${table.deployment}.${row.fn} by ${who}`, () =>
        expect(call)
          .to.be.revertedWithCustomError(r.by, r.error)
          .withArgs(...r.args),
      );
      checked++;
    }
    // Positive control: the allowed callers pass this gate (they may fail later for other reasons).
    for (const who of row.allowed) {
      const caller = f.signer[who];
      const r = row.refusal(f, caller.address, who);
      const call = (contract.connect(caller) as BaseContract)
        .getFunction(row.fn)
        .staticCall(...row.args(f, caller.address, who));
      await named(`${table.deployment}.${row.fn} by ${who} (allowed)`, () =>
        expect(call).not.to.be.revertedWithCustomError(r.by, r.error),
      );
    }
  }
  return checked;
}

describe("Adversarial: access", () => {
  it("covers every non-view function of every deployed contract: a row, or a stated reason it is open to anyone", async () => {
    await loadFixture(governedFixture);
    const deployed = Object.keys(await hre.deployments.all()).sort();
    const classified = [...TABLES.map((t) => t.deployment), ...Object.keys(NOT_KEEL)].sort();
    expect(deployed, "every deployment is in the table or named as not Keel's").to.deep.equal(classified);
    for (const t of TABLES) {
      const covered = [...new Set([...t.rows.map((r) => r.fn), ...Object.keys(t.permissionless)])].sort();
      expect(covered, `${t.deployment}: rows + permissionless = its non-view functions`).to.deep.equal(
        await nonViewFunctions(t.deployment),
      );
      for (const fn of Object.keys(t.permissionless)) {
        expect(
          t.rows.map((r) => r.fn),
          `${t.deployment}.${fn} is either gated or permissionless`,
        ).not.to.include(fn);
      }
    }
  });

  for (const table of TABLES.filter((t) => t.rows.length > 0)) {
    it(`${table.deployment}: every gated function refuses every role that may not call it, with the exact error`, async () => {
      const f = await loadFixture(governedFixture);
      const checked = await attack(f, table);
      const expected = table.rows.reduce((n, r) => n + ACTORS.filter((a) => !r.allowed.includes(a)).length, 0);
      expect(checked).to.equal(expected);
    });
  }

  it("the deployer after the hand-over: no admin role anywhere, and no way around the timelock's delay", async () => {
    const f = await loadFixture(governedFixture);
    const deployer = f.people.deployer;
    // Every AccessControl contract (the others have no admin at all).
    for (const t of TABLES.filter((x) => x.rows.some((r) => r.fn === "grantRole"))) {
      const { address } = await hre.deployments.get(t.deployment);
      const ac = await ethers.getContractAt("AccessControl", address);
      expect(await ac.hasRole(ADMIN, deployer.address), `${t.deployment}: deployer admin`).to.equal(false);
      expect(await ac.hasRole(ADMIN, f.addr.timelock), `${t.deployment}: timelock admin`).to.equal(true);
    }
    const before = await f.c.riskConfig.get(paramIndex("MM_FLOOR"), 1n);
    const payload = setParameterPayload(f);
    const timelock = f.c.timelock.connect(deployer);
    await expect(timelock.schedule(f.addr.riskConfig, 0n, payload, ethers.ZeroHash, SALT, MIN_DELAY - 1n))
      .to.be.revertedWithCustomError(f.c.timelock, "TimelockInsufficientDelay")
      .withArgs(MIN_DELAY - 1n, MIN_DELAY);
    const scheduled = await (
      await timelock.schedule(f.addr.riskConfig, 0n, payload, ethers.ZeroHash, SALT, MIN_DELAY)
    ).wait();
    const at = BigInt((await scheduled!.getBlock()).timestamp);
    const id = await f.c.timelock.hashOperation(f.addr.riskConfig, 0n, payload, ethers.ZeroHash, SALT);
    expect(await f.c.timelock.getTimestamp(id)).to.equal(at + MIN_DELAY);
    // One second before it is ready, from the proposer itself (mined, at that time).
    await time.setNextBlockTimestamp(at + MIN_DELAY - 1n);
    await expect(timelock.execute(f.addr.riskConfig, 0n, payload, ethers.ZeroHash, SALT, { gasLimit: 1_000_000n }))
      .to.be.revertedWithCustomError(f.c.timelock, "TimelockUnexpectedOperationState")
      .withArgs(id, READY_BITMAP);
    expect(await f.c.riskConfig.get(paramIndex("MM_FLOOR"), 1n)).to.equal(before);
  });
});
