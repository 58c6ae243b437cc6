import { base64url } from "jose";
import { decodeSignature, splitCompactJws, verifySignature } from "../src/crypto";
import type { ProblemCode } from "../src/core/errors";
import type { IssuerKey } from "../src/keys/model";
import type { Operation, SignJob, Submission } from "../src/signjobs/model";
import { JobStore, type Ending, type JobRow } from "./jobs";
import type { KeyStore } from "./keys";
import { kindHandler, type JobSpec, type KindContext, type StatusAllocation, type StatusPurpose } from "./kinds";
import { OperationStore, operationWrite } from "./operations";
import type { Outbox } from "./outbox";

/** Expected failures cross RPC as values; a thrown error is a bug. */
export type Result<T> = { ok: true; value: T } | { ok: false; code: ProblemCode; detail: string; job?: SignJob };

export const fail = (code: ProblemCode, detail: string, job?: SignJob): Result<never> => ({
  ok: false,
  code,
  detail,
  ...(job ? { job } : {}),
});

/** Grace before the alarm delivers an outbox row itself; the inline delivery normally wins. */
const OUTBOX_GRACE_MS = 5_000;

export interface EngineHooks {
  /** New or re-offered pending jobs of external keys, for connected signers. */
  offer(jobs: SignJob[]): void;
  /** Jobs that ended without a signature, for connected signers. */
  ended(ids: string[]): void;
  /** A job that was signed, so its lease can go. */
  signed(id: string): void;
  allocateStatus(
    purpose: StatusPurpose,
    credentialId: string,
    origin: string,
    now: number,
    format: "jwt_vc" | "vc+jwt",
    vmId: string,
  ): StatusAllocation;
  statusOf(credentialId: string): { revoked: boolean; suspended: boolean; version: number };
  /** Something changed the alarm's due times. */
  rearm(): void;
}

const enc = new TextEncoder();
const b64json = (v: unknown) => base64url.encode(JSON.stringify(v));

/**
 * The SignJob state machine of one issuer. Every transition is synchronous SQLite inside
 * `transactionSync`, so the object's single thread serialises creation, signing and cancellation.
 */
export class Engine {
  readonly jobs: JobStore;
  readonly operations: OperationStore;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly keys: KeyStore,
    private readonly outbox: Outbox,
    private readonly did: () => string,
    private readonly hooks: EngineHooks,
    private readonly ttlMs: () => number,
  ) {
    this.jobs = new JobStore(storage.sql, did);
    this.operations = new OperationStore(storage.sql);
  }

  private context(key: IssuerKey, origin: string, now: number): KindContext {
    return {
      now,
      did: this.did(),
      origin,
      key,
      write: (k, w) => this.outbox.put(k, w, now + OUTBOX_GRACE_MS),
      allocateStatus: (purpose, credentialId, format) =>
        this.hooks.allocateStatus(purpose, credentialId, origin, now, format, key.id),
      statusOf: (credentialId) => this.hooks.statusOf(credentialId),
    };
  }

  /**
   * Creates one job per spec (and one operation per distinct operation id) in one transaction.
   * `alsoInside` runs in that same transaction, for records that must land with the jobs or not at all.
   */
  create(
    key: IssuerKey,
    origin: string,
    specs: JobSpec[],
    objectId: string,
    alsoInside?: (operationIds: string[], now: number) => void,
  ): { operationIds: string[]; jobs: JobRow[] } {
    // A custodial job is signed right after this transaction, and its operation projected then;
    // projecting the pending state first would only be overwritten before it is delivered.
    const projectPending = key.custody !== "custodial";
    const now = Date.now();
    const ctx = this.context(key, origin, now);
    const created: JobRow[] = [];
    const operationIds: string[] = [];
    this.storage.transactionSync(() => {
      for (const spec of specs) {
        const prepared = kindHandler(spec.kind).prepare(ctx, spec);
        const header = { ...prepared.header, alg: key.alg, kid: key.id };
        const signingInput = `${b64json(header)}.${b64json(prepared.payload)}`;
        const id = `${objectId}.${base64url.encode(crypto.getRandomValues(new Uint8Array(12)))}`;
        const handler = kindHandler(spec.kind);
        const pending = prepared.pendingResponse === undefined ? undefined : (handler.compact?.(prepared.pendingResponse) ?? prepared.pendingResponse);
        if (this.operations.create(spec.operationId, pending, now)) operationIds.push(spec.operationId);
        const row: JobRow = {
          seq: 0,
          id,
          kind: spec.kind,
          operation_id: spec.operationId,
          vm_id: key.id,
          alg: key.alg,
          key_ref: key.keyRef ?? null,
          signing_input: signingInput,
          context: JSON.stringify(prepared.context),
          status: "pending",
          created_at: now,
          expires_at: now + this.ttlMs(),
          signed_at: null,
          signature: null,
          response: null,
          ended_at: null,
          reason: null,
          purged_at: null,
        };
        row.seq = this.jobs.insert(row);
        created.push(row);
      }
      if (projectPending) for (const opId of operationIds) this.project(opId);
      alsoInside?.(operationIds, now);
    });
    this.hooks.rearm();
    return { operationIds, jobs: created };
  }

  /** The in-process signer of custodial keys takes the same path as a remote one, minus the network. */
  async signCustodial(key: IssuerKey, jobs: JobRow[], origin: string): Promise<void> {
    const sign = await this.keys.signer(key);
    const signatures = await Promise.all(jobs.map((j) => sign(enc.encode(j.signing_input))));
    const now = Date.now();
    const ctx = this.context(key, origin, now);
    this.storage.transactionSync(() => {
      jobs.forEach((job, i) => {
        // The backlog signer (alarm) or a cancellation may have ended it during the await.
        if (this.jobs.statusOf(job.id) === "pending") this.accept(ctx, job, base64url.encode(signatures[i]!));
      });
    });
    this.hooks.rearm();
  }

  /**
   * Checks a signer's submission and, if it is the first valid one, signs the job.
   * Verification happens before anything changes; the state is re-read after the await.
   */
  async submit(jobId: string, submission: Submission, origin: string): Promise<Result<SignJob>> {
    const job = this.jobs.get(jobId);
    if (!job) return fail("not_found", `sign job ${jobId} not found`);
    const key = await this.keys.get(job.vm_id);
    if (!key) return fail("not_found", `key ${job.vm_id} not found`);

    let signature: Uint8Array;
    if (submission.jws !== undefined) {
      const split = splitCompactJws(job.alg, submission.jws);
      if (!split.ok) return this.invalid(job, split.message);
      // A job past retention no longer has its signing input to compare with; it is no longer
      // pending either, so the signature alone decides the answer (same: 200, other: 409).
      if (job.purged_at === null && split.value.signingInput !== job.signing_input) {
        return this.invalid(job, "the JWS signs a different header or payload than this job");
      }
      signature = split.value.signature;
    } else {
      const decoded = decodeSignature(job.alg, submission.signature ?? "", submission.signatureFormat ?? "jose");
      if (!decoded.ok) return this.invalid(job, decoded.message);
      signature = decoded.value;
    }
    const encoded = base64url.encode(signature);

    const early = this.settledAnswer(job, encoded);
    if (early) return early;
    if (!(await verifySignature(job.alg, key.publicJwk, enc.encode(job.signing_input), signature))) {
      return this.invalid(job, `signature does not verify against ${job.vm_id}`);
    }

    // Other submissions may have landed during the await.
    const now = Date.now();
    let outcome: Result<SignJob> | null = null;
    this.storage.transactionSync(() => {
      const current = this.jobs.get(jobId)!;
      outcome = this.settledAnswer(current, encoded);
      if (outcome) return;
      this.accept(this.context(key, origin, now), current, encoded);
      outcome = { ok: true, value: this.jobs.toSignJob(this.jobs.get(jobId)!) };
    });
    // No re-arm here: every caller ends with the object's afterChange, once per request or batch.
    return outcome!;
  }

  /** The answer for a job that is no longer open to a signature, or null if it is. */
  private settledAnswer(job: JobRow, signature: string): Result<SignJob> | null {
    if (job.status === "signed") {
      return job.signature === signature
        ? { ok: true, value: this.jobs.toSignJob(job) }
        : fail("job_already_signed", "this sign job is already signed with another signature", this.jobs.toSignJob(job));
    }
    if (job.status === "pending" && job.expires_at <= Date.now()) {
      this.expire([job]);
      return fail("job_not_pending", "sign job expired", this.jobs.toSignJob(this.jobs.get(job.id)!));
    }
    if (job.status !== "pending") {
      return fail("job_not_pending", `sign job is ${job.status}`, this.jobs.toSignJob(job));
    }
    return null;
  }

  private invalid(job: JobRow, detail: string): Result<never> {
    this.jobs.audit(job.id, "invalid_signature", { detail }, Date.now());
    return fail("invalid_signature", detail, this.jobs.toSignJob(job));
  }

  /** pending → signed, then the kind's finaliser and the operation. Inside a transaction. */
  private accept(ctx: KindContext, job: JobRow, signature: string): void {
    const jwt = `${job.signing_input}.${signature}`;
    const handler = kindHandler(job.kind);
    const full = handler.finalise(ctx, job, jwt);
    const response = handler.compact?.(full) ?? full;
    if (!this.jobs.end(job.id, { to: "signed", signature, response }, ctx.now)) {
      throw new Error(`sign job ${job.id} was not pending when signed`);
    }
    this.jobs.audit(job.id, "signed", null, ctx.now);
    this.hooks.signed(job.id);
    this.settle(job.operation_id, ctx);
  }

  /** Ends pending jobs without a signature (reject, cancel, expiry) and fails their operations. */
  endJobs(jobs: JobRow[], ending: Exclude<Ending, { to: "signed" }>, origin = ""): string[] {
    const ended: string[] = [];
    const now = Date.now();
    this.storage.transactionSync(() => {
      for (const job of jobs) {
        if (!this.jobs.end(job.id, ending, now)) continue;
        ended.push(job.id);
        this.jobs.audit(job.id, ending.to, ending.to === "expired" ? null : { reason: ending.reason }, now);
        const key = this.keys.local(job.vm_id);
        const ctx = key ? this.context(key, origin, now) : null;
        if (ctx) kindHandler(job.kind).failed?.(ctx, this.jobs.get(job.id)!);
        if (ctx) this.settle(job.operation_id, ctx);
      }
    });
    if (ended.length > 0) this.hooks.ended(ended);
    this.hooks.rearm();
    return ended;
  }

  expire(jobs: JobRow[]): string[] {
    return this.endJobs(jobs, { to: "expired" });
  }

  private settle(operationId: string, ctx: KindContext): void {
    const { orphans } = this.operations.settle(operationId, this.jobs.statesOf(operationId), ctx.now);
    for (const orphan of orphans) {
      if (this.jobs.end(orphan.id, { to: "cancelled", reason: "another sign job of its operation failed" }, ctx.now)) {
        kindHandler(orphan.kind).failed?.(ctx, this.jobs.get(orphan.id)!);
        this.hooks.ended([orphan.id]);
      }
    }
    this.project(operationId);
  }

  /** Writes the operation's current state to the outbox for D1. */
  project(operationId: string): void {
    const op = this.operation(operationId);
    if (op) this.outbox.put(`operation:${operationId}`, operationWrite(this.did(), op), Date.now() + OUTBOX_GRACE_MS);
  }

  /** The operation as clients see it: stored responses are compact, and made whole from the jobs here. */
  operation(operationId: string): Operation | null {
    const op = this.operations.toOperation(operationId, this.jobs.idsOf(operationId));
    if (!op?.result || op.result.response === undefined) return op;
    const jobs = this.jobs.byOperation(operationId);
    const expand = (stored: unknown, job: JobRow | undefined) => (job ? (kindHandler(job.kind).expand?.(stored, job) ?? stored) : stored);
    const stored = op.result.response as { results?: unknown };
    const response =
      op.done && jobs.length > 1 && Array.isArray(stored.results)
        ? { results: stored.results.map((r, i) => expand(r, jobs[i])) }
        : expand(stored, jobs[0]);
    return { ...op, result: { ...op.result, response } };
  }
}
