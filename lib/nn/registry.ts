// Rebuilds a module tree from its config (checkpoints, loadModel).
import { describe, MAX_ELEMENTS, rangeError } from '../errors';
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

/** Deepest module nesting a config may have (the reference models nest 4 deep); bounds every walk of a config. */
export const MAX_CONFIG_DEPTH = 64;

/** Bytes one element costs once built: a parameter holds a value and a gradient (two float32), a buffer one float32. */
export const PARAMETER_BYTES = 8;
export const BUFFER_BYTES = 4;

/** What a config will allocate once built, counted before anything is. */
export interface ConfigCost {
  /** Parameter elements (each with a gradient of the same size). */
  parameters: number;
  /** Buffer elements (BatchNorm running statistics). */
  buffers: number;
  /** parameters * PARAMETER_BYTES + buffers * BUFFER_BYTES. */
  bytes: number;
  /** Parameter and buffer tensors. */
  tensors: number;
  /** Modules in the tree. */
  modules: number;
}

export interface ConfigLimits {
  /**
   * Most parameter plus buffer elements in all (e.g. the float elements a
   * checkpoint file holds: each must be loaded from one of them).
   */
  maxElements?: number;
  /** Most parameter plus buffer tensors in all (each is loaded from one tensor of the file). */
  maxTensors?: number;
  /** Named in error messages (e.g. the checkpoint file). */
  source?: string;
}

type Counts = { parameters: number; buffers: number; tensors: number; largest: number };

/** A layer size as the constructors accept it (an integer >= 1), else 0: the constructor rejects it before allocating. */
const size = (v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v >= 1 ? v : 0);

/** `args.bias`, or the layer's default when absent, as `{ bias: default, ...args }` in the constructors gives it. */
const hasBias = (a: Record<string, unknown>, fallback: boolean): boolean => (Object.hasOwn(a, 'bias') ? !!a.bias : fallback);

function conv(c: Counts, inC: number, outC: number, kh: number, kw: number, bias: boolean): void {
  const w = outC * inC * kh * kw;
  c.parameters += w + (bias ? outC : 0);
  c.tensors += bias ? 2 : 1;
  c.largest = Math.max(c.largest, w);
}

function batchNorm(c: Counts, n: number): void {
  c.parameters += 2 * n;
  c.buffers += 2 * n;
  c.tensors += 4; // weight, bias, running_mean, running_var (num_batches_tracked is optional)
  c.largest = Math.max(c.largest, n);
}

/** BasicBlock's layers (see layers.ts), `times` identical blocks at once. */
function basicBlock(c: Counts, inPlanes: unknown, planes: unknown, stride: unknown, times = 1): void {
  const i = size(inPlanes);
  const p = size(planes);
  const one: Counts = { parameters: 0, buffers: 0, tensors: 0, largest: 0 };
  conv(one, i, p, 3, 3, false);
  batchNorm(one, p);
  conv(one, p, p, 3, 3, false);
  batchNorm(one, p);
  if (stride !== 1 || inPlanes !== planes) {
    conv(one, i, p, 1, 1, false);
    batchNorm(one, p);
  }
  c.parameters += times * one.parameters;
  c.buffers += times * one.buffers;
  c.tensors += times * one.tensors;
  c.largest = Math.max(c.largest, one.largest);
}

/** Parameters and buffers the constructor of `type` allocates for `a` (its children not included), mirroring layers.ts and resnet.ts. */
function ownCost(type: string, a: Record<string, unknown>, where: string): Counts {
  const c: Counts = { parameters: 0, buffers: 0, tensors: 0, largest: 0 };
  switch (type) {
    case 'Adder2d':
    case 'Conv2d': {
      const k = a.kernelSize;
      if (typeof k !== 'number' && !Array.isArray(k)) {
        throw rangeError('ERR_ADDERNET_FORMAT', `args.kernelSize of ${where}`, 'an integer or a pair of them', describe(k));
      }
      const [kh, kw] = typeof k === 'number' ? [k, k] : [k[0], k[1]];
      conv(c, size(a.inChannels), size(a.outChannels), size(kh), size(kw), hasBias(a, type === 'Conv2d'));
      break;
    }
    case 'AdderLinear':
    case 'Linear':
      conv(c, size(a.inFeatures), size(a.outFeatures), 1, 1, hasBias(a, type === 'Linear'));
      break;
    case 'BatchNorm2d':
    case 'BatchNorm1d':
      batchNorm(c, size(a.numFeatures));
      break;
    case 'BasicBlock':
      basicBlock(c, a.inPlanes, a.planes, a.stride);
      break;
    case 'ResNet': {
      const depth = size(a.depth);
      const classes = size(a.numClasses);
      if (depth === 0 || classes === 0) break; // refused by the constructor before it allocates
      conv(c, 3, 16, 3, 3, false);
      batchNorm(c, 16);
      let inPlanes = 16;
      for (const [planes, stride] of [[16, 1], [32, 2], [64, 2]]) {
        basicBlock(c, inPlanes, planes, stride);
        basicBlock(c, planes, planes, 1, depth - 1);
        inPlanes = planes;
      }
      conv(c, 64, classes, 1, 1, false);
      batchNorm(c, classes);
      break;
    }
    default:
      break; // no parameters
  }
  return c;
}

const label = (path: string): string => (path ? `module ${JSON.stringify(path)}` : 'the root module');

/**
 * Walks a config without building anything: checks every module's type, the
 * shape of its args and children and the nesting depth, and counts what it
 * would allocate. Throws ERR_ADDERNET_FORMAT when the totals exceed
 * limits.maxElements or limits.maxTensors, or one tensor exceeds MAX_ELEMENTS. Linear in the size of
 * the config (iterative, no recursion).
 */
export function checkModuleConfig(config: unknown, limits: ConfigLimits = {}): ConfigCost {
  const maxElements = limits.maxElements ?? Infinity;
  const maxTensors = limits.maxTensors ?? Infinity;
  const inSource = limits.source === undefined ? '' : ` in ${limits.source}`;
  const total: Counts = { parameters: 0, buffers: 0, tensors: 0, largest: 0 };
  let modules = 0;
  const stack: [unknown, string, number][] = [[config, '', 1]];
  while (stack.length) {
    const [node, path, depth] = stack.pop()!;
    const where = label(path) + inSource;
    if (depth > MAX_CONFIG_DEPTH) {
      throw rangeError('ERR_ADDERNET_FORMAT', `the model config${inSource}`, `modules nested at most ${MAX_CONFIG_DEPTH} deep`, `deeper nesting at ${label(path)}`);
    }
    const type = node !== null && typeof node === 'object' ? (node as ModuleConfig).type : undefined;
    if (typeof type !== 'string' || !Object.hasOwn(factories, type)) {
      throw rangeError('ERR_ADDERNET_FORMAT', path ? `config.type of ${where}` : `config.type${inSource}`, `one of ${Object.keys(factories).join(', ')}`, describe(type));
    }
    const { args, children } = node as { args?: unknown; children?: unknown };
    if (args !== undefined && args !== null && (typeof args !== 'object' || Array.isArray(args))) {
      throw rangeError('ERR_ADDERNET_FORMAT', `args of ${where}`, 'an object of layer arguments', describe(args));
    }
    if (children !== undefined && children !== null && typeof children !== 'object') {
      throw rangeError('ERR_ADDERNET_FORMAT', `children of ${where}`, 'an object of module configs by name', describe(children));
    }
    const own = ownCost(type, (args ?? {}) as Record<string, unknown>, where);
    total.parameters += own.parameters;
    total.buffers += own.buffers;
    total.tensors += own.tensors;
    total.largest = Math.max(total.largest, own.largest);
    modules += 1;
    if (own.largest > MAX_ELEMENTS) {
      throw rangeError('ERR_ADDERNET_FORMAT', `args of ${where}`, `layers of at most ${MAX_ELEMENTS} elements (the largest Float32Array)`, `a ${type} of ${own.largest} elements`);
    }
    // Checked as it grows, so a config of many huge layers fails at the first one past the limit.
    const elements = total.parameters + total.buffers;
    if (!(elements <= maxElements)) {
      throw rangeError(
        'ERR_ADDERNET_FORMAT',
        `the model config${inSource}`,
        `at most ${maxElements} parameter and buffer elements in all (bounded by what the file holds)`,
        `${elements} elements (${total.parameters * PARAMETER_BYTES + total.buffers * BUFFER_BYTES} bytes with gradients) declared by the first ${modules} modules, up to ${label(path)}`,
      );
    }
    if (!(total.tensors <= maxTensors)) {
      throw rangeError(
        'ERR_ADDERNET_FORMAT',
        `the model config${inSource}`,
        `at most ${maxTensors} parameter and buffer tensors in all (bounded by the tensors the file holds)`,
        `${total.tensors} tensors declared by the first ${modules} modules, up to ${label(path)}`,
      );
    }
    if (children) {
      const entries = Object.entries(children as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) stack.push([entries[i][1], path ? `${path}.${entries[i][0]}` : entries[i][0], depth + 1]);
    }
  }
  return { parameters: total.parameters, buffers: total.buffers, tensors: total.tensors, bytes: total.parameters * PARAMETER_BYTES + total.buffers * BUFFER_BYTES, modules };
}

function build(config: ModuleConfig): Module {
  const children = Object.fromEntries(Object.entries(config.children ?? {}).map(([n, c]) => [n, build(c)]));
  return factories[config.type]((config.args ?? {}) as Record<string, unknown>, children);
}

/**
 * Builds a module tree from its config. The limits (a number: maxElements)
 * bound the parameter and buffer elements and tensors of the whole tree
 * (e.g. by what a checkpoint file holds): the config is checked first
 * (checkModuleConfig), so a hostile file cannot make us allocate more than
 * it could fill.
 */
export function moduleFromConfig(config: ModuleConfig, limits: ConfigLimits | number = {}): Module {
  checkModuleConfig(config, typeof limits === 'number' ? { maxElements: limits } : limits);
  return build(config);
}
