/**
 * The read and delete routes every Credential Manifest record shares (manifests, manifest requests,
 * issuance templates, applications, responses): a keyset list, `GET /{id}` of a live row, and a
 * soft `DELETE /{id}` (the by-id shape every resource has, src/http/by-id-routes.ts). Only what
 * differs is passed in: the table, the view, and which routes exist.
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { mountDeleteById, mountGetById } from "../http/by-id-routes";
import { PageQuery, commonErrors, jsonResponse, keysetPage, type AppEnv } from "../http/router";
import { unwrap } from "../http/rpc";
import { issuerByName } from "../issuer-client";
import { IdParam } from "./model";
import { getLive, pageOf, softDelete, type Table } from "./store";

type Row = { id: string; created_at: number };

export interface RecordRoutes<R extends Row, V extends z.ZodType> {
  table: Table;
  /** What a 404 names: "manifest request". */
  noun: string;
  view: V;
  /** Rows to views; a page at a time, so a view may read more (a response reads its operations). */
  viewsOf: (env: Env, rows: R[]) => z.infer<V>[] | Promise<z.infer<V>[]>;
  /** `GET /`: the member the page is under and the route's summary. */
  list?: { member: string; summary: string };
  get: { summary: string };
  /**
   * `DELETE /{id}`. With `pendingOperation`, a record whose signature is still awaited has that
   * operation cancelled first, so no signer signs what is gone; an operation already done or gone is fine.
   */
  delete?: { summary: string; pendingOperation?: (row: R) => { issuer: string; operationId: string } | undefined };
}

export function mountRecordRoutes<R extends Row, V extends z.ZodType>(router: OpenAPIHono<AppEnv>, spec: RecordRoutes<R, V>): void {
  const tags = ["Credential Manifests"];
  if (spec.list) {
    const { member, summary } = spec.list;
    router.openapi(
      createRoute({
        method: "get",
        path: "/",
        tags,
        summary,
        request: { query: PageQuery },
        responses: {
          200: jsonResponse(z.object({ [member]: z.array(spec.view), nextPageToken: z.string().optional() }), `A page of ${spec.noun}s`),
          ...commonErrors,
        },
      }),
      async (c) => {
        const page = await keysetPage(c.req.valid("query"), ({ after, limit }) => pageOf<R>(c.env.DB, spec.table, after, limit));
        return c.json({ [member]: await spec.viewsOf(c.env, page.items), ...page.next }, 200);
      },
    );
  }
  mountGetById(router, {
    tags,
    summary: spec.get.summary,
    noun: spec.noun,
    params: IdParam,
    view: spec.view,
    load: async (env, id) => {
      const row = await getLive<R>(env.DB, spec.table, id);
      return row && (await spec.viewsOf(env, [row]))[0];
    },
  });
  const remove = spec.delete;
  if (remove) {
    mountDeleteById(router, {
      tags,
      summary: remove.summary,
      noun: spec.noun,
      params: IdParam,
      remove: async (env, id) => {
        const row = await getLive<R>(env.DB, spec.table, id);
        if (!row) return false;
        const pending = remove.pendingOperation?.(row);
        if (pending) {
          const cancelled = await issuerByName(env, pending.issuer).cancelOperation(pending.operationId);
          if (!cancelled.ok && cancelled.code !== "operation_done" && cancelled.code !== "not_found") unwrap(cancelled);
        }
        await softDelete(env.DB, spec.table, row.id);
        return true;
      },
    });
  }
}
