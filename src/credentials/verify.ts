import { base64url } from "jose";
import { MAX_DOCUMENT_DEPTH, parseJsonWithin } from "../core/json-depth";
import { decodeSignature, verifySignature } from "../crypto";
import type { Alg, PublicJwk } from "../crypto/types";
import { resolveDid } from "../did/resolver";
import { loadKey } from "../keys/model";
import { checkCredentialStatus } from "../status/check";

const SKEW_S = 60;
const ALGS: readonly Alg[] = ["EdDSA", "ES256K", "ES256"];

type Verdict = { verified: boolean; reason?: string };
const no = (reason: string): Verdict => ({ verified: false, reason });

/** A JWT header or payload: a JSON object, bounded in depth before it is parsed. */
function part(s: string | undefined): Record<string, unknown> | "too_deep" | null {
  let text: string;
  try {
    text = new TextDecoder().decode(base64url.decode(s ?? ""));
  } catch {
    return null;
  }
  const parsed = parseJsonWithin(text);
  if (!parsed.ok) return parsed.reason === "too_deep" ? "too_deep" : null;
  const v = parsed.value;
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

const secondsOf = (v: unknown): number | null => {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && !Number.isNaN(Date.parse(v))) return Date.parse(v) / 1000;
  return null;
};

export type SignedJwt = {
  ok: true;
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** The credential: the `vc` claim (VC 1.1) or the payload itself (VC 2.0). */
  credential: Record<string, unknown>;
  v2: boolean;
  issuer: string;
  /** The verification method that verified the signature. */
  verificationMethodId: string;
};

/**
 * Checks a credential JWT's signature the way a relying party would: resolve the issuer DID and
 * verify with the verification method its `kid` names. Shared by credential and status list checks.
 */
export async function verifyJwtSignature(env: Env, jwt: string, ownOrigin: string): Promise<SignedJwt | { ok: false; reason: string }> {
  const no = (reason: string) => ({ ok: false as const, reason });
  const [h, p, s, ...extra] = jwt.split(".");
  if (extra.length > 0 || !s) return no("not a compact JWS");
  const header = part(h);
  const payload = part(p);
  if (header === "too_deep" || payload === "too_deep") return no(`JWT header or payload nested deeper than ${MAX_DOCUMENT_DEPTH} levels`);
  if (!header || !payload) return no("malformed JWT header or payload");
  const alg = header.alg as Alg;
  if (!ALGS.includes(alg)) return no(`unsupported alg ${String(header.alg)}`);

  const v2 = header.typ === "vc+jwt" || (payload.vc === undefined && payload["@context"] !== undefined);
  const credential = (v2 ? payload : payload.vc) as Record<string, unknown> | undefined;
  if (!credential || typeof credential !== "object") return no("no credential in the JWT");
  const issuerField = v2 ? credential.issuer : (payload.iss ?? credential.issuer);
  const issuer = typeof issuerField === "string" ? issuerField : (issuerField as { id?: unknown } | undefined)?.id;
  if (typeof issuer !== "string" || !issuer.startsWith("did:")) return no("the issuer is not a DID");

  const resolution = await resolveDid(env, issuer, ownOrigin);
  if (!resolution.didDocument) return no(`issuer DID does not resolve: ${resolution.didResolutionMetadata.error ?? "unknown"}`);
  if (resolution.didDocumentMetadata.deactivated) return no("issuer DID is deactivated");
  const kidRaw = typeof header.kid === "string" ? header.kid : undefined;
  const kid = kidRaw?.startsWith("#") ? `${issuer}${kidRaw}` : kidRaw;
  if (kid && !kid.startsWith(`${issuer}#`)) return no("kid is not a verification method of the issuer");
  const vm = resolution.didDocument.verificationMethod.find((m) => (kid ? m.id === kid : true));
  if (!vm) return no(`verification method ${kid ?? ""} not in the issuer's DID document`);

  const sig = decodeSignature(alg, s, "jose");
  if (!sig.ok) return no(`malformed signature: ${sig.message}`);
  const ok = await verifySignature(alg, vm.publicKeyJwk as PublicJwk, new TextEncoder().encode(`${h}.${p}`), sig.value);
  if (!ok) return no("signature does not verify");
  return { ok: true, header, payload, credential, v2, issuer, verificationMethodId: vm.id };
}

/**
 * Verifies a credential JWT the way a relying party would: resolve the issuer DID, check the
 * signature with the named verification method, the validity window, whether we know the key
 * to be revoked, and the credential's status list entry.
 */
export async function verifyCredentialJwt(env: Env, jwt: string, ownOrigin: string): Promise<Verdict> {
  const signed = await verifyJwtSignature(env, jwt, ownOrigin);
  if (!signed.ok) return no(signed.reason);
  const { payload, credential, v2 } = signed;

  const known = await loadKey(env.DB, signed.verificationMethodId);
  if (known?.revoked) return no("the issuer's signing key is revoked");

  const now = Date.now() / 1000;
  const notBefore = secondsOf(v2 ? credential.validFrom : (payload.nbf ?? credential.issuanceDate));
  const notAfter = secondsOf(v2 ? credential.validUntil : (payload.exp ?? credential.expirationDate));
  if (notBefore !== null && notBefore > now + SKEW_S) return no("the credential is not valid yet");
  if (notAfter !== null && notAfter <= now - SKEW_S) return no("the credential has expired");

  const status = await checkCredentialStatus(env, ownOrigin, credential, signed.issuer);
  if (status) return no(status);
  return { verified: true };
}
