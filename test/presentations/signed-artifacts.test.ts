/**
 * A signed schema (JsonSchemaCredential, vc+jwt) and a presentation request go through the one sign
 * job path: custodial issuers are done at once; external ones are 202 with a job that a signer signs
 * over REST or over the socket, and the operation is then done. Every JWT verifies against the DID.
 */
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { compactVerify, decodeJwt, decodeProtectedHeader, importJWK } from "jose";
import { describe, expect, it } from "vitest";
import { api, enc, TOKEN } from "../support/api";
import { ALG, b64, custodialDid, externalDid, externalKey, KEY_TYPES, type ExternalKey, type Issuer, type KeyType } from "../support/keys";
import { SignerClient } from "../signer-socket/client";

/** Verifies a compact JWS with the key the DID document names (jose; noble for secp256k1, which WebCrypto lacks). */
async function verifiesAgainstDid(did: string, jwt: string): Promise<boolean> {
  const resolved = await api("GET", `/v1/dids/resolver/${enc(did)}`);
  const kid = decodeProtectedHeader(jwt).kid;
  const vm = (resolved.body.didDocument.verificationMethod as { id: string; publicKeyJwk: Record<string, string> }[]).find(
    (m) => m.id === kid,
  );
  if (!vm) return false;
  const alg = decodeProtectedHeader(jwt).alg!;
  if (alg === "ES256K") {
    const [h, p, s] = jwt.split(".");
    const point = new Uint8Array([4, ...b64.decode(vm.publicKeyJwk.x!), ...b64.decode(vm.publicKeyJwk.y!)]);
    return secp256k1.verify(b64.decode(s!), new TextEncoder().encode(`${h}.${p}`), point, { lowS: true });
  }
  await compactVerify(jwt, await importJWK(vm.publicKeyJwk, alg));
  return true;
}

const SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  type: "object",
  properties: { name: { type: "string" } },
  required: ["name"],
};

async function definition(): Promise<string> {
  const res = await api("PUT", "/v1/presentations/definitions", {
    name: "employment",
    inputDescriptors: [
      { id: "employment", constraints: { fields: [{ path: ["$.vc.credentialSubject.role"], filter: { type: "string" } }] } },
    ],
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body.presentation_definition.id;
}

/** The two creates, for an issuer: a signed schema and a presentation request. */
async function createBoth(issuer: Issuer, definitionId: string) {
  const schema = await api("PUT", "/v1/schemas", { name: "person", schema: SCHEMA, issuer: issuer.did, verificationMethodId: issuer.vmId });
  const request = await api("PUT", "/v1/presentations/requests", {
    issuerId: issuer.did,
    verificationMethodId: issuer.vmId,
    presentationDefinitionId: definitionId,
    audience: ["did:example:holder"],
    callbackUrl: "https://verifier.example/callback",
  });
  return { schema, request };
}

function checkSchemaJwt(jwt: string, issuer: Issuer) {
  expect(decodeProtectedHeader(jwt)).toMatchObject({ typ: "vc+jwt", kid: issuer.vmId });
  const claims = decodeJwt(jwt);
  expect(claims).toMatchObject({
    type: ["VerifiableCredential", "JsonSchemaCredential"],
    issuer: issuer.did,
    credentialSubject: { type: "JsonSchema", jsonSchema: SCHEMA },
  });
  expect(claims["@context"]).toEqual(["https://www.w3.org/ns/credentials/v2"]);
  expect(claims.vc).toBeUndefined();
}

function checkRequestJwt(jwt: string, issuer: Issuer, definitionId: string) {
  const claims = decodeJwt(jwt);
  expect(claims).toMatchObject({
    iss: issuer.did,
    aud: ["did:example:holder"],
    callbackUrl: "https://verifier.example/callback",
    presentation_definition: { id: definitionId },
  });
  expect(typeof claims.jti).toBe("string");
  expect(claims.exp! > claims.iat!).toBe(true);
}

describe.each(KEY_TYPES)("%s issuers", (keyType: KeyType) => {
  it("custodial: a signed schema and a presentation request are done at once (201), and their JWTs verify against the DID", async () => {
    const issuer = await custodialDid(keyType);
    const definitionId = await definition();
    const { schema, request } = await createBoth(issuer, definitionId);
    expect(schema.status, JSON.stringify(schema.body)).toBe(201);
    expect(schema.body).toMatchObject({ done: true, id: expect.stringMatching(/^schemas\//) });
    const schemaJwt = schema.body.result.response.credentialSchemaJwt as string;
    checkSchemaJwt(schemaJwt, issuer);
    expect(await verifiesAgainstDid(issuer.did, schemaJwt)).toBe(true);
    expect((await api("GET", `/v1/schemas/${schema.body.result.response.id}`)).body).toMatchObject({
      credentialSchemaJwt: schemaJwt,
      schema: SCHEMA,
    });

    expect(request.status, JSON.stringify(request.body)).toBe(201);
    const presentationRequest = request.body.result.response.presentationRequest;
    expect(presentationRequest).toMatchObject({ id: expect.any(String), presentationDefinitionId: definitionId });
    checkRequestJwt(presentationRequest.presentationRequestJwt, issuer, definitionId);
    expect(await verifiesAgainstDid(issuer.did, presentationRequest.presentationRequestJwt)).toBe(true);
    expect((await api("GET", `/v1/presentations/requests/${presentationRequest.id}`)).body.presentationRequestJwt).toBe(
      presentationRequest.presentationRequestJwt,
    );
  });

  it("external: 202 with a job; signed over REST and over the socket, the operations are done and the JWTs verify", async () => {
    const key: ExternalKey = await externalKey(keyType);
    const issuer = await externalDid(key);
    const definitionId = await definition();

    // Over REST.
    const rest = await createBoth(issuer, definitionId);
    for (const op of [rest.schema, rest.request]) {
      expect(op.status, JSON.stringify(op.body)).toBe(202);
      expect(op.body.done).toBe(false);
      const job = (await api("GET", `/v1/signjobs/${op.body.signJobs[0]}`)).body;
      expect(job).toMatchObject({ status: "pending", alg: ALG[keyType], kind: op === rest.schema ? "schema" : "presentation-request" });
      const signed = await api("PUT", "/v1/signjobs", { id: job.id, signature: await key.sign(job.signingInput) });
      expect(signed.status, JSON.stringify(signed.body)).toBe(200);
    }
    const schemaOp = (await api("GET", `/v1/operations/${rest.schema.body.id}`)).body;
    expect(schemaOp.done).toBe(true);
    checkSchemaJwt(schemaOp.result.response.credentialSchemaJwt, issuer);
    expect(await verifiesAgainstDid(issuer.did, schemaOp.result.response.credentialSchemaJwt)).toBe(true);
    const requestOp = (await api("GET", `/v1/operations/${rest.request.body.id}`)).body;
    expect(requestOp.done).toBe(true);
    checkRequestJwt(requestOp.result.response.presentationRequest.presentationRequestJwt, issuer, definitionId);
    expect(await verifiesAgainstDid(issuer.did, requestOp.result.response.presentationRequest.presentationRequestJwt)).toBe(true);

    // Over the socket.
    const signer = await SignerClient.open(issuer.did, `Bearer ${TOKEN}`);
    await signer.next("ready");
    const socket = await createBoth(issuer, definitionId);
    const offered: { id: string; signingInput: string; kind: string }[] = [];
    while (offered.length < 2) offered.push(...(await signer.next("jobs")).jobs);
    expect(offered.map((j) => j.kind).sort()).toEqual(["presentation-request", "schema"]);
    for (const job of offered) {
      const result = await signer.call({ type: "sign", id: job.id, signature: await key.sign(job.signingInput) });
      expect(result).toMatchObject({ type: "result", id: job.id, status: "signed" });
    }
    signer.ws.close();
    const schemaDone = (await api("GET", `/v1/operations/${socket.schema.body.id}`)).body;
    const requestDone = (await api("GET", `/v1/operations/${socket.request.body.id}`)).body;
    expect(schemaDone.done && requestDone.done).toBe(true);
    expect(await verifiesAgainstDid(issuer.did, schemaDone.result.response.credentialSchemaJwt)).toBe(true);
    expect(await verifiesAgainstDid(issuer.did, requestDone.result.response.presentationRequest.presentationRequestJwt)).toBe(true);
  });
});
