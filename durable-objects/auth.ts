import { z } from "zod";
import { fail, type Result } from "../src/core/errors";
import { jwtPart } from "../src/core/json-depth";
import { ALGS } from "../src/core/models";
import { splitCompactJws, verifySignature } from "../src/crypto";
import type { KeyStore } from "./keys";
import type { IssuerMeta } from "./meta";

/** DID-auth tokens live at most this long, and clocks may disagree by this much. */
export const MAX_LIFETIME_S = 300;
export const CLOCK_SKEW_S = 60;

const Header = z.object({ alg: z.enum(ALGS), kid: z.string().min(1), typ: z.literal("JWT").optional() });
const Claims = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  iat: z.number().int(),
  exp: z.number().int(),
  jti: z.string().min(8).max(256),
});

const unauthorized = (detail: string) => fail("unauthorized", detail);

/**
 * A signer proves it holds a key of the DID with a short-lived JWT: signature by the named
 * verification method, our audience, a lifetime of at most five minutes, and a jti used once.
 */
async function verifyDidJwt(
  sql: SqlStorage,
  keys: KeyStore,
  did: string,
  jwt: string,
  audience: string,
  nowMs: number,
): Promise<Result<{ verificationMethodId: string }>> {
  const parts = jwt.split(".");
  if (parts.length !== 3) return unauthorized("DID-auth token is not a compact JWS");
  const header = Header.safeParse(jwtPart(parts[0]));
  const claims = Claims.safeParse(jwtPart(parts[1]));
  if (!header.success) return unauthorized("DID-auth token header must have alg, kid and typ JWT");
  if (!claims.success) return unauthorized("DID-auth token must carry iss, aud, iat, exp and jti");
  const { kid, alg } = header.data;
  const { iss, aud, iat, exp, jti } = claims.data;
  if (iss !== did) return unauthorized("DID-auth token is issued by another DID");
  if (!kid.startsWith(`${did}#`)) return unauthorized("kid is not a verification method of the issuing DID");
  const key = await keys.get(kid);
  if (!key) return unauthorized("kid names no key of this DID");
  if (key.revoked) return unauthorized("kid names a revoked key");
  if (keys.retired(kid)) return unauthorized("kid names a key a rotation retired");
  if (key.alg !== alg) return unauthorized(`the key of ${kid} signs ${key.alg}, not ${alg}`);
  const split = splitCompactJws(alg, jwt);
  if (
    !split.ok ||
    !(await verifySignature(alg, key.publicJwk, new TextEncoder().encode(split.value.signingInput), split.value.signature))
  ) {
    return unauthorized("DID-auth token signature does not verify");
  }
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (!audiences.includes(audience)) return unauthorized(`DID-auth token audience must be ${audience}`);
  const now = Math.floor(nowMs / 1000);
  if (exp - iat > MAX_LIFETIME_S) return unauthorized(`DID-auth token lifetime exceeds ${MAX_LIFETIME_S} s`);
  if (exp <= iat) return unauthorized("DID-auth token expires before it is issued");
  if (iat > now + CLOCK_SKEW_S) return unauthorized("DID-auth token is issued in the future");
  if (exp <= now - CLOCK_SKEW_S) return unauthorized("DID-auth token has expired");
  // The jti is remembered until the token could no longer be accepted anyway.
  const inserted = sql.exec("INSERT INTO jtis (jti, exp) VALUES (?, ?) ON CONFLICT(jti) DO NOTHING", jti, (exp + CLOCK_SKEW_S) * 1000);
  if (inserted.rowsWritten === 0) return unauthorized("DID-auth token replayed (jti already used)");
  return { ok: true, value: { verificationMethodId: kid } };
}

/** DID-auth of this issuer's signers, and the replay set of the tokens' `jti`s. */
export class DidAuth {
  constructor(
    private readonly sql: SqlStorage,
    private readonly keys: KeyStore,
    private readonly meta: IssuerMeta,
  ) {}

  /** Verifies a DID-auth JWT for this DID and consumes its jti. A deleted DID authenticates nothing. */
  authenticate(jwt: string, audience: string): Promise<Result<{ verificationMethodId: string }>> {
    if (this.meta.deactivated()) return Promise.resolve(unauthorized("the DID is deleted or deactivated"));
    return verifyDidJwt(this.sql, this.keys, this.meta.did(), jwt, audience, Date.now());
  }

  prune(nowMs: number): void {
    this.sql.exec("DELETE FROM jtis WHERE exp <= ?", nowMs);
  }

  /** When the oldest consumed jti may be forgotten (due.ts). */
  static readonly DUE = ["SELECT min(exp) AS t FROM jtis"];
}
