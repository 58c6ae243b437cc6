import { evictDurableObject, listDurableObjectIds, runInDurableObject } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { fingerprint } from "../../src/core/principal";
import { AUTH_TIMEOUT_MS, MAX_UNAUTHENTICATED } from "../../durable-objects/signer-protocol";
import { ORIGIN, TOKEN, api, enc } from "../support/api";
import { SignerClient, connected, externalIssuer, fireAlarm } from "./client";

const connectUrl = (did: string) => `${ORIGIN}/v1/signjobs/connect?did=${enc(did)}`;

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
    // Refused in the same words as any other DID-auth refusal.
    expect(await replay.waitClosed()).toEqual({ code: 4401, reason: "DID-auth token refused" });

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
    const admitted = await issuer.stub.admit(issuer.did, { kind: "did", did: other.did, verificationMethodId: other.vm }, ORIGIN);
    expect(admitted).toMatchObject({ ok: false, code: "forbidden" });
  });

  it("believes no header about who is calling: a forged principal reaching the object is refused", async () => {
    const issuer = await externalIssuer();
    const tokenId = await fingerprint(TOKEN);
    // Straight at the object, as a routing slip would: a principal header, no ticket of its own.
    for (const headers of [
      { "x-ssi-edge-principal": JSON.stringify({ kind: "operator" }) },
      { "x-ssi-edge-principal": JSON.stringify({ kind: "operator", tokenId }) },
      { "x-ssi-edge-admission": crypto.randomUUID() },
    ] as Record<string, string>[]) {
      const direct = await issuer.stub.fetch(new Request(connectUrl(issuer.did), { headers: { Upgrade: "websocket", ...headers } }));
      expect(direct.status, JSON.stringify(headers)).toBe(401);
      expect(direct.webSocket).toBeNull();
    }
    // Through the Worker, a client's own copies of our headers are dropped: the socket is unauthenticated.
    const ticket = await issuer.stub.admit(issuer.did, { kind: "operator", tokenId }, ORIGIN);
    expect(ticket.ok).toBe(true);
    const forged = await exports.default.fetch(
      new Request(connectUrl(issuer.did), {
        headers: {
          Upgrade: "websocket",
          "x-ssi-edge-principal": JSON.stringify({ kind: "operator", tokenId }),
          "x-ssi-edge-admission": ticket.ok ? ticket.value : "",
        },
      }),
    );
    expect(forged.status).toBe(101);
    const ws = forged.webSocket!;
    ws.accept();
    const closed = new Promise<number>((resolve) => ws.addEventListener("close", (ev) => resolve(ev.code)));
    ws.send(JSON.stringify({ type: "sign", id: "x", signature: "AAAA" }));
    expect(await closed).toBe(4401);
  });

  it("an admission ticket opens one socket, once", async () => {
    const issuer = await externalIssuer();
    const ticket = await issuer.stub.admit(issuer.did, { kind: "operator", tokenId: await fingerprint(TOKEN) }, ORIGIN);
    if (!ticket.ok) throw new Error("not admitted");
    const request = () => new Request(connectUrl(issuer.did), { headers: { Upgrade: "websocket", "x-ssi-edge-admission": ticket.value } });
    const first = await issuer.stub.fetch(request());
    expect(first.status).toBe(101);
    first.webSocket!.accept();
    expect((await issuer.stub.fetch(request())).status).toBe(401);
  });

  it(`keeps at most ${MAX_UNAUTHENTICATED} sockets per issuer waiting for first-message auth`, async () => {
    const issuer = await externalIssuer();
    const waiting = [];
    for (let i = 0; i < MAX_UNAUTHENTICATED; i++) waiting.push(await SignerClient.open(issuer.did, null));
    const refused = await api("GET", `/v1/signjobs/connect?did=${enc(issuer.did)}`, undefined, {
      auth: null,
      headers: { Upgrade: "websocket" },
    });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe(String(AUTH_TIMEOUT_MS / 1000));
    expect(refused.body).toMatchObject({ code: "rate_limited" });
    // Authenticated sockets are not capped, and one that authenticates frees a place.
    expect((await connected(issuer, `Bearer ${TOKEN}`)).ready.type).toBe("ready");
    waiting[0]!.send({ type: "auth", token: `Bearer ${TOKEN}` });
    await waiting[0]!.next("ready");
    expect((await SignerClient.open(issuer.did, null)).closed).toBeNull();
  });

  it("an unknown DID's socket is refused before any object is touched", async () => {
    const did = `did:key:z6Mk${"a".repeat(44)}`;
    const res = await api("GET", `/v1/signjobs/connect?did=${enc(did)}`, undefined, { auth: null, headers: { Upgrade: "websocket" } });
    expect(res.status).toBe(404);
    const id = env.ISSUER.idFromName(did);
    expect((await listDurableObjectIds(env.ISSUER)).some((o) => o.equals(id))).toBe(false);
  });

  it("closes a silent socket with 4401 when the alarm fires for its deadline, even if the clock then reads a hair earlier", async () => {
    const issuer = await externalIssuer();
    const before = Date.now();
    const silent = await SignerClient.open(issuer.did, null);
    const alarm = await runInDurableObject(issuer.stub, (_, state) => state.storage.getAlarm());
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(Date.now() + AUTH_TIMEOUT_MS);
    expect(alarm!).toBeGreaterThanOrEqual(before + AUTH_TIMEOUT_MS);
    expect(silent.closed).toBeNull();
    expect(await fireAlarm(issuer)).toBe(alarm);
    expect(await silent.waitClosed()).toMatchObject({ code: 4401, reason: expect.stringContaining("no auth message") });
  });

  it("an alarm run by hand long before the deadline closes nothing and stays armed for it", async () => {
    const issuer = await externalIssuer();
    const silent = await SignerClient.open(issuer.did, null);
    const alarm = await runInDurableObject(issuer.stub, (_, state) => state.storage.getAlarm());
    expect(await fireAlarm(issuer, AUTH_TIMEOUT_MS / 2)).toBe(alarm);
    expect(await runInDurableObject(issuer.stub, (_, state) => state.storage.getAlarm())).toBe(alarm);
    silent.send({ type: "auth", token: `Bearer ${TOKEN}` });
    expect(await silent.next("ready")).toMatchObject({ type: "ready" });
  });
});

describe("a socket's principal is checked again while it is open", () => {
  it("a token removed from API_TOKENS signs nothing more: the next frame closes the socket with 4401", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer, "Bearer second-token");
    const op = await issuer.issue();
    const [job] = (await client.next("jobs")).jobs;
    // What an operator does by editing the secret; the object reads the same env.
    const configured = env.API_TOKENS;
    await runInDurableObject(issuer.stub, (instance) => {
      (instance as unknown as { env: Env }).env.API_TOKENS = TOKEN;
    });
    try {
      client.send({ type: "sign", id: job.id, signature: await issuer.sign(job.signingInput) });
      expect(await client.waitClosed()).toMatchObject({ code: 4401, reason: expect.stringContaining("no longer valid") });
      expect((await api("GET", `/v1/operations/${op.id}`)).body.done).toBe(false);
    } finally {
      await runInDurableObject(issuer.stub, (instance) => {
        (instance as unknown as { env: Env }).env.API_TOKENS = configured;
      });
    }
  });

  it("revoking the key a signer authenticated with closes its socket with 4401; other signers stay", async () => {
    const issuer = await externalIssuer();
    const didSigner = (await connected(issuer)).client;
    const operator = (await connected(issuer, `Bearer ${TOKEN}`)).client;
    expect((await api("DELETE", `/v1/keys/${enc(issuer.vm)}`)).status).toBe(204);
    expect(await didSigner.waitClosed()).toMatchObject({ code: 4401, reason: expect.stringContaining("revoked") });
    // The operator's socket is still good: it gets answers, not a close.
    expect(await operator.call({ type: "reject", id: "nope", reason: "x" })).toMatchObject({ code: "not_found" });
  });

  it("deleting the DID closes every socket of it with 4403, waiting ones too", async () => {
    const issuer = await externalIssuer();
    const didSigner = (await connected(issuer)).client;
    const operator = (await connected(issuer, `Bearer ${TOKEN}`)).client;
    const waiting = await SignerClient.open(issuer.did, null);
    expect((await api("DELETE", `/v1/dids/key/${enc(issuer.did)}`)).status).toBe(204);
    for (const s of [didSigner, operator, waiting]) expect((await s.waitClosed()).code).toBe(4403);
    // And it cannot come back.
    const again = await api("GET", `/v1/signjobs/connect?did=${enc(issuer.did)}`, undefined, {
      auth: `Bearer ${TOKEN}`,
      headers: { Upgrade: "websocket" },
    });
    expect(again.status).toBe(404);
  });

  it("a socket that missed the revocation (the object was restarted) is refused at its next frame", async () => {
    const issuer = await externalIssuer();
    const { client } = await connected(issuer);
    // The revocation as the object records it, without the close it also sends at once.
    await runInDurableObject(issuer.stub, (_, state) => {
      state.storage.sql.exec("UPDATE keys SET revoked = 1");
      state.storage.sql.exec("INSERT OR REPLACE INTO meta (k, v) VALUES ('auth_epoch', '99')");
    });
    await evictDurableObject(issuer.stub, { webSockets: "hibernate" });
    client.send({ type: "reject", id: "nope", reason: "x" });
    expect(await client.waitClosed()).toMatchObject({ code: 4401 });
  });
});
