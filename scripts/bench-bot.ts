// `npm run bench:bot [-- --accounts N]`: how fast the liquidator bot reads the margin of a large
// book against a local hardhat node (127.0.0.1, started and stopped here). Target: 10,000
// accounts scanned in at most 3 seconds. Prints the full scan (every account re-read through
// MarginLens.valuations) and the bot's per-block pass after small and large price moves (it
// re-reads only the accounts whose health could have crossed MM).
import { parseArgs } from "node:util";
import { JsonRpcProvider, Wallet, parseUnits } from "ethers";
import {
  AccountFactory__factory,
  LiquidityPool__factory,
  MarginAccounts__factory,
  MockAggregator__factory,
  MockERC20__factory,
  PriceOracle__factory,
} from "../typechain-types";
import { runMain } from "./lib/cli";
import { LiquidatorBot, type BotAddresses } from "./lib/liquidator";
import { exportedAddresses, startNode } from "./lib/node";

const TARGET_SECONDS = 3;
/** Hardhat's default accounts #0 and #3 (public test keys). */
const DEPLOYER_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const BOT_KEY = "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6";
const GAS = { gasLimit: 3_000_000 };
const PER_TX = 40;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { accounts: { type: "string" } } });
  const n = Number(values.accounts ?? "10000");
  if (!Number.isInteger(n) || n < 1 || n > 50_000)
    throw new Error(`--accounts must be 1..50000, got ${values.accounts}`);
  const node = await startNode();
  try {
    const a = exportedAddresses(node.exportFile);
    const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const send = (method: string, params: unknown[] = []) => provider.send(method, params);
    const deployer = new Wallet(DEPLOYER_KEY, provider);
    const botWallet = new Wallet(BOT_KEY, provider);
    const usdc = MockERC20__factory.connect(a.USDC, deployer);
    const feed = MockAggregator__factory.connect(a["WETH-USD-Feed"], deployer);
    const btcFeed = MockAggregator__factory.connect(a["WBTC-USD-Feed"], deployer);
    const oracle = PriceOracle__factory.connect(a.PriceOracle, deployer);
    let nonce = await deployer.getNonce();
    const tx = async (p: Promise<{ wait(): Promise<unknown> }>) => (await p).wait();

    // Prices Ok (the pools' TWAP windows filled), liquidity in the pool.
    await send("evm_increaseTime", [1900]);
    await send("evm_mine");
    await tx(feed.push(parseUnits("3000", 8), { ...GAS, nonce: nonce++ }));
    await tx(btcFeed.push(parseUnits("60000", 8), { ...GAS, nonce: nonce++ }));
    await tx(oracle.poke(a.WETH, { ...GAS, nonce: nonce++ }));
    await tx(usdc.mint(deployer.address, parseUnits("1000000000", 6), { ...GAS, nonce: nonce++ }));
    await tx(usdc.approve(a.LiquidityPool, parseUnits("1000000000", 6), { ...GAS, nonce: nonce++ }));
    const pool = LiquidityPool__factory.connect(a.LiquidityPool, deployer);
    await tx(pool.deposit(parseUnits("100000000", 6), deployer.address, { ...GAS, nonce: nonce++ }));

    // The book: n accounts, half cross and half isolated, 1 ETH long or short on 1,000 USDC each.
    const started = Date.now();
    const factory = await new AccountFactory__factory(deployer).deploy(a.MarginAccounts, a.PerpMarket, {
      ...GAS,
      nonce: nonce++,
    });
    await factory.waitForDeployment();
    await tx(usdc.mint(await factory.getAddress(), parseUnits("1000", 6) * BigInt(n), { ...GAS, nonce: nonce++ }));
    // One transaction at a time: an automining node takes them in order only.
    for (let done = 0, batch = 0; done < n; done += PER_TX, batch++) {
      const count = Math.min(PER_TX, n - done);
      const options = { gasLimit: 25_000_000, nonce: nonce++ };
      await tx(factory.open(count, batch % 2 === 0, 1, a.USDC, parseUnits("1000", 6), parseUnits("1", 18), options));
    }
    const setup = (Date.now() - started) / 1000;

    // The bot, with a bidder account of its own.
    const accounts = MarginAccounts__factory.connect(a.MarginAccounts, botWallet);
    const bidder = await accounts.nextAccountId();
    await tx(accounts.createAccount(0, 0, GAS));
    const bot = new LiquidatorBot({
      signer: botWallet,
      addresses: a as unknown as BotAddresses,
      bidderAccountId: bidder,
      log: () => undefined,
    });
    await bot.init();
    const first = await timed(() => bot.step());
    const ids = Array.from({ length: n }, (_, i) => BigInt(i + 1));
    const full = await timed(() => bot.refresh(ids));
    const moves: [string, number][] = [];
    let price = 3000;
    for (const move of [0.002, 0.01, 0.05]) {
      price *= 1 - move;
      await send("evm_increaseTime", [60]);
      await tx(feed.push(parseUnits(price.toFixed(8), 8), { ...GAS, nonce: nonce++ }));
      const pass = await timed(() => bot.step());
      moves.push([
        `per-block pass after a ${(move * 100).toFixed(1)}% fall (re-read ${pass.result.read})`,
        pass.seconds,
      ]);
    }
    const rows: [string, number | string][] = [
      ["accounts", n],
      ["book set-up (s)", setup.toFixed(1)],
      ["first pass: discover from events + read all (s)", first.seconds.toFixed(2)],
      [`full scan: every account through the lens (s), target ${TARGET_SECONDS}`, full.seconds.toFixed(2)],
      ["full scan: accounts per second", Math.round(n / full.seconds)],
      ...moves.map(([label, s]) => [label + " (s)", s.toFixed(2)] as [string, string]),
    ];
    for (const [label, value] of rows) console.log(`${label.padEnd(72)} ${value}`);
    const met = full.seconds <= TARGET_SECONDS * (n / 10_000);
    console.log(`target (10,000 accounts in ${TARGET_SECONDS} s, scaled to ${n}): ${met ? "met" : "missed"}`);
  } finally {
    await node.stop();
  }
}

async function timed<T>(fn: () => Promise<T>): Promise<{ result: T; seconds: number }> {
  const t0 = process.hrtime.bigint();
  const result = await fn();
  return { result, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

runMain("bench:bot", main);
