/**
 * Short descriptions of values for error messages.
 * @module
 */
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
