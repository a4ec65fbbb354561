// Typed per-network deployment configuration. Token amounts are in each token's own decimals;
// weights are WAD (1e18 = 1). Every value here must also sit inside the contracts' hard bounds,
// which the last deploy step verifies.
import { parseUnits } from "ethers";

export interface TokenConfig {
  symbol: string;
  decimals: number;
  /** Deployed address on real networks; local networks deploy a mock instead. */
  address?: string;
}

export interface CollateralConfig extends TokenConfig {
  /** Haircut weight, WAD, strictly below 1 for non-settlement collateral. */
  weight: bigint;
  /** Global deposit cap across all accounts, in token units. */
  cap: bigint;
}

export interface OracleAssetConfig {
  /** Collateral symbol of the priced asset (its token is the TWAP base). */
  symbol: string;
  chainlink: {
    /** Feed address on real networks; local networks deploy a mock answering `mockAnswer`. */
    feed?: string;
    mockAnswer?: bigint;
    heartbeat: number;
    tolerance: number;
    decimals: number;
    /** Band (feed decimals): answers at or beyond either end are refused. */
    minAnswer: bigint;
    maxAnswer: bigint;
  };
  twap: {
    /** Pool address on real networks; local networks create and seed a real Uniswap v3 pool. */
    pool?: string;
    /** Local seeding: the initial price in quote units and the base amount of liquidity. */
    seedPrice?: string;
    seedBase?: string;
    window: number;
    minCardinality: number;
  };
  guard: { maxDeviation: bigint; breakerMaxMove: bigint; breakerWindow: number; degradedCooldown: number };
  volatility: { lambda: bigint; minVol: bigint; maxVol: bigint; initialVol: bigint };
}

/** A RiskConfig parameter by name (RiskParams.Param), its scope and value in contract units. */
export interface ParamSetting {
  param: string;
  /** Market id, or an asset symbol for per-underlying parameters; omitted for global ones. */
  scope?: number | string;
  value: bigint;
}

export interface KeeperLimitSetting {
  param: string;
  scope: number | string;
  bandMin: bigint;
  bandMax: bigint;
  loosenStep: bigint;
  tightenStep: bigint;
  window: number;
}

export interface GovernanceConfig {
  /** TimelockController delay in seconds: a few seconds locally, 48 hours on mainnet. */
  timelockDelay: number;
  /** Named accounts (hardhat-deploy) or addresses; local networks use the named test accounts. */
  proposer: string;
  revoker: string;
  guardian: string;
  keeper: string;
  params: ParamSetting[];
  keeperLimits: KeeperLimitSetting[];
}

export interface NetworkConfig {
  /** Deploy mock tokens (and later mock feeds and a real Uniswap v3 pool) instead of using addresses. */
  mocks: boolean;
  settlement: TokenConfig & { cap: bigint };
  collaterals: CollateralConfig[];
  oracles: {
    /**
     * L2 sequencer uptime feed and grace period (seconds); absent on L1. The local stand-in is an L2:
     * it deploys a mock feed (no `feed` here) reporting the sequencer up since genesis, which the
     * stress runner turns down and up again to replay a sequencer outage.
     */
    sequencer?: { feed?: string; gracePeriod: number };
    assets: OracleAssetConfig[];
  };
  governance: GovernanceConfig;
  /** Perp markets: id (the RiskConfig scope of their parameters) and the collateral symbol of the underlying. */
  markets: { id: number; symbol: string }[];
  pool: {
    /** Seconds from an LP's redeem request to the start of its claim window. */
    cooldown: number;
    /** Seconds a matured redeem request stays claimable. */
    claimWindow: number;
  };
}

function wad(value: string): bigint {
  return parseUnits(value, 18);
}

/** The local perp market parameters of market `id` (sizes in base units). */
function perpMarket(
  id: number,
  m: { oi: string; position: string; skewScale: string; mmFloor: string },
): ParamSetting[] {
  return [
    { param: "MM_FLOOR", scope: id, value: wad(m.mmFloor) },
    { param: "MM_SIZE_FACTOR", scope: id, value: wad("0.02") },
    { param: "MM_VOL_MULTIPLIER", scope: id, value: wad("3") },
    { param: "LIQUIDATION_HORIZON", scope: id, value: 4n * 3600n },
    { param: "IM_MULTIPLIER", scope: id, value: wad("1.5") },
    { param: "MAKER_FEE", scope: id, value: wad("0.0002") },
    { param: "TAKER_FEE", scope: id, value: wad("0.0006") },
    { param: "FEE_INSURANCE_SHARE", scope: id, value: wad("0.2") },
    { param: "SKEW_SCALE", scope: id, value: wad(m.skewScale) },
    { param: "MAX_FUNDING_VELOCITY", scope: id, value: wad("3") },
    { param: "MAX_FUNDING_RATE", scope: id, value: wad("0.1") },
    { param: "MAX_OI_LONG", scope: id, value: wad(m.oi) },
    { param: "MAX_OI_SHORT", scope: id, value: wad(m.oi) },
    { param: "MAX_POSITION_SIZE", scope: id, value: wad(m.position) },
  ];
}

/** The local option parameters of an underlying (by collateral symbol). */
function optionsOn(symbol: string, o: { iv: string; delta: string; seriesOi: string }): ParamSetting[] {
  return [
    { param: "IV_FLOOR_FACTOR", scope: symbol, value: wad("0.8") },
    { param: "IMPLIED_VOL", scope: symbol, value: wad(o.iv) },
    { param: "OPTION_SPREAD_BASE", scope: symbol, value: wad("0.01") },
    { param: "OPTION_SPREAD_SLOPE", scope: symbol, value: wad("0.05") },
    { param: "STRIKE_BAND", scope: symbol, value: wad("0.5") },
    { param: "EXPIRY_GRID", scope: symbol, value: 86_400n },
    { param: "MAX_EXPIRY", scope: symbol, value: 90n * 86_400n },
    { param: "MAX_LIVE_SERIES", scope: symbol, value: 40n },
    { param: "MAX_SERIES_OI", scope: symbol, value: wad(o.seriesOi) },
    { param: "MAX_NET_DELTA", scope: symbol, value: wad(o.delta) },
    { param: "MAX_NET_VEGA", scope: symbol, value: wad("5000000") },
    { param: "LONG_OPTION_HAIRCUT", scope: symbol, value: wad("0.2") },
    { param: "SHORT_OPTION_MM_SPOT", scope: symbol, value: wad("0.1") },
    { param: "SHORT_OPTION_MM_FLOOR", scope: symbol, value: wad("0.02") },
    { param: "MAX_OPTIONS_PER_ACCOUNT", scope: symbol, value: 16n },
    { param: "OPTION_IM_MULTIPLIER", scope: symbol, value: wad("1.5") },
    { param: "VOL_SHOCK_UP", scope: symbol, value: wad("0.5") },
    { param: "VOL_SHOCK_DOWN", scope: symbol, value: wad("0.3") },
  ];
}

/** Deviation bound and circuit breaker for a major crypto asset against USD. */
const CRYPTO_GUARD: OracleAssetConfig["guard"] = {
  maxDeviation: parseUnits("0.03", 18),
  breakerMaxMove: parseUnits("0.2", 18),
  breakerWindow: 3600,
  degradedCooldown: 1800,
};

/** Prices are refused for an hour after an L2 sequencer comes back up (Chainlink's suggested use). */
const SEQUENCER_GRACE_PERIOD = 3600;

const local: NetworkConfig = {
  mocks: true,
  settlement: { symbol: "USDC", decimals: 6, cap: parseUnits("100000000", 6) },
  collaterals: [
    { symbol: "WETH", decimals: 18, weight: parseUnits("0.85", 18), cap: parseUnits("50000", 18) },
    { symbol: "WBTC", decimals: 8, weight: parseUnits("0.8", 18), cap: parseUnits("2000", 8) },
  ],
  oracles: {
    sequencer: { gracePeriod: SEQUENCER_GRACE_PERIOD },
    assets: [
      {
        symbol: "WETH",
        chainlink: {
          mockAnswer: parseUnits("3000", 8),
          heartbeat: 3600,
          tolerance: 300,
          decimals: 8,
          minAnswer: parseUnits("1", 8),
          maxAnswer: parseUnits("1000000", 8),
        },
        twap: { seedPrice: "3000", seedBase: "1000", window: 1800, minCardinality: 100 },
        guard: CRYPTO_GUARD,
        volatility: {
          lambda: parseUnits("0.94", 18),
          minVol: parseUnits("0.2", 18),
          maxVol: parseUnits("5", 18),
          initialVol: parseUnits("0.6", 18),
        },
      },
      {
        symbol: "WBTC",
        chainlink: {
          mockAnswer: parseUnits("60000", 8),
          heartbeat: 3600,
          tolerance: 300,
          decimals: 8,
          minAnswer: parseUnits("10", 8),
          maxAnswer: parseUnits("10000000", 8),
        },
        twap: { seedPrice: "60000", seedBase: "50", window: 1800, minCardinality: 100 },
        guard: CRYPTO_GUARD,
        volatility: {
          lambda: parseUnits("0.94", 18),
          minVol: parseUnits("0.15", 18),
          maxVol: parseUnits("4", 18),
          initialVol: parseUnits("0.5", 18),
        },
      },
    ],
  },
  governance: {
    timelockDelay: 2,
    proposer: "deployer",
    revoker: "deployer",
    guardian: "guardian",
    keeper: "keeper",
    params: [
      ...perpMarket(1, { oi: "20000", position: "2000", skewScale: "1000000", mmFloor: "0.01" }),
      ...perpMarket(2, { oi: "1000", position: "100", skewScale: "50000", mmFloor: "0.01" }),
      ...optionsOn("WETH", { iv: "0.7", delta: "5000", seriesOi: "2000" }),
      ...optionsOn("WBTC", { iv: "0.6", delta: "250", seriesOi: "100" }),
      { param: "LIQUIDATION_FEE", value: wad("0.02") },
      { param: "AUCTION_START_DISCOUNT", value: wad("0.01") },
      { param: "AUCTION_FAST_DISCOUNT", value: wad("0.05") },
      { param: "AUCTION_DISCOUNT_CAP", value: wad("0.15") },
      { param: "AUCTION_FAST_DURATION", value: 60n },
      { param: "AUCTION_SLOW_DURATION", value: 3600n },
      { param: "AUCTION_STALL_TIMEOUT", value: 1800n },
      { param: "BUFFER_MARGIN", value: wad("0.1") },
      { param: "DUST_THRESHOLD", value: wad("100") },
      { param: "INSOLVENT_PAYOUT_CAP", value: wad("10000") },
      { param: "INSOLVENT_RAMP", value: 1800n },
      { param: "THROUGHPUT_CAP", value: wad("10000000") },
      { param: "THROUGHPUT_WINDOW", value: 3600n },
      { param: "INSURANCE_FLOOR", value: wad("1000") },
    ],
    keeperLimits: [
      ...[1, 2].flatMap((market) =>
        ["MAX_OI_LONG", "MAX_OI_SHORT"].map((param) => ({
          param,
          scope: market,
          bandMin: 0n,
          bandMax: wad(market === 1 ? "40000" : "2000"),
          loosenStep: wad("0.1"),
          tightenStep: wad("0.5"),
          window: 24 * 3600,
        })),
      ),
      ...["WETH", "WBTC"].map((symbol) => ({
        param: "IMPLIED_VOL",
        scope: symbol,
        bandMin: wad("0.2"),
        bandMax: wad("3"),
        loosenStep: wad("0.05"),
        tightenStep: wad("0.25"),
        window: 3600,
      })),
    ],
  },
  markets: [
    { id: 1, symbol: "WETH" },
    { id: 2, symbol: "WBTC" },
  ],
  pool: { cooldown: 24 * 3600, claimWindow: 48 * 3600 },
};

// ---------------------------------------------------------------- real networks
//
// Addresses are EIP-55 checksummed; test/NetworkConfig.test.ts checks each one, and that every pool
// is the Uniswap v3 pool of its asset and USDC at the stated fee (CREATE2 from the chain's factory).
// Chainlink heartbeats are the `heartbeat` field of Chainlink's reference data directory
// (https://reference-data-directory.vercel.app/feeds-<network>.json, the data behind
// https://docs.chain.link/data-feeds/price-feeds/addresses); the feeds are the standard proxies,
// not the SVR variants listed next to them.

/** Chain ids: hardhat.config.ts pins the same ones, so an RPC URL of another chain fails fast. */
export const CHAIN_IDS = { mainnet: 1, arbitrum: 42161, base: 8453, hardhat: 31337 } as const;

/** A governance account from the environment; a placeholder that no deploy can resolve when unset. */
function envAccount(variable: string): string {
  return process.env[variable] ?? `unset: ${variable}`;
}

/**
 * Real-network governance: the local parameter set (what the tests exercise) under a two-day
 * timelock, with the multisig, guardian and risk keeper from the environment.
 */
function realGovernance(params: Pick<GovernanceConfig, "params" | "keeperLimits">): GovernanceConfig {
  return {
    ...params,
    // Every change is visible for two days before it takes effect.
    timelockDelay: 48 * 3600,
    proposer: envAccount("KEEL_GOVERNANCE_MULTISIG"),
    revoker: envAccount("KEEL_GOVERNANCE_MULTISIG"),
    guardian: envAccount("KEEL_GUARDIAN"),
    keeper: envAccount("KEEL_RISK_KEEPER"),
  };
}

/**
 * The local oracle settings of `localSymbol` on a real feed and pool: same answer band, guard and
 * volatility model, the feed's own heartbeat, and a 30-minute TWAP like mainnet's.
 */
function realAsset(
  localSymbol: string,
  real: { symbol?: string; feed: string; heartbeat: number; pool: string },
): OracleAssetConfig {
  const asset = local.oracles.assets.find((a) => a.symbol === localSymbol)!;
  return {
    ...asset,
    symbol: real.symbol ?? asset.symbol,
    chainlink: { ...asset.chainlink, mockAnswer: undefined, feed: real.feed, heartbeat: real.heartbeat },
    twap: { pool: real.pool, window: 1800, minCardinality: 150 },
  };
}

/** The local parameters with every per-underlying scope `from` renamed `to` (cbBTC stands in for WBTC). */
function renameUnderlying(from: string, to: string): Pick<GovernanceConfig, "params" | "keeperLimits"> {
  const rename = <T extends { scope?: number | string }>(s: T): T => (s.scope === from ? { ...s, scope: to } : s);
  return { params: local.governance.params.map(rename), keeperLimits: local.governance.keeperLimits.map(rename) };
}

/** Launch limits shared by every real network: 10M USDC, 2,000 WETH and 100 BTC of deposits. */
const SETTLEMENT_CAP = parseUnits("10000000", 6);
const WETH_LIMITS = { decimals: 18, weight: parseUnits("0.85", 18), cap: parseUnits("2000", 18) };
const BTC_LIMITS = { decimals: 8, weight: parseUnits("0.8", 18), cap: parseUnits("100", 8) };
/** LPs wait three days to redeem on real networks, then have two days to claim. */
const REAL_POOL = { cooldown: 72 * 3600, claimWindow: 48 * 3600 };

/** Ethereum mainnet: real tokens, feeds and pools by address; governance keys from the environment. */
const mainnet: NetworkConfig = {
  mocks: false,
  settlement: {
    symbol: "USDC",
    decimals: 6,
    address: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48",
    cap: SETTLEMENT_CAP,
  },
  collaterals: [
    { symbol: "WETH", address: "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2", ...WETH_LIMITS },
    { symbol: "WBTC", address: "0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599", ...BTC_LIMITS },
  ],
  oracles: {
    // Chainlink ETH / USD and BTC / USD (8 decimals, 1 h heartbeat, 0.5% deviation); Uniswap v3
    // USDC / WETH 0.05% and WBTC / USDC 0.3%.
    assets: [
      realAsset("WETH", {
        feed: "0x5f4eC3Df9cbd43714FE2740f5E3616155c5b8419",
        heartbeat: 3600,
        pool: "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640",
      }),
      realAsset("WBTC", {
        feed: "0xF4030086522a5bEEa4988F8cA5B36dbC97BeE88c",
        heartbeat: 3600,
        pool: "0x99ac8cA7087fA4A2A1FB6357269965A2014ABc35",
      }),
    ],
  },
  governance: realGovernance(local.governance),
  markets: local.markets,
  pool: REAL_POOL,
};

/** Arbitrum One: native USDC, WETH and WBTC; Chainlink behind the sequencer uptime feed. */
const arbitrum: NetworkConfig = {
  mocks: false,
  settlement: {
    symbol: "USDC",
    decimals: 6,
    // Circle's native USDC (6 decimals), not the bridged USDC.e at 0xFF970A61…5CC8: Circle's
    // address list (developers.circle.com/stablecoins/usdc-contract-addresses), as mirrored by
    // docs.gelato.cloud/1Balance/USDC-Addresess and skills.sh/austintgriffith/ethskills/addresses.
    address: "0xaf88d065e77c8cC2239327C5EDb3A432268e5831",
    cap: SETTLEMENT_CAP,
  },
  collaterals: [
    // WETH (18 decimals) and WBTC (8 decimals): docs.zerodev.app/onramp/smart-routing-address/
    // v0_2_1/supported-chains and the blockchain_addresses crate (src/arbitrum/tokens.rs, docs.rs).
    { symbol: "WETH", address: "0x82aF49447D8a07e3bd95BD0d56f35241523fBab1", ...WETH_LIMITS },
    { symbol: "WBTC", address: "0x2f2a2543B76A4166549F7aaB2e75Bef0aefC5B0f", ...BTC_LIMITS },
  ],
  oracles: {
    // Chainlink L2 sequencer uptime feed for Arbitrum One (directory entry "l2-sequencer"; also
    // named in sentimentxyz/protocol-v2 issue #125).
    sequencer: { feed: "0xFdB631F5EE196F0ed6FAa767959853A9F217697D", gracePeriod: SEQUENCER_GRACE_PERIOD },
    // Chainlink ETH / USD and BTC / USD, 8 decimals, 0.05% deviation, heartbeat 1755 s in the
    // directory as fetched in September 2026 (quoted with the raw fields by public repos checking
    // these proxies on-chain). Older snapshots of the same directory list 86,400 s (e.g.
    // LZeroAnalytics/chainlink-package src/package_io/constants.star): the staleness bound follows
    // the current figure. Pools: Uniswap v3 WETH / USDC and WBTC / USDC at 0.05%, the tier the
    // pairs trade in (for WBTC, about three times the 0.3% pool's liquidity per an audit-contest
    // finding on The Standard's SmartVaultV3); both are CREATE2 addresses of the Arbitrum factory
    // 0x1F98431c…F984 (Uniswap/v3-periphery deploys.md).
    assets: [
      realAsset("WETH", {
        feed: "0x639Fe6ab55C921f74e7fac1ee960C0B6293ba612",
        heartbeat: 1755,
        pool: "0xC6962004f452bE9203591991D15f6b388e09E8D0",
      }),
      realAsset("WBTC", {
        feed: "0x6ce185860a4963106506C203335A2910413708e9",
        heartbeat: 1755,
        pool: "0x0E4831319A50228B9e450861297aB92dee15B44F",
      }),
    ],
  },
  governance: realGovernance(local.governance),
  markets: local.markets,
  pool: REAL_POOL,
};

/** Base: native USDC, WETH and cbBTC (Base has no WBTC with deep liquidity); sequencer-gated. */
const base: NetworkConfig = {
  mocks: false,
  settlement: {
    symbol: "USDC",
    decimals: 6,
    // Circle's native USDC (6 decimals), not the bridged USDbC at 0xd9aAEc86…b6CA: same sources
    // as Arbitrum's.
    address: "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
    cap: SETTLEMENT_CAP,
  },
  collaterals: [
    // WETH is the OP-stack predeploy (18 decimals); cbBTC is Coinbase Wrapped BTC with 8 decimals,
    // like WBTC (token table in gist.github.com/o-az/44768812effcef6e058240f28f3a4c1a, and public
    // repos that read decimals() on-chain).
    { symbol: "WETH", address: "0x4200000000000000000000000000000000000006", ...WETH_LIMITS },
    { symbol: "cbBTC", address: "0xcbB7C0000aB88B473b1f5aFd9ef808440eed33Bf", ...BTC_LIMITS },
  ],
  oracles: {
    // Chainlink L2 sequencer uptime feed for Base (directory entry "l2-sequencer").
    sequencer: { feed: "0xBCF85224fc0756B9Fa45aA7892530B47e10b6433", gracePeriod: SEQUENCER_GRACE_PERIOD },
    // Chainlink ETH / USD and BTC / USD standard proxies, 8 decimals, 1200 s heartbeat, 0.15%
    // deviation (directory entries "eth-usd" / "btc-usd", LZeroAnalytics/chainlink-package
    // constants.star). Chainlink may run SVR by default on Base's BTC and ETH feeds; reading the
    // standard proxy opts out (smartcontractkit/documentation PR #4104). cbBTC is priced with
    // BTC / USD like WBTC on mainnet; the cbBTC / USDC TWAP bounds a depeg. Pools: Uniswap v3
    // WETH / USDC 0.05% (described as the deepest WETH pool on Base by public integrations) and
    // cbBTC / USDC 0.05% (the tier public integrations read TWAPs from; its depth against the 0.3%
    // pool is not confirmed here), CREATE2 addresses of the Base factory 0x33128a8f…FDfD
    // (docs.uniswap.org/contracts/v3/reference/deployments/base-deployments).
    assets: [
      realAsset("WETH", {
        feed: "0x71041dddad3595F9CEd3DcCFBe3D1F4b0a16Bb70",
        heartbeat: 1200,
        pool: "0xd0b53D9277642d899DF5C87A3966A349A798F224",
      }),
      realAsset("WBTC", {
        symbol: "cbBTC",
        feed: "0x64c911996D3c6aC71f9b455B1E8E7266BcbD848F",
        heartbeat: 1200,
        pool: "0xfBB6Eed8e7aa03B138556eeDaF5D271A5E1e43ef",
      }),
    ],
  },
  governance: realGovernance(renameUnderlying("WBTC", "cbBTC")),
  markets: [
    { id: 1, symbol: "WETH" },
    { id: 2, symbol: "cbBTC" },
  ],
  pool: REAL_POOL,
};

export const networks: Record<string, NetworkConfig> = {
  hardhat: local,
  localhost: local,
  mainnet,
  arbitrum,
  base,
};

export function networkConfig(name: string): NetworkConfig {
  const config = networks[name];
  if (config === undefined) {
    throw new Error(`No Keel configuration for network "${name}" (known: ${Object.keys(networks).join(", ")})`);
  }
  return config;
}

/** The configuration of the chain with `chainId` (fork mode reads it off the RPC), or undefined. */
export function configForChainId(chainId: bigint | number): { name: string; config: NetworkConfig } | undefined {
  // Exact: every id here is a small integer, and Number() of any other bigint cannot land on one.
  const name = (Object.keys(CHAIN_IDS) as (keyof typeof CHAIN_IDS)[]).find((n) => CHAIN_IDS[n] === Number(chainId));
  return name === undefined ? undefined : { name, config: networks[name] };
}
