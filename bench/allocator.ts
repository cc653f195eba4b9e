// What the caching allocator buys (README "Memory"): layer d of the kernel
// benchmark (N=32 64->128 56x56 k3, a 51 MB output) through ops.adder2d,
// whose output comes from the device allocator, disposed after each call as
// fit() and a tidy caller do, in child processes: the cache on (the default)
// and ADDERNET_CACHE_LIMIT=0 (every output freshly from the system: new mmap
// pages and their page faults, what a per-op Float32Array cost before). Run
// with `npm run bench:allocator`; prints a table and writes its section of
// bench/RESULTS.md.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { backendInfo, memoryInfo, ops, setNumThreads, tensor } from '../lib/index';
import { gc, gitCommit, median, random, updateResultsSection } from './suite/common';

const RUNS = 7;

function child(): void {
  const threads = Number(process.env.ADDERNET_BENCH_THREADS);
  setNumThreads(threads);
  const [n, c, h, t, k] = [32, 64, 56, 128, 3];
  const x = tensor(random(n * c * h * h, 1), [n, c, h, h]);
  const w = tensor(random(t * c * k * k, 2), [t, c, k, k]);
  ops.adder2d(x, w, { padding: 1 }).dispose(); // warm-up
  const ms: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    gc();
    const t0 = process.hrtime.bigint();
    ops.adder2d(x, w, { padding: 1 }).dispose();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const m = memoryInfo();
  console.log(JSON.stringify({ cacheLimit: backendInfo().cacheLimit, threads, medianMs: median(ms), minMs: Math.min(...ms), cacheHits: m.cacheHits, systemAllocations: m.systemAllocations }));
}

function main(): void {
  type Row = { cacheLimit: number; threads: number; medianMs: number; minMs: number };
  const rows: Row[] = [];
  for (const threads of [1, 2]) {
    for (const limit of [undefined, '0']) {
      const env: NodeJS.ProcessEnv = { ...process.env, ADDERNET_BENCH_THREADS: String(threads) };
      if (limit === undefined) delete env.ADDERNET_CACHE_LIMIT;
      else env.ADDERNET_CACHE_LIMIT = limit;
      const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--child'], { env, encoding: 'utf8' });
      rows.push(JSON.parse(out.trim().split('\n').pop()!));
    }
  }
  const commit = gitCommit() ?? 'unknown';
  const table = [
    '| threads | allocator cache | median ms | min ms |',
    '|---:|---|---:|---:|',
    ...rows.map((r) => `| ${r.threads} | ${r.cacheLimit > 0 ? `on (default, ${(r.cacheLimit / 2 ** 30).toFixed(1)} GiB)` : 'off (ADDERNET_CACHE_LIMIT=0)'} | ${r.medianMs.toFixed(1)} | ${r.minMs.toFixed(1)} |`),
  ];
  console.log(table.join('\n'));
  const BEGIN = '<!-- bench:allocator:begin -->';
  const END = '<!-- bench:allocator:end -->';
  updateResultsSection(BEGIN, END, [
    BEGIN,
    '## Large outputs and the caching allocator (`npm run bench:allocator`)',
    '',
    `${os.cpus()[0]?.model ?? 'unknown'}, ${os.availableParallelism()} cores, Node ${process.version}, ${backendInfo().isa}; commit ${commit}, ${new Date().toISOString().slice(0, 10)}.`,
    `ops.adder2d on layer d (N=32 64->128 56x56 k3 p1, a 51 MB output per call from the allocator, disposed after the call), median of ${RUNS} calls after a warm-up, one child process per row.`,
    '',
    ...table,
    END,
  ].join('\n'));
  console.log(`Updated bench/RESULTS.md (section between ${BEGIN} and ${END})`);
}

if (process.argv.includes('--child')) child();
else main();
