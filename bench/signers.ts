/**
 * The signer side: how fast a new job reaches a connected signer (push latency), and the
 * end-to-end external issuance rate with the real signer daemon (jwk and pkcs11 backends),
 * next to the custodial rate measured in the same run.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevServer } from "../scripts/dev-server.ts";
import { freshToken, PIN, pkcs11KeyArgs, SOFTHSM_MODULE } from "../test/signer-daemon/softhsm.ts";
import { signerCli, startDaemon, stopDaemon } from "../test/e2e/harness.ts";
import { alternate, client, isEntry, load, machine, percentile, pool, report, type Side } from "./lib.ts";

const PUSHES = Number(process.env.BENCH_PUSHES ?? 1000);
const E2E = Number(process.env.BENCH_E2E ?? 2000);
const BATCH = 500;
/** Credentials per alternating round. */
const ROUND = 1000;

type Call = ReturnType<typeof client>;

/** Issues `count` credentials in batches and waits until every operation is done. */
export async function issueAndWait(call: Call, issuer: string, vm: string, count: number, expect: number): Promise<void> {
  const ids: string[] = [];
  for (let off = 0; off < count; off += BATCH) {
    const n = Math.min(BATCH, count - off);
    const requests = Array.from({ length: n }, (_, i) => ({
      issuer,
      verificationMethodId: vm,
      subject: `did:example:s${off + i}`,
      data: { i: off + i },
    }));
    const res = await call<{ operations: { id: string }[] }>("PUT", "/v1/credentials/batch", { requests }, [expect]);
    ids.push(...res.operations.map((o) => o.id));
  }
  // Done when this issuer has no pending job left (other issuers' backlogs don't count).
  for (;;) {
    const page = await call<{ signJobs: unknown[] }>(
      "GET",
      `/v1/signjobs?did=${encodeURIComponent(issuer)}&status=pending&pageSize=1`,
      undefined,
      [200],
    );
    if (page.signJobs.length === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const last = await call<{ done: boolean; result?: { error?: string } }>("GET", `/v1/operations/${ids[ids.length - 1]}`, undefined, [200]);
  if (!last.done || last.result?.error) throw new Error(`last operation not done: ${JSON.stringify(last)}`);
}

async function pushLatency(url: string, token: string, call: Call): Promise<{ p50: number; p99: number; max: number; n: number }> {
  const { generateKeyPairSync } = await import("node:crypto");
  const x = generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" }).x!;
  const did = (
    await call("PUT", "/v1/dids/key", { keyType: "Ed25519", custody: "external", publicKeyJwk: { kty: "OKP", crv: "Ed25519", x } }, [201])
  ).did;
  const vm = did.verificationMethod[0].id as string;
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/v1/signjobs/connect?did=${encodeURIComponent(did.id)}`);
  const latencies: number[] = [];
  const seen = new Set<string>();
  const ready = new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "auth", token: `Bearer ${token}` })));
    ws.addEventListener("error", () => reject(new Error("socket error")));
    ws.addEventListener("message", (ev) => {
      const now = Date.now();
      const msg = JSON.parse(String(ev.data)) as { type: string; jobs?: { id: string; createdAt: string }[] };
      if (msg.type === "ready") resolve();
      // The client never answers, so a job whose 60 s lease runs out comes again: count first deliveries only.
      if (msg.type === "jobs") {
        for (const j of msg.jobs ?? []) {
          if (seen.has(j.id)) continue;
          seen.add(j.id);
          latencies.push(now - Date.parse(j.createdAt));
        }
      }
    });
  });
  await ready;
  // Four issuers in flight, so pushes overlap with other requests as they would in service.
  await pool(PUSHES, 4, async (i) => {
    await call("PUT", "/v1/credentials", { issuer: did.id, verificationMethodId: vm, subject: `did:example:p${i}`, data: { i } }, [202]);
  });
  while (latencies.length < PUSHES) await new Promise((r) => setTimeout(r, 10));
  ws.close();
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1]!, n: sorted.length };
}

/** Starts the real daemon for a fresh external DID; the issuer and how to stop it. */
export async function daemonIssuer(
  url: string,
  call: Call,
  keygen: string[],
  runArgs: string[],
  env: Record<string, string>,
): Promise<{ id: string; vm: string; stop: () => Promise<unknown> }> {
  const out = JSON.parse(signerCli(keygen, env)) as { body: unknown };
  const did = (await call("PUT", "/v1/dids/key", out.body, [201])).did;
  const daemon = startDaemon(["--url", url, "--did", did.id, "--concurrency", "8", ...runArgs], env);
  // Ready once its socket is up: a warm-up credential comes back signed.
  await issueAndWait(call, did.id, did.verificationMethod[0].id, 10, 202);
  return { id: did.id, vm: did.verificationMethod[0].id, stop: () => stopDaemon(daemon, "SIGTERM") };
}

export async function main(): Promise<void> {
  console.log(`# ssi-edge signer benchmark (${machine()}, ${load()}, wrangler dev --log-level warn)`);
  const server = await startDevServer();
  const stops: (() => Promise<unknown>)[] = [];
  try {
    const call = client(server.url, server.token);
    const custodialDid = (await call("PUT", "/v1/dids/key", { keyType: "Ed25519" }, [201])).did;
    await issueAndWait(call, custodialDid.id, custodialDid.verificationMethod[0].id, 200, 201); // warm-up

    const push = await pushLatency(server.url, server.token, call);

    const dir = mkdtempSync(join(tmpdir(), "ssi-bench-"));
    const jwk = await daemonIssuer(
      server.url,
      call,
      ["keygen", "--backend", "jwk", "--out", join(dir, "k.jwk"), "--key-type", "Ed25519"],
      ["--backend", "jwk", "--key-file", join(dir, "k.jwk")],
      {},
    );
    stops.push(jwk.stop);
    const sides: Side[] = [
      {
        name: `custodial (service signs), batches of ${BATCH}`,
        unit: "credentials",
        items: ROUND,
        run: () => issueAndWait(call, custodialDid.id, custodialDid.verificationMethod[0].id, ROUND, 201),
      },
      {
        name: "P2d external, signer daemon, jwk backend",
        unit: "credentials",
        items: ROUND,
        run: () => issueAndWait(call, jwk.id, jwk.vm, ROUND, 202),
      },
    ];
    if (existsSync(SOFTHSM_MODULE)) {
      const hsm = { ...freshToken().env, SSI_SIGNER_PIN: PIN };
      const pkcs = await daemonIssuer(
        server.url,
        call,
        ["keygen", ...pkcs11KeyArgs("bench"), "--key-type", "Ed25519"],
        pkcs11KeyArgs("bench"),
        hsm,
      );
      stops.push(pkcs.stop);
      sides.push({
        name: "P2d external, signer daemon, pkcs11 backend (SoftHSM2)",
        unit: "credentials",
        items: ROUND,
        run: () => issueAndWait(call, pkcs.id, pkcs.vm, ROUND, 202),
      });
    } else {
      console.log("(SoftHSM2 not installed: pkcs11 backend not measured; apt-get install -y softhsm2)");
    }
    const [custodial, ...daemons] = await alternate(Math.max(1, Math.round(E2E / ROUND)), sides);

    console.log(`\n## P3 push latency (job created → jobs frame received by a Node WebSocket client; aim p50 ≤ 5 ms, p99 ≤ 20 ms)\n`);
    console.log(`| jobs | p50 | p99 | max |\n|---:|---:|---:|---:|\n| ${push.n} | ${push.p50} ms | ${push.p99} ms | ${push.max} ms |`);
    report(`P2d external issuance with the signer daemon, next to custodial (credentials/s; ${load()})`, [
      { rate: custodial! },
      ...daemons.map((rate) => ({ rate, baseline: custodial!, target: "≥ 0.8×" })),
    ]);
  } finally {
    for (const stop of stops) await stop();
    await server.stop();
  }
}

if (isEntry(import.meta.url)) await main();
