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

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
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

  const port = await freePort();
  const inspector = await freePort();
  const token = randomBytes(18).toString("base64url");
  const vars: Record<string, string> = {
    API_TOKENS: token,
    KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64url"),
    ...opts.vars,
  };
  const args = ["dev", ...config, "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspector)];
  args.push("--persist-to", state, "--log-level", "warn", "--show-interactive-dev-session=false");
  for (const [k, v] of Object.entries(vars)) args.push("--var", `${k}:${v}`);
  const child: ChildProcess = spawn(WRANGLER, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
    if (opts.verbose) process.stderr.write(chunk);
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited (${child.exitCode}):\n${output}`);
    try {
      const res = await fetch(`${url}/readiness`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      killTree(child);
      throw new Error(`wrangler dev did not become ready:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
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

function killTree(child: ChildProcess): void {
  try {
    if (child.pid) process.kill(-child.pid, "SIGTERM");
  } catch {
    child.kill("SIGTERM");
  }
}
