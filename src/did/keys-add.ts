/**
 * `PUT /v1/dids/{method}/{did}/keys`: adds a key to a DID whose document can change.
 * did:key and did:jwk are their key: 409 `did_immutable`. did:web: the key joins the document the
 * service serves at once. did:ion: a Sidetree update adding the key, signed by the update key
 * (custodial: here and now; external: a `did-operation` sign job) and anchored as Operation
 * `dids/ion/{suffix}/keys/{keyId}`; the document changes when the node accepts it. Sidetree
 * commits to the next update key in every update, so an external DID sends `nextUpdateKeyJwk`.
 */
import { z } from "@hono/zod-openapi";
import type { D1Write } from "../core/kinds";
import type { IssuerKey, Operation } from "../core/models";
import type { IdempotencyClaim } from "../core/idempotency";
import { ProblemError, badRequest, notFound } from "../http/errors";
import { issuerByName } from "../issuer-client";
import { newIssuerKey } from "../keys/model";
import { freeFormObject } from "../core/json-depth";
import { KeyTypeSchema } from "./schemas";
import type { DidDocument } from "./documents";
import { getDid } from "./store";
import { NO_KEK, requestedKey } from "./requested-key";
import { ionSigningKey } from "./ion/create";
import {
  createDidOperationJob,
  externalOperationKey,
  ionRecord,
  nextOperationKey,
  prepareKeyUpdate,
  signWithOperationKey,
} from "./ion-update-key";

export const AddKeyRequest = z
  .object({
    keyType: KeyTypeSchema,
    custody: z.enum(["custodial", "external"]).default("custodial"),
    publicKeyJwk: freeFormObject().optional(),
    keyRef: z.string().min(1).max(512).optional(),
    nextUpdateKeyJwk: freeFormObject()
      .optional()
      .openapi({ description: "did:ion, external update key: the next update key Sidetree commits to" }),
    nextUpdateKeyRef: z.string().min(1).max(512).optional(),
  })
  .strict()
  .openapi("AddKeyRequest");

export const AddKeyResponse = z
  .object({
    did: z.record(z.string(), z.unknown()),
    verificationMethodId: z.string(),
    operation: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi("AddKeyResponse");

type Body = z.infer<typeof AddKeyRequest>;

const RELATIONS = ["authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation"] as const;

/** The next free `key-N` of a DID: past every key it ever had, revoked ones included (their ids stay taken). */
async function nextKeyId(db: D1Database, did: string, doc: DidDocument): Promise<string> {
  const rows = (await db.prepare("SELECT id FROM keys WHERE did = ?").bind(did).all<{ id: string }>()).results;
  const used = [...rows.map((r) => r.id), ...doc.verificationMethod.map((vm) => vm.id)].map((id) =>
    Number(/#key-(\d+)$/.exec(id)?.[1] ?? 0),
  );
  return `key-${Math.max(0, ...used) + 1}`;
}

async function newKey(env: Env, body: Body, custody: string, vmId: string, did: string): Promise<IssuerKey> {
  if (body.custody !== custody) throw badRequest("custody", `all keys of a DID share one custody: this DID's is ${custody}`);
  return newIssuerKey({
    id: vmId,
    did,
    keyType: body.keyType,
    custody: body.custody,
    keyRef: body.keyRef,
    ...(await requestedKey(env, body, NO_KEK)),
    createdAt: Date.now(),
  });
}

const keyRowWrite = (k: IssuerKey): D1Write => ({
  sql: `INSERT INTO keys (id, did, key_type, custody, key_ref, public_jwk, encrypted_private_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO NOTHING`,
  params: [k.id, k.did, k.keyType, k.custody, k.keyRef ?? null, JSON.stringify(k.publicJwk), k.encryptedPrivateKey ?? null, k.createdAt],
});

/** The document with a key added to it and to every relationship the signing key has. */
function withKey(doc: DidDocument, key: IssuerKey): DidDocument {
  const out: DidDocument = {
    ...doc,
    verificationMethod: [
      ...doc.verificationMethod,
      { id: key.id, type: "JsonWebKey2020", controller: doc.id, publicKeyJwk: key.publicJwk },
    ],
  };
  for (const rel of RELATIONS) out[rel] = [...(doc[rel] ?? []), key.id];
  return out;
}

export async function addKey(
  env: Env,
  origin: string,
  method: string,
  did: string,
  body: Body,
  claim: IdempotencyClaim & { fromClient: boolean },
): Promise<{ status: 201 | 202; body: z.infer<typeof AddKeyResponse> }> {
  const row = await getDid(env.DB, did);
  if (!row || row.method !== method || row.deleted_at !== null) throw notFound(`DID ${did}`);
  if (method === "key" || method === "jwk")
    throw new ProblemError(409, "did_immutable", `a did:${method} is its key: it cannot change; create a new DID`);
  if (method !== "ion" && (body.nextUpdateKeyJwk !== undefined || body.nextUpdateKeyRef !== undefined))
    throw badRequest("nextUpdateKeyJwk", "only did:ion has update keys");
  const doc = JSON.parse(row.document) as DidDocument;
  const keyId = await nextKeyId(env.DB, did, doc);
  const key = await newKey(env, body, row.custody, `${did}#${keyId}`, did);

  if (method === "web") {
    const next = withKey(doc, key);
    const write = keyRowWrite(key);
    const [, updated] = await env.DB.batch([
      env.DB.prepare(write.sql).bind(...write.params),
      env.DB.prepare("UPDATE dids SET document = ? WHERE did = ? AND document = ?").bind(JSON.stringify(next), did, row.document),
    ]);
    if ((updated?.meta.changes ?? 0) === 0) throw new ProblemError(409, "conflict", "the DID document changed meanwhile; retry");
    await issuerByName(env, did).registerKey(key);
    return { status: 201, body: { did: next, verificationMethodId: key.id } };
  }
  return addIonKey(env, origin, did, row.document, keyId, key, body, claim);
}

async function addIonKey(
  env: Env,
  origin: string,
  did: string,
  documentText: string,
  keyId: string,
  key: IssuerKey,
  body: Body,
  claim: IdempotencyClaim & { fromClient: boolean },
): Promise<{ status: 201 | 202; body: z.infer<typeof AddKeyResponse> }> {
  const record = await ionRecord(env.DB, did);
  // The next update key: generated for a custodial DID, given for an external one.
  const next = await nextOperationKey(env, did, key.custody, record, "update", body);

  const update = await prepareKeyUpdate(did, record, next, {
    action: "add-public-keys",
    publicKeys: [ionSigningKey(keyId, key.publicJwk)],
  });
  const { prepared, document: nextDocument } = update;
  // The key's own row lands with the document that names it.
  const onDone: D1Write[] = [keyRowWrite(key), ...update.onDone];
  const anchorOperationId = `dids/ion/${record.suffix}/keys/${keyId}`;
  const response = { did, verificationMethodId: key.id };
  const stub = issuerByName(env, did);

  if (key.custody === "custodial") {
    const request = await signWithOperationKey(env, did, record, "update", prepared);
    if (!env.ION_NODE_URL) {
      // No node: the change is the service's own record until it can be anchored.
      await env.DB.batch(onDone.map((w) => env.DB.prepare(w.sql).bind(...w.params)));
      await stub.registerKey(key);
      return { status: 201, body: { did: nextDocument, verificationMethodId: key.id } };
    }
    const operation = await stub.anchorIon(did, anchorOperationId, request, response, onDone);
    if (operation.done && !operation.result?.error) await stub.registerKey(key);
    return {
      status: operation.done ? 201 : 202,
      body: { did: operation.done ? nextDocument : JSON.parse(documentText), verificationMethodId: key.id, operation },
    };
  }

  if (!env.ION_NODE_URL) throw new ProblemError(409, "conflict", "an external update key's change is anchored: ION_NODE_URL is not set");
  // The update key signs through a sign job: the object knows it as a key of this DID (not in the document).
  const updateKey = await externalOperationKey(did, record, "update");
  const operation: Operation = await stub.anchorIon(did, anchorOperationId, null, response, onDone);
  await stub.registerKey(updateKey);
  const job = { unsigned: prepared.unsigned as Record<string, unknown>, signingInput: prepared.signingInput };
  await createDidOperationJob(env, origin, updateKey, anchorOperationId, job, claim);
  return { status: 202, body: { did: JSON.parse(documentText), verificationMethodId: key.id, operation } };
}
