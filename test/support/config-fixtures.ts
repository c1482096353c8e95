/**
 * Temporary directories with real config files, for the configuration and profile tests.
 * @module
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

/** A temporary workspace: a profile root (`TSPARALLEL_DIR`) and a project directory, removed after the test. */
export interface ConfigWorkspace {
  /** The workspace directory. */
  base: string;
  /** The profile root, passed as `TSPARALLEL_DIR`. */
  root: string;
  /** A project directory (empty until files are written). */
  project: string;
  /** An environment holding only `TSPARALLEL_DIR`, plus `extra`. */
  env(extra?: Record<string, string>): NodeJS.ProcessEnv;
  /** Write files (relative paths, parent folders created) under `dir`; returns their absolute paths. */
  write(dir: string, files: Record<string, string>): Promise<string[]>;
}

/** Make a workspace under the OS temp folder, removed when the test `t` ends. */
export async function makeConfigWorkspace(t: TestContext): Promise<ConfigWorkspace> {
  const base = await mkdtemp(path.join(tmpdir(), 'tsparallel-config-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const root = path.join(base, 'root');
  const project = path.join(base, 'project');
  await mkdir(root);
  await mkdir(project);
  return {
    base,
    root,
    project,
    env: (extra = {}) => ({ TSPARALLEL_DIR: root, ...extra }),
    async write(dir, files) {
      const written: string[] = [];
      for (const [name, text] of Object.entries(files)) {
        const file = path.join(dir, name);
        await mkdir(path.dirname(file), { recursive: true });
        await writeFile(file, text);
        written.push(file);
      }
      return written;
    },
  };
}
