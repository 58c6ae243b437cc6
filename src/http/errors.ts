import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ZodError } from "zod";

import { RETRY_AFTER_SECONDS, TITLES, problemBody, problemResponse, type FieldError, type ProblemCode } from "../core/errors";

export { problemBody, problemResponse, type ProblemCode };

/** A failure the client caused or must know about; becomes a problem+json response. */
export class ProblemError extends Error {
  /** Seconds for a `Retry-After` header: the refusal is temporary (overload, a create still in flight). */
  retryAfter?: number;

  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: ProblemCode,
    detail: string,
    readonly errors?: FieldError[],
    readonly extra?: Record<string, unknown>,
  ) {
    super(detail);
    this.name = "ProblemError";
  }
}

export const notFound = (what: string) => new ProblemError(404, "not_found", `${what} not found`);
export const badRequest = (path: string, message: string) =>
  new ProblemError(400, "validation_failed", `${path}: ${message}`, [{ path, message }]);

/** Every zod issue becomes one `{ path, message }`, so a client sees all failing fields at once. */
export function zodFieldErrors(error: ZodError, prefix?: string): FieldError[] {
  const pathOf = (segments: readonly PropertyKey[]) =>
    [prefix, ...segments.map(String)].filter((p): p is string => !!p).join(".") || "(body)";
  return error.issues.flatMap((issue) =>
    // An unknown member is named itself, not its parent object.
    issue.code === "unrecognized_keys"
      ? issue.keys.map((key) => ({ path: pathOf([...issue.path, key]), message: "unknown field" }))
      : [{ path: pathOf(issue.path), message: issue.message }],
  );
}

export function validationProblem(error: ZodError, prefix?: string): ProblemError {
  const errors = zodFieldErrors(error, prefix);
  const detail = errors.map((e) => `${e.path}: ${e.message}`).join("; ");
  return new ProblemError(400, "validation_failed", detail, errors);
}

/** The one error handler, mounted at the root. */
export function handleError(err: Error, c: Context): Response {
  const requestId = c.get("requestId" as never) as string | undefined;
  const reply = (status: number, code: ProblemCode, detail: string, errors?: FieldError[], headers?: HeadersInit) =>
    problemResponse(problemBody(status, code, detail, errors, { requestId }), headers);
  if (err instanceof ProblemError) {
    const retry = err.retryAfter !== undefined ? { "retry-after": String(err.retryAfter) } : undefined;
    return problemResponse(problemBody(err.status, err.code, err.message, err.errors, { ...err.extra, requestId }), retry);
  }
  if (err instanceof ZodError) {
    const p = validationProblem(err);
    return reply(400, p.code, p.message, p.errors);
  }
  if (err instanceof HTTPException) {
    if (err.status === 413) return reply(413, "payload_too_large", "request body exceeds 1 MiB");
    // Hono's validator throws a bare 400 when a JSON body does not parse.
    if (err.status === 400 && /json/i.test(err.message)) {
      return reply(400, "malformed_json", "the request body is not valid JSON", [{ path: "(body)", message: "not valid JSON" }]);
    }
    const codes: Partial<Record<number, ProblemCode>> = { 401: "unauthorized", 404: "not_found", 415: "unsupported_media_type" };
    const detail = err.message || TITLES[err.status] || "error";
    return reply(err.status, codes[err.status] ?? "validation_failed", detail, undefined, err.getResponse().headers);
  }
  // decodeURIComponent on a client's path: bad percent-encoding is the client's error, not ours.
  if (err instanceof URIError) {
    return reply(400, "validation_failed", "the URL has malformed percent-encoding", [{ path: "(url)", message: err.message }]);
  }
  // A Durable Object that was reset (a crash, a deploy) or is overloaded under a call: temporary,
  // and the client is told when to retry rather than handed a 500.
  const objectFailure = err as { durableObjectReset?: unknown; overloaded?: unknown; retryable?: unknown };
  if (objectFailure.overloaded === true || objectFailure.durableObjectReset === true || objectFailure.retryable === true) {
    console.warn(JSON.stringify({ level: "warn", requestId, event: "object.unavailable", message: err.message }));
    const retry = { "retry-after": String(RETRY_AFTER_SECONDS) };
    if (objectFailure.overloaded === true) return reply(503, "overloaded", "the issuer is busy; retry shortly", undefined, retry);
    const detail = "the issuer was restarted while answering; retry (creates: with the same Idempotency-Key)";
    return reply(503, "issuer_unavailable", detail, undefined, retry);
  }
  // A bug or an outage: log everything, tell the client nothing internal.
  console.error(JSON.stringify({ level: "error", requestId, message: err.message, stack: err.stack }));
  return reply(500, "internal_error", `unexpected error; quote request id ${requestId ?? "unknown"}`);
}
