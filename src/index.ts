/**
 * ssi-edge: a verifiable-credential issuer whose signing keys may live outside the service
 * (SIP 9 "External Signing"). This file is the whole API at a glance.
 */
import { indexAdmin } from "./shards/routes";
import { driveMigration } from "./shards/migrate";
import { IndexShards } from "./shards/shards";
import { OpenAPIHono } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { credentials } from "./credentials/routes";
import { didWeb } from "./did/web";
import { dids } from "./did/routes";
import { docs } from "./service/docs";
import { authenticate, requireOperator } from "./http/auth";
import { limitJsonDepth } from "./http/json-depth";
import { ProblemError, handleError, problemBody, problemResponse } from "./http/errors";
import type { AppEnv } from "./http/router";
import { keys } from "./keys/routes";
import { manifests } from "./manifests/routes";
import { issuanceTemplates } from "./manifests/template-routes";
import { operations } from "./operations/routes";
import { presentations } from "./presentations/routes";
import { schemas } from "./schemas/routes";
import { service } from "./service/routes";
import { signjobs } from "./signjobs/routes";
import { statusPublic, statusRoutes } from "./status/routes";

const app = new OpenAPIHono<AppEnv>();

app.use("*", async (c, next) => {
  c.set("requestId", c.req.header("cf-ray") ?? crypto.randomUUID());
  await next();
  c.header("x-request-id", c.get("requestId"));
});
app.use(
  "*",
  bodyLimit({
    maxSize: 1024 * 1024,
    onError: () => {
      throw new ProblemError(413, "payload_too_large", "request body exceeds 1 MiB");
    },
  }),
);
// Before any route parses a body: nothing recursive may see arbitrarily deep JSON.
app.use("*", limitJsonDepth);
app.onError(handleError);
app.notFound((c) => problemResponse(problemBody(404, "not_found", `no route for ${c.req.method} ${new URL(c.req.url).pathname}`)));

// Public: health, the API description, did:web documents, published status lists.
app.route("/", service);
app.route("/", docs);
app.route("/", didWeb);
app.route("/v1/credentials/status", statusPublic);

// Everything else needs a bearer token (operators) or a DID-auth JWT (signers, sign jobs only).
app.use("/v1/*", authenticate);
app.route("/v1/signjobs", signjobs);
app.use("/v1/*", requireOperator);
app.route("/v1/dids", dids);
app.route("/v1/keys", keys);
app.route("/v1/credentials", statusRoutes);
app.route("/v1/credentials", credentials);
app.route("/v1/operations", operations);
app.route("/v1/manifests", manifests);
app.route("/v1/issuancetemplates", issuanceTemplates);
app.route("/v1/schemas", schemas);
app.route("/v1/presentations", presentations);
app.route("/v1/admin", indexAdmin);

app.doc31("/openapi.json", (c) => ({
  openapi: "3.1.0",
  info: {
    title: "ssi-edge",
    version: "1.0.0",
    description: "Verifiable-credential issuer with external signing (SIP 9): keys stay in your HSM or KMS.",
  },
  servers: [{ url: new URL(c.req.url).origin }],
  security: [{ bearer: [] }, { didAuth: [] }] as Record<string, string[]>[],
}));
app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
app.openAPIRegistry.registerComponent("securitySchemes", "didAuth", {
  type: "apiKey",
  in: "header",
  name: "Authorization",
  description: "`DID <jwt>`: a JWT signed by a key of the DID (iss, aud, iat, exp ≤ 300 s, jti)",
});

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext) {
    // POST is an accepted alias of PUT on every create path; no route uses POST otherwise.
    if (request.method === "POST") request = new Request(request, { method: "PUT" });
    return app.fetch(request, env, ctx);
  },
  /** The cron trigger (wrangler.toml): a running index shard migration moves on by itself, a bounded run at a time. */
  scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext) {
    ctx.waitUntil(driveMigration(new IndexShards(env)).then(() => undefined));
  },
} satisfies ExportedHandler<Env>;

export { IssuerObject } from "../durable-objects/issuer";
