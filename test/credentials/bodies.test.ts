/**
 * Bodies leave D1 (migrations/0013, docs/SCALE.md): D1's `operations` rows hold no operation
 * result, and a new credential has no `credentials` row at all (its index row has no body). Every read still answers them whole, from the
 * issuer's object (R2 for archived claims): by id, by issuer, and across issuers by subject, by
 * schema and unfiltered (the index's page, then one call per issuer); operation lists too. Rows
 * written before 0013 keep their bodies in D1 and still read.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { IssuerObject } from "../../durable-objects/issuer";
import { api } from "../support/api";
import { credentialRequest, custodialDid, stubOf } from "../support/keys";

const drained = (did: string) => runInDurableObject(stubOf(did), (o: IssuerObject) => o["outbox"].drain());
const q = encodeURIComponent;

type Created = { id: string; result: { response: Record<string, unknown> & { id: string } } };

async function issue(did: Awaited<ReturnType<typeof custodialDid>>, subject: string, schemaId: string, i: number): Promise<Created> {
  const res = await api("PUT", "/v1/credentials", credentialRequest(did, { subject, schemaId, revocable: true, data: { i } }));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as Created;
}

/** Every operation under `parent` with `done`, paged through with the public list. */
async function allOperations(query: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let token: string | undefined;
  do {
    const res = await api("GET", `/v1/operations?${query}&pageSize=1000${token ? `&pageToken=${q(token)}` : ""}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    out.push(...res.body.operations);
    token = res.body.nextPageToken;
  } while (token);
  return out;
}

describe("bodies live with their issuer, not in D1", () => {
  it("D1 rows are body-free, and every read answers the same bodies as the create did", async () => {
    const [a, b] = [await custodialDid("Ed25519"), await custodialDid("P-256")];
    const subject = `did:example:bodies-${crypto.randomUUID()}`;
    const schemaId = `https://example.com/schemas/${crypto.randomUUID()}`;
    const created = [await issue(a, subject, schemaId, 0), await issue(b, subject, schemaId, 1), await issue(a, subject, schemaId, 2)];
    const containers = created.map((c) => c.result.response);
    for (const c of containers) expect(c.credentialJwt).toBeTruthy();
    await drained(a.did);
    await drained(b.did);

    // A new credential's one D1 row is its body-free index row: no `credentials` row at all.
    const ids = JSON.stringify(containers.map((c) => c.id));
    const legacy = await env.DB.prepare("SELECT id FROM credentials WHERE id IN (SELECT value FROM json_each(?))").bind(ids).all();
    expect(legacy.results).toEqual([]);
    // It stands for the credential's operation too: D1 has no `operations` row for it.
    const indexed = await env.DB.prepare("SELECT state, is_operation FROM credential_index WHERE id IN (SELECT value FROM json_each(?))")
      .bind(ids)
      .all<{ state: number; is_operation: number }>();
    expect(indexed.results).toEqual(Array.from({ length: 3 }, () => ({ state: 1, is_operation: 1 })));
    const ops = await env.DB.prepare("SELECT id FROM operations WHERE id IN (SELECT value FROM json_each(?))")
      .bind(JSON.stringify(created.map((c) => c.id)))
      .all();
    expect(ops.results).toEqual([]);

    for (const c of containers) expect((await api("GET", `/v1/credentials/${c.id}`)).body).toMatchObject(c);
    const bySubject = await api("GET", `/v1/credentials?subject=${q(subject)}`);
    expect(bySubject.body.credentials).toEqual(containers);
    expect(bySubject.headers.get("index-bookmark")).toBeTruthy();
    expect((await api("GET", `/v1/credentials?schema=${q(schemaId)}`)).body.credentials).toEqual(containers);
    expect((await api("GET", `/v1/credentials?issuer=${q(a.did)}`)).body.credentials).toEqual([containers[0], containers[2]]);
    expect((await api("GET", `/v1/credentials?issuer=${q(b.did)}&subject=${q(subject)}`)).body.credentials).toEqual([containers[1]]);
    // Keyset pages across issuers: one per page, the same order.
    const first = await api("GET", `/v1/credentials?subject=${q(subject)}&pageSize=2`);
    expect(first.body.credentials).toEqual(containers.slice(0, 2));
    const rest = await api("GET", `/v1/credentials?subject=${q(subject)}&pageSize=2&pageToken=${q(first.body.nextPageToken)}`);
    expect(rest.body.credentials).toEqual(containers.slice(2));

    for (const c of created) expect((await api("GET", `/v1/operations/${c.id}`)).body).toEqual(c);
    const listed = (await allOperations("parent=credentials&done=true")).filter((op) => created.some((c) => c.id === op.id));
    expect(listed).toEqual(created);

    // Deleted ones drop out of every list, as before.
    expect((await api("DELETE", `/v1/credentials/${containers[1]!.id}`)).status).toBe(204);
    expect((await api("GET", `/v1/credentials?subject=${q(subject)}`)).body.credentials).toEqual([containers[0], containers[2]]);
  });

  it("archived claims come back from R2 for reads by id and across issuers", async () => {
    const issuer = await custodialDid("Ed25519");
    const subject = `did:example:archived-${crypto.randomUUID()}`;
    const created = await issue(issuer, subject, "https://example.com/schemas/archived", 0);
    await drained(issuer.did);
    await runInDurableObject(stubOf(issuer.did), (_o, state) => {
      state.storage.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('signjob_retention_ms', '0')");
      return state.storage.setAlarm(Date.now() + 60_000);
    });
    expect(await runDurableObjectAlarm(stubOf(issuer.did))).toBe(true);
    // The credential's job went to R2 whole (durable-objects/archive.ts): a cold row stays here.
    const cold = await runInDurableObject(stubOf(issuer.did), (_o, state) =>
      state.storage.sql
        .exec<{ hot: number; cold: number }>(
          "SELECT (SELECT count(*) FROM jobs WHERE kind = 'credential') AS hot, (SELECT count(*) FROM cold_jobs) AS cold",
        )
        .one(),
    );
    expect(cold).toEqual({ hot: 0, cold: 1 });

    expect((await api("GET", `/v1/credentials/${created.result.response.id}`)).body).toMatchObject(created.result.response);
    expect((await api("GET", `/v1/credentials?subject=${q(subject)}`)).body.credentials).toEqual([created.result.response]);
    expect((await api("GET", `/v1/credentials?issuer=${q(issuer.did)}`)).body.credentials).toEqual([created.result.response]);
    expect((await api("GET", `/v1/operations/${created.id}`)).body).toEqual(created);
  });

  it("rows written before bodies left D1 still read: by id, across issuers, and their operations", async () => {
    const issuer = `did:example:legacy-${crypto.randomUUID()}`;
    const subject = `did:example:legacy-subject-${crypto.randomUUID()}`;
    const id = crypto.randomUUID();
    const now = Date.now();
    const credential = {
      "@context": ["https://www.w3.org/2018/credentials/v1"],
      id: `urn:uuid:${id}`,
      issuer,
      credentialSubject: { id: subject },
    };
    const container = {
      id,
      fullyQualifiedVerificationMethodId: `${issuer}#key-1`,
      credential,
      credentialJwt: "eyJhbGciOiJFZERTQSJ9.e30.c2ln",
      revoked: false,
      suspended: false,
      operationId: `credentials/${id}`,
    };
    const result = JSON.stringify({ response: container });
    await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO credentials (id, issuer, subject, schema_id, verification_method_id, operation_id, format, credential, jwt, created_at, signed_at)
         VALUES (?, ?, ?, NULL, ?, ?, 'jwt_vc', ?, ?, ?, ?)`,
      ).bind(
        id,
        issuer,
        subject,
        container.fullyQualifiedVerificationMethodId,
        container.operationId,
        JSON.stringify(credential),
        container.credentialJwt,
        now,
        now,
      ),
      env.DB.prepare(
        "INSERT INTO operations (id, parent, issuer, done, result, sign_jobs, created_at, updated_at) VALUES (?, 'credentials', ?, 1, ?, '[\"j1\"]', ?, ?)",
      ).bind(container.operationId, issuer, result, now, now),
      env.DB.prepare(
        `INSERT INTO credential_index (id, issuer, subject, schema_id, state, code, revoked, suspended, rev, created_at, updated_at, deleted_at)
         VALUES (?, ?, ?, NULL, 1, NULL, 0, 0, 1, ?, ?, NULL)`,
      ).bind(id, issuer, subject, now, now),
    ]);

    const byId = await api("GET", `/v1/credentials/${id}`);
    expect(byId.status, JSON.stringify(byId.body)).toBe(200);
    expect(byId.body).toMatchObject(container);
    expect((await api("GET", `/v1/credentials?subject=${q(subject)}`)).body.credentials).toEqual([container]);
    const op = await api("GET", `/v1/operations/${container.operationId}`);
    expect(op.status, JSON.stringify(op.body)).toBe(200);
    expect(op.body).toMatchObject({ id: container.operationId, done: true, result: { response: container }, signJobs: ["j1"] });
    const listed = (await allOperations("parent=credentials&done=true")).find((o) => o.id === container.operationId);
    expect(listed).toEqual(op.body);
  });
});
