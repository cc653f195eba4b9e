// Worker side of Model.predict(): keeps an eval-mode copy of the model and
// answers predict requests in order.
import { parentPort } from 'node:worker_threads';
import { Tensor } from '../tensor';
import { Model, type ModelConfig } from './model';

let model: Model | undefined;

type Message =
  | { type: 'load'; config: ModelConfig; state: Record<string, Float32Array> }
  | { type: 'predict'; id: number; data: Float32Array; shape: number[] };

parentPort?.on('message', (msg: Message) => {
  if (msg.type === 'load') {
    const state = Object.fromEntries(Object.entries(msg.state).map(([n, d]) => [n, d])) as Record<string, Float32Array>;
    model = Model.fromConfig(msg.config);
    const own = model.stateDict();
    for (const [n, t] of Object.entries(own)) t.data.set(state[n]);
    model.eval();
    return;
  }
  try {
    if (!model) throw new Error('addernet: predict worker has no model');
    const y = model.forward(new Tensor(msg.data, msg.shape));
    parentPort?.postMessage({ id: msg.id, data: y.data, shape: [...y.shape] }, [y.data.buffer as ArrayBuffer]);
  } catch (e) {
    const err = e as Error & { code?: string };
    parentPort?.postMessage({ id: msg.id, error: { message: err.message, name: err.name, code: err.code } });
  }
});
