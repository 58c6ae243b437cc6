import { sha256 } from "@noble/hashes/sha2.js";
import { base64url } from "jose";
import type { Alg, JobStatus, OperationFailure, SignJob } from "../src/core/models";

export type JobRow = {
  seq: number;
  id: string;
  /** A kind of the registry (durable-objects/kinds). */
  kind: string;
  operation_id: string;
  vm_id: string;
  alg: Alg;
  key_ref: string | null;
  /** The one stored copy of the claims; "" once retention purged the job. */
  signing_input: string;
  context: string;
  status: JobStatus;
  created_at: number;
  expires_at: number;
  signed_at: number | null;
  signature: string | null;
  response: string | null;
  ended_at: number | null;
  reason: string | null;
  purged_at: number | null;
  /** A re-sign job (key rotation): the job whose artifact it signs again with another key. */
  resigns: string | null;
  /** 1 when the purged signing input was put in R2 first (durable-objects/archive.ts). */
  archived: number;
  /** The artifact's id when reads of it are answered here (a credential's id), else null. */
  artifact_id: string | null;
};

/** What a new job is made of; the rest starts empty. */
const NEW_COLUMNS = [
  "id",
  "kind",
  "operation_id",
  "vm_id",
  "alg",
  "key_ref",
  "signing_input",
  "context",
  "artifact_id",
  "created_at",
  "expires_at",
  "resigns",
] as const;
export type NewJob = Omit<Pick<JobRow, (typeof NEW_COLUMNS)[number]>, "resigns"> & { resigns?: string | null };

export type JobState = Pick<JobRow, "id" | "kind" | "status" | "reason" | "response">;

/** Moves out of pending. Nothing else moves: signed is immutable and the other ends are final. */
export type Ending =
  /** `responseJson`: the finalised artifact as stored, JSON text (written once, kept as is). */
  | { to: "signed"; signature: string; responseJson: string }
  /** Unsigned: the code its operation fails with, and why, in words. */
  | { to: "rejected" | "cancelled" | "expired"; code: OperationFailure; reason: string };

/**
 * Many jobs pending → signed in one statement (`endSigned`). The `+` keeps the status term off
 * `jobs_by_status`: with no statistics the planner otherwise reads every pending job and, for each,
 * every row of the list, O(pending × batch) (test/cost/due-plan.test.ts checks the plan).
 */
export const END_SIGNED_SQL = `UPDATE jobs SET status = 'signed', signature = s.signature, response = s.response, signed_at = ?1, ended_at = ?1
  FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS signature, json_extract(value, '$[2]') AS response
        FROM json_each(?2)) AS s
  WHERE jobs.id = s.id AND +jobs.status = 'pending' RETURNING jobs.id`;

const iso = (ms: number) => new Date(ms).toISOString();

/** Distinct invalid-signature reasons audited per job; any further ones share one row. */
const MAX_INVALID_REASONS = 20;
const OTHER_REASONS = JSON.stringify({ detail: `other reasons (more than ${MAX_INVALID_REASONS} distinct)` });

/** Sign jobs in the object's SQLite. Every status change goes through `end`. */
export class JobStore {
  /**
   * Moves on every change of an existing job's row (`end`, `purgeOne`): a reader that holds rows
   * across an await (a batch of signatures applied in turns) knows from it whether they are still
   * current. Per instance: an evicted object's readers are gone with it.
   */
  version = 0;

  constructor(
    private readonly sql: SqlStorage,
    readonly did: () => string,
  ) {}

  /** Inserts a new pending job; returns its row. */
  insert(job: NewJob): JobRow {
    const sql = `INSERT INTO jobs (${NEW_COLUMNS.join(", ")}, status) VALUES (${NEW_COLUMNS.map(() => "?").join(", ")}, 'pending') RETURNING *`;
    return this.sql.exec<JobRow>(sql, ...NEW_COLUMNS.map((c) => job[c] ?? null)).one();
  }

  /**
   * Inserts new pending jobs with one statement, in the order given (their seq follows it);
   * returns their rows in that order.
   */
  insertMany(jobs: NewJob[]): JobRow[] {
    if (jobs.length <= 1) return jobs.map((j) => this.insert(j));
    const values = NEW_COLUMNS.map((_, i) => `json_extract(value, '$[${i}]')`).join(", ");
    const rows = this.sql
      .exec<JobRow>(
        `INSERT INTO jobs (${NEW_COLUMNS.join(", ")}, status) SELECT ${values}, 'pending' FROM json_each(?) ORDER BY json_each.key RETURNING *`,
        JSON.stringify(jobs.map((j) => NEW_COLUMNS.map((c) => j[c]))),
      )
      .toArray();
    const byId = new Map(rows.map((r) => [r.id, r]));
    return jobs.map((j) => byId.get(j.id)!);
  }

  get(id: string): JobRow | null {
    return this.sql.exec<JobRow>("SELECT * FROM jobs WHERE id = ?", id).toArray()[0] ?? null;
  }

  /** Jobs by id, in one read. */
  getMany(ids: string[]): Map<string, JobRow> {
    const rows = this.sql.exec<JobRow>("SELECT * FROM jobs WHERE id IN (SELECT value FROM json_each(?))", JSON.stringify(ids)).toArray();
    return new Map(rows.map((r) => [r.id, r]));
  }

  /** Which of `ids` are still pending, in one read. */
  pendingAmong(ids: string[]): Set<string> {
    const rows = this.sql
      .exec<{ id: string }>("SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND status = 'pending'", JSON.stringify(ids))
      .toArray();
    return new Set(rows.map((r) => r.id));
  }

  currentStatus(id: string): JobStatus | null {
    return this.sql.exec<{ status: JobStatus }>("SELECT status FROM jobs WHERE id = ?", id).toArray()[0]?.status ?? null;
  }

  /** What settling an operation needs of its jobs, without their payloads. */
  statesOf(operationId: string): JobState[] {
    return this.sql
      .exec<JobState>("SELECT id, kind, status, reason, response FROM jobs WHERE operation_id = ? ORDER BY seq", operationId)
      .toArray();
  }

  idsOf(operationId: string): string[] {
    return this.sql
      .exec<{ id: string }>("SELECT id FROM jobs WHERE operation_id = ? ORDER BY seq", operationId)
      .toArray()
      .map((r) => r.id);
  }

  byOperation(operationId: string): JobRow[] {
    return this.sql.exec<JobRow>("SELECT * FROM jobs WHERE operation_id = ? ORDER BY seq", operationId).toArray();
  }

  /** The first job that signs an artifact (a credential), unless the artifact was deleted. */
  byArtifact(artifactId: string): JobRow | null {
    return (
      this.sql
        .exec<JobRow>(
          `SELECT * FROM jobs INDEXED BY jobs_by_artifact WHERE artifact_id = ?1
           AND NOT EXISTS (SELECT 1 FROM deleted_artifacts WHERE id = ?1) ORDER BY seq LIMIT 1`,
          artifactId,
        )
        .toArray()[0] ?? null
    );
  }

  /** Jobs that re-sign any of `jobIds` (one level of a re-sign chain, key rotations), oldest first. */
  resigning(jobIds: string[]): JobRow[] {
    if (jobIds.length === 0) return [];
    return this.sql
      .exec<JobRow>(
        "SELECT * FROM jobs INDEXED BY jobs_by_resigns WHERE resigns IS NOT NULL AND resigns IN (SELECT value FROM json_each(?)) ORDER BY seq",
        JSON.stringify(jobIds),
      )
      .toArray();
  }

  /** Live artifacts among `ids`: those with a job here and not deleted. */
  liveArtifacts(ids: string[]): string[] {
    if (ids.length === 0) return [];
    return this.sql
      .exec<{ id: string }>(
        `SELECT DISTINCT artifact_id AS id FROM jobs INDEXED BY jobs_by_artifact
         WHERE artifact_id IN (SELECT value FROM json_each(?)) AND artifact_id NOT IN (SELECT id FROM deleted_artifacts)`,
        JSON.stringify(ids),
      )
      .toArray()
      .map((r) => r.id);
  }

  /**
   * The issuer's credentials in D1's list order, (created_at, id), keyset-paged: one index range
   * whatever the issuer holds. Deleted ones are skipped.
   */
  credentials(after: readonly [number, string] | null, limit: number): JobRow[] {
    const [at, id] = after ?? [-1, ""];
    return this.sql
      .exec<JobRow>(
        `SELECT * FROM jobs INDEXED BY jobs_credentials WHERE kind = 'credential' AND artifact_id IS NOT NULL
         AND (created_at, artifact_id) > (?, ?) AND artifact_id NOT IN (SELECT id FROM deleted_artifacts)
         ORDER BY created_at, artifact_id LIMIT ?`,
        at,
        id,
        limit,
      )
      .toArray();
  }

  /** Remembers that an artifact was deleted; false when it already was. Call inside a transaction. */
  markDeleted(artifactId: string, now: number): boolean {
    return (
      this.sql.exec("INSERT INTO deleted_artifacts (id, at) VALUES (?, ?) ON CONFLICT(id) DO NOTHING", artifactId, now).rowsWritten > 0
    );
  }

  /** Oldest first, keyset by seq. */
  list(status: JobStatus | undefined, afterSeq: number, limit: number, operationId?: string): JobRow[] {
    if (operationId !== undefined) {
      // One operation's jobs (a rotation may own 100,000): jobs_by_operation walks them in seq order.
      return this.sql
        .exec<JobRow>(
          "SELECT * FROM jobs WHERE operation_id = ?1 AND seq > ?2 AND (?3 IS NULL OR status = ?3) ORDER BY seq LIMIT ?4",
          operationId,
          afterSeq,
          status ?? null,
          limit,
        )
        .toArray();
    }
    return status
      ? this.sql.exec<JobRow>("SELECT * FROM jobs WHERE status = ? AND seq > ? ORDER BY seq LIMIT ?", status, afterSeq, limit).toArray()
      : this.sql.exec<JobRow>("SELECT * FROM jobs WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, limit).toArray();
  }

  /** Every pending job, oldest first; with a key, only that key's. */
  pending(vmId?: string): JobRow[] {
    return vmId === undefined
      ? this.sql.exec<JobRow>("SELECT * FROM jobs WHERE status = 'pending' ORDER BY seq").toArray()
      : this.sql.exec<JobRow>("SELECT * FROM jobs WHERE status = 'pending' AND vm_id = ? ORDER BY seq", vmId).toArray();
  }

  /** Pending jobs of custodial keys that are not revoked: the in-process signer's backlog. */
  pendingCustodial(limit = 1000): JobRow[] {
    return this.sql
      .exec<JobRow>(
        `SELECT jobs.* FROM jobs JOIN keys ON keys.id = jobs.vm_id
         WHERE jobs.status = 'pending' AND keys.custody = 'custodial' AND keys.revoked = 0 ORDER BY jobs.seq LIMIT ?`,
        limit,
      )
      .toArray();
  }

  pendingCount(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE status = 'pending'").one().n;
  }

  /** Pending jobs whose time ran out. */
  expiredBy(now: number, limit = 500): JobRow[] {
    return this.sql
      .exec<JobRow>(
        "SELECT * FROM jobs INDEXED BY jobs_pending_expiry WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?",
        now,
        limit,
      )
      .toArray();
  }

  /**
   * The next pending job's expiry, and when the oldest ended job still holding its claims passes
   * retention (bound parameter: the retention in ms). Part of the re-arm after every change
   * (due.ts). Without statistics SQLite's planner prefers jobs_by_status for `status = 'pending'`
   * and reads every pending job (P4: creates into an issuer with 100,000 pending jobs ran at half
   * speed); the partial indexes answer each in one step, and INDEXED BY makes that a rule.
   */
  static readonly DUE = [
    "SELECT min(expires_at) AS t FROM jobs INDEXED BY jobs_pending_expiry WHERE status = 'pending'",
    "SELECT min(ended_at) + ? AS t FROM jobs INDEXED BY jobs_to_purge WHERE ended_at IS NOT NULL AND purged_at IS NULL",
  ];

  /**
   * Without an R2 archive a signed job keeps its claims (its artifact's only copy, durable-objects/
   * archive.ts): retention is due for unsigned ended jobs only, or the alarm would wake for nothing.
   */
  static readonly DUE_WITHOUT_ARCHIVE = [
    JobStore.DUE[0]!,
    "SELECT min(ended_at) + ? AS t FROM jobs INDEXED BY jobs_to_purge WHERE ended_at IS NOT NULL AND purged_at IS NULL AND status <> 'signed'",
  ];

  /**
   * The one transition function: pending → signed | rejected | cancelled | expired.
   * Returns false when the job was no longer pending (someone else ended it first).
   */
  end(id: string, ending: Ending, now: number): boolean {
    const cursor =
      ending.to === "signed"
        ? this.sql.exec(
            "UPDATE jobs SET status = 'signed', signature = ?, response = ?, signed_at = ?, ended_at = ? WHERE id = ? AND status = 'pending'",
            ending.signature,
            ending.responseJson,
            now,
            now,
            id,
          )
        : this.sql.exec(
            "UPDATE jobs SET status = ?, reason = ?, ended_at = ? WHERE id = ? AND status = 'pending'",
            ending.to,
            ending.reason,
            now,
            id,
          );
    if (cursor.rowsWritten === 0) return false;
    this.version++;
    return true;
  }

  /**
   * pending → signed for many jobs in one statement (a custodial create's, whose pending state the
   * caller knows). Answers how many moved: the caller's transaction must fail unless all did.
   */
  endSigned(ends: { id: string; signature: string; responseJson: string }[], now: number): number {
    if (ends.length === 0) return 0;
    const moved = this.sql.exec(END_SIGNED_SQL, now, JSON.stringify(ends.map((e) => [e.id, e.signature, e.responseJson]))).toArray().length;
    // One step per job moved, as `end` counts: a caller that knows how many it changed can tell
    // whether anything else changed meanwhile (SignatureIntake's turns).
    this.version += moved;
    return moved;
  }

  /** Audit rows of the open transaction (see `within`), or null when none is open. */
  private audits: (string | number | null)[][] | null = null;

  /**
   * Runs `fn` (inside the caller's transaction) with its audit rows held in memory, then inserts
   * them as one statement: a batch of a hundred signatures writes one audit statement.
   */
  within<T>(fn: () => T): T {
    if (this.audits) return fn();
    const audits: (string | number | null)[][] = (this.audits = []);
    try {
      const result = fn();
      if (audits.length === 1) {
        const [at, jobId, event, detail] = audits[0]!;
        this.sql.exec(
          "INSERT INTO audit (at, job_id, event, detail, last_at) VALUES (?, ?, ?, ?, ?)",
          at ?? null,
          jobId ?? null,
          event ?? null,
          detail ?? null,
          at ?? null,
        );
      } else if (audits.length > 1) {
        this.sql.exec(
          `INSERT INTO audit (at, job_id, event, detail, last_at)
           SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[0]')
           FROM json_each(?) ORDER BY json_each.key`,
          JSON.stringify(audits),
        );
      }
      return result;
    } finally {
      this.audits = null;
    }
  }

  audit(jobId: string | null, event: string, detail: unknown, now: number): void {
    // Invalid signatures collapse into counted rows (below); every other event is one row, held
    // for the transaction's one multi-row insert when one is open.
    if (this.audits && event !== "invalid_signature") {
      this.audits.push([now, jobId, event, detail === undefined ? null : JSON.stringify(detail)]);
      return;
    }
    let stored = detail === undefined ? null : JSON.stringify(detail);
    if (event === "invalid_signature" && jobId !== null && stored !== null) stored = this.invalidReason(jobId, stored);
    // A signer repeating a bad signature adds nothing but a count: one row per job and reason.
    this.sql.exec(
      `INSERT INTO audit (at, job_id, event, detail, last_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (job_id, event, detail) WHERE event = 'invalid_signature' DO UPDATE SET count = count + 1, last_at = excluded.at`,
      now,
      jobId,
      event,
      stored,
      now,
    );
  }

  /**
   * The reason an invalid signature is counted under: its own, or, once a job has
   * MAX_INVALID_REASONS distinct ones (messages carry lengths a signer controls), one shared row.
   */
  private invalidReason(jobId: string, detail: string): string {
    const known = this.sql
      .exec<{ n: number; has: number }>(
        "SELECT count(*) AS n, coalesce(max(detail = ?), 0) AS has FROM audit WHERE job_id = ? AND event = 'invalid_signature'",
        detail,
        jobId,
      )
      .one();
    return known.has === 1 || known.n < MAX_INVALID_REASONS ? detail : OTHER_REASONS;
  }

  /** Drops one ended job's signing input; `archived` when R2 holds it. False when it was purged already. */
  purgeOne(id: string, now: number, archived: boolean): boolean {
    const purged =
      this.sql.exec(
        "UPDATE jobs SET signing_input = '', purged_at = ?, archived = ? WHERE id = ? AND ended_at IS NOT NULL AND purged_at IS NULL",
        now,
        archived ? 1 : 0,
        id,
      ).rowsWritten > 0;
    if (purged) this.version++;
    return purged;
  }

  toSignJob(row: JobRow, keyRef?: string): SignJob {
    const ecdsa = row.alg !== "EdDSA";
    const claims = row.purged_at === null;
    return {
      id: row.id,
      did: this.did(),
      verificationMethodId: row.vm_id,
      ...((row.key_ref ?? keyRef) ? { keyRef: (row.key_ref ?? keyRef)! } : {}),
      alg: row.alg,
      kind: row.kind,
      operationId: row.operation_id,
      ...(claims ? { signingInput: row.signing_input, payload: payloadOf(row) } : {}),
      ...(claims && ecdsa ? { digest: digestOf(row.signing_input) } : {}),
      status: row.status,
      createdAt: iso(row.created_at),
      expiresAt: iso(row.expires_at),
      ...(row.signed_at !== null ? { signedAt: iso(row.signed_at) } : {}),
      ...(row.ended_at !== null && row.status !== "signed" ? { endedAt: iso(row.ended_at) } : {}),
      ...(row.reason !== null ? { reason: row.reason } : {}),
      ...(row.signature !== null ? { signature: row.signature } : {}),
      ...(row.signature !== null && claims ? { jwt: `${row.signing_input}.${row.signature}` } : {}),
      ...(row.purged_at !== null ? { purgedAt: iso(row.purged_at) } : {}),
    };
  }
}

/** The job's claims, decoded from its signing input (the only stored copy). */
export function payloadOf(row: Pick<JobRow, "signing_input">): Record<string, unknown> {
  const encoded = row.signing_input.slice(row.signing_input.indexOf(".") + 1);
  return JSON.parse(new TextDecoder().decode(base64url.decode(encoded))) as Record<string, unknown>;
}

/** SHA-256 of the signing input, for ECDSA signers whose HSM or KMS signs digests. */
export function digestOf(signingInput: string): string {
  return base64url.encode(sha256(new TextEncoder().encode(signingInput)));
}
