import { ethers } from "ethers";

// Raw EVM runtimes for tests that need a contract answering exactly the bytes they choose (short,
// malformed or out-of-range return data that no Solidity contract would produce). Install one with
// hardhat-network-helpers' `setCode(address, responder(...))`; nothing is compiled or deployed.
//
// Layout of a responder's runtime:
//   dispatch   PUSH1 0 CALLDATALOAD PUSH1 0xe0 SHR                          selector on the stack
//              per case, in order (the first match wins):
//                DUP1 PUSH4 selector EQ [PUSH1 4 CALLDATALOAD PUSH32 arg EQ AND] PUSH2 handler JUMPI
//   fallback   the fallback handler, reached by falling through the dispatch
//   handlers   JUMPDEST PUSH2 len PUSH2 offset PUSH1 0 CODECOPY PUSH2 len PUSH1 0 RETURN|REVERT
//   data       the response blobs, copied from the runtime's own code by CODECOPY

/** What a call answers: `returns` (successful return data) or `reverts` (revert data), as hex. */
export type RawResponse = { returns: string } | { reverts: string };

/** Calls with this selector (and, if `arg` is given, this first 32-byte argument) get `response`. */
export interface RawCase {
  selector: string;
  arg?: bigint;
  response: RawResponse;
}

/** The 4-byte selector of a function signature, e.g. `selector("slot0()")` = 0x3850c7bd. */
export const selector = (signature: string): string => ethers.id(signature).slice(0, 10);

/** 32-byte big-endian words (negative values in two's complement), concatenated as 0x-hex. */
export function words(...values: bigint[]): string {
  return "0x" + values.map((v) => BigInt.asUintN(256, v).toString(16).padStart(64, "0")).join("");
}

const HANDLER_SIZE = 16;
const hex = (value: number | bigint, bytes: number) =>
  BigInt(value)
    .toString(16)
    .padStart(bytes * 2, "0");
const strip = (data: string) => {
  if (!/^0x([0-9a-fA-F]{2})*$/.test(data)) throw new Error(`not 0x-prefixed whole bytes: ${data}`);
  return data.slice(2).toLowerCase();
};

/** The runtime bytecode of a contract answering `cases`, and `fallback` (empty revert) for every other call. */
export function responder(cases: RawCase[], fallback: RawResponse = { reverts: "0x" }): string {
  const caseSize = (c: RawCase) => (c.arg === undefined ? 11 : 11 + 38);
  const dispatchSize = 6 + cases.reduce((n, c) => n + caseSize(c), 0);
  // Handler 0 is the fallback, then one per case; the data follows the last handler.
  const responses = [fallback, ...cases.map((c) => c.response)];
  const handlerAt = (k: number) => dispatchSize + HANDLER_SIZE * k;
  let dataAt = handlerAt(responses.length);

  let dispatch = "600035" + "60e01c";
  cases.forEach((c, i) => {
    if (strip(c.selector).length !== 8) throw new Error(`not a 4-byte selector: ${c.selector}`);
    dispatch += "80" + "63" + strip(c.selector) + "14";
    if (c.arg !== undefined) dispatch += "600435" + "7f" + hex(BigInt.asUintN(256, c.arg), 32) + "14" + "16";
    dispatch += "61" + hex(handlerAt(i + 1), 2) + "57";
  });

  let handlers = "";
  let data = "";
  for (const r of responses) {
    const blob = strip("returns" in r ? r.returns : r.reverts);
    const length = blob.length / 2;
    handlers += `5b61${hex(length, 2)}61${hex(dataAt, 2)}600039`; // JUMPDEST CODECOPY(0, dataAt, length)
    handlers += `61${hex(length, 2)}6000${"returns" in r ? "f3" : "fd"}`; // RETURN|REVERT(0, length)
    data += blob;
    dataAt += length;
  }
  if (dispatch.length / 2 !== dispatchSize || handlers.length / 2 !== HANDLER_SIZE * responses.length) {
    throw new Error("responder layout miscounted");
  }
  const runtime = dispatch + handlers + data;
  if (runtime.length / 2 > 0xffff) throw new Error("responder too large for PUSH2 offsets");
  return "0x" + runtime;
}
