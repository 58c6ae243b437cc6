import { describe, expect, it } from "vitest";
import { parseApplication } from "../../src/manifests/application";
import { checkTemplateExpressions, renderTemplateData, submittedByDescriptor } from "../../src/manifests/template";
import wrapperClaims from "../vectors/dif-credential-manifest/test/credential-manifest/appendix-jwt.json";

// DIF's JWT appendix: two JWT credentials, input_1 → a driver's licence with bank accounts,
// input_2 → an employment credential with active: true.
const parsed = (() => {
  const p = parseApplication(wrapperClaims.iss, wrapperClaims);
  if (!p.ok) throw new Error(p.reason);
  return p.value;
})();

describe("issuance templates: JSONPath values into the submitted credentials", () => {
  it("finds the credential submitted for each input descriptor, JWTs decoded", () => {
    const byDescriptor = submittedByDescriptor(parsed);
    expect(byDescriptor.get("input_1")).toMatchObject({ type: ["EUDriversLicense"], credentialSubject: { accounts: expect.any(Array) } });
    expect(byDescriptor.get("input_2")).toMatchObject({ credentialSubject: { active: true } });
  });

  it("fills data from one descriptor's credential, copying literal values and nested objects", () => {
    const rendered = renderTemplateData(
      {
        id: "out",
        credentialInputDescriptor: "input_1",
        data: {
          account: "$.credentialSubject.accounts[0].id",
          routes: "$.credentialSubject.accounts[*].route",
          level: "gold",
          nested: { issuer: "$.issuer" },
        },
      },
      parsed,
    );
    expect(rendered).toEqual({
      ok: true,
      data: { account: "1234567890", routes: ["DE-9876543210", "DE-0753197542"], level: "gold", nested: { issuer: "did:example:123" } },
    });
  });

  it("reads the whole submission when the template names no descriptor", () => {
    const rendered = renderTemplateData({ id: "out", data: { employed: "$.verifiableCredential[1].credentialSubject.active" } }, parsed);
    expect(rendered).toEqual({ ok: true, data: { employed: true } });
  });

  it("a path that selects nothing is a denial naming the path; so is a descriptor nobody submitted for", () => {
    const missing = renderTemplateData(
      { id: "out", credentialInputDescriptor: "input_2", data: { name: "$.credentialSubject.name", ok: "$.credentialSubject.active" } },
      parsed,
    );
    expect(missing).toEqual({
      ok: false,
      reason: "the submitted credentials have no value at $.credentialSubject.name (credentials[out].data.name)",
      missing: ["$.credentialSubject.name (credentials[out].data.name)"],
    });
    const nobody = renderTemplateData({ id: "out", credentialInputDescriptor: "input_9", data: {} }, parsed);
    expect(nobody).toMatchObject({ ok: false, reason: expect.stringMatching(/input_9/) });
  });

  it("template creation refuses an expression that does not parse, naming where it is", () => {
    expect(checkTemplateExpressions([{ id: "a", data: { ok: "$.a.b", bad: "$[", deep: { worse: "$.." } } }])).toEqual([
      { path: "credentials.0.data.bad", message: expect.stringMatching(/JSONPath/) },
      { path: "credentials.0.data.deep.worse", message: expect.stringMatching(/JSONPath/) },
    ]);
  });
});
