// ES module entry ("import" condition in package.json): the CommonJS build's
// exports as real named exports. It re-exports the very module require()
// loads, so ESM and CJS callers share one addon, one allocator and one queue.
// test/esm.test.ts fails when a name exported by lib/index.ts is missing here.
import addernet from '../dist/lib/index.js';

export const {
  ops, nn, models, data, callbacks, trainOps,
  Tensor, tensor, zeros, isTensor, memoryInfo, emptyCache, setCacheLimit, resetPeakMemory,
  backendInfo, setNumThreads, setIsa, supportedIsas,
  Model, formatSummary, Optimizer, SGD, Adam, AdamW, scheduledLr,
  fit, evaluate, recalibrateBatchNorm, saveModel, loadModel, quantize, QuantizedModel, readSafetensors, writeSafetensors,
} = addernet;
export default addernet;
