import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { deployKeel } from "../scripts/lib/deployment";

const usdc = (amount: string) => ethers.parseUnits(amount, 6);
const MINTED = usdc("1000000");
const SOURCE_TOP_UP = ethers.encodeBytes32String("TOP_UP");
const SOURCE_UNTRACKED = ethers.encodeBytes32String("UNTRACKED");
const INSOLVENT_ACCOUNT = ethers.encodeBytes32String("INSOLVENT_ACCOUNT");
const DRAWER_ROLE = ethers.id("DRAWER_ROLE");
const FEE_BPS = 100n;

/** The real deployment, USDC minted to Alice and Bob (approved to the fund), a drawer granted. */
async function fundFixture() {
  const { fund, usdc: token } = await deployKeel();
  const [admin, alice, bob, drawer, recipient] = await ethers.getSigners();
  for (const signer of [alice, bob]) {
    await token.mint(signer.address, MINTED);
    await token.connect(signer).approve(await fund.getAddress(), ethers.MaxUint256);
  }
  await fund.connect(admin).grantRole(DRAWER_ROLE, drawer.address);
  return { fund, token, admin, alice, bob, drawer, recipient };
}

/** A second fund over a token that calls back into the fund from every transfer. */
async function reentrantFixture() {
  const f = await loadFixture(fundFixture);
  const token = await ethers.deployContract("ReentrantToken");
  const fund = await ethers.deployContract("InsuranceFund", [await token.getAddress(), f.admin.address]);
  await token.mint(f.alice.address, MINTED);
  await token.connect(f.alice).approve(await fund.getAddress(), ethers.MaxUint256);
  await fund.connect(f.admin).grantRole(DRAWER_ROLE, f.drawer.address);
  return { ...f, token, fund };
}

describe("InsuranceFund", () => {
  describe("construction", () => {
    it("is deployed over the settlement stablecoin with the deployer as admin and no drawer", async () => {
      const { fund, token, admin } = await loadFixture(fundFixture);
      expect(await fund.asset()).to.equal(await token.getAddress());
      expect(await fund.balance()).to.equal(0n);
      expect(await fund.hasRole(ethers.ZeroHash, admin.address)).to.equal(true);
      expect(await fund.hasRole(DRAWER_ROLE, admin.address)).to.equal(false);
      expect([await fund.DRAWER_ROLE(), await fund.SOURCE_TOP_UP(), await fund.SOURCE_UNTRACKED()]).to.deep.equal([
        DRAWER_ROLE,
        SOURCE_TOP_UP,
        SOURCE_UNTRACKED,
      ]);
    });

    it("reverts deployment with a zero asset", async () => {
      const { admin } = await loadFixture(fundFixture);
      const factory = await ethers.getContractFactory("InsuranceFund");
      await expect(factory.deploy(ethers.ZeroAddress, admin.address)).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
    });

    it("reverts deployment with a zero admin", async () => {
      const { token } = await loadFixture(fundFixture);
      const factory = await ethers.getContractFactory("InsuranceFund");
      await expect(factory.deploy(await token.getAddress(), ethers.ZeroAddress)).to.be.revertedWithCustomError(
        factory,
        "ZeroAddress",
      );
    });
  });

  describe("topUp", () => {
    it("pulls the amount from the caller and emits an Inflow tagged TOP_UP with the new balance", async () => {
      const { fund, token, alice, bob } = await loadFixture(fundFixture);
      const fundAddress = await fund.getAddress();
      const first = usdc("1234.567891");
      const second = usdc("10");
      await expect(fund.connect(alice).topUp(first))
        .to.emit(fund, "Inflow")
        .withArgs(alice.address, SOURCE_TOP_UP, first, first)
        .and.to.emit(token, "Transfer")
        .withArgs(alice.address, fundAddress, first);
      await expect(fund.connect(bob).topUp(second))
        .to.emit(fund, "Inflow")
        .withArgs(bob.address, SOURCE_TOP_UP, second, first + second);
      expect(await fund.balance()).to.equal(first + second);
      expect(await token.balanceOf(fundAddress)).to.equal(first + second);
      expect(await token.balanceOf(alice.address)).to.equal(MINTED - first);
      expect(await token.balanceOf(bob.address)).to.equal(MINTED - second);
    });

    it("reverts a top-up of zero", async () => {
      const { fund, alice } = await loadFixture(fundFixture);
      await expect(fund.connect(alice).topUp(0n)).to.be.revertedWithCustomError(fund, "ZeroAmount");
    });

    it("reverts a top-up in a fee-on-transfer token that delivers less than the amount", async () => {
      const { admin, alice } = await loadFixture(fundFixture);
      const token = await ethers.deployContract("FeeOnTransferToken", [FEE_BPS]);
      const fund = await ethers.deployContract("InsuranceFund", [await token.getAddress(), admin.address]);
      const amount = usdc("1000");
      await token.mint(alice.address, amount);
      await token.connect(alice).approve(await fund.getAddress(), amount);
      const received = amount - (amount * FEE_BPS) / 10_000n;
      expect(received).to.equal(usdc("990"));
      await expect(fund.connect(alice).topUp(amount))
        .to.be.revertedWithCustomError(fund, "TransferAmountMismatch")
        .withArgs(amount, received);
      expect(await fund.balance()).to.equal(0n);
      expect(await token.balanceOf(alice.address)).to.equal(amount);
    });
  });

  describe("draw", () => {
    it("pays the recipient and emits an Outflow with the reason and the new balance", async () => {
      const { fund, token, alice, drawer, recipient } = await loadFixture(fundFixture);
      const fundAddress = await fund.getAddress();
      const funded = usdc("5000");
      const paid = usdc("1999.999999");
      await fund.connect(alice).topUp(funded);
      await expect(fund.connect(drawer).draw(recipient.address, paid, INSOLVENT_ACCOUNT))
        .to.emit(fund, "Outflow")
        .withArgs(recipient.address, INSOLVENT_ACCOUNT, paid, funded - paid)
        .and.to.emit(token, "Transfer")
        .withArgs(fundAddress, recipient.address, paid);
      expect(await fund.balance()).to.equal(funded - paid);
      expect(await token.balanceOf(fundAddress)).to.equal(funded - paid);
      expect(await token.balanceOf(recipient.address)).to.equal(paid);
    });

    it("pays out the whole balance, leaving the fund empty", async () => {
      const { fund, token, alice, drawer, recipient } = await loadFixture(fundFixture);
      const funded = usdc("42");
      await fund.connect(alice).topUp(funded);
      await expect(fund.connect(drawer).draw(recipient.address, funded, INSOLVENT_ACCOUNT))
        .to.emit(fund, "Outflow")
        .withArgs(recipient.address, INSOLVENT_ACCOUNT, funded, 0n);
      expect(await fund.balance()).to.equal(0n);
      expect(await token.balanceOf(await fund.getAddress())).to.equal(0n);
      expect(await token.balanceOf(recipient.address)).to.equal(funded);
    });

    it("reverts a draw by an account without the drawer role, the admin included", async () => {
      const { fund, admin, alice, recipient } = await loadFixture(fundFixture);
      await fund.connect(alice).topUp(usdc("100"));
      await expect(fund.connect(alice).draw(recipient.address, usdc("1"), INSOLVENT_ACCOUNT))
        .to.be.revertedWithCustomError(fund, "AccessControlUnauthorizedAccount")
        .withArgs(alice.address, DRAWER_ROLE);
      await expect(fund.connect(admin).draw(recipient.address, usdc("1"), INSOLVENT_ACCOUNT))
        .to.be.revertedWithCustomError(fund, "AccessControlUnauthorizedAccount")
        .withArgs(admin.address, DRAWER_ROLE);
    });

    it("reverts a draw above the accounted balance", async () => {
      const { fund, alice, drawer, recipient } = await loadFixture(fundFixture);
      const funded = usdc("100");
      await fund.connect(alice).topUp(funded);
      await expect(fund.connect(drawer).draw(recipient.address, funded + 1n, INSOLVENT_ACCOUNT))
        .to.be.revertedWithCustomError(fund, "InsufficientFund")
        .withArgs(funded + 1n, funded);
    });

    it("does not pay out tokens sent by plain transfer until they are reconciled", async () => {
      const { fund, token, alice, bob, drawer, recipient } = await loadFixture(fundFixture);
      const funded = usdc("100");
      const sent = usdc("50");
      await fund.connect(alice).topUp(funded);
      await token.connect(bob).transfer(await fund.getAddress(), sent);
      await expect(fund.connect(drawer).draw(recipient.address, funded + sent, INSOLVENT_ACCOUNT))
        .to.be.revertedWithCustomError(fund, "InsufficientFund")
        .withArgs(funded + sent, funded);
      await fund.reconcile();
      await expect(fund.connect(drawer).draw(recipient.address, funded + sent, INSOLVENT_ACCOUNT))
        .to.emit(fund, "Outflow")
        .withArgs(recipient.address, INSOLVENT_ACCOUNT, funded + sent, 0n);
    });

    it("reverts a draw of zero", async () => {
      const { fund, alice, drawer, recipient } = await loadFixture(fundFixture);
      await fund.connect(alice).topUp(usdc("100"));
      await expect(fund.connect(drawer).draw(recipient.address, 0n, INSOLVENT_ACCOUNT)).to.be.revertedWithCustomError(
        fund,
        "ZeroAmount",
      );
    });

    it("reverts a draw to the zero address", async () => {
      const { fund, alice, drawer } = await loadFixture(fundFixture);
      await fund.connect(alice).topUp(usdc("100"));
      await expect(
        fund.connect(drawer).draw(ethers.ZeroAddress, usdc("1"), INSOLVENT_ACCOUNT),
      ).to.be.revertedWithCustomError(fund, "ZeroAddress");
    });
  });

  describe("reconcile", () => {
    it("books a plain transfer as an UNTRACKED inflow from the zero address", async () => {
      const { fund, token, alice, bob } = await loadFixture(fundFixture);
      const fundAddress = await fund.getAddress();
      const funded = usdc("100");
      const sent = usdc("25.000001");
      await fund.connect(alice).topUp(funded);
      await token.connect(bob).transfer(fundAddress, sent);
      expect(await fund.balance()).to.equal(funded);
      expect(await fund.reconcile.staticCall()).to.equal(sent);
      await expect(fund.connect(alice).reconcile())
        .to.emit(fund, "Inflow")
        .withArgs(ethers.ZeroAddress, SOURCE_UNTRACKED, sent, funded + sent);
      expect(await fund.balance()).to.equal(funded + sent);
      expect(await token.balanceOf(fundAddress)).to.equal(funded + sent);
    });

    it("reverts when the fund holds nothing beyond its accounted balance", async () => {
      const { fund, alice } = await loadFixture(fundFixture);
      await expect(fund.reconcile()).to.be.revertedWithCustomError(fund, "NothingToReconcile");
      await fund.connect(alice).topUp(usdc("100"));
      await expect(fund.reconcile()).to.be.revertedWithCustomError(fund, "NothingToReconcile");
    });

    it("reverts a second reconcile of the same transfer", async () => {
      const { fund, token, bob } = await loadFixture(fundFixture);
      await token.connect(bob).transfer(await fund.getAddress(), usdc("1"));
      await fund.reconcile();
      await expect(fund.reconcile()).to.be.revertedWithCustomError(fund, "NothingToReconcile");
      expect(await fund.balance()).to.equal(usdc("1"));
    });
  });

  describe("reentrancy", () => {
    it("reverts a top-up whose token transfer calls back into topUp", async () => {
      const { fund, token, alice } = await reentrantFixture();
      await token.setCallback(await fund.getAddress(), fund.interface.encodeFunctionData("topUp", [1n]));
      await expect(fund.connect(alice).topUp(usdc("100"))).to.be.revertedWithCustomError(
        fund,
        "ReentrancyGuardReentrantCall",
      );
      expect(await fund.balance()).to.equal(0n);
    });

    it("reverts a top-up whose token transfer calls back into reconcile", async () => {
      const { fund, token, alice } = await reentrantFixture();
      await token.setCallback(await fund.getAddress(), fund.interface.encodeFunctionData("reconcile"));
      await expect(fund.connect(alice).topUp(usdc("100"))).to.be.revertedWithCustomError(
        fund,
        "ReentrancyGuardReentrantCall",
      );
    });

    it("reverts a draw whose token transfer calls back into draw, even as a drawer", async () => {
      const { fund, token, admin, alice, drawer, recipient } = await reentrantFixture();
      const funded = usdc("100");
      await fund.connect(alice).topUp(funded);
      // The token itself holds the drawer role, so only the guard can stop the nested draw.
      await fund.connect(admin).grantRole(DRAWER_ROLE, await token.getAddress());
      await token.setCallback(
        await fund.getAddress(),
        fund.interface.encodeFunctionData("draw", [recipient.address, 1n, INSOLVENT_ACCOUNT]),
      );
      await expect(
        fund.connect(drawer).draw(recipient.address, usdc("10"), INSOLVENT_ACCOUNT),
      ).to.be.revertedWithCustomError(fund, "ReentrancyGuardReentrantCall");
      expect(await fund.balance()).to.equal(funded);
      expect(await token.balanceOf(await fund.getAddress())).to.equal(funded);
    });

    it("reverts a draw whose token transfer calls back into topUp", async () => {
      const { fund, token, alice, drawer, recipient } = await reentrantFixture();
      const funded = usdc("100");
      await fund.connect(alice).topUp(funded);
      await token.setCallback(await fund.getAddress(), fund.interface.encodeFunctionData("topUp", [1n]));
      await expect(
        fund.connect(drawer).draw(recipient.address, usdc("10"), INSOLVENT_ACCOUNT),
      ).to.be.revertedWithCustomError(fund, "ReentrancyGuardReentrantCall");
      expect(await fund.balance()).to.equal(funded);
    });

    it("still tops up and draws through the callback token when the callback does not re-enter", async () => {
      const { fund, token, alice, drawer, recipient } = await reentrantFixture();
      // A callback into another contract (the token's own totalSupply) is harmless.
      await token.setCallback(await token.getAddress(), token.interface.encodeFunctionData("totalSupply"));
      await expect(fund.connect(alice).topUp(usdc("100")))
        .to.emit(fund, "Inflow")
        .withArgs(alice.address, SOURCE_TOP_UP, usdc("100"), usdc("100"));
      await expect(fund.connect(drawer).draw(recipient.address, usdc("40"), INSOLVENT_ACCOUNT))
        .to.emit(fund, "Outflow")
        .withArgs(recipient.address, INSOLVENT_ACCOUNT, usdc("40"), usdc("60"));
      expect(await token.balanceOf(recipient.address)).to.equal(usdc("40"));
    });
  });
});
