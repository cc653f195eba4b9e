// Max, average and global average pooling over the native kernels
// (binding/pool.cc, cpp/pool.cc).
// Validation here is per argument, never per element: the element loops all
// run natively, and native code re-checks what memory safety needs.
import { checkIndexTensor, checkInputShape, checkNonEmpty, checkOptions, checkShape, checkTensor } from '../checks';
import { checkOutputSize, checkPair, describe, rangeError, type Pair } from '../errors';
import { native, type NativeStorage, type PoolDims } from '../native';
import { empty, Tensor } from '../tensor';

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
