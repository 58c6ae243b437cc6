/**
 * DIF Credential Manifest v1 documents checked against DIF's own JSON Schemas (vendored in
 * `./dif/`, see its README). A pure module: no bindings, no I/O.
 *
 * @cfworker/json-schema, because ajv compiles validators with `new Function`, which workerd forbids.
 */
import { Validator, type OutputUnit, type Schema } from "@cfworker/json-schema";
import { checkPresentationDefinition } from "../presentations/definition";
import claimFormats from "../presentations/dif-schemas/presentation-definition-claim-format-designations.json";
import applicationSchema from "./dif/credential-application.json";
import manifestSchema from "./dif/credential-manifest.json";
import responseSchema from "./dif/credential-response.json";
import outputDescriptorsSchema from "./dif/output-descriptors.json";
import displayMapping from "./dif/wallet-rendering-display-mapping-object.json";
import entityStyles from "./dif/wallet-rendering-entity-styles.json";
import labeledDisplayMapping from "./dif/wallet-rendering-labeled-display-mapping-object.json";

/** The `$ref` targets, by the URI the DIF schemas use for them. */
const REFERENCED: Record<string, unknown> = {
  "https://identity.foundation/wallet-rendering/schemas/entity-styles.json": entityStyles,
  "https://identity.foundation/wallet-rendering/schemas/display-mapping-object.json": displayMapping,
  "https://identity.foundation/wallet-rendering/schemas/labeled-display-mapping-object.json": labeledDisplayMapping,
  // A manifest's presentation_definition is judged by the one Presentation Exchange check
  // (src/presentations/definition.ts, PE v2), which `validateDif` adds below; here it need only be an object.
  "https://identity.foundation/presentation-exchange/schemas/presentation-definition.json": { type: "object" },
  "https://identity.foundation/claim-format-registry/schemas/presentation-definition-claim-format-designations.json": claimFormats,
};

export type DifDocument = "credential-manifest" | "credential-application" | "credential-response" | "output-descriptors";

const ROOTS: Record<DifDocument, unknown> = {
  "credential-manifest": manifestSchema,
  "credential-application": applicationSchema,
  "credential-response": responseSchema,
  "output-descriptors": outputDescriptorsSchema,
};

export type SchemaError = { path: string; message: string };
export type SchemaVerdict = { ok: true } | { ok: false; errors: SchemaError[] };

// Built on first use and kept for the isolate's life. The validator annotates the schema objects
// it dereferences, so each gets its own deep copy and the imported modules stay as published.
const validators = new Map<DifDocument, Validator>();

function validatorFor(doc: DifDocument): Validator {
  let v = validators.get(doc);
  if (!v) {
    // shortCircuit off: a client is told every failing member, not only the first.
    v = new Validator(structuredClone(ROOTS[doc]) as Schema, "7", false);
    for (const [uri, schema] of Object.entries(REFERENCED)) v.addSchema(structuredClone(schema) as Schema, uri);
    validators.set(doc, v);
  }
  return v;
}

/** `#/output_descriptors/0/id` → `output_descriptors.0.id` (the project's `errors[].path` form). */
function pathOf(instanceLocation: string, prefix: string | undefined): string {
  const segments = instanceLocation
    .replace(/^#\/?/, "")
    .split("/")
    .filter((s) => s !== "")
    .map((s) => decodeURIComponent(s).replace(/~1/g, "/").replace(/~0/g, "~"));
  return [prefix, ...segments].filter((s): s is string => !!s).join(".") || prefix || "(body)";
}

/**
 * Keeps the errors that say what is wrong: the validator also reports every enclosing `$ref`,
 * `properties` and `items` as "a subschema had errors", which names no fault of its own.
 */
function meaningful(units: OutputUnit[]): OutputUnit[] {
  const wrappers = new Set(["$ref", "properties", "items", "additionalItems", "patternProperties", "allOf"]);
  const leaves = units.filter((u) => !wrappers.has(u.keyword));
  return leaves.length > 0 ? leaves : units;
}

const presentationDefinitionOf = (value: unknown): unknown =>
  value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>).presentation_definition
    : undefined;
const checked = (r: { ok: true } | { ok: false; errors: SchemaError[] }): SchemaError[] => (r.ok ? [] : r.errors);

/**
 * Validates `value` against DIF's schema for `doc`, and a manifest's `presentation_definition` as
 * PE v2, as every definition here is. `prefix` is put before every reported path (the request
 * member the document came from).
 */
export function validateDif(doc: DifDocument, value: unknown, prefix?: string): SchemaVerdict {
  const result = validatorFor(doc).validate(value);
  const definition = doc === "credential-manifest" ? presentationDefinitionOf(value) : undefined;
  const definitionErrors =
    definition === undefined ? [] : checked(checkPresentationDefinition(definition, pathOf("#/presentation_definition", prefix)));
  if (result.valid && definitionErrors.length === 0) return { ok: true };
  const seen = new Set<string>();
  const errors: SchemaError[] = [];
  for (const e of definitionErrors) {
    seen.add(`${e.path}\n${e.message}`);
    errors.push(e);
  }
  for (const unit of result.valid ? [] : meaningful(result.errors)) {
    const e = { path: pathOf(unit.instanceLocation, prefix), message: unit.error };
    const key = `${e.path}\n${e.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    errors.push(e);
    if (errors.length >= 50) break;
  }
  return { ok: false, errors };
}
