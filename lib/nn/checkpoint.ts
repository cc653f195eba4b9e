// Checkpoints: safetensors with the reference tensor names, the architecture
// in __metadata__, written atomically (see io/safetensors.ts).
//
// Loading trusts nothing in the file: the safetensors reader bounds the header
// (size, nesting, duplicate names; io/safetensors.ts), the config text is
// scanned for depth and duplicate keys before JSON.parse, and the whole module
// tree it describes is costed (checkModuleConfig, via Model.fromConfig) before anything is built:
// each parameter and buffer must be loaded from one element of the file, so
// the tree may declare at most CONFIG_ELEMENT_SLACK_FACTOR times the file's
// elements plus CONFIG_ELEMENT_SLACK, and as many times its tensors plus
// CONFIG_TENSOR_SLACK (so thousands of tiny layers cost no more to refuse). The slack lets a file with a missing or
// mistyped tensor reach loadStateDict, whose error names the tensor; the bound
// keeps a hostile file's cost linear: a file of E elements never makes
// loadModel allocate more than 8 * (2E + 2^20) bytes (value and gradient per
// parameter) besides the file's data, whatever their dtype.
import { describe, MAX_GEOMETRY, rangeError, typeError } from '../errors';
import { JsonScanIssue, parseJsonChecked } from '../io/json-scan';
import { readSafetensors, writeSafetensors, type SafetensorsInput, type SafetensorsTensor } from '../io/safetensors';
import type { Adder2d, AdderLinear } from './layers';
import { Model, type ModelConfig, type ModelInfo } from './model';
import { assembleQuantized, MAX_BITS, MIN_BITS, QuantizedModel, type QuantizationInfo, type QuantizedAdderParams } from './quantize';
import { MAX_CONFIG_DEPTH } from './registry';

const FORMAT = 'addernet-model';

/** Deepest JSON nesting of the config metadata: two levels per module (children, then the module) plus args and info. */
export const CONFIG_MAX_JSON_DEPTH = 2 * MAX_CONFIG_DEPTH + 8;

/** See the top of the file: how far a config may exceed the elements its file holds. */
export const CONFIG_ELEMENT_SLACK_FACTOR = 2;
export const CONFIG_ELEMENT_SLACK = 2 ** 20;
export const CONFIG_TENSOR_SLACK = 64;

/** Tensor-name prefix of optimizer buffers in a training checkpoint (nn/resume.ts; no module is called this). */
export const OPTIMIZER_PREFIX = '__optimizer__.';
/** Metadata key of a training checkpoint's state (nn/resume.ts). */
export const TRAINING_KEY = 'training';

/**
 * Writes a checkpoint (safetensors, atomically): a float model's state dict
 * and architecture, or a quantized model's uint8 layers and float ones.
 */
export function saveModel(model: Model, path: string): void {
  if (model instanceof QuantizedModel) saveQuantizedModel(model, path);
  else saveModelWith(model, path, {}, {});
}

/** saveModel plus extra tensors and metadata (a training checkpoint's optimizer state). */
export function saveModelWith(model: Model, path: string, extra: Record<string, SafetensorsInput>, metadata: Record<string, string>): void {
  if (!(model instanceof Model)) throw typeError('model', 'a Model', model);
  const tensors: Record<string, SafetensorsInput> = { ...model.stateDict(), ...extra };
  // PyTorch's BatchNorm keeps an int64 batch counter; write it so the file
  // loads into the reference model with strict=True.
  for (const [name, count] of Object.entries(model.batchCounters())) {
    tensors[name] = { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(count)) };
  }
  writeSafetensors(path, tensors, { ...metadata, format: FORMAT, config: JSON.stringify(model.config()) });
}

/** The model info in a checkpoint: predict, evaluate and the CLI rely on its fields. */
function checkModelInfo(info: ModelInfo, path: string): void {
  const where = (field: string) => `config.info.${field} in ${path}`;
  if (typeof info.arch !== 'string') throw rangeError('ERR_ADDERNET_FORMAT', where('arch'), 'an architecture name', describe(info.arch));
  if (!info.options || typeof info.options !== 'object' || Array.isArray(info.options)) {
    throw rangeError('ERR_ADDERNET_FORMAT', where('options'), 'an object of model options', describe(info.options));
  }
  const shape = info.inputShape as unknown;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d >= 1 && d <= MAX_GEOMETRY)) {
    throw rangeError('ERR_ADDERNET_FORMAT', where('inputShape'), `[channels, height, width] of integers from 1 to ${MAX_GEOMETRY}`, describe(shape));
  }
  if (!Number.isInteger(info.numClasses) || info.numClasses < 1 || info.numClasses > MAX_GEOMETRY) {
    throw rangeError('ERR_ADDERNET_FORMAT', where('numClasses'), `an integer from 1 to ${MAX_GEOMETRY}`, describe(info.numClasses));
  }
  const names = info.classNames as unknown;
  if (names !== undefined && (!Array.isArray(names) || names.length !== info.numClasses || !names.every((n) => typeof n === 'string' && n.length > 0 && n.length <= 256))) {
    throw rangeError('ERR_ADDERNET_FORMAT', where('classNames'), `${info.numClasses} class names (strings of 1 to 256 characters)`, describe(names));
  }
}

/** JSON metadata of a checkpoint, depth-checked before JSON.parse. */
function parseMetadataJson(raw: string, depth: number, path: string, what: string): unknown {
  try {
    return parseJsonChecked(raw, depth);
  } catch (err) {
    const e = err as JsonScanIssue;
    const received = e instanceof JsonScanIssue && e.expected !== 'valid JSON' ? `${e.expected} but found ${e.received}` : 'unparseable text';
    throw rangeError('ERR_ADDERNET_FORMAT', path, `valid JSON in the ${what} metadata`, received);
  }
}

/**
 * Loads a checkpoint written by saveModel: a float model, or a quantized one
 * (a QuantizedModel, from a model quantize() made) when the file says so.
 */
export function loadModel(path: string): Model {
  if (typeof path !== 'string' || path.length === 0) throw typeError('path', 'a checkpoint file path', path);
  const file = readSafetensors(path);
  const meta = file.metadata;
  const raw = Object.hasOwn(meta, 'config') ? meta.config : undefined;
  const format = Object.hasOwn(meta, 'format') ? meta.format : undefined;
  if ((format !== FORMAT && format !== QUANTIZED_FORMAT) || !raw) {
    throw rangeError('ERR_ADDERNET_FORMAT', path, 'an addernet checkpoint (safetensors with format and config metadata)', 'a file without them; use model.loadStateDict() for plain state dicts');
  }
  const config = parseMetadataJson(raw, CONFIG_MAX_JSON_DEPTH, path, 'config') as ModelConfig;
  if (!config || typeof config !== 'object' || Array.isArray(config) || !config.info || typeof config.info !== 'object') {
    throw rangeError('ERR_ADDERNET_FORMAT', path, 'a config metadata object { info, net }', 'a config without them');
  }
  checkModelInfo(config.info, path);
  let elements = 0;
  for (const t of file.values()) elements += t.data.length;
  const maxElements = CONFIG_ELEMENT_SLACK_FACTOR * elements + CONFIG_ELEMENT_SLACK;
  const maxTensors = CONFIG_ELEMENT_SLACK_FACTOR * file.size + CONFIG_TENSOR_SLACK;
  try {
    // Checks the whole config against these limits before building anything.
    if (format === QUANTIZED_FORMAT) {
      const info = checkQuantizationInfo(Object.hasOwn(meta, QUANTIZATION_KEY) ? meta[QUANTIZATION_KEY] : undefined, file.size, path);
      const skeleton = Model.fromConfig(config, { maxElements, maxTensors, source: path });
      const used = new Set<string>();
      const q = assembleQuantized(skeleton, info, (name, layer) => readQuantizedLayer(file, name, layer, info.bits, path, used), config, path);
      return q.loadStateDict(new Map([...file].filter(([name]) => !used.has(name))), path);
    }
    // A training checkpoint's optimizer buffers are not the model's.
    const tensors = Object.hasOwn(meta, TRAINING_KEY) ? new Map([...file].filter(([name]) => !name.startsWith(OPTIMIZER_PREFIX))) : file;
    return Model.fromConfig(config, { maxElements, maxTensors, source: path }).loadStateDict(tensors, path);
  } catch (err) {
    // Whatever is wrong with the architecture or tensors, say which file.
    const e = err as Error & { code?: string };
    if (e.message.includes(path)) throw err;
    throw rangeError('ERR_ADDERNET_FORMAT', path, 'a loadable addernet checkpoint', e.message);
  }
}

// ---- quantized checkpoints ---------------------------------------------------
// The float architecture in `config` (rebuilt, then its adder layers swapped),
// what quantize() did in `quantization` (QuantizationInfo as JSON), the float
// layers' tensors by their usual names, and per quantized layer L:
//   L.qweight     U8  [T, C, KH, KW] or [T, C]  filters on the grid (clipped), each <= 2^bits - 1
//   L.scale       F32 []   s > 0 (x = s * (qx - z), shared by input and filters)
//   L.zero_point  U8  []   z <= 2^bits - 1 (the quantized 0.0; padded taps read it)
//   L.clip        F32 [T]  per filter, the clipped-off amount sum |w - clip(w)| (>= 0)
//   L.bn_scale    F32 [T]  the folded BatchNorm's scale (1 without one)
//   L.bn_shift    F32 [T]  and its shift, the layer's bias folded in
// so that L's output is bn_scale * (-(s * SAD + clip)) + bn_shift.

const QUANTIZED_FORMAT = 'addernet-quantized-model';
const QUANTIZATION_KEY = 'quantization';
/** JSON depth of the quantization metadata: { layers: [ { name } ] } and a little room. */
const QUANTIZATION_MAX_JSON_DEPTH = 8;
const QUANTIZED_SUFFIXES = ['qweight', 'scale', 'zero_point', 'clip', 'bn_scale', 'bn_shift'] as const;

function saveQuantizedModel(model: QuantizedModel, path: string): void {
  const tensors: Record<string, SafetensorsInput> = { ...model.stateDict() };
  for (const [name, count] of Object.entries(model.batchCounters())) {
    tensors[name] = { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(count)) };
  }
  for (const [name, layer] of model.quantizedLayers()) {
    const p = layer.quantized;
    const t = p.clip.length;
    tensors[`${name}.qweight`] = { dtype: 'U8', shape: layer.weightShape(), data: p.qweight };
    tensors[`${name}.scale`] = { dtype: 'F32', shape: [], data: Float32Array.of(p.scale) };
    tensors[`${name}.zero_point`] = { dtype: 'U8', shape: [], data: Uint8Array.of(p.zeroPoint) };
    tensors[`${name}.clip`] = { dtype: 'F32', shape: [t], data: p.clip };
    tensors[`${name}.bn_scale`] = { dtype: 'F32', shape: [t], data: p.bnScale };
    tensors[`${name}.bn_shift`] = { dtype: 'F32', shape: [t], data: p.bnShift };
  }
  writeSafetensors(path, tensors, {
    format: QUANTIZED_FORMAT, config: JSON.stringify(model.floatConfig), [QUANTIZATION_KEY]: JSON.stringify(model.quantization),
  });
}

function checkQuantizationInfo(raw: string | undefined, tensors: number, path: string): QuantizationInfo {
  const where = (field: string) => `${QUANTIZATION_KEY}${field ? `.${field}` : ''} in ${path}`;
  if (raw === undefined) throw rangeError('ERR_ADDERNET_FORMAT', where(''), 'the quantization metadata of a quantized checkpoint', 'none');
  const q = parseMetadataJson(raw, QUANTIZATION_MAX_JSON_DEPTH, path, QUANTIZATION_KEY) as Record<string, unknown>;
  if (!q || typeof q !== 'object' || Array.isArray(q)) throw rangeError('ERR_ADDERNET_FORMAT', where(''), 'an object { bits, method, examples, layers }', describe(q));
  const { bits, method, percentile, examples, layers } = q;
  if (!Number.isInteger(bits) || (bits as number) < MIN_BITS || (bits as number) > MAX_BITS) {
    throw rangeError('ERR_ADDERNET_FORMAT', where('bits'), `an integer from ${MIN_BITS} to ${MAX_BITS}`, describe(bits));
  }
  if (method !== 'minmax' && method !== 'percentile') throw rangeError('ERR_ADDERNET_FORMAT', where('method'), "'minmax' or 'percentile'", describe(method));
  if (percentile !== undefined && !(typeof percentile === 'number' && percentile > 50 && percentile <= 100)) {
    throw rangeError('ERR_ADDERNET_FORMAT', where('percentile'), 'a number in (50, 100]', describe(percentile));
  }
  if (!Number.isSafeInteger(examples) || (examples as number) < 1) throw rangeError('ERR_ADDERNET_FORMAT', where('examples'), 'an integer >= 1', describe(examples));
  // Each quantized layer has its tensors in the file: no more layers than tensors.
  if (!Array.isArray(layers) || layers.length > tensors) {
    throw rangeError('ERR_ADDERNET_FORMAT', where('layers'), `an array of at most ${tensors} layers (the file's tensors)`, describe(layers));
  }
  const name = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 1024;
  layers.forEach((l: { name?: unknown; foldedBatchNorm?: unknown }, i) => {
    if (!l || typeof l !== 'object' || !name(l.name) || (l.foldedBatchNorm !== undefined && !name(l.foldedBatchNorm))) {
      throw rangeError('ERR_ADDERNET_FORMAT', where(`layers[${i}]`), '{ name, foldedBatchNorm? } with module paths', describe(l));
    }
  });
  return {
    bits: bits as number, method, ...(percentile === undefined ? {} : { percentile: percentile as number }), examples: examples as number,
    layers: (layers as { name: string; foldedBatchNorm?: string }[]).map((l) => ({ name: l.name, ...(l.foldedBatchNorm === undefined ? {} : { foldedBatchNorm: l.foldedBatchNorm }) })),
  };
}

/** One quantized layer's tensors from the file, checked (dtype, shape, values in range); their names go into `used`. */
function readQuantizedLayer(file: Map<string, SafetensorsTensor>, name: string, layer: Adder2d | AdderLinear, bits: number, path: string, used: Set<string>): QuantizedAdderParams {
  const qmax = 2 ** bits - 1;
  const shape = [...layer.weight.value.shape];
  const t = shape[0];
  const get = (suffix: (typeof QUANTIZED_SUFFIXES)[number], dtype: 'U8' | 'F32', want: number[]) => {
    const key = `${name}.${suffix}`;
    const v = file.get(key);
    const label = `"${key}" in ${path}`;
    if (!v) throw rangeError('ERR_ADDERNET_FORMAT', label, `a tensor of dtype ${dtype} and shape ${describe(want)} (quantized layer ${JSON.stringify(name)})`, 'none');
    if (v.dtype !== dtype || v.shape.length !== want.length || v.shape.some((d, i) => d !== want[i])) {
      throw rangeError('ERR_ADDERNET_FORMAT', label, `a tensor of dtype ${dtype} and shape ${describe(want)}`, `dtype ${v.dtype}, shape ${describe(v.shape)}`);
    }
    used.add(key);
    return { data: v.data, label };
  };
  const check = (x: { data: ArrayLike<number>; label: string }, ok: (v: number) => boolean, what: string) => {
    for (let i = 0; i < x.data.length; i++) {
      if (!ok(x.data[i])) throw rangeError('ERR_ADDERNET_FORMAT', x.label, what, `${describe(x.data[i])} at index ${i}`);
    }
  };
  const levels = (v: number) => v <= qmax;
  const qweight = get('qweight', 'U8', shape);
  check(qweight, levels, `values from 0 to ${qmax} (${bits} bits)`);
  const scale = get('scale', 'F32', []);
  check(scale, (v) => Number.isFinite(v) && v > 0, 'a finite scale > 0');
  const zero = get('zero_point', 'U8', []);
  check(zero, levels, `a zero point from 0 to ${qmax} (${bits} bits)`);
  const clip = get('clip', 'F32', [t]);
  check(clip, (v) => Number.isFinite(v) && v >= 0, 'finite values >= 0');
  const bnScale = get('bn_scale', 'F32', [t]);
  check(bnScale, Number.isFinite, 'finite values');
  const bnShift = get('bn_shift', 'F32', [t]);
  check(bnShift, Number.isFinite, 'finite values');
  return {
    bits, scale: scale.data[0], zeroPoint: zero.data[0], qweight: Uint8Array.from(qweight.data as Uint8Array),
    clip: Float32Array.from(clip.data as Float32Array), bnScale: Float32Array.from(bnScale.data as Float32Array), bnShift: Float32Array.from(bnShift.data as Float32Array),
  };
}
