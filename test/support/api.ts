import { exports } from "cloudflare:workers";

export const TOKEN = "test-operator-token";
export const ORIGIN = "http://ssi.test";

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

/** Calls the Worker the way a client would, through its fetch handler. */
export async function api<T = any>(
  method: string,
  path: string,
  body?: unknown,
  opts: { auth?: string | null; headers?: Record<string, string>; raw?: string } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  const auth = opts.auth === undefined ? `Bearer ${TOKEN}` : opts.auth;
  if (auth) headers.authorization = auth;
  let payload: string | undefined = opts.raw;
  if (body !== undefined) {
    payload = JSON.stringify(body);
  }
  if (payload !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
  const res = await exports.default.fetch(new Request(`${ORIGIN}${path}`, { method, headers, body: payload }));
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // keep text
  }
  return { status: res.status, headers: res.headers, body: parsed as T };
}

export const enc = (s: string) => encodeURIComponent(s);
