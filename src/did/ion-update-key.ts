/**
 * What every Worker-side did:ion change signed by the update key shares (a key added, a rotation's
 * key removal): the DID's ION record, the one-change-at-a-time rule, the next update key Sidetree
 * commits to (generated for a custodial DID, `nextUpdateKeyJwk` for an external one), and who
 * signs: a custodial update key here and now, an external one through a `did-operation` job.
 */
import { generateKeyPair, importSigner, unwrapPrivateKey, validatePublicJwk, wrapPrivateKey, type PublicJwk } from "../crypto";
import type { IssuerKey } from "../core/models";
import { ProblemError, badRequest, notFound } from "../http/errors";
import { newIssuerKey } from "../keys/model";
import { commitmentOf } from "./ion/hashing";
import { signOperation, type PreparedOperation } from "./ion/operations";
import type { IonDidState } from "./ion/state";
import { custodyKek } from "./requested-key";

export type StoredOperationKey = { publicJwk: PublicJwk; keyRef?: string; encryptedPrivateKey?: string; version?: number };
export type OperationKeys = { update: StoredOperationKey; recovery: StoredOperationKey };
export type IonRecord = { suffix: string; state: IonDidState; keys: OperationKeys };

/** The object's id of the update key of version `v`: `#ion-update`, then `#ion-update-1`, ... */
export const updateKeyId = (did: string, v: number) => `${did}#ion-update${v === 0 ? "" : `-${v}`}`;

/** The DID's ION record, with the rule that one change is anchored at a time (Sidetree chains updates). */
export async function ionRecord(db: D1Database, did: string): Promise<IonRecord> {
  const ion = await db
    .prepare("SELECT suffix, state, operation_keys FROM ion_dids WHERE did = ?")
    .bind(did)
    .first<{ suffix: string; state: string; operation_keys: string }>();
  if (!ion) throw notFound(`DID ${did}`);
  // A prefix range, not LIKE: D1 caps LIKE patterns at 50 bytes, and a suffix alone is 46.
  const prefix = `dids/ion/${ion.suffix}/`;
  const pending = await db
    .prepare("SELECT id FROM operations WHERE issuer = ? AND id >= ? AND id < ? AND done = 0 LIMIT 1")
    .bind(did, prefix, `${prefix.slice(0, -1)}0`)
    .first<{ id: string }>();
  if (pending) throw new ProblemError(409, "did_operation_pending", `${pending.id} is not anchored yet; change the DID once it is done`);
  const state = JSON.parse(ion.state) as IonDidState;
  if (state.deactivated) throw new ProblemError(409, "did_deactivated", `${did} is deactivated: it cannot change`);
  return { suffix: ion.suffix, state, keys: JSON.parse(ion.operation_keys) as OperationKeys };
}

/** The update key after this change: generated (custodial) or the request's `nextUpdateKeyJwk` (external). */
export async function nextUpdateKey(
  env: Env,
  did: string,
  custody: string,
  record: IonRecord,
  body: { nextUpdateKeyJwk?: unknown; nextUpdateKeyRef?: string | undefined },
): Promise<StoredOperationKey> {
  const version = (record.keys.update.version ?? 0) + 1;
  if (custody === "custodial") {
    if (body.nextUpdateKeyJwk !== undefined || body.nextUpdateKeyRef !== undefined)
      throw badRequest("nextUpdateKeyJwk", "this DID's update keys are custodial: the service makes the next one");
    const kek = custodyKek(env);
    const pair = await generateKeyPair("secp256k1");
    const next = {
      publicJwk: pair.publicJwk,
      encryptedPrivateKey: await wrapPrivateKey(kek, updateKeyId(did, version), pair.privateKey),
      version,
    };
    pair.privateKey.fill(0);
    return next;
  }
  if (body.nextUpdateKeyJwk === undefined)
    throw badRequest("nextUpdateKeyJwk", "required: Sidetree commits to the next update key in every update");
  const checked = validatePublicJwk("secp256k1", body.nextUpdateKeyJwk, "nextUpdateKeyJwk");
  if (!checked.ok)
    throw new ProblemError(400, "invalid_public_key", checked.detail, [
      { path: checked.path ?? "nextUpdateKeyJwk", message: checked.detail },
    ]);
  if ((await commitmentOf(checked.value)) === record.state.updateCommitment)
    throw badRequest("nextUpdateKeyJwk", "the next update key must differ from the current one");
  return { publicJwk: checked.value, ...(body.nextUpdateKeyRef !== undefined ? { keyRef: body.nextUpdateKeyRef } : {}), version };
}

/** Signs a prepared update with the DID's custodial update key. */
export async function signWithUpdateKey(env: Env, did: string, record: IonRecord, prepared: PreparedOperation) {
  const kek = custodyKek(env);
  const update = record.keys.update;
  const d = await unwrapPrivateKey(kek, updateKeyId(did, update.version ?? 0), update.encryptedPrivateKey!);
  try {
    return await signOperation(prepared, await importSigner("secp256k1", d, update.publicJwk));
  } finally {
    d.fill(0);
  }
}

/** The external update key as the issuer object knows it: a key of the DID that signs did-operation jobs only. */
export function externalUpdateKey(did: string, record: IonRecord): Promise<IssuerKey> {
  const update = record.keys.update;
  return newIssuerKey({
    id: updateKeyId(did, update.version ?? 0),
    did,
    keyType: "secp256k1",
    custody: "external",
    keyRef: update.keyRef,
    publicJwk: update.publicJwk,
    createdAt: Date.now(),
  });
}
