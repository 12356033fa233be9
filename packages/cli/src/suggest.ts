/**
 * "Did you mean" suggestions: the known names closest to a mistyped one by Levenshtein edit
 * distance (insertions, deletions, substitutions each cost 1), compared case-insensitively.
 */

export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let cur = new Array<number>(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    cur[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const sub = prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur[j] = Math.min(sub, prev[j] + 1, cur[j - 1] + 1);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/**
 * The `limit` known names closest to `name`, nearest first (ties in alphabetical order). Names
 * that contain the query, or that it contains, rank as if at distance 1 (so "retriever" finds
 * "golden_retriever").
 */
export function closestNames(name: string, known: readonly string[], limit = 5): string[] {
  const q = name.toLowerCase();
  return known
    .map((k) => {
      const l = k.toLowerCase();
      const d = editDistance(q, l);
      const contained = q.length > 0 && (l.includes(q) || q.includes(l));
      return { k, d: contained ? Math.min(d, 1) : d };
    })
    .sort((x, y) => x.d - y.d || (x.k < y.k ? -1 : x.k > y.k ? 1 : 0))
    .slice(0, limit)
    .map((x) => x.k);
}
