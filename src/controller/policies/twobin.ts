/** `twobin`: two engines drawn at random, and the less loaded of the two ("the power of two choices"). @module */
import type { TaskPolicy } from './policy.js';

/** Draw two engines at random and take the less loaded (ties: the less recently used). */
export const twobin: TaskPolicy = (candidates, random) => {
  const a = candidates[Math.floor(random() * candidates.length)]!;
  const b = candidates[Math.floor(random() * candidates.length)]!;
  if (a.load !== b.load) return a.load < b.load ? a : b;
  return a.lastUsed <= b.lastUsed ? a : b;
};
