/**
 * The issuer object is the source of truth; D1 is a projection fed by the outbox. Eviction loses
 * nothing, and a D1 outage after a signature only delays the projection: the signer still gets
 * its 200, the outbox keeps the writes, and the alarm delivers them exactly once when D1 is back.
 */
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import {
  auditEvents,
  indexRows,
  delivered,
  externalDid,
  externalKey,
  issuePending,
  objectQuery,
  pendingJobs,
  stubOf,
} from "../support/keys";

type OutboxRow = { seq: number; key: string; sql: string; params: string; attempts: number; due_at: number };

/**
 * Makes every outbox row due and runs the alarm now. The alarm is pinned a minute ahead first, so
 * workerd's own timer (real alarms fire in tests too) cannot run it in between.
 */
async function deliverNow(did: string) {
  await runInDurableObject(stubOf(did), async (_i, state) => {
    state.storage.sql.exec("UPDATE outbox SET due_at = 0");
    await state.storage.setAlarm(Date.now() + 60_000);
  });
  expect(await runDurableObjectAlarm(stubOf(did))).toBe(true);
}

// A credential's one D1 row is its credential index row (shard 0, DB, in these tests): with that
// table gone, D1 refuses the credential's writes and accepts the operation's.
async function credentialsTableOff() {
  await env.DB.exec("ALTER TABLE credential_index RENAME TO credential_index_off");
}
async function credentialsTableOn() {
  const off = await env.DB.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'credential_index_off'").first();
  if (off) await env.DB.exec("ALTER TABLE credential_index_off RENAME TO credential_index");
}

describe("durability", () => {
  afterEach(credentialsTableOn);

  it("an evicted object signs its job as if nothing happened", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    await evictDurableObject(stubOf(issuer.did));

    const listed = await pendingJobs(issuer.did);
    expect(listed.map((j) => j.id)).toEqual([job.id]);
    await evictDurableObject(stubOf(issuer.did));

    const signed = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    const op = await api("GET", `/v1/operations/${operation.id}`);
    expect(op.body.done).toBe(true);
    expect(op.body.result.response.credentialJwt).toBe(signed.body.jwt);
    expect((await indexRows(operation.id)).map((r) => r.state)).toEqual([1]);
  });

  it("a D1 outage after signing: 200 anyway, the outbox retries with backoff and delivers exactly once", async () => {
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    const stub = stubOf(issuer.did);
    await delivered(issuer.did);
    expect(await objectQuery(issuer.did, "SELECT * FROM outbox")).toEqual([]);

    await credentialsTableOff();
    const before = Date.now();
    const signed = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    expect(signed.body.status).toBe("signed");
    const jwt = signed.body.jwt as string;
    // The answer did not wait for D1; the object's delivery round runs after it.
    await delivered(issuer.did);

    // The object has it; D1's credential index does not yet. The operation row, which D1 accepts, is not held back.
    const { outbox, alarm } = await runInDurableObject(stub, async (_i, state) => ({
      outbox: state.storage.sql.exec<OutboxRow>("SELECT * FROM outbox ORDER BY seq").toArray(),
      alarm: await state.storage.getAlarm(),
    }));
    expect(outbox.map((r) => r.key)).toEqual([`index:credential:${operation.result.response.id}`]);
    for (const row of outbox) {
      expect(row.attempts).toBeGreaterThanOrEqual(1);
      expect(row.due_at).toBeGreaterThan(before);
    }
    // The alarm is what retries: it is armed no later than the first row falls due.
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(Math.min(...outbox.map((r) => r.due_at)));
    expect((await api("GET", `/v1/operations/${operation.id}`)).body.result.response.credentialJwt).toBe(jwt);
    expect((await api("GET", `/v1/signjobs/${job.id}`)).body.jwt).toBe(jwt);

    // Still down: the alarm tries again and backs off further (from when it tried, however slow
    // this machine is at the moment).
    const retriedAt = Date.now();
    await deliverNow(issuer.did);
    const retried = await objectQuery<OutboxRow>(issuer.did, "SELECT * FROM outbox ORDER BY seq");
    expect(retried).toHaveLength(1);
    for (const row of retried) {
      expect(row.attempts).toBeGreaterThanOrEqual(2);
      expect(row.due_at).toBeGreaterThan(retriedAt);
    }

    // Back up: the next alarm delivers everything and the outbox empties.
    await credentialsTableOn();
    await deliverNow(issuer.did);
    expect(await objectQuery(issuer.did, "SELECT * FROM outbox")).toEqual([]);

    const rows = await indexRows(operation.id);
    expect(rows).toHaveLength(1);
    // Signed once; the JWT is the object's (read below).
    expect(rows[0]!.state).toBe(1);
    const op = await api("GET", `/v1/operations/${operation.id}`);
    expect(op.body.done).toBe(true);
    expect(op.body.result.response.credentialJwt).toBe(jwt);
    expect(op.body.signJobs).toEqual([job.id]);
    const cred = await api("GET", `/v1/credentials/${rows[0]!.id}`);
    expect(cred.body.credentialJwt).toBe(jwt);
    expect(await auditEvents(issuer.did, job.id, "signed")).toBe(1);

    // The object died after D1 committed but before it deleted the rows: the replay changes nothing.
    await runInDurableObject(stub, (_i, state) => {
      for (const r of outbox) {
        state.storage.sql.exec("INSERT INTO outbox (key, sql, params, attempts, due_at) VALUES (?, ?, ?, 0, 0)", r.key, r.sql, r.params);
      }
    });
    await deliverNow(issuer.did);
    expect(await objectQuery(issuer.did, "SELECT * FROM outbox")).toEqual([]);
    expect((await indexRows(operation.id)).map((r) => r.state)).toEqual([1]);
    expect((await api("GET", `/v1/operations/${operation.id}`)).body).toEqual(op.body);
  });

  it("a D1 outage while issuing: the 202 stands and the pending rows land later", async () => {
    const key = await externalKey("secp256k1");
    const issuer = await externalDid(key);
    await credentialsTableOff();
    const res = await api("PUT", "/v1/credentials", {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:carol",
      data: { name: "Carol" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const jobs = await pendingJobs(issuer.did);
    expect(jobs).toHaveLength(1);
    const signed = await api("PUT", "/v1/signjobs", { id: jobs[0].id, signature: await key.sign(jobs[0].signingInput) });
    expect(signed.status).toBe(200);
    // The pending snapshot was replaced by the signed one: one row for the credential in the outbox.
    await delivered(issuer.did);
    expect(await objectQuery(issuer.did, "SELECT key FROM outbox")).toEqual([{ key: `index:credential:${res.body.result.response.id}` }]);

    await credentialsTableOn();
    await deliverNow(issuer.did);
    expect((await indexRows(res.body.id)).map((r) => r.state)).toEqual([1]);
    expect((await api("GET", `/v1/operations/${res.body.id}`)).body.done).toBe(true);
  });

  it("one undeliverable row holds back only itself, not the issuer's other D1 writes", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    // D1 refuses one credential row, as it would a row over its size limits.
    await env.DB.exec(
      "CREATE TRIGGER poison BEFORE INSERT ON credential_index WHEN NEW.subject = 'did:example:poison' BEGIN SELECT RAISE(ABORT, 'row refused'); END",
    );
    try {
      const res = await api("PUT", "/v1/credentials/batch", {
        requests: ["did:example:poison", "did:example:dave", "did:example:erin"].map((subject) => ({
          issuer: issuer.did,
          verificationMethodId: issuer.vmId,
          subject,
          data: { name: subject },
        })),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      const [poison, ...healthy] = res.body.operations as any[];
      for (const op of healthy) {
        expect((await api("GET", `/v1/operations/${op.id}`)).status).toBe(200);
        expect((await api("GET", `/v1/credentials/${op.result.response.id}`)).status).toBe(200);
      }
      // Later writes get through too: sign the healthy ones.
      for (const op of healthy) {
        const job = (await api("GET", `/v1/signjobs/${op.signJobs[0]}`)).body;
        expect((await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) })).status).toBe(200);
        expect((await api("GET", `/v1/operations/${op.id}`)).body.done).toBe(true);
      }
      await delivered(issuer.did);
      const left = await objectQuery<OutboxRow>(issuer.did, "SELECT * FROM outbox");
      expect(left.map((r) => r.key)).toEqual([`index:credential:${poison.result.response.id}`]);
      expect(left[0]!.attempts).toBeGreaterThanOrEqual(1);
      // D1 lacks it, but the issuer's object answers for it all the same.
      expect(await env.DB.prepare("SELECT id FROM credential_index WHERE id = ?").bind(poison.result.response.id).first()).toBeNull();
      expect((await api("GET", `/v1/credentials/${poison.result.response.id}`)).status).toBe(200);
    } finally {
      await env.DB.exec("DROP TRIGGER IF EXISTS poison");
    }
    await deliverNow(issuer.did);
    expect(await objectQuery(issuer.did, "SELECT * FROM outbox")).toEqual([]);
    const listed = await api("GET", `/v1/credentials?issuer=${enc(issuer.did)}`);
    expect(listed.body.credentials).toHaveLength(3);
  });
});
