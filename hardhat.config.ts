import path from "node:path";
import { subtask } from "hardhat/config";
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from "hardhat/builtin-tasks/task-names";
import type { HardhatUserConfig } from "hardhat/config";
import "@nomicfoundation/hardhat-toolbox";
import "hardhat-deploy";

const SOLIDITY_VERSION = "0.8.28";

// The machines this project builds on reach no compiler download server, so Hardhat compiles
// with the solcjs build shipped in the `solc` npm package (pinned to SOLIDITY_VERSION).
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async ({ solcVersion }: { solcVersion: string }) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const solc = require("solc") as { version(): string };
  const installed = solc.version().split("+")[0];
  if (solcVersion !== installed) {
    throw new Error(
      `Solidity ${solcVersion} requested but the solc npm package is ${installed}: install solc@${solcVersion}`,
    );
  }
  return {
    compilerPath: path.join(path.dirname(require.resolve("solc/package.json")), "soljson.js"),
    isSolcJs: true,
    version: solcVersion,
    longVersion: solc.version(),
  };
});

const config: HardhatUserConfig = {
  solidity: {
    compilers: [
      {
        version: SOLIDITY_VERSION,
        settings: { optimizer: { enabled: true, runs: 10_000 }, evmVersion: "cancun" },
      },
    ],
    // The option market holds trading, settlement, liquidation transfers and the pool's option
    // liability: at 10,000 runs it outgrows the 24,576-byte limit (EIP-170), so it is optimized
    // for size (a few hundred gas per trade dearer).
    overrides: {
      "contracts/options/OptionMarket.sol": {
        version: SOLIDITY_VERSION,
        settings: { optimizer: { enabled: true, runs: 1 }, evmVersion: "cancun" },
      },
    },
  },
  networks: {
    // The EVM the contracts are compiled for (solc evmVersion cancun); 30M block gas limit.
    hardhat: { hardfork: "cancun" },
    localhost: { url: "http://127.0.0.1:8545" },
    // Real networks only when their RPC URL is in the environment; the deployer key comes from
    // KEEL_DEPLOYER_KEY, never from a file. The chain id (config/networks.ts CHAIN_IDS, which
    // test/NetworkConfig.test.ts holds these to) makes an RPC URL of another chain fail at once.
    ...Object.fromEntries(
      (
        [
          ["mainnet", "MAINNET_RPC_URL", 1],
          ["arbitrum", "ARBITRUM_RPC_URL", 42161],
          ["base", "BASE_RPC_URL", 8453],
        ] as const
      ).flatMap(([name, rpcVariable, chainId]) => {
        const url = process.env[rpcVariable];
        if (!url) return [];
        const key = process.env.KEEL_DEPLOYER_KEY;
        return [[name, { url, chainId, accounts: key ? [key] : [] }]];
      }),
    ),
  },
  namedAccounts: {
    deployer: { default: 0 },
    guardian: { default: 8 },
    keeper: { default: 9 },
  },
  typechain: {
    outDir: "typechain-types",
    target: "ethers-v6",
  },
  mocha: {
    timeout: 120_000,
  },
  gasReporter: {
    enabled: false,
  },
};

export default config;
