/**
 * Anchoring did:ion operations: each is an Operation (`dids/ion/{suffix}` for a create,
 * `dids/ion/{suffix}/keys/{keyId}` for a key added) whose Sidetree request is posted to the ION
 * node until the node accepts it. The request and its retry schedule live in the object's SQLite
 * next to the operation, so an eviction or a crash between attempts loses nothing; the object's
 * one alarm wakes for the next attempt, and every change of the operation reaches D1 through the
 * outbox like any other. An operation signed by an external update key waits (request NULL) for
 * its `did-operation` sign job, whose kind hands the signed request over (`submitInside`). A held
 * one (a did:ion rotation's key removal) is not posted until it is released (`releaseInside`).
 */
import type { D1Write } from "../src/core/kinds";
import type { Operation, OperationResult } from "../src/core/models";
import { ANCHOR_MAX_ATTEMPTS, anchorBackoffMs, postOperation, type Fetcher } from "../src/did/ion/node-client";
import { OperationRequest } from "../src/did/ion/model";
import { OperationStore, operationWrite } from "./operations";
import type { Outbox } from "./outbox";
import { OUTBOX_GRACE_MS, type AnchorService } from "./engine";

/** Anchors posted per run; more wait for the next change or the alarm. */
const RUN_LIMIT = 20;

type AnchorRow = {
  operation_id: string;
  held: number;
  request: string | null;
  attempts: number;
  next_at: number | null;
  response: string;
  on_done: string;
};

export class IonAnchors implements AnchorService {
  private readonly operations: OperationStore;
  /**
   * Whether an anchor may have come due since the last look (`runIfTouched`): after a wake, a
   * start or a signed request. Every change looks for due anchors so a new one is posted at once;
   * an issuer that never anchors should not pay a statement per create for it. Anchors due later
   * (backoff) are the alarm's, which always looks.
   */
  private touched = true;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly outbox: Outbox,
    private readonly did: () => string,
    private readonly fetcher?: Fetcher,
    /** Told of every operation the node accepted, after its transaction (a deactivate ends the issuer). */
    private readonly accepted: (request: OperationRequest) => void = () => {},
  ) {
    this.operations = new OperationStore(storage.sql);
  }

  private get sql(): SqlStorage {
    return this.storage.sql;
  }

  private project(id: string, now: number): Operation | null {
    const op = this.operations.toOperation(id, []);
    if (op) this.outbox.put(`operation:${id}`, operationWrite(this.did(), op), now + OUTBOX_GRACE_MS);
    return op;
  }

  /**
   * Records the operation, due at once when `request` is given, else waiting for its signature.
   * `onDone`: D1 writes that take effect when the node accepts. The same id again changes nothing.
   */
  start(operationId: string, request: unknown | null, response: unknown, onDone: D1Write[], now: number, held = false): Operation {
    const parsed = request === null ? null : OperationRequest.parse(request);
    this.touched = true;
    this.storage.transactionSync(() => {
      if (!this.operations.create(operationId, response, now)) return;
      this.sql.exec(
        "INSERT INTO ion_anchors (operation_id, request, attempts, next_at, response, on_done, held) VALUES (?, ?, 0, ?, ?, ?, ?)",
        operationId,
        parsed === null ? null : JSON.stringify(parsed),
        parsed === null || held ? null : now,
        JSON.stringify(response ?? null),
        JSON.stringify(onDone),
        held ? 1 : 0,
      );
      this.project(operationId, now);
    });
    return this.operations.toOperation(operationId, [])!;
  }

  /** Inside a transaction (a did-operation job was signed): the signed request is due now. */
  submitInside(operationId: string, request: unknown, now: number): void {
    const parsed = OperationRequest.parse(request);
    this.touched = true;
    this.sql.exec(
      "UPDATE ion_anchors SET request = ?, next_at = CASE WHEN held = 1 THEN NULL ELSE ? END WHERE operation_id = ? AND request IS NULL",
      JSON.stringify(parsed),
      now,
      operationId,
    );
  }

  /** Inside a transaction (what it waited for is done): a held anchoring is due once it is signed. */
  releaseInside(operationId: string, now: number): void {
    this.touched = true;
    this.sql.exec(
      "UPDATE ion_anchors SET held = 0, next_at = CASE WHEN request IS NOT NULL THEN ? END WHERE operation_id = ? AND held = 1",
      now,
      operationId,
    );
  }

  /** Inside a transaction (the did-operation job ended unsigned): the anchoring fails, nothing changes. */
  failInside(operationId: string, error: string, code: string, now: number): void {
    const row = this.sql.exec<AnchorRow>("SELECT * FROM ion_anchors WHERE operation_id = ?", operationId).toArray()[0];
    if (row) this.finishInside(row, { error, code }, now);
  }

  get(operationId: string): Operation | null {
    return this.operations.toOperation(operationId, []);
  }

  /** When an anchoring attempt is next due (due.ts); only counted when an ION node is configured. */
  static readonly DUE = ["SELECT min(next_at) AS t FROM ion_anchors"];

  private finishInside(row: AnchorRow, result: OperationResult, now: number): void {
    this.sql.exec(
      "UPDATE operations SET done = 1, result = ?, updated_at = ? WHERE id = ? AND done = 0",
      JSON.stringify(result),
      now,
      row.operation_id,
    );
    this.sql.exec("DELETE FROM ion_anchors WHERE operation_id = ?", row.operation_id);
    if (result.response !== undefined) {
      (JSON.parse(row.on_done) as D1Write[]).forEach((w, i) => this.outbox.put(`ion:${row.operation_id}:${i}`, w, now + OUTBOX_GRACE_MS));
    }
    this.project(row.operation_id, now);
  }

  private finish(row: AnchorRow, result: OperationResult, now: number): void {
    this.storage.transactionSync(() => this.finishInside(row, result, now));
  }

  /**
   * Posts every anchor due by `now`. Accepted: the operation is done with its response and its
   * D1 writes go out. Refused (the node found it invalid): failed, no retry. Node down: retried
   * with backoff, failed after ANCHOR_MAX_ATTEMPTS. Without ION_NODE_URL nothing is posted.
   */
  async run(nodeUrl: string | undefined, now: number): Promise<void> {
    if (!nodeUrl) return;
    this.touched = false;
    const due = this.sql.exec<AnchorRow>("SELECT * FROM ion_anchors WHERE next_at <= ? ORDER BY next_at LIMIT ?", now, RUN_LIMIT).toArray();
    if (due.length === RUN_LIMIT) this.touched = true;
    for (const row of due) {
      const outcome = await postOperation(nodeUrl, OperationRequest.parse(JSON.parse(row.request!)), this.fetcher);
      const at = Date.now();
      if (outcome.ok) {
        this.finish(row, { response: { ...(JSON.parse(row.response) as object), anchored: true } }, at);
        this.accepted(OperationRequest.parse(JSON.parse(row.request!)));
      } else if (!outcome.retry) {
        this.finish(row, { error: outcome.reason, code: "anchor_refused" }, at);
      } else if (row.attempts + 1 >= ANCHOR_MAX_ATTEMPTS) {
        this.finish(row, { error: `${outcome.reason} (gave up after ${row.attempts + 1} attempts)`, code: "anchor_failed" }, at);
      } else {
        this.sql.exec(
          "UPDATE ion_anchors SET attempts = attempts + 1, next_at = ? WHERE operation_id = ?",
          at + anchorBackoffMs(row.attempts),
          row.operation_id,
        );
      }
    }
  }

  /** After a change: `run`, unless nothing can have come due since the last look. */
  runIfTouched(nodeUrl: string | undefined, now: number): Promise<void> {
    return this.touched ? this.run(nodeUrl, now) : Promise.resolve();
  }
}
