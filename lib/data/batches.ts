/**
 * A seeded shuffling batch iterator over a Dataset. One call iterates one epoch:
 * every example appears exactly once (or, with dropLast, every example of the
 * full batches). The order depends only on (seed, epoch), so a run is
 * reproducible and each epoch gets a different order.
 */
import { describe, rangeError, typeError } from '../errors';
import { Tensor } from '../tensor';
import { augmentBatch, blackFill, type AugmentFn, type AugmentOptions } from './augment';
import { checkDataset, datasetSize, type Dataset } from './dataset';
import { mixSeed, Rng } from './rng';

export interface BatchOptions {
  batchSize: number;
  /** Shuffle the order (default true). */
  shuffle?: boolean;
  /** Seed of the order and the augmentation (default 0). */
  seed?: number;
  /** Epoch number, mixed into the seed so that each epoch has its own order (default 0). */
  epoch?: number;
  /** Skip the last, smaller batch (default false). */
  dropLast?: boolean;
  /**
   * Augment each batch: true for the CIFAR recipe (random crop with padding 4,
   * black padding, horizontal flip), AugmentOptions to adjust it (`fill`
   * defaults to black in the dataset's normalisation), or a custom function.
   */
  augment?: boolean | AugmentOptions | AugmentFn;
  /**
   * Start at this batch of the epoch (default 0): the batches before it are
   * left out, and the rest are exactly those of a full pass (their
   * augmentation too). fit() resumes an interrupted epoch with it.
   */
  startBatch?: number;
}

export interface Batch {
  /** [B, C, H, W] images (a fresh array per batch). */
  x: Tensor;
  /** B class labels. */
  y: Int32Array;
  /** Dataset indices of the batch's examples. */
  indices: Int32Array;
}

/** Number of batches in one epoch. */
export function batchCount(size: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(size / batchSize) : Math.ceil(size / batchSize);
}

/** The example order of one epoch: 0..n-1, shuffled with a stream derived from (seed, epoch) when shuffle is on. */
export function epochOrder(n: number, options: { shuffle?: boolean; seed?: number; epoch?: number } = {}): Int32Array {
  if (options.shuffle === false) {
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    return order;
  }
  return new Rng(mixSeed(options.seed ?? 0, options.epoch ?? 0, 0)).permutation(n);
}

/**
 * Iterates one epoch of `dataset` in batches of `batchSize`:
 * `for (const { x, y } of batches(train, { batchSize: 128, seed, epoch })) ...`.
 * Options are validated when called, not on the first iteration.
 */
export function batches(dataset: Dataset, options: BatchOptions): Generator<Batch, void, undefined> {
  const ds = checkDataset(dataset, 'dataset');
  if (options === null || typeof options !== 'object') throw typeError('options', 'an object { batchSize, ... }', options);
  const { batchSize, shuffle = true, seed = 0, epoch = 0, dropLast = false, augment = false, startBatch = 0 } = options;
  if (typeof batchSize !== 'number') throw typeError('options.batchSize', 'an integer >= 1', batchSize);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw rangeError('ERR_ADDERNET_OPTION', 'options.batchSize', 'an integer >= 1', describe(batchSize));
  if (typeof startBatch !== 'number') throw typeError('options.startBatch', 'an integer >= 0', startBatch);
  if (!Number.isSafeInteger(startBatch) || startBatch < 0) throw rangeError('ERR_ADDERNET_OPTION', 'options.startBatch', 'an integer >= 0', describe(startBatch));
  for (const [name, v] of [['seed', seed], ['epoch', epoch]] as const) {
    if (typeof v !== 'number') throw typeError(`options.${name}`, 'a safe integer', v);
    if (!Number.isSafeInteger(v)) throw rangeError('ERR_ADDERNET_OPTION', `options.${name}`, 'a safe integer', describe(v));
  }
  let augmentFn: AugmentFn | undefined;
  if (typeof augment === 'function') augmentFn = augment;
  else if (augment === true || (augment !== null && typeof augment === 'object')) {
    const opts: AugmentOptions = { fill: blackFill(ds), ...(augment === true ? {} : augment) };
    augmentFn = (images, count, shape, rng) => {
      augmentBatch(images, count, shape, rng, opts);
    };
  } else if (augment !== false && augment !== undefined) {
    throw typeError('options.augment', 'a boolean, augmentation options or a function', augment);
  }

  const n = datasetSize(ds);
  const order = epochOrder(n, { shuffle, seed, epoch });
  const augRng = augmentFn ? new Rng(mixSeed(seed, epoch, 1)) : undefined;
  const shape = ds.shape;
  const per = shape[0] * shape[1] * shape[2];
  const count = batchCount(n, batchSize, dropLast);

  return (function* (): Generator<Batch, void, undefined> {
    // Without augmentation the skipped batches cost nothing; with it they are
    // augmented and dropped, as the augmentation stream runs through the epoch.
    for (let b = augmentFn ? 0 : startBatch; b < count; b++) {
      const start = b * batchSize;
      const size = Math.min(batchSize, n - start);
      const x = new Float32Array(size * per);
      const y = new Int32Array(size);
      const indices = order.slice(start, start + size);
      for (let k = 0; k < size; k++) {
        const i = indices[k];
        x.set(ds.images.subarray(i * per, (i + 1) * per), k * per);
        y[k] = ds.labels[i];
      }
      if (augmentFn) augmentFn(x, size, shape, augRng!);
      if (b < startBatch) continue;
      yield { x: new Tensor(x, [size, shape[0], shape[1], shape[2]]), y, indices };
    }
  })();
}
