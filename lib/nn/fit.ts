// fit() and evaluate(): the training loop over native kernels. Both are async
// and yield to the event loop after every batch, so a service stays responsive.
import fs from 'node:fs';
import { checkBetas, checkFlag } from '../checks';
import { batches, type BatchOptions } from '../data/batches';
import { checkDataset, datasetSize, type Dataset } from '../data/dataset';
import { checkInteger, checkPositive, codedError, describe, rangeError, typeError } from '../errors';
import { checkDevice, collectTensors, type Device, type Tensor } from '../tensor';
import { softmaxCrossEntropyQueued } from '../ops/index';
import { Adder2d, AdderLinear, BatchNorm1d, BatchNorm2d } from './layers';
import { ClassificationMetrics, checkTopK, type ClassificationReport } from './metrics';
import { Model } from './model';
import { writeFileAtomicSync } from '../io/atomic';
import { createOptimizer, OPTIMIZERS, scheduledLr, type OptimizerConfig, type OptimizerName, type Schedule } from './optim';
import { checkpointLogPath, readTrainingCheckpoint, saveTrainingCheckpoint, type TrainingSettings, type TrainingState } from './resume';

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
  /** Base learning rate (default 0.1 for SGD, 1e-3 for Adam and AdamW). */
  lr?: number;
  /** 'sgd' (default: the reference recipe), 'adam' or 'adamw'; adder filters get the adaptive learning rate with each. */
  optimizer?: OptimizerName;
  /** SGD only: momentum (default 0.9) and Nesterov momentum (default false). */
  momentum?: number;
  nesterov?: boolean;
  /** Default 5e-4 for SGD, 0 for Adam, 1e-2 for AdamW (decoupled). */
  weightDecay?: number;
  /** Adam and AdamW only: the running averages' decay rates (default [0.9, 0.999]), the denominator's epsilon (default 1e-8), AMSGrad (default false). */
  betas?: readonly [number, number];
  eps?: number;
  amsgrad?: boolean;
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
  /**
   * Write a training checkpoint (the model, the optimizer's buffers, the
   * position, History and settings; loadModel reads it as a model too)
   * atomically to `path` every `everyEpochs` epochs (default 1), after the
   * last, and when training stops early (the last finished step). A JSON
   * Lines log of the epochs goes beside it (run.safetensors -> run.log.jsonl).
   */
  checkpoint?: string | { path: string; everyEpochs?: number };
  /**
   * Continue from a training checkpoint: weights, optimizer state, epoch and
   * batch, schedule and History, so the result is bit for bit the
   * uninterrupted run's. Options not given take the checkpoint's values.
   */
  resumeFrom?: string;
  /** Start at this epoch (the schedule continues from it) with the model as it is and fresh optimizer state, as Keras' initial_epoch. */
  initialEpoch?: number;
}

export interface RecalibrationOptions {
  /** Examples per forward (default 256; a last batch of one example is skipped, as BatchNorm needs two). */
  batchSize?: number;
  /** At most this many batches (default: all of data). */
  batches?: number;
  /**
   * Seed of the order the batches are drawn in (default 0). The order is
   * shuffled because each batch's statistics normalise the layers after it:
   * batches of one class (a dataset sorted by class, as the bundled MNIST is)
   * would give the later layers statistics they never see in training.
   */
  seed?: number;
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

export interface Evaluation extends ClassificationReport {
  loss: number;
  accuracy: number;
  examples: number;
}

export interface EvaluateOptions {
  /** Examples per forward (default 256). */
  batchSize?: number;
  device?: Device;
  /** The k of the top-k accuracies reported (default [1, 5], or [1] below 5 classes). */
  topK?: number | number[];
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
export function checkIdle(model: Model, what: string): void {
  if (model.busy) {
    throw Object.assign(new Error(`addernet: cannot start ${what}() while fit() or evaluate() runs on this model (one fit per model at a time)`), { code: 'ERR_ADDERNET_BUSY' });
  }
}

export function checkModelData(model: unknown, data: unknown, argument: string): Dataset {
  if (!(model instanceof Model)) throw typeError('model', 'a Model', model);
  const ds = checkDataset(data, argument);
  if (datasetSize(ds) === 0) throw rangeError('ERR_ADDERNET_SIZE', argument, 'at least one example', 'an empty dataset');
  const want = model.info.inputShape;
  if (ds.shape.some((d, i) => d !== want[i])) {
    throw rangeError('ERR_ADDERNET_SHAPE', argument, `examples of shape ${describe(want)} for this ${model.info.arch}`, `shape ${describe(ds.shape)}`);
  }
  return ds;
}

/** fit() and recalibrateBatchNorm() change weights: a quantized model has none to change. */
function checkTrainable(model: Model, what: string): void {
  if (model.inferenceOnly) {
    throw codedError('ERR_ADDERNET_STATE', `addernet: ${what}() on a quantized model (inference only); run it on the float model, then quantize() again`);
  }
}

export async function fit(model: Model, trainData: Dataset, options: FitOptions = {}): Promise<History> {
  const data = checkModelData(model, trainData, 'trainData');
  checkTrainable(model, 'fit');
  const validation = options.validationData === undefined ? undefined : checkModelData(model, options.validationData, 'validationData');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw typeError('signal', 'an AbortSignal', options.signal);
  checkIdle(model, 'fit');
  const checkpoint = checkCheckpointOption(options.checkpoint);
  if (options.resumeFrom !== undefined && options.initialEpoch !== undefined) {
    throw rangeError('ERR_ADDERNET_OPTION', 'options.initialEpoch', 'no initialEpoch with resumeFrom (the checkpoint says where to continue)', describe(options.initialEpoch));
  }
  if (options.resumeFrom !== undefined && (typeof options.resumeFrom !== 'string' || options.resumeFrom === '')) {
    throw typeError('options.resumeFrom', 'a training checkpoint path', options.resumeFrom);
  }
  const resume = options.resumeFrom === undefined ? undefined : readTrainingCheckpoint(options.resumeFrom, model);
  const settings = fitSettings(model, options, resume?.state, datasetSize(data));
  const { epochs, batchSize, seed, schedule, augment, recalibrate } = settings;
  const recalibrationBatches = settings.recalibrationBatches ?? Infinity;
  const initialEpoch = options.initialEpoch === undefined ? 0 : checkInteger(options.initialEpoch, 'options.initialEpoch', 0);
  const hooks = checkCallbacks(options.callbacks);
  if (options.device !== undefined) model.to(checkDevice(options.device, 'options.device'));
  const optimizer = createOptimizer(model.parameters(), settings.lr, settings.optimizer);
  const restored = resume?.state;
  try {
    if (resume) {
      // Both validate everything before writing: a refused file changes nothing.
      optimizer.loadState(resume.optimizerStep, resume.optimizerBuffers, options.resumeFrom);
      model.loadStateDict(resume.modelTensors, options.resumeFrom);
    }
  } catch (err) {
    optimizer.dispose();
    throw err;
  }
  model.busy = true;
  const started = performance.now();
  const history: History = { epochs: restored ? restored.history.map((e) => ({ ...e })) : [], seconds: 0, examplesPerSecond: 0 };
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
  // Where training stands after the last finished step (what a checkpoint records).
  const position: Omit<TrainingState, 'history' | 'settings'> = restored
    ? { epoch: restored.epoch, batch: restored.batch, steps: restored.steps, recalibratedAt: restored.recalibratedAt, partial: { ...restored.partial } }
    : { epoch: Math.min(initialEpoch, epochs), batch: 0, steps: 0, recalibratedAt: 0, partial: { lossSum: 0, correct: 0, count: 0, seconds: 0 } };
  const writeCheckpoint = () => {
    if (checkpoint) saveTrainingCheckpoint(checkpoint.path, model, optimizer, { ...position, partial: { ...position.partial }, history: history.epochs, settings: settings.record });
  };
  const logPath = checkpoint && checkpointLogPath(checkpoint.path);
  try {
    // The log holds the epochs of this run so far: a resumed run's earlier ones, none for a fresh one.
    if (logPath) writeFileAtomicSync(logPath, history.epochs.map((e) => Buffer.from(JSON.stringify(e) + '\n')));
    await call('onTrainBegin', { epochs, batchSize, examples: datasetSize(data) });
    for (let epoch = position.epoch; epoch < epochs && !stopsAt(epoch, -1); ++epoch) {
      optimizer.lr = scheduledLr(schedule, settings.lr, epoch, epochs);
      const skip = epoch === position.epoch ? position.batch : 0;
      if (skip === 0) await call('onEpochBegin', { epoch, lr: optimizer.lr });
      if (stopsAt(epoch, skip - 1)) break;
      model.train();
      const t0 = performance.now();
      const acc = skip > 0 ? position.partial : { lossSum: 0, correct: 0, count: 0, seconds: 0 };
      const priorSeconds = acc.seconds;
      Object.assign(position, { epoch, batch: skip, partial: acc });
      let batch = skip;
      // A final batch of one example cannot train BatchNorm (as in PyTorch): skip it.
      const dropLast = lastIsSingle(data, batchSize);
      for (const { x, y } of batches(data, { batchSize, shuffle: true, seed, epoch, dropLast, augment, startBatch: skip })) {
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
        acc.lossSum += r.loss * y.length;
        acc.correct += r.correct;
        acc.count += y.length;
        acc.seconds = priorSeconds + (performance.now() - t0) / 1000;
        seen += y.length;
        position.steps += 1;
        position.batch = batch + 1;
        await call('onBatchEnd', { epoch, batch, loss: r.loss, accuracy: r.correct / y.length, size: y.length, lr: optimizer.lr });
        batch += 1;
        await nextTick();
        if (stopsAt(epoch, batch - 1)) break;
      }
      if (history.stopped) break; // a partial epoch is not an epoch: its logs are not kept
      const seconds = priorSeconds + (performance.now() - t0) / 1000;
      const logs: EpochLogs = { epoch, loss: acc.lossSum / acc.count, accuracy: acc.correct / acc.count, lr: optimizer.lr, seconds, examplesPerSecond: acc.count / seconds };
      if (recalibrate === 'epoch' || (recalibrate === 'end' && epoch === epochs - 1)) {
        await recalibrateDataset(model, data, Math.max(batchSize, 2), recalibrationBatches, seed);
        position.recalibratedAt = position.steps;
      }
      if (validation) {
        const v = await evaluateDataset(model, validation, Math.max(batchSize, 256));
        logs.valLoss = v.loss;
        logs.valAccuracy = v.accuracy;
      }
      history.epochs.push(logs);
      Object.assign(position, { epoch: epoch + 1, batch: 0, partial: { lossSum: 0, correct: 0, count: 0, seconds: 0 } });
      if (logPath) fs.appendFileSync(logPath, JSON.stringify(logs) + '\n');
      if (checkpoint && ((epoch + 1) % checkpoint.everyEpochs === 0 || epoch === epochs - 1)) writeCheckpoint();
      await call('onEpochEnd', logs);
      // An early stop after the last planned epoch changes nothing.
      if (epoch === epochs - 1 && stopRequest !== undefined && !options.signal?.aborted) stopRequest = undefined;
    }
    // Stopped early: the checkpoint holds the last finished step, to resume from.
    if (history.stopped) writeCheckpoint();
    // An early stop by a callback (early stopping, say) leaves a model to
    // use: recalibrate it as the last epoch would have.
    if (history.stopped?.by === 'callback' && recalibrate !== false && position.steps > position.recalibratedAt) {
      await recalibrateDataset(model, data, Math.max(batchSize, 2), recalibrationBatches, seed);
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

function checkCheckpointOption(value: FitOptions['checkpoint']): { path: string; everyEpochs: number } | undefined {
  if (value === undefined) return undefined;
  const c = typeof value === 'string' ? { path: value } : value;
  if (c === null || typeof c !== 'object') throw typeError('options.checkpoint', 'a path or { path, everyEpochs }', value);
  if (typeof c.path !== 'string' || c.path === '') throw typeError('options.checkpoint.path', 'a file path', c.path);
  return { path: c.path, everyEpochs: checkInteger(c.everyEpochs ?? 1, 'options.checkpoint.everyEpochs', 1) };
}

/**
 * fit()'s settings: each option as given, else the resumed checkpoint's, else
 * the default. A resumed run may change them (more epochs, say) but then no
 * longer repeats the uninterrupted run; it may not change what the position
 * inside an epoch, or the optimizer's state, depends on.
 */
function fitSettings(model: Model, options: FitOptions, saved: TrainingState | undefined, examples: number) {
  const was = saved?.settings;
  const midEpoch = saved !== undefined && saved.batch > 0;
  const same = <T>(name: 'batchSize' | 'seed', value: T | undefined, old: T | undefined): void => {
    if (midEpoch && value !== undefined && value !== old) {
      throw rangeError('ERR_ADDERNET_OPTION', `options.${name}`, `the checkpoint's ${describe(old)} when resuming inside an epoch`, describe(value));
    }
  };
  same('batchSize', options.batchSize, was?.batchSize);
  same('seed', options.seed, was?.seed);
  if (midEpoch && examples !== was!.examples) {
    throw rangeError('ERR_ADDERNET_OPTION', 'trainData', `the checkpoint's ${was!.examples} examples when resuming inside an epoch`, `${examples}`);
  }
  const customNeeded = (name: string): never => {
    throw rangeError('ERR_ADDERNET_OPTION', `options.${name}`, `the function the checkpoint was trained with (it cannot be saved)`, 'undefined');
  };
  const schedule: Schedule = options.schedule ?? (was ? (was.schedule ?? customNeeded('schedule')) : 'cosine');
  scheduledLr(schedule, 1, 0, 1); // validates it now
  const augment: BatchOptions['augment'] = options.augment ?? (was ? (was.augment ?? customNeeded('augment')) : undefined);
  const optimizer = optimizerSettings(options, was?.optimizer);
  const recalibrate = options.recalibrateBatchNorm ?? was?.recalibrateBatchNorm ?? (hasAdderLayers(model) ? 'end' : false);
  if (recalibrate !== false && recalibrate !== 'end' && recalibrate !== 'epoch') {
    throw rangeError('ERR_ADDERNET_OPTION', 'options.recalibrateBatchNorm', "'end', 'epoch' or false", describe(recalibrate));
  }
  const recalibrationBatches = options.recalibrationBatches !== undefined ? checkInteger(options.recalibrationBatches, 'options.recalibrationBatches', 1) : (was?.recalibrationBatches ?? null);
  const r = {
    epochs: checkInteger(options.epochs ?? was?.epochs ?? 1, 'epochs', 1),
    batchSize: checkInteger(options.batchSize ?? was?.batchSize ?? 32, 'batchSize', 1),
    lr: checkPositive(options.lr ?? was?.lr ?? (optimizer.type === 'sgd' ? 0.1 : 1e-3), 'lr'),
    seed: options.seed ?? was?.seed ?? 0,
    schedule,
    augment,
    optimizer,
    recalibrate,
    recalibrationBatches,
  };
  const record: TrainingSettings = {
    epochs: r.epochs, batchSize: r.batchSize, examples, lr: r.lr, seed: r.seed, optimizer,
    schedule: typeof schedule === 'function' ? null : schedule,
    augment: typeof augment === 'function' ? null : (augment ?? false),
    recalibrateBatchNorm: recalibrate, recalibrationBatches,
  };
  return { ...r, record };
}

/** The optimizer fit() builds: options, else the resumed one's settings (same type only), else the defaults. */
function optimizerSettings(options: FitOptions, saved: OptimizerConfig | undefined): OptimizerConfig {
  const type = options.optimizer ?? saved?.type ?? 'sgd';
  if (!OPTIMIZERS.includes(type)) throw rangeError('ERR_ADDERNET_OPTION', 'options.optimizer', OPTIMIZERS.map((o) => `'${o}'`).join(', '), describe(type));
  if (saved && saved.type !== type) {
    throw rangeError('ERR_ADDERNET_OPTION', 'options.optimizer', `the checkpoint's '${saved.type}' (its state cannot continue another optimizer)`, describe(type));
  }
  const eta = options.eta ?? saved?.eta ?? 0.2;
  if (type === 'sgd') {
    for (const k of ['betas', 'eps', 'amsgrad'] as const) {
      if (options[k] !== undefined) throw rangeError('ERR_ADDERNET_OPTION', `options.${k}`, "no Adam option with optimizer 'sgd'", describe(options[k]));
    }
    const s = saved?.type === 'sgd' ? saved : undefined;
    return {
      type, eta, dampening: s?.dampening ?? 0,
      momentum: options.momentum ?? s?.momentum ?? 0.9,
      weightDecay: options.weightDecay ?? s?.weightDecay ?? 5e-4,
      nesterov: options.nesterov ?? s?.nesterov ?? false,
    };
  }
  for (const k of ['momentum', 'nesterov'] as const) {
    if (options[k] !== undefined) throw rangeError('ERR_ADDERNET_OPTION', `options.${k}`, `no SGD option with optimizer '${type}'`, describe(options[k]));
  }
  const a = saved?.type === type ? saved : undefined;
  return {
    type, eta,
    betas: checkBetas(options.betas ?? a?.betas ?? [0.9, 0.999], 'options.betas'),
    eps: options.eps ?? a?.eps ?? 1e-8,
    weightDecay: options.weightDecay ?? a?.weightDecay ?? (type === 'adamw' ? 1e-2 : 0),
    amsgrad: checkFlag(options.amsgrad ?? a?.amsgrad, 'options.amsgrad', false),
  };
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

async function recalibrateDataset(model: Model, data: Dataset, batchSize: number, maxBatches: number, seed: number): Promise<Recalibration> {
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
    for (const { x, y } of batches(data, { batchSize, shuffle: true, seed, dropLast: lastIsSingle(data, batchSize) })) {
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
  checkTrainable(model, 'recalibrateBatchNorm');
  const batchSize = checkInteger(options.batchSize ?? 256, 'batchSize', 2);
  const maxBatches = options.batches === undefined ? Infinity : checkInteger(options.batches, 'batches', 1);
  if (options.device !== undefined) model.to(checkDevice(options.device, 'options.device'));
  checkIdle(model, 'recalibrateBatchNorm');
  model.busy = true;
  try {
    return await recalibrateDataset(model, ds, batchSize, maxBatches, options.seed ?? 0);
  } finally {
    model.busy = false;
  }
}

async function evaluateDataset(model: Model, data: Dataset, batchSize: number, ks: readonly number[] = [1]): Promise<Evaluation> {
  const wasTraining = model.training;
  const metrics = new ClassificationMetrics(model.info.numClasses, ks);
  model.eval();
  let lossSum = 0;
  let correct = 0;
  try {
    for (const { x, y } of batches(data, { batchSize, shuffle: false })) {
      const { result, made } = collectTensors(() => {
        const logits = model.forward(x);
        return [logits, softmaxCrossEntropyQueued(logits, y, { grad: false }).result] as const;
      });
      const [logits, [loss, hits]] = await Promise.all([result[0].data(), result[1].data()]);
      x.dispose();
      for (const t of made) t.dispose();
      metrics.add(logits, y);
      lossSum += loss * y.length;
      correct += hits;
      await nextTick();
    }
  } finally {
    model.train(wasTraining);
  }
  const n = datasetSize(data);
  return { loss: lossSum / n, accuracy: correct / n, examples: n, ...metrics.report() };
}

/**
 * Scores the model in eval mode: mean loss, accuracy, top-k accuracies,
 * per-class accuracy and the confusion matrix.
 */
export async function evaluate(model: Model, data: Dataset, options: EvaluateOptions = {}): Promise<Evaluation> {
  const ds = checkModelData(model, data, 'data');
  const batchSize = checkInteger(options.batchSize ?? 256, 'batchSize', 1);
  const ks = checkTopK(options.topK, model.info.numClasses);
  if (options.device !== undefined) model.to(checkDevice(options.device, 'options.device'));
  checkIdle(model, 'evaluate');
  model.busy = true;
  try {
    return await evaluateDataset(model, ds, batchSize, ks);
  } finally {
    model.busy = false;
  }
}


