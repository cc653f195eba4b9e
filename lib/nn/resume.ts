// Training checkpoints: the model file (loadModel and predict read it as
// usual) plus what fit() needs to continue exactly where it stopped: the
// optimizer's buffers as extra tensors under OPTIMIZER_PREFIX, and in the
// metadata the position (epoch, batch, step), the epoch's running sums, the
// History so far and the settings. Shuffling and augmentation derive from
// (seed, epoch) alone (data/batches.ts), so the position is the RNG state.
// Everything read back is checked as hostile input before anything changes.
import { type AugmentOptions } from '../data/augment';
import { describe, rangeError } from '../errors';
import { JsonScanIssue, parseJsonChecked } from '../io/json-scan';
import { readSafetensors, toFloat32Array, type SafetensorsInput, type SafetensorsTensor } from '../io/safetensors';
import { CONFIG_MAX_JSON_DEPTH, OPTIMIZER_PREFIX, saveModelWith, TRAINING_KEY } from './checkpoint';
import type { EpochLogs } from './fit';
import type { Model } from './model';
import { OPTIMIZERS, type Optimizer, type OptimizerConfig, type Schedule } from './optim';

const VERSION = 1;

/** What fit() was asked for, as far as JSON can say it (null: a function, which the caller must pass again). */
export interface TrainingSettings {
  epochs: number;
  batchSize: number;
  /** Training examples: an epoch's order depends on it. */
  examples: number;
  lr: number;
  schedule: Exclude<Schedule, (...a: never[]) => number> | null;
  seed: number;
  augment: boolean | AugmentOptions | null;
  optimizer: OptimizerConfig;
  recalibrateBatchNorm: 'end' | 'epoch' | false;
  /** null: the whole training set. */
  recalibrationBatches: number | null;
}

/** Where training stands after the last finished step. */
export interface TrainingState {
  /** The epoch in progress, and how many of its batches are done (0: it has not started). */
  epoch: number;
  batch: number;
  /** Optimizer steps so far, and the step count at the last BatchNorm recalibration. */
  steps: number;
  recalibratedAt: number;
  /** Running sums of the epoch in progress (its loss and accuracy continue from them). */
  partial: { lossSum: number; correct: number; count: number; seconds: number };
  /** Completed epochs. */
  history: EpochLogs[];
  settings: TrainingSettings;
}

export interface TrainingCheckpoint {
  state: TrainingState;
  optimizerStep: number;
  /** Per parameter (model.parameters() order), its buffers by name. */
  optimizerBuffers: Record<string, Float32Array>[];
  /** The model's tensors (optimizer buffers removed), for model.loadStateDict. */
  modelTensors: Map<string, SafetensorsTensor>;
}

/** The per-epoch JSON Lines log that fit() keeps beside a checkpoint: run.safetensors -> run.log.jsonl. */
export function checkpointLogPath(path: string): string {
  return path.replace(/\.safetensors$/i, '') + '.log.jsonl';
}

function parameterNames(model: Model): string[] {
  return [...model.net.namedParameters()].map(([name]) => name);
}

/** Writes model, optimizer buffers and state to path atomically. */
export function saveTrainingCheckpoint(path: string, model: Model, optimizer: Optimizer, state: TrainingState): void {
  const names = parameterNames(model);
  const { buffers } = optimizer.stateBuffers();
  const extra: Record<string, SafetensorsInput> = {};
  buffers.forEach((b, i) => {
    for (const [k, t] of Object.entries(b)) extra[`${OPTIMIZER_PREFIX}${names[i]}.${k}`] = t;
  });
  saveModelWith(model, path, extra, { [TRAINING_KEY]: JSON.stringify({ version: VERSION, optimizerStep: optimizer.stepCount, ...state }) });
}

/**
 * Reads a training checkpoint for `model`: refuses (ERR_ADDERNET_FORMAT) a
 * file that is not one, one of another architecture, or one whose state does
 * not hold together. Changes nothing; fit() applies what it returns.
 */
export function readTrainingCheckpoint(path: string, model: Model, argument = 'options.resumeFrom'): TrainingCheckpoint {
  const file = readSafetensors(path);
  const meta = file.metadata;
  const bad = (expected: string, received: string) => rangeError('ERR_ADDERNET_FORMAT', `${argument} (${path})`, expected, received);
  if (!Object.hasOwn(meta, 'format') || meta.format !== 'addernet-model' || !Object.hasOwn(meta, 'config')) {
    throw bad('an addernet checkpoint', 'a safetensors file without addernet metadata');
  }
  if (!Object.hasOwn(meta, TRAINING_KEY)) {
    throw bad("a training checkpoint (written by fit's checkpoint option or addernet train)", 'a model checkpoint without training state; load it with loadModel and pass initialEpoch instead');
  }
  let config: unknown;
  let raw: unknown;
  try {
    config = parseJsonChecked(meta.config, CONFIG_MAX_JSON_DEPTH);
    raw = parseJsonChecked(meta[TRAINING_KEY], 8);
  } catch (err) {
    throw bad('valid JSON metadata', err instanceof JsonScanIssue ? `${err.expected} but found ${err.received}` : 'unparseable text');
  }
  const own = JSON.stringify(model.config().net);
  const theirs = config && typeof config === 'object' ? (config as { net?: unknown; info?: { arch?: unknown; options?: unknown } }) : {};
  if (JSON.stringify(theirs.net) !== own) {
    const info = theirs.info;
    const what = info && typeof info === 'object' ? `${describe(info.arch)} ${JSON.stringify(info.options ?? {})}` : 'an unknown architecture';
    throw bad(`a checkpoint of this model's architecture (${model.info.arch} ${JSON.stringify(model.info.options)})`, `a checkpoint of ${what}`);
  }
  const state = checkState(raw, bad);
  const names = parameterNames(model);
  const index = new Map(names.map((n, i) => [n, i]));
  const optimizerBuffers: Record<string, Float32Array>[] = names.map(() => ({}));
  const modelTensors = new Map<string, SafetensorsTensor>();
  for (const [name, t] of file) {
    if (!name.startsWith(OPTIMIZER_PREFIX)) {
      modelTensors.set(name, t);
      continue;
    }
    const rest = name.slice(OPTIMIZER_PREFIX.length);
    const dot = rest.lastIndexOf('.');
    const i = index.get(rest.slice(0, dot));
    const buffer = rest.slice(dot + 1);
    if (dot < 0 || i === undefined || !['momentum_buffer', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq'].includes(buffer)) {
      throw bad('optimizer buffers of this model\'s parameters', `tensor ${JSON.stringify(name)}`);
    }
    optimizerBuffers[i][buffer] = toFloat32Array(t);
  }
  return { state, optimizerStep: (raw as { optimizerStep: number }).optimizerStep, optimizerBuffers, modelTensors };
}

const isInt = (v: unknown, min = 0): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function checkState(raw: unknown, bad: (expected: string, received: string) => Error): TrainingState {
  const fail = (field: string, expected: string, value: unknown): never => {
    throw bad(`${expected} for training.${field}`, describe(value));
  };
  if (!isObj(raw)) fail('', 'an object', raw);
  const r = raw as Record<string, unknown>;
  if (r.version !== VERSION) fail('version', String(VERSION), r.version);
  for (const k of ['epoch', 'batch', 'steps', 'recalibratedAt', 'optimizerStep'] as const) if (!isInt(r[k])) fail(k, 'an integer >= 0', r[k]);
  const p = r.partial;
  if (!isObj(p) || !isNum(p.lossSum) || !isInt(p.correct) || !isInt(p.count) || !isNum(p.seconds)) fail('partial', '{ lossSum, correct, count, seconds }', p);
  if (!Array.isArray(r.history) || r.history.length !== r.epoch) fail('history', `${describe(r.epoch)} epoch logs`, r.history);
  (r.history as unknown[]).forEach((e, i) => {
    if (!isObj(e) || e.epoch !== i || !['loss', 'accuracy', 'lr', 'seconds', 'examplesPerSecond'].every((k) => typeof e[k] === 'number')) {
      fail(`history[${i}]`, `the logs of epoch ${i}`, e);
    }
  });
  const s = r.settings;
  if (!isObj(s)) return fail('settings', 'an object', s);
  if (!isInt(s.epochs, 1)) fail('settings.epochs', 'an integer >= 1', s.epochs);
  if (!isInt(s.batchSize, 1)) fail('settings.batchSize', 'an integer >= 1', s.batchSize);
  if (!isInt(s.examples, 1)) fail('settings.examples', 'an integer >= 1', s.examples);
  if ((r.batch as number) > Math.ceil((s.examples as number) / (s.batchSize as number))) fail('batch', 'at most the batches of an epoch', r.batch);
  if (!isNum(s.lr) || s.lr <= 0) fail('settings.lr', 'a number > 0', s.lr);
  if (!isInt(s.seed) && !(typeof s.seed === 'number' && Number.isSafeInteger(s.seed))) fail('settings.seed', 'a safe integer', s.seed);
  const sch = s.schedule;
  if (!(sch === null || sch === 'cosine' || sch === 'constant' || (isObj(sch) && sch.type === 'step' && isInt(sch.stepSize, 1) && (sch.gamma === undefined || isNum(sch.gamma))))) {
    fail('settings.schedule', "'cosine', 'constant', a step schedule or null", sch);
  }
  if (!(s.augment === null || typeof s.augment === 'boolean' || isObj(s.augment))) fail('settings.augment', 'a boolean, options or null', s.augment);
  if (![false, 'end', 'epoch'].includes(s.recalibrateBatchNorm as string)) fail('settings.recalibrateBatchNorm', "'end', 'epoch' or false", s.recalibrateBatchNorm);
  if (!(s.recalibrationBatches === null || isInt(s.recalibrationBatches, 1))) fail('settings.recalibrationBatches', 'an integer >= 1 or null', s.recalibrationBatches);
  const o = s.optimizer;
  if (!isObj(o) || !OPTIMIZERS.includes(o.type as never)) fail('settings.optimizer', `an optimizer config of type ${OPTIMIZERS.join(', ')}`, o);
  if ((r.epoch as number) > (s.epochs as number) || (r.batch as number) > 0 && r.epoch === s.epochs) fail('epoch', `at most settings.epochs (${s.epochs})`, r.epoch);
  // The optimizer's constructor checks the hyperparameters' values when fit() builds it.
  return r as unknown as TrainingState;
}
