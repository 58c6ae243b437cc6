/**
 * The one way this service fetches anything from another host (did:web documents, foreign status
 * lists). Those URLs come from credentials and DIDs that anyone can write, so every fetch is
 * treated as hostile: the URL is checked before any connection is attempted, the answer is
 * bounded in time and size, redirects are not followed, and failures are reported as a stable
 * reason, never as the runtime's error text (which can describe the network from inside).
 *
 * What this cannot see: a public name whose DNS answer is a private address. On Workers that is
 * not a reachable network anyway; elsewhere a resolver-level policy is needed.
 */

import { concatBytes } from "@noble/hashes/utils.js";

export const OUTBOUND_TIMEOUT_MS = 5_000;
export const OUTBOUND_MAX_BYTES = 1024 * 1024;
export const OUTBOUND_CACHE_MS = 60_000;
const CACHE_MAX_ENTRIES = 256;
const CACHE_MAX_BYTES = 8 * 1024 * 1024;

/** Why a URL was not fetched or its answer not used. Stable: clients and logs may switch on these. */
export type OutboundFailure =
  | "invalid_url"
  | "https_only"
  | "credentials_in_url"
  | "port_not_allowed"
  | "address_literal"
  | "private_host"
  | "redirect"
  | "http_error"
  | "too_large"
  | "timeout"
  | "unreachable";

export type OutboundCheck = { ok: true; url: URL } | { ok: false; reason: OutboundFailure };
export type OutboundResponse =
  | { ok: true; body: Uint8Array; contentType: string }
  | { ok: false; reason: OutboundFailure; status?: number };

/** Names that only mean something inside a network: never fetched. */
const PRIVATE_SUFFIXES = [
  "localhost",
  "local",
  "internal",
  "intranet",
  "private",
  "lan",
  "home",
  "corp",
  "localdomain",
  "arpa", // in-addr.arpa, ip6.arpa, home.arpa
  "invalid",
];

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/**
 * Whether a URL may be fetched, decided from the URL alone. The WHATWG URL parser has already
 * rewritten every IPv4 spelling (decimal `2130706433`, hex `0x7f.1`, octal `0177.0.0.1`, short
 * forms) to dotted quads and put IPv6 in brackets, so literals are caught whatever their form.
 */
export function checkOutboundUrl(input: string | URL): OutboundCheck {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return { ok: false, reason: "invalid_url" };
  }
  if (url.protocol !== "https:") return { ok: false, reason: "https_only" };
  if (url.username || url.password) return { ok: false, reason: "credentials_in_url" };
  // The parser drops the scheme's default port, so any port left is a non-default one.
  if (url.port !== "") return { ok: false, reason: "port_not_allowed" };
  const host = url.hostname.toLowerCase().replace(/\.$/, "");
  if (host.startsWith("[") || host.includes(":") || IPV4.test(host) || /^[\d.]+$/.test(host)) {
    return { ok: false, reason: "address_literal" };
  }
  const labels = host.split(".");
  // A single label (`metadata`, `redis`) is resolved by local search domains.
  if (labels.length < 2 || labels.some((l) => l.length === 0)) return { ok: false, reason: "private_host" };
  if (PRIVATE_SUFFIXES.includes(labels[labels.length - 1]!)) return { ok: false, reason: "private_host" };
  return { ok: true, url };
}

/** A URL's host name spelled one way: lower case (the parser's doing), without a trailing dot. */
function hostnameOf(input: string | URL): string | null {
  try {
    return new URL(input).hostname.replace(/\.$/, "");
  } catch {
    return null;
  }
}

/**
 * Whether a URL names this service's own host, whatever its spelling (`HOST`, `host.`, `host:443`,
 * another scheme or port). Such URLs are answered from the service's own data, never fetched: a
 * fetch to its own name would leave the Worker and reach whatever answers that name outside it.
 */
export function isOwnHost(input: string | URL, ownOrigin: string | undefined): boolean {
  if (ownOrigin === undefined) return false;
  const own = hostnameOf(ownOrigin);
  return own !== null && own !== "" && hostnameOf(input) === own;
}

type CacheEntry = { expires: number; value: OutboundResponse & { ok: true } };
const cache = new Map<string, CacheEntry>();
let cachedBytes = 0;

function cacheGet(key: string, now: number): CacheEntry["value"] | null {
  const hit = cache.get(key);
  if (!hit) return null;
  cache.delete(key);
  if (hit.expires <= now) {
    cachedBytes -= hit.value.body.length;
    return null;
  }
  cache.set(key, hit); // most recently used last
  return hit.value;
}

function cachePut(key: string, value: CacheEntry["value"], now: number): void {
  const old = cache.get(key);
  if (old) {
    cache.delete(key);
    cachedBytes -= old.value.body.length;
  }
  cache.set(key, { expires: now + OUTBOUND_CACHE_MS, value });
  cachedBytes += value.body.length;
  for (const [k, e] of cache) {
    if (cache.size <= CACHE_MAX_ENTRIES && cachedBytes <= CACHE_MAX_BYTES) break;
    cache.delete(k);
    cachedBytes -= e.value.body.length;
  }
}

/** Empties the answer cache (tests that serve a changed document at the same URL). */
export function clearOutboundCache(): void {
  cache.clear();
  cachedBytes = 0;
}

/** Reads at most `max` bytes of a body, counting what arrives rather than trusting Content-Length. */
export async function readCapped(body: ReadableStream<Uint8Array>, max: number): Promise<Uint8Array | null> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > max) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return concatBytes(...chunks);
}

/**
 * GETs a URL that passed {@link checkOutboundUrl}: no redirects (a 3xx is a failure), 5 s for
 * the whole exchange, at most 1 MiB of body, successful answers cached for a minute.
 */
export async function fetchOutbound(input: string | URL, accept: string): Promise<OutboundResponse> {
  const checked = checkOutboundUrl(input);
  if (!checked.ok) return checked;
  const key = `${accept}\n${checked.url.href}`;
  const hit = cacheGet(key, Date.now());
  if (hit) return hit;

  const signal = AbortSignal.timeout(OUTBOUND_TIMEOUT_MS);
  try {
    const res = await fetch(checked.url, { method: "GET", headers: { accept }, redirect: "manual", signal });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      return { ok: false, reason: "redirect", status: res.status };
    }
    if (!res.ok) {
      await res.body?.cancel();
      return { ok: false, reason: "http_error", status: res.status };
    }
    const body = res.body ? await readCapped(res.body, OUTBOUND_MAX_BYTES) : new Uint8Array(0);
    if (!body) return { ok: false, reason: "too_large" };
    const value = { ok: true as const, body, contentType: res.headers.get("content-type") ?? "" };
    cachePut(key, value, Date.now());
    return value;
  } catch {
    // The runtime's message may name internal hosts or addresses: only the kind of failure leaves.
    return { ok: false, reason: signal.aborted ? "timeout" : "unreachable" };
  }
}

/** A failure as one short, stable phrase for a verification reason or resolution message. */
export function describeOutboundFailure(f: { reason: OutboundFailure; status?: number }): string {
  const text: Record<OutboundFailure, string> = {
    invalid_url: "not a valid URL",
    https_only: "only https URLs are fetched",
    credentials_in_url: "URLs with credentials are not fetched",
    port_not_allowed: "only the default https port is fetched",
    address_literal: "IP address literals are not fetched",
    private_host: "private or local host names are not fetched",
    redirect: "the host answered with a redirect, which is not followed",
    http_error: "the host answered with an error",
    too_large: `the answer exceeds ${OUTBOUND_MAX_BYTES} bytes`,
    timeout: `the host did not answer within ${OUTBOUND_TIMEOUT_MS / 1000} s`,
    unreachable: "the host could not be reached",
  };
  return `${text[f.reason]} (${f.reason}${f.status !== undefined ? ` ${f.status}` : ""})`;
}
