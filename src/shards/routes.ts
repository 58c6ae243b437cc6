/**
 * `/v1/admin/index/migration`: the operator drives the credential index from N to M shards
 * (src/shards/migrate.ts) without downtime. `PUT` starts it; each `PUT …/step` does one bounded
 * step (a page of up to `limit` rows copied or cleaned, or a phase change) and says when the next
 * is due (`waitMs`, the grace each phase waits for every cached layout and in-flight write), so no
 * request is held open for the whole migration; `GET` says where it stands. Reads and writes go on
 * throughout: the layout's phases keep every credential readable (src/shards/layout.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { ProblemError } from "../http/errors";
import { commonErrors, createRouter, jsonBody, jsonResponse, problem } from "../http/router";
import { beginMigration, migrateStep, MigrationRefused, migrationStatus } from "./migrate";
import { IndexShards } from "./shards";

export const indexAdmin = createRouter();

const Phase = z.enum(["steady", "copying", "switched", "cleaning"]);
const LayoutSchema = z
  .object({
    shards: z.number().int().describe("Shards the index is read from before the switch"),
    next: z.number().int().nullable().describe("Shards being migrated to; null when steady"),
    phase: Phase,
    since: z.iso.datetime().describe("When the phase began"),
  })
  .openapi("IndexLayout");

const MigrationStatus = z
  .object({
    layout: LayoutSchema,
    /** Where the migrator stands in its phase: the source shard it scans and the last row it passed. */
    cursor: z.object({ shard: z.number().int(), after: z.tuple([z.number(), z.string()]).nullable() }).nullable(),
    boundShards: z.number().int().describe("D1 bindings present (DB and DB_SHARD_1 …): the most shards a migration may reach"),
    done: z.boolean().describe("True when no migration is running"),
    waitMs: z.number().int().describe("When the next step may do work: the phase's grace period still to run"),
  })
  .openapi("IndexMigrationStatus");

const StepResult = MigrationStatus.extend({
  scanned: z.number().int().describe("Rows this step read from its source shard"),
  copied: z.number().int().describe("Rows this step copied to their new shard"),
  deleted: z.number().int().describe("Rows this step deleted from their old shard (cleaning)"),
}).openapi("IndexMigrationStep");

const iso = (layout: { shards: number; next: number | null; phase: z.infer<typeof Phase>; since: number }) => ({
  ...layout,
  since: new Date(layout.since).toISOString(),
});

const refused = (e: unknown): never => {
  if (e instanceof MigrationRefused) throw new ProblemError(409, e.code, e.message);
  throw e;
};

const refusals = {
  409: problem("`index_migration_running`, or `index_shards_unavailable` (not more shards than today, or a binding missing)"),
};

indexAdmin.openapi(
  createRoute({
    method: "get",
    path: "/index/migration",
    tags: ["Operator"],
    summary: "Where the credential index's shard migration stands (steady when none runs)",
    responses: { 200: jsonResponse(MigrationStatus, "The index layout and the migrator's position"), ...commonErrors },
  }),
  async (c) => {
    const shards = new IndexShards(c.env);
    const status = await migrationStatus(shards);
    return c.json({ ...status, layout: iso(status.layout), boundShards: shards.bound() }, 200);
  },
);

indexAdmin.openapi(
  createRoute({
    method: "put",
    path: "/index/migration",
    tags: ["Operator"],
    summary: "Start moving the credential index to more shards (1 → N); drive it with PUT /v1/admin/index/migration/step",
    description:
      "Writers start writing each issuer's index rows to its old and its new shard at once; after a grace period " +
      "(longer than any cached layout and in-flight write) the steps copy the rows that move, switch reads, and clean " +
      "the old shards. Every credential stays readable and writable throughout. The new shards' D1 bindings " +
      "(`DB_SHARD_1` … `DB_SHARD_<N-1>`) must be deployed first, with every migration applied.",
    request: jsonBody(z.object({ shards: z.number().int().min(2).max(5000).describe("The shard count to move to") })),
    responses: { 202: jsonResponse(MigrationStatus, "Started: copying"), ...commonErrors, ...refusals },
  }),
  async (c) => {
    const shards = new IndexShards(c.env);
    await beginMigration(shards, c.req.valid("json").shards).catch(refused);
    const status = await migrationStatus(shards);
    return c.json({ ...status, layout: iso(status.layout), boundShards: shards.bound() }, 202);
  },
);

indexAdmin.openapi(
  createRoute({
    method: "put",
    path: "/index/migration/step",
    tags: ["Operator"],
    summary: "One bounded step of the running index migration; call again after `waitMs` until `done`",
    description:
      "Each call copies or cleans up to `limit` rows of one source shard, or moves to the next phase once its grace " +
      "period has run (`waitMs` > 0 until then: the call changed nothing). Idempotent and safe to repeat or run " +
      "from a cron trigger; a call with no migration running answers `done: true`.",
    request: { query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(500) }) },
    responses: { 200: jsonResponse(StepResult, "What the step did and where the migration stands"), ...commonErrors },
  }),
  async (c) => {
    const shards = new IndexShards(c.env);
    const step = await migrateStep(shards, { limit: c.req.valid("query").limit });
    const status = await migrationStatus(shards);
    return c.json(
      {
        ...status,
        layout: iso(step.layout),
        boundShards: shards.bound(),
        done: step.done,
        waitMs: step.waitMs,
        scanned: step.scanned,
        copied: step.copied,
        deleted: step.deleted,
      },
      200,
    );
  },
);
