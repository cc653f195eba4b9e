// Batch normalisation (PyTorch semantics) over the native kernels
// (binding/norm.cc, cpp/norm.cc).
// Validation here is per argument, never per element: the element loops all
// run natively, and native code re-checks what memory safety needs.
import { checkFlag, checkNonEmpty, checkNumberIn, checkOptions, checkShape, checkTensor } from '../checks';
import { checkPositive, describe, rangeError } from '../errors';
import { native } from '../native';
import { empty, Tensor } from '../tensor';

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
