import { expect } from "chai";
import { spawn } from "node:child_process";
import path from "node:path";
import { JsonRpcProvider, MaxUint256, Wallet, parseUnits } from "ethers";
import type { Interface, LogDescription, TransactionReceipt } from "ethers";
import { exportedAddresses, startNode, type LocalNode } from "../scripts/lib/node";
import { poolAt, sqrtPriceX96For } from "../scripts/lib/uniswap";
import {
  LiquidationEngine__factory,
  LiquidityPool__factory,
  MarginAccounts__factory,
  MockAggregator__factory,
  MockERC20__factory,
  PerpMarket__factory,
  PriceOracle__factory,
  UniswapV3Callee__factory,
} from "../typechain-types";

// The liquidator bot's CLI (scripts/liquidator.ts) run as a child process against a `hardhat node`
// it did not start, as it runs in production: it finds the accounts from events, starts the auction
// of the one below maintenance margin (MM) while a bid does not pay, bids once the discount pays,
// and closes what the bid brought in. The node is driven only through permissionless functions (the
// deployment is governed by the timelock), the mock tokens and the mock feeds.
//
// The tests share one node and run in order, each from where the previous one left the chain.
// Every figure is checked against what the node recorded (receipts, events, views at the block the
// bot read or at the block of its transaction), never against wall-clock timing.

const ROOT = path.resolve(__dirname, "..");
const TS_NODE = path.join(ROOT, "node_modules", ".bin", "ts-node");
const WAD = 10n ** 18n;
const ETH_MARKET = 1;
const TRADER_SIZE = 5n * WAD;
// eth_estimateGas costs this Hardhat version's node about 50 MB a call: every transaction names its gas.
const TX = { gasLimit: 3_000_000 };
/** Chain seconds between passes while the discount grows (the fast phase is 60 s, then 10% an hour). */
const AUCTION_STEP = 120;
/** Passes allowed for the discount to pay. */
const MAX_PASSES = 5;

// Accounts #0-#3 of Hardhat's default mnemonic ("test test ... junk"), which `hardhat node` funds.
const KEYS = {
  deployer: "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
  lp: "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
  trader: "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
  bot: "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
};

const usdc = (amount: string) => parseUnits(amount, 6);
/** A Chainlink answer with the mock feeds' 8 decimals. */
const answer = (usd: number) => BigInt(usd) * 10n ** 8n;
/** The fraction the bot bids: the largest allowed less 0.5%, so that it still fits a block later. */
const shaved = (maxFraction: bigint) => (maxFraction * 995n) / 1000n;
/** The bot logs WAD fractions and sizes as Number(x) / 1e18. */
const asLogged = (wad: bigint) => Number(wad) / 1e18;

/** One JSON line of the bot's stdout. */
type LogLine = Record<string, unknown>;

interface BotRun {
  lines: LogLine[];
  stderr: string;
  code: number | null;
}

/**
 * Runs the CLI to its exit. Asynchronously: the node's output pipe is drained by this process,
 * and a blocked event loop would let it fill and stall the node the bot is talking to.
 */
function runBot(args: string[]): Promise<BotRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(TS_NODE, ["--transpile-only", path.join("scripts", "liquidator.ts"), ...args], {
      cwd: ROOT,
      env: { ...process.env, KEEL_LIQUIDATOR_KEY: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => {
      const text = stdout.trim();
      try {
        const lines = text === "" ? [] : text.split("\n").map((line) => JSON.parse(line) as LogLine);
        resolve({ lines, stderr: stderr.trim(), code });
      } catch {
        reject(new Error(`the bot printed a line that is not JSON: ${text}`));
      }
    });
  });
}

/** The CLI exited 0 and wrote nothing on stderr. */
function expectClean(run: BotRun) {
  expect(run.stderr, "stderr").to.equal("");
  expect(run.code, "exit code").to.equal(0);
}

describe("LiquidatorBot CLI against a hardhat node @stress", function () {
  this.timeout(120_000);
  let node: LocalNode | undefined;
  let provider: JsonRpcProvider | undefined;
  let c: ReturnType<typeof connect>;
  let traderId: bigint;
  let botId: bigint;

  before(async function () {
    this.timeout(240_000);
    node = await startNode({ cwd: ROOT, timeoutMs: 180_000 });
    // cacheTimeout -1: ethers otherwise answers an identical request made within 250 ms from its
    // cache, and a transaction sent that soon after another gets the other's nonce.
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    provider.pollingInterval = 50;
    c = connect(provider, exportedAddresses(node.exportFile));
    await warmUp();
    await fundPool();
    traderId = await openTrader();
    botId = await openBidder();
    await moveEthTo(2800);
    expect(await c.engine.isLiquidatable(traderId), "the trader is below MM at 2800").to.equal(true);
  });

  after(async () => {
    provider?.destroy();
    await node?.stop();
  });

  it("starts the auction of the account below MM while a bid at the start discount does not pay", async () => {
    const head = await c.provider.getBlockNumber();
    const nonce = await c.accounts.nonce(traderId);
    const run = await runBot(botArgs());
    expectClean(run);
    expect(run.lines, "one decision, then the pass").to.have.length(2);
    const [decision, pass] = run.lines;
    expect(decision).to.include({ account: traderId.toString(), decision: "start-auction", reason: "unprofitable" });
    expect(decision.expectedProfitUsd as number, "expected profit").to.be.below(0);
    const quoted = await expectQuotedAt(decision, head);
    expect(pass).to.deep.equal({ pass: head, accounts: 2, read: 1, belowMaintenance: 1, bids: 0 });

    const receipt = await receiptOf(decision.tx);
    expect(receipt.blockNumber, "the start is the pass's only transaction").to.equal(head + 1);
    const started = eventsOf(receipt, "AuctionStarted");
    expect(
      started.map((e) => [e.args.accountId, e.args.by, e.args.maintenanceMargin, e.args.fee]),
      "AuctionStarted",
    ).to.deep.equal([[traderId, c.wallets.bot.address, quoted.maintenanceMargin, quoted.fee]]);
    const block = await c.provider.getBlock(receipt.blockNumber);
    expect((await c.engine.auctionOf(traderId)).auction.startTime, "auction start").to.equal(BigInt(block!.timestamp));
    expect(await c.accounts.nonce(traderId), "the fee's settlement moves the nonce").to.equal(nonce + 1n);
  });

  it("with --dry-run, logs the bid it would make once it pays and sends nothing", async () => {
    let decision: LogLine = {};
    for (let pass = 1; pass <= MAX_PASSES && decision.decision !== "dry-run"; pass++) {
      await mine(AUCTION_STEP);
      const head = await c.provider.getBlockNumber();
      const traderNonce = await c.accounts.nonce(traderId);
      const botTransactions = await c.provider.getTransactionCount(c.wallets.bot.address);
      const run = await runBot(botArgs("--dry-run"));
      expectClean(run);
      expect(run.lines, "one decision, then the pass").to.have.length(2);
      decision = run.lines[0];
      expect(decision.account, "account").to.equal(traderId.toString());
      if (decision.decision !== "dry-run") {
        expect(decision, `pass ${pass}: the only other outcome`).to.include({
          decision: "skip",
          reason: "unprofitable",
        });
      }
      await expectQuotedAt(decision, head);
      expect(decision, "no transaction").to.not.have.property("tx");
      expect(run.lines[1]).to.deep.equal({ pass: head, accounts: 2, read: 1, belowMaintenance: 1, bids: 0 });
      expect(await c.provider.getBlockNumber(), "no block mined").to.equal(head);
      expect(await c.provider.getTransactionCount(c.wallets.bot.address), "the bot's key sent nothing").to.equal(
        botTransactions,
      );
      expect(await c.accounts.nonce(traderId), "the account's nonce").to.equal(traderNonce);
    }
    expect(decision.decision, `a profitable bid within ${MAX_PASSES} passes`).to.equal("dry-run");
    expect(decision.expectedProfitUsd as number, "expected profit").to.be.at.least(0);
  });

  it("bids the largest fraction allowed less 0.5%, then closes the position it received", async () => {
    const head = await c.provider.getBlockNumber();
    const run = await runBot(botArgs());
    expectClean(run);
    const decisions = run.lines.map((line) => line.decision ?? "pass");
    expect(decisions, `the lines: ${JSON.stringify(run.lines)}`).to.deep.equal(["bid", "close", "pass"]);
    const [bid, close, pass] = run.lines;
    expect(bid.account, "account").to.equal(traderId.toString());
    expect(pass).to.deep.equal({ pass: head, accounts: 2, read: 1, belowMaintenance: 1, bids: 1 });

    // The bid: the pass's first transaction, priced by the bot at the head it read.
    const receipt = await receiptOf(bid.tx);
    expect(receipt.blockNumber, "bid block").to.equal(head + 1);
    expect(bid.gasUsed, "gas used").to.equal(Number(receipt.gasUsed));
    const quoted = await expectQuotedAt(bid, head);
    const liquidated = eventsOf(receipt, "Liquidated");
    expect(
      liquidated.map((e) => [e.args.accountId, e.args.bidderAccountId, e.args.bidder, e.args.fraction]),
      "Liquidated",
    ).to.deep.equal([[traderId, botId, c.wallets.bot.address, shaved(quoted.maxFraction)]]);
    expect(await c.accounts.nonce(traderId, { blockTag: receipt.blockNumber }), "nonce after the bid").to.equal(
      (await c.accounts.nonce(traderId, { blockTag: head })) + 1n,
    );

    // After it the account is back above MM, but 0.5% of the allowance short of the buffer margin:
    // the auction goes on (no AuctionEnded).
    const afterBid = await c.engine.quote(traderId, WAD, { blockTag: receipt.blockNumber });
    expect(await c.engine.isLiquidatable(traderId, { blockTag: receipt.blockNumber }), "liquidatable").to.equal(false);
    expect(afterBid.equity >= BigInt(afterBid.maintenanceMargin), "equity at or above MM").to.equal(true);
    expect(afterBid.equity < BigInt(afterBid.bufferMargin), "equity below the buffer margin").to.equal(true);
    expect(eventsOf(receipt, "AuctionEnded"), "AuctionEnded").to.deep.equal([]);
    expect(afterBid.auctionRunning, "auction running").to.equal(true);

    // The position that moved to the bot, at the bid's fraction (rounded toward zero)...
    const moved = (TRADER_SIZE * shaved(quoted.maxFraction)) / WAD;
    const transferred = eventsOf(receipt, "PositionLiquidated", c.perps.interface);
    expect(
      transferred.map((e) => [e.args.fromAccountId, e.args.toAccountId, e.args.marketId, e.args.size]),
      "PositionLiquidated",
    ).to.deep.equal([[traderId, botId, BigInt(ETH_MARKET), moved]]);

    // ...is sold back in the pass's next transaction, leaving the bot flat.
    expect(close).to.include({ decision: "close", market: ETH_MARKET, size: asLogged(moved) });
    const closeReceipt = await receiptOf(close.tx);
    expect(closeReceipt.blockNumber, "close block").to.equal(head + 2);
    const modified = eventsOf(closeReceipt, "PositionModified", c.perps.interface);
    expect(
      modified.map((e) => [e.args.accountId, e.args.marketId, e.args.sizeDelta, e.args.newSize]),
      "PositionModified",
    ).to.deep.equal([[botId, BigInt(ETH_MARKET), -moved, 0n]]);
    expect(await c.perps.accountMarkets(botId), "the bot's markets").to.deep.equal([]);
  });

  // ---------------------------------------------------------------- the bot's view of one decision

  function botArgs(...extra: string[]): string[] {
    return ["--rpc", node!.url, "--private-key", KEYS.bot, "--deployment", node!.exportFile, "--once", ...extra];
  }

  /**
   * Checks a decision line against the engine at `head`, the block the bot's pass read (eth_call
   * at a block runs at that block's timestamp, so a time-dependent quote is reproduced exactly):
   * the fraction is the allowance less 0.5% and the price is the engine's for that fraction.
   * Returns the whole-account quote.
   */
  async function expectQuotedAt(decision: LogLine, head: number) {
    const full = await c.engine.quote(traderId, WAD, { blockTag: head });
    const fraction = shaved(full.maxFraction);
    expect(decision.fraction, "fraction").to.equal(asLogged(fraction));
    const priced = await c.engine.quote(traderId, fraction, { blockTag: head });
    expect(decision.priceUnits, "price (settlement units)").to.equal(priced.price.toString());
    return full;
  }

  async function receiptOf(hash: unknown): Promise<TransactionReceipt> {
    expect(hash, "a transaction hash").to.be.a("string");
    const receipt = await c.provider.getTransactionReceipt(hash as string);
    expect(receipt?.status, `status of ${hash}`).to.equal(1);
    return receipt!;
  }

  /** The receipt's events of one name, decoded with `iface` (the liquidation engine's by default). */
  function eventsOf(
    receipt: TransactionReceipt,
    name: string,
    iface: Interface = c.engine.interface,
  ): LogDescription[] {
    return receipt.logs
      .map((log) => iface.parseLog(log))
      .filter((e): e is LogDescription => e !== null && e.name === name);
  }

  // ---------------------------------------------------------------- chain setup

  async function mine(seconds: number) {
    await c.provider.send("evm_increaseTime", [seconds]);
    await c.provider.send("evm_mine", []);
  }

  /** Fresh rounds on both feeds, accepted by the oracle; both prices must then be Ok. */
  async function pushRounds(ethUsd: number, btcUsd: number) {
    await (await c.ethFeed.push(answer(ethUsd), TX)).wait();
    await (await c.btcFeed.push(answer(btcUsd), TX)).wait();
    for (const token of [c.a.WETH, c.a.WBTC]) {
      await (await c.oracle.poke(token, TX)).wait();
      expect((await c.oracle.getPrice(token)).status, `status of ${token}`).to.equal(0n);
    }
  }

  /** A fresh node's pools are younger than their 1800 s TWAP window (Degraded): let it fill. */
  async function warmUp() {
    await mine(1900);
    await pushRounds(3000, 60000);
  }

  /** The LP's 1,000,000 USDC in the pool, the counterparty of every trade. */
  async function fundPool() {
    const lp = c.wallets.lp;
    await (await c.usdc.mint(lp.address, usdc("1000000"), TX)).wait();
    await (await c.usdc.connect(lp).approve(c.a.LiquidityPool, MaxUint256, TX)).wait();
    await (await c.pool.connect(lp).deposit(usdc("1000000"), lp.address, TX)).wait();
  }

  /** Creates an account of `owner` (mode 0 cross, 1 isolated), deposits `amount` USDC; its id. */
  async function openAccount(owner: Wallet, mode: number, marketId: number, amount: bigint): Promise<bigint> {
    const accounts = c.accounts.connect(owner);
    await (await c.usdc.mint(owner.address, amount, TX)).wait();
    await (await c.usdc.connect(owner).approve(c.a.MarginAccounts, MaxUint256, TX)).wait();
    const id = await accounts.nextAccountId();
    await (await accounts.createAccount(mode, marketId, TX)).wait();
    await (await accounts.deposit(id, c.a.USDC, amount, TX)).wait();
    return id;
  }

  /** An isolated ETH account with 1,500 USDC, long 5 ETH-perp (about 10x at 3000). */
  async function openTrader(): Promise<bigint> {
    const id = await openAccount(c.wallets.trader, 1, ETH_MARKET, usdc("1500"));
    const perps = c.perps.connect(c.wallets.trader);
    await (await perps.modifyPosition(id, ETH_MARKET, TRADER_SIZE, MaxUint256, TX)).wait();
    return id;
  }

  /** The bot's cross account with 200,000 USDC (the CLI finds it as its key's first account). */
  function openBidder(): Promise<bigint> {
    return openAccount(c.wallets.bot, 0, 0, usdc("200000"));
  }

  /**
   * Moves ETH to `usd` in both sources: the Uniswap pool is swapped there and held for a whole
   * TWAP window, then Chainlink answers it. The sources must agree within 3% for the price to stay
   * Ok, and the bot closes what it receives only at an Ok price (quoteFillPrice).
   */
  async function moveEthTo(usd: number) {
    const pool = c.a["WETH-USDC-Pool"];
    const [sqrtNow] = (await poolAt(pool, c.wallets.deployer).slot0()) as [bigint];
    const weth = { address: c.a.WETH, decimals: 18 };
    const target = sqrtPriceX96For(String(usd), weth, { address: c.a.USDC, decimals: 6 });
    const zeroForOne = target < sqrtNow;
    const wethIsToken0 = BigInt(c.a.WETH) < BigInt(c.a.USDC);
    // A zeroForOne swap pays token0 in (lowering its price in token1), the other way token1.
    const payWith = MockERC20__factory.connect(zeroForOne === wethIsToken0 ? c.a.WETH : c.a.USDC, c.wallets.deployer);
    const amount = 10n ** 30n; // more than the swap takes: it stops at the price limit
    await (await payWith.mint(c.wallets.deployer.address, amount, TX)).wait();
    await (await payWith.approve(c.a.UniswapV3Callee, amount, TX)).wait();
    await (await c.callee.swapExactIn(pool, zeroForOne, amount, target, TX)).wait();
    await mine(1900);
    await pushRounds(usd, 60000);
  }
});

/** Typed handles on the node's deployment (deployer-signed) and the four wallets. */
function connect(provider: JsonRpcProvider, a: Record<string, string>) {
  const wallets = {
    deployer: new Wallet(KEYS.deployer, provider),
    lp: new Wallet(KEYS.lp, provider),
    trader: new Wallet(KEYS.trader, provider),
    bot: new Wallet(KEYS.bot, provider),
  };
  const d = wallets.deployer;
  return {
    a,
    provider,
    wallets,
    accounts: MarginAccounts__factory.connect(a.MarginAccounts, d),
    perps: PerpMarket__factory.connect(a.PerpMarket, d),
    engine: LiquidationEngine__factory.connect(a.LiquidationEngine, d),
    oracle: PriceOracle__factory.connect(a.PriceOracle, d),
    pool: LiquidityPool__factory.connect(a.LiquidityPool, d),
    usdc: MockERC20__factory.connect(a.USDC, d),
    ethFeed: MockAggregator__factory.connect(a["WETH-USD-Feed"], d),
    btcFeed: MockAggregator__factory.connect(a["WBTC-USD-Feed"], d),
    callee: UniswapV3Callee__factory.connect(a.UniswapV3Callee, d),
  };
}
