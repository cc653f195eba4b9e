// Backward of every layer (lib/nn/layers.ts).
//
// Ordinary layers (Conv2d, Linear, BatchNorm, ReLU, pooling, Flatten,
// Sequential, the conv BasicBlock) are checked element by element against
// central finite differences of the layer's own forward, on the scalar
// L = sum(r * y) for a random projection r (so backward(r) is dL/dx).
//
// Adder layers do not use their true derivative: SPEC.md prescribes the
// full-precision filter gradient and the HardTanh input gradient. Those are
// computed in float64 straight from the SPEC formulas (./reference.ts), and
// the adder BasicBlock is checked against a float64 re-implementation built
// from them. Every suite runs on each test device (./devices.ts): layers are
// placed with moduleOn, inputs with onDevice.
import { describe, expect, it } from 'vitest';
import { nn, tensor, type Tensor } from '../lib/index';
import type { Module } from '../lib/nn/module';
import { describeEachDevice, moduleOn, onDevice, type TestDevice } from './devices';
import { makeRng, maxAbs, maxAbsDiff, randTensor as hostRandTensor, sizeOf, type TestRng } from './nn-helpers';
import { adderBackward64, adderForward64, basicBlock64, dot, geom, type ParamRef } from './reference';

// ---- Finite differences -------------------------------------------------------

interface FdOptions {
  /** Step of the central difference (default 1e-2; smooth layers in float32 like a large one). */
  eps?: number;
  /** |fd - analytic| <= atol + rtol * |analytic| + rounding noise / step (defaults 2e-4 and 2e-3). */
  atol?: number;
  rtol?: number;
  /** Skip the input gradient (a first layer). */
  noInput?: boolean;
}

interface FdReport {
  checked: number;
  worst: number;
}

/**
 * Compares backward() with central differences for every input element and
 * every parameter element. The actual float32 steps (x + eps rounded) are used
 * as the denominator, so rounding of the step itself does not count as error,
 * and the bound includes the float32 rounding noise of the loss divided by the
 * step. Composites with ReLU or max pooling are only piecewise smooth: a step
 * can straddle a kink. An element that misses at the first step is retried
 * with smaller steps (down to eps/64) and counted as a kink; kinks must stay
 * rare (a wrong backward misses almost everywhere), and an element that misses
 * at every step while its one-sided differences agree (smooth) fails at once.
 */
function fdCheck(mod: Module, x: Tensor, rng: TestRng, opts: FdOptions = {}): FdReport {
  const { eps = 1e-2, atol = 2e-4, rtol = 2e-3 } = opts;
  mod.train();
  const y = mod.forward(x);
  const r = rng.normalArray(y.size);
  const gx = mod.backward(tensor(r, y.shape).to(x.device));
  expect(gx.device).toBe(x.device);
  const analytic = new Map<string, Float32Array>();
  // Each perturbed tensor with a host copy of its elements; set() writes one element through to it.
  const targets: [string, Float32Array, Tensor][] = [];
  if (!opts.noInput) {
    expect(gx.shape).toEqual(x.shape);
    analytic.set('input', gx.dataSync());
    targets.push(['input', x.dataSync(), x]);
  }
  for (const [name, p] of mod.namedParameters()) {
    analytic.set(name, p.grad.dataSync());
    targets.push([name, p.value.dataSync(), p.value]);
  }
  const loss = (): number => dot(mod.forward(x).dataSync(), r);
  const y0 = mod.forward(x).dataSync();
  const l0 = dot(y0, r);
  let lossMagnitude = 0;
  for (let i = 0; i < y0.length; i++) lossMagnitude += Math.abs(y0[i] * r[i]);
  let checked = 0;
  let kinks = 0;
  let worst = 0;
  const maxKinks = Math.max(3, 0.03 * targets.reduce((a, [, arr]) => a + arr.length, 0));
  for (const [name, arr, t] of targets) {
    const an = analytic.get(name)!;
    const set = (i: number, value: number): void => {
      arr[i] = value;
      t.storage.write(arr.subarray(i, i + 1), i);
    };
    for (let i = 0; i < arr.length; i++) {
      const v = arr[i];
      checked++;
      let last = '';
      let smooth = false;
      for (let h = eps; h >= eps / 64; h /= 4) {
        set(i, v + h);
        const hp = arr[i] - v;
        const lp = loss();
        set(i, v - h);
        const hm = v - arr[i];
        const lm = loss();
        set(i, v);
        const fd = (lp - lm) / (hp + hm);
        const bound = atol + rtol * Math.abs(an[i]) + (2 * 6e-8 * lossMagnitude) / h;
        const err = Math.abs(fd - an[i]);
        if (err <= bound) {
          if (h === eps) worst = Math.max(worst, err / bound);
          else kinks++;
          last = '';
          break;
        }
        const fwd = (lp - l0) / hp;
        const bwd = (l0 - lm) / hm;
        smooth = Math.abs(fwd - bwd) <= bound;
        last = `step ${h}: backward ${an[i]}, central difference ${fd} (bound ${bound}), one-sided ${fwd} and ${bwd}`;
      }
      if (last) {
        if (smooth) throw new Error(`${mod.constructor.name}: d/d ${name}[${i}]: mismatch where the loss is smooth (${last})`);
        kinks++;
      }
      if (kinks > maxKinks) throw new Error(`${mod.constructor.name}: more than ${maxKinks} elements miss at the first step; d/d ${name}[${i}]: ${last}`);
    }
  }
  if (process.env.FD_DEBUG) console.log(mod.constructor.name, { checked, kinks, worst });
  return { checked, worst };
}

/**
 * Directional derivative of L = sum(r * y) with respect to the whole input,
 * along random directions, against backward(r): checks the input gradient with
 * a signal that sums over every element (sharper than per-element differences
 * where many small gradients sit near float32 noise). Returns the worst
 * relative error over `directions` directions. With ReLU kinks the error at a
 * given step is partly kink crossings (large steps) and partly float32 noise
 * (small steps), so callers take the best of a few steps: a wrong gradient is
 * off at every step.
 */
function directionalCheck(mod: Module, x: Tensor, rng: TestRng, h: number, directions = 4): number {
  mod.train();
  const y = mod.forward(x);
  const r = rng.normalArray(y.size);
  const gx = mod.backward(tensor(r, y.shape).to(x.device)).dataSync().slice();
  const base = x.dataSync().slice();
  let worst = 0;
  for (let k = 0; k < directions; k++) {
    const d = rng.normalArray(x.size);
    const at = (s: number): number => {
      const moved = new Float32Array(base.length);
      for (let i = 0; i < base.length; i++) moved[i] = base[i] + s * d[i];
      return dot(mod.forward(tensor(moved, x.shape).to(x.device)).dataSync(), r);
    };
    const fd = (at(h) - at(-h)) / (2 * h);
    const an = dot(gx, d);
    worst = Math.max(worst, Math.abs(fd - an) / Math.max(Math.abs(an), 1e-3));
  }
  if (process.env.FD_DEBUG) console.log('directional', mod.constructor.name, worst);
  return worst;
}

/** Values spaced at least `gap` apart (in random order): no ties and no kinks crossed by small steps. On the CPU. */
function distinctTensor(rng: TestRng, shape: number[], gap = 0.05): Tensor {
  const n = sizeOf(shape);
  const vals = Float32Array.from({ length: n }, (_, i) => (i - n / 2 + 0.5) * gap);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [vals[i], vals[j]] = [vals[j], vals[i]];
  }
  return tensor(vals, shape);
}

function randomizeBn(bn: Module, rng: TestRng): void {
  for (const [name, p] of bn.namedParameters()) {
    const d = p.value.dataSync();
    for (let i = 0; i < d.length; i++) d[i] = name.endsWith('weight') ? rng.uniform(0.5, 1.5) : rng.uniform(-0.5, 0.5);
    p.value.storage.write(d);
  }
}

/** The device-placed factories of a suite body: lib's tensor, nn-helpers' randTensor and distinctTensor, and layers. */
function on(device: TestDevice) {
  const { tensor, to } = onDevice(device);
  return {
    tensor,
    randTensor: (...args: Parameters<typeof hostRandTensor>): Tensor => to(hostRandTensor(...args)),
    distinctTensor: (...args: Parameters<typeof distinctTensor>): Tensor => to(distinctTensor(...args)),
    /** The layer, moved to the device, its parameters checked to be there. */
    place: <M extends Module>(m: M): M => {
      moduleOn(m, device);
      for (const [name, p] of m.namedParameters()) expect(p.value.device, name).toBe(device);
      return m;
    },
  };
}

describeEachDevice('ordinary layers: backward against central finite differences', (device) => {
  const { randTensor, distinctTensor, place } = on(device);

  it('Conv2d (bias, stride 2, padding 1)', () => {
    const rng = makeRng(1);
    const conv = place(new nn.Conv2d({ inChannels: 3, outChannels: 4, kernelSize: 3, stride: 2, padding: 1 }));
    const rep = fdCheck(conv, randTensor(rng, [2, 3, 7, 7]), rng);
    expect(rep.checked).toBe(2 * 3 * 7 * 7 + 4 * 3 * 3 * 3 + 4);
  });

  it('Conv2d (rectangular kernel, per-axis stride and padding, no bias)', () => {
    const rng = makeRng(2);
    const conv = place(new nn.Conv2d({ inChannels: 2, outChannels: 3, kernelSize: [3, 2], stride: [1, 2], padding: [1, 0], bias: false }));
    expect([...conv.namedParameters()].map(([n]) => n)).toEqual(['weight']);
    fdCheck(conv, randTensor(rng, [2, 2, 5, 6]), rng);
  });

  it('Conv2d as a first layer (needsInputGrad false) still gets its weight gradient', () => {
    const rng = makeRng(3);
    const conv = place(new nn.Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1 }));
    conv.needsInputGrad = false;
    fdCheck(conv, randTensor(rng, [2, 2, 4, 4]), rng, { noInput: true });
  });

  it('Linear (with and without bias)', () => {
    const rng = makeRng(4);
    fdCheck(place(new nn.Linear({ inFeatures: 7, outFeatures: 5 })), randTensor(rng, [4, 7]), rng);
    const noBias = place(new nn.Linear({ inFeatures: 6, outFeatures: 3, bias: false }));
    expect([...noBias.namedParameters()].map(([n]) => n)).toEqual(['weight']);
    fdCheck(noBias, randTensor(rng, [3, 6]), rng);
  });

  it('BatchNorm2d in training mode (batch statistics; weight and bias gradients)', () => {
    const rng = makeRng(5);
    const bn = place(new nn.BatchNorm2d({ numFeatures: 4 }));
    randomizeBn(bn, rng);
    fdCheck(bn, randTensor(rng, [3, 4, 3, 3], -2, 2), rng, { eps: 1e-2 });
  });

  it('BatchNorm1d in training mode', () => {
    const rng = makeRng(6);
    const bn = place(new nn.BatchNorm1d({ numFeatures: 5 }));
    randomizeBn(bn, rng);
    fdCheck(bn, randTensor(rng, [6, 5], -2, 2), rng);
  });

  it('ReLU (inputs away from the kink)', () => {
    const rng = makeRng(7);
    fdCheck(place(new nn.ReLU()), distinctTensor(rng, [2, 3, 4, 4], 0.05), rng, { eps: 1e-3 });
  });

  it('MaxPool2d (2x2; and 3x3 stride 2 padding 1)', () => {
    const rng = makeRng(8);
    fdCheck(place(new nn.MaxPool2d({ kernelSize: 2 })), distinctTensor(rng, [2, 3, 6, 6]), rng, { eps: 1e-3 });
    fdCheck(place(new nn.MaxPool2d({ kernelSize: 3, stride: 2, padding: 1 })), distinctTensor(rng, [2, 2, 7, 7]), rng, { eps: 1e-3 });
  });

  it('AvgPool2d (2x2; and 3x3 stride 2 padding 1, padding counted)', () => {
    const rng = makeRng(9);
    fdCheck(place(new nn.AvgPool2d({ kernelSize: 2 })), randTensor(rng, [2, 3, 6, 6]), rng);
    fdCheck(place(new nn.AvgPool2d({ kernelSize: 3, stride: 2, padding: 1 })), randTensor(rng, [2, 2, 7, 7]), rng);
  });

  it('GlobalAvgPool2d', () => {
    const rng = makeRng(10);
    const gap = place(new nn.GlobalAvgPool2d());
    expect(gap.forward(randTensor(rng, [2, 3, 4, 5])).shape).toEqual([2, 3]);
    fdCheck(gap, randTensor(rng, [2, 3, 4, 5]), rng);
  });

  it('Flatten', () => {
    const rng = makeRng(11);
    const f = place(new nn.Flatten());
    expect(f.forward(randTensor(rng, [2, 3, 2, 2])).shape).toEqual([2, 12]);
    fdCheck(f, randTensor(rng, [2, 3, 2, 2]), rng);
  });

  it('Sequential: Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d -> Flatten -> Linear -> BatchNorm1d', () => {
    const rng = makeRng(12);
    const seq = place(new nn.Sequential([
      new nn.Conv2d({ inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1 }),
      new nn.BatchNorm2d({ numFeatures: 3 }),
      new nn.ReLU(),
      new nn.MaxPool2d({ kernelSize: 2 }),
      new nn.Flatten(),
      new nn.Linear({ inFeatures: 27, outFeatures: 5 }),
      new nn.BatchNorm1d({ numFeatures: 5 }),
    ]));
    expect([...seq.namedParameters()].map(([n]) => n)).toEqual([
      '0.weight', '0.bias', '1.weight', '1.bias', '5.weight', '5.bias', '6.weight', '6.bias',
    ]);
    const x = randTensor(rng, [4, 2, 6, 6]);
    const rep = fdCheck(seq, x, rng, { eps: 1e-3, atol: 1e-3, rtol: 5e-3 });
    expect(rep.checked).toBeGreaterThan(300);
    expect(directionalCheck(seq, x, rng, 1e-3)).toBeLessThan(5e-3);
  });

  it('BasicBlock, conv variant, identity shortcut', () => {
    const rng = makeRng(13);
    const block = place(new nn.BasicBlock({ inPlanes: 4, planes: 4, stride: 1, layer: 'conv' }));
    expect([...block.namedParameters()].map(([n]) => n)).toEqual([
      'conv1.weight', 'bn1.weight', 'bn1.bias', 'conv2.weight', 'bn2.weight', 'bn2.bias',
    ]);
    for (const [, m] of block.namedModules()) if (m instanceof nn.BatchNorm2d) randomizeBn(m, rng);
    const x = randTensor(rng, [2, 4, 5, 5]);
    fdCheck(block, x, rng, { eps: 1e-4, atol: 1e-3, rtol: 5e-3 });
    expect(Math.min(...[1e-3, 3e-4, 1e-4].map((h) => directionalCheck(block, x, rng, h)))).toBeLessThan(1e-2);
  });

  it('backward leaves the caller\'s gradOut alone unless told it is consumable', () => {
    // Sequential -> BasicBlock -> ReLU write gradients in place only into
    // tensors the caller gives up; the results must not depend on it.
    for (const stride of [1, 2]) {
      const rng = makeRng(15 + stride);
      const seq = place(new nn.Sequential([
        new nn.BasicBlock({ inPlanes: 3, planes: 3, stride: 1, layer: 'conv' }),
        new nn.BasicBlock({ inPlanes: 3, planes: 4, stride, layer: 'conv' }),
      ]));
      const x = randTensor(rng, [2, 3, 6, 6]);
      const y = seq.forward(x);
      const g = randTensor(rng, [...y.shape]);
      const before = g.dataSync().slice();
      const kept = seq.backward(g).dataSync().slice();
      expect(g.dataSync()).toEqual(before);
      seq.forward(x);
      const consumed = seq.backward(g, true).dataSync();
      expect(consumed).toEqual(kept);
    }
  });

  it('BasicBlock, conv variant, downsampling shortcut (1x1 stride 2 + BN)', () => {
    const rng = makeRng(14);
    const block = place(new nn.BasicBlock({ inPlanes: 3, planes: 4, stride: 2, layer: 'conv' }));
    expect([...block.namedParameters()].map(([n]) => n)).toEqual([
      'conv1.weight', 'bn1.weight', 'bn1.bias', 'conv2.weight', 'bn2.weight', 'bn2.bias',
      'downsample.0.weight', 'downsample.1.weight', 'downsample.1.bias',
    ]);
    for (const [, m] of block.namedModules()) if (m instanceof nn.BatchNorm2d) randomizeBn(m, rng);
    const x = randTensor(rng, [2, 3, 6, 6]);
    expect(block.forward(x).shape).toEqual([2, 4, 3, 3]);
    fdCheck(block, x, rng, { eps: 2e-4, atol: 1e-3, rtol: 5e-3 });
    expect(Math.min(...[1e-3, 3e-4, 1e-4].map((h) => directionalCheck(block, x, rng, h)))).toBeLessThan(1e-2);
  });

  it('parameter gradients are set by each backward, not accumulated', () => {
    const rng = makeRng(15);
    const lin = place(new nn.Linear({ inFeatures: 4, outFeatures: 3 }));
    const x = randTensor(rng, [2, 4]);
    const g = randTensor(rng, [2, 3]);
    lin.forward(x);
    lin.backward(g);
    const first = lin.weight.grad.dataSync();
    lin.forward(x);
    lin.backward(g);
    expect(lin.weight.grad.dataSync()).toEqual(first);
  });

  it('backward without a training-mode forward throws a clear error', () => {
    const rng = makeRng(16);
    const relu = place(new nn.ReLU());
    expect(() => relu.backward(randTensor(rng, [2, 2]))).toThrow(/backward\(\) called without a forward\(\)/);
    const conv = place(new nn.Conv2d({ inChannels: 1, outChannels: 1, kernelSize: 1 }));
    conv.eval();
    const x = randTensor(rng, [1, 1, 2, 2]);
    conv.forward(x);
    expect(() => conv.backward(x)).toThrow(/Conv2d\.backward\(\) called without a forward\(\) in training mode/);
  });
});

describeEachDevice('BatchNorm forward semantics (PyTorch: momentum 0.1, eps 1e-5)', (device) => {
  const { tensor, randTensor, place } = on(device);

  it('normalises with batch statistics, updates running mean and unbiased running variance, and uses them in eval', () => {
    const rng = makeRng(20);
    const [N, C, H, W] = [3, 2, 2, 3];
    const bn = place(new nn.BatchNorm2d({ numFeatures: C }));
    randomizeBn(bn, rng);
    const x = randTensor(rng, [N, C, H, W], -3, 3);
    const y = bn.forward(x);
    const M = N * H * W;
    const mean = new Float64Array(C);
    const varB = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      let s = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) s += x.dataSync()[(n * C + c) * H * W + i];
      mean[c] = s / M;
      let v = 0;
      for (let n = 0; n < N; n++) for (let i = 0; i < H * W; i++) v += (x.dataSync()[(n * C + c) * H * W + i] - mean[c]) ** 2;
      varB[c] = v / M;
    }
    const gamma = bn.weight.value.dataSync();
    const beta = bn.bias.value.dataSync();
    const want = new Float64Array(x.size);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let i = 0; i < H * W; i++) {
          const k = (n * C + c) * H * W + i;
          want[k] = ((x.dataSync()[k] - mean[c]) / Math.sqrt(varB[c] + 1e-5)) * gamma[c] + beta[c];
        }
    expect(maxAbsDiff(y.dataSync(), want)).toBeLessThan(1e-5);
    for (let c = 0; c < C; c++) {
      expect(bn.runningMean.dataSync()[c]).toBeCloseTo(0.1 * mean[c], 6);
      expect(bn.runningVar.dataSync()[c]).toBeCloseTo(0.9 + 0.1 * varB[c] * (M / (M - 1)), 6);
    }
    expect(bn.numBatchesTracked).toBe(1);

    bn.eval();
    const ye = bn.forward(x);
    for (let n = 0; n < N; n++)
      for (let c = 0; c < C; c++)
        for (let i = 0; i < H * W; i++) {
          const k = (n * C + c) * H * W + i;
          want[k] = ((x.dataSync()[k] - bn.runningMean.dataSync()[c]) / Math.sqrt(bn.runningVar.dataSync()[c] + 1e-5)) * gamma[c] + beta[c];
        }
    expect(maxAbsDiff(ye.dataSync(), want)).toBeLessThan(1e-5);
    expect(bn.numBatchesTracked).toBe(1); // eval leaves the statistics alone
  });

  it('rejects an input of the wrong rank with ERR_ADDERNET_SHAPE', () => {
    const bn = place(new nn.BatchNorm1d({ numFeatures: 3 }));
    expect(() => bn.forward(tensor(new Float32Array(12), [1, 3, 2, 2]))).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_SHAPE' }));
  });
});

// ---- Adder layers: the SPEC formulas in float64 ----------------------------------

/** Every |got - want| <= rel * mag + abs (rounding errors of float32 sums scale with mag). */
function expectWithin(got: ArrayLike<number>, want: ArrayLike<number>, mag: ArrayLike<number>, rel: number, abs: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const bound = rel * mag[i] + abs;
    if (!(Math.abs(got[i] - want[i]) <= bound)) {
      throw new Error(`${what}[${i}]: got ${got[i]}, SPEC formula ${want[i]} (|diff| ${Math.abs(got[i] - want[i])} > ${bound})`);
    }
  }
}

describeEachDevice('adder layers: backward equals the SPEC formulas (not finite differences)', (device) => {
  const { randTensor, place } = on(device);

  const cases: { name: string; x: number[]; t: number; k: [number, number]; stride: [number, number]; pad: [number, number]; bias?: boolean }[] = [
    { name: '3x3, stride 2, padding 1', x: [2, 3, 7, 7], t: 4, k: [3, 3], stride: [2, 2], pad: [1, 1] },
    { name: '3x3, stride 1, padding 1, with bias', x: [2, 3, 5, 5], t: 5, k: [3, 3], stride: [1, 1], pad: [1, 1], bias: true },
    { name: 'rectangular 3x2 kernel, stride [1, 2], padding [1, 0]', x: [2, 2, 5, 6], t: 3, k: [3, 2], stride: [1, 2], pad: [1, 0] },
    { name: '1x1 stride 2 (the downsampling shortcut)', x: [2, 4, 6, 6], t: 3, k: [1, 1], stride: [2, 2], pad: [0, 0] },
  ];

  for (const cs of cases) {
    it(`Adder2d ${cs.name}`, () => {
      const rng = makeRng(100 + cases.indexOf(cs));
      const layer = place(new nn.Adder2d({
        inChannels: cs.x[1], outChannels: cs.t, kernelSize: cs.k, stride: cs.stride, padding: cs.pad, bias: cs.bias ?? false,
      }));
      expect([...layer.namedParameters()].map(([n, p]) => [n, p.kind])).toEqual(
        cs.bias ? [['adder', 'adder'], ['b', 'plain']] : [['adder', 'adder']],
      );
      // Inputs straddle the filters (N(0,1)) so |F - X| falls both inside and outside HardTanh's linear range.
      const x = randTensor(rng, cs.x, -1.5, 1.5);
      const f = layer.weight.value.dataSync();
      const g = geom(cs.x, layer.weight.value.shape, cs.stride, cs.pad);

      const y = layer.forward(x);
      expect(y.shape).toEqual([g.n, g.t, g.ho, g.wo]);
      expect(y.device).toBe(device);
      const fw = adderForward64(x.dataSync(), g, f);
      if (cs.bias) {
        const b = layer.bias!.value.dataSync();
        for (let k = 0; k < fw.y.length; k++) fw.y[k] += b[Math.floor(k / (g.ho * g.wo)) % g.t];
      }
      expectWithin(y.dataSync(), fw.y, fw.mag, 1e-6, 1e-6, 'Y');

      const gy = randTensor(rng, [g.n, g.t, g.ho, g.wo]);
      const gx = layer.backward(gy);
      expect([gx.device, layer.weight.grad.device]).toEqual([device, device]);
      const ref = adderBackward64(x.dataSync(), g, f, gy.dataSync());
      expectWithin(layer.weight.grad.dataSync(), ref.gw, ref.gwMag, 2e-5, 1e-6, 'dL/dF (full precision)');
      expectWithin(gx.dataSync(), ref.gx, ref.gxMag, 2e-5, 1e-6, 'dL/dX (HardTanh)');
      if (cs.bias) {
        const gb = new Float64Array(g.t);
        for (let k = 0; k < gy.size; k++) gb[Math.floor(k / (g.ho * g.wo)) % g.t] += gy.dataSync()[k];
        expect(maxAbsDiff(layer.bias!.grad.dataSync(), gb)).toBeLessThan(1e-5);
      }
      // The test can tell: the full-precision gradient is far from the true (sign) derivative.
      expect(maxAbsDiff(ref.gw, ref.gwSign)).toBeGreaterThan(0.5);
    });
  }

  it('AdderLinear: Y = -sum |X - F|, full-precision filter gradient, HardTanh input gradient', () => {
    const rng = makeRng(120);
    const layer = place(new nn.AdderLinear({ inFeatures: 6, outFeatures: 5 }));
    expect(layer.weight.value.shape).toEqual([5, 6]);
    expect([...layer.namedParameters()].map(([n, p]) => [n, p.kind])).toEqual([['adder', 'adder']]);
    const x = randTensor(rng, [4, 6], -1.5, 1.5);
    const f = layer.weight.value.dataSync();
    const g = geom([4, 6, 1, 1], [5, 6, 1, 1], [1, 1], [0, 0]);
    const y = layer.forward(x);
    expect(y.shape).toEqual([4, 5]);
    const fw = adderForward64(x.dataSync(), g, f);
    expectWithin(y.dataSync(), fw.y, fw.mag, 1e-6, 1e-6, 'Y');
    const gy = randTensor(rng, [4, 5]);
    const gx = layer.backward(gy);
    expect(gx.shape).toEqual([4, 6]);
    const ref = adderBackward64(x.dataSync(), g, f, gy.dataSync());
    expectWithin(layer.weight.grad.dataSync(), ref.gw, ref.gwMag, 2e-5, 1e-6, 'dL/dF');
    expectWithin(gx.dataSync(), ref.gx, ref.gxMag, 2e-5, 1e-6, 'dL/dX');
  });

  it('AdderLinear with bias: bias gradient is sum over the batch', () => {
    const rng = makeRng(121);
    const layer = place(new nn.AdderLinear({ inFeatures: 3, outFeatures: 2, bias: true }));
    const x = randTensor(rng, [5, 3]);
    layer.forward(x);
    const gy = randTensor(rng, [5, 2]);
    layer.backward(gy);
    for (let t = 0; t < 2; t++) {
      let s = 0;
      for (let n = 0; n < 5; n++) s += gy.dataSync()[n * 2 + t];
      expect(layer.bias!.grad.dataSync()[t]).toBeCloseTo(s, 5);
    }
  });
});

// ---- Adder BasicBlock against a float64 re-implementation (basicBlock64) -------------

describeEachDevice('BasicBlock, adder variant, against a float64 re-implementation of the SPEC formulas', (device) => {
  const { randTensor, place } = on(device);

  const cases = [
    { name: 'identity shortcut', inPlanes: 4, planes: 4, stride: 1, x: [2, 4, 5, 5] },
    { name: 'downsampling shortcut (1x1 adder stride 2 + BN)', inPlanes: 3, planes: 4, stride: 2, x: [2, 3, 6, 6] },
  ];
  for (const cs of cases) {
    it(cs.name, () => {
      const rng = makeRng(200 + cases.indexOf(cs));
      const block = place(new nn.BasicBlock({ inPlanes: cs.inPlanes, planes: cs.planes, stride: cs.stride, layer: 'adder' }));
      const params = Object.fromEntries(block.namedParameters());
      expect(Object.keys(params)).toEqual([
        'conv1.adder', 'bn1.weight', 'bn1.bias', 'conv2.adder', 'bn2.weight', 'bn2.bias',
        ...(cs.stride !== 1 ? ['downsample.0.adder', 'downsample.1.weight', 'downsample.1.bias'] : []),
      ]);
      for (const [, m] of block.namedModules()) if (m instanceof nn.BatchNorm2d) randomizeBn(m, rng);
      const x = randTensor(rng, cs.x, -1, 2);
      block.train();
      const y = block.forward(x);
      const gy = randTensor(rng, [...y.shape]);
      const gx = block.backward(gy);
      expect([y.device, gx.device]).toEqual([device, device]);
      const refParams: Record<string, ParamRef> = Object.fromEntries(
        Object.entries(params).map(([name, p]) => [name, { data: p.value.dataSync(), shape: p.value.shape }]),
      );
      const ref = basicBlock64({ d: Float64Array.from(x.dataSync()), s: cs.x }, refParams, cs.stride, gy.dataSync());

      const close = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
        const err = maxAbsDiff(got, want);
        const scale = maxAbs(want);
        expect(err, `${what}: max |diff| ${err} vs max |want| ${scale}`).toBeLessThanOrEqual(2e-4 * scale + 1e-6);
      };
      close(y.dataSync(), ref.out, 'output');
      close(gx.dataSync(), ref.gx, 'input gradient');
      for (const [name, p] of Object.entries(params)) close(p.grad.dataSync(), ref.grads[name], `gradient of ${name}`);
      expect(maxAbs(gx.dataSync())).toBeGreaterThan(0);
    });
  }
});
