/**
 * Status entries live in `status_bits` (durable-objects/status-entries.ts: ≈ 50 bytes each, kept for
 * every credential, cold ones included); entries written before, in `status_entries`, still read,
 * change and publish, and revocation stays permanent in both tables.
 */
import { describe, expect, it } from "vitest";
import { api } from "../support/api";
import { issueSignedBatch, objectQuery } from "../support/keys";
import { published, sorted, statusEntryOf } from "../support/status";

async function issue(did: string, vm: string, n: number, extra: Record<string, unknown>) {
  return (await issueSignedBatch(did, vm, n, extra)).map((op) => op.result.response) as any[];
}

/** Moves a credential's entry back to `status_entries`, as an entry written before `status_bits` is. */
async function makeOld(did: string, credentialId: string) {
  const short = credentialId.slice(credentialId.indexOf(".") + 1);
  await objectQuery(
    did,
    `INSERT INTO status_entries (credential_id, list_id, idx, purpose, bit, version)
     SELECT ?, l.id, b.idx, l.purpose, b.bit, b.version FROM status_bits b JOIN status_lists l ON l.rowid = b.list WHERE b.credential = ?`,
    credentialId,
    short,
  );
  await objectQuery(did, "DELETE FROM status_bits WHERE credential = ?", short);
}

describe("compact status entries", () => {
  it("new entries are compact; old ones still revoke, suspend and publish beside them; revocation is permanent in both", async () => {
    const created = await api("PUT", "/v1/dids/key", { keyType: "Ed25519" });
    const did = created.body.did.id as string;
    const vm = created.body.did.verificationMethod[0].id as string;
    const revocable = await issue(did, vm, 3, { revocable: true });
    const suspendable = await issue(did, vm, 2, { suspendable: true });
    expect(await objectQuery(did, "SELECT count(*) AS n FROM status_bits")).toEqual([{ n: 5 }]);
    expect(await objectQuery(did, "SELECT count(*) AS n FROM status_entries")).toEqual([{ n: 0 }]);
    await makeOld(did, revocable[0].id);
    await makeOld(did, suspendable[0].id);

    for (const c of [revocable[0], revocable[1]]) {
      const res = await api("PUT", `/v1/credentials/${c.id}/status`, { revoked: true });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ revoked: true, suspended: false });
    }
    expect((await api("PUT", `/v1/credentials/${suspendable[0].id}/status`, { suspended: true })).body).toMatchObject({ suspended: true });
    expect((await api("PUT", `/v1/credentials/${suspendable[1].id}/status`, { suspended: true })).body).toMatchObject({ suspended: true });
    expect((await api("PUT", `/v1/credentials/${suspendable[0].id}/status`, { suspended: false })).body).toMatchObject({
      suspended: false,
    });

    // The published lists carry the bits of both tables.
    const r = revocable.map(statusEntryOf);
    const s = suspendable.map(statusEntryOf);
    expect((await published(r[0]!.url)).bits).toEqual(sorted([r[0]!.index, r[1]!.index]));
    expect((await published(s[0]!.url)).bits).toEqual([s[1]!.index]);
    for (const c of [revocable[0], revocable[1]]) {
      expect((await api("GET", `/v1/credentials/${c.id}/status`)).body).toEqual({ revoked: true, suspended: false });
      expect((await api("PUT", "/v1/credentials/verification", { credentialJwt: c.credentialJwt })).body.verified).toBe(false);
    }
    expect((await api("PUT", "/v1/credentials/verification", { credentialJwt: revocable[2].credentialJwt })).body).toEqual({
      verified: true,
    });
    const unrevoke = await api("PUT", `/v1/credentials/${revocable[1].id}/status`, { revoked: false });
    expect(unrevoke.body.code).toBe("revocation_permanent");

    // Whatever code runs against the database, a revoked bit stays set.
    const short = revocable[1].id.slice(revocable[1].id.indexOf(".") + 1);
    await expect(objectQuery(did, "UPDATE status_bits SET bit = 0 WHERE credential = ?", short)).rejects.toThrow(/permanent/);
    await expect(objectQuery(did, "UPDATE status_entries SET bit = 0 WHERE credential_id = ?", revocable[0].id)).rejects.toThrow(
      /permanent/,
    );
    // A suspension bit may go back to 0.
    const sShort = suspendable[1].id.slice(suspendable[1].id.indexOf(".") + 1);
    await objectQuery(did, "UPDATE status_bits SET bit = 0 WHERE credential = ?", sShort);
  });
});
