/** `lru`: the engine that was given a task longest ago, whatever its load: a plain rotation. @module */
import { minBy, type TaskPolicy } from './policy.js';

/** Pick the least recently used engine. */
export const lru: TaskPolicy = (candidates) => minBy(candidates, (c) => c.lastUsed);
