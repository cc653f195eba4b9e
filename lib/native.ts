// The whole native surface in one place (see binding/addon.cc).
import path from 'node:path';
import { isMainThread } from 'node:worker_threads';
import { codedError } from './errors';
import { packageRoot } from './paths';

/** [n, c, h, w, t, kh, kw, sh, sw, ph, pw] */
export type ConvDims = readonly number[];
/** [n, c, h, w, kh, kw, sh, sw, ph, pw] */
export type PoolDims = readonly number[];

/** Native tensor storage (binding/tensor.cc): float32 or int32 elements in a block of the device's caching allocator. */
export interface NativeStorage {
  readonly length: number;
  readonly dtype: 'float32' | 'int32';
  /** The allocator's size-class bytes (0 once disposed). */
  readonly bytes: number;
  readonly disposed: boolean;
  /** Copies every element into dst (exactly `length` long; an Int32Array for int32). */
  read(dst: Float32Array | Int32Array): void;
  /** Copies every element out once the kernels before it have run (rejects with their failure). */
  readAsync(): Promise<Float32Array | Int32Array>;
  /** Copies src into [offset, offset + src.length). */
  write(src: Float32Array | Int32Array, offset?: number): void;
  fill(value: number): void;
  /** Copies another storage of the same length and dtype. */
  copyFrom(source: NativeStorage): void;
  /** Another reference to the same block (freed when every reference is disposed or collected). */
  share(): NativeStorage;
  /** Exchanges the blocks of two storages of the same length (queued kernels keep the blocks they were given). */
  swap(other: NativeStorage): void;
  dispose(): void;
}

export interface NativeQuantizedAdderLayer {
  readonly disposed: boolean;
  dispose(): void;
}

export interface NativeMemoryInfo {
  device: string; liveTensors: number; liveBytes: number; cachedBytes: number; peakBytes: number; cacheLimit: number;
  systemAllocations: number; cacheHits: number;
}

/** Ops return the ticket of their queued kernel (its place in the device queue). */
/** What a kernel reads or writes: a tensor's storage (or, for the binding's own checks, a Float32Array). */
type Buf = NativeStorage | Float32Array;
/** An int32 tensor's storage (or an Int32Array). */
type IntBuf = NativeStorage | Int32Array;

/** bnWeight, bnBias, runningMean, runningVar (all null for none), eps, residual, relu. */
export type EpilogueArgs = [] | [Buf | null, Buf | null, Buf | null, Buf | null, number, Buf | null, boolean];

export interface NativeAddon {
  /** new Storage(length) is zero-filled (unless zero is false: a kernel output), float32 unless dtype says; new Storage(array) copies it. */
  Storage: new (init: number | Float32Array | Int32Array, zero?: boolean, dtype?: 'float32' | 'int32') => NativeStorage;
  memoryInfo(device: string): NativeMemoryInfo;
  emptyCache(device: string): void;
  setCacheLimit(device: string, bytes: number): void;
  resetPeakMemory(device: string): void;
  /** Makes queue 0 (ops, fit) or 1 (predict) the one ops submit to; returns the previous one. */
  setQueue(queue: 0 | 1): 0 | 1;
  /** With the optional fused epilogue: eval-mode BatchNorm (weight, bias, running mean and var, eps), a residual added after it, then ReLU. */
  adder2dForward(x: Buf, w: Buf, bias: Buf | null, out: Buf, dims: ConvDims, ...epilogue: EpilogueArgs): number;
  conv2dForward(x: Buf, w: Buf, bias: Buf | null, out: Buf, dims: ConvDims, ...epilogue: EpilogueArgs): number;
  adder2dBackward(
    x: Buf, w: Buf, gradOut: Buf,
    gradInput: Buf | null, gradWeight: Buf | null, gradBias: Buf | null,
    dims: ConvDims,
  ): number;
  conv2dBackward(
    x: Buf, w: Buf, gradOut: Buf,
    gradInput: Buf | null, gradWeight: Buf | null, gradBias: Buf | null,
    dims: ConvDims,
  ): number;
  /** Quantized adder forward (binding/quant.cc): out [N, T, HO, WO] int32 = SAD; runs before it returns (plain Uint8Arrays). */
  adder2dU8Forward(qx: Uint8Array, qw: Uint8Array, out: IntBuf, dims: ConvDims, padValue: number): number;
  /** A quantized adder layer's constants, copied once and shared with the kernels queued on them. */
  QuantizedAdderLayer: new (qweight: Uint8Array, scale: number, zeroPoint: number, bits: number, mul: Float64Array, add: Float64Array) => NativeQuantizedAdderLayer;
  /** The whole quantized adder layer, queued: x quantized on the fly, uint8 SAD, out = mul[t] * SAD + add[t]. */
  quantizedAdder2dForward(x: Buf, layer: NativeQuantizedAdderLayer, out: Buf, dims: ConvDims): number;
  adaptiveScale(grad: Buf, out: Buf, eta: number): number;
  // Training operations (binding/norm.cc, activation.cc, pool.cc, loss.cc, optim.cc). Running stats update in place when training.
  batchNormForward(
    x: Buf, weight: Buf, bias: Buf, runningMean: Buf, runningVar: Buf,
    out: Buf, saveMean: Buf, saveInvStd: Buf,
    dims: readonly [n: number, c: number, hw: number], training: boolean, momentum: number, eps: number,
  ): number;
  batchNormBackward(
    x: Buf, weight: Buf, gradOut: Buf, saveMean: Buf, saveInvStd: Buf,
    gradInput: Buf | null, gradWeight: Buf | null, gradBias: Buf | null,
    dims: readonly [n: number, c: number, hw: number],
  ): number;
  reluForward(x: Buf, out: Buf): number;
  reluBackward(y: Buf, gradOut: Buf, gradInput: Buf): number;
  add(a: Buf, b: Buf, out: Buf): number;
  maxPool2dForward(x: Buf, out: Buf, argmax: IntBuf, dims: PoolDims): number;
  maxPool2dBackward(
    gradOut: Buf, argmax: IntBuf, gradInput: Buf,
    dims: readonly [planes: number, inPlane: number, outPlane: number],
  ): number;
  avgPool2dForward(x: Buf, out: Buf, dims: PoolDims): number;
  avgPool2dBackward(gradOut: Buf, gradInput: Buf, dims: PoolDims): number;
  /** Without result: waits and returns the loss; with a 2-element result storage: queued, returns the ticket. */
  softmaxCrossEntropy(
    logits: Buf, labels: Int32Array, gradLogits: Buf | null, dims: readonly [n: number, k: number],
  ): { loss: number; correct: number };
  softmaxCrossEntropy(
    logits: Buf, labels: Int32Array, gradLogits: Buf | null, dims: readonly [n: number, k: number], result: NativeStorage,
  ): number;
  sgdUpdate(
    param: Buf, grad: Buf, momentumBuffer: Buf | null,
    lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: boolean, firstStep: boolean,
  ): number;
  /** torch.optim.Adam (AdamW when decoupled) in place; step is 1-based; maxExpAvgSq is needed with amsgrad. */
  adamUpdate(
    param: Buf, grad: Buf, expAvg: Buf, expAvgSq: Buf, maxExpAvgSq: Buf | null, step: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, decoupled: boolean, amsgrad: boolean,
  ): number;
  backendInfo(): {
    isa: 'avx512' | 'avx2' | 'scalar'; threads: number; cacheLimit: number; layerMemoryLimit: number; warnings: string[];
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
        'Build it from source with `npm rebuild addernet --build-from-source` (needs CMake >= 3.18 and a C++17 compiler).',
    );
  }
}

export const native: NativeAddon = load();

// A bad ADDERNET_ISA or ADDERNET_NUM_THREADS falls back to the default; say
// so once, at load, on the main thread (a user's workers may load this file too).
for (const message of isMainThread ? native.backendInfo().warnings : []) {
  process.emitWarning(message, { type: 'AddernetWarning', code: 'ADDERNET_ENVIRONMENT' });
}
