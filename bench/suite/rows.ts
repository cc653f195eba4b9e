// The rows of the comparison: the kernel benchmark's four layers, the
// distinct layer shapes of ResNet-20 (CIFAR-10) and LeNet-5-BN (MNIST), and
// a size sweep over batch and channels. Rows with the same shape share one
// measurement. Also: op counts and the 45 nm arithmetic-energy estimate.
import { outSize, type ConvShape } from './onnx';

export type Group = 'layer' | 'resnet20' | 'lenet5bn' | 'sweep-batch' | 'sweep-channels';

export interface Row {
  id: string;
  group: Group;
  label: string;
  shape: ConvShape;
  /** The swept value (batch or channels) for sweep rows. */
  sweep?: number;
}

export const GROUP_TITLES: Record<Group, string> = {
  layer: 'kernel-benchmark layers (issue 2)',
  resnet20: 'ResNet-20 (CIFAR-10, batch 64): distinct layer shapes',
  lenet5bn: 'LeNet-5-BN (MNIST 28x28, batch 64), FC layers as 1x1',
  'sweep-batch': 'size sweep: batch N (32->32, 16x16, 3x3, pad 1)',
  'sweep-channels': 'size sweep: channels C = T (batch 16, 16x16, 3x3, pad 1)',
};

function shape(n: number, c: number, h: number, t: number, k: number, stride: number, pad: number, w = h): ConvShape {
  return { n, c, h, w, t, kh: k, kw: k, sh: stride, sw: stride, ph: pad, pw: pad };
}

const B = 64; // batch for the model layers

export const ROWS: readonly Row[] = [
  { id: 'a', group: 'layer', label: 'a: 20->50 12x12 k5', shape: shape(64, 20, 12, 50, 5, 1, 0) },
  { id: 'b', group: 'layer', label: 'b: 16->16 32x32 k3', shape: shape(64, 16, 32, 16, 3, 1, 1) },
  { id: 'c', group: 'layer', label: 'c: 64->64 8x8 k3', shape: shape(64, 64, 8, 64, 3, 1, 1) },
  { id: 'd', group: 'layer', label: 'd: 64->128 56x56 k3 (N=32)', shape: shape(32, 64, 56, 128, 3, 1, 1) },

  { id: 'r20.conv1', group: 'resnet20', label: 'conv1 3->16 32x32 k3', shape: shape(B, 3, 32, 16, 3, 1, 1) },
  { id: 'r20.s1', group: 'resnet20', label: 'stage1 16->16 32x32 k3 (= b)', shape: shape(B, 16, 32, 16, 3, 1, 1) },
  { id: 'r20.s2.in', group: 'resnet20', label: 'stage2 in 16->32 32x32 k3 s2', shape: shape(B, 16, 32, 32, 3, 2, 1) },
  { id: 'r20.s2.ds', group: 'resnet20', label: 'stage2 shortcut 16->32 k1 s2', shape: shape(B, 16, 32, 32, 1, 2, 0) },
  { id: 'r20.s2', group: 'resnet20', label: 'stage2 32->32 16x16 k3', shape: shape(B, 32, 16, 32, 3, 1, 1) },
  { id: 'r20.s3.in', group: 'resnet20', label: 'stage3 in 32->64 16x16 k3 s2', shape: shape(B, 32, 16, 64, 3, 2, 1) },
  { id: 'r20.s3.ds', group: 'resnet20', label: 'stage3 shortcut 32->64 k1 s2', shape: shape(B, 32, 16, 64, 1, 2, 0) },
  { id: 'r20.s3', group: 'resnet20', label: 'stage3 64->64 8x8 k3 (= c)', shape: shape(B, 64, 8, 64, 3, 1, 1) },
  { id: 'r20.fc', group: 'resnet20', label: 'fc 64->10 (1x1)', shape: shape(B, 64, 1, 10, 1, 1, 0) },

  { id: 'l5.conv1', group: 'lenet5bn', label: 'conv1 1->6 28x28 k5 p2', shape: shape(B, 1, 28, 6, 5, 1, 2) },
  { id: 'l5.conv2', group: 'lenet5bn', label: 'conv2 6->16 14x14 k5', shape: shape(B, 6, 14, 16, 5, 1, 0) },
  { id: 'l5.fc1', group: 'lenet5bn', label: 'fc1 400->120 (1x1)', shape: shape(B, 400, 1, 120, 1, 1, 0) },
  { id: 'l5.fc2', group: 'lenet5bn', label: 'fc2 120->84 (1x1)', shape: shape(B, 120, 1, 84, 1, 1, 0) },
  { id: 'l5.fc3', group: 'lenet5bn', label: 'fc3 84->10 (1x1)', shape: shape(B, 84, 1, 10, 1, 1, 0) },

  ...[1, 4, 16, 64, 256].map((n): Row => ({
    id: `sweep.n${n}`, group: 'sweep-batch', label: `N=${n}`, sweep: n, shape: shape(n, 32, 16, 32, 3, 1, 1),
  })),
  ...[8, 16, 32, 64, 128].map((c): Row => ({
    id: `sweep.c${c}`, group: 'sweep-channels', label: `C=T=${c}`, sweep: c, shape: shape(16, c, 16, c, 3, 1, 1),
  })),
];

/** Rows measured by --quick. */
export const QUICK_ROWS = ['a', 'c', 'r20.s2.in', 'l5.fc1', 'sweep.n4', 'sweep.n64'];

/**
 * How the layers add up to a model. kind is the layer as the AdderNet variant
 * builds it (SPEC.md: ResNet-20's first conv and its 1x1 classifier stay
 * ordinary convolutions); the CNN variant uses convolutions throughout.
 */
export const MODELS: Record<'resnet20' | 'lenet5bn', { title: string; layers: { row: string; count: number; kind: 'adder' | 'conv' }[] }> = {
  resnet20: {
    title: 'ResNet-20 (CIFAR-10)',
    layers: [
      { row: 'r20.conv1', count: 1, kind: 'conv' },
      { row: 'r20.s1', count: 6, kind: 'adder' },
      { row: 'r20.s2.in', count: 1, kind: 'adder' },
      { row: 'r20.s2.ds', count: 1, kind: 'adder' },
      { row: 'r20.s2', count: 5, kind: 'adder' },
      { row: 'r20.s3.in', count: 1, kind: 'adder' },
      { row: 'r20.s3.ds', count: 1, kind: 'adder' },
      { row: 'r20.s3', count: 5, kind: 'adder' },
      { row: 'r20.fc', count: 1, kind: 'conv' },
    ],
  },
  lenet5bn: {
    title: 'LeNet-5-BN (MNIST)',
    layers: [
      { row: 'l5.conv1', count: 1, kind: 'adder' },
      { row: 'l5.conv2', count: 1, kind: 'adder' },
      { row: 'l5.fc1', count: 1, kind: 'adder' },
      { row: 'l5.fc2', count: 1, kind: 'adder' },
      { row: 'l5.fc3', count: 1, kind: 'adder' },
    ],
  },
};

export function shapeKey(s: ConvShape): string {
  return `${s.n}x${s.c}x${s.h}x${s.w}->${s.t} k${s.kh}x${s.kw} s${s.sh}x${s.sw} p${s.ph}x${s.pw}`;
}

/** Multiply-accumulates (or abs-diff-accumulates) of one sample. */
export function macsPerSample(s: ConvShape): number {
  const [ho, wo] = outSize(s);
  return s.t * ho * wo * s.c * s.kh * s.kw;
}

/** Ops of one call: 2 per MAC / abs-diff-accumulate; a training step is forward + both gradients = 3x forward. */
export function opsOf(s: ConvShape, mode: 'fwd' | 'train'): number {
  return 2 * s.n * macsPerSample(s) * (mode === 'fwd' ? 1 : 3);
}

// Energy per operation at 45 nm (Horowitz, ISSCC 2014; SPEC.md), picojoules.
export const ENERGY_PJ = {
  fp32: { add: 0.9, mul: 3.7 },
  int8: { add: 0.03, mul: 0.2 },
} as const;

/** pJ per element: an adder element is a subtraction + an accumulation (2 adds); a conv element a multiply + an add. */
export function energyPerElementPJ(kind: 'adder' | 'conv', dtype: 'fp32' | 'int8'): number {
  const e = ENERGY_PJ[dtype];
  return kind === 'adder' ? 2 * e.add : e.mul + e.add;
}

/** Arithmetic energy of one inference (one sample) of a layer, nanojoules. */
export function energyNJ(s: ConvShape, kind: 'adder' | 'conv', dtype: 'fp32' | 'int8'): number {
  return (macsPerSample(s) * energyPerElementPJ(kind, dtype)) / 1e3;
}
