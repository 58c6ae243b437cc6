import { base64url } from "jose";
import { parseJsonWithin, type BoundedJson } from "../core/json-depth";

// jose's decoder is lenient (it tolerates padding and some foreign characters). Untrusted
// input must have exactly one spelling, otherwise two different strings name the same key or
// signature, so we also require the alphabet and a canonical round trip.
const B64URL = /^[A-Za-z0-9_-]*$/;

/** Strict base64url (RFC 4648 §5, no padding) decode; null for anything non-canonical. */
export function decodeBase64urlStrict(value: string): Uint8Array | null {
  if (!B64URL.test(value) || value.length % 4 === 1) return null;
  let bytes: Uint8Array;
  try {
    bytes = base64url.decode(value);
  } catch {
    return null;
  }
  return base64url.encode(bytes) === value ? bytes : null;
}

export const encodeBase64url = (bytes: Uint8Array | string): string => base64url.encode(bytes);

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

// fatal: malformed UTF-8 must be refused rather than silently replaced with U+FFFD.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Parses UTF-8 JSON bytes; undefined when the bytes are not valid UTF-8, not JSON, or absurdly deep. */
export function parseJsonBytes(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return undefined;
  }
  const parsed = parseJsonWithin(text);
  return parsed.ok ? parsed.value : undefined;
}

/**
 * A base64url segment of a compact JWS (header or payload) read as JSON: null when it is not
 * base64url of strict UTF-8 (a leading BOM is dropped); otherwise what `parseJsonWithin` makes of
 * the text, so a caller can tell JSON nested too deep from no JSON at all.
 */
export function parseJsonSegment(segment: string): BoundedJson | null {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(base64url.decode(segment));
  } catch {
    return null;
  }
  return parseJsonWithin(text);
}
