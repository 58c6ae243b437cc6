import { sha256 } from "@noble/hashes/sha2.js";
import { base64url } from "jose";
import type { JobKind, JobStatus, SignJob } from "../src/signjobs/model";

export type JobRow = {
  seq: number;
  id: string;
  kind: JobKind;
  operation_id: string;
  vm_id: string;
  alg: SignJob["alg"];
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
};

export type JobState = Pick<JobRow, "id" | "kind" | "status" | "reason" | "response">;

/** Moves out of pending. Nothing else moves: signed is immutable and the other ends are final. */
export type Ending =
  | { to: "signed"; signature: string; response: unknown }
  | { to: "rejected"; reason: string }
  | { to: "cancelled"; reason: string }
  | { to: "expired" };

const iso = (ms: number) => new Date(ms).toISOString();

/** Distinct invalid-signature reasons audited per job; any further ones share one row. */
const MAX_INVALID_REASONS = 20;
const OTHER_REASONS = JSON.stringify({ detail: `other reasons (more than ${MAX_INVALID_REASONS} distinct)` });

/** Sign jobs in the object's SQLite. Every status change goes through `end`. */
export class JobStore {
  constructor(
    private readonly sql: SqlStorage,
    private readonly did: () => string,
  ) {}

  /** Inserts a new pending job; returns its seq. */
  insert(row: Omit<JobRow, "seq" | "status" | "signed_at" | "signature" | "response" | "ended_at" | "reason" | "purged_at">): number {
    return this.sql.exec<{ seq: number }>(
      `INSERT INTO jobs (id, kind, operation_id, vm_id, alg, key_ref, signing_input, context, status, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING seq`,
      row.id,
      row.kind,
      row.operation_id,
      row.vm_id,
      row.alg,
      row.key_ref,
      row.signing_input,
      row.context,
      row.created_at,
      row.expires_at,
    ).one().seq;
  }

  get(id: string): JobRow | null {
    return this.sql.exec<JobRow>("SELECT * FROM jobs WHERE id = ?", id).toArray()[0] ?? null;
  }

  statusOf(id: string): JobStatus | null {
    return this.sql.exec<{ status: JobStatus }>("SELECT status FROM jobs WHERE id = ?", id).toArray()[0]?.status ?? null;
  }

  /** What settling an operation needs of its jobs, without their payloads. */
  statesOf(operationId: string): JobState[] {
    return this.sql
      .exec<JobState>("SELECT id, kind, status, reason, response FROM jobs WHERE operation_id = ? ORDER BY seq", operationId)
      .toArray();
  }

  idsOf(operationId: string): string[] {
    return this.sql.exec<{ id: string }>("SELECT id FROM jobs WHERE operation_id = ? ORDER BY seq", operationId).toArray().map((r) => r.id);
  }

  byOperation(operationId: string): JobRow[] {
    return this.sql.exec<JobRow>("SELECT * FROM jobs WHERE operation_id = ? ORDER BY seq", operationId).toArray();
  }

  /** Oldest first, keyset by seq. */
  list(status: JobStatus | undefined, afterSeq: number, limit: number): JobRow[] {
    return status
      ? this.sql
          .exec<JobRow>("SELECT * FROM jobs WHERE status = ? AND seq > ? ORDER BY seq LIMIT ?", status, afterSeq, limit)
          .toArray()
      : this.sql.exec<JobRow>("SELECT * FROM jobs WHERE seq > ? ORDER BY seq LIMIT ?", afterSeq, limit).toArray();
  }

  pendingCount(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM jobs WHERE status = 'pending'").one().n;
  }

  /** Pending jobs whose time ran out. */
  expiredBy(now: number, limit = 500): JobRow[] {
    return this.sql
      .exec<JobRow>("SELECT * FROM jobs WHERE status = 'pending' AND expires_at <= ? ORDER BY expires_at LIMIT ?", now, limit)
      .toArray();
  }

  nextExpiry(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT min(expires_at) AS t FROM jobs WHERE status = 'pending'").one().t;
  }

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
            JSON.stringify(ending.response ?? null),
            now,
            now,
            id,
          )
        : this.sql.exec(
            "UPDATE jobs SET status = ?, reason = ?, ended_at = ? WHERE id = ? AND status = 'pending'",
            ending.to,
            ending.to === "expired" ? "sign job expired" : ending.reason,
            now,
            id,
          );
    const changed = cursor.rowsWritten > 0;
    if (changed) this.sql.exec("DELETE FROM leases WHERE job_id = ?", id);
    return changed;
  }

  audit(jobId: string | null, event: string, detail: unknown, now: number): void {
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

  /**
   * Retention: ended jobs that ended at or before `endedBy` drop their signing input (the claims),
   * keeping id, status, times, signature, context and the compact response. Returns how many.
   */
  purge(endedBy: number, now: number, limit = 500): number {
    return this.sql.exec(
      `UPDATE jobs SET signing_input = '', purged_at = ? WHERE seq IN (
         SELECT seq FROM jobs WHERE ended_at IS NOT NULL AND purged_at IS NULL AND ended_at <= ? ORDER BY ended_at LIMIT ?)`,
      now,
      endedBy,
      limit,
    ).rowsWritten;
  }

  /** When the oldest unpurged ended job ended, or null. */
  oldestUnpurged(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT min(ended_at) AS t FROM jobs WHERE ended_at IS NOT NULL AND purged_at IS NULL").one().t;
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
