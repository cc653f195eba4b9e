/**
 * safetensors reader and writer (https://huggingface.co/docs/safetensors):
 *
 *   [8 bytes: N, unsigned little-endian] [N bytes: JSON header] [tensor data]
 *
 * The header maps each tensor name to { dtype, shape, data_offsets: [begin, end] }
 * (offsets relative to the start of the data section), plus an optional
 * "__metadata__" object of string values. Data is little-endian and row-major.
 *
 * Reading validates like the reference implementation (the Rust `safetensors`
 * crate): the header fits in the file and in SAFETENSORS_MAX_HEADER_BYTES (4 MiB
 * here, see there), starts with '{', is UTF-8 JSON with no duplicate keys
 * (tensor names above all) nested at most SAFETENSORS_MAX_HEADER_DEPTH deep,
 * both checked by a linear scan before anything is parsed; every dtype is
 * known, every shape entry is an integer >= 0, every tensor's byte length equals
 * its element count times its dtype size, tensors are contiguous (no gaps or
 * overlaps) and together cover the data section exactly (no trailing bytes).
 * Nothing is allocated from a size before it has been checked against the
 * file's real size, and the work is linear in the header's size. Every error
 * is a RangeError with code ERR_ADDERNET_FORMAT whose message names the file
 * and the problem.
 *
 * Writing follows the reference layout: the header is padded with spaces so the
 * data section starts at a multiple of 8, tensors are ordered by dtype size
 * (largest first) then name, so each one is naturally aligned, and
 * "__metadata__" comes first in the header. Files are written atomically.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { describe, rangeError, typeError, type AddernetError } from '../errors';
import { type Dtype, Tensor } from '../tensor';
import { writeFileAtomicSync } from './atomic';
import { JsonScanIssue, JsonScanner } from './json-scan';

/**
 * Largest header read or written: 4 MiB. The reference caps headers at 100 MB
 * (MAX_HEADER_SIZE), sized for language models with hundreds of thousands of
 * tensors; this package's headers are small: 2 KB for LeNet-5-BN, 12 KB for
 * the authors' ResNet-20 checkpoint, about 20 KB for ResNet-32 with its config
 * in __metadata__, roughly 100 bytes per tensor. 4 MiB is 200 times the
 * largest and room for custom models with tens of thousands of tensors, while
 * keeping the work a hostile header can cause (scanning, parsing, validating,
 * all linear in its size) to tens of milliseconds and tens of megabytes.
 */
export const SAFETENSORS_MAX_HEADER_BYTES = 4 * 1024 * 1024;

/**
 * Deepest JSON nesting accepted in a header. The format needs 3 levels (the
 * header object, a tensor entry, its shape); unknown fields of an entry may
 * nest further (the reference ignores them), up to this bound, which keeps
 * every walk of the parsed values shallow.
 */
export const SAFETENSORS_MAX_HEADER_DEPTH = 64;

/** Element type → the typed array that holds it. F16, BF16 and F8 keep their raw bits. */
export interface SafetensorsArrays {
  BOOL: Uint8Array;
  U8: Uint8Array;
  I8: Int8Array;
  F8_E4M3: Uint8Array;
  F8_E5M2: Uint8Array;
  I16: Int16Array;
  U16: Uint16Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I32: Int32Array;
  U32: Uint32Array;
  F32: Float32Array;
  F64: Float64Array;
  I64: BigInt64Array;
  U64: BigUint64Array;
}

export type SafetensorsDtype = keyof SafetensorsArrays;

/** One tensor: `data` is the natural typed array for `dtype` (see SafetensorsArrays). */
export type SafetensorsTensor = {
  [D in SafetensorsDtype]: { dtype: D; shape: number[]; data: SafetensorsArrays[D] };
}[SafetensorsDtype];

type AnyTypedArray = SafetensorsArrays[SafetensorsDtype];
type TypedArrayCtor = { new (length: number): AnyTypedArray; readonly BYTES_PER_ELEMENT: number };

const DTYPES: { readonly [D in SafetensorsDtype]: { bytes: number; ctor: TypedArrayCtor } } = {
  BOOL: { bytes: 1, ctor: Uint8Array },
  U8: { bytes: 1, ctor: Uint8Array },
  I8: { bytes: 1, ctor: Int8Array },
  F8_E4M3: { bytes: 1, ctor: Uint8Array },
  F8_E5M2: { bytes: 1, ctor: Uint8Array },
  I16: { bytes: 2, ctor: Int16Array },
  U16: { bytes: 2, ctor: Uint16Array },
  F16: { bytes: 2, ctor: Uint16Array },
  BF16: { bytes: 2, ctor: Uint16Array },
  I32: { bytes: 4, ctor: Int32Array },
  U32: { bytes: 4, ctor: Uint32Array },
  F32: { bytes: 4, ctor: Float32Array },
  F64: { bytes: 8, ctor: Float64Array },
  I64: { bytes: 8, ctor: BigInt64Array },
  U64: { bytes: 8, ctor: BigUint64Array },
};

/** Every supported dtype name. */
export const SAFETENSORS_DTYPES = Object.freeze(Object.keys(DTYPES) as SafetensorsDtype[]);

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, value);
}

const LITTLE_ENDIAN = os.endianness() === 'LE';

/** Reverses the bytes of each element in place (only used on big-endian hosts). */
function swapBytes(bytes: Uint8Array, size: number): void {
  if (size === 1) return;
  for (let i = 0; i + size <= bytes.length; i += size) {
    for (let a = i, b = i + size - 1; a < b; a++, b--) {
      const t = bytes[a];
      bytes[a] = bytes[b];
      bytes[b] = t;
    }
  }
}

function bytesOf(data: AnyTypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** The tensors of a safetensors file, in file order, with its `__metadata__`. */
export class SafetensorsMap extends Map<string, SafetensorsTensor> {
  metadata: Record<string, string> = {};
}

/** A tensor's header entry, as read by readSafetensorsHeader. */
export interface SafetensorsHeaderEntry {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  /** Entries sorted by data offset. */
  tensors: SafetensorsHeaderEntry[];
  /** Byte offset of the data section in the file (8 + header length). */
  dataStart: number;
  /** Total file size that the header describes (dataStart + data bytes). */
  byteLength: number;
}

export interface ReadSafetensorsOptions {
  /** Name used in error messages when the source is a Buffer (default "<buffer>"). */
  name?: string;
}

// ---------------------------------------------------------------------------
// Errors

function formatError(file: string, argument: string, expected: string, received: string): RangeError & AddernetError {
  const where = `safetensors file ${JSON.stringify(file)}`;
  return rangeError('ERR_ADDERNET_FORMAT', argument ? `${argument} in ${where}` : where, expected, received);
}

const tensorArg = (name: string, field: string): string => `${field} of tensor ${JSON.stringify(name)}`;

// ---------------------------------------------------------------------------
// Header parsing

/** Validates the 8-byte length prefix against the real size of the source. */
function checkHeaderLength(n: bigint, size: number, file: string): number {
  if (n > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
    throw formatError(file, 'the header length', `at most ${SAFETENSORS_MAX_HEADER_BYTES} bytes`, `${n} (corrupt or not a safetensors file)`);
  }
  if (n > BigInt(size - 8)) {
    throw formatError(
      file,
      'the header length',
      `at most ${size - 8} bytes (the file is ${size} bytes long)`,
      `${n} (the file is truncated or not a safetensors file)`,
    );
  }
  if (n < 2n) throw formatError(file, 'the header length', 'at least 2 bytes (a JSON object)', String(n));
  return Number(n);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Validates one tensor's header entry (dtype, shape, offsets within the data section, byte count). */
function checkEntry(name: string, info: unknown, dataLength: number, file: string): SafetensorsHeaderEntry {
  if (info === null || typeof info !== 'object' || Array.isArray(info)) {
    throw formatError(file, `the header entry of tensor ${JSON.stringify(name)}`, 'an object { dtype, shape, data_offsets }', describe(info));
  }
  const { dtype, shape, data_offsets: offsets } = info as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  if (!isDtype(dtype)) {
    throw formatError(file, tensorArg(name, 'dtype'), `one of ${SAFETENSORS_DTYPES.join(', ')}`, describe(dtype));
  }
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw formatError(file, tensorArg(name, 'shape'), 'an array of integers >= 0', describe(shape));
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => typeof o === 'number' && Number.isSafeInteger(o) && o >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw formatError(file, tensorArg(name, 'data_offsets'), '[begin, end] with integers 0 <= begin <= end', describe(offsets));
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataLength) {
    throw formatError(
      file,
      tensorArg(name, 'data_offsets'),
      `offsets within the ${dataLength} bytes of tensor data`,
      `[${begin}, ${end}] (out of range: the file is truncated or corrupt)`,
    );
  }
  // Element count times dtype size, checked for overflow before use.
  let bytes = DTYPES[dtype].bytes;
  for (const d of shape as number[]) {
    bytes *= d;
    if (!Number.isSafeInteger(bytes)) {
      throw formatError(file, tensorArg(name, 'shape'), 'a shape whose byte size is a safe integer', describe(shape));
    }
  }
  if (end - begin !== bytes) {
    throw formatError(
      file,
      tensorArg(name, 'data_offsets'),
      `a range of ${bytes} bytes (${dtype} x [${(shape as number[]).join(', ')}])`,
      `[${begin}, ${end}] (${end - begin} bytes)`,
    );
  }
  return { name, dtype, shape: [...(shape as number[])], dataOffsets: [begin, end] };
}

/** Defines an own property, so that even "__proto__" is kept as a plain key. */
function setOwn(target: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Parses and validates the header text. One linear scan (io/json-scan.ts)
 * walks the header object and each entry member by member, bounding the
 * nesting depth and refusing duplicate keys (JSON.parse would silently keep
 * the last of two tensors with the same name). Only the values used are
 * parsed (dtype, shape, data_offsets and the metadata strings), each as soon
 * as it is found, so a hostile header fails at its first bad entry, unknown
 * fields allocate nothing, and all the work is linear in the header size (at
 * most SAFETENSORS_MAX_HEADER_BYTES).
 */
function parseHeader(headerBytes: Uint8Array, dataLength: number, file: string): { metadata: Record<string, string>; tensors: SafetensorsHeaderEntry[] } {
  // The reference requires the very first byte to be '{' (InvalidHeaderStart).
  if (headerBytes[0] !== 0x7b) {
    const head = Buffer.from(headerBytes.subarray(0, 24)).toString('latin1');
    throw formatError(file, 'the header', "a JSON object (text starting with '{')", `text starting with ${JSON.stringify(head)}`);
  }
  let text: string;
  try {
    text = utf8.decode(headerBytes);
  } catch {
    throw formatError(file, 'the header', 'UTF-8 encoded JSON', 'bytes that are not valid UTF-8');
  }

  const metadata: Record<string, string> = {};
  const tensors: SafetensorsHeaderEntry[] = [];
  const scan = new JsonScanner(text, SAFETENSORS_MAX_HEADER_DEPTH);
  const parseSpan = ([begin, end]: [number, number]): unknown => {
    try {
      return JSON.parse(text.slice(begin, end));
    } catch (err) {
      return scan.invalid((err as Error).message, begin);
    }
  };
  // The value ahead, which is not what is expected, for the message: a
  // container is named, not scanned (a hostile one may be megabytes); a
  // scalar is read (strings shortened by describe).
  const receivedAhead = (depth: number): string => {
    scan.skipWhitespace();
    const c = scan.peek();
    if (c === 0x5b) return 'an array';
    if (c === 0x7b) return 'an object';
    return describe(parseSpan(scan.skipValue(depth)));
  };
  const isObjectAhead = (): boolean => {
    scan.skipWhitespace();
    return scan.peek() === 0x7b;
  };
  try {
    scan.members(1, (name) => {
      if (name === '__metadata__') {
        if (!isObjectAhead()) throw formatError(file, '__metadata__', 'an object of string values', receivedAhead(2));
        scan.members(2, (key) => {
          scan.skipWhitespace();
          if (scan.peek() !== 0x22) throw formatError(file, `__metadata__[${JSON.stringify(key)}]`, 'a string', receivedAhead(3));
          setOwn(metadata, key, scan.readString());
        });
        return;
      }
      if (!isObjectAhead()) {
        throw formatError(file, `the header entry of tensor ${JSON.stringify(name)}`, 'an object { dtype, shape, data_offsets }', receivedAhead(2));
      }
      // Only the three fields are parsed; unknown ones are scanned and ignored, as the reference ignores them.
      const info: Record<string, unknown> = {};
      scan.members(2, (key) => {
        const span = scan.skipValue(3);
        if (key === 'dtype' || key === 'shape' || key === 'data_offsets') info[key] = parseSpan(span);
      });
      tensors.push(checkEntry(name, info, dataLength, file));
    });
    scan.expectEnd();
  } catch (err) {
    if (err instanceof JsonScanIssue) throw formatError(file, 'the header', err.expected, err.received);
    throw err;
  }

  // Contiguity and full coverage, as the reference validates them.
  const sorted = [...tensors].sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  let cursor = 0;
  for (const t of sorted) {
    if (t.dataOffsets[0] !== cursor) {
      throw formatError(
        file,
        tensorArg(t.name, 'data_offsets'),
        `a range starting at byte ${cursor}, where the previous tensor ends (tensors must not overlap or leave gaps)`,
        `[${t.dataOffsets[0]}, ${t.dataOffsets[1]}]`,
      );
    }
    cursor = t.dataOffsets[1];
  }
  if (cursor !== dataLength) {
    throw formatError(
      file,
      'the data section',
      `${cursor} bytes (what the header describes)`,
      `${dataLength} bytes (${dataLength - cursor} trailing bytes not covered by any tensor)`,
    );
  }
  return { metadata, tensors: sorted };
}

// ---------------------------------------------------------------------------
// Sources: a path (read with pread, no whole-file buffer) or an in-memory buffer

interface Source {
  name: string;
  size: number;
  /** Fills `into` with the bytes at `position`; throws if the source ends first. */
  read(into: Uint8Array, position: number): void;
  close(): void;
}

function bufferSource(buf: Uint8Array, name: string): Source {
  return {
    name,
    size: buf.byteLength,
    read(into, position) {
      into.set(buf.subarray(position, position + into.byteLength));
    },
    close() {},
  };
}

function fileSource(file: string): Source {
  const fd = fs.openSync(file, 'r');
  let size: number;
  try {
    size = fs.fstatSync(fd).size;
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return {
    name: file,
    size,
    read(into, position) {
      let done = 0;
      while (done < into.byteLength) {
        const n = fs.readSync(fd, into, done, into.byteLength - done, position + done);
        if (n === 0) {
          throw formatError(file, '', `${into.byteLength} bytes at offset ${position}`, 'end of file (the file shrank while being read)');
        }
        done += n;
      }
    },
    close() {
      fs.closeSync(fd);
    },
  };
}

function openSource(source: unknown, options: ReadSafetensorsOptions | undefined, argument: string): Source {
  if (typeof source === 'string') return fileSource(source);
  if (source instanceof Uint8Array) return bufferSource(source, options?.name ?? '<buffer>');
  throw typeError(argument, 'a file path or a Buffer', source);
}

function readHeaderFrom(src: Source): SafetensorsHeader {
  if (src.size < 8) {
    throw formatError(src.name, '', 'at least 8 bytes (the header length)', `a file of ${src.size} bytes`);
  }
  const prefix = new Uint8Array(8);
  src.read(prefix, 0);
  const n = checkHeaderLength(Buffer.from(prefix.buffer).readBigUInt64LE(0), src.size, src.name);
  const headerBytes = new Uint8Array(n);
  src.read(headerBytes, 8);
  const dataStart = 8 + n;
  const { metadata, tensors } = parseHeader(headerBytes, src.size - dataStart, src.name);
  return { metadata, tensors, dataStart, byteLength: src.size };
}

/** Reads and validates only the header (cheap: tensor data is not read). */
export function readSafetensorsHeader(source: string | Uint8Array, options?: ReadSafetensorsOptions): SafetensorsHeader {
  const src = openSource(source, options, 'source');
  try {
    return readHeaderFrom(src);
  } finally {
    src.close();
  }
}

/**
 * Reads a safetensors file (a path, or its bytes in a Buffer/Uint8Array).
 * Returns the tensors in file order; `result.metadata` holds `__metadata__`.
 * F32 data comes back as Float32Array, F64 as Float64Array, I64 as
 * BigInt64Array, F16/BF16 as their raw bits in a Uint16Array (see
 * `toFloat32Array`), and so on (SafetensorsArrays). Data is always copied into
 * freshly allocated, aligned arrays.
 */
export function readSafetensors(source: string | Uint8Array, options?: ReadSafetensorsOptions): SafetensorsMap {
  const src = openSource(source, options, 'source');
  try {
    const header = readHeaderFrom(src);
    const out = new SafetensorsMap();
    out.metadata = header.metadata;
    for (const t of header.tensors) {
      const { bytes, ctor } = DTYPES[t.dtype];
      const [begin, end] = t.dataOffsets;
      const data = new ctor((end - begin) / bytes); // size validated against the real file size
      const raw = bytesOf(data);
      if (raw.byteLength > 0) src.read(raw, header.dataStart + begin);
      if (!LITTLE_ENDIAN) swapBytes(raw, bytes);
      out.set(t.name, { dtype: t.dtype, shape: t.shape, data } as SafetensorsTensor);
    }
    return out;
  } finally {
    src.close();
  }
}

// ---------------------------------------------------------------------------
// Writing

/**
 * What writeSafetensors accepts for one tensor: a Tensor (float32 as F32,
 * int32 as I32) or raw data. F16/BF16 also accept a Float32Array (rounded to nearest even).
 */
export type SafetensorsInput =
  | Tensor<Dtype>
  | SafetensorsTensor
  | { dtype: 'F16' | 'BF16'; shape: readonly number[]; data: Float32Array }
  | { dtype: SafetensorsDtype; shape: readonly number[]; data: AnyTypedArray };

interface Prepared {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  bytes: Uint8Array;
}

function prepareTensor(name: string, value: unknown): Prepared {
  const arg = `tensors[${JSON.stringify(name)}]`;
  if (name === '__metadata__') throw rangeError('ERR_ADDERNET_OPTION', 'a tensor name', 'any name but "__metadata__"', '"__metadata__"');
  if (value instanceof Tensor) {
    return { name, dtype: value.dtype === 'int32' ? 'I32' : 'F32', shape: [...value.shape], bytes: littleEndianBytes(value.dataSync(), 4) };
  }
  if (value === null || typeof value !== 'object') throw typeError(arg, 'a Tensor or { dtype, shape, data }', value);
  const { dtype, shape } = value as { dtype?: unknown; shape?: unknown };
  let data = (value as { data?: unknown }).data;
  if (!isDtype(dtype)) {
    throw rangeError('ERR_ADDERNET_OPTION', `${arg}.dtype`, `one of ${SAFETENSORS_DTYPES.join(', ')}`, describe(dtype));
  }
  if (!Array.isArray(shape)) throw typeError(`${arg}.shape`, 'an array of integers >= 0', shape);
  if (!shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) {
    throw rangeError('ERR_ADDERNET_SHAPE', `${arg}.shape`, 'an array of integers >= 0', describe(shape));
  }
  const size = (shape as number[]).reduce((a, b) => a * b, 1);
  if ((dtype === 'F16' || dtype === 'BF16') && data instanceof Float32Array) {
    data = dtype === 'F16' ? float32ToF16(data) : float32ToBf16(data);
  }
  const { ctor, bytes } = DTYPES[dtype];
  if (!(data instanceof (ctor as unknown as new () => object))) {
    const what = dtype === 'F16' || dtype === 'BF16' ? 'a Uint16Array (raw bits) or a Float32Array' : `a ${ctor.name}`;
    throw typeError(`${arg}.data`, `${what} for dtype ${dtype}`, data);
  }
  const arr = data as AnyTypedArray;
  if (arr.length !== size) {
    throw rangeError('ERR_ADDERNET_SIZE', `${arg}.data`, `${size} elements for shape ${describe(shape)}`, `${arr.length} elements`);
  }
  return { name, dtype, shape: [...(shape as number[])], bytes: littleEndianBytes(arr, bytes) };
}

function littleEndianBytes(data: AnyTypedArray, size: number): Uint8Array {
  const view = bytesOf(data);
  if (LITTLE_ENDIAN || size === 1) return view;
  const copy = view.slice();
  swapBytes(copy, size);
  return copy;
}

function prepare(
  tensors: unknown,
  metadata: unknown,
): { header: Buffer; parts: Prepared[] } {
  let entries: [string, unknown][];
  if (tensors instanceof Map) entries = [...tensors.entries()];
  else if (tensors !== null && typeof tensors === 'object' && !Array.isArray(tensors)) entries = Object.entries(tensors);
  else throw typeError('tensors', 'an object or Map of tensors by name', tensors);
  for (const [k] of entries) if (typeof k !== 'string') throw typeError('tensors', 'string tensor names', k);

  let meta: Record<string, string> | undefined;
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== 'object' || Array.isArray(metadata)) throw typeError('metadata', 'an object of string values', metadata);
    meta = {};
    for (const [k, v] of Object.entries(metadata as Record<string, unknown>)) {
      if (typeof v !== 'string') throw typeError(`metadata[${JSON.stringify(k)}]`, 'a string (safetensors metadata values are strings)', v);
      meta[k] = v;
    }
  }

  const parts = entries.map(([name, value]) => prepareTensor(name, value));
  // Reference order: larger dtypes first (keeps every tensor naturally aligned), then by name.
  parts.sort((a, b) => DTYPES[b.dtype].bytes - DTYPES[a.dtype].bytes || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const header: Record<string, unknown> = {};
  if (meta) header.__metadata__ = meta;
  let offset = 0;
  for (const p of parts) {
    header[p.name] = { dtype: p.dtype, shape: p.shape, data_offsets: [offset, offset + p.bytes.byteLength] };
    offset += p.bytes.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) json = Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
  if (json.length > SAFETENSORS_MAX_HEADER_BYTES) {
    throw rangeError('ERR_ADDERNET_SIZE', 'tensors', `a header of at most ${SAFETENSORS_MAX_HEADER_BYTES} bytes`, `${json.length} bytes`);
  }
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length), 0);
  return { header: Buffer.concat([prefix, json]), parts };
}

/** Serialises tensors (and optional string metadata) to safetensors bytes in memory. */
export function serializeSafetensors(
  tensors: Record<string, SafetensorsInput> | Map<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Buffer {
  const { header, parts } = prepare(tensors, metadata);
  return Buffer.concat([header, ...parts.map((p) => p.bytes)]);
}

/**
 * Writes tensors (and optional string metadata) to `path` atomically: a
 * temporary file in the same directory is written, fsynced and renamed over
 * the target, then the directory is fsynced. On any error the temporary file is
 * removed and an existing file at `path` is untouched. Tensor data is streamed
 * to disk, not assembled into one buffer.
 */
export function writeSafetensors(
  path: string,
  tensors: Record<string, SafetensorsInput> | Map<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): void {
  if (typeof path !== 'string' || path.length === 0) throw typeError('path', 'a non-empty file path', path);
  const { header, parts } = prepare(tensors, metadata); // validate everything before touching the disk
  writeFileAtomicSync(path, (function* () {
    yield header;
    for (const p of parts) yield p.bytes;
  })());
}

// ---------------------------------------------------------------------------
// Conversions

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half-precision bits → number. */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  u32[0] = ((h & 0x8000) << 16) | ((e + 112) << 23) | (m << 13);
  return f32[0];
}

/** number → IEEE half-precision bits, rounding to nearest even (as a float32 first). */
export function numberToF16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rem = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rem > half || (rem === half && m & 1)) m++;
    return sign | m;
  }
  const rem = mant & 0x1fff;
  let h = sign | (e << 10) | (mant >>> 13);
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return h;
}

/** bfloat16 bits → number. */
export function bf16BitsToNumber(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0];
}

/** number → bfloat16 bits, rounding to nearest even (as a float32 first). */
export function numberToBf16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) & 0x8000) | 0x7fc0; // NaN stays NaN
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** float8 E4M3 (finite, no infinities; 0x7f/0xff are NaN) bits → number. */
function f8e4m3ToNumber(b: number): number {
  const sign = b & 0x80 ? -1 : 1;
  const e = (b >>> 3) & 0xf;
  const m = b & 7;
  if (e === 15 && m === 7) return NaN;
  if (e === 0) return sign * m * 2 ** -9;
  return sign * (1 + m / 8) * 2 ** (e - 7);
}

/** Float32Array → F16 bits. */
export function float32ToF16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = numberToF16Bits(data[i]);
  return out;
}

/** Float32Array → BF16 bits. */
export function float32ToBf16(data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = numberToBf16Bits(data[i]);
  return out;
}

/**
 * Any tensor's values as a Float32Array: F32 data is returned as is (no copy);
 * other dtypes are converted (F16/BF16/F8 decoded, integers and F64 rounded to
 * float32, BOOL as 0/1).
 */
export function toFloat32Array(t: SafetensorsTensor): Float32Array {
  switch (t.dtype) {
    case 'F32':
      return t.data;
    case 'F16': {
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < out.length; i++) out[i] = f16BitsToNumber(t.data[i]);
      return out;
    }
    case 'BF16': {
      const bits = new Uint32Array(t.data.length);
      for (let i = 0; i < bits.length; i++) bits[i] = t.data[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case 'F8_E5M2': {
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < out.length; i++) out[i] = f16BitsToNumber(t.data[i] << 8);
      return out;
    }
    case 'F8_E4M3': {
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < out.length; i++) out[i] = f8e4m3ToNumber(t.data[i]);
      return out;
    }
    case 'I64':
    case 'U64': {
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
      return out;
    }
    case 'BOOL': {
      const out = new Float32Array(t.data.length);
      for (let i = 0; i < out.length; i++) out[i] = t.data[i] ? 1 : 0;
      return out;
    }
    default:
      return Float32Array.from(t.data as ArrayLike<number>);
  }
}

/** A safetensors entry as a float32 Tensor (F32 data shared, other dtypes converted). */
export function toTensor(t: SafetensorsTensor): Tensor {
  return new Tensor(toFloat32Array(t), t.shape);
}
