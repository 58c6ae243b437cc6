import { createRoute, z } from "@hono/zod-openapi";
import { idFor } from "../http/routed";
import { freeFormObject } from "../core/json-depth";
import { createArtifact } from "../http/artifacts";
import { ProblemError } from "../http/errors";
import { IdempotencyHeaders, idempotencyClaim } from "../http/idempotency";
import { OperationSchema } from "../http/models";
import { commonErrors, createErrors, createRouter, keysetPage, jsonBody, jsonResponse, PageQuery } from "../http/router";
import { mountDeleteById, mountGetById } from "../http/by-id-routes";
import { createOnce } from "../db/create-once";
import { checkJsonSchema } from "./json-schema";
import { deleteSchema, getSchema, listSchemas, schemaOf } from "./store";

export const schemas = createRouter();

const Did = z.string().min(8).max(2048).startsWith("did:");

const CreateSchemaRequest = z
  .object({
    name: z.string().min(1).max(256),
    description: z.string().max(4096).optional(),
    schema: freeFormObject().openapi({
      description: "A JSON Schema (2020-12, 2019-09 or draft-07; `$schema` decides, 2020-12 without it)",
    }),
    issuer: Did.optional(),
    verificationMethodId: z.string().min(1).max(2048).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if ((v.issuer === undefined) !== (v.verificationMethodId === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: [v.issuer === undefined ? "issuer" : "verificationMethodId"],
        message: "issuer and verificationMethodId go together",
      });
    } else if (v.issuer && !v.verificationMethodId!.startsWith(`${v.issuer}#`)) {
      ctx.addIssue({ code: "custom", path: ["verificationMethodId"], message: "must be a verification method of issuer" });
    }
  })
  .openapi("CreateSchemaRequest");

const Dialect = z.enum(["2020-12", "2019-09", "draft-07"]);
const SchemaView = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().optional(),
    schema: z.record(z.string(), z.unknown()),
    dialect: Dialect,
    issuer: z.string().optional(),
    verificationMethodId: z.string().optional(),
    operationId: z.string().optional(),
    credentialSchemaJwt: z.string().optional().openapi({ description: "The JsonSchemaCredential (VC 2.0, vc+jwt), once signed" }),
    createdAt: z.string(),
  })
  .openapi("Schema");
const SchemaOperation = OperationSchema.openapi("SchemaOperation", {
  description: "`result.response` is `{ id, schema, credentialSchemaJwt? }`",
});

schemas.openapi(
  createRoute({
    method: "put",
    path: "/",
    tags: ["Schemas"],
    summary:
      "Create a JSON Schema: unsigned (201 with the schema), or signed by `issuer` as a JsonSchemaCredential (an operation: 201 custodial, 202 external)",
    request: { headers: IdempotencyHeaders, ...jsonBody(CreateSchemaRequest) },
    responses: {
      201: jsonResponse(z.union([SchemaView, SchemaOperation]), "Stored (unsigned), or signed at once (custodial)"),
      202: jsonResponse(SchemaOperation, "Waiting for an external signer"),
      ...commonErrors,
      ...createErrors,
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const checked = checkJsonSchema(body.schema, "schema");
    if (!checked.ok)
      throw new ProblemError(
        400,
        "validation_failed",
        `schema: ${checked.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`,
        checked.errors,
      );
    // A signed schema's id names its issuer's object, so a read of it right after sees it.
    const id = body.issuer ? idFor(c.env, body.issuer) : crypto.randomUUID();
    const claim = await idempotencyClaim(c);
    if (body.issuer && body.verificationMethodId) {
      const input = {
        id,
        name: body.name,
        description: body.description,
        schema: checked.schema,
        dialect: checked.dialect,
        issuer: body.issuer,
        verificationMethodId: body.verificationMethodId,
      };
      const created = await createArtifact(
        c,
        { issuer: body.issuer, verificationMethodId: body.verificationMethodId, artifact: { kind: "schema", input } },
        claim,
      );
      return c.json(created.operation, created.status);
    }
    const now = Date.now();
    const answer = await createOnce(c.env.DB, claim, () => ({
      statements: [
        c.env.DB.prepare("INSERT INTO schemas (id, name, description, schema, dialect, created_at) VALUES (?, ?, ?, ?, ?, ?)").bind(
          id,
          body.name,
          body.description ?? null,
          JSON.stringify(checked.schema),
          checked.dialect,
          now,
        ),
      ],
      answer: {
        status: 201,
        body: schemaOf({
          id,
          name: body.name,
          description: body.description ?? null,
          schema: JSON.stringify(checked.schema),
          dialect: checked.dialect,
          issuer: null,
          verification_method_id: null,
          operation_id: null,
          jwt: null,
          created_at: now,
          deleted_at: null,
        }),
      },
    }));
    return c.json(answer.body as z.infer<typeof SchemaView>, 201);
  },
);

mountGetById(schemas, {
  tags: ["Schemas"],
  summary: "Get a schema (with its JsonSchemaCredential JWT once signed)",
  noun: "schema",
  view: SchemaView,
  load: async (env, id) => {
    const row = await getSchema(env.DB, id);
    return row && schemaOf(row);
  },
});

schemas.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["Schemas"],
    summary: "List schemas, oldest first",
    request: { query: PageQuery },
    responses: {
      200: jsonResponse(z.object({ schemas: z.array(SchemaView), nextPageToken: z.string().optional() }), "A page of schemas"),
      ...commonErrors,
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const page = await keysetPage(q, ({ after, limit }) => listSchemas(c.env.DB, after, limit));
    return c.json({ schemas: page.items.map(schemaOf), ...page.next }, 200);
  },
);

mountDeleteById(schemas, {
  tags: ["Schemas"],
  summary: "Delete a schema (credentials already issued against it keep their credentialSchema)",
  noun: "schema",
  remove: (env, id) => deleteSchema(env.DB, id, Date.now()),
});
