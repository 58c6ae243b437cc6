/**
 * Issuance throughput through `wrangler dev`, next to two baselines measured in the same run:
 * the platform floor (one D1 insert per request, same Worker, same concurrency) and did-jwt-vc
 * signing the same credential in-process in Node (what a Veramo user gets).
 */
import { generateKeyPairSync, sign as nodeSign } from "node:crypto";
import { createVerifiableCredentialJwt } from "did-jwt-vc";
import { EdDSASigner } from "did-jwt";
import { startDevServer } from "../scripts/dev-server.ts";
import { client, machine, pool, report, timed, type Rate } from "./lib.ts";

const CONCURRENCY = 16;
const SINGLE = Number(process.env.BENCH_SINGLE ?? 2000);
const BATCHES = Number(process.env.BENCH_BATCHES ?? 5);
const BATCH = 1000;

const credentialRequest = (issuer: string, vm: string, i: number) => ({
  issuer,
  verificationMethodId: vm,
  subject: `did:example:subject-${i}`,
  type: ["UniversityDegreeCredential"],
  data: { degree: { type: "BachelorDegree", name: "Bachelor of Science and Arts" }, n: i },
});

async function didJwtVcBaseline(count: number): Promise<Rate> {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d!, "base64url");
  const pub = publicKey.export({ format: "jwk" });
  const signer = EdDSASigner(new Uint8Array([...seed, ...Buffer.from(pub.x!, "base64url")]));
  const did = "did:key:z6MkBenchmarkIssuer";
  const issuer = { did, signer, alg: "EdDSA" };
  return timed("did-jwt-vc in-process (Node)", count, "credentials", async () => {
    for (let i = 0; i < count; i++) {
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
  });
}

async function main() {
  console.log(`# ssi-edge issuance benchmark (${machine()}, wrangler dev --log-level warn)`);
  const server = await startDevServer({ vars: { BENCH_FLOOR: "1" } });
  try {
    const call = client(server.url, server.token);

    // Warm both paths so isolate start-up and first-use costs are not measured.
    await pool(200, CONCURRENCY, async (i) => void (await call("PUT", "/bench/floor", { i }, [201])));
    const custodial = (await call("PUT", "/v1/dids/key", { keyType: "Ed25519" }, [201])).did;
    const vm = custodial.verificationMethod[0].id as string;
    await pool(200, CONCURRENCY, async (i) => void (await call("PUT", "/v1/credentials", credentialRequest(custodial.id, vm, i), [201])));

    const floor = await timed(`platform floor: 1 D1 insert/request, c=${CONCURRENCY}`, SINGLE, "requests", () =>
      pool(SINGLE, CONCURRENCY, async (i) => void (await call("PUT", "/bench/floor", credentialRequest("x", "y", i), [201]))),
    );
    const single = await timed(`custodial, 1 credential/request, c=${CONCURRENCY}`, SINGLE, "credentials", () =>
      pool(SINGLE, CONCURRENCY, async (i) => void (await call("PUT", "/v1/credentials", credentialRequest(custodial.id, vm, i), [201]))),
    );
    const batch = await timed(`custodial, batch of ${BATCH}/request`, BATCHES * BATCH, "credentials", async () => {
      for (let b = 0; b < BATCHES; b++) {
        const requests = Array.from({ length: BATCH }, (_, i) => credentialRequest(custodial.id, vm, b * BATCH + i));
        const res = await call<{ operations: { done: boolean }[] }>("PUT", "/v1/credentials/batch", { requests }, [201]);
        if (res.operations.length !== BATCH || !res.operations.every((o) => o.done)) throw new Error("batch not done");
      }
    });

    // External issuer: the key never reaches the service; a REST signer signs in batches.
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const x = publicKey.export({ format: "jwk" }).x!;
    const ext = (await call("PUT", "/v1/dids/key", { keyType: "Ed25519", custody: "external", publicKeyJwk: { kty: "OKP", crv: "Ed25519", x } }, [201])).did;
    const extVm = ext.verificationMethod[0].id as string;
    const external = await timed(`external, batch of ${BATCH} + REST batch signer`, BATCHES * BATCH, "credentials", async () => {
      for (let b = 0; b < BATCHES; b++) {
        const requests = Array.from({ length: BATCH }, (_, i) => credentialRequest(ext.id, extVm, b * BATCH + i));
        const issued = await call<{ operations: { id: string; done: boolean }[] }>("PUT", "/v1/credentials/batch", { requests }, [202]);
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
            signature: nodeSign(null, Buffer.from(j.signingInput, "ascii"), privateKey).toString("base64url"),
          }));
          const res = await call<{ results: { status: string }[] }>("PUT", "/v1/signjobs", { signatures }, [200]);
          signedCount += res.results.filter((r) => r.status === "signed").length;
        }
        const last = issued.operations[issued.operations.length - 1]!;
        const op = await call<{ done: boolean }>("GET", `/v1/operations/${last.id}`, undefined, [200]);
        if (!op.done) throw new Error("operation not done after signing");
      }
    });
    const baseline = await didJwtVcBaseline(SINGLE);

    report("Issuance (credentials/s)", [
      { rate: floor },
      { rate: single, baseline: floor, target: "≥ 0.8× floor" },
      { rate: baseline },
      { rate: batch, baseline, target: "≥ 3× did-jwt-vc" },
      { rate: external, baseline },
    ]);
  } finally {
    await server.stop();
  }
}

await main();
