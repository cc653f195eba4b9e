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
import { readSafetensors, writeSafetensors, type SafetensorsInput } from '../io/safetensors';
import { Model, type ModelConfig, type ModelInfo } from './model';
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

export function saveModel(model: Model, path: string): void {
  saveModelWith(model, path, {}, {});
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

export function loadModel(path: string): Model {
  if (typeof path !== 'string' || path.length === 0) throw typeError('path', 'a checkpoint file path', path);
  const file = readSafetensors(path);
  const meta = file.metadata;
  const raw = Object.hasOwn(meta, 'config') ? meta.config : undefined;
  if (!Object.hasOwn(meta, 'format') || meta.format !== FORMAT || !raw) {
    throw rangeError('ERR_ADDERNET_FORMAT', path, 'an addernet checkpoint (safetensors with format and config metadata)', 'a file without them; use model.loadStateDict() for plain state dicts');
  }
  let config: ModelConfig;
  try {
    config = parseJsonChecked(raw, CONFIG_MAX_JSON_DEPTH) as ModelConfig;
  } catch (err) {
    const e = err as JsonScanIssue;
    const received = e instanceof JsonScanIssue && e.expected !== 'valid JSON' ? `${e.expected} but found ${e.received}` : 'unparseable text';
    throw rangeError('ERR_ADDERNET_FORMAT', path, 'valid JSON in the config metadata', received);
  }
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
