/**
 * did:ion recover and deactivate: `PUT /v1/dids/ion/{did}/recover` and `.../deactivate`, Sidetree
 * operations signed by the recovery key (custodial: at once; external: a did-operation sign job,
 * with the next recovery and update keys in the request), anchored at the test node (which checks
 * them with the ION SDK's validation). A deactivated did:ion issues nothing more: 409 did_deactivated.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { clearIonResolutionCache } from "../../src/did/ion/resolver";
import { api, enc } from "../support/api";
import { externalIonDid, externalKey, stubOf } from "../support/keys";
import { ION_TEST_NODE_URL } from "../support/ion-node";

const nodeLog = async (suffix: string) =>
  ((await (await fetch(`${ION_TEST_NODE_URL}/_test/log`)).json()) as { type: string; didSuffix?: string; status: number }[])
    .filter((l) => l.didSuffix === suffix)
    .map((l) => `${l.type}:${l.status}`);

async function untilDone(did: string, operationId: string) {
  for (let i = 0; i < 20; i++) {
    const op = await api("GET", `/v1/operations/${operationId}`);
    if (op.body.done) return op.body;
    await runDurableObjectAlarm(stubOf(did));
  }
  throw new Error(`operation ${operationId} not done`);
}

const issue = (did: string) =>
  api("PUT", "/v1/credentials", { issuer: did, verificationMethodId: `${did}#key-1`, subject: "did:example:s", data: {} });

describe("did:ion recover and deactivate", () => {
  it("custodial: recover renews the keys and the DID keeps working; deactivate is anchored and the DID issues nothing more", async () => {
    const did: string = (await api("PUT", "/v1/dids/ion", { keyType: "Ed25519" })).body.did.id;
    const suffix = did.slice(8);
    const recovered = await api("PUT", `/v1/dids/ion/${enc(did)}/recover`, {});
    expect(recovered.status, JSON.stringify(recovered.body)).toBe(201);
    expect(recovered.body).toMatchObject({ done: true, result: { response: { anchored: true } } });
    // The update key moved on with the recovery: a key added now chains on the new commitment.
    const added = await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, { keyType: "P-256" });
    expect(added.body.operation).toMatchObject({ done: true, result: { response: { anchored: true } } });
    expect((await issue(did)).status).toBe(201);

    // Not for other methods; did:ion only.
    const web = await api("PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: "did:web:ssi.test:recover" } });
    expect(web.status).toBe(201);
    const notIon = await api("PUT", `/v1/dids/web/${enc("did:web:ssi.test:recover")}/deactivate`);
    expect(notIon.status).toBe(400);
    expect(notIon.headers.get("content-type")).toContain("application/problem+json");

    const deactivated = await api("PUT", `/v1/dids/ion/${enc(did)}/deactivate`);
    expect(deactivated.status, JSON.stringify(deactivated.body)).toBe(201);
    expect(deactivated.body).toMatchObject({ id: `dids/ion/${suffix}/deactivate`, done: true, result: { response: { anchored: true } } });
    expect(await nodeLog(suffix)).toEqual(["create:200", "recover:200", "update:200", "deactivate:200"]);
    expect((await fetch(`${ION_TEST_NODE_URL}/identifiers/${did}`)).status).toBe(410);
    clearIonResolutionCache();
    const resolved = await api("GET", `/v1/dids/resolver/${enc(did)}`);
    expect(resolved.status).toBe(404);
    expect(resolved.body.resolution.didDocumentMetadata).toMatchObject({ deactivated: true });

    const refused = await issue(did);
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe("did_deactivated");
    expect((await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, { keyType: "P-256" })).body.code).toBe("did_deactivated");
    expect((await api("PUT", `/v1/dids/ion/${enc(did)}/deactivate`)).body.code).toBe("did_deactivated");
  });

  it("external recovery key: recover needs the next recovery and update keys; both operations go through did-operation jobs", async () => {
    const { did, recovery } = await externalIonDid({ recoveryKeyRef: "kms:ion-recovery" });
    const recovery1 = await externalKey("secp256k1");
    const update1 = await externalKey("secp256k1");
    const suffix = did.slice(8);
    const pending = async () => (await api("GET", `/v1/signjobs?did=${enc(did)}&status=pending`)).body.signJobs as any[];
    const sign = async (j: any, key: { sign(i: string): Promise<string> }) =>
      (await api("PUT", "/v1/signjobs", { id: j.id, signature: await key.sign(j.signingInput) })).status;

    const missing = await api("PUT", `/v1/dids/ion/${enc(did)}/recover`, { nextUpdateKeyJwk: update1.publicKeyJwk });
    expect(missing.body).toMatchObject({ status: 400, code: "validation_failed", errors: [{ path: "nextRecoveryKeyJwk" }] });
    expect(await pending()).toEqual([]);

    const recovered = await api("PUT", `/v1/dids/ion/${enc(did)}/recover`, {
      nextRecoveryKeyJwk: recovery1.publicKeyJwk,
      nextRecoveryKeyRef: "kms:ion-recovery-1",
      nextUpdateKeyJwk: update1.publicKeyJwk,
    });
    expect(recovered.status, JSON.stringify(recovered.body)).toBe(202);
    const [recoverJob] = await pending();
    expect(recoverJob).toMatchObject({ kind: "did-operation", verificationMethodId: `${did}#ion-recovery`, keyRef: "kms:ion-recovery" });
    expect(await sign(recoverJob, recovery)).toBe(200);
    expect(await untilDone(did, recovered.body.id)).toMatchObject({ done: true, result: { response: { anchored: true } } });

    const deactivated = await api("PUT", `/v1/dids/ion/${enc(did)}/deactivate`);
    expect(deactivated.status, JSON.stringify(deactivated.body)).toBe(202);
    // Until the node accepted it the DID still issues.
    expect((await issue(did)).status).toBe(202);
    const deactivateJob = (await pending()).find((j) => j.kind === "did-operation");
    expect(deactivateJob).toMatchObject({ verificationMethodId: `${did}#ion-recovery-1`, keyRef: "kms:ion-recovery-1" });
    expect(await sign(deactivateJob, recovery1)).toBe(200);
    expect(await untilDone(did, deactivated.body.id)).toMatchObject({ done: true, result: { response: { anchored: true } } });
    expect(await nodeLog(suffix)).toEqual(["create:200", "recover:200", "deactivate:200"]);
    // Its pending credential job was cancelled, and nothing new is issued.
    expect(await pending()).toEqual([]);
    expect((await issue(did)).body).toMatchObject({ status: 409, code: "did_deactivated" });
  });
});
