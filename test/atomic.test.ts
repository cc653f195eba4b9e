// Atomic saves (lib/io/atomic.ts) and the temporary files of killed writers:
// a save removes temporary files of its target left by processes that no
// longer run, keeps those of live processes (this one included) and anything
// not named exactly like ours; saves killed with SIGKILL mid-write leave the
// target loadable and leak nothing once the next save has run.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileAtomicSync } from '../lib/io/atomic';
import { loadModel, models, saveModel } from '../lib/index';
import { ensureDist, ROOT, sameBits } from './nn-helpers';

let tmp: string;
let counter = 0;
beforeAll(() => {
  ensureDist(); // the killed children run dist/
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-atomic-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

function freshDir(): string {
  const dir = path.join(tmp, `case-${++counter}`);
  fs.mkdirSync(dir);
  return dir;
}

/** The pid of a process that has exited and been reaped. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  expect(r.status).toBe(0);
  try {
    process.kill(r.pid!, 0);
  } catch (err) {
    expect((err as NodeJS.ErrnoException).code).toBe('ESRCH');
    return r.pid!;
  }
  throw new Error(`pid ${r.pid} was reused at once; run again`);
}

const hex = () => randomBytes(6).toString('hex');
const tempFiles = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

describe('stale temporary files', () => {
  it('a save removes those of dead pids for its target only, and keeps live ones and look-alikes', () => {
    const dir = freshDir();
    const target = path.join(dir, 'model.safetensors');
    const dead = deadPid();
    const stale = [`.model.safetensors.${dead}.${hex()}.tmp`, `.model.safetensors.${dead}.${hex()}.tmp`];
    const kept = [
      `.model.safetensors.${process.pid}.${hex()}.tmp`, // live: this process (another thread may be writing it)
      `.model.safetensors.${process.ppid}.${hex()}.tmp`, // live: the parent
      `.other.safetensors.${dead}.${hex()}.tmp`, // another target
      `.model.safetensors.x.${dead}.${hex()}.tmp`, // another target ("model.safetensors.x")
      `.model.safetensors.${dead}.${hex()}.tmp.keep`, // not our pattern
      `.model.safetensors.${dead}.abc.tmp`, // not our pattern
      `.model.safetensors.${dead}.${hex().toUpperCase()}Z.tmp`, // not our pattern
      `.model.safetensors.0.${hex()}.tmp`, // pid 0 would mean the process group: never probed
      `model.safetensors.${dead}.${hex()}.tmp`, // not hidden: not ours
    ];
    for (const f of [...stale, ...kept]) fs.writeFileSync(path.join(dir, f), 'partial');
    const dirLike = `.model.safetensors.${dead}.${hex()}.tmp`;
    fs.mkdirSync(path.join(dir, dirLike)); // a directory with our name: not a file, kept
    saveModel(models.lenet5bn({ seed: 1 }), target);
    const left = fs.readdirSync(dir);
    for (const f of stale) expect(left, f).not.toContain(f);
    for (const f of [...kept, dirLike]) expect(left, f).toContain(f);
    expect(loadModel(target).info.arch).toBe('lenet5bn');
  });

  it('also for a target reached through a symbolic link (the temporary files live beside the real file)', () => {
    const dir = freshDir();
    const realDir = path.join(dir, 'real');
    fs.mkdirSync(realDir);
    const real = path.join(realDir, 'weights.bin');
    const link = path.join(dir, 'link.bin');
    fs.writeFileSync(real, 'old');
    fs.symlinkSync(real, link);
    const dead = deadPid();
    const stale = `.weights.bin.${dead}.${hex()}.tmp`;
    fs.writeFileSync(path.join(realDir, stale), 'partial');
    writeFileAtomicSync(link, [Buffer.from('new')]);
    expect(fs.readFileSync(real, 'utf8')).toBe('new');
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    expect(tempFiles(realDir)).toEqual([]);
  });

  it('a failing write still leaves the old file and removes its own temporary file', () => {
    const dir = freshDir();
    const target = path.join(dir, 'out.bin');
    fs.writeFileSync(target, 'old');
    const dead = deadPid();
    fs.writeFileSync(path.join(dir, `.out.bin.${dead}.${hex()}.tmp`), 'partial');
    expect(() =>
      writeFileAtomicSync(target, (function* () {
        yield Buffer.from('half');
        throw new Error('simulated crash');
      })()),
    ).toThrow('simulated crash');
    expect(fs.readFileSync(target, 'utf8')).toBe('old');
    expect(tempFiles(dir)).toEqual([]);
  });
});

describe('saves killed with SIGKILL mid-write', () => {
  it('leave the target loadable, and the next save leaves no temporary files', async () => {
    const dir = freshDir();
    const target = path.join(dir, 'big.safetensors');
    // A 16 MB model saved in a loop; the parent kills it at varying moments.
    const script = `
      const a = require(${JSON.stringify(path.join(ROOT, 'dist', 'lib', 'index.js'))});
      const m = a.Model.fromConfig({
        info: { arch: 'custom', options: {}, inputShape: [1, 1, 2048], numClasses: 2048 },
        net: { type: 'Linear', args: { inFeatures: 2048, outFeatures: 2048 } },
      });
      process.stdout.write('ready\\n');
      for (;;) a.saveModel(m, process.argv[1]);`;
    const kills = 8;
    let caughtMidWrite = 0;
    for (let i = 0; i < kills; i++) {
      const child = spawn(process.execPath, ['-e', script, target], { stdio: ['ignore', 'pipe', 'inherit'] });
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', () => resolve());
        child.on('exit', (code) => reject(new Error(`child exited early with ${code}`)));
      });
      await new Promise((r) => setTimeout(r, 20 + ((i * 37) % 90)));
      child.kill('SIGKILL');
      await exited;
      // The child's own temporary file, if the kill landed mid-save (earlier children's are
      // gone: each save of the child cleaned them up).
      if (tempFiles(dir).some((f) => f.includes(`.${child.pid}.`))) caughtMidWrite++;
      if (fs.existsSync(target)) expect(loadModel(target).info.arch).toBe('custom'); // old or new, never partial
    }
    console.log(`SIGKILLed ${kills} saving children, ${caughtMidWrite} of them mid-write`);
    expect(caughtMidWrite, 'at least one kill landed in the middle of a save').toBeGreaterThan(0);
    expect(tempFiles(dir).length).toBeLessThanOrEqual(1);
    const m = models.lenet5bn({ seed: 3 });
    saveModel(m, target);
    expect(tempFiles(dir)).toEqual([]);
    expect(fs.readdirSync(dir)).toEqual(['big.safetensors']);
    expect(sameBits(loadModel(target).stateDict()['fc3.adder'].dataSync(), m.stateDict()['fc3.adder'].dataSync())).toBe(true);
  }, 120_000);
});
