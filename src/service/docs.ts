import { Hono } from "hono";
import type { AppEnv } from "../http/router";
// Bundled into the Worker as text by the `Text` module rule in wrangler.toml: no CDN, works offline.
import bundle from "swagger-ui-dist/swagger-ui-bundle.js";
import css from "swagger-ui-dist/swagger-ui.css";
import { version } from "swagger-ui-dist/package.json";

/**
 * Interactive API docs at /docs: Swagger UI, served from this Worker, rendering /openapi.json.
 * Asset URLs carry the Swagger UI version, so they can be cached for a year and still change
 * on upgrade.
 */
export const docs = new Hono<AppEnv>();

const IMMUTABLE = "public, max-age=31536000, immutable";
const v = encodeURIComponent(version);

// The initializer is a file of its own rather than an inline script, so the page runs under a
// CSP without 'unsafe-inline' scripts. Swagger UI sets inline styles, hence style-src.
const initializer = `window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
`;

const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ssi-edge API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css?v=${v}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js?v=${v}"></script>
<script src="/docs/swagger-initializer.js?v=${v}"></script>
</body>
</html>
`;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

docs.get("/docs", (c) =>
  c.body(page, 200, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "public, max-age=300",
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
  }),
);
docs.get("/docs/", (c) => c.redirect("/docs", 301));

const asset = (body: string, type: string) => () =>
  new Response(body, {
    headers: { "content-type": type, "cache-control": IMMUTABLE, "x-content-type-options": "nosniff" },
  });

docs.get("/docs/swagger-ui-bundle.js", asset(bundle, "text/javascript; charset=utf-8"));
docs.get("/docs/swagger-ui.css", asset(css, "text/css; charset=utf-8"));
docs.get("/docs/swagger-initializer.js", asset(initializer, "text/javascript; charset=utf-8"));
