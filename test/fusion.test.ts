// Inference fusion (issue 13): a layer's fused epilogue (eval-mode BatchNorm,
// residual add, ReLU) gives exactly the floats of the separate ops, on every
// ISA; models in eval mode use it and predict exactly what the unfused chain
// does; bad epilogue arguments are refused with stable codes.
import { afterAll, describe, expect, it, vi } from 'vitest';
import { models, ops, setIsa, supportedIsas, tensor, type Model, type Tensor } from '../lib/index';
import { native } from '../lib/native';
import { inferenceFusion } from '../lib/nn/module';
import { mulberry32, randomTensor } from './reference';

const rng = mulberry32(1313);
const defaultIsa = supportedIsas()[supportedIsas().length - 1];
afterAll(() => setIsa(defaultIsa));

function sameFloats(got: Float32Array, want: Float32Array): number {
  expect(got.length).toBe(want.length);
  let bad = 0;
  for (let i = 0; i < got.length; i++) if (!Object.is(got[i], want[i])) bad++;
  return bad;
}

interface Shape {
  x: [number, number, number, number];
  w: [number, number, number, number];
  stride: number;
  padding: number;
}
// Widths below, at and above the tile halves (4 / 8 / 16 positions) so
// that panels are read in place, packed and mixed; stride 2; 1x1; odd sizes.
const shapes: Shape[] = [
  { x: [2, 3, 32, 32], w: [16, 3, 3, 3], stride: 1, padding: 1 },
  { x: [1, 16, 8, 8], w: [17, 16, 3, 3], stride: 1, padding: 1 },
  { x: [3, 5, 9, 17], w: [7, 5, 3, 3], stride: 1, padding: 0 },
  { x: [2, 8, 16, 16], w: [13, 8, 3, 3], stride: 2, padding: 1 },
  { x: [2, 6, 7, 7], w: [5, 6, 1, 1], stride: 1, padding: 0 },
  { x: [1, 4, 33, 31], w: [9, 4, 5, 5], stride: 1, padding: 2 },
];

describe('fused epilogue of adder2d / conv2d', () => {
  for (const isa of supportedIsas())
    for (const layer of ['adder2d', 'conv2d'] as const)
      it(`${layer} on ${isa}: batchNorm, residual and relu equal the separate eval-mode ops bit for bit`, async () => {
        setIsa(isa);
        for (const s of shapes) {
          const t = s.w[0];
          const x = randomTensor(rng, s.x);
          const w = randomTensor(rng, s.w);
          const bias = randomTensor(rng, [t]);
          const bn = {
            weight: randomTensor(rng, [t], -2, 2),
            bias: randomTensor(rng, [t]),
            runningMean: randomTensor(rng, [t], -3, 3),
            runningVar: randomTensor(rng, [t], 0.05, 2),
            eps: 1e-3,
          };
          const f = ops[layer];
          const plain = f(x, w, { stride: s.stride, padding: s.padding, bias });
          const residual = randomTensor(rng, plain.shape, -2, 2);
          for (let combo = 1; combo < 8; combo++) {
            const useBn = (combo & 1) !== 0, useRes = (combo & 2) !== 0, useRelu = (combo & 4) !== 0;
            let want: Tensor = plain;
            if (useBn) want = ops.batchNorm(want, bn.weight, bn.bias, bn.runningMean, bn.runningVar, { training: false, eps: bn.eps }).y;
            if (useRes) want = ops.add(want, residual);
            if (useRelu) want = ops.relu(want);
            const got = f(x, w, {
              stride: s.stride, padding: s.padding, bias,
              batchNorm: useBn ? bn : undefined, residual: useRes ? residual : undefined, relu: useRelu,
            });
            expect(got.shape).toEqual(plain.shape);
            const label = `${JSON.stringify(s)} bn=${useBn} residual=${useRes} relu=${useRelu}`;
            expect(sameFloats(await got.data(), await want.data()), label).toBe(0);
          }
        }
      });

  it('the epilogue does not touch the running statistics or the residual', async () => {
    const x = randomTensor(rng, [2, 4, 8, 8]);
    const w = randomTensor(rng, [6, 4, 3, 3]);
    const bn = { weight: randomTensor(rng, [6]), bias: randomTensor(rng, [6]), runningMean: randomTensor(rng, [6]), runningVar: randomTensor(rng, [6], 0.5, 1) };
    const residual = randomTensor(rng, [2, 6, 8, 8]);
    const before = await Promise.all([bn.runningMean.data(), bn.runningVar.data(), residual.data()]);
    await ops.adder2d(x, w, { padding: 1, batchNorm: bn, residual, relu: true }).data();
    const after = await Promise.all([bn.runningMean.data(), bn.runningVar.data(), residual.data()]);
    after.forEach((a, i) => expect(sameFloats(a, before[i])).toBe(0));
  });

  it('refuses bad epilogue arguments with stable codes, naming the argument', () => {
    const x = randomTensor(rng, [1, 2, 5, 5]);
    const w = randomTensor(rng, [3, 2, 3, 3]);
    const v3 = () => randomTensor(rng, [3]);
    const bn = { weight: v3(), bias: v3(), runningMean: v3(), runningVar: v3() };
    const cases: [unknown, string, RegExp][] = [
      [{ batchNorm: { ...bn, weight: randomTensor(rng, [4]) } }, 'ERR_ADDERNET_SHAPE', /options\.batchNorm\.weight/],
      [{ batchNorm: { ...bn, runningVar: undefined } }, 'ERR_ADDERNET_TYPE', /options\.batchNorm\.runningVar/],
      [{ batchNorm: { ...bn, eps: -1 } }, 'ERR_ADDERNET_OPTION', /options\.batchNorm\.eps/],
      [{ batchNorm: { ...bn, eps: Number.NaN } }, 'ERR_ADDERNET_OPTION', /options\.batchNorm\.eps/],
      [{ batchNorm: 'yes' }, 'ERR_ADDERNET_TYPE', /options\.batchNorm/],
      [{ residual: randomTensor(rng, [1, 3, 3, 4]) }, 'ERR_ADDERNET_SHAPE', /\[1, 3, 3, 3\] .*options\.residual/],
      [{ residual: new Float32Array(27) }, 'ERR_ADDERNET_TYPE', /options\.residual/],
      [{ relu: 1 }, 'ERR_ADDERNET_TYPE', /options\.relu/],
    ];
    for (const [options, code, message] of cases) {
      let err: (Error & { code?: string }) | undefined;
      try {
        ops.adder2d(x, w, options as never);
      } catch (e) {
        err = e as Error & { code?: string };
      }
      expect(err?.code, JSON.stringify(Object.keys(options as object))).toBe(code);
      expect(err?.message).toMatch(message);
    }
  });
});

describe('fused epilogue of adderLinear / linear', () => {
  for (const layer of ['adderLinear', 'linear'] as const)
    it(`${layer}: batchNorm (BatchNorm1d), residual and relu equal the separate ops bit for bit`, async () => {
      const x = randomTensor(rng, [7, 45]);
      const w = randomTensor(rng, [13, 45]);
      const bias = randomTensor(rng, [13]);
      const bn = { weight: randomTensor(rng, [13]), bias: randomTensor(rng, [13]), runningMean: randomTensor(rng, [13], -5, 5), runningVar: randomTensor(rng, [13], 0.1, 3) };
      const residual = randomTensor(rng, [7, 13]);
      const plain = ops[layer](x, w, bias);
      const want = ops.relu(ops.add(ops.batchNorm(plain, bn.weight, bn.bias, bn.runningMean, bn.runningVar, { training: false }).y, residual));
      const got = ops[layer](x, w, bias, { batchNorm: bn, residual, relu: true });
      expect(got.shape).toEqual([7, 13]);
      expect(sameFloats(await got.data(), await want.data())).toBe(0);
      expect(() => ops[layer](x, w, bias, { residual: randomTensor(rng, [7, 12]) })).toThrow(/\[7, 13\] .*epilogue\.residual/);
    });
});

/** Random BatchNorm statistics and affine parameters, so that folding them is not the identity. */
async function randomizeNorms(model: Model): Promise<void> {
  for (const [name, b] of model.net.namedBuffers()) {
    if (!name.endsWith('running_mean') && !name.endsWith('running_var')) continue;
    const d = new Float32Array(b.size);
    for (let i = 0; i < d.length; i++) d[i] = name.endsWith('var') ? 0.3 + rng() : rng() - 0.5;
    b.storage.write(d);
  }
  for (const [name, p] of model.net.namedParameters()) {
    if (!/bn\d?\.(weight|bias)$|downsample\.1\.(weight|bias)$|^\d+\.(weight|bias)$/.test(name) || p.value.rank !== 1) continue;
    const d = new Float32Array(p.value.size);
    for (let i = 0; i < d.length; i++) d[i] = 2 * rng() - 1;
    p.value.storage.write(d);
  }
}

/** Every BatchNorm, ReLU and residual add of a predict ran inside a layer's kernel. */
async function expectAllFused(model: Model, shape: number[]): Promise<void> {
  const spies = (['batchNormForward', 'reluForward', 'add'] as const).map((k) => vi.spyOn(native, k));
  try {
    await (await model.predict(randomTensor(rng, shape))).data();
    for (const spy of spies) expect(spy).not.toHaveBeenCalled();
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}

async function predictBoth(model: Model, x: Tensor): Promise<[Float32Array, Float32Array]> {
  try {
    inferenceFusion.enabled = false;
    const unfused = await (await model.predict(x)).data();
    inferenceFusion.enabled = true;
    const fused = await (await model.predict(x)).data();
    return [fused, unfused];
  } finally {
    inferenceFusion.enabled = true;
  }
}

describe('models fuse in eval mode', () => {
  for (const layer of ['adder', 'conv'] as const) {
    it(`ResNet-20 (${layer}) predicts exactly what the unfused chain of ops does, batch 1 and 3`, async () => {
      const model = models.resnet20({ layer, seed: 3 });
      await randomizeNorms(model);
      for (const n of [1, 3]) {
        const x = randomTensor(rng, [n, 3, 32, 32]);
        const [fused, unfused] = await predictBoth(model, x);
        expect(sameFloats(fused, unfused)).toBe(0);
      }
      await expectAllFused(model, [2, 3, 32, 32]);
    });
    it(`LeNet-5-BN (${layer}) predicts exactly what the unfused chain of ops does`, async () => {
      const model = models.lenet5bn({ layer, seed: 4 });
      await randomizeNorms(model);
      const x = randomTensor(rng, [5, 1, 28, 28]);
      const [fused, unfused] = await predictBoth(model, x);
      expect(sameFloats(fused, unfused)).toBe(0);
      await expectAllFused(model, [2, 1, 28, 28]);
    });
  }

  it('a training-mode forward is not fused: batch statistics are used and running statistics updated', async () => {
    const model = models.resnet20({ layer: 'adder', seed: 5 });
    const x = randomTensor(rng, [4, 3, 32, 32]);
    const before = await model.net.namedBuffers().next().value![1].data();
    model.net.train();
    const y = model.net.forward(x);
    await y.data();
    const after = await model.net.namedBuffers().next().value![1].data();
    expect(sameFloats(after, before)).toBeGreaterThan(0);
  });

});
