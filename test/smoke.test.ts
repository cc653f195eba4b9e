import { describe, expect, it } from 'vitest';
import { backendInfo, ops, tensor, trainOps } from '../lib/index';

describe('smoke', () => {
  it('computes a 2x2 adder and conv by hand', () => {
    const x = tensor(new Float32Array([1, 2, 3, 4]), [1, 1, 2, 2]);
    const w = tensor(new Float32Array([0, 2, 5, 4]), [1, 1, 2, 2]);
    expect(Array.from(ops.adder2d(x, w).dataSync())).toEqual([-(1 + 0 + 2 + 0)]);
    expect(Array.from(ops.conv2d(x, w).dataSync())).toEqual([0 + 4 + 15 + 16]);
    expect(['scalar', 'avx2', 'avx512']).toContain(backendInfo().isa);
  });
  it('keeps trainOps as an alias of ops, one namespace for every op family', () => {
    expect(trainOps).toBe(ops);
    for (const name of ['adder2d', 'conv2d', 'batchNorm', 'relu', 'add', 'maxPool2d', 'softmaxCrossEntropy', 'sgdUpdate', 'adaptiveScale']) {
      expect(typeof (ops as Record<string, unknown>)[name]).toBe('function');
    }
  });
});
