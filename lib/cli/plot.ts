// The training curves as SVG: loss and accuracy per epoch (train, and test
// where evaluated), drawn with Vega-Lite and rendered headless by Vega's SVG
// renderer (no browser, no canvas).
import fs from 'node:fs';
import path from 'node:path';
import type { EpochLogs } from '../nn/fit';

// vega and vega-lite are ES modules with top-level await: load them with a real
// dynamic import (TypeScript would turn `import()` into require() under CommonJS).
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<unknown>;

interface VegaLite {
  compile(spec: unknown): { spec: unknown };
}
interface Vega {
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string>; finalize(): void };
}

export interface PlotOptions {
  title: string;
  subtitle?: string;
}

/** The Vega-Lite spec of the two panels (exported for tests and for users who want to restyle it). */
export function curvesSpec(epochs: readonly EpochLogs[], options: PlotOptions): Record<string, unknown> {
  const rows: { epoch: number; metric: string; split: string; value: number }[] = [];
  for (const e of epochs) {
    const epoch = e.epoch + 1;
    rows.push({ epoch, metric: 'loss', split: 'train', value: e.loss });
    rows.push({ epoch, metric: 'accuracy', split: 'train', value: e.accuracy * 100 });
    if (e.valLoss !== undefined) rows.push({ epoch, metric: 'loss', split: 'test', value: e.valLoss });
    if (e.valAccuracy !== undefined) rows.push({ epoch, metric: 'accuracy', split: 'test', value: e.valAccuracy * 100 });
  }
  const accValues = rows.filter((r) => r.metric === 'accuracy').map((r) => r.value);
  // Zoom the accuracy axis on the interesting range, but never cut off a point.
  const accMin = Math.max(0, Math.min(90, Math.floor(Math.min(...accValues, 100) / 5) * 5));
  const panel = (metric: string, yTitle: string, scale: Record<string, unknown>) => ({
    title: metric === 'loss' ? 'Loss (cross-entropy)' : 'Accuracy',
    width: 320,
    height: 220,
    transform: [{ filter: { field: 'metric', equal: metric } }],
    mark: { type: 'line', point: { size: 30 }, strokeWidth: 2 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' }, scale: { domainMin: 1, nice: false, padding: 6 } },
      y: { field: 'value', type: 'quantitative', title: yTitle, scale },
      color: {
        field: 'split',
        type: 'nominal',
        title: null,
        scale: { domain: ['train', 'test'], range: ['#4c78a8', '#e45756'] },
        legend: { orient: 'bottom' },
      },
      tooltip: [{ field: 'epoch' }, { field: 'split' }, { field: 'value', format: '.4f' }],
    },
  });
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: options.title, subtitle: options.subtitle ?? 'per epoch: train (training mode) and test (eval mode)', anchor: 'start', offset: 14 },
    background: 'white',
    padding: 12,
    data: { values: rows },
    hconcat: [panel('loss', 'loss', { type: 'log' }), panel('accuracy', 'accuracy (%)', { domain: [accMin, 100] })],
    resolve: { scale: { color: 'shared' } },
    config: { font: 'Helvetica, Arial, sans-serif', view: { stroke: '#ddd' } },
  };
}

/** Renders the loss/accuracy curves to an SVG string. */
export async function renderCurves(epochs: readonly EpochLogs[], options: PlotOptions): Promise<string> {
  const [vega, vegaLite] = (await Promise.all([importEsm('vega'), importEsm('vega-lite')])) as [Vega, VegaLite];
  const view = new vega.View(vega.parse(vegaLite.compile(curvesSpec(epochs, options)).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Renders the curves and writes them to `file` atomically (temp file, then rename). */
export async function writeCurves(file: string, epochs: readonly EpochLogs[], options: PlotOptions): Promise<void> {
  const svg = await renderCurves(epochs, options);
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, svg);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

/** model.safetensors -> model.svg (any other name gets .svg appended). */
export function plotPathFor(checkpoint: string): string {
  return checkpoint.endsWith('.safetensors') ? checkpoint.slice(0, -'.safetensors'.length) + '.svg' : checkpoint + '.svg';
}
