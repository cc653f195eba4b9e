// Kernel benchmark: adder2d and conv2d, forward and backward, per ISA and
// thread count. Run with `npm run bench:kernels [-- --quick --isa avx512
// --threads 2 --layer c]`. Prints a markdown table and writes
// bench/results/kernels.json. Reports targets; never fails on a missed one.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { backendInfo, ops, setIsa, setNumThreads, supportedIsas, tensor, type Isa } from '../lib/index';
import { gc, gcNote, machineInfo, median, random, repoRoot, updateResultsSection, writeAtomic } from './suite/common';

interface Layer { n: number; c: number; h: number; w: number; t: number; k: number; p: number }

const LAYERS: Record<string, Layer> = {
  a: { n: 64, c: 20, h: 12, w: 12, t: 50, k: 5, p: 0 },
  b: { n: 64, c: 16, h: 32, w: 32, t: 16, k: 3, p: 1 },
  c: { n: 64, c: 64, h: 8, w: 8, t: 64, k: 3, p: 1 },
  d: { n: 32, c: 64, h: 56, w: 56, t: 128, k: 3, p: 1 },
};
// ONNX Runtime CPU Conv on this machine, 2 threads (issue 2), GFLOP/s.
const ORT_GFLOPS: Record<string, number> = { a: 126, b: 94, c: 236, d: 215 };
const ADDER_FWD_TARGET = 140; // G-ops/s on c and d at 2 threads
const CONV_VS_ORT = 1 / 1.3; // conv fwd within 1.3x of ORT
const BWD_VS_FWD = 0.5; // adder bwd >= 0.5x adder fwd throughput

const SYSTEMS = ['adder fwd', 'adder bwd', 'conv fwd', 'conv bwd'] as const;
type System = (typeof SYSTEMS)[number];

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    isa: { type: 'string', multiple: true },
    threads: { type: 'string', multiple: true },
    layer: { type: 'string', multiple: true },
    out: { type: 'string', default: path.join(repoRoot, 'bench', 'results', 'kernels.json') },
  },
});
const list = (v: string[] | undefined) => v?.flatMap((s) => s.split(',')).filter(Boolean);
const isas = (list(args.isa) ?? supportedIsas()) as Isa[];
const threadCounts = (list(args.threads) ?? ['1', '2']).map(Number);
const layerNames = list(args.layer) ?? Object.keys(LAYERS);
for (const isa of isas) if (!supportedIsas().includes(isa)) throw new Error(`ISA ${isa} not supported here (${supportedIsas()})`);
for (const l of layerNames) if (!LAYERS[l]) throw new Error(`unknown layer ${l} (a, b, c or d)`);
for (const t of threadCounts) if (!(Number.isInteger(t) && t >= 1)) throw new Error(`bad thread count ${t}`);

// Each cell gets one discarded warm-up run, then enough runs to fill about
// TARGET_S seconds, between MIN_RUNS and MAX_RUNS.
const TARGET_S = args.quick ? 0.1 : 0.8;
const MIN_RUNS = args.quick ? 1 : 3;
const MAX_RUNS = args.quick ? 5 : 30;

// Collect garbage before each timed call, so the previous call's large
// outputs are not swept while a kernel runs (with node --single-threaded-gc,
// as `npm run bench:kernels` starts it, none of that work is left to helper
// threads either; see gcNote).
function timeMs(fn: () => unknown): number {
  gc();
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

interface Result {
  layer: string; isa: Isa; threads: number; system: System;
  gops: number; medianMs: number; minMs: number; maxMs: number; runs: number; timesMs: number[];
}

const machine = machineInfo(backendInfo(), supportedIsas());
console.log(`# addernet kernel benchmark\n`);
console.log(`- machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
console.log(`- backend: ${JSON.stringify(machine.backend)}, ISAs here: ${machine.supportedIsas.join(', ')}`);
console.log(`- commit: ${machine.commit ?? 'unknown'}, ${machine.date}, load average ${machine.loadAverage.toFixed(2)}`);
if (machine.loadAverage > 0.5) console.log('- WARNING: the machine is busy; multi-thread numbers will be low and noisy');
console.log(`- measuring ISAs ${isas.join(', ')} at ${threadCounts.join(', ')} thread(s), layers ${layerNames.join(', ')}${args.quick ? ' (quick)' : ''}`);
console.log(`- ops = 2*N*T*HO*WO*C*KH*KW per forward, twice that per backward (both gradients)`);
console.log(`- ${gcNote}; outputs freshly allocated per call, as ops.* does\n`);

const results: Result[] = [];
for (const name of layerNames) {
  const { n, c, h, w, t, k, p } = LAYERS[name];
  const ho = h + 2 * p - k + 1, wo = w + 2 * p - k + 1;
  const x = tensor(random(n * c * h * w, 1), [n, c, h, w]);
  const wt = tensor(random(t * c * k * k, 2), [t, c, k, k]);
  const gy = tensor(random(n * t * ho * wo, 3), [n, t, ho, wo]);
  const opt = { stride: 1, padding: p };
  const fwdOps = 2 * n * t * ho * wo * c * k * k;
  const run: Record<System, () => unknown> = {
    'adder fwd': () => ops.adder2d(x, wt, opt),
    'adder bwd': () => ops.adder2dBackward(x, wt, gy, opt),
    'conv fwd': () => ops.conv2d(x, wt, opt),
    'conv bwd': () => ops.conv2dBackward(x, wt, gy, opt),
  };
  for (const isa of isas) {
    setIsa(isa);
    for (const threads of threadCounts) {
      setNumThreads(threads);
      // Warm up each system once; its time sets how many runs it gets.
      const runs = {} as Record<System, number>;
      for (const s of SYSTEMS) runs[s] = Math.min(MAX_RUNS, Math.max(MIN_RUNS, Math.round(TARGET_S / (timeMs(run[s]) / 1e3))));
      // Interleave: each round runs every system that still needs runs.
      const times = Object.fromEntries(SYSTEMS.map((s) => [s, [] as number[]])) as Record<System, number[]>;
      for (let round = 0; round < Math.max(...Object.values(runs)); round++) {
        for (const s of SYSTEMS) if (round < runs[s]) times[s].push(timeMs(run[s]));
      }
      for (const s of SYSTEMS) {
        const v = times[s], med = median(v);
        const opsCount = s.endsWith('bwd') ? 2 * fwdOps : fwdOps;
        results.push({
          layer: name, isa, threads, system: s, gops: opsCount / (med * 1e6),
          medianMs: med, minMs: Math.min(...v), maxMs: Math.max(...v), runs: v.length, timesMs: v,
        });
      }
      process.stderr.write(`  done ${name} ${isa} ${threads}t\n`);
    }
  }
}

const find = (layer: string, isa: Isa, threads: number, s: System) =>
  results.find((r) => r.layer === layer && r.isa === isa && r.threads === threads && r.system === s)!;
const f1 = (v: number) => v.toFixed(1);
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

console.log('\nCells: G-ops/s · median ms [min–max] (runs).\n');
console.log(`| layer | isa | threads | ${SYSTEMS.join(' | ')} | adder bwd/fwd | conv fwd / ORT |`);
console.log(`|---|---|---|${SYSTEMS.map(() => '---').join('|')}|---|---|`);
for (const layer of layerNames) {
  for (const isa of isas) {
    for (const threads of threadCounts) {
      const cells = SYSTEMS.map((s) => {
        const r = find(layer, isa, threads, s);
        return `${f1(r.gops)} · ${ms(r.medianMs)} [${ms(r.minMs)}–${ms(r.maxMs)}] (${r.runs})`;
      });
      const bwdRatio = find(layer, isa, threads, 'adder bwd').gops / find(layer, isa, threads, 'adder fwd').gops;
      const ortRatio = find(layer, isa, threads, 'conv fwd').gops / ORT_GFLOPS[layer];
      console.log(`| ${layer} | ${isa} | ${threads} | ${cells.join(' | ')} | ${bwdRatio.toFixed(2)}x | ${ortRatio.toFixed(2)}x |`);
    }
  }
}

// Targets from issue 2, checked at 2 threads on the best ISA measured.
interface Target { name: string; target: string; achieved: string; ratio: number; met: boolean }
const targets: Target[] = [];
const best = [...supportedIsas()].reverse().find((i) => isas.includes(i));
if (best && threadCounts.includes(2)) {
  for (const layer of layerNames) {
    const g = (s: System) => find(layer, best, 2, s).gops;
    if (layer === 'c' || layer === 'd') {
      const ratio = g('adder fwd') / ADDER_FWD_TARGET;
      targets.push({ name: `${layer}: adder fwd`, target: `>= ${ADDER_FWD_TARGET} G-ops/s`, achieved: `${f1(g('adder fwd'))} G-ops/s`, ratio, met: ratio >= 1 });
    }
    const conv = g('conv fwd') / ORT_GFLOPS[layer];
    targets.push({
      name: `${layer}: conv fwd vs ORT ${ORT_GFLOPS[layer]} GFLOP/s`, target: `>= ${CONV_VS_ORT.toFixed(2)}x ORT`,
      achieved: `${f1(g('conv fwd'))} G-ops/s = ${conv.toFixed(2)}x ORT`, ratio: conv / CONV_VS_ORT, met: conv >= CONV_VS_ORT,
    });
    const bwd = g('adder bwd') / g('adder fwd');
    targets.push({
      name: `${layer}: adder bwd / adder fwd`, target: `>= ${BWD_VS_FWD}x`,
      achieved: `${bwd.toFixed(2)}x`, ratio: bwd / BWD_VS_FWD, met: bwd >= BWD_VS_FWD,
    });
  }
  console.log(`\nTargets (issue 2), ${best}, 2 threads; ratio = achieved / target:\n`);
  console.log('| check | target | achieved | ratio | met |\n|---|---|---|---|---|');
  for (const t of targets) console.log(`| ${t.name} | ${t.target} | ${t.achieved} | ${t.ratio.toFixed(3)} | ${t.met ? 'yes' : 'NO'} |`);
} else {
  console.log('\nTargets (issue 2) apply at 2 threads; not measured in this run.');
}

const out = path.resolve(args.out!);
writeAtomic(out, JSON.stringify({ machine, quick: args.quick, layers: LAYERS, ortGflops: ORT_GFLOPS, results, targets }, null, 2) + '\n');
console.log(`\nWrote ${out}`);

// bench/RESULTS.md keeps the latest full run at 2 threads on every ISA (the JSON has every cell).
if (!args.quick && threadCounts.includes(2)) {
  const BEGIN = '<!-- bench:kernels:begin -->';
  const END = '<!-- bench:kernels:end -->';
  const layerText = (l: Layer) => `N=${l.n} ${l.c}->${l.t} ${l.h}x${l.w} k${l.k} p${l.p}`;
  const rows = layerNames.flatMap((layer) => isas.flatMap((isa) => [1, 2].filter((t) => threadCounts.includes(t)).map((threads) => {
    const g = (s: System) => f1(find(layer, isa, threads, s).gops);
    return `| ${layer}: ${layerText(LAYERS[layer])} | ${isa} | ${threads} | ${SYSTEMS.map(g).join(' | ')} |`;
  })));
  const section = [
    BEGIN,
    '## Kernels (`npm run bench:kernels`)',
    '',
    `${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; commit ${machine.commit ?? 'unknown'}, ${machine.date.slice(0, 10)}` +
      `${machine.loadAverage > 0.5 ? ` (load average ${machine.loadAverage.toFixed(1)} at start)` : ''}.`,
    'G-ops/s (2 ops per element, the same count as conv FLOPs; backward = both gradients, twice the forward\'s ops), median of',
    `${MIN_RUNS}-${MAX_RUNS} runs after a warm-up, systems interleaved; ${gcNote}.`,
    '',
    `| layer | isa | threads | ${SYSTEMS.join(' | ')} |`,
    `|---|---|---:|${SYSTEMS.map(() => '---:').join('|')}|`,
    ...rows,
    '',
    ...(targets.length ? [
      `Targets (issue 2) at 2 threads on ${best}; ONNX Runtime figures as measured for the issue:`,
      '',
      '| check | target | achieved | met |',
      '|---|---|---|---|',
      ...targets.map((t) => `| ${t.name} | ${t.target} | ${t.achieved} | ${t.met ? 'yes' : `no (${(100 * t.ratio).toFixed(0)}% of target)`} |`),
      '',
    ] : []),
    'Raw numbers: `bench/results/kernels.json`.',
    END,
  ].join('\n');
  updateResultsSection(BEGIN, END, section);
  console.log(`Updated bench/RESULTS.md (section between ${BEGIN} and ${END})`);
}
