// Device-parameterised suites: the op, layer and model tests run once per
// test device against the same references. 'cpu' always runs; 'cuda' runs
// when lib/tensor.ts lists it in DEVICES and backendInfo().cuda is true, and
// otherwise registers one skipped test whose title says why (the suite body,
// which may create tensors while it is collected, does not run).
//
// ADDERNET_TEST_REQUIRE_DEVICES=cuda (a comma-separated list) turns that skip
// into a failing test, for a machine that must run the CUDA suites.
import { describe, it } from 'vitest';
import { backendInfo } from '../lib/backend';
import { DEVICES, tensor as hostTensor, zeros as hostZeros, type Device, type Dtype, type Tensor } from '../lib/tensor';

/**
 * Every device the suites know, whether or not this build has it. Wider than
 * the library's Device (today 'cpu'), so that the tests compile now and
 * keep compiling once Device gains 'cuda'; asDevice casts for lib calls.
 */
export type TestDevice = 'cpu' | 'cuda';
export const TEST_DEVICES: readonly TestDevice[] = ['cpu', 'cuda'];

/** A test device as the library's Device (a cast: valid once deviceSkipReason(device) is undefined). */
export const asDevice = (device: TestDevice): Device => device as Device;

/** Why `device` cannot run here, or undefined when it can. */
export function deviceSkipReason(device: TestDevice): string | undefined {
  const listed = (DEVICES as readonly string[]).includes(device);
  if (device === 'cuda') {
    const usable = backendInfo().cuda;
    if (!listed) return `this build has no CUDA backend (backendInfo().cuda is ${usable})`;
    if (!usable) return 'no usable CUDA device (backendInfo().cuda is false)';
    return undefined;
  }
  return listed ? undefined : `DEVICES (${DEVICES.join(', ')}) does not list '${device}'`;
}

const required = new Set((process.env.ADDERNET_TEST_REQUIRE_DEVICES ?? '').split(',').map((s) => s.trim()).filter(Boolean));

/**
 * describe(`${title} [${device}]`, () => body(device)) for every available
 * device. For a device that is not available it registers, instead, one
 * skipped test titled `${device}: skipped — <reason>` (a failing one when
 * ADDERNET_TEST_REQUIRE_DEVICES names it) and does not call the body; the
 * reason is also printed once per test file, so the default reporter shows it.
 */
export function describeEachDevice(title: string, body: (device: TestDevice) => void): void {
  for (const device of TEST_DEVICES) {
    const reason = deviceSkipReason(device);
    if (reason === undefined) {
      describe(`${title} [${device}]`, () => body(device));
      continue;
    }
    const message = `${device}: skipped — ${reason}`;
    announce(message);
    describe(`${title} [${device}]`, () => {
      if (required.has(device)) {
        it(`${device}: required (ADDERNET_TEST_REQUIRE_DEVICES) but unavailable — ${reason}`, () => {
          throw new Error(`ADDERNET_TEST_REQUIRE_DEVICES names '${device}', but ${reason}`);
        });
      } else {
        it.skip(message, () => {});
      }
    });
  }
}

// Each test file gets its own copy of this module, so this prints once per file.
const announced = new Set<string>();
function announce(message: string): void {
  if (announced.has(message)) return;
  announced.add(message);
  console.info(`[devices] ${message} (each device-parameterised suite in this file registers one skipped test)`);
}

/** Tensor factories that place what they make on `device`, to shadow lib's tensor/zeros in a suite body. */
export interface DeviceFactories {
  device: Device;
  tensor: typeof hostTensor;
  zeros: typeof hostZeros;
  /** `t.to(device)`, typed to keep the tensor's dtype. */
  to: <D extends Dtype>(t: Tensor<D>) => Tensor<D>;
}

/**
 * Factories on `device`: tensor(data, shape) and zeros(shape[, dtype]) are
 * lib's, followed by .to(device) (the same tensor on 'cpu'). In a suite body,
 * `const { tensor, zeros } = onDevice(device);` leaves the code below unchanged.
 */
export function onDevice(device: TestDevice): DeviceFactories {
  const d = asDevice(device);
  const tensor = ((data: Float32Array | Int32Array, shape: readonly number[]) =>
    hostTensor(data as Float32Array, shape).to(d)) as typeof hostTensor;
  const zeros = ((shape: readonly number[], dtype?: Dtype) =>
    (dtype === undefined ? hostZeros(shape) : hostZeros(shape, dtype)).to(d)) as typeof hostZeros;
  return { device: d, tensor, zeros, to: (t) => t.to(d) };
}

/**
 * Places a module (a layer or a network) on `device` through its to(device)
 * when it has one. Modules without one live on the CPU, so that is accepted
 * only for 'cpu': elsewhere it throws, and the suite fails rather than
 * testing the CPU while claiming another device.
 */
export function moduleOn<M extends object>(module: M, device: TestDevice): M {
  const to = (module as { to?: (device: Device) => unknown }).to;
  if (typeof to === 'function') to.call(module, asDevice(device));
  else if (device !== 'cpu') throw new Error(`${module.constructor.name} has no to(device): it cannot be placed on '${device}'`);
  return module;
}
