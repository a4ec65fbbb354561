import { expect } from "chai";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { artifacts, ethers } from "hardhat";
import { setCode } from "@nomicfoundation/hardhat-network-helpers";
import { CHAIN_IDS, configForChainId, networks, type NetworkConfig } from "../config/networks";
import { PARAMS, paramIndex } from "../scripts/lib/params";

// What config/networks.ts promises for the real networks, checked without a network: addresses,
// the Uniswap pools they name, the contracts' hard bounds (read from the compiled contracts), and
// which networks hardhat.config.ts exposes for a given environment.

const ROOT = path.resolve(__dirname, "..");
const REAL = ["mainnet", "arbitrum", "base"] as const;
type RealNetwork = (typeof REAL)[number];
const wad = (value: string) => ethers.parseUnits(value, 18);

/** Every address a real configuration names, with the role it plays there. */
function addressesOf(config: NetworkConfig): { role: string; address: string }[] {
  const named = [
    { role: "settlement token", address: config.settlement.address },
    ...config.collaterals.map((c) => ({ role: `${c.symbol} token`, address: c.address })),
    ...config.oracles.assets.flatMap((a) => [
      { role: `${a.symbol} feed`, address: a.chainlink.feed },
      { role: `${a.symbol} pool`, address: a.twap.pool },
    ]),
    { role: "sequencer feed", address: config.oracles.sequencer?.feed },
  ];
  return named.filter((n): n is { role: string; address: string } => n.address !== undefined);
}

// Uniswap v3 pools are CREATE2 deployments of their factory, salted with (token0, token1, fee):
// POOL_INIT_CODE_HASH from Uniswap/v3-periphery contracts/libraries/PoolAddress.sol. Factories:
// Uniswap/v3-periphery deploys.md (Ethereum, Arbitrum) and
// docs.uniswap.org/contracts/v3/reference/deployments/base-deployments (Base).
const POOL_INIT_CODE_HASH = "0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54";
const UNISWAP: Record<RealNetwork, { factory: string; fees: Record<string, number> }> = {
  mainnet: { factory: "0x1F98431c8aD98523631AE4a59f267346ea31F984", fees: { WETH: 500, WBTC: 3000 } },
  arbitrum: { factory: "0x1F98431c8aD98523631AE4a59f267346ea31F984", fees: { WETH: 500, WBTC: 500 } },
  base: { factory: "0x33128a8fC17869897dcE68Ed026d694621f6FDfD", fees: { WETH: 500, cbBTC: 500 } },
};

function uniswapPool(factory: string, tokenA: string, tokenB: string, fee: number): string {
  const [token0, token1] = BigInt(tokenA) < BigInt(tokenB) ? [tokenA, tokenB] : [tokenB, tokenA];
  const salt = ethers.keccak256(
    ethers.AbiCoder.defaultAbiCoder().encode(["address", "address", "uint24"], [token0, token1, fee]),
  );
  return ethers.getCreate2Address(factory, salt, POOL_INIT_CODE_HASH);
}

/** A contract's runtime code at a fixed address, to call its pure getters; nothing is deployed. */
async function runtimeOf<T extends "PriceOracle" | "VolatilityOracle" | "RiskConfig" | "MarginAccounts">(
  name: T,
  address: string,
) {
  await setCode(address, (await artifacts.readArtifact(name)).deployedBytecode);
  return ethers.getContractAt(name, address);
}

// Bounds PriceOracle enforces inline rather than as public constants (PriceOracle.sol):
const MAX_FEED_DECIMALS = 18n; // line 205, setChainlink: _bound(DECIMALS, decimals, 0, 18)
const MAX_MIN_CARDINALITY = 65_535n; // line 243, setTwap: _bound(MIN_CARDINALITY, ..., type(uint16).max)
const MAX_ANSWER = 2n ** 127n - 1n; // line 214, setChainlink: maxAnswer > type(int128).max is refused
// RiskConfig.sol line 166, setKeeperLimits: tightenStep > 1e18 is refused.
const MAX_TIGHTEN_STEP = wad("1");

/** One line per oracle setting of `config` outside PriceOracle's or VolatilityOracle's hard bounds. */
async function oracleViolations(name: string, config: NetworkConfig): Promise<string[]> {
  const oracle = await runtimeOf("PriceOracle", "0x00000000000000000000000000000000000b0001");
  const vol = await runtimeOf("VolatilityOracle", "0x00000000000000000000000000000000000b0002");
  const problems: string[] = [];
  const within = (what: string, value: bigint | number, min: bigint, max: bigint) => {
    if (BigInt(value) < min || BigInt(value) > max) problems.push(`${name} ${what} ${value} not in [${min}, ${max}]`);
  };
  const sequencer = config.oracles.sequencer;
  if (sequencer !== undefined) {
    within("grace period", sequencer.gracePeriod, await oracle.MIN_GRACE_PERIOD(), await oracle.MAX_GRACE_PERIOD());
  }
  for (const { symbol, chainlink, twap, guard, volatility } of config.oracles.assets) {
    within(`${symbol} heartbeat`, chainlink.heartbeat, await oracle.MIN_HEARTBEAT(), await oracle.MAX_HEARTBEAT());
    within(`${symbol} tolerance`, chainlink.tolerance, 0n, await oracle.MAX_TOLERANCE());
    within(`${symbol} feed decimals`, chainlink.decimals, 0n, MAX_FEED_DECIMALS);
    within(`${symbol} answer floor`, chainlink.minAnswer, 1n, chainlink.maxAnswer - 2n);
    within(`${symbol} answer ceiling`, chainlink.maxAnswer, chainlink.minAnswer + 2n, MAX_ANSWER);
    within(`${symbol} TWAP window`, twap.window, await oracle.MIN_TWAP_WINDOW(), await oracle.MAX_TWAP_WINDOW());
    within(`${symbol} min cardinality`, twap.minCardinality, await oracle.MIN_MIN_CARDINALITY(), MAX_MIN_CARDINALITY);
    within(
      `${symbol} max deviation`,
      guard.maxDeviation,
      await oracle.MIN_MAX_DEVIATION(),
      await oracle.MAX_MAX_DEVIATION(),
    );
    within(
      `${symbol} breaker move`,
      guard.breakerMaxMove,
      await oracle.MIN_BREAKER_MOVE(),
      await oracle.MAX_BREAKER_MOVE(),
    );
    within(
      `${symbol} breaker window`,
      guard.breakerWindow,
      await oracle.MIN_BREAKER_WINDOW(),
      await oracle.MAX_BREAKER_WINDOW(),
    );
    within(
      `${symbol} degraded cooldown`,
      guard.degradedCooldown,
      await oracle.MIN_DEGRADED_COOLDOWN(),
      await oracle.MAX_DEGRADED_COOLDOWN(),
    );
    within(`${symbol} lambda`, volatility.lambda, await vol.MIN_LAMBDA(), await vol.MAX_LAMBDA());
    within(`${symbol} min vol`, volatility.minVol, await vol.VOL_FLOOR(), volatility.maxVol);
    within(`${symbol} max vol`, volatility.maxVol, volatility.minVol, await vol.VOL_CEILING());
    within(`${symbol} initial vol`, volatility.initialVol, volatility.minVol, volatility.maxVol);
  }
  return problems;
}

/** One line per risk parameter or keeper limit of `config` that RiskConfig would refuse. */
async function riskViolations(name: string, config: NetworkConfig): Promise<string[]> {
  const risk = await runtimeOf("RiskConfig", "0x00000000000000000000000000000000000b0003");
  const markets = config.markets.map((m) => m.id);
  const underlyings = config.collaterals.map((c) => c.symbol);
  const problems: string[] = [];
  const scopeFits = (param: string, scope: number | string | undefined) => {
    const kind = PARAMS[paramIndex(param)].scope;
    if (kind === "global") return scope === undefined;
    if (kind === "market") return typeof scope === "number" && markets.includes(scope);
    return typeof scope === "string" && underlyings.includes(scope);
  };
  for (const s of config.governance.params) {
    const where = `${name} ${s.param}(${s.scope ?? "global"})`;
    const [min, max] = await risk.bounds(paramIndex(s.param));
    if (s.value < min || s.value > max) problems.push(`${where} ${s.value} not in [${min}, ${max}]`);
    if (!scopeFits(s.param, s.scope)) problems.push(`${where}: scope is not one of this network's`);
  }
  const [minWindow, maxWindow] = [await risk.MIN_KEEPER_WINDOW(), await risk.MAX_KEEPER_WINDOW()];
  for (const k of config.governance.keeperLimits) {
    const where = `${name} keeper ${k.param}(${k.scope})`;
    const [min, max] = await risk.bounds(paramIndex(k.param));
    if (k.bandMin < min || k.bandMax > max || k.bandMin > k.bandMax) problems.push(`${where}: band outside the bounds`);
    if (k.tightenStep === 0n || k.tightenStep > MAX_TIGHTEN_STEP || k.loosenStep > k.tightenStep) {
      problems.push(`${where}: steps refused`);
    }
    if (BigInt(k.window) < minWindow || BigInt(k.window) > maxWindow) problems.push(`${where}: window refused`);
    if (!scopeFits(k.param, k.scope)) problems.push(`${where}: scope is not one of this network's`);
  }
  return problems;
}

/** Runs `script` in a fresh Node process from the repository root with exactly `env` (plus PATH). */
function runIsolated(script: string, env: Record<string, string>): unknown {
  const output = execFileSync(process.execPath, ["-r", "ts-node/register", "-e", script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", TS_NODE_TRANSPILE_ONLY: "true", ...env },
    encoding: "utf8",
  });
  return JSON.parse(output);
}

/** The networks hardhat.config.ts resolves to under `env`: url, chain id and accounts of each non-local one. */
function hardhatNetworks(env: Record<string, string>) {
  return runIsolated(
    `const { networks } = require("hardhat").config;
     const real = Object.entries(networks).filter(([name]) => name !== "hardhat" && name !== "localhost");
     console.log(JSON.stringify({
       names: Object.keys(networks),
       real: Object.fromEntries(real.map(([name, n]) => [name, { url: n.url, chainId: n.chainId, accounts: n.accounts }])),
     }));`,
    env,
  );
}

describe("network configuration (config/networks.ts)", () => {
  it("configures the local networks, Ethereum mainnet, Arbitrum One and Base", () => {
    expect(Object.keys(networks)).to.deep.equal(["hardhat", "localhost", "mainnet", "arbitrum", "base"]);
    for (const name of REAL) expect(networks[name].mocks, name).to.equal(false);
  });

  it("names every token, feed and pool of a real network by an EIP-55 checksummed address", () => {
    for (const name of REAL) {
      const named = addressesOf(networks[name]);
      // Mainnet: USDC, 2 tokens, 2 feeds, 2 pools; the L2s add the sequencer feed.
      expect(named, name).to.have.length(name === "mainnet" ? 7 : 8);
      for (const { role, address } of named) expect(ethers.getAddress(address), `${name} ${role}`).to.equal(address);
    }
  });

  it("never gives one address two roles within a network (a token is not a feed, a feed not a pool)", () => {
    for (const name of REAL) {
      const byAddress = new Map<string, string>();
      for (const { role, address } of addressesOf(networks[name])) {
        const other = byAddress.get(address);
        expect(other, `${name}: ${role} and ${other} share ${address}`).to.equal(undefined);
        byAddress.set(address, role);
      }
    }
  });

  it("settles in Circle's native 6-decimal USDC, not a bridged USDC", () => {
    const settlement = Object.fromEntries(REAL.map((n) => [n, networks[n].settlement]));
    expect(settlement).to.deep.equal({
      mainnet: {
        symbol: "USDC",
        decimals: 6,
        address: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
        cap: 10_000_000_000_000n,
      },
      // Not USDC.e (0xFF970A61A04b1cA14834A43f5dE4533eBDDB5CC8).
      arbitrum: {
        symbol: "USDC",
        decimals: 6,
        address: "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
        cap: 10_000_000_000_000n,
      },
      // Not USDbC (0xd9aAEc86B65D86f6A7B5B1b0c42FFA531710b6CA).
      base: {
        symbol: "USDC",
        decimals: 6,
        address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        cap: 10_000_000_000_000n,
      },
    });
  });

  it("lists WETH at 18 decimals and WBTC (cbBTC on Base) at 8, with mainnet's weights and caps", () => {
    const listing = (config: NetworkConfig) =>
      config.collaterals.map((c) => [c.symbol, c.decimals, ethers.formatUnits(c.weight, 18), c.cap]);
    expect(listing(networks.mainnet)).to.deep.equal([
      ["WETH", 18, "0.85", 2_000n * 10n ** 18n],
      ["WBTC", 8, "0.8", 100n * 10n ** 8n],
    ]);
    expect(listing(networks.arbitrum)).to.deep.equal(listing(networks.mainnet));
    expect(listing(networks.base)).to.deep.equal([
      ["WETH", 18, "0.85", 2_000n * 10n ** 18n],
      ["cbBTC", 8, "0.8", 100n * 10n ** 8n],
    ]);
    expect(networks.base.markets).to.deep.equal([
      { id: 1, symbol: "WETH" },
      { id: 2, symbol: "cbBTC" },
    ]);
  });

  it("gates prices on the sequencer uptime feed on Arbitrum, Base and the local L2 stand-in, with a one-hour grace period", () => {
    expect(networks.mainnet.oracles.sequencer).to.equal(undefined);
    // Local networks deploy a mock feed (no address in the config).
    expect(networks.hardhat.oracles.sequencer).to.deep.equal({ gracePeriod: 3600 });
    expect(networks.localhost.oracles.sequencer).to.deep.equal({ gracePeriod: 3600 });
    expect(networks.arbitrum.oracles.sequencer).to.deep.equal({
      feed: "0xFdB631F5EE196F0ed6FAa767959853A9F217697D",
      gracePeriod: 3600,
    });
    expect(networks.base.oracles.sequencer).to.deep.equal({
      feed: "0xBCF85224fc0756B9Fa45aA7892530B47e10b6433",
      gracePeriod: 3600,
    });
  });

  it("reads 8-decimal Chainlink feeds with each feed's published heartbeat", () => {
    const feeds = (name: RealNetwork) =>
      networks[name].oracles.assets.map((a) => [
        a.symbol,
        a.chainlink.decimals,
        a.chainlink.heartbeat,
        a.chainlink.mockAnswer,
      ]);
    expect(feeds("mainnet")).to.deep.equal([
      ["WETH", 8, 3600, undefined],
      ["WBTC", 8, 3600, undefined],
    ]);
    expect(feeds("arbitrum")).to.deep.equal([
      ["WETH", 8, 1755, undefined],
      ["WBTC", 8, 1755, undefined],
    ]);
    expect(feeds("base")).to.deep.equal([
      ["WETH", 8, 1200, undefined],
      ["cbBTC", 8, 1200, undefined],
    ]);
  });

  it("reads each TWAP from the Uniswap v3 pool of that collateral and USDC at the chosen fee tier", () => {
    // Mainnet's USDC / WETH 0.05% pool, written out, checks the derivation itself.
    expect(
      uniswapPool(
        UNISWAP.mainnet.factory,
        networks.mainnet.settlement.address!,
        networks.mainnet.collaterals[0].address!,
        500,
      ),
    ).to.equal("0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640");
    for (const name of REAL) {
      const config = networks[name];
      const { factory, fees } = UNISWAP[name];
      for (const asset of config.oracles.assets) {
        const token = config.collaterals.find((c) => c.symbol === asset.symbol)!;
        const pool = uniswapPool(factory, token.address!, config.settlement.address!, fees[asset.symbol]);
        expect(asset.twap.pool, `${name} ${asset.symbol}`).to.equal(pool);
        expect([asset.twap.window, asset.twap.minCardinality], `${name} ${asset.symbol}`).to.deep.equal([1800, 150]);
      }
    }
  });

  it("keeps every oracle setting inside the PriceOracle's and VolatilityOracle's hard bounds", async () => {
    for (const [name, config] of Object.entries(networks)) {
      expect(await oracleViolations(name, config)).to.deep.equal([]);
    }
  });

  it("keeps every risk parameter and keeper limit inside RiskParams' hard bounds, on this network's scopes", async () => {
    for (const [name, config] of Object.entries(networks)) {
      expect(await riskViolations(name, config)).to.deep.equal([]);
    }
  });

  it("sets every catalogue parameter once per market, once per underlying and once globally", () => {
    for (const [name, config] of Object.entries(networks)) {
      const expected = PARAMS.flatMap((p) => {
        if (p.scope === "global") return [`${p.name}(global)`];
        const scopes = p.scope === "market" ? config.markets.map((m) => m.id) : config.collaterals.map((c) => c.symbol);
        return scopes.map((scope) => `${p.name}(${scope})`);
      });
      const set = config.governance.params.map((s) => `${s.param}(${s.scope ?? "global"})`);
      expect([...set].sort(), name).to.deep.equal([...expected].sort());
    }
  });

  it("lists collateral inside MarginAccounts' weight and deposit-cap bounds", async () => {
    const accounts = await runtimeOf("MarginAccounts", "0x00000000000000000000000000000000000b0004");
    const [minWeight, maxWeight, maxCap] = [
      await accounts.MIN_COLLATERAL_WEIGHT(),
      await accounts.MAX_COLLATERAL_WEIGHT(),
      await accounts.MAX_DEPOSIT_CAP(),
    ];
    for (const [name, config] of Object.entries(networks)) {
      expect(config.settlement.cap <= maxCap, `${name} USDC cap`).to.equal(true);
      for (const c of config.collaterals) {
        expect(c.weight >= minWeight && c.weight <= maxWeight, `${name} ${c.symbol} weight`).to.equal(true);
        expect(c.cap <= maxCap, `${name} ${c.symbol} cap`).to.equal(true);
      }
    }
  });

  it("runs the tested local parameters under a 48-hour timelock on every real network", () => {
    const local = networks.hardhat.governance;
    for (const name of REAL) {
      const g = networks[name].governance;
      expect(g.timelockDelay, name).to.equal(172_800);
      // Base lists cbBTC where the local deployment lists WBTC; nothing else differs.
      const rename = <T extends { scope?: number | string }>(s: T): T =>
        name === "base" && s.scope === "WBTC" ? { ...s, scope: "cbBTC" } : s;
      expect(g.params, name).to.deep.equal(local.params.map(rename));
      expect(g.keeperLimits, name).to.deep.equal(local.keeperLimits.map(rename));
    }
  });

  it("takes the multisig, guardian and risk keeper from the environment, and says which is unset", () => {
    const accounts = (env: Record<string, string>) =>
      runIsolated(
        `const { networks } = require("./config/networks");
         console.log(JSON.stringify(["mainnet", "arbitrum", "base"].map((n) => {
           const { proposer, revoker, guardian, keeper } = networks[n].governance;
           return { proposer, revoker, guardian, keeper };
         })));`,
        env,
      );
    const multisig = "0x1111111111111111111111111111111111111111";
    const guardian = "0x2222222222222222222222222222222222222222";
    const keeper = "0x3333333333333333333333333333333333333333";
    const set = { KEEL_GOVERNANCE_MULTISIG: multisig, KEEL_GUARDIAN: guardian, KEEL_RISK_KEEPER: keeper };
    expect(accounts(set)).to.deep.equal(Array(3).fill({ proposer: multisig, revoker: multisig, guardian, keeper }));
    expect(accounts({})).to.deep.equal(
      Array(3).fill({
        proposer: "unset: KEEL_GOVERNANCE_MULTISIG",
        revoker: "unset: KEEL_GOVERNANCE_MULTISIG",
        guardian: "unset: KEEL_GUARDIAN",
        keeper: "unset: KEEL_RISK_KEEPER",
      }),
    );
  });

  it("finds a network's configuration by chain id, and none for a chain it does not know", () => {
    expect(CHAIN_IDS).to.deep.equal({ mainnet: 1, arbitrum: 42161, base: 8453, hardhat: 31337 });
    expect(configForChainId(1)).to.deep.equal({ name: "mainnet", config: networks.mainnet });
    expect(configForChainId(42161n)).to.deep.equal({ name: "arbitrum", config: networks.arbitrum });
    expect(configForChainId(8453)).to.deep.equal({ name: "base", config: networks.base });
    expect(configForChainId(31337n)).to.deep.equal({ name: "hardhat", config: networks.hardhat });
    for (const unknown of [0, 10, 137, 11_155_111, 2n ** 64n + 1n]) {
      expect(configForChainId(unknown), String(unknown)).to.equal(undefined);
    }
  });
});

describe("real networks in hardhat.config.ts", () => {
  const KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"; // Hardhat's test account #0
  const RPC = { mainnet: "MAINNET_RPC_URL", arbitrum: "ARBITRUM_RPC_URL", base: "BASE_RPC_URL" } as const;

  it("exposes no real network when no RPC URL is set", () => {
    expect(hardhatNetworks({})).to.deep.equal({ names: ["hardhat", "localhost"], real: {} });
  });

  it("exposes each real network only with its own RPC URL, pinned to its chain id, without a key when none is set", () => {
    for (const name of REAL) {
      const url = `https://rpc.example/${name}`;
      expect(hardhatNetworks({ [RPC[name]]: url }), name).to.deep.equal({
        names: ["hardhat", "localhost", name],
        real: { [name]: { url, chainId: CHAIN_IDS[name], accounts: [] } },
      });
    }
  });

  it("signs with KEEL_DEPLOYER_KEY on every real network that is configured", () => {
    const env = {
      ...Object.fromEntries(REAL.map((n) => [RPC[n], `https://rpc.example/${n}`])),
      KEEL_DEPLOYER_KEY: KEY,
    };
    expect(hardhatNetworks(env)).to.deep.equal({
      names: ["hardhat", "localhost", "mainnet", "arbitrum", "base"],
      real: Object.fromEntries(
        REAL.map((n) => [n, { url: `https://rpc.example/${n}`, chainId: CHAIN_IDS[n], accounts: [KEY] }]),
      ),
    });
  });
});
