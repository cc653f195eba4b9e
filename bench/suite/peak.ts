// The machine's measured fp32 peak: builds bench/suite/peak/fma_peak.cpp with
// the host C++ compiler (-O3 plus -mavx512f -mfma, or -mavx2 -mfma, as the
// CPU allows) and runs it pinned to 1 and 2 threads.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './common';

export interface PeakProbe {
  /** The vector ISA of the probe build that gave the peak. */
  isa: string;
  compiler: string;
  flags: string[];
  /** FMA throughput, GFLOP/s (2 per lane per FMA), by thread count. */
  fmaGflops: Record<number, number>;
  /** max+add throughput (the adder inner loop), G-ops/s, by thread count. */
  maxAddGops: Record<number, number>;
  /** Every build measured (e.g. avx512 and avx2), for reference. */
  builds: { isa: string; threads: number; fmaGflops: number; maxAddGops: number }[];
  note?: string;
}

function cpuFlags(): Set<string> {
  try {
    const m = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:\s*(.*)$/m);
    return new Set(m ? m[1].split(/\s+/) : []);
  } catch {
    return new Set();
  }
}

function findCompiler(): string | undefined {
  for (const cxx of [process.env.CXX, 'g++', 'c++', 'clang++'].filter((c): c is string => !!c)) {
    if (spawnSync(cxx, ['--version'], { stdio: 'ignore' }).status === 0) return cxx;
  }
  return undefined;
}

export function measurePeak(threadCounts: readonly number[], seconds: number): PeakProbe {
  const source = path.join(repoRoot, 'bench', 'suite', 'peak', 'fma_peak.cpp');
  const outDir = path.join(repoRoot, 'build', 'bench-suite');
  const cxx = findCompiler();
  const empty: PeakProbe = { isa: 'none', compiler: 'none', flags: [], fmaGflops: {}, maxAddGops: {}, builds: [] };
  if (!cxx) return { ...empty, note: 'no C++ compiler found (g++, c++, clang++, $CXX): peak not measured' };
  const flags = cpuFlags();
  const variants: { isa: string; flags: string[] }[] = [];
  if (flags.has('avx512f') && flags.has('fma')) variants.push({ isa: 'avx512', flags: ['-mavx512f', '-mfma'] });
  if (flags.has('avx2') && flags.has('fma')) variants.push({ isa: 'avx2', flags: ['-mavx2', '-mfma'] });
  if (!variants.length) variants.push({ isa: 'sse2', flags: [] });
  fs.mkdirSync(outDir, { recursive: true });
  const probe: PeakProbe = { ...empty, compiler: cxx };
  for (const v of variants) {
    const bin = path.join(outDir, `fma_peak_${v.isa}`);
    try {
      execFileSync(cxx, ['-O3', ...v.flags, '-std=c++17', '-pthread', '-o', bin, source], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      probe.note = `${v.isa} probe build failed: ${(e as { stderr?: Buffer }).stderr?.toString().split('\n')[0] ?? e}`;
      continue;
    }
    for (const threads of threadCounts) {
      const out = execFileSync(bin, [String(threads), String(seconds)], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      const r = JSON.parse(out) as { fmaGflops: number; maxAddGops: number };
      probe.builds.push({ isa: v.isa, threads, fmaGflops: r.fmaGflops, maxAddGops: r.maxAddGops });
      if (!(probe.fmaGflops[threads] >= r.fmaGflops)) {
        probe.fmaGflops[threads] = r.fmaGflops;
        probe.isa = v.isa;
        probe.flags = v.flags;
      }
      probe.maxAddGops[threads] = Math.max(probe.maxAddGops[threads] ?? 0, r.maxAddGops);
    }
  }
  return probe;
}

/** Keeps the higher figure per thread count (probes at the start and the end of a run). */
export function mergePeak(a: PeakProbe, b: PeakProbe): PeakProbe {
  const out: PeakProbe = { ...a, fmaGflops: { ...a.fmaGflops }, maxAddGops: { ...a.maxAddGops }, builds: [...a.builds, ...b.builds] };
  for (const [t, v] of Object.entries(b.fmaGflops)) out.fmaGflops[+t] = Math.max(out.fmaGflops[+t] ?? 0, v);
  for (const [t, v] of Object.entries(b.maxAddGops)) out.maxAddGops[+t] = Math.max(out.maxAddGops[+t] ?? 0, v);
  return out;
}
