import type { SigningBackend } from "./backend.js";
import { serviceUrl, sleep } from "./connection.js";
import { mintDidJwt, type DidAuth } from "./didauth.js";
import type { JobRunner } from "./jobs.js";
import type { Log } from "./log.js";
import { BatchResultSchema, JobListSchema, type Answer } from "./protocol.js";

export interface PollOptions {
  url: string;
  auth: DidAuth;
  signal: AbortSignal;
  /** Sleep between polls when there was nothing to do. */
  intervalMs?: number;
  backoffCapMs?: number;
}

/**
 * HTTP fallback for networks that do not pass WebSockets: list pending jobs, sign them, send the
 * signatures in one batch PUT, repeat. Each request carries a fresh DID-auth JWT because the
 * service refuses a `jti` it has seen.
 */
export async function runPoll(backend: SigningBackend, runner: JobRunner, log: Log, opts: PollOptions): Promise<void> {
  const interval = opts.intervalMs ?? 1000;
  const cap = opts.backoffCapMs ?? 30_000;
  opts.signal.addEventListener("abort", () => (runner.draining = true));
  let failures = 0;
  while (!opts.signal.aborted) {
    try {
      const did = await pollOnce(backend, runner, log, opts);
      failures = 0;
      if (did === 0) await sleep(interval, opts.signal);
    } catch (e) {
      const exp = Math.min(cap, interval * 2 ** failures++);
      log.warn("poll_failed", { error: String(e), retryInMs: Math.round(exp) });
      await sleep(exp / 2 + Math.random() * (exp / 2), opts.signal);
    }
  }
}

/** One round; returns how many answers were sent. */
async function pollOnce(backend: SigningBackend, runner: JobRunner, log: Log, opts: PollOptions): Promise<number> {
  const request = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(serviceUrl(opts.url, path), {
      method,
      headers: {
        authorization: `DID ${await mintDidJwt(backend, opts.auth)}`,
        ...(body ? { "content-type": "application/json" } : {}),
      },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    const json: unknown = await res.json().catch(() => undefined);
    if (!res.ok) throw new Error(`${method} /${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };

  const did = encodeURIComponent(opts.auth.did);
  const list = JobListSchema.parse(await request("GET", `v1/signjobs?did=${did}&status=pending&pageSize=100`));
  if (list.signJobs.length > 0) log.info("jobs", { n: list.signJobs.length });
  const answers = (await Promise.all(list.signJobs.map((j) => runner.offer(j)))).filter((a): a is Answer => a !== undefined);
  const signatures = answers.flatMap((a) => (a.type === "sign" ? [{ id: a.id, signature: a.signature }] : []));
  if (signatures.length > 0) {
    const r = BatchResultSchema.parse(await request("PUT", "v1/signjobs", { signatures }));
    for (const x of r.results) runner.settle(x.id, x.status, x.code);
  }
  for (const a of answers) {
    if (a.type !== "reject") continue;
    try {
      await request("PUT", `v1/signjobs/${encodeURIComponent(a.id)}/reject`, { reason: a.reason });
      runner.settle(a.id, "rejected");
    } catch (e) {
      // Left answered: the next poll lists the job again and re-sends the same rejection.
      log.warn("reject_failed", { id: a.id, error: String(e) });
    }
  }
  return answers.length;
}
