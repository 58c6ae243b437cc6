import type { SigningBackend } from "./backend.js";
import { Batcher, type BatcherOptions } from "./batcher.js";
import { mintDidJwt, type DidAuth } from "./didauth.js";
import type { JobRunner } from "./jobs.js";
import type { Log } from "./log.js";
import { parseFrame } from "./protocol.js";

export interface SocketOptions {
  /** Service base URL, http(s)://host[:port][/prefix]. */
  url: string;
  auth: DidAuth;
  /** Aborting starts a drain: no new jobs, wait for answers in flight, close, return. */
  signal: AbortSignal;
  drainTimeoutMs?: number;
  backoffBaseMs?: number;
  backoffCapMs?: number;
  /** Batched `sign` frames; default a 5 ms window and up to 1000 signatures per frame. */
  batch?: BatcherOptions;
}

const TICK_MS = 1000;
const PING_EVERY_MS = 30_000;
// Two missed pings plus slack: the TCP connection is probably dead (NAT, sleeping laptop).
const IDLE_LIMIT_MS = 75_000;
// A handshake that has not completed by then (a black-holed host) is abandoned and retried.
const CONNECT_TIMEOUT_MS = 15_000;

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * Refuses a cleartext service URL to anything but this machine. Over `ws://` or `http://` the
 * DID-auth token, the jobs and the signatures travel readable and forgeable by the network, and
 * a forged job stream is exactly what the policy has to hold against.
 */
export function checkTransport(url: string, allowInsecure = false): string | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `--url ${url} is not a URL`;
  }
  if (u.protocol === "https:") return undefined;
  if (u.protocol !== "http:") return `--url must be https:// (or http:// to this machine), not ${u.protocol}`;
  if (LOOPBACK.test(u.hostname) || allowInsecure) return undefined;
  return `refusing cleartext http:// and ws:// to ${u.hostname}, which is not this machine; use https:// (or --allow-insecure)`;
}

export function serviceUrl(base: string, path: string): URL {
  return new URL(path, base.endsWith("/") ? base : base + "/");
}

/**
 * Keeps one WebSocket to `GET /v1/signjobs/connect` alive until `signal` aborts and the drain is
 * done. Reconnects with exponential backoff and jitter, minting a new DID-auth JWT each time.
 */
export async function runSocket(backend: SigningBackend, runner: JobRunner, log: Log, opts: SocketOptions): Promise<void> {
  const base = opts.backoffBaseMs ?? 500;
  const cap = opts.backoffCapMs ?? 30_000;
  const drainDeadline = () => Date.now() + (opts.drainTimeoutMs ?? 30_000);
  let deadline = Infinity;
  opts.signal.addEventListener("abort", () => {
    runner.draining = true;
    deadline = drainDeadline();
    log.info("draining", { pending: runner.pending });
  });
  let attempt = 0;
  while (!opts.signal.aborted) {
    const r = await connectOnce(backend, runner, log, opts, () => deadline);
    if (r.ready) attempt = 0;
    if (opts.signal.aborted) break;
    if (r.refresh) continue;
    log.counters.reconnects++;
    // "Equal jitter": at least half the exponential delay, so a fleet of signers restarted
    // together spreads out instead of hammering the service in lockstep.
    const exp = Math.min(cap, base * 2 ** attempt++);
    const delay = exp / 2 + Math.random() * (exp / 2);
    log.warn("disconnected", { code: r.code, reason: r.reason, retryInMs: Math.round(delay) });
    await sleep(delay, opts.signal);
  }
  // Disconnected while draining: answers already computed cannot be delivered now; they are
  // re-offered by the service after the lease, so only wait for signatures still being made.
  while (runner.inflight > 0 && Date.now() < deadline) await sleep(100);
}

interface Outcome {
  ready: boolean;
  refresh: boolean;
  code: number;
  reason: string;
}

async function connectOnce(
  backend: SigningBackend,
  runner: JobRunner,
  log: Log,
  opts: SocketOptions,
  drainDeadline: () => number,
): Promise<Outcome> {
  let token: string;
  try {
    token = await mintDidJwt(backend, opts.auth);
  } catch (e) {
    return {
      ready: false,
      refresh: false,
      code: 0,
      reason: `cannot mint DID-auth JWT: ${String(e)}`,
    };
  }
  const url = serviceUrl(opts.url, `v1/signjobs/connect?did=${encodeURIComponent(opts.auth.did)}`);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(url.href);
  const connectedAt = Date.now();
  // Reconnect with a fresh token before the current one expires, in case the service holds
  // sockets to their token's lifetime.
  const refreshAt = connectedAt + opts.auth.ttlSeconds * 900;
  const hardRefreshAt = connectedAt + opts.auth.ttlSeconds * 1000 - 5000;
  let ready = false;
  let refresh = false;
  let lastSeen = connectedAt;
  let lastPing = connectedAt;

  const send = (msg: unknown) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  };
  const batcher = new Batcher(send, opts.batch ?? { windowMs: 5, max: 1000 }, (resent) =>
    log.warn("batch_unsupported", { resent, detail: "the service takes one signature per frame" }),
  );

  return new Promise<Outcome>((resolve) => {
    let settled = false;
    const finish = (code: number, reason: string) => {
      if (settled) return;
      settled = true;
      clearInterval(tick);
      batcher.close();
      runner.detach();
      if (code === 4401) log.warn("auth_refused", { reason });
      resolve({ ready, refresh, code, reason });
    };
    const tick = setInterval(() => {
      const now = Date.now();
      if (ws.readyState === WebSocket.CONNECTING) {
        // Nothing is in flight on a socket that never opened: stop or retry without waiting.
        if (opts.signal.aborted || now - connectedAt > CONNECT_TIMEOUT_MS) {
          ws.close();
          finish(1006, opts.signal.aborted ? "signer shutting down" : "connect timeout");
        }
        return;
      }
      if (ws.readyState !== WebSocket.OPEN) return;
      if (opts.signal.aborted) {
        if ((runner.inflight === 0 && runner.pending === 0) || now > drainDeadline()) ws.close(1000, "signer shutting down");
        return;
      }
      if (now - lastSeen > IDLE_LIMIT_MS) return ws.close(4000, "no traffic from service");
      if (ready && (now > hardRefreshAt || (now > refreshAt && runner.pending === 0))) {
        refresh = true;
        return ws.close(1000, "token refresh");
      }
      if (now - lastPing >= PING_EVERY_MS) {
        lastPing = now;
        send("ping");
      }
    }, TICK_MS);

    ws.addEventListener("open", () => {
      send({ type: "auth", token: `DID ${token}` });
      log.info("connected", { url: url.href });
    });
    ws.addEventListener("message", (ev) => {
      lastSeen = Date.now();
      if (typeof ev.data !== "string") return log.warn("bad_frame", { error: "binary frame" });
      const parsed = parseFrame(ev.data);
      if (!parsed.ok) return log.warn("bad_frame", { error: parsed.error });
      const f = parsed.frame;
      if (f === "pong") return;
      switch (f.type) {
        case "ready":
          ready = true;
          log.info("ready", { did: f.did, pending: f.pending });
          return;
        case "jobs":
          log.info("jobs", { n: f.jobs.length });
          for (const job of f.jobs) {
            void runner.offer(job).then((answer) => answer && batcher.add(answer));
          }
          return;
        case "result":
          return runner.settle(f.id, f.status, f.code);
        case "results":
          batcher.confirmed();
          for (const r of f.results) runner.settle(r.id, r.status, r.code);
          return;
        case "cancelled":
          return runner.cancel(f.ids);
        case "error":
          if (batcher.refused(f.code)) return;
          return log.warn("service_error", { code: f.code, detail: f.detail });
      }
    });
    ws.addEventListener("error", () => {
      // Node's WebSocket error events carry no detail. On an open socket the close event that
      // follows has the code; a failed handshake (connection refused) gets no close event at
      // all in Node 22, so it ends the attempt here or the daemon would wait forever.
      if (ws.readyState !== WebSocket.OPEN) finish(1006, "connection failed");
    });
    ws.addEventListener("close", (ev) => {
      finish(ev.code, ev.reason);
    });
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
