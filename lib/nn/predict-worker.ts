// Worker side of Model.predict(): keeps an eval-mode copy of the model and
// answers predict requests in order.
import { parentPort } from 'node:worker_threads';
import { Tensor } from '../tensor';
import { Model, type ModelConfig } from './model';

let model: Model | undefined;
let loadedConfig: string | undefined;
let loadError: Error | undefined;

type Message =
  | { type: 'load'; config: string; state: [string, Float32Array][] }
  | { type: 'predict'; id: number; data: Float32Array; shape: number[] };

function load(config: string, state: [string, Float32Array][]): void {
  // Rebuild only when the architecture changed; otherwise just overwrite the weights.
  const m = model && config === loadedConfig ? model : Model.fromConfig(JSON.parse(config) as ModelConfig);
  const values = new Map(state); // a Map: names never meet Object.prototype keys
  for (const [n, t] of Object.entries(m.stateDict())) {
    const d = values.get(n);
    if (!d || d.length !== t.size) throw new Error(`addernet: predict worker got no weights of the right size for ${n}`);
    t.storage.write(d);
  }
  model = m.eval();
  loadedConfig = config;
}

parentPort?.on('message', (msg: Message) => {
  if (msg.type === 'load') {
    try {
      load(msg.config, msg.state);
      loadError = undefined;
    } catch (e) {
      // Answer the following predicts with the error rather than dying.
      model = undefined;
      loadedConfig = undefined;
      loadError = e as Error;
    }
    return;
  }
  try {
    if (!model) throw loadError ?? new Error('addernet: predict worker has no model');
    const x = new Tensor(msg.data, msg.shape);
    const y = model.forward(x);
    const data = y.dataSync();
    x.dispose();
    y.dispose();
    parentPort?.postMessage({ id: msg.id, data, shape: [...y.shape] }, [data.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error & { code?: string };
    parentPort?.postMessage({ id: msg.id, error: { message: String(err?.message ?? err), name: String(err?.name ?? 'Error'), code: typeof err?.code === 'string' ? err.code : undefined } });
  }
});
