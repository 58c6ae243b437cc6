import { objectOfOperation } from "../core/ids";
import { issuerByHex, issuerByName } from "../issuer-client";
import { createRoute, z } from "@hono/zod-openapi";
import { BOOKMARK_HEADER, decodeBookmarks, encodeBookmarks } from "../shards/shards";
import { notFound } from "../http/errors";
import { PageQuery, commonErrors, createRouter, decodeTimeKey, encodePageToken, jsonResponse } from "../http/router";
import { unwrap } from "../http/rpc";
import { OperationSchema } from "../http/models";
import { operationOfRow, operationsOf, type OperationRow } from "./bodies";
import { listOperations } from "./list";
import { validationProblem } from "../http/errors";
import { fail } from "../core/errors";
import { cancelSubmission, SUBMISSIONS_PARENT } from "../presentations/store";

export const operations = createRouter();

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
  const stub = issuerByHex(c.env, objectOfOperation(id));
  if (stub) {
    const cancelled = await stub.cancelOperation(id);
    if (cancelled.ok || cancelled.code !== "not_found") return c.json(unwrap(cancelled), 200);
  }
  const row = await getRow(c.env.DB, id);
  if (!row) throw notFound(`operation ${id}`);
  // A submission's operation has no issuer object behind it (its `issuer` is the holder): D1 ends it.
  if (row.parent === SUBMISSIONS_PARENT) {
    if (!(await cancelSubmission(c.env.DB, id.slice(SUBMISSIONS_PARENT.length + 1), Date.now())))
      unwrap(fail("operation_done", "the operation is already done"));
    return c.json(operationOfRow((await getRow(c.env.DB, id))!), 200);
  }
  return c.json(unwrap(await issuerByName(c.env, row.issuer).cancelOperation(id)), 200);
});

operations.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["Operations"],
    summary: "List operations, optionally under a parent (e.g. credentials) and by done. Cross-issuer: may lag by up to a second.",
    description:
      "Answers with an `index-bookmark` header: send it back as the `index-bookmark` request header and the next list " +
      "reads at least what this one saw (D1 sessions; a value that is not ours is ignored).",
    request: {
      headers: z.object({ [BOOKMARK_HEADER]: z.string().optional() }),
      query: PageQuery.extend({
        parent: z.string().max(256).optional().openapi({ example: "credentials" }),
        done: z.enum(["true", "false"]).optional(),
      }),
    },
    responses: {
      200: {
        ...jsonResponse(z.object({ operations: z.array(OperationSchema), nextPageToken: z.string().optional() }), "A page"),
        headers: {
          [BOOKMARK_HEADER]: { description: "The D1 session bookmarks of what the list read, opaque", schema: { type: "string" } },
        },
      },
      ...commonErrors,
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    // D1's body-free rows and the credential index's page and filter together (list.ts); the
    // page's operations come whole from their objects.
    const filter = { parent: q.parent?.replace(/\/+$/, ""), done: q.done === undefined ? undefined : q.done === "true" };
    const bookmarks = decodeBookmarks(c.req.valid("header")[BOOKMARK_HEADER]);
    const page = await listOperations(c.env, filter, decodeTimeKey(q.pageToken), q.pageSize, bookmarks);
    c.header(BOOKMARK_HEADER, encodeBookmarks(page.bookmarks));
    const next = page.next ? { nextPageToken: encodePageToken(page.next) } : {};
    return c.json({ operations: await operationsOf(c.env, page.rows), ...next }, 200);
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
  // An id that names its issuer's object is answered there, so an operation is found (and up to
  // date) the moment its create or signature answered (api.md "Consistency").
  const stub = issuerByHex(c.env, objectOfOperation(id));
  if (stub) {
    const op = await stub.getOperation(id);
    if (op) return c.json(op, 200);
  }
  const row = await getRow(c.env.DB, id);
  if (!row) throw notFound(`operation ${id}`);
  return c.json((await operationsOf(c.env, [row]))[0]!, 200);
});
