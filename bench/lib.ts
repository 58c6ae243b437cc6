/** Small helpers shared by the benchmarks: a bounded-concurrency runner, timing, and printing. */
import { cpus, loadavg } from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { startDevServer } from "../scripts/dev-server.ts";

export interface Rate {
  name: string;
  items: number;
  seconds: number;
  perSecond: number;
  unit: string;
}

export async function timed(name: string, items: number, unit: string, fn: () => Promise<void>): Promise<Rate> {
  const t0 = performance.now();
  await fn();
  const seconds = (performance.now() - t0) / 1000;
  return { name, items, seconds, perSecond: items / seconds, unit };
}

/** Runs `count` tasks with at most `concurrency` in flight. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  });
  await Promise.all(workers);
}

export function client(url: string, token: string) {
  return async function call<T = any>(method: string, path: string, body?: unknown, expect?: number[]): Promise<T> {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (expect && !expect.includes(res.status)) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 500)}`);
    return (text ? JSON.parse(text) : null) as T;
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** Prints each rate with its ratio to the named baseline measured in the same run. */
export function report(title: string, rows: { rate: Rate; baseline?: Rate; target?: string }[]): void {
  console.log(`\n## ${title}\n`);
  console.log("| measurement | items | seconds | rate | vs baseline | target |");
  console.log("|---|---:|---:|---:|---|---|");
  for (const { rate, baseline, target } of rows) {
    const ratio = baseline ? `${fmt(rate.perSecond / baseline.perSecond, 2)}× ${baseline.name}` : "(baseline)";
    console.log(
      `| ${rate.name} | ${fmt(rate.items)} | ${fmt(rate.seconds, 2)} | ${fmt(rate.perSecond)} ${rate.unit}/s | ${ratio} | ${target ?? ""} |`,
    );
  }
}

export function machine(): string {
  return `node ${process.version}, ${process.platform}/${process.arch}`;
}

export interface Side {
  name: string;
  unit: string;
  /** Items one round does. */
  items: number;
  run: (round: number) => Promise<void>;
}

/**
 * Runs measurements in alternating rounds and sums each side, so that load from other processes
 * on a shared machine falls on every side of a ratio alike, not on whichever happened to run last.
 */
export async function alternate(rounds: number, sides: Side[]): Promise<Rate[]> {
  const sums = sides.map(() => 0);
  for (let r = 0; r < rounds; r++) {
    for (const [i, side] of sides.entries()) {
      const t0 = performance.now();
      await side.run(r);
      sums[i]! += (performance.now() - t0) / 1000;
    }
  }
  return sides.map((side, i) => ({
    name: side.name,
    items: side.items * rounds,
    seconds: sums[i]!,
    perSecond: (side.items * rounds) / sums[i]!,
    unit: side.unit,
  }));
}

/** The independent floor: a bare Worker (bench/floor) under its own `wrangler dev`. */
export async function startFloor() {
  return startDevServer({ config: "bench/floor/wrangler.toml", database: "bench-floor" });
}

/** Load average and core count, printed with every result so a reader can judge the noise. */
export function load(): string {
  return `${cpus().length} cores, load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(" ")}`;
}

/** True when the module is the script node was started with (not imported by bench/run.ts). */
export function isEntry(moduleUrl: string): boolean {
  return process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === moduleUrl;
}
