/**
 * Temporary directories with real config files, for the configuration and profile tests.
 * @module
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/core/errors.js';

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

/** Load with only the workspace's directories and environment, never the real home or cwd. */
export function load(ws: ConfigWorkspace, options: Parameters<typeof loadConfig>[0] = {}) {
  return loadConfig({ projectDir: ws.project, env: ws.env(), ...options });
}

/** Assert that `promise` rejects with a ConfigError whose message contains every one of `needles`. */
export async function rejectsWith(promise: Promise<unknown>, needles: string[]): Promise<ConfigError> {
  let caught: unknown;
  await assert.rejects(promise, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  for (const needle of needles) {
    assert.ok(caught.message.includes(needle), `message lacks ${JSON.stringify(needle)}:\n${caught.message}`);
  }
  return caught;
}

/** A Windows UNC path, to check that config keeps it exactly as written. */
export const UNC = String.raw`\\fileserver\share$\tsparallel\work`;
