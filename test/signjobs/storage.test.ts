/**
 * What the issuer object keeps, and for how long: a job's payload is stored once (its signing
 * input; the payload, the credential and the JWT are derived from it when read); repeated invalid
 * signatures collapse into one audit row; ended jobs past the retention drop their signing input
 * (a signed job's goes to R2 first).
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { externalDid, externalKey, objectQuery, pendingJobs, stubOf, type Issuer } from "../support/keys";

const DAY = 86_400_000;

/** Bytes of every value in the rows (text and blobs by length, numbers as 8). */
function bytesOf(rows: Record<string, SqlStorageValue>[]): number {
  let n = 0;
  for (const row of rows) {
    for (const v of Object.values(row)) {
      if (typeof v === "string") n += new TextEncoder().encode(v).length;
      else if (v instanceof ArrayBuffer) n += v.byteLength;
      else if (v !== null) n += 8;
    }
  }
  return n;
}

/** The object's bytes per job: its jobs, operations and audit rows, and the SQLite file's growth. */
async function storagePerJob(did: string) {
  return runInDurableObject(stubOf(did), (_i, state) => {
    const sql = state.storage.sql;
    const jobs = sql.exec("SELECT * FROM jobs").toArray();
    const tables = {
      jobs: bytesOf(jobs),
      operations: bytesOf(sql.exec("SELECT * FROM operations").toArray()),
      audit: bytesOf(sql.exec("SELECT * FROM audit").toArray()),
      signingInput: bytesOf(sql.exec("SELECT signing_input FROM jobs").toArray()),
    };
    return { count: jobs.length, tables, databaseSize: sql.databaseSize };
  });
}

async function issueAndSign(issuer: Issuer, sign: (input: string) => Promise<string>, n: number, dataBytes: number) {
  const res = await api("PUT", "/v1/credentials/batch", {
    requests: Array.from({ length: n }, (_, i) => ({
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: `did:example:holder${i}`,
      data: { note: `${i}:`.padEnd(dataBytes, "x") },
      revocable: true,
    })),
  });
  expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(202);
  for (const job of await pendingJobs(issuer.did)) {
    expect((await api("PUT", "/v1/signjobs", { id: job.id, signature: await sign(job.signingInput) })).status).toBe(200);
  }
  return res.body.operations as any[];
}

describe("issuer object storage", () => {
  it("stores a job's payload once, and still answers the job, the operation and the credential in full", async () => {
    // The figures for small claims too (printed, for the record).
    const small = await externalKey("P-256");
    const smallIssuer = await externalDid(small);
    const smallEmpty = await storagePerJob(smallIssuer.did);
    await issueAndSign(smallIssuer, small.sign, 20, 64);
    const smallAfter = await storagePerJob(smallIssuer.did);
    console.log(
      JSON.stringify({
        storagePerJob: {
          jobsTable: Math.round(smallAfter.tables.jobs / smallAfter.count),
          operationsTable: Math.round(smallAfter.tables.operations / smallAfter.count),
          signingInput: Math.round(smallAfter.tables.signingInput / smallAfter.count),
          sqliteFile: Math.round((smallAfter.databaseSize - smallEmpty.databaseSize) / smallAfter.count),
        },
        jobs: smallAfter.count,
        dataBytes: 64,
      }),
    );

    const key = await externalKey("P-256");
    const issuer = await externalDid(key);
    const empty = await storagePerJob(issuer.did);
    const ops = await issueAndSign(issuer, key.sign, 20, 4096);
    const after = await storagePerJob(issuer.did);
    const perJob = {
      jobsTable: Math.round(after.tables.jobs / after.count),
      operationsTable: Math.round(after.tables.operations / after.count),
      signingInput: Math.round(after.tables.signingInput / after.count),
      sqliteFile: Math.round((after.databaseSize - empty.databaseSize) / after.count),
    };
    console.log(JSON.stringify({ storagePerJob: perJob, jobs: after.count, dataBytes: 4096 }));
    // The signing input is the one copy of the claims: everything else in the row and its
    // operation is small next to it.
    expect(perJob.jobsTable + perJob.operationsTable - perJob.signingInput).toBeLessThan(perJob.signingInput / 2);

    // Nothing a client sees is missing.
    const op = (await api("GET", `/v1/operations/${ops[0].id}`)).body;
    const container = op.result.response;
    expect(container.credential.credentialSubject.note).toMatch(/^0:x+$/);
    const job = (await api("GET", `/v1/signjobs/${op.signJobs[0]}`)).body;
    expect(job.jwt).toBe(container.credentialJwt);
    expect(job.payload.vc).toEqual(container.credential);
    expect(job.jwt.startsWith(`${job.signingInput}.`)).toBe(true);
    const credential = (await api("GET", `/v1/credentials/${container.id}`)).body;
    expect(credential.credentialJwt).toBe(container.credentialJwt);
    expect(credential.credential).toEqual(container.credential);
    // The object's own answer (a status change returns the list's operation) is whole too.
    const revoked = await api("PUT", `/v1/credentials/${container.id}/status`, { revoked: true });
    expect(revoked.body.operation).toMatchObject({
      done: false,
      result: { response: { statusListCredential: credential.credential.credentialStatus.statusListCredential } },
    });
    const listJob = (await pendingJobs(issuer.did))[0];
    const signedList = await api("PUT", "/v1/signjobs", { id: listJob.id, signature: await key.sign(listJob.signingInput) });
    const listOp = (await api("GET", `/v1/operations/${listJob.operationId}`)).body;
    expect(listOp.result.response.credentialJwt).toBe(signedList.body.jwt);
  });

  it("collapses repeated invalid signatures of a job into one audit row with a count", async () => {
    const key = await externalKey("Ed25519");
    const other = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    await api("PUT", "/v1/credentials", { issuer: issuer.did, verificationMethodId: issuer.vmId, subject: "did:example:a", data: {} });
    const [job] = await pendingJobs(issuer.did);
    for (let i = 0; i < 25; i++) {
      const res = await api("PUT", "/v1/signjobs", { id: job.id, signature: await other.sign(job.signingInput) });
      expect(res.status).toBe(422);
    }
    const bad = await api("PUT", "/v1/signjobs", { id: job.id, signature: "AAAA" });
    expect(bad.body.code).toBe("invalid_signature");
    const rows = await objectQuery<{ n: number; count: number; at: number; last_at: number }>(
      issuer.did,
      "SELECT count, at, last_at FROM audit WHERE job_id = ? AND event = 'invalid_signature' ORDER BY count DESC",
      job.id,
    );
    expect(rows.map((r) => r.count)).toEqual([25, 1]);
    expect(rows[0]!.last_at).toBeGreaterThanOrEqual(rows[0]!.at);
  });

  it("keeps at most 20 reasons per job, however many distinct ones a signer sends", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    await api("PUT", "/v1/credentials", { issuer: issuer.did, verificationMethodId: issuer.vmId, subject: "did:example:b", data: {} });
    const [job] = await pendingJobs(issuer.did);
    // Each length is its own message ("must be 64 bytes, got N").
    for (let n = 1; n <= 30; n++) {
      const res = await api("PUT", "/v1/signjobs", { id: job.id, signature: "A".repeat(4 * n) });
      expect(res.body.code).toBe("invalid_signature");
    }
    const rows = await objectQuery<{ detail: string; count: number }>(
      issuer.did,
      "SELECT detail, count FROM audit WHERE job_id = ? AND event = 'invalid_signature' ORDER BY seq",
      job.id,
    );
    expect(rows.length).toBeLessThanOrEqual(21);
    expect(rows.reduce((n, r) => n + r.count, 0)).toBe(30);
    expect(rows[rows.length - 1]!.detail).toContain("other reasons");
  });

  it("drops the signing input of jobs ended longer ago than the retention, from the one alarm", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const ops = await issueAndSign(issuer, key.sign, 2, 512);
    const cancelled = await api("PUT", "/v1/credentials", {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:c",
      data: {},
    });
    expect((await api("PUT", `/v1/operations/cancel/${cancelled.body.id}`)).status).toBe(200);
    const pending = await api("PUT", "/v1/credentials", {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:p",
      data: {},
    });
    const signedJobId = ops[0].signJobs[0] as string;
    const before = (await api("GET", `/v1/signjobs/${signedJobId}`)).body;
    const operationBefore = (await api("GET", `/v1/operations/${ops[0].id}`)).body;

    // The alarm is armed for the first ended job's retention (30 days by default).
    const { alarm, firstEnd } = await runInDurableObject(stubOf(issuer.did), async (_i, state) => ({
      alarm: await state.storage.getAlarm(),
      firstEnd: state.storage.sql.exec<{ t: number }>("SELECT min(ended_at) AS t FROM jobs").one().t,
    }));
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(firstEnd + 30 * DAY);

    // Within the retention (one day here), the alarm purges nothing.
    const runAlarm = async () => {
      await runInDurableObject(stubOf(issuer.did), async (_i, state) => state.storage.setAlarm(Date.now() + 60_000));
      expect(await runDurableObjectAlarm(stubOf(issuer.did))).toBe(true);
    };
    await objectQuery(issuer.did, "INSERT OR REPLACE INTO meta (k, v) VALUES ('signjob_retention_ms', ?)", String(DAY));
    await runAlarm();
    expect(await objectQuery(issuer.did, "SELECT id FROM jobs WHERE purged_at IS NOT NULL OR signing_input = ''")).toEqual([]);

    // Past it (retention 0: every ended job is past it), every ended job drops its signing input.
    await objectQuery(issuer.did, "INSERT OR REPLACE INTO meta (k, v) VALUES ('signjob_retention_ms', '0')");
    await runAlarm();
    const rows = await objectQuery<{ id: string; status: string; signing_input: string; purged_at: number | null }>(
      issuer.did,
      "SELECT id, status, signing_input, purged_at FROM jobs ORDER BY seq",
    );
    const purged = rows.filter((r) => r.purged_at !== null).map((r) => r.id);
    expect(purged).toEqual(rows.filter((r) => r.status !== "pending").map((r) => r.id));
    // The signed credential job went to R2 whole (test/signjobs/cold-archive.test.ts): a cold row stays.
    expect(rows.map((r) => r.id)).not.toContain(signedJobId);
    expect(
      await objectQuery(issuer.did, "SELECT seq FROM cold_jobs WHERE job = ?", signedJobId.slice(signedJobId.indexOf(".") + 1)),
    ).toHaveLength(1);
    expect(purged).toContain(cancelled.body.signJobs[0]);
    expect(rows.filter((r) => r.status === "pending").map((r) => r.id)).toEqual([pending.body.signJobs[0]]);
    for (const r of rows) expect(r.signing_input === "").toBe(r.purged_at !== null);

    // A signed job's claims went to R2 first (test/signjobs/archive.test.ts): GET answers it whole.
    expect((await api("GET", `/v1/signjobs/${signedJobId}`)).body).toEqual(before);
    // An unsigned one's are gone: id, status, times and the reason stay.
    const dropped = (await api("GET", `/v1/signjobs/${cancelled.body.signJobs[0]}`)).body;
    expect(dropped).toMatchObject({ id: cancelled.body.signJobs[0], status: "cancelled" });
    expect(dropped.purgedAt).toBeDefined();
    expect(dropped.signingInput).toBeUndefined();
    expect(dropped.payload).toBeUndefined();
    // The credential and its operation are unchanged in the global index.
    expect((await api("GET", `/v1/operations/${ops[0].id}`)).body).toEqual(operationBefore);
    expect((await api("GET", `/v1/credentials/${ops[0].result.response.id}`)).body.credentialJwt).toBe(before.jwt);
    // The pending job is untouched and can still be signed.
    const stillPending = (await api("GET", `/v1/signjobs/${pending.body.signJobs[0]}`)).body;
    expect(stillPending.status).toBe("pending");
    expect((await api("PUT", "/v1/signjobs", { id: stillPending.id, signature: await key.sign(stillPending.signingInput) })).status).toBe(
      200,
    );
    // A signed job stays immutable in every other way.
    await expect(objectQuery(issuer.did, "UPDATE jobs SET signature = 'x' WHERE id = ?", stillPending.id)).rejects.toThrow(/immutable/);
  });

  it("a purged job answers a resubmitted JWS as before the purge: the same one 200, another 409, never 422", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    await api("PUT", "/v1/credentials", { issuer: issuer.did, verificationMethodId: issuer.vmId, subject: "did:example:s", data: {} });
    const [job] = await pendingJobs(issuer.did);
    const jws = `${job.signingInput}.${await key.sign(job.signingInput)}`;
    expect((await api("PUT", "/v1/signjobs", { id: job.id, jws })).status).toBe(200);
    const cancelled = await api("PUT", "/v1/credentials", {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:c",
      data: {},
    });
    const [cancelledJob] = await pendingJobs(issuer.did);
    expect((await api("PUT", `/v1/operations/cancel/${cancelled.body.id}`)).status).toBe(200);
    const cancelledJws = `${cancelledJob.signingInput}.${await key.sign(cancelledJob.signingInput)}`;

    await objectQuery(issuer.did, "INSERT OR REPLACE INTO meta (k, v) VALUES ('signjob_retention_ms', '0')");
    await runInDurableObject(stubOf(issuer.did), async (_i, state) => state.storage.setAlarm(Date.now() + 60_000));
    expect(await runDurableObjectAlarm(stubOf(issuer.did))).toBe(true);
    // The signed credential job is cold (in R2 whole); the cancelled one dropped its claims here.
    expect(await objectQuery(issuer.did, "SELECT id FROM jobs WHERE id = ?", job.id)).toEqual([]);
    expect(await objectQuery(issuer.did, "SELECT signing_input FROM jobs WHERE id = ?", cancelledJob.id)).toEqual([{ signing_input: "" }]);

    const again = await api("PUT", "/v1/signjobs", { id: job.id, jws });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(again.body).toMatchObject({ id: job.id, status: "signed" });
    const other = `${job.signingInput}.${await key.sign(`${job.signingInput}x`)}`;
    const another = await api("PUT", "/v1/signjobs", { id: job.id, jws: other });
    expect(another.status, JSON.stringify(another.body)).toBe(409);
    expect(another.body.code).toBe("job_already_signed");
    const late = await api("PUT", "/v1/signjobs", { id: cancelledJob.id, jws: cancelledJws });
    expect(late.status, JSON.stringify(late.body)).toBe(409);
    expect(late.body.code).toBe("job_not_pending");
    expect(await objectQuery(issuer.did, "SELECT seq FROM audit WHERE event = 'invalid_signature'")).toEqual([]);
  });
});
