/**
 * `/v1/presentations/submissions`: a holder's VP JWT with a `presentation_submission`, checked in
 * full before it is stored, then pending review as an operation `presentations/submissions/{id}`
 * that lives in D1 alone (no sign job). A review or a cancel settles it once.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Operation } from "../core/models";
import { createOnce } from "../db/create-once";
import { IdParam } from "../http/by-id-routes";
import { serviceOrigin } from "../http/auth";
import { notFound, ProblemError } from "../http/errors";
import { IdempotencyHeaders, idempotencyClaim } from "../http/idempotency";
import { OperationSchema } from "../http/models";
import {
  commonErrors,
  createErrors,
  createRouter,
  jsonBody,
  jsonResponse,
  keysetPage,
  PageQuery,
  problemResponseSpec,
} from "../http/router";
import {
  getDefinition,
  getSubmission,
  listSubmissions,
  requestAnswered,
  settleSubmission,
  SUBMISSIONS_PARENT,
  submissionOf,
  submissionOperationId,
} from "./store";
import { alreadySubmitted, jwtDigest, requestAnswered as requestAnsweredBy, uniqueViolation } from "./single-use";
import { checkSubmissionJwt } from "./verify";

export const submissions = createRouter();

const Json = z.record(z.string(), z.unknown());

const SubmissionRequest = z
  .object({
    submissionJwt: z
      .string()
      .min(1)
      .max(512 * 1024),
  })
  .strict()
  .openapi("CreateSubmissionRequest");
const SubmissionStatus = z.enum(["pending", "approved", "denied"]);
const SubmissionView = z
  .object({
    id: z.string(),
    presentationDefinitionId: z.string(),
    holder: z.string(),
    status: SubmissionStatus,
    reason: z.string().optional(),
    presentationSubmission: Json,
    submissionJwt: z.string(),
    operationId: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("PresentationSubmission");
const SubmissionOperation = OperationSchema.openapi("SubmissionOperation", {
  description: "Pending review; once reviewed `result.response` is `{ status: approved | denied, reason? }`",
});
const ReviewRequest = z
  .object({ approved: z.boolean(), reason: z.string().max(4096).optional() })
  .strict()
  .openapi("ReviewSubmissionRequest");

const operationOfSubmission = (
  id: string,
  createdAt: number,
  updatedAt: number,
  review?: { status: string; reason?: string },
): Operation => ({
  id: submissionOperationId(id),
  done: review !== undefined,
  ...(review ? { result: { response: review } } : {}),
  signJobs: [],
  createdAt: new Date(createdAt).toISOString(),
  updatedAt: new Date(updatedAt).toISOString(),
});

submissions.openapi(
  createRoute({
    method: "put",
    path: "/",
    tags: ["Presentation Exchange"],
    summary: "Submit a holder-signed VP JWT with a presentation_submission: checked, then pending review (an operation)",
    description:
      "Checked before anything is stored: the holder's signature (did:key, did:jwk, did:web), every embedded credential " +
      "(signature, validity dates, status list) and the submission against its definition (paths, filters, submission " +
      "requirements). A VP answering a presentation request carries the request's id as `nonce` and its verifier's DID in " +
      "`aud`; both are checked against the request, and its definition must be the one submitted for. A failure is 400 " +
      "`presentation_rejected` whose `errors` name the credential, input descriptor or claim and why. A VP JWT is accepted " +
      "once: sending it again is 409 `already_submitted` (a retry that must be safe sends an Idempotency-Key), and each " +
      "holder answers a presentation request once (409 `request_answered`).",
    request: { headers: IdempotencyHeaders, ...jsonBody(SubmissionRequest) },
    responses: {
      202: jsonResponse(SubmissionOperation, "Accepted, pending review"),
      ...commonErrors,
      ...createErrors,
      409: problemResponseSpec(
        "`already_submitted`: this VP JWT was submitted before; `request_answered`: this holder answered the request; " +
          "`idempotency_key_in_progress`: a request with this Idempotency-Key is still running (Retry-After)",
      ),
    },
  }),
  async (c) => {
    const { submissionJwt } = c.req.valid("json");
    const checked = await checkSubmissionJwt(
      c.env,
      submissionJwt,
      serviceOrigin(c),
      (id) => getDefinition(c.env.DB, id),
      (id) => requestAnswered(c.env.DB, id),
    );
    if (!checked.ok) {
      throw new ProblemError(400, "presentation_rejected", checked.errors.map((e) => `${e.path}: ${e.message}`).join("; "), checked.errors);
    }
    const id = crypto.randomUUID();
    const now = Date.now();
    const operation = operationOfSubmission(id, now, now);
    const digest = await jwtDigest(submissionJwt);
    const requestId = checked.requestId ?? null;
    let answer;
    try {
      answer = await createOnce(c.env.DB, await idempotencyClaim(c), () => ({
        statements: [
          c.env.DB.prepare(
            `INSERT INTO presentation_submissions (id, definition_id, holder, status, submission, jwt, jwt_sha256, request_id, created_at, updated_at)
             VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)`,
          ).bind(id, checked.definition.id, checked.holder, JSON.stringify(checked.submission), submissionJwt, digest, requestId, now, now),
          c.env.DB.prepare(
            "INSERT INTO operations (id, parent, issuer, done, result, sign_jobs, created_at, updated_at) VALUES (?, ?, ?, 0, NULL, '[]', ?, ?)",
          ).bind(operation.id, SUBMISSIONS_PARENT, checked.holder, now, now),
        ],
        answer: { status: 202, body: operation },
      }));
    } catch (err) {
      // A replay, or a second answer to the same request: D1's unique indexes refused the row (so nothing was stored).
      const index = uniqueViolation(err);
      if (index === "presentation_submissions.jwt_sha256") {
        const earlier = await c.env.DB.prepare("SELECT id FROM presentation_submissions WHERE jwt_sha256 = ?")
          .bind(digest)
          .first<{ id: string }>();
        throw alreadySubmitted("presentation", earlier ? `submission ${earlier.id}` : undefined);
      }
      if (index === "presentation_submissions.request_id") throw requestAnsweredBy("presentation request", requestId!, checked.holder);
      throw err;
    }
    return c.json(answer.body as Operation, 202);
  },
);

submissions.openapi(
  createRoute({
    method: "put",
    path: "/{id}/review",
    tags: ["Presentation Exchange"],
    summary: "Approve or deny a pending submission: its operation is done with `{ status, reason? }` (409 once reviewed or cancelled)",
    request: { params: IdParam, ...jsonBody(ReviewRequest) },
    responses: {
      200: jsonResponse(SubmissionOperation, "The operation, done"),
      409: problemResponseSpec("Already reviewed, or its operation cancelled"),
      ...commonErrors,
    },
  }),
  async (c) => {
    const { id } = c.req.valid("param");
    const review = c.req.valid("json");
    const status = review.approved ? "approved" : "denied";
    const result = { status, ...(review.reason !== undefined ? { reason: review.reason } : {}) };
    const now = Date.now();
    const moved = await settleSubmission(c.env.DB, id, { status, reason: review.reason ?? null }, { response: result }, now);
    const row = await getSubmission(c.env.DB, id);
    if (!row) throw notFound("presentation submission");
    if (!moved) throw new ProblemError(409, "operation_done", `the submission was already ${row.status}`);
    return c.json(operationOfSubmission(id, row.created_at, now, result), 200);
  },
);

submissions.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags: ["Presentation Exchange"],
    summary: "Get a submission and its review status",
    request: { params: IdParam },
    responses: { 200: jsonResponse(SubmissionView, "The submission"), ...commonErrors },
  }),
  async (c) => {
    const row = await getSubmission(c.env.DB, c.req.valid("param").id);
    if (!row) throw notFound("presentation submission");
    return c.json(submissionOf(row), 200);
  },
);

submissions.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["Presentation Exchange"],
    summary: "List submissions, optionally by status, oldest first",
    request: { query: PageQuery.extend({ status: SubmissionStatus.optional() }) },
    responses: {
      200: jsonResponse(z.object({ submissions: z.array(SubmissionView), nextPageToken: z.string().optional() }), "A page"),
      ...commonErrors,
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const page = await keysetPage(q, ({ after, limit }) => listSubmissions(c.env.DB, q.status, after, limit));
    return c.json({ submissions: page.items.map(submissionOf), ...page.next }, 200);
  },
);
