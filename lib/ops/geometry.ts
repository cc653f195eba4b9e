// The checked geometry of a 2-D layer call, shared by the float layers
// (conv.ts) and the quantized one (quant.ts). Not re-exported by ops/index.ts.
import { checkOutputSize, describe, rangeError } from '../errors';
import { type ConvDims } from '../native';

export interface Geometry {
  dims: ConvDims;
  outShape: [number, number, number, number];
}

/** Output shape and native dims (names: the two arguments, for messages) of x [N, C, H, W] against filters [T, C, KH, KW]; ERR_ADDERNET_SHAPE when they do not fit. */
export function geometry(x: { shape: readonly number[] }, w: { shape: readonly number[] }, stride: [number, number], padding: [number, number], names: readonly [string, string] = ['x', 'weight']): Geometry {
  const [xName, wName] = names;
  const [n, c, h, wd] = x.shape;
  const [t, cw, kh, kw] = w.shape;
  if ([n, c, h, wd].some((d) => d < 1)) {
    throw rangeError('ERR_ADDERNET_SHAPE', xName, 'every dimension >= 1', `shape ${describe(x.shape)}`);
  }
  if ([t, cw, kh, kw].some((d) => d < 1)) {
    throw rangeError('ERR_ADDERNET_SHAPE', wName, 'every dimension >= 1', `shape ${describe(w.shape)}`);
  }
  if (cw !== c) {
    throw rangeError('ERR_ADDERNET_SHAPE', wName, `${c} input channels (shape [T, ${c}, KH, KW]) to match ${xName}`, `shape ${describe(w.shape)}`);
  }
  const ho = Math.floor((h + 2 * padding[0] - kh) / stride[0]) + 1;
  const wo = Math.floor((wd + 2 * padding[1] - kw) / stride[1]) + 1;
  if (!(ho >= 1 && wo >= 1)) {
    throw rangeError(
      'ERR_ADDERNET_SHAPE', xName,
      'an input at least as large as the kernel after padding (output size >= 1)',
      `input ${describe(x.shape)}, kernel ${kh}x${kw}, padding ${describe(padding)}, stride ${describe(stride)} (output ${ho}x${wo})`,
    );
  }
  checkOutputSize([n, t, ho, wo], 'the output');
  return { dims: [n, c, h, wd, t, kh, kw, stride[0], stride[1], padding[0], padding[1]], outShape: [n, t, ho, wo] };
}
