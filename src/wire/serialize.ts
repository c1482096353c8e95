/**
 * Payload serialization: V8's structured clone (`node:v8`), so typed arrays, Map, Set, Date, BigInt, RegExp and
 * Error survive the trip. Typed arrays, Buffers and ArrayBuffers of at least {@link OUT_OF_BAND_BYTES} travel as
 * frames of their own: the sender hands their memory to the transport without copying it into the payload, and
 * the receiver builds its views over the frames it received.
 * @module
 */
import { types } from 'node:util';
import v8 from 'node:v8';

/** Views and ArrayBuffers of at least this many bytes go out of band, as their own frames. */
export const OUT_OF_BAND_BYTES = 64 * 1024;

// Our own table of view types, so the wire format does not depend on Node's internal one.
const VIEW_TYPES = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView, Buffer,
] as const;
type ViewCtor = (typeof VIEW_TYPES)[number];
const OUT_OF_BAND = 0x100;

const VIEW_INDEX = new Map<string, number>(VIEW_TYPES.map((ctor, i) => [ctor.name, i]));

function viewTypeIndex(view: ArrayBufferView): number {
  if (Buffer.isBuffer(view)) return VIEW_TYPES.length - 1;
  // By tag, not constructor: views made in another V8 context (an isolated namespace) have other constructors.
  const tag = (view as unknown as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] ?? Object.prototype.toString.call(view).slice(8, -1);
  const i = VIEW_INDEX.get(tag);
  if (i === undefined) throw new TypeError(`cannot serialize a ${tag}`);
  return i;
}

class FramingSerializer extends v8.Serializer {
  readonly frames: Buffer[] = [];
  constructor() {
    super();
    // Make V8 hand every ArrayBufferView to _writeHostObject, so large ones can skip the copy.
    (this as unknown as { _setTreatArrayBufferViewsAsHostObjects(b: boolean): void })._setTreatArrayBufferViewsAsHostObjects(true);
  }
  _writeHostObject(object: object): void {
    const view = object as ArrayBufferView;
    if (!ArrayBuffer.isView(view)) {
      throw new TypeError(`cannot serialize a ${object?.constructor?.name ?? 'host'} object`);
    }
    const type = viewTypeIndex(view);
    if (view.byteLength >= OUT_OF_BAND_BYTES) {
      this.writeUint32(type | OUT_OF_BAND);
      this.writeUint32(this.frames.length);
      this.frames.push(Buffer.from(view.buffer, view.byteOffset, view.byteLength));
    } else {
      this.writeUint32(type);
      this.writeUint32(view.byteLength);
      this.writeRawBytes(Buffer.from(view.buffer, view.byteOffset, view.byteLength));
    }
  }
}

class FramingDeserializer extends v8.Deserializer {
  readonly #frames: readonly Buffer[];
  constructor(payload: Buffer, frames: readonly Buffer[]) {
    super(payload);
    this.#frames = frames;
  }
  _readHostObject(): ArrayBufferView {
    const tag = this.readUint32();
    const ctor: ViewCtor | undefined = VIEW_TYPES[tag & ~OUT_OF_BAND];
    if (!ctor) throw new TypeError(`unknown view type ${tag} in payload`);
    let bytes: Buffer;
    if (tag & OUT_OF_BAND) {
      const frame = this.#frames[this.readUint32()];
      if (!frame) throw new TypeError('payload refers to a missing frame');
      bytes = frame;
    } else {
      bytes = this.readRawBytes(this.readUint32());
    }
    return makeView(ctor, bytes);
  }
}

function makeView(ctor: ViewCtor, bytes: Buffer): ArrayBufferView {
  if (ctor === Buffer) return bytes;
  const size = 'BYTES_PER_ELEMENT' in ctor ? ctor.BYTES_PER_ELEMENT : 1;
  if (bytes.byteOffset % size !== 0) {
    // Typed arrays need aligned memory; copy only in this rare case.
    bytes = Buffer.from(bytes);
  }
  if (ctor === DataView) return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return new (ctor as Float64ArrayConstructor)(bytes.buffer as ArrayBuffer, bytes.byteOffset, bytes.byteLength / size);
}

/** Find large ArrayBuffers near the top of a value (a bounded walk), to send them out of band. */
function findLargeArrayBuffers(value: unknown, found: ArrayBuffer[], budget = { nodes: 1000 }, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 3 || --budget.nodes < 0) return;
  if (value instanceof ArrayBuffer) {
    if (value.byteLength >= OUT_OF_BAND_BYTES && !found.includes(value)) found.push(value);
    return;
  }
  if (ArrayBuffer.isView(value)) return;
  const children = Array.isArray(value) ? value : value instanceof Map ? [...value.values()] : Object.getPrototypeOf(value) === Object.prototype ? Object.values(value) : [];
  for (const child of children) findLargeArrayBuffers(child, found, budget, depth + 1);
}

// A fast path for the small values most tasks take and return (numbers, short Latin-1 strings, booleans, null,
// undefined, and short dense arrays of those): written and read here in V8's own serialization format (version 15,
// the tags below), as `v8.serialize` writes them, so V8's deserializer reads what this writes and this reads what
// V8 writes for them (test/wire/serialize.test.ts checks both ways). Anything else, or anything it is unsure of,
// goes through V8's.
const TAG = { undefined: 0x5f, null: 0x30, true: 0x54, false: 0x46, int32: 0x49, double: 0x4e, oneByteString: 0x22, denseArray: 0x41, endDenseArray: 0x24 } as const;
const FORMAT_VERSION = 0x0f;
/** Values (array elements included) and string bytes above which the fast path gives way to V8's serializer. */
const FAST_LIMIT = 64;
/** The frame that says "no ArrayBuffer travels out of band", shared by every fast-path payload (never written to). */
const NO_TRANSFERS = Buffer.alloc(4);

/** Where the fast path writes (64 values of at most 64 Latin-1 characters each fit), copied out at the end. */
const out = Buffer.allocUnsafe(16 * 1024);
let pos = 0;
let budget = 0;
let writing = false;

/** Bytes for `value` in V8's format, or undefined when it is not one the fast path writes. */
function fastPayload(value: unknown): Buffer | undefined {
  // Not re-entrant (one scratch buffer): a nested call, should user code run (it cannot on this path), takes V8's.
  if (writing) return undefined;
  writing = true;
  try {
    out[0] = 0xff;
    out[1] = FORMAT_VERSION;
    pos = 2;
    budget = FAST_LIMIT;
    return writeFast(value, 0) ? Buffer.from(out.subarray(0, pos)) : undefined;
  } finally {
    writing = false;
  }
}

function writeVarint(n: number): void {
  while (n >= 0x80) {
    out[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
}

function writeFast(value: unknown, depth: number): boolean {
  if (--budget < 0) return false;
  switch (typeof value) {
    case 'undefined':
      out[pos++] = TAG.undefined;
      return true;
    case 'boolean':
      out[pos++] = value ? TAG.true : TAG.false;
      return true;
    case 'number':
      if (Number.isInteger(value) && value >= -0x80000000 && value <= 0x7fffffff && !Object.is(value, -0)) {
        out[pos++] = TAG.int32;
        writeVarint(value >= 0 ? value * 2 : -value * 2 - 1);
      } else {
        out[pos++] = TAG.double;
        out.writeDoubleLE(value, pos);
        pos += 8;
      }
      return true;
    case 'string': {
      if (value.length > FAST_LIMIT) return false;
      out[pos++] = TAG.oneByteString;
      writeVarint(value.length);
      for (let i = 0; i < value.length; i++) {
        const c = value.charCodeAt(i);
        if (c > 0xff) return false;
        out[pos++] = c;
      }
      return true;
    }
    case 'object': {
      if (value === null) {
        out[pos++] = TAG.null;
        return true;
      }
      if (!Array.isArray(value) || depth > 2 || types.isProxy(value) || value.length > FAST_LIMIT) return false;
      // Holes and extra properties are written differently by V8: leave those to it.
      if (Object.keys(value).length !== value.length) return false;
      out[pos++] = TAG.denseArray;
      writeVarint(value.length);
      for (let i = 0; i < value.length; i++) if (!writeFast(value[i], depth + 1)) return false;
      out[pos++] = TAG.endDenseArray;
      out[pos++] = 0;
      writeVarint(value.length);
      return true;
    }
    default:
      return false;
  }
}

/** The value of a payload in the fast path's subset of V8's format, or `NOT_FAST` when it holds anything else. */
const NOT_FAST = Symbol('not fast');

function readFast(payload: Buffer): unknown {
  if (payload.length < 3 || payload.length > 16 * FAST_LIMIT || payload[0] !== 0xff || payload[1] !== FORMAT_VERSION) return NOT_FAST;
  const at = { i: 2 };
  const value = readFastValue(payload, at, 0);
  return at.i === payload.length ? value : NOT_FAST;
}

function readVarint(b: Buffer, at: { i: number }): number {
  let n = 0;
  let scale = 1;
  for (let k = 0; k < 5; k++) {
    const byte = b[at.i++];
    if (byte === undefined) return -1;
    n += (byte & 0x7f) * scale;
    if (byte < 0x80) return n;
    scale *= 128;
  }
  return -1;
}

function readFastValue(b: Buffer, at: { i: number }, depth: number): unknown {
  const tag = b[at.i++];
  switch (tag) {
    case TAG.undefined:
      return undefined;
    case TAG.null:
      return null;
    case TAG.true:
      return true;
    case TAG.false:
      return false;
    case TAG.int32: {
      const z = readVarint(b, at);
      if (z < 0 || z > 0xffffffff) return NOT_FAST;
      return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    }
    case TAG.double: {
      if (at.i + 8 > b.length) return NOT_FAST;
      const v = b.readDoubleLE(at.i);
      at.i += 8;
      return v;
    }
    case TAG.oneByteString: {
      const n = readVarint(b, at);
      if (n < 0 || at.i + n > b.length) return NOT_FAST;
      const v = b.toString('latin1', at.i, at.i + n);
      at.i += n;
      return v;
    }
    case TAG.denseArray: {
      const n = readVarint(b, at);
      if (n < 0 || n > FAST_LIMIT || depth > 2) return NOT_FAST;
      const items = new Array<unknown>(n);
      for (let k = 0; k < n; k++) {
        const v = readFastValue(b, at, depth + 1);
        if (v === NOT_FAST) return NOT_FAST;
        items[k] = v;
      }
      if (b[at.i++] !== TAG.endDenseArray || readVarint(b, at) !== 0 || readVarint(b, at) !== n) return NOT_FAST;
      return items;
    }
    default:
      return NOT_FAST;
  }
}

/**
 * Serialize a value to frames: `[payload, ...outOfBandFrames]`. The out-of-band frames share memory with the
 * value: do not change it until the message is sent.
 * @throws the structured-clone error (a `DataCloneError`) for values that cannot be cloned, e.g. functions.
 */
export function serialize(value: unknown): Buffer[] {
  const fast = fastPayload(value);
  if (fast) return [NO_TRANSFERS, fast];
  const ser = new FramingSerializer();
  const transferred: ArrayBuffer[] = [];
  findLargeArrayBuffers(value, transferred);
  transferred.forEach((ab, i) => ser.transferArrayBuffer(i, ab));
  ser.writeHeader();
  ser.writeValue(value);
  const payload = ser.releaseBuffer();
  // Frame layout: payload, transferred ArrayBuffers (count in a 4-byte prefix frame), then view frames.
  const head = Buffer.alloc(4);
  head.writeUInt32LE(transferred.length);
  return [head, payload, ...transferred.map((ab) => Buffer.from(ab)), ...ser.frames];
}

/**
 * Rebuild a value from frames made by {@link serialize}. Views over out-of-band frames share the frames' memory.
 * @throws TypeError when the frames are not a payload made by `serialize`.
 */
export function deserialize(frames: readonly Buffer[]): unknown {
  const [head, payload] = frames;
  if (!head || head.length !== 4 || !payload) throw new TypeError('not a tsparallel payload');
  const nTransferred = head.readUInt32LE(0);
  if (nTransferred === 0 && frames.length === 2) {
    const fast = readFast(payload);
    if (fast !== NOT_FAST) return fast;
  }
  const rest = frames.slice(2);
  const des = new FramingDeserializer(payload, rest.slice(nTransferred));
  for (let i = 0; i < nTransferred; i++) {
    const f = rest[i]!;
    const whole = f.byteOffset === 0 && f.byteLength === f.buffer.byteLength;
    des.transferArrayBuffer(i, (whole ? f.buffer : f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength)) as ArrayBuffer);
  }
  des.readHeader();
  return des.readValue();
}
