/**
 * Cold jobs go to R2 (the ARCHIVE binding, local in tests): past retention, or past the object's
 * hot limit, a signed credential job goes to R2 whole and leaves the object (a cold row stays;
 * test/signjobs/cold-archive.test.ts covers every read); reads of the job and its operation answer
 * from R2 whole, after eviction too. A crash between the R2 put and the object's update loses
 * nothing: the next alarm puts again and moves it. Credential jobs archived claims-only before
 * whole rows were move too. Unsigned ended jobs just drop their claims.
 */
import { env, evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { alarmNow, crashAfterNextR2Put, setMeta } from "../support/archive";
import { api } from "../support/api";
import { credentialRequest, custodialDid, externalDid, externalKey, issuePending, objectQuery, stubOf } from "../support/keys";

type JobState = { id: string; signing_input: string; purged_at: number | null; archived: number };
const jobsOf = (did: string) => objectQuery<JobState>(did, "SELECT id, signing_input, purged_at, archived FROM jobs ORDER BY seq");

const archiveKey = (did: string, jobId: string) => `jobs/${env.ISSUER.idFromName(did).toString()}/${jobId}`;
const coldKey = (did: string, jobId: string) => `cold/v2/${env.ISSUER.idFromName(did).toString()}/${jobId}`;
/** Where a job is: whole in the object, claims in R2 (the rest here), or whole in R2 (a cold row here). */
async function placeOf(did: string, jobId: string): Promise<"hot" | "claims" | "cold" | "none"> {
  const [row] = await objectQuery<JobState>(did, "SELECT id, signing_input, purged_at, archived FROM jobs WHERE id = ?", jobId);
  if (row) return row.purged_at === null ? "hot" : "claims";
  const cold = await objectQuery(did, "SELECT seq FROM cold_jobs WHERE job = ?", jobId.slice(jobId.indexOf(".") + 1));
  return cold.length > 0 ? "cold" : "none";
}

async function issueCustodial(n: number) {
  const issuer = await custodialDid("Ed25519");
  const ops = [];
  for (let i = 0; i < n; i++) {
    const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { data: { i } }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    ops.push(res.body);
  }
  return { issuer, ops };
}

describe("archiving ended jobs to R2", () => {
  it("past retention a signed job's claims move to R2, and the job and its operation still read whole, after eviction too", async () => {
    const { issuer, ops } = await issueCustodial(1);
    const jobId = ops[0].signJobs[0] as string;
    const before = (await api("GET", `/v1/signjobs/${jobId}`)).body;
    const operationBefore = await stubOf(issuer.did).getOperation(ops[0].id);
    expect(before.jwt).toBeTruthy();

    await setMeta(issuer.did, "signjob_retention_ms", "0");
    expect(await alarmNow(issuer.did)).toBe(true);
    expect(await placeOf(issuer.did, jobId)).toBe("cold");
    const stored = JSON.parse(await (await env.ARCHIVE.get(coldKey(issuer.did, jobId)))!.text());
    expect(stored.job.signing_input).toBe(before.signingInput);
    expect(stored.job.signature).toBe(before.signature);

    await evictDurableObject(stubOf(issuer.did));
    const after = await api("GET", `/v1/signjobs/${jobId}`);
    expect(after.status).toBe(200);
    expect(after.body).toEqual(before);
    expect(await stubOf(issuer.did).getOperation(ops[0].id)).toEqual(operationBefore);
    const listed = await api("GET", `/v1/signjobs?did=${encodeURIComponent(issuer.did)}`);
    expect(listed.body.signJobs).toEqual([before]);
  });

  it("a crash between the R2 put and the object's update: the next alarm puts again and purges; nothing is lost", async () => {
    const { issuer, ops } = await issueCustodial(2);
    const before = await Promise.all(ops.map(async (op) => (await api("GET", `/v1/signjobs/${op.signJobs[0]}`)).body));
    await setMeta(issuer.did, "signjob_retention_ms", "0");
    // The object dies right after R2 accepted the first put, before any purge is committed.
    await crashAfterNextR2Put(issuer.did);
    await expect(runDurableObjectAlarm(stubOf(issuer.did))).rejects.toThrow();
    // Nothing purged: the object still holds every claim.
    for (const row of await jobsOf(issuer.did)) expect(row).toMatchObject({ purged_at: null, archived: 0 });

    // The retry (the alarm again, in a fresh instance with the real bucket) completes it.
    expect(await alarmNow(issuer.did)).toBe(true);
    for (const op of ops) expect(await placeOf(issuer.did, op.signJobs[0])).toBe("cold");
    for (const [i, op] of ops.entries()) {
      expect((await api("GET", `/v1/signjobs/${op.signJobs[0]}`)).body).toEqual(before[i]);
    }
  });

  it("past the hot limit the oldest ended jobs are archived, whatever their age", async () => {
    const { issuer, ops } = await issueCustodial(5);
    await setMeta(issuer.did, "signjob_hot_limit", "2");
    expect(await alarmNow(issuer.did)).toBe(true);
    const ids = ops.map((o) => o.signJobs[0] as string);
    const state = await Promise.all(ids.map((id) => placeOf(issuer.did, id)));
    expect(state).toEqual(["cold", "cold", "cold", "hot", "hot"]);
    for (const id of ids) {
      const job = await api("GET", `/v1/signjobs/${id}`);
      expect(job.body.jwt).toBeTruthy();
      expect(job.body.purgedAt).toBeUndefined();
    }
  });

  it("an unsigned ended job past retention drops its claims and puts nothing in R2", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const { job } = await issuePending(issuer);
    expect((await api("PUT", `/v1/signjobs/${job.id}/reject`, { reason: "no" })).status).toBe(200);
    await setMeta(issuer.did, "signjob_retention_ms", "0");
    expect(await alarmNow(issuer.did)).toBe(true);
    const row = (await jobsOf(issuer.did)).find((r) => r.id === job.id)!;
    expect(row).toMatchObject({ signing_input: "", archived: 0 });
    expect(await env.ARCHIVE.get(archiveKey(issuer.did, job.id))).toBeNull();
    const after = await api("GET", `/v1/signjobs/${job.id}`);
    expect(after.body.purgedAt).toBeTruthy();
    expect(after.body.signingInput).toBeUndefined();
  });

  it("a credential job archived claims-only (before whole rows were) moves to R2 whole; reads stay the same", async () => {
    const { issuer, ops } = await issueCustodial(1);
    const jobId = ops[0].signJobs[0] as string;
    const before = (await api("GET", `/v1/signjobs/${jobId}`)).body;
    const credential = (await api("GET", `/v1/credentials/${ops[0].result.response.id}`)).body;
    // The state the previous archive left: claims in R2 under the per-job key, the rest of the row here.
    await env.ARCHIVE.put(archiveKey(issuer.did, jobId), before.signingInput);
    await objectQuery(issuer.did, "UPDATE jobs SET signing_input = '', purged_at = ?, archived = 1 WHERE id = ?", Date.now(), jobId);
    expect(await placeOf(issuer.did, jobId)).toBe("claims");
    expect(await alarmNow(issuer.did)).toBe(true);
    expect(await placeOf(issuer.did, jobId)).toBe("cold");
    expect((await api("GET", `/v1/signjobs/${jobId}`)).body).toEqual(before);
    expect((await api("GET", `/v1/credentials/${ops[0].result.response.id}`)).body).toEqual(credential);
  });
});
