/**
 * Credential Manifests end to end, with an external issuer whose key lives in a SoftHSM2 token:
 * the signer daemon, connected over the WebSocket, signs the manifest, then the three jobs of an
 * approved application (two credentials and the response) under one operation, then the jobs of an
 * application a template answers without review. A third party (did-jwt-vc, jose) verifies them.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyCredential } from "did-jwt-vc";
import { base64url, decodeJwt, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../../scripts/dev-server.ts";
import { freshToken, PIN, pkcs11KeyArgs, softhsmAvailable } from "../signer-daemon/softhsm.ts";
import { eventually, operator, signerCli, startDaemon, stopDaemon, type Daemon } from "./harness.ts";

const SPEC_VERSION = "https://identity.foundation/credential-manifest/spec/v1.0.0/";
const hsm = softhsmAvailable();

describe.skipIf(!hsm)("credential manifests with the PKCS#11 signer daemon", () => {
  let server: DevServer;
  let call: ReturnType<typeof operator>;
  let daemon: Daemon | undefined;
  let issuer: { did: string; vm: string; jwk: Record<string, string> };

  beforeAll(async () => {
    server = await startDevServer();
    call = operator(server.url, server.token);
    const hsmEnv = { ...freshToken().env, SSI_SIGNER_PIN: PIN };
    const common = pkcs11KeyArgs("manifests");
    const kg = JSON.parse(signerCli(["keygen", ...common, "--key-type", "Ed25519"], hsmEnv)) as { body: unknown };
    const created = await call("PUT", "/v1/dids/key", kg.body);
    expect(created.status).toBe(201);
    const vm = created.body.did.verificationMethod[0];
    issuer = { did: created.body.did.id, vm: vm.id, jwk: vm.publicKeyJwk };
    const policy = join(mkdtempSync(join(tmpdir(), "ssi-e2e-manifests-")), "policy.json");
    writeFileSync(policy, JSON.stringify({ kinds: ["credential", "status-list", "manifest", "manifest-request", "credential-response"] }));
    daemon = startDaemon(["--url", server.url, "--did", issuer.did, ...common, "--policy", policy], hsmEnv);
  });

  afterAll(async () => {
    if (daemon) await stopDaemon(daemon, "SIGKILL");
    await server?.stop();
  });

  const done = async (id: string) => {
    let op: any;
    await eventually(`operation ${id} done`, async () => (op = (await call("GET", `/v1/operations/${id}`)).body).done === true);
    return op;
  };

  /** A holder made here (did:jwk, Ed25519) with a licence credential from a custodial authority. */
  async function holderWithLicence() {
    const { privateKey, publicKey } = await generateKeyPair("EdDSA", { crv: "Ed25519" });
    const jwk = await exportJWK(publicKey);
    const did = `did:jwk:${base64url.encode(JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }))}`;
    const authority = (await call("PUT", "/v1/dids/key", { keyType: "Ed25519" })).body.did;
    const licence = await call("PUT", "/v1/credentials", {
      issuer: authority.id,
      verificationMethodId: authority.verificationMethod[0].id,
      subject: did,
      data: { licence: "A-123", name: "Alice" },
    });
    expect(licence.status).toBe(201);
    const apply = (manifestId: string) =>
      new SignJWT({
        credential_application: {
          id: crypto.randomUUID(),
          spec_version: SPEC_VERSION,
          manifest_id: manifestId,
          format: { jwt_vc: { alg: ["EdDSA"] } },
          presentation_submission: {
            id: crypto.randomUUID(),
            definition_id: "licence-check",
            descriptor_map: [{ id: "licence", format: "jwt_vc", path: "$.verifiableCredential[0]" }],
          },
        },
        vp: { type: ["VerifiablePresentation"], verifiableCredential: [licence.body.result.response.credentialJwt] },
      })
        .setProtectedHeader({ alg: "EdDSA", kid: `${did}#0`, typ: "JWT" })
        .setIssuer(did)
        .setIssuedAt()
        .sign(privateKey);
    return { did, apply };
  }

  async function manifest() {
    const res = await call("PUT", "/v1/manifests", {
      issuerDid: issuer.did,
      verificationMethodId: issuer.vm,
      format: { jwt_vc: { alg: ["EdDSA"] } },
      outputDescriptors: [
        { id: "driver", schema: "https://example.com/schemas/driver" },
        { id: "insurance", schema: "https://example.com/schemas/insurance" },
      ],
      presentationDefinition: {
        id: "licence-check",
        input_descriptors: [{ id: "licence", constraints: { fields: [{ path: ["$.credentialSubject.licence"] }] } }],
      },
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    const op = await done(res.body.id);
    return op.result.response.credential_manifest.id as string;
  }

  /** Both credentials verify with did-jwt-vc (DIDs resolved through the service) and the response with jose. */
  async function verifyResult(
    result: { verifiableCredentials: string[]; responseJwt: string; credential_response: unknown },
    holder: string,
  ) {
    const resolver = { resolve: async (did: string) => (await call("GET", `/v1/dids/resolver/${encodeURIComponent(did)}`)).body };
    expect(result.verifiableCredentials).toHaveLength(2);
    for (const jwt of result.verifiableCredentials) {
      const verified = await verifyCredential(jwt, resolver as never);
      expect(verified.verified).toBe(true);
      expect(verified.payload.sub).toBe(holder);
    }
    const { payload } = await jwtVerify(result.responseJwt, await importJWK(issuer.jwk, "EdDSA"));
    expect(payload.credential_response).toEqual(result.credential_response);
  }

  it("manifest → application → approval: the daemon signs the three jobs of one operation over the WebSocket", async () => {
    const manifestId = await manifest();
    const holder = await holderWithLicence();
    const submitted = await call("PUT", "/v1/manifests/applications", { applicationJwt: await holder.apply(manifestId) });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const applicationId = submitted.body.id.split("/").at(-1);
    const reviewed = await call("PUT", `/v1/manifests/applications/${applicationId}/review`, {
      approved: true,
      credentialOverrides: { driver: { data: { class: "B" } } },
    });
    expect(reviewed.status, JSON.stringify(reviewed.body)).toBe(202);
    expect(reviewed.body.signJobs).toHaveLength(3);
    const op = await done(reviewed.body.id);
    expect(op.result.code).toBeUndefined();
    await verifyResult(op.result.response, holder.did);
    expect(decodeJwt(op.result.response.verifiableCredentials[0])).toMatchObject({ vc: { credentialSubject: { class: "B" } } });
  });

  it("with an issuance template: no review, the credentials carry the submitted licence", async () => {
    const manifestId = await manifest();
    const template = await call("PUT", "/v1/issuancetemplates", {
      credentialManifest: manifestId,
      issuer: issuer.did,
      verificationMethodId: issuer.vm,
      credentials: [
        { id: "driver", credentialInputDescriptor: "licence", data: { licence: "$.credentialSubject.licence" } },
        { id: "insurance", credentialInputDescriptor: "licence", data: { name: "$.credentialSubject.name" } },
      ],
    });
    expect(template.status, JSON.stringify(template.body)).toBe(201);
    const holder = await holderWithLicence();
    const submitted = await call("PUT", "/v1/manifests/applications", { applicationJwt: await holder.apply(manifestId) });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    expect(submitted.body.signJobs).toHaveLength(3);
    const op = await done(submitted.body.id);
    await verifyResult(op.result.response, holder.did);
    expect(op.result.response.verifiableCredentials.map((vc: string) => decodeJwt(vc).vc)).toMatchObject([
      { credentialSubject: { licence: "A-123" } },
      { credentialSubject: { name: "Alice" } },
    ]);
  });
});
