// Live training progress on stderr: a cli-progress bar (loss, accuracy,
// examples/s, ETA) on a terminal, one line per epoch everywhere.
import type { BatchLogs, EpochLogs, FitCallbacks } from '../nn/fit';
import type { MultiBar, SingleBar } from 'cli-progress';

export interface ProgressOptions {
  /** Shown before the bar, e.g. "adder". */
  label?: string;
  epochs: number;
  /** Training examples per epoch. */
  examplesPerEpoch: number;
  stream?: NodeJS.WriteStream;
  /** Draw the live bar (default: when the stream is a terminal). */
  bar?: boolean;
  /** Print a line per epoch (default true). */
  epochLines?: boolean;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

export const percent = (v: number, digits = 2): string => `${(v * 100).toFixed(digits)}%`;
export const thousands = (v: number): string => Math.round(v).toLocaleString('en-US');

export function epochLine(logs: EpochLogs, epochs: number): string {
  const w = String(epochs).length;
  const parts = [
    `epoch ${String(logs.epoch + 1).padStart(w)}/${epochs}`,
    `loss ${logs.loss.toFixed(4)}`,
    `acc ${percent(logs.accuracy)}`,
  ];
  if (logs.valLoss !== undefined) parts.push(`test loss ${logs.valLoss.toFixed(4)}`, `test acc ${percent(logs.valAccuracy ?? NaN)}`);
  parts.push(`lr ${logs.lr.toPrecision(3)}`, `${logs.seconds.toFixed(1)} s`, `${thousands(logs.examplesPerSecond)} ex/s`);
  return parts.join('  ');
}

/** Callbacks for fit() that drive the bar and the epoch lines. */
export class TrainProgress {
  private readonly stream: NodeJS.WriteStream;
  private readonly total: number;
  private multi?: MultiBar;
  private bar?: SingleBar;
  private done = 0;
  private started = 0;
  private epochStart = 0;
  private epochLoss = 0;
  private epochCorrect = 0;
  private epochCount = 0;
  private epoch = 0;

  constructor(private readonly options: ProgressOptions) {
    this.stream = options.stream ?? process.stderr;
    this.total = options.epochs * options.examplesPerEpoch;
    if (options.bar ?? this.stream.isTTY === true) {
      // Loaded here so that `addernet --json` in a pipe never needs it.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const cliProgress = require('cli-progress') as typeof import('cli-progress');
      const label = options.label ? `${options.label} ` : '';
      this.multi = new cliProgress.MultiBar(
        {
          stream: this.stream,
          format: `${label}{bar} {percentage}% | epoch {ep}/${options.epochs} | loss {loss} | acc {acc} | {speed} ex/s | ETA {remaining}`,
          barsize: 24,
          hideCursor: true,
          clearOnComplete: true,
          stopOnComplete: false,
          fps: 8,
          etaBuffer: 50,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar = this.multi.create(this.total, 0, this.payload());
    }
  }

  private payload(): Record<string, string> {
    const n = this.epochCount;
    const now = performance.now();
    // Speed: this epoch's training examples per second. ETA: from the whole
    // run's pace so far, so that per-epoch evaluation time is included.
    const speed = n > 0 ? n / ((now - this.epochStart) / 1000) : NaN;
    const pace = this.done > 0 ? this.done / ((now - this.started) / 1000) : NaN;
    return {
      ep: String(this.epoch + 1),
      loss: n ? (this.epochLoss / n).toFixed(4) : '-',
      acc: n ? percent(this.epochCorrect / n) : '-',
      speed: Number.isFinite(speed) ? thousands(speed) : '-',
      remaining: Number.isFinite(pace) ? formatDuration((this.total - this.done) / pace) : '--:--',
    };
  }

  readonly callbacks: FitCallbacks = {
    onBatchEnd: (logs: BatchLogs) => {
      if (this.started === 0) this.start();
      this.epoch = logs.epoch;
      this.done += logs.size;
      this.epochCount += logs.size;
      this.epochLoss += logs.loss * logs.size;
      this.epochCorrect += logs.accuracy * logs.size;
      this.bar?.update(this.done, this.payload());
    },
    onEpochEnd: (logs: EpochLogs) => {
      this.epochStart = performance.now();
      this.epochLoss = this.epochCorrect = this.epochCount = 0;
      if (this.options.epochLines ?? true) this.log(epochLine(logs, this.options.epochs));
    },
  };

  /** Marks the start of training (so the first batch's time counts). */
  start(): void {
    this.started = this.epochStart = performance.now();
  }

  /** A line above the bar (or plain when there is none). */
  log(line: string): void {
    const text = `${this.options.label ? `[${this.options.label}] ` : ''}${line}\n`;
    if (this.multi) this.multi.log(text);
    else this.stream.write(text);
  }

  stop(): void {
    if (this.multi) {
      this.multi.update(); // flushes lines logged since the last redraw
      this.multi.stop();
      this.multi = undefined;
      this.bar = undefined;
    }
  }
}
