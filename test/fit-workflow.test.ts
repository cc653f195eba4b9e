// The training workflow around fit() (issue 14): BatchNorm recalibration,
// callbacks and their order, early stopping, and the coded errors of empty
// or mistaken inputs.
import { describe, expect, it } from 'vitest';
import { callbacks, data, evaluate, fit, memoryInfo, models, recalibrateBatchNorm, type Dataset, type Model } from '../lib/index';
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

  it('is a cumulative average of batch statistics, independent of the old running statistics', async () => {
    const m = models.lenet5bn({ layer: 'adder', seed: 3 });
    const a = randomDataset(32, 1);
    const b = randomDataset(32, 2);
    const both: Dataset = { ...a, images: Float32Array.from([...a.images, ...b.images]), labels: Int32Array.from([...a.labels, ...b.labels]) };
    await recalibrateBatchNorm(m, a, { batchSize: 32 });
    const sa = runningStats(m);
    await recalibrateBatchNorm(m, b, { batchSize: 32 });
    const sb = runningStats(m);
    await recalibrateBatchNorm(m, both, { batchSize: 32 });
    const sab = runningStats(m);
    for (const k of Object.keys(sa)) {
      for (let i = 0; i < sa[k].length; i++) {
        const want = (sa[k][i] + sb[k][i]) / 2;
        expect(Math.abs(sab[k][i] - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want)));
      }
    }
    // Only the first batch: the same as recalibrating on a alone.
    await recalibrateBatchNorm(m, both, { batchSize: 32, batches: 1 });
    for (const [k, v] of Object.entries(runningStats(m))) expect(sameBits(v, sa[k])).toBe(true);
    expect(Object.values(m.batchCounters())).toEqual([1, 1, 1, 1, 1]);
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
