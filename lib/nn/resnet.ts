import { Rng } from '../data/rng';
import { checkInteger } from '../errors';
import { Tensor } from '../tensor';
import { AvgPool2d, BasicBlock, BatchNorm2d, Conv2d, Flatten, ReLU, Sequential, type LayerKind } from './layers';
import { backwardChain, forwardChain, Module, type ModuleConfig } from './module';
import { childPath, type SummaryRow } from './summary';

export interface ResNetArgs {
  /** Blocks per stage: 3 for ResNet-20, 5 for ResNet-32. */
  depth: number;
  layer: LayerKind;
  numClasses: number;
  seed?: number;
}

/**
 * The reference CIFAR ResNet (SPEC.md): 3x3 conv 3->16 + BN + ReLU, three
 * stages of BasicBlocks (16/32/64 channels, stride 2 at stages 2 and 3),
 * 8x8 average pool, 1x1 conv classifier without bias, then BatchNorm.
 * Names match the reference state dict (conv1, bn1, layerN.i.*, fc, bn2).
 */
export class ResNet extends Module {
  private readonly body: Module[];
  private readonly flatten = new Flatten();

  constructor(readonly args: ResNetArgs) {
    super();
    checkInteger(args.depth, 'depth', 1);
    checkInteger(args.numClasses, 'numClasses', 1);
    const rng = new Rng(args.seed ?? 0);
    const conv1 = this.addModule('conv1', new Conv2d({ inChannels: 3, outChannels: 16, kernelSize: 3, padding: 1, bias: false }, rng));
    conv1.needsInputGrad = false;
    const bn1 = this.addModule('bn1', new BatchNorm2d({ numFeatures: 16 }));
    const relu = new ReLU();
    let inPlanes = 16;
    const stage = (planes: number, stride: number) => {
      const blocks: Module[] = [];
      for (let i = 0; i < args.depth; ++i) {
        blocks.push(new BasicBlock({ inPlanes, planes, stride: i === 0 ? stride : 1, layer: args.layer }, rng));
        inPlanes = planes;
      }
      return new Sequential(blocks);
    };
    const layer1 = this.addModule('layer1', stage(16, 1));
    const layer2 = this.addModule('layer2', stage(32, 2));
    const layer3 = this.addModule('layer3', stage(64, 2));
    const avgpool = new AvgPool2d({ kernelSize: 8 });
    const fc = this.addModule('fc', new Conv2d({ inChannels: 64, outChannels: args.numClasses, kernelSize: 1, bias: false }, rng));
    const bn2 = this.addModule('bn2', new BatchNorm2d({ numFeatures: args.numClasses }));
    this.body = [conv1, bn1, relu, layer1, layer2, layer3, avgpool, fc, bn2];
  }

  private readonly kept: (Tensor | undefined)[] = [];

  forward(x: Tensor): Tensor {
    return forwardChain([...this.body, this.flatten], x, this.training, this.kept);
  }

  backward(gradOut: Tensor, consumable = false): Tensor {
    return backwardChain([...this.body, this.flatten], gradOut, this.kept, consumable);
  }

  train(mode = true): this {
    super.train(mode);
    for (const m of [...this.body, this.flatten]) m.train(mode);
    return this;
  }

  /** The registered layers by their state-dict names; the ReLU, pool and flatten as relu, avgpool, flatten. */
  summarize(input: readonly number[], name: string, rows: SummaryRow[]): number[] {
    const names = new Map(this.children().map(([n, m]) => [m, n]));
    const roles: Record<string, string> = { ReLU: 'relu', AvgPool2d: 'avgpool', Flatten: 'flatten' };
    let shape = [...input];
    for (const m of [...this.body, this.flatten]) {
      shape = m.summarize(shape, childPath(name, names.get(m) ?? roles[m.config().type] ?? m.config().type), rows);
    }
    return shape;
  }

  config(): ModuleConfig {
    return { type: 'ResNet', args: { ...this.args } };
  }
}
