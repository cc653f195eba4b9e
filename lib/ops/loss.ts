// Softmax cross-entropy over the native kernel (binding/loss.cc, cpp/loss.cc).
// Validation here is per argument, never per element: the element loops all
// run natively, and native code re-checks what memory safety needs.
import { checkFlag, checkNonEmpty, checkOptions, checkTensor } from '../checks';
import { rangeError, typeError } from '../errors';
import { native } from '../native';
import { empty, Tensor } from '../tensor';

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
