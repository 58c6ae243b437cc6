/**
 * The capacity model (docs/SCALE.md): for a workload, the bytes and operations per second landing on
 * each store, against Cloudflare's documented limits, and which limit binds first.
 *
 * Per-credential costs come from `measured.ts` (checked against the code by
 * test/scale/measure.test.ts); limits from `limits.ts` (each with its source). Everything else here is
 * arithmetic, stated so it can be checked by hand.
 */
import { LIMITS } from "./limits.ts";
import { MEASURED } from "./measured.ts";

export interface Workload {
  /** Issuers (one Durable Object each). */
  issuers: number;
  /** Credentials stored, all issuers together. */
  credentials: number;
  /** Credentials issued per second, all issuers together. */
  rate: number;
  /** Credentials held by the largest issuer (default: an even share). Its share of `rate` is the same as of `credentials`. */
  largest: number;
  /** Credentials per create request (1 = `PUT /v1/credentials`, up to 1000 = a full batch). */
  batch: number;
}

export interface Design {
  name: string;
  /** D1 databases the index is spread over, by issuer hash. */
  shards: number;
  /** D1 bytes and rows written per credential. */
  d1BytesPerCredential: number;
  d1RowsPerCredential: number;
  /** Upsert statements per created credential before grouping (one per projected table). */
  d1TablesPerCredential: number;
  /** Object bytes per credential while its body and job are in the object. */
  objectHotBytes: number;
  /** Object bytes per credential once cold (retention ran; archived, when R2 is used). */
  objectColdBytes: number;
  /** How long a credential stays hot, and the most hot bytes an object keeps before it archives the oldest (R2 designs). */
  hotSeconds: number;
  hotBudgetBytes: number;
  /** R2 bytes per cold credential (0: no R2). */
  r2BytesPerCold: number;
}

/** The outbox groups rows of one upsert into statements of up to 250 rows (durable-objects/outbox-delivery.ts GROUP_ROWS). */
const GROUP_ROWS = 250;
/** D1's time per written row, measured (SQL time / rows written, local D1): what a statement costs beyond its fixed 1 ms. */
const D1_MS_PER_ROW = MEASURED.today.batch.d1SqlMs / MEASURED.today.batch.d1RowsWritten;
/**
 * The issuer object's own time per create request and per credential, measured with timers inside the
 * object on this machine (bench/README.md "Where the time goes": ~2 ms per single request; 90 + 20 +
 * 220 ms per 1000-credential batch).
 */
const OBJECT_MS_PER_REQUEST = 2;
const OBJECT_MS_PER_CREDENTIAL = 0.33;
const DAY = 86_400;

/** The designs the note compares. `shards` is filled in by `withShards` (or the CLI). */
export const DESIGNS = {
  /**
   * What main does today: one D1 (INDEX_SHARDS=1; more by the operator's migration, `shards`)
   * holding one body-free row per credential, the compact index row, which stands for the
   * credential's operation too (no `credentials` row since that table left the write path, no
   * `operations` row since migrations/0014; no credential JSON, JWT or result since 0013); bodies
   * with their issuer's object. An ended job keeps its claims for 30 days and while
   * the object holds at most SIGNJOB_HOT_LIMIT (750,000) of them; past either its claims go to R2
   * (durable-objects/archive.ts): a credential's job, operation and audit rows go to R2 whole, and
   * the object keeps a compact cold row and the status entry (`objectColdBytesPerCredential`).
   */
  today: {
    name: "today",
    shards: 1,
    d1BytesPerCredential: MEASURED.today.d1BytesPerCredential,
    d1RowsPerCredential: MEASURED.today.batch.d1RowsWritten,
    d1TablesPerCredential: 1,
    objectHotBytes: MEASURED.objectBytesPerCredential,
    objectColdBytes: MEASURED.objectColdBytesPerCredential,
    hotSeconds: 30 * DAY,
    hotBudgetBytes: 750_000 * MEASURED.objectBytesPerCredential,
    r2BytesPerCold: MEASURED.r2BytesPerColdCredential,
  },
  /**
   * The proposal: a compact index without bodies (one row per credential, its operation derived),
   * sharded by issuer hash; bodies with their issuer; past retention or past the object's hot budget,
   * a credential's JWT, job and operation go to R2 and the object keeps its status entry and a
   * compact cold row (built: durable-objects/archive.ts, measured like today's).
   */
  proposed: {
    name: "proposed",
    shards: 8,
    d1BytesPerCredential: MEASURED.proposed.compactIndexBytesPerCredential,
    d1RowsPerCredential: MEASURED.proposed.compactIndexRowsWrittenPerCredential,
    d1TablesPerCredential: 1,
    objectHotBytes: MEASURED.objectBytesPerCredential,
    objectColdBytes: MEASURED.objectColdBytesPerCredential,
    hotSeconds: 30 * DAY,
    hotBudgetBytes: 4e9,
    r2BytesPerCold: MEASURED.r2BytesPerColdCredential,
  },
} as const satisfies Record<string, Design>;

export interface Check {
  store: string;
  what: string;
  value: number;
  limit: number;
  unit: string;
  /** value / limit. */
  use: number;
  /** What the workload may grow to before this limit binds (its credentials or its rate, scaled by 1/use). */
  bindsAt: string;
  source: string;
}

export interface Result {
  design: Design;
  workload: Workload;
  checks: Check[];
  /** The check with the highest use: the first limit to bind. */
  binding: Check;
}

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "∞");

/** D1 statements per credential: one grouped upsert per table per 250 rows of a request. */
export function d1StatementsPerCredential(design: Design, batch: number): number {
  return (design.d1TablesPerCredential * Math.ceil(batch / GROUP_ROWS)) / batch;
}

export function evaluate(design: Design, w: Workload): Result {
  const checks: Check[] = [];
  const share = w.largest / w.credentials;
  // The largest issuer's shard holds it whole (issuer hash), plus an even share of everyone else.
  const shardCredentials = w.largest + (w.credentials - w.largest) / design.shards;
  const shardRate = w.rate * (share + (1 - share) / design.shards);
  const check = (
    store: string,
    what: string,
    value: number,
    limit: number,
    unit: string,
    scales: "credentials" | "rate",
    source: string,
  ) => {
    const use = value / limit;
    const bindsAt = scales === "credentials" ? `${fmt(w.credentials / use)} credentials` : `${fmt(w.rate / use)} credentials/s`;
    checks.push({ store, what, value, limit, unit, use, bindsAt: Number.isFinite(use) && use > 0 ? bindsAt : "never", source });
  };

  // D1, the hottest shard.
  check(
    "D1 (hottest shard)",
    "size",
    shardCredentials * design.d1BytesPerCredential,
    LIMITS.d1DatabaseBytes.value,
    "bytes",
    "credentials",
    LIMITS.d1DatabaseBytes.source,
  );
  const statements = d1StatementsPerCredential(design, w.batch);
  const busyMsPerCredential = statements * LIMITS.d1QueryMs.value + design.d1RowsPerCredential * D1_MS_PER_ROW;
  check(
    "D1 (hottest shard)",
    `busy time (${statements.toFixed(3)} statements × ${LIMITS.d1QueryMs.value} ms + ${design.d1RowsPerCredential} rows × ${D1_MS_PER_ROW.toFixed(4)} ms per credential)`,
    (shardRate * busyMsPerCredential) / 1000,
    1,
    "s/s",
    "rate",
    `${LIMITS.d1QueryMs.source}; ms per row measured`,
  );
  check(
    "D1 (account)",
    "storage",
    w.credentials * design.d1BytesPerCredential,
    LIMITS.d1AccountBytes.value,
    "bytes",
    "credentials",
    LIMITS.d1AccountBytes.source,
  );

  // The largest issuer's object: its hot credentials (within the retention and the hot budget) whole,
  // the rest cold. Its size binds at the largest issuer size L that fills 10 GB (solved exactly).
  const issuerRate = w.rate * share;
  const hotCap = Math.min(issuerRate * design.hotSeconds, design.hotBudgetBytes / design.objectHotBytes);
  const hot = Math.min(w.largest, hotCap);
  const objectBytes = hot * design.objectHotBytes + (w.largest - hot) * design.objectColdBytes;
  const maxLargest =
    hotCap * design.objectHotBytes >= LIMITS.objectBytes.value
      ? LIMITS.objectBytes.value / design.objectHotBytes
      : hotCap + (LIMITS.objectBytes.value - hotCap * design.objectHotBytes) / design.objectColdBytes;
  checks.push({
    store: "Issuer object (largest)",
    what: `size (${fmt(hot)} hot, ${fmt(w.largest - hot)} cold)`,
    value: objectBytes,
    limit: LIMITS.objectBytes.value,
    unit: "bytes",
    use: objectBytes / LIMITS.objectBytes.value,
    bindsAt: `${fmt(maxLargest)} credentials in one issuer`,
    source: LIMITS.objectBytes.source,
  });
  const objectRequests = issuerRate / w.batch;
  checks.push({
    store: "Issuer object (largest)",
    what: "requests",
    value: objectRequests,
    limit: LIMITS.objectRequestsPerSecond.value,
    unit: "requests/s",
    use: objectRequests / LIMITS.objectRequestsPerSecond.value,
    bindsAt: `${fmt(LIMITS.objectRequestsPerSecond.value * w.batch)} credentials/s to one issuer`,
    source: LIMITS.objectRequestsPerSecond.source,
  });
  const objectMsPerCredential = OBJECT_MS_PER_REQUEST / w.batch + OBJECT_MS_PER_CREDENTIAL;
  checks.push({
    store: "Issuer object (largest)",
    what: `busy time (${OBJECT_MS_PER_REQUEST} ms per request + ${OBJECT_MS_PER_CREDENTIAL} ms per credential)`,
    value: (issuerRate * objectMsPerCredential) / 1000,
    limit: 1,
    unit: "s/s",
    use: (issuerRate * objectMsPerCredential) / 1000,
    bindsAt: `${fmt(1000 / objectMsPerCredential)} credentials/s to one issuer`,
    source: "bench/README.md, timers inside the object (single-threaded: 1 s of work per second is all it has)",
  });

  // R2: no size or rate limit that a per-credential key can reach (1 write/s per key; each key is written once).
  if (design.r2BytesPerCold > 0) {
    const others = w.issuers - 1;
    const otherEach = others > 0 ? (w.credentials - w.largest) / others : 0;
    const otherRate = others > 0 ? (w.rate - issuerRate) / others : 0;
    const otherHot = Math.min(otherEach, otherRate * design.hotSeconds, design.hotBudgetBytes / design.objectHotBytes);
    const cold = w.largest - hot + others * (otherEach - otherHot);
    check(
      "R2",
      `storage (${fmt(cold)} cold credentials)`,
      cold * design.r2BytesPerCold,
      LIMITS.r2BucketBytes.value,
      "bytes",
      "credentials",
      LIMITS.r2BucketBytes.source,
    );
  }
  const binding = checks.reduce((a, b) => (b.use > a.use ? b : a));
  return { design, workload: w, checks, binding };
}

/** The fewest shards whose hottest one stays under `fill` of D1's size limit, or null when the largest issuer alone exceeds it. */
export function shardsFor(design: Design, w: Workload, fill = 0.7): number | null {
  const budget = fill * LIMITS.d1DatabaseBytes.value;
  const largest = w.largest * design.d1BytesPerCredential;
  if (largest >= budget) return null;
  return Math.max(1, Math.ceil(((w.credentials - w.largest) * design.d1BytesPerCredential) / (budget - largest)));
}

export function formatResult(r: Result): string {
  const lines = [`design: ${r.design.name} (${r.design.shards} D1 shard${r.design.shards === 1 ? "" : "s"})`];
  const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;
  for (const c of r.checks) {
    const value = c.unit === "bytes" ? gb(c.value) : `${c.value.toFixed(2)} ${c.unit}`;
    const limit = c.unit === "bytes" ? (Number.isFinite(c.limit) ? gb(c.limit) : "unlimited") : `${fmt(c.limit)} ${c.unit}`;
    lines.push(
      `  ${c.store.padEnd(24)} ${c.what}\n  ${"".padEnd(24)} ${value} of ${limit} = ${(c.use * 100).toFixed(1)}%; binds at ${c.bindsAt}`,
    );
  }
  lines.push(
    `  first to bind: ${r.binding.store}, ${r.binding.what.split(" (")[0]} (${(r.binding.use * 100).toFixed(1)}%, at ${r.binding.bindsAt})`,
  );
  return lines.join("\n");
}
