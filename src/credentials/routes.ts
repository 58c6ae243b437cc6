import { issuerByName } from "../issuer-client";
import { createRoute, z } from "@hono/zod-openapi";
import { serviceOrigin } from "../http/auth";
import { notFound } from "../http/errors";
import { IdempotencyHeaders, idempotencyClaim } from "../http/idempotency";
import {
  PageQuery,
  commonErrors,
  createErrors,
  createRouter,
  signedCreateResponses,
  keysetPage,
  jsonBody,
  jsonResponse,
} from "../http/router";
import { createArtifact, createArtifacts, type ArtifactOrder } from "../http/artifacts";
import { checkCredentialSubjects } from "../schemas/credential-subjects";
import { verifyCredentialJwt } from "../vc/verify";
import {
  BatchCreateRequest,
  BatchCreateResponse,
  CreateCredentialRequest,
  CredentialIdParam,
  CredentialWithHistorySchema,
  CredentialListResponse,
  CredentialOperation,
  VerifyRequest,
  VerifyResponse,
  type CreateCredential,
} from "./schemas";
import { indexDeletion } from "../shards/index-writes";
import { BOOKMARK_HEADER, containersOf, indexPage } from "./cross-issuer";
import { IndexShards } from "../shards/shards";
import { findCredential, listIssuerCredentials } from "./store";

export const credentials = createRouter();

/** A credential request as the generic create takes it: the credential kind signs it with the issuer's key. */
const order = (input: CreateCredential): ArtifactOrder => ({
  issuer: input.issuer,
  verificationMethodId: input.verificationMethodId,
  artifact: { kind: "credential", input },
});

credentials.openapi(
  createRoute({
    method: "put",
    path: "/",
    tags: ["Credentials"],
    summary: "Issue a credential: 201 done for custodial issuers, 202 pending (with a sign job) for external ones",
    description:
      "With `schemaId`, the credentialSubject (`data` plus `id: subject`) is validated against that schema first: " +
      "400 `schema_validation_failed` with every failing path in `errors` (`credentialSubject.<path>`), and nothing is created.",
    request: { headers: IdempotencyHeaders, ...jsonBody(CreateCredentialRequest) },
    responses: signedCreateResponses(CredentialOperation),
  }),
  async (c) => {
    const body = c.req.valid("json");
    // Before any job exists: a credentialSubject that misses its schema is a 400 naming each failing path.
    await checkCredentialSubjects(c.env, serviceOrigin(c), [body], () => "");
    const created = await createArtifact(c, order(body));
    return c.json(created.operation, created.status);
  },
);

credentials.openapi(
  createRoute({
    method: "put",
    path: "/batch",
    tags: ["Credentials"],
    summary: "Issue up to 1000 credentials, across issuers; every item and every issuer is checked before any is created",
    description:
      "Every request is validated, and every issuer (DID live, key known and not revoked, custodial key unlockable, " +
      "capacity) is checked, before anything is created: a refusal then is a problem and nothing exists. " +
      "If an issuer fails after others created their credentials (its key revoked in between, its object " +
      "overloaded or unreachable), the answer is 200: `operations[i]` is null for each item not created and " +
      "`errors` says why, per item. A retry with the same Idempotency-Key returns what was created and creates the rest.",
    request: { headers: IdempotencyHeaders, ...jsonBody(BatchCreateRequest) },
    responses: {
      200: jsonResponse(BatchCreateResponse, "Some items created, others not: see `errors`"),
      201: jsonResponse(BatchCreateResponse, "All signed"),
      202: jsonResponse(BatchCreateResponse, "Some wait for external signers"),
      ...commonErrors,
      ...createErrors,
    },
  }),
  async (c) => {
    const { requests } = c.req.valid("json");
    // Every item against its schema, each schema read once for the whole batch; any failure creates nothing.
    await checkCredentialSubjects(c.env, serviceOrigin(c), requests, (i) => `requests.${i}.`);
    const issued = await createArtifacts(c.env, serviceOrigin(c), requests.map(order), await idempotencyClaim(c));
    if (issued.errors.length > 0) return c.json({ operations: issued.operations, errors: issued.errors }, 200);
    return c.json({ operations: issued.operations }, issued.allCustodial ? 201 : 202);
  },
);

credentials.openapi(
  createRoute({
    method: "put",
    path: "/verification",
    tags: ["Credentials"],
    summary: "Verify a credential JWT: signature (issuer DID resolved), validity dates, key revocation and status",
    request: jsonBody(VerifyRequest),
    responses: { 200: jsonResponse(VerifyResponse, "The verdict"), ...commonErrors },
  }),
  async (c) => {
    const verdict = await verifyCredentialJwt(c.env, c.req.valid("json").credentialJwt, serviceOrigin(c));
    return c.json(verdict.ok ? { verified: true } : { verified: false, reason: verdict.detail }, 200);
  },
);

credentials.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags: ["Credentials"],
    summary: "Get a credential container: its newest JWT, and every JWT it had (key rotation re-signs)",
    request: { params: CredentialIdParam },
    responses: { 200: jsonResponse(CredentialWithHistorySchema, "The credential"), ...commonErrors },
  }),
  async (c) => {
    const found = await findCredential(c.env, c.req.valid("param").id);
    if (!found) throw notFound("credential");
    return c.json({ ...found.container, ...(found.jwtHistory.length > 0 ? { jwtHistory: found.jwtHistory } : {}) }, 200);
  },
);

credentials.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["Credentials"],
    summary: "List credentials by issuer, subject or schema, oldest first",
    description:
      "Unless `issuer` is the only filter, the list reads the cross-issuer credential index (it may lag a create by up to a second) and " +
      "answers with an `index-bookmark` header: send it back as the `index-bookmark` request header and the next " +
      "list reads at least what this one saw (D1 sessions; a value that is not ours is ignored).",
    request: {
      headers: z.object({ [BOOKMARK_HEADER]: z.string().optional() }),
      query: PageQuery.extend({
        issuer: z.string().max(2048).optional(),
        subject: z.string().max(2048).optional(),
        schema: z.string().max(2048).optional(),
      }),
    },
    responses: {
      200: {
        ...jsonResponse(CredentialListResponse, "A page of credentials"),
        headers: {
          [BOOKMARK_HEADER]: {
            description: "Unless `issuer` is the only filter: the index's D1 session bookmarks, opaque",
            schema: { type: "string" },
          },
        },
      },
      ...commonErrors,
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    if (q.issuer !== undefined && q.subject === undefined && q.schema === undefined) {
      // Scoped to one issuer: its object answers, so a credential just created is listed (api.md "Consistency").
      const issuer = q.issuer;
      const page = await keysetPage(q, ({ after, limit }) => listIssuerCredentials(c.env, issuer, after, limit));
      return c.json({ credentials: page.items.map((i) => i.container), ...page.next }, 200);
    }
    // By subject or schema (an issuer too, or not), or unfiltered: the body-free index, merged over
    // its shards, then the page's bodies from each issuer's object.
    let bookmark = "";
    const page = await keysetPage(q, async ({ after, limit }) => {
      const got = await indexPage(c.env, q, after, limit, c.req.valid("header")[BOOKMARK_HEADER]);
      bookmark = got.bookmark;
      return got.rows;
    });
    c.header(BOOKMARK_HEADER, bookmark);
    return c.json({ credentials: await containersOf(c.env, page.items), ...page.next }, 200);
  },
);

credentials.openapi(
  createRoute({
    method: "delete",
    path: "/{id}",
    tags: ["Credentials"],
    summary: "Delete a credential record (a pending one's operation is cancelled). Revoke to invalidate an issued one.",
    request: { params: CredentialIdParam },
    responses: { 204: { description: "Deleted" }, ...commonErrors },
  }),
  async (c) => {
    const found = await findCredential(c.env, c.req.valid("param").id);
    if (!found) throw notFound("credential");
    // The object cancels a pending one's operation, forgets it for its reads, and tells D1 through its outbox.
    await issuerByName(c.env, found.issuer).deleteCredential(found.id);
    const now = Date.now();
    // The index row too, now (idempotent with the object's own outbox write; deletion outranks any
    // snapshot), and D1's legacy `credentials` row where one exists: it answers reads of old ids.
    if (found.legacyRow) {
      await c.env.DB.prepare("UPDATE credentials SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL").bind(now, found.id).run();
    }
    const deletion = indexDeletion(found.id, now);
    await Promise.all(
      (await new IndexShards(c.env).writeTargets(found.issuer)).map((db) =>
        db
          .prepare(deletion.sql)
          .bind(...deletion.params)
          .run(),
      ),
    );
    return c.body(null, 204);
  },
);
