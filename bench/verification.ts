/**
 * P6 verification: `PUT /v1/credentials/verification` at c=16 (signature, issuer DID resolution,
 * validity dates and status list all checked by the service) vs did-jwt-vc `verifyCredential` in
 * Node with a did:key resolver answering from memory (what a Veramo user gets with a warm cache),
 * in alternating rounds, over the same credentials (custodial Ed25519, did:key, not revocable).
 * A second service row verifies revocable credentials (the status list is fetched and checked too).
 * A third row is the platform's own bound: the floor Worker's `PUT /verify` (bench/floor: split the
 * JWT, decode the did:key, one WebCrypto verify, no middleware) at the same concurrency, through the
 * same wrangler proxy. No HTTP verification on this machine can beat it, so P6 ≥ 1× is reachable
 * only where the floor itself is ≥ 1× did-jwt-vc.
 */
import { verifyCredential } from "did-jwt-vc";
import { Resolver, type DIDDocument } from "did-resolver";
import { startDevServer } from "../scripts/dev-server.ts";
import { credentialRequest } from "./issuance.ts";
import { alternate, client, isEntry, load, machine, pool, report, startFloor } from "./lib.ts";

const COUNT = Number(process.env.BENCH_VERIFY ?? 2000);
const ROUNDS = 4;
const CONCURRENCY = 16;

export async function main(): Promise<void> {
  console.log(`# ssi-edge verification benchmark (${machine()}, ${load()})`);
  const [server, floorServer] = await Promise.all([startDevServer(), startFloor()]);
  try {
    const call = client(server.url, server.token);
    const floorCall = client(floorServer.url, "");
    const did = (await call("PUT", "/v1/dids/key", { keyType: "Ed25519" }, [201])).did;
    const vm = did.verificationMethod[0].id as string;
    const jwts: string[] = [];
    const revocable: string[] = [];
    const perRound = Math.ceil(COUNT / ROUNDS);
    for (const [list, extra] of [
      [jwts, {}],
      [revocable, { revocable: true }],
    ] as const) {
      for (let off = 0; off < perRound; off += 1000) {
        const requests = Array.from({ length: Math.min(1000, perRound - off) }, (_, i) => ({
          ...credentialRequest(did.id, vm, off + i),
          ...extra,
        }));
        const res = await call<{ operations: { result: { response: { credentialJwt: string } } }[] }>(
          "PUT",
          "/v1/credentials/batch",
          { requests },
          [201],
        );
        list.push(...res.operations.map((o) => o.result.response.credentialJwt));
      }
    }
    const resolved = await call<{ didDocument: DIDDocument }>("GET", `/v1/dids/resolver/${encodeURIComponent(did.id)}`, undefined, [200]);
    const resolver = new Resolver({
      key: async () => ({ didResolutionMetadata: {}, didDocument: resolved.didDocument, didDocumentMetadata: {} }),
    });
    // Both sides verify once before timing; a refusal would make the figures meaningless.
    const check = await call<{ verified: boolean; reason?: string }>(
      "PUT",
      "/v1/credentials/verification",
      { credentialJwt: jwts[0] },
      [200],
    );
    if (!check.verified) throw new Error(`service did not verify: ${check.reason}`);
    await verifyCredential(jwts[0]!, resolver);
    const floorCheck = await floorCall<{ verified: boolean }>("PUT", "/verify", { credentialJwt: jwts[0] }, [200]);
    if (!floorCheck.verified) throw new Error("the floor did not verify");

    const serviceSide = (list: string[]) => () =>
      pool(list.length, CONCURRENCY, async (i) => {
        const r = await call<{ verified: boolean; reason?: string }>(
          "PUT",
          "/v1/credentials/verification",
          { credentialJwt: list[i] },
          [200],
        );
        if (!r.verified) throw new Error(`not verified: ${r.reason}`);
      });
    const [node, floor, service, withStatus] = await alternate(ROUNDS, [
      {
        name: "did-jwt-vc verifyCredential in Node",
        unit: "credentials",
        items: perRound,
        run: () => pool(jwts.length, CONCURRENCY, async (i) => void (await verifyCredential(jwts[i]!, resolver))),
      },
      {
        name: `floor: bare Worker, one WebCrypto verify/request, c=${CONCURRENCY}`,
        unit: "credentials",
        items: perRound,
        run: () =>
          pool(jwts.length, CONCURRENCY, async (i) => {
            const r = await floorCall<{ verified: boolean }>("PUT", "/verify", { credentialJwt: jwts[i] }, [200]);
            if (!r.verified) throw new Error("the floor did not verify");
          }),
      },
      { name: `P6 PUT /v1/credentials/verification, c=${CONCURRENCY}`, unit: "credentials", items: perRound, run: serviceSide(jwts) },
      {
        name: `PUT /v1/credentials/verification, revocable (status list checked), c=${CONCURRENCY}`,
        unit: "credentials",
        items: perRound,
        run: serviceSide(revocable),
      },
    ]);
    report(`P6 verification (credentials/s; ${load()})`, [
      { rate: node! },
      { rate: floor!, baseline: node!, target: "the bound on P6 here" },
      { rate: service!, baseline: node!, target: "≥ 1×" },
      { rate: service!, baseline: floor!, target: "the service's own cost" },
      { rate: withStatus!, baseline: node! },
    ]);
  } finally {
    await Promise.all([server.stop(), floorServer.stop()]);
  }
}

if (isEntry(import.meta.url)) await main();
