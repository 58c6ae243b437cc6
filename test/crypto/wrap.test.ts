import { env } from "cloudflare:workers";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import { parseKek, unwrapPrivateKey, wrapPrivateKey } from "../../src/crypto/index";

const kek = parseKek(env.KEY_ENCRYPTION_KEY)!;
const secret = crypto.getRandomValues(new Uint8Array(32));

/** Flips one byte inside the n-th dot-separated part of a wrapped key. */
function tamper(wrapped: string, part: 1 | 2, index = 0): string {
  const parts = wrapped.split(".");
  const bytes = base64url.decode(parts[part]!);
  bytes[index] = bytes[index]! ^ 0x80;
  parts[part] = base64url.encode(bytes);
  return parts.join(".");
}

describe("parseKek", () => {
  it("accepts the configured 32-byte key", () => {
    expect(kek).toHaveLength(32);
  });

  it.each([
    ["missing", undefined],
    ["empty", ""],
    ["31 bytes", base64url.encode(new Uint8Array(31).fill(7))],
    ["33 bytes", base64url.encode(new Uint8Array(33).fill(7))],
    ["64 bytes", base64url.encode(new Uint8Array(64).fill(7))],
    ["padded", `${base64url.encode(new Uint8Array(32).fill(7))}=`],
    ["standard base64 alphabet", "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA".replace("q", "+")],
    ["hex", "00".repeat(32)],
  ])("rejects %s", (_, value) => {
    expect(parseKek(value)).toBeNull();
  });
});

describe("wrapPrivateKey / unwrapPrivateKey", () => {
  it("round trips and uses a fresh IV each time", async () => {
    const a = await wrapPrivateKey(kek, "did:key:z1#k", secret);
    const b = await wrapPrivateKey(kek, "did:key:z1#k", secret);
    expect(a).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain(base64url.encode(secret));
    expect(await unwrapPrivateKey(kek, "did:key:z1#k", a)).toEqual(secret);
    expect(await unwrapPrivateKey(kek, "did:key:z1#k", b)).toEqual(secret);
  });

  it("fails for a different keyId (the wrapped key is bound to its row)", async () => {
    const wrapped = await wrapPrivateKey(kek, "key-a", secret);
    await expect(unwrapPrivateKey(kek, "key-b", wrapped)).rejects.toThrow(/authentication failed/);
  });

  it("fails with a different KEK", async () => {
    const wrapped = await wrapPrivateKey(kek, "key-a", secret);
    const other = crypto.getRandomValues(new Uint8Array(32));
    await expect(unwrapPrivateKey(other, "key-a", wrapped)).rejects.toThrow(/authentication failed/);
  });

  it("fails when the ciphertext, tag or IV is tampered with", async () => {
    const wrapped = await wrapPrivateKey(kek, "key-a", secret);
    await expect(unwrapPrivateKey(kek, "key-a", tamper(wrapped, 2, 0))).rejects.toThrow();
    await expect(unwrapPrivateKey(kek, "key-a", tamper(wrapped, 2, 47))).rejects.toThrow(); // in the tag
    await expect(unwrapPrivateKey(kek, "key-a", tamper(wrapped, 1, 3))).rejects.toThrow();
  });

  it("rejects malformed values", async () => {
    const wrapped = await wrapPrivateKey(kek, "key-a", secret);
    for (const bad of [wrapped.replace("v1.", "v2."), `${wrapped}.x`, wrapped.split(".").slice(0, 2).join("."), "", "v1..", "v1.!!.!!"]) {
      await expect(unwrapPrivateKey(kek, "key-a", bad)).rejects.toThrow();
    }
  });

  it("refuses a KEK of the wrong length", async () => {
    await expect(wrapPrivateKey(new Uint8Array(16), "key-a", secret)).rejects.toThrow();
  });
});
