/**
 * Starts the Worker under `wrangler dev` on a free loopback port with its own fresh local state
 * (D1 migrated, Durable Objects empty). Used by the end-to-end tests and the benchmarks.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");

export interface DevServer {
  url: string;
  token: string;
  /** The V8 inspector of the Worker (and its Durable Objects), for profiles and heap figures. */
  inspectorPort: number;
  /** wrangler's process group: workerd runs inside it. */
  pid: number;
  stop(): Promise<void>;
}

/**
 * A loopback port nobody listens on, drawn below Linux's ephemeral range (32768–60999). The kernel
 * hands ephemeral ports to every outgoing connection and to every `listen(0)` — including
 * workerd's and wrangler's own helper sockets — so a port taken from there can be gone again by
 * the time `wrangler dev` binds it (one CI run failed on exactly that). A port is still only free
 * when checked, so `startDevServer` also retries on "Address already in use".
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await listenable(port)) return port;
  }
  throw new Error("no free loopback port in 20000–31999");
}

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", () => resolve(false));
    srv.listen({ port, host: "127.0.0.1", exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

export interface DevServerOptions {
  vars?: Record<string, string>;
  /** Print wrangler's own output (default: only on failure). */
  verbose?: boolean;
  startTimeoutMs?: number;
  /** Another Worker's wrangler config (relative to the repository), e.g. the benchmarks' floor. */
  config?: string;
  /** The D1 database to migrate in that config (default: the service's). */
  database?: string;
}

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const state = mkdtempSync(join(tmpdir(), "ssi-edge-dev-"));
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" };
  const config = opts.config ? ["-c", opts.config] : [];
  const migrate = spawnSync(
    WRANGLER,
    ["d1", "migrations", "apply", opts.database ?? "ssi-edge", "--local", "--persist-to", state, ...config],
    {
      cwd: ROOT,
      env,
      encoding: "utf8",
    },
  );
  if (migrate.status !== 0) throw new Error(`d1 migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);

  const token = randomBytes(18).toString("base64url");
  const vars: Record<string, string> = {
    API_TOKENS: token,
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64url"),
    ...opts.vars,
  };
  const extra = [...config, "--persist-to", state];
  for (const [k, v] of Object.entries(vars)) extra.push("--var", `${k}:${v}`);
  const { child, url, inspector } = await launchWrangler(extra, {
    env,
    verbose: opts.verbose ?? false,
    startTimeoutMs: opts.startTimeoutMs ?? 60_000,
  });
  return {
    url,
    token,
    inspectorPort: inspector,
    pid: child.pid!,
    async stop() {
      killTree(child);
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r)));
      rmSync(state, { recursive: true, force: true });
    },
  };
}

export interface Launched {
  child: ChildProcess;
  url: string;
  inspector: number;
}

/**
 * `wrangler dev <extra>` on a fresh loopback port and inspector port, once `/readiness` answers.
 * A port can be taken between the check and wrangler's bind, so a start that fails with "Address
 * already in use" is tried again on other ports (up to 5 times); any other failure is thrown with
 * wrangler's output.
 */
export async function launchWrangler(
  extra: string[],
  opts: { env: NodeJS.ProcessEnv; verbose: boolean; startTimeoutMs: number },
): Promise<Launched> {
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    let inspector = await freePort();
    while (inspector === port) inspector = await freePort();
    const args = ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector)];
    args.push("--log-level", "warn", "--show-interactive-dev-session=false", ...extra);
    const child: ChildProcess = spawn(WRANGLER, args, { cwd: ROOT, env: opts.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let output = "";
    const collect = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 200_000) output = output.slice(-100_000);
      if (opts.verbose) process.stderr.write(chunk);
    };
    child.stdout?.on("data", collect);
    child.stderr?.on("data", collect);

    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + opts.startTimeoutMs;
    for (;;) {
      if (child.exitCode !== null) break;
      try {
        const res = await fetch(`${url}/readiness`);
        if (res.ok) return { child, url, inspector };
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        killTree(child);
        throw new Error(`wrangler dev did not become ready:\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    if (attempt < 5 && /address already in use|EADDRINUSE/i.test(output)) continue;
    throw new Error(`wrangler dev exited (${child.exitCode}):\n${output}`);
  }
}

function killTree(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, "SIGTERM");
  } catch {
    child.kill("SIGTERM");
  }
}
