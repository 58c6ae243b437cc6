/**
 * An issuer object reset under a call (a crash, a deploy) is temporary: the client gets 503 with
 * Retry-After, never a 500, and what the object committed before it died stands.
 */
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { crashOnDelivery, installOutboxD1 } from "../support/faults";
import { credentialRequest, externalDid, externalKey, issuePending, objectQuery, stubOf } from "../support/keys";

describe("an object reset under a call", () => {
  it("a signature whose object dies after committing it: 503 issuer_unavailable with Retry-After; the retry is 200 with the same JWT", async () => {
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    const { job } = await issuePending(issuer);
    const crash = crashOnDelivery();
    await installOutboxD1(stubOf(issuer.did), crash.wrap);
    const signature = await key.sign(job.signingInput);
    const res = await api("PUT", "/v1/signjobs", { id: job.id, signature });
    await crash.crashed;
    expect(res.status, JSON.stringify(res.body)).toBe(503);
    expect(res.body.code).toBe("issuer_unavailable");
    expect(res.headers.get("retry-after")).toBe("1");
    const again = await api("PUT", "/v1/signjobs", { id: job.id, signature });
    expect(again.status).toBe(200);
    expect(again.body.status).toBe("signed");
    expect(again.body.jwt).toBe(`${job.signingInput}.${signature}`);
  });

  // The route-level twin (a crash after the commit, retried by the service without a duplicate) is in
  // test/credentials/idempotency.test.ts; this one checks the object's side of the service's own key.
  it("a claim marked fresh skips the look-up; the same claim unmarked (the route's retry) answers the record instead of creating again", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    const stub = stubOf(issuer.did) as unknown as {
      createArtifacts(input: unknown): Promise<{ ok: boolean; value: { operations: { id: string }[]; replayed: boolean } }>;
    };
    const claim = { scope: "internal", key: crypto.randomUUID(), fingerprint: "f".repeat(64), ttlMs: 600_000 };
    const input = (idempotency: unknown) => ({
      did: issuer.did,
      verificationMethodId: issuer.vmId,
      origin: "https://issuer.test",
      artifacts: [{ kind: "credential", input: credentialRequest(issuer) }],
      idempotency,
    });
    const first = await stub.createArtifacts(input({ ...claim, fresh: true }));
    expect(first.ok).toBe(true);
    const retry = await stub.createArtifacts(input(claim));
    expect(retry.ok).toBe(true);
    expect(retry.value.replayed).toBe(true);
    expect(retry.value.operations.map((o) => o.id)).toEqual(first.value.operations.map((o) => o.id));
    expect(await objectQuery(issuer.did, "SELECT count(*) AS n FROM jobs")).toEqual([{ n: 1 }]);
  });
});
