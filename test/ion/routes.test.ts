/**
 * PUT /v1/dids/ion against the test ION node: custodial and external creates, the anchoring
 * Operation (done when the node accepts, retried by the alarm when it is down), resolution of
 * the long and the short form, and a credential of a did:ion issuer that verifies.
 */
import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { jwkFromPublicKeyBytes } from "../../src/crypto";
import { api, enc } from "../support/api";
import { ION_TEST_NODE_URL } from "../support/ion-node";

const opKey = () => jwkFromPublicKeyBytes("secp256k1", secp256k1.getPublicKey(secp256k1.utils.randomSecretKey(), true));

describe("PUT /v1/dids/ion", () => {
  it("custodial: long form at once, anchored at the node, both forms resolve, its credentials verify", async () => {
    const res = await api("PUT", "/v1/dids/ion", { keyType: "Ed25519" });
    expect(res.status).toBe(201);
    const did: string = res.body.did.id;
    const suffix = did.slice("did:ion:".length);
    expect(res.body.longFormDid.startsWith(`${did}:`)).toBe(true);
    expect(res.body.operation).toMatchObject({ id: `dids/ion/${suffix}`, done: true, result: { response: { did, anchored: true } } });
    expect((await api("GET", `/v1/operations/${res.body.operation.id}`)).body).toMatchObject({ done: true });

    const long = await api("GET", `/v1/dids/resolver/${enc(res.body.longFormDid)}`);
    expect(long.status).toBe(200);
    expect(long.body.didDocument.verificationMethod[0].publicKeyJwk).toEqual(res.body.did.verificationMethod[0].publicKeyJwk);
    const short = await api("GET", `/v1/dids/resolver/${enc(did)}`);
    expect(short.body.didDocument.assertionMethod).toEqual([`${did}#key-1`]);
    expect(short.body.didDocumentMetadata.canonicalId).toBe(did);
    // The node has it too, from the operation it validated.
    const atNode = await fetch(`${ION_TEST_NODE_URL}/identifiers/${did}`);
    expect(((await atNode.json()) as { didDocument: { verificationMethod: { id: string }[] } }).didDocument.verificationMethod[0]!.id).toBe(
      "#key-1",
    );

    const vc = await api("PUT", "/v1/credentials", {
      issuer: did,
      verificationMethodId: `${did}#key-1`,
      subject: "did:example:alice",
      data: { name: "Alice" },
    });
    expect(vc.status).toBe(201);
    const verified = await api("PUT", "/v1/credentials/verification", { credentialJwt: vc.body.result.response.credentialJwt });
    expect(verified.body).toMatchObject({ verified: true });
  });

  it("external: takes update and recovery keys; a node that is down is retried by the alarm until it accepts", async () => {
    const signing = opKey();
    await fetch(`${ION_TEST_NODE_URL}/_test/fail?count=1&match=${signing.x}`, { method: "PUT" });
    const res = await api("PUT", "/v1/dids/ion", {
      keyType: "secp256k1",
      custody: "external",
      publicKeyJwk: signing,
      keyRef: "kms:sign",
      updateKeyJwk: opKey(),
      updateKeyRef: "kms:update",
      recoveryKeyJwk: opKey(),
      recoveryKeyRef: "kms:recovery",
    });
    expect(res.status).toBe(201);
    const did: string = res.body.did.id;
    expect(res.body.operation).toMatchObject({ done: false });
    expect((await api("GET", `/v1/dids/resolver/${enc(did)}`)).body.didDocumentMetadata.method.published).toBe(false);

    // The retry is due after its backoff; bring it forward instead of waiting for it.
    const stub = env.ISSUER.getByName(did);
    await runInDurableObject(stub, (_o, state) => void state.storage.sql.exec("UPDATE ion_anchors SET next_at = 0"));
    await runDurableObjectAlarm(stub);
    const op = await api("GET", `/v1/operations/${res.body.operation.id}`);
    expect(op.body).toMatchObject({ done: true, result: { response: { anchored: true } } });
    expect((await api("GET", `/v1/dids/resolver/${enc(did)}`)).body.didDocumentMetadata.method.published).toBe(true);
  });

  it("an anchoring cancelled while the node is down ends cancelled, and nothing is posted after", async () => {
    // External keys: the failure is scoped to this DID's create by its key (test/support/ion-node.ts).
    const signing = opKey();
    await fetch(`${ION_TEST_NODE_URL}/_test/fail?count=1&match=${signing.x}`, { method: "PUT" });
    const res = await api("PUT", "/v1/dids/ion", {
      keyType: "secp256k1",
      custody: "external",
      publicKeyJwk: signing,
      updateKeyJwk: opKey(),
      recoveryKeyJwk: opKey(),
    });
    expect(res.status).toBe(201);
    const did: string = res.body.did.id;
    expect(res.body.operation).toMatchObject({ done: false });
    const cancelled = await api("PUT", `/v1/operations/cancel/${res.body.operation.id}`);
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({ done: true, result: { code: "cancelled" } });

    // Whatever retry was due runs now: there must be none.
    const stub = env.ISSUER.getByName(did);
    await runInDurableObject(stub, (_o, state) => void state.storage.sql.exec("UPDATE ion_anchors SET next_at = 0"));
    await runDurableObjectAlarm(stub);
    expect((await api("GET", `/v1/operations/${res.body.operation.id}`)).body).toMatchObject({ done: true, result: { code: "cancelled" } });
    expect((await api("GET", `/v1/dids/resolver/${enc(did)}`)).body.didDocumentMetadata.method.published).toBe(false);
    expect((await fetch(`${ION_TEST_NODE_URL}/identifiers/${did}`)).status).toBe(404);
  });

  it("refuses update or recovery keys that are missing, private, or given to another method", async () => {
    const missing = await api("PUT", "/v1/dids/ion", {
      keyType: "secp256k1",
      custody: "external",
      publicKeyJwk: opKey(),
      recoveryKeyJwk: opKey(),
    });
    expect(missing.status).toBe(400);
    expect(missing.body.errors[0].path).toBe("updateKeyJwk");
    const priv = await api("PUT", "/v1/dids/ion", {
      keyType: "secp256k1",
      custody: "external",
      publicKeyJwk: opKey(),
      updateKeyJwk: { ...opKey(), d: "AA" },
      recoveryKeyJwk: opKey(),
    });
    expect(priv.body).toMatchObject({ status: 400, code: "invalid_public_key" });
    const other = await api("PUT", "/v1/dids/key", { keyType: "Ed25519", updateKeyJwk: opKey() });
    expect(other.body).toMatchObject({ status: 400, code: "validation_failed" });
  });
});
