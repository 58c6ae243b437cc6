/**
 * Request and document shapes of the Credential Manifest API (api.md, "Credential Manifests").
 * Request bodies are camelCase as in ssi-service; the documents themselves are DIF's snake_case
 * and are also checked against DIF's JSON Schemas (dif-schemas.ts). OpenAPI comes from these.
 */
import { z } from "@hono/zod-openapi";
import { freeFormObject } from "../core/json-depth";
import { holderRequestBody } from "../presentations/request-body";

const Did = z
  .string()
  .min(8)
  .max(2048)
  .regex(/^did:[a-z0-9]+:\S+$/, "must be a DID");
const VerificationMethodId = z.string().min(1).max(2100).openapi({ example: "did:key:z6Mk...#z6Mk..." });
const Id = z.string().min(1).max(256);
const Text = z.string().max(4096);

/** One DIF output descriptor; its `display`/`styles` are checked by DIF's schema, not here. */
export const OutputDescriptor = z
  .object({
    id: Id,
    schema: z.string().min(1).max(2048),
    name: Text.optional(),
    description: Text.optional(),
    display: freeFormObject().optional(),
    styles: freeFormObject().optional(),
  })
  .strict()
  .openapi("OutputDescriptor");
export type OutputDescriptor = z.infer<typeof OutputDescriptor>;

/** DIF claim format designations (`{ jwt_vc: { alg: [...] } }`). */
const Format = freeFormObject().openapi({ example: { jwt_vc: { alg: ["EdDSA", "ES256"] } } });

export const CreateManifestRequest = z
  .object({
    name: Text.optional(),
    description: Text.optional(),
    issuerDid: Did,
    issuerName: Text.optional(),
    verificationMethodId: VerificationMethodId,
    format: Format,
    outputDescriptors: z.array(OutputDescriptor).min(1).max(64),
    presentationDefinition: freeFormObject().optional().openapi({ description: "A DIF presentation definition, inline" }),
    presentationDefinitionId: Id.optional().openapi({ description: "The id of a definition made with /v1/presentations/definitions" }),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (!r.verificationMethodId.startsWith(`${r.issuerDid}#`))
      ctx.addIssue({ code: "custom", path: ["verificationMethodId"], message: "must be a verification method of issuerDid" });
    if (r.presentationDefinition !== undefined && r.presentationDefinitionId !== undefined)
      ctx.addIssue({
        code: "custom",
        path: ["presentationDefinitionId"],
        message: "give presentationDefinition or presentationDefinitionId, not both",
      });
    const ids = new Set<string>();
    r.outputDescriptors.forEach((d, i) => {
      if (ids.has(d.id)) ctx.addIssue({ code: "custom", path: ["outputDescriptors", i, "id"], message: "duplicate output descriptor id" });
      ids.add(d.id);
    });
  })
  .openapi("CreateManifestRequest");
export type CreateManifest = z.infer<typeof CreateManifestRequest>;

export const CreateManifestRequestRequest = holderRequestBody("CreateManifestRequestRequest", { credentialManifestId: Id });
export type CreateManifestRequestBody = z.infer<typeof CreateManifestRequestRequest>;

export const SubmitApplicationRequest = z
  .object({ applicationJwt: z.string().min(1).max(1_000_000).openapi({ description: "A JWT signed by the holder" }) })
  .strict()
  .openapi("SubmitApplicationRequest");

/** An ISO date-time, or a lifetime in seconds from issuance. */
const Expiry = z.union([
  z.iso.datetime({ offset: true }),
  z
    .object({
      duration: z
        .number()
        .int()
        .min(1)
        .max(100 * 365 * 86400),
    })
    .strict(),
]);

/** Per output descriptor: what its credential holds, when an operator approves by hand. */
export const CredentialOverride = z
  .object({
    data: freeFormObject().optional(),
    expiry: Expiry.optional(),
    revocable: z.boolean().optional(),
  })
  .strict()
  .openapi("CredentialOverride");
export type CredentialOverride = z.infer<typeof CredentialOverride>;

export const ReviewApplicationRequest = z
  .object({
    approved: z.boolean(),
    reason: z.string().max(4096).optional(),
    credentialOverrides: z.record(Id, CredentialOverride).optional().openapi({ description: "Keyed by output descriptor id" }),
  })
  .strict()
  .openapi("ReviewApplicationRequest");
export type ReviewApplication = z.infer<typeof ReviewApplicationRequest>;

export const TemplateCredential = z
  .object({
    id: Id.openapi({ description: "The output descriptor this credential fulfils" }),
    schema: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .openapi({ description: "A schema id: the credential's subject is validated against it" }),
    credentialInputDescriptor: Id.optional().openapi({
      description:
        "An input descriptor id: JSONPath values in `data` read the credential submitted for it; without it they read the whole submission",
    }),
    data: freeFormObject().openapi({
      description: 'Claims; a string value starting with "$" is a JSONPath expression into the submitted credentials',
      example: { name: "$.credentialSubject.name", level: "gold" },
    }),
    expiry: Expiry.optional(),
    revocable: z.boolean().optional(),
  })
  .strict()
  .openapi("TemplateCredential");
export type TemplateCredential = z.infer<typeof TemplateCredential>;

export const CreateIssuanceTemplateRequest = z
  .object({
    credentialManifest: Id.openapi({ description: "The manifest id" }),
    issuer: Did,
    verificationMethodId: VerificationMethodId,
    credentials: z.array(TemplateCredential).min(1).max(64),
  })
  .strict()
  .superRefine((r, ctx) => {
    if (!r.verificationMethodId.startsWith(`${r.issuer}#`))
      ctx.addIssue({ code: "custom", path: ["verificationMethodId"], message: "must be a verification method of issuer" });
    const ids = new Set<string>();
    r.credentials.forEach((c, i) => {
      if (ids.has(c.id)) ctx.addIssue({ code: "custom", path: ["credentials", i, "id"], message: "duplicate output descriptor id" });
      ids.add(c.id);
    });
  })
  .openapi("CreateIssuanceTemplateRequest");
export type CreateIssuanceTemplate = z.infer<typeof CreateIssuanceTemplateRequest>;

// ---- DIF documents as the service builds and stores them ----

export type CredentialManifest = {
  id: string;
  spec_version: string;
  name?: string;
  description?: string;
  issuer: { id: string; name?: string; styles?: Record<string, unknown> };
  output_descriptors: OutputDescriptor[];
  format?: Record<string, unknown>;
  presentation_definition?: Record<string, unknown>;
};

export type Descriptor = {
  id: string;
  format: string;
  path: string;
  path_nested?: Descriptor;
};

export type PresentationSubmission = {
  id: string;
  definition_id: string;
  descriptor_map: Descriptor[];
};

export type CredentialApplication = {
  id: string;
  spec_version: string;
  manifest_id: string;
  applicant?: string;
  format: Record<string, unknown>;
  presentation_submission?: PresentationSubmission;
};

export type CredentialResponse = {
  id: string;
  spec_version: string;
  manifest_id: string;
  applicant?: string;
  application_id?: string;
  fulfillment?: { descriptor_map: Descriptor[] };
  denial?: { reason: string; input_descriptors?: string[] };
};

export { SPEC_VERSION } from "./build";

// ---- what the API answers (OpenAPI) ----

const Doc = z.record(z.string(), z.unknown());

export const ManifestView = z
  .object({
    id: z.string(),
    issuer: z.string(),
    verificationMethodId: z.string(),
    operationId: z.string(),
    credential_manifest: Doc,
    credentialManifestJwt: z.string().optional(),
    createdAt: z.string(),
  })
  .openapi("CredentialManifestRecord");

export const ManifestRequestView = z
  .object({
    id: z.string(),
    credentialManifestId: z.string(),
    issuerId: z.string(),
    operationId: z.string(),
    audience: z.array(z.string()).optional(),
    expiration: z.string(),
    callbackUrl: z.string().optional(),
    credentialManifestJwt: z.string().optional(),
    createdAt: z.string(),
  })
  .openapi("ManifestRequest");

export const ApplicationView = z
  .object({
    id: z.string(),
    manifestId: z.string(),
    applicant: z.string(),
    operationId: z.string(),
    credential_application: Doc,
    applicationJwt: z.string(),
    createdAt: z.string(),
  })
  .openapi("CredentialApplicationRecord");

export const ResponseView = z
  .object({
    id: z.string(),
    applicationId: z.string(),
    manifestId: z.string(),
    applicant: z.string(),
    operationId: z.string(),
    credential_response: Doc,
    responseJwt: z.string().optional(),
    verifiableCredentials: z.array(z.string()).optional(),
    createdAt: z.string(),
  })
  .openapi("CredentialResponseRecord");

export const TemplateView = z
  .object({
    id: z.string(),
    credentialManifest: z.string(),
    issuer: z.string(),
    verificationMethodId: z.string(),
    credentials: z.array(TemplateCredential),
    createdAt: z.string(),
  })
  .openapi("IssuanceTemplate");

export const IdParam = z.object({ id: Id.openapi({ param: { name: "id", in: "path" }, example: "3f2c9a1e-0c1b-4f57-9a7e-1c2d3e4f5a6b" }) });
