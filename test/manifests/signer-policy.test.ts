import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import { refusal, type SignerIdentity } from "../../signer/src/inspect";
import { buildManifest, denial, fulfillment, manifestClaims, manifestRequestClaims, responseClaims } from "../../src/manifests/build";

// The signer daemon decides from the signed bytes alone; these are the bytes the service builds.
const did = "did:key:z6MkIssuer";
const me: SignerIdentity = {
  did,
  kid: `${did}#z6MkIssuer`,
  alg: "EdDSA",
  policy: { kinds: ["credential", "status-list", "manifest", "manifest-request", "credential-response"] },
};
const part = (o: unknown) => base64url.encode(new TextEncoder().encode(JSON.stringify(o)));
const job = (kind: string, payload: Record<string, unknown>, header: Record<string, unknown> = {}) => ({
  did,
  verificationMethodId: me.kid,
  alg: "EdDSA",
  kind,
  signingInput: `${part({ alg: "EdDSA", kid: me.kid, typ: "JWT", ...header })}.${part(payload)}`,
});

const manifest = buildManifest(
  "m-1",
  {
    issuerDid: did,
    verificationMethodId: me.kid,
    format: { jwt_vc: { alg: ["EdDSA"] } },
    outputDescriptors: [{ id: "o", schema: "https://s.example/a" }],
  },
  undefined,
);
const ids = { responseId: "r-1", manifestId: "m-1", applicationId: "a-1", applicant: "did:key:z6MkHolder" };
const now = Date.now();

describe("the signer daemon's policy for manifest kinds (signer/src/manifest-shapes.ts)", () => {
  it("signs exactly what the service builds for manifest, manifest-request and credential-response", () => {
    expect(refusal(job("manifest", manifestClaims(manifest, now)), me)).toBeUndefined();
    const request = manifestRequestClaims(
      { requestId: "q", issuerId: did, manifest, audience: ["did:key:z6MkWallet"], callbackUrl: "https://w.example/cb" },
      now,
    );
    expect(refusal(job("manifest-request", request), me)).toBeUndefined();
    expect(refusal(job("credential-response", responseClaims(did, fulfillment(ids, ["o"]), now)), me)).toBeUndefined();
    expect(refusal(job("credential-response", responseClaims(did, denial(ids, "no"), now)), me)).toBeUndefined();
  });

  it("refuses them when the policy does not name the kind", () => {
    expect(refusal(job("manifest", manifestClaims(manifest, now)), { ...me, policy: { kinds: ["credential"] } })).toMatch(
      /not allowed by signer policy/,
    );
  });

  it("refuses an extra claim, a subject, another issuer, and an http(s) audience (a DID-auth token in disguise)", () => {
    expect(refusal(job("manifest", { ...manifestClaims(manifest, now), exp: 1 }), me)).toMatch(/has "exp"/);
    expect(
      refusal(job("credential-response", { ...responseClaims(did, fulfillment(ids, ["o"]), now), sub: "did:key:z6MkHolder" }), me),
    ).toMatch(/"sub"/);
    const foreign = { ...manifest, issuer: { id: "did:key:z6MkOther" } };
    expect(refusal(job("manifest", { ...manifestClaims(manifest, now), credential_manifest: foreign }), me)).toMatch(/issuer is not/);
    const disguised = manifestRequestClaims({ requestId: "q", issuerId: did, manifest, audience: ["https://ssi.example"] }, now);
    expect(refusal(job("manifest-request", disguised), me)).toMatch(/aud names DIDs only/);
    // aud is allowed in a manifest request only.
    expect(refusal(job("manifest", { ...manifestClaims(manifest, now), aud: ["did:key:z6MkWallet"] }), me)).toMatch(/"aud"/);
  });

  it("refuses a response that fulfils and denies at once, and a manifest under another jti", () => {
    const both = { ...fulfillment(ids, ["o"]), denial: { reason: "x" } };
    expect(refusal(job("credential-response", responseClaims(did, both, now)), me)).toMatch(/neither or both/);
    expect(refusal(job("manifest", { ...manifestClaims(manifest, now), jti: "m-2" }), me)).toMatch(/jti is not the manifest id/);
  });
});
