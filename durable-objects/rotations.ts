/**
 * Key rotation (api.md "Key rotation"): `PUT /v1/dids/{method}/{did}/rotate` makes a key the
 * signing key of the DID, and every live artifact signed by the key(s) it replaces is signed again
 * by it. A re-sign job is an ordinary sign job of the artifact's own kind, with the same claims,
 * owned by the rotation's operation `dids/rotations/<id>`; the kind's `resign.swap` puts the new
 * JWT in the artifact's place. Jobs are created by the alarm in turns of ROTATION_BATCH scanned
 * jobs with a real yield between turns, so issuance on the same object waits for at most one turn
 * (a few milliseconds; durable-objects/turns.ts). The rotation counts its jobs instead of settling
 * its operation from their states (it may own 100,000).
 *
 * Done when the scan is over, every re-sign job is signed, no job of an old key is still pending,
 * and every status list the old keys signed is published by the new key: then the old keys leave
 * the did:web document (an outbox write) and are retired. A re-sign job ending unsigned fails the
 * rotation: the old keys stay in the document (their JWTs keep verifying), the rotation's pending
 * jobs are cancelled in batches, and the new key stays the signing key.
 */
import { fail, ok, type Result } from "../src/core/errors";
import { routedId } from "../src/core/ids";
import type { D1Write } from "../src/core/kinds";
import type { IssuerKey, Operation, OperationFailure } from "../src/core/models";
import { OUTBOX_GRACE_MS, type Engine, type RotationService, type Unsigned } from "./engine";
import type { JobRow } from "./jobs";
import type { KeyStore } from "./keys";
import { OperationStore } from "./operations";
import { RotationViews, type RotationRow } from "./rotation-views";
import type { Outbox } from "./outbox";
import { TURN_JOBS, yieldTurn } from "./turns";
import { documentRewrite } from "./did-document-write";
import { ResignTargets, resignInside, type ResignTargetParts } from "./resign-targets";

/**
 * Jobs scanned per turn (each may become a re-sign job, signed at once when custodial): one
 * transaction to create them, one to complete them, then a real yield (durable-objects/turns.ts).
 * At 50 per batch, creates on the rotating issuer waited up to half a second (bench/RESULTS.md).
 */
export const ROTATION_BATCH = TURN_JOBS;
/** Re-sign jobs created between two awaited outbox deliveries: what one delivery carries. */
const DELIVER_EVERY = 50;
/**
 * How long one alarm run keeps creating turns before it lets the alarm re-arm: requests get in
 * between turns, so this bounds only how long the alarm's other duties wait.
 */
const RUN_BUDGET_MS = 200;
/** Artifact ids a failed rotation lists at most. */
const MAX_LISTED = 1_000;

export const ROTATION_PARENT = "dids/rotations";

export interface StartRotation {
  to: IssuerKey;
  /** The keys rotated away (already known to the object, none revoked, none `to`). */
  from: string[];
  method: string;
  origin: string;
  /**
   * did:ion: the anchoring Operation of the Sidetree update that takes the old keys out of the ION
   * document, held (IonAnchors) until the re-signing is done; released then, failed with the rotation.
   */
  documentOperation?: string;
}

export interface RotationParts extends ResignTargetParts {
  storage: DurableObjectStorage;
  engine: () => Engine;
  keys: KeyStore;
  outbox: Outbox;
  did: () => string;
  objectId: () => string;
  /** Moves the auth epoch: open signer sockets re-check their key on their next frame. */
  bumpAuthEpoch: () => void;
  /** The rotation gave status lists a new revision: StatusLists.publish must look for them. */
  listsChanged: () => void;
  /** did:ion anchoring: the held key removal is released when the rotation is done, failed when it fails. */
  anchors: {
    releaseInside(operationId: string, now: number): void;
    failInside(operationId: string, error: string, code: string, now: number): void;
  };
}

export class Rotations implements RotationService {
  private readonly operations: OperationStore;
  private readonly targets: ResignTargets;
  /** The rotation's operation as clients and D1 see it (durable-objects/rotation-views.ts). */
  readonly views: RotationViews;
  /**
   * Whether any rotation is running or cleaning up, read once per instance and kept by the only
   * code that changes it: the engine's hooks run on every signed job, and cost nothing when idle.
   */
  private active: boolean | null = null;

  constructor(private readonly parts: RotationParts) {
    this.operations = new OperationStore(parts.storage.sql);
    this.targets = new ResignTargets(parts);
    this.views = new RotationViews(parts, this.operations);
  }

  private get sql(): SqlStorage {
    return this.parts.storage.sql;
  }

  owns(operationId: string): boolean {
    return operationId.startsWith(`${ROTATION_PARENT}/`) && this.get(operationId) !== null;
  }

  private get(id: string): RotationRow | null {
    return this.sql.exec<RotationRow>("SELECT * FROM rotations WHERE id = ?", id).toArray()[0] ?? null;
  }

  private running(): RotationRow | null {
    if (!this.busy()) return null;
    return this.sql.exec<RotationRow>("SELECT * FROM rotations WHERE state = 'running'").toArray()[0] ?? null;
  }

  private busy(): boolean {
    this.active ??= this.sql.exec("SELECT 1 FROM rotations WHERE state = 'running' OR cleanup = 1 LIMIT 1").toArray().length > 0;
    return this.active;
  }

  /** The key new jobs naming `id` are signed with: its newest successor, or itself. */
  successor(id: string): string {
    let current = id;
    for (let hops = 0; hops < 32; hops++) {
      const next = this.sql
        .exec<{ rotated_to: string | null }>("SELECT rotated_to FROM keys WHERE id = ?", current)
        .toArray()[0]?.rotated_to;
      if (!next) return current;
      current = next;
    }
    return current;
  }

  /** Keys an earlier rotation left in the document (it failed): a new rotation takes them along. */
  leftOver(to: string): string[] {
    return this.sql
      .exec<{ id: string }>("SELECT id FROM keys WHERE rotated_to IS NOT NULL AND retired = 0 AND revoked = 0 AND id <> ?", to)
      .toArray()
      .map((r) => r.id);
  }

  /**
   * Starts a rotation: the operation exists (pending), the old keys point new jobs at the new key,
   * their status lists are re-signed by the new key (the caller publishes them), and the document
   * lists the new key first. The alarm creates the re-sign jobs.
   */
  start(input: StartRotation, now: number): Result<Operation> {
    const running = this.running();
    if (running) return fail("rotation_in_progress", `rotation ${running.id} of this DID is still running`);
    if (input.from.length === 0) return fail("conflict", `${input.to.id} is already the signing key`);
    // A routed id: reads and cancels of it go to this object, at once (api.md "Consistency").
    const id = `${ROTATION_PARENT}/${routedId(this.parts.objectId())}`;
    // The newest job may be cold already (archived past the hot limit): the scan covers both tables.
    const high = Math.max(this.sql.exec<{ s: number | null }>("SELECT max(seq) AS s FROM jobs").one().s ?? 0, this.parts.cold.maxSeq());
    this.parts.storage.transactionSync(() => {
      this.sql.exec(
        `INSERT INTO rotations (id, to_key, from_keys, method, origin, state, cursor, high, created_at, document_operation)
         VALUES (?, ?, ?, ?, ?, 'running', 0, ?, ?, ?)`,
        id,
        input.to.id,
        JSON.stringify(input.from),
        input.method,
        input.origin,
        high,
        now,
        input.documentOperation ?? null,
      );
      this.active = true;
      const from = JSON.stringify(input.from);
      this.sql.exec("UPDATE keys SET rotated_to = ? WHERE id IN (SELECT value FROM json_each(?))", input.to.id, from);
      this.parts.keys.changed();
      // The lists the old keys signed: a new revision signed by the new key (published by the caller).
      this.sql.exec(
        `UPDATE status_lists SET vm_id = ?, revision = revision + 1, publish_attempts = 0
         WHERE vm_id IN (SELECT value FROM json_each(?))`,
        input.to.id,
        from,
      );
      this.parts.listsChanged();
      this.operations.create(id, this.views.progress(this.get(id)!), now);
      if (input.method === "web")
        this.write(`did-document:${this.parts.did()}`, documentRewrite(this.parts.did(), { first: input.to.id }), now);
      this.views.project(id, now);
    });
    return ok(this.views.operation(id)!);
  }

  /** Cancelling a rotation fails it like a rejected re-sign job would: the old keys stay. */
  cancel(id: string, now: number): Result<Operation> {
    const r = this.get(id);
    if (!r) return fail("not_found", `operation ${id} not found`);
    if (r.state !== "running") return fail("operation_done", "the operation is already done");
    this.parts.storage.transactionSync(() => this.failInside(r, "cancelled", "the rotation was cancelled", now));
    return ok(this.views.operation(id)!);
  }

  /** When the alarm has rotation work: a scan to continue, or a failed rotation's jobs to cancel. */
  nextDue(now: number): number | null {
    if (!this.busy()) return null;
    const r = this.sql
      .exec<{ n: number }>("SELECT count(*) AS n FROM rotations WHERE (state = 'running' AND cursor < high) OR cleanup = 1")
      .one();
    return r.n > 0 ? now : null;
  }

  /**
   * The alarm's share: scans and creates re-sign jobs batch after batch (each its own transaction,
   * handed to `dispatch` — custodial keys sign at once, external jobs go to signers), yielding
   * between batches so requests interleave; then a failed rotation's pending jobs are cancelled.
   */
  async run(dispatch: (key: IssuerKey, jobs: JobRow[]) => Promise<void>, deliver: () => Promise<void>): Promise<void> {
    const until = Date.now() + RUN_BUDGET_MS;
    let undelivered = 0;
    for (;;) {
      const r = this.running();
      if (!r || r.cursor >= r.high || Date.now() >= until) break;
      const to = this.parts.keys.local(r.to_key);
      if (!to) break;
      const from = new Set(JSON.parse(r.from_keys) as string[]);
      const created = this.scan(r, to, await this.targets.purgedClaims(this.targets.window(r, ROTATION_BATCH), from));
      if (created.length > 0) await dispatch(to, created);
      // The D1 writes go out every DELIVER_EVERY re-sign jobs, before the scan goes on: the outbox
      // never holds more than a few deliveries' worth, and a delivery is not a whole run's.
      undelivered += created.length;
      if (undelivered >= DELIVER_EVERY) {
        undelivered = 0;
        await deliver();
      }
      // A real turn of the event loop: requests queued on the object run before the next turn.
      await yieldTurn();
    }
    for (const r of this.sql.exec<RotationRow>("SELECT * FROM rotations WHERE cleanup = 1").toArray()) {
      for (;;) {
        // Its re-sign jobs, and the did-operation job of its (failed) did:ion key removal.
        const pending = this.sql
          .exec<JobRow>(
            "SELECT * FROM jobs WHERE operation_id IN (?, ?) AND status = 'pending' LIMIT ?",
            r.id,
            `${r.document_operation}/signature`,
            ROTATION_BATCH,
          )
          .toArray();
        if (pending.length > 0) this.parts.engine().end(pending, { to: "cancelled", code: "cancelled", reason: "its rotation failed" });
        if (pending.length < ROTATION_BATCH) {
          this.sql.exec("UPDATE rotations SET cleanup = 0 WHERE id = ?", r.id);
          this.active = null; // read again: another rotation may be running
          break;
        }
        if (Date.now() >= until) break;
        await yieldTurn();
      }
    }
  }

  /** One batch, in one transaction: the next ROTATION_BATCH jobs past the cursor, re-signed where they need it. */
  private scan(r: RotationRow, to: IssuerKey, purged: Map<string, JobRow>): JobRow[] {
    let created: JobRow[] = [];
    this.parts.storage.transactionSync(() => {
      const now = Date.now();
      const rows = this.targets.window(r, ROTATION_BATCH);
      const due = this.targets.due(rows, new Set(JSON.parse(r.from_keys) as string[]), purged, to, r.origin, now);
      created = resignInside(this.parts.engine(), to, due, r.id, this.parts.objectId(), now);
      const cursor = rows.length < ROTATION_BATCH ? r.high : rows[rows.length - 1]!.seq;
      this.sql.exec("UPDATE rotations SET cursor = ?, created = created + ? WHERE id = ?", cursor, created.length, r.id);
      const after = this.get(r.id)!;
      this.views.setProgress(after, now);
      this.tryComplete(after, now);
    });
    return created;
  }

  // ── engine hooks (inside the transaction that moved the job) ─────────────

  signedInside(job: JobRow, now: number): void {
    const r = this.running();
    if (!r) return;
    const from = JSON.parse(r.from_keys) as string[];
    // A job of an old key that was pending when the scan passed it: re-signed now.
    if (from.includes(job.vm_id) && job.seq <= r.cursor) {
      const to = this.parts.keys.local(r.to_key);
      const row = this.parts.engine().jobs.get(job.id)!;
      if (to && this.targets.needsResign(row, to, r.origin, now)) {
        resignInside(this.parts.engine(), to, [row], r.id, this.parts.objectId(), now);
        this.sql.exec("UPDATE rotations SET created = created + 1 WHERE id = ?", r.id);
      }
    }
    if (job.kind === "status-list" || from.includes(job.vm_id)) this.tryComplete(this.get(r.id)!, now);
  }

  endedInside(job: JobRow, now: number): void {
    const r = this.running();
    if (!r || job.kind !== "status-list" || job.vm_id !== r.to_key) return;
    // A status list's re-signing by the new key ended unsigned (a newer revision superseding it is not a failure).
    const newest = this.sql.exec("SELECT 1 FROM status_lists WHERE job_id = ?", job.id).toArray().length > 0;
    const ended = this.parts.engine().jobs.get(job.id);
    if (newest && ended && ended.status !== "signed" && ended.status !== "pending") {
      const code: OperationFailure =
        ended.status === "rejected" ? "rejected_by_signer" : ended.status === "expired" ? "expired" : "cancelled";
      this.failInside(r, code, `the status list's sign job ended ${ended.status}`, now);
    }
  }

  resignedInside(job: JobRow, now: number): void {
    if (!this.busy()) return;
    const r = this.get(job.operation_id);
    if (!r || r.state !== "running") return;
    this.sql.exec("UPDATE rotations SET signed = signed + 1 WHERE id = ?", r.id);
    this.tryComplete(this.get(r.id)!, now);
  }

  resignEndedInside(job: JobRow, ending: Unsigned, now: number): void {
    if (!this.busy()) return;
    const r = this.get(job.operation_id);
    if (!r || r.state !== "running") return;
    this.failInside(r, ending.code, `a re-sign job ended ${ending.to}: ${ending.reason}`, now);
  }

  // ── ends ─────────────────────────────────────────────────────────────────

  private tryComplete(r: RotationRow, now: number): void {
    if (r.state !== "running" || r.cursor < r.high || r.signed < r.created) return;
    const from = r.from_keys;
    // A job of an old key still waiting for its signer: once signed, it is re-signed too.
    const waiting = this.sql
      .exec("SELECT 1 FROM jobs WHERE status = 'pending' AND resigns IS NULL AND vm_id IN (SELECT value FROM json_each(?)) LIMIT 1", from)
      .toArray().length;
    if (waiting > 0) return;
    // Every list the new key took over is published by it.
    const unpublished = this.sql
      .exec(
        `SELECT 1 FROM status_lists sl WHERE sl.vm_id = ? AND (sl.revision > sl.job_revision OR NOT EXISTS (
           SELECT 1 FROM jobs j WHERE j.id = sl.job_id AND j.status = 'signed' AND j.vm_id = sl.vm_id)) LIMIT 1`,
        r.to_key,
      )
      .toArray().length;
    if (unpublished > 0) return;
    this.sql.exec("UPDATE rotations SET state = 'done', ended_at = ? WHERE id = ?", now, r.id);
    this.active = null;
    this.sql.exec("UPDATE keys SET retired = 1 WHERE id IN (SELECT value FROM json_each(?))", from);
    this.parts.keys.changed();
    // A retired key authenticates nobody: the Worker's DID-auth gate reads D1, sockets the object.
    this.write(
      `keys-retired:${r.id}`,
      {
        sql: "UPDATE keys SET retired_at = ?2 WHERE id IN (SELECT value FROM json_each(?1)) AND retired_at IS NULL",
        params: [from, now],
      },
      now,
    );
    this.parts.bumpAuthEpoch();
    // did:web: the old keys leave the document the service serves, now. did:ion: the Sidetree
    // update removing them, held since the start, goes to the node now (`documentOperation`, done
    // when the node accepted it; the service's record of the document changes then).
    if (r.document_operation) this.parts.anchors.releaseInside(r.document_operation, now);
    const response = {
      ...this.views.progress({ ...r, state: "done" }),
      removed: JSON.parse(from) as string[],
      documentUpdated: r.method === "web",
      ...(r.document_operation ? { documentOperation: r.document_operation } : {}),
    };
    this.operations.finish(r.id, { response }, now);
    if (r.method === "web") {
      this.write(
        `did-document:${this.parts.did()}`,
        documentRewrite(this.parts.did(), { first: r.to_key, without: JSON.parse(from) }),
        now,
      );
    }
    this.views.project(r.id, now);
  }

  private failInside(r: RotationRow, code: OperationFailure, error: string, now: number): void {
    this.sql.exec("UPDATE rotations SET state = 'failed', cleanup = 1, ended_at = ? WHERE id = ?", now, r.id);
    // The old keys stay: the did:ion update that would have removed them is never posted.
    if (r.document_operation) this.parts.anchors.failInside(r.document_operation, "its key rotation failed", "cancelled", now);
    const notResigned: string[] = [];
    const unsigned = this.sql
      .exec<JobRow>("SELECT * FROM jobs WHERE operation_id = ? AND status <> 'signed' ORDER BY seq LIMIT ?", r.id, MAX_LISTED)
      .toArray();
    for (const job of unsigned) {
      const kind = this.parts.kinds[job.kind];
      if (kind?.resign) notResigned.push(kind.resign.artifact(kind.context.parse(JSON.parse(job.context))).id);
    }
    const scanned = r.cursor >= r.high;
    const detail = scanned ? "" : " (the scan had not finished: artifacts not reached yet are not listed)";
    this.operations.finish(r.id, { error: `${error}; the old keys stay in the document${detail}`, code, notResigned }, now);
    this.views.project(r.id, now);
  }

  private write(key: string, write: D1Write, now: number): void {
    this.parts.outbox.put(key, write, now + OUTBOX_GRACE_MS);
  }
}
