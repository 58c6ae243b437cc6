import type { JobSpec } from "../../durable-objects/kinds";
import type { CredentialContext } from "../../durable-objects/kinds/credential";
import type { CreateCredential } from "./schemas";

const VC1_CONTEXT = "https://www.w3.org/2018/credentials/v1";
const VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2";

const seconds = (ms: number) => Math.floor(ms / 1000);
const isoSeconds = (ms: number) => new Date(seconds(ms) * 1000).toISOString().replace(".000Z", "Z");

function contexts(base: string, extra: CreateCredential["@context"]): unknown[] {
  const rest = (extra ?? []).filter((c) => c !== base);
  return [base, ...rest];
}

function types(extra: string[] | undefined): string[] {
  return ["VerifiableCredential", ...(extra ?? []).filter((t) => t !== "VerifiableCredential")];
}

/**
 * The unsigned credential as a sign job spec. The issuer object adds the status entry (it owns
 * the index allocation) and the signature; everything else is decided here.
 */
export function credentialSpec(req: CreateCredential, now = Date.now()): { credentialId: string; spec: JobSpec } {
  const credentialId = crypto.randomUUID();
  const vcId = `urn:uuid:${credentialId}`;
  const operationId = `credentials/${credentialId}`;
  const subject = { ...req.data, id: req.subject };
  const schema = req.schemaId ? { credentialSchema: { id: req.schemaId, type: "JsonSchema" } } : {};
  const evidence = req.evidence ? { evidence: req.evidence } : {};
  const expiryMs = req.expiry ? Date.parse(req.expiry) : undefined;

  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  if (req.format === "vc+jwt") {
    // VC Data Model 2.0 secured with JOSE: the credential is the payload.
    header = { typ: "vc+jwt", cty: "vc" };
    payload = {
      "@context": contexts(VC2_CONTEXT, req["@context"]),
      id: vcId,
      type: types(req.type),
      issuer: req.issuer,
      validFrom: isoSeconds(now),
      ...(expiryMs !== undefined ? { validUntil: isoSeconds(expiryMs) } : {}),
      credentialSubject: subject,
      ...schema,
      ...evidence,
    };
  } else {
    // VC Data Model 1.1 as a JWT: registered claims mirror the credential's properties.
    header = { typ: "JWT" };
    const vc = {
      "@context": contexts(VC1_CONTEXT, req["@context"]),
      id: vcId,
      type: types(req.type),
      issuer: req.issuer,
      issuanceDate: isoSeconds(now),
      ...(expiryMs !== undefined ? { expirationDate: isoSeconds(expiryMs) } : {}),
      credentialSubject: subject,
      ...schema,
      ...evidence,
    };
    payload = {
      iss: req.issuer,
      sub: req.subject,
      nbf: seconds(now),
      jti: vcId,
      ...(expiryMs !== undefined ? { exp: seconds(expiryMs) } : {}),
      vc,
    };
  }
  const context: CredentialContext = {
    credentialId,
    format: req.format,
    issuer: req.issuer,
    subject: req.subject,
    schemaId: req.schemaId ?? null,
    verificationMethodId: req.verificationMethodId,
    statusPurpose: req.revocable ? "revocation" : req.suspendable ? "suspension" : null,
  };
  return {
    credentialId,
    spec: { kind: "credential", operationId, header, payload, context: { ...context } },
  };
}
