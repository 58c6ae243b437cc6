import { describe, expect, it } from "vitest";
import { MAX_IN_FLIGHT } from "../../durable-objects/leases";
import { api } from "../support/api";
import { connected, externalIssuer } from "./client";

describe("flow control", () => {
  it("a signer reconnecting to a large backlog holds at most MAX_IN_FLIGHT jobs, topped up as they are signed", async () => {
    const issuer = await externalIssuer();
    await issuer.issueBatch(1000);
    await issuer.issueBatch(200);
    const { client, ready } = await connected(issuer);
    expect(ready.pending).toBe(1200);

    // The backlog goes out with `ready`; the frames before a probe's answer are all of it.
    const frames = await client.drain();
    expect(frames.every((f) => f.type === "jobs")).toBe(true);
    const offered: any[] = frames.flatMap((f) => f.jobs);
    expect(offered).toHaveLength(MAX_IN_FLIGHT);
    expect(new Set(offered.map((j) => j.id)).size).toBe(MAX_IN_FLIGHT);

    // Signing 600 of them (here over REST) frees room: the rest of the backlog follows, once each.
    const signatures = await Promise.all(
      offered.slice(0, 600).map(async (j) => ({ id: j.id, signature: await issuer.sign(j.signingInput) })),
    );
    const res = await api("PUT", "/v1/signjobs", { signatures });
    expect(res.body.results.every((r: any) => r.status === "signed")).toBe(true);
    // The top-up goes out while the signing request runs.
    const more: any[] = (await client.drain()).flatMap((f) => f.jobs);
    expect(more).toHaveLength(200);
    const all = new Set([...offered, ...more].map((j) => j.id));
    expect(all.size).toBe(1200);
  });
});
