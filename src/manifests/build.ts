/**
 * The DIF documents the service makes, and the claim sets of the three JWT kinds that carry them
 * (`manifest`, `manifest-request`, `credential-response`). Pure: ids and times come in.
 *
 * Every claim set here is exactly what the signer daemon's policy expects for the kind
 * (signer/src/inspect.ts): change one, change the other.
 */
import type { CreateManifest, CredentialManifest, CredentialResponse } from "./model";

/** DIF Credential Manifest v1, as every document here says. */
export const SPEC_VERSION = "https://identity.foundation/credential-manifest/spec/v1.0.0/";

const seconds = (ms: number) => Math.floor(ms / 1000);

/** A manifest request lives an hour unless the request says otherwise. */
export const DEFAULT_MANIFEST_REQUEST_TTL_S = 3600;

/**
 * The stored manifest. `definition` is the resolved presentation definition (inline, or loaded by
 * `presentationDefinitionId`), in DIF's snake_case shape.
 */
export function buildManifest(id: string, req: CreateManifest, definition: Record<string, unknown> | undefined): CredentialManifest {
  return {
    id,
    spec_version: SPEC_VERSION,
    ...(req.name !== undefined ? { name: req.name } : {}),
    ...(req.description !== undefined ? { description: req.description } : {}),
    issuer: { id: req.issuerDid, ...(req.issuerName !== undefined ? { name: req.issuerName } : {}) },
    output_descriptors: req.outputDescriptors,
    format: req.format,
    ...(definition !== undefined ? { presentation_definition: definition } : {}),
  };
}

/** `manifest` job: the manifest signed by its issuer. */
export function manifestClaims(manifest: CredentialManifest, now: number): Record<string, unknown> {
  return { iss: manifest.issuer.id, iat: seconds(now), jti: manifest.id, credential_manifest: manifest };
}

export interface ManifestRequestInput {
  requestId: string;
  issuerId: string;
  manifest: CredentialManifest;
  audience?: string[] | undefined;
  /** ms since the epoch */
  expiresAt?: number | undefined;
  callbackUrl?: string | undefined;
}

/** `manifest-request` job: `iss`, `aud`?, `iat`, `exp`, `jti`, `credential_manifest`, `callbackUrl`?. */
export function manifestRequestClaims(r: ManifestRequestInput, now: number): Record<string, unknown> {
  const exp = r.expiresAt !== undefined ? seconds(r.expiresAt) : seconds(now) + DEFAULT_MANIFEST_REQUEST_TTL_S;
  return {
    iss: r.issuerId,
    ...(r.audience !== undefined && r.audience.length > 0 ? { aud: r.audience } : {}),
    iat: seconds(now),
    exp,
    jti: r.requestId,
    credential_manifest: r.manifest,
    ...(r.callbackUrl !== undefined ? { callbackUrl: r.callbackUrl } : {}),
  };
}

export interface ResponseInput {
  responseId: string;
  manifestId: string;
  applicationId: string;
  applicant: string;
}

/** What every response says of what it answers; a fulfilment or a denial adds its verdict. */
const answering = (r: ResponseInput) => ({
  id: r.responseId,
  spec_version: SPEC_VERSION,
  manifest_id: r.manifestId,
  application_id: r.applicationId,
  applicant: r.applicant,
});

/**
 * A fulfilment: one descriptor per issued credential, in output descriptor order. The paths point
 * into the operation's result `{ credential_response, verifiableCredentials, responseJwt }`, where
 * the credentials are: they are signed in parallel with the response, so the response JWT cannot
 * embed them.
 */
export function fulfillment(r: ResponseInput, outputDescriptorIds: readonly string[]): CredentialResponse & { applicant: string } {
  return {
    ...answering(r),
    fulfillment: {
      descriptor_map: outputDescriptorIds.map((id, i) => ({ id, format: "jwt_vc", path: `$.verifiableCredentials[${i}]` })),
    },
  };
}

export function denial(r: ResponseInput, reason: string, inputDescriptors?: readonly string[]): CredentialResponse & { applicant: string } {
  return {
    ...answering(r),
    denial: { reason, ...(inputDescriptors && inputDescriptors.length > 0 ? { input_descriptors: [...inputDescriptors] } : {}) },
  };
}

/** `credential-response` job: the response signed by the manifest's issuer. */
export function responseClaims(issuer: string, response: CredentialResponse, now: number): Record<string, unknown> {
  return { iss: issuer, iat: seconds(now), jti: response.id, credential_response: response };
}
