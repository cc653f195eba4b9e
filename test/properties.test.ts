// Property tests (fast-check, fixed seeds) of the adder layer on every ISA:
//  - output <= 0 without bias, also when patches nearly equal the filters
//    (where the max trick's rounding could push a result above 0);
//  - output exactly 0 when a patch equals its filter, and (on values where
//    float32 is exact) exactly 0 only then;
//  - invariance when input and filter are shifted by one constant;
//  - invariance when the channels of input and filter are permuted together.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { backendInfo, ops, setIsa, supportedIsas, tensor, type Isa } from '../lib/index';
import { adder2dRef, sizeOf, tolerance } from './reference';

const isas = supportedIsas();
const initial = backendInfo();
afterAll(() => setIsa(initial.isa));

const SEED = 20200314;
const params = (numRuns = 100) => ({ seed: SEED, numRuns });

interface Shape {
  n: number; c: number; h: number; w: number;
  t: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number;
}

const xDims = (s: Shape) => [s.n, s.c, s.h, s.w];
const wDims = (s: Shape) => [s.t, s.c, s.kh, s.kw];

/** Small layer geometries with an output of at least 1x1. */
const shapeArb = (padding: boolean) =>
  fc
    .record({
      n: fc.integer({ min: 1, max: 2 }),
      c: fc.integer({ min: 1, max: 5 }),
      t: fc.integer({ min: 1, max: 6 }),
      kh: fc.integer({ min: 1, max: 3 }),
      kw: fc.integer({ min: 1, max: 3 }),
      h: fc.integer({ min: 1, max: 7 }),
      w: fc.integer({ min: 1, max: 7 }),
      sh: fc.integer({ min: 1, max: 2 }),
      sw: fc.integer({ min: 1, max: 2 }),
      ph: padding ? fc.integer({ min: 0, max: 2 }) : fc.constant(0),
      pw: padding ? fc.integer({ min: 0, max: 2 }) : fc.constant(0),
    })
    .map((s) => ({ ...s, h: Math.max(s.h, s.kh - 2 * s.ph), w: Math.max(s.w, s.kw - 2 * s.pw) }));

/** Any float32 in [-lim, lim] (including -0 and subnormals). */
const floatArb = (lim: number) => fc.float({ min: Math.fround(-lim), max: Math.fround(lim), noNaN: true, noDefaultInfinity: true });
/** Multiples of 1/16 in [-64, 64]: sums of a few hundred of them are exact in float32. */
const dyadicArb = fc.integer({ min: -1024, max: 1024 }).map((v) => v / 16);

const values = (arb: fc.Arbitrary<number>, n: number) => fc.array(arb, { minLength: n, maxLength: n }).map((a) => Float32Array.from(a));

/** A shape plus input and filter values drawn from `arb`. */
const layerArb = (arb: fc.Arbitrary<number>, padding: boolean) =>
  shapeArb(padding).chain((s) =>
    fc.record({ s: fc.constant(s), x: values(arb, sizeOf(xDims(s))), w: values(arb, sizeOf(wDims(s))) }),
  );

function adder(isa: Isa, s: Shape, x: Float32Array, w: Float32Array, bias?: Float32Array): Float32Array {
  setIsa(isa);
  return ops.adder2d(tensor(x, xDims(s)), tensor(w, wDims(s)), {
    stride: [s.sh, s.sw],
    padding: [s.ph, s.pw],
    bias: bias && tensor(bias, [s.t]),
  }).dataSync();
}

const ho = (s: Shape) => Math.floor((s.h + 2 * s.ph - s.kh) / s.sh) + 1;
const wo = (s: Shape) => Math.floor((s.w + 2 * s.pw - s.kw) / s.sw) + 1;

/** The patch Xp[n, :, i*SH.., j*SW..] in F's [C, KH, KW] order (0 in the padding). */
function patch(s: Shape, x: Float32Array, n: number, i: number, j: number): Float32Array {
  const out = new Float32Array(s.c * s.kh * s.kw);
  for (let c = 0; c < s.c; c++)
    for (let u = 0; u < s.kh; u++)
      for (let v = 0; v < s.kw; v++) {
        const h = i * s.sh + u - s.ph;
        const ww = j * s.sw + v - s.pw;
        if (h >= 0 && h < s.h && ww >= 0 && ww < s.w) out[(c * s.kh + u) * s.kw + v] = x[((n * s.c + c) * s.h + h) * s.w + ww];
      }
  return out;
}

describe.each(isas)('adder2d properties on the %s path', (isa) => {
  it('output <= 0 without bias (random layers)', () => {
    fc.assert(
      fc.property(layerArb(floatArb(1e4), true), ({ s, x, w }) => {
        for (const y of adder(isa, s, x, w)) if (!(y <= 0)) return false;
        return true;
      }),
      params(),
    );
  });

  it('output <= 0 without bias when every patch nearly equals a filter', () => {
    // One position per image (kernel = image, padding 0) and filters that are
    // the image times (1 + a few ulps of noise): the exact result is a tiny
    // negative number, as close to 0 as it gets without being 0, so this is
    // where a rounding or ordering slip in 2*sum max - sum x - sum w would
    // first show up as a positive value.
    const arb = fc
      .record({
        c: fc.integer({ min: 1, max: 8 }), h: fc.integer({ min: 1, max: 6 }), w: fc.integer({ min: 1, max: 6 }),
        t: fc.integer({ min: 1, max: 9 }),
      })
      .chain((r) =>
        fc.record({
          r: fc.constant(r),
          x: values(floatArb(1e3), r.c * r.h * r.w),
          noise: fc.array(fc.integer({ min: -4, max: 4 }), { minLength: r.t * r.c * r.h * r.w, maxLength: r.t * r.c * r.h * r.w }),
        }),
      );
    fc.assert(
      fc.property(arb, ({ r, x, noise }) => {
        const s: Shape = { n: 1, c: r.c, h: r.h, w: r.w, t: r.t, kh: r.h, kw: r.w, sh: 1, sw: 1, ph: 0, pw: 0 };
        const k = x.length;
        const w = new Float32Array(r.t * k);
        for (let i = 0; i < w.length; i++) w[i] = x[i % k] * (1 + noise[i] * 2 ** -22);
        const y = adder(isa, s, x, w);
        for (const v of y) if (!(v <= 0)) return false;
        return true;
      }),
      params(),
    );
  });

  it('output <= bias with a bias, and bias is added per filter', () => {
    fc.assert(
      fc.property(
        layerArb(dyadicArb, true).chain((l) => fc.record({ l: fc.constant(l), b: values(dyadicArb, l.s.t) })),
        ({ l: { s, x, w }, b }) => {
          const y0 = adder(isa, s, x, w);
          const y = adder(isa, s, x, w, b);
          const hw = ho(s) * wo(s);
          // dyadic values: everything is exact
          return y.every((v, e) => v === y0[e] + b[Math.floor(e / hw) % s.t] && v <= b[Math.floor(e / hw) % s.t]);
        },
      ),
      params(),
    );
  });

  it('output is exactly 0 where a patch equals its filter (any float32 values, with padding)', () => {
    const arb = layerArb(floatArb(1e5), true).chain((l) =>
      fc.record({
        l: fc.constant(l),
        n: fc.integer({ min: 0, max: l.s.n - 1 }),
        t: fc.integer({ min: 0, max: l.s.t - 1 }),
        i: fc.integer({ min: 0, max: ho(l.s) - 1 }),
        j: fc.integer({ min: 0, max: wo(l.s) - 1 }),
      }),
    );
    fc.assert(
      fc.property(arb, ({ l: { s, x, w }, n, t, i, j }) => {
        // Make filter t a copy of the patch at (n, i, j), padded zeros included.
        const k = s.c * s.kh * s.kw;
        w.set(patch(s, x, n, i, j), t * k);
        const y = adder(isa, s, x, w);
        return y[((n * s.t + t) * ho(s) + i) * wo(s) + j] === 0;
      }),
      params(),
    );
  });

  it('output is 0 if and only if the patch equals the filter (values exact in float32)', () => {
    // Draw filters from a few patches of the input so that matches are common.
    const arb = layerArb(fc.integer({ min: -3, max: 3 }).map((v) => v / 4), true).chain((l) =>
      fc.record({
        l: fc.constant(l),
        copies: fc.array(
          fc.record({ t: fc.nat(l.s.t - 1), n: fc.nat(l.s.n - 1), i: fc.nat(ho(l.s) - 1), j: fc.nat(wo(l.s) - 1) }),
          { maxLength: l.s.t },
        ),
      }),
    );
    let zeros = 0;
    let nonzeros = 0;
    fc.assert(
      fc.property(arb, ({ l: { s, x, w }, copies }) => {
        const k = s.c * s.kh * s.kw;
        for (const cp of copies) w.set(patch(s, x, cp.n, cp.i, cp.j), cp.t * k);
        const y = adder(isa, s, x, w);
        for (let n = 0; n < s.n; n++)
          for (let t = 0; t < s.t; t++)
            for (let i = 0; i < ho(s); i++)
              for (let j = 0; j < wo(s); j++) {
                const p = patch(s, x, n, i, j);
                const equal = p.every((v, e) => v === w[t * k + e]);
                const v = y[((n * s.t + t) * ho(s) + i) * wo(s) + j];
                if (equal) zeros++;
                else nonzeros++;
                if ((v === 0) !== equal) return false;
              }
        return true;
      }),
      params(),
    );
    // The property must have seen both sides of the "iff".
    expect(zeros).toBeGreaterThan(50);
    expect(nonzeros).toBeGreaterThan(50);
  });

  // Padding 0 only: Xp pads with zeros, and zeros are not shifted, so a padded
  // tap contributes -|0 - (F + s)| after the shift instead of -|0 - F|.
  // (The last test of this block shows that padding does break it.)
  it('invariant when input and filter are shifted by one constant (dyadic values: exact)', () => {
    fc.assert(
      fc.property(layerArb(dyadicArb, false), dyadicArb, ({ s, x, w }, shift) => {
        const y = adder(isa, s, x, w);
        const ys = adder(isa, s, x.map((v) => v + shift), w.map((v) => v + shift));
        return ys.every((v, e) => v === y[e]);
      }),
      params(),
    );
  });

  it('invariant when input and filter are shifted by one constant (any float32 values, within tolerance)', () => {
    fc.assert(
      fc.property(layerArb(floatArb(100), false), floatArb(1000), ({ s, x, w }, shift) => {
        const xs = x.map((v) => v + shift);
        const ws = w.map((v) => v + shift);
        // x + shift is rounded to float32; that changes |x - w| by at most this much per tap.
        let rep = 0;
        for (let e = 0; e < x.length; e++) rep = Math.max(rep, Math.abs(xs[e] - (x[e] + shift)));
        for (let e = 0; e < w.length; e++) rep = Math.max(rep, Math.abs(ws[e] - (w[e] + shift)));
        const k = s.c * s.kh * s.kw;
        const y = adder(isa, s, x, w);
        const ys = adder(isa, s, xs, ws);
        const ref = adder2dRef(x, xDims(s), w, wDims(s), { stride: [s.sh, s.sw] });
        const refs = adder2dRef(xs, xDims(s), ws, wDims(s), { stride: [s.sh, s.sw] });
        for (let e = 0; e < y.length; e++) {
          const tol = tolerance(k, ref.mag[e]) + tolerance(k, refs.mag[e]) + 2 * k * rep;
          if (!(Math.abs(ys[e] - y[e]) <= tol)) return false;
        }
        return true;
      }),
      params(),
    );
  });

  it('with padding, a shift changes the output by exactly the padded taps', () => {
    // x = 1 (1x1), F = [1, 1, 1] (1x3), padding [0, 1]: Xp = [0, 1, 0]
    //   Y = -(1 + 0 + 1) = -2;  shifted by 2: x = 3, F = [3, 3, 3], Xp = [0, 3, 0], Y = -6
    setIsa(isa);
    const y = (xv: number, fv: number) =>
      ops.adder2d(tensor(new Float32Array([xv]), [1, 1, 1, 1]), tensor(new Float32Array([fv, fv, fv]), [1, 1, 1, 3]), { padding: [0, 1] }).dataSync()[0];
    expect(y(1, 1)).toBe(-2);
    expect(y(3, 3)).toBe(-6);
  });

  it('invariant when the channels of input and filter are permuted together', () => {
    const arb = layerArb(floatArb(100), true).chain((l) =>
      fc.record({ l: fc.constant(l), perm: fc.shuffledSubarray([...Array(l.s.c).keys()], { minLength: l.s.c, maxLength: l.s.c }) }),
    );
    fc.assert(
      fc.property(arb, ({ l: { s, x, w }, perm }) => {
        const plane = s.h * s.w;
        const tap = s.kh * s.kw;
        const xp = new Float32Array(x.length);
        const wp = new Float32Array(w.length);
        for (let n = 0; n < s.n; n++)
          for (let c = 0; c < s.c; c++) xp.set(x.subarray((n * s.c + perm[c]) * plane, (n * s.c + perm[c] + 1) * plane), (n * s.c + c) * plane);
        for (let t = 0; t < s.t; t++)
          for (let c = 0; c < s.c; c++) wp.set(w.subarray((t * s.c + perm[c]) * tap, (t * s.c + perm[c] + 1) * tap), (t * s.c + c) * tap);
        const y = adder(isa, s, x, w);
        const yp = adder(isa, s, xp, wp);
        const ref = adder2dRef(x, xDims(s), w, wDims(s), { stride: [s.sh, s.sw], padding: [s.ph, s.pw] });
        const k = s.c * s.kh * s.kw;
        for (let e = 0; e < y.length; e++) {
          if (!(Math.abs(yp[e] - y[e]) <= 2 * tolerance(k, ref.mag[e]))) return false;
        }
        return true;
      }),
      params(),
    );
  });

  it('invariant when the channels are permuted together (dyadic values: exact)', () => {
    const arb = layerArb(dyadicArb, true).chain((l) =>
      fc.record({ l: fc.constant(l), perm: fc.shuffledSubarray([...Array(l.s.c).keys()], { minLength: l.s.c, maxLength: l.s.c }) }),
    );
    fc.assert(
      fc.property(arb, ({ l: { s, x, w }, perm }) => {
        const plane = s.h * s.w;
        const tap = s.kh * s.kw;
        const xp = new Float32Array(x.length);
        const wp = new Float32Array(w.length);
        for (let n = 0; n < s.n; n++)
          for (let c = 0; c < s.c; c++) xp.set(x.subarray((n * s.c + perm[c]) * plane, (n * s.c + perm[c] + 1) * plane), (n * s.c + c) * plane);
        for (let t = 0; t < s.t; t++)
          for (let c = 0; c < s.c; c++) wp.set(w.subarray((t * s.c + perm[c]) * tap, (t * s.c + perm[c] + 1) * tap), (t * s.c + c) * tap);
        const y = adder(isa, s, x, w);
        const yp = adder(isa, s, xp, wp);
        return yp.every((v, e) => v === y[e]);
      }),
      params(),
    );
  });
});
