/**
 * did:ion key rotation: once every artifact of the old key is re-signed, the old key leaves the
 * ION document through a Sidetree update (remove-public-keys) signed by the DID's update key
 * (custodial: at once; external: a did-operation sign job, with `nextUpdateKeyJwk` in the rotate
 * request), anchored at the test node, which checks it with the ION SDK's validation.
 */
import { runDurableObjectAlarm } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { clearIonResolutionCache } from "../../src/did/ion/resolver";
import { api, enc } from "../support/api";
import { externalIonDid, externalKey, stubOf } from "../support/keys";
import { ION_TEST_NODE_URL } from "../support/ion-node";

async function nodeKeys(did: string): Promise<string[]> {
  const res = (await (await fetch(`${ION_TEST_NODE_URL}/identifiers/${did}`)).json()) as {
    didDocument: { verificationMethod: { id: string }[] };
  };
  return res.didDocument.verificationMethod.map((v) => v.id);
}

async function resolvedKeys(did: string): Promise<string[]> {
  clearIonResolutionCache();
  const res = await api("GET", `/v1/dids/resolver/${enc(did)}`);
  return res.body.didDocument.verificationMethod.map((v: { id: string }) => v.id);
}

async function untilDone(did: string, operationId: string) {
  for (let i = 0; i < 20; i++) {
    const op = await api("GET", `/v1/operations/${operationId}`);
    if (op.body.done) return op.body;
    await runDurableObjectAlarm(stubOf(did));
  }
  throw new Error(`operation ${operationId} not done`);
}

describe("did:ion rotation", () => {
  it("custodial: the rotation's end anchors an update removing the old key; the node and short-form resolution no longer show it", async () => {
    const created = await api("PUT", "/v1/dids/ion", { keyType: "Ed25519" });
    expect(created.status).toBe(201);
    const did: string = created.body.did.id;
    const issued = await api("PUT", "/v1/credentials", {
      issuer: did,
      verificationMethodId: `${did}#key-1`,
      subject: "did:example:s",
      data: {},
    });
    expect(issued.status).toBe(201);
    const added = await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, { keyType: "Ed25519" });
    expect(added.status).toBe(201);
    // Refused: only an external update key takes a next update key.
    const extra = await api("PUT", `/v1/dids/ion/${enc(did)}/rotate`, {
      verificationMethodId: `${did}#key-2`,
      nextUpdateKeyJwk: (await externalKey("secp256k1")).publicKeyJwk,
    });
    expect(extra.body).toMatchObject({ status: 400, code: "validation_failed", errors: [{ path: "nextUpdateKeyJwk" }] });

    const rotation = await api("PUT", `/v1/dids/ion/${enc(did)}/rotate`, { verificationMethodId: `${did}#key-2` });
    expect(rotation.status, JSON.stringify(rotation.body)).toBe(202);
    // Until the re-signing is done the old key stays at the node.
    expect(await nodeKeys(did)).toEqual(["#key-1", "#key-2"]);
    const op = await untilDone(did, rotation.body.id);
    expect(op.result.response).toMatchObject({ resigned: 1, removed: [`${did}#key-1`] });
    const documentOperation = op.result.response.documentOperation as string;
    expect(documentOperation).toMatch(new RegExp(`^dids/ion/${did.slice(8)}/rotations/`));
    expect(await untilDone(did, documentOperation)).toMatchObject({ done: true, result: { response: { anchored: true } } });

    expect(await nodeKeys(did)).toEqual(["#key-2"]);
    expect(await resolvedKeys(did)).toEqual([`${did}#key-2`]);
    const node = (await (await fetch(`${ION_TEST_NODE_URL}/_test/log`)).json()) as { type: string; didSuffix?: string; status: number }[];
    expect(node.filter((l) => l.didSuffix === did.slice(8) && l.type === "update").map((l) => l.status)).toEqual([200, 200]);
    // The credential's newest JWT verifies against the document without the old key.
    const vc = (await api("GET", `/v1/credentials/${issued.body.result.response.id}`)).body;
    expect((await api("PUT", "/v1/credentials/verification", { credentialJwt: vc.credentialJwt })).body).toEqual({ verified: true });
    // The update key moved on: a later change chains on the new commitment.
    const third = await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, { keyType: "P-256" });
    expect(third.body.operation).toMatchObject({ done: true, result: { response: { anchored: true } } });
    expect(await nodeKeys(did)).toEqual(["#key-2", "#key-3"]);
  });

  it("external update key: the rotate request needs nextUpdateKeyJwk; a did-operation job removes the old key once re-signing is done", async () => {
    const { did, signing, update } = await externalIonDid();
    const update1 = await externalKey("secp256k1");
    const update2 = await externalKey("secp256k1");
    const sign = async (j: any, key: { sign(i: string): Promise<string> }) =>
      (await api("PUT", "/v1/signjobs", { id: j.id, signature: await key.sign(j.signingInput) })).status;
    const pending = async () => (await api("GET", `/v1/signjobs?did=${enc(did)}&status=pending`)).body.signJobs as any[];

    const issued = await api("PUT", "/v1/credentials", {
      issuer: did,
      verificationMethodId: `${did}#key-1`,
      subject: "did:example:s",
      data: {},
    });
    expect(issued.status).toBe(202);
    expect(await sign((await pending())[0], signing)).toBe(200);
    const newKey = await externalKey("Ed25519");
    const added = await api("PUT", `/v1/dids/ion/${enc(did)}/keys`, {
      keyType: "Ed25519",
      custody: "external",
      publicKeyJwk: newKey.publicKeyJwk,
      nextUpdateKeyJwk: update1.publicKeyJwk,
    });
    expect(added.status).toBe(202);
    expect(await sign((await pending())[0], update)).toBe(200);
    expect(await nodeKeys(did)).toEqual(["#key-1", "#key-2"]);

    const missing = await api("PUT", `/v1/dids/ion/${enc(did)}/rotate`, { verificationMethodId: `${did}#key-2` });
    expect(missing.status).toBe(400);
    expect(missing.headers.get("content-type")).toContain("application/problem+json");
    expect(missing.body).toMatchObject({ code: "validation_failed", errors: [{ path: "nextUpdateKeyJwk" }] });
    expect(await pending()).toEqual([]);

    const rotation = await api("PUT", `/v1/dids/ion/${enc(did)}/rotate`, {
      verificationMethodId: `${did}#key-2`,
      nextUpdateKeyJwk: update2.publicKeyJwk,
      nextUpdateKeyRef: "kms:ion-update-2",
    });
    expect(rotation.status, JSON.stringify(rotation.body)).toBe(202);
    for (let i = 0; i < 5 && (await pending()).length < 2; i++) await runDurableObjectAlarm(stubOf(did));
    const jobs = await pending();
    const didOp = jobs.find((j) => j.kind === "did-operation");
    expect(didOp).toMatchObject({ verificationMethodId: `${did}#ion-update-1`, alg: "ES256K" });
    const resign = jobs.find((j) => j.kind === "credential");
    expect(resign).toMatchObject({ verificationMethodId: `${did}#key-2` });

    // The update is signed first, but waits for the re-signing: the old key's JWTs must keep verifying.
    expect(await sign(didOp, update1)).toBe(200);
    expect(await nodeKeys(did)).toEqual(["#key-1", "#key-2"]);
    expect(await sign(resign, newKey)).toBe(200);
    const op = await untilDone(did, rotation.body.id);
    const documentOperation = op.result.response.documentOperation as string;
    expect(await untilDone(did, documentOperation)).toMatchObject({ done: true, result: { response: { anchored: true } } });
    expect(await nodeKeys(did)).toEqual(["#key-2"]);
    expect(await resolvedKeys(did)).toEqual([`${did}#key-2`]);
  });
});
