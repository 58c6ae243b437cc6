/**
 * An operation may own several jobs (a manifest approval: N credentials and one credential
 * response). No real kind does that yet, so a kind that exists only in this test does: the engine
 * rule must hold for any kind, done when every job is signed, failed as soon as one ends unsigned.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { Engine, type EngineParts } from "../../durable-objects/engine";
import type { IssuerObject } from "../../durable-objects/issuer";
import { KINDS } from "../../durable-objects/kinds";
import { SignatureIntake } from "../../durable-objects/signature-intake";
import { defineKind } from "../../src/core/kinds";
import type { IssuerKey } from "../../src/core/models";
import { externalDid, externalKey, stubOf, type ExternalKey, type Issuer } from "../support/keys";

/** One part of a larger artifact: its claims are just its number. */
const partKind = defineKind({
  kind: "test-part",
  input: z.object({ n: z.number() }),
  context: z.object({ n: z.number() }),
  prepare: (ctx, { n }) => ({ operationId: ctx.operationId ?? `tests/${n}`, header: { typ: "JWT" }, payload: { n }, context: { n } }),
  finalise: (_ctx, job, jwt) => ({ n: job.context.n, jwt }),
});

type Parts = {
  engine: { parts: EngineParts };
  meta: { bind(did: string): void };
  keys: { get(id: string): Promise<IssuerKey | null> };
  ctx: DurableObjectState;
};

/** Runs `fn` inside the issuer object with an engine that knows the test kind besides the real ones. */
function withEngine<T>(issuer: Issuer, fn: (engine: Engine, key: IssuerKey, objectId: string) => Promise<T>): Promise<T> {
  return runInDurableObject(stubOf(issuer.did), async (object: IssuerObject) => {
    const o = object as unknown as Parts;
    const engine = new Engine({ ...o.engine.parts, kinds: { ...KINDS, "test-part": partKind } });
    // A new DID's object learns its DID from the first call (every RPC entry point binds it).
    o.meta.bind(issuer.did);
    return fn(engine, (await o.keys.get(issuer.vmId))!, o.ctx.id.toString());
  });
}

async function group(key: ExternalKey, n: number) {
  const issuer = await externalDid(key);
  const operationId = `tests/group-${crypto.randomUUID()}`;
  const jobs = await withEngine(issuer, async (engine, k, objectId) => {
    const artifacts = Array.from({ length: n }, (_, i) => ({ kind: "test-part", input: { n: i } }));
    const created = engine.create(k, "http://ssi.test", artifacts, objectId, { operationId });
    expect(created.operationIds).toEqual([operationId]);
    return created.jobs.map((j) => ({ id: j.id, signingInput: j.signing_input }));
  });
  const sign = (i: number) =>
    withEngine(issuer, async (engine) =>
      new SignatureIntake(engine).submit(jobs[i]!.id, { signature: await key.sign(jobs[i]!.signingInput) }, ""),
    );
  const state = () =>
    withEngine(issuer, async (engine) => ({
      operation: engine.views.operation(operationId)!,
      statuses: jobs.map((j) => engine.jobs.get(j.id)!.status),
    }));
  return { issuer, operationId, jobs, sign, state };
}

describe("an operation of several jobs", () => {
  it("is done only when every job is signed, with each job's response in job order", async () => {
    const key = await externalKey("Ed25519");
    const g = await group(key, 3);
    expect((await g.sign(0)).ok).toBe(true);
    expect((await g.sign(2)).ok).toBe(true);
    expect((await g.state()).operation.done).toBe(false);
    expect((await g.sign(1)).ok).toBe(true);
    const { operation, statuses } = await g.state();
    expect(statuses).toEqual(["signed", "signed", "signed"]);
    expect(operation.done).toBe(true);
    expect(operation.signJobs).toEqual(g.jobs.map((j) => j.id));
    const results = (operation.result!.response as { results: { n: number; jwt: string }[] }).results;
    expect(results.map((r) => r.n)).toEqual([0, 1, 2]);
    expect(results[1]!.jwt.startsWith(g.jobs[1]!.signingInput)).toBe(true);
  });

  it("fails when one job is rejected, and its pending siblings are cancelled (the signed one stays signed)", async () => {
    const key = await externalKey("P-256");
    const g = await group(key, 3);
    expect((await g.sign(0)).ok).toBe(true);
    const rejected = await withEngine(g.issuer, async (engine) => new SignatureIntake(engine).reject(g.jobs[1]!.id, "not this one"));
    expect(rejected).toMatchObject({ ok: true, value: { status: "rejected" } });
    const { operation, statuses } = await g.state();
    expect(statuses).toEqual(["signed", "rejected", "cancelled"]);
    expect(operation).toMatchObject({ done: true, result: { code: "rejected_by_signer", error: "not this one" } });
    expect(await g.sign(2)).toMatchObject({ ok: false, code: "job_not_pending" });
  });

  it("fails with expired when one job expires, and a reject past expiry expires it as a signature would", async () => {
    const key = await externalKey("Ed25519");
    const g = await group(key, 2);
    await runInDurableObject(stubOf(g.issuer.did), (_o, state) => {
      state.storage.sql.exec("UPDATE jobs SET expires_at = ? WHERE id = ?", Date.now() - 1, g.jobs[0]!.id);
    });
    const late = await withEngine(g.issuer, async (engine) => new SignatureIntake(engine).reject(g.jobs[0]!.id, "too late"));
    expect(late).toMatchObject({ ok: false, code: "job_not_pending", job: { status: "expired" } });
    const { operation, statuses } = await g.state();
    expect(statuses).toEqual(["expired", "cancelled"]);
    expect(operation).toMatchObject({ done: true, result: { code: "expired" } });
  });

  it("is cancelled as a whole: every pending job, once; a second cancel is operation_done", async () => {
    const key = await externalKey("secp256k1");
    const g = await group(key, 3);
    expect((await g.sign(1)).ok).toBe(true);
    const cancel = () => withEngine(g.issuer, async (engine) => engine.cancelOperation(g.operationId, "cancelled by test"));
    expect(await cancel()).toMatchObject({ ok: true, value: { done: true, result: { code: "cancelled" } } });
    expect((await g.state()).statuses).toEqual(["cancelled", "signed", "cancelled"]);
    expect(await cancel()).toMatchObject({ ok: false, code: "operation_done" });
  });
});
