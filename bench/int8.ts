// uint8 adder benchmark (issue 10): G-ops/s of the quantized adder forward
// (ops.adder2dU8, vpsadbw) beside our fp32 adder and conv forward and ONNX
// Runtime's fp32 Conv and int8 convolutions (ConvInteger, QLinearConv), same
// run, same shapes, 1 and 2 threads, on the four kernel-bench layers and every
// distinct ResNet-20 adder layer (batch 64); then predict latency of LeNet-5-BN
// and ResNet-20, float vs quantized, batch 1 and 64. `npm run bench:int8
// [-- --quick --threads 2 --layer d]`. Writes bench/results/int8.json and its
// section of bench/RESULTS.md. Reports the targets; never fails on one.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { backendInfo, models, ops, quantize, setNumThreads, supportedIsas, tensor, type Model, type Tensor } from '../lib/index';
import { gc, gcNote, machineInfo, median, random, repoRoot, updateResultsSection, writeAtomic } from './suite/common';
import { convForwardModel, convInt8Model, type ConvShape } from './suite/onnx';
import { measurePeak } from './suite/peak';
import { ortSessionOptions } from './suite/systems';

interface Layer { n: number; c: number; h: number; w: number; t: number; k: number; s: number; p: number }

const LAYERS: Record<string, Layer> = {
  a: { n: 64, c: 20, h: 12, w: 12, t: 50, k: 5, s: 1, p: 0 },
  b: { n: 64, c: 16, h: 32, w: 32, t: 16, k: 3, s: 1, p: 1 },
  c: { n: 64, c: 64, h: 8, w: 8, t: 64, k: 3, s: 1, p: 1 },
  d: { n: 32, c: 64, h: 56, w: 56, t: 128, k: 3, s: 1, p: 1 },
  // ResNet-20's distinct adder layers at batch 64.
  'r20 16x32x32': { n: 64, c: 16, h: 32, w: 32, t: 16, k: 3, s: 1, p: 1 },
  'r20 16->32 s2': { n: 64, c: 16, h: 32, w: 32, t: 32, k: 3, s: 2, p: 1 },
  'r20 1x1 16->32 s2': { n: 64, c: 16, h: 32, w: 32, t: 32, k: 1, s: 2, p: 0 },
  'r20 32x16x16': { n: 64, c: 32, h: 16, w: 16, t: 32, k: 3, s: 1, p: 1 },
  'r20 32->64 s2': { n: 64, c: 32, h: 16, w: 16, t: 64, k: 3, s: 2, p: 1 },
  'r20 1x1 32->64 s2': { n: 64, c: 32, h: 16, w: 16, t: 64, k: 1, s: 2, p: 0 },
  'r20 64x8x8': { n: 64, c: 64, h: 8, w: 8, t: 64, k: 3, s: 1, p: 1 },
};

const SYSTEMS = ['u8 adder', 'f32 adder', 'f32 conv', 'ORT f32 Conv', 'ORT ConvInteger', 'ORT QLinearConv'] as const;
type System = (typeof SYSTEMS)[number];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    threads: { type: 'string', multiple: true },
    layer: { type: 'string', multiple: true },
    out: { type: 'string', default: path.join(repoRoot, 'bench', 'results', 'int8.json') },
  },
});
const list = (v: string[] | undefined) => v?.flatMap((s) => s.split(',')).filter(Boolean);
const threadCounts = (list(args.threads) ?? ['1', '2']).map(Number);
const layerNames = list(args.layer) ?? Object.keys(LAYERS);
for (const l of layerNames) if (!LAYERS[l]) throw new Error(`unknown layer ${l} (${Object.keys(LAYERS).join(', ')})`);
const TARGET_S = args.quick ? 0.1 : 0.6;
const MIN_RUNS = args.quick ? 1 : 3;
const MAX_RUNS = args.quick ? 4 : 20;

interface OrtSession { run(feeds: Record<string, unknown>): Promise<Record<string, { data: ArrayLike<number> }>>; release(): Promise<void> }
interface Ort {
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: string, data: ArrayLike<number>, dims: readonly number[]) => unknown;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ort = require('onnxruntime-node') as Ort;

async function timeMs(fn: () => unknown): Promise<number> {
  gc();
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

interface Result { layer: string; threads: number; system: System; gops: number; medianMs: number; runs: number; note?: string }

async function main(): Promise<void> {
  const machine = machineInfo(backendInfo(), supportedIsas());
  console.log('# addernet uint8 adder benchmark\n');
  console.log(`- machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; backend ${JSON.stringify(machine.backend)}`);
  console.log(`- commit: ${machine.commit ?? 'unknown'}, ${machine.date}, load average ${machine.loadAverage.toFixed(2)}`);
  if (machine.loadAverage > 0.5) console.log('- WARNING: the machine is busy; multi-thread numbers will be low and noisy');
  console.log('- ops = 2*N*T*HO*WO*C*KH*KW per forward (2 per element, as everywhere); each timing includes reading the output into a typed array');
  console.log(`- ${gcNote}\n`);
  const peak = measurePeak(threadCounts, args.quick ? 0.2 : 0.5);
  console.log(`- machine ceilings (bench/suite/peak): max+add fp32 ${JSON.stringify(peak.maxAddGops)} G-ops/s, FMA ${JSON.stringify(peak.fmaGflops)} GFLOP/s by threads\n`);

  const results: Result[] = [];
  for (const name of layerNames) {
    const L = LAYERS[name];
    const ho = Math.floor((L.h + 2 * L.p - L.k) / L.s) + 1, wo = Math.floor((L.w + 2 * L.p - L.k) / L.s) + 1;
    const shape: ConvShape = { n: L.n, c: L.c, h: L.h, w: L.w, t: L.t, kh: L.k, kw: L.k, sh: L.s, sw: L.s, ph: L.p, pw: L.p };
    const xf = random(L.n * L.c * L.h * L.w, 1), wf = random(L.t * L.c * L.k * L.k, 2);
    const xq = Uint8Array.from(xf, (v) => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5))));
    const wq = Uint8Array.from(wf, (v) => Math.min(255, Math.max(0, Math.round((v + 1) * 127.5))));
    const x = tensor(xf, [L.n, L.c, L.h, L.w]);
    const w = tensor(wf, [L.t, L.c, L.k, L.k]);
    const out = new Float32Array(L.n * L.t * ho * wo);
    const outI = new Int32Array(out.length);
    const opt = { stride: L.s, padding: L.p };
    const fwdOps = 2 * L.n * L.t * ho * wo * L.c * L.k * L.k;
    for (const threads of threadCounts) {
      setNumThreads(threads);
      const sessions: Record<string, OrtSession> = {};
      const o = ortSessionOptions(threads);
      sessions.f32 = await ort.InferenceSession.create(convForwardModel(shape, wf), o);
      sessions.ci = await ort.InferenceSession.create(convInt8Model(shape, wq, 'ConvInteger'), o);
      sessions.ql = await ort.InferenceSession.create(convInt8Model(shape, wq, 'QLinearConv'), o);
      const ox = new ort.Tensor('float32', xf, [L.n, L.c, L.h, L.w]);
      const oq = new ort.Tensor('uint8', xq, [L.n, L.c, L.h, L.w]);
      const read = (y: Tensor<'float32' | 'int32'>) => {
        y.storage.read(y.dtype === 'int32' ? outI : out);
        y.dispose();
      };
      const run: Record<System, () => unknown> = {
        'u8 adder': () => read(ops.adder2dU8({ data: xq, shape: [L.n, L.c, L.h, L.w] }, { data: wq, shape: [L.t, L.c, L.k, L.k] }, { ...opt, padValue: 128 })),
        'f32 adder': () => read(ops.adder2d(x, w, opt)),
        'f32 conv': () => read(ops.conv2d(x, w, opt)),
        'ORT f32 Conv': () => sessions.f32.run({ x: ox }),
        'ORT ConvInteger': () => sessions.ci.run({ x: oq }),
        'ORT QLinearConv': () => sessions.ql.run({ x: oq }),
      };
      const runs = {} as Record<System, number>;
      for (const s of SYSTEMS) runs[s] = Math.min(MAX_RUNS, Math.max(MIN_RUNS, Math.round(TARGET_S / ((await timeMs(run[s])) / 1e3))));
      const times = Object.fromEntries(SYSTEMS.map((s) => [s, [] as number[]])) as Record<System, number[]>;
      for (let round = 0; round < Math.max(...Object.values(runs)); round++) {
        for (const s of SYSTEMS) if (round < runs[s]) times[s].push(await timeMs(run[s]));
      }
      for (const s of SYSTEMS) {
        const med = median(times[s]);
        results.push({ layer: name, threads, system: s, gops: fwdOps / (med * 1e6), medianMs: med, runs: times[s].length });
      }
      for (const sess of Object.values(sessions)) await sess.release();
      process.stderr.write(`  done ${name} ${threads}t\n`);
    }
    x.dispose();
    w.dispose();
  }

  // Predict latency, float vs quantized (8 bits), batch 1 and 64, at the largest thread count.
  const threadsForLatency = Math.max(...threadCounts);
  setNumThreads(threadsForLatency);
  interface Latency { model: string; batch: number; floatMs: number; quantizedMs: number }
  const latencies: Latency[] = [];
  async function latency(name: string, float: Model, calibrationShape: [number, number, number]): Promise<void> {
    const per = calibrationShape[0] * calibrationShape[1] * calibrationShape[2];
    const calibration = { images: random(128 * per, 5), labels: new Int32Array(128), shape: calibrationShape, numClasses: float.info.numClasses };
    const q = await quantize(float, calibration, { bits: 8, examples: 128 });
    for (const batch of [1, 64]) {
      const xb = tensor(random(batch * per, 6), [batch, ...calibrationShape]);
      const time = async (m: Model) => {
        await m.predict(xb); // warm-up
        const v: number[] = [];
        for (let i = 0; i < (args.quick ? 3 : batch === 1 ? 30 : 8); i++) v.push(await timeMs(async () => (await m.predict(xb)).dispose()));
        return median(v);
      };
      latencies.push({ model: name, batch, floatMs: await time(float), quantizedMs: await time(q) });
      xb.dispose();
    }
    await q.dispose();
    await float.dispose();
  }
  await latency('LeNet-5-BN', models.lenet5bn(), [1, 28, 28]);
  await latency('ResNet-20', models.resnet20(), [3, 32, 32]);

  const find = (layer: string, threads: number, s: System) => results.find((r) => r.layer === layer && r.threads === threads && r.system === s)!;
  const f1 = (v: number) => v.toFixed(1);
  const lines: string[] = [];
  lines.push('| layer | threads | ' + SYSTEMS.join(' | ') + ' | u8 / f32 adder | u8 / ORT f32 | u8 / ORT int8 (best) |');
  lines.push('|---|---:|' + SYSTEMS.map(() => '---:').join('|') + '|---:|---:|---:|');
  for (const layer of layerNames) {
    for (const threads of threadCounts) {
      const g = (s: System) => find(layer, threads, s).gops;
      const int8 = Math.max(g('ORT ConvInteger'), g('ORT QLinearConv'));
      lines.push(`| ${layer} | ${threads} | ${SYSTEMS.map((s) => f1(g(s))).join(' | ')} | ${(g('u8 adder') / g('f32 adder')).toFixed(2)}x | ${(g('u8 adder') / g('ORT f32 Conv')).toFixed(2)}x | ${(g('u8 adder') / int8).toFixed(2)}x |`);
    }
  }
  const latencyLines = [
    '| model | batch | float predict ms | quantized (8 bits) predict ms | quantized / float |',
    '|---|---:|---:|---:|---:|',
    ...latencies.map((l) => `| ${l.model} | ${l.batch} | ${l.floatMs.toFixed(2)} | ${l.quantizedMs.toFixed(2)} | ${(l.quantizedMs / l.floatMs).toFixed(2)}x |`),
  ];
  // The targets, on layer d at 2 threads.
  const targets: string[] = [];
  if (layerNames.includes('d') && threadCounts.includes(2)) {
    const g = (s: System) => find('d', 2, s).gops;
    const int8 = Math.max(g('ORT ConvInteger'), g('ORT QLinearConv'));
    const check = (what: string, ratio: number, want: number) => targets.push(`- ${what}: ${ratio.toFixed(2)}x (target >= ${want}x) ${ratio >= want ? 'met' : 'MISSED'}`);
    check('layer d, 2 threads: u8 adder / our f32 adder', g('u8 adder') / g('f32 adder'), 3);
    check("layer d, 2 threads: u8 adder / ONNX Runtime's f32 Conv", g('u8 adder') / g('ORT f32 Conv'), 1.5);
    check("layer d, 2 threads: u8 adder / ONNX Runtime's faster int8 convolution", g('u8 adder') / int8, 0.5);
    targets.push(`- layer d, 2 threads: u8 adder at ${(g('u8 adder') / (peak.maxAddGops[2] ?? NaN)).toFixed(2)}x the fp32 max+add ceiling (${f1(peak.maxAddGops[2] ?? NaN)} G-ops/s)`);
  }
  const text = [
    `G-ops/s (2 per element) of one forward, median of ${MIN_RUNS}-${MAX_RUNS} interleaved runs${args.quick ? ' (quick)' : ''}, output read included:`,
    '',
    ...lines,
    '',
    `Predict latency (median, ${threadsForLatency} threads; quantized at 8 bits, calibrated on 128 random inputs):`,
    '',
    ...latencyLines,
    '',
    ...targets,
  ].join('\n');
  console.log(text);

  writeAtomic(args.out, JSON.stringify({ machine, quick: args.quick, layers: LAYERS, peak, results, latencies }, null, 2) + '\n');
  if (!args.quick && !list(args.layer) && !list(args.threads)) {
    updateResultsSection('<!-- bench:int8:begin -->', '<!-- bench:int8:end -->', [
      '<!-- bench:int8:begin -->',
      '## uint8 adder layers (`npm run bench:int8`, issue 10)',
      '',
      `${machine.cpu}, ${machine.cores} cores, commit ${machine.commit ?? 'unknown'}, ${machine.date}, load average ${machine.loadAverage.toFixed(2)}; ` +
        `ceilings: max+add fp32 ${JSON.stringify(peak.maxAddGops)} G-ops/s, FMA ${JSON.stringify(peak.fmaGflops)} GFLOP/s by threads. ` +
        'ORT int8 inputs: uint8 x and filters with zero points 128 (ConvInteger: int32 out; QLinearConv: requantized uint8 out).',
      '',
      text,
      '<!-- bench:int8:end -->',
    ].join('\n'));
  }
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
