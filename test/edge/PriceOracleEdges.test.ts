import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import type { Signer } from "ethers";
import { deployKeel } from "../../scripts/lib/deployment";
import { networkConfig } from "../../config/networks";

const WETH = networkConfig("hardhat").oracles.assets.find((a) => a.symbol === "WETH")!;
const HEARTBEAT = BigInt(WETH.chainlink.heartbeat);
const TOLERANCE = BigInt(WETH.chainlink.tolerance);
const DECIMALS = BigInt(WETH.chainlink.decimals);
const OK = 0n;
const DOWN = 2n;
const GRACE_PERIOD = 3600n;
/** An 8-decimal Chainlink answer as a WAD price. */
const wad = (answer: bigint) => answer * 10n ** 10n;
const answer = (value: string) => ethers.parseUnits(value, 8);

/** Raw bytecode answering every call with `words` (32 bytes each): a feed that returns short data. */
async function deployConstantFeed(signer: Signer, words: bigint[]): Promise<string> {
  const hex = (value: bigint, bytes: number) => value.toString(16).padStart(bytes * 2, "0");
  let runtime = "";
  words.forEach((word, i) => {
    runtime += `7f${hex(BigInt.asUintN(256, word), 32)}60${hex(BigInt(32 * i), 1)}52`; // PUSH32 w PUSH1 i*32 MSTORE
  });
  runtime += `60${hex(BigInt(32 * words.length), 1)}6000f3`; // RETURN(0, 32 * words)
  const init = `0x61${hex(BigInt(runtime.length / 2), 2)}80600c6000396000f3${runtime}`;
  const receipt = await (await signer.sendTransaction({ data: init })).wait();
  return receipt!.contractAddress!;
}

/**
 * The deployment with WETH's TWAP removed and a fresh round (3000, id 2) accepted by a poke: the
 * circuit breaker's reference and its window's anchor.
 */
async function accepted() {
  const keel = await deployKeel();
  const [admin] = await ethers.getSigners();
  const asset = await keel.weth.getAddress();
  await keel.oracle.setTwap(asset, ethers.ZeroAddress, ethers.ZeroAddress, 0n, 0n);
  await keel.ethFeed.push(answer("3000"));
  const acceptedAt = BigInt(await time.latest());
  await keel.oracle.poke(asset);
  return { ...keel, admin, asset, acceptedAt };
}

describe("PriceOracle edge cases", () => {
  describe("circuit breaker", () => {
    it("accepts a new round dated before the reference without comparing it, and re-anchors its window there", async () => {
      const f = await loadFixture(accepted);
      expect(await f.oracle.lastAccepted(f.asset)).to.deep.equal([wad(answer("3000")), f.acceptedAt, 2n]);
      // Round 3: +50% (far past the 20% bound) but 100 s older than round 2.
      const olderAt = f.acceptedAt - 100n;
      await f.ethFeed.setRound(3n, answer("4500"), olderAt, olderAt, 0n);

      const tx = f.oracle.poke(f.asset);
      await expect(tx)
        .to.emit(f.oracle, "PriceAccepted")
        .withArgs(f.asset, wad(answer("4500")), olderAt);
      await expect(tx).not.to.emit(f.oracle, "CircuitBreakerTripped");
      await expect(tx).not.to.emit(f.oracle, "Degraded");
      expect(await f.oracle.lastAccepted(f.asset)).to.deep.equal([wad(answer("4500")), olderAt, 3n]);
      expect(await f.oracle.breakerAnchor(f.asset)).to.deep.equal([wad(answer("4500")), olderAt, 3n]);
      expect((await f.oracle.chainlinkConfig(f.asset)).degradedUntil).to.equal(0n);
      const p = await f.oracle.getPrice(f.asset);
      expect([p.price, p.low, p.high, p.status]).to.deep.equal([
        wad(answer("4500")),
        wad(answer("4500")),
        wad(answer("4500")),
        OK,
      ]);
    });
  });

  describe("L2 sequencer feed", () => {
    it("treats an uptime feed that answers fewer than five words as down", async () => {
      const f = await loadFixture(accepted);
      // (roundId, answer) only: 64 bytes where latestRoundData returns 160.
      const shortFeed = await deployConstantFeed(f.admin, [1n, 0n]);
      const l2 = await (
        await ethers.getContractFactory("PriceOracle")
      ).deploy(f.admin.address, shortFeed, GRACE_PERIOD);
      await l2.setChainlink(
        f.asset,
        await f.ethFeed.getAddress(),
        HEARTBEAT,
        TOLERANCE,
        DECIMALS,
        WETH.chainlink.minAnswer,
        WETH.chainlink.maxAnswer,
      );

      await expect(l2.chainlinkPrice(f.asset)).to.be.revertedWithCustomError(l2, "SequencerDown").withArgs(shortFeed);
      const p = await l2.getPrice(f.asset);
      expect([p.price, p.low, p.high, p.status]).to.deep.equal([0n, 0n, 0n, DOWN]);
      expect(await l2.poke.staticCall(f.asset)).to.equal(DOWN);
      // The same feed through the router without a sequencer: Ok at 3000.
      const [price] = await f.oracle.chainlinkPrice(f.asset);
      expect(price).to.equal(wad(answer("3000")));
    });
  });
});
