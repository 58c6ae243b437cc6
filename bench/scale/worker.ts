/**
 * The index layer on its own, for bench/scale.ts: the same modules the service uses (src/shards),
 * bound to several local D1 shards, with routes to write generated index rows, list pages, read
 * shard sizes, and drive a migration. Runs only under the benchmark's own wrangler config.
 */
import { CredentialState, revOf, upsertStatements, type CredentialIndexRow } from "../../src/shards/credential-index";
import { readShard } from "../../src/shards/layout";
import { beginMigration, migrateStep, MigrationRefused } from "../../src/shards/migrate";
import { IndexShards } from "../../src/shards/shards";
import { routedId } from "../../src/core/ids";

/** A stand-in for the issuer object's id (`idFromName(did)`): 64 hex digits, one per issuer. */
const objectHexes = new Map<string, string>();
async function objectHexOf(did: string): Promise<string> {
  let hex = objectHexes.get(did);
  if (!hex) {
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(did)));
    hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    objectHexes.set(did, hex);
  }
  return hex;
}

type BenchEnv = { DB: D1Database; INDEX_SHARDS?: string } & Record<string, unknown>;

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

/** A did:key-shaped identifier of realistic length (56 characters for issuers, 60 for subjects). */
const didKey = (prefix: string, n: number, length: number) => `did:key:z6Mk${prefix}${n.toString(36).padStart(8, "0")}`.padEnd(length, "x");

/**
 * Rows `from` .. `from + count` of the benchmark's sequence: row j belongs to issuer j mod `issuers`
 * (issuers interleave in time, as their traffic does) and has its own subject. Each row goes to every
 * shard the layout names for its issuer, one batch per shard.
 */
async function write(shards: IndexShards, issuers: number, from: number, count: number, now: number): Promise<number> {
  const byShard = new Map<D1Database, CredentialIndexRow[]>();
  for (let k = 0; k < count; k++) {
    const j = from + k;
    const did = didKey("Issuer", j % issuers, 56);
    const row: CredentialIndexRow = {
      // The service's id shape (src/core/ids.ts): the issuer object's 64-hex id, a dot, a UUID.
      id: routedId(await objectHexOf(did)),
      issuer: did,
      subject: didKey("Holder", j, 60),
      schema_id: null,
      state: CredentialState.signed,
      code: null,
      revoked: 0,
      suspended: 0,
      rev: revOf(CredentialState.signed, 0, false),
      created_at: now + k,
      updated_at: now + k,
      // A credential of today's write path: its index row is its operation's record too.
      is_operation: 1,
      deleted_at: null,
    };
    for (const db of await shards.writeTargets(did)) byShard.set(db, [...(byShard.get(db) ?? []), row]);
  }
  await Promise.all([...byShard].map(([db, rows]) => db.batch(upsertStatements(db, rows))));
  return count;
}

export default {
  async fetch(request: Request, env: BenchEnv): Promise<Response> {
    const url = new URL(request.url);
    const q = url.searchParams;
    const shards = new IndexShards(env);
    try {
      switch (`${request.method} ${url.pathname}`) {
        case "GET /readiness":
          return json({ ok: true });
        case "POST /write": {
          const body = (await request.json()) as { issuers: number; from: number; count: number };
          return json({ written: await write(shards, body.issuers, body.from, body.count, Date.now()) });
        }
        case "GET /list": {
          const after = q.get("after") ? (JSON.parse(q.get("after")!) as [number, string]) : null;
          const subject = q.get("subject");
          const filter = subject ? { where: "subject = ?", params: [subject] } : { where: "", params: [] };
          const t0 = performance.now();
          const page = await shards.listCredentials(filter, after, Number(q.get("pageSize") ?? "100"));
          return json({
            count: page.rows.length,
            next: page.next,
            ids: q.get("ids") ? page.rows.map((r) => r.id) : undefined,
            ms: performance.now() - t0,
            queries: page.queries,
            first: page.rows[0],
          });
        }
        case "GET /probe": {
          const n = shards.bound();
          const sql = "SELECT * FROM credential_index ORDER BY created_at, id LIMIT ?";
          const lim = Number(q.get("limit") ?? "28");
          const t: Record<string, number> = {};
          let t0 = performance.now();
          for (let i = 0; i < n; i++) await shards.db(i).prepare(sql).bind(lim).all();
          t.sequential = performance.now() - t0;
          t0 = performance.now();
          await Promise.all(Array.from({ length: n }, (_, i) => shards.db(i).prepare(sql).bind(lim).all()));
          t.parallel = performance.now() - t0;
          t0 = performance.now();
          await Promise.all(
            Array.from({ length: n }, (_, i) => shards.db(i).withSession("first-unconstrained").prepare(sql).bind(lim).all()),
          );
          t.parallelSessions = performance.now() - t0;
          t0 = performance.now();
          await shards
            .db(0)
            .prepare(sql)
            .bind(lim * n)
            .all();
          t.oneBig = performance.now() - t0;
          t0 = performance.now();
          await shards.db(0).prepare("SELECT 1").all();
          t.trivial = performance.now() - t0;
          return json(t);
        }
        case "GET /point": {
          const issuer = q.get("issuer")!;
          const layout = await shards.layout();
          const row = await shards
            .db(readShard(layout, issuer))
            .prepare("SELECT * FROM credential_index WHERE id = ?")
            .bind(q.get("id"))
            .first();
          return json({ found: row !== null, phase: layout.phase });
        }
        case "GET /sizes": {
          const n = shards.bound();
          const sizes = await Promise.all(
            Array.from({ length: n }, async (_, i) => {
              const db = shards.db(i);
              const probe = await db.prepare("UPDATE index_layout SET since = since WHERE 0").run();
              const count = await db.prepare("SELECT count(*) AS n FROM credential_index").first<{ n: number }>();
              return { shard: i, bytes: (probe.meta as { size_after?: number }).size_after ?? 0, rows: count?.n ?? 0 };
            }),
          );
          return json({ layout: await shards.layout(), sizes });
        }
        case "POST /migrate/begin":
          return json(await beginMigration(shards, Number(q.get("to"))));
        case "POST /migrate/step":
          return json(await migrateStep(shards, { graceMs: Number(q.get("graceMs") ?? "2000"), limit: Number(q.get("limit") ?? "500") }));
        default:
          return json({ error: "not found" }, 404);
      }
    } catch (err) {
      if (err instanceof MigrationRefused) return json({ error: err.message }, 409);
      return json({ error: String(err) }, 500);
    }
  },
};
