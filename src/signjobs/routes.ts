import { issuerById, issuerByName } from "../issuer-client";
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { fail } from "../core/errors";
import { JOB_STATUSES, requireOneSignature, submissionFields, submissionOf, type SignJob, type Submission } from "../core/models";
import type { Principal } from "../core/principal";
import { ADMISSION_HEADER, JOB_ID, signOutcome, withoutInternalHeaders, type SignOutcome } from "../core/protocol";
import { isManagedDid, serviceOrigin } from "../http/auth";
import { ProblemError, notFound, validationProblem } from "../http/errors";
import {
  PageQuery,
  commonErrors,
  createRouter,
  decodePageToken,
  encodePageToken,
  jsonBody,
  jsonResponse,
  type AppEnv,
} from "../http/router";
import { unwrap } from "../http/rpc";
import { SignJobSchema } from "../http/models";

export const signjobs = createRouter();

/** The issuer object of a job, or a 404 when the caller may not see it (another DID's job looks absent). */
function jobObject(c: Context<AppEnv>, jobId: string) {
  const m = JOB_ID.exec(jobId);
  if (!m) throw notFound(`sign job ${jobId}`);
  const principal = c.get("principal");
  if (principal.kind === "did" && c.env.ISSUER.idFromName(principal.did).toString() !== m[1]) {
    throw notFound(`sign job ${jobId}`);
  }
  try {
    return issuerById(c.env, c.env.ISSUER.idFromString(m[1]!));
  } catch {
    throw notFound(`sign job ${jobId}`);
  }
}

const Did = z
  .string()
  .min(8)
  .max(2048)
  .regex(/^did:[a-z0-9]+:\S+$/, "must be a DID");

/** The seq a listing resumes after; a token that is not one of ours is a 400, not an empty page. */
function afterSeq(token: string | undefined): number {
  const key = decodePageToken(token, 1);
  if (key === null) return 0;
  const seq = key[0];
  if (typeof seq === "number" && Number.isSafeInteger(seq) && seq >= 0) return seq;
  throw validationProblem(new z.ZodError([{ code: "custom", path: ["pageToken"], message: "invalid page token", input: token }]), "query");
}

signjobs.openapi(
  createRoute({
    method: "get",
    path: "/",
    tags: ["Sign jobs"],
    summary: "List a DID's sign jobs, oldest first",
    request: {
      query: PageQuery.extend({
        did: Did,
        status: z.enum(JOB_STATUSES).optional(),
        // One operation's jobs only: how a key rotation's re-sign jobs are paged (its operation names the first 1,000).
        operationId: z.string().min(1).max(512).optional().openapi({ example: "dids/rotations/3f2c0c1e-0000-4000-8000-000000000000" }),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ signJobs: z.array(SignJobSchema), nextPageToken: z.string().optional() }), "A page"),
      ...commonErrors,
    },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const principal = c.get("principal");
    if (principal.kind === "did" && principal.did !== q.did) {
      throw new ProblemError(403, "forbidden", "a signer may only list its own DID's sign jobs");
    }
    const page = await issuerByName(c.env, q.did).listJobs(q.status, afterSeq(q.pageToken), q.pageSize, q.operationId);
    return c.json({ signJobs: page.jobs, ...(page.next !== undefined ? { nextPageToken: encodePageToken([page.next]) } : {}) }, 200);
  },
);

signjobs.openapi(
  createRoute({
    method: "get",
    path: "/connect",
    tags: ["Sign jobs"],
    summary: "Signer WebSocket: pending jobs are pushed as they are created (Upgrade: websocket)",
    description:
      "Authenticate with the Authorization header, or with a first message {type:'auth', token} within 10 s. " +
      "Messages: ready, jobs, result, cancelled, error (server); sign, reject, 'ping' (signer).",
    request: { query: z.object({ did: Did }) },
    responses: { 101: { description: "Switching protocols" }, 426: commonErrors[400], ...commonErrors },
  }),
  async (c) => {
    const { did } = c.req.valid("query");
    // Unset when the socket will authenticate with its first message (the only unauthenticated way in).
    const principal = c.get("principal") as Principal | undefined;
    // Who may connect is answered before how: another DID's signer learns nothing more here.
    if (principal?.kind === "did" && principal.did !== did) {
      throw new ProblemError(403, "forbidden", "a signer may only connect for its own DID");
    }
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new ProblemError(426, "validation_failed", "this endpoint needs Upgrade: websocket");
    }
    // DID-auth already checked the DID in D1; anyone else is refused here before an object is touched.
    if (principal?.kind !== "did" && !(await isManagedDid(c.env.DB, did))) throw notFound(`DID ${did}`);
    const stub = issuerByName(c.env, did);
    // Who is connecting crosses as an RPC argument; the upgrade itself must go through fetch, and
    // carries only the one-time ticket the object issued for it, never a claim of who is calling.
    const ticket = unwrap(await stub.admit(did, principal ?? null, serviceOrigin(c)));
    const headers = withoutInternalHeaders(c.req.raw.headers);
    headers.delete("authorization");
    headers.set(ADMISSION_HEADER, ticket);
    const url = new URL(c.req.url);
    url.searchParams.set("did", did);
    return stub.fetch(new Request(url, { method: "GET", headers }));
  },
);

const SubmitOne = z.object(submissionFields).strict();

const SubmitItem = SubmitOne.extend({ id: z.string().min(1).max(200) })
  .strict()
  .superRefine(requireOneSignature);

const SubmitRequest = z
  .union([SubmitItem, z.object({ signatures: z.array(SubmitItem).min(1).max(1000) }).strict()])
  .openapi("SubmitSignatures");

const BatchResult = z.object({
  id: z.string(),
  status: z.union([z.enum(JOB_STATUSES), z.literal("unknown")]),
  code: z.string().optional(),
  detail: z.string().optional(),
});

signjobs.openapi(
  createRoute({
    method: "put",
    path: "/",
    tags: ["Sign jobs"],
    summary: "Submit one signature ({id, signature|jws}) or a batch ({signatures: [...]}, at most 1000)",
    request: jsonBody(SubmitRequest),
    responses: {
      200: jsonResponse(z.union([SignJobSchema, z.object({ results: z.array(BatchResult) })]), "Signed job, or per-item results"),
      409: commonErrors[404],
      422: commonErrors[400],
      ...commonErrors,
    },
  }),
  async (c) => {
    const body = c.req.valid("json");
    const origin = serviceOrigin(c);
    if (!("signatures" in body)) {
      return c.json(unwrap(await jobObject(c, body.id).submit(body.id, submissionOf(body), origin)), 200);
    }
    // One call per issuer object, in the order the items came.
    const results: SignOutcome[] = new Array(body.signatures.length);
    const groups = new Map<string, { stub: ReturnType<typeof jobObject>; items: { i: number; id: string; submission: Submission }[] }>();
    body.signatures.forEach((item, i) => {
      let stub: ReturnType<typeof jobObject>;
      try {
        stub = jobObject(c, item.id);
      } catch {
        results[i] = signOutcome(item.id, fail("not_found", "sign job not found"));
        return;
      }
      const key = item.id.slice(0, 64);
      let group = groups.get(key);
      if (!group) groups.set(key, (group = { stub, items: [] }));
      group.items.push({ i, id: item.id, submission: submissionOf(item) });
    });
    await Promise.all(
      [...groups.values()].map(async (g) => {
        const answers = await g.stub.submitMany(
          g.items.map(({ id, submission }) => ({ id, submission })),
          origin,
        );
        answers.forEach((a, j) => (results[g.items[j]!.i] = a));
      }),
    );
    return c.json({ results }, 200);
  },
);

const JobParam = z.object({
  id: z
    .string()
    .min(1)
    .max(200)
    .openapi({ param: { name: "id", in: "path" } }),
});

signjobs.openapi(
  createRoute({
    method: "get",
    path: "/{id}",
    tags: ["Sign jobs"],
    summary: "Get one sign job",
    request: { params: JobParam },
    responses: { 200: jsonResponse(SignJobSchema, "The job"), ...commonErrors },
  }),
  async (c) => {
    const id = c.req.valid("param").id;
    return c.json(unwrap(await jobObject(c, id).getJob(id)) as SignJob, 200);
  },
);

signjobs.openapi(
  createRoute({
    method: "put",
    path: "/{id}",
    tags: ["Sign jobs"],
    summary: "Submit the signature of one sign job",
    request: { params: JobParam, ...jsonBody(SubmitOne.superRefine(requireOneSignature)) },
    responses: { 200: jsonResponse(SignJobSchema, "The signed job"), 409: commonErrors[404], 422: commonErrors[400], ...commonErrors },
  }),
  async (c) => {
    const id = c.req.valid("param").id;
    return c.json(unwrap(await jobObject(c, id).submit(id, submissionOf(c.req.valid("json")), serviceOrigin(c))), 200);
  },
);

signjobs.openapi(
  createRoute({
    method: "put",
    path: "/{id}/reject",
    tags: ["Sign jobs"],
    summary: "Refuse to sign: the job is rejected and its operation fails with rejected_by_signer",
    request: { params: JobParam, ...jsonBody(z.object({ reason: z.string().min(1).max(1000) }).strict()) },
    responses: { 200: jsonResponse(SignJobSchema, "The rejected job"), 409: commonErrors[404], ...commonErrors },
  }),
  async (c) => {
    const id = c.req.valid("param").id;
    return c.json(unwrap(await jobObject(c, id).reject(id, c.req.valid("json").reason)), 200);
  },
);
