/**
 * What a key rotation re-signs (durable-objects/rotations.ts): the jobs of the scan's next window,
 * which of them need a new signature (a live artifact of a resignable kind, signed by an old key,
 * not re-signed already), and the claims to sign again when retention dropped them from the job.
 * Reads only: the rotation creates the re-sign jobs in its own transaction.
 */
import { base64url } from "jose";
import type { AnyKind } from "../src/core/kinds";
import type { IssuerKey } from "../src/core/models";
import { mergeBySeq, WHOLE, type ColdJobs } from "./cold-jobs";
import type { Engine } from "./engine";
import type { JobRow } from "./jobs";

export interface ResignTargetParts {
  storage: DurableObjectStorage;
  engine: () => Engine;
  kinds: Readonly<Record<string, AnyKind>>;
  /** Archived jobs' claims read back from R2 (durable-objects/archive.ts). */
  hydrate: (rows: JobRow[]) => Promise<JobRow[]>;
  /** Cold jobs' compact rows: the scan walks them with the hot ones, in seq order. */
  cold: ColdJobs;
  /** D1, where an artifact of another kind (or a credential from before 0013) whose job was purged without an archive still has its JWT. */
  db: D1Database;
}

/** Where the scan stands: jobs past `cursor` up to `high` (the newest job when the rotation began). */
export type ScanWindow = { cursor: number; high: number };

export class ResignTargets {
  constructor(private readonly parts: ResignTargetParts) {}

  private get sql(): SqlStorage {
    return this.parts.storage.sql;
  }

  /** The next `limit` jobs of the scan, hot and cold (cold ones as stubs: purgedClaims reads them back). */
  window(w: ScanWindow, limit: number): JobRow[] {
    const hot = this.sql
      .exec<JobRow>("SELECT * FROM jobs WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?", w.cursor, w.high, limit)
      .toArray();
    return mergeBySeq(hot, this.parts.cold.window(w.cursor, w.high, limit), limit);
  }

  /**
   * Jobs among `rows` whose signing input retention dropped, whole again, by job id: read back from
   * R2 when archived (whole or claims only); else their artifact's JWT in D1 (other kinds' tables,
   * credentials from before 0013) carries the same claims (its header and payload).
   */
  async purgedClaims(rows: JobRow[], from: ReadonlySet<string>): Promise<Map<string, JobRow>> {
    const byTable = new Map<string, Map<string, JobRow>>();
    const claims = new Map<string, JobRow>();
    const due = rows.filter(
      (row) => row.purged_at !== null && row.status === "signed" && from.has(row.vm_id) && this.parts.kinds[row.kind]?.resign,
    );
    if (due.length === 0) return claims;
    // Archived claims come back from R2: the object and R2 are the one store of a credential's claims.
    for (const back of await this.parts.hydrate(due.filter((row) => row.archived === 1 || row.archived === WHOLE))) {
      if (back.purged_at === null) claims.set(back.id, back);
    }
    for (const row of due) {
      const kind = this.parts.kinds[row.kind];
      if (claims.has(row.id) || !kind?.resign) continue;
      const { id, table } = kind.resign.artifact(kind.context.parse(JSON.parse(row.context)));
      const ids = byTable.get(table) ?? new Map<string, JobRow>();
      ids.set(id, row);
      byTable.set(table, ids);
    }
    for (const [table, ids] of byTable) {
      const rows = await this.parts.db
        .prepare(`SELECT id, jwt FROM ${table} WHERE id IN (SELECT value FROM json_each(?)) AND jwt IS NOT NULL`)
        .bind(JSON.stringify([...ids.keys()]))
        .all<{ id: string; jwt: string }>();
      for (const { id, jwt } of rows.results) {
        const row = ids.get(id)!;
        claims.set(row.id, { ...row, signing_input: jwt.split(".").slice(0, 2).join("."), purged_at: null });
      }
    }
    return claims;
  }

  /**
   * The jobs among `rows` (a window) to sign again with `to`: signed by a key in `from`, and
   * `needsResign`. A purged job's claims come from `purged` (purgedClaims, read before the
   * caller's transaction).
   */
  due(
    rows: JobRow[],
    from: ReadonlySet<string>,
    purged: ReadonlyMap<string, JobRow>,
    to: IssuerKey,
    origin: string,
    now: number,
  ): JobRow[] {
    const readable = rows.map((row) => (row.purged_at !== null ? (purged.get(row.id) ?? row) : row));
    return readable.filter((row) => from.has(row.vm_id) && this.needsResign(row, to, origin, now));
  }

  /** A signed job of a resignable kind, whose artifact is live and not already re-signed (or being re-signed). */
  needsResign(row: JobRow, to: IssuerKey, origin: string, now: number): boolean {
    if (row.status !== "signed" || row.purged_at !== null) return false;
    const kind = this.parts.kinds[row.kind];
    if (!kind?.resign) return false;
    const redone = this.sql
      .exec("SELECT 1 FROM jobs WHERE resigns = ? AND status IN ('pending', 'signed') LIMIT 1", row.id)
      .toArray().length;
    if (redone > 0 || this.parts.cold.resigned(row.seq)) return false;
    const engine = this.parts.engine();
    const view = engine.view(kind, row);
    const exp = view.payload?.exp;
    if (typeof exp === "number" && exp * 1000 <= now) return false;
    return kind.resign.live?.(engine.context(to, origin, now), view) ?? true;
  }
}

const b64json = (v: unknown) => base64url.encode(JSON.stringify(v));

/**
 * Key rotation: a new pending job for each signed job, of the same kind, claims and context,
 * signed by `key` and owned by the rotation's operation. The payload's bytes are kept as they
 * were; only the header's alg and kid change. Call inside a transaction.
 */
export function resignInside(
  engine: Engine,
  key: IssuerKey,
  previous: JobRow[],
  operationId: string,
  objectId: string,
  now: number,
): JobRow[] {
  return previous.map((old) => {
    const dot = old.signing_input.indexOf(".");
    if (dot <= 0) throw new Error(`sign job ${old.id} has no claims to sign again`);
    const header = JSON.parse(new TextDecoder().decode(base64url.decode(old.signing_input.slice(0, dot)))) as Record<string, unknown>;
    return engine.jobs.insert({
      id: `${objectId}.${base64url.encode(crypto.getRandomValues(new Uint8Array(12)))}`,
      kind: old.kind,
      operation_id: operationId,
      vm_id: key.id,
      alg: key.alg,
      key_ref: key.keyRef ?? null,
      signing_input: `${b64json({ ...header, alg: key.alg, kid: key.id })}${old.signing_input.slice(dot)}`,
      context: old.context,
      // The artifact stays indexed by its first job; reads of a re-signed one go to D1 (CredentialReads).
      artifact_id: null,
      created_at: now,
      expires_at: now + engine.parts.ttlMs,
      resigns: old.id,
    });
  });
}
