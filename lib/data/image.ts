/**
 * Images from files or buffers, brought to a model's input the way its
 * training data looked (preprocessImage), and datasets from folders of images
 * (imageFolder). Uses sharp, loaded on first use.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type Sharp from 'sharp';
import { codedError, describe, rangeError, typeError } from '../errors';
import { CIFAR10_MEAN, CIFAR10_STD, datasetFromBytes, MNIST_MEAN, MNIST_STD, normalize, type Dataset } from './dataset';

export interface PreprocessOptions {
  /** Per-channel mean of the training data's [0, 1] pixels (default MNIST for 1 channel, CIFAR-10 for 3). */
  mean?: number | readonly number[];
  /** Per-channel std (same defaults). */
  std?: number | readonly number[];
  /** Grey models: 'auto' (default: the background decides), 'yes' (dark ink on light paper) or 'no' (light on dark). */
  invert?: 'auto' | 'yes' | 'no';
  /** Grey models: fit the digit in the central 20x20 box like MNIST (default true), else resize the whole image. */
  center?: boolean;
}

function loadSharp(): typeof Sharp {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require('sharp') as typeof Sharp;
  } catch (err) {
    throw codedError('ERR_ADDERNET_LOAD', `addernet: images need the package sharp, which did not load here: ${(err as Error).message.split('\n')[0]}`);
  }
}

function readInput(input: unknown, argument: string): { bytes: Buffer; name: string } {
  if (typeof input === 'string') {
    try {
      return { bytes: fs.readFileSync(input), name: JSON.stringify(input) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw rangeError('ERR_ADDERNET_OPTION', argument, 'a readable image file', `${JSON.stringify(input)} (${code})`);
    }
  }
  if (input instanceof Uint8Array) {
    if (input.length === 0) throw rangeError('ERR_ADDERNET_FORMAT', argument, 'encoded image bytes (PNG, JPEG, WebP, ...)', 'an empty buffer');
    return { bytes: Buffer.from(input.buffer, input.byteOffset, input.length), name: `a buffer of ${input.length} bytes` };
  }
  throw typeError(argument, 'a Buffer, a Uint8Array or an image file path', input);
}

async function decoded<T>(name: string, what: () => Promise<T>): Promise<T> {
  try {
    return await what();
  } catch (err) {
    throw rangeError('ERR_ADDERNET_FORMAT', 'image', 'a decodable image (PNG, JPEG, WebP, GIF, TIFF, ...)', `${name}: ${(err as Error).message.split('\n')[0]}`);
  }
}

function channelStats(value: number | readonly number[] | undefined, fallback: readonly number[] | undefined, C: number, argument: string): number[] {
  const v = value ?? fallback;
  if (v === undefined) throw rangeError('ERR_ADDERNET_OPTION', argument, `per-channel statistics for a model with ${C} input channels`, 'undefined');
  if (typeof v === 'number') return new Array<number>(C).fill(v);
  if (!Array.isArray(v) || (v.length !== 1 && v.length !== C)) throw rangeError('ERR_ADDERNET_OPTION', argument, `1 or ${C} numbers`, describe(v));
  return v.length === 1 ? new Array<number>(C).fill(v[0]) : [...v];
}

/** Otsu's threshold of values in [0, 255] (the level that best splits them in two classes). */
export function otsuThreshold(values: ArrayLike<number>): number {
  const hist = new Float64Array(256);
  for (let i = 0; i < values.length; i++) hist[Math.max(0, Math.min(255, Math.round(values[i])))]++;
  let total = 0;
  let sum = 0;
  for (let b = 0; b < 256; b++) {
    total += hist[b];
    sum += b * hist[b];
  }
  let w0 = 0;
  let s0 = 0;
  let best = -1;
  let level = 127.5;
  for (let b = 0; b < 255; b++) {
    w0 += hist[b];
    s0 += b * hist[b];
    const w1 = total - w0;
    if (w0 === 0 || w1 === 0) continue;
    const m0 = s0 / w0;
    const m1 = (sum - s0) / w1;
    const between = w0 * w1 * (m0 - m1) ** 2;
    if (between > best) {
      best = between;
      level = b + 0.5;
    }
  }
  return level;
}

function percentile(values: ArrayLike<number>, p: number): number {
  const a = Float64Array.from(values).sort();
  if (a.length === 0) return 0;
  return a[Math.min(a.length - 1, Math.max(0, Math.floor(p * (a.length - 1))))];
}

/** The grey plane with the most contrast among R, G, B and the luminance (blue ink on yellow paper shows best in red). */
function contrastPlane(px: Uint8Array, n: number, channels: number): Float64Array {
  if (channels === 1) return Float64Array.from(px.subarray(0, n));
  const planes = [0, 1, 2].map((c) => {
    const p = new Float64Array(n);
    for (let i = 0; i < n; i++) p[i] = px[i * channels + c];
    return p;
  });
  const luma = new Float64Array(n);
  for (let i = 0; i < n; i++) luma[i] = 0.299 * planes[0][i] + 0.587 * planes[1][i] + 0.114 * planes[2][i];
  const spread = (p: Float64Array) => percentile(p, 0.99) - percentile(p, 0.01);
  let best = luma;
  let bestSpread = spread(luma) * 1.05; // luminance unless a channel is clearly better
  for (const p of planes) {
    const s = spread(p);
    if (s > bestSpread) {
      best = p;
      bestSpread = s;
    }
  }
  return best;
}

/** Least-squares quadratic surface a + bx + cy + dx² + exy + fy² through the pixels where mask is set. */
function fitSurface(g: Float64Array, W: number, H: number, mask: Uint8Array): Float64Array {
  const A = Array.from({ length: 6 }, () => new Float64Array(7));
  const terms = new Float64Array(6);
  for (let y = 0; y < H; y++) {
    const v = (2 * y) / Math.max(1, H - 1) - 1;
    for (let x = 0; x < W; x++) {
      const i = y * W + x;
      if (!mask[i]) continue;
      const u = (2 * x) / Math.max(1, W - 1) - 1;
      terms.set([1, u, v, u * u, u * v, v * v]);
      for (let r = 0; r < 6; r++) {
        for (let c = 0; c < 6; c++) A[r][c] += terms[r] * terms[c];
        A[r][6] += terms[r] * g[i];
      }
    }
  }
  // Gauss-Jordan with partial pivoting; a singular system falls back to the mean.
  const coef = new Float64Array(6);
  for (let c = 0; c < 6; c++) {
    let p = c;
    for (let r = c + 1; r < 6; r++) if (Math.abs(A[r][c]) > Math.abs(A[p][c])) p = r;
    if (Math.abs(A[p][c]) < 1e-9) {
      const mean = A[0][0] > 0 ? A[0][6] / A[0][0] : 0;
      return new Float64Array(W * H).fill(mean);
    }
    [A[c], A[p]] = [A[p], A[c]];
    for (let r = 0; r < 6; r++) {
      if (r === c) continue;
      const f = A[r][c] / A[c][c];
      for (let k = c; k < 7; k++) A[r][k] -= f * A[c][k];
    }
  }
  for (let c = 0; c < 6; c++) coef[c] = A[c][6] / A[c][c];
  const out = new Float64Array(W * H);
  for (let y = 0; y < H; y++) {
    const v = (2 * y) / Math.max(1, H - 1) - 1;
    for (let x = 0; x < W; x++) {
      const u = (2 * x) / Math.max(1, W - 1) - 1;
      out[y * W + x] = coef[0] + coef[1] * u + coef[2] * v + coef[3] * u * u + coef[4] * u * v + coef[5] * v * v;
    }
  }
  return out;
}

/**
 * Light ink on a black background, 0..255, from a grey plane: the border decides
 * which side of the Otsu threshold is paper (unless `invert` says), the paper's
 * shading (a quadratic surface) is subtracted, and the ink is stretched to full
 * white. A digital image with a flat black background and white ink is kept as is.
 */
function inkImage(g: Float64Array, W: number, H: number, invert: 'auto' | 'yes' | 'no'): Uint8Array {
  const n = W * H;
  // A digital image whose border is pure black or pure white: kept exactly (inverted if needed), as the training data.
  const border: number[] = [];
  for (let x = 0; x < W; x++) border.push(g[x], g[(H - 1) * W + x]);
  for (let y = 0; y < H; y++) border.push(g[y * W], g[y * W + W - 1]);
  const edge = Math.round(border[0]);
  if ((edge === 0 || edge === 255) && border.every((v) => Math.round(v) === edge)) {
    const flip = invert === 'yes' || (invert === 'auto' && edge === 255);
    return Uint8Array.from(g, (v) => Math.round(flip ? 255 - v : v));
  }
  // Shading first: a surface through every pixel (the ink is a minority), then
  // refitted through the paper alone, as Otsu's threshold on the flattened image finds it.
  let paper = new Uint8Array(n).fill(1);
  let surface: Float64Array = new Float64Array(n);
  let flat: Float64Array = new Float64Array(n);
  let lightPaper = invert === 'yes';
  for (let round = 0; round < 3; round++) {
    surface = fitSurface(g, W, H, paper);
    flat = new Float64Array(n);
    for (let i = 0; i < n; i++) flat[i] = g[i] - surface[i];
    // Paper: within max(4 sigma, the Otsu gap) of the median on the ink's side
    // (Otsu alone splits the paper's noise when the ink covers little area).
    const med = percentile(flat, 0.5);
    const sigma = 1.4826 * percentile(Array.from(flat, (v) => Math.abs(v - med)), 0.5);
    if (invert === 'auto') lightPaper = med - percentile(flat, 0.005) > percentile(flat, 0.995) - med;
    const otsu = 2 * otsuThreshold(Array.from(flat, (v) => (v + 255) / 2)) - 255; // flat is in [-255, 255]
    const gap = Math.max(4 * sigma, Math.abs(otsu - med), 1);
    const next = new Uint8Array(n);
    for (let i = 0; i < n; i++) next[i] = +((lightPaper ? med - flat[i] : flat[i] - med) < gap);
    paper = next;
  }
  surface = fitSurface(g, W, H, paper);
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) s[i] = lightPaper ? surface[i] - g[i] : g[i] - surface[i];
  const paperRes: number[] = [];
  const ink: number[] = [];
  for (let i = 0; i < n; i++) (paper[i] ? paperRes : ink).push(s[i]);
  const noise = percentile(paperRes.map(Math.abs), 0.9);
  const high = ink.length ? percentile(ink, 0.9) : 255;
  const out = new Uint8Array(n);
  if (noise < 0.5 && percentile(paperRes, 0.5) === 0 && high >= 250) {
    // Already clean: exactly the pixels (inverted if needed), as the training data.
    for (let i = 0; i < n; i++) out[i] = Math.max(0, Math.min(255, Math.round(s[i])));
    return out;
  }
  const floor = Math.min(2 * noise, high / 3);
  const gain = 255 / Math.max(1, high - floor);
  for (let i = 0; i < n; i++) out[i] = Math.max(0, Math.min(255, Math.round((s[i] - floor) * gain)));
  return out;
}

/** Bounding box of the ink (above Otsu's threshold), ignoring rows and columns with a lone speck. */
function inkBox(px: Uint8Array, W: number, H: number): { left: number; top: number; width: number; height: number } | undefined {
  const t = Math.max(otsuThreshold(px), 24);
  const rows = new Int32Array(H);
  const cols = new Int32Array(W);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      if (px[y * W + x] > t) {
        rows[y]++;
        cols[x]++;
      }
    }
  }
  const min = Math.max(W, H) > 56 ? 2 : 1;
  const first = (a: Int32Array) => a.findIndex((c) => c >= min);
  const last = (a: Int32Array) => a.length - 1 - [...a].reverse().findIndex((c) => c >= min);
  const top = first(rows);
  const left = first(cols);
  if (top < 0 || left < 0) return undefined;
  return { left, top, width: last(cols) - left + 1, height: last(rows) - top + 1 };
}

/** MNIST's framing: the ink's box scaled into the central 20x20 (of 28x28), placed by its centre of mass. */
async function mnistFrame(sharp: typeof Sharp, px: Uint8Array, W: number, H: number, outW: number, outH: number): Promise<Uint8Array> {
  const canvas = new Uint8Array(outW * outH);
  const box = inkBox(px, W, H);
  if (!box) return canvas;
  const innerW = Math.max(1, Math.round((outW * 20) / 28));
  const innerH = Math.max(1, Math.round((outH * 20) / 28));
  const scale = Math.min(innerW / box.width, innerH / box.height);
  const w = Math.max(1, Math.min(innerW, Math.round(box.width * scale)));
  const h = Math.max(1, Math.min(innerH, Math.round(box.height * scale)));
  const patch = new Uint8Array(
    await sharp(Buffer.from(px.buffer, px.byteOffset, px.length), { raw: { width: W, height: H, channels: 1 } })
      .extract(box)
      .resize(w, h, { fit: 'fill' })
      .toColourspace('b-w')
      .raw()
      .toBuffer(),
  );
  if (patch.length !== w * h) throw codedError('ERR_ADDERNET_NATIVE', `addernet: unexpected resized size ${patch.length} (wanted ${w}x${h})`);
  let mass = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = patch[y * w + x];
      mass += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  }
  const [mx, my] = mass > 0 ? [cx / mass, cy / mass] : [w / 2, h / 2];
  const left = Math.max(0, Math.min(outW - w, Math.round(outW / 2 - mx)));
  const top = Math.max(0, Math.min(outH - h, Math.round(outH / 2 - my)));
  for (let y = 0; y < h; y++) canvas.set(patch.subarray(y * w, (y + 1) * w), (top + y) * outW + left);
  return canvas;
}

/**
 * One image (encoded bytes or a file path) as a [C, H, W] Float32Array for a
 * model with `info.inputShape` [C, H, W], normalised like its training data.
 * Grey (1-channel) models get MNIST's look: light ink on black, the digit's
 * box in the central 20x20 placed by its centre of mass. Photographs work:
 * the background is found from the image's border (any paper colour), the
 * channel with most contrast is used (any ink colour), shading is flattened,
 * contrast stretched, and the box found after an Otsu threshold. RGB models:
 * resized to cover the input. Undecodable images: ERR_ADDERNET_FORMAT; a
 * missing file: ERR_ADDERNET_OPTION naming it.
 */
export async function preprocessImage(
  input: Buffer | Uint8Array | string,
  info: { inputShape: readonly [number, number, number] | readonly number[] },
  options: PreprocessOptions = {},
): Promise<Float32Array> {
  const shape = info?.inputShape as unknown;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
    throw rangeError('ERR_ADDERNET_SHAPE', 'info.inputShape', '[channels, height, width] of integers >= 1', describe(shape));
  }
  const [C, H, W] = shape as [number, number, number];
  if (C !== 1 && C !== 3) throw rangeError('ERR_ADDERNET_SHAPE', 'info.inputShape', 'a model with 1 (grey) or 3 (RGB) input channels', describe(shape));
  const invert = options.invert ?? 'auto';
  if (invert !== 'auto' && invert !== 'yes' && invert !== 'no') throw rangeError('ERR_ADDERNET_OPTION', 'options.invert', "'auto', 'yes' or 'no'", describe(invert));
  const center = options.center ?? true;
  if (typeof center !== 'boolean') throw typeError('options.center', 'a boolean', center);
  const mean = channelStats(options.mean, C === 1 ? MNIST_MEAN : CIFAR10_MEAN, C, 'options.mean');
  const std = channelStats(options.std, C === 1 ? MNIST_STD : CIFAR10_STD, C, 'options.std');
  const { bytes, name } = readInput(input, 'input');
  const sharp = loadSharp();
  let pixels: Uint8Array; // H x W x C
  if (C === 1) {
    // Transparent areas count as white paper; very large photos are shrunk first.
    const img = await decoded(name, () =>
      sharp(bytes).rotate().flatten({ background: '#ffffff' })
        .resize({ width: 512, height: 512, fit: 'inside', withoutEnlargement: true })
        .raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true }),
    );
    const { width, height, channels } = img.info;
    const grey = contrastPlane(new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.length), width * height, channels);
    const ink = inkImage(grey, width, height, invert);
    if (center) pixels = await mnistFrame(sharp, ink, width, height, W, H);
    else {
      pixels = new Uint8Array(
        await sharp(Buffer.from(ink.buffer), { raw: { width, height, channels: 1 } })
          .resize(W, H, { fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 1 } })
          .toColourspace('b-w').raw().toBuffer(),
      );
    }
  } else {
    pixels = new Uint8Array(
      await decoded(name, () =>
        sharp(bytes).rotate().flatten({ background: '#ffffff' }).resize(W, H, { fit: 'cover' }).toColourspace('srgb').removeAlpha().raw().toBuffer(),
      ),
    );
  }
  if (pixels.length !== H * W * C) throw codedError('ERR_ADDERNET_NATIVE', `addernet: unexpected decoded size ${pixels.length} for ${name} (wanted ${H}x${W}x${C})`);
  // HWC bytes -> CHW floats in [0, 1], then the training normalisation.
  const out = new Float32Array(C * H * W);
  for (let i = 0; i < H * W; i++) for (let c = 0; c < C; c++) out[c * H * W + i] = pixels[i * C + c] / 255;
  return normalize(out, [C, H, W], mean, std);
}

export interface ImageFolderOptions {
  /** [height, width] (or one number for both) every image is resized to (default 28x28 grey, 32x32 RGB). */
  size?: readonly [number, number] | number;
  /** One grey channel (default true) or RGB. */
  grayscale?: boolean;
  /** File extensions read (default png, jpg, jpeg, webp). */
  extensions?: readonly string[];
  /** Normalisation (default MNIST statistics for grey, CIFAR-10 for RGB). */
  mean?: number | readonly number[];
  std?: number | readonly number[];
}

/**
 * A Dataset from `dir/<class>/*.png|jpg|jpeg|webp`: classes sorted by name,
 * labels their index, `classNames` the folder names. Images are resized to
 * `size` (the whole image, no digit framing) and normalised.
 */
export async function imageFolder(dir: string, options: ImageFolderOptions = {}): Promise<Dataset> {
  if (typeof dir !== 'string' || dir.length === 0) throw typeError('dir', 'a directory path', dir);
  const grayscale = options.grayscale ?? true;
  if (typeof grayscale !== 'boolean') throw typeError('options.grayscale', 'a boolean', grayscale);
  const sizeValue = options.size ?? (grayscale ? 28 : 32);
  const size = typeof sizeValue === 'number' ? [sizeValue, sizeValue] : sizeValue;
  if (!Array.isArray(size) || size.length !== 2 || !size.every((v) => Number.isInteger(v) && v >= 1 && v <= 4096)) {
    throw rangeError('ERR_ADDERNET_OPTION', 'options.size', 'an integer from 1 to 4096 or [height, width] of them', describe(sizeValue));
  }
  const extensions = options.extensions ?? ['png', 'jpg', 'jpeg', 'webp'];
  if (!Array.isArray(extensions) || extensions.length === 0 || !extensions.every((e) => typeof e === 'string' && e.length > 0)) {
    throw rangeError('ERR_ADDERNET_OPTION', 'options.extensions', 'a non-empty array of file extensions', describe(extensions));
  }
  const exts = new Set(extensions.map((e) => e.replace(/^\./, '').toLowerCase()));
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    throw rangeError('ERR_ADDERNET_OPTION', 'dir', 'a readable directory of class folders', `${JSON.stringify(dir)} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const classNames = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  if (classNames.length === 0) throw rangeError('ERR_ADDERNET_OPTION', 'dir', 'a directory with one sub-folder per class', `${JSON.stringify(dir)} with no sub-folders`);
  const C = grayscale ? 1 : 3;
  const [H, W] = size;
  const files: { file: string; label: number }[] = [];
  classNames.forEach((name, label) => {
    const folder = path.join(dir, name);
    const images = fs.readdirSync(folder).filter((f) => exts.has(path.extname(f).slice(1).toLowerCase())).sort();
    if (images.length === 0) {
      throw rangeError('ERR_ADDERNET_OPTION', 'dir', `images (${[...exts].join(', ')}) in every class folder`, `an empty folder ${JSON.stringify(folder)}`);
    }
    for (const f of images) files.push({ file: path.join(folder, f), label });
  });
  const sharp = loadSharp();
  const per = C * H * W;
  const hwc = new Uint8Array(per);
  const pixels = new Uint8Array(files.length * per);
  for (let k = 0; k < files.length; k++) {
    const { file } = files[k];
    const raw = await decoded(JSON.stringify(file), () => {
      const p = sharp(file).rotate().flatten({ background: '#ffffff' }).resize(W, H, { fit: 'fill' });
      return (grayscale ? p.toColourspace('b-w') : p.toColourspace('srgb').removeAlpha()).raw({ depth: 'uchar' }).toBuffer();
    });
    if (raw.length !== per) throw rangeError('ERR_ADDERNET_FORMAT', 'image', `${H}x${W}x${C} decoded pixels`, `${raw.length} for ${JSON.stringify(file)}`);
    hwc.set(raw);
    for (let i = 0; i < H * W; i++) for (let c = 0; c < C; c++) pixels[k * per + c * H * W + i] = hwc[i * C + c];
  }
  const ds = datasetFromBytes(pixels, files.map((f) => f.label), [C, H, W], classNames.length, {
    mean: channelStats(options.mean, C === 1 ? MNIST_MEAN : CIFAR10_MEAN, C, 'options.mean'),
    std: channelStats(options.std, C === 1 ? MNIST_STD : CIFAR10_STD, C, 'options.std'),
  });
  ds.classNames = classNames;
  return ds;
}
