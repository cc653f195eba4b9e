/**
 * Atomic file replacement: write a temporary file in the target's directory,
 * fsync it, rename it over the target, fsync the directory. Readers see either
 * the old file or the complete new one, never a partial write; on any error the
 * temporary file is removed and the old file is left as it was. A writer killed
 * mid-write (SIGKILL, power loss) leaves its temporary file; the next write of
 * the same target removes it once its pid is no longer running.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Name of the temporary file used while `target` is written (same directory, hidden). */
export function tempPathFor(target: string): string {
  const dir = path.dirname(path.resolve(target));
  const base = path.basename(target);
  return path.join(dir, `.${base}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** False only when no process has this pid (ESRCH); EPERM means it exists but is not ours. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes temporary files of `target` (named exactly as tempPathFor names them)
 * left by writers that were killed mid-write, i.e. whose pid no longer runs.
 * Files of live processes, this one included, are kept: they may be writing.
 * Best effort: any error here is ignored, the write goes ahead regardless.
 * (A pid is only meaningful on this machine: on a directory shared between
 * hosts a writer on another host could lose its temporary file and fail.)
 */
export function removeStaleTempFiles(target: string): void {
  const dir = path.dirname(path.resolve(target));
  const base = path.basename(target);
  const prefix = `.${base}.`;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.isFile() || !e.name.startsWith(prefix)) continue;
    // Exactly "<pid>.<12 hex>.tmp" after the prefix; pid > 0 (kill(0) or kill(-n) would mean process groups).
    const m = /^([1-9][0-9]{0,9})\.[0-9a-f]{12}\.tmp$/.exec(e.name.slice(prefix.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid > 0x7fffffff || processAlive(pid)) continue;
    try {
      fs.unlinkSync(path.join(dir, e.name));
    } catch {
      /* gone already, or not ours to remove */
    }
  }
}

function writeAll(fd: number, chunk: Uint8Array): void {
  let offset = 0;
  while (offset < chunk.byteLength) {
    offset += fs.writeSync(fd, chunk, offset, chunk.byteLength - offset);
  }
}

/** fsync a directory so that a rename in it is durable; a no-op where directories cannot be synced. */
export function fsyncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = fs.openSync(dir, 'r');
  } catch {
    return; // e.g. Windows cannot open directories
  }
  try {
    fs.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EACCES' && code !== 'ENOTSUP' && code !== 'EBADF') {
      throw err;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes the chunks (produced lazily, so a large file is never assembled in
 * memory) to `target` atomically. If the iterable throws, or any write, fsync or
 * rename fails, the temporary file is removed and the error is rethrown.
 * An existing target keeps its permission bits; a symbolic link keeps pointing
 * to the (replaced) file it names.
 */
export function writeFileAtomicSync(target: string, chunks: Iterable<Uint8Array>): void {
  // Replace what a symbolic link points to, not the link itself.
  try {
    target = fs.realpathSync(target);
  } catch {
    /* does not exist yet */
  }
  // Killed writes leave their temporary files behind: clear those first (frees their space too).
  removeStaleTempFiles(target);
  const tmp = tempPathFor(target);
  let mode: number | undefined;
  try {
    mode = fs.statSync(target).mode & 0o777;
  } catch {
    mode = undefined;
  }
  let fd = fs.openSync(tmp, 'wx', 0o666);
  try {
    if (mode !== undefined) fs.fchmodSync(fd, mode);
    for (const chunk of chunks) writeAll(fd, chunk);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = -1;
    fs.renameSync(tmp, target);
  } catch (err) {
    if (fd >= 0) {
      try {
        fs.closeSync(fd);
      } catch {
        /* already failing */
      }
    }
    try {
      fs.unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw err;
  }
  fsyncDirectory(path.dirname(path.resolve(target)));
}
