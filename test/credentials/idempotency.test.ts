/**
 * Idempotency-Key on every create (api.md "Conventions"): a retry with the same key and body gets
 * the first answer and creates nothing; another body is 422; the record lands with the change, so
 * a response lost to a crash after the commit is recovered by the retry.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { crashOnDelivery, gatedD1, installKeyD1, installOutboxD1 } from "../support/faults";
import { credentialRequest, custodialDid, externalDid, externalKey, objectQuery, pendingJobs, stubOf } from "../support/keys";

const withKey = (key: string, headers: Record<string, string> = {}) => ({
  headers: { "idempotency-key": key, ...headers },
});

async function d1Count(sql: string, ...params: unknown[]) {
  return (await env.DB.prepare(sql)
    .bind(...params)
    .first<{ n: number }>())!.n;
}
const credentialRows = (issuer: string) => d1Count("SELECT count(*) AS n FROM credential_index WHERE issuer = ?", issuer);
const jobRows = async (did: string) =>
  (await objectQuery<{ n: number }>(did, "SELECT count(*) AS n FROM jobs WHERE kind = 'credential'"))[0]!.n;

describe("Idempotency-Key on credential creates", () => {
  it("an external issuer: the retry answers 202 with the same operation, and creates nothing", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    const body = credentialRequest(issuer);
    const first = await api("PUT", "/v1/credentials", body, withKey("k-ext-1"));
    expect(first.status, JSON.stringify(first.body)).toBe(202);
    const again = await api("PUT", "/v1/credentials", body, withKey("k-ext-1"));
    expect(again.status).toBe(202);
    expect(again.body).toEqual(first.body);
    expect(await credentialRows(issuer.did)).toBe(1);
    expect(await jobRows(issuer.did)).toBe(1);
    expect(await pendingJobs(issuer.did)).toHaveLength(1);
  });

  it("POST is the same create as PUT for the key", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    const body = credentialRequest(issuer);
    const first = await api("PUT", "/v1/credentials", body, withKey("k-alias"));
    const again = await api("POST", "/v1/credentials", body, withKey("k-alias"));
    expect(again.status).toBe(202);
    expect(again.body.id).toBe(first.body.id);
    expect(await jobRows(issuer.did)).toBe(1);
  });

  it("a custodial issuer: the retry answers 201 with the same signed credential", async () => {
    const issuer = await custodialDid("P-256");
    const body = credentialRequest(issuer, { revocable: true });
    const first = await api("PUT", "/v1/credentials", body, withKey("k-cust-1"));
    expect(first.status, JSON.stringify(first.body)).toBe(201);
    const again = await api("PUT", "/v1/credentials", body, withKey("k-cust-1"));
    expect(again.status).toBe(201);
    expect(again.body.id).toBe(first.body.id);
    expect(again.body.result.response.credentialJwt).toBe(first.body.result.response.credentialJwt);
    expect(await credentialRows(issuer.did)).toBe(1);
  });

  it("the same key with another body is 422 idempotency_key_reused and creates nothing", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    await api("PUT", "/v1/credentials", credentialRequest(issuer), withKey("k-reuse"));
    const other = await api("PUT", "/v1/credentials", credentialRequest(issuer, { subject: "did:example:bob" }), withKey("k-reuse"));
    expect(other.status).toBe(422);
    expect(other.headers.get("content-type")).toBe("application/problem+json");
    expect(other.body.code).toBe("idempotency_key_reused");
    // Another route is another request too.
    const batch = await api("PUT", "/v1/credentials/batch", { requests: [credentialRequest(issuer)] }, withKey("k-reuse"));
    expect(batch.status).toBe(422);
    expect(await jobRows(issuer.did)).toBe(1);
  });

  it("keys are per caller: another operator's same key is its own create", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    const body = credentialRequest(issuer);
    const mine = await api("PUT", "/v1/credentials", body, withKey("k-shared"));
    const theirs = await api("PUT", "/v1/credentials", body, {
      ...withKey("k-shared"),
      auth: "Bearer second-token",
    });
    expect(theirs.status).toBe(202);
    expect(theirs.body.id).not.toBe(mine.body.id);
    expect(await jobRows(issuer.did)).toBe(2);
  });

  it("a batch retried with its key returns the same operations in order and creates nothing more", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    const requests = Array.from({ length: 50 }, (_, i) => credentialRequest(issuer, { data: { i } }));
    const first = await api("PUT", "/v1/credentials/batch", { requests }, withKey("k-batch"));
    expect(first.status).toBe(202);
    const again = await api("PUT", "/v1/credentials/batch", { requests }, withKey("k-batch"));
    expect(again.status).toBe(202);
    expect(again.body.operations.map((o: any) => o.id)).toEqual(first.body.operations.map((o: any) => o.id));
    expect(await credentialRows(issuer.did)).toBe(50);
  });

  it("a header that is too long or not printable is 400 and creates nothing", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    for (const key of ["x".repeat(256), "tab\tinside", '""']) {
      const res = await api("PUT", "/v1/credentials", credentialRequest(issuer), withKey(key));
      expect(res.status, key).toBe(400);
      expect(res.body.code).toBe("validation_failed");
      expect(res.body.errors.map((e: any) => e.path)).toContain("header.idempotency-key");
    }
    expect((await api("PUT", "/v1/credentials", credentialRequest(issuer), withKey("x".repeat(255)))).status).toBe(202);
    // The draft's structured-field form is the same key as the bare one.
    const quoted = await api("PUT", "/v1/credentials", credentialRequest(issuer), withKey('"x-quoted"'));
    const bare = await api("PUT", "/v1/credentials", credentialRequest(issuer), withKey("x-quoted"));
    expect(bare.body.id).toBe(quoted.body.id);
    expect(await jobRows(issuer.did)).toBe(2);
  });

  it("a duplicate while the first is still in flight is 409 idempotency_key_in_progress with Retry-After", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    const stub = stubOf(issuer.did);
    const gate = gatedD1();
    await installKeyD1(stub, gate.wrap);
    const body = credentialRequest(issuer);
    const first = api("PUT", "/v1/credentials", body, withKey("k-busy"));
    await gate.reached; // the first has taken its key and is loading the signing key from D1
    const duplicate = await api("PUT", "/v1/credentials", body, withKey("k-busy"));
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.code).toBe("idempotency_key_in_progress");
    expect(duplicate.headers.get("retry-after")).toBe("1");
    gate.release();
    const answered = await first;
    expect(answered.status).toBe(202);
    const retry = await api("PUT", "/v1/credentials", body, withKey("k-busy"));
    expect(retry.body.id).toBe(answered.body.id);
    expect(await jobRows(issuer.did)).toBe(1);
  });

  it("the object crashes after committing, before answering: the retry with the key gets the created operation", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    const crash = crashOnDelivery();
    await installOutboxD1(stubOf(issuer.did), crash.wrap);
    const body = credentialRequest(issuer);
    const lost = await api("PUT", "/v1/credentials", body, withKey("k-crash"));
    await crash.crashed;
    // The service retried the object once itself, so even this answer is the created operation.
    expect(lost.status, JSON.stringify(lost.body)).toBe(202);

    const retry = await api("PUT", "/v1/credentials", body, withKey("k-crash"));
    expect(retry.status, JSON.stringify(retry.body)).toBe(202);
    expect(retry.body.id).toBe(lost.body.id);
    expect(await jobRows(issuer.did)).toBe(1);
    expect((await pendingJobs(issuer.did)).map((j) => j.operationId)).toEqual([retry.body.id]);
    // What the crash held back reaches D1 with the next delivery: exactly the one credential.
    await runInDurableObject(stubOf(issuer.did), (_i, state) => state.storage.setAlarm(Date.now() + 60_000));
    await runDurableObjectAlarm(stubOf(issuer.did));
    expect(await credentialRows(issuer.did)).toBe(1);
  });

  it("without a key, a crash after the commit is retried by the service without a duplicate", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    const crash = crashOnDelivery();
    await installOutboxD1(stubOf(issuer.did), crash.wrap);
    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer));
    await crash.crashed;
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(await jobRows(issuer.did)).toBe(1);
    expect((await pendingJobs(issuer.did)).map((j) => j.operationId)).toEqual([res.body.id]);
  });

  it("expired records are pruned by the object's alarm; the key then makes a new create", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    const body = credentialRequest(issuer);
    const first = await api("PUT", "/v1/credentials", body, withKey("k-expire"));
    const stub = stubOf(issuer.did);
    const armed = await runInDurableObject(stub, async (_i, state) => {
      const row = state.storage.sql.exec<{ expires_at: number; created_at: number }>("SELECT * FROM idempotency").one();
      // Kept 24 hours; then aged past that here rather than waited for.
      state.storage.sql.exec("UPDATE idempotency SET expires_at = ?", Date.now() - 1);
      return row.expires_at - row.created_at;
    });
    expect(armed).toBe(24 * 60 * 60 * 1000);
    await runInDurableObject(stub, (_i, state) => state.storage.setAlarm(Date.now() + 60_000));
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await objectQuery(issuer.did, "SELECT * FROM idempotency")).toEqual([]);
    const later = await api("PUT", "/v1/credentials", body, withKey("k-expire"));
    expect(later.status).toBe(202);
    expect(later.body.id).not.toBe(first.body.id);
  });
});

describe("Idempotency-Key on DID creates", () => {
  it("a custodial DID retried with its key is the same DID, stored once", async () => {
    const first = await api("PUT", "/v1/dids/key", { keyType: "Ed25519" }, withKey("d-1"));
    expect(first.status).toBe(201);
    const again = await api("PUT", "/v1/dids/key", { keyType: "Ed25519" }, withKey("d-1"));
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(await d1Count("SELECT count(*) AS n FROM dids WHERE did = ?", first.body.did.id)).toBe(1);
    const other = await api("PUT", "/v1/dids/key", { keyType: "P-256" }, withKey("d-1"));
    expect(other.status).toBe(422);
    expect(other.body.code).toBe("idempotency_key_reused");
  });

  it("concurrent duplicates all get the one DID that was created", async () => {
    const before = await d1Count("SELECT count(*) AS n FROM dids");
    const answers = await Promise.all(Array.from({ length: 5 }, () => api("PUT", "/v1/dids/jwk", { keyType: "P-256" }, withKey("d-race"))));
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(answers.map((a) => a.body.did.id)).size).toBe(1);
    expect(await d1Count("SELECT count(*) AS n FROM dids")).toBe(before + 1);
  });

  it("an external DID retried with its key is 201 again, not 409 exists", async () => {
    const key = await externalKey("Ed25519");
    const body = { keyType: "Ed25519", custody: "external", publicKeyJwk: key.publicKeyJwk };
    const first = await api("PUT", "/v1/dids/key", body, withKey("d-ext"));
    const again = await api("PUT", "/v1/dids/key", body, withKey("d-ext"));
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect((await api("PUT", "/v1/dids/key", body)).status).toBe(409);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM idempotency_keys WHERE key = 'd-ext'").first("n")).toBe(1);
  });
});
