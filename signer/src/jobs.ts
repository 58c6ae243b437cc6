import { base64url, type JWK } from "jose";
import { verifyJose, type SigningBackend } from "./backend.js";
import { refusal } from "./inspect.js";
import type { Log } from "./log.js";
import type { Policy } from "./policy.js";
import { SignJobSchema, type Answer, type SignJob } from "./protocol.js";

/**
 * The refusal reason for a job, or undefined to sign it. An inspection that throws (a hostile job
 * built to overflow a comparison or break a decoder) is a refusal too: it is nothing this signer
 * signs, and dropping the job instead would have the service re-offer it every lease, forever.
 * Only a backend failure (HSM hiccup) leaves a job for a retry.
 */
function inspect(job: SignJob, me: Parameters<typeof refusal>[1]): string | undefined {
  try {
    return refusal(job, me);
  } catch (e) {
    return `sign job could not be inspected (${e instanceof Error ? e.name : "error"})`;
  }
}

/** What the log lines name a job by; a malformed job has only its id. */
type JobRef = Pick<SignJob, "id"> & { kind?: string; alg?: string };

type Entry =
  | { state: "inflight"; job: JobRef; started: number }
  | { state: "answered"; job: JobRef; started: number; answer: Answer; orphaned?: boolean }
  | { state: "settled" };

const MAX_SETTLED = 50_000;

/** Thrown to a signature waiting for a window slot when the daemon starts draining. */
class Drained extends Error {}

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
  /**
   * Jobs whose signature is being made or was sent, with no verdict from the service yet: the
   * window `maxUnconfirmed` bounds. Bounding it bounds what a dying daemon can have signed that
   * the service never saw, and the HSM work wasted when the service falls behind.
   */
  private readonly unconfirmed = new Set<string>();
  private windowWaiters: (() => void)[] = [];
  private isDraining = false;

  constructor(
    private readonly backend: SigningBackend,
    private readonly opts: {
      did: string;
      kid: string;
      /** The key reference the DID was registered with, when known; jobs naming another are refused. */
      keyRef?: string;
      policy?: Policy;
      concurrency: number;
      /**
       * Signatures made and not yet confirmed by the service, at most this many (unset: no bound).
       * Only for the socket, where verdicts arrive one by one; a poll round waits for all its
       * answers before sending any, so a window smaller than a round would never open.
       */
      maxUnconfirmed?: number;
    },
    private readonly log: Log,
  ) {}

  /** Set while shutting down: new jobs are left for the service to re-offer to another signer. */
  get draining(): boolean {
    return this.isDraining;
  }

  set draining(on: boolean) {
    this.isDraining = on;
    // Signatures waiting for a window slot give up: their jobs stay pending upstream.
    if (on) this.wakeWindow();
  }

  /** Parses and answers one offered job; undefined means nothing to send now. */
  async offer(raw: unknown): Promise<Answer | undefined> {
    const parsed = SignJobSchema.safeParse(raw);
    if (!parsed.success) {
      const id = (raw as { id?: unknown } | null)?.id;
      this.log.warn("bad_job", { id, error: parsed.error.message });
      // Answer what can be answered: ignored, the job would come back every lease, forever.
      if (typeof id !== "string" || id === "" || id.length > 200) return undefined;
      const known = this.entries.get(id);
      if (known?.state === "answered") return known.answer;
      if (known || this.draining) return undefined;
      const issue = parsed.error.issues[0];
      const answer: Answer = {
        type: "reject",
        id,
        reason: `malformed sign job: ${issue?.path.join(".")} ${issue?.message}`.slice(0, 1000),
      };
      this.entries.set(id, { state: "answered", job: { id }, started: Date.now(), answer });
      return answer;
    }
    const job = parsed.data;
    const entry = this.entries.get(job.id);
    if (entry?.state === "answered") {
      entry.orphaned = false;
      return entry.answer;
    }
    if (entry || this.draining) return undefined;
    const started = Date.now();
    this.entries.set(job.id, { state: "inflight", job, started });
    let answer: Answer;
    try {
      // A job for another key is refused like any other: the protocol has no hand-back, and an
      // ignored job is offered to this signer again every lease, forever.
      const reason = inspect(job, { ...this.opts, alg: this.backend.alg });
      answer = reason
        ? { type: "reject", id: job.id, reason: reason.slice(0, 1000) }
        : { type: "sign", id: job.id, signature: base64url.encode(await this.signLimited(job)) };
    } catch (e) {
      // Forget the job so a re-offer retries it (an HSM hiccup is usually transient).
      this.entries.delete(job.id);
      this.release(job.id);
      if (e instanceof Drained) return undefined;
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
    this.release(id);
    const { job, started } = entry;
    const base = { id, kind: job.kind, alg: job.alg, ms: Date.now() - started };
    if (status === "signed" || status === "rejected") {
      const reason = entry.state === "answered" && entry.answer.type === "reject" ? entry.answer.reason : undefined;
      this.log.job(status, { ...base, ...(code ? { code } : {}), ...(reason ? { reason } : {}) });
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
      this.release(id);
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
    for (const [id, e] of this.entries) {
      if (e.state !== "answered") continue;
      e.orphaned = true;
      this.release(id);
    }
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

  /** Waits until the window of unconfirmed signatures has room for this job, then takes a place in it. */
  private async windowSlot(id: string): Promise<void> {
    const max = this.opts.maxUnconfirmed;
    while (max !== undefined && this.unconfirmed.size >= max) {
      await new Promise<void>((r) => this.windowWaiters.push(r));
      if (this.isDraining) throw new Drained("draining");
    }
    this.unconfirmed.add(id);
  }

  private release(id: string): void {
    if (this.unconfirmed.delete(id)) this.wakeWindow();
  }

  /** Every waiter re-checks the window; they queue again in the order they waited. */
  private wakeWindow(): void {
    const waiters = this.windowWaiters;
    this.windowWaiters = [];
    for (const w of waiters) w();
  }

  private async signLimited(job: SignJob): Promise<Uint8Array> {
    await this.windowSlot(job.id);
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
