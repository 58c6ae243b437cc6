import { issuerByName } from "../issuer-client";
import type { Context, MiddlewareHandler } from "hono";
import { jwtPart } from "../core/json-depth";
import { operatorTokenId, parseAuthorization } from "../core/principal";
import { ProblemError } from "./errors";
import type { AppEnv, Principal } from "./router";

/** The audience DID-auth tokens must name: PUBLIC_URL, or the origin the request came to. */
export function serviceOrigin(c: Context<AppEnv>): string {
  return (c.env.PUBLIC_URL || new URL(c.req.url).origin).replace(/\/+$/, "");
}

const unauthorized = (detail: string) => new ProblemError(401, "unauthorized", detail, undefined, undefined);

/**
 * Every DID-auth refusal reads the same to the client, so no answer tells whether a DID or key
 * exists, is deleted or revoked, or which check failed; the precise reason goes to the log.
 */
export const DID_AUTH_REFUSED = "DID-auth token refused";

function refuseDidAuth(iss: unknown, reason: string): never {
  console.warn(
    JSON.stringify({ level: "warn", event: "auth.did_refused", iss: typeof iss === "string" ? iss.slice(0, 256) : null, reason }),
  );
  throw unauthorized(DID_AUTH_REFUSED);
}

/**
 * The Worker's own check before any issuer object is touched: the DID is one we manage and not
 * deleted, and the key the token names is one of its keys and not revoked. One indexed read of D1
 * (two primary-key lookups), so an unknown `iss` never starts, migrates or writes an object.
 */
async function didAuthGate(db: D1Database, did: string, kid: string): Promise<string | null> {
  const row = await db
    .prepare(
      "SELECT d.deleted_at AS deleted_at, k.did AS key_did, k.revoked AS revoked, k.retired_at AS retired_at FROM dids d LEFT JOIN keys k ON k.id = ?2 WHERE d.did = ?1",
    )
    .bind(did, kid)
    .first<{ deleted_at: number | null; key_did: string | null; revoked: number | null; retired_at: number | null }>();
  if (!row) return "unknown DID";
  if (row.deleted_at !== null) return "DID deleted";
  if (row.key_did === null) return "kid names no key";
  if (row.key_did !== did) return "kid names a key of another DID";
  if (row.revoked) return "kid names a revoked key";
  if (row.retired_at !== null) return "kid names a key a rotation retired";
  return null;
}

/** Whether the DID is one this service manages and has not deleted: one primary-key read of D1. */
export async function isManagedDid(db: D1Database, did: string): Promise<boolean> {
  const row = await db.prepare("SELECT deleted_at FROM dids WHERE did = ?").bind(did).first<{ deleted_at: number | null }>();
  return row !== null && row.deleted_at === null;
}

/** Resolves an Authorization value to a principal, or throws 401. */
export async function resolvePrincipal(env: Env, authorization: string, audience: string): Promise<Principal> {
  const parsed = parseAuthorization(authorization);
  if (!parsed) {
    const parts = authorization.trim().split(/\s+/);
    throw unauthorized(
      parts.length === 2 ? `unsupported authorization scheme ${parts[0]}` : "Authorization must be 'Bearer <token>' or 'DID <jwt>'",
    );
  }
  const { scheme, credentials } = parsed;
  if (scheme === "bearer") {
    const tokenId = await operatorTokenId(env, credentials);
    if (tokenId === null) throw unauthorized("unknown bearer token");
    return { kind: "operator", tokenId };
  }
  // DID-auth: routed by its claims, verified by the DID's own object.
  const [header, claims] = credentials.split(".").map(jwtPart);
  if (!header || !claims || header === "too_deep" || claims === "too_deep") return refuseDidAuth(undefined, "not a JWT");
  const { iss } = claims;
  const { kid } = header;
  if (typeof iss !== "string" || !/^did:[a-z0-9]+:\S+$/.test(iss) || iss.length > 2048) return refuseDidAuth(iss, "iss is not a DID");
  if (typeof kid !== "string" || !kid.startsWith(`${iss}#`) || kid.length > 4096) {
    return refuseDidAuth(iss, "kid is not a verification method of the issuing DID");
  }
  const gate = await didAuthGate(env.DB, iss, kid);
  if (gate !== null) return refuseDidAuth(iss, gate);
  const result = await issuerByName(env, iss).authenticate(iss, credentials, audience);
  if (!result.ok) return refuseDidAuth(iss, result.detail);
  return { kind: "did", did: iss, verificationMethodId: result.value.verificationMethodId };
}

/** The one route that may authenticate after the upgrade, with the socket's first message. */
const SOCKET_PATH = "/v1/signjobs/connect";

/**
 * Authenticates every /v1 request before any route runs. The only exception is a real WebSocket
 * upgrade of the signer socket without an Authorization header: browsers and Node's WebSocket
 * cannot set headers, so that socket authenticates with its first message inside the object.
 */
export const authenticate: MiddlewareHandler<AppEnv> = async (c, next) => {
  const header = c.req.header("authorization");
  if (!header) {
    if (c.req.method === "GET" && c.req.path === SOCKET_PATH && c.req.header("upgrade")?.toLowerCase() === "websocket") return next();
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
