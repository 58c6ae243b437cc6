/**
 * Cold storage for ended jobs (docs/SCALE.md "Bodies stay with their issuer; cold ones go to R2").
 *
 * An ended job keeps its claims (the signing input, the one stored copy; the JWT is it plus the
 * signature) for the retention period (SIGNJOB_RETENTION_DAYS), and while the object holds no more
 * than its hot limit of ended jobs (SIGNJOB_HOT_LIMIT). Past either, a signed job's signing input
 * goes to R2 and the object drops it; an unsigned job's is simply dropped (nothing was issued).
 * Without an R2 binding a signed job keeps its claims: they are its artifact's only copy.
 * Reads of an archived job fetch it back (`hydrate`), so clients see the same job and operation.
 *
 * Order: the R2 put first, then the object's update. A crash between the two leaves the job
 * unpurged here, and the next alarm puts the same bytes under the same key again (idempotent) and
 * purges it then. Nothing is dropped before R2 holds it.
 */
import type { JobRow, JobStore } from "./jobs";

/** Jobs per R2 round; the alarm repeats rounds until nothing more is due. */
const ROUND = 100;

type Candidate = Pick<JobRow, "id" | "status" | "signing_input">;

export class Archive {
  /** Ended jobs that still hold their claims, counted once per instance and then kept up to date. */
  private hot: number | null = null;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly jobs: JobStore,
    private readonly bucket: R2Bucket | undefined,
    /** This object's id: keys are per object, so two objects never share one. */
    private readonly objectId: string,
  ) {}

  key(jobId: string): string {
    return `jobs/${this.objectId}/${jobId}`;
  }

  /**
   * Archives (signed) or drops (unsigned) the signing input of every ended job that ended at or
   * before `endedBy`, and of the oldest ended jobs past `hotLimit`. Returns how many.
   */
  async run(endedBy: number, hotLimit: number, now: number): Promise<number> {
    let total = 0;
    for (;;) {
      const due = this.due(endedBy, hotLimit);
      if (due.length === 0) return total;
      const signed = due.filter((j) => j.status === "signed");
      if (signed.length > 0 && this.bucket) {
        const bucket = this.bucket;
        await Promise.all(signed.map((j) => bucket.put(this.key(j.id), j.signing_input)));
      }
      this.storage.transactionSync(() => {
        for (const j of due) this.jobs.purgeOne(j.id, now, j.status === "signed" && this.bucket !== undefined);
      });
      total += due.length;
      if (this.hot !== null) this.hot = Math.max(0, this.hot - due.length);
    }
  }

  /** Jobs just ended (signed or not): they count against the hot limit. */
  ended(n: number): void {
    if (this.hot !== null) this.hot += n;
  }

  /**
   * Whether more ended jobs hold their claims than the limit allows, so the alarm is due now.
   * Counting scans the hot jobs, so it happens once per instance; ends and purges adjust it after.
   */
  overLimit(hotLimit: number): boolean {
    if (!Number.isFinite(hotLimit)) return false;
    this.hot ??= this.countHot();
    return this.hot > hotLimit;
  }

  /**
   * Which ended jobs may drop their claims: without a bucket, only unsigned ones. A signed job's
   * claims are its credential's one copy (D1 keeps no bodies since 0013), so none is dropped
   * without R2 holding it.
   */
  private get droppable(): string {
    return this.bucket ? "" : " AND status <> 'signed'";
  }

  private countHot(): number {
    return this.storage.sql
      .exec<{ n: number }>(`SELECT count(*) AS n FROM jobs WHERE ended_at IS NOT NULL AND purged_at IS NULL${this.droppable}`)
      .one().n;
  }

  /** The next round: jobs past retention, then the oldest beyond the hot limit. */
  private due(endedBy: number, hotLimit: number): Candidate[] {
    const sql = this.storage.sql;
    const old = sql
      .exec<Candidate>(
        `SELECT id, status, signing_input FROM jobs WHERE ended_at IS NOT NULL AND purged_at IS NULL${this.droppable} AND ended_at <= ? ORDER BY ended_at LIMIT ?`,
        endedBy,
        ROUND,
      )
      .toArray();
    if (old.length > 0 || !Number.isFinite(hotLimit)) return old;
    const hot = (this.hot = this.countHot());
    if (hot <= hotLimit) return [];
    return sql
      .exec<Candidate>(
        `SELECT id, status, signing_input FROM jobs WHERE ended_at IS NOT NULL AND purged_at IS NULL${this.droppable} ORDER BY ended_at LIMIT ?`,
        Math.min(ROUND, hot - hotLimit),
      )
      .toArray();
  }

  /**
   * The job as it was before archiving: its signing input read back from R2. A job purged without
   * an archive (unsigned, or from before archiving existed), or whose archive is gone, stays purged.
   */
  async hydrate(row: JobRow): Promise<JobRow> {
    if (row.archived !== 1 || row.purged_at === null || !this.bucket) return row;
    const object = await this.bucket.get(this.key(row.id));
    if (!object) return row;
    return { ...row, signing_input: await object.text(), purged_at: null };
  }

  async hydrateAll(rows: JobRow[]): Promise<JobRow[]> {
    return Promise.all(rows.map((r) => this.hydrate(r)));
  }
}
