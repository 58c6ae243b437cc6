/**
 * JSONPath for Presentation Exchange (input descriptor field paths, descriptor_map paths), from
 * `jsonpath-rfc9535`: an RFC 9535 parser and evaluator with no runtime dependencies that never
 * generates code from strings. workerd forbids `eval` and `new Function` at request time, which
 * rules out the evaluators that compile expressions (and @sphereon/pex, whose filters go through ajv).
 *
 * Legacy Goessner filters such as `$.type[?(@ == 'X')]` still parse: RFC 9535 reads the
 * parentheses as grouping.
 */
import { exec, type JsonValue } from "jsonpath-rfc9535";
import parse from "jsonpath-rfc9535/parser";

export type { JsonValue };

/** Longer expressions are refused before parsing: nobody needs one, and parsing is not free. */
export const MAX_JSONPATH_LENGTH = 1024;

/** One node a query selected: its normalized path (RFC 9535 §2.7) and its value. */
export interface PathMatch {
  path: string;
  value: JsonValue;
}

export type JsonPathResult<T> = { ok: true; value: T } | { ok: false; message: string };

export interface JsonPathRules {
  /**
   * Refuse filter selectors (`[?…]`). For paths a holder writes (descriptor_map): a filter may carry
   * a regular expression (`match`, `search`), and a backtracking one is a way to burn our CPU.
   */
  noFilters?: boolean;
}

type Node = { type?: unknown } & Record<string, unknown>;

/** Whether any node under `node` is a filter selector (walks the parser's AST). */
function hasFilter(node: unknown, depth = 0): boolean {
  if (depth > 64 || node === null || typeof node !== "object") return false;
  if ((node as Node).type === "FilterSelector") return true;
  const children = Array.isArray(node) ? node : Object.values(node as Node);
  return children.some((child) => hasFilter(child, depth + 1));
}

/** Checks an expression's syntax (and `rules`); the message says what is wrong, or `undefined` when valid. */
export function checkJsonPath(expression: string, rules: JsonPathRules = {}): string | undefined {
  if (expression.length > MAX_JSONPATH_LENGTH) return `JSONPath longer than ${MAX_JSONPATH_LENGTH} characters`;
  let ast: unknown;
  try {
    ast = parse(expression);
  } catch (e) {
    return `not a JSONPath expression (RFC 9535): ${e instanceof Error ? e.message : String(e)}`;
  }
  if (rules.noFilters && hasFilter(ast)) return "filter expressions ([?…]) are not allowed in this path";
  return undefined;
}

/** `$['a'][0]`: the normalized path of a node (RFC 9535 §2.7); the library hands keys already escaped. */
function normalized(path: readonly (string | number)[]): string {
  return "$" + path.map((key) => (typeof key === "number" ? `[${key}]` : `['${key}']`)).join("");
}

/** Every node `expression` selects in `document`, in document order; a malformed expression is an error, not a throw. */
export function queryJsonPath(document: unknown, expression: string, rules: JsonPathRules = {}): JsonPathResult<PathMatch[]> {
  const problem = checkJsonPath(expression, rules);
  if (problem) return { ok: false, message: problem };
  const matches: PathMatch[] = [];
  try {
    exec(document as JsonValue, expression, (value, path) => matches.push({ path: normalized(path), value }));
  } catch (e) {
    return { ok: false, message: `JSONPath evaluation failed: ${e instanceof Error ? e.message : String(e)}` };
  }
  return { ok: true, value: matches };
}
