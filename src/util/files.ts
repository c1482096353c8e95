/**
 * Reading the end of a log file, for error messages that quote what a process said last.
 * @module
 * @internal
 */
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

