/**
 * How a status list's publication is retried, shared by the issuer object (which schedules the
 * retries) and the HTTP layer (which documents and shows them).
 *
 * A list whose newest sign job ended unsigned (a signer rejected it, it expired, an operator
 * cancelled it) is offered again after 30 s, then 60 s, 120 s, ... and not after its 8th job for
 * the same bits: a signer that refuses a list does not get a new job every 30 s forever. A change
 * of the list's bits starts over at one attempt.
 */
export const PUBLISH_RETRY_BASE_MS = 30_000;
export const PUBLISH_MAX_ATTEMPTS = 8;

export type PublicationState = "published" | "pending" | "retrying" | "failed" | "stopped";

/** Where a list's publication stands. */
export interface Publication {
  /**
   * `published`: its newest revision is signed. `pending`: a sign job for it is waiting.
   * `retrying`: the newest job ended unsigned and another is offered at `nextAttemptAt`.
   * `failed`: `attempts` jobs in a row ended unsigned; none is offered until its bits change.
   * `stopped`: the issuer cannot sign (its DID was deleted or its keys revoked).
   */
  state: PublicationState;
  /** Sign jobs offered for the list's current bits. */
  attempts: number;
  nextAttemptAt?: string;
  /** Why the newest job ended unsigned. */
  lastError?: string;
}
