// `npm run liquidator -- --rpc <url> [options]`: the liquidator bot as a standalone process.
// The same LiquidatorBot runs in-process inside the stress runner. See `--help`.
import fs from "node:fs";
import path from "node:path";
import { JsonRpcProvider, Wallet } from "ethers";
import { MarginAccounts__factory } from "../typechain-types";
import { runMain } from "./lib/cli";
import { parseFlags } from "./lib/args";
import { BOT_CONTRACTS, LiquidatorBot, withRetry, type BotAddresses } from "./lib/liquidator";
import { exportedAddresses } from "./lib/node";

const HELP = `Usage: npm run liquidator -- --rpc <url> [options]

Follows Keel's accounts from events, reads their margin in batches through MarginLens and bids in
the liquidation auctions when a bid pays after gas and the cost of closing what it brings in.
Logs one JSON line per decision on stdout.

Options:
  --rpc <url>             JSON-RPC endpoint (http or https)
  --private-key <key>     the bot's key (default: the KEEL_LIQUIDATOR_KEY environment variable)
  --deployment <path>     hardhat-deploy export file or deployments/<network> directory
                          (default: deployments/localhost)
  --bidder-account <id>   the account to bid from (default: the first account the key owns)
  --min-profit <usd>      skip bids expected to earn less (default 0)
  --from-block <n>        where to start reading events (default 0)
  --poll <ms>             how often to look for a new block (default 1000)
  --dry-run               simulate and log, never send
  --once                  one pass, then exit
  --help                  this text`;

export interface LiquidatorArgs {
  rpc: string;
  privateKey: string;
  deployment: string;
  bidderAccount?: bigint;
  minProfit: number;
  fromBlock: number;
  pollMs: number;
  dryRun: boolean;
  once: boolean;
}

type Flags = Partial<
  Record<"rpc" | "private-key" | "deployment" | "bidder-account" | "min-profit" | "from-block" | "poll", string>
> &
  Partial<Record<"dry-run" | "once" | "help", boolean>>;

/** Parses and validates the command line; throws one clear line on bad input. */
export function parseLiquidatorArgs(argv: string[], env: NodeJS.ProcessEnv): LiquidatorArgs | "help" {
  const values = parseFlags(argv, {
    rpc: { type: "string" },
    "private-key": { type: "string" },
    deployment: { type: "string" },
    "bidder-account": { type: "string" },
    "min-profit": { type: "string" },
    "from-block": { type: "string" },
    poll: { type: "string" },
    "dry-run": { type: "boolean" },
    once: { type: "boolean" },
    help: { type: "boolean" },
  }) as Flags;
  if (values.help === true) return "help";
  if (values.rpc === undefined) throw new Error("--rpc <url> is required");
  if (!/^https?:\/\/\S+$/.test(values.rpc)) throw new Error(`--rpc must be an http(s) URL, got "${values.rpc}"`);
  const privateKey = values["private-key"] ?? (env.KEEL_LIQUIDATOR_KEY || undefined);
  if (privateKey === undefined) throw new Error("no key: pass --private-key or set KEEL_LIQUIDATOR_KEY");
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(privateKey)) throw new Error("the private key must be 32 bytes of hex");
  const minProfit = Number(values["min-profit"] ?? "0");
  if (!Number.isFinite(minProfit) || minProfit < 0 || values["min-profit"]?.trim() === "") {
    throw new Error(`--min-profit must be a non-negative number of USD, got "${values["min-profit"]}"`);
  }
  const bidder = values["bidder-account"];
  if (bidder !== undefined && !/^[1-9]\d*$/.test(bidder)) {
    throw new Error(`--bidder-account must be a positive account id, got "${bidder}"`);
  }
  return {
    rpc: values.rpc,
    privateKey: privateKey.startsWith("0x") ? privateKey : `0x${privateKey}`,
    deployment: values.deployment ?? path.join("deployments", "localhost"),
    bidderAccount: bidder === undefined ? undefined : BigInt(bidder),
    minProfit,
    fromBlock: wholeNumber("--from-block", values["from-block"] ?? "0"),
    pollMs: wholeNumber("--poll", values.poll ?? "1000"),
    dryRun: values["dry-run"] === true,
    once: values.once === true,
  };
}

function wholeNumber(flag: string, text: string): number {
  if (!/^\d+$/.test(text)) throw new Error(`${flag} must be a non-negative integer, got "${text}"`);
  return Number(text);
}

/** The bot's addresses from a hardhat-deploy export file or a deployments/<network> directory. */
export function loadAddresses(location: string): BotAddresses {
  if (!fs.existsSync(location)) throw new Error(`deployment not found: ${location}`);
  let all: Record<string, string>;
  if (fs.statSync(location).isDirectory()) {
    all = {};
    for (const file of fs.readdirSync(location).filter((f) => f.endsWith(".json"))) {
      const parsed = JSON.parse(fs.readFileSync(path.join(location, file), "utf8")) as { address?: string };
      if (parsed.address !== undefined) all[file.replace(/\.json$/, "")] = parsed.address;
    }
  } else {
    all = exportedAddresses(location);
  }
  const missing = BOT_CONTRACTS.filter((n) => all[n] === undefined);
  if (missing.length > 0) throw new Error(`${location} lacks ${missing.join(", ")}: not a Keel deployment`);
  return Object.fromEntries(BOT_CONTRACTS.map((n) => [n, all[n]])) as unknown as BotAddresses;
}

/** The first account `owner` created, from AccountCreated events (owner is indexed). */
async function firstAccountOf(addresses: BotAddresses, wallet: Wallet, fromBlock: number): Promise<bigint> {
  const accounts = MarginAccounts__factory.connect(addresses.MarginAccounts, wallet);
  const events = await withRetry(() =>
    accounts.queryFilter(accounts.filters.AccountCreated(undefined, wallet.address), fromBlock),
  );
  if (events.length === 0) {
    throw new Error(`${wallet.address} owns no Keel account: create one, deposit capital, or pass --bidder-account`);
  }
  return events[0].args.accountId;
}

async function main(): Promise<void> {
  const args = parseLiquidatorArgs(process.argv.slice(2), process.env);
  if (args === "help") return void console.log(HELP);
  const addresses = loadAddresses(args.deployment);
  // No response cache: a transaction right after another must see the node's new nonce.
  const provider = new JsonRpcProvider(args.rpc, undefined, { staticNetwork: true, polling: true, cacheTimeout: -1 });
  await withRetry(() => provider.getBlockNumber()).catch((error: Error) => {
    throw new Error(`cannot reach ${args.rpc}: ${error.message.split("\n")[0]}`);
  });
  const wallet = new Wallet(args.privateKey, provider);
  const bidderAccountId = args.bidderAccount ?? (await firstAccountOf(addresses, wallet, args.fromBlock));
  const bot = new LiquidatorBot({
    signer: wallet,
    addresses,
    bidderAccountId,
    minProfitUsd: args.minProfit,
    dryRun: args.dryRun,
    fromBlock: args.fromBlock,
  });
  await bot.init();
  let stopping = false;
  process.once("SIGINT", () => (stopping = true));
  process.once("SIGTERM", () => (stopping = true));
  let last = -1;
  while (!stopping) {
    const head = await withRetry(() => provider.getBlockNumber());
    if (head !== last) {
      last = head;
      const r = await bot.step();
      if (r.belowMaintenance > 0 || args.once) {
        console.log(
          JSON.stringify({
            pass: r.block,
            accounts: r.accounts,
            read: r.read,
            belowMaintenance: r.belowMaintenance,
            bids: r.bids,
          }),
        );
      }
      if (args.once) break;
    }
    await new Promise((resolve) => setTimeout(resolve, args.pollMs));
  }
  provider.destroy();
}

if (require.main === module) runMain("liquidator", main);
