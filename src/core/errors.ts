/**
 * The error codes every layer shares: the issuer object returns them in its results, the HTTP
 * layer maps them to statuses (src/http/rpc.ts). A leaf module: it imports nothing.
 */
/** Stable, lowercase error codes. Clients switch on these; never rename one. */
export type ProblemCode =
  | "validation_failed"
  | "malformed_json"
  | "unauthorized"
  | "forbidden"
  | "not_found"
  | "method_not_allowed"
  | "payload_too_large"
  | "conflict"
  | "invalid_public_key"
  | "invalid_signature"
  | "job_already_signed"
  | "job_not_pending"
  | "operation_done"
  | "custody_unavailable"
  | "key_revoked"
  | "no_signing_key"
  | "did_deactivated"
  | "status_not_enabled"
  | "revocation_permanent"
  | "not_acceptable"
  | "unsupported_media_type"
  | "rate_limited"
  | "upstream_failed"
  | "idempotency_key_reused"
  | "idempotency_key_in_progress"
  | "overloaded"
  | "issuer_unavailable"
  | "internal_error";

/** Seconds a client should wait before retrying an `overloaded` or `idempotency_key_in_progress` answer. */
export const RETRY_AFTER_SECONDS = 1;
