import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../../scripts/dev-server.ts";

export const SIGNER_BIN = join(ROOT, "node_modules", ".bin", "ssi-edge-signer");

/** Operator calls against a running service. */
export function operator(url: string, token: string) {
  return async function call<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
  };
}

export function signerCli(args: string[], env: Record<string, string>): string {
  return execFileSync(SIGNER_BIN, args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" });
}

export interface Daemon {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  stderr: string[];
}

/** Starts `ssi-edge-signer run` and collects its JSON log lines. */
export function startDaemon(args: string[], env: Record<string, string>): Daemon {
  const child = spawn(SIGNER_BIN, ["run", ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const daemon: Daemon = { child, lines: [], stderr: [] };
  let buf = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    buf += chunk.toString();
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        daemon.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr!.on("data", (chunk: Buffer) => daemon.stderr.push(chunk.toString()));
  return daemon;
}

export async function stopDaemon(d: Daemon, signal: NodeJS.Signals): Promise<number | null> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return d.child.exitCode;
  const exited = new Promise<number | null>((resolve) => d.child.once("exit", (code) => resolve(code)));
  d.child.kill(signal);
  return exited;
}

/** Polls until `check` holds or the deadline passes (then the test fails with `what`). */
export async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
