/**
 * The engine's namespace without an engine process: names persist between calls, functions sent as source see them,
 * output is captured per piece of work, and two isolated namespaces do not share globals.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GlobalNamespace, IsolatedNamespace } from '../../src/engine/namespace.js';

/** A function as esbuild's keepNames (tsx) compiles it: named local functions and classes get `__name` calls. */
const KEPT_NAMES = `(x) => {
  const sq = /* @__PURE__ */ __name((y) => y * y, "sq");
  class Point {
    static {
      __name(this, "Point");
    }
  }
  function twice(y) { return 2 * y; }
  __name(twice, "twice");
  return [sq(x) + twice(x), sq.name, Point.name, twice.name];
}`;

describe('IsolatedNamespace', () => {
  it('keeps pushed names and execute declarations for later functions', async () => {
    const ns = new IsolatedNamespace();
    ns.set('a', 20);
    await ns.execute('var b = a + 1; globalThis.c = b * 2');
    assert.equal(ns.compile('() => a + b + c')(), 20 + 21 + 42);
    assert.equal(ns.get('c'), 42);
    // The namespace's own realm throws it, so it is a ReferenceError by name, not by this realm's prototype.
    assert.throws(() => ns.get('missing'), (e: unknown) => (e as Error).name === 'ReferenceError');
  });

  it('compiles method shorthand, and the same source once', () => {
    const ns = new IsolatedNamespace();
    const f = ns.compile('twice(x) { return x * 2; }');
    assert.equal(f(4), 8);
    assert.equal(ns.compile('twice(x) { return x * 2; }'), f);
  });

  it('execute resolves to the completion value, and supports top-level await', async () => {
    const ns = new IsolatedNamespace();
    assert.equal(await ns.execute('var v = 5; v * 3'), 15);
    await ns.execute('globalThis.w = await Promise.resolve(7)');
    assert.equal(ns.get('w'), 7);
  });

  it('captures what each piece of work prints, and its failure', async () => {
    const ns = new IsolatedNamespace();
    const ok = await ns.capture(async () => ns.compile('() => { console.log("out"); console.error("err"); return 1; }')());
    assert.deepEqual(ok, { value: 1, failed: false, stdout: 'out\n', stderr: 'err\n' });
    const bad = await ns.capture(async () => ns.compile('() => { console.log("before"); throw new Error("no"); }')());
    assert.equal(bad.failed, true);
    assert.equal((bad.error as Error).message, 'no');
    assert.equal(bad.stdout, 'before\n');
  });

  it('runs functions compiled with esbuild\'s keepNames (tsx): __name sets the name and returns the target', () => {
    const ns = new IsolatedNamespace();
    // Copied into this realm: the namespace's arrays have its own Array prototype.
    assert.deepEqual([...(ns.compile(KEPT_NAMES)(3) as unknown[])], [15, 'sq', 'Point', 'twice']);
    // Like esbuild's own: the name stays configurable, and code may replace the helper.
    const f = ns.compile('() => __name(function () {}, "renamed")')() as () => void;
    assert.equal(f.name, 'renamed');
    assert.equal(Object.getOwnPropertyDescriptor(f, 'name')?.configurable, true);
    ns.set('__name', 'replaced');
    assert.equal(ns.get('__name'), 'replaced');
  });

  it('two namespaces do not share their globals', async () => {
    const one = new IsolatedNamespace();
    const two = new IsolatedNamespace();
    await one.execute('globalThis.only = 1');
    assert.equal(await two.execute('typeof only'), 'undefined');
  });
});

describe('GlobalNamespace', () => {
  it('runs functions compiled with esbuild\'s keepNames (tsx) too', () => {
    assert.deepEqual(new GlobalNamespace().compile(KEPT_NAMES)(3), [15, 'sq', 'Point', 'twice']);
  });
});
