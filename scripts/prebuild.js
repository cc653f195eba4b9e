#!/usr/bin/env node
// npm run prebuild: prebuildify drives cmake-js (scripts/prebuildify-cmake.js)
// and writes prebuilds/<platform>-<arch>/addernet.napi.<libc>.node, the name
// node-gyp-build selects at load time: N-API (one binary for every Node >= 20)
// and tagged with the C library it was linked against. CPU-only: the CUDA
// kernels are not in prebuilds (ADDERNET_CUDA unset means OFF here; a GPU
// server builds from source, see the README).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const args = [
  require.resolve('prebuildify/bin.js'),
  '--napi', '--strip', '--tag-libc',
  // prebuildify 6 names the file after the package and leaves out the napi tag
  // its README describes; the name adds it back so node-gyp-build sees a
  // runtime-agnostic Node-API build.
  '--name', 'addernet.napi',
  '--node-gyp', path.join(__dirname, 'prebuildify-cmake.js'),
  ...process.argv.slice(2),
];
const env = { ...process.env, ADDERNET_CUDA: process.env.ADDERNET_CUDA || 'OFF' };
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
process.exit(r.status ?? 1);
