// A `hardhat node` on 127.0.0.1 that a script or test starts and stops itself: the stress
// runner's local stand-in (deployed once, then forked per scenario) and the bot's end-to-end test.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export interface LocalNode {
  url: string;
  port: number;
  /** hardhat-deploy's export of the deployment: { chainId, contracts: { Name: { address, abi } } }. */
  exportFile: string;
  stop(): Promise<void>;
}

/** A port the OS reports free on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function rpcReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    });
    return response.ok;
  } catch {
    return false;
  }
}

/**
 * Starts `hardhat node` (which runs every deploy script) on a free port of 127.0.0.1, without
 * writing `deployments/localhost`, exporting the addresses to a temporary file; resolves when the
 * node answers and the export exists. Rejects with the node's last output if it exits or takes
 * longer than `timeoutMs`.
 */
export async function startNode(opts: { cwd?: string; timeoutMs?: number } = {}): Promise<LocalNode> {
  const cwd = opts.cwd ?? process.cwd();
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-node-"));
  const exportFile = path.join(dir, "deployment.json");
  const hardhat = path.join(cwd, "node_modules", ".bin", "hardhat");
  const child: ChildProcess = spawn(
    hardhat,
    ["node", "--hostname", "127.0.0.1", "--port", String(port), "--export", exportFile, "--write", "false"],
    { cwd, stdio: ["ignore", "pipe", "pipe"], detached: true, env: nodeEnv() },
  );
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  let exited = false;
  child.once("exit", () => (exited = true));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!exited && child.pid !== undefined) {
      const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      process.kill(-child.pid, "SIGTERM");
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 5000))]);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
  while (!(fs.existsSync(exportFile) && (await rpcReady(url)))) {
    if (exited) throw new Error(`hardhat node exited before it was ready: ${lastLine(output)}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`hardhat node not ready after ${opts.timeoutMs ?? 180_000} ms: ${lastLine(output)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return { url, port, exportFile, stop };
}

/** The parent's environment without the variables that would point the child at another network. */
function nodeEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.HARDHAT_NETWORK;
  return env;
}

function lastLine(output: string): string {
  const lines = output.trim().split("\n");
  return lines[lines.length - 1] ?? "";
}

/** The addresses in a hardhat-deploy export file ({ contracts: { Name: { address } } }). */
export function exportedAddresses(file: string): Record<string, string> {
  const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as { contracts?: Record<string, { address: string }> };
  if (parsed.contracts === undefined) throw new Error(`${file} is not a hardhat-deploy export (no "contracts")`);
  return Object.fromEntries(Object.entries(parsed.contracts).map(([name, c]) => [name, c.address]));
}
