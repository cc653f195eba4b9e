// `addernet predict MODEL IMAGE...`: decodes images with sharp (PNG, JPEG,
// WebP, GIF, TIFF, AVIF, SVG), brings them to the model's input the way its
// training data looked, and prints the most likely classes.
import fs from 'node:fs';
import { setNumThreads } from '../backend';
import { preprocessImage, type PreprocessOptions } from '../data/image';
import { loadModel } from '../nn/checkpoint';
import { tensor } from '../tensor';
import { boolFlag, choiceFlag, DEVICE_OPTION, deviceFlag, intFlag, numbersFlag, optionsHelp, type OptionSpecs, parse, stringFlag, UsageError } from './args';
import { defaultNormalisation } from './data';
import { percent } from './progress';

export const CIFAR10_CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

export const PREDICT_OPTIONS: OptionSpecs = {
  top: { type: 'string', value: 'K', help: 'classes to show per image (default 3)' },
  invert: { type: 'string', value: 'MODE', help: 'grey models: auto (default: invert dark-on-light images, as MNIST digits are white on black), yes or no' },
  'no-center': { type: 'boolean', help: 'grey models: resize the whole image instead of fitting the digit in the central 20x20 box like MNIST' },
  mean: { type: 'string', value: 'M', help: 'per-channel mean of the training data (default MNIST for 1 channel, CIFAR for 3)' },
  std: { type: 'string', value: 'S', help: 'per-channel std of the training data' },
  labels: { type: 'string', value: 'A,B,...', help: 'class names (default digits for 1 channel, CIFAR-10 names for 3)' },
  threads: { type: 'string', value: 'T', help: 'kernel threads (default: all cores)' },
  device: DEVICE_OPTION,
  json: { type: 'boolean', help: 'print a JSON object' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const PREDICT_USAGE = `Usage: addernet predict MODEL.safetensors IMAGE [IMAGE...] [options]

Classifies images with a checkpoint. Each image is decoded (PNG, JPEG, WebP,
GIF, TIFF, ...), converted to grey or RGB to match the model, resized to its
input, and normalised like the training data. Grey (MNIST) models expect a
light digit on a dark background; dark-on-light images are inverted.

Options:
${optionsHelp(PREDICT_OPTIONS)}`;

/** The library's image preprocessing (lib/data/image.ts); kept here for the CLI's callers. */
export { preprocessImage } from '../data/image';

export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]);
  const e = Array.from(logits, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

export function defaultLabels(channels: number, numClasses: number): string[] {
  if (channels === 3 && numClasses === 10) return CIFAR10_CLASSES;
  return Array.from({ length: numClasses }, (_, i) => String(i));
}

export async function predictCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, PREDICT_OPTIONS, { min: 0, max: Infinity, names: 'MODEL and IMAGE' });
  if (values.help) {
    process.stdout.write(PREDICT_USAGE + '\n');
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('missing MODEL (a .safetensors checkpoint) and IMAGE');
  if (positionals.length === 1) throw new UsageError('missing IMAGE (one or more image files after MODEL)');
  const top = intFlag(values, 'top', 1, 3);
  const invert = choiceFlag(values, 'invert', ['auto', 'yes', 'no'] as const, 'auto');
  const threads = intFlag(values, 'threads', 1);
  deviceFlag(values); // cpu, or a usage error for cuda
  const json = boolFlag(values, 'json');
  const [file, ...images] = positionals;
  const model = loadModel(file);
  const [C, H, W] = model.info.inputShape;
  const norm = defaultNormalisation(C);
  const mean = numbersFlag(values, 'mean') ?? norm?.mean;
  const std = numbersFlag(values, 'std') ?? norm?.std;
  if (!mean || !std) throw new UsageError(`options --mean and --std are needed for a model with ${C} input channels`);
  for (const [name, v] of [['mean', mean], ['std', std]] as const) {
    if (v.length !== 1 && v.length !== C) throw new UsageError(`option --${name} needs 1 or ${C} values (got ${v.length})`);
  }
  if (std.some((v) => v <= 0)) throw new UsageError('option --std values must be > 0');
  const labelsText = stringFlag(values, 'labels');
  const labels = labelsText === undefined ? (model.info.classNames ?? defaultLabels(C, model.info.numClasses)) : labelsText.split(',').map((s) => s.trim());
  if (labels.length !== model.info.numClasses) throw new UsageError(`option --labels needs ${model.info.numClasses} names (got ${labels.length})`);
  if (threads !== undefined) setNumThreads(threads);

  const per = C * H * W;
  const batch = new Float32Array(images.length * per);
  const options: PreprocessOptions = {
    invert, center: !boolFlag(values, 'no-center'),
    mean: mean.length === 1 ? new Array<number>(C).fill(mean[0]) : mean,
    std: std.length === 1 ? new Array<number>(C).fill(std[0]) : std,
  };
  for (let i = 0; i < images.length; i++) {
    let x: Float32Array;
    try {
      x = await preprocessImage(images[i], model.info, options);
    } catch (err) {
      // A missing or unreadable file is a usage error (exit 2); undecodable images stay errors.
      if (!fs.existsSync(images[i])) throw new UsageError(`cannot read image ${JSON.stringify(images[i])}: ${(err as Error).message}`);
      throw err;
    }
    batch.set(x, i * per);
  }
  const logits = await model.predict(tensor(batch, [images.length, C, H, W]));
  await model.dispose();
  const k = Math.min(top, model.info.numClasses);
  const predictions = images.map((image, i) => {
    const probs = softmax(logits.dataSync().subarray(i * model.info.numClasses, (i + 1) * model.info.numClasses));
    const order = probs.map((p, c) => [p, c] as const).sort((a, b) => b[0] - a[0]).slice(0, k);
    return { image, top: order.map(([probability, c]) => ({ class: c, label: labels[c], probability })) };
  });
  if (json) {
    process.stdout.write(JSON.stringify({ command: 'predict', model: file, arch: model.info.arch, predictions }) + '\n');
  } else {
    for (const p of predictions) {
      process.stdout.write(`${p.image}: ${p.top.map((t) => `${t.label} ${percent(t.probability, 1)}`).join(', ')}\n`);
    }
  }
  return 0;
}
