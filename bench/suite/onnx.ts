// A minimal protobuf writer and the ONNX models the suite feeds to
// onnxruntime-node: a one-node Conv for inference (filters as an initializer,
// so ORT may pre-pack them), and a training-step graph that returns the
// forward output and both gradients from the same kernels ORT uses for
// inference (ConvTranspose for dX; a Conv over transposed tensors for dW).
// Field numbers follow onnx/onnx.proto (IR version 8, opset 13).

type Field = Uint8Array;

function varint(value: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return out;
}

const tag = (field: number, wire: number) => varint((field << 3) | wire);

function concat(parts: readonly (Uint8Array | number[])[]): Uint8Array {
  const size = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const pbInt = (field: number, value: number | bigint): Field => Uint8Array.from([...tag(field, 0), ...varint(value)]);
const pbBytes = (field: number, bytes: Uint8Array): Field => concat([tag(field, 2), varint(bytes.length), bytes]);
const pbString = (field: number, s: string): Field => pbBytes(field, new TextEncoder().encode(s));
const pbMsg = (field: number, parts: readonly Field[]): Field => pbBytes(field, concat(parts));

// onnx.proto enums.
const FLOAT = 1;
const UINT8 = 2;
const INT32 = 6;
const INT64 = 7;
const ATTR_INT = 2;
const ATTR_INTS = 7;

type Attr = { name: string; ints: readonly number[] } | { name: string; int: number };

function attribute(a: Attr): Field {
  if ('ints' in a) return pbMsg(5, [pbString(1, a.name), pbInt(20, ATTR_INTS), ...a.ints.map((v) => pbInt(8, v))]);
  return pbMsg(5, [pbString(1, a.name), pbInt(20, ATTR_INT), pbInt(3, a.int)]);
}

function node(op: string, inputs: readonly string[], outputs: readonly string[], attrs: readonly Attr[] = []): Field {
  return pbMsg(1, [
    ...inputs.map((s) => pbString(1, s)),
    ...outputs.map((s) => pbString(2, s)),
    pbString(3, `${op}_${outputs[0]}`),
    pbString(4, op),
    ...attrs.map(attribute),
  ]);
}

/** ValueInfoProto for a tensor of fixed shape (float unless `type` says), as graph input (11) or output (12). */
function valueInfo(field: 11 | 12, name: string, shape: readonly number[], type: number = FLOAT): Field {
  const dims = shape.map((d) => pbMsg(1, [pbInt(1, d)]));
  const tensorType = pbMsg(1, [pbInt(1, type), pbMsg(2, dims)]);
  return pbMsg(field, [pbString(1, name), pbMsg(2, [tensorType])]);
}

function initializer(name: string, shape: readonly number[], type: typeof FLOAT | typeof UINT8 | typeof INT64, raw: Uint8Array): Field {
  return pbMsg(5, [...shape.map((d) => pbInt(1, d)), pbInt(2, type), pbString(8, name), pbBytes(9, raw)]);
}

function int64Raw(values: readonly number[]): Uint8Array {
  const b = new BigInt64Array(values.map((v) => BigInt(v)));
  return new Uint8Array(b.buffer);
}

function model(graphParts: readonly Field[]): Uint8Array {
  return concat([
    pbInt(1, 8), // ir_version
    pbString(2, 'addernet-bench'), // producer_name
    pbMsg(7, [...graphParts, pbString(2, 'g')]), // graph
    pbMsg(8, [pbString(1, ''), pbInt(2, 13)]), // opset_import: default domain, opset 13
  ]);
}

export interface ConvShape {
  n: number; c: number; h: number; w: number; t: number; kh: number; kw: number;
  sh: number; sw: number; ph: number; pw: number;
}

export function outSize(s: ConvShape): [number, number] {
  return [Math.floor((s.h + 2 * s.ph - s.kh) / s.sh) + 1, Math.floor((s.w + 2 * s.pw - s.kw) / s.sw) + 1];
}

const convAttrs = (s: ConvShape): Attr[] => [
  { name: 'kernel_shape', ints: [s.kh, s.kw] },
  { name: 'pads', ints: [s.ph, s.pw, s.ph, s.pw] },
  { name: 'strides', ints: [s.sh, s.sw] },
];

/** Y = Conv(X, W) with W stored in the model (inputs: x; outputs: y). */
export function convForwardModel(s: ConvShape, weights: Float32Array): Uint8Array {
  const [ho, wo] = outSize(s);
  const wBytes = new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength).slice();
  return model([
    node('Conv', ['x', 'w'], ['y'], convAttrs(s)),
    initializer('w', [s.t, s.c, s.kh, s.kw], FLOAT, wBytes),
    valueInfo(11, 'x', [s.n, s.c, s.h, s.w]),
    valueInfo(12, 'y', [s.n, s.t, ho, wo]),
  ]);
}

const f32Raw = (v: number) => new Uint8Array(Float32Array.of(v).buffer);

/**
 * ONNX Runtime's int8 convolutions on uint8 input x and uint8 filters stored
 * in the model (zero points as initializers): ConvInteger (int32 output, the
 * exact sum of products, as our SAD is exact) or QLinearConv (requantized
 * uint8 output, scales 1 / 1 / 2^-12 here; what an int8 network runs).
 */
export function convInt8Model(s: ConvShape, weights: Uint8Array, op: 'ConvInteger' | 'QLinearConv', xZero = 128, wZero = 128): Uint8Array {
  const [ho, wo] = outSize(s);
  const w = initializer('w', [s.t, s.c, s.kh, s.kw], UINT8, weights.slice());
  const xz = initializer('xz', [], UINT8, Uint8Array.of(xZero));
  const wz = initializer('wz', [], UINT8, Uint8Array.of(wZero));
  if (op === 'ConvInteger') {
    return model([
      node('ConvInteger', ['x', 'w', 'xz', 'wz'], ['y'], convAttrs(s)),
      w, xz, wz,
      valueInfo(11, 'x', [s.n, s.c, s.h, s.w], UINT8),
      valueInfo(12, 'y', [s.n, s.t, ho, wo], INT32),
    ]);
  }
  return model([
    node('QLinearConv', ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz'], ['y'], convAttrs(s)),
    w, xz, wz,
    initializer('xs', [], FLOAT, f32Raw(1)),
    initializer('ws', [], FLOAT, f32Raw(1)),
    initializer('ys', [], FLOAT, f32Raw(2 ** 12)),
    initializer('yz', [], UINT8, Uint8Array.of(0)),
    valueInfo(11, 'x', [s.n, s.c, s.h, s.w], UINT8),
    valueInfo(12, 'y', [s.n, s.t, ho, wo], UINT8),
  ]);
}

/**
 * One training step of a convolution layer: inputs x, w, g (= dL/dY);
 * outputs y, dx, dw.
 *   dx = ConvTranspose(g, w) with the forward's strides and pads (plus
 *        output_padding where the forward dropped rows);
 *   dw = Transpose(Conv(Transpose(x), Transpose(g), dilations = strides)),
 *        sliced to [KH, KW] where the stride does not divide the span.
 */
export function convTrainModel(s: ConvShape): Uint8Array {
  const [ho, wo] = outSize(s);
  const opH = s.h - (s.sh * (ho - 1) + s.kh - 2 * s.ph);
  const opW = s.w - (s.sw * (wo - 1) + s.kw - 2 * s.pw);
  // Kernel extent of the weight-gradient conv: (ho-1)*sh+1 rows of g, dilated.
  const dkh = s.h + 2 * s.ph - ((ho - 1) * s.sh + 1) + 1;
  const dkw = s.w + 2 * s.pw - ((wo - 1) * s.sw + 1) + 1;
  const needSlice = dkh !== s.kh || dkw !== s.kw;
  const parts: Field[] = [
    node('Conv', ['x', 'w'], ['y'], convAttrs(s)),
    node('ConvTranspose', ['g', 'w'], ['dx'], [
      { name: 'kernel_shape', ints: [s.kh, s.kw] },
      { name: 'pads', ints: [s.ph, s.pw, s.ph, s.pw] },
      { name: 'strides', ints: [s.sh, s.sw] },
      ...(opH || opW ? [{ name: 'output_padding', ints: [opH, opW] }] : []),
    ]),
    node('Transpose', ['x'], ['xt'], [{ name: 'perm', ints: [1, 0, 2, 3] }]),
    node('Transpose', ['g'], ['gt'], [{ name: 'perm', ints: [1, 0, 2, 3] }]),
    node('Conv', ['xt', 'gt'], ['dwt_full'], [
      { name: 'kernel_shape', ints: [ho, wo] },
      { name: 'pads', ints: [s.ph, s.pw, s.ph, s.pw] },
      { name: 'dilations', ints: [s.sh, s.sw] },
      { name: 'strides', ints: [1, 1] },
    ]),
  ];
  if (needSlice) {
    parts.push(
      node('Slice', ['dwt_full', 'sl_starts', 'sl_ends', 'sl_axes'], ['dwt']),
      initializer('sl_starts', [2], INT64, int64Raw([0, 0])),
      initializer('sl_ends', [2], INT64, int64Raw([s.kh, s.kw])),
      initializer('sl_axes', [2], INT64, int64Raw([2, 3])),
    );
  }
  parts.push(
    node('Transpose', [needSlice ? 'dwt' : 'dwt_full'], ['dw'], [{ name: 'perm', ints: [1, 0, 2, 3] }]),
    valueInfo(11, 'x', [s.n, s.c, s.h, s.w]),
    valueInfo(11, 'w', [s.t, s.c, s.kh, s.kw]),
    valueInfo(11, 'g', [s.n, s.t, ho, wo]),
    valueInfo(12, 'y', [s.n, s.t, ho, wo]),
    valueInfo(12, 'dx', [s.n, s.c, s.h, s.w]),
    valueInfo(12, 'dw', [s.t, s.c, s.kh, s.kw]),
  );
  return model(parts);
}
