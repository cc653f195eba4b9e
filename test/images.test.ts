// data.preprocessImage on photographs of digits (generated with sharp from real
// MNIST test digits), data.imageFolder, class names in model.info, and the
// coded errors for bad images.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digitPhoto as photo, mnistDigit, PHOTO_CONDITIONS } from '../bench/photo-fixtures';
import { ensureDist } from './nn-helpers';
import { data, fit, loadModel, models, saveModel, tensor, type Model } from '../lib/index';

const digit = (i: number) => mnistDigit(i).pixels;
let tmp = '';
let model: Model;

async function classify(buffers: Buffer[]): Promise<number[]> {
  const xs = new Float32Array(buffers.length * 784);
  for (let k = 0; k < buffers.length; k++) xs.set(await data.preprocessImage(buffers[k], model.info), k * 784);
  const logits = (await model.predict(tensor(xs, [buffers.length, 1, 28, 28]))).dataSync();
  return buffers.map((_, k) => {
    const row = Array.from(logits.subarray(k * 10, (k + 1) * 10));
    return row.indexOf(Math.max(...row));
  });
}

beforeAll(async () => {
  ensureDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-images-'));
  model = models.lenet5bn({ layer: 'conv', seed: 1 });
  await fit(model, data.loadMnistBundled().train, { epochs: 2, batchSize: 64, lr: 0.05 });
}, 120_000);

afterAll(async () => {
  await model?.dispose();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

// 20 test digits the model gets right as clean images, 2 of each class.
const picks = Array.from({ length: 20 }, (_, k) => (k % 10) * 200 + Math.floor(k / 10) * 7 + 3);

describe('preprocessImage on photographs', () => {
  for (const { name, paper, ink } of PHOTO_CONDITIONS) {
    it(`classifies ${name} at least 9 times in 10`, async () => {
      const clean = await classify(await Promise.all(picks.map((i) => sharp(digit(i), { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer())));
      const photos = await Promise.all(picks.map((i, k) => photo(i, paper, ink, k + 1)));
      const got = await classify(photos);
      const want = picks.map((i) => mnistDigit(i).label);
      const okClean = clean.filter((c, k) => c === want[k]).length;
      const ok = got.filter((c, k) => c === want[k]).length;
      expect(okClean).toBeGreaterThanOrEqual(18); // clean PNGs still work
      expect(ok, `${name}: ${got.join(',')} vs ${want.join(',')}`).toBeGreaterThanOrEqual(18);
    }, 60_000);
  }
});

describe('preprocessImage on grey paper (the old pipeline inverted by mean brightness and trimmed on white)', () => {
  it('gives a black background and a box framed like MNIST (20x20 inside 28x28)', async () => {
    const x = await data.preprocessImage(await photo(picks[4], [110, 110, 110], [20, 20, 20], 3), { inputShape: [1, 28, 28] });
    const black = (0 - 0.1307) / 0.3081;
    let ink = 0;
    const rows = new Set<number>();
    for (let i = 0; i < 784; i++) {
      if (x[i] > black + 1) { // above ~30% of white
        ink++;
        rows.add(Math.floor(i / 28));
      }
    }
    // The border rows are background, the digit fills about 20 rows, and it is not a blob.
    for (const r of [0, 27]) expect(rows.has(r), `row ${r}`).toBe(false);
    expect(rows.size).toBeGreaterThanOrEqual(17);
    expect(ink).toBeLessThan(400);
  });
});

describe('errors and imageFolder', () => {
  it('undecodable bytes and missing files are coded errors naming the input', async () => {
    await expect(data.preprocessImage(Buffer.from('not an image'), { inputShape: [1, 28, 28] })).rejects.toMatchObject({ code: 'ERR_ADDERNET_FORMAT' });
    await expect(data.preprocessImage(path.join(tmp, 'missing.png'), { inputShape: [1, 28, 28] })).rejects.toMatchObject({ code: 'ERR_ADDERNET_OPTION', message: /missing\.png/ });
  });

  it('builds a Dataset from dir/<class>/ with sorted class names that reach the model and its checkpoint', async () => {
    const root = path.join(tmp, 'folder');
    for (const [c, name] of ['zero', 'one'].entries()) {
      fs.mkdirSync(path.join(root, name), { recursive: true });
      for (let k = 0; k < 3; k++) await sharp(digit(c * 200 + k), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(root, name, `${k}.png`));
    }
    const ds = await data.imageFolder(root);
    expect(ds.classNames).toEqual(['one', 'zero']);
    expect(ds.shape).toEqual([1, 28, 28]);
    expect(Array.from(ds.labels)).toEqual([0, 0, 0, 1, 1, 1]);
    const m = models.lenet5bn({ layer: 'conv', classNames: ds.classNames });
    expect(m.info.numClasses).toBe(2);
    const file = path.join(tmp, 'named.safetensors');
    saveModel(m, file);
    expect(loadModel(file).info.classNames).toEqual(['one', 'zero']);
    // `addernet predict` prints the checkpoint's class names.
    const main = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
    const r = spawnSync(process.execPath, [main, 'predict', file, path.join(root, 'one', '0.png'), '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).predictions[0].top.map((t: { label: string }) => t.label).sort()).toEqual(['one', 'zero']);
    fs.mkdirSync(path.join(root, 'empty'));
    await expect(data.imageFolder(root)).rejects.toMatchObject({ code: 'ERR_ADDERNET_OPTION', message: /empty/ });
    await expect(data.imageFolder(path.join(tmp, 'nope'))).rejects.toMatchObject({ code: 'ERR_ADDERNET_OPTION' });
  });

  it('addernet train --data folder:DIR trains on DIR/train/<class>/, tests on DIR/test/<class>/ and keeps the class names', async () => {
    const root = path.join(tmp, 'split');
    const names = ['four', 'seven'];
    const byClass = new Map<number, number[]>();
    for (let i = 0; i < 2000 && [...byClass.values()].flat().length < 120; i++) {
      const { label } = mnistDigit(i);
      if (label !== 4 && label !== 7) continue;
      const list = byClass.get(label) ?? [];
      if (list.length < 60) byClass.set(label, [...list, i]);
    }
    for (const [label, list] of byClass) {
      for (const [k, i] of list.entries()) {
        const dir = path.join(root, k < 40 ? 'train' : 'test', label === 4 ? 'four' : 'seven');
        fs.mkdirSync(dir, { recursive: true });
        await sharp(digit(i), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(dir, `${i}.png`));
      }
    }
    const main = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'main.js');
    const out = path.join(tmp, 'folder-model.safetensors');
    const r = spawnSync(process.execPath, [main, 'train', '--data', `folder:${root}`, '--layer', 'conv', '--epochs', '3', '--batch-size', '16', '--out', out, '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect([j.trainExamples, j.testExamples]).toEqual([80, 40]);
    expect(j.testAccuracy).toBeGreaterThan(0.8); // 4 against 7: easy
    expect(loadModel(out).info.classNames).toEqual(names);
    const e = spawnSync(process.execPath, [main, 'eval', out, '--data', `folder:${root}`, '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(e.status, e.stderr).toBe(0);
    expect(JSON.parse(e.stdout)).toMatchObject({ examples: 40, classNames: names, accuracy: j.testAccuracy });
    fs.rmSync(path.join(root, 'test', 'seven'), { recursive: true });
    const bad = spawnSync(process.execPath, [main, 'eval', out, '--data', `folder:${root}`], { encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('in train/ but');
  }, 120_000);
});
