// Whole-network speed (issue 13): `npm run bench:net`. ResNet-20 and
// LeNet-5-BN inference at batch 1, 64 and 256 through model.predict (what a
// service calls), as an AdderNet and as the CNN, beside ONNX Runtime running
// the same CNN (exported by PyTorch from bench/suite/torch_train.py's
// definitions) and PyTorch's own eval-mode inference; then training steps at
// batch 64 and 256 beside PyTorch training the same CNN (bench:train's cells
// and peer, each in its own process). addernet and ONNX Runtime are
// interleaved round by round in this process; PyTorch runs in its own
// process right before. Each figure is also a fraction of the machine's
// measured ceiling: the FMA peak for the CNNs, the max+add peak for the
// AdderNet (bench/suite/peak.ts).
import { execFile, execFileSync, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { backendInfo, models, nn, setNumThreads, supportedIsas, tensor, type Model } from '../lib/index';
import { machineInfo, median, random, repoRoot, updateResultsSection, writeAtomic } from './suite/common';
import { measurePeak } from './suite/peak';
import { findTorchPython, ortSessionOptions } from './suite/systems';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
    runs: { type: 'string' },
    'no-train': { type: 'boolean', default: false },
    out: { type: 'string', default: path.join(repoRoot, 'bench', 'results', 'net.json') },
    markdown: { type: 'string', default: path.join(repoRoot, 'bench', 'RESULTS.md') },
  },
});
const threads = Number(args.threads);
const runs = args.runs ? Number(args.runs) : args.quick ? 3 : 7;
const sampleSeconds = args.quick ? 0.1 : 0.25;

type ModelName = 'lenet5bn' | 'resnet20';
const MODELS: ModelName[] = ['lenet5bn', 'resnet20'];
const TITLE: Record<ModelName, string> = { lenet5bn: 'LeNet-5-BN', resnet20: 'ResNet-20' };
const INPUT: Record<ModelName, [number, number, number]> = { lenet5bn: [1, 28, 28], resnet20: [3, 32, 32] };
const BATCHES = [1, 64, 256];
const TRAIN_BATCHES = [64, 256];

/** Multiply-accumulates (CNN) or abs-diff-accumulates (adder) of one example's forward, from model.summary(). */
function macsPerExample(model: Model): number {
  const modules = new Map(model.net.namedModules());
  let macs = 0;
  for (const row of model.summary().rows) {
    const m = modules.get(row.name);
    if (m instanceof nn.Conv2d || m instanceof nn.Linear) macs += row.multiplications;
    else if (m instanceof nn.Adder2d || m instanceof nn.AdderLinear) macs += (row.additions - (m.bias ? row.outputShape.reduce((x, y) => x * y, 1) : 0)) / 2;
  }
  return macs;
}

/** ms per call of fn: one warm-up call sizes a sample of about sampleSeconds. */
async function sampleMs(fn: () => Promise<unknown>): Promise<number> {
  let t0 = performance.now();
  await fn();
  const calls = Math.max(1, Math.round((sampleSeconds * 1000) / Math.max(performance.now() - t0, 1e-3)));
  t0 = performance.now();
  for (let i = 0; i < calls; i++) await fn();
  return (performance.now() - t0) / calls;
}

interface OrtLike {
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, unknown>>; release(): Promise<void> }> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
  env: { versions?: Record<string, string> };
}

interface TorchNet {
  torchVersion: string;
  threads: number;
  models: Record<ModelName, { onnx: string; inference: Record<string, number[]> }>;
}

function runTorchNet(python: string, dir: string): TorchNet {
  const out = execFileSync(python, [path.join(repoRoot, 'bench', 'suite', 'torch_net.py'), '--out-dir', dir, '--threads', String(threads), '--runs', String(runs)], { encoding: 'utf8', timeout: 20 * 60_000, maxBuffer: 1 << 22 });
  return JSON.parse(out.trim().split('\n').pop()!) as TorchNet;
}

interface InferenceRow {
  model: ModelName;
  batch: number;
  system: 'addernet adder' | 'addernet conv' | 'ONNX Runtime CNN' | 'PyTorch CNN';
  ms: number;
  examplesPerSecond: number;
  /** G-ops/s (2 per multiply- or abs-diff-accumulate) and as a fraction of the ceiling that bounds it. */
  gops: number;
  ofPeak?: number;
  samples: number[];
}

interface TrainRow {
  model: ModelName;
  batch: number;
  system: 'addernet adder' | 'addernet conv' | 'PyTorch CNN';
  examplesPerSecond: number;
  /** Training G-ops/s: forward + input gradient + filter gradient, 3 x 2 ops per accumulate. */
  gops: number;
  ofPeak?: number;
}

function trainStepsFor(model: ModelName, batch: number): number {
  const steps = model === 'lenet5bn' ? (batch === 64 ? 60 : 30) : batch === 64 ? 8 : 3;
  return args.quick ? Math.max(2, Math.ceil(steps / 3)) : steps;
}

/** One bench:train cell in its own process (dist/bench/train.js --cell): median examples/s. */
function addernetTrain(model: ModelName, layer: 'adder' | 'conv', batch: number): Promise<number> {
  const cell = JSON.stringify({ model, layer, batchSize: batch, steps: trainStepsFor(model, batch) });
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, 'train.js'), ['--cell', cell, '--threads', String(threads), '--runs', String(Math.min(runs, 5))], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    let samples: number[] | undefined;
    child.on('message', (m) => (samples = (m as { samples: number[] }).samples));
    child.on('exit', (code) => (samples ? resolve(median(samples)) : reject(new Error(`train cell ${cell} exited ${code}`))));
  });
}

function torchTrain(python: string, model: ModelName, batch: number): Promise<number> {
  const argv = [path.join(repoRoot, 'bench', 'suite', 'torch_train.py'), '--model', model, '--batch', String(batch), '--steps', String(trainStepsFor(model, batch)), '--runs', String(Math.min(runs, 5)), '--threads', String(threads)];
  return new Promise((resolve, reject) => {
    execFile(python, argv, { timeout: 15 * 60_000 }, (err, stdout) => (err ? reject(err) : resolve((JSON.parse(stdout.trim().split('\n').pop()!) as { examplesPerSecond: number }).examplesPerSecond)));
  });
}

const fmt = (v: number, digits = 0) => v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pct = (v: number | undefined) => (v === undefined ? '–' : `${(100 * v).toFixed(0)}%`);

async function main(): Promise<void> {
  setNumThreads(threads);
  const machine = machineInfo(backendInfo(), supportedIsas());
  const peak = measurePeak([threads], args.quick ? 0.3 : 1.0);
  const fma = peak.fmaGflops[threads];
  const maxAdd = peak.maxAddGops[threads];
  const head = [
    `- machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; addernet ${machine.backend.isa}, ${threads} threads, commit ${machine.commit ?? 'unknown'}, ${machine.date}`,
    `- measured peak at ${threads} threads: FMA ${fma?.toFixed(1) ?? '?'} GFLOP/s, max+add ${maxAdd?.toFixed(1) ?? '?'} G-ops/s (${peak.isa} probe)`,
  ];
  if (machine.loadAverage > 0.5) head.push(`- WARNING: load average ${machine.loadAverage.toFixed(2)} when starting: numbers will be low and noisy`);
  console.log(`# Whole-network benchmark\n\n${head.join('\n')}`);

  const python = findTorchPython().python;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-net-'));
  let torch: TorchNet | undefined;
  let ort: OrtLike | undefined;
  const notes: string[] = [];
  try {
    if (python) torch = runTorchNet(python, dir);
    else notes.push('PyTorch and ONNX Runtime skipped: no python3 with torch (apt-get install python3-torch) to export the CNNs');
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      ort = require('onnxruntime-node') as OrtLike;
    } catch (err) {
      notes.push(`ONNX Runtime skipped: ${(err as Error).message.split('\n')[0]}`);
    }
    const rows: InferenceRow[] = [];
    for (const name of MODELS) {
      const [C, H, W] = INPUT[name];
      const adder = models[name]({ layer: 'adder', seed: 1 });
      const conv = models[name]({ layer: 'conv', seed: 1 });
      const macs = { adder: macsPerExample(adder), conv: macsPerExample(conv) };
      const session = ort && torch ? await ort.InferenceSession.create(fs.readFileSync(torch.models[name].onnx), ortSessionOptions(threads)) : undefined;
      for (const batch of BATCHES) {
        const data = random(batch * C * H * W, batch);
        const x = tensor(data, [batch, C, H, W]);
        const feeds = ort && session ? { x: new ort.Tensor('float32', data, [batch, C, H, W]) } : undefined;
        const systems: [InferenceRow['system'], () => Promise<unknown>][] = [
          ['addernet adder', async () => (await adder.predict(x)).dispose()],
          ['addernet conv', async () => (await conv.predict(x)).dispose()],
        ];
        if (session && feeds) systems.push(['ONNX Runtime CNN', () => session.run(feeds)]);
        const samples = new Map<string, number[]>(systems.map(([s]) => [s, []]));
        // Interleaved rounds, rotating who goes first.
        for (let r = 0; r < runs; r++) {
          for (let k = 0; k < systems.length; k++) {
            const [s, fn] = systems[(k + r) % systems.length];
            samples.get(s)!.push(await sampleMs(fn));
          }
        }
        const torchSamples = torch?.models[name].inference[String(batch)];
        if (torchSamples) samples.set('PyTorch CNN', torchSamples);
        for (const [system, ms] of samples) {
          const m = median(ms);
          const isAdder = system === 'addernet adder';
          const gops = (2 * (isAdder ? macs.adder : macs.conv) * batch) / (m * 1e6);
          const ceiling = isAdder ? maxAdd : fma;
          rows.push({ model: name, batch, system: system as InferenceRow['system'], ms: m, examplesPerSecond: (1000 * batch) / m, gops, ofPeak: ceiling ? gops / ceiling : undefined, samples: ms });
        }
        x.dispose();
      }
      await session?.release();
      await Promise.all([adder.dispose(), conv.dispose()]);
    }

    const trains: TrainRow[] = [];
    if (!args['no-train']) {
      for (const name of MODELS) {
        const macs = { adder: macsPerExample(models[name]({ layer: 'adder' })), conv: macsPerExample(models[name]({ layer: 'conv' })) };
        for (const batch of TRAIN_BATCHES) {
          const cells: [TrainRow['system'], () => Promise<number>][] = [
            ['addernet adder', () => addernetTrain(name, 'adder', batch)],
            ['addernet conv', () => addernetTrain(name, 'conv', batch)],
          ];
          if (python) cells.push(['PyTorch CNN', () => torchTrain(python, name, batch)]);
          for (const [system, run] of cells) {
            const eps = await run();
            const isAdder = system === 'addernet adder';
            const gops = (6 * (isAdder ? macs.adder : macs.conv) * eps) / 1e9;
            const ceiling = isAdder ? maxAdd : fma;
            trains.push({ model: name, batch, system, examplesPerSecond: eps, gops, ofPeak: ceiling ? gops / ceiling : undefined });
          }
        }
      }
    }

    const find = <R extends { model: ModelName; batch: number; system: string }>(list: R[], model: ModelName, batch: number, system: string) => list.find((r) => r.model === model && r.batch === batch && r.system === system);
    const lines: string[] = [...head, ...notes.map((n) => `- ${n}`), ''];
    lines.push('Inference through `model.predict` (median of interleaved samples); G-ops/s count 2 ops per multiply- or abs-diff-accumulate; "of peak": of the FMA peak for the CNNs, of the max+add peak for the AdderNet.', '');
    lines.push('| model | batch | system | latency ms | examples/s | G-ops/s | of peak |', '|---|---:|---|---:|---:|---:|---:|');
    for (const r of rows) lines.push(`| ${TITLE[r.model]} | ${r.batch} | ${r.system} | ${fmt(r.ms, 2)} | ${fmt(r.examplesPerSecond)} | ${fmt(r.gops, 1)} | ${pct(r.ofPeak)} |`);
    lines.push('', 'Against the targets of issue 13 (ResNet-20, ONNX Runtime running the CNN):', '');
    const ort256 = find(rows, 'resnet20', 256, 'ONNX Runtime CNN');
    const ort1 = find(rows, 'resnet20', 1, 'ONNX Runtime CNN');
    const check = (label: string, value: number | undefined, target: string, ok: (v: number) => boolean) =>
      lines.push(`- ${label}: ${value === undefined ? 'not measured' : `${value.toFixed(2)} (target ${target}: ${ok(value) ? 'PASS' : 'MISS'})`}`);
    const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a / b);
    check('conv inference examples/s at batch 256 / ONNX Runtime', ratio(find(rows, 'resnet20', 256, 'addernet conv')?.examplesPerSecond, ort256?.examplesPerSecond), '>= 0.8', (v) => v >= 0.8);
    check('conv latency at batch 1 / ONNX Runtime', ratio(find(rows, 'resnet20', 1, 'addernet conv')?.ms, ort1?.ms), '<= 1.5', (v) => v <= 1.5);
    check('adder inference examples/s at batch 256 / ONNX Runtime CNN', ratio(find(rows, 'resnet20', 256, 'addernet adder')?.examplesPerSecond, ort256?.examplesPerSecond), '>= 0.4', (v) => v >= 0.4);
    check('adder latency at batch 1 / ONNX Runtime CNN', ratio(find(rows, 'resnet20', 1, 'addernet adder')?.ms, ort1?.ms), '<= 3', (v) => v <= 3);
    if (trains.length) {
      lines.push('', 'Training steps (bench:train cells, each in its own process; PyTorch 1.13 CPU training the same CNN); G-ops/s count forward, input and filter gradients (6 ops per accumulate):', '');
      lines.push('| model | batch | system | examples/s | G-ops/s | of peak |', '|---|---:|---|---:|---:|---:|');
      for (const r of trains) lines.push(`| ${TITLE[r.model]} | ${r.batch} | ${r.system} | ${fmt(r.examplesPerSecond)} | ${fmt(r.gops, 1)} | ${pct(r.ofPeak)} |`);
      const torch256 = find(trains, 'resnet20', 256, 'PyTorch CNN')?.examplesPerSecond;
      lines.push('');
      check('conv training examples/s at batch 256 / PyTorch', ratio(find(trains, 'resnet20', 256, 'addernet conv')?.examplesPerSecond, torch256), '>= 1.0', (v) => v >= 1);
      check('adder training examples/s at batch 256 / PyTorch CNN', ratio(find(trains, 'resnet20', 256, 'addernet adder')?.examplesPerSecond, torch256), '>= 0.5', (v) => v >= 0.5);
    }
    const text = lines.join('\n');
    console.log(text.slice(head.join('\n').length));
    writeAtomic(args.out, JSON.stringify({ machine, peak, torch: torch && { version: torch.torchVersion, threads: torch.threads }, ort: ort?.env.versions, inference: rows, training: trains }, null, 2) + '\n');
    if (!args.quick) updateResultsSection('<!-- bench:net:begin -->', '<!-- bench:net:end -->', `<!-- bench:net:begin -->\n## Whole network (\`npm run bench:net\`)\n\n${text}\n<!-- bench:net:end -->`, args.markdown);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
