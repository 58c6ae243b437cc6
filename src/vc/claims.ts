/**
 * How a verifiable credential becomes JWT claims, in both formats the service issues: VC Data
 * Model 1.1 as a JWT (`jwt_vc`: registered claims mirror the credential, which sits in `vc`) and
 * VC 2.0 secured with JOSE (`vc+jwt`: the credential is the payload). Every kind that signs a
 * credential (credentials, status lists, schemas, ...) maps through here.
 */
import type { CredentialFormat } from "../core/models";

export const VC1_CONTEXT = "https://www.w3.org/2018/credentials/v1";
export const VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2";
/** Bitstring Status List terms for VC 1.1 documents; VC 2.0's own context already defines them. */
export const BSL_V1_CONTEXT = "https://www.w3.org/ns/credentials/status/v1";

export const seconds = (ms: number) => Math.floor(ms / 1000);
export const isoSeconds = (ms: number) => new Date(seconds(ms) * 1000).toISOString().replace(".000Z", "Z");

/** What a credential says, before it is mapped onto one format. */
export interface CredentialDraft {
  /** Contexts besides the base context of the format, which always comes first. */
  contexts?: readonly unknown[];
  id: string;
  /** Types besides VerifiableCredential, which always comes first. */
  types?: readonly string[];
  issuer: string;
  subject: Record<string, unknown> & { id: string };
  issuedAt: number;
  expiresAt?: number;
  /** Further members (credentialSchema, evidence, credentialStatus, ...). */
  extra?: Record<string, unknown>;
}

/** The header members (besides alg and kid) and claims of a credential in a format. */
export function credentialJwt(
  format: CredentialFormat,
  c: CredentialDraft,
): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const base = format === "vc+jwt" ? VC2_CONTEXT : VC1_CONTEXT;
  const credential: Record<string, unknown> = {
    "@context": [base, ...(c.contexts ?? []).filter((x) => x !== base)],
    id: c.id,
    type: ["VerifiableCredential", ...(c.types ?? []).filter((t) => t !== "VerifiableCredential")],
    issuer: c.issuer,
    [format === "vc+jwt" ? "validFrom" : "issuanceDate"]: isoSeconds(c.issuedAt),
    ...(c.expiresAt !== undefined ? { [format === "vc+jwt" ? "validUntil" : "expirationDate"]: isoSeconds(c.expiresAt) } : {}),
    credentialSubject: c.subject,
    ...c.extra,
  };
  if (format === "vc+jwt") return { header: { typ: "vc+jwt", cty: "vc" }, payload: credential };
  const registered = { iss: c.issuer, sub: c.subject.id, nbf: seconds(c.issuedAt), jti: c.id };
  const exp = c.expiresAt !== undefined ? { exp: seconds(c.expiresAt) } : {};
  return { header: { typ: "JWT" }, payload: { ...registered, ...exp, vc: credential } };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The credential inside claims: `vc` for VC 1.1 JWTs, the payload itself for VC 2.0; null when there is none. */
export function credentialIn(format: CredentialFormat, payload: Record<string, unknown>): Record<string, unknown> | null {
  const credential = format === "jwt_vc" ? payload.vc : payload;
  return isObject(credential) ? credential : null;
}

/** The issuer's id, whether `issuer` is a string or an object with an id. */
export function issuerIdOf(credential: Record<string, unknown>): string | undefined {
  const i = credential.issuer;
  return typeof i === "string" ? i : isObject(i) && typeof i.id === "string" ? i.id : undefined;
}
