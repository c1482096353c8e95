/** `weighted`: a random engine, weighted towards the less loaded (weight 1 / (1 + load)). @module */
import type { TaskPolicy } from './policy.js';

/** Pick at random, each engine weighted by 1 / (1 + its load). */
export const weighted: TaskPolicy = (candidates, random) => {
  const weights = candidates.map((c) => 1 / (1 + c.load));
  let r = random() * weights.reduce((a, b) => a + b, 0);
  for (let i = 0; i < candidates.length; i++) {
    r -= weights[i]!;
    if (r < 0) return candidates[i]!;
  }
  return candidates[candidates.length - 1]!;
};
