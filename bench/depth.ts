/**
 * P4 depth and memory. One external issuer is filled with DEPTH pending sign jobs (default
 * 100,000) through the API; it is then measured next to an empty external issuer of the same
 * service, in alternating rounds:
 *  - a list page: `GET /v1/signjobs?did=&status=pending&pageSize=100` (first page and the next),
 *    sequential, time per page (aim: deep ≤ 1.5× empty);
 *  - creation: single `PUT /v1/credentials` at c=16, credentials/s (aim: deep ≥ 0.9× empty).
 * Memory: the isolate's used V8 heap (Runtime.getHeapUsage over the inspector; under
 * `wrangler dev` the Worker and all its Durable Objects share one isolate) and the resident set
 * of the workerd processes, sampled while a custodial batch of 1000 is issued and while the deep
 * issuer is filled, listed and created into.
 */
import { startDevServer } from "../scripts/dev-server.ts";
import { credentialRequest, externalIssuer } from "./issuance.ts";
import { heapPeak, openInspector, treeRss, type Inspector } from "./inspector.ts";
import { alternate, client, isEntry, load, machine, pool, report } from "./lib.ts";

const DEPTH = Number(process.env.BENCH_DEPTH ?? 100_000);
const ROUNDS = Number(process.env.BENCH_DEPTH_ROUNDS ?? 4);
const CONCURRENCY = 16;
const CREATES = 200;
const PAGES = 50;
const BATCH = 1000;
const MB = (n: number) => `${(n / 1048576).toFixed(1)} MB`;

type Call = ReturnType<typeof client>;

/** Peak heap and peak RSS (workerd and wrangler) while `fn` runs. */
async function memory(ins: Inspector, pid: number, fn: () => Promise<void>) {
  const rssBefore = treeRss(pid);
  let rssPeak = rssBefore;
  const timer = setInterval(() => (rssPeak = Math.max(rssPeak, treeRss(pid))), 25);
  try {
    const heap = await heapPeak(ins, 10, fn);
    return { ...heap, rssBefore, rssPeak: Math.max(rssPeak, treeRss(pid)) };
  } finally {
    clearInterval(timer);
  }
}

async function listPages(call: Call, did: string, pages: number): Promise<void> {
  let token: string | undefined;
  for (let i = 0; i < pages; i++) {
    // The first page and the one after it, alternately: both must cost the same at any depth.
    const q = `/v1/signjobs?did=${encodeURIComponent(did)}&status=pending&pageSize=100${token && i % 2 === 1 ? `&pageToken=${token}` : ""}`;
    const page = await call<{ signJobs: unknown[]; nextPageToken?: string }>("GET", q, undefined, [200]);
    if (page.signJobs.length === 0) throw new Error("expected pending jobs");
    if (i % 2 === 0) token = page.nextPageToken;
  }
}

export async function main(): Promise<void> {
  console.log(`# ssi-edge depth and memory benchmark (${machine()}, ${load()}, depth ${DEPTH})`);
  const server = await startDevServer();
  const ins = await openInspector(server.inspectorPort);
  try {
    const call = client(server.url, server.token);
    const custodial = (await call("PUT", "/v1/dids/key", { keyType: "Ed25519" }, [201])).did;
    const cvm = custodial.verificationMethod[0].id as string;
    const batchOf = (issuer: string, vm: string, n: number, off: number) =>
      Array.from({ length: n }, (_, i) => credentialRequest(issuer, vm, off + i));
    await call("PUT", "/v1/credentials/batch", { requests: batchOf(custodial.id, cvm, 100, 0) }, [201]); // warm-up
    const custodialBatch = await memory(ins, server.pid, async () => {
      await call("PUT", "/v1/credentials/batch", { requests: batchOf(custodial.id, cvm, BATCH, 100) }, [201]);
    });

    const empty = await externalIssuer(call);
    const deep = await externalIssuer(call);
    await call("PUT", "/v1/credentials", credentialRequest(empty.id, empty.vm, 0), [202]);
    const fillStart = performance.now();
    const fill = await memory(ins, server.pid, async () => {
      for (let off = 0; off < DEPTH; off += BATCH) {
        await call("PUT", "/v1/credentials/batch", { requests: batchOf(deep.id, deep.vm, Math.min(BATCH, DEPTH - off), off) }, [202]);
      }
    });
    const fillSeconds = (performance.now() - fillStart) / 1000;

    // The empty issuer keeps as few jobs as the rounds add; the deep one keeps its DEPTH more.
    let created = 0;
    const creates = (issuer: { id: string; vm: string }) => () =>
      pool(
        CREATES,
        CONCURRENCY,
        async () => void (await call("PUT", "/v1/credentials", credentialRequest(issuer.id, issuer.vm, created++), [202])),
      );
    let deepOps: { list: number; create: number } | undefined;
    const deepMemory = await memory(ins, server.pid, async () => {
      const [emptyList, deepList, emptyCreate, deepCreate] = await alternate(ROUNDS, [
        { name: "empty issuer: list page", unit: "pages", items: PAGES, run: () => listPages(call, empty.id, PAGES) },
        {
          name: `P4 issuer with ${DEPTH.toLocaleString("en-US")} pending: list page`,
          unit: "pages",
          items: PAGES,
          run: () => listPages(call, deep.id, PAGES),
        },
        { name: `empty issuer: create, c=${CONCURRENCY}`, unit: "credentials", items: CREATES, run: creates(empty) },
        {
          name: `P4 issuer with ${DEPTH.toLocaleString("en-US")} pending: create, c=${CONCURRENCY}`,
          unit: "credentials",
          items: CREATES,
          run: creates(deep),
        },
      ]);
      report(`P4 depth (${load()})`, [
        { rate: emptyList! },
        { rate: deepList!, baseline: emptyList!, target: "page time ≤ 1.5× (rate ≥ 0.67×)" },
        { rate: emptyCreate! },
        { rate: deepCreate!, baseline: emptyCreate!, target: "≥ 0.9×" },
      ]);
      deepOps = { list: emptyList!.perSecond / deepList!.perSecond, create: deepCreate!.perSecond / emptyCreate!.perSecond };
    });
    console.log(
      `\nP4 summary: list page time deep/empty ${deepOps!.list.toFixed(2)}× (aim ≤ 1.5×); creation rate deep/empty ${deepOps!.create.toFixed(2)}× (aim ≥ 0.9×)`,
    );
    console.log(
      `filling ${DEPTH.toLocaleString("en-US")} pending jobs took ${fillSeconds.toFixed(1)} s (${Math.round(DEPTH / fillSeconds)} jobs/s in batches of ${BATCH})`,
    );

    console.log(`\n## Memory (V8 heap of the isolate holding the Worker and its objects; RSS of wrangler + workerd)\n`);
    console.log("| while | heap before | heap peak | peak − before | heap at end | RSS before | RSS peak |");
    console.log("|---|---:|---:|---:|---:|---:|---:|");
    for (const [what, m] of [
      [`one custodial batch of ${BATCH}`, custodialBatch],
      [`filling one issuer to ${DEPTH.toLocaleString("en-US")} pending jobs (external batches of ${BATCH})`, fill],
      [`listing and creating on the ${DEPTH.toLocaleString("en-US")}-job issuer`, deepMemory],
    ] as const) {
      console.log(
        `| ${what} | ${MB(m.before)} | ${MB(m.peak)} | ${MB(m.peak - m.before)} | ${MB(m.after)} | ${MB(m.rssBefore)} | ${MB(m.rssPeak)} |`,
      );
    }
  } finally {
    ins.close();
    await server.stop();
  }
}

if (isEntry(import.meta.url)) await main();
