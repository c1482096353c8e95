/** The task policies by name, as config's `controller.taskPolicy` names them. @module */
import type { TaskPolicyName } from '../../config/index.js';
import { leastload } from './leastload.js';
import { lru } from './lru.js';
import type { TaskPolicy } from './policy.js';
import { random } from './random.js';
import { twobin } from './twobin.js';
import { weighted } from './weighted.js';

export type { Candidate, TaskPolicy } from './policy.js';

/** Every built-in task policy, by name. */
export const TASK_POLICIES: Readonly<Record<TaskPolicyName, TaskPolicy>> = { leastload, lru, weighted, twobin, random };
