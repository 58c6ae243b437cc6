/**
 * Idempotency-Key (IETF httpapi draft) as both layers see it. The HTTP layer validates the header
 * and fingerprints the request; the store that makes the change keeps the record in the same
 * transaction as the change (the issuer object's SQLite for credentials, D1 for DIDs).
 */

/** How long a record answers retries. The contract promises at least 24 hours. */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;

/**
 * Keys the service makes itself for a create that came without one, so that its own retry of an
 * object call that failed in transit cannot create twice. They only need to outlive that retry.
 */
export const INTERNAL_IDEMPOTENCY_TTL_MS = 10 * 60 * 1000;
/** The scope of those keys; the issuer object's SQL names it literally (a partial index needs the literal). */
export const INTERNAL_SCOPE = "internal";

export const IDEMPOTENCY_KEY_MAX = 255;

/** A create tagged with a key: who asked (`scope`), the key, and a digest of what was asked. */
export interface IdempotencyClaim {
  /** The caller: `operator:<token digest>` or `did:<DID>`; a key only ever matches its own caller's. */
  scope: string;
  key: string;
  /** SHA-256 of method, path and canonical body: the same key with another request is refused. */
  fingerprint: string;
  ttlMs: number;
  /**
   * Set by the service on the first attempt with a key it made itself for this request: no record
   * can exist under a key minted a moment ago, so the object skips looking for one. Its retry
   * sends the claim without it and looks.
   */
  fresh?: true;
}
