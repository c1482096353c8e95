/**
 * The check of the engine ids a view is made for.
 * @module
 */
import { TsParallelError } from '../core/errors.js';
import { describeValue } from './describe-value.js';

/**
 * `targets` checked as engine ids (whole numbers >= 0) for `where` (e.g. `view(targets)`): an array of them, or one
 * when `single` allows it, or undefined (every engine). Throws a TsParallelError naming what came instead.
 */
export function checkEngineIds(targets: unknown, where: string, single = false): void {
  const isId = (id: unknown) => Number.isSafeInteger(id) && (id as number) >= 0;
  if (targets === undefined || (single && isId(targets)) || (Array.isArray(targets) && targets.every(isId))) return;
  const wanted = single ? 'an engine id or an array of them' : 'an array of engine ids';
  throw new TsParallelError(`${where}: targets must be ${wanted} (whole numbers >= 0, as client.ids lists them), got ${describeValue(targets)}`);
}
