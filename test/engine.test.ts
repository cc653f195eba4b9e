// The device queue (issue 9): ops return once their kernel is queued, reads
// and host writes are ordered with them, a failure inside a queued kernel
// rejects the read that depends on it (code, message naming the op, the
// reader's stack) and passes to what is computed from it, disposing while
// queued is safe, and fit() leaves the event loop free during a step.
import { describe, expect, it } from 'vitest';
import { fit, memoryInfo, models, ops, tensor, zeros, type Dataset } from '../lib/index';
import { collectGarbage, makeRng, sizeOf } from './nn-helpers';

const collect = collectGarbage;

const rng = makeRng(91);
const t = (shape: number[], scale = 1) => tensor(rng.normalArray(sizeOf(shape), scale), shape);

describe('the CPU queue', () => {
  it('a long chain of queued ops reads back what running them one by one gives', () => {
    const x = t([4, 3, 9, 9]);
    const w = t([5, 3, 3, 3]);
    let y = ops.adder2d(x, w, { padding: 1 });
    const want: Float32Array[] = [];
    for (let i = 0; i < 30; i++) {
      y = ops.add(ops.relu(y), y);
      if (i % 10 === 9) want.push(y.dataSync());
    }
    // The same computation with a read (a wait) after every op.
    let z = ops.adder2d(x, w, { padding: 1 });
    z.dataSync();
    for (let i = 0; i < 30; i++) {
      const r = ops.relu(z);
      r.dataSync();
      z = ops.add(r, z);
      if (i % 10 === 9) expect(Buffer.from(z.dataSync().buffer).equals(Buffer.from(want[(i - 9) / 10].buffer))).toBe(true);
    }
  });

  it('a host write is ordered after the ops queued before it', () => {
    const x = t([8, 16]);
    const w = t([4, 16]);
    const before = ops.linear(x, w).dataSync();
    const y = ops.linear(x, w); // queued with the current w
    w.storage.fill(0); // waits for y's kernel, then writes
    expect(Array.from(y.dataSync())).toEqual(Array.from(before));
    expect(Array.from(ops.linear(x, w, zeros([4])).dataSync())).toEqual(new Array(32).fill(0));
  });

  it('disposing inputs and outputs while their kernels are queued is safe, and frees everything', async () => {
    await collect();
    const base = memoryInfo();
    let last = zeros([1]);
    for (let i = 0; i < 20; i++) {
      const x = t([8, 16, 24, 24]);
      const w = t([32, 16, 3, 3]);
      const y = ops.conv2d(x, w, { padding: 1 });
      x.dispose();
      w.dispose();
      const x2 = t([8, 16, 24, 24]);
      const w2 = t([32, 16, 3, 3]);
      const g = ops.conv2dBackward(x2, w2, y, { padding: 1 });
      last.dispose();
      last = ops.relu(g.gradWeight); // the newest op: reading it waits for everything before
      for (const v of [y, x2, w2, g.gradInput!, g.gradWeight]) v.dispose();
    }
    await last.data();
    last.dispose();
    expect(memoryInfo().liveTensors).toBe(base.liveTensors);
  });
});

describe('stream-ordered reuse of memory', () => {
  it('a block freed while its kernels are queued backs the next output at once, and old readers still see the old data', async () => {
    const n = 1 << 20;
    const src = rng.normalArray(n);
    for (let round = 0; round < 5; round++) {
      const x = tensor(src, [n]);
      const y = ops.relu(x); // queued: reads x
      x.dispose(); // x's block goes to stream-ordered reuse while relu may still read it
      const before = memoryInfo().systemAllocations;
      const w = ops.add(y, y); // same size class: takes x's block, written after relu ran
      const v = ops.add(w, y);
      expect(memoryInfo().systemAllocations - before).toBeLessThanOrEqual(1); // one of the two outputs reuses x's block
      const [yd, wd, vd] = await Promise.all([y.data(), w.data(), v.data()]);
      for (let i = 0; i < n; i += 997) {
        const want = Math.max(Math.fround(src[i]), 0);
        expect(yd[i]).toBe(want);
        expect(wd[i]).toBe(Math.fround(2 * want));
        expect(vd[i]).toBe(Math.fround(3 * want));
      }
      for (const t of [y, w, v]) t.dispose();
    }
  });
});

describe('failures inside queued kernels', () => {
  const one = () => tensor(new Float32Array([1]), [1, 1, 1, 1]);
  // A 3x3 output whose padded copy would be 17.6 TB: the op is valid, its kernel refuses the memory.
  const failing = () => ops.adder2d(one(), one(), { stride: 2 ** 20, padding: 2 ** 20 });

  it('reject the awaiting read with the code, the op in the message and the reader\'s stack', async () => {
    const y = failing(); // returns: the failure happens on the queue
    expect(y.shape).toEqual([1, 1, 3, 3]);
    const err = await y.data().then(() => undefined, (e: Error & { code?: string }) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect(err!.code).toBe('ERR_ADDERNET_MEMORY');
    expect(err!.message).toMatch(/^addernet: adder2dForward: a layer call needs at least .* of scratch memory/);
    expect(err!.stack).toContain('engine.test.ts');
  });

  it('pass to everything computed from the failed tensor, and leave the queue usable', async () => {
    const y = failing();
    const z = ops.add(ops.relu(y), y);
    await expect(z.data()).rejects.toMatchObject({ code: 'ERR_ADDERNET_MEMORY', message: expect.stringContaining('adder2dForward') });
    expect(() => ops.softmaxCrossEntropy(z.reshape([1, 9]), new Int32Array([0]))).toThrow(/adder2dForward/);
    // A kernel writing into the failed tensor's storage clears it.
    const ok = ops.adder2d(one(), one(), { padding: 1 });
    y.storage.copyFrom(ok.storage);
    expect(Array.from(await y.data())).toEqual([-1, -1, -1, -1, 0, -1, -1, -1, -1]);
  });
});

describe('fit keeps the event loop free', () => {
  it('timers fire during each ResNet-20 step, not only between steps', async () => {
    const r = makeRng(3);
    const n = 32;
    const data: Dataset = { images: r.normalArray(n * 3 * 32 * 32), labels: Int32Array.from({ length: n }, () => r.int(10)), shape: [3, 32, 32], numClasses: 10 };
    const model = models.resnet20({ layer: 'adder', seed: 4 });
    let ticks = 0;
    let batches = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      await fit(model, data, { epochs: 1, batchSize: 16, callbacks: { onBatchEnd: () => void batches++ } });
    } finally {
      clearInterval(timer);
      await model.dispose();
    }
    expect(batches).toBe(2);
    // A blocked loop would fire about once per batch; a free one many times during each step.
    expect(ticks).toBeGreaterThan(10 * batches);
  }, 60_000);
});

describe('devices of models, fit and the CLI', () => {
  it("model.to('cpu'), fit/evaluate { device: 'cpu' }; 'cuda' is a coded error naming the device", async () => {
    const m = models.lenet5bn({ seed: 2 });
    expect(m.to('cpu')).toBe(m);
    expect(m.device).toBe('cpu');
    expect(() => m.to('cuda' as never)).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_DEVICE', message: expect.stringContaining('"cuda"') }));
    const r = makeRng(4);
    const data: Dataset = { images: r.normalArray(8 * 784), labels: Int32Array.from({ length: 8 }, () => r.int(10)), shape: [1, 28, 28], numClasses: 10 };
    await expect(fit(m, data, { device: 'cuda' as never })).rejects.toMatchObject({ code: 'ERR_ADDERNET_DEVICE', message: expect.stringContaining('options.device') });
    const h = await fit(m, data, { epochs: 1, batchSize: 8, device: 'cpu' });
    expect(h.epochs).toHaveLength(1);
    await m.dispose();
  });
});
