// Typed, validated training operations over the native kernels
// (cpp/train_ops.cc): batch norm, ReLU, pooling, softmax cross-entropy, SGD.
// Validation here is per argument, never per element: the element loops all
// run natively, and native code re-checks what memory safety needs (lengths,
// labels, argmax indices).
import { checkOutputSize, checkPair, checkPositive, describe, rangeError, typeError } from './errors';
import { native, type PoolDims } from './native';
import type { Pair } from './ops';
import { Tensor } from './tensor';

export interface BatchNormOptions {
  /** Batch statistics (and update the running ones) when true; running statistics when false. */
  training: boolean;
  /** Weight of the batch statistic in the running average (default 0.1, as PyTorch). */
  momentum?: number;
  /** Added to the variance (default 1e-5). */
  eps?: number;
}

export interface BatchNormResult {
  y: Tensor;
  /** Per-channel mean and 1/sqrt(var + eps) that were used: the batch's when training. */
  saveMean: Float32Array;
  saveInvStd: Float32Array;
}

export interface BatchNormGradients {
  gradInput: Tensor;
  gradWeight: Tensor;
  gradBias: Tensor;
}

export interface Pool2dOptions {
  kernelSize: Pair;
  /** Default: kernelSize. */
  stride?: Pair;
  /** Implicit padding on each side, at most half the kernel (default 0). */
  padding?: Pair;
}

export interface MaxPool2dResult {
  y: Tensor;
  /** Flat index h * W + w of each maximum inside its (n, c) input plane. */
  argmax: Int32Array;
}

export interface SoftmaxCrossEntropyOptions {
  /** Also return the gradient with respect to the logits (default true). */
  grad?: boolean;
}

export interface SoftmaxCrossEntropyResult {
  /** Mean over the batch. */
  loss: number;
  /** Rows whose (first) largest logit is the label. */
  correct: number;
  /** (softmax - onehot) / N, when requested. */
  gradLogits?: Tensor;
}

export interface SgdOptions {
  lr: number;
  momentum: number;
  dampening?: number;
  weightDecay: number;
  nesterov: boolean;
  /** The momentum buffer is initialised from this step's gradient instead of decayed. */
  firstStep: boolean;
}

// ---- Argument checks ---------------------------------------------------------

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function checkTensor(value: unknown, argument: string, ranks: readonly number[], what: string): Tensor {
  if (!(value instanceof Tensor)) throw typeError(argument, `a Tensor of shape ${what}`, value);
  if (!ranks.includes(value.shape.length)) {
    const rank = ranks.length === 1 ? `a rank-${ranks[0]}` : `a rank-${ranks.join(' or ')}`;
    throw rangeError('ERR_ADDERNET_SHAPE', argument, `${rank} tensor ${what}`, `shape ${describe(value.shape)}`);
  }
  if (value.data.length !== product(value.shape)) {
    throw rangeError('ERR_ADDERNET_SIZE', argument, 'data matching its shape', `${value.data.length} elements`);
  }
  return value;
}

function checkNonEmpty(t: Tensor, argument: string, what: string): void {
  if (t.shape.some((d) => d < 1)) {
    throw rangeError('ERR_ADDERNET_SHAPE', argument, `a tensor ${what} with every dimension >= 1`, `shape ${describe(t.shape)}`);
  }
}

function checkShape(t: Tensor, argument: string, shape: readonly number[], why: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw rangeError('ERR_ADDERNET_SHAPE', argument, `shape ${describe(shape)} (${why})`, `shape ${describe(t.shape)}`);
  }
}

function checkFloat32(value: unknown, argument: string, length: number, why: string): Float32Array {
  if (!(value instanceof Float32Array)) throw typeError(argument, `a Float32Array of length ${length}`, value);
  if (value.length !== length) {
    throw rangeError('ERR_ADDERNET_SIZE', argument, `${length} elements (${why})`, `${value.length} elements`);
  }
  return value;
}

function checkOptions(opts: unknown, argument: string, required: boolean): Record<string, unknown> {
  if (opts === undefined && !required) return {};
  if (opts === null || typeof opts !== 'object') throw typeError(argument, 'an options object', opts);
  return opts as Record<string, unknown>;
}

function checkFlag(value: unknown, argument: string, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'boolean') throw typeError(argument, 'a boolean', value);
  return value;
}

/** A finite number in [min, max]. */
function checkNumberIn(value: unknown, argument: string, min: number, max: number): number {
  const what = max === Infinity ? `a finite number >= ${min}` : `a number in [${min}, ${max}]`;
  if (typeof value !== 'number') throw typeError(argument, what, value);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw rangeError('ERR_ADDERNET_OPTION', argument, what, describe(value));
  }
  return value;
}

function checkInputShape(value: unknown, argument: string): [number, number, number, number] {
  const what = 'an array of 4 integers >= 1 ([N, C, H, W])';
  if (!Array.isArray(value) || value.length !== 4 || value.some((d) => typeof d !== 'number')) {
    throw typeError(argument, what, value);
  }
  if (value.some((d) => !Number.isInteger(d) || d < 1)) throw rangeError('ERR_ADDERNET_SHAPE', argument, what, describe(value));
  checkOutputSize(value, argument); // the gradient allocated for it
  return [value[0], value[1], value[2], value[3]];
}

// ---- Batch norm ----------------------------------------------------------------

interface BnGeometry {
  n: number;
  c: number;
  hw: number;
}

function bnGeometry(x: unknown): { xt: Tensor; g: BnGeometry } {
  const xt = checkTensor(x, 'x', [2, 4], '[N, C, H, W] or [N, C]');
  checkNonEmpty(xt, 'x', '[N, C, H, W] or [N, C]');
  const [n, c, h = 1, w = 1] = xt.shape;
  return { xt, g: { n, c, hw: h * w } };
}

function checkChannels(value: unknown, argument: string, c: number): Tensor {
  const t = checkTensor(value, argument, [1], `[${c}]`);
  checkShape(t, argument, [c], 'one value per channel of x');
  return t;
}

/**
 * Batch normalisation with PyTorch semantics over x [N, C, H, W] (BatchNorm2d)
 * or [N, C] (BatchNorm1d). In training, normalises with the batch mean and
 * biased variance and updates runningMean / runningVar in place (the running
 * variance takes the unbiased estimate).
 */
export function batchNorm(
  x: Tensor,
  weight: Tensor,
  bias: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  opts: BatchNormOptions,
): BatchNormResult {
  const { xt, g } = bnGeometry(x);
  const w = checkChannels(weight, 'weight', g.c);
  const b = checkChannels(bias, 'bias', g.c);
  const rm = checkChannels(runningMean, 'runningMean', g.c);
  const rv = checkChannels(runningVar, 'runningVar', g.c);
  const o = checkOptions(opts, 'opts', true);
  const training = checkFlag(o.training, 'opts.training');
  const momentum = o.momentum === undefined ? 0.1 : checkNumberIn(o.momentum, 'opts.momentum', 0, 1);
  const eps = o.eps === undefined ? 1e-5 : checkPositive(o.eps, 'opts.eps');
  if (training && g.n * g.hw < 2) {
    throw rangeError(
      'ERR_ADDERNET_SHAPE', 'x', 'more than 1 value per channel when training',
      `shape ${describe(xt.shape)}`,
    );
  }
  const y = new Float32Array(xt.data.length);
  const saveMean = new Float32Array(g.c);
  const saveInvStd = new Float32Array(g.c);
  native.batchNormForward(
    xt.data, w.data, b.data, rm.data, rv.data, y, saveMean, saveInvStd,
    [g.n, g.c, g.hw], training, momentum, eps,
  );
  return { y: new Tensor(y, xt.shape), saveMean, saveInvStd };
}

/** Training-mode backward of batchNorm, given the saveMean / saveInvStd it returned. */
export function batchNormBackward(
  x: Tensor,
  weight: Tensor,
  gradOut: Tensor,
  saveMean: Float32Array,
  saveInvStd: Float32Array,
): BatchNormGradients {
  const { xt, g } = bnGeometry(x);
  const w = checkChannels(weight, 'weight', g.c);
  const gy = checkTensor(gradOut, 'gradOut', [xt.rank], `[${xt.shape.join(', ')}]`);
  checkShape(gy, 'gradOut', xt.shape, 'the shape of x');
  checkFloat32(saveMean, 'saveMean', g.c, 'one per channel, from batchNorm');
  checkFloat32(saveInvStd, 'saveInvStd', g.c, 'one per channel, from batchNorm');
  const gx = new Float32Array(xt.data.length);
  const gw = new Float32Array(g.c);
  const gb = new Float32Array(g.c);
  native.batchNormBackward(xt.data, w.data, gy.data, saveMean, saveInvStd, gx, gw, gb, [g.n, g.c, g.hw]);
  return { gradInput: new Tensor(gx, xt.shape), gradWeight: new Tensor(gw, [g.c]), gradBias: new Tensor(gb, [g.c]) };
}

// ---- Element-wise ---------------------------------------------------------------

function anyTensor(value: unknown, argument: string): Tensor {
  if (!(value instanceof Tensor)) throw typeError(argument, 'a Tensor', value);
  if (value.data.length !== product(value.shape)) {
    throw rangeError('ERR_ADDERNET_SIZE', argument, 'data matching its shape', `${value.data.length} elements`);
  }
  return value;
}

/** max(x, 0), element-wise (NaN stays NaN). */
export function relu(x: Tensor): Tensor {
  const xt = anyTensor(x, 'x');
  const y = new Float32Array(xt.data.length);
  native.reluForward(xt.data, y);
  return new Tensor(y, xt.shape);
}

/** gradOut where the forward output y is > 0, else 0. */
export function reluBackward(y: Tensor, gradOut: Tensor): Tensor {
  const yt = anyTensor(y, 'y');
  const gy = anyTensor(gradOut, 'gradOut');
  checkShape(gy, 'gradOut', yt.shape, 'the shape of y');
  const gx = new Float32Array(yt.data.length);
  native.reluBackward(yt.data, gy.data, gx);
  return new Tensor(gx, yt.shape);
}

/** a + b for tensors of one shape (residual connections). */
export function add(a: Tensor, b: Tensor): Tensor {
  const at = anyTensor(a, 'a');
  const bt = anyTensor(b, 'b');
  checkShape(bt, 'b', at.shape, 'the shape of a');
  const out = new Float32Array(at.data.length);
  native.add(at.data, bt.data, out);
  return new Tensor(out, at.shape);
}

// ---- Pooling -------------------------------------------------------------------

interface PoolGeometry {
  dims: PoolDims;
  outShape: [number, number, number, number];
}

function poolGeometry(inputShape: readonly number[], options: unknown, argument: string): PoolGeometry {
  const o = checkOptions(options, 'opts', true);
  const kernel = checkPair(o.kernelSize, 'opts.kernelSize', undefined, 1);
  const stride = checkPair(o.stride, 'opts.stride', kernel, 1);
  const padding = checkPair(o.padding, 'opts.padding', [0, 0], 0);
  if (2 * padding[0] > kernel[0] || 2 * padding[1] > kernel[1]) {
    throw rangeError(
      'ERR_ADDERNET_OPTION', 'opts.padding', `at most half the kernel size ${describe(kernel)}`, describe(o.padding),
    );
  }
  const [n, c, h, w] = inputShape;
  const ho = Math.floor((h + 2 * padding[0] - kernel[0]) / stride[0]) + 1;
  const wo = Math.floor((w + 2 * padding[1] - kernel[1]) / stride[1]) + 1;
  if (!(ho >= 1 && wo >= 1)) {
    throw rangeError(
      'ERR_ADDERNET_SHAPE', argument,
      'an input at least as large as the kernel after padding (output size >= 1)',
      `input ${describe(inputShape)}, kernel ${describe(kernel)}, padding ${describe(padding)}, stride ${describe(stride)}`,
    );
  }
  checkOutputSize([n, c, ho, wo], 'the output');
  return {
    dims: [n, c, h, w, kernel[0], kernel[1], stride[0], stride[1], padding[0], padding[1]],
    outShape: [n, c, ho, wo],
  };
}

function poolInput(x: unknown): Tensor {
  const xt = checkTensor(x, 'x', [4], '[N, C, H, W]');
  checkNonEmpty(xt, 'x', '[N, C, H, W]');
  return xt;
}

/** Max pooling like torch.nn.functional.max_pool2d (padding is -inf, ceil_mode false). */
export function maxPool2d(x: Tensor, opts: Pool2dOptions): MaxPool2dResult {
  const xt = poolInput(x);
  const g = poolGeometry(xt.shape, opts, 'x');
  const size = product(g.outShape);
  const y = new Float32Array(size);
  const argmax = new Int32Array(size);
  native.maxPool2dForward(xt.data, y, argmax, g.dims);
  return { y: new Tensor(y, g.outShape), argmax };
}

/** Routes each output gradient to the input element that was its maximum. */
export function maxPool2dBackward(gradOut: Tensor, argmax: Int32Array, inputShape: readonly number[]): Tensor {
  const [n, c, h, w] = checkInputShape(inputShape, 'inputShape');
  const gy = checkTensor(gradOut, 'gradOut', [4], '[N, C, HO, WO]');
  checkNonEmpty(gy, 'gradOut', '[N, C, HO, WO]');
  if (gy.shape[0] !== n || gy.shape[1] !== c) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'gradOut', `shape [${n}, ${c}, HO, WO] (N and C of inputShape)`, `shape ${describe(gy.shape)}`);
  }
  if (!(argmax instanceof Int32Array)) throw typeError('argmax', `an Int32Array of length ${gy.data.length}`, argmax);
  if (argmax.length !== gy.data.length) {
    throw rangeError('ERR_ADDERNET_SIZE', 'argmax', `${gy.data.length} elements (one per element of gradOut)`, `${argmax.length} elements`);
  }
  const gx = new Float32Array(n * c * h * w);
  native.maxPool2dBackward(gy.data, argmax, gx, [n * c, h * w, gy.shape[2] * gy.shape[3]]);
  return new Tensor(gx, [n, c, h, w]);
}

/** Average pooling like torch.nn.functional.avg_pool2d (count_include_pad true, ceil_mode false). */
export function avgPool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  const xt = poolInput(x);
  const g = poolGeometry(xt.shape, opts, 'x');
  const y = new Float32Array(product(g.outShape));
  native.avgPool2dForward(xt.data, y, g.dims);
  return new Tensor(y, g.outShape);
}

export function avgPool2dBackward(gradOut: Tensor, inputShape: readonly number[], opts: Pool2dOptions): Tensor {
  const shape = checkInputShape(inputShape, 'inputShape');
  const g = poolGeometry(shape, opts, 'inputShape');
  const gy = checkTensor(gradOut, 'gradOut', [4], `[${g.outShape.join(', ')}]`);
  checkShape(gy, 'gradOut', g.outShape, 'the pooled output');
  const gx = new Float32Array(product(shape));
  native.avgPool2dBackward(gy.data, gx, g.dims);
  return new Tensor(gx, shape);
}

/** Mean over H and W: [N, C, H, W] -> [N, C]. */
export function globalAvgPool(x: Tensor): Tensor {
  const xt = poolInput(x);
  const [n, c, h, w] = xt.shape;
  return avgPool2d(xt, { kernelSize: [h, w] }).reshape([n, c]);
}

export function globalAvgPoolBackward(gradOut: Tensor, inputShape: readonly number[]): Tensor {
  const [n, c, h, w] = checkInputShape(inputShape, 'inputShape');
  const gy = checkTensor(gradOut, 'gradOut', [2], `[${n}, ${c}]`);
  checkShape(gy, 'gradOut', [n, c], 'N and C of inputShape');
  return avgPool2dBackward(gy.reshape([n, c, 1, 1]), [n, c, h, w], { kernelSize: [h, w] });
}

// ---- Loss and optimiser --------------------------------------------------------

/**
 * Mean softmax cross-entropy of logits [N, K] against integer labels in
 * [0, K), computed with log-sum-exp, plus the count of correct argmax
 * predictions and (by default) the gradient (softmax - onehot) / N.
 */
export function softmaxCrossEntropy(
  logits: Tensor,
  labels: Int32Array,
  opts?: SoftmaxCrossEntropyOptions,
): SoftmaxCrossEntropyResult {
  const z = checkTensor(logits, 'logits', [2], '[N, K]');
  checkNonEmpty(z, 'logits', '[N, K]');
  const [n, k] = z.shape;
  if (!(labels instanceof Int32Array)) throw typeError('labels', `an Int32Array of length ${n}`, labels);
  if (labels.length !== n) {
    throw rangeError('ERR_ADDERNET_SIZE', 'labels', `${n} elements (one per row of logits)`, `${labels.length} elements`);
  }
  const wantGrad = checkFlag(checkOptions(opts, 'opts', false).grad, 'opts.grad', true);
  const grad = wantGrad ? new Float32Array(n * k) : null;
  // Labels are range-checked natively (a JS pass would be a per-element loop).
  const { loss, correct } = native.softmaxCrossEntropy(z.data, labels, grad, [n, k]);
  const result: SoftmaxCrossEntropyResult = { loss, correct };
  if (grad) result.gradLogits = new Tensor(grad, [n, k]);
  return result;
}

/**
 * One torch.optim.SGD step on one parameter, in place:
 * d = grad + weightDecay * param; with momentum, buf = firstStep ? d :
 * momentum * buf + (1 - dampening) * d and d = nesterov ? d + momentum * buf : buf;
 * then param -= lr * d. momentumBuffer is unused (may be empty) when momentum is 0.
 */
export function sgdUpdate(
  param: Float32Array,
  grad: Float32Array,
  momentumBuffer: Float32Array,
  opts: SgdOptions,
): void {
  if (!(param instanceof Float32Array)) throw typeError('param', 'a Float32Array', param);
  checkFloat32(grad, 'grad', param.length, 'the length of param');
  const o = checkOptions(opts, 'opts', true);
  const lr = checkNumberIn(o.lr, 'opts.lr', 0, Infinity);
  const momentum = checkNumberIn(o.momentum, 'opts.momentum', 0, Infinity);
  const dampening = o.dampening === undefined ? 0 : checkNumberIn(o.dampening, 'opts.dampening', 0, 1);
  const weightDecay = checkNumberIn(o.weightDecay, 'opts.weightDecay', 0, Infinity);
  const nesterov = checkFlag(o.nesterov, 'opts.nesterov');
  const firstStep = checkFlag(o.firstStep, 'opts.firstStep');
  if (nesterov && (momentum === 0 || dampening !== 0)) {
    throw rangeError(
      'ERR_ADDERNET_OPTION', 'opts.nesterov', 'momentum > 0 and dampening 0 with Nesterov momentum',
      `momentum ${momentum}, dampening ${dampening}`,
    );
  }
  let buf: Float32Array | null = null;
  if (momentum !== 0) buf = checkFloat32(momentumBuffer, 'momentumBuffer', param.length, 'the length of param');
  else if (!(momentumBuffer instanceof Float32Array)) throw typeError('momentumBuffer', 'a Float32Array', momentumBuffer);
  native.sgdUpdate(param, grad, buf, lr, momentum, dampening, weightDecay, nesterov, firstStep);
}
