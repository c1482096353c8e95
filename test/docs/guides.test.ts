/**
 * The guides: the configuration reference is current with the schema, every guide is a page of the site, and every
 * relative link in the README and the guides points at a file that exists (and, for `#anchors` into Markdown, at a
 * heading that exists). The built site's own links are checked by `npm run docs` (scripts/check-site-links.mjs).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../support/cluster.js';
import { renderConfigReference } from '../support/config-reference.js';

const root = repoRoot();
const guides = path.join(root, 'docs', 'guides');

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as dashes. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const m of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    out.add(m[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-'));
  }
  return out;
}

describe('guides', () => {
  it('docs/guides/configuration.md is generated from the current config schema', async () => {
    const file = path.join(guides, 'configuration.md');
    const expected = renderConfigReference();
    if (process.env.TSPARALLEL_UPDATE_DOCS === '1') await writeFile(file, expected);
    const actual = await readFile(file, 'utf8').catch(() => '');
    assert.equal(actual, expected, `${file} is out of date: run the tests with TSPARALLEL_UPDATE_DOCS=1 to regenerate it`);
  });

  it('every guide is a page of the documentation site (a @document of the entry point)', async () => {
    const entry = await readFile(path.join(root, 'src', 'index.ts'), 'utf8');
    const documents = new Set([...entry.matchAll(/@document \.\.\/docs\/guides\/(\S+\.md)/g)].map((m) => m[1]!));
    const files = (await readdir(guides)).filter((f) => f.endsWith('.md'));
    assert.ok(files.length >= 9, `guides found: ${files.join(', ')}`);
    // A guide that is not a @document is copied into the site as a raw Markdown file, not rendered as a page.
    assert.deepEqual(files.filter((f) => !documents.has(f)), [], 'add `@document ../docs/guides/NAME.md` to the doc comment of src/index.ts');
    assert.deepEqual([...documents].filter((f) => !files.includes(f)), [], 'documents that do not exist');
  });

  it('every relative link in the README and the guides resolves', async () => {
    const files = [path.join(root, 'README.md'), ...(await readdir(guides)).filter((f) => f.endsWith('.md')).map((f) => path.join(guides, f))];
    const broken: string[] = [];
    let checked = 0;
    for (const file of files) {
      const text = (await readFile(file, 'utf8')).replace(/```[\s\S]*?```/g, '');
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target)) continue;
        checked++;
        const [rel, anchor] = target.split('#') as [string, string | undefined];
        const resolved = rel ? path.resolve(path.dirname(file), rel) : file;
        if (!existsSync(resolved)) {
          broken.push(`${path.relative(root, file)}: ${target} (no ${path.relative(root, resolved)})`);
        } else if (anchor && resolved.endsWith('.md') && !anchors(await readFile(resolved, 'utf8')).has(anchor)) {
          broken.push(`${path.relative(root, file)}: ${target} (no heading #${anchor})`);
        }
      }
    }
    assert.ok(checked > 10, `links were found (${checked})`);
    assert.deepEqual(broken, []);
  });
});
