/** `random`: any engine that may take the task, uniformly. @module */
import type { TaskPolicy } from './policy.js';

/** Pick uniformly at random. */
export const random: TaskPolicy = (candidates, rand) => candidates[Math.floor(rand() * candidates.length)]!;
