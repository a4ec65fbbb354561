// The stress runner's replay: a deployment of Keel (in-process, a fork of a local node, or a fork
// of a real chain), a seeded population of traders and LPs, and a price path pushed through a
// replay aggregator that governance installs, with the liquidator bot (scripts/lib/liquidator.ts)
// running after every step. Produces a Report (scripts/lib/stress/types.ts).
import type { HardhatRuntimeEnvironment } from "hardhat/types";
// The hre.ethers type (loaded with the Hardhat config at run time; named here for ts-node).
import type {} from "@nomicfoundation/hardhat-ethers/internal/type-extensions";
import type { Signer } from "ethers";
import { MaxUint256, ZeroAddress, ZeroHash, parseUnits } from "ethers";
import type {
  InsuranceFund,
  LiquidationEngine,
  LiquidityPool,
  MarginAccounts,
  MockAggregator,
  MockERC20,
  OptionMarket,
  PerpMarket,
  PriceOracle,
  UniswapV3Callee,
  VolatilityOracle,
} from "../../../typechain-types";
import {
  InsuranceFund__factory,
  LiquidationEngine__factory,
  LiquidityPool__factory,
  MarginAccounts__factory,
  MockAggregator__factory,
  MockERC20__factory,
  OptionMarket__factory,
  PerpMarket__factory,
  PriceOracle__factory,
  UniswapV3Callee__factory,
  VolatilityOracle__factory,
} from "../../../typechain-types";
import { LiquidatorBot } from "../liquidator";
import { mulberry32 } from "../random";
import { poolAt, sqrtPriceX96For } from "../uniswap";
import { deal } from "./deal";
import { mergedTimeline, scenarioSpan } from "./scenario";
import type { Asset, HealthHistogram, PricePoint, Report, Scenario, StepSample } from "./types";

const WAD = 10n ** 18n;
const USDC = (x: number) => parseUnits(x.toFixed(6), 6);
const STATUS = ["Ok", "Degraded", "Down"];
/** Chainlink's trigger for ETH / USD and BTC / USD on Ethereum: 0.5% deviation or the heartbeat. */
const DEVIATION_TRIGGER = 0.005;
/** Seconds after a step's price at which the bot looks again while accounts wait below MM. */
const SUB_STEPS = [12n, 60n, 300n, 900n, 1800n, 2700n];
const HEALTH_BOUNDS = [1, 1.1, 1.25, 1.5, 2, 3, 5, 10];

export interface RunOptions {
  mode: "in-process" | "local-fork" | "fork";
  accounts: number;
  seed: number;
  /** hardhat-deploy name -> address of the deployment to run against. */
  addresses: Record<string, string>;
  /** Bot decisions (one JSON object each). */
  botLog?: (line: Record<string, unknown>) => void;
  /** Called after every step with (done, total, liquidations so far). */
  onStep?: (done: number, total: number, liquidations: number) => void;
}

interface Market {
  asset: Asset;
  symbol: string;
  marketId: number;
  token: MockERC20;
  tokenAddress: string;
  decimals: number;
  feed: MockAggregator;
  feedDecimals: number;
  path: PricePoint[];
  /** Replayed price = path price x scale (the path starts at the deployment's price). */
  scale: number;
  heartbeat: number;
  /** The highest realized volatility seen in a step (the margin's volatility term follows it). */
  peakVol: number;
  lastPushed: number;
  lastPushedAt: number;
  pool?: string;
}

interface Contracts {
  accounts: MarginAccounts;
  perps: PerpMarket;
  options: OptionMarket;
  oracle: PriceOracle;
  volatility: VolatilityOracle;
  pool: LiquidityPool;
  fund: InsuranceFund;
  liquidation: LiquidationEngine;
  usdc: MockERC20;
  callee: UniswapV3Callee;
}

export async function runScenario(
  hre: HardhatRuntimeEnvironment,
  scenario: Scenario,
  opts: RunOptions,
): Promise<Report> {
  const wallStart = Date.now();
  const { ethers } = hre;
  const send = (method: string, params: unknown[] = []) => hre.network.provider.send(method, params);
  const a = (name: string) => {
    const address = opts.addresses[name];
    if (address === undefined) throw new Error(`the deployment has no ${name}`);
    return address;
  };
  // Hardhat's in-process network gives every transaction the block gas limit (30M) when none is
  // set, and holds on to memory in proportion to it; 6M covers every transaction of a replay.
  if (hre.network.name === "hardhat") (hre.network.config as { gas: unknown }).gas = 6_000_000;
  const signers = await ethers.getSigners();
  const [, lp1, lp2, , , botSigner, arb, lister] = signers;
  const traders = signers.slice(10, 20);
  const admin = signers[0];
  const c: Contracts = {
    accounts: MarginAccounts__factory.connect(a("MarginAccounts"), admin),
    perps: PerpMarket__factory.connect(a("PerpMarket"), admin),
    options: OptionMarket__factory.connect(a("OptionMarket"), admin),
    oracle: PriceOracle__factory.connect(a("PriceOracle"), admin),
    volatility: VolatilityOracle__factory.connect(a("VolatilityOracle"), admin),
    pool: LiquidityPool__factory.connect(a("LiquidityPool"), admin),
    fund: InsuranceFund__factory.connect(a("InsuranceFund"), admin),
    liquidation: LiquidationEngine__factory.connect(a("LiquidationEngine"), admin),
    usdc: MockERC20__factory.connect(a("USDC"), admin),
    // An arbitrageur keeps each Uniswap pool at the replayed price through its own swap callee.
    callee: await new UniswapV3Callee__factory(admin).deploy(),
  };
  const usdc = c.usdc;
  const latest = async () => BigInt((await ethers.provider.getBlock("latest"))!.timestamp);
  const setTime = async (t: bigint) => {
    const now = await latest();
    await send("evm_setNextBlockTimestamp", [Number(t > now ? t : now + 1n)]);
  };

  const sequencer = await installSequencerReplay();

  // ---------------------------------------------------------------- governance: replay feeds
  const timelockAddress = a("TimelockController");
  await send("hardhat_impersonateAccount", [timelockAddress]);
  await send("hardhat_setBalance", [timelockAddress, "0x56BC75E2D63100000"]);
  const timelock = await ethers.getSigner(timelockAddress);
  const markets: Market[] = [];
  const setupStart = Date.now();
  const manipulation: string[] = [];
  const stats = {
    socialized: 0,
    badDebt: 0,
    discounts: 0,
    fees: 0,
    gas: 0n,
    bids: 0,
    pushes: 0,
    passes: 0,
    throughputRefusals: 0,
    sequencerFlips: 0,
  };
  const replayFactory = new MockAggregator__factory(admin);
  for (const [asset, path] of Object.entries(scenario.paths) as [Asset, PricePoint[]][]) {
    const symbol = asset === "ETH" ? "WETH" : "WBTC";
    const tokenAddress = a(symbol);
    const marketId = await marketOf(c.perps, tokenAddress);
    const config = await c.oracle.chainlinkConfig(tokenAddress);
    const [, , updatedAt] = await c.oracle.chainlinkPrice(tokenAddress);
    const start = (await c.oracle.getPrice(tokenAddress)).price;
    const accepted = await c.oracle.lastAccepted(tokenAddress);
    const feed = await replayFactory.deploy(config.decimals, `${asset} / USD replay`);
    const startAnswer = (start * 10n ** config.decimals) / WAD;
    // The replay continues the live feed: same answer, next round id, same update time.
    await feed.setRound(accepted.roundId + 1n, startAnswer, updatedAt, updatedAt, 0);
    await c.oracle
      .connect(timelock)
      .setChainlink(
        tokenAddress,
        await feed.getAddress(),
        config.heartbeat,
        config.tolerance,
        config.decimals,
        config.minAnswer,
        config.maxAnswer,
      );
    const twap = await c.oracle.twapConfig(tokenAddress);
    const startPrice = Number(start) / 1e18;
    markets.push({
      asset,
      symbol,
      marketId,
      token: MockERC20__factory.connect(tokenAddress, admin),
      tokenAddress,
      decimals: Number(await MockERC20__factory.connect(tokenAddress, admin).decimals()),
      feed,
      feedDecimals: Number(config.decimals),
      path,
      scale: startPrice / path[0].price,
      heartbeat: Number(config.heartbeat),
      peakVol: 0,
      lastPushed: startPrice,
      lastPushedAt: Number(updatedAt),
      pool: twap.pool !== ZeroAddress ? twap.pool : undefined,
    });
  }
  await c.options.connect(timelock).grantRole(await c.options.LISTER_ROLE(), lister.address);
  await send("hardhat_stopImpersonatingAccount", [timelockAddress]);

  // Warm-up: the pools' TWAP windows fill and any degraded cooldown passes at the start price,
  // then a fresh round; every driven price must be Ok before the population trades.
  let warmUp = 60n;
  for (const m of markets) {
    const twap = await c.oracle.twapConfig(m.tokenAddress);
    const guard = await c.oracle.guardConfig(m.tokenAddress);
    const needed =
      BigInt(twap.window) > BigInt(guard.degradedCooldown) ? BigInt(twap.window) : BigInt(guard.degradedCooldown);
    if (needed + 60n > warmUp) warmUp = needed + 60n;
  }
  await setTime((await latest()) + warmUp);
  for (const m of markets) {
    await publish(m, m.lastPushed);
    const p = await c.oracle.getPrice(m.tokenAddress);
    if (p.status !== 0n) {
      const [chainlinkError, twapError] = await c.oracle.sourceErrors(m.tokenAddress);
      throw new Error(
        `${m.asset} price is ${STATUS[Number(p.status)]} after the warm-up (Chainlink ${chainlinkError}, TWAP ${twapError})`,
      );
    }
  }

  // ---------------------------------------------------------------- population
  const rand = mulberry32(opts.seed);
  const usdcAddress = await usdc.getAddress();
  for (const lp of [lp1, lp2]) {
    await deal(hre, usdcAddress, lp.address, USDC(10_000_000));
    await usdc.connect(lp).approve(await c.pool.getAddress(), MaxUint256);
    await c.pool.connect(lp).deposit(USDC(10_000_000), lp.address);
  }
  await deal(hre, usdcAddress, lp1.address, USDC(500_000));
  await usdc.connect(lp1).approve(await c.fund.getAddress(), MaxUint256);
  await c.fund.connect(lp1).topUp(USDC(500_000));
  const bidderAccountId = await c.accounts.nextAccountId();
  await deal(hre, usdcAddress, botSigner.address, USDC(5_000_000));
  await usdc.connect(botSigner).approve(await c.accounts.getAddress(), MaxUint256);
  await c.accounts.connect(botSigner).createAccount(0, 0);
  await c.accounts.connect(botSigner).deposit(bidderAccountId, await usdc.getAddress(), USDC(5_000_000));
  const timeline = mergedTimeline(scenario);
  const span = scenarioSpan(scenario);
  const series = await listSeries(c, markets, lister, await latest(), span.end - span.start);
  const population = await populate(hre, c, markets, traders, series, opts.accounts, rand);

  // ---------------------------------------------------------------- the bot
  const bot = new LiquidatorBot({
    signer: botSigner,
    addresses: {
      MarginAccounts: a("MarginAccounts"),
      PerpMarket: a("PerpMarket"),
      OptionMarket: a("OptionMarket"),
      MarginLens: a("MarginLens"),
      LiquidationEngine: a("LiquidationEngine"),
      PriceOracle: a("PriceOracle"),
      VolatilityOracle: a("VolatilityOracle"),
    },
    bidderAccountId,
    fromBlock: 0,
    log: (line) => {
      if (line.reason === "ThroughputCapExceeded") stats.throughputRefusals++;
      opts.botLog?.(line);
    },
  });
  await bot.init();

  // ---------------------------------------------------------------- replay
  const chainStart = (await latest()) + 60n;
  const toChain = (t: number) => chainStart + BigInt(t - timeline[0]);
  const sharePrice = async () => Number(await c.pool.totalAssets()) / Number(await c.pool.totalSupply());
  const fundStart = Number(await c.fund.balance()) / 1e6;
  const shareStart = await sharePrice();
  const samples: StepSample[] = [];
  const firstBelow = new Map<bigint, bigint>();
  const blindSince = new Map<bigint, bigint>();
  const health: HealthHistogram[] = [];
  const worstStep = worstIndex(markets[0].path, timeline);
  health.push(await histogram(bot, population, "before", timeline[0]));
  const setupSeconds = (Date.now() - setupStart) / 1000;
  let bidsSeen = 0;

  for (let i = 0; i < timeline.length; i++) {
    const t = timeline[i];
    const T = toChain(t);
    await pushRound(i, t, T);
    let pass = await bot.step();
    await record(pass);
    // The bot runs every block: while accounts wait below MM (an auction's discount or payout
    // still growing), it looks again at a few block times before the next step's price.
    const next = i + 1 < timeline.length ? toChain(timeline[i + 1]) : T + 3600n;
    for (const offset of SUB_STEPS) {
      if (pass.liquidatable.length === 0 || T + offset >= next) break;
      await setTime(T + offset);
      await send("evm_mine");
      pass = await bot.step();
      await record(pass);
    }
    if (i === worstStep) health.push(await histogram(bot, population, "worst", t));
    samples.push(await sample(t));
    opts.onStep?.(i + 1, timeline.length, stats.bids);
  }
  // Let running auctions finish: one more pass an hour after the path ends.
  await setTime(toChain(timeline[timeline.length - 1]) + 3600n);
  await send("evm_mine");
  const end = await bot.step();
  await record(end);
  health.push(await histogram(bot, population, "after", timeline[timeline.length - 1]));
  const endReadings = population.map((id) => bot.reading(id));
  const belowAtEnd = endReadings.filter((r) => r !== undefined && r.ok && r.equity < r.maintenanceMargin).length;
  const unresolved = endReadings.reduce((sum, r) => sum + (r !== undefined && r.equity < 0n ? -usd(r.equity) : 0), 0);

  let maxDelay = 0n;
  const firstBid = new Map<bigint, bigint>();
  const sides = { long: 0, short: 0 };
  for (const b of bot.bids) {
    if (firstBid.has(b.accountId)) continue;
    firstBid.set(b.accountId, b.timestamp);
    if (b.side !== "flat") sides[b.side]++;
  }
  for (const [id, below] of firstBelow) {
    const bid = firstBid.get(id);
    if (bid !== undefined && bid - below > maxDelay) maxDelay = bid - below;
  }
  const details: Record<string, number | string> = {
    replayedRounds: stats.pushes,
    setupSeconds: Math.round(setupSeconds * 10) / 10,
    botPasses: stats.passes,
    "auction starts refused by the throughput cap": stats.throughputRefusals,
    ...(stats.sequencerFlips > 0 ? { "sequencer uptime feed changes": stats.sequencerFlips } : {}),
    ...(manipulation.length > 0 ? { twapManipulation: manipulation.join("; ") } : {}),
    optionSeries: series.length,
    botAccount: Number(bidderAccountId),
    unresolvedNegativeEquity: round2(unresolved),
    "accounts liquidated, net long": sides.long,
    "accounts liquidated, net short": sides.short,
  };
  for (const m of markets) {
    details[`${m.asset} price scale`] = Number(m.scale.toPrecision(6));
    details[`${m.asset} path start`] = m.path[0].price;
    details[`${m.asset} path low`] = Math.min(...m.path.map((p) => p.low ?? p.price));
    details[`${m.asset} peak realized volatility`] = Number(m.peakVol.toFixed(4));
  }
  return {
    scenario: scenario.name,
    scenarioSource: scenario.source,
    description: scenario.description,
    mode: opts.mode,
    seed: opts.seed,
    accounts: population.length,
    steps: timeline.length,
    liquidations: stats.bids,
    accountsLiquidated: firstBid.size,
    maxLiquidationDelaySeconds: Number(maxDelay),
    accountsBelowMaintenanceAtEnd: belowAtEnd,
    insuranceFundStart: round2(fundStart),
    insuranceFundEnd: round2(Number(await c.fund.balance()) / 1e6),
    socializedLoss: round2(stats.socialized),
    badDebt: round2(stats.badDebt + unresolved),
    lpSharePriceChange: (await sharePrice()) / shareStart - 1,
    traderLossToLiquidationDiscounts: round2(stats.discounts),
    liquidationFees: round2(stats.fees),
    gasUsedByLiquidations: Number(stats.gas),
    wallSeconds: Math.round((Date.now() - wallStart) / 100) / 10,
    details,
    samples,
    health,
  };

  /** Pushes this step's rounds (the candle's low first when it is a wick) and arbitrages the pools. */
  async function pushRound(i: number, t: number, T: bigint): Promise<boolean> {
    let any = false;
    const prev = i === 0 ? t : timeline[i - 1];
    for (const m of markets) {
      const point = pointAt(m.path, t);
      if (point === undefined || inOutage(scenario, m.asset, t)) continue;
      const price = point.price * m.scale;
      const low = point.low === undefined ? undefined : point.low * m.scale;
      const wick = low !== undefined && low < Math.min(m.lastPushed, price) * (1 - DEVIATION_TRIGGER);
      if (wick && i > 0) {
        // The worst price inside the step, half-way through it; the bot gets a pass at it.
        await setTime(toChain(prev) + (T - toChain(prev)) / 2n);
        await publish(m, low!);
        any = true;
      }
      const due = Math.abs(price / m.lastPushed - 1) >= DEVIATION_TRIGGER || Number(T) - m.lastPushedAt >= m.heartbeat;
      if (due || wick) {
        await setTime(T);
        await publish(m, price);
        any = true;
      }
    }
    if (!any) {
      await setTime(T);
      await send("evm_mine");
    }
    for (const e of scenario.events) {
      if (e.kind === "twapManipulation" && e.at > prev && e.at <= t) await manipulate(e.asset, e.move);
    }
    await sequencer?.follow(t);
    return any;
  }

  /**
   * A sequencer outage needs the deployment's uptime feed (an L2's, or the local stand-in's mock):
   * its code is replaced by a replay feed (MockAggregator) answering "up" since genesis, which
   * `follow` turns down at the outage's start (answer 1) and up at its end (answer 0, startedAt the
   * end: the oracle's grace period runs from there). While the sequencer is down the L2 makes no
   * blocks, so no price is published either.
   */
  async function installSequencerReplay() {
    const outages = scenario.events.filter((e) => e.kind === "sequencerDown");
    if (outages.length === 0) return undefined;
    const address = await c.oracle.sequencerUptimeFeed();
    if (address === ZeroAddress) {
      throw new Error(
        `scenario ${scenario.name} has a sequencerDown event, but this deployment reads no sequencer uptime feed (an L1)`,
      );
    }
    const template = await new MockAggregator__factory(admin).deploy(0, "L2 sequencer uptime replay");
    await send("hardhat_setCode", [address, await ethers.provider.getCode(await template.getAddress())]);
    // Slot 0 holds the latest round id and the flags, slot 1 the description: clear whatever the
    // real feed kept there.
    for (const slot of ["0x0", "0x1"]) await send("hardhat_setStorageAt", [address, slot, ZeroHash]);
    const feed = MockAggregator__factory.connect(address, admin);
    await feed.setRound(1, 0, 1, 1, 1);
    let down = false;
    let round = 1;
    return {
      /** Reports the sequencer's state at path time t, when it changed since the last step. */
      async follow(t: number) {
        const e = outages.find((o) => t >= o.from && t < o.to);
        if ((e !== undefined) === down) return;
        down = !down;
        const since = down ? e!.from : outages.filter((o) => o.to <= t).reduce((a, o) => Math.max(a, o.to), 0);
        const at = toChain(since);
        round++;
        await feed.setRound(round, down ? 1 : 0, at, at, round);
        stats.sequencerFlips++;
      },
    };
  }

  async function publish(m: Market, price: number): Promise<void> {
    const answer = BigInt(Math.round(price * 10 ** m.feedDecimals));
    const now = Number(await latest()) + 1;
    await m.feed.pushAt(answer, now);
    m.lastPushed = price;
    m.lastPushedAt = now;
    stats.pushes++;
    await arbitrage(m, price);
    await c.volatility.update(m.tokenAddress).catch(() => undefined);
    await c.oracle.poke(m.tokenAddress);
  }

  /** Moves the Uniswap pool to `price` (an arbitrageur with unlimited mock tokens). */
  async function arbitrage(m: Market, price: number): Promise<void> {
    if (m.pool === undefined) return;
    const pool = poolAt(m.pool, arb);
    const [sqrtNow] = (await pool.slot0()) as [bigint];
    const base = { address: m.tokenAddress, decimals: m.decimals };
    const quote = { address: await usdc.getAddress(), decimals: 6 };
    const target = sqrtPriceX96For(price.toFixed(6), base, quote);
    if (target === sqrtNow) return;
    const zeroForOne = target < sqrtNow;
    const token0 = BigInt(base.address) < BigInt(quote.address) ? m.token : usdc;
    const token1 = token0 === usdc ? m.token : usdc;
    const payWith = zeroForOne ? token0 : token1;
    const amount = 10n ** 33n;
    await deal(hre, await payWith.getAddress(), arb.address, amount);
    await payWith.connect(arb).approve(await c.callee.getAddress(), amount);
    await c.callee.connect(arb).swapExactIn(m.pool, zeroForOne, amount, target);
  }

  async function manipulate(asset: Asset, move: number): Promise<void> {
    const m = markets.find((x) => x.asset === asset);
    if (m === undefined || m.pool === undefined) return;
    const before = await c.oracle.twapPrice(m.tokenAddress);
    const bidsBefore = stats.bids;
    await arbitrage(m, m.lastPushed * (1 + move));
    await bot.step().then(record);
    await arbitrage(m, m.lastPushed);
    const after = await c.oracle.twapPrice(m.tokenAddress);
    manipulation.push(
      `${asset} pool moved ${(move * 100).toFixed(1)}% for one block: TWAP ${(Number(after) / Number(before) - 1) * 100 >= 0 ? "+" : ""}${((Number(after) / Number(before) - 1) * 100).toFixed(4)}%, ${stats.bids - bidsBefore} bids in that block`,
    );
  }

  async function record(r: Awaited<ReturnType<LiquidatorBot["step"]>>): Promise<void> {
    stats.passes++;
    const now = await latest();
    // An account first seen below MM after a spell the engine could not value it (a price Down)
    // crossed MM somewhere in that spell: its delay counts from the spell's start.
    for (const id of r.below) if (!firstBelow.has(id)) firstBelow.set(id, blindSince.get(id) ?? now);
    for (const id of population) {
      if (bot.reading(id)?.ok === false) {
        if (!blindSince.has(id)) blindSince.set(id, now);
      } else blindSince.delete(id);
    }

    for (const b of bot.bids.slice(bidsSeen)) {
      if (!firstBelow.has(b.accountId)) firstBelow.set(b.accountId, blindSince.get(b.accountId) ?? b.timestamp);
      stats.gas += b.gasUsed;
      stats.bids++;
      for (const log of b.logs) {
        const parsed = tryParse(c.liquidation, log);
        if (parsed === null) continue;
        if (parsed.name === "Liquidated") {
          const fraction = parsed.args.fraction as bigint;
          const mtm = parsed.args.markToMarket as bigint;
          const price = parsed.args.price as bigint;
          const share = (mtm * fraction) / WAD;
          if (mtm > 0n) stats.discounts += usd(share) - Number(price) / 1e6;
          else stats.badDebt += -usd(share);
        } else if (parsed.name === "LossSocialized") {
          stats.socialized += Number(parsed.args.amount as bigint) / 1e6;
        } else if (parsed.name === "AuctionStarted") {
          stats.fees += Number(parsed.args.fee as bigint) / 1e6;
        }
      }
    }
    bidsSeen = bot.bids.length;
  }

  async function sample(t: number): Promise<StepSample> {
    const prices: StepSample["prices"] = {};
    const status: StepSample["status"] = {};
    for (const m of markets) {
      const p = await c.oracle.getPrice(m.tokenAddress);
      prices[m.asset] = Number(p.price) / 1e18;
      status[m.asset] = STATUS[Number(p.status)];
      const vol = Number(await c.volatility.volatility(m.tokenAddress)) / 1e18;
      if (vol > m.peakVol) m.peakVol = vol;
    }
    let below = 0;
    for (const id of population) {
      const r = bot.reading(id);
      if (r !== undefined && r.ok && r.equity < r.maintenanceMargin) below++;
    }
    return {
      timestamp: t,
      prices,
      status,
      insuranceFund: round2(Number(await c.fund.balance()) / 1e6),
      liquidations: stats.bids,
      badDebt: round2(stats.badDebt),
      socializedLoss: round2(stats.socialized),
      belowMaintenance: below,
    };
  }
}

// ---------------------------------------------------------------- population

/** Lists a call and a put at 80%, 90%, 100%, 110% and 120% of spot per market, expiring after the path. */
async function listSeries(
  c: Contracts,
  markets: Market[],
  lister: Signer,
  now: bigint,
  pathSeconds: number,
): Promise<{ id: number; asset: Asset; isCall: boolean; strike: bigint }[]> {
  const out: { id: number; asset: Asset; isCall: boolean; strike: bigint }[] = [];
  const day = 86_400n;
  const expiry = ((now + BigInt(pathSeconds) + 2n * day) / day + 1n) * day;
  for (const m of markets) {
    const spot = (await c.oracle.getPrice(m.tokenAddress)).price;
    for (const pct of [80n, 90n, 100n, 110n, 120n]) {
      for (const isCall of [true, false]) {
        const strike = ((spot * pct) / 100n / WAD) * WAD;
        const id = Number(
          await c.options.connect(lister).listSeries.staticCall(m.tokenAddress, strike, expiry, isCall),
        );
        await c.options.connect(lister).listSeries(m.tokenAddress, strike, expiry, isCall);
        out.push({ id, asset: m.asset, isCall, strike });
      }
    }
  }
  return out;
}

/**
 * N accounts, seeded: isolated or cross (even odds), a market per account, USDC margin between
 * 1,000 and 100,000 (log-uniform; a third of cross accounts post WETH for part of it), leverage
 * uniform from 1x to 15x, 60% long; one cross account in five also writes (70%) or buys options.
 * A trade the margin check refuses is retried at 70% of the size, up to four times.
 */
async function populate(
  hre: HardhatRuntimeEnvironment,
  c: Contracts,
  markets: Market[],
  traders: Signer[],
  series: { id: number; asset: Asset; isCall: boolean; strike: bigint }[],
  n: number,
  rand: () => number,
): Promise<bigint[]> {
  const ids: bigint[] = [];
  const accountsAddress = await c.accounts.getAddress();
  const usdcAddress = await c.usdc.getAddress();
  const weth = markets.find((m) => m.asset === "ETH")?.token;
  for (const t of traders) {
    await deal(hre, usdcAddress, await t.getAddress(), USDC(1_000_000_000));
    await c.usdc.connect(t).approve(accountsAddress, MaxUint256);
    if (weth !== undefined) {
      await deal(hre, await weth.getAddress(), await t.getAddress(), 10n ** 30n);
      await weth.connect(t).approve(accountsAddress, MaxUint256);
    }
  }
  for (let i = 0; i < n; i++) {
    const owner = traders[i % traders.length];
    const m = markets[Math.floor(rand() * markets.length)];
    const cross = rand() < 0.5;
    const id = await c.accounts.nextAccountId();
    await c.accounts.connect(owner).createAccount(cross ? 0 : 1, cross ? 0 : m.marketId);
    const marginUsd = 1000 * Math.pow(100, rand());
    const price = Number((await c.oracle.getPrice(m.tokenAddress)).price) / 1e18;
    const ethPrice = weth === undefined ? 0 : Number((await c.oracle.getPrice(await weth.getAddress())).price) / 1e18;
    if (cross && weth !== undefined && rand() < 1 / 3) {
      const wethUsd = marginUsd * 0.5;
      await c.accounts
        .connect(owner)
        .deposit(id, await weth.getAddress(), parseUnits((wethUsd / ethPrice).toFixed(18), 18));
      await c.accounts.connect(owner).deposit(id, usdcAddress, USDC(marginUsd - wethUsd));
    } else {
      await c.accounts.connect(owner).deposit(id, usdcAddress, USDC(marginUsd));
    }
    const leverage = 1 + rand() * 14;
    const long = rand() < 0.6;
    let size = (marginUsd * leverage) / price;
    for (let attempt = 0; attempt < 5; attempt++, size *= 0.7) {
      const delta = parseUnits(size.toFixed(8), 18) * (long ? 1n : -1n);
      try {
        await c.perps.connect(owner).modifyPosition(id, m.marketId, delta, long ? MaxUint256 : 0n);
        break;
      } catch {
        // refused (margin, caps): retry smaller
      }
    }
    if (cross && rand() < 0.2) {
      const options = series.filter((s) => s.asset === m.asset);
      const s = options[Math.floor(rand() * options.length)];
      const write = rand() < 0.7;
      const contracts = parseUnits(((marginUsd * 0.2) / price).toFixed(6), 18);
      await c.options
        .connect(owner)
        .tradeOption(id, s.id, write ? -contracts : contracts, write ? 0n : MaxUint256)
        .catch(() => undefined);
    }
    ids.push(id);
  }
  return ids;
}

// ---------------------------------------------------------------- helpers

async function marketOf(perps: PerpMarket, token: string): Promise<number> {
  for (const id of await perps.marketIds()) {
    if ((await perps.underlyingOf(id)).toLowerCase() === token.toLowerCase()) return Number(id);
  }
  throw new Error(`no perp market for ${token}`);
}

/** The latest point at or before t (undefined before the path starts). */
function pointAt(path: PricePoint[], t: number): PricePoint | undefined {
  let lo = 0;
  let hi = path.length - 1;
  if (path[0].timestamp > t) return undefined;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (path[mid].timestamp <= t) lo = mid;
    else hi = mid - 1;
  }
  return path[lo];
}

/** No round is published at t: the asset's feed is out, or the sequencer is down (no L2 blocks). */
function inOutage(scenario: Scenario, asset: Asset, t: number): boolean {
  return scenario.events.some(
    (e) =>
      (e.kind === "oracleOutage" && e.asset === asset && t >= e.from && t <= e.to) ||
      (e.kind === "sequencerDown" && t >= e.from && t < e.to),
  );
}

/** The step at the path's lowest price (low included): where the "worst" histogram is taken. */
function worstIndex(path: PricePoint[], timeline: number[]): number {
  let worst = path[0];
  for (const p of path) if ((p.low ?? p.price) < (worst.low ?? worst.price)) worst = p;
  return Math.max(0, timeline.indexOf(worst.timestamp));
}

/** Health (E / MM) of every account with a requirement, re-read in full now. */
async function histogram(bot: LiquidatorBot, ids: bigint[], label: string, t: number): Promise<HealthHistogram> {
  await bot.refresh(ids);
  const counts = new Array(HEALTH_BOUNDS.length + 1).fill(0);
  for (const id of ids) {
    const r = bot.reading(id);
    if (r === undefined || !r.ok || r.maintenanceMargin === 0n) continue;
    const ratio = Number((r.equity * 10_000n) / r.maintenanceMargin) / 10_000;
    let b = HEALTH_BOUNDS.findIndex((bound) => ratio < bound);
    if (b === -1) b = HEALTH_BOUNDS.length;
    counts[b]++;
  }
  return { label, timestamp: t, bounds: HEALTH_BOUNDS, counts };
}

function tryParse(engine: LiquidationEngine, log: { topics: readonly string[]; data: string }) {
  try {
    return engine.interface.parseLog({ topics: [...log.topics], data: log.data });
  } catch {
    return null;
  }
}

const usd = (wad: bigint) => Number(wad) / 1e18;
const round2 = (x: number) => Math.round(x * 100) / 100;
