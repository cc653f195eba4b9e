// Built-in fit() callbacks (Keras's keras.callbacks, the parts people use).
import { checkFlag, checkNumberIn, checkOptions } from '../checks';
import { checkInteger, describe, rangeError } from '../errors';
import type { Tensor } from '../tensor';
import type { EpochLogs, FitCallbacks } from './fit';
import type { Model } from './model';

type Monitored = 'loss' | 'accuracy' | 'valLoss' | 'valAccuracy';
const MONITORED: readonly Monitored[] = ['loss', 'accuracy', 'valLoss', 'valAccuracy'];

export interface EarlyStoppingOptions {
  /** The epoch figure watched (default 'valLoss'; needs validationData for the val* ones). */
  monitor?: Monitored;
  /** Epochs without improvement before stopping (default 0: stop at the first epoch that does not improve). */
  patience?: number;
  /** The least change that counts as an improvement (default 0). */
  minDelta?: number;
  /** 'min' for losses, 'max' for accuracies; 'auto' (default) picks by the name. */
  mode?: 'min' | 'max' | 'auto';
  /** On stopping, put back the weights and BatchNorm statistics of the best epoch (default false). */
  restoreBestWeights?: boolean;
}

/** What an earlyStopping callback found, readable after fit(). */
export interface EarlyStoppingState {
  bestEpoch: number;
  best: number;
  /** The epoch after which it stopped training, or -1. */
  stoppedEpoch: number;
}

/**
 * Stops fit() when `monitor` has not improved by more than `minDelta` for
 * `patience` epochs; fit() then resolves with its History and
 * `stopped: { by: 'callback', reason }`. Like keras.callbacks.EarlyStopping.
 */
export function earlyStopping(options: EarlyStoppingOptions = {}): FitCallbacks & { readonly state: EarlyStoppingState } {
  const o = checkOptions(options, 'options');
  const monitor = (o.monitor ?? 'valLoss') as Monitored;
  if (!MONITORED.includes(monitor)) throw rangeError('ERR_ADDERNET_OPTION', 'options.monitor', `one of ${MONITORED.join(', ')}`, describe(monitor));
  const patience = checkInteger(o.patience ?? 0, 'options.patience', 0);
  const minDelta = checkNumberIn(o.minDelta ?? 0, 'options.minDelta', 0, Infinity);
  const mode = o.mode ?? 'auto';
  if (mode !== 'min' && mode !== 'max' && mode !== 'auto') throw rangeError('ERR_ADDERNET_OPTION', 'options.mode', "'min', 'max' or 'auto'", describe(mode));
  const restore = checkFlag(o.restoreBestWeights, 'options.restoreBestWeights', false);
  const maximise = mode === 'max' || (mode === 'auto' && monitor.toLowerCase().includes('accuracy'));
  const state: EarlyStoppingState = { bestEpoch: -1, best: maximise ? -Infinity : Infinity, stoppedEpoch: -1 };
  let wait = 0;
  let bestWeights: Record<string, Tensor> | undefined;
  const drop = (): void => {
    for (const t of Object.values(bestWeights ?? {})) t.dispose();
    bestWeights = undefined;
  };
  const snapshot = (model: Model): void => {
    drop();
    bestWeights = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, t.clone()]));
  };
  return {
    state,
    onTrainBegin() {
      state.bestEpoch = -1;
      state.best = maximise ? -Infinity : Infinity;
      state.stoppedEpoch = -1;
      wait = 0;
      drop();
    },
    onEpochEnd(logs: EpochLogs, control) {
      const value = logs[monitor];
      if (value === undefined) {
        throw rangeError('ERR_ADDERNET_OPTION', 'earlyStopping monitor', `a figure fit() reports (${monitor} needs validationData)`, `"${monitor}", not in the epoch logs`);
      }
      const improved = maximise ? value > state.best + minDelta : value < state.best - minDelta;
      if (improved || state.bestEpoch < 0) {
        state.best = value;
        state.bestEpoch = logs.epoch;
        wait = 0;
        if (restore) snapshot(control.model);
        return;
      }
      wait += 1;
      if (wait > patience) {
        state.stoppedEpoch = logs.epoch;
        if (restore && bestWeights) control.model.loadStateDict(bestWeights);
        control.stop(`early stopping: ${monitor} has not improved for ${wait} epoch${wait === 1 ? '' : 's'} (best ${state.best} at epoch ${state.bestEpoch})`);
      }
    },
    onTrainEnd() {
      drop();
    },
  };
}
