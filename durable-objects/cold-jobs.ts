/**
 * The object's compact rows of cold credential jobs (schema: cold_jobs; durable-objects/archive.ts
 * moves jobs here). Reads return them as stub job rows (`archived = 2`, `purged_at` set, no
 * claims, context or signature) so lists, chains and scans handle hot and cold jobs alike; the
 * archive's `hydrate` replaces a stub by the whole row from R2 before anything reads its body.
 */
import type { JobRow } from "./jobs";

/** `archived` of a stub: the whole job is in R2 (1 is claims only; 0 nothing). */
export const WHOLE = 2;

/** Operation ids a credential's own operation has: 'credentials/' + its id (kinds/credential.ts). */
export const CREDENTIAL_OPERATION = "credentials/";

/** One cold row as eviction writes it. */
export type ColdRow = {
  seq: number;
  id: string;
  artifactId: string | null;
  /** Null when the operation is the credential's own and its row went to R2 with the job. */
  operationId: string | null;
  resignsSeq: number | null;
  vm: number;
  createdAt: number;
  legacy: boolean;
};

/** An id as compact tables store it: without this object's prefix, or '!' and the whole id when it has none. */
export function shortId(objectId: string, id: string): string {
  const prefix = `${objectId}.`;
  return objectId !== "" && id.startsWith(prefix) ? id.slice(prefix.length) : `!${id}`;
}

export class ColdJobs {
  constructor(
    private readonly sql: SqlStorage,
    /** Every routed id here starts with this object's id and a dot. */
    private readonly objectId: string,
  ) {}

  short(id: string): string {
    return shortId(this.objectId, id);
  }

  /** SQL for the whole id of a stored one (column `col`; ?1 is the object id). */
  private static full(col: string): string {
    return `CASE WHEN substr(${col}, 1, 1) = '!' THEN substr(${col}, 2) ELSE ?1 || '.' || ${col} END`;
  }

  /** The stub columns, in JobRow's shape (?1 is the object id). */
  private static readonly STUB = `SELECT c.seq, ${ColdJobs.full("c.job")} AS id, 'credential' AS kind,
    coalesce(c.op, '${CREDENTIAL_OPERATION}' || ${ColdJobs.full("c.artifact")}) AS operation_id,
    (SELECT id FROM keys WHERE keys.rowid = c.vm) AS vm_id, '' AS alg, NULL AS key_ref, '' AS signing_input,
    CASE WHEN c.legacy = 1 THEN '{}' ELSE '{"indexOnly":true}' END AS context, 'signed' AS status,
    c.created_at, 0 AS expires_at, NULL AS signed_at, NULL AS signature, NULL AS response, NULL AS ended_at,
    NULL AS reason, 0 AS purged_at,
    CASE WHEN c.resigns IS NULL THEN NULL ELSE coalesce((SELECT id FROM jobs WHERE jobs.seq = c.resigns),
      (SELECT ${ColdJobs.full("p.job")} FROM cold_jobs p WHERE p.seq = c.resigns)) END AS resigns,
    ${WHOLE} AS archived, CASE WHEN c.artifact IS NULL THEN NULL ELSE ${ColdJobs.full("c.artifact")} END AS artifact_id
    FROM cold_jobs c`;

  private stubs(where: string, ...params: (string | number | null)[]): JobRow[] {
    return this.sql.exec<JobRow>(`${ColdJobs.STUB} ${where}`, this.objectId, ...params).toArray();
  }

  /** Writes a cold row; call in the transaction that deletes the job's hot rows, before the delete. */
  insert(row: ColdRow): void {
    this.sql.exec(
      "INSERT INTO cold_jobs (seq, job, artifact, op, resigns, vm, created_at, legacy) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      row.seq,
      this.short(row.id),
      row.artifactId === null ? null : this.short(row.artifactId),
      row.operationId,
      row.resignsSeq,
      row.vm,
      row.createdAt,
      row.legacy ? 1 : 0,
    );
  }

  get(id: string): JobRow | null {
    return this.stubs("WHERE c.job = ?2", this.short(id))[0] ?? null;
  }

  /**
   * Cold jobs of an operation after `afterSeq`, oldest first: those naming it (its row stayed hot)
   * and, for a credential's own operation, the credential's job whose operation row went with it.
   */
  byOperation(operationId: string, afterSeq = 0, limit = -1): JobRow[] {
    const named = this.stubs("WHERE c.op IS NOT NULL AND c.op = ?2 AND c.seq > ?3 ORDER BY c.seq LIMIT ?4", operationId, afterSeq, limit);
    if (!operationId.startsWith(CREDENTIAL_OPERATION)) return named;
    const own = this.stubs(
      "WHERE c.artifact IS NOT NULL AND c.artifact = ?2 AND c.op IS NULL AND c.seq > ?3",
      this.short(operationId.slice(CREDENTIAL_OPERATION.length)),
      afterSeq,
    );
    return mergeBySeq(named, own, limit < 0 ? Infinity : limit);
  }

  /** Oldest first, keyset by seq. */
  list(afterSeq: number, limit: number): JobRow[] {
    return this.stubs("WHERE c.seq > ?2 ORDER BY c.seq LIMIT ?3", afterSeq, limit);
  }

  /** The scan window of a key rotation: cold jobs with seq in (after, upTo]. */
  window(after: number, upTo: number, limit: number): JobRow[] {
    return this.stubs("WHERE c.seq > ?2 AND c.seq <= ?3 ORDER BY c.seq LIMIT ?4", after, upTo, limit);
  }

  /** The first cold job of an artifact, unless the artifact was deleted. */
  byArtifact(artifactId: string): JobRow | null {
    return (
      this.stubs(
        "WHERE c.artifact IS NOT NULL AND c.artifact = ?2 AND NOT EXISTS (SELECT 1 FROM deleted_artifacts WHERE id = ?3) ORDER BY c.seq LIMIT 1",
        this.short(artifactId),
        artifactId,
      )[0] ?? null
    );
  }

  /** Live artifacts among `ids` with a cold job. */
  liveArtifacts(ids: string[]): string[] {
    if (ids.length === 0) return [];
    const short = new Map(ids.map((id) => [this.short(id), id]));
    return this.sql
      .exec<{ a: string }>(
        "SELECT DISTINCT artifact AS a FROM cold_jobs INDEXED BY cold_jobs_by_artifact WHERE artifact IS NOT NULL AND artifact IN (SELECT value FROM json_each(?))",
        JSON.stringify([...short.keys()]),
      )
      .toArray()
      .map((r) => short.get(r.a)!)
      .filter((id) => this.sql.exec("SELECT 1 FROM deleted_artifacts WHERE id = ?", id).toArray().length === 0);
  }

  /** The issuer's cold credentials in D1's list order, (created_at, id), keyset-paged; deleted ones skipped. */
  credentials(after: readonly [number, string] | null, limit: number): JobRow[] {
    const [at, id] = after ?? [-1, ""];
    return this.stubs(
      `INDEXED BY cold_jobs_credentials WHERE c.artifact IS NOT NULL AND (c.created_at, c.artifact) > (?2, ?3)
       AND ${ColdJobs.full("c.artifact")} NOT IN (SELECT id FROM deleted_artifacts) ORDER BY c.created_at, c.artifact LIMIT ?4`,
      at,
      id === "" ? "" : this.short(id),
      limit,
    );
  }

  /** Cold jobs that re-sign any of the jobs `seqs` (one level of a re-sign chain). */
  resigning(seqs: number[]): JobRow[] {
    if (seqs.length === 0) return [];
    return this.stubs(
      "WHERE c.resigns IS NOT NULL AND c.resigns IN (SELECT value FROM json_each(?2)) ORDER BY c.seq",
      JSON.stringify(seqs),
    );
  }

  /** Whether a cold job re-signs the job `seq` (cold jobs are signed). */
  resigned(seq: number): boolean {
    return this.sql.exec("SELECT 1 FROM cold_jobs WHERE resigns IS NOT NULL AND resigns = ? LIMIT 1", seq).toArray().length > 0;
  }

  /** Whether the artifact's first job (when cold) says it has a D1 `credentials` row; null when it has no cold job. */
  legacyRow(artifactId: string): boolean | null {
    const row = this.sql
      .exec<{ legacy: number }>(
        "SELECT legacy FROM cold_jobs WHERE artifact IS NOT NULL AND artifact = ? ORDER BY seq LIMIT 1",
        this.short(artifactId),
      )
      .toArray()[0];
    return row ? row.legacy === 1 : null;
  }

  maxSeq(): number {
    return this.sql.exec<{ s: number | null }>("SELECT max(seq) AS s FROM cold_jobs").one().s ?? 0;
  }
}

/** Two seq-ordered lists as one, the first `limit`. */
export function mergeBySeq(a: JobRow[], b: JobRow[], limit = Infinity): JobRow[] {
  if (b.length === 0) return a.slice(0, limit);
  if (a.length === 0) return b.slice(0, limit);
  return [...a, ...b].sort((x, y) => x.seq - y.seq).slice(0, limit);
}
