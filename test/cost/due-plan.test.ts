/**
 * The alarm's re-arm runs after every change, so each part of its one due-time query (DueTimes)
 * must be answered from an index in one step, whatever the issuer holds: a part that scans a
 * table makes every create O(rows) (P4: 100,000 pending jobs halved the creation rate when the
 * planner read every pending job for the next expiry). Checked on the object's own SQLite with
 * EXPLAIN QUERY PLAN, with many pending and ended jobs in it, so the plan is the one a deep issuer gets.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DueTimes } from "../../durable-objects/due";
import { END_SIGNED_SQL } from "../../durable-objects/jobs";
import { DONE_MANY_SQL } from "../../durable-objects/operations";
import { api } from "../support/api";
import { custodialDid, externalDid, externalKey, type Issuer } from "../support/keys";

const batch = (issuer: Issuer, n: number) =>
  Array.from({ length: n }, (_, i) => ({
    issuer: issuer.did,
    verificationMethodId: issuer.vmId,
    subject: `did:example:s${i}`,
    data: { i },
  }));

/**
 * Tables that stay small whatever the issuer issues: one status list per 131,072 credentials,
 * did:ion operations in flight, the issuer's keys, meta rows.
 */
const SMALL = new Set(["status_lists", "ion_anchors", "keys", "meta"]);

/**
 * A plan line that reads a whole table: the object's SQLite prints a table read without an index
 * as a bare `SEARCH t` (or `SCAN t`). `jobs_by_status (status=?)` reads every job of a status
 * (every pending one), which is what the planner chose for the pending jobs' next expiry.
 */
function readsAll(detail: string): boolean {
  const m = /^(?:SEARCH|SCAN) (\w+)(.*)$/.exec(detail);
  if (!m || m[1] === "CONSTANT" || SMALL.has(m[1]!)) return false;
  return !m[2]!.includes("USING") || m[2]!.includes("jobs_by_status");
}

/** The parts of the due-time query (and the whole) whose plan reads a whole table. */
async function scans(did: string): Promise<{ part: string; plan: string[] }[]> {
  return runInDurableObject(env.ISSUER.getByName(did), (_i, state) =>
    [...DueTimes.parts(true), DueTimes.compose(DueTimes.parts(true))].flatMap((part) => {
      const plan = state.storage.sql
        .exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${part}`, ...(part.includes("?") ? [0] : []))
        .toArray()
        .map((r) => r.detail);
      return plan.some(readsAll) ? [{ part, plan }] : [];
    }),
  );
}

describe("the re-arm's due-time query", () => {
  it("every part seeks an index, with pending and ended jobs present", async () => {
    const key = await externalKey("Ed25519");
    const external = await externalDid(key);
    expect((await api("PUT", "/v1/credentials/batch", { requests: batch(external, 50) })).status).toBe(202);
    const custodial = await custodialDid("Ed25519");
    expect((await api("PUT", "/v1/credentials/batch", { requests: batch(custodial, 50) })).status).toBe(201);
    expect(await scans(external.did)).toEqual([]);
    expect(await scans(custodial.did)).toEqual([]);
  });
});

describe("the multi-row updates of a custodial signing", () => {
  it("seek each listed job and operation by its id, never every pending job", async () => {
    // Pending jobs present, so a plan through jobs_by_status would be the cheap-looking one.
    const key = await externalKey("Ed25519");
    const issuer = await externalDid(key);
    expect((await api("PUT", "/v1/credentials/batch", { requests: batch(issuer, 50) })).status).toBe(202);
    const plans = await runInDurableObject(env.ISSUER.getByName(issuer.did), (_i, state) =>
      [END_SIGNED_SQL, DONE_MANY_SQL].map((sql) =>
        state.storage.sql
          .exec<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, 0, "[]")
          .toArray()
          .map((r) => r.detail),
      ),
    );
    // The list itself (json_each) is read whole, as it should be.
    const [jobs, operations] = (plans as [string[], string[]]).map((plan) => plan.filter((d) => !d.includes("json_each")));
    // The list drives; each of its rows finds its job (operation) through a unique index.
    expect(jobs!.filter(readsAll), jobs!.join("\n")).toEqual([]);
    expect(
      jobs!.some((d) => /SEARCH jobs USING INDEX sqlite_autoindex_jobs_\d \(id=\?\)/.test(d)),
      jobs!.join("\n"),
    ).toBe(true);
    expect(operations!.filter(readsAll), operations!.join("\n")).toEqual([]);
    expect(
      operations!.some((d) => /SEARCH operations USING (INDEX sqlite_autoindex_operations_\d|PRIMARY KEY) \(id=\?\)/.test(d)),
      operations!.join("\n"),
    ).toBe(true);
  });
});
