// The layers. Heavy work is native (lib/ops/); these
// classes hold parameters, cache activations and route gradients.
import { Rng } from '../data/rng';
import { checkInteger, rangeError, describe } from '../errors';
import * as ops from '../ops/index';
import type { Pair } from '../ops/index';
import { Tensor } from '../tensor';
import { backwardChain, cached, forwardChain, inferenceFusion, Module, Parameter, type ModuleConfig } from './module';
import { childPath, elements, expectImage, expectVector, leafRow, opRow, windowOutput, type SummaryRow } from './summary';

function pairOf(v: Pair): [number, number] {
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

/** Copies a fresh gradient into the parameter's own (in place) and frees the fresh one. */
function setGrad(p: Parameter, g: Tensor): void {
  p.grad.storage.copyFrom(g.storage);
  g.dispose();
}

function filled(n: number, draw: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; ++i) a[i] = draw();
  return a;
}

/** PyTorch's default for conv and linear: kaiming_uniform_(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
function kaimingUniform(rng: Rng, shape: number[], fanIn: number): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return new Tensor(filled(shape.reduce((a, b) => a * b, 1), () => (2 * rng.next() - 1) * bound), shape);
}

export interface Conv2dArgs {
  inChannels: number;
  outChannels: number;
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
  bias?: boolean;
}

function checkConvArgs(a: Conv2dArgs): void {
  checkInteger(a.inChannels, 'inChannels', 1);
  checkInteger(a.outChannels, 'outChannels', 1);
  for (const k of pairOf(a.kernelSize)) checkInteger(k, 'kernelSize', 1);
}

abstract class ConvLike extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;
  protected input?: Tensor;
  constructor(
    readonly args: Conv2dArgs,
    private readonly adder: boolean,
    rng: Rng,
  ) {
    super();
    checkConvArgs(args);
    const [kh, kw] = pairOf(args.kernelSize);
    const shape = [args.outChannels, args.inChannels, kh, kw];
    const fanIn = args.inChannels * kh * kw;
    if (adder) {
      // Reference adder.py: filters N(0, 1), optional bias `b` U(0, 1).
      this.weight = this.addParameter('adder', new Parameter(new Tensor(filled(shape.reduce((a, b) => a * b), () => rng.normal()), shape), 'adder'));
      if (args.bias) this.bias = this.addParameter('b', new Parameter(new Tensor(filled(args.outChannels, () => rng.next()), [args.outChannels])));
    } else {
      this.weight = this.addParameter('weight', new Parameter(kaimingUniform(rng, shape, fanIn)));
      if (args.bias) this.bias = this.addParameter('bias', new Parameter(kaimingUniform(rng, [args.outChannels], fanIn)));
    }
  }

  private opts() {
    return { stride: this.args.stride ?? 1, padding: this.args.padding ?? 0 };
  }

  forward(x: Tensor): Tensor {
    if (this.training) this.input = x;
    return this.forwardWith(x, {});
  }

  /** @internal An eval-mode forward with a fused epilogue: relu(batchNorm(layer(x)) + residual). */
  forwardWith(x: Tensor, epilogue: Pick<ops.Conv2dOptions, 'batchNorm' | 'residual' | 'relu'>): Tensor {
    const f = this.adder ? ops.adder2d : ops.conv2d;
    return f(x, this.weight.value, { ...this.opts(), bias: this.bias?.value, ...epilogue });
  }

  /** Eval mode: this layer, the BatchNorm2d after it and a ReLU after that, in one kernel. */
  forwardFused(x: Tensor, following: readonly Module[]): { y: Tensor; consumed: number } | undefined {
    if (this.training) return undefined;
    const bn = following[0] instanceof BatchNorm2d ? following[0].inferenceNorm() : undefined;
    const next = following[bn ? 1 : 0];
    // A ReLU's mode only decides whether it keeps its output for a backward,
    // which an eval-mode layer before it rules out anyway.
    const relu = next instanceof ReLU;
    if (!bn && !relu) return undefined;
    return { y: this.forwardWith(x, { batchNorm: bn, relu }), consumed: (bn ? 1 : 0) + (relu ? 1 : 0) };
  }

  backward(gradOut: Tensor): Tensor {
    const x = cached(this.input, this.config().type);
    const b = this.adder ? ops.adder2dBackward : ops.conv2dBackward;
    const g = b(x, this.weight.value, gradOut, { ...this.opts(), bias: !!this.bias, inputGrad: this.needsInputGrad });
    setGrad(this.weight, g.gradWeight);
    if (this.bias && g.gradBias) setGrad(this.bias, g.gradBias);
    this.input = undefined;
    return g.gradInput ?? gradOut; // first layer: nothing upstream needs it
  }

  /** Adder: 2 additions per tap; conv: 1 multiplication + 1 addition; bias: 1 addition per output. */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    expectImage(input, name, this.args.inChannels);
    const kernel = pairOf(this.args.kernelSize);
    const [ho, wo] = windowOutput(name, input, kernel, pairOf(this.args.stride ?? 1), pairOf(this.args.padding ?? 0));
    const out = [this.args.outChannels, ho, wo];
    const taps = elements(out) * this.args.inChannels * kernel[0] * kernel[1];
    const bias = this.bias ? elements(out) : 0;
    const type = this.config().type;
    return this.adder ? leafRow(rows, this, name, type, out, 0, 2 * taps + bias) : leafRow(rows, this, name, type, out, taps, taps + bias);
  }

  config(): ModuleConfig {
    return { type: this.adder ? 'Adder2d' : 'Conv2d', args: { ...this.args } };
  }
}

/** Adder layer: Y = -sum |X_patch - F|; filters named `adder` as in the reference. */
export class Adder2d extends ConvLike {
  constructor(args: Conv2dArgs, rng = new Rng(0)) {
    super({ bias: false, ...args }, true, rng);
  }
}

/** Convolution (the multiplication baseline), PyTorch semantics and init. */
export class Conv2d extends ConvLike {
  constructor(args: Conv2dArgs, rng = new Rng(0)) {
    super({ bias: true, ...args }, false, rng);
  }
}

export interface LinearArgs {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
}

abstract class LinearLike extends Module {
  readonly weight: Parameter;
  readonly bias?: Parameter;
  private input?: Tensor;
  constructor(
    readonly args: LinearArgs,
    private readonly adder: boolean,
    rng: Rng,
  ) {
    super();
    checkInteger(args.inFeatures, 'inFeatures', 1);
    checkInteger(args.outFeatures, 'outFeatures', 1);
    const shape = [args.outFeatures, args.inFeatures];
    if (adder) {
      this.weight = this.addParameter('adder', new Parameter(new Tensor(filled(shape[0] * shape[1], () => rng.normal()), shape), 'adder'));
      if (args.bias) this.bias = this.addParameter('b', new Parameter(new Tensor(filled(args.outFeatures, () => rng.next()), [args.outFeatures])));
    } else {
      this.weight = this.addParameter('weight', new Parameter(kaimingUniform(rng, shape, args.inFeatures)));
      if (args.bias) this.bias = this.addParameter('bias', new Parameter(kaimingUniform(rng, [args.outFeatures], args.inFeatures)));
    }
  }

  forward(x: Tensor): Tensor {
    if (this.training) this.input = x;
    return (this.adder ? ops.adderLinear : ops.linear)(x, this.weight.value, this.bias?.value);
  }

  /** Eval mode: this layer, the BatchNorm1d after it and a ReLU after that, in one kernel. */
  forwardFused(x: Tensor, following: readonly Module[]): { y: Tensor; consumed: number } | undefined {
    if (this.training) return undefined;
    const bn = following[0] instanceof BatchNorm1d ? following[0].inferenceNorm() : undefined;
    const relu = following[bn ? 1 : 0] instanceof ReLU;
    if (!bn && !relu) return undefined;
    const y = (this.adder ? ops.adderLinear : ops.linear)(x, this.weight.value, this.bias?.value, { batchNorm: bn, relu });
    return { y, consumed: (bn ? 1 : 0) + (relu ? 1 : 0) };
  }

  backward(gradOut: Tensor): Tensor {
    const x = cached(this.input, this.config().type);
    const b = this.adder ? ops.adderLinearBackward : ops.linearBackward;
    const g = b(x, this.weight.value, gradOut, { bias: !!this.bias, inputGrad: this.needsInputGrad });
    setGrad(this.weight, g.gradWeight);
    if (this.bias && g.gradBias) setGrad(this.bias, g.gradBias);
    this.input = undefined;
    return g.gradInput ?? gradOut;
  }

  /** Adder: 2 additions per weight; linear: 1 multiplication + 1 addition; bias: 1 addition per output. */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    expectVector(input, name, this.args.inFeatures);
    const taps = this.args.inFeatures * this.args.outFeatures;
    const bias = this.bias ? this.args.outFeatures : 0;
    const type = this.config().type;
    const out = [this.args.outFeatures];
    return this.adder ? leafRow(rows, this, name, type, out, 0, 2 * taps + bias) : leafRow(rows, this, name, type, out, taps, taps + bias);
  }

  config(): ModuleConfig {
    return { type: this.adder ? 'AdderLinear' : 'Linear', args: { ...this.args } };
  }
}

export class AdderLinear extends LinearLike {
  constructor(args: LinearArgs, rng = new Rng(0)) {
    super({ bias: false, ...args }, true, rng);
  }
}

export class Linear extends LinearLike {
  constructor(args: LinearArgs, rng = new Rng(0)) {
    super({ bias: true, ...args }, false, rng);
  }
}

export interface BatchNormArgs {
  numFeatures: number;
  momentum?: number;
  eps?: number;
}

/** BatchNorm over channels of [N, C, H, W] (BatchNorm2d) or [N, C] (BatchNorm1d), PyTorch semantics. */
abstract class BatchNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  /** PyTorch's num_batches_tracked (kept for checkpoints; momentum is fixed). */
  numBatchesTracked = 0;
  private saved?: { x: Tensor; mean: Tensor; invStd: Tensor };
  // Set by recalibrateBatchNorm(): eval-mode forwards normalise with the
  // batch statistics and fold them into the running ones as a cumulative
  // average (momentum 1/k for the k-th batch), saving nothing for backward.
  private recalibrating = false;

  /** @internal Resets the running statistics (mean 0, variance 1) and starts a cumulative average over the next forwards. */
  beginRecalibration(): void {
    const c = this.runningMean.size;
    this.runningMean.storage.write(new Float32Array(c));
    this.runningVar.storage.write(new Float32Array(c).fill(1));
    this.numBatchesTracked = 0;
    this.recalibrating = true;
  }

  /** @internal */
  endRecalibration(): void {
    this.recalibrating = false;
  }
  constructor(
    readonly args: BatchNormArgs,
    private readonly rank: 2 | 4,
  ) {
    super();
    const c = checkInteger(args.numFeatures, 'numFeatures', 1);
    this.weight = this.addParameter('weight', new Parameter(new Tensor(new Float32Array(c).fill(1), [c])));
    this.bias = this.addParameter('bias', new Parameter(new Tensor(new Float32Array(c), [c])));
    this.runningMean = this.addBuffer('running_mean', new Tensor(new Float32Array(c), [c]));
    this.runningVar = this.addBuffer('running_var', new Tensor(new Float32Array(c).fill(1), [c]));
  }

  forward(x: Tensor): Tensor {
    if (x.rank !== this.rank) {
      throw rangeError('ERR_ADDERNET_SHAPE', 'x', `a rank-${this.rank} tensor for ${this.config().type}`, `shape ${describe(x.shape)}`);
    }
    const averaging = this.recalibrating && !this.training;
    const r = ops.batchNorm(x, this.weight.value, this.bias.value, this.runningMean, this.runningVar, {
      training: this.training || averaging,
      momentum: averaging ? 1 / (this.numBatchesTracked + 1) : this.args.momentum ?? 0.1,
      eps: this.args.eps ?? 1e-5,
    });
    if (averaging) this.numBatchesTracked += 1;
    if (this.training) {
      this.numBatchesTracked += 1;
      this.saved = { x, mean: r.saveMean, invStd: r.saveInvStd };
    } else {
      r.saveMean.dispose();
      r.saveInvStd.dispose();
    }
    return r.y;
  }

  /**
   * @internal The statistics a layer before this one fuses into its kernel
   * in eval mode; undefined in training or while recalibrating (the batch's
   * statistics are used then).
   */
  inferenceNorm(): ops.FusedBatchNorm | undefined {
    if (this.training || this.recalibrating) return undefined;
    return { weight: this.weight.value, bias: this.bias.value, runningMean: this.runningMean, runningVar: this.runningVar, eps: this.args.eps ?? 1e-5 };
  }

  backward(gradOut: Tensor): Tensor {
    const s = cached(this.saved, this.config().type);
    const g = ops.batchNormBackward(s.x, this.weight.value, gradOut, s.mean, s.invStd);
    setGrad(this.weight, g.gradWeight);
    setGrad(this.bias, g.gradBias);
    this.saved = undefined;
    return g.gradInput;
  }

  /** At inference a folded scale and shift: 1 multiplication + 1 addition per element. */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    if (this.rank === 4) expectImage(input, name, this.args.numFeatures);
    else expectVector(input, name, this.args.numFeatures);
    const n = elements(input);
    return leafRow(rows, this, name, this.config().type, input, n, n);
  }

  config(): ModuleConfig {
    return { type: this.rank === 4 ? 'BatchNorm2d' : 'BatchNorm1d', args: { ...this.args } };
  }
}

export class BatchNorm2d extends BatchNorm {
  constructor(args: BatchNormArgs) {
    super(args, 4);
  }
}

export class BatchNorm1d extends BatchNorm {
  constructor(args: BatchNormArgs) {
    super(args, 2);
  }
}

export class ReLU extends Module {
  private output?: Tensor;
  forward(x: Tensor): Tensor {
    const y = ops.relu(x);
    if (this.training) this.output = y;
    return y;
  }
  backward(gradOut: Tensor, consumable = false): Tensor {
    const g = ops.reluBackward(cached(this.output, 'ReLU'), gradOut, consumable ? { out: gradOut } : undefined);
    this.output = undefined;
    return g;
  }
  /** Comparisons only: no multiplications or additions counted. */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    return leafRow(rows, this, name, 'ReLU', input, 0, 0);
  }
  config(): ModuleConfig {
    return { type: 'ReLU' };
  }
}

export interface PoolArgs {
  kernelSize: Pair;
  stride?: Pair;
  padding?: Pair;
}

export class MaxPool2d extends Module {
  private saved?: { argmax: Tensor<'int32'>; shape: readonly number[] };
  constructor(readonly args: PoolArgs) {
    super();
  }
  forward(x: Tensor): Tensor {
    const r = ops.maxPool2d(x, this.args);
    this.saved?.argmax.dispose();
    this.saved = undefined;
    if (this.training) this.saved = { argmax: r.argmax, shape: x.shape };
    else r.argmax.dispose();  // queued: freed once the kernel has run
    return r.y;
  }
  backward(gradOut: Tensor): Tensor {
    const s = cached(this.saved, 'MaxPool2d');
    this.saved = undefined;
    try {
      return ops.maxPool2dBackward(gradOut, s.argmax, s.shape);
    } finally {
      s.argmax.dispose();
    }
  }
  /** Comparisons only: no multiplications or additions counted. */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    const [c] = expectImage(input, name);
    const kernel = pairOf(this.args.kernelSize);
    const [ho, wo] = windowOutput(name, input, kernel, pairOf(this.args.stride ?? this.args.kernelSize), pairOf(this.args.padding ?? 0));
    return leafRow(rows, this, name, 'MaxPool2d', [c, ho, wo], 0, 0);
  }
  config(): ModuleConfig {
    return { type: 'MaxPool2d', args: { ...this.args } };
  }
}

export class AvgPool2d extends Module {
  private shape?: readonly number[];
  constructor(readonly args: PoolArgs) {
    super();
  }
  forward(x: Tensor): Tensor {
    if (this.training) this.shape = x.shape;
    return ops.avgPool2d(x, this.args);
  }
  backward(gradOut: Tensor): Tensor {
    const shape = cached(this.shape, 'AvgPool2d');
    this.shape = undefined;
    return ops.avgPool2dBackward(gradOut, shape, this.args);
  }
  /** window - 1 additions per output (the 1/window scale folds into the next layer: not counted). */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    const [c] = expectImage(input, name);
    const kernel = pairOf(this.args.kernelSize);
    const [ho, wo] = windowOutput(name, input, kernel, pairOf(this.args.stride ?? this.args.kernelSize), pairOf(this.args.padding ?? 0));
    const out = [c, ho, wo];
    return leafRow(rows, this, name, 'AvgPool2d', out, 0, elements(out) * (kernel[0] * kernel[1] - 1));
  }
  config(): ModuleConfig {
    return { type: 'AvgPool2d', args: { ...this.args } };
  }
}

/** Mean over H and W: [N, C, H, W] -> [N, C]. */
export class GlobalAvgPool2d extends Module {
  private shape?: readonly number[];
  forward(x: Tensor): Tensor {
    if (this.training) this.shape = x.shape;
    return ops.globalAvgPool(x);
  }
  backward(gradOut: Tensor): Tensor {
    const shape = cached(this.shape, 'GlobalAvgPool2d');
    this.shape = undefined;
    return ops.globalAvgPoolBackward(gradOut, shape);
  }
  /** H*W - 1 additions per channel (the 1/(H*W) scale is not counted). */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    const [c, h, w] = expectImage(input, name);
    return leafRow(rows, this, name, 'GlobalAvgPool2d', [c], 0, c * (h * w - 1));
  }
  config(): ModuleConfig {
    return { type: 'GlobalAvgPool2d' };
  }
}

/** [N, ...] -> [N, prod(...)] (a view, no copy). */
export class Flatten extends Module {
  private shape?: readonly number[];
  forward(x: Tensor): Tensor {
    if (this.training) this.shape = x.shape;
    return x.reshape([x.shape[0], x.size / x.shape[0]]);
  }
  backward(gradOut: Tensor): Tensor {
    const shape = cached(this.shape, 'Flatten');
    this.shape = undefined;
    return gradOut.reshape(shape);
  }
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    return leafRow(rows, this, name, 'Flatten', [elements(input)], 0, 0);
  }
  config(): ModuleConfig {
    return { type: 'Flatten' };
  }
}

/** Runs children in order; names are '0', '1', ... unless given. */
export class Sequential extends Module {
  constructor(layers: Module[] | Record<string, Module>) {
    super();
    const entries = Array.isArray(layers) ? layers.map((m, i) => [String(i), m] as const) : Object.entries(layers);
    for (const [name, m] of entries) this.addModule(name, m);
  }
  private readonly kept: (Tensor | undefined)[] = [];
  forward(x: Tensor): Tensor {
    return forwardChain([...this.modules.values()], x, this.training, this.kept);
  }
  backward(gradOut: Tensor, consumable = false): Tensor {
    return backwardChain([...this.modules.values()], gradOut, this.kept, consumable);
  }
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    let shape = [...input];
    for (const [n, m] of this.modules) shape = m.summarize(shape, childPath(name, n), rows);
    return shape;
  }
  config(): ModuleConfig {
    return { type: 'Sequential', children: this.childConfigs() };
  }
}

export type LayerKind = 'adder' | 'conv';

/**
 * The reference ResNet BasicBlock: layer3x3 -> BN -> ReLU -> layer3x3 -> BN,
 * plus the shortcut (1x1 layer with stride + BN when the shape changes), then ReLU.
 */
export class BasicBlock extends Module {
  private readonly relu1 = new ReLU();
  private readonly reluOut = new ReLU();
  // Read from the child map on every use, so replaceChild() (quantize) reaches forward.
  private get conv1(): Module {
    return this.modules.get('conv1')!;
  }
  private get bn1(): Module {
    return this.modules.get('bn1')!;
  }
  private get conv2(): Module {
    return this.modules.get('conv2')!;
  }
  private get bn2(): Module {
    return this.modules.get('bn2')!;
  }
  private get downsample(): Module | undefined {
    return this.modules.get('downsample');
  }

  constructor(
    readonly args: { inPlanes: number; planes: number; stride: number; layer: LayerKind },
    rng = new Rng(0),
  ) {
    super();
    const { inPlanes, planes, stride, layer } = args;
    const L = layer === 'adder' ? Adder2d : Conv2d;
    this.addModule('conv1', new L({ inChannels: inPlanes, outChannels: planes, kernelSize: 3, stride, padding: 1, bias: false }, rng));
    this.addModule('bn1', new BatchNorm2d({ numFeatures: planes }));
    this.addModule('conv2', new L({ inChannels: planes, outChannels: planes, kernelSize: 3, stride: 1, padding: 1, bias: false }, rng));
    this.addModule('bn2', new BatchNorm2d({ numFeatures: planes }));
    if (stride !== 1 || inPlanes !== planes) {
      this.addModule('downsample', new Sequential([
        new L({ inChannels: inPlanes, outChannels: planes, kernelSize: 1, stride, bias: false }, rng),
        new BatchNorm2d({ numFeatures: planes }),
      ]));
    }
  }

  private readonly kept: (Tensor | undefined)[] = [];

  private main(): Module[] {
    return [this.conv1, this.bn1, this.relu1, this.conv2, this.bn2];
  }

  // Tensors made here and read by no backward (bn2's output, the shortcut
  // branch's output, the sum before the last ReLU) are freed once read;
  // the main path's activations are freed by backwardChain.
  forward(x: Tensor): Tensor {
    const fused = this.training || !inferenceFusion.enabled ? undefined : this.forwardFusedBlock(x);
    if (fused) return fused;
    const out = forwardChain(this.main(), x, this.training, this.kept);
    const shortcut = this.downsample ? this.downsample.forward(x) : x;
    const sum = ops.add(out, shortcut);
    out.dispose();
    if (shortcut !== x) shortcut.dispose();
    const y = this.reluOut.forward(sum);
    sum.dispose();
    return y;
  }

  // Eval mode: two kernels for the main path, the second adding the shortcut
  // and applying the last ReLU in its epilogue (five ops fewer per block).
  private forwardFusedBlock(x: Tensor): Tensor | undefined {
    // Only the built-in layers fuse (a quantized model swaps in its own).
    const { conv1, conv2 } = this;
    if (!(conv1 instanceof ConvLike && conv2 instanceof ConvLike) || conv1.training || conv2.training) return undefined;
    const bn1 = this.bn1 instanceof BatchNorm2d ? this.bn1.inferenceNorm() : undefined;
    const bn2 = this.bn2 instanceof BatchNorm2d ? this.bn2.inferenceNorm() : undefined;
    if (!bn1 || !bn2) return undefined;
    const h = conv1.forwardWith(x, { batchNorm: bn1, relu: true });
    const shortcut = this.downsample ? this.downsample.forward(x) : x;
    const y = conv2.forwardWith(h, { batchNorm: bn2, residual: shortcut, relu: true });
    h.dispose();
    if (shortcut !== x) shortcut.dispose();
    return y;
  }

  // Gradients are written in place where nothing else reads them (the last
  // ReLU into a consumable gradOut, the sum into the main path's gradient):
  // in a training step these 16 MB tensors are what the memory peaks on.
  backward(gradOut: Tensor, consumable = false): Tensor {
    const g = this.reluOut.backward(gradOut, consumable);
    const main = backwardChain(this.main(), g, this.kept);
    const shortcut = this.downsample ? this.downsample.backward(g) : g;
    if (this.needsInputGrad) ops.add(main, shortcut, { out: main });
    for (const t of new Set([g, shortcut])) if (t !== gradOut) t.dispose();
    return main;
  }

  train(mode = true): this {
    super.train(mode);
    this.relu1.train(mode);
    this.reluOut.train(mode);
    return this;
  }

  /** Rows: conv1, bn1, relu1, conv2, bn2, downsample.0/.1 (if any), add (the residual sum: 1 addition per element), relu. */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    let shape = this.conv1.summarize(input, childPath(name, 'conv1'), rows);
    shape = this.bn1.summarize(shape, childPath(name, 'bn1'), rows);
    shape = this.relu1.summarize(shape, childPath(name, 'relu1'), rows);
    shape = this.conv2.summarize(shape, childPath(name, 'conv2'), rows);
    shape = this.bn2.summarize(shape, childPath(name, 'bn2'), rows);
    const shortcut = this.downsample ? this.downsample.summarize(input, childPath(name, 'downsample'), rows) : [...input];
    if (shortcut.length !== shape.length || shortcut.some((d, i) => d !== shape[i])) {
      throw rangeError('ERR_ADDERNET_SHAPE', `the shortcut of ${JSON.stringify(name)}`, `shape ${describe(shape)} (the main path's)`, describe(shortcut));
    }
    opRow(rows, childPath(name, 'add'), 'Add', shape, 0, elements(shape));
    return this.reluOut.summarize(shape, childPath(name, 'relu'), rows);
  }

  config(): ModuleConfig {
    return { type: 'BasicBlock', args: { ...this.args } };
  }
}
