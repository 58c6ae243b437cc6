import { runInDurableObject } from "cloudflare:test";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import { TOKEN, api, enc } from "../support/api";
import { connected, externalIssuer } from "./client";

describe("signer socket jobs", () => {
  it("sends ready with the pending count, then the backlog oldest first, 100 per frame", async () => {
    const issuer = await externalIssuer();
    const first = await issuer.issue("first");
    const batch = await issuer.issueBatch(149);
    const { client, ready } = await connected(issuer);
    expect(ready).toEqual({ type: "ready", did: issuer.did, pending: 150 });
    const page1 = await client.next("jobs");
    const page2 = await client.next("jobs");
    expect(page1.jobs).toHaveLength(100);
    expect(page2.jobs).toHaveLength(50);
    const ids = [...page1.jobs, ...page2.jobs].map((j: any) => j.id);
    expect(ids).toEqual([first.signJobs[0], ...batch.map((op) => op.signJobs[0])]);
    expect(page1.jobs[0]).toMatchObject({ did: issuer.did, verificationMethodId: issuer.vm, alg: "EdDSA", status: "pending" });
    expect(await client.drain()).toEqual([]);
  });

  it("pushes new jobs as they are created, one frame per creation batch", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer, `Bearer ${TOKEN}`);
    const op = await issuer.issue();
    const one = await client.next("jobs");
    expect(one.jobs.map((j: any) => j.id)).toEqual(op.signJobs);
    const ops = await issuer.issueBatch(5);
    const five = await client.next("jobs");
    expect(five.jobs.map((j: any) => j.id)).toEqual(ops.map((o) => o.signJobs[0]));
    expect(await client.drain()).toEqual([]);
  });

  it("signs over the socket: the operation is done, a repeat gets the same answer, another signature is refused", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    const op = await issuer.issue();
    const [job] = (await client.next("jobs")).jobs;
    const signature = await issuer.sign(job.signingInput);

    expect(await client.call({ type: "sign", id: job.id, signature })).toEqual({ type: "result", id: job.id, status: "signed" });
    const done = await api("GET", `/v1/operations/${op.id}`);
    expect(done.body.done).toBe(true);
    expect(done.body.result.response.credentialJwt).toBe(`${job.signingInput}.${signature}`);

    expect(await client.call({ type: "sign", id: job.id, signature })).toEqual({ type: "result", id: job.id, status: "signed" });
    expect(await client.call({ type: "sign", id: job.id, jws: `${job.signingInput}.${signature}` })).toEqual({
      type: "result",
      id: job.id,
      status: "signed",
    });
    const other = base64url.encode(crypto.getRandomValues(new Uint8Array(64)));
    expect(await client.call({ type: "sign", id: job.id, signature: other })).toMatchObject({
      status: "signed",
      code: "job_already_signed",
    });
    const audit = await runInDurableObject(
      issuer.stub,
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM audit WHERE event = 'signed'").one().n,
    );
    expect(audit).toBe(1);
  });

  it("answers an invalid signature with invalid_signature and leaves the job pending", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    await issuer.issue();
    const [job] = (await client.next("jobs")).jobs;
    const wrong = await issuer.sign(`${job.signingInput}x`);
    expect(await client.call({ type: "sign", id: job.id, signature: wrong })).toMatchObject({
      type: "result",
      id: job.id,
      status: "pending",
      code: "invalid_signature",
    });
    expect((await api("GET", `/v1/signjobs/${job.id}`)).body.status).toBe("pending");
    // The right one still wins afterwards.
    expect(await client.call({ type: "sign", id: job.id, signature: await issuer.sign(job.signingInput) })).toMatchObject({
      status: "signed",
    });
  });

  it("rejects: the operation fails with rejected_by_signer; unknown ids are not_found", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    const op = await issuer.issue();
    const [job] = (await client.next("jobs")).jobs;
    expect(await client.call({ type: "reject", id: job.id, reason: "policy says no" })).toEqual({
      type: "result",
      id: job.id,
      status: "rejected",
    });
    const failed = await api("GET", `/v1/operations/${op.id}`);
    expect(failed.body).toMatchObject({ done: true, result: { code: "rejected_by_signer" } });
    expect(await client.call({ type: "reject", id: job.id, reason: "again" })).toMatchObject({
      status: "rejected",
      code: "job_not_pending",
    });
    expect(await client.call({ type: "sign", id: "nope", signature: "AAAA" })).toMatchObject({
      type: "result",
      id: "nope",
      status: "unknown",
      code: "not_found",
    });
  });

  it("answers malformed frames with an error and keeps the socket open", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    client.send("{not json");
    expect(await client.next("error")).toMatchObject({ code: "malformed_json" });
    client.send({ type: "dance" });
    expect(await client.next("error")).toMatchObject({ code: "validation_failed" });
    client.send({ type: "sign", id: "x" });
    expect(await client.next("error")).toMatchObject({ code: "validation_failed", detail: expect.stringContaining("signature") });
    client.send({ type: "reject", id: "x" });
    expect(await client.next("error")).toMatchObject({ code: "validation_failed", detail: expect.stringContaining("reason") });
    client.send([1, 2]);
    expect(await client.next("error")).toMatchObject({ code: "validation_failed" });
    client.send({ type: "auth", token: `Bearer ${TOKEN}` });
    expect(await client.next("error")).toMatchObject({ code: "already_authenticated" });
    client.send("ping");
    expect(await client.next("pong")).toBe("pong");
    expect(client.closed).toBeNull();
    expect(await client.call({ type: "sign", id: "nope", signature: "AAAA" })).toMatchObject({ code: "not_found" });
  });

  it("tells every signer about cancelled jobs and drops their leases", async () => {
    const issuer = await externalIssuer();
    const a = (await connected(issuer)).client;
    const b = (await connected(issuer, `Bearer ${TOKEN}`)).client;
    const op = await issuer.issue();
    const res = await api("PUT", `/v1/operations/cancel/${op.id}`);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(await a.next("cancelled")).toEqual({ type: "cancelled", ids: op.signJobs });
    expect(await b.next("cancelled")).toEqual({ type: "cancelled", ids: op.signJobs });
    const leases = await runInDurableObject(
      issuer.stub,
      (_, state) => state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM leases").one().n,
    );
    expect(leases).toBe(0);
    // And a late signature gets the PUT answer.
    const job = (await api("GET", `/v1/signjobs/${op.signJobs[0]}`)).body;
    expect(await a.call({ type: "sign", id: job.id, signature: await issuer.sign(job.signingInput) })).toMatchObject({
      status: "cancelled",
      code: "job_not_pending",
    });
  });

  it("serves a signer authenticated by its DID only its own DID's jobs", async () => {
    const issuer = await externalIssuer();
    const other = await externalIssuer();
    const theirs = await other.issue();
    const { client } = await connected(issuer);
    const job = (await api("GET", `/v1/signjobs/${theirs.signJobs[0]}`)).body;
    expect(await client.call({ type: "sign", id: job.id, signature: await other.sign(job.signingInput) })).toMatchObject({
      status: "unknown",
      code: "not_found",
    });
    expect((await api("GET", `/v1/signjobs?did=${enc(other.did)}&status=pending`)).body.signJobs).toHaveLength(1);
  });
});
