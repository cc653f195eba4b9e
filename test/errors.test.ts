// Bad input: every case throws a TypeError or RangeError with a stable `code`
// and a message "Expected <what> for <argument> but received <value>".
// The raw binding re-checks buffers itself: it throws (with a code), never
// crashes, and never writes outside the buffers it was given.
import { afterAll, describe, expect, it } from 'vitest';
import {
  backendInfo, ops, setIsa, setNumThreads, supportedIsas, tensor, zeros, type Tensor,
} from '../lib/index';
import { native } from '../lib/native';
import * as F from '../lib/ops/index';
import { mulberry32, randomArray, sizeOf } from './reference';

const initial = backendInfo();
afterAll(() => {
  setIsa(initial.isa);
  setNumThreads(initial.threads);
});

type ErrorClass = typeof TypeError | typeof RangeError | typeof Error;

/** Runs fn, expects it to throw exactly `cls` with `code`, and returns the error. */
function thrown(fn: () => unknown, cls: ErrorClass, code: string, message?: RegExp): Error & { code?: string } {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error, 'expected a throw').toBeDefined();
  const err = error as Error & { code?: string };
  expect(err.constructor, `${err.constructor?.name}: ${err.message}`).toBe(cls);
  expect(err.code, err.message).toBe(code);
  if (message) expect(err.message).toMatch(message);
  return err;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The public wording: Expected <what> for <argument> but received <value>. */
const wording = (argument: string, received?: string) =>
  new RegExp(`^Expected .+ for ${escape(argument)} but received ${received === undefined ? '.+' : escape(received)}`);

const t = (shape: number[], values?: number[]): Tensor =>
  tensor(values ? new Float32Array(values) : randomArray(mulberry32(shape.length), sizeOf(shape)), shape);

const x = t([1, 2, 5, 5]);
const w = t([3, 2, 3, 3]);
const gy = t([1, 3, 3, 3]);

describe('tensor()', () => {
  it('rejects data that is not a Float32Array or an Int32Array', () => {
    thrown(() => tensor(new Float64Array(6) as unknown as Float32Array, [2, 3]), TypeError, 'ERR_ADDERNET_TYPE', wording('data', 'Float64Array of length 6'));
    thrown(() => tensor([1, 2, 3] as unknown as Float32Array, [3]), TypeError, 'ERR_ADDERNET_TYPE', wording('data', '[1, 2, 3]'));
    thrown(() => tensor(new Uint8Array(2) as unknown as Float32Array, [2]), TypeError, 'ERR_ADDERNET_TYPE', wording('data', 'Uint8Array of length 2'));
    thrown(() => tensor(new Int32Array(3), [2]), RangeError, 'ERR_ADDERNET_SIZE', wording('data', '3 elements'));
  });

  it('rejects data whose length does not match the shape', () => {
    const err = thrown(() => tensor(new Float32Array(5), [2, 3]), RangeError, 'ERR_ADDERNET_SIZE', wording('data', '5 elements'));
    expect(err.message).toContain('6 elements');
    thrown(() => tensor(new Float32Array(0), []), RangeError, 'ERR_ADDERNET_SIZE', wording('data', '0 elements'));
  });

  it('rejects bad shapes', () => {
    thrown(() => tensor(new Float32Array(2), 2 as unknown as number[]), TypeError, 'ERR_ADDERNET_TYPE', wording('shape', '2'));
    thrown(() => tensor(new Float32Array(2), [2, -1]), RangeError, 'ERR_ADDERNET_SHAPE', wording('shape', '[2, -1]'));
    thrown(() => tensor(new Float32Array(2), [1.5]), RangeError, 'ERR_ADDERNET_SHAPE', wording('shape', '[1.5]'));
    thrown(() => tensor(new Float32Array(2), [NaN]), RangeError, 'ERR_ADDERNET_SHAPE', wording('shape', '[NaN]'));
    thrown(() => tensor(new Float32Array(2), ['2'] as unknown as number[]), RangeError, 'ERR_ADDERNET_SHAPE', wording('shape'));
    thrown(() => zeros([2, -1]), RangeError, 'ERR_ADDERNET_SHAPE', wording('shape', '[2, -1]'));
  });

  it('accepts an empty scalar shape of one element and a zero-size shape', () => {
    expect(tensor(new Float32Array(1), []).size).toBe(1);
    expect(tensor(new Float32Array(0), [0, 3]).size).toBe(0);
  });
});

describe('ops: tensors', () => {
  it('rejects non-tensors', () => {
    thrown(() => ops.adder2d(x.dataSync() as unknown as Tensor, w), TypeError, 'ERR_ADDERNET_TYPE', wording('x', 'Float32Array of length 50'));
    thrown(() => ops.conv2d(x, null as unknown as Tensor), TypeError, 'ERR_ADDERNET_TYPE', wording('weight', 'null'));
    thrown(() => ops.adder2dBackward(x, w, {} as Tensor), TypeError, 'ERR_ADDERNET_TYPE', wording('gradOut', 'an object'));
    thrown(() => ops.adderLinear([1, 2] as unknown as Tensor, t([2, 2])), TypeError, 'ERR_ADDERNET_TYPE', wording('x', '[1, 2]'));
    thrown(() => ops.adaptiveScale(new Float32Array(2) as unknown as Tensor), TypeError, 'ERR_ADDERNET_TYPE', wording('grad'));
  });

  it('rejects the wrong rank', () => {
    thrown(() => ops.adder2d(t([2, 5, 5]), w), RangeError, 'ERR_ADDERNET_SHAPE', wording('x', 'shape [2, 5, 5]'));
    thrown(() => ops.conv2d(x, t([3, 2, 9])), RangeError, 'ERR_ADDERNET_SHAPE', wording('weight', 'shape [3, 2, 9]'));
    thrown(() => ops.adder2dBackward(x, w, t([3, 3, 3])), RangeError, 'ERR_ADDERNET_SHAPE', wording('gradOut', 'shape [3, 3, 3]'));
    thrown(() => ops.adderLinear(t([1, 2, 3]), t([2, 2])), RangeError, 'ERR_ADDERNET_SHAPE', wording('x', 'shape [1, 2, 3]'));
    thrown(() => ops.linear(t([2, 3]), t([4, 3, 1])), RangeError, 'ERR_ADDERNET_SHAPE', wording('weight', 'shape [4, 3, 1]'));
    thrown(() => ops.linearBackward(t([2, 3]), t([4, 3]), t([8])), RangeError, 'ERR_ADDERNET_SHAPE', wording('gradOut', 'shape [8]'));
  });

  it('rejects mismatched channels', () => {
    thrown(() => ops.adder2d(x, t([3, 4, 3, 3])), RangeError, 'ERR_ADDERNET_SHAPE', wording('weight', 'shape [3, 4, 3, 3]'));
    thrown(() => ops.conv2dBackward(x, t([3, 1, 3, 3]), gy), RangeError, 'ERR_ADDERNET_SHAPE', wording('weight', 'shape [3, 1, 3, 3]'));
    thrown(() => ops.adderLinear(t([2, 3]), t([4, 5])), RangeError, 'ERR_ADDERNET_SHAPE', wording('weight', 'shape [4, 5]'));
    thrown(() => ops.linearBackward(t([2, 3]), t([4, 2]), t([2, 4])), RangeError, 'ERR_ADDERNET_SHAPE', wording('weight', 'shape [4, 2]'));
  });

  it('rejects an output smaller than 1x1', () => {
    const err = thrown(() => ops.adder2d(t([1, 2, 2, 2]), w), RangeError, 'ERR_ADDERNET_SHAPE', wording('x'));
    expect(err.message).toContain('output size >= 1');
    expect(err.message).toContain('kernel 3x3');
    thrown(() => ops.conv2d(t([1, 2, 5, 1]), w, { padding: [1, 0] }), RangeError, 'ERR_ADDERNET_SHAPE', wording('x'));
    // padding makes it large enough
    expect(ops.adder2d(t([1, 2, 2, 2]), w, { padding: 1 }).shape).toEqual([1, 3, 2, 2]);
  });

  it('rejects an empty input', () => {
    thrown(() => ops.adder2d(tensor(new Float32Array(0), [0, 2, 5, 5]), w), RangeError, 'ERR_ADDERNET_SHAPE', wording('x', 'shape [0, 2, 5, 5]'));
  });

  it('rejects an empty weight, naming weight', () => {
    // Zero filters or a 0-tall kernel: the argument at fault is the weight.
    thrown(() => ops.adder2d(x, tensor(new Float32Array(0), [0, 2, 3, 3])), RangeError, 'ERR_ADDERNET_SHAPE', /for weight/);
    thrown(() => ops.conv2d(x, tensor(new Float32Array(0), [3, 2, 0, 3])), RangeError, 'ERR_ADDERNET_SHAPE', /for weight/);
  });

  it('rejects storage that does not match the shape (a Tensor whose storage was replaced)', () => {
    // Tensor.storage is readonly only for TypeScript; plain JavaScript can swap it. The binding re-checks.
    const swap = (x: Tensor, storage: unknown): Tensor => Object.defineProperty(x, 'storage', { value: storage });
    const bad = swap(t([1, 2, 5, 5]), new native.Storage(7));
    thrown(() => ops.adder2d(bad, w), RangeError, 'ERR_ADDERNET_SIZE', /Expected 50 elements for x but received 7/);
    const badW = swap(t([3, 2, 3, 3]), new native.Storage(100));
    thrown(() => ops.conv2dBackward(x, badW, gy), RangeError, 'ERR_ADDERNET_SIZE', /Expected 54 elements for weight but received 100/);
    // ...or with something that is not a storage at all.
    const f64 = swap(t([1, 2, 5, 5]), new Float64Array(50));
    thrown(() => ops.adder2d(f64, w), TypeError, 'ERR_ADDERNET_TYPE', /Storage or a Float32Array for x but received Float64Array/);
  });

  it('rejects a bias of the wrong shape or type', () => {
    thrown(() => ops.adder2d(x, w, { bias: t([4]) }), RangeError, 'ERR_ADDERNET_SHAPE', wording('bias', 'shape [4]'));
    thrown(() => ops.conv2d(x, w, { bias: t([3, 1]) }), RangeError, 'ERR_ADDERNET_SHAPE', wording('bias', 'shape [3, 1]'));
    thrown(() => ops.adder2d(x, w, { bias: new Float32Array(3) as unknown as Tensor }), TypeError, 'ERR_ADDERNET_TYPE', wording('bias', 'Float32Array of length 3'));
    thrown(() => ops.adderLinear(t([2, 3]), t([4, 3]), t([3])), RangeError, 'ERR_ADDERNET_SHAPE', wording('bias', 'shape [3]'));
    thrown(() => ops.linear(t([2, 3]), t([4, 3]), 1 as unknown as Tensor), TypeError, 'ERR_ADDERNET_TYPE', wording('bias', '1'));
  });

  it('rejects a gradOut that is not the forward output shape', () => {
    thrown(() => ops.adder2dBackward(x, w, t([1, 3, 3, 4])), RangeError, 'ERR_ADDERNET_SHAPE', wording('gradOut', 'shape [1, 3, 3, 4]'));
    thrown(() => ops.conv2dBackward(x, w, t([1, 3, 3, 3]), { padding: 1 }), RangeError, 'ERR_ADDERNET_SHAPE', wording('gradOut', 'shape [1, 3, 3, 3]'));
    thrown(() => ops.adder2dBackward(x, w, t([2, 3, 3, 3])), RangeError, 'ERR_ADDERNET_SHAPE', wording('gradOut'));
    thrown(() => ops.adderLinearBackward(t([2, 3]), t([4, 3]), t([2, 5])), RangeError, 'ERR_ADDERNET_SHAPE', wording('gradOut'));
    thrown(() => ops.linearBackward(t([2, 3]), t([4, 3]), t([3, 4])), RangeError, 'ERR_ADDERNET_SHAPE', wording('gradOut'));
  });
});

describe('ops: options', () => {
  const cases: Array<[string, unknown, ErrorClass, string, string]> = [
    // [option, value, class, code, received]
    ['stride', 0, RangeError, 'ERR_ADDERNET_OPTION', '0'],
    ['stride', -1, RangeError, 'ERR_ADDERNET_OPTION', '-1'],
    ['stride', [1, 0], RangeError, 'ERR_ADDERNET_OPTION', '[1, 0]'],
    ['stride', NaN, RangeError, 'ERR_ADDERNET_OPTION', 'NaN'],
    ['stride', Infinity, RangeError, 'ERR_ADDERNET_OPTION', 'Infinity'],
    ['stride', 1.5, RangeError, 'ERR_ADDERNET_OPTION', '1.5'],
    ['stride', [2, NaN], RangeError, 'ERR_ADDERNET_OPTION', '[2, NaN]'],
    ['stride', '1', TypeError, 'ERR_ADDERNET_TYPE', '"1"'],
    ['stride', [1], TypeError, 'ERR_ADDERNET_TYPE', '[1]'],
    ['stride', [1, 1, 1], TypeError, 'ERR_ADDERNET_TYPE', '[1, 1, 1]'],
    ['padding', -1, RangeError, 'ERR_ADDERNET_OPTION', '-1'],
    ['padding', [0, -2], RangeError, 'ERR_ADDERNET_OPTION', '[0, -2]'],
    ['padding', NaN, RangeError, 'ERR_ADDERNET_OPTION', 'NaN'],
    ['padding', -Infinity, RangeError, 'ERR_ADDERNET_OPTION', '-Infinity'],
    ['padding', 0.5, RangeError, 'ERR_ADDERNET_OPTION', '0.5'],
    ['padding', null, TypeError, 'ERR_ADDERNET_TYPE', 'null'],
    // Bounded at 2^20: larger values once wrapped native size products (a heap overflow).
    ['stride', 2 ** 33, RangeError, 'ERR_ADDERNET_OPTION', '8589934592'],
    ['stride', 2 ** 20 + 1, RangeError, 'ERR_ADDERNET_OPTION', '1048577'],
    ['padding', [2 ** 31, 2 ** 31 - 1], RangeError, 'ERR_ADDERNET_OPTION', '[2147483648, 2147483647]'],
    ['padding', 1e300, RangeError, 'ERR_ADDERNET_OPTION', '1e+300'],
  ];
  it.each(cases.map(([option, value, cls, code, received]) => ({ option, value, cls, code, received })))(
    '$option = $received',
    ({ option, value, cls, code, received }) => {
      const opts = { [option]: value } as Record<string, unknown>;
      thrown(() => ops.adder2d(x, w, opts), cls, code, wording(option, received));
      thrown(() => ops.conv2d(x, w, opts), cls, code, wording(option, received));
      thrown(() => ops.adder2dBackward(x, w, gy, opts), cls, code, wording(option, received));
      thrown(() => ops.conv2dBackward(x, w, gy, opts), cls, code, wording(option, received));
    },
  );

  it('rejects options that are not an object', () => {
    thrown(() => ops.adder2d(x, w, 5 as unknown as object), TypeError, 'ERR_ADDERNET_TYPE', wording('options', '5'));
    thrown(() => ops.conv2dBackward(x, w, gy, null as unknown as object), TypeError, 'ERR_ADDERNET_TYPE', wording('options', 'null'));
    thrown(() => ops.adderLinearBackward(t([2, 3]), t([4, 3]), t([2, 4]), 'bias' as unknown as object), TypeError, 'ERR_ADDERNET_TYPE', wording('options'));
  });

  it('rejects non-boolean backward flags', () => {
    thrown(() => ops.adder2dBackward(x, w, gy, { bias: 'yes' as unknown as boolean }), TypeError, 'ERR_ADDERNET_TYPE', wording('options.bias', '"yes"'));
    thrown(() => ops.conv2dBackward(x, w, gy, { inputGrad: 0 as unknown as boolean }), TypeError, 'ERR_ADDERNET_TYPE', wording('options.inputGrad', '0'));
    thrown(() => ops.linearBackward(t([2, 3]), t([4, 3]), t([2, 4]), { bias: 1 as unknown as boolean }), TypeError, 'ERR_ADDERNET_TYPE', wording('options.bias', '1'));
  });

  it('rejects a bad eta for adaptiveScale', () => {
    const g = t([4]);
    for (const [eta, received] of [[0, '0'], [-0.2, '-0.2'], [NaN, 'NaN'], [Infinity, 'Infinity']] as const) {
      thrown(() => ops.adaptiveScale(g, eta), RangeError, 'ERR_ADDERNET_OPTION', wording('eta', received));
    }
    thrown(() => ops.adaptiveScale(g, '0.2' as unknown as number), TypeError, 'ERR_ADDERNET_TYPE', wording('eta', '"0.2"'));
  });
});

describe('sizes beyond the limits', () => {
  it('an output above 2^32 elements is refused before it is allocated', () => {
    const one = t([1, 1, 1, 1], [1]);
    thrown(() => ops.adder2d(one, one, { padding: 60000 }), RangeError, 'ERR_ADDERNET_SIZE', wording('the output', 'shape [1, 1, 120001, 120001] (14400240001 elements)'));
    thrown(() => zeros([2 ** 20, 2 ** 20]), RangeError, 'ERR_ADDERNET_SIZE', wording('shape'));
  });

  it('a layer whose scratch exceeds the memory limit fails in its queued kernel: the read rejects, the next call works', async () => {
    const one = t([1, 1, 1, 1], [1]);
    // A 3x3 output, but a padded copy of (2^21 + 1)^2 floats (17.6 TB): the op returns, its kernel refuses.
    const y = ops.adder2d(one, one, { stride: 2 ** 20, padding: 2 ** 20 });
    thrown(() => y.dataSync(), RangeError, 'ERR_ADDERNET_MEMORY', /^addernet: adder2dForward: a layer call needs at least .* scratch memory, more than the limit/);
    await expect(y.data()).rejects.toMatchObject({ name: 'RangeError', code: 'ERR_ADDERNET_MEMORY' });
    // What is computed from a failed tensor fails with the same error, without running.
    const z = F.relu(y);
    thrown(() => z.dataSync(), RangeError, 'ERR_ADDERNET_MEMORY', /adder2dForward/);
    const g = ops.conv2dBackward(one, one, t([1, 1, 3, 3]), { stride: 2 ** 20, padding: 2 ** 20 });
    thrown(() => g.gradWeight.dataSync(), RangeError, 'ERR_ADDERNET_MEMORY', /conv2dBackward/);
    expect(Array.from(ops.adder2d(one, one, { stride: 2, padding: 1 }).dataSync())).toEqual([-1, -1, -1, -1]);
  });

  it('a received value nested 100,000 deep is described shallowly (no stack overflow)', () => {
    let deep: unknown = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    thrown(() => tensor(new Float32Array(1), deep as number[]), RangeError, 'ERR_ADDERNET_SHAPE', /but received \[\[\[\[an array of length 1\]\]\]\]/);
  });

  it('a module backward without a training forward is a coded state error', async () => {
    const { nn } = await import('../lib/index');
    const layer = new nn.ReLU();
    thrown(() => layer.backward(t([1, 1, 2, 2])), Error, 'ERR_ADDERNET_STATE', /without a forward/);
  });
});

describe('backend settings', () => {
  it('setNumThreads rejects 0, negative, NaN, Infinity, fractions and non-numbers', () => {
    for (const [n, received] of [[0, '0'], [-2, '-2'], [NaN, 'NaN'], [Infinity, 'Infinity'], [1.5, '1.5']] as const) {
      thrown(() => setNumThreads(n), RangeError, 'ERR_ADDERNET_OPTION', wording('n', received));
    }
    thrown(() => setNumThreads('2' as unknown as number), TypeError, 'ERR_ADDERNET_TYPE', wording('n', '"2"'));
    expect(backendInfo().threads).toBe(initial.threads);
  });

  it('setNumThreads rejects a thread count above the native limit as an option error', () => {
    // errors.ts: ERR_ADDERNET_OPTION covers "threads"; the binding caps it at 1024.
    thrown(() => setNumThreads(100_000), RangeError, 'ERR_ADDERNET_OPTION', /threads|for n/);
    expect(backendInfo().threads).toBe(initial.threads);
  });

  it('setIsa rejects unknown names', () => {
    const err = thrown(() => setIsa('bogus' as 'scalar'), RangeError, 'ERR_ADDERNET_ISA', wording('isa', '"bogus"'));
    for (const isa of supportedIsas()) expect(err.message).toContain(isa);
    thrown(() => setIsa('' as 'scalar'), RangeError, 'ERR_ADDERNET_ISA', wording('isa', '""'));
    thrown(() => setIsa(2 as unknown as 'scalar'), RangeError, 'ERR_ADDERNET_ISA', wording('isa', '2'));
    expect(backendInfo().isa).toBe(initial.isa);
  });
});

// ---------------------------------------------------------------------------
// The raw binding

describe('raw native binding', () => {
  const S = [1, 2, 5, 5, 3, 3, 3, 1, 1, 0, 0]; // n c h w t kh kw sh sw ph pw -> out 1x3x3x3
  const xs = 50, ws = 54, ys = 27;
  const f = (n: number) => new Float32Array(n);
  const anyCode = /^ERR_ADDERNET_/;

  function rawThrows(fn: () => unknown, cls: ErrorClass, code: string | RegExp, message?: RegExp): void {
    let error: unknown;
    try {
      fn();
    } catch (e) {
      error = e;
    }
    expect(error, 'expected a throw').toBeInstanceOf(Error);
    const err = error as Error & { code?: string };
    expect(err).toBeInstanceOf(cls);
    if (typeof code === 'string') expect(err.code, err.message).toBe(code);
    else expect(err.code, err.message).toMatch(code);
    if (message) expect(err.message).toMatch(message);
  }

  it('rejects buffers that are too short or too long', () => {
    for (const fwd of [native.adder2dForward, native.conv2dForward]) {
      rawThrows(() => fwd(f(xs - 1), f(ws), null, f(ys), S), RangeError, 'ERR_ADDERNET_SIZE', /for x/);
      rawThrows(() => fwd(f(xs), f(ws - 1), null, f(ys), S), RangeError, 'ERR_ADDERNET_SIZE', /for weight/);
      rawThrows(() => fwd(f(xs), f(ws), f(2), f(ys), S), RangeError, 'ERR_ADDERNET_SIZE', /for bias/);
      rawThrows(() => fwd(f(xs), f(ws), null, f(ys - 1), S), RangeError, 'ERR_ADDERNET_SIZE', /for out/);
      rawThrows(() => fwd(f(xs), f(ws), null, f(ys + 1), S), RangeError, 'ERR_ADDERNET_SIZE', /for out/);
      rawThrows(() => fwd(f(0), f(0), null, f(0), S), RangeError, 'ERR_ADDERNET_SIZE');
    }
    for (const bwd of [native.adder2dBackward, native.conv2dBackward]) {
      rawThrows(() => bwd(f(xs), f(ws), f(ys - 1), f(xs), f(ws), f(3), S), RangeError, 'ERR_ADDERNET_SIZE', /for gradOut/);
      rawThrows(() => bwd(f(xs), f(ws), f(ys), f(xs - 1), f(ws), f(3), S), RangeError, 'ERR_ADDERNET_SIZE', /for gradInput/);
      rawThrows(() => bwd(f(xs), f(ws), f(ys), f(xs), f(ws - 1), f(3), S), RangeError, 'ERR_ADDERNET_SIZE', /for gradWeight/);
      rawThrows(() => bwd(f(xs), f(ws), f(ys), f(xs), f(ws), f(2), S), RangeError, 'ERR_ADDERNET_SIZE', /for gradBias/);
    }
    rawThrows(() => native.adaptiveScale(f(3), f(2), 0.2), RangeError, 'ERR_ADDERNET_SIZE', /for out/);
  });

  it('rejects typed arrays of the wrong type and non-arrays', () => {
    const wrong: unknown[] = [new Float64Array(xs), new Int32Array(xs), new Uint8Array(xs * 4), Array(xs).fill(0), new DataView(new ArrayBuffer(xs * 4)), 'x', 1, {}];
    for (const bad of wrong) {
      const b = bad as Float32Array;
      rawThrows(() => native.adder2dForward(b, f(ws), null, f(ys), S), TypeError, 'ERR_ADDERNET_TYPE', /Float32Array for x/);
      rawThrows(() => native.conv2dForward(f(xs), f(ws), null, b, S), TypeError, 'ERR_ADDERNET_TYPE', /Float32Array for out/);
      rawThrows(() => native.adder2dBackward(f(xs), f(ws), f(ys), b, null, null, S), TypeError, 'ERR_ADDERNET_TYPE', /Float32Array for gradInput/);
      rawThrows(() => native.adaptiveScale(b, f(xs), 0.2), TypeError, 'ERR_ADDERNET_TYPE', /for grad/);
    }
    rawThrows(() => native.adder2dForward(f(xs), f(ws), [1, 2, 3] as unknown as Float32Array, f(ys), S), TypeError, 'ERR_ADDERNET_TYPE', /for bias/);
  });

  it('rejects bad dims arrays', () => {
    const call = (dims: unknown, cls: ErrorClass, code: string | RegExp) =>
      rawThrows(() => native.adder2dForward(f(1), f(1), null, f(1), dims as number[]), cls, code, /dims|geometry/);
    const one = [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0];
    const with_ = (i: number, v: unknown) => one.map((d, k) => (k === i ? v : d));
    call(undefined, TypeError, 'ERR_ADDERNET_TYPE');
    call({ length: 11 }, TypeError, 'ERR_ADDERNET_TYPE');
    call(new Float64Array(one), TypeError, 'ERR_ADDERNET_TYPE');
    call(one.slice(0, 10), RangeError, anyCode);
    call([...one, 0], RangeError, anyCode);
    call(with_(3, NaN), TypeError, 'ERR_ADDERNET_TYPE');
    call(with_(3, Infinity), TypeError, 'ERR_ADDERNET_TYPE');
    call(with_(3, 1.5), TypeError, 'ERR_ADDERNET_TYPE');
    call(with_(3, '1'), TypeError, 'ERR_ADDERNET_TYPE');
    call(with_(3, null), TypeError, 'ERR_ADDERNET_TYPE');
    call(with_(0, 0), RangeError, 'ERR_ADDERNET_SHAPE'); // n = 0
    call(with_(4, -1), RangeError, 'ERR_ADDERNET_SHAPE'); // t < 0
    call(with_(7, 0), RangeError, 'ERR_ADDERNET_SHAPE'); // stride 0
    call(with_(8, -2), RangeError, 'ERR_ADDERNET_SHAPE'); // stride < 0
    call(with_(9, -1), RangeError, 'ERR_ADDERNET_SHAPE'); // padding < 0
    call(with_(5, 2), RangeError, 'ERR_ADDERNET_SHAPE'); // kernel larger than input: output < 1
    call(with_(0, 2 ** 53), Error, anyCode); // beyond the integers a double holds exactly
    call(with_(0, 2 ** 41), RangeError, 'ERR_ADDERNET_SHAPE');
    call([1e5, 1e5, 1e5, 1e5, 1, 1, 1, 1, 1, 0, 0], RangeError, 'ERR_ADDERNET_SHAPE'); // element count overflows
    call([1, 1, 1, 1, 1, 1, 1, 1, 1, 2 ** 39, 2 ** 39], RangeError, anyCode); // padding blows up the output
  });

  it('rejects bad scalar arguments', () => {
    rawThrows(() => native.adaptiveScale(f(2), f(2), NaN), RangeError, anyCode, /eta/);
    rawThrows(() => native.adaptiveScale(f(2), f(2), '1' as unknown as number), TypeError, 'ERR_ADDERNET_TYPE', /eta/);
    rawThrows(() => native.setNumThreads(0), RangeError, anyCode);
    rawThrows(() => native.setNumThreads(NaN), RangeError, anyCode);
    rawThrows(() => native.setNumThreads(1.5), RangeError, anyCode);
    rawThrows(() => native.setNumThreads(undefined as unknown as number), TypeError, 'ERR_ADDERNET_TYPE');
    rawThrows(() => native.setIsa('bogus'), Error, 'ERR_ADDERNET_ISA', /bogus/);
    rawThrows(() => native.setIsa(1 as unknown as string), TypeError, 'ERR_ADDERNET_TYPE');
    expect(backendInfo()).toMatchObject({ isa: initial.isa, threads: initial.threads });
  });

  it('rejects a detached buffer', () => {
    const buf = new ArrayBuffer(xs * 4);
    const detached = new Float32Array(buf);
    structuredClone(buf, { transfer: [buf] });
    expect(detached.length).toBe(0);
    rawThrows(() => native.adder2dForward(detached, f(ws), null, f(ys), S), RangeError, 'ERR_ADDERNET_SIZE', /for x/);
  });

  // Outputs are views into one larger buffer; everything around them is a
  // guard that must keep its sentinel value after every call.
  const SENTINEL = -12345.5;
  const GUARD = 67; // floats before, between and after the views (odd, so views are not 64-byte aligned)

  function guarded(sizes: number[]): { views: Float32Array[]; all: Float32Array; guardsIntact(): boolean; untouched(i: number): boolean } {
    const total = sizes.reduce((a, s) => a + s + GUARD, GUARD);
    const all = new Float32Array(total).fill(SENTINEL);
    const views: Float32Array[] = [];
    const spans: Array<[number, number]> = [];
    let at = GUARD;
    for (const s of sizes) {
      views.push(new Float32Array(all.buffer, at * 4, s));
      spans.push([at, at + s]);
      at += s + GUARD;
    }
    return {
      views,
      all,
      guardsIntact: () => all.every((v, i) => spans.some(([a, b]) => i >= a && i < b) || v === SENTINEL),
      untouched: (k: number) => views[k].every((v) => v === SENTINEL),
    };
  }

  it('throws before writing anything when one buffer of several is too short', () => {
    const g = guarded([xs - 1, ws, 3]);
    rawThrows(() => native.adder2dBackward(f(xs), f(ws), f(ys), g.views[0], g.views[1], g.views[2], S), RangeError, 'ERR_ADDERNET_SIZE', /gradInput/);
    expect(g.all.every((v) => v === SENTINEL)).toBe(true);
    const g2 = guarded([ys - 1]);
    rawThrows(() => native.adder2dForward(f(xs), f(ws), null, g2.views[0], S), RangeError, 'ERR_ADDERNET_SIZE', /out/);
    expect(g2.all.every((v) => v === SENTINEL)).toBe(true);
  });

  // [n, c, h, w, t, kh, kw, sh, sw, ph, pw]: tile-edge sizes for every ISA.
  const shapes = [
    [1, 3, 7, 5, 5, 3, 3, 1, 1, 1, 1],
    [2, 17, 4, 9, 9, 1, 1, 1, 1, 0, 0],
    [3, 2, 6, 6, 7, 2, 2, 2, 2, 0, 0],
    [1, 5, 11, 3, 33, 3, 2, 2, 1, 2, 0],
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0],
  ];

  it.each(supportedIsas())('never writes outside its output views on the %s path (odd offsets, 1 and 2 threads)', (isa) => {
    setIsa(isa);
    for (const threads of [1, 2]) {
      setNumThreads(threads);
      for (const d of shapes) {
        const [n, c, h, wd, tt, kh, kw, sh, sw, ph, pw] = d;
        const ho = Math.floor((h + 2 * ph - kh) / sh) + 1;
        const wo = Math.floor((wd + 2 * pw - kw) / sw) + 1;
        const [nx, nw, ny] = [n * c * h * wd, tt * c * kh * kw, n * tt * ho * wo];
        const rng = mulberry32(nx + nw);
        // Inputs also sit at odd offsets inside larger buffers.
        const inputs = guarded([nx, nw, tt, ny]);
        inputs.views.forEach((v) => v.set(randomArray(rng, v.length)));
        const [xv, wv, bv, gv] = inputs.views;
        const before = inputs.all.slice();
        for (const fwd of [native.adder2dForward, native.conv2dForward]) {
          const out = guarded([ny]);
          fwd(xv, wv, bv, out.views[0], d);
          expect(out.guardsIntact(), `${isa} x${threads} forward ${d}`).toBe(true);
          expect(out.untouched(0)).toBe(false);
          expect(out.views[0].every(Number.isFinite)).toBe(true);
          // same result as fresh, aligned copies through the public API
          const ref = (fwd === native.adder2dForward ? ops.adder2d : ops.conv2d)(
            tensor(xv.slice(), [n, c, h, wd]), tensor(wv.slice(), [tt, c, kh, kw]),
            { stride: [sh, sw], padding: [ph, pw], bias: tensor(bv.slice(), [tt]) },
          );
          expect(out.views[0]).toEqual(ref.dataSync());
        }
        for (const bwd of [native.adder2dBackward, native.conv2dBackward]) {
          const out = guarded([nx, nw, tt]);
          bwd(xv, wv, gv, out.views[0], out.views[1], out.views[2], d);
          expect(out.guardsIntact(), `${isa} x${threads} backward ${d}`).toBe(true);
          expect(out.views.every((v) => v.every(Number.isFinite))).toBe(true);
          // Only some of the gradients requested: the others stay untouched.
          const part = guarded([nx, nw, tt]);
          bwd(xv, wv, gv, null, part.views[1], null, d);
          expect(part.guardsIntact()).toBe(true);
          expect(part.untouched(0) && part.untouched(2)).toBe(true);
          expect(part.views[1]).toEqual(out.views[1]);
        }
        // The inputs themselves are never written.
        expect(inputs.all).toEqual(before);
      }
    }
    setNumThreads(initial.threads);
    setIsa(initial.isa);
  });

  it('adaptiveScale writes exactly its output view (and may run in place)', () => {
    const g = guarded([37, 37]);
    g.views[0].set(randomArray(mulberry32(1), 37));
    native.adaptiveScale(g.views[0], g.views[1], 0.2);
    expect(g.guardsIntact()).toBe(true);
    const copy = g.views[1].slice();
    native.adaptiveScale(g.views[0], g.views[0], 0.2);
    expect(g.views[0]).toEqual(copy);
    expect(g.guardsIntact()).toBe(true);
  });
});
