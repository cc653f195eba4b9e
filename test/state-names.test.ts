// Model.loadStateDict() with hostile names and values: names that are
// Object.prototype keys, duplicates, values that are not tensors or have the
// wrong length are rejected, and a rejected load leaves the model unchanged.
import { describe, expect, it } from 'vitest';
import { models, tensor, type Model, type Tensor } from '../lib/index';
import { caught, sameBits } from './nn-helpers';

function snapshot(m: Model): { state: Map<string, Float32Array>; counters: Record<string, number> } {
  return { state: new Map(Object.entries(m.stateDict()).map(([n, t]) => [n, t.dataSync().slice()])), counters: { ...m.batchCounters() } };
}

function expectUnchanged(m: Model, before: ReturnType<typeof snapshot>): void {
  const now = m.stateDict();
  expect(Object.keys(now).sort()).toEqual([...before.state.keys()].sort());
  for (const [n, d] of before.state) expect(sameBits(now[n].dataSync(), d), n).toBe(true);
  expect(m.batchCounters()).toEqual(before.counters);
}

/** A complete, valid state of another lenet5bn (different weights), with BN counters. */
function validState(): Map<string, unknown> {
  const src = models.lenet5bn({ layer: 'adder', seed: 2 });
  const state = new Map<string, unknown>(Object.entries(src.stateDict()));
  for (const n of Object.keys(src.batchCounters())) state.set(n, { dtype: 'I64', shape: [], data: BigInt64Array.of(3n) });
  return state;
}

const PROTO_NAMES = ['constructor', 'toString', 'hasOwnProperty', '__proto__', 'valueOf', 'isPrototypeOf', '__defineGetter__'];

describe('loadStateDict: names from Object.prototype', () => {
  for (const name of PROTO_NAMES) {
    it(`rejects "${name}" (and "module.${name}") with ERR_ADDERNET_FORMAT and leaves the model unchanged`, () => {
      for (const raw of [name, `module.${name}`]) {
        const m = models.lenet5bn({ layer: 'adder', seed: 1 });
        const before = snapshot(m);
        const state = validState();
        state.set(raw, { dtype: 'I64', shape: [], data: BigInt64Array.of(1n) });
        const err = caught(() => m.loadStateDict(state as Map<string, Tensor>));
        expect(err.code).toBe('ERR_ADDERNET_FORMAT');
        expect(err.message).toContain(`unexpected tensor "${raw}"`);
        expectUnchanged(m, before);
        // The same name as a float tensor (the shape check must not be reached through a prototype method).
        state.set(raw, tensor(new Float32Array(1), [1]));
        expect(caught(() => m.loadStateDict(state as Map<string, Tensor>)).code).toBe('ERR_ADDERNET_FORMAT');
        expectUnchanged(m, before);
      }
    });
  }

  it('rejects an own "__proto__" key of a plain object (as JSON.parse or Object.fromEntries make it)', () => {
    const m = models.lenet5bn({ layer: 'adder', seed: 1 });
    const before = snapshot(m);
    const obj = Object.fromEntries(validState()) as Record<string, Tensor>;
    Object.defineProperty(obj, '__proto__', { value: tensor(new Float32Array(1), [1]), enumerable: true });
    expect(Object.keys(obj)).toContain('__proto__');
    const err = caught(() => m.loadStateDict(obj));
    expect(err.code).toBe('ERR_ADDERNET_FORMAT');
    expectUnchanged(m, before);
  });

  it('a valid state still loads (weights and counters)', () => {
    const m = models.lenet5bn({ layer: 'adder', seed: 1 });
    m.loadStateDict(validState() as Map<string, Tensor>);
    const src = models.lenet5bn({ layer: 'adder', seed: 2 }).stateDict();
    for (const [n, t] of Object.entries(m.stateDict())) expect(sameBits(t.dataSync(), src[n].dataSync()), n).toBe(true);
    expect(Object.values(m.batchCounters())).toEqual([3, 3, 3, 3, 3]);
  });
});

describe('loadStateDict: other malformed entries leave the model unchanged', () => {
  function rejects(edit: (s: Map<string, unknown>) => void, code: string): void {
    const m = models.lenet5bn({ layer: 'adder', seed: 1 });
    const before = snapshot(m);
    const state = validState();
    edit(state);
    expect(caught(() => m.loadStateDict(state as Map<string, Tensor>)).code).toBe(code);
    expectUnchanged(m, before);
  }

  it('the same tensor twice (with and without "module.")', () => {
    rejects((s) => s.set('module.fc3.adder', s.get('fc3.adder')), 'ERR_ADDERNET_FORMAT');
    rejects((s) => s.set('module.bn1.num_batches_tracked', s.get('bn1.num_batches_tracked')), 'ERR_ADDERNET_FORMAT');
  });

  it('a value that is not a tensor', () => {
    rejects((s) => s.set('bn5.bias', 42), 'ERR_ADDERNET_TYPE');
    rejects((s) => s.set('bn5.bias', null), 'ERR_ADDERNET_TYPE');
    rejects((s) => s.set('bn1.num_batches_tracked', 7), 'ERR_ADDERNET_TYPE');
  });

  it('a safetensors-like value whose data does not match its shape (the last tensor, after the others were validated)', () => {
    rejects((s) => s.set('bn5.running_var', { dtype: 'F32', shape: [10], data: new Float32Array(3) }), 'ERR_ADDERNET_SIZE');
    rejects((s) => s.set('bn5.running_var', { dtype: 'F32', shape: [10], data: new Float32Array(11) }), 'ERR_ADDERNET_SIZE');
  });
});
