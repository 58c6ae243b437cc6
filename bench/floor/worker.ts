/**
 * The platform floor the benchmarks compare against: what this machine's workerd, wrangler's
 * proxy and local D1 / Durable Object SQLite cost for the cheapest useful request, with none
 * of the service's middleware, auth or validation in the way.
 *
 *   PUT /floor  one D1 insert of the request body (the baseline for single creates and DIDs)
 *   PUT /fresh  one insert into a Durable Object named by a random id, so every request wakes
 *               an object that never existed (the baseline for 1,000 issuers, one request each)
 */
import { DurableObject } from "cloudflare:workers";

interface FloorEnv {
  DB: D1Database;
  FRESH: DurableObjectNamespace<FreshObject>;
}

export class FreshObject extends DurableObject<FloorEnv> {
  /** The least a new issuer object does: create its one table and write one row. */
  put(body: string): string {
    const sql = this.ctx.storage.sql;
    sql.exec("CREATE TABLE IF NOT EXISTS t (id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)");
    const id = crypto.randomUUID();
    sql.exec("INSERT INTO t (id, body, at) VALUES (?, ?, ?)", id, body, Date.now());
    return id;
  }
}

const json = (value: unknown, status: number) =>
  new Response(JSON.stringify(value), { status, headers: { "content-type": "application/json" } });

export default {
  async fetch(request: Request, env: FloorEnv): Promise<Response> {
    const { pathname } = new URL(request.url);
    if (request.method !== "PUT") return pathname === "/readiness" ? json({ status: "OK" }, 200) : json({ code: "not_found" }, 404);
    // Parse like the service would, so the baseline pays for the same body handling.
    const body = JSON.stringify(await request.json());
    if (pathname === "/floor") {
      const id = crypto.randomUUID();
      await env.DB.prepare("INSERT INTO floor (id, body, at) VALUES (?, ?, ?)").bind(id, body, Date.now()).run();
      return json({ id }, 201);
    }
    if (pathname === "/fresh") {
      const stub = env.FRESH.get(env.FRESH.idFromName(crypto.randomUUID()));
      return json({ id: await stub.put(body) }, 201);
    }
    return json({ code: "not_found" }, 404);
  },
} satisfies ExportedHandler<FloorEnv>;
