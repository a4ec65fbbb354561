import { expect } from "chai";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { BOT_CONTRACTS } from "../scripts/lib/liquidator";

// Bad input to the stress runner and the liquidator bot: one clear line on stderr, exit code 1, no
// stack trace, and nothing started (every case fails before Hardhat loads).

const ROOT = path.resolve(__dirname, "..");
const TS_NODE = path.join(ROOT, "node_modules", ".bin", "ts-node");

function run(script: string, args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(TS_NODE, ["--transpile-only", path.join("scripts", script), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, KEEL_LIQUIDATOR_KEY: "", ...env },
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr.trim(), stdout: r.stdout.trim() };
}

function expectOneLine(r: ReturnType<typeof run>, line: string) {
  expect(r.stderr, "stderr").to.equal(line);
  expect(r.status, "exit code").to.equal(1);
  expect(r.stdout, "stdout").to.equal("");
}

describe("Toolchain CLIs: bad input", function () {
  this.timeout(120_000);
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-cli-"));
    fs.writeFileSync(path.join(dir, "eth-bad.csv"), "timestamp,price\n1700000000,3000\n1700000300,abc\n");
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe("npm run stress", () => {
    it("a missing scenario file", () => {
      expectOneLine(
        run("stress.ts", ["--scenario", "nope/missing.csv"]),
        "stress: scenario file not found: nope/missing.csv",
      );
    });

    it("a malformed CSV names the file and line", () => {
      const file = path.join(dir, "eth-bad.csv");
      expectOneLine(run("stress.ts", ["--scenario", file]), `stress: ${file} line 3: price "abc" is not a number`);
    });

    it("an unknown scenario name lists the built-ins", () => {
      const r = run("stress.ts", ["--scenario", "crash-of-1929"]);
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(
        /^stress: unknown scenario "crash-of-1929": not a built-in name \(known: .*gap-down-30.*\) and no such file$/,
      );
    });

    it("a negative number of accounts", () => {
      expectOneLine(
        run("stress.ts", ["--scenario", "gap-down-30", "--accounts", "-5"]),
        "stress: --accounts must be between 1 and 5000, got -5",
      );
    });

    it("a non-integer seed, an unknown asset, an unknown flag, a bad fork URL", () => {
      expectOneLine(
        run("stress.ts", ["--scenario", "gap-down-30", "--seed", "1.5"]),
        'stress: --seed must be an integer, got "1.5"',
      );
      expectOneLine(
        run("stress.ts", ["--scenario", "gap-down-30", "--asset", "DOGE"]),
        'stress: --asset must be ETH or BTC, got "DOGE"',
      );
      const unknown = run("stress.ts", ["--scenario", "gap-down-30", "--turbo"]);
      expect(unknown.status).to.equal(1);
      expect(unknown.stderr).to.match(/^stress: Unknown option '--turbo'/);
      expectOneLine(
        run("stress.ts", ["--scenario", "gap-down-30", "--fork", "ftp://x"]),
        'stress: --fork must be an http(s) RPC URL, got "ftp://x"',
      );
    });

    it("no scenario at all", () => {
      expectOneLine(run("stress.ts", []), "stress: --scenario is required (a built-in name or a file; --list)");
    });

    it("--list prints every built-in", () => {
      const r = run("stress.ts", ["--list"]);
      expect(r.status).to.equal(0);
      const names = r.stdout.split("\n").map((l) => l.split(/\s+/)[0]);
      expect(names).to.include.members(["gap-down-30", "slow-bleed-60", "stale-feed-crash", "pump-and-dump"]);
      expect(names).to.include("eth-usd-2020-03-12-bitfinex-1h");
    });
  });

  describe("npm run liquidator", () => {
    const key = "0x" + "11".repeat(32);
    it("no RPC, a bad RPC, no key, a malformed key", () => {
      expectOneLine(run("liquidator.ts", []), "liquidator: --rpc <url> is required");
      expectOneLine(
        run("liquidator.ts", ["--rpc", "localhost:8545"]),
        'liquidator: --rpc must be an http(s) URL, got "localhost:8545"',
      );
      expectOneLine(
        run("liquidator.ts", ["--rpc", "http://127.0.0.1:1"]),
        "liquidator: no key: pass --private-key or set KEEL_LIQUIDATOR_KEY",
      );
      expectOneLine(
        run("liquidator.ts", ["--rpc", "http://127.0.0.1:1", "--private-key", "0x1234"]),
        "liquidator: the private key must be 32 bytes of hex",
      );
    });

    it("a negative minimum profit, a bad bidder account, a missing deployment", () => {
      const base = ["--rpc", "http://127.0.0.1:1", "--private-key", key];
      expectOneLine(
        run("liquidator.ts", [...base, "--min-profit", "-3"]),
        'liquidator: --min-profit must be a non-negative number of USD, got "-3"',
      );
      expectOneLine(
        run("liquidator.ts", [...base, "--bidder-account", "0"]),
        'liquidator: --bidder-account must be a positive account id, got "0"',
      );
      expectOneLine(
        run("liquidator.ts", [...base, "--deployment", "nowhere/deployment.json"]),
        "liquidator: deployment not found: nowhere/deployment.json",
      );
    });

    it("an unreachable RPC", () => {
      const file = path.join(dir, "deployment.json");
      const contracts = Object.fromEntries(
        BOT_CONTRACTS.map((n, i) => [n, { address: "0x" + String(i + 1).padStart(40, "0") }]),
      );
      fs.writeFileSync(file, JSON.stringify({ chainId: "31337", contracts }));
      const r = run("liquidator.ts", ["--rpc", "http://127.0.0.1:1", "--private-key", key, "--deployment", file], {});
      expect(r.status).to.equal(1);
      expect(r.stderr).to.match(/^liquidator: cannot reach http:\/\/127\.0\.0\.1:1: /);
      expect(r.stderr.split("\n")).to.have.length(1);
    });
  });
});
