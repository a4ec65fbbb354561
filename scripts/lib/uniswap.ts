// Real Uniswap v3 from the compiled artifacts shipped in @uniswap/v3-core (local networks and tests).
import type { Signer } from "ethers";
import { Contract, ContractFactory } from "ethers";
import factoryArtifact from "@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json";
import poolArtifact from "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json";

export const FEE_TIER = 3000;
export const TICK_SPACING = 60;
/** Widest usable range for tick spacing 60 (TickMath bounds +-887272, rounded inward). */
export const FULL_RANGE = { lower: -887220, upper: 887220 };

export const factoryAbi = factoryArtifact.abi;
export const factoryBytecode = factoryArtifact.bytecode;
export const poolAbi = poolArtifact.abi;

export async function deployUniswapFactory(signer: Signer): Promise<Contract> {
  const factory = await new ContractFactory(factoryArtifact.abi, factoryArtifact.bytecode, signer).deploy();
  await factory.waitForDeployment();
  return factory as Contract;
}

export function poolAt(address: string, signer: Signer): Contract {
  return new Contract(address, poolArtifact.abi, signer);
}

/** Integer square root (floor) of a bigint. */
export function isqrt(n: bigint): bigint {
  if (n < 0n) throw new Error("isqrt of a negative number");
  if (n < 2n) return n;
  let x = n;
  let y = (x + 1n) / 2n;
  while (y < x) {
    x = y;
    y = (x + n / x) / 2n;
  }
  return x;
}

/**
 * sqrtPriceX96 for a pool pricing token0 in token1 when one whole base token is worth `price`
 * whole quote tokens (`price` as a decimal string, e.g. "3000").
 */
export function sqrtPriceX96For(
  price: string,
  base: { address: string; decimals: number },
  quote: { address: string; decimals: number },
): bigint {
  const [whole, frac = ""] = price.split(".");
  const priceScaled = BigInt(whole + frac); // price * 10^frac.length
  const scale = 10n ** BigInt(frac.length);
  // raw ratio quote/base = price * 10^quoteDec / 10^baseDec
  let num = priceScaled * 10n ** BigInt(quote.decimals);
  let den = scale * 10n ** BigInt(base.decimals);
  if (BigInt(base.address) > BigInt(quote.address)) [num, den] = [den, num]; // base is token1
  return isqrt((num << 192n) / den);
}
