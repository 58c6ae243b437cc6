import { base64url } from "jose";
import { fail, ok, type Result } from "../src/core/errors";
import type { AnyKind, KindContext, KindJob, StatusService } from "../src/core/kinds";
import type { IssuerKey, Operation, OperationFailure } from "../src/core/models";
import { payloadOf, type Ending, type JobRow, type JobStore, type NewJob } from "./jobs";
import type { KeyStore } from "./keys";
import { OperationStore, parentOf, resultOfOne, type OperationRow } from "./operations";
import { OperationViews } from "./operation-views";
import type { Outbox } from "./outbox";
import { earliest } from "./alarm-clock";

/** Grace before the alarm delivers an outbox row itself; the inline delivery normally wins. */
export const OUTBOX_GRACE_MS = 5_000;

/**
 * What the object hears from the engine: jobs ended unsigned (signers are told, leases go), a job
 * signed, due times moved (`written`: the earliest due time the change stored, when the engine
 * knows it; see Upkeep.rearm).
 */
export type EngineHooks = { ended(ids: string[]): void; signed(ids: string[]): void; rearm(written?: number | null): void };

export interface EngineParts {
  storage: DurableObjectStorage;
  jobs: JobStore;
  keys: KeyStore;
  outbox: Outbox;
  did: () => string;
  /** This object's id (hex), the prefix of every id it makes. */
  objectId: string;
  /** The registry (durable-objects/kinds); tests add kinds of their own. */
  kinds: Readonly<Record<string, AnyKind>>;
  status: StatusService;
  /** did:ion anchoring, for the did-operation kind. */
  anchors: AnchorService;
  /** Key rotation: settles re-sign jobs, and hears of every other job's end (durable-objects/rotations.ts). */
  rotations: RotationService;
  hooks: EngineHooks;
  ttlMs: number;
}

export interface AnchorService {
  submitInside(operationId: string, request: unknown, now: number): void;
  failInside(operationId: string, error: string, code: string, now: number): void;
}

export type Unsigned = Exclude<Ending, { to: "signed" }>;

/**
 * A rotation's re-sign jobs belong to its operation (`dids/rotations/<id>`), which may own
 * 100,000 of them: the rotation counts them instead of the engine settling that operation from
 * every job's state. All hooks run inside the transaction that moved the job.
 */
export interface RotationService {
  /** A job that is not a re-sign job was signed (a late job of a key being rotated away, a status list). */
  signedInside(job: JobRow, now: number): void;
  /** A job that is not a re-sign job ended unsigned (a status list the rotation waits for). */
  endedInside(job: JobRow, now: number): void;
  /** A re-sign job was signed. */
  resignedInside(job: JobRow, now: number): void;
  /** A re-sign job ended unsigned: its rotation fails. */
  resignEndedInside(job: JobRow, ending: Unsigned, now: number): void;
}

const b64json = (v: unknown) => base64url.encode(JSON.stringify(v));

/**
 * The SignJob state machine of one issuer. Every transition is synchronous SQLite inside
 * `transactionSync`, so the object's single thread serialises creation, signing, rejection,
 * cancellation and expiry. The only per-kind code is the kinds' hooks.
 */
export class Engine {
  readonly jobs: JobStore;
  readonly operations: OperationStore;
  /** Operations as D1 and clients see them: projected after every change, answered whole. */
  readonly views: OperationViews;
  private readonly storage: DurableObjectStorage;

  constructor(readonly parts: EngineParts) {
    this.storage = parts.storage;
    this.jobs = parts.jobs;
    this.operations = new OperationStore(parts.storage.sql);
    this.views = new OperationViews({
      operations: this.operations,
      jobs: this.jobs,
      did: () => parts.did(),
      kind: (name) => this.kind(name),
      view: (kind, row) => this.view(kind, row),
      write: (entity, write) => parts.outbox.put(entity, write, Date.now() + OUTBOX_GRACE_MS),
    });
  }

  /**
   * One transaction of the state machine: its outbox puts and audit rows are held and written as
   * one multi-row statement each when it ends (Outbox.within, JobStore.within).
   */
  tx(fn: () => void): void {
    this.storage.transactionSync(() => this.parts.outbox.within(() => this.jobs.within(fn)));
    // Committed: the next delivery round sends this transaction's outbox rows from memory.
    this.parts.outbox.committed();
  }

  /** Moved by every hand-over to the anchors: a create that moved it re-arms in full (their due times are their own). */
  private anchoring = 0;

  /**
   * The operations the last create made that own exactly one of its jobs, as written, at the
   * JobStore version it left: while no job has changed since, each still has that one job, pending.
   */
  private lastCreate: { version: number; sole: Map<string, OperationRow> } | null = null;

  private kind(name: string): AnyKind {
    const kind = this.parts.kinds[name];
    if (!kind) throw new Error(`no kind ${name} is registered`);
    return kind;
  }

  context(key: IssuerKey, origin: string, now: number, operationId?: string): KindContext {
    return {
      now,
      did: this.parts.did(),
      origin,
      key,
      objectId: this.parts.objectId,
      ...(operationId !== undefined ? { operationId } : {}),
      write: (entity, write) => this.parts.outbox.put(entity, write, now + OUTBOX_GRACE_MS),
      anchors: {
        submit: (operationId, request) => {
          this.anchoring++;
          this.parts.anchors.submitInside(operationId, request, now);
        },
        fail: (operationId, error, code) => {
          this.anchoring++;
          this.parts.anchors.failInside(operationId, error, code, now);
        },
      },
      status: {
        allocate: (purpose, credentialId, format) =>
          this.parts.status.allocate(purpose, credentialId, format, { origin, now, vmId: key.id }),
        flags: (credentialId) => this.parts.status.flags(credentialId),
      },
    };
  }

  /** A job as its kind sees it: the context parsed by the kind's schema, the claims unless purged. */
  view(kind: AnyKind, row: JobRow): KindJob<unknown> {
    const claims = row.purged_at === null;
    return {
      id: row.id,
      operationId: row.operation_id,
      createdAt: row.created_at,
      status: row.status,
      context: kind.context.parse(JSON.parse(row.context)),
      payload: claims ? payloadOf(row) : null,
      jwt: claims && row.status === "signed" && row.signature !== null ? `${row.signing_input}.${row.signature}` : null,
    };
  }

  /** A job as its kind sees it, for reads answered by the object (a credential by id). */
  viewOf(row: JobRow): KindJob<unknown> {
    return this.view(this.kind(row.kind), row);
  }

  /**
   * Creates one job per artifact in one transaction, each in the operation its kind names (or all
   * in `operationId`: an operation may own several jobs). `alsoInside` runs in that transaction,
   * for records that must land with the jobs or not at all, and answers the earliest due time it
   * stored (null: none), which the alarm is armed for with the jobs' own.
   */
  create(
    key: IssuerKey,
    origin: string,
    artifacts: readonly { kind: string; input: unknown }[],
    objectId: string,
    options: { operationId?: string; alsoInside?: (operationIds: string[], now: number) => number | null } = {},
  ): { operationIds: string[]; jobs: JobRow[] } {
    // A custodial job is signed right after this transaction, and its operation projected then;
    // projecting the pending state first would only be overwritten before it is delivered.
    const projectPending = key.custody !== "custodial";
    const now = Date.now();
    const ctx = this.context(key, origin, now, options.operationId);
    const created: JobRow[] = [];
    const operationIds: string[] = [];
    // Operations this transaction made (not opened earlier): projected from the rows in hand.
    const fresh = new Map<string, OperationRow>();
    const nested = this.parts.outbox.holding;
    const written: (number | null)[] = [artifacts.length > 0 ? now + this.parts.ttlMs : null];
    const anchoring = this.anchoring;
    this.tx(() => {
      // Every artifact is prepared first; then its operations and its jobs are written with one
      // multi-row statement each, in request order (a batch of 1000 is two inserts, not 2000).
      const ops: { id: string; pending: unknown }[] = [];
      const rows: NewJob[] = [];
      for (const artifact of artifacts) {
        const kind = this.kind(artifact.kind);
        const prepared = kind.prepare(ctx, kind.input.parse(artifact.input));
        const header = kind.bareHeader ? { ...prepared.header, alg: key.alg } : { ...prepared.header, alg: key.alg, kid: key.id };
        const pending = prepared.pending === undefined ? undefined : (kind.compact?.(prepared.pending) ?? prepared.pending);
        ops.push({ id: prepared.operationId, pending });
        rows.push({
          id: `${objectId}.${base64url.encode(crypto.getRandomValues(new Uint8Array(12)))}`,
          kind: artifact.kind,
          operation_id: prepared.operationId,
          vm_id: key.id,
          alg: key.alg,
          key_ref: key.keyRef ?? null,
          signing_input: `${b64json(header)}.${b64json(prepared.payload)}`,
          context: JSON.stringify(prepared.context),
          artifact_id: prepared.artifactId ?? null,
          created_at: now,
          expires_at: now + this.parts.ttlMs,
        });
      }
      // An operation opened before its jobs (an application under review) is theirs all the same.
      const opened = this.operations.createMany(ops, now);
      for (const { id, pending } of ops) {
        if (opened.has(id) ? !fresh.has(id) : id === options.operationId && !operationIds.includes(id)) operationIds.push(id);
        if (opened.has(id) && !fresh.has(id)) {
          const result = pending === undefined ? null : JSON.stringify({ response: pending });
          fresh.set(id, { id, parent: parentOf(id), done: 0, result, created_at: now, updated_at: now });
        }
      }
      created.push(...this.jobs.insertMany(rows));
      if (projectPending) {
        const jobsOf = new Map<string, JobRow[]>();
        for (const j of created) jobsOf.set(j.operation_id, [...(jobsOf.get(j.operation_id) ?? []), j]);
        for (const opId of operationIds) {
          const row = fresh.get(opId);
          if (row) this.views.projectRow(row, jobsOf.get(opId) ?? []);
          else this.views.project(opId);
        }
      }
      const also = options.alsoInside?.(operationIds, now);
      if (also !== undefined) written.push(also);
    });
    const jobCount = new Map<string, number>();
    for (const j of created) jobCount.set(j.operation_id, (jobCount.get(j.operation_id) ?? 0) + 1);
    const sole = new Map([...fresh].filter(([id]) => jobCount.get(id) === 1));
    this.lastCreate = { version: this.jobs.version, sole };
    // The due times this transaction stored are known (its jobs' expiry, its outbox rows, what
    // `alsoInside` reports), unless a kind handed a did:ion operation to the anchors (their own
    // schedule) or this create ran inside another change's transaction (its rows are that one's).
    written.push(this.parts.outbox.earliestWritten);
    const tracked = this.anchoring === anchoring;
    this.parts.hooks.rearm(tracked && !nested ? earliest(written) : undefined);
    return { operationIds, jobs: created };
  }

  /**
   * Completes jobs the in-process (custodial) signer signed: the signatures are ours, so none is
   * verified again. `pendingAt`: the JobStore version at which all of `jobs` were pending.
   */
  completeInProcess(key: IssuerKey, jobs: JobRow[], signatures: string[], origin: string, pendingAt?: number): void {
    const ctx = this.context(key, origin, Date.now());
    this.tx(() => {
      // The backlog signer (alarm) or a cancellation may have ended some during the signing await;
      // when no job changed since they were known pending (JobStore.version), none was.
      const unchanged = pendingAt === this.jobs.version;
      const pending = unchanged ? new Set(jobs.map((j) => j.id)) : this.jobs.pendingAmong(jobs.map((j) => j.id));
      // The operations the last create made with one job each, when nothing changed since: known
      // without asking which of these operations own one job.
      const sole = unchanged && this.lastCreate?.version === pendingAt ? this.lastCreate.sole : undefined;
      const items = jobs.flatMap((job, i) => (pending.has(job.id) ? [{ job, signature: signatures[i]! }] : []));
      const signed = this.acceptMany(ctx, items, sole);
      // Custodial jobs are not offered to signers, but a lease row must not outlive its job in any case.
      this.parts.hooks.signed(signed.map((j) => j.id));
    });
    // No re-arm here: the create armed the alarm for these jobs (the backlog signer's, should the
    // object stop now), and every caller ends with the object's re-arm (afterChange, or the alarm's).
  }

  /** Cancels an operation's pending jobs; a done operation (expiry counts, as for a signature) is refused. */
  cancelOperation(operationId: string, reason: string): Result<Operation> {
    if (!this.operations.get(operationId)) return fail("not_found", `operation ${operationId} not found`);
    const now = Date.now();
    const pending = this.jobs.byOperation(operationId).filter((j) => j.status === "pending");
    this.expire(pending.filter((j) => j.expires_at <= now));
    if (this.operations.get(operationId)?.done === 1) return fail("operation_done", "the operation is already done");
    if (this.jobs.idsOf(operationId).length === 0) {
      // Nothing to sign (an application waiting for review, a did:ion anchoring between attempts): the
      // operation itself ends, and an anchoring is dropped so no later attempt posts what was cancelled.
      this.tx(() => {
        this.parts.anchors.failInside(operationId, reason, "cancelled", now);
        this.operations.fail(operationId, { error: reason, code: "cancelled" }, now);
        this.views.project(operationId);
      });
      return ok(this.views.operation(operationId)!);
    }
    this.end(pending, { to: "cancelled", code: "cancelled", reason });
    return ok(this.views.operation(operationId)!);
  }

  /**
   * pending → signed, then the kind's finaliser and the operation. Inside a transaction. Returns
   * the job as it now stands, built from what was written (no read back). Leases are the caller's
   * to release, once for the lot (custodial jobs are never leased).
   */
  accept(ctx: KindContext, job: JobRow, signature: string): JobRow {
    const signed = this.finalised(ctx, job, signature);
    if (!this.jobs.end(job.id, { to: "signed", signature, responseJson: signed.response! }, ctx.now)) {
      throw new Error(`sign job ${job.id} was not pending when signed`);
    }
    this.jobs.audit(job.id, "signed", null, ctx.now);
    if (job.resigns !== null) {
      this.parts.rotations.resignedInside(job, ctx.now);
      return signed;
    }
    this.settle(job.operation_id, ctx, undefined, signed);
    this.parts.rotations.signedInside(job, ctx.now);
    return signed;
  }

  /**
   * `accept` for many pending jobs, each with its signature, answered in their order: jobs that are
   * their operation's only one go through `acceptSoles` (two statements for them all), the others
   * one by one. The jobs must be distinct. `known`: operations already known to own exactly one job,
   * pending (the last create's); without it, one query finds them. Inside a transaction.
   */
  acceptMany(ctx: KindContext, items: { job: JobRow; signature: string }[], known?: Map<string, OperationRow>): JobRow[] {
    const sole = known ?? this.operations.soleOf([...new Set(items.filter((i) => i.job.resigns === null).map((i) => i.job.operation_id))]);
    const isSole = (i: { job: JobRow }) => i.job.resigns === null && sole.has(i.job.operation_id);
    const bulk = items.filter(isSole);
    const signed = new Map<string, JobRow>();
    for (const row of this.acceptSoles(
      ctx,
      bulk.map((i) => i.job),
      bulk.map((i) => i.signature),
      sole,
    ))
      signed.set(row.id, row);
    for (const i of items) if (!isSole(i)) signed.set(i.job.id, this.accept(ctx, i.job, i.signature));
    return items.map((i) => signed.get(i.job.id)!);
  }

  /**
   * `accept` for jobs that are each the one job of their operation (`sole`: its row), all pending:
   * the same finaliser, audit row and result, with the jobs' and the operations' updates written as
   * one statement each instead of two per job (a custodial batch's). Inside a transaction.
   */
  private acceptSoles(ctx: KindContext, jobs: JobRow[], signatures: string[], sole: Map<string, OperationRow>): JobRow[] {
    if (jobs.length === 0) return [];
    const signed = jobs.map((job, i) => this.finalised(ctx, job, signatures[i]!));
    for (const job of signed) this.jobs.audit(job.id, "signed", null, ctx.now);
    const ends = signed.map((j) => ({ id: j.id, signature: j.signature!, responseJson: j.response! }));
    if (this.jobs.endSigned(ends, ctx.now) !== ends.length) throw new Error("a sign job was not pending when signed");
    const results = signed.map((j) => ({ id: j.operation_id, stored: resultOfOne(j.response) }));
    if (this.operations.doneMany(results, ctx.now) !== results.length) throw new Error("an operation was done before its one job");
    signed.forEach((job, i) => {
      this.views.projectRow({ ...sole.get(job.operation_id)!, done: 1, result: results[i]!.stored, updated_at: ctx.now }, [job]);
      this.parts.rotations.signedInside(job, ctx.now);
    });
    return signed;
  }

  /** A job signed with `signature` as it will stand: its kind's finaliser run (or a re-sign's swap), the response JSON once. */
  private finalised(ctx: KindContext, job: JobRow, signature: string): JobRow {
    const kind = this.kind(job.kind);
    const jwt = `${job.signing_input}.${signature}`;
    // A re-sign job swaps its artifact's JWT; every other job finalises its artifact.
    const resign = job.resigns !== null ? kind.resign : undefined;
    if (job.resigns !== null && !resign) throw new Error(`kind ${job.kind} cannot be re-signed`);
    const full = resign ? resign.swap(ctx, this.view(kind, job), jwt) : kind.finalise(ctx, this.view(kind, job), jwt);
    const response = resign ? full : (kind.compact?.(full) ?? full);
    const responseJson = JSON.stringify(response ?? null);
    return { ...job, status: "signed", signature, response: responseJson, signed_at: ctx.now, ended_at: ctx.now };
  }

  /** Ends pending jobs without a signature (rejected, cancelled, expired, superseded) and fails their operations. */
  end(jobs: JobRow[], ending: Unsigned, origin = ""): string[] {
    const ended: string[] = [];
    const now = Date.now();
    this.tx(() => {
      for (const job of jobs) {
        if (!this.jobs.end(job.id, ending, now)) continue;
        ended.push(job.id);
        this.jobs.audit(job.id, ending.to, ending.to === "expired" ? null : { reason: ending.reason }, now);
        const key = this.parts.keys.local(job.vm_id);
        if (!key) continue;
        if (job.resigns !== null) {
          // The artifact keeps its JWT: only the rotation fails.
          this.parts.rotations.resignEndedInside(job, ending, now);
          continue;
        }
        const ctx = this.context(key, origin, now);
        const kind = this.kind(job.kind);
        kind.failed?.(ctx, this.view(kind, this.jobs.get(job.id)!));
        this.settle(job.operation_id, ctx, ending.code);
        this.parts.rotations.endedInside(job, now);
      }
    });
    if (ended.length > 0) this.parts.hooks.ended(ended);
    this.parts.hooks.rearm();
    return ended;
  }

  expire(jobs: JobRow[]): string[] {
    return jobs.length === 0 ? [] : this.end(jobs, { to: "expired", code: "expired", reason: "sign job expired" });
  }

  /** Done when all of an operation's jobs are signed; failed (pending siblings cancelled) when any ended unsigned. */
  private settle(operationId: string, ctx: KindContext, failure?: OperationFailure, signed?: JobRow): void {
    const states = this.operations.withStates(operationId);
    const { orphans, row } = this.operations.settle(operationId, states.jobs, ctx.now, failure, states.row);
    const ending: Unsigned = { to: "cancelled", code: "cancelled", reason: "another sign job of its operation failed" };
    for (const orphan of orphans) {
      if (!this.jobs.end(orphan.id, ending, ctx.now)) continue;
      const kind = this.kind(orphan.kind);
      kind.failed?.(ctx, this.view(kind, this.jobs.get(orphan.id)!));
      this.parts.hooks.ended([orphan.id]);
    }
    // An operation of the one job just signed is projected from the rows in hand.
    if (row && signed && orphans.length === 0 && states.jobs.length === 1 && states.jobs[0]!.id === signed.id) {
      this.views.projectRow(row, [signed]);
    } else {
      this.views.project(operationId);
    }
  }

  /**
   * An operation with no job yet (an application waiting for review): jobs join it later through
   * `create` with its id. Opening one that exists changes nothing.
   */
  open(operationId: string): Operation {
    if (!this.operations.get(operationId)) {
      this.tx(() => {
        this.operations.create(operationId, undefined, Date.now());
        this.views.project(operationId);
      });
    }
    return this.views.operation(operationId)!;
  }
}
