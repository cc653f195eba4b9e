/**
 * CIFAR-style augmentation on a batch of CHW images, in place, driven by a
 * seeded Rng: random crop back to the original size from the image padded by
 * `padding` on every side (torchvision RandomCrop(32, padding=4)), then random
 * horizontal flip with probability 1/2 (RandomHorizontalFlip()).
 *
 * torchvision pads the 8-bit image with zeros *before* ToTensor/Normalize, so
 * the padding is black. On already-normalised data black is -mean[c]/std[c];
 * `fill` takes that per-channel value (`blackFill(dataset)` computes it), or 0
 * for data that was not normalised.
 *
 * Work is done a row at a time with typed-array fill/set/reverse (native
 * copies), not element by element.
 */
import { describe, rangeError, typeError } from '../errors';
import type { Rng } from './rng';

export interface AugmentOptions {
  /** Pixels of padding on every side for the random crop; 0 disables cropping (default 4). */
  padding?: number;
  /** Random horizontal flip with probability 1/2 (default true). */
  flip?: boolean;
  /** Value of the padding, one per channel or one for all (default 0). */
  fill?: number | readonly number[];
}

/** A custom augmentation: transforms `count` images of `shape` in `images` in place. */
export type AugmentFn = (images: Float32Array, count: number, shape: readonly [number, number, number], rng: Rng) => void;

/** Per-channel value of a black (0) pixel after the dataset's normalisation; 0 when it has none. */
export function blackFill(ds: { shape: readonly number[]; mean?: readonly number[]; std?: readonly number[] }): number[] {
  const C = ds.shape[0];
  if (!ds.mean || !ds.std) return new Array<number>(C).fill(0);
  return Array.from({ length: C }, (_, c) => (0 - ds.mean![c]) / ds.std![c]);
}

/**
 * Augments `count` images of `shape` [C, H, W] stored contiguously in `images`,
 * in place. For each image the draws are: crop top, crop left (each uniform in
 * [0, 2*padding]), then flip (next() < 0.5), so a given Rng state always gives
 * the same result.
 */
export function augmentBatch(
  images: Float32Array,
  count: number,
  shape: readonly [number, number, number] | readonly number[],
  rng: Rng,
  options: AugmentOptions = {},
): Float32Array {
  if (!(images instanceof Float32Array)) throw typeError('images', 'a Float32Array', images);
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'shape', '[C, H, W] with integers > 0', describe(shape));
  }
  const [C, H, W] = shape as [number, number, number];
  const per = C * H * W;
  if (!Number.isInteger(count) || count < 0 || count * per > images.length) {
    throw rangeError('ERR_ADDERNET_SIZE', 'count', `an integer in [0, ${Math.floor(images.length / per)}] for ${images.length} values`, describe(count));
  }
  const padding = options.padding ?? 4;
  if (!Number.isInteger(padding) || padding < 0) throw rangeError('ERR_ADDERNET_OPTION', 'options.padding', 'an integer >= 0', describe(padding));
  const flip = options.flip ?? true;
  const fillOpt = options.fill ?? 0;
  const fill = typeof fillOpt === 'number' ? new Array<number>(C).fill(fillOpt) : [...fillOpt];
  if (fill.length !== C || !fill.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw rangeError('ERR_ADDERNET_OPTION', 'options.fill', `a finite number or ${C} finite numbers`, describe(fillOpt));
  }

  const scratch = padding > 0 ? new Float32Array(per) : undefined;
  for (let n = 0; n < count; n++) {
    const img = images.subarray(n * per, (n + 1) * per);
    let dy = 0;
    let dx = 0;
    if (scratch) {
      // Output pixel (y, x) comes from source (y + dy, x + dx), dy, dx in [-padding, padding].
      dy = rng.int(2 * padding + 1) - padding;
      dx = rng.int(2 * padding + 1) - padding;
    }
    const doFlip = flip && rng.next() < 0.5;
    if (dy !== 0 || dx !== 0) {
      scratch!.set(img);
      const x0 = Math.max(0, -dx); // first output column with a source pixel
      const x1 = Math.min(W, W - dx); // one past the last
      for (let c = 0; c < C; c++) {
        const f = fill[c];
        for (let y = 0; y < H; y++) {
          const row = c * H * W + y * W;
          const sy = y + dy;
          if (sy < 0 || sy >= H || x0 >= x1) {
            img.fill(f, row, row + W);
            continue;
          }
          if (x0 > 0) img.fill(f, row, row + x0);
          const src = c * H * W + sy * W;
          img.set(scratch!.subarray(src + x0 + dx, src + x1 + dx), row + x0);
          if (x1 < W) img.fill(f, row + x1, row + W);
        }
      }
    }
    if (doFlip) {
      for (let r = 0; r < C * H; r++) img.subarray(r * W, (r + 1) * W).reverse();
    }
  }
  return images;
}

/** An AugmentFn doing augmentBatch with fixed options (the CIFAR recipe by default). */
export function cifarAugment(options: AugmentOptions = {}): AugmentFn {
  return (images, count, shape, rng) => {
    augmentBatch(images, count, shape, rng, options);
  };
}
