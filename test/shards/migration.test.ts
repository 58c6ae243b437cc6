/**
 * The credential index over real local D1 shards (DB, DB_SHARD_1..3 in vitest.config.ts): writes
 * routed by issuer, cross-shard lists, session bookmarks, and a 1 → 2 migration with writes and
 * reads running between its steps; every row stays listed exactly once, at its newest revision.
 */
import { applyD1Migrations, env } from "cloudflare:test";
import { beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CredentialState, revOf, upsertStatements, type CredentialIndexRow } from "../../src/shards/credential-index";
import { shardOf } from "../../src/shards/hash";
import { beginMigration, migrateStep, MigrationRefused } from "../../src/shards/migrate";
import { decodeBookmarks, encodeBookmarks, forgetLayout, IndexShards } from "../../src/shards/shards";
import type { TimeKey } from "../../src/shards/merge";

const shardEnv = (n: number) => ({ ...(env as unknown as Record<string, unknown>), DB: env.DB, INDEX_SHARDS: String(n) });
const bindings = () => [1, 2, 3].map((i) => (env as unknown as Record<string, D1Database>)[`DB_SHARD_${i}`]!);

beforeAll(async () => {
  for (const db of bindings()) await applyD1Migrations(db, env.TEST_MIGRATIONS);
});

beforeEach(async () => {
  forgetLayout();
  for (const db of [env.DB, ...bindings()]) {
    await db.batch([db.prepare("DELETE FROM credential_index"), db.prepare("DELETE FROM index_layout")]);
  }
});

let clock = 1_700_000_000_000;
const row = (issuer: string, i: number, state: CredentialState = CredentialState.signed, statusVersion = 0): CredentialIndexRow => ({
  id: `${issuer.slice(-6)}-${String(i).padStart(5, "0")}`,
  issuer,
  subject: `did:example:holder${i % 7}`,
  schema_id: i % 3 === 0 ? "https://example.com/schema" : null,
  state,
  code: null,
  revoked: statusVersion % 2,
  suspended: 0,
  rev: revOf(state, statusVersion, false),
  created_at: clock++,
  updated_at: clock,
  deleted_at: null,
  is_operation: 1,
});

/** What a writer (the issuer object's outbox) does: the row to every shard the layout names now. */
async function write(shards: IndexShards, rows: CredentialIndexRow[]) {
  const byIssuer = new Map<string, CredentialIndexRow[]>();
  for (const r of rows) byIssuer.set(r.issuer, [...(byIssuer.get(r.issuer) ?? []), r]);
  for (const [issuer, group] of byIssuer) {
    for (const db of await shards.writeTargets(issuer)) await db.batch(upsertStatements(db, group));
  }
}

/** Every row a client can list, paging with tokens as the route does. */
async function listAll(shards: IndexShards, pageSize: number, where = { where: "", params: [] as (string | number)[] }, fullPages = false) {
  const out: CredentialIndexRow[] = [];
  let after: TimeKey | null = null;
  for (;;) {
    const page = await shards.listCredentials(where, after, pageSize);
    // Outside a migration every page but the last is full, however the rows lie across shards.
    if (fullPages && page.next) expect(page.rows.length).toBe(pageSize);
    out.push(...page.rows);
    if (!page.next) return out;
    after = page.next;
  }
}

const issuers = Array.from({ length: 24 }, (_, i) => `did:key:z6MkTestIssuer${String(i).padStart(4, "0")}`);

describe("sharded credential index", () => {
  it("routes each issuer's rows to one shard and lists across shards in order, by filter", async () => {
    const shards = new IndexShards(shardEnv(4));
    const rows = issuers.flatMap((d) => Array.from({ length: 10 }, (_, i) => row(d, i)));
    await write(shards, rows);
    for (let s = 0; s < 4; s++) {
      const db = shards.db(s);
      const held = (await db.prepare("SELECT issuer FROM credential_index").all<{ issuer: string }>()).results;
      for (const h of held) expect(shardOf(h.issuer, 4)).toBe(s);
    }
    // Issuer after issuer in time: each page's rows come from one shard, past its share of the page.
    expect((await listAll(shards, 13, undefined, true)).map((r) => r.id)).toEqual(rows.map((r) => r.id));
    expect((await listAll(shards, 100, undefined, true)).map((r) => r.id)).toEqual(rows.map((r) => r.id));
    const bySubject = await listAll(shards, 5, { where: "subject = ?", params: ["did:example:holder3"] }, true);
    expect(bySubject.map((r) => r.id)).toEqual(rows.filter((r) => r.subject === "did:example:holder3").map((r) => r.id));
  });

  it("asks each shard once for a page when the page's rows spread across them, and asks again only where a share ran out", async () => {
    const shards = new IndexShards(shardEnv(4));
    // Issuers interleaved in time, as their traffic is: every shard's share covers the page.
    const spread = Array.from({ length: 240 }, (_, i) => row(issuers[i % issuers.length]!, 1000 + i));
    await write(shards, spread);
    const page = await shards.listCredentials({ where: "", params: [] }, null, 100);
    expect(page.rows.map((r) => r.id)).toEqual(spread.slice(0, 100).map((r) => r.id));
    expect(page.queries).toBe(4);
    // One issuer's burst: all of the next page lies in one shard, past its share; only that shard is asked again.
    const burst = Array.from({ length: 150 }, (_, i) => row(issuers[0]!, 5000 + i));
    await write(shards, burst);
    const after = spread[spread.length - 1]!;
    const burstPage = await shards.listCredentials({ where: "", params: [] }, [after.created_at, after.id], 100);
    expect(burstPage.rows.map((r) => r.id)).toEqual(burst.slice(0, 100).map((r) => r.id));
    expect(burstPage.queries).toBeGreaterThan(4);
    expect(burstPage.queries).toBeLessThanOrEqual(4 + 2); // 40 → 80 → 160 rows from the one shard
  });

  it("keeps the newest snapshot whatever order the writes land in", async () => {
    const shards = new IndexShards(shardEnv(2));
    const signed = row(issuers[0]!, 1, CredentialState.signed, 3);
    const pending = { ...signed, state: CredentialState.pending, rev: revOf(CredentialState.pending, 0, false), revoked: 0 };
    await write(shards, [signed]);
    await write(shards, [pending]);
    const [got] = await listAll(shards, 10);
    expect(got).toMatchObject({ state: CredentialState.signed, rev: signed.rev, revoked: 1 });
  });

  it("hands back a bookmark per shard read, and takes them back as one header value", async () => {
    const shards = new IndexShards(shardEnv(4));
    await write(
      shards,
      issuers.map((d) => row(d, 0)),
    );
    const page = await shards.listCredentials({ where: "", params: [] }, null, 5);
    expect(Object.keys(page.bookmarks).sort()).toEqual(["0", "1", "2", "3"]);
    expect(decodeBookmarks(encodeBookmarks(page.bookmarks))).toEqual(page.bookmarks);
    expect(decodeBookmarks("not-a-bookmark")).toEqual({});
    const again = await shards.listCredentials({ where: "", params: [] }, null, 5, page.bookmarks);
    expect(again.rows.map((r) => r.id)).toEqual(page.rows.map((r) => r.id));
  });

  it("moves from 1 to 2 shards with writes and reads running: every row listed once, at its newest revision", async () => {
    const shards = new IndexShards(shardEnv(1));
    const expected = new Map<string, CredentialIndexRow>();
    const put = async (rows: CredentialIndexRow[]) => {
      await write(shards, rows);
      for (const r of rows) if ((expected.get(r.id)?.rev ?? -1) < r.rev) expected.set(r.id, r);
    };
    let n = 0;
    await put(issuers.flatMap((d) => Array.from({ length: 20 }, () => row(d, n++, CredentialState.pending))));
    const check = async () => {
      const listed = await listAll(shards, 37);
      expect(listed.length).toBe(expected.size);
      expect(new Set(listed.map((r) => r.id)).size).toBe(listed.length);
      for (const r of listed) expect(r.rev, r.id).toBe(expected.get(r.id)!.rev);
    };
    await check();

    await expect(beginMigration(shards, 1)).rejects.toBeInstanceOf(MigrationRefused);
    await expect(beginMigration(shards, 9)).rejects.toBeInstanceOf(MigrationRefused);
    await beginMigration(shards, 2);
    await expect(beginMigration(shards, 3)).rejects.toBeInstanceOf(MigrationRefused);
    const phases = new Set<string>();
    let copied = 0;
    let deleted = 0;
    let steps = 0;
    for (;;) {
      // Between steps: new credentials, and older ones signed and revoked (a newer rev each).
      const older = [...expected.values()].slice(steps * 7, steps * 7 + 7);
      await put([
        ...issuers.slice(0, 3).map((d) => row(d, n++, CredentialState.pending)),
        ...older.map((r) => ({
          ...r,
          state: CredentialState.signed,
          revoked: 1,
          rev: revOf(CredentialState.signed, 1, false),
          updated_at: clock++,
        })),
      ]);
      await check();
      const step = await migrateStep(shards, { graceMs: 0, limit: 50 });
      phases.add(step.layout.phase);
      copied += step.copied;
      deleted += step.deleted;
      steps++;
      if (step.done) break;
      expect(steps).toBeLessThan(100);
    }
    await check();
    expect([...phases]).toEqual(expect.arrayContaining(["copying", "switched", "cleaning", "steady"]));
    expect(await shards.layout()).toMatchObject({ shards: 2, next: null, phase: "steady" });
    // Each shard holds exactly its issuers' rows; what moved is what the hash says moves.
    const movedNow = [...expected.values()].filter((r) => shardOf(r.issuer, 2) === 1).length;
    for (const s of [0, 1]) {
      const held = (await shards.db(s).prepare("SELECT issuer FROM credential_index").all<{ issuer: string }>()).results;
      for (const h of held) expect(shardOf(h.issuer, 2)).toBe(s);
      expect(held.length).toBe([...expected.values()].filter((r) => shardOf(r.issuer, 2) === s).length);
    }
    expect(deleted).toBeGreaterThan(0);
    expect(copied).toBeGreaterThan(0);
    expect(movedNow).toBeGreaterThan(0);
    console.log(JSON.stringify({ migration: { rows: expected.size, copied, deleted, movedNow, steps } }));
  });

  it("waits out the grace period before relying on a phase", async () => {
    const shards = new IndexShards(shardEnv(1));
    await beginMigration(shards, 2, 1_000);
    const early = await migrateStep(shards, { now: 1_500, graceMs: 2_000 });
    expect(early).toMatchObject({ scanned: 0, waitMs: 1_500, done: false });
  });
});
