#!/usr/bin/env node
// Builds the kernels with plain CMake (no cmake-js, no Node headers) and runs
// the native tests with ctest; with --bench-ukernels [filter], builds and runs
// the microkernel benchmark instead. `--arch arm64` (npm run test:arm64)
// cross-compiles for linux-arm64 with Debian's g++-aarch64-linux-gnu
// (cmake/aarch64-linux-gnu.cmake) and ctest runs each test under
// qemu-aarch64-static with the cross sysroot.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const os = require('node:os');
const { crossTarget } = require('./cross');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const archAt = argv.indexOf('--arch');
const arch = archAt >= 0 ? argv[archAt + 1] : process.arch;
const cross = crossTarget(arch, 'native-tests');
const dir = path.join(root, cross ? `build-native-${arch}` : 'build-native');
const jobs = String(Math.max(1, os.cpus().length));
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.error) console.error(`native-tests: ${cmd}: ${r.error.message}`);
  if (r.status !== 0) process.exit(r.status ?? 1);
};
const extra = process.env.ADDERNET_CUDA ? [`-DADDERNET_CUDA=${process.env.ADDERNET_CUDA}`] : [];
if (cross) {
  for (const tool of [cross.compiler, cross.emulator]) {
    if (spawnSync(tool, ['--version'], { stdio: 'ignore' }).error) {
      console.error(`native-tests: ${tool} is not on PATH (Debian: apt-get install g++-${cross.triplet} qemu-user-static)`);
      process.exit(2);
    }
  }
  extra.push(`-DCMAKE_TOOLCHAIN_FILE=${cross.toolchainFile}`, '-DADDERNET_CUDA=OFF');
}
const t0 = Date.now();
run('cmake', ['-S', root, '-B', dir, '-DADDERNET_TESTS=ON', ...extra]);
const bench = process.argv.indexOf('--bench-ukernels');
if (bench >= 0) {
  run('cmake', ['--build', dir, '-j', jobs, '--target', 'addernet_bench_ukernels']);
  const exe = path.join(dir, process.platform === 'win32' ? 'addernet_bench_ukernels.exe' : 'addernet_bench_ukernels');
  run(exe, process.argv.slice(bench + 1));
} else {
  run('cmake', ['--build', dir, '-j', jobs]);
  run('ctest', ['--test-dir', dir, '--output-on-failure']);
  console.log(`native-tests (${arch}): passed in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
