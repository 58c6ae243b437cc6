import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { keygenJwk, openJwkBackend } from "../../signer/src/backends/jwk.js";
import type { BatcherOptions } from "../../signer/src/batcher.js";
import { runSocket } from "../../signer/src/connection.js";
import { defaultKid } from "../../signer/src/didauth.js";
import { JobRunner } from "../../signer/src/jobs.js";
import { Log } from "../../signer/src/log.js";
import { FakeService, until } from "./fake-service.js";
import { credentialPayload } from "./shapes.js";

const DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK";
const KID = defaultKid(DID);
const JOBS = 20;

/** A fake service holding JOBS pending jobs before the daemon connects, and the daemon. */
async function setup(serviceBatches: boolean, batch?: BatcherOptions) {
  const file = join(mkdtempSync(join(tmpdir(), "ssi-signer-b-")), "k.jwk");
  const kg = await keygenJwk("Ed25519", file);
  const backend = await openJwkBackend(file);
  const svc = await new FakeService({ did: DID, kid: KID, jwk: kg.publicKeyJwk, alg: "EdDSA" }).start();
  svc.batches = serviceBatches;
  // The backlog arrives as one `jobs` frame right after `ready`, so its answers come together.
  const jobs = Array.from({ length: JOBS }, (_, i) => svc.addJob(credentialPayload(DID, `did:example:s${i}`)));
  const out: Record<string, unknown>[] = [];
  const err: Record<string, unknown>[] = [];
  const log = new Log(
    (l) => out.push(JSON.parse(l)),
    (l) => err.push(JSON.parse(l)),
  );
  const runner = new JobRunner(backend, { did: DID, kid: KID, concurrency: 4 }, log);
  const stop = new AbortController();
  const done = runSocket(backend, runner, log, {
    url: svc.url,
    auth: { did: DID, kid: KID, aud: svc.url, ttlSeconds: 300 },
    signal: stop.signal,
    backoffBaseMs: 50,
    drainTimeoutMs: 2000,
    ...(batch ? { batch } : {}),
  });
  const signedLines = () => out.filter((l) => l.event === "signed").length;
  return {
    svc,
    jobs,
    out,
    err,
    signedLines,
    stop: async () => {
      stop.abort();
      await done;
      await svc.stop();
    },
  };
}

const batchFrames = (svc: FakeService) => svc.received.filter((m) => m.type === "sign" && Array.isArray(m.signatures));
const singleFrames = (svc: FakeService) => svc.received.filter((m) => m.type === "sign" && typeof m.id === "string");

describe("batched sign frames", () => {
  it("sends the signatures of a backlog in batched frames, each job once, and settles them from one results frame", async () => {
    const t = await setup(true);
    try {
      await until(() => t.jobs.every((j) => t.svc.jobs.get(j.id)!.status === "signed"), 10_000, "all signed");
      await until(() => t.signedLines() === JOBS, 5000, "a signed log line per job from the results frames");
      expect(batchFrames(t.svc).length).toBeGreaterThan(0);
      expect(batchFrames(t.svc).length).toBeLessThan(JOBS);
      for (const j of t.jobs) expect(t.svc.signsFor(j.id)).toBe(1);
      expect(t.err.some((l) => l.event === "batch_unsupported")).toBe(false);
    } finally {
      await t.stop();
    }
  });

  it("falls back to single frames for a service that refuses batched ones, and still signs every job", async () => {
    const t = await setup(false);
    try {
      await until(() => t.jobs.every((j) => t.svc.jobs.get(j.id)!.status === "signed"), 10_000, "all signed");
      await until(() => t.signedLines() === JOBS, 5000, "a signed log line per job");
      expect(t.err.some((l) => l.event === "batch_unsupported")).toBe(true);
      // Every job got a single frame (the batched ones were not understood).
      for (const j of t.jobs) expect(singleFrames(t.svc).filter((m) => m.id === j.id).length).toBe(1);
      // Once fallen back, later jobs go one by one, and the refusals of early batches are not logged as errors.
      const before = batchFrames(t.svc).length;
      const later = [t.svc.addJob(credentialPayload(DID, "did:example:x")), t.svc.addJob(credentialPayload(DID, "did:example:y"))];
      await until(() => later.every((j) => t.svc.jobs.get(j.id)!.status === "signed"), 5000, "later jobs signed");
      expect(batchFrames(t.svc).length).toBe(before);
      expect(t.err.filter((l) => l.event === "service_error")).toEqual([]);
    } finally {
      await t.stop();
    }
  });

  it("sends one frame per signature with a zero window", async () => {
    const t = await setup(true, { windowMs: 0, max: 1000 });
    try {
      await until(() => t.jobs.every((j) => t.svc.jobs.get(j.id)!.status === "signed"), 10_000, "all signed");
      expect(batchFrames(t.svc)).toEqual([]);
      expect(singleFrames(t.svc).length).toBe(JOBS);
    } finally {
      await t.stop();
    }
  });
});
