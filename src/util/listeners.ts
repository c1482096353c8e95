/**
 * Listener lists whose `on…` methods return a disposer.
 * @module
 * @internal
 */

/**
 * Add `listener` to `list` and return the function that removes it again (calling it twice is harmless).
 * @internal
 */
export function addListener<T>(list: T[], listener: T): () => void {
  list.push(listener);
  return () => {
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  };
}
