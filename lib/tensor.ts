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

/**
 * Element types: float32 for values (every op's inputs and outputs), int32
 * for indices (maxPool2d's argmax, which stays on the device for the backward).
 */
export type Dtype = 'float32' | 'int32';

/** The typed array a tensor of dtype D reads into. */
export type TypedArrayFor<D extends Dtype> = D extends 'int32' ? Int32Array : Float32Array;

/** A dense tensor in row-major (NCHW) order, stored on a device. Ops take float32 tensors. */
export class Tensor<D extends Dtype = 'float32'> {
  readonly shape: readonly number[];
  readonly device: Device = 'cpu';
  readonly dtype: D;
  /** Number of elements. */
  readonly size: number;
  /** @internal The native storage (binding/tensor.cc); ops pass it to the kernels. */
  readonly storage: NativeStorage;

  /**
   * From a Float32Array or Int32Array (copied into new storage of that
   * dtype) or, internally, a storage the tensor takes over.
   */
  // Typed so that D is inferred as 'float32' from a Float32Array; an
  // Int32Array needs `new Tensor<'int32'>(...)` (or tensor(), which infers it).
  constructor(data: Float32Array | NativeStorage | (D extends 'int32' ? Int32Array : never), shape: readonly number[]) {
    const dims = checkShapeArray(shape);
    const size = dims.reduce((a, b) => a * b, 1);
    if (data instanceof Float32Array || data instanceof Int32Array) {
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
      throw typeError('data', 'a Float32Array or an Int32Array', data);
    }
    this.dtype = this.storage.dtype as D;
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
  async data(): Promise<TypedArrayFor<D>> {
    this.check();
    // The rejection comes from the device queue, with no JavaScript stack:
    // give it the caller's, captured now (formatted only if it fails).
    const caller = new Error();
    try {
      return (await this.storage.readAsync()) as TypedArrayFor<D>;
    } catch (err) {
      throw withStack(err, caller);
    }
  }

  /** The elements, copied into a new Float32Array (Int32Array for int32); blocks the thread until the ops writing them have run (not otherwise). */
  dataSync(): TypedArrayFor<D> {
    this.check();
    const out = (this.dtype === 'int32' ? new Int32Array(this.size) : new Float32Array(this.size)) as TypedArrayFor<D>;
    this.storage.read(out);
    return out;
  }

  /** This tensor on `device`: itself when already there, else a copy. */
  to(device: Device): Tensor<D> {
    checkDevice(device);
    this.check();
    return this;
  }

  /** Same elements viewed with another shape of equal size (no copy; the storage is shared). */
  reshape(shape: readonly number[]): Tensor<D> {
    this.check();
    const dims = checkShapeArray(shape);
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== this.size) {
      throw rangeError('ERR_ADDERNET_SHAPE', 'shape', `a shape of ${this.size} elements`, `${describe(shape)} (${size} elements)`);
    }
    return new Tensor<D>(this.storage.share(), dims);
  }

  /** A copy in new storage. */
  clone(): Tensor<D> {
    this.check();
    const s = new native.Storage(this.size, false, this.dtype);
    s.copyFrom(this.storage);
    return new Tensor<D>(s, this.shape);
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
    const dtype = this.dtype === 'float32' ? '' : `, dtype=${this.dtype}`;
    return `Tensor(shape=[${this.shape.join(', ')}]${dtype}, device=${this.device}${this.disposed ? ', disposed' : ''})`;
  }

  private check(): void {
    if (this.storage.disposed) throw codedError('ERR_ADDERNET_DISPOSED', `addernet: ${this.toString()} was disposed; it can no longer be read or used`);
  }
}

let collecting: Tensor<Dtype>[] | undefined;

/**
 * @internal Runs fn (synchronously) and returns, with its result, every
 * tensor constructed meanwhile, so that a training step can free at once
 * whatever its layers did not (fit disposes them after reading the loss).
 */
export function collectTensors<T>(fn: () => T): { result: T; made: Tensor<Dtype>[] } {
  const outer = collecting;
  const made: Tensor<Dtype>[] = [];
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

/**
 * A tensor holding a copy of `data` (later changes to `data` do not reach
 * it): float32 from a Float32Array, int32 from an Int32Array.
 */
export function tensor(data: Float32Array, shape: readonly number[]): Tensor;
export function tensor(data: Int32Array, shape: readonly number[]): Tensor<'int32'>;
export function tensor(data: Float32Array | Int32Array, shape: readonly number[]): Tensor<Dtype> {
  return data instanceof Int32Array ? new Tensor<'int32'>(data, shape) : new Tensor(data, shape);
}

function checkDtype(value: unknown): Dtype {
  if (value === 'float32' || value === 'int32') return value;
  throw typeError('dtype', '"float32" or "int32"', value);
}

export function zeros(shape: readonly number[]): Tensor;
export function zeros<D extends Dtype>(shape: readonly number[], dtype: D): Tensor<D>;
export function zeros(shape: readonly number[], dtype: Dtype = 'float32'): Tensor<Dtype> {
  const size = Array.isArray(shape) ? shape.reduce((a: number, b: number) => a * b, 1) : NaN;
  if (!Number.isSafeInteger(size) || size < 0) throw rangeError('ERR_ADDERNET_SHAPE', 'shape', 'an array of integers >= 0', describe(shape));
  return new Tensor(new native.Storage(checkOutputSize(shape, 'shape'), true, checkDtype(dtype)), shape);
}

/** @internal An output tensor for a kernel to fill: its elements are undefined until then. */
export function empty(shape: readonly number[]): Tensor;
export function empty<D extends Dtype>(shape: readonly number[], dtype: D): Tensor<D>;
export function empty(shape: readonly number[], dtype: Dtype = 'float32'): Tensor<Dtype> {
  return new Tensor(new native.Storage(shape.reduce((a, b) => a * b, 1), false, dtype), shape);
}

export function isTensor(value: unknown): value is Tensor<Dtype> {
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
