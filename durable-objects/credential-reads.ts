import { credentialContainer, hasLegacyRow, type CredentialJob } from "./kinds/credential";
import { credentialIndexDeletedKey, indexDeletion } from "../src/shards/index-writes";
import type { Engine } from "./engine";
import { OUTBOX_GRACE_MS } from "./engine";
import type { Archive } from "./archive";
import { WHOLE } from "./cold-jobs";
import type { JobRow } from "./jobs";
import type { Outbox } from "./outbox";
import type { StatusLists } from "./status-lists";

/** A credential container as `GET /v1/credentials/{id}` answers it. */
export type CredentialContainer = NonNullable<ReturnType<typeof credentialContainer>>;

export type JwtHistoryEntry = { jwt: string; verificationMethodId: string; signedAt?: string };

/**
 * One credential as the issuer's object holds it: the one store of its body, its JWT and every JWT
 * a key rotation replaced (D1 keeps body-free index rows only, migrations/0013).
 */
export type CredentialRead = {
  id: string;
  issuer: string;
  operationId: string;
  signed: boolean;
  createdAt: number;
  /**
   * Null only when the claims are gone from here and from R2 (dropped by retention before jobs
   * were archived): D1 may still hold that body, written before bodies left it.
   */
  container: CredentialContainer | null;
  /** Its JWTs, newest first, as `GET /v1/credentials/{id}` lists them (one until a rotation re-signs it). */
  jwtHistory: JwtHistoryEntry[];
  /**
   * Whether D1's `credentials` table has a row for it (created before that table left the write
   * path): only then may D1 hold a body for it, or need its deletion written.
   */
  legacyRow: boolean;
};

/** Archived jobs: cold rows, and their claims or whole rows read back from R2 (durable-objects/archive.ts). */
export type ArchiveReads = Pick<Archive, "cold" | "hydrateAll">;

const iso = (t: number | null) => (t === null ? {} : { signedAt: new Date(t).toISOString() });

/**
 * Reads of an issuer's credentials answered by its object (api.md "Consistency"): a create is
 * visible here the moment it answers, whether or not the outbox has reached D1 yet.
 */
export class CredentialReads {
  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly engine: Engine,
    private readonly statusLists: StatusLists,
    private readonly outbox: Outbox,
    private readonly archive: ArchiveReads,
  ) {}

  /** An artifact's first job, hot or cold (a cold stub until read back), unless it was deleted. */
  private first(id: string): JobRow | null {
    const hot = this.engine.jobs.byArtifact(id);
    const cold = this.archive.cold.byArtifact(id);
    return hot && cold ? (hot.seq < cold.seq ? hot : cold) : (hot ?? cold);
  }

  async get(id: string): Promise<CredentialRead | null> {
    const row = this.first(id);
    if (!row || row.kind !== "credential") return null;
    return (await this.readAll([row]))[0]!;
  }

  /** A page of the issuer's live credentials, oldest first, keyset by (created_at, id) as D1 pages them. */
  list(after: readonly [number, string] | null, limit: number): Promise<CredentialRead[]> {
    const rows = [...this.engine.jobs.credentials(after, limit), ...this.archive.cold.credentials(after, limit)];
    const key = (r: JobRow) => r.artifact_id!;
    rows.sort((a, b) => a.created_at - b.created_at || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return this.readAll(rows.slice(0, limit));
  }

  /** The live credentials among `ids` (a cross-issuer page's share of this issuer), in one read. */
  async many(ids: string[]): Promise<CredentialRead[]> {
    const rows = this.live(ids).flatMap((id) => {
      const row = this.first(id);
      return row && row.kind === "credential" ? [row] : [];
    });
    return this.readAll(rows);
  }

  /** Which of `ids` are live credentials here. */
  live(ids: string[]): string[] {
    return [...new Set([...this.engine.jobs.liveArtifacts(ids), ...this.archive.cold.liveArtifacts(ids)])];
  }

  /**
   * Marks a credential deleted here and, through the outbox, in its credential index row (and in
   * its D1 `credentials` row, for a credential old enough to have one). The route writes the same
   * at once; the outbox makes it survive a failure there. The caller cancels a pending one's
   * operation first. Returns false when there was nothing live to delete.
   */
  delete(id: string, now: number): boolean {
    let deleted = false;
    this.storage.transactionSync(() => {
      const row = this.first(id);
      if (!row) return;
      deleted = this.engine.jobs.markDeleted(id, now);
      if (!deleted) return;
      this.outbox.put(credentialIndexDeletedKey(id), indexDeletion(id, now), now + OUTBOX_GRACE_MS);
      // A cold stub has no context to parse: its cold row says whether D1 has a `credentials` row.
      const legacy =
        row.archived === WHOLE ? this.archive.cold.legacyRow(id) : hasLegacyRow((this.engine.viewOf(row) as CredentialJob).context);
      if (!legacy) return;
      this.outbox.put(
        `credential-deleted:${id}`,
        { sql: "UPDATE credentials SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL", params: [now, id] },
        now + OUTBOX_GRACE_MS,
      );
    });
    return deleted;
  }

  /**
   * Each credential from its first job and the jobs that re-signed it (key rotations), their
   * archived claims read back from R2 in one round for the lot.
   */
  private async readAll(rows: JobRow[]): Promise<CredentialRead[]> {
    const chains = this.chains(rows);
    const signedOf = (row: JobRow) => [row, ...(chains.get(row.id) ?? [])].filter((j) => j.status === "signed");
    const archived = rows
      .flatMap((row) => [row, ...signedOf(row)])
      .filter((j) => j.archived === WHOLE || (j.purged_at !== null && j.archived === 1));
    const back = new Map((await this.archive.hydrateAll([...new Map(archived.map((j) => [j.id, j])).values()])).map((j) => [j.id, j]));
    const whole = (j: JobRow) => back.get(j.id) ?? j;
    return rows.map((row) => this.read(whole(row), signedOf(row).map(whole)));
  }

  /**
   * The re-sign jobs of each of `rows` (key rotations), following the chain: a later rotation
   * re-signs the earlier re-sign job. Oldest first, by the first job's id. Hot and cold links
   * alike, one level (two reads) per rotation the chains went through.
   */
  private chains(rows: JobRow[]): Map<string, JobRow[]> {
    const out = new Map<string, JobRow[]>();
    let frontier = rows.map((r) => ({ row: r, root: r.id }));
    while (frontier.length > 0) {
      const byId = new Map(frontier.map((f) => [f.row.id, f]));
      const bySeq = new Map(frontier.map((f) => [f.row.seq, f]));
      const hot = this.engine.jobs.resigning([...byId.keys()]).map((row) => ({ row, root: byId.get(row.resigns!)!.root }));
      const cold = this.archive.cold.resigning([...bySeq.keys()]).flatMap((row) => {
        const parent = byId.get(row.resigns ?? "");
        return parent ? [{ row, root: parent.root }] : [];
      });
      frontier = [...hot, ...cold];
      for (const { row, root } of frontier) out.set(root, [...(out.get(root) ?? []), row]);
    }
    for (const [root, chain] of out)
      out.set(
        root,
        chain.sort((a, b) => a.seq - b.seq),
      );
    return out;
  }

  private read(first: JobRow, signed: JobRow[]): CredentialRead {
    const job = this.engine.viewOf(first) as CredentialJob;
    const id = job.context.credentialId;
    const flags = job.context.statusPurpose ? this.statusLists.flags(id) : { revoked: false, suspended: false, version: 0 };
    // Newest first: a rotation's re-sign job carries the same claims under the new key's header.
    const present = signed.filter((j) => j.purged_at === null && j.signature !== null);
    const history = present
      .map((j) => ({ jwt: `${j.signing_input}.${j.signature}`, verificationMethodId: j.vm_id, ...iso(j.signed_at) }))
      .reverse();
    // The claims: from the first job, or (dropped there before archiving existed) from a later one.
    const claims = [first, ...signed].find((j) => j.purged_at === null);
    const payload = claims ? (this.engine.viewOf(claims) as CredentialJob).payload : null;
    const base = credentialContainer({ ...job, payload }, flags);
    // A newest JWT that is gone (dropped before archiving existed) leaves the answer to D1's older copy.
    const complete = base !== null && (signed.length === 0 || present[present.length - 1] === signed[signed.length - 1]);
    const container =
      complete && base
        ? {
            ...base,
            ...(history[0] ? { credentialJwt: history[0].jwt, fullyQualifiedVerificationMethodId: history[0].verificationMethodId } : {}),
          }
        : null;
    return {
      id,
      issuer: job.context.issuer,
      operationId: first.operation_id,
      signed: first.status === "signed",
      createdAt: first.created_at,
      container,
      jwtHistory: container ? history : [],
      legacyRow: hasLegacyRow(job.context),
    };
  }
}
