// A trainable network with its architecture description: forward/backward
// for training, state dicts with the reference PyTorch names, and an async
// predict() on the device's inference queue, so the event loop stays free
// and a predict never waits for a whole queued training step.
import { codedError, describe, rangeError, typeError } from '../errors';
import { readSafetensors, toFloat32Array, type SafetensorsTensor } from '../io/safetensors';
import { checkDevice, empty, onInferenceQueue, Tensor, type Device } from '../tensor';
import { BatchNorm1d, BatchNorm2d } from './layers';
import type { Module, ModuleConfig, Parameter } from './module';
import { moduleFromConfig, type ConfigLimits } from './registry';
import { checkSummaryInput, formatSummary, totalsOf, type ModelSummary, type SummaryOptions, type SummaryRow } from './summary';

export interface ModelInfo {
  /** Architecture name ('lenet5bn', 'resnet20', ..., or 'custom'). */
  arch: string;
  /** The options it was built with. */
  options: Record<string, unknown>;
  /** Shape of one input example, [C, H, W]. */
  inputShape: [number, number, number];
  numClasses: number;
  /** Names of the classes by output index, when known (printed by `addernet predict`). */
  classNames?: string[];
}

export interface ModelConfig {
  info: ModelInfo;
  net: ModuleConfig;
}

type StateSource = string | Map<string, Tensor | SafetensorsTensor> | Record<string, Tensor | SafetensorsTensor>;

const NUM_BATCHES = '.num_batches_tracked';

export class Model {
  /** Bumped by loadStateDict() and every fit() step (a progress counter). */
  version = 0;
  /** Set while fit() runs: one fit per model at a time. */
  busy = false;
  private disposed = false;
  // While fit() runs: a copy of the parameters and buffers as of the steps
  // queued so far, for predict() (see snapshotWeights).
  private snapshot?: { live: Tensor[]; copy: Tensor[] };

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

  /** True for a quantized model (nn/quantize.ts): predict and evaluate only, no fit. */
  get inferenceOnly(): boolean {
    return false;
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
    this.checkLive('forward');
    this.checkInput(x, 'x');
    return this.net.forward(x);
  }

  backward(gradOut: Tensor, consumable = false): Tensor {
    return this.net.backward(gradOut, consumable);
  }

  namedParameters(): [string, Parameter][] {
    return [...this.net.namedParameters()];
  }

  parameters(): Parameter[] {
    return this.net.parameters();
  }

  /**
   * The layers with their output shapes, parameters, and the multiplications
   * and additions of one forward of one example, as data (see formatSummary
   * and summaryText() for the table). Computed by shape arithmetic: no kernel
   * runs, no tensor is made, the mode is untouched. Counting, the AdderNet
   * paper's convention: an adder tap |x - w| + sum is 2 additions and no
   * multiplication; a conv/linear tap 1 multiplication + 1 addition; a bias
   * 1 addition per output; BatchNorm (folded at inference) 1 multiplication +
   * 1 addition per element; ReLU and max pooling (comparisons) nothing; average
   * pooling window - 1 additions per output; a residual sum 1 addition per element.
   *
   * LeNet-5-BN: its conv and fully connected layers take 416,520 taps
   * (conv1 117,600 + conv2 240,000 + fc1 48,000 + fc2 10,080 + fc3 840), so
   * the CNN does 416,520 multiplications + 416,530 additions there (fc3's bias)
   * and the AdderNet 833,040 additions and none: the paper's "about 435K mult
   * + 435K add vs 870K add" (Table 1) within 5%. With BatchNorm the totals are
   * 423,028 mult + 423,038 add (CNN) and 6,518 mult + 839,558 add (AdderNet,
   * its multiplications all in the BatchNorms, which fold into the next layer
   * at deployment). ResNet-20: 272,484 parameters (CNN and AdderNet alike)
   * and 40,813,184 taps in its conv/adder layers (40,551,040 without the two
   * 1x1 shortcut layers); in all 41,013,898 mult + 41,103,946 add as a CNN
   * (the paper: 41.17M), 643,722 mult (the first conv, the 1x1 conv
   * classifier and the BatchNorms) + 81,474,122 add as an AdderNet.
   */
  summary(options: SummaryOptions = {}): ModelSummary {
    const inputShape = options.inputShape === undefined ? [...this.info.inputShape] : checkSummaryInput(options.inputShape);
    const rows: SummaryRow[] = [];
    const outputShape = this.net.summarize(inputShape, '', rows);
    const layer = this.info.options?.layer;
    return {
      arch: this.info.arch,
      ...(typeof layer === 'string' ? { layer } : {}),
      inputShape,
      outputShape,
      rows,
      totals: totalsOf(rows),
    };
  }

  /** summary() as a Keras-like table (at most 100 columns), totals in K/M units. */
  summaryText(options: SummaryOptions = {}): string {
    return formatSummary(this.summary(options));
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
   * Inference in eval mode, whatever mode the model is in, off the event
   * loop: the kernels run on the device's inference queue, beside fit() and
   * other ops, and the promise resolves once the output is computed.
   * Concurrent calls (on one model or several) run in call order and give
   * the same results as sequential ones. A call uses the weights as they are
   * at the call (loads, in-place edits); while fit() runs on this model, the
   * weights of the steps queued so far, so it never waits for a whole
   * training step. Rejects with the failure of a kernel it ran (its code, and
   * the stack of this call).
   */
  async predict(x: Tensor): Promise<Tensor> {
    this.checkLive('predict');
    this.checkInput(x, 'x');
    const modules = [...this.net.namedModules()].map(([, m]) => m);
    const modes = modules.map((m) => m.training);
    const snap = this.snapshot;
    // Synchronous from here to the swap back: the kernels are queued with the
    // eval modes and snapshot blocks, then everything is put back.
    let y: Tensor;
    snap?.live.forEach((t, i) => t.storage.swap(snap.copy[i].storage));
    try {
      for (const m of modules) m.training = false;
      y = onInferenceQueue(() => this.net.forward(x));
    } finally {
      modules.forEach((m, i) => (m.training = modes[i]));
      snap?.live.forEach((t, i) => t.storage.swap(snap.copy[i].storage));
    }
    try {
      await y.data(); // surfaces a kernel failure (with this call's stack)
    } catch (err) {
      y.dispose();
      throw err;
    }
    return y;
  }

  /**
   * @internal fit() calls this before queuing each step: copies the
   * parameters and buffers (a queued copy, taking no time on this thread) so
   * that a predict() issued while the step runs reads the weights of the
   * steps before it instead of waiting for it.
   */
  snapshotWeights(): void {
    if (!this.snapshot) {
      const live = [...this.stateTensors().values()];
      this.snapshot = { live, copy: live.map((t) => empty(t.shape)) };
    }
    const { live, copy } = this.snapshot;
    copy.forEach((c, i) => c.storage.copyFrom(live[i].storage));
  }

  /** @internal fit() calls this when it ends: predict() reads the live weights again. */
  dropSnapshot(): void {
    for (const t of this.snapshot?.copy ?? []) t.dispose();
    this.snapshot = undefined;
  }

  /**
   * Frees the parameters, their gradients and the buffers now (predicts
   * already issued still complete); afterwards forward() and predict() throw
   * ERR_ADDERNET_DISPOSED. Without it the finalisers free them once the model
   * is garbage. Idempotent.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    if (this.busy) throw codedError('ERR_ADDERNET_BUSY', 'addernet: cannot dispose() a model while fit() or evaluate() runs on it');
    this.disposed = true;
    this.dropSnapshot();
    for (const p of this.net.parameters()) {
      p.value.dispose();
      p.grad.dispose();
    }
    for (const [, b] of this.net.namedBuffers()) b.dispose();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private checkLive(what: string): void {
    if (this.disposed) throw codedError('ERR_ADDERNET_DISPOSED', `addernet: ${what}() on a disposed model (dispose() freed its weights)`);
  }

  private checkInput(x: unknown, argument: string): void {
    const want = `[N, ${this.info.inputShape.join(', ')}]`;
    if (!(x instanceof Tensor) || x.dtype !== 'float32') throw typeError(argument, `a float32 Tensor of shape ${want}`, x);
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
