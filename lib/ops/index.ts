// Every op, by family; the same file names as binding/ and cpp/. Each call
// validates its arguments on the calling thread (messages and codes from
// lib/checks.ts and lib/errors.ts), enqueues its kernel on the device's queue
// and returns its output tensor at once.
export * from './conv';
export * from './quant';
export * from './norm';
export * from './activation';
export * from './pool';
export * from './loss';
export * from './optim';
