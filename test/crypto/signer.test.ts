import { secp256k1 } from "@noble/curves/secp256k1.js";
import { base64url, compactVerify, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import {
  ALG_BY_KEY_TYPE,
  generateKeyPair,
  importSigner,
  KEY_TYPES,
  publicKeyBytes,
  splitCompactJws,
  verifySignature,
  type Alg,
  type SignFn,
} from "../../src/crypto/index";

const enc = new TextEncoder();

/** Builds a compact JWS the way the service does: sign the ASCII signing input, append b64url(sig). */
async function buildJws(sign: SignFn, alg: Alg, payload: object): Promise<string> {
  const signingInput = `${base64url.encode(JSON.stringify({ alg, typ: "JWT" }))}.${base64url.encode(JSON.stringify(payload))}`;
  return `${signingInput}.${base64url.encode(await sign(enc.encode(signingInput)))}`;
}

describe.each(KEY_TYPES)("%s signer", (keyType) => {
  const alg = ALG_BY_KEY_TYPE[keyType];

  it("signs 64-byte JOSE signatures that verify, and fail on another key, data or signature", async () => {
    const { publicJwk, privateKey } = await generateKeyPair(keyType);
    const other = await generateKeyPair(keyType);
    const sign = await importSigner(keyType, privateKey, publicJwk);
    const data = enc.encode("hello credential");
    const sig = await sign(data);
    expect(sig).toHaveLength(64);
    expect(await verifySignature(alg, publicJwk, data, sig)).toBe(true);

    expect(await verifySignature(alg, other.publicJwk, data, sig)).toBe(false);
    expect(await verifySignature(alg, publicJwk, enc.encode("hello credentiaL"), sig)).toBe(false);
    const altered = sig.slice();
    altered[10] = altered[10]! ^ 0x01;
    expect(await verifySignature(alg, publicJwk, data, altered)).toBe(false);
    expect(await verifySignature(alg, publicJwk, data, sig.subarray(0, 63))).toBe(false);
  });

  it("produces JWS a third-party verifier accepts", async () => {
    const { publicJwk, privateKey } = await generateKeyPair(keyType);
    const sign = await importSigner(keyType, privateKey, publicJwk);
    const jws = await buildJws(sign, alg, { iss: "did:example:1", n: 1 });

    const split = splitCompactJws(alg, jws);
    expect(split.ok).toBe(true);
    if (!split.ok) return;
    expect(await verifySignature(alg, publicJwk, enc.encode(split.value.signingInput), split.value.signature)).toBe(true);

    if (alg === "ES256K") {
      // WebCrypto (and so jose in workerd) has no secp256k1; noble's default verify also
      // insists on low-S, which is what ES256K consumers expect.
      const sig = base64url.decode(jws.split(".")[2]!);
      expect(secp256k1.verify(sig, enc.encode(split.value.signingInput), publicKeyBytes(publicJwk))).toBe(true);
      expect(secp256k1.Signature.fromBytes(sig).hasHighS()).toBe(false);
    } else {
      const key = await importJWK({ ...publicJwk }, alg);
      const { payload, protectedHeader } = await compactVerify(jws, key, { algorithms: [alg] });
      expect(protectedHeader.alg).toBe(alg);
      expect(JSON.parse(new TextDecoder().decode(payload))).toEqual({ iss: "did:example:1", n: 1 });
    }
  });

  it("refuses a private key that does not belong to the public JWK", async () => {
    const a = await generateKeyPair(keyType);
    const b = await generateKeyPair(keyType);
    await expect(importSigner(keyType, a.privateKey, b.publicJwk)).rejects.toThrow(/does not match/);
    await expect(importSigner(keyType, a.privateKey.subarray(0, 31), a.publicJwk)).rejects.toThrow();
  });
});

describe("importSigner", () => {
  it("refuses a public JWK of another key type", async () => {
    const { privateKey } = await generateKeyPair("P-256");
    const { publicJwk } = await generateKeyPair("secp256k1");
    await expect(importSigner("P-256", privateKey, publicJwk)).rejects.toThrow(/not a P-256 key/);
  });

  it("keeps its own copy of a secp256k1 key", async () => {
    const { publicJwk, privateKey } = await generateKeyPair("secp256k1");
    const sign = await importSigner("secp256k1", privateKey, publicJwk);
    privateKey.fill(0);
    const data = enc.encode("x");
    expect(await verifySignature("ES256K", publicJwk, data, await sign(data))).toBe(true);
  });

  it("always signs ES256K with low S", async () => {
    const { publicJwk, privateKey } = await generateKeyPair("secp256k1");
    const sign = await importSigner("secp256k1", privateKey, publicJwk);
    for (let i = 0; i < 16; i++) {
      const sig = await sign(enc.encode(`message ${i}`));
      expect(secp256k1.Signature.fromBytes(sig).hasHighS()).toBe(false);
    }
  });
});
