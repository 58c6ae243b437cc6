import type { Operation } from "../src/core/models";
import type { ColdJobs } from "./cold-jobs";
import { OUTBOX_GRACE_MS } from "./engine";
import { operationWrite, type OperationStore } from "./operations";
import type { Outbox } from "./outbox";

/** Re-sign jobs the object's answer for a rotation's operation names at most. */
export const LISTED_JOBS = 1_000;
/** ... when it is projected to D1 (whose row keeps no job ids): the projection need not read 1,000. */
export const PROJECTED_JOBS = 100;

/** A row of `rotations`: one key rotation, its scan and its counts (durable-objects/rotations.ts). */
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

/** What the views read and write through: a subset of RotationParts (durable-objects/rotations.ts). */
export interface RotationViewParts {
  storage: DurableObjectStorage;
  outbox: Outbox;
  did: () => string;
  /** Re-sign jobs archived whole are listed from their cold rows. */
  cold: ColdJobs;
}

/**
 * A rotation's operation as clients and D1 see it, apart from the rotation's steps
 * (durable-objects/rotations.ts): its response while running (the scan's progress), the re-sign
 * jobs it lists, and its projection to the outbox. The rotation counts its jobs rather than
 * settling the operation from their states, so its answer is made here, not by the engine.
 */
export class RotationViews {
  constructor(
    private readonly parts: RotationViewParts,
    private readonly operations: OperationStore,
  ) {}

  private get sql(): SqlStorage {
    return this.parts.storage.sql;
  }

  /**
   * The rotation's operation as clients see it, answered by this object: its re-sign jobs in
   * creation order, the first LISTED_JOBS of them (a rotation may own 100,000; the whole set pages
   * through `GET /v1/signjobs?did=&operationId=`, and `response.resignJobs` counts them).
   */
  operation(id: string, limit = LISTED_JOBS): Operation | null {
    const hot = this.sql
      .exec<{ id: string; seq: number }>("SELECT id, seq FROM jobs WHERE operation_id = ? ORDER BY seq LIMIT ?", id, limit)
      .toArray();
    // Re-sign jobs archived whole keep their place in the list (their cold rows name the operation).
    const cold = this.parts.cold.byOperation(id, 0, limit);
    const ids = [...hot, ...cold]
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit)
      .map((r) => r.id);
    return this.operations.toOperation(id, ids);
  }

  /** The operation's response: where the scan and the re-signing stand (a done rotation adds what it removed). */
  progress(r: RotationRow) {
    return {
      did: this.parts.did(),
      verificationMethodId: r.to_key,
      previousVerificationMethodIds: JSON.parse(r.from_keys) as string[],
      resignJobs: r.created,
      resigned: r.signed,
      scanComplete: r.cursor >= r.high,
      ...(r.document_operation ? { documentOperation: r.document_operation } : {}),
    };
  }

  /** The pending operation's response follows the scan (once per batch, not per signature). */
  setProgress(r: RotationRow, now: number): void {
    if (r.state !== "running") return;
    this.sql.exec(
      "UPDATE operations SET result = ?, updated_at = ? WHERE id = ? AND done = 0",
      JSON.stringify({ response: this.progress(r) }),
      now,
      r.id,
    );
    this.project(r.id, now);
  }

  /** Writes the operation to the outbox for D1, with its first PROJECTED_JOBS jobs. */
  project(id: string, now: number): void {
    const op = this.operation(id, PROJECTED_JOBS);
    if (op) this.parts.outbox.put(`operation:${id}`, operationWrite(this.parts.did(), op), now + OUTBOX_GRACE_MS);
  }
}
