import { z } from "zod";
import { defineKind, insertSignedRow, resignInTable, type D1Write } from "../../src/core/kinds";
import { manifestRequestClaims } from "../../src/manifests/build";
import type { CredentialManifest } from "../../src/manifests/model";

const ManifestRequestInput = z.object({
  requestId: z.string(),
  manifest: z.record(z.string(), z.unknown()).and(z.object({ id: z.string() })),
  audience: z.array(z.string()).optional(),
  /** ms since the epoch */
  expiresAt: z.number().optional(),
  callbackUrl: z.string().optional(),
});
const ManifestRequestContext = z.object({
  requestId: z.string(),
  manifestId: z.string(),
  audience: z.array(z.string()).nullable(),
  expiresAt: z.number(),
  callbackUrl: z.string().nullable(),
});
type ManifestRequestContext = z.infer<typeof ManifestRequestContext>;

function requestWrite(
  did: string,
  c: ManifestRequestContext,
  operationId: string,
  createdAt: number,
  signed: { jwt: string; at: number } | null,
): D1Write {
  return insertSignedRow("manifest_requests", {
    id: c.requestId,
    manifest_id: c.manifestId,
    issuer: did,
    operation_id: operationId,
    audience: c.audience ? JSON.stringify(c.audience) : null,
    expires_at: c.expiresAt,
    callback_url: c.callbackUrl,
    jwt: signed?.jwt ?? null,
    created_at: createdAt,
    signed_at: signed?.at ?? null,
  });
}

const response = (c: ManifestRequestContext, jwt: string | null) => ({
  manifestRequest: {
    id: c.requestId,
    credentialManifestId: c.manifestId,
    ...(c.audience ? { audience: c.audience } : {}),
    expiration: new Date(c.expiresAt).toISOString(),
    ...(c.callbackUrl ? { callbackUrl: c.callbackUrl } : {}),
    ...(jwt ? { credentialManifestJwt: jwt } : {}),
  },
});

/** A manifest offered to wallets: a JWT with the `credential_manifest` claim (`PUT /v1/manifests/requests`). */
export const manifestRequestKind = defineKind({
  kind: "manifest-request",
  input: ManifestRequestInput,
  context: ManifestRequestContext,
  resign: resignInTable("manifest_requests", (c: ManifestRequestContext) => c.requestId),

  prepare(ctx, input) {
    const payload = manifestRequestClaims(
      { ...input, issuerId: ctx.did, manifest: input.manifest as unknown as CredentialManifest },
      ctx.now,
    );
    const context: ManifestRequestContext = {
      requestId: input.requestId,
      manifestId: input.manifest.id,
      audience: input.audience && input.audience.length > 0 ? input.audience : null,
      expiresAt: (payload.exp as number) * 1000,
      callbackUrl: input.callbackUrl ?? null,
    };
    const operationId = ctx.operationId ?? `manifests/requests/${input.requestId}`;
    ctx.write(`manifest-request:${input.requestId}`, requestWrite(ctx.did, context, operationId, ctx.now, null));
    return { operationId, header: { typ: "JWT" }, payload, context, pending: response(context, null) };
  },

  finalise(ctx, job, jwt) {
    ctx.write(
      `manifest-request:${job.context.requestId}`,
      requestWrite(ctx.did, job.context, job.operationId, job.createdAt, { jwt, at: ctx.now }),
    );
    return response(job.context, jwt);
  },
});
