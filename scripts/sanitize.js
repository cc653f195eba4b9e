#!/usr/bin/env node
// Issue 8: the native tests and a slice of the vitest suite under
// AddressSanitizer + UndefinedBehaviorSanitizer (CMake option ADDERNET_SANITIZE).
//  1. native tests, plain CMake, in build-sanitize-native/, run by ctest;
//  2. the addon, cmake-js, in build-sanitize/build/Release/addernet.node;
//  3. vitest (SLICE below) against that addon: node-gyp-build loads it through
//     ADDERNET_PREBUILD=build-sanitize (its <NAME>_PREBUILD override, which
//     also covers test children that call node-gyp-build themselves), with the
//     ASan runtime preloaded into node, which is not built with it.
// Fails (exit 1) on a failed build or test, or on any sanitizer report: ASan
// writes reports to files in a fresh folder (also from test children whose
// stderr a test keeps), UBSan (whose log_path GCC's runtime ignores) to
// stderr, which is scanned. CUDA is never built; build/ and build-native/ are
// not touched. ADDERNET_SANITIZE_JOBS (default 2) sets the build parallelism.
'use strict';
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.join(__dirname, '..');
const nativeDir = path.join(root, 'build-sanitize-native');
const addonRoot = path.join(root, 'build-sanitize'); // node-gyp-build looks in <ADDERNET_PREBUILD>/build/Release
const addonBuild = path.join(addonRoot, 'build');
const addonFile = path.join(addonBuild, 'Release', 'addernet.node');
const jobs = String(Math.max(1, Number(process.env.ADDERNET_SANITIZE_JOBS) || 2));

// The test files that drive the addon, about 1 minute under the sanitizers on
// 2 cores. Left out: training (110 s here), and cli, isa-env, prebuild, data
// and smoke (builds, CLI and data loading, little native code).
const SLICE = [
  'test/kernels.test.ts',
  'test/ops.test.ts',
  'test/errors.test.ts',
  'test/hostile-geometry.test.ts',
  'test/safetensors.test.ts',
  'test/properties.test.ts',
  'test/gradients.test.ts',
  'test/nn-layers.test.ts',
  'test/models.test.ts',
  'test/predict.test.ts',
  'test/checkpoint.test.ts',
  'test/fuzz.test.ts',
  'test/tensor.test.ts',
  'test/engine.test.ts',
];

// What a sanitizer prints when it reports (UBSan: "file:line:col: runtime error: ...").
const REPORT = /ERROR: (AddressSanitizer|LeakSanitizer)|: runtime error: |SUMMARY: UndefinedBehaviorSanitizer/;

class Failure extends Error {}
const fail = (msg) => { throw new Failure(msg); };
const times = [];
const summary = [];
const secondsSince = (t) => Number(process.hrtime.bigint() - t) / 1e9;

async function stage(name, fn) {
  console.log(`\n==== sanitize: ${name}`);
  const t = process.hrtime.bigint();
  try {
    return await fn();
  } finally {
    times.push([name, secondsSince(t)]);
  }
}

/** Runs a command; its output goes through (and, with `scan`, is checked for reports as it streams). */
function run(cmd, args, { env = process.env, scan = false } = {}) {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let reported = false;
    let tail = ''; // a report line split across chunks
    const onData = (sink) => (chunk) => {
      const text = chunk.toString();
      sink.write(chunk);
      out += text;
      if (scan && REPORT.test(tail + text)) reported = true;
      tail = text.slice(-200);
    };
    child.stdout.on('data', onData(process.stdout));
    child.stderr.on('data', onData(process.stderr));
    child.on('error', (err) => resolve({ status: 1, signal: null, out: `${cmd}: ${err.message}`, reported }));
    child.on('close', (status, signal) => resolve({ status: status ?? 1, signal, out, reported }));
  });
}
function must(r, what) {
  if (r.status !== 0) fail(`${what} exited with ${r.signal ?? r.status}`);
  return r;
}

const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-sanitize-'));
/** Fails when ASan wrote report files (<logDir>/asan.<pid>) or `r` printed a report. */
function checkReports(where, r) {
  const files = fs.readdirSync(logDir).map((f) => path.join(logDir, f)).filter((f) => fs.statSync(f).size > 0);
  for (const f of files) {
    console.error(`\n---- sanitizer report ${f}`);
    console.error(fs.readFileSync(f, 'utf8'));
  }
  if (files.length) fail(`${files.length} ASan report(s) during ${where}: above, kept in ${logDir}`);
  if (r?.reported) fail(`a sanitizer report in the output of ${where}: see above`);
}
const ubsanOptions = 'print_stacktrace=1:halt_on_error=1';
const asanOptions = (opts) => `${opts}:log_path=${path.join(logDir, 'asan')}`;

async function main() {
  console.log(`sanitize: node ${process.version}, ${os.cpus().length} cores, -j${jobs}, ASan reports go to ${logDir}`);

  // ---- 1. Native tests ----------------------------------------------------------
  await stage('native: configure + build', async () => {
    must(await run('cmake', ['-S', root, '-B', nativeDir, '-DCMAKE_BUILD_TYPE=RelWithDebInfo',
      '-DADDERNET_TESTS=ON', '-DADDERNET_SANITIZE=ON', '-DADDERNET_CUDA=OFF']), 'cmake configure');
    must(await run('cmake', ['--build', nativeDir, '-j', jobs]), 'cmake --build');
  });
  await stage('native: ctest', async () => {
    const env = {
      ...process.env,
      ASAN_OPTIONS: asanOptions('detect_leaks=1:abort_on_error=0:allocator_may_return_null=1'),
      UBSAN_OPTIONS: ubsanOptions,
    };
    const r = await run('ctest', ['--test-dir', nativeDir, '-V'], { env, scan: true });
    let passed = 0, failed = 0;
    for (const m of r.out.matchAll(/^\d+: (\d+) passed, (\d+) failed$/gm)) { passed += +m[1]; failed += +m[2]; }
    const tests = (r.out.match(/tests? failed out of (\d+)/) ?? [])[1] ?? '?';
    summary.push(`native: ${tests} ctest executables, ${passed} checks passed, ${failed} failed`);
    checkReports('the native tests', r);
    must(r, 'ctest');
  });

  // ---- 2. Addon -------------------------------------------------------------------
  await stage('addon: cmake-js build', async () => {
    const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
    must(await run(process.execPath, [cmakeJs, 'build', '--out', addonBuild, '--parallel', jobs,
      '--CDCMAKE_BUILD_TYPE=RelWithDebInfo', '--CDADDERNET_SANITIZE=ON', '--CDADDERNET_CUDA=OFF', '--CDADDERNET_TESTS=OFF']),
    'cmake-js build');
    if (!fs.existsSync(addonFile)) fail(`no ${addonFile} after the build`);
  });

  // ---- 3. vitest slice ------------------------------------------------------------
  // The addon links libasan and libubsan dynamically; the ASan runtime must be
  // the first library in the process, so preload the very ones it needs.
  const ldd = spawnSync('ldd', [addonFile], { encoding: 'utf8' }).stdout ?? '';
  const runtime = (name) => {
    const m = ldd.match(new RegExp(`${name}\\.so[.\\d]*\\s+=>\\s+(\\S+)`));
    if (!m) fail(`${addonFile} does not link ${name}: not a sanitizer build?\n${ldd}`);
    return m[1];
  };
  const env = {
    ...process.env,
    // V8 keeps its heap at exit: no leak check in node. Allocation failures
    // stay exceptions, as without ASan (the hostile-geometry tests ask for huge sizes).
    ASAN_OPTIONS: asanOptions('detect_leaks=0:abort_on_error=0:exitcode=1:allocator_may_return_null=1'),
    UBSAN_OPTIONS: ubsanOptions,
    LD_PRELOAD: [runtime('libasan'), runtime('libubsan'), process.env.LD_PRELOAD].filter(Boolean).join(':'),
    ADDERNET_PREBUILD: addonRoot,
    ADDERNET_NUM_THREADS: process.env.ADDERNET_NUM_THREADS ?? '2',
  };
  console.log(`sanitize: LD_PRELOAD=${env.LD_PRELOAD} ADDERNET_PREBUILD=${env.ADDERNET_PREBUILD}`);

  await stage('probe: node loads the sanitized addon', async () => {
    const probe = "const p=require('node-gyp-build').path(process.argv[1]);require(p);console.log(p)";
    const r = must(await run(process.execPath, ['-e', probe, root], { env, scan: true }), 'probe');
    if (r.out.trim() !== addonFile) fail(`node-gyp-build loads ${r.out.trim()}, not ${addonFile}`);
    checkReports('the probe', r);
  });

  await stage('build:ts (test children load dist/)', async () => {
    must(await run(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.json')]), 'tsc');
  });

  await stage('vitest: slice under ASan+UBSan', async () => {
    const files = SLICE.filter((f) => fs.existsSync(path.join(root, f)));
    const missing = SLICE.filter((f) => !files.includes(f));
    if (missing.length) console.log(`sanitize: not present, skipped: ${missing.join(', ')}`);
    const json = path.join(os.tmpdir(), `${path.basename(logDir)}-vitest.json`);
    const vitest = path.join(path.dirname(require.resolve('vitest/package.json')), 'vitest.mjs');
    const r = await run(process.execPath, [vitest, 'run', '--pool=forks', '--reporter=default', '--reporter=json',
      `--outputFile.json=${json}`, ...files], { env, scan: true });
    let counts = 'no JSON report';
    if (fs.existsSync(json)) {
      const j = JSON.parse(fs.readFileSync(json, 'utf8'));
      counts = `${j.numTotalTests} tests: ${j.numPassedTests} passed, ${j.numFailedTests} failed, ` +
        `${j.numPendingTests + (j.numTodoTests ?? 0)} skipped`;
      fs.rmSync(json, { force: true });
    }
    summary.push(`vitest: ${files.length} files, ${counts}`);
    checkReports('vitest', r);
    must(r, 'vitest');
  });
}

function printSummary() {
  console.log('\nsanitize: stages');
  for (const [name, s] of times) console.log(`  ${name.padEnd(40)} ${s.toFixed(1).padStart(7)} s`);
  for (const line of summary) console.log(`  ${line}`);
}

const t0 = process.hrtime.bigint();
main().then(
  () => {
    times.push(['total', secondsSince(t0)]);
    printSummary();
    fs.rmSync(logDir, { recursive: true, force: true });
    console.log('\nsanitize: OK, no sanitizer reports');
  },
  (err) => {
    times.push(['total', secondsSince(t0)]);
    printSummary();
    console.error(`\nsanitize: FAILED: ${err instanceof Failure ? err.message : err.stack}`);
    process.exit(1);
  },
);
