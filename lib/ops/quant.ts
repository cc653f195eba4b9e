// The quantized adder layer over the native uint8 SAD kernels
// (binding/quant.cc, cpp/quant.cc). Input and filters share one grid
// (x = s * (qx - z), w = s * (qw - z)), so the float layer is -s * SAD and
// SAD is exact in int32. Validates on the calling thread. adder2dU8 takes
// plain Uint8Arrays, so its kernel runs before the call returns;
// quantizedAdder2d is the whole layer on float tensors (input quantized in
// the kernel, the per-channel epilogue applied there), queued like every
// other op, which is what a quantized model's predict runs.
import { checkOptions, checkTensor } from '../checks';
import { checkPair, codedError, describe, rangeError, typeError, type Pair } from '../errors';
import { native, type NativeQuantizedAdderLayer } from '../native';
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

/** What a QuantizedAdderWeights holds: one quantized adder layer's constants. */
export interface QuantizedAdderWeightsInit {
  /** The filters on the grid, [T, C, KH, KW] in row-major order. */
  qweight: Uint8Array;
  /** [T, C, KH, KW]. */
  shape: readonly number[];
  /** s of the grid x = s * (q - z), finite and > 0. */
  scale: number;
  /** z, an integer in [0, 2^bits - 1]: the quantized 0.0 (what padded taps read). */
  zeroPoint: number;
  /** Levels 2^bits, 1 to 8. */
  bits: number;
  /** [T]: out[n, t, i, j] = mul[t] * SAD + add[t], in float64, then rounded to float32. */
  mul: Float64Array;
  /** [T]. */
  add: Float64Array;
}

/**
 * A quantized adder layer's constants copied into native memory once, so
 * each quantizedAdder2d call queues its kernel on them without copying or
 * keeping JavaScript arrays alive. dispose() frees them (kernels already
 * queued keep their own reference).
 */
export class QuantizedAdderWeights {
  readonly shape: readonly [number, number, number, number];
  readonly scale: number;
  readonly zeroPoint: number;
  readonly bits: number;
  /** @internal */
  readonly handle: NativeQuantizedAdderLayer;

  constructor(init: QuantizedAdderWeightsInit) {
    const o = checkOptions(init, 'init', true) as Partial<QuantizedAdderWeightsInit>;
    const w = checkQuantized({ data: o.qweight, shape: o.shape }, 'init.qweight', '[T, C, KH, KW]');
    const [t, c, kh, kw] = w.shape;
    if (c * kh * kw > MAX_U8_REDUCTION) {
      throw rangeError('ERR_ADDERNET_SHAPE', 'init.shape', `a reduction C*KH*KW of at most ${MAX_U8_REDUCTION} (int32 sums)`, `${c * kh * kw} (shape ${describe(w.shape)})`);
    }
    const bits = o.bits;
    if (typeof bits !== 'number') throw typeError('init.bits', 'an integer from 1 to 8', bits);
    if (!Number.isInteger(bits) || bits < 1 || bits > 8) throw rangeError('ERR_ADDERNET_OPTION', 'init.bits', 'an integer from 1 to 8', describe(bits));
    const qmax = 2 ** bits - 1;
    const z = o.zeroPoint;
    if (typeof z !== 'number') throw typeError('init.zeroPoint', `an integer from 0 to ${qmax}`, z);
    if (!Number.isInteger(z) || z < 0 || z > qmax) throw rangeError('ERR_ADDERNET_OPTION', 'init.zeroPoint', `an integer from 0 to ${qmax}`, describe(z));
    const scale = o.scale;
    if (typeof scale !== 'number') throw typeError('init.scale', 'a finite number > 0', scale);
    if (!(scale > 0) || !Number.isFinite(scale)) throw rangeError('ERR_ADDERNET_OPTION', 'init.scale', 'a finite number > 0', describe(scale));
    for (const key of ['mul', 'add'] as const) {
      const v = o[key];
      if (!(v instanceof Float64Array)) throw typeError(`init.${key}`, `a Float64Array of ${t} elements`, v);
      if (v.length !== t) throw rangeError('ERR_ADDERNET_SIZE', `init.${key}`, `${t} elements (one per filter)`, `${v.length} elements`);
    }
    this.shape = [t, c, kh, kw];
    this.scale = scale;
    this.zeroPoint = z;
    this.bits = bits;
    this.handle = new native.QuantizedAdderLayer(w.data, scale, z, bits, o.mul!, o.add!);
  }

  get disposed(): boolean {
    return this.handle.disposed;
  }

  dispose(): void {
    this.handle.dispose();
  }
}

export interface QuantizedAdder2dOptions {
  /** Stride (default 1). */
  stride?: Pair;
  /** Padding on each side (default 0); a padded tap reads the zero point. */
  padding?: Pair;
}

/**
 * A whole quantized adder layer on float tensors, queued on the device
 * queue: x [N, C, H, W] is quantized to the layer's grid in the kernel
 * (q = clamp(round(x / s + z), 0, 2^bits - 1), ties to even, NaN to 0),
 * padded with z, and out[n, t, i, j] = mul[t] * SAD + add[t], where SAD is
 * adder2dU8's exact sum against the layer's filters -> float32 [N, T, HO, WO].
 */
export function quantizedAdder2d(x: Tensor, weights: QuantizedAdderWeights, options?: QuantizedAdder2dOptions): Tensor {
  const input = checkTensor(x, 'x', [4], '[N, C, H, W]');
  if (!(weights instanceof QuantizedAdderWeights)) throw typeError('weights', 'a QuantizedAdderWeights', weights);
  if (weights.disposed) throw codedError('ERR_ADDERNET_DISPOSED', `addernet: weights are disposed quantized adder weights (shape ${describe(weights.shape)})`);
  const opts = checkOptions(options, 'options');
  const g = geometry(input, weights, checkPair(opts.stride, 'stride', [1, 1], 1), checkPair(opts.padding, 'padding', [0, 0], 0), ['x', 'weights']);
  const out = empty(g.outShape);
  native.quantizedAdder2dForward(input.storage, weights.handle, out.storage, g.dims);
  return out;
}
