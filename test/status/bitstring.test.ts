import { Buffer } from "node:buffer";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import vector from "../vectors/bitstring-status-list.json";
import { Bitstring, MIN_LIST_SIZE, StatusListError, decodeList, encodeList } from "../../src/status/bitstring";

/** Decode without our decoder: Node's base64url and zlib, then read bits MSB-first by hand. */
function independentSetIndexes(encodedList: string): { length: number; set: number[] } {
  expect(encodedList.startsWith("u")).toBe(true);
  const raw = gunzipSync(Buffer.from(encodedList.slice(1), "base64url"));
  const set: number[] = [];
  for (let i = 0; i < raw.length * 8; i++) if ((raw[Math.floor(i / 8)]! >> (7 - (i % 8))) & 1) set.push(i);
  return { length: raw.length * 8, set };
}

describe("W3C spec example", () => {
  it("decodes to 131,072 entries, all zero", async () => {
    const bits = await decodeList(vector.encodedList);
    expect(bits.length).toBe(vector.entries);
    expect(bits.length).toBe(MIN_LIST_SIZE);
    expect(bits.bytes.length).toBe(vector.uncompressedBytes);
    expect(bits.setIndexes()).toEqual(vector.setBits);
    expect(bits.bytes.every((b) => b === 0)).toBe(true);
  });

  it("decodes without the multibase 'u' prefix too (StatusList2021 style)", async () => {
    const bits = await decodeList(vector.encodedList.slice(1));
    expect(bits.length).toBe(131_072);
    expect(bits.setIndexes()).toEqual([]);
  });
});

describe("encodeList / decodeList", () => {
  const last = MIN_LIST_SIZE - 1;
  const indexes = [0, 7, 8, 4242, 99_999, last];

  it("round-trips specific bits, and an independent decoder agrees", async () => {
    const bits = new Bitstring(MIN_LIST_SIZE);
    for (const i of indexes) bits.set(i, true);
    const encoded = await encodeList(bits);
    expect(encoded).toMatch(/^uH4sI[A-Za-z0-9_-]+$/); // multibase 'u', gzip magic, no padding

    const decoded = await decodeList(encoded);
    expect(decoded.length).toBe(MIN_LIST_SIZE);
    expect(decoded.setIndexes()).toEqual(indexes);
    for (const i of [0, 7, 8, last]) expect(decoded.get(i)).toBe(true);
    for (const i of [1, 6, 9, last - 1]) expect(decoded.get(i)).toBe(false);

    expect(independentSetIndexes(encoded)).toEqual({ length: MIN_LIST_SIZE, set: indexes });
  });

  it("puts bit 0 in the most significant bit of byte 0", async () => {
    const bits = new Bitstring(MIN_LIST_SIZE);
    bits.set(0, true);
    const decoded = await decodeList(await encodeList(bits));
    expect(decoded.bytes[0]).toBe(0x80);
    expect(decoded.bytes.subarray(1).every((b) => b === 0)).toBe(true);

    const lastOnly = new Bitstring(16);
    lastOnly.set(15, true);
    expect([...lastOnly.bytes]).toEqual([0x00, 0x01]);
  });

  it("clears bits", () => {
    const bits = new Bitstring(64);
    bits.set(9, true);
    bits.set(10, true);
    bits.set(9, false);
    expect(bits.setIndexes()).toEqual([10]);
    expect([...bits.bytes.subarray(0, 2)]).toEqual([0x00, 0x20]);
  });

  it("decodes a list gzipped by another implementation", async () => {
    const { gzipSync } = await import("node:zlib");
    const raw = new Uint8Array(2048);
    raw[0] = 0b0100_0000; // bit 1
    raw[2047] = 0b0000_0001; // bit 16383
    const encoded = "u" + Buffer.from(gzipSync(raw)).toString("base64url");
    expect((await decodeList(encoded)).setIndexes()).toEqual([1, 16_383]);
  });
});

describe("Bitstring bounds", () => {
  it("refuses indexes outside the list", () => {
    const bits = new Bitstring(MIN_LIST_SIZE);
    expect(() => bits.get(MIN_LIST_SIZE)).toThrow(RangeError);
    expect(() => bits.set(-1, true)).toThrow(RangeError);
    expect(() => bits.get(1.5)).toThrow(RangeError);
  });

  it("refuses lengths that are not whole bytes, and bytes that do not match the length", () => {
    expect(() => new Bitstring(0)).toThrow(RangeError);
    expect(() => new Bitstring(12)).toThrow(RangeError);
    expect(() => new Bitstring(16, new Uint8Array(3))).toThrow(RangeError);
  });

  it("copies the bytes it is given", () => {
    const src = new Uint8Array([0xff]);
    const bits = new Bitstring(8, src);
    src[0] = 0;
    expect(bits.get(0)).toBe(true);
  });
});

describe("decodeList refuses bad input with a StatusListError", () => {
  const cases: [string, string, StatusListError["code"]][] = [
    ["empty", "", "invalid_encoding"],
    ["a bare prefix", "u", "invalid_encoding"],
    ["standard base64 characters", "uH4sI+AAA/AA=", "invalid_encoding"],
    ["another multibase (base58btc)", "z3mJr7AoUXx2Wqd", "invalid_gzip"],
    ["base64url that is not gzip", "u" + Buffer.from("hello, not gzip at all").toString("base64url"), "invalid_gzip"],
    ["truncated gzip", vector.encodedList.slice(0, 40), "invalid_gzip"],
  ];
  it.each(cases)("%s", async (_name, input, code) => {
    const err = await decodeList(input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StatusListError);
    expect((err as StatusListError).code).toBe(code);
    expect((err as Error).message).toMatch(/encodedList/);
  });

  it("a gzip bomb past the size cap", async () => {
    const { gzipSync } = await import("node:zlib");
    const bomb = "u" + Buffer.from(gzipSync(new Uint8Array(17 * 1024 * 1024))).toString("base64url");
    const err = await decodeList(bomb).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StatusListError);
    expect((err as StatusListError).code).toBe("list_too_large");
  });
});
