/**
 * did:ion recover and deactivate (api.md "did:ion"): `PUT /v1/dids/ion/{did}/recover` and
 * `PUT /v1/dids/ion/{did}/deactivate`, Sidetree operations signed by the DID's recovery key. A
 * custodial recovery key signs here and now; an external one signs a `did-operation` sign job
 * (the object knows it as `<did>#ion-recovery[-n]`, a key that signs these jobs only). Both are
 * anchored like every did:ion change (durable-objects/ion-anchors.ts), one change at a time.
 *
 * Recover keeps the document the service holds and renews both commitments: the next recovery and
 * update keys are generated (custodial) or given (`nextRecoveryKeyJwk`, `nextUpdateKeyJwk`, with
 * their refs). Deactivate is final: once the node accepted it the issuer object issues nothing more
 * (409 `did_deactivated`), its pending jobs are cancelled, and the DID resolves as deactivated.
 */
import { z } from "@hono/zod-openapi";
import type { D1Write } from "../core/kinds";
import type { IdempotencyClaim } from "../core/idempotency";
import { freeFormObject } from "../core/json-depth";
import type { Operation } from "../core/models";
import { ProblemError, badRequest, notFound } from "../http/errors";
import { issuerByName } from "../issuer-client";
import { commitmentOf } from "./ion/hashing";
import type { Es256kPublicJwk } from "./ion/model";
import { prepareDeactivate, prepareRecover, type PreparedOperation } from "./ion/operations";
import type { IonDidState } from "./ion/state";
import {
  createDidOperationJob,
  externalOperationKey,
  ionRecord,
  nextOperationKey,
  signWithOperationKey,
  type IonRecord,
} from "./ion-update-key";
import { getDid } from "./store";

export const RecoverRequest = z
  .object({
    nextRecoveryKeyJwk: freeFormObject().optional().openapi({ description: "External recovery key (required then): the next one" }),
    nextRecoveryKeyRef: z.string().min(1).max(512).optional(),
    nextUpdateKeyJwk: freeFormObject().optional().openapi({ description: "External update key (required then): the next one" }),
    nextUpdateKeyRef: z.string().min(1).max(512).optional(),
  })
  .strict()
  .openapi("IonRecoverRequest");
type RecoverBody = z.infer<typeof RecoverRequest>;

/** The DID's row and ION record, refused unless it is a live did:ion with nothing else pending. */
async function ionDid(env: Env, method: string, did: string): Promise<{ custody: string; record: IonRecord }> {
  if (method !== "ion") throw badRequest("method", "recover and deactivate are did:ion operations (Sidetree)");
  const row = await getDid(env.DB, did);
  if (!row || row.method !== "ion" || row.deleted_at !== null) throw notFound(`DID ${did}`);
  return { custody: row.custody, record: await ionRecord(env.DB, did) };
}

/**
 * Signs (custodial) or hands to a did-operation job (external) an operation of the recovery key,
 * and anchors it as `operationId`. Without ION_NODE_URL a custodial change is the service's own
 * record at once; an external one is refused (its signature would have nowhere to go).
 */
async function anchorRecoveryOperation(
  env: Env,
  origin: string,
  did: string,
  custody: string,
  record: IonRecord,
  prepared: PreparedOperation,
  operationId: string,
  onDone: D1Write[],
  claim: IdempotencyClaim & { fromClient: boolean },
): Promise<{ status: 201 | 202; operation: Operation }> {
  const stub = issuerByName(env, did);
  const response = { did, type: prepared.type };
  if (custody === "custodial") {
    const request = await signWithOperationKey(env, did, record, "recovery", prepared);
    if (!env.ION_NODE_URL) {
      await env.DB.batch(onDone.map((w) => env.DB.prepare(w.sql).bind(...w.params)));
      if (prepared.type === "deactivate") await stub.deactivate(did);
      const done = {
        id: operationId,
        done: true,
        result: { response },
        signJobs: [],
        createdAt: new Date().toISOString(),
        updatedAt: new Date().toISOString(),
      };
      return { status: 201, operation: done };
    }
    const operation = await stub.anchorIon(did, operationId, request, response, onDone);
    // The Worker reads the DID's record from D1 next (a change, a resolution): let it see this one.
    if (operation.done) await stub.flush();
    return { status: operation.done ? 201 : 202, operation };
  }
  if (!env.ION_NODE_URL) throw new ProblemError(409, "conflict", "an external recovery key's change is anchored: ION_NODE_URL is not set");
  const key = await externalOperationKey(did, record, "recovery");
  const operation = await stub.anchorIon(did, operationId, null, response, onDone);
  await stub.registerKey(key);
  await createDidOperationJob(env, origin, key, operationId, { unsigned: prepared.unsigned, signingInput: prepared.signingInput }, claim);
  return { status: 202, operation };
}

export async function recoverIon(
  env: Env,
  origin: string,
  method: string,
  did: string,
  body: RecoverBody,
  claim: IdempotencyClaim & { fromClient: boolean },
): Promise<{ status: 201 | 202; operation: Operation }> {
  const { custody, record } = await ionDid(env, method, did);
  const nextRecovery = await nextOperationKey(env, did, custody, record, "recovery", body);
  const nextUpdate = await nextOperationKey(env, did, custody, record, "update", body);
  const document = record.state.document;
  const prepared = await prepareRecover({
    didSuffix: record.suffix,
    recoveryKey: record.keys.recovery.publicJwk as Es256kPublicJwk,
    nextRecoveryKey: nextRecovery.publicJwk as Es256kPublicJwk,
    nextUpdateKey: nextUpdate.publicJwk as Es256kPublicJwk,
    publicKeys: document.publicKeys ?? [],
    ...(document.services?.length ? { services: document.services } : {}),
  });
  const nextState: IonDidState = {
    ...record.state,
    updateCommitment: (prepared.unsigned as { delta: { updateCommitment: string } }).delta.updateCommitment,
    recoveryCommitment: await commitmentOf(nextRecovery.publicJwk),
  };
  const onDone: D1Write[] = [
    {
      sql: "UPDATE ion_dids SET state = ?, operation_keys = ? WHERE did = ?",
      params: [JSON.stringify(nextState), JSON.stringify({ update: nextUpdate, recovery: nextRecovery }), did],
    },
  ];
  const operationId = `dids/ion/${record.suffix}/recover/${crypto.randomUUID()}`;
  return anchorRecoveryOperation(env, origin, did, custody, record, prepared, operationId, onDone, claim);
}

export async function deactivateIon(
  env: Env,
  origin: string,
  method: string,
  did: string,
  claim: IdempotencyClaim & { fromClient: boolean },
): Promise<{ status: 201 | 202; operation: Operation }> {
  const { custody, record } = await ionDid(env, method, did);
  const prepared = await prepareDeactivate({ didSuffix: record.suffix, recoveryKey: record.keys.recovery.publicJwk as Es256kPublicJwk });
  const onDone: D1Write[] = [
    { sql: "UPDATE ion_dids SET state = ? WHERE did = ?", params: [JSON.stringify({ ...record.state, deactivated: true }), did] },
  ];
  return anchorRecoveryOperation(env, origin, did, custody, record, prepared, `dids/ion/${record.suffix}/deactivate`, onDone, claim);
}
