// `addernet eval MODEL --data SPEC`: test loss and accuracy of a checkpoint.
import { backendInfo, setNumThreads } from '../backend';
import { datasetSize } from '../data/index';
import { evaluate } from '../nn/fit';
import { loadModel } from '../nn/checkpoint';
import { QuantizedModel } from '../nn/quantize';
import { boolFlag, choiceFlag, DEVICE_OPTION, deviceFlag, intFlag, numbersFlag, optionsHelp, type OptionSpecs, parse, stringFlag, UsageError } from './args';
import { DATA_HELP, limitDataset, loadData, parseDataSpec } from './data';
import { percent, thousands } from './progress';

export const EVAL_OPTIONS: OptionSpecs = {
  data: { type: 'string', value: 'SPEC', help: `${DATA_HELP}; default mnist for lenet5bn checkpoints` },
  split: { type: 'string', value: 'NAME', help: 'test (default) or train' },
  'batch-size': { type: 'string', value: 'B', help: 'examples per forward pass (default 256)' },
  'top-k': { type: 'string', value: 'K,...', help: 'top-k accuracies to report (default 1,5)' },
  threads: { type: 'string', value: 'T', help: 'kernel threads (default: all cores)' },
  device: DEVICE_OPTION,
  json: { type: 'boolean', help: 'print a JSON object' },
  limit: { type: 'string', value: 'N', help: 'at most N examples, evenly spaced (quick runs)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const EVAL_USAGE = `Usage: addernet eval MODEL.safetensors [options]

Scores a checkpoint written by \`addernet train\`, \`addernet quantize\` (or saveModel) on a dataset:
loss, accuracy, top-k accuracy, per-class accuracy and the confusion matrix
(rows: true class, columns: predicted), all in the --json object.

Options:
${optionsHelp(EVAL_OPTIONS)}`;

function labelsOf(info: { numClasses: number; classNames?: string[] }): string[] {
  return info.classNames ?? Array.from({ length: info.numClasses }, (_, i) => String(i));
}

/** The confusion matrix (rows true, columns predicted) with each class's accuracy at the end of its row. */
export function formatConfusion(matrix: number[][], perClass: (number | null)[], labels: string[]): string {
  const w = Math.max(...labels.map((l) => l.length), ...matrix.flat().map((v) => String(v).length));
  const lw = Math.max('true \\ predicted'.length, ...labels.map((l) => l.length));
  const head = `  ${'true \\ predicted'.padEnd(lw)}  ${labels.map((l) => l.padStart(w)).join(' ')}  accuracy`;
  const rows = matrix.map((row, t) => `  ${labels[t].padEnd(lw)}  ${row.map((v) => String(v).padStart(w)).join(' ')}  ${perClass[t] === null ? '-' : percent(perClass[t]!)}`);
  return [head, ...rows].join('\n');
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, EVAL_OPTIONS, { min: 0, max: 1, names: 'MODEL (a .safetensors checkpoint)' });
  if (values.help) {
    process.stdout.write(EVAL_USAGE + '\n');
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('missing MODEL (a .safetensors checkpoint)');
  const split = choiceFlag(values, 'split', ['test', 'train'] as const, 'test');
  const batchSize = intFlag(values, 'batch-size', 1, 256);
  const threads = intFlag(values, 'threads', 1);
  deviceFlag(values); // cpu, or a usage error for cuda
  const limit = intFlag(values, 'limit', 1);
  const dataText = stringFlag(values, 'data');
  const spec = dataText === undefined ? undefined : parseDataSpec(dataText);
  const file = positionals[0];
  if (threads !== undefined) setNumThreads(threads);
  const model = loadModel(file);
  const dataSpec = spec ?? (model.info.arch === 'lenet5bn' ? parseDataSpec('mnist') : undefined);
  if (!dataSpec) throw new UsageError(`option --data is required for a ${model.info.arch} checkpoint (e.g. --data cifar10:DIR)`);
  const ds = limitDataset((await loadData(dataSpec, model.info.inputShape))[split], limit);
  const want = model.info.inputShape;
  if (ds.shape.some((v, i) => v !== want[i])) {
    throw new UsageError(`option --data: ${dataSpec.text} has ${ds.shape.join('x')} images but ${file} (${model.info.arch}) takes ${want.join('x')}`);
  }
  const t0 = performance.now();
  const topK = numbersFlag(values, 'top-k');
  if (topK && topK.some((k) => !Number.isInteger(k) || k < 1 || k > model.info.numClasses)) {
    throw new UsageError(`option --top-k needs integers from 1 to ${model.info.numClasses} (got ${JSON.stringify(values['top-k'])})`);
  }
  const r = await evaluate(model, ds, { batchSize, topK });
  const quantization = model instanceof QuantizedModel ? { bits: model.quantization.bits, method: model.quantization.method } : undefined;
  const seconds = (performance.now() - t0) / 1000;
  const n = datasetSize(ds);
  const out = {
    command: 'eval',
    model: file,
    arch: model.info.arch,
    layer: model.info.options.layer,
    ...(quantization ? { quantization } : {}),
    data: dataSpec.text,
    split,
    examples: n,
    loss: r.loss,
    accuracy: r.accuracy,
    topK: r.topK,
    perClassAccuracy: r.perClassAccuracy,
    confusionMatrix: r.confusionMatrix,
    classNames: labelsOf(model.info),
    seconds,
    examplesPerSecond: n / seconds,
    threads: backendInfo().threads,
  };
  if (boolFlag(values, 'json')) process.stdout.write(JSON.stringify(out) + '\n');
  else {
    process.stdout.write(
      `${file} (${model.info.arch}, ${String(model.info.options.layer)}${quantization ? `, uint8 ${quantization.bits} bits` : ''}) on ${dataSpec.text} ${split}: ` +
        `accuracy ${percent(r.accuracy)}, loss ${r.loss.toFixed(4)} (${thousands(n)} examples, ${seconds.toFixed(2)} s, ${thousands(n / seconds)} examples/s)\n` +
        `  ${Object.entries(r.topK).map(([k, v]) => `top-${k} ${percent(v)}`).join(', ')}\n` +
        formatConfusion(r.confusionMatrix, r.perClassAccuracy, labelsOf(model.info)) + '\n',
    );
  }
  await model.dispose();
  return 0;
}
