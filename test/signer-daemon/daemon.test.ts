import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SigningBackend } from "../../signer/src/backend.js";
import { keygenJwk, openJwkBackend } from "../../signer/src/backends/jwk.js";
import { keygenPkcs11, openPkcs11Backend } from "../../signer/src/backends/pkcs11.js";
import { createServer } from "node:net";
import { runSocket } from "../../signer/src/connection.js";
import { defaultKid } from "../../signer/src/didauth.js";
import { JobRunner } from "../../signer/src/jobs.js";
import { Log } from "../../signer/src/log.js";
import type { Policy } from "../../signer/src/policy.js";
import { runPoll } from "../../signer/src/poll.js";
import { FakeService, until } from "./fake-service.js";
import { credentialPayload, statusListPayload } from "./shapes.js";
import { PIN, SOFTHSM_MODULE, TOKEN, freshToken, softhsmAvailable } from "./softhsm.js";

const DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
const KID = defaultKid(DID);
const POLICY: Policy = { kinds: ["credential", "status-list"], subjects: ["did:example:alice"] };
const hsm = softhsmAvailable();

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** An in-process daemon: the same runSocket/runPoll the CLI uses, with logs captured. */
function startDaemon(backend: SigningBackend, svc: FakeService, mode: "socket" | "poll", policy?: Policy, ttlSeconds = 300) {
  const out: Record<string, unknown>[] = [];
  const err: Record<string, unknown>[] = [];
  const log = new Log(
    (l) => out.push(JSON.parse(l)),
    (l) => err.push(JSON.parse(l)),
  );
  const runner = new JobRunner(backend, { did: DID, kid: KID, concurrency: 4, ...(policy ? { policy } : {}) }, log);
  const stop = new AbortController();
  const auth = { did: DID, kid: KID, aud: svc.url, ttlSeconds };
  const done =
    mode === "socket"
      ? runSocket(backend, runner, log, {
          url: svc.url,
          auth,
          signal: stop.signal,
          backoffBaseMs: 50,
          drainTimeoutMs: 2000,
        })
      : runPoll(backend, runner, log, { url: svc.url, auth, signal: stop.signal, intervalMs: 50 });
  return { out, err, runner, stop: async () => (stop.abort(), await done) };
}

const credential = (sub: string, schemaId?: string) => credentialPayload(DID, sub, schemaId ? { schemaId } : {});

async function jwkKey() {
  const file = join(mkdtempSync(join(tmpdir(), "ssi-signer-d-")), "k.jwk");
  const kg = await keygenJwk("Ed25519", file);
  return { file, jwk: kg.publicKeyJwk, backend: await openJwkBackend(file) };
}

describe("socket mode against a fake service", () => {
  let svc: FakeService;
  let daemon: ReturnType<typeof startDaemon>;
  let backend: SigningBackend;
  let backlog: string[];

  beforeAll(async () => {
    const key = await jwkKey();
    backend = key.backend;
    svc = await new FakeService({ did: DID, kid: KID, jwk: key.jwk, alg: "EdDSA" }).start();
    backlog = [svc.addJob(credential("did:example:alice")).id, svc.addJob(statusListPayload(DID), "status-list").id];
    daemon = startDaemon(backend, svc, "socket", POLICY);
  });
  afterAll(async () => {
    await daemon.stop();
    await svc.stop();
  });

  it("authenticates with a DID-auth JWT and signs the backlog", async () => {
    await until(() => backlog.every((id) => svc.jobs.get(id)!.status === "signed"), 10_000, "backlog signed");
    expect(svc.authOk).toBe(1);
    expect(svc.authFailed).toBe(0);
    expect(svc.received[0]).toMatchObject({ type: "auth" });
    await until(() => daemon.out.filter((l) => l.event === "signed").length === 2, 5000, "signed log lines");
    expect(daemon.out.find((l) => l.id === backlog[1])).toMatchObject({
      event: "signed",
      kind: "status-list",
      alg: "EdDSA",
      ms: expect.any(Number),
      ts: expect.any(String),
    });
  });

  it("signs a job pushed later", async () => {
    const job = svc.addJob(credential("did:example:alice"));
    await until(() => svc.jobs.get(job.id)!.status === "signed", 5000, "pushed job signed");
  });

  it("rejects a job outside the policy, with a reason", async () => {
    const bob = svc.addJob(credential("did:example:bob"));
    const kind = svc.addJob({ iss: DID, name: "m" }, "manifest");
    await until(() => svc.jobs.get(bob.id)!.status === "rejected" && svc.jobs.get(kind.id)!.status === "rejected");
    expect(svc.jobs.get(bob.id)!.reason).toMatch(/subject "did:example:bob" not allowed/);
    expect(svc.jobs.get(kind.id)!.reason).toMatch(/kind "manifest" not allowed/);
    expect(svc.signsFor(bob.id)).toBe(0);
    await until(() => daemon.out.some((l) => l.id === bob.id && l.event === "rejected"));
  });

  it("survives malformed frames from the service", async () => {
    svc.broadcast("this is not json");
    svc.broadcast({ type: "bogus" });
    svc.broadcast({ type: "jobs", jobs: [{ id: 42 }, "nope"] });
    svc.broadcast({ type: "result" });
    const job = svc.addJob(credential("did:example:alice"));
    await until(() => svc.jobs.get(job.id)!.status === "signed", 5000, "job after garbage");
    expect(daemon.err.filter((l) => l.event === "bad_frame").length).toBeGreaterThanOrEqual(3);
    expect(daemon.err.some((l) => l.event === "bad_job")).toBe(true);
  });

  // Frames are handled in order, and a job the daemon skips is skipped before the next job's
  // signature can be made: a job sent after it and signed is the event that says "handled".
  const sentinel = async () => {
    const job = svc.addJob(credential("did:example:alice"));
    await until(() => svc.jobs.get(job.id)!.status === "signed", 5000, "sentinel job signed");
  };

  it("does not sign a job twice when it is offered again", async () => {
    const job = svc.addJob(credential("did:example:alice"));
    await until(() => svc.jobs.get(job.id)!.status === "signed");
    svc.broadcast({ type: "jobs", jobs: [job] });
    await sentinel();
    expect(svc.signsFor(job.id)).toBe(1);
  });

  it("skips a job cancelled before it arrives", async () => {
    const id = "cancelled-job";
    svc.broadcast({ type: "cancelled", ids: [id] });
    const job = svc.addJob(credential("did:example:alice"));
    svc.jobs.delete(job.id);
    svc.broadcast({ type: "jobs", jobs: [{ ...job, id }] });
    await sentinel();
    expect(svc.signsFor(id)).toBe(0);
    expect(svc.received.filter((m) => m.id === id)).toEqual([]);
  });

  it("reconnects with a fresh token after the service drops the socket, then gets the backlog", async () => {
    svc.dropAll();
    const job = svc.addJob(credential("did:example:alice")); // created while nobody is connected
    await until(() => svc.authOk === 2, 10_000, "re-auth");
    await until(() => svc.jobs.get(job.id)!.status === "signed", 5000, "backlog after reconnect");
    expect(svc.authFailed).toBe(0); // a replayed jti would have failed
    expect(daemon.err.some((l) => l.event === "disconnected")).toBe(true);
  });
});

describe("a service that is down when the daemon starts", () => {
  it("counts the refused connection as a disconnect, backs off, and connects once it is up", async () => {
    const key = await jwkKey();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const out: Record<string, unknown>[] = [];
    const err: Record<string, unknown>[] = [];
    const log = new Log(
      (l) => out.push(JSON.parse(l)),
      (l) => err.push(JSON.parse(l)),
    );
    const runner = new JobRunner(key.backend, { did: DID, kid: KID, concurrency: 1 }, log);
    const stop = new AbortController();
    const done = runSocket(key.backend, runner, log, {
      url,
      auth: { did: DID, kid: KID, aud: url, ttlSeconds: 300 },
      signal: stop.signal,
      backoffBaseMs: 50,
      backoffCapMs: 200,
    });
    const svc = new FakeService({ did: DID, kid: KID, jwk: key.jwk, alg: "EdDSA" });
    try {
      await until(() => err.filter((l) => l.event === "disconnected").length >= 2, 10_000, "refused twice");
      await svc.start(port);
      await until(() => svc.authOk === 1, 10_000, "connected once the service is up");
    } finally {
      stop.abort();
      await done;
      await svc.stop();
    }
  });
});

describe("token refresh", () => {
  it("reconnects with a new DID-auth JWT before the current one expires", async () => {
    const key = await jwkKey();
    const svc = await new FakeService({ did: DID, kid: KID, jwk: key.jwk, alg: "EdDSA" }).start();
    const daemon = startDaemon(key.backend, svc, "socket", undefined, 3);
    try {
      await until(() => svc.authOk >= 2, 8000, "second auth");
      expect(svc.closes[0]).toEqual({ code: 1000, reason: "token refresh" });
      expect(svc.authFailed).toBe(0);
      const job = svc.addJob(credential("did:example:alice"));
      await until(() => svc.jobs.get(job.id)!.status === "signed", 5000, "job after refresh");
    } finally {
      await daemon.stop();
      await svc.stop();
    }
  });
});

describe("poll mode against a fake service", () => {
  it("lists, signs in a batch PUT, rejects by policy, with a fresh JWT per request", async () => {
    const key = await jwkKey();
    const svc = await new FakeService({ did: DID, kid: KID, jwk: key.jwk, alg: "EdDSA" }).start();
    const ok = [svc.addJob(credential("did:example:alice")), svc.addJob(credential("did:example:alice"))];
    const bad = svc.addJob(credential("did:example:mallory"));
    const daemon = startDaemon(key.backend, svc, "poll", POLICY);
    try {
      await until(() => ok.every((j) => svc.jobs.get(j.id)!.status === "signed"), 5000, "poll signed");
      await until(() => svc.jobs.get(bad.id)!.status === "rejected", 5000, "poll rejected");
      expect(svc.jobs.get(bad.id)!.reason).toMatch(/mallory/);
      const batches = svc.received.filter((m) => m.type === "http-batch");
      expect(batches[0]).toMatchObject({
        signatures: expect.arrayContaining([{ id: ok[0]!.id, signature: expect.any(String) }]),
      });
      const later = svc.addJob(credential("did:example:alice"));
      await until(() => svc.jobs.get(later.id)!.status === "signed", 5000, "later job");
      expect(svc.httpAuthOk).toBeGreaterThan(3);
      // The service marks a job signed before the daemon reads the answer and logs it.
      const signedLines = () => daemon.out.filter((l) => l.event === "signed").length;
      await until(() => signedLines() >= 3, 5000, "the daemon logs the later job");
      expect(signedLines()).toBe(3);
      expect(daemon.out.filter((l) => l.event === "rejected").length).toBe(1);
    } finally {
      await daemon.stop();
      await svc.stop();
    }
  });
});

describe.skipIf(!hsm)("socket mode with the pkcs11 backend", () => {
  it("signs ES256 jobs with a SoftHSM2 key", async () => {
    freshToken();
    const opts = { module: SOFTHSM_MODULE, token: TOKEN, pin: PIN, keyLabel: "issuer" };
    const kg = await keygenPkcs11(opts, "P-256");
    const backend = await openPkcs11Backend({ ...opts, sessions: 2 });
    const svc = await new FakeService({
      did: DID,
      kid: KID,
      jwk: kg.publicKeyJwk,
      alg: "ES256",
    }).start();
    const jobs = Array.from({ length: 5 }, () => svc.addJob(credential("did:example:alice")));
    const daemon = startDaemon(backend, svc, "socket");
    try {
      await until(() => jobs.every((j) => svc.jobs.get(j.id)!.status === "signed"), 10_000, "ES256 jobs");
      expect(svc.authOk).toBe(1);
    } finally {
      await daemon.stop();
      await svc.stop();
      await backend.close();
    }
  });
});
