import { expect } from "chai";
import { ethers } from "hardhat";
import type { Result } from "ethers";
import { loadFixture, setCode, time } from "@nomicfoundation/hardhat-network-helpers";
import { deployMarkets } from "../scripts/lib/deployment";
import { paramIndex } from "../scripts/lib/params";
import { responder } from "./helpers/rawContracts";

// Money flows between MarginAccounts, the LiquidityPool and the InsuranceFund: settlement of PnL,
// funding and fees, the pool's receivable (settlementDebt), and the wiring setters around them.

const WAD = 10n ** 18n;
const MARKET_ROLE = ethers.id("MARKET_ROLE");
const RECORDER_ROLE = ethers.id("RECORDER_ROLE");
const ADMIN_ROLE = ethers.ZeroHash;
const TRADING_FEE = ethers.encodeBytes32String("TRADING_FEE");
const CROSS = 0n;
const ISOLATED = 1n;
const ETH_MARKET = 1;

const usdc = (v: string) => ethers.parseUnits(v, 6);
const wad = (v: string) => ethers.parseUnits(v, 18);
const feed = (v: string) => ethers.parseUnits(v, 8);

const MINTED = usdc("1000000");
const POOL_SEED = usdc("500000");
const WETH_WEIGHT = wad("0.85");

/**
 * The wired deployment (markets listed, settlement connected) with:
 * - alice, bob, lp and operator holding 1,000,000 USDC (alice also 100 WETH), approving MarginAccounts
 *   and the pool;
 * - lp's 500,000 USDC in the pool;
 * - `market`, a plain signer holding MARKET_ROLE, so settle can be driven directly;
 * - both TWAPs removed and fresh Chainlink rounds (low = high = price = Chainlink);
 * - accounts 1 = alice Cross (operator approved), 2 = alice Isolated on market 1, 3 = bob Cross.
 */
async function settlementFixture() {
  const keel = await deployMarkets();
  const [admin, alice, bob, lp, market, stranger, recorder, operator] = await ethers.getSigners();
  const addr = {
    accounts: await keel.accounts.getAddress(),
    pool: await keel.pool.getAddress(),
    fund: await keel.fund.getAddress(),
    perps: await keel.perps.getAddress(),
    usdc: await keel.usdc.getAddress(),
    weth: await keel.weth.getAddress(),
    wbtc: await keel.wbtc.getAddress(),
  };
  for (const holder of [alice, bob, lp, operator]) {
    await keel.usdc.mint(holder.address, MINTED);
    await keel.usdc.connect(holder).approve(addr.accounts, ethers.MaxUint256);
    await keel.usdc.connect(holder).approve(addr.pool, ethers.MaxUint256);
  }
  await keel.weth.mint(alice.address, wad("100"));
  await keel.weth.connect(alice).approve(addr.accounts, ethers.MaxUint256);
  await keel.pool.connect(lp).deposit(POOL_SEED, lp.address);
  await keel.accounts.connect(admin).grantRole(MARKET_ROLE, market.address);
  await keel.oracle.setTwap(addr.weth, ethers.ZeroAddress, ethers.ZeroAddress, 0, 0);
  await keel.oracle.setTwap(addr.wbtc, ethers.ZeroAddress, ethers.ZeroAddress, 0, 0);
  await keel.ethFeed.push(feed("3000"));
  await keel.btcFeed.push(feed("60000"));
  await keel.accounts.connect(alice).createAccount(CROSS, 0);
  await keel.accounts.connect(alice).createAccount(ISOLATED, ETH_MARKET);
  await keel.accounts.connect(bob).createAccount(CROSS, 0);
  await keel.accounts.connect(alice).setOperator(1, operator.address, true);
  return { ...keel, addr, admin, alice, bob, lp, market, stranger, recorder, operator };
}

type Fixture = Awaited<ReturnType<typeof settlementFixture>>;

/** Every USDC amount the settlement rules touch, read at once. */
async function cash(f: Fixture) {
  return {
    accounts: await f.usdc.balanceOf(f.addr.accounts),
    pool: await f.usdc.balanceOf(f.addr.pool),
    fund: await f.usdc.balanceOf(f.addr.fund),
    fundBooked: await f.fund.balance(),
    deposits: (await f.accounts.collateral(f.addr.usdc)).totalDeposits,
    debt: await f.accounts.settlementDebt(),
  };
}

/** `after - before` field by field. */
function delta(before: Awaited<ReturnType<typeof cash>>, after: Awaited<ReturnType<typeof cash>>) {
  return {
    accounts: after.accounts - before.accounts,
    pool: after.pool - before.pool,
    fund: after.fund - before.fund,
    fundBooked: after.fundBooked - before.fundBooked,
    deposits: after.deposits - before.deposits,
    debt: after.debt - before.debt,
  };
}

const NO_CHANGE = { accounts: 0n, pool: 0n, fund: 0n, fundBooked: 0n, deposits: 0n, debt: 0n };

/**
 * The cash rule: MarginAccounts holds exactly its recorded USDC deposits, which are exactly the
 * sum of positive USDC balances; the negative parts sum to settlementDebt; the fund books all it holds.
 */
async function expectCashInvariant(f: Fixture) {
  const n = await f.accounts.nextAccountId();
  let positive = 0n;
  let negative = 0n;
  for (let id = 1n; id < n; id++) {
    const b = await f.accounts.balanceOf(id, f.addr.usdc);
    if (b > 0n) positive += b;
    else negative -= b;
  }
  const c = await cash(f);
  expect(c.accounts, "USDC held by MarginAccounts vs totalDeposits").to.equal(c.deposits);
  expect(c.deposits, "totalDeposits vs sum of positive balances").to.equal(positive);
  expect(c.debt, "settlementDebt vs sum of negative balances").to.equal(negative);
  expect(c.fund, "fund holdings vs booked balance").to.equal(c.fundBooked);
}

const ceilDiv = (a: bigint, b: bigint) => (a >= 0n ? (a + b - 1n) / b : a / b);
const floorDiv = (a: bigint, b: bigint) => (a >= 0n || a % b === 0n ? a / b : a / b - 1n);

/** PerpMath.fundingVelocity. */
function fundingVelocity(skew: bigint, skewScale: bigint, maxVelocity: bigint) {
  let proportional = (skew * WAD) / skewScale;
  if (proportional > WAD) proportional = WAD;
  if (proportional < -WAD) proportional = -WAD;
  return (proportional * maxVelocity) / WAD;
}

/** PerpMath.accrueFunding (BigInt division truncates toward zero, as Solidity's does). */
function accrueFunding(rate: bigint, velocity: bigint, elapsed: bigint, maxRate: bigint): [bigint, bigint] {
  const day = 86400n;
  if (rate > maxRate) rate = maxRate;
  if (rate < -maxRate) rate = -maxRate;
  const unclamped = rate + (velocity * elapsed) / day;
  if (unclamped <= maxRate && unclamped >= -maxRate) return [unclamped, ((rate + unclamped) * elapsed) / (2n * day)];
  const bound = unclamped > maxRate ? maxRate : -maxRate;
  const toBound = ((bound - rate) * day) / velocity;
  return [bound, ((rate + bound) * toBound) / (2n * day) + (bound * (elapsed - toBound)) / day];
}

/** A struct read from a contract as a plain object keyed by field name (independent of field order). */
const named = (r: object): Record<string, unknown> => (r as Result).toObject();

const latestTimestamp = async () => BigInt((await ethers.provider.getBlock("latest"))!.timestamp);

describe("Settlement", () => {
  describe("MarginAccounts.settle", () => {
    it("reverts AccessControlUnauthorizedAccount for callers without MARKET_ROLE, the admin included", async () => {
      const f = await loadFixture(settlementFixture);
      for (const caller of [f.stranger, f.admin, f.alice]) {
        await expect(f.accounts.connect(caller).settle(1, usdc("1"), 0))
          .to.be.revertedWithCustomError(f.accounts, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, MARKET_ROLE);
      }
      expect(await f.accounts.hasRole(MARKET_ROLE, f.addr.perps)).to.equal(true);
    });

    it("reverts SettlementNotConfigured while no pool is set", async () => {
      const f = await loadFixture(settlementFixture);
      // A second MarginAccounts: listed settlement token, never connected to a pool.
      const fresh = await ethers.deployContract("MarginAccounts", [f.admin.address, f.addr.usdc, usdc("1000000")]);
      await fresh.grantRole(MARKET_ROLE, f.market.address);
      expect(await fresh.pool()).to.equal(ethers.ZeroAddress);
      for (const amount of [usdc("5"), -usdc("5"), 0n]) {
        await expect(fresh.connect(f.market).settle(1, amount, 0)).to.be.revertedWithCustomError(
          fresh,
          "SettlementNotConfigured",
        );
      }
      await expect(fresh.connect(f.market).settle(1, 0, 1)).to.be.revertedWithCustomError(
        fresh,
        "SettlementNotConfigured",
      );
    });

    it("pays a positive amount into a zero balance from the pool's cash", async () => {
      const f = await loadFixture(settlementFixture);
      const before = await cash(f);
      await expect(f.accounts.connect(f.market).settle(3, usdc("250"), 0))
        .to.emit(f.accounts, "Settled")
        .withArgs(3n, usdc("250"), 0n, 0n)
        .and.to.emit(f.usdc, "Transfer")
        .withArgs(f.addr.pool, f.addr.accounts, usdc("250"))
        .and.not.to.emit(f.fund, "Inflow");
      expect(delta(before, await cash(f))).to.deep.equal({
        ...NO_CHANGE,
        accounts: usdc("250"),
        pool: -usdc("250"),
        deposits: usdc("250"),
      });
      expect(await f.accounts.balanceOf(3, f.addr.usdc)).to.equal(usdc("250"));
      await expectCashInvariant(f);
    });

    it("pays a positive amount and the insurance share both from the pool, booking the share in the fund", async () => {
      const f = await loadFixture(settlementFixture);
      await f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdc("40"));
      const before = await cash(f);
      await expect(f.accounts.connect(f.market).settle(1, usdc("100"), usdc("7")))
        .to.emit(f.accounts, "Settled")
        .withArgs(1n, usdc("100"), usdc("7"), 0n)
        .and.to.emit(f.fund, "Inflow")
        .withArgs(f.addr.accounts, TRADING_FEE, usdc("7"), usdc("7"));
      expect(delta(before, await cash(f))).to.deep.equal({
        accounts: usdc("100"),
        pool: -usdc("107"),
        fund: usdc("7"),
        fundBooked: usdc("7"),
        deposits: usdc("100"),
        debt: 0n,
      });
      expect(await f.accounts.balanceOf(1, f.addr.usdc)).to.equal(usdc("140"));
      await expectCashInvariant(f);
    });

    it("takes a negative amount from a positive balance in cash: the insurance share straight to the fund, the rest to the pool", async () => {
      const f = await loadFixture(settlementFixture);
      await f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdc("1000"));
      const before = await cash(f);
      const tx = f.accounts.connect(f.market).settle(1, -usdc("100"), usdc("20"));
      await expect(tx).to.emit(f.accounts, "Settled").withArgs(1n, -usdc("100"), usdc("20"), 0n);
      await expect(tx).to.emit(f.usdc, "Transfer").withArgs(f.addr.accounts, f.addr.fund, usdc("20"));
      await expect(tx).to.emit(f.usdc, "Transfer").withArgs(f.addr.accounts, f.addr.pool, usdc("80"));
      await expect(tx).to.emit(f.fund, "Inflow").withArgs(f.addr.accounts, TRADING_FEE, usdc("20"), usdc("20"));
      expect(delta(before, await cash(f))).to.deep.equal({
        accounts: -usdc("100"),
        pool: usdc("80"),
        fund: usdc("20"),
        fundBooked: usdc("20"),
        deposits: -usdc("100"),
        debt: 0n,
      });
      expect(await f.accounts.balanceOf(1, f.addr.usdc)).to.equal(usdc("900"));
      await expectCashInvariant(f);
    });

    it("sends the whole cash part to the fund and has the pool pay the rest of the share when the share exceeds the cash", async () => {
      const f = await loadFixture(settlementFixture);
      await f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdc("30"));
      const before = await cash(f);
      // 30 -> -20: 30 leaves in cash (all of it insurance), 20 becomes debt, the pool pays 10 of the share.
      const tx = f.accounts.connect(f.market).settle(1, -usdc("50"), usdc("40"));
      await expect(tx).to.emit(f.accounts, "Settled").withArgs(1n, -usdc("50"), usdc("40"), usdc("20"));
      await expect(tx).to.emit(f.usdc, "Transfer").withArgs(f.addr.accounts, f.addr.fund, usdc("30"));
      await expect(tx).to.emit(f.usdc, "Transfer").withArgs(f.addr.pool, f.addr.fund, usdc("10"));
      await expect(tx).to.emit(f.fund, "Inflow").withArgs(f.addr.accounts, TRADING_FEE, usdc("40"), usdc("40"));
      expect(delta(before, await cash(f))).to.deep.equal({
        accounts: -usdc("30"),
        pool: -usdc("10"),
        fund: usdc("40"),
        fundBooked: usdc("40"),
        deposits: -usdc("30"),
        debt: usdc("20"),
      });
      expect(await f.accounts.balanceOf(1, f.addr.usdc)).to.equal(-usdc("20"));
      await expectCashInvariant(f);
    });

    it("moves only the positive part in cash when a settle takes the balance negative, and books the rest as debt", async () => {
      const f = await loadFixture(settlementFixture);
      await f.accounts.connect(f.bob).deposit(3, f.addr.usdc, usdc("50"));
      const before = await cash(f);
      const tx = f.accounts.connect(f.market).settle(3, -usdc("80"), 0);
      await expect(tx).to.emit(f.accounts, "Settled").withArgs(3n, -usdc("80"), 0n, usdc("30"));
      await expect(tx).to.emit(f.usdc, "Transfer").withArgs(f.addr.accounts, f.addr.pool, usdc("50"));
      await expect(tx).not.to.emit(f.fund, "Inflow");
      expect(delta(before, await cash(f))).to.deep.equal({
        ...NO_CHANGE,
        accounts: -usdc("50"),
        pool: usdc("50"),
        deposits: -usdc("50"),
        debt: usdc("30"),
      });
      expect(await f.accounts.balanceOf(3, f.addr.usdc)).to.equal(-usdc("30"));
      await expectCashInvariant(f);
    });

    it("books a negative amount on a zero or negative balance as debt only, the pool paying the insurance share", async () => {
      const f = await loadFixture(settlementFixture);
      let before = await cash(f);
      await expect(f.accounts.connect(f.market).settle(3, -usdc("30"), 0))
        .to.emit(f.accounts, "Settled")
        .withArgs(3n, -usdc("30"), 0n, usdc("30"))
        .and.not.to.emit(f.usdc, "Transfer");
      expect(delta(before, await cash(f))).to.deep.equal({ ...NO_CHANGE, debt: usdc("30") });
      await expectCashInvariant(f);

      before = await cash(f);
      const tx = f.accounts.connect(f.market).settle(3, -usdc("10"), usdc("3"));
      await expect(tx).to.emit(f.accounts, "Settled").withArgs(3n, -usdc("10"), usdc("3"), usdc("10"));
      await expect(tx).to.emit(f.usdc, "Transfer").withArgs(f.addr.pool, f.addr.fund, usdc("3"));
      await expect(tx).to.emit(f.fund, "Inflow").withArgs(f.addr.accounts, TRADING_FEE, usdc("3"), usdc("3"));
      expect(delta(before, await cash(f))).to.deep.equal({
        ...NO_CHANGE,
        pool: -usdc("3"),
        fund: usdc("3"),
        fundBooked: usdc("3"),
        debt: usdc("10"),
      });
      expect(await f.accounts.balanceOf(3, f.addr.usdc)).to.equal(-usdc("40"));
      await expectCashInvariant(f);
    });

    it("cancels debt first when a positive amount reaches a negative balance, paying out only what crosses zero", async () => {
      const f = await loadFixture(settlementFixture);
      await f.accounts.connect(f.market).settle(3, -usdc("30"), 0);
      // Within the debt: no cash moves.
      let before = await cash(f);
      await expect(f.accounts.connect(f.market).settle(3, usdc("10"), 0))
        .to.emit(f.accounts, "Settled")
        .withArgs(3n, usdc("10"), 0n, -usdc("10"))
        .and.not.to.emit(f.usdc, "Transfer");
      expect(delta(before, await cash(f))).to.deep.equal({ ...NO_CHANGE, debt: -usdc("10") });
      expect(await f.accounts.balanceOf(3, f.addr.usdc)).to.equal(-usdc("20"));
      await expectCashInvariant(f);
      // Across zero: -20 + 50 = 30 paid out by the pool.
      before = await cash(f);
      await expect(f.accounts.connect(f.market).settle(3, usdc("50"), 0))
        .to.emit(f.accounts, "Settled")
        .withArgs(3n, usdc("50"), 0n, -usdc("20"))
        .and.to.emit(f.usdc, "Transfer")
        .withArgs(f.addr.pool, f.addr.accounts, usdc("30"));
      expect(delta(before, await cash(f))).to.deep.equal({
        ...NO_CHANGE,
        accounts: usdc("30"),
        pool: -usdc("30"),
        deposits: usdc("30"),
        debt: -usdc("20"),
      });
      expect(await f.accounts.balanceOf(3, f.addr.usdc)).to.equal(usdc("30"));
      await expectCashInvariant(f);
    });

    it("settles an insurance share alone (amount 0) from the pool", async () => {
      const f = await loadFixture(settlementFixture);
      const before = await cash(f);
      await expect(f.accounts.connect(f.market).settle(1, 0, 5))
        .to.emit(f.accounts, "Settled")
        .withArgs(1n, 0n, 5n, 0n)
        .and.to.emit(f.fund, "Inflow")
        .withArgs(f.addr.accounts, TRADING_FEE, 5n, 5n);
      expect(delta(before, await cash(f))).to.deep.equal({ ...NO_CHANGE, pool: -5n, fund: 5n, fundBooked: 5n });
      await expectCashInvariant(f);
    });
  });

  describe("repaying the pool", () => {
    it("sends the repaid part of a deposit into a negative balance to the pool and counts only the rest as deposits", async () => {
      const f = await loadFixture(settlementFixture);
      await f.accounts.connect(f.market).settle(1, -usdc("30"), 0);
      // Smaller than the debt: all of it repays.
      let before = await cash(f);
      const small = f.accounts.connect(f.operator).deposit(1, f.addr.usdc, usdc("10"));
      await expect(small).to.emit(f.accounts, "Settled").withArgs(1n, 0n, 0n, -usdc("10"));
      await expect(small).to.emit(f.accounts, "Deposited").withArgs(1n, f.addr.usdc, f.operator.address, usdc("10"));
      await expect(small).to.emit(f.usdc, "Transfer").withArgs(f.addr.accounts, f.addr.pool, usdc("10"));
      expect(delta(before, await cash(f))).to.deep.equal({ ...NO_CHANGE, pool: usdc("10"), debt: -usdc("10") });
      expect(await f.accounts.balanceOf(1, f.addr.usdc)).to.equal(-usdc("20"));
      await expectCashInvariant(f);
      // Larger: 20 repays, 80 is deposited.
      before = await cash(f);
      const large = f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdc("100"));
      await expect(large).to.emit(f.accounts, "Settled").withArgs(1n, 0n, 0n, -usdc("20"));
      await expect(large).to.emit(f.accounts, "Deposited").withArgs(1n, f.addr.usdc, f.alice.address, usdc("100"));
      expect(delta(before, await cash(f))).to.deep.equal({
        ...NO_CHANGE,
        accounts: usdc("80"),
        pool: usdc("20"),
        deposits: usdc("80"),
        debt: -usdc("20"),
      });
      expect(await f.accounts.balanceOf(1, f.addr.usdc)).to.equal(usdc("80"));
      await expectCashInvariant(f);
      // Positive now: a further deposit repays nothing.
      before = await cash(f);
      await expect(f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdc("5"))).not.to.emit(f.accounts, "Settled");
      expect(delta(before, await cash(f))).to.deep.equal({ ...NO_CHANGE, accounts: usdc("5"), deposits: usdc("5") });
      await expectCashInvariant(f);
    });

    it("does not repay the pool with a deposit of another collateral", async () => {
      const f = await loadFixture(settlementFixture);
      await f.accounts.connect(f.market).settle(1, -usdc("30"), 0);
      const before = await cash(f);
      await expect(f.accounts.connect(f.alice).deposit(1, f.addr.weth, wad("1"))).not.to.emit(f.accounts, "Settled");
      expect(delta(before, await cash(f))).to.deep.equal(NO_CHANGE);
      expect(await f.accounts.balanceOf(1, f.addr.usdc)).to.equal(-usdc("30"));
      await expectCashInvariant(f);
    });

    it("sends the repaid part of a same-owner transfer into a negative balance to the pool", async () => {
      const f = await loadFixture(settlementFixture);
      await f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdc("500"));
      await f.accounts.connect(f.market).settle(2, -usdc("30"), 0);
      // Within the debt.
      let before = await cash(f);
      const small = f.accounts.connect(f.alice).transfer(1, 2, f.addr.usdc, usdc("10"));
      await expect(small).to.emit(f.accounts, "Settled").withArgs(2n, 0n, 0n, -usdc("10"));
      await expect(small).to.emit(f.accounts, "Transferred").withArgs(1n, 2n, f.addr.usdc, usdc("10"));
      await expect(small).to.emit(f.usdc, "Transfer").withArgs(f.addr.accounts, f.addr.pool, usdc("10"));
      expect(delta(before, await cash(f))).to.deep.equal({
        ...NO_CHANGE,
        accounts: -usdc("10"),
        pool: usdc("10"),
        deposits: -usdc("10"),
        debt: -usdc("10"),
      });
      expect(await f.accounts.balanceOf(1, f.addr.usdc)).to.equal(usdc("490"));
      expect(await f.accounts.balanceOf(2, f.addr.usdc)).to.equal(-usdc("20"));
      await expectCashInvariant(f);
      // Across zero: 20 repays, 80 stays in the contract as account 2's balance.
      before = await cash(f);
      const large = f.accounts.connect(f.alice).transfer(1, 2, f.addr.usdc, usdc("100"));
      await expect(large).to.emit(f.accounts, "Settled").withArgs(2n, 0n, 0n, -usdc("20"));
      expect(delta(before, await cash(f))).to.deep.equal({
        ...NO_CHANGE,
        accounts: -usdc("20"),
        pool: usdc("20"),
        deposits: -usdc("20"),
        debt: -usdc("20"),
      });
      expect(await f.accounts.balanceOf(1, f.addr.usdc)).to.equal(usdc("390"));
      expect(await f.accounts.balanceOf(2, f.addr.usdc)).to.equal(usdc("80"));
      await expectCashInvariant(f);
      // Between positive balances nothing leaves the contract.
      before = await cash(f);
      await expect(f.accounts.connect(f.alice).transfer(2, 1, f.addr.usdc, usdc("80"))).not.to.emit(
        f.accounts,
        "Settled",
      );
      expect(delta(before, await cash(f))).to.deep.equal(NO_CHANGE);
      await expectCashInvariant(f);
    });

    it("sweeps only genuine excess after settlements, repayments and a donation", async () => {
      const f = await loadFixture(settlementFixture);
      await f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdc("100"));
      await f.accounts.connect(f.market).settle(1, -usdc("130"), usdc("9"));
      await f.accounts.connect(f.market).settle(3, usdc("12.5"), 0);
      await f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdc("50"));
      await expectCashInvariant(f);
      await expect(f.accounts.sweepExcess(f.addr.usdc, f.stranger.address))
        .to.be.revertedWithCustomError(f.accounts, "NothingToSweep")
        .withArgs(f.addr.usdc);

      await f.usdc.connect(f.bob).transfer(f.addr.accounts, usdc("7"));
      const held = await f.usdc.balanceOf(f.addr.accounts);
      await expect(f.accounts.sweepExcess(f.addr.usdc, f.stranger.address))
        .to.emit(f.accounts, "ExcessSwept")
        .withArgs(f.addr.usdc, f.stranger.address, usdc("7"));
      expect(await f.usdc.balanceOf(f.stranger.address)).to.equal(usdc("7"));
      expect(await f.usdc.balanceOf(f.addr.accounts)).to.equal(held - usdc("7"));
      expect(await f.accounts.balanceOf(1, f.addr.usdc)).to.equal(usdc("20"));
      expect(await f.accounts.balanceOf(3, f.addr.usdc)).to.equal(usdc("12.5"));
      await expectCashInvariant(f);
    });
  });

  describe("MarginAccounts views", () => {
    it("marginData returns the record and only the non-zero balances, with decimals and weights, in listing order", async () => {
      const f = await loadFixture(settlementFixture);
      const asPlain = async (id: number) => {
        const [a, held] = await f.accounts.marginData(id);
        return [[a.owner, a.mode, a.marketId], held.map((h) => [h.token, h.balance, h.decimals, h.weight])];
      };
      expect(await asPlain(1)).to.deep.equal([[f.alice.address, CROSS, 0n], []]);
      expect(await asPlain(99)).to.deep.equal([[ethers.ZeroAddress, 0n, 0n], []]);

      await f.accounts.connect(f.alice).deposit(1, f.addr.weth, wad("2"));
      expect(await asPlain(1)).to.deep.equal([
        [f.alice.address, CROSS, 0n],
        [[f.addr.weth, wad("2"), 18n, WETH_WEIGHT]],
      ]);

      await f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdc("1000"));
      expect(await asPlain(1)).to.deep.equal([
        [f.alice.address, CROSS, 0n],
        [
          [f.addr.usdc, usdc("1000"), 6n, WAD],
          [f.addr.weth, wad("2"), 18n, WETH_WEIGHT],
        ],
      ]);

      // A negative USDC balance is reported as it is.
      await f.accounts.connect(f.market).settle(2, -usdc("30"), 0);
      expect(await asPlain(2)).to.deep.equal([[f.alice.address, ISOLATED, 1n], [[f.addr.usdc, -usdc("30"), 6n, WAD]]]);

      // Back to zero: dropped.
      await f.accounts.connect(f.alice).withdraw(1, f.addr.weth, wad("2"));
      await f.accounts.connect(f.market).settle(2, usdc("30"), 0);
      expect(await asPlain(1)).to.deep.equal([[f.alice.address, CROSS, 0n], [[f.addr.usdc, usdc("1000"), 6n, WAD]]]);
      expect(await asPlain(2)).to.deep.equal([[f.alice.address, ISOLATED, 1n], []]);
    });

    it("authorize reverts UnknownAccount and NotAuthorized, and returns the record for the owner and an operator", async () => {
      const f = await loadFixture(settlementFixture);
      for (const id of [0n, 4n, 99n]) {
        await expect(f.accounts.authorize(id, f.alice.address))
          .to.be.revertedWithCustomError(f.accounts, "UnknownAccount")
          .withArgs(id);
      }
      await expect(f.accounts.authorize(1, f.bob.address))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(1n, f.bob.address);
      // The operator of account 1 is not one of account 2.
      await expect(f.accounts.authorize(2, f.operator.address))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(2n, f.operator.address);
      const plain = (a: { owner: string; mode: bigint; marketId: bigint }) => [a.owner, a.mode, a.marketId];
      expect(plain(await f.accounts.authorize(1, f.alice.address))).to.deep.equal([f.alice.address, CROSS, 0n]);
      expect(plain(await f.accounts.authorize(1, f.operator.address))).to.deep.equal([f.alice.address, CROSS, 0n]);
      expect(plain(await f.accounts.authorize(2, f.alice.address))).to.deep.equal([f.alice.address, ISOLATED, 1n]);
      expect(plain(await f.accounts.authorize(3, f.bob.address))).to.deep.equal([f.bob.address, CROSS, 0n]);

      await f.accounts.connect(f.alice).setOperator(1, f.operator.address, false);
      await expect(f.accounts.authorize(1, f.operator.address))
        .to.be.revertedWithCustomError(f.accounts, "NotAuthorized")
        .withArgs(1n, f.operator.address);
    });
  });

  describe("InsuranceFund.recordInflow", () => {
    it("reverts AccessControlUnauthorizedAccount without RECORDER_ROLE, the admin included", async () => {
      const f = await loadFixture(settlementFixture);
      await f.usdc.connect(f.bob).transfer(f.addr.fund, usdc("10"));
      for (const caller of [f.stranger, f.admin]) {
        await expect(f.fund.connect(caller).recordInflow(usdc("10"), TRADING_FEE))
          .to.be.revertedWithCustomError(f.fund, "AccessControlUnauthorizedAccount")
          .withArgs(caller.address, RECORDER_ROLE);
      }
      expect(await f.fund.hasRole(RECORDER_ROLE, f.addr.accounts)).to.equal(true);
    });

    it("reverts ZeroAmount, and TransferAmountMismatch(amount, unbooked) beyond what is unbooked", async () => {
      const f = await loadFixture(settlementFixture);
      await f.fund.grantRole(RECORDER_ROLE, f.recorder.address);
      const source = ethers.encodeBytes32String("TEST");
      await expect(f.fund.connect(f.recorder).recordInflow(0, source)).to.be.revertedWithCustomError(
        f.fund,
        "ZeroAmount",
      );
      await expect(f.fund.connect(f.recorder).recordInflow(1, source))
        .to.be.revertedWithCustomError(f.fund, "TransferAmountMismatch")
        .withArgs(1n, 0n);
      // A booked settlement inflow is not unbooked.
      await f.accounts.connect(f.market).settle(1, 0, usdc("3"));
      await f.usdc.connect(f.bob).transfer(f.addr.fund, usdc("10"));
      await expect(f.fund.connect(f.recorder).recordInflow(usdc("10") + 1n, source))
        .to.be.revertedWithCustomError(f.fund, "TransferAmountMismatch")
        .withArgs(usdc("10") + 1n, usdc("10"));
      expect(await f.fund.balance()).to.equal(usdc("3"));
    });

    it("books up to the unbooked amount and emits Inflow(caller, source, amount, balanceAfter)", async () => {
      const f = await loadFixture(settlementFixture);
      await f.fund.grantRole(RECORDER_ROLE, f.recorder.address);
      await f.accounts.connect(f.market).settle(1, 0, usdc("3"));
      await f.usdc.connect(f.bob).transfer(f.addr.fund, usdc("10"));
      const a = ethers.encodeBytes32String("A");
      const b = ethers.encodeBytes32String("B");
      await expect(f.fund.connect(f.recorder).recordInflow(usdc("4"), a))
        .to.emit(f.fund, "Inflow")
        .withArgs(f.recorder.address, a, usdc("4"), usdc("7"));
      expect(await f.fund.balance()).to.equal(usdc("7"));
      await expect(f.fund.connect(f.recorder).recordInflow(usdc("6"), b))
        .to.emit(f.fund, "Inflow")
        .withArgs(f.recorder.address, b, usdc("6"), usdc("13"));
      expect(await f.fund.balance()).to.equal(await f.usdc.balanceOf(f.addr.fund));
      await expect(f.fund.connect(f.recorder).recordInflow(1, b))
        .to.be.revertedWithCustomError(f.fund, "TransferAmountMismatch")
        .withArgs(1n, 0n);
    });
  });

  describe("LiquidityPool.setSettlement", () => {
    it("is admin only and refuses an address without code", async () => {
      const f = await loadFixture(settlementFixture);
      await expect(f.pool.connect(f.stranger).setSettlement(f.addr.fund))
        .to.be.revertedWithCustomError(f.pool, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, ADMIN_ROLE);
      await expect(f.pool.setSettlement(f.stranger.address))
        .to.be.revertedWithCustomError(f.pool, "NotAContract")
        .withArgs(f.stranger.address);
      expect(await f.pool.settlementSpender()).to.equal(f.addr.accounts);
      expect(await f.usdc.allowance(f.addr.pool, f.addr.accounts)).to.equal(ethers.MaxUint256);
    });

    it("approves the new spender for the maximum and revokes the previous one", async () => {
      const f = await loadFixture(settlementFixture);
      const next = await ethers.deployContract("MarginAccounts", [f.admin.address, f.addr.usdc, usdc("1")]);
      const nextAddress = await next.getAddress();
      await expect(f.pool.setSettlement(nextAddress))
        .to.emit(f.pool, "SettlementSet")
        .withArgs(f.addr.accounts, nextAddress);
      expect(await f.pool.settlementSpender()).to.equal(nextAddress);
      expect(await f.usdc.allowance(f.addr.pool, nextAddress)).to.equal(ethers.MaxUint256);
      expect(await f.usdc.allowance(f.addr.pool, f.addr.accounts)).to.equal(0n);
      // The old spender can no longer pull a profit out of the pool.
      await expect(f.accounts.connect(f.market).settle(3, usdc("1"), 0))
        .to.be.revertedWithCustomError(f.usdc, "ERC20InsufficientAllowance")
        .withArgs(f.addr.accounts, 0n, usdc("1"));

      await expect(f.pool.setSettlement(ethers.ZeroAddress))
        .to.emit(f.pool, "SettlementSet")
        .withArgs(nextAddress, ethers.ZeroAddress);
      expect(await f.pool.settlementSpender()).to.equal(ethers.ZeroAddress);
      expect(await f.usdc.allowance(f.addr.pool, nextAddress)).to.equal(0n);

      await expect(f.pool.setSettlement(f.addr.accounts))
        .to.emit(f.pool, "SettlementSet")
        .withArgs(ethers.ZeroAddress, f.addr.accounts);
      expect(await f.usdc.allowance(f.addr.pool, f.addr.accounts)).to.equal(ethers.MaxUint256);
      await f.accounts.connect(f.market).settle(3, usdc("1"), 0);
      expect(await f.accounts.balanceOf(3, f.addr.usdc)).to.equal(usdc("1"));
    });
  });

  describe("RiskConfig.setListener", () => {
    const TAKER_FEE = paramIndex("TAKER_FEE");
    const LIQUIDATION_FEE = paramIndex("LIQUIDATION_FEE");
    const IMPLIED_VOL = paramIndex("IMPLIED_VOL");

    it("is admin only, refuses an address without code and emits ListenerSet", async () => {
      const f = await loadFixture(settlementFixture);
      await expect(f.riskConfig.connect(f.stranger).setListener(f.addr.fund))
        .to.be.revertedWithCustomError(f.riskConfig, "AccessControlUnauthorizedAccount")
        .withArgs(f.stranger.address, ADMIN_ROLE);
      await expect(f.riskConfig.setListener(f.stranger.address))
        .to.be.revertedWithCustomError(f.riskConfig, "NotAContract")
        .withArgs(f.stranger.address);
      expect(await f.riskConfig.listener()).to.equal(f.addr.perps);
      await expect(f.riskConfig.setListener(ethers.ZeroAddress))
        .to.emit(f.riskConfig, "ListenerSet")
        .withArgs(f.addr.perps, ethers.ZeroAddress);
      expect(await f.riskConfig.listener()).to.equal(ethers.ZeroAddress);
      // Without a listener, market parameters are stored but not pushed.
      const before = await f.perps.marketConfig(ETH_MARKET);
      await expect(f.riskConfig.setParameter(TAKER_FEE, ETH_MARKET, wad("0.0008"))).not.to.emit(
        f.perps,
        "MarketConfigUpdated",
      );
      expect(await f.riskConfig.get(TAKER_FEE, ETH_MARKET)).to.equal(wad("0.0008"));
      expect(await f.perps.marketConfig(ETH_MARKET)).to.deep.equal(before);
      await expect(f.riskConfig.setListener(f.addr.perps))
        .to.emit(f.riskConfig, "ListenerSet")
        .withArgs(ethers.ZeroAddress, f.addr.perps);
    });

    it("pushes a market-scoped parameter to PerpMarket in the same transaction", async () => {
      const f = await loadFixture(settlementFixture);
      const eth = await f.perps.marketConfig(ETH_MARKET);
      const btc = await f.perps.marketConfig(2);
      expect(eth.takerFee).to.equal(wad("0.0006"));
      const tx = f.riskConfig.setParameter(TAKER_FEE, ETH_MARKET, wad("0.0008"));
      await expect(tx)
        .to.emit(f.riskConfig, "ParameterSet")
        .withArgs(TAKER_FEE, ETH_MARKET, wad("0.0006"), wad("0.0008"), f.admin.address);
      await expect(tx).to.emit(f.perps, "MarketConfigUpdated");
      const after = await f.perps.marketConfig(ETH_MARKET);
      expect(after.takerFee).to.equal(wad("0.0008"));
      // Every other field, and the other market, unchanged.
      expect(named(after)).to.deep.equal({ ...named(eth), takerFee: wad("0.0008") });
      expect(named(await f.perps.marketConfig(2))).to.deep.equal(named(btc));
    });

    it("does not call the listener for a global or an underlying-scoped parameter", async () => {
      const f = await loadFixture(settlementFixture);
      // A listener that reverts on every call: any call to it would fail the setter.
      const probe = ethers.Wallet.createRandom().address;
      await setCode(probe, responder([], { reverts: "0x" }));
      await expect(f.riskConfig.setListener(probe)).to.emit(f.riskConfig, "ListenerSet").withArgs(f.addr.perps, probe);
      await expect(f.riskConfig.setParameter(LIQUIDATION_FEE, 0, wad("0.03")))
        .to.emit(f.riskConfig, "ParameterSet")
        .withArgs(LIQUIDATION_FEE, 0n, wad("0.02"), wad("0.03"), f.admin.address);
      await expect(f.riskConfig.setParameter(IMPLIED_VOL, f.addr.weth, wad("0.9"))).to.emit(
        f.riskConfig,
        "ParameterSet",
      );
      // Control: a market-scoped parameter does call it.
      await expect(f.riskConfig.setParameter(TAKER_FEE, ETH_MARKET, wad("0.0008"))).to.be.revertedWithoutReason();

      // With PerpMarket listening again, the global parameter leaves every market config as it was.
      await f.riskConfig.setListener(f.addr.perps);
      const before = [await f.perps.marketConfig(1), await f.perps.marketConfig(2)];
      await expect(f.riskConfig.setParameter(LIQUIDATION_FEE, 0, wad("0.04"))).not.to.emit(
        f.perps,
        "MarketConfigUpdated",
      );
      expect([await f.perps.marketConfig(1), await f.perps.marketConfig(2)]).to.deep.equal(before);
    });
  });

  describe("PerpMarket.tradersUnrealizedPnl", () => {
    /**
     * The brief's formula for one market, at the latest block's timestamp (view calls run there):
     * ceil(skew x P) - openCost - (floor(skew x index) - fundingSnapshotSum), index accrued to now
     * at the oracle price, rounded up to USDC units, minus settlementDebt.
     */
    async function expectedPnl(f: Fixture, price: bigint) {
      const s = await f.perps.marketState(ETH_MARKET);
      const c = await f.perps.marketConfig(ETH_MARKET);
      const skew = s.oiLong - s.oiShort;
      const elapsed = (await latestTimestamp()) - s.lastFundingTime;
      const velocity = fundingVelocity(skew, c.skewScale, c.maxFundingVelocity);
      const [, rateDays] = accrueFunding(s.fundingRate, velocity, elapsed, c.maxFundingRate);
      const index = s.fundingIndex + floorDiv(rateDays * price, WAD);
      const total = ceilDiv(skew * price, WAD) - s.openCost - (floorDiv(skew * index, WAD) - s.fundingSnapshotSum);
      const units = total >= 0n ? ceilDiv(total, 10n ** 12n) : total / 10n ** 12n;
      return { units: units - (await f.accounts.settlementDebt()), index, total };
    }

    it("equals the hand-computed formula after price moves, with debt, and sets the pool's totalAssets", async () => {
      const f = await loadFixture(settlementFixture);
      const SKEW_SCALE = wad("1000000");
      await f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdc("100000"));
      await f.accounts.connect(f.bob).deposit(3, f.addr.usdc, usdc("50000"));
      expect(await f.pool.tradersUnrealizedPnl()).to.equal(0n);
      expect(await f.pool.totalAssets()).to.equal(POOL_SEED);

      // Alice buys 10 ETH at 3000 on an empty book: fill = 3000 x (2e6 + 10) / 2e6 = 3000.015.
      const fill = (wad("3000") * (2n * SKEW_SCALE + wad("10")) + 2n * SKEW_SCALE - 1n) / (2n * SKEW_SCALE);
      expect(fill).to.equal(wad("3000.015"));
      await expect(f.perps.connect(f.alice).modifyPosition(1, ETH_MARKET, wad("10"), ethers.MaxUint256))
        .to.emit(f.perps, "PositionModified")
        .withArgs(1n, ETH_MARKET, wad("10"), fill, wad("10"), 0n, 0n, wad("18.00009"), -18000090n);
      expect(named(await f.perps.position(1, ETH_MARKET))).to.deep.equal({
        size: wad("10"),
        cost: wad("30000.15"),
        fundingSnapshot: 0n,
      });

      const opened = (await f.perps.marketState(ETH_MARKET)).lastFundingTime;
      expect(named(await f.perps.marketState(ETH_MARKET))).to.deep.equal({
        oiLong: wad("10"),
        oiShort: 0n,
        fundingIndex: 0n,
        fundingRate: 0n,
        lastFundingTime: opened,
        openCost: wad("30000.15"),
        fundingSnapshotSum: 0n,
      });

      // Eight hours later ETH is at 3300; bob owes the pool 25 USDC.
      await time.increase(8 * 3600);
      await f.ethFeed.push(feed("3300"));
      await f.accounts.connect(f.market).settle(3, -usdc("50025"), 0);
      expect(await f.accounts.settlementDebt()).to.equal(usdc("25"));

      // By hand: skew 10 of 1e6 -> velocity trunc(1e13 x 3) = 3e13 / day from rate 0, over `elapsed` s.
      let elapsed = (await latestTimestamp()) - opened;
      let rate = (wad("0.00003") * elapsed) / 86400n;
      let rateDays = (rate * elapsed) / (2n * 86400n);
      let index = (rateDays * wad("3300")) / WAD;
      expect(index > 0n).to.equal(true);
      // 10 x 3300 - 30000.15 - 10 x index, rounded up to units, minus the 25 USDC bob owes the pool.
      let total = wad("33000") - wad("30000.15") - (wad("10") * index) / WAD;
      let units = ceilDiv(total, 10n ** 12n) - usdc("25");
      expect(await f.perps.tradersUnrealizedPnl()).to.equal(units);
      expect(await f.pool.tradersUnrealizedPnl()).to.equal(units);
      expect(await f.pool.totalAssets()).to.equal((await f.usdc.balanceOf(f.addr.pool)) - units);
      expect((await expectedPnl(f, wad("3300"))).units).to.equal(units);

      // Bob (repaying first) shorts 25 ETH at 3300 into skew 10: funding accrues to his trade first.
      await f.accounts.connect(f.bob).deposit(3, f.addr.usdc, usdc("50025"));
      expect(await f.accounts.settlementDebt()).to.equal(0n);
      const tx = await f.perps.connect(f.bob).modifyPosition(3, ETH_MARKET, -wad("25"), 0);
      const traded = BigInt((await tx.getBlock())!.timestamp);
      elapsed = traded - opened;
      rate = (wad("0.00003") * elapsed) / 86400n;
      rateDays = (rate * elapsed) / (2n * 86400n);
      const index1 = (rateDays * wad("3300")) / WAD;
      await expect(tx).to.emit(f.perps, "FundingAccrued").withArgs(ETH_MARKET, index1, rate, wad("10"));
      const rate1 = rate;
      // Sell fill: floor(3300 x (2e6 + 20 - 25) / 2e6).
      const bobFill = (wad("3300") * (2n * SKEW_SCALE + wad("20") - wad("25"))) / (2n * SKEW_SCALE);
      const bobCost = ceilDiv(-wad("25") * bobFill, WAD); // toward +infinity
      expect(named(await f.perps.position(3, ETH_MARKET))).to.deep.equal({
        size: -wad("25"),
        cost: bobCost,
        fundingSnapshot: index1,
      });

      // Five hours later ETH is at 2900; skew -15 -> velocity trunc(-1.5e13 x 3) = -4.5e13 / day.
      await time.increase(5 * 3600);
      await f.ethFeed.push(feed("2900"));
      elapsed = (await latestTimestamp()) - traded;
      [rate, rateDays] = accrueFunding(rate1, -wad("0.000045"), elapsed, wad("0.1"));
      index = index1 + floorDiv(rateDays * wad("2900"), WAD);
      // Skew -15 valued at 2900 (low = high); costs 30000.15 + bobCost; snapshots 10 x 0 and -25 x index1.
      total =
        ceilDiv(-wad("15") * wad("2900"), WAD) -
        (wad("30000.15") + bobCost) -
        (floorDiv(-wad("15") * index, WAD) - floorDiv(-wad("25") * index1, WAD));
      units = total >= 0n ? ceilDiv(total, 10n ** 12n) : total / 10n ** 12n;
      expect(await f.perps.tradersUnrealizedPnl()).to.equal(units);
      expect(await f.pool.totalAssets()).to.equal((await f.usdc.balanceOf(f.addr.pool)) - units);
      const e = await expectedPnl(f, wad("2900"));
      expect([e.units, e.index]).to.deep.equal([units, index]);
      // The position view agrees with the aggregate (sum of both positions' PnL, before rounding).
      const risks = [...(await f.perps.accountRisk(1)), ...(await f.perps.accountRisk(3))];
      const sumPnl = risks.reduce((acc, r) => acc + r.pnl, 0n);
      expect(e.total - sumPnl >= -4n && e.total - sumPnl <= 4n, `${e.total} vs ${sumPnl}`).to.equal(true);
    });
  });
});
