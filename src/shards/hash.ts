/**
 * Which index shard holds an issuer: jump consistent hash (Lamping & Veach, "A Fast, Minimal Memory,
 * Consistent Hash Algorithm", 2014) of the issuer's FNV-1a 64-bit hash. Growing from N to M shards
 * moves only the issuers whose shard changes, (M − N) / M of them, and each moves to a new shard
 * (≥ N), never between old ones: the property the 1 → N migration relies on.
 */
const MASK = (1n << 64n) - 1n;
const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const encoder = new TextEncoder();

export function fnv1a64(s: string): bigint {
  let h = FNV_OFFSET;
  for (const byte of encoder.encode(s)) {
    h ^= BigInt(byte);
    h = (h * FNV_PRIME) & MASK;
  }
  return h;
}

/** Jump consistent hash of a 64-bit key into [0, buckets). */
export function jump(key: bigint, buckets: number): number {
  if (!Number.isInteger(buckets) || buckets < 1) throw new RangeError(`buckets must be a positive integer, got ${buckets}`);
  let b = -1;
  let j = 0;
  let k = key;
  while (j < buckets) {
    b = j;
    k = (k * 2862933555777941757n + 1n) & MASK;
    j = Math.floor(((b + 1) * 2 ** 31) / (Number(k >> 33n) + 1));
  }
  return b;
}

export function shardOf(issuer: string, shards: number): number {
  return shards === 1 ? 0 : jump(fnv1a64(issuer), shards);
}
