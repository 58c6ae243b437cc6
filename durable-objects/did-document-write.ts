import type { D1Write } from "../src/core/kinds";

const RELATIONSHIPS = ["authentication", "assertionMethod", "capabilityInvocation", "capabilityDelegation", "keyAgreement"] as const;

/**
 * One idempotent D1 statement rewriting a DID document's key lists: `first` moved to the front,
 * `without` taken out (from verificationMethod and every relationship). It edits the document D1
 * holds, whatever other keys were added meanwhile; absent relationships stay absent (a merge
 * patch with null removes nothing that is not there).
 */
export function documentRewrite(did: string, change: { first?: string; without?: string[] }): D1Write {
  const idOf = "(CASE WHEN type = 'object' THEN json_extract(value, '$.id') ELSE value END)";
  const element = "(CASE WHEN type = 'object' THEN json(value) ELSE value END)";
  const list = (path: string) =>
    `json((SELECT json_group_array(${element}) FROM (SELECT type, value FROM json_each(document, '${path}')
      WHERE ${idOf} NOT IN (SELECT value FROM json_each(?2)) ORDER BY ${idOf} IS NOT ?3, key)))`;
  const members = [`'verificationMethod', ${list("$.verificationMethod")}`];
  for (const rel of RELATIONSHIPS) {
    members.push(`'${rel}', CASE WHEN json_type(document, '$.${rel}') = 'array' THEN ${list(`$.${rel}`)} END`);
  }
  return {
    sql: `UPDATE dids SET document = json_patch(document, json_object(${members.join(", ")})) WHERE did = ?1`,
    params: [did, JSON.stringify(change.without ?? []), change.first ?? null],
  };
}
