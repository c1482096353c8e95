/** `leastload` (the default): the engine holding the fewest tasks; ties go to the least recently used. @module */
import { minBy, type TaskPolicy } from './policy.js';

/** Pick the engine with the fewest outstanding tasks. */
export const leastload: TaskPolicy = (candidates) => minBy(candidates, (c) => c.load);
