import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import type { PresentationDefinition, PresentationSubmission } from "../../src/presentations/definition";
import { checkPresentationDefinition, checkPresentationSubmission } from "../../src/presentations/definition";
import { evaluateSubmission } from "../../src/presentations/evaluate";
import jwtAppendix from "../vectors/dif-presentation-exchange/test/v2.0.0/presentation-submission/appendix_JWT_example.json";
import { withoutCodeGeneration } from "./no-code-generation";

// Unsigned JWTs: the evaluator never verifies signatures (the submission pipeline does).
const jwt = (claims: Record<string, unknown>, alg = "EdDSA") =>
  [{ alg, typ: "JWT" }, claims].map((p) => base64url.encode(JSON.stringify(p))).join(".") + ".c2ln";

const HOLDER = "did:key:z6MkHolder";
const ISSUER = "did:key:z6MkIssuer";
const vc11 = (subject: Record<string, unknown>, type = "EmployeeCredential") =>
  jwt({
    iss: ISSUER,
    sub: HOLDER,
    vc: {
      "@context": ["https://www.w3.org/2018/credentials/v1"],
      type: ["VerifiableCredential", type],
      issuer: ISSUER,
      credentialSubject: { id: HOLDER, ...subject },
    },
  });
const vc20 = (subject: Record<string, unknown>, type = "DegreeCredential") =>
  jwt({
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    type: ["VerifiableCredential", type],
    issuer: ISSUER,
    credentialSubject: { id: HOLDER, ...subject },
  });

/** Two descriptors in group A, one pick: the acceptance check's shape. */
const definition = (requirements?: PresentationDefinition["submission_requirements"]): PresentationDefinition => {
  const def = {
    id: "def-1",
    input_descriptors: [
      {
        id: "employment",
        group: ["A"],
        constraints: {
          fields: [
            { path: ["$.vc.type", "$.type"], filter: { type: "array", contains: { const: "EmployeeCredential" } } },
            { id: "role", path: ["$.credentialSubject.role"], filter: { type: "string", enum: ["engineer", "manager"] } },
          ],
        },
      },
      {
        id: "degree",
        group: ["A"],
        constraints: {
          fields: [{ path: ["$.credentialSubject.degree.level"], filter: { type: "string", pattern: "^(bachelor|master)$" } }],
        },
      },
    ],
    submission_requirements: requirements ?? [{ name: "proofs", rule: "pick", min: 1, max: 2, from: "A" }],
  };
  const checked = checkPresentationDefinition(def);
  if (!checked.ok) throw new Error(JSON.stringify(checked.errors));
  return checked.value;
};

const submission = (map: { id: string; path: string; format?: string }[], definitionId = "def-1"): PresentationSubmission => ({
  id: "sub-1",
  definition_id: definitionId,
  descriptor_map: map.map((m) => ({ format: "jwt_vc", ...m })),
});

const both = () => ({
  vp: { verifiableCredential: [vc11({ role: "engineer" }), vc20({ degree: { level: "master" } })] },
  map: [
    { id: "employment", path: "$.verifiableCredential[0]" },
    { id: "degree", path: "$.verifiableCredential[1]" },
  ],
});

describe("evaluating a presentation submission", () => {
  it("accepts two credentials against two descriptors and a pick requirement (VC 1.1 and VC 2.0 JWTs)", () => {
    const { vp, map } = both();
    const r = evaluateSubmission(definition(), submission(map), vp, HOLDER);
    expect(r).toEqual({ ok: true, satisfied: ["employment", "degree"], credentials: vp.verifiableCredential });
  });

  it("refuses a credential whose field misses the filter, naming the descriptor and the field", () => {
    const vp = { verifiableCredential: [vc11({ role: "intern" })] };
    const r = evaluateSubmission(definition(), submission([{ id: "employment", path: "$.verifiableCredential[0]" }]), vp, HOLDER);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toHaveLength(1);
      expect(r.errors[0]!.path).toBe("presentation_submission.descriptor_map.0");
      expect(r.errors[0]!.message).toMatch(
        /^input descriptor "employment": field role: the value at \$\.credentialSubject\.role does not satisfy the filter/,
      );
    }
  });

  it("refuses a credential lacking a required field, and takes an optional one as absent", () => {
    const vp = { verifiableCredential: [vc20({ degree: {} })] };
    const r = evaluateSubmission(definition(), submission([{ id: "degree", path: "$.verifiableCredential[0]" }]), vp, HOLDER);
    expect(!r.ok && r.errors[0]!.message).toMatch(/"degree": field 0 \(\$\.credentialSubject\.degree\.level\): no value/);
    const def = definition();
    def.input_descriptors[1]!.constraints.fields![0]!.optional = true;
    expect(evaluateSubmission(def, submission([{ id: "degree", path: "$.verifiableCredential[0]" }]), vp, HOLDER).ok).toBe(true);
  });

  it("applies pick count, min and max, and all", () => {
    const { vp, map } = both();
    const cases: [PresentationDefinition["submission_requirements"], typeof map, RegExp | null][] = [
      [[{ rule: "pick", count: 1, from: "A" }], map, /pick exactly 1 .* got 2/],
      [[{ rule: "pick", count: 1, from: "A" }], map.slice(0, 1), null],
      [[{ rule: "pick", min: 2, from: "A" }], map.slice(1), /pick at least 2 .* got 1/],
      [[{ rule: "pick", max: 1, from: "A" }], map, /pick at most 1 .* got 2/],
      [[{ rule: "all", from: "A" }], map.slice(0, 1), /all 2 descriptors of group "A" must be submitted, 1 were/],
      [[{ rule: "all", from: "A" }], map, null],
    ];
    for (const [requirements, m, expected] of cases) {
      const r = evaluateSubmission(definition(requirements), submission(m), vp, HOLDER);
      if (expected === null) expect(r.ok, JSON.stringify(requirements)).toBe(true);
      else {
        expect(r.ok, JSON.stringify(requirements)).toBe(false);
        if (!r.ok)
          expect(r.errors[0]).toEqual({
            path: "presentation_definition.submission_requirements.0",
            message: expect.stringMatching(expected),
          });
      }
    }
  });

  it("evaluates from_nested requirements", () => {
    const def = definition([
      {
        name: "outer",
        rule: "pick",
        count: 1,
        from_nested: [
          { rule: "all", from: "A" },
          { rule: "pick", count: 1, from: "A" },
        ],
      },
    ]);
    const { vp, map } = both();
    // Both submitted: "all" holds, "pick exactly 1" does not → exactly one nested requirement holds.
    expect(evaluateSubmission(def, submission(map), vp, HOLDER).ok).toBe(true);
    // One submitted: "all" fails, "pick 1" holds → again one.
    expect(evaluateSubmission(def, submission(map.slice(0, 1)), vp, HOLDER).ok).toBe(true);
    const strict = definition([
      {
        name: "outer",
        rule: "all",
        from_nested: [
          { rule: "all", from: "A" },
          { rule: "pick", count: 1, from: "A" },
        ],
      },
    ]);
    const r = evaluateSubmission(strict, submission(map), vp, HOLDER);
    expect(!r.ok && r.errors[0]!.message).toMatch(/requirement "outer": all 2 nested requirements .*pick exactly 1/);
  });

  it("requires every descriptor when the definition has no submission requirements", () => {
    const def = definition();
    delete def.submission_requirements;
    const { vp, map } = both();
    expect(evaluateSubmission(def, submission(map), vp, HOLDER).ok).toBe(true);
    const r = evaluateSubmission(def, submission(map.slice(0, 1)), vp, HOLDER);
    expect(!r.ok && r.errors[0]!.message).toBe('input descriptor "degree" is required and was not submitted');
  });

  it("refuses limit_disclosure required as unsupported", () => {
    const def = definition();
    def.input_descriptors[0]!.constraints.limit_disclosure = "required";
    const { vp, map } = both();
    const r = evaluateSubmission(def, submission(map), vp, HOLDER);
    expect(!r.ok && r.errors[0]!.message).toMatch(/^input descriptor "employment": limit_disclosure required is not supported/);
  });

  it("refuses entries that do not lead to a JWT credential of the definition", () => {
    const { vp } = both();
    const cases: [PresentationSubmission, RegExp][] = [
      [submission([{ id: "employment", path: "$.verifiableCredential[0]" }], "other"), /not the definition "def-1"/],
      [submission([{ id: "nope", path: "$.verifiableCredential[0]" }]), /"nope" is not in the definition/],
      [submission([{ id: "employment", path: "$.verifiableCredential[5]" }]), /selects nothing/],
      [submission([{ id: "employment", path: "$.verifiableCredential[*]" }]), /selects 2 values/],
      [submission([{ id: "employment", path: "$.verifiableCredential[0]", format: "ldp_vc" }]), /format ldp_vc is not supported/],
      [submission([{ id: "employment", path: "$" }]), /does not select a JWT credential/],
    ];
    for (const [s, message] of cases) {
      const r = evaluateSubmission(definition(), s, vp, HOLDER);
      expect(r.ok, message.source).toBe(false);
      if (!r.ok) expect(r.errors[0]!.message).toMatch(message);
    }
  });

  it("follows path_nested through a VP JWT", () => {
    const inner = jwt({ iss: HOLDER, vp: { verifiableCredential: [vc11({ role: "manager" })] } });
    const s: PresentationSubmission = {
      id: "s",
      definition_id: "def-1",
      descriptor_map: [
        {
          id: "employment",
          format: "jwt_vp",
          path: "$.outer",
          path_nested: { id: "employment", format: "jwt_vc", path: "$.vp.verifiableCredential[0]" },
        },
      ],
    };
    expect(checkPresentationSubmission(s).ok).toBe(true);
    expect(evaluateSubmission(definition(), s, { outer: inner }, HOLDER).ok).toBe(true);
  });

  it("checks is_holder, subject_is_issuer and same_subject", () => {
    const { vp, map } = both();
    const holderDef = definition();
    holderDef.input_descriptors[0]!.constraints.is_holder = [{ field_id: ["role"], directive: "required" }];
    expect(evaluateSubmission(holderDef, submission(map), vp, HOLDER).ok).toBe(true);
    const r = evaluateSubmission(holderDef, submission(map), vp, "did:key:z6MkSomeoneElse");
    expect(!r.ok && r.errors[0]!.message).toMatch(/is_holder required/);

    const selfDef = definition();
    selfDef.input_descriptors[0]!.constraints.subject_is_issuer = "required";
    const s = evaluateSubmission(selfDef, submission(map), vp, HOLDER);
    expect(!s.ok && s.errors[0]!.message).toMatch(/subject_is_issuer required/);

    const sameDef = definition();
    sameDef.input_descriptors[1]!.constraints.fields![0]!.id = "level";
    sameDef.input_descriptors[0]!.constraints.same_subject = [{ field_id: ["role", "level"], directive: "required" }];
    expect(evaluateSubmission(sameDef, submission(map), vp, HOLDER).ok).toBe(true);
    const other = { verifiableCredential: [vp.verifiableCredential[0]!, vc20({ id: "did:key:z6MkOther", degree: { level: "master" } })] };
    const d = evaluateSubmission(sameDef, submission(map), other, HOLDER);
    expect(!d.ok && d.errors[0]!.message).toMatch(/same_subject required/);
  });

  it("honours the definition's format and alg restrictions", () => {
    const def = definition();
    def.format = { jwt_vc: { alg: ["ES256"] } };
    const { vp, map } = both();
    const r = evaluateSubmission(def, submission(map), vp, HOLDER);
    expect(!r.ok && r.errors[0]!.message).toMatch(/alg EdDSA is not one of ES256/);
  });

  it("evaluates DIF's JWT appendix submission (ssi-service's jwt_vp shape)", () => {
    const def: PresentationDefinition = {
      id: jwtAppendix.vp.presentation_submission.definition_id,
      input_descriptors: [
        {
          id: "wa_driver_license",
          constraints: {
            fields: [
              {
                path: ["$.credentialSubject.dateOfBirth", "$.vc.credentialSubject.dateOfBirth"],
                filter: { type: "string", format: "date" },
              },
            ],
          },
        },
      ],
    };
    expect(checkPresentationDefinition(def).ok).toBe(true);
    const r = evaluateSubmission(def, jwtAppendix.vp.presentation_submission, jwtAppendix.vp, jwtAppendix.iss);
    expect(r.ok ? r.satisfied : r.errors).toEqual(["wa_driver_license"]);
  });

  it("runs without generating code from strings", () => {
    const { vp, map } = both();
    const def = definition();
    expect(withoutCodeGeneration(() => evaluateSubmission(def, submission(map), vp, HOLDER)).ok).toBe(true);
  });
});
