/**
 * Cold storage for ended jobs (docs/SCALE.md "Bodies stay with their issuer; cold ones go to R2").
 *
 * An ended job keeps its claims (the signing input, the one stored copy; the JWT is it plus the
 * signature) for the retention period (SIGNJOB_RETENTION_DAYS), and while the object holds no more
 * than its hot limit of ended jobs (SIGNJOB_HOT_LIMIT). Past either:
 * - a signed credential job goes to R2 whole (cold-record.ts: its row, its own operation's row, its
 *   audit rows) and the object keeps a compact cold row (cold-jobs.ts): ≈ 10 M credentials fit one
 *   object only if a cold one costs little more than its status entry;
 * - any other signed job puts its signing input in R2 and keeps the rest of its row (few per issuer);
 * - an unsigned job's signing input is simply dropped (nothing was issued).
 * Without an R2 binding a signed job stays whole: it is its artifact's only copy.
 * Reads of an archived job fetch it back (`hydrate`), so clients see the same job and operation.
 *
 * Order: the R2 put first, then the object's update in one transaction. A crash between the two
 * leaves the job hot, and the next alarm puts the same bytes under the same key again (idempotent)
 * and moves it then. Nothing is dropped before R2 holds it.
 */
import { ColdJobs, WHOLE } from "./cold-jobs";
import { coldKey, ColdRecords, type ColdRecord } from "./cold-record";
import type { JobRow, JobStore } from "./jobs";

/** Jobs per R2 round; the alarm repeats rounds until nothing more is due. */
const ROUND = 100;

export class Archive {
  /** Ended jobs that still hold their claims, counted once per instance and then kept up to date. */
  private hot: number | null = null;
  /** Whether no credential job archived claims-only is left (see `claimsOnly`). */
  private converted = false;
  readonly cold: ColdJobs;
  private readonly records: ColdRecords;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly jobs: JobStore,
    private readonly bucket: R2Bucket | undefined,
    /** This object's id: keys are per object, so two objects never share one. */
    private readonly objectId: string,
  ) {
    this.cold = new ColdJobs(storage.sql, objectId);
    this.records = new ColdRecords(storage.sql, this.cold);
  }

  /** The R2 key of a job's claims (archived = 1). */
  key(jobId: string): string {
    return `jobs/${this.objectId}/${jobId}`;
  }

  /**
   * Archives the ended jobs that ended at or before `endedBy`, and the oldest ended ones past
   * `hotLimit`; then moves credential jobs archived claims-only (before whole rows were) to R2
   * whole. Returns how many jobs it changed.
   */
  async run(endedBy: number, hotLimit: number, now: number): Promise<number> {
    let total = 0;
    for (;;) {
      const due = this.due(endedBy, hotLimit);
      if (due.length === 0) return total;
      const whole = this.bucket ? due.filter((j) => this.records.wanted(j)) : [];
      const claims = due.filter((j) => j.status === "signed" && j.purged_at === null && !whole.includes(j));
      const records = await this.prepare(whole);
      if (claims.length > 0 && this.bucket) {
        const bucket = this.bucket;
        await Promise.all(claims.map((j) => bucket.put(this.key(j.id), j.signing_input)));
      }
      let moved = 0;
      this.storage.transactionSync(() => {
        for (const r of records) if (this.records.replace(r)) moved++;
        for (const j of due) {
          if (!whole.includes(j)) this.jobs.purgeOne(j.id, now, j.status === "signed" && this.bucket !== undefined);
        }
      });
      const progress = due.length - whole.length + moved;
      total += progress;
      if (this.hot !== null) this.hot = Math.max(0, this.hot - due.filter((j) => j.purged_at === null).length);
      // A job whose record could not be made (its claims gone from R2) or changed during the put
      // stays hot: stop rather than pick it again in a loop.
      if (progress === 0) return total;
    }
  }

  /** Whole records of `jobs`, put in R2. Jobs archived claims-only get their claims back first. */
  private async prepare(jobs: JobRow[]): Promise<ColdRecord[]> {
    if (jobs.length === 0 || !this.bucket) return [];
    const bucket = this.bucket;
    const whole = await this.hydrateAll(jobs);
    const records = whole.flatMap((j) => (j.purged_at === null ? [this.records.record(j)] : []));
    await Promise.all(records.map((r) => bucket.put(coldKey(this.objectId, r.job.id), JSON.stringify(r))));
    return records;
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

  /** The next round: jobs past retention, then the oldest beyond the hot limit, then claims-only credential jobs. */
  private due(endedBy: number, hotLimit: number): JobRow[] {
    const sql = this.storage.sql;
    const old = sql
      .exec<JobRow>(
        `SELECT * FROM jobs WHERE ended_at IS NOT NULL AND purged_at IS NULL${this.droppable} AND ended_at <= ? ORDER BY ended_at LIMIT ?`,
        endedBy,
        ROUND,
      )
      .toArray();
    if (old.length > 0) return old;
    if (Number.isFinite(hotLimit)) {
      const hot = (this.hot = this.countHot());
      if (hot > hotLimit) {
        return sql
          .exec<JobRow>(
            `SELECT * FROM jobs WHERE ended_at IS NOT NULL AND purged_at IS NULL${this.droppable} ORDER BY ended_at LIMIT ?`,
            Math.min(ROUND, hot - hotLimit),
          )
          .toArray();
      }
    }
    return this.claimsOnly();
  }

  /**
   * Credential jobs archived claims-only before whole rows were. No new ones appear, so once none is
   * left a meta row says so and the walk stops for good. No index is built for them (on a large
   * object that would read the whole file at wake): they are the oldest signed jobs, so the walk of
   * signed jobs in seq order meets them first, and reads all signed jobs once, on the last round.
   */
  private claimsOnly(): JobRow[] {
    if (!this.bucket || this.converted) return [];
    const sql = this.storage.sql;
    this.converted = sql.exec("SELECT 1 FROM meta WHERE k = 'claims_only_moved'").toArray().length > 0;
    if (this.converted) return [];
    const rows = sql
      .exec<JobRow>(
        "SELECT * FROM jobs INDEXED BY jobs_by_status WHERE status = 'signed' AND archived = 1 AND kind = 'credential' ORDER BY seq LIMIT ?",
        ROUND,
      )
      .toArray();
    if (rows.length === 0) {
      sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('claims_only_moved', '1')");
      this.converted = true;
    }
    return rows;
  }

  /**
   * The job as it was before archiving: whole from R2 (a cold stub), or its signing input read back
   * (claims only). A job purged without an archive (unsigned, or from before archiving existed)
   * stays purged, as does one whose claims are gone from R2; a cold job missing from R2 is an error
   * (its row left the object only once R2 held it).
   */
  async hydrate(row: JobRow): Promise<JobRow> {
    if (row.archived === WHOLE) return (await this.load(row.id)).job;
    if (row.archived !== 1 || row.purged_at === null || !this.bucket) return row;
    const object = await this.bucket.get(this.key(row.id));
    if (!object) return row;
    return { ...row, signing_input: await object.text(), purged_at: null };
  }

  async hydrateAll(rows: JobRow[]): Promise<JobRow[]> {
    return Promise.all(rows.map((r) => this.hydrate(r)));
  }

  /** A cold job's record from R2. */
  async load(jobId: string): Promise<ColdRecord> {
    const object = this.bucket ? await this.bucket.get(coldKey(this.objectId, jobId)) : null;
    if (!object) throw new Error(`cold sign job ${jobId} is missing from the archive`);
    return JSON.parse(await object.text()) as ColdRecord;
  }
}
