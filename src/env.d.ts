// Configuration `wrangler types` cannot see: secrets, and vars without a default.
interface SsiEdgeConfig {
  /** Comma-separated operator bearer tokens. */
  API_TOKENS?: string;
  /** base64url of 32 random bytes; wraps custodial private keys. */
  KEY_ENCRYPTION_KEY?: string;
  /** The service's external origin, e.g. https://issuer.example.com. */
  PUBLIC_URL?: string;
  /** Days an ended sign job keeps its signing input before the alarm drops it; default 30. */
  SIGNJOB_RETENTION_DAYS?: string;
  /** "1" only under the benchmark: enables PUT /bench/floor, the platform-floor baseline. */
  BENCH_FLOOR?: string;
}
interface Env extends SsiEdgeConfig {}
declare namespace Cloudflare {
  interface Env extends SsiEdgeConfig {}
}
