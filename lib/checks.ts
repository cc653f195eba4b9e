// Argument checks shared by every op (ops.ts, train-ops.ts): one wording for
// "Expected <what> for <argument> but received <value>" and one code per kind
// of mistake. Scalar options (pairs, positive numbers, sizes) are in errors.ts.
import { codedError, describe, rangeError, typeError } from './errors';
import { Tensor } from './tensor';

/** A live Tensor of one of `ranks`; `what` describes the expected shape ("[N, C, H, W]"). */
export function checkTensor(value: unknown, argument: string, ranks: readonly number[], what: string): Tensor {
  if (!(value instanceof Tensor)) throw typeError(argument, `a Tensor of shape ${what}`, value);
  if (!ranks.includes(value.shape.length)) {
    const rank = ranks.length === 1 ? `a rank-${ranks[0]}` : `a rank-${ranks.join(' or ')}`;
    throw rangeError('ERR_ADDERNET_SHAPE', argument, `${rank} tensor ${what}`, `shape ${describe(value.shape)}`);
  }
  return checkLive(value, argument);
}

/** Any live Tensor. */
export function checkAnyTensor(value: unknown, argument: string): Tensor {
  if (!(value instanceof Tensor)) throw typeError(argument, 'a Tensor', value);
  return checkLive(value, argument);
}

function checkLive(t: Tensor, argument: string): Tensor {
  if (t.disposed) throw codedError('ERR_ADDERNET_DISPOSED', `addernet: ${argument} is a disposed tensor (shape ${describe(t.shape)})`);
  return t;
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
