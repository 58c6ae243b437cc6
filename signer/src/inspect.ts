import { sha256 } from "@noble/hashes/sha2.js";
import { base64url } from "jose";
import { isManifestKind, manifestKindShape } from "./manifest-shapes.js";
import { checkPolicy, type Policy } from "./policy.js";

/**
 * Decides whether this signer signs a job, from the bytes it would sign and nothing else.
 *
 * A compromised service controls every field of a job. The `kind` label, the `payload` copy and
 * the `digest` are claims about `signingInput`; the signature is over `signingInput`. So the
 * header and payload are decoded from `signingInput` itself, the kind is derived from what they
 * are, and each kind has one accepted shape: exactly what ssi-edge builds
 * (src/credentials/build.ts, durable-objects/status-lists.ts), no more. Anything else, and
 * anything that could authenticate somewhere (a DID-auth JWT, an ID token, a DPoP proof), is
 * refused with a reason.
 */

/** What this signer is: the DID, its verification method, its algorithm and key reference. */
export interface SignerIdentity {
  did: string;
  kid: string;
  alg: string;
  /** The key reference the DID was registered with, when known (pkcs11 URI). */
  keyRef?: string;
  policy?: Policy;
}

/** The job fields the decision reads. Everything here is service-controlled. */
export interface JobClaims {
  did: string;
  verificationMethodId: string;
  keyRef?: string | undefined;
  alg: string;
  kind: string;
  signingInput: string;
  digest?: string | undefined;
  payload?: Record<string, unknown> | undefined;
}

/** The largest signing input ssi-edge can produce (1 MiB request bodies, base64url-encoded). */
export const MAX_SIGNING_INPUT = 1_500_000;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export const VC1_CONTEXT = "https://www.w3.org/2018/credentials/v1";
export const VC2_CONTEXT = "https://www.w3.org/ns/credentials/v2";
const BSL_V1_CONTEXT = "https://www.w3.org/ns/credentials/status/v1";

/** Header members ssi-edge sets; anything else (crit, jku, jwk, x5u, b64, ...) changes meaning. */
const HEADER_KEYS = new Set(["alg", "kid", "typ", "cty"]);

/**
 * Claims that make a JWT a credential to log in with or a proof of possession: an audience
 * (DID-auth, ID tokens, SIOP), a nonce (challenge responses), DPoP and confirmation claims. A
 * credential or status list never carries them, and no other kind may either.
 */
const AUTH_CLAIMS = ["aud", "nonce", "htm", "htu", "ath", "cnf", "azp", "sub_jwk", "c_nonce"];

// The members build.ts and status-lists.ts put in each object; strict, so a smuggled claim is seen.
const JWT_VC_CLAIMS = new Set(["iss", "sub", "nbf", "jti", "exp", "vc"]);
const VC1_KEYS = new Set([
  "@context",
  "id",
  "type",
  "issuer",
  "issuanceDate",
  "expirationDate",
  "credentialSubject",
  "credentialSchema",
  "evidence",
  "credentialStatus",
]);
const VC2_KEYS = new Set([
  "@context",
  "id",
  "type",
  "issuer",
  "validFrom",
  "validUntil",
  "credentialSubject",
  "credentialSchema",
  "evidence",
  "credentialStatus",
]);
const LIST_VC1_KEYS = new Set(["@context", "id", "type", "issuer", "issuanceDate", "credentialSubject"]);
const LIST_VC2_KEYS = new Set(["@context", "id", "type", "issuer", "validFrom", "credentialSubject"]);
const LIST_SUBJECT_KEYS = new Set(["id", "type", "statusPurpose", "encodedList", "ttl"]);

const extra = (o: Obj, allowed: Set<string>): string | undefined => Object.keys(o).find((k) => !allowed.has(k));

/**
 * Decodes one base64url JSON part strictly: canonical base64url, UTF-8, a JSON object, and the
 * exact bytes `JSON.stringify` gives back (which is how ssi-edge encodes). The last rule refuses
 * duplicate members, whitespace and escapes, so no two JSON parsers can read the part differently.
 */
function decodePart(part: string, what: string): Obj | string {
  if (!/^[A-Za-z0-9_-]+$/.test(part)) return `${what} is not base64url`;
  let bytes: Uint8Array;
  try {
    bytes = base64url.decode(part);
  } catch {
    return `${what} is not base64url`;
  }
  if (base64url.encode(bytes) !== part) return `${what} is not canonical base64url`;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return `${what} is not UTF-8`;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return `${what} is not JSON`;
  }
  if (!isObj(value)) return `${what} is not a JSON object`;
  if (JSON.stringify(value) !== text) return `${what} is not in canonical JSON form (duplicate members or extra whitespace)`;
  return value;
}

/** Header and payload of a JWS signing input, or why it is not one. */
export function decodeSigningInput(signingInput: string): { header: Obj; payload: Obj } | { error: string } {
  if (signingInput.length > MAX_SIGNING_INPUT)
    return {
      error: `signingInput is ${signingInput.length} bytes, more than ${MAX_SIGNING_INPUT}`,
    };
  const parts = signingInput.split(".");
  if (parts.length !== 2) return { error: "signingInput is not header.payload" };
  const header = decodePart(parts[0]!, "signingInput header");
  if (typeof header === "string") return { error: header };
  const payload = decodePart(parts[1]!, "signingInput payload");
  if (typeof payload === "string") return { error: payload };
  return { header, payload };
}

/** Structural equality of JSON values, member order ignored. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (!isObj(a) || !isObj(b)) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/** Kinds as derived from the signed bytes. */
export type DerivedKind = "credential" | "status-list" | "presentation" | "other";

const typesOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

/** What the signed bytes are, whatever the job calls them. */
export function deriveKind(header: Obj, payload: Obj): DerivedKind {
  const typ = typeof header.typ === "string" ? header.typ.toLowerCase() : undefined;
  const vc = isObj(payload.vc) ? payload.vc : payload;
  const types = [...typesOf(payload.type), ...typesOf(vc.type)];
  if (
    payload.vp !== undefined ||
    payload.verifiableCredential !== undefined ||
    types.includes("VerifiablePresentation") ||
    (typ !== undefined && typ.startsWith("vp")) ||
    header.cty === "vp"
  )
    return "presentation";
  if (
    payload.vc !== undefined ||
    payload.credentialSubject !== undefined ||
    types.includes("VerifiableCredential") ||
    (typ !== undefined && typ.startsWith("vc")) ||
    header.cty === "vc"
  )
    return types.includes("BitstringStatusListCredential") ? "status-list" : "credential";
  return "other";
}

/**
 * Returns why the job is refused, or undefined when this signer signs it. Checks, in order:
 * the key (the job is for this DID, method, key reference and algorithm), the signed bytes
 * (decodable, and the `payload`/`digest` copies agree with them), the header (exactly the job's
 * alg and this signer's kid, nothing unknown), no authentication claims, the derived kind
 * against the label, the kind's shape, and the policy.
 */
export function refusal(job: JobClaims, me: SignerIdentity): string | undefined {
  if (job.did !== me.did) return `job is for DID ${job.did}, this signer holds a key of ${me.did}`;
  if (job.verificationMethodId !== me.kid) return `job is for key ${job.verificationMethodId}, this signer holds ${me.kid}`;
  if (job.keyRef !== undefined && me.keyRef !== undefined && !sameKeyRef(job.keyRef, me.keyRef))
    return `job is for keyRef ${job.keyRef}, this signer holds ${me.keyRef}`;
  if (job.alg !== me.alg) return `signer key is ${me.alg}, job wants ${job.alg}`;

  const decoded = decodeSigningInput(job.signingInput);
  if ("error" in decoded) return decoded.error;
  const { header, payload } = decoded;
  if (job.digest !== undefined) {
    const digest = base64url.encode(sha256(new TextEncoder().encode(job.signingInput)));
    if (job.digest !== digest) return "digest is not the SHA-256 of signingInput";
  }
  if (job.payload !== undefined && !jsonEqual(job.payload, payload)) return "payload differs from the payload inside signingInput";

  // A Sidetree (did:ion) operation: its JWS header is `{ alg }` alone, by the protocol.
  // (A credential or status list labelled did-operation falls through and is named as such below.)
  if (job.kind === "did-operation" && deriveKind(header, payload) === "other") return didOperationRefusal(header, payload, me);

  const unknownHeader = extra(header, HEADER_KEYS);
  if (unknownHeader !== undefined) return `signingInput header has "${unknownHeader}"`;
  if (header.alg !== job.alg) return `signingInput header alg ${String(header.alg)} is not the job's ${job.alg}`;
  if (header.kid !== me.kid) return `signingInput header kid is not ${me.kid}`;

  // A manifest request is addressed to wallets: its `aud` is checked to name DIDs only, below.
  const auth = AUTH_CLAIMS.find((c) => Object.hasOwn(payload, c) && !(c === "aud" && job.kind === "manifest-request"));
  if (auth !== undefined) return `payload has "${auth}": a token that could authenticate somewhere`;

  const kind = deriveKind(header, payload);
  if (kind === "presentation") return "signingInput is a verifiable presentation";
  if (kind === "other") {
    if (job.kind === "credential" || job.kind === "status-list") return `labelled ${job.kind} but signingInput is not one`;
    if (!me.policy?.kinds?.includes(job.kind)) return `kind "${job.kind}" not allowed by signer policy`;
    if (isManifestKind(job.kind)) return manifestKindShape(job.kind, header, payload, me.did);
    if (header.typ !== undefined && header.typ !== "JWT") return `signingInput header typ ${String(header.typ)} is not JWT`;
    if (header.cty !== undefined) return "signingInput header has cty";
    if (payload.iss !== undefined && payload.iss !== me.did) return `iss is not ${me.did}`;
    if (payload.sub !== undefined) return `a ${job.kind} has no subject`;
    return undefined;
  }
  if (job.kind !== kind) return `labelled ${job.kind} but signingInput is a ${kind}`;
  const shape = kind === "credential" ? credentialShape(header, payload, me.did) : listShape(header, payload, me.did);
  if (shape !== undefined) return shape;
  return me.policy ? checkPolicy(me.policy, kind, payload) : undefined;
}

/** pkcs11 URIs name the same key when token and object agree; other references must be equal. */
function sameKeyRef(a: string, b: string): boolean {
  if (a === b) return true;
  const attrs = (uri: string) => {
    if (!uri.startsWith("pkcs11:")) return undefined;
    const out: Record<string, string> = {};
    for (const part of uri.slice(7).split("?")[0]!.split(";")) {
      const eq = part.indexOf("=");
      if (eq <= 0) continue;
      try {
        out[part.slice(0, eq)] = decodeURIComponent(part.slice(eq + 1));
      } catch {
        return undefined; // malformed percent-encoding names no key of ours
      }
    }
    return out;
  };
  const x = attrs(a);
  const y = attrs(b);
  return !!x && !!y && x.token === y.token && x.object === y.object && x.token !== undefined;
}

/** Format, header and the credential object of a credential-shaped payload, or why not. */
function envelope(header: Obj, payload: Obj, did: string): { format: "jwt_vc" | "vc+jwt"; vc: Obj } | string {
  if (header.typ === "JWT") {
    if (header.cty !== undefined) return "a jwt_vc header has no cty";
    const claim = extra(payload, JWT_VC_CLAIMS);
    if (claim !== undefined) return `jwt_vc payload has "${claim}"`;
    if (!isObj(payload.vc)) return "jwt_vc payload has no vc object";
    if (payload.iss !== did) return `iss is not ${did}`;
    if (typeof payload.nbf !== "number") return "jwt_vc payload has no nbf";
    if (payload.exp !== undefined && typeof payload.exp !== "number") return "exp is not a number";
    if (payload.jti !== undefined && payload.jti !== payload.vc.id) return "jti is not the credential id";
    return { format: "jwt_vc", vc: payload.vc };
  }
  if (header.typ === "vc+jwt") {
    if (header.cty !== "vc") return 'a vc+jwt header has cty "vc"';
    return { format: "vc+jwt", vc: payload };
  }
  return `signingInput header typ ${JSON.stringify(header.typ)} is neither JWT nor vc+jwt`;
}

/** The parts every credential ssi-edge builds shares: context, types, issuer. */
function commonShape(format: "jwt_vc" | "vc+jwt", vc: Obj, did: string): string | undefined {
  const base = format === "jwt_vc" ? VC1_CONTEXT : VC2_CONTEXT;
  if (!Array.isArray(vc["@context"]) || vc["@context"][0] !== base) return `a ${format} credential's first @context is ${base}`;
  if (!Array.isArray(vc.type) || vc.type[0] !== "VerifiableCredential") return "credential type does not start with VerifiableCredential";
  if (!vc.type.every((t) => typeof t === "string")) return "credential type is not strings";
  if (vc.issuer !== did) return `credential issuer is not ${did}`;
  if (typeof vc.id !== "string") return "credential has no id";
  return undefined;
}

function credentialShape(header: Obj, payload: Obj, did: string): string | undefined {
  const env = envelope(header, payload, did);
  if (typeof env === "string") return env;
  const { format, vc } = env;
  const member = extra(vc, format === "jwt_vc" ? VC1_KEYS : VC2_KEYS);
  if (member !== undefined) return `credential has "${member}"`;
  const common = commonShape(format, vc, did);
  if (common !== undefined) return common;
  // ssi-edge issues one subject per credential; an array is how a second one would be smuggled.
  const subject = vc.credentialSubject;
  if (!isObj(subject)) return "credentialSubject is not one object";
  if (typeof subject.id !== "string") return "credentialSubject has no id";
  if (format === "jwt_vc" && payload.sub !== subject.id)
    return `sub ${JSON.stringify(payload.sub)} is not credentialSubject.id ${subject.id}`;
  return undefined;
}

function listShape(header: Obj, payload: Obj, did: string): string | undefined {
  const env = envelope(header, payload, did);
  if (typeof env === "string") return env;
  const { format, vc } = env;
  const member = extra(vc, format === "jwt_vc" ? LIST_VC1_KEYS : LIST_VC2_KEYS);
  if (member !== undefined) return `status list credential has "${member}"`;
  const common = commonShape(format, vc, did);
  if (common !== undefined) return common;
  if (format === "jwt_vc" && (!Array.isArray(vc["@context"]) || !vc["@context"].includes(BSL_V1_CONTEXT)))
    return `a jwt_vc status list has the ${BSL_V1_CONTEXT} context`;
  if (!Array.isArray(vc.type) || vc.type.length !== 2 || vc.type[1] !== "BitstringStatusListCredential")
    return "status list type is not [VerifiableCredential, BitstringStatusListCredential]";
  const id = vc.id as string;
  if (!/^https?:\/\/[^/]+\/\S+$/.test(id)) return "status list id is not an http(s) URL";
  if (format === "jwt_vc" && payload.exp !== undefined) return "a status list has no exp";
  const subject = vc.credentialSubject;
  // The list's own subject, and nothing else: no one's credential can pass for a status list.
  if (!isObj(subject)) return "status list credentialSubject is not one object";
  const key = extra(subject, LIST_SUBJECT_KEYS);
  if (key !== undefined) return `status list subject has "${key}"`;
  if (subject.id !== `${id}#list`) return "status list subject is not the list's own";
  if (format === "jwt_vc" && payload.sub !== subject.id) return "status list sub is not its subject";
  if (subject.type !== "BitstringStatusList") return "status list subject type is not BitstringStatusList";
  if (subject.statusPurpose !== "revocation" && subject.statusPurpose !== "suspension")
    return "status list purpose is neither revocation nor suspension";
  if (typeof subject.encodedList !== "string" || !/^u[A-Za-z0-9_-]+$/.test(subject.encodedList)) return "status list has no encodedList";
  if (subject.ttl !== undefined && typeof subject.ttl !== "number") return "status list ttl is not a number";
  return undefined;
}

/** The signed data of each Sidetree operation ssi-edge builds (ION SDK): exactly these members. */
const SIDETREE_SHAPES: readonly (readonly string[])[] = [
  ["updateKey", "deltaHash"],
  ["recoveryKey", "recoveryCommitment", "deltaHash"],
  ["didSuffix", "recoveryKey"],
];
const B64U = /^[A-Za-z0-9_-]+$/;

/**
 * A did:ion update, recover or deactivate signed by this signer's update or recovery key. Signed
 * only when the policy lists "did-operation" (such a signature changes the DID itself), with the
 * header `{ alg: "ES256K" }` and nothing else, and the payload one of Sidetree's signed-data
 * shapes carrying a secp256k1 public key. The delta it commits to is only a hash here: a signer
 * that must see the change itself needs the delta from the operator, out of band.
 */
function didOperationRefusal(header: Obj, payload: Obj, me: SignerIdentity): string | undefined {
  if (!me.policy?.kinds?.includes("did-operation")) return `kind "did-operation" not allowed by signer policy`;
  if (me.alg !== "ES256K") return "a Sidetree operation is signed with ES256K";
  if (Object.keys(header).length !== 1 || header.alg !== "ES256K") return "a Sidetree operation's header is { alg: ES256K } alone";
  const members = Object.keys(payload).sort();
  const shape = SIDETREE_SHAPES.find((s) => s.length === members.length && [...s].sort().every((m, i) => m === members[i]));
  if (!shape) return "payload is not the signed data of a Sidetree update, recover or deactivate";
  const key = payload.updateKey ?? payload.recoveryKey;
  if (!isObj(key) || key.kty !== "EC" || key.crv !== "secp256k1" || Object.keys(key).sort().join() !== "crv,kty,x,y")
    return "the operation key is not a secp256k1 public JWK";
  for (const m of ["deltaHash", "recoveryCommitment", "didSuffix"]) {
    if (m in payload && (typeof payload[m] !== "string" || !B64U.test(payload[m] as string))) return `${m} is not base64url`;
  }
  return undefined;
}
