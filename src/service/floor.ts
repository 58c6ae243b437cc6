import { Hono } from "hono";
import type { AppEnv } from "../http/router";

/**
 * The benchmark's platform floor: the cheapest useful request this Worker can serve, one D1
 * insert. Only present when the Worker runs with BENCH_FLOOR=1 (the benchmark sets it).
 */
export const floor = new Hono<AppEnv>();

let tableReady = false;

floor.put("/bench/floor", async (c) => {
  if (c.env.BENCH_FLOOR !== "1") return c.notFound();
  if (!tableReady) {
    await c.env.DB.exec("CREATE TABLE IF NOT EXISTS bench_floor (id TEXT PRIMARY KEY, body TEXT NOT NULL, at INTEGER NOT NULL)");
    tableReady = true;
  }
  const body = await c.req.text();
  await c.env.DB.prepare("INSERT INTO bench_floor (id, body, at) VALUES (?, ?, ?)").bind(crypto.randomUUID(), body, Date.now()).run();
  return c.json({ ok: true }, 201);
});
