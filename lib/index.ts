/**
 * addernet: AdderNet (Chen et al., CVPR 2020) for Node.js.
 * Layers respond with the negative L1 distance between input patches and filters.
 */
import * as ops from './ops';

export { ops };
export { Tensor, tensor, zeros, isTensor } from './tensor';
export type { Device } from './tensor';
export type { Conv2dOptions, Conv2dBackwardOptions, LinearBackwardOptions, Gradients, Pair } from './ops';
export { backendInfo, setNumThreads, setIsa, supportedIsas } from './backend';
export type { BackendInfo, Isa } from './backend';
export type { AddernetError, AddernetErrorCode } from './errors';
