import { describe, expect, it } from "vitest";
import { validateDif } from "../../src/manifests/dif-schemas";
import applicationAppendixJwt from "../vectors/dif-credential-manifest/test/credential-application/appendix-jwt.json";
import applicationAppendix from "../vectors/dif-credential-manifest/test/credential-application/appendix.json";
import applicationSample from "../vectors/dif-credential-manifest/test/credential-application/sample.json";
import manifestAllFeatures from "../vectors/dif-credential-manifest/test/credential-manifest/all_features.json";
import manifestFolderAppendixJwt from "../vectors/dif-credential-manifest/test/credential-manifest/appendix-jwt.json";
import responseAppendixJwt from "../vectors/dif-credential-manifest/test/credential-response/appendix-jwt.json";
import responseAppendix from "../vectors/dif-credential-manifest/test/credential-response/appendix.json";
import responseDenial from "../vectors/dif-credential-manifest/test/credential-response/sample-denial.json";
import responseFulfillment from "../vectors/dif-credential-manifest/test/credential-response/sample-fulfillment.json";
import outputDescriptors from "../vectors/dif-credential-manifest/test/output-descriptors/simple.json";

const copy = <T>(v: T): T => structuredClone(v);
/** DIF's manifest example, its definition's descriptor given the constraints PE v2 requires. */
const manifestOf = (): Record<string, any> => {
  const m = copy(manifestAllFeatures) as Record<string, any>;
  m.presentation_definition.input_descriptors[0].constraints = { fields: [{ path: ["$.credentialSubject.id"] }] };
  return m;
};

describe("DIF Credential Manifest v1 schemas (vendored in src/manifests/dif)", () => {
  it("accepts DIF's manifest example (test/credential-manifest/all_features.json) once its definition is PE v2", () => {
    // DIF's fixture definition has a descriptor with only an id; PE v2 requires constraints.
    const bare = validateDif("credential-manifest", manifestAllFeatures);
    expect(bare.ok).toBe(false);
    if (!bare.ok) expect(bare.errors.map((e) => e.path)).toEqual(["presentation_definition.input_descriptors.0"]);
    expect(validateDif("credential-manifest", manifestOf())).toEqual({ ok: true });
  });

  it("accepts every application example: the bare object and the credential_application of each envelope", () => {
    expect(validateDif("credential-application", applicationSample)).toEqual({ ok: true });
    expect(validateDif("credential-application", applicationAppendix.credential_application)).toEqual({ ok: true });
    expect(validateDif("credential-application", applicationAppendixJwt.credential_application)).toEqual({ ok: true });
    // test/credential-manifest/appendix-jwt.json is, despite its folder, the claim set of an
    // application JWT (ssi-sdk's wrapper); its application is what is checked.
    expect(validateDif("credential-application", manifestFolderAppendixJwt.credential_application)).toEqual({ ok: true });
  });

  it("accepts every response example, fulfilment and denial", () => {
    for (const r of [responseFulfillment, responseDenial, responseAppendix.credential_response, responseAppendixJwt.credential_response]) {
      expect(validateDif("credential-response", r)).toEqual({ ok: true });
    }
  });

  it("accepts DIF's output descriptors example", () => {
    expect(validateDif("output-descriptors", outputDescriptors)).toEqual({ ok: true });
  });

  it("refuses a manifest without issuer, naming the member", () => {
    const m: Record<string, unknown> = manifestOf();
    delete m.issuer;
    const v = validateDif("credential-manifest", m, "credential_manifest");
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.errors.map((e) => e.path)).toContain("credential_manifest");
    if (!v.ok) expect(v.errors.map((e) => e.message).join(" ")).toMatch(/issuer/);
  });

  it("names the failing path inside output descriptors, styles and the presentation definition", () => {
    const m = manifestOf();
    delete m.output_descriptors[0].schema;
    m.issuer.styles.background.color = "red";
    m.presentation_definition.input_descriptors[0].unknown = 1;
    const v = validateDif("credential-manifest", m);
    expect(v.ok).toBe(false);
    const paths = v.ok ? [] : v.errors.map((e) => e.path);
    expect(paths).toContain("output_descriptors.0");
    expect(paths).toContain("issuer.styles.background.color");
    expect(paths.some((p) => p.startsWith("presentation_definition.input_descriptors.0"))).toBe(true);
  });

  it("refuses a response with both fulfillment and denial, and an application with an unknown member", () => {
    expect(validateDif("credential-response", { ...copy(responseFulfillment), denial: { reason: "no" } }).ok).toBe(false);
    expect(validateDif("credential-application", { ...copy(applicationSample), extra: true }).ok).toBe(false);
  });

  it("checks a definition's filter against the draft-07 meta-schema", () => {
    const m = manifestOf();
    m.presentation_definition.input_descriptors[0].constraints = { fields: [{ path: ["$.a"], filter: { type: "string" } }] };
    expect(validateDif("credential-manifest", m)).toEqual({ ok: true });
    m.presentation_definition.input_descriptors[0].constraints.fields[0].filter = { type: 12 };
    expect(validateDif("credential-manifest", m).ok).toBe(false);
  });
});
