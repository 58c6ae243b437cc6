import { z } from "zod";
import { defineKind, insertSignedRow, resignInTable, type D1Write } from "../../src/core/kinds";
import { credentialJwt } from "../../src/vc/claims";

/** What `PUT /v1/schemas` asks the issuer to sign: the schema, already checked against its meta-schema by the route. */
const SchemaInput = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().optional(),
  schema: z.record(z.string(), z.unknown()),
  dialect: z.string(),
  issuer: z.string(),
  verificationMethodId: z.string(),
});
export type SchemaInput = z.infer<typeof SchemaInput>;

const SchemaContext = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  dialect: z.string(),
  issuer: z.string(),
  verificationMethodId: z.string(),
});
type SchemaContext = z.infer<typeof SchemaContext>;

/** The response as stored: the schema itself comes back from the job's claims. */
const StoredResponse = z.object({ id: z.string() });

/** The W3C VC JSON Schema spec's schema for JsonSchemaCredential subjects. */
export const JSON_SCHEMA_CREDENTIAL_SCHEMA = "https://www.w3.org/ns/credentials/json-schema/v2.json";

/** The schema's public URL: the credential's id and its subject's id. */
export const schemaUrl = (origin: string, id: string) => `${origin}/v1/schemas/${id}`;

/** The whole row, upserted: the pending write and the signed one may reach D1 in either order; only the first JWT sticks. */
function schemaWrite(
  c: SchemaContext,
  schema: Record<string, unknown>,
  operationId: string,
  createdAt: number,
  jwt: string | null,
): D1Write {
  return insertSignedRow("schemas", {
    id: c.id,
    name: c.name,
    description: c.description,
    schema: JSON.stringify(schema),
    dialect: c.dialect,
    issuer: c.issuer,
    verification_method_id: c.verificationMethodId,
    operation_id: operationId,
    jwt,
    created_at: createdAt,
  });
}

/** The JSON Schema inside a JsonSchemaCredential's claims. */
function schemaIn(payload: Record<string, unknown> | null): Record<string, unknown> | undefined {
  const subject = payload?.credentialSubject as { jsonSchema?: unknown } | undefined;
  const schema = subject?.jsonSchema;
  return schema && typeof schema === "object" && !Array.isArray(schema) ? (schema as Record<string, unknown>) : undefined;
}

const response = (id: string, schema: Record<string, unknown> | undefined, jwt?: string | null) => ({
  id,
  ...(schema ? { schema } : {}),
  ...(jwt ? { credentialSchemaJwt: jwt } : {}),
});

/**
 * A signed schema (`PUT /v1/schemas` with an issuer): a `JsonSchemaCredential` (W3C VC JSON Schema,
 * VC 2.0 secured as `vc+jwt`) whose subject carries the JSON Schema.
 */
export const schemaKind = defineKind({
  kind: "schema",
  input: SchemaInput,
  context: SchemaContext,
  resign: resignInTable("schemas", (c: SchemaContext) => c.id),

  prepare(ctx, input) {
    const operationId = ctx.operationId ?? `schemas/${input.id}`;
    const url = schemaUrl(ctx.origin, input.id);
    const { header, payload } = credentialJwt("vc+jwt", {
      id: url,
      types: ["JsonSchemaCredential"],
      issuer: input.issuer,
      subject: { id: url, type: "JsonSchema", jsonSchema: input.schema },
      issuedAt: ctx.now,
      extra: { credentialSchema: { id: JSON_SCHEMA_CREDENTIAL_SCHEMA, type: "JsonSchema" } },
    });
    const context: SchemaContext = {
      id: input.id,
      name: input.name,
      description: input.description ?? null,
      dialect: input.dialect,
      issuer: input.issuer,
      // The key that signs it: the one asked for, or its successor when that key was rotated away.
      verificationMethodId: ctx.key.id,
    };
    ctx.write(`schema:${input.id}`, schemaWrite(context, input.schema, operationId, ctx.now, null));
    return { operationId, header, payload, context, pending: response(input.id, input.schema) };
  },

  finalise(ctx, job, jwt) {
    const schema = schemaIn(job.payload) ?? {};
    ctx.write(`schema:${job.context.id}`, schemaWrite(job.context, schema, job.operationId, job.createdAt, jwt));
    return response(job.context.id, schema, jwt);
  },

  compact: (stored) => StoredResponse.parse(stored),

  expand(stored, job) {
    const r = StoredResponse.parse(stored);
    return response(r.id, schemaIn(job.payload), job.jwt);
  },
});
