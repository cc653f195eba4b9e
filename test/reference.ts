// Every plain JavaScript reference of the tests, in one place (as
// cpp/reference.cc holds the native ones): independent float64
// implementations of SPEC.md (../shared/SPEC.md) and of the PyTorch
// semantics the training ops follow, written as direct loops over the
// formulas, by op family (conv, norm, activation, pool, loss, optim, and the
// adder BasicBlock built from them); plus the helpers the kernel tests share:
// a seeded RNG, random tensors and a tolerance scaled by the reduction length.
//
// Nothing here calls the library except to wrap arrays as Tensors.
import { tensor, type Tensor } from '../lib/index';

export type Pair = [number, number];
type Data = ArrayLike<number>;

/** Number of elements of a shape. */
export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** sum_i a[i] * b[i] in float64. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

// ---------------------------------------------------------------------------
// Conv family: adder2d / conv2d (and the linear layers as their 1x1 case)

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
export function forEachTap(g: Geom, fn: (yi: number, wi: number, xi: number) => void): void {
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

/**
 * adder2dRef on a Geom, in the form the layer tests use: Y = -sum |Xp - F|
 * and `mag`, the sum of |X| + |F| each output adds up.
 */
export function adderForward64(x: Data, g: Geom, f: Data): { y: Float64Array; mag: Float64Array } {
  const r = adder2dRef(x, [g.n, g.c, g.h, g.w], f, [g.t, g.c, g.kh, g.kw], { stride: [g.sh, g.sw], padding: [g.ph, g.pw] });
  return { y: r.value, mag: r.mag };
}

/**
 * adder2dBackwardRef on a Geom (full-precision filter gradient gw and
 * HardTanh input gradient gx, with their magnitudes), plus gwSign, the true
 * derivative sum sign(Xp - F) * G, for contrast.
 */
export function adderBackward64(x: Data, g: Geom, f: Data, gy: Data) {
  const r = adder2dBackwardRef(x, [g.n, g.c, g.h, g.w], f, [g.t, g.c, g.kh, g.kw], gy, { stride: [g.sh, g.sw], padding: [g.ph, g.pw] });
  const gwSign = new Float64Array(r.gradWeight.value.length);
  forEachTap(g, (yi, wi, xi) => {
    const xv = xi >= 0 ? x[xi] : 0;
    gwSign[wi] += Math.sign(xv - f[wi]) * gy[yi];
  });
  return { gx: r.gradInput.value, gxMag: r.gradInput.mag, gw: r.gradWeight.value, gwMag: r.gradWeight.mag, gwSign };
}

// ---------------------------------------------------------------------------
// Norm family: batch norm

export interface BnRef {
  y: Float64Array;
  mean: Float64Array;
  invstd: Float64Array;
}

/** PyTorch batch norm on [N, C] or [N, C, H, W]; updates rm / rv (unbiased variance) when training. */
export function batchNormRef(
  x: Data, shape: readonly number[], gamma: Data, beta: Data,
  rm: Float64Array, rv: Float64Array, training: boolean, momentum = 0.1, eps = 1e-5,
): BnRef {
  const [n, c] = shape;
  const hw = shape.length === 4 ? shape[2] * shape[3] : 1;
  const m = n * hw;
  const y = new Float64Array(x.length);
  const mean = new Float64Array(c);
  const invstd = new Float64Array(c);
  const at = (i: number, ch: number, q: number): number => (i * c + ch) * hw + q;
  for (let ch = 0; ch < c; ch++) {
    let mu: number;
    let variance: number;
    if (training) {
      let s = 0;
      for (let i = 0; i < n; i++) for (let q = 0; q < hw; q++) s += x[at(i, ch, q)];
      mu = s / m;
      let ss = 0;
      for (let i = 0; i < n; i++) for (let q = 0; q < hw; q++) ss += (x[at(i, ch, q)] - mu) ** 2;
      variance = ss / m;
      rm[ch] = (1 - momentum) * rm[ch] + momentum * mu;
      rv[ch] = (1 - momentum) * rv[ch] + momentum * (ss / (m - 1));
    } else {
      mu = rm[ch];
      variance = rv[ch];
    }
    mean[ch] = mu;
    invstd[ch] = 1 / Math.sqrt(variance + eps);
    for (let i = 0; i < n; i++) {
      for (let q = 0; q < hw; q++) y[at(i, ch, q)] = (x[at(i, ch, q)] - mu) * invstd[ch] * gamma[ch] + beta[ch];
    }
  }
  return { y, mean, invstd };
}

/** A float64 tensor: elements and shape. */
export interface T64 {
  d: Float64Array;
  s: number[];
}

/** Training-mode batch norm of an [N, C, H, W] T64 (eps 1e-5), keeping what bnBackward64 needs. */
export function bnForward64(x: T64, gamma: Data, beta: Data) {
  const [N, C, H, W] = x.s;
  const hw = H * W;
  const M = N * hw;
  const xhat = new Float64Array(x.d.length);
  const y = new Float64Array(x.d.length);
  const invStd = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < hw; i++) s += x.d[(n * C + c) * hw + i];
    const mean = s / M;
    let v = 0;
    for (let n = 0; n < N; n++) for (let i = 0; i < hw; i++) v += (x.d[(n * C + c) * hw + i] - mean) ** 2;
    invStd[c] = 1 / Math.sqrt(v / M + 1e-5);
    for (let n = 0; n < N; n++)
      for (let i = 0; i < hw; i++) {
        const k = (n * C + c) * hw + i;
        xhat[k] = (x.d[k] - mean) * invStd[c];
        y[k] = xhat[k] * gamma[c] + beta[c];
      }
  }
  return { y: { d: y, s: x.s } as T64, xhat, invStd };
}

/** The batch-norm backward (batch statistics) for bnForward64's cache. */
export function bnBackward64(g: Float64Array, cache: ReturnType<typeof bnForward64>, gamma: Data) {
  const [N, C, H, W] = cache.y.s;
  const hw = H * W;
  const M = N * hw;
  const gx = new Float64Array(g.length);
  const gGamma = new Float64Array(C);
  const gBeta = new Float64Array(C);
  for (let c = 0; c < C; c++) {
    for (let n = 0; n < N; n++)
      for (let i = 0; i < hw; i++) {
        const k = (n * C + c) * hw + i;
        gBeta[c] += g[k];
        gGamma[c] += g[k] * cache.xhat[k];
      }
    for (let n = 0; n < N; n++)
      for (let i = 0; i < hw; i++) {
        const k = (n * C + c) * hw + i;
        gx[k] = ((gamma[c] * cache.invStd[c]) / M) * (M * g[k] - gBeta[c] - cache.xhat[k] * gGamma[c]);
      }
  }
  return { gx, gGamma, gBeta };
}

// ---------------------------------------------------------------------------
// Activation family

export const relu64 = (x: Float64Array): Float64Array => x.map((v) => (v > 0 ? v : 0));
/** ReLU backward from the forward's output y. */
export const reluGrad64 = (y: Float64Array, g: Float64Array): Float64Array => g.map((v, i) => (y[i] > 0 ? v : 0));

// ---------------------------------------------------------------------------
// Pool family

export interface PoolRef {
  y: Float64Array;
  argmax: Int32Array;
  outShape: number[];
}

/** Max (PyTorch scan order, -inf padding) and average (count_include_pad) pooling. */
export function poolRef(
  kind: 'max' | 'avg', x: Data, shape: readonly number[],
  k: [number, number], s: [number, number], p: [number, number],
): PoolRef {
  const [n, c, h, w] = shape;
  const ho = Math.floor((h + 2 * p[0] - k[0]) / s[0]) + 1;
  const wo = Math.floor((w + 2 * p[1] - k[1]) / s[1]) + 1;
  const y = new Float64Array(n * c * ho * wo);
  const argmax = new Int32Array(y.length);
  for (let plane = 0; plane < n * c; plane++) {
    for (let i = 0; i < ho; i++) {
      for (let j = 0; j < wo; j++) {
        let best = -Infinity;
        let arg = -1;
        let sum = 0;
        for (let u = 0; u < k[0]; u++) {
          for (let v = 0; v < k[1]; v++) {
            const ih = i * s[0] - p[0] + u;
            const iw = j * s[1] - p[1] + v;
            if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
            const val = x[plane * h * w + ih * w + iw];
            sum += val;
            if (arg < 0 || val > best || Number.isNaN(val)) {
              best = val;
              arg = ih * w + iw;
            }
          }
        }
        const o = (plane * ho + i) * wo + j;
        y[o] = kind === 'max' ? best : sum / (k[0] * k[1]);
        argmax[o] = arg;
      }
    }
  }
  return { y, argmax, outShape: [n, c, ho, wo] };
}

// ---------------------------------------------------------------------------
// Loss family

/** Mean softmax cross-entropy over n rows of k logits, the count of rows whose first maximum is the label, and dL/dz. */
export function crossEntropyRef(z: Data, labels: Data, n: number, k: number): { loss: number; correct: number; grad: Float64Array } {
  let loss = 0;
  let correct = 0;
  const grad = new Float64Array(n * k);
  for (let r = 0; r < n; r++) {
    let top = 0;
    for (let j = 1; j < k; j++) if (z[r * k + j] > z[r * k + top]) top = j;
    const zmax = z[r * k + top];
    let total = 0;
    for (let j = 0; j < k; j++) total += Math.exp(z[r * k + j] - zmax);
    loss += zmax + Math.log(total) - z[r * k + labels[r]];
    if (top === labels[r]) correct++;
    for (let j = 0; j < k; j++) grad[r * k + j] = (Math.exp(z[r * k + j] - zmax) / total - (j === labels[r] ? 1 : 0)) / n;
  }
  return { loss: loss / n, correct, grad };
}

// ---------------------------------------------------------------------------
// Optim family

export interface SgdRefOptions {
  lr: number; momentum: number; dampening?: number; weightDecay: number; nesterov: boolean;
  /** The first step sets the momentum buffer to the gradient (torch.optim.SGD). */
  firstStep: boolean;
}

/** One torch.optim.SGD step in float64, updating param and buf in place. */
export function sgdStepRef(param: Float64Array, buf: Float64Array, grad: Data, o: SgdRefOptions): void {
  const damp = o.dampening ?? 0;
  for (let i = 0; i < param.length; i++) {
    let d = grad[i] + o.weightDecay * param[i];
    if (o.momentum !== 0) {
      buf[i] = o.firstStep ? d : o.momentum * buf[i] + (1 - damp) * d;
      d = o.nesterov ? d + o.momentum * buf[i] : buf[i];
    }
    param[i] -= o.lr * d;
  }
}

export interface AdamRefOptions {
  lr: number; betas: readonly [number, number]; eps: number; weightDecay: number;
  /** AdamW: param *= 1 - lr * weightDecay instead of grad += weightDecay * param. */
  decoupled?: boolean;
  amsgrad?: boolean;
  /** 1-based step number (bias correction). */
  step: number;
}

/** Adam's running averages (and AMSGrad's maximum), zeros before the first step. */
export interface AdamRefState { expAvg: Float64Array; expAvgSq: Float64Array; maxExpAvgSq: Float64Array }

export const adamRefState = (n: number): AdamRefState =>
  ({ expAvg: new Float64Array(n), expAvgSq: new Float64Array(n), maxExpAvgSq: new Float64Array(n) });

/**
 * One torch.optim.Adam (AdamW when decoupled) step in float64, from the
 * formulas: m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2, v' = max(v', v) with
 * AMSGrad, param -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 */
export function adamStepRef(param: Float64Array, state: AdamRefState, grad: Data, o: AdamRefOptions): void {
  const [b1, b2] = o.betas;
  const bias1 = 1 - b1 ** o.step;
  const bias2 = 1 - b2 ** o.step;
  const { expAvg: m, expAvgSq: v, maxExpAvgSq: vmax } = state;
  for (let i = 0; i < param.length; i++) {
    let g = grad[i];
    if (o.decoupled) param[i] *= 1 - o.lr * o.weightDecay;
    else g += o.weightDecay * param[i];
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    let s = v[i];
    if (o.amsgrad) s = vmax[i] = Math.max(vmax[i], v[i]);
    param[i] -= ((o.lr / bias1) * m[i]) / (Math.sqrt(s) / Math.sqrt(bias2) + o.eps);
  }
}

/** SPEC.md's adaptive learning rate: eta * sqrt(k) / max(||g||, 1e-12) * g, and its norm ||g||. */
export function adaptiveScaleRef(g: Data, eta: number): { scaled: Float64Array; norm: number } {
  const s = Float64Array.from(g);
  const norm = Math.sqrt(s.reduce((a, v) => a + v * v, 0));
  const alpha = (eta * Math.sqrt(s.length)) / Math.max(norm, 1e-12);
  return { scaled: s.map((v) => alpha * v), norm };
}

// ---------------------------------------------------------------------------
// The adder BasicBlock, composed of the references above

/** A parameter of the reference block: its elements and shape. */
export interface ParamRef { data: Data; shape: readonly number[] }

function adderLayer64(x: T64, f: Data, fShape: readonly number[], stride: number, pad: number) {
  const g = geom(x.s, fShape, stride, pad);
  return {
    y: { d: adderForward64(x.d, g, f).y, s: [g.n, g.t, g.ho, g.wo] } as T64,
    backward: (gy: Float64Array) => adderBackward64(x.d, g, f, gy),
  };
}

/**
 * The adder BasicBlock in float64 (training mode): conv1 -> bn1 -> relu ->
 * conv2 -> bn2, + shortcut (identity, or a 1x1 adder layer + BN when
 * p has 'downsample.0.adder'), relu; backward with SPEC's adder gradients.
 * p is keyed by the block's parameter names.
 */
export function basicBlock64(x: T64, p: Record<string, ParamRef>, stride: number, gOut: Data) {
  const a1 = adderLayer64(x, p['conv1.adder'].data, p['conv1.adder'].shape, stride, 1);
  const b1 = bnForward64(a1.y, p['bn1.weight'].data, p['bn1.bias'].data);
  const r1: T64 = { d: relu64(b1.y.d), s: b1.y.s };
  const a2 = adderLayer64(r1, p['conv2.adder'].data, p['conv2.adder'].shape, 1, 1);
  const b2 = bnForward64(a2.y, p['bn2.weight'].data, p['bn2.bias'].data);
  const hasDs = 'downsample.0.adder' in p;
  let sc = x.d;
  let ad: ReturnType<typeof adderLayer64> | undefined;
  let bd: ReturnType<typeof bnForward64> | undefined;
  if (hasDs) {
    ad = adderLayer64(x, p['downsample.0.adder'].data, p['downsample.0.adder'].shape, stride, 0);
    bd = bnForward64(ad.y, p['downsample.1.weight'].data, p['downsample.1.bias'].data);
    sc = bd.y.d;
  }
  const out = relu64(b2.y.d.map((v, i) => v + sc[i]));

  const grads: Record<string, Float64Array> = {};
  const g = reluGrad64(out, Float64Array.from(gOut));
  const gb2 = bnBackward64(g, b2, p['bn2.weight'].data);
  grads['bn2.weight'] = gb2.gGamma;
  grads['bn2.bias'] = gb2.gBeta;
  const ga2 = a2.backward(gb2.gx);
  grads['conv2.adder'] = ga2.gw;
  const gb1 = bnBackward64(reluGrad64(r1.d, ga2.gx), b1, p['bn1.weight'].data);
  grads['bn1.weight'] = gb1.gGamma;
  grads['bn1.bias'] = gb1.gBeta;
  const ga1 = a1.backward(gb1.gx);
  grads['conv1.adder'] = ga1.gw;
  const gx = ga1.gx.slice();
  if (hasDs) {
    const gbd = bnBackward64(g, bd!, p['downsample.1.weight'].data);
    grads['downsample.1.weight'] = gbd.gGamma;
    grads['downsample.1.bias'] = gbd.gBeta;
    const gad = ad!.backward(gbd.gx);
    grads['downsample.0.adder'] = gad.gw;
    for (let i = 0; i < gx.length; i++) gx[i] += gad.gx[i];
  } else {
    for (let i = 0; i < gx.length; i++) gx[i] += g[i];
  }
  return { out, gx, grads };
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
  return tensor(randomArray(rng, sizeOf(shape), lo, hi), shape);
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

/** The quantized adder layer from its definition: sum |qxp - qw| with qxp padded by padValue (int32, exact). */
export function adder2dU8Ref(
  qx: Uint8Array, xShape: readonly number[], qw: Uint8Array, wShape: readonly number[],
  stride: [number, number], padding: [number, number], padValue: number,
): Int32Array {
  const [n, c, h, w] = xShape;
  const [t, , kh, kw] = wShape;
  const ho = Math.floor((h + 2 * padding[0] - kh) / stride[0]) + 1;
  const wo = Math.floor((w + 2 * padding[1] - kw) / stride[1]) + 1;
  const out = new Int32Array(n * t * ho * wo);
  for (let b = 0; b < n; b++)
    for (let f = 0; f < t; f++)
      for (let i = 0; i < ho; i++)
        for (let j = 0; j < wo; j++) {
          let acc = 0;
          for (let ch = 0; ch < c; ch++)
            for (let u = 0; u < kh; u++)
              for (let v = 0; v < kw; v++) {
                const y = i * stride[0] + u - padding[0], x = j * stride[1] + v - padding[1];
                const xv = y >= 0 && y < h && x >= 0 && x < w ? qx[((b * c + ch) * h + y) * w + x] : padValue;
                acc += Math.abs(xv - qw[((f * c + ch) * kh + u) * kw + v]);
              }
          out[((b * t + f) * ho + i) * wo + j] = acc;
        }
  return out;
}
