/**
 * Reading the end of a log file, for error messages that quote what a process said last.
 * @module
 * @internal
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';

/** The last `bytes` of a file, from its last whole lines (empty when it cannot be read). @internal */
export async function tailOf(file: string, bytes = 4096): Promise<string> {
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - bytes);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      const text = buf.toString('utf8');
      return (start > 0 ? text.slice(text.indexOf('\n') + 1) : text).trimEnd();
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}


/**
 * Run `fn` holding a lock directory (`mkdir` is atomic, also across processes on a shared file system). A lock left by
 * a killed process is taken over after `staleMs`; past `timeoutMs` the error `busy()` makes is thrown.
 */
export async function withDirectoryLock<T>(
  lock: string,
  fn: () => T,
  busy: () => Error,
  { timeoutMs = 10_000, staleMs = 5000 }: { timeoutMs?: number; staleMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      try {
        if (Date.now() - statSync(lock).mtimeMs > staleMs) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* gone meanwhile */
      }
      if (Date.now() > deadline) throw busy();
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
