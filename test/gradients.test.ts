// Gradients. conv2d and linear: the ordinary derivative, checked by central
// finite differences. adder2d: NOT the derivative (that would be the sign
// function) but exactly the SPEC.md formulas, full-precision filter gradient
// (Xp - F) * G and HardTanh input gradient HT(F - X) * G, checked on small
// cases whose expected numbers are worked out by hand below. Every number in
// those cases is a small dyadic fraction, so float32 computes them exactly
// and the comparisons are exact, on every ISA. Every suite runs on each test
// device (./devices.ts); the ISA sweep is the CPU's.
import { afterAll, describe, expect, it } from 'vitest';
import { backendInfo, ops, setIsa, supportedIsas, tensor, type Isa, type Tensor } from '../lib/index';
import { describeEachDevice, onDevice } from './devices';
import { conv2dBackwardRef, conv2dRef, mulberry32, randomArray, sizeOf, type Pair } from './reference';

const initial = backendInfo();
afterAll(() => setIsa(initial.isa));

const t = (values: number[], shape: number[]): Tensor => tensor(new Float32Array(values), shape);
const arr = (x: Tensor | undefined): number[] => Array.from(x!.dataSync());

// ---------------------------------------------------------------------------
// conv2d / linear by finite differences

interface ConvCase { x: number[]; w: number[]; stride: Pair; padding: Pair }
const convCases: ConvCase[] = [
  { x: [2, 3, 5, 4], w: [4, 3, 3, 2], stride: [2, 1], padding: [1, 0] },
  { x: [1, 2, 6, 6], w: [3, 2, 3, 3], stride: [2, 2], padding: [2, 2] },
  { x: [3, 1, 4, 3], w: [2, 1, 1, 1], stride: [1, 1], padding: [1, 1] },
];

/** L = sum_e G_e * Y_e with Y from the float64 reference forward. */
function refLoss(x: ArrayLike<number>, w: ArrayLike<number>, b: ArrayLike<number>, gy: ArrayLike<number>, c: ConvCase): number {
  const y = conv2dRef(x, c.x, w, c.w, { stride: c.stride, padding: c.padding, bias: b }).value;
  let l = 0;
  for (let i = 0; i < y.length; i++) l += y[i] * gy[i];
  return l;
}

/** Central differences of f with respect to every element of v. */
function centralDiff(v: ArrayLike<number>, h: number, f: (p: Float64Array) => number): Float64Array {
  const out = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const p = Float64Array.from(v);
    p[i] = v[i] + h;
    const up = f(p);
    p[i] = v[i] - h;
    out[i] = (up - f(p)) / (2 * h);
  }
  return out;
}

function expectNear(actual: ArrayLike<number>, expected: ArrayLike<number>, abs: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= abs * (1 + Math.abs(expected[i])))) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, finite differences give ${expected[i]} (tol ${abs})`);
    }
  }
}

describeEachDevice('conv2d gradients (finite differences)', (device) => {
  const { tensor } = onDevice(device);

  it.each(convCases.map((c, i) => ({ ...c, i, name: `x${c.x.join('x')} w${c.w.join('x')} s${c.stride} p${c.padding}` })))(
    'match central differences of the float64 reference forward: $name',
    (c) => {
      const rng = mulberry32(77 + c.i);
      const x = tensor(randomArray(rng, sizeOf(c.x)), c.x);
      const w = tensor(randomArray(rng, sizeOf(c.w)), c.w);
      const b = tensor(randomArray(rng, c.w[0]), [c.w[0]]);
      const yShape = ops.conv2d(x, w, { stride: c.stride, padding: c.padding }).shape;
      const gy = tensor(randomArray(rng, sizeOf(yShape)), yShape);
      const g = ops.conv2dBackward(x, w, gy, { stride: c.stride, padding: c.padding, bias: true });
      expect([g.gradInput!.device, g.gradWeight.device, g.gradBias!.device]).toEqual([device, device, device]);

      // The loss is linear in each argument, so h = 0.5 leaves only float64 rounding.
      const h = 0.5;
      const fdX = centralDiff(x.dataSync(), h, (p) => refLoss(p, w.dataSync(), b.dataSync(), gy.dataSync(), c));
      const fdW = centralDiff(w.dataSync(), h, (p) => refLoss(x.dataSync(), p, b.dataSync(), gy.dataSync(), c));
      const fdB = centralDiff(b.dataSync(), h, (p) => refLoss(x.dataSync(), w.dataSync(), p, gy.dataSync(), c));
      // float32 results over reductions of a few dozen terms of size ~1.
      expectNear(g.gradInput!.dataSync(), fdX, 1e-5, 'gradInput');
      expectNear(g.gradWeight.dataSync(), fdW, 1e-5, 'gradWeight');
      expectNear(g.gradBias!.dataSync(), fdB, 1e-5, 'gradBias');
      // A padded position must not leak gradient: the reference skips it, and
      // finite differences of the forward agree with it.
      const ref = conv2dBackwardRef(x.dataSync(), c.x, w.dataSync(), c.w, gy.dataSync(), c);
      expectNear(fdX, ref.gradInput.value, 1e-9, 'reference gradInput vs finite differences');
    },
  );

  it('match central differences of the op itself (float32 forward)', () => {
    const c = convCases[0];
    const rng = mulberry32(5);
    const x = tensor(randomArray(rng, 2 * 3 * 5 * 4), c.x);
    const w = tensor(randomArray(rng, 4 * 3 * 3 * 2), c.w);
    const opts = { stride: c.stride, padding: c.padding };
    const y0 = ops.conv2d(x, w, opts);
    const gy = tensor(randomArray(rng, y0.size), y0.shape);
    const loss = (xx: Tensor, ww: Tensor): number => {
      const y = ops.conv2d(xx, ww, opts).dataSync();
      let l = 0;
      for (let i = 0; i < y.length; i++) l += y[i] * gy.dataSync()[i];
      return l;
    };
    const g = ops.conv2dBackward(x, w, gy, opts);
    const h = 0.25;
    const fd = (v: Tensor, i: number, f: (p: Tensor) => number): number => {
      const a = v.dataSync();
      a[i] += h;
      const up = tensor(a, v.shape);
      const b = v.dataSync();
      b[i] -= h;
      const dn = tensor(b, v.shape);
      // Divide by the perturbation float32 actually applied.
      return (f(up) - f(dn)) / (a[i] - b[i]);
    };
    for (let i = 0; i < x.size; i++) {
      const d = fd(x, i, (p) => loss(p, w));
      expect(Math.abs(g.gradInput!.dataSync()[i] - d), `gradInput[${i}]`).toBeLessThan(2e-4 * (1 + Math.abs(d)));
    }
    for (let i = 0; i < w.size; i++) {
      const d = fd(w, i, (p) => loss(x, p));
      expect(Math.abs(g.gradWeight.dataSync()[i] - d), `gradWeight[${i}]`).toBeLessThan(2e-4 * (1 + Math.abs(d)));
    }
  });
});

describeEachDevice('linear gradients (finite differences)', (device) => {
  const { tensor } = onDevice(device);

  it('linearBackward matches central differences of the float64 reference forward', () => {
    const rng = mulberry32(11);
    const [n, c, tt] = [3, 5, 4];
    const x = tensor(randomArray(rng, n * c), [n, c]);
    const w = tensor(randomArray(rng, tt * c), [tt, c]);
    const b = tensor(randomArray(rng, tt), [tt]);
    const gy = tensor(randomArray(rng, n * tt), [n, tt]);
    const lc: ConvCase = { x: [n, c, 1, 1], w: [tt, c, 1, 1], stride: [1, 1], padding: [0, 0] };
    const g = ops.linearBackward(x, w, gy, { bias: true });
    expect(g.gradInput!.shape).toEqual([n, c]);
    expect(g.gradWeight.shape).toEqual([tt, c]);
    expect(g.gradBias!.shape).toEqual([tt]);
    expectNear(g.gradInput!.dataSync(), centralDiff(x.dataSync(), 0.5, (p) => refLoss(p, w.dataSync(), b.dataSync(), gy.dataSync(), lc)), 1e-6, 'gradInput');
    expectNear(g.gradWeight.dataSync(), centralDiff(w.dataSync(), 0.5, (p) => refLoss(x.dataSync(), p, b.dataSync(), gy.dataSync(), lc)), 1e-6, 'gradWeight');
    expectNear(g.gradBias!.dataSync(), centralDiff(b.dataSync(), 0.5, (p) => refLoss(x.dataSync(), w.dataSync(), p, gy.dataSync(), lc)), 1e-6, 'gradBias');
    // and the forward is X W^T + b
    const yt = ops.linear(x, w, b);
    expect(yt.device).toBe(device);
    const y = yt.dataSync();
    for (let i = 0; i < n; i++)
      for (let j = 0; j < tt; j++) {
        let s = b.dataSync()[j];
        for (let k = 0; k < c; k++) s += x.dataSync()[i * c + k] * w.dataSync()[j * c + k];
        expect(y[i * tt + j]).toBeCloseTo(s, 5);
      }
  });
});

// ---------------------------------------------------------------------------
// adder2d: the SPEC formulas, by hand

interface HandCase {
  name: string;
  x: Tensor; w: Tensor; gy: Tensor;
  stride?: Pair; padding?: Pair;
  y: number[];
  gradWeight: number[]; gradInput: number[]; gradBias: number[];
  /** The true derivative (sign), which the SPEC gradients must differ from. */
  signWeight: number[]; signInput: number[];
}

const handCases: HandCase[] = [
  {
    // One 2x2 patch, one filter. Xp - F = [-0.5, 3, 0.25, 2.5], G = 2.
    //   Y  = -(0.5 + 3 + 0.25 + 2.5)                  = -6.25
    //   dF = (X - F) * G = [-1, 6, 0.5, 5]            sign(X - F) * G = [-2, 2, 2, 2]
    //   dX = HT(F - X) * G = HT([0.5, -3, -0.25, -2.5]) * 2 = [1, -2, -0.5, -2]
    //                                                  sign(F - X) * G = [2, -2, -2, -2]
    name: 'one patch: clamped and unclamped HardTanh',
    x: t([0.5, 2, -1, 3], [1, 1, 2, 2]),
    w: t([1, -1, -1.25, 0.5], [1, 1, 2, 2]),
    gy: t([2], [1, 1, 1, 1]),
    y: [-6.25],
    gradWeight: [-1, 6, 0.5, 5],
    gradInput: [1, -2, -0.5, -2],
    gradBias: [2],
    signWeight: [-2, 2, 2, 2],
    signInput: [2, -2, -2, -2],
  },
  {
    // X = [1, -2] (1x2), F = [0.5, 3] (1x2), padding [0, 1]: Xp = [0, 1, -2, 0],
    // patches [0, 1], [1, -2], [-2, 0] (the first and last read one padded zero).
    //   Y = [-(0.5 + 2), -(0.5 + 5), -(2.5 + 3)] = [-2.5, -5.5, -5.5];  G = [1, 3, -1]
    //   dF[0] = (0 - 0.5)*1 + (1 - 0.5)*3 + (-2 - 0.5)*(-1) = -0.5 + 1.5 + 2.5 = 3.5
    //   dF[1] = (1 - 3)*1 + (-2 - 3)*3 + (0 - 3)*(-1)     = -2 - 15 + 3     = -14
    //   (without the padded taps: 4 and -17; with sign(Xp - F): 3 and -3)
    //   dX[0] (x = 1):  HT(3 - 1)*1 + HT(0.5 - 1)*3 = 1 - 1.5 = -0.5   (sign: 1 - 3 = -2)
    //   dX[1] (x = -2): HT(3 + 2)*3 + HT(0.5 + 2)*(-1) = 3 - 1 = 2     (sign: 2)
    name: 'padded row: padded taps count in dF with X = 0 and get no dX',
    x: t([1, -2], [1, 1, 1, 2]),
    w: t([0.5, 3], [1, 1, 1, 2]),
    gy: t([1, 3, -1], [1, 1, 1, 3]),
    padding: [0, 1],
    y: [-2.5, -5.5, -5.5],
    gradWeight: [3.5, -14],
    gradInput: [-0.5, 2],
    gradBias: [3],
    signWeight: [3, -3],
    signInput: [-2, 2],
  },
  {
    // One pixel x = 2 inside padding 1, a 3x3 filter: eight taps read padded zeros.
    // F = [1, 0, -1, 0.5, 4, 0, 0, 0, -2], Xp = [0, 0, 0, 0, 2, 0, 0, 0, 0], G = 0.5.
    //   Y  = -(1 + 0 + 1 + 0.5 + 2 + 0 + 0 + 0 + 2) = -6.5
    //   dF = (Xp - F) * 0.5 = [-0.5, 0, 0.5, -0.25, -1, 0, 0, 0, 1]
    //   dX = HT(4 - 2) * 0.5 = 0.5
    name: 'one pixel, 3x3 filter, padding 1',
    x: t([2], [1, 1, 1, 1]),
    w: t([1, 0, -1, 0.5, 4, 0, 0, 0, -2], [1, 1, 3, 3]),
    gy: t([0.5], [1, 1, 1, 1]),
    padding: [1, 1],
    y: [-6.5],
    gradWeight: [-0.5, 0, 0.5, -0.25, -1, 0, 0, 0, 1],
    gradInput: [0.5],
    gradBias: [0.5],
    // sign(Xp - F) * G, with sign(0) = 0
    signWeight: [-0.5, 0, 0.5, -0.5, -0.5, 0, 0, 0, 0.5],
    signInput: [0.5],
  },
  {
    // Two channels, two filters, 1x1 kernel, stride [1, 2] over a 1x3 input:
    // positions w = 0 and w = 2 (w = 1 is never read).
    // X: c0 = [1, 2, 3], c1 = [-1, 0, 4];  F: t0 = (0.5, 1), t1 = (2, -2).
    //   Y[t0] = [-(0.5 + 2), -(2.5 + 3)] = [-2.5, -5.5]
    //   Y[t1] = [-(1 + 1),   -(1 + 6)]   = [-2, -7]
    // G: t0 = [1, -2], t1 = [0.25, 1]
    //   dF[t0,c0] = (1 - 0.5)*1 + (3 - 0.5)*(-2) = -4.5    dF[t0,c1] = (-2)*1 + 3*(-2) = -8
    //   dF[t1,c0] = (1 - 2)*0.25 + (3 - 2)*1 = 0.75       dF[t1,c1] = 1*0.25 + 6*1 = 6.25
    //   dX[c0,0] = HT(-0.5)*1 + HT(1)*0.25 = -0.25        dX[c0,2] = HT(-2.5)*(-2) + HT(-1)*1 = 1
    //   dX[c1,0] = HT(2)*1 + HT(-1)*0.25 = 0.75           dX[c1,2] = HT(-3)*(-2) + HT(-6)*1 = 1
    //   dX[c*,1] = 0 (never read)
    name: 'two channels, two filters, stride [1, 2]',
    x: t([1, 2, 3, -1, 0, 4], [1, 2, 1, 3]),
    w: t([0.5, 1, 2, -2], [2, 2, 1, 1]),
    gy: t([1, -2, 0.25, 1], [1, 2, 1, 2]),
    stride: [1, 2],
    y: [-2.5, -5.5, -2, -7],
    gradWeight: [-4.5, -8, 0.75, 6.25],
    gradInput: [-0.25, 0, 1, 0.75, 0, 1],
    gradBias: [-1, 1.25],
    // sign(X - F)*G: t0c0: 1 + (-2) = -1; t0c1: -1 + (-2) = -3; t1c0: -0.25 + 1 = 0.75; t1c1: 0.25 + 1 = 1.25
    signWeight: [-1, -3, 0.75, 1.25],
    // sign(F - X)*G: c0,0: -1 + 0.25; c0,2: 2 - 1; c1,0: 1 - 0.25; c1,2: 2 - 1
    signInput: [-0.75, 0, 1, 0.75, 0, 1],
  },
];

describeEachDevice('adder2d gradients are the SPEC formulas', (device) => {
  const { to } = onDevice(device);
  const t = (values: number[], shape: number[]): Tensor => to(tensor(new Float32Array(values), shape));
  // The CPU runs them on every kernel path it supports (setIsa); another device has its own one.
  const paths = (device === 'cpu' ? supportedIsas() : [undefined]).map((isa?: Isa) => ({ isa, path: isa ?? device }));

  describe.each(paths)('on the $path path', ({ isa }) => {
    const use = (): void => {
      if (isa) setIsa(isa);
    };

    it.each(handCases)('$name', (hc) => {
      use();
      const c = { ...hc, x: to(hc.x), w: to(hc.w), gy: to(hc.gy) };
      const y = ops.adder2d(c.x, c.w, { stride: c.stride, padding: c.padding });
      expect(y.device).toBe(device);
      expect(arr(y)).toEqual(c.y);
      const g = ops.adder2dBackward(c.x, c.w, c.gy, { stride: c.stride, padding: c.padding, bias: true });
      expect([g.gradWeight.device, g.gradInput!.device]).toEqual([device, device]);
      expect(arr(g.gradWeight)).toEqual(c.gradWeight);
      expect(arr(g.gradInput)).toEqual(c.gradInput);
      expect(arr(g.gradBias)).toEqual(c.gradBias);
      expect(g.gradWeight.shape).toEqual(c.w.shape);
      expect(g.gradInput!.shape).toEqual(c.x.shape);
      // The filter gradient is not the sign derivative (the case is built so
      // that they differ); the input gradient differs wherever |F - X| < 1.
      expect(arr(g.gradWeight)).not.toEqual(c.signWeight);
      if (c.name.startsWith('one patch') || c.name.startsWith('padded')) {
        expect(arr(g.gradInput)).not.toEqual(c.signInput);
      }
    });

    it('adderLinear: the same formulas on [N, C]', () => {
      use();
      // X = [[1, -1], [0.5, 2]], F = [[0, 0.25]], G = [[1], [3]]
      //   Y  = [-(1 + 1.25), -(0.5 + 1.75)] = [-2.25, -2.25]
      //   dF = [(1 - 0)*1 + (0.5 - 0)*3, (-1 - 0.25)*1 + (2 - 0.25)*3] = [2.5, 4]
      //   dX = [[HT(-1)*1, HT(1.25)*1], [HT(-0.5)*3, HT(-1.75)*3]] = [[-1, 1], [-1.5, -3]]
      const x = t([1, -1, 0.5, 2], [2, 2]);
      const w = t([0, 0.25], [1, 2]);
      const gy = t([1, 3], [2, 1]);
      expect(arr(ops.adderLinear(x, w))).toEqual([-2.25, -2.25]);
      expect(arr(ops.adderLinear(x, w, t([0.75], [1])))).toEqual([-1.5, -1.5]);
      const g = ops.adderLinearBackward(x, w, gy, { bias: true });
      expect(arr(g.gradWeight)).toEqual([2.5, 4]);
      expect(arr(g.gradInput)).toEqual([-1, 1, -1.5, -3]);
      expect(arr(g.gradBias)).toEqual([4]);
      expect(g.gradInput!.shape).toEqual([2, 2]);
      expect(g.gradWeight.shape).toEqual([1, 2]);
    });
  });
});

// ---------------------------------------------------------------------------
// adaptive learning-rate scaling

describeEachDevice('adaptiveScale', (device) => {
  const { tensor } = onDevice(device);
  const rms = (v: Float32Array): number => Math.sqrt(v.reduce((s, e) => s + e * e, 0) / v.length);

  it.each([
    { eta: undefined, expected: 0.2, size: 1000, scale: 1 },
    { eta: 0.05, expected: 0.05, size: 37, scale: 1e-3 },
    { eta: 1.5, expected: 1.5, size: 4096, scale: 1e20 },
  ])('scales the gradient to RMS eta (eta $eta, $size elements of size ~$scale)', ({ eta, expected, size, scale }) => {
    const rng = mulberry32(size);
    const g = tensor(randomArray(rng, size, -scale, scale), [size]);
    const copy = g.dataSync().slice();
    const out = eta === undefined ? ops.adaptiveScale(g) : ops.adaptiveScale(g, eta);
    expect(out.shape).toEqual(g.shape);
    expect(out.device).toBe(device);
    expect(g.dataSync()).toEqual(copy);
    expect(rms(out.dataSync())).toBeCloseTo(expected, 6);
    // Same direction: out = alpha * grad with alpha = eta sqrt(k) / ||grad||.
    const norm = Math.sqrt(copy.reduce((s, e) => s + e * e, 0));
    const alpha = (expected * Math.sqrt(size)) / norm;
    for (let i = 0; i < size; i++) {
      expect(Math.abs(out.dataSync()[i] - copy[i] * alpha)).toBeLessThanOrEqual(1e-6 * Math.abs(copy[i] * alpha) + 1e-30);
    }
  });

  it('keeps the shape of a 4-D filter gradient', () => {
    const g = tensor(randomArray(mulberry32(3), 2 * 3 * 3 * 3), [2, 3, 3, 3]);
    const out = ops.adaptiveScale(g, 0.2);
    expect(out.shape).toEqual([2, 3, 3, 3]);
    expect(rms(out.dataSync())).toBeCloseTo(0.2, 6);
  });

  it('maps a zero gradient to zeros, not NaN', () => {
    const out = ops.adaptiveScale(tensor(new Float32Array(64), [4, 16]));
    expect(Array.from(out.dataSync())).toEqual(new Array(64).fill(0));
  });

  it('uses max(norm, 1e-12): a gradient below that norm is scaled by eta sqrt(k) / 1e-12', () => {
    // 16 elements of 1e-20: norm 4e-20 < 1e-12, alpha = 0.2 * 4 / 1e-12 = 8e11.
    const out = ops.adaptiveScale(tensor(new Float32Array(16).fill(1e-20), [16]), 0.2);
    for (const v of out.dataSync()) {
      expect(Number.isFinite(v)).toBe(true);
      expect(v).toBeCloseTo(Math.fround(1e-20) * 8e11, 14);
    }
  });
});
