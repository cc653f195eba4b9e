// Training operations against the independent float64 references of
// ./reference.ts, gradients against finite differences of those float64
// forwards, and the argument errors. The op suites run on every test device
// (./devices.ts); the argument errors and the raw binding on the CPU.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendInfo, setIsa, setNumThreads, supportedIsas } from '../lib/backend';
import { native } from '../lib/native';
import { Tensor, tensor, zeros } from '../lib/tensor';
import {
  add, avgPool2d, avgPool2dBackward, batchNorm, batchNormBackward, globalAvgPool, globalAvgPoolBackward,
  adamUpdate, adder2dU8, maxPool2d, maxPool2dBackward, relu, reluBackward, sgdUpdate, softmaxCrossEntropy,
  MAX_U8_REDUCTION, type AdamUpdateOptions,
} from '../lib/ops/index';
import { describeEachDevice, onDevice, type TestDevice } from './devices';
import { sameBits } from './nn-helpers';
import {
  adamRefState, adamStepRef, adder2dU8Ref, batchNormRef, crossEntropyRef, dot, mulberry32, poolRef, sgdStepRef, sizeOf,
} from './reference';

// ---- Helpers ----------------------------------------------------------------

const random = mulberry32(20260426);

function uniform(n: number, lo = -1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * random();
  return a;
}
const randTensor = (shape: number[], lo = -1, hi = 1): Tensor => new Tensor(uniform(sizeOf(shape), lo, hi), shape);

/** lib's tensor and zeros, and randTensor, placing what they make on `device` (shadowing the CPU ones in a suite body). */
function on(device: TestDevice) {
  const f = onDevice(device);
  return { ...f, randTensor: (shape: number[], lo = -1, hi = 1): Tensor => f.tensor(uniform(sizeOf(shape), lo, hi), shape) };
}

/** |got - want| <= atol + rtol * |want| everywhere; reports the first miss. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol = 0, what = ''): void {
  expect(got.length, `${what} length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= atol + rtol * Math.abs(want[i]))) {
      expect.fail(`${what}[${i}]: got ${got[i]}, want ${want[i]} (|diff| ${d})`);
    }
  }
}

/** Central differences of f with respect to every element of v (changed in place, then restored). */
function numericGrad(f: () => number, v: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const keep = v[i];
    v[i] = keep + h;
    const up = f();
    v[i] = keep - h;
    const down = f();
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

function expectError(fn: () => unknown, Ctor: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor, code: string, message?: string | RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, 'an error').toBeInstanceOf(Ctor);
  expect((caught as { code?: string }).code).toBe(code);
  if (typeof message === 'string') expect((caught as Error).message).toBe(message);
  else if (message) expect((caught as Error).message).toMatch(message);
}

// ---- Tests ----------------------------------------------------------------------

let threadsBefore = 1;
beforeAll(() => {
  threadsBefore = backendInfo().threads;
});
afterAll(() => setNumThreads(threadsBefore));

describeEachDevice('batchNorm', (device) => {
  const { tensor, randTensor } = on(device);

  for (const shape of [[4, 3, 5, 6], [16, 7], [2, 16, 32, 32], [1, 2, 3, 1]]) {
    it(`matches PyTorch semantics in training and eval for ${JSON.stringify(shape)}`, () => {
      const c = shape[1];
      const x = randTensor(shape, 1, 4); // mean far from 0: tests the variance's accuracy
      const weight = randTensor([c], 0.5, 1.5);
      const bias = randTensor([c]);
      const rm = randTensor([c]);
      const rv = randTensor([c], 0.5, 2);
      const rmRef = Float64Array.from(rm.dataSync());
      const rvRef = Float64Array.from(rv.dataSync());
      for (let step = 0; step < 3; step++) {
        const want = batchNormRef(x.dataSync(), shape, weight.dataSync(), bias.dataSync(), rmRef, rvRef, true);
        const got = batchNorm(x, weight, bias, rm, rv, { training: true });
        expect(got.y.shape).toEqual(shape);
        expect([got.y.device, got.saveMean.device, got.saveInvStd.device, rm.device]).toEqual([device, device, device, device]);
        expectClose(got.y.dataSync(), want.y, 2e-5, 1e-5, 'y');
        expectClose(got.saveMean.dataSync(), want.mean, 1e-6, 1e-6, 'saveMean');
        expectClose(got.saveInvStd.dataSync(), want.invstd, 1e-6, 1e-5, 'saveInvStd');
        expectClose(rm.dataSync(), rmRef, 1e-6, 1e-6, 'runningMean');
        expectClose(rv.dataSync(), rvRef, 1e-6, 1e-6, 'runningVar');
      }
      const rmBefore = rm.dataSync().slice();
      const rvBefore = rv.dataSync().slice();
      const want = batchNormRef(x.dataSync(), shape, weight.dataSync(), bias.dataSync(), rmRef, rvRef, false);
      const got = batchNorm(x, weight, bias, rm, rv, { training: false });
      expectClose(got.y.dataSync(), want.y, 2e-5, 1e-5, 'eval y');
      expect(rm.dataSync()).toEqual(rmBefore);
      expect(rv.dataSync()).toEqual(rvBefore);
    });
  }

  it('honours momentum and eps', () => {
    const shape = [3, 2, 2, 2];
    const x = randTensor(shape);
    const w = randTensor([2]);
    const b = randTensor([2]);
    const rm = tensor(new Float32Array(2), [2]);
    const rv = tensor(new Float32Array([1, 1]), [2]);
    const rmRef = new Float64Array(2);
    const rvRef = new Float64Array([1, 1]);
    const want = batchNormRef(x.dataSync(), shape, w.dataSync(), b.dataSync(), rmRef, rvRef, true, 0.7, 0.5);
    const got = batchNorm(x, w, b, rm, rv, { training: true, momentum: 0.7, eps: 0.5 });
    expectClose(got.y.dataSync(), want.y, 1e-5, 1e-5, 'y');
    expectClose(rv.dataSync(), rvRef, 1e-6, 1e-6, 'runningVar');
  });

  for (const shape of [[3, 2, 2, 3], [5, 3]]) {
    it(`backward matches finite differences for ${JSON.stringify(shape)}`, () => {
      const c = shape[1];
      const x = randTensor(shape, -2, 2);
      const weight = randTensor([c], 0.5, 1.5);
      const bias = randTensor([c]);
      const r = uniform(sizeOf(shape)); // loss = sum(y * r), so gradOut = r
      const fwd = batchNorm(x, weight, bias, randTensor([c]), randTensor([c], 0.5, 1), { training: true });
      const g = batchNormBackward(x, weight, tensor(r, shape), fwd.saveMean, fwd.saveInvStd);
      const x64 = Float64Array.from(x.dataSync());
      const w64 = Float64Array.from(weight.dataSync());
      const b64 = Float64Array.from(bias.dataSync());
      const loss = (): number =>
        dot(batchNormRef(x64, shape, w64, b64, new Float64Array(c), new Float64Array(c), true).y, r);
      expectClose(g.gradInput.dataSync(), numericGrad(loss, x64), 1e-4, 1e-3, 'gradInput');
      expectClose(g.gradWeight.dataSync(), numericGrad(loss, w64), 1e-4, 1e-3, 'gradWeight');
      expectClose(g.gradBias.dataSync(), numericGrad(loss, b64), 1e-4, 1e-3, 'gradBias');
      expect(g.gradInput.shape).toEqual(shape);
      expect(g.gradWeight.shape).toEqual([c]);
    });
  }

  // Thread counts are the CPU kernel pool's (setNumThreads).
  if (device === 'cpu') {
    it('gives bitwise the same results for any thread count', () => {
      const shape = [8, 16, 16, 16];
      const x = randTensor(shape);
      const gy = randTensor(shape);
      const p = [randTensor([16]), randTensor([16])] as const;
      const run = (threads: number): Float32Array[] => {
        setNumThreads(threads);
        const f = batchNorm(x, p[0], p[1], randTensor([16]), randTensor([16], 0.5, 1), { training: true });
        const g = batchNormBackward(x, p[0], gy, f.saveMean, f.saveInvStd);
        return [f.y.dataSync(), f.saveInvStd.dataSync(), g.gradInput.dataSync(), g.gradWeight.dataSync()];
      };
      const one = run(1);
      const three = run(3);
      for (let i = 0; i < one.length; i++) expect(Buffer.from(three[i].buffer).equals(Buffer.from(one[i].buffer))).toBe(true);
      setNumThreads(threadsBefore);
    });
  }
});

describeEachDevice('relu and add', (device) => {
  const { tensor, randTensor } = on(device);

  it('match direct loops', () => {
    const x = randTensor([3, 4, 5, 7]);
    const y = relu(x);
    expect(y.device).toBe(device);
    expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync(), (v) => Math.max(v, 0)));
    const b = randTensor([3, 4, 5, 7]);
    expect(Array.from(add(x, b).dataSync())).toEqual(Array.from(x.dataSync(), (v, i) => Math.fround(v + b.dataSync()[i])));
    expect(relu(tensor(new Float32Array([NaN, -1, 2]), [3])).dataSync()[0]).toBeNaN();
    // The threaded path: enough elements to split across the pool.
    const big = randTensor([200_000]);
    expect(Array.from(relu(big).dataSync())).toEqual(Array.from(big.dataSync(), (v) => Math.max(v, 0)));
  });

  it('relu backward matches finite differences', () => {
    // Stay away from the kink at 0.
    const x = tensor(Float32Array.from(uniform(60), (v) => (v < 0 ? v - 0.1 : v + 0.1)), [3, 20]);
    const r = uniform(60);
    const g = reluBackward(relu(x), tensor(r, [3, 20]));
    const x64 = Float64Array.from(x.dataSync());
    const fd = numericGrad(() => dot(Array.from(x64, (v) => Math.max(v, 0)), r), x64);
    expectClose(g.dataSync(), fd, 1e-6, 1e-6, 'gradInput');
  });

  it('write into opts.out, which may be an input (in place)', () => {
    const a = randTensor([5, 7, 3]);
    const b = randTensor([5, 7, 3]);
    const want = add(a, b).dataSync();
    const out = tensor(new Float32Array(105), [5, 7, 3]);
    expect(add(a, b, { out })).toBe(out);
    expect(out.dataSync()).toEqual(want);
    const a2 = tensor(a.dataSync(), [5, 7, 3]);
    expect(add(a2, b, { out: a2 })).toBe(a2);
    expect(a2.dataSync()).toEqual(want);

    const y = relu(a);
    const g = randTensor([5, 7, 3]);
    const wantGrad = reluBackward(y, g).dataSync();
    expect(reluBackward(y, g, { out: g })).toBe(g);
    expect(g.dataSync()).toEqual(wantGrad);
    expect(Array.from(wantGrad).some((v) => v === 0) && Array.from(wantGrad).some((v) => v !== 0)).toBe(true);
  });
});

describeEachDevice('pooling', (device) => {
  const { tensor, randTensor } = on(device);

  const cases: { shape: number[]; k: [number, number]; s?: [number, number]; p?: [number, number] }[] = [
    { shape: [2, 3, 8, 8], k: [2, 2] },
    { shape: [2, 2, 7, 9], k: [3, 3], s: [2, 2], p: [1, 1] },
    { shape: [1, 3, 6, 5], k: [3, 2], s: [1, 3], p: [1, 1] },
    { shape: [2, 1, 5, 5], k: [2, 2], s: [3, 3], p: [1, 0] },
    { shape: [4, 16, 32, 32], k: [3, 3], s: [2, 2], p: [1, 1] },
  ];
  for (const { shape, k, s = k, p = [0, 0] as [number, number] } of cases) {
    const name = `${JSON.stringify(shape)} kernel ${k} stride ${s} padding ${p}`;
    const opts = { kernelSize: k, stride: s, padding: p };

    it(`max pool forward and backward: ${name}`, () => {
      const x = randTensor(shape, -3, 3);
      const want = poolRef('max', x.dataSync(), shape, k, s, p);
      const got = maxPool2d(x, opts);
      expect(got.y.shape).toEqual(want.outShape);
      expect([got.y.device, got.argmax.device]).toEqual([device, device]);
      expect(Array.from(got.y.dataSync())).toEqual(Array.from(want.y));
      expect(Array.from(got.argmax.dataSync())).toEqual(Array.from(want.argmax));
      if (sizeOf(shape) > 5000) return; // finite differences on the small cases only
      const r = uniform(want.y.length);
      const gx = maxPool2dBackward(tensor(r, want.outShape), got.argmax, shape);
      expect(gx.device).toBe(device);
      const x64 = Float64Array.from(x.dataSync());
      const fd = numericGrad(() => dot(poolRef('max', x64, shape, k, s, p).y, r), x64);
      expectClose(gx.dataSync(), fd, 1e-6, 1e-6, 'max pool gradInput');
    });

    it(`avg pool forward and backward: ${name}`, () => {
      const x = randTensor(shape, -3, 3);
      const want = poolRef('avg', x.dataSync(), shape, k, s, p);
      const got = avgPool2d(x, opts);
      expect(got.shape).toEqual(want.outShape);
      expectClose(got.dataSync(), want.y, 1e-6, 1e-6, 'avg pool y');
      const r = uniform(want.y.length);
      const gx = avgPool2dBackward(tensor(r, want.outShape), shape, opts);
      if (sizeOf(shape) > 5000) return;
      const x64 = Float64Array.from(x.dataSync());
      const fd = numericGrad(() => dot(poolRef('avg', x64, shape, k, s, p).y, r), x64);
      expectClose(gx.dataSync(), fd, 1e-6, 1e-5, 'avg pool gradInput');
    });
  }

  it('max pool takes the first of tied maxima and defaults stride to the kernel', async () => {
    const x = tensor(new Float32Array([1, 5, 5, 2, 0, 5, 3, 3, 7, 7, 7, 7, 1, 1, 1, 1]), [1, 1, 4, 4]);
    const { y, argmax } = maxPool2d(x, { kernelSize: 2 });
    expect(Array.from(y.dataSync())).toEqual([5, 5, 7, 7]);
    expect(argmax.dtype).toBe('int32');
    expect(argmax.shape).toEqual([1, 1, 2, 2]);
    expect(Array.from(await argmax.data())).toEqual([1, 2, 8, 10]);
    const gx = maxPool2dBackward(tensor(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]), argmax, [1, 1, 4, 4]);
    expect(Array.from(gx.dataSync())).toEqual([0, 1, 2, 0, 0, 0, 0, 0, 3, 0, 4, 0, 0, 0, 0, 0]);
  });

  it('max pool gradient accumulates where overlapping windows share a maximum', () => {
    const x = tensor(new Float32Array([0, 0, 0, 0, 9, 0, 0, 0, 0]), [1, 1, 3, 3]);
    const { argmax } = maxPool2d(x, { kernelSize: 2, stride: 1 });
    expect(Array.from(argmax.dataSync())).toEqual([4, 4, 4, 4]);
    const gx = maxPool2dBackward(tensor(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]), argmax, [1, 1, 3, 3]);
    expect(gx.dataSync()[4]).toBe(10);
  });

  it('global average pool is the mean over H and W', () => {
    const shape = [3, 5, 8, 8];
    const x = randTensor(shape);
    const y = globalAvgPool(x);
    expect(y.shape).toEqual([3, 5]);
    const want = new Float64Array(15);
    for (let i = 0; i < 15; i++) for (let q = 0; q < 64; q++) want[i] += x.dataSync()[i * 64 + q] / 64;
    expectClose(y.dataSync(), want, 1e-6, 1e-6, 'global pool');
    const gy = randTensor([3, 5]);
    const gx = globalAvgPoolBackward(gy, shape);
    expect(gx.shape).toEqual(shape);
    expectClose(gx.dataSync(), Array.from(gx.dataSync(), (_, i) => gy.dataSync()[Math.floor(i / 64)] / 64), 1e-7, 1e-6, 'global pool gradient');
  });
});

describeEachDevice('softmaxCrossEntropy', (device) => {
  const { tensor, randTensor } = on(device);

  for (const [n, k] of [[1, 1], [7, 3], [256, 10], [3000, 20]]) {
    it(`matches the float64 loss, accuracy and gradient for N=${n} K=${k}`, () => {
      const logits = randTensor([n, k], -4, 4);
      const labels = Int32Array.from({ length: n }, () => Math.floor(random() * k));
      const want = crossEntropyRef(logits.dataSync(), labels, n, k);
      const got = softmaxCrossEntropy(logits, labels);
      expect(got.loss).toBeCloseTo(want.loss, 9);
      expect(got.correct).toBe(want.correct);
      expect(got.gradLogits?.shape).toEqual([n, k]);
      expect(got.gradLogits?.device).toBe(device);
      expectClose(got.gradLogits!.dataSync(), want.grad, 1e-8, 1e-6, 'gradLogits');
      const noGrad = softmaxCrossEntropy(logits, labels, { grad: false });
      expect(noGrad).toEqual({ loss: got.loss, correct: got.correct });
    });
  }

  it('gradient matches finite differences', () => {
    const logits = randTensor([4, 5], -3, 3);
    const labels = new Int32Array([0, 4, 2, 2]);
    const z = Float64Array.from(logits.dataSync());
    const fd = numericGrad(() => crossEntropyRef(z, labels, 4, 5).loss, z);
    expectClose(softmaxCrossEntropy(logits, labels).gradLogits!.dataSync(), fd, 1e-7, 1e-4, 'gradLogits');
  });

  it('stays finite for huge logits and counts the first maximum on ties', () => {
    const logits = tensor(new Float32Array([1e4, -1e4, 3e4, 3e4]), [2, 2]);
    const got = softmaxCrossEntropy(logits, new Int32Array([1, 1]));
    expect(got.loss).toBeCloseTo(1e4 + Math.log(2) / 2, 6);
    expect(got.correct).toBe(0);
    expect(Array.from(got.gradLogits!.dataSync())).toEqual([0.5, -0.5, 0.25, -0.25]);
  });
});

describeEachDevice('sgdUpdate and adamUpdate', (device) => {
  const { tensor, zeros } = on(device);

  const variants = [
    { lr: 0.1, momentum: 0, weightDecay: 0, nesterov: false },
    { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: false },
    { lr: 0.05, momentum: 0.9, weightDecay: 5e-4, nesterov: true },
    { lr: 0.2, momentum: 0.5, dampening: 0.3, weightDecay: 0, nesterov: false },
  ];
  for (const v of variants) {
    it(`follows torch.optim.SGD over several steps: ${JSON.stringify(v)}`, () => {
      const n = 70_001; // large enough for the threaded path
      const param = tensor(uniform(n), [n]);
      const buf = zeros([n]);
      const p64 = Float64Array.from(param.dataSync());
      const b64 = new Float64Array(n);
      for (let step = 0; step < 5; step++) {
        const grad = uniform(n);
        sgdUpdate(param, tensor(grad, [n]), buf, { ...v, firstStep: step === 0 });
        sgdStepRef(p64, b64, grad, { ...v, firstStep: step === 0 });
      }
      expect([param.device, buf.device]).toEqual([device, device]);
      expectClose(param.dataSync(), p64, 1e-6, 1e-5, 'param');
      if (v.momentum !== 0) expectClose(buf.dataSync(), b64, 1e-6, 1e-5, 'momentum buffer');
    });
  }

  it('needs no momentum buffer without momentum', () => {
    const param = tensor(new Float32Array([1, 2]), [2]);
    sgdUpdate(param, tensor(new Float32Array([1, 1]), [2]), null, {
      lr: 0.5, momentum: 0, weightDecay: 0, nesterov: false, firstStep: true,
    });
    expect(Array.from(param.dataSync())).toEqual([0.5, 1.5]);
  });

  const adamVariants: Omit<AdamUpdateOptions, 'step' | 'maxExpAvgSq'>[] = [
    { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0 },
    { lr: 1e-2, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 },
    { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, decoupled: true },
    { lr: 3e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.05, amsgrad: true },
    { lr: 1e-2, betas: [0.5, 0.9], eps: 1e-3, weightDecay: 0.2, decoupled: true, amsgrad: true },
    { lr: 1e-2, betas: [0, 0.999], eps: 1e-8, weightDecay: 0 },
  ];
  for (const v of adamVariants) {
    it(`adamUpdate follows torch.optim.Adam / AdamW over several steps: ${JSON.stringify(v)}`, () => {
      const n = 70_001; // large enough for the threaded path
      const param = tensor(uniform(n), [n]);
      const [m, s, smax] = [zeros([n]), zeros([n]), zeros([n])];
      const p64 = Float64Array.from(param.dataSync());
      const state = adamRefState(n);
      for (let step = 1; step <= 5; step++) {
        const g = uniform(n, -2, 2).map((x) => x * 10 ** (step - 3)); // magnitudes that change per step
        const grad = tensor(g, [n]);
        adamUpdate(param, grad, m, s, { ...v, step, maxExpAvgSq: v.amsgrad ? smax : undefined });
        adamStepRef(p64, state, g, { ...v, step });
        expect(sameBits(grad.dataSync(), g), 'grad is only read').toBe(true);
      }
      expect([param.device, m.device, s.device]).toEqual([device, device, device]);
      expectClose(param.dataSync(), p64, 1e-6, 1e-5, 'param');
      expectClose(m.dataSync(), state.expAvg, 1e-6, 1e-5, 'expAvg');
      expectClose(s.dataSync(), state.expAvgSq, 1e-9, 1e-5, 'expAvgSq');
      if (v.amsgrad) expectClose(smax.dataSync(), state.maxExpAvgSq, 1e-9, 1e-5, 'maxExpAvgSq');
      else expect(smax.dataSync().every((x) => x === 0), 'maxExpAvgSq untouched without amsgrad').toBe(true);
    });
  }

  it('adamUpdate: the first step moves each weight by lr * g / (|g| + eps) (bias correction), AdamW shrinks it first', () => {
    const g = tensor(new Float32Array([0.5, -2, 1e-3, 0]), [4]);
    const base = { lr: 0.1, betas: [0.9, 0.999] as const, eps: 1e-8, step: 1 };
    const p = tensor(new Float32Array([1, 1, 1, 1]), [4]);
    adamUpdate(p, g, zeros([4]), zeros([4]), { ...base, weightDecay: 0 });
    expectClose(p.dataSync(), [0.9, 1.1, 1 - 0.1 * 1e-3 / (1e-3 + 1e-8), 1], 1e-7, 0, 'adam');
    const q = tensor(new Float32Array([1, 1, 1, 1]), [4]);
    adamUpdate(q, g, zeros([4]), zeros([4]), { ...base, weightDecay: 0.5, decoupled: true });
    expectClose(q.dataSync(), [0.85, 1.05, 0.95 - 0.1 * 1e-3 / (1e-3 + 1e-8), 0.95], 1e-7, 0, 'adamw');
  });
});

describe('argument errors', () => {
  const x = randTensor([2, 3, 4, 4]);
  const c3 = (): Tensor => randTensor([3]);

  it('batchNorm', () => {
    expectError(() => batchNorm(x.dataSync() as never, c3(), c3(), c3(), c3(), { training: true }), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a Tensor of shape [N, C, H, W] or [N, C] for x but received Float32Array of length 96');
    expectError(() => batchNorm(randTensor([2, 3, 4]), c3(), c3(), c3(), c3(), { training: true }), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected a rank-2 or 4 tensor [N, C, H, W] or [N, C] for x but received shape [2, 3, 4]');
    expectError(() => batchNorm(x, randTensor([4]), c3(), c3(), c3(), { training: true }), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [3] (one value per channel of x) for weight but received shape [4]');
    expectError(() => batchNorm(x, c3(), c3(), c3(), c3(), {} as never), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a boolean for opts.training but received undefined');
    expectError(() => batchNorm(x, c3(), c3(), c3(), c3(), { training: true, momentum: 1.5 }), RangeError, 'ERR_ADDERNET_OPTION',
      'Expected a number in [0, 1] for opts.momentum but received 1.5');
    expectError(() => batchNorm(x, c3(), c3(), c3(), c3(), { training: true, eps: 0 }), RangeError, 'ERR_ADDERNET_OPTION',
      'Expected a finite number > 0 for opts.eps but received 0');
    expectError(() => batchNorm(randTensor([1, 3]), c3(), c3(), c3(), c3(), { training: true }), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected more than 1 value per channel when training for x but received shape [1, 3]');
    // Eval on a single example is fine.
    expect(batchNorm(randTensor([1, 3]), c3(), c3(), c3(), randTensor([3], 0.5, 1), { training: false }).y.shape).toEqual([1, 3]);
    const f = batchNorm(x, c3(), c3(), c3(), c3(), { training: true });
    expectError(() => batchNormBackward(x, c3(), randTensor([2, 3, 4, 5]), f.saveMean, f.saveInvStd), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [2, 3, 4, 4] (the shape of x) for gradOut but received shape [2, 3, 4, 5]');
    expectError(() => batchNormBackward(x, c3(), x, randTensor([2]), f.saveInvStd), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [3] (one per channel, from batchNorm) for saveMean but received shape [2]');
    expectError(() => batchNormBackward(x, c3(), x, new Float32Array(3) as never, f.saveInvStd), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a Tensor of shape [3] (from batchNorm) for saveMean but received Float32Array of length 3');
  });

  it('relu and add opts.out', () => {
    const a = randTensor([2, 3]);
    expectError(() => add(a, a, { out: randTensor([3, 2]) }), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [2, 3] (the shape of the result) for opts.out but received shape [3, 2]');
    expectError(() => reluBackward(a, a, { out: new Float32Array(6) as never }), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a Tensor for opts.out but received Float32Array of length 6');
    expectError(() => add(a, a, 3 as never), TypeError, 'ERR_ADDERNET_TYPE', 'Expected an options object for opts but received 3');
    const gone = randTensor([2, 3]);
    gone.dispose();
    expectError(() => add(a, a, { out: gone }), Error, 'ERR_ADDERNET_DISPOSED');
  });

  it('pooling', () => {
    expectError(() => maxPool2d(x, {} as never), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected an integer from 1 to 1048576 or a pair of them for opts.kernelSize but received undefined');
    expectError(() => maxPool2d(x, { kernelSize: 2, padding: 2 }), RangeError, 'ERR_ADDERNET_OPTION',
      'Expected at most half the kernel size [2, 2] for opts.padding but received 2');
    expectError(() => avgPool2d(x, { kernelSize: 5 }), RangeError, 'ERR_ADDERNET_SHAPE',
      /^Expected an input at least as large as the kernel after padding \(output size >= 1\) for x but received input \[2, 3, 4, 4\]/);
    expectError(() => maxPool2d(x, { kernelSize: [2, 0] }), RangeError, 'ERR_ADDERNET_OPTION');
    const { y, argmax } = maxPool2d(x, { kernelSize: 2 });
    const host = argmax.dataSync();
    expectError(() => maxPool2dBackward(y, host.subarray(1), x.shape), RangeError, 'ERR_ADDERNET_SIZE',
      'Expected 24 elements (one per element of gradOut) for argmax but received 23 elements');
    expectError(() => maxPool2dBackward(y, tensor(new Int32Array(23), [23]), x.shape), RangeError, 'ERR_ADDERNET_SIZE',
      'Expected 24 elements (one per element of gradOut) for argmax but received 23 elements');
    expectError(() => maxPool2dBackward(y, y as never, x.shape), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected an int32 Tensor of 24 elements (one per element of gradOut) for argmax but received a float32 Tensor of shape [2, 3, 2, 2]');
    expectError(() => maxPool2dBackward(argmax as never, argmax, x.shape), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a float32 Tensor for gradOut but received an int32 Tensor of shape [2, 3, 2, 2]');
    expectError(() => maxPool2dBackward(y, argmax, [2, 4, 4, 4]), RangeError, 'ERR_ADDERNET_SHAPE');
    expectError(() => maxPool2dBackward(y, argmax, [2, 3, 4]), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected an array of 4 integers >= 1 ([N, C, H, W]) for inputShape but received [2, 3, 4]');
    // An argmax from a larger input: caught natively before any write. With
    // an Int32Array the call waits for the kernel and throws; with the
    // argmax tensor it is queued and the read of the gradient throws.
    expectError(() => maxPool2dBackward(y, host, [2, 3, 2, 2]), RangeError, 'ERR_ADDERNET_SHAPE', /outside the 4-element input plane/);
    const gx = maxPool2dBackward(y, argmax, [2, 3, 2, 2]);
    expectError(() => gx.dataSync(), RangeError, 'ERR_ADDERNET_SHAPE', /maxPool2dBackward: .*outside the 4-element input plane/);
    argmax.dispose();
    expectError(() => maxPool2dBackward(y, argmax, x.shape), Error, 'ERR_ADDERNET_DISPOSED');
    expectError(() => avgPool2dBackward(y, [2, 3, 6, 6], { kernelSize: 2 }), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [2, 3, 3, 3] (the pooled output) for gradOut but received shape [2, 3, 2, 2]');
    expectError(() => globalAvgPoolBackward(randTensor([2, 4]), x.shape), RangeError, 'ERR_ADDERNET_SHAPE');
  });

  it('softmaxCrossEntropy', () => {
    const z = randTensor([2, 10]);
    expectError(() => softmaxCrossEntropy(z, new Int32Array([3, 10])), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected class labels in [0, 10) for labels but received 10 at index 1');
    expectError(() => softmaxCrossEntropy(z, new Int32Array([-1, 0])), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected class labels in [0, 10) for labels but received -1 at index 0');
    expectError(() => softmaxCrossEntropy(z, new Float32Array([1, 2]) as never), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected an Int32Array of length 2 for labels but received Float32Array of length 2');
    expectError(() => softmaxCrossEntropy(z, new Int32Array(3)), RangeError, 'ERR_ADDERNET_SIZE',
      'Expected 2 elements (one per row of logits) for labels but received 3 elements');
    expectError(() => softmaxCrossEntropy(randTensor([2, 2, 5]), new Int32Array(2)), RangeError, 'ERR_ADDERNET_SHAPE');
    expectError(() => softmaxCrossEntropy(z, new Int32Array(2), { grad: 1 as never }), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a boolean for opts.grad but received 1');
  });

  it('sgdUpdate, relu, add', () => {
    const p = zeros([4]);
    const base = { lr: 0.1, momentum: 0.9, weightDecay: 0, nesterov: false, firstStep: true };
    expectError(() => sgdUpdate(p, zeros([3]), zeros([4]), base), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [4] (the shape of param) for grad but received shape [3]');
    expectError(() => sgdUpdate(p, p.clone(), null, base), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a Tensor for momentumBuffer but received null');
    expectError(() => sgdUpdate(p, p.clone(), zeros([0]), base), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [4] (the shape of param) for momentumBuffer but received shape [0]');
    expectError(() => sgdUpdate(new Float32Array(4) as never, p, p, base), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a Tensor for param but received Float32Array of length 4');
    expectError(() => sgdUpdate(p, p.clone(), p.clone(), { ...base, lr: -1 }), RangeError, 'ERR_ADDERNET_OPTION',
      'Expected a finite number >= 0 for opts.lr but received -1');
    expectError(() => sgdUpdate(p, p.clone(), p.clone(), { ...base, momentum: 0, nesterov: true }), RangeError, 'ERR_ADDERNET_OPTION',
      'Expected momentum > 0 and dampening 0 with Nesterov momentum for opts.nesterov but received momentum 0, dampening 0');
    expectError(() => sgdUpdate(p, p.clone(), p.clone(), { ...base, firstStep: undefined as never }), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a boolean for opts.firstStep but received undefined');
    expectError(() => relu([1, 2] as never), TypeError, 'ERR_ADDERNET_TYPE', 'Expected a Tensor for x but received [1, 2]');
    expectError(() => add(x, randTensor([2, 3, 4, 5])), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [2, 3, 4, 4] (the shape of a) for b but received shape [2, 3, 4, 5]');
    expectError(() => reluBackward(x, randTensor([96])), RangeError, 'ERR_ADDERNET_SHAPE');
  });

  it('adamUpdate', () => {
    const p = zeros([4]);
    const base: AdamUpdateOptions = { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, step: 1 };
    const run = (o: Partial<AdamUpdateOptions>, m: unknown = zeros([4]), v: unknown = zeros([4])) =>
      () => adamUpdate(p, zeros([4]), m as Tensor, v as Tensor, { ...base, ...o } as AdamUpdateOptions);
    expectError(() => adamUpdate(p, zeros([3]), zeros([4]), zeros([4]), base), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [4] (the shape of param) for grad but received shape [3]');
    expectError(run({}, zeros([2, 2])), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [4] (the shape of param) for expAvg but received shape [2, 2]');
    expectError(run({}, zeros([4]), null), TypeError, 'ERR_ADDERNET_TYPE', 'Expected a Tensor for expAvgSq but received null');
    expectError(() => adamUpdate(new Float32Array(4) as never, p, p, p, base), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a Tensor for param but received Float32Array of length 4');
    expectError(() => adamUpdate(p, p, p, p, undefined as never), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected an options object for opts but received undefined');
    expectError(run({ lr: -1 }), RangeError, 'ERR_ADDERNET_OPTION', 'Expected a finite number >= 0 for opts.lr but received -1');
    expectError(run({ betas: [0.9, 1] }), RangeError, 'ERR_ADDERNET_OPTION',
      'Expected a pair of numbers in [0, 1) for opts.betas but received [0.9, 1]');
    expectError(run({ betas: [-0.1, 0.9] }), RangeError, 'ERR_ADDERNET_OPTION',
      'Expected a pair of numbers in [0, 1) for opts.betas but received [-0.1, 0.9]');
    expectError(run({ betas: 0.9 as never }), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a pair of numbers in [0, 1) for opts.betas but received 0.9');
    expectError(run({ betas: [0.9] as never }), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a pair of numbers in [0, 1) for opts.betas but received [0.9]');
    expectError(run({ eps: NaN }), RangeError, 'ERR_ADDERNET_OPTION', 'Expected a finite number >= 0 for opts.eps but received NaN');
    expectError(run({ weightDecay: -1e-4 }), RangeError, 'ERR_ADDERNET_OPTION',
      'Expected a finite number >= 0 for opts.weightDecay but received -0.0001');
    expectError(run({ step: 0 }), RangeError, 'ERR_ADDERNET_OPTION', 'Expected an integer >= 1 for opts.step but received 0');
    expectError(run({ step: 1.5 }), RangeError, 'ERR_ADDERNET_OPTION', 'Expected an integer >= 1 for opts.step but received 1.5');
    expectError(run({ step: undefined }), TypeError, 'ERR_ADDERNET_TYPE', 'Expected an integer >= 1 for opts.step but received undefined');
    expectError(run({ decoupled: 1 as never }), TypeError, 'ERR_ADDERNET_TYPE', 'Expected a boolean for opts.decoupled but received 1');
    expectError(run({ amsgrad: true }), TypeError, 'ERR_ADDERNET_TYPE', 'Expected a Tensor for opts.maxExpAvgSq but received undefined');
    expectError(run({ amsgrad: true, maxExpAvgSq: zeros([5]) }), RangeError, 'ERR_ADDERNET_SHAPE',
      'Expected shape [4] (the shape of param) for opts.maxExpAvgSq but received shape [5]');
    expectError(run({ maxExpAvgSq: [0, 0, 0, 0] as never }), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a Tensor for opts.maxExpAvgSq but received [0, 0, 0, 0]');
    const gone = zeros([4]);
    gone.dispose();
    expectError(run({}, gone), Error, 'ERR_ADDERNET_DISPOSED');
    expect(p.dataSync().every((v) => v === 0), 'nothing was written').toBe(true);
  });

  it('the binding re-checks every length, whatever JS passes', () => {
    const f = (n: number): Float32Array => new Float32Array(n);
    expectError(() => native.batchNormForward(f(24), f(3), f(3), f(3), f(3), f(23), f(3), f(3), [2, 3, 4], true, 0.1, 1e-5),
      RangeError, 'ERR_ADDERNET_SIZE', 'Expected 24 elements for out but received 23');
    expectError(() => native.batchNormBackward(f(24), f(3), f(24), f(3), f(2), null, null, null, [2, 3, 4]),
      RangeError, 'ERR_ADDERNET_SIZE', 'Expected 3 elements for saveInvStd but received 2');
    expectError(() => native.maxPool2dForward(f(16), f(4), new Int32Array(3), [1, 1, 4, 4, 2, 2, 2, 2, 0, 0]),
      RangeError, 'ERR_ADDERNET_SIZE', 'Expected 4 elements for argmax but received 3');
    expectError(() => native.avgPool2dForward(f(16), f(4), [1, 1, 4, 4, 2, 2, 2, 2, 2, 0]),
      RangeError, 'ERR_ADDERNET_SHAPE', 'Invalid pooling geometry: padding must be at most half the kernel size');
    expectError(() => native.maxPool2dBackward(f(4), new Int32Array([0, 1, 2, 99]), f(16), [1, 16, 4]),
      RangeError, 'ERR_ADDERNET_SHAPE', /argmax 99 at index 3 is outside the 16-element input plane/);
    expectError(() => native.softmaxCrossEntropy(f(20), new Int32Array(2), f(19), [2, 10]),
      RangeError, 'ERR_ADDERNET_SIZE', 'Expected 20 elements for gradLogits but received 19');
    expectError(() => native.sgdUpdate(f(4), f(4), null, 0.1, 0.9, 0, 0, false, true),
      TypeError, 'ERR_ADDERNET_TYPE', 'Expected a Float32Array for momentumBuffer (momentum is not 0) but received null');
    expectError(() => native.adamUpdate(f(4), f(4), f(4), f(3), null, 1, 0.1, 0.9, 0.999, 1e-8, 0, false, false),
      RangeError, 'ERR_ADDERNET_SIZE', 'Expected 4 elements for expAvgSq but received 3');
    expectError(() => native.adamUpdate(f(4), f(5), f(4), f(4), null, 1, 0.1, 0.9, 0.999, 1e-8, 0, false, false),
      RangeError, 'ERR_ADDERNET_SIZE', 'Expected 4 elements for grad but received 5');
    expectError(() => native.adamUpdate(f(4), f(4), f(4), f(4), f(2), 1, 0.1, 0.9, 0.999, 1e-8, 0, false, true),
      RangeError, 'ERR_ADDERNET_SIZE', 'Expected 4 elements for maxExpAvgSq but received 2');
    expectError(() => native.adamUpdate(f(4), f(4), f(4), f(4), null, 1, 0.1, 0.9, 0.999, 1e-8, 0, false, true),
      TypeError, 'ERR_ADDERNET_TYPE', 'Expected a Float32Array for maxExpAvgSq (amsgrad is true) but received null');
    expectError(() => native.adamUpdate(f(4), f(4), f(4), f(4), null, 0, 0.1, 0.9, 0.999, 1e-8, 0, false, false),
      RangeError, 'ERR_ADDERNET_OPTION', 'Expected an integer >= 1 for step but received 0');
    expectError(() => native.adamUpdate(f(4), f(4), f(4), f(4), null, 1.5, 0.1, 0.9, 0.999, 1e-8, 0, false, false),
      RangeError, 'ERR_ADDERNET_OPTION', /Expected an integer for step/);
    expectError(() => native.adamUpdate(f(4), f(4), f(4), f(4), null, 1, 0.1, 0.9, 0.999, 1e-8, 0, 'no' as never, false),
      TypeError, 'ERR_ADDERNET_TYPE', 'Expected a boolean for decoupled but received a string');
    expectError(() => native.softmaxCrossEntropy(f(20), new Float32Array(2) as never, null, [2, 10]),
      TypeError, 'ERR_ADDERNET_TYPE', 'Expected an Int32Array for labels but received Float32Array');
    expectError(() => native.reluForward([1, 2] as never, f(2)), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a float32 tensor Storage or a Float32Array for x but received an array');
    // Storages are checked the same way, and a disposed one is refused before any kernel runs.
    const s = (n: number) => new native.Storage(n);
    // Dtypes are checked too: an int32 storage is no float32 argument, and the reverse.
    const ints = (n: number) => new native.Storage(n, true, 'int32');
    expectError(() => native.reluForward(ints(4), s(4)), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a float32 tensor for x but received an int32 tensor');
    expectError(() => native.maxPool2dForward(s(16), s(4), s(4), [1, 1, 4, 4, 2, 2, 2, 2, 0, 0]), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected an int32 tensor for argmax but received a float32 tensor');
    expectError(() => native.maxPool2dForward(s(16), s(4), ints(3), [1, 1, 4, 4, 2, 2, 2, 2, 0, 0]),
      RangeError, 'ERR_ADDERNET_SIZE', 'Expected 4 elements for argmax but received 3');
    expectError(() => native.reluForward(s(4), s(5)), RangeError, 'ERR_ADDERNET_SIZE', 'Expected 4 elements for out but received 5');
    const gone = s(4);
    gone.dispose();
    expectError(() => native.reluForward(gone, s(4)), Error, 'ERR_ADDERNET_DISPOSED', 'addernet: x was disposed');
    expectError(() => native.add(s(4), s(4), gone), Error, 'ERR_ADDERNET_DISPOSED', 'addernet: out was disposed');
    expectError(() => native.reluForward(f(4), f(5)), RangeError, 'ERR_ADDERNET_SIZE');
    expectError(() => native.add(f(4), f(3), f(4)), RangeError, 'ERR_ADDERNET_SIZE');
    expectError(() => native.batchNormForward(f(1), f(1), f(1), f(1), f(1), f(1), f(1), f(1), [1, 1, 1e16] as never, true, 0.1, 1e-5),
      TypeError, 'ERR_ADDERNET_TYPE', 'Expected an array of 3 integers >= 1 for dims');
  });
});

// ---- Quantized adder layer (CPU only: the kernel reads plain Uint8Arrays) ------------

describe('adder2dU8', () => {
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
  const pick = <T>(v: readonly T[]): T => v[Math.floor(random() * v.length)];

  it('equals the JS reference bit for bit on random shapes, every ISA and 1-3 threads', () => {
    const isaBefore = backendInfo().isa;
    try {
      for (let trial = 0; trial < 24; trial++) {
        const kh = pick([1, 2, 3, 5]), kw = pick([1, 3]), ph = pick([0, 1, 2]), pw = pick([0, 1]);
        const stride: [number, number] = [pick([1, 2]), pick([1, 2, 3])];
        const xShape = [pick([1, 2, 3]), pick([1, 3, 7, 16, 31, 33, 65]), Math.max(pick([1, 4, 7, 9]), kh - 2 * ph), Math.max(pick([1, 5, 8, 11]), kw - 2 * pw)];
        const wShape = [pick([1, 2, 3, 4, 5, 9, 17]), xShape[1], kh, kw];
        const qx = { data: bytes(sizeOf(xShape)), shape: xShape }, qw = { data: bytes(sizeOf(wShape)), shape: wShape };
        const padValue = Math.floor(random() * 256);
        const want = adder2dU8Ref(qx.data, xShape, qw.data, wShape, stride, [ph, pw], padValue);
        for (const isa of supportedIsas()) {
          setIsa(isa);
          setNumThreads(1 + (trial % 3));
          const y = adder2dU8(qx, qw, { stride, padding: [ph, pw], padValue });
          expect(y.dtype).toBe('int32');
          expect(y.shape.length).toBe(4);
          expect(sameBits(y.dataSync(), want), `${isa} x ${describe4(xShape)} w ${describe4(wShape)} s ${stride} p ${ph},${pw}`).toBe(true);
          y.dispose();
        }
      }
    } finally {
      setIsa(isaBefore);
      setNumThreads(1);
    }
  });

  it('refuses bad arguments with their codes', () => {
    const q = (shape: number[]) => ({ data: new Uint8Array(sizeOf(shape)), shape });
    const x = q([1, 2, 4, 4]), w = q([3, 2, 3, 3]);
    expectError(() => adder2dU8(new Uint8Array(32) as never, w), TypeError, 'ERR_ADDERNET_TYPE');
    expectError(() => adder2dU8({ data: new Float32Array(32), shape: [1, 2, 4, 4] } as never, w), TypeError, 'ERR_ADDERNET_TYPE');
    expectError(() => adder2dU8({ data: new Uint8Array(31), shape: [1, 2, 4, 4] }, w), RangeError, 'ERR_ADDERNET_SIZE',
      'Expected 32 elements (shape [1, 2, 4, 4]) for qx.data but received 31 elements');
    expectError(() => adder2dU8(q([2, 4, 4]), w), RangeError, 'ERR_ADDERNET_SHAPE');
    expectError(() => adder2dU8(x, q([3, 5, 3, 3])), RangeError, 'ERR_ADDERNET_SHAPE', /qw/);
    expectError(() => adder2dU8(x, q([3, 2, 5, 5])), RangeError, 'ERR_ADDERNET_SHAPE', /qx/);
    expectError(() => adder2dU8(x, w, { stride: 0 }), RangeError, 'ERR_ADDERNET_OPTION');
    expectError(() => adder2dU8(x, w, { padValue: 256 }), RangeError, 'ERR_ADDERNET_OPTION',
      'Expected an integer from 0 to 255 for options.padValue but received 256');
    expectError(() => adder2dU8(x, w, { padValue: '0' as never }), TypeError, 'ERR_ADDERNET_TYPE');
    // A reduction whose sums could pass 2^31, refused before anything is allocated (the data is never read).
    const long = { data: new Uint8Array(MAX_U8_REDUCTION + 1), shape: [1, MAX_U8_REDUCTION + 1, 1, 1] };
    expectError(() => adder2dU8(long, long), RangeError, 'ERR_ADDERNET_SHAPE', /at most 8421504/);
  });

  it('the binding re-checks lengths, element types and the pad byte', () => {
    const out = new Int32Array(3 * 2 * 2);
    const dims = [1, 2, 4, 4, 3, 3, 3, 1, 1, 0, 0];
    expectError(() => native.adder2dU8Forward(new Uint8Array(31), new Uint8Array(54), out, dims, 0), RangeError, 'ERR_ADDERNET_SIZE',
      'Expected 32 elements for qx but received 31');
    expectError(() => native.adder2dU8Forward(new Uint8Array(32), new Int8Array(54) as never, out, dims, 0), TypeError, 'ERR_ADDERNET_TYPE',
      'Expected a Uint8Array for qw but received Int8Array');
    expectError(() => native.adder2dU8Forward(new Uint8Array(32), new Uint8Array(54), new Int32Array(11), dims, 0), RangeError, 'ERR_ADDERNET_SIZE');
    expectError(() => native.adder2dU8Forward(new Uint8Array(32), new Uint8Array(54), out, dims, -1), RangeError, 'ERR_ADDERNET_OPTION');
    native.adder2dU8Forward(new Uint8Array(32).fill(9), new Uint8Array(54).fill(4), out, dims, 0);
    expect([...out]).toEqual(new Array(12).fill(18 * 5));
  });
});

const describe4 = (s: readonly number[]): string => `[${s.join(', ')}]`;
