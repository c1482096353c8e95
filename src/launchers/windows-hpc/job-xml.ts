/**
 * Windows HPC Pack 2008 job files: build the job XML that `job submit /jobfile:` and HPC Job Manager accept from a
 * {@link JobDescription}, and read such a file back (the in-process scheduler and the test simulator run them).
 *
 * The format is the documented HPC Pack 2008 job schema (namespace {@link HPC_JOB_NAMESPACE}): a `Job` element whose
 * attributes are the job's terms (`Name`, `UnitType`, `MinCores`, `Priority`, `RunUntilCanceled`, …), an empty
 * `Dependencies` element, and `Tasks` holding one `Task` per command (`CommandLine`, `WorkDirectory`,
 * `StdOutFilePath`, …) with its `EnvironmentVariables`. Command lines are quoted by the Windows rules of
 * {@link quoteWindowsCommandLine}.
 * @module
 */
import { z } from 'zod';
import { SchedulerError } from '../../core/errors.js';
import type { JobDescription, JobTask } from '../../core/scheduler.js';
import { parseWindowsCommandLine, quoteWindowsCommandLine } from './cmdline.js';

/** The XML namespace of HPC Pack 2008 job files. */
export const HPC_JOB_NAMESPACE = 'http://schemas.microsoft.com/HPCS2008/scheduler/';

/** The namespace HPC Pack 2008 R2 writes; accepted when reading, never written. */
const HPC_JOB_NAMESPACE_R2 = 'http://schemas.microsoft.com/HPCS2008R2/scheduler/';

/** The schema version written into the `Version` attribute (HPC Pack 2008 is version 2). */
const HPC_SCHEMA_VERSION = '2.000';

/** The priorities HPC Pack 2008 knows, lowest first. */
export const HPC_JOB_PRIORITIES = ['Lowest', 'BelowNormal', 'Normal', 'AboveNormal', 'Highest'] as const;
/** A job priority of HPC Pack 2008. */
export type HpcJobPriority = (typeof HPC_JOB_PRIORITIES)[number];

/** How HPC Pack counts the resources a job asks for. */
export const HPC_UNIT_TYPES = ['Core', 'Socket', 'Node'] as const;
/** A resource unit of HPC Pack 2008. */
export type HpcUnitType = (typeof HPC_UNIT_TYPES)[number];

/** The states of an HPC Pack 2008 job, as the scheduler spells them. */
export const HPC_JOB_STATES = [
  'Configuring',
  'Submitted',
  'Validating',
  'ExternalValidation',
  'Queued',
  'Running',
  'Finishing',
  'Finished',
  'Failed',
  'Canceled',
  'Canceling',
] as const;
/** A job state of HPC Pack 2008. */
export type HpcJobState = (typeof HPC_JOB_STATES)[number];

const positiveInt = z.number().int().positive();

/**
 * The zod schema of {@link HpcJobSettings}: the Windows HPC terms a {@link JobDescription} may carry in `extra`.
 * Unknown keys are ignored (the same `extra` may carry other schedulers' settings).
 */
export const hpcJobSettingsSchema = z.object({
  /** `Priority`: the job's priority in the queue. */
  priority: z.enum(HPC_JOB_PRIORITIES).optional(),
  /** `UnitType`: what the resource counts are in (default `Core`). */
  unitType: z.enum(HPC_UNIT_TYPES).optional(),
  /** `MinCores`: the fewest cores the job runs on. */
  minCores: positiveInt.optional(),
  /** `MaxCores`: the most cores the job uses. */
  maxCores: positiveInt.optional(),
  /** `MinSockets`: the fewest sockets. */
  minSockets: positiveInt.optional(),
  /** `MaxSockets`: the most sockets. */
  maxSockets: positiveInt.optional(),
  /** `MinNodes`: the fewest nodes. */
  minNodes: positiveInt.optional(),
  /** `MaxNodes`: the most nodes. */
  maxNodes: positiveInt.optional(),
  /** `RuntimeSeconds`: the job's run-time limit. */
  runtimeSeconds: positiveInt.optional(),
  /** `Project`: the project the job is accounted to. */
  project: z.string().optional(),
  /** `JobTemplate`: the template the job is submitted under. */
  jobTemplate: z.string().optional(),
  /** `NodeGroups`: the node groups the job may run on. */
  nodeGroups: z.array(z.string().min(1)).optional(),
  /** `RequestedNodes`: the nodes the job may run on. */
  requestedNodes: z.array(z.string().min(1)).optional(),
  /** `FailOnTaskFailure`: fail the job as soon as one task fails. */
  failOnTaskFailure: z.boolean().optional(),
});

/**
 * Windows HPC job terms, passed in {@link JobDescription.extra}. Each maps to the job attribute of the same name
 * (`Priority`, `UnitType`, `MinCores`, …, `RuntimeSeconds`, `Project`, `JobTemplate`; lists are joined with `;`).
 * When no minimum and maximum are given for the unit type, both default to what the tasks need (the sum of their
 * cores for `Core`, 1 otherwise).
 */
export type HpcJobSettings = z.infer<typeof hpcJobSettingsSchema>;

/** What {@link parseJobXml} reads from a job file. */
export interface ParsedHpcJob {
  /** The job, with each task's command split back into an argument vector. */
  job: JobDescription;
  /** The Windows HPC terms of the job. */
  settings: HpcJobSettings;
  /** Each task's `CommandLine`, exactly as written in the file. */
  commandLines: string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

/** Characters XML 1.0 cannot carry at all, even as character references. */
const XML_FORBIDDEN = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function checkXmlText(value: string, what: string): void {
  const bad = XML_FORBIDDEN.exec(value);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).padStart(4, '0');
    throw new SchedulerError(
      `${what} holds the character U+${code}, which an XML job file cannot carry; remove it from the value`,
    );
  }
}

/** Escape an attribute value. Tabs and line breaks become character references: a parser would turn them to spaces. */
function escapeAttribute(value: string, what: string): string {
  checkXmlText(value, what);
  return value.replace(/[&<>"\t\n\r]/g, (ch) => {
    switch (ch) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      default:
        return `&#${ch.charCodeAt(0)};`;
    }
  });
}

function escapeText(value: string, what: string): string {
  checkXmlText(value, what);
  return value.replace(/[&<>\r]/g, (ch) => (ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : ch === '>' ? '&gt;' : '&#13;'));
}

type AttributeValue = string | number | boolean | undefined;

function attributes(pairs: readonly (readonly [string, AttributeValue])[], what: string): string {
  return pairs
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${escapeAttribute(String(v), `${what} attribute ${k}`)}"`)
    .join('');
}

/**
 * Read the Windows HPC terms from a job's `extra`.
 * @throws SchedulerError naming the setting when one has a value HPC Pack does not accept.
 */
export function hpcJobSettings(extra: JobDescription['extra']): HpcJobSettings {
  const parsed = hpcJobSettingsSchema.safeParse(extra ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(extra)'}: ${i.message}`).join('; ');
    throw new SchedulerError(`bad Windows HPC job setting: ${problems}`);
  }
  return parsed.data;
}

/** The resource range of a job: explicit settings win, else what its tasks need. */
function resourceRange(job: JobDescription, settings: HpcJobSettings): Array<readonly [string, AttributeValue]> {
  const unit = settings.unitType ?? 'Core';
  const needed = unit === 'Core' ? job.tasks.reduce((sum, t) => sum + (t.cores ?? 1), 0) : 1;
  const pick = (min: number | undefined, max: number | undefined, isUnit: boolean) => {
    if (!isUnit) return [min, max] as const;
    const lo = min ?? (max !== undefined ? Math.min(needed, max) : needed);
    return [lo, max ?? Math.max(lo, needed)] as const;
  };
  const [minCores, maxCores] = pick(settings.minCores, settings.maxCores, unit === 'Core');
  const [minSockets, maxSockets] = pick(settings.minSockets, settings.maxSockets, unit === 'Socket');
  const [minNodes, maxNodes] = pick(settings.minNodes, settings.maxNodes, unit === 'Node');
  return [
    ['MinCores', minCores],
    ['MaxCores', maxCores],
    ['MinSockets', minSockets],
    ['MaxSockets', maxSockets],
    ['MinNodes', minNodes],
    ['MaxNodes', maxNodes],
  ];
}

function taskXml(task: JobTask, index: number, unit: HpcUnitType): string {
  const what = `task ${index + 1}`;
  if (task.command.length === 0) throw new SchedulerError(`${what} of the job has an empty command`);
  // A task's cores only mean something when the job counts cores; otherwise the job's unit decides.
  const cores = unit === 'Core' ? (task.cores ?? 1) : undefined;
  const attrs = attributes(
    [
      ['Name', task.name],
      ['CommandLine', quoteWindowsCommandLine(task.command)],
      ['WorkDirectory', task.workDirectory],
      ['StdOutFilePath', task.stdoutPath],
      ['StdErrFilePath', task.stderrPath],
      ['MinCores', cores],
      ['MaxCores', cores],
    ],
    what,
  );
  const env = Object.entries(task.environment ?? {});
  if (env.length === 0) return `    <Task${attrs} />\n`;
  const vars = env
    .map(
      ([name, value]) =>
        `        <Variable>\n` +
        `          <Name>${escapeText(name, `${what} variable name`)}</Name>\n` +
        `          <Value>${escapeText(value, `${what} variable ${name}`)}</Value>\n` +
        `        </Variable>\n`,
    )
    .join('');
  return `    <Task${attrs}>\n      <EnvironmentVariables>\n${vars}      </EnvironmentVariables>\n    </Task>\n`;
}

/**
 * Build the HPC Pack 2008 job XML of a job. Windows HPC terms come from `settings` (by default, read from
 * `job.extra` by {@link hpcJobSettings}).
 * @throws SchedulerError when a task has no command, a value holds a character XML cannot carry, or a setting is bad.
 * @example
 * ```ts
 * const xml = buildJobXml({ name: 'tsparallel-engines', tasks: [{ command: ['node', 'tsengine.js'] }] });
 * await writeFile(path.join(profileDir, 'ipengineset_job.xml'), xml);
 * ```
 */
export function buildJobXml(job: JobDescription, settings: HpcJobSettings = hpcJobSettings(job.extra)): string {
  const list = (items: readonly string[] | undefined) => (items && items.length ? items.join(';') : undefined);
  const jobAttrs = attributes(
    [
      ['Version', HPC_SCHEMA_VERSION],
      ['Name', job.name],
      ['UnitType', settings.unitType ?? 'Core'],
      ...resourceRange(job, settings),
      ['IsExclusive', job.exclusive ?? false],
      ['RunUntilCanceled', job.runUntilCanceled ?? false],
      ['Priority', settings.priority],
      ['RuntimeSeconds', settings.runtimeSeconds],
      ['Project', settings.project],
      ['JobTemplate', settings.jobTemplate],
      ['NodeGroups', list(settings.nodeGroups)],
      ['RequestedNodes', list(settings.requestedNodes)],
      ['FailOnTaskFailure', settings.failOnTaskFailure],
    ],
    'job',
  );
  return (
    `<?xml version="1.0" encoding="utf-8"?>\n` +
    `<Job xmlns="${HPC_JOB_NAMESPACE}"${jobAttrs}>\n` +
    `  <Dependencies />\n` +
    (job.tasks.length ? `  <Tasks>\n${job.tasks.map((t, i) => taskXml(t, i, settings.unitType ?? 'Core')).join('')}  </Tasks>\n` : `  <Tasks />\n`) +
    `</Job>\n`
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Reading: a small, non-validating XML reader, enough for job files (no DTDs, no external entities by design).

/** An element of a parsed XML document. */
interface XmlElement {
  /** The local name (without prefix). */
  name: string;
  /** The namespace URI, if any. */
  namespace: string | undefined;
  /** Attributes by local name (namespace declarations excluded). */
  attributes: Map<string, string>;
  children: XmlElement[];
  /** The element's own text (character data directly inside it). */
  text: string;
}

function xmlError(message: string): SchedulerError {
  return new SchedulerError(`job file is not well-formed XML: ${message}`);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeReferences(raw: string, at: number): string {
  return raw.replace(/&([^;&\s]*);?/g, (whole, ref: string) => {
    if (!whole.endsWith(';')) throw xmlError(`unterminated reference '${whole}' near offset ${at}`);
    if (ref.startsWith('#')) {
      const code = ref[1] === 'x' ? Number.parseInt(ref.slice(2), 16) : Number.parseInt(ref.slice(1), 10);
      if (!Number.isFinite(code) || code < 0 || code > 0x10ffff) throw xmlError(`bad character reference '${whole}'`);
      return String.fromCodePoint(code);
    }
    const value = ENTITIES[ref];
    if (value === undefined) throw xmlError(`unknown entity '${whole}' near offset ${at}`);
    return value;
  });
}

const NAME = /[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?/y;

function parseXml(source: string): XmlElement {
  const text = source.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  let pos = 0;
  const stack: { el: XmlElement; qname: string; scope: Map<string, string> }[] = [];
  let root: XmlElement | undefined;

  const readName = (): string => {
    NAME.lastIndex = pos;
    const m = NAME.exec(text);
    if (!m) throw xmlError(`expected a name at offset ${pos}`);
    pos = NAME.lastIndex;
    return m[0];
  };
  const skipSpace = () => {
    while (pos < text.length && /\s/.test(text[pos]!)) pos++;
  };

  while (pos < text.length) {
    if (text.startsWith('<?', pos)) {
      const end = text.indexOf('?>', pos);
      if (end < 0) throw xmlError('unterminated processing instruction');
      pos = end + 2;
    } else if (text.startsWith('<!--', pos)) {
      const end = text.indexOf('-->', pos);
      if (end < 0) throw xmlError('unterminated comment');
      pos = end + 3;
    } else if (text.startsWith('<![CDATA[', pos)) {
      const end = text.indexOf(']]>', pos);
      if (end < 0) throw xmlError('unterminated CDATA section');
      const top = stack.at(-1);
      if (!top) throw xmlError('character data outside the root element');
      top.el.text += text.slice(pos + 9, end);
      pos = end + 3;
    } else if (text.startsWith('<!', pos)) {
      throw xmlError('document type declarations are not accepted in job files');
    } else if (text.startsWith('</', pos)) {
      pos += 2;
      const qname = readName();
      skipSpace();
      if (text[pos] !== '>') throw xmlError(`expected '>' at offset ${pos}`);
      pos++;
      const top = stack.pop();
      if (!top || top.qname !== qname) throw xmlError(`unexpected </${qname}> at offset ${pos}`);
    } else if (text[pos] === '<') {
      pos++;
      const qname = readName();
      const rawAttrs: [string, string][] = [];
      for (;;) {
        skipSpace();
        if (text.startsWith('/>', pos) || text[pos] === '>') break;
        const attrName = readName();
        skipSpace();
        if (text[pos] !== '=') throw xmlError(`expected '=' after attribute ${attrName}`);
        pos++;
        skipSpace();
        const quote = text[pos];
        if (quote !== '"' && quote !== "'") throw xmlError(`attribute ${attrName} value is not quoted`);
        const end = text.indexOf(quote, pos + 1);
        if (end < 0) throw xmlError(`unterminated value of attribute ${attrName}`);
        const raw = text.slice(pos + 1, end);
        if (raw.includes('<')) throw xmlError(`'<' in the value of attribute ${attrName}`);
        // Attribute-value normalization: literal whitespace becomes a space; references keep theirs.
        rawAttrs.push([attrName, decodeReferences(raw.replace(/[\t\n]/g, ' '), pos)]);
        pos = end + 1;
      }
      const selfClosing = text.startsWith('/>', pos);
      pos += selfClosing ? 2 : 1;

      const scope = new Map(stack.at(-1)?.scope ?? []);
      const attrs = new Map<string, string>();
      for (const [name, value] of rawAttrs) {
        if (name === 'xmlns') scope.set('', value);
        else if (name.startsWith('xmlns:')) scope.set(name.slice(6), value);
      }
      for (const [name, value] of rawAttrs) {
        if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
        const local = name.includes(':') ? name.slice(name.indexOf(':') + 1) : name;
        if (attrs.has(local)) throw xmlError(`attribute ${local} appears twice on <${qname}>`);
        attrs.set(local, value);
      }
      const colon = qname.indexOf(':');
      const prefix = colon < 0 ? '' : qname.slice(0, colon);
      const el: XmlElement = {
        name: colon < 0 ? qname : qname.slice(colon + 1),
        namespace: scope.get(prefix) || undefined,
        attributes: attrs,
        children: [],
        text: '',
      };
      const parent = stack.at(-1);
      if (parent) parent.el.children.push(el);
      else if (root) throw xmlError('more than one root element');
      else root = el;
      if (!selfClosing) stack.push({ el, qname, scope });
    } else {
      const next = text.indexOf('<', pos);
      const end = next < 0 ? text.length : next;
      const chunk = text.slice(pos, end);
      const top = stack.at(-1);
      if (top) top.el.text += decodeReferences(chunk, pos);
      else if (chunk.trim()) throw xmlError('character data outside the root element');
      pos = end;
    }
  }
  if (stack.length) throw xmlError(`<${stack.at(-1)!.qname}> is not closed`);
  if (!root) throw xmlError('no root element');
  return root;
}

function intAttr(el: XmlElement, name: string): number | undefined {
  const raw = el.attributes.get(name);
  if (raw === undefined) return undefined;
  const value = Number(raw.trim());
  if (!Number.isInteger(value)) throw new SchedulerError(`job file: ${el.name} attribute ${name}='${raw}' is not an integer`);
  return value;
}

function boolAttr(el: XmlElement, name: string): boolean | undefined {
  const raw = el.attributes.get(name)?.trim();
  if (raw === undefined) return undefined;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new SchedulerError(`job file: ${el.name} attribute ${name}='${raw}' is not a boolean (true or false)`);
}

function oneOf<T extends string>(el: XmlElement, name: string, allowed: readonly T[]): T | undefined {
  const raw = el.attributes.get(name)?.trim();
  if (raw === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new SchedulerError(`job file: ${el.name} attribute ${name}='${raw}' is not one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

function children(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

/**
 * Read an HPC Pack 2008 job file back into a {@link JobDescription} (plus its Windows HPC terms and the raw
 * command lines). Each task's `CommandLine` is split by the Windows rules of {@link parseWindowsCommandLine}.
 * This reads; it does not validate against the schema (the test simulator validates with the XSD).
 * @throws SchedulerError when the text is not well-formed XML, is not an HPC Pack 2008 job, or a value is malformed.
 */
export function parseJobXml(xml: string): ParsedHpcJob {
  const root = parseXml(xml);
  if (root.name !== 'Job' || (root.namespace !== HPC_JOB_NAMESPACE && root.namespace !== HPC_JOB_NAMESPACE_R2)) {
    throw new SchedulerError(
      `job file: the root element is <${root.name}> in namespace '${root.namespace ?? ''}'; ` +
        `an HPC Pack 2008 job file has <Job xmlns="${HPC_JOB_NAMESPACE}">`,
    );
  }
  const split = (raw: string | undefined) =>
    raw
      ?.split(';')
      .map((s) => s.trim())
      .filter(Boolean);
  const settings: HpcJobSettings = {};
  const put = <K extends keyof HpcJobSettings>(key: K, value: HpcJobSettings[K] | undefined) => {
    if (value !== undefined) settings[key] = value;
  };
  put('priority', oneOf(root, 'Priority', HPC_JOB_PRIORITIES));
  put('unitType', oneOf(root, 'UnitType', HPC_UNIT_TYPES));
  put('minCores', intAttr(root, 'MinCores'));
  put('maxCores', intAttr(root, 'MaxCores'));
  put('minSockets', intAttr(root, 'MinSockets'));
  put('maxSockets', intAttr(root, 'MaxSockets'));
  put('minNodes', intAttr(root, 'MinNodes'));
  put('maxNodes', intAttr(root, 'MaxNodes'));
  put('runtimeSeconds', intAttr(root, 'RuntimeSeconds'));
  put('project', root.attributes.get('Project'));
  put('jobTemplate', root.attributes.get('JobTemplate'));
  put('nodeGroups', split(root.attributes.get('NodeGroups')));
  put('requestedNodes', split(root.attributes.get('RequestedNodes')));
  put('failOnTaskFailure', boolAttr(root, 'FailOnTaskFailure'));

  const commandLines: string[] = [];
  const tasks: JobTask[] = [];
  const taskElements = children(root, 'Tasks').flatMap((t) => children(t, 'Task'));
  for (const [i, el] of taskElements.entries()) {
    const commandLine = el.attributes.get('CommandLine');
    if (commandLine === undefined || !commandLine.trim()) {
      throw new SchedulerError(`job file: task ${i + 1} has no CommandLine`);
    }
    commandLines.push(commandLine);
    const environment: Record<string, string> = {};
    for (const variable of children(el, 'EnvironmentVariables').flatMap((e) => children(e, 'Variable'))) {
      const name = children(variable, 'Name')[0]?.text;
      if (!name) throw new SchedulerError(`job file: task ${i + 1} has an environment variable without a Name`);
      environment[name] = children(variable, 'Value')[0]?.text ?? '';
    }
    const task: JobTask = {
      command: parseWindowsCommandLine(commandLine),
      ...(el.attributes.has('Name') && { name: el.attributes.get('Name') }),
      ...(el.attributes.has('WorkDirectory') && { workDirectory: el.attributes.get('WorkDirectory') }),
      ...(el.attributes.has('StdOutFilePath') && { stdoutPath: el.attributes.get('StdOutFilePath') }),
      ...(el.attributes.has('StdErrFilePath') && { stderrPath: el.attributes.get('StdErrFilePath') }),
      ...(Object.keys(environment).length && { environment }),
      ...(el.attributes.has('MinCores') && { cores: intAttr(el, 'MinCores') }),
    };
    tasks.push(task);
  }
  const job: JobDescription = {
    name: root.attributes.get('Name') ?? '',
    tasks,
    exclusive: boolAttr(root, 'IsExclusive') ?? false,
    runUntilCanceled: boolAttr(root, 'RunUntilCanceled') ?? false,
    extra: settings,
  };
  return { job, settings, commandLines };
}
