// models.*: LeNet-5-BN and the CIFAR ResNets — structure, reference state-dict
// names, parameter counts, initialisation, seeds — and the authors' trained
// ResNet-20 AdderNet checkpoint reproducing the reference logits. Every
// suite runs on each test device (./devices.ts): models .to(device), inputs
// on the device.
import * as fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { models, nn, readSafetensors, type Model, type Tensor } from '../lib/index';
import { describeEachDevice, onDevice, type TestDevice } from './devices';
import { argmaxRows, caught, CKPT, ensureDist, makeRng, maxAbsDiff, REF_IO, sameBits, sizeOf } from './nn-helpers';

const bnNames = (p: string): string[] => [`${p}.weight`, `${p}.bias`, `${p}.running_mean`, `${p}.running_var`];

/** The reference PyTorch state-dict names (without num_batches_tracked) and shapes of a CIFAR ResNet. */
function referenceResNet(blocksPerStage: number, layer: 'adder' | 'conv', numClasses = 10): Map<string, number[]> {
  const w = layer === 'adder' ? 'adder' : 'weight';
  const out = new Map<string, number[]>();
  const bn = (p: string, c: number) => bnNames(p).forEach((n) => out.set(n, [c]));
  out.set('conv1.weight', [16, 3, 3, 3]);
  bn('bn1', 16);
  let inPlanes = 16;
  [16, 32, 64].forEach((planes, s) => {
    for (let i = 0; i < blocksPerStage; i++) {
      const p = `layer${s + 1}.${i}`;
      out.set(`${p}.conv1.${w}`, [planes, inPlanes, 3, 3]);
      bn(`${p}.bn1`, planes);
      out.set(`${p}.conv2.${w}`, [planes, planes, 3, 3]);
      bn(`${p}.bn2`, planes);
      if (s > 0 && i === 0) {
        out.set(`${p}.downsample.0.${w}`, [planes, inPlanes, 1, 1]);
        bn(`${p}.downsample.1`, planes);
      }
      inPlanes = planes;
    }
  });
  out.set('fc.weight', [numClasses, 64, 1, 1]);
  bn('bn2', numClasses);
  return out;
}

/** Trainable parameters: everything but running statistics. */
function expectedParameterCount(ref: Map<string, number[]>): number {
  let n = 0;
  for (const [name, shape] of ref) if (!/running_(mean|var)$/.test(name)) n += sizeOf(shape);
  return n;
}

const shapesOf = (m: Model): Map<string, number[]> => new Map(Object.entries(m.stateDict()).map(([n, t]) => [n, [...t.shape]]));
const parameterCount = (m: Model): number => m.parameters().reduce((a, p) => a + p.value.size, 0);

function stats(values: ArrayLike<number>) {
  let s = 0;
  let s2 = 0;
  let maxAbs = 0;
  let within1 = 0;
  for (let i = 0; i < values.length; i++) {
    s += values[i];
    s2 += values[i] * values[i];
    maxAbs = Math.max(maxAbs, Math.abs(values[i]));
    if (Math.abs(values[i]) < 1) within1++;
  }
  const mean = s / values.length;
  return { mean, std: Math.sqrt(s2 / values.length - mean * mean), maxAbs, within1: within1 / values.length };
}

function expectKaimingUniform(t: Tensor, fanIn: number, what: string): void {
  const bound = 1 / Math.sqrt(fanIn);
  const st = stats(t.dataSync());
  expect(st.maxAbs, `${what}: every value within 1/sqrt(fan_in) = ${bound}`).toBeLessThanOrEqual(bound);
  if (t.size >= 100) {
    expect(st.maxAbs, `${what}: fills the range`).toBeGreaterThan(0.9 * bound);
    expect(Math.abs(st.mean), `${what}: mean`).toBeLessThan((4 * bound) / Math.sqrt(3 * t.size));
    expect(st.std / (bound / Math.sqrt(3)), `${what}: std of U(-b, b) is b/sqrt(3)`).toBeGreaterThan(0.85);
    expect(st.std / (bound / Math.sqrt(3)), `${what}: std`).toBeLessThan(1.15);
  }
}

/** lib's tensor and zeros on `device`, and place(model): the model moved there with model.to, its parameters checked. */
function on(device: TestDevice) {
  const f = onDevice(device);
  const place = <M extends Model>(m: M): M => {
    expect(m.to(f.device)).toBe(m);
    expect(m.device).toBe(device);
    for (const [name, p] of m.namedParameters()) {
      expect(p.value.device, name).toBe(device);
      expect(p.grad.device, `${name} gradient`).toBe(device);
    }
    for (const [name, t] of Object.entries(m.stateDict())) expect(t.device, name).toBe(device);
    return m;
  };
  return { ...f, place };
}

function expectStandardNormal(values: ArrayLike<number>, what: string): void {
  const st = stats(values);
  const n = values.length;
  expect(Math.abs(st.mean), `${what}: mean of N(0, 1)`).toBeLessThan(5 / Math.sqrt(n));
  expect(Math.abs(st.std - 1), `${what}: std of N(0, 1)`).toBeLessThan(5 / Math.sqrt(2 * n));
  expect(Math.abs(st.within1 - 0.6827), `${what}: P(|w| < 1)`).toBeLessThan(5 * Math.sqrt(0.2166 / n));
}

describeEachDevice('LeNet-5-BN', (device) => {
  const { zeros, place } = on(device);

  it('adder variant: every conv and fc is an adder layer followed by BN; reference-style names', () => {
    const m = place(models.lenet5bn({ layer: 'adder' }));
    expect(m.info).toMatchObject({ arch: 'lenet5bn', inputShape: [1, 28, 28], numClasses: 10 });
    expect([...shapesOf(m)]).toEqual([
      ['conv1.adder', [6, 1, 5, 5]], ['bn1.weight', [6]], ['bn1.bias', [6]],
      ['conv2.adder', [16, 6, 5, 5]], ['bn2.weight', [16]], ['bn2.bias', [16]],
      ['fc1.adder', [120, 400]], ['bn3.weight', [120]], ['bn3.bias', [120]],
      ['fc2.adder', [84, 120]], ['bn4.weight', [84]], ['bn4.bias', [84]],
      ['fc3.adder', [10, 84]], ['bn5.weight', [10]], ['bn5.bias', [10]],
      ...['bn1', 'bn2', 'bn3', 'bn4', 'bn5'].flatMap((b) => [[`${b}.running_mean`, [m.stateDict()[`${b}.running_mean`].size]], [`${b}.running_var`, [m.stateDict()[`${b}.running_var`].size]]]),
    ]);
    const kinds = m.namedParameters().map(([n, p]) => [n, p.kind]);
    expect(kinds.filter(([, k]) => k === 'adder').map(([n]) => n)).toEqual(['conv1.adder', 'conv2.adder', 'fc1.adder', 'fc2.adder', 'fc3.adder']);
    // No multiplicative layer anywhere.
    for (const [name, mod] of m.net.namedModules()) {
      expect(mod instanceof nn.Conv2d || mod instanceof nn.Linear, `${name} is multiplicative`).toBe(false);
    }
    expect(m.forward(zeros([3, 1, 28, 28])).shape).toEqual([3, 10]);
  });

  it('conv variant: the same CNN with multiplications (fc3 with bias, no BN after the classifier)', () => {
    const m = place(models.lenet5bn({ layer: 'conv' }));
    expect([...shapesOf(m).keys()].filter((n) => !n.includes('running'))).toEqual([
      'conv1.weight', 'bn1.weight', 'bn1.bias', 'conv2.weight', 'bn2.weight', 'bn2.bias',
      'fc1.weight', 'bn3.weight', 'bn3.bias', 'fc2.weight', 'bn4.weight', 'bn4.bias', 'fc3.weight', 'fc3.bias',
    ]);
    expect(m.namedParameters().every(([, p]) => p.kind === 'plain')).toBe(true);
    expect(m.forward(zeros([2, 1, 28, 28])).shape).toEqual([2, 10]);
  });

  it('multiply-accumulates of the CNN: conv1 117,600 + conv2 240,000 + fc 58,920 = 416,520 (~417K)', () => {
    const count = (m: Model) => {
      m.eval();
      const perLayer: Record<string, number> = {};
      let x: Tensor = zeros([1, 1, 28, 28]);
      for (const [name, mod] of m.net.children()) {
        const y = mod.forward(x);
        if (mod instanceof nn.Conv2d || mod instanceof nn.Adder2d) {
          const k = mod.weight.value.shape;
          perLayer[name] = y.size * k[1] * k[2] * k[3];
        } else if (mod instanceof nn.Linear || mod instanceof nn.AdderLinear) {
          perLayer[name] = mod.weight.value.size;
        }
        x = y;
      }
      return perLayer;
    };
    const conv = count(place(models.lenet5bn({ layer: 'conv' })));
    expect(conv).toEqual({ conv1: 117_600, conv2: 240_000, fc1: 48_000, fc2: 10_080, fc3: 840 });
    expect(Object.values(conv).reduce((a, b) => a + b)).toBe(416_520);
    // The AdderNet does the same number of |x - w| accumulations instead.
    expect(count(place(models.lenet5bn({ layer: 'adder' })))).toEqual(conv);
  });

  it('initialisation: adder filters N(0, 1); conv/linear Kaiming-uniform 1/sqrt(fan_in); BN 1/0 with running stats 0/1', () => {
    const adder = place(models.lenet5bn({ layer: 'adder', seed: 3 })).stateDict();
    expectStandardNormal(adder['fc1.adder'].dataSync(), 'fc1.adder');
    expectStandardNormal(adder['conv2.adder'].dataSync(), 'conv2.adder');
    const conv = place(models.lenet5bn({ layer: 'conv', seed: 3 })).stateDict();
    expectKaimingUniform(conv['conv1.weight'], 25, 'conv1.weight');
    expectKaimingUniform(conv['conv2.weight'], 150, 'conv2.weight');
    expectKaimingUniform(conv['fc1.weight'], 400, 'fc1.weight');
    expectKaimingUniform(conv['fc2.weight'], 120, 'fc2.weight');
    expectKaimingUniform(conv['fc3.weight'], 84, 'fc3.weight');
    expectKaimingUniform(conv['fc3.bias'], 84, 'fc3.bias');
    for (const sd of [adder, conv]) {
      for (const [n, t] of Object.entries(sd)) {
        if (/bn\d\.(weight|running_var)$/.test(n)) expect([...t.dataSync()].every((v) => v === 1), n).toBe(true);
        if (/bn\d\.(bias|running_mean)$/.test(n)) expect([...t.dataSync()].every((v) => v === 0), n).toBe(true);
      }
    }
  });

  it('rejects an unknown layer kind', () => {
    const err = caught(() => models.lenet5bn({ layer: 'mult' as never }));
    expect(err.code).toBe('ERR_ADDERNET_OPTION');
    expect(err.message).toMatch(/'adder' or 'conv'/);
  });
});

describeEachDevice('CIFAR ResNets', (device) => {
  const { tensor, zeros, place } = on(device);

  for (const [arch, depth, make] of [['resnet20', 3, models.resnet20], ['resnet32', 5, models.resnet32]] as const) {
    for (const layer of ['adder', 'conv'] as const) {
      it(`${arch} (${layer}): state dict names and shapes exactly as the reference`, () => {
        const m = place(make({ layer }));
        const ref = referenceResNet(depth, layer);
        expect(Object.fromEntries(shapesOf(m))).toEqual(Object.fromEntries(ref));
        expect(m.info).toMatchObject({ arch, inputShape: [3, 32, 32], numClasses: 10 });
        // BatchNorm counters as PyTorch's *.num_batches_tracked, one per BN.
        const bns = [...ref.keys()].filter((n) => n.endsWith('.running_mean')).map((n) => n.replace('running_mean', 'num_batches_tracked'));
        expect(Object.keys(m.batchCounters()).sort()).toEqual(bns.sort());
        // Adaptive learning rate applies to exactly the adder filters.
        const adderNames = m.namedParameters().filter(([, p]) => p.kind === 'adder').map(([n]) => n);
        expect(adderNames).toEqual(layer === 'adder' ? [...ref.keys()].filter((n) => n.endsWith('.adder')) : []);
        expect(parameterCount(m)).toBe(expectedParameterCount(ref));
      });
    }
  }

  it('parameter counts: ResNet-20 272,484 (~0.27M), ResNet-32 466,916 (~0.47M)', () => {
    const r20 = parameterCount(place(models.resnet20()));
    const r32 = parameterCount(place(models.resnet32()));
    expect(r20).toBe(272_484);
    expect(r20 / 1e6).toBeCloseTo(0.27, 2);
    expect(r32).toBe(expectedParameterCount(referenceResNet(5, 'adder')));
    expect(r32 / 1e6).toBeCloseTo(0.47, 2);
  });

  it('first conv and classifier are multiplicative; everything in the stages is an adder layer', () => {
    const m = place(models.resnet20({ layer: 'adder' }));
    const convs = [...m.net.namedModules()].filter(([, mod]) => mod instanceof nn.Conv2d).map(([n]) => n);
    expect(convs).toEqual(['conv1', 'fc']);
    const fc = [...m.net.namedModules()].find(([n]) => n === 'fc')![1] as InstanceType<typeof nn.Conv2d>;
    expect(fc.bias).toBeUndefined();
    expect([...m.net.namedModules()].filter(([, mod]) => mod instanceof nn.Adder2d)).toHaveLength(9 * 2 + 2);
  });

  it('numClasses sets the classifier and its BN; the output is [N, numClasses]', () => {
    const m = place(models.resnet20({ numClasses: 100 }));
    const sd = m.stateDict();
    expect(sd['fc.weight'].shape).toEqual([100, 64, 1, 1]);
    expect(sd['bn2.weight'].shape).toEqual([100]);
    expect(m.info.numClasses).toBe(100);
    m.eval();
    expect(m.forward(zeros([2, 3, 32, 32])).shape).toEqual([2, 100]);
  });

  it('initialisation: adder filters N(0, 1), conv Kaiming-uniform bound 1/sqrt(fan_in), BN weight 1 bias 0', () => {
    const adder = place(models.resnet20({ layer: 'adder' })).stateDict();
    const pooled: number[] = [];
    for (const [n, t] of Object.entries(adder)) {
      if (n.endsWith('.adder')) {
        for (const v of t.dataSync()) pooled.push(v);
        if (t.size >= 2000) expectStandardNormal(t.dataSync(), n);
      }
    }
    expect(pooled.length).toBe(269_824);
    expectStandardNormal(pooled, 'all adder filters');
    expectKaimingUniform(adder['conv1.weight'], 27, 'conv1.weight');
    expectKaimingUniform(adder['fc.weight'], 64, 'fc.weight');
    const conv = place(models.resnet20({ layer: 'conv' })).stateDict();
    expectKaimingUniform(conv['layer1.0.conv1.weight'], 144, 'layer1.0.conv1.weight');
    expectKaimingUniform(conv['layer3.2.conv2.weight'], 576, 'layer3.2.conv2.weight');
    expectKaimingUniform(conv['layer2.0.downsample.0.weight'], 16, 'layer2.0.downsample.0.weight');
    for (const sd of [adder, conv]) {
      for (const [n, t] of Object.entries(sd)) {
        if (/(bn\d|downsample\.1)\.(weight|running_var)$/.test(n)) expect([...t.dataSync()].every((v) => v === 1), n).toBe(true);
        if (/(bn\d|downsample\.1)\.(bias|running_mean)$/.test(n)) expect([...t.dataSync()].every((v) => v === 0), n).toBe(true);
      }
    }
  });

  it('seeds are reproducible: the same seed gives identical weights, another seed different ones', () => {
    const a = place(models.resnet20({ seed: 42 })).stateDict();
    const b = place(models.resnet20({ seed: 42 })).stateDict();
    const c = place(models.resnet20({ seed: 43 })).stateDict();
    for (const n of Object.keys(a)) expect(sameBits(b[n].dataSync(), a[n].dataSync()), n).toBe(true);
    expect(sameBits(c['layer1.0.conv1.adder'].dataSync(), a['layer1.0.conv1.adder'].dataSync())).toBe(false);
    expect(sameBits(c['conv1.weight'].dataSync(), a['conv1.weight'].dataSync())).toBe(false);
    expect(sameBits(place(models.resnet20()).stateDict()['fc.weight'].dataSync(), place(models.resnet20({ seed: 0 })).stateDict()['fc.weight'].dataSync())).toBe(true);
    const l1 = place(models.lenet5bn({ layer: 'conv', seed: 7 })).stateDict();
    const l2 = place(models.lenet5bn({ layer: 'conv', seed: 7 })).stateDict();
    for (const n of Object.keys(l1)) expect(sameBits(l2[n].dataSync(), l1[n].dataSync()), n).toBe(true);
  });

  it('forward and backward on a batch give finite, non-zero gradients for every parameter', () => {
    const rng = makeRng(5);
    const m = place(models.resnet20({ layer: 'adder' }));
    const x = tensor(rng.normalArray(2 * 3 * 32 * 32), [2, 3, 32, 32]);
    const y = m.forward(x);
    expect(y.shape).toEqual([2, 10]);
    expect(y.device).toBe(device);
    m.backward(tensor(rng.normalArray(20), [2, 10]));
    for (const [n, p] of m.namedParameters()) {
      expect(p.grad.dataSync().every(Number.isFinite), n).toBe(true);
      expect(p.grad.dataSync().some((v) => v !== 0), `${n} has a gradient`).toBe(true);
    }
  });

  it('rejects inputs of the wrong shape with ERR_ADDERNET_SHAPE', () => {
    const m = place(models.resnet20());
    const err = caught(() => m.forward(zeros([2, 1, 28, 28])));
    expect(err.code).toBe('ERR_ADDERNET_SHAPE');
    expect(err.message).toMatch(/\[N, 3, 32, 32\]/);
  });
});

describeEachDevice('the authors\' trained ResNet-20 AdderNet (shared fixture)', (device) => {
  const { tensor, place } = on(device);

  let io: ReturnType<typeof readSafetensors>;
  let x: Tensor;
  let ref64: Float64Array;
  const models20: Model[] = [];

  beforeAll(() => {
    ensureDist();
    io = readSafetensors(REF_IO);
    const input = io.get('input')!;
    x = tensor(input.data as Float32Array, input.shape);
    ref64 = io.get('logits_float64')!.data as Float64Array;
  });
  afterAll(async () => {
    await Promise.all(models20.map((m) => m.dispose()));
  });

  it('has exactly the tensors of models.resnet20({ layer: "adder" }) under DataParallel\'s module. prefix', () => {
    const file = readSafetensors(CKPT);
    const m = place(models.resnet20({ layer: 'adder' }));
    const own = new Map([...shapesOf(m), ...Object.keys(m.batchCounters()).map((n) => [n, [1]] as [string, number[]])]);
    const names = [...file.keys()];
    expect(names.every((n) => n.startsWith('module.'))).toBe(true);
    expect(new Map(names.map((n) => [n.slice(7), file.get(n)!.shape]))).toEqual(own);
    const counter = file.get('module.bn1.num_batches_tracked')!;
    expect(counter.dtype).toBe('I64');
  });

  it('reproduces the reference float64 logits within 1e-3 in eval mode (forward and predict), argmax agrees', async () => {
    const m = place(models.resnet20({ layer: 'adder' }));
    models20.push(m);
    m.loadStateDict(CKPT);
    expect(m.batchCounters()['layer3.2.bn2.num_batches_tracked']).toBe(
      Number((readSafetensors(CKPT).get('module.layer3.2.bn2.num_batches_tracked')!.data as BigInt64Array)[0]),
    );
    m.eval();
    const y = m.forward(x);
    expect(y.shape).toEqual([8, 10]);
    expect(y.device).toBe(device);
    const err = maxAbsDiff(y.dataSync(), ref64);
    console.log(`fixture: max |logits - logits_float64| = ${err.toExponential(3)} (forward)`);
    expect(err).toBeLessThanOrEqual(1e-3);
    expect(argmaxRows(y.dataSync(), 8, 10)).toEqual(argmaxRows(ref64, 8, 10));

    const p = await m.predict(x);
    const errP = maxAbsDiff(p.dataSync(), ref64);
    console.log(`fixture: max |logits - logits_float64| = ${errP.toExponential(3)} (predict)`);
    expect(errP).toBeLessThanOrEqual(1e-3);
    expect(argmaxRows(p.dataSync(), 8, 10)).toEqual(argmaxRows(ref64, 8, 10));
    // The reference's own float32 logits are about as far from float64.
    expect(maxAbsDiff(io.get('logits')!.data as Float32Array, ref64)).toBeLessThanOrEqual(1e-3);
  });

  it('predict works on a model that is still in training mode (it always runs eval mode)', async () => {
    const m = place(models.resnet20({ layer: 'adder' }));
    models20.push(m);
    m.loadStateDict(CKPT);
    expect(m.training).toBe(true);
    const p = await m.predict(x);
    expect(maxAbsDiff(p.dataSync(), ref64)).toBeLessThanOrEqual(1e-3);
    expect(m.training).toBe(true);
  });

  it('loads equally from a path, a readSafetensors map and a plain record', () => {
    const file = readSafetensors(CKPT);
    const fromMap = place(models.resnet20()).loadStateDict(file).eval();
    const fromRecord = place(models.resnet20()).loadStateDict(Object.fromEntries(file)).eval();
    const fromPath = place(models.resnet20()).loadStateDict(CKPT).eval();
    const y = fromPath.forward(x).dataSync();
    expect(sameBits(fromMap.forward(x).dataSync(), y)).toBe(true);
    expect(sameBits(fromRecord.forward(x).dataSync(), y)).toBe(true);
  });

  it('does not load into the conv variant or into ResNet-32 (clear errors naming the tensor and file)', () => {
    const conv = caught(() => place(models.resnet20({ layer: 'conv' })).loadStateDict(CKPT));
    expect(conv.code).toBe('ERR_ADDERNET_FORMAT');
    expect(conv.message).toContain('module.layer1.0.conv1.adder');
    expect(conv.message).toContain(CKPT);
    const r32 = caught(() => place(models.resnet32()).loadStateDict(CKPT));
    expect(r32.code).toBe('ERR_ADDERNET_FORMAT');
    expect(r32.message).toMatch(/layer1\.3|layer1\.4/);
  });

  it('fixture files are present (the tests above need ../shared/fixtures)', () => {
    expect(fs.existsSync(CKPT) && fs.existsSync(REF_IO)).toBe(true);
  });
});
