import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { paramIndex } from "../scripts/lib/params";
import { CROSS, ISOLATED, ETH, BTC, BTC_PRICE, USDC_SCALE, usdc, wad, feed } from "./helpers/marginModel";
import {
  FLOOR_UNITS,
  LIQ,
  LiquidationBot,
  checkConservation,
  fund,
  openAccount,
  setupLiquidationMarkets,
  usdcInSystem,
} from "./helpers/liquidationBot";
import { mulberry32 as rng } from "./helpers/random";

// A 40% crash of ETH (3000 -> 1800) in ten Chainlink rounds 3601 s apart, over fifty traders
// opened at 3000 (isolated ETH-perp and cross accounts, some backed by WETH, from 2x to 14.5x,
// mostly long), with a keeper bot (test/helpers/liquidationBot.ts) bidding after every round on
// every account below MM, and closing what it received. Every quote, bid, start, refusal and
// termination is checked against the auction formulas as it happens (the bot keeps its own model
// of the throughput windows); at the end nobody is below MM, no auction runs, every unit of USDC
// is where the cash rule says, and the fund's and the pool's books agree with the events. BTC
// stays at 60000 (its feed is pushed every round so that it never goes stale). Every transaction
// of a round is timed (one second apart), so the run is the same whatever the wall clock.
// The crash runs twice:
// - under the configured throughput cap (10M USD an hour), the bot bidding the largest fraction
//   allowed: every auction ends with its first bid;
// - under a 2M USD cap (counted as auctions start: later starts wait for the next window), with a
//   bot of limited capacity per bid (partial bids, never below the minimum bid) making one pass a
//   round, so that auctions carry over, and a rebound (2450 -> 2680) after the fifth round: insolvent
//   auctions are taken in several bids (which share one INSOLVENT_PAYOUT_CAP, checked per auction),
//   an account back between MM and BM is bid from a fresh curve (AuctionRestarted), and auctions
//   of accounts back at or above BM are terminated.

const PATH = ["2900", "2750", "2700", "2500", "2450", "2300", "2150", "2050", "1900", "1800"];
const ROUND_SECONDS = 3601n;
const TRADERS = 50;
const BOT_DEPOSIT = usdc("20000000");
const LIQUIDITY = usdc("10000000");
const INSURANCE = usdc("60000");
/**
 * The capped crash: 2M USD of notional may enter auctions per market and hour, the bot takes at
 * most 100,000 USD of an account's gross value per bid and makes one pass per round (auctions
 * carry over into the next rounds), and ETH rebounds from 2450 to 2680 after the fifth round.
 */
const CAPPED: CrashOptions = {
  throughputCap: wad("2000000"),
  bidCapacity: wad("100000"),
  passesPerRound: 1,
  path: [...PATH.slice(0, 5), "2680", ...PATH.slice(5)],
};

interface TraderSpec {
  owner: number;
  mode: number;
  usdc: bigint;
  weth: bigint;
  /** ETH size (WAD, signed) and BTC size of cross accounts (WAD, signed; 0 if none). */
  eth: bigint;
  btc: bigint;
  leverageBps: bigint;
}

/**
 * Fifty traders: about a third cross, the rest isolated on ETH; about 30% backed mostly by WETH
 * (weighted 0.85 in equity); ETH notional = leverage x weighted equity at 3000, leverage 2x to
 * 14.5x (IM is about 5.8% of notional, so 14.5x sits close to the IM limit); one in ten short;
 * some cross accounts also hold a BTC position of 1x their equity.
 */
function traderSpecs(): TraderSpec[] {
  const r = rng(0x5eed);
  const specs: TraderSpec[] = [];
  for (let i = 0; i < TRADERS; i++) {
    const mode = r() < 0.35 ? CROSS : ISOLATED;
    const backedByWeth = r() < 0.3;
    const usdcAmount = usdc(String(backedByWeth ? 500 + Math.floor(r() * 4500) : 5000 + Math.floor(r() * 55000)));
    const wethAmount = backedByWeth ? wad(String(1 + Math.floor(r() * 1400) / 100)) : 0n;
    const leverageBps = BigInt(20000 + Math.floor(r() * 125000));
    const short = r() < 0.1;
    const withBtc = mode === CROSS && r() < 0.4;
    const btcShort = r() < 0.5;
    const equity = usdcAmount * USDC_SCALE + (wethAmount * 3000n * 85n) / 100n; // weighted, WAD USD
    const eth = (equity * leverageBps) / 10000n / 3000n;
    const btc = withBtc ? equity / 60000n : 0n;
    specs.push({
      owner: i % 17,
      mode,
      usdc: usdcAmount,
      weth: wethAmount,
      eth: short ? -eth : eth,
      btc: btcShort ? -btc : btc,
      leverageBps,
    });
  }
  return specs;
}

/**
 * The markets (setupLiquidationMarkets: ETH 3000, BTC 60000, no TWAPs, funding off), 10M USDC in
 * the pool, 60,000 USDC in the insurance fund, the bot's cross account with 20M USDC (signer 2)
 * and the fifty traders' accounts (signers 3-19) with their positions open.
 */
async function crashFixture() {
  const f = await setupLiquidationMarkets({ liquidity: LIQUIDITY, insurance: INSURANCE });
  const [, , botOwner, ...traders] = f.signers;
  await fund(f, botOwner, BOT_DEPOSIT, 0n);
  const botId = await openAccount(f, botOwner, CROSS, 0, BOT_DEPOSIT, 0n);
  const specs = traderSpecs();
  const ids: bigint[] = [];
  for (const s of specs) {
    const owner = traders[s.owner];
    await fund(f, owner, s.usdc, s.weth);
    const id = await openAccount(f, owner, s.mode, s.mode === CROSS ? 0 : ETH, s.usdc, s.weth);
    await f.perps.connect(owner).modifyPosition(id, ETH, s.eth, s.eth > 0n ? ethers.MaxUint256 : 0n);
    if (s.btc !== 0n) {
      await f.perps.connect(owner).modifyPosition(id, BTC, s.btc, s.btc > 0n ? ethers.MaxUint256 : 0n);
    }
    ids.push(id);
  }
  const total = await usdcInSystem(f);
  return { ...f, botOwner, botId, ids, specs, total };
}

const sum = (xs: bigint[]) => xs.reduce((a, b) => a + b, 0n);
const fmt = (units: bigint) => ethers.formatUnits(units, 6);

interface CrashOptions {
  /** Replaces THROUGHPUT_CAP (WAD USD per market and hour). */
  throughputCap?: bigint;
  /** The bot's capacity per bid (gross WAD USD); none: every bid takes the largest fraction allowed. */
  bidCapacity?: bigint;
  /** Passes the bot makes per round (none: until nothing is left); auctions left running carry over. */
  passesPerRound?: number;
  /** The ETH prices of the rounds (PATH by default). */
  path?: string[];
}

/**
 * The crash: a round per price of the path, the bot working each one out (waiting out
 * the insolvent ramp within the round) and closing what it took; then windows at the last price
 * until no start waits for the throughput cap and no auction runs; then checks and one summary line.
 */
async function crash(label: string, opts: CrashOptions = {}) {
  const f = await loadFixture(crashFixture);
  if (opts.throughputCap !== undefined) {
    await f.riskConfig.setParameter(paramIndex("THROUGHPUT_CAP"), 0, opts.throughputCap);
    expect((await f.liquidation.parameters())[1].throughputCap).to.equal(opts.throughputCap);
  }
  await checkConservation(f, f.total, "opened");
  for (const id of f.ids) expect(await f.liquidation.isLiquidatable(id), `account ${id} at 3000`).to.equal(false);
  const spec = f.specs;
  expect(spec.filter((s) => s.mode === CROSS).length).to.be.within(10, 30);
  expect(spec.filter((s) => s.weth > 0n).length).to.be.within(8, 25);
  expect(spec.filter((s) => s.eth < 0n).length).to.be.within(2, 10);
  expect(spec.filter((s) => s.btc !== 0n).length).to.be.greaterThan(0);

  const firstBlock = (await ethers.provider.getBlockNumber()) + 1;
  const assetsBefore = await f.pool.totalAssets();
  const fundBefore = await f.fund.balance();
  const bot = new LiquidationBot(f, f.botOwner, f.botId, f.ids, {
    throughputCap: opts.throughputCap,
    bidCapacity: opts.bidCapacity,
  });
  // Rounds start one second into a throughput window (floor(t / 3600)), so that each round's starts
  // share one window (rounds 3601 s apart drift by a second a round).
  let pushAt = (BigInt(await time.latest()) / LIQ.window + 1n) * LIQ.window + 1n - ROUND_SECONDS;
  const push = async (eth: string) => {
    pushAt += ROUND_SECONDS;
    expect(BigInt(await time.latest()) < pushAt, "the round fits before the next push").to.equal(true);
    await time.setNextBlockTimestamp(pushAt);
    await f.ethFeed.push(feed(eth));
    await time.setNextBlockTimestamp(pushAt + 1n);
    await f.btcFeed.push(BTC_PRICE);
  };
  const runningAuctions = async () => {
    let n = 0;
    for (const id of f.ids) if ((await f.liquidation.auctionOf(id))[0].startTime !== 0n) n++;
    return n;
  };
  const bidsPerRound: number[] = [];
  let throttled = 0;
  const rounds = opts.path ?? PATH;
  for (const [i, price] of rounds.entries()) {
    await push(price);
    const bids = bot.stats.bids;
    ({ throttled } = await bot.work(`round ${i + 1} (ETH ${price})`, opts.passesPerRound));
    await bot.closePositions();
    bidsPerRound.push(bot.stats.bids - bids);
    await checkConservation(f, f.total, `after round ${i + 1}`);
  }
  const runningAfterRounds = await runningAuctions();
  // Accounts the throughput cap held back, and auctions left running, get more windows at the last price.
  let extraWindows = 0;
  for (; throttled > 0 || (await runningAuctions()) > 0; extraWindows++) {
    expect(extraWindows, "throughput-capped accounts cleared within three more windows").to.be.lessThan(3);
    await push(rounds[rounds.length - 1]);
    ({ throttled } = await bot.work(`extra window ${extraWindows + 1}`));
    await bot.closePositions();
  }

  // Nobody is left below MM or in an auction, and every unit of USDC is accounted for.
  for (const id of f.ids) expect(await f.liquidation.isLiquidatable(id), `account ${id} at the end`).to.equal(false);
  expect(await runningAuctions(), "no auction left running").to.equal(0);
  await checkConservation(f, f.total, "the end");

  // The books agree with the events: the fund's drawdown is its INSOLVENT_ACCOUNT outflows, its
  // liquidation-fee income the fees the auctions started with, the pool's loss the LossSocialized sum.
  const s = bot.stats;
  const outflows = await f.fund.queryFilter(f.fund.filters.Outflow(), firstBlock);
  const inflows = await f.fund.queryFilter(f.fund.filters.Inflow(), firstBlock);
  const feeInflows = inflows.filter((e) => e.args.source === ethers.encodeBytes32String("LIQUIDATION_FEE"));
  const socialized = await f.liquidation.queryFilter(f.liquidation.filters.LossSocialized(), firstBlock);
  const liquidatedEvents = await f.liquidation.queryFilter(f.liquidation.filters.Liquidated(), firstBlock);
  const startedEvents = await f.liquidation.queryFilter(f.liquidation.filters.AuctionStarted(), firstBlock);
  const restartedEvents = await f.liquidation.queryFilter(f.liquidation.filters.AuctionRestarted(), firstBlock);
  const endedEvents = await f.liquidation.queryFilter(f.liquidation.filters.AuctionEnded(), firstBlock);
  const drawdown = sum(outflows.map((e) => e.args.amount));
  const fees = sum(feeInflows.map((e) => e.args.amount));
  const socializedLoss = sum(socialized.map((e) => e.args.amount));
  expect(
    outflows.every((e) => e.args.reason === ethers.encodeBytes32String("INSOLVENT_ACCOUNT")),
    "every outflow pays an insolvent bid",
  ).to.equal(true);
  expect(drawdown, "fund drawdown = Liquidated.fundPaid").to.equal(s.fundPaid);
  expect(drawdown, "fund drawdown = sum of fundPaid events").to.equal(
    sum(liquidatedEvents.map((e) => e.args.fundPaid)),
  );
  expect(fees, "liquidation-fee inflows = fees the auctions started with").to.equal(s.fees);
  expect(fees, "= sum of AuctionStarted fees").to.equal(sum(startedEvents.map((e) => e.args.fee)));
  expect(socializedLoss, "LossSocialized = Liquidated.poolPaid").to.equal(s.poolPaid);
  expect(socializedLoss).to.equal(sum(liquidatedEvents.map((e) => e.args.poolPaid)));
  const fundAfter = await f.fund.balance();
  expect(fundAfter, "fund = before + inflows - outflows").to.equal(
    fundBefore + sum(inflows.map((e) => e.args.amount)) - drawdown,
  );
  expect(fundAfter >= FLOOR_UNITS, "the fund never pays below its floor").to.equal(true);
  expect(liquidatedEvents.length, "one Liquidated per bid").to.equal(s.bids);
  expect(startedEvents.length, "one AuctionStarted per start").to.equal(s.starts);
  expect(restartedEvents.length, "one AuctionRestarted per bid on a recovered account").to.equal(s.refreshedBids);
  expect(endedEvents.length, "every auction ended once: by a bid or terminated").to.equal(s.ended + s.terminated);
  expect(s.starts, "every auction that started ended").to.equal(s.ended + s.terminated);
  // Each bid moved the pool's totalAssets by -poolPaid, up to the unit rounding of realized PnL.
  expect(s.maxPoolDrift <= 3n, `pool totalAssets moves by -poolPaid (drift ${s.maxPoolDrift} units)`).to.equal(true);

  // The crash did what it was built to do.
  expect(s.bids).to.be.greaterThan(0);
  expect(s.liquidated.size).to.be.greaterThan(0);
  expect(s.insolventBids, "insolvent accounts").to.be.greaterThan(0);
  expect(fees, "fees").to.be.greaterThan(0n);
  expect(drawdown, "the fund paid").to.be.greaterThan(0n);
  expect(socializedLoss, "the pool paid").to.be.greaterThan(0n);

  const assetsAfter = await f.pool.totalAssets();
  console.log(
    `      ${label}: ${s.bids} bids (${bidsPerRound.join("/")} per round, ${extraWindows} extra windows; ` +
      `${s.insolventBids} insolvent, ${s.bids - s.ended} partial, ${s.capacityBids} below the max, ` +
      `${s.refreshedBids} on recovered accounts) on ${s.liquidated.size}/${TRADERS} accounts, ${s.starts} auctions ` +
      `(${s.startsWithoutBid} started to ramp, ${s.splitInsolventAuctions} insolvent ones split, ` +
      `${runningAfterRounds} running after the rounds), ${s.refusedStarts} starts refused by the throughput cap, ` +
      `${s.terminated} terminated; fees ${fmt(fees)} USDC; fund drawdown ${fmt(drawdown)} USDC ` +
      `(${fmt(fundBefore)} -> ${fmt(fundAfter)}); socialized loss ${fmt(socializedLoss)} USDC; pool totalAssets ` +
      `${fmt(assetsBefore)} -> ${fmt(assetsAfter)} USDC`,
  );
  return { stats: s, extraWindows };
}

describe("Liquidation crash: ETH -40% in ten rounds, fifty traders, one bot @stress", function () {
  this.timeout(300_000);

  it("liquidates everyone below MM, pays insolvent bids from the fund then the pool, and conserves USDC", async () => {
    const { stats } = await crash("crash");
    // Bidding the largest fraction allowed, every auction ends with its first bid.
    expect(stats.ended).to.equal(stats.bids);
    expect(stats.capacityBids).to.equal(0);
  });

  it("under a 2M USD / hour cap, a bot of limited capacity and a rebound: refused starts, partial bids, terminations", async () => {
    const { stats, extraWindows } = await crash("capped crash", CAPPED);
    expect(stats.refusedStarts, "starts the throughput cap refused").to.be.greaterThan(0);
    expect(stats.bids - stats.ended, "bids that left the auction running").to.be.greaterThan(0);
    expect(stats.splitInsolventAuctions, "insolvent auctions taken in several bids").to.be.greaterThan(0);
    expect(stats.maxBeyondDeficit <= LIQ.payoutCap + 10n, "one cap per auction").to.equal(true);
    expect(stats.refreshedBids, "bids on accounts back at or above MM").to.be.greaterThan(0);
    expect(stats.terminated, "auctions terminated after the rebound").to.be.greaterThan(0);
    expect(extraWindows).to.be.lessThan(3);
  });
});
