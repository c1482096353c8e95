/**
 * Short descriptions of values for error messages, and the checks that use them.
 * @module
 */
import { TsParallelError } from '../core/errors.js';

/** A short description of a value for an error message. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array (${JSON.stringify(v).slice(0, 60)})`;
  if (typeof v === 'object') {
    const name = (v as object).constructor?.name ?? 'null-prototype object';
    return `${/^[aeiou]/i.test(name) ? 'an' : 'a'} ${name}`;
  }
  if (typeof v === 'string') return JSON.stringify(v);
  return `${typeof v} ${String(v)}`;
}

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
