// SGD with momentum, Nesterov and weight decay (torch.optim.SGD's update),
// plus AdderNet's adaptive learning rate for adder filters (SPEC.md): the
// scaled gradient eta*sqrt(k)/||g|| * g replaces the raw one before momentum
// and weight decay, as the reference does by scaling inside backward.
import { checkPositive, describe, rangeError } from '../errors';
import { native } from '../native';
import { sgdUpdate } from '../ops/index';
import { type Tensor, zeros } from '../tensor';
import type { Parameter } from './module';

export interface SGDOptions {
  lr: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /** Adaptive learning-rate coefficient for adder filters (default 0.2). */
  eta?: number;
}

export class SGD {
  lr: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  readonly eta: number;
  private readonly momentumBuffers: (Tensor | null)[];
  private readonly scaled: (Tensor | undefined)[];
  private steps = 0;

  constructor(
    readonly params: Parameter[],
    options: SGDOptions,
  ) {
    this.lr = checkPositive(options.lr, 'lr');
    this.momentum = checkPositive(options.momentum ?? 0, 'momentum', true);
    this.dampening = checkPositive(options.dampening ?? 0, 'dampening', true);
    this.weightDecay = checkPositive(options.weightDecay ?? 0, 'weightDecay', true);
    this.nesterov = options.nesterov ?? false;
    this.eta = checkPositive(options.eta ?? 0.2, 'eta');
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw rangeError('ERR_ADDERNET_OPTION', 'nesterov', 'momentum > 0 and dampening 0', `momentum ${describe(this.momentum)}, dampening ${describe(this.dampening)}`);
    }
    this.momentumBuffers = params.map((p) => (this.momentum > 0 ? zeros(p.grad.shape) : null));
    this.scaled = params.map((p) => (p.kind === 'adder' ? zeros(p.grad.shape) : undefined));
  }

  step(): void {
    const firstStep = this.steps === 0;
    this.params.forEach((p, i) => {
      let grad = p.grad;
      const scaled = this.scaled[i];
      if (scaled) {
        native.adaptiveScale(grad.storage, scaled.storage, this.eta);
        grad = scaled;
      }
      sgdUpdate(p.value, grad, this.momentumBuffers[i], {
        lr: this.lr, momentum: this.momentum, dampening: this.dampening,
        weightDecay: this.weightDecay, nesterov: this.nesterov, firstStep,
      });
      p.version += 1;
    });
    this.steps += 1;
  }

  /** Frees the momentum buffers and scaled-gradient workspaces (fit() does when it ends). */
  dispose(): void {
    for (const t of [...this.momentumBuffers, ...this.scaled]) t?.dispose();
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
