// Training: the AdderNet optimizer (SGD with the adaptive learning rate of
// SPEC.md), schedules, a ResNet-20 AdderNet overfitting a fixed batch, and
// fit()/evaluate(): reproducibility, History, callbacks, AbortSignal, one fit
// per model, an event loop that keeps running, argument errors. The
// optimizer, overfitting and fit/evaluate suites run on each test device
// (./devices.ts): parameters and inputs on the device, models .to(device),
// fit/evaluate with { device }.
import { describe, expect, it } from 'vitest';
import { evaluate, fit, models, nn, ops, scheduledLr, SGD, type Dataset, type Model } from '../lib/index';
import { describeEachDevice, onDevice } from './devices';
import { makeRng, rejected, sameBits, sizeOf } from './nn-helpers';
import { adaptiveScaleRef, sgdStepRef } from './reference';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function randomDataset(n: number, seed: number, shape: [number, number, number] = [1, 28, 28], numClasses = 10): Dataset {
  const rng = makeRng(seed);
  return {
    images: rng.normalArray(n * sizeOf(shape)),
    labels: Int32Array.from({ length: n }, () => rng.int(numClasses)),
    shape,
    numClasses,
  };
}

function weightsOf(m: Model): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([n, t]) => [n, t.dataSync().slice()]));
}

function sameWeights(a: Record<string, Float32Array>, b: Record<string, Float32Array>): boolean {
  return Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((n) => b[n] && sameBits(a[n], b[n]));
}

// ---- Optimizer ------------------------------------------------------------------

describeEachDevice('SGD with the adaptive learning rate (SPEC.md)', (device) => {
  const { tensor } = onDevice(device);

  function setup(eta: number) {
    const rng = makeRng(1);
    const adder = new nn.Parameter(tensor(rng.normalArray(24), [2, 3, 2, 2]), 'adder');
    const plain = new nn.Parameter(tensor(rng.normalArray(5), [5]));
    return { rng, adder, plain, eta };
  }

  /** torch.optim.SGD on float64 (sgdStepRef), with the adder gradient replaced by eta*sqrt(k)/||g|| * g (adaptiveScaleRef). */
  function reference(p0: Float32Array, grads: Float32Array[], o: { lr: number; momentum: number; wd: number; nesterov: boolean; eta?: number }) {
    const p = Float64Array.from(p0);
    const buf = new Float64Array(p.length);
    grads.forEach((g, step) => {
      let s: ArrayLike<number> = g;
      if (o.eta !== undefined) {
        const { scaled, norm } = adaptiveScaleRef(g, o.eta);
        s = scaled;
        // After scaling, the RMS per element is exactly eta.
        if (norm > 0) expect(Math.sqrt(scaled.reduce((a, v) => a + v * v, 0) / scaled.length)).toBeCloseTo(o.eta, 10);
      }
      sgdStepRef(p, buf, s, { lr: o.lr, momentum: o.momentum, weightDecay: o.wd, nesterov: o.nesterov, firstStep: step === 0 });
    });
    return p;
  }

  for (const nesterov of [false, true]) {
    it(`scales only adder filters, before momentum and weight decay${nesterov ? ' (Nesterov)' : ''}`, () => {
      const { rng, adder, plain } = setup(0.2);
      const a0 = adder.value.dataSync().slice();
      const b0 = plain.value.dataSync().slice();
      const opt = new SGD([adder, plain], { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov, eta: 0.3 });
      const ga: Float32Array[] = [];
      const gp: Float32Array[] = [];
      for (let s = 0; s < 3; s++) {
        ga.push(rng.normalArray(24, 5));
        gp.push(rng.normalArray(5, 5));
        adder.grad.storage.write(ga[s]);
        plain.grad.storage.write(gp[s]);
        opt.step();
      }
      expect([adder.value.device, adder.grad.device, plain.value.device]).toEqual([device, device, device]);
      const wantA = reference(a0, ga, { lr: 0.1, momentum: 0.9, wd: 0.01, nesterov, eta: 0.3 });
      const wantP = reference(b0, gp, { lr: 0.1, momentum: 0.9, wd: 0.01, nesterov });
      for (let i = 0; i < 24; i++) expect(adder.value.dataSync()[i]).toBeCloseTo(wantA[i], 5);
      for (let i = 0; i < 5; i++) expect(plain.value.dataSync()[i]).toBeCloseTo(wantP[i], 5);
    });
  }

  it('the default eta is 0.2; the step of an adder layer does not depend on its gradient scale', () => {
    const run = (scale: number) => {
      const { rng, adder } = setup(0.2);
      const opt = new SGD([adder], { lr: 1 });
      expect(opt.eta).toBe(0.2);
      const before = adder.value.dataSync().slice();
      adder.grad.storage.write(rng.normalArray(24, scale));
      opt.step();
      return adder.value.dataSync().map((v, i) => v - before[i]);
    };
    const small = run(1e-3);
    const large = run(1e3);
    for (let i = 0; i < small.length; i++) expect(small[i]).toBeCloseTo(large[i], 5);
    // RMS of the step = lr * eta.
    expect(Math.sqrt(small.reduce((a, v) => a + v * v, 0) / small.length)).toBeCloseTo(0.2, 5);
  });

  it('a zero adder gradient leaves the filters unchanged (no NaN from the norm)', () => {
    const { adder } = setup(0.2);
    const before = adder.value.dataSync().slice();
    new SGD([adder], { lr: 0.1 }).step();
    expect(sameBits(adder.value.dataSync(), before)).toBe(true);
  });

  it('rejects invalid options', () => {
    const { adder } = setup(0.2);
    expect(() => new SGD([adder], { lr: 0 })).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_OPTION' }));
    expect(() => new SGD([adder], { lr: 0.1, eta: -1 })).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_OPTION' }));
    expect(() => new SGD([adder], { lr: 0.1, nesterov: true })).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_OPTION' }));
  });
});

describe('learning-rate schedules', () => {
  it('cosine (the reference recipe), constant, step and custom', () => {
    expect(scheduledLr('cosine', 0.1, 0, 400)).toBeCloseTo(0.1, 12);
    expect(scheduledLr('cosine', 0.1, 200, 400)).toBeCloseTo(0.05, 12);
    expect(scheduledLr('cosine', 0.1, 100, 400)).toBeCloseTo(0.05 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(scheduledLr('constant', 0.1, 37, 50)).toBe(0.1);
    expect(scheduledLr({ type: 'step', stepSize: 10 }, 0.1, 9, 50)).toBeCloseTo(0.1, 12);
    expect(scheduledLr({ type: 'step', stepSize: 10 }, 0.1, 10, 50)).toBeCloseTo(0.01, 12);
    expect(scheduledLr({ type: 'step', stepSize: 10, gamma: 0.5 }, 0.1, 25, 50)).toBeCloseTo(0.025, 12);
    expect(scheduledLr((e, n, lr) => lr * (1 - e / n), 0.1, 5, 10)).toBeCloseTo(0.05, 12);
    expect(() => scheduledLr('linear' as never, 0.1, 0, 1)).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_OPTION' }));
  });
});

// ---- Overfitting a fixed batch --------------------------------------------------

describeEachDevice('ResNet-20 AdderNet overfits a fixed batch of 32 random images', (device) => {
  const { tensor, device: d } = onDevice(device);

  it('loss after 50 SGD steps (lr 0.1, momentum 0.9, eta 0.2) is below 10% of the initial loss', () => {
    const rng = makeRng(2020);
    const x = tensor(rng.normalArray(32 * 3 * 32 * 32), [32, 3, 32, 32]);
    const y = Int32Array.from({ length: 32 }, () => rng.int(10));
    const model = models.resnet20({ layer: 'adder', seed: 1 }).to(d);
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 0, eta: 0.2 });
    model.train();
    const losses: number[] = [];
    const t0 = performance.now();
    for (let step = 0; step < 50; step++) {
      const r = ops.softmaxCrossEntropy(model.forward(x), y);
      losses.push(r.loss);
      model.backward(r.gradLogits!);
      opt.step();
    }
    const seconds = (performance.now() - t0) / 1000;
    const out = model.forward(x);
    expect(out.device).toBe(device);
    const after = ops.softmaxCrossEntropy(out, y, { grad: false });
    console.log(
      `overfit: initial loss ${losses[0].toFixed(4)}, after 50 steps ${after.loss.toFixed(4)} ` +
        `(${((100 * after.loss) / losses[0]).toFixed(1)}%), ${after.correct}/32 correct, ` +
        `${seconds.toFixed(2)} s (${((1000 * seconds) / 50).toFixed(0)} ms/step)`,
    );
    expect(losses[0]).toBeGreaterThan(1.5); // about ln(10) at initialisation
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(after.loss).toBeLessThan(0.1 * losses[0]);
    expect(after.correct).toBeGreaterThanOrEqual(30);
  });
});

// ---- fit / evaluate ---------------------------------------------------------------

describeEachDevice('fit() and evaluate()', (device) => {
  const { tensor, device: d } = onDevice(device);
  const train = randomDataset(48, 1);
  const valid = randomDataset(20, 2);
  const options = { epochs: 2, batchSize: 16, lr: 0.05, seed: 5, device: d };

  it('is reproducible for a seed: identical losses and weights; another seed gives another run', async () => {
    const run = async (seed: number) => {
      const m = models.lenet5bn({ layer: 'adder', seed: 1 });
      const batchLosses: number[] = [];
      const h = await fit(m, train, { ...options, seed, callbacks: { onBatchEnd: (l) => void batchLosses.push(l.loss) } });
      return { m, h, batchLosses, weights: weightsOf(m) };
    };
    const a = await run(5);
    const b = await run(5);
    expect(b.batchLosses).toEqual(a.batchLosses);
    expect(b.h.epochs.map((e) => [e.loss, e.accuracy])).toEqual(a.h.epochs.map((e) => [e.loss, e.accuracy]));
    expect(sameWeights(a.weights, b.weights)).toBe(true);
    expect(b.m.batchCounters()).toEqual(a.m.batchCounters());
    const c = await run(6);
    expect(c.batchLosses).not.toEqual(a.batchLosses);
    expect(sameWeights(a.weights, c.weights)).toBe(false);
  });

  it('returns a History with per-epoch logs, validation metrics and the schedule\'s learning rates', async () => {
    const m = models.lenet5bn({ layer: 'conv' });
    const batches: { loss: number; size: number; epoch: number; accuracy: number }[] = [];
    const h = await fit(m, train, {
      ...options, epochs: 3, lr: 0.1, validationData: valid,
      callbacks: { onBatchEnd: (l) => void batches.push(l) },
    });
    expect(h.epochs).toHaveLength(3);
    expect(h.seconds).toBeGreaterThan(0);
    expect(h.examplesPerSecond).toBeGreaterThan(0);
    h.epochs.forEach((e, i) => {
      expect(e.epoch).toBe(i);
      expect(e.lr).toBeCloseTo(scheduledLr('cosine', 0.1, i, 3), 12); // cosine is the default
      expect(e.seconds).toBeGreaterThan(0);
      expect(e.examplesPerSecond).toBeGreaterThan(0);
      expect(e.accuracy).toBeGreaterThanOrEqual(0);
      expect(e.accuracy).toBeLessThanOrEqual(1);
      expect(Number.isFinite(e.valLoss)).toBe(true);
      expect(e.valAccuracy! * valid.labels.length).toBeCloseTo(Math.round(e.valAccuracy! * valid.labels.length), 9);
      // The epoch loss is the size-weighted mean of its batch losses.
      const mine = batches.filter((b) => b.epoch === i);
      expect(mine.map((b) => b.size)).toEqual([16, 16, 16]);
      expect(e.loss).toBeCloseTo(mine.reduce((a, b) => a + b.loss * b.size, 0) / 48, 6);
      expect(e.accuracy).toBeCloseTo(mine.reduce((a, b) => a + b.accuracy * b.size, 0) / 48, 9);
    });
    // Validation metrics equal evaluate() right after the last epoch.
    const ev = await evaluate(m, valid, { device: d });
    expect(ev.loss).toBeCloseTo(h.epochs[2].valLoss!, 6);
    expect(ev.accuracy).toBe(h.epochs[2].valAccuracy);
    expect(m.training).toBe(true); // fit leaves the model in training mode
    // fit({ device }) moved the model there.
    expect(m.device).toBe(device);
    for (const [name, p] of m.namedParameters()) expect(p.value.device, name).toBe(device);
  });

  it('step and constant schedules set each epoch\'s learning rate', async () => {
    const m = models.lenet5bn({ layer: 'conv' });
    const small = randomDataset(8, 3);
    const h1 = await fit(m, small, { epochs: 3, batchSize: 8, lr: 0.2, schedule: { type: 'step', stepSize: 2, gamma: 0.5 }, device: d });
    expect(h1.epochs.map((e) => e.lr)).toEqual([0.2, 0.2, 0.1]);
    const h2 = await fit(m, small, { epochs: 2, batchSize: 8, lr: 0.2, schedule: 'constant', device: d });
    expect(h2.epochs.map((e) => e.lr)).toEqual([0.2, 0.2]);
  });

  it('learns: LeNet-5-BN (adder) drives the loss on 64 examples far down with fit()', async () => {
    const m = models.lenet5bn({ layer: 'adder', seed: 2 });
    const data = randomDataset(64, 4);
    const h = await fit(m, data, { epochs: 25, batchSize: 64, lr: 0.1, schedule: 'constant', weightDecay: 0, device: d });
    const first = h.epochs[0].loss;
    const last = h.epochs[24].loss;
    expect(last).toBeLessThan(0.3 * first);
  });

  it('calls onBatchEnd and onEpochEnd in order and awaits them', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const events: string[] = [];
    let pending = false;
    await fit(m, train, {
      ...options,
      callbacks: {
        onBatchEnd: async (l) => {
          expect(pending).toBe(false);
          const version = m.version;
          pending = true;
          events.push(`batch ${l.epoch}.${l.batch}`);
          await sleep(5);
          expect(m.version).toBe(version); // no training while the callback runs
          pending = false;
        },
        onEpochEnd: async (l) => {
          expect(pending).toBe(false);
          pending = true;
          events.push(`epoch ${l.epoch}`);
          await sleep(5);
          events.push(`epoch ${l.epoch} done`);
          pending = false;
        },
      },
    });
    expect(events).toEqual([
      'batch 0.0', 'batch 0.1', 'batch 0.2', 'epoch 0', 'epoch 0 done',
      'batch 1.0', 'batch 1.1', 'batch 1.2', 'epoch 1', 'epoch 1 done',
    ]);
  });

  it('a callback that throws rejects fit() with its error and frees the model', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const boom = new Error('boom');
    const err = await rejected(fit(m, train, { ...options, callbacks: { onBatchEnd: () => { throw boom; } } }));
    expect(err).toBe(boom);
    expect(m.busy).toBe(false);
  });

  it('AbortSignal stops after the current batch and rejects with the abort reason', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const controller = new AbortController();
    const reason = new Error('user stopped training');
    const seen: number[] = [];
    const err = await rejected(fit(m, train, {
      ...options,
      signal: controller.signal,
      callbacks: {
        onBatchEnd: (l) => {
          seen.push(l.batch);
          if (l.batch === 1) controller.abort(reason);
        },
      },
    }));
    expect(err).toBe(reason);
    expect(seen).toEqual([0, 1]);
    expect(m.busy).toBe(false);
    expect(m.training).toBe(true);
    // An already aborted signal: nothing is trained.
    const before = weightsOf(m);
    const aborted = AbortSignal.abort(new Error('too late'));
    expect((await rejected(fit(m, train, { ...options, signal: aborted }))).message).toBe('too late');
    expect(sameWeights(before, weightsOf(m))).toBe(true);
    // The model can be trained again.
    await expect(fit(m, train, { ...options, epochs: 1 })).resolves.toBeDefined();
    // A signal that is not an AbortSignal is a TypeError.
    expect((await rejected(fit(m, train, { ...options, signal: {} as AbortSignal }))).code).toBe('ERR_ADDERNET_TYPE');
  });

  it('a second concurrent fit on the same model rejects with ERR_ADDERNET_BUSY; the first completes', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const first = fit(m, train, options);
    const second = rejected(fit(m, train, options));
    const err = await second;
    expect(err.code).toBe('ERR_ADDERNET_BUSY');
    expect(err.message).toMatch(/one fit per model/);
    const h = await first;
    expect(h.epochs).toHaveLength(2);
    // Other models train concurrently without trouble.
    const [a, b] = await Promise.all([fit(models.lenet5bn(), train, options), fit(models.lenet5bn(), train, options)]);
    expect(a.epochs[1].loss).toBe(b.epochs[1].loss);
  });

  it('evaluate() on a model while fit() runs on it does not break the fit', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const big = randomDataset(256, 9);
    const fitting = fit(m, big, { epochs: 1, batchSize: 16, lr: 0.05, device: d });
    await sleep(0);
    const evaluating = evaluate(m, big, { batchSize: 16, device: d });
    const [f, e] = await Promise.allSettled([fitting, evaluating]);
    if (f.status === 'rejected') throw new Error(`fit() failed while evaluate() ran on the same model: ${(f.reason as Error).message}`);
    if (e.status === 'rejected') expect((e.reason as { code?: string }).code).toBe('ERR_ADDERNET_BUSY');
  });

  it('does not block the event loop: a 10 ms interval keeps ticking during fit (max gap < 1 s per LeNet batch)', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const data = randomDataset(1024, 7);
    let last = performance.now();
    let maxGap = 0;
    let ticks = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 10);
    const batchTimes: number[] = [];
    let t = performance.now();
    try {
      await fit(m, data, {
        epochs: 1, batchSize: 128, lr: 0.05, device: d,
        callbacks: { onBatchEnd: () => { const now = performance.now(); batchTimes.push(now - t); t = now; } },
      });
    } finally {
      clearInterval(timer);
    }
    const perBatch = batchTimes.reduce((a, b) => a + b, 0) / batchTimes.length;
    console.log(`event loop during fit (LeNet adder, batch 128): max gap ${maxGap.toFixed(1)} ms, ${ticks} ticks, ${perBatch.toFixed(1)} ms/batch`);
    expect(batchTimes).toHaveLength(8);
    expect(ticks).toBeGreaterThanOrEqual(4);
    expect(maxGap).toBeLessThan(1000);
  });

  it('evaluate() returns eval-mode loss and accuracy over the whole dataset and keeps the mode', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    await fit(m, train, { ...options, epochs: 1 });
    const ev = await evaluate(m, valid, { batchSize: 7, device: d });
    m.eval();
    const r = ops.softmaxCrossEntropy(m.forward(tensor(valid.images, [20, 1, 28, 28])), valid.labels, { grad: false });
    m.train();
    expect(ev.loss).toBeCloseTo(r.loss, 5);
    expect(ev.accuracy).toBe(r.correct / 20);
    expect(m.training).toBe(true);
    m.eval();
    await evaluate(m, valid, { device: d });
    expect(m.training).toBe(false);
  });

  it('rejects datasets that do not fit the model, inconsistent datasets and bad options', async () => {
    const m = models.lenet5bn();
    const cifar = randomDataset(4, 1, [3, 32, 32]);
    const shape = await rejected(fit(m, cifar, { device: d }));
    expect(shape.code).toBe('ERR_ADDERNET_SHAPE');
    expect(shape.message).toMatch(/trainData/);
    expect(shape.message).toMatch(/\[1, 28, 28\]/);
    expect((await rejected(fit(m, train, { validationData: cifar, device: d }))).code).toBe('ERR_ADDERNET_SHAPE');
    expect((await rejected(evaluate(m, cifar, { device: d }))).code).toBe('ERR_ADDERNET_SHAPE');
    expect((await rejected(fit(models.resnet20(), train, { device: d }))).code).toBe('ERR_ADDERNET_SHAPE');
    const short = { ...train, images: train.images.subarray(0, 100) };
    expect((await rejected(fit(m, short, { device: d }))).code).toBe('ERR_ADDERNET_SIZE');
    const badLabel = { ...train, labels: Int32Array.from(train.labels, (v, i) => (i === 3 ? 10 : v)) };
    const label = await rejected(fit(m, badLabel, { device: d }));
    expect(label.message).toMatch(/labels\[3\]/);
    expect((await rejected(fit(m, train, { epochs: 0, device: d }))).code).toBe('ERR_ADDERNET_OPTION');
    expect((await rejected(fit(m, train, { batchSize: 2.5, device: d }))).code).toBe('ERR_ADDERNET_OPTION');
    expect((await rejected(fit(m, train, { lr: -1, device: d }))).code).toBe('ERR_ADDERNET_OPTION');
    expect((await rejected(fit({} as Model, train, { device: d }))).code).toBe('ERR_ADDERNET_TYPE');
    expect(m.busy).toBe(false);
  });
});
