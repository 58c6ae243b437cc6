/**
 * DIF Presentation Exchange v2 presentation definitions: checked against DIF's own JSON Schemas
 * (bundled copies, see dif-schemas/README.md), then against what the schemas cannot say (unique
 * descriptor ids, JSONPath syntax, filters that compile, groups that exist).
 */
import { type Schema, Validator } from "@cfworker/json-schema";

import { CompiledSchema, fieldErrors, type SchemaFieldError, withEcmaScriptRegex } from "../schemas/json-schema";
import draft07 from "../schemas/meta/draft-07/schema.json";
import definitionFormats from "./dif-schemas/presentation-definition-claim-format-designations.json";
import definitionSchema from "./dif-schemas/presentation-definition.json";
import submissionFormats from "./dif-schemas/presentation-submission-claim-format-designations.json";
import submissionSchema from "./dif-schemas/presentation-submission.json";
import { checkJsonPath } from "./jsonpath";

export type Directive = "required" | "preferred";

export interface Field {
  id?: string;
  path: string[];
  purpose?: string;
  name?: string;
  filter?: Record<string, unknown>;
  optional?: boolean;
  predicate?: Directive;
  intent_to_retain?: boolean;
}

export interface InputDescriptor {
  id: string;
  name?: string;
  purpose?: string;
  group?: string[];
  format?: Record<string, { alg?: string[]; proof_type?: string[] }>;
  constraints: {
    limit_disclosure?: "required" | "preferred";
    statuses?: Record<string, { directive?: "required" | "allowed" | "disallowed"; type?: string[] }>;
    fields?: Field[];
    subject_is_issuer?: Directive;
    is_holder?: { field_id: string[]; directive: Directive }[];
    same_subject?: { field_id: string[]; directive: Directive }[];
  };
}

export interface SubmissionRequirement {
  name?: string;
  purpose?: string;
  rule: "all" | "pick";
  count?: number;
  min?: number;
  max?: number;
  from?: string;
  from_nested?: SubmissionRequirement[];
}

/** A presentation definition in DIF's snake_case shape, as stored and as put in request JWTs. */
export interface PresentationDefinition {
  id: string;
  name?: string;
  purpose?: string;
  format?: Record<string, { alg?: string[]; proof_type?: string[] }>;
  frame?: Record<string, unknown>;
  submission_requirements?: SubmissionRequirement[];
  input_descriptors: InputDescriptor[];
}

export interface Descriptor {
  id: string;
  format: string;
  path: string;
  path_nested?: Descriptor;
}

export interface PresentationSubmission {
  id: string;
  definition_id: string;
  descriptor_map: Descriptor[];
}

export type Checked<T> = { ok: true; value: T } | { ok: false; errors: SchemaFieldError[] };

const DRAFT07_ID = "http://json-schema.org/draft-07/schema";
const FORMATS_URL = "https://identity.foundation/claim-format-registry/schemas/";

let validators: { definition: Validator; submission: Validator } | undefined;

/** DIF's schemas with the documents they `$ref` by URL (draft-07 and the claim format registry), built once. */
function difValidators(): { definition: Validator; submission: Validator } {
  if (!validators) {
    const withReferences = (schema: unknown) => {
      const v = new Validator(structuredClone(schema) as Schema, "7", false);
      v.addSchema(structuredClone(draft07) as Schema, DRAFT07_ID);
      v.addSchema(structuredClone(definitionFormats) as Schema, `${FORMATS_URL}presentation-definition-claim-format-designations.json`);
      v.addSchema(structuredClone(submissionFormats) as Schema, `${FORMATS_URL}presentation-submission-claim-format-designations.json`);
      return v;
    };
    validators = { definition: withReferences(definitionSchema), submission: withReferences(submissionSchema) };
  }
  return validators;
}

/** Group names a requirement (and its nested ones) draws from. */
function groupsOf(requirement: SubmissionRequirement, out: string[] = []): string[] {
  if (requirement.from !== undefined) out.push(requirement.from);
  for (const nested of requirement.from_nested ?? []) groupsOf(nested, out);
  return out;
}

/** `count`, `min` and `max` that no submission could meet. */
function requirementProblems(requirement: SubmissionRequirement, at: string, out: SchemaFieldError[]): void {
  if (requirement.rule === "pick" && requirement.min !== undefined && requirement.max !== undefined && requirement.min > requirement.max) {
    out.push({ path: `${at}.min`, message: `min ${requirement.min} is greater than max ${requirement.max}` });
  }
  requirement.from_nested?.forEach((nested, i) => requirementProblems(nested, `${at}.from_nested.${i}`, out));
}

/**
 * Checks a presentation definition: DIF's JSON Schema first (a missing required member is named in
 * the message), then unique input descriptor ids, every field path a valid JSONPath, every filter a
 * JSON Schema we can evaluate (draft-07 unless it says otherwise), every `from` group used by some
 * descriptor. `at` prefixes error paths.
 */
export function checkPresentationDefinition(definition: unknown, at = "presentation_definition"): Checked<PresentationDefinition> {
  if (!definition || typeof definition !== "object" || Array.isArray(definition))
    return { ok: false, errors: [{ path: at, message: "must be an object" }] };
  // Patterns in filters are ECMA-262 with or without the `u` flag: DIF's own examples need the latter.
  const validator = difValidators().definition;
  const r = withEcmaScriptRegex(() => validator.validate(definition));
  if (!r.valid) return { ok: false, errors: fieldErrors(r.errors, at) };
  const def = definition as PresentationDefinition;
  const errors: SchemaFieldError[] = [];

  const seen = new Set<string>();
  def.input_descriptors.forEach((descriptor, i) => {
    const here = `${at}.input_descriptors.${i}`;
    if (seen.has(descriptor.id))
      errors.push({ path: `${here}.id`, message: `duplicate input descriptor id ${JSON.stringify(descriptor.id)}` });
    seen.add(descriptor.id);
    descriptor.constraints.fields?.forEach((field, j) => {
      const fieldAt = `${here}.constraints.fields.${j}`;
      if (field.path.length === 0) errors.push({ path: `${fieldAt}.path`, message: "needs at least one JSONPath" });
      field.path.forEach((p, k) => {
        const problem = checkJsonPath(p);
        if (problem) errors.push({ path: `${fieldAt}.path.${k}`, message: problem });
      });
      if (field.filter !== undefined) {
        const compiled = compileFilter(field.filter, `${fieldAt}.filter`);
        if (!compiled.ok) errors.push(...compiled.errors);
      }
    });
  });

  const groups = new Set(def.input_descriptors.flatMap((d) => d.group ?? []));
  def.submission_requirements?.forEach((requirement, i) => {
    const here = `${at}.submission_requirements.${i}`;
    for (const group of groupsOf(requirement)) {
      if (!groups.has(group))
        errors.push({ path: here, message: `group ${JSON.stringify(group)} is not the group of any input descriptor` });
    }
    requirementProblems(requirement, here, errors);
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value: def };
}

/**
 * A field's filter as a compiled JSON Schema; PE's own schema reads filters as draft-07. A pattern
 * that is a regular expression only outside Unicode mode is accepted here, and fails the descriptor
 * with that reason when a submission is evaluated (the validator evaluates patterns in Unicode mode).
 */
export function compileFilter(
  filter: unknown,
  at: string,
): { ok: true; compiled: CompiledSchema } | { ok: false; errors: SchemaFieldError[] } {
  return CompiledSchema.compile(filter, at, "draft-07", { ecmaScriptRegex: true });
}

/** Checks a `presentation_submission` object against DIF's schema (and that its descriptor paths are JSONPaths without filters). */
export function checkPresentationSubmission(submission: unknown, at = "presentation_submission"): Checked<PresentationSubmission> {
  if (!submission || typeof submission !== "object" || Array.isArray(submission))
    return { ok: false, errors: [{ path: at, message: "must be an object" }] };
  const r = difValidators().submission.validate({ presentation_submission: submission });
  if (!r.valid) {
    // DIF's schema wraps the object; report paths from the submission itself.
    return { ok: false, errors: fieldErrors(r.errors, "").map((e) => ({ ...e, path: e.path.replace(/^presentation_submission/, at) })) };
  }
  const value = submission as PresentationSubmission;
  const errors: SchemaFieldError[] = [];
  value.descriptor_map.forEach((descriptor, i) => {
    let d: Descriptor | undefined = descriptor;
    let here = `${at}.descriptor_map.${i}`;
    for (let depth = 0; d; depth++, d = d.path_nested, here = `${here}.path_nested`) {
      if (depth >= 4) {
        errors.push({ path: here, message: "path_nested deeper than 4 levels" });
        break;
      }
      const problem = checkJsonPath(d.path, { noFilters: true });
      if (problem) errors.push({ path: `${here}.path`, message: problem });
    }
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, value };
}
