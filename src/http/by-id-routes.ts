/**
 * `GET /{id}` and `DELETE /{id}` of a stored resource, the one shape every resource's by-id routes
 * share: a validated id, 404 naming the resource when there is none, the view or 204.
 */
import { createRoute, z, type OpenAPIHono } from "@hono/zod-openapi";
import { notFound } from "./errors";
import { deliveredFor } from "./routed";
import { commonErrors, jsonResponse, type AppEnv } from "./router";

export const IdParam = z.object({
  id: z
    .string()
    .min(1)
    .max(256)
    .openapi({ param: { name: "id", in: "path" } }),
});

type Spec = {
  tags: string[];
  summary: string;
  noun: string;
  /** Where the collection is inside the router (`/definitions`); the router's root by default. */
  at?: string;
  params?: z.ZodObject<{ id: z.ZodString }>;
};

/** `GET /{id}`: `load` answers the view, or null for a 404 naming `noun`. */
export function mountGetById<V extends z.ZodType>(
  router: OpenAPIHono<AppEnv>,
  spec: Spec & { view: V; load: (env: Env, id: string) => Promise<z.infer<V> | null | undefined> },
): void {
  router.openapi(
    createRoute({
      method: "get",
      path: `${spec.at ?? ""}/{id}`,
      tags: spec.tags,
      summary: spec.summary,
      request: { params: spec.params ?? IdParam },
      responses: { 200: jsonResponse(spec.view, `The ${spec.noun}`), ...commonErrors },
    }),
    async (c) => {
      // An id that names its issuer's object (a signed artifact's) has that object deliver first,
      // so the create that just answered is what D1 shows (src/http/routed.ts).
      await deliveredFor(c.env, c.req.valid("param").id);
      const view = await spec.load(c.env, c.req.valid("param").id);
      if (view === null || view === undefined) throw notFound(spec.noun);
      return c.json(view as Record<string, unknown>, 200);
    },
  );
}

/** `DELETE /{id}`: `remove` answers whether there was one to delete (404 naming `noun` when not). */
export function mountDeleteById(router: OpenAPIHono<AppEnv>, spec: Spec & { remove: (env: Env, id: string) => Promise<boolean> }): void {
  router.openapi(
    createRoute({
      method: "delete",
      path: `${spec.at ?? ""}/{id}`,
      tags: spec.tags,
      summary: spec.summary,
      request: { params: spec.params ?? IdParam },
      responses: { 204: { description: "Deleted" }, ...commonErrors },
    }),
    async (c) => {
      await deliveredFor(c.env, c.req.valid("param").id);
      if (!(await spec.remove(c.env, c.req.valid("param").id))) throw notFound(spec.noun);
      return c.body(null, 204);
    },
  );
}
