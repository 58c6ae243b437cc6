import { z } from "zod";
import { defineKind, insertSignedRow, resignInTable, type D1Write } from "../../src/core/kinds";
import { manifestClaims } from "../../src/manifests/build";
import type { CredentialManifest } from "../../src/manifests/model";

const Json = z.record(z.string(), z.unknown());

/** The DIF credential_manifest, built and checked against DIF's schema by the route. */
const ManifestInput = z.object({ manifest: Json.and(z.object({ id: z.string() })) });
const ManifestContext = z.object({ manifestId: z.string() });
type ManifestContext = z.infer<typeof ManifestContext>;

/** The whole row, pending or signed: an undelivered pending write is replaced by the signed one. */
function manifestWrite(
  ctx: { did: string; key: { id: string } },
  manifest: unknown,
  operationId: string,
  createdAt: number,
  signed: { jwt: string; at: number } | null,
): D1Write {
  const m = manifest as CredentialManifest;
  return insertSignedRow("manifests", {
    id: m.id,
    issuer: ctx.did,
    verification_method_id: ctx.key.id,
    operation_id: operationId,
    manifest: JSON.stringify(m),
    jwt: signed?.jwt ?? null,
    created_at: createdAt,
    signed_at: signed?.at ?? null,
  });
}

const manifestOf = (payload: Record<string, unknown> | null) => (payload?.credential_manifest ?? null) as CredentialManifest | null;

/** A DIF Credential Manifest signed by its issuer (`PUT /v1/manifests`). */
export const manifestKind = defineKind({
  kind: "manifest",
  input: ManifestInput,
  context: ManifestContext,
  resign: resignInTable("manifests", (c: ManifestContext) => c.manifestId),

  prepare(ctx, input) {
    const manifest = input.manifest as unknown as CredentialManifest;
    const operationId = ctx.operationId ?? `manifests/${manifest.id}`;
    ctx.write(`manifest:${manifest.id}`, manifestWrite(ctx, manifest, operationId, ctx.now, null));
    return {
      operationId,
      header: { typ: "JWT" },
      payload: manifestClaims(manifest, ctx.now),
      context: { manifestId: manifest.id },
      pending: { credential_manifest: manifest },
    };
  },

  finalise(ctx, job, jwt) {
    const manifest = manifestOf(job.payload);
    ctx.write(`manifest:${job.context.manifestId}`, manifestWrite(ctx, manifest, job.operationId, job.createdAt, { jwt, at: ctx.now }));
    return { credential_manifest: manifest, credentialManifestJwt: jwt };
  },

  // The manifest is in the job's claims: the stored response keeps only its id.
  compact: () => ({}),
  expand: (_stored, job) => ({
    credential_manifest: manifestOf(job.payload) ?? { id: job.context.manifestId },
    ...(job.jwt ? { credentialManifestJwt: job.jwt } : {}),
  }),
});
