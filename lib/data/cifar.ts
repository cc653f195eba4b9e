/**
 * CIFAR-10 and CIFAR-100 binary versions (https://www.cs.toronto.edu/~kriz/cifar.html):
 *
 * - CIFAR-10 (`data_batch_1.bin` .. `data_batch_5.bin`, `test_batch.bin`):
 *   records of 1 label byte (0-9) + 3072 pixel bytes.
 * - CIFAR-100 (`train.bin`, `test.bin`): records of 1 coarse label byte (0-19),
 *   1 fine label byte (0-99) + 3072 pixel bytes.
 *
 * Pixels are 32x32, stored as the 1024 red values, then green, then blue, each
 * plane row-major: already the CHW layout this library uses. A file whose size
 * is not a whole number of records, or whose labels are out of range, is
 * rejected with an error naming the file. Files may be gzip-compressed.
 */
import * as fs from 'node:fs';
import { rangeError, typeError } from '../errors';
import { gunzipFile, isGzip } from './idx';

export const CIFAR_IMAGE_BYTES = 3 * 32 * 32;
export const CIFAR10_RECORD_BYTES = 1 + CIFAR_IMAGE_BYTES;
export const CIFAR100_RECORD_BYTES = 2 + CIFAR_IMAGE_BYTES;

export interface Cifar10Batch {
  count: number;
  /** Class labels 0-9. */
  labels: Uint8Array;
  /** count x 3 x 32 x 32 bytes. */
  pixels: Uint8Array;
}

export interface Cifar100Batch {
  count: number;
  /** Superclass labels 0-19. */
  coarseLabels: Uint8Array;
  /** Class labels 0-99. */
  fineLabels: Uint8Array;
  pixels: Uint8Array;
}

function cifarError(file: string, expected: string, received: string): RangeError {
  return rangeError('ERR_ADDERNET_FORMAT', `CIFAR file ${JSON.stringify(file)}`, expected, received);
}

function splitRecords(
  bytes: Uint8Array,
  file: string,
  labelBytes: number,
  limits: number[],
  labelNames: string[],
): { count: number; labels: Uint8Array[]; pixels: Uint8Array } {
  if (!(bytes instanceof Uint8Array)) throw typeError('bytes', 'a Buffer or Uint8Array', bytes);
  const record = labelBytes + CIFAR_IMAGE_BYTES;
  if (bytes.length === 0 || bytes.length % record !== 0) {
    const whole = Math.floor(bytes.length / record);
    throw cifarError(
      file,
      `a whole number of ${record}-byte records (${labelBytes} label byte${labelBytes > 1 ? 's' : ''} + ${CIFAR_IMAGE_BYTES} pixel bytes)`,
      bytes.length === 0
        ? 'an empty file'
        : `${bytes.length} bytes (${whole} record${whole === 1 ? '' : 's'} and ${bytes.length - whole * record} extra bytes: truncated or not a CIFAR ${labelBytes === 1 ? '10' : '100'} binary file)`,
    );
  }
  const count = bytes.length / record;
  const labels = limits.map(() => new Uint8Array(count));
  const pixels = new Uint8Array(count * CIFAR_IMAGE_BYTES);
  for (let i = 0; i < count; i++) {
    const base = i * record;
    for (let k = 0; k < labelBytes; k++) {
      const v = bytes[base + k];
      if (v >= limits[k]) {
        throw cifarError(file, `${labelNames[k]} labels 0-${limits[k] - 1}`, `label ${v} in record ${i} (byte offset ${base + k})`);
      }
      labels[k][i] = v;
    }
    pixels.set(bytes.subarray(base + labelBytes, base + record), i * CIFAR_IMAGE_BYTES);
  }
  return { count, labels, pixels };
}

function readBytes(file: string): Uint8Array {
  if (typeof file !== 'string') throw typeError('file', 'a file path', file);
  const bytes = fs.readFileSync(file);
  return isGzip(bytes) ? gunzipFile(bytes, file, 1 << 30, 'CIFAR file') : bytes;
}

/** Parses the bytes of one CIFAR-10 binary batch. */
export function parseCifar10Batch(bytes: Uint8Array, file = '<buffer>'): Cifar10Batch {
  const { count, labels, pixels } = splitRecords(bytes, file, 1, [10], ['class']);
  return { count, labels: labels[0], pixels };
}

/** Parses the bytes of one CIFAR-100 binary file. */
export function parseCifar100Batch(bytes: Uint8Array, file = '<buffer>'): Cifar100Batch {
  const { count, labels, pixels } = splitRecords(bytes, file, 2, [20, 100], ['coarse', 'fine']);
  return { count, coarseLabels: labels[0], fineLabels: labels[1], pixels };
}

export function readCifar10Batch(file: string): Cifar10Batch {
  return parseCifar10Batch(readBytes(file), file);
}

export function readCifar100Batch(file: string): Cifar100Batch {
  return parseCifar100Batch(readBytes(file), file);
}
