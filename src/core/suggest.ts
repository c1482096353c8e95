/**
 * Close-match suggestions for misspelled names (config keys, launcher option keys and names, environment
 * variables, profile names), so an error can say `did you mean 'controller.heartbeatMs'?`. In `core/`, which
 * depends on nothing else in src/, so every part (the launcher registry included) uses this one matcher.
 * @module
 */

/**
 * The edit distance between `a` and `b`: how many single-character insertions, deletions, substitutions or swaps
 * of two neighbouring characters turn one into the other (the optimal-string-alignment distance). Swaps count as
 * one edit because they are the most common typing slip (`heatrbeat`).
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Three rolling rows are enough: the swap rule looks two rows back.
  let before = new Array<number>(b.length + 1).fill(0);
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, before[j - 2]! + 1);
      }
      current[j] = best;
    }
    [before, previous, current] = [previous, current, before];
  }
  return previous[b.length]!;
}

/** Words shorter than this are not taken as short for a longer candidate (`n`, `ip` begin too many names). */
const MIN_PREFIX_LENGTH = 3;

/**
 * The candidate closest to `word` (ignoring case), or `undefined` when none is close enough to be a likely typo.
 * "Close enough" grows with the word's length: 1 edit for words of up to 4 characters, then one more per 4. When no
 * candidate is that close, a word of 3 or more characters that begins exactly one candidate is taken as short for
 * it (`workDir` for `workDirectory`). An explicit `maxDistance` is the whole rule, without abbreviations: for
 * callers that must only catch near misses (a `TSPARALLEL_*` variable that may belong to something else).
 * @example
 * ```ts
 * closestMatch('controller.heartbeatMS', ['controller.heartbeatMs', 'n']); // 'controller.heartbeatMs'
 * closestMatch('workDir', ['workDirectory', 'jobName']); // 'workDirectory'
 * ```
 */
export function closestMatch(word: string, candidates: Iterable<string>, maxDistance?: number): string | undefined {
  const limit = maxDistance ?? Math.max(1, Math.floor(word.length / 4));
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  const extending: string[] = [];
  for (const candidate of candidates) {
    const distance = editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
    if (candidate.toLowerCase().startsWith(lower)) extending.push(candidate);
  }
  if (bestDistance <= limit) return best;
  if (maxDistance !== undefined) return undefined;
  // An abbreviation is far from its full name in edits; one that could stand for two names suggests neither.
  return lower.length >= MIN_PREFIX_LENGTH && extending.length === 1 ? extending[0] : undefined;
}
