/**
 * PUT /v1/dids/{method}/{did}/keys: did:key refuses (did_immutable); did:web serves the new key at
 * once; did:ion adds it with a Sidetree update anchored at the test node, signed by a custodial
 * update key at once, or by an external one through a did-operation sign job.
 */
import { describe, expect, it } from "vitest";
import { clearIonResolutionCache } from "../../src/did/ion/resolver";
import { api, enc } from "../support/api";
import { externalDid, externalIonDid, externalKey } from "../support/keys";
import { ION_TEST_NODE_URL } from "../support/ion-node";

async function nodeDoc(did: string): Promise<{ verificationMethod: { id: string }[] }> {
  return (
    (await (await fetch(`${ION_TEST_NODE_URL}/identifiers/${did}`)).json()) as { didDocument: { verificationMethod: { id: string }[] } }
  ).didDocument;
}

describe("adding a key", () => {
  it("did:key cannot change; did:web serves the added key at once", async () => {
    const k = await externalDid(await externalKey("Ed25519"));
    const refused = await api("PUT", `/v1/dids/key/${enc(k.did)}/keys`, { keyType: "Ed25519" });
    expect(refused.body).toMatchObject({ status: 409, code: "did_immutable" });

    const web = await api("PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: "did:web:ssi.test:addkey" } });
    expect(web.status).toBe(201);
    const added = await api("PUT", `/v1/dids/web/${enc("did:web:ssi.test:addkey")}/keys`, { keyType: "P-256" });
    expect(added.status).toBe(201);
    expect(added.body.verificationMethodId).toBe("did:web:ssi.test:addkey#key-2");
    const served = await api("GET", "/addkey/did.json", undefined, { auth: null });
    expect(served.body.verificationMethod.map((v: { id: string }) => v.id)).toEqual([
      "did:web:ssi.test:addkey#key-1",
      "did:web:ssi.test:addkey#key-2",
    ]);
    const other = await api("PUT", `/v1/dids/web/${enc("did:web:ssi.test:addkey")}/keys`, {
      keyType: "P-256",
      custody: "external",
      publicKeyJwk: (await externalKey("P-256")).publicKeyJwk,
    });
    expect(other.body).toMatchObject({ status: 400, code: "validation_failed" });
  });

  it("did:ion, custodial update key: signed at once, anchored, the document has the key", async () => {
    const created = await api("PUT", "/v1/dids/ion", { keyType: "Ed25519" });
    const did: string = created.body.did.id;
    const added = await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, { keyType: "P-256" });
    expect(added.status).toBe(201);
    expect(added.body.operation).toMatchObject({
      id: `dids/ion/${did.slice(8)}/keys/key-2`,
      done: true,
      result: { response: { anchored: true } },
    });
    expect((await nodeDoc(did)).verificationMethod.map((v) => v.id)).toEqual(["#key-1", "#key-2"]);
    const resolved = await api("GET", `/v1/dids/resolver/${enc(did)}`);
    expect(resolved.body.didDocument.verificationMethod.map((v: { id: string }) => v.id)).toEqual([`${did}#key-1`, `${did}#key-2`]);
    // A second update chains on the first's commitment: the node accepts it too.
    const third = await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, { keyType: "secp256k1" });
    expect(third.body.operation).toMatchObject({ done: true, result: { response: { anchored: true } } });
    expect((await nodeDoc(did)).verificationMethod).toHaveLength(3);
  });

  it("did:ion, external update key: a did-operation job signed by the update key adds the key", async () => {
    const { did, created, update } = await externalIonDid({ updateKeyRef: "kms:ion-update" });
    const nextUpdate = await externalKey("secp256k1");
    expect(created.body.operation.done).toBe(true);

    const newKey = await externalKey("Ed25519");
    const missing = await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, {
      keyType: "Ed25519",
      custody: "external",
      publicKeyJwk: newKey.publicKeyJwk,
    });
    expect(missing.body).toMatchObject({ status: 400, errors: [{ path: "nextUpdateKeyJwk" }] });

    const added = await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, {
      keyType: "Ed25519",
      custody: "external",
      publicKeyJwk: newKey.publicKeyJwk,
      nextUpdateKeyJwk: nextUpdate.publicKeyJwk,
      nextUpdateKeyRef: "kms:ion-update-2",
    });
    expect(added.status).toBe(202);
    expect(added.body.operation).toMatchObject({ done: false });
    // One change at a time: Sidetree chains updates.
    const busy = await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, {
      keyType: "Ed25519",
      custody: "external",
      publicKeyJwk: newKey.publicKeyJwk,
      nextUpdateKeyJwk: nextUpdate.publicKeyJwk,
    });
    expect(busy.body).toMatchObject({ status: 409, code: "did_operation_pending" });

    const jobs = await api("GET", `/v1/signjobs?did=${enc(did)}&status=pending`);
    expect(jobs.body.signJobs).toHaveLength(1);
    const job = jobs.body.signJobs[0];
    expect(job).toMatchObject({
      kind: "did-operation",
      alg: "ES256K",
      keyRef: "kms:ion-update",
      verificationMethodId: `${did}#ion-update`,
    });
    expect(JSON.parse(atob(job.signingInput.split(".")[0]))).toEqual({ alg: "ES256K" });
    expect((await nodeDoc(did)).verificationMethod).toHaveLength(1);
    // The update key signs Sidetree operations only, never a credential.
    const misuse = await api("PUT", "/v1/credentials", {
      issuer: did,
      verificationMethodId: `${did}#ion-update`,
      subject: "did:example:x",
      data: {},
    });
    expect(misuse.body).toMatchObject({ status: 400, code: "validation_failed" });

    // A signature by the wrong key is refused; the update key's is accepted and the node anchors it.
    expect((await api("PUT", "/v1/signjobs", { id: job.id, signature: await nextUpdate.sign(job.signingInput) })).body).toMatchObject({
      code: "invalid_signature",
    });
    const signed = await api("PUT", "/v1/signjobs", { id: job.id, signature: await update.sign(job.signingInput) });
    expect(signed.status).toBe(200);
    const op = await api("GET", `/v1/operations/${added.body.operation.id}`);
    expect(op.body).toMatchObject({ done: true, result: { response: { anchored: true, verificationMethodId: `${did}#key-2` } } });
    expect((await nodeDoc(did)).verificationMethod.map((v) => v.id)).toEqual(["#key-1", "#key-2"]);
    clearIonResolutionCache();
    const resolved = await api("GET", `/v1/dids/resolver/${enc(did)}`);
    expect(resolved.body.didDocument.verificationMethod.map((v: { id: string }) => v.id)).toEqual([`${did}#key-1`, `${did}#key-2`]);
  });

  it("after a key revocation, status changes are 409 no_signing_key until a key is added; then the new key signs the list", async () => {
    const did = "did:web:ssi.test:revoked-then-added";
    await api("PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: did } });
    const vc = await api("PUT", "/v1/credentials", {
      issuer: did,
      verificationMethodId: `${did}#key-1`,
      subject: "did:example:bob",
      data: { n: 1 },
      revocable: true,
    });
    expect(vc.status).toBe(201);
    const id = vc.body.result.response.id;
    expect((await api("DELETE", `/v1/keys/${enc(`${did}#key-1`)}`)).status).toBe(204);
    expect((await api("GET", "/revoked-then-added/did.json", undefined, { auth: null })).body.verificationMethod).toEqual([]);
    expect((await api("PUT", `/v1/credentials/${id}/status`, { revoked: true })).body).toMatchObject({
      status: 409,
      code: "no_signing_key",
    });

    const added = await api("PUT", `/v1/dids/web/${enc(did)}/keys`, { keyType: "Ed25519" });
    expect(added.body.verificationMethodId).toBe(`${did}#key-2`);
    const changed = await api("PUT", `/v1/credentials/${id}/status`, { revoked: true });
    expect(changed.status).toBe(200);
    const listUrl: string = vc.body.result.response.credential.credentialStatus.statusListCredential;
    const list = await api("GET", new URL(listUrl).pathname);
    const header = JSON.parse(atob(list.body.credentialJwt.split(".")[0].replace(/-/g, "+").replace(/_/g, "/")));
    expect(header.kid).toBe(`${did}#key-2`);
  });

  it("did:ion, external: after a revocation the list is signed by the added key, never by the update key the object holds", async () => {
    const { did, signing, update } = await externalIonDid();
    const vc = await api("PUT", "/v1/credentials", {
      issuer: did,
      verificationMethodId: `${did}#key-1`,
      subject: "did:example:bob",
      data: {},
      revocable: true,
    });
    const id = vc.body.result.response.id;
    const signAll = async (key: typeof signing) => {
      for (const job of (await api("GET", `/v1/signjobs?did=${enc(did)}&status=pending`)).body.signJobs)
        expect((await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) })).status).toBe(200);
    };
    await signAll(signing);
    const second = await externalKey("secp256k1");
    const added = await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, {
      keyType: "secp256k1",
      custody: "external",
      publicKeyJwk: second.publicKeyJwk,
      nextUpdateKeyJwk: (await externalKey("secp256k1")).publicKeyJwk,
    });
    expect(added.status).toBe(202);
    await signAll(update);
    expect((await api("GET", `/v1/operations/${added.body.operation.id}`)).body.done).toBe(true);
    expect((await api("DELETE", `/v1/keys/${enc(`${did}#key-1`)}`)).status).toBe(204);
    const changed = await api("PUT", `/v1/credentials/${id}/status`, { revoked: true });
    expect(changed.status, JSON.stringify(changed.body)).toBe(200);
    const [job] = (await api("GET", `/v1/signjobs?did=${enc(did)}&status=pending`)).body.signJobs;
    expect(job).toMatchObject({ kind: "status-list", verificationMethodId: `${did}#key-2` });
  });
});
