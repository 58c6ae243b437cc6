/**
 * Key rotation at scale (api.md "Key rotation"), through `wrangler dev`:
 *  R1 a custodial did:web issuer with BENCH_ROTATION live credentials rotates to a new custodial
 *     key: re-signed credentials/s vs the custodial batch issuance rate that filled it (same run,
 *     same issuer);
 *  R2 the same with external keys, the re-sign jobs signed by a REST batch signer
 *     (`GET /v1/signjobs?status=pending` → sign in Node → `PUT /v1/signjobs`), vs the external
 *     batch issuance rate that filled it (issued and signed the same way);
 *  and for both, how long new issuance on the rotating issuer waited: single creates
 *  (`PUT /v1/credentials`, one at a time) run alongside the rotation, their latencies next to the
 *  same creates on the idle issuer just before it.
 */
import { generateKeyPairSync, sign as nodeSign, type KeyObject } from "node:crypto";
import { startDevServer } from "../scripts/dev-server.ts";
import { client, isEntry, load, machine, percentile, report, type Rate } from "./lib.ts";

const COUNT = Number(process.env.BENCH_ROTATION ?? 100_000);
const EXTERNAL_COUNT = Number(process.env.BENCH_ROTATION_EXTERNAL ?? COUNT);
const BATCH = 1000;
const PROBES_IDLE = 50;

type Call = ReturnType<typeof client>;
type Operation = { id: string; done: boolean; result?: { response?: Record<string, unknown>; error?: string; code?: string } };

const request = (issuer: string, vm: string, i: number) => ({
  issuer,
  verificationMethodId: vm,
  subject: `did:example:subject-${i}`,
  type: ["UniversityDegreeCredential"],
  data: { degree: { type: "BachelorDegree", name: "Bachelor of Science and Arts" }, n: i },
  // A tenth revocable, so the status lists are rotated too.
  ...(i % 10 === 0 ? { revocable: true } : {}),
});

function ed25519() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return { privateKey, jwk: { kty: "OKP", crv: "Ed25519", x: publicKey.export({ format: "jwk" }).x! } };
}

/**
 * Signs the DID's pending jobs page by page, each with the key its verification method names, until
 * none is left (or after one page, with `onePage`: creates running alongside never leave it empty).
 */
async function signPending(call: Call, did: string, keys: Map<string, KeyObject>, onePage = false): Promise<number> {
  let signed = 0;
  for (let page = 0; !onePage || page < 1; page++) {
    const page = await call<{ signJobs: { id: string; verificationMethodId: string; signingInput: string }[] }>(
      "GET",
      `/v1/signjobs?did=${encodeURIComponent(did)}&status=pending&pageSize=${BATCH}`,
      undefined,
      [200],
    );
    if (page.signJobs.length === 0) return signed;
    const signatures = page.signJobs.map((j) => ({
      id: j.id,
      signature: nodeSign(null, Buffer.from(j.signingInput, "ascii"), keys.get(j.verificationMethodId)!).toString("base64url"),
    }));
    const res = await call<{ results: { status: string }[] }>("PUT", "/v1/signjobs", { signatures }, [200]);
    signed += res.results.filter((r) => r.status === "signed").length;
  }
  return signed;
}

/** Single creates one after another until `stop` resolves; their latencies in ms. */
async function probe(call: Call, did: string, vm: string, expect: number, stop: Promise<unknown>, limit = Infinity): Promise<number[]> {
  let stopped = false;
  void stop.then(() => (stopped = true));
  const latencies: number[] = [];
  for (let i = 0; !stopped && i < limit; i++) {
    const t0 = performance.now();
    await call("PUT", "/v1/credentials", { issuer: did, verificationMethodId: vm, subject: `did:example:probe-${i}`, data: { i } }, [
      expect,
    ]);
    latencies.push(performance.now() - t0);
  }
  return latencies;
}

const summary = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? NaN };
};

async function waitDone(call: Call, id: string, during?: () => Promise<void>): Promise<Operation> {
  for (;;) {
    const op = await call<Operation>("GET", `/v1/operations/${id}`, undefined, [200]);
    if (op.done) return op;
    if (during) await during();
    else await new Promise((r) => setTimeout(r, 250));
  }
}

async function rotate(
  call: Call,
  did: string,
  oldVm: string,
  newVm: string,
  count: number,
  probeStatus: number,
  signer?: () => Promise<void>,
): Promise<{ rate: Rate; idle: number[]; busy: number[]; op: Operation }> {
  const idle = await probe(call, did, oldVm, probeStatus, new Promise(() => {}), PROBES_IDLE);
  const t0 = performance.now();
  const started = await call<Operation>("PUT", `/v1/dids/web/${encodeURIComponent(did)}/rotate`, { verificationMethodId: newVm }, [202]);
  const finished = waitDone(call, started.id, signer);
  const busy = await probe(call, did, oldVm, probeStatus, finished);
  const op = await finished;
  const seconds = (performance.now() - t0) / 1000;
  if (op.result?.error) throw new Error(`rotation failed: ${op.result.code} ${op.result.error}`);
  const resigned = Number(op.result?.response?.resigned ?? 0);
  if (resigned < count * 0.9) throw new Error(`only ${resigned} of ${count} re-signed`);
  return { rate: { name: "", items: resigned, seconds, perSecond: resigned / seconds, unit: "credentials" }, idle, busy, op };
}

export async function main(): Promise<void> {
  console.log(`# ssi-edge key rotation benchmark (${machine()}, ${load()}, wrangler dev --log-level warn)`);
  const server = await startDevServer();
  try {
    const call = client(server.url, server.token);
    const rows: { rate: Rate; baseline?: Rate; target?: string }[] = [];
    const blocking: string[] = [];

    // R1: custodial.
    const cDid = `did:web:bench.example:rotation-custodial-${Date.now()}`;
    await call("PUT", "/v1/dids/web", { keyType: "Ed25519", options: { didWebId: cDid } }, [201]);
    const cOld = `${cDid}#key-1`;
    let t0 = performance.now();
    for (let b = 0; b < Math.ceil(COUNT / BATCH); b++) {
      const n = Math.min(BATCH, COUNT - b * BATCH);
      const requests = Array.from({ length: n }, (_, i) => request(cDid, cOld, b * BATCH + i));
      await call("PUT", "/v1/credentials/batch", { requests }, [201]);
    }
    const cFill: Rate = {
      name: `custodial batches of ${BATCH} (filling the issuer)`,
      items: COUNT,
      seconds: (performance.now() - t0) / 1000,
      unit: "credentials",
      perSecond: 0,
    };
    cFill.perSecond = cFill.items / cFill.seconds;
    console.log(`filled the custodial issuer: ${COUNT} in ${cFill.seconds.toFixed(0)} s`);
    const cNew = (
      await call<{ verificationMethodId: string }>("PUT", `/v1/dids/web/${encodeURIComponent(cDid)}/keys`, { keyType: "Ed25519" }, [201])
    ).verificationMethodId;
    const r1 = await rotate(call, cDid, cOld, cNew, COUNT, 201);
    const r1Name = `R1 custodial rotation: ${r1.rate.items} live credentials (${COUNT} + the idle probes)`;
    rows.push({ rate: cFill }, { rate: { ...r1.rate, name: r1Name }, baseline: cFill });
    blocking.push(row("R1 custodial", r1.idle, r1.busy));
    // Printed as each part ends, so a run stopped early still leaves its figures.
    report(`R1 (re-signed credentials/s; ${load()})`, rows);
    console.log(`\n${HEADER}\n${blocking[0]}`);

    // R2: external keys, a REST batch signer.
    const oldKey = ed25519();
    const eDid = `did:web:bench.example:rotation-external-${Date.now()}`;
    await call(
      "PUT",
      "/v1/dids/web",
      { keyType: "Ed25519", custody: "external", publicKeyJwk: oldKey.jwk, options: { didWebId: eDid } },
      [201],
    );
    const eOld = `${eDid}#key-1`;
    const keys = new Map([[eOld, oldKey.privateKey]]);
    t0 = performance.now();
    for (let b = 0; b < Math.ceil(EXTERNAL_COUNT / BATCH); b++) {
      const n = Math.min(BATCH, EXTERNAL_COUNT - b * BATCH);
      const requests = Array.from({ length: n }, (_, i) => request(eDid, eOld, b * BATCH + i));
      await call("PUT", "/v1/credentials/batch", { requests }, [202]);
      await signPending(call, eDid, keys);
    }
    const eFill: Rate = {
      name: `external batches of ${BATCH} + REST batch signer (filling the issuer)`,
      items: EXTERNAL_COUNT,
      seconds: (performance.now() - t0) / 1000,
      unit: "credentials",
      perSecond: 0,
    };
    eFill.perSecond = eFill.items / eFill.seconds;
    console.log(`filled the external issuer: ${EXTERNAL_COUNT} in ${eFill.seconds.toFixed(0)} s`);
    const newKey = ed25519();
    const eNew = (
      await call<{ verificationMethodId: string }>(
        "PUT",
        `/v1/dids/web/${encodeURIComponent(eDid)}/keys`,
        { keyType: "Ed25519", custody: "external", publicKeyJwk: newKey.jwk },
        [201],
      )
    ).verificationMethodId;
    keys.set(eNew, newKey.privateKey);
    const r2 = await rotate(call, eDid, eOld, eNew, EXTERNAL_COUNT, 202, async () => {
      if ((await signPending(call, eDid, keys, true)) === 0) await new Promise((r) => setTimeout(r, 250));
    });
    rows.push(
      { rate: eFill },
      {
        rate: {
          ...r2.rate,
          name: `R2 external rotation: ${r2.rate.items} live credentials (${EXTERNAL_COUNT} + the idle probes), REST batch signer`,
        },
        baseline: eFill,
      },
    );
    blocking.push(row("R2 external", r2.idle, r2.busy));

    report(`Key rotation (re-signed credentials/s; ${load()})`, rows);
    console.log("\n## New issuance on the rotating issuer (single PUT /v1/credentials, one at a time; ms)\n");
    console.log(HEADER);
    for (const b of blocking) console.log(b);
  } finally {
    await server.stop();
  }
}

const HEADER =
  "| | idle: n | p50 | p99 | max | during rotation: n | p50 | p99 | max | max vs idle p99 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

function row(name: string, idle: number[], busy: number[]): string {
  const i = summary(idle);
  const b = summary(busy);
  const f = (x: number) => x.toFixed(0);
  return `| ${name} | ${i.n} | ${f(i.p50)} | ${f(i.p99)} | ${f(i.max)} | ${b.n} | ${f(b.p50)} | ${f(b.p99)} | ${f(b.max)} | ${(b.max / i.p99).toFixed(1)}× |`;
}

if (isEntry(import.meta.url)) await main();
