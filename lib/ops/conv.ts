// Adder and convolution layers (2-D and linear) over the native kernels
// (binding/conv.cc, cpp/conv.cc). Each call
// validates on the calling thread, runs its kernel on all pool threads and
// returns its output tensor in new device storage.
import { checkFlag, checkNumberIn, checkOptions, checkTensor } from '../checks';
import { checkPair, describe, rangeError, type Pair } from '../errors';
import { native, type EpilogueArgs } from '../native';
import { geometry } from './geometry';
import { empty, Tensor } from '../tensor';

export type { Pair } from '../errors';

export interface Conv2dOptions {
  /** Stride (default 1). */
  stride?: Pair;
  /** Zero padding on each side (default 0). */
  padding?: Pair;
  /** Optional per-filter bias [T]. */
  bias?: Tensor;
  /**
   * Fused epilogue (inference): an eval-mode BatchNorm over the output
   * channels, applied while the output is in cache, with the rounding of
   * ops.batchNorm in eval mode (the same floats as the separate op).
   */
  batchNorm?: FusedBatchNorm;
  /** Fused epilogue: a tensor of the output's shape added after the BatchNorm (a ResNet block's shortcut). */
  residual?: Tensor;
  /** Fused epilogue: ReLU last (default false). Output = relu(batchNorm(layer(x) + bias) + residual). */
  relu?: boolean;
}

/** The eval-mode BatchNorm of a fused epilogue: y = (v - runningMean) / sqrt(runningVar + eps) * weight + bias, each [T]. */
export interface FusedBatchNorm {
  weight: Tensor;
  bias: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;
  /** Default 1e-5, as in BatchNorm2d. */
  eps?: number;
}

export interface Conv2dBackwardOptions {
  stride?: Pair;
  padding?: Pair;
  /** Also return the bias gradient (default false). */
  bias?: boolean;
  /** Compute the input gradient (default true; false for a first layer). */
  inputGrad?: boolean;
}

export interface LinearBackwardOptions {
  bias?: boolean;
  inputGrad?: boolean;
}

export interface Gradients {
  gradInput?: Tensor;
  gradWeight: Tensor;
  gradBias?: Tensor;
}

function checkBias(bias: unknown, t: number): Tensor | undefined {
  if (bias === undefined || bias === null) return undefined;
  const b = checkTensor(bias, 'bias', [1], `[${t}]`);
  if (b.shape[0] !== t) throw rangeError('ERR_ADDERNET_SHAPE', 'bias', `shape [${t}]`, `shape ${describe(b.shape)}`);
  return b;
}

function channelVector(value: unknown, argument: string, t: number): Tensor {
  const v = checkTensor(value, argument, [1], `[${t}]`);
  if (v.shape[0] !== t) throw rangeError('ERR_ADDERNET_SHAPE', argument, `shape [${t}] (one value per output channel)`, `shape ${describe(v.shape)}`);
  return v;
}

// The fused epilogue's arguments for the binding, checked ([] when there is none).
function epilogueArgs(opts: Record<string, unknown>, t: number, outShape: readonly number[]): EpilogueArgs {
  const relu = checkFlag(opts.relu, 'options.relu', false);
  let residual: Tensor | undefined;
  if (opts.residual !== undefined && opts.residual !== null) {
    residual = checkTensor(opts.residual, 'options.residual', [4], `[${outShape.join(', ')}]`);
    if (residual.shape.some((d, i) => d !== outShape[i])) {
      throw rangeError('ERR_ADDERNET_SHAPE', 'options.residual', `shape [${outShape.join(', ')}] (the output's)`, `shape ${describe(residual.shape)}`);
    }
  }
  let bn: [Tensor, Tensor, Tensor, Tensor, number] | undefined;
  if (opts.batchNorm !== undefined && opts.batchNorm !== null) {
    const b = checkOptions(opts.batchNorm, 'options.batchNorm');
    const eps = b.eps === undefined ? 1e-5 : checkNumberIn(b.eps, 'options.batchNorm.eps', 0, Infinity);
    bn = [
      channelVector(b.weight, 'options.batchNorm.weight', t),
      channelVector(b.bias, 'options.batchNorm.bias', t),
      channelVector(b.runningMean, 'options.batchNorm.runningMean', t),
      channelVector(b.runningVar, 'options.batchNorm.runningVar', t),
      eps,
    ];
  }
  if (!bn && !residual && !relu) return [];
  return [bn?.[0].storage ?? null, bn?.[1].storage ?? null, bn?.[2].storage ?? null, bn?.[3].storage ?? null, bn?.[4] ?? 1e-5, residual?.storage ?? null, relu];
}

function layerForward(adder: boolean, x: unknown, w: unknown, options: unknown): Tensor {
  const xt = checkTensor(x, 'x', [4], '[N, C, H, W]');
  const wt = checkTensor(w, 'weight', [4], '[T, C, KH, KW]');
  const opts = checkOptions(options, 'options');
  const g = geometry(xt, wt, checkPair(opts.stride, 'stride', [1, 1], 1), checkPair(opts.padding, 'padding', [0, 0], 0));
  const bias = checkBias(opts.bias, wt.shape[0]);
  const epilogue = epilogueArgs(opts, wt.shape[0], g.outShape);
  const out = empty(g.outShape);
  (adder ? native.adder2dForward : native.conv2dForward)(xt.storage, wt.storage, bias?.storage ?? null, out.storage, g.dims, ...epilogue);
  return out;
}

function layerBackward(adder: boolean, x: unknown, w: unknown, gradOut: unknown, options: unknown): Gradients {
  const xt = checkTensor(x, 'x', [4], '[N, C, H, W]');
  const wt = checkTensor(w, 'weight', [4], '[T, C, KH, KW]');
  const opts = checkOptions(options, 'options');
  const g = geometry(xt, wt, checkPair(opts.stride, 'stride', [1, 1], 1), checkPair(opts.padding, 'padding', [0, 0], 0));
  const gy = checkTensor(gradOut, 'gradOut', [4], `[${g.outShape.join(', ')}]`);
  if (gy.shape.some((d, i) => d !== g.outShape[i])) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'gradOut', `shape [${g.outShape.join(', ')}] (the forward output)`, `shape ${describe(gy.shape)}`);
  }
  const wantBias = checkFlag(opts.bias, 'options.bias', false);
  const wantInput = checkFlag(opts.inputGrad, 'options.inputGrad', true);
  const gx = wantInput ? empty(xt.shape) : undefined;
  const gw = empty(wt.shape);
  const gb = wantBias ? empty([wt.shape[0]]) : undefined;
  (adder ? native.adder2dBackward : native.conv2dBackward)(
    xt.storage, wt.storage, gy.storage, gx?.storage ?? null, gw.storage, gb?.storage ?? null, g.dims,
  );
  const result: Gradients = { gradWeight: gw };
  if (gx) result.gradInput = gx;
  if (gb) result.gradBias = gb;
  return result;
}

// Fully connected layers are the 1x1 case: [N, C] -> [N, C, 1, 1].
function asLinear(x: unknown, w: unknown): { x4: Tensor; w4: Tensor } {
  const xt = checkTensor(x, 'x', [2], '[N, C]');
  const wt = checkTensor(w, 'weight', [2], '[T, C]');
  if (wt.shape[1] !== xt.shape[1]) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'weight', `shape [T, ${xt.shape[1]}] to match x`, `shape ${describe(wt.shape)}`);
  }
  return { x4: xt.reshape([xt.shape[0], xt.shape[1], 1, 1]), w4: wt.reshape([wt.shape[0], wt.shape[1], 1, 1]) };
}

// The 4-D views only carry the storages to the kernel, which holds them
// while queued: disposed at once, so the blocks are freed with the tensors
// the caller keeps (a view holds its block as long as the tensor does).
function disposeViews(...views: (Tensor | undefined)[]): void {
  for (const v of views) v?.dispose();
}

/** The fused epilogue of a fully connected layer (BatchNorm1d over its outputs, residual [N, T], ReLU). */
export type LinearEpilogue = Pick<Conv2dOptions, 'batchNorm' | 'relu'> & { residual?: Tensor };

function linearForward(adder: boolean, x: unknown, w: unknown, bias?: unknown, epilogue?: LinearEpilogue): Tensor {
  const { x4, w4 } = asLinear(x, w);
  const e = checkOptions(epilogue, 'epilogue');
  const want = [x4.shape[0], w4.shape[0]];
  const r = e.residual === undefined || e.residual === null ? undefined : checkTensor(e.residual, 'epilogue.residual', [2], `[${want.join(', ')}]`);
  if (r && (r.shape[0] !== want[0] || r.shape[1] !== want[1])) {
    disposeViews(x4, w4);
    throw rangeError('ERR_ADDERNET_SHAPE', 'epilogue.residual', `shape [${want.join(', ')}] (the output's)`, `shape ${describe(r.shape)}`);
  }
  const r4 = r?.reshape([r.shape[0], r.shape[1], 1, 1]);
  try {
    const y = layerForward(adder, x4, w4, { bias: bias ?? undefined, batchNorm: e.batchNorm, relu: e.relu, residual: r4 });
    const out = y.reshape([x4.shape[0], w4.shape[0]]);
    y.dispose();
    return out;
  } finally {
    disposeViews(x4, w4, r4);
  }
}

function linearGradients(adder: boolean, x: unknown, w: unknown, gradOut: unknown, options?: LinearBackwardOptions): Gradients {
  const { x4, w4 } = asLinear(x, w);
  const want = [x4.shape[0], w4.shape[0]];
  const gy = checkTensor(gradOut, 'gradOut', [2], `[${want.join(', ')}]`);
  if (gy.shape[0] !== want[0] || gy.shape[1] !== want[1]) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'gradOut', `shape [${want.join(', ')}] (the forward output)`, `shape ${describe(gy.shape)}`);
  }
  const opts = checkOptions(options, 'options');
  const gy4 = gy.reshape([gy.shape[0], gy.shape[1], 1, 1]);
  try {
    const g = layerBackward(adder, x4, w4, gy4, { bias: opts.bias, inputGrad: opts.inputGrad });
    const out = {
      ...g,
      gradInput: g.gradInput?.reshape([x4.shape[0], x4.shape[1]]),
      gradWeight: g.gradWeight.reshape([w4.shape[0], w4.shape[1]]),
    };
    disposeViews(g.gradInput, g.gradWeight);
    return out;
  } finally {
    disposeViews(x4, w4, gy4);
  }
}

/** Y = -sum |X_patch - F| (+ bias): x [N, C, H, W], weight [T, C, KH, KW] -> [N, T, HO, WO]. */
export function adder2d(x: Tensor, weight: Tensor, options?: Conv2dOptions): Tensor {
  return layerForward(true, x, weight, options);
}

/** Full-precision filter gradient and HardTanh input gradient (SPEC.md). */
export function adder2dBackward(x: Tensor, weight: Tensor, gradOut: Tensor, options?: Conv2dBackwardOptions): Gradients {
  return layerBackward(true, x, weight, gradOut, options);
}

/** Cross-correlation with the semantics of torch.nn.functional.conv2d. */
export function conv2d(x: Tensor, weight: Tensor, options?: Conv2dOptions): Tensor {
  return layerForward(false, x, weight, options);
}

export function conv2dBackward(x: Tensor, weight: Tensor, gradOut: Tensor, options?: Conv2dBackwardOptions): Gradients {
  return layerBackward(false, x, weight, gradOut, options);
}

/** Fully connected adder layer: Y[n,t] = -sum_c |X[n,c] - F[t,c]| (+ bias), then the optional fused epilogue. */
export function adderLinear(x: Tensor, weight: Tensor, bias?: Tensor, epilogue?: LinearEpilogue): Tensor {
  return linearForward(true, x, weight, bias, epilogue);
}

export function adderLinearBackward(x: Tensor, weight: Tensor, gradOut: Tensor, options?: LinearBackwardOptions): Gradients {
  return linearGradients(true, x, weight, gradOut, options);
}

/** Y = X W^T (+ bias), like torch.nn.functional.linear, then the optional fused epilogue. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor, epilogue?: LinearEpilogue): Tensor {
  return linearForward(false, x, weight, bias, epilogue);
}

export function linearBackward(x: Tensor, weight: Tensor, gradOut: Tensor, options?: LinearBackwardOptions): Gradients {
  return linearGradients(false, x, weight, gradOut, options);
}
