// Training benchmark: fit() of LeNet-5-BN (28x28 grey) and ResNet-20 (32x32
// RGB), AdderNet and CNN, batch 64 and 256, beside PyTorch's CPU training of
// the same CNNs. Per cell: examples/s, training G-ops/s as a fraction of the
// machine's measured FMA and max+add peaks (bench/suite/peak.ts), event-loop
// delay during fit, peak RSS growth against the live bytes a step must hold.
// Then predict() latency while fit() runs (another model, the same model)
// and concurrent predicts of several models.
//
//   npm run bench:train [-- --quick --threads 2 --runs 5 --model resnet20]
//
// Each cell runs in its own plain node process (forked from this one, the
// cell passed as --cell), so that its peak RSS is its own; the parent
// measures the peaks once, runs the PyTorch peer (bench/suite/torch_train.py)
// right after each CNN cell, and does the predict measurements itself.
// Writes bench/results/train.json and the "train" section of bench/RESULTS.md.
import { execFile, fork } from 'node:child_process';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  backendInfo, fit, memoryInfo, models, nn, resetPeakMemory, setNumThreads, SGD, supportedIsas, tensor, ops,
  type Dataset, type Model, type Tensor,
} from '../lib/index';
import { collectTensors } from '../lib/tensor';
import { gc, machineInfo, median, peakRss, random, repoRoot, resetPeakRss, updateResultsSection, writeAtomic } from './suite/common';
import { measurePeak, type PeakProbe } from './suite/peak';
import { findTorchPython } from './suite/systems';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    threads: { type: 'string', default: '2' },
    runs: { type: 'string' },
    model: { type: 'string', multiple: true },
    out: { type: 'string', default: path.join(repoRoot, 'bench', 'results', 'train.json') },
    markdown: { type: 'string', default: path.join(repoRoot, 'bench', 'RESULTS.md') },
    /** Internal: run this one cell (JSON) and send its measurement to the parent. */
    cell: { type: 'string' },
  },
});

type ModelName = 'lenet5bn' | 'resnet20';
type LayerKind = 'adder' | 'conv';

interface Cell {
  model: ModelName;
  layer: LayerKind;
  batchSize: number;
  /** Optimizer steps per timed run. */
  steps: number;
}

// Steps chosen so one timed run takes ~1-5 s on 2 cores. The order does not
// matter for memory: every cell runs in its own process, so the (monotonic)
// peak RSS of one cannot hide another's.
const CELLS: Cell[] = [
  { model: 'lenet5bn', layer: 'adder', batchSize: 64, steps: 60 },
  { model: 'lenet5bn', layer: 'conv', batchSize: 64, steps: 60 },
  { model: 'lenet5bn', layer: 'adder', batchSize: 256, steps: 30 },
  { model: 'lenet5bn', layer: 'conv', batchSize: 256, steps: 30 },
  { model: 'resnet20', layer: 'adder', batchSize: 64, steps: 8 },
  { model: 'resnet20', layer: 'conv', batchSize: 64, steps: 8 },
  { model: 'resnet20', layer: 'adder', batchSize: 256, steps: 3 },
  { model: 'resnet20', layer: 'conv', batchSize: 256, steps: 3 },
];

const INPUT_SHAPE: Record<ModelName, [number, number, number]> = { lenet5bn: [1, 28, 28], resnet20: [3, 32, 32] };
const NUM_CLASSES = 10;
const TITLE: Record<ModelName, string> = { lenet5bn: 'LeNet-5-BN', resnet20: 'ResNet-20' };
const LAYER_TITLE: Record<LayerKind, string> = { adder: 'AdderNet', conv: 'CNN' };
/** fit() options of every timed run (SGD momentum 0.9 and weight decay 5e-4 are fit's defaults). */
const FIT = { epochs: 1, lr: 0.01, momentum: 0.9, weightDecay: 5e-4, schedule: 'constant' as const };

// Targets of the issue.
const LOOP_P99_TARGET_MS = 20;
const RSS_OVER_LIVE_TARGET = 1.3;

const threads = Number(args.threads);
if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be an integer >= 1 (got ${args.threads})`);
const runs = args.runs ? Number(args.runs) : args.quick ? 2 : 5;
if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be an integer >= 1 (got ${args.runs})`);
setNumThreads(threads);

function syntheticData(model: ModelName, n: number, seed: number): Dataset {
  const [c, h, w] = INPUT_SHAPE[model];
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) labels[i] = (i * 7 + seed) % NUM_CLASSES;
  return { images: random(n * c * h * w, seed), labels, shape: [c, h, w], numClasses: NUM_CLASSES };
}

function build(model: ModelName, layer: LayerKind, seed = 1): Model {
  return model === 'lenet5bn' ? models.lenet5bn({ layer, seed }) : models.resnet20({ layer, seed });
}

const mb = (b: number): string => (b / 2 ** 20).toFixed(1);
const fmt = (v: number): string => Math.round(v).toLocaleString('en-US');
const ms1 = (ns: number): number => Math.round(ns / 1e5) / 10;

// ---- One cell (in its own process) ------------------------------------------

/** What a cell's process measures. Bytes are the allocator's live bytes (size classes). */
interface CellMeasure {
  samples: number[];
  /** Event-loop delay during the timed fits (perf_hooks.monitorEventLoopDelay, 1 ms resolution), ms. */
  loopDelayMs: { p50: number; p99: number; max: number };
  /** Multiply- (CNN) or abs-diff-accumulates (adder) per example of one forward, by layer kind. */
  macsPerExample: { adder: number; conv: number };
  parameters: number;
  memory: {
    /** Parameters, their gradients and the BN running statistics (live bytes the built model holds). */
    paramGradBytes: number;
    /** SGD's state: momentum buffers, plus the adaptive-lr workspace of adder filters. */
    optimizerBytes: number;
    /** What a training-mode forward keeps for its backward (the input batch included). */
    savedActivationBytes: number;
    /** The three above: the issue's "live parameters, gradients, optimizer state and saved activations". */
    liveBytes: number;
    /** fit()'s copy of the weights for predict() during a step (not in liveBytes). */
    snapshotBytes: number;
    /** The allocator's peak live bytes during the timed fits (also temporaries, gradients in flight). */
    peakTensorBytes: number;
    rssBeforeBytes: number;
    /** Peak RSS from building the model to the end of the timed fits, minus the RSS before. */
    peakRssGrowthBytes: number;
    rssMethod: 'clear_refs' | 'maxrss';
  };
}

/** Multiply-accumulates (conv, linear) and adder taps per example. */
function countMacs(model: Model): { adder: number; conv: number } {
  // From model.summary()'s per-layer counts (shape arithmetic, no forward):
  // a conv/linear tap is one multiplication, an adder tap two additions
  // (plus one per output for a bias).
  const modules = new Map(model.net.namedModules());
  const macs = { adder: 0, conv: 0 };
  for (const row of model.summary().rows) {
    const m = modules.get(row.name);
    if (m instanceof nn.Conv2d || m instanceof nn.Linear) macs.conv += row.multiplications;
    else if (m instanceof nn.Adder2d || m instanceof nn.AdderLinear) {
      macs.adder += (row.additions - (m.bias ? row.outputShape.reduce((x, y) => x * y, 1) : 0)) / 2;
    }
  }
  return macs;
}

/**
 * Live bytes a training forward keeps for its backward: the allocator's live
 * bytes after a training-mode forward of one batch (its kernels done) minus
 * those before the batch was made. A backward then frees them the way a
 * fit() step does, and everything the two made is disposed.
 */
async function savedActivationBytes(model: Model, ds: Dataset, batch: number): Promise<number> {
  const [c, h, w] = ds.shape;
  model.train();
  const before = memoryInfo().liveBytes;
  const fwd = collectTensors(() => {
    const x = tensor(ds.images.slice(0, batch * c * h * w), [batch, c, h, w]);
    return model.forward(x);
  });
  await fwd.result.data();
  const saved = memoryInfo().liveBytes - before;
  const bwd = collectTensors(() => {
    const loss = ops.softmaxCrossEntropy(fwd.result, ds.labels.slice(0, batch));
    return model.backward(loss.gradLogits!);
  });
  await bwd.result.data();
  for (const t of [...fwd.made, ...bwd.made]) t.dispose();
  return saved;
}

async function measureCell(cell: Cell): Promise<CellMeasure> {
  // Data first: its JavaScript arrays are not part of the growth measured.
  const ds = syntheticData(cell.model, cell.batchSize * cell.steps, 7);
  const warm = syntheticData(cell.model, cell.batchSize * 2, 8);
  gc();
  const rssBefore = process.memoryUsage().rss;
  const cleared = resetPeakRss() !== undefined; // VmHWM := current RSS (Linux)
  const maxRssBefore = process.resourceUsage().maxRSS * 1024;
  const live0 = memoryInfo().liveBytes;
  const model = build(cell.model, cell.layer);
  const paramGradBytes = memoryInfo().liveBytes - live0;
  const opts = { ...FIT, batchSize: cell.batchSize, seed: 1 };
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
  // Without clear_refs, maxRSS is the process's (the parent's fork start-up included): take growth above the larger baseline.
  const peakRssGrowthBytes = cleared
    ? Math.max(0, peakRss()! * 2 ** 20 - rssBefore)
    : Math.max(0, process.resourceUsage().maxRSS * 1024 - Math.max(maxRssBefore, rssBefore));

  // The byte breakdown, after the peak was read (these allocations come later).
  let mark = memoryInfo().liveBytes;
  const sgd = new SGD(model.parameters(), { lr: FIT.lr, momentum: FIT.momentum, weightDecay: FIT.weightDecay });
  const optimizerBytes = memoryInfo().liveBytes - mark;
  sgd.dispose();
  mark = memoryInfo().liveBytes;
  model.snapshotWeights();
  const snapshotBytes = memoryInfo().liveBytes - mark;
  model.dropSnapshot();
  const saved = await savedActivationBytes(model, ds, cell.batchSize);
  const macsPerExample = countMacs(model);
  const parameters = model.parameters().reduce((a, p) => a + p.value.size, 0);
  await model.dispose();
  return {
    samples,
    loopDelayMs: { p50: ms1(loop.percentile(50)), p99: ms1(loop.percentile(99)), max: ms1(loop.max) },
    macsPerExample,
    parameters,
    memory: {
      paramGradBytes, optimizerBytes, savedActivationBytes: saved, liveBytes: paramGradBytes + optimizerBytes + saved,
      snapshotBytes, peakTensorBytes, rssBeforeBytes: rssBefore, peakRssGrowthBytes, rssMethod: cleared ? 'clear_refs' : 'maxrss',
    },
  };
}

/** Runs one cell in a fresh node process (same node flags) and resolves with what it measured. */
function measureCellInChild(cell: Cell): Promise<CellMeasure> {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--cell', JSON.stringify(cell), '--threads', String(threads), '--runs', String(runs)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: CellMeasure | undefined;
    child.on('message', (m) => (result = m as CellMeasure));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (result) resolve(result);
      else reject(new Error(`cell ${JSON.stringify(cell)}: child exited with ${signal ?? `code ${code}`} and no result`));
    });
  });
}

// ---- The PyTorch peer ----------------------------------------------------

interface TorchResult {
  examplesPerSecond: number;
  samples: number[];
  torchVersion: string;
  threads: number;
  parameters: number;
  /** OMP_WAIT_POLICY as the peer saw it (null: OpenMP's default, spinning threads). */
  ompWaitPolicy: string | null;
  peakRssGrowthMb: number | null;
}

const TORCH_SCRIPT = path.join(repoRoot, 'bench', 'suite', 'torch_train.py');

function runTorch(python: string, cell: Cell): Promise<TorchResult> {
  const argv = [TORCH_SCRIPT, '--model', cell.model, '--batch', String(cell.batchSize), '--steps', String(cell.steps), '--runs', String(runs), '--threads', String(threads)];
  return new Promise((resolve, reject) => {
    execFile(python, argv, { timeout: 15 * 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${path.basename(TORCH_SCRIPT)} failed: ${stderr.trim().split('\n').pop() ?? err.message}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as TorchResult);
      } catch {
        reject(new Error(`${path.basename(TORCH_SCRIPT)} printed no JSON line: ${stdout.slice(-200)}`));
      }
    });
  });
}

// ---- Predict latency and concurrency (in this process) --------------------

interface LatencyStats {
  medianMs: number;
  p90Ms: number;
  maxMs: number;
  samples: number;
}

function stats(values: number[]): LatencyStats {
  const s = [...values].sort((a, b) => a - b);
  return { medianMs: median(s), p90Ms: s[Math.min(s.length - 1, Math.ceil(0.9 * s.length) - 1)], maxMs: s[s.length - 1], samples: s.length };
}

interface PredictDuringFit {
  served: string;
  trainee: string;
  idle: LatencyStats;
  duringFit?: LatencyStats;
  /** The trainee's fit ms/step in this run, for comparison: a predict waiting behind a step would take about that. */
  fitMsPerStep: number;
  /** A coded error of predict() during fit(), if it refused. */
  error?: string;
  /** duringFit median < STEP_FRACTION x fitMsPerStep. */
  pass?: boolean;
}

/** A predict behind the step in flight would wait half a step on average: pass below a quarter. */
const STEP_FRACTION = 0.25;

/**
 * Batch-1 predict latency of `served`, idle and while fit() trains `trainee`
 * (ResNet-20 AdderNet, batch 64) in this process; `served` may be `trainee`.
 * Predicts run on the device's inference queue, which the training queue
 * yields to; on the model being trained they read the weights of the steps
 * queued so far.
 */
async function predictDuringFit(served: Model, trainee: Model, label: { served: string; trainee: string }, steps: number): Promise<PredictDuringFit> {
  const [c, h, w] = served.info.inputShape;
  const input = tensor(random(c * h * w, 3), [1, c, h, w]);
  const time = async (): Promise<number> => {
    const t0 = performance.now();
    (await served.predict(input)).dispose();
    return performance.now() - t0;
  };
  for (let i = 0; i < 5; i++) await time(); // warm-up
  const idle: number[] = [];
  for (let i = 0; i < 30; i++) idle.push(await time());
  const batchSize = 64;
  const data = syntheticData(trainee.info.arch as ModelName, batchSize * steps, 9);
  let training = true;
  const during: number[] = [];
  let error: string | undefined;
  const run = fit(trainee, data, { ...FIT, batchSize, seed: 1 }).finally(() => {
    training = false;
  });
  while (training) {
    try {
      during.push(await time());
    } catch (e) {
      const err = e as { code?: string; message?: string };
      error = `${err.code ?? 'error'}: ${err.message ?? String(e)}`;
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  const history = await run;
  input.dispose();
  const fitMsPerStep = (1000 * batchSize) / history.examplesPerSecond;
  const out: PredictDuringFit = { ...label, idle: stats(idle), fitMsPerStep };
  if (error) out.error = error;
  if (during.length) {
    out.duringFit = stats(during);
    out.pass = !error && out.duringFit.medianMs < STEP_FRACTION * fitMsPerStep;
  }
  return out;
}

interface Concurrency {
  models: number;
  batchSize: number;
  rounds: number;
  /** Median time for the models' predicts awaited one after another, and issued together (Promise.all). */
  sequentialMs: number;
  concurrentMs: number;
  /** Every concurrent output equals the sequential one bit for bit. */
  bitIdentical: boolean;
}

const sameBits = (a: Float32Array, b: Float32Array): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** N LeNet-5-BN AdderNets served at once: Promise.all of their predicts against awaiting each in turn. */
async function concurrentPredicts(count: number, batchSize: number, rounds: number): Promise<Concurrency> {
  const served = Array.from({ length: count }, (_, i) => models.lenet5bn({ layer: 'adder', seed: 20 + i }));
  const inputs = served.map((_, i) => tensor(random(batchSize * 784, 30 + i), [batchSize, 1, 28, 28]));
  const read = async (ys: Tensor[]): Promise<Float32Array[]> => {
    const out = await Promise.all(ys.map((y) => y.data()));
    for (const y of ys) y.dispose();
    return out;
  };
  const sequential = async (): Promise<[number, Tensor[]]> => {
    const t0 = performance.now();
    const ys: Tensor[] = [];
    for (let i = 0; i < count; i++) ys.push(await served[i].predict(inputs[i]));
    return [performance.now() - t0, ys];
  };
  const concurrent = async (): Promise<[number, Tensor[]]> => {
    const t0 = performance.now();
    const ys = await Promise.all(served.map((m, i) => m.predict(inputs[i])));
    return [performance.now() - t0, ys];
  };
  for (let i = 0; i < 3; i++) {
    await read((await sequential())[1]);
    await read((await concurrent())[1]);
  }
  const reference = await read((await sequential())[1]);
  const seqMs: number[] = [];
  const conMs: number[] = [];
  let bitIdentical = true;
  for (let r = 0; r < rounds; r++) {
    // Alternate which goes first, so neither always runs on a warmer cache.
    for (const mode of r % 2 ? (['c', 's'] as const) : (['s', 'c'] as const)) {
      const [t, ys] = mode === 's' ? await sequential() : await concurrent();
      (mode === 's' ? seqMs : conMs).push(t);
      const outs = await read(ys);
      if (mode === 'c') bitIdentical &&= outs.every((o, i) => sameBits(o, reference[i]));
    }
  }
  for (const x of inputs) x.dispose();
  await Promise.all(served.map((m) => m.dispose()));
  return { models: count, batchSize, rounds, sequentialMs: median(seqMs), concurrentMs: median(conMs), bitIdentical };
}

// ---- The run ----------------------------------------------------------------

interface Result extends Cell, CellMeasure {
  examplesPerSecond: number;
  msPerStep: number;
  minExamplesPerSecond: number;
  maxExamplesPerSecond: number;
  runs: number;
  /** Training G-ops/s: examples/s x 3 (forward + both gradients) x 2 per MAC x MACs per example. */
  trainGops: number;
  /** Fraction of the peak, each layer's ops charged at its own (adder: max+add, conv/linear: FMA), percent. */
  pctPeak?: number;
  /** The same G-ops/s against the FMA peak alone (as the comparison suite reports), percent. */
  pctFmaPeak?: number;
  /** peakRssGrowthBytes / liveBytes. */
  rssOverLive: number;
  /** The PyTorch CNN of the same model and batch (filled in for both layers once the CNN cell has run). */
  torch?: TorchResult & { trainGops: number; pctFmaPeak?: number };
  torchSkipped?: string;
}

function withPeak(cell: Cell, m: CellMeasure, peak: PeakProbe): Result {
  const eps = median(m.samples);
  const opsPerExample = (macs: number) => 3 * 2 * macs;
  const trainGops = (eps * opsPerExample(m.macsPerExample.adder + m.macsPerExample.conv)) / 1e9;
  const fma = peak.fmaGflops[threads];
  const maxAdd = peak.maxAddGops[threads];
  const r: Result = {
    ...cell, ...m,
    examplesPerSecond: eps,
    msPerStep: (1000 * cell.batchSize) / eps,
    minExamplesPerSecond: Math.min(...m.samples),
    maxExamplesPerSecond: Math.max(...m.samples),
    runs,
    trainGops,
    rssOverLive: m.memory.peakRssGrowthBytes / m.memory.liveBytes,
  };
  if (fma) r.pctFmaPeak = (100 * trainGops) / fma;
  if (fma && maxAdd) {
    // Seconds per example if every layer ran at its peak, over the seconds it took.
    const idealS = (opsPerExample(m.macsPerExample.adder) / maxAdd + opsPerExample(m.macsPerExample.conv) / fma) / 1e9;
    r.pctPeak = 100 * idealS * eps;
  }
  return r;
}

const pct = (v: number | undefined): string => (v === undefined ? '–' : `${v.toFixed(1)}%`);
const passText = (ok: boolean | undefined): string => (ok === undefined ? 'n/a' : ok ? 'PASS' : 'MISS');

async function main(): Promise<void> {
  const wanted = args.model?.flatMap((s) => s.split(','));
  const cells = CELLS.filter((c) => !wanted || wanted.includes(c.model)).map((c) => (args.quick ? { ...c, steps: Math.max(2, Math.ceil(c.steps / 3)) } : c));
  if (cells.length === 0) throw new Error(`--model must name lenet5bn and/or resnet20 (got ${wanted})`);

  const machine = machineInfo(backendInfo(), supportedIsas());
  console.log('# addernet training benchmark\n');
  console.log(`- machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`);
  console.log(`- backend: ${machine.backend.isa}, ${machine.backend.threads} threads, addernet ${machine.backend.version}, commit ${machine.commit ?? 'unknown'}`);
  console.log(`- ${machine.date}, load average ${machine.loadAverage.toFixed(2)}`);
  if (machine.loadAverage > 0.5) console.log('- WARNING: the machine is busy; numbers will be low and noisy');

  // The peaks, once, before any training runs (bench/suite/peak.ts, pinned threads).
  const peak = measurePeak([threads], args.quick ? 0.3 : 1.0);
  const fma = peak.fmaGflops[threads];
  const maxAdd = peak.maxAddGops[threads];
  const peakText = fma
    ? `FMA ${fma.toFixed(1)} GFLOP/s, max+add ${maxAdd?.toFixed(1) ?? '?'} G-ops/s (${peak.isa} probe, ${threads} thread${threads > 1 ? 's' : ''})`
    : `not measured (${peak.note ?? 'no probe'})`;
  console.log(`- measured peak: ${peakText}`);

  const torchPython = findTorchPython();
  let torchSkip: string | undefined;
  if (!torchPython.python) {
    torchSkip = `PyTorch peer skipped: no python3 with torch (${torchPython.tried.join('; ')}); on Debian: apt-get install python3-torch, or set ADDERNET_BENCH_PYTHON`;
    console.log(`- ${torchSkip}`);
  } else {
    console.log(`- PyTorch peer: ${torchPython.python} ${path.relative(repoRoot, TORCH_SCRIPT)}, run right after each CNN cell`);
    if (machine.loadAverage > 0.5 && !process.env.OMP_WAIT_POLICY) {
      console.log("- WARNING: PyTorch's OpenMP threads spin-wait by default, which collapses its speed on a busy machine (OMP_WAIT_POLICY=PASSIVE avoids it)");
    }
  }
  console.log(`- per cell: its own node process; 1 warm-up fit (2 batches), then median of ${runs} timed fits (SGD lr 0.01, momentum 0.9, weight decay 5e-4, no augmentation, synthetic data)\n`);

  const results: Result[] = [];
  for (const cell of cells) {
    const t0 = Date.now();
    const r = withPeak(cell, await measureCellInChild(cell), peak);
    results.push(r);
    const tag = `${cell.model} ${cell.layer} batch ${cell.batchSize}`;
    console.error(`  ${tag}: ${fmt(r.examplesPerSecond)} examples/s, loop p99 ${r.loopDelayMs.p99} ms, RSS growth ${mb(r.memory.peakRssGrowthBytes)} MB / live ${mb(r.memory.liveBytes)} MB (${((Date.now() - t0) / 1e3).toFixed(1)} s)`);
    if (cell.layer !== 'conv') continue;
    // The peer right after addernet's CNN cell, so both see the same machine state.
    const same = results.filter((x) => x.model === cell.model && x.batchSize === cell.batchSize);
    if (!torchPython.python) {
      for (const x of same) x.torchSkipped = torchSkip;
      continue;
    }
    try {
      const t = await runTorch(torchPython.python, cell);
      const gops = (t.examplesPerSecond * 6 * (r.macsPerExample.adder + r.macsPerExample.conv)) / 1e9;
      const torch = { ...t, trainGops: gops, pctFmaPeak: fma ? (100 * gops) / fma : undefined };
      for (const x of same) x.torch = torch;
      if (t.parameters !== r.parameters) console.error(`  WARNING: PyTorch ${cell.model} has ${t.parameters} parameters, addernet's CNN ${r.parameters}: the architectures differ`);
      console.error(`  ${tag} PyTorch ${t.torchVersion}: ${fmt(t.examplesPerSecond)} examples/s`);
    } catch (e) {
      for (const x of same) x.torchSkipped = `PyTorch peer failed: ${e instanceof Error ? e.message : String(e)}`;
      console.error(`  ${tag}: ${same[0].torchSkipped}`);
    }
  }

  // Predict latency during fit, and concurrent predicts (this process; after the cells, so they do not share it).
  const latSteps = args.quick ? 4 : 8;
  const latency: PredictDuringFit[] = [];
  {
    const served = models.lenet5bn({ layer: 'adder', seed: 2 });
    const trainee = models.resnet20({ layer: 'adder', seed: 1 });
    latency.push(await predictDuringFit(served, trainee, { served: 'LeNet-5-BN AdderNet (another model)', trainee: 'ResNet-20 AdderNet, batch 64' }, latSteps));
    latency.push(await predictDuringFit(trainee, trainee, { served: 'ResNet-20 AdderNet (the model being trained)', trainee: 'ResNet-20 AdderNet, batch 64' }, latSteps));
    await Promise.all([served.dispose(), trainee.dispose()]);
  }
  const rounds = args.quick ? 10 : 30;
  const concurrency = [await concurrentPredicts(4, 1, rounds), await concurrentPredicts(4, 64, rounds)];

  // ---- Report ----
  const throughputHeader = [
    '| model | layer | batch | steps/run | examples/s | ms/step | range (examples/s) | training G-ops/s | % of peak | % of FMA peak | PyTorch CNN examples/s | addernet / PyTorch | event-loop delay p50 / p99 / max (ms) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const throughputRows = results.map((r) => {
    const torch = r.torch ? fmt(r.torch.examplesPerSecond) : 'skipped';
    const ratio = r.torch ? (r.examplesPerSecond / r.torch.examplesPerSecond).toFixed(2) : '–';
    return (
      `| ${TITLE[r.model]} | ${LAYER_TITLE[r.layer]} | ${r.batchSize} | ${r.steps} | ${fmt(r.examplesPerSecond)} | ${r.msPerStep.toFixed(1)} | ` +
      `${fmt(r.minExamplesPerSecond)}–${fmt(r.maxExamplesPerSecond)} | ${r.trainGops.toFixed(1)} | ${pct(r.pctPeak)} | ${pct(r.pctFmaPeak)} | ${torch} | ${ratio} | ` +
      `${r.loopDelayMs.p50} / ${r.loopDelayMs.p99} / ${r.loopDelayMs.max} |`
    );
  });
  const torchRows = results
    .filter((r) => r.layer === 'conv' && r.torch)
    .map((r) => `| ${TITLE[r.model]} | PyTorch ${r.torch!.torchVersion} CNN | ${r.batchSize} | ${fmt(r.torch!.examplesPerSecond)} | ${fmt(Math.min(...r.torch!.samples))}–${fmt(Math.max(...r.torch!.samples))} | ${r.torch!.trainGops.toFixed(1)} | ${pct(r.torch!.pctFmaPeak)} | ${r.torch!.peakRssGrowthMb ?? '–'} |`);
  const memoryHeader = [
    '| model | layer | batch | params + grads (MB) | optimizer state (MB) | saved activations (MB) | live total (MB) | peak RSS growth (MB) | RSS growth / live | tensor peak (MB) | weight snapshot (MB) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  const memoryRows = results.map((r) => {
    const m = r.memory;
    return `| ${TITLE[r.model]} | ${LAYER_TITLE[r.layer]} | ${r.batchSize} | ${mb(m.paramGradBytes)} | ${mb(m.optimizerBytes)} | ${mb(m.savedActivationBytes)} | ${mb(m.liveBytes)} | ${mb(m.peakRssGrowthBytes)} | ${r.rssOverLive.toFixed(2)} | ${mb(m.peakTensorBytes)} | ${mb(m.snapshotBytes)} |`;
  });

  // Targets.
  const r20 = results.filter((r) => r.model === 'resnet20');
  const targets = {
    loopDelayP99: r20.map((r) => ({ layer: r.layer, batchSize: r.batchSize, p99Ms: r.loopDelayMs.p99, pass: r.loopDelayMs.p99 <= LOOP_P99_TARGET_MS })),
    rssOverLive: r20.filter((r) => r.batchSize === 256).map((r) => ({
      layer: r.layer, peakRssGrowthBytes: r.memory.peakRssGrowthBytes, liveBytes: r.memory.liveBytes, ratio: r.rssOverLive, pass: r.rssOverLive <= RSS_OVER_LIVE_TARGET,
    })),
    predictNotBehindStep: latency.map((l) => ({ served: l.served, pass: l.pass, error: l.error })),
  };
  const targetLines = [
    ...targets.loopDelayP99.map((t) => `- event-loop delay p99 <= ${LOOP_P99_TARGET_MS} ms during ResNet-20 ${LAYER_TITLE[t.layer]} fit, batch ${t.batchSize}: ${t.p99Ms} ms, ${passText(t.pass)}`),
    ...targets.rssOverLive.map((t) => `- peak RSS growth <= ${RSS_OVER_LIVE_TARGET}x live bytes, ResNet-20 ${LAYER_TITLE[t.layer]} batch 256: ${mb(t.peakRssGrowthBytes)} MB growth vs ${mb(t.liveBytes)} MB live = ${t.ratio.toFixed(2)}x, ${passText(t.pass)}`),
    ...latency.map((l) => `- predict during fit does not wait behind a whole step (median < ${STEP_FRACTION} x ms/step), ${l.served}: ${l.error ? `refused (${l.error})` : `${l.duringFit?.medianMs.toFixed(2)} ms vs ${l.fitMsPerStep.toFixed(0)} ms/step`}, ${passText(l.pass)}`),
  ];
  if (!r20.length) targetLines.push('- (ResNet-20 not run: no ResNet-20 targets checked)');

  const ratios = [...new Set(results.map((r) => `${r.model}|${r.batchSize}`))].map((key) => {
    const [model, b] = key.split('|');
    const a = results.find((r) => r.model === model && r.batchSize === +b && r.layer === 'adder');
    const c = results.find((r) => r.model === model && r.batchSize === +b && r.layer === 'conv');
    const t = (a ?? c)?.torch;
    return {
      model: model as ModelName, batchSize: +b,
      adderOverConv: a && c ? a.examplesPerSecond / c.examplesPerSecond : undefined,
      convOverTorch: c && t ? c.examplesPerSecond / t.examplesPerSecond : undefined,
      adderOverTorch: a && t ? a.examplesPerSecond / t.examplesPerSecond : undefined,
    };
  });
  const ratioLines = ratios.map((r) => {
    const parts = [
      r.adderOverConv !== undefined ? `AdderNet / CNN ${r.adderOverConv.toFixed(2)}` : undefined,
      r.convOverTorch !== undefined ? `CNN / PyTorch CNN ${r.convOverTorch.toFixed(2)}` : undefined,
      r.adderOverTorch !== undefined ? `AdderNet / PyTorch CNN ${r.adderOverTorch.toFixed(2)}` : undefined,
    ].filter(Boolean);
    return `- ${TITLE[r.model]} batch ${r.batchSize}: training speed ${parts.join(', ') || 'n/a'}`;
  });
  const latencyHeader = [
    '| predict (batch 1) of | while fit trains | idle median (ms) | during fit median / p90 / max (ms) | fit ms/step | samples |',
    '|---|---|---:|---:|---:|---:|',
  ];
  const latencyRows = latency.map((l) =>
    `| ${l.served} | ${l.trainee} | ${l.idle.medianMs.toFixed(2)} | ${l.duringFit ? `${l.duringFit.medianMs.toFixed(2)} / ${l.duringFit.p90Ms.toFixed(2)} / ${l.duringFit.maxMs.toFixed(2)}` : '–'}${l.error ? ` (${l.error})` : ''} | ${l.fitMsPerStep.toFixed(0)} | ${l.duringFit?.samples ?? 0} |`);
  const concurrencyHeader = [
    '| models | batch | sequential (ms) | concurrent, Promise.all (ms) | sequential / concurrent | outputs equal bit for bit |',
    '|---:|---:|---:|---:|---:|---|',
  ];
  const concurrencyRows = concurrency.map((c) =>
    `| ${c.models} LeNet-5-BN AdderNets | ${c.batchSize} | ${c.sequentialMs.toFixed(2)} | ${c.concurrentMs.toFixed(2)} | ${(c.sequentialMs / c.concurrentMs).toFixed(2)} | ${c.bitIdentical ? 'yes' : 'NO'} |`);

  const explanation = [
    'Throughput: examples/s is fit()\'s own figure per timed run (median; range = min–max), ms/step = batch / examples/s.',
    'Training G-ops/s = examples/s x 3 (forward + input and weight gradients, the suite\'s convention) x 2 ops per MAC x the model\'s',
    'MACs per example (adder, conv and linear layers only, counted from a forward; BN, ReLU and pooling are not counted).',
    '"% of peak" charges each layer\'s ops at its own measured peak (adder layers: max+add, conv/linear: FMA) and gives the time that would',
    'take over the time taken; "% of FMA peak" divides by the FMA peak alone, as the comparison suite does. PyTorch CNN: PyTorch',
    'training the same CNN (bench/suite/torch_train.py: same layers, SGD recipe, batch, steps and threads), run right after',
    'addernet\'s CNN cell; addernet / PyTorch divides each addernet row by it. Event-loop delay: `perf_hooks.monitorEventLoopDelay`',
    '(1 ms resolution) during the timed fits.',
    '',
    'Memory (each cell in its own node process): params + grads = the allocator\'s live bytes of the built model (parameters, their',
    'gradients, BN running statistics); optimizer state = those of an SGD with fit()\'s options (momentum buffers, and for adder',
    'filters the adaptive-lr workspace); saved activations = live bytes after one training-mode forward of a batch (input batch',
    'included) minus before it, i.e. what the backward reads; live total = the three. Peak RSS growth = the process\'s peak RSS',
    'from building the model through the timed fits minus its RSS just before (VmHWM reset by /proc/self/clear_refs). Tensor peak =',
    'the allocator\'s most live bytes during the timed fits (with gradients and temporaries in flight). Weight snapshot = the copy',
    'of parameters and buffers fit() keeps so that a predict() during a step need not wait for it (not in live total).',
  ];

  const header = [
    `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.backend.isa}, **${threads} threads**; commit ${machine.commit ?? 'unknown'}, ${machine.date.slice(0, 10)}` +
      `${machine.loadAverage > 0.5 ? ` (load average ${machine.loadAverage.toFixed(1)} at start: other work was running)` : ''}.`,
    `Measured peak: ${peakText}. fit() on synthetic data, SGD lr 0.01 with momentum 0.9 and weight decay 5e-4, no augmentation; median of ${runs} timed runs after a warm-up${args.quick ? ' (quick mode)' : ''}.`,
    torchSkip ? torchSkip : '',
  ].filter(Boolean);

  const body = [
    ...throughputHeader, ...throughputRows, '',
    ...(torchRows.length ? ['| model | peer | batch | examples/s | range | training G-ops/s | % of FMA peak | peak RSS growth (MB) |', '|---|---|---:|---:|---:|---:|---:|---:|', ...torchRows, ''] : []),
    ...memoryHeader, ...memoryRows, '',
    ...ratioLines, '',
    'Targets:', '', ...targetLines, '',
    ...latencyHeader, ...latencyRows, '',
    ...concurrencyHeader, ...concurrencyRows, '',
  ];
  console.log(['', ...header, '', ...body].join('\n'));

  const out = path.resolve(args.out!);
  writeAtomic(out, JSON.stringify({
    machine, quick: args.quick, threads, runs, peak,
    torch: torchPython.python ? { python: torchPython.python, script: path.relative(repoRoot, TORCH_SCRIPT) } : { skipped: torchSkip },
    results, ratios, targets, latency, concurrency,
  }, null, 2) + '\n');
  console.log(`Wrote ${path.relative(process.cwd(), out) || out}`);

  // bench/RESULTS.md: replace (or add) the section between the train markers, keep the rest.
  const BEGIN = '<!-- bench:train:begin -->';
  const END = '<!-- bench:train:end -->';
  const section = [
    BEGIN,
    '## Training (`npm run bench:train`)',
    '',
    ...header,
    '',
    ...body,
    'Predict latency: a batch-1 predict() awaited every ~5 ms while fit() trains a ResNet-20 AdderNet (batch 64) in the same process,',
    'of another model and of the model being trained (which reads the weights of the steps queued so far); "fit ms/step" is that fit\'s.',
    'Concurrent predicts: the four models\' predicts awaited one by one against issued together, medians over rounds; outputs compared',
    'bit for bit with sequential ones.',
    '',
    ...explanation,
    '',
    'Raw numbers: `bench/results/train.json`.',
    END,
  ].join('\n');
  const mdFile = path.resolve(args.markdown!);
  updateResultsSection(BEGIN, END, section, mdFile);
  console.log(`Updated ${path.relative(process.cwd(), mdFile) || mdFile} (section between ${BEGIN} and ${END})`);
}

if (args.cell) {
  // A child: one cell, its measurement to the parent (or stdout when run by hand).
  measureCell(JSON.parse(args.cell) as Cell)
    .then((m) => {
      if (process.send) process.send(m, () => process.disconnect());
      else console.log(JSON.stringify(m));
    })
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
} else {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
