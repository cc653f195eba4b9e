// Small helpers shared by the comparison suite: deterministic data, timing
// statistics, resident-memory probes, atomic file writes.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';

/** Repository root (this file compiles to dist/bench/suite/common.js). */
export const repoRoot = path.resolve(__dirname, '..', '..', '..');

/** Deterministic values in [-1, -0.05] U [0.05, 1] (same generator as bench/kernels.ts). */
export function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let z = Math.imul(s ^ (s >>> 15), 1 | s);
    z ^= z + Math.imul(z ^ (z >>> 7), 61 | z);
    const u = ((z ^ (z >>> 14)) >>> 0) / 2 ** 32;
    out[i] = (u < 0.5 ? -1 : 1) * (0.05 + 0.95 * Math.abs(2 * u - 1));
  }
  return out;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * How V8's garbage collector shares the machine: `npm run bench` and
 * `bench:kernels` start node with --single-threaded-gc, so that sweeping
 * after the forced gc() before each timed call does not run on helper threads
 * that compete with the kernel threads for the cores.
 */
export const gcNote = process.execArgv.includes('--single-threaded-gc')
  ? "V8's GC on the main thread only (node --single-threaded-gc), a full gc() before each timed call"
  : "V8's GC with its default helper threads, a full gc() before each timed call";

v8.setFlagsFromString('--expose-gc');
/** Full garbage collection, so a previous call's garbage is not swept while the next one is timed. */
export const gc = vm.runInNewContext('gc') as () => void;

// Resident memory of this process from /proc (Linux). Writing 5 to
// clear_refs resets the high-water mark to the current RSS, so the mark read
// after a call is that call's peak.
const STATUS = '/proc/self/status';
let canResetPeak: boolean | undefined;

function statusKb(field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = fs.readFileSync(STATUS, 'utf8').match(new RegExp(`${field}:\\s+(\\d+) kB`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the peak-RSS mark; returns the RSS (MiB) before the call, or undefined where unsupported. */
export function resetPeakRss(): number | undefined {
  if (canResetPeak === false) return undefined;
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    canResetPeak = true;
  } catch {
    canResetPeak = false;
    return undefined;
  }
  const kb = statusKb('VmRSS');
  return kb === undefined ? undefined : kb / 1024;
}

/** Peak RSS (MiB) since the last resetPeakRss(). */
export function peakRss(): number | undefined {
  if (!canResetPeak) return undefined;
  const kb = statusKb('VmHWM');
  return kb === undefined ? undefined : kb / 1024;
}

export function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

/** Writes a file atomically (temp file in the same folder, then rename). */
export function writeAtomic(file: string, data: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

/**
 * Replaces the section of bench/RESULTS.md between `begin` and `end` (markers
 * included in `section`), or appends it; every other section stays as it is.
 */
export function updateResultsSection(begin: string, end: string, section: string, file = path.join(repoRoot, 'bench', 'RESULTS.md')): void {
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmark results\n';
  const b = old.indexOf(begin);
  const e = old.indexOf(end);
  const next = b >= 0 && e > b ? old.slice(0, b) + section + old.slice(e + end.length) : `${old.trimEnd()}\n\n${section}\n`;
  writeAtomic(file, next);
}

export function gitCommit(): string | undefined {
  try {
    const sha = execSync('git rev-parse --short HEAD', { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execSync('git status --porcelain --untracked-files=no', { cwd: repoRoot, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return undefined;
  }
}

/** Float32Array view of `data` laid out [N,C,H,W] -> [N,H,W,C]. */
export function nchwToNhwc(data: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let a = 0; a < n; a++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((a * h + y) * w + x) * c + ch] = data[((a * c + ch) * h + y) * w + x];
  return out;
}

/** [N,H,W,C] -> [N,C,H,W]. */
export function nhwcToNchw(data: Float32Array | ArrayLike<number>, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(n * c * h * w);
  for (let a = 0; a < n; a++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) out[((a * c + ch) * h + y) * w + x] = data[((a * h + y) * w + x) * c + ch];
  return out;
}

/** Filters [T,C,KH,KW] -> [KH,KW,C,T] (TensorFlow's HWIO). */
export function oihwToHwio(data: Float32Array, t: number, c: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let o = 0; o < t; o++)
    for (let i = 0; i < c; i++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) out[((y * kw + x) * c + i) * t + o] = data[((o * c + i) * kh + y) * kw + x];
  return out;
}

export function hwioToOihw(data: Float32Array | ArrayLike<number>, t: number, c: number, kh: number, kw: number): Float32Array {
  const out = new Float32Array(t * c * kh * kw);
  for (let o = 0; o < t; o++)
    for (let i = 0; i < c; i++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) out[((o * c + i) * kh + y) * kw + x] = data[((y * kw + x) * c + i) * t + o];
  return out;
}

/** max |a - b| / max(1, max |b|). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let diff = 0, scale = 1;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** The machine and build a benchmark ran on, printed and stored with its figures. */
export function machineInfo<B>(backend: B, supportedIsas: readonly string[]) {
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    backend,
    supportedIsas: [...supportedIsas],
    commit: gitCommit(),
    loadAverage: os.loadavg()[0],
    date: new Date().toISOString(),
  };
}
