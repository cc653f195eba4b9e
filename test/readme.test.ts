// The README's TypeScript examples, verbatim: each ```ts block is written to
// a consumer project whose node_modules/addernet is this checkout, type-checked
// against the published declarations, and run with plain node as an ES module.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDist, linkedConsumer, ROOT } from './nn-helpers';

const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
const blocks = [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
let tmp = '';

beforeAll(() => {
  ensureDist();
  tmp = linkedConsumer('addernet-readme-');
  blocks.forEach((code, i) => fs.writeFileSync(path.join(tmp, `example-${i}.mts`), code));
}, 120_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

function run(file: string, args: string[] = [], timeout = 300_000) {
  const r = spawnSync(process.execPath, [file, ...args], { cwd: tmp, encoding: 'utf8', timeout });
  return { status: r.status, signal: r.signal, out: `${r.stdout}\n${r.stderr}` };
}

/** Runs, as a plain ES module, the README block that `has` picks (it must exist). */
function runBlock(has: (block: string) => boolean, timeout?: number) {
  const i = blocks.findIndex(has);
  expect(i).toBeGreaterThanOrEqual(0);
  fs.writeFileSync(path.join(tmp, `example-${i}.mjs`), blocks[i]);
  return run(`example-${i}.mjs`, [], timeout);
}

describe('README examples', () => {
  it('has the API and quick examples', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    expect(blocks.some((b) => b.includes('await fit('))).toBe(true);
    expect(blocks.some((b) => b.includes('ops.adder2d('))).toBe(true);
    // Every block is run by one of the tests below.
    expect(blocks.every((b) => ['await fit(', 'ops.adder2d(', 'callbacks.earlyStopping(', 'await quantize('].some((k) => b.includes(k)))).toBe(true);
    expect(blocks.filter((b) => b.includes('ops.adder2d(')).length).toBe(2); // the quick example and the fused epilogue
  });

  it('type-check against the package declarations', () => {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const files = blocks.map((_, i) => `example-${i}.mts`);
    const r = run(tsc, ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--lib', 'es2022,esnext.disposable', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), ...files]);
    expect(r.status, r.out).toBe(0);
  }, 120_000);

  it('run as written: train, save, load and predict off the event loop', () => {
    const r = runBlock((b) => b.includes('await fit('));
    expect(r.signal, r.out).toBeNull();
    expect(r.status, r.out).toBe(0);
    // The last line prints the served model's 10 logits.
    expect(r.out).toMatch(/Float32Array\(10\)/);
    expect(fs.existsSync(path.join(tmp, 'lenet-adder.safetensors'))).toBe(true);
    // evaluate() after 20 epochs on the bundled digits: well above chance.
    const acc = /accuracy: ([0-9.]+)/.exec(r.out);
    expect(acc, r.out).not.toBeNull();
    expect(Number(acc![1])).toBeGreaterThan(0.9);
  }, 300_000);

  it('run as written: quantized inference (accuracy at 8, 6, 5, 4 bits, save, load, predict)', () => {
    const r = runBlock((b) => b.includes('await quantize('));
    expect(r.signal, r.out).toBeNull();
    expect(r.status, r.out).toBe(0);
    const float = Number(/float accuracy: ([0-9.]+)/.exec(r.out)![1]);
    const q8 = Number(/8 bits accuracy: ([0-9.]+)/.exec(r.out)![1]);
    expect(Math.abs(q8 - float), r.out).toBeLessThanOrEqual(0.003);
    expect(r.out).toMatch(/conv1 +QuantizedAdder2d/);
    expect(r.out).toMatch(/Float32Array\(10\)/);
    expect(fs.existsSync(path.join(tmp, 'lenet-u8.safetensors'))).toBe(true);
  }, 300_000);

  it('run as written: the training workflow (summary, early stopping, recalibration)', () => {
    const r = runBlock((b) => b.includes('callbacks.earlyStopping('));
    expect(r.signal, r.out).toBeNull();
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/Adder2d/); // the summary table
    expect(r.out).toMatch(/epoch 0, lr /);
    const acc = /accuracy: ([0-9.]+)/.exec(r.out);
    expect(Number(acc![1])).toBeGreaterThan(0.9);
  }, 300_000);

  it('run as written: resuming, optimizers and metrics', () => {
    const r = runBlock((b) => b.includes('resumeFrom:'));
    expect(r.signal, r.out).toBeNull();
    expect(r.status, r.out).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe('1 20');
    // 2 epochs, then accuracy, top-3, ten per-class accuracies and the first confusion row.
    expect(lines.slice(1).join(' ')).toMatch(/^2 0\.9[0-9]+ 0\.9[0-9]+ \[/);
    expect(fs.existsSync(path.join(tmp, 'run.safetensors'))).toBe(true);
    expect(fs.readFileSync(path.join(tmp, 'run.log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
  }, 300_000);

  it('run as written: images (a folder of class sub-folders, preprocessImage)', async () => {
    // The example reads my-photos/<class>/: write a few bundled digits there.
    const { default: sharp } = await import('sharp');
    const { loadMnistBundled } = await import('../lib/data/index');
    const test = loadMnistBundled().test;
    for (let k = 0; k < 24; k++) {
      const n = k % 2 === 0 ? 0 : 1999; // a zero and a nine (the bundled test set is sorted by class)
      const idx = n === 0 ? k : 1999 - k;
      const dir = path.join(tmp, 'my-photos', test.labels[idx] === 0 ? 'zero' : 'nine');
      fs.mkdirSync(dir, { recursive: true });
      const px = Buffer.from(Array.from(test.images.subarray(idx * 784, (idx + 1) * 784), (v) => Math.max(0, Math.min(255, Math.round((v * 0.3081 + 0.1307) * 255)))));
      await sharp(px, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(path.join(dir, `${idx}.png`));
    }
    const r = runBlock((b) => b.includes('data.imageFolder('));
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain("[ 'nine', 'zero' ] 784");
  }, 120_000);

  it('run as written: a fused epilogue gives the floats of the separate ops', () => {
    const r = runBlock((b) => b.includes('residual: x, relu: true'));
    expect(r.status, r.out).toBe(0);
    expect(r.out.trim()).toBe('true');
  }, 60_000);

  it('run as written: the quick example', () => {
    const r = runBlock((b) => b.includes('ops.adder2d(') && !b.includes('residual: x'));
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain('[ 1, 16, 8, 8 ]');
    expect(r.out).toMatch(/isa: '(scalar|avx2|avx512)'/);
  }, 60_000);
});
