// A trainable network with its architecture description: forward/backward
// for training, state dicts with the reference PyTorch names, and an async
// predict() that runs in a worker thread so the event loop stays free.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, rangeError, typeError } from '../errors';
import { readSafetensors, toFloat32Array, type SafetensorsTensor } from '../io/safetensors';
import { packageRoot } from '../paths';
import { Tensor } from '../tensor';
import { BatchNorm1d, BatchNorm2d } from './layers';
import type { Module, ModuleConfig, Parameter } from './module';
import { moduleFromConfig } from './registry';

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
  /** Bumped when weights are loaded; see stateVersion(). */
  version = 0;
  /** Set while fit() runs: one fit per model at a time. */
  busy = false;
  private predictor?: Predictor;

  constructor(
    readonly net: Module,
    readonly info: ModelInfo,
  ) {}

  /** maxElements: see moduleFromConfig (limits what a hostile config can allocate). */
  static fromConfig(config: ModelConfig, maxElements = Infinity): Model {
    if (!config || typeof config !== 'object' || !config.info || !config.net) {
      throw typeError('config', 'a model config { info, net }', config);
    }
    return new Model(moduleFromConfig(config.net, maxElements), config.info);
  }

  config(): ModelConfig {
    return { info: this.info, net: this.net.config() };
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

  /**
   * Changes whenever any weight or running statistic may have changed:
   * loads, optimizer steps (Parameter.version) and training-mode forwards
   * (BatchNorm batch counters).
   */
  stateVersion(): number {
    let v = this.version;
    for (const p of this.net.parameters()) v += p.version;
    for (const count of Object.values(this.batchCounters())) v += count;
    return v;
  }

  /** Parameters and buffers (running statistics) by their reference names; live tensors, not copies. */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [n, p] of this.net.namedParameters()) out[n] = p.value;
    for (const [n, b] of this.net.namedBuffers()) out[n] = b;
    return out;
  }

  /** BatchNorm batch counters, as PyTorch's `*.num_batches_tracked`. */
  batchCounters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [n, m] of this.net.namedModules()) {
      if (m instanceof BatchNorm2d || m instanceof BatchNorm1d) out[n + NUM_BATCHES] = m.numBatchesTracked;
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
    const own = this.stateDict();
    const counters = this.batchCounters();
    const label = sourceName ?? (typeof source === 'string' ? source : undefined);
    const where = label ? ` in ${label}` : '';
    const seen = new Set<string>();
    const copies: [Float32Array, Float32Array | number[]][] = [];
    // Validate everything before changing anything: a failed load leaves the model as it was.
    for (const [rawName, value] of entries) {
      const name = rawName.startsWith('module.') ? rawName.slice(7) : rawName;
      if (name in counters) {
        counters[name] = Number(valueAsNumbers(value, rawName)[0] ?? 0);
        continue;
      }
      const target = own[name];
      if (!target) {
        throw rangeError('ERR_ADDERNET_FORMAT', 'state dict', `only names of this ${this.info.arch} model`, `unexpected tensor "${rawName}"${where}`);
      }
      const shape = value instanceof Tensor ? value.shape : value.shape;
      if (shape.length !== target.shape.length || shape.some((d, i) => d !== target.shape[i])) {
        throw rangeError('ERR_ADDERNET_SHAPE', `"${rawName}"${where}`, `shape ${describe(target.shape)}`, `shape ${describe(shape)}`);
      }
      copies.push([target.data, valueAsNumbers(value, rawName)]);
      seen.add(name);
    }
    const missing = Object.keys(own).filter((n) => !seen.has(n));
    if (missing.length) {
      throw rangeError('ERR_ADDERNET_FORMAT', 'state dict', `every tensor of this ${this.info.arch} model`, `none for ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}${where}`);
    }
    for (const [target, values] of copies) target.set(values);
    for (const [n, m] of this.net.namedModules()) {
      if ((m instanceof BatchNorm2d || m instanceof BatchNorm1d) && n + NUM_BATCHES in counters) m.numBatchesTracked = counters[n + NUM_BATCHES];
    }
    this.version += 1;
    return this;
  }

  /**
   * Inference in eval mode on a worker thread (the caller's event loop is not
   * blocked). Concurrent calls are queued and give the same results as
   * sequential ones. Weights are sent to the worker again after they change.
   */
  async predict(x: Tensor): Promise<Tensor> {
    const stack = new Error();
    this.checkInput(x, 'x');
    this.predictor ??= new Predictor();
    try {
      return await this.predictor.run(this, x);
    } catch (err) {
      if (err instanceof Error && stack.stack) err.stack = `${err.name}: ${err.message}\n${stack.stack.split('\n').slice(1).join('\n')}`;
      throw err;
    }
  }

  /** Stops the predict worker (a new one starts on the next predict). */
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

function readStateSource(source: StateSource): [string, Tensor | SafetensorsTensor][] {
  if (typeof source === 'string') return [...readSafetensors(source)];
  if (source instanceof Map) return [...source];
  if (source && typeof source === 'object') return Object.entries(source);
  throw typeError('source', 'a safetensors path or a map of tensors', source);
}

function valueAsNumbers(value: Tensor | SafetensorsTensor, name: string): Float32Array | number[] {
  if (value instanceof Tensor) return value.data;
  if (value.dtype === 'I64' || value.dtype === 'U64') return Array.from(value.data as BigInt64Array, Number);
  if (value.dtype === 'F32' || value.dtype === 'F64' || value.dtype === 'F16' || value.dtype === 'BF16') return toFloat32Array(value);
  throw rangeError('ERR_ADDERNET_FORMAT', `"${name}"`, 'a floating-point tensor', `dtype ${value.dtype}`);
}

interface Pending {
  resolve: (t: Tensor) => void;
  reject: (e: Error) => void;
}

/** One worker thread per model, holding an eval-mode copy of its weights. */
class Predictor {
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private loadedVersion = -1;
  private loadedModel?: Model;
  private failure?: Error;

  constructor() {
    const file = path.join(packageRoot, 'dist', 'lib', 'nn', 'predict-worker.js');
    this.worker = new Worker(file);
    this.worker.unref();
    this.worker.on('message', (msg: { id: number; data?: Float32Array; shape?: number[]; error?: { message: string; name: string; code?: string } }) => {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (this.pending.size === 0) this.worker.unref();
      if (msg.error) {
        const err = new Error(msg.error.message) as Error & { code?: string };
        err.name = msg.error.name;
        if (msg.error.code) err.code = msg.error.code;
        p.reject(err);
      } else {
        p.resolve(new Tensor(msg.data as Float32Array, msg.shape as number[]));
      }
    });
    this.worker.on('error', (err) => this.failAll(err));
    this.worker.on('exit', (code) => this.failAll(new Error(`addernet: predict worker exited with code ${code}`)));
  }

  private failAll(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  run(model: Model, x: Tensor): Promise<Tensor> {
    if (this.failure) return Promise.reject(this.failure);
    const version = model.stateVersion();
    if (this.loadedModel !== model || this.loadedVersion !== version) {
      const state: Record<string, Float32Array> = {};
      for (const [n, t] of Object.entries(model.stateDict())) state[n] = t.data.slice();
      this.worker.postMessage({ type: 'load', config: model.config(), state });
      this.loadedModel = model;
      this.loadedVersion = version;
    }
    const id = this.nextId++;
    return new Promise<Tensor>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ type: 'predict', id, data: x.data.slice(), shape: [...x.shape] });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
