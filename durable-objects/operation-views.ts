import type { AnyKind, D1Write, KindJob } from "../src/core/kinds";
import type { Operation } from "../src/core/models";
import type { JobRow, JobStore } from "./jobs";
import { operationOf, operationWrite, type OperationRow, type OperationStore } from "./operations";

/** What the views read and write through; the engine supplies them (durable-objects/engine.ts). */
export interface OperationViewParts {
  operations: OperationStore;
  jobs: JobStore;
  did: () => string;
  /** The registered kind of that name (throws for an unknown one). */
  kind: (name: string) => AnyKind;
  /** A job as its kind sees it (Engine.view). */
  view: (kind: AnyKind, row: JobRow) => KindJob<unknown>;
  /** Records an operation's D1 write in the outbox, due after the engine's grace. */
  write: (entity: string, write: D1Write) => void;
}

/**
 * An operation as D1 and clients see it, apart from the state machine that changes it
 * (durable-objects/engine.ts): its projection to the outbox after every change, and the answer
 * made whole from its jobs (stored responses are compact). A create in progress answers with what
 * was projected (`collect`) rather than reading each operation back.
 */
export class OperationViews {
  constructor(private readonly parts: OperationViewParts) {}

  /** Writes the operation's current state to the outbox for D1. */
  project(operationId: string): void {
    const row = this.parts.operations.get(operationId);
    if (row) this.projectRow(row, this.parts.jobs.byOperation(operationId));
  }

  /** Projects an operation from its row and its jobs' rows as they stand, without reading them again. */
  projectRow(row: OperationRow, jobs: JobRow[]): void {
    const op = this.operationFrom(row, jobs);
    if (!this.inIndex(jobs)) this.parts.write(`operation:${op.id}`, operationWrite(this.parts.did(), op));
    // A create in progress answers with this, rather than reading the operation back.
    this.answers?.set(op.id, op);
  }

  /**
   * Whether the operation's one job's kind keeps the D1 record of it (a new credential's index row,
   * migrations/0014): then the operation has no D1 `operations` row, which would be most of a
   * credential's D1 bytes and never leave shard 0.
   */
  private inIndex(jobs: JobRow[]): boolean {
    const job = jobs.length === 1 ? jobs[0]! : undefined;
    if (!job || job.resigns !== null) return false;
    const kind = this.parts.kind(job.kind);
    return kind.operationInIndex?.(kind.context.parse(JSON.parse(job.context))) === true;
  }

  /** Operations projected while a create is in progress (see `collect`). */
  private answers: Map<string, Operation> | null = null;
  private collecting = 0;

  /**
   * Runs a create and answers its operations as last projected while it ran (every change of an
   * operation is projected), falling back to reading one that was not.
   */
  async collect<T>(run: () => Promise<T>, ids: (value: T) => string[] | null): Promise<{ value: T; operations: Operation[] | null }> {
    this.answers ??= new Map();
    this.collecting++;
    try {
      const value = await run();
      const wanted = ids(value);
      const answers = this.answers;
      return { value, operations: wanted && wanted.map((id) => answers.get(id) ?? this.operation(id)!) };
    } finally {
      if (--this.collecting === 0) this.answers = null;
    }
  }

  /**
   * The operation as clients see it: stored responses are compact, and made whole from the jobs here
   * (or from `hydrated`, archived jobs read back; IssuerObject.getOperation does that).
   */
  operation(operationId: string, hydrated?: ReadonlyMap<string, JobRow>): Operation | null {
    const row = this.parts.operations.get(operationId);
    if (!row) return null;
    // Jobs read back from the archive (durable-objects/archive.ts) stand in for their purged rows.
    return this.operationFrom(
      row,
      this.parts.jobs.byOperation(operationId).map((j) => hydrated?.get(j.id) ?? j),
    );
  }

  /** The operation as clients see it from its row and its jobs' whole rows, in seq order. */
  operationFrom(row: OperationRow, jobs: JobRow[]): Operation {
    const op = operationOf(
      row,
      jobs.map((j) => j.id),
    );
    if (!op.result || op.result.response === undefined) return op;
    const expand = (stored: unknown, job: JobRow | undefined) => {
      const kind = job ? this.parts.kind(job.kind) : undefined;
      return job && kind?.expand ? kind.expand(stored, this.parts.view(kind, job)) : stored;
    };
    const stored = op.result.response;
    const results = typeof stored === "object" && stored !== null && "results" in stored ? stored.results : undefined;
    const response =
      op.done && jobs.length > 1 && Array.isArray(results)
        ? this.combine(
            results.map((r, i) => expand(r, jobs[i])),
            jobs,
          )
        : expand(stored, jobs[0]);
    return { ...op, result: { ...op.result, response } };
  }

  /** A multi-job result: shaped by the last job's kind when it says how (kinds.ts `combine`). */
  private combine(responses: unknown[], jobs: JobRow[]): unknown {
    const last = jobs[jobs.length - 1];
    const kind = last ? this.parts.kind(last.kind) : undefined;
    return kind?.combine ? kind.combine(responses) : { results: responses };
  }
}
