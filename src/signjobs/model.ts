import { z } from "@hono/zod-openapi";

/** Every kind of artifact that is signed through a sign job. Each has one finaliser. */
export const JOB_KINDS = [
  "credential",
  "status-list",
  "schema",
  "manifest",
  "presentation-request",
  "credential-response",
] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** pending → signed | rejected | cancelled | expired. Only pending ever moves; signed is immutable. */
export const JOB_STATUSES = ["pending", "signed", "rejected", "cancelled", "expired"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const ALGS = ["EdDSA", "ES256K", "ES256"] as const;

export const SignJobSchema = z
  .object({
    id: z.string(),
    did: z.string(),
    verificationMethodId: z.string(),
    keyRef: z.string().optional(),
    alg: z.enum(ALGS),
    kind: z.enum(JOB_KINDS),
    operationId: z.string(),
    signingInput: z.string().optional().openapi({
      description: "base64url(header).base64url(payload); sign these ASCII bytes. Absent once the job is purged (purgedAt)",
    }),
    digest: z.string().optional().openapi({ description: "base64url SHA-256 of signingInput (ECDSA only)" }),
    payload: z.record(z.string(), z.unknown()).optional().openapi({ description: "The decoded claims; absent once purged" }),
    status: z.enum(JOB_STATUSES),
    createdAt: z.string(),
    expiresAt: z.string(),
    signedAt: z.string().optional(),
    endedAt: z.string().optional(),
    reason: z.string().optional(),
    signature: z.string().optional(),
    jwt: z.string().optional(),
    purgedAt: z.string().optional().openapi({
      description:
        "Set when retention (SIGNJOB_RETENTION_DAYS after the job ended) dropped its signing input, payload and JWT; " +
        "the artifact itself (credential, status list) keeps its JWT",
    }),
  })
  .openapi("SignJob");
export type SignJob = z.infer<typeof SignJobSchema>;

export const OperationResultSchema = z
  .object({
    response: z.unknown().optional(),
    error: z.string().optional(),
    code: z.string().optional(),
  })
  .openapi("OperationResult");

export const OperationSchema = z
  .object({
    id: z.string().openapi({ example: "credentials/3f2c9a1e-..." }),
    done: z.boolean(),
    result: OperationResultSchema.optional(),
    signJobs: z.array(z.string()),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Operation");
export type Operation = z.infer<typeof OperationSchema>;
export type OperationResult = z.infer<typeof OperationResultSchema>;

/** Failure codes an operation can end with. */
export type OperationFailure = "expired" | "rejected_by_signer" | "cancelled" | "superseded";

export const SignatureFormatSchema = z.enum(["jose", "der"]);

/** The fields of one signature submission, as the REST API and the WebSocket both carry them. */
export const submissionFields = {
  signature: z.string().min(1).max(4096).optional(),
  jws: z.string().min(1).max(1_100_000).optional(),
  signatureFormat: SignatureFormatSchema.optional(),
};
export const SubmissionSchema = z.object(submissionFields);

/** A submission carries exactly one of `signature` and `jws`. */
export function requireOneSignature(s: { signature?: string | undefined; jws?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((s.signature === undefined) === (s.jws === undefined)) {
    ctx.addIssue({ code: "custom", path: ["signature"], message: "exactly one of signature or jws is required" });
  }
}
export type Submission = z.infer<typeof SubmissionSchema>;
