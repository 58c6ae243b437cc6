import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { base64url } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { ALG_OF, joseEcdsa, verifyJose, type KeyType } from "../../signer/src/backend.js";
import { keygenJwk, openJwkBackend } from "../../signer/src/backends/jwk.js";
import { keygenPkcs11, openPkcs11Backend, parsePkcs11Uri } from "../../signer/src/backends/pkcs11.js";
import { PIN, SOFTHSM_MODULE, TOKEN, freshToken, softhsmAvailable } from "./softhsm.js";
import { signingInputOf, verifyJws } from "./verify.js";

const KEY_TYPES: KeyType[] = ["Ed25519", "P-256", "secp256k1"];
const hsm = softhsmAvailable();

function jwtInput(alg: string): string {
  return signingInputOf(
    { alg, kid: "did:key:z6Mk#z6Mk", typ: "JWT" },
    { iss: "did:key:z6Mk", sub: "did:example:alice", vc: { credentialSubject: { name: "Alice" } } },
  );
}

describe.skipIf(!hsm)("pkcs11 backend on a fresh SoftHSM2 token", () => {
  const opts = { module: SOFTHSM_MODULE, token: TOKEN, pin: PIN };
  beforeAll(() => void freshToken());

  for (const keyType of KEY_TYPES) {
    it(`keygen + sign ${keyType}, verified by a third party`, async () => {
      const label = `issuer-${keyType}`;
      const kg = await keygenPkcs11({ ...opts, keyLabel: label }, keyType);
      expect(kg.keyRef).toBe(`pkcs11:token=${TOKEN};object=${label}`);
      expect(kg.body).toEqual({
        keyType,
        custody: "external",
        publicKeyJwk: kg.publicKeyJwk,
        keyRef: kg.keyRef,
      });
      expect(kg.publicKeyJwk).not.toHaveProperty("d");

      const backend = await openPkcs11Backend({ ...opts, keyLabel: label, sessions: 2 });
      try {
        expect(backend.alg).toBe(ALG_OF[keyType]);
        expect(await backend.publicJwk()).toEqual(kg.publicKeyJwk);
        // Several signatures in parallel over two sessions: exercises the session pool.
        const inputs = Array.from({ length: 6 }, () => jwtInput(backend.alg));
        const sigs = await Promise.all(inputs.map((i) => backend.sign(i)));
        for (const [n, sig] of sigs.entries()) {
          expect(sig.length).toBe(64);
          expect(await verifyJws(backend.alg, kg.publicKeyJwk, inputs[n]!, base64url.encode(sig))).toBe(true);
        }
        expect(await verifyJws(backend.alg, kg.publicKeyJwk, jwtInput("x"), base64url.encode(sigs[0]!))).toBe(false);
      } finally {
        await backend.close();
      }
    });
  }

  it("refuses a duplicate label and reports a missing key", async () => {
    await keygenPkcs11({ ...opts, keyLabel: "dup" }, "Ed25519");
    await expect(keygenPkcs11({ ...opts, keyLabel: "dup" }, "P-256")).rejects.toThrow(/already exists/);
    await expect(openPkcs11Backend({ ...opts, keyLabel: "nope" })).rejects.toThrow(/no public key labelled "nope"/);
    await expect(openPkcs11Backend({ ...opts, token: "other", keyLabel: "dup" })).rejects.toThrow(/no token/);
  });

  it("refuses a wrong PIN", async () => {
    await expect(openPkcs11Backend({ ...opts, pin: "0000", keyLabel: "dup" })).rejects.toThrow();
  });
});

describe("jwk backend", () => {
  const dir = mkdtempSync(join(tmpdir(), "ssi-signer-jwk-"));
  for (const keyType of KEY_TYPES) {
    it(`keygen + sign ${keyType}, verified by a third party`, async () => {
      const file = join(dir, `${keyType}.jwk`);
      const kg = await keygenJwk(keyType, file);
      expect(kg.body).toEqual({ keyType, custody: "external", publicKeyJwk: kg.publicKeyJwk });
      await expect(keygenJwk(keyType, file)).rejects.toThrow(); // never overwrites a key
      const backend = await openJwkBackend(file);
      const input = jwtInput(backend.alg);
      const sig = await backend.sign(input);
      expect(sig.length).toBe(64);
      expect(await verifyJws(backend.alg, kg.publicKeyJwk, input, base64url.encode(sig))).toBe(true);
      await backend.close();
    });

    it(`checks its own ${keyType} signatures before sending them: another key's, a changed input, a truncated one are refused`, async () => {
      const [a, b] = [join(dir, `${keyType}-a.jwk`), join(dir, `${keyType}-b.jwk`)];
      const ka = await keygenJwk(keyType, a);
      await keygenJwk(keyType, b);
      const [backendA, backendB] = [await openJwkBackend(a), await openJwkBackend(b)];
      const input = jwtInput(backendA.alg);
      const sig = await backendA.sign(input);
      expect(verifyJose(backendA.alg, ka.publicKeyJwk, input, sig)).toBe(true);
      expect(verifyJose(backendA.alg, ka.publicKeyJwk, input, await backendB.sign(input))).toBe(false);
      expect(verifyJose(backendA.alg, ka.publicKeyJwk, `${input}x`, sig)).toBe(false);
      expect(verifyJose(backendA.alg, ka.publicKeyJwk, input, sig.subarray(0, 63))).toBe(false);
      await Promise.all([backendA.close(), backendB.close()]);
    });
  }
});

describe("helpers", () => {
  it("parses pkcs11 URIs with percent-encoding", () => {
    expect(parsePkcs11Uri("pkcs11:token=my%20token;object=vc-signing")).toEqual({
      token: "my token",
      object: "vc-signing",
    });
    expect(() => parsePkcs11Uri("file:x")).toThrow();
  });

  it("turns DER and high-S ECDSA signatures into low-S JOSE form", async () => {
    const { secp256k1 } = await import("@noble/curves/secp256k1.js");
    const sk = secp256k1.utils.randomSecretKey();
    const msg = new Uint8Array(32).fill(7);
    const low = secp256k1.Signature.fromBytes(secp256k1.sign(msg, sk, { prehash: false }));
    const high = new secp256k1.Signature(low.r, secp256k1.Point.Fn.ORDER - low.s);
    expect(high.hasHighS()).toBe(true);
    expect(joseEcdsa("ES256K", high.toBytes("der"))).toEqual(low.toBytes("compact"));
    expect(joseEcdsa("ES256K", high.toBytes("compact"))).toEqual(low.toBytes("compact"));
  });

  it("refuses a high-S ES256K signature as the service does", async () => {
    const { secp256k1 } = await import("@noble/curves/secp256k1.js");
    const { sha256 } = await import("@noble/hashes/sha2.js");
    const sk = secp256k1.utils.randomSecretKey();
    const pub = secp256k1.getPublicKey(sk, false);
    const jwk = { kty: "EC", crv: "secp256k1", x: base64url.encode(pub.subarray(1, 33)), y: base64url.encode(pub.subarray(33)) };
    const input = jwtInput("ES256K");
    const low = secp256k1.Signature.fromBytes(secp256k1.sign(sha256(new TextEncoder().encode(input)), sk, { prehash: false }));
    const high = new secp256k1.Signature(low.r, secp256k1.Point.Fn.ORDER - low.s);
    expect(verifyJose("ES256K", jwk, input, low.toBytes("compact"))).toBe(true);
    expect(verifyJose("ES256K", jwk, input, high.toBytes("compact"))).toBe(false);
  });
});
