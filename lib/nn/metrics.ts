// Classification metrics over logits, accumulated batch by batch: top-k
// accuracy, per-class accuracy and the confusion matrix. The predicted class
// is the first largest logit and the rank of the true class counts ties
// before it the same way, so top-1 equals the loss kernel's accuracy.
import { rangeError, typeError } from '../errors';

export interface ClassificationReport {
  /** Top-k accuracy for each k asked: the true class among the k largest logits. */
  topK: Record<number, number>;
  /** Per class, the fraction of its examples predicted as it (recall); null for a class with no examples. */
  perClassAccuracy: (number | null)[];
  /** confusionMatrix[true][predicted]: example counts. */
  confusionMatrix: number[][];
}

/** The k values of evaluate()'s topK option: integers from 1 to numClasses (default 1 and 5, where there are 5 classes). */
export function checkTopK(value: unknown, numClasses: number, argument = 'options.topK'): number[] {
  if (value === undefined) return numClasses >= 5 ? [1, 5] : [1];
  const list = typeof value === 'number' ? [value] : value;
  if (!Array.isArray(list) || list.length === 0 || list.some((k) => typeof k !== 'number')) throw typeError(argument, 'an integer or a non-empty array of integers', value);
  for (const k of list as number[]) {
    if (!Number.isInteger(k) || k < 1 || k > numClasses) throw rangeError('ERR_ADDERNET_OPTION', argument, `integers from 1 to ${numClasses} (the model's classes)`, String(k));
  }
  return [...new Set(list as number[])].sort((a, b) => a - b);
}

export class ClassificationMetrics {
  private readonly confusion: Float64Array;
  private readonly hits: Float64Array;
  private seen = 0;

  constructor(
    readonly numClasses: number,
    readonly ks: readonly number[],
  ) {
    this.confusion = new Float64Array(numClasses * numClasses);
    this.hits = new Float64Array(ks.length);
  }

  /** Adds a batch: logits [labels.length, numClasses] row-major. */
  add(logits: Float32Array, labels: Int32Array): void {
    const k = this.numClasses;
    for (let r = 0; r < labels.length; r++) {
      const z = logits.subarray(r * k, (r + 1) * k);
      const label = labels[r];
      let top = 0;
      for (let j = 1; j < k; j++) if (z[j] > z[top]) top = j;
      let rank = 0;
      for (let j = 0; j < k; j++) if (z[j] > z[label] || (j < label && z[j] === z[label])) rank++;
      this.confusion[label * k + top] += 1;
      this.ks.forEach((kk, i) => {
        if (rank < kk) this.hits[i] += 1;
      });
    }
    this.seen += labels.length;
  }

  report(): ClassificationReport {
    const k = this.numClasses;
    const confusionMatrix = Array.from({ length: k }, (_, t) => Array.from(this.confusion.subarray(t * k, (t + 1) * k)));
    const perClassAccuracy = confusionMatrix.map((row, t) => {
      const n = row.reduce((a, b) => a + b, 0);
      return n === 0 ? null : row[t] / n;
    });
    const topK = Object.fromEntries(this.ks.map((kk, i) => [kk, this.hits[i] / this.seen]));
    return { topK, perClassAccuracy, confusionMatrix };
  }
}
