import { hexToBytes } from "@noble/hashes/utils.js";
import { base64url } from "jose";
import { base58btc } from "multiformats/bases/base58";
import { describe, expect, it } from "vitest";
import ed25519Vectors from "../vectors/did-key/ed25519-x25519.json";
import nistVectors from "../vectors/did-key/nist-curves.json";
import secp256k1Vectors from "../vectors/did-key/secp256k1.json";
import {
  didJwkFromJwk,
  didKeyFromJwk,
  generateKeyPair,
  importSigner,
  jwkFromPublicKeyBytes,
  KEY_TYPES,
  parseDidJwk,
  parseDidKey,
  publicKeyBytes,
  type KeyType,
  type PublicJwk,
} from "../../src/crypto/index";

// The W3C CCG did:key vectors put the key under verificationKeyPair or verificationMethod, as
// either publicKeyBase58 (raw multicodec payload) or publicKeyJwk.
interface VectorKey {
  id: string;
  publicKeyBase58?: string;
  privateKeyBase58?: string;
  publicKeyJwk?: PublicJwk;
  privateKeyJwk?: PublicJwk & { d: string };
}
interface Vector {
  seed?: string;
  verificationKeyPair?: VectorKey;
  verificationMethod?: VectorKey;
  didDocument: { verificationMethod: { id: string }[] };
}

function cases(file: unknown, keyType: KeyType, didPrefix: string) {
  return Object.entries(file as Record<string, Vector>)
    .filter(([did]) => did.startsWith(didPrefix))
    .map(([did, v]) => {
      const key = v.verificationKeyPair ?? v.verificationMethod;
      if (!key) throw new Error(`vector ${did} has no key`);
      return { did, keyType, key, seed: v.seed, docVmId: v.didDocument.verificationMethod[0]?.id };
    });
}

const vectors = [
  ...cases(ed25519Vectors, "Ed25519", "did:key:z6Mk"),
  ...cases(secp256k1Vectors, "secp256k1", "did:key:zQ3s"),
  // nist-curves.json also has P-384/P-521; only P-256 (zDna) is supported.
  ...cases(nistVectors, "P-256", "did:key:zDna"),
];

const b58 = (s: string) => base58btc.baseDecode(s);

describe("did:key W3C CCG vectors", () => {
  it("covers every curve with both key representations", () => {
    const byType = (t: KeyType) => vectors.filter((v) => v.keyType === t);
    for (const t of KEY_TYPES) {
      expect(byType(t).some((v) => v.key.publicKeyJwk)).toBe(true);
      expect(byType(t).some((v) => v.key.publicKeyBase58)).toBe(true);
    }
    expect(vectors).toHaveLength(5 + 6 + 3);
  });

  for (const v of vectors) {
    describe(`${v.keyType} ${v.did}`, () => {
      const jwk = v.key.publicKeyJwk ?? jwkFromPublicKeyBytes(v.keyType, b58(v.key.publicKeyBase58!));

      it("derives the DID from the public key", () => {
        expect(didKeyFromJwk(jwk)).toBe(v.did);
      });

      it("recovers the public key and verification method id from the DID", () => {
        const parsed = parseDidKey(v.did);
        expect(parsed).not.toBeNull();
        expect(parsed!.keyType).toBe(v.keyType);
        if (v.key.publicKeyJwk) expect(parsed!.jwk).toEqual(v.key.publicKeyJwk);
        if (v.key.publicKeyBase58) expect(publicKeyBytes(parsed!.jwk)).toEqual(b58(v.key.publicKeyBase58));
        expect(`${v.did}#${parsed!.fragment}`).toBe(v.docVmId);
      });

      it("pairs with the vector's private key", async () => {
        const priv = v.key.privateKeyJwk
          ? base64url.decode(v.key.privateKeyJwk.d)
          : v.key.privateKeyBase58
            ? b58(v.key.privateKeyBase58)
            : v.seed
              ? hexToBytes(v.seed)
              : null;
        if (!priv) return;
        // importSigner refuses a private key that does not derive the given public key.
        await expect(importSigner(v.keyType, priv, jwk)).resolves.toBeTypeOf("function");
      });
    });
  }
});

describe("parseDidKey rejects", () => {
  const valid = vectors[0]!.did;
  it.each([
    ["another method", "did:web:example.com"],
    ["no multibase prefix", valid.replace("did:key:z", "did:key:")],
    ["a non-base58btc multibase", valid.replace("did:key:z", "did:key:f")],
    ["a DID URL with fragment", `${valid}#${valid.slice(8)}`],
    ["a truncated key", valid.slice(0, -3)],
    ["an unsupported multicodec (X25519)", "did:key:z6LShs9GGnqk85isEBzzshkuVWrVKsRp24GnDuHk8QWkARMW"],
    ["P-384", "did:key:z82Lm1MpAkeJcix9K8TMiLd5NMAhnwkjjCBeWHXyu3U4oT2MVJJKXkcVBgjGhnLBn2Kaau9"],
    ["empty", ""],
  ])("%s", (_, did) => {
    expect(parseDidKey(did)).toBeNull();
  });

  it("a secp256k1 point not on the curve", () => {
    // 0xe7 0x01 varint prefix, then 0x02 || x with x chosen so x^3 + 7 is not a square.
    for (let i = 0; i < 256; i++) {
      const bytes = new Uint8Array(2 + 33);
      bytes.set([0xe7, 0x01, 0x02]);
      bytes[34] = i;
      const did = `did:key:${base58btc.encode(bytes)}`;
      let onCurve = true;
      try {
        jwkFromPublicKeyBytes("secp256k1", bytes.subarray(2));
      } catch {
        onCurve = false;
      }
      if (!onCurve) {
        expect(parseDidKey(did)).toBeNull();
        return;
      }
    }
    throw new Error("no off-curve x found");
  });
});

describe("did:jwk", () => {
  it("uses lexicographic member order, matching the did:jwk spec's P-256 example", () => {
    // Example from https://github.com/quartzjer/did-jwk/blob/main/spec.md
    const did =
      "did:jwk:eyJjcnYiOiJQLTI1NiIsImt0eSI6IkVDIiwieCI6ImFjYklRaXVNczNpOF91c3pFakoydHBUdFJNNEVVM3l6OTFQSDZDZEgyVjAiLCJ5IjoiX0tjeUxqOXZXTXB0bm1LdG00NkdxRHo4d2Y3NEk1TEtncmwyR3pIM25TRSJ9";
    const parsed = parseDidJwk(did);
    expect(parsed?.keyType).toBe("P-256");
    expect(didJwkFromJwk(parsed!.jwk)).toBe(did);
  });

  it.each(KEY_TYPES)("round trips a %s key", async (keyType) => {
    const { publicJwk } = await generateKeyPair(keyType);
    const did = didJwkFromJwk(publicJwk);
    expect(did).toMatch(/^did:jwk:[A-Za-z0-9_-]+$/);
    expect(parseDidJwk(did)).toEqual({ keyType, jwk: publicJwk });
  });

  it("accepts other member orders and drops extra members", async () => {
    const { publicJwk } = await generateKeyPair("Ed25519");
    const json = JSON.stringify({ kty: "OKP", x: publicJwk.x, use: "sig", crv: "Ed25519" });
    expect(parseDidJwk(`did:jwk:${base64url.encode(json)}`)).toEqual({
      keyType: "Ed25519",
      jwk: publicJwk,
    });
  });

  it("rejects private keys, unsupported curves, non-JSON and bad encodings", async () => {
    const { publicJwk } = await generateKeyPair("P-256");
    const withD = { ...publicJwk, d: "gPh-VvVS8MbvKQ9LSVVmfnxnKjHn4Tqj0bmbpehRlpc" };
    expect(parseDidJwk(`did:jwk:${base64url.encode(JSON.stringify(withD))}`)).toBeNull();
    expect(parseDidJwk(`did:jwk:${base64url.encode(JSON.stringify({ ...publicJwk, crv: "P-384" }))}`)).toBeNull();
    expect(parseDidJwk(`did:jwk:${base64url.encode(JSON.stringify({ ...publicJwk, crv: "toString" }))}`)).toBeNull();
    expect(parseDidJwk(`did:jwk:${base64url.encode("not json")}`)).toBeNull();
    expect(parseDidJwk(`did:jwk:${base64url.encode("[]")}`)).toBeNull();
    expect(parseDidJwk(`${didJwkFromJwk(publicJwk)}#0`)).toBeNull();
    expect(parseDidJwk(didKeyFromJwk(publicJwk))).toBeNull();
    expect(parseDidJwk("did:jwk:")).toBeNull();
  });
});
