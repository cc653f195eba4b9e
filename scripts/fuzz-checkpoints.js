#!/usr/bin/env node
// Checkpoint fuzzer (issue 8): mutates valid checkpoints (LeNet-5-BN adder and
// conv, ResNet-20 adder, a quantized LeNet-5-BN) in ways a corrupt download or
// a hostile author would, loads each with loadModel and, when it loads, runs a
// forward pass. Every case must either work or throw an error whose code starts with
// ERR_ADDERNET_; a crash, a hang or an uncoded error fails the run. Cases run
// in child processes, in batches, so a crash names its case and the rest go
// on; each child reports its peak RSS and each case its time.
//
//   npm run fuzz -- [--cases N] [--seed S] [--jobs J] [--batch B] [--json FILE]
//
// Case i of seed S is the same on every run (the mutation draws from a
// generator seeded by S and i), so `--seed S --first i --cases 1` replays one.
// Needs the compiled package (npm run build:ts).
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// A case running longer than this is a hang (ADDERNET_FUZZ_HANG_MS overrides it for the harness's own test).
const hangMs = () => Number(process.env.ADDERNET_FUZZ_HANG_MS) || 30_000;
// The harness's own test makes case 0 fail on purpose (crash, hang or uncoded) to prove each is caught.
const INJECT = process.env.ADDERNET_FUZZ_INJECT;

function parseArgs(argv) {
  const opts = { cases: 2000, seed: 1, first: 0, jobs: Math.max(1, Math.min(os.availableParallelism(), 8)), batch: 100, json: undefined };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in opts) || i + 1 >= argv.length) {
      throw new Error(`fuzz-checkpoints: unknown option ${argv[i]} (expected --cases N --seed S --first I --jobs J --batch B --json FILE)`);
    }
    const value = argv[++i];
    if (key === 'json') opts.json = value;
    else {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < (key === 'first' || key === 'seed' ? 0 : 1)) throw new Error(`fuzz-checkpoints: --${key} must be an integer, received ${value}`);
      opts[key] = n;
    }
  }
  return opts;
}

// ---------------------------------------------------------------- mutations

function rngFor(seed, index) {
  // mulberry32 over a mix of seed and case index.
  let a = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (arr) => arr[Math.floor(next() * arr.length)],
  };
}

const HOSTILE_NUMBERS = [0, -1, 1, 2, 3, 7, 1.5, -0.5, 2 ** 31, 2 ** 31 - 1, 2 ** 32, 2 ** 53, 2 ** 63, 1e300, -1e300, 65535, 1e6, 4096];
const HOSTILE_VALUES = [...HOSTILE_NUMBERS, null, true, 'x', '', [], {}, [1, 2], [2 ** 31, 2 ** 31], [-1, 3], { length: 1e9 }, 'constructor'];
const PROTO_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];

function splitFile(buf) {
  const n = Number(buf.readBigUInt64LE(0));
  return { headerText: buf.subarray(8, 8 + n).toString('utf8'), data: buf.subarray(8 + n) };
}

function joinFile(headerText, data, lengthOverride) {
  const h = Buffer.from(headerText, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(h.length));
  return Buffer.concat([prefix, h, data]);
}

/** All module configs in a config tree, with a way to replace each. */
function modulesOf(net) {
  const out = [];
  const stack = [net];
  while (stack.length) {
    const m = stack.pop();
    if (!m || typeof m !== 'object') continue;
    out.push(m);
    if (m.children && typeof m.children === 'object') for (const c of Object.values(m.children)) stack.push(c);
  }
  return out;
}

function mutateConfig(r, config) {
  const mods = modulesOf(config.net);
  const m = r.pick(mods);
  switch (r.int(8)) {
    case 0: {
      // A hostile value for one argument.
      m.args = m.args && typeof m.args === 'object' ? m.args : {};
      const keys = Object.keys(m.args);
      const key = keys.length && r.next() < 0.8 ? r.pick(keys) : r.pick(['kernelSize', 'stride', 'padding', 'inChannels', 'outChannels', 'depth', 'numClasses', 'bias', 'layer', 'eps', 'momentum']);
      m.args[key] = r.pick(HOSTILE_VALUES);
      return `config: ${m.type}.args.${key} = ${JSON.stringify(m.args[key])}`;
    }
    case 1: {
      // Inflate one layer's sizes.
      m.args = m.args && typeof m.args === 'object' ? m.args : {};
      const f = r.pick([2, 16, 1000, 2 ** 16]);
      for (const k of ['inChannels', 'outChannels', 'inFeatures', 'outFeatures', 'numFeatures', 'planes', 'inPlanes', 'depth']) if (typeof m.args[k] === 'number') m.args[k] *= f;
      return `config: ${m.type} sizes x${f}`;
    }
    case 2: {
      // Repeat one child many times.
      const parent = mods.find((x) => x.children && Object.keys(x.children).length);
      if (!parent) return 'config: unchanged';
      const [name, child] = r.pick(Object.entries(parent.children));
      const times = r.pick([10, 300, 3000]);
      for (let i = 0; i < times; i++) parent.children[`${name}_${i}`] = child;
      return `config: ${times} copies of ${name}`;
    }
    case 3: {
      // Nest the net deeply.
      const depth = r.pick([10, 63, 64, 65, 200, 1000]);
      let net = config.net;
      for (let i = 0; i < depth; i++) net = { type: 'Sequential', children: { s: net } };
      config.net = net;
      return `config: nested ${depth} Sequentials`;
    }
    case 4:
      m.type = r.pick(['Transformer', ...PROTO_NAMES, 'ResNet', 'Linear', 'Adder2d', 'BatchNorm2d', '', 42]);
      return `config: type = ${JSON.stringify(m.type)}`;
    case 5:
      m.children = r.pick([5, 'x', [], [JSON.parse(JSON.stringify(config.net))], null, { a: 1 }, { __proto__: { type: 'ReLU' } }]);
      return `config: ${m.type}.children = ${JSON.stringify(m.children)}`;
    case 6:
      config.info = r.pick([null, 5, {}, { ...config.info, inputShape: [1e9, 1e9, 1e9] }, { ...config.info, numClasses: -1 }, { ...config.info, inputShape: 'x' }]);
      return `config: info = ${JSON.stringify(config.info)}`;
    default:
      m.args = r.pick([null, 7, 'x', [1, 2], { [r.pick(PROTO_NAMES)]: 1 }]);
      return `config: ${m.type}.args = ${JSON.stringify(m.args)}`;
  }
}

function mutateHeader(r, header) {
  const names = Object.keys(header).filter((n) => n !== '__metadata__');
  const name = r.pick(names);
  const e = header[name];
  switch (r.int(9)) {
    case 0:
      e.dtype = r.pick(['F32', 'F64', 'F16', 'BF16', 'U8', 'I64', 'BOOL', 'F128', '', 7]);
      return `header: ${name}.dtype = ${JSON.stringify(e.dtype)}`;
    case 1: {
      const i = r.int(Math.max(1, e.shape.length));
      e.shape[i] = r.pick(HOSTILE_NUMBERS);
      return `header: ${name}.shape[${i}] = ${e.shape[i]}`;
    }
    case 2:
      e.shape = r.pick([[], [0], 'x', null, [1, 1, 1, 1, 1, 1, 1, 1], [2 ** 26, 2 ** 26]]);
      return `header: ${name}.shape = ${JSON.stringify(e.shape)}`;
    case 3: {
      const i = r.int(2);
      e.data_offsets[i] = r.next() < 0.5 ? e.data_offsets[i] + r.pick([-4, -1, 1, 4, 1024]) : r.pick(HOSTILE_NUMBERS);
      return `header: ${name}.data_offsets[${i}] = ${e.data_offsets[i]}`;
    }
    case 4:
      delete header[name];
      return `header: ${name} removed`;
    case 5: {
      const to = r.pick(PROTO_NAMES.concat(['module.' + name, name + '.x', '']));
      header[to] = e;
      delete header[name];
      return `header: ${name} renamed ${JSON.stringify(to)}`;
    }
    case 6:
      e[r.pick(['extra', 'dtype', 'shape'])] = r.pick(HOSTILE_VALUES);
      return `header: ${name} field replaced`;
    case 7:
      header[name] = r.pick([null, 5, 'x', [], {}]);
      return `header: ${name} = ${JSON.stringify(header[name])}`;
    default:
      header.__metadata__ = r.pick([null, 5, [], { format: 'addernet-model' }, { ...header.__metadata__, format: 'pt' }, { ...header.__metadata__, extra: 7 }]);
      return `header: __metadata__ replaced`;
  }
}

/** Text-level mutations of the header: structures JSON.parse would take at great cost or silently. */
function mutateHeaderText(r, text) {
  switch (r.int(7)) {
    case 0: {
      const depth = r.pick([65, 1000, 100_000, 1_000_000]);
      return [text.replace(/^\{/, `{"deep": ${'['.repeat(depth)}${']'.repeat(depth)}, `), `text: ${depth} nested arrays`];
    }
    case 1: {
      // The flat header of empty objects, up to past the size cap.
      const n = r.pick([1000, 100_000, 1_100_000, 2_000_000]);
      return [`{"x": [${'{},'.repeat(n)}{}], ${text.slice(1)}`, `text: ${n} empty objects`];
    }
    case 2: {
      // A duplicate tensor name.
      const m = /"([^"]+)":\{"dtype"[^}]*\}/.exec(text);
      return m ? [text.replace(/^\{/, `{${m[0]},`), `text: ${m[1]} twice`] : [text, 'text: unchanged'];
    }
    case 3: {
      const cut = r.int(text.length);
      return [text.slice(0, cut), `text: cut at ${cut}`];
    }
    case 4: {
      const at = r.int(text.length);
      return [text.slice(0, at) + r.pick(['"', '\\', '{', '}', '[', ']', ',', ':', '\u0000', '\ud800', 'é']) + text.slice(at), `text: char inserted at ${at}`];
    }
    case 5:
      return [text.replace(/"config":"/, '"config":"{\\"a\\":1,\\"a\\":2,'), 'text: duplicate key in config'];
    default: {
      // A huge string value.
      const n = r.pick([1e5, 1e6, 5e6]);
      return [text.replace(/^\{/, `{"s": ${JSON.stringify('x'.repeat(n))}, `), `text: string of ${n}`];
    }
  }
}

/** A quantized checkpoint's settings (nn/quantize.ts QuantizationInfo): bits, method, the layer list and its folds. */
function mutateQuantization(r, q) {
  const layers = Array.isArray(q.layers) ? q.layers : [];
  switch (r.int(6)) {
    case 0:
      q.bits = r.pick([...HOSTILE_VALUES, 3, 4, 8, 9]);
      return `quantization: bits = ${JSON.stringify(q.bits)}`;
    case 1:
      q[r.pick(['method', 'percentile', 'examples'])] = r.pick(HOSTILE_VALUES);
      return 'quantization: a setting replaced';
    case 2: {
      const l = r.pick(layers) ?? {};
      l[r.pick(['name', 'foldedBatchNorm'])] = r.pick([...HOSTILE_VALUES, ...PROTO_NAMES, 'relu1', 'bn1', 'conv1', 'fc3']);
      return `quantization: a layer entry = ${JSON.stringify(l)}`;
    }
    case 3: {
      const times = r.pick([2, 100, 10_000]);
      q.layers = Array.from({ length: times }, () => r.pick(layers));
      return `quantization: ${times} layer entries`;
    }
    case 4:
      q.layers = r.pick([null, 5, 'x', {}, [null], []]);
      return `quantization: layers = ${JSON.stringify(q.layers)}`;
    default:
      if (layers.length) layers.splice(r.int(layers.length), 1);
      return 'quantization: a layer left out';
  }
}

/** Builds case `index`: returns { bytes, desc, base }. */
function makeCase(seed, index, bases) {
  const r = rngFor(seed, index);
  const base = r.pick(bases);
  let buf = Buffer.from(base.bytes);
  const kind = r.int(10);
  let desc;
  if (kind <= 1) {
    // Random byte changes anywhere, weighted towards the header.
    const n = 1 + r.int(16);
    const headerEnd = 8 + Number(buf.readBigUInt64LE(0));
    for (let k = 0; k < n; k++) {
      const at = r.next() < 0.7 ? r.int(headerEnd) : r.int(buf.length);
      buf[at] = r.next() < 0.5 ? buf[at] ^ (1 << r.int(8)) : r.int(256);
    }
    desc = `bytes: ${n} changed`;
  } else if (kind === 2) {
    const cut = r.int(buf.length);
    buf = buf.subarray(0, cut);
    desc = `truncated at ${cut} of ${base.bytes.length}`;
  } else if (kind === 3) {
    const { headerText, data } = splitFile(buf);
    const n = BigInt(headerText.length);
    const len = r.pick([0n, 1n, n - 1n, n + 1n, n + 8n, BigInt(buf.length), 2n ** 32n, 2n ** 63n, 2n ** 64n - 1n, 4n * 1024n * 1024n, 4n * 1024n * 1024n + 1n]);
    buf = joinFile(headerText, data, len < 0n ? 0n : len);
    desc = `header length ${len}`;
  } else if (kind === 4) {
    buf = Buffer.concat([buf, Buffer.alloc(1 + r.int(64), r.int(256))]);
    desc = 'trailing bytes';
  } else if (kind <= 6) {
    const { headerText, data } = splitFile(buf);
    const header = JSON.parse(headerText);
    desc = mutateHeader(r, header);
    buf = joinFile(JSON.stringify(header), data);
  } else if (kind <= 8) {
    // A JSON metadata entry: the quantization record (half the time, when there is one) or the config.
    const key = base.quantized && r.next() < 0.5 ? 'quantization' : 'config';
    const { headerText, data } = splitFile(buf);
    const header = JSON.parse(headerText);
    const value = JSON.parse(header.__metadata__[key]);
    desc = key === 'quantization' ? mutateQuantization(r, value) : mutateConfig(r, value);
    header.__metadata__[key] = JSON.stringify(value);
    buf = joinFile(JSON.stringify(header), data);
  } else {
    const { headerText, data } = splitFile(buf);
    const [text, d] = mutateHeaderText(r, headerText);
    desc = d;
    buf = joinFile(text, data);
  }
  return { bytes: buf, desc: `${base.name}: ${desc}` };
}

// ---------------------------------------------------------------- child

function inject(kind) {
  if (kind === 'crash') process.kill(process.pid, 'SIGSEGV');
  if (kind === 'hang') for (;;);
  if (kind === 'uncoded') throw new TypeError('injected uncoded error');
}

async function child(seed, first, count) {
  const dist = path.join(__dirname, '..', 'dist', 'lib', 'index.js');
  const { loadModel, models, quantize, saveModel, zeros } = require(dist);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-fuzz-'));
  const report = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
  try {
    // A quantized LeNet-5-BN (uint8 adder layers), calibrated on a fixed ramp of inputs.
    const calibration = { images: Float32Array.from({ length: 16 * 784 }, (_, i) => ((i * 7) % 29) / 10 - 0.4), labels: new Int32Array(16), shape: [1, 28, 28], numClasses: 10 };
    const quantized = await quantize(models.lenet5bn({ layer: 'adder', seed: 6 }), calibration, { bits: 6 });
    const bases = [
      ['lenet5bn-adder', models.lenet5bn({ layer: 'adder', seed: 3 }), [1, 1, 28, 28]],
      ['lenet5bn-conv', models.lenet5bn({ layer: 'conv', seed: 4 }), [1, 1, 28, 28]],
      ['resnet20-adder', models.resnet20({ layer: 'adder', seed: 5 }), [1, 3, 32, 32]],
      ['lenet5bn-uint8', quantized, [1, 1, 28, 28]],
    ].map(([name, model, input]) => {
      const file = path.join(dir, `${name}.safetensors`);
      saveModel(model, file);
      return { name, bytes: fs.readFileSync(file), input, quantized: model === quantized };
    });
    const file = path.join(dir, 'case.safetensors');
    for (let i = first; i < first + count; i++) {
      const { bytes, desc } = makeCase(seed, i, bases);
      const input = bases.find((b) => desc.startsWith(b.name)).input;
      fs.writeFileSync(file, bytes);
      report({ start: i });
      const t0 = process.hrtime.bigint();
      let outcome = 'loaded';
      let code;
      let message;
      try {
        if (INJECT && i === 0) inject(INJECT);
        const model = loadModel(file);
        try {
          model.eval();
          model.forward(zeros(input));
          outcome = 'forward';
        } catch (err) {
          outcome = 'forward-error';
          code = err && err.code;
          message = String(err && err.message).slice(0, 300);
        }
        await model.dispose();
      } catch (err) {
        outcome = 'rejected';
        code = err && err.code;
        message = String(err && err.message).slice(0, 300);
      }
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      report({ done: i, desc, outcome, code, message, ms, bytes: bytes.length, maxRssKb: process.resourceUsage().maxRSS });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- parent

// Children still running when this process exits (a test runner tearing down) are killed, never orphaned.
const running = new Set();
process.on('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

function runBatch(opts, first, count, results) {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, [__filename, '--child', String(opts.seed), String(first), String(count)], { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(proc);
    let current = -1;
    let lastRss = 0;
    let buffered = '';
    let stderr = '';
    let timer;
    const limit = hangMs();
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => proc.kill('SIGKILL'), limit);
    };
    arm();
    proc.stdout.on('data', (chunk) => {
      buffered += chunk;
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const msg = JSON.parse(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        if ('start' in msg) {
          current = msg.start;
          arm();
        } else {
          msg.rssGrowthKb = Math.max(0, msg.maxRssKb - lastRss);
          lastRss = msg.maxRssKb;
          results[msg.done] = msg;
          current = -1;
        }
      }
    });
    proc.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    proc.on('exit', (code, signal) => {
      running.delete(proc);
      clearTimeout(timer);
      if (current >= 0) {
        // The case that was running crashed or hung: record it, go on after it.
        results[current] = { done: current, outcome: signal === 'SIGKILL' ? 'hang' : 'crash', signal, exitCode: code, stderr: stderr.slice(-1500) };
        const rest = first + count - current - 1;
        resolve(rest > 0 ? runBatch(opts, current + 1, rest, results) : undefined);
      } else if (code !== 0) {
        // Died between cases: the harness itself failed (e.g. building a case).
        results.push({ outcome: 'harness-error', exitCode: code, signal, stderr: stderr.slice(-1500), done: `batch from ${first}` });
        resolve();
      } else resolve();
    });
  });
}

function describeCase(opts, i) {
  // Rebuilds the description in the parent for crash reports (the child died before reporting it).
  return `--seed ${opts.seed} --first ${i} --cases 1`;
}

async function parent(opts) {
  const dist = path.join(__dirname, '..', 'dist', 'lib', 'index.js');
  if (!fs.existsSync(dist)) throw new Error('fuzz-checkpoints: dist/ is missing; run npm run build:ts first');
  const results = [];
  const t0 = Date.now();
  const batches = [];
  for (let first = opts.first; first < opts.first + opts.cases; first += opts.batch) batches.push([first, Math.min(opts.batch, opts.first + opts.cases - first)]);
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      const [first, count] = batches[next++];
      await runBatch(opts, first, count, results);
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.jobs, batches.length) }, worker));
  const done = results.filter(Boolean);
  const by = (pred) => done.filter(pred);
  const bad = by((r) => r.outcome === 'crash' || r.outcome === 'hang' || r.outcome === 'harness-error' || ((r.outcome === 'rejected' || r.outcome === 'forward-error') && !(typeof r.code === 'string' && r.code.startsWith('ERR_ADDERNET_'))));
  for (const r of bad) if (typeof r.done === 'number') r.replay = describeCase(opts, r.done);
  const codes = {};
  for (const r of done) if (r.code) codes[r.code] = (codes[r.code] ?? 0) + 1;
  const timed = done.filter((r) => typeof r.ms === 'number').sort((a, b) => b.ms - a.ms);
  const rss = done.filter((r) => r.maxRssKb).sort((a, b) => b.rssGrowthKb - a.rssGrowthKb);
  const summary = {
    seed: opts.seed,
    first: opts.first,
    cases: opts.cases,
    seconds: (Date.now() - t0) / 1000,
    outcomes: Object.fromEntries(['loaded', 'forward', 'rejected', 'forward-error', 'crash', 'hang', 'harness-error'].map((o) => [o, by((r) => r.outcome === o).length])),
    codes,
    failures: bad,
    slowest: timed.slice(0, 5).map(({ done: i, desc, outcome, code, ms, bytes }) => ({ case: i, desc, outcome, code, ms: Math.round(ms * 10) / 10, bytes })),
    medianMs: timed.length ? Math.round(timed[timed.length >> 1].ms * 100) / 100 : 0,
    maxRssMb: Math.round(Math.max(0, ...done.map((r) => r.maxRssKb ?? 0)) / 1024),
    largestRssGrowth: rss.slice(0, 3).map(({ done: i, desc, rssGrowthKb, bytes }) => ({ case: i, desc, growthMb: Math.round(rssGrowthKb / 1024), bytes })),
  };
  return summary;
}

if (process.argv[2] === '--child') {
  const [seed, first, count] = process.argv.slice(3).map(Number);
  child(seed, first, count).catch((err) => {
    console.error(err);
    process.exit(2);
  });
} else if (require.main === module) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err.message);
    process.exit(2);
  }
  parent(opts).then((summary) => {
    const text = JSON.stringify(summary, null, 2);
    if (opts.json) fs.writeFileSync(opts.json, text + '\n');
    console.log(text);
    const failed = summary.failures.length;
    console.log(failed ? `FAIL: ${failed} case(s) crashed, hung or threw an uncoded error` : `OK: ${summary.cases} cases, no crash, hang or uncoded error`);
    process.exit(failed ? 1 : 0);
  }, (err) => {
    console.error(err);
    process.exit(2);
  });
}

module.exports = { parent, parseArgs, makeCase };
