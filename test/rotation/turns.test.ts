/**
 * New issuance is not held up by a rotation (issue 13, "Scale"): the issuer object's long runs of
 * work (a signer's batch of signatures, the rotation's re-signing) are applied in short turns with
 * a real yield between them, so a request that arrives meanwhile is answered part-way. Each test
 * looks at what a request sent during the work saw: before, the whole batch was one transaction,
 * and a read answered during it saw none or all of it.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { TURN_JOBS } from "../../durable-objects/turns";
import { api, enc } from "../support/api";
import { externalDid, externalKey, objectQuery, stubOf } from "../support/keys";

const count = async (did: string, query: string) => (await objectQuery<{ n: number }>(did, query))[0]!.n;

describe("work in turns", () => {
  it("a batch of 300 signatures is applied in turns: a request sent meanwhile sees it part-way, and each job is signed once", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const requests = Array.from({ length: 300 }, (_, i) => ({
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:s",
      data: { i },
    }));
    expect((await api("PUT", "/v1/credentials/batch", { requests })).status).toBe(202);
    const jobs = (await api("GET", `/v1/signjobs?did=${enc(issuer.did)}&status=pending&pageSize=1000`)).body.signJobs as any[];
    expect(jobs).toHaveLength(300);
    const signatures = await Promise.all(jobs.map(async (j) => ({ id: j.id, signature: await key.sign(j.signingInput) })));

    let finished = false;
    const batch = api("PUT", "/v1/signjobs", { signatures }).finally(() => (finished = true));
    const seen: number[] = [];
    while (!finished) seen.push(await count(issuer.did, "SELECT count(*) AS n FROM jobs WHERE status = 'signed'"));
    const res = await batch;
    expect(res.status).toBe(200);
    expect(res.body.results.every((r: any) => r.status === "signed")).toBe(true);
    // A read answered while the batch was being applied saw some of it signed, not none or all.
    expect(
      seen.some((n) => n > 0 && n < 300),
      `signed counts seen: ${seen.join(",")}`,
    ).toBe(true);
    // Exactly once: one "signed" event per job, and every job signed.
    expect(await count(issuer.did, "SELECT count(*) AS n FROM jobs WHERE status = 'signed'")).toBe(300);
    expect(await count(issuer.did, "SELECT coalesce(sum(count), 0) AS n FROM audit WHERE event = 'signed'")).toBe(300);
  });

  it("a job another request ends while a batch of signatures is applied answers as it ended, not as the batch's stale read of it", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const requests = Array.from({ length: 200 }, (_, i) => ({
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:s",
      data: { i },
    }));
    const created = await api("PUT", "/v1/credentials/batch", { requests });
    expect(created.status).toBe(202);
    const jobs = (await api("GET", `/v1/signjobs?did=${enc(issuer.did)}&status=pending&pageSize=1000`)).body.signJobs as any[];
    const signatures = await Promise.all(jobs.map(async (j) => ({ id: j.id, signature: await key.sign(j.signingInput) })));
    // The batch reads every job up front and applies them in turns; the cancels land between turns.
    const batch = api("PUT", "/v1/signjobs", { signatures });
    const victims = jobs.slice(-20);
    const cancels = await Promise.all(victims.map((j) => api("PUT", `/v1/operations/cancel/${j.operationId}`)));
    const res = await batch;
    expect(res.status).toBe(200);
    const results = new Map((res.body.results as { id: string; status: string; code?: string }[]).map((r) => [r.id, r]));
    const final = new Map(
      (await objectQuery<{ id: string; status: string }>(issuer.did, "SELECT id, status FROM jobs")).map((r) => [r.id, r.status]),
    );
    for (const [i, j] of victims.entries()) {
      const r = results.get(j.id)!;
      // Whichever came first wins, and the batch's answer says what became of the job.
      if (cancels[i]!.status === 200) {
        expect(final.get(j.id)).toBe("cancelled");
        expect(r).toMatchObject({ status: "cancelled", code: "job_not_pending" });
      } else {
        expect(final.get(j.id)).toBe("signed");
        expect(r.status).toBe("signed");
      }
    }
    for (const j of jobs.slice(0, -20)) expect(final.get(j.id)).toBe("signed");
  });

  it("a custodial rotation re-signs in turns: a request sent during the scan sees part of its first batch", async () => {
    const did = "did:web:ssi.test:rot-turns";
    expect((await api("PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: did } })).status).toBe(201);
    const vm = `${did}#key-1`;
    const requests = Array.from({ length: 60 }, (_, i) => ({
      issuer: did,
      verificationMethodId: vm,
      subject: "did:example:s",
      data: { i },
    }));
    expect((await api("PUT", "/v1/credentials/batch", { requests })).status).toBe(201);
    const newVm = (await api("PUT", `/v1/dids/web/${enc(did)}/keys`, { keyType: "Ed25519" })).body.verificationMethodId;
    const rotation = await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: newVm });
    expect(rotation.status).toBe(202);

    let finished = false;
    const driver = (async () => {
      for (let i = 0; i < 20; i++) {
        if ((await api("GET", `/v1/operations/${rotation.body.id}`)).body.done) return;
        await runDurableObjectAlarm(stubOf(did));
      }
    })().finally(() => (finished = true));
    const seen: number[] = [];
    while (!finished) {
      seen.push(await count(did, "SELECT count(*) AS n FROM jobs WHERE resigns IS NOT NULL AND status = 'signed'"));
    }
    await driver;
    const op = (await api("GET", `/v1/operations/${rotation.body.id}`)).body;
    expect(op).toMatchObject({ done: true, result: { response: { resigned: 60 } } });
    // The scan took 50 jobs per transaction and signed them in one more: a read saw 0, 50 or 60.
    expect(
      seen.some((n) => n > 0 && n < 50),
      `re-signed counts seen: ${seen.join(",")}`,
    ).toBe(true);
    expect(seen.every((n, i) => i === 0 || n >= seen[i - 1]!)).toBe(true);
    expect(TURN_JOBS).toBeLessThan(50);
  });
});
