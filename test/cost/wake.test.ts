/**
 * What waking an issuer object costs before its first answer (P5, bench/README.md "Waking an
 * issuer"): the constructor's schema check, then what a first request reads that a warm object
 * has in memory (test/cost/single.test.ts, "waking"). And what creating a DID costs: it wakes no
 * object at all.
 */
import { createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { SCHEMA, migrate } from "../../durable-objects/schema";
import worker from "../../src/index";
import { ORIGIN, TOKEN, api } from "../support/api";
import { credentialRequest, custodialDid, externalKey, type Issuer } from "../support/keys";

/** Runs `migrate` on the object's own SQLite, counting the `exec` calls it makes. */
function countedMigrate(sql: SqlStorage): number {
  let calls = 0;
  const counted = new Proxy(sql, {
    get: (target, prop) =>
      prop === "exec"
        ? (...args: Parameters<SqlStorage["exec"]>) => {
            calls++;
            return target.exec(...args);
          }
        : Reflect.get(target, prop),
  });
  migrate(counted);
  return calls;
}

describe("waking an issuer object", () => {
  it("a current schema is checked with two statements; pending migrations run as one script", async () => {
    const issuer = await custodialDid("Ed25519");
    await runInDurableObject(env.ISSUER.getByName(issuer.did), (_i, state) => {
      const sql = state.storage.sql;
      const version = () => sql.exec<{ version: number }>("SELECT version FROM schema_version").one().version;
      const current = version();
      expect(countedMigrate(sql)).toBe(2);
      // A new object has every migration pending: wipe this one's schema back to nothing, and the
      // whole list still runs as one script (whichever migration is the newest).
      const objects = () =>
        sql
          .exec<{ type: string; name: string; sql: string | null }>(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY type, name",
          )
          .toArray();
      const before = objects();
      for (const { name } of before.filter((o) => o.type === "table")) sql.exec(`DROP TABLE "${name}"`);
      expect(objects()).toEqual([]);
      // A new object: the squashed schema (test/cost/schema.test.ts) and its version, one script.
      expect(countedMigrate(sql)).toBe(3);
      expect(version()).toBe(current);
      expect(objects()).toEqual(before);
    });
  });

  it("a new object's schema is CREATE statements only, no ALTER TABLE", () => {
    const statements = SCHEMA.replace(/--[^\n]*/g, "")
      .split(/;\s*(?=CREATE|$)/)
      .map((s) => s.trim())
      .filter(Boolean);
    console.log(`new object's schema: ${statements.length} CREATE statements`);
    expect(statements.every((s) => s.startsWith("CREATE "))).toBe(true);
    // Measured 2026-12-02: 48 (the migrations run 72: 51 CREATE, 14 ALTER TABLE, 3 DROP, 4 backfills).
    expect(statements.length).toBeLessThanOrEqual(48);
  });
});

/** What a request did to D1 and to issuer objects: D1 round trips and statements, object stubs taken. */
interface Recorded {
  roundTrips: number;
  statements: string[];
  objects: string[];
}

/** env, with D1 and the issuer namespace recording what the Worker asks of them. */
function recordingEnv(log: Recorded): Env {
  const sqlOf = new WeakMap<object, string>();
  const statement = (stmt: D1PreparedStatement, sql: string): D1PreparedStatement => {
    const recorded = new Proxy(stmt, {
      get: (s, p) => {
        const v = Reflect.get(s, p) as unknown;
        if (p === "bind") return (...params: unknown[]) => statement(s.bind(...params), sql);
        if (p === "first" || p === "run" || p === "all" || p === "raw") {
          return (...args: unknown[]) => {
            log.roundTrips++;
            log.statements.push(sql);
            return (v as (...a: unknown[]) => unknown).apply(s, args);
          };
        }
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(s) : v;
      },
    });
    sqlOf.set(recorded, sql);
    return recorded;
  };
  const db = new Proxy(env.DB, {
    get: (d, p) => {
      if (p === "prepare") return (sql: string) => statement(d.prepare(sql), sql);
      if (p === "batch") {
        return (stmts: D1PreparedStatement[]) => {
          log.roundTrips++;
          log.statements.push(...stmts.map((s) => sqlOf.get(s) ?? "(batched)"));
          return d.batch(stmts);
        };
      }
      const v = Reflect.get(d, p) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(d) : v;
    },
  });
  const issuers = new Proxy(env.ISSUER, {
    get: (ns, p) => {
      const v = Reflect.get(ns, p) as unknown;
      if (p === "get" || p === "getByName") {
        return (...args: unknown[]) => {
          log.objects.push(String(args[0]));
          return (v as (...a: unknown[]) => unknown).apply(ns, args);
        };
      }
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(ns) : v;
    },
  });
  return { ...env, DB: db, ISSUER: issuers };
}

describe("creating a DID", () => {
  for (const custody of ["external", "custodial"] as const) {
    it(`PUT /v1/dids/key (${custody}): one D1 round trip, no issuer object woken; the DID issues at once`, async () => {
      const key = await externalKey("Ed25519");
      const body = custody === "external" ? { keyType: "Ed25519", custody, publicKeyJwk: key.publicKeyJwk } : { keyType: "Ed25519" };
      const log: Recorded = { roundTrips: 0, statements: [], objects: [] };
      const ctx = createExecutionContext();
      const res = await worker.fetch(
        new Request(`${ORIGIN}/v1/dids/key`, {
          method: "PUT",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        }),
        recordingEnv(log),
        ctx,
      );
      await waitOnExecutionContext(ctx);
      const created = (await res.json()) as { did: Issuer["doc"] };
      expect(res.status, JSON.stringify(created)).toBe(201);
      const listing = `${log.roundTrips} D1 round trips: ${log.statements.map((s) => s.replace(/\s+/g, " ").slice(0, 90)).join(" | ")}; objects: ${log.objects.join(", ")}`;
      console.log(`DID creation (${custody}): ${listing}`);
      // Measured 2026-12-02: 1 round trip (the batch: the DID and its key), 2 statements, no object.
      // Before: 2 round trips (a look for the DID first) and 3 statements, and the new issuer
      // object woken (every migration, ~72 DDL statements) to be handed the key.
      expect(log.roundTrips, listing).toBe(1);
      expect(log.statements, listing).toHaveLength(2);
      expect(log.objects, listing).toEqual([]);

      // Read-your-writes: the next request issues with the DID; its object, made now, copies the
      // key from D1 (the record of keys) on first use.
      const issuer: Issuer = { did: created.did.id, vmId: created.did.verificationMethod[0]!.id, doc: created.did };
      const issued = await api("PUT", "/v1/credentials", credentialRequest(issuer));
      expect(issued.status, JSON.stringify(issued.body)).toBe(custody === "external" ? 202 : 201);
      await runInDurableObject(env.ISSUER.getByName(issuer.did), (_i, state) => {
        const keys = state.storage.sql.exec<{ id: string; custody: string }>("SELECT id, custody FROM keys").toArray();
        expect(keys).toEqual([{ id: issuer.vmId, custody }]);
      });
    });
  }
});
