// `addernet predict MODEL IMAGE...`: decodes images with sharp (PNG, JPEG,
// WebP, GIF, TIFF, AVIF, SVG), brings them to the model's input the way its
// training data looked, and prints the most likely classes.
import fs from 'node:fs';
import { setNumThreads } from '../backend';
import { normalize } from '../data/index';
import { loadModel } from '../nn/checkpoint';
import { tensor } from '../tensor';
import { boolFlag, choiceFlag, DEVICE_OPTION, deviceFlag, intFlag, numbersFlag, optionsHelp, type OptionSpecs, parse, stringFlag, UsageError } from './args';
import { defaultNormalisation } from './data';
import { percent } from './progress';
import type Sharp from 'sharp';

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

export interface PreprocessOptions {
  invert: 'auto' | 'yes' | 'no';
  center: boolean;
  mean: number[];
  std: number[];
}

function loadSharp(): typeof Sharp {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('sharp') as typeof Sharp;
  } catch (err) {
    throw new Error(`addernet predict needs the image library sharp, which did not load here: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** One image as [C, H, W] float32, normalised (throws a clear error for unreadable files). */
export async function preprocessImage(file: string, shape: readonly [number, number, number], options: PreprocessOptions): Promise<Float32Array> {
  const sharp = loadSharp();
  const [C, H, W] = shape;
  let input: Buffer;
  try {
    input = fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read image ${JSON.stringify(file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const decode = async <T>(what: () => Promise<T>): Promise<T> => {
    try {
      return await what();
    } catch (err) {
      throw new Error(`cannot decode image ${JSON.stringify(file)}: ${(err as Error).message}`);
    }
  };
  let pixels: Uint8Array; // H x W x C
  if (C === 1) {
    // Transparent areas count as white paper.
    const grey = await decode(() => sharp(input).flatten({ background: '#ffffff' }).toColourspace('b-w').raw().toBuffer({ resolveWithObject: true }));
    let data = new Uint8Array(grey.data.buffer, grey.data.byteOffset, grey.info.width * grey.info.height);
    let sum = 0;
    for (const v of data) sum += v;
    if (options.invert === 'yes' || (options.invert === 'auto' && sum / data.length > 127.5)) data = data.map((v) => 255 - v);
    const black = { r: 0, g: 0, b: 0, alpha: 1 };
    let pipeline = sharp(Buffer.from(data.buffer, data.byteOffset, data.length), { raw: { width: grey.info.width, height: grey.info.height, channels: 1 } });
    if (options.center) {
      // MNIST's framing: the digit's bounding box scaled into a 20x20 box centred in 28x28.
      const innerH = Math.max(1, Math.round((H * 20) / 28));
      const innerW = Math.max(1, Math.round((W * 20) / 28));
      const top = Math.floor((H - innerH) / 2);
      const left = Math.floor((W - innerW) / 2);
      const inner = await pipeline
        .trim({ background: '#000000', threshold: 10 })
        .resize(innerW, innerH, { fit: 'contain', background: black })
        .toColourspace('b-w')
        .raw()
        .toBuffer();
      pipeline = sharp(inner, { raw: { width: innerW, height: innerH, channels: 1 } }).extend({
        top, bottom: H - innerH - top, left, right: W - innerW - left, background: black,
      });
    } else {
      pipeline = pipeline.resize(W, H, { fit: 'contain', background: black });
    }
    pixels = new Uint8Array(await pipeline.toColourspace('b-w').raw().toBuffer());
  } else if (C === 3) {
    const rgb = await decode(() =>
      sharp(input).flatten({ background: '#ffffff' }).resize(W, H, { fit: 'cover' }).toColourspace('srgb').removeAlpha().raw().toBuffer(),
    );
    pixels = new Uint8Array(rgb);
  } else {
    throw new Error(`addernet predict handles models with 1 (grey) or 3 (RGB) input channels, not ${C}`);
  }
  if (pixels.length !== H * W * C) throw new Error(`addernet: unexpected decoded size ${pixels.length} for ${JSON.stringify(file)} (wanted ${H}x${W}x${C})`);
  // HWC bytes -> CHW floats in [0, 1], then the training normalisation.
  const out = new Float32Array(C * H * W);
  for (let i = 0; i < H * W; i++) for (let c = 0; c < C; c++) out[c * H * W + i] = pixels[i * C + c] / 255;
  return normalize(out, [C, H, W], options.mean, options.std);
}

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
  const labels = labelsText === undefined ? defaultLabels(C, model.info.numClasses) : labelsText.split(',').map((s) => s.trim());
  if (labels.length !== model.info.numClasses) throw new UsageError(`option --labels needs ${model.info.numClasses} names (got ${labels.length})`);
  if (threads !== undefined) setNumThreads(threads);

  const per = C * H * W;
  const batch = new Float32Array(images.length * per);
  const options: PreprocessOptions = {
    invert, center: !boolFlag(values, 'no-center'),
    mean: mean.length === 1 ? new Array<number>(C).fill(mean[0]) : mean,
    std: std.length === 1 ? new Array<number>(C).fill(std[0]) : std,
  };
  for (let i = 0; i < images.length; i++) batch.set(await preprocessImage(images[i], [C, H, W], options), i * per);
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
