// --data for the CLI: `mnist` (the bundled digits), `idx:DIR` (the four
// MNIST-format files), `cifar10:DIR` and `cifar100:DIR` (the binary versions),
// `folder:DIR` (images in DIR/train/<class>/ and DIR/test/<class>/).
import fs from 'node:fs';
import path from 'node:path';
import {
  loadCifar100Dir, loadCifar10Dir, loadIdxDir, loadMnistBundled, subset, datasetSize,
  CIFAR10_MEAN, CIFAR10_STD, MNIST_MEAN, MNIST_STD,
  type Dataset, type DatasetSplit, imageFolder,
} from '../data/index';
import { UsageError } from './args';

export const DATA_HELP = 'mnist (bundled 8,000/2,000 digits), idx:DIR (MNIST-format files), cifar10:DIR, cifar100:DIR or folder:DIR (images in DIR/train/<class>/ and DIR/test/<class>/)';

export interface DataSpec {
  kind: 'mnist' | 'idx' | 'cifar10' | 'cifar100' | 'folder';
  dir?: string;
  /** The spelling given on the command line. */
  text: string;
}

export function parseDataSpec(text: string): DataSpec {
  if (text === 'mnist') return { kind: 'mnist', text };
  const m = text.match(/^(idx|cifar10|cifar100|folder):(.+)$/);
  if (!m) throw new UsageError(`option --data must be ${DATA_HELP} (got ${JSON.stringify(text)})`);
  const dir = m[2];
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(dir);
  } catch {
    stat = undefined;
  }
  if (!stat?.isDirectory()) throw new UsageError(`option --data: ${JSON.stringify(dir)} is not a directory`);
  return { kind: m[1] as DataSpec['kind'], dir, text };
}

/**
 * Loads the train/test split named by the spec (errors from malformed files
 * pass through). `shape` is the model's input, for folder:DIR (images are
 * resized to it; grey for one channel).
 */
export async function loadData(spec: DataSpec, shape?: readonly [number, number, number]): Promise<DatasetSplit> {
  switch (spec.kind) {
    case 'folder': {
      const options = shape ? { size: [shape[1], shape[2]] as [number, number], grayscale: shape[0] === 1 } : {};
      const [train, test] = await Promise.all(['train', 'test'].map((part) => imageFolder(path.join(spec.dir!, part), options)));
      if (JSON.stringify(train.classNames) !== JSON.stringify(test.classNames)) {
        throw new UsageError(`option --data: ${spec.text} has classes ${JSON.stringify(train.classNames)} in train/ but ${JSON.stringify(test.classNames)} in test/`);
      }
      return { train, test };
    }
    case 'mnist':
      return loadMnistBundled();
    case 'idx':
      return loadIdxDir(spec.dir!);
    case 'cifar10':
      return loadCifar10Dir(spec.dir!);
    case 'cifar100':
      return loadCifar100Dir(spec.dir!);
  }
}

/**
 * At most `limit` examples, evenly spaced through the set (the bundled MNIST
 * is sorted by class, so the first N would be all zeros). Used by --limit.
 */
export function limitDataset(ds: Dataset, limit: number | undefined): Dataset {
  const n = datasetSize(ds);
  if (limit === undefined || limit >= n) return ds;
  const idx = Array.from({ length: limit }, (_, k) => Math.floor((k * n) / limit));
  const out = subset(ds, idx);
  out.numClasses = ds.numClasses;
  return out;
}

/** Typical per-channel statistics for images fed to a model with `channels` input channels. */
export function defaultNormalisation(channels: number): { mean: number[]; std: number[] } | undefined {
  if (channels === 1) return { mean: [...MNIST_MEAN], std: [...MNIST_STD] };
  if (channels === 3) return { mean: [...CIFAR10_MEAN], std: [...CIFAR10_STD] };
  return undefined;
}
