// Training throughput: examples/s of fit() for LeNet-5-BN (28x28 grey) and
// ResNet-20 (32x32 RGB), AdderNet and CNN, at 2 threads. Each cell: a fresh
// model, one discarded warm-up fit, then several timed fits of a fixed number
// of steps on synthetic data; the median is reported. Run with
// `npm run bench:train [-- --quick --threads 2 --runs 5]`. Writes
// bench/results/train.json and the "train" section of bench/RESULTS.md.
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { backendInfo, fit, memoryInfo, models, resetPeakMemory, setNumThreads, supportedIsas, tensor, type Dataset, type Model } from '../lib/index';
import { gc, gitCommit, median, random, repoRoot, updateResultsSection, writeAtomic } from './suite/common';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
    runs: { type: 'string' },
    model: { type: 'string', multiple: true },
    out: { type: 'string', default: path.join(repoRoot, 'bench', 'results', 'train.json') },
    markdown: { type: 'string', default: path.join(repoRoot, 'bench', 'RESULTS.md') },
  },
});

interface Cell {
  model: 'lenet5bn' | 'resnet20';
  layer: 'adder' | 'conv';
  batchSize: number;
  /** Optimizer steps per timed run. */
  steps: number;
}

// The CLI's default batch sizes; steps chosen so one timed run takes ~1-5 s here.
const CELLS: Cell[] = [
  { model: 'lenet5bn', layer: 'adder', batchSize: 64, steps: 60 },
  { model: 'lenet5bn', layer: 'conv', batchSize: 64, steps: 60 },
  { model: 'resnet20', layer: 'adder', batchSize: 64, steps: 8 },
  { model: 'resnet20', layer: 'conv', batchSize: 64, steps: 8 },
  { model: 'resnet20', layer: 'adder', batchSize: 256, steps: 3 },
  { model: 'resnet20', layer: 'conv', batchSize: 256, steps: 3 },
];

const threads = Number(args.threads);
if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be an integer >= 1 (got ${args.threads})`);
const runs = args.runs ? Number(args.runs) : args.quick ? 2 : 5;
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be an integer >= 1 (got ${args.runs})`);
const wanted = args.model?.flatMap((s) => s.split(','));
const cells = CELLS.filter((c) => !wanted || wanted.includes(c.model)).map((c) => (args.quick ? { ...c, steps: Math.max(2, Math.ceil(c.steps / 3)) } : c));
if (cells.length === 0) throw new Error(`--model must name lenet5bn and/or resnet20 (got ${wanted})`);

setNumThreads(threads);
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.availableParallelism(),
  memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  backend: backendInfo(),
  supportedIsas: supportedIsas(),
  commit: gitCommit(),
  loadAverage: os.loadavg()[0],
  date: new Date().toISOString(),
};
console.log('# addernet training throughput\n');
console.log(`- machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`);
console.log(`- backend: ${machine.backend.isa}, ${machine.backend.threads} threads, addernet ${machine.backend.version}, commit ${machine.commit ?? 'unknown'}`);
console.log(`- ${machine.date}, load average ${machine.loadAverage.toFixed(2)}`);
if (machine.loadAverage > 0.5) console.log('- WARNING: the machine is busy; numbers will be low and noisy');
console.log(`- per cell: 1 warm-up fit, then median of ${runs} timed fits (SGD momentum 0.9, weight decay 5e-4, no augmentation, synthetic data)\n`);

function build(cell: Cell): Model {
  return cell.model === 'lenet5bn' ? models.lenet5bn({ layer: cell.layer, seed: 1 }) : models.resnet20({ layer: cell.layer, seed: 1 });
}

function syntheticData(model: Model, n: number, seed: number): Dataset {
  const [c, h, w] = model.info.inputShape;
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = (i * 7 + seed) % model.info.numClasses;
  return { images: random(n * c * h * w, seed), labels, shape: [c, h, w], numClasses: model.info.numClasses };
}

interface Result extends Cell {
  examplesPerSecond: number;
  msPerStep: number;
  minExamplesPerSecond: number;
  maxExamplesPerSecond: number;
  runs: number;
  samples: number[];
  /** Event-loop delay during the timed fits (perf_hooks.monitorEventLoopDelay, 1 ms resolution), ms. */
  loopDelayMs: { p50: number; p99: number; max: number };
  /** Bytes of parameters, their gradients and the optimizer's momentum (what any step must hold). */
  stateBytes: number;
  /** The allocator's peak live bytes during the timed fits (state plus activations and temporaries). */
  peakTensorBytes: number;
  /** Process RSS: before the model was built, and the growth of its peak (monotonic over the process). */
  rssBeforeMb: number;
  peakRssGrowthMb: number;
}

const mb = (b: number): string => (b / 2 ** 20).toFixed(1);

/**
 * A served model's batch-1 predict latency, idle and while fit() trains
 * another model in the same process: predict runs on the device's inference
 * queue, which the training queue yields to, so it waits for the kernel fit
 * is running, not for its step.
 */
async function predictLatency(): Promise<{ idleMs: number; duringFitMs: number; samples: number }> {
  const served = models.lenet5bn({ layer: 'adder', seed: 2 });
  const x = syntheticData(served, 1, 3);
  const input = tensor(x.images, [1, 1, 28, 28]);
  const time = async (): Promise<number> => {
    const t0 = performance.now();
    (await served.predict(input)).dispose();
    return performance.now() - t0;
  };
  for (let i = 0; i < 5; i++) await time(); // warm-up
  const idle: number[] = [];
  for (let i = 0; i < 30; i++) idle.push(await time());
  const trainee = models.resnet20({ layer: 'adder', seed: 1 });
  const data = syntheticData(trainee, 64 * 4, 9);
  let training = true;
  const during: number[] = [];
  const run = fit(trainee, data, { epochs: 1, batchSize: 64, lr: 0.01, schedule: 'constant' }).finally(() => {
    training = false;
  });
  while (training) {
    during.push(await time());
    await new Promise((r) => setTimeout(r, 5));
  }
  await run;
  await Promise.all([served.dispose(), trainee.dispose()]);
  return { idleMs: median(idle), duringFitMs: median(during), samples: Math.min(idle.length, during.length) };
}

async function main(): Promise<void> {
  const results: Result[] = [];
  console.log('| model | layer | batch | steps/run | examples/s (median) | ms/step | min–max examples/s | loop delay p50 / p99 / max ms | tensor peak / state MB | peak RSS growth MB |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const cell of cells) {
    const rssBefore = process.memoryUsage().rss;
    const peakBefore = process.resourceUsage().maxRSS * 1024;
    const model = build(cell);
    const ds = syntheticData(model, cell.batchSize * cell.steps, 7);
    const warm = syntheticData(model, cell.batchSize * 2, 8);
    const opts = { epochs: 1, batchSize: cell.batchSize, lr: 0.01, schedule: 'constant' as const, seed: 1 };
    await fit(model, warm, opts);
    const samples: number[] = [];
    const loop = monitorEventLoopDelay({ resolution: 1 });
    resetPeakMemory();
    for (let r = 0; r < runs; r++) {
      gc();
      loop.enable();
      const h = await fit(model, ds, { ...opts, seed: r });
      loop.disable();
      samples.push(h.epochs[0].examplesPerSecond);
    }
    const peakTensorBytes = memoryInfo().peakBytes;
    const paramElements = model.parameters().reduce((a, p) => a + p.value.size, 0);
    const stateBytes = 4 * paramElements * 3; // value, gradient, momentum
    const peakRssGrowth = Math.max(0, process.resourceUsage().maxRSS * 1024 - Math.max(peakBefore, rssBefore));
    await model.dispose();
    const ms = (ns: number) => Math.round(ns / 1e5) / 10;
    const eps = median(samples);
    const res: Result = {
      ...cell,
      examplesPerSecond: eps,
      msPerStep: (1000 * cell.batchSize) / eps,
      minExamplesPerSecond: Math.min(...samples),
      maxExamplesPerSecond: Math.max(...samples),
      runs,
      samples,
      loopDelayMs: { p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99)), max: ms(loop.max) },
      stateBytes,
      peakTensorBytes,
      rssBeforeMb: Math.round(rssBefore / 2 ** 20),
      peakRssGrowthMb: Math.round(peakRssGrowth / 2 ** 20),
    };
    results.push(res);
    console.log(
      `| ${cell.model} | ${cell.layer} | ${cell.batchSize} | ${cell.steps} | ${Math.round(eps).toLocaleString('en-US')} | ${res.msPerStep.toFixed(1)} | ` +
        `${Math.round(res.minExamplesPerSecond).toLocaleString('en-US')}–${Math.round(res.maxExamplesPerSecond).toLocaleString('en-US')} | ` +
        `${res.loopDelayMs.p50} / ${res.loopDelayMs.p99} / ${res.loopDelayMs.max} | ${mb(res.peakTensorBytes)} / ${mb(res.stateBytes)} | ${res.peakRssGrowthMb} |`,
    );
  }

  const latency = await predictLatency();
  console.log(`\nLeNet-5-BN batch-1 predict latency, median of ${latency.samples} calls: idle ${latency.idleMs.toFixed(2)} ms, during a ResNet-20 adder fit (batch 64) ${latency.duringFitMs.toFixed(2)} ms`);

  const ratios = (['lenet5bn', 'resnet20'] as const).flatMap((m) => {
    const a = results.find((r) => r.model === m && r.layer === 'adder');
    const c = results.find((r) => r.model === m && r.layer === 'conv');
    return a && c ? [{ model: m, adderOverConv: a.examplesPerSecond / c.examplesPerSecond }] : [];
  });
  for (const r of ratios) console.log(`\n${r.model}: AdderNet trains at ${r.adderOverConv.toFixed(2)}x the CNN's speed`);

  const out = path.resolve(args.out!);
  writeAtomic(out, JSON.stringify({ machine, quick: args.quick, threads, results, ratios, latency }, null, 2) + '\n');
  console.log(`\nWrote ${path.relative(process.cwd(), out) || out}`);

  // bench/RESULTS.md: replace (or add) the section between the train markers, keep the rest.
  const BEGIN = '<!-- bench:train:begin -->';
  const END = '<!-- bench:train:end -->';
  const fmt = (v: number) => Math.round(v).toLocaleString('en-US');
  const section = [
    BEGIN,
    '## Training throughput (`npm run bench:train`)',
    '',
    `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.backend.isa}, **${threads} threads**; commit ${machine.commit ?? 'unknown'}, ${machine.date.slice(0, 10)}` +
      `${machine.loadAverage > 0.5 ? ` (load average ${machine.loadAverage.toFixed(1)} at start: other work was running)` : ''}.`,
    `fit() on synthetic data, SGD with momentum and weight decay, no augmentation; median of ${runs} timed runs after a warm-up${args.quick ? ' (quick mode)' : ''}.`,
    '',
    '| model | layer | batch | examples/s | ms/step | range (examples/s) | event-loop delay p50 / p99 / max (ms) | tensor peak / state (MB) | peak RSS growth (MB) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map((r) => `| ${r.model === 'lenet5bn' ? 'LeNet-5-BN' : 'ResNet-20'} | ${r.layer === 'adder' ? 'AdderNet' : 'CNN'} | ${r.batchSize} | ${fmt(r.examplesPerSecond)} | ${r.msPerStep.toFixed(1)} | ${fmt(r.minExamplesPerSecond)}–${fmt(r.maxExamplesPerSecond)} | ${r.loopDelayMs.p50} / ${r.loopDelayMs.p99} / ${r.loopDelayMs.max} | ${mb(r.peakTensorBytes)} / ${mb(r.stateBytes)} | ${r.peakRssGrowthMb} |`),
    '',
    'Event-loop delay: `perf_hooks.monitorEventLoopDelay` during the timed fits. Tensor peak: the allocator\'s most live bytes during them',
    '(parameters, gradients, momentum, saved activations, temporaries); state: parameters + gradients + momentum. Peak RSS growth: the',
    'process\'s peak RSS (monotonic) above its RSS before the model was built, so later rows only show growth beyond earlier peaks.',
    '',
    ...ratios.map((r) => `- ${r.model === 'lenet5bn' ? 'LeNet-5-BN' : 'ResNet-20'}: AdderNet / CNN training speed = ${r.adderOverConv.toFixed(2)}`),
    '',
    `LeNet-5-BN batch-1 \`predict\` latency (median): idle ${latency.idleMs.toFixed(2)} ms, while \`fit\` trains a ResNet-20 AdderNet at batch 64 in the same process ${latency.duringFitMs.toFixed(2)} ms.`,
    '',
    'Raw numbers: `bench/results/train.json`.',
    END,
  ].join('\n');
  const mdFile = path.resolve(args.markdown!);
  updateResultsSection(BEGIN, END, section, mdFile);
  console.log(`Updated ${path.relative(process.cwd(), mdFile) || mdFile} (section between ${BEGIN} and ${END})`);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
