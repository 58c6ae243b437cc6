import { issuerByName } from "../issuer-client";
import { serviceOrigin } from "../http/auth";
import { createRoute, z } from "@hono/zod-openapi";
import { generateKeyPair, parseKek, validatePublicJwk, wrapPrivateKey } from "../crypto";
import { ALG_BY_KEY_TYPE, type PublicJwk } from "../crypto/types";
import { ProblemError, badRequest, notFound } from "../http/errors";
import { PageQuery, commonErrors, createRouter, decodeTimeKey, encodePageToken, jsonBody, jsonResponse } from "../http/router";
import type { IssuerKey } from "../keys/model";
import { createDocument, didWebLocation, type DidDocument } from "./documents";
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
  (c) => c.json({ method: ["key", "jwk", "web"] }, 200),
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
    let publicJwk: PublicJwk;
    let privateKey: Uint8Array | null = null;
    if (body.custody === "external") {
      if (body.publicKeyJwk === undefined) throw badRequest("publicKeyJwk", "required when custody is external");
      const checked = validatePublicJwk(body.keyType, body.publicKeyJwk);
      if (!checked.ok) {
        throw new ProblemError(400, "invalid_public_key", checked.message, [
          { path: checked.path ?? "publicKeyJwk", message: checked.message },
        ]);
      }
      publicJwk = checked.value;
    } else {
      if (body.publicKeyJwk !== undefined) throw badRequest("publicKeyJwk", "only external custody takes a public key");
      if (!parseKek(c.env.KEY_ENCRYPTION_KEY)) {
        throw new ProblemError(
          503,
          "custody_unavailable",
          "custodial keys need KEY_ENCRYPTION_KEY (base64url of 32 bytes); create an external DID, or configure it",
        );
      }
      const pair = await generateKeyPair(body.keyType);
      publicJwk = pair.publicJwk;
      privateKey = pair.privateKey;
    }

    const { did, document } = createDocument(method, publicJwk, body.options?.didWebId);
    const vmId = document.verificationMethod[0]!.id;
    const key: IssuerKey = {
      id: vmId,
      did,
      keyType: body.keyType,
      alg: ALG_BY_KEY_TYPE[body.keyType],
      custody: body.custody,
      ...(body.keyRef !== undefined ? { keyRef: body.keyRef } : {}),
      publicJwk,
      ...(privateKey ? { encryptedPrivateKey: await wrapPrivateKey(parseKek(c.env.KEY_ENCRYPTION_KEY)!, vmId, privateKey) } : {}),
      createdAt: now,
      revoked: false,
    };
    privateKey?.fill(0);
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
    // Warm the issuer object so the first credential needs no D1 read; it loads lazily if this fails.
    try {
      await issuerByName(c.env, did).registerKey(key);
    } catch (err) {
      console.warn(JSON.stringify({ level: "warn", event: "did.register_key_failed", did, error: String(err) }));
    }
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
    const after = decodeTimeKey(q.pageToken);
    const rows = await listDids(c.env.DB, method, q.deleted === "true", after, q.pageSize + 1);
    const page = rows.slice(0, q.pageSize);
    const last = page[page.length - 1];
    return c.json(
      {
        dids: page.map((r) => JSON.parse(r.document) as DidDocument),
        ...(rows.length > q.pageSize && last ? { nextPageToken: encodePageToken([last.created_at, last.did]) } : {}),
      },
      200,
    );
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
