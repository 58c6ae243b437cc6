/**
 * An issuer object reset under a call (a crash, a deploy) is temporary: the client gets 503 with
 * Retry-After, never a 500, and what the object committed before it died stands.
 */
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { crashOnDelivery, installOutboxD1 } from "../support/faults";
import { externalDid, externalKey, issuePending, stubOf } from "../support/keys";

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
});
