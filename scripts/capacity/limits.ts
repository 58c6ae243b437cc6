/**
 * Cloudflare's documented limits the capacity model checks against, each with where it is written.
 * GB here is 10^9 bytes, as Cloudflare measures storage.
 */
export interface Limit {
  value: number;
  unit: string;
  source: string;
}

const D1_LIMITS = "https://developers.cloudflare.com/d1/platform/limits/";
const DO_LIMITS = "https://developers.cloudflare.com/durable-objects/platform/limits/";
const R2_LIMITS = "https://developers.cloudflare.com/r2/platform/limits/";

export const LIMITS = {
  d1DatabaseBytes: {
    value: 10e9,
    unit: "bytes",
    source: `${D1_LIMITS} "Maximum database size: 10 GB (Workers Paid)"; FAQ: "the 10 GB limit of a D1 database cannot be further increased"`,
  },
  d1AccountBytes: {
    value: 1e12,
    unit: "bytes",
    source: `${D1_LIMITS} "Maximum storage per account: 1 TB (Workers Paid)" (raisable on request)`,
  },
  d1Databases: { value: 50_000, unit: "databases", source: `${D1_LIMITS} "Databases per account: 50,000 (Workers Paid)"` },
  d1BindingsPerWorker: {
    value: 5_000,
    unit: "bindings",
    source: `${D1_LIMITS} "Maximum bindings per Workers script: approximately 5,000"`,
  },
  /** Single-threaded: throughput is 1 / query duration. The documented guideline is 1 ms per query. */
  d1QueryMs: {
    value: 1,
    unit: "ms per query",
    source: `${D1_LIMITS} FAQ: "Each individual D1 database is inherently single-threaded ... If your average query takes 1 ms, you can run approximately 1,000 queries per second"`,
  },
  d1BoundParameters: { value: 100, unit: "parameters per statement", source: `${D1_LIMITS} "Maximum bound parameters per query: 100"` },
  d1StatementBytes: { value: 100_000, unit: "bytes", source: `${D1_LIMITS} "Maximum SQL statement length: 100,000 bytes (100 KB)"` },
  d1RowBytes: { value: 2_000_000, unit: "bytes", source: `${D1_LIMITS} "Maximum string, BLOB or table row size: 2,000,000 bytes (2 MB)"` },
  d1QueriesPerInvocation: { value: 1_000, unit: "queries", source: `${D1_LIMITS} "Queries per Worker invocation: 1000 (Workers Paid)"` },
  objectBytes: { value: 10e9, unit: "bytes", source: `${DO_LIMITS} "Storage per Durable Object: 10 GB" (SQLite-backed)` },
  objectRequestsPerSecond: {
    value: 1_000,
    unit: "requests/s",
    source: `${DO_LIMITS} FAQ: "An individual Object has a soft limit of 1,000 requests per second"`,
  },
  objectRowBytes: { value: 2_000_000, unit: "bytes", source: `${DO_LIMITS} SQL limits: "Maximum string, BLOB or table row size: 2 MB"` },
  r2WritesPerKeyPerSecond: {
    value: 1,
    unit: "writes/s per key",
    source: `${R2_LIMITS} "Maximum concurrent writes to the same object name (key): 1 per second"`,
  },
  r2BucketBytes: { value: Number.POSITIVE_INFINITY, unit: "bytes", source: `${R2_LIMITS} "Data storage per bucket: Unlimited"` },
} as const satisfies Record<string, Limit>;
