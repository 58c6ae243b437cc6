/**
 * The models both layers share, in plain zod: sign jobs, operations, submissions, keys. The
 * routes add OpenAPI metadata (names, the advertised kinds) where they use them. A leaf module.
 */
import { z } from "zod";

/** pending → signed | rejected | cancelled | expired. Only pending ever moves; signed is immutable. */
export const JOB_STATUSES = ["pending", "signed", "rejected", "cancelled", "expired"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** JOSE `alg` values (RFC 8037, RFC 8812, RFC 7518), one per key type. */
export const ALGS = ["EdDSA", "ES256K", "ES256"] as const;
export type Alg = (typeof ALGS)[number];

/** A VC Data Model 1.1 JWT (`jwt_vc`) or a VC 2.0 credential secured with JOSE (`vc+jwt`). */
export const CREDENTIAL_FORMATS = ["jwt_vc", "vc+jwt"] as const;
export type CredentialFormat = (typeof CREDENTIAL_FORMATS)[number];

/** How an operation ends when one of its jobs ends unsigned. */
export type OperationFailure = "expired" | "rejected_by_signer" | "cancelled" | "superseded";

export const SignJob = z.object({
  id: z.string(),
  did: z.string(),
  verificationMethodId: z.string(),
  keyRef: z.string().optional(),
  alg: z.enum(ALGS),
  /** One of the registered kinds (durable-objects/kinds); the routes advertise them as an enum. */
  kind: z.string(),
  operationId: z.string(),
  signingInput: z
    .string()
    .optional()
    .describe("base64url(header).base64url(payload); sign these ASCII bytes. Absent once the job is purged (purgedAt)"),
  digest: z.string().optional().describe("base64url SHA-256 of signingInput (ECDSA only)"),
  payload: z.record(z.string(), z.unknown()).optional().describe("The decoded claims; absent once purged"),
  status: z.enum(JOB_STATUSES),
  createdAt: z.string(),
  expiresAt: z.string(),
  signedAt: z.string().optional(),
  endedAt: z.string().optional(),
  reason: z.string().optional(),
  signature: z.string().optional(),
  jwt: z.string().optional(),
  purgedAt: z
    .string()
    .optional()
    .describe(
      "Set when retention (SIGNJOB_RETENTION_DAYS after the job ended) dropped the signing input and payload of a job " +
        "that ended unsigned. A signed job's are archived (R2) and read back whole, so it never shows this",
    ),
});
export type SignJob = z.infer<typeof SignJob>;

export const OperationResult = z.object({
  response: z.unknown().optional(),
  error: z.string().optional(),
  code: z.string().optional(),
  /** A failed key rotation: the artifacts that were not re-signed (at most 1,000). */
  notResigned: z.array(z.string()).optional(),
});
export type OperationResult = z.infer<typeof OperationResult>;

export const Operation = z.object({
  id: z.string(),
  done: z.boolean(),
  result: OperationResult.optional(),
  signJobs: z.array(z.string()),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type Operation = z.infer<typeof Operation>;

/** The fields of one signature submission, as the REST API and the WebSocket both carry them. */
export const submissionFields = {
  signature: z.string().min(1).max(4096).optional(),
  jws: z.string().min(1).max(1_100_000).optional(),
  signatureFormat: z.enum(["jose", "der"]).optional(),
};
export const Submission = z.object(submissionFields);
export type Submission = z.infer<typeof Submission>;

/** The submission a REST body, batch item or socket `sign` frame carries, without its other members. */
export const submissionOf = ({ signature, jws, signatureFormat }: Submission): Submission => ({
  ...(jws !== undefined ? { jws } : { signature }),
  ...(signatureFormat !== undefined ? { signatureFormat } : {}),
});

/** A submission carries exactly one of `signature` and `jws`. */
export function requireOneSignature(s: { signature?: string | undefined; jws?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((s.signature === undefined) === (s.jws === undefined)) {
    ctx.addIssue({ code: "custom", path: ["signature"], message: "exactly one of signature or jws is required" });
  }
}

export type KeyType = "Ed25519" | "secp256k1" | "P-256";
export type Custody = "custodial" | "external";

/** A normalised public JWK: only these members, base64url without padding. */
export type PublicJwk = { kty: "OKP" | "EC"; crv: KeyType; x: string; y?: string };

/** A verification method's key as the service stores it. Private material only ever encrypted. */
export interface IssuerKey {
  /** The verification method id. */
  id: string;
  did: string;
  keyType: KeyType;
  alg: Alg;
  custody: Custody;
  keyRef?: string;
  publicJwk: PublicJwk;
  encryptedPrivateKey?: string;
  createdAt: number;
  revoked: boolean;
  revokedAt?: number;
}
