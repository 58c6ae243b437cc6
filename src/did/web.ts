import { Hono } from "hono";
import { notFound } from "../http/errors";
import type { AppEnv } from "../http/router";
import { getDidByWebLocation } from "./store";

/**
 * Serves the did:web documents this service manages, for the host the request came to:
 * /.well-known/did.json and /<path>/did.json. Public: resolvers fetch these anonymously.
 */
export const didWeb = new Hono<AppEnv>();

didWeb.get("/.well-known/did.json", (c) => serve(c.env, new URL(c.req.url).host, ""));
didWeb.get("/*", async (c, next) => {
  const url = new URL(c.req.url);
  if (!url.pathname.endsWith("/did.json") || url.pathname.startsWith("/v1/")) return next();
  const path = url.pathname.slice(1, -"/did.json".length);
  return serve(c.env, url.host, path);
});

async function serve(env: Env, host: string, path: string): Promise<Response> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    throw notFound("DID document"); // no did:web path decodes to malformed percent-encoding
  }
  const row = await getDidByWebLocation(env.DB, host, decoded);
  if (!row) throw notFound("DID document");
  return new Response(row.document, {
    headers: { "content-type": "application/did+json", "cache-control": "max-age=300", "access-control-allow-origin": "*" },
  });
}
