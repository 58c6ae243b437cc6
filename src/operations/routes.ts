import { Where } from "../db/where";
import { issuerByName } from "../issuer-client";
import { createRoute, z } from "@hono/zod-openapi";
import { notFound } from "../http/errors";
import { PageQuery, commonErrors, createRouter, decodeTimeKey, encodePageToken, jsonResponse } from "../http/router";
import { unwrap } from "../http/rpc";
import { OperationSchema, type Operation } from "../signjobs/model";
import { validationProblem } from "../http/errors";

export const operations = createRouter();


interface OperationRow {
  id: string;
  parent: string;
  issuer: string;
  done: number;
  result: string | null;
  sign_jobs: string;
  created_at: number;
  updated_at: number;
}

const operationOf = (row: OperationRow): Operation => ({
  id: row.id,
  done: row.done === 1,
  ...(row.result ? { result: JSON.parse(row.result) as Operation["result"] } : {}),
  signJobs: JSON.parse(row.sign_jobs) as string[],
  createdAt: new Date(row.created_at).toISOString(),
  updatedAt: new Date(row.updated_at).toISOString(),
});

const getRow = (db: D1Database, id: string) => db.prepare("SELECT * FROM operations WHERE id = ?").bind(id).first<OperationRow>();

// Operation ids contain slashes ("credentials/<id>"), so these two routes take the rest of the path.
const OperationId = z.string().min(1).max(512);
const idFromPath = (raw: string) => {
  // Hono has already decoded the path parameter once; decoding again would mangle ids with '%'.
  const parsed = OperationId.safeParse(raw);
  if (!parsed.success) throw validationProblem(parsed.error, "id");
  return parsed.data;
};

operations.openAPIRegistry.registerPath({
  method: "put",
  path: "/cancel/{id}",
  tags: ["Operations"],
  summary: "Cancel a pending operation and its pending sign jobs (409 when already done). The id may contain '/'.",
  request: { params: z.object({ id: OperationId }) },
  responses: { 200: jsonResponse(OperationSchema, "The cancelled operation"), 409: commonErrors[404], ...commonErrors },
});
operations.put("/cancel/:id{.+}", async (c) => {
  const id = idFromPath(c.req.param("id"));
  const row = await getRow(c.env.DB, id);
  if (!row) throw notFound(`operation ${id}`);
  return c.json(unwrap(await issuerByName(c.env, row.issuer).cancelOperation(id)), 200);
});

operations.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["Operations"],
    summary: "List operations, optionally under a parent (e.g. credentials) and by done",
    request: {
      query: PageQuery.extend({
        parent: z.string().max(256).optional().openapi({ example: "credentials" }),
        done: z.enum(["true", "false"]).optional(),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ operations: z.array(OperationSchema), nextPageToken: z.string().optional() }), "A page"),
      ...commonErrors,
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const after = decodeTimeKey(q.pageToken);
    const where = new Where()
      .when(q.parent?.replace(/\/+$/, ""), "parent = ?")
      .when(q.done === undefined ? undefined : q.done === "true" ? 1 : 0, "done = ?")
      .when(after?.[0], "(created_at, id) > (?, ?)", ...(after ?? []));
    const sql = `SELECT * FROM operations ${where} ORDER BY created_at, id LIMIT ?`;
    const rows = (await c.env.DB.prepare(sql).bind(...where.params, q.pageSize + 1).all<OperationRow>()).results;
    const page = rows.slice(0, q.pageSize);
    const last = page[page.length - 1];
    return c.json(
      {
        operations: page.map(operationOf),
        ...(rows.length > q.pageSize && last ? { nextPageToken: encodePageToken([last.created_at, last.id]) } : {}),
      },
      200,
    );
  },
);

operations.openAPIRegistry.registerPath({
  method: "get",
  path: "/{id}",
  tags: ["Operations"],
  summary: "Get an operation. The id may contain '/' (credentials/<id>).",
  request: { params: z.object({ id: OperationId }) },
  responses: { 200: jsonResponse(OperationSchema, "The operation"), ...commonErrors },
});
operations.get("/:id{.+}", async (c) => {
  const id = idFromPath(c.req.param("id"));
  const row = await getRow(c.env.DB, id);
  if (!row) throw notFound(`operation ${id}`);
  return c.json(operationOf(row), 200);
});
