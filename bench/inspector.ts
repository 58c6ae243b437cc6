/**
 * A small Chrome DevTools Protocol client for the inspector `wrangler dev` opens on the Worker's
 * isolate (the Durable Objects of a local `wrangler dev` run in that same isolate). Used for the
 * heap figures (Runtime.getHeapUsage) and the CPU profiles (Profiler) of the benchmarks.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface Inspector {
  send<T = any>(method: string, params?: Record<string, unknown>): Promise<T>;
  close(): void;
}

export async function openInspector(port: number): Promise<Inspector> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as { webSocketDebuggerUrl: string }[];
  const url = targets[0]?.webSocketDebuggerUrl;
  if (!url) throw new Error("no inspector target");
  // The inspector proxy only admits local origins; Node's WebSocket takes headers as an extension.
  const ws = new WebSocket(url, { headers: { origin: "http://localhost" } } as unknown as string[]);
  await new Promise<void>((resolve, reject) => {
    ws.addEventListener("open", () => resolve(), { once: true });
    ws.addEventListener("error", () => reject(new Error("inspector socket error")), { once: true });
  });
  let next = 1;
  const waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  ws.addEventListener("message", (ev) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (msg.error) w?.reject(new Error(msg.error.message));
    else w?.resolve(msg.result);
  });
  return {
    send(method, params = {}) {
      const id = next++;
      ws.send(JSON.stringify({ id, method, params }));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(new Error(`inspector: ${method} did not answer`));
        }, 10_000);
        waiting.set(id, {
          resolve: (v) => (clearTimeout(timer), resolve(v)),
          reject: (e) => (clearTimeout(timer), reject(e)),
        });
      });
    },
    close: () => ws.close(),
  };
}

/** Samples the isolate's used heap every `everyMs` while `fn` runs; the peak and the figure before. */
export async function heapPeak(
  ins: Inspector,
  everyMs: number,
  fn: () => Promise<void>,
): Promise<{ before: number; peak: number; after: number }> {
  // HeapProfiler.collectGarbage never answers through wrangler's inspector proxy, so the figures
  // include garbage not yet collected: peaks are upper bounds.
  const before = (await ins.send<{ usedSize: number }>("Runtime.getHeapUsage")).usedSize;
  let peak = before;
  let running = true;
  const sampler = (async () => {
    while (running) {
      const { usedSize } = await ins.send<{ usedSize: number }>("Runtime.getHeapUsage");
      if (usedSize > peak) peak = usedSize;
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  try {
    await fn();
  } finally {
    running = false;
    await sampler;
  }
  const after = (await ins.send<{ usedSize: number }>("Runtime.getHeapUsage")).usedSize;
  return { before, peak, after };
}

/** The resident set of a process and its descendants (workerd runs under wrangler), in bytes. */
export function treeRss(rootPid: number): number {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, "utf8");
      const ppid = Number(/PPid:\s+(\d+)/.exec(status)?.[1]);
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      rss.set(Number(name), kb * 1024);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // the process ended while we looked
    }
  }
  let total = 0;
  const stack = [rootPid];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    total += rss.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return total;
}
