import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ZodError } from "zod";

import { RETRY_AFTER_SECONDS, type ProblemCode } from "../core/errors";

export type { ProblemCode };

export interface FieldError {
  path: string;
  message: string;
}

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

const TITLES: Partial<Record<number, string>> = {
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

export function problemBody(
  status: number,
  code: ProblemCode,
  detail: string,
  errors?: FieldError[],
  extra?: Record<string, unknown>,
): Problem {
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
  if (err instanceof ProblemError) {
    return problemResponse(
      problemBody(err.status, err.code, err.message, err.errors, { ...err.extra, requestId }),
      err.retryAfter !== undefined ? { "retry-after": String(err.retryAfter) } : undefined,
    );
  }
  if (err instanceof ZodError) {
    const p = validationProblem(err);
    return problemResponse(problemBody(400, p.code, p.message, p.errors, { requestId }));
  }
  if (err instanceof HTTPException) {
    if (err.status === 413) {
      return problemResponse(
        problemBody(413, "payload_too_large", "request body exceeds 1 MiB", undefined, { requestId }),
      );
    }
    // Hono's validator throws a bare 400 when a JSON body does not parse.
    if (err.status === 400 && /json/i.test(err.message)) {
      return problemResponse(
        problemBody(400, "malformed_json", "the request body is not valid JSON", [{ path: "(body)", message: "not valid JSON" }], {
          requestId,
        }),
      );
    }
    const code: ProblemCode =
      err.status === 401
        ? "unauthorized"
        : err.status === 404
          ? "not_found"
          : err.status === 415
            ? "unsupported_media_type"
            : "validation_failed";
    return problemResponse(
      problemBody(err.status, code, err.message || TITLES[err.status] || "error", undefined, { requestId }),
      err.getResponse().headers,
    );
  }
  // decodeURIComponent on a client's path: bad percent-encoding is the client's error, not ours.
  if (err instanceof URIError) {
    return problemResponse(
      problemBody(400, "validation_failed", "the URL has malformed percent-encoding", [{ path: "(url)", message: err.message }], {
        requestId,
      }),
    );
  }
  // A Durable Object that was reset (a crash, a deploy) or is overloaded under a call: temporary,
  // and the client is told when to retry rather than handed a 500.
  const objectFailure = err as { durableObjectReset?: unknown; overloaded?: unknown; retryable?: unknown };
  if (objectFailure.overloaded === true || objectFailure.durableObjectReset === true || objectFailure.retryable === true) {
    const overloaded = objectFailure.overloaded === true;
    console.warn(JSON.stringify({ level: "warn", requestId, event: "object.unavailable", message: err.message }));
    return problemResponse(
      problemBody(
        503,
        overloaded ? "overloaded" : "issuer_unavailable",
        overloaded ? "the issuer is busy; retry shortly" : "the issuer was restarted while answering; retry (creates: with the same Idempotency-Key)",
        undefined,
        { requestId },
      ),
      { "retry-after": String(RETRY_AFTER_SECONDS) },
    );
  }
  // A bug or an outage: log everything, tell the client nothing internal.
  console.error(JSON.stringify({ level: "error", requestId, message: err.message, stack: err.stack }));
  return problemResponse(
    problemBody(500, "internal_error", `unexpected error; quote request id ${requestId ?? "unknown"}`, undefined, {
      requestId,
    }),
  );
}
