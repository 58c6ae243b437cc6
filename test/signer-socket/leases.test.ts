import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { LEASE_MS } from "../../durable-objects/signer-protocol";
import { TOKEN, api } from "../support/api";
import { SignerClient, connected, externalIssuer, fireAlarm, type Issuer } from "./client";

const sqlCount = (issuer: Issuer, query: string) =>
  runInDurableObject(issuer.stub, (_, state) => state.storage.sql.exec<{ n: number }>(query).one().n);

/** Which of two signers was offered the job just created: [holder, the other]. */
async function split(a: SignerClient, b: SignerClient): Promise<[SignerClient, SignerClient]> {
  // Offers go out while the create request runs, so by now each socket has what it will get.
  const offered = async (s: SignerClient) => (await s.drain()).some((f) => f.type === "jobs");
  const [toA, toB] = [await offered(a), await offered(b)];
  expect(toA !== toB, "exactly one signer gets the job").toBe(true);
  return toA ? [a, b] : [b, a];
}

/**
 * Fires the alarm armed for the end of the lease `until` (its clock reading a hair earlier, as it
 * can). An alarm armed earlier (for the create's outbox row, 5 s on) is kept after its delivery
 * (durable-objects/alarm-clock.ts): it fires first, finds nothing due, and arms for the lease.
 */
async function leaseAlarm(issuer: Issuer, until: number) {
  let at = await fireAlarm(issuer);
  for (let early = 0; at < until && early < 3; early++) at = await fireAlarm(issuer);
  expect(at).toBe(until);
}

describe("leases", () => {
  it("leases a job to one signer for 60 s and re-offers it to the other when the lease runs out", async () => {
    const issuer = await externalIssuer();
    const a = (await connected(issuer)).client;
    const b = (await connected(issuer, `Bearer ${TOKEN}`)).client;
    const before = Date.now();
    const op = await issuer.issue();
    const [holder, other] = await split(a, b);
    const until = await sqlCount(issuer, "SELECT until AS n FROM leases");
    expect(until).toBeGreaterThanOrEqual(before + LEASE_MS);
    expect(until).toBeLessThanOrEqual(Date.now() + LEASE_MS);
    await leaseAlarm(issuer, until);
    const offered = await other.next("jobs");
    expect(offered.jobs.map((j: any) => j.id)).toEqual(op.signJobs);
    expect(await holder.drain()).toEqual([]);

    // The late first holder and the new one both answer: one signature counts.
    const job = offered.jobs[0];
    const signature = await issuer.sign(job.signingInput);
    expect(await other.call({ type: "sign", id: job.id, signature })).toMatchObject({ status: "signed" });
    expect(await holder.call({ type: "sign", id: job.id, signature })).toEqual({ type: "result", id: job.id, status: "signed" });
    expect(await sqlCount(issuer, "SELECT count(*) AS n FROM audit WHERE event = 'signed'")).toBe(1);
    expect(await sqlCount(issuer, "SELECT count(*) AS n FROM leases")).toBe(0);
  });

  it("offers a timed-out job to the same signer again when it is the only one", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    const op = await issuer.issue();
    await client.next("jobs");
    await leaseAlarm(issuer, await sqlCount(issuer, "SELECT until AS n FROM leases"));
    expect((await client.next("jobs")).jobs.map((j: any) => j.id)).toEqual(op.signJobs);
  });

  it("re-offers the jobs of a signer that disconnects to another connected signer", async () => {
    const issuer = await externalIssuer();
    const a = (await connected(issuer)).client;
    const b = (await connected(issuer)).client;
    const ops = await issuer.issueBatch(3);
    const [holder, other] = await split(a, b);
    holder.close(1000, "going away");
    const offered = await other.next("jobs");
    expect(offered.jobs.map((j: any) => j.id)).toEqual(ops.map((o) => o.signJobs[0]));
  });

  it("keeps a job pending when its only signer leaves, and gives it to the next one in its backlog", async () => {
    const issuer = await externalIssuer();
    const a = (await connected(issuer)).client;
    const op = await issuer.issue();
    await a.next("jobs");
    // A second signer connecting while the lease is live does not get the job.
    const b = await connected(issuer, `Bearer ${TOKEN}`);
    expect(b.ready.pending).toBe(1);
    expect(await b.client.drain()).toEqual([]);
    b.client.close();
    a.close();
    for (let i = 0; i < 100 && (await sqlCount(issuer, "SELECT count(*) AS n FROM leases")) > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(await sqlCount(issuer, "SELECT count(*) AS n FROM leases")).toBe(0);
    expect((await api("GET", `/v1/signjobs/${op.signJobs[0]}`)).body.status).toBe("pending");
    const c = await connected(issuer);
    expect(c.ready.pending).toBe(1);
    expect((await c.client.next("jobs")).jobs.map((j: any) => j.id)).toEqual(op.signJobs);
  });

  it("with two signers signing everything they see, each job is signed exactly once", async () => {
    const issuer = await externalIssuer();
    const signers = [(await connected(issuer)).client, (await connected(issuer, `Bearer ${TOKEN}`)).client];
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(...(await issuer.issue(`n${i}`)).signJobs);
    for (const op of await issuer.issueBatch(4)) ids.push(...op.signJobs);

    // Every offer went out while its create request ran: each socket's frames so far are all of them.
    const seen: any[][] = [];
    for (const s of signers) seen.push((await s.drain()).filter((f) => f.type === "jobs").flatMap((f) => f.jobs));
    const offered = [...seen[0]!, ...seen[1]!].map((j) => j.id);
    expect(offered.sort()).toEqual([...ids].sort());
    expect(seen[0]!.length).toBeGreaterThan(0);
    expect(seen[1]!.length).toBeGreaterThan(0);

    // Each signs what it was offered, then everything again: duplicates change nothing.
    const all = [...seen[0]!, ...seen[1]!];
    const answers = await Promise.all(
      signers.flatMap((s, i) =>
        [...seen[i]!, ...all].map(async (job) => s.call({ type: "sign", id: job.id, signature: await issuer.sign(job.signingInput) })),
      ),
    );
    expect(answers.every((r) => r.status === "signed" && r.code === undefined)).toBe(true);
    expect(await sqlCount(issuer, "SELECT count(*) AS n FROM audit WHERE event = 'signed'")).toBe(ids.length);
    expect(await sqlCount(issuer, "SELECT count(DISTINCT job_id) AS n FROM audit WHERE event = 'signed'")).toBe(ids.length);
  });

  it("survives hibernation: sockets, their identity and their leases come back after eviction", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    await evictDurableObject(issuer.stub, { webSockets: "hibernate" });

    client.send("ping");
    expect(await client.next("pong")).toBe("pong");
    const op = await issuer.issue();
    const [job] = (await client.next("jobs")).jobs;
    expect(job.id).toBe(op.signJobs[0]);

    await evictDurableObject(issuer.stub, { webSockets: "hibernate" });
    await leaseAlarm(issuer, await sqlCount(issuer, "SELECT until AS n FROM leases"));
    expect((await client.next("jobs")).jobs[0].id).toBe(job.id);

    // A socket that had not authenticated yet when the object hibernated still can.
    const silent = await SignerClient.open(issuer.did, null);
    await evictDurableObject(issuer.stub, { webSockets: "hibernate" });
    silent.send({ type: "auth", token: `DID ${await issuer.didJwt()}` });
    expect(await silent.next("ready")).toMatchObject({ pending: 1 });

    await evictDurableObject(issuer.stub, { webSockets: "hibernate" });
    expect(await client.call({ type: "sign", id: job.id, signature: await issuer.sign(job.signingInput) })).toMatchObject({
      status: "signed",
    });
    expect((await api("GET", `/v1/operations/${op.id}`)).body.done).toBe(true);
    // The job stayed with the signer holding its lease: the newcomer was offered nothing.
    expect(await silent.drain()).toEqual([]);
  });
});
