// The whole native surface in one place (see binding/addon.cc).
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { codedError } from './errors';
import { packageRoot } from './paths';

/** [n, c, h, w, t, kh, kw, sh, sw, ph, pw] */
export type ConvDims = readonly number[];
/** [n, c, h, w, kh, kw, sh, sw, ph, pw] */
export type PoolDims = readonly number[];

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
  // Training operations (binding/train_ops.cc). Running stats update in place when training.
  batchNormForward(
    x: Float32Array, weight: Float32Array, bias: Float32Array, runningMean: Float32Array, runningVar: Float32Array,
    out: Float32Array, saveMean: Float32Array, saveInvStd: Float32Array,
    dims: readonly [n: number, c: number, hw: number], training: boolean, momentum: number, eps: number,
  ): void;
  batchNormBackward(
    x: Float32Array, weight: Float32Array, gradOut: Float32Array, saveMean: Float32Array, saveInvStd: Float32Array,
    gradInput: Float32Array | null, gradWeight: Float32Array | null, gradBias: Float32Array | null,
    dims: readonly [n: number, c: number, hw: number],
  ): void;
  reluForward(x: Float32Array, out: Float32Array): void;
  reluBackward(y: Float32Array, gradOut: Float32Array, gradInput: Float32Array): void;
  add(a: Float32Array, b: Float32Array, out: Float32Array): void;
  maxPool2dForward(x: Float32Array, out: Float32Array, argmax: Int32Array, dims: PoolDims): void;
  maxPool2dBackward(
    gradOut: Float32Array, argmax: Int32Array, gradInput: Float32Array,
    dims: readonly [planes: number, inPlane: number, outPlane: number],
  ): void;
  avgPool2dForward(x: Float32Array, out: Float32Array, dims: PoolDims): void;
  avgPool2dBackward(gradOut: Float32Array, gradInput: Float32Array, dims: PoolDims): void;
  softmaxCrossEntropy(
    logits: Float32Array, labels: Int32Array, gradLogits: Float32Array | null, dims: readonly [n: number, k: number],
  ): { loss: number; correct: number };
  sgdUpdate(
    param: Float32Array, grad: Float32Array, momentumBuffer: Float32Array | null,
    lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: boolean, firstStep: boolean,
  ): void;
  backendInfo(): {
    isa: 'avx512' | 'avx2' | 'scalar'; threads: number; mallocTuned: boolean; layerMemoryLimit: number; warnings: string[];
  };
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
    throw codedError(
      'ERR_ADDERNET_LOAD',
      `addernet: could not load the native addon for ${process.platform}-${process.arch} (Node ${process.version}).\n` +
        `Looked in ${path.join(root, 'prebuilds')} and ${path.join(root, 'build', 'Release')}: ${reason}\n` +
        'Build it from source with `npm rebuild addernet` (needs CMake >= 3.18 and a C++17 compiler).',
    );
  }
}

export const native: NativeAddon = load();

// A bad ADDERNET_ISA or ADDERNET_NUM_THREADS falls back to the default; say
// so once, at load, on the main thread (predict workers load this file too).
for (const message of isMainThread ? native.backendInfo().warnings : []) {
  process.emitWarning(message, { type: 'AddernetWarning', code: 'ADDERNET_ENVIRONMENT' });
}
