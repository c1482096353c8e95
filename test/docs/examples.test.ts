/**
 * The examples in the client's doc comments (they are in the generated API docs) type-check against the package's
 * public types: each fenced ```ts block of src/client/ is compiled, strict, in a function of its own, after a prelude
 * that declares the names the examples take as given (`client`, `lb`, `f`, …).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { distEntry, repoRoot } from '../support/cluster.js';

const root = repoRoot();

/** The fenced ```ts blocks of a source file's doc comments, with the line each starts on. */
function examples(source: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  for (const m of source.matchAll(/^\s*\* ```ts\n((?:\s*\*.*\n)*?)\s*\* ```$/gm)) {
    const code = m[1]!.split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n');
    out.push({ line: source.slice(0, m.index).split('\n').length + 1, code });
  }
  return out;
}

describe('doc comment examples', () => {
  it("every fenced example of src/client/ type-checks against the package's types", { timeout: 120_000 }, async () => {
    const dir = path.join(root, 'src', 'client');
    const blocks: { where: string; code: string }[] = [];
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.ts')).sort()) {
      for (const e of examples(await readFile(path.join(dir, file), 'utf8'))) blocks.push({ where: `src/client/${file}:${e.line}`, code: e.code });
    }
    assert.ok(blocks.length >= 6, `examples found: ${blocks.map((b) => b.where).join(', ')}`);
    assert.ok(blocks.some((b) => b.code.includes('client.getResult(')), 'the example of Client.getResult is among them');
    const prelude = [
      `import { Client, range, type DirectView, type LoadBalancedView } from ${JSON.stringify(distEntry())};`,
      'declare const client: Client;',
      'declare const view: DirectView;',
      'declare const lb: LoadBalancedView;',
      'declare const lview: LoadBalancedView;',
      'declare const f: (x: number) => number;',
      'declare const heavy: (x: number) => number;',
      'declare const inputs: number[];',
      'declare const x: number;',
      'declare const words: string[];',
      'declare let total: number;',
      'void Client; void range;',
    ];
    const lines = [...prelude];
    const starts: { line: number; where: string }[] = [];
    blocks.forEach((b, i) => {
      starts.push({ line: lines.length + 1, where: b.where });
      lines.push(`export async function example${i}(): Promise<void> {`, ...b.code.split('\n'), '}');
    });
    const tmp = await mkdtemp(path.join(tmpdir(), 'tsparallel-examples-'));
    try {
      const file = path.join(tmp, 'examples.ts');
      await writeFile(file, lines.join('\n'));
      const program = ts.createProgram([file], {
        strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, lib: ['lib.es2022.d.ts', 'lib.esnext.disposable.d.ts'],
        module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, skipLibCheck: true,
        types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')],
      });
      const problems = ts.getPreEmitDiagnostics(program).map((d) => {
        const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
        if (!d.file || d.start === undefined) return text;
        const line = d.file.getLineAndCharacterOfPosition(d.start).line + 1;
        const block = [...starts].reverse().find((s) => s.line <= line);
        return `${block ? `${block.where} (example line ${line - block.line})` : `prelude line ${line}`}: ${text}`;
      });
      assert.deepEqual(problems, []);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
