// `npm run prebuild` produces prebuilds/linux-x64/*.node, and node-gyp-build
// loads it from a checkout whose build/ is gone.
//
// Opt-in (ADDERNET_TEST_PREBUILD=1): it compiles the addon from scratch in a
// copy of the checkout, which takes a minute or so of CPU.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adder2dRef, mulberry32, randomArray } from './reference';

const enabled = process.env.ADDERNET_TEST_PREBUILD === '1';
const repo = path.resolve(__dirname, '..');
const platformDir = `${process.platform}-${process.arch}`;

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

describe.skipIf(!enabled)('prebuild (opt-in: set ADDERNET_TEST_PREBUILD=1; rebuilds the addon, about a minute)', () => {
  let dir: string;
  let prebuild: { status: number | null; output: string };

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-prebuild-'));
    copyCheckout(dir);
    expect(fs.existsSync(path.join(dir, 'build')), 'the copy starts without build/').toBe(false);
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const r = spawnSync(npm, ['run', 'prebuild'], { cwd: dir, encoding: 'utf8', timeout: 300_000, maxBuffer: 64 << 20 });
    prebuild = { status: r.status, output: `${r.stdout}\n${r.stderr}` };
  }, 320_000);

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('npm run prebuild succeeds and writes prebuilds/<platform>-<arch>/*.node', () => {
    expect(prebuild.status, prebuild.output.slice(-4000)).toBe(0);
    const out = path.join(dir, 'prebuilds', platformDir);
    const files = fs.existsSync(out) ? fs.readdirSync(out).filter((f) => f.endsWith('.node')) : [];
    expect(files.length, `no .node file in ${out}`).toBeGreaterThan(0);
  });

  it('a checkout without build/ loads the prebuilt addon and computes adder2d correctly', () => {
    expect(prebuild.status, 'npm run prebuild failed (see the previous test)').toBe(0);
    fs.rmSync(path.join(dir, 'build'), { recursive: true, force: true });
    // dist/ is not in git: compile the TypeScript in the copy.
    execFileSync(process.execPath, [path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir, stdio: 'pipe' });

    const rng = mulberry32(9);
    const xs = Array.from(randomArray(rng, 2 * 3 * 6 * 5));
    const ws = Array.from(randomArray(rng, 4 * 3 * 3 * 3));
    const code = `
      const root = ${JSON.stringify(dir)};
      const a = require(root);
      const loaded = require(require.resolve('node-gyp-build', { paths: [root] })).path(root);
      const x = a.tensor(new Float32Array(${JSON.stringify(xs)}), [2, 3, 6, 5]);
      const w = a.tensor(new Float32Array(${JSON.stringify(ws)}), [4, 3, 3, 3]);
      const y = a.ops.adder2d(x, w, { padding: 1 });
      const hand = a.ops.adder2d(a.tensor(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]), a.tensor(new Float32Array([0, 2, 5, 4]), [1, 1, 2, 2]));
      console.log(JSON.stringify({ loaded, isa: a.backendInfo().isa, shape: y.shape, y: Array.from(y.dataSync()), hand: Array.from(hand.dataSync()) }));`;
    const r = spawnSync(process.execPath, ['-e', code], { cwd: os.tmpdir(), encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);

    expect(out.loaded.startsWith(path.join(dir, 'prebuilds', platformDir) + path.sep), `loaded ${out.loaded}`).toBe(true);
    expect(out.hand).toEqual([-3]);
    expect(out.shape).toEqual([2, 4, 6, 5]);
    const ref = adder2dRef(xs, [2, 3, 6, 5], ws, [4, 3, 3, 3], { padding: 1 });
    for (let i = 0; i < out.y.length; i++) expect(Math.abs(out.y[i] - ref.value[i])).toBeLessThan(1e-4);
  }, 120_000);
});
