// The systems the suite times: addernet's own layers (every ISA, 1 and 2
// threads) and the peers a Node user would otherwise pick. Peers are loaded
// with require() at run time and typed loosely here, so the library and its
// TypeScript build never depend on them; a missing peer is skipped with a note.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { ops, setIsa, setNumThreads, supportedIsas, tensor, type Isa, type Tensor } from '../../lib/index';
import { gc, hwioToOihw, nchwToNhwc, nhwcToNchw, oihwToHwio, peakRss, random, repoRoot, resetPeakRss } from './common';
import { convForwardModel, convTrainModel, outSize, type ConvShape } from './onnx';

export type Mode = 'fwd' | 'train';
export const MODES: readonly Mode[] = ['fwd', 'train'];

export interface ShapeData {
  key: string;
  shape: ConvShape;
  ho: number;
  wo: number;
  /** X [N,C,H,W], filters [T,C,KH,KW], output gradient [N,T,HO,WO]: the same values for every system. */
  x: Float32Array;
  w: Float32Array;
  g: Float32Array;
}

export interface Sample { ms: number; peakMiB?: number; baseMiB?: number }
/** Outputs in addernet's layouts (NCHW, [T,C,KH,KW]), for the correctness check. */
export interface Outputs { y: Float32Array; dx?: Float32Array; dw?: Float32Array }

export interface Instance {
  sample(mode: Mode): Promise<Sample>;
  outputs(mode: Mode): Promise<Outputs>;
  dispose(): Promise<void>;
}

export interface System {
  /** Stable id, e.g. "addernet adder avx512 2t". */
  id: string;
  /** Column name without thread count, e.g. "addernet adder avx512". */
  name: string;
  impl: 'addernet' | 'onnxruntime' | 'tfjs-wasm' | 'tfjs-cpu' | 'torch';
  op: 'adder' | 'conv';
  isa?: Isa;
  /** Threads the system is pinned to. */
  threads: number;
  bind(d: ShapeData): Promise<Instance>;
}

export interface PeerGroup {
  name: string;
  available: boolean;
  note: string;
  versions?: Record<string, unknown>;
  systems: System[];
  close(): Promise<void>;
}

function timed(fn: () => unknown): Sample {
  gc();
  const baseMiB = resetPeakRss();
  const start = process.hrtime.bigint();
  fn();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { ms, baseMiB, peakMiB: peakRss() };
}

async function timedAsync(fn: () => Promise<unknown>): Promise<Sample> {
  gc();
  const baseMiB = resetPeakRss();
  const start = process.hrtime.bigint();
  await fn();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { ms, baseMiB, peakMiB: peakRss() };
}

function packageVersion(name: string): string | undefined {
  try {
    return (JSON.parse(fs.readFileSync(require.resolve(`${name}/package.json`, { paths: [repoRoot] }), 'utf8')) as { version: string }).version;
  } catch {
    return undefined;
  }
}

function requirePeer<T>(name: string): T {
  return require(require.resolve(name, { paths: [repoRoot] })) as T;
}

const errorText = (e: unknown) => (e instanceof Error ? e.message.split('\n')[0] : String(e));

// ---------------------------------------------------------------- addernet

let oursThreads = -1;

export function addernetSystems(threadCounts: readonly number[], isas: readonly Isa[] = supportedIsas()): System[] {
  const out: System[] = [];
  for (const threads of threadCounts) {
    for (const isa of isas) {
      for (const op of ['adder', 'conv'] as const) {
        out.push({
          id: `addernet ${op} ${isa} ${threads}t`, name: `addernet ${op} ${isa}`, impl: 'addernet', op, isa, threads,
          async bind(d) {
            const s = d.shape;
            const x = tensor(d.x, [s.n, s.c, s.h, s.w]);
            const w = tensor(d.w, [s.t, s.c, s.kh, s.kw]);
            const g = tensor(d.g, [s.n, s.t, d.ho, d.wo]);
            const opt = { stride: [s.sh, s.sw] as [number, number], padding: [s.ph, s.pw] as [number, number] };
            const fwd = op === 'adder' ? () => ops.adder2d(x, w, opt) : () => ops.conv2d(x, w, opt);
            const bwd = op === 'adder'
              ? () => ops.adder2dBackward(x, w, g, opt)
              : () => ops.conv2dBackward(x, w, g, opt);
            const train = (): [Tensor, Tensor | undefined, Tensor] => {
              const y = fwd();
              const gr = bwd();
              return [y, gr.gradInput, gr.gradWeight];
            };
            const prepare = () => {
              setIsa(isa);
              if (oursThreads !== threads) {
                setNumThreads(threads);
                oursThreads = threads;
                fwd(); // untimed: the pool restarts its threads on a new count
              }
            };
            return {
              async sample(mode) {
                prepare();
                return timed(mode === 'fwd' ? fwd : train);
              },
              async outputs(mode) {
                prepare();
                if (mode === 'fwd') return { y: fwd().dataSync() };
                const [y, dx, dw] = train();
                return { y: y.dataSync(), dx: dx?.dataSync(), dw: dw.dataSync() };
              },
              async dispose() {},
            };
          },
        });
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- onnxruntime-node

interface OrtTensor { data: Float32Array; dims: readonly number[] }
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
  release(): Promise<void>;
}
interface Ort {
  InferenceSession: { create(model: Uint8Array, options: Record<string, unknown>): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => OrtTensor;
  env: { versions?: Record<string, string> };
}

export function ortSessionOptions(threads: number): Record<string, unknown> {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Idle intra-op threads would otherwise spin and steal the other core
    // from whichever system runs next in the interleaved rounds.
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  };
}

export function loadOrt(threadCounts: readonly number[]): PeerGroup {
  let ort: Ort;
  try {
    ort = requirePeer<Ort>('onnxruntime-node');
  } catch (e) {
    return { name: 'onnxruntime-node', available: false, note: `not installed (${errorText(e)})`, systems: [], async close() {} };
  }
  const systems: System[] = threadCounts.map((threads) => ({
    id: `onnxruntime conv ${threads}t`, name: 'onnxruntime conv', impl: 'onnxruntime', op: 'conv', threads,
    async bind(d) {
      const s = d.shape;
      const opts = ortSessionOptions(threads);
      const fwdSession = await ort.InferenceSession.create(convForwardModel(s, d.w), opts);
      const trainSession = await ort.InferenceSession.create(convTrainModel(s), opts);
      const x = new ort.Tensor('float32', d.x, [s.n, s.c, s.h, s.w]);
      const w = new ort.Tensor('float32', d.w, [s.t, s.c, s.kh, s.kw]);
      const g = new ort.Tensor('float32', d.g, [s.n, s.t, d.ho, d.wo]);
      const fwd = () => fwdSession.run({ x });
      const train = () => trainSession.run({ x, w, g });
      return {
        sample: (mode) => timedAsync(mode === 'fwd' ? fwd : train),
        async outputs(mode) {
          if (mode === 'fwd') return { y: (await fwd()).y.data };
          const r = await train();
          return { y: r.y.data, dx: r.dx.data, dw: r.dw.data };
        },
        async dispose() {
          await fwdSession.release();
          await trainSession.release();
        },
      };
    },
  }));
  return {
    name: 'onnxruntime-node', available: true,
    note: 'CPU execution provider; forward model = one Conv node with the filters as an initializer; training step = Conv + ConvTranspose (dX) + Conv over transposed tensors (dW) with X, W, dY as inputs; graph optimisation "all", intra-op threads pinned, inter-op 1, spinning off',
    versions: { 'onnxruntime-node': packageVersion('onnxruntime-node') ?? ort.env.versions?.node },
    systems,
    async close() {},
  };
}

// ---------------------------------------------------------------- TensorFlow.js

interface TfTensor { dispose(): void; dataSync(): Float32Array }
interface Tf {
  version: { tfjs: string };
  setBackend(name: string): Promise<boolean>;
  getBackend(): string;
  ready(): Promise<void>;
  env(): { set(flag: string, v: unknown): void; getBool(flag: string): boolean };
  tensor4d(data: Float32Array, shape: [number, number, number, number]): TfTensor;
  conv2d(x: TfTensor, w: TfTensor, strides: [number, number], pad: number | number[][], dataFormat?: 'NHWC', dilations?: [number, number]): TfTensor;
  conv2dTranspose(dy: TfTensor, w: TfTensor, outShape: number[], strides: [number, number], pad: number | number[][]): TfTensor;
  transpose(x: TfTensor, perm: number[]): TfTensor;
  slice(x: TfTensor, begin: number[], size: number[]): TfTensor;
  tidy<T>(f: () => T): T;
  grads(f: (x: TfTensor, w: TfTensor) => TfTensor): (args: TfTensor[], dy?: TfTensor) => TfTensor[];
}
interface TfWasm { setThreadsCount(n: number): void; getThreadsCount(): number }

async function quietly<T>(fn: () => Promise<T> | T): Promise<T> {
  const { log, warn, info } = console;
  console.log = console.warn = console.info = () => {};
  try {
    return await fn();
  } finally {
    Object.assign(console, { log, warn, info });
  }
}

export async function loadTfjs(): Promise<PeerGroup[]> {
  let tf: Tf;
  let wasm: TfWasm | undefined;
  let wasmError = '';
  try {
    tf = await quietly(() => requirePeer<Tf>('@tensorflow/tfjs'));
  } catch (e) {
    const note = `not installed (${errorText(e)})`;
    return [
      { name: 'tfjs-wasm', available: false, note, systems: [], async close() {} },
      { name: 'tfjs-cpu', available: false, note, systems: [], async close() {} },
    ];
  }
  try {
    wasm = await quietly(() => requirePeer<TfWasm>('@tensorflow/tfjs-backend-wasm'));
    wasm.setThreadsCount(1);
    if (!(await quietly(() => tf.setBackend('wasm')))) throw new Error('setBackend("wasm") failed');
  } catch (e) {
    wasm = undefined;
    wasmError = errorText(e);
  }
  // The cpu backend greets Node users once, on its first write: let that happen here, quietly.
  const cpuOk = await quietly(async () => {
    const ok = await tf.setBackend('cpu');
    if (ok) tf.tensor4d(new Float32Array(1), [1, 1, 1, 1]).dispose();
    return ok;
  }).catch(() => false);
  const versions = { '@tensorflow/tfjs': tf.version.tfjs, '@tensorflow/tfjs-backend-wasm': packageVersion('@tensorflow/tfjs-backend-wasm') };

  const make = (backend: 'wasm' | 'cpu'): System => ({
    id: `tfjs-${backend} conv 1t`, name: `tfjs-${backend} conv`, impl: `tfjs-${backend}`, op: 'conv', threads: 1,
    async bind(d) {
      const s = d.shape;
      const use = async () => {
        if (tf.getBackend() !== backend) await tf.setBackend(backend);
      };
      await use();
      // TensorFlow's own layouts: NHWC activations, HWIO filters (the same values, permuted once here).
      const x = tf.tensor4d(nchwToNhwc(d.x, s.n, s.c, s.h, s.w), [s.n, s.h, s.w, s.c]);
      const w = tf.tensor4d(oihwToHwio(d.w, s.t, s.c, s.kh, s.kw), [s.kh, s.kw, s.c, s.t]);
      const g = tf.tensor4d(nchwToNhwc(d.g, s.n, s.t, d.ho, d.wo), [s.n, d.ho, d.wo, s.t]);
      const pad = [[0, 0], [s.ph, s.ph], [s.pw, s.pw], [0, 0]];
      const conv = (xx: TfTensor, ww: TfTensor) => tf.conv2d(xx, ww, [s.sh, s.sw], pad);
      const fwd = () => conv(x, w);
      let train: () => TfTensor[];
      if (backend === 'cpu') {
        const gradFn = tf.grads(conv);
        train = () => [conv(x, w), ...gradFn([x, w], g)];
      } else {
        // The wasm backend registers Conv2D and Conv2DBackpropInput but no
        // Conv2DBackpropFilter, so tf.grads fails there. The same step from
        // kernels it has (as in the onnxruntime graph): dX = conv2dTranspose,
        // dW = conv2d of X^T with dY^T as the filter, dilated by the stride.
        const [dkh, dkw] = [s.h + 2 * s.ph - (d.ho - 1) * s.sh, s.w + 2 * s.pw - (d.wo - 1) * s.sw];
        train = () => tf.tidy(() => {
          const y = conv(x, w);
          const dx = tf.conv2dTranspose(g, w, [s.n, s.h, s.w, s.c], [s.sh, s.sw], pad);
          const xt = tf.transpose(x, [3, 1, 2, 0]); // [C, H, W, N]
          const gf = tf.transpose(g, [1, 2, 0, 3]); // [HO, WO, N, T]
          let dwt = tf.conv2d(xt, gf, [1, 1], pad, 'NHWC', [s.sh, s.sw]); // [C, dkh, dkw, T]
          if (dkh !== s.kh || dkw !== s.kw) dwt = tf.slice(dwt, [0, 0, 0, 0], [s.c, s.kh, s.kw, s.t]);
          return [y, dx, tf.transpose(dwt, [1, 2, 0, 3])];
        });
      }
      return {
        async sample(mode) {
          await use();
          let outs: TfTensor[] = [];
          const r = timed(() => {
            outs = mode === 'fwd' ? [fwd()] : train();
          });
          for (const t of outs) t.dispose();
          return r;
        },
        async outputs(mode) {
          await use();
          const outs = mode === 'fwd' ? [fwd()] : train();
          const [y, dx, dw] = outs.map((t) => t.dataSync().slice());
          for (const t of outs) t.dispose();
          return {
            y: nhwcToNchw(y, s.n, s.t, d.ho, d.wo),
            dx: dx && nhwcToNchw(dx, s.n, s.c, s.h, s.w),
            dw: dw && hwioToOihw(dw, s.t, s.c, s.kh, s.kw),
          };
        },
        async dispose() {
          x.dispose();
          w.dispose();
          g.dispose();
        },
      };
    },
  });

  const wasmThreads = wasm ? wasm.getThreadsCount() : 0;
  const simd = wasm ? tf.env().getBool('WASM_HAS_SIMD_SUPPORT') : false;
  const mt = wasm ? tf.env().getBool('WASM_HAS_MULTITHREAD_SUPPORT') : false;
  return [
    {
      name: 'tfjs-wasm', available: !!wasm,
      note: wasm
        ? `XNNPACK via WebAssembly, SIMD ${simd ? 'on' : 'off'}, threads pinned to ${wasmThreads} (setThreadsCount(1); multithreaded wasm is ${mt ? 'available' : 'not available in Node'}); NHWC/HWIO; the backend has no Conv2DBackpropFilter kernel (tf.grads fails), so the training step is conv2d + conv2dTranspose (dX) + conv2d over transposed tensors (dW)`
        : `wasm backend unavailable (${wasmError})`,
      versions, systems: wasm ? [make('wasm')] : [], async close() {},
    },
    {
      name: 'tfjs-cpu', available: !!cpuOk,
      note: cpuOk ? 'plain JavaScript kernels, single-threaded; NHWC/HWIO, training step = conv2d + tf.grads' : 'cpu backend failed to start',
      versions, systems: cpuOk ? [make('cpu')] : [], async close() {},
    },
  ];
}

// ---------------------------------------------------------------- PyTorch (python3 subprocess)

interface TorchReply { ok: boolean; error?: string; [k: string]: unknown }

class TorchClient {
  private child: ChildProcessWithoutNullStreams;
  private lines: AsyncIterableIterator<string>;
  private chain: Promise<unknown> = Promise.resolve();
  stderr = '';
  loadedKey: string | undefined;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'addernet-bench-'));

  constructor(python: string) {
    const script = path.join(repoRoot, 'bench', 'suite', 'torch_peer.py');
    // The child's OpenMP team must not spin on the cores between requests.
    this.child = spawn(python, ['-u', script], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE', OMP_NUM_THREADS: '2', MKL_NUM_THREADS: '2' },
    });
    this.child.stderr.on('data', (b: Buffer) => {
      this.stderr = (this.stderr + b.toString()).slice(-4000);
    });
    this.lines = readline.createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  request(req: Record<string, unknown>): Promise<TorchReply> {
    const next = this.chain.then(async () => {
      this.child.stdin.write(JSON.stringify(req) + '\n');
      const line = await this.lines.next();
      if (line.done) throw new Error(`torch peer exited: ${this.stderr.trim().split('\n').pop() ?? ''}`);
      const reply = JSON.parse(line.value) as TorchReply;
      if (!reply.ok) throw new Error(`torch peer: ${reply.error}`);
      return reply;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  async load(d: ShapeData): Promise<void> {
    if (this.loadedKey === d.key) return;
    const files: Record<string, string> = {};
    for (const k of ['x', 'w', 'g'] as const) {
      files[k] = path.join(this.dir, `${k}.bin`);
      const a = d[k];
      fs.writeFileSync(files[k], new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    }
    const s = d.shape;
    await this.request({ cmd: 'load', shape: { n: s.n, c: s.c, h: s.h, w: s.w, t: s.t, kh: s.kh, kw: s.kw, sh: s.sh, sw: s.sw, ph: s.ph, pw: s.pw }, ...files });
    this.loadedKey = d.key;
  }

  async close(): Promise<void> {
    try {
      this.child.stdin.end(JSON.stringify({ cmd: 'quit' }) + '\n');
    } catch {
      // already gone
    }
    await new Promise<void>((resolve) => {
      if (this.child.exitCode !== null) return resolve();
      const timer = setTimeout(() => {
        this.child.kill();
        resolve();
      }, 5000);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The first interpreter that imports torch: $ADDERNET_BENCH_PYTHON, python3, /usr/bin/python3 (Debian's python3-torch). */
export function findTorchPython(): { python?: string; tried: string[] } {
  const candidates = [process.env.ADDERNET_BENCH_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p);
  const tried: string[] = [];
  for (const python of [...new Set(candidates)]) {
    const r = spawnSync(python, ['-c', 'import torch'], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 });
    if (r.status === 0) return { python, tried };
    tried.push(`${python}: ${r.error ? errorText(r.error) : (r.stderr?.toString().trim().split('\n').pop() ?? `exit ${r.status}`)}`);
  }
  return { tried };
}

export async function loadTorch(threadCounts: readonly number[]): Promise<PeerGroup> {
  const { python, tried } = findTorchPython();
  if (!python) {
    return {
      name: 'pytorch', available: false,
      note: `skipped: no python3 with torch (${tried.join('; ')}); on Debian: apt-get install python3-torch`,
      systems: [], async close() {},
    };
  }
  const client = new TorchClient(python);
  let info: TorchReply;
  try {
    info = await client.request({ cmd: 'info' });
  } catch (e) {
    await client.close();
    return { name: 'pytorch', available: false, note: `skipped: torch peer failed to start (${errorText(e)})`, systems: [], async close() {} };
  }
  const systems: System[] = [];
  for (const threads of threadCounts) {
    for (const op of ['adder', 'conv'] as const) {
      systems.push({
        id: `torch ${op === 'adder' ? 'adder-ref' : 'conv'} ${threads}t`, name: `torch ${op === 'adder' ? 'adder-ref' : 'conv'}`,
        impl: 'torch', op, threads,
        async bind(d) {
          await client.load(d);
          return {
            async sample(mode) {
              await client.load(d);
              const r = await client.request({ cmd: 'run', system: op, mode, threads });
              return { ms: r.ms as number, peakMiB: (r.peakMiB as number | null) ?? undefined, baseMiB: (r.baseMiB as number | null) ?? undefined };
            },
            async outputs(mode) {
              await client.load(d);
              const prefix = path.join(client.dir, `out-${op}-${mode}`);
              const r = await client.request({ cmd: 'dump', system: op, mode, prefix });
              const read = (p: string) => {
                const b = fs.readFileSync(p);
                return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
              };
              const [y, dx, dw] = (r.paths as string[]).map(read);
              return { y, dx, dw };
            },
            async dispose() {},
          };
        },
      });
    }
  }
  return {
    name: 'pytorch', available: true,
    note: `${python} (Python ${info.python}, numpy ${info.numpy}), threads pinned with torch.set_num_threads, OMP_WAIT_POLICY=PASSIVE (idle threads sleep, as addernet's pool and onnxruntime with spinning off do); adder-ref = unfold + abs + sum from SPEC.md (the authors' formulation; [T,K,P] temporary built in chunks of <= 64 MiB), training step = forward + filter gradient + HardTanh input gradient + fold; conv = F.conv2d, training step = autograd backward`,
    versions: { torch: info.torch, mkldnn: info.mkldnn, parallel: info.parallel },
    systems,
    close: () => client.close(),
  };
}

export function shapeData(key: string, shape: ConvShape, seed: number): ShapeData {
  const [ho, wo] = outSize(shape);
  return {
    key, shape, ho, wo,
    x: random(shape.n * shape.c * shape.h * shape.w, seed * 3 + 1),
    w: random(shape.t * shape.c * shape.kh * shape.kw, seed * 3 + 2),
    g: random(shape.n * shape.t * ho * wo, seed * 3 + 3),
  };
}
