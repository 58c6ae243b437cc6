import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";

/** What the statements an issuer object ran cost: how many, and the rows SQLite read and wrote. */
export interface Cost {
  statements: number;
  rowsRead: number;
  rowsWritten: number;
  /** Per statement text: how often it ran and the rows it read. */
  bySql: Map<string, { n: number; rowsRead: number }>;
}

type Metered = SqlStorage & { __meter?: { cursors: { sql: string; cursor: SqlStorageCursor<Record<string, SqlStorageValue>> }[] } };

/**
 * Counts every statement the issuer object of `did` runs from now on, through its own
 * `ctx.storage.sql` (the object keeps a reference to that same SqlStorage, so wrapping `exec` on
 * it sees everything). `take` returns the cost since the last take.
 */
export async function meter(did: string): Promise<{ take: () => Promise<Cost> }> {
  const stub = env.ISSUER.getByName(did);
  await runInDurableObject(stub, (_i, state) => {
    const sql = state.storage.sql as Metered;
    if (sql.__meter) return;
    const exec = sql.exec.bind(sql);
    sql.__meter = { cursors: [] };
    sql.exec = ((query: string, ...params: SqlStorageValue[]) => {
      const cursor = exec(query, ...params);
      sql.__meter!.cursors.push({ sql: query.replace(/\s+/g, " ").trim(), cursor });
      return cursor;
    }) as SqlStorage["exec"];
  });
  return {
    // The outbox delivery runs after the answer now: what a change costs includes its delivery, so wait for it.
    take: async () => {
      await stub.flush();
      return runInDurableObject(stub, (_i, state) => {
        const m = (state.storage.sql as Metered).__meter!;
        const cost: Cost = { statements: 0, rowsRead: 0, rowsWritten: 0, bySql: new Map() };
        for (const { sql, cursor } of m.cursors) {
          cost.statements++;
          cost.rowsRead += cursor.rowsRead;
          cost.rowsWritten += cursor.rowsWritten;
          const e = cost.bySql.get(sql) ?? { n: 0, rowsRead: 0 };
          e.n++;
          e.rowsRead += cursor.rowsRead;
          cost.bySql.set(sql, e);
        }
        m.cursors = [];
        return cost;
      });
    },
  };
}

/** The statements that read the most rows, for a failing assertion's message. */
export function heaviest(cost: Cost, n = 5): string {
  return [...cost.bySql]
    .sort((a, b) => b[1].rowsRead - a[1].rowsRead)
    .slice(0, n)
    .map(([sql, e]) => `${e.rowsRead} rows in ${e.n}× ${sql.slice(0, 160)}`)
    .join("\n");
}
