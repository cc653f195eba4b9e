// Rebuilds a module tree from its config (checkpoints and the predict worker).
import { rangeError, describe } from '../errors';
import {
  Adder2d, AdderLinear, AvgPool2d, BasicBlock, BatchNorm1d, BatchNorm2d, Conv2d, Flatten,
  GlobalAvgPool2d, Linear, MaxPool2d, ReLU, Sequential,
} from './layers';
import type { Module, ModuleConfig } from './module';
import { ResNet } from './resnet';

type Factory = (args: any, children: Record<string, Module>) => Module; // eslint-disable-line @typescript-eslint/no-explicit-any

const factories: Record<string, Factory> = {
  Adder2d: (a) => new Adder2d(a),
  Conv2d: (a) => new Conv2d(a),
  AdderLinear: (a) => new AdderLinear(a),
  Linear: (a) => new Linear(a),
  BatchNorm2d: (a) => new BatchNorm2d(a),
  BatchNorm1d: (a) => new BatchNorm1d(a),
  ReLU: () => new ReLU(),
  MaxPool2d: (a) => new MaxPool2d(a),
  AvgPool2d: (a) => new AvgPool2d(a),
  GlobalAvgPool2d: () => new GlobalAvgPool2d(),
  Flatten: () => new Flatten(),
  Sequential: (_a, children) => new Sequential(children),
  BasicBlock: (a) => new BasicBlock(a),
  ResNet: (a) => new ResNet(a),
};

/** A lower bound on the parameter elements a config declares (before anything is allocated). */
function declaredElements(type: string, a: Record<string, unknown>): number {
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : Array.isArray(v) ? Number(v[0]) * Number(v[1]) : NaN);
  switch (type) {
    case 'Adder2d':
    case 'Conv2d':
      return n(a.inChannels) * n(a.outChannels) * n(a.kernelSize) + n(a.outChannels);
    case 'AdderLinear':
    case 'Linear':
      return n(a.inFeatures) * n(a.outFeatures) + n(a.outFeatures);
    case 'BatchNorm2d':
    case 'BatchNorm1d':
      return 4 * n(a.numFeatures);
    case 'BasicBlock':
      return 9 * n(a.planes) * (n(a.inPlanes) + n(a.planes));
    case 'ResNet':
      return 2 * 9 * 64 * 64 * n(a.depth) + 64 * n(a.numClasses); // stage 3 alone
    default:
      return 0;
  }
}

/**
 * Builds a module tree from its config. maxElements (e.g. the float count of
 * a checkpoint file) rejects configs declaring more parameters than could be
 * loaded, before any allocation: a hostile file cannot make us allocate.
 */
export function moduleFromConfig(config: ModuleConfig, maxElements = Infinity): Module {
  const type = config && typeof config === 'object' ? config.type : undefined;
  const make = typeof type === 'string' && Object.hasOwn(factories, type) ? factories[type] : undefined;
  if (!make) {
    throw rangeError('ERR_ADDERNET_FORMAT', 'config.type', `one of ${Object.keys(factories).join(', ')}`, describe(config?.type));
  }
  const args = (config.args ?? {}) as Record<string, unknown>;
  const declared = declaredElements(config.type, args);
  if (!(declared <= maxElements)) {
    throw rangeError('ERR_ADDERNET_FORMAT', `config of ${config.type}`, `at most ${maxElements} parameter elements (what the file holds)`, `${describe(declared)} declared`);
  }
  const children = Object.fromEntries(Object.entries(config.children ?? {}).map(([n, c]) => [n, moduleFromConfig(c, maxElements)]));
  return make(args, children);
}
