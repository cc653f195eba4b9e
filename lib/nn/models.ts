// Reference architectures (SPEC.md): LeNet-5-BN for MNIST and the CIFAR ResNets.
import { Rng } from '../data/rng';
import { describe, rangeError } from '../errors';
import {
  Adder2d, AdderLinear, BatchNorm1d, BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential,
  type LayerKind,
} from './layers';
import { Model } from './model';
import { ResNet } from './resnet';

export interface ModelOptions {
  /** 'adder' (AdderNet, default) or 'conv' (the same CNN with multiplications). */
  layer?: LayerKind;
  /** Seed of the parameter initialisation (default 0). */
  seed?: number;
  /** Number of outputs (default 10, or classNames.length). */
  numClasses?: number;
  /** Names of the classes by output index, kept in model.info (numClasses strings). */
  classNames?: readonly string[];
}

export type ResNetOptions = ModelOptions;

/** numClasses and classNames checked against each other. */
function classesOf(options: ModelOptions): { numClasses: number; classNames?: string[] } {
  const names = options.classNames;
  const numClasses = options.numClasses ?? names?.length ?? 10;
  if (!Number.isInteger(numClasses) || numClasses < 1) throw rangeError('ERR_ADDERNET_OPTION', 'numClasses', 'an integer >= 1', describe(numClasses));
  if (names === undefined) return { numClasses };
  if (!Array.isArray(names) || names.length !== numClasses || !names.every((n) => typeof n === 'string' && n.length > 0 && n.length <= 256)) {
    throw rangeError('ERR_ADDERNET_OPTION', 'classNames', `an array of ${numClasses} non-empty strings (numClasses)`, describe(names));
  }
  return { numClasses, classNames: [...names] };
}

function layerKind(v: unknown): LayerKind {
  if (v === undefined) return 'adder';
  if (v !== 'adder' && v !== 'conv') throw rangeError('ERR_ADDERNET_OPTION', 'layer', "'adder' or 'conv'", describe(v));
  return v;
}

/**
 * LeNet-5-BN for 28x28 grey digits: 5x5 layers of 6 (padding 2) and 16 maps,
 * each followed by BN, ReLU and 2x2 max pooling, then fully connected
 * 400-120-84-10 with BN after each hidden layer. In the adder variant every one
 * of these layers is an adder layer and the classifier is followed by BN too
 * (adder outputs are never positive, so logits need the affine BN).
 */
export function lenet5bn(options: ModelOptions = {}): Model {
  const layer = layerKind(options.layer);
  const { numClasses, classNames } = classesOf(options);
  const rng = new Rng(options.seed ?? 0);
  const adder = layer === 'adder';
  const conv = (inChannels: number, outChannels: number, padding: number) =>
    adder
      ? new Adder2d({ inChannels, outChannels, kernelSize: 5, padding }, rng)
      : new Conv2d({ inChannels, outChannels, kernelSize: 5, padding, bias: false }, rng);
  const fc = (inFeatures: number, outFeatures: number, bias: boolean) =>
    adder ? new AdderLinear({ inFeatures, outFeatures }, rng) : new Linear({ inFeatures, outFeatures, bias }, rng);
  const layers = {
    conv1: conv(1, 6, 2),
    bn1: new BatchNorm2d({ numFeatures: 6 }),
    relu1: new ReLU(),
    pool1: new MaxPool2d({ kernelSize: 2 }),
    conv2: conv(6, 16, 0),
    bn2: new BatchNorm2d({ numFeatures: 16 }),
    relu2: new ReLU(),
    pool2: new MaxPool2d({ kernelSize: 2 }),
    flatten: new Flatten(),
    fc1: fc(400, 120, false),
    bn3: new BatchNorm1d({ numFeatures: 120 }),
    relu3: new ReLU(),
    fc2: fc(120, 84, false),
    bn4: new BatchNorm1d({ numFeatures: 84 }),
    relu4: new ReLU(),
    fc3: fc(84, numClasses, true),
    ...(adder ? { bn5: new BatchNorm1d({ numFeatures: numClasses }) } : {}),
  };
  layers.conv1.needsInputGrad = false;
  return new Model(new Sequential(layers), {
    arch: 'lenet5bn', options: { layer, seed: options.seed ?? 0, ...(numClasses !== 10 ? { numClasses } : {}) }, inputShape: [1, 28, 28], numClasses,
    ...(classNames ? { classNames } : {}),
  });
}

function resnet(depth: number, arch: string, options: ResNetOptions): Model {
  const layer = layerKind(options.layer);
  const { numClasses, classNames } = classesOf(options);
  const net = new ResNet({ depth, layer, numClasses, seed: options.seed ?? 0 });
  return new Model(net, {
    arch, options: { layer, numClasses, seed: options.seed ?? 0 }, inputShape: [3, 32, 32], numClasses, ...(classNames ? { classNames } : {}),
  });
}

/** The reference CIFAR ResNet-20 (3 BasicBlocks per stage). */
export function resnet20(options: ResNetOptions = {}): Model {
  return resnet(3, 'resnet20', options);
}

/** The reference CIFAR ResNet-32 (5 BasicBlocks per stage). */
export function resnet32(options: ResNetOptions = {}): Model {
  return resnet(5, 'resnet32', options);
}

/** A model from any module tree, for your own architectures. */
export { Model };
