/** One idempotent D1 statement. Replaying it any number of times leaves D1 as one run would. */
export interface D1Write {
  sql: string;
  params: (string | number | null)[];
}

// Statements per D1 batch: fewer round trips, while one batch stays a modest transaction.
const BATCH = 500;
const MAX_BACKOFF_MS = 5 * 60_000;
/** Consecutive single-row failures after a failed batch that mean D1 itself is down. */
const OUTAGE_AFTER = 3;

type OutboxRow = { seq: number; sql: string; params: string; attempts: number };

/**
 * The outbox: D1 writes recorded in the same SQLite transaction as the state change they follow,
 * then delivered in order. A crash between the two stores leaves the rows here, and the alarm
 * (armed to the earliest `due_at`) delivers them later.
 */
export class Outbox {
  private draining: Promise<void> | null = null;
  private again = false;

  constructor(
    private readonly sql: SqlStorage,
    private readonly db: D1Database,
    private readonly onDelivered?: (count: number) => void,
  ) {}

  /** Records a write under an entity key; an undelivered older write for the same key is replaced. Call inside a transaction. */
  put(key: string, write: D1Write, now: number): void {
    this.sql.exec(
      "INSERT OR REPLACE INTO outbox (key, sql, params, attempts, due_at) VALUES (?, ?, ?, 0, ?)",
      key,
      write.sql,
      JSON.stringify(write.params),
      now,
    );
  }

  pending(): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox").one().n;
  }

  nextDue(): number | null {
    return this.sql.exec<{ t: number | null }>("SELECT min(due_at) AS t FROM outbox").one().t;
  }

  /**
   * Delivers everything due. Only one delivery runs at a time; a call during one makes it go round
   * again, so rows written meanwhile are not left behind.
   */
  drain(): Promise<void> {
    if (this.draining) {
      this.again = true;
      return this.draining;
    }
    this.draining = (async () => {
      try {
        do {
          this.again = false;
          while (await this.deliverBatch()) {
            // keep going while full batches land
          }
        } while (this.again);
      } finally {
        this.draining = null;
      }
    })();
    return this.draining;
  }

  /**
   * Returns true when a full batch landed and more may be waiting. Rows that failed before wait
   * for their backoff; fresh rows go at once (the inline delivery after a change).
   */
  private async deliverBatch(): Promise<boolean> {
    const rows = this.sql
      .exec<OutboxRow>(
        "SELECT seq, sql, params, attempts FROM outbox WHERE attempts = 0 OR due_at <= ? ORDER BY seq LIMIT ?",
        Date.now(),
        BATCH,
      )
      .toArray();
    if (rows.length === 0) return false;
    try {
      await this.db.batch(rows.map((r) => this.statement(r)));
    } catch (err) {
      if (rows.length === 1) {
        this.retryLater(rows, err);
        return false;
      }
      // A batch is one transaction, so one statement D1 refuses (a row over its limits, say) fails
      // them all. Rows are independent and idempotent: deliver them one by one, so a bad row holds
      // back only itself. A run of failures with nothing landing is an outage: stop there.
      let delivered = 0;
      let failedInARow = 0;
      for (const [i, r] of rows.entries()) {
        try {
          await this.statement(r).run();
        } catch (rowErr) {
          this.retryLater([r], rowErr);
          if (++failedInARow >= OUTAGE_AFTER) {
            this.retryLater(rows.slice(i + 1), rowErr);
            break;
          }
          continue;
        }
        failedInARow = 0;
        this.sql.exec("DELETE FROM outbox WHERE seq = ?", r.seq);
        delivered++;
      }
      if (delivered > 0) this.onDelivered?.(delivered);
      return delivered > 0 && rows.length === BATCH;
    }
    // Delete exactly what was sent: a newer snapshot written meanwhile has a new seq and stays.
    for (const r of rows) this.sql.exec("DELETE FROM outbox WHERE seq = ?", r.seq);
    this.onDelivered?.(rows.length);
    return rows.length === BATCH;
  }

  private statement(r: OutboxRow): D1PreparedStatement {
    return this.db.prepare(r.sql).bind(...(JSON.parse(r.params) as D1Write["params"]));
  }

  /** Backs rows off exponentially; the alarm, armed to the earliest due_at, retries them. */
  private retryLater(rows: OutboxRow[], err: unknown): void {
    if (rows.length === 0) return;
    const now = Date.now();
    for (const r of rows) {
      const backoff = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(r.attempts, 12));
      // Only rows not replaced meanwhile; a replaced row is a fresh snapshot, due at once.
      this.sql.exec("UPDATE outbox SET attempts = attempts + 1, due_at = ? WHERE seq = ?", now + backoff, r.seq);
    }
    console.warn(JSON.stringify({ level: "warn", event: "outbox.deliver_failed", rows: rows.length, error: String(err) }));
  }
}
