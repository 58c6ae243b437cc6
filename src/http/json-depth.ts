import type { MiddlewareHandler } from "hono";
import { MAX_DOCUMENT_DEPTH, MAX_FREE_FORM_DEPTH, dottedPath, findTooDeepInText } from "../core/json-depth";
import { ProblemError } from "./errors";
import type { AppEnv } from "./router";

/** The media types Hono's validator parses as JSON. */
const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/i;

/**
 * Refuses a JSON request body nested deeper than MAX_DOCUMENT_DEPTH before anything parses it.
 * The scan reads the text once; Hono caches it, so the route's validator parses the same text.
 * Free-form members get the tighter MAX_FREE_FORM_DEPTH from their schemas.
 */
export const limitJsonDepth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const type = c.req.header("content-type");
  if (c.req.raw.body === null || !type || !JSON_MEDIA.test(type.split(";")[0]!.trim())) return next();
  const path = findTooDeepInText(await c.req.text(), MAX_DOCUMENT_DEPTH);
  if (path) {
    const message = `nested deeper than ${MAX_DOCUMENT_DEPTH} levels (free-form members allow ${MAX_FREE_FORM_DEPTH})`;
    throw new ProblemError(400, "validation_failed", `${dottedPath(path)}: ${message}`, [{ path: dottedPath(path), message }]);
  }
  return next();
};
