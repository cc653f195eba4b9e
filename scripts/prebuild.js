#!/usr/bin/env node
// npm run prebuild [-- --arch arm64]: prebuildify drives cmake-js
// (scripts/prebuildify-cmake.js) and writes
// prebuilds/<platform>-<arch>/addernet.napi.<libc>.node, the name node-gyp-build
// selects at load time: N-API (one binary for every Node >= 20), tagged with the
// C library it links against. It builds in build-prebuild-<arch>/, so the
// checkout's build/ (which node-gyp-build would load first) is left alone.
// CPU-only: ADDERNET_CUDA unset means OFF here (a GPU server builds from source,
// see the README). --arch arm64 cross-compiles (cmake/aarch64-linux-gnu.cmake).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { crossTarget } = require('./cross');

const root = path.join(__dirname, '..');
const extra = process.argv.slice(2);
const archAt = extra.indexOf('--arch');
const arch = archAt >= 0 ? extra[archAt + 1] : process.arch;
const cross = crossTarget(arch, 'prebuild');
const staging = path.join(root, `build-prebuild-${arch}`);
fs.mkdirSync(staging, { recursive: true });
const args = [
  require.resolve('prebuildify/bin.js'),
  '--napi', '--strip', '--tag-libc',
  // prebuildify 6 names the file after the package and leaves out the napi tag
  // its README describes; the name adds it back so node-gyp-build sees a
  // runtime-agnostic Node-API build.
  '--name', 'addernet.napi',
  '--node-gyp', path.join(__dirname, 'prebuildify-cmake.js'),
  '--cwd', staging, '--out', root,
  ...(cross ? ['--strip-bin', cross.strip] : []),
  ...extra,
];
const env = { ...process.env, ADDERNET_CUDA: process.env.ADDERNET_CUDA || 'OFF' };
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env });
if (r.status === 0) console.log(`prebuild: wrote ${path.relative(root, path.join(root, 'prebuilds', `${process.platform}-${arch}`))}/`);
process.exit(r.status ?? 1);
