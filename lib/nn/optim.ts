// The optimizers: SGD with momentum, Nesterov and weight decay
// (torch.optim.SGD's update) and Adam / AdamW (torch.optim.Adam's and
// AdamW's), each with AdderNet's adaptive learning rate for adder filters
// (SPEC.md): the scaled gradient eta*sqrt(k)/||g|| * g replaces the raw one
// before the update, so momentum, the running averages and weight decay all
// act on it, as the reference does by scaling inside backward.
import { checkBetas, checkFlag } from '../checks';
import { checkPositive, describe, rangeError } from '../errors';
import { native } from '../native';
import { adamUpdate, sgdUpdate } from '../ops/index';
import { type Tensor, zeros } from '../tensor';
import type { Parameter } from './module';

/** A zero tensor shaped like the parameter, for per-parameter optimizer state. */
const stateFor = (p: Parameter): Tensor => zeros(p.grad.shape);

/**
 * What every optimizer shares: its parameters, the learning rate (fit()
 * schedules it per epoch), the step count and the adaptive learning rate of
 * adder filters. step() hands each parameter's gradient to update(), scaled
 * (SPEC.md) for 'adder' parameters and untouched for the rest.
 */
export abstract class Optimizer {
  lr: number;
  /** Adaptive learning-rate coefficient for adder filters (default 0.2). */
  readonly eta: number;
  /** Steps taken so far (restored with the state by loadState). */
  protected steps = 0;
  private readonly scaled: (Tensor | undefined)[];

  protected constructor(
    readonly params: Parameter[],
    lr: number,
    eta: number | undefined,
  ) {
    this.lr = checkPositive(lr, 'lr');
    this.eta = checkPositive(eta ?? 0.2, 'eta');
    this.scaled = params.map((p) => (p.kind === 'adder' ? stateFor(p) : undefined));
  }

  step(): void {
    this.params.forEach((p, i) => {
      let grad = p.grad;
      const scaled = this.scaled[i];
      if (scaled) {
        native.adaptiveScale(grad.storage, scaled.storage, this.eta);
        grad = scaled;
      }
      this.update(i, grad);
      p.version += 1;
    });
    this.steps += 1;
  }

  /** Frees the optimizer's state and scaled-gradient workspaces (fit() does when it ends). */
  dispose(): void {
    for (const t of [...this.state(), ...this.scaled]) t?.dispose();
  }

  /** Steps taken so far. */
  get stepCount(): number {
    return this.steps;
  }

  /** The type and hyperparameters, enough to rebuild it with createOptimizer (a training checkpoint records them). */
  abstract config(): OptimizerConfig;

  /**
   * The state to save: the step count and, per parameter (in params order),
   * its buffers under PyTorch's names (momentum_buffer, exp_avg, exp_avg_sq,
   * max_exp_avg_sq). The tensors are the optimizer's own: read, do not keep.
   */
  stateBuffers(): { step: number; buffers: Record<string, Tensor>[] } {
    return { step: this.steps, buffers: this.params.map((_, i) => this.buffersOf(i)) };
  }

  /**
   * Restores what stateBuffers() gave: every buffer of every parameter must be
   * there with the parameter's size, checked before anything changes.
   */
  loadState(step: number, buffers: readonly Record<string, Float32Array>[], source = 'optimizer state'): void {
    if (!Number.isSafeInteger(step) || step < 0) throw rangeError('ERR_ADDERNET_FORMAT', `step in ${source}`, 'an integer >= 0', describe(step));
    if (buffers.length !== this.params.length) {
      throw rangeError('ERR_ADDERNET_FORMAT', source, `buffers for ${this.params.length} parameters`, `${buffers.length}`);
    }
    const writes: [Tensor, Float32Array][] = [];
    this.params.forEach((p, i) => {
      for (const [name, t] of Object.entries(this.buffersOf(i))) {
        const values = Object.hasOwn(buffers[i], name) ? buffers[i][name] : undefined;
        if (!(values instanceof Float32Array) || values.length !== p.value.size) {
          throw rangeError('ERR_ADDERNET_FORMAT', `${name} of parameter ${i} in ${source}`, `${p.value.size} float32 values`, values === undefined ? 'none' : `${values.length}`);
        }
        writes.push([t, values]);
      }
    });
    for (const [t, values] of writes) t.storage.write(values);
    this.steps = step;
  }

  /** Updates params[index] in place from grad (the scaled gradient for adder filters). */
  protected abstract update(index: number, grad: Tensor): void;
  /** The per-parameter state tensors that dispose() frees. */
  protected abstract state(): (Tensor | null | undefined)[];
  /** params[index]'s state tensors by PyTorch's names (none for momentum-free SGD). */
  protected abstract buffersOf(index: number): Record<string, Tensor>;
}

/** An optimizer's type and hyperparameters (the learning rate is fit()'s schedule). */
export type OptimizerConfig =
  | { type: 'sgd'; momentum: number; dampening: number; weightDecay: number; nesterov: boolean; eta: number }
  | { type: 'adam' | 'adamw'; betas: [number, number]; eps: number; weightDecay: number; amsgrad: boolean; eta: number };

export type OptimizerName = OptimizerConfig['type'];
export const OPTIMIZERS: readonly OptimizerName[] = ['sgd', 'adam', 'adamw'];

/** Builds the optimizer a config describes, at learning rate lr. */
export function createOptimizer(params: Parameter[], lr: number, c: OptimizerConfig): Optimizer {
  if (c.type === 'sgd') return new SGD(params, { lr, momentum: c.momentum, dampening: c.dampening, weightDecay: c.weightDecay, nesterov: c.nesterov, eta: c.eta });
  const options = { lr, betas: c.betas, eps: c.eps, weightDecay: c.weightDecay, amsgrad: c.amsgrad, eta: c.eta };
  return c.type === 'adam' ? new Adam(params, options) : new AdamW(params, options);
}

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /** Adaptive learning-rate coefficient for adder filters (default 0.2). */
  eta?: number;
}

export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly momentumBuffers: (Tensor | null)[];

  constructor(params: Parameter[], options: SGDOptions) {
    super(params, options.lr, options.eta);
    this.momentum = checkPositive(options.momentum ?? 0, 'momentum', true);
    this.dampening = checkPositive(options.dampening ?? 0, 'dampening', true);
    this.weightDecay = checkPositive(options.weightDecay ?? 0, 'weightDecay', true);
    this.nesterov = options.nesterov ?? false;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw rangeError('ERR_ADDERNET_OPTION', 'nesterov', 'momentum > 0 and dampening 0', `momentum ${describe(this.momentum)}, dampening ${describe(this.dampening)}`);
    }
    this.momentumBuffers = params.map((p) => (this.momentum > 0 ? stateFor(p) : null));
  }

  protected update(index: number, grad: Tensor): void {
    sgdUpdate(this.params[index].value, grad, this.momentumBuffers[index], {
      lr: this.lr, momentum: this.momentum, dampening: this.dampening,
      weightDecay: this.weightDecay, nesterov: this.nesterov, firstStep: this.steps === 0,
    });
  }

  protected state(): (Tensor | null)[] {
    return this.momentumBuffers;
  }

  protected buffersOf(index: number): Record<string, Tensor> {
    const m = this.momentumBuffers[index];
    return m ? { momentum_buffer: m } : {};
  }

  config(): OptimizerConfig {
    return { type: 'sgd', momentum: this.momentum, dampening: this.dampening, weightDecay: this.weightDecay, nesterov: this.nesterov, eta: this.eta };
  }
}

export interface AdamOptions {
  /** Default 1e-3. */
  lr?: number;
  /** Decay rates of the running averages of the gradient and its square (default [0.9, 0.999]). */
  betas?: readonly [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Default 0 (1e-2 for AdamW). */
  weightDecay?: number;
  /** AMSGrad: normalise by the running maximum of the squared-gradient average (default false). */
  amsgrad?: boolean;
  /**
   * Weight decay as AdamW applies it, param *= 1 - lr * weightDecay, instead
   * of adding weightDecay * param to the gradient (default false; AdamW sets it).
   */
  decoupledWeightDecay?: boolean;
  /** Adaptive learning-rate coefficient for adder filters (default 0.2). */
  eta?: number;
}

export type AdamWOptions = Omit<AdamOptions, 'decoupledWeightDecay'>;

/** torch.optim.Adam, with the adaptive learning rate for adder filters (SPEC.md). */
export class Adam extends Optimizer {
  readonly betas: readonly [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  readonly amsgrad: boolean;
  readonly decoupledWeightDecay: boolean;
  private readonly expAvg: Tensor[];
  private readonly expAvgSq: Tensor[];
  private readonly maxExpAvgSq: (Tensor | undefined)[];

  constructor(params: Parameter[], options: AdamOptions = {}) {
    super(params, options.lr ?? 1e-3, options.eta);
    this.betas = checkBetas(options.betas ?? [0.9, 0.999], 'betas');
    this.eps = checkPositive(options.eps ?? 1e-8, 'eps', true);
    this.weightDecay = checkPositive(options.weightDecay ?? 0, 'weightDecay', true);
    this.amsgrad = checkFlag(options.amsgrad, 'amsgrad', false);
    this.decoupledWeightDecay = checkFlag(options.decoupledWeightDecay, 'decoupledWeightDecay', false);
    this.expAvg = params.map(stateFor);
    this.expAvgSq = params.map(stateFor);
    this.maxExpAvgSq = params.map((p) => (this.amsgrad ? stateFor(p) : undefined));
  }

  protected update(index: number, grad: Tensor): void {
    adamUpdate(this.params[index].value, grad, this.expAvg[index], this.expAvgSq[index], {
      lr: this.lr, betas: this.betas, eps: this.eps, weightDecay: this.weightDecay,
      decoupled: this.decoupledWeightDecay, step: this.steps + 1,
      amsgrad: this.amsgrad, maxExpAvgSq: this.maxExpAvgSq[index],
    });
  }

  protected state(): (Tensor | undefined)[] {
    return [...this.expAvg, ...this.expAvgSq, ...this.maxExpAvgSq];
  }

  protected buffersOf(index: number): Record<string, Tensor> {
    const max = this.maxExpAvgSq[index];
    return { exp_avg: this.expAvg[index], exp_avg_sq: this.expAvgSq[index], ...(max ? { max_exp_avg_sq: max } : {}) };
  }

  config(): OptimizerConfig {
    return { type: this.decoupledWeightDecay ? 'adamw' : 'adam', betas: [...this.betas], eps: this.eps, weightDecay: this.weightDecay, amsgrad: this.amsgrad, eta: this.eta };
  }
}

/** torch.optim.AdamW: Adam with decoupled weight decay (default 1e-2). */
export class AdamW extends Adam {
  constructor(params: Parameter[], options: AdamWOptions = {}) {
    super(params, { ...options, weightDecay: options.weightDecay ?? 1e-2, decoupledWeightDecay: true });
  }
}

export type Schedule =
  | 'cosine'
  | 'constant'
  | { type: 'step'; stepSize: number; gamma?: number }
  | ((epoch: number, epochs: number, baseLr: number) => number);

/** Learning rate for an epoch (0-based). Cosine is the reference recipe: lr/2 * (1 + cos(pi * epoch / epochs)). */
export function scheduledLr(schedule: Schedule, baseLr: number, epoch: number, epochs: number): number {
  if (typeof schedule === 'function') return checkPositive(schedule(epoch, epochs, baseLr), 'schedule(epoch)', true);
  if (schedule === 'cosine') return 0.5 * baseLr * (1 + Math.cos((Math.PI * epoch) / epochs));
  if (schedule === 'constant') return baseLr;
  if (schedule && typeof schedule === 'object' && schedule.type === 'step') {
    return baseLr * Math.pow(schedule.gamma ?? 0.1, Math.floor(epoch / schedule.stepSize));
  }
  throw rangeError('ERR_ADDERNET_OPTION', 'schedule', "'cosine', 'constant', { type: 'step', stepSize } or a function", describe(schedule));
}
