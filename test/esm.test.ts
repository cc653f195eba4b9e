// ES module users: `import { tensor, models, ... } from 'addernet'` resolves
// through the "import" condition to esm/index.mjs, with every name the
// CommonJS entry has, the same module instance, and typed declarations.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDist, linkedConsumer, ROOT } from './nn-helpers';

let consumer = '';

beforeAll(() => {
  ensureDist();
  consumer = linkedConsumer('addernet-esm-');
}, 120_000);

afterAll(() => {
  if (consumer) fs.rmSync(consumer, { recursive: true, force: true });
});

function node(args: string[]) {
  const r = spawnSync(process.execPath, args, { cwd: consumer, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, out: `${r.stdout}\n${r.stderr}` };
}

describe('ES module entry', () => {
  it('named imports run a forward pass with node --input-type=module', () => {
    const code = `
      import { tensor, models, data, fit } from 'addernet';
      const model = models.lenet5bn({ layer: 'adder', seed: 0 });
      const y = model.forward(tensor(new Float32Array(2 * 784).fill(0.5), [2, 1, 28, 28]));
      console.log(JSON.stringify({ shape: y.shape, finite: Array.from(y.dataSync()).every(Number.isFinite),
        fit: typeof fit, data: typeof data.loadMnistBundled }));`;
    const r = node(['--input-type=module', '-e', code]);
    expect(r.status, r.out).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({ shape: [2, 10], finite: true, fit: 'function', data: 'function' });
  });

  it('exports every CommonJS name, as the same objects, from the one module instance', () => {
    const code = `
      import * as esm from 'addernet';
      import { createRequire } from 'node:module';
      const cjs = createRequire(import.meta.url)('addernet');
      const names = Object.keys(cjs);
      console.log(JSON.stringify({
        missing: names.filter((k) => !(k in esm)),
        extra: Object.keys(esm).filter((k) => k !== 'default' && !(k in cjs)),
        different: names.filter((k) => esm[k] !== cjs[k]),
        sameDefault: esm.default === cjs,
        count: names.length,
      }));`;
    const r = node(['--input-type=module', '-e', code]);
    expect(r.status, r.out).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out).toEqual({ missing: [], extra: [], different: [], sameDefault: true, count: out.count });
    expect(out.count).toBeGreaterThan(20);
  });

  it('resolves import to esm/index.mjs and require to dist/lib/index.js', () => {
    const code = `
      import { createRequire } from 'node:module';
      console.log(JSON.stringify([import.meta.resolve('addernet'), createRequire(import.meta.url).resolve('addernet')]));`;
    const r = node(['--input-type=module', '-e', code]);
    expect(r.status, r.out).toBe(0);
    const [esm, cjs] = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(esm).toMatch(/\/esm\/index\.mjs$/);
    expect(cjs).toMatch(/\/dist\/lib\/index\.js$/);
  });

  it('type-checks named and default imports under nodenext (types are real, not any)', () => {
    fs.writeFileSync(path.join(consumer, 'typed.mts'), `
      import addernet, { tensor, models, type Tensor } from 'addernet';
      const t: Tensor = tensor(new Float32Array(4), [1, 1, 2, 2]);
      const m = models.lenet5bn({ layer: 'conv' });
      const same: typeof addernet.tensor = tensor;
      // @ts-expect-error: not a model factory (fails as "unused" if the types were any)
      models.noSuchModel();
      export { t, m, same };
    `);
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = node([tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022',
      '--lib', 'es2022,esnext.disposable', '--types', 'node', '--typeRoots', path.join(ROOT, 'node_modules', '@types'),
      '--traceResolution', 'typed.mts']);
    expect(r.status, r.out.slice(-4000)).toBe(0);
    expect(r.stdout).toMatch(/Module name 'addernet' was successfully resolved to '[^']*\/esm\/index\.d\.mts'/);
  }, 60_000);
});
