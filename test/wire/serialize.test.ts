import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { deserialize, OUT_OF_BAND_BYTES, serialize } from '../../src/wire/serialize.js';
import { prng } from '../fuzz/fuzzer.js';

/** What a receiver in another process gets: copies of every frame. */
const overTheWire = (frames: Buffer[]) => frames.map((f) => Buffer.from(f));

describe('serialize: V8 structured clone with out-of-band buffers', () => {
  it('round-trips the types structured clone supports', () => {
    const value = {
      n: 1.5, s: 'text', b: true, nil: null, big: 12345678901234567890n, date: new Date(1234),
      map: new Map<unknown, unknown>([[1, 'one'], ['k', [1, 2]]]), set: new Set(['a', 'b']), re: /x+/gi,
      err: new RangeError('out of range'), nested: { a: [1, { b: 2 }] }, u: undefined,
    };
    const back = deserialize(overTheWire(serialize(value))) as typeof value;
    assert.deepEqual(back, value);
    assert.ok(back.err instanceof RangeError);
    assert.equal(back.err.message, 'out of range');
  });

  it('keeps small typed arrays and Buffers inline, with their types', () => {
    const value = [new Int16Array([1, -2, 3]), Buffer.from('hi'), new Uint8Array([9]), new BigInt64Array([5n]), new DataView(new ArrayBuffer(4))];
    const frames = serialize(value);
    assert.equal(frames.length, 2, 'head and payload only');
    const back = deserialize(overTheWire(frames)) as typeof value;
    assert.ok(back[0] instanceof Int16Array);
    assert.deepEqual([...(back[0] as Int16Array)], [1, -2, 3]);
    assert.ok(Buffer.isBuffer(back[1]));
    assert.equal(back[1]!.toString(), 'hi');
    assert.ok(back[3] instanceof BigInt64Array);
    assert.ok(back[4] instanceof DataView);
  });

  it('sends large views as their own frames without copying, and rebuilds them over the received frames', () => {
    const big = new Float64Array(OUT_OF_BAND_BYTES / 8 + 10).map((_, i) => i * 0.5);
    const frames = serialize({ big, offset: big.subarray(5) });
    const oob = frames.slice(2);
    assert.equal(oob.length, 2);
    assert.equal(oob[0]!.buffer, big.buffer, 'the frame shares the array memory (no copy)');
    const received = overTheWire(frames);
    const back = deserialize(received) as { big: Float64Array; offset: Float64Array };
    assert.equal(back.big.buffer, received[2]!.buffer, 'the view is built over the received frame');
    assert.deepEqual(back.big, big);
    assert.deepEqual(back.offset, big.subarray(5));
  });

  it('sends large ArrayBuffers out of band too', () => {
    const ab = new ArrayBuffer(OUT_OF_BAND_BYTES * 2);
    new Uint8Array(ab)[7] = 42;
    const frames = serialize({ data: ab });
    assert.ok(frames.slice(2).some((f) => f.buffer === ab));
    const back = deserialize(overTheWire(frames)) as { data: ArrayBuffer };
    assert.equal(back.data.byteLength, ab.byteLength);
    assert.equal(new Uint8Array(back.data)[7], 42);
  });

  it('round-trips a 100 MB Float64Array exactly', () => {
    const n = (100 * 1024 * 1024) / 8;
    const big = new Float64Array(n);
    for (let i = 0; i < n; i += 4096) big[i] = i;
    big[n - 1] = -1.25;
    const frames = serialize(big);
    const payloadBytes = frames[0]!.length + frames[1]!.length;
    assert.ok(payloadBytes < 1024, `payload stays small (${payloadBytes} bytes): the data is out of band`);
    const back = deserialize(overTheWire(frames)) as Float64Array;
    assert.equal(back.length, n);
    assert.equal(Buffer.compare(Buffer.from(back.buffer, back.byteOffset, back.byteLength), Buffer.from(big.buffer)), 0);
  });

  it('copies a misaligned view into aligned memory', () => {
    const big = new Float64Array(OUT_OF_BAND_BYTES / 8).fill(3);
    const frames = serialize(big);
    const shifted = Buffer.alloc(frames[2]!.length + 1);
    frames[2]!.copy(shifted, 1);
    const back = deserialize([frames[0]!, frames[1]!, shifted.subarray(1)]) as Float64Array;
    assert.equal(back[0], 3);
    assert.equal(back.length, big.length);
  });

  it('serializes typed arrays made in another V8 context', () => {
    const foreign = vm.runInNewContext('new Float32Array([1.5, 2.5])') as Float32Array;
    const back = deserialize(serialize(foreign)) as Float32Array;
    assert.ok(back instanceof Float32Array);
    assert.deepEqual([...back], [1.5, 2.5]);
  });

  it('throws for values structured clone cannot carry', () => {
    assert.throws(() => serialize({ f: () => 1 }), /could not be cloned/);
  });

  it('rejects frames it did not make', () => {
    assert.throws(() => deserialize([Buffer.from('nope')]), TypeError);
  });

  describe('the fast path for small values (numbers, short Latin-1 strings, booleans, null, undefined, short arrays of them)', () => {
    const same = (a: unknown, b: unknown) => assert.ok(Object.is(a, b) || (typeof a === 'object' && (assert.deepStrictEqual(a, b), true)), `${String(a)} vs ${String(b)}`);
    const edges: unknown[] = [
      null, undefined, true, false, 0, -0, 1, -1, 2 ** 30, 2 ** 31 - 1, -(2 ** 31), 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 1.5, -2.25, NaN, Infinity, -Infinity,
      '', 'a', 'é', 'ÿ', 'x'.repeat(64), 'x'.repeat(65), '€', 'ü€', [], [1], [null, undefined], [1, 2.5, 'x', true], [[1]], [[[1]]], [[[[1]]]],
      Array.from({ length: 64 }, (_, i) => i), Array.from({ length: 65 }, (_, i) => i), [1.5, 3, 4.5],
    ];
    // A seeded stream of random small values, nested arrays included.
    const rand = prng(7);
    const pick = (depth: number): unknown => {
      const r = rand();
      if (r < 0.15) return Math.floor(rand() * 2 ** 33) - 2 ** 32;
      if (r < 0.3) return (rand() - 0.5) * 1e6;
      if (r < 0.45) return String.fromCharCode(...Array.from({ length: Math.floor(rand() * 70) }, () => Math.floor(rand() * (rand() < 0.9 ? 256 : 0x3000))));
      if (r < 0.55) return [null, undefined, true, false][Math.floor(rand() * 4)];
      if (depth < 4 && r < 0.85) return Array.from({ length: Math.floor(rand() * 8) }, () => pick(depth + 1));
      return { k: pick(depth + 1) };
    };
    const values = [...edges, ...Array.from({ length: 2000 }, () => pick(0))];

    it('round-trips each value, and V8 reads what it writes', () => {
      for (const v of values) {
        const frames = serialize(v);
        same(deserialize(overTheWire(frames)), v);
        same(v8.deserialize(frames[1]!), v);
      }
    });

    it('reads what V8 writes for the same values', () => {
      for (const v of values) same(deserialize([Buffer.alloc(4), v8.serialize(v)]), v);
    });

    it('writes what V8 writes, except integers of a double array (V8 writes them as doubles; both read the same)', () => {
      for (const v of edges) {
        if (Array.isArray(v) && v.some((x) => typeof x === 'number' && !Number.isInteger(x))) continue;
        assert.equal(serialize(v)[1]!.toString('hex'), v8.serialize(v).toString('hex'), JSON.stringify(v));
      }
    });

    it('leaves holes, extra properties, proxies and other values to V8', () => {
      const extra = Object.assign([1, 2], { x: 1 });
      const holey = [1, , 3];
      const proxy = new Proxy([1, 2], {});
      for (const v of [extra, holey, { a: 1 }, new Map([[1, 2]]), 5n, new Date(5)]) assert.deepEqual(deserialize(overTheWire(serialize(v))), v);
      assert.deepEqual(Object.keys(deserialize(serialize(extra)) as object), ['0', '1', 'x']);
      assert.equal(1 in (deserialize(serialize(holey)) as unknown[]), false, 'a hole stays a hole');
      assert.throws(() => serialize(proxy), /could not be cloned/);
    });

    it('reads a truncated or padded payload as V8 does (its fast reader refuses it and hands it on)', () => {
      const payload = serialize([1, 'ab', 2.5])[1]!;
      const cases = [...Array.from({ length: payload.length - 2 }, (_, n) => payload.subarray(0, n + 2)), Buffer.concat([payload, Buffer.from([0x30])])];
      for (const bytes of cases) {
        let expected: { value?: unknown; threw?: boolean };
        try {
          expected = { value: v8.deserialize(bytes) };
        } catch {
          expected = { threw: true };
        }
        if (expected.threw) assert.throws(() => deserialize([Buffer.alloc(4), bytes]), bytes.toString('hex'));
        else assert.deepEqual(deserialize([Buffer.alloc(4), bytes]), expected.value, bytes.toString('hex'));
      }
    });
  });
});
