export { Module, Parameter } from './module';
export type { ModuleConfig, ParameterKind } from './module';
export {
  Adder2d, Conv2d, AdderLinear, Linear, BatchNorm2d, BatchNorm1d, ReLU, MaxPool2d, AvgPool2d,
  GlobalAvgPool2d, Flatten, Sequential, BasicBlock,
} from './layers';
export type { Conv2dArgs, LinearArgs, BatchNormArgs, PoolArgs, LayerKind } from './layers';
export { ResNet } from './resnet';
export type { ResNetArgs } from './resnet';
export { moduleFromConfig } from './registry';
export { quantize, QuantizedModel, QuantizedAdder, FoldedBatchNorm } from './quantize';
export type { QuantizeOptions, QuantizeMethod, QuantizationInfo, QuantizedAdderParams } from './quantize';
