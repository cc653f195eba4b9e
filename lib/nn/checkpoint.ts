// Checkpoints: safetensors with the reference tensor names, the architecture
// in __metadata__, written atomically (see io/safetensors.ts).
import { rangeError, typeError } from '../errors';
import { readSafetensors, writeSafetensors, type SafetensorsInput } from '../io/safetensors';
import { Model, type ModelConfig } from './model';

const FORMAT = 'addernet-model';

export function saveModel(model: Model, path: string): void {
  if (!(model instanceof Model)) throw typeError('model', 'a Model', model);
  const tensors: Record<string, SafetensorsInput> = { ...model.stateDict() };
  // PyTorch's BatchNorm keeps an int64 batch counter; write it so the file
  // loads into the reference model with strict=True.
  for (const [name, count] of Object.entries(model.batchCounters())) {
    tensors[name] = { dtype: 'I64', shape: [], data: BigInt64Array.of(BigInt(count)) };
  }
  writeSafetensors(path, tensors, { format: FORMAT, config: JSON.stringify(model.config()) });
}

export function loadModel(path: string): Model {
  if (typeof path !== 'string' || path.length === 0) throw typeError('path', 'a checkpoint file path', path);
  const file = readSafetensors(path);
  const raw = file.metadata.config;
  if (file.metadata.format !== FORMAT || !raw) {
    throw rangeError('ERR_ADDERNET_FORMAT', path, 'an addernet checkpoint (safetensors with format and config metadata)', 'a file without them; use model.loadStateDict() for plain state dicts');
  }
  let config: ModelConfig;
  try {
    config = JSON.parse(raw) as ModelConfig;
  } catch {
    throw rangeError('ERR_ADDERNET_FORMAT', path, 'valid JSON in the config metadata', 'unparseable text');
  }
  let elements = 0;
  for (const t of file.values()) elements += t.data.length;
  try {
    return Model.fromConfig(config, elements).loadStateDict(file, path);
  } catch (err) {
    // Whatever is wrong with the architecture or tensors, say which file.
    const e = err as Error & { code?: string };
    if (e.message.includes(path)) throw err;
    throw rangeError('ERR_ADDERNET_FORMAT', path, 'a loadable addernet checkpoint', e.message);
  }
}
