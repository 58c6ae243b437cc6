import { fail, ok, type Result } from "../src/core/errors";
import type { D1Write } from "../src/core/kinds";
import type { IssuerKey, Operation } from "../src/core/models";
import type { IonAnchors } from "./ion-anchors";
import type { Issuance, IssuanceParts } from "./issuance";
import type { SignerSockets } from "./signer-sockets";

/** A did:ion rotation's Sidetree update removing the old keys (src/did/ion-rotate.ts prepares it). */
export interface IonKeyRemoval {
  /** The keys it removes: what `planRotation` answered. */
  from: string[];
  /** Its anchoring Operation, `dids/ion/<suffix>/rotations/<id>`. */
  operationId: string;
  /** Signed already (custodial update key), or null: a did-operation job signed by `updateKey` brings it. */
  request: unknown | null;
  response: unknown;
  /** The DID's new state and document in D1, once the node accepted it. */
  onDone: D1Write[];
  /** An external update key, registered here so its did-operation job can be created and verified. */
  updateKey?: IssuerKey;
}

/** What a rotation asks for: the new signing key and the one the DID's document names now. */
export type RotationInput = { to: string; from: string | null; method: string; origin: string; ion?: IonKeyRemoval };

/** The parts of the issuer object that a change of its keys or its DID's life touches. */
export type KeyChangeParts = Pick<IssuanceParts, "meta" | "keys" | "engine" | "statusLists" | "custodial" | "rotations"> & {
  objectId: string;
  anchors: IonAnchors;
  sockets: SignerSockets;
  issuance: Issuance;
};

/**
 * The changes to which keys may sign for the issuer: a rotation to another key (planned, then
 * started), a key revoked, the DID deactivated (deleted through the API, or its did:ion deactivated
 * at the node). Each ends the work of the keys it takes away; the object's RPC methods bind the DID.
 */
export class KeyChanges {
  constructor(
    private readonly parts: KeyChangeParts,
    /** The object's delivery and re-arm after a change. */
    private readonly afterChange: () => Promise<void>,
  ) {}

  /**
   * The checks of a rotation to `to`, and the keys it would take out of the document: the DID's
   * current signing key as its document says (`from`), joined by keys a failed rotation left behind.
   */
  async planRotation(did: string, input: { to: string; from: string | null }): Promise<Result<{ from: string[] }>> {
    const { meta, keys, rotations, custodial } = this.parts;
    if (meta.deactivated()) return fail("did_deactivated", meta.deactivatedDetail(did));
    const to = await keys.get(input.to);
    if (!to) return fail("not_found", `verification method ${input.to} not found for ${did}`);
    if (to.revoked) return fail("key_revoked", `key ${to.id} is revoked`);
    if (rotations.successor(to.id) !== to.id) return fail("conflict", `key ${to.id} was rotated away`);
    const ready = await custodial.ready(to);
    if (!ready.ok) return ready;
    const from = new Set(rotations.leftOver(to.id));
    if (input.from !== null && input.from !== to.id) {
      const current = await keys.get(input.from);
      if (current && !current.revoked && rotations.successor(current.id) === current.id) from.add(current.id);
    }
    return ok({ from: [...from].sort() });
  }

  /**
   * Starts a rotation (durable-objects/rotations.ts) after the checks of `planRotation`. did:ion
   * (`ion`): the Sidetree update removing the old keys, prepared for exactly `ion.from`, is held as
   * an anchoring until the rotation is done (signed already, or waiting for its did-operation job
   * signed by `ion.updateKey`).
   */
  async startRotation(did: string, input: RotationInput): Promise<Result<Operation>> {
    const { keys, rotations, anchors, issuance, statusLists, engine, objectId } = this.parts;
    const plan = await this.planRotation(did, input);
    if (!plan.ok) return plan;
    const to = (await keys.get(input.to))!;
    const from = plan.value.from;
    // The update was prepared for a set of keys: another change since (a failed rotation) asks for a new one.
    if (input.ion && JSON.stringify(input.ion.from) !== JSON.stringify(from))
      return fail("conflict", "the keys to rotate away changed meanwhile; retry");
    const started = rotations.start(
      { to, from, method: input.method, origin: input.origin, ...(input.ion ? { documentOperation: input.ion.operationId } : {}) },
      Date.now(),
    );
    if (!started.ok) return started;
    if (input.ion) {
      const { operationId, request, response, onDone, updateKey } = input.ion;
      if (updateKey) keys.put(updateKey);
      anchors.start(operationId, request, response, onDone, Date.now(), true);
    }
    // The lists the old keys signed, signed again by the new key now (custodial) or by its signers.
    await issuance.dispatch(statusLists.publish(engine, input.origin, objectId), input.origin);
    await this.afterChange();
    return ok(rotations.views.operation(started.value.id)!);
  }

  /** A revoked key signs nothing more: its pending jobs are cancelled and their operations fail, in D1 too. */
  revoke(verificationMethodId: string): Promise<{ cancelled: string[] }> {
    this.parts.keys.revoke(verificationMethodId);
    this.parts.meta.bumpAuthEpoch();
    return this.cancelPending(verificationMethodId, "signing key revoked");
  }

  /** The DID was deleted: no new jobs, and every pending one is cancelled. */
  deactivate(): Promise<{ cancelled: string[] }> {
    this.parts.meta.deactivate(Date.now());
    return this.cancelPending(undefined, "issuer DID deleted");
  }

  /** The same, from inside the object (a did:ion deactivate accepted by the node): open sockets see it at their next frame. */
  deactivateNow(reason: string): void {
    const { meta, engine } = this.parts;
    meta.deactivate(Date.now());
    meta.bumpAuthEpoch();
    engine.end(engine.jobs.pending(), { to: "cancelled", code: "cancelled", reason });
  }

  private async cancelPending(vmId: string | undefined, reason: string): Promise<{ cancelled: string[] }> {
    const { engine, sockets } = this.parts;
    const cancelled = engine.end(engine.jobs.pending(vmId), { to: "cancelled", code: "cancelled", reason });
    await sockets.recheck();
    await this.afterChange();
    return { cancelled };
  }
}
