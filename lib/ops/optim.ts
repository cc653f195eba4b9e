// In-place optimiser updates over the native kernels (binding/optim.cc,
// cpp/optim.cc): torch.optim.SGD, torch.optim.Adam / AdamW and AdderNet's
// adaptive learning rate.
import { checkAnyTensor, checkBetas, checkFlag, checkNumberIn, checkOptions, checkShape } from '../checks';
import { checkInteger, checkPositive, rangeError } from '../errors';
import { native } from '../native';
import { empty, Tensor } from '../tensor';

export interface SgdOptions {
  lr: number;
  momentum: number;
  dampening?: number;
  weightDecay: number;
  nesterov: boolean;
  /** The momentum buffer is initialised from this step's gradient instead of decayed. */
  firstStep: boolean;
}

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

export interface AdamUpdateOptions {
  lr: number;
  /** Decay rates of the running averages of the gradient and its square, each in [0, 1). */
  betas: readonly [number, number];
  /** Added to the denominator (PyTorch's default is 1e-8). */
  eps: number;
  weightDecay: number;
  /** AdamW: param *= 1 - lr * weightDecay before the update, instead of adding weightDecay * param to the gradient (default false). */
  decoupled?: boolean;
  /** The step number, 1 for the first (bias correction). */
  step: number;
  /** Normalise by the running maximum of expAvgSq, kept in maxExpAvgSq (default false). */
  amsgrad?: boolean;
  /** Required with amsgrad: the running maximum, zeros before the first step. */
  maxExpAvgSq?: Tensor;
}

/**
 * One torch.optim.Adam step (AdamW with opts.decoupled) on one parameter, in
 * place: updates param, expAvg and expAvgSq (zeros before the first step) and,
 * with amsgrad, opts.maxExpAvgSq; grad is only read. Rounds as PyTorch 1.13's
 * single-tensor Adam does on the CPU (cpp/addernet.h, adn::adam_update).
 */
export function adamUpdate(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, opts: AdamUpdateOptions): void {
  const p = checkAnyTensor(param, 'param');
  const sameAsParam = (t: unknown, argument: string): Tensor => {
    const checked = checkAnyTensor(t, argument);
    checkShape(checked, argument, p.shape, 'the shape of param');
    return checked;
  };
  sameAsParam(grad, 'grad');
  sameAsParam(expAvg, 'expAvg');
  sameAsParam(expAvgSq, 'expAvgSq');
  const o = checkOptions(opts, 'opts', true);
  const lr = checkNumberIn(o.lr, 'opts.lr', 0, Infinity);
  const [beta1, beta2] = checkBetas(o.betas, 'opts.betas');
  const eps = checkNumberIn(o.eps, 'opts.eps', 0, Infinity);
  const weightDecay = checkNumberIn(o.weightDecay, 'opts.weightDecay', 0, Infinity);
  const decoupled = checkFlag(o.decoupled, 'opts.decoupled', false);
  const step = checkInteger(o.step, 'opts.step', 1);
  const amsgrad = checkFlag(o.amsgrad, 'opts.amsgrad', false);
  let max: Tensor | null = null;
  if (amsgrad) max = sameAsParam(o.maxExpAvgSq, 'opts.maxExpAvgSq');
  else if (o.maxExpAvgSq !== undefined) checkAnyTensor(o.maxExpAvgSq, 'opts.maxExpAvgSq');
  native.adamUpdate(
    p.storage, grad.storage, expAvg.storage, expAvgSq.storage, max?.storage ?? null, step,
    lr, beta1, beta2, eps, weightDecay, decoupled, amsgrad,
  );
}

/** grad * eta * sqrt(k) / max(||grad||_2, 1e-12): the adder layer's adaptive learning rate. */
export function adaptiveScale(grad: Tensor, eta = 0.2): Tensor {
  checkAnyTensor(grad, 'grad');
  checkPositive(eta, 'eta');
  const out = empty(grad.shape);
  native.adaptiveScale(grad.storage, out.storage, eta);
  return out;
}
