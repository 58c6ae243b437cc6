/**
 * A did:ion rotation's document change: the Sidetree update that takes the rotated-away keys out of
 * the ION document, signed by the DID's update key. It is prepared when the rotation starts (for
 * exactly the keys the issuer object will rotate away) and handed to the object, which holds its
 * anchoring until every re-sign job is signed (durable-objects/rotations.ts): the old keys must stay
 * resolvable while their JWTs are the only ones. A custodial update key signs it here; an external
 * one signs a `did-operation` job, with the next update key from the request (`nextUpdateKeyJwk`).
 */
import type { IonKeyRemoval } from "../../durable-objects/issuer";
import { ProblemError } from "../http/errors";
import { externalOperationKey, ionRecord, nextOperationKey, prepareKeyUpdate, signWithOperationKey } from "./ion-update-key";

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
  const next = await nextOperationKey(env, did, custody, record, "update", body);
  if (!env.ION_NODE_URL) {
    if (custody === "external")
      throw new ProblemError(409, "conflict", "an external update key's change is anchored: ION_NODE_URL is not set");
    // No node to anchor at: the document keeps its keys (README "did:ion").
    return null;
  }
  const present = new Set((record.state.document.publicKeys ?? []).map((k) => k.id));
  const ids = from.map((vm) => vm.slice(did.length + 1)).filter((id) => present.has(id));
  if (ids.length === 0) return null;
  const { prepared, onDone } = await prepareKeyUpdate(did, record, next, { action: "remove-public-keys", ids });
  const operationId = `dids/ion/${record.suffix}/rotations/${crypto.randomUUID()}`;
  const removal: IonKeyRemoval = { from, operationId, request: null, response: { did, removed: from }, onDone };
  if (custody === "custodial")
    return { removal: { ...removal, request: await signWithOperationKey(env, did, record, "update", prepared) } };
  return {
    removal: { ...removal, updateKey: await externalOperationKey(did, record, "update") },
    job: { unsigned: prepared.unsigned as Record<string, unknown>, signingInput: prepared.signingInput },
  };
}
