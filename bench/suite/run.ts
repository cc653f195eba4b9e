// Comparison suite: addernet's adder2d and conv2d (every ISA, 1 and 2
// threads) against onnxruntime-node, TensorFlow.js (wasm and cpu backends)
// and, where python3 has torch, the reference PyTorch AdderNet layer and
// torch conv2d; forward and training step, on the same rows and inputs.
//
//   npm run bench                       full run (about 15 minutes on 2 cores)
//   npm run bench -- --quick            smoke run: few rows, short repeats
//   npm run bench -- --rows a,resnet20 --peers onnxruntime,torch --threads 2
//
// Prints markdown on stdout (progress on stderr), writes
// bench/results/suite.json (suite-quick.json for --quick) atomically, SVG
// charts next to it, and (full runs, or --results-md) the suite's section of
// bench/RESULTS.md.
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { backendInfo, supportedIsas, type Isa } from '../../lib/index';
import { writeCharts } from './charts';
import { gcNote, gitCommit, median, relError, repoRoot, writeAtomic } from './common';
import { measurePeak, mergePeak } from './peak';
import { renderMarkdown, updateResultsMd, type CellResult, type CheckResult, type RowInfo, type SuiteResult } from './report';
import { GROUP_TITLES, opsOf, QUICK_ROWS, ROWS, macsPerSample, shapeKey, type Row } from './rows';
import {
  addernetSystems, loadOrt, loadTfjs, loadTorch, MODES, shapeData,
  type Instance, type Mode, type PeerGroup, type System,
} from './systems';
import { outSize, type ConvShape } from './onnx';

const PEER_NAMES = ['onnxruntime', 'tfjs-wasm', 'tfjs-cpu', 'torch'] as const;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rows: { type: 'string', multiple: true },
    threads: { type: 'string', multiple: true },
    isa: { type: 'string', multiple: true },
    peers: { type: 'string', multiple: true },
    modes: { type: 'string', multiple: true },
    out: { type: 'string' },
    'results-md': { type: 'boolean' },
    'no-results-md': { type: 'boolean', default: false },
    'no-check': { type: 'boolean', default: false },
    sections: { type: 'string', multiple: true },
    cap: { type: 'string' },
    target: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (args.help) {
  console.log(`usage: npm run bench -- [--quick] [--rows IDS|GROUPS] [--threads 1,2] [--isa scalar,avx2,avx512]
  [--peers ${PEER_NAMES.join(',')}|none] [--modes fwd,train] [--out FILE.json] [--results-md | --no-results-md]
  [--cap SECONDS] [--target SECONDS] [--no-check] [--sections net,int8|none]
sections: the whole-network (bench:net) and quantized (bench:int8) benchmarks, run after the layers, each in its own process
rows: ${ROWS.map((r) => r.id).join(', ')}; groups: ${Object.keys(GROUP_TITLES).join(', ')}, sweep`);
  process.exit(0);
}

const list = (v: string[] | undefined) => v?.flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
const quick = args.quick!;
const threadCounts = (list(args.threads) ?? ['1', '2']).map(Number);
const isas = (list(args.isa) ?? supportedIsas()) as Isa[];
const peerFilter = list(args.peers);
const modes = (list(args.modes) ?? ['fwd', 'train']) as Mode[];
for (const t of threadCounts) if (!(Number.isInteger(t) && t >= 1)) throw new Error(`bad thread count ${t}`);
for (const i of isas) if (!supportedIsas().includes(i)) throw new Error(`ISA ${i} is not supported here (${supportedIsas().join(', ')})`);
for (const m of modes) if (!MODES.includes(m)) throw new Error(`unknown mode ${m} (fwd, train)`);
for (const p of peerFilter ?? []) if (p !== 'none' && !PEER_NAMES.includes(p as never)) throw new Error(`unknown peer ${p} (${PEER_NAMES.join(', ')}, none)`);
const wantPeer = (name: (typeof PEER_NAMES)[number]) => !peerFilter || peerFilter.includes(name);
// Script and node flags of each section, as their npm scripts run them.
const SECTIONS: Record<string, [string, string[]]> = { net: ['net.js', []], int8: ['int8.js', ['--single-threaded-gc']] };
const sections = (list(args.sections) ?? Object.keys(SECTIONS)).filter((s) => s !== 'none');
for (const s of sections) if (!SECTIONS[s]) throw new Error(`unknown section ${s} (${Object.keys(SECTIONS).join(', ')}, none)`);

function selectRows(): Row[] {
  const sel = list(args.rows) ?? (quick ? QUICK_ROWS : undefined);
  if (!sel) return [...ROWS];
  const out = ROWS.filter((r) => sel.some((s) => s === r.id || s === r.group || (s === 'sweep' && r.group.startsWith('sweep'))));
  const unknown = sel.filter((s) => !ROWS.some((r) => s === r.id || s === r.group || (s === 'sweep' && r.group.startsWith('sweep'))));
  if (unknown.length) throw new Error(`unknown rows ${unknown.join(', ')}`);
  return out;
}

// Repeats: each cell gets about TARGET_S of samples, MIN..MAX runs; a call
// predicted (from the system's best throughput so far) to exceed CAP_S is
// skipped; one whose warm-up exceeds CAP_S keeps that call as its only
// sample, and one over CAP_S / 2 gets a single timed run.
const TARGET_S = Number(args.target ?? (quick ? 0.05 : 0.3));
const MIN_RUNS = quick ? 2 : 3;
const MAX_RUNS = quick ? 3 : 15;
const CAP_S = Number(args.cap ?? (quick ? 0.5 : 2));

const log = (s: string) => process.stderr.write(`${s}\n`);

interface Cell {
  system: System;
  inst?: Instance;
  mode: Mode;
  ops: number;
  runs: number;
  samples: { ms: number; peakMiB?: number; baseMiB?: number }[];
  warmupMs?: number;
  skipped?: string;
  error?: string;
  note?: string;
}

/** The best throughput (G-ops/s) seen so far per system and mode, for predicting a call's time. */
const bestGops = new Map<string, number>();

function order<T extends { system: System }>(cells: T[], round: number): T[] {
  // Group by thread count (one pool restart per group per round), rotate
  // within groups, and alternate which group goes first.
  const groups = [...new Set(cells.map((c) => c.system.threads))].sort((a, b) => a - b);
  if (round % 2) groups.reverse();
  return groups.flatMap((t) => {
    const g = cells.filter((c) => c.system.threads === t);
    const k = g.length ? round % g.length : 0;
    return [...g.slice(k), ...g.slice(0, k)];
  });
}

async function sampleCell(cell: Cell): Promise<number | undefined> {
  try {
    const s = await cell.inst!.sample(cell.mode);
    cell.samples.push(s);
    return s.ms;
  } catch (e) {
    cell.error = e instanceof Error ? e.message.split('\n')[0] : String(e);
    return undefined;
  }
}

async function measureShape(key: string, shape: ConvShape, systems: System[], seed: number, calibrate = false): Promise<CellResult[]> {
  const data = shapeData(key, shape, seed);
  const cells: Cell[] = [];
  const instances = new Map<System, Instance | Error>();
  for (const system of systems) {
    try {
      instances.set(system, await system.bind(data));
    } catch (e) {
      instances.set(system, e instanceof Error ? e : new Error(String(e)));
    }
  }
  for (const mode of modes) {
    for (const system of systems) {
      const inst = instances.get(system)!;
      const ops = opsOf(shape, mode);
      const cell: Cell = { system, mode, ops, runs: 0, samples: [] };
      if (inst instanceof Error) cell.error = `setup failed: ${inst.message.split('\n')[0]}`;
      else cell.inst = inst;
      const best = bestGops.get(`${system.id}|${mode}`);
      const predicted = best ? ops / (best * 1e9) : undefined;
      if (!cell.error && predicted !== undefined && predicted > CAP_S) {
        cell.skipped = `skipped: about ${predicted.toFixed(1)} s per call predicted (cap ${CAP_S} s)`;
      }
      cells.push(cell);
    }
  }
  const live = () => cells.filter((c) => !c.error && !c.skipped);
  // Warm-up round (interleaved too); its time sets the number of runs.
  for (const cell of order(live(), 0)) {
    const t = await sampleCell(cell);
    if (t === undefined) continue;
    cell.warmupMs = t;
    if (calibrate) {
      cell.runs = 1;
      continue;
    }
    if (t / 1e3 > CAP_S) {
      // Too slow to repeat: the warm-up call is the only sample.
      cell.runs = 1;
      cell.note = `one call only, without warm-up (${(t / 1e3).toFixed(1)} s > cap ${CAP_S} s)`;
      continue;
    }
    cell.samples = [];
    cell.runs = t / 1e3 > CAP_S / 2 ? 1 : Math.min(MAX_RUNS, Math.max(MIN_RUNS, Math.round(TARGET_S / (t / 1e3))));
  }
  const rounds = Math.max(0, ...live().map((c) => c.runs));
  for (let round = 0; round < rounds; round++) {
    for (const cell of order(live().filter((c) => c.samples.length < c.runs), round + 1)) await sampleCell(cell);
  }
  for (const inst of instances.values()) if (!(inst instanceof Error)) await inst.dispose().catch(() => undefined);

  return cells.map((c): CellResult => {
    const base: CellResult = {
      shapeKey: key, system: c.system.id, name: c.system.name, impl: c.system.impl, op: c.system.op, isa: c.system.isa,
      threads: c.system.threads, mode: c.mode, ops: c.ops, runs: c.samples.length, timesMs: c.samples.map((s) => s.ms),
      warmupMs: c.warmupMs, skipped: c.skipped, error: c.error, note: c.note,
    };
    if (c.error || c.skipped || !c.samples.length) return base;
    const times = c.samples.map((s) => s.ms);
    const med = median(times);
    const gops = c.ops / (med * 1e6);
    const k = `${c.system.id}|${c.mode}`;
    bestGops.set(k, Math.max(bestGops.get(k) ?? 0, gops));
    const peaks = c.samples.filter((s) => s.peakMiB !== undefined);
    return {
      ...base, medianMs: med, minMs: Math.min(...times), maxMs: Math.max(...times), gops,
      peakRssMiB: peaks.length ? Math.max(...peaks.map((s) => s.peakMiB!)) : undefined,
      deltaRssMiB: peaks.length ? Math.max(...peaks.map((s) => s.peakMiB! - (s.baseMiB ?? s.peakMiB!))) : undefined,
    };
  });
}

// Small shapes covering stride 2, padding, 5x5 and 1x1: every system's
// forward and training-step outputs against addernet's (scalar ISA for the
// adder, which the kernel tests hold to SPEC.md; addernet's conv likewise).
const CHECK_SHAPES: ConvShape[] = [
  { n: 2, c: 3, h: 7, w: 7, t: 4, kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
  { n: 2, c: 5, h: 9, w: 8, t: 3, kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0 },
  { n: 3, c: 6, h: 1, w: 1, t: 4, kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 },
];
const CHECK_TOL = 1e-4;

/** N=1, 32->32, 16x16, 3x3: 4.7 M-ops per forward. */
const CALIBRATION_SHAPE: ConvShape = { n: 1, c: 32, h: 16, w: 16, t: 32, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 };

async function checkSystems(systems: System[]): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  const refIsa = supportedIsas()[0];
  for (const [i, shape] of CHECK_SHAPES.entries()) {
    const name = shapeKey(shape);
    const data = shapeData(`check${i}`, shape, 1000 + i);
    const refs: Record<string, Awaited<ReturnType<Instance['outputs']>>> = {};
    for (const op of ['adder', 'conv'] as const) {
      const refSys = addernetSystems([1], [refIsa]).find((s) => s.op === op)!;
      const inst = await refSys.bind(data);
      for (const mode of modes) refs[`${op}|${mode}`] = await inst.outputs(mode);
    }
    for (const system of systems) {
      for (const mode of modes) {
        const ref = refs[`${system.op}|${mode}`];
        try {
          const inst = await system.bind(data);
          const got = await inst.outputs(mode);
          await inst.dispose();
          const r: CheckResult = { system: system.id, shape: name, mode, ok: true, y: relError(got.y, ref.y) };
          if (mode === 'train') {
            r.dx = got.dx && ref.dx ? relError(got.dx, ref.dx) : Infinity;
            r.dw = got.dw && ref.dw ? relError(got.dw, ref.dw) : Infinity;
          }
          r.ok = [r.y, r.dx, r.dw].every((v) => v === undefined || v <= CHECK_TOL);
          out.push(r);
        } catch (e) {
          out.push({ system: system.id, shape: name, mode, ok: false, error: e instanceof Error ? e.message.split('\n')[0] : String(e) });
        }
      }
    }
  }
  return out;
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadStart = os.loadavg()[0];
  const rows = selectRows();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const out = path.resolve(args.out ?? path.join(repoRoot, 'bench', 'results', quick ? 'suite-quick.json' : 'suite.json'));
  const writeResultsMd = args['results-md'] ?? (!quick && !args['no-results-md'] && !args.out && !args.rows);

  log(`# addernet comparison suite${quick ? ' (quick)' : ''}: ${rows.length} rows, threads ${threadCounts.join(',')}, ISAs ${isas.join(',')}`);
  log('measuring the FMA peak...');
  let peak = measurePeak(threadCounts, quick ? 0.3 : 1.0);
  log(`  ${JSON.stringify(peak.fmaGflops)} GFLOP/s (${peak.isa}${peak.note ? `; ${peak.note}` : ''})`);

  const groups: PeerGroup[] = [];
  const notes: string[] = [];
  if (wantPeer('onnxruntime')) groups.push(loadOrt(threadCounts));
  if (wantPeer('tfjs-wasm') || wantPeer('tfjs-cpu')) {
    const [wasm, cpu] = await loadTfjs();
    if (wantPeer('tfjs-wasm')) groups.push(wasm);
    if (wantPeer('tfjs-cpu')) groups.push(cpu);
  }
  if (wantPeer('torch')) groups.push(await loadTorch(threadCounts));
  for (const g of groups) log(`  peer ${g.name}: ${g.available ? 'ok' : g.note}`);

  const systems: System[] = [...addernetSystems(threadCounts, isas), ...groups.flatMap((g) => g.systems)];

  let checks: CheckResult[] = [];
  if (!args['no-check']) {
    log('checking every system against addernet on small shapes...');
    checks = await checkSystems(systems.filter((s) => !(s.impl === 'addernet' && s.threads > 1)));
    for (const c of checks.filter((x) => !x.ok)) log(`  CHECK FAILED: ${c.system} ${c.mode} ${c.shape}: ${c.error ?? JSON.stringify(c)}`);
  }

  // Unique shapes, smallest work first so that time predictions come from measured throughput.
  const shapes = new Map<string, ConvShape>();
  for (const r of rows) shapes.set(shapeKey(r.shape), r.shape);
  const ordered = [...shapes.entries()].sort((a, b) => opsOf(a[1], 'fwd') - opsOf(b[1], 'fwd'));
  // Calibration: one call of every system on a small layer, so that the
  // time cap can tell a too-slow call in advance whatever rows are selected.
  const t0 = Date.now();
  await measureShape('calibration', CALIBRATION_SHAPE, systems, 999, true);
  log(`  calibration (${shapeKey(CALIBRATION_SHAPE)}): ${((Date.now() - t0) / 1e3).toFixed(1)} s`);

  const results: CellResult[] = [];
  for (const [i, [key, shape]] of ordered.entries()) {
    const t0 = Date.now();
    const names = rows.filter((r) => shapeKey(r.shape) === key).map((r) => r.id).join(' = ');
    const cells = await measureShape(key, shape, systems, i + 1);
    results.push(...cells);
    const done = cells.filter((c) => c.gops !== undefined).length;
    log(`  [${i + 1}/${ordered.length}] ${names} (${key}): ${done}/${cells.length} cells in ${((Date.now() - t0) / 1e3).toFixed(1)} s`);
  }

  if (!quick) {
    log('measuring the FMA peak again...');
    peak = mergePeak(peak, measurePeak(threadCounts, 1.0));
  }
  for (const c of results) {
    const p = peak.fmaGflops[c.threads];
    if (c.gops !== undefined && p) c.pctPeak = (100 * c.gops) / p;
  }
  for (const g of groups) await g.close();

  const skipped = results.filter((c) => c.skipped).length;
  if (skipped) notes.push(`${skipped} cells skipped by the per-call time cap (${CAP_S} s); see "Every cell".`);
  const errors = results.filter((c) => c.error);
  if (errors.length) notes.push(`${errors.length} cells failed: ${[...new Set(errors.map((c) => `${c.system}: ${c.error}`))].slice(0, 5).join('; ')}`);

  const rowInfo: RowInfo[] = rows.map((r) => {
    const [ho, wo] = outSize(r.shape);
    return { id: r.id, group: r.group, label: r.label, sweep: r.sweep, shape: r.shape, shapeKey: shapeKey(r.shape), ho, wo, macsPerSample: macsPerSample(r.shape), opsFwd: opsOf(r.shape, 'fwd') };
  });
  const result: SuiteResult = {
    suite: 'addernet comparison', schema: 1, quick, command,
    startedAt: new Date(started).toISOString(), durationS: (Date.now() - started) / 1e3,
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), memGiB: os.totalmem() / 2 ** 30,
      node: process.version, platform: `${os.platform()} ${os.release()} ${os.arch()}`, commit: gitCommit(),
      addernet: { ...backendInfo() }, supportedIsas: supportedIsas(),
      loadAvg1m: { start: loadStart, end: os.loadavg()[0] },
    },
    settings: { threadCounts, isas, targetS: TARGET_S, minRuns: MIN_RUNS, maxRuns: MAX_RUNS, capS: CAP_S, gc: gcNote },
    peak,
    peers: groups.map((g) => ({ name: g.name, available: g.available, note: g.note, versions: g.versions })),
    checks, rows: rowInfo, results, notes,
  };

  writeAtomic(out, JSON.stringify(result, null, 1) + '\n');
  const charts = await writeCharts(result, out);
  result.charts = charts.files;
  if (charts.note) result.notes.push(charts.note);
  writeAtomic(out, JSON.stringify(result, null, 1) + '\n');
  if (writeResultsMd) updateResultsMd(result);

  console.log(`# addernet comparison suite${quick ? ' (quick)' : ''}\n`);
  console.log(renderMarkdown(result));
  log(`wrote ${out}${charts.files.length ? `, ${charts.files.map((f) => path.basename(f)).join(', ')}` : ''}${writeResultsMd ? `, ${path.join(repoRoot, 'bench', 'RESULTS.md')}` : ''} in ${((Date.now() - started) / 6e4).toFixed(1)} min`);
  if (checks.some((c) => !c.ok)) process.exitCode = 1;
  runSections();
}

// The network-level and quantized sections (their own scripts and RESULTS.md
// sections), each in a fresh process so that neither inherits this one's
// peers, thread pools or heap.
function runSections(): void {
  for (const name of sections) {
    const [script, flags] = SECTIONS[name];
    log(`section ${name}: node ${script}${quick ? ' --quick' : ''}`);
    const r = spawnSync(process.execPath, [...flags, path.join(__dirname, '..', script), ...(quick ? ['--quick'] : [])], { stdio: 'inherit' });
    if (r.status !== 0) {
      log(`section ${name} failed (${r.error?.message ?? `exit ${r.status ?? r.signal}`})`);
      process.exitCode = 1;
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
