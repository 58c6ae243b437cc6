import { createPrivateKey, sign as nodeSign, type JsonWebKey } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { ed25519 } from "@noble/curves/ed25519.js";
import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import type { JWK } from "jose";
import { base64url } from "jose";
import {
  ALG_OF,
  jwkFromPublicBytes,
  keygenResult,
  keyTypeOfJwk,
  type KeygenResult,
  type KeyType,
  type SigningBackend,
} from "../backend.js";

/**
 * Development backend: the private key is a JWK file on disk. Never use it for a production
 * issuer key; that is what the pkcs11 backend is for.
 */
export async function openJwkBackend(path: string): Promise<SigningBackend> {
  const jwk = JSON.parse(await readFile(path, "utf8")) as JWK;
  const keyType = keyTypeOfJwk(jwk);
  if (!jwk.d) throw new Error(`${path}: JWK has no private member "d"`);
  const d = base64url.decode(jwk.d);
  const { d: _d, ...pub } = jwk;
  const publicJwk: JWK = jwkFromPublicBytes(keyType, derivePublic(keyType, d));
  if (publicJwk.x !== pub.x || (publicJwk.y ?? undefined) !== (pub.y ?? undefined)) {
    throw new Error(`${path}: public members do not match the private key`);
  }
  const alg = ALG_OF[keyType];
  // Ed25519 and P-256 sign natively (OpenSSL), as a KeyObject made once; secp256k1 stays in
  // @noble/curves, which emits the low S the service insists on (OpenSSL does not).
  const native = keyType === "secp256k1" ? null : createPrivateKey({ key: { ...publicJwk, d: jwk.d } as JsonWebKey, format: "jwk" });
  return {
    alg,
    publicJwk: async () => ({ ...publicJwk }),
    async sign(signingInput) {
      const msg = new TextEncoder().encode(signingInput);
      if (native && keyType === "Ed25519") return new Uint8Array(nodeSign(null, msg, native));
      if (native) return new Uint8Array(nodeSign("sha256", msg, { key: native, dsaEncoding: "ieee-p1363" }));
      // noble hashes with sha256 first (prehash) and emits low S by default.
      return secp256k1.sign(msg, d);
    },
    async close() {
      d.fill(0);
    },
  };
}

function derivePublic(keyType: KeyType, d: Uint8Array): Uint8Array {
  if (keyType === "Ed25519") return ed25519.getPublicKey(d);
  return (keyType === "P-256" ? p256 : secp256k1).getPublicKey(d, false);
}

/** Creates a private JWK file (mode 0600, refuses to overwrite) and returns the public half. */
export async function keygenJwk(keyType: KeyType, out: string): Promise<KeygenResult> {
  const curve = keyType === "Ed25519" ? ed25519 : keyType === "P-256" ? p256 : secp256k1;
  const d = curve.utils.randomSecretKey();
  const publicKeyJwk = jwkFromPublicBytes(keyType, derivePublic(keyType, d));
  const privateJwk = { ...publicKeyJwk, d: base64url.encode(d) };
  await writeFile(out, JSON.stringify(privateJwk, null, 2) + "\n", { mode: 0o600, flag: "wx" });
  return keygenResult(keyType, publicKeyJwk);
}
