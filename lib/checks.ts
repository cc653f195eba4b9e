// Argument checks shared by every op (lib/ops/): one wording for
// "Expected <what> for <argument> but received <value>" and one code per kind
// of mistake. Scalar options (pairs, positive numbers, sizes) are in errors.ts.
import { checkOutputSize, codedError, describe, rangeError, typeError } from './errors';
import { type Dtype, Tensor } from './tensor';

/** A live float32 Tensor of one of `ranks`; `what` describes the expected shape ("[N, C, H, W]"). */
export function checkTensor(value: unknown, argument: string, ranks: readonly number[], what: string): Tensor {
  if (!(value instanceof Tensor)) throw typeError(argument, `a Tensor of shape ${what}`, value);
  checkFloat32(value, argument);
  if (!ranks.includes(value.shape.length)) {
    const rank = ranks.length === 1 ? `a rank-${ranks[0]}` : `a rank-${ranks.join(' or ')}`;
    throw rangeError('ERR_ADDERNET_SHAPE', argument, `${rank} tensor ${what}`, `shape ${describe(value.shape)}`);
  }
  return checkLive(value, argument);
}

/** Any live float32 Tensor. */
export function checkAnyTensor(value: unknown, argument: string): Tensor {
  if (!(value instanceof Tensor)) throw typeError(argument, 'a Tensor', value);
  checkFloat32(value, argument);
  return checkLive(value, argument);
}

function checkFloat32(t: Tensor<Dtype>, argument: string): asserts t is Tensor {
  if (t.dtype !== 'float32') throw typeError(argument, 'a float32 Tensor', t);
}

function checkLive<T extends Tensor<Dtype>>(t: T, argument: string): T {
  if (t.disposed) throw codedError('ERR_ADDERNET_DISPOSED', `addernet: ${argument} is a disposed tensor (shape ${describe(t.shape)})`);
  return t;
}

/** A live int32 Tensor of exactly `size` elements (indices). */
export function checkIndexTensor(value: unknown, argument: string, size: number, why: string): Tensor<'int32'> {
  if (!(value instanceof Tensor) || value.dtype !== 'int32') throw typeError(argument, `an int32 Tensor of ${size} elements (${why})`, value);
  if (value.size !== size) throw rangeError('ERR_ADDERNET_SIZE', argument, `${size} elements (${why})`, `${value.size} elements`);
  return checkLive(value as Tensor<'int32'>, argument);
}

export function checkShape(t: Tensor, argument: string, shape: readonly number[], why: string): void {
  if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
    throw rangeError('ERR_ADDERNET_SHAPE', argument, `shape ${describe(shape)} (${why})`, `shape ${describe(t.shape)}`);
  }
}

export function checkNonEmpty(t: Tensor, argument: string, what: string): void {
  if (t.shape.some((d) => d < 1)) {
    throw rangeError('ERR_ADDERNET_SHAPE', argument, `a tensor ${what} with every dimension >= 1`, `shape ${describe(t.shape)}`);
  }
}

/** An options object; undefined gives {} unless required. */
export function checkOptions(opts: unknown, argument: string, required = false): Record<string, unknown> {
  if (opts === undefined && !required) return {};
  if (opts === null || typeof opts !== 'object') throw typeError(argument, 'an options object', opts);
  return opts as Record<string, unknown>;
}

/** A boolean; undefined gives the fallback when there is one. */
export function checkFlag(value: unknown, argument: string, fallback?: boolean): boolean {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'boolean') throw typeError(argument, 'a boolean', value);
  return value;
}

/** The element count of a shape. */
export const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

export function checkNumberIn(value: unknown, argument: string, min: number, max: number): number {
  const what = max === Infinity ? `a finite number >= ${min}` : `a number in [${min}, ${max}]`;
  if (typeof value !== 'number') throw typeError(argument, what, value);
  if (!Number.isFinite(value) || value < min || value > max) {
    throw rangeError('ERR_ADDERNET_OPTION', argument, what, describe(value));
  }
  return value;
}

/** Adam's betas (PyTorch's rule): a pair of numbers, each in [0, 1). */
export function checkBetas(value: unknown, argument: string): [number, number] {
  const what = 'a pair of numbers in [0, 1)';
  if (!Array.isArray(value) || value.length !== 2 || value.some((b) => typeof b !== 'number')) {
    throw typeError(argument, what, value);
  }
  if (value.some((b: number) => !(b >= 0 && b < 1))) throw rangeError('ERR_ADDERNET_OPTION', argument, what, describe(value));
  return [value[0], value[1]];
}

export function checkInputShape(value: unknown, argument: string): [number, number, number, number] {
  const what = 'an array of 4 integers >= 1 ([N, C, H, W])';
  if (!Array.isArray(value) || value.length !== 4 || value.some((d) => typeof d !== 'number')) {
    throw typeError(argument, what, value);
  }
  if (value.some((d) => !Number.isInteger(d) || d < 1)) throw rangeError('ERR_ADDERNET_SHAPE', argument, what, describe(value));
  checkOutputSize(value, argument); // the gradient allocated for it
  return [value[0], value[1], value[2], value[3]];
}
