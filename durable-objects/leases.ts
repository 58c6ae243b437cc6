import type { SignJob } from "../src/core/models";
import type { JobRow, JobStore } from "./jobs";
import { CANCELLED_PAGE, LEASE_MS, PAGE_SIZE } from "./signer-protocol";
import { send, type SignerSockets, type Socket } from "./signer-sockets";

/**
 * Jobs one signer holds at most. A signer reconnecting to a large backlog gets this many, and more
 * as it answers, instead of the whole backlog at once, whose leases would run out before it could
 * sign them all and be offered again and again.
 */
export const MAX_IN_FLIGHT = 1000;

type Lease = { job_id: string; signer: string };

/**
 * Which connected signer holds which pending job, and until when: the only owner of the `leases`
 * table. New jobs go to the least-loaded signer, a backlog is paged to a signer that connects, and
 * a job whose lease runs out (or whose signer leaves) is offered again. Lease expiry is driven by
 * the object's one alarm (`nextDue`).
 */
export class Leases {
  /** Where the round robin among equally loaded signers starts next; losing it on eviction is harmless. */
  private turn = 0;
  /**
   * Whether the table may hold a lease: true after a wake and whenever one is written (`deliver`),
   * false once a release found it empty with no signer connected (none can be leased then). A
   * custodial issuer's signing released leases nobody held: a statement of every single create.
   */
  private mayHold = true;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly sockets: SignerSockets,
    private readonly jobs: JobStore,
  ) {}

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  /** New jobs of one creation batch: one `jobs` frame to the least-loaded connected signer, leased to it. */
  offer(jobs: SignJob[]): void {
    let pending = jobs.filter((j) => j.status === "pending");
    const tried = new Set<string>();
    // The least-loaded signer first; what it has no room for goes to the next, the rest wait unleased.
    for (let target = this.pick(tried); target && pending.length > 0; target = this.pick(tried)) {
      tried.add(target.a.signer);
      pending = pending.slice(this.deliver(target, pending, Date.now()));
    }
  }

  /**
   * Tops up signers that have room with pending jobs nobody holds (after answers, cancellations,
   * or REST signatures freed their leases). Cheap when no signer is connected.
   */
  topUp(): void {
    const signers = this.sockets.authenticated();
    if (signers.length === 0) return;
    const now = Date.now();
    // Only signers with room look for unleased jobs. No count of pending jobs here: it runs on
    // every change and would read every pending job of a deep issuer (P4); a signer's leases are
    // at most MAX_IN_FLIGHT, and sendUnleased stops at its first empty page.
    for (const s of signers) if (this.inFlight(s.a.signer, now) <= MAX_IN_FLIGHT / 2) this.sendUnleased(s, now);
  }

  /** A signer that just authenticated: `ready`, then the backlog nobody holds, leased to it. */
  welcome(s: Socket): void {
    this.dropOrphans(s.a.signer);
    if (send(s.ws, { type: "ready", did: this.jobs.did(), pending: this.jobs.pendingCount() })) this.sendUnleased(s, Date.now());
  }

  /** Jobs that ended without a signature: their leases go, and every signer is told to drop them. */
  ended(ids: string[]): void {
    ids.forEach((id) => this.release(id));
    const signers = this.sockets.authenticated();
    for (let i = 0; i < ids.length; i += CANCELLED_PAGE) {
      const frame = { type: "cancelled" as const, ids: ids.slice(i, i + CANCELLED_PAGE) };
      for (const s of signers) send(s.ws, frame);
    }
  }

  release(jobId: string): void {
    if (!this.mayHold) return;
    this.sql.exec("DELETE FROM leases WHERE job_id = ?", jobId);
    this.checkEmpty();
  }

  /** Releases the leases of jobs that were just signed, in one statement. */
  releaseMany(jobIds: string[]): void {
    if (!this.mayHold || jobIds.length === 0) return;
    if (jobIds.length === 1) this.sql.exec("DELETE FROM leases WHERE job_id = ?", jobIds[0]!);
    else this.sql.exec("DELETE FROM leases WHERE job_id IN (SELECT value FROM json_each(?))", JSON.stringify(jobIds));
    this.checkEmpty();
  }

  /** With no signer connected no lease is written, so a table found empty stays so until one is (`deliver`). */
  private checkEmpty(): void {
    if (this.sockets.authenticated().length === 0) this.mayHold = this.sql.exec("SELECT 1 FROM leases LIMIT 1").toArray().length > 0;
  }

  /** A signer went away: its jobs go to another signer now rather than at lease expiry. Returns whether it held any. */
  gone(signer: string): boolean {
    const held = this.sql.exec<Lease>("SELECT job_id, signer FROM leases WHERE signer = ?", signer).toArray();
    if (held.length > 0) this.reoffer(held, new Set([signer]), Date.now());
    return held.length > 0;
  }

  /** Offers jobs whose lease ran out again. */
  expire(now: number): void {
    // Every round re-leases or drops the rows it read, so this ends.
    for (;;) {
      const expired = this.sql.exec<Lease>("SELECT job_id, signer FROM leases WHERE until <= ? ORDER BY until LIMIT 500", now).toArray();
      if (expired.length === 0) return;
      this.reoffer(expired, new Set(), now);
    }
  }

  /** The earliest lease expiry, for the object's alarm (due.ts). */
  static readonly DUE = ["SELECT min(until) AS t FROM leases"];

  /** Pending jobs nobody holds a live lease on, oldest first, in pages, until the signer is full. */
  private sendUnleased(s: Socket, now: number): void {
    for (let after = 0; ;) {
      const room = MAX_IN_FLIGHT - this.inFlight(s.a.signer, now);
      if (room <= 0) return;
      const page = this.sql
        .exec<JobRow>(
          `SELECT j.* FROM jobs j LEFT JOIN leases l ON l.job_id = j.id
           WHERE j.status = 'pending' AND j.seq > ? AND j.expires_at > ? AND (l.job_id IS NULL OR l.until <= ?)
           ORDER BY j.seq LIMIT ?`,
          after,
          now,
          now,
          Math.min(PAGE_SIZE, room),
        )
        .toArray();
      if (page.length === 0) return;
      if (
        this.deliver(
          s,
          page.map((r) => this.jobs.toSignJob(r)),
          now,
        ) === 0
      )
        return;
      after = page[page.length - 1]!.seq;
    }
  }

  private inFlight(signer: string, now: number): number {
    return this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM leases WHERE signer = ? AND until > ?", signer, now).one().n;
  }

  /**
   * Leases held by signers that are gone without a close event (the object was restarted, not
   * hibernated) would otherwise wait out their 60 s; a connecting signer takes them at once.
   */
  private dropOrphans(connecting: string): void {
    const live = new Set(this.sockets.authenticated().map((s) => s.a.signer));
    live.add(connecting);
    for (const { signer } of this.sql.exec<{ signer: string }>("SELECT DISTINCT signer FROM leases").toArray()) {
      if (!live.has(signer)) this.sql.exec("DELETE FROM leases WHERE signer = ?", signer);
    }
  }

  /**
   * Sends as many of `jobs` as the signer has room for in one `jobs` frame and leases them to it.
   * Returns how many it took (0 when full or when the socket is gone).
   */
  private deliver(to: Socket, jobs: SignJob[], now: number): number {
    const room = MAX_IN_FLIGHT - this.inFlight(to.a.signer, now);
    const taken = room >= jobs.length ? jobs : jobs.slice(0, Math.max(0, room));
    if (taken.length === 0 || !send(to.ws, { type: "jobs", jobs: taken })) return 0;
    const until = now + LEASE_MS;
    this.mayHold = true;
    this.storage.transactionSync(() => {
      for (const job of taken) {
        this.sql.exec(
          "INSERT INTO leases (job_id, signer, until) VALUES (?, ?, ?) ON CONFLICT(job_id) DO UPDATE SET signer = excluded.signer, until = excluded.until",
          job.id,
          to.a.signer,
          until,
        );
      }
    });
    return taken.length;
  }

  /**
   * Offers leased jobs again: to another connected signer if there is one, else back to the same
   * one if it is still here, else to nobody (the lease goes; the job waits for the next backlog).
   */
  private reoffer(leases: Lease[], gone: Set<string>, now: number): void {
    const byHolder = new Map<string, string[]>();
    for (const l of leases) byHolder.set(l.signer, [...(byHolder.get(l.signer) ?? []), l.job_id]);
    for (const [holder, ids] of byHolder) {
      const target =
        this.pick(new Set([...gone, holder])) ??
        (gone.has(holder) ? null : (this.sockets.authenticated().find((s) => s.a.signer === holder) ?? null));
      if (!target) {
        ids.forEach((id) => this.release(id));
        continue;
      }
      const jobs: SignJob[] = [];
      for (const id of ids) {
        const row = this.jobs.get(id);
        if (row?.status === "pending") jobs.push(this.jobs.toSignJob(row));
        else this.release(id);
      }
      for (let i = 0; i < jobs.length; i += PAGE_SIZE) {
        const page = jobs.slice(i, i + PAGE_SIZE);
        // What the target has no room for loses its lease and waits for the next top-up.
        page.slice(this.deliver(target, page, now)).forEach((j) => this.release(j.id));
      }
    }
  }

  /** The authenticated signer with the fewest live leases, round robin among equals. */
  private pick(exclude: Set<string>): Socket | null {
    const candidates = this.sockets.authenticated().filter((s) => !exclude.has(s.a.signer));
    if (candidates.length === 0) return null;
    const load = new Map(
      this.sql
        .exec<{ signer: string; n: number }>("SELECT signer, count(*) AS n FROM leases WHERE until > ? GROUP BY signer", Date.now())
        .toArray()
        .map((r) => [r.signer, r.n]),
    );
    const start = this.turn++ % candidates.length;
    let best: Socket | null = null;
    let bestLoad = Infinity;
    for (let i = 0; i < candidates.length; i++) {
      const s = candidates[(start + i) % candidates.length]!;
      const n = load.get(s.a.signer) ?? 0;
      if (n < bestLoad) [best, bestLoad] = [s, n];
    }
    return best;
  }
}
