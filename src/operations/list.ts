/**
 * The rows `GET /v1/operations` pages. Two sources, merged in (created_at, operation id) order with
 * the page tokens one table would give:
 *
 * - D1's `operations` table (shard 0): every parent's operations, and credentials' operations
 *   created before migrations/0014.
 * - The credential index, on every index shard: a credential created since then has no
 *   `operations` row; its index row (`is_operation = 1`) stands for `credentials/<id>`. Pending is
 *   state 0, and a failed one's `code` is the status its job ended in.
 *
 * A credential is in one source only: rows with `is_operation = 1` never had an `operations` row,
 * and older credentials' index rows have 0. A deleted credential's operation stays listed, as its
 * `operations` row always did (deletion ends a pending one and keeps it), so deleted index rows count.
 * The page's operations then come whole from their issuers' objects (bodies.ts).
 */
import { Where } from "../db/where";
import { failureOfEnding } from "../../durable-objects/operations";
import { CredentialState, type CredentialIndexRow } from "../shards/credential-index";
import { mergeBounded, type TimeKey } from "../shards/merge";
import { IndexShards, laterBookmark } from "../shards/shards";
import type { OperationRow } from "./bodies";

const CREDENTIALS = "credentials";
const PREFIX = `${CREDENTIALS}/`;

export type OperationFilter = { parent?: string | undefined; done?: boolean | undefined };

type Source = { rows: OperationRow[]; frontier: TimeKey | null };

const keyOf = (r: OperationRow): TimeKey => [r.created_at, r.id];

/**
 * A page of operation rows after `after`, at most `pageSize`, the key the next page resumes after
 * (null: none), and the D1 session bookmarks of what it read (one per shard, as the credential lists
 * give them): sent back, the next list reads at least what this one saw.
 */
export async function listOperations(
  env: Env,
  filter: OperationFilter,
  after: TimeKey | null,
  pageSize: number,
  bookmarks: Record<number, string> = {},
): Promise<{ rows: OperationRow[]; next: TimeKey | null; bookmarks: Record<number, string> }> {
  // Each source is asked for one row past the page, so a full last page is known to be the last.
  const limit = pageSize + 1;
  const indexed = filter.parent === undefined || filter.parent === CREDENTIALS;
  const [d1, index] = await Promise.all([
    fromD1(env.DB, filter, after, limit, bookmarks[0]),
    indexed ? fromIndex(env, filter, after, limit, bookmarks) : null,
  ]);
  // D1 first: should a credential ever have both rows, its `operations` row is the one listed.
  const page = mergeBounded(index ? [d1, index] : [d1], keyOf, pageSize);
  const out: Record<number, string> = { ...bookmarks, ...index?.bookmarks };
  const zero = laterBookmark(out[0], d1.bookmark);
  if (zero !== undefined) out[0] = zero;
  return { ...page, bookmarks: out };
}

async function fromD1(
  db: D1Database,
  filter: OperationFilter,
  after: TimeKey | null,
  limit: number,
  bookmark: string | undefined,
): Promise<Source & { bookmark: string | undefined }> {
  const where = new Where()
    .when(filter.parent, "parent = ?")
    .when(filter.done === undefined ? undefined : filter.done ? 1 : 0, "done = ?")
    .when(after?.[0], "(created_at, id) > (?, ?)", ...(after ?? []));
  const session = db.withSession(bookmark ?? "first-unconstrained");
  const rows = (
    await session
      .prepare(`SELECT * FROM operations ${where} ORDER BY created_at, id LIMIT ?`)
      .bind(...where.params, limit)
      .all<OperationRow>()
  ).results;
  return { rows, frontier: rows.length < limit ? null : keyOf(rows[rows.length - 1]!), bookmark: session.getBookmark() ?? undefined };
}

async function fromIndex(
  env: Env,
  filter: OperationFilter,
  after: TimeKey | null,
  limit: number,
  bookmarks: Record<number, string>,
): Promise<Source & { bookmarks: Record<number, string> }> {
  // Pending is written as `state = 0` so the partial index on pending rows serves done=false.
  const pending = `state = ${CredentialState.pending} AND deleted_at IS NULL`;
  const state = filter.done === undefined ? [] : [filter.done ? `NOT (${pending})` : pending];
  const where = ["is_operation = 1", ...state].join(" AND ");
  const page = await new IndexShards(env).listCredentials({ where, params: [] }, indexKeyAfter(after), limit, bookmarks);
  return { rows: page.rows.map(operationRowOf), frontier: page.next && [page.next[0], PREFIX + page.next[1]], bookmarks: page.bookmarks };
}

/**
 * The index key after which an operation key's successors begin. Index rows are ordered by
 * (created_at, credential id) and their operation ids all share the prefix, so within one
 * created_at they sort together: wholly before an operation id past them ("dids/…"), wholly after
 * one before them ("credentials" itself), or around one under the prefix ("credentials/responses/…").
 */
export function indexKeyAfter(after: TimeKey | null): TimeKey | null {
  if (!after) return null;
  const [at, id] = after;
  if (id.startsWith(PREFIX)) return [at, id.slice(PREFIX.length)];
  // Every id is non-empty, so (at, "") admits all of that millisecond and (at + 1, "") none of it.
  return id < PREFIX ? [at, ""] : [at + 1, ""];
}

/**
 * The credential's operation as its index row records it (its result and jobs come from the object).
 * A deleted credential's operation is done whatever its row's state says: deleting a pending one
 * cancels its operation first, but the route's own deletion write may reach the row before the
 * object's snapshot of that ending does, and a deleted row takes no later snapshot
 * (src/shards/index-writes.ts).
 */
export function operationRowOf(r: CredentialIndexRow): OperationRow {
  return {
    id: PREFIX + r.id,
    parent: CREDENTIALS,
    issuer: r.issuer,
    done: r.state === CredentialState.pending && r.deleted_at === null ? 0 : 1,
    result: null,
    code: r.state === CredentialState.failed && r.code !== null ? failureOfEnding(r.code) : null,
    sign_jobs: "[]",
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}
