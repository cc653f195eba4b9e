// PATH control for tests that must see (or not see) particular programs:
// the CUDA build switch (nvcc, nvidia-smi) and the install without a toolchain.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const searchPath = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);

/** The program's path on the current PATH, or undefined. */
export function which(program: string): string | undefined {
  for (const dir of searchPath) {
    const file = path.join(dir, program);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The current PATH less every folder holding one of the programs. */
export function pathWithout(programs: string[]): string {
  return searchPath.filter((dir) => !programs.some((p) => fs.existsSync(path.join(dir, p)))).join(path.delimiter);
}

/**
 * A fresh folder holding only the given programs: symlinks to where the
 * current PATH has them, or a shell script when a body is given (a fake
 * tool). Throws when a wanted program is not on PATH.
 */
export function binDir(programs: Record<string, string | true>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-bin-'));
  for (const [name, body] of Object.entries(programs)) {
    const dst = path.join(dir, name);
    if (body === true) {
      const src = which(name);
      if (!src) throw new Error(`${name} is not on PATH (${searchPath.join(path.delimiter)})`);
      fs.symlinkSync(fs.realpathSync(src), dst);
    } else {
      fs.writeFileSync(dst, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    }
  }
  return dir;
}
