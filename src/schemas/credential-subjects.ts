/**
 * `PUT /v1/credentials` (and its batch) with `schemaId`: each credentialSubject is validated against
 * its schema before any job exists. Each schema named in the request is read and compiled once.
 */
import type { FieldError } from "../core/errors";
import { ProblemError } from "../http/errors";
import { deliveredFor } from "../http/routed";
import { schemasFor } from "./store";

export interface SubjectRequest {
  schemaId?: string | undefined;
  subject: string;
  data: Record<string, unknown>;
}

/** A stored schema's id from a `schemaId`: the id itself, or the schema's URL here (`<origin>/v1/schemas/<id>`). */
function storedId(schemaId: string, origin: string): string {
  const prefix = `${origin}/v1/schemas/`;
  return schemaId.startsWith(prefix) ? decodeURIComponent(schemaId.slice(prefix.length)) : schemaId;
}

/**
 * Throws 400 `schema_validation_failed` with every failing path of every credentialSubject whose
 * `schemaId` names a schema stored here. A `schemaId` naming no schema here (another service's URL)
 * is left as the credential's `credentialSchema` without validation: nothing is fetched. `prefix(i)`
 * is where request `i` sits in the body ("" for a single create, `requests.<i>.` in a batch).
 */
export async function checkCredentialSubjects(
  env: Env,
  origin: string,
  requests: readonly SubjectRequest[],
  prefix: (i: number) => string,
): Promise<void> {
  const ids = requests.flatMap((r) => (r.schemaId !== undefined ? [storedId(r.schemaId, origin)] : []));
  if (ids.length === 0) return;
  // A schema signed just before (its issuer's object still delivering it) is read as D1 will hold it.
  await Promise.all([...new Set(ids)].map((id) => deliveredFor(env, id)));
  const schemas = await schemasFor(env.DB, ids);
  const failing: FieldError[] = [];
  requests.forEach((r, i) => {
    if (r.schemaId === undefined) return;
    const schema = schemas.get(storedId(r.schemaId, origin));
    if (!schema) return;
    const result = schema.validate({ ...r.data, id: r.subject }, `${prefix(i)}credentialSubject`);
    if (!result.ok) failing.push(...result.errors);
  });
  if (failing.length > 0) {
    const shown = failing.slice(0, 10).map((e) => `${e.path}: ${e.message}`);
    throw new ProblemError(
      400,
      "schema_validation_failed",
      `credentialSubject does not match its schema: ${shown.join("; ")}${failing.length > 10 ? ` (and ${failing.length - 10} more)` : ""}`,
      failing,
    );
  }
}
