/**
 * Payload serialization: V8's structured clone (`node:v8`), so typed arrays, Map, Set, Date, BigInt, RegExp and
 * Error survive the trip. Typed arrays, Buffers and ArrayBuffers of at least {@link OUT_OF_BAND_BYTES} travel as
 * frames of their own: the sender hands their memory to the transport without copying it into the payload, and
 * the receiver builds its views over the frames it received.
 * @module
 */
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

/**
 * Serialize a value to frames: `[payload, ...outOfBandFrames]`. The out-of-band frames share memory with the
 * value: do not change it until the message is sent.
 * @throws the structured-clone error (a `DataCloneError`) for values that cannot be cloned, e.g. functions.
 */
export function serialize(value: unknown): Buffer[] {
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
