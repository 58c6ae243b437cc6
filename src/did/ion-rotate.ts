/**
 * A did:ion rotation's document change: the Sidetree update that takes the rotated-away keys out of
 * the ION document, signed by the DID's update key. It is prepared when the rotation starts (for
 * exactly the keys the issuer object will rotate away) and handed to the object, which holds its
 * anchoring until every re-sign job is signed (durable-objects/rotations.ts): the old keys must stay
 * resolvable while their JWTs are the only ones. A custodial update key signs it here; an external
 * one signs a `did-operation` job, with the next update key from the request (`nextUpdateKeyJwk`).
 */
import type { D1Write } from "../core/kinds";
import type { IonKeyRemoval } from "../../durable-objects/issuer";
import { ProblemError } from "../http/errors";
import { prepareUpdate } from "./ion/operations";
import { applyPatches, renderDocument, type IonDidState } from "./ion/state";
import type { Es256kPublicJwk } from "./ion/model";
import { externalUpdateKey, ionRecord, nextUpdateKey, signWithUpdateKey } from "./ion-update-key";

export interface PreparedRemoval {
  removal: IonKeyRemoval;
  /** An external update key: the did-operation job to create once the rotation has started. */
  job?: { unsigned: Record<string, unknown>; signingInput: string };
}

/**
 * The update removing `from` (verification method ids) from the ION document, or null when none of
 * them is in it. Refused before anything changes: an external DID without `nextUpdateKeyJwk` (400),
 * another DID operation not anchored yet (409), no ION node to anchor an external key's update at.
 */
export async function prepareKeyRemoval(
  env: Env,
  did: string,
  custody: string,
  from: string[],
  body: { nextUpdateKeyJwk?: unknown; nextUpdateKeyRef?: string | undefined },
): Promise<PreparedRemoval | null> {
  const record = await ionRecord(env.DB, did);
  const next = await nextUpdateKey(env, did, custody, record, body);
  if (!env.ION_NODE_URL) {
    if (custody === "external")
      throw new ProblemError(409, "conflict", "an external update key's change is anchored: ION_NODE_URL is not set");
    // No node to anchor at: the document keeps its keys (README "did:ion").
    return null;
  }
  const present = new Set((record.state.document.publicKeys ?? []).map((k) => k.id));
  const ids = from.map((vm) => vm.slice(did.length + 1)).filter((id) => present.has(id));
  if (ids.length === 0) return null;
  const prepared = await prepareUpdate({
    didSuffix: record.suffix,
    updateKey: record.keys.update.publicJwk as Es256kPublicJwk,
    nextUpdateKey: next.publicJwk as Es256kPublicJwk,
    removePublicKeyIds: ids,
  });
  const nextState: IonDidState = {
    ...record.state,
    document: applyPatches(record.state.document, [{ action: "remove-public-keys", ids }])!,
    updateCommitment: (prepared.unsigned as { delta: { updateCommitment: string } }).delta.updateCommitment,
  };
  const onDone: D1Write[] = [
    {
      sql: "UPDATE ion_dids SET state = ?, operation_keys = ? WHERE did = ?",
      params: [JSON.stringify(nextState), JSON.stringify({ ...record.keys, update: next }), did],
    },
    { sql: "UPDATE dids SET document = ? WHERE did = ?", params: [JSON.stringify(renderDocument(did, nextState.document)), did] },
  ];
  const operationId = `dids/ion/${record.suffix}/rotations/${crypto.randomUUID()}`;
  const removal: IonKeyRemoval = { from, operationId, request: null, response: { did, removed: from }, onDone };
  if (custody === "custodial") return { removal: { ...removal, request: await signWithUpdateKey(env, did, record, prepared) } };
  return {
    removal: { ...removal, updateKey: await externalUpdateKey(did, record) },
    job: { unsigned: prepared.unsigned as Record<string, unknown>, signingInput: prepared.signingInput },
  };
}
