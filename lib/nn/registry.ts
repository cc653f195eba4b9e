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

export function moduleFromConfig(config: ModuleConfig): Module {
  const make = config && typeof config === 'object' ? factories[config.type] : undefined;
  if (!make) {
    throw rangeError('ERR_ADDERNET_FORMAT', 'config.type', `one of ${Object.keys(factories).join(', ')}`, describe(config?.type));
  }
  const children = Object.fromEntries(Object.entries(config.children ?? {}).map(([n, c]) => [n, moduleFromConfig(c)]));
  return make(config.args ?? {}, children);
}
