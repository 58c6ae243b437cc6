/**
 * Reads of sign jobs and operations (IssuerObject's RPCs), hot or cold: a job archived whole
 * (durable-objects/archive.ts) is found by its cold row and read back from R2, so every answer is
 * the JSON it was before archiving.
 */
import type { Operation, SignJob } from "../src/core/models";
import type { Archive } from "./archive";
import { mergeBySeq, WHOLE } from "./cold-jobs";
import type { Engine } from "./engine";
import type { JobRow } from "./jobs";
import type { OperationRow } from "./operations";
import type { Rotations } from "./rotations";

export class JobReads {
  constructor(
    private readonly engine: Engine,
    private readonly archive: Archive,
    private readonly rotations: Rotations,
  ) {}

  async job(id: string): Promise<SignJob | null> {
    const row = this.engine.jobs.get(id) ?? this.archive.cold.get(id);
    return row ? this.engine.jobs.toSignJob(await this.archive.hydrate(row)) : null;
  }

  /** Whole rows of the cold jobs among `ids`, read back from R2. */
  async coldJobs(ids: string[]): Promise<Map<string, JobRow>> {
    const stubs = ids.flatMap((id) => this.archive.cold.get(id) ?? []);
    return new Map((await this.archive.hydrateAll(stubs)).map((j) => [j.id, j]));
  }

  /** A page of jobs, oldest first, keyset by seq; cold jobs are all signed. */
  async list(
    status: SignJob["status"] | undefined,
    afterSeq: number,
    pageSize: number,
    operationId?: string,
  ): Promise<{ jobs: SignJob[]; next?: number }> {
    const hot = this.engine.jobs.list(status, afterSeq, pageSize + 1, operationId);
    const withCold = status === undefined || status === "signed";
    const cold = !withCold
      ? []
      : operationId !== undefined
        ? this.archive.cold.byOperation(operationId, afterSeq, pageSize + 1)
        : this.archive.cold.list(afterSeq, pageSize + 1);
    const rows = mergeBySeq(hot, cold, pageSize + 1);
    const page = await this.archive.hydrateAll(rows.slice(0, pageSize));
    const next = rows.length > pageSize ? { next: page[page.length - 1]!.seq } : {};
    return { jobs: page.map((r) => this.engine.jobs.toSignJob(r)), ...next };
  }

  /**
   * An operation made whole from its jobs, archived ones read back from R2. A credential's own
   * operation archived with its job is read from the job's record.
   */
  async operation(id: string): Promise<Operation | null> {
    if (this.rotations.owns(id)) return this.rotations.views.operation(id);
    const hot = this.engine.jobs.byOperation(id);
    const cold = this.archive.cold.byOperation(id);
    const archived = hot.some((j) => j.archived === 1 && j.purged_at !== null);
    if (cold.length === 0 && !archived) return this.engine.views.operation(id);
    let row: OperationRow | null = this.engine.operations.get(id);
    const back = new Map<string, JobRow>();
    await Promise.all([
      ...cold.map(async (j) => {
        const record = await this.archive.load(j.id);
        back.set(j.id, record.job);
        row ??= record.operation;
      }),
      ...hot.filter((j) => j.archived === 1).map(async (j) => back.set(j.id, await this.archive.hydrate(j))),
    ]);
    if (!row) return null;
    const jobs = mergeBySeq(hot, cold).map((j) => back.get(j.id) ?? j);
    if (jobs.some((j) => j.archived === WHOLE)) throw new Error(`operation ${id}: a cold job was not read back`);
    return this.engine.views.operationFrom(row, jobs);
  }
}
