/**
 * Issuance throughput through `wrangler dev`, each figure next to a baseline measured in the
 * same run, in alternating rounds:
 *  P1a single custodial credentials at c=16 vs the independent floor (bench/floor: a bare
 *      Worker, one D1 insert per request, same concurrency);
 *  P1b custodial batches of 1000 vs did-jwt-vc signing the same credential in-process in Node;
 *  P2  an external issuer with a REST batch signer vs custodial batches.
 * Beside them, the minimal issuer the aims were set against (bench/floor `PUT /proto`: one object
 * that signs and writes two rows per credential, nothing else) in the same rounds, so each row also
 * says how far the service is from what a Worker and an object can do here at all.
 */
import { generateKeyPairSync, sign as nodeSign, type KeyObject } from "node:crypto";
import { createVerifiableCredentialJwt } from "did-jwt-vc";
import { EdDSASigner } from "did-jwt";
import { startDevServer } from "../scripts/dev-server.ts";
import { projectionLag } from "./lag.ts";
import { alternate, client, isEntry, load, machine, pool, report, startFloor } from "./lib.ts";

const CONCURRENCY = 16;
const SINGLE = Number(process.env.BENCH_SINGLE ?? 2000);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 5);
const BATCH = 1000;
const ROUND = 250;

/** One round of single creates at c=16: `ROUND` requests of `PUT path`, numbered on from the round. */
const singles =
  (call: ReturnType<typeof client>, path: string, issuer: string, vm: string) =>
  (round: number): Promise<void> =>
    pool(ROUND, CONCURRENCY, async (i) => void (await call("PUT", path, credentialRequest(issuer, vm, round * ROUND + i), [201])));

export const credentialRequest = (issuer: string, vm: string, i: number) => ({
  issuer,
  verificationMethodId: vm,
  subject: `did:example:subject-${i}`,
  type: ["UniversityDegreeCredential"],
  data: { degree: { type: "BachelorDegree", name: "Bachelor of Science and Arts" }, n: i },
});

/** did-jwt-vc with an Ed25519 key in Node: what a Veramo user gets. */
export function didJwtVc() {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const seed = Buffer.from(privateKey.export({ format: "jwk" }).d!, "base64url");
  const x = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
  const issuer = { did: "did:key:z6MkBenchmarkIssuer", signer: EdDSASigner(new Uint8Array([...seed, ...x])), alg: "EdDSA" };
  return async (count: number, offset = 0) => {
    for (let i = offset; i < offset + count; i++) {
      await createVerifiableCredentialJwt(
        {
          sub: `did:example:subject-${i}`,
          nbf: Math.floor(Date.now() / 1000),
          vc: {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            type: ["VerifiableCredential", "UniversityDegreeCredential"],
            credentialSubject: { degree: { type: "BachelorDegree", name: "Bachelor of Science and Arts" }, n: i },
          },
        },
        issuer,
      );
    }
  };
}

export async function externalIssuer(call: ReturnType<typeof client>): Promise<{ id: string; vm: string; privateKey: KeyObject }> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const x = publicKey.export({ format: "jwk" }).x!;
  const did = (
    await call("PUT", "/v1/dids/key", { keyType: "Ed25519", custody: "external", publicKeyJwk: { kty: "OKP", crv: "Ed25519", x } }, [201])
  ).did;
  return { id: did.id, vm: did.verificationMethod[0].id, privateKey };
}

export async function main(): Promise<void> {
  console.log(`# ssi-edge issuance benchmark (${machine()}, ${load()}, wrangler dev --log-level warn)`);
  const [server, floorServer] = await Promise.all([startDevServer(), startFloor()]);
  try {
    const call = client(server.url, server.token);
    const floorCall = client(floorServer.url, "");

    // Warm both paths so isolate start-up and first-use costs are not measured.
    await pool(200, CONCURRENCY, async (i) => void (await floorCall("PUT", "/floor", credentialRequest("x", "y", i), [201])));
    await pool(
      200,
      CONCURRENCY,
      async (i) => void (await floorCall("PUT", "/proto", credentialRequest("did:key:z6MkProto", "y", i), [201])),
    );
    const custodial = (await call("PUT", "/v1/dids/key", { keyType: "Ed25519" }, [201])).did;
    const vm = custodial.verificationMethod[0].id as string;
    await pool(200, CONCURRENCY, async (i) => void (await call("PUT", "/v1/credentials", credentialRequest(custodial.id, vm, i), [201])));

    const [floor, proto, single] = await alternate(Math.max(1, Math.round(SINGLE / ROUND)), [
      {
        name: `floor: bare Worker, 1 D1 insert/request, c=${CONCURRENCY}`,
        unit: "requests",
        items: ROUND,
        run: singles(floorCall, "/floor", "x", "y"),
      },
      {
        name: `minimal issuer: Worker + object, sign + 2 rows, c=${CONCURRENCY}`,
        unit: "credentials",
        items: ROUND,
        run: singles(floorCall, "/proto", "did:key:z6MkProto", "y"),
      },
      {
        name: `P1a custodial, 1 credential/request, c=${CONCURRENCY}`,
        unit: "credentials",
        items: ROUND,
        run: singles(call, "/v1/credentials", custodial.id, vm),
      },
    ]);

    // External issuer: the key never reaches the service; a REST signer signs in batches.
    const ext = await externalIssuer(call);
    const inProcess = didJwtVc();
    await inProcess(200);
    const [baseline, protoBatch, batch, external] = await alternate(BATCHES, [
      { name: "did-jwt-vc in-process (Node)", unit: "credentials", items: BATCH, run: (r) => inProcess(BATCH, r * BATCH) },
      {
        name: `minimal issuer, batch of ${BATCH}/request`,
        unit: "credentials",
        items: BATCH,
        run: async (r) => {
          const requests = Array.from({ length: BATCH }, (_, i) => credentialRequest("did:key:z6MkProto", "y", r * BATCH + i));
          const res = await floorCall<{ jwts: string[] }>("PUT", "/proto/batch", { requests }, [201]);
          if (res.jwts.length !== BATCH) throw new Error("minimal issuer: batch short");
        },
      },
      {
        name: `P1b custodial, batch of ${BATCH}/request`,
        unit: "credentials",
        items: BATCH,
        run: async (r) => {
          const requests = Array.from({ length: BATCH }, (_, i) => credentialRequest(custodial.id, vm, r * BATCH + i));
          const res = await call<{ operations: { done: boolean }[] }>("PUT", "/v1/credentials/batch", { requests }, [201]);
          if (res.operations.length !== BATCH || !res.operations.every((o) => o.done)) throw new Error("batch not done");
        },
      },
      {
        name: `P2 external, batch of ${BATCH} + REST batch signer`,
        unit: "credentials",
        items: BATCH,
        run: async (r) => {
          const requests = Array.from({ length: BATCH }, (_, i) => credentialRequest(ext.id, ext.vm, r * BATCH + i));
          const issued = await call<{ operations: { id: string }[] }>("PUT", "/v1/credentials/batch", { requests }, [202]);
          let signedCount = 0;
          while (signedCount < BATCH) {
            const page = await call<{ signJobs: { id: string; signingInput: string }[] }>(
              "GET",
              `/v1/signjobs?did=${encodeURIComponent(ext.id)}&status=pending&pageSize=${BATCH}`,
              undefined,
              [200],
            );
            const signatures = page.signJobs.map((j) => ({
              id: j.id,
              signature: nodeSign(null, Buffer.from(j.signingInput, "ascii"), ext.privateKey).toString("base64url"),
            }));
            const res = await call<{ results: { status: string }[] }>("PUT", "/v1/signjobs", { signatures }, [200]);
            signedCount += res.results.filter((x) => x.status === "signed").length;
          }
          const last = issued.operations[issued.operations.length - 1]!;
          const op = await call<{ done: boolean }>("GET", `/v1/operations/${last.id}`, undefined, [200]);
          if (!op.done) throw new Error("operation not done after signing");
        },
      },
    ]);

    const lag = await projectionLag(
      call,
      { id: custodial.id, vm },
      { count: 1500, concurrency: CONCURRENCY, request: (i) => credentialRequest(custodial.id, vm, 900_000 + i) },
    );
    console.log(
      `\n## Projection lag (create answered → visible to a cross-issuer query, GET /v1/credentials?subject=, under c=${CONCURRENCY} creates; contract: ≤ 1 s)\n`,
    );
    console.log(`| probes | p50 | p99 | max |\n|---:|---:|---:|---:|\n| ${lag.n} | ${lag.p50} ms | ${lag.p99} ms | ${lag.max} ms |`);

    report(`Issuance (credentials/s; ${load()})`, [
      { rate: floor! },
      { rate: proto!, baseline: floor!, target: "(the bound: 0.80–0.81× when the aims were set)" },
      { rate: single!, baseline: floor!, target: "≥ 0.8×" },
      { rate: single!, baseline: proto!, target: "(the service's cost beyond the minimal issuer)" },
      { rate: baseline! },
      { rate: protoBatch!, baseline: baseline!, target: "(the bound: 3.2× when the aims were set)" },
      { rate: batch!, baseline: baseline!, target: "≥ 3×" },
      { rate: batch!, baseline: protoBatch!, target: "(the service's cost beyond the minimal issuer)" },
      { rate: external!, baseline: batch!, target: "≥ 0.8×" },
    ]);
  } finally {
    await Promise.all([server.stop(), floorServer.stop()]);
  }
}

if (isEntry(import.meta.url)) await main();
