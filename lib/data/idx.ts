/**
 * IDX files (the format of MNIST, Fashion-MNIST, KMNIST, EMNIST, ...):
 *
 *   0x00 0x00 <type> <rank>, then <rank> big-endian uint32 dimensions, then the
 *   data, row-major.
 *
 * Only type 0x08 (unsigned byte) is read, which is what image and label files
 * use. Files may be gzip-compressed (detected by their magic bytes, not their
 * name). The data length must match the dimensions exactly; a truncated file or
 * one with trailing bytes is rejected with an error naming the file.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { rangeError, typeError, type AddernetError } from '../errors';

export interface IdxArray {
  /** Dimensions, e.g. [60000, 28, 28] for an image file, [60000] for labels. */
  dims: number[];
  /** Row-major unsigned bytes, length = product of dims. */
  data: Uint8Array;
}

export interface ReadIdxOptions {
  /** Largest decompressed size accepted for a .gz file (default 1 GiB): a guard against gzip bombs. */
  maxBytes?: number;
}

const IDX_TYPES: Record<number, string> = {
  0x08: 'unsigned byte',
  0x09: 'signed byte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

const DEFAULT_MAX_BYTES = 1 << 30;

export function idxError(file: string, expected: string, received: string): RangeError & AddernetError {
  return rangeError('ERR_ADDERNET_FORMAT', `IDX file ${JSON.stringify(file)}`, expected, received);
}

const hex = (b: number): string => '0x' + b.toString(16).padStart(2, '0');

/** True when the bytes start with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompresses gzip bytes, turning zlib failures into an error naming the file. */
export function gunzipFile(bytes: Uint8Array, file: string, maxBytes = DEFAULT_MAX_BYTES, what = 'file'): Buffer {
  try {
    return zlib.gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ERR_BUFFER_TOO_LARGE' ? `more than ${maxBytes} bytes once decompressed` : `a corrupt or truncated gzip stream (${e.message})`;
    throw rangeError('ERR_ADDERNET_FORMAT', `${what} ${JSON.stringify(file)}`, 'a valid gzip stream', why);
  }
}

/** Parses IDX bytes (already decompressed). `file` names the source in errors. */
export function parseIdx(bytes: Uint8Array, file = '<buffer>'): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw typeError('bytes', 'a Buffer or Uint8Array', bytes);
  if (bytes.length < 4) {
    throw idxError(file, 'at least 4 bytes (the magic number)', `${bytes.length} bytes (the file is truncated)`);
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw idxError(
      file,
      'the IDX magic number 0x00 0x00 <type> <rank>',
      `${[...bytes.subarray(0, 4)].map(hex).join(' ')} (not an IDX file)`,
    );
  }
  const type = bytes[2];
  if (type !== 0x08) {
    throw idxError(file, 'data type 0x08 (unsigned byte)', `${hex(type)}${IDX_TYPES[type] ? ` (${IDX_TYPES[type]})` : ' (not an IDX type)'}`);
  }
  const rank = bytes[3];
  if (rank < 1) throw idxError(file, 'a rank of at least 1', String(rank));
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw idxError(file, `${headerBytes} header bytes for rank ${rank}`, `${bytes.length} bytes (the file is truncated)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let size = 1;
  for (let i = 0; i < rank; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    size *= d;
  }
  const expected = headerBytes + size; // may exceed 2^53 for hostile dims: then it can never match
  if (!Number.isSafeInteger(expected) || bytes.length !== expected) {
    const dimsText = `[${dims.join(', ')}]`;
    const why =
      bytes.length < expected
        ? `${bytes.length} bytes (the file is truncated)`
        : `${bytes.length} bytes (${bytes.length - expected} trailing bytes)`;
    throw idxError(file, `${expected} bytes for dimensions ${dimsText}`, why);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** Reads an IDX file, raw or gzip-compressed (detected by its magic bytes). */
export function readIdx(file: string, options: ReadIdxOptions = {}): IdxArray {
  if (typeof file !== 'string') throw typeError('file', 'a file path', file);
  let bytes: Uint8Array = fs.readFileSync(file);
  if (isGzip(bytes)) bytes = gunzipFile(bytes, file, options.maxBytes ?? DEFAULT_MAX_BYTES, 'IDX file');
  return parseIdx(bytes, file);
}

/** Encodes unsigned bytes as an IDX file (type 0x08). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Buffer {
  if (!Array.isArray(dims) || dims.length < 1 || dims.length > 255) throw typeError('dims', 'an array of 1 to 255 dimensions', dims);
  const size = dims.reduce((a, b) => a * b, 1);
  if (!(data instanceof Uint8Array)) throw typeError('data', 'a Uint8Array', data);
  if (data.length !== size) throw rangeError('ERR_ADDERNET_SIZE', 'data', `${size} bytes for dims [${dims.join(', ')}]`, `${data.length} bytes`);
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}
