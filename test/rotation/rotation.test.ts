/**
 * Key rotation (api.md "Key rotation"): PUT /v1/dids/{method}/{did}/rotate re-signs every live
 * artifact of the old key with the new one through sign jobs of the artifacts' own kinds; the
 * old key leaves the did:web document only when all are signed. Real D1, object SQLite and
 * WebSockets; the alarm that creates the re-sign jobs is run by the tests as the runtime would.
 */
import { uuidOf } from "../../src/core/ids";
import { evictDurableObject, runDurableObjectAlarm } from "cloudflare:test";
import { verifyCredential } from "did-jwt-vc";
import { decodeJwt, decodeProtectedHeader } from "jose";
import { describe, expect, it } from "vitest";
import { api, enc } from "../support/api";
import { didAuthJwt, externalKey, objectQuery, stubOf, type ExternalKey } from "../support/keys";
import { SignerClient } from "../signer-socket/client";

/** Resolves did:web DIDs from the documents this service serves (public, no auth), as a verifier would. */
const servedResolver = {
  resolve: async (did: string) => {
    const path = did.split(":").slice(3).join("/");
    const res = await api("GET", `/${path}/did.json`, undefined, { auth: null });
    return { didResolutionMetadata: {}, didDocument: res.body, didDocumentMetadata: {} };
  },
};

const served = async (path: string) =>
  (await api("GET", `/${path}/did.json`, undefined, { auth: null })).body.verificationMethod.map((v: { id: string }) => v.id);

async function externalWebDid(path: string, key: ExternalKey) {
  const did = `did:web:ssi.test:${path}`;
  const res = await api("PUT", "/v1/dids/web", {
    keyType: key.keyType,
    custody: "external",
    publicKeyJwk: key.publicKeyJwk,
    options: { didWebId: did },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { did, vm: `${did}#key-1` };
}

/** Signs every pending job of the DID over REST, each with the key its verification method names. */
async function signPendingRest(did: string, keys: Map<string, ExternalKey>) {
  const jobs = (await api("GET", `/v1/signjobs?did=${enc(did)}&status=pending&pageSize=1000`)).body.signJobs as any[];
  if (jobs.length === 0) return;
  const signatures = await Promise.all(
    jobs.map(async (j) => ({ id: j.id, signature: await keys.get(j.verificationMethodId)!.sign(j.signingInput) })),
  );
  const res = await api("PUT", "/v1/signjobs", { signatures });
  expect(res.status, JSON.stringify(res.body).slice(0, 500)).toBe(200);
}

/** Runs the object's alarm (the re-sign scan) until the operation is done, at most `rounds` times. */
async function untilDone(did: string, operationId: string, rounds = 20) {
  for (let i = 0; i < rounds; i++) {
    const op = await api("GET", `/v1/operations/${operationId}`);
    if (op.body.done) return op.body;
    await runDurableObjectAlarm(stubOf(did));
  }
  throw new Error(`operation ${operationId} not done after ${rounds} alarm runs`);
}

describe("key rotation", () => {
  it("external did:web, 50 credentials: a socket signer signs the re-sign jobs; the document drops the old key; revoked stay revoked", async () => {
    const oldKey = await externalKey("Ed25519");
    const newKey = await externalKey("P-256");
    const { did, vm } = await externalWebDid("rot-fifty", oldKey);
    const keys = new Map([[vm, oldKey]]);

    // 50 credentials: 20 revocable, 10 suspendable, 20 without status; all signed by the old key.
    const requests = Array.from({ length: 50 }, (_, i) => ({
      issuer: did,
      verificationMethodId: vm,
      subject: `did:example:holder-${i}`,
      data: { n: i },
      ...(i < 20 ? { revocable: true } : i < 30 ? { suspendable: true } : {}),
    }));
    const issued = await api("PUT", "/v1/credentials/batch", { requests });
    expect(issued.status).toBe(202);
    const ids: string[] = issued.body.operations.map((o: any) => o.result.response.id);
    await signPendingRest(did, keys);
    const revoked = ids.slice(0, 5);
    const suspended = ids.slice(20, 23);
    const changes = await api("PUT", "/v1/credentials/status/batch", {
      requests: [...revoked.map((id) => ({ id, revoked: true })), ...suspended.map((id) => ({ id, suspended: true }))],
    });
    expect(changes.status, JSON.stringify(changes.body)).toBeLessThan(300);
    await signPendingRest(did, keys);
    const before = new Map<string, string>();
    for (const id of ids) before.set(id, (await api("GET", `/v1/credentials/${id}`)).body.credentialJwt);

    const added = await api("PUT", `/v1/dids/web/${enc(did)}/keys`, {
      keyType: "P-256",
      custody: "external",
      publicKeyJwk: newKey.publicKeyJwk,
    });
    expect(added.status).toBe(201);
    const newVm = added.body.verificationMethodId as string;
    keys.set(newVm, newKey);

    const signer = await SignerClient.open(did, `DID ${await didAuthJwt(newKey, { iss: did, kid: newVm })}`);
    await signer.next("ready");
    const rotation = await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: newVm });
    expect(rotation.status, JSON.stringify(rotation.body)).toBe(202);
    expect(rotation.body).toMatchObject({ done: false });
    expect(rotation.body.id).toMatch(/^dids\/rotations\//);
    // A second rotation while this one runs is refused; the old key stays in the document meanwhile.
    const second = await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: newVm });
    expect(second.body).toMatchObject({ status: 409, code: "rotation_in_progress" });
    expect(await served("rot-fifty")).toEqual([newVm, vm]);

    // New issuance names the old key and is signed by the new one at once.
    const during = await api("PUT", "/v1/credentials", { issuer: did, verificationMethodId: vm, subject: "did:example:late", data: {} });
    expect(during.status).toBe(202);
    expect(during.body.result.response.fullyQualifiedVerificationMethodId).toBe(newVm);

    // The signer signs what it is offered (the status lists, the re-sign jobs, the new credential) until the rotation is done.
    let op = rotation.body;
    const kinds = new Set<string>();
    for (let round = 0; round < 20 && !op.done; round++) {
      await runDurableObjectAlarm(stubOf(did));
      const frame = await signer.next("jobs");
      for (const j of frame.jobs) {
        expect(j.verificationMethodId).toBe(newVm);
        kinds.add(j.kind);
      }
      const signatures = await Promise.all(frame.jobs.map(async (j: any) => ({ id: j.id, signature: await newKey.sign(j.signingInput) })));
      signer.send({ type: "sign", signatures });
      const results = await signer.next("results");
      expect(
        results.results.every((r: any) => r.status === "signed"),
        JSON.stringify(results),
      ).toBe(true);
      op = (await api("GET", `/v1/operations/${rotation.body.id}`)).body;
    }
    signer.close();
    expect(op, JSON.stringify(op)).toMatchObject({ done: true, result: { response: { resigned: 45, removed: [vm] } } });
    expect(kinds).toEqual(new Set(["credential", "status-list"]));
    expect(await served("rot-fifty")).toEqual([newVm]);

    // The old key left the document, so it authenticates nobody (HTTP or socket) once D1 has the retirement.
    await runDurableObjectAlarm(stubOf(did));
    const oldAuth = `DID ${await didAuthJwt(oldKey, { iss: did, kid: vm })}`;
    expect((await api("GET", `/v1/signjobs?did=${enc(did)}`, undefined, { auth: oldAuth })).status).toBe(401);
    const upgrade = await api("GET", `/v1/signjobs/connect?did=${enc(did)}`, undefined, {
      auth: `DID ${await didAuthJwt(oldKey, { iss: did, kid: vm })}`,
      headers: { Upgrade: "websocket" },
    });
    expect(upgrade.status).toBe(401);
    expect(
      (await api("GET", `/v1/signjobs?did=${enc(did)}`, undefined, { auth: `DID ${await didAuthJwt(newKey, { iss: did, kid: newVm })}` }))
        .status,
    ).toBe(200);

    for (const id of ids) {
      const vc = (await api("GET", `/v1/credentials/${id}`)).body;
      if (revoked.includes(id)) {
        // Revoked: not signed again; its old JWT no longer verifies (its key left the document).
        expect(vc).toMatchObject({ revoked: true, credentialJwt: before.get(id), fullyQualifiedVerificationMethodId: vm });
        expect(vc.jwtHistory).toHaveLength(1);
        continue;
      }
      expect(vc.fullyQualifiedVerificationMethodId).toBe(newVm);
      expect(decodeProtectedHeader(vc.credentialJwt)).toMatchObject({ alg: "ES256", kid: newVm });
      expect(vc.jwtHistory).toEqual([
        expect.objectContaining({ jwt: vc.credentialJwt, verificationMethodId: newVm }),
        expect.objectContaining({ jwt: before.get(id), verificationMethodId: vm }),
      ]);
      // Same id and status entry: the claims are the old JWT's.
      expect(decodeJwt(vc.credentialJwt)).toEqual(decodeJwt(before.get(id)!));
      expect((await verifyCredential(vc.credentialJwt, servedResolver)).verified).toBe(true);
      expect(vc.suspended).toBe(suspended.includes(id));
    }
    await expect(verifyCredential(before.get(ids[30]!)!, servedResolver)).rejects.toThrow();

    // The status lists are signed by the new key, with the same bits.
    const lists = new Set(
      ids
        .slice(0, 30)
        .map((id) => before.get(id)!)
        .map((jwt) => (decodeJwt(jwt) as any).vc.credentialStatus.statusListCredential),
    );
    expect(lists.size).toBe(2);
    for (const url of lists) {
      const list = await api("GET", new URL(url).pathname, undefined, { auth: null });
      expect(decodeProtectedHeader(list.body.credentialJwt)).toMatchObject({ kid: newVm });
      expect((await verifyCredential(list.body.credentialJwt, servedResolver)).verified).toBe(true);
    }
    const verdict = await api("PUT", "/v1/credentials/verification", {
      credentialJwt: (await api("GET", `/v1/credentials/${revoked[0]}`)).body.credentialJwt,
    });
    expect(verdict.body.verified).toBe(false);
    const suspendedVerdict = await api("PUT", "/v1/credentials/verification", {
      credentialJwt: (await api("GET", `/v1/credentials/${suspended[0]}`)).body.credentialJwt,
    });
    expect(suspendedVerdict.body).toMatchObject({ verified: false });
    expect(suspendedVerdict.body.reason).toMatch(/suspend/);
  });

  it("a rejected re-sign job fails the rotation: the old key stays, its JWTs verify, the ids not re-signed are listed", async () => {
    const oldKey = await externalKey("Ed25519");
    const newKey = await externalKey("Ed25519");
    const { did, vm } = await externalWebDid("rot-reject", oldKey);
    const issued = await api("PUT", "/v1/credentials/batch", {
      requests: Array.from({ length: 3 }, (_, i) => ({ issuer: did, verificationMethodId: vm, subject: "did:example:s", data: { i } })),
    });
    const ids: string[] = issued.body.operations.map((o: any) => o.result.response.id);
    await signPendingRest(did, new Map([[vm, oldKey]]));
    const newVm = (
      await api("PUT", `/v1/dids/web/${enc(did)}/keys`, { keyType: "Ed25519", custody: "external", publicKeyJwk: newKey.publicKeyJwk })
    ).body.verificationMethodId;

    const signer = await SignerClient.open(did, `DID ${await didAuthJwt(newKey, { iss: did, kid: newVm })}`);
    await signer.next("ready");
    const rotation = await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: newVm });
    expect(rotation.status).toBe(202);
    await runDurableObjectAlarm(stubOf(did));
    const { jobs } = await signer.next("jobs");
    expect(jobs).toHaveLength(3);
    const [first, ...rest] = jobs;
    await signer.call({ type: "sign", id: first.id, signature: await newKey.sign(first.signingInput) });
    expect(await signer.call({ type: "reject", id: rest[0].id, reason: "policy: not now" })).toMatchObject({ status: "rejected" });
    signer.close();

    const op = (await api("GET", `/v1/operations/${rotation.body.id}`)).body;
    expect(op).toMatchObject({ done: true, result: { code: "rejected_by_signer" } });
    const rejectedId = JSON.parse(atob(rest[0].signingInput.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).jti.slice(
      "urn:uuid:".length,
    );
    const lastId = JSON.parse(atob(rest[1].signingInput.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).jti.slice("urn:uuid:".length);
    // The JWT's jti is urn:uuid:<uuid>; a credential's id is <its issuer object's id>.<uuid> (src/core/ids.ts).
    expect(new Set((op.result.notResigned as string[]).map(uuidOf))).toEqual(new Set([rejectedId, lastId]));
    // The old key stays; every credential verifies, re-signed or not.
    expect(await served("rot-reject")).toEqual([newVm, vm]);
    for (const id of ids) {
      const vc = (await api("GET", `/v1/credentials/${id}`)).body;
      expect((await verifyCredential(vc.credentialJwt, servedResolver)).verified).toBe(true);
      for (const h of vc.jwtHistory) expect((await verifyCredential(h.jwt, servedResolver)).verified).toBe(true);
    }
    // The rotation's other pending job was cancelled (in the alarm's batches).
    await runDurableObjectAlarm(stubOf(did));
    expect((await api("GET", `/v1/signjobs/${rest[1].id}`)).body.status).toBe("cancelled");
  });

  it("custodial did:web: signed at once by the alarm; the new key signs new credentials and the list", async () => {
    const did = "did:web:ssi.test:rot-custodial";
    expect((await api("PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: did } })).status).toBe(201);
    const vm = `${did}#key-1`;
    const issued = await api("PUT", "/v1/credentials/batch", {
      requests: Array.from({ length: 6 }, (_, i) => ({
        issuer: did,
        verificationMethodId: vm,
        subject: "did:example:s",
        data: { i },
        revocable: true,
      })),
    });
    expect(issued.status).toBe(201);
    const ids: string[] = issued.body.operations.map((o: any) => o.result.response.id);
    expect((await api("PUT", `/v1/credentials/${ids[0]}/status`, { revoked: true })).status).toBe(200);
    const newVm = (await api("PUT", `/v1/dids/web/${enc(did)}/keys`, { keyType: "secp256k1" })).body.verificationMethodId;

    const rotation = await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: newVm });
    expect(rotation.status).toBe(202);
    const op = await untilDone(did, rotation.body.id);
    expect(op.result.response).toMatchObject({ resigned: 5, removed: [vm] });
    expect(await served("rot-custodial")).toEqual([newVm]);
    for (const id of ids.slice(1)) {
      const vc = (await api("GET", `/v1/credentials/${id}`)).body;
      expect(decodeProtectedHeader(vc.credentialJwt)).toMatchObject({ alg: "ES256K", kid: newVm });
      expect((await verifyCredential(vc.credentialJwt, servedResolver)).verified).toBe(true);
      expect((await api("PUT", "/v1/credentials/verification", { credentialJwt: vc.credentialJwt })).body).toEqual({ verified: true });
    }
    // After the rotation, a status change is signed by the new key; the old key names its successor.
    expect((await api("PUT", `/v1/credentials/${ids[1]}/status`, { revoked: true })).status).toBe(200);
    const revokedJwt = (await api("GET", `/v1/credentials/${ids[1]}`)).body.credentialJwt;
    expect((await api("PUT", "/v1/credentials/verification", { credentialJwt: revokedJwt })).body.verified).toBe(false);
    const later = await api("PUT", "/v1/credentials", { issuer: did, verificationMethodId: vm, subject: "did:example:x", data: {} });
    expect(later.status).toBe(201);
    expect(decodeProtectedHeader(later.body.result.response.credentialJwt)).toMatchObject({ kid: newVm });
  });

  it("artifacts past retention are re-signed from their D1 JWT; a signed schema is re-signed too", async () => {
    const did = "did:web:ssi.test:rot-purged";
    await api("PUT", "/v1/dids/web", { keyType: "P-256", options: { didWebId: did } });
    const vm = `${did}#key-1`;
    const issued = await api("PUT", "/v1/credentials/batch", {
      requests: Array.from({ length: 2 }, (_, i) => ({ issuer: did, verificationMethodId: vm, subject: "did:example:s", data: { i } })),
    });
    const ids: string[] = issued.body.operations.map((o: any) => o.result.response.id);
    const schema = await api("PUT", "/v1/schemas", {
      name: "n",
      schema: { $schema: "https://json-schema.org/draft/2020-12/schema", type: "object" },
      issuer: did,
      verificationMethodId: vm,
    });
    expect(schema.status, JSON.stringify(schema.body)).toBe(201);
    const schemaId = schema.body.result.response.id;
    // Retention drops the signing input of every ended job: the object no longer has the claims.
    await objectQuery(did, "INSERT OR REPLACE INTO meta (k, v) VALUES ('signjob_retention_ms', '0')");
    await runDurableObjectAlarm(stubOf(did));
    expect(await objectQuery(did, "SELECT count(*) AS n FROM jobs WHERE purged_at IS NULL")).toEqual([{ n: 0 }]);

    const newVm = (await api("PUT", `/v1/dids/web/${enc(did)}/keys`, { keyType: "Ed25519" })).body.verificationMethodId;
    const rotation = await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: newVm });
    const op = await untilDone(did, rotation.body.id);
    expect(op.result.response).toMatchObject({ resigned: 3, removed: [vm] });
    for (const id of ids) {
      const vc = (await api("GET", `/v1/credentials/${id}`)).body;
      expect(vc.jwtHistory.map((h: any) => h.verificationMethodId)).toEqual([newVm, vm]);
      expect((await verifyCredential(vc.credentialJwt, servedResolver)).verified).toBe(true);
    }
    const signedSchema = (await api("GET", `/v1/schemas/${schemaId}`)).body;
    expect(decodeProtectedHeader(signedSchema.credentialSchemaJwt)).toMatchObject({ alg: "EdDSA", kid: newVm });
    expect(decodeJwt(signedSchema.credentialSchemaJwt)).toEqual(decodeJwt(schema.body.result.response.credentialSchemaJwt));
  });

  it("an object evicted mid-rotation carries on from its SQLite: before the scan and between signatures", async () => {
    const oldKey = await externalKey("Ed25519");
    const newKey = await externalKey("Ed25519");
    const { did, vm } = await externalWebDid("rot-evicted", oldKey);
    const keys = new Map([[vm, oldKey]]);
    await api("PUT", "/v1/credentials/batch", {
      requests: Array.from({ length: 4 }, (_, i) => ({ issuer: did, verificationMethodId: vm, subject: "did:example:s", data: { i } })),
    });
    await signPendingRest(did, keys);
    const newVm = (
      await api("PUT", `/v1/dids/web/${enc(did)}/keys`, { keyType: "Ed25519", custody: "external", publicKeyJwk: newKey.publicKeyJwk })
    ).body.verificationMethodId;
    keys.set(newVm, newKey);
    const rotation = await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: newVm });
    await evictDurableObject(stubOf(did));
    await runDurableObjectAlarm(stubOf(did));
    const jobs = (await api("GET", `/v1/signjobs?did=${enc(did)}&status=pending`)).body.signJobs as any[];
    expect(jobs.filter((j) => j.kind === "credential")).toHaveLength(4);
    const sign = async (j: any) => (await api("PUT", "/v1/signjobs", { id: j.id, signature: await newKey.sign(j.signingInput) })).status;
    expect(await Promise.all(jobs.slice(0, 2).map(sign))).toEqual([200, 200]);
    await evictDurableObject(stubOf(did));
    expect((await api("GET", `/v1/operations/${rotation.body.id}`)).body.done).toBe(false);
    expect(await Promise.all(jobs.slice(2).map(sign))).toEqual(jobs.slice(2).map(() => 200));
    const op = (await api("GET", `/v1/operations/${rotation.body.id}`)).body;
    expect(op).toMatchObject({ done: true, result: { response: { resigned: 4, removed: [vm] } } });
    expect(await served("rot-evicted")).toEqual([newVm]);
  });

  it("a job of the old key still pending when the rotation starts is re-signed once it is signed", async () => {
    const oldKey = await externalKey("Ed25519");
    const newKey = await externalKey("Ed25519");
    const { did, vm } = await externalWebDid("rot-late", oldKey);
    const keys = new Map([[vm, oldKey]]);
    await api("PUT", "/v1/credentials", { issuer: did, verificationMethodId: vm, subject: "did:example:s", data: {}, revocable: true });
    await signPendingRest(did, keys);
    const late = await api("PUT", "/v1/credentials", {
      issuer: did,
      verificationMethodId: vm,
      subject: "did:example:s",
      data: { late: true },
    });
    const newVm = (
      await api("PUT", `/v1/dids/web/${enc(did)}/keys`, { keyType: "Ed25519", custody: "external", publicKeyJwk: newKey.publicKeyJwk })
    ).body.verificationMethodId;
    keys.set(newVm, newKey);
    const rotation = await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: newVm });
    let op = rotation.body;
    for (let round = 0; round < 10 && !op.done; round++) {
      await runDurableObjectAlarm(stubOf(did));
      await signPendingRest(did, keys);
      op = (await api("GET", `/v1/operations/${rotation.body.id}`)).body;
    }
    expect(op, JSON.stringify(op)).toMatchObject({ done: true, result: { response: { resigned: 2 } } });
    const vc = (await api("GET", `/v1/credentials/${late.body.result.response.id}`)).body;
    expect(vc.jwtHistory.map((h: any) => h.verificationMethodId)).toEqual([newVm, vm]);
  });

  it("refusals: did:key cannot rotate, unknown DID or key, a revoked key, the key already signing", async () => {
    const key = await api("PUT", "/v1/dids/key", { keyType: "Ed25519" });
    const keyDid = key.body.did.id;
    expect((await api("PUT", `/v1/dids/key/${enc(keyDid)}/rotate`, { verificationMethodId: `${keyDid}#x` })).body).toMatchObject({
      status: 409,
      code: "did_immutable",
    });
    expect(
      (await api("PUT", `/v1/dids/web/${enc("did:web:ssi.test:nobody")}/rotate`, { verificationMethodId: "did:web:ssi.test:nobody#key-2" }))
        .body,
    ).toMatchObject({ status: 404, code: "not_found" });
    const did = "did:web:ssi.test:rot-refusals";
    await api("PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: did } });
    expect((await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: `${did}#key-9` })).body).toMatchObject({
      status: 404,
      code: "not_found",
    });
    expect(
      (await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: "did:web:ssi.test:other#key-1" })).body,
    ).toMatchObject({
      status: 400,
      code: "validation_failed",
    });
    expect((await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: `${did}#key-1` })).body).toMatchObject({
      status: 409,
      code: "conflict",
    });
    expect((await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { keyId: "x" })).body).toMatchObject({
      status: 400,
      code: "validation_failed",
    });
    const second = (await api("PUT", `/v1/dids/web/${enc(did)}/keys`, { keyType: "Ed25519" })).body.verificationMethodId;
    expect((await api("DELETE", `/v1/keys/${enc(second)}`)).status).toBe(204);
    expect((await api("PUT", `/v1/dids/web/${enc(did)}/rotate`, { verificationMethodId: second })).body).toMatchObject({
      status: 409,
      code: "key_revoked",
    });
    expect(await served("rot-refusals")).toEqual([`${did}#key-1`]);
  });
});
