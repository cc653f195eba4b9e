// The quantized adder layer over the native uint8 SAD kernels
// (binding/quant.cc, cpp/quant.cc). Input and filters share one grid
// (x = s * (qx - z), w = s * (qw - z)), so the float layer is -s * SAD and
// SAD is exact in int32. Validates on the calling thread; the kernel runs on
// all pool threads before the call returns (its inputs are plain Uint8Arrays).
import { checkOptions } from '../checks';
import { checkPair, describe, rangeError, typeError, type Pair } from '../errors';
import { native } from '../native';
import { empty, Tensor } from '../tensor';
import { geometry } from './geometry';

/** uint8 values in NCHW order (row-major, like a Tensor's), with their shape. */
export interface QuantizedArray {
  data: Uint8Array;
  shape: readonly number[];
}

export interface Adder2dU8Options {
  /** Stride (default 1). */
  stride?: Pair;
  /** Padding on each side (default 0), filled with padValue. */
  padding?: Pair;
  /** The byte a padded tap reads: the quantized value of 0.0, i.e. the zero point (default 0). */
  padValue?: number;
}

/** Longest reduction C*KH*KW whose sum of byte differences (at most 255 each) fits int32. */
export const MAX_U8_REDUCTION = Math.floor((2 ** 31 - 1) / 255);

function checkQuantized(value: unknown, argument: string, what: string): QuantizedArray {
  const q = value as QuantizedArray;
  if (typeof value !== 'object' || value === null || !(q.data instanceof Uint8Array) || !Array.isArray(q.shape)) {
    throw typeError(argument, `{ data: Uint8Array, shape: ${what} }`, value);
  }
  if (q.shape.length !== 4 || q.shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw rangeError('ERR_ADDERNET_SHAPE', `${argument}.shape`, `4 integers >= 1 ${what}`, describe(q.shape));
  }
  const size = q.shape.reduce((a, b) => a * b, 1);
  if (q.data.length !== size) {
    throw rangeError('ERR_ADDERNET_SIZE', `${argument}.data`, `${size} elements (shape ${describe(q.shape)})`, `${q.data.length} elements`);
  }
  return q;
}

function checkPadValue(value: unknown): number {
  const expected = 'an integer from 0 to 255';
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw typeError('options.padValue', expected, value);
  if (!Number.isInteger(value) || value < 0 || value > 255) {
    throw rangeError('ERR_ADDERNET_OPTION', 'options.padValue', expected, describe(value));
  }
  return value;
}

/**
 * Sum of absolute differences of uint8 patches and filters, exact in int32:
 * out[n,t,i,j] = sum_{c,u,v} |qxp[n,c,i*SH+u,j*SW+v] - qw[t,c,u,v]|, where
 * qxp is qx padded with padValue. qx [N, C, H, W], qw [T, C, KH, KW] ->
 * an int32 Tensor [N, T, HO, WO]; the float layer is -scale * out.
 */
export function adder2dU8(qx: QuantizedArray, qw: QuantizedArray, options?: Adder2dU8Options): Tensor<'int32'> {
  const x = checkQuantized(qx, 'qx', '[N, C, H, W]');
  const w = checkQuantized(qw, 'qw', '[T, C, KH, KW]');
  const opts = checkOptions(options, 'options');
  const g = geometry(x, w, checkPair(opts.stride, 'stride', [1, 1], 1), checkPair(opts.padding, 'padding', [0, 0], 0), ['qx', 'qw']);
  const padValue = checkPadValue(opts.padValue);
  const k = w.shape[1] * w.shape[2] * w.shape[3];
  if (k > MAX_U8_REDUCTION) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'qw', `a reduction C*KH*KW of at most ${MAX_U8_REDUCTION} (int32 sums)`, `${k} (shape ${describe(w.shape)})`);
  }
  const out = empty(g.outShape, 'int32');
  native.adder2dU8Forward(x.data, w.data, out.storage, g.dims, padValue);
  return out;
}
