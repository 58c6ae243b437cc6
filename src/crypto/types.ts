/** Key types the service issues and verifies with (api.md "keyType"). */
export type KeyType = "Ed25519" | "secp256k1" | "P-256";

/** JOSE `alg` values (RFC 8037, RFC 8812, RFC 7518) for each key type. */
export type Alg = "EdDSA" | "ES256K" | "ES256";

export const KEY_TYPES: readonly KeyType[] = Object.freeze([
  "Ed25519",
  "secp256k1",
  "P-256",
] as const);

export const ALG_BY_KEY_TYPE: Record<KeyType, Alg> = Object.freeze({
  Ed25519: "EdDSA",
  secp256k1: "ES256K",
  "P-256": "ES256",
});

/** A normalised public JWK: only these members, base64url without padding. */
export interface PublicJwk {
  kty: "OKP" | "EC";
  crv: "Ed25519" | "secp256k1" | "P-256";
  x: string;
  y?: string;
}

/**
 * Expected failures on untrusted input come back as values, not exceptions, so callers can map
 * `code`/`path` straight into a problem+json `errors` entry.
 */
export type CryptoResult<T> =
  | { ok: true; value: T }
  | { ok: false; code: string; path?: string; message: string };
