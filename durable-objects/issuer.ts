import { DurableObject } from "cloudflare:workers";
import type { Principal } from "../src/core/principal";
import type { IssuerKey } from "../src/keys/model";
import type { Operation, SignJob, Submission } from "../src/signjobs/model";
import { AlarmClock } from "./alarm-clock";
import { authenticateDidJwt, pruneJtis, nextJtiExpiry } from "./auth";
import type { IdempotencyClaim } from "../src/core/idempotency";
import { Engine, fail, type Result } from "./engine";
import { IdempotencyStore } from "./idempotency";
import { KeyStore } from "./keys";
import type { JobSpec } from "./kinds";
import { Load } from "./load";
import { Outbox } from "./outbox";
import { migrate } from "./schema";
import { SignerHub } from "./signers";
import type { JobRow } from "./jobs";
import { StatusLists, type ListPublication, type StatusChange, type StatusChangeResult } from "./status-lists";

export type { Result } from "./engine";

export interface CreateJobsInput {
  did: string;
  verificationMethodId: string;
  /** The service origin, for URLs inside artifacts (status lists). */
  origin: string;
  specs: JobSpec[];
  /** With a claim, a repeat of the same create answers the first one's operations and creates nothing. */
  idempotency?: IdempotencyClaim;
}

export interface CreatedOperations {
  /** In the order of the specs. */
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
  /** Credentials this issuer would be asked to create. */
  items: number;
  idempotency?: IdempotencyClaim;
}

/** Per change: the flags after it, why it was refused (`code`), and the status-list job's operation. */
export interface StatusChanges {
  results: (Omit<StatusChangeResult, "listId"> & { operationId?: string })[];
  operations: Operation[];
}

export type SubmitOutcome =
  | { ok: true; status: SignJob["status"] }
  | { ok: false; status: SignJob["status"] | undefined; code: import("../src/core/errors").ProblemCode; detail: string };

export interface JobPage {
  jobs: SignJob[];
  next?: number;
}

/**
 * One per issuer DID (named by the DID): the source of truth for that issuer's sign jobs,
 * operations, status lists, signer sockets and DID-auth replay set. D1 is fed from its outbox.
 */
export class IssuerObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly keys: KeyStore;
  private readonly outbox: Outbox;
  private readonly engine: Engine;
  private readonly signers: SignerHub;
  private readonly statusLists: StatusLists;
  private readonly idempotency: IdempotencyStore;
  private readonly load = new Load();
  private didValue: string | null = null;
  private epochValue: number | null = null;
  private readonly clock: AlarmClock;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.clock = new AlarmClock(ctx.storage);
    void ctx.blockConcurrencyWhile(async () => migrate(this.sql));
    const did = () => this.did();
    this.keys = new KeyStore(this.sql, env, did);
    this.outbox = new Outbox(this.sql, env.DB, did);
    this.statusLists = new StatusLists(this.sql, this.outbox, did);
    this.idempotency = new IdempotencyStore(this.sql);
    this.signers = new SignerHub(ctx, env, did, {
      submit: (id, submission, origin) => this.engine.submit(id, submission, origin),
      reject: (id, reason) => this.reject(id, reason),
      jobs: () => this.engine.jobs,
      authenticate: (jwt, audience) => this.authenticate(did(), jwt, audience),
      key: (id) => this.keys.get(id),
      authEpoch: () => this.authEpoch(),
      deactivated: () => this.deactivated(),
      afterChange: () => this.afterChange(),
    });
    this.engine = new Engine(
      ctx.storage,
      this.keys,
      this.outbox,
      did,
      {
        offer: (jobs) => this.signers.offer(jobs),
        ended: (ids) => this.signers.ended(ids),
        signed: (id) => this.signers.signed(id),
        allocateStatus: (purpose, credentialId, origin, now, format, vmId) =>
          this.statusLists.allocate(purpose, credentialId, origin, now, format, vmId),
        statusOf: (credentialId) => this.statusLists.flags(credentialId) ?? { revoked: false, suspended: false, version: 0 },
        rearm: () => this.rearm(),
      },
      () => {
        const ttl = Number(env.SIGNJOB_TTL_SECONDS ?? "604800");
        return (Number.isFinite(ttl) && ttl > 0 ? ttl : 604800) * 1000;
      },
    );
  }

  private did(): string {
    if (this.didValue) return this.didValue;
    const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'did'").toArray()[0];
    if (!row) throw new Error("issuer object used before it was bound to a DID");
    this.didValue = row.v;
    return row.v;
  }

  /** Remembers which DID this object serves (its name); every entry point that knows the DID calls it. */
  private bind(did: string): void {
    if (this.didValue === did) return;
    const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'did'").toArray()[0];
    if (row && row.v !== did) throw new Error(`issuer object of ${row.v} addressed as ${did}`);
    if (!row) this.sql.exec("INSERT INTO meta (k, v) VALUES ('did', ?)", did);
    this.didValue = did;
  }

  private deactivated(): boolean {
    return this.sql.exec("SELECT 1 FROM meta WHERE k = 'deactivated'").toArray().length > 0;
  }

  /**
   * A version stamp of who may act for this issuer: moved by every key revocation and by the
   * DID's deletion. Open sockets remember the epoch they were checked at, so re-checking them on
   * every frame costs one comparison until something is revoked.
   */
  private authEpoch(): number {
    if (this.epochValue === null) {
      const row = this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'auth_epoch'").toArray()[0];
      this.epochValue = row ? Number(row.v) : 0;
    }
    return this.epochValue;
  }

  private bumpAuthEpoch(): void {
    const next = this.authEpoch() + 1;
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('auth_epoch', ?)", String(next));
    this.epochValue = next;
  }

  // ── keys and DIDs ────────────────────────────────────────────────────────

  /** Write-through of a key registered in D1, so the first job needs no D1 read. */
  registerKey(key: IssuerKey): void {
    this.bind(key.did);
    this.keys.put(key);
  }

  /** A revoked key signs nothing more: its pending jobs are cancelled and their operations fail, in D1 too. */
  async revokeKey(did: string, verificationMethodId: string): Promise<{ cancelled: string[] }> {
    this.bind(did);
    this.keys.revoke(verificationMethodId);
    this.bumpAuthEpoch();
    const pending = this.allPending().filter((j) => j.vm_id === verificationMethodId);
    const cancelled = this.engine.endJobs(pending, { to: "cancelled", reason: "signing key revoked" });
    await this.signers.recheck();
    await this.afterChange();
    return { cancelled };
  }

  /** The DID was deleted: no new jobs, and every pending one is cancelled. */
  async deactivate(did: string): Promise<{ cancelled: string[] }> {
    this.bind(did);
    this.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('deactivated', ?)", String(Date.now()));
    this.bumpAuthEpoch();
    const cancelled = this.engine.endJobs(this.allPending(), { to: "cancelled", reason: "issuer DID deleted" });
    await this.signers.recheck();
    await this.afterChange();
    return { cancelled };
  }

  private allPending() {
    return this.sql
      .exec<import("./jobs").JobRow>("SELECT * FROM jobs WHERE status = 'pending' ORDER BY seq")
      .toArray();
  }

  // ── DID-auth ─────────────────────────────────────────────────────────────

  /** Verifies a DID-auth JWT for this DID and consumes its jti. A deleted DID authenticates nothing. */
  async authenticate(did: string, jwt: string, audience: string): Promise<Result<{ verificationMethodId: string }>> {
    this.bind(did);
    if (this.deactivated()) return fail("unauthorized", "the DID has been deleted");
    const result = await authenticateDidJwt(this.sql, this.keys, did, jwt, audience, Date.now());
    if (result.ok) this.rearm();
    return result;
  }

  // ── sign jobs ────────────────────────────────────────────────────────────

  /**
   * Creates the jobs of credentials (or other artifacts) signed by one key, in one transaction
   * together with the idempotency record when there is a claim. Refused before anything changes
   * when the DID is deleted, the key unknown, revoked or locked, or the object is past its load.
   */
  async createJobs(input: CreateJobsInput): Promise<Result<CreatedOperations>> {
    this.bind(input.did);
    const claim = input.idempotency;
    if (claim) {
      // Until the first request with a key has answered, a duplicate is told so rather than
      // answered from a record whose custodial jobs may still be signing.
      if (this.idempotency.busy(claim)) return this.inProgress();
      const earlier = await this.replay(claim);
      if (earlier) return earlier;
      if (!this.idempotency.begin(claim)) return this.inProgress();
    }
    const items = input.specs.length;
    if (!this.load.admit(items)) {
      if (claim) this.idempotency.end(claim);
      return this.overloaded();
    }
    try {
      const usable = await this.usableKey(input.verificationMethodId);
      if (!usable.ok) return usable;
      const key = usable.value;
      const custodial = key.custody === "custodial";
      const record = claim
        ? (ids: string[], now: number) => {
            this.idempotency.prune(now);
            this.idempotency.record(claim, ids, custodial, now);
          }
        : undefined;
      const { operationIds, jobs } = this.engine.create(key, input.origin, input.specs, this.ctx.id.toString(), record);
      // A status list these credentials opened gets its first signed version, so verifiers can fetch it.
      const lists = this.statusLists.publish(this.engine, this.keys, input.origin, this.ctx.id.toString());
      await this.dispatch([{ key, jobs }, ...lists], input.origin);
      await this.afterChange();
      // Only the operations cross back: a batch's full jobs would be a large, unused copy.
      return {
        ok: true,
        value: { operations: operationIds.map((id) => this.engine.operation(id)!), replayed: false, custodial },
      };
    } finally {
      this.load.release(items);
      if (claim) this.idempotency.end(claim);
    }
  }

  /**
   * The checks `createJobs` makes, without creating anything: a batch spanning issuers asks every
   * issuer first, so one refusing does not leave another's credentials behind. `replay` says this
   * issuer already holds its part of the same request (an earlier attempt got this far).
   */
  async checkIssuer(input: CheckIssuerInput): Promise<Result<{ replay: boolean }>> {
    this.bind(input.did);
    const claim = input.idempotency;
    if (claim) {
      if (this.idempotency.busy(claim)) return this.inProgress();
      const record = this.idempotency.find(claim, Date.now());
      if (record) return record.fingerprint === claim.fingerprint ? { ok: true, value: { replay: true } } : this.reused();
    }
    if (!this.load.fits(input.items)) return this.overloaded();
    const usable = await this.usableKey(input.verificationMethodId);
    return usable.ok ? { ok: true, value: { replay: false } } : usable;
  }

  /** The first answer's operations for a repeated claim, a refusal for a reused key, or null for a new one. */
  private async replay(claim: IdempotencyClaim): Promise<Result<CreatedOperations> | null> {
    const record = this.idempotency.find(claim, Date.now());
    if (!record) return null;
    if (record.fingerprint !== claim.fingerprint) return this.reused();
    // The first call may have stopped between creating custodial jobs and signing them; sign them
    // now, so the retry gets the answer the first call would have given.
    const pending = record.operationIds.some((id) => this.engine.jobs.byOperation(id).some((j) => j.status === "pending"));
    if (record.custodial && pending) {
      await this.signCustodialBacklog();
      await this.afterChange();
    }
    return {
      ok: true,
      value: {
        operations: record.operationIds.map((id) => this.engine.operation(id)!),
        replayed: true,
        custodial: record.custodial,
      },
    };
  }

  private reused(): Result<never> {
    return fail("idempotency_key_reused", "this Idempotency-Key was already used with a different request");
  }

  private inProgress(): Result<never> {
    return fail("idempotency_key_in_progress", "a request with this Idempotency-Key is still being processed; retry it shortly");
  }

  private overloaded(): Result<never> {
    const { requests, items } = this.load.inFlight;
    return fail("overloaded", `this issuer is busy (${requests} requests, ${items} credentials in flight); retry shortly`);
  }

  /** The key a new job may be signed with, or why not: deleted DID, unknown or revoked key, locked custodial key. */
  private async usableKey(verificationMethodId: string): Promise<Result<IssuerKey>> {
    if (this.deactivated()) return fail("did_deactivated", `${this.did()} has been deleted`);
    const key = await this.keys.get(verificationMethodId);
    if (!key) return fail("not_found", `verification method ${verificationMethodId} not found for ${this.did()}`);
    if (key.revoked) return fail("key_revoked", `key ${key.id} is revoked`);
    if (key.custody === "custodial") {
      // Unlock the key before creating anything, so a missing or wrong KEK refuses the request
      // instead of leaving custodial jobs that nothing can sign.
      try {
        await this.keys.signer(key);
      } catch {
        return fail("custody_unavailable", `custodial key ${key.id} cannot be unlocked: check KEY_ENCRYPTION_KEY`);
      }
    }
    return { ok: true, value: key };
  }

  /** Custodial keys sign at once; external keys' jobs go to connected signers. */
  private async dispatch(groups: { key: IssuerKey; jobs: JobRow[] }[], origin: string): Promise<void> {
    for (const { key, jobs } of groups) {
      if (jobs.length === 0) continue;
      if (key.custody === "custodial") await this.engine.signCustodial(key, jobs, origin);
      else this.signers.offer(jobs.map((j) => this.engine.jobs.toSignJob(j)));
    }
  }

  // ── credential status ────────────────────────────────────────────────────

  getStatus(did: string, credentialId: string): { revoked: boolean; suspended: boolean } {
    this.bind(did);
    const flags = this.statusLists.flags(credentialId);
    return { revoked: flags?.revoked ?? false, suspended: flags?.suspended ?? false };
  }

  /**
   * Applies status changes (each on its own; refused ones carry a `code`), then re-signs every
   * list whose bits changed with one status-list job per list, folding into it any older pending one.
   */
  async setStatus(did: string, origin: string, changes: StatusChange[]): Promise<Result<StatusChanges>> {
    this.bind(did);
    if (this.deactivated()) return fail("did_deactivated", `${did} has been deleted`);
    // Unlock every custodial key that would re-sign a touched list before any bit moves, so a
    // missing or wrong KEK refuses the request instead of leaving bits that nothing publishes.
    for (const key of this.statusLists.keysForCredentials(this.keys, changes.map((c) => c.id))) {
      if (key.custody !== "custodial") continue;
      try {
        await this.keys.signer(key);
      } catch {
        return fail("custody_unavailable", `custodial key ${key.id} cannot be unlocked: check KEY_ENCRYPTION_KEY`);
      }
    }
    let results: StatusChangeResult[] = [];
    // The key check (no_signing_key) and the bits are one synchronous step: a revocation of the
    // key during the await above is seen here.
    this.ctx.storage.transactionSync(() => {
      results = this.statusLists.apply(changes, Date.now(), this.keys);
    });
    // No await between the change and the jobs: the bits signed are the bits just written.
    const groups = this.statusLists.publish(this.engine, this.keys, origin, this.ctx.id.toString());
    await this.dispatch(groups, origin);
    await this.afterChange();
    const operationOf = new Map(groups.flatMap((g) => [...g.operations]));
    const operationIds = new Set<string>();
    return {
      ok: true,
      value: {
        results: results.map(({ listId, ...r }) => {
          const operationId = listId ? operationOf.get(listId) : undefined;
          if (operationId) operationIds.add(operationId);
          return operationId ? { ...r, operationId } : r;
        }),
        operations: [...operationIds].map((id) => this.engine.operation(id)!),
      },
    };
  }

  /** Where one of this issuer's status lists stands in publication (operators). */
  statusListPublication(did: string, listId: string): Result<ListPublication> {
    this.bind(did);
    const view = this.statusLists.publication(listId);
    return view ? { ok: true, value: view } : fail("not_found", `status list ${listId} not found`);
  }

  getJob(id: string): Result<SignJob> {
    const job = this.engine.jobs.get(id);
    return job ? { ok: true, value: this.engine.jobs.toSignJob(job) } : fail("not_found", `sign job ${id} not found`);
  }

  listJobs(status: SignJob["status"] | undefined, afterSeq: number, pageSize: number): JobPage {
    const rows = this.engine.jobs.list(status, afterSeq, pageSize + 1);
    const page = rows.slice(0, pageSize);
    return {
      jobs: page.map((r) => this.engine.jobs.toSignJob(r)),
      ...(rows.length > pageSize ? { next: page[page.length - 1]!.seq } : {}),
    };
  }

  async submit(id: string, submission: Submission, origin: string): Promise<Result<SignJob>> {
    const result = await this.engine.submit(id, submission, origin);
    await this.afterChange();
    return result;
  }

  /** A batch of signatures: each judged on its own; only the outcome crosses back, not the jobs. */
  async submitMany(items: { id: string; submission: Submission }[], origin: string): Promise<SubmitOutcome[]> {
    const results: SubmitOutcome[] = [];
    for (const item of items) {
      const r = await this.engine.submit(item.id, item.submission, origin);
      results.push(r.ok ? { ok: true, status: r.value.status } : { ok: false, status: r.job?.status, code: r.code, detail: r.detail });
    }
    await this.afterChange();
    return results;
  }

  async reject(id: string, reason: string): Promise<Result<SignJob>> {
    const job = this.engine.jobs.get(id);
    if (!job) return fail("not_found", `sign job ${id} not found`);
    if (job.status === "signed") return fail("job_already_signed", "a signed job cannot be rejected", this.engine.jobs.toSignJob(job));
    if (job.status !== "pending") return fail("job_not_pending", `sign job is ${job.status}`, this.engine.jobs.toSignJob(job));
    this.engine.endJobs([job], { to: "rejected", reason });
    await this.afterChange();
    return { ok: true, value: this.engine.jobs.toSignJob(this.engine.jobs.get(id)!) };
  }

  // ── operations ───────────────────────────────────────────────────────────

  getOperation(id: string): Operation | null {
    return this.engine.operation(id);
  }

  async cancelOperation(id: string): Promise<Result<Operation>> {
    const op = this.engine.operation(id);
    if (!op) return fail("not_found", `operation ${id} not found`);
    if (op.done) return fail("operation_done", "the operation is already done");
    const pending = this.engine.jobs.byOperation(id).filter((j) => j.status === "pending");
    this.engine.endJobs(pending, { to: "cancelled", reason: "cancelled by operator" });
    await this.afterChange();
    return { ok: true, value: this.engine.operation(id)! };
  }

  // ── time ─────────────────────────────────────────────────────────────────

  /**
   * One alarm for everything due: outbox retries, job expiry, leases, auth deadlines, jti pruning,
   * retention. Idempotent. Due means due by the time the alarm was armed for (see AlarmClock).
   */
  override async alarm(): Promise<void> {
    const now = this.clock.begin();
    try {
      for (let batch = this.engine.jobs.expiredBy(now); batch.length > 0; batch = this.engine.jobs.expiredBy(now)) {
        this.engine.expire(batch);
      }
      this.signers.onAlarm(now);
      pruneJtis(this.sql, now);
      const retention = this.retentionMs();
      while (this.engine.jobs.purge(now - retention, now) > 0) {
        // batches of 500, so one alarm's transaction stays small
      }
      this.idempotency.prune(now);
      await this.signCustodialBacklog();
      this.statusLists.reviveUnsigned(now);
      try {
        await this.dispatch(this.statusLists.publish(this.engine, this.keys, "", this.ctx.id.toString()), "");
      } catch (err) {
        // A custodial key that cannot be unlocked (KEK changed) leaves its list's job pending for
        // the backlog signer; it must not cost the outbox delivery and the re-arm below.
        console.error(JSON.stringify({ level: "error", event: "status.publish_failed", error: String(err) }));
      }
      await this.afterChange();
    } finally {
      this.clock.end();
    }
  }

  /**
   * The in-process signer's backlog: custodial jobs left pending because the object stopped
   * between creating and signing them. Like any signer reconnecting, it signs what is waiting.
   */
  private async signCustodialBacklog(): Promise<void> {
    const rows = this.sql
      .exec<import("./jobs").JobRow>(
        `SELECT jobs.* FROM jobs JOIN keys ON keys.id = jobs.vm_id
         WHERE jobs.status = 'pending' AND keys.custody = 'custodial' AND keys.revoked = 0 ORDER BY jobs.seq LIMIT 1000`,
      )
      .toArray();
    const byKey = new Map<string, import("./jobs").JobRow[]>();
    for (const row of rows) byKey.set(row.vm_id, [...(byKey.get(row.vm_id) ?? []), row]);
    for (const [vm, jobs] of byKey) {
      const key = this.keys.local(vm);
      if (!key) continue;
      try {
        await this.engine.signCustodial(key, jobs, "");
      } catch (err) {
        console.error(JSON.stringify({ level: "error", event: "custodial.backlog_failed", key: vm, error: String(err) }));
      }
    }
  }

  /** Delivers the outbox and re-arms; every state-changing entry point ends here. */
  private async afterChange(): Promise<void> {
    this.signers.topUp();
    await this.outbox.drain();
    this.rearm();
  }

  /**
   * How long an ended job keeps its signing input: SIGNJOB_RETENTION_DAYS (default 30). Tests
   * shorten it with the meta row `signjob_retention_ms` (set through SQL); no API reaches it.
   */
  private retentionMs(): number {
    const override = Number(this.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'signjob_retention_ms'").toArray()[0]?.v);
    if (Number.isFinite(override) && override >= 0) return override;
    const days = Number(this.env.SIGNJOB_RETENTION_DAYS ?? "30");
    return (Number.isFinite(days) && days > 0 ? days : 30) * 86_400_000;
  }

  private nextPurge(): number | null {
    const oldest = this.engine.jobs.oldestUnpurged();
    return oldest === null ? null : oldest + this.retentionMs();
  }

  private rearm(): void {
    const due = [
      this.outbox.nextDue(),
      this.engine.jobs.nextExpiry(),
      this.signers.nextDue(),
      nextJtiExpiry(this.sql),
      this.statusLists.nextRevive(),
      this.nextPurge(),
      this.idempotency.nextExpiry(),
    ]
      .filter((t): t is number => t !== null);
    this.clock.arm(due.length > 0 ? Math.min(...due) : null);
  }

  // ── signer sockets (hibernation API) ─────────────────────────────────────

  /**
   * Step one of a signer socket (RPC): who is connecting, as the Worker authenticated it, in
   * exchange for a one-time ticket. The upgrade itself must come through `fetch`, which accepts
   * only a request carrying such a ticket, so no header can claim a principal.
   */
  async admit(did: string, principal: Principal | null, origin: string): Promise<Result<string>> {
    this.bind(did);
    if (this.deactivated()) return fail("not_found", `DID ${did} not found`);
    return this.signers.admit(principal, origin);
  }

  override async fetch(request: Request): Promise<Response> {
    return this.signers.connect(request);
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    await this.signers.message(ws, message);
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    await this.signers.close(ws, code, reason);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.signers.close(ws, 1011, "error");
  }
}
