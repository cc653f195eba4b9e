#!/usr/bin/env node
// prebuildify calls its --node-gyp program as node-gyp: `rebuild --target=X
// --devdir=... --arch=...` etc. Translate that into a cmake-js build of this
// package into <cwd>/build (prebuildify runs it in scripts/prebuild.js's
// staging folder and takes the addon from build/Release/*.node there).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { crossTarget } = require('./cross');

const root = path.join(__dirname, '..');
const argv = process.argv.slice(2);
const opt = (name) => {
  const hit = argv.find((a) => a.startsWith(`--${name}=`));
  return hit ? hit.slice(name.length + 3) : undefined;
};
const args = [require.resolve('cmake-js/bin/cmake-js'), 'rebuild', '--CDADDERNET_TESTS=OFF', '--out', path.join(process.cwd(), 'build')];
const arch = opt('arch');
if (arch) args.push(`--arch=${arch}`);
// Another CPU than this one: the toolchain file for it, scalar kernels only.
const cross = crossTarget(arch, 'prebuild');
if (cross) args.push(`--CDCMAKE_TOOLCHAIN_FILE=${cross.toolchainFile}`, '--CDADDERNET_CUDA=OFF');
else if (process.env.ADDERNET_CUDA) args.push(`--CDADDERNET_CUDA=${process.env.ADDERNET_CUDA}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
