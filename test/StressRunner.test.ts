import { expect } from "chai";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Report } from "../scripts/lib/stress/types";
import { loadScenario, mergedTimeline } from "../scripts/lib/stress/scenario";

// The stress runner end to end, as a user runs it: in-process and in local-fork mode (its own
// hardhat node on 127.0.0.1, forked), on the built-in 30% gap with a small population. The report
// must hold every key the issue names, agree with itself and with the bot's decision log, and the
// HTML page must be self-contained.

const ROOT = path.resolve(__dirname, "..");
const REQUIRED: (keyof Report)[] = [
  "scenario",
  "accounts",
  "steps",
  "liquidations",
  "maxLiquidationDelaySeconds",
  "accountsBelowMaintenanceAtEnd",
  "insuranceFundStart",
  "insuranceFundEnd",
  "socializedLoss",
  "badDebt",
  "lpSharePriceChange",
  "traderLossToLiquidationDiscounts",
  "gasUsedByLiquidations",
  "wallSeconds",
];

function stress(args: string[]) {
  const r = spawnSync(
    path.join(ROOT, "node_modules", ".bin", "ts-node"),
    ["--transpile-only", "scripts/stress.ts", ...args],
    { cwd: ROOT, encoding: "utf8", timeout: 600_000 },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function checkReport(dir: string, mode: string, accounts: number) {
  const report = JSON.parse(fs.readFileSync(path.join(dir, "report.json"), "utf8")) as Report;
  for (const key of REQUIRED) expect(report, `report.json has ${key}`).to.have.property(key);
  const steps = mergedTimeline(loadScenario("gap-down-30")).length;
  expect([report.scenario, report.mode, report.accounts, report.steps]).to.deep.equal([
    "gap-down-30",
    mode,
    accounts,
    steps,
  ]);
  expect(report.samples).to.have.length(steps);
  // The bot's log has one "bid" line per Liquidated event the report counted.
  const decisions = fs
    .readFileSync(path.join(dir, "bot.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { decision: string; account?: string });
  const bids = decisions.filter((d) => d.decision === "bid");
  expect(report.liquidations, "liquidations = bid lines").to.equal(bids.length);
  expect(report.accountsLiquidated, "accounts liquidated").to.equal(new Set(bids.map((b) => b.account)).size);
  // A 30% gap down liquidates some of a population levered 1x to 15x.
  expect(report.liquidations).to.be.greaterThan(0);
  expect(report.gasUsedByLiquidations).to.be.greaterThan(0);
  // The last sample is the end of the path; the fund's end figure is after the closing pass.
  expect(report.samples[0].prices.ETH).to.equal(3000);
  expect(report.samples[steps - 1].prices.ETH).to.equal(2100);
  expect(report.samples[steps - 1].liquidations).to.be.at.most(report.liquidations);
  // The runner tops the fund up with 500,000 USDC; the population's trading fees add their share.
  expect(report.insuranceFundStart).to.be.within(500_000, 510_000);
  expect(report.health.map((h) => h.label)).to.deep.equal(["before", "worst", "after"]);
  for (const h of report.health) {
    expect(
      h.counts.reduce((a, b) => a + b, 0),
      `${h.label}: every account with a requirement`,
    ).to.be.at.most(accounts);
  }
  expect(report.accountsBelowMaintenanceAtEnd).to.equal(0);
  const html = fs.readFileSync(path.join(dir, "report.html"), "utf8");
  expect(html).to.match(/^<!DOCTYPE html>/i);
  expect(html).to.not.match(/https?:\/\/|<script|<link|src=/);
  expect((html.match(/<svg/g) ?? []).length).to.equal(8);
  return report;
}

describe("Stress runner @stress", function () {
  this.timeout(900_000);
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-stress-"))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("in-process: report.json and report.html for the 30% gap, and the summary on stdout", () => {
    const out = path.join(dir, "in-process");
    const r = stress(["--in-process", "--scenario", "gap-down-30", "--accounts", "12", "--seed", "7", "--out", out]);
    expect(r.status, r.stderr).to.equal(0);
    const report = checkReport(out, "in-process", 12);
    expect(r.stdout).to.contain(`Report           ${path.join(out, "report.json")}`);
    expect(r.stdout).to.contain("Scenario         gap-down-30 (in-process, seed 7)");
    expect(report.seed).to.equal(7);
  });

  it("local-fork: starts its own node on 127.0.0.1, forks it, and stops it", () => {
    const out = path.join(dir, "local-fork");
    const r = stress(["--scenario", "gap-down-30", "--accounts", "12", "--seed", "7", "--out", out]);
    expect(r.status, r.stderr).to.equal(0);
    checkReport(out, "local-fork", 12);
    expect(r.stderr).to.contain("starting a hardhat node on 127.0.0.1");
  });

  it("sequencer outage: prices Down from the outage through the grace hour, nothing liquidated in it, delays from its start", () => {
    const out = path.join(dir, "sequencer");
    const r = stress([
      "--in-process",
      "--scenario",
      "sequencer-outage",
      "--accounts",
      "16",
      "--seed",
      "3",
      "--out",
      out,
    ]);
    expect(r.status, r.stderr).to.equal(0);
    const report = JSON.parse(fs.readFileSync(path.join(out, "report.json"), "utf8")) as Report;
    const [outage] = loadScenario("sequencer-outage").events;
    if (outage.kind !== "sequencerDown") throw new Error("the built-in's event is a sequencer outage");
    const graceEnd = outage.to + 3600; // config/networks.ts: one hour of grace after the restart
    // Down from the outage's start until the grace period ends, and only then.
    for (const s of report.samples) {
      const down = s.timestamp >= outage.from && s.timestamp < graceEnd;
      expect(s.status.ETH, `status at ${s.timestamp}`).to.equal(down ? "Down" : "Ok");
    }
    // The uptime feed went down once and up once; no bid landed while prices were Down.
    expect(report.details["sequencer uptime feed changes"]).to.equal(2);
    const blind = report.samples.filter((s) => s.timestamp >= outage.from && s.timestamp < graceEnd);
    const before = report.samples.filter((s) => s.timestamp < outage.from).at(-1)!;
    expect(new Set(blind.map((s) => s.liquidations))).to.deep.equal(new Set([before.liquidations]));
    // The fall went on unseen: accounts crossed MM during the outage and were bid on after the
    // grace hour, so the longest delay spans at least the outage and the grace from its start.
    const after = report.samples.find((s) => s.timestamp >= graceEnd)!;
    expect(after.liquidations).to.be.greaterThan(before.liquidations);
    expect(report.maxLiquidationDelaySeconds).to.be.at.least(graceEnd - outage.from);
  });
});
