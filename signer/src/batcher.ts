import type { Answer } from "./protocol.js";

/** Signatures per batched `sign` frame at most (api.md "Signer WebSocket"). */
export const MAX_BATCH = 1000;

type Signed = Extract<Answer, { type: "sign" }>;

export interface BatcherOptions {
  /** How long the first signature of a batch waits for others, in ms; 0 sends each at once. */
  windowMs: number;
  /** Signatures per frame at most (1..MAX_BATCH). */
  max: number;
}

/**
 * Collects the signatures of one connection for a few milliseconds, or until `max` of them, and
 * sends them as one `{ type: "sign", signatures: [...] }` frame, which the service verifies and
 * commits together and answers with one `results` frame. A lone signature goes as the single
 * frame, and rejects always do.
 *
 * A service that predates batched frames answers one with an `error` frame (`validation_failed`).
 * Until the first `results` frame confirms batching, every batch sent is kept; on such an error
 * the batcher falls back to single frames for the rest of the connection and sends the kept
 * answers again one by one. A repeat is harmless: the same signature on a signed job is a 200.
 */
export class Batcher {
  private buffer: Signed[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private mode: "probing" | "batch" | "single";
  /** Batches sent before the service confirmed it understands them. */
  private unconfirmed: Signed[][] = [];
  /** Errors still due for batches that were already sent again one by one. */
  private echoes = 0;

  constructor(
    private readonly send: (frame: unknown) => void,
    private readonly opts: BatcherOptions,
    private readonly onFallback?: (resent: number) => void,
  ) {
    this.mode = opts.windowMs <= 0 || opts.max <= 1 ? "single" : "probing";
  }

  add(answer: Answer): void {
    if (answer.type !== "sign" || this.mode === "single") return this.send(answer);
    this.buffer.push(answer);
    if (this.buffer.length >= this.opts.max) return this.flush();
    this.timer ??= setTimeout(() => this.flush(), this.opts.windowMs);
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.buffer;
    this.buffer = [];
    if (batch.length === 0) return;
    if (batch.length === 1 || this.mode === "single") {
      for (const a of batch) this.send(a);
      return;
    }
    if (this.mode === "probing") this.unconfirmed.push(batch);
    this.send({ type: "sign", signatures: batch.map(({ id, signature }) => ({ id, signature })) });
  }

  /** A `results` frame arrived: the service takes batched frames. */
  confirmed(): void {
    if (this.mode !== "probing") return;
    this.mode = "batch";
    this.unconfirmed = [];
  }

  /** An `error` frame arrived; returns true when it was the answer to a batch this service cannot read. */
  refused(code: string): boolean {
    if (code !== "validation_failed") return false;
    if (this.mode === "single" && this.echoes > 0) {
      this.echoes--;
      return true;
    }
    if (this.mode !== "probing" || this.unconfirmed.length === 0) return false;
    this.mode = "single";
    this.echoes = this.unconfirmed.length - 1;
    const resend = [...this.unconfirmed.flat(), ...this.buffer];
    this.unconfirmed = [];
    this.buffer = [];
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (const a of resend) this.send(a);
    this.onFallback?.(resend.length);
    return true;
  }

  /** The connection closed: what is still buffered is dropped (the runner keeps the answers for a re-offer). */
  close(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.buffer = [];
    this.unconfirmed = [];
  }
}
