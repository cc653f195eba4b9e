// In-place optimiser updates over the native kernels (binding/optim.cc,
// cpp/optim.cc): torch.optim.SGD and AdderNet's adaptive learning rate.
import { checkAnyTensor, checkFlag, checkNumberIn, checkOptions, checkShape } from '../checks';
import { checkPositive, rangeError } from '../errors';
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

/** grad * eta * sqrt(k) / max(||grad||_2, 1e-12): the adder layer's adaptive learning rate. */
export function adaptiveScale(grad: Tensor, eta = 0.2): Tensor {
  checkAnyTensor(grad, 'grad');
  checkPositive(eta, 'eta');
  const out = empty(grad.shape);
  native.adaptiveScale(grad.storage, out.storage, eta);
  return out;
}
