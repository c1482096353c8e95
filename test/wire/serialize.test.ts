import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import vm from 'node:vm';
import { deserialize, OUT_OF_BAND_BYTES, serialize } from '../../src/wire/serialize.js';

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
});
