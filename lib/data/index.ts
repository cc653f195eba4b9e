/** The public data API: readers, datasets, augmentation, batching and the seeded Rng. */
export { Rng, mixSeed } from './rng';
export { readIdx, parseIdx, encodeIdx } from './idx';
export type { IdxArray, ReadIdxOptions } from './idx';
export {
  readCifar10Batch,
  readCifar100Batch,
  parseCifar10Batch,
  parseCifar100Batch,
  CIFAR10_RECORD_BYTES,
  CIFAR100_RECORD_BYTES,
} from './cifar';
export type { Cifar10Batch, Cifar100Batch } from './cifar';
export {
  loadMnistBundled,
  loadIdxDir,
  loadIdxPair,
  loadCifar10Dir,
  loadCifar100Dir,
  datasetFromBytes,
  normalize,
  subset,
  datasetSize,
  checkDataset,
  MNIST_MEAN,
  MNIST_STD,
  CIFAR10_MEAN,
  CIFAR10_STD,
} from './dataset';
export type { Dataset, DatasetSplit, NormalizeOptions, IdxDirOptions, Cifar100Options } from './dataset';
export { augmentBatch, cifarAugment, blackFill } from './augment';
export type { AugmentOptions, AugmentFn } from './augment';
export { preprocessImage, imageFolder, otsuThreshold } from './image';
export type { PreprocessOptions, ImageFolderOptions } from './image';
export { batches, batchCount, epochOrder } from './batches';
export type { BatchOptions, Batch } from './batches';
