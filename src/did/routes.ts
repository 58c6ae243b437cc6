import { issuerByName } from "../issuer-client";
import { serviceOrigin } from "../http/auth";
import { createRoute, z } from "@hono/zod-openapi";
import { ProblemError, badRequest, notFound } from "../http/errors";
import { PageQuery, commonErrors, createRouter, keysetPage, jsonBody, jsonResponse } from "../http/router";
import { newIssuerKey } from "../keys/model";
import { createDocument, didWebLocation, type DidDocument } from "./documents";
import { createIonDid } from "./ion-create";
import { NO_KEK_FOR_NEW_DID, requestedKey } from "./requested-key";
import { AddKeyRequest, AddKeyResponse, addKey } from "./keys-add";
import { RotateKeyRequest, rotateKey } from "./rotate";
import { RecoverRequest, deactivateIon, recoverIon } from "./ion-recovery";
import { OperationSchema } from "../http/models";
import { resolveDid } from "./resolver";
import { CreateDidRequest, DidListResponse, DidMethodSchema, DidParam, DidResponse, ResolutionResponse } from "./schemas";
import { IdempotencyHeaders, idempotencyClaim } from "../http/idempotency";
import { createErrors } from "../http/router";
import { findAnswer, getDid, insertDid, listDids, markDidDeleted, type Earlier } from "./store";

/** The first answer's body for a create whose Idempotency-Key was seen before (a DID's is always a 201). */
function earlierAnswer(earlier: Earlier): z.infer<typeof DidResponse> {
  if (earlier.kind === "reused") {
    throw new ProblemError(422, "idempotency_key_reused", "this Idempotency-Key was already used with a different request");
  }
  return earlier.answer.body as z.infer<typeof DidResponse>;
}

export const dids = createRouter();

dids.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["DIDs"],
    summary: "The DID methods this service can create",
    responses: { 200: jsonResponse(z.object({ method: z.array(z.string()) }), "Supported methods"), ...commonErrors },
  }),
  (c) => c.json({ method: ["key", "jwk", "web", "ion"] }, 200),
);

dids.openapi(
  createRoute({
    method: "get",
    path: "/resolver/{did}",
    tags: ["DIDs"],
    summary: "Resolve any did:key, did:jwk or did:web",
    request: { params: z.object({ did: DidParam }) },
    responses: { 200: jsonResponse(ResolutionResponse, "Resolved"), ...commonErrors },
  }),
  async (c) => {
    const result = await resolveDid(c.env, c.req.valid("param").did, serviceOrigin(c));
    if (result.didResolutionMetadata.error === "notFound") {
      throw new ProblemError(404, "not_found", `could not resolve ${c.req.valid("param").did}`, undefined, { resolution: result });
    }
    if (result.didResolutionMetadata.error) {
      throw new ProblemError(400, "validation_failed", `could not resolve: ${result.didResolutionMetadata.error}`, [
        { path: "did", message: String(result.didResolutionMetadata.error) },
      ]);
    }
    return c.json(result as z.infer<typeof ResolutionResponse>, 200);
  },
);

dids.openapi(
  createRoute({
    method: "put",
    path: "/{method}",
    tags: ["DIDs"],
    summary: "Create a DID whose key is custodial (generated here, stored encrypted) or external (public key only)",
    request: { params: z.object({ method: DidMethodSchema }), headers: IdempotencyHeaders, ...jsonBody(CreateDidRequest) },
    responses: { 201: jsonResponse(DidResponse, "Created"), ...commonErrors, ...createErrors },
  }),
  async (c) => {
    const { method } = c.req.valid("param");
    const body = c.req.valid("json");
    const claim = await idempotencyClaim(c);
    const idempotent = claim.fromClient ? claim : null;
    if (idempotent) {
      const earlier = await findAnswer(c.env.DB, idempotent, Date.now());
      if (earlier) return c.json(earlierAnswer(earlier), 201);
    }
    const ionOnly = (["updateKeyJwk", "updateKeyRef", "recoveryKeyJwk", "recoveryKeyRef"] as const).find((f) => body[f] !== undefined);
    if (method !== "ion" && ionOnly) throw badRequest(ionOnly, "only did:ion has update and recovery keys");
    if (method === "ion") {
      if (body.options?.didWebId !== undefined) throw badRequest("options.didWebId", "only did:web takes a didWebId");
      const created = await createIonDid(c.env, body, async (did, document, key, extra, longFormDid) => {
        const answer = { status: 201, body: { did: document, longFormDid } };
        const inserted = await insertDid(
          c.env.DB,
          "ion",
          did,
          document,
          key,
          null,
          idempotent ? { claim: idempotent, answer } : undefined,
          extra,
        );
        if (inserted === "claimed")
          throw new ProblemError(409, "conflict", "a concurrent request with the same Idempotency-Key created this DID");
        if (inserted !== "created") throw new ProblemError(409, "conflict", `${did} already exists`);
      });
      return c.json(created as unknown as z.infer<typeof DidResponse>, 201);
    }
    const web = method === "web" ? didWebLocation(body.options?.didWebId ?? "") : null;
    if (method === "web" && !web) {
      throw badRequest("options.didWebId", "did:web needs options.didWebId like did:web:example.com or did:web:example.com:path:to");
    }
    // /v1/... belongs to the API, so a document there could never be served.
    if (web && (web.path === "v1" || web.path.startsWith("v1/"))) {
      throw badRequest("options.didWebId", "a did:web path may not start with v1: that path is the API's");
    }
    if (method !== "web" && body.options?.didWebId !== undefined) {
      throw badRequest("options.didWebId", "only did:web takes a didWebId");
    }

    const now = Date.now();
    const requested = await requestedKey(c.env, body, NO_KEK_FOR_NEW_DID);
    const { did, document } = createDocument(method, requested.publicJwk, body.options?.didWebId);
    const key = await newIssuerKey({
      id: document.verificationMethod[0]!.id,
      did,
      keyType: body.keyType,
      custody: body.custody,
      keyRef: body.keyRef,
      ...requested,
      createdAt: now,
    });
    const answer = { status: 201, body: { did: document } };
    const inserted = await insertDid(c.env.DB, method, did, document, key, web, idempotent ? { claim: idempotent, answer } : undefined);
    if (inserted === "claimed") {
      // A concurrent request with the same key committed first: its answer is this one's too.
      const earlier = await findAnswer(c.env.DB, idempotent!, Date.now());
      if (earlier) return c.json(earlierAnswer(earlier), 201);
    }
    if (inserted !== "created") {
      throw new ProblemError(409, "conflict", `${did} already exists${web ? " (or its did:web location is taken)" : ""}`);
    }
    // The DID and its key are in D1: its issuer object is not woken here. It is made on the DID's first
    // use and copies the key from D1 then (KeyStore.get), one read by primary key (bench/README.md
    // "Waking an issuer").
    return c.json({ did: document }, 201);
  },
);

dids.openapi(
  createRoute({
    method: "get",
    path: "/{method}",
    tags: ["DIDs"],
    summary: "List the DIDs of a method, oldest first",
    request: {
      params: z.object({ method: DidMethodSchema }),
      query: PageQuery.extend({ deleted: z.enum(["true", "false"]).optional() }),
    },
    responses: { 200: jsonResponse(DidListResponse, "A page of DID documents"), ...commonErrors },
  }),
  async (c) => {
    const { method } = c.req.valid("param");
    const q = c.req.valid("query");
    const page = await keysetPage(
      q,
      ({ after, limit }) => listDids(c.env.DB, method, q.deleted === "true", after, limit),
      (row) => row.did,
    );
    return c.json({ dids: page.items.map((r) => JSON.parse(r.document) as DidDocument), ...page.next }, 200);
  },
);

dids.openapi(
  createRoute({
    method: "get",
    path: "/{method}/{did}",
    tags: ["DIDs"],
    summary: "Get one DID's document",
    request: { params: z.object({ method: DidMethodSchema, did: DidParam }) },
    responses: { 200: jsonResponse(DidResponse, "The DID document"), ...commonErrors },
  }),
  async (c) => {
    const { method, did } = c.req.valid("param");
    const row = await getDid(c.env.DB, did);
    if (!row || row.method !== method || row.deleted_at !== null) throw notFound(`DID ${did}`);
    return c.json({ did: JSON.parse(row.document) as DidDocument }, 200);
  },
);

dids.openapi(
  createRoute({
    method: "delete",
    path: "/{method}/{did}",
    tags: ["DIDs"],
    summary: "Soft-delete a DID; its pending sign jobs are cancelled",
    request: { params: z.object({ method: DidMethodSchema, did: DidParam }) },
    responses: { 204: { description: "Deleted" }, ...commonErrors },
  }),
  async (c) => {
    const { method, did } = c.req.valid("param");
    const row = await getDid(c.env.DB, did);
    if (!row || row.method !== method || row.deleted_at !== null) throw notFound(`DID ${did}`);
    // The object first: once it is deactivated nothing new is signed, and a retry repeats both steps.
    await issuerByName(c.env, did).deactivate(did);
    await markDidDeleted(c.env.DB, did, Date.now());
    return c.body(null, 204);
  },
);

dids.openapi(
  createRoute({
    method: "put",
    path: "/{method}/{did}/keys",
    tags: ["DIDs"],
    summary: "Add a key to a did:web or did:ion (did:key and did:jwk cannot change: 409 did_immutable)",
    request: { params: z.object({ method: DidMethodSchema, did: DidParam }), headers: IdempotencyHeaders, ...jsonBody(AddKeyRequest) },
    responses: {
      201: jsonResponse(AddKeyResponse, "Added: the DID document with the key"),
      202: jsonResponse(AddKeyResponse, "did:ion: the update is being signed or anchored (operation)"),
      ...commonErrors,
      ...createErrors,
    },
  }),
  async (c) => {
    const { method, did } = c.req.valid("param");
    const result = await addKey(c.env, serviceOrigin(c), method, did, c.req.valid("json"), await idempotencyClaim(c));
    return c.json(result.body, result.status);
  },
);

dids.openapi(
  createRoute({
    method: "put",
    path: "/{method}/{did}/rotate",
    tags: ["DIDs"],
    summary: "Rotate to a key: it signs new artifacts at once, and every live artifact of the old key is re-signed by it",
    description:
      "Answers the pending Operation `dids/rotations/{id}`. Every live artifact the old key signed (credentials not revoked, " +
      "suspended ones included; schemas; manifests; presentation and manifest requests; credential responses) gets a sign job " +
      "of its own kind with the new key, created in batches and pushed to signers like any job (custodial keys sign at once); " +
      "the status lists are re-signed by the new key. The old key stays in the document, and its JWTs keep verifying, until " +
      "every re-sign job is signed: then the operation is done and the old key leaves the did:web document. A re-sign job that " +
      "is rejected or expires fails the operation with `notResigned`, and the old key stays. New credentials naming the old key " +
      "are signed by the new one. 409 `rotation_in_progress` while one runs; did:key and did:jwk cannot rotate (409 `did_immutable`). " +
      "The operation's `signJobs` lists its re-sign jobs in creation order, at most 1,000 (answered by the issuer's object); " +
      "`response.resignJobs` counts them, and " +
      "`GET /v1/signjobs?did=&operationId=` pages through all of them. did:ion: the old key leaves the ION document through a " +
      "Sidetree update signed by the update key, anchored when the rotation is done (`result.response.documentOperation`); a DID " +
      "whose update key is external must send `nextUpdateKeyJwk` (400 without it) and its update key signs a `did-operation` job.",
    request: { params: z.object({ method: DidMethodSchema, did: DidParam }), ...jsonBody(RotateKeyRequest) },
    responses: { 202: jsonResponse(OperationSchema, "The rotation, pending"), ...commonErrors },
  }),
  async (c) => {
    const { method, did } = c.req.valid("param");
    return c.json(await rotateKey(c.env, serviceOrigin(c), method, did, c.req.valid("json"), await idempotencyClaim(c)), 202);
  },
);

const ionOperationResponses = {
  201: jsonResponse(OperationSchema, "Signed by a custodial recovery key and accepted by the ION node"),
  202: jsonResponse(OperationSchema, "Being signed (a did-operation sign job of the external recovery key) or anchored"),
  ...commonErrors,
};

dids.openapi(
  createRoute({
    method: "put",
    path: "/{method}/{did}/recover",
    tags: ["DIDs"],
    summary: "did:ion: a Sidetree recover, signed by the recovery key: renews the update and recovery keys, keeps the document",
    description:
      "Answers the anchoring Operation `dids/ion/{suffix}/recover/{id}`, done when the ION node accepted it. A custodial " +
      "recovery key signs at once (the service makes the next recovery and update keys); an external one signs a " +
      "`did-operation` sign job (`#ion-recovery[-n]`), and the request must carry `nextRecoveryKeyJwk` and `nextUpdateKeyJwk` " +
      "(secp256k1 public JWKs, with optional refs; 400 without them). did:ion only (400 for other methods); 409 " +
      "`did_operation_pending` while another change of the DID is not anchored, 409 `did_deactivated` once deactivated.",
    request: { params: z.object({ method: DidMethodSchema, did: DidParam }), headers: IdempotencyHeaders, ...jsonBody(RecoverRequest) },
    responses: ionOperationResponses,
  }),
  async (c) => {
    const { method, did } = c.req.valid("param");
    const result = await recoverIon(c.env, serviceOrigin(c), method, did, c.req.valid("json"), await idempotencyClaim(c));
    return c.json(result.operation, result.status);
  },
);

dids.openapi(
  createRoute({
    method: "put",
    path: "/{method}/{did}/deactivate",
    tags: ["DIDs"],
    summary: "did:ion: a Sidetree deactivate, signed by the recovery key; final",
    description:
      "Answers the anchoring Operation `dids/ion/{suffix}/deactivate`, done when the ION node accepted it (a custodial " +
      "recovery key signs at once; an external one signs a `did-operation` sign job). From then on the DID resolves as " +
      "deactivated, its pending sign jobs are cancelled, and everything it would sign is 409 `did_deactivated`. No body. " +
      "did:ion only (400 for other methods; `DELETE /v1/dids/{method}/{did}` removes a DID from the service).",
    request: { params: z.object({ method: DidMethodSchema, did: DidParam }), headers: IdempotencyHeaders },
    responses: ionOperationResponses,
  }),
  async (c) => {
    const { method, did } = c.req.valid("param");
    const result = await deactivateIon(c.env, serviceOrigin(c), method, did, await idempotencyClaim(c));
    return c.json(result.operation, result.status);
  },
);
