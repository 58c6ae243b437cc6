/**
 * What a signer's batch of signatures costs per job in the issuer object, applied in turns sized by
 * their work (durable-objects/turns.ts, signature-intake.ts). Each turn is a transaction and a yield
 * (an implicit commit), so besides statements per job the test reports turns: the outbox rows' insert
 * runs once per transaction that projected anything. Deterministic counts, not timing; the bound is
 * today's figure, so a change that adds work per job is seen.
 */
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { externalDid, externalKey } from "../support/keys";
import { meter } from "./meter";

const N = 300;

describe("work in turns: statements per signature", () => {
  it(`a batch of ${N} signatures (PUT /v1/signjobs), the signatures alone`, async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const requests = Array.from({ length: N }, (_, i) => ({
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: `did:example:s${i}`,
      data: { i },
    }));
    expect((await api("PUT", "/v1/credentials/batch", { requests })).status).toBe(202);
    const jobs = (await api("GET", `/v1/signjobs?did=${enc(issuer.did)}&status=pending&pageSize=1000`)).body.signJobs as any[];
    expect(jobs).toHaveLength(N);
    const signatures = await Promise.all(jobs.map(async (j) => ({ id: j.id, signature: await key.sign(j.signingInput) })));
    const m = await meter(issuer.did);
    await m.take();
    const res = await api("PUT", "/v1/signjobs", { signatures });
    expect(res.body.results.every((r: { status: string }) => r.status === "signed")).toBe(true);
    const cost = await m.take();
    const turns = [...cost.bySql].filter(([sql]) => sql.includes("INTO outbox")).reduce((a, [, e]) => a + e.n, 0);
    const perJob = cost.statements / N;
    console.log(JSON.stringify({ path: `${N} signatures, one REST batch`, perJob, turns }));
    expect(perJob).toBeLessThanOrEqual(SIGNATURES_BOUND);
    // 25 EdDSA signatures a turn (TURN_WORK 100, 4 per signature): 12 turns, and no more.
    expect(turns).toBeLessThanOrEqual(Math.ceil(N / 25));
  });
});

// Measured 2026-12-02: 3.16 statements per signature in 12 turns (3.44 in 30 turns of 10 jobs, each
// reading its jobs again).
// 0.22 once a turn's jobs that are their operation's only one are signed and settled with one
// multi-row UPDATE each (Engine.acceptMany), their operations found with one query.
const SIGNATURES_BOUND = 0.3;
