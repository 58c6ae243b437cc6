/**
 * The sharded credential index at scale (docs/SCALE.md "Proof"): writes SCALE_ISSUERS × SCALE_PER_ISSUER
 * index rows (default 1,000 × 1,000) into 4 local D1 shards and into 1, compares list-page latency,
 * measures index bytes per credential against the model, and moves the 1-shard index to 2 shards
 * with writes and reads running. Each run uses its own wrangler dev (bench/scale/worker.ts: the
 * index modules of the service, src/shards, on their own) with fresh local state.
 *
 *   npm run bench:scale                      # 1,000,000 credentials (run on an idle machine)
 *   SCALE_ISSUERS=50 SCALE_PER_ISSUER=200 npm run bench:scale   # a small run
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchWrangler, ROOT } from "../scripts/dev-server.ts";
import { pool } from "./lib.ts";
import { MEASURED } from "../scripts/capacity/measured.ts";
import { shardOf } from "../src/shards/hash.ts";

const ISSUERS = Number(process.env.SCALE_ISSUERS ?? 1000);
const PER_ISSUER = Number(process.env.SCALE_PER_ISSUER ?? 1000);
const TOTAL = ISSUERS * PER_ISSUER;
/** The shard cap scaled down with the workload: 10 GB for the 100 M target, so 100 MB for 1 M. */
const CAP_BYTES = Number(process.env.SCALE_SHARD_CAP_BYTES ?? Math.round(10e9 * (TOTAL / 100e6)));
const CHUNK = 1000;
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

interface Bench {
  url: string;
  stop(): Promise<void>;
}

async function launch(indexShards: number, bound: number): Promise<Bench> {
  const dir = mkdtempSync(join(tmpdir(), "ssi-edge-scale-"));
  const state = join(dir, "state");
  const dbs = Array.from({ length: bound }, (_, i) => ({
    binding: i === 0 ? "DB" : `DB_SHARD_${i}`,
    name: `scale-shard-${i}`,
    id: `00000000-0000-0000-0000-${String(i).padStart(12, "0")}`,
  }));
  const config = join(dir, "wrangler.toml");
  writeFileSync(
    config,
    [
      'name = "ssi-edge-scale-bench"',
      `main = ${JSON.stringify(join(ROOT, "bench/scale/worker.ts"))}`,
      'compatibility_date = "2026-10-01"',
      'compatibility_flags = ["nodejs_compat"]',
      ...dbs.flatMap((d) => [
        "[[d1_databases]]",
        `binding = "${d.binding}"`,
        `database_name = "${d.name}"`,
        `database_id = "${d.id}"`,
        `migrations_dir = ${JSON.stringify(join(ROOT, "migrations"))}`,
      ]),
      "[vars]",
      `INDEX_SHARDS = "${indexShards}"`,
    ].join("\n"),
  );
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" };
  for (const d of dbs) {
    const r = spawnSync(WRANGLER, ["d1", "migrations", "apply", d.name, "--local", "--persist-to", state, "-c", config], {
      cwd: ROOT,
      env,
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`migrations for ${d.name} failed:\n${r.stdout}\n${r.stderr}`);
  }
  const { child, url } = await launchWrangler(["-c", config, "--persist-to", state], {
    env,
    verbose: false,
    startTimeoutMs: 90_000,
  });
  return {
    url,
    async stop() {
      if (child.exitCode === null && child.pid) {
        process.kill(-child.pid, "SIGTERM");
        await new Promise((r) => child.once("exit", r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function call<T = any>(b: Bench, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${b.url}${path}`, {
    method,
    ...(body ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

type Sizes = { layout: unknown; sizes: { shard: number; bytes: number; rows: number }[] };

async function fill(b: Bench): Promise<{ seconds: number; ids: Map<number, string> }> {
  const t0 = performance.now();
  await pool(Math.ceil(TOTAL / CHUNK), 4, async (k) => {
    const from = k * CHUNK;
    await call(b, "POST", "/write", { issuers: ISSUERS, from, count: Math.min(CHUNK, TOTAL - from) });
  });
  return { seconds: (performance.now() - t0) / 1000, ids: new Map() };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;

/**
 * Pages of 100 through the unfiltered list from several starting points, then subject lookups: the
 * client's wall time (through wrangler's proxy) and the Worker's own (`ms`, the index call only).
 */
async function listLatency(b: Bench, pages = 200): Promise<Record<string, number>> {
  const client: number[] = [];
  const worker: number[] = [];
  const queries: number[] = [];
  let after: unknown = null;
  for (let i = 0; i < pages; i++) {
    const t0 = performance.now();
    const page = await call<{ count: number; next: unknown; ms: number; queries: number }>(
      b,
      "GET",
      `/list?pageSize=100${after ? `&after=${encodeURIComponent(JSON.stringify(after))}` : ""}`,
    );
    client.push(performance.now() - t0);
    worker.push(page.ms);
    queries.push(page.queries);
    if (page.count !== 100) throw new Error(`short page: ${page.count}`);
    after = page.next;
  }
  const subject: number[] = [];
  for (let i = 0; i < 100; i++) {
    const holder = `did:key:z6MkHolder${((i * 7919) % TOTAL).toString(36).padStart(8, "0")}`.padEnd(60, "x");
    const t0 = performance.now();
    const page = await call<{ count: number; ms: number }>(b, "GET", `/list?pageSize=10&subject=${encodeURIComponent(holder)}`);
    subject.push(page.ms);
    if (page.count !== 1) throw new Error(`subject lookup found ${page.count}`);
    void t0;
  }
  const r = (x: number) => +x.toFixed(1);
  return {
    clientP50: r(pct(client, 50)),
    clientP95: r(pct(client, 95)),
    workerP50: r(pct(worker, 50)),
    workerP95: r(pct(worker, 95)),
    subjectWorkerP50: r(pct(subject, 50)),
    // D1 queries per page: one per shard when every shard's share covered the page.
    queriesPerPage: r(queries.reduce((a, b) => a + b, 0) / queries.length),
  };
}

async function main() {
  console.log(
    `sharded index: ${ISSUERS} issuers × ${PER_ISSUER} = ${TOTAL.toLocaleString("en-US")} credentials; shard cap ${(CAP_BYTES / 1e6).toFixed(0)} MB`,
  );
  const model = MEASURED.proposed.compactIndexBytesPerCredential;

  // 4 shards.
  const four = await launch(4, 4);
  let fourResult;
  try {
    const before = await call<Sizes>(four, "GET", "/sizes");
    const written = await fill(four);
    const after = await call<Sizes>(four, "GET", "/sizes");
    const bytes = after.sizes.reduce((n, s) => n + s.bytes, 0) - before.sizes.reduce((n, s) => n + s.bytes, 0);
    const perShard = after.sizes.map((s, i) => ({
      shard: s.shard,
      rows: s.rows,
      mb: +(s.bytes / 1e6).toFixed(1),
      modelMb: +((s.rows * model + before.sizes[i]!.bytes) / 1e6).toFixed(1),
      ofCap: +((100 * s.bytes) / CAP_BYTES).toFixed(1),
    }));
    // Whether local D1 runs queries to different databases side by side (production D1 does: each is its own object).
    const probes: Record<string, number>[] = [];
    for (let i = 0; i < 5; i++) probes.push(await call<Record<string, number>>(four, "GET", "/probe"));
    const med = (k: string) =>
      pct(
        probes.map((p) => p[k]!),
        50,
      );
    console.log(
      JSON.stringify({ localD1FourQueries: { sequentialMs: med("sequential"), parallelMs: med("parallel"), oneQueryMs: med("oneBig") } }),
    );
    const latency = await listLatency(four);
    fourResult = {
      writeSeconds: +written.seconds.toFixed(1),
      rowsPerSecond: Math.round(TOTAL / written.seconds),
      bytesPerCredential: +(bytes / TOTAL).toFixed(1),
      perShard,
      latency,
    };
    console.log(JSON.stringify({ shards: 4, ...fourResult }));
  } finally {
    await four.stop();
  }

  // 1 shard (a second binding bound, for the migration).
  const one = await launch(1, 2);
  try {
    const before = await call<Sizes>(one, "GET", "/sizes");
    const written = await fill(one);
    const after = await call<Sizes>(one, "GET", "/sizes");
    const bytes = after.sizes.reduce((n, s) => n + s.bytes, 0) - before.sizes.reduce((n, s) => n + s.bytes, 0);
    const latency = await listLatency(one);
    console.log(
      JSON.stringify({ shards: 1, writeSeconds: +written.seconds.toFixed(1), bytesPerCredential: +(bytes / TOTAL).toFixed(1), latency }),
    );
    console.log(
      JSON.stringify({
        listPage4vs1: Object.fromEntries(Object.entries(fourResult.latency).map(([k, v]) => [k, +(v / latency[k]!).toFixed(2)])),
        bytesPerCredential: { measured4: fourResult.bytesPerCredential, measured1: +(bytes / TOTAL).toFixed(1), model },
      }),
    );

    // 1 → 2 with writes and reads running.
    const moves = (i: number) => shardOf(`did:key:z6MkIssuer${i.toString(36).padStart(8, "0")}`.padEnd(56, "x"), 2) === 1;
    let expectMoved = 0;
    for (let j = 0; j < TOTAL; j++) if (moves(j % ISSUERS)) expectMoved++;
    let stop = false;
    let writes = 0;
    let reads = 0;
    let misses = 0;
    const errors: string[] = [];
    const writer = (async () => {
      for (let k = 0; !stop; k++) {
        try {
          writes += (await call<{ written: number }>(one, "POST", "/write", { issuers: ISSUERS, from: TOTAL + k * 100, count: 100 }))
            .written;
        } catch (e) {
          errors.push(String(e));
        }
      }
    })();
    const reader = (async () => {
      for (let k = 0; !stop; k++) {
        try {
          const page = await call<{ count: number; first?: { id: string; issuer: string } }>(
            one,
            "GET",
            `/list?pageSize=50&after=${encodeURIComponent(JSON.stringify([0, String(k % 97)]))}`,
          );
          reads++;
          if (page.first) {
            const point = await call<{ found: boolean }>(
              one,
              "GET",
              `/point?issuer=${encodeURIComponent(page.first.issuer)}&id=${page.first.id}`,
            );
            reads++;
            if (!point.found) misses++;
          }
        } catch (e) {
          errors.push(String(e));
        }
      }
    })();
    const t0 = performance.now();
    await call(one, "POST", "/migrate/begin?to=2");
    let copied = 0;
    let deleted = 0;
    let steps = 0;
    const phases: Record<string, number> = {};
    for (;;) {
      const step = await call<{ copied: number; deleted: number; waitMs: number; done: boolean; layout: { phase: string } }>(
        one,
        "POST",
        "/migrate/step?graceMs=2000&limit=1000",
      );
      copied += step.copied;
      deleted += step.deleted;
      steps++;
      phases[step.layout.phase] = (phases[step.layout.phase] ?? 0) + 1;
      if (step.done) break;
      if (step.waitMs > 0) await new Promise((r) => setTimeout(r, step.waitMs));
    }
    const seconds = (performance.now() - t0) / 1000;
    stop = true;
    await Promise.all([writer, reader]);
    const final = await call<Sizes>(one, "GET", "/sizes");
    const rows = final.sizes.reduce((n, s) => n + s.rows, 0);
    console.log(
      JSON.stringify({
        migration1to2: {
          seconds: +seconds.toFixed(1),
          steps,
          phases,
          copied,
          deleted,
          expectedToMove: expectMoved,
          writesDuring: writes,
          readsDuring: reads,
          pointMisses: misses,
          errors: errors.length,
          firstError: errors[0],
          rowsAfter: rows,
          rowsExpected: TOTAL + writes,
          shards: final.sizes,
          layout: final.layout,
        },
      }),
    );
    if (misses > 0 || errors.length > 0 || rows !== TOTAL + writes) process.exitCode = 1;
  } finally {
    await one.stop();
  }
}

await main();
