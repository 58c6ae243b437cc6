import { describe, expect, it } from "vitest";
import { buildManifest, denial, fulfillment, manifestClaims, manifestRequestClaims, responseClaims } from "../../src/manifests/build";
import { validateDif } from "../../src/manifests/dif-schemas";
import allFeatures from "../vectors/dif-credential-manifest/test/credential-manifest/all_features.json";

const request = {
  name: "Driver licence",
  issuerDid: "did:key:z6MkIssuer",
  issuerName: "DMV",
  verificationMethodId: "did:key:z6MkIssuer#z6MkIssuer",
  format: { jwt_vc: { alg: ["EdDSA"] } },
  outputDescriptors: allFeatures.output_descriptors,
};
const ids = { responseId: "r-1", manifestId: "m-1", applicationId: "a-1", applicant: "did:key:z6MkHolder" };

describe("documents the service builds", () => {
  it("a manifest from the API request is valid against DIF's schema, with or without a definition", () => {
    const plain = buildManifest("m-1", request, undefined);
    expect(validateDif("credential-manifest", plain)).toEqual({ ok: true });
    expect(plain).toMatchObject({
      id: "m-1",
      issuer: { id: "did:key:z6MkIssuer", name: "DMV" },
      spec_version: expect.stringContaining("v1.0.0"),
    });
    const withDefinition = buildManifest("m-2", request, { id: "d", input_descriptors: [{ id: "i", constraints: {} }] });
    expect(validateDif("credential-manifest", withDefinition)).toEqual({ ok: true });
  });

  it("fulfilment and denial responses are valid against DIF's schema", () => {
    const f = fulfillment(ids, ["license", "employment"]);
    expect(validateDif("credential-response", f)).toEqual({ ok: true });
    expect(f.fulfillment?.descriptor_map).toEqual([
      { id: "license", format: "jwt_vc", path: "$.verifiableCredentials[0]" },
      { id: "employment", format: "jwt_vc", path: "$.verifiableCredentials[1]" },
    ]);
    const d = denial(ids, "no value at $.credentialSubject.name", ["license"]);
    expect(validateDif("credential-response", d)).toEqual({ ok: true });
    expect(d.denial).toEqual({ reason: "no value at $.credentialSubject.name", input_descriptors: ["license"] });
  });

  it("claim sets: manifest, manifest request (with aud, exp, callbackUrl) and response", () => {
    const m = buildManifest("m-1", request, undefined);
    const now = Date.UTC(2026, 0, 1);
    expect(manifestClaims(m, now)).toEqual({ iss: "did:key:z6MkIssuer", iat: now / 1000, jti: "m-1", credential_manifest: m });
    expect(
      manifestRequestClaims(
        {
          requestId: "q-1",
          issuerId: "did:key:z6MkIssuer",
          manifest: m,
          audience: ["did:key:z6MkWallet"],
          callbackUrl: "https://a.example/cb",
        },
        now,
      ),
    ).toEqual({
      iss: "did:key:z6MkIssuer",
      aud: ["did:key:z6MkWallet"],
      iat: now / 1000,
      exp: now / 1000 + 3600,
      jti: "q-1",
      credential_manifest: m,
      callbackUrl: "https://a.example/cb",
    });
    const r = fulfillment(ids, ["x"]);
    expect(responseClaims("did:key:z6MkIssuer", r, now)).toEqual({
      iss: "did:key:z6MkIssuer",
      iat: now / 1000,
      jti: "r-1",
      credential_response: r,
    });
  });
});
