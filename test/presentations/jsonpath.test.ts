import { describe, expect, it } from "vitest";
import { checkJsonPath, queryJsonPath } from "../../src/presentations/jsonpath";
import { withoutCodeGeneration } from "./no-code-generation";
import basic from "../vectors/dif-presentation-exchange/test/v2.0.0/presentation-definition/basic_example.json";
import inputDescriptors from "../vectors/dif-presentation-exchange/test/v2.0.0/presentation-definition/input_descriptors_example.json";
import filters from "../vectors/dif-presentation-exchange/test/v2.0.0/presentation-definition/pd_filter2.json";

const vc = {
  vc: {
    type: ["VerifiableCredential", "EmployeeCredential"],
    credentialSubject: { id: "did:example:h", role: "engineer", "it's": 1, account: [{ id: "a1" }, { id: "a2" }] },
  },
};

/** Every `path` string in a definition (fields' paths). */
function pathsOf(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => pathsOf(n, out));
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "path" && Array.isArray(v)) out.push(...v.filter((p): p is string => typeof p === "string"));
      else pathsOf(v, out);
    }
  }
  return out;
}

describe("JSONPath (RFC 9535, jsonpath-rfc9535)", () => {
  it("parses every field path of the DIF PE v2 example definitions", () => {
    const all = [basic, inputDescriptors, filters].flatMap((d) => pathsOf(d));
    expect(all.length).toBeGreaterThan(5);
    for (const p of all) expect(checkJsonPath(p), p).toBeUndefined();
  });

  it("selects nodes with their normalized paths, in document order", () => {
    const r = queryJsonPath(vc, "$.vc.credentialSubject.account[*].id");
    expect(r).toEqual({
      ok: true,
      value: [
        { path: "$['vc']['credentialSubject']['account'][0]['id']", value: "a1" },
        { path: "$['vc']['credentialSubject']['account'][1]['id']", value: "a2" },
      ],
    });
    const quoted = queryJsonPath(vc, '$.vc.credentialSubject["it\'s"]');
    expect(quoted.ok && quoted.value[0]?.path).toBe("$['vc']['credentialSubject']['it\\'s']");
  });

  it("evaluates filters, legacy parenthesised ones too", () => {
    const r = queryJsonPath(vc, "$.vc.type[?(@ == 'EmployeeCredential')]");
    expect(r.ok && r.value.map((m) => m.value)).toEqual(["EmployeeCredential"]);
    const none = queryJsonPath(vc, "$.vc.credentialSubject.salary");
    expect(none).toEqual({ ok: true, value: [] });
  });

  it("refuses a malformed or over-long expression with a message, never a throw", () => {
    for (const bad of ["", "vc.type", "$.[", "$..", "$['a'", `$.${"a".repeat(2000)}`]) {
      const r = queryJsonPath(vc, bad);
      expect(r.ok, bad).toBe(false);
      if (!r.ok) expect(r.message).toMatch(/JSONPath/);
    }
  });

  it("refuses filter selectors where the rules say so (holder-written paths)", () => {
    expect(checkJsonPath("$.verifiableCredential[0]", { noFilters: true })).toBeUndefined();
    expect(checkJsonPath("$.verifiableCredential[?@.x]", { noFilters: true })).toMatch(/filter/);
    expect(checkJsonPath("$.a[0][?match(@.b, '(a+)+$')]", { noFilters: true })).toMatch(/filter/);
  });

  it("runs without generating code from strings (as production workerd requires)", () => {
    expect(() => withoutCodeGeneration(() => new Function("return 1"))).toThrow(EvalError);
    const r = withoutCodeGeneration(() => queryJsonPath(vc, "$.vc.credentialSubject.account[?search(@.id, 'a[0-9]')].id"));
    expect(r.ok && r.value.length).toBe(2);
  });
});
