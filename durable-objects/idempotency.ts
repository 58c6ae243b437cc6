import type { IdempotencyClaim } from "../src/core/idempotency";

/** What a create recorded under its key: enough to answer a retry with the same operations. */
export type IdempotencyRecord = { fingerprint: string; operationIds: string[]; custodial: boolean };

type Row = { fingerprint: string; operations: string; custodial: number };

/** How often a create drops expired idempotency records; the table holds about this long of creates' internal keys beyond their expiry. */
const PRUNE_EVERY_MS = 30_000;

/**
 * Idempotency records of this issuer's creates. A record is written inside the transaction that
 * creates the jobs, so after any crash either both exist or neither does: a retry either finds
 * the record (and the operations) or creates them now, never twice.
 */
export class IdempotencyStore {
  /** Keys whose create is between its start and its answer in this instance. */
  private readonly inFlight = new Set<string>();

  constructor(private readonly sql: SqlStorage) {}

  find(claim: IdempotencyClaim, now: number): IdempotencyRecord | null {
    const row = this.sql
      .exec<Row>(
        "SELECT fingerprint, operations, custodial FROM idempotency WHERE scope = ? AND key = ? AND expires_at > ?",
        claim.scope,
        claim.key,
        now,
      )
      .toArray()[0];
    if (!row) return null;
    return { fingerprint: row.fingerprint, operationIds: JSON.parse(row.operations) as string[], custodial: row.custodial === 1 };
  }

  /** Call inside the transaction that makes the change. An expired record of the same key is replaced. */
  record(claim: IdempotencyClaim, operationIds: string[], custodial: boolean, now: number): void {
    this.sql.exec(
      `INSERT OR REPLACE INTO idempotency (scope, key, fingerprint, operations, custodial, created_at, expires_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      claim.scope,
      claim.key,
      claim.fingerprint,
      JSON.stringify(operationIds),
      custodial ? 1 : 0,
      now,
      now + claim.ttlMs,
    );
  }

  /**
   * Marks a key as being worked on; false if it already is. An object's creates interleave at
   * their awaits, so a duplicate can arrive before the first one's transaction: it is told so
   * rather than queued behind it (a restart clears the set, and the record decides from then on).
   */
  begin(claim: IdempotencyClaim): boolean {
    const id = `${claim.scope}\n${claim.key}`;
    if (this.inFlight.has(id)) return false;
    this.inFlight.add(id);
    return true;
  }

  busy(claim: IdempotencyClaim): boolean {
    return this.inFlight.has(`${claim.scope}\n${claim.key}`);
  }

  end(claim: IdempotencyClaim): void {
    this.inFlight.delete(`${claim.scope}\n${claim.key}`);
  }

  /** Drops expired records: run by every alarm, and by a create now and then (`pruneSometimes`). */
  prune(now: number): void {
    this.lastPrune = now;
    this.sql.exec("DELETE FROM idempotency WHERE expires_at <= ?", now);
  }

  /** When this instance last pruned; 0 until it has (so a woken object's first create prunes). */
  private lastPrune = 0;

  /**
   * The prune a create runs, at most once per PRUNE_EVERY_MS: the service's own keys (one per
   * create, minutes long) are not due times, so an object whose alarm stays far off would only
   * drop them here; a statement on every create was a twentieth of a single create's. An expired
   * record is never answered anyway (`find` reads only live ones, `record` replaces it).
   */
  pruneSometimes(now: number): void {
    if (now - this.lastPrune >= PRUNE_EVERY_MS) this.prune(now);
  }

  /**
   * When the alarm must next prune. Only callers' keys count: the service's own keys (scope
   * `internal`, minutes long, one per create) are pruned by the next create or alarm, so an idle
   * object is not woken just to drop them.
   */
  static readonly DUE = ["SELECT min(expires_at) AS t FROM idempotency WHERE scope <> 'internal'"];
}
