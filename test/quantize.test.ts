// quantize(): the grid (0.0 exact), the clipping identity, the quantized
// layer's error against the float layer (bounded by the grid step), BatchNorm
// folding, LeNet-5-BN on the bundled MNIST at 8/6/5/4 bits, the authors'
// ResNet-20, quantized checkpoints (round trip, hostile files) and the errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  data, evaluate, fit, loadModel, Model, models, nn, quantize, QuantizedModel, readSafetensors, recalibrateBatchNorm, saveModel, tensor,
  writeSafetensors, type Dataset, type Tensor,
} from '../lib/index';
import { gridFor, quantizeValues } from '../lib/nn/quantize';
import { caught, CKPT, ensureDist, makeRng, REF_IO } from './nn-helpers';

let tmp: string;
beforeAll(() => {
  ensureDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-quant-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const rng = makeRng(10);

/** A dataset of random images (labels unused by quantize). */
function randomData(n: number, shape: [number, number, number], lo: number, hi: number): Dataset {
  return { images: rng.uniformArray(n * shape[0] * shape[1] * shape[2], lo, hi), labels: new Int32Array(n), shape, numClasses: 1 };
}

/** A one-layer (or layer + BatchNorm) model around `modules`, for layer-level checks. */
function wrap(modules: Record<string, nn.Module>, inputShape: [number, number, number]): Model {
  return new Model(new nn.Sequential(modules), { arch: 'custom', options: {}, inputShape, numClasses: 1 });
}

async function outputs(m: Model, ds: Dataset): Promise<Float32Array> {
  const y = await m.predict(tensor(ds.images, [ds.labels.length, ...ds.shape]));
  return y.dataSync();
}

function layerOf(q: QuantizedModel, name: string) {
  const l = q.quantizedLayers().get(name);
  expect(l).toBeDefined();
  return l!.quantized;
}

describe('the grid', () => {
  it('widens the range to include 0.0 and makes it exactly the integer zero point', () => {
    for (const bits of [4, 5, 6, 7, 8]) {
      const qmax = 2 ** bits - 1;
      for (const [lo, hi] of [[-0.4242, 2.8215], [0.5, 2], [-3, -1], [0, 0], [0, 7.5], [-1e-9, 1e3]]) {
        const { scale, zeroPoint } = gridFor(lo, hi, bits);
        expect(Number.isInteger(zeroPoint) && zeroPoint >= 0 && zeroPoint <= qmax).toBe(true);
        expect(scale).toBeGreaterThan(0);
        expect(quantizeValues([0], scale, zeroPoint, bits)[0]).toBe(zeroPoint);
        // The grid's ends cover [min(lo, 0), max(hi, 0)] to within half a step.
        expect(-zeroPoint * scale).toBeLessThanOrEqual(Math.min(lo, 0) + scale / 2 + 1e-12);
        expect((qmax - zeroPoint) * scale).toBeGreaterThanOrEqual(Math.max(hi, 0) - scale / 2 - 1e-9);
      }
      expect(gridFor(0.5, 2, bits).zeroPoint).toBe(0); // ReLU outputs: z = 0
      expect(gridFor(-3, -1, bits).zeroPoint).toBe(qmax);
    }
  });
});

describe('quantized adder layers against float', () => {
  it('the clipping identity: filters far outside the input range give the float result up to the input rounding only', async () => {
    const shape: [number, number, number] = [3, 7, 6];
    const layer = new nn.Adder2d({ inChannels: 3, outChannels: 6, kernelSize: 3, padding: 1 });
    const w = new Float32Array(6 * 27);
    for (let i = 0; i < w.length; i++) {
      const t = Math.floor(i / 27);
      // Filters 0-1 far above the range, 2-3 far below, 4 straddling it, 5 inside.
      w[i] = t < 2 ? rng.uniform(4, 9) : t < 4 ? rng.uniform(-9, -4) : t === 4 ? rng.uniform(-6, 6) : rng.uniform(-1, 2);
    }
    layer.weight.value.storage.write(w);
    const m = wrap({ conv: layer }, shape);
    const ds = randomData(16, shape, -1, 2);
    const float = await outputs(m, ds);
    const q = await quantize(m, ds, { bits: 8 });
    const p = layerOf(q, 'conv');
    expect(Array.from(p.clip.slice(0, 5)).every((c) => c > 10)).toBe(true); // clipping happened
    expect(p.clip[5]).toBe(0);
    const y = await outputs(q, ds);
    const K = 27;
    const plane = 6 * 7 * 6;
    let worst = 0;
    for (let i = 0; i < y.length; i++) {
      const t = Math.floor((i % plane) / 42);
      // Clipped filter values sit on the grid's ends, exactly representable:
      // only the input rounds (s / 2 per tap); filter 5 rounds too (s per tap).
      const bound = (t === 5 ? K * p.scale : (K * p.scale) / 2) + 1e-5 * Math.abs(float[i]);
      worst = Math.max(worst, Math.abs(y[i] - float[i]) / bound);
    }
    expect(worst).toBeLessThanOrEqual(1);
    // Without the per-filter constant the far filters would be off by it.
    expect(Math.max(...Array.from(p.clip.slice(0, 4)))).toBeGreaterThan(100 * K * p.scale);
    await q.dispose();
    await m.dispose();
  });

  it('error within K * s * |BN scale| of the float layer + BatchNorm, every bit width, stride 2, padding, and linear layers', async () => {
    for (const bits of [4, 5, 6, 8]) {
      const shape: [number, number, number] = [4, 9, 8];
      const conv = new nn.Adder2d({ inChannels: 4, outChannels: 5, kernelSize: [3, 2], stride: 2, padding: [1, 2], bias: true });
      const bn = new nn.BatchNorm2d({ numFeatures: 5 });
      conv.weight.value.storage.write(rng.uniformArray(5 * 4 * 6, -0.5, 3));
      bn.weight.value.storage.write(rng.uniformArray(5, -2, 2));
      bn.bias.value.storage.write(rng.uniformArray(5, -1, 1));
      bn.runningMean.storage.write(rng.uniformArray(5, -20, 0));
      bn.runningVar.storage.write(rng.uniformArray(5, 0.5, 4));
      const m = wrap({ conv, bn }, shape);
      const ds = randomData(8, shape, 0, 2.5);
      const float = await outputs(m, ds);
      const q = await quantize(m, ds, { bits });
      expect(q.quantization.layers).toEqual([{ name: 'conv', foldedBatchNorm: 'bn' }]);
      const p = layerOf(q, 'conv');
      const y = await outputs(q, ds);
      const plane = y.length / (8 * 5);
      for (let i = 0; i < y.length; i++) {
        const t = Math.floor(i / plane) % 5;
        expect(Math.abs(y[i] - float[i])).toBeLessThanOrEqual(Math.abs(p.bnScale[t]) * 24 * p.scale * (1 + 1e-5) + 1e-4);
      }
      await q.dispose();
      await m.dispose();
    }
    const fc = new nn.AdderLinear({ inFeatures: 30, outFeatures: 7 });
    const m = new Model(new nn.Sequential({ flatten: new nn.Flatten(), fc, bn: new nn.BatchNorm1d({ numFeatures: 7 }) }), {
      arch: 'custom', options: {}, inputShape: [30, 1, 1], numClasses: 7,
    });
    const ds = randomData(8, [30, 1, 1], -1, 1);
    const float = await outputs(m, ds);
    const q = await quantize(m, ds, { bits: 6 });
    const p = layerOf(q, 'fc');
    const y = await outputs(q, ds);
    for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - float[i])).toBeLessThanOrEqual(Math.abs(p.bnScale[i % 7]) * 30 * p.scale + 1e-4);
    expect(q.summary().quantization).toMatchObject({ quantized: ['fc'], folded: ['bn'], float: [] });
    await q.dispose();
    await m.dispose();
  });

  it('exact when the inputs and filters lie on the grid (the SAD is exact in int32)', async () => {
    const shape: [number, number, number] = [2, 5, 5];
    const layer = new nn.Adder2d({ inChannels: 2, outChannels: 3, kernelSize: 3, padding: 1 });
    // The grid of [0, 255/64] at 8 bits has s = 1/64, z = 0: multiples of 1/64 are exact.
    const step = 1 / 64;
    layer.weight.value.storage.write(Float32Array.from({ length: 54 }, () => rng.int(256) * step));
    const m = wrap({ conv: layer }, shape);
    const ds = randomData(4, shape, 0, 1);
    ds.images = Float32Array.from(ds.images, () => rng.int(256) * step);
    ds.images[0] = 255 * step; // the calibrated maximum: the grid's top
    const q = await quantize(m, ds, { bits: 8 });
    expect(layerOf(q, 'conv').scale).toBe(step);
    expect(await outputs(q, ds)).toEqual(await outputs(m, ds));
    await q.dispose();
    await m.dispose();
  });

  it('percentile calibration clips outliers for a finer grid', async () => {
    const shape: [number, number, number] = [1, 8, 8];
    const layer = new nn.Adder2d({ inChannels: 1, outChannels: 2, kernelSize: 3 });
    const m = wrap({ conv: layer }, shape);
    const ds = randomData(64, shape, 0, 1);
    ds.images[5] = 1000; // one outlier
    const mm = await quantize(m, ds, { bits: 8 });
    const pc = await quantize(m, ds, { bits: 8, method: 'percentile', percentile: 99.9 });
    expect(layerOf(mm, 'conv').scale).toBeCloseTo(1000 / 255, 3);
    expect(layerOf(pc, 'conv').scale).toBeLessThan(1.01 / 255);
    expect(pc.quantization).toMatchObject({ method: 'percentile', percentile: 99.9, examples: 64 });
    await Promise.all([mm.dispose(), pc.dispose(), m.dispose()]);
  });
});

describe('LeNet-5-BN on the bundled MNIST', () => {
  const mnist = data.loadMnistBundled();
  let float: Model;
  let floatAccuracy: number;
  const quantized = new Map<number, QuantizedModel>();

  beforeAll(async () => {
    float = models.lenet5bn({ seed: 1 });
    await fit(float, mnist.train, { epochs: 2, batchSize: 64, lr: 0.1, seed: 0 });
    floatAccuracy = (await evaluate(float, mnist.test)).accuracy;
  }, 120_000);
  afterAll(async () => {
    await Promise.all([float.dispose(), ...[...quantized.values()].map((q) => q.dispose())]);
  });

  it('8 bits scores within 0.3 points of the float model; 6, 5 and 4 bits stay close', async () => {
    const accuracy: Record<number, number> = {};
    for (const bits of [8, 6, 5, 4]) {
      const q = await quantize(float, mnist.train, { bits });
      quantized.set(bits, q);
      accuracy[bits] = (await evaluate(q, mnist.test)).accuracy;
    }
    console.log(`LeNet-5-BN on MNIST (${mnist.test.labels.length} test examples): float ${floatAccuracy}, quantized ${JSON.stringify(accuracy)}`);
    expect(floatAccuracy).toBeGreaterThan(0.95);
    expect(Math.abs(accuracy[8] - floatAccuracy)).toBeLessThanOrEqual(0.003);
    expect(accuracy[6]).toBeGreaterThan(floatAccuracy - 0.01);
    expect(accuracy[4]).toBeGreaterThan(floatAccuracy - 0.03);
  });

  it('leaves the float model as it was (weights, trainable)', async () => {
    const before = float.stateDict()['conv1.adder'].dataSync();
    await quantize(float, mnist.train, { bits: 5, examples: 64 }).then((q) => q.dispose());
    expect(float.stateDict()['conv1.adder'].dataSync()).toEqual(before);
    expect(float.inferenceOnly).toBe(false);
  });

  it('summary() lists the uint8 layers, the folded BatchNorms and the float layers', () => {
    const q = quantized.get(8)!;
    const s = q.summary();
    expect(s.quantization).toEqual({
      bits: 8, method: 'minmax', examples: 512,
      quantized: ['conv1', 'conv2', 'fc1', 'fc2', 'fc3'], folded: ['bn1', 'bn2', 'bn3', 'bn4', 'bn5'],
      float: ['relu1', 'pool1', 'relu2', 'pool2', 'relu3', 'relu4'],
    });
    expect(s.rows.find((r) => r.name === 'conv1')).toMatchObject({ type: 'QuantizedAdder2d', outputShape: [6, 28, 28], trainable: false });
    expect(s.rows.find((r) => r.name === 'bn1')).toMatchObject({ type: 'BatchNorm2d (folded)', multiplications: 0, additions: 0 });
    const text = q.summaryText();
    expect(text).toContain('uint8 adder layers (8 bits, minmax on 512 examples): conv1, conv2, fc1, fc2, fc3');
    expect(text).toContain('float32 layers: relu1, pool1, relu2, pool2, relu3, relu4');
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
  });

  it('saves and loads: uint8 filters in the file, the same logits bit for bit', async () => {
    const q = quantized.get(6)!;
    const file = path.join(tmp, 'lenet-q6.safetensors');
    saveModel(q, file);
    const st = readSafetensors(file);
    expect(st.metadata.format).toBe('addernet-quantized-model');
    expect(st.get('conv2.qweight')).toMatchObject({ dtype: 'U8', shape: [16, 6, 5, 5] });
    expect(st.get('fc1.qweight')).toMatchObject({ dtype: 'U8', shape: [120, 400] });
    expect(Math.max(...(st.get('fc1.qweight')!.data as Uint8Array))).toBeLessThanOrEqual(63);
    for (const s of ['scale', 'zero_point']) expect(st.get(`conv1.${s}`)!.shape).toEqual([]);
    for (const s of ['clip', 'bn_scale', 'bn_shift']) expect(st.get(`conv1.${s}`)).toMatchObject({ dtype: 'F32', shape: [6] });
    expect([...st.keys()].some((k) => k.endsWith('.adder') || k.startsWith('bn'))).toBe(false);
    const back = loadModel(file);
    expect(back).toBeInstanceOf(QuantizedModel);
    const r = back as QuantizedModel;
    expect(r.quantization).toEqual(q.quantization);
    expect(r.summary()).toEqual(q.summary());
    const x = tensor(mnist.test.images.subarray(0, 64 * 784), [64, 1, 28, 28]);
    expect((await r.predict(x)).dataSync()).toEqual((await q.predict(x)).dataSync());
    await r.dispose();
  });

  it('fit() and recalibrateBatchNorm() refuse a quantized model; quantize() refuses one too', async () => {
    const q = quantized.get(8)!;
    for (const p of [fit(q, mnist.train, { epochs: 1 }), recalibrateBatchNorm(q, mnist.train)]) {
      const err = await p.then(() => undefined, (e: Error & { code?: string }) => e);
      expect(err?.code).toBe('ERR_ADDERNET_STATE');
      expect(err?.message).toMatch(/quantized model \(inference only\)/);
    }
    const err = await quantize(q, mnist.train).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err?.code).toBe('ERR_ADDERNET_TYPE');
  });

  it('rejects bad options with codes', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ bits: 3 }, 'ERR_ADDERNET_OPTION', /Expected an integer from 4 to 8 for options\.bits but received 3/],
      [{ bits: 9 }, 'ERR_ADDERNET_OPTION', /options\.bits/],
      [{ bits: '8' }, 'ERR_ADDERNET_TYPE', /options\.bits/],
      [{ method: 'mse' }, 'ERR_ADDERNET_OPTION', /'minmax' or 'percentile' for options\.method but received "mse"/],
      [{ method: 'percentile', percentile: 40 }, 'ERR_ADDERNET_OPTION', /options\.percentile/],
      [{ percentile: 99 }, 'ERR_ADDERNET_OPTION', /nothing unless method is 'percentile'/],
      [{ examples: 0 }, 'ERR_ADDERNET_OPTION', /options\.examples/],
      [null, 'ERR_ADDERNET_TYPE', /options/],
    ];
    for (const [options, code, message] of cases) {
      const err = await quantize(float, mnist.train, options as object).then(() => undefined, (e: Error & { code?: string }) => e);
      expect(err?.code).toBe(code);
      expect(err?.message).toMatch(message);
    }
    const cifarLike = randomData(4, [3, 32, 32], 0, 1);
    const err = await quantize(float, cifarLike).then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err?.code).toBe('ERR_ADDERNET_SHAPE');
  });
});

describe('quantized checkpoints: hostile and corrupt files', () => {
  let good: string;
  let q: QuantizedModel;
  beforeAll(async () => {
    const m = models.lenet5bn({ seed: 3 });
    const ds = randomData(32, [1, 28, 28], -0.5, 2.8);
    q = await quantize(m, ds, { bits: 6 });
    good = path.join(tmp, 'good-q.safetensors');
    saveModel(q, good);
    await m.dispose();
  });
  afterAll(() => q.dispose());

  let n = 0;
  /** Writes a mutated copy of the good file: `edit` changes its tensors and metadata in place. */
  function mutated(edit: (tensors: Map<string, any>, meta: Record<string, string>) => void): string { // eslint-disable-line @typescript-eslint/no-explicit-any
    const st = readSafetensors(good);
    const tensors = new Map<string, any>([...st].map(([k, v]) => [k, { ...v, data: v.data.slice() }])); // eslint-disable-line @typescript-eslint/no-explicit-any
    const meta = { ...st.metadata };
    edit(tensors, meta);
    const file = path.join(tmp, `bad-${++n}.safetensors`);
    writeSafetensors(file, tensors, meta);
    return file;
  }
  const info = (meta: Record<string, string>) => JSON.parse(meta.quantization);

  const cases: [string, (t: Map<string, any>, m: Record<string, string>) => void, RegExp][] = [ // eslint-disable-line @typescript-eslint/no-explicit-any
    ['a filter level above 2^bits - 1', (t) => void (t.get('conv2.qweight').data[7] = 64), /Expected values from 0 to 63 \(6 bits\) for "conv2\.qweight" in .* but received 64 at index 7/],
    ['float filters', (t) => t.set('conv1.qweight', { dtype: 'F32', shape: [6, 1, 5, 5], data: new Float32Array(150) }), /Expected a tensor of dtype U8 and shape \[6, 1, 5, 5\] for "conv1\.qweight" in .* but received dtype F32, shape \[6, 1, 5, 5\]/],
    ['a wrong filter shape', (t) => t.set('fc1.qweight', { dtype: 'U8', shape: [120, 401], data: new Uint8Array(120 * 401) }), /"fc1\.qweight"/],
    ['a missing scale', (t) => void t.delete('fc2.scale'), /"fc2\.scale" in .* but received none/],
    ['a zero scale', (t) => void (t.get('fc2.scale').data[0] = 0), /a finite scale > 0/],
    ['a NaN scale', (t) => void (t.get('conv1.scale').data[0] = NaN), /a finite scale > 0.*NaN/],
    ['a zero point above 2^bits - 1', (t) => void (t.get('conv1.zero_point').data[0] = 200), /zero point from 0 to 63/],
    ['a negative clip constant', (t) => void (t.get('conv1.clip').data[2] = -1), /finite values >= 0 for "conv1\.clip"/],
    ['an infinite BN shift', (t) => void (t.get('fc3.bn_shift').data[0] = Infinity), /finite values for "fc3\.bn_shift" .* but received Infinity at index 0/],
    ['a short BN scale', (t) => t.set('fc3.bn_scale', { dtype: 'F32', shape: [9], data: new Float32Array(9) }), /shape \[10\] for "fc3\.bn_scale" .* but received dtype F32, shape \[9\]/],
    ['an unknown tensor', (t) => t.set('conv9.qweight', { dtype: 'U8', shape: [1], data: new Uint8Array(1) }), /unexpected tensor "conv9\.qweight"/],
    ['a float tensor missing', (t) => void t.delete('conv1.scale'), /"conv1\.scale"/],
    ['no quantization metadata', (_t, m) => void delete m.quantization, /quantization metadata of a quantized checkpoint/],
    ['bits 9', (_t, m) => void (m.quantization = JSON.stringify({ ...info(m), bits: 9 })), /Expected an integer from 4 to 8 for quantization\.bits in .* but received 9/],
    ['bits 3', (_t, m) => void (m.quantization = JSON.stringify({ ...info(m), bits: 3 })), /quantization\.bits/],
    ['an unknown method', (_t, m) => void (m.quantization = JSON.stringify({ ...info(m), method: 'kl' })), /quantization\.method/],
    ['layers not an array', (_t, m) => void (m.quantization = JSON.stringify({ ...info(m), layers: { 0: 'conv1' } })), /quantization\.layers/],
    ['more layers than tensors', (_t, m) => void (m.quantization = JSON.stringify({ ...info(m), layers: Array(1e4).fill({ name: 'conv1' }) })), /at most \d+ layers/],
    ['a layer that is not an adder layer', (_t, m) => void (m.quantization = JSON.stringify({ ...info(m), layers: [{ name: 'bn1' }] })), /layer "bn1".*no such adder layer/],
    ['a layer twice', (_t, m) => void (m.quantization = JSON.stringify({ ...info(m), layers: [...info(m).layers, info(m).layers[0]] })), /layer "conv1".*it twice/],
    ['a wrong folded BatchNorm', (_t, m) => void (m.quantization = JSON.stringify({ ...info(m), layers: info(m).layers.map((l: object, i: number) => (i === 1 ? { ...l, foldedBatchNorm: 'bn1' } : l)) })), /Expected "bn2" for foldedBatchNorm of "conv2" in .* but received "bn1"/],
    ['a layer entry of the wrong type', (_t, m) => void (m.quantization = JSON.stringify({ ...info(m), layers: [7] })), /quantization\.layers\[0\]/],
    ['deeply nested quantization JSON', (_t, m) => void (m.quantization = '['.repeat(100000) + ']'.repeat(100000)), /valid JSON in the quantization metadata/],
    ['unparseable quantization JSON', (_t, m) => void (m.quantization = '{"bits": 8,'), /valid JSON in the quantization metadata/],
    ['a config that is not an architecture', (_t, m) => void (m.config = JSON.stringify({ info: JSON.parse(m.config).info, net: { type: 'Nope' } })), /config\.type/],
  ];
  for (const [what, edit, message] of cases) {
    it(`rejects ${what} with ERR_ADDERNET_FORMAT naming the file`, () => {
      const file = mutated(edit);
      const err = caught(() => loadModel(file));
      expect(err.code).toBe('ERR_ADDERNET_FORMAT');
      expect(err.message).toContain(file);
      expect(err.message).toMatch(message);
    });
  }

  it('a truncated quantized file is refused with ERR_ADDERNET_FORMAT', () => {
    const bytes = fs.readFileSync(good);
    const file = path.join(tmp, 'truncated-q.safetensors');
    fs.writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    expect(caught(() => loadModel(file)).code).toBe('ERR_ADDERNET_FORMAT');
  });

  it('the unmodified file loads', () => {
    const m = loadModel(mutated(() => {}));
    expect(m).toBeInstanceOf(QuantizedModel);
    return m.dispose();
  });
});

describe("the authors' ResNet-20", () => {
  it('at 8 bits keeps the argmax of every fixture input, logits within 0.5 (first conv, classifier and its BN float)', async () => {
    const io = readSafetensors(REF_IO);
    const input = io.get('input')!;
    const m = models.resnet20();
    m.loadStateDict(CKPT);
    const calib: Dataset = { images: input.data as Float32Array, labels: new Int32Array(8), shape: [3, 32, 32], numClasses: 10 };
    const q = await quantize(m, calib, { bits: 8 });
    expect(q.quantization.layers).toHaveLength(20);
    expect(q.summary().quantization!.float).toEqual(expect.arrayContaining(['conv1', 'bn1', 'fc', 'bn2', 'avgpool', 'layer1.0.add']));
    const x: Tensor = tensor(input.data as Float32Array, input.shape);
    const f = (await m.predict(x)).dataSync();
    const y = (await q.predict(x)).dataSync();
    const argmax = (v: Float32Array) => Array.from({ length: 8 }, (_, r) => v.subarray(r * 10, r * 10 + 10).reduce((b, val, i, a) => (val > a[b] ? i : b), 0));
    expect(argmax(y)).toEqual(argmax(f));
    for (let i = 0; i < y.length; i++) expect(Math.abs(y[i] - f[i])).toBeLessThan(0.5);
    await Promise.all([q.dispose(), m.dispose()]);
  });
});
