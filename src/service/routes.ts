import { createRoute, z } from "@hono/zod-openapi";
import { kekState, type KekState } from "../crypto";
import { createRouter, jsonResponse, problemResponseSpec } from "../http/router";

export const service = createRouter();

service.openapi(
  createRoute({
    method: "get",
    path: "/health",
    tags: ["Service"],
    summary: "Liveness",
    responses: { 200: jsonResponse(z.object({ status: z.literal("OK") }), "Alive") },
  }),
  (c) => c.json({ status: "OK" as const }, 200),
);

const KEK_CHECK: Record<KekState, { ok: boolean; detail?: string }> = {
  ok: { ok: true },
  unset: { ok: true, detail: "KEY_ENCRYPTION_KEY not set: custodial DIDs are refused, external DIDs work" },
  malformed: {
    ok: false,
    detail: "KEY_ENCRYPTION_KEY is set but is not base64url of 32 bytes: custodial keys can be neither made nor used",
  },
  unusable: { ok: false, detail: "KEY_ENCRYPTION_KEY cannot be imported as an AES-256-GCM key" },
};

const Readiness = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    checks: z.object({
      d1: z.object({ ok: z.boolean(), detail: z.string().optional() }),
      keyEncryption: z.object({ ok: z.boolean(), detail: z.string().optional() }),
      apiTokens: z.object({ ok: z.boolean(), detail: z.string().optional() }),
      deadLetters: z.object({ ok: z.boolean(), count: z.number().int().optional() }).openapi({
        description:
          "D1 writes issuer objects gave up on (refused 10 times) and reported, counted up to 1000: ok is false when there are any. " +
          "They do not make the service not ready; each stays in its issuer object's outbox_dead table.",
      }),
    }),
  })
  .openapi("Readiness");

service.openapi(
  createRoute({
    method: "get",
    path: "/readiness",
    tags: ["Service"],
    summary: "Readiness: D1 answers and holds the schema; configuration is present and well-formed",
    description:
      "503 `not_ready` when D1 does not answer, no operator token is configured, or KEY_ENCRYPTION_KEY is set but is not " +
      "base64url of 32 bytes (custodial keys could neither be made nor used). An unset KEY_ENCRYPTION_KEY is ready: external DIDs work.",
    responses: { 200: jsonResponse(Readiness, "Ready"), 503: jsonResponse(Readiness, "Not ready"), 500: problemResponseSpec("") },
  }),
  async (c) => {
    let d1: { ok: boolean; detail?: string };
    try {
      // A real table, so a database without migrations is not ready; one row at most, so the
      // probe costs the same however many DIDs there are (a count would read them all).
      await c.env.DB.prepare("SELECT 1 FROM dids LIMIT 1").first();
      d1 = { ok: true };
    } catch (err) {
      // The error text may name tables, paths or hosts: it goes to the log, not to anonymous callers.
      console.error(JSON.stringify({ level: "error", event: "readiness.d1_failed", requestId: c.get("requestId"), error: String(err) }));
      d1 = { ok: false, detail: "D1 did not answer a query (see the service log)" };
    }
    const kek = KEK_CHECK[await kekState(c.env.KEY_ENCRYPTION_KEY)];
    const tokens = (c.env.API_TOKENS ?? "").split(",").some((t) => t.trim().length > 0)
      ? { ok: true }
      : { ok: false, detail: "API_TOKENS not set: no operator can call the API" };
    // Counted up to a cap, so the probe's cost does not grow with them.
    let deadLetters: { ok: boolean; count?: number };
    try {
      const n =
        (await c.env.DB.prepare("SELECT count(*) AS n FROM (SELECT 1 FROM dead_letters LIMIT 1000)").first<{ n: number }>())?.n ?? 0;
      deadLetters = { ok: n === 0, count: n };
    } catch {
      deadLetters = { ok: false };
    }
    const ready = d1.ok && tokens.ok && kek.ok;
    return c.json(
      { status: ready ? ("ready" as const) : ("not_ready" as const), checks: { d1, keyEncryption: kek, apiTokens: tokens, deadLetters } },
      ready ? 200 : 503,
    );
  },
);
