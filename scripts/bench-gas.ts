// Gas benchmark: runs a fixed list of named operations on the in-process network against the real
// deployment and writes gas/snapshot.json ({operation: gasUsed}).
//   npm run bench:gas          measure and rewrite the snapshot
//   npm run bench:gas:check    measure and fail if any operation costs more than 2% above the
//                              committed snapshot, or any operation misses its target
import fs from "node:fs";
import path from "node:path";
import hre from "hardhat";
import type { ContractTransactionResponse } from "ethers";
import { deployKeel } from "./lib/deployment";
import { runMain } from "./lib/cli";

const SNAPSHOT = path.join(__dirname, "..", "gas", "snapshot.json");
const TOLERANCE = 0.02;

/** Hard targets from the issues; an operation above its target fails the check and the snapshot. */
export const TARGETS: Record<string, number> = {
  "MarginAccounts.deposit (USDC, 2nd into account)": 60_000,
  "MarginAccounts.withdraw (USDC, no positions)": 70_000,
};

async function gasOf(tx: Promise<ContractTransactionResponse>): Promise<number> {
  const receipt = await (await tx).wait();
  if (receipt === null) throw new Error("transaction was not mined");
  return Number(receipt.gasUsed);
}

async function measure(): Promise<Record<string, number>> {
  const { accounts, pool, fund, usdc, weth } = await deployKeel();
  const [, trader, lp] = await hre.ethers.getSigners();
  const gas: Record<string, number> = {};
  const usdc6 = (n: string) => hre.ethers.parseUnits(n, 6);

  await usdc.mint(trader, usdc6("1000000"));
  await weth.mint(trader, hre.ethers.parseEther("100"));
  // Wallet-style exact approvals would refund gas when the allowance returns to zero; an unlimited
  // approval is the costlier, steady-state case a front end sees, so the snapshot measures that.
  await usdc.connect(trader).approve(accounts, hre.ethers.MaxUint256);
  await weth.connect(trader).approve(accounts, hre.ethers.MaxUint256);

  const a = accounts.connect(trader);
  gas["MarginAccounts.createAccount (Cross)"] = await gasOf(a.createAccount(0, 0));
  gas["MarginAccounts.createAccount (Isolated)"] = await gasOf(a.createAccount(1, 1));
  gas["MarginAccounts.deposit (USDC, 1st into account)"] = await gasOf(a.deposit(1, usdc, usdc6("1000")));
  gas["MarginAccounts.deposit (USDC, 2nd into account)"] = await gasOf(a.deposit(1, usdc, usdc6("1000")));
  await a.deposit(1, weth, hre.ethers.parseEther("1"));
  gas["MarginAccounts.deposit (WETH, 2nd into account)"] = await gasOf(a.deposit(1, weth, hre.ethers.parseEther("1")));
  gas["MarginAccounts.withdraw (USDC, no positions)"] = await gasOf(a.withdraw(1, usdc, usdc6("500")));
  gas["MarginAccounts.transfer (USDC, cross -> isolated)"] = await gasOf(a.transfer(1, 2, usdc, usdc6("100")));
  gas["MarginAccounts.setOperator"] = await gasOf(a.setOperator(1, lp, true));

  await usdc.mint(lp, usdc6("1000000"));
  await usdc.connect(lp).approve(pool, hre.ethers.MaxUint256);
  await usdc.connect(lp).approve(fund, hre.ethers.MaxUint256);
  const p = pool.connect(lp);
  gas["LiquidityPool.deposit (1st LP)"] = await gasOf(p.deposit(usdc6("100000"), lp));
  gas["LiquidityPool.deposit (2nd by LP)"] = await gasOf(p.deposit(usdc6("100000"), lp));
  gas["LiquidityPool.requestRedeem"] = await gasOf(p.requestRedeem((await pool.balanceOf(lp)) / 2n));
  await hre.network.provider.send("evm_increaseTime", [Number(await pool.cooldown())]);
  gas["LiquidityPool.redeem (claim request)"] = await gasOf(p.redeem((await pool.maxRedeem(lp)) / 2n, lp, lp));
  gas["InsuranceFund.topUp"] = await gasOf(fund.connect(lp).topUp(usdc6("1000")));
  return gas;
}

async function main(): Promise<void> {
  const check = process.env.GAS_CHECK === "1";
  const gas = await measure();
  const committed: Record<string, number> = fs.existsSync(SNAPSHOT)
    ? (JSON.parse(fs.readFileSync(SNAPSHOT, "utf8")) as Record<string, number>)
    : {};
  const failures: string[] = [];
  const rows = Object.entries(gas).map(([operation, used]) => {
    const before = committed[operation];
    const target = TARGETS[operation];
    const delta = before === undefined ? "new" : `${(((used - before) / before) * 100).toFixed(2)}%`;
    if (check && before === undefined) failures.push(`${operation}: not in the committed snapshot`);
    if (check && before !== undefined && used > before * (1 + TOLERANCE)) {
      failures.push(`${operation}: ${used} gas is more than 2% above the committed ${before}`);
    }
    if (target !== undefined && used > target) failures.push(`${operation}: ${used} gas is above its target ${target}`);
    return { operation, gasUsed: used, committed: before ?? "-", delta, target: target ?? "-" };
  });
  console.table(rows);
  if (failures.length > 0) throw new Error(`gas check failed: ${failures.join("; ")}`);
  if (check) {
    console.log(`gas check passed: ${rows.length} operations within 2% of gas/snapshot.json`);
  } else {
    fs.mkdirSync(path.dirname(SNAPSHOT), { recursive: true });
    fs.writeFileSync(SNAPSHOT, `${JSON.stringify(gas, null, 2)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), SNAPSHOT)}`);
  }
}

runMain("bench:gas", main);
