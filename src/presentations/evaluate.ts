/**
 * Evaluates a `presentation_submission` against its presentation definition (DIF PE v2): follows
 * each descriptor_map entry (path, path_nested) to the credential it names, checks that credential
 * against the input descriptor's constraints (fields with JSONPath + JSON Schema filters, formats,
 * subject_is_issuer, is_holder, same_subject), and the submission requirements (`all`, `pick` with
 * `count`/`min`/`max`, `from` groups and `from_nested`).
 *
 * Pure and synchronous: it never verifies a signature. It returns the credential JWTs it relied on,
 * and the caller verifies each of them (signature, dates, status) before accepting the submission.
 * @sphereon/pex was the first choice; it cannot run in workerd (its filters are compiled by ajv with
 * `new Function`), see docs/DESIGN.md.
 */
import { jwtPart } from "../core/json-depth";
import type { SchemaFieldError } from "../schemas/json-schema";
import {
  compileFilter,
  type Descriptor,
  type InputDescriptor,
  type PresentationDefinition,
  type PresentationSubmission,
  type SubmissionRequirement,
} from "./definition";
import { queryJsonPath } from "./jsonpath";

/** A credential JWT as a descriptor entry reached it: decoded, not verified. */
export interface DecodedJwt {
  jwt: string;
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  /** The `vc` claim (VC 1.1) or the claims themselves (VC 2.0). */
  credential: Record<string, unknown>;
}

export type Evaluation =
  | {
      ok: true;
      /** Descriptor ids the submission satisfies. */ satisfied: string[];
      /** Every credential JWT the evaluation relied on. */ credentials: string[];
    }
  | { ok: false; errors: SchemaFieldError[] };

/** Nested `path_nested` levels we follow; DIF's own example has three. */
const MAX_NESTING = 4;
/** Formats a JWT credential may be listed under; ssi-service (and DIF's JWT appendix) say `jwt_vp` for a credential inside a VP JWT. */
const JWT_FORMATS = new Set(["jwt", "jwt_vc", "jwt_vp"]);

const isObject = (v: unknown): v is Record<string, unknown> => !!v && typeof v === "object" && !Array.isArray(v);

/** Decodes a compact JWS's header and claims (depth-bounded); `undefined` when it is not one. */
export function decodeJwt(jwt: string): DecodedJwt | undefined {
  const parts = jwt.split(".");
  if (parts.length !== 3) return undefined;
  const header = jwtPart(parts[0]);
  const claims = jwtPart(parts[1]);
  if (!header || !claims || header === "too_deep" || claims === "too_deep") return undefined;
  const credential = isObject(claims.vc) ? claims.vc : claims;
  return { jwt, header, claims, credential };
}

/** The id of a credential's subject: `credentialSubject.id`, else the JWT `sub`. */
export function subjectOf(c: DecodedJwt): string | undefined {
  const subject = Array.isArray(c.credential.credentialSubject) ? c.credential.credentialSubject[0] : c.credential.credentialSubject;
  const id = isObject(subject) ? subject.id : undefined;
  return typeof id === "string" ? id : typeof c.claims.sub === "string" ? c.claims.sub : undefined;
}

function issuerOf(c: DecodedJwt): string | undefined {
  const issuer = c.credential.issuer;
  const id = typeof issuer === "string" ? issuer : isObject(issuer) ? issuer.id : undefined;
  return typeof id === "string" ? id : typeof c.claims.iss === "string" ? c.claims.iss : undefined;
}

/**
 * Follows one descriptor_map entry from the presentation: each `path` selects one node, and a JWT
 * found on the way is decoded before its `path_nested` is applied. The innermost node must be a JWT
 * credential (`jwt_vc`): those are the credentials the service can verify.
 */
function follow(root: unknown, entry: Descriptor): { ok: true; credential: DecodedJwt; format: string } | { ok: false; message: string } {
  let node: unknown = root;
  let d: Descriptor | undefined = entry;
  for (let depth = 0; d; depth++) {
    if (depth >= MAX_NESTING) return { ok: false, message: `path_nested deeper than ${MAX_NESTING} levels` };
    if (d.id !== entry.id)
      return { ok: false, message: `path_nested names descriptor ${JSON.stringify(d.id)}, not ${JSON.stringify(entry.id)}` };
    const scope = typeof node === "string" ? decodeJwt(node)?.claims : node;
    if (scope === undefined) return { ok: false, message: "path_nested applied to a value that is neither an object nor a JWT" };
    const found = queryJsonPath(scope, d.path, { noFilters: true });
    if (!found.ok) return { ok: false, message: `path ${d.path}: ${found.message}` };
    if (found.value.length === 0) return { ok: false, message: `path ${d.path} selects nothing in the presentation` };
    if (found.value.length > 1)
      return { ok: false, message: `path ${d.path} selects ${found.value.length} values; it must select one credential` };
    node = found.value[0]!.value;
    if (!d.path_nested) {
      if (!JWT_FORMATS.has(d.format))
        return { ok: false, message: `format ${d.format} is not supported; credentials must be JWTs (jwt_vc)` };
      const credential = typeof node === "string" ? decodeJwt(node) : undefined;
      if (!credential || credential.credential.credentialSubject === undefined)
        return { ok: false, message: `path ${d.path} does not select a JWT credential` };
      return { ok: true, credential, format: d.format };
    }
    d = d.path_nested;
  }
  return { ok: false, message: "empty descriptor" };
}

/** Filters compiled once per definition object (a definition is evaluated for every credential of a submission). */
const filters = new WeakMap<object, ReturnType<typeof compileFilter>>();

function filterOf(field: { filter?: Record<string, unknown> }): ReturnType<typeof compileFilter> | undefined {
  if (!field.filter) return undefined;
  let compiled = filters.get(field.filter);
  if (!compiled) {
    compiled = compileFilter(field.filter, "value");
    filters.set(field.filter, compiled);
  }
  return compiled;
}

/** First node a field's paths select, trying the JWT claims and then the credential (`$.vc.x` and `$.x` both work). */
function fieldValue(c: DecodedJwt, paths: readonly string[]): { found: true; path: string; value: unknown } | { found: false } {
  for (const p of paths) {
    for (const scope of c.credential === c.claims ? [c.claims] : [c.claims, c.credential]) {
      const r = queryJsonPath(scope, p);
      if (r.ok && r.value.length > 0) return { found: true, path: p, value: r.value[0]!.value };
    }
  }
  return { found: false };
}

/** Why `c` does not meet `descriptor`'s constraints, or `undefined` when it does. */
function constraintFailure(
  definition: PresentationDefinition,
  descriptor: InputDescriptor,
  c: DecodedJwt,
  format: string,
  holder: string | undefined,
): string | undefined {
  const constraints = descriptor.constraints;
  if (constraints.limit_disclosure === "required")
    return "limit_disclosure required is not supported: JWT credentials cannot disclose selectively";
  for (const [status, rule] of Object.entries(constraints.statuses ?? {})) {
    // Every embedded credential must be active (its status list is checked); other demands are not met.
    if (status === "active" ? rule.directive === "disallowed" : rule.directive === "required") {
      return `statuses.${status} ${rule.directive ?? ""} is not supported: only active credentials are accepted`;
    }
  }
  const formats = descriptor.format ?? definition.format;
  if (formats) {
    const allowed = formats[format];
    if (!allowed) return `format ${format} is not one the definition accepts (${Object.keys(formats).join(", ")})`;
    if (allowed.alg && !allowed.alg.includes(String(c.header.alg)))
      return `alg ${String(c.header.alg)} is not one of ${allowed.alg.join(", ")}`;
  }
  for (const [i, field] of (constraints.fields ?? []).entries()) {
    const name = field.id ? `field ${field.id}` : `field ${i} (${field.path[0] ?? ""})`;
    if (field.predicate === "required") return `${name}: predicate required is not supported`;
    const hit = fieldValue(c, field.path);
    if (!hit.found) {
      if (field.optional) continue;
      return `${name}: no value at ${field.path.join(" or ")}`;
    }
    const filter = filterOf(field);
    if (filter) {
      if (!filter.ok) return `${name}: the filter cannot be used: ${filter.errors[0]?.message ?? ""}`;
      const r = filter.compiled.validate(hit.value, "value");
      if (!r.ok) {
        const first = r.errors[0];
        return `${name}: the value at ${hit.path} does not satisfy the filter (${first ? `${first.path}: ${first.message}` : "invalid"})`;
      }
    }
  }
  if (constraints.subject_is_issuer === "required") {
    const subject = subjectOf(c);
    if (!subject || subject !== issuerOf(c)) return "subject_is_issuer required: the credential's subject is not its issuer";
  }
  if (constraints.is_holder?.some((h) => h.directive === "required")) {
    const subject = subjectOf(c);
    if (!holder || subject !== holder)
      return `is_holder required: the credential's subject ${subject ?? "(none)"} is not the holder ${holder ?? "(unknown)"}`;
  }
  return undefined;
}

/** How many of a requirement's members are satisfied, and whether the rule holds. */
function requirementHolds(
  requirement: SubmissionRequirement,
  definition: PresentationDefinition,
  satisfied: Set<string>,
  depth = 0,
): { holds: boolean; why: string } {
  let total: number;
  let met: number;
  let what: string;
  if (requirement.from_nested && depth < 8) {
    const nested = requirement.from_nested.map((n) => requirementHolds(n, definition, satisfied, depth + 1));
    total = nested.length;
    met = nested.filter((n) => n.holds).length;
    what = "nested requirements";
    if (met < total)
      what += ` (${nested
        .filter((n) => !n.holds)
        .map((n) => n.why)
        .join("; ")})`;
  } else {
    const members = definition.input_descriptors.filter((d) => d.group?.includes(requirement.from ?? "")).map((d) => d.id);
    total = members.length;
    met = members.filter((id) => satisfied.has(id)).length;
    what = `descriptors of group ${JSON.stringify(requirement.from)}`;
  }
  const label = requirement.name ? `requirement ${JSON.stringify(requirement.name)}` : "requirement";
  if (requirement.rule === "all") return { holds: met === total, why: `${label}: all ${total} ${what} must be submitted, ${met} were` };
  if (requirement.count !== undefined && met !== requirement.count)
    return { holds: false, why: `${label}: pick exactly ${requirement.count} of ${what}, got ${met}` };
  if (requirement.min !== undefined && met < requirement.min)
    return { holds: false, why: `${label}: pick at least ${requirement.min} of ${what}, got ${met}` };
  if (requirement.max !== undefined && met > requirement.max)
    return { holds: false, why: `${label}: pick at most ${requirement.max} of ${what}, got ${met}` };
  return { holds: true, why: `${label}: met` };
}

/**
 * Evaluates `submission` against `definition`. `presentation` is the object descriptor_map paths are
 * read from (a VP JWT's `vp` claim, or the VP 2.0 claims), `holder` the DID that signed it. Every
 * failure is reported: a descriptor's at `presentation_submission.descriptor_map.<i>` with the
 * descriptor id and the reason; an unmet requirement at `presentation_definition.submission_requirements.<i>`.
 */
export function evaluateSubmission(
  definition: PresentationDefinition,
  submission: PresentationSubmission,
  presentation: unknown,
  holder?: string,
): Evaluation {
  const errors: SchemaFieldError[] = [];
  if (submission.definition_id !== definition.id) {
    return {
      ok: false,
      errors: [
        {
          path: "presentation_submission.definition_id",
          message: `is ${JSON.stringify(submission.definition_id)}, not the definition ${JSON.stringify(definition.id)}`,
        },
      ],
    };
  }
  const byId = new Map(definition.input_descriptors.map((d) => [d.id, d]));
  const satisfied = new Set<string>();
  const credentials: string[] = [];
  const subjects = new Map<string, (string | undefined)[]>();

  submission.descriptor_map.forEach((entry, i) => {
    const at = `presentation_submission.descriptor_map.${i}`;
    const descriptor = byId.get(entry.id);
    if (!descriptor) {
      errors.push({ path: `${at}.id`, message: `input descriptor ${JSON.stringify(entry.id)} is not in the definition` });
      return;
    }
    const reached = follow(presentation, entry);
    if (!reached.ok) {
      errors.push({ path: at, message: `input descriptor ${JSON.stringify(entry.id)}: ${reached.message}` });
      return;
    }
    const failure = constraintFailure(definition, descriptor, reached.credential, reached.format, holder);
    if (failure) {
      errors.push({ path: at, message: `input descriptor ${JSON.stringify(entry.id)}: ${failure}` });
      return;
    }
    satisfied.add(entry.id);
    credentials.push(reached.credential.jwt);
    subjects.set(entry.id, [...(subjects.get(entry.id) ?? []), subjectOf(reached.credential)]);
  });
  if (errors.length > 0) return { ok: false, errors };

  // same_subject: the credentials submitted for the descriptors holding those fields share one subject.
  definition.input_descriptors.forEach((descriptor, i) => {
    for (const rule of descriptor.constraints.same_subject ?? []) {
      if (rule.directive !== "required") continue;
      const owners = definition.input_descriptors
        .filter((d) => d.constraints.fields?.some((f) => f.id !== undefined && rule.field_id.includes(f.id)))
        .map((d) => d.id);
      const seen = new Set(owners.flatMap((id) => subjects.get(id) ?? []));
      if (seen.size > 1 || seen.has(undefined)) {
        errors.push({
          path: `presentation_definition.input_descriptors.${i}.constraints.same_subject`,
          message: `input descriptor ${JSON.stringify(descriptor.id)}: same_subject required, but the credentials for ${owners.join(", ")} have different subjects`,
        });
      }
    }
  });

  if (!definition.submission_requirements) {
    for (const d of definition.input_descriptors) {
      if (!satisfied.has(d.id))
        errors.push({
          path: "presentation_submission.descriptor_map",
          message: `input descriptor ${JSON.stringify(d.id)} is required and was not submitted`,
        });
    }
  } else {
    definition.submission_requirements.forEach((requirement, i) => {
      const r = requirementHolds(requirement, definition, satisfied);
      if (!r.holds) errors.push({ path: `presentation_definition.submission_requirements.${i}`, message: r.why });
    });
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, satisfied: [...satisfied], credentials };
}
