// Typed, validated layer operations over the native kernels. Synchronous:
// each call runs on all pool threads and returns when done.
import { checkOutputSize, checkPair, checkPositive, describe, rangeError, typeError, type Pair } from './errors';
import { native, type ConvDims } from './native';
import { Tensor } from './tensor';

export type { Pair } from './errors';

export interface Conv2dOptions {
  /** Stride (default 1). */
  stride?: Pair;
  /** Zero padding on each side (default 0). */
  padding?: Pair;
  /** Optional per-filter bias [T]. */
  bias?: Tensor;
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

function checkTensor(value: unknown, argument: string, rank: number, what: string): Tensor {
  if (!(value instanceof Tensor)) throw typeError(argument, `a Tensor of shape ${what}`, value);
  if (value.shape.length !== rank) {
    throw rangeError('ERR_ADDERNET_SHAPE', argument, `a rank-${rank} tensor ${what}`, `shape ${describe(value.shape)}`);
  }
  if (value.data.length !== value.shape.reduce((a, b) => a * b, 1)) {
    throw rangeError('ERR_ADDERNET_SIZE', argument, 'data matching its shape', `${value.data.length} elements`);
  }
  return value;
}

function checkOptions(opts: unknown, argument: string): Record<string, unknown> {
  if (opts === undefined) return {};
  if (opts === null || typeof opts !== 'object') throw typeError(argument, 'an options object', opts);
  return opts as Record<string, unknown>;
}

function checkFlag(value: unknown, argument: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw typeError(argument, 'a boolean', value);
  return value;
}

interface Geometry {
  dims: ConvDims;
  outShape: [number, number, number, number];
}

function geometry(x: Tensor, w: Tensor, stride: [number, number], padding: [number, number]): Geometry {
  const [n, c, h, wd] = x.shape;
  const [t, cw, kh, kw] = w.shape;
  if ([n, c, h, wd].some((d) => d < 1)) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'x', 'every dimension >= 1', `shape ${describe(x.shape)}`);
  }
  if ([t, cw, kh, kw].some((d) => d < 1)) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'weight', 'every dimension >= 1', `shape ${describe(w.shape)}`);
  }
  if (cw !== c) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'weight', `${c} input channels (shape [T, ${c}, KH, KW]) to match x`, `shape ${describe(w.shape)}`);
  }
  const ho = Math.floor((h + 2 * padding[0] - kh) / stride[0]) + 1;
  const wo = Math.floor((wd + 2 * padding[1] - kw) / stride[1]) + 1;
  if (!(ho >= 1 && wo >= 1)) {
    throw rangeError(
      'ERR_ADDERNET_SHAPE', 'x',
      'an input at least as large as the kernel after padding (output size >= 1)',
      `input ${describe(x.shape)}, kernel ${kh}x${kw}, padding ${describe(padding)}, stride ${describe(stride)} (output ${ho}x${wo})`,
    );
  }
  checkOutputSize([n, t, ho, wo], 'the output');
  return { dims: [n, c, h, wd, t, kh, kw, stride[0], stride[1], padding[0], padding[1]], outShape: [n, t, ho, wo] };
}

function checkBias(bias: unknown, t: number): Tensor | undefined {
  if (bias === undefined || bias === null) return undefined;
  const b = checkTensor(bias, 'bias', 1, `[${t}]`);
  if (b.shape[0] !== t) throw rangeError('ERR_ADDERNET_SHAPE', 'bias', `shape [${t}]`, `shape ${describe(b.shape)}`);
  return b;
}

function layerForward(adder: boolean, x: unknown, w: unknown, options: unknown): Tensor {
  const xt = checkTensor(x, 'x', 4, '[N, C, H, W]');
  const wt = checkTensor(w, 'weight', 4, '[T, C, KH, KW]');
  const opts = checkOptions(options, 'options');
  const g = geometry(xt, wt, checkPair(opts.stride, 'stride', [1, 1], 1), checkPair(opts.padding, 'padding', [0, 0], 0));
  const bias = checkBias(opts.bias, wt.shape[0]);
  const out = new Float32Array(checkOutputSize(g.outShape, 'the output'));
  (adder ? native.adder2dForward : native.conv2dForward)(xt.data, wt.data, bias?.data ?? null, out, g.dims);
  return new Tensor(out, g.outShape);
}

function layerBackward(adder: boolean, x: unknown, w: unknown, gradOut: unknown, options: unknown): Gradients {
  const xt = checkTensor(x, 'x', 4, '[N, C, H, W]');
  const wt = checkTensor(w, 'weight', 4, '[T, C, KH, KW]');
  const opts = checkOptions(options, 'options');
  const g = geometry(xt, wt, checkPair(opts.stride, 'stride', [1, 1], 1), checkPair(opts.padding, 'padding', [0, 0], 0));
  const gy = checkTensor(gradOut, 'gradOut', 4, `[${g.outShape.join(', ')}]`);
  if (gy.shape.some((d, i) => d !== g.outShape[i])) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'gradOut', `shape [${g.outShape.join(', ')}] (the forward output)`, `shape ${describe(gy.shape)}`);
  }
  const wantBias = checkFlag(opts.bias, 'options.bias', false);
  const wantInput = checkFlag(opts.inputGrad, 'options.inputGrad', true);
  const gx = wantInput ? new Float32Array(xt.data.length) : null;
  const gw = new Float32Array(wt.data.length);
  const gb = wantBias ? new Float32Array(wt.shape[0]) : null;
  (adder ? native.adder2dBackward : native.conv2dBackward)(xt.data, wt.data, gy.data, gx, gw, gb, g.dims);
  const result: Gradients = { gradWeight: new Tensor(gw, wt.shape) };
  if (gx) result.gradInput = new Tensor(gx, xt.shape);
  if (gb) result.gradBias = new Tensor(gb, [wt.shape[0]]);
  return result;
}

// Fully connected layers are the 1x1 case: [N, C] -> [N, C, 1, 1].
function asLinear(x: unknown, w: unknown): { x4: Tensor; w4: Tensor } {
  const xt = checkTensor(x, 'x', 2, '[N, C]');
  const wt = checkTensor(w, 'weight', 2, '[T, C]');
  if (wt.shape[1] !== xt.shape[1]) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'weight', `shape [T, ${xt.shape[1]}] to match x`, `shape ${describe(wt.shape)}`);
  }
  return { x4: xt.reshape([xt.shape[0], xt.shape[1], 1, 1]), w4: wt.reshape([wt.shape[0], wt.shape[1], 1, 1]) };
}

function linearForward(adder: boolean, x: unknown, w: unknown, bias?: unknown): Tensor {
  const { x4, w4 } = asLinear(x, w);
  const y = layerForward(adder, x4, w4, { bias: bias ?? undefined });
  return y.reshape([x4.shape[0], w4.shape[0]]);
}

function linearGradients(adder: boolean, x: unknown, w: unknown, gradOut: unknown, options?: LinearBackwardOptions): Gradients {
  const { x4, w4 } = asLinear(x, w);
  const want = [x4.shape[0], w4.shape[0]];
  const gy = checkTensor(gradOut, 'gradOut', 2, `[${want.join(', ')}]`);
  if (gy.shape[0] !== want[0] || gy.shape[1] !== want[1]) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'gradOut', `shape [${want.join(', ')}] (the forward output)`, `shape ${describe(gy.shape)}`);
  }
  const opts = checkOptions(options, 'options');
  const g = layerBackward(adder, x4, w4, gy.reshape([gy.shape[0], gy.shape[1], 1, 1]), {
    bias: opts.bias, inputGrad: opts.inputGrad,
  });
  return {
    ...g,
    gradInput: g.gradInput?.reshape([x4.shape[0], x4.shape[1]]),
    gradWeight: g.gradWeight.reshape([w4.shape[0], w4.shape[1]]),
  };
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

/** Fully connected adder layer: Y[n,t] = -sum_c |X[n,c] - F[t,c]| (+ bias). */
export function adderLinear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  return linearForward(true, x, weight, bias);
}

export function adderLinearBackward(x: Tensor, weight: Tensor, gradOut: Tensor, options?: LinearBackwardOptions): Gradients {
  return linearGradients(true, x, weight, gradOut, options);
}

/** Y = X W^T (+ bias), like torch.nn.functional.linear. */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  return linearForward(false, x, weight, bias);
}

export function linearBackward(x: Tensor, weight: Tensor, gradOut: Tensor, options?: LinearBackwardOptions): Gradients {
  return linearGradients(false, x, weight, gradOut, options);
}

/** grad * eta * sqrt(k) / max(||grad||_2, 1e-12): the adder layer's adaptive learning rate. */
export function adaptiveScale(grad: Tensor, eta = 0.2): Tensor {
  if (!(grad instanceof Tensor)) throw typeError('grad', 'a Tensor', grad);
  checkPositive(eta, 'eta');
  const out = new Float32Array(grad.data.length);
  native.adaptiveScale(grad.data, out, eta);
  return new Tensor(out, grad.shape);
}
