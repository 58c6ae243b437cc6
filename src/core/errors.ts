/**
 * The error codes and the one result shape every layer shares: the issuer object returns them,
 * crypto and verification return them, the HTTP layer maps codes to statuses (src/http/rpc.ts).
 */
import type { SignJob } from "./models";

/** Stable, lowercase error codes. Clients switch on these; never rename one. */
export type ProblemCode =
  | "validation_failed"
  /** A credential application names a manifest that does not exist (400). */
  | "manifest_not_found"
  /** A presentation submission does not satisfy its definition (400). */
  | "submission_invalid"
  /** A submitted credential does not verify (400). */
  | "credential_invalid"
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
  | "did_immutable"
  | "did_operation_pending"
  /** A key rotation of this DID is still running (409). */
  | "rotation_in_progress"
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
  | "not_verified"
  | "schema_validation_failed"
  | "presentation_rejected"
  /** This holder-signed JWT was submitted before: a replay (409). */
  | "already_submitted"
  /** This holder already answered that presentation or manifest request (its nonce is used once) (409). */
  | "request_answered"
  /** An index shard migration is already running (409): finish it first. */
  | "index_migration_running"
  /** The shard count asked for cannot be served: not more than today's, or a shard binding is missing (409). */
  | "index_shards_unavailable"
  | "internal_error";

/** Seconds a client should wait before retrying an `overloaded` or `idempotency_key_in_progress` answer. */
export const RETRY_AFTER_SECONDS = 1;

/** An RFC 9457 problem, as the HTTP API and the issuer object's own answers (the socket upgrade) carry it. */
export type FieldError = { path: string; message: string };

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ProblemCode;
  errors?: FieldError[];
  requestId?: string;
  [extra: string]: unknown;
}

export const TITLES: Partial<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

export function problemBody(status: number, code: ProblemCode, detail: string, errors?: FieldError[], extra?: object): Problem {
  return {
    type: `https://ssi-edge.dev/problems/${code}`,
    title: TITLES[status] ?? "Error",
    status,
    detail,
    code,
    ...(errors && errors.length > 0 ? { errors } : {}),
    ...extra,
  };
}

export function problemResponse(problem: Problem, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  h.set("content-type", "application/problem+json");
  return new Response(JSON.stringify(problem), { status: problem.status, headers: h });
}

/** An expected failure: a code, words for people, and where it applies (a field path, the job concerned). */
export type Failure = { ok: false; code: ProblemCode; detail: string; path?: string; job?: SignJob };

/** Expected failures travel as values (across RPC too); a thrown error is a bug. */
export type Result<T> = { ok: true; value: T } | Failure;

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });

export function fail(code: ProblemCode, detail: string, extra?: { path?: string; job?: SignJob }): Failure {
  return { ok: false, code, detail, ...extra };
}
