// What the addon's glibc malloc tuning buys (README "Memory"): layer d of the
// kernel benchmark (N=32 64->128 56x56 k3, a 51 MB output) through
// ops.adder2d, which allocates a fresh output per call, in two child
// processes: tuning on (the default) and ADDERNET_MALLOC_TUNING=0. Run with
// `npm run bench:malloc`; prints a table and writes its section of
// bench/RESULTS.md.
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { backendInfo, ops, setNumThreads, tensor } from '../lib/index';
import { gc, gitCommit, median, random, updateResultsSection } from './suite/common';

const RUNS = 7;

function child(): void {
  const threads = Number(process.env.ADDERNET_BENCH_THREADS);
  setNumThreads(threads);
  const [n, c, h, t, k] = [32, 64, 56, 128, 3];
  const x = tensor(random(n * c * h * h, 1), [n, c, h, h]);
  const w = tensor(random(t * c * k * k, 2), [t, c, k, k]);
  ops.adder2d(x, w, { padding: 1 }); // warm-up
  const ms: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    gc();
    const t0 = process.hrtime.bigint();
    ops.adder2d(x, w, { padding: 1 });
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  console.log(JSON.stringify({ tuned: backendInfo().mallocTuned, threads, medianMs: median(ms), minMs: Math.min(...ms) }));
}

function main(): void {
  const rows: { tuned: boolean; threads: number; medianMs: number; minMs: number }[] = [];
  for (const threads of [1, 2]) {
    for (const tuning of ['1', '0']) {
      const out = execFileSync(process.execPath, [...process.execArgv, __filename, '--child'], {
        env: { ...process.env, ADDERNET_MALLOC_TUNING: tuning, ADDERNET_BENCH_THREADS: String(threads) },
        encoding: 'utf8',
      });
      rows.push(JSON.parse(out.trim().split('\n').pop()!));
    }
  }
  const commit = gitCommit() ?? 'unknown';
  const table = [
    '| threads | malloc tuning | median ms | min ms |',
    '|---:|---|---:|---:|',
    ...rows.map((r) => `| ${r.threads} | ${r.tuned ? 'on (default)' : 'off (ADDERNET_MALLOC_TUNING=0)'} | ${r.medianMs.toFixed(1)} | ${r.minMs.toFixed(1)} |`),
  ];
  console.log(table.join('\n'));
  const BEGIN = '<!-- bench:malloc:begin -->';
  const END = '<!-- bench:malloc:end -->';
  updateResultsSection(BEGIN, END, [
    BEGIN,
    '## Large fresh outputs and malloc tuning (`npm run bench:malloc`)',
    '',
    `${os.cpus()[0]?.model ?? 'unknown'}, ${os.availableParallelism()} cores, Node ${process.version}, ${backendInfo().isa}; commit ${commit}, ${new Date().toISOString().slice(0, 10)}.`,
    `ops.adder2d on layer d (N=32 64->128 56x56 k3 p1, a fresh 51 MB output per call, as every layer allocates), median of ${RUNS} calls after a warm-up, one child process per row.`,
    '',
    ...table,
    END,
  ].join('\n'));
  console.log(`Updated bench/RESULTS.md (section between ${BEGIN} and ${END})`);
}

if (process.argv.includes('--child')) child();
else main();
