/**
 * The commented `tsparallel.config.mjs` a new profile starts with: every option with its default, a doc line, what
 * is allowed and its environment variable, all generated from {@link CONFIG_FIELDS} and {@link defaultConfig} so
 * the file cannot drift from what `loadConfig()` accepts. Every option is commented out, so the file loads as the
 * defaults until the user uncomments a line.
 * @module
 */
import { defaultConfig, type ClusterConfig } from './index.js';
import { CONFIG_FIELDS, envVariableFor, type ConfigFieldPath } from './schema.js';
import { BATCH_LAUNCHER_SAMPLES, SHARED_BATCH_SAMPLE } from '../launchers/batch/samples.js';

/** Options of {@link renderConfigTemplate}. */
export interface ConfigTemplateOptions {
  /** The profile the file is for (named in its header). */
  profile: string;
  /** The profile directory (named in its header). */
  profileDir: string;
  /** A batch launcher (`slurm`, `pbs`, `sge`, `lsf`, `htcondor`) to start the controller and the engines with. */
  launcher?: string;
}

/** The batch launchers `tscluster profile create --launcher` writes a profile for. */
export const PROFILE_LAUNCHERS = Object.keys(BATCH_LAUNCHER_SAMPLES);

/**
 * The text of a profile's commented `tsparallel.config.mjs`; with `launcher`, set up for that batch scheduler
 * (controller and engines as its jobs, its `launchers.<name>` block with the options users most often set).
 *
 * It does not `import { defineConfig } from 'tsparallel'`: the profile directory usually sits outside any project,
 * where that import would not resolve. A JSDoc type gives editors the same help.
 */
export function renderConfigTemplate(options: ConfigTemplateOptions): string {
  const defaults = defaultConfig();
  const lines: string[] = [
    `// tsparallel configuration of the profile '${options.profile}'`,
    `// (${options.profileDir}).`,
    '//',
    '// Every option is listed with its default; uncomment a line to change it. Values are merged in this order,',
    '// later winning: defaults < this file < a tsparallel.config.* (or .tsparallelrc*, or the "tsparallel" key of',
    '// package.json) in the project directory < TSPARALLEL_* environment variables < command-line flags and',
    '// createCluster() options. `tscluster config show` prints the result and where each value came from.',
    '//',
    '// Windows paths: write UNC paths (\\\\host\\share\\dir) with doubled backslashes in JS strings,',
    "// '\\\\\\\\host\\\\share\\\\dir', or as String.raw`\\\\host\\share\\dir`; they are kept exactly as written.",
    '//',
    '// The default export may also be a function (sync or async) returning this object.',
    '',
    "/** @type {import('tsparallel').UserConfig} */",
    'export default {',
  ];
  for (const field of ['n', 'clusterId'] as const) lines.push(...renderField(field, defaults, '  '));
  for (const section of ['controller', 'engines', 'security'] as const) {
    lines.push('', `  ${section}: {`);
    for (const key of Object.keys(defaults[section]) as (keyof ClusterConfig[typeof section])[]) {
      lines.push(...renderField(`${section}.${key}` as ConfigFieldPath, defaults, '    '));
    }
    if (options.launcher && (section === 'controller' || section === 'engines')) lines.push('', `    // This profile starts the ${section} as ${options.launcher} jobs.`, `    launcher: '${options.launcher}',`);
    lines.push('  },');
  }
  lines.push(
    '',
    ...docLines('launchers', '  '),
    '  launchers: {',
    ...(options.launcher
      ? [`    ${options.launcher}: {`, ...[...(BATCH_LAUNCHER_SAMPLES[options.launcher] ?? []), ...SHARED_BATCH_SAMPLE].map((l) => `      ${l}`), '    },']
      : ["    // 'windows-hpc': { scheduler: 'HEADNODE' },"]),
    '  },',
    '',
    ...docLines('plugins', '  '),
    `  // plugins: ${literal(defaults.plugins)},`,
    '};',
    '',
  );
  // Blank lines separate options, but not right after an opening brace.
  return lines.filter((line, i) => !(line === '' && lines[i - 1]?.endsWith('{'))).join('\n');
}

function renderField(field: ConfigFieldPath, defaults: ClusterConfig, indent: string): string[] {
  const key = field.split('.').pop()!;
  const value = field.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], defaults);
  const note = CONFIG_FIELDS[field].defaultText ? `  // default: ${CONFIG_FIELDS[field].defaultText}` : '';
  return ['', ...docLines(field, indent), `${indent}// ${key}: ${literal(value)},${note}`];
}

function docLines(field: ConfigFieldPath, indent: string): string[] {
  const info = CONFIG_FIELDS[field];
  return [
    `${indent}// ${info.doc}`,
    `${indent}// Allowed: ${info.allowed}. Environment: ${envVariableFor(field)}.`,
  ];
}

/** A value as JS source: strings in single quotes, everything else as JSON (which is valid JS). */
function literal(value: unknown): string {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return JSON.stringify(value);
}
