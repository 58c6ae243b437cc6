/**
 * `PUT /v1/dids/{method}/{did}/rotate` (api.md "Key rotation"): makes a key of the DID its signing
 * key. The issuer object does the work (durable-objects/rotations.ts): the answer is the pending
 * Operation `dids/rotations/{id}`, done once every live artifact the old key signed is signed
 * again by the new one and the old key has left the document. did:ion: the old key leaves through
 * a Sidetree update prepared here (src/did/ion-rotate.ts) and anchored when the rotation is done.
 */
import { z } from "@hono/zod-openapi";
import type { IdempotencyClaim } from "../core/idempotency";
import { freeFormObject } from "../core/json-depth";
import type { Operation } from "../core/models";
import { ProblemError, badRequest, notFound } from "../http/errors";
import { unwrap } from "../http/rpc";
import { issuerByName } from "../issuer-client";
import type { DidDocument } from "./documents";
import { prepareKeyRemoval } from "./ion-rotate";
import { createDidOperationJob } from "./ion-update-key";
import { getDid } from "./store";

export const RotateKeyRequest = z
  .object({
    verificationMethodId: z.string().min(1).max(2100).openapi({
      description: "The key that becomes the signing key (add it first with PUT .../keys)",
      example: "did:web:example.com#key-2",
    }),
    nextUpdateKeyJwk: freeFormObject().optional().openapi({
      description:
        "did:ion with an external update key (required then): the next update key the Sidetree update removing the old key commits to",
    }),
    nextUpdateKeyRef: z.string().min(1).max(512).optional(),
  })
  .strict()
  .openapi("RotateKeyRequest");

export async function rotateKey(
  env: Env,
  origin: string,
  method: string,
  did: string,
  body: z.infer<typeof RotateKeyRequest>,
  claim: IdempotencyClaim & { fromClient: boolean },
): Promise<Operation> {
  const row = await getDid(env.DB, did);
  if (!row || row.method !== method || row.deleted_at !== null) throw notFound(`DID ${did}`);
  if (method === "key" || method === "jwk")
    throw new ProblemError(409, "did_immutable", `a did:${method} is its key: it cannot rotate; create a new DID and issue from it`);
  if (!body.verificationMethodId.startsWith(`${did}#`)) throw badRequest("verificationMethodId", `must be a verification method of ${did}`);
  if (method !== "ion" && (body.nextUpdateKeyJwk !== undefined || body.nextUpdateKeyRef !== undefined))
    throw badRequest("nextUpdateKeyJwk", "only did:ion has update keys");
  // The signing key is the document's first verification method: the key rotated away.
  const current = (JSON.parse(row.document) as DidDocument).verificationMethod[0]?.id ?? null;
  const stub = issuerByName(env, did);
  const input = { to: body.verificationMethodId, from: current, method, origin };
  if (method !== "ion") return unwrap(await stub.startRotation(did, input));

  // did:ion: the update removing exactly the keys the object will rotate away, prepared first.
  const plan = unwrap(await stub.planRotation(did, input));
  const prepared = await prepareKeyRemoval(env, did, row.custody, plan.from, body);
  const operation = unwrap(await stub.startRotation(did, { ...input, ...(prepared ? { ion: prepared.removal } : {}) }));
  if (prepared?.job) {
    await createDidOperationJob(env, origin, prepared.removal.updateKey!, prepared.removal.operationId, prepared.job, claim);
  }
  return operation;
}
