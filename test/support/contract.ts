import { expect } from "vitest";
import type { ApiResponse } from "./api";
import { externalKey, type KeyType } from "./keys";

export { KEY_TYPES, type KeyType } from "./keys";

/** A public JWK for an external key of each type, as a signer's HSM would export it. */
export const externalJwk = async (keyType: KeyType): Promise<Record<string, string>> => (await externalKey(keyType)).publicKeyJwk;

/** Asserts an RFC 9457 problem with this status and code; returns its body for further checks. */
export function expectProblem(res: ApiResponse, status: number, code?: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  expect(res.body).toMatchObject({ type: expect.any(String), title: expect.any(String), status, detail: expect.any(String) });
  if (code) expect(res.body.code).toBe(code);
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+:\d+:\d+/); // no stack trace
  return res.body as { code: string; detail: string; errors?: { path: string; message: string }[] };
}

/** The paths named in a 400 problem's errors. */
export const errorPaths = (res: ApiResponse): string[] => (res.body?.errors ?? []).map((e: { path: string }) => e.path);

/** Fails if any JSON value in the body has a private-key-looking member (`d`, `privateKey`, ...). */
export function expectNoPrivateMaterial(body: unknown, where = "body"): void {
  const seen: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}[${i}]`));
    else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) {
        if (k === "d" || /private|secret|encrypted/i.test(k)) seen.push(`${path}.${k}`);
        walk(v, `${path}.${k}`);
      }
    }
  };
  walk(body, where);
  expect(seen, `private material in ${where}`).toEqual([]);
}
