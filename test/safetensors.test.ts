import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tensor } from '../lib/tensor';
import {
  SAFETENSORS_DTYPES,
  SAFETENSORS_MAX_HEADER_BYTES,
  SafetensorsMap,
  bf16BitsToNumber,
  f16BitsToNumber,
  numberToBf16Bits,
  numberToF16Bits,
  readSafetensors,
  readSafetensorsHeader,
  serializeSafetensors,
  toFloat32Array,
  toTensor,
  writeSafetensors,
  type SafetensorsTensor,
} from '../lib/io/safetensors';
import { writeFileAtomicSync } from '../lib/io/atomic';

const FIXTURES = path.resolve(__dirname, '../../shared/fixtures');
const CKPT = path.join(FIXTURES, 'resnet20-adder-cifar10.safetensors');
const IO = path.join(FIXTURES, 'resnet20-adder-reference-io.safetensors');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-st-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function bytes(t: SafetensorsTensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** One tensor of every dtype, with awkward values (extremes, NaN bits, negative zero). */
function everyDtype(): Record<string, SafetensorsTensor> {
  return {
    bool: { dtype: 'BOOL', shape: [5], data: Uint8Array.from([0, 1, 1, 0, 1]) },
    u8: { dtype: 'U8', shape: [2, 3], data: Uint8Array.from([0, 1, 127, 128, 254, 255]) },
    i8: { dtype: 'I8', shape: [4], data: Int8Array.from([-128, -1, 0, 127]) },
    f8e4m3: { dtype: 'F8_E4M3', shape: [3], data: Uint8Array.from([0x38, 0xb8, 0x7f]) },
    f8e5m2: { dtype: 'F8_E5M2', shape: [3], data: Uint8Array.from([0x3c, 0xbc, 0x7c]) },
    i16: { dtype: 'I16', shape: [3], data: Int16Array.from([-32768, 1, 32767]) },
    u16: { dtype: 'U16', shape: [3], data: Uint16Array.from([0, 1, 65535]) },
    f16: { dtype: 'F16', shape: [1, 4], data: Uint16Array.from([0x3c00, 0xc000, 0x7c00, 0x7e01]) },
    bf16: { dtype: 'BF16', shape: [4], data: Uint16Array.from([0x3f80, 0xc000, 0x7f80, 0x7fc1]) },
    i32: { dtype: 'I32', shape: [3], data: Int32Array.from([-2147483648, 0, 2147483647]) },
    u32: { dtype: 'U32', shape: [2], data: Uint32Array.from([0, 4294967295]) },
    f32: { dtype: 'F32', shape: [2, 2], data: Float32Array.from([1.5, -0, 3.4e38, 1e-45]) },
    f64: { dtype: 'F64', shape: [3], data: Float64Array.from([Math.PI, -0, Number.MAX_VALUE]) },
    i64: { dtype: 'I64', shape: [3], data: BigInt64Array.from([-(2n ** 63n), 0n, 2n ** 63n - 1n]) },
    u64: { dtype: 'U64', shape: [2], data: BigUint64Array.from([0n, 2n ** 64n - 1n]) },
    scalar: { dtype: 'I64', shape: [], data: BigInt64Array.from([42n]) },
    empty: { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
  };
}

function expectSameTensors(a: Map<string, SafetensorsTensor>, b: Record<string, SafetensorsTensor>): void {
  expect([...a.keys()].sort()).toEqual(Object.keys(b).sort());
  for (const [name, want] of Object.entries(b)) {
    const got = a.get(name)!;
    expect(got.dtype, name).toBe(want.dtype);
    expect(got.shape, name).toEqual(want.shape);
    expect(got.data.constructor, name).toBe(want.data.constructor);
    expect(bytes(got).equals(bytes(want)), name).toBe(true);
  }
}

/** A hand-made file: 8-byte length, header text as given, then `data`. */
function rawFile(header: string | Buffer, data: Buffer = Buffer.alloc(0), lengthOverride?: bigint): Buffer {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(lengthOverride ?? BigInt(h.length));
  return Buffer.concat([prefix, h, data]);
}

describe('safetensors round trip', () => {
  it('covers every supported dtype', () => {
    expect([...SAFETENSORS_DTYPES].sort()).toEqual(
      ['BOOL', 'U8', 'I8', 'F8_E4M3', 'F8_E5M2', 'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64'].sort(),
    );
    const used = new Set(Object.values(everyDtype()).map((t) => t.dtype));
    expect([...used].sort()).toEqual([...SAFETENSORS_DTYPES].sort());
  });

  it('writes and reads back every dtype bit for bit (file and buffer)', () => {
    const tensors = everyDtype();
    const file = path.join(tmp, 'all.safetensors');
    writeSafetensors(file, tensors);
    expectSameTensors(readSafetensors(file), tensors);
    const buf = serializeSafetensors(tensors);
    expect(buf.equals(fs.readFileSync(file))).toBe(true);
    expectSameTensors(readSafetensors(buf), tensors);
  });

  it('accepts Tensor values (as F32) and a Map', () => {
    const t = new Tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
    const m = readSafetensors(serializeSafetensors(new Map([['w', t]])));
    const w = m.get('w')!;
    expect(w.dtype).toBe('F32');
    expect(w.shape).toEqual([2, 3]);
    expect(Array.from(w.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(toTensor(w).shape).toEqual([2, 3]);
  });

  it('uses the reference layout: 8-aligned header padded with spaces, metadata first, larger dtypes first', () => {
    const buf = serializeSafetensors(everyDtype(), { format: 'pt', note: 'héllo' });
    const n = Number(buf.readBigUInt64LE(0));
    expect(n % 8).toBe(0);
    const text = buf.subarray(8, 8 + n).toString('utf8');
    expect(text).toMatch(/^\{"__metadata__":\{"format":"pt","note":"héllo"\},/);
    expect(text.trimEnd().endsWith('}')).toBe(true);
    expect(/^ *$/.test(text.slice(text.trimEnd().length))).toBe(true);
    const header = readSafetensorsHeader(buf);
    expect(header.dataStart).toBe(8 + n);
    const order = header.tensors.map((t) => t.name);
    expect(order).toEqual(['f64', 'i64', 'scalar', 'u64', 'f32', 'empty', 'i32', 'u32', 'bf16', 'f16', 'i16', 'u16', 'bool', 'f8e4m3', 'f8e5m2', 'i8', 'u8'].sort((a, b) => {
      const size = (name: string): number => ({ f64: 8, i64: 8, scalar: 8, u64: 8, f32: 4, empty: 4, i32: 4, u32: 4, bf16: 2, f16: 2, i16: 2, u16: 2 } as Record<string, number>)[name] ?? 1;
      return size(b) - size(a) || (a < b ? -1 : 1);
    }));
    for (const t of header.tensors) {
      const itemsize = { F64: 8, I64: 8, U64: 8, F32: 4, I32: 4, U32: 4 }[t.dtype as string] ?? 1;
      expect((header.dataStart + t.dataOffsets[0]) % itemsize, t.name).toBe(0); // natural alignment
    }
  });

  it('round-trips metadata and rejects non-string metadata values', () => {
    const file = path.join(tmp, 'meta.safetensors');
    const meta = { arch: JSON.stringify({ model: 'resnet20', layer: 'adder' }), empty: '' };
    writeSafetensors(file, { x: { dtype: 'F32', shape: [1], data: Float32Array.from([1]) } }, meta);
    const read = readSafetensors(file);
    expect(read).toBeInstanceOf(SafetensorsMap);
    expect(read).toBeInstanceOf(Map);
    expect(read.metadata).toEqual(meta);
    expect(readSafetensorsHeader(file).metadata).toEqual(meta);
    expect(readSafetensors(serializeSafetensors({})).metadata).toEqual({});
    expect(() => writeSafetensors(file, {}, { epochs: 3 } as unknown as Record<string, string>)).toThrow(
      'Expected a string (safetensors metadata values are strings) for metadata["epochs"] but received 3',
    );
  });

  it('validates what it writes', () => {
    const file = path.join(tmp, 'bad.safetensors');
    const f = (t: unknown) => () => writeSafetensors(file, { t } as never);
    expect(f({ dtype: 'F32', shape: [3], data: new Float32Array(2) })).toThrow(
      'Expected 3 elements for shape [3] for tensors["t"].data but received 2 elements',
    );
    expect(f({ dtype: 'F64', shape: [2], data: new Float32Array(2) })).toThrow(
      'Expected a Float64Array for dtype F64 for tensors["t"].data but received Float32Array of length 2',
    );
    expect(f({ dtype: 'X', shape: [2], data: new Float32Array(2) })).toThrow(RangeError);
    expect(f({ dtype: 'F32', shape: [-1], data: new Float32Array(0) })).toThrow(/an array of integers >= 0/);
    expect(() => writeSafetensors(file, { __metadata__: new Tensor(new Float32Array(1), [1]) })).toThrow(/"__metadata__"/);
    expect(fs.existsSync(file)).toBe(false);
  });
});

describe('F16 / BF16 conversions', () => {
  it('encodes float32 values to half precision with round-to-nearest-even', () => {
    const cases: [number, number][] = [
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [65520, 0x7c00], // rounds up to infinity
      [65519, 0x7bff],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -24, 0x0001], // smallest subnormal
      [2 ** -25, 0x0000], // tie to even (0)
      [1.5 * 2 ** -25, 0x0001],
      [2 ** -14, 0x0400], // smallest normal
      [1 + 2 ** -11, 0x3c00], // tie to even
      [1 + 3 * 2 ** -11, 0x3c02],
      [-0, 0x8000],
      [1e-9, 0],
    ];
    for (const [v, bits] of cases) expect(numberToF16Bits(v), String(v)).toBe(bits);
    expect(numberToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
    expect(numberToF16Bits(NaN) & 0x3ff).not.toBe(0);
    const mismatches: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const v = f16BitsToNumber(h);
      if (!Number.isNaN(v) && numberToF16Bits(v) !== h) mismatches.push(h);
    }
    expect(mismatches).toEqual([]); // every finite half and both infinities survive a round trip
  });

  it('encodes bfloat16 with round-to-nearest-even and decodes exactly', () => {
    expect(numberToBf16Bits(1)).toBe(0x3f80);
    expect(numberToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie to even
    expect(numberToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(numberToBf16Bits(-2)).toBe(0xc000);
    expect(Number.isNaN(bf16BitsToNumber(numberToBf16Bits(NaN)))).toBe(true);
    expect(bf16BitsToNumber(0x3f80)).toBe(1);
    expect(bf16BitsToNumber(0xc049)).toBeCloseTo(-3.140625, 10);
  });

  it('writes F16/BF16 from a Float32Array and toFloat32Array decodes every dtype', () => {
    const values = Float32Array.from([0, 1, -2.5, 1024, 0.333251953125]);
    const m = readSafetensors(
      serializeSafetensors({
        h: { dtype: 'F16', shape: [5], data: values },
        b: { dtype: 'BF16', shape: [5], data: values },
      }),
    );
    expect(Array.from(toFloat32Array(m.get('h')!))).toEqual(Array.from(values));
    expect(Array.from(toFloat32Array(m.get('b')!))).toEqual([0, 1, -2.5, 1024, 0.333984375]);
    const all = readSafetensors(serializeSafetensors(everyDtype()));
    expect(Array.from(toFloat32Array(all.get('i64')!))).toEqual([-(2 ** 63), 0, 2 ** 63]);
    expect(Array.from(toFloat32Array(all.get('bool')!))).toEqual([0, 1, 1, 0, 1]);
    expect(Array.from(toFloat32Array(all.get('f8e4m3')!)).slice(0, 2)).toEqual([1, -1]);
    expect(Number.isNaN(toFloat32Array(all.get('f8e4m3')!)[2])).toBe(true);
    expect(Array.from(toFloat32Array(all.get('f8e5m2')!))).toEqual([1, -1, Infinity]);
    expect(Array.from(toFloat32Array(all.get('f64')!))[0]).toBe(Math.fround(Math.PI));
    const f32 = all.get('f32')!;
    expect(toFloat32Array(f32)).toBe(f32.data); // F32 is not copied
  });
});

describe('atomic writes', () => {
  const listTemp = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

  it('leaves no temporary file behind and replaces the old file', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, { a: { dtype: 'U8', shape: [1], data: Uint8Array.from([1]) } });
    writeSafetensors(file, { b: { dtype: 'U8', shape: [1], data: Uint8Array.from([2]) } });
    expect(fs.readdirSync(dir)).toEqual(['model.safetensors']);
    expect([...readSafetensors(file).keys()]).toEqual(['b']);
  });

  it('keeps the old file intact when the write is interrupted mid-way', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, everyDtype(), { version: 'old' });
    const before = fs.readFileSync(file);
    const big = new Uint8Array(1 << 20).fill(7);
    function* chunks(): Generator<Uint8Array> {
      yield serializeSafetensors(everyDtype(), { version: 'new' });
      yield big; // part of the new file is on disk ...
      throw new Error('simulated crash'); // ... when the writer dies
    }
    expect(() => writeFileAtomicSync(file, chunks())).toThrow('simulated crash');
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(readSafetensors(file).metadata.version).toBe('old');
    expect(listTemp(dir)).toEqual([]);
  });

  it('cleans up when the rename fails', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'atomic-'));
    const target = path.join(dir, 'occupied');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'x'), 'x'); // a non-empty directory cannot be replaced by a file
    expect(() => writeSafetensors(target, {})).toThrow(/EISDIR|ENOTEMPTY|EEXIST|EPERM/);
    expect(listTemp(dir)).toEqual([]);
  });

  it('replaces the file a symbolic link points to, keeping the link', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'link-'));
    const real = path.join(dir, 'real.safetensors');
    const link = path.join(dir, 'link.safetensors');
    writeSafetensors(real, {}, { v: '1' });
    fs.symlinkSync(real, link);
    writeSafetensors(link, {}, { v: '2' });
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readSafetensors(real).metadata.v).toBe('2');
  });

  it('keeps the permissions of the file it replaces', () => {
    const file = path.join(tmp, 'mode.safetensors');
    writeSafetensors(file, {});
    fs.chmodSync(file, 0o600);
    writeSafetensors(file, {});
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });

  it.skipIf(process.platform === 'win32' || process.getuid?.() === 0)('fails cleanly in a read-only directory (not as root)', () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'ro-'));
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, { v: { dtype: 'U8', shape: [1], data: Uint8Array.from([1]) } });
    const before = fs.readFileSync(file);
    fs.chmodSync(dir, 0o500);
    try {
      expect(() => writeSafetensors(file, { v: { dtype: 'U8', shape: [1], data: Uint8Array.from([2]) } })).toThrow(/EACCES|EPERM/);
      expect(fs.readFileSync(file).equals(before)).toBe(true);
    } finally {
      fs.chmodSync(dir, 0o700);
    }
  });
});

describe('hostile and corrupt files', () => {
  const good = (): Buffer =>
    serializeSafetensors({
      a: { dtype: 'F32', shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) },
      b: { dtype: 'I32', shape: [2], data: Int32Array.from([5, 6]) },
    });

  function rejects(buf: Buffer, pattern: RegExp | string): void {
    let err: unknown;
    try {
      readSafetensors(buf, { name: 'evil.safetensors' });
    } catch (e) {
      err = e;
    }
    expect(err, String(pattern)).toBeInstanceOf(RangeError);
    expect((err as { code: string }).code).toBe('ERR_ADDERNET_FORMAT');
    expect((err as Error).message).toContain('safetensors file "evil.safetensors"');
    if (typeof pattern === 'string') expect((err as Error).message).toBe(pattern);
    else expect((err as Error).message).toMatch(pattern);
  }

  const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
  const file = (header: object, dataBytes: number): Buffer => rawFile(JSON.stringify(header), Buffer.alloc(dataBytes));

  it('rejects files shorter than the length prefix', () => {
    rejects(Buffer.from([1, 2, 3]), 'Expected at least 8 bytes (the header length) for safetensors file "evil.safetensors" but received a file of 3 bytes');
    rejects(Buffer.alloc(0), /a file of 0 bytes/);
  });

  it('rejects an absurd header length without allocating it', () => {
    rejects(
      rawFile('{}', Buffer.alloc(0), 2n ** 64n - 1n),
      'Expected at most 4194304 bytes for the header length in safetensors file "evil.safetensors" but received 18446744073709551615 (corrupt or not a safetensors file)',
    );
    rejects(rawFile('{}', Buffer.alloc(0), 4n * 1024n * 1024n + 1n), /at most 4194304 bytes/);
  });

  it('rejects a header length larger than the file', () => {
    rejects(
      rawFile('{}', Buffer.alloc(0), 1000n),
      'Expected at most 2 bytes (the file is 10 bytes long) for the header length in safetensors file "evil.safetensors" but received 1000 (the file is truncated or not a safetensors file)',
    );
    const g = good();
    rejects(g.subarray(0, 20), /the file is truncated/);
  });

  it('rejects a truncated data section', () => {
    const g = good();
    rejects(g.subarray(0, g.length - 4), /out of range: the file is truncated or corrupt/);
  });

  it('rejects invalid headers', () => {
    rejects(rawFile('{"a": '), /valid JSON for the header .* but received invalid JSON/);
    rejects(rawFile(Buffer.from([0x7b, 0xff, 0xfe, 0x7d])), /UTF-8 encoded JSON .* but received bytes that are not valid UTF-8/);
    rejects(rawFile('[1, 2]'), /Expected a JSON object \(text starting with '\{'\) for the header .* but received text starting with "\[1, 2\]"/);
    rejects(rawFile('null     '), /a JSON object/);
    rejects(file({ __metadata__: { epochs: 3 } }, 0), 'Expected a string for __metadata__["epochs"] in safetensors file "evil.safetensors" but received 3');
    rejects(file({ __metadata__: [1] }, 0), /an object of string values for __metadata__/);
    rejects(file({ a: 5 }, 0), /\{ dtype, shape, data_offsets \} for the header entry of tensor "a"/);
  });

  it('bounds nesting depth and refuses duplicate keys before parsing (issue 8)', () => {
    // 100,000 nested arrays: JSON.parse would succeed and describe() overflow the stack.
    const deep = '{"a": {"x": ' + '['.repeat(100_000) + ']'.repeat(100_000) + '}}';
    rejects(rawFile(deep), /Expected JSON nested at most 64 deep for the header .* but received deeper nesting at byte 74/);
    // A container where an entry should be is refused without being scanned.
    rejects(rawFile('{"a": ' + '['.repeat(100_000) + ']'.repeat(100_000) + '}'), /an object \{ dtype, shape, data_offsets \} for the header entry of tensor "a" .* but received an array$/);
    const deepObject = '{"a": {"x": ' + '{"y": '.repeat(80) + '1' + '}'.repeat(81) + '}';
    rejects(rawFile(deepObject), /nested at most 64 deep/);
    // 63 levels inside an unknown field of an entry are fine (the reference ignores unknown fields).
    const ok = JSON.stringify({ a: { ...entry('F32', [1], [0, 4]), extra: JSON.parse('['.repeat(61) + ']'.repeat(61)) } });
    expect(readSafetensors(rawFile(ok, Buffer.alloc(4))).get('a')!.shape).toEqual([1]);
    // Two tensors with the same name: JSON.parse would keep the last one silently.
    const dup = '{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}';
    rejects(rawFile(dup, Buffer.alloc(4)), /Expected each key once in every JSON object for the header .* but received "a" twice \(JSON.parse would keep only the last\) at byte 62/);
    rejects(rawFile('{"__metadata__": {"k": "1", "k": "2"}}'), /"k" twice/);
    rejects(rawFile('{"a": {"dtype": "F32", "dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}'), /"dtype" twice/);
    // The flat {},{},... header of the issue: refused at the first bad entry, not after parsing all of it.
    rejects(rawFile('{"a": {}, ' + '"b": {}, '.repeat(10) + '"c": 1}'), /for dtype of tensor "a" .* but received undefined/);
    rejects(rawFile('{"a": ' + '{}, '.repeat(1000) + '}'), /for dtype of tensor "a"/);
    rejects(rawFile('{"a": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}, ' + '{}, '.repeat(1000) + '}'), /valid JSON for the header .* but received invalid JSON .* at byte 62/);
    // Metadata keys that are Object.prototype names stay plain data.
    const meta = readSafetensors(rawFile('{"__metadata__": {"__proto__": "x", "constructor": "y"}}')).metadata;
    expect(Object.getPrototypeOf(meta)).toBe(Object.prototype);
    expect(Object.keys(meta).sort()).toEqual(['__proto__', 'constructor']);
    expect(meta['constructor']).toBe('y');
  });

  it('refuses headers above SAFETENSORS_MAX_HEADER_BYTES from the length prefix alone', () => {
    const size = SAFETENSORS_MAX_HEADER_BYTES + 8;
    const big = Buffer.alloc(size, 0x20);
    big[0] = 0x7b;
    big[size - 1] = 0x7d;
    rejects(rawFile(big), /Expected at most 4194304 bytes for the header length .* but received 4194312/);
    expect(() => writeSafetensors(path.join(tmp, 'huge-header.safetensors'), {}, { pad: 'x'.repeat(SAFETENSORS_MAX_HEADER_BYTES) })).toThrow(/4194304/);
  });

  it('rejects unknown dtypes and bad shapes', () => {
    rejects(file({ a: entry('F128', [1], [0, 16]) }, 16), /Expected one of BOOL, U8, .* for dtype of tensor "a" in safetensors file "evil.safetensors" but received "F128"/);
    rejects(file({ a: entry('F32', [2, -1], [0, 8]) }, 8), 'Expected an array of integers >= 0 for shape of tensor "a" in safetensors file "evil.safetensors" but received [2, -1]');
    rejects(file({ a: entry('F32', [1.5], [0, 4]) }, 4), /integers >= 0 for shape/);
    rejects(file({ a: entry('F32', '4', [0, 16]) }, 16), /integers >= 0 for shape/);
    // 2^40 x 2^40 elements: rejected from the header alone, nothing is allocated.
    rejects(file({ a: entry('F32', [2 ** 40, 2 ** 40], [0, 16]) }, 16), /byte size is a safe integer/);
  });

  it('rejects malformed, out-of-range, mismatched, overlapping and gapped offsets', () => {
    rejects(file({ a: entry('F32', [1], [4]) }, 4), /\[begin, end\] with integers 0 <= begin <= end for data_offsets of tensor "a"/);
    rejects(file({ a: entry('F32', [1], [8, 4]) }, 8), /0 <= begin <= end/);
    rejects(file({ a: entry('F32', [1], [-4, 0]) }, 4), /0 <= begin <= end/);
    rejects(
      file({ a: entry('F32', [4], [0, 1e12]) }, 16),
      'Expected offsets within the 16 bytes of tensor data for data_offsets of tensor "a" in safetensors file "evil.safetensors" but received [0, 1000000000000] (out of range: the file is truncated or corrupt)',
    );
    rejects(
      file({ a: entry('F32', [2, 2], [0, 12]) }, 12),
      'Expected a range of 16 bytes (F32 x [2, 2]) for data_offsets of tensor "a" in safetensors file "evil.safetensors" but received [0, 12] (12 bytes)',
    );
    rejects(file({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }, 12), /starting at byte 8, where the previous tensor ends \(tensors must not overlap or leave gaps\) for data_offsets of tensor "b"/);
    rejects(file({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [12, 20]) }, 20), /starting at byte 8.*must not overlap or leave gaps/);
    rejects(file({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [0, 8]) }, 8), /starting at byte 8/);
    rejects(file({ a: entry('F32', [2], [4, 12]) }, 12), /starting at byte 0/);
  });

  it('rejects trailing bytes not covered by any tensor', () => {
    rejects(
      Buffer.concat([good(), Buffer.alloc(3)]),
      'Expected 24 bytes (what the header describes) for the data section in safetensors file "evil.safetensors" but received 27 bytes (3 trailing bytes not covered by any tensor)',
    );
  });

  it('names the path of a corrupt file on disk', () => {
    const bad = path.join(tmp, 'truncated.safetensors');
    fs.writeFileSync(bad, fs.readFileSync(CKPT).subarray(0, 100_000));
    expect(() => readSafetensors(bad)).toThrow(`in safetensors file ${JSON.stringify(bad)}`);
    expect(() => readSafetensors(bad)).toThrow(/out of range: the file is truncated or corrupt/);
    expect(() => readSafetensors(path.join(tmp, 'missing.safetensors'))).toThrow(/ENOENT/);
    expect(() => readSafetensors(42 as never)).toThrow('Expected a file path or a Buffer for source but received 42');
  });

  it('accepts zero tensors and zero-size tensors', () => {
    expect(readSafetensors(rawFile('{}')).size).toBe(0);
    expect(readSafetensors(rawFile('{}      ')).size).toBe(0);
    const m = readSafetensors(file({ e: entry('F64', [0, 5], [0, 0]) }, 0));
    expect(m.get('e')!.data).toBeInstanceOf(Float64Array);
    expect(m.get('e')!.data.length).toBe(0);
  });
});

describe('fixtures written by PyTorch safetensors', () => {
  it('loads the authors ResNet-20 AdderNet checkpoint', () => {
    const m = readSafetensors(CKPT);
    expect(m.size).toBe(132);
    expect(m.metadata.format).toBe('pt');
    const shape = (name: string): number[] => m.get(name)!.shape;
    expect(shape('module.conv1.weight')).toEqual([16, 3, 3, 3]);
    expect(shape('module.layer1.0.conv1.adder')).toEqual([16, 16, 3, 3]);
    expect(shape('module.layer2.0.conv1.adder')).toEqual([32, 16, 3, 3]);
    expect(shape('module.layer2.0.downsample.0.adder')).toEqual([32, 16, 1, 1]);
    expect(shape('module.layer3.0.downsample.0.adder')).toEqual([64, 32, 1, 1]);
    expect(shape('module.layer3.2.conv2.adder')).toEqual([64, 64, 3, 3]);
    expect(shape('module.fc.weight')).toEqual([10, 64, 1, 1]);
    expect(shape('module.bn2.running_var')).toEqual([10]);
    const adders = [...m.keys()].filter((k) => k.endsWith('.adder'));
    expect(adders.length).toBe(20); // 18 block layers + 2 downsampling shortcuts
    for (const [name, t] of m) {
      if (name.endsWith('num_batches_tracked')) {
        expect(t.dtype, name).toBe('I64');
        expect(t.data).toBeInstanceOf(BigInt64Array);
        expect(t.data.length).toBe(1); // stored with shape [1] in this checkpoint (a scalar [] is also supported)
        expect((t.data as BigInt64Array)[0] > 0n).toBe(true);
      } else {
        expect(t.dtype, name).toBe('F32');
        expect(t.data).toBeInstanceOf(Float32Array);
        expect((t.data as Float32Array).every(Number.isFinite), name).toBe(true);
      }
      if (name.endsWith('running_var')) expect((t.data as Float32Array).every((v) => v > 0), name).toBe(true);
    }
  });

  it('re-serialises the checkpoint losslessly', () => {
    const m = readSafetensors(CKPT);
    const file = path.join(tmp, 'copy.safetensors');
    writeSafetensors(file, m, m.metadata);
    const again = readSafetensors(file);
    expect(again.metadata).toEqual(m.metadata);
    expectSameTensors(again, Object.fromEntries(m));
    const fromBuffer = readSafetensors(fs.readFileSync(CKPT));
    expectSameTensors(fromBuffer, Object.fromEntries(m));
  });

  it('loads the reference input/logit pairs', () => {
    const m = readSafetensors(IO);
    expect([...m.keys()].sort()).toEqual(['input', 'logits', 'logits_float64']);
    expect(m.get('input')!).toMatchObject({ dtype: 'F32', shape: [8, 3, 32, 32] });
    expect(m.get('logits')!).toMatchObject({ dtype: 'F32', shape: [8, 10] });
    expect(m.get('logits_float64')!).toMatchObject({ dtype: 'F64', shape: [8, 10] });
    expect(m.get('logits_float64')!.data).toBeInstanceOf(Float64Array);
    const l32 = m.get('logits')!.data as Float32Array;
    const l64 = m.get('logits_float64')!.data as Float64Array;
    let maxDiff = 0;
    for (let i = 0; i < 80; i++) maxDiff = Math.max(maxDiff, Math.abs(l32[i] - l64[i]));
    expect(maxDiff).toBeGreaterThan(0);
    expect(maxDiff).toBeLessThan(1e-3);
    const header = readSafetensorsHeader(IO);
    expect(header.byteLength).toBe(fs.statSync(IO).size);
    expect(header.tensors.map((t) => t.name)).toEqual(['input', 'logits', 'logits_float64']);
  });
});
