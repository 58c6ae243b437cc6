/**
 * Issuance templates: the credentials an application to a templated manifest gets at once.
 * A string value in a template's `data` that starts with `$` is a JSONPath expression (RFC 9535)
 * into the application's submitted credentials; every other value is copied as it is.
 *
 * Evaluation is a library's: the same RFC 9535 JSONPath the presentation exchange code uses
 * (src/presentations/jsonpath.ts).
 */
import { parseJsonSegment } from "../crypto";
import { checkJsonPath, queryJsonPath } from "../presentations/jsonpath";
import type { ParsedApplication } from "./application";
import type { Descriptor, TemplateCredential } from "./model";

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export const isJsonPathValue = (v: unknown): v is string => typeof v === "string" && v.startsWith("$");

/** Every `$…` value of `data`, with the dotted member it sits at (`data.address.city`). */
export function jsonPathValues(data: unknown, at = "data"): { at: string; expression: string }[] {
  if (isJsonPathValue(data)) return [{ at, expression: data }];
  if (Array.isArray(data)) return data.flatMap((v, i) => jsonPathValues(v, `${at}.${i}`));
  if (isObj(data)) return Object.entries(data).flatMap(([k, v]) => jsonPathValues(v, `${at}.${k}`));
  return [];
}

/** Template creation: every expression must parse; the refusal names the member and the problem. */
export function checkTemplateExpressions(credentials: readonly TemplateCredential[]): { path: string; message: string }[] {
  return credentials.flatMap((c, i) =>
    jsonPathValues(c.data, `credentials.${i}.data`).flatMap(({ at, expression }) => {
      const problem = checkJsonPath(expression);
      return problem ? [{ path: at, message: problem }] : [];
    }),
  );
}

/** A JWT credential's credential object (`vc` for VC 1.1, the payload for VC 2.0); objects as they are. */
export function decodeCredential(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const payload = value.split(".")[1];
  if (payload === undefined) return value;
  const parsed = parseJsonSegment(payload);
  if (!parsed?.ok || !isObj(parsed.value)) return value;
  return isObj(parsed.value.vc) ? parsed.value.vc : parsed.value;
}

/**
 * What a descriptor (and its `path_nested` chain) points at in `document`; undefined when nothing.
 * The holder wrote these paths, so no filters (a filter's regular expression could burn CPU).
 */
function follow(document: unknown, d: Descriptor, depth = 0): unknown {
  if (depth > 8) return undefined;
  const found = queryJsonPath(document, d.path, { noFilters: true });
  if (!found.ok || found.value.length === 0) return undefined;
  const value = found.value[0]!.value;
  if (!d.path_nested) return decodeCredential(value);
  // A nested path reads inside what the outer one found, a JWT read as its claims.
  const inner = typeof value === "string" ? decodeCredential(value) : value;
  return follow(inner, d.path_nested, depth + 1);
}

/** The credential submitted for each input descriptor id, decoded. */
export function submittedByDescriptor(parsed: ParsedApplication): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const d of parsed.submission?.descriptor_map ?? []) {
    if (out.has(d.id)) continue;
    const v = follow(parsed.presentation, d);
    if (v !== undefined) out.set(d.id, v);
  }
  return out;
}

/** The document a template's expressions read when it names no input descriptor. */
export function submissionDocument(parsed: ParsedApplication): Obj {
  const credentials = parsed.credentials.map(decodeCredential);
  return { ...parsed.presentation, verifiableCredential: credentials, verifiableCredentials: credentials };
}

export type Rendered = { ok: true; data: Obj } | { ok: false; reason: string; missing: string[] };

function substitute(value: unknown, root: unknown, at: string, missing: string[]): unknown {
  if (isJsonPathValue(value)) {
    const found = queryJsonPath(root, value);
    if (!found.ok || found.value.length === 0) {
      missing.push(`${value} (${at})`);
      return undefined;
    }
    return found.value.length === 1 ? found.value[0]!.value : found.value.map((m) => m.value);
  }
  if (Array.isArray(value)) return value.map((v, i) => substitute(v, root, `${at}.${i}`, missing));
  if (isObj(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, root, `${at}.${k}`, missing)]));
  return value;
}

/**
 * The credential subject data of one template credential for this application. A path that
 * selects nothing makes the whole application a denial, and the reason names every such path.
 */
export function renderTemplateData(t: TemplateCredential, parsed: ParsedApplication): Rendered {
  let root: unknown;
  if (t.credentialInputDescriptor !== undefined) {
    root = submittedByDescriptor(parsed).get(t.credentialInputDescriptor);
    if (root === undefined)
      return {
        ok: false,
        reason: `no credential was submitted for input descriptor ${t.credentialInputDescriptor}`,
        missing: [t.credentialInputDescriptor],
      };
  } else {
    root = submissionDocument(parsed);
  }
  const missing: string[] = [];
  const data = substitute(t.data, root, `credentials[${t.id}].data`, missing) as Obj;
  if (missing.length > 0) return { ok: false, reason: `the submitted credentials have no value at ${missing.join(", ")}`, missing };
  return { ok: true, data };
}
