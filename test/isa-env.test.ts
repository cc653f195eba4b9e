// The compiled package as users load it, in child processes:
//  - ADDERNET_ISA forces each path this CPU supports (backendInfo reports it,
//    and the forced path computes the same result as the others);
//  - a bad ADDERNET_ISA or ADDERNET_NUM_THREADS falls back with a warning;
//  - require('addernet'), import from 'addernet' and import from
//    dist/lib/index.js all work, and the published types compile.
// These need dist/: it is built here when missing.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { supportedIsas } from '../lib/index';

const repo = path.resolve(__dirname, '..');
const distIndex = path.join(repo, 'dist', 'lib', 'index.js');
const isas = supportedIsas();
let tmp: string;

beforeAll(() => {
  if (!fs.existsSync(distIndex)) {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [repo] }), '-p', path.join(repo, 'tsconfig.json')], {
      cwd: repo,
      stdio: 'pipe',
    });
  }
  expect(fs.existsSync(distIndex)).toBe(true);
  // A consumer project whose node_modules/addernet is this checkout.
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-consumer-'));
  fs.mkdirSync(path.join(tmp, 'node_modules'));
  fs.symlinkSync(repo, path.join(tmp, 'node_modules', 'addernet'), 'dir');
}, 120_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Child { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function node(args: string[], env: Record<string, string | undefined> = {}, cwd = repo): Child {
  const childEnv: Record<string, string | undefined> = { ...process.env, ...env };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete childEnv[k];
  const r = spawnSync(process.execPath, args, { cwd, env: childEnv as NodeJS.ProcessEnv, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a CommonJS snippet that prints one JSON line; returns it parsed. */
function runJson(code: string, env: Record<string, string | undefined> = {}, cwd = repo): any {
  const r = node(['-e', code], env, cwd);
  expect(r.signal, r.stderr).toBeNull();
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

// x [1, 3, 5, 6], w [4, 3, 3, 3] from a fixed formula, so every child computes the same thing.
const compute = `
  const xs = new Float32Array(90).map((_, i) => Math.sin(i * 1.7));
  const ws = new Float32Array(108).map((_, i) => Math.cos(i * 0.9));
  const x = a.tensor(xs, [1, 3, 5, 6]);
  const w = a.tensor(ws, [4, 3, 3, 3]);
  const y = Array.from(a.ops.adder2d(x, w, { padding: 1 }).dataSync());
  const c = Array.from(a.ops.conv2d(x, w, { padding: 1 }).dataSync());
`;

describe('ADDERNET_ISA', () => {
  const results: Record<string, { y: number[]; c: number[] }> = {};

  it.each(isas)('ADDERNET_ISA=%s forces that path', (isa) => {
    const out = runJson(
      `const a = require(${JSON.stringify(repo)}); ${compute}
       console.log(JSON.stringify({ info: a.backendInfo(), y, c }));`,
      { ADDERNET_ISA: isa },
    );
    expect(out.info.isa).toBe(isa);
    expect(out.info.cuda).toBe(false);
    expect(out.info.threads).toBeGreaterThanOrEqual(1);
    expect(out.y).toHaveLength(4 * 5 * 6);
    expect(out.y.every((v: number) => v <= 0)).toBe(true);
    results[isa] = { y: out.y, c: out.c };
  });

  it('without ADDERNET_ISA the best supported path is chosen, and all paths agree', () => {
    const out = runJson(
      `const a = require(${JSON.stringify(repo)}); ${compute}
       console.log(JSON.stringify({ info: a.backendInfo(), y, c }));`,
      { ADDERNET_ISA: undefined },
    );
    expect(out.info.isa).toBe(isas[isas.length - 1]);
    for (const isa of isas) {
      const r = results[isa];
      expect(r, `the ${isa} child ran`).toBeDefined();
      for (let i = 0; i < out.y.length; i++) {
        expect(Math.abs(r.y[i] - out.y[i])).toBeLessThan(1e-4);
        expect(Math.abs(r.c[i] - out.c[i])).toBeLessThan(1e-4);
      }
    }
  });

  it('ADDERNET_NUM_THREADS sets the pool size', () => {
    const out = runJson(`const a = require(${JSON.stringify(repo)}); console.log(JSON.stringify(a.backendInfo()));`, {
      ADDERNET_NUM_THREADS: '3',
    });
    expect(out.threads).toBe(3);
  });

  it('ADDERNET_CACHE_LIMIT sets the allocator cache (bytes or K/M/G); a bad value falls back with a warning', () => {
    const info = (env: Record<string, string>) =>
      runJson(`const a = require(${JSON.stringify(repo)}); console.log(JSON.stringify(a.backendInfo()));`, env);
    expect(info({ ADDERNET_CACHE_LIMIT: '512M' }).cacheLimit).toBe(512 * 2 ** 20);
    expect(info({ ADDERNET_CACHE_LIMIT: '0' }).cacheLimit).toBe(0);
    const fallback = info({});
    expect(fallback.cacheLimit).toBeGreaterThan(0);
    const bad = info({ ADDERNET_CACHE_LIMIT: 'lots' });
    expect(bad.cacheLimit).toBe(fallback.cacheLimit);
    expect(bad.warnings).toEqual([`ADDERNET_CACHE_LIMIT="lots" is not a byte count (e.g. 1073741824, 512M, 2G); using ${fallback.cacheLimit} bytes`]);
  });

  it('ADDERNET_ISA=bogus falls back to the best path with a warning at load; setIsa still works', () => {
    const best = isas[isas.length - 1];
    const r = node(['-e', `const a = require(${JSON.stringify(repo)}); ${compute}
      const before = a.backendInfo(); a.setIsa('scalar');
      console.log(JSON.stringify({ before, after: a.backendInfo().isa, y: y.length, c: c.length }));`], { ADDERNET_ISA: 'bogus' });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.before.isa).toBe(best);
    expect(out.before.warnings).toHaveLength(1);
    expect(out.before.warnings[0]).toMatch(/ADDERNET_ISA.*"bogus".*using/);
    expect(out.after).toBe('scalar');
    expect(out.y).toBe(4 * 5 * 6);
    // Said once, at load, as a process warning with a code.
    expect(r.stderr.match(/\[ADDERNET_ENVIRONMENT\] AddernetWarning: .*bogus/g)).toHaveLength(1);
  });

  it('an ISA the CPU lacks falls back with a warning', () => {
    const missing = (['scalar', 'avx2', 'avx512'] as const).filter((i) => !isas.includes(i));
    if (missing.length === 0) {
      // Every path is supported here; nothing to refuse. Check the ordering claim instead.
      expect(isas).toEqual(['scalar', 'avx2', 'avx512']);
      return;
    }
    const out = runJson(`const a = require(${JSON.stringify(repo)}); console.log(JSON.stringify(a.backendInfo()));`, {
      ADDERNET_ISA: missing[0],
    });
    expect(out.isa).toBe(isas[isas.length - 1]);
    expect(out.warnings[0]).toMatch(/does not support/);
  });

  it.each(['3000', '0', '-2', 'four', '2x', '1e3'])('ADDERNET_NUM_THREADS=%s falls back to the core count with a warning', (value) => {
    const out = runJson(`const a = require(${JSON.stringify(repo)}); console.log(JSON.stringify(a.backendInfo()));`, {
      ADDERNET_NUM_THREADS: value,
    });
    expect(out.threads).toBe(os.cpus().length);
    expect(out.warnings).toEqual([expect.stringContaining(`from 1 to 1024 for ADDERNET_NUM_THREADS but received "${value}"`)]);
  });

  it('a clean environment gives no warnings', () => {
    const out = runJson(`const a = require(${JSON.stringify(repo)}); console.log(JSON.stringify(a.backendInfo()));`, {
      ADDERNET_NUM_THREADS: undefined, ADDERNET_ISA: undefined,
    });
    expect(out.warnings).toEqual([]);
    expect(out.layerMemoryLimit).toBeGreaterThan(2 ** 28);
  });
});

describe('module formats', () => {
  const check = `
    if (typeof tensor !== 'function' || typeof ops.adder2d !== 'function') throw new Error('missing exports');
    const y = ops.adder2d(tensor(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]), tensor(new Float32Array([0, 2, 5, 4]), [1, 1, 2, 2]));
    console.log(JSON.stringify({ y: Array.from(y.dataSync()), isa: backendInfo().isa }));`;

  it('require("addernet") from a consumer project', () => {
    const out = runJson(`const { tensor, ops, backendInfo } = require('addernet'); ${check}`, {}, tmp);
    expect(out.y).toEqual([-3]);
    expect(isas).toContain(out.isa);
  });

  it('import from dist/lib/index.js (ESM importing the CommonJS build)', () => {
    const file = path.join(tmp, 'dist-import.mjs');
    fs.writeFileSync(file, `import { tensor, ops, backendInfo } from ${JSON.stringify(distIndex)};\n${check}\n`);
    const r = node([file], {}, tmp);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).y).toEqual([-3]);
  });

  it('import from "addernet" (named and default imports)', () => {
    const file = path.join(tmp, 'pkg-import.mjs');
    fs.writeFileSync(
      file,
      `import { tensor, ops, backendInfo, setNumThreads, supportedIsas, Tensor, zeros } from 'addernet';
       import addernet from 'addernet';
       if (addernet.ops !== ops || typeof setNumThreads !== 'function' || typeof Tensor !== 'function' || typeof zeros !== 'function') throw new Error('bad exports');
       if (!(zeros([2]) instanceof Tensor) || !supportedIsas().includes('scalar')) throw new Error('bad values');
       ${check}\n`,
    );
    const r = node([file], {}, tmp);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).y).toEqual([-3]);
  });

  it('the published types compile in a consumer (node16 resolution, ESM and CommonJS)', () => {
    fs.writeFileSync(
      path.join(tmp, 'consumer.mts'),
      `import { tensor, ops, backendInfo, type Tensor, type BackendInfo } from 'addernet';
       const x: Tensor = tensor(new Float32Array(4), [1, 1, 2, 2]);
       const y: Tensor = ops.adder2d(x, x, { stride: 1, padding: [0, 0] });
       const g = ops.adder2dBackward(x, x, y, { bias: true });
       const gw: Tensor = g.gradWeight;
       const info: BackendInfo = backendInfo();
       const isa: 'avx512' | 'avx2' | 'scalar' = info.isa;
       // @ts-expect-error the weight is required
       ops.adder2d(x);
       // @ts-expect-error stride is a number or a pair of numbers
       ops.adder2d(x, x, { stride: 'one' });
       export { gw, isa };\n`,
    );
    fs.writeFileSync(
      path.join(tmp, 'consumer.cts'),
      `import addernet = require('addernet');
       const t: addernet.Tensor = addernet.tensor(new Float32Array(1), [1]);
       export = t;\n`,
    );
    fs.writeFileSync(
      path.join(tmp, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'node16', moduleResolution: 'node16', strict: true, noEmit: true, skipLibCheck: false,
          // A Node consumer has @types/node (the declarations mention Buffer); use the repo's copy.
          types: ['node'], typeRoots: [path.join(repo, 'node_modules', '@types')],
        },
        files: ['consumer.mts', 'consumer.cts'],
      }),
    );
    const tsc = require.resolve('typescript/bin/tsc', { paths: [repo] });
    const r = node([tsc, '-p', path.join(tmp, 'tsconfig.json')], {}, tmp);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  }, 60_000);
});
