import { execute } from "./actions";
import type { Action } from "./actions";
import { checkStep, newLedger } from "./checks";
import { latestTime, read, setNextTime } from "./world";
import type { World } from "./world";

/** Per action kind: how many steps succeeded, and how many reverted with each error. */
export type Tally = Map<string, { ok: number; reverts: Map<string, number> }>;

function count(tally: Tally, kind: string, reverted: string | undefined) {
  let row = tally.get(kind);
  if (row === undefined) tally.set(kind, (row = { ok: 0, reverts: new Map() }));
  if (reverted === undefined) row.ok += 1;
  else row.reverts.set(reverted, (row.reverts.get(reverted) ?? 0) + 1);
}

/** Runs one sequence from the starting state, checking every invariant after every step. */
export async function runSequence(w: World, actions: Action[], tally?: Tally): Promise<number> {
  await w.start.restore();
  const ledger = newLedger();
  let prev = await read(w, "latest");
  for (const action of actions) {
    const t = (await latestTime()) + BigInt(action.kind === "time" ? action.seconds : 1);
    await setNextTime(t);
    const before = await read(w, "pending");
    const rec = await execute(w, action, before, t);
    const after = await read(w, "latest");
    checkStep(w, ledger, rec, prev, before, after);
    if (tally !== undefined) count(tally, action.kind, rec.reverted);
    prev = after;
  }
  return actions.length;
}
