import { fail, ok, type Result } from "../src/core/errors";
import type { Operation } from "../src/core/models";
import type { Issuance, IssuanceParts } from "./issuance";
import type { StatusChange, StatusChangeResult } from "./status-lists";

/** Per change: the flags after it, why it was refused (`code`), and the status-list job's operation. */
export type StatusChanges = { results: (Omit<StatusChangeResult, "listId"> & { operationId?: string })[]; operations: Operation[] };

/** The parts of the issuer object that a status change touches. */
export type StatusChangeParts = Pick<IssuanceParts, "meta" | "keys" | "engine" | "statusLists" | "custodial"> & {
  storage: DurableObjectStorage;
  objectId: string;
  issuance: Issuance;
};

/**
 * Revoking and suspending credentials: bits of this issuer's status lists set or cleared, each
 * change on its own, and every list whose bits moved re-signed (durable-objects/status-lists.ts
 * keeps the bits; this is the order of the steps around them).
 */
export class StatusUpdates {
  constructor(
    private readonly parts: StatusChangeParts,
    /** The object's delivery and re-arm after a change. */
    private readonly afterChange: () => Promise<void>,
  ) {}

  /**
   * Applies status changes (each on its own; refused ones carry a `code`), then re-signs every
   * list whose bits changed with one status-list job per list, folding into it any older pending one.
   */
  async apply(did: string, origin: string, changes: StatusChange[]): Promise<Result<StatusChanges>> {
    const { storage, objectId, meta, keys, engine, statusLists, custodial, issuance } = this.parts;
    if (meta.deactivated()) return fail("did_deactivated", meta.deactivatedDetail(did));
    // A list whose key was revoked falls back to another key of the DID: one this object may not have heard of yet.
    if (statusLists.unsignable(changes.map((c) => c.id))) await keys.refresh();
    // Every custodial key that would re-sign a touched list is unlocked before any bit moves.
    for (const key of statusLists.keysForCredentials(changes.map((c) => c.id))) {
      const ready = await custodial.ready(key);
      if (!ready.ok) return ready;
    }
    let results: StatusChangeResult[] = [];
    // The key check (no_signing_key) and the bits are one synchronous step: a revocation of the
    // key during the await above is seen here.
    storage.transactionSync(() => {
      results = statusLists.apply(changes, Date.now());
    });
    // No await between the change and the jobs: the bits signed are the bits just written.
    const groups = statusLists.publish(engine, origin, objectId);
    await issuance.dispatch(groups, origin);
    await this.afterChange();
    const operationOf = new Map(groups.flatMap((g) => [...g.operations]));
    const operationIds = new Set<string>();
    const answers = results.map(({ listId, ...r }) => {
      const operationId = listId ? operationOf.get(listId) : undefined;
      if (operationId) operationIds.add(operationId);
      return operationId ? { ...r, operationId } : r;
    });
    return ok({ results: answers, operations: [...operationIds].map((id) => engine.views.operation(id)!) });
  }
}
