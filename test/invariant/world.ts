/**
 * The world the invariant suite runs in: one deployment with every actor the issue names (traders
 * with a cross and an isolated account each, two LPs, a liquidator, the risk keeper, the guardian,
 * governance and an attacker), live option series, funding on, and a probe contract that reads
 * everything one step's invariants compare in one call.
 *
 * Time is exact: every step picks its block's timestamp T first, reads the "before" state with
 * blockTag "pending" (the state before the step, evaluated at T), sends its one transaction (mined
 * at T) and reads the "after" state at T. Before and after differ by the step alone, never by a
 * second of funding or theta.
 */
import { ethers, network } from "hardhat";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import { takeSnapshot } from "@nomicfoundation/hardhat-network-helpers";
import type { SnapshotRestorer } from "@nomicfoundation/hardhat-network-helpers";
import type { Interface } from "ethers";
import { pricedMarkets } from "../helpers/fixtures";
import { CROSS, ISOLATED, ETH, BTC, usdc, wad } from "../helpers/marginModel";
import type { InvariantProbe, MockAggregator } from "../../typechain-types";

export type Fixture = Awaited<ReturnType<typeof pricedMarkets>>;
export type Snapshot = Awaited<ReturnType<InvariantProbe["snapshot"]>>;

export interface Trader {
  signer: HardhatEthersSigner;
  /** [cross, isolated] account ids. */
  accounts: bigint[];
}

export interface SeriesInfo {
  id: number;
  underlying: string;
  feed: MockAggregator;
  expiry: bigint;
}

export const MARKETS = [ETH, BTC];
/** Chainlink answers (8 decimals) at the start of every run. */
export const START_PRICES = [300_000_000_000n, 6_000_000_000_000n];
/** The aggregators' configured bands (config/networks.ts): an answer at either end is refused. */
export const BANDS = [
  [100_000_000n, 100_000_000_000_000n],
  [1_000_000_000n, 1_000_000_000_000_000n],
];

export interface World {
  f: Fixture;
  probe: InvariantProbe;
  traders: Trader[];
  lps: HardhatEthersSigner[];
  liquidator: Trader;
  attacker: Trader;
  keeper: HardhatEthersSigner;
  guardian: HardhatEthersSigner;
  admin: HardhatEthersSigner;
  sequencer: MockAggregator;
  feeds: MockAggregator[];
  underlyings: string[];
  tokens: string[];
  series: SeriesInfo[];
  /** Every account id, in the order the probe reads them. */
  ids: bigint[];
  /** The owner of ids[i]. */
  owners: string[];
  /** Contracts and wallets whose token and share balances the probe reads. */
  holders: string[];
  holderNames: string[];
  /** The union of every contract's ABI, to name a revert. */
  errors: Interface[];
  /** Sum over the holders of each token at the start: nothing may leave them. */
  supply: bigint[];
  bufferRate: bigint;
  insolventPayoutCap: bigint;
  discountCap: bigint;
  insuranceFloorUnits: bigint;
  start: SnapshotRestorer;
}

const TRADER_USDC = usdc("50000");

/** Builds the world once; `world.start.restore()` puts it back for the next run. */
export async function buildWorld(): Promise<World> {
  const signers = await ethers.getSigners();
  const [admin] = signers;
  const traderSigners = signers.slice(2, 6);
  const liquidatorSigner = signers[6];
  const attackerSigner = signers[7];
  const guardian = signers[8];
  const keeper = signers[9];
  const lp2 = signers[10];
  const f = await pricedMarkets({
    funding: true,
    liquidity: usdc("2000000"),
    insurance: usdc("20000"),
    traders: [...traderSigners, liquidatorSigner, attackerSigner],
  });
  const a = f.addr;
  await f.options.grantRole(await f.options.LISTER_ROLE(), admin.address);
  await f.usdc.mint(lp2.address, usdc("1000000"));
  await f.usdc.connect(lp2).approve(a.pool, ethers.MaxUint256);
  await f.usdc.connect(f.lp).approve(a.pool, ethers.MaxUint256);
  await f.usdc.mint(f.lp.address, usdc("1000000"));
  await f.usdc.connect(attackerSigner).approve(a.pool, ethers.MaxUint256);

  const open = async (s: HardhatEthersSigner, mode: number, market: number, deposit: bigint) => {
    const id = await f.accounts.nextAccountId();
    await f.accounts.connect(s).createAccount(mode, market);
    if (deposit > 0n) await f.accounts.connect(s).deposit(id, a.usdc, deposit);
    return id;
  };
  const traders: Trader[] = [];
  for (const [i, s] of traderSigners.entries()) {
    const cross = await open(s, CROSS, 0, TRADER_USDC);
    const isolated = await open(s, ISOLATED, i % 2 === 0 ? ETH : BTC, TRADER_USDC / 5n);
    traders.push({ signer: s, accounts: [cross, isolated] });
  }
  const liquidator = { signer: liquidatorSigner, accounts: [await open(liquidatorSigner, CROSS, 0, usdc("500000"))] };
  const attacker = { signer: attackerSigner, accounts: [await open(attackerSigner, CROSS, 0, usdc("20000"))] };

  const now = BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
  const day = 86_400n;
  const grid = (days: bigint) => ((now + days * day) / day + 1n) * day;
  const series: SeriesInfo[] = [];
  const list = async (underlying: string, feed: MockAggregator, strike: bigint, expiry: bigint, isCall: boolean) => {
    const id = Number(await f.options.seriesCount()) + 1;
    await f.options.listSeries(underlying, strike, expiry, isCall);
    series.push({ id, underlying, feed, expiry });
  };
  await list(a.weth, f.ethFeed, wad("3000"), grid(1n), true);
  await list(a.weth, f.ethFeed, wad("2800"), grid(1n), false);
  await list(a.weth, f.ethFeed, wad("3300"), grid(6n), true);
  await list(a.wbtc, f.btcFeed, wad("55000"), grid(2n), false);

  // Every run starts from a book: each trader's cross account about 7x long or short ETH, each
  // isolated one about 7x in its market, one written call. A few percent against a side puts
  // accounts below MM, so bids, auctions and the fund are reached in most sequences.
  for (const [i, t] of traders.entries()) {
    const side = i % 2 === 0 ? 1n : -1n;
    await f.perps
      .connect(t.signer)
      .modifyPosition(t.accounts[0], ETH, side * wad("70"), side > 0n ? ethers.MaxUint256 : 0n);
    const [market, size] = i % 2 === 0 ? [ETH, -wad("25")] : [BTC, wad("1.2")];
    await f.perps.connect(t.signer).modifyPosition(t.accounts[1], market, size, size > 0n ? ethers.MaxUint256 : 0n);
  }
  await f.options.connect(traders[1].signer).tradeOption(traders[1].accounts[0], series[0].id, -wad("5"), 0n);

  const probe = (await (
    await ethers.getContractFactory("InvariantProbe")
  ).deploy(
    a.accounts,
    a.engine,
    a.perps,
    await f.options.getAddress(),
    a.liquidation,
    a.fund,
    a.pool,
  )) as unknown as InvariantProbe;
  await probe.waitForDeployment();
  const sequencer = (await ethers.getContractAt(
    "MockAggregator",
    await f.oracle.sequencerUptimeFeed(),
  )) as unknown as MockAggregator;

  const owners: string[] = [];
  const ids: bigint[] = [];
  for (const t of [...traders, liquidator, attacker]) {
    for (const id of t.accounts) {
      ids.push(id);
      owners.push(t.signer.address);
    }
  }
  const named: [string, string][] = [
    ["MarginAccounts", a.accounts],
    ["LiquidityPool", a.pool],
    ["InsuranceFund", a.fund],
    ["LiquidationEngine", a.liquidation],
    ["PerpMarket", a.perps],
    ["OptionMarket", await f.options.getAddress()],
    ["MarginEngine", a.engine],
    ["admin", admin.address],
    ["lp1", f.lp.address],
    ["lp2", lp2.address],
    ...traderSigners.map((s, i): [string, string] => [`trader${i}`, s.address]),
    ["liquidator", liquidatorSigner.address],
    ["attacker", attackerSigner.address],
  ];
  const tokens = [a.usdc, a.weth, a.wbtc];
  const [, params] = await f.liquidation.parameters();
  const errorSources = [
    f.accounts,
    f.perps,
    f.options,
    f.engine,
    f.liquidation,
    f.pool,
    f.fund,
    f.oracle,
    f.riskConfig,
    f.volatility,
    f.usdc,
  ];
  const w: World = {
    f,
    probe,
    traders,
    lps: [f.lp, lp2],
    liquidator,
    attacker,
    keeper,
    guardian,
    admin,
    sequencer,
    feeds: [f.ethFeed, f.btcFeed],
    underlyings: [a.weth, a.wbtc],
    tokens,
    series,
    ids,
    owners,
    holders: named.map(([, x]) => x),
    holderNames: named.map(([n]) => n),
    errors: errorSources.map((c) => c.interface as unknown as Interface),
    supply: [],
    bufferRate: params.buffer,
    insolventPayoutCap: params.insolventPayoutCap,
    discountCap: params.discountCap,
    insuranceFloorUnits: (params.insuranceFloor + 10n ** 12n - 1n) / 10n ** 12n,
    start: await takeSnapshot(),
  };
  const s = await read(w, "latest");
  w.supply = s[1].tokenBalances.map((row) => row.reduce((x, y) => x + y, 0n));
  return w;
}

/** The probe's view of every account and the globals, at "latest" (after) or "pending" (before, at T). */
export function read(w: World, blockTag: "latest" | "pending"): Promise<Snapshot> {
  return w.probe.snapshot(
    w.ids,
    w.tokens,
    MARKETS,
    w.series.map((s) => s.id),
    w.holders,
    { blockTag },
  );
}

export const latestTime = async () => BigInt((await ethers.provider.getBlock("latest"))!.timestamp);

/** The next block is mined at exactly `t`. */
export async function setNextTime(t: bigint): Promise<void> {
  await network.provider.send("evm_setNextBlockTimestamp", [Number(t)]);
}

export async function mineAt(t: bigint): Promise<void> {
  await network.provider.send("evm_mine", [Number(t)]);
}
