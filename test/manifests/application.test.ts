import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { checkAgainstManifest, parseApplication } from "../../src/manifests/application";
import { buildManifest } from "../../src/manifests/build";
import { verifyHolderJwt } from "../../src/presentations/holder";
import { SPEC_VERSION } from "../../src/manifests/model";
import { ORIGIN } from "../support/api";
import wrapperClaims from "../vectors/dif-credential-manifest/test/credential-manifest/appendix-jwt.json";
import { makeHolder } from "./holders";

const definition = {
  id: "def-1",
  input_descriptors: [{ id: "license", constraints: { fields: [{ path: ["$.credentialSubject.license"] }] } }],
};
const manifest = buildManifest(
  "manifest-1",
  {
    issuerDid: "did:key:z6MkIssuer",
    verificationMethodId: "did:key:z6MkIssuer#z6MkIssuer",
    format: { jwt_vc: { alg: ["EdDSA"] } },
    outputDescriptors: [{ id: "out-1", schema: "https://example.com/schemas/a" }],
  },
  definition,
);

const application = (extra: Record<string, unknown> = {}) => ({
  id: crypto.randomUUID(),
  spec_version: SPEC_VERSION,
  manifest_id: "manifest-1",
  format: { jwt_vc: { alg: ["EdDSA"] } },
  presentation_submission: {
    id: "sub-1",
    definition_id: "def-1",
    descriptor_map: [{ id: "license", format: "jwt_vc", path: "$.verifiableCredential[0]" }],
  },
  ...extra,
});

describe("the holder's signature on an application JWT", () => {
  for (const [method, alg] of [
    ["key", "EdDSA"],
    ["jwk", "ES256"],
    ["web", "EdDSA"],
  ] as const) {
    it(`is verified for a did:${method} holder (${alg})`, async () => {
      const holder = await makeHolder(method, alg);
      const jwt = await holder.sign({ credential_application: application() });
      const v = await verifyHolderJwt(env, jwt, ORIGIN);
      expect(v).toMatchObject({ ok: true, holder: holder.did, verificationMethodId: holder.kid });
    });
  }

  it("refuses a forged signature: another key signing under the holder's kid", async () => {
    const holder = await makeHolder("key");
    const forger = await makeHolder("key");
    const jwt = await forger.sign({ iss: holder.did, credential_application: application() }, { kid: holder.kid });
    expect(await verifyHolderJwt(env, jwt, ORIGIN)).toEqual({
      ok: false,
      code: "invalid_signature",
      reason: "the holder's signature does not verify",
    });
  });

  it("refuses a kid of another DID, a payload changed after signing, and a JWT that is not one", async () => {
    const holder = await makeHolder("key");
    const other = await makeHolder("key");
    const jwt = await holder.sign({ credential_application: application() }, { kid: other.kid });
    expect(await verifyHolderJwt(env, jwt, ORIGIN)).toMatchObject({
      ok: false,
      code: "invalid_signature",
      reason: "kid is not a verification method of the holder",
    });

    const good = await holder.sign({ credential_application: application() });
    const [h, , s] = good.split(".");
    const tampered = `${h}.${btoa(JSON.stringify({ iss: holder.did, credential_application: application() }))
      .replace(/=+$/, "")
      .replace(/\+/g, "-")
      .replace(/\//g, "_")}.${s}`;
    expect(await verifyHolderJwt(env, tampered, ORIGIN)).toMatchObject({ ok: false, code: "invalid_signature" });
    expect(await verifyHolderJwt(env, "not.a-jwt", ORIGIN)).toMatchObject({ ok: false, code: "validation_failed" });
  });

  it("refuses an expired application JWT", async () => {
    const holder = await makeHolder("key");
    const jwt = await holder.sign({ credential_application: application(), exp: Math.floor(Date.now() / 1000) - 3600 });
    expect(await verifyHolderJwt(env, jwt, ORIGIN)).toMatchObject({ ok: false, code: "validation_failed", reason: "the JWT has expired" });
  });

  it("refuses a did:web holder whose document cannot be fetched", async () => {
    const jwt = await (
      await makeHolder("key")
    ).sign({ iss: "did:web:nowhere.example", credential_application: application() }, { kid: "did:web:nowhere.example#key-1" });
    expect(await verifyHolderJwt(env, jwt, ORIGIN)).toMatchObject({
      ok: false,
      code: "invalid_signature",
      reason: expect.stringMatching(/does not resolve/),
    });
  });
});

describe("reading the application out of the claims", () => {
  it("reads DIF's JWT appendix envelope (test/credential-manifest/appendix-jwt.json): application, submission, credentials", () => {
    const parsed = parseApplication(wrapperClaims.iss, wrapperClaims);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.application.manifest_id).toBe("WA-DL-CLASS-A");
    expect(parsed.value.submission?.descriptor_map).toHaveLength(2);
    expect(parsed.value.credentials).toHaveLength(2);
    // DIF's example points at verifiableCredential[0] while the claim is verifiableCredentials.
    expect(parsed.value.presentation.verifiableCredential).toBe(parsed.value.credentials);
  });

  it("reads a VP JWT envelope with the submission beside the application", () => {
    const { presentation_submission, ...app } = application();
    const parsed = parseApplication("did:key:z6MkHolder", {
      iss: "did:key:z6MkHolder",
      credential_application: app,
      vp: { type: ["VerifiablePresentation"], holder: "did:key:z6MkHolder", verifiableCredential: ["a.b.c"], presentation_submission },
    });
    expect(parsed.ok && parsed.value.submission).toEqual(presentation_submission);
    expect(parsed.ok && parsed.value.presentation.verifiableCredential).toEqual(["a.b.c"]);
  });

  it("refuses claims without an application, one invalid against DIF's schema, and an applicant who is not the signer", () => {
    expect(parseApplication("did:key:z6MkA", { iss: "did:key:z6MkA" })).toMatchObject({ ok: false, code: "validation_failed" });
    const { manifest_id: _, ...noManifest } = application();
    const bad = parseApplication("did:key:z6MkA", { credential_application: noManifest });
    expect(bad).toMatchObject({ ok: false, code: "validation_failed", reason: expect.stringMatching(/manifest_id/) });
    expect(parseApplication("did:key:z6MkA", { credential_application: application({ applicant: "did:key:z6MkB" }) })).toMatchObject({
      ok: false,
      code: "invalid_signature",
    });
  });
});

describe("what the manifest demands of an application", () => {
  const parse = (app: Record<string, unknown>) => {
    const p = parseApplication("did:key:z6MkA", { credential_application: app });
    if (!p.ok) throw new Error(p.reason);
    return p.value;
  };

  it("accepts an application to this manifest with a submission for its definition", () => {
    expect(checkAgainstManifest(parse(application()), manifest)).toEqual({ ok: true });
  });

  it("refuses another manifest's id, a format the manifest does not offer, no submission, and a submission for another definition", () => {
    expect(checkAgainstManifest(parse(application({ manifest_id: "other" })), manifest)).toMatchObject({ code: "manifest_not_found" });
    expect(
      checkAgainstManifest(parse(application({ format: { ldp_vc: { proof_type: ["Ed25519Signature2020"] } } })), manifest),
    ).toMatchObject({
      code: "validation_failed",
      reason: expect.stringMatching(/ldp_vc/),
    });
    const { presentation_submission: _, ...bare } = application();
    expect(checkAgainstManifest(parse(bare), manifest)).toMatchObject({ code: "submission_invalid" });
    expect(
      checkAgainstManifest(
        parse(application({ presentation_submission: { id: "s", definition_id: "def-2", descriptor_map: [] } })),
        manifest,
      ),
    ).toMatchObject({ code: "submission_invalid", reason: expect.stringMatching(/def-2/) });
  });
});
