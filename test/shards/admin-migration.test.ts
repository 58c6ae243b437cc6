/**
 * The operator drives the credential index from 1 to 4 shards over HTTP (`/v1/admin/index/migration`)
 * while credentials are issued, revoked and read between its steps: every credential stays readable
 * by id and listed across issuers exactly once, at its newest state; afterwards each issuer's rows
 * are in its own shard only. Time passing (each phase's grace) is the layout row's `since` moved back,
 * not a wait.
 */
import {
  applyD1Migrations,
  createExecutionContext,
  createScheduledController,
  env,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { IssuerObject } from "../../durable-objects/issuer";
import worker from "../../src/index";
import { shardOf } from "../../src/shards/hash";
import { DEFAULT_GRACE_MS } from "../../src/shards/migrate";
import { forgetLayout } from "../../src/shards/shards";
import { api, enc } from "../support/api";
import { credentialRequest, custodialDid, didAuth, externalDid, externalKey, stubOf, type Issuer } from "../support/keys";

const shards = () => [env.DB, ...[1, 2, 3].map((i) => Reflect.get(env, `DB_SHARD_${i}`) as D1Database)];
const drained = (did: string) => runInDurableObject(stubOf(did), (o: IssuerObject) => o["outbox"].drain());
/** The phase's grace has run: its start moved back past it (the migrator compares against the clock). */
const graceRuns = async () => {
  await env.DB.prepare("UPDATE index_layout SET since = since - ?")
    .bind(DEFAULT_GRACE_MS + 1)
    .run();
  forgetLayout();
};

beforeAll(async () => {
  for (const db of shards().slice(1)) await applyD1Migrations(db, env.TEST_MIGRATIONS);
});

afterAll(async () => {
  for (const db of shards()) await db.batch([db.prepare("DELETE FROM credential_index"), db.prepare("DELETE FROM index_layout")]);
  forgetLayout();
});

describe("the operator's index migration route", () => {
  it("1 → 4 shards with issuance, revocation and reads between every step; every credential readable throughout", async () => {
    const subject = `did:example:migrating-${crypto.randomUUID()}`;
    const issuers: Issuer[] = [];
    // Issuers spread over the new shards, and some that stay in shard 0: six at least, and more
    // until three shards including 0 are used: six random keys alone fall short of that now and then.
    const used = () => new Set(issuers.map((i) => shardOf(i.did, 4)));
    while (issuers.length < 6 || used().size < 3 || !used().has(0)) {
      expect(issuers.length, "random DIDs spread over the shards").toBeLessThan(60);
      issuers.push(await custodialDid("Ed25519"));
    }
    const expected = new Map<string, { revoked: boolean }>();
    let n = 0;
    const issue = async () => {
      const issuer = issuers[n++ % issuers.length]!;
      const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { subject, revocable: true, data: { n } }));
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expected.set(res.body.result.response.id, { revoked: false });
      await drained(issuer.did);
    };
    for (let i = 0; i < 18; i++) await issue();

    /** Everything a client sees: each credential once, at its newest state, by list and by id. */
    const readAll = async () => {
      const listed: { id: string; revoked: boolean }[] = [];
      let token: string | undefined;
      do {
        const page = await api("GET", `/v1/credentials?subject=${enc(subject)}&pageSize=7${token ? `&pageToken=${enc(token)}` : ""}`);
        expect(page.status, JSON.stringify(page.body)).toBe(200);
        listed.push(...page.body.credentials);
        token = page.body.nextPageToken;
      } while (token);
      expect(listed.map((c) => c.id).sort()).toEqual([...expected.keys()].sort());
      for (const c of listed) expect(c.revoked, c.id).toBe(expected.get(c.id)!.revoked);
      const sample = [...expected.keys()].slice(-3);
      for (const id of sample) expect((await api("GET", `/v1/credentials/${id}`)).status).toBe(200);
    };
    await readAll();

    const before = await api("GET", "/v1/admin/index/migration");
    expect(before.status, JSON.stringify(before.body)).toBe(200);
    expect(before.body).toMatchObject({ layout: { shards: 1, next: null, phase: "steady" }, done: true, boundShards: 4 });

    const started = await api("PUT", "/v1/admin/index/migration", { shards: 4 });
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    expect(started.body).toMatchObject({ layout: { shards: 1, next: 4, phase: "copying" }, done: false });
    expect(started.body.waitMs).toBeGreaterThan(0);
    forgetLayout();

    // Before the grace has run a step changes nothing and says how long to wait.
    const early = await api("PUT", "/v1/admin/index/migration/step");
    expect(early.body).toMatchObject({ layout: { phase: "copying" }, scanned: 0, copied: 0, done: false });
    expect(early.body.waitMs).toBeGreaterThan(0);

    const phases = new Set<string>();
    let copied = 0;
    let deleted = 0;
    for (let steps = 0; ; steps++) {
      expect(steps, "the migration finishes").toBeLessThan(60);
      await graceRuns();
      const step = await api("PUT", "/v1/admin/index/migration/step?limit=5");
      expect(step.status, JSON.stringify(step.body)).toBe(200);
      forgetLayout();
      phases.add(step.body.layout.phase);
      copied += step.body.copied;
      deleted += step.body.deleted;
      if (step.body.done) break;
      // Writes and reads between steps: a new credential, a revocation, every credential read.
      await issue();
      const victim = [...expected.keys()][steps % expected.size]!;
      if (!expected.get(victim)!.revoked) {
        const revoked = await api("PUT", `/v1/credentials/${victim}/status`, { revoked: true });
        expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
        expected.set(victim, { revoked: true });
        const owner = (await api("GET", `/v1/credentials/${victim}`)).body.credential.issuer as string;
        await drained(owner);
      }
      await readAll();
    }
    expect([...phases]).toEqual(expect.arrayContaining(["copying", "switched", "cleaning", "steady"]));
    expect(copied).toBeGreaterThan(0);
    expect(deleted).toBeGreaterThan(0);

    const after = await api("GET", "/v1/admin/index/migration");
    expect(after.body).toMatchObject({ layout: { shards: 4, next: null, phase: "steady" }, done: true, cursor: null });
    await readAll();
    // Each issuer's rows live in its own shard only.
    for (const [i, db] of shards().entries()) {
      const rows = await db.prepare("SELECT issuer FROM credential_index WHERE subject = ?").bind(subject).all<{ issuer: string }>();
      for (const r of rows.results) expect(shardOf(r.issuer, 4), `shard ${i}`).toBe(i);
    }
    // Writes after the migration land in the new layout and read back.
    await issue();
    await readAll();
  });

  it("the cron trigger moves a started migration on by itself, to the end; credentials stay readable", async () => {
    await env.DB.prepare("DELETE FROM index_layout").run();
    forgetLayout();
    const subject = `did:example:cron-${crypto.randomUUID()}`;
    const issuers = [await custodialDid("Ed25519"), await custodialDid("Ed25519"), await custodialDid("Ed25519")];
    const ids: string[] = [];
    for (const [i, issuer] of [...issuers, ...issuers].entries()) {
      const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { subject, data: { i } }));
      expect(res.status, JSON.stringify(res.body)).toBe(201);
      ids.push(res.body.result.response.id);
      await drained(issuer.did);
    }
    expect((await api("PUT", "/v1/admin/index/migration", { shards: 2 })).status).toBe(202);
    const listed = async () =>
      ((await api("GET", `/v1/credentials?subject=${enc(subject)}`)).body.credentials as { id: string }[]).map((c) => c.id);
    for (let runs = 0; ; runs++) {
      expect(runs, "the cron finishes the migration").toBeLessThan(10);
      await graceRuns();
      const ctx = createExecutionContext();
      worker.scheduled(createScheduledController(), env, ctx);
      await waitOnExecutionContext(ctx);
      forgetLayout();
      expect(await listed()).toEqual(ids);
      if ((await api("GET", "/v1/admin/index/migration")).body.done) break;
    }
    expect((await api("GET", "/v1/admin/index/migration")).body.layout).toMatchObject({ shards: 2, next: null, phase: "steady" });
  });

  it("refusals: problem+json with stable codes, and nothing changes", async () => {
    await env.DB.prepare("DELETE FROM index_layout").run();
    forgetLayout();
    const bad = await api("PUT", "/v1/admin/index/migration", { shards: "four" });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe("validation_failed");
    const unbound = await api("PUT", "/v1/admin/index/migration", { shards: 9 });
    expect(unbound.status).toBe(409);
    expect(unbound.body.code).toBe("index_shards_unavailable");
    const running = await api("PUT", "/v1/admin/index/migration", { shards: 2 });
    expect(running.status, JSON.stringify(running.body)).toBe(202);
    forgetLayout();
    const again = await api("PUT", "/v1/admin/index/migration", { shards: 3 });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("index_migration_running");
    expect((await api("GET", "/v1/admin/index/migration")).body.layout).toMatchObject({ shards: 1, next: 2, phase: "copying" });
    expect((await api("PUT", "/v1/admin/index/migration/step?limit=0")).status).toBe(400);

    // A signer (DID-auth) reaches sign jobs only.
    const key = await externalKey("Ed25519");
    const signer = await externalDid(key);
    const asSigner = await api("GET", "/v1/admin/index/migration", undefined, { auth: await didAuth(key, signer) });
    expect(asSigner.status).toBe(403);
    expect((await api("GET", "/v1/admin/index/migration", undefined, { auth: null })).status).toBe(401);
  });
});
