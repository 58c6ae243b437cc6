import type { Alg, KeyType } from "../core/models";

export type { Alg, KeyType, PublicJwk } from "../core/models";

/** Key types the service issues and verifies with (api.md "keyType"). */
export const KEY_TYPES: readonly KeyType[] = Object.freeze(["Ed25519", "secp256k1", "P-256"] as const);

export const ALG_BY_KEY_TYPE: Record<KeyType, Alg> = Object.freeze({
  Ed25519: "EdDSA",
  secp256k1: "ES256K",
  "P-256": "ES256",
});
