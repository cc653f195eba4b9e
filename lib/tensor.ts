import { checkOutputSize, describe, rangeError, typeError } from './errors';

export type Device = 'cpu';

/** A dense float32 tensor in row-major (NCHW) order. */
export class Tensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
  readonly device: Device = 'cpu';

  constructor(data: Float32Array, shape: readonly number[]) {
    if (!(data instanceof Float32Array)) throw typeError('data', 'a Float32Array', data);
    if (!Array.isArray(shape)) throw typeError('shape', 'an array of integers', shape);
    for (const d of shape) {
      if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
        throw rangeError('ERR_ADDERNET_SHAPE', 'shape', 'an array of integers >= 0', describe(shape));
      }
    }
    const size = shape.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw rangeError(
        'ERR_ADDERNET_SIZE',
        'data',
        `${size} elements for shape ${describe(shape)}`,
        `${data.length} elements`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Same data viewed with another shape of equal size (no copy). */
  reshape(shape: readonly number[]): Tensor {
    return new Tensor(this.data, shape);
  }

  clone(): Tensor {
    return new Tensor(this.data.slice(), this.shape);
  }

  toString(): string {
    return `Tensor(shape=[${this.shape.join(', ')}], device=${this.device})`;
  }
}

/** Wraps a Float32Array (not copied) as a tensor of the given shape. */
export function tensor(data: Float32Array, shape: readonly number[]): Tensor {
  return new Tensor(data, shape);
}

export function zeros(shape: readonly number[]): Tensor {
  const size = Array.isArray(shape) ? shape.reduce((a: number, b: number) => a * b, 1) : NaN;
  if (!Number.isSafeInteger(size) || size < 0) throw rangeError('ERR_ADDERNET_SHAPE', 'shape', 'an array of integers >= 0', describe(shape));
  return new Tensor(new Float32Array(checkOutputSize(shape, 'shape')), shape);
}

export function isTensor(value: unknown): value is Tensor {
  return value instanceof Tensor;
}
