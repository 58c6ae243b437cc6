import { issuerByName } from "../issuer-client";
import { createRoute, z } from "@hono/zod-openapi";
import { serviceOrigin } from "../http/auth";
import { notFound } from "../http/errors";
import { IdempotencyHeaders, idempotencyClaim } from "../http/idempotency";
import {
  PageQuery,
  commonErrors,
  createErrors,
  createRouter,
  decodeTimeKey,
  encodePageToken,
  jsonBody,
  jsonResponse,
} from "../http/router";
import { unwrap } from "../http/rpc";
import { issue } from "./issue";
import {
  BatchCreateRequest,
  BatchCreateResponse,
  CreateCredentialRequest,
  CredentialContainerSchema,
  CredentialIdParam,
  CredentialListResponse,
  CredentialOperation,
  VerifyRequest,
  VerifyResponse,
} from "./schemas";
import { containerOf, getCredential, listCredentials } from "./store";
import { verifyCredentialJwt } from "./verify";

export const credentials = createRouter();


credentials.openapi(
  createRoute({
    method: "put",
    path: "/",
    tags: ["Credentials"],
    summary: "Issue a credential: 201 done for custodial issuers, 202 pending (with a sign job) for external ones",
    request: { headers: IdempotencyHeaders, ...jsonBody(CreateCredentialRequest) },
    responses: {
      201: jsonResponse(CredentialOperation, "Signed at once (custodial)"),
      202: jsonResponse(CredentialOperation, "Waiting for an external signer"),
      ...commonErrors,
      ...createErrors,
    },
  }),
  async (c) => {
    const issued = await issue(c.env, serviceOrigin(c), [c.req.valid("json")], await idempotencyClaim(c));
    return c.json(issued.operations[0]!, issued.allCustodial ? 201 : 202);
  },
);

credentials.openapi(
  createRoute({
    method: "put",
    path: "/batch",
    tags: ["Credentials"],
    summary: "Issue up to 1000 credentials, across issuers; every item and every issuer is checked before any is created",
    description:
      "Every request is validated, and every issuer (DID live, key known and not revoked, custodial key unlockable, " +
      "capacity) is checked, before anything is created: a refusal then is a problem and nothing exists. " +
      "If an issuer fails after others created their credentials (its key revoked in between, its object " +
      "overloaded or unreachable), the answer is 200: `operations[i]` is null for each item not created and " +
      "`errors` says why, per item. A retry with the same Idempotency-Key returns what was created and creates the rest.",
    request: { headers: IdempotencyHeaders, ...jsonBody(BatchCreateRequest) },
    responses: {
      200: jsonResponse(BatchCreateResponse, "Some items created, others not: see `errors`"),
      201: jsonResponse(BatchCreateResponse, "All signed"),
      202: jsonResponse(BatchCreateResponse, "Some wait for external signers"),
      ...commonErrors,
      ...createErrors,
    },
  }),
  async (c) => {
    const issued = await issue(c.env, serviceOrigin(c), c.req.valid("json").requests, await idempotencyClaim(c));
    if (issued.errors.length > 0) return c.json({ operations: issued.operations, errors: issued.errors }, 200);
    return c.json({ operations: issued.operations }, issued.allCustodial ? 201 : 202);
  },
);

credentials.openapi(
  createRoute({
    method: "put",
    path: "/verification",
    tags: ["Credentials"],
    summary: "Verify a credential JWT: signature (issuer DID resolved), validity dates, key revocation and status",
    request: jsonBody(VerifyRequest),
    responses: { 200: jsonResponse(VerifyResponse, "The verdict"), ...commonErrors },
  }),
  async (c) => c.json(await verifyCredentialJwt(c.env, c.req.valid("json").credentialJwt, serviceOrigin(c)), 200),
);

credentials.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags: ["Credentials"],
    summary: "Get a credential container",
    request: { params: CredentialIdParam },
    responses: { 200: jsonResponse(CredentialContainerSchema, "The credential"), ...commonErrors },
  }),
  async (c) => {
    const row = await getCredential(c.env.DB, c.req.valid("param").id);
    if (!row) throw notFound("credential");
    return c.json(containerOf(row), 200);
  },
);

credentials.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["Credentials"],
    summary: "List credentials by issuer, subject or schema, oldest first",
    request: {
      query: PageQuery.extend({
        issuer: z.string().max(2048).optional(),
        subject: z.string().max(2048).optional(),
        schema: z.string().max(2048).optional(),
      }),
    },
    responses: { 200: jsonResponse(CredentialListResponse, "A page of credentials"), ...commonErrors },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const after = decodeTimeKey(q.pageToken);
    const rows = await listCredentials(c.env.DB, q, after, q.pageSize + 1);
    const page = rows.slice(0, q.pageSize);
    const last = page[page.length - 1];
    return c.json(
      {
        credentials: page.map(containerOf),
        ...(rows.length > q.pageSize && last ? { nextPageToken: encodePageToken([last.created_at, last.id]) } : {}),
      },
      200,
    );
  },
);

credentials.openapi(
  createRoute({
    method: "delete",
    path: "/{id}",
    tags: ["Credentials"],
    summary: "Delete a credential record (a pending one's operation is cancelled). Revoke to invalidate an issued one.",
    request: { params: CredentialIdParam },
    responses: { 204: { description: "Deleted" }, ...commonErrors },
  }),
  async (c) => {
    const row = await getCredential(c.env.DB, c.req.valid("param").id);
    if (!row) throw notFound("credential");
    if (!row.jwt) {
      const cancelled = await issuerByName(c.env, row.issuer).cancelOperation(row.operation_id);
      if (!cancelled.ok && cancelled.code !== "operation_done" && cancelled.code !== "not_found") unwrap(cancelled);
    }
    await c.env.DB.prepare("UPDATE credentials SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL").bind(Date.now(), row.id).run();
    return c.body(null, 204);
  },
);
