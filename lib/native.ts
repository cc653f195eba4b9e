// The whole native surface in one place (see binding/addon.cc).
import path from 'node:path';
import { packageRoot } from './paths';

/** [n, c, h, w, t, kh, kw, sh, sw, ph, pw] */
export type ConvDims = readonly number[];

export interface NativeAddon {
  adder2dForward(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, dims: ConvDims): void;
  conv2dForward(x: Float32Array, w: Float32Array, bias: Float32Array | null, out: Float32Array, dims: ConvDims): void;
  adder2dBackward(
    x: Float32Array, w: Float32Array, gradOut: Float32Array,
    gradInput: Float32Array | null, gradWeight: Float32Array | null, gradBias: Float32Array | null,
    dims: ConvDims,
  ): void;
  conv2dBackward(
    x: Float32Array, w: Float32Array, gradOut: Float32Array,
    gradInput: Float32Array | null, gradWeight: Float32Array | null, gradBias: Float32Array | null,
    dims: ConvDims,
  ): void;
  adaptiveScale(grad: Float32Array, out: Float32Array, eta: number): void;
  backendInfo(): { isa: 'avx512' | 'avx2' | 'scalar'; threads: number };
  setNumThreads(n: number): void;
  setIsa(isa: string): void;
  supportedIsas(): string[];
}

function load(): NativeAddon {
  const root = packageRoot;
  try {
    // prebuilds/<platform>-<arch>/ first, then build/Release.
    return require('node-gyp-build')(root) as NativeAddon;
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(
      `addernet: could not load the native addon for ${process.platform}-${process.arch} (Node ${process.version}).\n` +
        `Looked in ${path.join(root, 'prebuilds')} and ${path.join(root, 'build', 'Release')}: ${reason}\n` +
        'Build it from source with `npm rebuild addernet` (needs CMake >= 3.18 and a C++17 compiler).',
    );
  }
}

export const native: NativeAddon = load();
