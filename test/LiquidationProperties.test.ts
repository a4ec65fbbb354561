import { expect } from "chai";
import { ethers } from "hardhat";
import fc from "fast-check";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { paramIndex } from "../scripts/lib/params";
import {
  CROSS,
  ISOLATED,
  ETH,
  BTC,
  WAD,
  TICK,
  USDC_SCALE,
  ETH_PRICE,
  BTC_PRICE,
  usdc,
  wad,
  min,
  configuredParams,
  shockRatio,
} from "./helpers/marginModel";
import {
  FLOOR_UNITS,
  LIQ,
  ThroughputModel,
  accountInputs,
  bidPrice,
  bufferMargin,
  checkBid,
  checkConservation,
  currentVersion,
  discountAt,
  fund,
  grossValue,
  healthOffset,
  latest,
  liquidationFee,
  openAccount,
  payoutAt,
  readAuction,
  setupLiquidationMarkets,
  termsAt,
  usdcInSystem,
  type AccountInputs,
  type AuctionState,
  type Refusal,
  type Terms,
} from "./helpers/liquidationBot";

// Property tests of the liquidation engine: random accounts (isolated or cross, USDC and / or
// WETH collateral, positions up to close to their IM), random price moves that put most of them
// below MM (some under water), random bid sequences (fractions up to the largest allowed, down to
// a few wei, at random times), and per run: maybe a low THROUGHPUT_CAP, maybe a move back in the
// accounts' favour (a rebound), and whether the bidder terminates auctions found at or above BM.
// After every step:
//   1. the auction price never rises with time: for the same account state, the solvent price
//      quoted later is at most the earlier one and the insolvent payout never falls (checked on
//      views at two mined timestamps; every quoted discount, payout, fee and max fraction is also
//      checked exactly against the formulas at the latest block's timestamp, max fraction 0 when
//      the throughput cap would refuse the start);
//   2. a bid never lowers the liquidated account's buffer status E - BM (BM = MM x 1.1, rounded
//      up), against the quote's after-fee figures when the bid starts the auction; a bid never
//      ends an auction with E' < BM', nor leaves one running at or above BM (test/helpers/
//      liquidationBot.ts checkBid);
//   3. stablecoin conservation: MarginAccounts holds the positive balances, settlementDebt is the
//      negative parts, and the USDC in the pool, accounts, fund and signers' wallets is constant;
//   4. the insurance fund never pays below its floor (if it started at or above it);
//   5. split insolvent bids share one cap: beyond their fractions of the deficit, the bids of one
//      auction are paid at most INSOLVENT_PAYOUT_CAP (the untaken part, `remaining`, is tracked
//      exactly), and the pool's totalAssets moves by exactly -poolPaid (up to unit rounding);
//   6. a bid below the minimum (DUST_THRESHOLD of the gross value) reverts BidTooSmall(fraction,
//      exact minimum), and the minimum itself is accepted; one above the largest allowed reverts
//      FractionTooLarge(fraction, exact max);
//   7. a running auction whose account is back at or above MM is bid from a fresh curve: the start
//      discount, AuctionRestarted(id, now, version), the refreshed auction stored; at or above BM
//      nothing may be taken (FractionTooLarge(f, 0)) and terminateAuction ends it (below BM it
//      reverts BelowBufferMargin(id, E, BM));
//   8. the throughput cap counts each auction's notional when it starts: a start that does not
//      fit the window reverts ThroughputCapExceeded(market, notional, room, windowEnd) both ways
//      (liquidate and startAuction), bids on running auctions are never limited.
// Every bid's events are checked exactly (checkBid).

// Fixed seed, runs sized for CI (well under a minute); explore further with e.g.
// LIQUIDATION_PROPERTY_SEED=7 LIQUIDATION_PROPERTY_RUNS=300 npx hardhat test test/LiquidationProperties.test.ts
// A failure prints its seed and path (fast-check); replay just that case with the same seed and
// runs plus LIQUIDATION_PROPERTY_PATH=<path>. The per-run extras (cap, rebound, housekeeping) are
// drawn after the scenario, so a seed draws the same scenarios as before they existed;
// LIQUIDATION_PROPERTY_EXTRAS=0 runs those scenarios without them.
const NUM_RUNS = Number(process.env.LIQUIDATION_PROPERTY_RUNS ?? 80);
const EXTRAS = process.env.LIQUIDATION_PROPERTY_EXTRAS !== "0";
const SEED = Number(process.env.LIQUIDATION_PROPERTY_SEED ?? 20250214);
const MAX_STEPS = 8;
const ADMIN_USDC = usdc("2000000");
/** The feed is fresh for 3600 + 300 s: a fresh round is pushed before a step could outlive it. */
const FRESH_FOR = 3300n;

// ---------------------------------------------------------------- fixture

/**
 * The markets (ETH 3000, BTC 60000, no TWAPs, funding off), 10M USDC in the pool, an empty
 * insurance fund (each run tops it up), the bidder's cross account with 20M USDC (signer 2), and
 * three traders (signers 3-5) holding USDC and WETH. The admin keeps USDC for the fund's top-ups.
 */
async function propertyFixture() {
  const f = await setupLiquidationMarkets({ liquidity: usdc("10000000"), insurance: 0n });
  const [admin, , bidder, ...traders] = f.signers;
  await f.usdc.mint(admin.address, ADMIN_USDC);
  await f.usdc.connect(admin).approve(f.addr.fund, ethers.MaxUint256);
  await fund(f, bidder, usdc("20000000"), 0n);
  const bidderId = await openAccount(f, bidder, CROSS, 0, usdc("20000000"), 0n);
  for (const t of traders.slice(0, 3)) await fund(f, t, usdc("1000000"), wad("100"));
  const sigmaOf = { [ETH]: f.sigma.eth, [BTC]: f.sigma.btc };
  const total = await usdcInSystem(f);
  return { ...f, bidder, bidderId, traders: traders.slice(0, 3), sigmaOf, total };
}

type Fixture = Awaited<ReturnType<typeof propertyFixture>>;

// ---------------------------------------------------------------- arbitraries

type Market = typeof ETH | typeof BTC;

interface AccountSpec {
  cross: boolean;
  market: Market;
  usdc: number;
  /** Hundredths of WETH. */
  weth: number;
  /** IM as basis points of the weighted equity at the opening prices. */
  load: number;
  /** Against the market's move (loses), or with it. */
  adverse: boolean;
  /** Cross accounts: also a position in the other market. */
  hedge: boolean;
}

const accountArb: fc.Arbitrary<AccountSpec> = fc.record({
  cross: fc.boolean(),
  market: fc.constantFrom<Market>(ETH, BTC),
  usdc: fc.oneof(fc.constant(0), fc.integer({ min: 1000, max: 50000 })),
  weth: fc.oneof(fc.constant(0), fc.integer({ min: 10, max: 1000 })),
  load: fc.integer({ min: 5000, max: 9300 }),
  adverse: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  hedge: fc.boolean(),
});

/** A move in basis points: up or down by 4% to 19% (below the 20% circuit-breaker bound). */
const moveArb = fc.tuple(fc.boolean(), fc.integer({ min: 400, max: 1900 })).map(([up, bps]) => (up ? bps : -bps));

type FractionPick = { kind: "max" } | { kind: "bps"; bps: number } | { kind: "wei"; wei: bigint };

type Step =
  | { kind: "bid"; pick: number; wait: number; dt: number; fraction: FractionPick }
  | { kind: "move"; market: Market; bps: number }
  | { kind: "wait"; seconds: number };

const fractionArb: fc.Arbitrary<FractionPick> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ kind: "max" as const }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant("bps" as const), bps: fc.integer({ min: 1, max: 9999 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("wei" as const), wei: fc.bigInt({ min: 1n, max: 10n ** 6n }) }),
  },
);

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.record({
      kind: fc.constant("bid" as const),
      pick: fc.nat(2),
      wait: fc.oneof(
        fc.constant(1),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 60, max: 1800 }),
        fc.constant(Number(LIQ.ramp)),
      ),
      dt: fc.integer({ min: 1, max: 900 }),
      fraction: fractionArb,
    }),
  },
  {
    // A further move in the same direction as the first one.
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant("move" as const),
      market: fc.constantFrom<Market>(ETH, BTC),
      bps: fc.integer({ min: 50, max: 500 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant("wait" as const), seconds: fc.integer({ min: 60, max: 4000 }) }),
  },
);

const scenarioArb = fc.record({
  topUp: fc.oneof(fc.constant(0), fc.integer({ min: 500, max: 5000 }), fc.integer({ min: 5000, max: 80000 })),
  accounts: fc.array(accountArb, { minLength: 1, maxLength: 3 }),
  moves: fc.record({ eth: moveArb, btc: moveArb }),
  steps: fc.array(stepArb, { minLength: 1, maxLength: MAX_STEPS }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** Per run, drawn after the scenario (which a seed therefore draws as it always did). */
const extrasArb = fc.record({
  /** THROUGHPUT_CAP for the run (USD), or the configured one (10M: it never binds here). */
  cap: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.integer({ min: 10_000, max: 1_000_000 }) },
  ),
  /** A move against the first one (in the adverse accounts' favour) after step `at` (modulo the steps). */
  rebound: fc.oneof(
    { weight: 1, arbitrary: fc.constant(null) },
    {
      weight: 2,
      arbitrary: fc.record({
        at: fc.nat(MAX_STEPS - 1),
        market: fc.constantFrom<Market>(ETH, BTC),
        bps: fc.integer({ min: 100, max: 1900 }),
      }),
    },
  ),
  /** Whether the bidder terminates every auction at or above BM before each bid (or leaves them running). */
  housekeeping: fc.boolean(),
  /** Whether a keeper starts every auction it may before each bid (startAuction). */
  starter: fc.oneof({ weight: 2, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
});

type Extras = typeof extrasArb extends fc.Arbitrary<infer T> ? T : never;
const NO_EXTRAS: Extras = { cap: null, rebound: null, housekeeping: false, starter: false };

// ---------------------------------------------------------------- the run

interface Run {
  f: Fixture;
  ids: bigint[];
  /** Feed answers (8 decimals) and the last push. */
  price: Record<Market, bigint>;
  direction: Record<Market, number>;
  lastPush: bigint;
  fundStartedAtFloor: boolean;
  /** Per running auction: what its insolvent bids were paid beyond their share of the deficit (WAD). */
  beyond: Map<bigint, { paid: bigint; bids: number }>;
  /** The notional that entered auctions per market and window. */
  throughput: ThroughputModel;
  housekeeping: boolean;
  starter: boolean;
}

const stats = {
  runs: 0,
  bids: 0,
  starts: 0,
  insolventBids: 0,
  ended: 0,
  restoredByConstruction: 0,
  belowMinimum: 0,
  minimumBids: 0,
  aboveMaximum: 0,
  recoveredBids: 0,
  refusedStarts: 0,
  sweepStarts: 0,
  aboveBuffer: 0,
  terminated: 0,
  rebounds: 0,
  cappedRuns: 0,
  /** The least E' - BM' a bid of exactly the buffer fraction left (WAD). */
  minRestoredSlack: null as bigint | null,
  fundPaid: 0n,
  poolPaid: 0n,
  monotoneChecks: 0,
  healthySkips: 0,
  runsBelowFloor: 0,
  splitInsolvent: 0,
};

/** Fresh rounds at the run's prices, one second apart. */
async function pushPrices(run: Run) {
  await time.setNextBlockTimestamp((await latest()) + 1n);
  await run.f.ethFeed.push(run.price[ETH]);
  await time.setNextBlockTimestamp((await latest()) + 1n);
  await run.f.btcFeed.push(run.price[BTC]);
  run.lastPush = await latest();
}

/** Pushes fresh rounds at the same prices if `seconds` from now would outlive the current ones. */
async function keepFresh(run: Run, seconds: bigint) {
  if ((await latest()) + seconds - run.lastPush > FRESH_FOR) await pushPrices(run);
}

/** Opens one account: collateral, then a position whose IM is `load` of the weighted equity. */
async function openSpec(
  f: Fixture,
  owner: (typeof f.traders)[number],
  spec: AccountSpec,
  direction: Record<Market, number>,
) {
  const usdcAmount = usdc(String(spec.usdc === 0 && spec.weth === 0 ? 1000 : spec.usdc));
  const wethAmount = (BigInt(spec.weth) * WAD) / 100n;
  const mode = spec.cross ? CROSS : ISOLATED;
  const id = await openAccount(f, owner, mode, spec.cross ? 0 : spec.market, usdcAmount, wethAmount);
  const equity = usdcAmount * USDC_SCALE + (wethAmount * 3000n * 85n) / 100n; // weighted, WAD USD
  const legs: [Market, bigint][] =
    spec.cross && spec.hedge
      ? [
          [spec.market, (BigInt(spec.load) * 7n) / 10n],
          [spec.market === ETH ? BTC : ETH, (BigInt(spec.load) * 3n) / 10n],
        ]
      : [[spec.market, BigInt(spec.load)]];
  for (const [market, load] of legs) {
    const params = configuredParams(market);
    const price = (market === ETH ? ETH_PRICE : BTC_PRICE) * TICK;
    const s = shockRatio(params, 0n, f.sigmaOf[market]);
    // IM = notional x s x multiplier = load x equity.
    const notional = (equity * load * WAD * WAD) / 10000n / s / params.imMultiplier;
    let size = (notional * WAD) / price;
    if (size > params.maxPositionSize) size = params.maxPositionSize;
    // Adverse: against the market's coming move.
    const long = spec.adverse ? direction[market] < 0 : direction[market] > 0;
    const delta = long ? size : -size;
    await f.perps.connect(owner).modifyPosition(id, market, delta, long ? ethers.MaxUint256 : 0n);
  }
  return id;
}

type Quote = Awaited<ReturnType<Fixture["liquidation"]["quote"]>>;

/**
 * The exact view checks of one quote at the latest block's timestamp `t`: the terms by the
 * formulas (a fresh curve for a recovered account), and max fraction 0 when the throughput cap
 * would refuse the start (`refusal`).
 */
function expectQuote(
  run: Run,
  q: Quote,
  auction: AuctionState | null,
  inputs: AccountInputs,
  t: bigint,
  where: string,
): Terms & { refusal: Refusal | null } {
  const terms = termsAt(auction, q, grossValue(inputs, q.markToMarket), t);
  const refusal = auction === null ? run.throughput.refusal(inputs.positions, t) : null;
  expect(q.bufferMargin, `${where}: bufferMargin`).to.equal(terms.bufferMargin);
  expect(q.auctionRunning, `${where}: auctionRunning`).to.equal(auction !== null);
  expect(q.insolvent, `${where}: insolvent`).to.equal(q.markToMarket <= 0n);
  if (auction === null) {
    expect(q.fee, `${where}: fee`).to.equal(liquidationFee(q.maintenanceMargin, q.markToMarket + q.fee * USDC_SCALE));
  } else {
    expect(q.fee, `${where}: no fee while running`).to.equal(0n);
  }
  expect([q.discount, q.payout], `${where}: discount and payout at the latest block (t=${t})`).to.deep.equal([
    terms.discount,
    terms.payout,
  ]);
  expect(q.maxFraction, `${where}: maxFraction (start refused: ${refusal !== null})`).to.equal(
    refusal === null ? terms.bufferFraction : 0n,
  );
  return { ...terms, refusal };
}

/**
 * Property 7, housekeeping: every running auction whose account is at or above BM is ended by
 * terminateAuction (AuctionEnded, storage cleared); below BM, terminateAuction reverts
 * BelowBufferMargin(id, E, BM).
 */
async function sweep(run: Run, where: string) {
  const { f } = run;
  for (const id of run.ids) {
    if ((await readAuction(f, id)) === null) continue;
    const m = await f.engine.accountMargin(id);
    const bm = bufferMargin(m.maintenanceMargin);
    if (m.equity < bm) {
      await expect(f.liquidation.terminateAuction.staticCall(id), `${where}: account ${id} below BM`)
        .to.be.revertedWithCustomError(f.liquidation, "BelowBufferMargin")
        .withArgs(id, m.equity, bm);
      continue;
    }
    await expect(f.liquidation.terminateAuction(id), `${where}: account ${id} at or above BM`)
      .to.emit(f.liquidation, "AuctionEnded")
      .withArgs(id);
    expect(await readAuction(f, id), `${where}: account ${id} terminated`).to.equal(null);
    run.beyond.delete(id);
    stats.terminated++;
  }
}

/**
 * Property 8, a keeper that starts every auction it may: each account below MM without an
 * auction is started with startAuction (AuctionStarted with the quoted figures, the fee to the
 * fund, the stored auction) when the throughput model admits it, and refused with the exact
 * ThroughputCapExceeded figures when it does not.
 */
async function startSweep(run: Run, where: string) {
  const { f } = run;
  for (const id of run.ids) {
    if ((await readAuction(f, id)) !== null || !(await f.liquidation.isLiquidatable(id))) continue;
    const t = await latest();
    const inputs = await accountInputs(f, id);
    const q = await f.liquidation.quote(id, 0n);
    const c = expectQuote(run, q, null, inputs, t, `${where} start sweep, account ${id}`);
    if (c.refusal !== null) {
      await expect(f.liquidation.startAuction.staticCall(id), `${where}: account ${id} refused`)
        .to.be.revertedWithCustomError(f.liquidation, "ThroughputCapExceeded")
        .withArgs(c.refusal.marketId, c.refusal.notional, c.refusal.room, c.refusal.windowEnd);
      stats.refusedStarts++;
      continue;
    }
    const T = t + 1n;
    const version = await currentVersion(f);
    const fundBefore = await f.fund.balance();
    await time.setNextBlockTimestamp(T);
    await expect(f.liquidation.startAuction(id), `${where}: account ${id} started`)
      .to.emit(f.liquidation, "AuctionStarted")
      .withArgs(id, f.admin.address, q.equity, q.maintenanceMargin, q.markToMarket, q.fee, c.curveStart + 1n, version);
    run.throughput.admit(inputs.positions, T);
    expect(await readAuction(f, id), `${where}: account ${id} stored`).to.deep.equal({
      startTime: T,
      curveStart: c.curveStart + 1n,
      version,
      remaining: WAD,
    });
    expect(await f.fund.balance(), `${where}: the fee to the fund`).to.equal(fundBefore + q.fee);
    run.beyond.delete(id);
    stats.sweepStarts++;
  }
}

async function bidStep(run: Run, step: Extract<Step, { kind: "bid" }>, where: string): Promise<string> {
  const { f } = run;
  const bidder = f.liquidation.connect(f.bidder);
  await keepFresh(run, BigInt(step.wait + step.dt + 10));
  if (run.housekeeping) await sweep(run, where);
  if (run.starter) await startSweep(run, where);
  // The accounts a bid may take: in an auction, or below MM.
  const candidates: bigint[] = [];
  for (const id of run.ids) {
    if ((await readAuction(f, id)) !== null || (await f.liquidation.isLiquidatable(id))) candidates.push(id);
  }
  if (candidates.length === 0) {
    stats.healthySkips++;
    return "healthy";
  }
  const id = candidates[step.pick % candidates.length];
  const auction = await readAuction(f, id);
  const running = auction !== null;
  const inputs = await accountInputs(f, id);
  const nonce = await f.accounts.nonce(id);

  // Property 1: two views of the same state at two mined timestamps T1 < T2.
  const t1 = (await latest()) + BigInt(step.wait);
  await time.increaseTo(t1);
  const q0 = await f.liquidation.quote(id, 0n);
  const c1 = expectQuote(run, q0, auction, inputs, t1, `${where} T1`);
  if (c1.refusal !== null) {
    // Property 8: the window has no room for this account's notional; neither way starts it.
    const r = c1.refusal;
    for (const call of [
      () => bidder.startAuction.staticCall(id),
      () => bidder.liquidate.staticCall(id, WAD, ethers.MaxInt256, f.bidderId, nonce),
    ]) {
      await expect(call(), `${where}: start refused`)
        .to.be.revertedWithCustomError(f.liquidation, "ThroughputCapExceeded")
        .withArgs(r.marketId, r.notional, r.room, r.windowEnd);
    }
    stats.refusedStarts++;
    return "refused";
  }
  if (running && q0.equity >= q0.bufferMargin) {
    // Property 7: back at or above BM (after a favourable move): nothing to take, even of a dust
    // account; anyone may end the auction.
    await expect(bidder.liquidate.staticCall(id, 1n, 0n, f.bidderId, nonce))
      .to.be.revertedWithCustomError(f.liquidation, "FractionTooLarge")
      .withArgs(1n, 0n);
    expect(run.housekeeping, `${where}: the sweep ended it`).to.equal(false);
    stats.aboveBuffer++;
    return "above-buffer";
  }
  if (running) {
    await expect(f.liquidation.terminateAuction.staticCall(id), `${where}: below BM`)
      .to.be.revertedWithCustomError(f.liquidation, "BelowBufferMargin")
      .withArgs(id, q0.equity, q0.bufferMargin);
  }
  let fraction: bigint;
  if (step.fraction.kind === "bps") fraction = (q0.maxFraction * BigInt(step.fraction.bps)) / 10000n;
  else if (step.fraction.kind === "wei") fraction = min(step.fraction.wei, q0.maxFraction);
  else fraction = q0.maxFraction;
  if (fraction === 0n) fraction = 1n;
  const q1 = await f.liquidation.quote(id, fraction);
  const t2 = t1 + BigInt(step.dt);
  await time.increaseTo(t2);
  const q2 = await f.liquidation.quote(id, fraction);
  const c2 = expectQuote(run, q2, auction, inputs, t2, `${where} T2`);
  expect([q2.equity, q2.maintenanceMargin, q2.markToMarket], `${where}: same state`).to.deep.equal([
    q1.equity,
    q1.maintenanceMargin,
    q1.markToMarket,
  ]);
  expect(q1.price, `${where}: quoted price at T1`).to.equal(
    bidPrice(q1.markToMarket, fraction, c1.discount, c1.payout),
  );
  expect(q2.price, `${where}: quoted price at T2`).to.equal(
    bidPrice(q2.markToMarket, fraction, c2.discount, c2.payout),
  );
  if (running) {
    expect(q2.price <= q1.price, `${where}: price ${q1.price} -> ${q2.price} never rises`).to.equal(true);
    expect(q2.payout >= q1.payout, `${where}: payout ${q1.payout} -> ${q2.payout} never falls`).to.equal(true);
    expect(q2.discount >= q1.discount, `${where}: discount never falls`).to.equal(true);
  } else {
    // The auction a bid would start now starts at the same point of its curve whenever it starts.
    expect([q2.price, q2.discount, q2.payout, q2.fee], `${where}: start quote is time-invariant`).to.deep.equal([
      q1.price,
      q1.discount,
      q1.payout,
      q1.fee,
    ]);
  }
  stats.monotoneChecks++;

  // Property 6, at T2 (eth_call at the latest block): the bounds of one bid, exactly.
  if (fraction < c2.minFraction) {
    await expect(bidder.liquidate.staticCall(id, fraction, ethers.MaxInt256, f.bidderId, nonce), `${where}: min`)
      .to.be.revertedWithCustomError(f.liquidation, "BidTooSmall")
      .withArgs(fraction, c2.minFraction);
    stats.belowMinimum++;
  }
  if (step.fraction.kind === "max" && c2.bufferFraction < WAD) {
    const over = c2.bufferFraction + 1n;
    await expect(bidder.liquidate.staticCall(id, over, ethers.MaxInt256, f.bidderId, nonce), `${where}: max`)
      .to.be.revertedWithCustomError(f.liquidation, "FractionTooLarge")
      .withArgs(over, c2.bufferFraction);
    stats.aboveMaximum++;
  }

  // The bid, one second later, at exactly the price the formulas give: the largest fraction then,
  // or the picked one, raised to the minimum if below it.
  const t3 = t2 + 1n;
  const mtm = q2.markToMarket;
  const gross = grossValue(inputs, mtm);
  const terms = termsAt(auction, q2, gross, t3);
  if (step.fraction.kind === "max") fraction = terms.bufferFraction;
  const atMinimum = fraction <= terms.minFraction && terms.minFraction < terms.bufferFraction;
  if (fraction < terms.minFraction) fraction = terms.minFraction;
  const price = bidPrice(mtm, fraction, terms.discount, terms.payout);
  if (running) {
    const m = await f.engine.accountMargin(id);
    expect(m.equity - terms.bufferMargin, `${where}: engine and quote agree`).to.equal(q2.equity - q2.bufferMargin);
  }
  const fundHeld = await f.fund.balance();
  const assetsBefore = await f.pool.totalAssets();
  const version = await currentVersion(f);
  await time.setNextBlockTimestamp(t3);
  const tx = await bidder.liquidate(id, fraction, price, f.bidderId, nonce);
  // Property 2 (and every event) in checkBid.
  const r = await checkBid(
    f,
    tx,
    {
      accountId: id,
      bidderAccountId: f.bidderId,
      bidder: f.bidder.address,
      fraction,
      figures: q2,
      auction,
      version,
      inputs,
      fundHeld,
    },
    where,
  );
  expect([r.t, r.price], `${where}: bid time and price`).to.deep.equal([t3, price]);
  if (r.starting) run.throughput.admit(inputs.positions, t3);
  if (step.fraction.kind === "max" && mtm > LIQ.dust) {
    expect(r.restoresByConstruction, `${where}: a max bid takes the buffer fraction`).to.equal(true);
  }
  // Property 7: a recovered account is bid from a fresh curve (AuctionRestarted checked in checkBid).
  const recovered = running && q2.equity >= q2.maintenanceMargin;
  expect(r.refreshed, `${where}: fresh curve for an account at or above MM`).to.equal(recovered);
  if (recovered) {
    expect([r.startTime, r.curveStart], `${where}: refreshed at the bid`).to.deep.equal([t3, t3]);
    if (mtm > 0n) expect(r.discount, `${where}: the start discount`).to.equal(LIQ.startDiscount);
    stats.recoveredBids++;
  }
  // Property 5: one cap per auction, however its insolvent bids are split; each bid is paid beyond
  // its share of the deficit at most its share of AUCTION_DISCOUNT_CAP x gross (no dust farm).
  if (r.starting) run.beyond.delete(id);
  if (mtm <= 0n) {
    const b = run.beyond.get(id) ?? { paid: 0n, bids: 0 };
    b.paid += r.beyondDeficit;
    b.bids++;
    run.beyond.set(id, b);
    if (b.bids === 2) stats.splitInsolvent++;
    expect(b.paid <= LIQ.payoutCap + BigInt(b.bids), `${where}: paid ${b.paid} beyond the deficits`).to.equal(true);
    const share = (fraction * ((gross * LIQ.discountCap) / WAD)) / WAD + 1n;
    expect(
      r.beyondDeficit <= share,
      `${where}: ${r.beyondDeficit} beyond the deficit, within discountCap x gross`,
    ).to.equal(true);
  }
  if (r.ended) run.beyond.delete(id);
  // The pool's totalAssets moves by -poolPaid, up to the unit rounding of the realized PnL.
  const drift = (await f.pool.totalAssets()) - assetsBefore + r.poolPaid;
  expect(drift >= -3n && drift <= 3n, `${where}: pool totalAssets drift ${drift} units`).to.equal(true);

  stats.bids++;
  if (r.starting) stats.starts++;
  if (mtm <= 0n) stats.insolventBids++;
  if (r.ended) stats.ended++;
  if (r.restoresByConstruction) {
    stats.restoredByConstruction++;
    if (stats.minRestoredSlack === null || r.after < stats.minRestoredSlack) stats.minRestoredSlack = r.after;
  }
  if (atMinimum) stats.minimumBids++;
  stats.fundPaid += r.fundPaid;
  stats.poolPaid += r.poolPaid;
  return `${mtm > 0n ? "solvent" : "insolvent"}${r.ended ? "-ended" : ""}`;
}

/** Moves a market's price by `bps` with the run's first move (`sign` 1) or against it (-1). */
async function move(run: Run, market: Market, bps: number, sign: number) {
  const p = run.price[market];
  run.price[market] = (p * BigInt(10000 + sign * run.direction[market] * bps)) / 10000n;
  await time.increase(60);
  await pushPrices(run);
}

/** Properties 3 and 4 after every step. */
async function checkInvariants(run: Run, where: string) {
  await checkConservation(run.f, run.f.total, where);
  const held = await run.f.fund.balance();
  if (run.fundStartedAtFloor) expect(held >= FLOOR_UNITS, `${where}: fund ${held} >= floor`).to.equal(true);
}

async function runScenario(s: Scenario, extras: Extras) {
  const f = await loadFixture(propertyFixture);
  stats.runs++;
  // Each run starts a second into a throughput window (floor(t / WINDOW)) at the opening prices,
  // so that which starts share a window does not depend on the wall clock.
  await time.increaseTo(((await latest()) / LIQ.window + 1n) * LIQ.window);
  await f.ethFeed.push(ETH_PRICE);
  await f.btcFeed.push(BTC_PRICE);
  const throughput = new ThroughputModel();
  if (extras.cap !== null) {
    throughput.cap = wad(String(extras.cap));
    await f.riskConfig.setParameter(paramIndex("THROUGHPUT_CAP"), 0, throughput.cap);
    stats.cappedRuns++;
  }
  if (s.topUp > 0) await f.fund.connect(f.admin).topUp(usdc(String(s.topUp)));
  const direction = { [ETH]: Math.sign(s.moves.eth), [BTC]: Math.sign(s.moves.btc) } as Record<Market, number>;
  const ids: bigint[] = [];
  for (let i = 0; i < s.accounts.length; i++) ids.push(await openSpec(f, f.traders[i], s.accounts[i], direction));
  const run: Run = {
    f,
    ids,
    price: {
      [ETH]: (ETH_PRICE * BigInt(10000 + s.moves.eth)) / 10000n,
      [BTC]: (BTC_PRICE * BigInt(10000 + s.moves.btc)) / 10000n,
    } as Record<Market, bigint>,
    direction,
    lastPush: 0n,
    fundStartedAtFloor: false,
    beyond: new Map(),
    throughput,
    housekeeping: extras.housekeeping,
    starter: extras.starter,
  };
  await time.increase(60);
  await pushPrices(run);
  run.fundStartedAtFloor = (await f.fund.balance()) >= FLOOR_UNITS;
  if (!run.fundStartedAtFloor) stats.runsBelowFloor++;
  await checkInvariants(run, "after the move");
  for (let i = 0; i < s.steps.length; i++) {
    const step = s.steps[i];
    const where = `step ${i} ${JSON.stringify(step, (_, v) => (typeof v === "bigint" ? v.toString() : v))}`;
    if (step.kind === "bid") await bidStep(run, step, where);
    else if (step.kind === "move") await move(run, step.market, step.bps, 1);
    else {
      await time.increase(step.seconds);
      await keepFresh(run, 0n);
    }
    await checkInvariants(run, where);
    if (extras.rebound !== null && extras.rebound.at % s.steps.length === i) {
      // In the adverse accounts' favour: some running auctions come back above MM, or BM.
      await move(run, extras.rebound.market, extras.rebound.bps, -1);
      stats.rebounds++;
      await checkInvariants(run, `rebound after step ${i}`);
    }
  }
  if (run.housekeeping) {
    await keepFresh(run, 0n);
    await sweep(run, "the end");
    await checkInvariants(run, "the end");
  }
}

describe("Liquidation properties", function () {
  this.timeout(600_000);

  it("views are evaluated at the latest mined block's timestamp (quote discount and payout)", async () => {
    const f = await loadFixture(propertyFixture);
    const [solvent, insolvent] = f.traders;
    // 10,000 USDC, 50 ETH long (15x): at 2900 below MM and solvent, at 2700 under water.
    const a = await openAccount(f, solvent, ISOLATED, ETH, usdc("10000"), 0n);
    const b = await openAccount(f, insolvent, ISOLATED, ETH, usdc("10000"), 0n);
    for (const [owner, id] of [
      [solvent, a],
      [insolvent, b],
    ] as const) {
      await f.perps.connect(owner).modifyPosition(id, ETH, wad("50"), ethers.MaxUint256);
    }
    await f.ethFeed.push(ETH_PRICE - (ETH_PRICE * 34n) / 1000n); // 2898
    const mA = await f.engine.accountMargin(a);
    expect(mA.maintenanceMargin > mA.equity && mA.equity > 0n, "a: below MM, solvent").to.equal(true);
    const t0 = (await latest()) + 10n;
    await time.setNextBlockTimestamp(t0);
    await f.liquidation.startAuction(a);
    const feeA = liquidationFee(mA.maintenanceMargin, (await f.engine.valuation(a)).markToMarket);
    const curveStart = t0 - healthOffset(mA.equity, mA.maintenanceMargin);
    for (const dt of [0n, 1n, 37n, 600n, 4000n]) {
      if (dt > 0n) await time.increaseTo(t0 + dt);
      expect(await latest()).to.equal(t0 + dt);
      const q = await f.liquidation.quote(a, WAD / 3n);
      expect(q.discount, `discount at +${dt}`).to.equal(discountAt(curveStart, t0 + dt));
      if (dt === 600n) await f.ethFeed.push(ETH_PRICE - (ETH_PRICE * 34n) / 1000n); // stays fresh
    }
    expect(feeA > 0n).to.equal(true);

    await f.ethFeed.push((ETH_PRICE * 9n) / 10n); // 2700
    const vB = await f.engine.valuation(b);
    expect(vB.markToMarket < 0n, "b: under water").to.equal(true);
    const grossB = grossValue(await accountInputs(f, b), vB.markToMarket);
    const t1 = (await latest()) + 5n;
    await time.setNextBlockTimestamp(t1);
    await f.liquidation.startAuction(b);
    for (const dt of [0n, 1n, 900n, 1799n, 1800n, 2500n]) {
      if (dt > 0n) await time.increaseTo(t1 + dt);
      const q = await f.liquidation.quote(b, WAD);
      const payout = payoutAt(-vB.markToMarket, grossB, t1, t1 + dt);
      expect(q.payout, `payout at +${dt}`).to.equal(payout);
      expect(q.price, `price at +${dt}`).to.equal(-(payout / USDC_SCALE));
    }
  });

  it("prices never rise, bids never lower E - BM nor end below BM, stay within [min, max], restart recovered curves, respect the throughput cap; USDC is conserved, the fund keeps its floor @stress", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, extrasArb, async (s, extras) => {
        await runScenario(s, EXTRAS ? extras : NO_EXTRAS);
      }),
      {
        numRuns: NUM_RUNS,
        seed: SEED,
        ...(process.env.LIQUIDATION_PROPERTY_PATH
          ? { path: process.env.LIQUIDATION_PROPERTY_PATH, endOnFailure: true }
          : {}),
      },
    );
    console.log(
      `      ${stats.runs} runs (${stats.runsBelowFloor} with the fund below its floor, ${stats.cappedRuns} with a ` +
        `low throughput cap, ${stats.rebounds} rebounds): ${stats.bids} bids (${stats.starts} starting, ` +
        `${stats.insolventBids} insolvent, ${stats.ended} ending the auction, ${stats.restoredByConstruction} of ` +
        `exactly the buffer fraction (E' - BM' >= ${stats.minRestoredSlack} wei after them), ${stats.minimumBids} of exactly the minimum, ${stats.recoveredBids} on ` +
        `recovered accounts, ${stats.splitInsolvent} insolvent auctions split); ${stats.belowMinimum} BidTooSmall, ` +
        `${stats.aboveMaximum} FractionTooLarge, ${stats.refusedStarts} ThroughputCapExceeded; ${stats.sweepStarts} ` +
        `auctions started by startAuction; ` +
        `${stats.aboveBuffer + stats.terminated} auctions found at or above BM (${stats.terminated} terminated); ` +
        `${stats.monotoneChecks} time-monotonicity checks, ${stats.healthySkips} skipped (nobody to take); fund paid ` +
        `${ethers.formatUnits(stats.fundPaid, 6)}, pool paid ${ethers.formatUnits(stats.poolPaid, 6)} USDC`,
    );
    expect(stats.bids).to.be.greaterThan(0);
    expect(stats.insolventBids).to.be.greaterThan(0);
    expect(stats.restoredByConstruction).to.be.greaterThan(0);
    expect(stats.poolPaid).to.be.greaterThan(0n);
    expect(stats.fundPaid).to.be.greaterThan(0n);
    expect(stats.belowMinimum, "bids below the minimum").to.be.greaterThan(0);
    expect(stats.minimumBids, "bids of exactly the minimum").to.be.greaterThan(0);
    if (EXTRAS) {
      expect(stats.recoveredBids, "bids on recovered accounts").to.be.greaterThan(0);
      expect(stats.refusedStarts, "starts refused by the throughput cap").to.be.greaterThan(0);
      expect(stats.terminated, "terminated auctions").to.be.greaterThan(0);
    }
  });
});
