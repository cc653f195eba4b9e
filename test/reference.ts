// An independent float64 reference of SPEC.md (../shared/SPEC.md), written as
// direct loops over the formulas, plus the helpers the kernel tests share:
// a seeded RNG, random tensors and a tolerance scaled by the reduction length.
//
// Nothing here calls the library except to wrap arrays as Tensors.
import { tensor, type Tensor } from '../lib/index';

export type Pair = [number, number];
type Data = ArrayLike<number>;

/** Geometry of one layer call, named as in SPEC.md. */
export interface Geom {
  n: number; c: number; h: number; w: number;
  t: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number;
  ho: number; wo: number;
}

export function pairOf(v: number | readonly number[] | undefined, fallback: number): Pair {
  if (v === undefined) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : [v[0], v[1]];
}

export function geom(
  xShape: readonly number[], wShape: readonly number[],
  stride: number | Pair = 1, padding: number | Pair = 0,
): Geom {
  const [n, c, h, w] = xShape;
  const [t, cw, kh, kw] = wShape;
  if (cw !== c) throw new Error(`reference: channel mismatch ${c} vs ${cw}`);
  const [sh, sw] = pairOf(stride, 1);
  const [ph, pw] = pairOf(padding, 0);
  const ho = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const wo = Math.floor((w + 2 * pw - kw) / sw) + 1;
  if (ho < 1 || wo < 1) throw new Error('reference: output smaller than 1');
  return { n, c, h, w, t, kh, kw, sh, sw, ph, pw, ho, wo };
}

/**
 * Visits every (output element, tap) pair: yi indexes Y[n,t,i,j], wi indexes
 * F[t,c,u,v], xi indexes X[n,c,h,w] or is -1 when the tap lies in the zero
 * padding of Xp.
 */
function forEachTap(g: Geom, fn: (yi: number, wi: number, xi: number) => void): void {
  for (let n = 0; n < g.n; n++)
    for (let t = 0; t < g.t; t++)
      for (let i = 0; i < g.ho; i++)
        for (let j = 0; j < g.wo; j++) {
          const yi = ((n * g.t + t) * g.ho + i) * g.wo + j;
          for (let c = 0; c < g.c; c++)
            for (let u = 0; u < g.kh; u++)
              for (let v = 0; v < g.kw; v++) {
                const h = i * g.sh + u - g.ph;
                const w = j * g.sw + v - g.pw;
                const inside = h >= 0 && h < g.h && w >= 0 && w < g.w;
                const xi = inside ? ((n * g.c + c) * g.h + h) * g.w + w : -1;
                const wi = ((t * g.c + c) * g.kh + u) * g.kw + v;
                fn(yi, wi, xi);
              }
        }
}

/**
 * `value` is the float64 result; `mag` holds, per element, the sum of the
 * magnitudes that a float32 implementation has to add up to get it. It is
 * what rounding errors scale with (see `tolerance`).
 */
export interface RefResult { value: Float64Array; mag: Float64Array }

export interface RefGradients {
  gradInput: RefResult;
  gradWeight: RefResult;
  gradBias: RefResult;
}

export interface RefOptions { stride?: number | Pair; padding?: number | Pair; bias?: Data }

function forward(
  x: Data, xShape: readonly number[], w: Data, wShape: readonly number[], opts: RefOptions,
  term: (xv: number, wv: number) => number, magTerm: (xv: number, wv: number) => number,
): RefResult & { geom: Geom } {
  const g = geom(xShape, wShape, opts.stride, opts.padding);
  const size = g.n * g.t * g.ho * g.wo;
  const value = new Float64Array(size);
  const mag = new Float64Array(size);
  forEachTap(g, (yi, wi, xi) => {
    const xv = xi >= 0 ? x[xi] : 0; // padded taps take part with X = 0
    value[yi] += term(xv, w[wi]);
    mag[yi] += magTerm(xv, w[wi]);
  });
  if (opts.bias) {
    const hw = g.ho * g.wo;
    for (let e = 0; e < size; e++) {
      const b = opts.bias[Math.floor(e / hw) % g.t];
      value[e] += b;
      mag[e] += Math.abs(b);
    }
  }
  return { value, mag, geom: g };
}

/** Y[n,t,i,j] = -sum_{c,u,v} |Xp[n,c,i*SH+u,j*SW+v] - F[t,c,u,v]| (+ b[t]). */
export function adder2dRef(x: Data, xShape: readonly number[], w: Data, wShape: readonly number[], opts: RefOptions = {}) {
  // The magnitude covers |x| + |w| rather than |x - w|: an implementation using
  // |x - w| = 2 max(x, w) - x - w adds up values of that size.
  return forward(x, xShape, w, wShape, opts, (xv, wv) => -Math.abs(xv - wv), (xv, wv) => Math.abs(xv) + Math.abs(wv));
}

/** Cross-correlation: Y[n,t,i,j] = sum_{c,u,v} Xp[...] * F[t,c,u,v] (+ b[t]). */
export function conv2dRef(x: Data, xShape: readonly number[], w: Data, wShape: readonly number[], opts: RefOptions = {}) {
  return forward(x, xShape, w, wShape, opts, (xv, wv) => xv * wv, (xv, wv) => Math.abs(xv * wv));
}

function backward(
  x: Data, xShape: readonly number[], w: Data, wShape: readonly number[], gy: Data, opts: RefOptions,
  gxTerm: (xv: number, wv: number) => number, gwTerm: (xv: number, wv: number) => number,
  gxMag: (xv: number, wv: number) => number, gwMag: (xv: number, wv: number) => number,
): RefGradients & { geom: Geom } {
  const g = geom(xShape, wShape, opts.stride, opts.padding);
  const gx = new Float64Array(g.n * g.c * g.h * g.w);
  const gxm = new Float64Array(gx.length);
  const gw = new Float64Array(g.t * g.c * g.kh * g.kw);
  const gwm = new Float64Array(gw.length);
  forEachTap(g, (yi, wi, xi) => {
    const xv = xi >= 0 ? x[xi] : 0;
    const wv = w[wi];
    const gv = gy[yi];
    gw[wi] += gwTerm(xv, wv) * gv; // padded taps contribute with X = 0
    gwm[wi] += gwMag(xv, wv) * Math.abs(gv);
    if (xi >= 0) {
      // padded positions receive no gradient
      gx[xi] += gxTerm(xv, wv) * gv;
      gxm[xi] += gxMag(xv, wv) * Math.abs(gv);
    }
  });
  const gb = new Float64Array(g.t);
  const gbm = new Float64Array(g.t);
  const hw = g.ho * g.wo;
  for (let n = 0; n < g.n; n++)
    for (let t = 0; t < g.t; t++)
      for (let q = 0; q < hw; q++) {
        const gv = gy[(n * g.t + t) * hw + q];
        gb[t] += gv;
        gbm[t] += Math.abs(gv);
      }
  return {
    gradInput: { value: gx, mag: gxm },
    gradWeight: { value: gw, mag: gwm },
    gradBias: { value: gb, mag: gbm },
    geom: g,
  };
}

/** HardTanh: min(1, max(-1, z)). */
export const hardTanh = (z: number): number => Math.min(1, Math.max(-1, z));

/**
 * SPEC backward of the adder layer:
 *   dF[t,c,u,v] = sum_{n,i,j} (Xp - F) * G             (full precision, not sign)
 *   dX[n,c,h,w] = sum HT(F - X) * G over the taps that read X[n,c,h,w]
 *   db[t]       = sum_{n,i,j} G
 */
export function adder2dBackwardRef(
  x: Data, xShape: readonly number[], w: Data, wShape: readonly number[], gy: Data, opts: RefOptions = {},
) {
  return backward(
    x, xShape, w, wShape, gy, opts,
    (xv, wv) => hardTanh(wv - xv),
    (xv, wv) => xv - wv,
    // HT(F - X) is computed from a float32 difference; bound it by 1.
    () => 1,
    // sum G*X - F*sum G (the GEMM form) adds terms of size |X||G| and |F||G|.
    (xv, wv) => Math.abs(xv) + Math.abs(wv),
  );
}

/** Conv backward: dF = sum Xp * G, dX = sum F * G, db = sum G. */
export function conv2dBackwardRef(
  x: Data, xShape: readonly number[], w: Data, wShape: readonly number[], gy: Data, opts: RefOptions = {},
) {
  return backward(
    x, xShape, w, wShape, gy, opts,
    (_xv, wv) => wv,
    (xv) => xv,
    (_xv, wv) => Math.abs(wv),
    (xv) => Math.abs(xv),
  );
}

/** The fully connected adder / linear layer as the 1x1 case on [N, C]. */
export function as4d(shape: readonly number[]): number[] {
  return [shape[0], shape[1], 1, 1];
}

// ---------------------------------------------------------------------------
// Randomness

/** mulberry32: a small, fast, seedable PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(rng: () => number, size: number, lo = -1, hi = 1): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = lo + (hi - lo) * rng();
  return out;
}

export function randomTensor(rng: () => number, shape: readonly number[], lo = -1, hi = 1): Tensor {
  return tensor(randomArray(rng, shape.reduce((a, b) => a * b, 1), lo, hi), shape);
}

// ---------------------------------------------------------------------------
// Tolerance

/** Unit roundoff of float32. */
export const U32 = 2 ** -24;

/**
 * Allowed |float32 result - exact| for one element reduced over `length`
 * terms whose magnitudes sum to `mag`: rounding errors of a float32 sum grow
 * like sqrt(length) * u * mag in practice (the worst-case bound is length * u *
 * mag). The largest error measured on these kernels is about 1.6 such
 * units, so the default factor 8 leaves 5x headroom while staying far below
 * the size of one term at the largest K tested (K = 2304: tol ~ 0.05).
 */
export function tolerance(length: number, mag: number, factor = 8): number {
  return factor * U32 * Math.sqrt(Math.max(1, length)) * mag + 1e-30;
}

export interface Mismatch {
  index: number;
  actual: number;
  expected: number;
  tol: number;
}

/**
 * First element where |actual - expected| > tol(i) (NaN always fails), or
 * null. `worst` receives the largest error/tol ratio seen.
 */
export function firstMismatch(
  actual: ArrayLike<number>, expected: ArrayLike<number>, tol: (i: number) => number,
  worst?: { ratio: number },
): Mismatch | null {
  if (actual.length !== expected.length) {
    return { index: -1, actual: actual.length, expected: expected.length, tol: 0 };
  }
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    const t = tol(i);
    if (worst && t > 0) worst.ratio = Math.max(worst.ratio, err / t);
    if (!(err <= t)) return { index: i, actual: actual[i], expected: expected[i], tol: t };
  }
  return null;
}

/** Throws a readable error when `actual` is not within `tol` of `expected`. */
export function assertClose(
  what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tol: (i: number) => number,
  worst?: { ratio: number },
): void {
  const m = firstMismatch(actual, expected, tol, worst);
  if (m) {
    if (m.index < 0) throw new Error(`${what}: length ${m.actual}, expected ${m.expected}`);
    throw new Error(
      `${what}: element ${m.index} is ${m.actual}, expected ${m.expected} ` +
        `(|diff| ${Math.abs(m.actual - m.expected).toExponential(3)} > tol ${m.tol.toExponential(3)})`,
    );
  }
}
