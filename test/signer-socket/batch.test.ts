/**
 * Batched `sign` frames (api.md "Signer WebSocket"): `{ type: "sign", signatures: [...] }` is
 * answered by one `results` frame, in order, each signature judged with the rules of a single one.
 */
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { connected, externalIssuer } from "./client";

const jobsOf = async (client: Awaited<ReturnType<typeof connected>>["client"], n: number) => {
  const jobs: { id: string; signingInput: string; operationId: string }[] = [];
  while (jobs.length < n) jobs.push(...(await client.next("jobs")).jobs);
  return jobs;
};

describe("batched sign frames", () => {
  it("signs every job of a batch and answers with one results frame, in order", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    await issuer.issueBatch(20);
    const jobs = await jobsOf(client, 20);
    const signatures = await Promise.all(jobs.map(async (j) => ({ id: j.id, signature: await issuer.sign(j.signingInput) })));
    client.send({ type: "sign", signatures });
    const frame = await client.next("results");
    expect(frame.results).toEqual(jobs.map((j) => ({ id: j.id, status: "signed" })));
    for (const j of [jobs[0]!, jobs[19]!]) {
      const op = await api("GET", `/v1/operations/${j.operationId}`);
      expect(op.body).toMatchObject({ done: true, result: { response: { credentialJwt: expect.any(String) } } });
    }
    expect(await client.drain()).toEqual([]); // no single result frames besides
    client.close();
  });

  it("judges each signature on its own: invalid, unknown, repeated and conflicting ones get their codes", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    await issuer.issueBatch(3);
    const [a, b, c] = await jobsOf(client, 3);
    const sigA = await issuer.sign(a!.signingInput);
    const sigB = await issuer.sign(b!.signingInput);
    // c is signed first on its own; the batch then brings another signature for it.
    expect(await client.call({ type: "sign", id: c!.id, signature: await issuer.sign(c!.signingInput) })).toMatchObject({
      status: "signed",
    });
    const otherForC = await issuer.sign(`${c!.signingInput}x`);
    client.send({
      type: "sign",
      signatures: [
        { id: a!.id, signature: sigA },
        { id: b!.id, signature: sigA }, // a's signature does not verify for b
        { id: "no-such-job", signature: sigA },
        { id: a!.id, signature: sigA }, // the same again: a repeat, 200-like
        { id: c!.id, signature: otherForC }, // a different signature on a signed job
      ],
    });
    const { results } = await client.next("results");
    expect(results).toMatchObject([
      { id: a!.id, status: "signed" },
      { id: b!.id, status: "pending", code: "invalid_signature" },
      { id: "no-such-job", status: "unknown", code: "not_found" },
      { id: a!.id, status: "signed" },
      { id: c!.id, status: "signed", code: "job_already_signed" },
    ]);
    expect(results[3].code).toBeUndefined();
    // b is still open to its own signature.
    expect(await client.call({ type: "sign", id: b!.id, signature: sigB })).toMatchObject({ status: "signed" });
    client.close();
  });

  it("refuses a malformed batch with an error frame and changes nothing; the socket stays open", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    await issuer.issueBatch(1);
    const [job] = await jobsOf(client, 1);
    const sig = await issuer.sign(job!.signingInput);
    for (const bad of [
      { type: "sign", signatures: [] },
      { type: "sign", signatures: [{ id: job!.id }] },
      { type: "sign", signatures: [{ id: job!.id, signature: sig, jws: "a.b.c" }] },
      { type: "sign", signatures: Array.from({ length: 1001 }, () => ({ id: job!.id, signature: sig })) },
      { type: "sign", signatures: "nope" },
    ]) {
      client.send(bad);
      expect(await client.next("error")).toMatchObject({ code: "validation_failed" });
    }
    expect((await api("GET", `/v1/signjobs/${job!.id}`)).body.status).toBe("pending");
    client.send({ type: "sign", signatures: [{ id: job!.id, signature: sig }] });
    expect((await client.next("results")).results).toEqual([{ id: job!.id, status: "signed" }]);
    client.close();
  });
});
