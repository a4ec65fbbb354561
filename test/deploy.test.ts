import { expect } from "chai";
import hre, { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import { deployGovernedKeel, deployKeel } from "../scripts/lib/deployment";
import { timelockSigner } from "./helpers/governance";
import verifyDeployment from "../deploy/099_verify";
import deployGovernance from "../deploy/030_governance";
import { networks } from "../config/networks";

describe("deployment", () => {
  it("lists USDC at weight 1 and WETH / WBTC at their configured haircuts and caps", async () => {
    const { accounts, usdc, weth, wbtc } = await loadFixture(deployKeel);
    expect(await accounts.collateralTokens()).to.deep.equal([
      await usdc.getAddress(),
      await weth.getAddress(),
      await wbtc.getAddress(),
    ]);
    const u = await accounts.collateral(usdc);
    expect([u.weight, u.cap, u.decimals, u.listed, u.totalDeposits]).to.deep.equal([
      ethers.parseUnits("1", 18),
      ethers.parseUnits("100000000", 6),
      6n,
      true,
      0n,
    ]);
    const e = await accounts.collateral(weth);
    expect([e.weight, e.cap, e.decimals]).to.deep.equal([
      ethers.parseUnits("0.85", 18),
      ethers.parseUnits("50000", 18),
      18n,
    ]);
    const b = await accounts.collateral(wbtc);
    expect([b.weight, b.cap, b.decimals]).to.deep.equal([
      ethers.parseUnits("0.8", 18),
      ethers.parseUnits("2000", 8),
      8n,
    ]);
  });

  it("wires the pool and the insurance fund to the settlement stablecoin with the configured timings", async () => {
    const { pool, fund, usdc } = await loadFixture(deployKeel);
    expect(await pool.asset()).to.equal(await usdc.getAddress());
    expect(await pool.cooldown()).to.equal(86_400n);
    expect(await pool.claimWindow()).to.equal(172_800n);
    expect(await pool.decimals()).to.equal(12n);
    expect(await fund.asset()).to.equal(await usdc.getAddress());
  });

  it("passes its own verification step on the deployed state", async () => {
    await loadFixture(deployGovernedKeel);
    await verifyDeployment(hre);
  });

  it("fails the verification step loudly, naming every mismatch, when the chain differs from the config", async () => {
    const { accounts, pool, weth, timelock } = await loadFixture(deployGovernedKeel);
    const governance = await timelockSigner(timelock);
    await accounts.connect(governance).setCollateralWeight(weth, ethers.parseUnits("0.5", 18));
    await pool.connect(governance).setCooldown(3_600);
    let message = "";
    try {
      await verifyDeployment(hre);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).to.equal(
      "Deployment verification failed on hardhat:\n" +
        "  - WETH weight: is 500000000000000000, expected 850000000000000000\n" +
        "  - LiquidityPool cooldown: is 3600, expected 86400",
    );
  });

  it("runs the governance step again without sending anything once it is complete", async () => {
    await loadFixture(deployGovernedKeel);
    const [deployer] = await ethers.getSigners();
    const nonce = await ethers.provider.getTransactionCount(deployer.address);
    await deployGovernance(hre);
    expect(await ethers.provider.getTransactionCount(deployer.address)).to.equal(nonce);
    await verifyDeployment(hre);
  });

  it("sets the timelock delay per network: a few seconds locally, 48 hours on mainnet", () => {
    expect(networks.hardhat.governance.timelockDelay).to.equal(2);
    expect(networks.localhost.governance.timelockDelay).to.equal(2);
    expect(networks.mainnet.governance.timelockDelay).to.equal(172_800);
  });

  it("names real, checksummed addresses for every mainnet token, feed and pool, and deploys no mocks there", () => {
    const m = networks.mainnet;
    expect(m.mocks).to.equal(false);
    const addresses = [
      m.settlement.address,
      ...m.collaterals.map((c) => c.address),
      ...m.oracles.assets.flatMap((a) => [a.chainlink.feed, a.twap.pool]),
    ];
    expect(addresses).to.have.length(7);
    for (const address of addresses) expect(ethers.getAddress(address!)).to.equal(address);
  });
});

describe("deployment: the liquidation engine (050)", () => {
  const LIQUIDATOR_ROLE = ethers.id("LIQUIDATOR_ROLE");
  const DRAWER_ROLE = ethers.id("DRAWER_ROLE");

  async function governed() {
    const keel = await loadFixture(deployGovernedKeel);
    const engine = await ethers.getContractAt(
      "LiquidationEngine",
      (await hre.deployments.get("LiquidationEngine")).address,
    );
    const perps = await ethers.getContractAt("PerpMarket", (await hre.deployments.get("PerpMarket")).address);
    const options = await ethers.getContractAt("OptionMarket", (await hre.deployments.get("OptionMarket")).address);
    return { ...keel, engine, perps, options, address: await engine.getAddress() };
  }

  it("gives the engine LIQUIDATOR_ROLE on MarginAccounts, PerpMarket and OptionMarket, DRAWER_ROLE on the fund, and RiskConfig's global push", async () => {
    const { accounts, fund, riskConfig, engine, perps, options, address, usdc } = await governed();
    expect(await accounts.hasRole(LIQUIDATOR_ROLE, address)).to.equal(true);
    expect(await perps.hasRole(LIQUIDATOR_ROLE, address)).to.equal(true);
    expect(await options.hasRole(LIQUIDATOR_ROLE, address)).to.equal(true);
    expect(await fund.hasRole(DRAWER_ROLE, address)).to.equal(true);
    expect(await riskConfig.globalListener()).to.equal(address);
    // Wired to the deployed contracts, and nobody else (the deployer included) holds those powers.
    const deployed = async (name: string) => (await hre.deployments.get(name)).address;
    expect([
      await engine.accounts(),
      await engine.perps(),
      await engine.options(),
      await engine.marginEngine(),
      await engine.riskConfig(),
      await engine.insuranceFund(),
      await engine.settlementToken(),
    ]).to.deep.equal([
      await deployed("MarginAccounts"),
      await deployed("PerpMarket"),
      await deployed("OptionMarket"),
      await deployed("MarginEngine"),
      await deployed("RiskConfig"),
      await deployed("InsuranceFund"),
      await usdc.getAddress(),
    ]);
    const [deployer] = await ethers.getSigners();
    expect(await accounts.hasRole(LIQUIDATOR_ROLE, deployer.address)).to.equal(false);
    expect(await perps.hasRole(LIQUIDATOR_ROLE, deployer.address)).to.equal(false);
    expect(await options.hasRole(LIQUIDATOR_ROLE, deployer.address)).to.equal(false);
    expect(await fund.hasRole(DRAWER_ROLE, deployer.address)).to.equal(false);
    expect(await engine.version()).to.equal(1n);
  });

  it("fails the verification step loudly, naming the wiring, when any one of the engine's powers is missing", async () => {
    const breakages: [
      string,
      (g: Awaited<ReturnType<typeof governed>>, s: Awaited<ReturnType<typeof timelockSigner>>) => Promise<unknown>,
    ][] = [
      [
        "RiskConfig pushes global parameters to LiquidationEngine: is 0x0000000000000000000000000000000000000000, expected ",
        (g, s) => g.riskConfig.connect(s).setGlobalListener(ethers.ZeroAddress),
      ],
      [
        "LiquidationEngine moves positions: is false, expected true",
        (g, s) => g.perps.connect(s).revokeRole(LIQUIDATOR_ROLE, g.address),
      ],
      [
        "LiquidationEngine moves options: is false, expected true",
        (g, s) => g.options.connect(s).revokeRole(LIQUIDATOR_ROLE, g.address),
      ],
      [
        "LiquidationEngine moves collateral: is false, expected true",
        (g, s) => g.accounts.connect(s).revokeRole(LIQUIDATOR_ROLE, g.address),
      ],
      [
        "LiquidationEngine draws the fund: is false, expected true",
        (g, s) => g.fund.connect(s).revokeRole(DRAWER_ROLE, g.address),
      ],
    ];
    for (const [line, breakIt] of breakages) {
      const g = await governed();
      await breakIt(g, await timelockSigner(g.timelock));
      let message = "";
      try {
        await verifyDeployment(hre);
      } catch (error) {
        message = (error as Error).message;
      }
      const expected = line.endsWith("expected ") ? line + g.address : line;
      expect(message).to.equal(`Deployment verification failed on hardhat:\n  - ${expected}`);
    }
  });
});
