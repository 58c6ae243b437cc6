/**
 * Where the time goes, per 1,000 credentials: a V8 CPU profile of the isolate that runs the
 * Worker and its Durable Objects (taken over the inspector, attributed to source files through
 * the `// path` markers of wrangler's bundle), next to the CPU time each process of the run used
 * (/proc/<pid>/stat: wrangler's Node process, the proxy workerd, the Worker's workerd, the load
 * generator).
 *
 *   npx tsx bench/profile.ts [custodial-batch|single|deep-create|empty-create|fresh-issuers|daemon]...
 */
import { readdirSync, readFileSync } from "node:fs";
import { startDevServer, type DevServer } from "../scripts/dev-server.ts";
import type { Inspector } from "./inspector.ts";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; scriptId: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Bundle line → source module, from esbuild's `// path/to/module.ts` markers. */
async function moduleMap(ins: Inspector, scriptId: string): Promise<(line: number) => string> {
  await ins.send("Debugger.enable");
  const { scriptSource } = await ins.send<{ scriptSource: string }>("Debugger.getScriptSource", { scriptId });
  await ins.send("Debugger.disable");
  const starts: { line: number; path: string }[] = [];
  scriptSource.split("\n").forEach((text, line) => {
    const m = /^\/\/ ((?:node_modules|src|durable-objects|\.\.\/)\S*\.[mc]?[jt]s)$/.exec(text);
    if (m) starts.push({ line, path: m[1]! });
  });
  return (line) => {
    let lo = 0;
    let hi = starts.length - 1;
    let found = "(bundle)";
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]!.line <= line) {
        found = starts[mid]!.path;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  };
}

/** Coarse groups a reader can act on. */
function group(path: string, fn: string): string {
  if (path === "(native)") {
    if (fn === "(idle)") return "idle";
    if (fn === "(garbage collector)") return "GC";
    if (fn === "(program)") return "runtime (program)";
    if (/^(parse|stringify)$/.test(fn)) return "JSON (native)";
    if (fn === "exec" || fn === "transactionSync" || fn === "one" || fn === "toArray" || fn === "next" || fn === "raw")
      return "SQLite (native)";
    return `native: ${fn || "(anonymous)"}`;
  }
  if (path.startsWith("durable-objects/")) return "object code (durable-objects/)";
  if (path.startsWith("src/")) return `worker code (${path.split("/").slice(0, 2).join("/")})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
  return pkg ? `library: ${pkg}` : path;
}

/**
 * The phase a sample belongs to, from its whole stack (leaf first): what the leaf is doing when
 * that says it all (SQLite, signing, GC), else the innermost frame of ours that names a phase.
 * Native JSON and structured-clone time lands in the phase of the code that asked for it.
 */
function phase(stack: { fn: string; path: string }[]): string {
  const leaf = stack[0]!;
  if (leaf.path === "(native)") {
    if (leaf.fn === "(idle)") return "idle";
    if (leaf.fn === "(garbage collector)") return "GC";
    if (/^(exec|transactionSync|one|toArray|next|raw)$/.test(leaf.fn)) return "SQLite statements (object)";
  }
  for (const { fn, path } of stack) {
    if (path.includes("durable-objects/schema.ts")) return "schema migration (object wake)";
    if (path.includes("src/crypto/") || /^(sign|verify|importKey|crypto\.subtle)/.test(fn)) return "signing / key import (WebCrypto)";
    if (path.includes("core/json-depth")) return "request depth scan (json-depth)";
    if (/node_modules\/(zod|@hono\/zod-openapi|@asteasolutions)/.test(path)) return "validation (zod)";
    if (/durable-objects\/outbox\.ts/.test(path)) return "outbox: D1 delivery and puts (object)";
    if (/durable-objects\/kinds\/|src\/vc\//.test(path)) return "VC / JWT build (kinds, src/vc)";
    if (/durable-objects\/(engine|jobs|operations|issuance|custodial-signer)\.ts/.test(path)) return "jobs, operations, settle (object)";
    if (path.startsWith("durable-objects/")) return "other object code";
    if (/src\/http\/artifacts\.ts|src\/issuer-client/.test(path)) return "RPC to the object and back (Worker side)";
    if (path.startsWith("src/") || path.includes("node_modules/hono")) return "Worker route, middleware, response JSON";
  }
  if (leaf.path === "(native)" && leaf.fn === "(program)") return "runtime (program: RPC, I/O, unattributed native)";
  return `other: ${leaf.fn || "(anonymous)"} ${leaf.path}`;
}

export interface Breakdown {
  /** Time by phase (see `phase`). */
  phases: [string, number][];
  wallMs: number;
  busyMs: number;
  groups: [string, number][];
  top: [string, number][];
  /** SQLite time by the function that ran the statement. */
  sqlCallers: [string, number][];
}

export async function profiled(ins: Inspector, fn: () => Promise<void>): Promise<Breakdown> {
  await ins.send("Profiler.enable");
  await ins.send("Profiler.setSamplingInterval", { interval: 1000 });
  await ins.send("Profiler.start");
  const t0 = performance.now();
  await fn();
  const wallMs = performance.now() - t0;
  const { profile } = await ins.send<{ profile: Profile }>("Profiler.stop");
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const maps = new Map<string, (line: number) => string>();
  for (const n of profile.nodes) {
    const id = n.callFrame.scriptId;
    if (n.callFrame.url && id !== "0" && !maps.has(id)) maps.set(id, await moduleMap(ins, id).catch(() => () => n.callFrame.url));
  }
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000));
  const groups = new Map<string, number>();
  const top = new Map<string, number>();
  const sqlCallers = new Map<string, number>();
  const phases = new Map<string, number>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const pathOf = (n: ProfileNode) =>
    n.callFrame.url ? (maps.get(n.callFrame.scriptId)?.(n.callFrame.lineNumber) ?? n.callFrame.url) : "(native)";
  const where = (n: ProfileNode) =>
    `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url ? (maps.get(n.callFrame.scriptId)?.(n.callFrame.lineNumber) ?? n.callFrame.url) : "(native)"}`;
  let busyMs = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    const path = n.callFrame.url ? (maps.get(n.callFrame.scriptId)?.(n.callFrame.lineNumber) ?? n.callFrame.url) : "(native)";
    const g = group(path, n.callFrame.functionName);
    if (g !== "idle") busyMs += ms;
    const stack: { fn: string; path: string }[] = [];
    for (let p: number | undefined = id; p !== undefined; p = parent.get(p)) {
      const pn = byId.get(p)!;
      stack.push({ fn: pn.callFrame.functionName, path: pathOf(pn) });
    }
    const ph = phase(stack);
    phases.set(ph, (phases.get(ph) ?? 0) + ms);
    groups.set(g, (groups.get(g) ?? 0) + ms);
    if (g === "SQLite (native)") {
      // The first two frames of ours above the statement say which statement it was.
      const chain: string[] = [];
      for (let p = parent.get(id); p !== undefined && chain.length < 2; p = parent.get(p)) {
        const pn = byId.get(p)!;
        if (pn.callFrame.url) chain.push(where(pn));
      }
      const key = chain.join(" ← ");
      sqlCallers.set(key, (sqlCallers.get(key) ?? 0) + ms);
    }
    const name = `${n.callFrame.functionName || "(anonymous)"} ${path}`;
    top.set(name, (top.get(name) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]);
  return {
    wallMs,
    busyMs,
    phases: sorted(phases),
    groups: sorted(groups),
    top: sorted(top).slice(0, 25),
    sqlCallers: sorted(sqlCallers).slice(0, 10),
  };
}

/** CPU seconds (user + system) of each process under `root`, by command. */
export function cpuOf(root: number): Map<string, number> {
  const tick = 100; // USER_HZ
  const out = new Map<string, number>();
  const children = new Map<number, number[]>();
  const info = new Map<number, { cmd: string; cpu: number }>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(rest[1]);
      const cpu = (Number(rest[11]) + Number(rest[12]) + Number(rest[13]) + Number(rest[14])) / tick;
      const cmdline = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
      const cmd = cmdline.some((a) => a.includes("workerd"))
        ? cmdline.some((a) => a.startsWith("--inspector-addr"))
          ? "workerd (Worker + objects + local D1)"
          : "workerd (wrangler's proxy)"
        : cmdline.some((a) => a.includes("wrangler"))
          ? "wrangler (Node)"
          : cmdline.some((a) => a.includes("ssi-edge-signer") || a.includes("signer/"))
            ? "signer daemon"
            : (cmdline[0] ?? "?");
      info.set(Number(name), { cmd, cpu });
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone
    }
  }
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    const i = info.get(pid);
    if (i) out.set(i.cmd, (out.get(i.cmd) ?? 0) + i.cpu);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

export function cpuDelta(before: Map<string, number>, after: Map<string, number>): [string, number][] {
  return [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)] as [string, number]).sort((a, b) => b[1] - a[1]);
}

/** A scenario's breakdown, scaled to 1,000 credentials, as markdown. */
export function printBreakdown(title: string, credentials: number, b: Breakdown, cpu: [string, number][], loadCpuS: number): void {
  const per = 1000 / credentials;
  const f = (ms: number) => `${Math.round(ms * per)} ms`;
  const pct = (ms: number) => `${((100 * ms) / b.busyMs).toFixed(0)} %`;
  console.log(`\n### ${title} (per 1,000 credentials)\n`);
  console.log(
    `wall ${f(b.wallMs)}; the Worker isolate busy ${f(b.busyMs)} (V8 samples, idle excluded; wall-clock samples, so a loaded machine inflates them)\n`,
  );
  console.log("| process | CPU |\n|---|---:|");
  for (const [cmd, s] of cpu) console.log(`| ${cmd} | ${f(s * 1000)} |`);
  console.log(`| load generator (this Node process) | ${f(loadCpuS * 1000)} |`);
  console.log("\n| phase (whole stack) | time |\n|---|---:|");
  for (const [p, ms] of b.phases.filter(([p]) => p !== "idle").slice(0, 16)) console.log(`| ${p} | ${f(ms)} (${pct(ms)}) |`);
  console.log("\n| inside the Worker isolate | self time |\n|---|---:|");
  for (const [g, ms] of b.groups.filter(([g]) => g !== "idle").slice(0, 14)) console.log(`| ${g} | ${f(ms)} (${pct(ms)}) |`);
  console.log("\n| SQLite time by caller | |\n|---|---:|");
  for (const [name, ms] of b.sqlCallers) console.log(`| ${name} | ${f(ms)} |`);
  console.log("\n| top functions (self) | |\n|---|---:|");
  for (const [name, ms] of b.top.filter(([n]) => !n.startsWith("(idle)")).slice(0, 12)) console.log(`| ${name} | ${f(ms)} |`);
}

export type { DevServer };
export { startDevServer };

// ── the scenarios ────────────────────────────────────────────────────────────

import { openInspector } from "./inspector.ts";
import { client, isEntry, load, pool } from "./lib.ts";
import { credentialRequest } from "./issuance.ts";

type Call = ReturnType<typeof client>;

const scenarios: Record<string, (call: Call, server: DevServer) => Promise<{ n: number; run: () => Promise<void> }>> = {
  async "custodial-batch"(call) {
    const did = (await call("PUT", "/v1/dids/key", { keyType: "Ed25519" }, [201])).did;
    const vm = did.verificationMethod[0].id as string;
    const batch = (off: number) => Array.from({ length: 1000 }, (_, i) => credentialRequest(did.id, vm, off + i));
    await call("PUT", "/v1/credentials/batch", { requests: batch(0) }, [201]);
    return {
      n: 3000,
      run: async () => {
        for (let b = 1; b <= 3; b++) await call("PUT", "/v1/credentials/batch", { requests: batch(b * 1000) }, [201]);
      },
    };
  },
  async single(call) {
    const did = (await call("PUT", "/v1/dids/key", { keyType: "Ed25519" }, [201])).did;
    const vm = did.verificationMethod[0].id as string;
    await pool(100, 16, async (i) => void (await call("PUT", "/v1/credentials", credentialRequest(did.id, vm, i), [201])));
    return {
      n: 1000,
      run: () => pool(1000, 16, async (i) => void (await call("PUT", "/v1/credentials", credentialRequest(did.id, vm, 1000 + i), [201]))),
    };
  },
  /**
   * P2d: the real signer daemon (jwk backend, on the socket) signs 2,000 credentials created in
   * batches of 500. The profile is the service's side; the daemon is a process of its own, not in
   * the process table.
   */
  async daemon(call, server) {
    const { daemonIssuer, issueAndWait } = await import("./signers.ts");
    const { mkdtempSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "ssi-profile-"));
    const issuer = await daemonIssuer(
      server.url,
      call,
      ["keygen", "--backend", "jwk", "--out", join(dir, "k.jwk"), "--key-type", "Ed25519"],
      ["--backend", "jwk", "--key-file", join(dir, "k.jwk")],
      {},
    );
    await issueAndWait(call, issuer.id, issuer.vm, 500, 202);
    return {
      n: 2000,
      run: async () => {
        try {
          await issueAndWait(call, issuer.id, issuer.vm, 2000, 202);
        } finally {
          await issuer.stop();
        }
      },
    };
  },
  /** P4: single creates into an external issuer holding BENCH_DEPTH pending jobs (default 20,000). */
  async "deep-create"(call) {
    return externalCreates(call, Number(process.env.BENCH_DEPTH ?? 20_000));
  },
  async "empty-create"(call) {
    return externalCreates(call, 0);
  },
  /**
   * P5's wake cost: 200 new external DIDs (each the first request to its own, new object), then
   * one credential each (the DID's object asleep again? not under wrangler dev: the second
   * request finds it in memory, so what it pays is first-use, not a second wake).
   */
  async "fresh-issuers"(call) {
    const { externalIssuer } = await import("./issuance.ts");
    await externalIssuer(call);
    return {
      n: 200,
      run: () =>
        pool(200, 16, async (i) => {
          const issuer = await externalIssuer(call);
          await call("PUT", "/v1/credentials", credentialRequest(issuer.id, issuer.vm, i), [202]);
        }),
    };
  },
};

async function externalCreates(call: Call, depth: number) {
  const { externalIssuer } = await import("./issuance.ts");
  const issuer = await externalIssuer(call);
  for (let off = 0; off < depth; off += 1000) {
    const requests = Array.from({ length: Math.min(1000, depth - off) }, (_, i) => credentialRequest(issuer.id, issuer.vm, off + i));
    await call("PUT", "/v1/credentials/batch", { requests }, [202]);
  }
  await pool(50, 16, async (i) => void (await call("PUT", "/v1/credentials", credentialRequest(issuer.id, issuer.vm, i), [202])));
  return {
    n: 500,
    run: () => pool(500, 16, async (i) => void (await call("PUT", "/v1/credentials", credentialRequest(issuer.id, issuer.vm, i), [202]))),
  };
}

async function main(): Promise<void> {
  const names = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(scenarios);
  console.log(`# Profiles (${load()})`);
  for (const name of names) {
    const scenario = scenarios[name];
    if (!scenario) throw new Error(`unknown scenario ${name}; one of ${Object.keys(scenarios).join(", ")}`);
    const server = await startDevServer();
    const ins = await openInspector(server.inspectorPort);
    try {
      const call = client(server.url, server.token);
      const { n, run } = await scenario(call, server);
      const before = cpuOf(server.pid);
      const self0 = process.cpuUsage();
      const b = await profiled(ins, run);
      const self1 = process.cpuUsage(self0);
      printBreakdown(name, n, b, cpuDelta(before, cpuOf(server.pid)), (self1.user + self1.system) / 1e6);
    } finally {
      ins.close();
      await server.stop();
    }
  }
}

if (isEntry(import.meta.url)) await main();
