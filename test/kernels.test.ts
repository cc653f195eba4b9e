// Every kernel path this CPU supports (forced with setIsa), at 1, 2 and 3
// threads (3: an odd count, more than this 2-core machine has),
// against the independent float64 reference in ./reference.ts and against the
// scalar path, on shapes chosen around the vector widths (8/16/32 floats) and
// register tiles (scalar 4x8; avx2 6x16 / 4x16 / 2x16; avx512 8x32 / 8x32 / 4x32).
// Also the same shapes once per test device (./devices.ts), against the
// reference only, on the device's own kernels (the CPU's default path).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backendInfo, ops, setIsa, setNumThreads, supportedIsas, tensor, type Isa, type Tensor } from '../lib/index';
import { describeEachDevice, onDevice, type TestDevice } from './devices';
import {
  adder2dBackwardRef, adder2dRef, as4d, assertClose, conv2dBackwardRef, conv2dRef, mulberry32,
  randomArray, sizeOf, tolerance, type Pair, type RefGradients, type RefResult,
} from './reference';

interface Case {
  name: string;
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: Pair;
  padding: Pair;
  bias: boolean;
  /** Range of the random values (an offset range stresses the max trick). */
  range?: [number, number];
}

const cases: Case[] = [];
let caseIndex = 0;
function add(x: Case['x'], w: Case['w'], stride: number | Pair = 1, padding: number | Pair = 0, range?: [number, number]): void {
  const s: Pair = typeof stride === 'number' ? [stride, stride] : stride;
  const p: Pair = typeof padding === 'number' ? [padding, padding] : padding;
  const bias = caseIndex++ % 2 === 0;
  cases.push({
    name: `N${x[0]} C${x[1]} ${x[2]}x${x[3]} -> T${w[0]} k${w[2]}x${w[3]} s${s.join(',')} p${p.join(',')}${bias ? ' +bias' : ''}`,
    x, w, stride: s, padding: p, bias, range,
  });
}

// 1x1 layers: positions P = N*H*W and filters T below, at and above every
// vector width and register tile dimension; C cycles through small and prime
// reduction lengths.
{
  const P = [1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 65];
  const T = [1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 17, 33];
  const C = [1, 2, 3, 5, 8, 16, 17];
  let k = 0;
  for (const p of P)
    for (const t of T) {
      const c = C[k++ % C.length];
      // Spread P over N and a non-square H x W where it factors.
      const shape: Case['x'] = p % 2 === 0 && p > 2 ? [2, c, 1, p / 2] : [1, c, p, 1];
      add(shape, [t, c, 1, 1]);
    }
}
// Spatial layers.
add([2, 3, 5, 5], [4, 3, 3, 3], 1, 1);
add([1, 2, 7, 9], [5, 2, 5, 5], 1, 2); // 5x5, padding 2, non-square
add([1, 3, 11, 13], [6, 3, 5, 5], 2, 0); // 5x5, stride 2
add([2, 4, 8, 8], [7, 4, 3, 3], 2, 1); // stride 2, padding 1
add([1, 2, 6, 7], [3, 2, 3, 5], [2, 1], [1, 2]); // KH != KW, stride and padding pairs
add([3, 5, 6, 6], [9, 5, 2, 2], 2, 0); // kernel == stride: patches do not overlap
add([1, 3, 5, 5], [4, 3, 1, 1], 2, 0); // 1x1 stride 2: some inputs are never read
add([1, 2, 3, 3], [3, 2, 1, 1], 2, 1); // 1x1 stride 2 padding 1: some outputs read only padding
add([2, 3, 4, 4], [5, 3, 4, 4], 1, 0); // kernel covers the whole image
add([1, 2, 1, 1], [3, 2, 3, 3], 1, 1); // one pixel, mostly padding
add([1, 3, 3, 3], [2, 3, 3, 3], 1, 2); // padding 2 on a 3x3 input
add([1, 7, 13, 13], [11, 7, 3, 3], 1, 1); // primes
add([1, 3, 20, 20], [10, 3, 3, 3], 1, 1); // N=1, P=400 > one 256-position chunk
add([8, 3, 6, 6], [5, 3, 3, 3], 1, 1); // N >= 4 * threads
add([4, 16, 16, 16], [16, 16, 3, 3], 1, 1); // P = 1024: several position blocks
add([2, 256, 6, 6], [12, 256, 3, 3], 1, 1); // large K = 2304
add([1, 256, 5, 4], [9, 256, 3, 3], 1, 0); // large K, odd T
add([1, 2, 3, 4], [3, 2, 1, 1], 1, 2); // padding wider than the kernel: a border that reads only padding
add([2, 3, 7, 8], [4, 3, 2, 2], 3, 1); // stride > kernel with padding: gaps between patches
add([1, 2, 3, 70], [5, 2, 3, 3], 1, 1); // output rows longer than any register tile
add([2, 3, 8, 8], [70, 3, 3, 3], 1, 1); // many filters: several filter panels on every ISA
add([2, 5, 9, 7], [6, 5, 3, 3], 1, 1, [1.5, 3.5]); // all values offset from zero
add([1, 4, 10, 10], [3, 4, 3, 3], 3, 2, [-3, 3]); // stride 3; HardTanh often saturates

// Seeded random geometries on top of the hand-picked ones.
{
  const rng = mulberry32(424242);
  const int = (lo: number, hi: number) => lo + Math.floor(rng() * (hi - lo + 1));
  for (let i = 0; i < 40; i++) {
    const [kh, kw, ph, pw] = [int(1, 5), int(1, 5), int(0, 2), int(0, 2)];
    const h = Math.max(int(1, 12), kh - 2 * ph);
    const w = Math.max(int(1, 12), kw - 2 * pw);
    const c = int(1, 9);
    add([int(1, 3), c, h, w], [int(1, 20), c, kh, kw], [int(1, 3), int(1, 3)], [ph, pw]);
  }
}

interface LinearCase { n: number; c: number; t: number; bias: boolean }
const linearCases: LinearCase[] = [
  [1, 1, 1], [1, 17, 9], [7, 8, 16], [33, 256, 40], [16, 5, 33], [65, 3, 7], [9, 31, 8], [32, 16, 6],
].map(([n, c, t], i) => ({ n, c, t, bias: i % 2 === 1 }));

interface Fixture {
  x: Tensor; w: Tensor; b?: Tensor; gy: Tensor;
  adder: RefResult; conv: RefResult;
  adderGrad: RefGradients; convGrad: RefGradients;
  /** Reduction lengths: forward, input gradient, weight/bias gradient. */
  k: number; kIn: number; kW: number;
}

function fixture(seed: number, xs: readonly number[], ws: readonly number[], stride: Pair, padding: Pair, bias: boolean, range: [number, number] = [-1, 1]): Fixture {
  const rng = mulberry32(seed);
  const x = tensor(randomArray(rng, sizeOf(xs), ...range), xs);
  const w = tensor(randomArray(rng, sizeOf(ws), ...range), ws);
  const b = bias ? tensor(randomArray(rng, ws[0]), [ws[0]]) : undefined;
  const opts = { stride, padding, bias: b?.dataSync() };
  const adder = adder2dRef(x.dataSync(), xs, w.dataSync(), ws, opts);
  const conv = conv2dRef(x.dataSync(), xs, w.dataSync(), ws, opts);
  const g = adder.geom;
  const gy = tensor(randomArray(rng, g.n * g.t * g.ho * g.wo), [g.n, g.t, g.ho, g.wo]);
  return {
    x, w, b, gy, adder, conv,
    adderGrad: adder2dBackwardRef(x.dataSync(), xs, w.dataSync(), ws, gy.dataSync(), opts),
    convGrad: conv2dBackwardRef(x.dataSync(), xs, w.dataSync(), ws, gy.dataSync(), opts),
    k: g.c * g.kh * g.kw + 1,
    kIn: g.t * g.kh * g.kw,
    kW: g.n * g.ho * g.wo + 1,
  };
}

interface Outputs {
  adder: Float32Array; conv: Float32Array;
  adderGrad: { gx: Float32Array; gw: Float32Array; gb?: Float32Array };
  convGrad: { gx: Float32Array; gw: Float32Array; gb?: Float32Array };
}

/** With `device`, also checks that every output is on it. */
function expectOn(device: TestDevice | undefined, ...ts: (Tensor | undefined)[]): void {
  if (device) for (const t of ts) if (t) expect(t.device).toBe(device);
}

function runConv(f: Fixture, c: Case, device?: TestDevice): Outputs {
  const fwd = { stride: c.stride, padding: c.padding, bias: f.b };
  const bwd = { stride: c.stride, padding: c.padding, bias: c.bias };
  const ag = ops.adder2dBackward(f.x, f.w, f.gy, bwd);
  const cg = ops.conv2dBackward(f.x, f.w, f.gy, bwd);
  const ya = ops.adder2d(f.x, f.w, fwd);
  const yc = ops.conv2d(f.x, f.w, fwd);
  expectOn(device, ya, yc, ag.gradInput, ag.gradWeight, ag.gradBias, cg.gradInput, cg.gradWeight, cg.gradBias);
  return {
    adder: ya.dataSync(),
    conv: yc.dataSync(),
    adderGrad: { gx: ag.gradInput!.dataSync(), gw: ag.gradWeight.dataSync(), gb: ag.gradBias?.dataSync() },
    convGrad: { gx: cg.gradInput!.dataSync(), gw: cg.gradWeight.dataSync(), gb: cg.gradBias?.dataSync() },
  };
}

function runLinear(f: Fixture, c: LinearCase, device?: TestDevice): Outputs {
  const x = f.x.reshape([c.n, c.c]);
  const w = f.w.reshape([c.t, c.c]);
  const gy = f.gy.reshape([c.n, c.t]);
  const ag = ops.adderLinearBackward(x, w, gy, { bias: c.bias });
  const cg = ops.linearBackward(x, w, gy, { bias: c.bias });
  const ya = ops.adderLinear(x, w, f.b);
  const yc = ops.linear(x, w, f.b);
  expect(ya.shape).toEqual([c.n, c.t]);
  expect(ag.gradInput!.shape).toEqual([c.n, c.c]);
  expect(ag.gradWeight.shape).toEqual([c.t, c.c]);
  expectOn(device, ya, yc, ag.gradInput, ag.gradWeight, ag.gradBias, cg.gradInput, cg.gradWeight, cg.gradBias);
  return {
    adder: ya.dataSync(),
    conv: yc.dataSync(),
    adderGrad: { gx: ag.gradInput!.dataSync(), gw: ag.gradWeight.dataSync(), gb: ag.gradBias?.dataSync() },
    convGrad: { gx: cg.gradInput!.dataSync(), gw: cg.gradWeight.dataSync(), gb: cg.gradBias?.dataSync() },
  };
}

// Largest error/tolerance ratio seen, reported at the end: it shows how much
// headroom the tolerance leaves (and whether it could be tightened).
const worst = { ratio: 0 };

/** Checks every output of one run against the float64 reference. */
function checkAgainstReference(label: string, f: Fixture, out: Outputs, bias: boolean): void {
  const fw = (r: RefResult, k: number) => (i: number) => tolerance(k, r.mag[i]);
  assertClose(`${label} adder2d forward`, out.adder, f.adder.value, fw(f.adder, f.k), worst);
  assertClose(`${label} conv2d forward`, out.conv, f.conv.value, fw(f.conv, f.k), worst);
  for (const [name, got, ref] of [
    ['adder2d', out.adderGrad, f.adderGrad],
    ['conv2d', out.convGrad, f.convGrad],
  ] as const) {
    assertClose(`${label} ${name} gradInput`, got.gx, ref.gradInput.value, fw(ref.gradInput, f.kIn), worst);
    assertClose(`${label} ${name} gradWeight`, got.gw, ref.gradWeight.value, fw(ref.gradWeight, f.kW), worst);
    if (bias) assertClose(`${label} ${name} gradBias`, got.gb!, ref.gradBias.value, fw(ref.gradBias, f.kW), worst);
    else if (got.gb !== undefined) throw new Error(`${label} ${name}: gradBias returned without options.bias`);
  }
}

/** Checks a run against the scalar path: both lie within tol of the truth. */
function checkAgainstScalar(label: string, f: Fixture, out: Outputs, scalar: Outputs, bias: boolean): void {
  const fw = (r: RefResult, k: number) => (i: number) => 2 * tolerance(k, r.mag[i]);
  assertClose(`${label} adder2d forward vs scalar`, out.adder, scalar.adder, fw(f.adder, f.k));
  assertClose(`${label} conv2d forward vs scalar`, out.conv, scalar.conv, fw(f.conv, f.k));
  for (const [name, got, s, ref] of [
    ['adder2d', out.adderGrad, scalar.adderGrad, f.adderGrad],
    ['conv2d', out.convGrad, scalar.convGrad, f.convGrad],
  ] as const) {
    assertClose(`${label} ${name} gradInput vs scalar`, got.gx, s.gx, fw(ref.gradInput, f.kIn));
    assertClose(`${label} ${name} gradWeight vs scalar`, got.gw, s.gw, fw(ref.gradWeight, f.kW));
    if (bias) assertClose(`${label} ${name} gradBias vs scalar`, got.gb!, s.gb!, fw(ref.gradBias, f.kW));
  }
}

const isas = supportedIsas();
const initial = backendInfo();
let convFixtures: Fixture[];
let linearFixtures: Fixture[];
let scalarConv: Outputs[];
let scalarLinear: Outputs[];

beforeAll(() => {
  convFixtures = cases.map((c, i) => fixture(1000 + i, c.x, c.w, c.stride, c.padding, c.bias, c.range));
  linearFixtures = linearCases.map((c, i) => fixture(5000 + i, as4d([c.n, c.c]), as4d([c.t, c.c]), [1, 1], [0, 0], c.bias));
  setIsa('scalar');
  setNumThreads(1);
  scalarConv = cases.map((c, i) => runConv(convFixtures[i], c));
  scalarLinear = linearCases.map((c, i) => runLinear(linearFixtures[i], c));
});

afterAll(() => {
  setIsa(initial.isa);
  setNumThreads(initial.threads);
  // Headroom of the tolerance (1 = at the limit).
  console.info(`kernels: worst error / tolerance = ${worst.ratio.toFixed(4)}`);
});

// Every shape on each test device, against the reference: the device's own
// kernels, whatever they are (the scalar cross-check and the ISA / thread
// sweep below are the CPU's). The fixtures are made on the CPU and moved.
describeEachDevice('adder2d / conv2d / linear kernels against the float64 reference', (device) => {
  const { to } = onDevice(device);
  const place = (f: Fixture): Fixture => ({ ...f, x: to(f.x), w: to(f.w), b: f.b && to(f.b), gy: to(f.gy) });
  // On the CPU, the path and thread count it started with (the sweep below forces others).
  const use = (): void => {
    if (device === 'cpu') {
      setIsa(initial.isa);
      setNumThreads(initial.threads);
    }
  };

  it(`adder2d / conv2d forward and backward match the float64 reference (${cases.length} shapes)`, () => {
    use();
    cases.forEach((c, i) => {
      const f = place(convFixtures[i]);
      expect(f.x.device).toBe(device);
      checkAgainstReference(`[${device}] ${c.name}`, f, runConv(f, c, device), c.bias);
    });
  });

  it(`adderLinear / linear forward and backward match the reference (${linearCases.length} shapes)`, () => {
    use();
    linearCases.forEach((c, i) => {
      const f = place(linearFixtures[i]);
      const label = `[${device}] linear N${c.n} C${c.c} T${c.t}${c.bias ? ' +bias' : ''}`;
      checkAgainstReference(label, f, runLinear(f, c, device), c.bias);
    });
  });

  it('gives the same bits when called twice, and inputGrad: false skips only the input gradient', () => {
    use();
    sameBitsTwice(place, device);
  });

  it('leaves the inputs untouched', () => {
    use();
    inputsUntouched(place, device);
  });
});

it('runs on a CPU that offers the scalar path and reports the ISA it uses', () => {
  expect(isas).toContain('scalar');
  for (const isa of isas) {
    setIsa(isa);
    expect(backendInfo().isa).toBe(isa);
  }
});

describe.each(isas.flatMap((isa) => [1, 2, 3].map((threads) => ({ isa, threads }))))(
  '$isa path, $threads thread(s)',
  ({ isa, threads }: { isa: Isa; threads: number }) => {
    const use = () => {
      setIsa(isa);
      setNumThreads(threads);
      expect(backendInfo()).toMatchObject({ isa, threads });
    };

    it(`adder2d / conv2d forward and backward match the float64 reference and the scalar path (${cases.length} shapes)`, () => {
      use();
      cases.forEach((c, i) => {
        const out = runConv(convFixtures[i], c);
        const label = `[${isa} x${threads}] ${c.name}`;
        checkAgainstReference(label, convFixtures[i], out, c.bias);
        checkAgainstScalar(label, convFixtures[i], out, scalarConv[i], c.bias);
      });
    });

    it(`adderLinear / linear forward and backward match the reference (${linearCases.length} shapes)`, () => {
      use();
      linearCases.forEach((c, i) => {
        const out = runLinear(linearFixtures[i], c);
        const label = `[${isa} x${threads}] linear N${c.n} C${c.c} T${c.t}${c.bias ? ' +bias' : ''}`;
        checkAgainstReference(label, linearFixtures[i], out, c.bias);
        checkAgainstScalar(label, linearFixtures[i], out, scalarLinear[i], c.bias);
      });
    });

    it('gives the same bits when called twice, and inputGrad: false skips only the input gradient', () => {
      use();
      sameBitsTwice((f) => f);
    });

    it('leaves the inputs untouched', () => {
      use();
      inputsUntouched((f) => f);
    });
  },
);

/** The large-K case run twice gives the same bits; inputGrad: false leaves out only the input gradient. */
function sameBitsTwice(place: (f: Fixture) => Fixture, device?: TestDevice): void {
  const i = cases.findIndex((c) => c.x[1] === 256);
  const c = cases[i];
  const f = place(convFixtures[i]);
  const a = runConv(f, c, device);
  const b = runConv(f, c, device);
  expect(b.adder).toEqual(a.adder);
  expect(b.conv).toEqual(a.conv);
  expect(b.adderGrad.gw).toEqual(a.adderGrad.gw);
  expect(b.adderGrad.gx).toEqual(a.adderGrad.gx);
  for (const backward of [ops.adder2dBackward, ops.conv2dBackward]) {
    const g = backward(f.x, f.w, f.gy, { stride: c.stride, padding: c.padding, inputGrad: false });
    expect(g.gradInput).toBeUndefined();
    expect(g.gradBias).toBeUndefined();
    expectOn(device, g.gradWeight);
    const full = backward === ops.adder2dBackward ? a.adderGrad.gw : a.convGrad.gw;
    expect(g.gradWeight.dataSync()).toEqual(full);
  }
}

function inputsUntouched(place: (f: Fixture) => Fixture, device?: TestDevice): void {
  const i = cases.findIndex((c) => c.name.startsWith('N2 C3 5x5'));
  const f = place(convFixtures[i]);
  const copies = [f.x, f.w, f.gy].map((t) => t.dataSync().slice());
  runConv(f, cases[i], device);
  [f.x, f.w, f.gy].forEach((t, k) => expect(t.dataSync()).toEqual(copies[k]));
}
