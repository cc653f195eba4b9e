/**
 * addernet: AdderNet (Chen et al., CVPR 2020) for Node.js.
 * Layers respond with the negative L1 distance between input patches and filters.
 */
import * as data from './data/index';
import * as models from './nn/models';
import * as nn from './nn/index';
import * as ops from './ops/index';

export { ops, nn, models, data };
/** @deprecated The training ops are in `ops` now; `trainOps` is the same namespace, kept for old code. */
export const trainOps = ops;
export { Tensor, tensor, zeros, isTensor, memoryInfo, emptyCache, setCacheLimit, resetPeakMemory } from './tensor';
export type { Device, Dtype, MemoryInfo } from './tensor';
export type { Conv2dOptions, Conv2dBackwardOptions, LinearBackwardOptions, Gradients, Pair } from './ops/index';
export type {
  BatchNormOptions, BatchNormResult, BatchNormGradients, Pool2dOptions, MaxPool2dResult,
  SoftmaxCrossEntropyOptions, SoftmaxCrossEntropyResult, SgdOptions,
} from './ops/index';
export { backendInfo, setNumThreads, setIsa, supportedIsas } from './backend';
export type { BackendInfo, Isa } from './backend';
export type { AddernetError, AddernetErrorCode } from './errors';
export { Model } from './nn/model';
export type { ModelInfo, ModelConfig } from './nn/model';
export type { ModelOptions, ResNetOptions } from './nn/models';
export { SGD, scheduledLr } from './nn/optim';
export type { SGDOptions, Schedule } from './nn/optim';
export { fit, evaluate } from './nn/fit';
export type { FitOptions, FitCallbacks, History, EpochLogs, BatchLogs, Evaluation } from './nn/fit';
export { saveModel, loadModel } from './nn/checkpoint';
export { readSafetensors, writeSafetensors } from './io/safetensors';
export type { Dataset, DatasetSplit } from './data/dataset';
