/**
 * The key rotation's scan (durable-objects/rotations.ts): the alarm walks `jobs` by `seq` up to
 * the last `seq` at the rotation's start, and each turn creates re-sign jobs for the window's jobs
 * that need one (a live artifact of a resignable kind, signed by an old key, not re-signed
 * already), with the claims retention dropped read back first. Turns are sized by work
 * (durable-objects/turns.ts): a job that needs nothing costs little, a custodial re-sign (created
 * and signed in the turn) the most.
 */
import type { AnyKind } from "../src/core/kinds";
import type { IssuerKey } from "../src/core/models";
import type { Engine } from "./engine";
import type { JobRow } from "./jobs";
import type { KeyStore } from "./keys";
import { TURN_JOBS, TURN_WORK, yieldTurn } from "./turns";

/** Jobs one turn reads (one statement); fewer are taken when the ones needing a re-sign fill the turn's work. */
export const SCAN_ROWS = 100;
/** Re-sign jobs created between two awaited outbox deliveries: what one delivery carries. */
const DELIVER_EVERY = 50;
/**
 * A turn's work per job (turns.ts), in statements (test/cost/turns.test.ts): a job that needs
 * nothing is read in the window's one statement and checked in memory; a re-sign job is inserted
 * (one multi-row statement for the turn) and, when the key is custodial, signed in the turn after
 * (its update and its kind's swap: about 3, and the in-process signature).
 */
const SKIP_COST = 0.25;
const CREATE_COST = 1;
const CUSTODIAL_COST = 5;

export type RotationRow = {
  id: string;
  to_key: string;
  from_keys: string;
  method: string;
  origin: string;
  state: "running" | "done" | "failed";
  cursor: number;
  high: number;
  created: number;
  signed: number;
  cleanup: number;
  created_at: number;
  ended_at: number | null;
  document_operation: string | null;
};

export interface ScanParts {
  storage: DurableObjectStorage;
  engine: () => Engine;
  keys: KeyStore;
  kinds: Readonly<Record<string, AnyKind>>;
  objectId: () => string;
  /** Archived jobs' claims read back from R2 (durable-objects/archive.ts). */
  hydrate: (rows: JobRow[]) => Promise<JobRow[]>;
  /** D1, where an artifact of another kind (or a credential from before 0013) whose job was purged without an archive still has its JWT. */
  db: D1Database;
}

/** What the scan needs of the rotations it works for. */
export interface ScanHost {
  /** The running rotation, read now (it may have been cancelled during a yield). */
  running(): RotationRow | null;
  /** Inside the turn's transaction, after the cursor moved: done if that was all. */
  scannedInside(r: RotationRow, now: number): void;
  /** The pending operation's progress, written (and projected) once per delivery, not per turn. */
  showProgress(id: string, now: number): void;
}

export class RotationScan {
  constructor(
    private readonly parts: ScanParts,
    private readonly host: ScanHost,
  ) {}

  private get sql(): SqlStorage {
    return this.parts.storage.sql;
  }

  /**
   * Scans turn after turn until the scan is over or `until` (each turn its own transaction, its
   * re-sign jobs handed to `dispatch`: custodial keys sign at once, external jobs go to signers),
   * with a real yield between turns so requests interleave.
   */
  async run(until: number, dispatch: (key: IssuerKey, jobs: JobRow[]) => Promise<void>, deliver: () => Promise<void>): Promise<void> {
    let undelivered = 0;
    let scanned: string | null = null;
    for (;;) {
      const r = this.host.running();
      if (!r || r.cursor >= r.high || Date.now() >= until) break;
      const to = this.parts.keys.local(r.to_key);
      if (!to) break;
      scanned = r.id;
      const rows = this.window(r);
      const purged = await this.purgedClaims(rows, new Set(JSON.parse(r.from_keys) as string[]));
      // Claims came back over I/O (R2, D1): requests may have run meanwhile, so the turn reads its
      // window again. Without that await nothing ran, and the rows in hand are current.
      const created = this.turn(r.id, purged === null ? r : null, to, purged === null ? rows : null, purged ?? new Map());
      if (created.length > 0) await dispatch(to, created);
      // The D1 writes go out every DELIVER_EVERY re-sign jobs, before the scan goes on: the outbox
      // never holds more than a few deliveries' worth, and a delivery is not a whole run's. The
      // operation's progress goes with them: once per delivery rather than once per turn.
      undelivered += created.length;
      if (undelivered >= DELIVER_EVERY) {
        undelivered = 0;
        this.host.showProgress(r.id, Date.now());
        await deliver();
      }
      // A real turn of the event loop: requests queued on the object run before the next turn.
      await yieldTurn();
    }
    if (scanned !== null) this.host.showProgress(scanned, Date.now());
  }

  /**
   * One turn, in one transaction: the window's jobs from the cursor on, as many as fit the turn's
   * work (turns.ts), re-signed where they need it; the cursor moves past the last one taken.
   */
  private turn(id: string, held: RotationRow | null, to: IssuerKey, read: JobRow[] | null, purged: Map<string, string>): JobRow[] {
    let created: JobRow[] = [];
    this.parts.storage.transactionSync(() => {
      const now = Date.now();
      // After an await the rotation is read again too: it may have been cancelled meanwhile.
      const r = held ?? this.host.running();
      if (!r || r.id !== id) return;
      const rows = read ?? this.window(r);
      const due = this.dueIn(rows, new Set(JSON.parse(r.from_keys) as string[]), purged, to, r.origin, now);
      const cost = to.custody === "custodial" ? CUSTODIAL_COST : CREATE_COST;
      let work = 0;
      let taken = 0;
      const chosen: JobRow[] = [];
      for (const row of rows) {
        const job = due(row);
        const c = job ? cost : SKIP_COST;
        if (taken > 0 && (work + c > TURN_WORK || (job && chosen.length >= TURN_JOBS))) break;
        work += c;
        taken++;
        if (job) chosen.push(job);
      }
      created = this.parts.engine().resignInside(to, chosen, r.id, this.parts.objectId(), now);
      const cursor = taken === rows.length && rows.length < SCAN_ROWS ? r.high : rows[taken - 1]!.seq;
      this.parts.storage.sql.exec("UPDATE rotations SET cursor = ?, created = created + ? WHERE id = ?", cursor, created.length, r.id);
      this.host.scannedInside({ ...r, cursor, created: r.created + created.length }, now);
    });
    return created;
  }

  /** The next SCAN_ROWS jobs of the scan. */
  private window(r: RotationRow): JobRow[] {
    return this.sql
      .exec<JobRow>("SELECT * FROM jobs WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?", r.cursor, r.high, SCAN_ROWS)
      .toArray();
  }

  /**
   * Jobs among `rows` whose signing input retention dropped, by job id: read back from R2 when
   * archived; else their artifact's JWT in D1 (other kinds' tables, credentials from before 0013)
   * carries the same claims (its header and payload). Null when none of them was purged.
   */
  async purgedClaims(rows: JobRow[], from: ReadonlySet<string>): Promise<Map<string, string> | null> {
    const byTable = new Map<string, Map<string, string>>();
    const claims = new Map<string, string>();
    const due = rows.filter(
      (row) => row.purged_at !== null && row.status === "signed" && from.has(row.vm_id) && this.parts.kinds[row.kind]?.resign,
    );
    // Null: nothing to read back, and nothing awaited.
    if (due.length === 0) return null;
    // Archived claims come back from R2: the object and R2 are the one store of a credential's claims.
    for (const back of await this.parts.hydrate(due.filter((row) => row.archived === 1))) {
      if (back.purged_at === null) claims.set(back.id, back.signing_input);
    }
    for (const row of due) {
      const kind = this.parts.kinds[row.kind];
      if (claims.has(row.id) || !kind?.resign) continue;
      const { id, table } = kind.resign.artifact(kind.context.parse(JSON.parse(row.context)));
      const ids = byTable.get(table) ?? new Map<string, string>();
      ids.set(id, row.id);
      byTable.set(table, ids);
    }
    for (const [table, ids] of byTable) {
      const rows = await this.parts.db
        .prepare(`SELECT id, jwt FROM ${table} WHERE id IN (SELECT value FROM json_each(?)) AND jwt IS NOT NULL`)
        .bind(JSON.stringify([...ids.keys()]))
        .all<{ id: string; jwt: string }>();
      for (const { id, jwt } of rows.results) claims.set(ids.get(id)!, jwt.split(".").slice(0, 2).join("."));
    }
    return claims;
  }

  /**
   * Which jobs of a window to sign again with `to`, asked row by row (a turn may stop before the
   * window's end, and a kind's `live` rule may read): the job as it is to be re-signed (a purged
   * job's claims from `purged`, read before the caller's transaction), or null when it needs none.
   */
  private dueIn(
    rows: JobRow[],
    from: ReadonlySet<string>,
    purged: ReadonlyMap<string, string>,
    to: IssuerKey,
    origin: string,
    now: number,
  ) {
    const readable = (row: JobRow): JobRow => {
      const claims = row.purged_at !== null ? purged.get(row.id) : undefined;
      return claims === undefined ? row : { ...row, signing_input: claims, purged_at: null };
    };
    const candidates = rows.map(readable).filter((row) => from.has(row.vm_id) && this.resignable(row));
    // Which candidates are re-signed already (or being re-signed): one statement for the window.
    const redone = new Set(
      candidates.length === 0
        ? []
        : this.sql
            .exec<{ resigns: string }>(
              "SELECT resigns FROM jobs WHERE resigns IN (SELECT value FROM json_each(?)) AND resigns IS NOT NULL AND status IN ('pending', 'signed')",
              JSON.stringify(candidates.map((row) => row.id)),
            )
            .toArray()
            .map((x) => x.resigns),
    );
    return (row: JobRow): JobRow | null => {
      const job = readable(row);
      const due = from.has(job.vm_id) && this.resignable(job) && !redone.has(job.id) && this.live(job, to, origin, now);
      return due ? job : null;
    };
  }

  /** A signed job of a kind that can be re-signed, with its claims. */
  private resignable(row: JobRow): boolean {
    return row.status === "signed" && row.purged_at === null && this.parts.kinds[row.kind]?.resign !== undefined;
  }

  /** Whether the artifact still needs a signature: not expired, and live by its kind's rule. */
  private live(row: JobRow, to: IssuerKey, origin: string, now: number): boolean {
    const kind = this.parts.kinds[row.kind]!;
    const engine = this.parts.engine();
    const view = engine.view(kind, row);
    const exp = view.payload?.exp;
    if (typeof exp === "number" && exp * 1000 <= now) return false;
    return kind.resign!.live?.(engine.context(to, origin, now), view) ?? true;
  }

  /** A signed job of a resignable kind, whose artifact is live and not already re-signed (or being re-signed). */
  needsResign(row: JobRow, to: IssuerKey, origin: string, now: number): boolean {
    if (!this.resignable(row)) return false;
    const redone = this.sql
      .exec("SELECT 1 FROM jobs WHERE resigns = ? AND status IN ('pending', 'signed') LIMIT 1", row.id)
      .toArray().length;
    return redone === 0 && this.live(row, to, origin, now);
  }
}
