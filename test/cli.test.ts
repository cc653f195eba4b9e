// The `addernet` command as users run it (node dist/lib/cli/main.js in child
// processes): train --json on a small subset, the checkpoint and plot it
// writes, eval, predict on generated PNGs, summary, bad flags (exit 2), Ctrl-C.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../lib/io/safetensors';
import { data, evaluate, loadModel } from '../lib/index';
import { limitDataset } from '../lib/cli/data';
import { preprocessImage } from '../lib/cli/predict';

const ROOT = path.resolve(__dirname, '..');
const MAIN = path.join(ROOT, 'dist', 'lib', 'cli', 'main.js');
let tmp: string;

/** Compiles dist/ when the CLI build is missing or older than its sources. */
function ensureCliBuild(): void {
  const sources = fs.readdirSync(path.join(ROOT, 'lib', 'cli')).map((f) => path.join(ROOT, 'lib', 'cli', f));
  const built = fs.existsSync(MAIN) ? fs.statSync(MAIN).mtimeMs : 0;
  if (sources.some((f) => fs.statSync(f).mtimeMs > built) || !fs.existsSync(path.join(ROOT, 'dist', 'lib', 'cli', 'predict.js'))) {
    try {
      execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'pipe' });
    } catch {
      // tsc still emits on type errors elsewhere in a work in progress; a missing CLI fails below.
    }
  }
  expect(fs.existsSync(MAIN)).toBe(true);
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Run {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd: tmp, encoding: 'utf8', timeout: 60_000, env: { ...process.env, FORCE_COLOR: '0' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  ensureCliBuild();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-cli-'));
}, 120_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('addernet train', () => {
  let result: Record<string, any>;

  it('trains with --json: one JSON object on stdout, checkpoint and SVG written', () => {
    const r = cli(['train', '--model', 'lenet5bn', '--layer', 'conv', '--epochs', '1', '--limit', '1000', '--threads', '2', '--json', '--out', 'runs/conv.safetensors']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    result = JSON.parse(lines[0]);
    expect(result).toMatchObject({ command: 'train', model: 'lenet5bn', layer: 'conv', data: 'mnist', epochs: 1, trainExamples: 1000, testExamples: 1000, threads: 2 });
    for (const k of ['testAccuracy', 'trainAccuracy']) expect(result[k]).toBeGreaterThanOrEqual(0), expect(result[k]).toBeLessThanOrEqual(1);
    expect(result.testAccuracy).toBeGreaterThan(0.5); // a CNN learns MNIST within one small epoch
    for (const k of ['trainLoss', 'testLoss', 'examplesPerSecond', 'seconds']) expect(Number.isFinite(result[k]) && result[k] > 0, k).toBe(true);
    expect(result.history).toHaveLength(1);
    // The model summary rides along (LeNet-5-BN CNN: 416,520 taps + 6,508 BN elements, + fc3's 10 biases).
    expect(result.summary).toMatchObject({ arch: 'lenet5bn', layer: 'conv', inputShape: [1, 28, 28], outputShape: [10] });
    expect(result.summary.totals).toMatchObject({ parameters: 61_932, multiplications: 423_028, additions: 423_038 });
    expect(result.summary.rows[0]).toMatchObject({ name: 'conv1', type: 'Conv2d', outputShape: [6, 28, 28] });
    expect(result.checkpoint).toBe('runs/conv.safetensors');
    expect(result.plot).toBe('runs/conv.svg');
    const svg = fs.readFileSync(path.join(tmp, 'runs', 'conv.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('Accuracy');
    expect(svg).toContain('Loss');
    // The model, its plot, and the resumable training checkpoint with its per-epoch log; no temporary files.
    expect(fs.readdirSync(path.join(tmp, 'runs')).sort()).toEqual(['conv.ckpt.log.jsonl', 'conv.ckpt.safetensors', 'conv.safetensors', 'conv.svg']);
  });

  it('writes a checkpoint that loads back and scores what train reported', async () => {
    const model = loadModel(path.join(tmp, 'runs', 'conv.safetensors'));
    expect(model.info).toMatchObject({ arch: 'lenet5bn', inputShape: [1, 28, 28], numClasses: 10, options: { layer: 'conv' } });
    const test = limitDataset(data.loadMnistBundled().test, 1000);
    const ev = await evaluate(model, test);
    expect(ev.accuracy).toBe(result.testAccuracy);
    expect(ev.loss).toBeCloseTo(result.testLoss, 5);
    await model.dispose();
  });

  it('prints epoch lines and a human summary without --json (AdderNet)', () => {
    const r = cli(['train', '--epochs', '2', '--limit', '500', '--out', 'adder.safetensors']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Training lenet5bn \(AdderNet\) on mnist: 500 train/);
    // The model summary at the start, before the results.
    expect(r.stdout).toMatch(/^Model: lenet5bn \(AdderNet\), input \[1, 28, 28\]/m);
    expect(r.stdout).toMatch(/^conv1 +Adder2d +\[6, 28, 28\] +150 +0 +235,200$/m);
    expect(r.stdout).toContain('6.52K multiplications, 840K additions per example');
    expect(r.stdout.indexOf('Model: lenet5bn')).toBeLessThan(r.stdout.indexOf('test accuracy'));
    expect(r.stdout).toMatch(/test accuracy +\d+\.\d\d%/);
    expect(r.stderr).toMatch(/epoch 1\/2 .*ex\/s/);
    expect(r.stderr).toMatch(/epoch 2\/2 /);
    expect(fs.existsSync(path.join(tmp, 'adder.safetensors'))).toBe(true);
    expect(fs.existsSync(path.join(tmp, 'adder.svg'))).toBe(true);
    expect(loadModel(path.join(tmp, 'adder.safetensors')).info.options.layer).toBe('adder');
  });

  it('skips the plots with one note on stderr when vega and vega-lite are not installed (compare: two runs)', () => {
    // The hook makes `import('vega')` fail as it does after npm install --omit=optional.
    const hook = pathToFileURL(path.join(ROOT, 'test', 'no-vega.hook.mjs')).href;
    const args = ['--import', hook, MAIN, 'compare', '--epochs', '1', '--limit', '200', '--out-dir', 'no-vega'];
    const r = spawnSync(process.execPath, args, { cwd: tmp, encoding: 'utf8', timeout: 60_000, env: { ...process.env, FORCE_COLOR: '0' } });
    expect(r.status, r.stderr).toBe(0);
    const notes = r.stderr.split('\n').filter((l) => l.includes('plots skipped'));
    expect(notes).toEqual([
      "addernet: plots skipped: vega and vega-lite, optional dependencies of addernet, are not installed (Cannot find package 'vega' (hidden by test/no-vega.hook.mjs)); `npm install vega vega-lite` adds them",
    ]);
    expect(r.stdout).toContain('saved: no-vega/lenet5bn-adder.safetensors, no-vega/lenet5bn-conv.safetensors\n');
    expect(fs.readdirSync(path.join(tmp, 'no-vega')).filter((f) => f.endsWith('.svg'))).toEqual([]);
    // bench/suite's charts go the same way: a note in the run's notes, no files.
    const charts = path.join(ROOT, 'dist', 'bench', 'suite', 'charts.js');
    const code = `require(${JSON.stringify(charts)}).writeCharts({}, 'suite.json').then((c) => console.log(JSON.stringify(c)))`;
    const b = spawnSync(process.execPath, ['--import', hook, '-e', code], { cwd: tmp, encoding: 'utf8', timeout: 60_000 });
    expect(b.status, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout)).toEqual({ files: [], note: expect.stringMatching(/^charts skipped: vega and vega-lite, optional dependencies of addernet, are not installed/) });
  });

  it.each([
    [['train', '--epochs', 'abc'], '--epochs'],
    [['train', '--epochs', '0'], '--epochs'],
    [['train', '--lr', '-1'], '--lr'],
    [['train', '--bogus'], '--bogus'],
    [['train', '--epoch', '3'], '--epochs'], // "did you mean"
    [['train', '--model', 'vgg16'], '--model'],
    [['train', '--layer', 'mult'], '--layer'],
    [['train', '--data', 'imagenet'], '--data'],
    [['train', '--data', 'cifar10:/no/such/dir'], '--data'],
    [['train', '--model', 'resnet20'], '--data'],
    [['train', '--model', 'resnet20', '--data', 'mnist', '--limit', '10'], '--data'],
    [['train', '--schedule', 'linear'], '--schedule'],
    [['train', '--out'], '--out'],
    [['train', '--json=yes'], '--json'],
    [['train', 'extra'], 'extra'],
    [['eval'], 'MODEL'],
    [['predict', 'm.safetensors'], 'IMAGE'],
    [['predict', 'runs/conv.safetensors', 'x.png', '--top', '0'], '--top'],
    [['frobnicate'], 'frobnicate'],
    [['train', '--device', 'cuda'], 'no CUDA backend yet'],
    [['train', '--device', 'tpu'], '--device'],
    [['eval', 'm.safetensors', '--device', 'cuda'], '--device cuda'],
    [['predict', 'm.safetensors', 'x.png', '--device', 'cuda'], '--device cuda'],
    [['compare', '--device', 'cuda'], '--device cuda'],
    [['summary', '--model', 'vgg16'], '--model'],
    [['summary', '--layer', 'mult'], '--layer'],
    [['summary', '--classes', '0', '--model', 'resnet20'], '--classes'],
    [['summary', '--classes', '100'], '--classes'],
    [['summary', 'runs/conv.safetensors', '--model', 'resnet20'], '--model'],
    [['summary', 'a.safetensors', 'b.safetensors'], 'b.safetensors'],
  ])('exits 2 naming the problem: %j', (args, name) => {
    const r = cli(args);
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(name);
    expect(r.stdout).toBe('');
  });

  it('--help exits 0 and lists the flags', () => {
    const r = cli(['train', '--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--model', '--layer', '--data', '--epochs', '--batch-size', '--lr', '--eta', '--seed', '--threads', '--out', '--json', '--optimizer', '--betas', '--resume', '--checkpoint-every']) expect(r.stdout).toContain(flag);
  });

  it('Ctrl-C writes a resumable checkpoint of the last finished step and exits 130; --resume continues it', async () => {
    const argsFor = (epochs: number) => ['train', '--epochs', String(epochs), '--limit', '400', '--out', 'interrupted.safetensors'];
    const args = argsFor(200);
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: tmp });
    let stderr = '';
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no epoch line in time: ${stderr}`)), 50_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
        if (/epoch +1\/200/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const ckpt = path.join(tmp, 'interrupted.ckpt.safetensors');
    expect(stderr).toContain(`wrote the training checkpoint interrupted.ckpt.safetensors`);
    expect(stderr).toContain(`addernet ${args.join(' ')} --resume interrupted.ckpt.safetensors`);
    // The finished model is not written; no temporary files are left.
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith('interrupted') || f.includes('.tmp')).sort()).toEqual(['interrupted.ckpt.log.jsonl', 'interrupted.ckpt.safetensors']);
    const training = JSON.parse(readSafetensors(ckpt).metadata.training) as { epoch: number; batch: number; history: unknown[] };
    expect(training.epoch).toBeGreaterThanOrEqual(1);
    expect(fs.readFileSync(path.join(tmp, 'interrupted.ckpt.log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(training.history.length);
    // Continue it to one epoch past where it stopped (more epochs than that would take long).
    const until = training.epoch + 1;
    const r = cli([...argsFor(until), '--resume', 'interrupted.ckpt.safetensors', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { epochs: number; history: { epoch: number }[] };
    expect(result.history.map((e) => e.epoch)).toEqual(Array.from({ length: until }, (_, i) => i));
    expect(fs.existsSync(path.join(tmp, 'interrupted.safetensors'))).toBe(true);
  }, 120_000);

  it('--optimizer adam/adamw train; optimizer-specific flags are checked', () => {
    const r = cli(['train', '--layer', 'conv', '--optimizer', 'adamw', '--lr', '0.002', '--betas', '0.9,0.99', '--epochs', '1', '--limit', '1000', '--out', 'adamw.safetensors', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as { optimizer: string; weightDecay: number; momentum?: number; testAccuracy: number };
    expect(j).toMatchObject({ optimizer: 'adamw', weightDecay: 0.01 });
    expect(j.momentum).toBeUndefined();
    expect(j.testAccuracy).toBeGreaterThan(0.5);
    for (const [bad, message] of [
      [['--optimizer', 'adam', '--momentum', '0.5'], 'option --momentum is for --optimizer sgd'],
      [['--betas', '0.9,0.99'], 'option --betas is for --optimizer adam or adamw'],
      [['--optimizer', 'adam', '--betas', '0.9'], 'option --betas must be two numbers'],
      [['--optimizer', 'rmsprop'], '--optimizer'],
      [['--resume', 'missing.safetensors'], 'option --resume: "missing.safetensors" does not exist'],
    ] as const) {
      const e = cli(['train', ...bad]);
      expect(e.status, bad.join(' ')).toBe(2);
      expect(e.stderr).toContain(message);
    }
  });
});

describe('addernet summary', () => {
  it('prints the table of a reference model (text and --json)', () => {
    const r = cli(['summary', '--model', 'lenet5bn', '--layer', 'adder']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Model: lenet5bn \(AdderNet\)/);
    expect(r.stdout).toMatch(/^fc1 +AdderLinear +\[120\] +48,000 +0 +96,000$/m);
    expect(r.stdout).toMatch(/^Total +61,942 +6,518 +839,558$/m);
    expect(Math.max(...r.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(100);
    const j = cli(['summary', '--model', 'resnet20', '--layer', 'conv', '--classes', '100', '--json']);
    expect(j.status, j.stderr).toBe(0);
    const out = JSON.parse(j.stdout);
    expect(out).toMatchObject({ command: 'summary', arch: 'resnet20', layer: 'conv', outputShape: [100] });
    expect(out.totals.parameters).toBe(272_484 + 64 * 90 + 2 * 90); // fc and bn2 for 100 classes instead of 10
    expect(out.rows.find((row: any) => row.name === 'layer3.0.downsample.0')).toMatchObject({ type: 'Conv2d', outputShape: [64, 8, 8] });
  });

  it('summarises a checkpoint', () => {
    const r = cli(['summary', 'runs/conv.safetensors', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ command: 'summary', checkpoint: 'runs/conv.safetensors', arch: 'lenet5bn', layer: 'conv' });
    expect(out.totals).toMatchObject({ parameters: 61_932, multiplications: 423_028, additions: 423_038 });
  });

  it('--help explains the counting; the command list names it', () => {
    const r = cli(['summary', '--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--model', '--layer', '--classes', '--json']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toContain('2 additions per tap');
    expect(cli(['--help']).stdout).toMatch(/^ {2}summary +/m);
    expect(cli(['train', '--help']).stdout).toContain('model summary');
  });
});

describe('addernet eval', () => {
  it('scores a checkpoint (--json and text)', () => {
    const r = cli(['eval', 'runs/conv.safetensors', '--limit', '1000', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ command: 'eval', arch: 'lenet5bn', layer: 'conv', data: 'mnist', split: 'test', examples: 1000 });
    const train = JSON.parse(cli(['eval', 'runs/conv.safetensors', '--limit', '1000', '--split', 'train', '--json']).stdout);
    expect(train.examples).toBe(1000);
    expect(out.accuracy).toBeGreaterThan(0.5);
    const text = cli(['eval', 'runs/conv.safetensors', '--data', 'mnist']);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/accuracy \d+\.\d\d%, loss \d+\.\d{4} \(2,000 examples/);
    // Metrics: top-k, per-class accuracy and the confusion matrix (rows true, columns predicted).
    expect(out.topK['1']).toBe(out.accuracy);
    expect(out.topK['5']).toBeGreaterThanOrEqual(out.accuracy);
    const matrix = out.confusionMatrix as number[][];
    expect(matrix).toHaveLength(10);
    expect(matrix.flat().reduce((a, b) => a + b, 0)).toBe(1000);
    expect(matrix.reduce((a, row, t) => a + row[t], 0) / 1000).toBeCloseTo(out.accuracy, 12);
    expect(out.perClassAccuracy).toHaveLength(10);
    expect(text.stdout).toMatch(/top-1 \d+\.\d\d%, top-5 \d+\.\d\d%/);
    expect(text.stdout).toMatch(/true \\ predicted +0 +1 .* 9 +accuracy/);
    const top3 = JSON.parse(cli(['eval', 'runs/conv.safetensors', '--limit', '100', '--top-k', '3', '--json']).stdout);
    expect(Object.keys(top3.topK)).toEqual(['3']);
    const bad = cli(['eval', 'runs/conv.safetensors', '--top-k', '11']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('option --top-k needs integers from 1 to 10');
  });

  it('rejects a file that is not a checkpoint with exit 1 and the reason', () => {
    fs.writeFileSync(path.join(tmp, 'junk.safetensors'), 'not a safetensors file at all');
    const r = cli(['eval', 'junk.safetensors']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/addernet eval: error: .*junk\.safetensors/);
  });
});

describe('addernet predict', () => {
  // Test digits as raw [0, 1] pixels, and as the model sees them (normalised).
  const raw = data.loadMnistBundled({ mean: 0, std: 1 }).test;
  const normalised = data.loadMnistBundled().test;
  const digit = (i: number) => Buffer.from(raw.images.subarray(i * 784, (i + 1) * 784).map((v) => Math.round(v * 255)));

  it('decodes a PNG to exactly the normalised training image (28x28, white on black)', async () => {
    const file = path.join(tmp, 'digit.png');
    await sharp(digit(3), { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(file);
    const x = await preprocessImage(file, { inputShape: [1, 28, 28] }, { invert: 'auto', center: false, mean: [0.1307], std: [0.3081] });
    const want = normalised.images.subarray(3 * 784, 4 * 784);
    let maxErr = 0;
    for (let i = 0; i < 784; i++) maxErr = Math.max(maxErr, Math.abs(x[i] - want[i]));
    expect(maxErr).toBeLessThan(1e-5);
    // The same digit drawn dark on light, RGB, 3x larger: inverted and resized back.
    const big = path.join(tmp, 'digit-inverted.jpg');
    await sharp(Buffer.from(digit(3).map((v) => 255 - v)), { raw: { width: 28, height: 28, channels: 1 } })
      .resize(84, 84).toColourspace('srgb').jpeg({ quality: 95 }).toFile(big);
    const y = await preprocessImage(big, { inputShape: [1, 28, 28] }, { invert: 'auto', center: false, mean: [0.1307], std: [0.3081] });
    let sad = 0;
    for (let i = 0; i < 784; i++) sad += Math.abs(y[i] - want[i]);
    expect(sad / 784).toBeLessThan(0.15); // resampling and JPEG differences only
  });

  it('prints the top classes with probabilities', () => {
    const r = cli(['predict', 'runs/conv.safetensors', 'digit.png', 'digit-inverted.jpg', '--json', '--top', '3']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.predictions).toHaveLength(2);
    for (const p of out.predictions) {
      expect(p.top).toHaveLength(3);
      expect(p.top.map((t: any) => t.label)).toEqual(p.top.map((t: any) => String(t.class)));
      const probs = p.top.map((t: any) => t.probability);
      expect([...probs].sort((a, b) => b - a)).toEqual(probs);
      expect(probs.reduce((a: number, b: number) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-9);
    }
    const text = cli(['predict', 'runs/conv.safetensors', 'digit.png']);
    expect(text.stdout).toMatch(/^digit\.png: \d \d+\.\d%, \d \d+\.\d%, \d \d+\.\d%\n$/);
    const bad = cli(['predict', 'runs/conv.safetensors', 'missing.png']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('missing.png');
  });
});

describe('addernet quantize', () => {
  it('quantizes a float AdderNet checkpoint; eval, predict and summary take the result', () => {
    const r = cli(['quantize', 'adder.safetensors', '--bits', '6', '--examples', '256', '--limit', '500', '--json', '--out', 'runs/adder-u6.safetensors']);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      command: 'quantize', arch: 'lenet5bn', data: 'mnist', bits: 6, method: 'minmax', examples: 256, testExamples: 500,
      quantized: ['conv1', 'conv2', 'fc1', 'fc2', 'fc3'], folded: ['bn1', 'bn2', 'bn3', 'bn4', 'bn5'],
    });
    expect(Math.abs(out.quantizedAccuracy - out.floatAccuracy)).toBeLessThan(0.05);
    expect(readSafetensors(path.join(tmp, 'runs/adder-u6.safetensors')).get('conv1.qweight')!.dtype).toBe('U8');

    const ev = JSON.parse(cli(['eval', 'runs/adder-u6.safetensors', '--limit', '500', '--json']).stdout);
    expect(ev).toMatchObject({ command: 'eval', arch: 'lenet5bn', layer: 'adder', quantization: { bits: 6, method: 'minmax' }, examples: 500 });
    expect(ev.accuracy).toBe(out.quantizedAccuracy);
    expect(cli(['eval', 'runs/adder-u6.safetensors', '--limit', '100']).stdout).toMatch(/\(lenet5bn, adder, uint8 6 bits\) on mnist test: accuracy/);

    const p = cli(['predict', 'runs/adder-u6.safetensors', 'digit.png', '--json']);
    expect(p.status, p.stderr).toBe(0);
    expect(JSON.parse(p.stdout).predictions[0].top).toHaveLength(3);

    const sum = cli(['summary', 'runs/adder-u6.safetensors']);
    expect(sum.stdout).toContain('uint8 adder layers (6 bits, minmax on 256 examples): conv1, conv2, fc1, fc2, fc3');
    expect(sum.stdout).toMatch(/conv1 +QuantizedAdder2d/);

    const text = cli(['quantize', 'adder.safetensors', '--method', 'percentile', '--no-eval', '--out', 'runs/adder-p8.safetensors']);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/-> runs\/adder-p8\.safetensors: 5 adder layers on uint8 \(8 bits, percentile 99\.99% on 512 examples of mnist/);
  });

  it('usage errors exit 2 with the option named; --help lists the options', () => {
    for (const [args, want] of [
      [['quantize', 'adder.safetensors'], '--out'],
      [['quantize', 'adder.safetensors', '--bits', '3', '--out', 'x.safetensors'], '--bits must be an integer from 4 to 8'],
      [['quantize', 'adder.safetensors', '--bits', '9', '--out', 'x.safetensors'], '--bits'],
      [['quantize', 'adder.safetensors', '--method', 'kl', '--out', 'x.safetensors'], '--method'],
      [['quantize', 'adder.safetensors', '--percentile', '99', '--out', 'x.safetensors'], '--percentile needs --method percentile'],
      [['quantize', 'adder.safetensors', '--method', 'percentile', '--percentile', '20', '--out', 'x.safetensors'], '--percentile'],
      [['quantize', 'runs/adder-u6.safetensors', '--out', 'x.safetensors'], 'quantized already'],
      [['quantize', '--out', 'x.safetensors'], 'missing MODEL'],
    ] as [string[], string][]) {
      const r = cli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(want);
    }
    expect(fs.existsSync(path.join(tmp, 'x.safetensors'))).toBe(false);
    const help = cli(['quantize', '--help']);
    expect(help.status).toBe(0);
    for (const flag of ['--data', '--bits', '--method', '--percentile', '--examples', '--out', '--no-eval']) expect(help.stdout).toContain(flag);
    expect(cli(['--help']).stdout).toMatch(/^ {2}quantize +/m);
  });
});
