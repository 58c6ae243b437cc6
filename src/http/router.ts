import { OpenAPIHono, z } from "@hono/zod-openapi";
import { base64url } from "jose";
import type { Principal } from "../core/principal";
import { validationProblem } from "./errors";

export type { Principal } from "../core/principal";

export type AppEnv = {
  Bindings: Env;
  Variables: { requestId: string; principal: Principal };
};

/** Every router validates through this hook, so every invalid input becomes the same 400 problem. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        const prefix = result.target === "json" ? undefined : result.target;
        throw validationProblem(result.error, prefix);
      }
    },
  });
}

/** A required JSON request body: without `required`, a body of another content type would skip validation. */
export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return {
    body: { required: true, description, content: { "application/json": { schema } } },
  } as const;
}

export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } } as const;
}

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    requestId: z.string().optional(),
  })
  .openapi("Problem");

export const problem = (description: string) =>
  ({ description, content: { "application/problem+json": { schema: ProblemSchema } } }) as const;

/** The error responses most routes share, for the OpenAPI document. */
export const commonErrors = {
  400: problem("Invalid input; `errors` names every failing field"),
  401: problem("Missing or invalid credentials"),
  403: problem("Authenticated, but not allowed"),
  404: problem("Not found"),
} as const;

/** The refusals every create route adds (Idempotency-Key and overload, api.md "Conventions"). */
export const createErrors = {
  409: problem("Conflict, or `idempotency_key_in_progress`: a request with this Idempotency-Key is still running (Retry-After)"),
  422: problem("`idempotency_key_reused`: this Idempotency-Key was used with a different request"),
  503: problem("`overloaded` (the issuer is past the work it can take now) or `issuer_unavailable`; retry after Retry-After"),
} as const;

export { problem as problemResponseSpec };

/**
 * The answers of a create that signs what it makes (api.md "Operations"): 201 with the operation done
 * when every key is custodial, 202 with it pending while an external signer has the job.
 */
export function signedCreateResponses<T extends z.ZodType>(operation: T) {
  return {
    201: jsonResponse(operation, "Signed at once (custodial)"),
    202: jsonResponse(operation, "Waiting for an external signer"),
    ...commonErrors,
    ...createErrors,
  } as const;
}

/** Keyset page tokens: opaque to clients, an encoded sort key to us. */
export const PageQuery = z.object({
  pageSize: z.coerce.number().int().min(1).max(1000).default(100).openapi({ example: 100 }),
  pageToken: z.string().max(512).optional(),
});

export function encodePageToken(key: readonly (string | number)[]): string {
  return base64url.encode(JSON.stringify(key));
}

/** A query's page: where it resumes (the decoded `pageToken`) and how many rows to read, one past `pageSize`. */
export type PageRequest = { after: [number, string] | null; limit: number };

/**
 * One keyset page of a time-ordered listing: `read` gets the decoded `(created_at, id)` to resume after and a limit one
 * past `pageSize`; the extra row only says another page follows, and `nextPageToken` resumes after the page's last row.
 * `idOf` names the row's tie-breaking key when it is not `id` (a DID row's `did`).
 */
export async function keysetPage<R extends { created_at: number; id: string }>(
  query: { pageSize: number; pageToken?: string | undefined },
  read: (page: PageRequest) => Promise<R[]>,
): Promise<{ items: R[]; next: { nextPageToken?: string } }>;
export async function keysetPage<R extends { created_at: number }>(
  query: { pageSize: number; pageToken?: string | undefined },
  read: (page: PageRequest) => Promise<R[]>,
  idOf: (row: R) => string,
): Promise<{ items: R[]; next: { nextPageToken?: string } }>;
export async function keysetPage<R extends { created_at: number; id?: string }>(
  query: { pageSize: number; pageToken?: string | undefined },
  read: (page: PageRequest) => Promise<R[]>,
  idOf: (row: R) => string = (row) => row.id as string,
): Promise<{ items: R[]; next: { nextPageToken?: string } }> {
  const rows = await read({ after: decodeTimeKey(query.pageToken), limit: query.pageSize + 1 });
  const items = rows.slice(0, query.pageSize);
  const last = items[items.length - 1];
  return { items, next: rows.length > query.pageSize && last ? { nextPageToken: encodePageToken([last.created_at, idOf(last)]) } : {} };
}

export function decodePageToken(token: string | undefined, arity: number): (string | number)[] | null {
  if (token === undefined) return null;
  try {
    const json = new TextDecoder().decode(base64url.decode(token));
    const key: unknown = JSON.parse(json);
    if (Array.isArray(key) && key.length === arity && key.every((k) => typeof k === "string" || typeof k === "number")) {
      return key as (string | number)[];
    }
  } catch {
    // fall through to the validation error
  }
  throw validationProblem(new z.ZodError([{ code: "custom", path: ["pageToken"], message: "invalid page token", input: token }]), "query");
}

/** The (created_at, id) a time-ordered listing resumes after; a token that is not one of ours is a 400, not an empty page. */
export function decodeTimeKey(token: string | undefined): [number, string] | null {
  const key = decodePageToken(token, 2);
  if (key === null) return null;
  const [at, id] = key;
  if (typeof at === "number" && Number.isSafeInteger(at) && typeof id === "string") return [at, id];
  throw validationProblem(new z.ZodError([{ code: "custom", path: ["pageToken"], message: "invalid page token", input: token }]), "query");
}
