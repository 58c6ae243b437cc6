/**
 * `/v1/manifests`: DIF Credential Manifests (api.md "Credential Manifests"), each signed as a JWT
 * through a `manifest` job. The sub-resources (requests, applications, responses) are mounted
 * first, so `/{id}` never takes their paths.
 */
import { idFor } from "../http/routed";
import { createRoute } from "@hono/zod-openapi";
import { createArtifact } from "../http/artifacts";
import { ProblemError } from "../http/errors";
import { IdempotencyHeaders } from "../http/idempotency";
import { OperationSchema } from "../http/models";
import { createRouter, signedCreateResponses, jsonBody } from "../http/router";
import { applications } from "./application-routes";
import { buildManifest } from "./build";
import { validateDif } from "./dif-schemas";
import { CreateManifestRequest, ManifestView, type CreateManifest } from "./model";
import { requests } from "./request-routes";
import { responses } from "./response-routes";
import { manifestOf, type ManifestRow } from "./store";
import { mountRecordRoutes } from "./record-routes";

export const manifests = createRouter();
manifests.route("/requests", requests);
manifests.route("/applications", applications);
manifests.route("/responses", responses);

const viewOf = (row: ManifestRow) => ({
  id: row.id,
  issuer: row.issuer,
  verificationMethodId: row.verification_method_id,
  operationId: row.operation_id,
  credential_manifest: manifestOf(row),
  ...(row.jwt ? { credentialManifestJwt: row.jwt } : {}),
  createdAt: new Date(row.created_at).toISOString(),
});

/** The definition a manifest embeds: inline, or one stored by /v1/presentations/definitions. */
async function definitionFor(db: D1Database, body: CreateManifest): Promise<Record<string, unknown> | undefined> {
  if (body.presentationDefinition !== undefined) return body.presentationDefinition;
  if (body.presentationDefinitionId === undefined) return undefined;
  let row: { definition: string } | null = null;
  try {
    row = await db
      .prepare("SELECT definition FROM presentation_definitions WHERE id = ? AND deleted_at IS NULL")
      .bind(body.presentationDefinitionId)
      .first<{ definition: string }>();
  } catch {
    row = null; // no definitions table yet: no such definition
  }
  if (!row)
    throw new ProblemError(400, "validation_failed", `presentationDefinitionId: ${body.presentationDefinitionId} not found`, [
      { path: "presentationDefinitionId", message: "not found" },
    ]);
  return JSON.parse(row.definition) as Record<string, unknown>;
}

manifests.openapi(
  createRoute({
    method: "put",
    path: "/",
    tags: ["Credential Manifests"],
    summary: "Create a Credential Manifest, signed by its issuer: 201 done (custodial) or 202 with a `manifest` sign job",
    request: { headers: IdempotencyHeaders, ...jsonBody(CreateManifestRequest) },
    responses: signedCreateResponses(OperationSchema),
  }),
  async (c) => {
    const body = c.req.valid("json");
    const manifest = buildManifest(idFor(c.env, body.issuerDid), body, await definitionFor(c.env.DB, body));
    // What is stored and signed is valid against DIF's own schema, every member named when not.
    const valid = validateDif("credential-manifest", manifest, "credential_manifest");
    if (!valid.ok)
      throw new ProblemError(400, "validation_failed", "the manifest is not valid against DIF's Credential Manifest schema", valid.errors);
    const created = await createArtifact(c, {
      issuer: body.issuerDid,
      verificationMethodId: body.verificationMethodId,
      artifact: { kind: "manifest", input: { manifest } },
    });
    return c.json(created.operation, created.status);
  },
);

mountRecordRoutes(manifests, {
  table: "manifests",
  noun: "manifest",
  view: ManifestView,
  viewsOf: (_env, rows: ManifestRow[]) => rows.map(viewOf),
  list: { member: "manifests", summary: "List manifests, oldest first" },
  get: { summary: "Get a manifest (with its JWT once signed)" },
  delete: {
    summary: "Delete a manifest (its sign job is cancelled if still pending); applications to it are refused from then on",
    pendingOperation: (row) => (row.jwt ? undefined : { issuer: row.issuer, operationId: row.operation_id }),
  },
});
