/** Job outcomes as logged, one JSON line each on stdout. */
export type JobEvent = "signed" | "rejected" | "failed" | "cancelled";

export interface Counters {
  signed: number;
  rejected: number;
  failed: number;
  cancelled: number;
  reconnects: number;
}

/**
 * JSON-lines logger. Job outcomes and periodic counters go to stdout (what a log shipper keeps);
 * connection chatter and diagnostics go to stderr.
 */
export class Log {
  readonly counters: Counters = { signed: 0, rejected: 0, failed: 0, cancelled: 0, reconnects: 0 };

  constructor(
    private readonly out: (line: string) => void = (l) => process.stdout.write(l + "\n"),
    private readonly err: (line: string) => void = (l) => process.stderr.write(l + "\n"),
  ) {}

  job(event: JobEvent, fields: { id: string; kind?: string; alg?: string; ms?: number; [k: string]: unknown }): void {
    this.counters[event]++;
    this.out(JSON.stringify({ ts: new Date().toISOString(), event, ...fields }));
  }

  stats(extra: Record<string, unknown>): void {
    this.out(JSON.stringify({ ts: new Date().toISOString(), event: "stats", ...this.counters, ...extra }));
  }

  info(event: string, fields: Record<string, unknown> = {}): void {
    this.err(JSON.stringify({ ts: new Date().toISOString(), level: "info", event, ...fields }));
  }

  warn(event: string, fields: Record<string, unknown> = {}): void {
    this.err(JSON.stringify({ ts: new Date().toISOString(), level: "warn", event, ...fields }));
  }
}
