// ADDERNET_CUDA: AUTO builds the CUDA kernels only when nvcc and a CUDA driver
// are both found, ON always (failing without nvcc), OFF never. Checked by
// configuring the real CMakeLists.txt (no compile) with a fake nvidia-smi.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from './nn-helpers';
import { binDir, pathWithout, which } from './toolchain';

const nvcc = process.env.CUDACXX || which('nvcc') || (fs.existsSync('/usr/local/cuda/bin/nvcc') ? '/usr/local/cuda/bin/nvcc' : undefined);
// A real driver here would make "no driver" untestable.
const realDriver = ['/dev/nvidiactl', '/dev/nvidia0'].some((f) => fs.existsSync(f)) || !!which('nvidia-smi') ||
  /libcuda\.so\.1\b/.test(spawnSync('/sbin/ldconfig', ['-p'], { encoding: 'utf8' }).stdout ?? '');
const fakeDriver = binDir({ 'nvidia-smi': 'exit 0' });
const builds: string[] = [];

afterAll(() => {
  for (const dir of [...builds, fakeDriver]) fs.rmSync(dir, { recursive: true, force: true });
});

/** Configures a fresh build folder; returns cmake's status and the addernet lines of its output. */
function configure(mode: string | undefined, opts: { driver: boolean; nvcc: boolean }) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-cuda-cfg-'));
  builds.push(dir);
  const dirs = [pathWithout(['nvidia-smi', 'nvcc'])];
  if (opts.driver) dirs.unshift(fakeDriver);
  if (opts.nvcc && nvcc) dirs.unshift(path.dirname(nvcc));
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: dirs.join(path.delimiter) };
  delete env.CUDACXX;
  delete env.CUDAARCHS;
  const args = ['-S', ROOT, '-B', dir, ...(mode ? [`-DADDERNET_CUDA=${mode}`] : [])];
  const r = spawnSync('cmake', args, { env, encoding: 'utf8', timeout: 120_000 });
  const out = `${r.stdout}\n${r.stderr}`;
  return { status: r.status, out, lines: out.split('\n').filter((l) => /addernet:|ADDERNET_CUDA/.test(l)).join('\n') };
}

describe('ADDERNET_CUDA build switch', () => {
  it.skipIf(realDriver || !nvcc)('AUTO with nvcc but no driver builds without CUDA and says why', () => {
    const r = configure(undefined, { driver: false, nvcc: true });
    expect(r.status, r.out).toBe(0);
    expect(r.lines).toContain('no CUDA driver found');
    expect(r.lines).toContain('ADDERNET_CUDA=ON builds the CUDA kernels anyway');
    expect(r.out).not.toMatch(/addernet: CUDA \d/);
  });

  it.skipIf(!nvcc)('AUTO with nvcc and a driver builds with CUDA', () => {
    const r = configure('AUTO', { driver: true, nvcc: true });
    expect(r.status, r.out).toBe(0);
    expect(r.lines).toMatch(/CUDA driver found \(.*nvidia-smi\) and nvcc, building with CUDA/);
    expect(r.out).toMatch(/addernet: CUDA \d+\.\d+/);
  });

  it('AUTO with a driver but no nvcc builds without CUDA', () => {
    const r = configure('AUTO', { driver: true, nvcc: false });
    expect(r.status, r.out).toBe(0);
    expect(r.lines).toContain('but no CUDA compiler, building without CUDA');
  });

  it.skipIf(realDriver || !nvcc)('ON builds with CUDA on a machine without a driver', () => {
    const r = configure('ON', { driver: false, nvcc: true });
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/addernet: CUDA \d+\.\d+/);
  });

  it('ON without nvcc fails and names the fix', () => {
    const r = configure('ON', { driver: true, nvcc: false });
    expect(r.status).not.toBe(0);
    expect(r.out).toContain('ADDERNET_CUDA=ON but no CUDA compiler was found');
  });

  it('OFF never looks, even with nvcc and a driver', () => {
    const r = configure('off', { driver: true, nvcc: true });
    expect(r.status, r.out).toBe(0);
    expect(r.lines).toContain('ADDERNET_CUDA=OFF, building without CUDA');
    expect(r.out).not.toMatch(/addernet: CUDA \d/);
  });

  it('a bad value is refused', () => {
    const r = configure('maybe', { driver: false, nvcc: false });
    expect(r.status).not.toBe(0);
    expect(r.out).toContain("ADDERNET_CUDA must be AUTO, ON or OFF, not 'maybe'");
  });
});
