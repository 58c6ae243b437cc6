/**
 * The SIP 9 product end to end: external DIDs whose keys live in a SoftHSM2 token, the signer
 * daemon connected over the WebSocket, killed -9 while it provably has jobs in flight (the
 * service shows each issuer's backlog partly signed after the kill), more credentials issued while
 * it is down, then restarted; every operation completes exactly once and every JWT verifies with
 * did-jwt-vc, a third-party verifier.
 */
import { verifyCredential } from "did-jwt-vc";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../../scripts/dev-server.ts";
import { freshToken, PIN, pkcs11KeyArgs, softhsmAvailable } from "../signer-daemon/softhsm.ts";
import { eventually, operator, signerCli, startDaemon, stopDaemon, type Daemon } from "./harness.ts";

const KEY_TYPES = ["Ed25519", "P-256", "secp256k1"] as const;
/** Per issuer: a backlog the daemon is killed in the middle of, then more while it is down. */
const BACKLOG = 60;
const LATER = 20;
const hsm = softhsmAvailable();

describe.skipIf(!hsm)("external issuance with the PKCS#11 signer daemon", () => {
  let server: DevServer;
  let call: ReturnType<typeof operator>;
  let hsmEnv: Record<string, string>;
  const issuers: { keyType: string; did: string }[] = [];
  let daemons: Daemon[] = [];

  // One signature at a time, each sent alone, and the next one made only once the service confirmed
  // the last: at the kill the daemon can have made at most one signature the service has not seen,
  // so the backlog is provably in the middle however fast the token and the service are.
  const THROTTLED = ["--concurrency", "1", "--batch-window", "0", "--max-unconfirmed", "1"];
  const daemonArgs = (did: string, label: string, extra: string[] = []) => [
    "--url",
    server.url,
    "--did",
    did,
    ...pkcs11KeyArgs(label),
    ...extra,
  ];

  beforeAll(async () => {
    server = await startDevServer();
    call = operator(server.url, server.token);
    hsmEnv = { ...freshToken().env, SSI_SIGNER_PIN: PIN };
    for (const keyType of KEY_TYPES) {
      const label = `vc-${keyType}`;
      const out = JSON.parse(signerCli(["keygen", ...pkcs11KeyArgs(label), "--key-type", keyType], hsmEnv)) as {
        body: unknown;
        publicKeyJwk: { d?: string };
      };
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

  it("signs every credential exactly once across a kill -9 with jobs in flight and a restart, and a third party verifies them", async () => {
    const operations: { id: string; issuer: string }[] = [];
    const issue = async (iss: { did: string }, n: number, from: number) => {
      const doc = (await call("GET", `/v1/dids/key/${encodeURIComponent(iss.did)}`)).body.did;
      const res = await call("PUT", "/v1/credentials/batch", {
        requests: Array.from({ length: n }, (_, k) => ({
          issuer: iss.did,
          verificationMethodId: doc.verificationMethod[0].id,
          subject: `did:example:holder-${from + k}`,
          type: ["EmployeeCredential"],
          data: { employeeNumber: from + k },
          format: (from + k) % 2 === 0 ? "jwt_vc" : "vc+jwt",
        })),
      });
      expect(res.status, JSON.stringify(res.body)).toBe(202);
      for (const o of res.body.operations) operations.push({ id: o.id, issuer: iss.did });
    };
    const count = async (did: string, status: string) =>
      (await call("GET", `/v1/signjobs?did=${encodeURIComponent(did)}&status=${status}&pageSize=1000`)).body.signJobs.length as number;

    // The backlog exists before the daemons start, so each gets it in one frame on connecting.
    for (const iss of issuers) await issue(iss, BACKLOG, 0);
    const killed = issuers.map((iss) => {
      const d = startDaemon(daemonArgs(iss.did, `vc-${iss.keyType}`, THROTTLED), hsmEnv);
      // kill -9 the instant the first signature is confirmed: mid-stream, no drain, no goodbye.
      const dead = new Promise<void>((resolve, reject) => {
        d.watchers.push((line) => {
          if (line.event === "signed" && d.child.signalCode === null) d.child.kill("SIGKILL");
        });
        // A daemon that stops by itself (before it signed anything) is not the kill under test: say why it stopped.
        d.child.once("exit", (code, signal) =>
          signal === "SIGKILL"
            ? resolve()
            : reject(new Error(`daemon exited by itself (${code ?? signal}): ${d.stderr.join("").slice(-2000)}`)),
        );
      });
      return { d, dead };
    });
    daemons = killed.map((k) => k.d);
    await Promise.all(killed.map((k) => k.dead));
    // Provably killed with jobs in flight: nothing creates jobs now, so pending only shrinks, and
    // what is still pending after the kill was pending (and leased to the daemon) at the kill.
    for (const iss of issuers) {
      const [signed, pending] = [await count(iss.did, "signed"), await count(iss.did, "pending")];
      console.log(`kill -9 (${iss.keyType}): ${signed} of ${BACKLOG} signed, ${pending} pending after the kill`);
      expect(signed, iss.keyType).toBeGreaterThan(0);
      expect(pending, iss.keyType).toBeGreaterThan(0);
    }
    for (const iss of issuers) await issue(iss, LATER, BACKLOG);
    // The restarted daemons run as deployed: no window, batched sign frames.
    daemons = issuers.map((iss) => startDaemon(daemonArgs(iss.did, `vc-${iss.keyType}`), hsmEnv));

    await eventually(
      "all operations done",
      async () => {
        const pending = await call("GET", "/v1/operations?parent=credentials&done=false&pageSize=1000");
        return pending.body.operations.length === 0;
      },
      360_000,
    );
    expect(operations).toHaveLength(issuers.length * (BACKLOG + LATER));

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
