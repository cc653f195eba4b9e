// Tensors own native storage on a device (issue 9): a block of the device's
// caching allocator (cpp/allocator.h), not a JavaScript array. Ops queue
// their kernels on the device's queue and return at once; reads copy out
// once the kernels writing the tensor have run (`await t.data()`,
// `t.dataSync()`); `dispose()` (or `using`) returns the block to the cache
// at once, and a finaliser does so for tensors that are never disposed. The
// native bytes are reported to V8, so garbage collection sees them.
import { checkOutputSize, codedError, describe, rangeError, typeError } from './errors';
import { native, type NativeStorage } from './native';

/** Where a tensor's storage lives. 'cuda' (and 'cuda:N') come with the CUDA backend. */
export type Device = 'cpu';

export const DEVICES: readonly Device[] = ['cpu'];

/** Checks a device name: 'cpu' today, a coded error naming the devices otherwise. */
export function checkDevice(value: unknown, argument = 'device'): Device {
  if (value === 'cpu') return value;
  const devices = `one of ${DEVICES.map((d) => JSON.stringify(d)).join(', ')}`;
  if (typeof value === 'string' && /^cuda(:\d+)?$/.test(value)) {
    throw rangeError('ERR_ADDERNET_DEVICE', argument, `${devices} (this build has no CUDA backend yet)`, JSON.stringify(value));
  }
  throw rangeError('ERR_ADDERNET_DEVICE', argument, devices, describe(value));
}

/** A queued kernel's failure, with the stack of the call that awaited it. */
function withStack(err: unknown, caller: Error): unknown {
  if (err instanceof Error && caller.stack) err.stack = `${err.name}: ${err.message}\n${caller.stack.split('\n').slice(1).join('\n')}`;
  return err;
}

function checkShapeArray(shape: unknown): number[] {
  if (!Array.isArray(shape)) throw typeError('shape', 'an array of integers', shape);
  for (const d of shape) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw rangeError('ERR_ADDERNET_SHAPE', 'shape', 'an array of integers >= 0', describe(shape));
    }
  }
  return shape as number[];
}

/** A dense float32 tensor in row-major (NCHW) order, stored on a device. */
export class Tensor {
  readonly shape: readonly number[];
  readonly device: Device = 'cpu';
  readonly dtype = 'float32' as const;
  /** Number of elements. */
  readonly size: number;
  /** @internal The native storage (binding/tensor.cc); ops pass it to the kernels. */
  readonly storage: NativeStorage;

  /**
   * From a Float32Array (copied into new storage) or, internally, a storage
   * the tensor takes over.
   */
  constructor(data: Float32Array | NativeStorage, shape: readonly number[]) {
    const dims = checkShapeArray(shape);
    const size = dims.reduce((a, b) => a * b, 1);
    if (data instanceof Float32Array) {
      if (size !== data.length) {
        throw rangeError('ERR_ADDERNET_SIZE', 'data', `${size} elements for shape ${describe(shape)}`, `${data.length} elements`);
      }
      this.storage = new native.Storage(data);
    } else if (data instanceof native.Storage) {
      if (size !== data.length) {
        throw rangeError('ERR_ADDERNET_SIZE', 'storage', `${size} elements for shape ${describe(shape)}`, `${data.length} elements`);
      }
      this.storage = data;
    } else {
      throw typeError('data', 'a Float32Array', data);
    }
    this.size = size;
    this.shape = Object.freeze([...dims]);
    collecting?.push(this);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** True once dispose() has run; reading then throws ERR_ADDERNET_DISPOSED. */
  get disposed(): boolean {
    return this.storage.disposed;
  }

  /**
   * The elements, copied into a new Float32Array once the queued ops that
   * write this tensor have run (at once when they have; never behind
   * unrelated work); the thread stays free meanwhile. Rejects with the
   * error of a failed op the elements depend on (its code and message, which
   * names the op, and the stack of this call).
   */
  async data(): Promise<Float32Array> {
    this.check();
    // The rejection comes from the device queue, with no JavaScript stack:
    // give it the caller's, captured now (formatted only if it fails).
    const caller = new Error();
    try {
      return await this.storage.readAsync();
    } catch (err) {
      throw withStack(err, caller);
    }
  }

  /** The elements, copied into a new Float32Array; blocks the thread until the ops writing them have run (not otherwise). */
  dataSync(): Float32Array {
    this.check();
    const out = new Float32Array(this.size);
    this.storage.read(out);
    return out;
  }

  /** This tensor on `device`: itself when already there, else a copy. */
  to(device: Device): Tensor {
    checkDevice(device);
    this.check();
    return this;
  }

  /** Same elements viewed with another shape of equal size (no copy; the storage is shared). */
  reshape(shape: readonly number[]): Tensor {
    this.check();
    const dims = checkShapeArray(shape);
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== this.size) {
      throw rangeError('ERR_ADDERNET_SHAPE', 'shape', `a shape of ${this.size} elements`, `${describe(shape)} (${size} elements)`);
    }
    return new Tensor(this.storage.share(), dims);
  }

  /** A copy in new storage. */
  clone(): Tensor {
    this.check();
    const s = new native.Storage(this.size);
    s.copyFrom(this.storage);
    return new Tensor(s, this.shape);
  }

  /**
   * Returns the storage to the device's cache now. Views made by reshape()
   * keep it alive until they are disposed too. Idempotent.
   */
  dispose(): void {
    this.storage.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  toString(): string {
    return `Tensor(shape=[${this.shape.join(', ')}], device=${this.device}${this.disposed ? ', disposed' : ''})`;
  }

  private check(): void {
    if (this.storage.disposed) throw codedError('ERR_ADDERNET_DISPOSED', `addernet: ${this.toString()} was disposed; it can no longer be read or used`);
  }
}

let collecting: Tensor[] | undefined;

/**
 * @internal Runs fn (synchronously) and returns, with its result, every
 * tensor constructed meanwhile, so that a training step can free at once
 * whatever its layers did not (fit disposes them after reading the loss).
 */
export function collectTensors<T>(fn: () => T): { result: T; made: Tensor[] } {
  const outer = collecting;
  const made: Tensor[] = [];
  collecting = made;
  try {
    return { result: fn(), made };
  } finally {
    collecting = outer;
    outer?.push(...made);
  }
}

/**
 * @internal Runs fn (synchronously) with ops submitting to the device's
 * inference queue, which runs beside the queue of ops and training: what
 * Model.predict uses, so that it never waits for a whole queued step.
 */
export function onInferenceQueue<T>(fn: () => T): T {
  const previous = native.setQueue(1);
  try {
    return fn();
  } finally {
    native.setQueue(previous);
  }
}

/** A tensor holding a copy of `data` (later changes to `data` do not reach it). */
export function tensor(data: Float32Array, shape: readonly number[]): Tensor {
  return new Tensor(data, shape);
}

export function zeros(shape: readonly number[]): Tensor {
  const size = Array.isArray(shape) ? shape.reduce((a: number, b: number) => a * b, 1) : NaN;
  if (!Number.isSafeInteger(size) || size < 0) throw rangeError('ERR_ADDERNET_SHAPE', 'shape', 'an array of integers >= 0', describe(shape));
  return new Tensor(new native.Storage(checkOutputSize(shape, 'shape')), shape);
}

/** @internal An output tensor for a kernel to fill: its elements are undefined until then. */
export function empty(shape: readonly number[]): Tensor {
  return new Tensor(new native.Storage(shape.reduce((a, b) => a * b, 1), false), shape);
}

export function isTensor(value: unknown): value is Tensor {
  return value instanceof Tensor;
}

export interface MemoryInfo {
  device: Device;
  /** Tensor storages alive (a reshape view shares its storage). */
  liveTensors: number;
  /** Their bytes (allocator size classes). */
  liveBytes: number;
  /** Freed bytes kept for reuse. */
  cachedBytes: number;
  /** Most live bytes since start or resetPeakMemory(). */
  peakBytes: number;
  /** Most bytes the cache keeps (ADDERNET_CACHE_LIMIT; setCacheLimit()). */
  cacheLimit: number;
  /** Blocks obtained from the system, and requests served from the cache, since start. */
  systemAllocations: number;
  cacheHits: number;
}

/** The device allocator's figures: use them to prove a workload leaks nothing. */
export function memoryInfo(device: Device = 'cpu'): MemoryInfo {
  const m = native.memoryInfo(checkDevice(device));
  return {
    device: 'cpu', liveTensors: m.liveTensors, liveBytes: m.liveBytes, cachedBytes: m.cachedBytes, peakBytes: m.peakBytes,
    cacheLimit: m.cacheLimit, systemAllocations: m.systemAllocations, cacheHits: m.cacheHits,
  };
}

/** Returns the device's cached blocks to the system. */
export function emptyCache(device: Device = 'cpu'): void {
  native.emptyCache(checkDevice(device));
}

export function setCacheLimit(bytes: number, device: Device = 'cpu'): void {
  if (typeof bytes !== 'number' || !Number.isSafeInteger(bytes) || bytes < 0) {
    throw rangeError('ERR_ADDERNET_OPTION', 'bytes', 'an integer number of bytes >= 0', describe(bytes));
  }
  native.setCacheLimit(checkDevice(device), bytes);
}

export function resetPeakMemory(device: Device = 'cpu'): void {
  native.resetPeakMemory(checkDevice(device));
}
