// "Photographs" of digits made with sharp from real MNIST test digits, for
// test/images.test.ts and bench/photos.ts: the digit upscaled, drawn in ink on
// paper, off-centre, with a brightness gradient, mild noise, blur and JPEG.
import sharp from 'sharp';
import { data } from '../lib/index';

export type Rgb = [number, number, number];

/** Paper and ink colours of each photo condition. */
export const PHOTO_CONDITIONS: { name: string; paper: Rgb; ink: Rgb }[] = [
  { name: 'dark ink on grey paper', paper: [150, 150, 150], ink: [30, 30, 30] },
  { name: 'blue ink on yellow paper', paper: [235, 220, 120], ink: [40, 50, 170] },
  { name: 'black ink on white paper', paper: [245, 245, 240], ink: [20, 20, 20] },
];

const raw = data.loadMnistBundled({ mean: 0, std: 1 }).test;

/** Test digit i of the bundled set as 28x28 grey bytes (white on black), and its label. */
export function mnistDigit(i: number): { pixels: Buffer; label: number } {
  return { pixels: Buffer.from(raw.images.subarray(i * 784, (i + 1) * 784).map((v) => Math.round(v * 255))), label: raw.labels[i] };
}

/** A 200x160 JPEG of test digit i in `ink` on `paper`; `seed` picks the size, place and noise. */
export async function digitPhoto(i: number, paper: Rgb, ink: Rgb, seed: number): Promise<Buffer> {
  const W = 200;
  const H = 160;
  const size = 90 + (seed % 30);
  const big = await sharp(mnistDigit(i).pixels, { raw: { width: 28, height: 28, channels: 1 } }).resize(size, size).toColourspace('b-w').raw().toBuffer();
  const ox = 10 + ((seed * 37) % (W - size - 20));
  const oy = 5 + ((seed * 17) % (H - size - 10));
  const px = Buffer.alloc(W * H * 3);
  let s = seed * 9301 + 49297;
  const noise = () => ((s = (s * 233280 + 49297) % 1000003) / 1000003 - 0.5) * 24;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const bx = x - ox;
      const by = y - oy;
      const a = bx >= 0 && by >= 0 && bx < size && by < size ? big[by * size + bx] / 255 : 0;
      const shade = 0.75 + 0.35 * (x / W) - 0.1 * (y / H);
      for (let c = 0; c < 3; c++) px[(y * W + x) * 3 + c] = Math.max(0, Math.min(255, Math.round((paper[c] * (1 - a) + ink[c] * a) * shade + noise())));
    }
  }
  return sharp(px, { raw: { width: W, height: H, channels: 3 } }).blur(1.5).jpeg({ quality: 80 }).toBuffer();
}
