// SVG charts of a suite run, drawn with Vega-Lite + Vega's headless SVG
// renderer (no browser, no canvas). Both are ESM-only devDependencies, loaded
// with a real dynamic import(); where they are missing, charts are skipped
// with a note.
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot, writeAtomic } from './common';
import type { SuiteResult } from './report';
import { chartSeries } from './report';

// TypeScript (module commonjs) would turn import() into require(), which cannot load these ESM packages.
const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;

interface VegaModule {
  View: new (runtime: unknown, opts: { renderer: string }) => { toSVG(): Promise<string>; finalize(): void };
  parse(spec: unknown): unknown;
}
interface VegaLiteModule { compile(spec: unknown): { spec: unknown } }

async function loadVega(): Promise<{ vega: VegaModule; vl: VegaLiteModule }> {
  const url = (name: string) => pathToFileURL(require.resolve(name, { paths: [repoRoot] })).href;
  const vega = (await dynamicImport(url('vega'))) as VegaModule;
  const vl = (await dynamicImport(url('vega-lite'))) as VegaLiteModule;
  return { vega, vl };
}

async function render(mods: { vega: VegaModule; vl: VegaLiteModule }, spec: unknown): Promise<string> {
  const view = new mods.vega.View(mods.vega.parse(mods.vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const MODE_TITLE = { fwd: 'forward', train: 'training step (forward + both gradients)' } as const;

/** Writes the charts next to the JSON; returns the files written (or a note why none). */
export async function writeCharts(result: SuiteResult, jsonPath: string): Promise<{ files: string[]; note?: string }> {
  let mods: { vega: VegaModule; vl: VegaLiteModule };
  try {
    mods = await loadVega();
  } catch (e) {
    return { files: [], note: `charts skipped: vega / vega-lite not loadable (${e instanceof Error ? e.message.split('\n')[0] : e})` };
  }
  const dir = path.dirname(jsonPath);
  const base = path.basename(jsonPath, '.json');
  const files: string[] = [];
  const { perLayer, scaling, systems } = chartSeries(result);
  const colorScale = { domain: systems, scheme: 'tableau10' };
  const subtitle = `${result.machine.cpu}, ${result.machine.cores} cores, commit ${result.machine.commit ?? '?'}; ops = 2 per MAC or abs-diff-accumulate`;

  for (const mode of ['fwd', 'train'] as const) {
    const values = perLayer.filter((v) => v.mode === mode);
    if (!values.length) continue;
    const rowOrder = [...new Set(values.map((v) => v.row))];
    // Horizontal bars on a log axis, each drawn from a fixed floor (a log
    // scale has no zero to start a bar from).
    const floor = 10 ** Math.floor(Math.log10(Math.min(...values.map((v) => v.gops))));
    const ceil = 10 ** Math.ceil(Math.log10(Math.max(...values.map((v) => v.gops))));
    const spec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: `Throughput per layer, ${MODE_TITLE[mode]}`, subtitle: [subtitle, 'no bar: skipped, over the per-call time cap'] },
      data: { values },
      width: 520,
      height: { step: 9 },
      mark: { type: 'bar', tooltip: true },
      encoding: {
        y: { field: 'row', type: 'nominal', sort: rowOrder, title: null, axis: { labelLimit: 320, grid: true, bandPosition: 0 } },
        yOffset: { field: 'system', type: 'nominal', sort: systems },
        x: { field: 'gops', type: 'quantitative', scale: { type: 'log', domain: [floor, ceil] }, title: 'G-ops/s (log scale)', axis: { orient: 'top' } },
        x2: { datum: floor },
        color: { field: 'system', type: 'nominal', scale: colorScale, title: 'system (threads)' },
      },
      config: { font: 'sans-serif', legend: { labelLimit: 260, orient: 'bottom', columns: 2 } },
    };
    const file = path.join(dir, `${base}-throughput-${mode}.svg`);
    writeAtomic(file, await render(mods, spec));
    files.push(file);
  }

  if (scaling.length) {
    const spec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: { text: 'Scaling with size (32->32 3x3 at 16x16 unless swept)', subtitle },
      data: { values: scaling },
      facet: {
        row: { field: 'modeTitle', type: 'nominal', title: null, sort: [MODE_TITLE.fwd, MODE_TITLE.train] },
        column: { field: 'sweepTitle', type: 'nominal', title: null },
      },
      resolve: { scale: { x: 'independent' } },
      spec: {
        width: 300,
        height: 220,
        mark: { type: 'line', point: true, tooltip: true },
        encoding: {
          x: { field: 'value', type: 'quantitative', scale: { type: 'log', base: 2 }, title: 'swept size (batch N, or channels C = T)', axis: { values: [1, 2, 4, 8, 16, 32, 64, 128, 256] } },
          y: { field: 'gops', type: 'quantitative', scale: { type: 'log' }, title: 'G-ops/s (log scale)' },
          color: { field: 'system', type: 'nominal', scale: colorScale, title: 'system (threads)' },
        },
      },
      config: { font: 'sans-serif', legend: { labelLimit: 260 } },
    };
    const file = path.join(dir, `${base}-scaling.svg`);
    writeAtomic(file, await render(mods, spec));
    files.push(file);
  }
  return { files };
}
