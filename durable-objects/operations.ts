import { insertRow, type D1Write } from "../src/core/kinds";
import type { JobStatus, Operation, OperationFailure, OperationResult } from "../src/core/models";
import type { JobState } from "./jobs";

export type OperationRow = {
  id: string;
  parent: string;
  done: number;
  result: string | null;
  created_at: number;
  updated_at: number;
};

/** The code an operation fails with when one of its jobs ended unsigned and the ending named none. */
const FAILURE_CODE: Partial<Record<JobStatus, OperationFailure>> = {
  rejected: "rejected_by_signer",
  cancelled: "cancelled",
  expired: "expired",
};

const FAILURE_BY_STATUS = new Map<string, OperationFailure | undefined>(Object.entries(FAILURE_CODE));

/**
 * The code an operation of one job failed with, from the status the job ended in (what a credential
 * index row keeps as its `code`, src/shards/index-writes.ts): a status without its own code is the code.
 */
export const failureOfEnding = (status: string): string => FAILURE_BY_STATUS.get(status) ?? status;

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

  /** The operation and what settling it needs of its jobs, in one read. */
  withStates(id: string): { row: OperationRow | null; jobs: JobState[] } {
    const rows = this.sql
      .exec<
        OperationRow & {
          job_id: string | null;
          kind: string | null;
          status: JobState["status"] | null;
          reason: string | null;
          response: string | null;
        }
      >(
        `SELECT o.id, o.parent, o.done, o.result, o.created_at, o.updated_at, j.id AS job_id, j.kind, j.status, j.reason, j.response
         FROM operations o LEFT JOIN jobs j ON j.operation_id = o.id WHERE o.id = ? ORDER BY j.seq`,
        id,
      )
      .toArray();
    const first = rows[0];
    if (!first) return { row: null, jobs: [] };
    const row: OperationRow = {
      id: first.id,
      parent: first.parent,
      done: first.done,
      result: first.result,
      created_at: first.created_at,
      updated_at: first.updated_at,
    };
    const jobs = rows.flatMap((r) =>
      r.job_id === null ? [] : [{ id: r.job_id, kind: r.kind!, status: r.status!, reason: r.reason, response: r.response }],
    );
    return { row, jobs };
  }

  /**
   * Creates operations with one statement (the same id more than once: the first counts); returns
   * the ids that did not exist before.
   */
  createMany(ops: { id: string; pending: unknown }[], now: number): Set<string> {
    if (ops.length === 1) return this.create(ops[0]!.id, ops[0]!.pending, now) ? new Set([ops[0]!.id]) : new Set();
    const rows = ops.map((o) => [o.id, parentOf(o.id), o.pending === undefined ? null : JSON.stringify({ response: o.pending })]);
    const inserted = this.sql
      .exec<{ id: string }>(
        `INSERT INTO operations (id, parent, done, result, created_at, updated_at)
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), 0, json_extract(value, '$[2]'), ?1, ?1
         FROM json_each(?2) WHERE true ORDER BY json_each.key ON CONFLICT(id) DO NOTHING RETURNING id`,
        now,
        JSON.stringify(rows),
      )
      .toArray();
    return new Set(inserted.map((r) => r.id));
  }

  get(id: string): OperationRow | null {
    return this.sql.exec<OperationRow>("SELECT * FROM operations WHERE id = ?", id).toArray()[0] ?? null;
  }

  /**
   * Works out whether the operation is now done from its jobs' states: done when all are signed,
   * failed when any ended unsigned (with the code of the ending that did it). Returns the pending
   * jobs that must be cancelled because a sibling failed.
   */
  settle(
    id: string,
    jobs: JobState[],
    now: number,
    failure?: OperationFailure,
    known?: OperationRow | null,
  ): { done: boolean; orphans: JobState[]; row: OperationRow | null } {
    const op = known === undefined ? this.get(id) : known;
    if (!op || op.done === 1) return { done: op?.done === 1, orphans: [], row: op };
    const failed = jobs.find((j) => FAILURE_CODE[j.status] !== undefined);
    let stored: string | null = null;
    if (failed) {
      const result: OperationResult = {
        error: failed.reason ?? `sign job ${failed.status}`,
        code: failure ?? FAILURE_CODE[failed.status]!,
      };
      stored = JSON.stringify(result);
    } else if (jobs.length === 1 && jobs[0]!.status === "signed") {
      stored = resultOfOne(jobs[0]!.response);
    } else if (jobs.length > 1 && jobs.every((j) => j.status === "signed")) {
      stored = JSON.stringify({ response: { results: jobs.map((j) => JSON.parse(j.response ?? "null") as unknown) } });
    }
    if (stored === null) return { done: false, orphans: [], row: op };
    this.sql.exec("UPDATE operations SET done = 1, result = ?, updated_at = ? WHERE id = ?", stored, now, id);
    return {
      done: true,
      orphans: failed ? jobs.filter((j) => j.status === "pending") : [],
      row: { ...op, done: 1, result: stored, updated_at: now },
    };
  }

  /**
   * Of these operations, the pending ones that own exactly one job, by id: signing that job settles
   * them, with no sibling to read (Engine.acceptMany). One statement, each found by its id.
   */
  soleOf(ids: string[]): Map<string, OperationRow> {
    if (ids.length === 0) return new Map();
    const rows = this.sql
      .exec<OperationRow>(
        `SELECT o.id, o.parent, o.done, o.result, o.created_at, o.updated_at FROM operations o
         WHERE o.id IN (SELECT value FROM json_each(?)) AND o.done = 0
           AND (SELECT count(*) FROM jobs j WHERE j.operation_id = o.id) = 1`,
        JSON.stringify(ids),
      )
      .toArray();
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** Pending operations done with the results given (`resultOfOne`), in one statement; answers how many moved. */
  doneMany(results: { id: string; stored: string }[], now: number): number {
    if (results.length === 0) return 0;
    return this.sql.exec(DONE_MANY_SQL, now, JSON.stringify(results.map((r) => [r.id, r.stored]))).toArray().length;
  }

  /** Ends a pending operation that its jobs do not settle (cancelled before any job existed; a key rotation). */
  finish(id: string, result: OperationResult, now: number): void {
    this.fail(id, result, now);
  }

  /** Ends a pending operation that has no job to settle it (cancelled before any job existed). */
  fail(id: string, result: OperationResult, now: number): void {
    this.sql.exec("UPDATE operations SET done = 1, result = ?, updated_at = ? WHERE id = ? AND done = 0", JSON.stringify(result), now, id);
  }

  toOperation(id: string, jobIds: string[]): Operation | null {
    const op = this.get(id);
    return op ? operationOf(op, jobIds) : null;
  }
}

/** Many operations done in one statement (`doneMany`), each found by its id (test/cost/due-plan.test.ts checks the plan). */
export const DONE_MANY_SQL = `UPDATE operations SET done = 1, result = s.result, updated_at = ?1
  FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS result FROM json_each(?2)) AS s
  WHERE operations.id = s.id AND +operations.done = 0 RETURNING operations.id`;

/**
 * The stored result of an operation whose one job was signed with this response: the job's
 * response is JSON text as JSON.stringify wrote it, so the result wraps it as is.
 */
export function resultOfOne(responseJson: string | null): string {
  return `{"response":${responseJson ?? "null"}}`;
}

/** An operation row (the object's, or D1's projection of it) as clients see it. */
export function operationOf(row: Omit<OperationRow, "parent">, signJobs: string[]): Operation {
  return {
    id: row.id,
    done: row.done === 1,
    ...(row.result !== null ? { result: JSON.parse(row.result) as OperationResult } : {}),
    signJobs,
    createdAt: new Date(row.created_at).toISOString(),
    updatedAt: new Date(row.updated_at).toISOString(),
  };
}

/**
 * The D1 projection of an operation: an index row without its result (migrations/0013), for
 * `GET /v1/operations` to page and filter (parent, done) and name the issuer whose object answers
 * with the whole operation. `code` says how a failed one failed. A done operation never changes,
 * so later replays are no-ops.
 */
export function operationWrite(issuer: string, op: Operation): D1Write {
  const row = {
    id: op.id,
    parent: parentOf(op.id),
    issuer,
    done: op.done ? 1 : 0,
    result: null,
    code: op.result?.code ?? null,
    sign_jobs: "[]",
    created_at: Date.parse(op.createdAt),
    updated_at: Date.parse(op.updatedAt),
  };
  // A row written before 0013 that changes now loses its result too: the object answers for it.
  const update = "done = excluded.done, code = excluded.code, result = NULL, sign_jobs = '[]', updated_at = excluded.updated_at";
  return insertRow("operations", row, `ON CONFLICT(id) DO UPDATE SET ${update} WHERE operations.done = 0`);
}
