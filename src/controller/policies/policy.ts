/**
 * The task-policy contract: how the controller picks an engine for a load-balanced task.
 * @module
 */

/** What a task policy sees of an engine that could take a task. */
export interface Candidate {
  /** The engine's id. */
  id: number;
  /** Load-balanced tasks it holds now (sent, not yet answered). */
  load: number;
  /** When it was last given a task (a counter: larger is more recent; 0 = never). */
  lastUsed: number;
}

/**
 * A task policy: given the engines that may take a task (never empty), return the one to use. `random` is the
 * source of randomness (injectable, so tests can fix it).
 */
export type TaskPolicy = (candidates: readonly Candidate[], random: () => number) => Candidate;

/** The candidate with the smallest key; ties go to the least recently used. */
export function minBy(candidates: readonly Candidate[], key: (c: Candidate) => number): Candidate {
  let best = candidates[0]!;
  for (let i = 1; i < candidates.length; i++) {
    const c = candidates[i]!;
    const d = key(c) - key(best);
    if (d < 0 || (d === 0 && c.lastUsed < best.lastUsed)) best = c;
  }
  return best;
}
