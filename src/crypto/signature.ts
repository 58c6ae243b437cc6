import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { decodeBase64urlStrict, parseJsonBytes } from "./encoding";
import { keyTypeOfJwk, publicKeyBytes } from "./keys";
import { fail, type Failure, type Result } from "../core/errors";
import { ALG_BY_KEY_TYPE, type Alg, type PublicJwk } from "./types";

/** How a signer encodes a signature: JOSE raw (r||s, or the 64-byte EdDSA value) or ASN.1 DER. */
export type SignatureFormat = "jose" | "der";

/** JOSE signatures are 64 bytes for all three algorithms (RFC 8037 §3.1, RFC 7518 §3.4). */
const JOSE_SIGNATURE_BYTES = 64;

const ECDSA_CURVE = { ES256K: secp256k1, ES256: p256 } as const;

const invalid = (message: string): Failure => fail("invalid_signature", message);

/**
 * Decodes an untrusted signature string into JOSE raw form (64 bytes). Rejects non-canonical
 * base64url, wrong lengths (which also catches DER sent as `jose`), malformed or non-minimal DER,
 * DER for EdDSA, and ECDSA r or s that is zero or ≥ n. For ES256K a high-S signature is
 * normalised to low-S, since secp256k1 verifiers in the wild (bitcoin-style, did-jwt) insist on it.
 * Errors have code `invalid_signature`.
 */
export function decodeSignature(alg: Alg, signature: string, format: SignatureFormat): Result<Uint8Array> {
  const bytes = decodeBase64urlStrict(signature);
  if (!bytes || bytes.length === 0) return invalid("signature must be non-empty unpadded base64url");

  if (alg === "EdDSA") {
    if (format === "der") return invalid("DER encoding applies only to ECDSA signatures, not EdDSA");
    if (bytes.length !== JOSE_SIGNATURE_BYTES) return invalid(`EdDSA signature must be 64 bytes, got ${bytes.length}`);
    return { ok: true, value: bytes };
  }

  const curve = ECDSA_CURVE[alg];
  let sig: ReturnType<typeof curve.Signature.fromBytes>;
  if (format === "jose") {
    if (bytes.length !== JOSE_SIGNATURE_BYTES) {
      return invalid(`${alg} signature in jose format must be 64 bytes (r||s), got ${bytes.length}; DER needs format "der"`);
    }
    try {
      sig = curve.Signature.fromBytes(bytes, "compact");
    } catch {
      return invalid("signature r and s must be in [1, n-1]");
    }
  } else {
    // noble's DER parser is strict (minimal lengths, no redundant or negative INTEGERs, no
    // trailing bytes), so one signature has exactly one accepted DER spelling.
    try {
      sig = curve.Signature.fromBytes(bytes, "der");
    } catch {
      return invalid("signature is not a valid minimal DER ECDSA signature with r and s in [1, n-1]");
    }
  }

  if (alg === "ES256K" && sig.hasHighS()) {
    sig = new curve.Signature(sig.r, curve.Point.Fn.ORDER - sig.s);
  }
  return { ok: true, value: sig.toBytes("compact") };
}

// Importing a JWK into WebCrypto costs more than the verification itself, and the same few
// signer keys verify over and over, so keep recent imports. Bounded so arbitrary untrusted keys
// cannot grow the isolate's memory; Map insertion order gives a cheap LRU.
const KEY_CACHE_MAX = 256;
const keyCache = new Map<string, Promise<CryptoKey>>();

function importVerifyKey(alg: "EdDSA" | "ES256", jwk: PublicJwk): Promise<CryptoKey> {
  const cacheKey = `${alg}|${jwk.crv}|${jwk.x}|${jwk.y ?? ""}`;
  const hit = keyCache.get(cacheKey);
  if (hit) {
    keyCache.delete(cacheKey);
    keyCache.set(cacheKey, hit);
    return hit;
  }
  const algorithm = alg === "EdDSA" ? { name: "Ed25519" } : { name: "ECDSA", namedCurve: "P-256" };
  const publicJwk: JsonWebKey =
    jwk.y === undefined ? { kty: jwk.kty, crv: jwk.crv, x: jwk.x } : { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
  const imported = crypto.subtle.importKey("jwk", publicJwk, algorithm, false, ["verify"]);
  keyCache.set(cacheKey, imported);
  imported.catch(() => keyCache.delete(cacheKey));
  if (keyCache.size > KEY_CACHE_MAX) {
    const oldest = keyCache.keys().next().value;
    if (oldest !== undefined) keyCache.delete(oldest);
  }
  return imported;
}

/**
 * Verifies a JOSE raw signature over `data` with a public JWK. Returns false, never throws, for
 * any bad input: wrong length, alg not matching the key type, invalid key. ES256K accepts high-S
 * here (as jose does); {@link decodeSignature} is where untrusted signatures are normalised.
 */
export async function verifySignature(alg: Alg, jwk: PublicJwk, data: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    if (ALG_BY_KEY_TYPE[keyTypeOfJwk(jwk)] !== alg) return false;
    if (signature.length !== JOSE_SIGNATURE_BYTES) return false;
    if (alg === "ES256K") {
      return secp256k1.verify(signature, data, publicKeyBytes(jwk), { prehash: true, lowS: false });
    }
    const key = await importVerifyKey(alg, jwk);
    const params = alg === "EdDSA" ? { name: "Ed25519" } : { name: "ECDSA", hash: "SHA-256" };
    return await crypto.subtle.verify(params, key, signature, data);
  } catch {
    return false;
  }
}

/**
 * Splits and checks a compact JWS `header.payload.signature`: three strict base64url parts, a
 * JSON-object header whose `alg` equals `alg` and which has no `crit` (we implement no
 * extensions, and RFC 7515 §4.1.11 says to reject what we do not understand). Returns the
 * signing input and the decoded signature (jose form, low-S for ES256K). Does not verify.
 */
export function splitCompactJws(alg: Alg, jws: string): Result<{ signingInput: string; signature: Uint8Array }> {
  if (typeof jws !== "string") return invalid("JWS must be a string");
  const parts = jws.split(".");
  const [headerText, payloadText, signatureText] = parts;
  if (parts.length !== 3 || headerText === undefined || payloadText === undefined || signatureText === undefined) {
    return invalid("JWS must be in compact form: header.payload.signature");
  }
  const headerBytes = decodeBase64urlStrict(headerText);
  const header = headerBytes ? parseJsonBytes(headerBytes) : undefined;
  if (typeof header !== "object" || header === null || Array.isArray(header)) {
    return invalid("JWS header must be base64url of a JSON object");
  }
  const fields = header as Record<string, unknown>;
  if (fields.alg !== alg) return invalid(`JWS header alg must be "${alg}"`);
  if ("crit" in fields) return invalid("JWS header crit extensions are not supported");
  if (decodeBase64urlStrict(payloadText) === null) return invalid("JWS payload is not valid base64url");
  const signature = decodeSignature(alg, signatureText, "jose");
  if (!signature.ok) return signature;
  return {
    ok: true,
    value: { signingInput: `${headerText}.${payloadText}`, signature: signature.value },
  };
}
