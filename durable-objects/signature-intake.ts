/**
 * Signatures signers submit for sign jobs (`PUT /v1/signjobs/{id}`, a `PUT /v1/signjobs` batch,
 * `sign` and `sign-batch` socket frames): each checked against its job, verified against the key,
 * and applied by the engine's state machine (Engine.accept) if it is the first valid one. Kept apart
 * from the engine, which owns the transitions; this is the one way in for a signature from outside.
 */
import { base64url } from "jose";
import { fail, ok, type Result } from "../src/core/errors";
import type { KindContext } from "../src/core/kinds";
import type { IssuerKey, SignJob, Submission } from "../src/core/models";
import { decodeSignature, splitCompactJws, verifySignature } from "../src/crypto";
import type { Engine } from "./engine";
import type { JobRow } from "./jobs";
import { turnsOf, yieldTurn } from "./turns";

const enc = new TextEncoder();

/** A submitted signature that passed the cheap checks, waiting for verification. */
type SignatureCheck = { at: number; job: JobRow; key: IssuerKey; signature: Uint8Array; encoded: string };

/**
 * The batch's jobs as last read, for the turns: `fresh` are the ids whose rows are current as of
 * JobStore.version `version` (the turns' own changes are written into `rows` as they are made).
 */
type Snapshot = { rows: Map<string, JobRow>; fresh: Set<string>; version: number };

/**
 * What applying one signature costs a turn (turns.ts), in statements: the job's update, its
 * operation's states read and its update (test/cost/turns.test.ts: 3.0 per job); plus its
 * verification, about one statement's time natively (WebCrypto: EdDSA, ES256) and an estimated ten
 * for ES256K, which is verified in JavaScript (@noble/curves).
 */
const APPLY_COST = 3;
const verifyCost = (alg: string) => (alg === "ES256K" ? 10 : 1);

export class SignatureIntake {
  constructor(
    private readonly engine: Engine,
    /**
     * Whole rows of cold jobs among `ids` (durable-objects/archive.ts): a signer repeating a signature
     * of a job archived since gets the answer it would have got while the job was hot.
     */
    private readonly cold: (ids: string[]) => Promise<Map<string, JobRow>> = async () => new Map(),
  ) {}

  /**
   * Checks a signer's submission and, if it is the first valid one, signs the job.
   * Verification happens before anything changes; the state is re-read after the await.
   */
  async submit(jobId: string, submission: Submission, origin: string): Promise<Result<SignJob>> {
    return (await this.submitMany([{ id: jobId, submission }], origin))[0]!;
  }

  /**
   * Signatures for many jobs (a `PUT /v1/signjobs` batch, a batched `sign` frame), each judged on
   * its own with the rules of `submit`: decoded and checked against the job first, then verified
   * and applied in turns sized by their work (turns.ts, `applySignatures`). Each turn's transaction
   * judges a job by its state as it is then: read again when any job changed since the batch last
   * read it (another submission may have landed meanwhile); the same id twice in one batch is a repeat.
   */
  async submitMany(items: readonly { id: string; submission: Submission }[], origin: string): Promise<Result<SignJob>[]> {
    const out: Result<SignJob>[] = new Array(items.length);
    const checks: SignatureCheck[] = [];
    const keys = new Map<string, IssuerKey | null>();
    // The version before the read: a change made after it (a job expired below, a submission
    // landing during an await) makes the turns read their jobs again.
    const version = this.engine.jobs.version;
    const known = this.engine.jobs.getMany(items.map((i) => i.id));
    const missing = items.map((i) => i.id).filter((id) => !known.has(id));
    // Cold jobs are signed: `settled` answers them below, before anything is written for them.
    if (missing.length > 0) for (const [id, row] of await this.cold(missing)) known.set(id, row);
    for (const [at, { id, submission }] of items.entries()) {
      const job = known.get(id) ?? null;
      if (!job) {
        out[at] = fail("not_found", `sign job ${id} not found`);
        continue;
      }
      if (!keys.has(job.vm_id)) keys.set(job.vm_id, await this.engine.parts.keys.get(job.vm_id));
      const key = keys.get(job.vm_id);
      if (!key) {
        out[at] = fail("not_found", `key ${job.vm_id} not found`);
        continue;
      }
      let signature: Uint8Array;
      if (submission.jws !== undefined) {
        const split = splitCompactJws(job.alg, submission.jws);
        if (!split.ok) {
          out[at] = this.invalid(job, split.detail);
          continue;
        }
        // A job past retention no longer has its signing input to compare with; it is no longer
        // pending either, so the signature alone decides the answer (same: 200, other: 409).
        if (job.purged_at === null && split.value.signingInput !== job.signing_input) {
          out[at] = this.invalid(job, "the JWS signs a different header or payload than this job");
          continue;
        }
        signature = split.value.signature;
      } else {
        const decoded = decodeSignature(job.alg, submission.signature ?? "", submission.signatureFormat ?? "jose");
        if (!decoded.ok) {
          out[at] = this.invalid(job, decoded.detail);
          continue;
        }
        signature = decoded.value;
      }
      const encoded = base64url.encode(signature);
      const early = this.settled(job, encoded);
      if (early) out[at] = early;
      else checks.push({ at, job, key, signature, encoded });
    }
    // Verified and applied in turns, with a real yield between them: a batch of 1,000
    // would otherwise hold every other request on this object for its whole verify-and-commit.
    // Verification stays in the turns (not all up front): WebCrypto does not yield in workerd, and
    // an ES256K batch of 1,000 verified in JavaScript would hold the object for about a second.
    const snapshot: Snapshot = { rows: known, fresh: new Set(known.keys()), version };
    for (const [i, turn] of turnsOf(checks, (c) => APPLY_COST + verifyCost(c.job.alg)).entries()) {
      if (i > 0) await yieldTurn();
      await this.applySignatures(turn, origin, out, snapshot);
    }
    // No re-arm here: every caller ends with the object's afterChange, once per request or batch.
    return out;
  }

  /**
   * One turn of `submitMany`: the signatures verified at once (WebCrypto runs them natively), then
   * every valid one applied in one transaction, each job judged by its state as it is now.
   */
  private async applySignatures(checks: SignatureCheck[], origin: string, out: Result<SignJob>[], snapshot: Snapshot): Promise<void> {
    const valid = await Promise.all(
      checks.map((c) => verifySignature(c.job.alg, c.key.publicJwk, enc.encode(c.job.signing_input), c.signature)),
    );
    const now = Date.now();
    const signedIds: string[] = [];
    const jobs = this.engine.jobs;
    this.engine.tx(() => {
      // A job changed since the batch last read (another request, an expiry): every row may be
      // stale, and this turn's are read again, in one statement. Otherwise the rows in hand are
      // current (the turns' own changes are in them), and reading them again would be a statement
      // per turn for nothing.
      if (snapshot.version !== jobs.version) snapshot.fresh.clear();
      const stale = checks.map((c) => c.job.id).filter((id) => !snapshot.fresh.has(id));
      if (stale.length > 0) {
        for (const [id, row] of jobs.getMany(stale)) snapshot.rows.set(id, row);
        for (const id of stale) snapshot.fresh.add(id);
      }
      const before = jobs.version;
      // The signatures this turn applies, by key; an item for a job an earlier item of the turn
      // signs is answered once that one is applied (`repeats`).
      const accepts = new Map<string, { ctx: KindContext; items: { job: JobRow; signature: string; at: number }[] }>();
      const taken = new Set<string>();
      const repeats: SignatureCheck[] = [];
      checks.forEach((c, i) => {
        // Settled first, as if the items ran one after another: a job an earlier item (or another
        // request) signed answers by its signature, whether or not this one verified.
        if (taken.has(c.job.id)) {
          repeats.push(c);
          return;
        }
        const current = snapshot.rows.get(c.job.id)!;
        const settled = this.settled(current, c.encoded);
        if (settled) {
          out[c.at] = settled;
          return;
        }
        if (!valid[i]) {
          out[c.at] = this.invalid(current, `signature does not verify against ${c.job.vm_id}`);
          return;
        }
        let group = accepts.get(c.key.id);
        if (!group) accepts.set(c.key.id, (group = { ctx: this.engine.context(c.key, origin, now), items: [] }));
        group.items.push({ job: current, signature: c.encoded, at: c.at });
        taken.add(c.job.id);
      });
      for (const { ctx, items } of accepts.values()) {
        this.engine.acceptMany(ctx, items).forEach((signed, k) => {
          snapshot.rows.set(signed.id, signed);
          signedIds.push(signed.id);
          out[items[k]!.at] = ok(jobs.toSignJob(signed));
        });
      }
      for (const c of repeats) out[c.at] = this.settled(snapshot.rows.get(c.job.id)!, c.encoded)!;
      this.engine.parts.hooks.signed(signedIds);
      // Only this turn's signatures changed jobs (each is in `rows`): the rows stay current. Any
      // other change (an expiry in `settled`, a cancelled sibling) makes the next turn read again.
      snapshot.version = jobs.version;
      if (jobs.version !== before + signedIds.length) snapshot.fresh.clear();
    });
  }

  /** A signer refuses to sign: the job is rejected and its operation fails. The same checks as `submit`. */
  async reject(jobId: string, reason: string): Promise<Result<SignJob>> {
    if (this.engine.jobs.get(jobId)) return this.rejectHot(jobId, reason);
    // A cold job is signed: `settled` answers it as it did while hot.
    const cold = (await this.cold([jobId])).get(jobId);
    return cold ? this.settled(cold, null)! : fail("not_found", `sign job ${jobId} not found`);
  }

  private rejectHot(jobId: string, reason: string): Result<SignJob> {
    const job = this.engine.jobs.get(jobId);
    if (!job) return fail("not_found", `sign job ${jobId} not found`);
    const early = this.settled(job, null);
    if (early) return early;
    this.engine.end([job], { to: "rejected", code: "rejected_by_signer", reason });
    return ok(this.engine.jobs.toSignJob(this.engine.jobs.get(jobId)!));
  }

  /**
   * The answer for a job that is no longer open to a signature (`signature`, or a rejection when
   * null), or null if it is open. A pending job past its time expires here, as the alarm would.
   */
  private settled(job: JobRow, signature: string | null): Result<SignJob> | null {
    if (job.status === "signed") {
      if (signature !== null && job.signature === signature) return ok(this.engine.jobs.toSignJob(job));
      const detail = signature === null ? "a signed job cannot be rejected" : "this sign job is already signed with another signature";
      return fail("job_already_signed", detail, { job: this.engine.jobs.toSignJob(job) });
    }
    if (job.status === "pending" && job.expires_at <= Date.now()) {
      this.engine.expire([job]);
      return fail("job_not_pending", "sign job expired", { job: this.engine.jobs.toSignJob(this.engine.jobs.get(job.id)!) });
    }
    if (job.status !== "pending") return fail("job_not_pending", `sign job is ${job.status}`, { job: this.engine.jobs.toSignJob(job) });
    return null;
  }

  private invalid(job: JobRow, detail: string): Result<never> {
    this.engine.jobs.audit(job.id, "invalid_signature", { detail }, Date.now());
    return fail("invalid_signature", detail, { job: this.engine.jobs.toSignJob(job) });
  }
}
