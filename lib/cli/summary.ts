// `addernet summary [MODEL.safetensors] [--model NAME --layer KIND]`: the
// layers of a reference model or a checkpoint, their output shapes,
// parameters and the multiplications and additions of one example.
import { loadModel } from '../nn/checkpoint';
import type { Model } from '../nn/model';
import { formatSummary } from '../nn/summary';
import { boolFlag, choiceFlag, intFlag, optionsHelp, parse, type OptionSpecs, UsageError } from './args';
import { ARCHS, buildModel, LAYERS } from './train';

export const SUMMARY_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'NAME', help: 'lenet5bn (default), resnet20 or resnet32 (without a checkpoint)' },
  layer: { type: 'string', value: 'KIND', help: 'adder (AdderNet, default) or conv (the same CNN)' },
  classes: { type: 'string', value: 'N', help: 'outputs of a ResNet (default 10)' },
  json: { type: 'boolean', help: 'print the summary as one JSON object (rows and totals)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const SUMMARY_USAGE = `Usage: addernet summary [MODEL.safetensors] [options]

Prints the layers of a model, as \`addernet train\` does when it starts: name,
type, output shape and parameters of each layer, and the multiplications and
additions of one forward of one example, with totals. Counting as in the
AdderNet paper: an adder layer does 2 additions per tap (|x - w| and the sum)
and no multiplication, a conv or linear layer 1 multiplication + 1 addition;
a bias 1 addition per output; BatchNorm (folded) 1 multiplication + 1 addition
per element; ReLU and max pooling (comparisons) none; average pooling
window - 1 additions per output; a residual sum 1 addition per element.
Give a checkpoint, or a reference model with --model and --layer.

Options:
${optionsHelp(SUMMARY_OPTIONS)}

Examples:
  addernet summary --model lenet5bn --layer conv
  addernet summary runs/lenet5bn-adder.safetensors --json`;

export async function summaryCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, SUMMARY_OPTIONS, { min: 0, max: 1, names: 'MODEL (a .safetensors checkpoint)' });
  if (values.help) {
    process.stdout.write(SUMMARY_USAGE + '\n');
    return 0;
  }
  const file = positionals[0];
  for (const flag of ['model', 'layer', 'classes']) {
    if (file !== undefined && values[flag] !== undefined) throw new UsageError(`option --${flag} is for reference models: a checkpoint (${JSON.stringify(file)}) has its own architecture`);
  }
  const arch = choiceFlag(values, 'model', ARCHS, 'lenet5bn');
  const layer = choiceFlag(values, 'layer', LAYERS, 'adder');
  const classes = intFlag(values, 'classes', 1, 10);
  if (arch === 'lenet5bn' && values.classes !== undefined) throw new UsageError('option --classes is for the ResNets (lenet5bn has 10 outputs)');
  const model: Model = file === undefined ? buildModel(arch, layer, 0, classes) : loadModel(file);
  try {
    const s = model.summary();
    if (boolFlag(values, 'json')) process.stdout.write(JSON.stringify({ command: 'summary', ...(file === undefined ? {} : { checkpoint: file }), ...s }) + '\n');
    else process.stdout.write(formatSummary(s) + '\n');
  } finally {
    await model.dispose();
  }
  return 0;
}
