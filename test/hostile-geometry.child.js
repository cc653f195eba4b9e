// Child process of hostile-geometry.test.ts: runs the cases it is given (JSON
// on stdin) through the public ops or the raw binding and prints one JSON line
// per case, "start" before the call, so a crash names the case it died in.
'use strict';
const path = require('node:path');

const repo = path.resolve(__dirname, '..');
const a = require(repo);
const raw = require('node-gyp-build')(repo);

// JSON cannot carry NaN or Infinity: the test encodes them as strings.
const decode = (v) =>
  v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : v === '-Infinity' ? -Infinity : Array.isArray(v) ? v.map(decode) : v;

function makeTensor(shape) {
  const size = shape.reduce((p, d) => p * d, 1);
  return a.tensor(new Float32Array(size).map((_, i) => Math.sin(i)), shape);
}

// A Float32Array of `n` elements when that is small, else a short one (the
// binding must refuse the mismatch, not read past it).
const floats = (n) => new Float32Array(Number.isSafeInteger(n) && n >= 0 && n <= 4096 ? n : 3);

function run(c) {
  const opts = decode(c.opts);
  switch (c.kind) {
    case 'conv': {
      const x = makeTensor(c.x), w = makeTensor(c.w);
      const fwd = c.adder ? a.ops.adder2d : a.ops.conv2d;
      const y = fwd(x, w, opts);
      y.dataSync(); // a failure inside a queued kernel surfaces at the read
      const bwd = c.adder ? a.ops.adder2dBackward : a.ops.conv2dBackward;
      bwd(x, w, y, { ...opts, bias: true }).gradWeight.dataSync();
      return;
    }
    case 'pool': {
      const x = makeTensor(c.x);
      const { y, argmax } = a.ops.maxPool2d(x, opts);
      a.ops.maxPool2dBackward(y, argmax, c.x);
      const avg = a.ops.avgPool2d(x, opts);
      a.ops.avgPool2dBackward(avg, c.x, opts).dataSync();
      return;
    }
    case 'raw-conv': {
      const d = decode(c.dims);
      const [n, ch, h, w, t, kh, kw, sh, sw, ph, pw] = d;
      const ho = Math.floor((h + 2 * ph - kh) / sh) + 1, wo = Math.floor((w + 2 * pw - kw) / sw) + 1;
      const x = floats(n * ch * h * w), wt = floats(t * ch * kh * kw), y = floats(n * t * ho * wo);
      const fwd = c.adder ? raw.adder2dForward : raw.conv2dForward;
      fwd(x, wt, null, y, d);
      const bwd = c.adder ? raw.adder2dBackward : raw.conv2dBackward;
      bwd(x, wt, y, floats(x.length), floats(wt.length), floats(t), d);
      return;
    }
    case 'raw-pool': {
      const d = decode(c.dims);
      const [n, ch, h, w, kh, kw, sh, sw, ph, pw] = d;
      const ho = Math.floor((h + 2 * ph - kh) / sh) + 1, wo = Math.floor((w + 2 * pw - kw) / sw) + 1;
      const x = floats(n * ch * h * w), y = floats(n * ch * ho * wo);
      raw.maxPool2dForward(x, y, new Int32Array(y.length), d);
      raw.avgPool2dForward(x, y, d);
      raw.avgPool2dBackward(y, floats(x.length), d);
      return;
    }
    default:
      throw new Error(`unknown case kind ${c.kind}`);
  }
}

let input = '';
process.stdin.on('data', (chunk) => (input += chunk));
process.stdin.on('end', () => {
  for (const [i, c] of JSON.parse(input).entries()) {
    process.stdout.write(JSON.stringify({ i, start: true }) + '\n');
    try {
      run(c);
      process.stdout.write(JSON.stringify({ i, ok: true }) + '\n');
    } catch (e) {
      process.stdout.write(JSON.stringify({ i, ok: false, name: e && e.name, code: e && e.code, message: String(e && e.message) }) + '\n');
    }
  }
});
