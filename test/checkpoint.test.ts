// Checkpoints: saveModel/loadModel round trips, reference tensor names and the
// architecture in __metadata__, atomic saving, corrupt/truncated/hostile files,
// and loadStateDict's errors.
import fsDefault from 'node:fs';
import * as fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fit, loadModel, Model, models, readSafetensors, saveModel, tensor, writeSafetensors, type Dataset, type Tensor,
} from '../lib/index';
import { caught, CKPT, ensureDist, makeRng, sameBits } from './nn-helpers';

let tmp: string;
const live: Model[] = [];

beforeAll(() => {
  ensureDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-ckpt-'));
});
afterAll(async () => {
  await Promise.all(live.map((m) => m.dispose()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

let counter = 0;
const fresh = (name = 'model.safetensors'): string => {
  const dir = path.join(tmp, `case-${++counter}`);
  fs.mkdirSync(dir);
  return path.join(dir, name);
};

function randomDataset(n: number, seed: number): Dataset {
  const rng = makeRng(seed);
  return { images: rng.normalArray(n * 784), labels: Int32Array.from({ length: n }, () => rng.int(10)), shape: [1, 28, 28], numClasses: 10 };
}

function evalForward(m: Model, x: Tensor): Tensor {
  const was = m.training;
  m.eval();
  try {
    return m.forward(x);
  } finally {
    m.train(was);
  }
}

/** A LeNet-5-BN AdderNet with trained weights and BN statistics (cached). */
let trained: Model | undefined;
async function trainedLenet(): Promise<Model> {
  if (!trained) {
    trained = models.lenet5bn({ layer: 'adder', seed: 11 });
    live.push(trained);
    await fit(trained, randomDataset(64, 1), { epochs: 1, batchSize: 16, lr: 0.05 });
  }
  return trained;
}

/** Builds safetensors bytes from a header object and a data section. */
function rawSafetensors(header: unknown, data: Uint8Array = new Uint8Array(0), headerLength?: bigint): Buffer {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(headerLength ?? BigInt(json.length));
  return Buffer.concat([prefix, json, data]);
}

/** Expects loadModel(file) to throw a format error whose message names the file. */
function expectFormatError(file: string, pattern?: RegExp, codes = ['ERR_ADDERNET_FORMAT']): Error {
  const err = caught(() => loadModel(file));
  expect(codes, `code of: ${err.message}`).toContain(err.code);
  expect(err.message, 'the message names the file').toContain(file);
  if (pattern) expect(err.message).toMatch(pattern);
  return err;
}

describe('saveModel / loadModel', () => {
  it('round trip: same architecture, bit-identical weights, BN counters, forward and predict results', async () => {
    const m = await trainedLenet();
    const file = fresh();
    saveModel(m, file);
    const loaded = loadModel(file);
    live.push(loaded);
    expect(loaded).toBeInstanceOf(Model);
    expect(loaded.config()).toEqual(m.config());
    expect(loaded.info).toEqual(m.info);
    const a = m.stateDict();
    const b = loaded.stateDict();
    expect(Object.keys(b)).toEqual(Object.keys(a));
    for (const n of Object.keys(a)) expect(sameBits(b[n].dataSync(), a[n].dataSync()), n).toBe(true);
    expect(loaded.batchCounters()).toEqual(m.batchCounters());
    expect(Object.values(m.batchCounters()).every((c) => c === 4)).toBe(true);
    const x = tensor(makeRng(3).normalArray(5 * 784), [5, 1, 28, 28]);
    expect(sameBits(evalForward(loaded, x).dataSync(), evalForward(m, x).dataSync())).toBe(true);
    const [p1, p2] = await Promise.all([m.predict(x), loaded.predict(x)]);
    expect(sameBits(p2.dataSync(), p1.dataSync())).toBe(true);
    // The loaded model trains on.
    await fit(loaded, randomDataset(16, 2), { epochs: 1, batchSize: 16 });
  });

  it('round trip of the conv variant and of ResNets with options (numClasses, layer, seed)', () => {
    for (const m of [models.lenet5bn({ layer: 'conv', seed: 2 }), models.resnet20({ layer: 'conv', numClasses: 100, seed: 4 }), models.resnet32({ seed: 5 })]) {
      const file = fresh();
      saveModel(m, file);
      const loaded = loadModel(file);
      expect(loaded.config()).toEqual(m.config());
      const a = m.stateDict();
      const b = loaded.stateDict();
      for (const n of Object.keys(a)) expect(sameBits(b[n].dataSync(), a[n].dataSync()), n).toBe(true);
    }
  });

  it('the file holds the reference tensor names (PyTorch-loadable) and the architecture in __metadata__', () => {
    const m = models.resnet20({ layer: 'adder' });
    const file = fresh();
    saveModel(m, file);
    const st = readSafetensors(file);
    // Exactly the names of the authors' checkpoint, without DataParallel's prefix.
    const reference = [...readSafetensors(CKPT).keys()].map((n) => n.replace(/^module\./, '')).sort();
    expect([...st.keys()].sort()).toEqual(reference);
    for (const [name, t] of st) {
      if (name.endsWith('num_batches_tracked')) {
        expect(t.dtype, name).toBe('I64');
        expect(t.shape, name).toEqual([]);
      } else {
        expect(t.dtype, name).toBe('F32');
        expect(t.shape, name).toEqual([...m.stateDict()[name].shape]);
      }
    }
    expect(st.metadata.format).toBe('addernet-model');
    const config = JSON.parse(st.metadata.config);
    expect(config.info).toEqual({ arch: 'resnet20', options: { layer: 'adder', numClasses: 10, seed: 0 }, inputShape: [3, 32, 32], numClasses: 10 });
    // And the file loads as a plain state dict too.
    const plain = models.resnet20().loadStateDict(file);
    expect(sameBits(plain.stateDict()['layer2.0.downsample.0.adder'].dataSync(), m.stateDict()['layer2.0.downsample.0.adder'].dataSync())).toBe(true);
  });

  it('the authors\' checkpoint is a plain state dict: loadModel refuses it clearly (use loadStateDict)', () => {
    expectFormatError(CKPT, /loadStateDict/);
  });
});

describe('atomic saving', () => {
  it('leaves no temporary files, and replaces an existing checkpoint', async () => {
    const m = await trainedLenet();
    const file = fresh();
    saveModel(models.lenet5bn({ layer: 'adder', seed: 1 }), file);
    saveModel(m, file);
    expect(fs.readdirSync(path.dirname(file))).toEqual([path.basename(file)]);
    expect(sameBits(loadModel(file).stateDict()['fc1.adder'].dataSync(), m.stateDict()['fc1.adder'].dataSync())).toBe(true);
  });

  it('saving into a missing directory fails and creates nothing', () => {
    const dir = path.join(tmp, 'does-not-exist');
    const err = caught(() => saveModel(models.lenet5bn(), path.join(dir, 'm.safetensors')));
    expect(err.code).toBe('ENOENT');
    expect(fs.existsSync(dir)).toBe(false);
  });

  it('a save that fails while writing (disk full) leaves the existing file intact and no temporary file', async () => {
    const m = await trainedLenet();
    const file = fresh();
    saveModel(m, file);
    const before = fs.readFileSync(file);
    const realWriteSync = fsDefault.writeSync;
    let calls = 0;
    fsDefault.writeSync = ((...args: Parameters<typeof realWriteSync>) => {
      if (++calls > 1) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      return (realWriteSync as (...a: unknown[]) => number)(...args);
    }) as typeof realWriteSync;
    syncBuiltinESMExports();
    let err: Error & { code?: string };
    try {
      err = caught(() => saveModel(models.lenet5bn({ layer: 'adder', seed: 99 }), file));
    } finally {
      fsDefault.writeSync = realWriteSync;
      syncBuiltinESMExports();
    }
    expect(calls, 'the simulated failure was reached').toBeGreaterThan(1);
    expect(err.code).toBe('ENOSPC');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(path.dirname(file))).toEqual([path.basename(file)]);
    expect(sameBits(loadModel(file).stateDict()['conv1.adder'].dataSync(), m.stateDict()['conv1.adder'].dataSync())).toBe(true);
  });
});

describe('corrupt, truncated and hostile checkpoints are rejected with ERR_ADDERNET_FORMAT naming the file', () => {
  let good: Buffer;
  let goodFile: string;
  beforeAll(async () => {
    goodFile = fresh('good.safetensors');
    saveModel(await trainedLenet(), goodFile);
    good = fs.readFileSync(goodFile);
  });
  const headerLength = () => Number(good.readBigUInt64LE(0));
  const header = () => JSON.parse(good.subarray(8, 8 + headerLength()).toString('utf8'));
  const dataOf = () => good.subarray(8 + headerLength());
  const write = (name: string, bytes: Uint8Array): string => {
    const file = fresh(name);
    fs.writeFileSync(file, bytes);
    return file;
  };

  it('truncated data, truncated header, a file shorter than 8 bytes, an empty file', () => {
    expectFormatError(write('trunc-data.safetensors', good.subarray(0, good.length - 100)), /truncated|out of range/);
    expectFormatError(write('trunc-header.safetensors', good.subarray(0, 40)), /truncated/);
    expectFormatError(write('tiny.safetensors', good.subarray(0, 5)));
    expectFormatError(write('empty.safetensors', new Uint8Array(0)));
  });

  it('a huge header length (no allocation from it), trailing bytes, garbage', () => {
    const huge = Buffer.from(good);
    huge.writeBigUInt64LE(1n << 62n, 0);
    expectFormatError(write('huge.safetensors', huge), /header length/);
    const hdr = Buffer.from(good);
    hdr.writeBigUInt64LE(BigInt(good.length), 0);
    expectFormatError(write('len.safetensors', hdr), /header length/);
    expectFormatError(write('trailing.safetensors', Buffer.concat([good, Buffer.alloc(16)])), /trailing/);
    expectFormatError(write('garbage.safetensors', Buffer.from(makeRng(1).uniformArray(1000).buffer)));
    expectFormatError(write('notjson.safetensors', rawSafetensors('x'.repeat(10)).fill(0x7b, 8, 18)), /JSON/);
  });

  it('offsets out of range, overlapping tensors, a wrong byte count, an unknown dtype', () => {
    const h1 = header();
    h1['conv1.adder'].data_offsets = [0, 1e12];
    expectFormatError(write('offsets.safetensors', rawSafetensors(h1, dataOf())), /data_offsets/);
    const h2 = header();
    const names = Object.keys(h2).filter((n) => n !== '__metadata__');
    h2[names[1]].data_offsets = h2[names[0]].data_offsets;
    expectFormatError(write('overlap.safetensors', rawSafetensors(h2, dataOf())));
    const h3 = header();
    h3['conv1.adder'].shape = [6, 1, 5, 6];
    expectFormatError(write('bytes.safetensors', rawSafetensors(h3, dataOf())), /conv1\.adder/);
    const h4 = header();
    h4['conv1.adder'].dtype = 'F99';
    expectFormatError(write('dtype.safetensors', rawSafetensors(h4, dataOf())), /dtype/);
  });

  describe('a valid file whose tensors do not match the architecture', () => {
    type Entry = Tensor | { dtype: 'I32'; shape: number[]; data: Int32Array };
    const variants: [string, (sd: Record<string, Entry>) => void, RegExp, string[]][] = [
      ['a wrong shape', (sd) => { sd['fc2.adder'] = tensor(new Float32Array(84 * 121), [84, 121]); }, /fc2\.adder/, ['ERR_ADDERNET_FORMAT', 'ERR_ADDERNET_SHAPE']],
      ['a wrong dtype', (sd) => { sd['bn1.weight'] = { dtype: 'I32', shape: [6], data: new Int32Array(6) }; }, /bn1\.weight/, ['ERR_ADDERNET_FORMAT']],
      ['a missing tensor', (sd) => { delete sd['bn3.running_var']; }, /bn3\.running_var/, ['ERR_ADDERNET_FORMAT']],
      ['an extra tensor', (sd) => { sd['fc4.adder'] = tensor(new Float32Array(4), [2, 2]); }, /fc4\.adder/, ['ERR_ADDERNET_FORMAT']],
    ];
    for (const [what, edit, pattern, codes] of variants) {
      it(what, () => {
        const sd: Record<string, Entry> = { ...models.lenet5bn({ layer: 'adder', seed: 11 }).stateDict() };
        edit(sd);
        const file = fresh(`${what.replace(/ /g, '-')}.safetensors`);
        writeSafetensors(file, sd, readSafetensors(goodFile).metadata);
        expectFormatError(file, pattern, codes);
      });
    }
  });

  describe('bad or hostile metadata', () => {
    const info = models.lenet5bn().info;
    const configs: [string, Record<string, string> | undefined, RegExp?][] = [
      ['no metadata (a plain state dict)', undefined, /loadStateDict/],
      ['unparseable config', { format: 'addernet-model', config: '{"info": ' }, /JSON/],
      ['an unknown module type', { format: 'addernet-model', config: JSON.stringify({ info, net: { type: 'Transformer' } }) }, /Transformer/],
      ...['constructor', '__proto__', 'toString', 'hasOwnProperty'].map((type): [string, Record<string, string>] => [
        `an inherited property name as module type (${type})`,
        { format: 'addernet-model', config: JSON.stringify({ info, net: { type } }) },
      ]),
      ['invalid layer arguments', {
        format: 'addernet-model',
        config: JSON.stringify({ info, net: { type: 'Sequential', children: { fc1: { type: 'Linear', args: { inFeatures: -5, outFeatures: 'x' } } } } }),
      }],
      ['a config without info', { format: 'addernet-model', config: JSON.stringify({ net: { type: 'ReLU' } }) }],
      // 2^62 parameters: the typed array constructor refuses at once (a moderately huge layer would be allocated).
      ['a layer far larger than the file holds (Linear 2^31 x 2^31)', {
        format: 'addernet-model',
        config: JSON.stringify({ info, net: { type: 'Linear', args: { inFeatures: 2 ** 31, outFeatures: 2 ** 31 } } }),
      }],
    ];
    for (const [what, meta, pattern] of configs) {
      it(what, () => {
        const file = fresh('meta.safetensors');
        writeSafetensors(file, models.lenet5bn().stateDict(), meta);
        expectFormatError(file, pattern);
      });
    }
  });

  describe('configs that would cost far more than the file holds (issue 8)', () => {
    const info = models.lenet5bn().info;
    const linear = (n: number) => ({ type: 'Linear', args: { inFeatures: n, outFeatures: n } });

    it('300 Linear layers declared by a 1 MB file of U8: refused from the total, before any layer is built', () => {
      const file = fresh('many-layers.safetensors');
      const children = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`l${i}`, linear(1000)]));
      writeSafetensors(file, { pad: { dtype: 'U8', shape: [1_000_000], data: new Uint8Array(1_000_000) } }, {
        format: 'addernet-model',
        config: JSON.stringify({ info, net: { type: 'Sequential', children } }),
      });
      // 2 x 10^6 + 2^20 elements may be declared: the fourth layer (4,004,000 elements in all) crosses it.
      expectFormatError(file, /Expected at most 3048576 parameter and buffer elements in all \(bounded by what the file holds\) for the model config in .* but received 4004000 elements \(32032000 bytes with gradients\) declared by the first 5 modules, up to module "l3"/);
    });

    it('ResNet depth is costed from the architecture (no stage-3-only estimate)', () => {
      const file = fresh('deep-resnet.safetensors');
      writeSafetensors(file, models.lenet5bn().stateDict(), {
        format: 'addernet-model',
        config: JSON.stringify({ info, net: { type: 'ResNet', args: { depth: 1000, numClasses: 10 } } }),
      });
      expectFormatError(file, /parameter and buffer elements in all .* declared by the first 1 modules, up to the root module/);
    });

    it('modules nested deeper than MAX_CONFIG_DEPTH, and config JSON nested deeper than its bound', () => {
      let net: object = { type: 'ReLU' };
      for (let i = 0; i < 70; i++) net = { type: 'Sequential', children: { s: net } };
      const file = fresh('deep-modules.safetensors');
      writeSafetensors(file, models.lenet5bn().stateDict(), { format: 'addernet-model', config: JSON.stringify({ info, net }) });
      expectFormatError(file, /valid JSON in the config metadata .* but received JSON nested at most 136 deep but found deeper nesting/);
      // Within the JSON bound but past the module bound.
      net = { type: 'ReLU' };
      for (let i = 0; i < 64; i++) net = { type: 'Sequential', children: { s: net } };
      const file2 = fresh('deep-modules-2.safetensors');
      writeSafetensors(file2, models.lenet5bn().stateDict(), { format: 'addernet-model', config: JSON.stringify({ info, net }) });
      expectFormatError(file2, /Expected modules nested at most 64 deep for the model config in .* but received deeper nesting at module "s\.s\./);
      // 100,000 nested arrays inside args: refused by the scan (JSON.parse and describe() would recurse).
      const file3 = fresh('deep-args.safetensors');
      const deep = `{"info": {}, "net": {"type": "ReLU", "args": {"x": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}}`;
      writeSafetensors(file3, models.lenet5bn().stateDict(), { format: 'addernet-model', config: deep });
      expectFormatError(file3, /nested at most 136 deep/);
    });

    it('duplicate keys in the config (JSON.parse would keep the last)', () => {
      const file = fresh('dup-config.safetensors');
      const config = `{"info": ${JSON.stringify(info)}, "net": {"type": "ReLU"}, "net": {"type": "Sequential"}}`;
      writeSafetensors(file, models.lenet5bn().stateDict(), { format: 'addernet-model', config });
      expectFormatError(file, /"net" twice/);
    });
  });

  it('a missing file is an ENOENT error naming the path', () => {
    const file = path.join(tmp, 'nope.safetensors');
    const err = caught(() => loadModel(file));
    expect(err.code).toBe('ENOENT');
    expect(err.message).toContain(file);
  });
});

describe('loadStateDict errors', () => {
  const own = () => ({ ...models.lenet5bn({ layer: 'adder', seed: 1 }).stateDict() }) as Record<string, Tensor>;

  it('a missing tensor names it', () => {
    const sd = own();
    delete sd['fc2.adder'];
    const err = caught(() => models.lenet5bn().loadStateDict(sd));
    expect(err.code).toBe('ERR_ADDERNET_FORMAT');
    expect(err.message).toContain('fc2.adder');
  });

  it('an unexpected tensor names it', () => {
    const err = caught(() => models.lenet5bn().loadStateDict({ ...own(), 'fc9.weight': tensor(new Float32Array(1), [1]) }));
    expect(err.code).toBe('ERR_ADDERNET_FORMAT');
    expect(err.message).toContain('fc9.weight');
  });

  it('a wrong shape names the tensor and both shapes', () => {
    const sd = own();
    sd['conv2.adder'] = tensor(new Float32Array(16 * 6 * 5 * 5), [16, 6, 25]);
    const err = caught(() => models.lenet5bn().loadStateDict(sd));
    expect(err.code).toBe('ERR_ADDERNET_SHAPE');
    expect(err.message).toContain('conv2.adder');
    expect(err.message).toContain('[16, 6, 5, 5]');
    expect(err.message).toContain('[16, 6, 25]');
  });

  it('a non-float tensor and a non-map source are rejected', () => {
    const sd: Record<string, unknown> = own();
    sd['bn1.bias'] = { dtype: 'I32', shape: [6], data: new Int32Array(6) };
    expect(caught(() => models.lenet5bn().loadStateDict(sd as never)).code).toBe('ERR_ADDERNET_FORMAT');
    expect(caught(() => models.lenet5bn().loadStateDict(42 as never)).code).toBe('ERR_ADDERNET_TYPE');
  });

  it('accepts DataParallel\'s module. prefix and int64 num_batches_tracked of shape [] or [1]', () => {
    const src = models.lenet5bn({ layer: 'adder', seed: 1 });
    const prefixed: Record<string, unknown> = Object.fromEntries(Object.entries(src.stateDict()).map(([n, t]) => [`module.${n}`, t]));
    prefixed['module.bn1.num_batches_tracked'] = { dtype: 'I64', shape: [1], data: BigInt64Array.of(7n) };
    prefixed['module.bn2.num_batches_tracked'] = { dtype: 'I64', shape: [], data: BigInt64Array.of(9n) };
    const m = models.lenet5bn({ layer: 'adder', seed: 2 }).loadStateDict(prefixed as never);
    expect(sameBits(m.stateDict()['fc3.adder'].dataSync(), src.stateDict()['fc3.adder'].dataSync())).toBe(true);
    expect(m.batchCounters()['bn1.num_batches_tracked']).toBe(7);
    expect(m.batchCounters()['bn2.num_batches_tracked']).toBe(9);
  });

  it('a failed load leaves the model as it was (weights unchanged, predict and forward agree)', async () => {
    const m = models.lenet5bn({ layer: 'adder', seed: 3 });
    live.push(m);
    const x = tensor(makeRng(4).normalArray(2 * 784), [2, 1, 28, 28]);
    await m.predict(x);
    const before = Object.fromEntries(Object.entries(m.stateDict()).map(([n, t]) => [n, t.dataSync().slice()]));
    const other = { ...models.lenet5bn({ layer: 'adder', seed: 4 }).stateDict() } as Record<string, Tensor>;
    other['fc3.adder'] = tensor(new Float32Array(10 * 85), [10, 85]); // fc3 comes late: most tensors precede it
    expect(caught(() => m.loadStateDict(other)).code).toBe('ERR_ADDERNET_SHAPE');
    const changed = Object.keys(before).filter((n) => !sameBits(m.stateDict()[n].dataSync(), before[n]));
    expect(changed, 'tensors overwritten by the failed load').toEqual([]);
    expect(sameBits((await m.predict(x)).dataSync(), evalForward(m, x).dataSync())).toBe(true);
  });
});
