/** `/v1/manifests/requests`: a manifest offered to wallets as a JWT with the `credential_manifest` claim. */
import { deliveredFor, idFor } from "../http/routed";
import { createRoute } from "@hono/zod-openapi";
import { createArtifact } from "../http/artifacts";
import { ProblemError } from "../http/errors";
import { IdempotencyHeaders } from "../http/idempotency";
import { OperationSchema } from "../http/models";
import { createRouter, signedCreateResponses, jsonBody } from "../http/router";
import { CreateManifestRequestRequest, ManifestRequestView } from "./model";
import { getLive, manifestOf, type ManifestRow, type RequestRow } from "./store";
import { mountRecordRoutes } from "./record-routes";

export const requests = createRouter();

const viewOf = (row: RequestRow) => ({
  id: row.id,
  credentialManifestId: row.manifest_id,
  issuerId: row.issuer,
  operationId: row.operation_id,
  ...(row.audience ? { audience: JSON.parse(row.audience) as string[] } : {}),
  expiration: new Date(row.expires_at).toISOString(),
  ...(row.callback_url ? { callbackUrl: row.callback_url } : {}),
  ...(row.jwt ? { credentialManifestJwt: row.jwt } : {}),
  createdAt: new Date(row.created_at).toISOString(),
});

requests.openapi(
  createRoute({
    method: "put",
    path: "/",
    tags: ["Credential Manifests"],
    summary: "Make a manifest request: a JWT with the credential_manifest claim, signed through a `manifest-request` job",
    request: { headers: IdempotencyHeaders, ...jsonBody(CreateManifestRequestRequest) },
    responses: signedCreateResponses(OperationSchema),
  }),
  async (c) => {
    const body = c.req.valid("json");
    await deliveredFor(c.env, body.credentialManifestId);
    const row = await getLive<ManifestRow>(c.env.DB, "manifests", body.credentialManifestId);
    if (!row)
      throw new ProblemError(400, "manifest_not_found", `credentialManifestId: manifest ${body.credentialManifestId} does not exist`, [
        { path: "credentialManifestId", message: "not found" },
      ]);
    const input = {
      requestId: idFor(c.env, row.issuer),
      manifest: manifestOf(row),
      ...(body.audience ? { audience: body.audience } : {}),
      ...(body.expiration ? { expiresAt: Date.parse(body.expiration) } : {}),
      ...(body.callbackUrl ? { callbackUrl: body.callbackUrl } : {}),
    };
    const created = await createArtifact(c, {
      issuer: body.issuerId,
      verificationMethodId: body.verificationMethodId,
      artifact: { kind: "manifest-request", input },
    });
    return c.json(created.operation, created.status);
  },
);

mountRecordRoutes(requests, {
  table: "manifest_requests",
  noun: "manifest request",
  view: ManifestRequestView,
  viewsOf: (_env, rows: RequestRow[]) => rows.map(viewOf),
  get: { summary: "Get a manifest request (with its JWT once signed)" },
  delete: {
    summary: "Delete a manifest request (its sign job is cancelled if still pending)",
    pendingOperation: (row) => (row.jwt ? undefined : { issuer: row.issuer, operationId: row.operation_id }),
  },
});
