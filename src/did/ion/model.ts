/**
 * Sidetree / ION request shapes (Sidetree v1.0 "Operations", ION's profile of it) as zod
 * schemas. Both what this service builds and what comes back from a node is parsed with them,
 * so nothing downstream reads an unchecked field.
 */
import { z } from "zod";

/** base64url without padding, the only encoding Sidetree uses for hashes and keys. */
export const B64U = z.string().regex(/^[A-Za-z0-9_-]+$/, "must be base64url");

/** Operation keys (update / recovery) are secp256k1 public JWKs and nothing else (ION profile). */
export const Es256kPublicJwk = z
  .object({ kty: z.literal("EC"), crv: z.literal("secp256k1"), x: B64U.length(43), y: B64U.length(43) })
  .strict();
export type Es256kPublicJwk = z.infer<typeof Es256kPublicJwk>;

export const PURPOSES = ["authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation", "keyAgreement"] as const;
export type Purpose = (typeof PURPOSES)[number];

/** A DID document key as Sidetree carries it in patches: a relative id (no `#`), at most 50 chars. */
export const IonPublicKey = z
  .object({
    id: B64U.max(50),
    type: z.string().min(1).max(64),
    publicKeyJwk: z.record(z.string(), z.unknown()),
    purposes: z.array(z.enum(PURPOSES)).max(PURPOSES.length).optional(),
  })
  .strict();
export type IonPublicKey = z.infer<typeof IonPublicKey>;

export const IonService = z
  .object({ id: B64U.max(50), type: z.string().min(1).max(30), serviceEndpoint: z.union([z.string(), z.record(z.string(), z.unknown())]) })
  .strict();
export type IonService = z.infer<typeof IonService>;

export const IonDocumentState = z
  .object({ publicKeys: z.array(IonPublicKey).max(100).optional(), services: z.array(IonService).max(100).optional() })
  .strict();
export type IonDocumentState = z.infer<typeof IonDocumentState>;

export const Patch = z.discriminatedUnion("action", [
  z.object({ action: z.literal("replace"), document: IonDocumentState }).strict(),
  z.object({ action: z.literal("add-public-keys"), publicKeys: z.array(IonPublicKey).min(1).max(100) }).strict(),
  z.object({ action: z.literal("remove-public-keys"), ids: z.array(B64U.max(50)).min(1).max(100) }).strict(),
  z.object({ action: z.literal("add-services"), services: z.array(IonService).min(1).max(100) }).strict(),
  z.object({ action: z.literal("remove-services"), ids: z.array(B64U.max(50)).min(1).max(100) }).strict(),
]);
export type Patch = z.infer<typeof Patch>;

export const Delta = z.object({ patches: z.array(Patch).max(100), updateCommitment: B64U }).strict();
export type Delta = z.infer<typeof Delta>;

export const SuffixData = z.object({ deltaHash: B64U, recoveryCommitment: B64U, type: z.string().max(4).optional() }).strict();
export type SuffixData = z.infer<typeof SuffixData>;

export const CreateRequest = z.object({ type: z.literal("create"), suffixData: SuffixData, delta: Delta }).strict();
export const UpdateRequest = z
  .object({ type: z.literal("update"), didSuffix: B64U, revealValue: B64U, delta: Delta, signedData: z.string() })
  .strict();
export const RecoverRequest = z
  .object({ type: z.literal("recover"), didSuffix: B64U, revealValue: B64U, delta: Delta, signedData: z.string() })
  .strict();
export const DeactivateRequest = z
  .object({ type: z.literal("deactivate"), didSuffix: B64U, revealValue: B64U, signedData: z.string() })
  .strict();
export const OperationRequest = z.discriminatedUnion("type", [CreateRequest, UpdateRequest, RecoverRequest, DeactivateRequest]);
export type CreateRequest = z.infer<typeof CreateRequest>;
export type UpdateRequest = z.infer<typeof UpdateRequest>;
export type RecoverRequest = z.infer<typeof RecoverRequest>;
export type DeactivateRequest = z.infer<typeof DeactivateRequest>;
export type OperationRequest = z.infer<typeof OperationRequest>;

/** Payloads of `signedData` (the JWS the update or recovery key signs), per operation type. */
export const UpdateSignedData = z.object({ updateKey: Es256kPublicJwk, deltaHash: B64U }).strict();
export const RecoverSignedData = z
  .object({ recoveryKey: Es256kPublicJwk, recoveryCommitment: B64U, deltaHash: B64U, anchorOrigin: z.string().optional() })
  .strict();
export const DeactivateSignedData = z.object({ didSuffix: B64U, recoveryKey: Es256kPublicJwk }).strict();
