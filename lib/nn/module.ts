// Module-level autograd: every module caches what its backward needs during
// forward(), and backward(gradOut) returns the input gradient while writing
// its parameters' gradients. Each parameter is used once per forward, so
// gradients are set, not accumulated.
import { codedError } from '../errors';
import { Tensor, zeros } from '../tensor';
import { unsizable, type SummaryRow } from './summary';

/** 'adder' parameters get the adaptive learning rate (SPEC.md); the rest plain SGD. */
export type ParameterKind = 'adder' | 'plain';

export class Parameter {
  /** Written in place by each backward (same shape as value). */
  readonly grad: Tensor;
  /** Bumped by every optimizer step (a change counter). */
  version = 0;
  constructor(
    public value: Tensor,
    readonly kind: ParameterKind = 'plain',
  ) {
    this.grad = zeros(value.shape);
  }
}

/** Serialisable description of a module, enough to rebuild it (see registry.ts). */
export interface ModuleConfig {
  type: string;
  args?: Record<string, unknown>;
  children?: Record<string, ModuleConfig>;
}

export abstract class Module {
  training = true;
  /** False for the first layer of a network: its input gradient is never needed. */
  needsInputGrad = true;
  protected readonly params = new Map<string, Parameter>();
  protected readonly buffers = new Map<string, Tensor>();
  protected readonly modules = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;
  /**
   * The input gradient. consumable: the caller no longer needs gradOut and
   * frees it afterwards, so the module may write the result into it (ReLU
   * does); otherwise gradOut is left alone.
   */
  abstract backward(gradOut: Tensor, consumable?: boolean): Tensor;
  abstract config(): ModuleConfig;

  /**
   * @internal Inference fusion: in eval mode forwardChain offers each module
   * the modules after it; one that can run some of them inside its own
   * kernel (a layer followed by BatchNorm and ReLU) returns its output and
   * how many of them it consumed, else undefined (the default).
   */
  forwardFused(x: Tensor, following: readonly Module[]): { y: Tensor; consumed: number } | undefined {
    void x;
    void following;
    return undefined;
  }

  /**
   * For model.summary(): appends this module's rows (layers, output shapes,
   * parameters, multiplications and additions of one example; see summary.ts)
   * to `rows` for one example of shape `input` (no batch dimension), and
   * returns the shape of its output. `name` is the module's dotted path.
   * Every built-in module implements it by shape arithmetic; a module of your
   * own must, for summary() to size it (this default throws ERR_ADDERNET_TYPE).
   */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    void input;
    void rows;
    throw unsizable(this, name);
  }

  protected addParameter(name: string, p: Parameter): Parameter {
    this.params.set(name, p);
    return p;
  }

  protected addBuffer(name: string, t: Tensor): Tensor {
    this.buffers.set(name, t);
    return t;
  }

  protected addModule<M extends Module>(name: string, m: M): M {
    this.modules.set(name, m);
    return m;
  }

  /**
   * @internal Swaps the registered child `name` for `m` (quantize() does, on
   * its own copy of a model). Only containers that read their children from
   * this map on every forward (Sequential, BasicBlock) run the new one.
   */
  replaceChild(name: string, m: Module): void {
    if (!this.modules.has(name)) throw codedError('ERR_ADDERNET_STATE', `addernet: no child module ${JSON.stringify(name)} to replace`);
    this.modules.set(name, m);
  }

  children(): [string, Module][] {
    return [...this.modules];
  }

  *namedParameters(prefix = ''): Generator<[string, Parameter]> {
    for (const [n, p] of this.params) yield [prefix + n, p];
    for (const [n, m] of this.modules) yield* m.namedParameters(`${prefix}${n}.`);
  }

  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [n, b] of this.buffers) yield [prefix + n, b];
    for (const [n, m] of this.modules) yield* m.namedBuffers(`${prefix}${n}.`);
  }

  /** Every module in the tree, depth first, with its dotted path. */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix.replace(/\.$/, ''), this];
    for (const [n, m] of this.modules) yield* m.namedModules(`${prefix}${n}.`);
  }

  parameters(): Parameter[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  protected childConfigs(): Record<string, ModuleConfig> {
    return Object.fromEntries([...this.modules].map(([n, m]) => [n, m.config()]));
  }
}

/** Throws when backward() is called without a preceding training forward(). */
export function cached<T>(value: T | undefined, module: string): T {
  if (value === undefined) {
    throw codedError('ERR_ADDERNET_STATE', `addernet: ${module}.backward() called without a forward() in training mode before it`);
  }
  return value;
}

/**
 * @internal Whether eval-mode forwards fuse each layer with the BatchNorm,
 * residual add and ReLU after it (one kernel instead of up to four; the same
 * floats). Off only to measure what fusion saves (bench:net) and in tests.
 */
export const inferenceFusion = { enabled: true };

/** @internal fn() with every module running its own forward (a synchronous section: nothing else sees the switch). */
export function withoutFusion<T>(fn: () => T): T {
  const was = inferenceFusion.enabled;
  inferenceFusion.enabled = false;
  try {
    return fn();
  } finally {
    inferenceFusion.enabled = was;
  }
}

/**
 * Runs modules one after another. In training, kept[i] is set to the output
 * of modules[i] (for all but the last): the next module caches it for its
 * backward, and so may modules[i] itself (ReLU keeps its output), so
 * backwardChain frees it once both have run their backward. In evaluation an
 * intermediate is freed as soon as the next module has read it (its kernel
 * holds the storage until it has run).
 */
export function forwardChain(modules: readonly Module[], x: Tensor, training: boolean, kept: (Tensor | undefined)[]): Tensor {
  let y = x;
  for (let i = 0; i < modules.length; i++) {
    const fused = training || !inferenceFusion.enabled ? undefined : modules[i].forwardFused(y, modules.slice(i + 1));
    const next = fused ? fused.y : modules[i].forward(y);
    if (fused) i += fused.consumed;
    if (training) {
      if (i < modules.length - 1) kept[i] = next === y ? undefined : next;
    } else if (y !== x && next !== y) {
      y.dispose();
    }
    y = next;
  }
  return y;
}

/**
 * Backward through modules run by forwardChain in training: each
 * intermediate gradient is freed once the module before it has consumed it,
 * each kept activation once the modules on both sides of it are done. The
 * caller's gradOut is left alone unless consumable (then the first module may
 * write into it); the returned gradient is the caller's.
 */
export function backwardChain(modules: readonly Module[], gradOut: Tensor, kept: (Tensor | undefined)[], consumable = false): Tensor {
  let g = gradOut;
  for (let i = modules.length - 1; i >= 0; --i) {
    // Intermediate gradients are the chain's own: a module may overwrite them.
    const next = modules[i].backward(g, g !== gradOut || consumable);
    if (g !== gradOut && next !== g) g.dispose();
    g = next;
    kept[i]?.dispose();
  }
  kept.length = 0;
  return g;
}
