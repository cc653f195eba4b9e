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
  | 'ERR_ADDERNET_FORMAT'; // malformed, truncated or hostile file (safetensors, IDX, CIFAR, ...)

export interface AddernetError extends Error {
  code: AddernetErrorCode;
}

/** Short, readable rendering of a received value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (Array.isArray(value)) {
    return value.length <= 8 ? `[${value.map(describe).join(', ')}]` : `an array of length ${value.length}`;
  }
  if (ArrayBuffer.isView(value)) {
    return `${value.constructor.name} of length ${(value as unknown as { length: number }).length}`;
  }
  if (typeof value === 'object') {
    const ctor = (value as object).constructor?.name;
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
