// Shared helpers of the training-API tests (nn-layers, models, training,
// checkpoint, predict): a seeded RNG independent of the library, random
// tensors, a compiled dist/ for the predict worker, and error matchers. The
// references themselves are in ./reference.ts.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'vitest';
import { tensor, type Tensor } from '../lib/index';
import { mulberry32, sizeOf } from './reference';

export const ROOT = path.resolve(__dirname, '..');
export const FIXTURES = path.resolve(ROOT, '../shared/fixtures');
export const CKPT = path.join(FIXTURES, 'resnet20-adder-cifar10.safetensors');
export const REF_IO = path.join(FIXTURES, 'resnet20-adder-reference-io.safetensors');

/**
 * A seeded generator (./reference.ts's mulberry32, deliberately not the
 * library's Rng) with normal, integer and array draws.
 */
export function makeRng(seed: number) {
  const next = mulberry32(seed);
  const normal = (): number => {
    const u = 1 - next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * next());
  };
  return {
    next,
    normal,
    uniform: (lo: number, hi: number) => lo + (hi - lo) * next(),
    int: (n: number) => Math.floor(next() * n),
    uniformArray: (n: number, lo = -1, hi = 1) => Float32Array.from({ length: n }, () => lo + (hi - lo) * next()),
    normalArray: (n: number, std = 1) => Float32Array.from({ length: n }, () => std * normal()),
  };
}
export type TestRng = ReturnType<typeof makeRng>;

export { sizeOf };

export function randTensor(rng: TestRng, shape: number[], lo = -1, hi = 1): Tensor {
  return tensor(rng.uniformArray(sizeOf(shape), lo, hi), shape);
}

export function randnTensor(rng: TestRng, shape: number[], std = 1): Tensor {
  return tensor(rng.normalArray(sizeOf(shape), std), shape);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Bit-identical typed arrays (fast; vitest's deep equality is slow on large arrays). */
export function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export function argmaxRows(data: ArrayLike<number>, rows: number, cols: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < cols; c++) if (data[r * cols + c] > data[r * cols + best]) best = c;
    out.push(best);
  }
  return out;
}

/** Runs fn and returns what it threw (fails the test when it does not throw). */
export function caught(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the call to throw');
}

export async function rejected(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the promise to reject');
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, fs.statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Child processes (the CLI, killed writers) run dist/: compile it when it is
 * missing or older than the TypeScript sources under lib/.
 */
export function ensureDist(): void {
  const entry = path.join(ROOT, 'dist', 'lib', 'index.js');
  const built = fs.existsSync(entry) ? fs.statSync(entry).mtimeMs : -1;
  if (built >= newestMtime(path.join(ROOT, 'lib'))) return;
  try {
    execFileSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], {
      cwd: ROOT,
      stdio: 'pipe',
    });
  } catch (err) {
    // tsc still emits on type errors (elsewhere in a work in progress); only a missing dist/ is fatal.
    if (!fs.existsSync(entry)) throw err;
  }
}

/** A fresh consumer project (a temp folder) whose node_modules/addernet is this checkout. */
export function linkedConsumer(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(ROOT, path.join(dir, 'node_modules', 'addernet'), 'dir');
  return dir;
}

/**
 * Runs garbage collection until tensor finalisers have run (N-API runs them
 * after the macrotask of the collection that finds the object), so tests can
 * compare memoryInfo() with a baseline.
 */
export async function collectGarbage(): Promise<void> {
  const { setFlagsFromString } = await import('node:v8');
  const { runInNewContext } = await import('node:vm');
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 4; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

/**
 * Watches the event loop: an interval timer every `ms` counting its ticks and
 * the longest gap between them, until stop() (what "runs off the event loop"
 * tests assert on).
 */
export function watchEventLoop(ms: number): { stop(): { ticks: number; maxGap: number } } {
  let last = performance.now();
  let maxGap = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
    ticks++;
  }, ms);
  return {
    stop() {
      clearInterval(timer);
      return { ticks, maxGap };
    },
  };
}
