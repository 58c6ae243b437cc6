/**
 * Who is calling, as both layers see it. A leaf: the Worker (src/http) and the issuer object
 * (durable-objects) import it; it imports nothing of ours.
 */
import { base64url } from "jose";

/**
 * An operator (a bearer token from `API_TOKENS`, named by its fingerprint so a socket can check
 * later that the token is still configured) or a signer authenticated as one DID with one key.
 */
export type Principal = { kind: "operator"; tokenId: string } | { kind: "did"; did: string; verificationMethodId: string };

/** An `Authorization` value (header or the socket's first message): `Bearer <token>` or `DID <jwt>`, or null. */
export function parseAuthorization(value: string): { scheme: "bearer" | "did"; credentials: string } | null {
  const m = /^(bearer|did)\s+(\S+)$/i.exec(value.trim());
  if (!m) return null;
  return { scheme: m[1]!.toLowerCase() === "bearer" ? "bearer" : "did", credentials: m[2]! };
}

const enc = new TextEncoder();

/** A short, one-way name of a secret or an id: 128 bits of its SHA-256, base64url. */
export async function fingerprint(value: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", enc.encode(value)));
  return base64url.encode(digest.slice(0, 16));
}

function configuredTokens(env: { API_TOKENS?: string }): string[] {
  return (env.API_TOKENS ?? "")
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t.length > 0);
}

/** SHA-256 digests of the configured tokens, computed once per value of `API_TOKENS`. */
let configured: { source: string; digests: Promise<ArrayBuffer[]> } | null = null;

function configuredDigests(env: { API_TOKENS?: string }): Promise<ArrayBuffer[]> {
  const source = env.API_TOKENS ?? "";
  if (configured?.source !== source) {
    configured = { source, digests: Promise.all(configuredTokens(env).map((t) => crypto.subtle.digest("SHA-256", enc.encode(t)))) };
  }
  return configured.digests;
}

/**
 * The fingerprint of `token` when it is one of the operator tokens in `API_TOKENS`, else null.
 * Compared through digests against every token, so timing tells neither which one nor how many.
 * One digest per request: the configured tokens' are kept, and the fingerprint is the given
 * token's digest cut short (as `fingerprint` computes it).
 */
export async function operatorTokenId(env: { API_TOKENS?: string }, token: string): Promise<string | null> {
  const given = await crypto.subtle.digest("SHA-256", enc.encode(token));
  let match = false;
  for (const digest of await configuredDigests(env)) {
    if (crypto.subtle.timingSafeEqual(given, digest)) match = true;
  }
  return match ? base64url.encode(new Uint8Array(given).slice(0, 16)) : null;
}

/** Fingerprints of the configured tokens, computed once per value of `API_TOKENS`. */
let liveIds: { source: string; ids: Promise<Set<string>> } | null = null;

/** Whether the token a socket authenticated with (by fingerprint) is still in `API_TOKENS`. */
export async function isLiveOperatorToken(env: { API_TOKENS?: string }, tokenId: string): Promise<boolean> {
  const source = env.API_TOKENS ?? "";
  if (liveIds?.source !== source) {
    liveIds = { source, ids: Promise.all(configuredTokens(env).map(fingerprint)).then((ids) => new Set(ids)) };
  }
  return (await liveIds.ids).has(tokenId);
}
