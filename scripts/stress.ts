// `npm run stress -- --scenario <name | path.csv | path.json> [options]`: replays a price path into
// a deployment of Keel with a seeded population and the liquidator bot, and writes report.json and
// report.html. See `--help`.
import fs from "node:fs";
import path from "node:path";
import type { DeploymentsExtension } from "hardhat-deploy/types";
import type {} from "@nomicfoundation/hardhat-ethers/internal/type-extensions";
import { runMain } from "./lib/cli";
import { parseFlags } from "./lib/args";
import { exportedAddresses, startNode, type LocalNode } from "./lib/node";
import { ScenarioError, builtInScenarios, loadScenario } from "./lib/stress/scenario";
import { ProgressBar, formatSummary, writeReport } from "./lib/stress/report";
import { ASSETS, type Asset } from "./lib/stress/types";

const HELP = `Usage: npm run stress -- --scenario <name | path.csv | path.json> [options]

Replays a price path into Keel with a seeded population of traders and LPs and the liquidator bot
running every step, then writes report.json and report.html.

Options:
  --scenario <s>     a built-in name (--list), or a CSV (timestamp,price[,low]) or JSON scenario file
  --asset ETH|BTC    the market a CSV drives (default: from a file name starting eth- / btc-, else ETH)
  --accounts <n>     traders, 1..5000 (default 200)
  --seed <n>         population seed, a non-negative integer (default 1)
  --fork <url>       fork this RPC (a chain where Keel is deployed; see --deployment)
  --block <n>        fork at this block (default: the head)
  --deployment <f>   with --fork: the hardhat-deploy export of Keel on that chain
  --in-process       no node: deploy on Hardhat's in-process network (what npm start does)
  --out <dir>        report directory (default reports/<scenario>-<timestamp>/)
  --list             list the built-in scenarios
  --help             this text

Without --fork or --in-process, the runner starts its own hardhat node on 127.0.0.1, deploys the
local stand-in there once and forks it, so every run starts from the same state.`;

interface Args {
  scenario: string;
  asset?: Asset;
  accounts: number;
  seed: number;
  fork?: string;
  block?: number;
  deployment?: string;
  inProcess: boolean;
  out?: string;
}

type Flags = Partial<
  Record<"scenario" | "asset" | "accounts" | "seed" | "fork" | "block" | "deployment" | "out", string>
> &
  Partial<Record<"in-process" | "list" | "help", boolean>>;

/** Parses and validates the command line; throws one clear line on bad input. */
export function parseStressArgs(argv: string[]): Args | "help" | "list" {
  const values = parseFlags(argv, {
    scenario: { type: "string" },
    asset: { type: "string" },
    accounts: { type: "string" },
    seed: { type: "string" },
    fork: { type: "string" },
    block: { type: "string" },
    deployment: { type: "string" },
    "in-process": { type: "boolean" },
    out: { type: "string" },
    list: { type: "boolean" },
    help: { type: "boolean" },
  }) as Flags;
  if (values.help === true) return "help";
  if (values.list === true) return "list";
  if (values.scenario === undefined) throw new Error("--scenario is required (a built-in name or a file; --list)");
  const asset = values.asset?.toUpperCase();
  if (asset !== undefined && !ASSETS.includes(asset as Asset)) {
    throw new Error(`--asset must be ETH or BTC, got "${values.asset}"`);
  }
  const accounts = integer("--accounts", values.accounts ?? "200", 1, 5000);
  const seed = integer("--seed", values.seed ?? "1", 0, 2 ** 32 - 1);
  const block = values.block === undefined ? undefined : integer("--block", values.block, 0, Number.MAX_SAFE_INTEGER);
  if (values.fork !== undefined && values["in-process"] === true) {
    throw new Error("--fork and --in-process exclude each other");
  }
  if (values.fork !== undefined && !/^https?:\/\//.test(values.fork)) {
    throw new Error(`--fork must be an http(s) RPC URL, got "${values.fork}"`);
  }
  if ((block !== undefined || values.deployment !== undefined) && values.fork === undefined) {
    throw new Error("--block and --deployment need --fork");
  }
  return {
    scenario: values.scenario,
    asset: asset as Asset | undefined,
    accounts,
    seed,
    fork: values.fork,
    block,
    deployment: values.deployment,
    inProcess: values["in-process"] === true,
    out: values.out,
  };
}

function integer(flag: string, text: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text)) throw new Error(`${flag} must be an integer, got "${text}"`);
  const n = Number(text);
  if (n < min || n > max) throw new Error(`${flag} must be between ${min} and ${max}, got ${n}`);
  return n;
}

async function main(): Promise<void> {
  const args = parseStressArgs(process.argv.slice(2));
  if (args === "help") return void console.log(HELP);
  if (args === "list") {
    for (const s of builtInScenarios()) console.log(`${s.name.padEnd(34)} ${s.description}`);
    return;
  }
  const scenario = loadScenario(args.scenario, { asset: args.asset });
  if (args.deployment !== undefined && !fs.existsSync(args.deployment)) {
    throw new Error(`deployment export not found: ${args.deployment}`);
  }
  // Hardhat loads only now, so that bad input fails fast and without its start-up cost.
  const hre = (await import("hardhat")).default;
  const { runScenario } = await import("./lib/stress/runner");
  let node: LocalNode | undefined;
  try {
    let addresses: Record<string, string>;
    let mode: "in-process" | "local-fork" | "fork";
    if (args.inProcess) {
      mode = "in-process";
      const { deployments } = hre as unknown as { deployments: DeploymentsExtension };
      await deployments.fixture(["keel"]);
      const all = await deployments.all();
      addresses = Object.fromEntries(Object.entries(all).map(([name, d]) => [name, d.address]));
    } else {
      mode = args.fork === undefined ? "local-fork" : "fork";
      let url = args.fork;
      let exportFile = args.deployment;
      if (url === undefined) {
        process.stderr.write("starting a hardhat node on 127.0.0.1 and deploying the local stand-in...\n");
        node = await startNode();
        url = node.url;
        exportFile = node.exportFile;
      }
      if (exportFile === undefined) throw new Error("--fork needs --deployment <hardhat-deploy export of Keel>");
      addresses = exportedAddresses(exportFile);
      await forkAt(hre, url, args.block);
    }
    const started = new Date();
    const bar = new ProgressBar(0, scenario.name);
    let progress: ProgressBar | undefined;
    const out = args.out ?? path.join("reports", `${scenario.name}-${stamp(started)}`);
    fs.mkdirSync(out, { recursive: true });
    const botLog = fs.createWriteStream(path.join(out, "bot.jsonl"));
    void bar;
    const report = await runScenario(hre, scenario, {
      mode,
      accounts: args.accounts,
      seed: args.seed,
      addresses,
      botLog: (line) => botLog.write(JSON.stringify(line) + "\n"),
      onStep: (done, total, liquidations) => {
        progress ??= new ProgressBar(total, scenario.name);
        progress.tick(1, `${liquidations} liquidations`);
        if (done === total) progress.done();
      },
    });
    await new Promise((resolve) => botLog.end(resolve));
    const paths = writeReport(out, report);
    console.log(formatSummary(report, paths));
  } finally {
    await node?.stop();
  }
}

/** Points the in-process network at a fork of `url` (pinned to `block`, default its head). */
async function forkAt(hre: typeof import("hardhat"), url: string, block?: number): Promise<void> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] }),
  }).catch((error: Error) => {
    throw new Error(`cannot reach ${url}: ${error.message}`);
  });
  const head = Number(((await response.json()) as { result: string }).result);
  const blockNumber = block ?? head;
  if (blockNumber > head) throw new Error(`--block ${blockNumber} is beyond the chain's head ${head}`);
  await hre.network.provider.send("hardhat_reset", [{ forking: { jsonRpcUrl: url, blockNumber } }]);
  // A fork of a hardhat node needs one mined block before the first call (../shared/TOOLCHAIN.md).
  await hre.network.provider.send("evm_mine", []);
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, "").replace(/\..*/, "").replace("T", "-");
}

if (require.main === module) {
  runMain("stress", async () => {
    try {
      await main();
    } catch (error) {
      if (error instanceof ScenarioError) throw new Error(error.message);
      throw error;
    }
  });
}
