// SVG charts of a suite run, drawn with Vega-Lite (lib/cli/vega.ts); where
// vega and vega-lite (optional dependencies) are not installed, charts are
// skipped with a note.
import path from 'node:path';
import { loadSvgRenderer } from '../../lib/cli/vega';
import { writeAtomic } from './common';
import type { SuiteResult } from './report';
import { chartSeries } from './report';

const MODE_TITLE = { fwd: 'forward', train: 'training step (forward + both gradients)' } as const;

/** Writes the charts next to the JSON; returns the files written (or a note why none). */
export async function writeCharts(result: SuiteResult, jsonPath: string): Promise<{ files: string[]; note?: string }> {
  const render = await loadSvgRenderer();
  if (typeof render === 'string') return { files: [], note: `charts skipped: ${render}` };
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
    writeAtomic(file, await render(spec));
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
    writeAtomic(file, await render(spec));
    files.push(file);
  }
  return { files };
}
