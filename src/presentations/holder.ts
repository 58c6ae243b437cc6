/**
 * JWTs a holder signs and sends here: a VP JWT with a presentation submission, a credential
 * application. One check for all of them, as a relying party makes it: the holder (`iss`, did:key,
 * did:jwk or did:web) resolves, the header's `kid` names one of its authentication keys, the
 * signature verifies with that key, and `exp`/`nbf` hold. Nothing of the payload is trusted before
 * this. Then, for a JWT that answers a request made here, that it answers that request.
 */
import { MAX_DOCUMENT_DEPTH } from "../core/json-depth";
import { parseJsonSegment, splitCompactJws, verifySignature, type Alg, type PublicJwk } from "../crypto";
import { resolveDid } from "../did/resolver";
import type { SchemaFieldError } from "../schemas/json-schema";

const ALGS: readonly Alg[] = ["EdDSA", "ES256K", "ES256"];
/** Clock skew tolerated on `exp`/`nbf`, as for credentials. */
const SKEW_S = 60;

type Claims = Record<string, unknown>;

export type HolderJwt =
  | { ok: true; holder: string; verificationMethodId: string; header: Claims; payload: Claims }
  | { ok: false; code: "validation_failed" | "invalid_signature"; reason: string };

export interface HolderJwtOptions {
  /** Who the holder is when not `iss` (a VP names it in `vp.holder`); `iss`, when present, must agree. */
  holderOf?: (payload: Claims) => unknown;
  /** A refusal of the payload's shape, said before any DID is resolved. */
  shape?: (payload: Claims) => string | null;
  now?: number;
}

function jsonPart(s: string): Claims | "too_deep" | null {
  const parsed = parseJsonSegment(s);
  if (!parsed) return null;
  if (!parsed.ok) return parsed.reason === "too_deep" ? "too_deep" : null;
  const v = parsed.value;
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Claims) : null;
}

/**
 * `code` says whose fault a refusal is: `validation_failed` for something that is not a holder
 * JWT at all, `invalid_signature` for one whose signer cannot be established.
 */
export async function verifyHolderJwt(env: Env, jwt: string, ownOrigin: string, options: HolderJwtOptions = {}): Promise<HolderJwt> {
  const malformed = (reason: string): HolderJwt => ({ ok: false, code: "validation_failed", reason });
  const forged = (reason: string): HolderJwt => ({ ok: false, code: "invalid_signature", reason });
  const parts = jwt.split(".");
  if (parts.length !== 3) return malformed("not a compact JWS (header.payload.signature)");
  const header = jsonPart(parts[0]!);
  const payload = jsonPart(parts[1]!);
  if (header === "too_deep" || payload === "too_deep")
    return malformed(`JWT header or payload nested deeper than ${MAX_DOCUMENT_DEPTH} levels`);
  if (!header || !payload) return malformed("JWT header or payload is not base64url of a JSON object");
  const alg = header.alg as Alg;
  if (!ALGS.includes(alg)) return malformed(`unsupported alg ${JSON.stringify(header.alg)} (EdDSA, ES256K or ES256)`);
  const shapeRefusal = options.shape?.(payload);
  if (shapeRefusal) return malformed(shapeRefusal);

  const named = options.holderOf?.(payload) ?? payload.iss;
  const holder = typeof named === "string" ? named : undefined;
  if (holder === undefined || !/^did:(key|jwk|web):\S+$/.test(holder) || holder.length > 4096)
    return malformed("the holder (iss) must be a did:key, did:jwk or did:web DID");
  if (payload.iss !== undefined && payload.iss !== holder) return forged("iss and the presentation's holder differ");

  const resolution = await resolveDid(env, holder, ownOrigin);
  const doc = resolution.didDocument;
  if (!doc)
    return forged(
      `the holder's DID does not resolve: ${String(resolution.didResolutionMetadata.message ?? resolution.didResolutionMetadata.error ?? "unknown error")}`,
    );
  if (resolution.didDocumentMetadata.deactivated) return forged("the holder's DID is deactivated");
  const kidRaw = typeof header.kid === "string" ? header.kid : undefined;
  const kid = kidRaw?.startsWith("#") ? `${holder}${kidRaw}` : kidRaw;
  if (kid !== undefined && !kid.startsWith(`${holder}#`)) return forged("kid is not a verification method of the holder");
  const authentication = Array.isArray(doc.authentication)
    ? doc.authentication.map((a) => (typeof a === "string" ? a : (a as { id?: unknown }).id))
    : [];
  // Without a kid, the holder's (first) authentication key: a did:key or did:jwk has just one.
  const vm = doc.verificationMethod.find((m) => (kid ? m.id === kid : authentication.includes(m.id)));
  if (!vm) return forged(`verification method ${kid ?? "(no kid)"} is not in the holder's DID document`);
  if (!authentication.includes(vm.id)) return forged(`verification method ${vm.id} is not an authentication key of the holder`);

  const split = splitCompactJws(alg, jwt);
  if (!split.ok) return forged(`malformed signature: ${split.detail}`);
  const verified = await verifySignature(
    alg,
    vm.publicKeyJwk as PublicJwk,
    new TextEncoder().encode(split.value.signingInput),
    split.value.signature,
  );
  if (!verified) return forged("the holder's signature does not verify");

  const t = (options.now ?? Date.now()) / 1000;
  if (payload.exp !== undefined && (typeof payload.exp !== "number" || payload.exp <= t - SKEW_S)) return malformed("the JWT has expired");
  if (payload.nbf !== undefined && (typeof payload.nbf !== "number" || payload.nbf > t + SKEW_S))
    return malformed("the JWT is not valid yet");
  return { ok: true, holder, verificationMethodId: vm.id, header, payload };
}

/** A request made here that holders answer: a presentation request, a manifest request. */
export interface AnsweredRequest {
  id: string;
  /** The DID that made (signed) the request: the answer's audience. */
  verifier: string;
  expiresAt: number;
}

export type Binding<R extends AnsweredRequest = AnsweredRequest> =
  | { ok: true; request: R | null }
  | { ok: false; errors: SchemaFieldError[] };

/**
 * Ties a holder's JWT to the request it answers, so an answer made for one verifier or one request
 * cannot be replayed to another: its `nonce` is the request's id (the request JWT's `jti`) and its
 * `aud` names the request's verifier. A JWT with neither answers no request (as before); one with
 * an `aud` but no `nonce` is addressed to a verifier without saying which request, and is refused.
 * `at` is where errors point (`submissionJwt`, `applicationJwt`).
 */
export async function bindToRequest<R extends AnsweredRequest>(
  payload: Claims,
  at: string,
  kind: string,
  load: (id: string) => Promise<R | null>,
  now = Date.now(),
): Promise<Binding<R>> {
  const refuse = (member: "nonce" | "aud", message: string): Binding<R> => ({ ok: false, errors: [{ path: `${at}.${member}`, message }] });
  const { nonce, aud } = payload;
  if (nonce === undefined) {
    if (aud === undefined) return { ok: true, request: null };
    return refuse("nonce", `aud is given but no nonce names the ${kind} this answers`);
  }
  if (typeof nonce !== "string" || nonce.length === 0 || nonce.length > 256) return refuse("nonce", `must be the id of a ${kind}`);
  const request = await load(nonce);
  if (!request) return refuse("nonce", `no ${kind} ${JSON.stringify(nonce)} (unknown or deleted)`);
  if (request.expiresAt <= now) return refuse("nonce", `the ${kind} ${nonce} has expired`);
  const audience = typeof aud === "string" ? [aud] : Array.isArray(aud) ? aud : [];
  if (!audience.includes(request.verifier)) return refuse("aud", `must name ${request.verifier}, the verifier of ${kind} ${nonce}`);
  return { ok: true, request };
}
