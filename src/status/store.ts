import { deliveredFor } from "../http/routed";
import { objectOfId } from "../core/ids";
import { issuerByHex } from "../issuer-client";
/** The status lists as D1 holds them: published by the status-list kind's finaliser, read by anyone. */
export type PublishedList = { id: string; credential: string; jwt: string; ttl_ms: number; version: number };

/**
 * The newest signed revision of a list, or null (no such list, or none signed yet). A list's id
 * names its issuer's object, which delivers first: a status change or a new list that answered
 * before this read is what the read sees (src/http/routed.ts).
 */
export async function publishedList(env: Env, id: string): Promise<PublishedList | null> {
  await deliveredFor(env, id);
  return env.DB.prepare("SELECT id, credential, jwt, ttl_ms, version FROM status_lists WHERE id = ?").bind(id).first<PublishedList>();
}

/**
 * The issuer of a list: a list id that names its object is asked of it. An older list id (made
 * before ids were routed) is looked up in D1: its published row, or before its first signature a
 * credential on it in the legacy `credentials` table. Such a list was opened for a credential
 * created back then, which has a row there, so the lookup holds although new credentials (which
 * may still be allocated on that list) write none.
 */
export async function listOwner(env: Env, listId: string): Promise<string | null> {
  const hex = objectOfId(listId);
  if (hex !== null) return (await issuerByHex(env, hex)?.liveCredentials([]))?.did ?? null;
  const db = env.DB;
  const sql = "SELECT issuer FROM status_lists WHERE id = ?1 UNION ALL SELECT issuer FROM credentials WHERE status_list_id = ?1 LIMIT 1";
  return (await db.prepare(sql).bind(listId).first<{ issuer: string }>())?.issuer ?? null;
}

/**
 * credential id → issuer, for the live credentials among `ids`: ids that name their object are
 * asked of it (one call per object, so a credential just created is found), older ids of D1's
 * legacy `credentials` table (every credential with such an id was created with a row there;
 * D1 binds at most 100 parameters).
 */
export async function issuersOf(env: Env, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const byObject = new Map<string, string[]>();
  const legacy: string[] = [];
  for (const id of ids) {
    const hex = objectOfId(id);
    if (hex === null) legacy.push(id);
    else byObject.set(hex, [...(byObject.get(hex) ?? []), id]);
  }
  await Promise.all(
    [...byObject].map(async ([hex, group]) => {
      const stub = issuerByHex(env, hex);
      if (!stub) return;
      const { did, live } = await stub.liveCredentials(group);
      if (did !== null) for (const id of live) out.set(id, did);
    }),
  );
  const db = env.DB;
  for (let i = 0; i < legacy.length; i += 100) {
    const chunk = legacy.slice(i, i + 100);
    const sql = `SELECT id, issuer FROM credentials WHERE deleted_at IS NULL AND id IN (${chunk.map(() => "?").join(",")})`;
    const rows = await db
      .prepare(sql)
      .bind(...chunk)
      .all<{ id: string; issuer: string }>();
    for (const r of rows.results) out.set(r.id, r.issuer);
  }
  return out;
}
