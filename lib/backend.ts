import { checkInteger, describe, rangeError } from './errors';
import { native } from './native';

import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from './paths';

// Read from package.json so the reported version can never drift.
const { version } = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string };

/** The most kernel threads setNumThreads and ADDERNET_NUM_THREADS accept. */
export const MAX_THREADS = 1024;

export type Isa = 'avx512' | 'avx2' | 'scalar';

export interface BackendInfo {
  /** The CPU kernel path in use (ADDERNET_ISA forces one). */
  isa: Isa;
  /** Threads in the kernel pool. */
  threads: number;
  /** Whether a CUDA device is usable. */
  cuda: boolean;
  version: string;
  /**
   * Most bytes of freed tensor storage the CPU allocator keeps for reuse
   * (ADDERNET_CACHE_LIMIT, default a quarter of physical memory, at most 8 GiB;
   * setCacheLimit()).
   */
  cacheLimit: number;
  /** Bytes of scratch memory one kernel call may use (this machine's memory); larger layers fail with ERR_ADDERNET_MEMORY. */
  layerMemoryLimit: number;
  /**
   * What was wrong with ADDERNET_ISA, ADDERNET_NUM_THREADS or ADDERNET_CACHE_LIMIT, each already
   * resolved by falling back to the default (also emitted once at load as a
   * process warning).
   */
  warnings: string[];
}

export function backendInfo(): BackendInfo {
  const info = native.backendInfo();
  return {
    isa: info.isa, threads: info.threads, cuda: false, version, cacheLimit: info.cacheLimit,
    layerMemoryLimit: info.layerMemoryLimit, warnings: info.warnings,
  };
}

/** Sets the number of threads every kernel uses (default: all cores). */
export function setNumThreads(n: number): void {
  const threads = checkInteger(n, 'n', 1);
  if (threads > MAX_THREADS) throw rangeError('ERR_ADDERNET_OPTION', 'n', `an integer from 1 to ${MAX_THREADS}`, describe(n));
  native.setNumThreads(threads);
}

/** The CPU kernel paths this machine can run, best last. */
export function supportedIsas(): Isa[] {
  return native.supportedIsas() as Isa[];
}

/** Switches the CPU kernel path at run time (tests and benchmarks). */
export function setIsa(isa: Isa): void {
  if (!supportedIsas().includes(isa)) {
    throw rangeError('ERR_ADDERNET_ISA', 'isa', `one of ${supportedIsas().join(', ')}`, describe(isa));
  }
  native.setIsa(isa);
}
