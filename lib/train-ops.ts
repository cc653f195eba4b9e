// Typed, validated training operations over the native kernels
// (cpp/train_ops.cc): batch norm, ReLU, pooling, softmax cross-entropy, SGD.
// Validation here is per argument, never per element: the element loops all
// run natively, and native code re-checks what memory safety needs (lengths,
// labels, argmax indices).
import { checkAnyTensor, checkFlag, checkIndexTensor, checkNonEmpty, checkOptions, checkShape, checkTensor } from './checks';
import { checkOutputSize, checkPair, checkPositive, describe, rangeError, typeError } from './errors';
import { native, type NativeStorage, type PoolDims } from './native';
import type { Pair } from './ops';
import { empty, Tensor } from './tensor';

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
  saveMean: Tensor;
  saveInvStd: Tensor;
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
  /**
   * Flat index h * W + w of each maximum inside its (n, c) input plane, on
   * the device (shape of y): pass it to maxPool2dBackward, read it with
   * `await argmax.data()`, dispose it when done.
   */
  argmax: Tensor<'int32'>;
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
  const y = empty(xt.shape);
  const saveMean = empty([g.c]);
  const saveInvStd = empty([g.c]);
  native.batchNormForward(
    xt.storage, w.storage, b.storage, rm.storage, rv.storage, y.storage, saveMean.storage, saveInvStd.storage,
    [g.n, g.c, g.hw], training, momentum, eps,
  );
  return { y, saveMean, saveInvStd };
}

/** Training-mode backward of batchNorm, given the saveMean / saveInvStd it returned. */
export function batchNormBackward(
  x: Tensor,
  weight: Tensor,
  gradOut: Tensor,
  saveMean: Tensor,
  saveInvStd: Tensor,
): BatchNormGradients {
  const { xt, g } = bnGeometry(x);
  const w = checkChannels(weight, 'weight', g.c);
  const gy = checkTensor(gradOut, 'gradOut', [xt.rank], `[${xt.shape.join(', ')}]`);
  checkShape(gy, 'gradOut', xt.shape, 'the shape of x');
  const mean = checkTensor(saveMean, 'saveMean', [1], `[${g.c}] (from batchNorm)`);
  checkShape(mean, 'saveMean', [g.c], 'one per channel, from batchNorm');
  const invStd = checkTensor(saveInvStd, 'saveInvStd', [1], `[${g.c}] (from batchNorm)`);
  checkShape(invStd, 'saveInvStd', [g.c], 'one per channel, from batchNorm');
  const gx = empty(xt.shape);
  const gw = empty([g.c]);
  const gb = empty([g.c]);
  native.batchNormBackward(
    xt.storage, w.storage, gy.storage, mean.storage, invStd.storage, gx.storage, gw.storage, gb.storage, [g.n, g.c, g.hw],
  );
  return { gradInput: gx, gradWeight: gw, gradBias: gb };
}

// ---- Element-wise ---------------------------------------------------------------


/** max(x, 0), element-wise (NaN stays NaN). */
export function relu(x: Tensor): Tensor {
  const xt = checkAnyTensor(x, 'x');
  const y = empty(xt.shape);
  native.reluForward(xt.storage, y.storage);
  return y;
}

/** gradOut where the forward output y is > 0, else 0. */
export function reluBackward(y: Tensor, gradOut: Tensor): Tensor {
  const yt = checkAnyTensor(y, 'y');
  const gy = checkAnyTensor(gradOut, 'gradOut');
  checkShape(gy, 'gradOut', yt.shape, 'the shape of y');
  const gx = empty(yt.shape);
  native.reluBackward(yt.storage, gy.storage, gx.storage);
  return gx;
}

/** a + b for tensors of one shape (residual connections). */
export function add(a: Tensor, b: Tensor): Tensor {
  const at = checkAnyTensor(a, 'a');
  const bt = checkAnyTensor(b, 'b');
  checkShape(bt, 'b', at.shape, 'the shape of a');
  const out = empty(at.shape);
  native.add(at.storage, bt.storage, out.storage);
  return out;
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
  const y = empty(g.outShape);
  const argmax = empty(g.outShape, 'int32');
  native.maxPool2dForward(xt.storage, y.storage, argmax.storage, g.dims);
  return { y, argmax };
}

/**
 * Routes each output gradient to the input element that was its maximum.
 * argmax: maxPool2d's (an Int32Array of the same indices is accepted too).
 */
export function maxPool2dBackward(gradOut: Tensor, argmax: Tensor<'int32'> | Int32Array, inputShape: readonly number[]): Tensor {
  const [n, c, h, w] = checkInputShape(inputShape, 'inputShape');
  const gy = checkTensor(gradOut, 'gradOut', [4], '[N, C, HO, WO]');
  checkNonEmpty(gy, 'gradOut', '[N, C, HO, WO]');
  if (gy.shape[0] !== n || gy.shape[1] !== c) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'gradOut', `shape [${n}, ${c}, HO, WO] (N and C of inputShape)`, `shape ${describe(gy.shape)}`);
  }
  let indices: NativeStorage | Int32Array;
  if (argmax instanceof Int32Array) {
    if (argmax.length !== gy.size) {
      throw rangeError('ERR_ADDERNET_SIZE', 'argmax', `${gy.size} elements (one per element of gradOut)`, `${argmax.length} elements`);
    }
    indices = argmax;
  } else {
    indices = checkIndexTensor(argmax, 'argmax', gy.size, 'one per element of gradOut').storage;
  }
  const gx = empty([n, c, h, w]);
  native.maxPool2dBackward(gy.storage, indices, gx.storage, [n * c, h * w, gy.shape[2] * gy.shape[3]]);
  return gx;
}

/** Average pooling like torch.nn.functional.avg_pool2d (count_include_pad true, ceil_mode false). */
export function avgPool2d(x: Tensor, opts: Pool2dOptions): Tensor {
  const xt = poolInput(x);
  const g = poolGeometry(xt.shape, opts, 'x');
  const y = empty(g.outShape);
  native.avgPool2dForward(xt.storage, y.storage, g.dims);
  return y;
}

export function avgPool2dBackward(gradOut: Tensor, inputShape: readonly number[], opts: Pool2dOptions): Tensor {
  const shape = checkInputShape(inputShape, 'inputShape');
  const g = poolGeometry(shape, opts, 'inputShape');
  const gy = checkTensor(gradOut, 'gradOut', [4], `[${g.outShape.join(', ')}]`);
  checkShape(gy, 'gradOut', g.outShape, 'the pooled output');
  const gx = empty(shape);
  native.avgPool2dBackward(gy.storage, gx.storage, g.dims);
  return gx;
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
  const { z, n, k, grad } = lossArguments(logits, labels, opts);
  // Labels are range-checked natively (a JS pass would be a per-element loop).
  // Waits for the kernel: the numbers are needed now.
  const r = native.softmaxCrossEntropy(z.storage, labels, grad?.storage ?? null, [n, k]);
  const result: SoftmaxCrossEntropyResult = { loss: r.loss, correct: r.correct };
  if (grad) result.gradLogits = grad;
  return result;
}

/**
 * @internal The same, queued (fit and evaluate): `result` holds [loss,
 * correct] once the kernel has run, so the caller awaits `result.data()`
 * instead of blocking its thread.
 */
export function softmaxCrossEntropyQueued(
  logits: Tensor,
  labels: Int32Array,
  opts?: SoftmaxCrossEntropyOptions,
): { result: Tensor; gradLogits?: Tensor } {
  const { z, n, k, grad } = lossArguments(logits, labels, opts);
  const result = empty([2]);
  native.softmaxCrossEntropy(z.storage, labels, grad?.storage ?? null, [n, k], result.storage);
  return grad ? { result, gradLogits: grad } : { result };
}

function lossArguments(logits: Tensor, labels: Int32Array, opts: SoftmaxCrossEntropyOptions | undefined) {
  const z = checkTensor(logits, 'logits', [2], '[N, K]');
  checkNonEmpty(z, 'logits', '[N, K]');
  const [n, k] = z.shape;
  if (!(labels instanceof Int32Array)) throw typeError('labels', `an Int32Array of length ${n}`, labels);
  if (labels.length !== n) {
    throw rangeError('ERR_ADDERNET_SIZE', 'labels', `${n} elements (one per row of logits)`, `${labels.length} elements`);
  }
  const wantGrad = checkFlag(checkOptions(opts, 'opts', false).grad, 'opts.grad', true);
  return { z, n, k, grad: wantGrad ? empty([n, k]) : undefined };
}

/**
 * One torch.optim.SGD step on one parameter, in place:
 * d = grad + weightDecay * param; with momentum, buf = firstStep ? d :
 * momentum * buf + (1 - dampening) * d and d = nesterov ? d + momentum * buf : buf;
 * then param -= lr * d. momentumBuffer is unused (may be null) when momentum is 0.
 */
export function sgdUpdate(
  param: Tensor,
  grad: Tensor,
  momentumBuffer: Tensor | null,
  opts: SgdOptions,
): void {
  const p = checkAnyTensor(param, 'param');
  checkShape(checkAnyTensor(grad, 'grad'), 'grad', p.shape, 'the shape of param');
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
  let buf: Tensor | null = null;
  if (momentum !== 0) {
    buf = checkAnyTensor(momentumBuffer, 'momentumBuffer');
    checkShape(buf, 'momentumBuffer', p.shape, 'the shape of param');
  } else if (momentumBuffer !== null && momentumBuffer !== undefined) {
    checkAnyTensor(momentumBuffer, 'momentumBuffer');
  }
  native.sgdUpdate(p.storage, grad.storage, buf?.storage ?? null, lr, momentum, dampening, weightDecay, nesterov, firstStep);
}
