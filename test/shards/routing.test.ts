/** Shard routing and cross-shard keyset pages, as pure functions (src/shards). */
import { describe, expect, it } from "vitest";
import { fnv1a64, jump, shardOf } from "../../src/shards/hash";
import { owns, readShard, readShardCount, steady, writeShards, type Layout } from "../../src/shards/layout";
import { compareKeys, mergePages, type TimeKey } from "../../src/shards/merge";

const issuers = Array.from({ length: 2000 }, (_, i) => `did:key:z6Mk${i.toString(36).padStart(8, "0")}`);

describe("shard routing", () => {
  it("FNV-1a 64 matches the published test vectors", () => {
    expect(fnv1a64("")).toBe(0xcbf29ce484222325n);
    expect(fnv1a64("a")).toBe(0xaf63dc4c8601ec8cn);
    expect(fnv1a64("foobar")).toBe(0x85944171f73967e8n);
  });

  it("spreads issuers evenly, and growing N → M moves only (M − N)/M of them, each to a new shard", () => {
    const counts = new Array(4).fill(0);
    for (const d of issuers) counts[shardOf(d, 4)]++;
    for (const c of counts) expect(Math.abs(c - 500)).toBeLessThan(100);
    for (const [from, to] of [
      [1, 2],
      [2, 4],
      [4, 5],
      [4, 8],
    ] as const) {
      let moved = 0;
      for (const d of issuers) {
        const a = shardOf(d, from);
        const b = shardOf(d, to);
        if (a !== b) {
          moved++;
          expect(b).toBeGreaterThanOrEqual(from);
        }
      }
      expect(Math.abs(moved / issuers.length - (to - from) / to)).toBeLessThan(0.05);
    }
    expect(() => jump(1n, 0)).toThrow(RangeError);
  });

  it("writes both shards while copying and switched, reads the new one from the switch, and only the new one once cleaning", () => {
    const mover = issuers.find((d) => shardOf(d, 2) === 1)!;
    const stayer = issuers.find((d) => shardOf(d, 2) === 0)!;
    const at = (phase: Layout["phase"]): Layout => ({ shards: 1, next: 2, phase, since: 0 });
    expect(writeShards(steady(1), mover)).toEqual([0]);
    expect(writeShards(at("copying"), mover)).toEqual([0, 1]);
    expect(readShard(at("copying"), mover)).toBe(0);
    expect(readShardCount(at("copying"))).toBe(1);
    expect(writeShards(at("switched"), mover)).toEqual([1, 0]);
    expect(readShard(at("switched"), mover)).toBe(1);
    expect(readShardCount(at("switched"))).toBe(2);
    expect(owns(at("switched"), 0, mover)).toBe(false);
    expect(writeShards(at("cleaning"), mover)).toEqual([1]);
    expect(writeShards(at("copying"), stayer)).toEqual([0]);
    expect(owns(at("cleaning"), 0, stayer)).toBe(true);
  });
});

describe("cross-shard keyset pages", () => {
  type Row = { at: number; id: string; shard: number };
  const key = (r: Row): TimeKey => [r.at, r.id];

  /** Rows spread over shards at random times (ties included), paged through `mergePages` as the store does. */
  function pageAll(shards: Row[][], pageSize: number, keep: (r: Row, i: number) => boolean = () => true): Row[] {
    const sorted = shards.map((s) => [...s].sort((a, b) => compareKeys(key(a), key(b))));
    const out: Row[] = [];
    let after: TimeKey | null = null;
    for (let guard = 0; guard < 10_000; guard++) {
      const pages = sorted.map((s) => {
        const rows = s.filter((r) => after === null || compareKeys(key(r), after) > 0).slice(0, pageSize + 1);
        return { rows, exhausted: rows.length < pageSize + 1 };
      });
      const page = mergePages(pages, key, pageSize, keep);
      expect(page.rows.length).toBeLessThanOrEqual(pageSize);
      out.push(...page.rows);
      if (page.next === null) return out;
      after = page.next;
    }
    throw new Error("did not end");
  }

  it("pages through every row once, in global order, for any page size and shard count", () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (const n of [1, 2, 4, 7]) {
      const rows: Row[] = Array.from({ length: 300 }, (_, i) => ({
        at: Math.floor(rand() * 50),
        id: `c${i.toString().padStart(4, "0")}`,
        shard: Math.floor(rand() * n),
      }));
      const shards = Array.from({ length: n }, (_, s) => rows.filter((r) => r.shard === s));
      const expected = [...rows].sort((a, b) => compareKeys(key(a), key(b))).map((r) => r.id);
      for (const size of [1, 3, 10, 100, 1000]) expect(pageAll(shards, size).map((r) => r.id)).toEqual(expected);
    }
  });

  it("skips copies a source does not own, and still reaches every owned row", () => {
    const rows: Row[] = Array.from({ length: 200 }, (_, i) => ({ at: i, id: `c${i}`, shard: i % 2 }));
    // Shard 0 still holds a copy of every row that moved to shard 1.
    const shards = [rows.map((r) => ({ ...r, shard: 0 })), rows.filter((r) => r.shard === 1)];
    const owned = (r: Row, i: number) => (i === 0 ? r.id.endsWith("0") || Number(r.id.slice(1)) % 2 === 0 : true);
    const seen = pageAll(shards, 7, owned).map((r) => r.id);
    expect(seen).toEqual(rows.map((r) => r.id));
  });
});
