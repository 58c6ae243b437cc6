import { z } from "@hono/zod-openapi";
import { CredentialInput } from "../../durable-objects/kinds/credential";
import { OperationSchema } from "../http/models";

export const CreateCredentialRequest = CredentialInput.strict()
  .superRefine((r, ctx) => {
    if (r.revocable && r.suspendable) {
      ctx.addIssue({ code: "custom", path: ["suspendable"], message: "revocable and suspendable cannot both be set" });
    }
    if (!r.verificationMethodId.startsWith(`${r.issuer}#`)) {
      ctx.addIssue({ code: "custom", path: ["verificationMethodId"], message: "must be a verification method of issuer" });
    }
    if (r.expiry !== undefined && Date.parse(r.expiry) <= Date.now()) {
      ctx.addIssue({ code: "custom", path: ["expiry"], message: "must be in the future" });
    }
  })
  .openapi("CreateCredentialRequest");
export type CreateCredential = z.infer<typeof CreateCredentialRequest>;

export const CredentialContainerSchema = z
  .object({
    id: z.string(),
    fullyQualifiedVerificationMethodId: z.string(),
    credential: z.record(z.string(), z.unknown()),
    credentialJwt: z.string().optional(),
    revoked: z.boolean(),
    suspended: z.boolean(),
    operationId: z.string(),
  })
  .openapi("CredentialContainer");
export type Container = z.infer<typeof CredentialContainerSchema>;

/** One JWT a credential has had: key rotation re-signs a credential without changing its id or status entry. */
export const CredentialJwtSchema = z
  .object({
    jwt: z.string(),
    verificationMethodId: z.string().openapi({ description: "The key that signed this JWT" }),
    signedAt: z.string().optional(),
  })
  .openapi("CredentialJwt");

/** `GET /v1/credentials/{id}`: the container (its `credentialJwt` is the newest) and every JWT it has had. */
export const CredentialWithHistorySchema = CredentialContainerSchema.extend({
  jwtHistory: z
    .array(CredentialJwtSchema)
    .optional()
    .openapi({
      description:
        "Every JWT of this credential, newest first (the first is `credentialJwt`). A key rotation re-signs a credential with " +
        "the DID's new key and keeps its id and status entry; the JWTs before stay valid until their key leaves the DID document.",
    }),
}).openapi("CredentialWithHistory");

export const CredentialOperation = OperationSchema;

export const BatchCreateRequest = z
  .object({ requests: z.array(CreateCredentialRequest).min(1).max(1000) })
  .strict()
  .openapi("BatchCreateCredentialsRequest");

/** Why one item of a batch was not created while others were. */
export const BatchItemError = z
  .object({
    index: z.number().int().openapi({ description: "The item's position in `requests`" }),
    status: z.number().int().openapi({ description: "The HTTP status this failure has on its own" }),
    code: z.string().openapi({ example: "key_revoked" }),
    detail: z.string(),
  })
  .openapi("BatchItemError");

export const BatchCreateResponse = z
  .object({
    operations: z.array(OperationSchema.nullable()).openapi({
      description: "One per request, in request order; null only for an item listed in `errors`",
    }),
    errors: z.array(BatchItemError).optional().openapi({
      description: "Present (with status 200) only when some items were created and these were not",
    }),
  })
  .openapi("BatchCreateCredentialsResponse");

export const CredentialListResponse = z
  .object({ credentials: z.array(CredentialContainerSchema), nextPageToken: z.string().optional() })
  .openapi("CredentialList");

export const VerifyRequest = z
  .object({ credentialJwt: z.string().min(1).max(1_000_000) })
  .strict()
  .openapi("VerifyCredentialRequest");
export const VerifyResponse = z.object({ verified: z.boolean(), reason: z.string().optional() }).openapi("VerifyCredentialResponse");

/** A credential id in a path. */
export const CredentialIdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(128)
    .openapi({ param: { name: "id", in: "path" }, example: "3f2c9a1e-0c1b-4f57-9a7e-1c2d3e4f5a6b" }),
});
