/**
 * The real signer daemon (the bin, a SoftHSM2 key) against the real service (`wrangler dev`), so
 * that what the daemon's policy reads is what the service really builds: credentials in both
 * formats, status lists, a status change. Socket mode and poll mode, each with a policy that
 * refuses some jobs, a DID-auth token lifetime short enough that the socket refreshes during the
 * test, and a SIGTERM while jobs are provably in flight.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDevServer, type DevServer } from "../../scripts/dev-server.ts";
import { freshToken, PIN, pkcs11KeyArgs, softhsmAvailable } from "../signer-daemon/softhsm.ts";
import { eventually, operator, signerCli, startDaemon, stopDaemon, type Daemon } from "./harness.ts";

const ALICE = "did:example:alice";
const BOB = "did:example:bob";
const REFUSAL = `subject "${BOB}" not allowed by signer policy`;
const hsm = softhsmAvailable();

describe.skipIf(!hsm)("the signer daemon against the real service", () => {
  let server: DevServer;
  let call: ReturnType<typeof operator>;
  let hsmEnv: Record<string, string>;
  let policy: string;
  const daemons: Daemon[] = [];

  beforeAll(async () => {
    server = await startDevServer();
    call = operator(server.url, server.token);
    hsmEnv = { ...freshToken().env, SSI_SIGNER_PIN: PIN };
    policy = join(mkdtempSync(join(tmpdir(), "ssi-e2e-policy-")), "policy.json");
    writeFileSync(policy, JSON.stringify({ subjects: [ALICE] }));
  });

  afterAll(async () => {
    await Promise.all(daemons.map((d) => stopDaemon(d, "SIGKILL")));
    await server?.stop();
  });

  async function issuer(keyType: string, label: string) {
    const kg = JSON.parse(signerCli(["keygen", ...pkcs11KeyArgs(label), "--key-type", keyType], hsmEnv)) as { body: unknown };
    const created = await call("PUT", "/v1/dids/key", kg.body);
    expect(created.status).toBe(201);
    return { did: created.body.did.id as string, vm: created.body.did.verificationMethod[0].id as string, label };
  }
  type Issuer = Awaited<ReturnType<typeof issuer>>;

  const run = (iss: Issuer, extra: string[]) => {
    const d = startDaemon(
      ["--url", server.url, "--did", iss.did, ...pkcs11KeyArgs(iss.label), "--policy", policy, "--token-ttl", "10", ...extra],
      hsmEnv,
    );
    daemons.push(d);
    return d;
  };

  const request = (iss: Issuer, subject: string, i: number, extra: Record<string, unknown> = {}) => ({
    issuer: iss.did,
    verificationMethodId: iss.vm,
    subject,
    type: ["EmployeeCredential"],
    data: { name: subject.split(":").at(-1), n: i },
    format: i % 2 === 0 ? "jwt_vc" : "vc+jwt",
    ...extra,
  });

  /** Creates credentials in one batch (one jobs frame to a connected signer); returns operation ids. */
  async function issue(iss: Issuer, subject: string, n: number, extra: Record<string, unknown> = {}) {
    const res = await call("PUT", "/v1/credentials/batch", {
      requests: Array.from({ length: n }, (_, i) => request(iss, subject, i, extra)),
    });
    expect(res.status, JSON.stringify(res.body)).toBe(202);
    return (res.body.operations as { id: string }[]).map((o) => o.id);
  }

  const op = async (id: string) => (await call("GET", `/v1/operations/${id}`)).body;

  async function allDone(ids: string[], what: string) {
    await eventually(what, async () => (await Promise.all(ids.map(op))).every((o) => o.done));
  }

  /** Alice's credentials are signed and verify; Bob's were refused with the policy's reason. */
  async function checkOutcomes(alice: string[], bob: string[]) {
    for (const id of alice) {
      const o = await op(id);
      expect(o.result.error, JSON.stringify(o.result)).toBeUndefined();
      const check = await call("PUT", "/v1/credentials/verification", { credentialJwt: o.result.response.credentialJwt });
      expect(check.body).toEqual({ verified: true });
    }
    for (const id of bob) {
      const o = await op(id);
      expect(o.result.code).toBe("rejected_by_signer");
      const job = (await call("GET", `/v1/signjobs/${encodeURIComponent(o.signJobs[0])}`)).body;
      expect(job).toMatchObject({ status: "rejected", reason: REFUSAL });
    }
  }

  /** SIGTERM the moment the daemon announces a frame/round of `n` jobs, before any is answered. */
  function termOnJobs(d: Daemon, n: number) {
    d.watchers.push((line, stream) => {
      if (stream === "err" && line.event === "jobs" && line.n === n && d.child.signalCode === null) d.child.kill("SIGTERM");
    });
  }

  const exited = (d: Daemon) =>
    new Promise<number | null>((r) => (d.child.exitCode !== null ? r(d.child.exitCode) : d.child.once("exit", r)));

  it("socket mode: the policy refuses Bob's credentials with its reason, Alice's and the status lists are signed, across a DID-auth token refresh and a SIGTERM drain", async () => {
    const iss = await issuer("Ed25519", "socket-key");
    // A backlog in both formats, with status lists (revocable and suspendable), before the daemon runs.
    const alice = [
      ...(await issue(iss, ALICE, 2, { revocable: true })),
      ...(await issue(iss, ALICE, 2, { suspendable: true })),
      ...(await issue(iss, ALICE, 2)),
    ];
    const bob = await issue(iss, BOB, 3);
    let d = run(iss, []);
    await allDone([...alice, ...bob], "backlog answered");
    await checkOutcomes(alice, bob);
    expect(d.lines.filter((l) => l.event === "signed" && l.kind === "status-list").length).toBeGreaterThan(0);

    // A status change re-signs the list through the daemon; the verifier then sees the revocation.
    const revoked = (await op(alice[0]!)).result.response;
    const change = await call("PUT", `/v1/credentials/${revoked.id}/status`, { revoked: true });
    expect(change.status, JSON.stringify(change.body)).toBe(200);
    await allDone([change.body.operation.id], "status list re-signed");
    await eventually("revocation visible to a verifier", async () => {
      const v = await call("PUT", "/v1/credentials/verification", { credentialJwt: revoked.credentialJwt });
      return v.body.verified === false;
    });

    // Token lifetime 10 s: the daemon reconnects with a fresh DID-auth JWT, not after a failure.
    await eventually("a token refresh", async () => d.errLines.filter((l) => l.event === "ready").length >= 2, 60_000);
    expect(d.errLines.filter((l) => l.event === "auth_refused" || l.event === "disconnected")).toEqual([]);
    const afterRefresh = await issue(iss, ALICE, 2);
    const bobAfter = await issue(iss, BOB, 1);
    await allDone([...afterRefresh, ...bobAfter], "jobs after the refresh");
    await checkOutcomes(afterRefresh, bobAfter);

    // SIGTERM as a frame of 40 jobs arrives: they are all in flight, and all are finished.
    const inflight = await (async () => {
      termOnJobs(d, 40);
      return issue(iss, ALICE, 40);
    })();
    await eventually("draining", async () => d.errLines.some((l) => l.event === "draining"));
    const late = await issue(iss, ALICE, 1); // offered to a draining daemon: left for the next one
    expect(await exited(d)).toBe(0);
    const draining = d.errLines.find((l) => l.event === "draining")!;
    expect(draining.pending as number).toBeGreaterThan(0);
    for (const id of inflight) expect((await op(id)).done, id).toBe(true);
    expect((await op(late[0]!)).done).toBe(false);
    expect(d.lines.at(-1)).toMatchObject({ event: "stats", final: true, pending: 0 });

    d = run(iss, []);
    await allDone(late, "the job left by the drain, signed by the next daemon");
    await checkOutcomes([...inflight, ...late], []);
    expect(await stopDaemon(d, "SIGTERM")).toBe(0);

    // Exactly once: one signed job per credential, none pending.
    const signed = await call("GET", `/v1/signjobs?did=${encodeURIComponent(iss.did)}&status=signed&pageSize=1000`);
    const credentialJobs = signed.body.signJobs.filter((j: { kind: string }) => j.kind === "credential");
    expect(credentialJobs).toHaveLength(alice.length + afterRefresh.length + inflight.length + late.length);
    const pending = await call("GET", `/v1/signjobs?did=${encodeURIComponent(iss.did)}&status=pending&pageSize=1000`);
    expect(pending.body.signJobs).toEqual([]);
  });

  it("poll mode: the policy refuses Bob's credentials with its reason, Alice's are signed, and a SIGTERM finishes the round in flight", async () => {
    const iss = await issuer("P-256", "poll-key");
    const alice = [...(await issue(iss, ALICE, 2, { revocable: true })), ...(await issue(iss, ALICE, 2))];
    const bob = await issue(iss, BOB, 2);
    const d = run(iss, ["--poll", "--poll-interval", "200"]);
    await allDone([...alice, ...bob], "backlog answered by polling");
    await checkOutcomes(alice, bob);
    expect(d.lines.filter((l) => l.event === "signed" && l.kind === "status-list").length).toBeGreaterThan(0);

    termOnJobs(d, 30);
    const inflight = await issue(iss, ALICE, 30);
    expect(await exited(d)).toBe(0);
    expect(d.errLines.find((l) => l.event === "draining" || l.event === "signal")).toBeDefined();
    for (const id of inflight) expect((await op(id)).done, id).toBe(true);
    await checkOutcomes(inflight, []);
    expect(d.lines.at(-1)).toMatchObject({ event: "stats", final: true, pending: 0 });
  });
});
