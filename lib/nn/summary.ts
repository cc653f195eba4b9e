// model.summary(): the layers of a network with their output shapes,
// parameters and the multiplications and additions of one forward of one
// example, by shape arithmetic alone (no kernel runs, no tensor is made).
//
// Counting convention (the AdderNet paper's Table 1, one example, inference):
// - Adder2d / AdderLinear: each tap is |x - w| accumulated into the sum, two
//   additions (the subtraction counts as an addition; the absolute value and
//   the final negation are sign operations, free) and no multiplication.
// - Conv2d / Linear: each tap is one multiplication and one addition (a MAC).
//   Taps over zero padding count like any other (as PyTorch FLOP counters do).
// - A bias: one addition per output element.
// - BatchNorm (inference, folded into a scale and a shift): one
//   multiplication and one addition per element.
// - ReLU and max pooling are comparisons: counted as neither (0 and 0).
// - Average pooling: window - 1 additions per output element (the 1/window
//   scale is not counted: it folds into the next layer); the global average
//   pool H*W - 1 per channel. Flatten: nothing.
// - The residual sum of a BasicBlock: one addition per element.
import { describe, rangeError, typeError } from '../errors';
import type { Module } from './module';

/** One layer of a summary. */
export interface SummaryRow {
  /**
   * Dotted module path, as in namedModules() and the state dict ('conv1',
   * 'layer1.0.bn2'). Layers that are not registered children (the ReLUs,
   * pooling and flatten of a ResNet, a BasicBlock's ReLUs and residual sum)
   * are named after their role under their parent ('layer1.0.relu1', 'layer1.0.add').
   */
  name: string;
  /** The module's config type ('Adder2d', 'BatchNorm2d', ...), or 'Add' for a residual sum. */
  type: string;
  /** Output shape of one example (no batch dimension), e.g. [6, 28, 28]. */
  outputShape: number[];
  /** Parameter elements (the tensors of parameters(), all of them trained by fit()). */
  parameters: number;
  /** Buffer elements (BatchNorm running statistics: state, not trained). */
  buffers: number;
  /** Whether the layer has parameters that training updates. */
  trainable: boolean;
  /** Multiplications of one forward of one example (see the counting convention). */
  multiplications: number;
  /** Additions (subtractions included) of one forward of one example. */
  additions: number;
}

export interface SummaryTotals {
  parameters: number;
  buffers: number;
  multiplications: number;
  additions: number;
}

/** What model.summary() returns: plain data (JSON-serialisable). */
export interface ModelSummary {
  /** ModelInfo.arch ('lenet5bn', 'resnet20', ..., 'custom'). */
  arch: string;
  /** ModelInfo.options.layer ('adder' or 'conv') where the model has one. */
  layer?: string;
  /** Shape of the one example the counts are for, [C, H, W]. */
  inputShape: number[];
  /** Shape of its output (no batch dimension), e.g. [10]. */
  outputShape: number[];
  rows: SummaryRow[];
  totals: SummaryTotals;
  /** A quantized model's (nn/quantize.ts): its uint8 adder layers, folded BatchNorms and the layers that stay float, by name. */
  quantization?: SummaryQuantization;
}

export interface SummaryQuantization {
  bits: number;
  method: string;
  percentile?: number;
  /** Calibration examples. */
  examples: number;
  /** Adder layers running on uint8 (exact int32 SADs). */
  quantized: string[];
  /** BatchNorms folded into the quantized layer before them. */
  folded: string[];
  /** Layers computing in float32 (convolutions, unfolded BatchNorms, pooling, ReLU, residual sums). */
  float: string[];
}

export interface SummaryOptions {
  /** Shape of one example, [C, H, W] (default: model.info.inputShape). */
  inputShape?: readonly number[];
}

/** Joins a parent path and a child name with a dot (the root's path is ''). */
export function childPath(parent: string, child: string): string {
  return parent ? `${parent}.${child}` : child;
}

const product = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/**
 * Appends the row of a leaf module (one without children) to `rows`, its
 * parameters and buffers counted from the module itself; returns outputShape.
 */
export function leafRow(
  rows: SummaryRow[],
  module: Module,
  name: string,
  type: string,
  outputShape: readonly number[],
  multiplications: number,
  additions: number,
): number[] {
  let parameters = 0;
  let buffers = 0;
  for (const [, p] of module.namedParameters()) parameters += p.value.size;
  for (const [, b] of module.namedBuffers()) buffers += b.size;
  rows.push({ name, type, outputShape: [...outputShape], parameters, buffers, trainable: parameters > 0, multiplications, additions });
  return [...outputShape];
}

/** A row without a module behind it (a residual sum). */
export function opRow(rows: SummaryRow[], name: string, type: string, outputShape: readonly number[], multiplications: number, additions: number): number[] {
  rows.push({ name, type, outputShape: [...outputShape], parameters: 0, buffers: 0, trainable: false, multiplications, additions });
  return [...outputShape];
}

/** Elements of a shape. */
export function elements(shape: readonly number[]): number {
  return product(shape);
}

const label = (name: string): string => (name ? `the input of ${JSON.stringify(name)}` : 'the input of the network');

/** Checks `input` is [channels, H, W] (channels undefined: any) for the module at `name`. */
export function expectImage(input: readonly number[], name: string, channels?: number): [number, number, number] {
  if (input.length !== 3 || (channels !== undefined && input[0] !== channels)) {
    throw rangeError('ERR_ADDERNET_SHAPE', label(name), `shape [${channels ?? 'C'}, H, W] (one example)`, describe(input));
  }
  return [input[0], input[1], input[2]];
}

/** Checks `input` is [features] for the module at `name`. */
export function expectVector(input: readonly number[], name: string, features: number): void {
  if (input.length !== 1 || input[0] !== features) {
    throw rangeError('ERR_ADDERNET_SHAPE', label(name), `shape [${features}] (one example; put a Flatten before it)`, describe(input));
  }
}

/** Output H and W of a sliding window (conv or pool, floor mode), or a shape error. */
export function windowOutput(
  name: string, input: readonly number[], kernel: [number, number], stride: [number, number], padding: [number, number],
): [number, number] {
  const ho = Math.floor((input[1] + 2 * padding[0] - kernel[0]) / stride[0]) + 1;
  const wo = Math.floor((input[2] + 2 * padding[1] - kernel[1]) / stride[1]) + 1;
  if (!(ho >= 1 && wo >= 1)) {
    throw rangeError(
      'ERR_ADDERNET_SHAPE', label(name), 'an input at least as large as the kernel after padding (output size >= 1)',
      `shape ${describe(input)}, kernel ${kernel[0]}x${kernel[1]}, padding ${describe(padding)}, stride ${describe(stride)}`,
    );
  }
  return [ho, wo];
}

/** The error of Module.summarize() for a module that does not implement it. */
export function unsizable(module: Module, name: string): Error {
  return typeError(
    name ? `module ${JSON.stringify(name)}` : 'the network',
    'a module summary() can size (a built-in layer, or one that implements summarize(input, name, rows))',
    module,
  );
}

/** Checks an inputShape option: [C, H, W] of integers >= 1. */
export function checkSummaryInput(shape: unknown): number[] {
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'options.inputShape', 'the shape of one example, [C, H, W] of integers >= 1', describe(shape));
  }
  return [...(shape as number[])];
}

/** Sums the rows. */
export function totalsOf(rows: readonly SummaryRow[]): SummaryTotals {
  const t: SummaryTotals = { parameters: 0, buffers: 0, multiplications: 0, additions: 0 };
  for (const r of rows) {
    t.parameters += r.parameters;
    t.buffers += r.buffers;
    t.multiplications += r.multiplications;
    t.additions += r.additions;
  }
  return t;
}

/** 1234567 -> "1,234,567". */
export function grouped(n: number): string {
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** 3 significant digits and a unit: 812 -> "812", 6518 -> "6.52K", 416520 -> "417K", 40550000 -> "40.6M". */
export function humanCount(n: number): string {
  const units = ['', 'K', 'M', 'G', 'T'];
  let v = n;
  let u = 0;
  while (u < units.length - 1 && Math.abs(v) >= 999.5) {
    v /= 1000;
    u += 1;
  }
  return u === 0 ? String(Math.round(n)) : `${Number(v.toPrecision(3))}${units[u]}`;
}

/** The widest a summary table gets: long names are cut (with '~') to keep lines within this. */
export const SUMMARY_WIDTH = 100;

/**
 * A summary as a Keras-like table (layer, type, output shape, params, mult,
 * add) with a totals line in human units, at most SUMMARY_WIDTH columns.
 */
export function formatSummary(s: ModelSummary): string {
  const head = ['Layer', 'Type', 'Output shape', 'Params', 'Mult', 'Add'];
  const body = s.rows.map((r) => [
    r.name || '(net)', r.type, `[${r.outputShape.join(', ')}]`, grouped(r.parameters), grouped(r.multiplications), grouped(r.additions),
  ]);
  const total = ['Total', '', '', grouped(s.totals.parameters), grouped(s.totals.multiplications), grouped(s.totals.additions)];
  const all = [head, ...body, total];
  const widths = head.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const gap = 2;
  const width = () => widths.reduce((a, b) => a + b, 0) + gap * (widths.length - 1);
  // Too wide: cut the name column first, then the type column (never below their headings).
  for (const col of [0, 1]) {
    const over = width() - SUMMARY_WIDTH;
    if (over > 0) widths[col] = Math.max(head[col].length + 1, widths[col] - over);
  }
  const fit = (text: string, w: number) => (text.length > w ? `${text.slice(0, w - 1)}~` : text);
  const line = (row: string[]) =>
    row.map((c, i) => (i >= 3 ? fit(c, widths[i]).padStart(widths[i]) : fit(c, widths[i]).padEnd(widths[i]))).join(' '.repeat(gap)).trimEnd();
  const kind = s.layer === 'adder' ? ' (AdderNet)' : s.layer === 'conv' ? ' (CNN)' : '';
  const t = s.totals;
  const title = `Model: ${s.arch}${kind}, input [${s.inputShape.join(', ')}] -> output [${s.outputShape.join(', ')}]; counts for one example`;
  const footer =
    `${humanCount(t.parameters)} parameters (+ ${humanCount(t.buffers)} buffer elements), ` +
    `${humanCount(t.multiplications)} multiplications, ${humanCount(t.additions)} additions per example`;
  const rule = (ch: string) => ch.repeat(Math.min(Math.max(width(), title.length, footer.length), SUMMARY_WIDTH));
  return [
    title,
    rule('='),
    line(head),
    rule('-'),
    ...body.map(line),
    rule('-'),
    line(total),
    rule('='),
    footer,
    ...(s.quantization ? quantizationLines(s.quantization) : []),
  ].join('\n');
}

/** Words joined by ', ' into lines of at most SUMMARY_WIDTH columns, the first starting with `head`. */
function wrapList(head: string, items: readonly string[]): string[] {
  const lines: string[] = [];
  let line = head;
  items.forEach((item, i) => {
    const word = item + (i < items.length - 1 ? ',' : '');
    if (line.length + 1 + word.length > SUMMARY_WIDTH && line.trim().length > 0 && line !== head) {
      lines.push(line);
      line = '  ' + word;
    } else line += (line.endsWith(':') ? ' ' : line === '  ' ? '' : ' ') + word;
  });
  lines.push(items.length ? line : `${head} none`);
  return lines;
}

function quantizationLines(q: SummaryQuantization): string[] {
  const how = `${q.method}${q.percentile === undefined ? '' : ` ${q.percentile}%`} on ${q.examples} examples`;
  return [
    ...wrapList(`uint8 adder layers (${q.bits} bits, ${how}):`, q.quantized),
    ...wrapList('BatchNorms folded into them:', q.folded),
    ...wrapList('float32 layers:', q.float),
  ];
}
