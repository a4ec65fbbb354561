// `npm run gov -- <command> [options]`: Keel governance through the timelock.
// Run `npm run gov -- --help` for the commands. Bad input exits 1 with one line, never a trace.
import fs from "node:fs";
import path from "node:path";
import { ethers, type Signer } from "ethers";
import { PARAMS, formatParamValue, formatScope, paramIndex, parseParamValue } from "./lib/params";
import {
  cancel,
  connect,
  describeAction,
  describeError,
  execute,
  grantRoleAction,
  operations,
  propose,
  parameterActions,
  type Action,
  type Governance,
} from "./lib/governance";

const HELP = `Keel governance: every change goes through the TimelockController.

Usage: npm run gov -- <command> [options]

Commands:
  params                              every risk parameter with its unit and hard bounds
  get --param NAME [--scope S]        a parameter's current value
  propose --set NAME[:SCOPE]=VALUE ... [--grant ROLE:ADDRESS ...] [--salt HEX]
                                      validate against the on-chain bounds, then schedule one batch
  queue                               every operation with its state and ETA
  execute --id OPERATION_ID           execute a ready operation (anyone may)
  cancel --id OPERATION_ID            cancel a pending operation (proposers)
  revoke --role GUARDIAN|RISK_KEEPER --account ADDRESS
                                      remove a guardian or keeper at once (revoker)

SCOPE is a market id (perp parameters) or an underlying token address (option parameters);
global parameters take none. VALUE is a decimal for ratios and USD/size values ("0.02"), a
duration for times ("3600", "30m", "4h", "2d"), a whole number for counts. ROLE is GUARDIAN
or RISK_KEEPER.

Connection:
  --rpc URL            JSON-RPC endpoint (or KEEL_RPC_URL); default http://127.0.0.1:8545
  --private-key KEY    signer (or KEEL_PRIVATE_KEY); read-only commands need none
  --deployments DIR    hardhat-deploy output with TimelockController.json and RiskConfig.json
                       (default deployments/localhost)
`;

const COMMANDS = ["params", "get", "propose", "queue", "execute", "cancel", "revoke"];

export interface Parsed {
  command: string;
  options: Map<string, string[]>;
}

/** Parses `command --flag value ...`; repeated flags accumulate. */
export function parseArgs(argv: string[]): Parsed {
  const [command = "--help", ...rest] = argv;
  const options = new Map<string, string[]>();
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    if (!flag.startsWith("--")) throw new Error(`unexpected argument "${flag}" (see --help)`);
    const key = flag.slice(2);
    if (key === "help") {
      options.set("help", []);
      continue;
    }
    const value = rest[i + 1];
    if (value === undefined || value.startsWith("--")) throw new Error(`--${key} needs a value`);
    options.set(key, [...(options.get(key) ?? []), value]);
    i++;
  }
  return { command, options };
}

function one(p: Parsed, key: string): string {
  const values = p.options.get(key);
  if (values === undefined || values.length === 0) throw new Error(`${p.command} needs --${key}`);
  if (values.length > 1) throw new Error(`--${key} given more than once`);
  return values[0];
}

function parseScope(name: string, text: string | undefined): bigint {
  const kind = PARAMS[paramIndex(name)].scope;
  if (kind === "global") {
    if (text !== undefined) throw new Error(`${name} is global and takes no scope`);
    return 0n;
  }
  if (text === undefined)
    throw new Error(`${name} needs a scope (${kind === "market" ? "market id" : "underlying address"})`);
  if (kind === "market") {
    if (!/^\d+$/.test(text)) throw new Error(`${name} takes a market id as scope, got "${text}"`);
    return BigInt(text);
  }
  if (!ethers.isAddress(text)) throw new Error(`${name} takes an underlying token address as scope, got "${text}"`);
  return BigInt(text);
}

/** `NAME[:SCOPE]=VALUE` */
function parseSet(text: string): { name: string; scope: bigint; value: bigint } {
  const m = /^([A-Za-z_]+)(?::([^=]+))?=(.+)$/.exec(text);
  if (m === null) throw new Error(`--set takes NAME[:SCOPE]=VALUE, got "${text}"`);
  const name = PARAMS[paramIndex(m[1])].name;
  return { name, scope: parseScope(name, m[2]), value: parseParamValue(name, m[3]) };
}

const iso = (seconds: bigint) => new Date(Number(seconds) * 1000).toISOString();

/** Runs one command against `gov` and returns what it prints. */
export async function run(argv: string[], gov: Governance | (() => Promise<Governance>)): Promise<string[]> {
  const p = parseArgs(argv);
  if (p.command === "--help" || p.command === "help" || p.options.has("help")) return [HELP];
  if (!COMMANDS.includes(p.command)) throw new Error(`unknown command "${p.command}" (see --help)`);
  const g = typeof gov === "function" ? await gov() : gov;
  const out: string[] = [];
  switch (p.command) {
    case "params": {
      for (const [i, param] of PARAMS.entries()) {
        const [min, max] = await g.riskConfig.bounds(i);
        out.push(
          `${param.name} (${param.scope}, ${param.unit}): [${formatParamValue(i, min)}, ${formatParamValue(i, max)}]`,
        );
      }
      return out;
    }
    case "get": {
      const name = PARAMS[paramIndex(one(p, "param"))].name;
      const scope = parseScope(name, p.options.get("scope")?.[0]);
      const [set, value] = await g.riskConfig.tryGet(paramIndex(name), scope);
      const shown = formatScope(paramIndex(name), scope);
      return [`${name} (scope ${shown}): ${set ? formatParamValue(paramIndex(name), value) : "not set"}`];
    }
    case "propose": {
      const changes = (p.options.get("set") ?? []).map(parseSet);
      const actions: Action[] = changes.length > 0 ? await parameterActions(g, changes) : [];
      for (const text of p.options.get("grant") ?? []) {
        const [role, account] = text.split(":");
        if (role !== "GUARDIAN" && role !== "RISK_KEEPER")
          throw new Error(`--grant takes GUARDIAN:ADDRESS or RISK_KEEPER:ADDRESS, got "${text}"`);
        actions.push(await grantRoleAction(g, role, account ?? ""));
      }
      if (actions.length === 0) throw new Error("propose needs at least one --set or --grant");
      const salt = p.options.get("salt")?.[0];
      if (salt !== undefined && !ethers.isHexString(salt, 32))
        throw new Error(`--salt takes 32 bytes of hex, got "${salt}"`);
      const { id, eta } = await propose(g, actions, salt);
      out.push(`proposed ${id}`);
      for (const a of actions) out.push(`  ${a.description}`);
      out.push(`ready at ${iso(eta)} (unix ${eta}); then: npm run gov -- execute --id ${id}`);
      return out;
    }
    case "queue": {
      const ops = await operations(g);
      if (ops.length === 0) return ["no operations"];
      for (const op of ops) {
        const when = op.state === "Waiting" || op.state === "Ready" ? ` eta ${iso(op.eta)}` : "";
        out.push(`${op.id} ${op.state}${when}`);
        for (const a of op.actions) out.push(`  ${describeAction(g, a)}`);
      }
      return out;
    }
    case "execute": {
      const id = one(p, "id");
      await execute(g, id);
      return [`executed ${id}`];
    }
    case "cancel": {
      const id = one(p, "id");
      await cancel(g, id);
      return [`cancelled ${id}`];
    }
    case "revoke": {
      const role = one(p, "role");
      const account = one(p, "account");
      if (role !== "GUARDIAN" && role !== "RISK_KEEPER")
        throw new Error(`--role takes GUARDIAN or RISK_KEEPER, got "${role}"`);
      if (!ethers.isAddress(account)) throw new Error(`not an address: "${account}"`);
      const roleId = role === "GUARDIAN" ? await g.riskConfig.GUARDIAN_ROLE() : await g.riskConfig.RISK_KEEPER_ROLE();
      try {
        await (await g.riskConfig.revokeImmediately(roleId, account)).wait();
      } catch (error) {
        throw new Error(`revoke refused: ${describeError(error, g.riskConfig)}`);
      }
      return [`revoked ${role} from ${account}`];
    }
    default:
      throw new Error(`unknown command "${p.command}" (see --help)`);
  }
}

function addressOf(dir: string, name: string): string {
  const file = path.join(dir, `${name}.json`);
  if (!fs.existsSync(file)) throw new Error(`${file} not found: deploy first or pass --deployments`);
  return (JSON.parse(fs.readFileSync(file, "utf8")) as { address: string }).address;
}

async function cli(): Promise<void> {
  const argv = process.argv.slice(2);
  const p = parseArgs(argv);
  const lines = await run(argv, async () => {
    const rpc = p.options.get("rpc")?.[0] ?? process.env.KEEL_RPC_URL ?? "http://127.0.0.1:8545";
    const key = p.options.get("private-key")?.[0] ?? process.env.KEEL_PRIVATE_KEY;
    const dir = p.options.get("deployments")?.[0] ?? path.join("deployments", "localhost");
    // Probe the endpoint first: ethers retries network detection forever, printing as it goes.
    let chainId: bigint;
    try {
      const response = await fetch(rpc, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
        signal: AbortSignal.timeout(10_000),
      });
      chainId = BigInt(((await response.json()) as { result: string }).result);
    } catch {
      throw new Error(`cannot reach ${rpc}`);
    }
    const network = ethers.Network.from(chainId);
    const provider = new ethers.JsonRpcProvider(rpc, network, { staticNetwork: network });
    const signer: Signer =
      key !== undefined ? new ethers.Wallet(key, provider) : new ethers.VoidSigner(ethers.ZeroAddress, provider);
    return connect(signer, {
      timelock: addressOf(dir, "TimelockController"),
      riskConfig: addressOf(dir, "RiskConfig"),
    });
  });
  console.log(lines.join("\n"));
}

if (require.main === module) {
  cli().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`gov: ${(error instanceof Error ? error.message : String(error)).split("\n")[0]}`);
      process.exit(1);
    },
  );
}
