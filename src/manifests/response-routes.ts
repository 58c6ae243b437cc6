/** `/v1/manifests/responses`: the issuer's signed answers to applications (fulfilments and denials). */
import { createRouter } from "../http/router";
import { ResponseView } from "./model";
import { responseOf, type ResponseRow } from "./store";
import { mountRecordRoutes } from "./record-routes";
import { fetchOperations } from "../operations/bodies";

export const responses = createRouter();

type Done = { response?: { verifiableCredentials?: unknown } };

/**
 * A response with the credentials it lists, read from its operation's result once that is done:
 * from the issuer's object (D1's operation rows are body-free since 0013), else from a row
 * written before 0013.
 */
async function viewsOf(env: Env, rows: ResponseRow[]) {
  const results = new Map<string, Done>();
  const fetched = await fetchOperations(
    env,
    rows.map((r) => ({ id: r.operation_id, issuer: r.issuer })),
  );
  for (const op of fetched.values()) if (op.done && op.result) results.set(op.id, op.result as Done);
  const legacy = rows.filter((r) => !fetched.has(r.operation_id));
  if (legacy.length > 0) {
    const ops = await env.DB.prepare(`SELECT id, result FROM operations WHERE id IN (${legacy.map(() => "?").join(", ")}) AND done = 1`)
      .bind(...legacy.map((r) => r.operation_id))
      .all<{ id: string; result: string | null }>();
    for (const op of ops.results) if (op.result) results.set(op.id, JSON.parse(op.result) as Done);
  }
  return rows.map((row) => {
    const vcs = results.get(row.operation_id)?.response?.verifiableCredentials;
    return {
      id: row.id,
      applicationId: row.application_id,
      manifestId: row.manifest_id,
      applicant: row.applicant,
      operationId: row.operation_id,
      credential_response: responseOf(row),
      ...(row.jwt ? { responseJwt: row.jwt } : {}),
      ...(row.jwt && Array.isArray(vcs) ? { verifiableCredentials: vcs as string[] } : {}),
      createdAt: new Date(row.created_at).toISOString(),
    };
  });
}

mountRecordRoutes(responses, {
  table: "credential_responses",
  noun: "credential response",
  view: ResponseView,
  viewsOf,
  list: { member: "responses", summary: "List credential responses, oldest first" },
  get: { summary: "Get a credential response (with its JWT and the credentials once signed)" },
  delete: { summary: "Delete a credential response record (the credentials it lists are not revoked)" },
});
