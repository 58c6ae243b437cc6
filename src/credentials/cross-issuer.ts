/**
 * Credential lists by subject or schema (with or without an issuer) and unfiltered: a page of the
 * body-free credential index, merged across its shards (src/shards), then each credential's
 * container from its issuer's object. Lists by issuer alone and reads of one id are the issuer's
 * object's (api.md "Consistency").
 *
 * Reads go through D1 sessions: the `index-bookmark` request header (from an earlier answer's
 * header) makes every shard answer at least as fresh as what that answer saw, so a client paging
 * with it never reads older state than it already has, even off a read replica.
 */
import { BOOKMARK_HEADER, decodeBookmarks, encodeBookmarks, IndexShards } from "../shards/shards";
import type { CredentialIndexRow } from "../shards/credential-index";
import type { TimeKey } from "../shards/merge";
import { containersByIssuer } from "./store";
import type { Container } from "./schemas";

export { BOOKMARK_HEADER };

export type CrossIssuerFilter = { issuer?: string | undefined; subject?: string | undefined; schema?: string | undefined };

/** The index rows of one page (up to `limit`, oldest first) and the bookmarks to hand back. */
export async function indexPage(
  env: Env,
  filter: CrossIssuerFilter,
  after: TimeKey | null,
  limit: number,
  bookmarkHeader: string | undefined,
): Promise<{ rows: CredentialIndexRow[]; bookmark: string }> {
  const clauses = ["deleted_at IS NULL"];
  const params: string[] = [];
  if (filter.issuer !== undefined) {
    clauses.push("issuer = ?");
    params.push(filter.issuer);
  }
  if (filter.subject !== undefined) {
    clauses.push("subject = ?");
    params.push(filter.subject);
  }
  if (filter.schema !== undefined) {
    clauses.push("schema_id = ?");
    params.push(filter.schema);
  }
  const page = await new IndexShards(env).listCredentials(
    { where: clauses.join(" AND "), params },
    after,
    limit,
    decodeBookmarks(bookmarkHeader),
  );
  return { rows: page.rows, bookmark: encodeBookmarks(page.bookmarks) };
}

/**
 * The containers of a page of index rows, in its order: each issuer's object gives the bodies of
 * its rows, one call per issuer, all in parallel (src/credentials/store.ts). A row no object holds
 * and D1 has no pre-0013 body for is left out: it is not visible yet (cross-issuer lists may lag).
 */
export async function containersOf(env: Env, rows: CredentialIndexRow[]): Promise<Container[]> {
  if (rows.length === 0) return [];
  const byId = await containersByIssuer(env, rows);
  return rows.flatMap((r) => {
    const container = byId.get(r.id);
    return container ? [container] : [];
  });
}
