#!/usr/bin/env node
// Builds the kernels with plain CMake (no cmake-js, no Node headers) and runs
// the native tests with ctest; with --bench-ukernels [filter], builds and runs
// the microkernel benchmark instead.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const os = require('node:os');

const root = path.join(__dirname, '..');
const dir = path.join(root, 'build-native');
const jobs = String(Math.max(1, os.cpus().length));
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const extra = process.env.ADDERNET_CUDA ? [`-DADDERNET_CUDA=${process.env.ADDERNET_CUDA}`] : [];
run('cmake', ['-S', root, '-B', dir, '-DADDERNET_TESTS=ON', ...extra]);
const bench = process.argv.indexOf('--bench-ukernels');
if (bench >= 0) {
  run('cmake', ['--build', dir, '-j', jobs, '--target', 'addernet_bench_ukernels']);
  const exe = path.join(dir, process.platform === 'win32' ? 'addernet_bench_ukernels.exe' : 'addernet_bench_ukernels');
  run(exe, process.argv.slice(bench + 1));
} else {
  run('cmake', ['--build', dir, '-j', jobs]);
  run('ctest', ['--test-dir', dir, '--output-on-failure']);
}
