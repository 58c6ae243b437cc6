/**
 * What every Worker-side did:ion change signed by an operation key shares (a key added and a
 * rotation's key removal, signed by the update key; a recover and a deactivate, signed by the
 * recovery key): the DID's ION record, the one-change-at-a-time rule, the next key Sidetree commits
 * to (generated for a custodial DID, `nextUpdateKeyJwk` / `nextRecoveryKeyJwk` for an external
 * one), and who signs: a custodial key here and now, an external one through a `did-operation` job.
 */
import { generateKeyPair, importSigner, unwrapPrivateKey, validatePublicJwk, wrapPrivateKey, type PublicJwk } from "../crypto";
import type { IdempotencyClaim } from "../core/idempotency";
import type { D1Write } from "../core/kinds";
import type { IssuerKey } from "../core/models";
import { createArtifacts } from "../http/artifacts";
import { ProblemError, badRequest, notFound } from "../http/errors";
import { newIssuerKey } from "../keys/model";
import { commitmentOf } from "./ion/hashing";
import type { Es256kPublicJwk, Patch } from "./ion/model";
import { prepareUpdate, signOperation, type PreparedOperation } from "./ion/operations";
import { applyPatches, renderDocument, type IonDidState } from "./ion/state";
import type { DidDocument } from "./documents";
import { custodyKek } from "./requested-key";

export type StoredOperationKey = { publicJwk: PublicJwk; keyRef?: string; encryptedPrivateKey?: string; version?: number };
export type OperationKeys = { update: StoredOperationKey; recovery: StoredOperationKey };
export type IonRecord = { suffix: string; state: IonDidState; keys: OperationKeys };

/** A did:ion DID's operation keys: the update key signs updates, the recovery key recovers and deactivates. */
export type OperationKeyRole = "update" | "recovery";

/** The object's id of an operation key of version `v`: `#ion-update`, then `#ion-update-1`, ... (likewise `#ion-recovery`). */
export const operationKeyId = (did: string, role: OperationKeyRole, v: number) => `${did}#ion-${role}${v === 0 ? "" : `-${v}`}`;

/** How a request names the next key of a role, and the commitment to it in the DID's state. */
const NEXT_KEY = {
  update: { jwk: "nextUpdateKeyJwk", ref: "nextUpdateKeyRef", commitment: "updateCommitment", operation: "update" },
  recovery: { jwk: "nextRecoveryKeyJwk", ref: "nextRecoveryKeyRef", commitment: "recoveryCommitment", operation: "recover" },
} as const;

/** The members of a request that give the next operation keys of an external DID. */
export type NextKeysGiven = {
  nextUpdateKeyJwk?: unknown;
  nextUpdateKeyRef?: string | undefined;
  nextRecoveryKeyJwk?: unknown;
  nextRecoveryKeyRef?: string | undefined;
};

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

/**
 * The `role` key after this change: generated (custodial) or the request's `nextUpdateKeyJwk` /
 * `nextRecoveryKeyJwk` (external), which must differ from the current one (Sidetree commits to it).
 */
export async function nextOperationKey(
  env: Env,
  did: string,
  custody: string,
  record: IonRecord,
  role: OperationKeyRole,
  body: NextKeysGiven,
): Promise<StoredOperationKey> {
  const names = NEXT_KEY[role];
  const version = (record.keys[role].version ?? 0) + 1;
  const given = body[names.jwk];
  const ref = body[names.ref];
  if (custody === "custodial") {
    if (given !== undefined || ref !== undefined)
      throw badRequest(names.jwk, `this DID's ${role} keys are custodial: the service makes the next one`);
    const kek = custodyKek(env);
    const pair = await generateKeyPair("secp256k1");
    const next = {
      publicJwk: pair.publicJwk,
      encryptedPrivateKey: await wrapPrivateKey(kek, operationKeyId(did, role, version), pair.privateKey),
      version,
    };
    pair.privateKey.fill(0);
    return next;
  }
  if (given === undefined) throw badRequest(names.jwk, `required: Sidetree commits to the next ${role} key in every ${names.operation}`);
  const checked = validatePublicJwk("secp256k1", given, names.jwk);
  if (!checked.ok)
    throw new ProblemError(400, "invalid_public_key", checked.detail, [{ path: checked.path ?? names.jwk, message: checked.detail }]);
  if ((await commitmentOf(checked.value)) === record.state[names.commitment])
    throw badRequest(names.jwk, `the next ${role} key must differ from the current one`);
  return { publicJwk: checked.value, ...(ref !== undefined ? { keyRef: ref } : {}), version };
}

/** What a Sidetree update of the DID's keys makes: the operation to sign, and the document and D1 writes once anchored. */
export interface PreparedKeyUpdate {
  prepared: PreparedOperation;
  document: DidDocument;
  /** The DID's new ION state (with the next update key) and document in D1. */
  onDone: D1Write[];
}

/** The update applying one patch of the DID's keys, signed by the current update key and committing to `next`. */
export async function prepareKeyUpdate(
  did: string,
  record: IonRecord,
  next: StoredOperationKey,
  patch: Extract<Patch, { action: "add-public-keys" | "remove-public-keys" }>,
): Promise<PreparedKeyUpdate> {
  const prepared = await prepareUpdate({
    didSuffix: record.suffix,
    updateKey: record.keys.update.publicJwk as Es256kPublicJwk,
    nextUpdateKey: next.publicJwk as Es256kPublicJwk,
    ...(patch.action === "add-public-keys" ? { addPublicKeys: patch.publicKeys } : { removePublicKeyIds: patch.ids }),
  });
  const state: IonDidState = {
    ...record.state,
    document: applyPatches(record.state.document, [patch])!,
    updateCommitment: (prepared.unsigned as { delta: { updateCommitment: string } }).delta.updateCommitment,
  };
  const document = renderDocument(did, state.document);
  const onDone: D1Write[] = [
    {
      sql: "UPDATE ion_dids SET state = ?, operation_keys = ? WHERE did = ?",
      params: [JSON.stringify(state), JSON.stringify({ ...record.keys, update: next }), did],
    },
    { sql: "UPDATE dids SET document = ? WHERE did = ?", params: [JSON.stringify(document), did] },
  ];
  return { prepared, document, onDone };
}

/** Signs a prepared operation with the DID's custodial `role` key. */
export async function signWithOperationKey(env: Env, did: string, record: IonRecord, role: OperationKeyRole, prepared: PreparedOperation) {
  const kek = custodyKek(env);
  const key = record.keys[role];
  const d = await unwrapPrivateKey(kek, operationKeyId(did, role, key.version ?? 0), key.encryptedPrivateKey!);
  try {
    return await signOperation(prepared, await importSigner("secp256k1", d, key.publicJwk));
  } finally {
    d.fill(0);
  }
}

/** An external `role` key as the issuer object knows it: a key of the DID that signs did-operation jobs only. */
export function externalOperationKey(did: string, record: IonRecord, role: OperationKeyRole): Promise<IssuerKey> {
  const key = record.keys[role];
  return newIssuerKey({
    id: operationKeyId(did, role, key.version ?? 0),
    did,
    keyType: "secp256k1",
    custody: "external",
    keyRef: key.keyRef,
    publicJwk: key.publicJwk,
    createdAt: Date.now(),
  });
}

/**
 * The `did-operation` sign job by which an external operation key signs the Sidetree operation
 * anchored as `anchorOperationId`; its signature lands in the anchoring (durable-objects/kinds/did-operation.ts).
 */
export async function createDidOperationJob(
  env: Env,
  origin: string,
  signer: IssuerKey,
  anchorOperationId: string,
  job: { unsigned: Record<string, unknown>; signingInput: string },
  claim: IdempotencyClaim & { fromClient: boolean },
): Promise<void> {
  const input = { anchorOperationId, operationId: `${anchorOperationId}/signature`, ...job };
  await createArtifacts(
    env,
    origin,
    [{ issuer: signer.did, verificationMethodId: signer.id, artifact: { kind: "did-operation", input } }],
    claim,
  );
}
