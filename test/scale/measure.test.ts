/**
 * Measures what one credential costs each store, through the real service (workerd, real D1 and
 * Durable Object SQLite): the inputs of the capacity model (scripts/capacity, docs/SCALE.md).
 * Fails when the model's constants drift more than 20% from what the code does now, so the model
 * and the code cannot part ways silently. Prints the figures as one JSON line.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { COMPACT_INDEX_DDL, MEASURED, PROPOSED_INDEX_DDL } from "../../scripts/capacity/measured";
import { api } from "../support/api";
import { d1Size, instrument, objectSize, zeroCounts, type StoreCounts } from "./instrument";

const BATCH = 100;
const BATCHES = 2;
const SINGLES = 20;

/** A typical credential: a did:key subject, a few claims, revocable (so it has a status entry). */
const request = (issuer: string, vm: string, i: number) => ({
  issuer,
  verificationMethodId: vm,
  subject: `did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2${String(i).padStart(4, "0")}`,
  type: ["UniversityDegreeCredential"],
  data: { name: `Holder ${i}`, degree: { type: "BachelorDegree", name: "Bachelor of Science and Arts" }, gpa: "3.8" },
  revocable: true,
});

const per = (c: StoreCounts, n: number) => ({
  d1Statements: c.d1Statements / n,
  d1Calls: c.d1Calls / n,
  d1RowsWritten: c.d1RowsWritten / n,
  d1SqlMs: c.d1SqlMs / n,
  objectStatements: c.objectStatements / n,
});

/** Logical bytes of every user table's rows in the object (text and blobs by length, numbers 8), by table and in all. */
async function objectLogicalBytes(stub: DurableObjectStub): Promise<{ total: number; tables: Record<string, number> }> {
  return runInDurableObject(stub, (_i, state) => {
    const sql = state.storage.sql;
    const tables = sql
      .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")
      .toArray();
    let n = 0;
    const byTable: Record<string, number> = {};
    for (const { name } of tables) {
      const start = n;
      for (const row of sql.exec(`SELECT * FROM "${name}"`)) {
        for (const v of Object.values(row)) {
          if (typeof v === "string") n += new TextEncoder().encode(v).length;
          else if (v instanceof ArrayBuffer) n += v.byteLength;
          else if (v !== null) n += 8;
        }
      }
      byTable[name] = n - start;
    }
    return { total: n, tables: byTable };
  });
}

const within20 = (measured: number, model: number, what: string) => {
  const ratio = measured / model;
  expect(ratio, `${what}: measured ${measured.toFixed(2)} vs model ${model} (update scripts/capacity/measured.ts)`).toBeGreaterThan(0.8);
  expect(ratio, `${what}: measured ${measured.toFixed(2)} vs model ${model} (update scripts/capacity/measured.ts)`).toBeLessThan(1.2);
};

describe("capacity model inputs", () => {
  it("measures bytes and statements per credential in D1 and in the issuer object, and matches the model within 20%", async () => {
    const created = await api("PUT", "/v1/dids/key", { keyType: "Ed25519" });
    expect(created.status).toBe(201);
    const did = created.body.did.id as string;
    const vm = created.body.did.verificationMethod[0].id as string;
    const stub = env.ISSUER.get(env.ISSUER.idFromName(did));
    // The real binding, for the test's own reads (the instrumented one is installed into env).
    const db = env.DB;
    // Warm the object (its keys copied from D1, status list opened) so the figures are steady state.
    expect((await api("PUT", "/v1/credentials", request(did, vm, 9999))).status).toBe(201);

    const d1Before = await d1Size(db);
    const objBefore = await objectSize(stub);
    const logicalBefore = await objectLogicalBytes(stub);

    const batchCounts = zeroCounts();
    await instrument(stub, batchCounts);
    // Whole-path wall time (Worker, object, local D1) in this test runtime: an upper bound of the
    // object's own time, printed for the record; too noisy on a shared machine to assert.
    let started = performance.now();
    for (let b = 0; b < BATCHES; b++) {
      const res = await api("PUT", "/v1/credentials/batch", {
        requests: Array.from({ length: BATCH }, (_, i) => request(did, vm, b * BATCH + i)),
      });
      expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(201);
    }
    // Answers do not wait for D1: the object's delivery is part of what a batch costs, so wait for it.
    await stub.flush();
    const batchMs = performance.now() - started;
    const singleCounts = zeroCounts();
    await instrument(stub, singleCounts);
    started = performance.now();
    for (let i = 0; i < SINGLES; i++) {
      expect((await api("PUT", "/v1/credentials", request(did, vm, 5000 + i))).status).toBe(201);
    }
    await stub.flush();
    const singleMs = performance.now() - started;
    // The counts of the creates alone: the reads below run in the same object and would count too.
    const batchPer = per(batchCounts, BATCH * BATCHES);
    const singlePer = per(singleCounts, SINGLES);
    const n = BATCH * BATCHES + SINGLES;
    // Every credential is in D1's credential index, signed, once the object has delivered; none in
    // the legacy `credentials` table (its index row is a credential's one row there).
    const landed = await db
      .prepare(
        "SELECT (SELECT count(*) FROM credential_index WHERE issuer = ?1 AND state = 1) AS n, (SELECT count(*) FROM credentials WHERE issuer = ?1) AS legacy",
      )
      .bind(did)
      .first<{ n: number; legacy: number }>();
    expect(landed).toEqual({ n: n + 1, legacy: 0 });

    const d1After = await d1Size(db);
    const objAfter = await objectSize(stub);
    const logicalAfter = await objectLogicalBytes(stub);

    // Bodies left in D1 (the operation's result; credential JSON and JWT have no row to go in): none since migrations/0013.
    const bodies = await db
      .prepare("SELECT 0 AS credential, (SELECT coalesce(sum(length(result)), 0) FROM operations WHERE issuer = ?) AS result")
      .bind(did)
      .first<{ credential: number; result: number }>();

    // The proposed indexes (no bodies), filled from the same rows, measured the same way.
    const indexShape = async (ddl: typeof PROPOSED_INDEX_DDL) => {
      for (const q of ddl.create) await db.prepare(q).run();
      const empty = await d1Size(db);
      let rowsWritten = 0;
      for (const fill of ddl.fill) rowsWritten += (await db.prepare(fill).bind(did).run()).meta.rows_written;
      const bytes = (await d1Size(db)) - empty;
      for (const q of ddl.drop) await db.prepare(q).run();
      return { bytesPerCredential: bytes / (n + 1), rowsWrittenPerCredential: rowsWritten / (n + 1) };
    };
    const twoTables = await indexShape(PROPOSED_INDEX_DDL);
    const compact = await indexShape(COMPACT_INDEX_DDL);

    // The JWT and the credential JSON, as served (from the object: D1 holds neither).
    const served = await api("GET", `/v1/credentials?issuer=${encodeURIComponent(did)}&pageSize=1000`);
    const containers = served.body.credentials as { credential: unknown; credentialJwt: string }[];
    expect(containers).toHaveLength(n + 1);
    const jwt = {
      jwt: containers.reduce((a, c) => a + c.credentialJwt.length, 0) / containers.length,
      body: containers.reduce((a, c) => a + JSON.stringify(c.credential).length, 0) / containers.length,
    };

    // Retention: every ended job drops its signing input; what stays per credential, logically.
    await runInDurableObject(stub, async (_i, state) => {
      state.storage.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('signjob_retention_ms', '0')");
      await state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const logicalPurged = await objectLogicalBytes(stub);

    const measured = {
      credentials: n,
      d1BytesPerCredential: (d1After - d1Before) / n,
      d1BodyBytesPerCredential: (bodies!.credential + bodies!.result) / (n + 1),
      indexBytesPerCredential: twoTables.bytesPerCredential,
      indexRowsWrittenPerCredential: twoTables.rowsWrittenPerCredential,
      compactIndexBytesPerCredential: compact.bytesPerCredential,
      compactIndexRowsWrittenPerCredential: compact.rowsWrittenPerCredential,
      objectBytesPerCredential: (objAfter.databaseSize - objBefore.databaseSize) / n,
      objectLogicalPerCredential: (logicalAfter.total - logicalBefore.total) / n,
      objectPurgedRatio: (logicalPurged.total - logicalBefore.total) / (logicalAfter.total - logicalBefore.total),
      objectLogicalByTable: Object.fromEntries(
        Object.keys(logicalAfter.tables).map((t) => [t, Math.round(((logicalAfter.tables[t] ?? 0) - (logicalBefore.tables[t] ?? 0)) / n)]),
      ),
      objectPurgedByTable: Object.fromEntries(
        Object.keys(logicalPurged.tables).map((t) => [
          t,
          Math.round(((logicalPurged.tables[t] ?? 0) - (logicalBefore.tables[t] ?? 0)) / n),
        ]),
      ),
      jwtBytes: jwt.jwt,
      credentialJsonBytes: jwt.body,
      batch: { ...batchPer, wallMs: batchMs / (BATCH * BATCHES) },
      single: { ...singlePer, wallMs: singleMs / SINGLES },
    };
    console.log(JSON.stringify({ capacityMeasured: measured }));

    within20(measured.d1BytesPerCredential, MEASURED.today.d1BytesPerCredential, "D1 bytes per credential (today)");
    within20(measured.indexBytesPerCredential, MEASURED.proposed.indexBytesPerCredential, "D1 index bytes per credential (two tables)");
    within20(
      measured.compactIndexBytesPerCredential,
      MEASURED.proposed.compactIndexBytesPerCredential,
      "D1 index bytes per credential (compact)",
    );
    // No body is left in D1 (migrations/0013): the issuer's object holds them.
    expect(measured.d1BodyBytesPerCredential, "D1 body bytes per credential").toBe(0);
    within20(measured.objectBytesPerCredential, MEASURED.objectBytesPerCredential, "object bytes per credential");
    within20(measured.objectPurgedRatio, MEASURED.objectPurgedRatio, "object bytes kept after retention");
    within20(measured.jwtBytes, MEASURED.jwtBytes, "JWT bytes");
    // A batch's rows reach D1 in one delivery round, or in two when a round starts between its
    // create and its signing (two transactions): one statement per table per round, so between
    // the model's figure and twice it, whatever the machine's load.
    const batchStatements = measured.batch.d1Statements / MEASURED.today.batch.d1Statements;
    expect(batchStatements, `D1 statements per credential, batch: ${measured.batch.d1Statements}`).toBeGreaterThan(0.8);
    expect(batchStatements, `D1 statements per credential, batch: ${measured.batch.d1Statements}`).toBeLessThan(2.4);
    within20(measured.batch.d1RowsWritten, MEASURED.today.batch.d1RowsWritten, "D1 rows written per credential, batch");
    within20(measured.single.d1Statements, MEASURED.today.single.d1Statements, "D1 statements per credential, single");
    within20(measured.single.d1RowsWritten, MEASURED.today.single.d1RowsWritten, "D1 rows written per credential, single");
    within20(measured.batch.objectStatements, MEASURED.batch.objectStatements, "object statements per credential, batch");
    within20(measured.single.objectStatements, MEASURED.single.objectStatements, "object statements per credential, single");
  });
});
