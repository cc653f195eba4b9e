// One wording for every argument error: "Expected <what> for <argument> but
// received <value>", a TypeError or RangeError with a stable `code`.

export type AddernetErrorCode =
  | 'ERR_ADDERNET_TYPE' // wrong JavaScript type (not a Tensor, not a Float32Array, ...)
  | 'ERR_ADDERNET_SHAPE' // wrong rank, mismatched dimensions, output smaller than 1
  | 'ERR_ADDERNET_SIZE' // data length does not match the shape
  | 'ERR_ADDERNET_OPTION' // invalid option value (stride, padding, eta, threads, ...)
  | 'ERR_ADDERNET_ISA' // unknown or unsupported instruction set
  | 'ERR_ADDERNET_NATIVE' // failure inside native code
  | 'ERR_ADDERNET_MEMORY' // native scratch memory could not be allocated
  | 'ERR_ADDERNET_BUSY' // fit() already running on this model
  | 'ERR_ADDERNET_DISPOSED' // a disposed tensor or model read or used
  | 'ERR_ADDERNET_DEVICE' // an unknown or unavailable device ('cuda' before the CUDA backend)
  | 'ERR_ADDERNET_STATE' // a call out of order (backward() without a training forward())
  | 'ERR_ADDERNET_LOAD' // the native addon or a required package could not be loaded
  | 'ERR_ADDERNET_FORMAT'; // malformed, truncated or hostile file (safetensors, IDX, CIFAR, ...)

export interface AddernetError extends Error {
  code: AddernetErrorCode;
}

/** A plain Error carrying a code, for failures that are not about one argument. */
export function codedError(code: AddernetErrorCode, message: string): Error & AddernetError {
  return Object.assign(new Error(message), { code });
}

/** Short, readable rendering of a received value for error messages. */
export function describe(value: unknown): string {
  return describeAt(value, 0);
}

/** Arrays nested deeper than this are summarised, so describe() never recurses far (hostile JSON can nest 100k deep). */
const DESCRIBE_MAX_DEPTH = 4;

function describeAt(value: unknown, depth: number): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (Array.isArray(value)) {
    return value.length <= 8 && depth < DESCRIBE_MAX_DEPTH
      ? `[${value.map((v) => describeAt(v, depth + 1)).join(', ')}]`
      : `an array of length ${value.length}`;
  }
  if (ArrayBuffer.isView(value)) {
    return `${value.constructor.name} of length ${(value as unknown as { length: number }).length}`;
  }
  if (typeof value === 'object') {
    const ctor = (value as object).constructor?.name;
    // A Tensor (lib/tensor.ts, which imports this file) says its dtype and shape.
    const t = value as { dtype?: unknown; shape?: unknown };
    if (ctor === 'Tensor' && typeof t.dtype === 'string' && Array.isArray(t.shape)) {
      return `${t.dtype === 'int32' ? 'an' : 'a'} ${t.dtype} Tensor of shape ${describeAt(t.shape, depth + 1)}`;
    }
    return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
  }
  return typeof value;
}

function make<E extends Error>(
  Ctor: new (message: string) => E,
  code: AddernetErrorCode,
  argument: string,
  expected: string,
  received: string,
): E & AddernetError {
  const err = new Ctor(`Expected ${expected} for ${argument} but received ${received}`) as E & AddernetError;
  err.code = code;
  return err;
}

export function typeError(argument: string, expected: string, value: unknown): TypeError & AddernetError {
  return make(TypeError, 'ERR_ADDERNET_TYPE', argument, expected, describe(value));
}

export function rangeError(
  code: Exclude<AddernetErrorCode, 'ERR_ADDERNET_TYPE'>,
  argument: string,
  expected: string,
  received: string,
): RangeError & AddernetError {
  return make(RangeError, code, argument, expected, received);
}

/** A finite integer >= min, else ERR_ADDERNET_OPTION (or TYPE for non-numbers). */
export function checkInteger(value: unknown, argument: string, min: number): number {
  if (typeof value !== 'number') throw typeError(argument, `an integer >= ${min}`, value);
  if (!Number.isInteger(value) || value < min) {
    throw rangeError('ERR_ADDERNET_OPTION', argument, `an integer >= ${min}`, describe(value));
  }
  return value;
}

/** A finite number > 0 (or >= 0 when allowZero). */
export function checkPositive(value: unknown, argument: string, allowZero = false): number {
  const what = allowZero ? 'a finite number >= 0' : 'a finite number > 0';
  if (typeof value !== 'number') throw typeError(argument, what, value);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw rangeError('ERR_ADDERNET_OPTION', argument, what, describe(value));
  }
  return value;
}

/** Largest stride, padding or window edge the ops accept: far above any real layer, small enough that no product of them wraps. */
export const MAX_GEOMETRY = 2 ** 20;
/** Largest tensor an op creates: the longest Float32Array V8 allows. */
export const MAX_ELEMENTS = 2 ** 32;

/** One value for both spatial dimensions, or [height, width]. */
export type Pair = number | readonly [number, number];

/**
 * An integer in [min, MAX_GEOMETRY] or a pair of them (stride, padding,
 * kernel size); `fallback` when undefined and given.
 */
export function checkPair(value: unknown, argument: string, fallback: [number, number] | undefined, min: number): [number, number] {
  const expected = `an integer from ${min} to ${MAX_GEOMETRY} or a pair of them`;
  if (value === undefined && fallback) return fallback;
  const items = typeof value === 'number' ? [value, value] : (value as Pair);
  if (!Array.isArray(items) || items.length !== 2 || items.some((v) => typeof v !== 'number')) {
    throw typeError(argument, expected, value);
  }
  if (items.some((v) => !Number.isInteger(v) || v < min || v > MAX_GEOMETRY)) {
    throw rangeError('ERR_ADDERNET_OPTION', argument, expected, describe(value));
  }
  return [items[0], items[1]];
}

/** The element count of a tensor an op is about to create, refused (ERR_ADDERNET_SIZE) above MAX_ELEMENTS. */
export function checkOutputSize(shape: readonly number[], argument: string): number {
  const size = shape.reduce((a, b) => a * b, 1);
  if (!(size <= MAX_ELEMENTS)) {
    throw rangeError('ERR_ADDERNET_SIZE', argument, `at most ${MAX_ELEMENTS} elements (the largest Float32Array)`, `shape ${describe(shape)} (${size} elements)`);
  }
  return size;
}
