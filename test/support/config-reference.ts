/**
 * The configuration reference page (docs/guides/configuration.md), generated from the config schema's documented
 * fields and the defaults, so it cannot drift from what is accepted. test/docs/guides.test.ts checks the committed
 * page is current; `TSPARALLEL_UPDATE_DOCS=1` makes it rewrite the page.
 */
import { defaultConfig } from '../../src/config/index.js';
import { CONFIG_FIELD_PATHS, CONFIG_FIELDS, envVariableFor } from '../../src/config/schema.js';

/** The page's Markdown. */
export function renderConfigReference(): string {
  const defaults = defaultConfig();
  const valueAt = (path: string): unknown => path.split('.').reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], defaults);
  const lines = [
    '# Configuration reference',
    '',
    '<!-- Generated from src/config/schema.ts by test/support/config-reference.ts: do not edit by hand;',
    '     run the tests with TSPARALLEL_UPDATE_DOCS=1 to rewrite it. -->',
    '',
    'Every option, its default and its environment variable. Layers, later winning: defaults < the profile\'s',
    '`tsparallel.config.mjs` < the project\'s `tsparallel.config.*` (or `.tsparallelrc*`, or `"tsparallel"` in',
    'package.json) < `TSPARALLEL_*` variables < command-line flags or `createCluster()` options. `tscluster config show`',
    'prints the merged result and where each value came from.',
    '',
    '| option | default | environment variable |',
    '| --- | --- | --- |',
  ];
  const shown = (path: (typeof CONFIG_FIELD_PATHS)[number]) => CONFIG_FIELDS[path].defaultText ?? '`' + JSON.stringify(valueAt(path)) + '`';
  for (const path of CONFIG_FIELD_PATHS) lines.push(`| [\`${path}\`](#${path.replace(/\./g, '').toLowerCase()}) | ${shown(path)} | \`${envVariableFor(path)}\` |`);
  for (const path of CONFIG_FIELD_PATHS) {
    const info = CONFIG_FIELDS[path];
    lines.push('', `## ${path}`, '', info.doc, '', `- Allowed: ${info.allowed}`, `- Default: ${shown(path)}`, `- Environment: \`${envVariableFor(path)}\` (read as ${info.envKind === 'json' ? 'JSON' : info.envKind === 'list' ? 'a comma-separated list or a JSON array' : info.envKind === 'integer' ? 'an integer' : 'text'})`);
  }
  return lines.join('\n') + '\n';
}
