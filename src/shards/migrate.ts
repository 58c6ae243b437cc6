/**
 * Moving the credential index from N to M shards while it serves reads and writes (docs/SCALE.md
 * "Moving from 1 to N shards"). Each call does a bounded step (a Worker invocation may run at most
 * 1,000 D1 queries) and records where it stopped in shard 0's `index_layout`, so a driver (the
 * operator route `PUT /v1/admin/index/migration/step`, src/shards/routes.ts) calls it until it answers `done`.
 *
 * steady(N) —begin→ copying: writers write old and new shard; after the grace, the rows whose issuer
 * moves are copied to the new shard (upserts guarded by rev: a copy never overwrites a newer write)
 * —→ switched: reads use the new layout, writers still write both —grace→ cleaning: writers write
 * the new shard only —grace→ the moved rows are deleted from the old shards —→ steady(M).
 */
import { shardOf } from "./hash";
import type { Layout, Phase } from "./layout";
import { forgetLayout, type IndexShards } from "./shards";
import { upsertStatements, type CredentialIndexRow } from "./credential-index";

/** Longer than any cached layout (1 s) plus the longest D1 statement (30 s) a writer may still have in flight. */
export const DEFAULT_GRACE_MS = 35_000;

export interface Cursor {
  shard: number;
  after: [number, string] | null;
}

export interface StepResult {
  layout: Layout;
  /** Rows read from a source shard, copied to their new shard, deleted from their old shard. */
  scanned: number;
  copied: number;
  deleted: number;
  /** The phase waits for its grace period; call again after this many ms. */
  waitMs: number;
  done: boolean;
}

type LayoutRow = { shards: number; next: number | null; phase: Phase; since: number; cursor: string | null };

async function readRow(shards: IndexShards): Promise<LayoutRow | null> {
  return shards.db(0).prepare("SELECT shards, next, phase, since, cursor FROM index_layout WHERE id = 1").first<LayoutRow>();
}

async function writeRow(shards: IndexShards, row: LayoutRow): Promise<void> {
  await shards
    .db(0)
    .prepare(
      `INSERT INTO index_layout (id, shards, next, phase, since, cursor) VALUES (1, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET shards = excluded.shards, next = excluded.next, phase = excluded.phase,
         since = excluded.since, cursor = excluded.cursor`,
    )
    .bind(row.shards, row.next, row.phase, row.since, row.cursor)
    .run();
  forgetLayout();
}

/** Starts a migration to `next` shards. Refused while another runs, or when a binding is missing. */
export async function beginMigration(shards: IndexShards, next: number, now = Date.now()): Promise<Layout> {
  forgetLayout();
  const layout = await shards.layout(now);
  if (layout.phase !== "steady")
    throw new MigrationRefused("index_migration_running", `a migration to ${layout.next} shards is running (${layout.phase})`);
  if (!Number.isInteger(next) || next <= layout.shards)
    throw new MigrationRefused("index_shards_unavailable", `the index has ${layout.shards} shards; it can only grow`);
  if (next > shards.bound())
    throw new MigrationRefused(
      "index_shards_unavailable",
      `${next} shards need the bindings DB_SHARD_1 … DB_SHARD_${next - 1}; ${shards.bound()} are bound`,
    );
  // A new shard must have the index's tables (every migration applied) before any writer is sent
  // there: its latest column (migrations/0014) says so, since the writers' upserts name it.
  for (let i = layout.shards; i < next; i++) {
    const table = await shards
      .db(i)
      .prepare("SELECT 1 AS ok FROM pragma_table_info('credential_index') WHERE name = 'is_operation'")
      .first<{ ok: number }>();
    if (!table)
      throw new MigrationRefused(
        "index_shards_unavailable",
        `shard ${i} (DB_SHARD_${i}) has no credential_index: apply the migrations to it first`,
      );
  }
  const cursor: Cursor = { shard: 0, after: null };
  await writeRow(shards, { shards: layout.shards, next, phase: "copying", since: now, cursor: JSON.stringify(cursor) });
  return { shards: layout.shards, next, phase: "copying", since: now };
}

export class MigrationRefused extends Error {
  constructor(
    readonly code: "index_migration_running" | "index_shards_unavailable",
    message: string,
  ) {
    super(message);
  }
}

/** Where a migration stands, without moving it: the layout, the migrator's cursor, and how long its phase still waits. */
export async function migrationStatus(
  shards: IndexShards,
  opts: { now?: number; graceMs?: number } = {},
): Promise<{ layout: Layout; cursor: Cursor | null; done: boolean; waitMs: number }> {
  const now = opts.now ?? Date.now();
  const row = await readRow(shards);
  if (!row || row.phase === "steady" || row.next === null) {
    forgetLayout();
    return { layout: await shards.layout(now), cursor: null, done: true, waitMs: 0 };
  }
  const cursor = JSON.parse(row.cursor ?? '{"shard":0,"after":null}') as Cursor;
  const waitMs = Math.max(0, (opts.graceMs ?? DEFAULT_GRACE_MS) - (now - row.since));
  return { layout: { shards: row.shards, next: row.next, phase: row.phase, since: row.since }, cursor, done: false, waitMs };
}

/**
 * One bounded step of the running migration: up to `limit` rows of one source shard copied or
 * cleaned, or a phase change. `done` once the layout is steady again.
 */
export async function migrateStep(shards: IndexShards, opts: { now?: number; graceMs?: number; limit?: number } = {}): Promise<StepResult> {
  const now = opts.now ?? Date.now();
  const grace = opts.graceMs ?? DEFAULT_GRACE_MS;
  const limit = opts.limit ?? 500;
  const row = await readRow(shards);
  const result = (layout: Layout, extra: Partial<StepResult> = {}): StepResult => ({
    layout,
    scanned: 0,
    copied: 0,
    deleted: 0,
    waitMs: 0,
    done: layout.phase === "steady",
    ...extra,
  });
  if (!row || row.phase === "steady" || row.next === null) {
    forgetLayout();
    return result(await shards.layout(now));
  }
  const layout: Layout = { shards: row.shards, next: row.next, phase: row.phase, since: row.since };
  const waited = now - row.since;
  if (waited < grace) return result(layout, { waitMs: grace - waited });
  const cursor = JSON.parse(row.cursor ?? '{"shard":0,"after":null}') as Cursor;
  const next = row.next;

  if (row.phase === "switched") {
    // Every reader now uses the new layout: writers may stop writing the old shards.
    await writeRow(shards, { ...row, phase: "cleaning", since: now, cursor: JSON.stringify({ shard: 0, after: null }) });
    return result({ ...layout, phase: "cleaning", since: now });
  }

  if (cursor.shard >= row.shards) {
    // Every source shard is done with this phase.
    if (row.phase === "copying") {
      await writeRow(shards, { ...row, phase: "switched", since: now, cursor: JSON.stringify({ shard: 0, after: null }) });
      return result({ ...layout, phase: "switched", since: now });
    }
    await writeRow(shards, { shards: next, next: null, phase: "steady", since: now, cursor: null });
    return result({ shards: next, next: null, phase: "steady", since: now });
  }

  // Rows only ever move from an old shard (< shards) to a new one (≥ shards): scan the old ones.
  const source = shards.db(cursor.shard);
  const page = (
    await source
      .prepare(`SELECT * FROM credential_index ${cursor.after ? "WHERE (created_at, id) > (?, ?)" : ""} ORDER BY created_at, id LIMIT ?`)
      .bind(...(cursor.after ?? []), limit)
      .all<CredentialIndexRow>()
  ).results;
  const moving = page.filter((r) => shardOf(r.issuer, next) !== cursor.shard);
  let copied = 0;
  let deleted = 0;
  if (row.phase === "copying") {
    const byTarget = new Map<number, CredentialIndexRow[]>();
    for (const r of moving) {
      const t = shardOf(r.issuer, next);
      byTarget.set(t, [...(byTarget.get(t) ?? []), r]);
    }
    await Promise.all([...byTarget].map(([t, rows]) => shards.db(t).batch(upsertStatements(shards.db(t), rows))));
    // An in-place update (a status change, a deletion) that reached the old shard after this page
    // was read found no row yet in the new shard: read the copied rows again and carry any newer
    // revision over. Updates after this point find the copy in the new shard themselves.
    const again =
      moving.length === 0
        ? []
        : (
            await source
              .prepare("SELECT * FROM credential_index WHERE id IN (SELECT value FROM json_each(?))")
              .bind(JSON.stringify(moving.map((r) => r.id)))
              .all<CredentialIndexRow>()
          ).results;
    const copiedRev = new Map(moving.map((r) => [r.id, r.rev]));
    const newer = again.filter((r) => r.rev > (copiedRev.get(r.id) ?? Infinity));
    const newerByTarget = new Map<number, CredentialIndexRow[]>();
    for (const r of newer) {
      const t = shardOf(r.issuer, next);
      newerByTarget.set(t, [...(newerByTarget.get(t) ?? []), r]);
    }
    await Promise.all([...newerByTarget].map(([t, rows]) => shards.db(t).batch(upsertStatements(shards.db(t), rows))));
    copied = moving.length;
  } else if (moving.length > 0) {
    const res = await source
      .prepare("DELETE FROM credential_index WHERE id IN (SELECT value FROM json_each(?))")
      .bind(JSON.stringify(moving.map((r) => r.id)))
      .run();
    deleted = res.meta.changes;
  }
  const last = page[page.length - 1];
  const nextCursor: Cursor =
    page.length < limit || !last ? { shard: cursor.shard + 1, after: null } : { shard: cursor.shard, after: [last.created_at, last.id] };
  // The phase's clock is not reset: only the cursor moves.
  await writeRow(shards, { ...row, cursor: JSON.stringify(nextCursor) });
  return result(layout, { scanned: page.length, copied, deleted });
}

/**
 * Steps a running migration until it is done, its phase must wait out its grace, or `budgetMs` has
 * gone (each step is bounded): what the cron trigger runs (src/index.ts `scheduled`), so a migration
 * moves on without anyone calling the step route. With none running it is one D1 read.
 */
export async function driveMigration(shards: IndexShards, budgetMs = 20_000): Promise<StepResult | null> {
  const until = Date.now() + budgetMs;
  let last: StepResult | null = null;
  while (Date.now() < until) {
    last = await migrateStep(shards);
    if (last.done || last.waitMs > 0) break;
  }
  return last;
}
