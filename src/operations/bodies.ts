/**
 * Operations whole, from the objects that hold them. D1's `operations` rows are body-free since
 * migrations/0013 (id, parent, issuer, done, code, times): lists page them and ask each issuer's
 * object for the page's operations, one call per issuer, in parallel. A presentation submission's
 * operation has no object behind it and keeps its (small) result in D1, as rows from before 0013
 * keep theirs: those answer from the row.
 */
import { issuerByName } from "../issuer-client";
import type { Operation, OperationResult } from "../core/models";
import { operationOf as storedOperation, type OperationRow as StoredOperation } from "../../durable-objects/operations";
import { SUBMISSIONS_PARENT } from "../presentations/store";

export type OperationRow = StoredOperation & { issuer: string; sign_jobs: string; code: string | null };

/** The row as it stands: its result when D1 holds one, else what the row says (done, and how it failed). */
export function operationOfRow(row: OperationRow): Operation {
  const result: OperationResult | null = row.result !== null ? null : row.code !== null ? { code: row.code } : null;
  const op = storedOperation(row, JSON.parse(row.sign_jobs) as string[]);
  return result ? { ...op, result } : op;
}

/** Whether the row answers for itself: a submission's, or one written before 0013 with its result. */
const selfContained = (row: OperationRow) => row.parent === SUBMISSIONS_PARENT || row.result !== null;

/** The operations of `rows`, in their order: from their issuers' objects, else from the row. */
export async function operationsOf(env: Env, rows: OperationRow[]): Promise<Operation[]> {
  const fetched = await fetchOperations(
    env,
    rows.filter((r) => !selfContained(r)),
  );
  return rows.map((r) => fetched.get(r.id) ?? operationOfRow(r));
}

/** Operations by id from the objects of their issuers: one call per issuer, all in parallel. */
export async function fetchOperations(env: Env, refs: { id: string; issuer: string }[]): Promise<Map<string, Operation>> {
  const byIssuer = new Map<string, string[]>();
  for (const r of refs) byIssuer.set(r.issuer, [...(byIssuer.get(r.issuer) ?? []), r.id]);
  const out = new Map<string, Operation>();
  await Promise.all(
    [...byIssuer].map(async ([issuer, ids]) => {
      for (const op of await issuerByName(env, issuer).getOperations(ids)) out.set(op.id, op);
    }),
  );
  return out;
}
