import type { ContentfulStatusCode } from "hono/utils/http-status";
import { RETRY_AFTER_SECONDS, type Failure, type ProblemCode, type Result } from "../core/errors";
import { ProblemError } from "./errors";

const STATUS: Partial<Record<ProblemCode, ContentfulStatusCode>> = {
  not_found: 404,
  unauthorized: 401,
  forbidden: 403,
  invalid_signature: 422,
  job_already_signed: 409,
  job_not_pending: 409,
  operation_done: 409,
  conflict: 409,
  key_revoked: 409,
  no_signing_key: 409,
  did_immutable: 409,
  did_operation_pending: 409,
  rotation_in_progress: 409,
  did_deactivated: 409,
  already_submitted: 409,
  request_answered: 409,
  custody_unavailable: 503,
  status_not_enabled: 409,
  revocation_permanent: 409,
  validation_failed: 400,
  idempotency_key_reused: 422,
  idempotency_key_in_progress: 409,
  overloaded: 503,
  issuer_unavailable: 503,
};

/** Refusals that are only for now: the answer says when to try again. */
const TEMPORARY = new Set<ProblemCode>(["overloaded", "idempotency_key_in_progress", "issuer_unavailable"]);

/** The HTTP status of an error code. */
export function httpStatusOf(code: ProblemCode): ContentfulStatusCode {
  return STATUS[code] ?? 400;
}

/** Unwraps an issuer object's result, turning an expected failure into its problem response. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw problemOf(result);
}

/** The problem an issuer object's refusal becomes, with `Retry-After` when it is temporary. */
export function problemOf(result: Failure): ProblemError {
  const err = new ProblemError(
    httpStatusOf(result.code),
    result.code,
    result.detail,
    undefined,
    result.job ? { job: result.job } : undefined,
  );
  if (TEMPORARY.has(result.code)) err.retryAfter = RETRY_AFTER_SECONDS;
  return err;
}
