import type { D1Write } from "../src/core/kinds";
import { D1Delivery, type IndexTargets, type OutboxRow, type StoredRow } from "./outbox-delivery";

// Statements per D1 batch: fewer round trips, while one batch stays a modest transaction.
const BATCH = 500;
const MAX_BACKOFF_MS = 5 * 60_000;
/** Consecutive single-row failures after a failed batch that mean D1 itself is down. */
const OUTAGE_AFTER = 3;
/**
 * Times D1 may refuse a row while answering other statements before the row is given up on and
 * moved to the dead letters (`outbox_dead`). An outage (D1 not answering at all) counts no refusals.
 */
export const OUTBOX_MAX_REFUSALS = 10;
const REPORT_BATCH = 20;
const MAX_REPORT_ATTEMPTS = 10;

/** A put held by `within` until its transaction's one outbox statement. */
type Held = { key: string; sql: string; params: string; due: number; values: D1Write["params"] };

/**
 * The outbox: D1 writes recorded in the same SQLite transaction as the state change they follow,
 * then delivered oldest first (D1Delivery.grouped, durable-objects/outbox-delivery.ts, says why
 * batching upserts may move them earlier). A crash between the two stores leaves the rows here,
 * and the alarm (armed to the earliest `due_at`) delivers them later.
 *
 * The delivery right after a change sends the rows the change just wrote from memory ("in hand"),
 * not read back from the table: reading back and parsing every D1 write a transaction had just
 * stored was two thirds of the object's SQLite time in a custodial batch (bench/README.md "Where
 * the time goes"). The table stays the durable copy: rows are in hand only once their transaction
 * committed (`committed`), a delivered row is deleted by its seq, and anything the table may hold
 * that is not in hand (after a wake, a put outside `within`, a failed delivery, the alarm's round)
 * is read from the table as before.
 */
export class Outbox {
  private current: Promise<void> | null = null;
  private next: Promise<void> | null = null;
  /**
   * Whether a round must look for dead letters to report. Dead letters are rare: a round after
   * every change looking for none was a statement per single create. True after a wake (some may
   * be left unreported), when a row dies, while reports fail or fill a batch, and when the alarm
   * (armed for a report's retry, `DUE`) asks (`reportsDue`).
   */
  private reportsDue = true;
  /** Committed rows not yet delivered, by key (the newest row of each key), in seq order. */
  private readonly inHand = new Map<string, OutboxRow>();
  /** Rows `within` wrote in the transaction that has not yet said it committed (`committed`). */
  private written: OutboxRow[] = [];
  /**
   * Whether the table may hold due rows that are not in hand: true after a wake, after a put
   * outside `within`, when a delivery from memory stopped on a failure, and for the alarm's round
   * (`alarmDue`), which is what retries rows backed off after a failure.
   */
  private stored = true;
  /**
   * Moved whenever a delivery round writes a due time of its own (a row backed off, a dead letter
   * or its report's retry): only then must the round re-arm the alarm (Upkeep.deliver). A round
   * that only delivered rows deleted due times.
   */
  retries = 0;

  /** How rows reach D1: one batch per database, upserts of one shape as one statement (outbox-delivery.ts). */
  private readonly d1: D1Delivery;

  constructor(
    private readonly sql: SqlStorage,
    private readonly db: D1Database,
    /** Whose outbox this is, for the dead-letter report. */
    private readonly issuer: () => string = () => "",
    /** The index shards of this issuer; without it, index rows go to `DB` (one shard). */
    indexTargets: IndexTargets = async () => [{ shard: 0, db }],
  ) {
    this.d1 = new D1Delivery(() => this.db, indexTargets);
  }

  /** Whether a `within` is open (its puts are held for its caller's transaction). */
  get holding(): boolean {
    return this.buffer !== null;
  }

  /** The earliest `due_at` the last `within` wrote (null: no row), for the re-arm after its transaction (Engine.create). */
  earliestWritten: number | null = null;

  /** Puts of the open transaction (see `within`), by entity key; null when none is open. */
  private buffer: Map<string, Held> | null = null;

  /**
   * Runs `fn` (inside the caller's transaction) with every put held in memory, then writes them all
   * as one statement: a transaction that projects a hundred credentials costs one outbox insert,
   * not a hundred. A later put of the same key replaces the held one, as the table would; the rows
   * keep the order of their first put, so an entity's row stays before the writes that amend it.
   */
  within<T>(fn: () => T): T {
    if (this.buffer) return fn();
    this.forgetUncommitted();
    const buffer = (this.buffer = new Map<string, Held>());
    try {
      const result = fn();
      let due: number | null = null;
      for (const h of buffer.values()) if (due === null || h.due < due) due = h.due;
      this.earliestWritten = due;
      this.written = this.write([...buffer.values()]);
      return result;
    } finally {
      this.buffer = null;
    }
  }

  /**
   * Called right after the transaction around `within` committed (Engine.tx): its rows are in hand
   * for the next delivery round. Rows of a transaction that never says so (it threw, so nothing was
   * committed, or its caller does not call this) are left to the table. Engine.tx is never run
   * inside a storage transaction of its own caller's (an engine hook that ends jobs runs inside
   * the engine's tx, where the nested `within` leaves its rows to the outer one): a rollback after
   * this call would otherwise put rows in hand that the table does not have.
   */
  committed(): void {
    for (const row of this.written) {
      // A newer put of a key replaced its older row in the table (INSERT OR REPLACE: a new seq, last).
      this.inHand.delete(row.key);
      this.inHand.set(row.key, row);
    }
    this.written = [];
  }

  private forgetUncommitted(): void {
    if (this.written.length === 0) return;
    this.written = [];
    this.stored = true;
  }

  /** Writes the held puts as one statement; returns them with the seqs the table gave them. */
  private write(rows: Held[]): OutboxRow[] {
    if (rows.length === 0) return [];
    const seqs = new Map<string, number>();
    if (rows.length === 1) {
      const { key, sql, params, due } = rows[0]!;
      const q = "INSERT OR REPLACE INTO outbox (key, sql, params, attempts, due_at) VALUES (?, ?, ?, 0, ?) RETURNING seq";
      seqs.set(key, this.sql.exec<{ seq: number }>(q, key, sql, params, due).one().seq);
    } else {
      const returned = this.sql.exec<{ seq: number; key: string }>(
        `INSERT OR REPLACE INTO outbox (key, sql, params, attempts, due_at)
         SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), 0, json_extract(value, '$[3]')
         FROM json_each(?) ORDER BY json_each.key RETURNING seq, key`,
        JSON.stringify(rows.map((r) => [r.key, r.sql, r.params, r.due])),
      );
      for (const r of returned) seqs.set(r.key, r.seq);
    }
    return rows
      .map((r) => ({ seq: seqs.get(r.key)!, key: r.key, sql: r.sql, params: r.params, attempts: 0, refusals: 0, values: r.values }))
      .sort((a, b) => a.seq - b.seq);
  }

  /** Records a write under an entity key; an undelivered older write for the same key is replaced. Call inside a transaction. */
  put(key: string, write: D1Write, now: number): void {
    if (this.buffer) {
      this.buffer.set(key, { key, sql: write.sql, params: JSON.stringify(write.params), due: now, values: write.params });
      return;
    }
    // Outside `within` no one says when the transaction commits: the round reads this row from the table.
    this.stored = true;
    this.sql.exec(
      "INSERT OR REPLACE INTO outbox (key, sql, params, attempts, due_at) VALUES (?, ?, ?, 0, ?)",
      key,
      write.sql,
      JSON.stringify(write.params),
      now,
    );
  }

  /** When a delivery retry or a dead letter's report is next due (a part of the object's one due-time query, due.ts). */
  static readonly DUE = ["SELECT min(due_at) AS t FROM outbox", "SELECT min(report_due_at) AS t FROM outbox_dead WHERE reported = 0"];

  /**
   * Delivers everything due. One round runs at a time. A call during a round waits for the next
   * round, which starts when the current one ends and so includes the caller's rows; callers
   * arriving meanwhile share that next round. Nobody waits longer than two rounds, however busy
   * the object stays (a steady stream of signatures does not hold back an earlier request).
   */
  drain(): Promise<void> {
    if (!this.current) {
      this.current = this.round().finally(() => {
        this.current = null;
      });
      return this.current;
    }
    // Whatever became of the current round (its failure is its callers'), the next one runs.
    this.next ??= this.current
      .catch(() => undefined)
      .then(() => {
        this.next = null;
        return this.drain();
      });
    return this.next;
  }

  private async round(): Promise<void> {
    // The table first, when it may hold rows not in hand: they are older than the rows in hand.
    while (this.stored) {
      this.stored = false;
      while (await this.deliverBatch()) {
        // keep going while full batches land
      }
    }
    while (await this.deliverInHand()) {
      // keep going while rows are in hand and deliveries land
    }
    if (this.reportsDue) await this.reportDeadLetters();
  }

  /**
   * The alarm's round reads the table (rows backed off after a failure come due only there) and
   * reports dead letters whose report retry came due.
   */
  alarmDue(): void {
    this.reportsDue = true;
    this.stored = true;
  }

  /**
   * Returns true when a full batch landed and more may be waiting. Rows that failed before wait
   * for their backoff; fresh rows go at once (the inline delivery after a change).
   */
  private async deliverBatch(): Promise<boolean> {
    const rows = this.sql
      .exec<StoredRow>(
        "SELECT seq, key, sql, params, attempts, refusals FROM outbox WHERE attempts = 0 OR due_at <= ? ORDER BY seq LIMIT ?",
        Date.now(),
        BATCH,
      )
      .toArray();
    if (rows.length === 0) return false;
    // Read here, so not to be sent again from memory.
    for (const r of rows) if (this.inHand.get(r.key)?.seq === r.seq) this.inHand.delete(r.key);
    const sent = await this.send(rows);
    // After a failure, go on only if D1 took some of a full batch (it answers: a row was refused).
    return (!sent.failed || sent.landed > 0) && rows.length === BATCH;
  }

  /**
   * Sends up to a batch of the rows in hand, as if read from the table. Returns true when a full
   * batch landed and more are in hand (rows committed meanwhile otherwise wait for the next round,
   * which their change asked for). On a failure the rest are left to the table: the next round
   * reads them there.
   */
  private async deliverInHand(): Promise<boolean> {
    if (this.inHand.size === 0) return false;
    const rows: OutboxRow[] = [];
    for (const [key, row] of this.inHand) {
      if (rows.length === BATCH) break;
      rows.push(row);
      this.inHand.delete(key);
    }
    if (!(await this.send(rows)).failed) return rows.length === BATCH && this.inHand.size > 0;
    this.inHand.clear();
    this.stored = true;
    return false;
  }

  /**
   * Delivers `rows` and deletes what landed: how many did, and whether any failed (backed off by
   * retryLater, or moved to the dead letters).
   */
  private async send(rows: OutboxRow[]): Promise<{ landed: number; failed: boolean }> {
    try {
      await this.d1.deliver(rows);
    } catch (err) {
      if (rows.length === 1) {
        this.retryLater(rows, err, await this.d1.answering());
        return { landed: 0, failed: true };
      }
      // A batch is one transaction, so one statement D1 refuses (a row over its limits, say) fails
      // them all. Rows are independent and idempotent: deliver them one by one, so a bad row holds
      // back only itself. A run of failures with nothing landing is an outage: stop there.
      let delivered = 0;
      let failed = false;
      let failedInARow = 0;
      for (const [i, r] of rows.entries()) {
        try {
          await this.d1.deliver([r]);
        } catch (rowErr) {
          // Refused by a D1 that answers (something landed this round, or it answers a probe).
          const refused = delivered > 0 || (await this.d1.answering());
          failed = true;
          this.retryLater([r], rowErr, refused);
          if (!refused || ++failedInARow >= OUTAGE_AFTER) {
            this.retryLater(rows.slice(i + 1), rowErr, false);
            break;
          }
          continue;
        }
        failedInARow = 0;
        this.sql.exec("DELETE FROM outbox WHERE seq = ?", r.seq);
        delivered++;
      }
      return { landed: delivered, failed };
    }
    // Delete exactly what was sent: a newer snapshot written meanwhile has a new seq and stays.
    this.sql.exec("DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?))", JSON.stringify(rows.map((r) => r.seq)));
    return { landed: rows.length, failed: false };
  }

  /**
   * Backs rows off exponentially; the alarm, armed to the earliest due_at, retries them. A row D1
   * refused `OUTBOX_MAX_REFUSALS` times while answering moves to the dead letters instead: it
   * would never land, and retrying it forever only costs.
   */
  private retryLater(rows: OutboxRow[], err: unknown, refused: boolean): void {
    if (rows.length === 0) return;
    this.retries++;
    const now = Date.now();
    const error = String(err).slice(0, 500);
    let dead = 0;
    for (const r of rows) {
      if (refused && r.refusals + 1 >= OUTBOX_MAX_REFUSALS) {
        // Only the row as it was sent: a newer snapshot of the entity has a new seq and is retried.
        this.sql.exec(
          `INSERT INTO outbox_dead (key, sql, params, attempts, last_error, dead_at, report_due_at)
           SELECT key, sql, params, attempts + 1, ?, ?, ? FROM outbox WHERE seq = ?`,
          error,
          now,
          now,
          r.seq,
        );
        this.sql.exec("DELETE FROM outbox WHERE seq = ?", r.seq);
        dead++;
        continue;
      }
      const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(r.attempts, 12));
      // Only rows not replaced meanwhile; a replaced row is a fresh snapshot, due at once.
      this.sql.exec(
        "UPDATE outbox SET attempts = attempts + 1, refusals = refusals + ?, due_at = ? WHERE seq = ?",
        refused ? 1 : 0,
        now + backoff,
        r.seq,
      );
    }
    console.warn(JSON.stringify({ level: "warn", event: "outbox.deliver_failed", rows: rows.length, refused, error }));
    if (dead > 0) {
      this.reportsDue = true;
      console.error(JSON.stringify({ level: "error", event: "outbox.dead_letter", issuer: this.issuer(), rows: dead, error }));
    }
  }

  /**
   * Tells D1 about new dead letters (one small row each, no statement or error text), so
   * /readiness can count them without visiting every object. Best-effort: retried with backoff
   * a bounded number of times; the dead letter itself stays in this object either way.
   */
  private async reportDeadLetters(): Promise<void> {
    this.reportsDue = false;
    const now = Date.now();
    const due = this.sql
      .exec<{ seq: number; key: string; dead_at: number; attempts: number; report_attempts: number }>(
        "SELECT seq, key, dead_at, attempts, report_attempts FROM outbox_dead WHERE reported = 0 AND report_due_at <= ? ORDER BY report_due_at LIMIT ?",
        now,
        REPORT_BATCH,
      )
      .toArray();
    if (due.length === 0) return;
    // A full batch may leave more; a failure below is retried by the alarm (armed for report_due_at).
    if (due.length === REPORT_BATCH) this.reportsDue = true;
    try {
      const insert = this.db.prepare("INSERT OR IGNORE INTO dead_letters (issuer, key, dead_at, attempts) VALUES (?, ?, ?, ?)");
      await this.db.batch(due.map((d) => insert.bind(this.issuer(), d.key, d.dead_at, d.attempts)));
      for (const d of due) this.sql.exec("UPDATE outbox_dead SET reported = 1 WHERE seq = ?", d.seq);
    } catch (err) {
      this.retries++;
      for (const d of due) {
        const tries = d.report_attempts + 1;
        this.sql.exec(
          "UPDATE outbox_dead SET report_attempts = ?, reported = ?, report_due_at = ? WHERE seq = ?",
          tries,
          tries >= MAX_REPORT_ATTEMPTS ? -1 : 0,
          now + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** tries),
          d.seq,
        );
      }
      console.warn(
        JSON.stringify({ level: "warn", event: "outbox.dead_letter_report_failed", rows: due.length, error: String(err).slice(0, 500) }),
      );
    }
  }
}
