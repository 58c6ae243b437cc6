import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { IssuerObject } from "../durable-objects/issuer";
import { api, enc } from "./support/api";
import { externalKey } from "./support/keys";

describe("SIP 9 flow", () => {
  it("custodial issuance is done at once", async () => {
    const did = await api("PUT", "/v1/dids/key", { keyType: "Ed25519" });
    expect(did.status).toBe(201);
    const doc = did.body.did;
    const res = await api("PUT", "/v1/credentials", {
      issuer: doc.id,
      verificationMethodId: doc.verificationMethod[0].id,
      subject: "did:example:alice",
      data: { name: "Alice" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.done).toBe(true);
    expect(res.body.result.response.credentialJwt).toMatch(/^ey/);
    const op = await api("GET", `/v1/operations/${res.body.id}`);
    expect(op.status).toBe(200);
    expect(op.body.done).toBe(true);
    const v = await api("PUT", "/v1/credentials/verification", { credentialJwt: res.body.result.response.credentialJwt });
    expect(v.body).toEqual({ verified: true });
  });

  it("external issuance waits for a signature", async () => {
    const key = await externalKey("Ed25519");
    const did = await api("PUT", "/v1/dids/key", {
      keyType: "Ed25519",
      custody: "external",
      publicKeyJwk: key.publicKeyJwk,
      keyRef: "pkcs11:token=t;object=k",
    });
    expect(did.status, JSON.stringify(did.body)).toBe(201);
    const doc = did.body.did;
    const res = await api("PUT", "/v1/credentials", {
      issuer: doc.id,
      verificationMethodId: doc.verificationMethod[0].id,
      subject: "did:example:bob",
      data: { name: "Bob" },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const jobs = await api("GET", `/v1/signjobs?did=${enc(doc.id)}&status=pending`);
    expect(jobs.body.signJobs).toHaveLength(1);
    const job = jobs.body.signJobs[0];
    expect(job.keyRef).toBe("pkcs11:token=t;object=k");
    const signed = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
    expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    expect(signed.body.status).toBe("signed");
    const op = await api("GET", `/v1/operations/${res.body.id}`);
    expect(op.body.done).toBe(true);
    const cred = await api("GET", `/v1/credentials/${op.body.result.response.id}`);
    expect(cred.body.credentialJwt).toBe(signed.body.jwt);
  });
});

describe("custodial backlog", () => {
  it("jobs left pending by a stop between creating and signing are signed by the alarm", async () => {
    const did = (await api("PUT", "/v1/dids/key", { keyType: "P-256" })).body.did;
    const vm = did.verificationMethod[0].id;
    const stub = env.ISSUER.getByName(did.id);
    // Create the jobs exactly as createJobs does, but stop before the in-process signer runs.
    const opId = await runInDurableObject(stub, async (object: IssuerObject) => {
      // Reaching past the RPC surface on purpose: this is the state a crash would leave.
      const instance = object as unknown as {
        meta: { bind(did: string): void };
        keys: { get(id: string): Promise<unknown> };
        engine: { create(...a: unknown[]): { operationIds: string[] } };
        ctx: DurableObjectState;
      };
      // A new DID's object learns its DID from the first call (every RPC entry point binds it).
      instance.meta.bind(did.id);
      const key = await instance.keys.get(vm);
      const input = { issuer: did.id, verificationMethodId: vm, subject: "did:example:crash", data: { n: 1 }, format: "jwt_vc" };
      const created = instance.engine.create(key, "http://ssi.test", [{ kind: "credential", input }], instance.ctx.id.toString());
      return created.operationIds[0]!;
    });
    const pending = await api("GET", `/v1/signjobs?did=${enc(did.id)}&status=pending`);
    expect(pending.body.signJobs).toHaveLength(1);

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    const op = await api("GET", `/v1/operations/${opId}`);
    expect(op.status).toBe(200);
    expect(op.body.done).toBe(true);
    const verdict = await api("PUT", "/v1/credentials/verification", { credentialJwt: op.body.result.response.credentialJwt });
    expect(verdict.body).toEqual({ verified: true });
    const left = await api("GET", `/v1/signjobs?did=${enc(did.id)}&status=pending`);
    expect(left.body.signJobs).toHaveLength(0);
  });
});
