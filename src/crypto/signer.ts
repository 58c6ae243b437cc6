import { ed25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesEqual, encodeBase64url } from "./encoding";
import { EC_CURVES, keyTypeOfJwk, publicKeyBytes } from "./keys";
import type { KeyType, PublicJwk } from "./types";

/** Signs `data` and returns the JOSE raw signature (64 bytes; low-S for ES256K). */
export type SignFn = (data: Uint8Array) => Promise<Uint8Array>;

/**
 * Imports a custodial raw private key (32 bytes: Ed25519 seed or EC scalar d) as a signer.
 * Ed25519 and P-256 become non-extractable WebCrypto keys, so the raw bytes can be dropped
 * after import; secp256k1, which WebCrypto lacks, signs with noble (SHA-256 prehash, low-S).
 * Throws if the private key does not belong to `publicJwk`: signing with a mismatched pair
 * would emit credentials no one can verify.
 */
export async function importSigner(keyType: KeyType, privateKey: Uint8Array, publicJwk: PublicJwk): Promise<SignFn> {
  if (privateKey.length !== 32) throw new TypeError("private key must be 32 bytes");
  if (keyTypeOfJwk(publicJwk) !== keyType) throw new TypeError(`public JWK is not a ${keyType} key`);

  const derived = keyType === "Ed25519" ? ed25519.getPublicKey(privateKey) : EC_CURVES[keyType].getPublicKey(privateKey, true);
  if (!bytesEqual(derived, publicKeyBytes(publicJwk))) {
    throw new Error("private key does not match the public JWK");
  }

  if (keyType === "secp256k1") {
    const d = privateKey.slice(); // our own copy: the caller may zero or reuse its buffer
    return async (data) => secp256k1.sign(data, d, { prehash: true, lowS: true });
  }

  const d = encodeBase64url(privateKey);
  if (keyType === "Ed25519") {
    const key = await crypto.subtle.importKey("jwk", { kty: "OKP", crv: "Ed25519", x: publicJwk.x, d }, { name: "Ed25519" }, false, [
      "sign",
    ]);
    return async (data) => new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key, data));
  }

  // WebCrypto has no raw import for EC private keys; a JWK needs the public point too.
  const key = await crypto.subtle.importKey(
    "jwk",
    { kty: "EC", crv: "P-256", x: publicJwk.x, y: publicJwk.y, d },
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
  // WebCrypto ECDSA output is already IEEE P1363 r||s, which is the JOSE form.
  return async (data) => new Uint8Array(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, data));
}
