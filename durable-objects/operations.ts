import type { JobStatus, Operation, OperationResult } from "../src/signjobs/model";
import type { JobState } from "./jobs";
import type { D1Write } from "./outbox";

type OperationRow = {
  id: string;
  parent: string;
  done: number;
  result: string | null;
  created_at: number;
  updated_at: number;
};

const FAILURE_CODE: Partial<Record<JobStatus, string>> = {
  rejected: "rejected_by_signer",
  cancelled: "cancelled",
  expired: "expired",
};

/** Why a pending status-list job was ended: a newer job of the same list carries its bits and more. */
export const SUPERSEDED_REASON = "superseded by a newer status list job";

function failureCode(job: JobState): string {
  return job.status === "cancelled" && job.reason === SUPERSEDED_REASON ? "superseded" : FAILURE_CODE[job.status]!;
}

/** The parent of an operation id is everything before its last segment: "credentials/abc" → "credentials". */
export function parentOf(id: string): string {
  const i = id.lastIndexOf("/");
  return i > 0 ? id.slice(0, i) : id;
}

/** Operations in the issuer object: done once all their jobs are signed, failed once any ends otherwise. */
export class OperationStore {
  constructor(private readonly sql: SqlStorage) {}

  /** Returns false when the operation already existed (several jobs of one operation). */
  create(id: string, pendingResponse: unknown, now: number): boolean {
    const cursor = this.sql.exec(
      "INSERT INTO operations (id, parent, done, result, created_at, updated_at) VALUES (?, ?, 0, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
      id,
      parentOf(id),
      pendingResponse === undefined ? null : JSON.stringify({ response: pendingResponse }),
      now,
      now,
    );
    return cursor.rowsWritten > 0;
  }

  get(id: string): OperationRow | null {
    return this.sql.exec<OperationRow>("SELECT * FROM operations WHERE id = ?", id).toArray()[0] ?? null;
  }

  /**
   * Works out whether the operation is now done from its jobs' states.
   * Returns the pending jobs that must be cancelled because a sibling failed.
   */
  settle(id: string, jobs: JobState[], now: number): { done: boolean; orphans: JobState[] } {
    const op = this.get(id);
    if (!op || op.done === 1) return { done: op?.done === 1, orphans: [] };
    const failed = jobs.find((j) => FAILURE_CODE[j.status] !== undefined);
    let result: OperationResult | null = null;
    if (failed) {
      result = { error: failed.reason ?? `sign job ${failed.status}`, code: failureCode(failed) };
    } else if (jobs.length > 0 && jobs.every((j) => j.status === "signed")) {
      const responses = jobs.map((j) => JSON.parse(j.response ?? "null") as unknown);
      result = { response: responses.length === 1 ? responses[0] : { results: responses } };
    }
    if (!result) return { done: false, orphans: [] };
    this.sql.exec("UPDATE operations SET done = 1, result = ?, updated_at = ? WHERE id = ?", JSON.stringify(result), now, id);
    return { done: true, orphans: failed ? jobs.filter((j) => j.status === "pending") : [] };
  }

  toOperation(id: string, jobIds: string[]): Operation | null {
    const op = this.get(id);
    if (!op) return null;
    return {
      id: op.id,
      done: op.done === 1,
      ...(op.result !== null ? { result: JSON.parse(op.result) as OperationResult } : {}),
      signJobs: jobIds,
      createdAt: new Date(op.created_at).toISOString(),
      updatedAt: new Date(op.updated_at).toISOString(),
    };
  }
}

/** The D1 projection of an operation. A done operation never changes, so later replays are no-ops. */
export function operationWrite(issuer: string, op: Operation): D1Write {
  return {
    sql: `INSERT INTO operations (id, parent, issuer, done, result, sign_jobs, created_at, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT(id) DO UPDATE SET done = excluded.done, result = excluded.result, sign_jobs = excluded.sign_jobs,
            updated_at = excluded.updated_at
          WHERE operations.done = 0`,
    params: [
      op.id,
      parentOf(op.id),
      issuer,
      op.done ? 1 : 0,
      op.result ? JSON.stringify(op.result) : null,
      JSON.stringify(op.signJobs),
      Date.parse(op.createdAt),
      Date.parse(op.updatedAt),
    ],
  };
}
