import { createPublicKey, verify as nodeVerify, type JsonWebKey, type KeyObject } from "node:crypto";
import { sha256 } from "@noble/hashes/sha2.js";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import type { JWK } from "jose";
import { base64url } from "jose";

/** JOSE algorithm a backend signs with. One key, one algorithm. */
export type Alg = "EdDSA" | "ES256" | "ES256K";
/** Key types as the service's `PUT /v1/dids/{method}` names them. */
export type KeyType = "Ed25519" | "P-256" | "secp256k1";

export const KEY_TYPES: readonly KeyType[] = ["Ed25519", "P-256", "secp256k1"];

export const ALG_OF: Record<KeyType, Alg> = {
  Ed25519: "EdDSA",
  "P-256": "ES256",
  secp256k1: "ES256K",
};

/**
 * A place that holds one private key and signs with it. The daemon only ever sees this interface,
 * so a cloud-KMS backend is one more file next to `backends/jwk.ts` and `backends/pkcs11.ts`.
 */
export interface SigningBackend {
  readonly alg: Alg;
  /** The public key as a JWK (no private members). */
  publicJwk(): Promise<JWK>;
  /** Signs the ASCII bytes of a JWS signing input; returns the JOSE signature (64 bytes). */
  sign(signingInput: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Output of `keygen`: the public key plus a ready `PUT /v1/dids/key` body. */
export interface KeygenResult {
  publicKeyJwk: JWK;
  keyRef?: string;
  body: { keyType: KeyType; custody: "external"; publicKeyJwk: JWK; keyRef?: string };
}

export function keygenResult(keyType: KeyType, publicKeyJwk: JWK, keyRef?: string): KeygenResult {
  const body = {
    keyType,
    custody: "external" as const,
    publicKeyJwk,
    ...(keyRef ? { keyRef } : {}),
  };
  return { publicKeyJwk, ...(keyRef ? { keyRef } : {}), body };
}

export function keyTypeOfJwk(jwk: JWK): KeyType {
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return "Ed25519";
  if (jwk.kty === "EC" && jwk.crv === "P-256") return "P-256";
  if (jwk.kty === "EC" && jwk.crv === "secp256k1") return "secp256k1";
  throw new Error(`unsupported JWK kty=${jwk.kty} crv=${jwk.crv}`);
}

/** Raw public key bytes (Ed25519: 32 bytes; EC: uncompressed 65 bytes) from a public JWK. */
export function publicKeyBytes(jwk: JWK): Uint8Array {
  if (!jwk.x) throw new Error("JWK has no x");
  const x = base64url.decode(jwk.x);
  if (jwk.kty === "OKP") return x;
  if (!jwk.y) throw new Error("EC JWK has no y");
  const y = base64url.decode(jwk.y);
  const out = new Uint8Array(65);
  out[0] = 4;
  out.set(x, 1);
  out.set(y, 33);
  return out;
}

/** Public JWK from raw public key bytes; EC points may be compressed or uncompressed. */
export function jwkFromPublicBytes(keyType: KeyType, bytes: Uint8Array): JWK {
  if (keyType === "Ed25519") {
    if (bytes.length !== 32) throw new Error(`Ed25519 public key must be 32 bytes, got ${bytes.length}`);
    return { kty: "OKP", crv: "Ed25519", x: base64url.encode(bytes) };
  }
  const curve = keyType === "P-256" ? p256 : secp256k1;
  // fromBytes validates the point is on the curve, which catches a wrong CKA_EC_PARAMS early.
  const raw = curve.Point.fromBytes(bytes).toBytes(false);
  return {
    kty: "EC",
    crv: keyType,
    x: base64url.encode(raw.subarray(1, 33)),
    y: base64url.encode(raw.subarray(33, 65)),
  };
}

/**
 * Brings an ECDSA signature from an HSM/KMS into JOSE form: DER is converted to r||s, and for
 * ES256K a high S is flipped to low S (the service and most verifiers insist on low S).
 */
export function joseEcdsa(alg: "ES256" | "ES256K", sig: Uint8Array): Uint8Array {
  const curve = alg === "ES256" ? p256 : secp256k1;
  const isDer = sig.length !== 64 && sig[0] === 0x30;
  let parsed = curve.Signature.fromBytes(sig, isDer ? "der" : "compact");
  if (alg === "ES256K" && parsed.hasHighS()) {
    parsed = new curve.Signature(parsed.r, curve.Point.Fn.ORDER - parsed.s);
  }
  return parsed.toBytes("compact");
}

/**
 * Verifies a JOSE signature locally before it is sent. A mismatch between the configured key and
 * the DID's key (wrong label, wrong token) then shows up here with a clear message instead of as
 * a stream of 422s from the service.
 */
export function verifyJose(alg: Alg, jwk: JWK, signingInput: string, sig: Uint8Array): boolean {
  const msg = new TextEncoder().encode(signingInput);
  // EdDSA and ES256 verify natively (OpenSSL): about 1 ms of JavaScript per signature otherwise,
  // which was most of the daemon's time (bench P2d). ES256K stays in @noble/curves, which enforces
  // the low-S rule the service applies; OpenSSL accepts either S.
  if (alg === "EdDSA") return sig.length === 64 && nodeVerify(null, msg, keyObjectOf(jwk), sig);
  if (alg === "ES256") return sig.length === 64 && nodeVerify("sha256", msg, { key: keyObjectOf(jwk), dsaEncoding: "ieee-p1363" }, sig);
  return sig.length === 64 && secp256k1.verify(sig, sha256(msg), publicKeyBytes(jwk), { prehash: false, lowS: true });
}

/** Public KeyObjects by JWK object: the daemon verifies every signature with the same key. */
const keyObjects = new WeakMap<JWK, KeyObject>();

function keyObjectOf(jwk: JWK): KeyObject {
  let key = keyObjects.get(jwk);
  if (!key) {
    const { kty, crv, x, y } = jwk;
    key = createPublicKey({ key: { kty, crv, x, ...(y ? { y } : {}) } as JsonWebKey, format: "jwk" });
    keyObjects.set(jwk, key);
  }
  return key;
}
