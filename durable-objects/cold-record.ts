/**
 * What R2 holds for a cold credential job (durable-objects/archive.ts), and the one transaction
 * that swaps its hot rows for a cold row once R2 holds it.
 *
 * The record is the job row whole, its operation's row when the operation is the credential's own
 * (`credentials/<id>`: nothing else can join it, and it is done), and the job's audit rows (audit is
 * evidence: it moves with the job rather than being dropped; nothing reads it back but an
 * operator). Another operation (an application's, a key rotation's) keeps its row here: it may
 * still change, or own other jobs.
 */
import { CREDENTIAL_OPERATION, type ColdJobs } from "./cold-jobs";
import type { JobRow } from "./jobs";
import type { OperationRow } from "./operations";

export type AuditRow = {
  seq: number;
  at: number;
  job_id: string | null;
  event: string;
  detail: string | null;
  count: number;
  last_at: number | null;
};

/** Versioned: a later shape gets a new key, so an old record is never misread. */
export type ColdRecord = { v: 2; job: JobRow; operation: OperationRow | null; audit: AuditRow[] };

/** The R2 key of a cold job's record; `jobs/<object>/<job>` holds claims only (archived = 1). */
export const coldKey = (objectId: string, jobId: string): string => `cold/v2/${objectId}/${jobId}`;

export class ColdRecords {
  constructor(
    private readonly sql: SqlStorage,
    private readonly cold: ColdJobs,
  ) {}

  /** Whether a job goes to R2 whole: a signed credential job (original or re-signed), the per-credential bulk. */
  wanted(job: JobRow): boolean {
    return job.kind === "credential" && job.status === "signed";
  }

  /** The record of a whole (hydrated) job, as it stands now. */
  record(job: JobRow): ColdRecord {
    return { v: 2, job, operation: this.ownOperation(job), audit: this.audit(job.id) };
  }

  /**
   * Replaces the job's hot rows by its cold row, in the caller's transaction, if they still are what
   * `r` holds (an audit row may have been added while R2 was written: then it waits for the next
   * round, which puts the record again). False when nothing changed.
   */
  replace(r: ColdRecord): boolean {
    const job = this.sql.exec<JobRow>("SELECT * FROM jobs WHERE id = ?", r.job.id).toArray()[0];
    if (!job || job.status !== "signed") return false;
    if (JSON.stringify(this.audit(job.id)) !== JSON.stringify(r.audit)) return false;
    const op = this.ownOperation(job);
    if (JSON.stringify(op) !== JSON.stringify(r.operation)) return false;
    const vm = this.sql.exec<{ r: number }>("SELECT rowid AS r FROM keys WHERE id = ?", job.vm_id).toArray()[0]?.r;
    if (vm === undefined) return false;
    let resignsSeq: number | null = null;
    if (job.resigns !== null) {
      const parent =
        this.sql.exec<{ seq: number }>("SELECT seq FROM jobs WHERE id = ?", job.resigns).toArray()[0] ?? this.cold.get(job.resigns);
      if (!parent) return false;
      resignsSeq = parent.seq;
    }
    const context = JSON.parse(job.context) as { indexOnly?: boolean };
    this.cold.insert({
      seq: job.seq,
      id: job.id,
      artifactId: job.artifact_id,
      operationId: op ? null : job.operation_id,
      resignsSeq,
      vm,
      createdAt: job.created_at,
      legacy: context.indexOnly !== true,
    });
    if (op) this.sql.exec("DELETE FROM operations WHERE id = ?", op.id);
    this.sql.exec("DELETE FROM audit WHERE job_id = ?", job.id);
    this.sql.exec("DELETE FROM jobs WHERE id = ?", job.id);
    return true;
  }

  private audit(jobId: string): AuditRow[] {
    return this.sql.exec<AuditRow>("SELECT * FROM audit WHERE job_id = ? ORDER BY seq", jobId).toArray();
  }

  /** The operation row that moves with the job: the credential's own, done, with no other job here. */
  private ownOperation(job: JobRow): OperationRow | null {
    if (job.artifact_id === null || job.operation_id !== `${CREDENTIAL_OPERATION}${job.artifact_id}`) return null;
    const op = this.sql.exec<OperationRow>("SELECT * FROM operations WHERE id = ?", job.operation_id).toArray()[0];
    if (!op || op.done !== 1) return null;
    const others = this.sql.exec("SELECT 1 FROM jobs WHERE operation_id = ? AND id <> ? LIMIT 1", op.id, job.id).toArray();
    return others.length === 0 ? op : null;
  }
}
