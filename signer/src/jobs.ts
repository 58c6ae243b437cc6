import { base64url, type JWK } from "jose";
import { verifyJose, type SigningBackend } from "./backend.js";
import type { Log } from "./log.js";
import { checkPolicy, type Policy } from "./policy.js";
import { SignJobSchema, type Answer, type SignJob } from "./protocol.js";

type Entry =
  | { state: "inflight"; job: SignJob; started: number }
  | { state: "answered"; job: SignJob; started: number; answer: Answer; orphaned?: boolean }
  | { state: "settled" };

const MAX_SETTLED = 50_000;

/**
 * Turns offered jobs into answers, exactly once per job id. Delivery from the service is at least
 * once, so:
 *  - a job already being signed is skipped;
 *  - a job answered but not yet confirmed (the socket may have dropped) gets the *same* answer
 *    again: re-signing would give a different ECDSA signature, which the service refuses with
 *    409 once the first one landed;
 *  - a job with a confirmed result, or cancelled, is skipped.
 */
export class JobRunner {
  private readonly entries = new Map<string, Entry>();
  private running = 0;
  private readonly queue: (() => void)[] = [];
  private publicJwk: JWK | undefined;
  /** Set while shutting down: new jobs are left for the service to re-offer to another signer. */
  draining = false;

  constructor(
    private readonly backend: SigningBackend,
    private readonly opts: { did: string; kid: string; policy?: Policy; concurrency: number },
    private readonly log: Log,
  ) {}

  /** Parses and answers one offered job; undefined means nothing to send now. */
  async offer(raw: unknown): Promise<Answer | undefined> {
    const parsed = SignJobSchema.safeParse(raw);
    if (!parsed.success) {
      this.log.warn("bad_job", {
        id: (raw as { id?: unknown } | null)?.id,
        error: parsed.error.message,
      });
      return undefined;
    }
    const job = parsed.data;
    const entry = this.entries.get(job.id);
    if (entry?.state === "answered") {
      entry.orphaned = false;
      return entry.answer;
    }
    if (entry || this.draining) return undefined;
    if (job.verificationMethodId !== this.opts.kid || job.did !== this.opts.did) {
      // Another key of the same DID may be served by another signer; leave the job to it.
      this.log.warn("job_for_other_key", {
        id: job.id,
        verificationMethodId: job.verificationMethodId,
      });
      return undefined;
    }
    const started = Date.now();
    this.entries.set(job.id, { state: "inflight", job, started });
    let answer: Answer;
    try {
      const reason = this.refusal(job);
      answer = reason
        ? { type: "reject", id: job.id, reason }
        : { type: "sign", id: job.id, signature: base64url.encode(await this.signLimited(job)) };
    } catch (e) {
      // Forget the job so a re-offer retries it (an HSM hiccup is usually transient).
      this.entries.delete(job.id);
      this.log.job("failed", {
        id: job.id,
        kind: job.kind,
        alg: job.alg,
        ms: Date.now() - started,
        error: String(e),
      });
      return undefined;
    }
    // A `cancelled` frame may have arrived while we were signing.
    if (this.entries.get(job.id)?.state !== "inflight") return undefined;
    this.entries.set(job.id, { state: "answered", job, started, answer });
    return answer;
  }

  /** Records the service's verdict on an answer (`result` frame or batch PUT result). */
  settle(id: string, status: string, code?: string): void {
    const entry = this.entries.get(id);
    if (!entry || entry.state === "settled") return;
    const { job, started } = entry;
    const base = { id, kind: job.kind, alg: job.alg, ms: Date.now() - started };
    if (status === "signed" || status === "rejected") {
      this.log.job(status, { ...base, ...(code ? { code } : {}) });
      this.markSettled(id);
    } else if (code === "job_already_signed" || code === "job_not_pending") {
      // Someone else completed or the job was withdrawn: nothing to retry.
      this.log.job("failed", { ...base, status, code });
      this.markSettled(id);
    } else {
      // E.g. invalid_signature: the job stays pending upstream; let a re-offer try again.
      this.log.job("failed", { ...base, status, ...(code ? { code } : {}) });
      this.entries.delete(id);
    }
  }

  cancel(ids: string[]): void {
    for (const id of ids) {
      const entry = this.entries.get(id);
      if (entry?.state === "settled") continue;
      if (entry)
        this.log.job("cancelled", {
          id,
          kind: entry.job.kind,
          alg: entry.job.alg,
          ms: Date.now() - entry.started,
        });
      this.markSettled(id);
    }
  }

  /**
   * Called when the connection drops: answers sent on it may never get a `result` (the service
   * may have applied them just before the drop, and will then not re-offer the job). They stay
   * cached for a re-offer but stop counting as pending, so drain and token refresh do not wait
   * for results that cannot come.
   */
  detach(): void {
    for (const e of this.entries.values()) if (e.state === "answered") e.orphaned = true;
  }

  /** Jobs being signed, or answered on the current connection without a result yet. */
  get pending(): number {
    let n = 0;
    for (const e of this.entries.values()) {
      if (e.state === "inflight" || (e.state === "answered" && !e.orphaned)) n++;
    }
    return n;
  }

  get inflight(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.state === "inflight") n++;
    return n;
  }

  private markSettled(id: string): void {
    this.entries.delete(id);
    this.entries.set(id, { state: "settled" });
    // Maps iterate in insertion order, so the first settled entries are the oldest.
    if (this.entries.size > MAX_SETTLED) {
      for (const [k, v] of this.entries) {
        if (this.entries.size <= MAX_SETTLED) break;
        if (v.state === "settled" || (v.state === "answered" && v.orphaned)) this.entries.delete(k);
      }
    }
  }

  /**
   * Policy is checked against the payload inside `signingInput` (what actually gets signed), not
   * the job's separate `payload` field, so a service cannot show one thing and sign another.
   */
  private refusal(job: SignJob): string | undefined {
    if (job.alg !== this.backend.alg)
      return `signer key is ${this.backend.alg}, job wants ${job.alg}`;
    const [h, p] = job.signingInput.split(".") as [string, string];
    let header: Record<string, unknown>, payload: Record<string, unknown>;
    try {
      header = JSON.parse(new TextDecoder().decode(base64url.decode(h)));
      payload = JSON.parse(new TextDecoder().decode(base64url.decode(p)));
    } catch {
      return "signingInput is not a JSON JWS header and payload";
    }
    if (header.alg !== job.alg)
      return `signingInput header alg ${String(header.alg)} differs from job alg`;
    if (header.kid !== undefined && header.kid !== this.opts.kid)
      return `signingInput kid is not ${this.opts.kid}`;
    return this.opts.policy ? checkPolicy(this.opts.policy, job.kind, payload) : undefined;
  }

  private async signLimited(job: SignJob): Promise<Uint8Array> {
    // A finishing sign hands its slot straight to the next waiter, so the limit is never overshot.
    if (this.running < this.opts.concurrency) this.running++;
    else await new Promise<void>((r) => this.queue.push(r));
    try {
      const sig = await this.backend.sign(job.signingInput);
      this.publicJwk ??= await this.backend.publicJwk();
      if (!verifyJose(job.alg, this.publicJwk, job.signingInput, sig)) {
        throw new Error("backend produced a signature that does not verify with its public key");
      }
      return sig;
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    }
  }
}
