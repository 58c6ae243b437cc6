import { p256 } from "@noble/curves/nist.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import {
  decodeSignature,
  generateKeyPair,
  importSigner,
  publicKeyBytes,
  splitCompactJws,
  verifySignature,
  type Alg,
  type KeyType,
} from "../../src/crypto/index";

const enc = new TextEncoder();
const data = enc.encode("signing input");

async function signed(keyType: KeyType) {
  const { publicJwk, privateKey } = await generateKeyPair(keyType);
  const sign = await importSigner(keyType, privateKey, publicJwk);
  return { publicJwk, sig: await sign(data) };
}

function expectInvalid(alg: Alg, signature: string, format: "jose" | "der", message?: RegExp) {
  const result = decodeSignature(alg, signature, format);
  expect(result.ok).toBe(false);
  if (!result.ok) {
    expect(result.code).toBe("invalid_signature");
    if (message) expect(result.detail).toMatch(message);
  }
}

describe.each([
  ["ES256", "P-256", p256],
  ["ES256K", "secp256k1", secp256k1],
] as const)("decodeSignature %s", (alg, keyType, curve) => {
  it("accepts the JOSE form unchanged", async () => {
    const { sig } = await signed(keyType);
    expect(decodeSignature(alg, base64url.encode(sig), "jose")).toEqual({ ok: true, value: sig });
  });

  it("accepts DER with format der and returns the same JOSE bytes", async () => {
    const { publicJwk, sig } = await signed(keyType);
    const der = curve.Signature.fromBytes(sig, "compact").toBytes("der");
    expect(der[0]).toBe(0x30);
    const result = decodeSignature(alg, base64url.encode(der), "der");
    expect(result).toEqual({ ok: true, value: sig });
    if (result.ok) expect(await verifySignature(alg, publicJwk, data, result.value)).toBe(true);
  });

  it("refuses DER sent as jose, and JOSE sent as der", async () => {
    const { sig } = await signed(keyType);
    const der = curve.Signature.fromBytes(sig, "compact").toBytes("der");
    expectInvalid(alg, base64url.encode(der), "jose", /64 bytes/);
    expectInvalid(alg, base64url.encode(sig), "der");
  });

  it("refuses truncated and extended signatures", async () => {
    const { sig } = await signed(keyType);
    const der = curve.Signature.fromBytes(sig, "compact").toBytes("der");
    expectInvalid(alg, base64url.encode(sig.subarray(0, 63)), "jose");
    expectInvalid(alg, base64url.encode(new Uint8Array([...sig, 0])), "jose");
    expectInvalid(alg, base64url.encode(der.subarray(0, der.length - 1)), "der");
    expectInvalid(alg, base64url.encode(new Uint8Array([...der, 0])), "der");
  });

  it("refuses non-minimal DER spellings of a valid signature", async () => {
    const { sig } = await signed(keyType);
    const der = curve.Signature.fromBytes(sig, "compact").toBytes("der");
    const rLen = der[3]!;
    const r = der.subarray(4, 4 + rLen);
    const sPart = der.subarray(4 + rLen); // 0x02 slen s
    const variants = [
      // r with two redundant leading zero bytes: the same number, another spelling.
      [0x30, der[1]! + 2, 0x02, rLen + 2, 0x00, 0x00, ...r, ...sPart],
      // long-form length where the short form fits.
      [0x30, 0x81, der[1]!, ...der.subarray(2)],
      [0x30, der[1]! + 1, 0x02, 0x81, rLen, ...r, ...sPart],
      // a context tag instead of SEQUENCE.
      [0x31, ...der.subarray(1)],
    ];
    for (const v of variants) expectInvalid(alg, base64url.encode(new Uint8Array(v)), "der", /DER/);
  });

  it("refuses r or s equal to zero or not below the curve order", async () => {
    const { sig } = await signed(keyType);
    // n itself, big-endian: (n - 1) encoded, plus one in the last byte (n - 1 is even).
    const nBytes = curve.Point.Fn.toBytes(curve.Point.Fn.ORDER - 1n);
    nBytes[31] = nBytes[31]! + 1;
    const zero = new Uint8Array(32);
    expectInvalid(alg, base64url.encode(new Uint8Array([...zero, ...sig.subarray(32)])), "jose");
    expectInvalid(alg, base64url.encode(new Uint8Array([...sig.subarray(0, 32), ...zero])), "jose");
    expectInvalid(alg, base64url.encode(new Uint8Array([...nBytes, ...sig.subarray(32)])), "jose");
    expectInvalid(alg, base64url.encode(new Uint8Array([...sig.subarray(0, 32), ...nBytes])), "jose");
    expectInvalid(alg, base64url.encode(new Uint8Array(64).fill(0xff)), "jose");
  });

  it("refuses strings that are not canonical unpadded base64url", async () => {
    const { sig } = await signed(keyType);
    const good = base64url.encode(sig);
    expectInvalid(alg, `${good}==`, "jose", /base64url/);
    expectInvalid(alg, good.replace(/[A-Za-z]/, "+"), "jose", /base64url/);
    expectInvalid(alg, `${good.slice(0, 10)}.${good.slice(10)}`, "jose", /base64url/);
    expectInvalid(alg, "", "jose");
    expectInvalid(alg, "not a signature!", "der");
  });
});

describe("decodeSignature ES256K high-S", () => {
  it("normalises a high-S signature to low-S, which then verifies", async () => {
    const { publicJwk, sig } = await signed("secp256k1");
    const low = secp256k1.Signature.fromBytes(sig, "compact");
    expect(low.hasHighS()).toBe(false);
    const high = new secp256k1.Signature(low.r, secp256k1.Point.Fn.ORDER - low.s);
    expect(high.hasHighS()).toBe(true);
    // Both halves are mathematically valid; low-S-only verifiers reject the high one.
    expect(secp256k1.verify(high.toBytes("compact"), data, publicKeyBytes(publicJwk))).toBe(false);

    for (const [format, bytes] of [
      ["jose", high.toBytes("compact")],
      ["der", high.toBytes("der")],
    ] as const) {
      const result = decodeSignature("ES256K", base64url.encode(bytes), format);
      expect(result).toEqual({ ok: true, value: sig });
      if (result.ok) expect(await verifySignature("ES256K", publicJwk, data, result.value)).toBe(true);
    }
  });

  it("leaves ES256 high-S alone (WebCrypto verifiers accept either half)", async () => {
    const { publicJwk, sig } = await signed("P-256");
    const s = p256.Signature.fromBytes(sig, "compact");
    const flipped = new p256.Signature(s.r, p256.Point.Fn.ORDER - s.s).toBytes("compact");
    expect(decodeSignature("ES256", base64url.encode(flipped), "jose")).toEqual({
      ok: true,
      value: flipped,
    });
    expect(await verifySignature("ES256", publicJwk, data, flipped)).toBe(true);
  });
});

describe("decodeSignature EdDSA", () => {
  it("accepts 64 bytes and refuses other lengths and DER", async () => {
    const { publicJwk, sig } = await signed("Ed25519");
    const result = decodeSignature("EdDSA", base64url.encode(sig), "jose");
    expect(result).toEqual({ ok: true, value: sig });
    expect(await verifySignature("EdDSA", publicJwk, data, sig)).toBe(true);
    expectInvalid("EdDSA", base64url.encode(sig), "der", /ECDSA/);
    expectInvalid("EdDSA", base64url.encode(sig.subarray(0, 63)), "jose", /64 bytes/);
    expectInvalid("EdDSA", base64url.encode(new Uint8Array([...sig, 1])), "jose", /64 bytes/);
  });
});

describe("verifySignature", () => {
  it("returns false rather than throwing for mismatched alg or broken keys", async () => {
    const { publicJwk, sig } = await signed("P-256");
    expect(await verifySignature("ES256K", publicJwk, data, sig)).toBe(false);
    expect(await verifySignature("EdDSA", publicJwk, data, sig)).toBe(false);
    expect(await verifySignature("ES256", { ...publicJwk, x: "AAAA" }, data, sig)).toBe(false);
    expect(await verifySignature("ES256", { ...publicJwk, y: undefined }, data, sig)).toBe(false);
    const k1 = await signed("secp256k1");
    expect(await verifySignature("ES256K", { ...k1.publicJwk, x: "!!" }, data, k1.sig)).toBe(false);
    expect(await verifySignature("ES256K", k1.publicJwk, data, new Uint8Array(64))).toBe(false);
    const ed = await signed("Ed25519");
    expect(await verifySignature("EdDSA", { ...ed.publicJwk, x: "AAAA" }, data, ed.sig)).toBe(false);
  });

  it("keeps working for a cached key after many other keys were imported", async () => {
    const first = await signed("Ed25519");
    expect(await verifySignature("EdDSA", first.publicJwk, data, first.sig)).toBe(true);
    for (let i = 0; i < 300; i++) {
      const { publicJwk } = await generateKeyPair(i % 2 ? "Ed25519" : "P-256");
      await verifySignature(i % 2 ? "EdDSA" : "ES256", publicJwk, data, first.sig);
    }
    expect(await verifySignature("EdDSA", first.publicJwk, data, first.sig)).toBe(true);
  });
});

describe("splitCompactJws", () => {
  const header = (h: object) => base64url.encode(JSON.stringify(h));
  const payload = base64url.encode(JSON.stringify({ iss: "did:example:1" }));

  it("returns the signing input and decoded signature", async () => {
    const { sig } = await signed("secp256k1");
    const signingInput = `${header({ alg: "ES256K", typ: "JWT" })}.${payload}`;
    const high = secp256k1.Signature.fromBytes(sig, "compact");
    const highS = new secp256k1.Signature(high.r, secp256k1.Point.Fn.ORDER - high.s).toBytes("compact");
    const result = splitCompactJws("ES256K", `${signingInput}.${base64url.encode(highS)}`);
    expect(result).toEqual({ ok: true, value: { signingInput, signature: sig } });
  });

  it.each([
    ["two parts", (s: string) => s.split(".").slice(0, 2).join(".")],
    ["four parts", (s: string) => `${s}.x`],
    ["a header that is not JSON", (s: string) => `${base64url.encode("nope")}.${s.split(".").slice(1).join(".")}`],
    ["a JSON array header", (s: string) => `${base64url.encode("[]")}.${s.split(".").slice(1).join(".")}`],
    ["another alg", (s: string) => `${header({ alg: "ES256" })}.${s.split(".").slice(1).join(".")}`],
    ["alg none", (s: string) => `${header({ alg: "none" })}.${s.split(".").slice(1).join(".")}`],
    ["a crit extension", (s: string) => `${header({ alg: "EdDSA", b64: false, crit: ["b64"] })}.${s.split(".").slice(1).join(".")}`],
    ["a payload that is not base64url", (s: string) => s.replace(`.${payload}.`, ".a+b.")],
    ["a DER-length signature", (s: string) => `${s}AAAAAAAA`],
    ["an empty signature", (s: string) => `${s.split(".").slice(0, 2).join(".")}.`],
  ])("refuses %s", async (_, mutate) => {
    const { sig } = await signed("Ed25519");
    const jws = `${header({ alg: "EdDSA" })}.${payload}.${base64url.encode(sig)}`;
    expect(splitCompactJws("EdDSA", jws).ok).toBe(true);
    const result = splitCompactJws("EdDSA", mutate(jws));
    expect(result).toMatchObject({ ok: false, code: "invalid_signature" });
  });
});
