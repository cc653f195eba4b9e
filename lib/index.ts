/**
 * addernet: AdderNet (Chen et al., CVPR 2020) for Node.js.
 * Layers respond with the negative L1 distance between input patches and filters.
 */
import * as data from './data/index';
import * as models from './nn/models';
import * as callbacks from './nn/callbacks';
import * as nn from './nn/index';
import * as ops from './ops/index';

export { ops, nn, models, data, callbacks };
/** @deprecated The training ops are in `ops` now; `trainOps` is the same namespace, kept for old code. */
export const trainOps = ops;
export { Tensor, tensor, zeros, isTensor, memoryInfo, emptyCache, setCacheLimit, resetPeakMemory } from './tensor';
export type { Device, Dtype, MemoryInfo } from './tensor';
export type { Conv2dOptions, FusedBatchNorm, Conv2dBackwardOptions, LinearBackwardOptions, LinearEpilogue, Gradients, Pair } from './ops/index';
export type {
  BatchNormOptions, BatchNormResult, BatchNormGradients, Pool2dOptions, MaxPool2dResult,
  SoftmaxCrossEntropyOptions, SoftmaxCrossEntropyResult, SgdOptions, AdamUpdateOptions,
} from './ops/index';
export { backendInfo, setNumThreads, setIsa, supportedIsas } from './backend';
export type { BackendInfo, Isa } from './backend';
export type { AddernetError, AddernetErrorCode } from './errors';
export { Model } from './nn/model';
export type { ModelInfo, ModelConfig } from './nn/model';
export { formatSummary } from './nn/summary';
export type { ModelSummary, SummaryRow, SummaryTotals, SummaryOptions, SummaryQuantization } from './nn/summary';
export type { ModelOptions, ResNetOptions } from './nn/models';
export { Optimizer, SGD, Adam, AdamW, scheduledLr } from './nn/optim';
export type { SGDOptions, AdamOptions, AdamWOptions, Schedule } from './nn/optim';
export { fit, evaluate, recalibrateBatchNorm } from './nn/fit';
export type { EarlyStoppingOptions, EarlyStoppingState } from './nn/callbacks';
export type { RecalibrationOptions, Recalibration, FitControl, StopInfo, FitOptions, FitCallbacks, History, EpochLogs, BatchLogs, Evaluation, EvaluateOptions } from './nn/fit';
export type { ClassificationReport } from './nn/metrics';
export { saveModel, loadModel } from './nn/checkpoint';
export { quantize, QuantizedModel } from './nn/quantize';
export type { QuantizeOptions, QuantizeMethod, QuantizationInfo } from './nn/quantize';
export { readSafetensors, writeSafetensors } from './io/safetensors';
export type { Dataset, DatasetSplit } from './data/dataset';
