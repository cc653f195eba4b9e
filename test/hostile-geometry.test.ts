// Hostile geometry through the public ops and the raw binding, in child
// processes so that a crash (the old heap overflow from stride/padding was a
// SIGSEGV) fails the test instead of killing the runner: random huge,
// negative, NaN, fractional and overflowing dims, strides and paddings.
// Every case must either compute or throw an error with an ERR_ADDERNET_ code.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { mulberry32 } from './reference';

const child = path.join(__dirname, 'hostile-geometry.child.js');

type Value = number | string | null | Value[];
// Values that once wrapped an int64 product, sit at a limit, or are not integers at all.
const HOSTILE: Value[] = [
  0, -1, 1, 2, 3, 7, 2 ** 16, 2 ** 20, 2 ** 20 + 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 33, 2 ** 40, 2 ** 48,
  2 ** 53, 2 ** 53 + 2, 9.0e15, 1e300, -(2 ** 31), 1.5, 'NaN', 'Infinity', '-Infinity', '3', null,
];

interface Case {
  kind: 'conv' | 'pool' | 'raw-conv' | 'raw-pool';
  adder?: boolean;
  x?: number[];
  w?: number[];
  opts?: Record<string, Value>;
  dims?: Value[];
}

function generate(count: number, seed: number): Case[] {
  // Deterministic (mulberry32), so a failure reproduces.
  const r = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const small = () => pick([1, 2, 3, 5]);
  const hostileOrSmall = () => (r() < 0.5 ? pick(HOSTILE) : small());
  const pair = (): Value => (r() < 0.5 ? hostileOrSmall() : [hostileOrSmall(), hostileOrSmall()]);
  const cases: Case[] = [];
  for (let i = 0; i < count; ++i) {
    const kind = pick(['conv', 'pool', 'raw-conv', 'raw-pool'] as const);
    if (kind === 'conv') {
      const c = small();
      cases.push({
        kind, adder: r() < 0.5, x: [small(), c, small() + 2, small() + 2], w: [small(), c, small(), small()],
        opts: { stride: pair(), padding: pair() },
      });
    } else if (kind === 'pool') {
      cases.push({ kind, x: [small(), small(), small() + 3, small() + 3], opts: { kernelSize: pair(), stride: pair(), padding: pair() } });
    } else {
      const len = kind === 'raw-conv' ? 11 : 10;
      // Mostly small, valid-looking dims with a few hostile entries, so cases reach past the first check.
      const dims: Value[] = Array.from({ length: len }, () => (r() < 0.3 ? pick(HOSTILE) : small()));
      cases.push({ kind, adder: r() < 0.5, dims });
    }
  }
  return cases;
}

// Geometries that pass every element-count check but need absurd scratch
// (the padded copy), or that the probe found: these must be refused by the
// memory bound or the size checks, never allocate and write past a buffer.
const FIXED: Case[] = [
  { kind: 'conv', adder: true, x: [1, 1, 1, 1], w: [1, 1, 1, 1], opts: { stride: [2 ** 33, 2 ** 33], padding: [2 ** 31, 2 ** 31 - 1] } },
  { kind: 'conv', adder: false, x: [1, 1, 1, 1], w: [1, 1, 1, 1], opts: { stride: 2 ** 20, padding: 2 ** 20 } },
  { kind: 'conv', adder: true, x: [1, 1, 1, 1], w: [1, 1, 1, 1], opts: { padding: 1e300 } },
  { kind: 'raw-conv', adder: true, dims: [1, 1, 1, 1, 1, 1, 1, 2 ** 33, 2 ** 33, 2 ** 31, 2 ** 31 - 1] },
  { kind: 'raw-conv', adder: false, dims: [1, 1, 1, 1, 1, 1, 1, 2 ** 39, 2 ** 39, 2 ** 39 - 1, 2 ** 39 - 1] },
  { kind: 'raw-conv', adder: true, dims: [1, 1, 1, 1, 1, 1, 1, 2 ** 22, 2 ** 22, 2 ** 22, 2 ** 22] },
  { kind: 'raw-pool', dims: [1, 1, 2 ** 20, 2 ** 20, 1, 1, 1, 1, 0, 0] },
  { kind: 'raw-pool', dims: [2 ** 30, 2 ** 30, 1, 1, 1, 1, 1, 1, 0, 0] },
];

interface Result { i: number; start?: boolean; ok?: boolean; name?: string; code?: string; message?: string }

function runCases(cases: Case[]): { results: Result[]; status: number | null; signal: NodeJS.Signals | null; stderr: string } {
  const r = spawnSync(process.execPath, [child], { input: JSON.stringify(cases), encoding: 'utf8', timeout: 120_000 });
  const results = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Result);
  return { results, status: r.status, signal: r.signal, stderr: r.stderr };
}

describe('hostile geometry', () => {
  const cases = [...FIXED, ...generate(600, 20261202)];
  const batches: Case[][] = [];
  for (let i = 0; i < cases.length; i += 160) batches.push(cases.slice(i, i + 160));

  it.each(batches.map((b, i) => [i, b] as const))('batch %i: no crash, every error coded', (_, batch) => {
    const { results, status, signal, stderr } = runCases(batch);
    const started = results.filter((x) => x.start);
    const last = started[started.length - 1];
    // A crash names the case it died in.
    expect({ signal, status, crashedIn: signal || status !== 0 ? batch[last?.i ?? 0] : undefined }, stderr).toEqual({
      signal: null, status: 0, crashedIn: undefined,
    });
    const done = results.filter((x) => !x.start);
    expect(done).toHaveLength(batch.length);
    const uncoded = done.filter((x) => !x.ok && !/^ERR_ADDERNET_[A-Z]+$/.test(x.code ?? '')).map((x) => ({ ...x, case: batch[x.i] }));
    expect(uncoded).toEqual([]);
  });

  it('the fixed cases are refused with the right codes', () => {
    const { results } = runCases(FIXED);
    const codes = results.filter((x) => !x.start).map((x) => x.code);
    expect(codes).toEqual([
      'ERR_ADDERNET_OPTION', // stride above the bound
      'ERR_ADDERNET_MEMORY', // 17 TB padded copy
      'ERR_ADDERNET_OPTION', // padding 1e300
      'ERR_ADDERNET_SHAPE', // padded plane over 2^48 elements (wrapped int64 before)
      'ERR_ADDERNET_SHAPE',
      'ERR_ADDERNET_MEMORY', // 2^46 floats padded: within the element bound, over the memory limit
      'ERR_ADDERNET_SHAPE', // a pooling plane of 2^40 elements (argmax is int32)
      'ERR_ADDERNET_SHAPE', // 2^60 planes
    ]);
  });

  it('the generated cases exercise both outcomes', () => {
    const { results } = runCases(generate(200, 7));
    const done = results.filter((x) => !x.start);
    expect(done.some((x) => x.ok)).toBe(true);
    const codes = new Set(done.filter((x) => !x.ok).map((x) => x.code));
    for (const code of ['ERR_ADDERNET_OPTION', 'ERR_ADDERNET_SHAPE', 'ERR_ADDERNET_TYPE']) expect(codes).toContain(code);
  });
});
