/**
 * The index shards of one environment: shard 0 is `DB` (which also keeps every other table), shard i
 * is the binding `DB_SHARD_<i>`. `INDEX_SHARDS` (default 1) is the layout until a migration records
 * another in shard 0's `index_layout`; the layout is cached per isolate for `LAYOUT_TTL_MS`, which
 * is why a migration waits a grace period before each phase is relied on.
 */
import { readShardCount, shardsNeeded, steady, owns, writeShards, type Layout, type Phase } from "./layout";
import { compareKeys, mergePages, type SourcePage, type TimeKey } from "./merge";
import type { CredentialIndexRow } from "./credential-index";

export const LAYOUT_TTL_MS = 1_000;

/** `DB`, `INDEX_SHARDS` and any number of `DB_SHARD_<i>` bindings (not in the generated Env type). */
type ShardEnv = { DB: D1Database; INDEX_SHARDS?: string };

const binding = (env: ShardEnv, i: number): D1Database | undefined => Reflect.get(env, `DB_SHARD_${i}`) as D1Database | undefined;

let cached: { at: number; layout: Layout; key: string } | null = null;

/** Drops the cached layout (a migration step that changed it, or a test). */
export function forgetLayout(): void {
  cached = null;
}

function configuredShards(env: ShardEnv): number {
  const n = Number(env.INDEX_SHARDS ?? "1");
  if (!Number.isInteger(n) || n < 1) throw new Error(`INDEX_SHARDS must be a positive integer, got ${env.INDEX_SHARDS}`);
  return n;
}

export class IndexShards {
  constructor(private readonly env: ShardEnv) {}

  /** The D1 binding of shard i; a layout naming a shard without a binding is a configuration error. */
  db(i: number): D1Database {
    if (i === 0) return this.env.DB;
    const db = binding(this.env, i);
    if (!db) throw new Error(`the index layout needs shard ${i}, but no D1 binding DB_SHARD_${i} is configured`);
    return db;
  }

  /** Bindings present: shard 0 and every consecutive DB_SHARD_i. */
  bound(): number {
    let n = 1;
    while (binding(this.env, n)) n++;
    return n;
  }

  async layout(now = Date.now()): Promise<Layout> {
    const key = String(this.env.INDEX_SHARDS ?? "1");
    if (cached && cached.key === key && now - cached.at < LAYOUT_TTL_MS) return cached.layout;
    // With DB the only binding no migration can have run (it needs its shards bound): skip the read.
    if (key === "1" && !binding(this.env, 1)) return steady(1);
    const row = await this.env.DB.prepare("SELECT shards, next, phase, since FROM index_layout WHERE id = 1").first<{
      shards: number;
      next: number | null;
      phase: Phase;
      since: number;
    }>();
    const layout: Layout = row
      ? { shards: row.shards, next: row.next, phase: row.phase, since: row.since }
      : steady(configuredShards(this.env));
    // Fail loudly on a layout this deployment cannot serve (a shard binding missing).
    for (let i = 1; i < shardsNeeded(layout); i++) this.db(i);
    cached = { at: now, layout, key };
    return layout;
  }

  /** Where an issuer's index rows are written now (its answering shard first). */
  async writeTargets(issuer: string): Promise<D1Database[]> {
    return writeShards(await this.layout(), issuer).map((i) => this.db(i));
  }

  /** The same, with each shard's number (shard 0 is `DB`). */
  async writeShards(issuer: string): Promise<{ shard: number; db: D1Database }[]> {
    return writeShards(await this.layout(), issuer).map((shard) => ({ shard, db: this.db(shard) }));
  }

  /**
   * One page of the credential index across shards, oldest first, under a filter that is the same SQL
   * in every shard. Each shard is first asked for its share of the page plus three standard
   * deviations (`shareLimit`): issuer hashing spreads any time range evenly, so n shards read about
   * as many rows as one and a second round is rare. A second round costs a whole round trip, which
   * is most of a page's time, while the extra rows cost almost nothing. When a share still runs out
   * before the page is full, only the shard that ran out is asked for more (twice as many each time).
   * Reads go through D1 sessions: a bookmark per shard (from an earlier answer) makes the read see
   * at least that shard's state then, so a client reads its own writes off replicas.
   */
  async listCredentials(
    filter: { where: string; params: (string | number)[] },
    after: TimeKey | null,
    pageSize: number,
    bookmarks: Record<number, string> = {},
  ): Promise<{ rows: CredentialIndexRow[]; next: TimeKey | null; bookmarks: Record<number, string>; queries: number }> {
    const layout = await this.layout();
    const n = readShardCount(layout);
    const sessions = Array.from({ length: n }, (_, i) => this.db(i).withSession(bookmarks[i] ?? "first-unconstrained"));
    let queries = 0;
    const query = async (i: number, from: TimeKey | null, limit: number) => {
      queries++;
      const clauses = [filter.where, ...(from ? ["(created_at, id) > (?, ?)"] : [])].filter(Boolean);
      const sql = `SELECT * FROM credential_index ${clauses.length ? `WHERE ${clauses.join(" AND ")}` : ""} ORDER BY created_at, id LIMIT ?`;
      const rows = (
        await sessions[i]!.prepare(sql)
          .bind(...filter.params, ...(from ?? []), limit)
          .all<CredentialIndexRow>()
      ).results;
      return { rows, exhausted: rows.length < limit };
    };
    const keyOf = (r: CredentialIndexRow): TimeKey => [r.created_at, r.id];
    const keep = (r: CredentialIndexRow, i: number) => owns(layout, i, r.issuer);
    let limit = shareLimit(pageSize + 1, n);
    const pages: SourcePage<CredentialIndexRow>[] = await Promise.all(Array.from({ length: n }, (_, i) => query(i, after, limit)));
    let merged = mergePages(pages, keyOf, pageSize, keep);
    for (let round = 0; round < 8 && merged.rows.length < pageSize && merged.next !== null; round++) {
      // The page is short because some shard's share ran out at the frontier: ask those for more.
      const frontier = merged.next;
      limit *= 2;
      await Promise.all(
        pages.map(async (p, i) => {
          const last = p.rows[p.rows.length - 1];
          if (p.exhausted || !last || compareKeys(keyOf(last), frontier) !== 0) return;
          const more = await query(i, keyOf(last), limit);
          pages[i] = { rows: [...p.rows, ...more.rows], exhausted: more.exhausted };
        }),
      );
      merged = mergePages(pages, keyOf, pageSize, keep);
    }
    const out: Record<number, string> = { ...bookmarks };
    sessions.forEach((session, i) => {
      const bookmark = session.getBookmark();
      if (bookmark) out[i] = bookmark;
    });
    return { rows: merged.rows, next: merged.next, bookmarks: out, queries };
  }
}

/**
 * How many rows to ask each of n shards for, for a page of `wanted`: a shard's count among the page's
 * rows is binomial (wanted, 1/n), so its mean plus three standard deviations covers it but for about
 * one page in a thousand per shard; never more than the whole page.
 */
export function shareLimit(wanted: number, n: number): number {
  if (n === 1) return wanted;
  const mean = wanted / n;
  return Math.min(wanted, Math.ceil(mean + 3 * Math.sqrt(mean * (1 - 1 / n))) + 1);
}

/** Bookmarks travel as one opaque header value: base64url of `{ "<shard>": "<bookmark>" }`. */
export const BOOKMARK_HEADER = "index-bookmark";

export function encodeBookmarks(bookmarks: Record<number, string>): string {
  return btoa(JSON.stringify(bookmarks)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** A header that is not one of ours reads as no bookmark (the read is then unconstrained), never an error. */
export function decodeBookmarks(value: string | null | undefined): Record<number, string> {
  if (!value || value.length > 4096) return {};
  try {
    const parsed: unknown = JSON.parse(atob(value.replaceAll("-", "+").replaceAll("_", "/")));
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return {};
    const out: Record<number, string> = {};
    for (const [k, v] of Object.entries(parsed)) {
      const i = Number(k);
      if (Number.isInteger(i) && i >= 0 && i < 5000 && typeof v === "string" && v.length <= 256) out[i] = v;
    }
    return out;
  } catch {
    return {};
  }
}

/** The later of two bookmarks of one shard (D1 bookmarks sort lexicographically, oldest first). */
export function laterBookmark(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a > b ? a : b;
}
