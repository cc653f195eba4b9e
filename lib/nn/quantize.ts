// Model-level quantization of an AdderNet (issue 10; the math is in the
// README's "Quantized inference"). Per adder layer one scale s and zero point
// z shared by its input and its filters, so the layer is -s * SAD(qx, qw)
// with the SAD exact in int32 (ops.quantizedAdder2d: one queued native op
// that quantizes the input, sums and applies the epilogue, so a quantized
// predict runs on the inference queue like a float one). Filters outside the input's
// range are clipped to it and the clipped-off amount kept as a per-filter
// constant (exact: for x in [lo, hi] and w > hi, |x - w| = |x - hi| + (w - hi)),
// which folds with the layer's bias and the BatchNorm after it into one
// per-channel scale and shift on the int32 result. Every other layer
// (convolutions, unfolded BatchNorms, pooling, ReLU) stays float.
import { batches, epochOrder } from '../data/batches';
import { datasetSize, subset, type Dataset } from '../data/dataset';
import { checkInteger, codedError, describe, rangeError, typeError } from '../errors';
import { quantizedAdder2d, QuantizedAdderWeights } from '../ops/quant';
import { collectTensors, Tensor } from '../tensor';
import { checkIdle, checkModelData } from './fit';
import { Adder2d, AdderLinear, BasicBlock, BatchNorm1d, BatchNorm2d, Sequential } from './layers';
import { Model, type ModelConfig } from './model';
import { Module, withoutFusion, type ModuleConfig } from './module';
import { expectImage, expectVector, windowOutput, type ModelSummary, type SummaryRow } from './summary';

export type QuantizeMethod = 'minmax' | 'percentile';

export interface QuantizeOptions {
  /** Grid of 2^bits levels, 4 to 8 (default 8); stored as uint8 whatever the bits. */
  bits?: number;
  /**
   * How each adder layer's input range is calibrated: 'minmax' (default) the
   * smallest and largest value seen, 'percentile' the given percentile at each
   * end (outliers beyond it are clipped, for a finer grid).
   */
  method?: QuantizeMethod;
  /** For 'percentile': the upper percentile, in (50, 100] (default 99.99); the lower one is 100 minus it. */
  percentile?: number;
  /** Calibration examples run through the float model (default 512, at most the dataset's size). */
  examples?: number;
  /** Examples per calibration forward (default 128). */
  batchSize?: number;
  /** Seed of the choice of calibration examples (default 0). */
  seed?: number;
}

/** What quantize() did, kept in the quantized model and its checkpoint. */
export interface QuantizationInfo {
  bits: number;
  method: QuantizeMethod;
  /** The percentile for 'percentile'. */
  percentile?: number;
  /** Calibration examples used. */
  examples: number;
  /** The quantized adder layers, in model order, with the BatchNorm folded into each (if any). */
  layers: { name: string; foldedBatchNorm?: string }[];
}

/** One quantized adder layer: what a quantized checkpoint stores for it. */
export interface QuantizedAdderParams {
  bits: number;
  /** s: x = s * (qx - z), w = s * (qw - z). A float32 value. */
  scale: number;
  /** z, an integer in [0, 2^bits - 1]: the quantized 0.0 (what padded taps read). */
  zeroPoint: number;
  /** The filters clipped to the input's grid range and quantized, in the float filters' order ([T, C, KH, KW] or [T, C]). */
  qweight: Uint8Array;
  /** [T]: per filter, the sum of |w - clip(w)| (the clipping identity's constant). */
  clip: Float32Array;
  /** [T]: y = bnScale * (-(s * SAD + clip)) + bnShift, the folded BatchNorm (1 without one) ... */
  bnScale: Float32Array;
  /** [T]: ... and its shift, the layer's bias folded in. */
  bnShift: Float32Array;
}

export const MIN_BITS = 4;
export const MAX_BITS = 8;

/**
 * The grid of an input range: scale s and integer zero point z with 2^bits
 * levels covering [lo, hi] widened to include 0, so that 0.0 is exactly the
 * level z (padded taps and ReLU zeros are exact). A range of one point gets
 * s = 1 / (2^bits - 1). s is rounded to float32 (what checkpoints store).
 */
export function gridFor(lo: number, hi: number, bits: number): { scale: number; zeroPoint: number } {
  const qmax = 2 ** bits - 1;
  const a = Math.min(lo, 0);
  const b = Math.max(hi, 0);
  const span = b - a;
  const scale = Math.fround(span > 0 && Number.isFinite(span) ? span / qmax : 1 / qmax);
  const zeroPoint = Math.min(qmax, Math.max(0, Math.round(-a / scale)));
  return { scale, zeroPoint };
}

/**
 * q = clamp(round(v / s + z), 0, qmax) for each value (ties to even), into out.
 * A Uint8ClampedArray store rounds and clamps to [0, 255] (NaN to 0) by
 * itself, several times faster than Math.round and two comparisons. The
 * quantized layer's kernel (cpp/quant.cc) rounds its input exactly so.
 */
export function quantizeValues(values: ArrayLike<number>, scale: number, zeroPoint: number, bits: number, out = new Uint8Array(values.length)): Uint8Array {
  const qmax = 2 ** bits - 1;
  const inv = 1 / scale;
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  if (qmax === 255) for (let i = 0; i < values.length; i++) clamped[i] = values[i] * inv + zeroPoint;
  else for (let i = 0; i < values.length; i++) clamped[i] = Math.min(values[i] * inv + zeroPoint, qmax);
  return out;
}

type FloatAdder = Adder2d | AdderLinear;
type FloatBatchNorm = BatchNorm1d | BatchNorm2d;

/**
 * An adder layer's parameters on the grid of its input range [lo, hi]: the
 * filters clipped to the grid's range (the clipped-off amount per filter in
 * `clip`), quantized, and the BatchNorm that follows it (if any) folded with
 * the layer's bias into bnScale and bnShift. Sums in float64, stored float32.
 */
export function quantizeAdderLayer(layer: FloatAdder, bn: FloatBatchNorm | undefined, lo: number, hi: number, bits: number): QuantizedAdderParams {
  const { scale, zeroPoint } = gridFor(lo, hi, bits);
  const qmax = 2 ** bits - 1;
  const w = layer.weight.value.dataSync();
  const T = layer.weight.value.shape[0];
  const K = w.length / T;
  const gridLo = -zeroPoint * scale;
  const gridHi = (qmax - zeroPoint) * scale;
  const clipped = new Float32Array(w.length);
  const clip = new Float32Array(T);
  for (let t = 0; t < T; t++) {
    let c = 0;
    for (let k = t * K; k < (t + 1) * K; k++) {
      const v = w[k];
      if (v > gridHi) c += v - gridHi;
      else if (v < gridLo) c += gridLo - v;
      clipped[k] = v > gridHi ? gridHi : v < gridLo ? gridLo : v;
    }
    clip[t] = c;
  }
  const bias = layer.bias?.value.dataSync();
  const bnScale = new Float32Array(T).fill(1);
  const bnShift = new Float32Array(T);
  const gamma = bn?.weight.value.dataSync();
  const beta = bn?.bias.value.dataSync();
  const mean = bn?.runningMean.dataSync();
  const variance = bn?.runningVar.dataSync();
  const eps = bn?.args.eps ?? 1e-5;
  for (let t = 0; t < T; t++) {
    const b = bias ? bias[t] : 0;
    if (!bn) {
      bnShift[t] = b;
      continue;
    }
    const g = gamma![t] / Math.sqrt(variance![t] + eps);
    bnScale[t] = g;
    bnShift[t] = beta![t] + g * (b - mean![t]);
  }
  return { bits, scale, zeroPoint, qweight: quantizeValues(clipped, scale, zeroPoint, bits), clip, bnScale, bnShift };
}

/** Geometry of an adder layer from its config args (Adder2d or AdderLinear). */
interface AdderGeometry {
  linear: boolean;
  t: number;
  c: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
}

const pairOf = (v: unknown, fallback: number): [number, number] =>
  v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : [(v as number[])[0], (v as number[])[1]];

function geometryOf(config: ModuleConfig): AdderGeometry {
  const a = (config.args ?? {}) as Record<string, unknown>;
  if (config.type === 'AdderLinear') {
    return { linear: true, t: a.outFeatures as number, c: a.inFeatures as number, kernel: [1, 1], stride: [1, 1], padding: [0, 0] };
  }
  return {
    linear: false, t: a.outChannels as number, c: a.inChannels as number,
    kernel: pairOf(a.kernelSize, 1), stride: pairOf(a.stride, 1), padding: pairOf(a.padding, 0),
  };
}

/**
 * An adder layer on uint8, one queued native op (ops.quantizedAdder2d): the
 * kernel quantizes its input to the layer's grid, runs the exact int32 SAD
 * (padded taps reading z) and maps it to floats with the per-channel scale
 * and shift: y[t] = bnScale[t] * (-(s * SAD[t] + clip[t])) + bnShift[t].
 * Nothing runs on the calling thread but validation. Inference only.
 */
export class QuantizedAdder extends Module {
  private readonly g: AdderGeometry;
  /** @internal The layer's constants in native memory (QuantizedModel.dispose frees them). */
  readonly weights: QuantizedAdderWeights;

  constructor(
    /** The float layer's config (Adder2d or AdderLinear). */
    readonly source: ModuleConfig,
    readonly quantized: QuantizedAdderParams,
  ) {
    super();
    this.g = geometryOf(source);
    const { t, c, kernel } = this.g;
    // y = mul[t] * SAD + add[t], in float64 (a SAD reaches 2^31).
    const mul = new Float64Array(t);
    const add = new Float64Array(t);
    for (let i = 0; i < t; i++) {
      mul[i] = -quantized.bnScale[i] * quantized.scale;
      add[i] = quantized.bnShift[i] - quantized.bnScale[i] * quantized.clip[i];
    }
    const { scale, zeroPoint, bits, qweight } = quantized;
    this.weights = new QuantizedAdderWeights({ qweight, shape: [t, c, kernel[0], kernel[1]], scale, zeroPoint, bits, mul, add });
  }

  /** The float filters' shape: [T, C, KH, KW], or [T, C] for a linear layer. */
  weightShape(): number[] {
    const { linear, t, c, kernel } = this.g;
    return linear ? [t, c] : [t, c, kernel[0], kernel[1]];
  }

  forward(x: Tensor): Tensor {
    const { linear, t, c, stride, padding } = this.g;
    if (x.rank !== (linear ? 2 : 4) || x.shape[1] !== c) {
      throw rangeError('ERR_ADDERNET_SHAPE', 'x', `shape ${linear ? `[N, ${c}]` : `[N, ${c}, H, W]`} for ${this.config().type}`, `shape ${describe(x.shape)}`);
    }
    if (!linear) return quantizedAdder2d(x, this.weights, { stride, padding });
    const x4 = x.reshape([x.shape[0], c, 1, 1]);
    const y = quantizedAdder2d(x4, this.weights);
    x4.dispose();
    const out = y.reshape([x.shape[0], t]);
    y.dispose();
    return out;
  }

  backward(): Tensor {
    throw codedError('ERR_ADDERNET_STATE', 'addernet: a quantized adder layer is for inference only (no backward); train the float model and quantize() it again');
  }

  /**
   * 2 additions per tap (|qx - qw| and the sum, on bytes), then one
   * multiplication and one addition per output (the folded scale and shift).
   */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    const { linear, t, c, kernel, stride, padding } = this.g;
    let out: number[];
    if (linear) {
      expectVector(input, name, c);
      out = [t];
    } else {
      expectImage(input, name, c);
      const [ho, wo] = windowOutput(name, input, kernel, stride, padding);
      out = [t, ho, wo];
    }
    const outputs = out.reduce((p, d) => p * d, 1);
    const taps = outputs * c * kernel[0] * kernel[1];
    rows.push({
      name, type: this.config().type, outputShape: out, parameters: this.quantized.qweight.length + 3 * t + 2, buffers: 0,
      trainable: false, multiplications: outputs, additions: 2 * taps + outputs,
    });
    return out;
  }

  config(): ModuleConfig {
    return { type: this.g.linear ? 'QuantizedAdderLinear' : 'QuantizedAdder2d', args: { ...this.source.args, bits: this.quantized.bits } };
  }
}

/** A BatchNorm folded into the quantized adder layer before it: passes its input through. */
export class FoldedBatchNorm extends Module {
  constructor(
    readonly source: ModuleConfig,
    /** The quantized layer it is folded into. */
    readonly into: string,
  ) {
    super();
  }
  forward(x: Tensor): Tensor {
    return x;
  }
  backward(gradOut: Tensor): Tensor {
    return gradOut;
  }
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    rows.push({ name, type: `${this.source.type} (folded)`, outputShape: [...input], parameters: 0, buffers: 0, trainable: false, multiplications: 0, additions: 0 });
    return [...input];
  }
  config(): ModuleConfig {
    return { type: 'FoldedBatchNorm', args: { into: this.into, ...(this.source.args ?? {}) } };
  }
}

/** An adder layer that quantize() replaces, with where it sits and the BatchNorm it folds. */
interface Target {
  name: string;
  parent: Module;
  child: string;
  layer: FloatAdder;
  bn?: { name: string; child: string; module: FloatBatchNorm };
}

const joinPath = (parent: string, child: string) => (parent ? `${parent}.${child}` : child);

/**
 * The adder layers quantize() handles: those whose container runs its
 * children from its child map (Sequential, BasicBlock; others keep theirs
 * float), each with the BatchNorm right after it in that container when it
 * normalises the layer's outputs (same rank and channel count).
 */
function targetsOf(net: Module): Target[] {
  const out: Target[] = [];
  for (const [path, m] of net.namedModules()) {
    if (!(m instanceof Sequential || m instanceof BasicBlock)) continue;
    const kids = m.children();
    kids.forEach(([child, layer], i) => {
      if (!(layer instanceof Adder2d || layer instanceof AdderLinear)) return;
      const next = kids[i + 1]?.[1];
      const t = layer.weight.value.shape[0];
      const fits = layer instanceof Adder2d ? next instanceof BatchNorm2d : next instanceof BatchNorm1d;
      const bn = fits && (next as FloatBatchNorm).args.numFeatures === t
        ? { name: joinPath(path, kids[i + 1][0]), child: kids[i + 1][0], module: next as FloatBatchNorm }
        : undefined;
      out.push({ name: joinPath(path, child), parent: m, child, layer, bn });
    });
  }
  return out;
}

/** A quantized AdderNet: predict(), evaluate() and the CLI take it like a float Model; fit() does not. */
export class QuantizedModel extends Model {
  constructor(
    net: Module,
    info: Model['info'],
    readonly quantization: QuantizationInfo,
    /** The float architecture it was quantized from (what a checkpoint rebuilds first). */
    readonly floatConfig: ModelConfig,
  ) {
    super(net, info);
  }

  override get inferenceOnly(): boolean {
    return true;
  }

  /** Model.dispose() plus the quantized layers' native constants. */
  override async dispose(): Promise<void> {
    await super.dispose();
    for (const l of this.quantizedLayers().values()) l.weights.dispose();
  }

  /** The quantized layers by module path. */
  quantizedLayers(): Map<string, QuantizedAdder> {
    const out = new Map<string, QuantizedAdder>();
    for (const [n, m] of this.net.namedModules()) if (m instanceof QuantizedAdder) out.set(n, m);
    return out;
  }

  /** Model.summary() plus which layers run on uint8, which BatchNorms are folded and which layers stay float. */
  override summary(options: Parameters<Model['summary']>[0] = {}): ModelSummary {
    const s = super.summary(options);
    const quantized = this.quantization.layers.map((l) => l.name);
    const folded = this.quantization.layers.flatMap((l) => (l.foldedBatchNorm ? [l.foldedBatchNorm] : []));
    const skip = new Set([...quantized, ...folded]);
    const float = s.rows.filter((r) => !skip.has(r.name) && r.type !== 'Flatten').map((r) => r.name);
    const { bits, method, percentile, examples } = this.quantization;
    return { ...s, quantization: { bits, method, ...(percentile === undefined ? {} : { percentile }), examples, quantized, folded, float } };
  }
}

/**
 * @internal Replaces, in `model` (taken over: its tensors of the replaced
 * layers are freed), the adder layers named in `layers` by quantized ones,
 * folding each one's BatchNorm when `info` says so. quantize() and the
 * checkpoint loader both build a quantized model this way; throws
 * ERR_ADDERNET_FORMAT (naming `source`) when a layer or fold does not match
 * the architecture.
 */
export function assembleQuantized(
  model: Model,
  info: QuantizationInfo,
  paramsFor: (name: string, layer: Adder2d | AdderLinear) => QuantizedAdderParams,
  floatConfig: ModelConfig,
  source = 'the quantization info',
): QuantizedModel {
  const targets = new Map(targetsOf(model.net).map((t) => [t.name, t]));
  const seen = new Set<string>();
  for (const l of info.layers) {
    const t = targets.get(l.name);
    if (!t || seen.has(l.name)) {
      throw rangeError('ERR_ADDERNET_FORMAT', `layer ${JSON.stringify(l.name)} in ${source}`, `each of the model's adder layers at most once (${[...targets.keys()].join(', ')})`, t ? 'it twice' : 'no such adder layer');
    }
    seen.add(l.name);
    if (l.foldedBatchNorm !== t.bn?.name) {
      throw rangeError('ERR_ADDERNET_FORMAT', `foldedBatchNorm of ${JSON.stringify(l.name)} in ${source}`, describe(t.bn?.name ?? null), describe(l.foldedBatchNorm ?? null));
    }
  }
  // Every layer's parameters before any swap: a failure leaves the model whole.
  const params = info.layers.map((l) => paramsFor(l.name, targets.get(l.name)!.layer));
  info.layers.forEach((l, i) => {
    const t = targets.get(l.name)!;
    t.parent.replaceChild(t.child, new QuantizedAdder(t.layer.config(), params[i]));
    const freed: Module[] = [t.layer];
    if (t.bn) {
      t.parent.replaceChild(t.bn.child, new FoldedBatchNorm(t.bn.module.config(), l.name));
      freed.push(t.bn.module);
    }
    for (const m of freed) {
      for (const [, p] of m.namedParameters()) {
        p.value.dispose();
        p.grad.dispose();
      }
      for (const [, b] of m.namedBuffers()) b.dispose();
    }
  });
  return new QuantizedModel(model.net, model.info, info, floatConfig);
}

/** Smallest and largest value, and (for percentiles) a strided sample, of one layer's inputs. */
class RangeRecorder {
  lo = Infinity;
  hi = -Infinity;
  private sample: number[] = [];
  private stride = 0;
  private index = 0;

  constructor(
    private readonly keepSample: boolean,
    private readonly examples: number,
  ) {}

  add(values: Float32Array, batch: number): void {
    // At most ~2^21 values per layer are sorted, whatever the layer's size.
    if (this.keepSample && this.stride === 0) this.stride = Math.max(1, Math.ceil((this.examples * values.length) / batch / RangeRecorder.MAX_SAMPLE));
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < this.lo) this.lo = v;
      if (v > this.hi) this.hi = v;
    }
    if (!this.keepSample) return;
    let i = (this.stride - (this.index % this.stride)) % this.stride;
    for (; i < values.length; i += this.stride) this.sample.push(values[i]);
    this.index += values.length;
  }

  /** [lo, hi] at percentile p at the top and 100 - p at the bottom (nearest rank on the sample). */
  percentiles(p: number): [number, number] {
    const s = Float64Array.from(this.sample).sort();
    if (s.length === 0) return [this.lo, this.hi];
    const at = (f: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(f * (s.length - 1))))];
    return [at(1 - p / 100), at(p / 100)];
  }

  static readonly MAX_SAMPLE = 2 ** 21;
}

function checkQuantizeOptions(options: unknown, size: number): Required<Omit<QuantizeOptions, 'percentile'>> & { percentile?: number } {
  if (options === null || typeof options !== 'object') throw typeError('options', 'an options object { bits, method, ... }', options);
  const o = options as QuantizeOptions;
  const bits = o.bits ?? 8;
  if (typeof bits !== 'number') throw typeError('options.bits', `an integer from ${MIN_BITS} to ${MAX_BITS}`, bits);
  if (!Number.isInteger(bits) || bits < MIN_BITS || bits > MAX_BITS) throw rangeError('ERR_ADDERNET_OPTION', 'options.bits', `an integer from ${MIN_BITS} to ${MAX_BITS}`, describe(bits));
  const method = o.method ?? 'minmax';
  if (method !== 'minmax' && method !== 'percentile') throw rangeError('ERR_ADDERNET_OPTION', 'options.method', "'minmax' or 'percentile'", describe(method));
  let percentile: number | undefined;
  if (method === 'percentile') {
    percentile = o.percentile ?? 99.99;
    if (typeof percentile !== 'number') throw typeError('options.percentile', 'a number in (50, 100]', percentile);
    if (!(percentile > 50 && percentile <= 100)) throw rangeError('ERR_ADDERNET_OPTION', 'options.percentile', 'a number in (50, 100]', describe(percentile));
  } else if (o.percentile !== undefined) {
    throw rangeError('ERR_ADDERNET_OPTION', 'options.percentile', "nothing unless method is 'percentile'", describe(o.percentile));
  }
  const examples = Math.min(size, checkInteger(o.examples ?? 512, 'options.examples', 1));
  const batchSize = checkInteger(o.batchSize ?? 128, 'options.batchSize', 1);
  const seed = o.seed ?? 0;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) throw rangeError('ERR_ADDERNET_OPTION', 'options.seed', 'a safe integer', describe(seed));
  return { bits, method, ...(percentile === undefined ? {} : { percentile }), examples, batchSize, seed };
}

const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * A quantized copy of a float AdderNet (the model itself is left as it is):
 * runs it in eval mode on `options.examples` calibration examples drawn from
 * `calibration` (a few hundred training examples), records each adder layer's
 * input range (min/max, or percentiles), and puts each adder layer on a grid
 * of 2^bits levels over that range (including 0.0), its filters clipped to it
 * with the clipped-off amount kept exactly, the BatchNorm after it folded in.
 * Adder layers in containers other than Sequential and BasicBlock, and all
 * other layers, stay float; summary() lists both. The model's config must
 * be one moduleFromConfig rebuilds (the reference models' are).
 */
export async function quantize(model: Model, calibration: Dataset, options: QuantizeOptions = {}): Promise<QuantizedModel> {
  const ds = checkModelData(model, calibration, 'calibration');
  if (model.inferenceOnly) throw typeError('model', 'a float Model (this one is quantized already)', model);
  const o = checkQuantizeOptions(options, datasetSize(ds));
  checkIdle(model, 'quantize');
  // Calibrated and quantized on a copy: the caller's model is never touched.
  const floatConfig = structuredClone(model.config());
  const copy = Model.fromConfig(floatConfig).loadStateDict(model.stateDict());
  const targets = targetsOf(copy.net);
  const recorders = targets.map(() => new RangeRecorder(o.method === 'percentile', o.examples));
  // Record each target's input on the way through (instance overrides, removed afterwards).
  targets.forEach((t, i) => {
    const layer = t.layer;
    const forward = Object.getPrototypeOf(layer).forward as (x: Tensor) => Tensor;
    layer.forward = (x: Tensor) => {
      recorders[i].add(x.dataSync(), x.shape[0]);
      return forward.call(layer, x);
    };
  });
  copy.eval();
  try {
    const picked = subset(ds, epochOrder(datasetSize(ds), { shuffle: true, seed: o.seed }).subarray(0, o.examples));
    for (const { x } of batches(picked, { batchSize: o.batchSize, shuffle: false })) {
      // Unfused, so that each target's own forward sees its input.
      const { made } = collectTensors(() => withoutFusion(() => copy.forward(x)));
      x.dispose();
      for (const t of made) t.dispose();
      await nextTick();
    }
  } catch (err) {
    await copy.dispose();
    throw err;
  } finally {
    for (const t of targets) delete (t.layer as Partial<Pick<Module, 'forward'>>).forward;
  }
  const params = new Map<string, QuantizedAdderParams>();
  targets.forEach((t, i) => {
    const r = recorders[i];
    const [lo, hi] = o.method === 'percentile' ? r.percentiles(o.percentile!) : [r.lo, r.hi];
    params.set(t.name, quantizeAdderLayer(t.layer, t.bn?.module, lo, hi, o.bits));
  });
  const info: QuantizationInfo = {
    bits: o.bits, method: o.method, ...(o.percentile === undefined ? {} : { percentile: o.percentile }), examples: o.examples,
    layers: targets.map((t) => ({ name: t.name, ...(t.bn ? { foldedBatchNorm: t.bn.name } : {}) })),
  };
  return assembleQuantized(copy, info, (name) => params.get(name)!, floatConfig);
}
