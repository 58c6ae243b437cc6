import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { AUTH_TIMEOUT_MS } from "../../durable-objects/signer-protocol";
import { ORIGIN, TOKEN, api, enc } from "../helpers";
import { SignerClient, connected, externalIssuer } from "./client";

describe("signer socket authentication", () => {
  it("accepts the Authorization header (Bearer and DID) and says ready", async () => {
    const issuer = await externalIssuer();
    const bearer = await SignerClient.open(issuer.did, `Bearer ${TOKEN}`);
    expect(await bearer.next("ready")).toEqual({ type: "ready", did: issuer.did, pending: 0 });
    const didAuth = await SignerClient.open(issuer.did, `DID ${await issuer.didJwt()}`);
    expect(await didAuth.next("ready")).toEqual({ type: "ready", did: issuer.did, pending: 0 });
    bearer.send("ping");
    expect(await bearer.next("pong")).toBe("pong");
  });

  it("accepts a first auth message with a Bearer token or a DID-auth JWT", async () => {
    const issuer = await externalIssuer();
    const bearer = await SignerClient.open(issuer.did, null);
    bearer.send({ type: "auth", token: `Bearer ${TOKEN}` });
    expect(await bearer.next("ready")).toMatchObject({ type: "ready", did: issuer.did });
    const { ready } = await connected(issuer);
    expect(ready).toEqual({ type: "ready", did: issuer.did, pending: 0 });
  });

  it("closes with 4401 on a bad token, a replayed jti, another DID's JWT or a message before auth", async () => {
    const issuer = await externalIssuer();
    const other = await externalIssuer();

    const bad = await SignerClient.open(issuer.did, null);
    bad.send({ type: "auth", token: "Bearer not-a-token" });
    expect((await bad.waitClosed()).code).toBe(4401);

    const jwt = await issuer.didJwt();
    const first = await SignerClient.open(issuer.did, null);
    first.send({ type: "auth", token: `DID ${jwt}` });
    await first.next("ready");
    const replay = await SignerClient.open(issuer.did, null);
    replay.send({ type: "auth", token: `DID ${jwt}` });
    expect(await replay.waitClosed()).toMatchObject({ code: 4401, reason: expect.stringContaining("replayed") });

    const foreign = await SignerClient.open(issuer.did, null);
    foreign.send({ type: "auth", token: `DID ${await other.didJwt()}` });
    expect((await foreign.waitClosed()).code).toBe(4401);

    const eager = await SignerClient.open(issuer.did, null);
    eager.send({ type: "sign", id: "x", signature: "AAAA" });
    expect((await eager.waitClosed()).code).toBe(4401);
  });

  it("refuses a DID principal of another DID, at the route and in the object", async () => {
    const issuer = await externalIssuer();
    const other = await externalIssuer();
    const res = await api("GET", `/v1/signjobs/connect?did=${enc(issuer.did)}`, undefined, {
      auth: `DID ${await other.didJwt()}`,
      headers: { Upgrade: "websocket" },
    });
    expect(res.status).toBe(403);
    // The object does not rely on the route alone.
    const direct = await issuer.stub.fetch(
      new Request(`${ORIGIN}/v1/signjobs/connect?did=${enc(issuer.did)}`, {
        headers: {
          Upgrade: "websocket",
          "x-ssi-edge-principal": JSON.stringify({ kind: "did", did: other.did, verificationMethodId: other.vm }),
        },
      }),
    );
    expect(direct.status).toBe(403);
  });

  it("closes a silent socket with 4401 when its 10 s deadline passes, driven by the alarm", async () => {
    const issuer = await externalIssuer();
    const before = Date.now();
    const silent = await SignerClient.open(issuer.did, null);
    const alarm = await runInDurableObject(issuer.stub, (_, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(Date.now() + AUTH_TIMEOUT_MS);
    expect(alarm!).toBeGreaterThanOrEqual(before + AUTH_TIMEOUT_MS);

    // An early alarm closes nothing and re-arms for the deadline.
    await runDurableObjectAlarm(issuer.stub);
    expect(await silent.receives("ready", 100)).toBe(false);
    expect(silent.closed).toBeNull();
    expect(await runInDurableObject(issuer.stub, (_, state) => state.storage.getAlarm())).toBe(alarm);

    // Time cannot be moved in workerd: move the deadline instead, as if 10 s had gone by.
    await runInDurableObject(issuer.stub, (_, state) => {
      for (const ws of state.getWebSockets()) {
        ws.serializeAttachment({ ...ws.deserializeAttachment(), authDeadline: Date.now() - 1 });
      }
    });
    expect(await runDurableObjectAlarm(issuer.stub)).toBe(true);
    expect((await silent.waitClosed()).code).toBe(4401);
  });
});
