import { z } from "@hono/zod-openapi";
import { freeFormObject } from "../core/json-depth";
import { DID_METHODS } from "./documents";

export const KeyTypeSchema = z.enum(["Ed25519", "secp256k1", "P-256"]);
export const DidMethodSchema = z.enum(DID_METHODS).openapi({ param: { name: "method", in: "path" } });

export const CreateDidRequest = z
  .object({
    keyType: KeyTypeSchema,
    custody: z.enum(["custodial", "external"]).default("custodial"),
    publicKeyJwk: freeFormObject()
      .optional()
      .openapi({
        description: "external custody: the public key (never a private `d`)",
        example: { kty: "OKP", crv: "Ed25519", x: "..." },
      }),
    keyRef: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .openapi({ description: "opaque; handed to signers in every sign job", example: "pkcs11:token=issuer;object=vc-signing" }),
    updateKeyJwk: freeFormObject()
      .optional()
      .openapi({ description: "did:ion, external custody: the secp256k1 public key of the Sidetree update key" }),
    updateKeyRef: z.string().min(1).max(512).optional().openapi({ description: "did:ion: the update key's keyRef" }),
    recoveryKeyJwk: freeFormObject()
      .optional()
      .openapi({ description: "did:ion, external custody: the secp256k1 public key of the Sidetree recovery key" }),
    recoveryKeyRef: z.string().min(1).max(512).optional().openapi({ description: "did:ion: the recovery key's keyRef" }),
    options: z
      .object({ didWebId: z.string().optional().openapi({ example: "did:web:example.com:issuers:acme" }) })
      .strict()
      .optional(),
  })
  .strict()
  .openapi("CreateDidRequest");

export const DidDocumentSchema = z
  .object({
    "@context": z.array(z.string()),
    id: z.string(),
    verificationMethod: z.array(
      z.object({ id: z.string(), type: z.string(), controller: z.string(), publicKeyJwk: z.record(z.string(), z.unknown()) }),
    ),
    authentication: z.array(z.string()),
    assertionMethod: z.array(z.string()),
    capabilityInvocation: z.array(z.string()),
    capabilityDelegation: z.array(z.string()),
  })
  .passthrough()
  .openapi("DidDocument");

export const DidResponse = z
  .object({
    did: DidDocumentSchema,
    longFormDid: z.string().optional().openapi({ description: "did:ion: the long-form DID, resolvable before and without anchoring" }),
    operation: z
      .record(z.string(), z.unknown())
      .optional()
      .openapi({ description: "did:ion with ION_NODE_URL: the anchoring Operation dids/ion/{suffix}" }),
  })
  .openapi("DidResponse");
export const DidListResponse = z
  .object({ dids: z.array(DidDocumentSchema), nextPageToken: z.string().optional() })
  .openapi("DidListResponse");

export const ResolutionResponse = z
  .object({
    didResolutionMetadata: z.record(z.string(), z.unknown()),
    didDocument: DidDocumentSchema.nullable(),
    didDocumentMetadata: z.record(z.string(), z.unknown()),
  })
  .openapi("DidResolution");

export const KeyResponse = z
  .object({
    id: z.string(),
    type: KeyTypeSchema,
    controller: z.string(),
    custody: z.enum(["custodial", "external"]),
    keyRef: z.string().optional(),
    publicKeyJwk: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
    revoked: z.boolean(),
    revokedAt: z.string().optional(),
  })
  .openapi("Key");

/** A DID inside a path segment, URL-encoded by the client. */
export const DidParam = z
  .string()
  .min(8)
  .max(2048)
  .regex(/^did:[a-z0-9]+:\S+$/, "must be a DID")
  .openapi({ param: { name: "did", in: "path" }, example: "did:key:z6Mk..." });
