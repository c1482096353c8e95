/**
 * The job-script template renderer shared by every batch scheduler, and the walltime helper.
 *
 * A template is the text of a job script (or an HTCondor submit description) with `{name}` variables: `{n}`,
 * `{queue}`, `{walltime}`, `{profileDir}`, `{clusterId}`, `{command}`, plus the user's `vars`. `{{` and `}}` give
 * literal braces. A `{` right after `$` never starts a variable, so shell parameter expansion (`${HOME}`,
 * `${PBS_ARRAY_INDEX:-0}`) and HTCondor macros (`$(Cluster)`) are written as usual.
 * @module
 */
import { z } from 'zod';
import { ConfigError } from '../../core/errors.js';

/** The variables every template may use, whatever the scheduler. */
export const TEMPLATE_VARIABLES = ['n', 'queue', 'walltime', 'profileDir', 'clusterId', 'command'] as const;

/** The name of a built-in template variable. */
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

/** The values a template is rendered with: the built-in variables (all strings) and the user's `vars`. */
export type TemplateValues = Readonly<Partial<Record<TemplateVariable, string | number>>> & Readonly<Record<string, string | number | undefined>>;

/**
 * Render `template`, replacing each `{name}` by its value. `{{` and `}}` are literal braces; `${…}` (shell
 * parameter expansion) is left alone. A variable with no value (unknown, or known but unset) is a
 * {@link ConfigError} naming it and the variables that are known.
 * @param where Where the template came from, for the error message (e.g. `launchers.pbs.template`).
 * @example
 * ```ts
 * renderTemplate('#PBS -J 1-{n}\n{command}\n', { n: 4, command: 'tsengine --x' });
 * // '#PBS -J 1-4\ntsengine --x\n'
 * ```
 */
export function renderTemplate(template: string, values: TemplateValues, where = 'the job script template'): string {
  return template.replace(/\{\{|\}\}|(\$)?\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (match, dollar: string | undefined, name: string | undefined) => {
    if (match === '{{') return '{';
    if (match === '}}') return '}';
    if (dollar) return match; // ${NAME}: the shell's, not ours
    const value = values[name!];
    if (value === undefined) {
      const known = Object.keys(values).filter((k) => values[k] !== undefined).sort();
      const unset = TEMPLATE_VARIABLES.filter((k) => values[k] === undefined);
      throw new ConfigError(
        `${where} uses the variable {${name}}, which has no value. Known variables: ${known.map((k) => `{${k}}`).join(', ')}` +
          (unset.includes(name as TemplateVariable)
            ? ` ({${name}} is built in but has no value for this launcher: set the option it comes from, e.g. queue or walltime)`
            : `; add it to the launcher's vars, e.g. vars: { ${name}: '…' }, or write {{${name}}} for literal braces`),
      );
    }
    return String(value);
  });
}

/**
 * Parse a walltime: a number of seconds, or a string `'[[D-]H:]M:S'` (`'1:30:00'`, `'2-00:00:00'`), or a number with
 * a unit (`'90m'`, `'2h'`, `'45s'`, `'1d'`, `'1h30m'`). Resolves to whole seconds.
 * @throws ConfigError when the value is none of these, naming `where`.
 */
export function parseWalltime(value: string | number, where = 'walltime'): number {
  const bad = () =>
    new ConfigError(
      `${where} '${value}' is not a walltime: use seconds (5400), 'H:MM:SS' ('1:30:00'), 'D-HH:MM:SS', or units ('90m', '1h30m', '2h', '1d')`,
    );
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value <= 0) throw bad();
    return Math.ceil(value);
  }
  const s = value.trim();
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n <= 0) throw bad();
    return n;
  }
  const clock = /^(?:(\d+)-)?(?:(?:(\d+):)?(\d+):)?(\d+)$/.exec(s);
  if (clock && s.includes(':')) {
    const [, d = '0', h = '0', m = '0', sec = '0'] = clock;
    if (Number(m) >= 60 && h !== '0') throw bad();
    if (Number(sec) >= 60) throw bad();
    const total = ((Number(d) * 24 + Number(h)) * 60 + Number(m)) * 60 + Number(sec);
    if (total <= 0) throw bad();
    return total;
  }
  const units = /^(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m(?:in)?)?\s*(?:(\d+)s)?$/i.exec(s);
  if (units && s !== '') {
    const [, d = '0', h = '0', m = '0', sec = '0'] = units;
    const total = ((Number(d) * 24 + Number(h)) * 60 + Number(m)) * 60 + Number(sec);
    if (total <= 0) throw bad();
    return total;
  }
  throw bad();
}

/**
 * How a scheduler writes a walltime:
 * - `hms`: `HH:MM:SS`, hours past 24 allowed (PBS `walltime=`, SGE `h_rt=`);
 * - `slurm`: `HH:MM:SS`, or `D-HH:MM:SS` from one day (`sbatch --time`);
 * - `lsf`: `H:MM`, minutes rounded up (`bsub -W`);
 * - `seconds`: a whole number of seconds (HTCondor).
 */
export type WalltimeFormat = 'hms' | 'slurm' | 'lsf' | 'seconds';

/** Write `seconds` the way a scheduler reads it (see {@link WalltimeFormat}). */
export function formatWalltime(seconds: number, format: WalltimeFormat): string {
  const total = Math.ceil(seconds);
  const two = (x: number) => String(x).padStart(2, '0');
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  switch (format) {
    case 'hms':
      return `${two(h)}:${two(m)}:${two(s)}`;
    case 'slurm':
      return h >= 24 ? `${Math.floor(h / 24)}-${two(h % 24)}:${two(m)}:${two(s)}` : `${two(h)}:${two(m)}:${two(s)}`;
    case 'lsf': {
      const minutes = Math.ceil(total / 60);
      return `${Math.floor(minutes / 60)}:${two(minutes % 60)}`;
    }
    case 'seconds':
      return String(total);
  }
}

/**
 * Quote one word for a POSIX shell (`sh`, `bash`): left bare when it is only safe characters, else in single quotes
 * (a `'` inside becomes `'\''`).
 */
export function shellQuote(word: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A command line for a POSIX shell: each word quoted with {@link shellQuote}. */
export function shellCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * `export NAME=value` lines for a POSIX shell script, one per variable, sorted by name.
 * @throws ConfigError for a name that is not a valid shell variable name.
 */
export function shellExports(env: Readonly<Record<string, string>>): string {
  return Object.keys(env)
    .sort()
    .map((name) => {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
        throw new ConfigError(`environment variable name '${name}' cannot be exported by a job script: use letters, digits and _ only`);
      }
      return `export ${name}=${shellQuote(env[name]!)}\n`;
    })
    .join('');
}

/** Escape text for use inside a template: `{` and `}` doubled, so rendering gives the text back unchanged. */
export function templateLiteral(text: string): string {
  return text.replace(/[{}]/g, (c) => c + c);
}

/** A walltime as config gives it (seconds, `'1:30:00'`, `'90m'`), parsed to seconds. */
export const walltimeOption = z.union([z.number().positive(), z.string().min(1)]).transform((value, ctx) => {
  try {
    return parseWalltime(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});
