// `addernet quantize MODEL --data SPEC --bits B --out FILE`: a float AdderNet
// checkpoint to a quantized one (uint8 adder layers; nn/quantize.ts), with the
// calibration examples drawn from the training split and, unless --no-eval,
// the float and quantized test accuracy side by side.
import { setNumThreads } from '../backend';
import { datasetSize } from '../data/index';
import { evaluate } from '../nn/fit';
import { loadModel, saveModel } from '../nn/checkpoint';
import type { Model } from '../nn/model';
import { quantize, type QuantizedModel } from '../nn/quantize';
import { boolFlag, choiceFlag, intFlag, numberFlag, optionsHelp, type OptionSpecs, parse, stringFlag, UsageError } from './args';
import { DATA_HELP, limitDataset, loadData, parseDataSpec } from './data';
import { percent, thousands } from './progress';

export const QUANTIZE_OPTIONS: OptionSpecs = {
  data: { type: 'string', value: 'SPEC', help: `calibration data (its train split): ${DATA_HELP}; default mnist for lenet5bn checkpoints` },
  bits: { type: 'string', value: 'B', help: 'grid of 2^B levels per adder layer, 4 to 8 (default 8)' },
  method: { type: 'string', value: 'M', help: 'input range calibration: minmax (default) or percentile' },
  percentile: { type: 'string', value: 'P', help: 'for --method percentile: the upper percentile, in (50, 100] (default 99.99)' },
  examples: { type: 'string', value: 'N', help: 'calibration examples (default 512)' },
  out: { type: 'string', value: 'FILE', help: 'where to write the quantized checkpoint (required)' },
  'no-eval': { type: 'boolean', help: 'skip scoring the float and the quantized model on the test split' },
  limit: { type: 'string', value: 'N', help: 'score on at most N test examples, evenly spaced (quick runs)' },
  threads: { type: 'string', value: 'T', help: 'kernel threads (default: all cores)' },
  json: { type: 'boolean', help: 'print a JSON object' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const QUANTIZE_USAGE = `Usage: addernet quantize MODEL.safetensors --out FILE [options]

Quantizes a float AdderNet checkpoint: each adder layer gets one uint8 grid
(scale and zero point shared by its input and its filters, 0.0 exact) over
its input range as calibrated on a few hundred training examples; the layer
then runs as an exact integer sum of absolute differences, with the
BatchNorm after it folded into a per-channel scale and shift. Other layers
stay float. \`addernet eval\`, \`predict\` and \`summary\` take the result.

Options:
${optionsHelp(QUANTIZE_OPTIONS)}

Example:
  addernet quantize runs/lenet5bn-adder.safetensors --bits 6 --out runs/lenet5bn-u6.safetensors`;

export async function quantizeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, QUANTIZE_OPTIONS, { min: 0, max: 1, names: 'MODEL (a .safetensors checkpoint)' });
  if (values.help) {
    process.stdout.write(QUANTIZE_USAGE + '\n');
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('missing MODEL (a float .safetensors checkpoint)');
  const out = stringFlag(values, 'out');
  if (out === undefined) throw new UsageError('option --out FILE is required (where to write the quantized checkpoint)');
  const bits = intFlag(values, 'bits', 1, 8);
  if (bits < 4 || bits > 8) throw new UsageError(`option --bits must be an integer from 4 to 8 (got ${JSON.stringify(values.bits)})`);
  const method = choiceFlag(values, 'method', ['minmax', 'percentile'] as const, 'minmax');
  if (values.percentile !== undefined && method !== 'percentile') throw new UsageError('option --percentile needs --method percentile');
  const percentile = method === 'percentile' ? numberFlag(values, 'percentile', 99.99) : undefined;
  if (percentile !== undefined && !(percentile > 50 && percentile <= 100)) {
    throw new UsageError(`option --percentile must be a number in (50, 100] (got ${JSON.stringify(values.percentile)})`);
  }
  const examples = intFlag(values, 'examples', 1, 512);
  const limit = intFlag(values, 'limit', 1);
  const threads = intFlag(values, 'threads', 1);
  const dataText = stringFlag(values, 'data');
  const spec = dataText === undefined ? undefined : parseDataSpec(dataText);
  const file = positionals[0];
  if (threads !== undefined) setNumThreads(threads);
  const model: Model = loadModel(file);
  let q: QuantizedModel | undefined;
  try {
    if (model.inferenceOnly) throw new UsageError(`${file} is quantized already: give the float checkpoint it came from`);
    const dataSpec = spec ?? (model.info.arch === 'lenet5bn' ? parseDataSpec('mnist') : undefined);
    if (!dataSpec) throw new UsageError(`option --data is required for a ${model.info.arch} checkpoint (e.g. --data cifar10:DIR)`);
    const split = await loadData(dataSpec, model.info.inputShape);
    const want = model.info.inputShape;
    if (split.train.shape.some((v, i) => v !== want[i])) {
      throw new UsageError(`option --data: ${dataSpec.text} has ${split.train.shape.join('x')} images but ${file} (${model.info.arch}) takes ${want.join('x')}`);
    }
    const t0 = performance.now();
    q = await quantize(model, split.train, { bits, method, ...(percentile === undefined ? {} : { percentile }), examples });
    const seconds = (performance.now() - t0) / 1000;
    saveModel(q, out);
    const evalSet = boolFlag(values, 'no-eval') ? undefined : limitDataset(split.test, limit);
    const floatAccuracy = evalSet && (await evaluate(model, evalSet)).accuracy;
    const quantizedAccuracy = evalSet && (await evaluate(q, evalSet)).accuracy;
    const s = q.summary().quantization!;
    const result = {
      command: 'quantize', model: file, out, arch: model.info.arch, data: dataSpec.text, bits, method,
      ...(percentile === undefined ? {} : { percentile }), examples: q.quantization.examples,
      quantized: s.quantized, folded: s.folded, float: s.float, seconds,
      ...(evalSet ? { testExamples: datasetSize(evalSet), floatAccuracy, quantizedAccuracy } : {}),
    };
    if (boolFlag(values, 'json')) process.stdout.write(JSON.stringify(result) + '\n');
    else {
      process.stdout.write(
        `${file} (${model.info.arch}) -> ${out}: ${s.quantized.length} adder layers on uint8 (${bits} bits, ${method}${percentile === undefined ? '' : ` ${percentile}%`} ` +
          `on ${thousands(q.quantization.examples)} examples of ${dataSpec.text}, ${seconds.toFixed(2)} s), ${s.float.length} float layers\n` +
          (evalSet ? `  test accuracy on ${thousands(datasetSize(evalSet))} examples: float ${percent(floatAccuracy!)}, quantized ${percent(quantizedAccuracy!)}\n` : ''),
      );
    }
  } finally {
    await Promise.all([model.dispose(), q?.dispose()]);
  }
  return 0;
}
