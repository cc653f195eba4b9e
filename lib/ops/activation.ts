// ReLU and the residual add over the native kernels (binding/activation.cc,
// cpp/activation.cc).
import { checkAnyTensor, checkOptions, checkShape } from '../checks';
import { native } from '../native';
import { empty, Tensor } from '../tensor';

/** max(x, 0), element-wise (NaN stays NaN). */
export function relu(x: Tensor): Tensor {
  const xt = checkAnyTensor(x, 'x');
  const y = empty(xt.shape);
  native.reluForward(xt.storage, y.storage);
  return y;
}

export interface OutOptions {
  /**
   * Write the result into this tensor (the result's shape, float32) instead
   * of a new one, like PyTorch's `out=`; it may be one of the inputs, which
   * makes the op in place. Returned.
   */
  out?: Tensor;
}

function outTensor(opts: unknown, shape: readonly number[]): Tensor {
  const o = checkOptions(opts, 'opts');
  if (o.out === undefined) return empty(shape);
  const out = checkAnyTensor(o.out, 'opts.out');
  checkShape(out, 'opts.out', shape, 'the shape of the result');
  return out;
}

/** gradOut where the forward output y is > 0, else 0. */
export function reluBackward(y: Tensor, gradOut: Tensor, opts?: OutOptions): Tensor {
  const yt = checkAnyTensor(y, 'y');
  const gy = checkAnyTensor(gradOut, 'gradOut');
  checkShape(gy, 'gradOut', yt.shape, 'the shape of y');
  const gx = outTensor(opts, yt.shape);
  native.reluBackward(yt.storage, gy.storage, gx.storage);
  return gx;
}

/** a + b for tensors of one shape (residual connections); `{ out: a }` adds in place. */
export function add(a: Tensor, b: Tensor, opts?: OutOptions): Tensor {
  const at = checkAnyTensor(a, 'a');
  const bt = checkAnyTensor(b, 'b');
  checkShape(bt, 'b', at.shape, 'the shape of a');
  const out = outTensor(opts, at.shape);
  native.add(at.storage, bt.storage, out.storage);
  return out;
}
