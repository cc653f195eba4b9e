// The training workflow around fit() (issue 14): BatchNorm recalibration,
// callbacks and their order, early stopping, and the coded errors of empty
// or mistaken inputs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../lib/io/safetensors';
import { callbacks, data, evaluate, fit, loadModel, memoryInfo, models, recalibrateBatchNorm, saveModel, tensor, type Dataset, type EpochLogs, type Model } from '../lib/index';
import { makeRng, sameBits, sizeOf } from './nn-helpers';

function randomDataset(n: number, seed: number): Dataset {
  const rng = makeRng(seed);
  const shape: [number, number, number] = [1, 28, 28];
  return { images: rng.normalArray(n * sizeOf(shape)), labels: Int32Array.from({ length: n }, () => rng.int(10)), shape, numClasses: 10 };
}

const runningStats = (m: Model): Record<string, Float32Array> =>
  Object.fromEntries(Object.entries(m.stateDict()).filter(([k]) => k.includes('running_')).map(([k, t]) => [k, t.dataSync().slice()]));
const weights = (m: Model): Record<string, Float32Array> =>
  Object.fromEntries(m.parameters().map((p, i) => [String(i), p.value.dataSync().slice()]));

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('BatchNorm recalibration', () => {
  const mnist = data.loadMnistBundled();

  it('lifts a 1-epoch AdderNet from chance to the CNN\'s level in eval mode', async () => {
    const m = models.lenet5bn({ layer: 'adder', seed: 0 });
    await fit(m, mnist.train, { epochs: 1, batchSize: 64, lr: 0.1, seed: 0, recalibrateBatchNorm: false });
    const before = await evaluate(m, mnist.test);
    const r = await recalibrateBatchNorm(m, mnist.train);
    const after = await evaluate(m, mnist.test);
    expect(r.layers).toBe(5);
    expect(r.batches).toBe(Math.ceil(8000 / 256));
    expect(r.examples).toBe(8000);
    // The running statistics lag the adder outputs (SPEC: adaptive lr): eval
    // accuracy collapses without the recalibration.
    expect(before.accuracy).toBeLessThan(0.6);
    expect(after.accuracy).toBeGreaterThan(0.9);
    // fit() does it by default for adder models, after the last epoch.
    const byDefault = models.lenet5bn({ layer: 'adder', seed: 0 });
    await fit(byDefault, mnist.train, { epochs: 1, batchSize: 64, lr: 0.1, seed: 0 });
    expect((await evaluate(byDefault, mnist.test)).accuracy).toBeGreaterThan(0.9);
    await Promise.all([m.dispose(), byDefault.dispose()]);
  }, 60_000);

  it('is a cumulative average of batch statistics over a shuffled order, independent of the old running statistics', async () => {
    const m = models.lenet5bn({ layer: 'adder', seed: 3 });
    const x = randomDataset(32, 1);
    const y = randomDataset(32, 2);
    const both: Dataset = { ...x, images: Float32Array.from([...x.images, ...y.images]), labels: Int32Array.from([...x.labels, ...y.labels]) };
    // The two batches recalibration draws from `both` (seed 0), each alone.
    const order = Array.from(data.epochOrder(64, { seed: 0, epoch: 0 }));
    const a = { ...data.subset(both, order.slice(0, 32)), numClasses: 10 };
    const b = { ...data.subset(both, order.slice(32)), numClasses: 10 };
    const close = (got: Record<string, Float32Array>, want: (k: string, i: number) => number) => {
      for (const k of Object.keys(got)) {
        for (let i = 0; i < got[k].length; i++) expect(Math.abs(got[k][i] - want(k, i)), k).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want(k, i))));
      }
    };
    await recalibrateBatchNorm(m, a, { batchSize: 32 });
    const sa = runningStats(m);
    await recalibrateBatchNorm(m, b, { batchSize: 32 });
    const sb = runningStats(m);
    await recalibrateBatchNorm(m, both, { batchSize: 32 });
    close(runningStats(m), (k, i) => (sa[k][i] + sb[k][i]) / 2);
    // Only the first batch: the same as recalibrating on a alone (up to the order of the sums).
    await recalibrateBatchNorm(m, both, { batchSize: 32, batches: 1 });
    close(runningStats(m), (k, i) => sa[k][i]);
    expect(Object.values(m.batchCounters())).toEqual([1, 1, 1, 1, 1]);
    // Another seed draws other batches: other statistics.
    const s0 = runningStats(m);
    await recalibrateBatchNorm(m, both, { batchSize: 32, batches: 1, seed: 5 });
    expect(Object.entries(runningStats(m)).some(([k, v]) => !sameBits(v, s0[k]))).toBe(true);
    await m.dispose();
  });

  it('leaves the CNN alone by default and frees what it makes', async () => {
    const base = memoryInfo().liveTensors;
    const m = models.lenet5bn({ layer: 'conv', seed: 1 });
    const ds = randomDataset(64, 4);
    await fit(m, ds, { epochs: 1, batchSize: 32, seed: 1 });
    const s1 = runningStats(m);
    const m2 = models.lenet5bn({ layer: 'conv', seed: 1 });
    await fit(m2, ds, { epochs: 1, batchSize: 32, seed: 1, recalibrateBatchNorm: false });
    for (const [k, v] of Object.entries(runningStats(m2))) expect(sameBits(v, s1[k])).toBe(true);
    await fit(m2, ds, { epochs: 2, batchSize: 32, seed: 1, recalibrateBatchNorm: 'epoch' });
    await recalibrateBatchNorm(m2, ds);
    await Promise.all([m.dispose(), m2.dispose()]);
    expect(memoryInfo().liveTensors).toBe(base);
  });

  it('refuses bad arguments with codes', async () => {
    const m = models.lenet5bn({ layer: 'adder', seed: 1 });
    const ds = randomDataset(8, 4);
    expect(await codeOf(recalibrateBatchNorm(m, ds, { batchSize: 1 }))).toBe('ERR_ADDERNET_OPTION');
    expect(await codeOf(recalibrateBatchNorm(m, ds, { batches: 0 }))).toBe('ERR_ADDERNET_OPTION');
    expect(await codeOf(recalibrateBatchNorm(m, { ...ds, shape: [3, 32, 32], images: new Float32Array(8 * 3072) }))).toBe('ERR_ADDERNET_SHAPE');
    expect(await codeOf(fit(m, ds, { recalibrateBatchNorm: 'always' as never }))).toBe('ERR_ADDERNET_OPTION');
    await m.dispose();
  });
});

describe('callbacks', () => {
  const ds = randomDataset(32, 7);
  const opts = { epochs: 2, batchSize: 16, lr: 0.01, seed: 1, recalibrateBatchNorm: false as const };

  it('are awaited in order, several objects in turn', async () => {
    const m = models.lenet5bn({ layer: 'conv', seed: 1 });
    const seen: string[] = [];
    const tag = (who: string) => ({
      onTrainBegin: (l: { epochs: number; examples: number }) => void seen.push(`${who}:train+${l.epochs}x${l.examples}`),
      onEpochBegin: (l: { epoch: number }) => void seen.push(`${who}:epoch+${l.epoch}`),
      onBatchBegin: async (l: { batch: number }) => {
        await new Promise((r) => setTimeout(r, 1));
        seen.push(`${who}:batch+${l.batch}`);
      },
      onBatchEnd: (l: { batch: number }) => void seen.push(`${who}:batch-${l.batch}`),
      onEpochEnd: (l: { epoch: number }) => void seen.push(`${who}:epoch-${l.epoch}`),
      onTrainEnd: (h: { epochs: unknown[] }) => void seen.push(`${who}:train-${h.epochs.length}`),
    });
    const h = await fit(m, ds, { ...opts, callbacks: [tag('a'), tag('b')] });
    expect(h.stopped).toBeUndefined();
    const one = ['train+2x32', 'epoch+0', 'batch+0', 'batch-0', 'batch+1', 'batch-1', 'epoch-0', 'epoch+1', 'batch+0', 'batch-0', 'batch+1', 'batch-1', 'epoch-1', 'train-2'];
    expect(seen).toEqual(one.flatMap((e) => [`a:${e}`, `b:${e}`]));
    await m.dispose();
  });

  it('control.stop() ends training and fit() resolves with the history so far', async () => {
    const m = models.lenet5bn({ layer: 'conv', seed: 1 });
    const before = weights(m);
    // Before the first batch: nothing trained.
    const h0 = await fit(m, ds, { ...opts, callbacks: { onBatchBegin: (_l, c) => c.stop('not today') } });
    expect(h0.stopped).toEqual({ by: 'callback', reason: 'not today', epoch: 0, batch: -1 });
    expect(h0.epochs).toEqual([]);
    for (const [k, v] of Object.entries(weights(m))) expect(sameBits(v, before[k])).toBe(true);
    // After the first epoch.
    const h1 = await fit(m, ds, { ...opts, callbacks: { onEpochEnd: (l, c) => { if (l.epoch === 0) c.stop(); } } });
    expect(h1.epochs.map((e) => e.epoch)).toEqual([0]);
    expect(h1.stopped).toMatchObject({ by: 'callback', epoch: 1, batch: -1 });
    expect(m.busy).toBe(false);
    await m.dispose();
  });

  it('earlyStopping stops when the monitored figure stops improving and can restore the best weights', async () => {
    const m = models.lenet5bn({ layer: 'conv', seed: 2 });
    const atEpoch: Record<string, Float32Array>[] = [];
    // minDelta this large: no epoch after the first counts as an improvement.
    const stopper = callbacks.earlyStopping({ monitor: 'loss', patience: 1, minDelta: 1e9, restoreBestWeights: true });
    const h = await fit(m, ds, {
      ...opts,
      epochs: 10,
      callbacks: [{ onEpochEnd: () => void atEpoch.push(weights(m)) }, stopper],
    });
    expect(h.epochs.length).toBe(3); // best at 0, then patience 1: epochs 1 and 2 do not improve
    expect(h.stopped?.by).toBe('callback');
    expect(String(h.stopped?.reason)).toMatch(/early stopping: loss has not improved for 2 epochs/);
    expect(stopper.state).toMatchObject({ bestEpoch: 0, stoppedEpoch: 2 });
    expect(sameBits(weights(m)['0'], atEpoch[2]['0'])).toBe(false);
    for (const [k, v] of Object.entries(weights(m))) expect(sameBits(v, atEpoch[0][k])).toBe(true);
    // An accuracy is maximised; a val* figure needs validation data.
    const acc = callbacks.earlyStopping({ monitor: 'valAccuracy', patience: 0 });
    expect(await codeOf(fit(m, ds, { ...opts, callbacks: acc }))).toBe('ERR_ADDERNET_OPTION');
    const h2 = await fit(m, ds, { ...opts, epochs: 3, validationData: ds, callbacks: acc });
    expect(h2.epochs.length).toBeGreaterThanOrEqual(1);
    await m.dispose();
  });

  it('bad callbacks and early-stopping options are coded errors', async () => {
    const m = models.lenet5bn({ layer: 'conv', seed: 1 });
    expect(await codeOf(fit(m, ds, { ...opts, callbacks: { onBatchFinish: () => {} } as never }))).toBe('ERR_ADDERNET_OPTION');
    // Other members (state, helpers) are the callback object's own business.
    await expect(fit(m, ds, { ...opts, epochs: 1, callbacks: { state: 1, onEpochEnd: () => {} } as never })).resolves.toBeDefined();
    expect(await codeOf(fit(m, ds, { ...opts, callbacks: { onBatchEnd: 3 } as never }))).toBe('ERR_ADDERNET_TYPE');
    expect(await codeOf(fit(m, ds, { ...opts, callbacks: [null] as never }))).toBe('ERR_ADDERNET_TYPE');
    expect(await codeOf(() => callbacks.earlyStopping({ monitor: 'f1' as never }))).toBe('ERR_ADDERNET_OPTION');
    expect(await codeOf(() => callbacks.earlyStopping({ patience: -1 }))).toBe('ERR_ADDERNET_OPTION');
    expect(await codeOf(() => callbacks.earlyStopping({ mode: 'up' as never }))).toBe('ERR_ADDERNET_OPTION');
    await m.dispose();
  });
});

describe('empty and mistaken datasets', () => {
  const ds = randomDataset(10, 3);

  it('subset() refuses ranges and indices outside the dataset instead of returning nothing', () => {
    expect(data.subset(ds, 2, 5).labels).toEqual(ds.labels.slice(2, 5));
    expect(data.subset(ds, 7).labels).toEqual(ds.labels.slice(7));
    expect(data.subset(ds, [9, 0]).labels).toEqual(Int32Array.from([ds.labels[9], ds.labels[0]]));
    const code = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return undefined;
    };
    expect(code(() => data.subset(ds, 0, 640))).toBe('ERR_ADDERNET_OPTION');
    expect(code(() => data.subset(ds, 10))).toBe('ERR_ADDERNET_OPTION');
    expect(code(() => data.subset(ds, 3, 3))).toBe('ERR_ADDERNET_OPTION');
    expect(code(() => data.subset(ds, []))).toBe('ERR_ADDERNET_OPTION');
    expect(code(() => data.subset(ds, 'abc' as never))).toBe('ERR_ADDERNET_TYPE');
    expect(() => data.subset(ds, 0, 640)).toThrow('Expected an integer in (0, 10] (the dataset has 10 examples) for end but received 640');
  });

  it('fit() and evaluate() refuse an empty dataset', async () => {
    const m = models.lenet5bn({ layer: 'conv', seed: 1 });
    const empty: Dataset = { images: new Float32Array(0), labels: new Int32Array(0), shape: [1, 28, 28], numClasses: 10 };
    expect(await codeOf(fit(m, empty))).toBe('ERR_ADDERNET_SIZE');
    expect(await codeOf(fit(m, ds, { validationData: empty }))).toBe('ERR_ADDERNET_SIZE');
    expect(await codeOf(evaluate(m, empty))).toBe('ERR_ADDERNET_SIZE');
    await m.dispose();
  });
});

describe('resumable training', () => {
  const mnist = data.loadMnistBundled();
  const small = data.subset(mnist.train, Array.from({ length: 300 }, (_, i) => (i * 27) % 8000));
  small.numClasses = 10;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-resume-'));
  const state = (m: Model): Record<string, Float32Array> => Object.fromEntries(Object.entries(m.stateDict()).map(([k, t]) => [k, t.dataSync().slice()]));
  const withoutTimes = (epochs: EpochLogs[]) => epochs.map(({ seconds: _s, examplesPerSecond: _e, ...rest }) => rest);
  const logLines = (file: string) => fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as EpochLogs);

  for (const [name, opts] of [
    ['SGD with momentum and augmentation', { optimizer: 'sgd', augment: true }],
    ['AdamW', { optimizer: 'adamw', lr: 2e-3 }],
  ] as const) {
    it(`${name}: an interrupted run resumed from its checkpoint equals the uninterrupted run bit for bit`, async () => {
      const base = { epochs: 3, batchSize: 32, seed: 4, validationData: data.subset(mnist.test, 0, 64), ...opts } as const;
      const full = models.lenet5bn({ layer: 'adder', seed: 1 });
      const fullPath = path.join(tmp, `${opts.optimizer}-full.safetensors`);
      const h0 = await fit(full, small, { ...base, checkpoint: fullPath });

      const cut = models.lenet5bn({ layer: 'adder', seed: 1 });
      const cutPath = path.join(tmp, `${opts.optimizer}-cut.safetensors`);
      const controller = new AbortController();
      const h1 = await fit(cut, small, {
        ...base, checkpoint: { path: cutPath, everyEpochs: 1 }, signal: controller.signal,
        callbacks: { onBatchEnd: ({ epoch, batch }) => void (epoch === 1 && batch === 3 && controller.abort(new Error('Ctrl-C'))) },
      });
      expect(h1.stopped).toMatchObject({ by: 'signal', epoch: 1, batch: 3 });
      expect(h1.epochs).toHaveLength(1);
      // Another initialisation: everything must come from the checkpoint, options included.
      const resumed = models.lenet5bn({ layer: 'adder', seed: 77 });
      const begins: number[] = [];
      const h2 = await fit(resumed, small, { resumeFrom: cutPath, checkpoint: cutPath, validationData: base.validationData, callbacks: { onBatchBegin: ({ epoch, batch }) => void (epoch === 1 && begins.push(batch)) } });
      expect(begins[0]).toBe(4); // the interrupted epoch continues after its last finished step
      expect(h2.stopped).toBeUndefined();
      const a = state(full);
      const b = state(resumed);
      expect(Object.keys(b)).toEqual(Object.keys(a));
      for (const k of Object.keys(a)) expect(sameBits(a[k], b[k]), k).toBe(true);
      expect(withoutTimes(h2.epochs)).toEqual(withoutTimes(h0.epochs));
      // The JSON Lines log beside each checkpoint has one line per epoch, the same ones.
      expect(withoutTimes(logLines(path.join(tmp, `${opts.optimizer}-cut.log.jsonl`)))).toEqual(withoutTimes(h0.epochs));
      expect(withoutTimes(logLines(path.join(tmp, `${opts.optimizer}-full.log.jsonl`)))).toEqual(withoutTimes(h0.epochs));
      // A training checkpoint is also a model file.
      const loaded = loadModel(fullPath);
      const x = tensor(mnist.test.images.slice(0, 4 * 784), [4, 1, 28, 28]);
      expect(sameBits((await loaded.predict(x)).dataSync(), (await full.predict(x)).dataSync())).toBe(true);
      await Promise.all([full.dispose(), cut.dispose(), resumed.dispose(), loaded.dispose()]);
    }, 60_000);
  }

  it('a finished run resumed with more epochs continues its schedule; initialEpoch starts the schedule later', async () => {
    const m = models.lenet5bn({ layer: 'conv', seed: 2 });
    const file = path.join(tmp, 'more.safetensors');
    await fit(m, small, { epochs: 2, batchSize: 100, checkpoint: file, schedule: 'constant', lr: 0.05 });
    const lrs: number[] = [];
    const h = await fit(m, small, { resumeFrom: file, epochs: 4, callbacks: { onEpochBegin: ({ epoch, lr }) => void lrs.push(epoch, lr) } });
    expect(lrs).toEqual([2, 0.05, 3, 0.05]);
    expect(h.epochs.map((e) => e.epoch)).toEqual([0, 1, 2, 3]);
    const seen: number[] = [];
    await fit(m, small, { epochs: 4, initialEpoch: 2, batchSize: 100, callbacks: { onEpochBegin: ({ epoch, lr }) => void seen.push(epoch, lr) } });
    // Cosine over 4 epochs, from epoch 2: lr/2 * (1 + cos(pi * epoch / 4)).
    expect(seen).toEqual([2, 0.05 * (1 + Math.cos(Math.PI / 2)), 3, 0.05 * (1 + Math.cos((3 * Math.PI) / 4))]);
    await m.dispose();
  }, 60_000);

  it('refuses checkpoints that do not fit and contradictory options, with codes, changing nothing', async () => {
    const adder = models.lenet5bn({ layer: 'adder', seed: 3 });
    const conv = models.lenet5bn({ layer: 'conv', seed: 3 });
    const plain = path.join(tmp, 'plain.safetensors');
    saveModel(adder, plain);
    const convCkpt = path.join(tmp, 'conv.safetensors');
    const ctl = new AbortController();
    await fit(conv, small, { epochs: 2, batchSize: 50, checkpoint: convCkpt, signal: ctl.signal, callbacks: { onBatchEnd: ({ batch }) => void (batch === 1 && ctl.abort()) } });
    const before = state(adder);
    await expect(fit(adder, small, { resumeFrom: plain })).rejects.toMatchObject({ code: 'ERR_ADDERNET_FORMAT', message: expect.stringContaining('training checkpoint') });
    await expect(fit(adder, small, { resumeFrom: convCkpt })).rejects.toMatchObject({ code: 'ERR_ADDERNET_FORMAT', message: expect.stringContaining("a checkpoint of this model's architecture") });
    await expect(fit(conv, small, { resumeFrom: convCkpt, optimizer: 'adam' })).rejects.toMatchObject({ code: 'ERR_ADDERNET_OPTION' });
    await expect(fit(conv, small, { resumeFrom: convCkpt, batchSize: 64 })).rejects.toMatchObject({ code: 'ERR_ADDERNET_OPTION', message: expect.stringContaining('inside an epoch') });
    await expect(fit(conv, data.subset(small, 0, 299), { resumeFrom: convCkpt })).rejects.toMatchObject({ code: 'ERR_ADDERNET_OPTION', message: expect.stringContaining('trainData') });
    await expect(fit(conv, small, { resumeFrom: convCkpt, initialEpoch: 1 })).rejects.toMatchObject({ code: 'ERR_ADDERNET_OPTION' });
    await expect(fit(adder, small, { optimizer: 'adam', momentum: 0.9 })).rejects.toMatchObject({ code: 'ERR_ADDERNET_OPTION' });
    await expect(fit(adder, small, { optimizer: 'sgd', betas: [0.9, 0.99] })).rejects.toMatchObject({ code: 'ERR_ADDERNET_OPTION' });
    await expect(fit(adder, small, { optimizer: 'rmsprop' as never })).rejects.toMatchObject({ code: 'ERR_ADDERNET_OPTION' });
    await expect(fit(adder, small, { checkpoint: { path: '' } })).rejects.toMatchObject({ code: 'ERR_ADDERNET_TYPE' });
    // A tampered training state (history shorter than the epoch says) is a format error.
    const file = readSafetensors(convCkpt);
    const training = JSON.parse(file.metadata.training);
    training.epoch = 1;
    const tampered = path.join(tmp, 'tampered.safetensors');
    writeSafetensors(tampered, Object.fromEntries(file), { ...file.metadata, training: JSON.stringify(training) });
    await expect(fit(conv, small, { resumeFrom: tampered })).rejects.toMatchObject({ code: 'ERR_ADDERNET_FORMAT', message: expect.stringContaining('training.history') });
    // Hostile training metadata: every field wrong in turn is a coded error, never a crash or a silent NaN.
    const hostile: [string, unknown][] = [
      ['epoch', -1], ['batch', 1e9], ['steps', 'x'], ['partial', { lossSum: 'NaN' }], ['history', null], ['version', 2],
      ['settings', { ...training.settings, epochs: 0 }], ['settings', { ...training.settings, batchSize: 1.5 }],
      ['settings', { ...training.settings, schedule: 'bogus' }], ['settings', { ...training.settings, optimizer: { type: 'sgd', momentum: -1, dampening: 0, weightDecay: 0, nesterov: false, eta: 0.2 } }],
      ['settings', { ...training.settings, optimizer: { type: 'lbfgs' } }], ['settings', { ...training.settings, lr: Infinity }], ['settings', null],
    ];
    for (const [field, value] of hostile) {
      const bent = JSON.parse(file.metadata.training);
      bent[field] = value;
      writeSafetensors(tampered, Object.fromEntries(file), { ...file.metadata, training: JSON.stringify(bent) });
      await expect(fit(conv, small, { resumeFrom: tampered }), field).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_ADDERNET_(FORMAT|OPTION)$/) });
    }
    writeSafetensors(tampered, Object.fromEntries(file), { ...file.metadata, training: '{"version": 1, ' });
    await expect(fit(conv, small, { resumeFrom: tampered })).rejects.toMatchObject({ code: 'ERR_ADDERNET_FORMAT' });
    const after = state(adder);
    for (const k of Object.keys(before)) expect(sameBits(before[k], after[k]), k).toBe(true);
    await Promise.all([adder.dispose(), conv.dispose()]);
  }, 60_000);
});

describe('evaluation metrics', () => {
  const mnist = data.loadMnistBundled();

  it('top-k, per-class accuracy and the confusion matrix agree with the logits of predict()', async () => {
    const m = models.lenet5bn({ layer: 'adder', seed: 5 });
    const train = data.subset(mnist.train, Array.from({ length: 400 }, (_, i) => i * 20));
    train.numClasses = 10;
    await fit(m, train, { epochs: 1, batchSize: 50 });
    // Classes 0-7 only (the bundled test set is sorted by class), an odd batch size.
    const test = data.subset(mnist.test, 0, 1500);
    const e = await evaluate(m, test, { batchSize: 97, topK: [3, 1, 10] });
    const logits = (await m.predict(tensor(test.images, [1500, 1, 28, 28]))).dataSync();
    const confusion = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    const hits = { 1: 0, 3: 0, 10: 0 };
    for (let r = 0; r < 1500; r++) {
      const z = Array.from(logits.subarray(r * 10, r * 10 + 10));
      const t = test.labels[r];
      const order = z.map((v, j) => [v, j] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).map(([, j]) => j);
      confusion[t][order[0]] += 1;
      for (const k of [1, 3, 10] as const) if (order.slice(0, k).includes(t)) hits[k] += 1;
    }
    expect(e.confusionMatrix).toEqual(confusion);
    expect(Object.keys(e.topK)).toEqual(['1', '3', '10']);
    expect(e.topK[1]).toBe(e.accuracy);
    expect(e.topK).toEqual({ 1: hits[1] / 1500, 3: hits[3] / 1500, 10: 1 });
    expect(e.accuracy).toBeGreaterThan(0.3); // a model that learnt something (chance: 0.1), so the checks are not all zeros
    expect(e.examples).toBe(1500);
    const present = [...new Set(test.labels)];
    e.perClassAccuracy.forEach((a, c) => {
      if (!present.includes(c)) expect(a).toBeNull();
      else expect(a).toBeCloseTo(confusion[c][c] / confusion[c].reduce((x, y) => x + y, 0), 12);
    });
    expect((await evaluate(m, test)).topK).toHaveProperty('5');
    for (const bad of [0, 11, 2.5, [], ['1']]) {
      await expect(evaluate(m, test, { topK: bad as never })).rejects.toMatchObject({ code: expect.stringMatching(/ERR_ADDERNET_(OPTION|TYPE)/) });
    }
    await m.dispose();
  }, 60_000);
});
