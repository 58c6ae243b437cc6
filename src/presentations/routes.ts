import { createRoute, z } from "@hono/zod-openapi";
import { idFor } from "../http/routed";
import { MAX_FREE_FORM_DEPTH, refineFreeFormDepth } from "../core/json-depth";
import { mountDeleteById, mountGetById } from "../http/by-id-routes";
import { createOnce } from "../db/create-once";
import { createArtifact } from "../http/artifacts";
import { serviceOrigin } from "../http/auth";
import { ProblemError } from "../http/errors";
import { IdempotencyHeaders, idempotencyClaim } from "../http/idempotency";
import { OperationSchema } from "../http/models";
import {
  commonErrors,
  createErrors,
  createRouter,
  signedCreateResponses,
  keysetPage,
  jsonBody,
  jsonResponse,
  PageQuery,
} from "../http/router";
import { checkPresentationDefinition, type PresentationDefinition } from "./definition";
import { deleteDefinition, deleteRequest, getDefinition, getRequest, listDefinitions, requestOf } from "./store";
import { holderRequestBody } from "./request-body";
import { submissions } from "./submission-routes";
import { verifyPresentationJwt } from "./verify";

export const presentations = createRouter();
presentations.route("/submissions", submissions);

const Json = z.record(z.string(), z.unknown());
const FreeArray = z.array(Json).superRefine(refineFreeFormDepth);
const Jwt = z
  .string()
  .min(1)
  .max(512 * 1024);

// ---------------------------------------------------------------- definitions

const CreateDefinitionRequest = z
  .object({
    name: z.string().max(256).optional(),
    purpose: z.string().max(4096).optional(),
    format: Json.superRefine(refineFreeFormDepth).optional(),
    frame: Json.superRefine(refineFreeFormDepth).optional(),
    inputDescriptors: FreeArray.min(1)
      .max(100)
      .openapi({ description: `DIF PE v2 input descriptors (snake_case members, at most ${MAX_FREE_FORM_DEPTH} levels)` }),
    submissionRequirements: FreeArray.max(100).optional(),
  })
  .strict()
  .openapi("CreatePresentationDefinitionRequest");

const DefinitionView = z
  .object({ presentation_definition: Json.openapi({ description: "The definition in DIF's shape" }) })
  .openapi("PresentationDefinitionContainer");

/** DIF's member paths named as the request spells them. */
const requestPath = (path: string) =>
  path
    .replace(/^presentation_definition\.input_descriptors/, "inputDescriptors")
    .replace(/^presentation_definition\.submission_requirements/, "submissionRequirements")
    .replace(/^presentation_definition\.?/, "");

presentations.openapi(
  createRoute({
    method: "put",
    path: "/definitions",
    tags: ["Presentation Exchange"],
    summary: "Create a presentation definition (DIF PE v2), checked against DIF's JSON Schema",
    request: { headers: IdempotencyHeaders, ...jsonBody(CreateDefinitionRequest) },
    responses: { 201: jsonResponse(DefinitionView, "Stored"), ...commonErrors, ...createErrors },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const id = crypto.randomUUID();
    const candidate = {
      id,
      ...(body.name !== undefined ? { name: body.name } : {}),
      ...(body.purpose !== undefined ? { purpose: body.purpose } : {}),
      ...(body.format !== undefined ? { format: body.format } : {}),
      ...(body.frame !== undefined ? { frame: body.frame } : {}),
      ...(body.submissionRequirements !== undefined ? { submission_requirements: body.submissionRequirements } : {}),
      input_descriptors: body.inputDescriptors,
    };
    const checked = checkPresentationDefinition(candidate);
    if (!checked.ok) {
      const errors = checked.errors.map((e) => ({ path: requestPath(e.path) || "(body)", message: e.message }));
      throw new ProblemError(400, "validation_failed", errors.map((e) => `${e.path}: ${e.message}`).join("; "), errors);
    }
    const now = Date.now();
    const answer = await createOnce(c.env.DB, await idempotencyClaim(c), () => ({
      statements: [
        c.env.DB.prepare("INSERT INTO presentation_definitions (id, definition, created_at) VALUES (?, ?, ?)").bind(
          id,
          JSON.stringify(checked.value),
          now,
        ),
      ],
      answer: { status: 201, body: { presentation_definition: checked.value } },
    }));
    return c.json(answer.body as z.infer<typeof DefinitionView>, 201);
  },
);

mountGetById(presentations, {
  tags: ["Presentation Exchange"],
  summary: "Get a presentation definition",
  noun: "presentation definition",
  at: "/definitions",
  view: DefinitionView,
  load: async (env, id) => {
    const def = await getDefinition(env.DB, id);
    return def && { presentation_definition: def as unknown as Record<string, unknown> };
  },
});

presentations.openapi(
  createRoute({
    method: "get",
    path: "/definitions",
    tags: ["Presentation Exchange"],
    summary: "List presentation definitions, oldest first",
    request: { query: PageQuery },
    responses: {
      200: jsonResponse(z.object({ definitions: z.array(DefinitionView), nextPageToken: z.string().optional() }), "A page"),
      ...commonErrors,
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const page = await keysetPage(q, ({ after, limit }) => listDefinitions(c.env.DB, after, limit));
    return c.json(
      {
        definitions: page.items.map((r) => ({ presentation_definition: JSON.parse(r.definition) as Record<string, unknown> })),
        ...page.next,
      },
      200,
    );
  },
);

mountDeleteById(presentations, {
  tags: ["Presentation Exchange"],
  summary: "Delete a presentation definition",
  noun: "presentation definition",
  at: "/definitions",
  remove: (env, id) => deleteDefinition(env.DB, id),
});

// ---------------------------------------------------------------- requests

/** A request's lifetime when `expiration` is not given. */
const DEFAULT_REQUEST_TTL_MS = 24 * 3600 * 1000;

const CreateRequestRequest = holderRequestBody("CreatePresentationRequestRequest", {
  presentationDefinitionId: z.string().min(1).max(256),
});

const RequestOperation = OperationSchema.openapi("PresentationRequestOperation", {
  description: "`result.response` is `{ presentationRequest: { id, presentationDefinitionId, presentationRequestJwt? } }`",
});
const RequestView = z
  .object({
    id: z.string(),
    presentationDefinitionId: z.string(),
    issuerId: z.string(),
    verificationMethodId: z.string(),
    operationId: z.string(),
    presentationRequestJwt: z.string().optional(),
    expiresAt: z.string(),
    createdAt: z.string(),
  })
  .openapi("PresentationRequest");

presentations.openapi(
  createRoute({
    method: "put",
    path: "/requests",
    tags: ["Presentation Exchange"],
    summary: "Create a presentation request: a JWT carrying the definition, signed by the verifier's DID (201 custodial, 202 external)",
    request: { headers: IdempotencyHeaders, ...jsonBody(CreateRequestRequest) },
    responses: signedCreateResponses(RequestOperation),
  }),
  async (c) => {
    const body = c.req.valid("json");
    const definition = await getDefinition(c.env.DB, body.presentationDefinitionId);
    if (!definition)
      throw new ProblemError(404, "not_found", "presentation definition not found", [
        { path: "presentationDefinitionId", message: "no such presentation definition" },
      ]);
    const input = {
      // Names the verifier's object, so a read of the request right after sees it.
      id: idFor(c.env, body.issuerId),
      issuer: body.issuerId,
      verificationMethodId: body.verificationMethodId,
      definitionId: definition.id,
      definition: definition as unknown as Record<string, unknown>,
      // Without an audience the request is addressed to the verifier itself, where submissions come back.
      audience: body.audience ?? [body.issuerId],
      expiresAt: body.expiration !== undefined ? Date.parse(body.expiration) : Date.now() + DEFAULT_REQUEST_TTL_MS,
      ...(body.callbackUrl !== undefined ? { callbackUrl: body.callbackUrl } : {}),
    };
    const created = await createArtifact(c, {
      issuer: body.issuerId,
      verificationMethodId: body.verificationMethodId,
      artifact: { kind: "presentation-request", input },
    });
    return c.json(created.operation, created.status);
  },
);

mountGetById(presentations, {
  tags: ["Presentation Exchange"],
  summary: "Get a presentation request (with its JWT once signed)",
  noun: "presentation request",
  at: "/requests",
  view: RequestView,
  load: async (env, id) => {
    const row = await getRequest(env.DB, id);
    return row && requestOf(row);
  },
});

mountDeleteById(presentations, {
  tags: ["Presentation Exchange"],
  summary: "Delete a presentation request",
  noun: "presentation request",
  at: "/requests",
  remove: (env, id) => deleteRequest(env.DB, id, Date.now()),
});

// ---------------------------------------------------------------- verification

presentations.openapi(
  createRoute({
    method: "put",
    path: "/verification",
    tags: ["Presentation Exchange"],
    summary: "Verify a VP JWT: the holder's signature and every embedded credential (signature, dates, status)",
    request: jsonBody(z.object({ presentationJwt: Jwt }).strict().openapi("VerifyPresentationRequest")),
    responses: {
      200: jsonResponse(
        z.object({ verified: z.boolean(), reason: z.string().optional() }).openapi("VerifyPresentationResponse"),
        "The verdict",
      ),
      ...commonErrors,
    },
  }),
  async (c) => c.json(await verifyPresentationJwt(c.env, c.req.valid("json").presentationJwt, serviceOrigin(c)), 200),
);

export type { PresentationDefinition };
