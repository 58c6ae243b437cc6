/**
 * `/v1/issuancetemplates`: what an application to a manifest gets without review. Values in a
 * credential's `data` that start with `$` are JSONPath into the submitted credentials.
 */
import { deliveredFor } from "../http/routed";
import { createRoute } from "@hono/zod-openapi";
import { ProblemError } from "../http/errors";
import { IdempotencyHeaders } from "../http/idempotency";
import { commonErrors, createErrors, createRouter, jsonBody, jsonResponse } from "../http/router";
import { CreateIssuanceTemplateRequest, TemplateView } from "./model";
import { getLive, manifestOf, templateCredentialsOf, type ManifestRow, type TemplateRow } from "./store";
import { mountRecordRoutes } from "./record-routes";
import { checkTemplateExpressions } from "./template";

export const issuanceTemplates = createRouter();

const viewOf = (row: TemplateRow) => ({
  id: row.id,
  credentialManifest: row.manifest_id,
  issuer: row.issuer,
  verificationMethodId: row.verification_method_id,
  credentials: templateCredentialsOf(row),
  createdAt: new Date(row.created_at).toISOString(),
});

issuanceTemplates.openapi(
  createRoute({
    method: "put",
    path: "/",
    tags: ["Credential Manifests"],
    summary: "Create an issuance template: applications to its manifest are approved at once with these credentials",
    request: { headers: IdempotencyHeaders, ...jsonBody(CreateIssuanceTemplateRequest) },
    responses: { 201: jsonResponse(TemplateView, "The template"), ...commonErrors, ...createErrors },
  }),
  async (c) => {
    const body = c.req.valid("json");
    await deliveredFor(c.env, body.credentialManifest);
    const manifestRow = await getLive<ManifestRow>(c.env.DB, "manifests", body.credentialManifest);
    if (!manifestRow)
      throw new ProblemError(400, "manifest_not_found", `credentialManifest: manifest ${body.credentialManifest} does not exist`, [
        { path: "credentialManifest", message: "not found" },
      ]);
    const errors = checkTemplateExpressions(body.credentials);
    if (body.issuer !== manifestRow.issuer) errors.push({ path: "issuer", message: `is not the manifest's issuer ${manifestRow.issuer}` });
    const descriptors = manifestOf(manifestRow).output_descriptors.map((d) => d.id);
    body.credentials.forEach((t, i) => {
      if (!descriptors.includes(t.id)) errors.push({ path: `credentials.${i}.id`, message: "is not an output descriptor of the manifest" });
    });
    for (const d of descriptors)
      if (!body.credentials.some((t) => t.id === d))
        errors.push({ path: "credentials", message: `output descriptor ${d} has no credential` });
    if (errors.length > 0)
      throw new ProblemError(400, "validation_failed", errors.map((e) => `${e.path}: ${e.message}`).join("; "), errors);
    const row: TemplateRow = {
      id: crypto.randomUUID(),
      manifest_id: manifestRow.id,
      issuer: body.issuer,
      verification_method_id: body.verificationMethodId,
      credentials: JSON.stringify(body.credentials),
      created_at: Date.now(),
      deleted_at: null,
    };
    try {
      await c.env.DB.prepare(
        "INSERT INTO issuance_templates (id, manifest_id, issuer, verification_method_id, credentials, created_at) VALUES (?, ?, ?, ?, ?, ?)",
      )
        .bind(row.id, row.manifest_id, row.issuer, row.verification_method_id, row.credentials, row.created_at)
        .run();
    } catch (err) {
      if (String(err).includes("UNIQUE"))
        throw new ProblemError(409, "conflict", `manifest ${manifestRow.id} already has an issuance template`);
      throw err;
    }
    return c.json(viewOf(row), 201);
  },
);

mountRecordRoutes(issuanceTemplates, {
  table: "issuance_templates",
  noun: "issuance template",
  view: TemplateView,
  viewsOf: (_env, rows: TemplateRow[]) => rows.map(viewOf),
  list: { member: "issuanceTemplates", summary: "List issuance templates, oldest first" },
  get: { summary: "Get an issuance template" },
  delete: { summary: "Delete an issuance template: applications to its manifest wait for review again" },
});
