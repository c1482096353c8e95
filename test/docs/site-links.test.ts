/**
 * The built site's link check (scripts/check-site-links.mjs, run by `npm run docs` after typedoc): it finds a link
 * to a missing page and an anchor that is not there, and passes links that resolve, other sites' links, and anchors
 * of the page TypeDoc draws with a script.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, it } from 'node:test';
import { repoRoot, tempDir } from '../support/cluster.js';

type Check = (dir: string) => { checked: number; broken: { page: string; link: string; problem: string }[] };

describe('the site link check', () => {
  it('reports broken links and anchors, and only those', async () => {
    const { checkSiteLinks } = (await import(pathToFileURL(path.join(repoRoot(), 'scripts', 'check-site-links.mjs')).href)) as { checkSiteLinks: Check };
    const site = await tempDir('tsparallel-site-');
    try {
      await mkdir(path.join(site.dir, 'documents'));
      await writeFile(path.join(site.dir, 'hierarchy.html'), '<html><body><div id="tsd-hierarchy"></div></body></html>');
      await writeFile(path.join(site.dir, 'documents', 'guide.html'), '<html><body><h2 id="options">Options</h2><a href="../index.html#top">up</a></body></html>');
      await writeFile(
        path.join(site.dir, 'index.html'),
        [
          '<html><body id="top">',
          '<a href="documents/guide.html">ok</a> <a href="documents/guide.html#options">ok anchor</a> <a href="#top">same page</a>',
          '<a href="https://example.org/x.html">other site</a> <a href="mailto:a@b">mail</a> <img src="data:image/png;base64,AA">',
          '<a href="hierarchy.html#tsparallel.ClusterOptions">drawn by a script</a>',
          '<a href="documents/missing.html">missing page</a> <a href="documents/guide.html#nope">missing anchor</a>',
          '<a href="media/mpi-ssh.md">missing media</a> <a href="../../outside.html">outside</a>',
          '</body></html>',
        ].join('\n'),
      );
      const { checked, broken } = checkSiteLinks(site.dir);
      assert.equal(checked, 9);
      assert.deepEqual(
        broken.map((b) => [b.page, b.link, b.problem]),
        [
          ['index.html', 'documents/missing.html', `no file ${path.join('documents', 'missing.html')}`],
          ['index.html', 'documents/guide.html#nope', `no element #nope in ${path.join('documents', 'guide.html')}`],
          ['index.html', 'media/mpi-ssh.md', `no file ${path.join('media', 'mpi-ssh.md')}`],
          ['index.html', '../../outside.html', 'points outside the site'],
        ],
      );
    } finally {
      await site.remove();
    }
  });
});
