// Command-line parsing for the `addernet` CLI: node:util parseArgs (strict) plus
// typed checks of each value. Every mistake is a UsageError naming the flag;
// main.ts prints it and exits with status 2.
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A bad command line: printed as "addernet <command>: <message>", exit status 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Help text; options without it are accepted but not listed (e.g. --limit). */
  help?: string;
  /** Placeholder shown in help, e.g. "N". */
  value?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses argv against `specs`. Unknown flags, missing values and unexpected
 * positionals become UsageErrors that name the offending argument.
 */
export function parse(argv: string[], specs: OptionSpecs, positionals: { min: number; max: number; names: string }): Parsed {
  // "--lr -0.1": parseArgs would call the value ambiguous; pass it as "--lr=-0.1"
  // so the value check can say what is wrong with it.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const m = argv[i].match(/^--([\w-]+)$/);
    if (m && specs[m[1]]?.type === 'string' && i + 1 < argv.length && /^-\.?\d/.test(argv[i + 1])) args.push(`${argv[i]}=${argv[++i]}`);
    else args.push(argv[i]);
  }
  const options: ParseArgsConfig['options'] = {};
  for (const [name, spec] of Object.entries(specs)) options[name] = spec.short ? { type: spec.type, short: spec.short } : { type: spec.type };
  let result: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    result = parseArgs({ args, options, strict: true, allowPositionals: positionals.max > 0 }) as typeof result;
  } catch (err) {
    throw new UsageError(parseErrorMessage(err, specs));
  }
  for (const [name, v] of Object.entries(result.values)) {
    if (v === '') throw new UsageError(`option --${name} needs a value`);
  }
  const n = result.positionals.length;
  if (n < positionals.min) throw new UsageError(`missing ${positionals.names}`);
  if (n > positionals.max) {
    throw new UsageError(`unexpected argument ${JSON.stringify(result.positionals[positionals.max])}${positionals.max ? '' : ' (this command takes only --flags)'}`);
  }
  return result;
}

function parseErrorMessage(err: unknown, specs: OptionSpecs): string {
  const e = err as { code?: string; message?: string };
  const msg = String(e.message ?? err);
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const m = msg.match(/Unknown option '([^']+)'/);
    const flag = m ? m[1] : msg;
    const guess = closest(flag.replace(/^-+/, ''), Object.keys(specs));
    return `unknown option ${flag}${guess ? ` (did you mean --${guess}?)` : ''}`;
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const m = msg.match(/Option '(?:-\w, )?(--[\w-]+)[^']*' argument (missing|is ambiguous)/);
    if (m) return `option ${m[1]} needs a value${m[2] === 'missing' ? '' : ` (the next argument is a flag; write ${m[1]}=VALUE if the value starts with "-")`}`;
    const b = msg.match(/Option '(?:-\w, )?(--[\w-]+)' does not take an argument/);
    if (b) return `option ${b[1]} is a switch and takes no value`;
  }
  if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const m = msg.match(/Unexpected argument '([^']+)'/);
    return `unexpected argument ${m ? JSON.stringify(m[1]) : ''}`.trim();
  }
  return msg;
}

/** The known name within edit distance 2 of `name`, if any. */
function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

// ---------------------------------------------------------------------------
// Typed values

function str(values: Parsed['values'], name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

/** An integer flag >= min (default when absent). */
export function intFlag(values: Parsed['values'], name: string, min: number, fallback: number): number;
export function intFlag(values: Parsed['values'], name: string, min: number, fallback?: number): number | undefined;
export function intFlag(values: Parsed['values'], name: string, min: number, fallback?: number): number | undefined {
  const raw = str(values, name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!/^[+-]?\d+$/.test(raw.trim()) || !Number.isSafeInteger(v) || v < min) {
    throw new UsageError(`option --${name} must be an integer >= ${min} (got ${JSON.stringify(raw)})`);
  }
  return v;
}

/** A finite number flag, > 0 (or >= 0 with allowZero). */
export function numberFlag(values: Parsed['values'], name: string, fallback: number, allowZero = false): number {
  const raw = str(values, name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new UsageError(`option --${name} must be a number ${allowZero ? '>= 0' : '> 0'} (got ${JSON.stringify(raw)})`);
  }
  return v;
}

/** A flag whose value is one of `choices`. */
export function choiceFlag<T extends string>(values: Parsed['values'], name: string, choices: readonly T[], fallback: T): T;
export function choiceFlag<T extends string>(values: Parsed['values'], name: string, choices: readonly T[], fallback?: T): T | undefined;
export function choiceFlag<T extends string>(values: Parsed['values'], name: string, choices: readonly T[], fallback?: T): T | undefined {
  const raw = str(values, name);
  if (raw === undefined) return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new UsageError(`option --${name} must be one of ${choices.join(', ')} (got ${JSON.stringify(raw)})`);
  }
  return raw as T;
}

export function stringFlag(values: Parsed['values'], name: string): string | undefined {
  return str(values, name);
}

export function boolFlag(values: Parsed['values'], name: string): boolean {
  return values[name] === true;
}

/** A comma-separated list of numbers (e.g. --mean 0.49,0.48,0.45). */
export function numbersFlag(values: Parsed['values'], name: string): number[] | undefined {
  const raw = str(values, name);
  if (raw === undefined) return undefined;
  const parts = raw.split(',').map((s) => Number(s.trim()));
  if (parts.some((v, i) => !Number.isFinite(v) || raw.split(',')[i].trim() === '')) {
    throw new UsageError(`option --${name} must be a number or comma-separated numbers (got ${JSON.stringify(raw)})`);
  }
  return parts;
}

/** The options section of a help text. */
export function optionsHelp(specs: OptionSpecs): string {
  const rows = Object.entries(specs)
    .filter(([, s]) => s.help)
    .map(([name, s]) => [`${s.short ? `-${s.short}, ` : '    '}--${name}${s.type === 'string' ? ` ${s.value ?? 'VALUE'}` : ''}`, s.help!]);
  const width = Math.max(...rows.map((r) => r[0].length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`).join('\n');
}

/** --device, shared by train, eval, predict and compare. */
export const DEVICE_OPTION: OptionSpec = { type: 'string', value: 'D', help: 'cpu (default) or cuda' };

/** The --device flag: 'cpu'; 'cuda' is refused until the CUDA backend lands. */
export function deviceFlag(values: Parsed['values']): 'cpu' {
  const device = choiceFlag(values, 'device', ['cpu', 'cuda'] as const, 'cpu');
  if (device === 'cuda') throw new UsageError('option --device cuda: this build of addernet has no CUDA backend yet (tensors and models run on cpu)');
  return device;
}
