// Governance through the TimelockController: propose a batch of RiskConfig changes (or role
// grants), list queued operations with their ETA, execute when ready, cancel. Used by the
// `npm run gov` command and, in-process, by tests and the demo.
import { ethers, type Signer } from "ethers";
import type { RiskConfig, TimelockController } from "../../typechain-types";
import { RiskConfig__factory, TimelockController__factory } from "../../typechain-types";
import { PARAMS, formatParamValue, formatScope, paramIndex } from "./params";

export interface Governance {
  timelock: TimelockController;
  riskConfig: RiskConfig;
  signer: Signer;
}

export interface Action {
  target: string;
  data: string;
  /** Human description, printed by the script. */
  description: string;
}

export interface Operation {
  id: string;
  state: "Unset" | "Waiting" | "Ready" | "Done" | "Cancelled";
  /** Unix seconds from which it can be executed (0 when unknown or done). */
  eta: bigint;
  actions: { target: string; value: bigint; data: string }[];
  predecessor: string;
  salt: string;
}

const STATES = ["Unset", "Waiting", "Ready", "Done"] as const;

export function connect(signer: Signer, addresses: { timelock: string; riskConfig: string }): Governance {
  return {
    timelock: TimelockController__factory.connect(addresses.timelock, signer),
    riskConfig: RiskConfig__factory.connect(addresses.riskConfig, signer),
    signer,
  };
}

/** The custom error inside a failed call, as one line: `Name(arg, arg)`; else the message. */
export function describeError(error: unknown, ...contracts: { interface: ethers.Interface }[]): string {
  const data = (error as { data?: string }).data;
  if (typeof data === "string" && data.length >= 10) {
    for (const c of contracts) {
      const parsed = c.interface.parseError(data);
      if (parsed !== null) return `${parsed.name}(${parsed.args.map((a) => String(a)).join(", ")})`;
    }
  }
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n")[0];
}

export interface ParamChange {
  name: string;
  scope: bigint;
  value: bigint;
}

/**
 * One RiskConfig.setParameter action per change, validated first as the timelock would apply
 * them: the whole batch is simulated in order (RiskConfig.setParameters called from the
 * timelock's address), so a value that would fail at execution fails here, before anything is
 * sent, and a batch whose later values depend on earlier ones passes.
 */
export async function parameterActions(gov: Governance, changes: ParamChange[]): Promise<Action[]> {
  const indexes = changes.map((c) => paramIndex(c.name));
  const from = await gov.timelock.getAddress();
  // A read-only runner: a signer-bound contract refuses a call "from" another address.
  const reader = gov.riskConfig.connect(gov.signer.provider);
  const simulate = (n: number) =>
    reader.setParameters.staticCall(
      indexes.slice(0, n),
      changes.slice(0, n).map((c) => c.scope),
      changes.slice(0, n).map((c) => c.value),
      { from },
    );
  try {
    await simulate(changes.length);
  } catch (batchError) {
    // Name the first change that fails, with the chain's own reason.
    for (let n = 1; n <= changes.length; n++) {
      try {
        await simulate(n);
      } catch (error) {
        const i = n - 1;
        const value = formatParamValue(indexes[i], changes[i].value);
        throw new Error(`${PARAMS[indexes[i]].name} = ${value} refused: ${describeError(error, gov.riskConfig)}`);
      }
    }
    throw new Error(`the batch was refused: ${describeError(batchError, gov.riskConfig)}`);
  }
  const target = await gov.riskConfig.getAddress();
  return changes.map((c, i) => ({
    target,
    data: gov.riskConfig.interface.encodeFunctionData("setParameter", [indexes[i], c.scope, c.value]),
    description: `RiskConfig.setParameter(${PARAMS[indexes[i]].name}, scope ${formatScope(indexes[i], c.scope)}, ${formatParamValue(indexes[i], c.value)})`,
  }));
}

/** A single validated RiskConfig.setParameter action. */
export async function setParameterAction(gov: Governance, name: string, scope: bigint, value: bigint): Promise<Action> {
  return (await parameterActions(gov, [{ name, scope, value }]))[0];
}

/** A role grant on RiskConfig (grants are timelocked like every other change). */
export async function grantRoleAction(
  gov: Governance,
  role: "GUARDIAN" | "RISK_KEEPER",
  account: string,
): Promise<Action> {
  if (!ethers.isAddress(account)) throw new Error(`not an address: "${account}"`);
  const roleId = role === "GUARDIAN" ? await gov.riskConfig.GUARDIAN_ROLE() : await gov.riskConfig.RISK_KEEPER_ROLE();
  return {
    target: await gov.riskConfig.getAddress(),
    data: gov.riskConfig.interface.encodeFunctionData("grantRole", [roleId, account]),
    description: `RiskConfig.grantRole(${role}, ${account})`,
  };
}

/** Schedules `actions` as one batch with the timelock's minimum delay. */
export async function propose(gov: Governance, actions: Action[], salt?: string): Promise<{ id: string; eta: bigint }> {
  if (actions.length === 0) throw new Error("nothing to propose");
  const targets = actions.map((a) => a.target);
  const values = actions.map(() => 0n);
  const payloads = actions.map((a) => a.data);
  const saltHex = salt ?? ethers.hexlify(ethers.randomBytes(32));
  const delay = await gov.timelock.getMinDelay();
  const id = await gov.timelock.hashOperationBatch(targets, values, payloads, ethers.ZeroHash, saltHex);
  try {
    await (await gov.timelock.scheduleBatch(targets, values, payloads, ethers.ZeroHash, saltHex, delay)).wait();
  } catch (error) {
    throw new Error(`the timelock refused the proposal: ${describeError(error, gov.timelock)}`);
  }
  return { id, eta: await gov.timelock.getTimestamp(id) };
}

/** Every operation the timelock has seen, rebuilt from its events, with its current state. */
export async function operations(gov: Governance, fromBlock = 0): Promise<Operation[]> {
  const scheduled = await gov.timelock.queryFilter(gov.timelock.filters.CallScheduled(), fromBlock);
  const salts = await gov.timelock.queryFilter(gov.timelock.filters.CallSalt(), fromBlock);
  const byId = new Map<string, Operation>();
  for (const e of scheduled) {
    const { id, index, target, value, data, predecessor } = e.args;
    const op = byId.get(id) ?? { id, state: "Unset", eta: 0n, actions: [], predecessor, salt: ethers.ZeroHash };
    op.actions[Number(index)] = { target, value, data };
    byId.set(id, op);
  }
  for (const e of salts) {
    const op = byId.get(e.args.id);
    if (op !== undefined) op.salt = e.args.salt;
  }
  for (const op of byId.values()) {
    const timestamp = await gov.timelock.getTimestamp(op.id);
    const state = Number(await gov.timelock.getOperationState(op.id));
    // A cancelled operation reads as Unset again: its events remain, its timestamp does not.
    op.state = state === 0 ? "Cancelled" : STATES[state];
    op.eta = timestamp > 1n ? timestamp : 0n;
  }
  return [...byId.values()];
}

async function find(gov: Governance, id: string): Promise<Operation> {
  const op = (await operations(gov)).find((o) => o.id === id);
  if (op === undefined) throw new Error(`no operation ${id} in the timelock's history`);
  return op;
}

/**
 * Executes a ready operation; anyone may. A `Waiting` operation is still tried: on a chain that
 * mines only on demand (a local node) the last block's time lags the clock, and the timelock
 * judges readiness by the block the execution lands in.
 */
export async function execute(gov: Governance, id: string): Promise<void> {
  const op = await find(gov, id);
  if (op.state !== "Ready" && op.state !== "Waiting") throw new Error(`operation ${id} is ${op.state}, not Ready`);
  const targets = op.actions.map((a) => a.target);
  const values = op.actions.map((a) => a.value);
  const payloads = op.actions.map((a) => a.data);
  try {
    await (await gov.timelock.executeBatch(targets, values, payloads, op.predecessor, op.salt)).wait();
  } catch (error) {
    const reason = describeError(error, gov.timelock, gov.riskConfig);
    if (op.state === "Waiting" && reason.startsWith("TimelockUnexpectedOperationState")) {
      throw new Error(`operation ${id} is not ready until ${new Date(Number(op.eta) * 1000).toISOString()}`);
    }
    throw new Error(`execution of ${id} failed: ${reason}`);
  }
}

/** Cancels a pending operation (proposers hold the canceller role). */
export async function cancel(gov: Governance, id: string): Promise<void> {
  const op = await find(gov, id);
  if (op.state !== "Waiting" && op.state !== "Ready")
    throw new Error(`operation ${id} is ${op.state}: nothing to cancel`);
  try {
    await (await gov.timelock.cancel(id)).wait();
  } catch (error) {
    throw new Error(`cancel of ${id} failed: ${describeError(error, gov.timelock)}`);
  }
}

/** Describes an action's calldata for listings. */
export function describeAction(gov: Governance, action: { target: string; data: string }): string {
  try {
    const call = gov.riskConfig.interface.parseTransaction({ data: action.data });
    if (call?.name === "setParameter") {
      const index = Number(call.args[0]);
      return `setParameter(${PARAMS[index]?.name ?? index}, scope ${formatScope(index, call.args[1])}, ${formatParamValue(index, call.args[2])})`;
    }
    if (call !== null) return `${call.name}(${call.args.map((a) => String(a)).join(", ")})`;
  } catch {
    // not a RiskConfig call
  }
  return `call ${action.target} ${action.data.slice(0, 10)}`;
}
