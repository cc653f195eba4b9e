// ops.quantizedAdder2d, the whole quantized adder layer as one queued op
// (input quantized in the kernel, uint8 SAD, folded epilogue), against the
// JavaScript path it replaced (quantizeValues, adder2dU8, the epilogue in
// float64) bit for bit; its errors; and a quantized predict that leaves the
// event loop free.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendInfo, models, ops, quantize, setIsa, setNumThreads, supportedIsas, tensor, type Tensor } from '../lib/index';
import { native } from '../lib/native';
import { quantizeValues } from '../lib/nn/quantize';
import { QuantizedAdderWeights, type QuantizedAdderWeightsInit } from '../lib/ops/quant';
import { caught, ensureDist, makeRng, sameBits, sizeOf, watchEventLoop } from './nn-helpers';

const initial = backendInfo();
beforeAll(() => ensureDist());
afterAll(() => {
  setIsa(initial.isa);
  setNumThreads(initial.threads);
});

const rng = makeRng(110);
const pick = <T>(v: readonly T[]): T => v[Math.floor(rng.next() * v.length)];

/** A layer's constants on a random grid of `bits`. */
function randomInit(shape: number[], bits: number): QuantizedAdderWeightsInit {
  const qmax = 2 ** bits - 1;
  const t = shape[0];
  const mul = new Float64Array(t), add = new Float64Array(t);
  for (let i = 0; i < t; i++) {
    // As QuantizedAdder builds them: float32 BN scale times float32 s, float32 shift minus scale * clip.
    const bnScale = Math.fround(rng.uniform(0.1, 3)), clip = Math.fround(rng.uniform(0, 2));
    mul[i] = -bnScale * Math.fround(0.02);
    add[i] = Math.fround(rng.uniform(-1, 1)) - bnScale * clip;
  }
  return {
    qweight: Uint8Array.from({ length: sizeOf(shape) }, () => Math.floor(rng.next() * (qmax + 1))),
    shape, scale: Math.fround(rng.uniform(0.005, 0.05)), zeroPoint: Math.floor(rng.next() * (qmax + 1)), bits, mul, add,
  };
}

/** The JavaScript path quantize.ts ran before the op: quantizeValues, adder2dU8 (pad byte z), y = mul * SAD + add. */
function jsPath(x: Float32Array, xShape: number[], init: QuantizedAdderWeightsInit, stride: [number, number], padding: [number, number]): { data: Float32Array; shape: readonly number[] } {
  const qx = quantizeValues(x, init.scale, init.zeroPoint, init.bits);
  const sad = ops.adder2dU8({ data: qx, shape: xShape }, { data: init.qweight, shape: init.shape }, { stride, padding, padValue: init.zeroPoint });
  const v = sad.dataSync();
  const t = init.shape[0];
  const plane = v.length / (xShape[0] * t);
  const out = new Float32Array(v.length);
  for (let row = 0, i = 0; row < xShape[0] * t; row++) {
    const a = init.mul[row % t], b = init.add[row % t];
    for (const end = i + plane; i < end; i++) out[i] = a * v[i] + b;
  }
  const shape = sad.shape;
  sad.dispose();
  return { data: out, shape };
}

/** Inputs around and beyond the grid, with exact half-steps, NaN and infinities. */
function awkwardInput(n: number, init: QuantizedAdderWeightsInit): Float32Array {
  const qmax = 2 ** init.bits - 1;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rng.next();
    if (r < 0.2) x[i] = Math.fround(init.scale * (Math.floor(rng.next() * (qmax + 3)) - 1 + 0.5 - init.zeroPoint));
    else if (r < 0.22) x[i] = pick([NaN, Infinity, -Infinity, 0, -0]);
    else x[i] = Math.fround(init.scale * (rng.uniform(-20, qmax + 20) - init.zeroPoint));
  }
  return x;
}

describe('quantizedAdder2d', () => {
  it('equals the JavaScript path bit for bit on random shapes (stride 2, padding, 1x1), bits 4-8, every ISA and 1-2 threads', () => {
    try {
      for (let trial = 0; trial < 20; trial++) {
        const kh = pick([1, 2, 3, 5]), kw = pick([1, 3]), ph = pick([0, 1, 2]), pw = pick([0, 1]);
        const stride: [number, number] = [pick([1, 2]), pick([1, 2])];
        const xShape = [pick([1, 2, 3]), pick([1, 3, 16, 33]), Math.max(pick([1, 4, 7, 9]), kh - 2 * ph), Math.max(pick([1, 5, 8, 11]), kw - 2 * pw)];
        const init = randomInit([pick([1, 2, 5, 9, 17]), xShape[1], kh, kw], pick([4, 5, 6, 7, 8]));
        const xData = awkwardInput(sizeOf(xShape), init);
        const want = jsPath(xData, xShape, init, stride, [ph, pw]);
        const weights = new QuantizedAdderWeights(init);
        const x = tensor(xData, xShape);
        for (const isa of supportedIsas()) {
          setIsa(isa);
          setNumThreads(1 + (trial % 2));
          const y = ops.quantizedAdder2d(x, weights, { stride, padding: [ph, pw] });
          expect(y.dtype).toBe('float32');
          expect(y.shape).toEqual(want.shape);
          expect(sameBits(y.dataSync(), want.data), `${isa} x [${xShape}] w [${init.shape}] bits ${init.bits} s ${stride} p ${ph},${pw}`).toBe(true);
          y.dispose();
        }
        x.dispose();
        weights.dispose();
      }
    } finally {
      setIsa(initial.isa);
      setNumThreads(initial.threads);
    }
  });

  it('returns before its kernel runs and keeps disposed weights alive for the kernels already queued', async () => {
    const init = randomInit([8, 16, 3, 3], 8);
    const xData = awkwardInput(4 * 16 * 20 * 20, init);
    const want = jsPath(xData, [4, 16, 20, 20], init, [1, 1], [1, 1]);
    const weights = new QuantizedAdderWeights(init);
    const x = tensor(xData, [4, 16, 20, 20]);
    const y = ops.quantizedAdder2d(x, weights, { padding: 1 });
    weights.dispose();
    x.dispose();
    expect(weights.disposed).toBe(true);
    expect(sameBits(await y.data(), want.data)).toBe(true);
    y.dispose();
  });

  it('refuses bad arguments with their codes', () => {
    const init = randomInit([3, 2, 3, 3], 8);
    const w = new QuantizedAdderWeights(init);
    const x = tensor(new Float32Array(2 * 4 * 4), [1, 2, 4, 4]);
    const expectCode = (fn: () => unknown, cls: ErrorConstructor, code: string, message?: RegExp) => {
      const err = caught(fn);
      expect(err).toBeInstanceOf(cls);
      expect(err.code).toBe(code);
      if (message) expect(err.message).toMatch(message);
    };
    expectCode(() => ops.quantizedAdder2d(new Float32Array(32) as never, w), TypeError, 'ERR_ADDERNET_TYPE', /for x/);
    expectCode(() => ops.quantizedAdder2d(x, init as never), TypeError, 'ERR_ADDERNET_TYPE', /a QuantizedAdderWeights for weights/);
    expectCode(() => ops.quantizedAdder2d(tensor(new Float32Array(3 * 16), [1, 3, 4, 4]), w), RangeError, 'ERR_ADDERNET_SHAPE', /weights/);
    expectCode(() => ops.quantizedAdder2d(tensor(new Float32Array(4), [1, 2, 2]), w), RangeError, 'ERR_ADDERNET_SHAPE');
    expectCode(() => ops.quantizedAdder2d(tensor(new Float32Array(8), [1, 2, 2, 2]), w), RangeError, 'ERR_ADDERNET_SHAPE', /at least as large as the kernel/);
    expectCode(() => ops.quantizedAdder2d(x, w, { stride: 0 }), RangeError, 'ERR_ADDERNET_OPTION');
    expectCode(() => new QuantizedAdderWeights({ ...init, qweight: new Uint8Array(5) }), RangeError, 'ERR_ADDERNET_SIZE', /init\.qweight\.data/);
    expectCode(() => new QuantizedAdderWeights({ ...init, bits: 9 }), RangeError, 'ERR_ADDERNET_OPTION', /init\.bits/);
    expectCode(() => new QuantizedAdderWeights({ ...init, bits: 4, zeroPoint: 16 }), RangeError, 'ERR_ADDERNET_OPTION', /from 0 to 15 for init\.zeroPoint/);
    expectCode(() => new QuantizedAdderWeights({ ...init, scale: 0 }), RangeError, 'ERR_ADDERNET_OPTION', /init\.scale/);
    expectCode(() => new QuantizedAdderWeights({ ...init, scale: NaN }), RangeError, 'ERR_ADDERNET_OPTION', /init\.scale/);
    expectCode(() => new QuantizedAdderWeights({ ...init, mul: new Float32Array(3) as never }), TypeError, 'ERR_ADDERNET_TYPE', /init\.mul/);
    expectCode(() => new QuantizedAdderWeights({ ...init, add: new Float64Array(2) }), RangeError, 'ERR_ADDERNET_SIZE', /init\.add/);
    expectCode(() => new QuantizedAdderWeights(undefined as never), TypeError, 'ERR_ADDERNET_TYPE');
    const big = ops.MAX_U8_REDUCTION + 1;
    expectCode(() => new QuantizedAdderWeights({ ...init, qweight: new Uint8Array(big), shape: [1, big, 1, 1], mul: new Float64Array(1), add: new Float64Array(1) }),
      RangeError, 'ERR_ADDERNET_SHAPE', /at most 8421504/);
    w.dispose();
    expectCode(() => ops.quantizedAdder2d(x, w), Error, 'ERR_ADDERNET_DISPOSED');
    x.dispose();
  });

  it('the binding re-checks the layer against the geometry and refuses hostile geometry', () => {
    const init = randomInit([3, 2, 3, 3], 8);
    const w = new QuantizedAdderWeights(init);
    const x = tensor(new Float32Array(2 * 4 * 4), [1, 2, 4, 4]);
    const out = new Float32Array(3 * 2 * 2);
    const dims = [1, 2, 4, 4, 3, 3, 3, 1, 1, 0, 0] as const;
    native.quantizedAdder2dForward(x.storage, w.handle, out, [...dims] as never);
    const raw = (fn: () => unknown, code: string, message: RegExp) => {
      const err = caught(fn);
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
    };
    // A layer for other filters (more channels than it holds) would be read past its end.
    raw(() => native.quantizedAdder2dForward(x.storage, w.handle, new Float32Array(4 * 2 * 2), [1, 2, 4, 4, 4, 3, 3, 1, 1, 0, 0]), 'ERR_ADDERNET_SIZE', /filter bytes/);
    raw(() => native.quantizedAdder2dForward(x.storage, w.handle, new Float32Array(3 * 4 * 4), [1, 2, 6, 6, 3, 3, 3, 1, 1, 0, 0]), 'ERR_ADDERNET_SIZE', /x/);
    raw(() => native.quantizedAdder2dForward(x.storage, w.handle, new Float32Array(5), [...dims] as never), 'ERR_ADDERNET_SIZE', /out/);
    raw(() => native.quantizedAdder2dForward(x.storage, {} as never, out, [...dims] as never), 'ERR_ADDERNET_TYPE', /QuantizedAdderLayer/);
    raw(() => native.quantizedAdder2dForward(x.storage, x.storage as never, out, [...dims] as never), 'ERR_ADDERNET_TYPE', /QuantizedAdderLayer/);
    raw(() => native.quantizedAdder2dForward(x.storage, w.handle, out, [1, 2, 4, 4, 3, 3, 3, 0, 1, 0, 0]), 'ERR_ADDERNET_SHAPE', /./);
    raw(() => native.quantizedAdder2dForward(x.storage, w.handle, out, [2 ** 40, 2, 4, 4, 3, 3, 3, 1, 1, 0, 0]), 'ERR_ADDERNET_SHAPE', /./);
    raw(() => new native.QuantizedAdderLayer(init.qweight, 0.1, 300, 8, init.mul, init.add), 'ERR_ADDERNET_OPTION', /zeroPoint/);
    raw(() => new native.QuantizedAdderLayer(init.qweight, 0.1, 1, 8, init.mul, new Float64Array(2)), 'ERR_ADDERNET_SIZE', /one length/);
    w.dispose();
    raw(() => native.quantizedAdder2dForward(x.storage, w.handle, out, [...dims] as never), 'ERR_ADDERNET_DISPOSED', /disposed/);
    x.dispose();
  });
});

describe('a quantized predict', () => {
  it('runs off the event loop: timers keep firing during a long quantized predict', async () => {
    const float = models.resnet20({ layer: 'adder' });
    const calibration = { images: rng.normalArray(64 * 3 * 32 * 32), labels: new Int32Array(64), shape: [3, 32, 32] as [number, number, number], numClasses: 10 };
    const q = await quantize(float, calibration, { examples: 64 });
    const x: Tensor = tensor(rng.normalArray(64 * 3 * 32 * 32), [64, 3, 32, 32]);
    (await q.predict(x)).dispose(); // warm the allocator
    const loop = watchEventLoop(5);
    const t0 = performance.now();
    let watched: { ticks: number; maxGap: number };
    try {
      (await q.predict(x)).dispose();
    } finally {
      watched = loop.stop();
    }
    const ms = performance.now() - t0;
    const { ticks, maxGap } = watched;
    console.log(`quantized predict ResNet-20 x64: ${ms.toFixed(0)} ms; main-thread timer: ${ticks} ticks, max gap ${maxGap.toFixed(1)} ms`);
    expect(ticks).toBeGreaterThanOrEqual(Math.min(5, Math.floor(ms / 50)));
    expect(maxGap).toBeLessThan(Math.max(250, ms / 2));
    x.dispose();
    await q.dispose();
    await float.dispose();
    for (const l of q.quantizedLayers().values()) expect(l.weights.disposed).toBe(true);
  });
});
