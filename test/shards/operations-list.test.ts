/**
 * A new credential's operation has no D1 `operations` row (migrations/0014): its credential index
 * row stands for it, and `GET /v1/operations` merges those rows, from every index shard, with the
 * other parents' operations and with credentials' rows written before, in (created_at, id) order
 * with the usual page tokens: each operation once, whatever the page size.
 */
import { applyD1Migrations, env, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { encodePageToken } from "../../src/http/router";
import { indexKeyAfter, operationRowOf } from "../../src/operations/list";
import { decodeBookmarks, forgetLayout } from "../../src/shards/shards";
import { shardOf } from "../../src/shards/hash";
import { api, enc, type ApiResponse } from "../support/api";
import {
  b64,
  credentialRequest,
  custodialDid,
  delivered,
  externalDid,
  externalKey,
  indexRows,
  issuePending,
  nobleSign,
  stubOf,
} from "../support/keys";

type Op = { id: string; done: boolean; createdAt: string; result?: { code?: string; response?: { credentialJwt?: string } } };

beforeAll(async () => {
  for (const i of [1, 2, 3]) await applyD1Migrations(Reflect.get(env, `DB_SHARD_${i}`) as D1Database, env.TEST_MIGRATIONS);
});

const keyOf = (op: Op): [number, string] => [Date.parse(op.createdAt), op.id];
const before = (a: [number, string], b: [number, string]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);

/**
 * Every operation created from `from` on (the storage is shared with other tests: the page token
 * starts the list there), `pageSize` at a time. Checks each page's order against the last one's.
 */
async function listFrom(from: number, query: string, pageSize: number): Promise<Op[]> {
  const out: Op[] = [];
  let token: string | undefined = encodePageToken([from, ""]);
  // Each page hands back the D1 session bookmarks of what it read, and the next page sends them.
  let bookmark: string | null = null;
  do {
    const res: ApiResponse = await api("GET", `/v1/operations?${query}&pageSize=${pageSize}&pageToken=${enc(token)}`, undefined, {
      headers: bookmark ? { "index-bookmark": bookmark } : {},
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    bookmark = res.headers.get("index-bookmark");
    expect(Object.keys(decodeBookmarks(bookmark))).toContain("0");
    const page = res.body.operations as Op[];
    expect(page.length).toBeLessThanOrEqual(pageSize);
    for (const op of page) {
      const last = out[out.length - 1];
      if (last) expect(before(keyOf(last), keyOf(op)), `${last.id} then ${op.id}`).toBe(true);
      out.push(op);
    }
    token = res.body.nextPageToken;
  } while (token);
  return out;
}

const d1Row = (id: string) => env.DB.prepare("SELECT done, code FROM operations WHERE id = ?").bind(id).first();
const sign = async (key: Awaited<ReturnType<typeof externalKey>>, job: { id: string; signingInput: string }) => {
  const res = await api("PUT", "/v1/signjobs", { id: job.id, signature: b64.encode(nobleSign(key, job.signingInput)) });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
};
const find = (ops: Op[], id: string) => ops.filter((o) => o.id === id);

describe("a credential's operation, from its index row", () => {
  it("pending, signed, rejected, cancelled and deleted: no D1 operations row, listed once with the right done and code", async () => {
    const from = Date.now();
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const signed = await issuePending(issuer);
    const rejected = await issuePending(issuer);
    const cancelled = await issuePending(issuer);
    const deletedPending = await issuePending(issuer);
    await delivered(issuer.did);
    for (const { operation } of [signed, rejected, cancelled]) {
      expect(await d1Row(operation.id)).toBeNull();
      expect(await indexRows(operation.id)).toEqual([expect.objectContaining({ state: 0, is_operation: 1 })]);
    }
    const ids = [signed, rejected, cancelled, deletedPending].map((p) => p.operation.id as string);
    const pending = await listFrom(from, "parent=credentials&done=false", 2);
    for (const id of ids) expect(find(pending, id)).toEqual([expect.objectContaining({ id, done: false })]);
    expect((await listFrom(from, "done=true", 2)).filter((o) => ids.includes(o.id))).toEqual([]);

    await sign(key, signed.job);
    expect((await api("PUT", `/v1/signjobs/${rejected.job.id}/reject`, { reason: "no" })).status).toBe(200);
    const cancel = await api("PUT", `/v1/operations/cancel/${cancelled.operation.id}`);
    expect(cancel.body).toMatchObject({ done: true, result: { code: "cancelled" } });
    expect((await api("PUT", `/v1/operations/cancel/${cancelled.operation.id}`)).status).toBe(409);
    const deletedId = deletedPending.operation.result.response.id as string;
    expect((await api("DELETE", `/v1/credentials/${deletedId}`)).status).toBe(204);
    await delivered(issuer.did);
    for (const id of ids) expect(await d1Row(id)).toBeNull();

    const done = await listFrom(from, "parent=credentials&done=true", 3);
    expect(find(done, ids[0]!)).toEqual([expect.objectContaining({ done: true, result: { response: expect.anything() } })]);
    expect(find(done, ids[0]!)[0]!.result!.response!.credentialJwt).toBeTruthy();
    expect(find(done, ids[1]!)).toEqual([
      expect.objectContaining({ done: true, result: expect.objectContaining({ code: "rejected_by_signer" }) }),
    ]);
    expect(find(done, ids[2]!)).toEqual([expect.objectContaining({ done: true, result: expect.objectContaining({ code: "cancelled" }) })]);
    // A deleted credential's operation stays listed, ended, as its D1 row did before.
    expect(find(done, ids[3]!)).toEqual([expect.objectContaining({ done: true, result: expect.objectContaining({ code: "cancelled" }) })]);
    expect((await listFrom(from, "done=false", 3)).filter((o) => ids.includes(o.id))).toEqual([]);
    const all = await listFrom(from, "", 1);
    for (const id of ids) expect(find(all, id)).toHaveLength(1);
    for (const id of ids) expect((await api("GET", `/v1/operations/${id}`)).body).toEqual(find(all, id)[0]);
  });

  it("a bookmark that is not ours is ignored, never an error", async () => {
    for (const value of ["not-a-bookmark", "e30", "x".repeat(5000)]) {
      const res = await api("GET", "/v1/operations?parent=credentials&pageSize=2", undefined, { headers: { "index-bookmark": value } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.headers.get("index-bookmark")).toBeTruthy();
    }
  });

  it("an index row answers for itself when no object does: a failed one's code is its operation's", () => {
    const row = { id: "x", issuer: "did:example:i", subject: "s", schema_id: null, revoked: 0, suspended: 0, rev: 1 } as const;
    const times = { created_at: 5, updated_at: 6, deleted_at: null, is_operation: 1 } as const;
    expect(operationRowOf({ ...row, ...times, state: 2, code: "rejected" })).toMatchObject({
      id: "credentials/x",
      parent: "credentials",
      done: 1,
      code: "rejected_by_signer",
    });
    expect(operationRowOf({ ...row, ...times, state: 2, code: "expired" }).code).toBe("expired");
    expect(operationRowOf({ ...row, ...times, state: 0, code: null })).toMatchObject({ done: 0, code: null });
    expect(operationRowOf({ ...row, ...times, state: 0, code: null, deleted_at: 7 }).done).toBe(1);
    // Page tokens are operation keys; the index resumes at the same place in its own keys.
    expect(indexKeyAfter([5, "credentials/abc"])).toEqual([5, "abc"]);
    expect(indexKeyAfter([5, "credentials/responses/a"])).toEqual([5, "responses/a"]);
    expect(indexKeyAfter([5, "a-parent/x"])).toEqual([5, ""]);
    expect(indexKeyAfter([5, "dids/rotations/x"])).toEqual([6, ""]);
  });

  it("a credential with a D1 operations row from before keeps it current and is listed once", async () => {
    const from = Date.now();
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const { operation, job } = await issuePending(issuer);
    await delivered(issuer.did);
    const id = operation.result.response.id as string;
    // As the write path before left it: no mark in the job, index row not the operation's, a D1 row.
    await runInDurableObject(stubOf(issuer.did), (_o, state) => {
      const sql = state.storage.sql;
      const context = JSON.parse(sql.exec<{ context: string }>("SELECT context FROM jobs WHERE id = ?", job.id).one().context);
      delete context.operationInIndex;
      sql.exec("UPDATE jobs SET context = ? WHERE id = ?", JSON.stringify(context), job.id);
    });
    await env.DB.prepare("UPDATE credential_index SET is_operation = 0 WHERE id = ?").bind(id).run();
    const at = Date.parse(operation.createdAt);
    await env.DB.prepare(
      "INSERT INTO operations (id, parent, issuer, done, result, sign_jobs, created_at, updated_at) VALUES (?, 'credentials', ?, 0, NULL, '[]', ?, ?)",
    )
      .bind(operation.id, issuer.did, at, at)
      .run();
    // One only D1 knows (its object long gone): it answers from the row.
    const orphan = `credentials/${crypto.randomUUID()}`;
    await env.DB.prepare(
      "INSERT INTO operations (id, parent, issuer, done, result, code, sign_jobs, created_at, updated_at) VALUES (?, 'credentials', ?, 1, NULL, 'expired', '[]', ?, ?)",
    )
      .bind(orphan, issuer.did, at, at)
      .run();

    expect(find(await listFrom(from, "parent=credentials&done=false", 1), operation.id)).toHaveLength(1);
    await sign(key, job);
    await delivered(issuer.did);
    expect(await d1Row(operation.id)).toEqual({ done: 1, code: null });
    for (const query of ["", "parent=credentials", "parent=credentials&done=true"]) {
      const listed = await listFrom(from, query, 1);
      expect(find(listed, operation.id)).toEqual([expect.objectContaining({ done: true })]);
      expect(find(listed, orphan)).toEqual([expect.objectContaining({ done: true, result: { code: "expired" } })]);
    }
    expect(find(await listFrom(from, "done=false", 2), operation.id)).toEqual([]);
  });
});

describe("with 4 index shards", () => {
  it("pages of 1, 2 and 3 through credentials of six issuers and other parents' operations: each once, in (created_at, id) order", async () => {
    await env.DB.prepare("INSERT INTO index_layout (id, shards, next, phase, since) VALUES (1, 4, NULL, 'steady', 0)").run();
    forgetLayout();
    const crafted: string[] = [];
    try {
      const from = Date.now();
      const issuers: string[] = [];
      let ops: Op[] = [];
      for (let i = 0; i < 5; i++) {
        const issuer = await custodialDid("Ed25519");
        issuers.push(issuer.did);
        for (let j = 0; j < 2; j++) {
          const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { revocable: true }));
          expect(res.status, JSON.stringify(res.body)).toBe(201);
          ops.push(res.body);
        }
      }
      // A status list operation (D1 row, parent status-lists) and an external issuer's pending credential.
      const revoked = await api("PUT", `/v1/credentials/${(ops[0]!.result!.response as { id: string }).id}/status`, { revoked: true });
      expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
      ops.push(revoked.body.operation);
      const external = await externalDid(await externalKey("P-256"));
      issuers.push(external.did);
      ops.push((await issuePending(external)).operation);
      // Other parents' rows in the same millisecond as a credential, on both sides of its id.
      const at = Date.parse(ops[3]!.createdAt);
      for (const id of [
        `a-parent/${crypto.randomUUID()}`,
        `credentials/responses/${crypto.randomUUID()}`,
        `dids/rotations/${crypto.randomUUID()}`,
      ]) {
        await env.DB.prepare(
          "INSERT INTO operations (id, parent, issuer, done, result, sign_jobs, created_at, updated_at) VALUES (?, ?, ?, 1, NULL, '[]', ?, ?)",
        )
          .bind(id, id.slice(0, id.lastIndexOf("/")), issuers[1]!, at, at)
          .run();
        crafted.push(id);
        ops.push({ id, done: true, createdAt: new Date(at).toISOString() });
      }
      for (const did of issuers) await delivered(did);
      // As each stands now (the status list's job may have been signed after its answer).
      ops = await Promise.all(ops.map(async (o) => (await api("GET", `/v1/operations/${o.id}`)).body as Op));
      // The issuers' index rows are spread over the shards (issuer hash), not all in one.
      expect(new Set(issuers.map((did) => shardOf(did, 4))).size).toBeGreaterThan(1);
      const credentialOps = ops.filter((o) => /^credentials\/[0-9a-f]{64}\./.test(o.id));
      expect(credentialOps).toHaveLength(11);
      for (const o of credentialOps) expect(await d1Row(o.id)).toBeNull();

      const expected = (keep: (o: Op) => boolean) =>
        ops
          .filter(keep)
          .sort((a, b) => (before(keyOf(a), keyOf(b)) ? -1 : 1))
          .map((o) => o.id);
      const ours = new Set(ops.map((o) => o.id));
      for (const [query, keep] of [
        ["", () => true],
        ["parent=credentials", (o: Op) => credentialOps.includes(o)],
        ["done=false", (o: Op) => !o.done],
        ["done=true", (o: Op) => o.done],
      ] as const) {
        for (const size of [1, 2, 3]) {
          const listed = (await listFrom(from, query, size)).map((o) => o.id);
          expect(new Set(listed).size, `${query} by ${size}: each once`).toBe(listed.length);
          expect(
            listed.filter((id) => ours.has(id)),
            `${query} by ${size}`,
          ).toEqual(expected(keep));
        }
      }
    } finally {
      for (const id of crafted) await env.DB.prepare("DELETE FROM operations WHERE id = ?").bind(id).run();
      await env.DB.prepare("DELETE FROM index_layout").run();
      forgetLayout();
    }
  });
});
