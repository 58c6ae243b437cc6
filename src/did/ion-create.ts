/**
 * `PUT /v1/dids/ion`: the Sidetree create operation is built here (src/did/ion/create.ts), the
 * DID, its signing key and its ION record are stored in one D1 batch, and with ION_NODE_URL set
 * the create is handed to the issuer object to anchor (Operation `dids/ion/<suffix>`).
 */
import { wrapPrivateKey } from "../crypto";
import type { IssuerKey, Operation } from "../core/models";
import { ProblemError } from "../http/errors";
import { issuerByName } from "../issuer-client";
import { newIssuerKey } from "../keys/model";
import { planIonDid, type IonKeyInput, type IonPlannedKey } from "./ion/create";
import { stateFromCreate, type IonDidState } from "./ion/state";
import type { DidDocument } from "./documents";
import { NO_KEK_FOR_NEW_DID, custodyKek } from "./requested-key";
import { operationKeyId, type StoredOperationKey } from "./ion-update-key";

export interface IonCreated {
  did: DidDocument;
  longFormDid: string;
  operation?: Operation;
}

/** Builds, stores and (with a node) anchors a did:ion. Throws problems for bad input. */
export async function createIonDid(
  env: Env,
  input: IonKeyInput,
  store: (did: string, document: DidDocument, key: IssuerKey, extra: D1PreparedStatement[], longFormDid: string) => Promise<void>,
): Promise<IonCreated> {
  const kek = input.custody === "custodial" ? custodyKek(env, NO_KEK_FOR_NEW_DID) : null;
  const plan = await planIonDid(input);
  if (!plan.ok) {
    throw new ProblemError(400, plan.code, plan.detail, [{ path: plan.path ?? "body", message: plan.detail }]);
  }
  const { created, document, keys } = plan.value;
  const did = created.shortFormDid;
  const now = Date.now();
  const wrap = async (id: string, k: IonPlannedKey): Promise<StoredOperationKey> => {
    const stored: StoredOperationKey = { publicJwk: k.publicJwk, ...(k.keyRef !== undefined ? { keyRef: k.keyRef } : {}) };
    if (k.privateKey) {
      stored.encryptedPrivateKey = await wrapPrivateKey(kek!, id, k.privateKey);
      k.privateKey.fill(0);
    }
    return stored;
  };
  const [signing, update, recovery] = keys as [IonPlannedKey, IonPlannedKey, IonPlannedKey];
  const key = await newIssuerKey({
    id: document.verificationMethod[0]!.id,
    did,
    keyType: signing.keyType,
    custody: input.custody,
    keyRef: signing.keyRef,
    publicJwk: signing.publicJwk,
    privateKey: signing.privateKey ? { bytes: signing.privateKey, kek: kek! } : undefined,
    createdAt: now,
  });
  const operationKeys = {
    update: await wrap(operationKeyId(did, "update", 0), update),
    recovery: await wrap(operationKeyId(did, "recovery", 0), recovery),
  };
  const state = (await stateFromCreate(created.request))!;
  const ionRow = env.DB.prepare(
    "INSERT INTO ion_dids (did, suffix, long_form, state, operation_keys, created_at) VALUES (?, ?, ?, ?, ?, ?)",
  ).bind(did, created.didSuffix, created.longFormDid, JSON.stringify(state), JSON.stringify(operationKeys), now);
  await store(did, document, key, [ionRow], created.longFormDid);
  const answer: IonCreated = { did: document, longFormDid: created.longFormDid };
  if (env.ION_NODE_URL) {
    answer.operation = await issuerByName(env, did).anchorIon(did, `dids/ion/${created.didSuffix}`, created.request, {
      did,
      longFormDid: created.longFormDid,
    });
  }
  return answer;
}

/** The service's own record of a did:ion, for the resolver: newer than any long form, known before anchoring. */
export async function managedIonState(db: D1Database, didSuffix: string): Promise<{ state: IonDidState; published: boolean } | null> {
  const row = await db
    .prepare(
      `SELECT i.state AS state, o.done AS done, o.code AS code, o.result AS result, d.deleted_at AS deleted_at FROM ion_dids i
       JOIN dids d ON d.did = i.did LEFT JOIN operations o ON o.id = 'dids/ion/' || i.suffix WHERE i.suffix = ?`,
    )
    .bind(didSuffix)
    .first<{ state: string; done: number | null; code: string | null; result: string | null; deleted_at: number | null }>();
  if (!row) return null;
  const state = JSON.parse(row.state) as IonDidState;
  // Failed anchoring has a code (rows from before 0013 may say so only in their result).
  const failed = row.code !== null || (row.result !== null && "error" in (JSON.parse(row.result) as object));
  const published = row.done === 1 && !failed;
  return { state: row.deleted_at !== null ? { ...state, deactivated: true } : state, published };
}
