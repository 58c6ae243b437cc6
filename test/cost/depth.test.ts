/**
 * The cost of a request must not grow with what an issuer holds (P4 in bench/README.md): the rows
 * SQLite reads for one create, for a signature, and for the answer to a socket frame are the same
 * for an issuer with hundreds of pending jobs as for an empty one. Counted by SQLite itself
 * (cursor.rowsRead), so the test measures work, not time.
 */
import { describe, expect, it } from "vitest";
import { connected, externalIssuer, type Issuer } from "../signer-socket/client";
import { api } from "../support/api";
import { heaviest, meter } from "./meter";

const DEEP = 400;
const SLACK = 40;

async function createCost(issuer: Issuer) {
  await issuer.issue("warm"); // first-use costs (key load, status) are not what is compared
  const m = await meter(issuer.did);
  await m.take();
  for (let i = 0; i < 3; i++) await issuer.issue(`n${i}`);
  return m.take();
}

describe("a request's cost does not grow with the issuer's pending jobs", () => {
  it("a create reads as many rows with hundreds of pending jobs as with none", async () => {
    const empty = await externalIssuer();
    const deep = await externalIssuer();
    await deep.issueBatch(DEEP);
    const a = await createCost(empty);
    const b = await createCost(deep);
    expect(b.rowsRead - a.rowsRead, `deep issuer's heaviest statements:\n${heaviest(b)}`).toBeLessThan(SLACK);
  });

  it("with a signer connected, a create and its signature read as many rows at any depth", async () => {
    // Both signers hold MAX_IN_FLIGHT (1000) leased jobs; the deep issuer has 400 more pending that
    // nobody holds. What a lease costs is the same on both sides; only depth differs.
    const full = await externalIssuer();
    const deep = await externalIssuer();
    await full.issueBatch(1000);
    await deep.issueBatch(1000);
    await deep.issueBatch(DEEP);
    const costs = [];
    for (const issuer of [full, deep]) {
      const { client, ready } = await connected(issuer);
      expect(ready.pending).toBe(issuer === deep ? 1000 + DEEP : 1000);
      const m = await meter(issuer.did);
      await m.take();
      const op = await issuer.issue("with-signer");
      const job = await api("GET", `/v1/signjobs/${op.signJobs[0]}`);
      const result = await client.call({ type: "sign", id: job.body.id, signature: await issuer.sign(job.body.signingInput) });
      expect(result).toMatchObject({ status: "signed" });
      costs.push(await m.take());
      client.close();
    }
    expect(costs[1]!.rowsRead - costs[0]!.rowsRead, `deep issuer's heaviest statements:\n${heaviest(costs[1]!)}`).toBeLessThan(SLACK);
  });
});
