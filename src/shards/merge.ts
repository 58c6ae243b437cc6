/**
 * One keyset page from several sorted sources (index shards, or tables), in (created_at, id) order,
 * so a cross-shard list answers with the same page tokens and order as one database would.
 *
 * Each source returns up to `fetched` rows after the page token, in order. A source that returned all
 * it was asked for may hold more beyond its last row (its frontier); rows past the lowest frontier
 * cannot be placed yet. The page is the rows up to that frontier, in order, at most `pageSize`; the
 * next token is the last row given, or the frontier when rows a source does not own (copies left in
 * an old shard mid-migration) made the page short. With nothing filtered, each source's first
 * `pageSize` rows lie below its frontier, so the page is exactly the global first `pageSize`.
 */
export type TimeKey = readonly [number, string];

export interface SourcePage<T> {
  rows: T[];
  /** True when the source returned fewer rows than asked: nothing lies beyond them. */
  exhausted: boolean;
}

export const compareKeys = (a: TimeKey, b: TimeKey): number => (a[0] !== b[0] ? a[0] - b[0] : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);

export function mergePages<T>(
  sources: SourcePage<T>[],
  keyOf: (row: T) => TimeKey,
  pageSize: number,
  keep: (row: T, source: number) => boolean = () => true,
): { rows: T[]; next: TimeKey | null } {
  let frontier: TimeKey | null = null;
  for (const s of sources) {
    if (s.exhausted || s.rows.length === 0) continue;
    const last = keyOf(s.rows[s.rows.length - 1]!);
    if (frontier === null || compareKeys(last, frontier) < 0) frontier = last;
  }
  const candidates: { row: T; key: TimeKey }[] = [];
  sources.forEach((s, i) => {
    for (const row of s.rows) {
      const key = keyOf(row);
      if (frontier !== null && compareKeys(key, frontier) > 0) break;
      if (keep(row, i)) candidates.push({ row, key });
    }
  });
  candidates.sort((a, b) => compareKeys(a.key, b.key));
  const page = candidates.slice(0, pageSize);
  if (candidates.length > pageSize) return { rows: page.map((c) => c.row), next: page[page.length - 1]!.key };
  // Everything placeable is on this page: more exists only beyond the frontier.
  return { rows: page.map((c) => c.row), next: frontier };
}

/**
 * One keyset page from sources that each say how far they are complete: a source holds no row up to
 * its `frontier` that is not in its `rows` (null: it gave every row it has). Unlike `mergePages`, a
 * source's frontier may lie past its last row (a merge of shards that skipped rows it does not own).
 * Rows past the lowest frontier wait for the next page. Equal keys are one row, the first source's.
 */
export function mergeBounded<T>(
  sources: { rows: T[]; frontier: TimeKey | null }[],
  keyOf: (row: T) => TimeKey,
  pageSize: number,
): { rows: T[]; next: TimeKey | null } {
  let frontier: TimeKey | null = null;
  for (const s of sources) if (s.frontier && (frontier === null || compareKeys(s.frontier, frontier) < 0)) frontier = s.frontier;
  const candidates: { row: T; key: TimeKey; source: number }[] = [];
  sources.forEach((s, source) => {
    for (const row of s.rows) {
      const key = keyOf(row);
      if (frontier !== null && compareKeys(key, frontier) > 0) break;
      candidates.push({ row, key, source });
    }
  });
  candidates.sort((a, b) => compareKeys(a.key, b.key) || a.source - b.source);
  const unique = candidates.filter((c, i) => i === 0 || compareKeys(candidates[i - 1]!.key, c.key) !== 0);
  const page = unique.slice(0, pageSize);
  if (unique.length > pageSize) return { rows: page.map((c) => c.row), next: page[page.length - 1]!.key };
  return { rows: page.map((c) => c.row), next: frontier };
}
