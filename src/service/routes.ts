import { createRoute, z } from "@hono/zod-openapi";
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

const Readiness = z
  .object({
    status: z.enum(["ready", "not_ready"]),
    checks: z.object({
      d1: z.object({ ok: z.boolean(), detail: z.string().optional() }),
      keyEncryption: z.object({ ok: z.boolean(), detail: z.string().optional() }),
      apiTokens: z.object({ ok: z.boolean(), detail: z.string().optional() }),
    }),
  })
  .openapi("Readiness");

service.openapi(
  createRoute({
    method: "get",
    path: "/readiness",
    tags: ["Service"],
    summary: "Readiness: D1 answers and holds the schema; configuration is present",
    responses: { 200: jsonResponse(Readiness, "Ready"), 503: jsonResponse(Readiness, "Not ready"), 500: problemResponseSpec("") },
  }),
  async (c) => {
    let d1: { ok: boolean; detail?: string };
    try {
      // A real query against a real table: a database without migrations is not ready.
      await c.env.DB.prepare("SELECT count(*) AS n FROM dids").first();
      d1 = { ok: true };
    } catch (err) {
      d1 = { ok: false, detail: `D1 query failed: ${String(err)}` };
    }
    const kek = c.env.KEY_ENCRYPTION_KEY
      ? { ok: true }
      : { ok: true, detail: "KEY_ENCRYPTION_KEY not set: custodial DIDs are refused, external DIDs work" };
    const tokens = (c.env.API_TOKENS ?? "").split(",").some((t) => t.trim().length > 0)
      ? { ok: true }
      : { ok: false, detail: "API_TOKENS not set: no operator can call the API" };
    const ready = d1.ok && tokens.ok;
    return c.json(
      { status: ready ? ("ready" as const) : ("not_ready" as const), checks: { d1, keyEncryption: kek, apiTokens: tokens } },
      ready ? 200 : 503,
    );
  },
);
