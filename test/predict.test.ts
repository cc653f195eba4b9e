// Model.predict(): eval-mode inference on the device's inference queue —
// same results as forward() in eval mode, concurrent calls equal to
// sequential ones, fresh weights after training, loads and in-place edits
// (never stale), the weights of the steps before it while fit() runs, errors
// with stable codes, dispose(), and an event loop left free.
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fit, memoryInfo, Model, models, nn, ops, SGD, tensor, type Dataset, type Tensor } from '../lib/index';
import { caught, collectGarbage, ensureDist, makeRng, rejected, ROOT, sameBits, sizeOf, watchEventLoop } from './nn-helpers';

const live: Model[] = [];
function track(m: Model): Model {
  live.push(m);
  return m;
}

beforeAll(() => {
  ensureDist();
});
afterAll(async () => {
  await Promise.all(live.map((m) => m.dispose()));
});

function randomDataset(n: number, seed: number): Dataset {
  const rng = makeRng(seed);
  return { images: rng.normalArray(n * 784), labels: Int32Array.from({ length: n }, () => rng.int(10)), shape: [1, 28, 28], numClasses: 10 };
}

function evalForward(m: Model, x: Tensor): Tensor {
  const was = m.training;
  m.eval();
  try {
    return m.forward(x);
  } finally {
    m.train(was);
  }
}

describe('Model.predict', () => {
  let model: Model;
  const data = randomDataset(64, 1);
  const rng = makeRng(2);
  const inputs = [1, 3, 8, 2, 5, 8, 1, 4, 6, 7, 2, 8].map((n) => tensor(rng.normalArray(n * 784), [n, 1, 28, 28]));

  beforeAll(async () => {
    model = track(models.lenet5bn({ layer: 'adder', seed: 3 }));
    // Non-trivial weights and BN running statistics.
    await fit(model, data, { epochs: 1, batchSize: 16, lr: 0.05 });
  });

  it('equals forward() in eval mode; many concurrent calls equal sequential ones', async () => {
    const want = inputs.map((x) => evalForward(model, x));
    const sequential: Tensor[] = [];
    for (const x of inputs) sequential.push(await model.predict(x));
    const concurrent = await Promise.all(inputs.map((x) => model.predict(x)));
    const again = await Promise.all([...inputs].reverse().map((x) => model.predict(x)));
    inputs.forEach((x, i) => {
      expect(sequential[i].shape).toEqual([x.shape[0], 10]);
      expect(sameBits(sequential[i].dataSync(), want[i].dataSync()), `predict ${i} = forward in eval mode`).toBe(true);
      expect(sameBits(concurrent[i].dataSync(), sequential[i].dataSync()), `concurrent ${i} = sequential`).toBe(true);
      expect(sameBits(again[inputs.length - 1 - i].dataSync(), sequential[i].dataSync()), `reverse order ${i}`).toBe(true);
    });
    expect(model.training).toBe(true); // predict never changes the caller's mode
  });

  it('does not modify or keep the caller\'s input', async () => {
    const x = inputs[2];
    const copy = x.dataSync().slice();
    const p = model.predict(x);
    x.storage.fill(0); // changed after the call: the call must already have its own copy
    const y = await p;
    x.storage.write(copy);
    expect(sameBits(y.dataSync(), evalForward(model, x).dataSync())).toBe(true);
  });

  it('uses the new weights after fit()', async () => {
    const m = track(models.lenet5bn({ layer: 'adder', seed: 4 }));
    const x = inputs[5];
    const before = await m.predict(x);
    await fit(m, data, { epochs: 1, batchSize: 16, lr: 0.05 });
    const after = await m.predict(x);
    expect(sameBits(after.dataSync(), before.dataSync())).toBe(false);
    expect(sameBits(after.dataSync(), evalForward(m, x).dataSync())).toBe(true);
  });

  it('uses the new weights after training with the optimizer directly (forward / backward / step)', async () => {
    const m = track(models.lenet5bn({ layer: 'adder', seed: 5 }));
    const x = inputs[5];
    const before = await m.predict(x);
    const opt = new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 });
    const batch = tensor(data.images.subarray(0, 16 * 784), [16, 1, 28, 28]);
    for (let s = 0; s < 3; s++) {
      const r = ops.softmaxCrossEntropy(m.forward(batch), data.labels.subarray(0, 16));
      m.backward(r.gradLogits!);
      opt.step();
    }
    const want = evalForward(m, x);
    expect(sameBits(want.dataSync(), before.dataSync())).toBe(false);
    const after = await m.predict(x);
    expect(sameBits(after.dataSync(), want.dataSync()), 'predict() after optimizer.step() uses the updated weights').toBe(true);
  });

  it('uses the new weights after loadStateDict()', async () => {
    const a = track(models.lenet5bn({ layer: 'adder', seed: 6 }));
    const b = models.lenet5bn({ layer: 'adder', seed: 7 });
    const x = inputs[1];
    await a.predict(x);
    a.loadStateDict(b.stateDict());
    expect(sameBits((await a.predict(x)).dataSync(), evalForward(b, x).dataSync())).toBe(true);
  });

  it('different models predict independently (each with its own weights)', async () => {
    const a = track(models.lenet5bn({ layer: 'conv', seed: 8 }));
    const b = track(models.lenet5bn({ layer: 'conv', seed: 9 }));
    const xs = inputs.slice(0, 6);
    const results = await Promise.all(xs.flatMap((x) => [a.predict(x), b.predict(x)]));
    xs.forEach((x, i) => {
      expect(sameBits(results[2 * i].dataSync(), evalForward(a, x).dataSync())).toBe(true);
      expect(sameBits(results[2 * i + 1].dataSync(), evalForward(b, x).dataSync())).toBe(true);
    });
  });

  it('rejects a bad input shape with ERR_ADDERNET_SHAPE (a rejected promise, not a throw) and keeps working', async () => {
    let p: Promise<Tensor> | undefined;
    expect(() => {
      p = model.predict(tensor(new Float32Array(3 * 32 * 32), [1, 3, 32, 32]));
    }).not.toThrow();
    const err = await rejected(p!);
    expect(err.code).toBe('ERR_ADDERNET_SHAPE');
    expect(err.message).toMatch(/\[N, 1, 28, 28\]/);
    expect((await rejected(model.predict(tensor(new Float32Array(784), [784])))).code).toBe('ERR_ADDERNET_SHAPE');
    expect((await rejected(model.predict(tensor(new Float32Array(0), [0, 1, 28, 28])))).code).toBe('ERR_ADDERNET_SHAPE');
    expect((await rejected(model.predict([1, 2, 3] as unknown as Tensor))).code).toBe('ERR_ADDERNET_TYPE');
    expect(sameBits((await model.predict(inputs[0])).dataSync(), evalForward(model, inputs[0]).dataSync())).toBe(true);
  });

  it('dispose() frees the weights: predicts issued before complete, later calls fail with ERR_ADDERNET_DISPOSED', async () => {
    await collectGarbage();
    const base = memoryInfo().liveTensors;
    const m = models.lenet5bn({ layer: 'adder', seed: 10 });
    const x = inputs[3];
    const want = evalForward(m, x);
    const big = tensor(makeRng(11).normalArray(256 * 784), [256, 1, 28, 28]);
    const inFlight = [m.predict(big), m.predict(x)];
    await m.dispose();
    await m.dispose(); // twice is fine
    const done = await Promise.all(inFlight);
    expect(done[0].shape).toEqual([256, 10]);
    expect(sameBits(done[1].dataSync(), want.dataSync()), 'a predict issued before dispose() used the weights').toBe(true);
    expect(m.isDisposed).toBe(true);
    const err = await rejected(m.predict(x));
    expect(err.code).toBe('ERR_ADDERNET_DISPOSED');
    expect(err.message).toMatch(/predict\(\) on a disposed model/);
    expect(caught(() => m.forward(x)).code).toBe('ERR_ADDERNET_DISPOSED');
    for (const t of [...done, want, big]) t.dispose();
    expect(memoryInfo().liveTensors, 'every tensor of the model and its predicts is freed').toBe(base);
  });

  it('runs off the event loop: timers keep firing during a long predict', async () => {
    const m = track(models.resnet20({ layer: 'adder' }));
    const x = tensor(makeRng(12).normalArray(64 * 3 * 32 * 32), [64, 3, 32, 32]);
    await m.predict(tensor(x.dataSync().subarray(0, 3 * 32 * 32), [1, 3, 32, 32])); // warm the allocator
    const loop = watchEventLoop(5);
    const t0 = performance.now();
    let watched: { ticks: number; maxGap: number };
    try {
      await m.predict(x);
    } finally {
      watched = loop.stop();
    }
    const ms = performance.now() - t0;
    const { ticks, maxGap } = watched;
    console.log(`predict ResNet-20 x64: ${ms.toFixed(0)} ms; main-thread timer: ${ticks} ticks, max gap ${maxGap.toFixed(1)} ms`);
    expect(ticks).toBeGreaterThanOrEqual(Math.min(5, Math.floor(ms / 50)));
    expect(maxGap).toBeLessThan(Math.max(250, ms / 2));
  });

  it('a process that has predicted exits when its work is done (the queues hold no handle)', () => {
    const dist = path.join(ROOT, 'dist', 'lib', 'index.js');
    const script = `const a = require(${JSON.stringify(dist)});
      const m = a.models.lenet5bn();
      m.predict(a.zeros([2, 1, 28, 28])).then((y) => console.log('shape', y.shape.join(',')));`;
    const out = execFileSync(process.execPath, ['-e', script], { timeout: 30_000, encoding: 'utf8' });
    expect(out.trim()).toBe('shape 2,10');
  });
});

describe('predict never serves stale weights', () => {
  const x = tensor(makeRng(20).normalArray(4 * 784), [4, 1, 28, 28]);
  const counterNames = Object.keys(models.lenet5bn().batchCounters());

  /** The state of a fresh model (seed) with the given BatchNorm counters, as loadStateDict() input. */
  function stateWith(seed: number, counters: number[]): Map<string, unknown> {
    const state = new Map<string, unknown>(Object.entries(models.lenet5bn({ layer: 'adder', seed }).stateDict()));
    counterNames.forEach((n, i) => state.set(n, { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(counters[i])) }));
    return state;
  }
  const load = (m: Model, state: Map<string, unknown>) => m.loadStateDict(state as Map<string, Tensor>);

  it('after loading a state whose BatchNorm counters sum one lower than the previous one', async () => {
    const m = track(models.lenet5bn({ layer: 'adder', seed: 21 }));
    load(m, stateWith(22, [5, 5, 5, 5, 5]));
    const a = await m.predict(x);
    expect(sameBits(a.dataSync(), evalForward(m, x).dataSync())).toBe(true);
    // Counters sum 24 instead of 25 while the load bumps the model's own counter by one:
    // a version made of sums would not change here.
    load(m, stateWith(23, [4, 5, 5, 5, 5]));
    const want = evalForward(m, x);
    expect(sameBits(want.dataSync(), a.dataSync())).toBe(false);
    expect(sameBits((await m.predict(x)).dataSync(), want.dataSync()), 'predict uses the second state').toBe(true);
  });

  it('after editing a stateDict() tensor in place', async () => {
    const m = track(models.lenet5bn({ layer: 'adder', seed: 24 }));
    const before = await m.predict(x);
    m.stateDict()['fc3.adder'].storage.fill(0);
    const want = evalForward(m, x);
    expect(sameBits(want.dataSync(), before.dataSync())).toBe(false);
    expect(sameBits((await m.predict(x)).dataSync(), want.dataSync()), 'predict sees the in-place edit').toBe(true);
    // And a buffer (running statistic), edited through a kept reference.
    const runningMean = m.stateDict()['bn5.running_mean'];
    const mid = await m.predict(x);
    runningMean.storage.fill(1);
    const want2 = evalForward(m, x);
    expect(sameBits(want2.dataSync(), mid.dataSync())).toBe(false);
    expect(sameBits((await m.predict(x)).dataSync(), want2.dataSync())).toBe(true);
  });

  it('after training-mode forwards alone (running statistics change, no optimizer step)', async () => {
    const m = track(models.lenet5bn({ layer: 'adder', seed: 25 }));
    const before = await m.predict(x);
    m.train().forward(tensor(makeRng(26).normalArray(16 * 784, 3), [16, 1, 28, 28]));
    const want = evalForward(m, x);
    expect(sameBits(want.dataSync(), before.dataSync())).toBe(false);
    expect(sameBits((await m.predict(x)).dataSync(), want.dataSync())).toBe(true);
  });

  it('after a manual SGD step between queued predicts: each call sees the weights at its own call', async () => {
    const m = track(models.lenet5bn({ layer: 'adder', seed: 27 }));
    const batch = tensor(makeRng(28).normalArray(16 * 784), [16, 1, 28, 28]);
    const labels = Int32Array.from({ length: 16 }, (_, i) => i % 10);
    const opt = new SGD(m.parameters(), { lr: 0.1 });
    const want0 = evalForward(m, x);
    const p0 = m.predict(x);
    m.backward(ops.softmaxCrossEntropy(m.forward(batch), labels).gradLogits!);
    opt.step();
    const want1 = evalForward(m, x);
    const p1 = m.predict(x);
    expect(sameBits(want1.dataSync(), want0.dataSync())).toBe(false);
    expect(sameBits((await p0).dataSync(), want0.dataSync()), 'first call: the weights before the step').toBe(true);
    expect(sameBits((await p1).dataSync(), want1.dataSync()), 'second call: the weights after the step').toBe(true);
  });
});

describe('predict errors carry stable codes', () => {
  const big = tensor(makeRng(30).normalArray(128 * 784), [128, 1, 28, 28]);
  const small = tensor(makeRng(31).normalArray(2 * 784), [2, 1, 28, 28]);

  it('a kernel failure inside a predict rejects it with the code and the caller\'s stack', async () => {
    // A valid layer whose kernel refuses its scratch memory (a padded copy of 17.6 TB) on the queue.
    class Failing extends nn.Module {
      readonly w = tensor(new Float32Array([1]), [1, 1, 1, 1]);
      forward(x: Tensor): Tensor {
        return ops.adder2d(x, this.w, { stride: 2 ** 20, padding: 2 ** 20 });
      }
      backward(g: Tensor): Tensor {
        return g;
      }
      config(): nn.ModuleConfig {
        return { type: 'Failing' };
      }
    }
    const m = new Model(new Failing(), { arch: 'custom', options: {}, inputShape: [1, 1, 1], numClasses: 9 });
    const p = m.predict(tensor(new Float32Array([1]), [1, 1, 1, 1]));
    const err = await rejected(p);
    expect(err.code).toBe('ERR_ADDERNET_MEMORY');
    expect(err.message).toMatch(/adder2dForward/);
    expect(err.stack).toMatch(/predict\.test\.ts/);
    const ok = track(models.lenet5bn({ layer: 'adder', seed: 33 }));
    expect(sameBits((await ok.predict(small)).dataSync(), evalForward(ok, small).dataSync()), 'the inference queue works after that').toBe(true);
  });
});

describe('predict while fit() runs', () => {
  it('reads the weights of the steps queued before the current one, never a half-updated state', async () => {
    const m = track(models.lenet5bn({ layer: 'adder', seed: 34 }));
    const x = tensor(makeRng(35).normalArray(3 * 784), [3, 1, 28, 28]);
    const ref = track(models.lenet5bn({ layer: 'adder', seed: 34 }));
    const states: Map<string, Float32Array>[] = [new Map(Object.entries(m.stateDict()).map(([n, t]) => [n, t.dataSync()]))];
    const predicted: Promise<Tensor>[] = [];
    await fit(m, randomDataset(80, 36), {
      epochs: 1, batchSize: 16, lr: 0.05,
      callbacks: {
        onBatchEnd: () => {
          // Step b is queued (its loss read, its backward and update perhaps not yet run).
          predicted.push(m.predict(x));
          states.push(new Map(Object.entries(m.stateDict()).map(([n, t]) => [n, t.dataSync()]))); // waits for step b
        },
      },
    });
    expect(predicted.length).toBe(5);
    for (let b = 0; b < predicted.length; b++) {
      // The predict issued after step b was queued uses the weights after step b - 1.
      ref.loadStateDict(new Map([...states[b]].map(([n, v]) => [n, tensor(v, m.stateDict()[n].shape)])));
      expect(sameBits((await predicted[b]).dataSync(), evalForward(ref, x).dataSync()), `predict during step ${b}`).toBe(true);
    }
    ref.loadStateDict(m.stateDict());
    expect(sameBits((await m.predict(x)).dataSync(), evalForward(ref, x).dataSync()), 'after fit(): the final weights').toBe(true);
  });
});

describe('predict on inputs that are not batches of the model\'s examples', () => {
  it('accepts any N >= 1 and returns [N, numClasses]', async () => {
    const m = track(models.resnet20({ numClasses: 7 }));
    const y = await m.predict(tensor(new Float32Array(sizeOf([3, 3, 32, 32])), [3, 3, 32, 32]));
    expect(y.shape).toEqual([3, 7]);
  });
});

describe('worker threads terminated mid-call', () => {
  it('never abort the process (loading the addon, running kernels, at random moments)', () => {
    ensureDist();
    // Each worker loads the addon and runs kernels in a loop; the parent
    // terminates it after 0-30 ms, often inside the addon's init or a call.
    const code = `
      const { Worker } = require('node:worker_threads');
      const body = 'const a = require(' + JSON.stringify(${JSON.stringify(ROOT)}) + ');' +
        'const x = a.tensor(new Float32Array(8*16*16*16).fill(0.5), [8,16,16,16]);' +
        'const w = a.tensor(new Float32Array(16*16*9).fill(0.1), [16,16,3,3]);' +
        'for (;;) { try { a.ops.adder2d(x, w, { padding: 1 }); a.backendInfo(); } catch (e) {} }';
      (async () => {
        let seed = 7;
        for (let i = 0; i < 30; i++) {
          const worker = new Worker(body, { eval: true });
          seed = (seed * 1103515245 + 12345) >>> 0;
          await new Promise((r) => setTimeout(r, seed % 30));
          await worker.terminate();
        }
        console.log('survived');
      })();`;
    const out = execFileSync(process.execPath, ['-e', code], { encoding: 'utf8', timeout: 60_000 });
    expect(out.trim()).toBe('survived');
  }, 70_000);
});
