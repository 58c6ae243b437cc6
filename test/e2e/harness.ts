import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "../../scripts/dev-server.ts";

/**
 * The daemon of this checkout, run by the Node that runs the tests: not `node_modules/.bin`, whose
 * workspace link may point at another checkout's signer (a worktree sharing node_modules) and whose
 * shebang picks whatever `node` is first on PATH.
 */
export const SIGNER_BIN = join(ROOT, "signer", "bin", "ssi-edge-signer.js");

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
  return execFileSync(process.execPath, [SIGNER_BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: "utf8" });
}

export type LogLine = Record<string, unknown>;

export interface Daemon {
  child: ChildProcess;
  /** stdout JSON lines: one per job outcome, and counters. */
  lines: LogLine[];
  /** stderr, raw, and its JSON lines (connection events, diagnostics). */
  stderr: string[];
  errLines: LogLine[];
  /** Called synchronously for every JSON line as it arrives, so a test can act on the instant. */
  watchers: ((line: LogLine, stream: "out" | "err") => void)[];
}

/** Starts `ssi-edge-signer run` and collects its JSON log lines. */
export function startDaemon(args: string[], env: Record<string, string>): Daemon {
  const child = spawn(process.execPath, [SIGNER_BIN, "run", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const daemon: Daemon = { child, lines: [], stderr: [], errLines: [], watchers: [] };
  const split = (stream: "out" | "err", into: LogLine[]) => {
    let buf = "";
    return (chunk: Buffer) => {
      if (stream === "err") daemon.stderr.push(chunk.toString());
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const raw = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let line: LogLine;
        try {
          line = JSON.parse(raw) as LogLine;
        } catch {
          continue; // not a log line
        }
        into.push(line);
        for (const w of daemon.watchers) w(line, stream);
      }
    };
  };
  child.stdout!.on("data", split("out", daemon.lines));
  child.stderr!.on("data", split("err", daemon.errLines));
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
