/**
 * JSON Schema for credential schemas and Presentation Exchange filters, with `@cfworker/json-schema`
 * (ajv compiles schemas with `new Function`, which workerd refuses). Pure functions: a schema is
 * checked against its dialect's meta-schema before it is stored, and an instance is validated
 * against a compiled schema, reporting every failing path.
 */
import { dereference, format, type OutputUnit, type Schema, type SchemaDraft, Validator } from "@cfworker/json-schema";

import draft07 from "./meta/draft-07/schema.json";
import meta201909 from "./meta/2019-09/schema.json";
import applicator201909 from "./meta/2019-09/meta/applicator.json";
import content201909 from "./meta/2019-09/meta/content.json";
import core201909 from "./meta/2019-09/meta/core.json";
import format201909 from "./meta/2019-09/meta/format.json";
import metaData201909 from "./meta/2019-09/meta/meta-data.json";
import validation201909 from "./meta/2019-09/meta/validation.json";
import meta202012 from "./meta/2020-12/schema.json";
import applicator202012 from "./meta/2020-12/meta/applicator.json";
import content202012 from "./meta/2020-12/meta/content.json";
import core202012 from "./meta/2020-12/meta/core.json";
import formatAnnotation202012 from "./meta/2020-12/meta/format-annotation.json";
import metaData202012 from "./meta/2020-12/meta/meta-data.json";
import unevaluated202012 from "./meta/2020-12/meta/unevaluated.json";
import validation202012 from "./meta/2020-12/meta/validation.json";

/** The dialects we accept, named as clients write them. */
export type JsonSchemaDialect = "2020-12" | "2019-09" | "draft-07";

/** One failure, in the shape of a problem's `errors` entry: a dotted path and what is wrong there. */
export interface SchemaFieldError {
  path: string;
  message: string;
}

export type SchemaCheck =
  | { ok: true; dialect: JsonSchemaDialect; schema: Record<string, unknown> }
  | { ok: false; errors: SchemaFieldError[] };

/** `$schema` values per dialect (with or without the empty fragment; draft-07 also over https). */
const DIALECT_URIS: Record<string, JsonSchemaDialect> = {
  "https://json-schema.org/draft/2020-12/schema": "2020-12",
  "https://json-schema.org/draft/2019-09/schema": "2019-09",
  "http://json-schema.org/draft-07/schema": "draft-07",
  "https://json-schema.org/draft-07/schema": "draft-07",
};

/** A schema without `$schema` is read as this dialect. */
export const DEFAULT_DIALECT: JsonSchemaDialect = "2020-12";

const DRAFT: Record<JsonSchemaDialect, SchemaDraft> = { "2020-12": "2020-12", "2019-09": "2019-09", "draft-07": "7" };

/**
 * Keywords the validator does not implement (`$dynamicRef`) or follows wrongly (`$recursiveRef` loses
 * its dynamic scope under `anyOf`/`oneOf`/`allOf`): refused rather than silently mis-evaluated.
 */
const UNSUPPORTED_KEYWORDS = ["$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor"] as const;

/**
 * The meta-schemas recurse through dynamic references: `$dynamicRef: "#meta"` (2020-12), which
 * @cfworker/json-schema ignores, and `$recursiveRef: "#"` (2019-09), which it resolves to the
 * vocabulary file instead of the dialect's root once inside an `anyOf` (so `items: {type: "strnig"}`
 * passed). For the standard dialects both always land on the dialect's root meta-schema, so they are
 * rewritten to a plain `$ref` to it when the copies are loaded.
 */
function staticDynamicRefs(node: unknown, root: string): unknown {
  if (Array.isArray(node)) return node.map((n) => staticDynamicRefs(n, root));
  if (!node || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if ((key === "$dynamicRef" && value === "#meta") || (key === "$recursiveRef" && value === "#")) out.$ref = root;
    else if (key === "$dynamicAnchor" || key === "$recursiveAnchor") continue;
    else out[key] = staticDynamicRefs(value, root);
  }
  return out;
}

const ROOT_2019 = "https://json-schema.org/draft/2019-09/schema";
const ROOT_2020 = "https://json-schema.org/draft/2020-12/schema";

let metaValidators: Record<JsonSchemaDialect, Validator> | undefined;

/** The three meta-schema validators, built once per isolate on first use. */
function metaValidator(dialect: JsonSchemaDialect): Validator {
  if (!metaValidators) {
    const v7 = new Validator(structuredClone(draft07) as Schema, "7", false);
    const v2019 = new Validator(staticDynamicRefs(meta201909, ROOT_2019) as Schema, "2019-09", false);
    for (const part of [core201909, applicator201909, validation201909, metaData201909, format201909, content201909]) {
      v2019.addSchema(staticDynamicRefs(part, ROOT_2019) as Schema);
    }
    const v2020 = new Validator(staticDynamicRefs(meta202012, ROOT_2020) as Schema, "2020-12", false);
    for (const part of [
      core202012,
      applicator202012,
      unevaluated202012,
      validation202012,
      metaData202012,
      formatAnnotation202012,
      content202012,
    ]) {
      v2020.addSchema(staticDynamicRefs(part, ROOT_2020) as Schema);
    }
    metaValidators = { "draft-07": v7, "2019-09": v2019, "2020-12": v2020 };
  }
  return metaValidators[dialect];
}

/** `#/a/0/b~1c` → `at.a.0.b/c` (the dotted paths the rest of the API reports). */
export function dottedPath(at: string, pointer: string): string {
  const tokens = pointer
    .replace(/^#/, "")
    .split("/")
    .slice(1)
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
  return [at, ...tokens].filter((t) => t !== "").join(".") || "(body)";
}

/** Messages @cfworker/json-schema adds on every enclosing schema of a failure, on top of the failure itself. */
const CASCADE =
  /(does not match schema|A subschema had errors|do not match schema|did not match schema|does not match additional properties schema)\.?$/;

/**
 * The failures worth naming: the validator reports each failing keyword and then every enclosing
 * `properties`/`items`/`$ref`/`allOf` again. An enclosing report is dropped when a real failure sits at
 * or under its location; one that stands alone (say an `anyOf` with no branch passing) is kept.
 */
export function fieldErrors(units: readonly OutputUnit[], at: string): SchemaFieldError[] {
  const leaves = units.filter((u) => !CASCADE.test(u.error));
  const covered = (u: OutputUnit) =>
    leaves.some((l) => l.instanceLocation === u.instanceLocation || l.instanceLocation.startsWith(`${u.instanceLocation}/`));
  const kept = units.filter((u) => !CASCADE.test(u.error) || !covered(u));
  const seen = new Set<string>();
  const out: SchemaFieldError[] = [];
  for (const u of kept) {
    // `false` is what `additionalProperties: false` puts on each extra member.
    const message = u.keyword === "false" ? "not allowed here (unknown member)" : u.error.replace(/\.$/, "");
    const e = { path: dottedPath(at, u.instanceLocation), message };
    const key = `${e.path}\n${e.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(e);
    }
  }
  return out;
}

/** Where in `node` a keyword we cannot honour appears, as a dotted path. */
function findUnsupported(node: unknown, at: string, depth = 0): SchemaFieldError | undefined {
  if (depth > 64 || !node || typeof node !== "object") return undefined;
  for (const [key, value] of Object.entries(node)) {
    if (!Array.isArray(node) && (UNSUPPORTED_KEYWORDS as readonly string[]).includes(key)) {
      return { path: `${at}.${key}`, message: `${key} is not supported by this service's validator; use $ref` };
    }
    const found = findUnsupported(value, `${at}.${key}`, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/**
 * Runs `run` with `format: "regex"` accepting any ECMA-262 pattern, with or without the `u` flag.
 * @cfworker/json-schema checks the format in Unicode mode only, which refuses patterns DIF's own
 * examples use (`[0-9]{10-12}` is a literal brace in legacy mode). The swap is synchronous, so no other
 * validation can observe it.
 */
export function withEcmaScriptRegex<T>(run: () => T): T {
  const strict = format.regex ?? (() => false);
  format.regex = (pattern: string) => {
    try {
      new RegExp(pattern);
      return true;
    } catch {
      return strict(pattern);
    }
  };
  try {
    return run();
  } finally {
    format.regex = strict;
  }
}

const describe = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "unknown error";

/**
 * A schema ready to validate instances: cloned (the validator annotates the objects it is given),
 * dereferenced once. Build one per request and validate every credential of a batch with it.
 */
export class CompiledSchema {
  readonly #validator: Validator;

  private constructor(
    readonly dialect: JsonSchemaDialect,
    schema: Record<string, unknown>,
  ) {
    this.#validator = new Validator(structuredClone(schema) as Schema, DRAFT[dialect], false);
  }

  /**
   * Checks `schema` as a JSON Schema document: an object, a dialect we accept, valid against that
   * dialect's meta-schema, every `$ref` resolvable inside it (nothing is fetched), and evaluable
   * (no reference loop). `at` prefixes error paths (the request field holding the schema);
   * `defaultDialect` is the dialect of a schema without `$schema`.
   */
  static compile(
    schema: unknown,
    at = "schema",
    defaultDialect: JsonSchemaDialect = DEFAULT_DIALECT,
    options: { ecmaScriptRegex?: boolean } = {},
  ): { ok: true; compiled: CompiledSchema } | { ok: false; errors: SchemaFieldError[] } {
    const no = (path: string, message: string) => ({ ok: false as const, errors: [{ path, message }] });
    if (!schema || typeof schema !== "object" || Array.isArray(schema)) return no(at, "must be a JSON Schema object");
    const doc = schema as Record<string, unknown>;
    let dialect = defaultDialect;
    if (doc.$schema !== undefined) {
      const uri = typeof doc.$schema === "string" ? doc.$schema.replace(/#$/, "") : "";
      const known = DIALECT_URIS[uri];
      if (!known) {
        return no(
          `${at}.$schema`,
          "unsupported dialect; use https://json-schema.org/draft/2020-12/schema, https://json-schema.org/draft/2019-09/schema or http://json-schema.org/draft-07/schema#",
        );
      }
      dialect = known;
    }
    const validator = metaValidator(dialect);
    const meta = options.ecmaScriptRegex ? withEcmaScriptRegex(() => validator.validate(doc)) : validator.validate(doc);
    if (!meta.valid) return { ok: false, errors: fieldErrors(meta.errors, at) };
    const unsupported = findUnsupported(doc, at);
    if (unsupported) return { ok: false, errors: [unsupported] };

    let lookup: Record<string, unknown>;
    try {
      lookup = dereference(structuredClone(doc) as Schema);
    } catch (e) {
      return no(at, describe(e));
    }
    for (const sub of Object.values(lookup)) {
      const ref = (sub as { __absolute_ref__?: string; $ref?: unknown } | null)?.__absolute_ref__;
      if (ref !== undefined && lookup[ref] === undefined) {
        return no(
          at,
          `$ref ${JSON.stringify((sub as { $ref?: unknown }).$ref)} does not resolve inside the schema (remote references are not fetched)`,
        );
      }
    }
    const compiled = new CompiledSchema(dialect, doc);
    // A reference loop that consumes no input (`{"$ref": "#"}`, an allOf that refers back to
    // itself) recurses forever on any instance: find it now rather than on a credential.
    for (const probe of [null, {}, [], "", 0]) {
      const r = compiled.validate(probe, at);
      if (!r.ok && r.failure === "loop") return no(at, `the schema cannot be evaluated: ${r.errors[0]?.message ?? ""}`);
    }
    return { ok: true, compiled };
  }

  /**
   * Validates `instance`; every failing path is reported, prefixed with `at`. Never throws: a schema
   * that cannot be evaluated fails with `failure` saying why (`loop`: a reference cycle; `error`: say a
   * pattern that is no regular expression in Unicode mode).
   */
  validate(instance: unknown, at: string): { ok: true } | { ok: false; failure: "invalid" | "loop" | "error"; errors: SchemaFieldError[] } {
    try {
      const r = this.#validator.validate(instance);
      if (r.valid) return { ok: true };
      const errors = fieldErrors(r.errors, at);
      return { ok: false, failure: "invalid", errors: errors.length > 0 ? errors : [{ path: at, message: "does not match the schema" }] };
    } catch (e) {
      if (e instanceof RangeError)
        return { ok: false, failure: "loop", errors: [{ path: at, message: "the schema refers to itself without end" }] };
      return { ok: false, failure: "error", errors: [{ path: at, message: `the schema cannot be evaluated: ${describe(e)}` }] };
    }
  }
}

/** Checks a schema document (see `CompiledSchema.compile`) and returns its dialect. */
export function checkJsonSchema(schema: unknown, at = "schema"): SchemaCheck {
  const r = CompiledSchema.compile(schema, at);
  return r.ok ? { ok: true, dialect: r.compiled.dialect, schema: schema as Record<string, unknown> } : r;
}
