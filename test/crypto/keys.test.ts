import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import {
  generateKeyPair,
  jwkFromPublicKeyBytes,
  KEY_TYPES,
  keyTypeOfJwk,
  publicKeyBytes,
  validatePublicJwk,
  type KeyType,
  type PublicJwk,
} from "../../src/crypto/index";

// A known-good key of each type (P-256 from the did:key vectors, the others from RFC 8037 / vectors).
const GOOD: Record<KeyType, PublicJwk> = {
  Ed25519: { kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
  secp256k1: {
    kty: "EC",
    crv: "secp256k1",
    x: "TEIJN9vnTq1EXMkqzo7yN_867-foKc2pREv45Fw_QA8",
    y: "9yiymlzdxKCiRbYq7p-ArRB-C1ytjHE-eb7RDTi6rVc",
  },
  "P-256": {
    kty: "EC",
    crv: "P-256",
    x: "igrFmi0whuihKnj9R3Om1SoMph72wUGeFaBbzG2vzns",
    y: "efsX5b10x8yjyrj4ny3pGfLcY7Xby1KzgqOdqnsrJIM",
  },
};

/** Re-encodes a coordinate with one byte changed. */
function flipByte(b64: string, index = 5): string {
  const bytes = base64url.decode(b64);
  bytes[index] = bytes[index]! ^ 0x01;
  return base64url.encode(bytes);
}

function expectError(keyType: KeyType, jwk: unknown, path: string, message?: RegExp) {
  const result = validatePublicJwk(keyType, jwk);
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.code).toBe("invalid_public_key");
  expect(result.path).toBe(path);
  if (message) expect(result.detail).toMatch(message);
}

describe("validatePublicJwk", () => {
  it.each(KEY_TYPES)("accepts a valid %s key and keeps only kty, crv, x, y", (keyType) => {
    const result = validatePublicJwk(keyType, {
      ...GOOD[keyType],
      kid: "k1",
      use: "sig",
      alg: "whatever",
    });
    expect(result).toEqual({ ok: true, value: GOOD[keyType] });
  });

  it.each(KEY_TYPES)("accepts freshly generated %s keys", async (keyType) => {
    const { publicJwk } = await generateKeyPair(keyType);
    expect(validatePublicJwk(keyType, publicJwk)).toEqual({ ok: true, value: publicJwk });
  });

  it.each([null, undefined, "jwk", 42, [], [GOOD.Ed25519]])("rejects a non-object (%j)", (value) => {
    expectError("Ed25519", value, "publicKeyJwk");
  });

  it.each(KEY_TYPES)("refuses private material d on a %s key", (keyType) => {
    expectError(keyType, { ...GOOD[keyType], d: "gPh-VvVS8MbvKQ9LSVVmfnxnKjHn4Tqj0bmbpehRlpc" }, "publicKeyJwk.d", /private/);
  });

  it("rejects a crv that does not match keyType", () => {
    expectError("P-256", GOOD.secp256k1, "publicKeyJwk.crv");
    expectError("secp256k1", GOOD["P-256"], "publicKeyJwk.crv");
    expectError("Ed25519", { ...GOOD.Ed25519, crv: "X25519" }, "publicKeyJwk.crv");
    expectError("P-256", { ...GOOD["P-256"], crv: "P-384" }, "publicKeyJwk.crv");
  });

  it("rejects the wrong kty", () => {
    expectError("Ed25519", { ...GOOD.Ed25519, kty: "EC" }, "publicKeyJwk.kty");
    expectError("P-256", { ...GOOD["P-256"], kty: "OKP" }, "publicKeyJwk.kty");
    expectError("secp256k1", { ...GOOD.secp256k1, kty: "RSA" }, "publicKeyJwk.kty");
    expectError("secp256k1", { crv: "secp256k1", x: GOOD.secp256k1.x }, "publicKeyJwk.kty");
  });

  it.each(["secp256k1", "P-256"] as const)("rejects a %s point moved off the curve", (keyType) => {
    const jwk = GOOD[keyType];
    expectError(keyType, { ...jwk, x: flipByte(jwk.x) }, "publicKeyJwk", /not a point/);
    expectError(keyType, { ...jwk, y: flipByte(jwk.y!) }, "publicKeyJwk", /not a point/);
    expectError(keyType, { ...jwk, y: flipByte(jwk.y!, 31) }, "publicKeyJwk", /not a point/);
  });

  it("rejects Ed25519 encodings that are not points, and small-order points", () => {
    // y = 2^255 - 1 is ≥ p: not a canonical encoding.
    const nonCanonical = base64url.encode(new Uint8Array(32).fill(0xff).fill(0x7f, 31));
    expectError("Ed25519", { ...GOOD.Ed25519, x: nonCanonical }, "publicKeyJwk.x");
    // The identity point (y = 1) has order 1: it would "verify" forged signatures.
    const identity = new Uint8Array(32);
    identity[0] = 1;
    expectError("Ed25519", { ...GOOD.Ed25519, x: base64url.encode(identity) }, "publicKeyJwk.x", /small-order/);
  });

  it("rejects wrong coordinate lengths", () => {
    const short = base64url.encode(new Uint8Array(31).fill(1));
    const long = base64url.encode(new Uint8Array(33).fill(1));
    expectError("Ed25519", { ...GOOD.Ed25519, x: short }, "publicKeyJwk.x", /32 bytes/);
    expectError("P-256", { ...GOOD["P-256"], x: long }, "publicKeyJwk.x", /32 bytes/);
    expectError("secp256k1", { ...GOOD.secp256k1, y: short }, "publicKeyJwk.y", /32 bytes/);
    expectError("P-256", { ...GOOD["P-256"], x: "" }, "publicKeyJwk.x");
  });

  it("rejects missing or non-string coordinates, and y on an OKP key", () => {
    expectError("P-256", { kty: "EC", crv: "P-256", x: GOOD["P-256"].x }, "publicKeyJwk.y");
    expectError("Ed25519", { kty: "OKP", crv: "Ed25519" }, "publicKeyJwk.x");
    expectError("Ed25519", { ...GOOD.Ed25519, x: 12 }, "publicKeyJwk.x");
    expectError("Ed25519", { ...GOOD.Ed25519, y: GOOD["P-256"].y }, "publicKeyJwk.y");
  });

  it("rejects coordinates that are not canonical unpadded base64url", () => {
    const x = GOOD.secp256k1.x;
    const std = x.replace(/-/g, "+").replace(/_/g, "/");
    expect(std).not.toBe(x); // this vector contains '-' and '_', so the swap matters
    expectError("secp256k1", { ...GOOD.secp256k1, x: std }, "publicKeyJwk.x", /base64url/);
    expectError("secp256k1", { ...GOOD.secp256k1, x: `${x}=` }, "publicKeyJwk.x", /base64url/);
    expectError("secp256k1", { ...GOOD.secp256k1, x: ` ${x}` }, "publicKeyJwk.x", /base64url/);
    // Same bytes, but the final character sets bits that base64url must leave zero.
    expectError("Ed25519", { ...GOOD.Ed25519, x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURp" }, "publicKeyJwk.x");
  });

  it("uses the caller's path prefix", () => {
    expect(validatePublicJwk("Ed25519", { ...GOOD.Ed25519, kty: "EC" }, "keys[0].jwk")).toMatchObject({
      path: "keys[0].jwk.kty",
    });
  });
});

describe("key bytes", () => {
  it("Ed25519 public key bytes are the 32 raw bytes of x", () => {
    const bytes = publicKeyBytes(GOOD.Ed25519);
    expect(bytes).toEqual(base64url.decode(GOOD.Ed25519.x));
    expect(jwkFromPublicKeyBytes("Ed25519", bytes)).toEqual(GOOD.Ed25519);
  });

  it.each([
    ["secp256k1", secp256k1],
    ["P-256", p256],
  ] as const)("%s public key bytes are the compressed point, and decompress back", (keyType, curve) => {
    const bytes = publicKeyBytes(GOOD[keyType]);
    expect(bytes).toHaveLength(33);
    expect([0x02, 0x03]).toContain(bytes[0]);
    expect(curve.Point.fromBytes(bytes).toBytes(false).subarray(1, 33)).toEqual(base64url.decode(GOOD[keyType].x));
    expect(jwkFromPublicKeyBytes(keyType, bytes)).toEqual(GOOD[keyType]);
    // Uncompressed input is accepted too.
    expect(jwkFromPublicKeyBytes(keyType, curve.Point.fromBytes(bytes).toBytes(false))).toEqual(GOOD[keyType]);
  });

  it("jwkFromPublicKeyBytes throws on invalid bytes", () => {
    expect(() => jwkFromPublicKeyBytes("Ed25519", new Uint8Array(31))).toThrow();
    expect(() => jwkFromPublicKeyBytes("P-256", new Uint8Array(33))).toThrow();
    const bytes = publicKeyBytes(GOOD.secp256k1);
    expect(() => jwkFromPublicKeyBytes("secp256k1", bytes.subarray(0, 32))).toThrow();
    const wrongPrefix = bytes.slice();
    wrongPrefix[0] = 0x05;
    expect(() => jwkFromPublicKeyBytes("secp256k1", wrongPrefix)).toThrow();
  });

  it.each(KEY_TYPES)("generateKeyPair(%s) yields a 32-byte private key for its public key", async (keyType) => {
    const a = await generateKeyPair(keyType);
    const b = await generateKeyPair(keyType);
    expect(a.privateKey).toHaveLength(32);
    expect(keyTypeOfJwk(a.publicJwk)).toBe(keyType);
    expect(a.privateKey).not.toEqual(b.privateKey);
    expect(a.publicJwk).not.toEqual(b.publicJwk);
  });
});
