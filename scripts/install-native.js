#!/usr/bin/env node
// npm install hook: use a prebuilt or already-built addon when one loads,
// otherwise compile it with cmake-js. ADDERNET_BUILD_FROM_SOURCE=1 forces a build.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
if (!process.env.ADDERNET_BUILD_FROM_SOURCE) {
  try {
    require('node-gyp-build')(root);
    process.exit(0);
  } catch {
    // fall through to a source build
  }
}
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const args = [cmakeJs, 'compile', '--CDADDERNET_TESTS=OFF'];
if (process.env.ADDERNET_CUDA) args.push(`--CDADDERNET_CUDA=${process.env.ADDERNET_CUDA}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
