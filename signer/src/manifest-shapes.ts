/**
 * The exact claim sets ssi-edge signs for Credential Manifest flows (src/manifests/build.ts):
 *
 *   manifest             { iss, iat, jti, credential_manifest }
 *   manifest-request     { iss, aud?, iat, exp, jti, credential_manifest, callbackUrl? }
 *   credential-response  { iss, iat, jti, credential_response }
 *
 * Each is checked member by member, so a job labelled with one of these kinds cannot carry
 * anything else. `aud` is allowed in a manifest request only, and only as a list of DIDs: a
 * DID-auth token's audience is the service's http(s) origin, so such a JWT can never be replayed
 * as one.
 */
type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export const MANIFEST_KINDS = ["manifest", "manifest-request", "credential-response"] as const;
export type ManifestKind = (typeof MANIFEST_KINDS)[number];
export const isManifestKind = (kind: string): kind is ManifestKind => (MANIFEST_KINDS as readonly string[]).includes(kind);

const MEMBERS: Record<ManifestKind, { required: string[]; optional: string[] }> = {
  manifest: { required: ["iss", "iat", "jti", "credential_manifest"], optional: [] },
  "manifest-request": {
    required: ["iss", "iat", "exp", "jti", "credential_manifest"],
    optional: ["aud", "callbackUrl"],
  },
  "credential-response": { required: ["iss", "iat", "jti", "credential_response"], optional: [] },
};

const MANIFEST_KEYS = new Set([
  "id",
  "spec_version",
  "name",
  "description",
  "issuer",
  "output_descriptors",
  "format",
  "presentation_definition",
]);
const RESPONSE_KEYS = new Set(["id", "spec_version", "manifest_id", "applicant", "application_id", "fulfillment", "denial"]);
const DID = /^did:[a-z0-9]+:\S+$/;

function manifestShape(m: unknown, did: string): string | undefined {
  if (!isObj(m)) return "credential_manifest is not an object";
  const extra = Object.keys(m).find((k) => !MANIFEST_KEYS.has(k));
  if (extra !== undefined) return `credential_manifest has "${extra}"`;
  if (typeof m.id !== "string") return "credential_manifest has no id";
  if (!isObj(m.issuer) || m.issuer.id !== did) return `credential_manifest issuer is not ${did}`;
  if (!Array.isArray(m.output_descriptors) || m.output_descriptors.length === 0) return "credential_manifest has no output_descriptors";
  return undefined;
}

function responseShape(r: unknown): string | undefined {
  if (!isObj(r)) return "credential_response is not an object";
  const extra = Object.keys(r).find((k) => !RESPONSE_KEYS.has(k));
  if (extra !== undefined) return `credential_response has "${extra}"`;
  if (typeof r.id !== "string" || typeof r.manifest_id !== "string") return "credential_response has no id or manifest_id";
  if ((r.fulfillment === undefined) === (r.denial === undefined))
    return "credential_response has neither or both of fulfillment and denial";
  return undefined;
}

/** Why a job of a manifest kind is refused, or undefined when its header and payload are exactly ours. */
export function manifestKindShape(kind: ManifestKind, header: Obj, payload: Obj, did: string): string | undefined {
  if (header.typ !== "JWT") return `a ${kind} header has typ "JWT"`;
  if (header.cty !== undefined) return `a ${kind} header has no cty`;
  const { required, optional } = MEMBERS[kind];
  // Smuggled members first: they say more about a hostile job than a missing one does.
  const extra = Object.keys(payload).find((k) => !required.includes(k) && !optional.includes(k));
  if (extra !== undefined) return `${kind} payload has "${extra}"`;
  const missing = required.find((k) => !Object.hasOwn(payload, k));
  if (missing !== undefined) return `${kind} payload has no "${missing}"`;
  if (payload.iss !== did) return `iss is not ${did}`;
  if (typeof payload.iat !== "number") return "iat is not a number";
  if (typeof payload.jti !== "string") return "jti is not a string";
  if (kind === "credential-response") {
    const shape = responseShape(payload.credential_response);
    if (shape !== undefined) return shape;
    return (payload.credential_response as Obj).id === payload.jti ? undefined : "jti is not the response id";
  }
  const shape = manifestShape(payload.credential_manifest, did);
  if (shape !== undefined) return shape;
  if (kind === "manifest") return (payload.credential_manifest as Obj).id === payload.jti ? undefined : "jti is not the manifest id";
  if (typeof payload.exp !== "number" || payload.exp <= payload.iat) return "exp is not after iat";
  if (payload.aud !== undefined) {
    if (!Array.isArray(payload.aud) || payload.aud.length === 0) return "aud is not a list";
    if (!payload.aud.every((a) => typeof a === "string" && DID.test(a)))
      return "a manifest request's aud names DIDs only (an http(s) audience could authenticate somewhere)";
  }
  if (payload.callbackUrl !== undefined && (typeof payload.callbackUrl !== "string" || !/^https?:\/\//.test(payload.callbackUrl)))
    return "callbackUrl is not an http(s) URL";
  return undefined;
}
