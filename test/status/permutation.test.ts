import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { describe, expect, it } from "vitest";
import { MIN_LIST_SIZE } from "../../src/status/bitstring";
import { IndexPermutation, ROUNDS } from "../../src/status/permutation";

const key = (seed: number) => Uint8Array.from({ length: 32 }, (_, i) => (seed + i) & 0xff);

/** The construction as documented, written plainly (one-shot HMAC, no cached state). */
function reference(k: Uint8Array, size: number, counter: number): number {
  let width = 2;
  while (2 ** width < size) width += 2;
  const h = width / 2;
  const mask = 2 ** h - 1;
  const encrypt = (x: number) => {
    let l = Math.floor(x / 2 ** h);
    let r = x % 2 ** h;
    for (let round = 0; round < ROUNDS; round++) {
      const msg = new Uint8Array(5);
      msg[0] = round;
      new DataView(msg.buffer).setUint32(1, r);
      const f = new DataView(hmac(sha256, k, msg).buffer).getUint32(0);
      [l, r] = [r, (l ^ f) & mask];
    }
    return l * 2 ** h + r;
  };
  let x = encrypt(counter);
  while (x >= size) x = encrypt(x);
  return x;
}

/** Draws at(0..n) and checks each is in range and unseen; returns the draws. */
function drawDistinct(p: IndexPermutation, n: number): Uint32Array {
  const seen = new Uint8Array(p.size);
  const out = new Uint32Array(n);
  for (let c = 0; c < n; c++) {
    const x = p.at(c);
    if (!(Number.isInteger(x) && x >= 0 && x < p.size)) throw new Error(`at(${c}) = ${x} is out of range`);
    if (seen[x]) throw new Error(`at(${c}) = ${x} repeats an earlier index`);
    seen[x] = 1;
    out[c] = x;
  }
  return out;
}

const fixedPoints = (xs: Uint32Array) => xs.reduce((n, x, i) => n + (x === i ? 1 : 0), 0);

describe("IndexPermutation", () => {
  // Hashing is slow under the test runner (about 1 ms per at() on a loaded machine), so an
  // exhaustive check of all 131,072 would take minutes; a full bijection on a smaller list plus
  // a long run of draws from a full-size one stand in for it. The timeouts are for slow CI boxes.
  const SLOW = 120_000;
  it(
    "gives 10,000 distinct, in-range indexes from a full-size list, not the identity",
    () => {
      const draws = drawDistinct(new IndexPermutation(key(1), MIN_LIST_SIZE), 10_000);
      expect(fixedPoints(draws)).toBeLessThan(100);
      // Not a near-identity either: consecutive counters land far apart.
      const near = draws.slice(1).filter((x, i) => Math.abs(x - draws[i]!) < 16).length;
      expect(near).toBeLessThan(100);
    },
    SLOW,
  );

  it(
    "is a bijection on sizes that need cycle-walking, down to one",
    () => {
      for (const size of [1, 2, 3, 5, 17, 5000]) {
        const draws = drawDistinct(new IndexPermutation(key(size), size), size);
        expect(draws.length).toBe(size);
        if (size >= 1000) expect(fixedPoints(draws)).toBeLessThan(size / 100);
      }
    },
    SLOW,
  );

  it("matches a plain implementation of the documented construction", () => {
    for (const size of [MIN_LIST_SIZE, 5000, 262_144]) {
      const p = new IndexPermutation(key(7), size);
      for (let c = 0; c < 200; c++) expect(p.at(c), `size ${size}, counter ${c}`).toBe(reference(key(7), size, c));
    }
  });

  it("keeps the mapping it has always had (issued indexes depend on it)", () => {
    const p = new IndexPermutation(key(0), MIN_LIST_SIZE);
    expect(Array.from({ length: 8 }, (_, c) => p.at(c))).toEqual(PINNED);
  });

  it("is deterministic per key, and different keys give different sequences", () => {
    const seq = (k: Uint8Array) => {
      const p = new IndexPermutation(k, MIN_LIST_SIZE);
      return Array.from({ length: 300 }, (_, c) => p.at(c));
    };
    const a = seq(key(1));
    expect(seq(key(1))).toEqual(a);
    const b = seq(key(2));
    const flipped = key(1);
    flipped[31]! ^= 1;
    const c = seq(flipped);
    for (const other of [b, c]) {
      expect(other).not.toEqual(a);
      expect(other.filter((x, i) => x === a[i]).length).toBeLessThan(5);
    }
  });

  it("refuses counters outside [0, size), short keys and bad sizes", () => {
    const p = new IndexPermutation(key(1), 5000);
    expect(() => p.at(5000)).toThrow(RangeError);
    expect(() => p.at(-1)).toThrow(RangeError);
    expect(() => p.at(0.5)).toThrow(RangeError);
    expect(() => new IndexPermutation(new Uint8Array(15), 5000)).toThrow(RangeError);
    expect(() => new IndexPermutation(key(1), 0)).toThrow(RangeError);
    expect(() => new IndexPermutation(key(1), 2 ** 32 + 1)).toThrow(RangeError);
  });
});

/** Outputs of this implementation when first written, checked against `reference` above. */
const PINNED = [103273, 124589, 64845, 93927, 96342, 8740, 124286, 34059];
