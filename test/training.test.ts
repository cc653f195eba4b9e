// Training: the AdderNet optimizer (SGD with the adaptive learning rate of
// SPEC.md), schedules, a ResNet-20 AdderNet overfitting a fixed batch, and
// fit()/evaluate(): reproducibility, History, callbacks, AbortSignal, one fit
// per model, an event loop that keeps running, argument errors. The
// optimizer, overfitting and fit/evaluate suites run on each test device
// (./devices.ts): parameters and inputs on the device, models .to(device),
// fit/evaluate with { device }.
import { describe, expect, it } from 'vitest';
import {
  Adam, AdamW, evaluate, fit, memoryInfo, models, nn, ops, scheduledLr, SGD, type AdamOptions, type Dataset, type Model, type Optimizer,
  type Tensor,
} from '../lib/index';
import { describeEachDevice, onDevice } from './devices';
import { makeRng, rejected, sameBits, sizeOf, watchEventLoop } from './nn-helpers';
import { adamRefState, adamStepRef, adaptiveScaleRef, sgdStepRef } from './reference';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function randomDataset(n: number, seed: number, shape: [number, number, number] = [1, 28, 28], numClasses = 10): Dataset {
  const rng = makeRng(seed);
  return {
    images: rng.normalArray(n * sizeOf(shape)),
    labels: Int32Array.from({ length: n }, () => rng.int(numClasses)),
    shape,
    numClasses,
  };
}

function weightsOf(m: Model): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(m.stateDict()).map(([n, t]) => [n, t.dataSync().slice()]));
}

function sameWeights(a: Record<string, Float32Array>, b: Record<string, Float32Array>): boolean {
  return Object.keys(a).length === Object.keys(b).length && Object.keys(a).every((n) => b[n] && sameBits(a[n], b[n]));
}

// ---- Optimizer ------------------------------------------------------------------

describeEachDevice('SGD with the adaptive learning rate (SPEC.md)', (device) => {
  const { tensor } = onDevice(device);

  function setup(eta: number) {
    const rng = makeRng(1);
    const adder = new nn.Parameter(tensor(rng.normalArray(24), [2, 3, 2, 2]), 'adder');
    const plain = new nn.Parameter(tensor(rng.normalArray(5), [5]));
    return { rng, adder, plain, eta };
  }

  /** torch.optim.SGD on float64 (sgdStepRef), with the adder gradient replaced by eta*sqrt(k)/||g|| * g (adaptiveScaleRef). */
  function reference(p0: Float32Array, grads: Float32Array[], o: { lr: number; momentum: number; wd: number; nesterov: boolean; eta?: number }) {
    const p = Float64Array.from(p0);
    const buf = new Float64Array(p.length);
    grads.forEach((g, step) => {
      let s: ArrayLike<number> = g;
      if (o.eta !== undefined) {
        const { scaled, norm } = adaptiveScaleRef(g, o.eta);
        s = scaled;
        // After scaling, the RMS per element is exactly eta.
        if (norm > 0) expect(Math.sqrt(scaled.reduce((a, v) => a + v * v, 0) / scaled.length)).toBeCloseTo(o.eta, 10);
      }
      sgdStepRef(p, buf, s, { lr: o.lr, momentum: o.momentum, weightDecay: o.wd, nesterov: o.nesterov, firstStep: step === 0 });
    });
    return p;
  }

  for (const nesterov of [false, true]) {
    it(`scales only adder filters, before momentum and weight decay${nesterov ? ' (Nesterov)' : ''}`, () => {
      const { rng, adder, plain } = setup(0.2);
      const a0 = adder.value.dataSync().slice();
      const b0 = plain.value.dataSync().slice();
      const opt = new SGD([adder, plain], { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov, eta: 0.3 });
      const ga: Float32Array[] = [];
      const gp: Float32Array[] = [];
      for (let s = 0; s < 3; s++) {
        ga.push(rng.normalArray(24, 5));
        gp.push(rng.normalArray(5, 5));
        adder.grad.storage.write(ga[s]);
        plain.grad.storage.write(gp[s]);
        opt.step();
      }
      expect([adder.value.device, adder.grad.device, plain.value.device]).toEqual([device, device, device]);
      const wantA = reference(a0, ga, { lr: 0.1, momentum: 0.9, wd: 0.01, nesterov, eta: 0.3 });
      const wantP = reference(b0, gp, { lr: 0.1, momentum: 0.9, wd: 0.01, nesterov });
      for (let i = 0; i < 24; i++) expect(adder.value.dataSync()[i]).toBeCloseTo(wantA[i], 5);
      for (let i = 0; i < 5; i++) expect(plain.value.dataSync()[i]).toBeCloseTo(wantP[i], 5);
    });
  }

  it('the default eta is 0.2; the step of an adder layer does not depend on its gradient scale', () => {
    const run = (scale: number) => {
      const { rng, adder } = setup(0.2);
      const opt = new SGD([adder], { lr: 1 });
      expect(opt.eta).toBe(0.2);
      const before = adder.value.dataSync().slice();
      adder.grad.storage.write(rng.normalArray(24, scale));
      opt.step();
      return adder.value.dataSync().map((v, i) => v - before[i]);
    };
    const small = run(1e-3);
    const large = run(1e3);
    for (let i = 0; i < small.length; i++) expect(small[i]).toBeCloseTo(large[i], 5);
    // RMS of the step = lr * eta.
    expect(Math.sqrt(small.reduce((a, v) => a + v * v, 0) / small.length)).toBeCloseTo(0.2, 5);
  });

  it('a zero adder gradient leaves the filters unchanged (no NaN from the norm)', () => {
    const { adder } = setup(0.2);
    const before = adder.value.dataSync().slice();
    new SGD([adder], { lr: 0.1 }).step();
    expect(sameBits(adder.value.dataSync(), before)).toBe(true);
  });

  it('rejects invalid options', () => {
    const { adder } = setup(0.2);
    expect(() => new SGD([adder], { lr: 0 })).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_OPTION' }));
    expect(() => new SGD([adder], { lr: 0.1, eta: -1 })).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_OPTION' }));
    expect(() => new SGD([adder], { lr: 0.1, nesterov: true })).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_OPTION' }));
  });
});

describeEachDevice('Adam and AdamW with the adaptive learning rate (SPEC.md)', (device) => {
  const { tensor, zeros, device: d } = onDevice(device);

  function setup() {
    const rng = makeRng(3);
    const adder = new nn.Parameter(tensor(rng.normalArray(24), [2, 3, 2, 2]), 'adder');
    const plain = new nn.Parameter(tensor(rng.normalArray(5), [5]));
    return { rng, adder, plain };
  }

  /** Writes the gradients of one step and steps: the adder's at scale 1, the plain one's at 10^step (the scale matters to Adam only when it changes between steps). */
  function trajectory(make: (params: nn.Parameter[]) => Optimizer, steps = 4) {
    const { rng, adder, plain } = setup();
    const a0 = adder.value.dataSync().slice();
    const b0 = plain.value.dataSync().slice();
    const opt = make([adder, plain]);
    const ga: Float32Array[] = [];
    const gp: Float32Array[] = [];
    for (let s = 0; s < steps; s++) {
      ga.push(rng.normalArray(24, 10 ** -s));
      gp.push(rng.normalArray(5, 10 ** s));
      adder.grad.storage.write(ga[s]);
      plain.grad.storage.write(gp[s]);
      opt.step();
    }
    expect([adder.value.device, plain.value.device]).toEqual([device, device]);
    return { adder: adder.value.dataSync(), plain: plain.value.dataSync(), a0, b0, ga, gp, opt };
  }

  /** torch.optim.Adam / AdamW in float64 (adamStepRef), the adder gradient replaced by eta*sqrt(k)/||g|| * g. */
  function reference(p0: Float32Array, grads: Float32Array[], o: Required<Omit<AdamOptions, 'decoupledWeightDecay'>> & { decoupled: boolean }, adder: boolean) {
    const p = Float64Array.from(p0);
    const state = adamRefState(p.length);
    grads.forEach((g, s) => {
      adamStepRef(p, state, adder ? adaptiveScaleRef(g, o.eta).scaled : g, { ...o, step: s + 1 });
    });
    return p;
  }

  const cases: { name: string; make: (ps: nn.Parameter[]) => Adam; want: Required<Omit<AdamOptions, 'decoupledWeightDecay'>> & { decoupled: boolean } }[] = [
    {
      name: 'Adam, L2 weight decay',
      make: (ps) => new Adam(ps, { lr: 0.01, weightDecay: 0.01, eta: 0.3 }),
      want: { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, amsgrad: false, eta: 0.3, decoupled: false },
    },
    {
      name: 'Adam, AMSGrad',
      make: (ps) => new Adam(ps, { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, amsgrad: true }),
      want: { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0, amsgrad: true, eta: 0.2, decoupled: false },
    },
    {
      name: 'AdamW (weight decay 1e-2 by default)',
      make: (ps) => new AdamW(ps, { lr: 0.01 }),
      want: { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, amsgrad: false, eta: 0.2, decoupled: true },
    },
    {
      name: 'AdamW, AMSGrad',
      make: (ps) => new AdamW(ps, { lr: 0.02, weightDecay: 0.1, amsgrad: true }),
      want: { lr: 0.02, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1, amsgrad: true, eta: 0.2, decoupled: true },
    },
  ];
  for (const c of cases) {
    it(`${c.name}: follows the float64 reference with bias correction, scaling only the adder filters`, () => {
      const got = trajectory(c.make);
      const wantA = reference(got.a0, got.ga, c.want, true);
      const wantP = reference(got.b0, got.gp, c.want, false);
      for (let i = 0; i < 24; i++) expect(got.adder[i]).toBeCloseTo(wantA[i], 5);
      for (let i = 0; i < 5; i++) expect(got.plain[i]).toBeCloseTo(wantP[i], 5);
      // Scaling the plain gradient too, or the adder one not at all, would land elsewhere.
      const wrongA = reference(got.a0, got.ga, c.want, false);
      const wrongP = reference(got.b0, got.gp, c.want, true);
      expect(Math.max(...wantA.map((v, i) => Math.abs(v - wrongA[i])))).toBeGreaterThan(1e-3);
      expect(Math.max(...wantP.map((v, i) => Math.abs(v - wrongP[i])))).toBeGreaterThan(1e-3);
      got.opt.dispose();
    });
  }

  // torch.optim.Adam / AdamW (PyTorch 1.13, foreach=False, CPU float32, AVX2 kernels) after
  // 3 steps, with the adder gradient scaled as adn::adaptive_scale does (float
  // eta, a sequential double sum) before it is handed to torch. Generated once by:
  //   f32 = np.float32
  //   def spec_scale(g, eta=0.2):
  //       sq = 0.0
  //       for v in g.tolist(): sq += v * v
  //       alpha = float(f32(eta)) * math.sqrt(len(g)) / max(math.sqrt(sq), 1e-12)
  //       return torch.tensor(np.array([f32(v * alpha) for v in g.tolist()], dtype=f32))
  //   a0 = torch.tensor([((i * 37) % 23 - 11) / 7 for i in range(24)])
  //   b0 = torch.tensor([((i * 3) % 5 - 2) / 3 for i in range(5)])
  //   ga = lambda s: torch.tensor([((i * 13 + s * 7) % 17 - 8) * 0.3 * (s + 1) for i in range(24)])
  //   gb = lambda s: torch.tensor([((i * 5 + s * 3) % 7 - 3) / 3 / (s + 1) for i in range(5)])
  //   a, b = torch.nn.Parameter(a0.clone()), torch.nn.Parameter(b0.clone())
  //   opt = Opt([a, b], foreach=False, **kw)   # each case below
  //   for s in range(3):
  //       a.grad, b.grad = spec_scale(ga(s)), gb(s)
  //       opt.step()
  const torchCases: { make: (ps: nn.Parameter[]) => Adam; kw: string; adder: number[]; plain: number[] }[] = [
    {
      make: (ps) => new Adam(ps, { lr: 0.01, weightDecay: 0.01 }),
      kw: 'Adam(lr=0.01, weight_decay=0.01)',
      adder: [-1.5522572994232178, 0.41724374890327454, -0.8794034719467163, 1.1536586284637451, -0.12709836661815643, -1.442169427871704, 0.5717192888259888, -0.7059447169303894, 1.2973294258117676, -0.018468361347913742, -1.2871360778808594, 0.7170069813728333, -0.5507197380065918, 1.406622290611267, 0.13618259131908417, -1.1420484781265259, 0.8727784156799316, -0.41005146503448486, 1.5589004755020142, 0.26280030608177185, -0.986759603023529, 1.0149571895599365, -0.3004360795021057, -1.5697078704833984],
      plain: [-0.6469305753707886, 0.31756773591041565, -0.3348664939403534, 0.687213122844696, -0.020818406715989113],
    },
    {
      make: (ps) => new Adam(ps, { lr: 0.05, betas: [0.8, 0.99], eps: 1e-6, amsgrad: true }),
      kw: 'Adam(lr=0.05, betas=(0.8, 0.99), eps=1e-6, amsgrad=True)',
      adder: [-1.4864656925201416, 0.3779958188533783, -0.9710243344306946, 1.2022393941879272, -0.0714222863316536, -1.4999260902404785, 0.5781968235969543, -0.6773058176040649, 1.3420816659927368, -0.08899956941604614, -1.2949031591415405, 0.7308061718940735, -0.4713902771472931, 1.3257495164871216, 0.11400094628334045, -1.1934856176376343, 0.9385135173797607, -0.34360864758491516, 1.5208529233932495, 0.17183279991149902, -0.9406178593635559, 1.0714348554611206, -0.3570689260959625, -1.5646603107452393],
      plain: [-0.5749508738517761, 0.2599586844444275, -0.3925327658653259, 0.7668797373771667, -0.09963721036911011],
    },
    {
      make: (ps) => new AdamW(ps, { lr: 0.01 }),
      kw: 'AdamW(lr=0.01)',
      adder: [-1.5526859760284424, 0.41756725311279297, -0.879643440246582, 1.1546237468719482, -0.12715020775794983, -1.4431426525115967, 0.5719516277313232, -0.7065151333808899, 1.2979923486709595, -0.018472526222467422, -1.2878673076629639, 0.7174620628356934, -0.5509942770004272, 1.4069722890853882, 0.1362866312265396, -1.152600646018982, 0.8734275102615356, -0.4101717174053192, 1.5600816011428833, 0.26287078857421875, -0.9875906109809875, 1.015364170074463, -0.3006283640861511, -1.5702625513076782],
      plain: [-0.6468774080276489, 0.3175932765007019, -0.3449026048183441, 0.687213659286499, -0.020818103104829788],
    },
    {
      make: (ps) => new AdamW(ps, { lr: 0.02, weightDecay: 0.1, amsgrad: true }),
      kw: 'AdamW(lr=0.02, weight_decay=0.1, amsgrad=True)',
      adder: [-1.5255811214447021, 0.4043278396129608, -0.897418737411499, 1.1601639986038208, -0.11078164726495743, -1.4499354362487793, 0.5694504976272583, -0.6949551105499268, 1.3032467365264893, -0.03685689717531204, -1.283036231994629, 0.7167378067970276, -0.5275702476501465, 1.3777698278427124, 0.12901291251182556, -1.1561580896377563, 0.8850145936012268, -0.3895675241947174, 1.5403414964675903, 0.23859502375125885, -0.9698617458343506, 1.0252320766448975, -0.31392166018486023, -1.560575246810913],
      plain: [-0.6236042380332947, 0.3001432716846466, -0.3546476364135742, 0.7040748000144958, -0.04153982549905777],
    },
  ];
  for (const c of torchCases) {
    it(`matches torch.optim.${c.kw} bitwise over 3 steps`, () => {
      const adder = new nn.Parameter(tensor(Float32Array.from({ length: 24 }, (_, i) => (((i * 37) % 23) - 11) / 7), [2, 3, 2, 2]), 'adder');
      const plain = new nn.Parameter(tensor(Float32Array.from({ length: 5 }, (_, i) => (((i * 3) % 5) - 2) / 3), [5]));
      const opt = c.make([adder, plain]);
      for (let s = 0; s < 3; s++) {
        adder.grad.storage.write(Float32Array.from({ length: 24 }, (_, i) => (((i * 13 + s * 7) % 17) - 8) * 0.3 * (s + 1)));
        plain.grad.storage.write(Float32Array.from({ length: 5 }, (_, i) => (((i * 5 + s * 3) % 7) - 3) / 3 / (s + 1)));
        opt.step();
      }
      expect(Array.from(adder.value.dataSync())).toEqual(Array.from(Float32Array.from(c.adder)));
      expect(Array.from(plain.value.dataSync())).toEqual(Array.from(Float32Array.from(c.plain)));
      opt.dispose();
    });
  }

  it('hands each optimizer the same gradients SGD gets: adaptiveScale(grad) for adder filters, the raw gradient otherwise', () => {
    // One shared Optimizer.step for SGD, Adam and AdamW: each class's step equals its op on those gradients, bitwise.
    type Update = (p: nn.Parameter, grad: Tensor, state: Tensor[], step: number) => void;
    const optimizers: { make: (ps: nn.Parameter[]) => Optimizer; state: number; op: Update }[] = [
      {
        make: (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 0.01, eta: 0.3 }),
        state: 1,
        op: (p, g, st, step) => ops.sgdUpdate(p.value, g, st[0], { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: false, firstStep: step === 1 }),
      },
      {
        make: (ps) => new Adam(ps, { lr: 0.01, weightDecay: 0.01, eta: 0.3 }),
        state: 2,
        op: (p, g, st, step) => ops.adamUpdate(p.value, g, st[0], st[1], { lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, step }),
      },
      {
        make: (ps) => new AdamW(ps, { lr: 0.01, eta: 0.3, amsgrad: true }),
        state: 3,
        op: (p, g, st, step) => ops.adamUpdate(p.value, g, st[0], st[1], {
          lr: 0.01, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2, decoupled: true, amsgrad: true, maxExpAvgSq: st[2], step,
        }),
      },
    ];
    for (const o of optimizers) {
      const { rng, adder, plain } = setup();
      const twins = [adder, plain].map((p) => new nn.Parameter(p.value.clone(), p.kind));
      const opt = o.make([adder, plain]);
      const state = twins.map((p) => Array.from({ length: o.state }, () => zeros(p.value.shape)));
      for (let step = 1; step <= 3; step++) {
        [adder, plain].forEach((p, i) => {
          const g = rng.normalArray(p.value.size, 10 ** step);
          p.grad.storage.write(g);
          const raw = tensor(g, p.value.shape);
          o.op(twins[i], p.kind === 'adder' ? ops.adaptiveScale(raw, 0.3) : raw, state[i], step);
        });
        opt.step();
      }
      expect(sameBits(adder.value.dataSync(), twins[0].value.dataSync()), `${opt.constructor.name} adder`).toBe(true);
      expect(sameBits(plain.value.dataSync(), twins[1].value.dataSync()), `${opt.constructor.name} plain`).toBe(true);
      expect([adder.version, plain.version]).toEqual([3, 3]);
      opt.dispose();
    }
  });

  it('the step of an adder layer does not depend on its gradient scale; a zero gradient leaves the filters unchanged', () => {
    const run = (scale: number) => {
      const { rng, adder } = setup();
      const opt = new AdamW([adder], { lr: 0.1 });
      const before = adder.value.dataSync().slice();
      for (let s = 0; s < 3; s++) {
        adder.grad.storage.write(rng.normalArray(24, scale * 10 ** s));
        opt.step();
      }
      return adder.value.dataSync().map((v, i) => v - before[i]);
    };
    const small = run(1e-6);
    const large = run(1e6);
    for (let i = 0; i < small.length; i++) expect(small[i]).toBeCloseTo(large[i], 6);
    const { adder } = setup();
    const before = adder.value.dataSync().slice();
    const opt = new Adam([adder], { lr: 0.1, amsgrad: true });
    opt.step();
    opt.step();
    expect(sameBits(adder.value.dataSync(), before)).toBe(true);
  });

  it('defaults, options and dispose', () => {
    const { adder, plain } = setup();
    const adam = new Adam([adder, plain]);
    expect([adam.lr, adam.betas, adam.eps, adam.weightDecay, adam.amsgrad, adam.decoupledWeightDecay, adam.eta])
      .toEqual([1e-3, [0.9, 0.999], 1e-8, 0, false, false, 0.2]);
    const adamw = new AdamW([adder, plain], { lr: 0.1, eta: 0.5 });
    expect([adamw.lr, adamw.weightDecay, adamw.decoupledWeightDecay, adamw.eta]).toEqual([0.1, 1e-2, true, 0.5]);
    expect(new AdamW([adder], { weightDecay: 0 }).weightDecay).toBe(0);
    expect(adamw).toBeInstanceOf(Adam);
    // State: two running averages per parameter (three with AMSGrad) and one scaled-gradient workspace per adder parameter.
    for (const [options, perParam] of [[{}, 2], [{ amsgrad: true }, 3]] as const) {
      const before = memoryInfo(d).liveTensors;
      const opt = new Adam([adder, plain], options);
      expect(memoryInfo(d).liveTensors - before).toBe(2 * perParam + 1);
      opt.step();
      opt.dispose();
      expect(memoryInfo(d).liveTensors).toBe(before);
    }
    adam.dispose();
    adamw.dispose();
  });

  it('rejects invalid options with coded errors', () => {
    const { adder } = setup();
    const bad: [AdamOptions, string, RegExp][] = [
      [{ lr: 0 }, 'ERR_ADDERNET_OPTION', /^Expected a finite number > 0 for lr but received 0$/],
      [{ lr: '0.1' as never }, 'ERR_ADDERNET_TYPE', /for lr but received "0.1"$/],
      [{ betas: [0.9, 1] }, 'ERR_ADDERNET_OPTION', /^Expected a pair of numbers in \[0, 1\) for betas but received \[0.9, 1\]$/],
      [{ betas: [0.9] as never }, 'ERR_ADDERNET_TYPE', /for betas but received \[0.9\]$/],
      [{ eps: -1 }, 'ERR_ADDERNET_OPTION', /^Expected a finite number >= 0 for eps but received -1$/],
      [{ weightDecay: Infinity }, 'ERR_ADDERNET_OPTION', /for weightDecay but received Infinity$/],
      [{ amsgrad: 1 as never }, 'ERR_ADDERNET_TYPE', /^Expected a boolean for amsgrad but received 1$/],
      [{ decoupledWeightDecay: 'yes' as never }, 'ERR_ADDERNET_TYPE', /for decoupledWeightDecay but received "yes"$/],
      [{ eta: -1 }, 'ERR_ADDERNET_OPTION', /for eta but received -1$/],
    ];
    for (const [options, code, message] of bad) {
      expect(() => new Adam([adder], options), JSON.stringify(options)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(message) }));
    }
    expect(() => new AdamW([adder], { betas: [1.5, 0.9] })).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_OPTION' }));
  });
});

describe('learning-rate schedules', () => {
  it('cosine (the reference recipe), constant, step and custom', () => {
    expect(scheduledLr('cosine', 0.1, 0, 400)).toBeCloseTo(0.1, 12);
    expect(scheduledLr('cosine', 0.1, 200, 400)).toBeCloseTo(0.05, 12);
    expect(scheduledLr('cosine', 0.1, 100, 400)).toBeCloseTo(0.05 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(scheduledLr('constant', 0.1, 37, 50)).toBe(0.1);
    expect(scheduledLr({ type: 'step', stepSize: 10 }, 0.1, 9, 50)).toBeCloseTo(0.1, 12);
    expect(scheduledLr({ type: 'step', stepSize: 10 }, 0.1, 10, 50)).toBeCloseTo(0.01, 12);
    expect(scheduledLr({ type: 'step', stepSize: 10, gamma: 0.5 }, 0.1, 25, 50)).toBeCloseTo(0.025, 12);
    expect(scheduledLr((e, n, lr) => lr * (1 - e / n), 0.1, 5, 10)).toBeCloseTo(0.05, 12);
    expect(() => scheduledLr('linear' as never, 0.1, 0, 1)).toThrow(expect.objectContaining({ code: 'ERR_ADDERNET_OPTION' }));
  });
});

// ---- Overfitting a fixed batch --------------------------------------------------

describeEachDevice('ResNet-20 AdderNet overfits a fixed batch of 32 random images', (device) => {
  const { tensor, device: d } = onDevice(device);

  it('loss after 50 SGD steps (lr 0.1, momentum 0.9, eta 0.2) is below 10% of the initial loss', () => {
    const rng = makeRng(2020);
    const x = tensor(rng.normalArray(32 * 3 * 32 * 32), [32, 3, 32, 32]);
    const y = Int32Array.from({ length: 32 }, () => rng.int(10));
    const model = models.resnet20({ layer: 'adder', seed: 1 }).to(d);
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9, weightDecay: 0, eta: 0.2 });
    model.train();
    const losses: number[] = [];
    const t0 = performance.now();
    for (let step = 0; step < 50; step++) {
      const r = ops.softmaxCrossEntropy(model.forward(x), y);
      losses.push(r.loss);
      model.backward(r.gradLogits!);
      opt.step();
    }
    const seconds = (performance.now() - t0) / 1000;
    const out = model.forward(x);
    expect(out.device).toBe(device);
    const after = ops.softmaxCrossEntropy(out, y, { grad: false });
    console.log(
      `overfit: initial loss ${losses[0].toFixed(4)}, after 50 steps ${after.loss.toFixed(4)} ` +
        `(${((100 * after.loss) / losses[0]).toFixed(1)}%), ${after.correct}/32 correct, ` +
        `${seconds.toFixed(2)} s (${((1000 * seconds) / 50).toFixed(0)} ms/step)`,
    );
    expect(losses[0]).toBeGreaterThan(1.5); // about ln(10) at initialisation
    expect(losses.every(Number.isFinite)).toBe(true);
    expect(after.loss).toBeLessThan(0.1 * losses[0]);
    expect(after.correct).toBeGreaterThanOrEqual(30);
  });
});

// ---- fit / evaluate ---------------------------------------------------------------

describeEachDevice('fit() and evaluate()', (device) => {
  const { tensor, device: d } = onDevice(device);
  const train = randomDataset(48, 1);
  const valid = randomDataset(20, 2);
  const options = { epochs: 2, batchSize: 16, lr: 0.05, seed: 5, device: d };

  it('is reproducible for a seed: identical losses and weights; another seed gives another run', async () => {
    const run = async (seed: number) => {
      const m = models.lenet5bn({ layer: 'adder', seed: 1 });
      const batchLosses: number[] = [];
      const h = await fit(m, train, { ...options, seed, callbacks: { onBatchEnd: (l) => void batchLosses.push(l.loss) } });
      return { m, h, batchLosses, weights: weightsOf(m) };
    };
    const a = await run(5);
    const b = await run(5);
    expect(b.batchLosses).toEqual(a.batchLosses);
    expect(b.h.epochs.map((e) => [e.loss, e.accuracy])).toEqual(a.h.epochs.map((e) => [e.loss, e.accuracy]));
    expect(sameWeights(a.weights, b.weights)).toBe(true);
    expect(b.m.batchCounters()).toEqual(a.m.batchCounters());
    const c = await run(6);
    expect(c.batchLosses).not.toEqual(a.batchLosses);
    expect(sameWeights(a.weights, c.weights)).toBe(false);
  });

  it('returns a History with per-epoch logs, validation metrics and the schedule\'s learning rates', async () => {
    const m = models.lenet5bn({ layer: 'conv' });
    const batches: { loss: number; size: number; epoch: number; accuracy: number }[] = [];
    const h = await fit(m, train, {
      ...options, epochs: 3, lr: 0.1, validationData: valid,
      callbacks: { onBatchEnd: (l) => void batches.push(l) },
    });
    expect(h.epochs).toHaveLength(3);
    expect(h.seconds).toBeGreaterThan(0);
    expect(h.examplesPerSecond).toBeGreaterThan(0);
    h.epochs.forEach((e, i) => {
      expect(e.epoch).toBe(i);
      expect(e.lr).toBeCloseTo(scheduledLr('cosine', 0.1, i, 3), 12); // cosine is the default
      expect(e.seconds).toBeGreaterThan(0);
      expect(e.examplesPerSecond).toBeGreaterThan(0);
      expect(e.accuracy).toBeGreaterThanOrEqual(0);
      expect(e.accuracy).toBeLessThanOrEqual(1);
      expect(Number.isFinite(e.valLoss)).toBe(true);
      expect(e.valAccuracy! * valid.labels.length).toBeCloseTo(Math.round(e.valAccuracy! * valid.labels.length), 9);
      // The epoch loss is the size-weighted mean of its batch losses.
      const mine = batches.filter((b) => b.epoch === i);
      expect(mine.map((b) => b.size)).toEqual([16, 16, 16]);
      expect(e.loss).toBeCloseTo(mine.reduce((a, b) => a + b.loss * b.size, 0) / 48, 6);
      expect(e.accuracy).toBeCloseTo(mine.reduce((a, b) => a + b.accuracy * b.size, 0) / 48, 9);
    });
    // Validation metrics equal evaluate() right after the last epoch.
    const ev = await evaluate(m, valid, { device: d });
    expect(ev.loss).toBeCloseTo(h.epochs[2].valLoss!, 6);
    expect(ev.accuracy).toBe(h.epochs[2].valAccuracy);
    expect(m.training).toBe(true); // fit leaves the model in training mode
    // fit({ device }) moved the model there.
    expect(m.device).toBe(device);
    for (const [name, p] of m.namedParameters()) expect(p.value.device, name).toBe(device);
  });

  it('step and constant schedules set each epoch\'s learning rate', async () => {
    const m = models.lenet5bn({ layer: 'conv' });
    const small = randomDataset(8, 3);
    const h1 = await fit(m, small, { epochs: 3, batchSize: 8, lr: 0.2, schedule: { type: 'step', stepSize: 2, gamma: 0.5 }, device: d });
    expect(h1.epochs.map((e) => e.lr)).toEqual([0.2, 0.2, 0.1]);
    const h2 = await fit(m, small, { epochs: 2, batchSize: 8, lr: 0.2, schedule: 'constant', device: d });
    expect(h2.epochs.map((e) => e.lr)).toEqual([0.2, 0.2]);
  });

  it('learns: LeNet-5-BN (adder) drives the loss on 64 examples far down with fit()', async () => {
    const m = models.lenet5bn({ layer: 'adder', seed: 2 });
    const data = randomDataset(64, 4);
    const h = await fit(m, data, { epochs: 25, batchSize: 64, lr: 0.1, schedule: 'constant', weightDecay: 0, device: d });
    const first = h.epochs[0].loss;
    const last = h.epochs[24].loss;
    expect(last).toBeLessThan(0.3 * first);
  });

  it('calls onBatchEnd and onEpochEnd in order and awaits them', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const events: string[] = [];
    let pending = false;
    await fit(m, train, {
      ...options,
      callbacks: {
        onBatchEnd: async (l) => {
          expect(pending).toBe(false);
          const version = m.version;
          pending = true;
          events.push(`batch ${l.epoch}.${l.batch}`);
          await sleep(5);
          expect(m.version).toBe(version); // no training while the callback runs
          pending = false;
        },
        onEpochEnd: async (l) => {
          expect(pending).toBe(false);
          pending = true;
          events.push(`epoch ${l.epoch}`);
          await sleep(5);
          events.push(`epoch ${l.epoch} done`);
          pending = false;
        },
      },
    });
    expect(events).toEqual([
      'batch 0.0', 'batch 0.1', 'batch 0.2', 'epoch 0', 'epoch 0 done',
      'batch 1.0', 'batch 1.1', 'batch 1.2', 'epoch 1', 'epoch 1 done',
    ]);
  });

  it('a callback that throws rejects fit() with its error and frees the model', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const boom = new Error('boom');
    const err = await rejected(fit(m, train, { ...options, callbacks: { onBatchEnd: () => { throw boom; } } }));
    expect(err).toBe(boom);
    expect(m.busy).toBe(false);
  });

  it('AbortSignal stops after the current batch and resolves with the History so far and the reason', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const controller = new AbortController();
    const reason = new Error('user stopped training');
    const seen: number[] = [];
    const h = await fit(m, train, {
      ...options,
      signal: controller.signal,
      callbacks: {
        onBatchEnd: (l) => {
          seen.push(l.batch);
          if (l.batch === 1) controller.abort(reason);
        },
      },
    });
    expect(h.stopped).toEqual({ by: 'signal', reason, epoch: 0, batch: 1 });
    expect(h.epochs).toEqual([]); // the partial epoch is not kept
    expect(seen).toEqual([0, 1]);
    expect(m.busy).toBe(false);
    expect(m.training).toBe(true);
    // An already aborted signal: nothing is trained.
    const before = weightsOf(m);
    const aborted = AbortSignal.abort(new Error('too late'));
    const h2 = await fit(m, train, { ...options, signal: aborted });
    expect(h2.stopped?.by).toBe('signal');
    expect((h2.stopped?.reason as Error).message).toBe('too late');
    expect(h2.stopped?.batch).toBe(-1);
    expect(sameWeights(before, weightsOf(m))).toBe(true);
    // The model can be trained again.
    await expect(fit(m, train, { ...options, epochs: 1 })).resolves.toBeDefined();
    // A signal that is not an AbortSignal is a TypeError.
    expect((await rejected(fit(m, train, { ...options, signal: {} as AbortSignal }))).code).toBe('ERR_ADDERNET_TYPE');
  });

  it('a second concurrent fit on the same model rejects with ERR_ADDERNET_BUSY; the first completes', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const first = fit(m, train, options);
    const second = rejected(fit(m, train, options));
    const err = await second;
    expect(err.code).toBe('ERR_ADDERNET_BUSY');
    expect(err.message).toMatch(/one fit per model/);
    const h = await first;
    expect(h.epochs).toHaveLength(2);
    // Other models train concurrently without trouble.
    const [a, b] = await Promise.all([fit(models.lenet5bn(), train, options), fit(models.lenet5bn(), train, options)]);
    expect(a.epochs[1].loss).toBe(b.epochs[1].loss);
  });

  it('evaluate() on a model while fit() runs on it does not break the fit', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const big = randomDataset(256, 9);
    const fitting = fit(m, big, { epochs: 1, batchSize: 16, lr: 0.05, device: d });
    await sleep(0);
    const evaluating = evaluate(m, big, { batchSize: 16, device: d });
    const [f, e] = await Promise.allSettled([fitting, evaluating]);
    if (f.status === 'rejected') throw new Error(`fit() failed while evaluate() ran on the same model: ${(f.reason as Error).message}`);
    if (e.status === 'rejected') expect((e.reason as { code?: string }).code).toBe('ERR_ADDERNET_BUSY');
  });

  it('does not block the event loop: a 10 ms interval keeps ticking during fit (max gap < 1 s per LeNet batch)', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    const data = randomDataset(1024, 7);
    const loop = watchEventLoop(10);
    let watched: { ticks: number; maxGap: number };
    const batchTimes: number[] = [];
    let t = performance.now();
    try {
      await fit(m, data, {
        epochs: 1, batchSize: 128, lr: 0.05, device: d,
        callbacks: { onBatchEnd: () => { const now = performance.now(); batchTimes.push(now - t); t = now; } },
      });
    } finally {
      watched = loop.stop();
    }
    const { ticks, maxGap } = watched;
    const perBatch = batchTimes.reduce((a, b) => a + b, 0) / batchTimes.length;
    console.log(`event loop during fit (LeNet adder, batch 128): max gap ${maxGap.toFixed(1)} ms, ${ticks} ticks, ${perBatch.toFixed(1)} ms/batch`);
    expect(batchTimes).toHaveLength(8);
    expect(ticks).toBeGreaterThanOrEqual(4);
    expect(maxGap).toBeLessThan(1000);
  });

  it('evaluate() returns eval-mode loss and accuracy over the whole dataset and keeps the mode', async () => {
    const m = models.lenet5bn({ layer: 'adder' });
    await fit(m, train, { ...options, epochs: 1 });
    const ev = await evaluate(m, valid, { batchSize: 7, device: d });
    m.eval();
    const r = ops.softmaxCrossEntropy(m.forward(tensor(valid.images, [20, 1, 28, 28])), valid.labels, { grad: false });
    m.train();
    expect(ev.loss).toBeCloseTo(r.loss, 5);
    expect(ev.accuracy).toBe(r.correct / 20);
    expect(m.training).toBe(true);
    m.eval();
    await evaluate(m, valid, { device: d });
    expect(m.training).toBe(false);
  });

  it('rejects datasets that do not fit the model, inconsistent datasets and bad options', async () => {
    const m = models.lenet5bn();
    const cifar = randomDataset(4, 1, [3, 32, 32]);
    const shape = await rejected(fit(m, cifar, { device: d }));
    expect(shape.code).toBe('ERR_ADDERNET_SHAPE');
    expect(shape.message).toMatch(/trainData/);
    expect(shape.message).toMatch(/\[1, 28, 28\]/);
    expect((await rejected(fit(m, train, { validationData: cifar, device: d }))).code).toBe('ERR_ADDERNET_SHAPE');
    expect((await rejected(evaluate(m, cifar, { device: d }))).code).toBe('ERR_ADDERNET_SHAPE');
    expect((await rejected(fit(models.resnet20(), train, { device: d }))).code).toBe('ERR_ADDERNET_SHAPE');
    const short = { ...train, images: train.images.subarray(0, 100) };
    expect((await rejected(fit(m, short, { device: d }))).code).toBe('ERR_ADDERNET_SIZE');
    const badLabel = { ...train, labels: Int32Array.from(train.labels, (v, i) => (i === 3 ? 10 : v)) };
    const label = await rejected(fit(m, badLabel, { device: d }));
    expect(label.message).toMatch(/labels\[3\]/);
    expect((await rejected(fit(m, train, { epochs: 0, device: d }))).code).toBe('ERR_ADDERNET_OPTION');
    expect((await rejected(fit(m, train, { batchSize: 2.5, device: d }))).code).toBe('ERR_ADDERNET_OPTION');
    expect((await rejected(fit(m, train, { lr: -1, device: d }))).code).toBe('ERR_ADDERNET_OPTION');
    expect((await rejected(fit({} as Model, train, { device: d }))).code).toBe('ERR_ADDERNET_TYPE');
    expect(m.busy).toBe(false);
  });
});
