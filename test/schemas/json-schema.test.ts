import { describe, expect, it } from "vitest";
import { CompiledSchema, checkJsonSchema } from "../../src/schemas/json-schema";
import { withoutCodeGeneration } from "../presentations/no-code-generation";

const DIALECTS = {
  "2020-12": "https://json-schema.org/draft/2020-12/schema",
  "2019-09": "https://json-schema.org/draft/2019-09/schema",
  "draft-07": "http://json-schema.org/draft-07/schema#",
} as const;

const person = (uri: string, defs: "$defs" | "definitions") => ({
  $schema: uri,
  type: "object",
  required: ["name", "address"],
  additionalProperties: false,
  properties: {
    id: { type: "string" },
    name: { type: "string", minLength: 1 },
    age: { type: "integer", minimum: 0 },
    email: { type: "string", format: "email" },
    tags: { type: "array", items: { type: "string", pattern: "^[a-z]+$" } },
    address: { $ref: `#/${defs}/address` },
  },
  [defs]: { address: { type: "object", required: ["city"], properties: { city: { type: "string" } } } },
});

const errorsOf = (schema: unknown, instance: unknown) => {
  const c = CompiledSchema.compile(schema);
  if (!c.ok) throw new Error(JSON.stringify(c.errors));
  const r = c.compiled.validate(instance, "credentialSubject");
  return r.ok ? [] : r.errors;
};

describe("JSON Schema documents", () => {
  for (const [dialect, uri] of Object.entries(DIALECTS)) {
    it(`accepts a ${dialect} schema and reads its dialect from $schema`, () => {
      const r = checkJsonSchema(person(uri, dialect === "draft-07" ? "definitions" : "$defs"));
      expect(r.ok && r.dialect).toBe(dialect);
    });

    it(`refuses an invalid ${dialect} schema, naming the keyword, nested ones too`, () => {
      const top = checkJsonSchema({ $schema: uri, type: "strnig" });
      expect(top.ok).toBe(false);
      if (!top.ok) expect(top.errors.map((e) => e.path)).toContain("schema.type");
      // Nested: 2020-12 recurses through $dynamicRef, which the validator only follows once rewritten.
      const nested = checkJsonSchema({ $schema: uri, properties: { a: { type: "object", properties: { b: { minLength: -1 } } } } });
      expect(nested.ok).toBe(false);
      if (!nested.ok) expect(nested.errors.map((e) => e.path)).toContain("schema.properties.a.properties.b.minLength");
      // Under an anyOf (2019-09 `items`): the recursion must reach the dialect's root, not its vocabulary.
      for (const bad of [{ items: { required: "a" } }, { items: { type: "strnig" } }, { items: [{ minimum: "1" }] }]) {
        const r = checkJsonSchema({ $schema: uri, ...bad });
        expect(r.ok, JSON.stringify(bad)).toBe(false);
        if (!r.ok) expect(r.errors.map((e) => e.path).some((p) => p.startsWith("schema.items"))).toBe(true);
      }
    });
  }

  it("reads a schema without $schema as 2020-12", () => {
    const r = checkJsonSchema({ type: "object", unevaluatedProperties: false });
    expect(r.ok && r.dialect).toBe("2020-12");
  });

  it("refuses what is not a schema object, and dialects it does not accept", () => {
    for (const bad of [null, [], "x", 1, true]) {
      const r = checkJsonSchema(bad);
      expect(r).toEqual({ ok: false, errors: [{ path: "schema", message: "must be a JSON Schema object" }] });
    }
    const r = checkJsonSchema({ $schema: "http://json-schema.org/draft-04/schema#", type: "object" });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]?.path).toBe("schema.$schema");
  });

  it("refuses a $ref that does not resolve inside the schema, and remote ones", () => {
    for (const ref of ["#/$defs/missing", "https://example.com/schemas/address.json", "other.json#/x"]) {
      const r = checkJsonSchema({ type: "object", properties: { a: { $ref: ref } } });
      expect(r.ok, ref).toBe(false);
      if (!r.ok) expect(r.errors[0]?.message).toMatch(/does not resolve/);
    }
  });

  it("refuses a reference loop that would recurse forever", () => {
    for (const loop of [{ $ref: "#" }, { $defs: { a: { allOf: [{ $ref: "#/$defs/a" }] } }, $ref: "#/$defs/a" }]) {
      const r = checkJsonSchema(loop);
      expect(r.ok, JSON.stringify(loop)).toBe(false);
      if (!r.ok) expect(r.errors[0]?.message).toMatch(/cannot be evaluated/);
    }
    // Recursion that consumes input is fine.
    expect(checkJsonSchema({ type: "object", properties: { child: { $ref: "#" } } }).ok).toBe(true);
  });

  it("refuses dynamic references, which the validator ignores or mis-scopes, rather than mis-evaluating them", () => {
    const r = checkJsonSchema({ $dynamicAnchor: "node", properties: { child: { $dynamicRef: "#node" } } });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors[0]?.path).toMatch(/^schema\.(\$dynamicAnchor|properties\.child\.\$dynamicRef)$/);
    const r2019 = checkJsonSchema({ $schema: DIALECTS["2019-09"], $recursiveAnchor: true, items: { $recursiveRef: "#" } });
    expect(r2019.ok).toBe(false);
    if (!r2019.ok) expect(r2019.errors[0]?.message).toMatch(/not supported/);
  });

  it("leaves the caller's schema object untouched", () => {
    const schema = person(DIALECTS["2020-12"], "$defs");
    const before = JSON.stringify(schema);
    const c = CompiledSchema.compile(schema);
    expect(c.ok).toBe(true);
    if (c.ok) c.compiled.validate({ name: "x", address: { city: "y" } }, "credentialSubject");
    expect(JSON.stringify(schema)).toBe(before);
    expect(Object.getOwnPropertyNames(schema.properties.address)).toEqual(["$ref"]);
  });
});

describe("validating a credentialSubject", () => {
  for (const [dialect, uri] of Object.entries(DIALECTS)) {
    it(`names every failing path (${dialect})`, () => {
      const schema = person(uri, dialect === "draft-07" ? "definitions" : "$defs");
      expect(errorsOf(schema, { id: "did:example:1", name: "Ada", age: 36, address: { city: "London" }, tags: ["a"] })).toEqual([]);
      const errors = errorsOf(schema, { name: "", age: -1.5, email: "nope", tags: ["ok", "NO"], address: {}, extra: 1 });
      const paths = errors.map((e) => e.path);
      for (const p of [
        "credentialSubject.name",
        "credentialSubject.age",
        "credentialSubject.email",
        "credentialSubject.tags.1",
        "credentialSubject.address",
        "credentialSubject.extra",
      ]) {
        expect(paths, `${p} in ${JSON.stringify(errors)}`).toContain(p);
      }
      expect(errors.find((e) => e.path === "credentialSubject.address")?.message).toMatch(/city/);
      // The enclosing "does not match schema" reports are folded into the failures under them.
      expect(errors.filter((e) => /does not match schema|subschema had errors/.test(e.message))).toEqual([]);
    });
  }

  it("reports a missing required member at the object that lacks it", () => {
    const errors = errorsOf({ type: "object", required: ["name"] }, {});
    expect(errors).toEqual([{ path: "credentialSubject", message: expect.stringMatching(/name/) }]);
  });

  it("keeps an anyOf failure that has no deeper cause", () => {
    const errors = errorsOf({ anyOf: [{ type: "string" }, { type: "number" }] }, true);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]?.path).toBe("credentialSubject");
  });

  it("compiles and validates without generating code from strings", () => {
    const errors = withoutCodeGeneration(() => errorsOf(person(DIALECTS["2020-12"], "$defs"), { name: 1, address: { city: "x" } }));
    expect(errors.map((e) => e.path)).toEqual(["credentialSubject.name"]);
  });
});
