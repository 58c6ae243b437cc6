import { fail, ok, type Result } from "../src/core/errors";
import type { IdempotencyClaim } from "../src/core/idempotency";
import type { IssuerKey, Operation } from "../src/core/models";
import type { CustodialSigner } from "./custodial-signer";
import type { Engine } from "./engine";
import type { IdempotencyStore } from "./idempotency";
import type { JobRow } from "./jobs";
import type { KeyStore } from "./keys";
import type { ArtifactRequest } from "./kinds";
import type { Leases } from "./leases";
import { Load } from "./load";
import type { IssuerMeta } from "./meta";
import type { Rotations } from "./rotations";
import type { StatusLists } from "./status-lists";

/** The ids the service gives did:ion update and recovery keys (src/did/keys-add.ts). */
const ION_OPERATION_KEY = /#ion-(update|recovery)(-\d+)?$/;

/** The generic create: artifacts of any registered kinds, signed by one key of one issuer. */
export interface CreateArtifactsInput {
  did: string;
  verificationMethodId: string;
  /** The service origin, for URLs inside artifacts (status lists). */
  origin: string;
  artifacts: ArtifactRequest[];
  /** Every job joins this one operation (done when all are signed); without it, each kind names its own. */
  operationId?: string;
  /** With a claim, a repeat of the same create answers the first one's operations and creates nothing. */
  idempotency?: IdempotencyClaim;
}

export interface CreatedOperations {
  /** In the order of the artifacts (one per distinct operation). */
  operations: Operation[];
  /** These operations were created by an earlier call with the same idempotency claim. */
  replayed: boolean;
  /** The key signs in-process, so the first answer had them done (201); otherwise pending (202). */
  custodial: boolean;
}

/** What a batch spanning issuers asks each issuer before any of them creates anything. */
export interface CheckIssuerInput {
  did: string;
  verificationMethodId: string;
  /** Artifacts this issuer would be asked to create. */
  items: number;
  idempotency?: IdempotencyClaim;
}

/** The parts of the issuer object that creating artifacts touches. */
export interface IssuanceParts {
  ctx: DurableObjectState;
  meta: IssuerMeta;
  keys: KeyStore;
  engine: Engine;
  statusLists: StatusLists;
  leases: Leases;
  custodial: CustodialSigner;
  rotations: Rotations;
  /** An operation read whole, archived jobs included (durable-objects/job-reads.ts). */
  readOperation: (id: string) => Promise<Operation | null>;
}

/**
 * Creating artifacts: the one generic create every route reaches (credentials, schemas, manifests,
 * ...), with its refusals (deleted DID, unusable key, overload), its idempotency record, and the
 * hand-over of the new jobs to their signer.
 */
export class Issuance {
  private readonly load = new Load();
  /** The key each verification method named resolved to, at a version of the keys table (see `usableKey`). */
  private readonly resolved = new Map<string, { version: number; key: IssuerKey }>();

  constructor(
    private readonly parts: IssuanceParts,
    private readonly idempotency: IdempotencyStore,
    /** The object's delivery and re-arm after a change. */
    private readonly afterChange: () => Promise<void>,
  ) {}

  /**
   * Creates the sign jobs of artifacts signed by one key, in one transaction together with the
   * idempotency record when there is a claim. Refused before anything changes when the DID is
   * deleted, the key unknown, revoked or locked, or the object is past its load.
   */
  async create(input: CreateArtifactsInput): Promise<Result<CreatedOperations>> {
    const claim = input.idempotency;
    if (claim) {
      // Until the first request with a key has answered, a duplicate is told so rather than
      // answered from a record whose custodial jobs may still be signing.
      if (this.idempotency.busy(claim)) return this.inProgress();
      const earlier = claim.fresh ? null : await this.replay(claim);
      if (earlier) return earlier;
      if (!this.idempotency.begin(claim)) return this.inProgress();
    }
    const items = input.artifacts.length;
    if (!this.load.admit(items)) {
      if (claim) this.idempotency.end(claim);
      return this.overloaded();
    }
    try {
      const usable = await this.usableKey(input.verificationMethodId);
      if (!usable.ok) return usable;
      const key = usable.value;
      // A did:ion update/recovery key signs Sidetree operations only, and only such keys sign them.
      const operationKey = ION_OPERATION_KEY.test(key.id);
      if (input.artifacts.some((a) => (a.kind === "did-operation") !== operationKey)) {
        return fail(
          "validation_failed",
          `${key.id} ${operationKey ? "signs did:ion operations only" : "cannot sign a did:ion operation"}`,
          { path: "verificationMethodId" },
        );
      }
      const custodial = key.custody === "custodial";
      const alsoInside = claim
        ? (ids: string[], now: number) => {
            this.idempotency.pruneSometimes(now);
            this.idempotency.record(claim, ids, custodial, now);
            return now + claim.ttlMs;
          }
        : undefined;
      // Jobs join a named operation only while it is open and has none: a second review of one
      // application, or one racing a cancellation, adds nothing. Checked with no await before the create.
      if (input.operationId !== undefined) {
        const existing = this.parts.engine.operations.get(input.operationId);
        if (existing?.done === 1) return fail("operation_done", `operation ${input.operationId} is already done`);
        if (existing && this.parts.engine.jobs.idsOf(input.operationId).length > 0)
          return fail("conflict", `operation ${input.operationId} already has its sign jobs`);
      }
      const objectId = this.parts.ctx.id.toString();
      // The answer is each operation as last projected while this ran (pending, or signed at once),
      // taken from the rows in hand rather than read back (OperationViews.collect).
      const { operations } = await this.parts.engine.views.collect(
        async () => {
          const created = this.parts.engine.create(key, input.origin, input.artifacts, objectId, {
            ...(input.operationId !== undefined ? { operationId: input.operationId } : {}),
            ...(alsoInside ? { alsoInside } : {}),
          });
          // A status list these credentials opened gets its first signed version, so verifiers can fetch it.
          const lists = this.parts.statusLists.publish(this.parts.engine, input.origin, objectId);
          // Every job here was just created, so pending at this version of the jobs (Engine.completeInProcess).
          await this.dispatch([{ key, jobs: created.jobs }, ...lists], input.origin, this.parts.engine.jobs.version);
          return created;
        },
        (created) => created.operationIds,
      );
      await this.afterChange();
      // Only the operations cross back: a batch's full jobs would be a large, unused copy.
      return ok({ operations: operations!, replayed: false, custodial });
    } finally {
      this.load.release(items);
      if (claim) this.idempotency.end(claim);
    }
  }

  /**
   * The checks `createArtifacts` makes, without creating anything: a batch spanning issuers asks
   * every issuer first, so one refusing does not leave another's artifacts behind. `replay` says
   * this issuer already holds its part of the same request (an earlier attempt got this far).
   */
  async check(input: CheckIssuerInput): Promise<Result<{ replay: boolean }>> {
    const claim = input.idempotency;
    if (claim) {
      if (this.idempotency.busy(claim)) return this.inProgress();
      const record = this.idempotency.find(claim, Date.now());
      if (record) return record.fingerprint === claim.fingerprint ? ok({ replay: true }) : this.reused();
    }
    if (!this.load.fits(input.items)) return this.overloaded();
    const usable = await this.usableKey(input.verificationMethodId);
    return usable.ok ? ok({ replay: false }) : usable;
  }

  /** The first answer's operations for a repeated claim, a refusal for a reused key, or null for a new one. */
  private async replay(claim: IdempotencyClaim): Promise<Result<CreatedOperations> | null> {
    const record = this.idempotency.find(claim, Date.now());
    if (!record) return null;
    if (record.fingerprint !== claim.fingerprint) return this.reused();
    // The first call may have stopped between creating custodial jobs and signing them; sign them
    // now, so the retry gets the answer the first call would have given.
    const pending = record.operationIds.some((id) => this.parts.engine.jobs.byOperation(id).some((j) => j.status === "pending"));
    if (record.custodial && pending) {
      await this.parts.custodial.backlog();
      await this.afterChange();
    }
    // A replay may come after the hot limit moved the operation to R2 with its job.
    const operations = await Promise.all(
      record.operationIds.map(async (id) => this.parts.engine.views.operation(id) ?? (await this.parts.readOperation(id))!),
    );
    return ok({ operations, replayed: true, custodial: record.custodial });
  }

  private reused(): Result<never> {
    return fail("idempotency_key_reused", "this Idempotency-Key was already used with a different request");
  }

  private inProgress(): Result<never> {
    return fail("idempotency_key_in_progress", "a request with this Idempotency-Key is still being processed; retry it shortly");
  }

  private overloaded(): Result<never> {
    const { requests, items } = this.load.inFlight;
    return fail("overloaded", `this issuer is busy (${requests} requests, ${items} artifacts in flight); retry shortly`);
  }

  /**
   * The key a new job may be signed with, or why not: deleted DID, unknown or revoked key, locked
   * custodial key. The key a verification method resolves to (itself or its rotation's successor)
   * is kept while the keys table stands as it was read (KeyStore.version): reading it and its
   * successor were two statements of every create.
   */
  private async usableKey(verificationMethodId: string, again = true): Promise<Result<IssuerKey>> {
    if (this.parts.meta.deactivated()) return fail("did_deactivated", this.parts.meta.deactivatedDetail());
    const keys = this.parts.keys;
    const version = keys.version;
    let key = this.resolved.get(verificationMethodId)?.version === version ? this.resolved.get(verificationMethodId)!.key : null;
    if (!key) {
      const named = await keys.get(verificationMethodId);
      if (!named) return fail("not_found", `verification method ${verificationMethodId} not found for ${this.parts.meta.did()}`);
      // A key rotated away signs nothing new: its successor does (api.md "Key rotation").
      const successor = this.parts.rotations.successor(named.id);
      key = successor === named.id ? named : await keys.get(successor);
      if (!key) return fail("not_found", `verification method ${successor} not found for ${this.parts.meta.did()}`);
      // A write while this read (the key copied from D1 on first use is one) moved the version:
      // resolve once more from what is now local, so the next create need not.
      if (keys.version !== version && again) return this.usableKey(verificationMethodId, false);
      this.resolved.set(verificationMethodId, { version, key });
    }
    if (key.revoked) return fail("key_revoked", `key ${key.id} is revoked`);
    return this.parts.custodial.ready(key);
  }

  /**
   * Custodial keys sign at once; external keys' jobs go to connected signers. `pendingAt`: the
   * JobStore version at which every job of `groups` was pending, when the caller knows it.
   */
  async dispatch(groups: { key: IssuerKey; jobs: JobRow[] }[], origin: string, pendingAt?: number): Promise<void> {
    for (const { key, jobs } of groups) {
      if (key.custody === "custodial") await this.parts.custodial.sign(key, jobs, origin, pendingAt);
      else this.parts.leases.offer(jobs.map((j) => this.parts.engine.jobs.toSignJob(j)));
    }
  }
}
