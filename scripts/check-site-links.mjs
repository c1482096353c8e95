#!/usr/bin/env node
/**
 * Check the built documentation site (`npm run docs` runs this after typedoc): every relative `href` and `src` of
 * every page points at a file of the site, and every `#anchor` into a page at an element of it. TypeDoc's own checks
 * cover `{@link}`s; this covers what the HTML ends up holding (the guides' Markdown links included).
 *
 *   node scripts/check-site-links.mjs [DIR]     (default docs/api; exit code 1 and a list when a link is broken)
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Pages whose anchors a script fills in (TypeDoc's class hierarchy is drawn by assets/hierarchy.js). */
const SCRIPTED_ANCHORS = new Set(['hierarchy.html']);

const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", apos: "'" };

function unescapeHtml(text) {
  return text.replace(/&(amp|lt|gt|quot|#39|apos);/g, (_, e) => ENTITIES[e]);
}

function* pages(dir) {
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) yield* pages(file);
    else if (name.endsWith('.html')) yield file;
  }
}

/**
 * The broken links of the site in `dir`: `{ page, link, problem }` for each.
 * @param {string} dir
 * @returns {{ checked: number, broken: { page: string, link: string, problem: string }[] }}
 */
export function checkSiteLinks(dir) {
  const ids = new Map();
  const idsOf = (file) => {
    if (!ids.has(file)) ids.set(file, new Set([...readFileSync(file, 'utf8').matchAll(/\s(?:id|name)="([^"]+)"/g)].map((m) => unescapeHtml(m[1]))));
    return ids.get(file);
  };
  const broken = [];
  let checked = 0;
  for (const page of pages(dir)) {
    const html = readFileSync(page, 'utf8');
    for (const m of html.matchAll(/\s(?:href|src)="([^"]*)"/g)) {
      const link = unescapeHtml(m[1]);
      // Other sites, mail, scripts, and in-page JavaScript: not files of this site.
      if (/^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith('//')) continue;
      checked++;
      const [target, anchor] = link.split('#', 2);
      const file = target ? path.resolve(path.dirname(page), decodeURIComponent(target.split('?')[0])) : page;
      const where = path.relative(dir, page);
      if (!file.startsWith(path.resolve(dir) + path.sep) && file !== path.resolve(dir)) {
        broken.push({ page: where, link, problem: 'points outside the site' });
      } else if (!existsSync(file) || statSync(file).isDirectory()) {
        broken.push({ page: where, link, problem: `no file ${path.relative(dir, file)}` });
      } else if (anchor && file.endsWith('.html') && !SCRIPTED_ANCHORS.has(path.basename(file)) && !idsOf(file).has(decodeURIComponent(anchor))) {
        broken.push({ page: where, link, problem: `no element #${anchor} in ${path.relative(dir, file)}` });
      }
    }
  }
  return { checked, broken };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = path.resolve(process.argv[2] ?? 'docs/api');
  if (!existsSync(path.join(dir, 'index.html'))) {
    process.stderr.write(`check-site-links: no site in ${dir} (index.html is missing); build it with npm run docs\n`);
    process.exit(2);
  }
  const { checked, broken } = checkSiteLinks(dir);
  for (const b of broken) process.stderr.write(`broken link in ${b.page}: ${b.link} (${b.problem})\n`);
  if (broken.length) {
    process.stderr.write(`check-site-links: ${broken.length} of ${checked} links in ${dir} are broken\n`);
    process.exit(1);
  }
  process.stdout.write(`check-site-links: ${checked} links in ${dir}, none broken\n`);
}
