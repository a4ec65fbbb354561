// Token balances for a simulated population on any chain the runner forks: mock tokens are
// minted; real ones (USDC, WETH, WBTC on a fork of a live chain) get their balance slot written.
import type { HardhatRuntimeEnvironment } from "hardhat/types";
// The hre.ethers type (loaded with the Hardhat config at run time; named here for ts-node).
import type {} from "@nomicfoundation/hardhat-ethers/internal/type-extensions";
import { IERC20__factory } from "../../../typechain-types";
import { AbiCoder, keccak256, toBeHex, zeroPadValue } from "ethers";

const slots = new Map<string, number>();

/** The storage slot of `token`'s `balanceOf` mapping, found by writing a probe value (Solidity layout). */
async function balanceSlot(hre: HardhatRuntimeEnvironment, token: string): Promise<number> {
  const known = slots.get(token.toLowerCase());
  if (known !== undefined) return known;
  const erc20 = IERC20__factory.connect(token, hre.ethers.provider);
  const probe = "0x000000000000000000000000000000000000dEaD";
  for (let slot = 0; slot < 64; slot++) {
    const key = mappingKey(probe, slot);
    const before = await hre.network.provider.send("eth_getStorageAt", [token, key, "latest"]);
    await hre.network.provider.send("hardhat_setStorageAt", [token, key, toBeHex(123456789n, 32)]);
    const seen = await erc20.balanceOf(probe);
    await hre.network.provider.send("hardhat_setStorageAt", [token, key, zeroPadValue(before, 32)]);
    if (seen === 123456789n) {
      slots.set(token.toLowerCase(), slot);
      return slot;
    }
  }
  throw new Error(`cannot find the balance slot of token ${token} (not a plain Solidity ERC-20 mapping)`);
}

function mappingKey(holder: string, slot: number): string {
  return keccak256(AbiCoder.defaultAbiCoder().encode(["address", "uint256"], [holder, slot]));
}

/** Gives `to` `amount` more of `token` (total supply is not adjusted on real tokens). */
export async function deal(hre: HardhatRuntimeEnvironment, token: string, to: string, amount: bigint): Promise<void> {
  const erc20 = IERC20__factory.connect(token, hre.ethers.provider);
  const slot = await balanceSlot(hre, token);
  const balance = (await erc20.balanceOf(to)) + amount;
  await hre.network.provider.send("hardhat_setStorageAt", [token, mappingKey(to, slot), toBeHex(balance, 32)]);
}
