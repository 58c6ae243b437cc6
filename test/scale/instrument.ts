/**
 * Counters for the capacity model (docs/SCALE.md): what one issuer object sends to D1 (statements,
 * rows written, D1's own SQL time) and how many SQLite statements it runs on its own storage.
 * Installed into the running instance through `runInDurableObject`; production code knows nothing
 * of it, and an evicted instance comes back uncounted.
 */
import { runInDurableObject } from "cloudflare:test";

export interface StoreCounts {
  /** Statements D1 ran for the object (each statement of a batch counts). */
  d1Statements: number;
  /** D1 round trips (one batch or one single statement). */
  d1Calls: number;
  /** D1's `meta.rows_written`: table and index rows. */
  d1RowsWritten: number;
  /** D1's `meta.timings.sql_duration_ms`, summed: time its one thread spent in SQL. */
  d1SqlMs: number;
  /** `sql.exec` calls on the object's own SQLite. */
  objectStatements: number;
}

export const zeroCounts = (): StoreCounts => ({ d1Statements: 0, d1Calls: 0, d1RowsWritten: 0, d1SqlMs: 0, objectStatements: 0 });

type Meta = { rows_written?: number; timings?: { sql_duration_ms?: number } };

function tally(counts: StoreCounts, results: unknown): void {
  for (const r of Array.isArray(results) ? results : [results]) {
    const meta = (r as { meta?: Meta } | null)?.meta;
    counts.d1RowsWritten += meta?.rows_written ?? 0;
    counts.d1SqlMs += meta?.timings?.sql_duration_ms ?? 0;
  }
}

function bindAll<T extends object>(target: T, prop: string | symbol): unknown {
  const v = Reflect.get(target, prop) as unknown;
  return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
}

function countedStatement(s: D1PreparedStatement, counts: StoreCounts): D1PreparedStatement {
  return new Proxy(s, {
    get(t, p) {
      if (p === "bind") return (...args: unknown[]) => countedStatement(t.bind(...args), counts);
      if (p === "run" || p === "all" || p === "raw") {
        return async (...args: unknown[]) => {
          counts.d1Statements++;
          counts.d1Calls++;
          const r = await (t[p] as (...a: unknown[]) => Promise<unknown>).apply(t, args);
          if (p !== "raw") tally(counts, r);
          return r;
        };
      }
      if (p === "first") {
        return async (...args: unknown[]) => {
          counts.d1Statements++;
          counts.d1Calls++;
          return (t.first as (...a: unknown[]) => Promise<unknown>).apply(t, args);
        };
      }
      return bindAll(t, p);
    },
  });
}

export function countedD1(real: D1Database, counts: StoreCounts): D1Database {
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") return (sql: string) => countedStatement(target.prepare(sql), counts);
      if (prop === "batch") {
        return async (statements: D1PreparedStatement[]) => {
          counts.d1Statements += statements.length;
          counts.d1Calls++;
          const r = await target.batch(statements);
          tally(counts, r);
          return r;
        };
      }
      return bindAll(target, prop);
    },
  });
}

const INSTALLED = Symbol("scale.counted");
type Sink = { current: StoreCounts };

/**
 * Counts into `counts` from now on: the object's SQLite `exec`, and every D1 statement of the
 * Worker and the object (the object's `env` is the Worker's; every field of the instance holding the
 * binding, found by identity two levels deep so renames do not matter, gets the counting one).
 * Installed once per instance; later calls only switch where the counts go.
 */
export async function instrument(stub: DurableObjectStub, counts: StoreCounts): Promise<void> {
  await runInDurableObject(stub, (instance, state) => {
    const marked = instance as unknown as { [INSTALLED]?: Sink };
    const installed = marked[INSTALLED];
    if (installed) {
      installed.current = counts;
      return;
    }
    const sink: Sink = { current: counts };
    marked[INSTALLED] = sink;
    const live = new Proxy({} as StoreCounts, {
      get: (_t, p) => sink.current[p as keyof StoreCounts],
      set: (_t, p, v: number) => ((sink.current[p as keyof StoreCounts] = v), true),
    });
    const sql = state.storage.sql as SqlStorage & { exec: SqlStorage["exec"] };
    const exec = sql.exec;
    sql.exec = ((query: string, ...bindings: unknown[]) => {
      live.objectStatements++;
      return exec.call(sql, query, ...bindings);
    }) as SqlStorage["exec"];
    const env = (instance as unknown as { env: Env }).env;
    const real = env.DB;
    const counted = countedD1(real, live);
    const seen = new Set<object>();
    const visit = (o: object, depth: number) => {
      if (seen.has(o) || depth > 2) return;
      seen.add(o);
      for (const key of Object.keys(o)) {
        const v = (o as Record<string, unknown>)[key];
        if (v === real) (o as Record<string, unknown>)[key] = counted;
        else if (v && typeof v === "object" && v !== state && v !== sql) visit(v, depth + 1);
      }
    };
    visit(instance as object, 0);
  });
}

/** The object's SQLite file size (`sql.databaseSize`) and the logical bytes of some of its columns. */
export async function objectSize(stub: DurableObjectStub, probes: Record<string, string> = {}) {
  return runInDurableObject(stub, (_i, state) => {
    const sql = state.storage.sql;
    const logical: Record<string, number> = {};
    for (const [name, query] of Object.entries(probes)) {
      logical[name] = Number(sql.exec<{ b: number | null }>(query).one().b ?? 0);
    }
    return { databaseSize: sql.databaseSize, logical };
  });
}

/** D1's file size, as D1 reports it after a statement (`meta.size_after`; `PRAGMA page_count` is not authorized). */
export async function d1Size(db: D1Database): Promise<number> {
  const r = await db.prepare("UPDATE dead_letters SET attempts = attempts WHERE 0").run();
  const size = (r.meta as { size_after?: number }).size_after;
  if (typeof size !== "number") throw new Error("D1 did not report size_after");
  return size;
}
