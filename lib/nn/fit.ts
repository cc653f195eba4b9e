// fit() and evaluate(): the training loop over native kernels. Both are async
// and yield to the event loop after every batch, so a service stays responsive.
import { batches, type BatchOptions } from '../data/batches';
import { checkDataset, datasetSize, type Dataset } from '../data/dataset';
import { checkInteger, checkPositive, describe, rangeError, typeError } from '../errors';
import { checkDevice, collectTensors, type Device, type Tensor } from '../tensor';
import { softmaxCrossEntropyQueued } from '../ops/index';
import { Adder2d, AdderLinear, BatchNorm1d, BatchNorm2d } from './layers';
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

/** Passed to every callback: the model being trained and a way to end training early. */
export interface FitControl {
  readonly model: Model;
  /** Ends training after the current callback returns; fit() resolves with the History so far and this reason. */
  stop(reason?: string): void;
}

type Hook<L> = (logs: L, control: FitControl) => void | Promise<void>;

/** Called in this order and awaited, like Keras callbacks. A callback that throws rejects fit(). */
export interface FitCallbacks {
  onTrainBegin?: Hook<{ epochs: number; batchSize: number; examples: number }>;
  onEpochBegin?: Hook<{ epoch: number; lr: number }>;
  onBatchBegin?: Hook<{ epoch: number; batch: number; size: number }>;
  onBatchEnd?: Hook<BatchLogs>;
  onEpochEnd?: Hook<EpochLogs>;
  onTrainEnd?: Hook<History>;
}

/** Why and where fit() ended before its last epoch. */
export interface StopInfo {
  /** 'signal': the AbortSignal fired; 'callback': a callback called control.stop(). */
  by: 'signal' | 'callback';
  /** The abort reason, or the callback's message. */
  reason: unknown;
  /** The epoch and batch after which training ended (batch -1: before the epoch's first batch). */
  epoch: number;
  batch: number;
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
  /** One callback object or several, called in order. */
  callbacks?: FitCallbacks | FitCallbacks[];
  /** Stops training after the current batch; fit() then resolves with the History so far and `stopped`. */
  signal?: AbortSignal;
  /** Where to train: the model is moved there first (default: where it is; 'cpu' in this build). */
  device?: Device;
  /**
   * Recompute the BatchNorm running statistics over the training data with
   * the weights frozen (recalibrateBatchNorm): 'end' after the last epoch,
   * 'epoch' after every epoch (before validation), false never. Default:
   * 'end' for models with adder layers, whose output scale moves faster under
   * the adaptive learning rate than the running averages follow; false
   * otherwise. Costs one forward pass over at most `recalibrationBatches`
   * batches.
   */
  recalibrateBatchNorm?: 'end' | 'epoch' | false;
  /** Batches (of batchSize) the recalibration averages over (default: the whole training set). */
  recalibrationBatches?: number;
}

export interface RecalibrationOptions {
  /** Examples per forward (default 256; a last batch of one example is skipped, as BatchNorm needs two). */
  batchSize?: number;
  /** At most this many batches, taken in order (default: all of data). */
  batches?: number;
  device?: Device;
}

export interface Recalibration {
  /** BatchNorm layers recalibrated. */
  layers: number;
  /** Batches and examples averaged over. */
  batches: number;
  examples: number;
  seconds: number;
}

export interface History {
  /** Completed epochs. */
  epochs: EpochLogs[];
  /** Set when training ended early (AbortSignal or a callback's control.stop()). */
  stopped?: StopInfo;
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
 * Queues work on batch x (fn returns the tensor to read) and awaits only that
 * read, so the event loop runs while the work does; then frees the batch and
 * whatever fn made that its layers did not (logits, BN statistics, the input
 * gradient).
 */
async function queuedRead(x: Tensor, fn: () => Tensor): Promise<Float32Array> {
  const { result, made } = collectTensors(fn);
  const values = await result.data();
  x.dispose();
  for (const t of made) t.dispose();
  return values;
}

/** queuedRead of softmaxCrossEntropyQueued's [loss, correct] tensor. */
async function queuedLoss(x: Tensor, fn: () => Tensor): Promise<{ loss: number; correct: number }> {
  const [loss, correct] = await queuedRead(x, fn);
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
  if (datasetSize(ds) === 0) throw rangeError('ERR_ADDERNET_SIZE', argument, 'at least one example', 'an empty dataset');
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
  const recalibrate = options.recalibrateBatchNorm ?? (hasAdderLayers(model) ? 'end' : false);
  if (recalibrate !== false && recalibrate !== 'end' && recalibrate !== 'epoch') {
    throw rangeError('ERR_ADDERNET_OPTION', 'options.recalibrateBatchNorm', "'end', 'epoch' or false", describe(recalibrate));
  }
  const recalibrationBatches = options.recalibrationBatches === undefined ? Infinity : checkInteger(options.recalibrationBatches, 'options.recalibrationBatches', 1);
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
  const hooks = checkCallbacks(options.callbacks);
  model.busy = true;
  const started = performance.now();
  const history: History = { epochs: [], seconds: 0, examplesPerSecond: 0 };
  let seen = 0;
  let stopRequest: string | undefined;
  const control: FitControl = {
    model,
    stop(reason = 'stopped by a callback') {
      stopRequest ??= String(reason);
    },
  };
  const call = async <K extends keyof FitCallbacks>(name: K, logs: Parameters<NonNullable<FitCallbacks[K]>>[0]): Promise<void> => {
    for (const h of hooks) await (h[name] as Hook<typeof logs> | undefined)?.(logs, control);
  };
  // After a callback or a batch: record why training ends, if it does.
  const stopsAt = (epoch: number, batch: number): boolean => {
    if (history.stopped) return true;
    if (options.signal?.aborted) history.stopped = { by: 'signal', reason: options.signal.reason, epoch, batch };
    else if (stopRequest !== undefined) history.stopped = { by: 'callback', reason: stopRequest, epoch, batch };
    return history.stopped !== undefined;
  };
  let steps = 0;
  let recalibratedAt = 0;
  try {
    await call('onTrainBegin', { epochs, batchSize, examples: datasetSize(data) });
    for (let epoch = 0; epoch < epochs && !stopsAt(epoch, -1); ++epoch) {
      optimizer.lr = scheduledLr(schedule, baseLr, epoch, epochs);
      await call('onEpochBegin', { epoch, lr: optimizer.lr });
      if (stopsAt(epoch, -1)) break;
      model.train();
      const t0 = performance.now();
      let lossSum = 0;
      let correct = 0;
      let count = 0;
      let batch = 0;
      // A final batch of one example cannot train BatchNorm (as in PyTorch): skip it.
      const dropLast = lastIsSingle(data, batchSize);
      for (const { x, y } of batches(data, { batchSize, shuffle: true, seed, epoch, dropLast, augment: options.augment })) {
        await call('onBatchBegin', { epoch, batch, size: y.length });
        if (stopsAt(epoch, batch - 1)) {
          x.dispose();
          break;
        }
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
        steps += 1;
        await call('onBatchEnd', { epoch, batch, loss: r.loss, accuracy: r.correct / y.length, size: y.length, lr: optimizer.lr });
        batch += 1;
        await nextTick();
        if (stopsAt(epoch, batch - 1)) break;
      }
      seen += count;
      if (history.stopped) break; // a partial epoch is not an epoch: its logs are not kept
      const seconds = (performance.now() - t0) / 1000;
      const logs: EpochLogs = { epoch, loss: lossSum / count, accuracy: correct / count, lr: optimizer.lr, seconds, examplesPerSecond: count / seconds };
      if (recalibrate === 'epoch' || (recalibrate === 'end' && epoch === epochs - 1)) {
        await recalibrateDataset(model, data, Math.max(batchSize, 2), recalibrationBatches);
        recalibratedAt = steps;
      }
      if (validation) {
        const v = await evaluateDataset(model, validation, Math.max(batchSize, 256));
        logs.valLoss = v.loss;
        logs.valAccuracy = v.accuracy;
      }
      history.epochs.push(logs);
      await call('onEpochEnd', logs);
      // An early stop after the last planned epoch changes nothing.
      if (epoch === epochs - 1 && stopRequest !== undefined && !options.signal?.aborted) stopRequest = undefined;
    }
    // An early stop by a callback (early stopping, say) leaves a model to
    // use: recalibrate it as the last epoch would have.
    if (history.stopped?.by === 'callback' && recalibrate !== false && steps > recalibratedAt) {
      await recalibrateDataset(model, data, Math.max(batchSize, 2), recalibrationBatches);
    }
    history.seconds = (performance.now() - started) / 1000;
    history.examplesPerSecond = seen / history.seconds;
    await call('onTrainEnd', history);
  } finally {
    model.busy = false;
    model.train();
    model.dropSnapshot();
    optimizer.dispose();
  }
  return history;
}

function checkCallbacks(value: unknown): FitCallbacks[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  const names = ['onTrainBegin', 'onEpochBegin', 'onBatchBegin', 'onBatchEnd', 'onEpochEnd', 'onTrainEnd'];
  list.forEach((c, i) => {
    const arg = Array.isArray(value) ? `callbacks[${i}]` : 'callbacks';
    if (c === null || typeof c !== 'object') throw typeError(arg, 'an object of callback functions', c);
    for (const [k, f] of Object.entries(c)) {
      // A misspelt hook would silently never run; other members are the object's own.
      if (!names.includes(k) && /^on[A-Z]/.test(k)) throw rangeError('ERR_ADDERNET_OPTION', `${arg}.${k}`, `one of ${names.join(', ')}`, JSON.stringify(k));
      if (names.includes(k) && f !== undefined && typeof f !== 'function') throw typeError(`${arg}.${k}`, 'a function', f);
    }
  });
  return list as FitCallbacks[];
}

function hasAdderLayers(model: Model): boolean {
  return [...model.net.namedModules()].some(([, m]) => m instanceof Adder2d || m instanceof AdderLinear);
}

function batchNormsOf(model: Model): (BatchNorm1d | BatchNorm2d)[] {
  return [...model.net.namedModules()].map(([, m]) => m).filter((m): m is BatchNorm1d | BatchNorm2d => m instanceof BatchNorm1d || m instanceof BatchNorm2d);
}

async function recalibrateDataset(model: Model, data: Dataset, batchSize: number, maxBatches: number): Promise<Recalibration> {
  const t0 = performance.now();
  const bns = batchNormsOf(model);
  const wasTraining = model.training;
  let done = 0;
  let examples = 0;
  if (bns.length === 0) return { layers: 0, batches: done, examples, seconds: 0 };
  model.eval();
  for (const bn of bns) bn.beginRecalibration();
  try {
    // Eval mode everywhere else: nothing is saved for a backward.
    for (const { x, y } of batches(data, { batchSize, shuffle: false, dropLast: lastIsSingle(data, batchSize) })) {
      if (done >= maxBatches) {
        x.dispose();
        break;
      }
      await queuedRead(x, () => model.forward(x));
      done += 1;
      examples += y.length;
      await nextTick();
    }
  } finally {
    for (const bn of bns) bn.endRecalibration();
    model.train(wasTraining);
  }
  model.version += 1;
  return { layers: bns.length, batches: done, examples, seconds: (performance.now() - t0) / 1000 };
}

// A final batch of one example cannot go through BatchNorm in batch-statistics mode (it needs two values per channel).
function lastIsSingle(data: Dataset, batchSize: number): boolean {
  return datasetSize(data) % batchSize === 1;
}

/**
 * Recomputes every BatchNorm layer's running mean and variance as the
 * average of the batch statistics over `data`, with the weights frozen and
 * every other layer in eval mode, like torch.optim.swa_utils.update_bn. An
 * AdderNet trained for a few epochs tests far below its training accuracy
 * because the running statistics lag the adder outputs, whose scale moves
 * fast under the adaptive learning rate; this closes that gap. Costs one
 * forward pass over data. fit() runs it by default for adder models.
 */
export async function recalibrateBatchNorm(model: Model, data: Dataset, options: RecalibrationOptions = {}): Promise<Recalibration> {
  const ds = checkModelData(model, data, 'data');
  const batchSize = checkInteger(options.batchSize ?? 256, 'batchSize', 2);
  const maxBatches = options.batches === undefined ? Infinity : checkInteger(options.batches, 'batches', 1);
  if (options.device !== undefined) model.to(checkDevice(options.device, 'options.device'));
  checkIdle(model, 'recalibrateBatchNorm');
  model.busy = true;
  try {
    return await recalibrateDataset(model, ds, batchSize, maxBatches);
  } finally {
    model.busy = false;
  }
}

async function evaluateDataset(model: Model, data: Dataset, batchSize: number): Promise<Evaluation> {
  const wasTraining = model.training;
  model.eval();
  let lossSum = 0;
  let correct = 0;
  try {
    for (const { x, y } of batches(data, { batchSize, shuffle: false })) {
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


