/**
 * SQLite statements per credential on the create-and-sign path, counted in the issuer object
 * (bench/README.md reports the figures). The bounds are today's counts, so that a change that adds
 * statements per credential is seen; the aim (issue 10) is at most 5. The cost includes the
 * outbox's delivery round (meter.ts waits for it).
 */
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { custodialDid, externalDid, externalKey, pendingJobs, type Issuer } from "../support/keys";
import { meter, type Cost } from "./meter";

const N = 100;

const batch = (issuer: Issuer, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    issuer: issuer.did,
    verificationMethodId: issuer.vmId,
    subject: `did:example:s${i}`,
    data: { i },
  }));

function perCredential(cost: Cost): { statements: number; writes: number; top: string[] } {
  const top = [...cost.bySql]
    .sort((a, b) => b[1].n - a[1].n)
    .slice(0, 12)
    .map(([sql, e]) => `${(e.n / N).toFixed(2)}× ${sql.slice(0, 120)}`);
  return { statements: cost.statements / N, writes: cost.rowsWritten / N, top };
}

describe("statements per credential", () => {
  it("custodial: a batch of 100 created and signed", async () => {
    const issuer = await custodialDid("Ed25519");
    expect((await api("PUT", "/v1/credentials/batch", { requests: batch(issuer, 10) })).status).toBe(201);
    const m = await meter(issuer.did);
    await m.take();
    expect((await api("PUT", "/v1/credentials/batch", { requests: batch(issuer, N) })).status).toBe(201);
    const c = perCredential(await m.take());
    console.log(JSON.stringify({ path: "custodial batch", perCredential: c }, null, 1));
    expect(c.statements).toBeLessThanOrEqual(CUSTODIAL_BOUND);
  });

  it("external: a batch of 100 created, then signed with one PUT /v1/signjobs", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    expect((await api("PUT", "/v1/credentials/batch", { requests: batch(issuer, 10) })).status).toBe(202);
    const warm = await pendingJobs(issuer.did);
    await api("PUT", "/v1/signjobs", {
      signatures: await Promise.all(warm.map(async (j) => ({ id: j.id, signature: await key.sign(j.signingInput) }))),
    });
    const m = await meter(issuer.did);
    await m.take();
    expect((await api("PUT", "/v1/credentials/batch", { requests: batch(issuer, N) })).status).toBe(202);
    const page = await api("GET", `/v1/signjobs?did=${encodeURIComponent(issuer.did)}&status=pending&pageSize=${N}`);
    const all = page.body.signJobs as { id: string; signingInput: string }[];
    expect(all).toHaveLength(N);
    const signatures = await Promise.all(all.map(async (j) => ({ id: j.id, signature: await key.sign(j.signingInput) })));
    const res = await api("PUT", "/v1/signjobs", { signatures });
    expect(res.status).toBe(200);
    expect(res.body.results.every((r: { status: string }) => r.status === "signed")).toBe(true);
    const c = perCredential(await m.take());
    console.log(JSON.stringify({ path: "external batch + REST batch signatures", perCredential: c }, null, 1));
    expect(c.statements).toBeLessThanOrEqual(EXTERNAL_BOUND);
  });
});

// Measured 2026-12-02: 3.59 (custodial) and 3.76 (external, REST batch signatures); 21.4 and 29.4
// before jobs, operations, outbox and audit rows were written as one multi-row statement per
// transaction and operations were projected from the rows in hand. The aim (issue 10) is at most 5.
// Custodial 3.22 once a credential had one outbox row, not two (no D1 `credentials` row); 3.20 once
// a change's delivery sends its rows from memory (no read-back of the outbox: in a batch that was
// one statement per round, so the count barely moves; the bytes read and parsed do).
// 2.08 once a custodial create's operations, each with its one job, are settled from the rows the
// create wrote (Engine.lastCreate) instead of reading each operation with its jobs' states.
// 0.10 (ten statements for the hundred) once those jobs and operations, each the other's only one, are
// moved to signed and done with one multi-row UPDATE each (Engine.acceptSoles).
const CUSTODIAL_BOUND = 0.15;
// External 3.63 since a batch of signatures is applied in turns of 10 (durable-objects/turns.ts):
// each turn re-reads its jobs and writes its outbox, audit and lease rows once, so a create waiting
// on the object is let in between turns (test/rotation/turns.test.ts). The price of that bound.
// 0.31 once a turn's signatures are applied with Engine.acceptMany (multi-row UPDATEs).
const EXTERNAL_BOUND = 0.4;
