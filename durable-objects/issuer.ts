import { DurableObject } from "cloudflare:workers";
import { fail, ok, type Result } from "../src/core/errors";
import { submissionOf, type IssuerKey, type Operation, type SignJob, type Submission } from "../src/core/models";
import { signOutcome, type SignOutcome } from "../src/core/protocol";
import type { Principal } from "../src/core/principal";
import { AlarmClock } from "./alarm-clock";
import { Archive } from "./archive";
import { DidAuth } from "./auth";
import { DueTimes } from "./due";
import { CustodialSigner } from "./custodial-signer";
import { Engine } from "./engine";
import { IdempotencyStore } from "./idempotency";
import { JobStore } from "./jobs";
import { KeyChanges, type RotationInput } from "./key-changes";
import { KeyStore } from "./keys";
import { KINDS } from "./kinds";
import { Leases } from "./leases";
import { Issuance, type CheckIssuerInput, type CreateArtifactsInput, type CreatedOperations } from "./issuance";
import { IssuerMeta } from "./meta";
import { JobReads } from "./job-reads";
import { IonAnchors } from "./ion-anchors";
import { Rotations } from "./rotations";
import { SignatureIntake } from "./signature-intake";
import type { D1Write } from "../src/core/kinds";
import { Outbox } from "./outbox";
import { IndexShards } from "../src/shards/shards";
import { CredentialReads, type CredentialRead } from "./credential-reads";
import { migrate } from "./schema";
import { resultFrame } from "./signer-protocol";
import { SignerSockets, send } from "./signer-sockets";
import type { ListPublication } from "../src/core/publication";
import { StatusUpdates, type StatusChanges } from "./status-changes";
import { StatusLists, type StatusChange } from "./status-lists";
import { Upkeep } from "./upkeep";

export type { CheckIssuerInput, CreateArtifactsInput, CreatedOperations } from "./issuance";
export type { IonKeyRemoval } from "./key-changes";
export type { CredentialRead } from "./credential-reads";
export type { StatusChanges } from "./status-changes";

/**
 * One per issuer DID (named by the DID): the source of truth for that issuer's sign jobs,
 * operations, status lists, signer sockets and DID-auth replay set. D1 is fed from its outbox.
 * This class is the RPC surface and the wiring; each concern lives in its own module.
 */
export class IssuerObject extends DurableObject<Env> {
  private readonly meta: IssuerMeta;
  private readonly keys: KeyStore;
  private readonly outbox: Outbox;
  private readonly didAuth: DidAuth;
  private readonly statusLists: StatusLists;
  private readonly idempotency: IdempotencyStore;
  private readonly sockets: SignerSockets;
  private readonly leases: Leases;
  private readonly engine: Engine;
  /** Signatures and refusals from signers (REST and socket frames). */
  private readonly signatures: SignatureIntake;
  private readonly custodial: CustodialSigner;
  private readonly issuance: Issuance;
  private readonly anchors: IonAnchors;
  private readonly rotations: Rotations;
  private readonly keyChanges: KeyChanges;
  private readonly statusUpdates: StatusUpdates;
  private readonly archive: Archive;
  private readonly upkeep: Upkeep;
  private readonly credentials: CredentialReads;
  private readonly reads: JobReads;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    void ctx.blockConcurrencyWhile(async () => migrate(ctx.storage.sql));
    // Built in dependency order: nothing below refers to a part that is not yet made.
    const sql = ctx.storage.sql;
    const meta = (this.meta = new IssuerMeta(sql));
    const did = () => meta.did();
    const keys = (this.keys = new KeyStore(sql, env, did));
    // Index rows go to this issuer's shard(s) of the credential index (INDEX_SHARDS, src/shards).
    const index = new IndexShards(env);
    const outbox = (this.outbox = new Outbox(sql, env.DB, did, () => index.writeShards(did())));
    this.didAuth = new DidAuth(sql, keys, meta);
    const statusLists = (this.statusLists = new StatusLists(sql, outbox, meta, keys, ctx.id.toString()));
    this.idempotency = new IdempotencyStore(sql);
    this.sockets = new SignerSockets(ctx, env, meta, keys, this.didAuth);
    const jobs = new JobStore(sql, did);
    this.archive = new Archive(ctx.storage, jobs, env.ARCHIVE, ctx.id.toString());
    const leases = (this.leases = new Leases(ctx.storage, this.sockets, jobs));
    const ttl = Number(env.SIGNJOB_TTL_SECONDS ?? "604800");
    // A deactivate the node accepted is final: this issuer signs nothing more (api.md "did:ion").
    const anchors = (this.anchors = new IonAnchors(ctx.storage, outbox, did, undefined, (request) => {
      if (request.type === "deactivate") this.keyChanges.deactivateNow("its did:ion was deactivated");
    }));
    const rotations = (this.rotations = new Rotations({
      storage: ctx.storage,
      engine: () => this.engine,
      keys,
      outbox,
      did,
      kinds: KINDS,
      objectId: () => ctx.id.toString(),
      hydrate: (rows) => this.archive.hydrateAll(rows),
      cold: this.archive.cold,
      db: env.DB,
      bumpAuthEpoch: () => meta.bumpAuthEpoch(),
      listsChanged: () => statusLists.changed(),
      anchors,
    }));
    this.engine = new Engine({
      storage: ctx.storage,
      jobs,
      keys,
      outbox,
      did,
      objectId: ctx.id.toString(),
      kinds: KINDS,
      status: statusLists,
      anchors,
      rotations,
      hooks: {
        ended: (ids) => {
          this.archive.ended(ids.length);
          leases.ended(ids);
        },
        signed: (ids) => {
          this.archive.ended(ids.length);
          leases.releaseMany(ids);
        },
        rearm: (written) => this.upkeep.rearm(written),
      },
      ttlMs: (Number.isFinite(ttl) && ttl > 0 ? ttl : 604800) * 1000,
    });
    this.signatures = new SignatureIntake(this.engine, (ids) => this.reads.coldJobs(ids));
    this.custodial = new CustodialSigner(keys, this.engine);
    this.credentials = new CredentialReads(ctx.storage, this.engine, statusLists, outbox, this.archive);
    this.reads = new JobReads(this.engine, this.archive, rotations);
    const readOperation = (id: string) => this.reads.operation(id);
    const parts = { ctx, meta, keys, engine: this.engine, statusLists, leases, custodial: this.custodial, rotations, readOperation };
    this.issuance = new Issuance(parts, this.idempotency, () => this.afterChange());
    const keyChangeParts = { ...parts, objectId: ctx.id.toString(), anchors, sockets: this.sockets, issuance: this.issuance };
    this.keyChanges = new KeyChanges(keyChangeParts, () => this.afterChange());
    const statusChangeParts = { ...parts, storage: ctx.storage, objectId: ctx.id.toString(), issuance: this.issuance };
    this.statusUpdates = new StatusUpdates(statusChangeParts, () => this.afterChange());
    this.upkeep = new Upkeep({
      env,
      objectId: ctx.id.toString(),
      meta,
      clock: new AlarmClock(ctx.storage),
      due: new DueTimes(sql, { ion: Boolean(env.ION_NODE_URL), archive: env.ARCHIVE !== undefined }),
      engine: this.engine,
      sockets: this.sockets,
      leases,
      didAuth: this.didAuth,
      archive: this.archive,
      idempotency: this.idempotency,
      anchors,
      custodial: this.custodial,
      rotations,
      statusLists,
      outbox,
      issuance: () => this.issuance,
    });
  }

  // ── did:ion anchoring ────────────────────────────────────────────────────

  /**
   * Records a did:ion operation to anchor (its Operation answers at once) and makes the first
   * attempt now, so a reachable node usually accepts it before this call returns. Retries are
   * the alarm's (IonAnchors).
   */
  async anchorIon(
    did: string,
    operationId: string,
    request: unknown | null,
    response: unknown,
    onDone: D1Write[] = [],
  ): Promise<Operation> {
    this.meta.bind(did);
    this.anchors.start(operationId, request, response, onDone, Date.now());
    await this.afterChange();
    return this.anchors.get(operationId)!;
  }

  // ── keys and DIDs ────────────────────────────────────────────────────────

  /** Write-through of a key added to D1 (keys added to a DID, did:ion operation keys); a new DID's key is copied from D1 on first use. */
  registerKey(key: IssuerKey): void {
    this.meta.bind(key.did);
    this.keys.put(key);
  }

  /** A revoked key signs nothing more: its pending jobs are cancelled and their operations fail, in D1 too. */
  revokeKey(did: string, verificationMethodId: string): Promise<{ cancelled: string[] }> {
    this.meta.bind(did);
    return this.keyChanges.revoke(verificationMethodId);
  }

  /**
   * The checks of a rotation to `to`, and the keys it would take out of the document: the DID's
   * current signing key and keys a failed rotation left behind. A did:ion rotation asks this first,
   * to prepare the Sidetree update removing exactly those.
   */
  planRotation(did: string, input: { to: string; from: string | null }): Promise<Result<{ from: string[] }>> {
    this.meta.bind(did);
    return this.keyChanges.planRotation(did, input);
  }

  /**
   * Key rotation (durable-objects/key-changes.ts, rotations.ts): `to` becomes the signing key, the
   * keys of `planRotation` are rotated away; the alarm creates the re-sign jobs, in turns.
   */
  startRotation(did: string, input: RotationInput): Promise<Result<Operation>> {
    this.meta.bind(did);
    return this.keyChanges.startRotation(did, input);
  }

  /** The DID was deleted: no new jobs, and every pending one is cancelled. */
  deactivate(did: string): Promise<{ cancelled: string[] }> {
    this.meta.bind(did);
    return this.keyChanges.deactivate();
  }

  /** Verifies a DID-auth JWT for this DID and consumes its jti. A deleted DID authenticates nothing. */
  async authenticate(did: string, jwt: string, audience: string): Promise<Result<{ verificationMethodId: string }>> {
    this.meta.bind(did);
    const result = await this.didAuth.authenticate(jwt, audience);
    if (result.ok) this.upkeep.rearm();
    return result;
  }

  // ── artifacts ────────────────────────────────────────────────────────────

  /** Creates the sign jobs of artifacts of any registered kinds, signed by one key (see Issuance). */
  createArtifacts(input: CreateArtifactsInput): Promise<Result<CreatedOperations>> {
    this.meta.bind(input.did);
    return this.issuance.create(input);
  }

  /** The checks `createArtifacts` makes, without creating anything (a batch spanning issuers asks each first). */
  checkIssuer(input: CheckIssuerInput): Promise<Result<{ replay: boolean }>> {
    this.meta.bind(input.did);
    return this.issuance.check(input);
  }

  // ── credentials (reads answered here: api.md "Consistency") ──────────────

  getCredential(id: string): Promise<CredentialRead | null> {
    return this.credentials.get(id);
  }

  listCredentials(after: [number, string] | null, limit: number): Promise<CredentialRead[]> {
    return this.credentials.list(after, limit);
  }

  /** The live credentials among `ids`: a cross-issuer page's bodies, one call per issuer per page. */
  getCredentials(ids: string[]): Promise<CredentialRead[]> {
    return this.credentials.many(ids.slice(0, 1000));
  }

  /** The DID this object serves and which of `ids` are its live credentials (a status batch groups by object). */
  liveCredentials(ids: string[]): { did: string | null; live: string[] } {
    const did = this.meta.boundDid();
    return { did, live: did === null ? [] : this.credentials.live(ids) };
  }

  /**
   * Deletes a credential record: a pending one's operation is cancelled first (a done one is
   * left as it is), then it is gone from reads here and, through the outbox, from D1.
   */
  async deleteCredential(id: string): Promise<boolean> {
    const found = await this.credentials.get(id);
    if (!found) return false;
    // A done operation (signed, or failed) is refused here and stays as it is.
    if (!found.signed) this.engine.cancelOperation(found.operationId, "cancelled by operator");
    const deleted = this.credentials.delete(id, Date.now());
    await this.afterChange();
    return deleted;
  }

  /** Delivers whatever the outbox holds to D1 now, for a read of D1 that must see this object's writes. */
  async flush(): Promise<void> {
    await this.outbox.drain();
  }

  // ── credential status ────────────────────────────────────────────────────

  getStatus(did: string, credentialId: string): { revoked: boolean; suspended: boolean } {
    this.meta.bind(did);
    const { revoked, suspended } = this.statusLists.flags(credentialId);
    return { revoked, suspended };
  }

  /**
   * Applies status changes (each on its own; refused ones carry a `code`), then re-signs every
   * list whose bits changed with one status-list job per list, folding into it any older pending one
   * (durable-objects/status-changes.ts).
   */
  setStatus(did: string, origin: string, changes: StatusChange[]): Promise<Result<StatusChanges>> {
    this.meta.bind(did);
    return this.statusUpdates.apply(did, origin, changes);
  }

  /** Where one of this issuer's status lists stands in publication (operators). */
  statusListPublication(did: string, listId: string): Result<ListPublication> {
    this.meta.bind(did);
    const view = this.statusLists.publication(listId);
    return view ? ok(view) : fail("not_found", `status list ${listId} not found`);
  }

  // ── sign jobs and operations ─────────────────────────────────────────────

  // Reads of jobs go through the archive: an archived job is read back from R2, whole.
  async getJob(id: string): Promise<Result<SignJob>> {
    const job = await this.reads.job(id);
    return job ? ok(job) : fail("not_found", `sign job ${id} not found`);
  }

  listJobs(
    status: SignJob["status"] | undefined,
    afterSeq: number,
    pageSize: number,
    operationId?: string,
  ): Promise<{ jobs: SignJob[]; next?: number }> {
    return this.reads.list(status, afterSeq, pageSize, operationId);
  }

  async submit(id: string, submission: Submission, origin: string): Promise<Result<SignJob>> {
    const result = await this.signatures.submit(id, submission, origin);
    await this.afterChange();
    return result;
  }

  /** A batch of signatures: each judged on its own; only the outcome crosses back, not the jobs. */
  async submitMany(items: { id: string; submission: Submission }[], origin: string): Promise<SignOutcome[]> {
    const results = await this.signatures.submitMany(items, origin);
    await this.afterChange();
    return results.map((r, i) => signOutcome(items[i]!.id, r));
  }

  async reject(id: string, reason: string): Promise<Result<SignJob>> {
    const result = await this.signatures.reject(id, reason);
    await this.afterChange();
    return result;
  }

  /** An operation made whole from its jobs, archived ones read back from R2. */
  getOperation(id: string): Promise<Operation | null> {
    return this.reads.operation(id);
  }

  /** The operations among `ids` held here, whole: a page of `GET /v1/operations`, one call per issuer per page. */
  async getOperations(ids: string[]): Promise<Operation[]> {
    const found = await Promise.all(ids.slice(0, 1000).map((id) => this.getOperation(id)));
    return found.filter((op): op is Operation => op !== null);
  }

  /**
   * An operation that waits for a decision before any job exists (a credential application under
   * review); `createArtifacts` with its id adds the jobs later. Idempotent.
   */
  async openOperation(did: string, id: string): Promise<Result<Operation>> {
    this.meta.bind(did);
    if (this.meta.deactivated()) return fail("did_deactivated", this.meta.deactivatedDetail(did));
    const op = this.engine.open(id);
    await this.afterChange();
    return ok(op);
  }

  async cancelOperation(id: string): Promise<Result<Operation>> {
    const result = this.rotations.owns(id)
      ? this.rotations.cancel(id, Date.now())
      : this.engine.cancelOperation(id, "cancelled by operator");
    await this.afterChange();
    // A credential's operation archived with its job is done, as it was while hot.
    if (!result.ok && result.code === "not_found" && (await this.reads.operation(id))) {
      return fail("operation_done", "the operation is already done");
    }
    return result;
  }

  // ── time ─────────────────────────────────────────────────────────────────

  override alarm(): Promise<void> {
    return this.upkeep.alarm();
  }

  private afterChange(): Promise<void> {
    return this.upkeep.afterChange();
  }

  // ── signer sockets (hibernation API) ─────────────────────────────────────

  /**
   * Step one of a signer socket (RPC): who is connecting, as the Worker authenticated it, in
   * exchange for a one-time ticket. The upgrade itself must come through `fetch`, which accepts
   * only a request carrying such a ticket, so no header can claim a principal.
   */
  async admit(did: string, principal: Principal | null, origin: string): Promise<Result<string>> {
    this.meta.bind(did);
    if (this.meta.deactivated()) return fail("not_found", `DID ${did} not found`);
    return this.sockets.admit(principal, origin);
  }

  override async fetch(request: Request): Promise<Response> {
    const { response, ready } = this.sockets.accept(request);
    if (ready) this.leases.welcome(ready);
    if (response.status === 101) await this.afterChange();
    return response;
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const event = await this.sockets.receive(ws, message);
    if (event?.type === "ready") this.leases.welcome(event.socket);
    if (event?.type !== "frame") return event ? this.afterChange() : undefined;
    const m = event.message;
    if (m.type === "sign-batch") {
      // One verification round, one transaction, one delivery, one `results` frame for the lot.
      const results = await this.signatures.submitMany(
        m.signatures.map((x) => ({ id: x.id, submission: submissionOf(x) })),
        event.socket.a.origin,
      );
      await this.afterChange();
      send(ws, { type: "results", results: results.map((r, i) => signOutcome(m.signatures[i]!.id, r)) });
      return;
    }
    const result =
      m.type === "sign"
        ? await this.signatures.submit(m.id, submissionOf(m), event.socket.a.origin)
        : await this.signatures.reject(m.id, m.reason);
    // Delivered and re-armed before the answer, so a signer that reads `result` finds the operation done.
    await this.afterChange();
    send(ws, resultFrame(m.id, result));
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    const signer = this.sockets.closed(ws, code, reason);
    if (signer !== null && this.leases.gone(signer)) await this.afterChange();
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws, 1011, "error");
  }
}
