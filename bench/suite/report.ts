// Markdown for a suite run (stdout and bench/RESULTS.md) and the data behind
// its charts. Run on its own to regenerate the RESULTS.md section and the
// charts from a saved run:
//   node dist/bench/suite/report.js [bench/results/suite.json] [--results-md]
// (bench/RESULTS.md is only rewritten from a full run, or with --results-md.)
import fs from 'node:fs';
import path from 'node:path';
import type { ConvShape } from './onnx';
import type { PeakProbe } from './peak';
import { energyNJ, energyPerElementPJ, ENERGY_PJ, GROUP_TITLES, MODELS, type Group } from './rows';
import { repoRoot, updateResultsSection } from './common';

export type Mode = 'fwd' | 'train';

export interface CellResult {
  shapeKey: string;
  system: string;
  name: string;
  impl: string;
  op: 'adder' | 'conv';
  isa?: string;
  threads: number;
  mode: Mode;
  ops: number;
  runs: number;
  timesMs: number[];
  warmupMs?: number;
  medianMs?: number;
  minMs?: number;
  maxMs?: number;
  gops?: number;
  pctPeak?: number;
  peakRssMiB?: number;
  deltaRssMiB?: number;
  skipped?: string;
  error?: string;
  /** E.g. "one call only, without warm-up". */
  note?: string;
}

export interface RowInfo {
  id: string;
  group: Group;
  label: string;
  sweep?: number;
  shape: ConvShape;
  shapeKey: string;
  ho: number;
  wo: number;
  macsPerSample: number;
  opsFwd: number;
}

export interface PeerInfo { name: string; available: boolean; note: string; versions?: Record<string, unknown> }
export interface CheckResult { system: string; shape: string; mode: Mode; y?: number; dx?: number; dw?: number; ok: boolean; error?: string }

export interface SuiteResult {
  suite: 'addernet comparison';
  schema: 1;
  quick: boolean;
  command: string;
  startedAt: string;
  durationS: number;
  machine: {
    cpu: string; cores: number; memGiB: number; node: string; platform: string;
    commit?: string; addernet: Record<string, unknown>; supportedIsas: string[];
    /** 1-minute load average at the start and the end: other work on the machine skews the figures. */
    loadAvg1m?: { start: number; end: number };
  };
  settings: { threadCounts: number[]; isas: string[]; targetS: number; minRuns: number; maxRuns: number; capS: number; gc?: string };
  peak: PeakProbe;
  peers: PeerInfo[];
  checks: CheckResult[];
  rows: RowInfo[];
  results: CellResult[];
  notes: string[];
  charts?: string[];
}

const MODE_TITLE: Record<Mode, string> = { fwd: 'Forward', train: 'Training step (forward + both gradients)' };

const f1 = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
const gopsText = (v: number) => (v >= 10 ? v.toFixed(1) : v.toFixed(2));
const opsText = (ops: number) => (ops >= 1e9 ? `${(ops / 1e9).toFixed(2)} G` : `${(ops / 1e6).toFixed(1)} M`);

function bestIsa(r: SuiteResult): string | undefined {
  return [...r.machine.supportedIsas].reverse().find((i) => r.settings.isas.includes(i));
}

/** The headline systems at a thread count: addernet on its best ISA, each peer's variant (single-threaded peers as they are). */
export function headlineSystems(r: SuiteResult, threads: number): { id: string; title: string }[] {
  const isa = bestIsa(r);
  const ids = new Set(r.results.map((c) => c.system));
  const pick = (id: string, title: string) => (ids.has(id) ? [{ id, title }] : []);
  return [
    ...pick(`addernet adder ${isa} ${threads}t`, `addernet adder (${isa})`),
    ...pick(`addernet conv ${isa} ${threads}t`, `addernet conv (${isa})`),
    ...pick(`onnxruntime conv ${threads}t`, 'onnxruntime conv'),
    ...pick('tfjs-wasm conv 1t', 'tfjs-wasm conv (1t)'),
    ...pick('tfjs-cpu conv 1t', 'tfjs-cpu conv (1t)'),
    ...pick(`torch adder-ref ${threads}t`, 'torch adder-ref'),
    ...pick(`torch conv ${threads}t`, 'torch conv'),
  ];
}

function cellOf(r: SuiteResult, row: RowInfo, system: string, mode: Mode): CellResult | undefined {
  return r.results.find((c) => c.shapeKey === row.shapeKey && c.system === system && c.mode === mode);
}

function shortCell(c: CellResult | undefined): string {
  if (!c) return '–';
  if (c.error) return 'error';
  if (c.skipped || c.gops === undefined || c.medianMs === undefined) return 'skip';
  return `${gopsText(c.gops)} (${ms(c.medianMs)} ms${c.note ? ', 1 cold call' : ''})`;
}

function ratio(a: CellResult | undefined, b: CellResult | undefined): string {
  if (!a?.gops || !b?.gops) return '–';
  return `${(a.gops / b.gops).toFixed(2)}x`;
}

const groupShort: Record<Group, string> = {
  layer: 'layer', resnet20: 'ResNet-20', lenet5bn: 'LeNet-5-BN', 'sweep-batch': 'sweep N', 'sweep-channels': 'sweep C',
};

function summaryTable(r: SuiteResult, mode: Mode, threads: number): string[] {
  const cols = headlineSystems(r, threads);
  const isa = bestIsa(r);
  const lines = [
    `#### ${MODE_TITLE[mode]}, ${threads} thread${threads > 1 ? 's' : ''}`,
    '',
    `Cells: G-ops/s (median ms). "skip": over the per-call time cap (see the detail table).`,
    '',
    `| set | layer | ops/call | ${cols.map((c) => c.title).join(' | ')} | adder vs ORT conv | adder speed-up vs torch adder-ref |`,
    `|---|---|---|${cols.map(() => '---').join('|')}|---|---|`,
  ];
  for (const row of r.rows) {
    const cells = cols.map((c) => shortCell(cellOf(r, row, c.id, mode)));
    const adder = cellOf(r, row, `addernet adder ${isa} ${threads}t`, mode);
    const ort = cellOf(r, row, `onnxruntime conv ${threads}t`, mode);
    const ref = cellOf(r, row, `torch adder-ref ${threads}t`, mode);
    const ops = mode === 'fwd' ? row.opsFwd : 3 * row.opsFwd;
    lines.push(`| ${groupShort[row.group]} | ${row.label} | ${opsText(ops)} | ${cells.join(' | ')} | ${ratio(adder, ort)} | ${ratio(adder, ref)} |`);
  }
  return lines;
}

function isaTable(r: SuiteResult): string[] {
  const isas = r.settings.isas;
  const cols: { id: string; title: string }[] = [];
  for (const op of ['adder', 'conv']) for (const isa of isas) for (const t of r.settings.threadCounts) cols.push({ id: `addernet ${op} ${isa} ${t}t`, title: `${op} ${isa} ${t}t` });
  const lines = [
    '#### addernet per ISA and thread count (G-ops/s)',
    '',
    `| layer | mode | ${cols.map((c) => c.title).join(' | ')} |`,
    `|---|---|${cols.map(() => '---').join('|')}|`,
  ];
  for (const row of r.rows) {
    for (const mode of ['fwd', 'train'] as const) {
      const cells = cols.map((c) => {
        const cell = cellOf(r, row, c.id, mode);
        return cell?.gops !== undefined && !cell.skipped ? gopsText(cell.gops) : cell ? 'skip' : '–';
      });
      lines.push(`| ${row.label} | ${mode} | ${cells.join(' | ')} |`);
    }
  }
  return lines;
}

function energyTables(r: SuiteResult): string[] {
  const pj = (k: 'adder' | 'conv', d: 'fp32' | 'int8') => energyPerElementPJ(k, d).toFixed(2);
  const lines = [
    '#### Estimated arithmetic energy per inference (45 nm, Horowitz ISSCC 2014)',
    '',
    `One inference = one sample. Adder element = subtraction + accumulation = 2 adds (fp32 ${pj('adder', 'fp32')} pJ, int8 ${pj('adder', 'int8')} pJ); ` +
      `conv element = multiply + add (fp32 ${pj('conv', 'fp32')} pJ, int8 ${pj('conv', 'int8')} pJ). ` +
      `Table: add ${ENERGY_PJ.fp32.add} / mult ${ENERGY_PJ.fp32.mul} pJ fp32, add ${ENERGY_PJ.int8.add} / mult ${ENERGY_PJ.int8.mul} pJ int8. Arithmetic only: no memory traffic.`,
    '',
    '| set | layer | MACs / inference | adder fp32 (nJ) | conv fp32 (nJ) | adder int8 (nJ) | conv int8 (nJ) | conv / adder (fp32, int8) |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const e = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(4));
  for (const row of r.rows.filter((x) => x.group === 'layer' || x.group === 'resnet20' || x.group === 'lenet5bn')) {
    const a32 = energyNJ(row.shape, 'adder', 'fp32'), c32 = energyNJ(row.shape, 'conv', 'fp32');
    lines.push(`| ${groupShort[row.group]} | ${row.label} | ${row.macsPerSample.toLocaleString('en-US')} | ${e(a32)} | ${e(c32)} | ${e(energyNJ(row.shape, 'adder', 'int8'))} | ${e(energyNJ(row.shape, 'conv', 'int8'))} | ${(c32 / a32).toFixed(2)}x, ${(energyNJ(row.shape, 'conv', 'int8') / energyNJ(row.shape, 'adder', 'int8')).toFixed(2)}x |`);
  }
  const models = modelEnergy(r);
  if (models.length) {
    lines.push('', 'Whole models (every layer counted with its multiplicity; the AdderNet variant keeps the layers SPEC.md keeps as convolutions):', '');
    lines.push('| model | MACs / inference | CNN fp32 (µJ) | AdderNet fp32 (µJ) | CNN int8 (µJ) | AdderNet int8 (µJ) | CNN / AdderNet fp32 |', '|---|---|---|---|---|---|---|');
    for (const m of models) {
      lines.push(`| ${m.title} | ${m.macs.toLocaleString('en-US')} | ${m.cnn.fp32.toFixed(3)} | ${m.adder.fp32.toFixed(3)} | ${m.cnn.int8.toFixed(4)} | ${m.adder.int8.toFixed(4)} | ${(m.cnn.fp32 / m.adder.fp32).toFixed(2)}x |`);
    }
  }
  return lines;
}

export function modelEnergy(r: SuiteResult): { title: string; macs: number; cnn: Record<'fp32' | 'int8', number>; adder: Record<'fp32' | 'int8', number> }[] {
  const out = [];
  for (const model of Object.values(MODELS)) {
    const rows = model.layers.map((l) => ({ l, row: r.rows.find((x) => x.id === l.row) }));
    if (rows.some((x) => !x.row)) continue;
    let macs = 0;
    const cnn = { fp32: 0, int8: 0 }, adder = { fp32: 0, int8: 0 };
    for (const { l, row } of rows) {
      macs += l.count * row!.macsPerSample;
      for (const d of ['fp32', 'int8'] as const) {
        cnn[d] += (l.count * energyNJ(row!.shape, 'conv', d)) / 1e3;
        adder[d] += (l.count * energyNJ(row!.shape, l.kind, d)) / 1e3;
      }
    }
    out.push({ title: model.title, macs, cnn, adder });
  }
  return out;
}

function detailTable(r: SuiteResult): string[] {
  const lines = [
    '| layer | mode | system | runs | median ms | min–max ms | G-ops/s | % of peak | peak RSS MiB (Δ) |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of r.rows) {
    for (const mode of ['fwd', 'train'] as const) {
      for (const c of r.results.filter((x) => x.shapeKey === row.shapeKey && x.mode === mode)) {
        if (c.error || c.skipped || c.medianMs === undefined) {
          lines.push(`| ${row.label} | ${mode} | ${c.system} | 0 | – | – | – | – | ${c.error ? `error: ${c.error}` : c.skipped} |`);
          continue;
        }
        const rss = c.peakRssMiB !== undefined ? `${c.peakRssMiB.toFixed(0)} (+${(c.deltaRssMiB ?? 0).toFixed(1)})` : '–';
        lines.push(`| ${row.label} | ${mode} | ${c.system} | ${c.runs}${c.note ? ` (${c.note})` : ''} | ${ms(c.medianMs)} | ${ms(c.minMs!)}–${ms(c.maxMs!)} | ${gopsText(c.gops!)} | ${c.pctPeak !== undefined ? f1(c.pctPeak) : '–'} | ${rss} |`);
      }
    }
  }
  return lines;
}

function headerLines(r: SuiteResult): string[] {
  const m = r.machine;
  const peak = r.peak;
  const peakText = Object.keys(peak.fmaGflops).length
    ? Object.entries(peak.fmaGflops).map(([t, v]) => `${t} thread${+t > 1 ? 's' : ''}: ${v.toFixed(0)} GFLOP/s FMA (${peak.isa}), ${(peak.maxAddGops[+t] ?? 0).toFixed(0)} G-ops/s max+add`).join('; ')
    : `not measured (${peak.note ?? 'no probe'})`;
  const failed = r.checks.filter((c) => !c.ok);
  const p1 = peak.fmaGflops[1], p2 = peak.fmaGflops[2];
  const sharedCore = p1 && p2 && p2 / p1 < 1.3
    ? ` The 2-thread FMA peak is only ${(p2 / p1).toFixed(2)}x the 1-thread one: the two vCPUs share one core's FMA pipes (SMT siblings on the host) or were busy with other work, so 2-thread speed-ups of FMA-bound code are capped near that ratio here.`
    : '';
  const worst = (k: 'y' | 'dx' | 'dw') => Math.max(0, ...r.checks.map((c) => c[k] ?? 0));
  return [
    `- machine: ${m.cpu}, ${m.cores} cores, ${m.memGiB.toFixed(0)} GiB, ${m.platform}, Node ${m.node}; addernet ${m.addernet.version} (ISAs here: ${m.supportedIsas.join(', ')})`,
    `- commit ${m.commit ?? 'unknown'}, started ${r.startedAt}, took ${(r.durationS / 60).toFixed(1)} min${r.quick ? ' (--quick: few rows, short repeats; not for quoting)' : ''}${m.loadAvg1m ? `; 1-min load average ${m.loadAvg1m.start.toFixed(1)} at the start, ${m.loadAvg1m.end.toFixed(1)} at the end (above ${m.cores} means other work shared the cores)` : ''}`,
    `- command: \`${r.command}\``,
    `- measured peak (bench/suite/peak/fma_peak.cpp, ${peak.compiler} -O3 ${peak.flags.join(' ')}, pinned threads, best of start and end of run): ${peakText}. "% of peak" = G-ops/s over the FMA peak at the cell's thread count.${sharedCore}`,
    `- ops: 2 per multiply-accumulate or per absolute-difference-accumulate; a training step = forward + input gradient + filter gradient = 3x the forward's ops.`,
    `- timing: per layer, one interleaved warm-up round, then rounds in which every system runs once (order rotated each round, grouped by thread count), until each has about ${r.settings.targetS} s of samples (${r.settings.minRuns}–${r.settings.maxRuns} runs); median, min and max of those runs. A call predicted (from the system's best throughput on smaller rows) to take over ${r.settings.capS} s is skipped; one whose warm-up took over ${r.settings.capS} s keeps that cold call as its only sample ("1 cold call"); over half of it, one timed run. ${r.settings.gc ?? 'V8 GC settings not recorded'}. Peak RSS: the process's high-water mark during the call (reset through /proc/self/clear_refs), Δ = over its RSS just before.`,
    `- threads pinned: addernet setNumThreads(1|2); onnxruntime intraOpNumThreads 1|2, interOpNumThreads 1; tfjs-wasm setThreadsCount(1) (Node has no threaded wasm backend); tfjs-cpu is single-threaded JavaScript; torch.set_num_threads(1|2).`,
    `- same inputs: X, W and dY are generated once per layer and given to every system (TensorFlow.js gets them permuted to NHWC / HWIO outside the timed region).`,
    `- correctness check before timing (small shapes with stride 2, padding, 5x5 and 1x1): ${r.checks.length} comparisons, ${failed.length} failed; worst max-abs-diff / max|ref|: y ${worst('y').toExponential(1)}, dx ${worst('dx').toExponential(1)}, dw ${worst('dw').toExponential(1)}${failed.length ? ` — FAILED: ${failed.map((f) => `${f.system} ${f.mode} ${f.shape}${f.error ? ` (${f.error})` : ''}`).join('; ')}` : ''}`,
    '',
    '| peer | status | versions | notes |',
    '|---|---|---|---|',
    ...r.peers.map((p) => `| ${p.name} | ${p.available ? 'measured' : 'skipped'} | ${p.versions ? Object.entries(p.versions).filter(([, v]) => typeof v === 'string').map(([k, v]) => `${k} ${v}`).join(', ') : '–'} | ${p.note} |`),
    ...(r.notes.length ? ['', ...r.notes.map((n) => `- ${n}`)] : []),
  ];
}

export function renderMarkdown(r: SuiteResult, opts: { detail: 'inline' | 'details' } = { detail: 'inline' }): string {
  const threads = [...r.settings.threadCounts].sort((a, b) => b - a);
  const out: string[] = [...headerLines(r), ''];
  for (const mode of ['fwd', 'train'] as const) for (const t of threads) out.push(...summaryTable(r, mode, t), '');
  out.push(...isaTable(r), '', ...energyTables(r), '');
  if (r.charts?.length) {
    // Paths relative to bench/, where RESULTS.md lives.
    for (const c of r.charts) out.push(`![${path.basename(c, '.svg')}](${path.relative(path.join(repoRoot, 'bench'), c).split(path.sep).join('/')})`, '');
  }
  if (opts.detail === 'details') out.push('<details><summary>Every cell: runs, median, min–max, G-ops/s, % of peak, peak RSS</summary>', '');
  else out.push('#### Every cell', '');
  out.push(...detailTable(r));
  if (opts.detail === 'details') out.push('', '</details>');
  return out.join('\n') + '\n';
}

export const RESULTS_BEGIN = '<!-- bench-suite:begin (generated by bench/suite/report.ts from bench/results/suite.json; do not edit by hand) -->';
export const RESULTS_END = '<!-- bench-suite:end -->';

/** Replaces (or appends) the suite's section of bench/RESULTS.md, leaving every other section as it is. */
export function updateResultsMd(r: SuiteResult, file = path.join(repoRoot, 'bench', 'RESULTS.md')): void {
  const section = [
    RESULTS_BEGIN,
    '## Comparison suite: adder vs convolution against the peers (`npm run bench`)',
    '',
    renderMarkdown(r, { detail: 'details' }).trimEnd(),
    RESULTS_END,
  ].join('\n');
  updateResultsSection('<!-- bench-suite:begin', RESULTS_END, section, file);
}

/** Series for the charts: headline systems at the highest thread count. */
export function chartSeries(r: SuiteResult): {
  systems: string[];
  perLayer: { row: string; system: string; mode: Mode; gops: number; ms: number }[];
  scaling: { sweepTitle: string; modeTitle: string; value: number; system: string; gops: number; mode: Mode }[];
} {
  const threads = Math.max(...r.settings.threadCounts);
  const cols = headlineSystems(r, threads);
  const label = (id: string, title: string) => `${title}${/\(1t\)$/.test(title) ? '' : ` ${threads}t`}`;
  const systems = cols.map((c) => label(c.id, c.title));
  const perLayer = [], scaling = [];
  for (const row of r.rows) {
    for (const mode of ['fwd', 'train'] as const) {
      for (const c of cols) {
        const cell = cellOf(r, row, c.id, mode);
        if (!cell?.gops || cell.skipped) continue;
        const system = label(c.id, c.title);
        if (row.group === 'sweep-batch' || row.group === 'sweep-channels') {
          scaling.push({
            sweepTitle: GROUP_TITLES[row.group], modeTitle: mode === 'fwd' ? 'forward' : 'training step (forward + both gradients)',
            value: row.sweep!, system, gops: cell.gops, mode,
          });
        } else {
          perLayer.push({ row: `${groupShort[row.group]}: ${row.label}`, system, mode, gops: cell.gops, ms: cell.medianMs! });
        }
      }
    }
  }
  return { systems, perLayer, scaling };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const force = argv.includes('--results-md');
  const file = path.resolve(argv.find((a) => !a.startsWith('--')) ?? path.join(repoRoot, 'bench', 'results', 'suite.json'));
  const r = JSON.parse(fs.readFileSync(file, 'utf8')) as SuiteResult;
  const { writeCharts } = await import('./charts');
  const charts = await writeCharts(r, file);
  r.charts = charts.files;
  if (charts.note) console.error(charts.note);
  console.log(renderMarkdown(r));
  // A --quick run's figures are not for quoting: bench/RESULTS.md only takes them when asked.
  if (!r.quick || force) updateResultsMd(r);
  console.error(`Wrote ${charts.files.join(', ') || 'no charts'}${!r.quick || force ? `; updated ${path.join(repoRoot, 'bench', 'RESULTS.md')}` : ''}`);
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
