/**
 * Prompt lookup: finds the longest suffix of `tokens` (up to maxN tokens, at least minN) that occurred earlier,
 * at its most recent earlier occurrence, and proposes the up to k tokens that followed it there.
 */
export function ngramPropose(tokens: readonly number[], k: number, maxN = 4, minN = 1): number[] {
  const n = tokens.length;
  for (let len = Math.min(maxN, n - 1); len >= minN; len--) {
    // Occurrence ending at e (exclusive), e < n; scan from the most recent.
    for (let e = n - 1; e >= len; e--) {
      let match = true;
      for (let j = 1; j <= len; j++) {
        if (tokens[e - j] !== tokens[n - j]) { match = false; break; }
      }
      if (match) return tokens.slice(e, Math.min(e + k, n));
    }
  }
  return [];
}
