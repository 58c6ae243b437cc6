/**
 * How a sign job ends other than by a signature (expiry, cancellation, DID deletion, rejection),
 * what its operation says then, and the single-job and batch submission forms.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { auditEvents, indexRows, externalDid, externalKey, issuePending, pendingJobs, stubOf, type Issuer } from "../support/keys";

async function backdate(issuer: Issuer, jobId: string) {
  await runInDurableObject(stubOf(issuer.did), (_i, state) =>
    state.storage.sql.exec("UPDATE jobs SET expires_at = ? WHERE id = ?", Date.now() - 1000, jobId),
  );
}

async function expectNotPending(jobId: string, signature: string) {
  const res = await api("PUT", "/v1/signjobs", { id: jobId, signature });
  expect(res.status, JSON.stringify(res.body)).toBe(409);
  expect(res.body.code).toBe("job_not_pending");
  return res;
}

describe("expiry", () => {
  it("the alarm expires a job past expiresAt; its operation fails with code expired", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    expect(Date.parse(job.expiresAt) - Date.parse(job.createdAt)).toBe(3600_000); // SIGNJOB_TTL_SECONDS in tests
    await backdate(issuer, job.id);
    expect(await runDurableObjectAlarm(stubOf(issuer.did))).toBe(true);

    const after = await api("GET", `/v1/signjobs/${job.id}`);
    expect(after.body.status).toBe("expired");
    const op = await api("GET", `/v1/operations/${operation.id}`);
    expect(op.body.done).toBe(true);
    expect(op.body.result.code).toBe("expired");
    expect(op.body.result.response).toBeUndefined();
    expect(await pendingJobs(issuer.did)).toEqual([]);
    const expired = await api("GET", `/v1/signjobs?did=${enc(issuer.did)}&status=expired`);
    expect(expired.body.signJobs.map((j: any) => j.id)).toEqual([job.id]);

    const late = await expectNotPending(job.id, await key.sign(job.signingInput));
    expect(late.body.job.status).toBe("expired");
    expect((await indexRows(operation.id))[0]).toMatchObject({ state: 2, code: "expired" });
  });

  it("a signature arriving after expiresAt but before the alarm is refused and expires the job", async () => {
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    await backdate(issuer, job.id);
    await expectNotPending(job.id, await key.sign(job.signingInput));
    expect((await api("GET", `/v1/signjobs/${job.id}`)).body.status).toBe("expired");
    const op = await api("GET", `/v1/operations/${operation.id}`);
    expect(op.body).toMatchObject({ done: true, result: { code: "expired" } });
  });
});

describe("cancellation", () => {
  it("PUT /v1/operations/cancel/{id} cancels the operation and its job; a second cancel is 409", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    const res = await api("PUT", `/v1/operations/cancel/${operation.id}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: operation.id, done: true, result: { code: "cancelled" } });
    expect((await api("GET", `/v1/signjobs/${job.id}`)).body.status).toBe("cancelled");
    expect((await api("GET", `/v1/operations/${operation.id}`)).body.result.code).toBe("cancelled");
    expect(await auditEvents(issuer.did, job.id, "cancelled")).toBe(1);

    const again = await api("PUT", `/v1/operations/cancel/${operation.id}`);
    expect(again.status).toBe(409);
    await expectNotPending(job.id, await key.sign(job.signingInput));
    expect((await api("PUT", "/v1/operations/cancel/credentials/nope")).status).toBe(404);
  });

  it("deleting the DID cancels its pending jobs", async () => {
    const key = await externalKey("secp256k1");
    const issuer = await externalDid(key);
    const a = await issuePending(issuer);
    const b = await issuePending(issuer);
    const del = await api("DELETE", `/v1/dids/key/${enc(issuer.did)}`);
    expect(del.status, JSON.stringify(del.body)).toBe(204);
    for (const { job, operation } of [a, b]) {
      expect((await api("GET", `/v1/signjobs/${job.id}`)).body.status).toBe("cancelled");
      const op = await api("GET", `/v1/operations/${operation.id}`);
      expect(op.body).toMatchObject({ done: true, result: { code: "cancelled" } });
      await expectNotPending(job.id, await key.sign(job.signingInput));
    }
    expect(await pendingJobs(issuer.did)).toEqual([]);
    // And nothing new is issued for it.
    const more = await api("PUT", "/v1/credentials", {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:x",
      data: {},
    });
    expect(more.status).toBeGreaterThanOrEqual(400);
    expect(more.status).toBeLessThan(500);
  });
});

describe("rejection", () => {
  it("PUT /v1/signjobs/{id}/reject: job rejected, operation fails with rejected_by_signer", async () => {
    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    const res = await api("PUT", `/v1/signjobs/${job.id}/reject`, { reason: "subject not enrolled" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ id: job.id, status: "rejected", reason: "subject not enrolled" });
    const op = await api("GET", `/v1/operations/${operation.id}`);
    expect(op.body).toMatchObject({ done: true, result: { code: "rejected_by_signer", error: "subject not enrolled" } });
    expect(await auditEvents(issuer.did, job.id, "rejected")).toBe(1);

    const again = await api("PUT", `/v1/signjobs/${job.id}/reject`, { reason: "again" });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("job_not_pending");
    await expectNotPending(job.id, await key.sign(job.signingInput));
    expect((await api("PUT", `/v1/signjobs/${job.id}/reject`, {})).status).toBe(400);
  });
});

describe("submission forms", () => {
  it("PUT /v1/signjobs/{id} signs one job", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const { job, operation } = await issuePending(issuer);
    const res = await api("PUT", `/v1/signjobs/${job.id}`, { signature: await key.sign(job.signingInput) });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.status).toBe("signed");
    expect((await api("GET", `/v1/operations/${operation.id}`)).body.done).toBe(true);
    // Exactly one of signature and jws.
    expect((await api("PUT", `/v1/signjobs/${job.id}`, {})).status).toBe(400);
    expect((await api("PUT", `/v1/signjobs/${job.id}`, { signature: "a", jws: "b" })).status).toBe(400);
  });

  it("a batch answers per item, in order: valid, invalid, unknown, malformed id, already signed", async () => {
    const key = await externalKey("secp256k1");
    const issuer = await externalDid(key);
    const one = (await issuePending(issuer)).job;
    const two = (await issuePending(issuer)).job;
    const three = (await issuePending(issuer)).job;
    const unknown = `${one.id.split(".")[0]}.AAAAAAAAAAAAAAAA`;
    const res = await api("PUT", "/v1/signjobs", {
      signatures: [
        { id: one.id, signature: await key.sign(one.signingInput) },
        { id: two.id, signature: await key.sign(one.signingInput) },
        { id: unknown, signature: await key.sign(one.signingInput) },
        { id: "not-a-job", signature: await key.sign(one.signingInput) },
        { id: three.id, jws: `${three.signingInput}.${await key.sign(three.signingInput)}` },
        { id: one.id, signature: await key.sign(three.signingInput) },
      ],
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.results.map((r: any) => [r.id, r.status, r.code])).toEqual([
      [one.id, "signed", undefined],
      [two.id, "pending", "invalid_signature"],
      [unknown, "unknown", "not_found"],
      ["not-a-job", "unknown", "not_found"],
      [three.id, "signed", undefined],
      [one.id, "signed", "job_already_signed"],
    ]);
    expect((await pendingJobs(issuer.did)).map((j) => j.id)).toEqual([two.id]);
    expect(await auditEvents(issuer.did, two.id, "invalid_signature")).toBe(1);
    expect((await api("PUT", "/v1/signjobs", { signatures: [] })).status).toBe(400);
  });
});
