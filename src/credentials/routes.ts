import { issuerByName } from "../issuer-client";
import { createRoute, z } from "@hono/zod-openapi";
import type { JobSpec } from "../../durable-objects/kinds";
import { serviceOrigin } from "../http/auth";
import { notFound } from "../http/errors";
import { PageQuery, commonErrors, createRouter, decodeTimeKey, encodePageToken, jsonBody, jsonResponse } from "../http/router";
import { unwrap } from "../http/rpc";
import type { Operation } from "../signjobs/model";
import { credentialSpec } from "./build";
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
  type CreateCredential,
} from "./schemas";
import { containerOf, getCredential, listCredentials } from "./store";
import { verifyCredentialJwt } from "./verify";

export const credentials = createRouter();


/**
 * Issues credentials through their issuers' objects: one object call per (issuer, key), all of
 * that issuer's jobs in one transaction. Returns operations in request order.
 */
async function issue(env: Env, origin: string, requests: CreateCredential[]): Promise<Operation[]> {
  const groups = new Map<string, { issuer: string; vm: string; specs: JobSpec[]; index: number[] }>();
  requests.forEach((req, i) => {
    const key = `${req.issuer}\n${req.verificationMethodId}`;
    let group = groups.get(key);
    if (!group) groups.set(key, (group = { issuer: req.issuer, vm: req.verificationMethodId, specs: [], index: [] }));
    group.specs.push(credentialSpec(req).spec);
    group.index.push(i);
  });
  const operations: Operation[] = new Array<Operation>(requests.length);
  await Promise.all(
    [...groups.values()].map(async (g) => {
      const created = unwrap(
        await issuerByName(env, g.issuer).createJobs({ did: g.issuer, verificationMethodId: g.vm, origin, specs: g.specs }),
      );
      const byId = new Map(created.operations.map((op) => [op.id, op]));
      g.specs.forEach((spec, j) => (operations[g.index[j]!] = byId.get(spec.operationId)!));
    }),
  );
  return operations;
}

credentials.openapi(
  createRoute({
    method: "put",
    path: "/",
    tags: ["Credentials"],
    summary: "Issue a credential: 201 done for custodial issuers, 202 pending (with a sign job) for external ones",
    request: jsonBody(CreateCredentialRequest),
    responses: {
      201: jsonResponse(CredentialOperation, "Signed at once (custodial)"),
      202: jsonResponse(CredentialOperation, "Waiting for an external signer"),
      ...commonErrors,
    },
  }),
  async (c) => {
    const [op] = await issue(c.env, serviceOrigin(c), [c.req.valid("json")]);
    return c.json(op!, op!.done ? 201 : 202);
  },
);

credentials.openapi(
  createRoute({
    method: "put",
    path: "/batch",
    tags: ["Credentials"],
    summary: "Issue up to 1000 credentials; all are validated before any is created",
    request: jsonBody(BatchCreateRequest),
    responses: {
      201: jsonResponse(BatchCreateResponse, "All signed"),
      202: jsonResponse(BatchCreateResponse, "Some wait for external signers"),
      ...commonErrors,
    },
  }),
  async (c) => {
    const operations = await issue(c.env, serviceOrigin(c), c.req.valid("json").requests);
    return c.json({ operations }, operations.every((o) => o.done) ? 201 : 202);
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
