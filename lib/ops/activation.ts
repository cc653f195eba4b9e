// ReLU and the residual add over the native kernels (binding/activation.cc,
// cpp/activation.cc).
import { checkAnyTensor, checkShape } from '../checks';
import { native } from '../native';
import { empty, Tensor } from '../tensor';

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
