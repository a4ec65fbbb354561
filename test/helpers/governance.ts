import { ethers } from "hardhat";
import { impersonateAccount, setBalance } from "@nomicfoundation/hardhat-network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";

/**
 * A signer for the timelock's own address, for tests that need an admin call to have already
 * passed governance (the timelock flow itself is tested in test/governance).
 */
export async function timelockSigner(timelock: { getAddress(): Promise<string> }): Promise<HardhatEthersSigner> {
  const address = await timelock.getAddress();
  await impersonateAccount(address);
  await setBalance(address, ethers.parseEther("10"));
  return ethers.getSigner(address);
}
