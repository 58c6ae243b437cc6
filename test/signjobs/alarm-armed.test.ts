/**
 * The alarm is armed for everything due, whatever the re-arm skipped: a create's own re-arm arms
 * from the due times its transaction wrote (no query) when the instance knows what it armed, a
 * delivery round that only delivered does not re-arm, and an alarm armed earlier than needed is
 * kept (durable-objects/alarm-clock.ts, upkeep.ts). After any of that, the armed time must be no
 * later than the earliest due time stored, also for an instance that was just evicted or whose
 * alarm just ran.
 */
import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DueTimes } from "../../durable-objects/due";
import { api } from "../support/api";
import { credentialRequest, custodialDid, delivered, externalDid, externalKey, objectQuery, stubOf, type Issuer } from "../support/keys";

/** The armed alarm and the earliest due time stored, read together in the object. */
async function armedAndDue(did: string): Promise<{ alarm: number | null; due: number | null }> {
  await delivered(did);
  return runInDurableObject(stubOf(did), async (_i, state) => {
    const override = state.storage.sql.exec<{ v: string }>("SELECT v FROM meta WHERE k = 'signjob_retention_ms'").toArray()[0];
    const days = Number(env.SIGNJOB_RETENTION_DAYS ?? "30");
    const retention = override ? Number(override.v) : (Number.isFinite(days) && days > 0 ? days : 30) * 86_400_000;
    const due = new DueTimes(state.storage.sql, { ion: Boolean(env.ION_NODE_URL), archive: env.ARCHIVE !== undefined }).next(retention);
    return { alarm: await state.storage.getAlarm(), due };
  });
}

async function expectCovered(did: string, when: string): Promise<void> {
  const { alarm, due } = await armedAndDue(did);
  if (due === null) return;
  expect(alarm, `${when}: nothing armed, ${due} due`).not.toBeNull();
  expect(alarm!, `${when}: armed for ${alarm}, ${due} due`).toBeLessThanOrEqual(due);
}

async function create(issuer: Issuer, status: number, i: number): Promise<void> {
  const res = await api("PUT", "/v1/credentials", credentialRequest(issuer, { subject: `did:example:armed${i}` }));
  expect(res.status, JSON.stringify(res.body)).toBe(status);
}

describe("the alarm covers everything due", () => {
  for (const [name, make, status] of [
    ["custodial", () => custodialDid("Ed25519"), 201],
    ["external", async () => externalDid(await externalKey("Ed25519")), 202],
  ] as const) {
    it(`${name}: after each create, after an eviction and after the alarm ran`, async () => {
      const issuer = await make();
      for (let i = 0; i < 4; i++) {
        await create(issuer, status, i);
        await expectCovered(issuer.did, `create ${i}`);
      }
      // A new instance knows nothing of what was armed: its first create re-arms in full.
      await evictDurableObject(stubOf(issuer.did));
      await create(issuer, status, 10);
      await expectCovered(issuer.did, "first create after an eviction");
      await create(issuer, status, 11);
      await expectCovered(issuer.did, "second create after an eviction");
      // The alarm's run arms exactly (it may move the alarm later); the creates after it arm from memory again.
      await runDurableObjectAlarm(stubOf(issuer.did));
      await expectCovered(issuer.did, "after the alarm ran");
      for (let i = 20; i < 23; i++) {
        await create(issuer, status, i);
        await expectCovered(issuer.did, `create ${i} after the alarm ran`);
      }
    });
  }

  it("a custodial create that stops while signing is armed for the backlog, which signs it", async () => {
    const issuer = await custodialDid("Ed25519");
    await create(issuer, 201, 0);
    // The alarm's run moves the alarm to what is due then (the signed credential's retention): the
    // next create must bring it back to its own rows from memory, before the signing await.
    await runDurableObjectAlarm(stubOf(issuer.did));
    await runInDurableObject(stubOf(issuer.did), (instance, state) => {
      const keys = (instance as unknown as { keys: { unlock: (key: unknown) => Promise<unknown> } }).keys;
      const unlock = keys.unlock.bind(keys);
      let calls = 0;
      // The first unlock is the check before the create (CustodialSigner.ready); the second, the signing.
      keys.unlock = async (key) => {
        if (++calls === 1) return unlock(key);
        // After an I/O round trip, as a crash while signing would come: the create has committed.
        await env.DB.prepare("SELECT 1").first();
        await new Promise((resolve) => setTimeout(resolve, 100));
        try {
          state.abort("stopped while signing");
        } catch {
          // The object is gone; the call fails with the reset.
        }
        return new Promise(() => undefined);
      };
    });
    // Called on the object itself: the Worker's route would retry on a new instance, whose replay signs at once.
    const input = {
      issuer: issuer.did,
      verificationMethodId: issuer.vmId,
      subject: "did:example:stopped",
      data: { name: "Alice" },
      format: "vc+jwt" as const,
    };
    // The RPC's declared type does not carry this result through the stub; only the failure matters here.
    const stub = stubOf(issuer.did) as unknown as { createArtifacts(input: unknown): Promise<unknown> };
    const outcome = await stub
      .createArtifacts({
        did: issuer.did,
        verificationMethodId: issuer.vmId,
        origin: "https://issuer.test",
        artifacts: [{ kind: "credential", input }],
      })
      .then(
        () => "answered",
        (err: unknown) => (err as { durableObjectReset?: boolean }).durableObjectReset === true,
      );
    expect(outcome).toBe(true);
    const pending = await objectQuery<{ id: string }>(issuer.did, "SELECT id FROM jobs WHERE status = 'pending'");
    expect(pending).toHaveLength(1);
    await expectCovered(issuer.did, "after the object stopped while signing");
    expect(await runDurableObjectAlarm(stubOf(issuer.did))).toBe(true);
    expect(await objectQuery(issuer.did, "SELECT status FROM jobs WHERE id = ?", pending[0]!.id)).toEqual([{ status: "signed" }]);
  });

  it("an evicted object whose alarm is due still runs it, and re-arms for what is left", async () => {
    const issuer = await externalDid(await externalKey("Ed25519"));
    await create(issuer, 202, 0);
    await expectCovered(issuer.did, "create");
    await evictDurableObject(stubOf(issuer.did));
    // The pending job's expiry stays due: the run in a new instance arms for it.
    expect(await runDurableObjectAlarm(stubOf(issuer.did))).toBe(true);
    const { alarm, due } = await armedAndDue(issuer.did);
    expect(due).not.toBeNull();
    expect(alarm).not.toBeNull();
    expect(alarm!).toBeLessThanOrEqual(due!);
  });
});
