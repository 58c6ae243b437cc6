/**
 * The SIP 9 product end to end: external DIDs whose keys live in a SoftHSM2 token, the signer
 * daemon connected over the WebSocket, 100 credentials issued while the daemon is killed -9 and
 * restarted midway; every operation completes exactly once and every JWT verifies with
 * did-jwt-vc, a third-party verifier.
 */
import { verifyCredential } from "did-jwt-vc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../../scripts/dev-server.ts";
import { freshToken, PIN, SOFTHSM_MODULE, softhsmAvailable, TOKEN } from "../signer/softhsm.ts";
import { eventually, operator, signerCli, startDaemon, stopDaemon, type Daemon } from "./harness.ts";

const KEY_TYPES = ["Ed25519", "P-256", "secp256k1"] as const;
const TOTAL = 100;
const hsm = softhsmAvailable();

describe.skipIf(!hsm)("external issuance with the PKCS#11 signer daemon", () => {
  let server: DevServer;
  let call: ReturnType<typeof operator>;
  let hsmEnv: Record<string, string>;
  const issuers: { keyType: string; did: string }[] = [];
  let daemons: Daemon[] = [];

  const daemonArgs = (did: string, label: string) => [
    "--url", server.url, "--did", did, "--backend", "pkcs11", "--module", SOFTHSM_MODULE,
    "--token", TOKEN, "--key-label", label, "--pin-env", "SSI_SIGNER_PIN",
  ];

  beforeAll(async () => {
    server = await startDevServer();
    call = operator(server.url, server.token);
    hsmEnv = { ...freshToken().env, SSI_SIGNER_PIN: PIN };
    for (const keyType of KEY_TYPES) {
      const label = `vc-${keyType}`;
      const out = JSON.parse(
        signerCli(["keygen", "--backend", "pkcs11", "--module", SOFTHSM_MODULE, "--token", TOKEN, "--pin-env", "SSI_SIGNER_PIN", "--key-label", label, "--key-type", keyType], hsmEnv),
      ) as { body: unknown; publicKeyJwk: { d?: string } };
      expect(out.publicKeyJwk.d).toBeUndefined();
      const created = await call("PUT", "/v1/dids/key", out.body);
      expect(created.status).toBe(201);
      issuers.push({ keyType, did: created.body.did.id });
    }
  });

  afterAll(async () => {
    await Promise.all(daemons.map((d) => stopDaemon(d, "SIGKILL")));
    await server?.stop();
  });

  it("signs 100 credentials exactly once across a kill -9 and restart, and a third party verifies them", async () => {
    const start = () => issuers.map((iss) => startDaemon(daemonArgs(iss.did, `vc-${iss.keyType}`), hsmEnv));
    daemons = start();

    const operations: { id: string; issuer: string }[] = [];
    const issue = async (i: number) => {
      const iss = issuers[i % issuers.length]!;
      const doc = (await call("GET", `/v1/dids/key/${encodeURIComponent(iss.did)}`)).body.did;
      const res = await call("PUT", "/v1/credentials", {
        issuer: iss.did,
        verificationMethodId: doc.verificationMethod[0].id,
        subject: `did:example:holder-${i}`,
        type: ["EmployeeCredential"],
        data: { employeeNumber: i },
        format: i % 2 === 0 ? "jwt_vc" : "vc+jwt",
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      operations.push({ id: res.body.id, issuer: iss.did });
    };

    for (let i = 0; i < TOTAL / 2; i++) await issue(i);
    // Kill the daemons mid-stream (no drain, no goodbye), keep issuing, then bring them back.
    await eventually("some jobs signed before the kill", async () => daemons.some((d) => d.lines.some((l) => l.event === "signed")));
    await Promise.all(daemons.map((d) => stopDaemon(d, "SIGKILL")));
    for (let i = TOTAL / 2; i < TOTAL; i++) await issue(i);
    daemons = start();

    await eventually(
      "all operations done",
      async () => {
        const pending = await call("GET", "/v1/operations?parent=credentials&done=false&pageSize=1000");
        return pending.body.operations.length === 0;
      },
      180_000,
    );

    const resolver = {
      resolve: async (did: string) => (await call("GET", `/v1/dids/resolver/${encodeURIComponent(did)}`)).body,
    };
    for (const op of operations) {
      const got = (await call("GET", `/v1/operations/${op.id}`)).body;
      expect(got.done).toBe(true);
      expect(got.result.error, JSON.stringify(got.result)).toBeUndefined();
      const jwt = got.result.response.credentialJwt as string;
      const header = JSON.parse(Buffer.from(jwt.split(".")[0]!, "base64url").toString());
      if (header.typ === "JWT") {
        const verified = await verifyCredential(jwt, resolver as never);
        expect(verified.verifiableCredential.issuer.id).toBe(op.issuer);
      }
      const check = await call("PUT", "/v1/credentials/verification", { credentialJwt: jwt });
      expect(check.body).toEqual({ verified: true });
    }

    // Exactly once: every issuer's jobs are all signed, one per credential, and no credential
    // row has a second JWT or is missing one.
    for (const iss of issuers) {
      const mine = operations.filter((o) => o.issuer === iss.did).length;
      const signed = await call("GET", `/v1/signjobs?did=${encodeURIComponent(iss.did)}&status=signed&pageSize=1000`);
      expect(signed.body.signJobs).toHaveLength(mine);
      const pending = await call("GET", `/v1/signjobs?did=${encodeURIComponent(iss.did)}&status=pending&pageSize=1000`);
      expect(pending.body.signJobs).toHaveLength(0);
      const creds = await call("GET", `/v1/credentials?issuer=${encodeURIComponent(iss.did)}&pageSize=1000`);
      expect(creds.body.credentials).toHaveLength(mine);
      expect(creds.body.credentials.every((c: { credentialJwt?: string }) => !!c.credentialJwt)).toBe(true);
    }
  });
});
