/**
 * Talks to an ION node through its REST API (`POST {ION_NODE_URL}/operations`,
 * `GET {ION_NODE_URL}/identifiers/{did}`). ION_NODE_URL is operator configuration, not user
 * input, so it is not put through the outbound SSRF policy (a self-hosted node usually listens
 * on http://localhost:3000); answers are still bounded in time and size.
 */
import { readCapped } from "../../net/outbound";
import type { OperationRequest } from "./model";

export const ION_TIMEOUT_MS = 10_000;
const MAX_ANSWER_BYTES = 1024 * 1024;

/** Anchoring gives up after this many refused-for-now attempts (with the backoff below, about a day). */
export const ANCHOR_MAX_ATTEMPTS = 24;

export type Fetcher = (input: Request) => Promise<Response>;

export type PostOutcome =
  | { ok: true; status: number; body: unknown }
  /** `retry`: the node or the network failed for now (5xx, 429, timeout); otherwise the node refused the operation for good. */
  | { ok: false; retry: boolean; status?: number; reason: string };

export function nodeEndpoint(nodeUrl: string, path: string): string {
  return `${nodeUrl.replace(/\/+$/, "")}/${path}`;
}

async function readBounded(res: Response): Promise<string | null> {
  if (!res.body) return "";
  const bytes = await readCapped(res.body, MAX_ANSWER_BYTES);
  return bytes && new TextDecoder().decode(bytes);
}

const defaultFetch: Fetcher = (req) => fetch(req);

/** Posts one Sidetree operation. A node answers 200 when it accepted it for anchoring, 400 when it is invalid. */
export async function postOperation(nodeUrl: string, request: OperationRequest, fetcher: Fetcher = defaultFetch): Promise<PostOutcome> {
  let res: Response;
  try {
    res = await fetcher(
      new Request(nodeEndpoint(nodeUrl, "operations"), {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(ION_TIMEOUT_MS),
      }),
    );
  } catch {
    return { ok: false, retry: true, reason: "the ION node was not reached" };
  }
  const text = await readBounded(res).catch(() => null);
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  if (res.ok) return { ok: true, status: res.status, body };
  const retry = res.status >= 500 || res.status === 429 || res.status === 408;
  const detail =
    typeof body === "object" && body !== null && "message" in body
      ? String((body as { message: unknown }).message).slice(0, 300)
      : `HTTP ${res.status}`;
  return { ok: false, retry, status: res.status, reason: `the ION node ${retry ? "failed" : "refused the operation"}: ${detail}` };
}

/** Delay before attempt `attempt + 1` (0-based): 5 s doubling to at most 2 h, with ±20 % jitter so many DIDs do not retry in step. */
export function anchorBackoffMs(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(5_000 * 2 ** Math.min(attempt, 20), 2 * 60 * 60 * 1000);
  return Math.round(base * (0.8 + 0.4 * random()));
}

export type NodeResolution =
  | { ok: true; body: Record<string, unknown> }
  | { ok: false; notFound: boolean; deactivated?: boolean; reason: string };

/** Resolves a DID at the node: 200 the resolution result, 404 not found, 410 deactivated. */
export async function resolveAtNode(nodeUrl: string, did: string, fetcher: Fetcher = defaultFetch): Promise<NodeResolution> {
  let res: Response;
  try {
    res = await fetcher(
      new Request(nodeEndpoint(nodeUrl, `identifiers/${encodeURIComponent(did)}`), {
        headers: { accept: "application/json" },
        signal: AbortSignal.timeout(ION_TIMEOUT_MS),
      }),
    );
  } catch {
    return { ok: false, notFound: false, reason: "the ION node was not reached" };
  }
  const text = await readBounded(res).catch(() => null);
  if (res.status === 404) return { ok: false, notFound: true, reason: "the ION node does not know this DID" };
  if (res.status === 410) return { ok: false, notFound: true, deactivated: true, reason: "the DID is deactivated" };
  if (!res.ok || text === null) return { ok: false, notFound: false, reason: `the ION node answered HTTP ${res.status}` };
  try {
    const body = JSON.parse(text) as unknown;
    if (typeof body === "object" && body !== null && !Array.isArray(body)) return { ok: true, body: body as Record<string, unknown> };
  } catch {
    // fall through
  }
  return { ok: false, notFound: false, reason: "the ION node's answer is not a resolution result" };
}
