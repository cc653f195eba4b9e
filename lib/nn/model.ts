// A trainable network with its architecture description: forward/backward
// for training, state dicts with the reference PyTorch names, and an async
// predict() that runs in a worker thread so the event loop stays free.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, rangeError, typeError, type AddernetError, type AddernetErrorCode } from '../errors';
import { readSafetensors, toFloat32Array, type SafetensorsTensor } from '../io/safetensors';
import { packageRoot } from '../paths';
import { checkDevice, Tensor, type Device } from '../tensor';
import { BatchNorm1d, BatchNorm2d } from './layers';
import type { Module, ModuleConfig, Parameter } from './module';
import { moduleFromConfig, type ConfigLimits } from './registry';

export interface ModelInfo {
  /** Architecture name ('lenet5bn', 'resnet20', ..., or 'custom'). */
  arch: string;
  /** The options it was built with. */
  options: Record<string, unknown>;
  /** Shape of one input example, [C, H, W]. */
  inputShape: [number, number, number];
  numClasses: number;
}

export interface ModelConfig {
  info: ModelInfo;
  net: ModuleConfig;
}

type StateSource = string | Map<string, Tensor | SafetensorsTensor> | Record<string, Tensor | SafetensorsTensor>;

const NUM_BATCHES = '.num_batches_tracked';

export class Model {
  /** Bumped by loadStateDict() and every fit() step (a progress counter; predict() compares weights instead). */
  version = 0;
  /** Set while fit() runs: one fit per model at a time. */
  busy = false;
  private predictor?: Predictor;

  constructor(
    readonly net: Module,
    readonly info: ModelInfo,
  ) {}

  /** limits: see moduleFromConfig (what a hostile config may allocate). */
  static fromConfig(config: ModelConfig, limits: ConfigLimits | number = {}): Model {
    if (!config || typeof config !== 'object' || !config.info || !config.net) {
      throw typeError('config', 'a model config { info, net }', config);
    }
    return new Model(moduleFromConfig(config.net, limits), config.info);
  }

  config(): ModelConfig {
    return { info: this.info, net: this.net.config() };
  }

  /** The device its parameters live on. */
  get device(): Device {
    return 'cpu';
  }

  /**
   * Moves the parameters and buffers to `device` (in place, like PyTorch's
   * module.to) and returns the model. 'cpu' is the only device of this build:
   * other names throw ERR_ADDERNET_DEVICE.
   */
  to(device: Device): this {
    checkDevice(device);
    return this;
  }

  get training(): boolean {
    return this.net.training;
  }

  train(mode = true): this {
    this.net.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Checks x is [N, ...inputShape] and runs the network (training or eval mode). */
  forward(x: Tensor): Tensor {
    this.checkInput(x, 'x');
    return this.net.forward(x);
  }

  backward(gradOut: Tensor): Tensor {
    return this.net.backward(gradOut);
  }

  namedParameters(): [string, Parameter][] {
    return [...this.net.namedParameters()];
  }

  parameters(): Parameter[] {
    return this.net.parameters();
  }

  /** Parameters and buffers (running statistics) by their reference names; live tensors, not copies. */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.stateTensors());
  }

  /** BatchNorm batch counters, as PyTorch's `*.num_batches_tracked`. */
  batchCounters(): Record<string, number> {
    return Object.fromEntries([...this.batchNorms()].map(([n, m]) => [n, m.numBatchesTracked]));
  }

  // Maps, not plain objects: names from a file must never match Object.prototype keys.
  private stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, p] of this.net.namedParameters()) out.set(n, p.value);
    for (const [n, b] of this.net.namedBuffers()) out.set(n, b);
    return out;
  }

  private batchNorms(): Map<string, BatchNorm1d | BatchNorm2d> {
    const out = new Map<string, BatchNorm1d | BatchNorm2d>();
    for (const [n, m] of this.net.namedModules()) {
      if (m instanceof BatchNorm2d || m instanceof BatchNorm1d) out.set(n + NUM_BATCHES, m);
    }
    return out;
  }

  /**
   * Loads weights from a safetensors file or a name -> tensor map. Names may
   * carry DataParallel's `module.` prefix. Every parameter and buffer must be
   * present with the right shape; unknown names are an error.
   */
  loadStateDict(source: StateSource, sourceName?: string): this {
    const entries = readStateSource(source);
    const own = this.stateTensors();
    const bns = this.batchNorms();
    const label = sourceName ?? (typeof source === 'string' ? source : undefined);
    const where = label ? ` in ${label}` : '';
    const seen = new Set<string>();
    const copies: [Tensor, Float32Array | number[]][] = [];
    const counters: [BatchNorm1d | BatchNorm2d, number][] = [];
    // Validate everything before changing anything: a failed load leaves the model as it was.
    for (const [rawName, value] of entries) {
      const name = rawName.startsWith('module.') ? rawName.slice(7) : rawName;
      const bn = bns.get(name);
      const target = own.get(name);
      if (!bn && !target) {
        throw rangeError('ERR_ADDERNET_FORMAT', 'state dict', `only names of this ${this.info.arch} model`, `unexpected tensor "${rawName}"${where}`);
      }
      if (seen.has(name)) {
        throw rangeError('ERR_ADDERNET_FORMAT', 'state dict', 'each tensor once', `"${name}" twice (with and without "module.")${where}`);
      }
      seen.add(name);
      if (!isStateValue(value)) throw typeError(`"${rawName}"${where}`, 'a Tensor or a safetensors tensor', value);
      if (bn) {
        counters.push([bn, Number(valueAsNumbers(value, rawName)[0] ?? 0)]);
        continue;
      }
      const want = target!;
      const shape = value.shape;
      if (shape.length !== want.shape.length || shape.some((d, i) => d !== want.shape[i])) {
        throw rangeError('ERR_ADDERNET_SHAPE', `"${rawName}"${where}`, `shape ${describe(want.shape)}`, `shape ${describe(shape)}`);
      }
      const values = valueAsNumbers(value, rawName);
      if (values.length !== want.size) {
        throw rangeError('ERR_ADDERNET_SIZE', `"${rawName}"${where}`, `${want.size} values`, `${values.length}`);
      }
      copies.push([want, values]);
    }
    const missing = [...own.keys()].filter((n) => !seen.has(n));
    if (missing.length) {
      throw rangeError('ERR_ADDERNET_FORMAT', 'state dict', `every tensor of this ${this.info.arch} model`, `none for ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}${where}`);
    }
    for (const [target, values] of copies) target.storage.write(values instanceof Float32Array ? values : Float32Array.from(values));
    for (const [bn, count] of counters) bn.numBatchesTracked = count;
    this.version += 1;
    return this;
  }

  /**
   * Inference in eval mode on a worker thread (the caller's event loop is not
   * blocked). Concurrent calls are queued and give the same results as
   * sequential ones. Every call uses the weights as they are at the call,
   * however they were changed (loads, training, in-place edits of stateDict()
   * tensors). dispose() rejects calls still pending with ERR_ADDERNET_DISPOSED.
   */
  async predict(x: Tensor): Promise<Tensor> {
    const stack = new Error();
    this.checkInput(x, 'x');
    // A worker that died (ERR_ADDERNET_WORKER) is replaced rather than failing every later call.
    if (this.predictor?.failed) this.predictor = undefined;
    this.predictor ??= new Predictor();
    try {
      return await this.predictor.run(this, x);
    } catch (err) {
      if (err instanceof Error && stack.stack) err.stack = `${err.name}: ${err.message}\n${stack.stack.split('\n').slice(1).join('\n')}`;
      throw err;
    }
  }

  /** Stops the predict worker, rejecting pending predicts with ERR_ADDERNET_DISPOSED (a new worker starts on the next predict). */
  async dispose(): Promise<void> {
    const p = this.predictor;
    this.predictor = undefined;
    await p?.close();
  }

  private checkInput(x: unknown, argument: string): void {
    const want = `[N, ${this.info.inputShape.join(', ')}]`;
    if (!(x instanceof Tensor)) throw typeError(argument, `a Tensor of shape ${want}`, x);
    const s = x.shape;
    if (s.length !== 4 || s[0] < 1 || s.slice(1).some((d, i) => d !== this.info.inputShape[i])) {
      throw rangeError('ERR_ADDERNET_SHAPE', argument, `shape ${want}`, `shape ${describe(s)}`);
    }
  }
}

function isStateValue(value: unknown): value is Tensor | SafetensorsTensor {
  if (value instanceof Tensor) return true;
  const v = value as SafetensorsTensor | null;
  return !!v && typeof v === 'object' && typeof v.dtype === 'string' && Array.isArray(v.shape) && ArrayBuffer.isView(v.data);
}

function readStateSource(source: StateSource): [string, Tensor | SafetensorsTensor][] {
  if (typeof source === 'string') return [...readSafetensors(source)];
  if (source instanceof Map) return [...source];
  if (source && typeof source === 'object') return Object.entries(source);
  throw typeError('source', 'a safetensors path or a map of tensors', source);
}

function valueAsNumbers(value: Tensor | SafetensorsTensor, name: string): Float32Array | number[] {
  if (value instanceof Tensor) return value.dataSync();
  if (value.dtype === 'I64' || value.dtype === 'U64') return Array.from(value.data as BigInt64Array, Number);
  if (value.dtype === 'F32' || value.dtype === 'F64' || value.dtype === 'F16' || value.dtype === 'BF16') return toFloat32Array(value);
  throw rangeError('ERR_ADDERNET_FORMAT', `"${name}"`, 'a floating-point tensor', `dtype ${value.dtype}`);
}

interface Pending {
  resolve: (t: Tensor) => void;
  reject: (e: Error) => void;
}

type WorkerReply = { id: number; data?: Float32Array; shape?: number[]; error?: { message: string; name: string; code?: string } };

/** Errors of the predict machinery itself, with a stable code like every addernet error. */
function predictError(code: AddernetErrorCode, message: string, cause?: unknown, name = 'Error'): AddernetError {
  const Ctor = name === 'TypeError' ? TypeError : name === 'RangeError' ? RangeError : Error;
  const err = new Ctor(message, cause === undefined ? undefined : { cause }) as AddernetError;
  if (err.name !== name) err.name = name;
  err.code = code;
  return err;
}

const disposedError = (): AddernetError =>
  predictError('ERR_ADDERNET_DISPOSED', 'addernet: predict() cancelled: dispose() stopped the predict worker before it answered');

/** Bit-for-bit equality of the model's current state and a snapshot (names in the same order). */
function sameState(snapshot: [string, Float32Array][], current: [string, Tensor][]): boolean {
  if (snapshot.length !== current.length) return false;
  return snapshot.every(([n, a], i) => {
    const [m, t] = current[i];
    const b = t.dataSync();
    return n === m && a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  });
}

/**
 * One worker thread per model, holding an eval-mode copy of its weights.
 *
 * Before each predict the model's config and weights are compared with what the
 * worker was last sent, and sent again when anything differs. Comparing contents
 * rather than trusting change counters catches every way weights change
 * (loads, optimizer steps, BatchNorm statistics, in-place edits of stateDict()
 * tensors); the snapshot is a private copy, so equality proves the worker holds
 * the caller's current weights. Cost per call: a comparison of every weight
 * (about 0.3 ms for ResNet-20's 1.1 MB, against ~6 ms for a batch-1 predict),
 * plus a copy and a reload in the worker only when something changed.
 */
class Predictor {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private sent?: { config: string; state: [string, Float32Array][] };
  private failure?: () => AddernetError;
  private closing = false;

  constructor() {
    const file = path.join(packageRoot, 'dist', 'lib', 'nn', 'predict-worker.js');
    this.worker = new Worker(file);
    this.worker.unref();
    this.worker.on('message', (msg: WorkerReply) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) this.worker.unref();
      if (msg.error) {
        const code = typeof msg.error.code === 'string' && msg.error.code.startsWith('ERR_ADDERNET_') ? (msg.error.code as AddernetErrorCode) : 'ERR_ADDERNET_WORKER';
        p.reject(predictError(code, msg.error.message, undefined, msg.error.name));
      } else {
        p.resolve(new Tensor(msg.data as Float32Array, msg.shape as number[]));
      }
    });
    this.worker.on('error', (err) => this.failAll(() => predictError('ERR_ADDERNET_WORKER', `addernet: predict worker failed: ${err?.message ?? String(err)}`, err)));
    this.worker.on('exit', (code) => this.failAll(this.closing ? disposedError : () => predictError('ERR_ADDERNET_WORKER', `addernet: predict worker exited with code ${code}`)));
  }

  /** The worker is gone (died or disposed): every call would fail. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Rejects every pending call, each with its own error object (callers rewrite its stack). */
  private failAll(make: () => AddernetError): void {
    this.failure ??= make;
    for (const p of this.pending.values()) p.reject(make());
    this.pending.clear();
  }

  run(model: Model, x: Tensor): Promise<Tensor> {
    if (this.failure || this.closing) return Promise.reject((this.failure ?? disposedError)());
    this.sync(model);
    const id = this.nextId++;
    const data = x.dataSync(); // a copy: the caller may change x while the call is pending
    return new Promise<Tensor>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ type: 'predict', id, data, shape: [...x.shape] }, [data.buffer as ArrayBuffer]);
    });
  }

  /** Sends config and weights unless they equal, bit for bit, what the worker last got (see the class comment). */
  private sync(model: Model): void {
    const config = JSON.stringify(model.config());
    const state = Object.entries(model.stateDict());
    if (this.sent && this.sent.config === config && sameState(this.sent.state, state)) return;
    const snapshot = state.map(([n, t]): [string, Float32Array] => [n, t.dataSync()]);
    // postMessage clones synchronously, so the worker gets exactly the snapshot kept here.
    this.worker.postMessage({ type: 'load', config, state: snapshot });
    this.sent = { config, state: snapshot };
  }

  /**
   * Stops the worker; calls still pending are rejected with ERR_ADDERNET_DISPOSED
   * when it has exited (the same moment dispose() resolves, so a caller that
   * awaits dispose() and then the calls sees no unhandled rejection).
   */
  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
    this.failAll(disposedError);
  }
}
