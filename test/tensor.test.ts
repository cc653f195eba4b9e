// Tensors on native device storage (issue 9): copies in and out, disposal,
// shared storage of reshape views, the caching allocator's figures, the
// finaliser, external memory reported to V8, and device names.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  emptyCache, fit, memoryInfo, models, ops, readSafetensors, resetPeakMemory, setCacheLimit, tensor, writeSafetensors, zeros,
  type Dataset, type Tensor,
} from '../lib/index';
import { caught, collectGarbage, makeRng } from './nn-helpers';

const collect = collectGarbage;

const initialLimit = memoryInfo().cacheLimit;
afterAll(() => setCacheLimit(initialLimit));

describe('reading and writing', () => {
  it('tensor() copies its input; dataSync() and data() return copies', async () => {
    const src = new Float32Array([1, 2, 3, 4]);
    const t = tensor(src, [2, 2]);
    src[0] = 99;
    expect(Array.from(t.dataSync())).toEqual([1, 2, 3, 4]);
    const read = t.dataSync();
    read[1] = -5;
    expect(Array.from(await t.data())).toEqual([1, 2, 3, 4]);
    expect(t.size).toBe(4);
    expect(t.device).toBe('cpu');
    expect(t.dtype).toBe('float32');
  });

  it('zeros(), clone() and reshape()', () => {
    const z = zeros([3, 5]);
    expect(Array.from(z.dataSync())).toEqual(new Array(15).fill(0));
    const t = tensor(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    const c = t.clone();
    t.storage.fill(7);
    expect(Array.from(c.dataSync())).toEqual([1, 2, 3, 4, 5, 6]);
    const v = t.reshape([3, 2]);
    expect(v.shape).toEqual([3, 2]);
    expect(Array.from(v.dataSync())).toEqual(new Array(6).fill(7));
    expect(caught(() => t.reshape([4, 2])).code).toBe('ERR_ADDERNET_SHAPE');
  });
});

describe('int32 tensors', () => {
  it('tensor(Int32Array) and zeros(shape, "int32") hold int32 elements; reads give Int32Arrays', async () => {
    const src = new Int32Array([-2147483648, -1, 0, 7, 2147483647, 42]);
    const t = tensor(src, [2, 3]);
    src[0] = 5;
    expect(t.dtype).toBe('int32');
    expect(t.dataSync()).toBeInstanceOf(Int32Array);
    expect(Array.from(t.dataSync())).toEqual([-2147483648, -1, 0, 7, 2147483647, 42]);
    const read = await t.data();
    expect(read).toBeInstanceOf(Int32Array);
    expect(Array.from(read)).toEqual([-2147483648, -1, 0, 7, 2147483647, 42]);
    const c = t.clone();
    const v = t.reshape([6]);
    expect(c.dtype).toBe('int32');
    expect(v.dtype).toBe('int32');
    expect(Array.from(c.dataSync())).toEqual(Array.from(v.dataSync()));
    expect(String(t)).toBe('Tensor(shape=[2, 3], dtype=int32, device=cpu)');
    const z = zeros([4], 'int32');
    expect(Array.from(z.dataSync())).toEqual([0, 0, 0, 0]);
    expect(caught(() => zeros([4], 'int8' as never))).toMatchObject({ code: 'ERR_ADDERNET_TYPE' });
    for (const x of [t, c, v, z]) x.dispose();
  });

  it('writeSafetensors stores an int32 tensor as I32', () => {
    const file = path.join(os.tmpdir(), `addernet-int32-${process.pid}.safetensors`);
    try {
      writeSafetensors(file, { idx: tensor(new Int32Array([3, -4, 5]), [3]) });
      const back = readSafetensors(file).get('idx')!;
      expect(back.dtype).toBe('I32');
      expect(Array.from(back.data as Int32Array)).toEqual([3, -4, 5]);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('an op refuses an int32 tensor where it takes float32 values, naming the argument', () => {
    const idx = tensor(new Int32Array(4), [1, 1, 2, 2]);
    const e = caught(() => ops.relu(idx as never));
    expect(e).toBeInstanceOf(TypeError);
    expect(e).toMatchObject({ code: 'ERR_ADDERNET_TYPE' });
    expect((e as Error).message).toMatch(/^Expected a float32 Tensor .*for x but received an int32 Tensor of shape \[1, 1, 2, 2\]$/);
    idx.dispose();
  });
});

describe('dispose', () => {
  it('frees the storage; reading or using a disposed tensor is a coded error', () => {
    const t = tensor(new Float32Array(8), [2, 4]);
    expect(t.disposed).toBe(false);
    t.dispose();
    t.dispose(); // idempotent
    expect(t.disposed).toBe(true);
    expect(String(t)).toBe('Tensor(shape=[2, 4], device=cpu, disposed)');
    const e = caught(() => t.dataSync());
    expect(e.code).toBe('ERR_ADDERNET_DISPOSED');
    expect(e.message).toMatch(/was disposed/);
    expect(caught(() => t.clone()).code).toBe('ERR_ADDERNET_DISPOSED');
    expect(caught(() => ops.adaptiveScale(t)).code).toBe('ERR_ADDERNET_DISPOSED');
    const w = zeros([1, 4]);
    const err = caught(() => ops.linear(t, w));
    expect(err.code).toBe('ERR_ADDERNET_DISPOSED');
    expect(err.message).toBe('addernet: x is a disposed tensor (shape [2, 4])');
    return expect(t.data()).rejects.toMatchObject({ code: 'ERR_ADDERNET_DISPOSED' });
  });

  it('Symbol.dispose disposes (for `using`)', () => {
    const t = zeros([4]);
    t[Symbol.dispose]();
    expect(t.disposed).toBe(true);
  });

  it('a reshape view keeps the storage alive until it is disposed too', () => {
    const before = memoryInfo().liveTensors;
    const t = zeros([64, 64]);
    const v = t.reshape([4096]);
    expect(memoryInfo().liveTensors).toBe(before + 1); // one storage, two tensors
    t.dispose();
    expect(memoryInfo().liveTensors).toBe(before + 1);
    expect(v.dataSync().length).toBe(4096);
    v.dispose();
    expect(memoryInfo().liveTensors).toBe(before);
  });
});

describe('the caching allocator (memoryInfo)', () => {
  it('counts live and cached bytes; a freed block is reused for the next tensor of its size class', () => {
    emptyCache();
    const m0 = memoryInfo();
    expect(m0.cachedBytes).toBe(0);
    const a = zeros([1000, 1000]); // 4 MB
    const m1 = memoryInfo();
    expect(m1.liveTensors).toBe(m0.liveTensors + 1);
    expect(m1.liveBytes - m0.liveBytes).toBeGreaterThanOrEqual(4e6);
    expect(m1.liveBytes - m0.liveBytes).toBeLessThanOrEqual(4e6 * 1.25 + 4096);
    a.dispose();
    const m2 = memoryInfo();
    expect(m2.liveBytes).toBe(m0.liveBytes);
    expect(m2.cachedBytes).toBe(m1.liveBytes - m0.liveBytes);
    const b = zeros([999, 1001]); // same size class
    expect(memoryInfo().cachedBytes).toBe(0);
    b.dispose();
    emptyCache();
    expect(memoryInfo().cachedBytes).toBe(0);
  });

  it('peak, reset, and a cache limit of 0 (every free goes back to the system)', () => {
    resetPeakMemory();
    const base = memoryInfo();
    expect(base.peakBytes).toBe(base.liveBytes);
    const t = zeros([256, 1024]);
    t.dispose();
    expect(memoryInfo().peakBytes).toBeGreaterThanOrEqual(base.liveBytes + 1024 * 1024);
    setCacheLimit(0);
    zeros([256, 1024]).dispose();
    expect(memoryInfo().cachedBytes).toBe(0);
    setCacheLimit(initialLimit);
    expect(caught(() => setCacheLimit(-1)).code).toBe('ERR_ADDERNET_OPTION');
  });

  it('a tensor that is never disposed is freed by its finaliser', async () => {
    await collect();
    const before = memoryInfo().liveBytes;
    (() => {
      for (let i = 0; i < 10; i++) zeros([1 << 18]);
    })();
    expect(memoryInfo().liveBytes).toBeGreaterThanOrEqual(before + 10 * (1 << 20));
    await collect();
    expect(memoryInfo().liveBytes).toBe(before);
  });

  it('native bytes are reported to V8: dropped tensors are collected under memory pressure alone', async () => {
    // 2 GiB of 16 MiB tensors, never disposed and the JS heap nearly idle: only
    // the external bytes reported to V8 make it collect them. N-API runs
    // finalisers after the current macrotask, hence the setImmediate (a
    // synchronous loop must dispose its tensors).
    let most = 0;
    for (let i = 0; i < 128; i++) {
      zeros([1 << 22]);
      most = Math.max(most, memoryInfo().liveBytes);
      await new Promise((r) => setImmediate(r));
    }
    expect(most).toBeLessThan(1 << 30);
  });

  it('a LeNet-5-BN fit leaves nothing alive once the model is gone', async () => {
    await collect();
    const base = memoryInfo();
    await (async () => {
      const rng = makeRng(5);
      const data: Dataset = { images: rng.normalArray(32 * 784), labels: Int32Array.from({ length: 32 }, () => rng.int(10)), shape: [1, 28, 28], numClasses: 10 };
      const m = models.lenet5bn({ layer: 'adder', seed: 1 });
      await fit(m, data, { epochs: 1, batchSize: 16 });
      await m.dispose();
    })();
    await collect();
    const after = memoryInfo();
    expect(after.liveTensors).toBe(base.liveTensors);
    expect(after.liveBytes).toBe(base.liveBytes);
  });
});

describe('devices', () => {
  it("to('cpu') is the tensor itself; other devices are coded errors", () => {
    const t: Tensor = zeros([2]);
    expect(t.to('cpu')).toBe(t);
    const e = caught(() => t.to('cuda' as never));
    expect(e.code).toBe('ERR_ADDERNET_DEVICE');
    expect(e.message).toMatch(/Expected one of "cpu" \(this build has no CUDA backend yet\) for device but received "cuda"/);
    expect(caught(() => memoryInfo('gpu' as never)).code).toBe('ERR_ADDERNET_DEVICE');
  });
});
