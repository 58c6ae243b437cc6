/**
 * Overload (api.md "Conventions"): an issuer's object past the work it can take now answers 503
 * `overloaded` with Retry-After at once, before creating anything; nothing hangs, and what it
 * took is created exactly once.
 */
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Load, MAX_ITEMS_IN_FLIGHT, MAX_REQUESTS_IN_FLIGHT } from "../../durable-objects/load";
import { api } from "../support/api";
import { gatedD1, installKeyD1 } from "../support/faults";
import { credentialRequest, externalDid, externalKey, objectQuery, stubOf } from "../support/keys";

describe("overload", () => {
  it("a burst past the object's bound: the excess gets 503 overloaded with Retry-After, every request answers, nothing half-made", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    const gate = gatedD1();
    await installKeyD1(stubOf(issuer.did), gate.wrap);
    // The first create waits for its signing key from D1, and so does every create the object takes after it.
    const first = api("PUT", "/v1/credentials", credentialRequest(issuer, { data: { n: -1 } }));
    await gate.reached;
    const burst = 80;
    const answers = Array.from({ length: burst }, (_, n) => api("PUT", "/v1/credentials", credentialRequest(issuer, { data: { n } })));
    // The refusals come back while the taken ones are still held: shedding does not wait for the backlog.
    const settled: { status: number; retryAfter: string | null; code?: string }[] = [];
    const refusedCount = burst - (MAX_REQUESTS_IN_FLIGHT - 1);
    await new Promise<void>((resolve) => {
      for (const a of answers) {
        void a.then((r) => {
          settled.push({ status: r.status, retryAfter: r.headers.get("retry-after"), code: r.body?.code });
          if (settled.length === refusedCount) resolve();
        });
      }
    });
    expect(settled.every((s) => s.status === 503 && s.code === "overloaded" && s.retryAfter === "1")).toBe(true);
    gate.release();
    const all = [await first, ...(await Promise.all(answers))];
    const statuses = all.map((r) => r.status);
    expect(statuses.filter((s) => s === 202)).toHaveLength(MAX_REQUESTS_IN_FLIGHT);
    expect(statuses.filter((s) => s === 503)).toHaveLength(refusedCount);
    for (const r of all.filter((x) => x.status === 503)) {
      expect(r.headers.get("content-type")).toBe("application/problem+json");
    }
    // Exactly the accepted ones exist, in the object and (once delivered) in D1.
    const jobs = await objectQuery<{ n: number }>(issuer.did, "SELECT count(*) AS n FROM jobs WHERE kind = 'credential'");
    expect(jobs[0]!.n).toBe(MAX_REQUESTS_IN_FLIGHT);
    await runInDurableObject(stubOf(issuer.did), (_i, state) => state.storage.setAlarm(Date.now() + 60_000));
    await runDurableObjectAlarm(stubOf(issuer.did));
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM credential_index WHERE issuer = ?")
      .bind(issuer.did)
      .first<{ n: number }>();
    expect(rows!.n).toBe(MAX_REQUESTS_IN_FLIGHT);
    // Once the load is gone, the refused ones go through on retry.
    const retried = await api("PUT", "/v1/credentials", credentialRequest(issuer));
    expect(retried.status).toBe(202);
  });

  it("the in-flight bound counts credentials too; a lone request is always taken", () => {
    const load = new Load();
    expect(load.admit(1000)).toBe(true);
    for (let i = 0; i < (MAX_ITEMS_IN_FLIGHT - 1000) / 1000; i++) expect(load.admit(1000)).toBe(true);
    expect(load.fits(1)).toBe(false);
    expect(load.admit(1)).toBe(false);
    load.release(1000);
    expect(load.admit(1000)).toBe(true);
    const lone = new Load(1, 10);
    expect(lone.admit(50)).toBe(true);
    expect(lone.admit(1)).toBe(false);
    lone.release(50);
    expect(lone.inFlight).toEqual({ requests: 0, items: 0 });
  });
});
