import { randomUUID } from "node:crypto";

/**
 * Sign job claims in exactly the shapes ssi-edge builds them: credentials as
 * src/credentials/build.ts (plus the status entry durable-objects/kinds/credential.ts adds), status
 * lists as durable-objects/status-lists.ts. The daemon signs these and nothing that differs from
 * them; the end-to-end tests check the same against the real service.
 */

export type Format = "jwt_vc" | "vc+jwt";
type Obj = Record<string, unknown>;

const VC1 = "https://www.w3.org/2018/credentials/v1";
const VC2 = "https://www.w3.org/ns/credentials/v2";
const BSL1 = "https://www.w3.org/ns/credentials/status/v1";
const NOW = 1_764_000_000;
const iso = (s: number) => new Date(s * 1000).toISOString().replace(".000Z", "Z");

/** Header members besides alg and kid, which the service appends from the key. */
export const headerOf = (format: Format): Obj => (format === "vc+jwt" ? { typ: "vc+jwt", cty: "vc" } : { typ: "JWT" });

export interface CredentialOptions {
  format?: Format;
  schemaId?: string;
  expiry?: boolean;
  evidence?: boolean;
  status?: "revocation" | "suspension";
  data?: Obj;
  origin?: string;
}

/** A credential payload for `subject`, issued by `did`. */
export function credentialPayload(did: string, subject: string, o: CredentialOptions = {}): Obj {
  const id = `urn:uuid:${randomUUID()}`;
  const format = o.format ?? "jwt_vc";
  const list = `${o.origin ?? "https://issuer.example"}/v1/credentials/status/${randomUUID()}`;
  const vc: Obj = {
    "@context": [format === "jwt_vc" ? VC1 : VC2, ...(o.status && format === "jwt_vc" ? [BSL1] : [])],
    id,
    type: ["VerifiableCredential", "EmployeeCredential"],
    issuer: did,
    ...(format === "jwt_vc" ? { issuanceDate: iso(NOW) } : { validFrom: iso(NOW) }),
    ...(o.expiry ? (format === "jwt_vc" ? { expirationDate: iso(NOW + 3600) } : { validUntil: iso(NOW + 3600) }) : {}),
    credentialSubject: { ...(o.data ?? { name: "Alice" }), id: subject },
    ...(o.schemaId ? { credentialSchema: { id: o.schemaId, type: "JsonSchema" } } : {}),
    ...(o.evidence ? { evidence: [{ type: ["DocumentVerification"] }] } : {}),
    ...(o.status
      ? {
          credentialStatus: {
            id: `${list}#7`,
            type: "BitstringStatusListEntry",
            statusPurpose: o.status,
            statusListIndex: "7",
            statusListCredential: list,
          },
        }
      : {}),
  };
  if (format === "vc+jwt") return vc;
  return {
    iss: did,
    sub: subject,
    nbf: NOW,
    jti: id,
    ...(o.expiry ? { exp: NOW + 3600 } : {}),
    vc,
  };
}

/** A Bitstring Status List credential payload for a list at `url`. */
export function statusListPayload(did: string, format: Format = "jwt_vc", url?: string): Obj {
  const id = url ?? `https://issuer.example/v1/credentials/status/${randomUUID()}`;
  const subject = {
    id: `${id}#list`,
    type: "BitstringStatusList",
    statusPurpose: "revocation",
    encodedList: "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA",
    ttl: 300000,
  };
  const type = ["VerifiableCredential", "BitstringStatusListCredential"];
  if (format === "vc+jwt")
    return {
      "@context": [VC2],
      id,
      type,
      issuer: did,
      validFrom: iso(NOW),
      credentialSubject: subject,
    };
  const vc = {
    "@context": [VC1, BSL1],
    id,
    type,
    issuer: did,
    issuanceDate: iso(NOW),
    credentialSubject: subject,
  };
  return { iss: did, sub: subject.id, nbf: NOW, jti: id, vc };
}
