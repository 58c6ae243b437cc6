/**
 * `/v1/manifests/applications`: a holder's credential application. Everything is checked before
 * anything exists (holder signature, manifest, DIF schema, the submission against the manifest's
 * definition, each submitted credential); then it waits for review, or a template answers it at once.
 */
import { deliveredFor } from "../http/routed";
import { createRoute } from "@hono/zod-openapi";
import type { IdempotencyClaim } from "../core/idempotency";
import { serviceOrigin } from "../http/auth";
import { notFound, ProblemError } from "../http/errors";
import { IdempotencyHeaders, idempotencyClaim } from "../http/idempotency";
import { OperationSchema } from "../http/models";
import { commonErrors, createErrors, createRouter, signedCreateResponses, jsonBody, jsonResponse } from "../http/router";
import { unwrap } from "../http/rpc";
import { issuerByName } from "../issuer-client";
import { bindToRequest, verifyHolderJwt } from "../presentations/holder";
import { requestAnswered, uniqueViolation } from "../presentations/single-use";
import { verifyCredentialJwt } from "../vc/verify";
import { checkAgainstManifest, parseApplication, type ParsedApplication } from "./application";
import { applicationOperationId, deny, fulfil, type Applied, type OutputCredential } from "./issue";
import { ApplicationView, IdParam, ReviewApplicationRequest, SubmitApplicationRequest, type CredentialManifest } from "./model";
import {
  applicationOf,
  getLive,
  manifestOf,
  templateCredentialsOf,
  templateForManifest,
  type ApplicationRow,
  type ManifestRow,
  type RequestRow,
} from "./store";
import { mountRecordRoutes } from "./record-routes";
import { checkSubmission } from "./submission";
import { renderTemplateData } from "./template";

export const applications = createRouter();

type Claim = IdempotencyClaim & { fromClient: boolean };

const refused = (
  code: "validation_failed" | "invalid_signature" | "manifest_not_found" | "submission_invalid" | "credential_invalid",
  reason: string,
  errors?: { path: string; message: string }[],
) => new ProblemError(400, code, reason, errors);

/** Everything checked before an application is recorded; each refusal is a 400 naming its reason. */
async function check(
  env: Env,
  origin: string,
  jwt: string,
): Promise<{ parsed: ParsedApplication; manifestRow: ManifestRow; manifest: CredentialManifest; requestId: string | null }> {
  const holder = await verifyHolderJwt(env, jwt, origin);
  if (!holder.ok) throw refused(holder.code, `applicationJwt: ${holder.reason}`);
  const parsed = parseApplication(holder.holder, holder.payload);
  if (!parsed.ok) throw refused(parsed.code, parsed.reason, parsed.errors);
  const manifestId = parsed.value.application.manifest_id;
  // An application answering a manifest request names it (nonce) and its issuer (aud), as a submission does.
  const binding = await bindToRequest(holder.payload, "applicationJwt", "manifest request", async (id) => {
    await deliveredFor(env, id);
    const row = await getLive<RequestRow>(env.DB, "manifest_requests", id);
    return row && { id: row.id, verifier: row.issuer, expiresAt: row.expires_at, manifestId: row.manifest_id };
  });
  if (!binding.ok) throw refused("validation_failed", binding.errors.map((e) => `${e.path}: ${e.message}`).join("; "), binding.errors);
  if (binding.request && binding.request.manifestId !== manifestId)
    throw refused(
      "validation_failed",
      `credential_application.manifest_id ${manifestId} is not the manifest of manifest request ${binding.request.id}`,
      [
        {
          path: "credential_application.manifest_id",
          message: `not the manifest ${binding.request.manifestId} of manifest request ${binding.request.id}`,
        },
      ],
    );
  await deliveredFor(env, manifestId);
  const manifestRow = await getLive<ManifestRow>(env.DB, "manifests", manifestId);
  if (!manifestRow) throw refused("manifest_not_found", `manifest ${manifestId} does not exist`);
  const manifest = manifestOf(manifestRow);
  const fits = checkAgainstManifest(parsed.value, manifest);
  if (!fits.ok) throw refused(fits.code, fits.reason);
  if (manifest.presentation_definition !== undefined) {
    const verdict = checkSubmission(
      manifest.presentation_definition,
      parsed.value.submission!,
      parsed.value.presentation,
      parsed.value.holder,
    );
    if (!verdict.ok) throw refused("submission_invalid", verdict.reason, verdict.errors);
    // The submission reads credentials; whether each is genuine (signature, dates, status) is checked here.
    for (const [i, credential] of verdict.credentials.entries()) {
      const verified = await verifyCredentialJwt(env, credential, origin);
      if (!verified.ok) throw refused("credential_invalid", `submitted credential ${i} does not verify: ${verified.detail}`);
    }
  }
  return { parsed: parsed.value, manifestRow, manifest, requestId: binding.request?.id ?? null };
}

/**
 * The application as D1 keeps it: immutable once made. A resubmission of the same JWT finds its
 * row; another JWT with its id is 409 `conflict`; a second application by the same holder to the
 * same manifest request is 409 `request_answered` (the request's nonce is used once per holder).
 */
async function record(
  db: D1Database,
  parsed: ParsedApplication,
  manifestRow: ManifestRow,
  jwt: string,
  requestId: string | null,
): Promise<void> {
  const id = parsed.application.id;
  const existing = () =>
    db
      .prepare("SELECT application_jwt, deleted_at FROM credential_applications WHERE id = ?")
      .bind(id)
      .first<{ application_jwt: string; deleted_at: number | null }>();
  let row = await existing();
  if (!row) {
    try {
      await db
        .prepare(
          `INSERT INTO credential_applications (id, manifest_id, issuer, applicant, operation_id, application, application_jwt, request_id, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .bind(
          id,
          manifestRow.id,
          manifestRow.issuer,
          parsed.holder,
          applicationOperationId(id),
          JSON.stringify(parsed.application),
          jwt,
          requestId,
          Date.now(),
        )
        .run();
    } catch (err) {
      const index = uniqueViolation(err);
      if (index === "credential_applications.request_id") throw requestAnswered("manifest request", requestId!, parsed.holder);
      // The same id landed meanwhile (a concurrent copy): judged below like any resubmission.
      if (index !== "credential_applications.id") throw err;
    }
    row = await existing();
  }
  if (row?.application_jwt !== jwt || row.deleted_at !== null)
    throw new ProblemError(409, "conflict", `an application with id ${id} was already submitted`);
}

const appliedOf = (
  parsed: { id: string; applicant: string },
  manifestRow: ManifestRow,
  key?: { issuer: string; verificationMethodId: string },
): Applied => ({
  applicationId: parsed.id,
  applicant: parsed.applicant,
  manifest: manifestOf(manifestRow),
  issuer: key?.issuer ?? manifestRow.issuer,
  verificationMethodId: key?.verificationMethodId ?? manifestRow.verification_method_id,
});

/** An application to a templated manifest is answered at once: the template's credentials, or a denial naming what is missing. */
async function answerWithTemplate(env: Env, origin: string, parsed: ParsedApplication, manifestRow: ManifestRow, claim: Claim) {
  const template = await templateForManifest(env.DB, manifestRow.id);
  if (!template) return null;
  const applied = appliedOf({ id: parsed.application.id, applicant: parsed.holder }, manifestRow, {
    issuer: template.issuer,
    verificationMethodId: template.verification_method_id,
  });
  const outputs: OutputCredential[] = [];
  for (const t of templateCredentialsOf(template)) {
    const rendered = renderTemplateData(t, parsed);
    if (!rendered.ok)
      return deny(env, origin, applied, rendered.reason, t.credentialInputDescriptor ? [t.credentialInputDescriptor] : undefined, claim);
    outputs.push({ descriptorId: t.id, data: rendered.data, expiry: t.expiry, revocable: t.revocable, schemaId: t.schema });
  }
  return fulfil(env, origin, applied, outputs, claim);
}

applications.openapi(
  createRoute({
    method: "put",
    path: "/",
    tags: ["Credential Manifests"],
    summary: "Submit a credential application (a JWT signed by the holder) → the operation credentials/responses/{applicationId}",
    description:
      "The holder's signature, the manifest's existence, DIF's application schema, the submission against the manifest's " +
      "presentation definition and every submitted credential are checked first; each refusal is a 400 naming its reason. " +
      "An application to a manifest with an issuance template is answered at once (201 custodial, 202 external); " +
      "otherwise the operation waits for PUT /v1/manifests/applications/{id}/review (202). Sending the same application JWT " +
      "again answers its operation; another JWT with the same application id is 409 `conflict`, and a second application by " +
      "the same holder to one manifest request is 409 `request_answered`.",
    request: { headers: IdempotencyHeaders, ...jsonBody(SubmitApplicationRequest) },
    responses: {
      201: jsonResponse(OperationSchema, "Answered by a template and signed at once (custodial)"),
      202: jsonResponse(OperationSchema, "Waiting for review, or for an external signer"),
      ...commonErrors,
      ...createErrors,
    },
  }),
  async (c) => {
    const jwt = c.req.valid("json").applicationJwt;
    const origin = serviceOrigin(c);
    const { parsed, manifestRow, requestId } = await check(c.env, origin, jwt);
    await record(c.env.DB, parsed, manifestRow, jwt, requestId);
    const answered = await answerWithTemplate(c.env, origin, parsed, manifestRow, await idempotencyClaim(c));
    if (answered) return c.json(answered.operation, answered.custodial ? 201 : 202);
    const op = unwrap(
      await issuerByName(c.env, manifestRow.issuer).openOperation(manifestRow.issuer, applicationOperationId(parsed.application.id)),
    );
    return c.json(op, 202);
  },
);

const viewOf = (row: ApplicationRow) => ({
  id: row.id,
  manifestId: row.manifest_id,
  applicant: row.applicant,
  operationId: row.operation_id,
  credential_application: applicationOf(row),
  applicationJwt: row.application_jwt,
  createdAt: new Date(row.created_at).toISOString(),
});

applications.openapi(
  createRoute({
    method: "put",
    path: "/{id}/review",
    tags: ["Credential Manifests"],
    summary: "Approve (one credential per output descriptor plus the signed response) or deny (the signed response) an application",
    description:
      "Approval creates one `credential` sign job per output descriptor (subject data from `credentialOverrides`, keyed by " +
      "output descriptor id) and one `credential-response` job, all under the application's operation: done when all are " +
      "signed, with `{ credential_response, verifiableCredentials, responseJwt }`; failed, with its other jobs cancelled, when " +
      "any is rejected, expires or is cancelled. A denial signs a response carrying `denial`. 409 once reviewed or cancelled.",
    request: { params: IdParam, headers: IdempotencyHeaders, ...jsonBody(ReviewApplicationRequest) },
    responses: signedCreateResponses(OperationSchema),
  }),
  async (c) => {
    const row = await getLive<ApplicationRow>(c.env.DB, "credential_applications", c.req.valid("param").id);
    if (!row) throw notFound("credential application");
    const manifestRow = await getLive<ManifestRow>(c.env.DB, "manifests", row.manifest_id);
    if (!manifestRow) throw new ProblemError(409, "conflict", `manifest ${row.manifest_id} has been deleted`);
    const review = c.req.valid("json");
    const applied = appliedOf({ id: row.id, applicant: row.applicant }, manifestRow);
    const claim = await idempotencyClaim(c);
    let answer;
    if (review.approved) {
      const descriptors = applied.manifest.output_descriptors.map((d) => d.id);
      const overrides = review.credentialOverrides ?? {};
      const stray = Object.keys(overrides).filter((k) => !descriptors.includes(k));
      if (stray.length > 0)
        throw new ProblemError(
          400,
          "validation_failed",
          `credentialOverrides: ${stray.join(", ")} is not an output descriptor of the manifest`,
          stray.map((k) => ({ path: `credentialOverrides.${k}`, message: "not an output descriptor of the manifest" })),
        );
      const outputs = descriptors.map((id) => ({
        descriptorId: id,
        data: overrides[id]?.data ?? {},
        expiry: overrides[id]?.expiry,
        revocable: overrides[id]?.revocable,
      }));
      answer = await fulfil(c.env, serviceOrigin(c), applied, outputs, claim);
    } else {
      answer = await deny(c.env, serviceOrigin(c), applied, review.reason ?? "denied by the issuer", undefined, claim);
    }
    return c.json(answer.operation, answer.custodial ? 201 : 202);
  },
);

mountRecordRoutes(applications, {
  table: "credential_applications",
  noun: "credential application",
  view: ApplicationView,
  viewsOf: (_env, rows: ApplicationRow[]) => rows.map(viewOf),
  list: { member: "applications", summary: "List credential applications, oldest first" },
  get: { summary: "Get a credential application" },
});
