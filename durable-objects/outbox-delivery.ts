import type { D1Write } from "../src/core/kinds";
import { multiRow } from "./outbox-sql";

/** An outbox row as stored. */
export type StoredRow = { seq: number; key: string; sql: string; params: string; attempts: number; refusals: number };
/** A row to send: read from the table, or in hand with its parameters as put (no JSON.parse of what was just stringified). */
export type OutboxRow = StoredRow & { values?: D1Write["params"] };

/**
 * Rows under keys with this prefix go to the issuer's credential-index shard(s) (src/shards), not to
 * `DB`: the object only ever writes its own issuer's index rows, so the outbox knows which shard.
 */
export const INDEX_KEY_PREFIX = "index:";
const isIndexRow = (r: OutboxRow) => r.key.startsWith(INDEX_KEY_PREFIX);

/**
 * Where this issuer's index rows go now: its shard, or its old and new shard during a migration.
 * Shard 0 is the outbox's own `DB` binding.
 */
export type IndexTargets = () => Promise<{ shard: number; db: D1Database }[]>;

/** Rows and bytes one multi-row statement carries; D1 caps a bound value at 2 MB. */
const GROUP_ROWS = 250;
const GROUP_BYTES = 900_000;

/**
 * How the outbox's rows reach D1 (durable-objects/outbox.ts keeps which rows, when, and what
 * becomes of a failure): each database gets one batch, and rows of the same single-row upsert
 * travel as one statement. Sending is all this knows; nothing here reads or writes the outbox table.
 */
export class D1Delivery {
  constructor(
    /**
     * The `DB` binding (shard 0, and every row that is not an index row), read at each delivery:
     * fault-injection tests swap the outbox's binding on a live object (test/support/faults.ts).
     */
    private readonly binding: () => D1Database,
    private readonly indexTargets: IndexTargets,
  ) {}

  private get db(): D1Database {
    return this.binding();
  }

  /**
   * One batch per database: `DB`'s rows, and the index rows to each shard the layout names. With
   * one shard (the default) the index shard is `DB` itself and everything is one batch, one round
   * trip. Across databases there is no transaction, which is fine: every row is an idempotent,
   * revision-guarded upsert, and a failure leaves them all in the outbox to be sent again.
   */
  async deliver(rows: OutboxRow[]): Promise<void> {
    const index = rows.filter(isIndexRow);
    const targets = index.length > 0 ? await this.indexTargets() : [];
    const plain = targets.some((t) => t.shard === 0) ? rows : rows.filter((r) => !isIndexRow(r));
    const others = targets.filter((t) => t.shard !== 0).map((t) => t.db);
    await Promise.all([
      plain.length > 0 ? this.db.batch(this.grouped(plain, this.db)) : null,
      ...others.map((t) => t.batch(this.grouped(index, t))),
    ]);
  }

  private statement(r: OutboxRow, db = this.db): D1PreparedStatement {
    return db.prepare(r.sql).bind(...(r.values ?? (JSON.parse(r.params) as D1Write["params"])));
  }

  /** Whether D1 answers at all: a statement it fails while answering this was refused, not lost to an outage. */
  async answering(): Promise<boolean> {
    try {
      await this.db.prepare("SELECT 1").first();
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Rows of the same single-row upsert travel as one multi-row statement, placed where the first
   * of them stood. Moving an upsert earlier is safe: each entity has one outbox row (newer
   * snapshots replace older ones), every upsert is guarded so replays and reorderings are no-ops,
   * and the only cross-row dependency (an UPDATE needs its row) only gains from inserts coming first.
   */
  private grouped(rows: OutboxRow[], db: D1Database): D1PreparedStatement[] {
    const slots: (OutboxRow | { sql: string; rows: OutboxRow[]; bytes: number })[] = [];
    const open = new Map<string, { sql: string; rows: OutboxRow[]; bytes: number }>();
    for (const row of rows) {
      const sql = multiRow(row.sql);
      if (!sql) {
        slots.push(row);
        continue;
      }
      let group = open.get(row.sql);
      if (!group || group.rows.length >= GROUP_ROWS || group.bytes + row.params.length > GROUP_BYTES) {
        group = { sql, rows: [], bytes: 0 };
        open.set(row.sql, group);
        slots.push(group);
      }
      group.rows.push(row);
      group.bytes += row.params.length;
    }
    return slots.map((slot) => {
      if ("seq" in slot) return this.statement(slot, db);
      if (slot.rows.length === 1) return this.statement(slot.rows[0]!, db);
      // The stored params are JSON arrays already: joining them is the whole encoding.
      return db.prepare(slot.sql).bind(`[${slot.rows.map((r) => r.params).join(",")}]`);
    });
  }
}
