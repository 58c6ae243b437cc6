import { issuerByName } from "../issuer-client";
import { createRoute, z } from "@hono/zod-openapi";
import { KeyResponse } from "../did/schemas";
import { notFound } from "../http/errors";
import { commonErrors, createRouter, jsonResponse } from "../http/router";
import { revokeKeyRecord } from "../did/store";
import type { IssuerKey } from "../core/models";
import { loadKey } from "./model";

export const keys = createRouter();

const KeyIdParam = z
  .string()
  .min(8)
  .max(2048)
  .regex(/^did:[a-z0-9]+:[^#\s]+#\S+$/, "must be a verification method id (did#fragment)")
  .openapi({ param: { name: "id", in: "path" }, example: "did:key:z6Mk...#z6Mk..." });

/** Public view of a key: never the private part, even encrypted. */
export function keyView(key: IssuerKey): z.infer<typeof KeyResponse> {
  return {
    id: key.id,
    type: key.keyType,
    controller: key.did,
    custody: key.custody,
    ...(key.keyRef !== undefined ? { keyRef: key.keyRef } : {}),
    publicKeyJwk: { ...key.publicJwk },
    createdAt: new Date(key.createdAt).toISOString(),
    revoked: key.revoked,
    ...(key.revokedAt !== undefined ? { revokedAt: new Date(key.revokedAt).toISOString() } : {}),
  };
}

keys.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags: ["Keys"],
    summary: "Get a key's public part and custody",
    request: { params: z.object({ id: KeyIdParam }) },
    responses: { 200: jsonResponse(KeyResponse, "The key"), ...commonErrors },
  }),
  async (c) => {
    const key = await loadKey(c.env.DB, c.req.valid("param").id);
    if (!key) throw notFound("key");
    return c.json(keyView(key), 200);
  },
);

keys.openapi(
  createRoute({
    method: "delete",
    path: "/{id}",
    tags: ["Keys"],
    summary:
      "Revoke a key: it signs nothing more, its pending sign jobs are cancelled, and it leaves its did:web document. The record is kept.",
    request: { params: z.object({ id: KeyIdParam }) },
    responses: { 204: { description: "Revoked" }, ...commonErrors },
  }),
  async (c) => {
    const id = c.req.valid("param").id;
    const key = await loadKey(c.env.DB, id);
    if (!key) throw notFound("key");
    // D1 first, so a key is never usable again once this returns; the object call is idempotent.
    await revokeKeyRecord(c.env.DB, key.did, id, Date.now());
    await issuerByName(c.env, key.did).revokeKey(key.did, id);
    return c.body(null, 204);
  },
);
