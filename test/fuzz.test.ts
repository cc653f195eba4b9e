// A short run of the checkpoint fuzzer (scripts/fuzz-checkpoints.js; `npm run
// fuzz` runs thousands of cases): every mutated checkpoint loads or is refused
// with a coded error, in child processes, and the harness itself is shown to
// catch a crash, a hang and an uncoded error.
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureDist } from './nn-helpers';

const require = createRequire(import.meta.url);
type Result = { outcome: string; code?: string; done: number | string; replay?: string };
type Summary = { cases: number; outcomes: Record<string, number>; failures: Result[]; maxRssMb: number; codes: Record<string, number> };
const fuzz = require('../scripts/fuzz-checkpoints.js') as { parent(opts: object): Promise<Summary> };

const run = (opts: object): Promise<Summary> => fuzz.parent({ cases: 40, seed: 7, first: 0, jobs: 2, batch: 20, ...opts });

describe('checkpoint fuzzer', () => {
  beforeAll(() => ensureDist());

  it('600 mutated checkpoints: each loads or is refused with an ERR_ADDERNET_ code; none crashes or hangs', async () => {
    const s = await run({ cases: 600, batch: 150 });
    expect(s.failures).toEqual([]);
    const counted = Object.values(s.outcomes).reduce((a, b) => a + b, 0);
    expect(counted).toBe(600);
    expect(s.outcomes.rejected).toBeGreaterThan(400);
    expect(s.outcomes.forward).toBeGreaterThan(0); // harmless mutations (data bytes) still load and run
    expect(Object.keys(s.codes).every((c) => c.startsWith('ERR_ADDERNET_'))).toBe(true);
    // The files cost gigabytes before; a child loading 150 of them now stays far below.
    expect(s.maxRssMb).toBeLessThan(1024);
  }, 120_000);

  it.each([
    ['crash', 'crash'],
    ['uncoded', 'rejected'],
    ['hang', 'hang'],
  ])('the harness reports an injected %s (and goes on with the rest of the batch)', async (inject, outcome) => {
    process.env.ADDERNET_FUZZ_INJECT = inject;
    process.env.ADDERNET_FUZZ_HANG_MS = '3000';
    try {
      const s = await run({ cases: 10, jobs: 1, batch: 10 });
      expect(s.failures.map((f) => [f.done, f.outcome, f.replay])).toEqual([[0, outcome, '--seed 7 --first 0 --cases 1']]);
      expect(Object.values(s.outcomes).reduce((a, b) => a + b, 0)).toBe(10);
    } finally {
      delete process.env.ADDERNET_FUZZ_INJECT;
      delete process.env.ADDERNET_FUZZ_HANG_MS;
    }
  }, 60_000);
});
