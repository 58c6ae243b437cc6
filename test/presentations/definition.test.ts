/// <reference types="vite/client" />
import { describe, expect, it } from "vitest";
import { checkPresentationDefinition, checkPresentationSubmission } from "../../src/presentations/definition";
import jwtSubmission from "../vectors/dif-presentation-exchange/test/v2.0.0/presentation-submission/appendix_JWT_example.json";
import nestedSubmission from "../vectors/dif-presentation-exchange/test/v2.0.0/presentation-submission/nested_submission_example.json";
import plainSubmission from "../vectors/dif-presentation-exchange/test/v2.0.0/presentation-submission/example.json";

// Every DIF PE v2 example definition kept in test/vectors (copied as published).
// Two of them (VC_expiration_example, VC_revocation_example) are a lone input descriptor: they are
// checked inside a definition of their own.
const examples = import.meta.glob<Record<string, unknown>>(
  "../vectors/dif-presentation-exchange/test/v2.0.0/presentation-definition/*.json",
  {
    eager: true,
    import: "default",
  },
);
const named = Object.entries(examples).map(
  ([file, doc]) =>
    [
      file.split("/").pop()!,
      (doc.presentation_definition as Record<string, unknown> | undefined) ?? { id: "lone-descriptor", input_descriptors: [doc] },
    ] as const,
);

const minimal = () => ({
  id: "d1",
  input_descriptors: [{ id: "a", constraints: { fields: [{ path: ["$.credentialSubject.role"], filter: { type: "string" } }] } }],
});

describe("presentation definitions (DIF PE v2)", () => {
  it("has the eleven DIF examples to check", () => {
    expect(named.length).toBe(11);
  });

  for (const [file, definition] of named) {
    it(`accepts the DIF example ${file}`, () => {
      const r = checkPresentationDefinition(definition);
      expect(r.ok ? [] : r.errors).toEqual([]);
    });

    it(`refuses ${file} with a required member removed, naming it`, () => {
      for (const member of ["id", "input_descriptors"]) {
        const copy: Record<string, unknown> = structuredClone(definition);
        delete copy[member];
        const r = checkPresentationDefinition(copy);
        expect(r.ok, member).toBe(false);
        if (!r.ok)
          expect(
            r.errors.some((e) => e.path === "presentation_definition" && e.message.includes(`"${member}"`)),
            JSON.stringify(r.errors),
          ).toBe(true);
      }
      for (const member of (definition.input_descriptors as unknown[]).length > 0 ? ["id", "constraints"] : []) {
        const copy = structuredClone(definition) as { input_descriptors: Record<string, unknown>[] };
        delete copy.input_descriptors[0]![member];
        const r = checkPresentationDefinition(copy);
        expect(r.ok, member).toBe(false);
        if (!r.ok)
          expect(
            r.errors.some((e) => e.path === "presentation_definition.input_descriptors.0" && e.message.includes(`"${member}"`)),
            JSON.stringify(r.errors),
          ).toBe(true);
      }
    });
  }

  it("refuses a field without its path, naming the field", () => {
    const def = minimal();
    delete (def.input_descriptors[0]!.constraints.fields[0] as { path?: unknown }).path;
    const r = checkPresentationDefinition(def);
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(
        r.errors.some((e) => e.path === "presentation_definition.input_descriptors.0.constraints.fields.0" && e.message.includes('"path"')),
      ).toBe(true);
  });

  it("refuses an unknown member and a wrong type, naming each", () => {
    const r = checkPresentationDefinition({ ...minimal(), colour: "red", name: 7 });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      const paths = r.errors.map((e) => e.path);
      expect(paths).toContain("presentation_definition.name");
      expect(r.errors).toContainEqual({ path: "presentation_definition.colour", message: "not allowed here (unknown member)" });
    }
  });

  it("refuses what DIF's schema allows but nothing could evaluate", () => {
    const dup = minimal();
    dup.input_descriptors.push(structuredClone(dup.input_descriptors[0]!));
    const badPath = minimal();
    badPath.input_descriptors[0]!.constraints.fields[0]!.path = ["$.credentialSubject[", "credentialSubject.role"];
    const badFilter = minimal();
    (badFilter.input_descriptors[0]!.constraints.fields[0] as { filter: unknown }).filter = { $ref: "#/definitions/nope" };
    const cases: [unknown, string, RegExp][] = [
      [dup, "presentation_definition.input_descriptors.1.id", /duplicate/],
      [badPath, "presentation_definition.input_descriptors.0.constraints.fields.0.path.0", /JSONPath/],
      [badPath, "presentation_definition.input_descriptors.0.constraints.fields.0.path.1", /JSONPath/],
      [badFilter, "presentation_definition.input_descriptors.0.constraints.fields.0.filter", /does not resolve/],
      [
        { ...minimal(), submission_requirements: [{ rule: "all", from: "Z" }] },
        "presentation_definition.submission_requirements.0",
        /group "Z"/,
      ],
      [
        {
          ...minimal(),
          input_descriptors: [{ ...minimal().input_descriptors[0]!, group: ["A"] }],
          submission_requirements: [{ rule: "pick", from: "A", min: 2, max: 1 }],
        },
        "presentation_definition.submission_requirements.0.min",
        /greater than max/,
      ],
    ];
    for (const [def, path, message] of cases) {
      const r = checkPresentationDefinition(def);
      expect(r.ok, path).toBe(false);
      if (!r.ok) expect(r.errors.find((e) => e.path === path)?.message, JSON.stringify(r.errors)).toMatch(message);
    }
  });

  it("refuses a filter that is not a JSON Schema, naming the keyword", () => {
    const def = minimal();
    (def.input_descriptors[0]!.constraints.fields[0] as { filter: unknown }).filter = { type: "strnig" };
    const r = checkPresentationDefinition(def);
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(
        r.errors.map((e) => e.path).some((p) => p.startsWith("presentation_definition.input_descriptors.0.constraints.fields.0")),
      ).toBe(true);
  });
});

describe("presentation submissions (DIF PE v2)", () => {
  it("accepts DIF's example submissions", () => {
    for (const s of [
      plainSubmission.presentation_submission,
      nestedSubmission.presentation_submission,
      jwtSubmission.vp.presentation_submission,
    ]) {
      const r = checkPresentationSubmission(s);
      expect(r.ok ? [] : r.errors).toEqual([]);
    }
  });

  it("refuses a submission missing descriptor_map, naming it, and holder paths with filters", () => {
    const { descriptor_map: _, ...rest } = plainSubmission.presentation_submission;
    const r = checkPresentationSubmission(rest);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.some((e) => e.path === "presentation_submission" && e.message.includes('"descriptor_map"'))).toBe(true);
    const filtered = checkPresentationSubmission({
      id: "s",
      definition_id: "d",
      descriptor_map: [{ id: "a", format: "jwt_vc", path: "$.verifiableCredential[?@.x]" }],
    });
    expect(filtered.ok).toBe(false);
    if (!filtered.ok) expect(filtered.errors[0]?.path).toBe("presentation_submission.descriptor_map.0.path");
    for (const bad of [null, [], "x"]) expect(checkPresentationSubmission(bad).ok).toBe(false);
  });
});
