// `addernet train`: trains a reference model on a dataset, shows live progress,
// writes the checkpoint and an SVG of the training curves next to it.
import fs from 'node:fs';
import path from 'node:path';
import { backendInfo, setNumThreads } from '../backend';
import { datasetSize, type Dataset } from '../data/index';
import { fit, evaluate, type EpochLogs, type History } from '../nn/fit';
import { saveModel } from '../nn/checkpoint';
import type { Model } from '../nn/model';
import * as models from '../nn/models';
import { OPTIMIZERS, type OptimizerName, type Schedule } from '../nn/optim';
import { formatSummary, type ModelSummary } from '../nn/summary';
import {
  UsageError, boolFlag, choiceFlag, DEVICE_OPTION, deviceFlag, intFlag, numberFlag, numbersFlag, optionsHelp, parse, stringFlag, type OptionSpecs, type Parsed,
} from './args';
import { DATA_HELP, limitDataset, loadData, parseDataSpec, type DataSpec } from './data';
import { plotPathFor, writeCurves } from './plot';
import { TrainProgress, formatDuration, percent, thousands } from './progress';

export const ARCHS = ['lenet5bn', 'resnet20', 'resnet32'] as const;
export type Arch = (typeof ARCHS)[number];
export const LAYERS = ['adder', 'conv'] as const;
export type Layer = (typeof LAYERS)[number];

/** Each model's input [C, H, W] (folder:DIR images are resized to it). */
const INPUT_SHAPES: Record<Arch, [number, number, number]> = { lenet5bn: [1, 28, 28], resnet20: [3, 32, 32], resnet32: [3, 32, 32] };

/** Per-model defaults: LeNet-5-BN's MNIST recipe; the CIFAR ResNets' reference recipe (SPEC.md). */
export const DEFAULTS: Record<Arch, { epochs: number; batchSize: number; lr: number; augment: boolean; data?: string }> = {
  lenet5bn: { epochs: 20, batchSize: 64, lr: 0.1, augment: false, data: 'mnist' },
  resnet20: { epochs: 400, batchSize: 256, lr: 0.1, augment: true },
  resnet32: { epochs: 400, batchSize: 256, lr: 0.1, augment: true },
};

export const TRAIN_OPTIONS: OptionSpecs = {
  model: { type: 'string', value: 'NAME', help: 'lenet5bn (default), resnet20 or resnet32' },
  layer: { type: 'string', value: 'KIND', help: 'adder (AdderNet, default) or conv (the same CNN)' },
  data: { type: 'string', value: 'SPEC', help: `${DATA_HELP}; default mnist for lenet5bn` },
  epochs: { type: 'string', value: 'N', help: 'epochs (default 20 for lenet5bn, 400 for the ResNets)' },
  'batch-size': { type: 'string', value: 'B', help: 'examples per step (default 64 for lenet5bn, 256 for the ResNets)' },
  lr: { type: 'string', value: 'L', help: 'base learning rate (default 0.1)' },
  schedule: { type: 'string', value: 'S', help: 'cosine (default), constant, or step:EPOCHS[:GAMMA]' },
  optimizer: { type: 'string', value: 'NAME', help: 'sgd (default), adam or adamw; adder filters get the adaptive learning rate with each' },
  momentum: { type: 'string', value: 'M', help: 'SGD momentum (default 0.9)' },
  'weight-decay': { type: 'string', value: 'W', help: 'weight decay (default 5e-4 for sgd, 0 for adam, 1e-2 for adamw)' },
  nesterov: { type: 'boolean', help: 'Nesterov momentum (sgd)' },
  betas: { type: 'string', value: 'B1,B2', help: 'adam/adamw: decay rates of the running averages (default 0.9,0.999)' },
  eps: { type: 'string', value: 'E', help: 'adam/adamw: added to the denominator (default 1e-8)' },
  amsgrad: { type: 'boolean', help: 'adam/adamw: the AMSGrad variant' },
  eta: { type: 'string', value: 'E', help: 'adaptive learning-rate coefficient of adder layers (default 0.2)' },
  augment: { type: 'boolean', help: 'random crop (pad 4) + flip; default on for the ResNets' },
  'no-augment': { type: 'boolean', help: 'turn augmentation off' },
  'recalibrate-bn': { type: 'string', value: 'WHEN', help: 'recompute BatchNorm statistics over the training set: end (default for adder models), epoch or off (default for CNNs)' },
  'no-validate': { type: 'boolean', help: 'skip the per-epoch test evaluation (the test set is still scored at the end)' },
  seed: { type: 'string', value: 'S', help: 'seed of initialisation, shuffling and augmentation (default 0)' },
  threads: { type: 'string', value: 'T', help: 'kernel threads (default: all cores)' },
  device: DEVICE_OPTION,
  out: { type: 'string', short: 'o', value: 'FILE', help: 'checkpoint path (default <model>-<layer>.safetensors); the plot goes beside it as .svg' },
  'checkpoint-every': { type: 'string', value: 'N', help: 'write the resumable training checkpoint <out>.ckpt.safetensors every N epochs (default 1; 0: only at the end and on Ctrl-C), its log beside it as .ckpt.log.jsonl' },
  resume: { type: 'string', value: 'FILE', help: 'continue from a training checkpoint (give the same options as the interrupted run)' },
  json: { type: 'boolean', help: 'print one JSON object at the end instead of the summaries (the model summary as "summary")' },
  limit: { type: 'string', value: 'N', help: 'quick runs: at most N training and N test examples, evenly spaced' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const TRAIN_USAGE = `Usage: addernet train [options]

Trains LeNet-5-BN or a CIFAR ResNet, as an AdderNet or as the same CNN, and
writes the checkpoint (safetensors) and a plot of loss and accuracy per epoch.
It starts by printing the model summary (layers, output shapes, parameters,
multiplications and additions per example; see "addernet summary").

Options:
${optionsHelp(TRAIN_OPTIONS)}

Examples:
  addernet train --model lenet5bn --layer adder --epochs 20 --out runs/lenet-adder.safetensors
  addernet train --model resnet20 --layer adder --data cifar10:./cifar-10-batches-bin --epochs 400
  addernet train --json --epochs 3 > result.json
  addernet train --optimizer adamw --lr 0.002 --epochs 5

Ctrl-C stops after the current batch and writes the training checkpoint of
the last finished step (exit status 130); the same command with
--resume <out>.ckpt.safetensors continues it, bit for bit as if uninterrupted.`;

export interface TrainConfig {
  arch: Arch;
  layer: Layer;
  data: DataSpec;
  epochs: number;
  batchSize: number;
  lr: number;
  schedule: Schedule;
  optimizer: OptimizerName;
  /** undefined: fit()'s default for the optimizer. */
  momentum?: number;
  weightDecay?: number;
  nesterov: boolean;
  betas?: [number, number];
  eps?: number;
  amsgrad: boolean;
  eta: number;
  augment: boolean;
  validate: boolean;
  /** undefined: fit()'s default (after the last epoch for adder models). */
  recalibrateBatchNorm?: 'end' | 'epoch' | false;
  seed: number;
  threads?: number;
  device: 'cpu';
  out: string;
  /** The resumable training checkpoint fit() writes (none: not written, e.g. by compare). */
  checkpoint?: string;
  /** Epochs between its writes (0: only after the last and on Ctrl-C). */
  checkpointEvery?: number;
  /** A training checkpoint to continue from. */
  resume?: string;
  json: boolean;
  limit?: number;
}

export function parseSchedule(text: string | undefined): Schedule {
  if (text === undefined || text === 'cosine') return 'cosine';
  if (text === 'constant') return 'constant';
  const m = text.match(/^step:(\d+)(?::([0-9.eE+-]+))?$/);
  const stepSize = m ? Number(m[1]) : NaN;
  const gamma = m?.[2] === undefined ? 0.1 : Number(m[2]);
  if (!m || stepSize < 1 || !Number.isFinite(gamma) || gamma <= 0) {
    throw new UsageError(`option --schedule must be cosine, constant or step:EPOCHS[:GAMMA] (got ${JSON.stringify(text)})`);
  }
  return { type: 'step', stepSize, gamma };
}

export function scheduleText(s: Schedule): string {
  return typeof s === 'string' ? s : typeof s === 'object' ? `step:${s.stepSize}:${s.gamma ?? 0.1}` : 'custom';
}

/** Validates every flag before any data is read. */
export function trainConfig(values: Parsed['values']): TrainConfig {
  const arch = choiceFlag(values, 'model', ARCHS, 'lenet5bn');
  const d = DEFAULTS[arch];
  const dataText = stringFlag(values, 'data') ?? d.data;
  if (dataText === undefined) throw new UsageError(`option --data is required for --model ${arch} (e.g. --data cifar10:DIR)`);
  if (boolFlag(values, 'augment') && boolFlag(values, 'no-augment')) throw new UsageError('options --augment and --no-augment contradict each other');
  const layer = choiceFlag(values, 'layer', LAYERS, 'adder');
  const optimizer = choiceFlag(values, 'optimizer', OPTIMIZERS, 'sgd');
  const betas = numbersFlag(values, 'betas');
  if (betas && (betas.length !== 2 || betas.some((b) => b < 0 || b >= 1))) throw new UsageError(`option --betas must be two numbers in [0, 1), e.g. 0.9,0.999 (got ${JSON.stringify(values.betas)})`);
  const sgdOnly = ['momentum', 'nesterov'].filter((k) => values[k] !== undefined);
  const adamOnly = ['betas', 'eps', 'amsgrad'].filter((k) => values[k] !== undefined);
  if (optimizer !== 'sgd' && sgdOnly.length) throw new UsageError(`option --${sgdOnly[0]} is for --optimizer sgd (got --optimizer ${optimizer})`);
  if (optimizer === 'sgd' && adamOnly.length) throw new UsageError(`option --${adamOnly[0]} is for --optimizer adam or adamw`);
  const out = stringFlag(values, 'out') ?? `${arch}-${layer}.safetensors`;
  const resume = stringFlag(values, 'resume');
  if (resume !== undefined && !fs.existsSync(resume)) throw new UsageError(`option --resume: ${JSON.stringify(resume)} does not exist`);
  const cfg: TrainConfig = {
    arch,
    layer,
    data: parseDataSpec(dataText),
    epochs: intFlag(values, 'epochs', 1, d.epochs),
    batchSize: intFlag(values, 'batch-size', 1, d.batchSize),
    lr: numberFlag(values, 'lr', d.lr),
    schedule: parseSchedule(stringFlag(values, 'schedule')),
    optimizer,
    momentum: values.momentum === undefined ? undefined : numberFlag(values, 'momentum', 0.9, true),
    weightDecay: values['weight-decay'] === undefined ? undefined : numberFlag(values, 'weight-decay', 0, true),
    nesterov: boolFlag(values, 'nesterov'),
    betas: betas as [number, number] | undefined,
    eps: values.eps === undefined ? undefined : numberFlag(values, 'eps', 1e-8, true),
    amsgrad: boolFlag(values, 'amsgrad'),
    eta: numberFlag(values, 'eta', 0.2),
    augment: boolFlag(values, 'augment') || (d.augment && !boolFlag(values, 'no-augment')),
    validate: !boolFlag(values, 'no-validate'),
    recalibrateBatchNorm: recalibrationFlag(choiceFlag(values, 'recalibrate-bn', ['end', 'epoch', 'off'] as const)),
    seed: intFlag(values, 'seed', 0, 0),
    threads: intFlag(values, 'threads', 1),
    device: deviceFlag(values),
    out,
    checkpoint: out.replace(/\.safetensors$/i, '') + '.ckpt.safetensors',
    checkpointEvery: intFlag(values, 'checkpoint-every', 0, 1),
    resume,
    json: boolFlag(values, 'json'),
    limit: intFlag(values, 'limit', 1),
  };
  if (cfg.nesterov && (cfg.momentum ?? 0.9) === 0) throw new UsageError('option --nesterov needs --momentum > 0');
  const outDir = path.dirname(path.resolve(cfg.out));
  if (fs.existsSync(cfg.out) && fs.statSync(cfg.out).isDirectory()) throw new UsageError(`option --out: ${JSON.stringify(cfg.out)} is a directory; give a file name`);
  if (fs.existsSync(outDir) && !fs.statSync(outDir).isDirectory()) throw new UsageError(`option --out: ${JSON.stringify(outDir)} is not a directory`);
  return cfg;
}

function recalibrationFlag(v: 'end' | 'epoch' | 'off' | undefined): 'end' | 'epoch' | false | undefined {
  return v === 'off' ? false : v;
}

export function buildModel(arch: Arch, layer: Layer, seed: number, numClasses: number, classNames?: string[]): Model {
  if (arch === 'lenet5bn') return models.lenet5bn({ layer, seed, classNames });
  return models[arch]({ layer, seed, numClasses, classNames });
}

/** The model for the data, or a UsageError explaining the mismatch. */
export function modelForData(cfg: Pick<TrainConfig, 'arch' | 'layer' | 'seed' | 'data'>, train: Dataset): Model {
  const model = buildModel(cfg.arch, cfg.layer, cfg.seed, train.numClasses, train.classNames);
  const want = model.info.inputShape;
  if (train.shape.some((v, i) => v !== want[i])) {
    throw new UsageError(
      `option --data: ${cfg.data.text} has ${train.shape.join('x')} images but --model ${cfg.arch} takes ${want.join('x')}` +
        (cfg.arch === 'lenet5bn' ? ' (use mnist, idx:DIR or folder:DIR)' : ' (use cifar10:DIR, cifar100:DIR or folder:DIR)'),
    );
  }
  if (train.numClasses > model.info.numClasses) {
    throw new UsageError(`option --data: ${cfg.data.text} has ${train.numClasses} classes but --model ${cfg.arch} has ${model.info.numClasses} outputs`);
  }
  return model;
}

export interface TrainResult {
  command: 'train';
  model: Arch;
  layer: Layer;
  data: string;
  trainExamples: number;
  testExamples: number;
  epochs: number;
  batchSize: number;
  lr: number;
  schedule: string;
  optimizer: OptimizerName;
  /** SGD only. */
  momentum?: number;
  weightDecay: number;
  eta: number;
  augment: boolean;
  seed: number;
  threads: number;
  isa: string;
  /** Accuracy and mean loss on the test split after the last epoch (eval mode). */
  testAccuracy: number;
  testLoss: number;
  /** Mean training loss and accuracy over the last epoch (training mode). */
  trainLoss: number;
  trainAccuracy: number;
  /** Training examples per second over all epochs (per-epoch evaluation excluded). */
  examplesPerSecond: number;
  /** Wall time of fit(), per-epoch evaluation included. */
  seconds: number;
  checkpoint: string;
  /** The SVG of the curves, or null when it was skipped (vega and vega-lite not installed). */
  plot: string | null;
  history: EpochLogs[];
  /** model.summary() of the trained model: layers, output shapes, parameters, multiplications and additions per example. */
  summary: ModelSummary;
}

/** Runs one training job; progress on stderr. Returns the summary (the caller prints it). */
export async function runTraining(
  cfg: TrainConfig,
  options: {
    signal?: AbortSignal;
    /** Prefix of the bar and epoch lines (e.g. "adder"). */
    label?: string;
    /** No header, model summary or epoch lines (the live bar still shows on a terminal's stderr). */
    quiet?: boolean;
    /** Print the model summary table after the header (default true; not when quiet). */
    printSummary?: boolean;
    log?: (line: string) => void;
  } = {},
): Promise<TrainResult> {
  const log = options.log ?? ((line: string) => process.stdout.write(line + '\n'));
  if (cfg.threads !== undefined) setNumThreads(cfg.threads);
  const split = await loadData(cfg.data, INPUT_SHAPES[cfg.arch]);
  const train = limitDataset(split.train, cfg.limit);
  const test = limitDataset(split.test, cfg.limit);
  const model = modelForData(cfg, train);
  const backend = backendInfo();
  const nTrain = datasetSize(train);
  const modelSummary = model.summary();
  if (!options.quiet) {
    log(
      `Training ${cfg.arch} (${cfg.layer === 'adder' ? 'AdderNet' : 'CNN'}) on ${cfg.data.text}: ${thousands(nTrain)} train / ${thousands(datasetSize(test))} test examples, ` +
        `${cfg.epochs} epochs, batch ${cfg.batchSize}, lr ${cfg.lr} ${scheduleText(cfg.schedule)}` +
        `${cfg.layer === 'adder' ? `, eta ${cfg.eta}` : ''}${cfg.augment ? ', augmented' : ''}, ${backend.threads} threads (${backend.isa})`,
    );
    if (options.printSummary ?? true) log(`\n${formatSummary(modelSummary)}\n`);
  }
  const progress = new TrainProgress({
    label: options.label,
    epochs: cfg.epochs,
    examplesPerEpoch: nTrain,
    epochLines: !options.quiet,
  });
  let history: History;
  // The training checkpoint is written from the first epoch on, beside the model.
  fs.mkdirSync(path.dirname(path.resolve(cfg.out)), { recursive: true });
  try {
    progress.start();
    history = await fit(model, train, {
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      lr: cfg.lr,
      schedule: cfg.schedule,
      optimizer: cfg.optimizer,
      momentum: cfg.momentum,
      weightDecay: cfg.weightDecay,
      nesterov: cfg.nesterov || undefined,
      betas: cfg.betas,
      eps: cfg.eps,
      amsgrad: cfg.amsgrad || undefined,
      eta: cfg.eta,
      checkpoint: cfg.checkpoint === undefined ? undefined : { path: cfg.checkpoint, everyEpochs: cfg.checkpointEvery || cfg.epochs },
      resumeFrom: cfg.resume,
      seed: cfg.seed,
      augment: cfg.augment,
      validationData: cfg.validate ? test : undefined,
      recalibrateBatchNorm: cfg.recalibrateBatchNorm,
      callbacks: progress.callbacks,
      signal: options.signal,
    });
  } finally {
    progress.stop();
  }
  // Ctrl-C: fit() resolved with the epochs so far and wrote the training checkpoint (if any) of the last finished step.
  options.signal?.throwIfAborted();
  const last = history.epochs[history.epochs.length - 1];
  const final = last.valAccuracy !== undefined ? { loss: last.valLoss!, accuracy: last.valAccuracy } : await evaluate(model, test);
  options.signal?.throwIfAborted();
  // Only a finished run is saved, atomically (saveModel writes a temp file and renames it).
  fs.mkdirSync(path.dirname(path.resolve(cfg.out)), { recursive: true });
  saveModel(model, cfg.out);
  const title = `${cfg.arch} ${cfg.layer === 'adder' ? 'AdderNet' : 'CNN'} on ${cfg.data.kind}: test accuracy ${percent(final.accuracy)}`;
  const plotFile = plotPathFor(cfg.out);
  const plot = (await writeCurves(plotFile, history.epochs, { title })) ? plotFile : null;
  await model.dispose();
  const trainSeconds = history.epochs.reduce((a, e) => a + e.seconds, 0);
  return {
    command: 'train',
    model: cfg.arch,
    layer: cfg.layer,
    data: cfg.data.text,
    trainExamples: nTrain,
    testExamples: datasetSize(test),
    epochs: history.epochs.length,
    batchSize: cfg.batchSize,
    lr: cfg.lr,
    schedule: scheduleText(cfg.schedule),
    optimizer: cfg.optimizer,
    momentum: cfg.optimizer === 'sgd' ? (cfg.momentum ?? 0.9) : undefined,
    weightDecay: cfg.weightDecay ?? { sgd: 5e-4, adam: 0, adamw: 1e-2 }[cfg.optimizer],
    eta: cfg.eta,
    augment: cfg.augment,
    seed: cfg.seed,
    threads: backend.threads,
    isa: backend.isa,
    testAccuracy: final.accuracy,
    testLoss: final.loss,
    trainLoss: last.loss,
    trainAccuracy: last.accuracy,
    examplesPerSecond: (nTrain * history.epochs.length) / trainSeconds,
    seconds: history.seconds,
    checkpoint: cfg.out,
    plot,
    history: history.epochs,
    summary: modelSummary,
  };
}

export function summary(r: TrainResult): string {
  return [
    `Done in ${formatDuration(r.seconds)} (${r.seconds.toFixed(1)} s, ${thousands(r.examplesPerSecond)} training examples/s).`,
    `  test accuracy  ${percent(r.testAccuracy)}   test loss ${r.testLoss.toFixed(4)}`,
    `  train accuracy ${percent(r.trainAccuracy)}   train loss ${r.trainLoss.toFixed(4)} (last epoch)`,
    `  checkpoint     ${r.checkpoint}`,
    `  plot           ${r.plot ?? 'skipped (vega and vega-lite not installed)'}`,
  ].join('\n');
}

/** Aborts `controller` on the first Ctrl-C (and SIGTERM); a second Ctrl-C exits at once. */
export function abortOnInterrupt(controller: AbortController, onFirst?: () => void): () => void {
  const handler = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    onFirst?.();
    const err = new Error(`interrupted by ${sig}`);
    err.name = 'AbortError';
    controller.abort(err);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

function shellQuote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

export async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, TRAIN_OPTIONS, { min: 0, max: 0, names: '' });
  if (values.help) {
    process.stdout.write(TRAIN_USAGE + '\n');
    return 0;
  }
  const cfg = trainConfig(values);
  const controller = new AbortController();
  const release = abortOnInterrupt(controller, () => process.stderr.write('\nStopping after this batch (Ctrl-C again to quit now)...\n'));
  try {
    const result = await runTraining(cfg, { signal: controller.signal, quiet: cfg.json });
    if (cfg.json) process.stdout.write(JSON.stringify(result) + '\n');
    else process.stdout.write(summary(result) + '\n');
    return 0;
  } catch (err) {
    if (controller.signal.aborted) {
      if (cfg.checkpoint && fs.existsSync(cfg.checkpoint)) {
        const again = [...argv.filter((a, i) => a !== '--resume' && argv[i - 1] !== '--resume' && !a.startsWith('--resume=')), '--resume', cfg.checkpoint];
        process.stderr.write(`Training interrupted: wrote the training checkpoint ${cfg.checkpoint} (the last finished step). Continue with:\n  addernet train ${again.map(shellQuote).join(' ')}\n`);
      } else {
        process.stderr.write('Training interrupted: no checkpoint written.\n');
      }
      return 130;
    }
    throw err;
  } finally {
    release();
  }
}
