import { issuerByName } from "../issuer-client";
import type { Context, MiddlewareHandler } from "hono";
import { parseJsonWithin } from "../core/json-depth";
import { decodeBase64urlStrict } from "../crypto/encoding";
import { ProblemError } from "./errors";
import type { AppEnv, Principal } from "./router";

const enc = new TextEncoder();

/** Compares two secrets in constant time, whatever their lengths, by comparing their digests. */
async function sameSecret(a: string, b: string): Promise<boolean> {
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(a)),
    crypto.subtle.digest("SHA-256", enc.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(da, db);
}

/** The audience DID-auth tokens must name: PUBLIC_URL, or the origin the request came to. */
export function serviceOrigin(c: Context<AppEnv>): string {
  return (c.env.PUBLIC_URL || new URL(c.req.url).origin).replace(/\/+$/, "");
}

/**
 * Whether `token` is one of the operator tokens in `API_TOKENS`. Used for Authorization headers
 * and by the issuer object for a signer socket's first-message auth (no DID RPC involved).
 */
export async function isOperatorToken(env: Env, token: string): Promise<boolean> {
  const tokens = (env.API_TOKENS ?? "").split(",").map((t) => t.trim()).filter((t) => t.length > 0);
  let match = false;
  // Compare against every token so timing does not tell which one, or how many, exist.
  for (const candidate of tokens) if (await sameSecret(token, candidate)) match = true;
  return match;
}

const unauthorized = (detail: string) => new ProblemError(401, "unauthorized", detail, undefined, undefined);

/** A JWT's claims without verifying it (only to route it): null unless a JSON object of bounded depth. */
function claimsOf(jwt: string): Record<string, unknown> | null {
  const bytes = decodeBase64urlStrict(jwt.split(".")[1] ?? "");
  if (!bytes) return null;
  const parsed = parseJsonWithin(new TextDecoder().decode(bytes));
  return parsed.ok && parsed.value && typeof parsed.value === "object" && !Array.isArray(parsed.value)
    ? (parsed.value as Record<string, unknown>)
    : null;
}

/** Resolves an Authorization value (header or WebSocket first message) to a principal, or throws 401. */
export async function resolvePrincipal(env: Env, authorization: string, audience: string): Promise<Principal> {
  const [scheme, credentials, ...rest] = authorization.trim().split(/\s+/);
  if (!scheme || !credentials || rest.length > 0) throw unauthorized("Authorization must be 'Bearer <token>' or 'DID <jwt>'");
  if (scheme.toLowerCase() === "bearer") {
    if (!(await isOperatorToken(env, credentials))) throw unauthorized("unknown bearer token");
    return { kind: "operator" };
  }
  if (scheme.toLowerCase() === "did") {
    const iss = claimsOf(credentials)?.iss;
    if (typeof iss !== "string" || !/^did:[a-z0-9]+:\S+$/.test(iss) || iss.length > 2048) {
      throw unauthorized("DID-auth token must name its DID in iss");
    }
    const result = await issuerByName(env, iss).authenticate(iss, credentials, audience);
    if (!result.ok) throw unauthorized(result.detail);
    return { kind: "did", did: iss, verificationMethodId: result.value.verificationMethodId };
  }
  throw unauthorized(`unsupported authorization scheme ${scheme}`);
}

/**
 * Authenticates every /v1 request. The signer socket may instead authenticate with its first
 * message (browsers and Node's WebSocket cannot set headers), so an upgrade passes through bare.
 */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header("authorization");
  if (!header) {
    if (c.req.header("upgrade")?.toLowerCase() === "websocket") return next();
    throw unauthorized("missing Authorization header");
  }
  c.set("principal", await resolvePrincipal(c.env, header, serviceOrigin(c)));
  return next();
};

/** Operator-only routes: a signer's DID-auth grants access to its own sign jobs and nothing else. */
export const requireOperator: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = c.get("principal");
  if (principal?.kind !== "operator") {
    throw new ProblemError(403, "forbidden", "this route needs an operator token; DID-auth only reaches sign jobs");
  }
  return next();
};
