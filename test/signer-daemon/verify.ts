import { secp256k1 } from "@noble/curves/secp256k1.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { base64url, compactVerify, importJWK, type JWK } from "jose";

/**
 * Third-party verification of a JOSE signature over a signing input: jose for EdDSA and ES256,
 * noble (with lowS, as the service requires) for ES256K, which jose 6 does not implement.
 */
export async function verifyJws(alg: string, jwk: JWK, signingInput: string, signature: string): Promise<boolean> {
  try {
    if (alg === "ES256K") {
      const pub = new Uint8Array([4, ...base64url.decode(jwk.x!), ...base64url.decode(jwk.y!)]);
      const msg = sha256(new TextEncoder().encode(signingInput));
      return secp256k1.verify(base64url.decode(signature), msg, pub, {
        prehash: false,
        lowS: true,
      });
    }
    await compactVerify(`${signingInput}.${signature}`, await importJWK(jwk, alg));
    return true;
  } catch {
    return false;
  }
}

export function signingInputOf(header: object, payload: object): string {
  const enc = (v: object) => base64url.encode(JSON.stringify(v));
  return `${enc(header)}.${enc(payload)}`;
}
