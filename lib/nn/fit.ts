// fit() and evaluate(): the training loop over native kernels. Both are async
// and yield to the event loop after every batch, so a service stays responsive.
import { batches, type BatchOptions } from '../data/batches';
import { checkDataset, datasetSize, type Dataset } from '../data/dataset';
import { checkInteger, checkPositive, describe, rangeError, typeError } from '../errors';
import { checkDevice, collectTensors, type Device, type Tensor } from '../tensor';
import { softmaxCrossEntropyQueued } from '../ops/index';
import { Model } from './model';
import { SGD, scheduledLr, type Schedule } from './optim';

export interface BatchLogs {
  epoch: number;
  batch: number;
  /** Mean loss of this batch. */
  loss: number;
  /** Accuracy of this batch. */
  accuracy: number;
  size: number;
  lr: number;
}

export interface EpochLogs {
  epoch: number;
  /** Mean training loss and accuracy over the epoch (training mode). */
  loss: number;
  accuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  lr: number;
  seconds: number;
  examplesPerSecond: number;
}

export interface FitCallbacks {
  onBatchEnd?: (logs: BatchLogs) => void | Promise<void>;
  onEpochEnd?: (logs: EpochLogs) => void | Promise<void>;
}

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  /** Base learning rate (default 0.1). */
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
  /** Adaptive learning-rate coefficient of adder layers (default 0.2). */
  eta?: number;
  /** Learning-rate schedule over epochs (default 'cosine', the reference recipe). */
  schedule?: Schedule;
  /** Seed of the shuffling and augmentation (default 0). */
  seed?: number;
  /** Batch augmentation, e.g. true for the CIFAR recipe (crop 32 pad 4 + flip). */
  augment?: BatchOptions['augment'];
  validationData?: Dataset;
  callbacks?: FitCallbacks;
  /** Stops training after the current batch; fit() then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Where to train: the model is moved there first (default: where it is; 'cpu' in this build). */
  device?: Device;
}

export interface History {
  epochs: EpochLogs[];
  /** Wall time of the whole fit, seconds. */
  seconds: number;
  examplesPerSecond: number;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
}

const nextTick = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * Queues a step on batch x (fn returns the [loss, correct] tensor of
 * softmaxCrossEntropyQueued) and awaits only that result, so the event loop
 * runs while the step does; then frees the batch and whatever the step made
 * that its layers did not (logits, BN statistics, the input gradient).
 */
async function queuedLoss(x: Tensor, fn: () => Tensor): Promise<{ loss: number; correct: number }> {
  const { result, made } = collectTensors(fn);
  const [loss, correct] = await result.data();
  x.dispose();
  for (const t of made) t.dispose();
  return { loss, correct };
}

/** fit() and evaluate() switch the model's mode and yield between batches: one at a time per model. */
function checkIdle(model: Model, what: string): void {
  if (model.busy) {
    throw Object.assign(new Error(`addernet: cannot start ${what}() while fit() or evaluate() runs on this model (one fit per model at a time)`), { code: 'ERR_ADDERNET_BUSY' });
  }
}

function checkModelData(model: unknown, data: unknown, argument: string): Dataset {
  if (!(model instanceof Model)) throw typeError('model', 'a Model', model);
  const ds = checkDataset(data, argument);
  const want = model.info.inputShape;
  if (ds.shape.some((d, i) => d !== want[i])) {
    throw rangeError('ERR_ADDERNET_SHAPE', argument, `examples of shape ${describe(want)} for this ${model.info.arch}`, `shape ${describe(ds.shape)}`);
  }
  return ds;
}

export async function fit(model: Model, trainData: Dataset, options: FitOptions = {}): Promise<History> {
  const data = checkModelData(model, trainData, 'trainData');
  const validation = options.validationData === undefined ? undefined : checkModelData(model, options.validationData, 'validationData');
  const epochs = checkInteger(options.epochs ?? 1, 'epochs', 1);
  const batchSize = checkInteger(options.batchSize ?? 32, 'batchSize', 1);
  const baseLr = checkPositive(options.lr ?? 0.1, 'lr');
  const seed = options.seed ?? 0;
  const schedule = options.schedule ?? 'cosine';
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw typeError('signal', 'an AbortSignal', options.signal);
  if (options.device !== undefined) model.to(checkDevice(options.device, 'options.device'));
  checkIdle(model, 'fit');
  const optimizer = new SGD(model.parameters(), {
    lr: baseLr,
    momentum: options.momentum ?? 0.9,
    weightDecay: options.weightDecay ?? 5e-4,
    nesterov: options.nesterov ?? false,
    eta: options.eta ?? 0.2,
  });
  model.busy = true;
  const started = performance.now();
  const history: History = { epochs: [], seconds: 0, examplesPerSecond: 0 };
  let seen = 0;
  try {
    for (let epoch = 0; epoch < epochs; ++epoch) {
      optimizer.lr = scheduledLr(schedule, baseLr, epoch, epochs);
      model.train();
      const t0 = performance.now();
      let lossSum = 0;
      let correct = 0;
      let count = 0;
      let batch = 0;
      // A final batch of one example cannot train BatchNorm (as in PyTorch): skip it.
      const dropLast = datasetSize(data) % batchSize === 1;
      for (const { x, y } of batches(data, { batchSize, shuffle: true, seed, epoch, dropLast, augment: options.augment })) {
        options.signal?.throwIfAborted();
        model.snapshotWeights(); // what a predict() issued during this step reads
        const r = await queuedLoss(x, () => {
          const l = softmaxCrossEntropyQueued(model.forward(x), y);
          model.backward(l.gradLogits!);
          optimizer.step();
          return l.result;
        });
        model.version += 1;
        lossSum += r.loss * y.length;
        correct += r.correct;
        count += y.length;
        await options.callbacks?.onBatchEnd?.({ epoch, batch, loss: r.loss, accuracy: r.correct / y.length, size: y.length, lr: optimizer.lr });
        batch += 1;
        await nextTick();
      }
      seen += count;
      const seconds = (performance.now() - t0) / 1000;
      const logs: EpochLogs = { epoch, loss: lossSum / count, accuracy: correct / count, lr: optimizer.lr, seconds, examplesPerSecond: count / seconds };
      if (validation) {
        const v = await evaluateDataset(model, validation, Math.max(batchSize, 256), options.signal);
        logs.valLoss = v.loss;
        logs.valAccuracy = v.accuracy;
      }
      history.epochs.push(logs);
      await options.callbacks?.onEpochEnd?.(logs);
    }
  } finally {
    model.busy = false;
    model.train();
    model.dropSnapshot();
    optimizer.dispose();
  }
  history.seconds = (performance.now() - started) / 1000;
  history.examplesPerSecond = seen / history.seconds;
  return history;
}

async function evaluateDataset(model: Model, data: Dataset, batchSize: number, signal?: AbortSignal): Promise<Evaluation> {
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0;
  let correct = 0;
  try {
    for (const { x, y } of batches(data, { batchSize, shuffle: false })) {
      signal?.throwIfAborted();
      const r = await queuedLoss(x, () => softmaxCrossEntropyQueued(model.forward(x), y, { grad: false }).result);
      lossSum += r.loss * y.length;
      correct += r.correct;
      await nextTick();
    }
  } finally {
    model.train(wasTraining);
  }
  const n = datasetSize(data);
  return { loss: lossSum / n, accuracy: correct / n };
}

/** Mean loss and accuracy in eval mode. */
export async function evaluate(model: Model, data: Dataset, options: { batchSize?: number; device?: Device } = {}): Promise<Evaluation> {
  const ds = checkModelData(model, data, 'data');
  const batchSize = checkInteger(options.batchSize ?? 256, 'batchSize', 1);
  if (options.device !== undefined) model.to(checkDevice(options.device, 'options.device'));
  checkIdle(model, 'evaluate');
  model.busy = true;
  try {
    return await evaluateDataset(model, ds, batchSize);
  } finally {
    model.busy = false;
  }
}


