/**
 * A custodial key whose stored ciphertext no longer decrypts with the configured
 * KEY_ENCRYPTION_KEY (the KEK was changed without re-wrapping the keys): every request that
 * would sign with it is 503 `custody_unavailable`, and nothing is created or changed.
 */
import { env } from "cloudflare:workers";
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { parseKek, unwrapPrivateKey, wrapPrivateKey } from "../../src/crypto";
import { api, enc } from "../support/api";
import { custodialDid, objectQuery, stubOf, type Issuer } from "../support/keys";

/** Re-wraps the issuer's private key under another KEK, in D1 and in the issuer object, as a KEK change would leave it. */
async function wrapUnderAnotherKek(issuer: Issuer) {
  const row = await env.DB.prepare("SELECT encrypted_private_key AS w FROM keys WHERE id = ?").bind(issuer.vmId).first<{ w: string }>();
  const raw = await unwrapPrivateKey(parseKek(env.KEY_ENCRYPTION_KEY)!, issuer.vmId, row!.w);
  const other = await wrapPrivateKey(crypto.getRandomValues(new Uint8Array(32)), issuer.vmId, raw);
  await env.DB.prepare("UPDATE keys SET encrypted_private_key = ? WHERE id = ?").bind(other, issuer.vmId).run();
  await objectQuery(issuer.did, "UPDATE keys SET encrypted_private_key = ? WHERE id = ?", other, issuer.vmId);
  // A woken object has the key unlocked in memory; a fresh one must decrypt it again.
  await evictDurableObject(stubOf(issuer.did));
}

const counts = async (issuer: Issuer) => ({
  jobs: (await objectQuery<{ n: number }>(issuer.did, "SELECT count(*) AS n FROM jobs"))[0]!.n,
  operations: (await objectQuery<{ n: number }>(issuer.did, "SELECT count(*) AS n FROM operations"))[0]!.n,
  lists: (await objectQuery<{ n: number }>(issuer.did, "SELECT count(*) AS n FROM status_lists"))[0]!.n,
  entries: (await objectQuery<{ n: number }>(issuer.did, "SELECT count(*) AS n FROM status_bits"))[0]!.n,
  setBits: (await objectQuery<{ n: number }>(issuer.did, "SELECT count(*) AS n FROM status_bits WHERE bit = 1"))[0]!.n,
  outbox: (await objectQuery<{ n: number }>(issuer.did, "SELECT count(*) AS n FROM outbox"))[0]!.n,
  d1Credentials: (await env.DB.prepare("SELECT count(*) AS n FROM credential_index WHERE issuer = ?")
    .bind(issuer.did)
    .first<{ n: number }>())!.n,
  d1Operations: (await env.DB.prepare("SELECT count(*) AS n FROM operations WHERE issuer = ?").bind(issuer.did).first<{ n: number }>())!.n,
});

function expectCustodyUnavailable(res: { status: number; headers: Headers; body: any }) {
  expect(res.status, JSON.stringify(res.body)).toBe(503);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(res.body.code).toBe("custody_unavailable");
  expect(JSON.stringify(res.body)).not.toContain(env.KEY_ENCRYPTION_KEY!);
}

describe("a custodial key that the configured KEK no longer decrypts", () => {
  it("refuses issuing, single and batch, with 503 custody_unavailable and creates nothing", async () => {
    const issuer = await custodialDid("Ed25519");
    await wrapUnderAnotherKek(issuer);
    const before = await counts(issuer);
    expect(before).toMatchObject({ jobs: 0, operations: 0, lists: 0, d1Credentials: 0 });

    const request = { issuer: issuer.did, verificationMethodId: issuer.vmId, subject: "did:example:k", data: { a: 1 }, revocable: true };
    expectCustodyUnavailable(await api("PUT", "/v1/credentials", request));
    const batch = await api("PUT", "/v1/credentials/batch", { requests: [request, { ...request, subject: "did:example:l" }] });
    expect(batch.status, JSON.stringify(batch.body)).toBe(503);
    expect(batch.body.code).toBe("custody_unavailable");
    expect(await counts(issuer)).toEqual(before);
    expect((await api("GET", `/v1/credentials?issuer=${enc(issuer.did)}`)).body.credentials).toEqual([]);
  });

  it("refuses a status change with 503 custody_unavailable and leaves the bit and the list as they were", async () => {
    const issuer = await custodialDid("P-256");
    const issued = await api("PUT", "/v1/credentials", {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:m",
      data: {},
      revocable: true,
    });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    const id = issued.body.result.response.id as string;
    await wrapUnderAnotherKek(issuer);
    const before = await counts(issuer);
    const lists = await objectQuery(issuer.did, "SELECT id, revision, job_revision FROM status_lists");

    expectCustodyUnavailable(await api("PUT", `/v1/credentials/${id}/status`, { revoked: true }));
    const batch = await api("PUT", "/v1/credentials/status/batch", { requests: [{ id, revoked: true }] });
    expect(batch.status).toBe(200);
    expect(batch.body.results).toEqual([expect.objectContaining({ id, revoked: false, code: "custody_unavailable" })]);

    expect(await counts(issuer)).toEqual(before);
    expect(await objectQuery(issuer.did, "SELECT id, revision, job_revision FROM status_lists")).toEqual(lists);
    expect((await api("GET", `/v1/credentials/${id}/status`)).body).toEqual({ revoked: false, suspended: false });
  });

  it("the alarm still delivers the outbox and re-arms when a list waiting to be re-signed has a key it cannot unlock", async () => {
    const issuer = await custodialDid("Ed25519");
    const issued = await api("PUT", "/v1/credentials", {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:n",
      data: {},
      revocable: true,
    });
    expect(issued.status, JSON.stringify(issued.body)).toBe(201);
    await wrapUnderAnotherKek(issuer);
    // A list whose bits are newer than its last job (as a stop between a change and its job leaves
    // it), and a D1 write waiting in the outbox.
    await objectQuery(issuer.did, "UPDATE status_lists SET revision = revision + 1");
    await objectQuery(issuer.did, "INSERT INTO outbox (key, sql, params, attempts, due_at) VALUES ('probe', 'SELECT 1', '[]', 0, 0)");
    await runInDurableObject(stubOf(issuer.did), (_i, state) => state.storage.setAlarm(Date.now() + 60_000));
    expect(await runDurableObjectAlarm(stubOf(issuer.did))).toBe(true);
    expect(await objectQuery(issuer.did, "SELECT key FROM outbox WHERE key = 'probe'")).toEqual([]);
    // The list's job waits, pending, for a KEK that unlocks its key; the alarm is armed to try again.
    expect(await runInDurableObject(stubOf(issuer.did), (_i, state) => state.storage.getAlarm())).not.toBeNull();
  });
});
