// The training curves as SVG: loss and accuracy per epoch (train, and test
// where evaluated), drawn with Vega-Lite (lib/cli/vega.ts), which is optional.
import fs from 'node:fs';
import path from 'node:path';
import { codedError } from '../errors';
import type { EpochLogs } from '../nn/fit';
import { loadSvgRenderer } from './vega';

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

/** Renders the loss/accuracy curves to an SVG string (ERR_ADDERNET_LOAD without vega and vega-lite). */
export async function renderCurves(epochs: readonly EpochLogs[], options: PlotOptions): Promise<string> {
  const render = await loadSvgRenderer();
  if (typeof render === 'string') throw codedError('ERR_ADDERNET_LOAD', `addernet: cannot plot: ${render}`);
  return render(curvesSpec(epochs, options));
}

let skipNoted = false;

/**
 * Renders the curves and writes them to `file` atomically (temp file, then
 * rename). Returns false, having said why on stderr (once per process), when
 * vega and vega-lite are not installed: a missing plot never fails a run.
 */
export async function writeCurves(file: string, epochs: readonly EpochLogs[], options: PlotOptions): Promise<boolean> {
  const render = await loadSvgRenderer();
  if (typeof render === 'string') {
    if (!skipNoted) process.stderr.write(`addernet: plots skipped: ${render}\n`);
    skipNoted = true;
    return false;
  }
  const svg = await render(curvesSpec(epochs, options));
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, svg);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  return true;
}

/** model.safetensors -> model.svg (any other name gets .svg appended). */
export function plotPathFor(checkpoint: string): string {
  return checkpoint.endsWith('.safetensors') ? checkpoint.slice(0, -'.safetensors'.length) + '.svg' : checkpoint + '.svg';
}
