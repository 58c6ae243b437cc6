import { fail, type Result } from "../core/errors";
import { MAX_DOCUMENT_DEPTH, jwtPart } from "../core/json-depth";
import { ALGS, type PublicJwk } from "../core/models";
import { decodeSignature, verifySignature } from "../crypto";
import { resolveDid } from "../did/resolver";
import { credentialIn, issuerIdOf } from "./claims";

export interface SignedCredential {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  /** The credential: the `vc` claim (VC 1.1) or the payload itself (VC 2.0). */
  credential: Record<string, unknown>;
  v2: boolean;
  issuer: string;
  /** The verification method that verified the signature. */
  verificationMethodId: string;
}

const no = (reason: string) => fail("not_verified", reason);

/**
 * Checks a credential JWT's signature the way a relying party would: resolve the issuer DID and
 * verify with the verification method its `kid` names. Shared by credential and status list checks.
 */
export async function verifyCredentialSignature(env: Env, jwt: string, ownOrigin: string): Promise<Result<SignedCredential>> {
  const [h, p, s, ...extra] = jwt.split(".");
  if (extra.length > 0 || !s) return no("not a compact JWS");
  const header = jwtPart(h);
  const payload = jwtPart(p);
  if (header === "too_deep" || payload === "too_deep") return no(`JWT header or payload nested deeper than ${MAX_DOCUMENT_DEPTH} levels`);
  if (!header || !payload) return no("malformed JWT header or payload");
  const alg = ALGS.find((a) => a === header.alg);
  if (!alg) return no(`unsupported alg ${String(header.alg)}`);

  const v2 = header.typ === "vc+jwt" || (payload.vc === undefined && payload["@context"] !== undefined);
  const credential = credentialIn(v2 ? "vc+jwt" : "jwt_vc", payload);
  if (!credential) return no("no credential in the JWT");
  const issuer = v2 ? issuerIdOf(credential) : typeof payload.iss === "string" ? payload.iss : issuerIdOf(credential);
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
  if (!sig.ok) return no(`malformed signature: ${sig.detail}`);
  const ok = await verifySignature(alg, vm.publicKeyJwk as PublicJwk, new TextEncoder().encode(`${h}.${p}`), sig.value);
  if (!ok) return no("signature does not verify");
  return { ok: true, value: { header, payload, credential, v2, issuer, verificationMethodId: vm.id } };
}

/** A JWT date claim or credential date in seconds, or null when absent or unreadable. */
export function secondsOf(v: unknown): number | null {
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (typeof v === "string" && !Number.isNaN(Date.parse(v))) return Date.parse(v) / 1000;
  return null;
}
