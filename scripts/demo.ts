// `npm start`: deploys Keel on the in-process network with the real deploy scripts and walks
// through what exists so far, printing each step. Grows with every feature.
import hre from "hardhat";
import { formatUnits, parseEther, parseUnits } from "ethers";
import { deployGovernedKeel } from "./lib/deployment";
import { runMain } from "./lib/cli";
import { connect, execute, propose, setParameterAction } from "./lib/governance";

const usd = (amount: bigint) => `${formatUnits(amount, 6)} USDC`;

async function main(): Promise<void> {
  const keel = await deployGovernedKeel();
  const { accounts, pool, fund, usdc, weth, wbtc } = keel;
  const [deployer, alice, bot, lp, coldWallet] = await hre.ethers.getSigners();
  console.log(`Keel deployed on ${hre.network.name} by ${deployer.address}`);
  console.log(`  MarginAccounts ${await accounts.getAddress()}`);
  console.log(`  LiquidityPool  ${await pool.getAddress()}`);
  console.log(`  InsuranceFund  ${await fund.getAddress()}`);

  // Faucet: local mocks only.
  await usdc.mint(alice, parseUnits("50000", 6));
  await weth.mint(alice, parseEther("10"));
  await wbtc.mint(alice, parseUnits("1", 8));
  await usdc.mint(lp, parseUnits("1000000", 6));

  console.log("\n1. Alice opens a cross account and an isolated account (market 1), and deposits");
  const a = accounts.connect(alice);
  await a.createAccount(0, 0);
  await a.createAccount(1, 1);
  await usdc.connect(alice).approve(accounts, parseUnits("50000", 6));
  await weth.connect(alice).approve(accounts, parseEther("10"));
  await wbtc.connect(alice).approve(accounts, parseUnits("1", 8));
  await a.deposit(1, usdc, parseUnits("20000", 6));
  await a.deposit(1, weth, parseEther("5"));
  await a.deposit(1, wbtc, parseUnits("0.5", 8));
  for (const [symbol, token, decimals] of [
    ["USDC", usdc, 6],
    ["WETH", weth, 18],
    ["WBTC", wbtc, 8],
  ] as const) {
    const c = await accounts.collateral(token);
    console.log(
      `   account 1 ${symbol}: ${formatUnits(await accounts.balanceOf(1, token), decimals)}` +
        ` (weight ${formatUnits(c.weight, 18)}, cap ${formatUnits(c.cap, decimals)})`,
    );
  }

  console.log("\n2. She moves 5,000 USDC into the isolated account; its losses can never reach account 1");
  await a.transfer(1, 2, usdc, parseUnits("5000", 6));
  console.log(
    `   account 1: ${usd(await accounts.balanceOf(1, usdc))}, account 2: ${usd(await accounts.balanceOf(2, usdc))}`,
  );

  console.log("\n3. She approves a bot as operator and sets a cold wallet as withdrawal recipient");
  await a.setOperator(1, bot, true);
  await a.setWithdrawalRecipient(coldWallet);
  await accounts.connect(bot).withdraw(1, usdc, parseUnits("1000", 6));
  console.log(
    `   the bot withdrew 1,000 USDC: cold wallet holds ${usd(await usdc.balanceOf(coldWallet))}, bot holds ${usd(await usdc.balanceOf(bot))}`,
  );

  console.log("\n4. An LP deposits 990,000 USDC into the pool and tops up the insurance fund with 10,000");
  await usdc.connect(lp).approve(pool, parseUnits("1000000", 6));
  await pool.connect(lp).deposit(parseUnits("990000", 6), lp);
  await usdc.connect(lp).approve(fund, parseUnits("10000", 6));
  await fund.connect(lp).topUp(parseUnits("10000", 6));
  const shares = await pool.balanceOf(lp);
  console.log(
    `   LP shares: ${formatUnits(shares, await pool.decimals())} kLP, pool assets ${usd(await pool.totalAssets())}`,
  );
  console.log(`   insurance fund: ${usd(await fund.balance())}`);

  console.log("\n5. The LP leaves through request -> cooldown -> redeem");
  await pool.connect(lp).requestRedeem(shares / 4n);
  const request = await pool.redeemRequest(lp);
  console.log(
    `   requested ${formatUnits(request.shares, 12)} kLP; claimable now: ${formatUnits(await pool.maxRedeem(lp), 12)} kLP`,
  );
  await hre.network.provider.send("evm_increaseTime", [Number(await pool.cooldown())]);
  await hre.network.provider.send("evm_mine", []);
  const before = await usdc.balanceOf(lp);
  await pool.connect(lp).redeem(await pool.maxRedeem(lp), lp, lp);
  console.log(
    `   after ${Number(await pool.cooldown()) / 3600} h cooldown the LP redeemed ${usd((await usdc.balanceOf(lp)) - before)}`,
  );
  console.log(`   pool assets now ${usd(await pool.totalAssets())}`);

  console.log("\n6. Oracles: Chainlink primary, Uniswap v3 TWAP secondary, status with every price");
  const { oracle, volatility, ethFeed, ethPool } = keel;
  const status = ["Ok", "Degraded", "Down"];
  const show = async (label: string, p: { price: bigint; low: bigint; high: bigint; status: bigint }) =>
    console.log(
      `   ${label}: ${formatUnits(p.price, 18)} USD [${formatUnits(p.low, 18)} .. ${formatUnits(p.high, 18)}] ${status[Number(p.status)]}`,
    );
  await show("ETH getPrice after the LP's 24 h wait", await oracle.getPrice(weth));
  const [chainlinkError] = await oracle.sourceErrors(weth);
  console.log(
    `   why: Chainlink refused with ${oracle.interface.parseError(chainlinkError)?.name}; the TWAP answered alone`,
  );
  await ethFeed.push(parseUnits("3012.5", 8));
  await show("ETH getPrice after a fresh round (Chainlink only while Ok)", await oracle.getPrice(weth));
  await show("ETH getPriceChecked (cross-checked against the TWAP)", await oracle.getPriceChecked(weth));
  await volatility.update(weth);
  console.log(
    `   ETH TWAP ${formatUnits(await oracle.twapPrice(weth), 18)} USD from pool ${await ethPool.getAddress()}`,
  );
  console.log(`   ETH realized volatility ${formatUnits(await volatility.volatility(weth), 16)}% (EWMA, lambda 0.94)`);

  console.log("\n7. A bad print: Chainlink jumps 40% in one round; anyone pokes the circuit breaker");
  await oracle.poke(weth);
  await ethFeed.push(parseUnits("4217.5", 8));
  await oracle.poke(weth);
  await show("ETH getPrice", await oracle.getPrice(weth));
  console.log("   Degraded: no new risk; closing, deposits, withdrawals (conservative price) and liquidations go on");
  await hre.network.provider.send("evm_increaseTime", [1800]);
  await ethFeed.push(parseUnits("3015", 8));
  await show("ETH getPrice after the 30 min cooldown", await oracle.getPrice(weth));

  console.log("\n8. Governance: a parameter change goes through the timelock, inside hard bounds");
  const { riskConfig, timelock } = keel;
  const gov = connect(deployer, { timelock: await timelock.getAddress(), riskConfig: await riskConfig.getAddress() });
  try {
    await setParameterAction(gov, "MM_FLOOR", 1n, parseEther("0.9"));
  } catch (error) {
    console.log(`   proposing MM_FLOOR = 0.9 for market 1: ${(error as Error).message}`);
  }
  const { id, eta } = await propose(gov, [await setParameterAction(gov, "MM_FLOOR", 1n, parseEther("0.02"))]);
  console.log(`   proposed MM_FLOOR = 0.02 for market 1 as ${id.slice(0, 10)}..., ready at unix ${eta}`);
  await hre.network.provider.send("evm_increaseTime", [Number(await timelock.getMinDelay())]);
  await execute(gov, id);
  console.log(
    `   executed after the ${await timelock.getMinDelay()} s local delay: MM_FLOOR(1) = ${formatUnits(await riskConfig.get(0, 1), 18)}`,
  );

  console.log("\n9. The guardian pauses WBTC deposits: new deposits stop, withdrawals do not");
  const guardian = await hre.ethers.getSigner((await hre.getNamedAccounts()).guardian);
  await riskConfig.connect(guardian).setPaused(2, await wbtc.getAddress(), true);
  try {
    await a.deposit(1, wbtc, parseUnits("0.1", 8));
  } catch (error) {
    console.log(`   deposit refused: ${accounts.interface.parseError((error as { data: string }).data)?.name}`);
  }
  await a.withdraw(1, wbtc, parseUnits("0.1", 8));
  console.log(`   withdrawal still works: account 1 WBTC ${formatUnits(await accounts.balanceOf(1, wbtc), 8)}`);

  console.log("\nDone. Markets, margin and liquidation join this demo as they land.");
}

runMain("demo", main);
