import { randomUUID } from "node:crypto";
import { base64url } from "jose";
import type { SigningBackend } from "./backend.js";

/** Default lifetime of a DID-auth JWT; the service refuses `exp - iat > 300`. */
export const MAX_TOKEN_SECONDS = 300;

/**
 * The verification method that signs DID-auth JWTs when `--kid` is not given. Only methods whose
 * key id follows from the DID itself are derived; anything else (did:web) needs `--kid`, since the
 * signer has no operator token to look the document up.
 */
export function defaultKid(did: string): string {
  if (did.startsWith("did:key:")) return `${did}#${did.slice("did:key:".length)}`;
  if (did.startsWith("did:jwk:")) return `${did}#0`;
  throw new Error(`cannot derive the verification method of ${did}; pass --kid`);
}

export interface DidAuth {
  did: string;
  kid: string;
  /** The service origin (PUBLIC_URL), the JWT's `aud`. */
  aud: string;
  ttlSeconds: number;
}

/**
 * Mints a fresh DID-auth JWT. `jti` is single use on the service, so every request and every
 * socket connection needs a new one.
 */
export async function mintDidJwt(backend: SigningBackend, auth: DidAuth): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  const ttl = Math.min(auth.ttlSeconds, MAX_TOKEN_SECONDS);
  const enc = (v: unknown) => base64url.encode(JSON.stringify(v));
  const header = enc({ alg: backend.alg, kid: auth.kid, typ: "JWT" });
  const claims = enc({ iss: auth.did, aud: auth.aud, iat, exp: iat + ttl, jti: randomUUID() });
  const input = `${header}.${claims}`;
  return `${input}.${base64url.encode(await backend.sign(input))}`;
}
