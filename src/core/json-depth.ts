/**
 * Nesting limits for JSON that comes from outside: request bodies, WebSocket frames, JWT parts,
 * documents fetched from other hosts. A leaf module: the Worker and the issuer object both use it.
 *
 * Why two limits: free-form members (`data`, `evidence`, JWKs, claims) may be nested at most
 * MAX_FREE_FORM_DEPTH levels below themselves (api.md, Conventions). Which members are free-form
 * is known only to the schema, so that limit is a zod refinement (`withinDepth`). Before any
 * schema runs, the raw text is scanned against MAX_DOCUMENT_DEPTH, which is enough for every
 * envelope around a free-form member, so nothing recursive (JSON.stringify, structured clone,
 * canonicalisation) ever sees a document deeper than that.
 */
import { base64url } from "jose";
import { z } from "zod";

export const MAX_FREE_FORM_DEPTH = 32;
export const MAX_DOCUMENT_DEPTH = 64;

/** Keys in a reported path are cut to this many characters: the path is for people. */
const KEY_CHARS = 64;

type Frame = { array: boolean; key: string; index: number; expectKey: boolean };

/**
 * Scans JSON text (valid or not) without parsing it and returns the path of the first array or
 * object that lies deeper than `max` levels (the root is level 1), or null. Linear time, constant
 * stack: strings and escapes are skipped, keys are remembered only to name the path.
 *
 * Every request body passes here, so the common case (not too deep) is a bare depth count; the
 * path is worked out only for a body that is too deep. The key-remembering scan was 12 % of the
 * Worker's time for a batch of 1000 credentials (bench/README.md).
 */
export function findTooDeepInText(text: string, max: number): (string | number)[] | null {
  return exceedsDepth(text, max) ? pathTooDeep(text, max) : null;
}

/** Whether an array or object in `text` lies deeper than `max`; the same rules as `pathTooDeep`. */
function exceedsDepth(text: string, max: number): boolean {
  let depth = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const ch = text.charCodeAt(i);
    if (ch === 0x22 /* " */) {
      // Skip the string: up to the next quote not escaped by a backslash.
      for (i++; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c === 0x5c /* \ */) i++;
        else if (c === 0x22) break;
      }
    } else if (ch === 0x7b /* { */ || ch === 0x5b /* [ */) {
      if (++depth > max) return true;
    } else if ((ch === 0x7d /* } */ || ch === 0x5d) /* ] */ && depth > 0) {
      depth--;
    }
  }
  return false;
}

/** The scan that names the path; `findTooDeepInText` runs it only on text that is too deep. */
export function pathTooDeep(text: string, max: number): (string | number)[] | null {
  const stack: Frame[] = [];
  let inString = false;
  let escaped = false;
  let capturing = false;
  let captured = "";
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === 0x5c /* \ */) escaped = true;
      else if (ch === 0x22 /* " */) {
        inString = false;
        if (capturing) {
          stack[stack.length - 1]!.key = captured;
          capturing = false;
        }
        continue;
      }
      if (capturing && captured.length < KEY_CHARS) captured += text[i];
      continue;
    }
    const top = stack[stack.length - 1];
    switch (ch) {
      case 0x22: // "
        inString = true;
        capturing = top !== undefined && !top.array && top.expectKey;
        captured = "";
        break;
      case 0x7b: // {
      case 0x5b: // [
        if (stack.length + 1 > max) return stack.map((f) => (f.array ? f.index : f.key));
        stack.push({ array: ch === 0x5b, key: "", index: 0, expectKey: ch === 0x7b });
        break;
      case 0x7d: // }
      case 0x5d: // ]
        stack.pop();
        break;
      case 0x3a: // :
        if (top && !top.array) top.expectKey = false;
        break;
      case 0x2c: // ,
        if (top?.array) top.index++;
        else if (top) top.expectKey = true;
        break;
    }
  }
  return null;
}

const isContainer = (v: unknown): boolean => v !== null && typeof v === "object";

/**
 * Adds a zod issue at the first point of `value` nested deeper than MAX_FREE_FORM_DEPTH. For
 * `.superRefine` on free-form schema members, so the issue names the member (`data.a.b...`).
 */
export function refineFreeFormDepth(
  value: unknown,
  ctx: { addIssue(issue: { code: "custom"; path: (string | number)[]; message: string }): void },
): void {
  const path = findTooDeep(value, MAX_FREE_FORM_DEPTH);
  if (path) ctx.addIssue({ code: "custom", path, message: `nested deeper than ${MAX_FREE_FORM_DEPTH} levels` });
}

/**
 * The path of the first array or object in a parsed value deeper than `max` levels (the value
 * itself is level 1), or null. Iterative, so a hostile value cannot exhaust the stack here.
 */
export function findTooDeep(value: unknown, max: number): (string | number)[] | null {
  const pending: { value: unknown; path: (string | number)[] }[] = [{ value, path: [] }];
  while (pending.length > 0) {
    const { value: v, path } = pending.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (path.length + 1 > max) return path;
    // Only containers are queued: a long array of numbers costs no path copies.
    if (Array.isArray(v)) v.forEach((item, i) => isContainer(item) && pending.push({ value: item, path: [...path, i] }));
    else
      for (const [k, item] of Object.entries(v))
        if (isContainer(item)) pending.push({ value: item, path: [...path, k.slice(0, KEY_CHARS)] });
  }
  return null;
}

export type BoundedJson =
  | { ok: true; value: unknown }
  | { ok: false; reason: "too_deep"; path: (string | number)[] }
  | { ok: false; reason: "malformed" };

/** JSON.parse for text from outside: refuses anything nested deeper than `max` before parsing it. */
export function parseJsonWithin(text: string, max: number = MAX_DOCUMENT_DEPTH): BoundedJson {
  const path = findTooDeepInText(text, max);
  if (path) return { ok: false, reason: "too_deep", path };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, reason: "malformed" };
  }
}

/** A JWT header or payload (base64url JSON), bounded in depth: the object, "too_deep", or null for anything else. */
export function jwtPart(part: string | undefined): Record<string, unknown> | "too_deep" | null {
  let text: string;
  try {
    text = new TextDecoder().decode(base64url.decode(part ?? ""));
  } catch {
    return null;
  }
  const parsed = parseJsonWithin(text);
  if (!parsed.ok) return parsed.reason === "too_deep" ? "too_deep" : null;
  const v = parsed.value;
  return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/** A dotted path as the problem `errors` name fields (`data.a.0.b`). */
export const dottedPath = (path: readonly (string | number)[]): string => path.map(String).join(".") || "(body)";

/** A free-form JSON object member (`data`, an `evidence` item, a JWK): any members, at most MAX_FREE_FORM_DEPTH deep. */
export const freeFormObject = () => z.record(z.string(), z.unknown()).superRefine(refineFreeFormDepth);
