/**
 * "Did you mean ...?" for names given by hand (a command, an option value, a parameter name): the
 * candidates a typo most likely meant.
 */

/**
 * The candidates closest to `word` by edit distance (optimal string alignment: insertions,
 * deletions, substitutions and swaps of neighbours; case ignored), when they are close enough to be
 * a typo: at most 3 edits and under 60 % of the word changed. Ties are all returned (at most 3).
 */
export function closestNames(word: string, candidates: Iterable<string>): string[] {
  const w = word.toLowerCase();
  let best = Infinity;
  let found: string[] = [];
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d > 3 || d >= 0.6 * Math.max(w.length, c.length)) continue;
    if (d < best) [best, found] = [d, [c]];
    else if (d === best) found.push(c);
  }
  return found.slice(0, 3);
}

/** ` (did you mean 'a' or 'b'?)` for the names close to `word` ({@link closestNames}), else ''. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const close = closestNames(word, candidates);
  return close.length ? ` (did you mean ${close.map((n) => `'${n}'`).join(' or ')}?)` : '';
}

/** Optimal-string-alignment distance between `a` and `b`. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}
