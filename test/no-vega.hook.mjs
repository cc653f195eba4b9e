// node --import ./test/no-vega.hook.mjs ...: vega and vega-lite do not resolve,
// as when npm left the optional dependencies out (--omit=optional), without
// uninstalling them from this checkout (test/cli.test.ts).
import { register } from 'node:module';

const hooks = `
export async function resolve(specifier, context, next) {
  if (specifier === 'vega' || specifier === 'vega-lite') {
    throw Object.assign(new Error("Cannot find package '" + specifier + "' (hidden by test/no-vega.hook.mjs)"), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
