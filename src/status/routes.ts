import { CredentialIdParam } from "../credentials/schemas";
import { createRoute, z } from "@hono/zod-openapi";
import { serviceOrigin } from "../http/auth";
import { ProblemError, notFound } from "../http/errors";
import { commonErrors, createRouter, jsonBody, jsonResponse, problemResponseSpec } from "../http/router";
import { httpStatusOf, unwrap } from "../http/rpc";
import { issuerByName } from "../issuer-client";
import type { Operation } from "../core/models";
import { OperationSchema } from "../http/models";
import { findCredential } from "../credentials/store";
import { ListPublication } from "../core/publication";
import { issuersOf, listOwner, publishedList } from "./store";

/** Public: published status list credentials. */
export const statusPublic = createRouter();
/** Operator: credential status changes. */
export const statusRoutes = createRouter();

const ListIdParam = z.object({
  listId: z
    .string()
    .min(1)
    .max(128)
    .openapi({ param: { name: "listId", in: "path" } }),
});

const PublishedList = z
  .object({ id: z.string(), credential: z.record(z.string(), z.unknown()), credentialJwt: z.string() })
  .openapi("StatusListCredential");

statusPublic.openapi(
  createRoute({
    method: "get",
    path: "/{listId}",
    tags: ["Credentials"],
    security: [],
    summary: "A published Bitstring Status List credential (public)",
    description:
      "The newest signed revision. `Accept: application/vc+jwt` (or `application/jwt`) returns the compact JWT; " +
      "otherwise JSON `{ id, credential, credentialJwt }`. `Cache-Control: public, max-age` follows the list's `ttl`; " +
      "`ETag` names the revision and representation, and `If-None-Match` answers 304.",
    request: { params: ListIdParam },
    responses: {
      200: {
        description: "The list credential",
        content: {
          "application/json": { schema: PublishedList },
          "application/vc+jwt": { schema: z.string() },
        },
      },
      304: { description: "Not modified" },
      404: problemResponseSpec("No such list (or none signed yet)"),
    },
  }),
  async (c) => {
    const { listId } = c.req.valid("param");
    const row = await publishedList(c.env, listId);
    if (!row) throw notFound("status list");
    const accept = (c.req.header("accept") ?? "").toLowerCase();
    const jwtType = accept.includes("application/vc+jwt")
      ? "application/vc+jwt"
      : accept.includes("application/jwt")
        ? "application/jwt"
        : null;
    const etag = `"${row.id}.${row.version}.${jwtType ? "jwt" : "json"}"`;
    const headers = {
      "cache-control": `public, max-age=${Math.floor(row.ttl_ms / 1000)}`,
      etag,
      vary: "Accept",
    };
    const match = c.req.header("if-none-match");
    if (match && match.split(",").some((t) => t.trim().replace(/^W\//, "") === etag || t.trim() === "*")) {
      return c.body(null, 304, headers);
    }
    if (jwtType) return c.body(row.jwt, 200, { ...headers, "content-type": jwtType });
    return c.json({ id: row.id, credential: JSON.parse(row.credential) as Record<string, unknown>, credentialJwt: row.jwt }, 200, headers);
  },
);

const StatusFlags = z.object({ revoked: z.boolean(), suspended: z.boolean() }).openapi("CredentialStatus");

const StatusUpdate = z
  .object({ revoked: z.boolean().optional(), suspended: z.boolean().optional() })
  .strict()
  .openapi("CredentialStatusUpdate");

const StatusUpdateResponse = StatusFlags.extend({
  operation: OperationSchema.optional().openapi({
    description:
      "The status-list sign job's operation: done for custodial issuers, pending for external ones. Absent when nothing changed.",
  }),
}).openapi("CredentialStatusUpdateResponse");

const BatchStatusRequest = z
  .object({
    requests: z
      .array(StatusUpdate.extend({ id: z.string().min(1).max(128) }).strict())
      .min(1)
      .max(1000),
  })
  .strict()
  .openapi("BatchCredentialStatusRequest");

const BatchStatusResult = z
  .object({
    id: z.string(),
    revoked: z.boolean(),
    suspended: z.boolean(),
    code: z.string().optional().openapi({
      description:
        "Why this request was refused: not_found, status_not_enabled, revocation_permanent, no_signing_key, did_deactivated, custody_unavailable",
    }),
    detail: z.string().optional(),
    operationId: z.string().optional(),
  })
  .openapi("BatchCredentialStatusResult");

const BatchStatusResponse = z
  .object({ results: z.array(BatchStatusResult), operations: z.array(OperationSchema) })
  .openapi("BatchCredentialStatusResponse");

statusRoutes.openapi(
  createRoute({
    method: "get",
    path: "/{id}/status",
    tags: ["Credentials"],
    summary: "A credential's revocation and suspension flags",
    request: { params: CredentialIdParam },
    responses: { 200: jsonResponse(StatusFlags, "The flags"), ...commonErrors },
  }),
  async (c) => {
    const row = await findCredential(c.env, c.req.valid("param").id);
    if (!row) throw notFound("credential");
    return c.json(await issuerByName(c.env, row.issuer).getStatus(row.issuer, row.id), 200);
  },
);

statusRoutes.openapi(
  createRoute({
    method: "put",
    path: "/{id}/status",
    tags: ["Credentials"],
    summary: "Revoke, suspend or unsuspend a credential; re-signs its status list",
    description:
      "An absent flag is left as it is. Revocation is permanent (`revoked: false` on a revoked credential is 409 " +
      "`revocation_permanent`). Setting a flag the credential was not issued with (`revocable`/`suspendable`) to true " +
      "is 409 `status_not_enabled`. A change while the issuer has no usable signing key (its key revoked) is 409 " +
      "`no_signing_key` and changes nothing. Changes to one list while its status-list sign job is pending fold into one newer job; " +
      "the older job ends cancelled and its operation fails with code `superseded`.",
    request: { params: CredentialIdParam, ...jsonBody(StatusUpdate) },
    responses: {
      200: jsonResponse(StatusUpdateResponse, "The flags after the change"),
      ...commonErrors,
      409: problemResponseSpec("revocation_permanent, status_not_enabled, no_signing_key (the issuer's key is revoked) or did_deactivated"),
    },
  }),
  async (c) => {
    const row = await findCredential(c.env, c.req.valid("param").id);
    if (!row) throw notFound("credential");
    const body = c.req.valid("json");
    const changed = unwrap(await issuerByName(c.env, row.issuer).setStatus(row.issuer, serviceOrigin(c), [{ ...body, id: row.id }]));
    const result = changed.results[0]!;
    if (result.code) throw new ProblemError(httpStatusOf(result.code), result.code, result.detail ?? result.code);
    const operation = changed.operations.find((op) => op.id === result.operationId);
    return c.json({ revoked: result.revoked, suspended: result.suspended, ...(operation ? { operation } : {}) }, 200);
  },
);

statusRoutes.openapi(
  createRoute({
    method: "put",
    path: "/status/batch",
    tags: ["Credentials"],
    summary: "Change the status of up to 1000 credentials",
    description:
      "Each request is applied on its own, in order: `results[i]` answers `requests[i]` with the flags after it and, when it " +
      "was refused, a `code` (`not_found`, `status_not_enabled`, `revocation_permanent`, `no_signing_key`) and `detail`. Changes are grouped " +
      "by issuer (one issuer object call each) and every changed status list is re-signed once; `operationId` names the " +
      "status-list job's operation, listed once in `operations`.",
    request: jsonBody(BatchStatusRequest),
    responses: { 200: jsonResponse(BatchStatusResponse, "One result per request"), ...commonErrors },
  }),
  async (c) => {
    const { requests } = c.req.valid("json");
    const issuers = await issuersOf(c.env, [...new Set(requests.map((r) => r.id))]);
    const groups = new Map<string, number[]>();
    requests.forEach((r, i) => {
      const issuer = issuers.get(r.id);
      if (issuer) groups.set(issuer, [...(groups.get(issuer) ?? []), i]);
    });
    const results: z.infer<typeof BatchStatusResult>[] = requests.map((r) => ({
      id: r.id,
      revoked: false,
      suspended: false,
      code: "not_found",
      detail: `credential ${r.id} not found`,
    }));
    const operations: Operation[] = [];
    const origin = serviceOrigin(c);
    await Promise.all(
      [...groups].map(async ([issuer, indexes]) => {
        const changes = indexes.map((i) => requests[i]!);
        const changed = await issuerByName(c.env, issuer).setStatus(issuer, origin, changes);
        if (!changed.ok) {
          // The issuer refused as a whole (e.g. its DID was deleted): each of its requests says why.
          indexes.forEach((i) => (results[i] = { ...results[i]!, code: changed.code, detail: changed.detail }));
          return;
        }
        changed.value.results.forEach((r, j) => (results[indexes[j]!] = r));
        operations.push(...changed.value.operations);
      }),
    );
    return c.json({ results, operations }, 200);
  },
);

const Publication = ListPublication.openapi("StatusListPublication");

statusRoutes.openapi(
  createRoute({
    method: "get",
    path: "/status/{listId}/publication",
    tags: ["Credentials"],
    summary: "Where a status list's publication stands: published, pending, retrying with backoff, failed or stopped",
    request: { params: ListIdParam },
    responses: { 200: jsonResponse(Publication, "The list's publication state"), ...commonErrors },
  }),
  async (c) => {
    const { listId } = c.req.valid("param");
    const owner = await listOwner(c.env, listId);
    if (!owner) throw notFound("status list");
    return c.json(unwrap(await issuerByName(c.env, owner).statusListPublication(owner, listId)), 200);
  },
);
