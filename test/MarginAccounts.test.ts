import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { deployKeel } from "../scripts/lib/deployment";
import type { MarginAccounts, MockERC20 } from "../typechain-types";

const CROSS = 0n;
const ISOLATED = 1n;
const ADMIN_ROLE = ethers.ZeroHash;
const WAD = ethers.parseUnits("1", 18);
const MIN_WEIGHT = ethers.parseUnits("0.05", 18);
const MAX_WEIGHT = ethers.parseUnits("0.95", 18);
const MAX_CAP = 2n ** 96n - 1n;

const usdcUnits = (v: string) => ethers.parseUnits(v, 6);
const wethUnits = (v: string) => ethers.parseUnits(v, 18);
const wbtcUnits = (v: string) => ethers.parseUnits(v, 8);

// Deployed caps and weights, from config/networks.ts (local).
const USDC_CAP = usdcUnits("100000000");
const WETH_CAP = wethUnits("50000");
const WBTC_CAP = wbtcUnits("2000");
const WETH_WEIGHT = ethers.parseUnits("0.85", 18);
const WBTC_WEIGHT = ethers.parseUnits("0.8", 18);

// What each of alice, bob and operator holds at the start of every test.
const USDC_MINT = usdcUnits("1000000");
const WETH_MINT = wethUnits("100");
const WBTC_MINT = wbtcUnits("10");

/** The real deployment, with alice, bob and operator funded and approving MarginAccounts. No accounts yet. */
async function fundedKeel() {
  const keel = await deployKeel();
  const [admin, alice, bob, operator, stranger, recipient] = await ethers.getSigners();
  const funding: [MockERC20, bigint][] = [
    [keel.usdc, USDC_MINT],
    [keel.weth, WETH_MINT],
    [keel.wbtc, WBTC_MINT],
  ];
  for (const [token, amount] of funding) {
    for (const holder of [alice, bob, operator]) {
      await token.mint(holder.address, amount);
      await token.connect(holder).approve(await keel.accounts.getAddress(), ethers.MaxUint256);
    }
  }
  const addr = {
    accounts: await keel.accounts.getAddress(),
    usdc: await keel.usdc.getAddress(),
    weth: await keel.weth.getAddress(),
    wbtc: await keel.wbtc.getAddress(),
  };
  return { ...keel, addr, admin, alice, bob, operator, stranger, recipient };
}

/**
 * fundedKeel plus three accounts: 1 = alice Cross, 2 = alice Isolated on market 7, 3 = bob Cross;
 * `operator` is approved on account 1 only.
 */
async function keelWithAccounts() {
  const f = await loadFixture(fundedKeel);
  await f.accounts.connect(f.alice).createAccount(CROSS, 0);
  await f.accounts.connect(f.alice).createAccount(ISOLATED, 7);
  await f.accounts.connect(f.bob).createAccount(CROSS, 0);
  await f.accounts.connect(f.alice).setOperator(1, f.operator.address, true);
  return f;
}

async function deployToken(decimals: number, symbol = "TKN") {
  const factory = await ethers.getContractFactory("MockERC20");
  const token = await factory.deploy(`Mock ${symbol}`, symbol, decimals);
  return { token, address: await token.getAddress() };
}

async function collateralOf(accounts: MarginAccounts, token: string) {
  const c = await accounts.collateral(token);
  return [c.totalDeposits, c.cap, c.decimals, c.listed, c.weight];
}

async function accountOf(accounts: MarginAccounts, id: bigint | number) {
  const a = await accounts.account(id);
  return [a.owner, a.mode, a.marketId];
}

describe("MarginAccounts", () => {
  describe("constructor", () => {
    it("reverts ZeroAddress when the admin is the zero address", async () => {
      const { addr } = await loadFixture(fundedKeel);
      const factory = await ethers.getContractFactory("MarginAccounts");
      await expect(factory.deploy(ethers.ZeroAddress, addr.usdc, USDC_CAP)).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
    });

    it("reverts ZeroAddress when the settlement token is the zero address", async () => {
      const { admin } = await loadFixture(fundedKeel);
      const factory = await ethers.getContractFactory("MarginAccounts");
      await expect(factory.deploy(admin.address, ethers.ZeroAddress, USDC_CAP)).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
    });

    it("reverts CapOutOfBounds when the settlement cap is above 2^96 - 1", async () => {
      const { admin, addr } = await loadFixture(fundedKeel);
      const factory = await ethers.getContractFactory("MarginAccounts");
      await expect(factory.deploy(admin.address, addr.usdc, MAX_CAP + 1n))
        .to.be.revertedWithCustomError(factory, "CapOutOfBounds")
        .withArgs(addr.usdc, MAX_CAP + 1n, MAX_CAP);
    });

    it("grants the admin role to the given admin only and lists the settlement token at weight 1", async () => {
      const { admin, stranger, addr } = await loadFixture(fundedKeel);
      const factory = await ethers.getContractFactory("MarginAccounts");
      const fresh = await factory.deploy(stranger.address, addr.usdc, usdcUnits("5"));
      await expect(fresh.deploymentTransaction())
        .to.emit(fresh, "CollateralListed")
        .withArgs(addr.usdc, 6n, WAD, usdcUnits("5"));
      expect(await fresh.hasRole(ADMIN_ROLE, stranger.address)).to.equal(true);
      expect(await fresh.hasRole(ADMIN_ROLE, admin.address)).to.equal(false);
      expect(await fresh.settlementToken()).to.equal(addr.usdc);
      expect(await fresh.collateralTokens()).to.deep.equal([addr.usdc]);
      expect(await collateralOf(fresh, addr.usdc)).to.deep.equal([0n, usdcUnits("5"), 6n, true, WAD]);
      expect(await fresh.nextAccountId()).to.equal(1n);
      expect(await fresh.healthCheck()).to.equal(ethers.ZeroAddress);
    });
  });

  describe("createAccount", () => {
    it("creates a Cross account on market 0 owned by the caller and emits AccountCreated", async () => {
      const { accounts, alice } = await loadFixture(fundedKeel);
      await expect(accounts.connect(alice).createAccount(CROSS, 0))
        .to.emit(accounts, "AccountCreated")
        .withArgs(1n, alice.address, CROSS, 0n);
      expect(await accountOf(accounts, 1)).to.deep.equal([alice.address, CROSS, 0n]);
    });

    it("creates an Isolated account bound to the market it names", async () => {
      const { accounts, bob } = await loadFixture(fundedKeel);
      await expect(accounts.connect(bob).createAccount(ISOLATED, 42))
        .to.emit(accounts, "AccountCreated")
        .withArgs(1n, bob.address, ISOLATED, 42n);
      expect(await accountOf(accounts, 1)).to.deep.equal([bob.address, ISOLATED, 42n]);
    });

    it("numbers accounts from 1 upwards in creation order, across owners", async () => {
      const { accounts, alice, bob } = await loadFixture(fundedKeel);
      expect(await accounts.nextAccountId()).to.equal(1n);
      expect(await accounts.connect(alice).createAccount.staticCall(CROSS, 0)).to.equal(1n);
      await expect(accounts.connect(alice).createAccount(CROSS, 0))
        .to.emit(accounts, "AccountCreated")
        .withArgs(1n, alice.address, CROSS, 0n);
      await expect(accounts.connect(bob).createAccount(ISOLATED, 3))
        .to.emit(accounts, "AccountCreated")
        .withArgs(2n, bob.address, ISOLATED, 3n);
      await expect(accounts.connect(alice).createAccount(ISOLATED, 3))
        .to.emit(accounts, "AccountCreated")
        .withArgs(3n, alice.address, ISOLATED, 3n);
      expect(await accounts.nextAccountId()).to.equal(4n);
      expect(await accountOf(accounts, 1)).to.deep.equal([alice.address, CROSS, 0n]);
      expect(await accountOf(accounts, 2)).to.deep.equal([bob.address, ISOLATED, 3n]);
      expect(await accountOf(accounts, 3)).to.deep.equal([alice.address, ISOLATED, 3n]);
    });

    it("reverts InvalidMarketId when a Cross account names a market", async () => {
      const { accounts, alice } = await loadFixture(fundedKeel);
      await expect(accounts.connect(alice).createAccount(CROSS, 5))
        .to.be.revertedWithCustomError(accounts, "InvalidMarketId")
        .withArgs(CROSS, 5n);
      expect(await accounts.nextAccountId()).to.equal(1n);
    });

    it("reverts InvalidMarketId when an Isolated account names no market", async () => {
      const { accounts, alice } = await loadFixture(fundedKeel);
      await expect(accounts.connect(alice).createAccount(ISOLATED, 0))
        .to.be.revertedWithCustomError(accounts, "InvalidMarketId")
        .withArgs(ISOLATED, 0n);
      expect(await accounts.nextAccountId()).to.equal(1n);
    });

    it("returns a zero record for an account id never created", async () => {
      const { accounts } = await loadFixture(keelWithAccounts);
      expect(await accountOf(accounts, 4)).to.deep.equal([ethers.ZeroAddress, 0n, 0n]);
      expect(await accountOf(accounts, 0)).to.deep.equal([ethers.ZeroAddress, 0n, 0n]);
    });
  });

  describe("setOperator", () => {
    it("lets the owner approve an operator, emitting OperatorSet, after which the operator is authorized", async () => {
      const { accounts, alice, operator } = await loadFixture(keelWithAccounts);
      expect(await accounts.isAuthorized(2, operator.address)).to.equal(false);
      await expect(accounts.connect(alice).setOperator(2, operator.address, true))
        .to.emit(accounts, "OperatorSet")
        .withArgs(2n, operator.address, true);
      expect(await accounts.isAuthorized(2, operator.address)).to.equal(true);
    });

    it("lets the owner revoke an operator, who then can no longer act for the account", async () => {
      const { accounts, alice, operator, addr } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(alice).setOperator(1, operator.address, false))
        .to.emit(accounts, "OperatorSet")
        .withArgs(1n, operator.address, false);
      expect(await accounts.isAuthorized(1, operator.address)).to.equal(false);
      await expect(accounts.connect(operator).deposit(1, addr.usdc, 1))
        .to.be.revertedWithCustomError(accounts, "NotAuthorized")
        .withArgs(1n, operator.address);
    });

    it("reverts NotAccountOwner when an approved operator tries to approve another operator", async () => {
      const { accounts, operator, stranger } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(operator).setOperator(1, stranger.address, true))
        .to.be.revertedWithCustomError(accounts, "NotAccountOwner")
        .withArgs(1n, operator.address);
      expect(await accounts.isAuthorized(1, stranger.address)).to.equal(false);
    });

    it("reverts NotAccountOwner when another owner or a stranger sets an operator", async () => {
      const { accounts, bob, stranger } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(bob).setOperator(1, bob.address, true))
        .to.be.revertedWithCustomError(accounts, "NotAccountOwner")
        .withArgs(1n, bob.address);
      await expect(accounts.connect(stranger).setOperator(99, stranger.address, true))
        .to.be.revertedWithCustomError(accounts, "NotAccountOwner")
        .withArgs(99n, stranger.address);
    });

    it("reverts ZeroAddress when the operator is the zero address", async () => {
      const { accounts, alice } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(alice).setOperator(1, ethers.ZeroAddress, true)).to.be.revertedWithCustomError(
        accounts,
        "ZeroAddress",
      );
    });

    it("isAuthorized is true only for the owner and its operators, and false for anyone on an unknown account", async () => {
      const { accounts, alice, bob, operator, stranger } = await loadFixture(keelWithAccounts);
      expect(await accounts.isAuthorized(1, alice.address)).to.equal(true);
      expect(await accounts.isAuthorized(1, operator.address)).to.equal(true);
      expect(await accounts.isAuthorized(2, alice.address)).to.equal(true);
      expect(await accounts.isAuthorized(2, operator.address)).to.equal(false); // approved on account 1 only
      expect(await accounts.isAuthorized(1, bob.address)).to.equal(false);
      expect(await accounts.isAuthorized(1, stranger.address)).to.equal(false);
      expect(await accounts.isAuthorized(1, ethers.ZeroAddress)).to.equal(false);
      expect(await accounts.isAuthorized(3, alice.address)).to.equal(false);
      expect(await accounts.isAuthorized(99, alice.address)).to.equal(false);
      expect(await accounts.isAuthorized(99, ethers.ZeroAddress)).to.equal(false);
    });
  });

  describe("withdrawal recipient", () => {
    it("reverts InvalidRecipient when the recipient is the accounts contract itself", async () => {
      const { accounts, alice } = await loadFixture(keelWithAccounts);
      const self = await accounts.getAddress();
      await expect(accounts.connect(alice).setWithdrawalRecipient(self))
        .to.be.revertedWithCustomError(accounts, "InvalidRecipient")
        .withArgs(self);
      expect(await accounts.withdrawalRecipient(alice.address)).to.equal(alice.address);
    });

    it("defaults to the owner itself", async () => {
      const { accounts, alice, stranger } = await loadFixture(keelWithAccounts);
      expect(await accounts.withdrawalRecipient(alice.address)).to.equal(alice.address);
      expect(await accounts.withdrawalRecipient(stranger.address)).to.equal(stranger.address);
    });

    it("emits WithdrawalRecipientSet and pays every withdrawal of the owner's accounts to the recipient", async () => {
      const { accounts, usdc, weth, alice, recipient, addr } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(alice).setWithdrawalRecipient(recipient.address))
        .to.emit(accounts, "WithdrawalRecipientSet")
        .withArgs(alice.address, recipient.address);
      expect(await accounts.withdrawalRecipient(alice.address)).to.equal(recipient.address);

      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("1000"));
      await accounts.connect(alice).deposit(2, addr.weth, wethUnits("2"));
      await expect(accounts.connect(alice).withdraw(1, addr.usdc, usdcUnits("400")))
        .to.emit(accounts, "Withdrawn")
        .withArgs(1n, addr.usdc, recipient.address, usdcUnits("400"));
      await expect(accounts.connect(alice).withdraw(2, addr.weth, wethUnits("0.5")))
        .to.emit(accounts, "Withdrawn")
        .withArgs(2n, addr.weth, recipient.address, wethUnits("0.5"));

      expect(await usdc.balanceOf(recipient.address)).to.equal(usdcUnits("400"));
      expect(await weth.balanceOf(recipient.address)).to.equal(wethUnits("0.5"));
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT - usdcUnits("1000"));
      expect(await weth.balanceOf(alice.address)).to.equal(WETH_MINT - wethUnits("2"));
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("600"));
      expect(await accounts.balanceOf(2, addr.weth)).to.equal(wethUnits("1.5"));
    });

    it("pays an operator's withdrawal to the owner, never to the operator", async () => {
      const { accounts, usdc, alice, operator, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("1000"));
      await expect(accounts.connect(operator).withdraw(1, addr.usdc, usdcUnits("250")))
        .to.emit(accounts, "Withdrawn")
        .withArgs(1n, addr.usdc, alice.address, usdcUnits("250"));
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT - usdcUnits("1000") + usdcUnits("250"));
      expect(await usdc.balanceOf(operator.address)).to.equal(USDC_MINT);
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("750"));
    });

    it("pays an operator's withdrawal to the owner's recipient when one is set", async () => {
      const { accounts, usdc, alice, operator, recipient, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).setWithdrawalRecipient(recipient.address);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("1000"));
      await expect(accounts.connect(operator).withdraw(1, addr.usdc, usdcUnits("250")))
        .to.emit(accounts, "Withdrawn")
        .withArgs(1n, addr.usdc, recipient.address, usdcUnits("250"));
      expect(await usdc.balanceOf(recipient.address)).to.equal(usdcUnits("250"));
      expect(await usdc.balanceOf(operator.address)).to.equal(USDC_MINT);
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT - usdcUnits("1000"));
    });

    it("does not let an operator redirect the owner's withdrawals by setting its own recipient", async () => {
      const { accounts, usdc, alice, operator, addr } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(operator).setWithdrawalRecipient(operator.address))
        .to.emit(accounts, "WithdrawalRecipientSet")
        .withArgs(operator.address, operator.address);
      expect(await accounts.withdrawalRecipient(alice.address)).to.equal(alice.address);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await accounts.connect(operator).withdraw(1, addr.usdc, usdcUnits("100"));
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT);
      expect(await usdc.balanceOf(operator.address)).to.equal(USDC_MINT);
    });

    it("pays the owner again once the recipient is reset to the zero address", async () => {
      const { accounts, usdc, alice, recipient, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).setWithdrawalRecipient(recipient.address);
      await expect(accounts.connect(alice).setWithdrawalRecipient(ethers.ZeroAddress))
        .to.emit(accounts, "WithdrawalRecipientSet")
        .withArgs(alice.address, ethers.ZeroAddress);
      expect(await accounts.withdrawalRecipient(alice.address)).to.equal(alice.address);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await expect(accounts.connect(alice).withdraw(1, addr.usdc, usdcUnits("100")))
        .to.emit(accounts, "Withdrawn")
        .withArgs(1n, addr.usdc, alice.address, usdcUnits("100"));
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT);
      expect(await usdc.balanceOf(recipient.address)).to.equal(0n);
    });
  });

  describe("deposit", () => {
    it("pulls USDC from the owner into the account, raises totalDeposits and emits Deposited", async () => {
      const { accounts, usdc, alice, addr } = await loadFixture(keelWithAccounts);
      const amount = usdcUnits("1234.567891");
      await expect(accounts.connect(alice).deposit(1, addr.usdc, amount))
        .to.emit(accounts, "Deposited")
        .withArgs(1n, addr.usdc, alice.address, amount);
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(amount);
      expect(await accounts.balanceOf(2, addr.usdc)).to.equal(0n);
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT - amount);
      expect(await usdc.balanceOf(addr.accounts)).to.equal(amount);
      expect(await collateralOf(accounts, addr.usdc)).to.deep.equal([amount, USDC_CAP, 6n, true, WAD]);
    });

    it("pulls the tokens from the operator's wallet, not the owner's, when an operator deposits", async () => {
      const { accounts, usdc, alice, operator, addr } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(operator).deposit(1, addr.usdc, usdcUnits("250")))
        .to.emit(accounts, "Deposited")
        .withArgs(1n, addr.usdc, operator.address, usdcUnits("250"));
      expect(await usdc.balanceOf(operator.address)).to.equal(USDC_MINT - usdcUnits("250"));
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT);
      expect(await usdc.balanceOf(addr.accounts)).to.equal(usdcUnits("250"));
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("250"));
    });

    it("credits 18-decimal WETH and 8-decimal WBTC in each token's own units", async () => {
      const { accounts, weth, wbtc, alice, addr } = await loadFixture(keelWithAccounts);
      const wethAmount = wethUnits("1.234567890123456789");
      const wbtcAmount = wbtcUnits("0.12345678");
      await expect(accounts.connect(alice).deposit(2, addr.weth, wethAmount))
        .to.emit(accounts, "Deposited")
        .withArgs(2n, addr.weth, alice.address, wethAmount);
      await expect(accounts.connect(alice).deposit(2, addr.wbtc, wbtcAmount))
        .to.emit(accounts, "Deposited")
        .withArgs(2n, addr.wbtc, alice.address, wbtcAmount);
      expect(await accounts.balanceOf(2, addr.weth)).to.equal(1234567890123456789n);
      expect(await accounts.balanceOf(2, addr.wbtc)).to.equal(12345678n);
      expect(await weth.balanceOf(alice.address)).to.equal(WETH_MINT - wethAmount);
      expect(await wbtc.balanceOf(alice.address)).to.equal(WBTC_MINT - wbtcAmount);
      expect(await weth.balanceOf(addr.accounts)).to.equal(wethAmount);
      expect(await wbtc.balanceOf(addr.accounts)).to.equal(wbtcAmount);
      expect(await collateralOf(accounts, addr.weth)).to.deep.equal([wethAmount, WETH_CAP, 18n, true, WETH_WEIGHT]);
      expect(await collateralOf(accounts, addr.wbtc)).to.deep.equal([wbtcAmount, WBTC_CAP, 8n, true, WBTC_WEIGHT]);
    });

    it("sums totalDeposits over every account and owner", async () => {
      const { accounts, alice, bob, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await accounts.connect(alice).deposit(2, addr.usdc, usdcUnits("30"));
      await accounts.connect(bob).deposit(3, addr.usdc, usdcUnits("50"));
      expect((await accounts.collateral(addr.usdc)).totalDeposits).to.equal(usdcUnits("180"));
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("100"));
      expect(await accounts.balanceOf(2, addr.usdc)).to.equal(usdcUnits("30"));
      expect(await accounts.balanceOf(3, addr.usdc)).to.equal(usdcUnits("50"));
    });

    it("reverts ZeroAmount for a deposit of zero", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(alice).deposit(1, addr.usdc, 0)).to.be.revertedWithCustomError(
        accounts,
        "ZeroAmount",
      );
    });

    it("reverts UnknownToken for a token that is not listed", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      const { token, address } = await deployToken(18, "UNL");
      await token.mint(alice.address, wethUnits("10"));
      await token.connect(alice).approve(addr.accounts, ethers.MaxUint256);
      await expect(accounts.connect(alice).deposit(1, address, wethUnits("1")))
        .to.be.revertedWithCustomError(accounts, "UnknownToken")
        .withArgs(address);
      expect(await token.balanceOf(alice.address)).to.equal(wethUnits("10"));
      expect(await token.balanceOf(addr.accounts)).to.equal(0n);
    });

    it("reverts UnknownAccount for an account id never created", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(alice).deposit(4, addr.usdc, usdcUnits("1")))
        .to.be.revertedWithCustomError(accounts, "UnknownAccount")
        .withArgs(4n);
    });

    it("reverts NotAuthorized for a caller that is neither the owner nor an operator", async () => {
      const { accounts, usdc, bob, stranger, addr } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(stranger).deposit(1, addr.usdc, usdcUnits("1")))
        .to.be.revertedWithCustomError(accounts, "NotAuthorized")
        .withArgs(1n, stranger.address);
      await expect(accounts.connect(bob).deposit(1, addr.usdc, usdcUnits("1")))
        .to.be.revertedWithCustomError(accounts, "NotAuthorized")
        .withArgs(1n, bob.address);
      expect(await usdc.balanceOf(bob.address)).to.equal(USDC_MINT);
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(0n);
    });

    it("reverts DepositCapExceeded with the room left, and accepts a deposit that fills the cap exactly", async () => {
      const { accounts, wbtc, admin, alice, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.wbtc, wbtcUnits("3"));
      await accounts.connect(admin).setDepositCap(addr.wbtc, wbtcUnits("5"));

      await expect(accounts.connect(alice).deposit(1, addr.wbtc, wbtcUnits("2") + 1n))
        .to.be.revertedWithCustomError(accounts, "DepositCapExceeded")
        .withArgs(addr.wbtc, wbtcUnits("2") + 1n, wbtcUnits("2"));

      await accounts.connect(alice).deposit(1, addr.wbtc, wbtcUnits("2"));
      expect((await accounts.collateral(addr.wbtc)).totalDeposits).to.equal(wbtcUnits("5"));
      expect(await accounts.balanceOf(1, addr.wbtc)).to.equal(wbtcUnits("5"));

      await expect(accounts.connect(alice).deposit(1, addr.wbtc, 1))
        .to.be.revertedWithCustomError(accounts, "DepositCapExceeded")
        .withArgs(addr.wbtc, 1n, 0n);
      expect(await wbtc.balanceOf(alice.address)).to.equal(WBTC_MINT - wbtcUnits("5"));
    });

    it("reverts DepositCapExceeded with the whole cap as room when nothing is deposited yet", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(alice).deposit(1, addr.usdc, USDC_CAP + 1n))
        .to.be.revertedWithCustomError(accounts, "DepositCapExceeded")
        .withArgs(addr.usdc, USDC_CAP + 1n, USDC_CAP);
    });

    it("reverts DepositCapExceeded with room 0 once the cap is lowered below current deposits, while withdrawals still work", async () => {
      const { accounts, wbtc, admin, alice, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.wbtc, wbtcUnits("3"));
      await accounts.connect(admin).setDepositCap(addr.wbtc, wbtcUnits("1"));

      await expect(accounts.connect(alice).deposit(1, addr.wbtc, 1))
        .to.be.revertedWithCustomError(accounts, "DepositCapExceeded")
        .withArgs(addr.wbtc, 1n, 0n);

      await accounts.connect(alice).withdraw(1, addr.wbtc, wbtcUnits("2.5"));
      expect(await accounts.balanceOf(1, addr.wbtc)).to.equal(wbtcUnits("0.5"));
      expect(await collateralOf(accounts, addr.wbtc)).to.deep.equal([
        wbtcUnits("0.5"),
        wbtcUnits("1"),
        8n,
        true,
        WBTC_WEIGHT,
      ]);
      expect(await wbtc.balanceOf(alice.address)).to.equal(WBTC_MINT - wbtcUnits("0.5"));

      // Back under the cap, the room is what is left of it again.
      await expect(accounts.connect(alice).deposit(1, addr.wbtc, wbtcUnits("0.5") + 1n))
        .to.be.revertedWithCustomError(accounts, "DepositCapExceeded")
        .withArgs(addr.wbtc, wbtcUnits("0.5") + 1n, wbtcUnits("0.5"));
    });

    it("refuses a fee-on-transfer token with TransferAmountMismatch and moves no tokens", async () => {
      const { accounts, admin, alice, addr } = await loadFixture(keelWithAccounts);
      const fot = await (await ethers.getContractFactory("FeeOnTransferToken")).deploy(100); // 1% fee
      const fotAddress = await fot.getAddress();
      await expect(accounts.connect(admin).listCollateral(fotAddress, WAD / 2n, wethUnits("1000000")))
        .to.emit(accounts, "CollateralListed")
        .withArgs(fotAddress, 18n, WAD / 2n, wethUnits("1000000"));
      await fot.mint(alice.address, wethUnits("1000"));
      await fot.connect(alice).approve(addr.accounts, ethers.MaxUint256);

      await expect(accounts.connect(alice).deposit(1, fotAddress, wethUnits("100")))
        .to.be.revertedWithCustomError(accounts, "TransferAmountMismatch")
        .withArgs(fotAddress, wethUnits("100"), wethUnits("99"));

      expect(await fot.balanceOf(alice.address)).to.equal(wethUnits("1000"));
      expect(await fot.balanceOf(addr.accounts)).to.equal(0n);
      expect(await accounts.balanceOf(1, fotAddress)).to.equal(0n);
      expect((await accounts.collateral(fotAddress)).totalDeposits).to.equal(0n);
    });

    it("cannot be re-entered from a token's transfer callback (ReentrancyGuardReentrantCall)", async () => {
      const { accounts, admin, alice, addr } = await loadFixture(keelWithAccounts);
      const ree = await (await ethers.getContractFactory("ReentrantToken")).deploy();
      const reeAddress = await ree.getAddress();
      await accounts.connect(admin).listCollateral(reeAddress, WAD / 2n, wethUnits("1000000"));
      await ree.mint(alice.address, wethUnits("100"));
      await ree.connect(alice).approve(addr.accounts, ethers.MaxUint256);

      // Control: the hook does run mid-deposit (an unguarded call, createAccount, goes through).
      await ree.setCallback(addr.accounts, accounts.interface.encodeFunctionData("createAccount", [CROSS, 0]));
      await accounts.connect(alice).deposit(1, reeAddress, wethUnits("10"));
      expect(await accountOf(accounts, 4)).to.deep.equal([reeAddress, CROSS, 0n]);

      await ree.setCallback(addr.accounts, accounts.interface.encodeFunctionData("deposit", [4n, reeAddress, 1n]));
      await expect(accounts.connect(alice).deposit(1, reeAddress, wethUnits("10"))).to.be.revertedWithCustomError(
        accounts,
        "ReentrancyGuardReentrantCall",
      );
      expect(await ree.balanceOf(alice.address)).to.equal(wethUnits("90"));
      expect(await ree.balanceOf(addr.accounts)).to.equal(wethUnits("10"));
      expect(await accounts.balanceOf(1, reeAddress)).to.equal(wethUnits("10"));
      expect((await accounts.collateral(reeAddress)).totalDeposits).to.equal(wethUnits("10"));
    });
  });

  describe("withdraw", () => {
    it("pays the owner, debits the account, lowers totalDeposits and emits Withdrawn", async () => {
      const { accounts, usdc, alice, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("1000"));
      await expect(accounts.connect(alice).withdraw(1, addr.usdc, usdcUnits("123.456789")))
        .to.emit(accounts, "Withdrawn")
        .withArgs(1n, addr.usdc, alice.address, usdcUnits("123.456789"));
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("876.543211"));
      expect((await accounts.collateral(addr.usdc)).totalDeposits).to.equal(usdcUnits("876.543211"));
      expect(await usdc.balanceOf(addr.accounts)).to.equal(usdcUnits("876.543211"));
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT - usdcUnits("876.543211"));
    });

    it("withdraws a whole balance down to exactly zero", async () => {
      const { accounts, weth, alice, addr } = await loadFixture(keelWithAccounts);
      const amount = wethUnits("3.000000000000000001");
      await accounts.connect(alice).deposit(2, addr.weth, amount);
      await accounts.connect(alice).withdraw(2, addr.weth, amount);
      expect(await accounts.balanceOf(2, addr.weth)).to.equal(0n);
      expect((await accounts.collateral(addr.weth)).totalDeposits).to.equal(0n);
      expect(await weth.balanceOf(addr.accounts)).to.equal(0n);
      expect(await weth.balanceOf(alice.address)).to.equal(WETH_MINT);
    });

    it("reverts InsufficientBalance with the account's balance and the amount asked", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await expect(accounts.connect(alice).withdraw(1, addr.usdc, usdcUnits("100") + 1n))
        .to.be.revertedWithCustomError(accounts, "InsufficientBalance")
        .withArgs(1n, addr.usdc, usdcUnits("100"), usdcUnits("100") + 1n);
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("100"));
    });

    it("reverts InsufficientBalance with balance 0 for a listed token never deposited", async () => {
      const { accounts, alice, bob, addr } = await loadFixture(keelWithAccounts);
      // Bob's WETH sits in the contract, but alice's account holds none of it.
      await accounts.connect(bob).deposit(3, addr.weth, wethUnits("5"));
      await expect(accounts.connect(alice).withdraw(1, addr.weth, 1))
        .to.be.revertedWithCustomError(accounts, "InsufficientBalance")
        .withArgs(1n, addr.weth, 0n, 1n);
    });

    it("reverts ZeroAmount for a withdrawal of zero", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await expect(accounts.connect(alice).withdraw(1, addr.usdc, 0)).to.be.revertedWithCustomError(
        accounts,
        "ZeroAmount",
      );
    });

    it("reverts UnknownToken for a token that is not listed", async () => {
      const { accounts, alice } = await loadFixture(keelWithAccounts);
      const { address } = await deployToken(18, "UNL");
      await expect(accounts.connect(alice).withdraw(1, address, 1))
        .to.be.revertedWithCustomError(accounts, "UnknownToken")
        .withArgs(address);
    });

    it("reverts UnknownAccount for an account id never created", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(alice).withdraw(99, addr.usdc, 1))
        .to.be.revertedWithCustomError(accounts, "UnknownAccount")
        .withArgs(99n);
    });

    it("reverts NotAuthorized for a stranger and for the owner of another account", async () => {
      const { accounts, usdc, alice, bob, stranger, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await expect(accounts.connect(stranger).withdraw(1, addr.usdc, usdcUnits("100")))
        .to.be.revertedWithCustomError(accounts, "NotAuthorized")
        .withArgs(1n, stranger.address);
      await expect(accounts.connect(bob).withdraw(1, addr.usdc, usdcUnits("100")))
        .to.be.revertedWithCustomError(accounts, "NotAuthorized")
        .withArgs(1n, bob.address);
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("100"));
      expect(await usdc.balanceOf(addr.accounts)).to.equal(usdcUnits("100"));
    });

    it("cannot be re-entered from a token's transfer callback (ReentrancyGuardReentrantCall)", async () => {
      const { accounts, admin, alice, addr } = await loadFixture(keelWithAccounts);
      const ree = await (await ethers.getContractFactory("ReentrantToken")).deploy();
      const reeAddress = await ree.getAddress();
      await accounts.connect(admin).listCollateral(reeAddress, WAD / 2n, wethUnits("1000000"));
      await ree.mint(alice.address, wethUnits("100"));
      await ree.connect(alice).approve(addr.accounts, ethers.MaxUint256);
      await accounts.connect(alice).deposit(1, reeAddress, wethUnits("10"));
      await accounts.connect(alice).deposit(2, reeAddress, wethUnits("10"));

      // The token pays alice, then calls back into withdraw / transfer while the outer withdraw is running.
      await ree.setCallback(addr.accounts, accounts.interface.encodeFunctionData("withdraw", [1n, reeAddress, 1n]));
      await expect(accounts.connect(alice).withdraw(1, reeAddress, wethUnits("5"))).to.be.revertedWithCustomError(
        accounts,
        "ReentrancyGuardReentrantCall",
      );
      await ree.setCallback(addr.accounts, accounts.interface.encodeFunctionData("transfer", [2n, 1n, reeAddress, 1n]));
      await expect(accounts.connect(alice).withdraw(1, reeAddress, wethUnits("5"))).to.be.revertedWithCustomError(
        accounts,
        "ReentrancyGuardReentrantCall",
      );

      expect(await accounts.balanceOf(1, reeAddress)).to.equal(wethUnits("10"));
      expect(await accounts.balanceOf(2, reeAddress)).to.equal(wethUnits("10"));
      expect(await ree.balanceOf(alice.address)).to.equal(wethUnits("80"));
      expect(await ree.balanceOf(addr.accounts)).to.equal(wethUnits("20"));
      expect((await accounts.collateral(reeAddress)).totalDeposits).to.equal(wethUnits("20"));
    });
  });

  describe("transfer", () => {
    it("moves collateral between two accounts of the same owner and emits Transferred", async () => {
      const { accounts, usdc, alice, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("1000"));
      await expect(accounts.connect(alice).transfer(1, 2, addr.usdc, usdcUnits("300.000001")))
        .to.emit(accounts, "Transferred")
        .withArgs(1n, 2n, addr.usdc, usdcUnits("300.000001"));
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("699.999999"));
      expect(await accounts.balanceOf(2, addr.usdc)).to.equal(usdcUnits("300.000001"));
      // Nothing leaves the contract.
      expect((await accounts.collateral(addr.usdc)).totalDeposits).to.equal(usdcUnits("1000"));
      expect(await usdc.balanceOf(addr.accounts)).to.equal(usdcUnits("1000"));
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT - usdcUnits("1000"));
    });

    it("lets an operator approved on both accounts move collateral between them", async () => {
      const { accounts, alice, operator, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).setOperator(2, operator.address, true);
      await accounts.connect(alice).deposit(2, addr.wbtc, wbtcUnits("1"));
      await expect(accounts.connect(operator).transfer(2, 1, addr.wbtc, wbtcUnits("0.25")))
        .to.emit(accounts, "Transferred")
        .withArgs(2n, 1n, addr.wbtc, wbtcUnits("0.25"));
      expect(await accounts.balanceOf(2, addr.wbtc)).to.equal(wbtcUnits("0.75"));
      expect(await accounts.balanceOf(1, addr.wbtc)).to.equal(wbtcUnits("0.25"));
    });

    it("reverts NotAuthorized on the destination when the caller operates only the source account", async () => {
      const { accounts, alice, operator, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await expect(accounts.connect(operator).transfer(1, 2, addr.usdc, usdcUnits("100")))
        .to.be.revertedWithCustomError(accounts, "NotAuthorized")
        .withArgs(2n, operator.address);
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("100"));
      expect(await accounts.balanceOf(2, addr.usdc)).to.equal(0n);
    });

    it("reverts NotAuthorized on the source when the caller operates only the destination account", async () => {
      const { accounts, alice, operator, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(2, addr.usdc, usdcUnits("100"));
      await expect(accounts.connect(operator).transfer(2, 1, addr.usdc, usdcUnits("100")))
        .to.be.revertedWithCustomError(accounts, "NotAuthorized")
        .withArgs(2n, operator.address);
    });

    it("reverts NotAuthorized when sending into another owner's account the caller cannot act for", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await expect(accounts.connect(alice).transfer(1, 3, addr.usdc, usdcUnits("100")))
        .to.be.revertedWithCustomError(accounts, "NotAuthorized")
        .withArgs(3n, alice.address);
    });

    it("reverts DifferentOwners even when the caller is authorized on both accounts", async () => {
      const { accounts, alice, bob, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(bob).setOperator(3, alice.address, true);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await expect(accounts.connect(alice).transfer(1, 3, addr.usdc, usdcUnits("100")))
        .to.be.revertedWithCustomError(accounts, "DifferentOwners")
        .withArgs(1n, 3n);
      await accounts.connect(alice).deposit(3, addr.usdc, usdcUnits("40")); // alice operates bob's account
      await expect(accounts.connect(alice).transfer(3, 1, addr.usdc, usdcUnits("40")))
        .to.be.revertedWithCustomError(accounts, "DifferentOwners")
        .withArgs(3n, 1n);
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("100"));
      expect(await accounts.balanceOf(3, addr.usdc)).to.equal(usdcUnits("40"));
    });

    it("reverts SameAccount when both sides name the same account", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await expect(accounts.connect(alice).transfer(1, 1, addr.usdc, usdcUnits("1")))
        .to.be.revertedWithCustomError(accounts, "SameAccount")
        .withArgs(1n);
    });

    it("reverts ZeroAmount for a transfer of zero", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(alice).transfer(1, 2, addr.usdc, 0)).to.be.revertedWithCustomError(
        accounts,
        "ZeroAmount",
      );
    });

    it("reverts UnknownToken for a token that is not listed", async () => {
      const { accounts, alice } = await loadFixture(keelWithAccounts);
      const { address } = await deployToken(18, "UNL");
      await expect(accounts.connect(alice).transfer(1, 2, address, 1))
        .to.be.revertedWithCustomError(accounts, "UnknownToken")
        .withArgs(address);
    });

    it("reverts InsufficientBalance with the source balance and the amount asked", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.weth, wethUnits("1"));
      await expect(accounts.connect(alice).transfer(1, 2, addr.weth, wethUnits("1") + 1n))
        .to.be.revertedWithCustomError(accounts, "InsufficientBalance")
        .withArgs(1n, addr.weth, wethUnits("1"), wethUnits("1") + 1n);
      await expect(accounts.connect(alice).transfer(2, 1, addr.weth, 1))
        .to.be.revertedWithCustomError(accounts, "InsufficientBalance")
        .withArgs(2n, addr.weth, 0n, 1n);
    });

    it("reverts UnknownAccount when the destination was never created", async () => {
      const { accounts, alice, addr } = await loadFixture(keelWithAccounts);
      await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("100"));
      await expect(accounts.connect(alice).transfer(1, 99, addr.usdc, usdcUnits("1")))
        .to.be.revertedWithCustomError(accounts, "UnknownAccount")
        .withArgs(99n);
    });
  });

  describe("health check", () => {
    async function withHealthCheck() {
      const f = await loadFixture(keelWithAccounts);
      const healthCheck = await (await ethers.getContractFactory("MockHealthCheck")).deploy();
      const healthCheckAddress = await healthCheck.getAddress();
      await f.accounts.connect(f.admin).setHealthCheck(healthCheckAddress);
      await f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdcUnits("1000"));
      await f.accounts.connect(f.alice).deposit(2, f.addr.usdc, usdcUnits("500"));
      // Both accounts have traded (a market touched them): only an account that never did skips
      // the health check (nothing to check: no position, no debt).
      await f.accounts.connect(f.admin).grantRole(await f.accounts.MARKET_ROLE(), f.admin.address);
      await f.accounts.connect(f.admin).touch(1, f.alice.address);
      await f.accounts.connect(f.admin).touch(2, f.alice.address);
      return { ...f, healthCheck, healthCheckAddress };
    }

    it("skips the health check for an account that never traded (nonce zero): it holds nothing to check", async () => {
      const f = await loadFixture(keelWithAccounts);
      const healthCheck = await (await ethers.getContractFactory("MockHealthCheck")).deploy();
      await f.accounts.connect(f.admin).setHealthCheck(await healthCheck.getAddress());
      await f.accounts.connect(f.alice).deposit(1, f.addr.usdc, usdcUnits("1000"));
      await healthCheck.setUnhealthy(1, true);
      expect(await f.accounts.nonce(1)).to.equal(0n);
      await f.accounts.connect(f.alice).withdraw(1, f.addr.usdc, usdcUnits("400"));
      expect(await f.accounts.balanceOf(1, f.addr.usdc)).to.equal(usdcUnits("600"));
      // Once a market has touched it, the same withdrawal goes through the health check.
      await f.accounts.connect(f.admin).grantRole(await f.accounts.MARKET_ROLE(), f.admin.address);
      await f.accounts.connect(f.admin).touch(1, f.alice.address);
      await expect(f.accounts.connect(f.alice).withdraw(1, f.addr.usdc, usdcUnits("400")))
        .to.be.revertedWithCustomError(healthCheck, "AccountUnhealthy")
        .withArgs(1n);
    });

    it("reverts NotAContract when the health check is an address without code", async () => {
      const { accounts, admin, stranger } = await loadFixture(keelWithAccounts);
      await expect(accounts.connect(admin).setHealthCheck(stranger.address))
        .to.be.revertedWithCustomError(accounts, "NotAContract")
        .withArgs(stranger.address);
      expect(await accounts.healthCheck()).to.equal(ethers.ZeroAddress);
    });

    it("setHealthCheck emits HealthCheckSet with the old and the new check", async () => {
      const { accounts, admin } = await loadFixture(keelWithAccounts);
      const first = await (await ethers.getContractFactory("MockHealthCheck")).deploy();
      const second = await (await ethers.getContractFactory("MockHealthCheck")).deploy();
      const [firstAddress, secondAddress] = [await first.getAddress(), await second.getAddress()];
      await expect(accounts.connect(admin).setHealthCheck(firstAddress))
        .to.emit(accounts, "HealthCheckSet")
        .withArgs(ethers.ZeroAddress, firstAddress);
      expect(await accounts.healthCheck()).to.equal(firstAddress);
      await expect(accounts.connect(admin).setHealthCheck(secondAddress))
        .to.emit(accounts, "HealthCheckSet")
        .withArgs(firstAddress, secondAddress);
      await expect(accounts.connect(admin).setHealthCheck(ethers.ZeroAddress))
        .to.emit(accounts, "HealthCheckSet")
        .withArgs(secondAddress, ethers.ZeroAddress);
      expect(await accounts.healthCheck()).to.equal(ethers.ZeroAddress);
    });

    it("blocks withdrawals and transfers out of an unhealthy account with AccountUnhealthy, moving nothing", async () => {
      const { accounts, usdc, healthCheck, alice, operator, addr } = await loadFixture(withHealthCheck);
      await healthCheck.setUnhealthy(1, true);
      await expect(accounts.connect(alice).withdraw(1, addr.usdc, usdcUnits("1")))
        .to.be.revertedWithCustomError(healthCheck, "AccountUnhealthy")
        .withArgs(1n);
      await expect(accounts.connect(operator).withdraw(1, addr.usdc, usdcUnits("1")))
        .to.be.revertedWithCustomError(healthCheck, "AccountUnhealthy")
        .withArgs(1n);
      await expect(accounts.connect(alice).transfer(1, 2, addr.usdc, usdcUnits("1")))
        .to.be.revertedWithCustomError(healthCheck, "AccountUnhealthy")
        .withArgs(1n);
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("1000"));
      expect(await accounts.balanceOf(2, addr.usdc)).to.equal(usdcUnits("500"));
      expect(await usdc.balanceOf(addr.accounts)).to.equal(usdcUnits("1500"));
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT - usdcUnits("1500"));
      expect((await accounts.collateral(addr.usdc)).totalDeposits).to.equal(usdcUnits("1500"));
    });

    it("still accepts deposits and transfers into an unhealthy account", async () => {
      const { accounts, usdc, healthCheck, alice, addr } = await loadFixture(withHealthCheck);
      await healthCheck.setUnhealthy(1, true);
      await expect(accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("200")))
        .to.emit(accounts, "Deposited")
        .withArgs(1n, addr.usdc, alice.address, usdcUnits("200"));
      await expect(accounts.connect(alice).transfer(2, 1, addr.usdc, usdcUnits("300")))
        .to.emit(accounts, "Transferred")
        .withArgs(2n, 1n, addr.usdc, usdcUnits("300"));
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("1500"));
      expect(await accounts.balanceOf(2, addr.usdc)).to.equal(usdcUnits("200"));
      expect(await usdc.balanceOf(addr.accounts)).to.equal(usdcUnits("1700"));
      expect((await accounts.collateral(addr.usdc)).totalDeposits).to.equal(usdcUnits("1700"));
    });

    it("only blocks the unhealthy account: the owner's healthy account still withdraws", async () => {
      const { accounts, usdc, healthCheck, alice, addr } = await loadFixture(withHealthCheck);
      await healthCheck.setUnhealthy(1, true);
      await accounts.connect(alice).withdraw(2, addr.usdc, usdcUnits("500"));
      expect(await accounts.balanceOf(2, addr.usdc)).to.equal(0n);
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT - usdcUnits("1000"));
    });

    it("falls back to balance-only checks once the health check is cleared", async () => {
      const { accounts, usdc, healthCheck, admin, alice, addr } = await loadFixture(withHealthCheck);
      await healthCheck.setUnhealthy(1, true);
      await accounts.connect(admin).setHealthCheck(ethers.ZeroAddress);
      await accounts.connect(alice).withdraw(1, addr.usdc, usdcUnits("1000"));
      expect(await accounts.balanceOf(1, addr.usdc)).to.equal(0n);
      expect(await usdc.balanceOf(alice.address)).to.equal(USDC_MINT - usdcUnits("500"));
    });
  });

  describe("governance", () => {
    it("exposes its hard bounds", async () => {
      const { accounts } = await loadFixture(fundedKeel);
      expect(await accounts.MAX_COLLATERALS()).to.equal(8n);
      expect(await accounts.MIN_COLLATERAL_WEIGHT()).to.equal(MIN_WEIGHT);
      expect(await accounts.MAX_COLLATERAL_WEIGHT()).to.equal(MAX_WEIGHT);
      expect(await accounts.MAX_DEPOSIT_CAP()).to.equal(MAX_CAP);
    });

    it("reserves listCollateral, setCollateralWeight, setDepositCap, setHealthCheck and sweepExcess to the admin", async () => {
      const { accounts, alice, stranger, addr } = await loadFixture(keelWithAccounts);
      const { address: fresh } = await deployToken(18, "NEW");
      for (const caller of [stranger, alice]) {
        const asCaller = accounts.connect(caller);
        const calls = [
          () => asCaller.listCollateral(fresh, WAD / 2n, 1n),
          () => asCaller.setCollateralWeight(addr.weth, WAD / 2n),
          () => asCaller.setDepositCap(addr.usdc, 1n),
          () => asCaller.setHealthCheck(caller.address),
          () => asCaller.sweepExcess(addr.usdc, caller.address),
        ];
        for (const call of calls) {
          await expect(call())
            .to.be.revertedWithCustomError(accounts, "AccessControlUnauthorizedAccount")
            .withArgs(caller.address, ADMIN_ROLE);
        }
      }
      expect((await accounts.collateral(fresh)).listed).to.equal(false);
      expect(await collateralOf(accounts, addr.weth)).to.deep.equal([0n, WETH_CAP, 18n, true, WETH_WEIGHT]);
      expect((await accounts.collateral(addr.usdc)).cap).to.equal(USDC_CAP);
      expect(await accounts.healthCheck()).to.equal(ethers.ZeroAddress);
    });

    describe("listCollateral", () => {
      it("lists a token with its decimals, weight and cap after the existing ones and emits CollateralListed", async () => {
        const { accounts, admin, alice, addr } = await loadFixture(keelWithAccounts);
        const { token, address } = await deployToken(12, "TWL");
        const weight = ethers.parseUnits("0.6", 18);
        const cap = ethers.parseUnits("5000", 12);
        await expect(accounts.connect(admin).listCollateral(address, weight, cap))
          .to.emit(accounts, "CollateralListed")
          .withArgs(address, 12n, weight, cap);
        expect(await collateralOf(accounts, address)).to.deep.equal([0n, cap, 12n, true, weight]);
        expect(await accounts.collateralTokens()).to.deep.equal([addr.usdc, addr.weth, addr.wbtc, address]);

        // and it is immediately depositable
        await token.mint(alice.address, cap);
        await token.connect(alice).approve(addr.accounts, ethers.MaxUint256);
        await accounts.connect(alice).deposit(1, address, cap);
        expect(await accounts.balanceOf(1, address)).to.equal(cap);
      });

      it("accepts the weight bounds 0.05 and 0.95 and the cap 2^96 - 1 exactly", async () => {
        const { accounts, admin } = await loadFixture(keelWithAccounts);
        const { address: low } = await deployToken(18, "LOW");
        const { address: high } = await deployToken(0, "HI");
        await accounts.connect(admin).listCollateral(low, MIN_WEIGHT, MAX_CAP);
        await accounts.connect(admin).listCollateral(high, MAX_WEIGHT, 0);
        expect(await collateralOf(accounts, low)).to.deep.equal([0n, MAX_CAP, 18n, true, MIN_WEIGHT]);
        expect(await collateralOf(accounts, high)).to.deep.equal([0n, 0n, 0n, true, MAX_WEIGHT]);
      });

      it("reverts CollateralAlreadyListed for a listed collateral, the settlement token included", async () => {
        const { accounts, admin, addr } = await loadFixture(keelWithAccounts);
        await expect(accounts.connect(admin).listCollateral(addr.weth, WAD / 2n, 1n))
          .to.be.revertedWithCustomError(accounts, "CollateralAlreadyListed")
          .withArgs(addr.weth);
        await expect(accounts.connect(admin).listCollateral(addr.usdc, WAD / 2n, 1n))
          .to.be.revertedWithCustomError(accounts, "CollateralAlreadyListed")
          .withArgs(addr.usdc);
        expect(await collateralOf(accounts, addr.weth)).to.deep.equal([0n, WETH_CAP, 18n, true, WETH_WEIGHT]);
        expect(await collateralOf(accounts, addr.usdc)).to.deep.equal([0n, USDC_CAP, 6n, true, WAD]);
      });

      it("reverts WeightOutOfBounds for a weight below 0.05 or above 0.95", async () => {
        const { accounts, admin } = await loadFixture(keelWithAccounts);
        const { address } = await deployToken(18, "NEW");
        for (const weight of [0n, MIN_WEIGHT - 1n, MAX_WEIGHT + 1n, WAD]) {
          await expect(accounts.connect(admin).listCollateral(address, weight, 1n))
            .to.be.revertedWithCustomError(accounts, "WeightOutOfBounds")
            .withArgs(address, weight, MIN_WEIGHT, MAX_WEIGHT);
        }
        expect((await accounts.collateral(address)).listed).to.equal(false);
      });

      it("reverts CapOutOfBounds for a cap above 2^96 - 1", async () => {
        const { accounts, admin } = await loadFixture(keelWithAccounts);
        const { address } = await deployToken(18, "NEW");
        await expect(accounts.connect(admin).listCollateral(address, WAD / 2n, MAX_CAP + 1n))
          .to.be.revertedWithCustomError(accounts, "CapOutOfBounds")
          .withArgs(address, MAX_CAP + 1n, MAX_CAP);
      });

      it("reverts UnsupportedDecimals for a token with more than 18 decimals", async () => {
        const { accounts, admin } = await loadFixture(keelWithAccounts);
        const { address } = await deployToken(19, "D19");
        await expect(accounts.connect(admin).listCollateral(address, WAD / 2n, 1n))
          .to.be.revertedWithCustomError(accounts, "UnsupportedDecimals")
          .withArgs(address, 19n);
      });

      it("reverts ZeroAddress for the zero token", async () => {
        const { accounts, admin } = await loadFixture(keelWithAccounts);
        await expect(
          accounts.connect(admin).listCollateral(ethers.ZeroAddress, WAD / 2n, 1n),
        ).to.be.revertedWithCustomError(accounts, "ZeroAddress");
      });

      it("reverts TooManyCollaterals(8) when listing a 9th collateral", async () => {
        const { accounts, admin } = await loadFixture(keelWithAccounts);
        for (let i = 0; i < 5; i++) {
          const { address } = await deployToken(18, `C${i}`);
          await accounts.connect(admin).listCollateral(address, WAD / 2n, 1n);
        }
        expect((await accounts.collateralTokens()).length).to.equal(8);
        const { address: ninth } = await deployToken(18, "C9");
        await expect(accounts.connect(admin).listCollateral(ninth, WAD / 2n, 1n))
          .to.be.revertedWithCustomError(accounts, "TooManyCollaterals")
          .withArgs(8n);
        expect((await accounts.collateralTokens()).length).to.equal(8);
      });
    });

    describe("setCollateralWeight", () => {
      it("changes a collateral's weight and emits the old and new weights", async () => {
        const { accounts, admin, addr } = await loadFixture(keelWithAccounts);
        const weight = ethers.parseUnits("0.5", 18);
        await expect(accounts.connect(admin).setCollateralWeight(addr.weth, weight))
          .to.emit(accounts, "CollateralWeightSet")
          .withArgs(addr.weth, WETH_WEIGHT, weight);
        expect(await collateralOf(accounts, addr.weth)).to.deep.equal([0n, WETH_CAP, 18n, true, weight]);
        await expect(accounts.connect(admin).setCollateralWeight(addr.weth, MAX_WEIGHT))
          .to.emit(accounts, "CollateralWeightSet")
          .withArgs(addr.weth, weight, MAX_WEIGHT);
      });

      it("reverts SettlementWeightFixed for the settlement token", async () => {
        const { accounts, admin, addr } = await loadFixture(keelWithAccounts);
        await expect(accounts.connect(admin).setCollateralWeight(addr.usdc, WAD / 2n)).to.be.revertedWithCustomError(
          accounts,
          "SettlementWeightFixed",
        );
        expect((await accounts.collateral(addr.usdc)).weight).to.equal(WAD);
      });

      it("reverts UnknownToken for a token that is not listed", async () => {
        const { accounts, admin } = await loadFixture(keelWithAccounts);
        const { address } = await deployToken(18, "UNL");
        await expect(accounts.connect(admin).setCollateralWeight(address, WAD / 2n))
          .to.be.revertedWithCustomError(accounts, "UnknownToken")
          .withArgs(address);
      });

      it("reverts WeightOutOfBounds outside [0.05, 0.95]", async () => {
        const { accounts, admin, addr } = await loadFixture(keelWithAccounts);
        for (const weight of [MIN_WEIGHT - 1n, MAX_WEIGHT + 1n]) {
          await expect(accounts.connect(admin).setCollateralWeight(addr.wbtc, weight))
            .to.be.revertedWithCustomError(accounts, "WeightOutOfBounds")
            .withArgs(addr.wbtc, weight, MIN_WEIGHT, MAX_WEIGHT);
        }
        expect((await accounts.collateral(addr.wbtc)).weight).to.equal(WBTC_WEIGHT);
      });
    });

    describe("setDepositCap", () => {
      it("changes a cap, the settlement token's included, and emits the old and new caps", async () => {
        const { accounts, admin, addr } = await loadFixture(keelWithAccounts);
        await expect(accounts.connect(admin).setDepositCap(addr.weth, wethUnits("10")))
          .to.emit(accounts, "DepositCapSet")
          .withArgs(addr.weth, WETH_CAP, wethUnits("10"));
        expect(await collateralOf(accounts, addr.weth)).to.deep.equal([0n, wethUnits("10"), 18n, true, WETH_WEIGHT]);
        await expect(accounts.connect(admin).setDepositCap(addr.usdc, MAX_CAP))
          .to.emit(accounts, "DepositCapSet")
          .withArgs(addr.usdc, USDC_CAP, MAX_CAP);
        expect((await accounts.collateral(addr.usdc)).cap).to.equal(MAX_CAP);
      });

      it("reverts CapOutOfBounds for a cap above 2^96 - 1", async () => {
        const { accounts, admin, addr } = await loadFixture(keelWithAccounts);
        await expect(accounts.connect(admin).setDepositCap(addr.weth, MAX_CAP + 1n))
          .to.be.revertedWithCustomError(accounts, "CapOutOfBounds")
          .withArgs(addr.weth, MAX_CAP + 1n, MAX_CAP);
        expect((await accounts.collateral(addr.weth)).cap).to.equal(WETH_CAP);
      });

      it("reverts UnknownToken for a token that is not listed", async () => {
        const { accounts, admin } = await loadFixture(keelWithAccounts);
        const { address } = await deployToken(18, "UNL");
        await expect(accounts.connect(admin).setDepositCap(address, 1n))
          .to.be.revertedWithCustomError(accounts, "UnknownToken")
          .withArgs(address);
      });
    });

    describe("sweepExcess", () => {
      it("sends USDC transferred straight to the contract to the given address and leaves deposits intact", async () => {
        const { accounts, usdc, admin, alice, bob, recipient, addr } = await loadFixture(keelWithAccounts);
        await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("1000"));
        await accounts.connect(bob).deposit(3, addr.usdc, usdcUnits("250"));
        await usdc.connect(alice).transfer(addr.accounts, usdcUnits("123.456789"));
        expect(await usdc.balanceOf(addr.accounts)).to.equal(usdcUnits("1373.456789"));

        await expect(accounts.connect(admin).sweepExcess(addr.usdc, recipient.address))
          .to.emit(accounts, "ExcessSwept")
          .withArgs(addr.usdc, recipient.address, usdcUnits("123.456789"));
        expect(await usdc.balanceOf(recipient.address)).to.equal(usdcUnits("123.456789"));
        expect(await usdc.balanceOf(addr.accounts)).to.equal(usdcUnits("1250"));
        expect((await accounts.collateral(addr.usdc)).totalDeposits).to.equal(usdcUnits("1250"));
        expect(await accounts.balanceOf(1, addr.usdc)).to.equal(usdcUnits("1000"));
        expect(await accounts.balanceOf(3, addr.usdc)).to.equal(usdcUnits("250"));

        // Both accounts can still withdraw everything.
        await accounts.connect(alice).withdraw(1, addr.usdc, usdcUnits("1000"));
        await accounts.connect(bob).withdraw(3, addr.usdc, usdcUnits("250"));
        expect(await usdc.balanceOf(addr.accounts)).to.equal(0n);
      });

      it("sweeps the whole balance of a token that is not listed", async () => {
        const { accounts, admin, recipient, addr } = await loadFixture(keelWithAccounts);
        const { token, address } = await deployToken(18, "UNL");
        await token.mint(addr.accounts, wethUnits("7"));
        await expect(accounts.connect(admin).sweepExcess(address, recipient.address))
          .to.emit(accounts, "ExcessSwept")
          .withArgs(address, recipient.address, wethUnits("7"));
        expect(await token.balanceOf(recipient.address)).to.equal(wethUnits("7"));
        expect(await token.balanceOf(addr.accounts)).to.equal(0n);
      });

      it("reverts NothingToSweep when the contract holds exactly its deposits, or nothing at all", async () => {
        const { accounts, admin, alice, recipient, addr } = await loadFixture(keelWithAccounts);
        await expect(accounts.connect(admin).sweepExcess(addr.usdc, recipient.address))
          .to.be.revertedWithCustomError(accounts, "NothingToSweep")
          .withArgs(addr.usdc);
        await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("1000"));
        await expect(accounts.connect(admin).sweepExcess(addr.usdc, recipient.address))
          .to.be.revertedWithCustomError(accounts, "NothingToSweep")
          .withArgs(addr.usdc);
      });

      it("reverts NothingToSweep a second time once the excess has been swept", async () => {
        const { accounts, usdc, admin, alice, recipient, addr } = await loadFixture(keelWithAccounts);
        await accounts.connect(alice).deposit(1, addr.usdc, usdcUnits("10"));
        await usdc.connect(alice).transfer(addr.accounts, 1n);
        await accounts.connect(admin).sweepExcess(addr.usdc, recipient.address);
        expect(await usdc.balanceOf(recipient.address)).to.equal(1n);
        await expect(accounts.connect(admin).sweepExcess(addr.usdc, recipient.address))
          .to.be.revertedWithCustomError(accounts, "NothingToSweep")
          .withArgs(addr.usdc);
      });

      it("reverts ZeroAddress when sweeping to the zero address", async () => {
        const { accounts, usdc, admin, alice, addr } = await loadFixture(keelWithAccounts);
        await usdc.connect(alice).transfer(addr.accounts, usdcUnits("1"));
        await expect(accounts.connect(admin).sweepExcess(addr.usdc, ethers.ZeroAddress)).to.be.revertedWithCustomError(
          accounts,
          "ZeroAddress",
        );
        expect(await usdc.balanceOf(addr.accounts)).to.equal(usdcUnits("1"));
      });
    });
  });
});
