import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import worker from "../src/index";
import { ORIGIN, TOKEN } from "./support/api";

type Recorded = { sql: string; params: unknown[] };

/** env.DB, recording every statement the Worker prepares and what it binds (through D1 sessions too). */
function recordingDb(log: Recorded[]): D1Database {
  return recording(env.DB, log);
}

function recording<D extends D1Database | D1DatabaseSession>(target: D, log: Recorded[]): D {
  const bound = <T extends object>(target: T, prop: PropertyKey) => {
    const v = Reflect.get(target, prop) as unknown;
    return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
  };
  return new Proxy(target, {
    get: (db, prop) =>
      prop === "withSession"
        ? (bookmark?: string) => recording((db as D1Database).withSession(bookmark), log)
        : prop !== "prepare"
          ? bound(db, prop)
          : (sql: string) => {
              const entry: Recorded = { sql, params: [] };
              log.push(entry);
              const stmt = db.prepare(sql);
              return new Proxy(stmt, {
                get: (s, p) =>
                  p === "bind"
                    ? (...params: unknown[]) => {
                        entry.params = params;
                        return s.bind(...params);
                      }
                    : bound(s, p),
              });
            },
  });
}

/** The SQL a list request runs, by calling the Worker with a recording D1. */
async function listQueries(path: string): Promise<Recorded[]> {
  const log: Recorded[] = [];
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request(`${ORIGIN}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } }),
    { ...env, DB: recordingDb(log) },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  expect(res.status, `${path}: ${await res.text()}`).toBe(200);
  return log.filter((r) => /ORDER BY/i.test(r.sql));
}

async function plan(q: Recorded): Promise<string[]> {
  const rows = await env.DB.prepare(`EXPLAIN QUERY PLAN ${q.sql}`)
    .bind(...q.params)
    .all<{ detail: string }>();
  return rows.results.map((r) => r.detail);
}

const token = base64url.encode(JSON.stringify([Date.now() - 60_000, "m"]));
const withToken = (path: string) => [path, `${path}${path.includes("?") ? "&" : "?"}pageToken=${token}`];
const query = (params: Record<string, string>) => {
  const s = new URLSearchParams(params).toString();
  return s ? `?${s}` : "";
};
/** Every subset of the given filters. */
function subsets(filters: Record<string, string>): Record<string, string>[] {
  return Object.entries(filters).reduce<Record<string, string>[]>((acc, [k, v]) => [...acc, ...acc.map((s) => ({ ...s, [k]: v }))], [{}]);
}

const LIST_PATHS = [
  ...subsets({ parent: "credentials", done: "false" }).map((f) => `/v1/operations${query(f)}`),
  // `?issuer=` alone is answered by the issuer's object (api.md "Consistency"), not by D1.
  ...subsets({ issuer: "did:key:zA", subject: "did:example:s", schema: "s1" })
    .filter((f) => !(f.issuer && Object.keys(f).length === 1))
    .map((f) => `/v1/credentials${query(f)}`),
  ...["key", "jwk", "web"].flatMap((m) => [`/v1/dids/${m}`, `/v1/dids/${m}?deleted=true`]),
].flatMap(withToken);

describe("list queries use an index for their filter and order (no full scan, no temp B-tree sort)", () => {
  it.each(LIST_PATHS)("GET %s", async (path) => {
    const queries = await listQueries(path);
    expect(queries.length, "the list query was recorded").toBeGreaterThan(0);
    for (const q of queries) {
      const steps = await plan(q);
      const bad = steps.filter((d) => /TEMP B-TREE/.test(d) || (d.startsWith("SCAN ") && !/ USING /.test(d)));
      expect(bad, `${q.sql}\n${steps.join("\n")}`).toEqual([]);
    }
  });
});
